/*
 * libFuzzer harness of the DWARF unwinder (dlls/ole32mem/diag/unwind_dwarf.c): each input is an .eh_frame section
 * and what to ask of it. The first byte picks the pointer size (4 or 8); the next eight, a code address; the rest is
 * the section, in a buffer of its exact size (libFuzzer's), loaded at a fixed address. The harness indexes the
 * section, looks up the address and a few FDE starts, runs the CFI up to them, makes the compact form and steps
 * both over a synthetic stack that refuses every third read. Its only checks are the sanitizers' (no read outside
 * the section, no undefined behaviour) and libFuzzer's own (no hang, no crash): whatever the bytes, every function
 * returns. `make fuzz-unwind` runs it for FUZZ_SECONDS, starting from the .eh_frame of tests/host's i686 fixture.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unwind_dwarf.h"

enum
{
    HEADER = 9,
    INDEX_MAX = 512,
    LOOKUPS = 4,
    SECTION_ADDRESS = 0x405000,
};

static int read_some(void *context, uint64_t address, uint64_t *value)
{
    unsigned *reads = context;

    *value = address * 5 + 3;
    return ++*reads % 3 != 0;
}

static void step(const struct dw_section *section, const struct dw_fde *fde, uint64_t pc)
{
    struct dw_frame_rule rule;
    struct dw_compact_rule compact;
    struct dw_registers registers;
    uint64_t return_address;
    unsigned reads = 0, i;

    if (!dw_frame_rule_at(section, fde, pc, &rule))
        return;
    memset(&registers, 0, sizeof(registers));
    for (i = 0; i < DW_COLUMNS; i++)
        registers.value[i] = 0x10000 + i * 0x100;
    registers.valid = (1u << DW_COLUMNS) - 1;
    dw_frame_apply(section, &rule, section->pointer_size == 8 ? DW_X86_64_RSP : DW_I386_ESP, &registers,
                   &return_address, read_some, &reads);
    if (dw_compact(section, &rule, &compact))
        dw_compact_apply(&compact, section->pointer_size, DW_I386_ESP, &registers, &return_address, read_some, &reads);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dw_fde index[INDEX_MAX];
    struct dw_section section;
    const struct dw_fde *fde;
    uint64_t pc = 0;
    size_t count, i;

    if (size < HEADER)
        return 0;
    memcpy(&pc, data + 1, sizeof(pc));
    section.data = data + HEADER;
    section.size = size - HEADER;
    section.address = SECTION_ADDRESS;
    section.pointer_size = data[0] & 1 ? 8 : 4;
    count = dw_fde_index(&section, index, INDEX_MAX);
    if (count > INDEX_MAX || (count && dw_fde_count(&section) < count))
        abort();
    for (i = 0; i < count; i++)
    {
        if (index[i].end <= index[i].start || (i && index[i - 1].start > index[i].start))
            abort(); /* every indexed range is non-empty, and the index is sorted */
    }
    if ((fde = dw_fde_find(index, count, pc)))
        step(&section, fde, pc);
    for (i = 0; i < count && i < LOOKUPS; i++)
    {
        /* What the lookup finds covers the address (overlapping FDEs of a corrupt section may hide each other). */
        if ((fde = dw_fde_find(index, count, index[i].start)) &&
            (fde->start > index[i].start || index[i].start >= fde->end))
            abort();
        step(&section, &index[i], index[i].start + (pc % (index[i].end - index[i].start + 1)));
    }
    return 0;
}
