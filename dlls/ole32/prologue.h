/*
 * The combase hook's prologue check (prologue.c): whether the first bytes of a function may be overwritten by the
 * hook's jump. Plain C over bytes, for both x86 arches at once, so that the host tests can feed it the real first
 * bytes of every Wine's combase (tests/host/test_prologue.c).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32_PROXY_PROLOGUE_H
#define OLE32_PROXY_PROLOGUE_H

#include <stddef.h>

enum prologue_arch
{
    PROLOGUE_I386,
    PROLOGUE_X86_64,
};

enum prologue_verdict
{
    PROLOGUE_OK,
    PROLOGUE_TRUNCATED,  /* the bytes given end inside an instruction */
    PROLOGUE_UNKNOWN,    /* an instruction of a kind the check does not know */
    PROLOGUE_JUMP,       /* a jump, call or return: another tool's hook, a thunk, or the end of the function */
    PROLOGUE_BRANCH_IN,  /* a conditional branch back, or into the bytes the patch overwrites */
    PROLOGUE_BRANCH_OUT, /* a conditional branch past the bytes given (out of the image) */
};

/* The size of the hook's jump on each arch (combase_hook.c writes it): x86_64 movabs rax, imm64; jmp rax, and i386
 * mov eax, imm32; jmp eax. */
#define PROLOGUE_PATCH_X86_64 12
#define PROLOGUE_PATCH_I386 7

/* The longest x86 instruction: the check reads at most patch_size - 1 + this many bytes. */
#define PROLOGUE_LONGEST_INSTRUCTION 15

/* Checks the instructions that start in the first `patch_size` bytes of `code`, which is the function's entry and
 * the first `size` bytes of the image from there on. PROLOGUE_OK when they are whole instructions of the kinds a
 * compiler puts at a function's entry, the conditional branches among them jumping forward to at least `patch_size`
 * and inside `size`. Otherwise the verdict, and in *offset where the instruction that decided it starts. */
enum prologue_verdict prologue_check(const unsigned char *code, size_t size, enum prologue_arch arch, size_t patch_size,
                                     size_t *offset);

/* What a verdict means, for the hook's refusal line ("a jump at +0"). */
const char *prologue_verdict_text(enum prologue_verdict verdict);

#endif /* OLE32_PROXY_PROLOGUE_H */
