/*
 * diaghook.exe: the combase hook (dlls/ole32/combase_hook.c, compiled into this program, redirecting combase's six
 * functions to ole32mem, which this program imports) in Wine's child-process style (tests/diag/child.h): the parent
 * re-runs itself as `diaghook.exe child MODE` and checks the child's exit code and stderr; the child's own checks
 * count as the parent's.
 *
 *   hook     Wine's combase as installed: the prologues are known, the hook is installed, and a spied block freed
 *            through combase is freed through ole32mem (its spy sees it; DidAlloc then says 0, the revoke completes).
 *   refuse   combase's CoTaskMemFree already starts with another tool's jump: the hook refuses with one line on
 *            stderr, patches nothing (all six prologues byte for byte as they were), and the other tool's hook
 *            keeps working.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "ole32mem_objidl.h"
#include <objbase.h>

#include <stdio.h>
#include <string.h>

#include "combase_hook.h"
#include "passthrough_spy.h"
#include "test.h"
#include "child.h"

enum
{
    CHILD_TIMEOUT_MS = 60000,
    PROLOGUE_BYTES = 16,
    HOOKED = 6,
};

static const char *const hooked_names[HOOKED] = {"CoGetMalloc",  "CoTaskMemAlloc",      "CoTaskMemRealloc",
                                                 "CoTaskMemFree", "CoRegisterMallocSpy", "CoRevokeMallocSpy"};

/* --- a counting spy -------------------------------------------------------------------------------------------- */

struct counting_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refs, allocs, spied_frees;
};

static struct counting_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct counting_spy, IMallocSpy_iface);
}

static ULONG WINAPI spy_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&impl_from_IMallocSpy(iface)->refs);
}

static ULONG WINAPI spy_Release(IMallocSpy *iface)
{
    return InterlockedDecrement(&impl_from_IMallocSpy(iface)->refs);
}

static SIZE_T WINAPI spy_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    InterlockedIncrement(&impl_from_IMallocSpy(iface)->allocs);
    return size;
}

static void *WINAPI spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    if (spyed)
        InterlockedIncrement(&impl_from_IMallocSpy(iface)->spied_frees);
    return request;
}

static const IMallocSpyVtbl spy_vtbl = {
    passthrough_QueryInterface, spy_AddRef,          spy_Release,
    spy_PreAlloc,               passthrough_PostAlloc, spy_PreFree,
    passthrough_PostFree,       passthrough_PreRealloc, passthrough_PostRealloc,
    passthrough_PreGetSize,     passthrough_PostGetSize, passthrough_PreDidAlloc,
    passthrough_PostDidAlloc,   passthrough_PreHeapMinimize, passthrough_PostHeapMinimize,
};

/* --- the children ---------------------------------------------------------------------------------------------- */

typedef void *(WINAPI *alloc_fn)(SIZE_T);
typedef void(WINAPI *free_fn)(void *);

static HMODULE combase;
static alloc_fn combase_alloc;
static free_fn combase_free;

static int find_combase(void)
{
    combase = LoadLibraryA("combase.dll");
    combase_alloc = combase ? (alloc_fn)(void *)GetProcAddress(combase, "CoTaskMemAlloc") : NULL;
    combase_free = combase ? (free_fn)(void *)GetProcAddress(combase, "CoTaskMemFree") : NULL;
    ok(combase_alloc && combase_free, "combase.dll: error %lu\n", GetLastError());
    return combase_alloc && combase_free;
}

static void child_hook(void)
{
    struct counting_spy spy = {{(IMallocSpyVtbl *)&spy_vtbl}, 1, 0, 0};
    IMalloc *malloc;
    void *p;
    HRESULT hr;

    if (!find_combase())
        return;
    ok(combase_hook_install() == 1, "the hook refused Wine's own combase\n");
    CoGetMalloc(MEMCTX_TASK, &malloc);
    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    ok(hr == S_OK, "register: %#lx\n", hr);
    p = combase_alloc(40);
    ok(p && spy.allocs == 1, "combase's CoTaskMemAlloc did not reach ole32mem's spy (%ld)\n", spy.allocs);
    combase_free(p);
    ok(spy.spied_frees == 1, "combase's CoTaskMemFree of a spied block: %ld spied frees\n", spy.spied_frees);
    p = CoTaskMemAlloc(40);
    combase_free(p);
    ok(IMalloc_DidAlloc(malloc, p) == 0, "DidAlloc of a spied block freed by combase: %d\n",
       IMalloc_DidAlloc(malloc, p));
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "revoke: %#lx\n", hr);
    ok(spy.refs == 1, "the spy is still held: %ld\n", spy.refs);
}

