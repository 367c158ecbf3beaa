/*
 * diagdyn.exe: a child of tests/diag/diag.c (case "unload") that loads ole32mem.dll at run time, leaks from a known
 * function and unloads it: the leak report must come at the unload (between the two markers this program writes to
 * stderr), once, and not again at exit. It tells the parent so in the lines of tests/diag/expect.h; it imports
 * nothing of ole32mem, so that FreeLibrary really unloads it.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>

#include "test.h"
#include "expect.h"

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
    HMODULE ole32mem = LoadLibraryA("ole32mem.dll");
    alloc_fn alloc = ole32mem ? (alloc_fn)(void *)GetProcAddress(ole32mem, "CoTaskMemAlloc") : NULL;

    if (!ok(alloc != NULL, "cannot load ole32mem.dll (error %lu)\n", GetLastError()))
        return test_summary("diagdyn");
    RANGE(dyn_leak);
    dyn_leak(alloc);
    expect("seq", 1, "MARK before FreeLibrary", "-", "");
    expect_leak_header("seq", 2, 100, 0, 1);
    expect("seq", 1, "ole32mem: leaks:   100 bytes in 2 blocks from ", "dyn_leak",
           fmt(", e.g. %p (50 bytes, thread %#lx, seq 1)", sink[0], GetCurrentThreadId()));
    expect("seq", 1, "MARK after FreeLibrary", "-", "");
    expect_count(2, "ole32mem: leaks:");
    fflush(stdout);
    marker("MARK before FreeLibrary\n");
    FreeLibrary(ole32mem);
    marker("MARK after FreeLibrary\n");
    /* The blocks are the process heap's: still usable after the unload. */
    ok(HeapFree(GetProcessHeap(), 0, sink[0]) && HeapFree(GetProcessHeap(), 0, sink[1]),
       "the leaked blocks are not the process heap's\n");
    return test_summary("diagdyn");
}
