/*
 * The DWARF unwinder (dlls/ole32mem/diag/unwind_dwarf.c) against real .eh_frame sections: PE files that mk/host.mk
 * builds at test time with the cross compilers (tests/host/unwind_fixture.c by the i686 compiler at -O2, and
 * tests/host/unwind_fixture_x86_64.S by the x86_64 assembler), each with the cross objdump's
 * `--dwarf=frames-interp` table of the same file as the oracle. For every row of every FDE of that table, at its
 * first and last byte: the index finds the FDE, the rule's CFA and every register column are the table's, and one
 * unwind step over a synthetic stack reads the return address and the saved registers where the table says. Then
 * the same section, corrupted (truncated, every byte flipped in turn), must never make the unwinder read outside it
 * (ASan watches) nor loop. Runs on any host: no 32-bit execution needed.
 *
 * Usage: test_unwind PE FRAMES [PE FRAMES...]
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_test.h"
#include "unwind_dwarf.h"

enum
{
    LINE_MAX_CHARS = 512,
    COLUMNS_MAX = 24,
    SYNTHETIC_BASE = 0x100000,
};

struct image
{
    uint8_t *file;
    size_t size;
    struct dw_section section;
    unsigned machine;
};

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    uint8_t *data = NULL;
    long length;

    if (!file)
        return NULL;
    if (!fseek(file, 0, SEEK_END) && (length = ftell(file)) > 0 && !fseek(file, 0, SEEK_SET) &&
        (data = malloc((size_t)length + 1)) && fread(data, 1, (size_t)length, file) == (size_t)length)
    {
        data[length] = 0;
        *size = (size_t)length;
    }
    else
    {
        free(data);
        data = NULL;
    }
    fclose(file);
    return data;
}

/* The PE's .eh_frame as the loaded image would have it: its bytes, at ImageBase + VirtualAddress. Long section names
 * ("/4") are looked up in the file's string table. */
static int load_image(const char *path, struct image *image)
{
    const uint8_t *nt, *sections, *header;
    unsigned count, i, optional_size;
    uint32_t symbols, strings;
    uint64_t image_base;
    char name[64];

    memset(image, 0, sizeof(*image));
    if (!(image->file = read_whole(path, &image->size)) || image->size < 0x40)
        return 0;
    nt = image->file + le32(image->file + 0x3c);
    image->machine = le16(nt + 4);
    count = le16(nt + 6);
    symbols = le32(nt + 12);
    strings = symbols + le32(nt + 16) * 18;
    optional_size = le16(nt + 20);
    image_base = le16(nt + 24) == 0x20b ? le32(nt + 24 + 24) | (uint64_t)le32(nt + 24 + 28) << 32 : le32(nt + 24 + 28);
    sections = nt + 24 + optional_size;
    for (i = 0; i < count; i++)
    {
        header = sections + 40 * i;
        memcpy(name, header, 8);
        name[8] = 0;
        if (name[0] == '/' && symbols && strings + (size_t)atoi(name + 1) < image->size)
            snprintf(name, sizeof(name), "%s", (const char *)image->file + strings + atoi(name + 1));
        if (strcmp(name, ".eh_frame"))
            continue;
        image->section.data = image->file + le32(header + 20);
        image->section.size = le32(header + 8) < le32(header + 16) ? le32(header + 8) : le32(header + 16);
        image->section.address = image_base + le32(header + 12);
        image->section.pointer_size = image->machine == 0x8664 ? 8 : 4;
        return le32(header + 20) + image->section.size <= image->size;
    }
    return 0;
}

