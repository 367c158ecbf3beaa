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
 * function's entry (stack and register moves, arithmetic, loads: prologue_known). Anything else there — a jump
 * written by another hooking tool, a thunk shorter than our patch, code of a combase we have never seen — makes the
 * hook refuse with one line on stderr and leaves combase untouched: the proxy then works as a proxy only. Must never
 * run with other threads inside combase's allocator: it is called from DllMain, while the process loads ole32.
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

#ifdef _WIN64
#define JUMP_SIZE 12
static void write_jump(BYTE *code, const void *target)
{
    code[0] = 0x48; /* movabs rax, imm64 */
    code[1] = 0xb8;
    memcpy(code + 2, &target, sizeof(target));
    code[10] = 0xff; /* jmp rax */
    code[11] = 0xe0;
}
#else
#define JUMP_SIZE 7
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

enum
{
    MODRM_MOD_REGISTER = 3,
    MODRM_RM_SIB = 4,
    MODRM_RM_DISP32 = 5, /* with mod 0: disp32 (rip-relative on x86_64) */
    SIB_BASE_NONE = 5,
};

/* The length of a ModRM operand (the ModRM byte, a SIB byte, a displacement), or 0 when the bytes run out. */
static size_t modrm_length(const BYTE *code, size_t left)
{
    BYTE modrm, mod, rm;
    size_t length = 1;

    if (!left)
        return 0;
    modrm = code[0];
    mod = modrm >> 6;
    rm = modrm & 7;
    if (mod == MODRM_MOD_REGISTER)
        return 1;
    if (rm == MODRM_RM_SIB)
    {
        if (left < 2)
            return 0;
        length++;
        if (mod == 0 && (code[1] & 7) == SIB_BASE_NONE)
            length += 4;
    }
    else if (mod == 0 && rm == MODRM_RM_DISP32)
        length += 4;
    if (mod == 1)
        length += 1;
    else if (mod == 2)
        length += 4;
    return length;
}

/* The length of one instruction of the kinds compilers emit at a function's entry, or 0 for anything else: every
 * jump, call and return (another tool's hook, a thunk), and every opcode this list does not know. The bytes are
 * only measured, never executed again: the whole function is replaced. */
static size_t instruction_length(const BYTE *code, size_t left)
{
    size_t prefix = 0, operand;
    int wide = 0;
    BYTE op;

#ifdef _WIN64
    if (left && (code[0] & 0xf0) == 0x40) /* REX */
    {
        wide = code[0] & 8;
        prefix = 1;
    }
#endif
    if (left <= prefix)
        return 0;
    op = code[prefix];
    code += prefix + 1;
    left -= prefix + 1;
    if ((op >= 0x50 && op <= 0x57) || op == 0x90) /* push reg, nop */
        return prefix + 1;
    if (op >= 0xb8 && op <= 0xbf) /* mov reg, imm32 (imm64 with REX.W) */
        return prefix + 1 + (wide ? 8 : 4);
    switch (op)
    {
    case 0x01:
    case 0x03:
    case 0x09:
    case 0x0b:
    case 0x21:
    case 0x23:
    case 0x29:
    case 0x2b: /* add/or/and/sub */
    case 0x31:
    case 0x33:
    case 0x39:
    case 0x3b:
    case 0x85:
    case 0x89:
    case 0x8b:
    case 0x8d: /* xor/cmp/test/mov/lea */
        operand = modrm_length(code, left);
        return operand ? prefix + 1 + operand : 0;
    case 0x83: /* arithmetic r/m, imm8 */
        operand = modrm_length(code, left);
        return operand ? prefix + 1 + operand + 1 : 0;
    case 0x81: /* arithmetic r/m, imm32 */
        operand = modrm_length(code, left);
        return operand ? prefix + 1 + operand + 4 : 0;
    case 0xf6: /* test r/m8, imm8 (only /0) */
        if (!left || (code[0] >> 3 & 7))
            return 0;
        operand = modrm_length(code, left);
        return operand ? prefix + 1 + operand + 1 : 0;
    case 0xff: /* push r/m (/6) only: /2 and /4 are an indirect call and jump */
        if (!left || (code[0] >> 3 & 7) != 6)
            return 0;
        operand = modrm_length(code, left);
        return operand ? prefix + 1 + operand : 0;
    case 0x0f: /* cmovcc */
        if (!left || (code[0] & 0xf0) != 0x40)
            return 0;
        operand = modrm_length(code + 1, left - 1);
        return operand ? prefix + 2 + operand : 0;
    default:
        return 0;
    }
}

/* Whether the first JUMP_SIZE bytes of `code` are whole known instructions (the patch then replaces code only of
 * this function, and nobody else's hook). Reads up to JUMP_SIZE + the longest instruction (15 bytes) past `code`,
 * which find_hooks has checked lie inside combase's image. */
static int prologue_known(const BYTE *code)
{
    enum
    {
        LONGEST_INSTRUCTION = 15,
    };
    size_t at = 0, length;

    while (at < JUMP_SIZE)
    {
        length = instruction_length(code + at, JUMP_SIZE + LONGEST_INSTRUCTION - at);
        if (!length)
            return 0;
        at += length;
    }
    return 1;
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
    int i, j;

    for (i = 0; i < HOOK_COUNT; i++)
    {
        hooks[i].code = (BYTE *)GetProcAddress(combase, hooks[i].name);
        /* A forwarder would resolve outside combase: not combase's code to patch. */
        if (!hooks[i].code || hooks[i].code < start || hooks[i].code + JUMP_SIZE + 15 > end)
        {
            report("ole32 proxy: combase hook: a function is missing or not in combase.dll; not hooking\n");
            return 0;
        }
    }
    for (i = 0; i < HOOK_COUNT; i++)
        if (!prologue_known(hooks[i].code))
        {
            char line[160];

            snprintf(line, sizeof(line),
                     "ole32 proxy: combase hook: combase's %s does not start as expected (hooked by another tool, or "
                     "an unknown combase); not hooking, proxy only\n",
                     hooks[i].name);
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
