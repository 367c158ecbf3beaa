/*
 * The DLL of tests/diag/stacks.c's loader-lock test, built once and copied under two names. The first copy is
 * loaded early and never allocates in its DllMain; its export stackshelp_alloc is what a spy hook calls (a caller in
 * a module the diagnostics have never named). The second copy is loaded by another thread while that hook runs; its
 * DllMain, holding the loader's lock, signals the named event and allocates through ole32mem.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <objbase.h>

__declspec(dllexport) void *stackshelp_alloc(SIZE_T size)
{
    return CoTaskMemAlloc(size);
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void *reserved)
{
    HANDLE entered;

    (void)instance;
    (void)reserved;
    if (reason != DLL_PROCESS_ATTACH || !(entered = OpenEventA(EVENT_MODIFY_STATE, FALSE, "ole32mem_stacks_dllmain")))
        return TRUE;
    SetEvent(entered);
    CloseHandle(entered);
    /* Waits for the core's lock, held by the hook on the other thread, while holding the loader's lock. */
    CoTaskMemFree(CoTaskMemAlloc(24));
    return TRUE;
}