static LONG other_tool_calls;

/* Another tool's hook of combase's CoTaskMemFree: counts, then frees as combase would. */
static void WINAPI other_tool_free(void *block)
{
    InterlockedIncrement(&other_tool_calls);
    HeapFree(GetProcessHeap(), 0, block);
}

/* Writes an absolute jump to `target` at `code`, as detour libraries do (x86_64: jmp [rip+0]; i686: jmp rel32). */
static void write_other_jump(BYTE *code, const void *target)
{
    DWORD old;

    VirtualProtect(code, PROLOGUE_BYTES, PAGE_EXECUTE_READWRITE, &old);
#ifdef _WIN64
    code[0] = 0xff;
    code[1] = 0x25;
    memset(code + 2, 0, 4);
    memcpy(code + 6, &target, sizeof(target));
#else
    {
        LONG offset = (LONG)((const BYTE *)target - (code + 5));

        code[0] = 0xe9;
        memcpy(code + 1, &offset, sizeof(offset));
    }
#endif
    VirtualProtect(code, PROLOGUE_BYTES, old, &old);
    FlushInstructionCache(GetCurrentProcess(), code, PROLOGUE_BYTES);
}

static void child_refuse(void)
{
    BYTE before[HOOKED][PROLOGUE_BYTES];
    const BYTE *code[HOOKED];
    int i, unchanged = 1;
    void *p;

    if (!find_combase())
        return;
    write_other_jump((BYTE *)(void *)combase_free, (const void *)other_tool_free);
    for (i = 0; i < HOOKED; i++)
    {
        code[i] = (const BYTE *)(void *)GetProcAddress(combase, hooked_names[i]);
        memcpy(before[i], code[i], PROLOGUE_BYTES);
    }
    ok(combase_hook_install() == 0, "the hook patched over another tool's jump\n");
    for (i = 0; i < HOOKED; i++)
        if (memcmp(before[i], code[i], PROLOGUE_BYTES))
        {
            unchanged = 0;
            trace("%s was changed\n", hooked_names[i]);
        }
    ok(unchanged, "a refused hook changed combase\n");
    p = combase_alloc(24);
    combase_free(p);
    ok(other_tool_calls == 1, "the other tool's hook was called %ld times\n", other_tool_calls);
}

/* --- the parent ------------------------------------------------------------------------------------------------ */

/* The one-frame report, as for the other programs of the suite (tests/diag/stacks.c checks stacks). */
static const char *const child_settings[] = {"OLE32MEM_STACK_DEPTH=0", NULL};

static const struct child_mode modes[] = {
    {"hook", child_hook},
    {"refuse", child_refuse},
};

int main(int argc, char **argv)
{
    struct child child;
    const char *line;

    child_init("hook", child_settings);
    if (argc >= 3 && !strcmp(argv[1], "child"))
        return child_main(argv[2], argv[3], modes, ARRAYSIZE(modes));
    child_run(&child, "hook", "hook", NULL, 0, CHILD_TIMEOUT_MS);
    ok(child.exit_code == 0, "hook child: exit code %ld\n", (long)child.exit_code);
    ok(!strstr(child.err, "combase hook"), "the hook complained about Wine's own combase: %s\n", child.err);
    child_free(&child);

    child_run(&child, "refuse", "refuse", NULL, 0, CHILD_TIMEOUT_MS);
    ok(child.exit_code == 0, "refuse child: exit code %ld\n", (long)child.exit_code);
    line = strstr(child.err, "ole32 proxy: combase hook: combase's CoTaskMemFree does not start as expected");
    ok(line != NULL, "no refusal line on stderr: \"%s\"\n", child.err);
    ok(line && !strstr(line + 1, "ole32 proxy:"), "more than one line: \"%s\"\n", child.err);
    child_free(&child);
    return test_summary("diaghook");
}
