/*
 * diagdyn.exe: loads ole32mem.dll at run time, leaks from a known function and unloads it: the leak report must
 * come at the unload (between the two markers this program writes to stderr), once, and not again at exit.
 * Prints RANGE/EXPECT lines like diag.c (see there).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>

enum
{
    FUNCTION_SIZE_BOUND = 0x200,
};

typedef void *(WINAPI *alloc_fn)(SIZE_T size);

static void *volatile sink[4];

static void marker(const char *text)
{
    DWORD written;

    WriteFile(GetStdHandle(STD_ERROR_HANDLE), text, lstrlenA(text), &written, NULL);
}

static __attribute__((noinline, noclone)) void dyn_leak(alloc_fn alloc)
{
    static volatile int count = 2; /* a real loop: one call site */
    int i;

    for (i = 0; i < count; i++)
        sink[i] = alloc(50);
}

int main(void)
{
    uintptr_t lo = (uintptr_t)(void *)dyn_leak - (uintptr_t)GetModuleHandleA(NULL);
    HMODULE ole32mem = LoadLibraryA("ole32mem.dll");
    alloc_fn alloc = ole32mem ? (alloc_fn)(void *)GetProcAddress(ole32mem, "CoTaskMemAlloc") : NULL;

    printf("PID|%lu\n", GetCurrentProcessId());
    if (!alloc)
    {
        printf("diagdyn.c: Test failed: cannot load ole32mem.dll (error %lu)\n", GetLastError());
        return 1;
    }
    printf("RANGE|dyn_leak|diagdyn.exe|%lx|%lx\n", (unsigned long)lo, (unsigned long)(lo + FUNCTION_SIZE_BOUND));
    dyn_leak(alloc);
    printf("EXPECT|seq|1|MARK before FreeLibrary|-|\n");
    printf("EXPECT|seq|1|ole32mem: leaks: 2 blocks, 100 bytes never freed (pid %lu; 0 suppressed), 1 allocation "
           "sites:|-|\n",
           GetCurrentProcessId());
    printf("EXPECT|seq|1|ole32mem: leaks:   100 bytes in 2 blocks from |dyn_leak|, e.g. %p (50 bytes, thread %#lx, "
           "seq 1)\n",
           sink[0], GetCurrentThreadId());
    printf("EXPECT|seq|1|MARK after FreeLibrary|-|\n");
    printf("COUNT|2|ole32mem: leaks:\n");
    fflush(stdout);
    marker("MARK before FreeLibrary\n");
    FreeLibrary(ole32mem);
    marker("MARK after FreeLibrary\n");
    /* The blocks are the process heap's: still usable after the unload. */
    HeapFree(GetProcessHeap(), 0, sink[0]);
    HeapFree(GetProcessHeap(), 0, sink[1]);
    printf("SURVIVED\n");
    printf("diagdyn: 0 passed, 0 failed, 0 skipped, 0 todo\n");
    return 0;
}
