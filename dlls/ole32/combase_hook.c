/*
 * The combase hook: makes the allocations that ole32 and combase make for themselves (StringFromCLSID's string,
 * IStorage::Stat's name, PropVariantClear's frees, marshalling buffers, ...) reach ole32mem too. Wine's ole32
 * imports these functions from combase and combase calls its own directly, so the proxy's exports never see them.
 *
 * How: the first bytes of each of combase's six functions are replaced by an absolute jump to the proxy's export
 * of the same name (x86_64: movabs rax, target; jmp rax; i686: mov eax, target; jmp eax; eax/rax are scratch at
 * a function's entry in both calling conventions and carry no argument). The return address is the caller's, so
 * the proxy's functions see the caller of combase's. Nothing is ever restored: the proxy pins itself so that the
 * jumps never point into an unloaded module.
 *
 * Invariants: all six functions are patched or none (a half-redirected allocator would register a spy in one
 * place and allocate in another); a function is patched only when it lies in combase's image, its patch does not
 * overlap another one's, and its first JUMP_SIZE bytes are whole instructions of the kinds a compiler puts at a
 * function's entry (stack and register moves, arithmetic, loads, compares and forward conditional branches past
 * the patch: prologue.c, which also says why nothing needs relocating). Anything else there — a jump written by
 * another hooking tool, a thunk shorter than our patch, code of a combase we have never seen — makes the hook refuse
 * with one line on stderr and leaves combase untouched: the proxy then works as a proxy only. Must never run with
 * other threads inside combase's allocator: it is called from DllMain, while the process loads ole32.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#define COM_NO_WINDOWS_H
#include <windows.h>

#include "ole32mem_objidl.h"
/* The SDK's prototypes of the exports, without dllimport: the jump targets are this DLL's own functions. */
#define _OLE32_
#include <objbase.h>

#include <stdio.h>
#include <string.h>

#include "combase_hook.h"
#include "prologue.h"

#ifdef _WIN64
#define PROLOGUE_ARCH PROLOGUE_X86_64
#define JUMP_SIZE PROLOGUE_PATCH_X86_64
static void write_jump(BYTE *code, const void *target)
{
    code[0] = 0x48; /* movabs rax, imm64 */
    code[1] = 0xb8;
    memcpy(code + 2, &target, sizeof(target));
    code[10] = 0xff; /* jmp rax */
    code[11] = 0xe0;
}
#else
#define PROLOGUE_ARCH PROLOGUE_I386
#define JUMP_SIZE PROLOGUE_PATCH_I386
static void write_jump(BYTE *code, const void *target)
{
    code[0] = 0xb8; /* mov eax, imm32 */
    memcpy(code + 1, &target, sizeof(target));
    code[5] = 0xff; /* jmp eax */
    code[6] = 0xe0;
}
#endif

#define HOOK_COUNT 6

struct hook
{
    const char *name;
    const void *target;
    BYTE *code;
};

/* One line on stderr (and the debugger's channel): a refused hook changes what the proxy redirects, the user who
 * asked for it must see why. */
static void report(const char *message)
{
    HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
    DWORD written;

    OutputDebugStringA(message);
    if (err && err != INVALID_HANDLE_VALUE)
        WriteFile(err, message, lstrlenA(message), &written, NULL);
}

static SIZE_T image_size(HMODULE module)
{
    const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)module;
    const IMAGE_NT_HEADERS *nt = (const IMAGE_NT_HEADERS *)((const BYTE *)module + dos->e_lfanew);

    return nt->OptionalHeader.SizeOfImage;
}

static int find_hooks(HMODULE combase, struct hook *hooks)
{
    const BYTE *start = (const BYTE *)combase, *end = start + image_size(combase);
    enum prologue_verdict verdict;
    size_t offset;
    int i, j;

    for (i = 0; i < HOOK_COUNT; i++)
    {
        hooks[i].code = (BYTE *)GetProcAddress(combase, hooks[i].name);
        /* A forwarder would resolve outside combase: not combase's code to patch. */
        if (!hooks[i].code || hooks[i].code < start || hooks[i].code + JUMP_SIZE + PROLOGUE_LONGEST_INSTRUCTION > end)
        {
            report("ole32 proxy: combase hook: a function is missing or not in combase.dll; not hooking\n");
            return 0;
        }
    }
    for (i = 0; i < HOOK_COUNT; i++)
        if ((verdict = prologue_check(hooks[i].code, end - hooks[i].code, PROLOGUE_ARCH, JUMP_SIZE, &offset)))
        {
            char line[200];

            snprintf(line, sizeof(line),
                     "ole32 proxy: combase hook: combase's %s does not start as expected (%s at +%u: hooked by "
                     "another tool, or an unknown combase); not hooking, proxy only\n",
                     hooks[i].name, prologue_verdict_text(verdict), (unsigned)offset);
            report(line);
            return 0;
        }
    for (i = 0; i < HOOK_COUNT; i++)
        for (j = 0; j < HOOK_COUNT; j++)
            if (i != j && hooks[j].code > hooks[i].code - JUMP_SIZE && hooks[j].code < hooks[i].code + JUMP_SIZE)
            {
                report("ole32 proxy: combase hook: two functions are too close to patch; not hooking\n");
                return 0;
            }
    return 1;
}

int combase_hook_install(void)
{
    struct hook hooks[HOOK_COUNT] = {
        {"CoGetMalloc", (const void *)CoGetMalloc, NULL},
        {"CoTaskMemAlloc", (const void *)CoTaskMemAlloc, NULL},
        {"CoTaskMemRealloc", (const void *)CoTaskMemRealloc, NULL},
        {"CoTaskMemFree", (const void *)CoTaskMemFree, NULL},
        {"CoRegisterMallocSpy", (const void *)CoRegisterMallocSpy, NULL},
        {"CoRevokeMallocSpy", (const void *)CoRevokeMallocSpy, NULL},
    };
    DWORD old[HOOK_COUNT];
    HMODULE combase, self;
    int i;

    /* Wine's ole32 imports combase, so it is normally loaded already; loading it here is what the loader would
     * do a moment later. It is never freed: its code now jumps to us and we to nothing of it. */
    if (!(combase = GetModuleHandleW(L"combase.dll")) && !(combase = LoadLibraryW(L"combase.dll")))
    {
        report("ole32 proxy: combase hook: combase.dll not found; not hooking\n");
        return 0;
    }
    if (!find_hooks(combase, hooks))
        return 0;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                            (const WCHAR *)combase_hook_install, &self))
    {
        report("ole32 proxy: combase hook: cannot pin ole32.dll; not hooking\n");
        return 0;
    }
    for (i = 0; i < HOOK_COUNT; i++)
        if (!VirtualProtect(hooks[i].code, JUMP_SIZE, PAGE_EXECUTE_READWRITE, &old[i]))
        {
            report("ole32 proxy: combase hook: VirtualProtect failed; not hooking\n");
            while (i--)
                VirtualProtect(hooks[i].code, JUMP_SIZE, old[i], &old[i]);
            return 0;
        }
    for (i = 0; i < HOOK_COUNT; i++)
        write_jump(hooks[i].code, hooks[i].target);
    /* In reverse: where two functions share a page, the later call saw the protection the earlier one set, so
     * undoing them last-first leaves each page as it was. */
    for (i = HOOK_COUNT; i--;)
    {
        VirtualProtect(hooks[i].code, JUMP_SIZE, old[i], &old[i]);
        FlushInstructionCache(GetCurrentProcess(), hooks[i].code, JUMP_SIZE);
    }
    return 1;
}
