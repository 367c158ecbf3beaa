/*
 * A DWARF call-frame (CFI) unwinder over the bytes of an .eh_frame section: plain C, no OS, no allocation, no locks.
 * The i686 stack capture (stack_capture_win32.c) runs it over each loaded module's .eh_frame; the host suite
 * (tests/host/test_unwind.c) runs it over .eh_frame sections of PE files that the cross compilers build at test
 * time, so a machine that cannot run 32-bit programs still tests the i686 unwinder.
 *
 * Invariants: every read of the section stays inside [data, data + size) and every read of the stack goes through
 * the caller's dw_read_fn, which validates the address; malformed input (truncated entries, unknown opcodes or
 * encodings, too deep a state stack) makes a function return 0, never read outside those bounds nor loop forever
 * (each loop advances through a bounded buffer). Never calls anything but that callback.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_UNWIND_DWARF_H
#define OLE32MEM_UNWIND_DWARF_H

#include <stddef.h>
#include <stdint.h>

enum
{
    /* Register columns tracked: i386's 0-7, x86_64's 0-15 and 16. The return address's column (8 on i386, 16 or, in
     * binutils' PE output, 32 on x86_64) has a rule of its own. */
    DW_COLUMNS = 17,
    DW_I386_ESP = 4,
    DW_I386_EBP = 5,
    DW_COMPACT_SAVED = 8, /* registers a compact rule restores */
    DW_X86_64_RBP = 6,
    DW_X86_64_RSP = 7,
};

/* An .eh_frame section: its bytes, where those bytes are loaded in the unwound process (the base of pc-relative
 * pointers) and the process's pointer size (4 or 8). */
struct dw_section
{
    const uint8_t *data;
    size_t size;
    uint64_t address;
    unsigned pointer_size;
};

/* One FDE of a section's index: the code it covers, [start, end), and its offset in the section. */
struct dw_fde
{
    uint64_t start, end;
    uint32_t offset;
};

/* How a value is found in the caller's frame. */
enum dw_rule_kind
{
    DW_RULE_SAME,       /* unchanged (also "undefined" for callee-saved registers: the walk keeps the value) */
    DW_RULE_UNDEFINED,  /* not recoverable (for the return address: the outermost frame) */
    DW_RULE_OFFSET,     /* saved at CFA + offset */
    DW_RULE_VAL_OFFSET, /* is CFA + offset */
    DW_RULE_REGISTER,   /* in register `reg` */
    DW_RULE_EXPRESSION, /* saved at the address the expression computes */
    DW_RULE_VAL_EXPRESSION,
    /* For the CFA only: */
    DW_RULE_REG_OFFSET, /* CFA = reg + offset */
    DW_RULE_CFA_EXPRESSION,
};

/* kind, plus its register and offset, or its expression as an offset and length in the section. */
struct dw_rule
{
    uint8_t kind, reg;
    uint16_t expr_length;
    int32_t offset;
    uint32_t expr_offset;
};

/* What a code address's row of the CFI table says: the CFA, each register column, the return address. */
struct dw_frame_rule
{
    struct dw_rule cfa;
    struct dw_rule columns[DW_COLUMNS];
    struct dw_rule ra;
    uint8_t ra_column;
};

/* Registers of one frame: value[] by DWARF column, valid bit i for column i. */
struct dw_registers
{
    uint64_t value[DW_COLUMNS];
    uint32_t valid;
};

/* Reads one pointer-sized word of the unwound process at `address`; returns 0 when it may not be read. */
typedef int (*dw_read_fn)(void *context, uint64_t address, uint64_t *value);

/* The number of FDEs of a section (0 for a malformed one). */
size_t dw_fde_count(const struct dw_section *section);

/* Writes up to `max` FDEs of the section into `index`, sorted by start; returns how many. */
size_t dw_fde_index(const struct dw_section *section, struct dw_fde *index, size_t max);

/* The FDE of a sorted index that covers `pc`, or NULL. */
const struct dw_fde *dw_fde_find(const struct dw_fde *index, size_t count, uint64_t pc);

/* Runs the CIE's and the FDE's instructions up to `pc` (a code address inside the FDE's range; for a return address,
 * the address of the call: return address - 1). Returns 0 on malformed or unsupported CFI. */