static int column_of(const struct image *image, const char *name)
{
    static const char *const i386[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
    static const char *const x86_64[] = {"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
                                         "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    unsigned i;

    if (image->machine == 0x8664)
    {
        for (i = 0; i < sizeof(x86_64) / sizeof(*x86_64); i++)
            if (!strcmp(name, x86_64[i]))
                return (int)i;
    }
    else
    {
        for (i = 0; i < sizeof(i386) / sizeof(*i386); i++)
            if (!strcmp(name, i386[i]))
                return (int)i;
    }
    return -1;
}

/* The synthetic stack: every word is a function of its address. */
static uint64_t stack_word(uint64_t address)
{
    return address * 3 + 7;
}

struct synthetic
{
    unsigned pointer_size;
    unsigned reads;
};

static int read_synthetic(void *context, uint64_t address, uint64_t *value)
{
    struct synthetic *synthetic = context;

    synthetic->reads++;
    *value = stack_word(address);
    if (synthetic->pointer_size == 4)
        *value = (uint32_t)*value;
    return 1;
}

/* A rule's column against the table's text for it ("u", "s", "c-8", "v+4", "exp", "vexp", "r5"). */
static int column_matches(const struct dw_rule *rule, const char *text)
{
    if (!strcmp(text, "u"))
        return rule->kind == DW_RULE_SAME || rule->kind == DW_RULE_UNDEFINED;
    if (!strcmp(text, "s"))
        return rule->kind == DW_RULE_SAME;
    if (!strcmp(text, "exp"))
        return rule->kind == DW_RULE_EXPRESSION;
    if (!strcmp(text, "vexp"))
        return rule->kind == DW_RULE_VAL_EXPRESSION;
    if (text[0] == 'c')
        return rule->kind == DW_RULE_OFFSET && rule->offset == atoi(text + 1);
    if (text[0] == 'v')
        return rule->kind == DW_RULE_VAL_OFFSET && rule->offset == atoi(text + 1);
    if (text[0] == 'r')
        return rule->kind == DW_RULE_REGISTER && rule->reg == atoi(text + 1);
    return 0;
}

/* Rows whose rule has a compact form. */
static unsigned compact_rows;

/* The row's checks at `pc`. */
static void check_row(const struct image *image, const struct dw_fde *index, size_t count, uint64_t fde_start,
                      uint64_t pc, char columns[][16], unsigned column_count, char values[][16])
{
    const unsigned sp = image->machine == 0x8664 ? DW_X86_64_RSP : DW_I386_ESP;
    struct synthetic synthetic = {image->section.pointer_size, 0};
    const struct dw_fde *fde = dw_fde_find(index, count, pc);
    struct dw_registers registers, compacted;
    struct dw_compact_rule compact;
    struct dw_frame_rule rule;
    uint64_t return_address, compact_return = 0, cfa = 0;
    int compact_ok = 0;
    unsigned i;
    int column;

    if (!ok(fde && fde->start == fde_start, "%#llx: FDE %#llx, expected the one at %#llx\n", SZ(pc),
            SZ(fde ? fde->start : 0), SZ(fde_start)))
        return;
    if (!ok(dw_frame_rule_at(&image->section, fde, pc, &rule), "%#llx: no rule\n", SZ(pc)))
        return;
    /* The CFA: "exp" or "reg+offset". */
    if (!strcmp(values[0], "exp"))
        ok(rule.cfa.kind == DW_RULE_CFA_EXPRESSION, "%#llx: CFA kind %u, expected an expression\n", SZ(pc),
           rule.cfa.kind);
    else
    {
        char name[16];
        int offset = 0;

        sscanf(values[0], "%15[a-z0-9]%d", name, &offset);
        column = column_of(image, name);
        ok(rule.cfa.kind == DW_RULE_REG_OFFSET && (int)rule.cfa.reg == column && rule.cfa.offset == offset,
           "%#llx: CFA kind %u reg %u%+d, expected %s\n", SZ(pc), rule.cfa.kind, rule.cfa.reg, rule.cfa.offset,
           values[0]);
    }
    for (i = 1; i < column_count; i++)
    {
        const struct dw_rule *checked;

        column = column_of(image, columns[i]);
        if (!strcmp(columns[i], "ra"))
            checked = &rule.ra;
        else if (!ok(column >= 0 && column < DW_COLUMNS, "%#llx: column %s unknown\n", SZ(pc), columns[i]))
            continue;
        else
            checked = &rule.columns[column];
        ok(column_matches(checked, values[i]), "%#llx: %s: kind %u offset %d, expected %s\n", SZ(pc), columns[i],
           checked->kind, checked->offset, values[i]);
    }
    /* One step over the synthetic stack: every register known, every word a function of its address. */
    memset(&registers, 0, sizeof(registers));
    for (i = 0; i < DW_COLUMNS; i++)
    {
        registers.value[i] = SYNTHETIC_BASE + i * 0x1000;
        registers.valid |= 1u << i;
    }
    if (rule.cfa.kind == DW_RULE_REG_OFFSET)
        cfa = registers.value[rule.cfa.reg] + (uint64_t)(int64_t)rule.cfa.offset;
    /* The compact form, where there is one, does what the rule does. */
    compacted = registers;
    if (dw_compact(&image->section, &rule, &compact))
    {
        compact_rows++;
        compact_ok = dw_compact_apply(&compact, image->section.pointer_size, sp, &compacted, &compact_return,
                                      read_synthetic, &synthetic);
        ok(compact_ok, "%#llx: the compact step failed\n", SZ(pc));
    }
    if (!ok(dw_frame_apply(&image->section, &rule, sp, &registers, &return_address, read_synthetic, &synthetic),
            "%#llx: the step failed\n", SZ(pc)))
        return;
    if (compact_ok)
        ok(compact_return == return_address && compacted.valid == registers.valid &&
               !memcmp(compacted.value, registers.value, sizeof(registers.value)),
           "%#llx: the compact rule's step differs from the rule's\n", SZ(pc));
    if (rule.cfa.kind != DW_RULE_REG_OFFSET)
        return;
    ok(registers.value[sp] == cfa, "%#llx: caller's sp %#llx, expected the CFA %#llx\n", SZ(pc),
       SZ(registers.value[sp]), SZ(cfa));
    if (rule.ra.kind == DW_RULE_OFFSET)
        ok(return_address == stack_word(cfa + (uint64_t)(int64_t)rule.ra.offset),
           "%#llx: return address %#llx, not the word at CFA%+d\n", SZ(pc), SZ(return_address), rule.ra.offset);
    for (i = 0; i < DW_COLUMNS; i++)
    {
        if (rule.columns[i].kind == DW_RULE_OFFSET)
            ok(registers.value[i] == stack_word(cfa + (uint64_t)(int64_t)rule.columns[i].offset),
               "%#llx: column %u %#llx, not the word at CFA%+d\n", SZ(pc), i, SZ(registers.value[i]),
               rule.columns[i].offset);
    }
}

/* Every row of the oracle's table. Returns the number of FDEs with code that it lists. */
static size_t check_table(const struct image *image, const char *frames_path, const struct dw_fde *index, size_t count)
{
    char line[LINE_MAX_CHARS], columns[COLUMNS_MAX][16], values[COLUMNS_MAX][16], previous[COLUMNS_MAX][16];
    unsigned long long start = 0, end = 0, loc, previous_loc = 0;
    unsigned column_count = 0, n;
    size_t fdes = 0;
    int have_previous = 0, in_fde = 0, used;
    FILE *file = fopen(frames_path, "r");
    char *p;

    if (!ok(file != NULL, "cannot open %s\n", frames_path))
        return 0;
    for (;;)
    {
        p = fgets(line, sizeof(line), file);
        /* A row ends at the next one, or at the FDE's end when a line that is not a row comes. */
        if (have_previous && (!p || sscanf(line, "%llx", &loc) != 1 || strstr(line, "FDE") || strstr(line, "CIE")))
        {
            check_row(image, index, count, start, previous_loc, columns, column_count, previous);
            check_row(image, index, count, start, end - 1, columns, column_count, previous);
            have_previous = 0;
        }
        if (!p)
            break;
        if (strstr(line, " FDE ") && (p = strstr(line, "pc=")) && sscanf(p, "pc=%llx..%llx", &start, &end) == 2)
        {
            in_fde = start && end > start;
            fdes += in_fde;
            continue;
        }
        if (strstr(line, " CIE"))
            in_fde = 0;
        if (!in_fde)
            continue;
        if (strstr(line, "LOC"))
        {
            column_count = 0;
            p = strstr(line, "LOC") + 3;
            while (column_count < COLUMNS_MAX && sscanf(p, "%15s%n", columns[column_count], &used) == 1)
            {
                p += used;
                column_count++;
            }
            continue;
        }
        if (sscanf(line, "%llx%n", &loc, &used) != 1)
            continue;
        p = line + used;
        for (n = 0; n < column_count && sscanf(p, "%15s%n", values[n], &used) == 1; n++)
            p += used;
        if (n != column_count)
            continue;
        if (have_previous)
        {
            check_row(image, index, count, start, previous_loc, columns, column_count, previous);
            check_row(image, index, count, start, loc - 1, columns, column_count, previous);
        }
        memcpy(previous, values, sizeof(values));
        previous_loc = loc;
        have_previous = 1;
    }
    fclose(file);
    return fdes;
}

static int fail_read(void *context, uint64_t address, uint64_t *value)
{
    (void)context;
    (void)address;
    *value = 0;
    return 0;
}

/* The section corrupted byte by byte, in a buffer of its exact size (ASan's bounds): every function returns. */
static void check_corrupt(const struct image *image, const struct dw_fde *index, size_t count)
{
    size_t size = image->section.size, i, built, j;
    struct dw_section corrupt = image->section;
    struct dw_registers registers;
    struct dw_frame_rule rule;
    struct dw_fde *copy = malloc((count + 1) * sizeof(*copy));
    uint64_t return_address;
    uint8_t *bytes;
    unsigned survived = 0;

    for (i = 0; i < size; i++)
    {
        bytes = malloc(size);
        memcpy(bytes, image->section.data, size);
        bytes[i] ^= 0xa5;
        corrupt.data = bytes;
        /* Truncated too, every 7th byte. */
        corrupt.size = i % 7 ? size : i;
        built = dw_fde_index(&corrupt, copy, count + 1);
        for (j = 0; j < count; j += 1 + count / 8)
        {
            memset(&registers, 0, sizeof(registers));
            registers.valid = ~0u;
            if (dw_frame_rule_at(&corrupt, &index[j], index[j].start, &rule))
                dw_frame_apply(&corrupt, &rule, DW_I386_ESP, &registers, &return_address, fail_read, NULL);
        }
        survived += built <= count + 1;
        free(bytes);
    }
    ok(survived == size, "%u of %zu corruptions survived\n", survived, size);
    free(copy);
}

int main(int argc, char **argv)
{
    struct image image;
    struct dw_fde *index;
    size_t count, indexed, listed;
    int i;

    ok(argc >= 3 && argc % 2 == 1, "usage: test_unwind PE FRAMES [PE FRAMES...]\n");
    for (i = 1; i + 1 < argc; i += 2)
    {
        if (!ok(load_image(argv[i], &image), "%s: no .eh_frame\n", argv[i]))
            continue;
        count = dw_fde_count(&image.section);
        index = malloc((count + 1) * sizeof(*index));
        indexed = dw_fde_index(&image.section, index, count);
        ok(count && indexed == count, "%s: %zu FDEs indexed of %zu\n", argv[i], indexed, count);
        listed = check_table(&image, argv[i + 1], index, indexed);
        ok(listed == count, "%s: %zu FDEs, objdump lists %zu\n", argv[i], count, listed);
        printf("%s: %zu FDEs, %u compact rows\n", argv[i], count, compact_rows);
        ok(compact_rows > 0, "%s: no compact rule\n", argv[i]);
        compact_rows = 0;
        check_corrupt(&image, index, indexed);
        free(index);
        free(image.file);
    }
    return test_summary("host_unwind");
}
