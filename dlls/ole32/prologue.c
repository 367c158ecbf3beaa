/*
 * The combase hook's prologue check: measures the instructions at a function's entry that the hook's jump will
 * overwrite, and says whether overwriting them is safe. Plain C over bytes (no Windows header), decoding either x86
 * arch whatever it is compiled for, so that the host tests run it on the real bytes of every Wine's combase.
 *
 * What "safe" means here: the hook replaces the whole function (its jump goes to ole32mem's function of the same
 * name and nothing ever comes back), so no byte of the function is copied or executed again and no branch needs
 * relocating. What must hold is that the patched bytes are this function's own code, laid out as a compiler lays
 * out an entry: whole instructions of the kinds it emits there (stack and register moves, loads, arithmetic,
 * compares), with the code going on after them. Hence:
 *   - a conditional branch (Wine 10's x86_64 CoGetMalloc starts with `cmp ecx,1; jne`) is accepted when it jumps
 *     forward past the patched bytes and inside the image: the code falls through it, so the bytes after it are
 *     still the function's, and its target is code the patch does not touch;
 *   - a conditional branch back, or into the patched bytes, is refused: no compiler's entry does that, a loop or
 *     another tool's code does;
 *   - every jump, call and return is refused: a jump at the entry is another tool's hook or a thunk, and after a
 *     jump or a return the next bytes may be another function's;
 *   - every opcode not listed is refused: the patch would cut through an instruction this check cannot measure.
 *
 * Invariants: reads nothing beyond `size` bytes from `code` and at most patch_size - 1 + the longest instruction;
 * never writes. Must never accept what it cannot measure: an unknown opcode is a refusal, not a guess.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>

#include "prologue.h"

enum
{
    MODRM_MOD_REGISTER = 3,
    MODRM_RM_SIB = 4,
    MODRM_RM_DISP32 = 5, /* with mod 0: disp32 (rip-relative on x86_64) */
    SIB_BASE_NONE = 5,
    REX_W = 8,
    OP_JCC_SHORT_FIRST = 0x70, /* jcc rel8: 0x70-0x7f */
    OP_TWO_BYTE = 0x0f,
    OP2_JCC_NEAR_FIRST = 0x80, /* 0f 80-8f: jcc rel32 */
    OP2_CMOV_FIRST = 0x40,     /* 0f 40-4f: cmovcc */
    OP2_NOP_MODRM = 0x1f,      /* 0f 1f /0: the long nop */
};

/* One decoded instruction: its length and, for a conditional branch, its displacement from its end. */
struct instruction
{
    size_t length;
    int branch;
    int32_t displacement;
};

static int32_t read_rel32(const unsigned char *code)
{
    uint32_t value = (uint32_t)code[0] | (uint32_t)code[1] << 8 | (uint32_t)code[2] << 16 | (uint32_t)code[3] << 24;

    return (int32_t)value;
}

/* The length of a ModRM operand (the ModRM byte, a SIB byte, a displacement), or 0 when the bytes run out. A
 * rip-relative operand on x86_64 has the same length as an absolute one on i386: only measured, never moved. */
static size_t modrm_length(const unsigned char *code, size_t left)
{
    unsigned mod, rm;
    size_t length = 1;

    if (!left)
        return 0;
    mod = code[0] >> 6;
    rm = code[0] & 7;
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
    return length <= left ? length : 0;
}

/* The ModRM byte's reg field: the sub-opcode of group instructions (0xff /4 is a jump, /6 a push). */
static unsigned modrm_reg(const unsigned char *code)
{
    return code[0] >> 3 & 7;
}

/* Decodes one instruction at `code` (`left` bytes readable) into *insn, or says why it is refused. */
static enum prologue_verdict decode(const unsigned char *code, size_t left, enum prologue_arch arch,
                                    struct instruction *insn)
{
    size_t prefix = 0, operand = 0, immediate = 0;
    int wide = 0;
    unsigned op;

    insn->branch = 0;
    insn->displacement = 0;
    if (arch == PROLOGUE_X86_64 && left && (code[0] & 0xf0) == 0x40) /* REX (inc/dec on i386) */
    {
        wide = code[0] & REX_W;
        prefix = 1;
    }
    if (left <= prefix)
        return PROLOGUE_TRUNCATED;
    op = code[prefix];
    code += prefix + 1;
    left -= prefix + 1;