int dw_frame_rule_at(const struct dw_section *section, const struct dw_fde *fde, uint64_t pc,
                     struct dw_frame_rule *rule);

/* Applies a rule to a frame's registers: on return `registers` holds the caller's, its stack pointer (`sp_column`)
 * being the CFA, and *return_address the return column's value. Returns 0 when a needed register is unknown, a read
 * fails or an expression is unsupported. */
int dw_frame_apply(const struct dw_section *section, const struct dw_frame_rule *rule, unsigned sp_column,
                   struct dw_registers *registers, uint64_t *return_address, dw_read_fn read, void *read_context);

/* The common cases of a rule, small enough for a per-return-address cache (40 bytes): CFA = register + offset, or
 * the word there (GCC's realigned i386 main: DW_OP_bregN off; DW_OP_deref); the return address at CFA + offset; up
 * to DW_COMPACT_SAVED registers saved at CFA + offset or at register + offset (DW_OP_bregN off); every other
 * register unchanged. The x86_64 capture fills one from what RtlVirtualUnwind did, in DWARF's numbering. */
struct dw_compact_rule
{
    int32_t cfa_offset;
    int32_t ra_offset;
    uint8_t cfa_reg, cfa_deref, saved_count;
    uint8_t saved_reg[DW_COMPACT_SAVED];
    uint8_t saved_base[DW_COMPACT_SAVED]; /* 0: the CFA; n: register n - 1 (its value in the frame unwound) */
    int16_t saved_offset[DW_COMPACT_SAVED];
};

/* The compact form of a rule; returns 0 when the rule has more than it can say (other expressions, registers
 * moved, values computed, too many saved registers). */
int dw_compact(const struct dw_section *section, const struct dw_frame_rule *rule, struct dw_compact_rule *compact);

/* dw_frame_apply for a compact rule: the same result as the rule it was made from. Inline, so that where `read` is a
 * known function its reads are inlined too: the stack capture applies one rule per frame of every captured stack,
 * and the calls through `read` were half of a frame's time. */
static inline __attribute__((always_inline)) int
dw_compact_apply(const struct dw_compact_rule *compact, unsigned pointer_size, unsigned sp_column,
                 struct dw_registers *registers, uint64_t *return_address, dw_read_fn read, void *read_context)
{
    uint64_t mask = pointer_size == 4 ? UINT32_MAX : UINT64_MAX, cfa, base, saved[DW_COMPACT_SAVED];
    unsigned i, reg;

    if (compact->cfa_reg >= DW_COLUMNS || !(registers->valid & (1u << compact->cfa_reg)) ||
        compact->saved_count > DW_COMPACT_SAVED)
        return 0;
    cfa = (registers->value[compact->cfa_reg] + (uint64_t)(int64_t)compact->cfa_offset) & mask;
    if (compact->cfa_deref && !read(read_context, cfa, &cfa))
        return 0;
    cfa &= mask;
    if (!read(read_context, (cfa + (uint64_t)(int64_t)compact->ra_offset) & mask, return_address))
        return 0;
    *return_address &= mask;
    /* Every read first, from the registers as they are: a failed one leaves them unchanged, as dw_frame_apply. */
    for (i = 0; i < compact->saved_count; i++)
    {
        if (compact->saved_base[i])
        {
            reg = compact->saved_base[i] - 1u;
            if (reg >= DW_COLUMNS || !(registers->valid & (1u << reg)))
                return 0;
            base = registers->value[reg];
        }
        else
            base = cfa;
        if (compact->saved_reg[i] >= DW_COLUMNS ||
            !read(read_context, (base + (uint64_t)(int64_t)compact->saved_offset[i]) & mask, &saved[i]))
            return 0;
    }
    for (i = 0; i < compact->saved_count; i++)
    {
        registers->value[compact->saved_reg[i]] = saved[i] & mask;
        registers->valid |= 1u << compact->saved_reg[i];
    }
    registers->value[sp_column] = cfa;
    registers->valid |= 1u << sp_column;
    return 1;
}

#endif /* OLE32MEM_UNWIND_DWARF_H */