    if ((op >= 0x50 && op <= 0x57) || op == 0x90) /* push reg, nop */
    {
        insn->length = prefix + 1;
        return PROLOGUE_OK;
    }
    if (op >= 0xb8 && op <= 0xbf) /* mov reg, imm32 (imm64 with REX.W) */
    {
        immediate = wide ? 8 : 4;
        goto done;
    }
    if (op >= OP_JCC_SHORT_FIRST && op <= OP_JCC_SHORT_FIRST + 0xf)
    {
        if (left < 1)
            return PROLOGUE_TRUNCATED;
        insn->branch = 1;
        insn->displacement = (signed char)code[0];
        immediate = 1;
        goto done;
    }
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
        break;
    case 0x83: /* arithmetic r/m, imm8 */
        immediate = 1;
        break;
    case 0x81: /* arithmetic r/m, imm32 */
        immediate = 4;
        break;
    case 0xc7: /* mov r/m, imm32 (only /0) */
        if (!left)
            return PROLOGUE_TRUNCATED;
        if (modrm_reg(code))
            return PROLOGUE_UNKNOWN;
        immediate = 4;
        break;
    case 0xf6: /* test r/m8, imm8 (only /0) */
        if (!left)
            return PROLOGUE_TRUNCATED;
        if (modrm_reg(code))
            return PROLOGUE_UNKNOWN;
        immediate = 1;
        break;
    case 0xff: /* push r/m (/6); /2 /3 are calls, /4 /5 jumps */
        if (!left)
            return PROLOGUE_TRUNCATED;
        if (modrm_reg(code) >= 2 && modrm_reg(code) <= 5)
            return PROLOGUE_JUMP;
        if (modrm_reg(code) != 6)
            return PROLOGUE_UNKNOWN;
        break;
    case 0xc2:
    case 0xc3:
    case 0xca:
    case 0xcb: /* returns */
    case 0xe8: /* call rel32 */
    case 0xe9:
    case 0xea:
    case 0xeb: /* jumps */
        return PROLOGUE_JUMP;
    case OP_TWO_BYTE:
        if (!left)
            return PROLOGUE_TRUNCATED;
        op = code[0];
        code++;
        left--;
        prefix++;
        if (op >= OP2_JCC_NEAR_FIRST && op <= OP2_JCC_NEAR_FIRST + 0xf)
        {
            if (left < 4)
                return PROLOGUE_TRUNCATED;
            insn->branch = 1;
            insn->displacement = read_rel32(code);
            immediate = 4;
            goto done;
        }
        if ((op >= OP2_CMOV_FIRST && op <= OP2_CMOV_FIRST + 0xf) || (op == OP2_NOP_MODRM && left && !modrm_reg(code)))
            break;
        return PROLOGUE_UNKNOWN;
    default:
        return PROLOGUE_UNKNOWN;
    }
    if (!(operand = modrm_length(code, left)))
        return PROLOGUE_TRUNCATED;
done:
    if (operand + immediate > left)
        return PROLOGUE_TRUNCATED;
    insn->length = prefix + 1 + operand + immediate;
    return PROLOGUE_OK;
}

enum prologue_verdict prologue_check(const unsigned char *code, size_t size, enum prologue_arch arch, size_t patch_size,
                                     size_t *offset)
{
    enum prologue_verdict verdict;
    struct instruction insn;
    size_t at = 0, left;
    int64_t target;

    while (at < patch_size)
    {
        *offset = at;
        if (at >= size)
            return PROLOGUE_TRUNCATED;
        left = size - at;
        if (left > PROLOGUE_LONGEST_INSTRUCTION)
            left = PROLOGUE_LONGEST_INSTRUCTION;
        if ((verdict = decode(code + at, left, arch, &insn)) != PROLOGUE_OK)
            return verdict;
        at += insn.length;
        if (!insn.branch)
            continue;
        target = (int64_t)at + insn.displacement;
        if (target < (int64_t)patch_size)
            return PROLOGUE_BRANCH_IN;
        if (target >= (int64_t)size)
            return PROLOGUE_BRANCH_OUT;
    }
    *offset = at;
    return PROLOGUE_OK;
}

const char *prologue_verdict_text(enum prologue_verdict verdict)
{
    switch (verdict)
    {
    case PROLOGUE_OK:
        return "known instructions";
    case PROLOGUE_TRUNCATED:
        return "an instruction cut short by the end of the image";
    case PROLOGUE_UNKNOWN:
        return "an unknown instruction";
    case PROLOGUE_JUMP:
        return "a jump, call or return";
    case PROLOGUE_BRANCH_IN:
        return "a branch back into its first bytes";
    case PROLOGUE_BRANCH_OUT:
        return "a branch out of the image";
    }
    return "?";
}
