/*
 * The DWARF call-frame unwinder of unwind_dwarf.h: parsing of .eh_frame's CIEs and FDEs, a sorted FDE index, the
 * CFA program run up to an address, and one step of the unwind.
 *
 * Owns nothing but its arguments. Every section read goes through struct cursor, which refuses to move past its end
 * (a failed read sets `bad` and yields zeros, so a loop over a truncated buffer ends); every read of the unwound
 * process goes through the caller's dw_read_fn. Never allocates, never calls the OS.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "unwind_dwarf.h"

#include <string.h>

enum
{
    STATE_STACK_MAX = 8,  /* DW_CFA_remember_state nesting */
    EXPRESSION_STACK = 8, /* DWARF expression stack */
    /* Pointer encodings (DW_EH_PE_*). */
    PE_OMIT = 0xff,
    PE_FORMAT = 0x0f,
    PE_ABSPTR = 0x00,
    PE_ULEB128 = 0x01,
    PE_UDATA2 = 0x02,
    PE_UDATA4 = 0x03,
    PE_UDATA8 = 0x04,
    PE_SLEB128 = 0x09,
    PE_SDATA2 = 0x0a,
    PE_SDATA4 = 0x0b,
    PE_SDATA8 = 0x0c,
    PE_APPLICATION = 0x70,
    PE_PCREL = 0x10,
    PE_INDIRECT = 0x80,
};

struct cursor
{
    const uint8_t *p, *end;
    int bad;
};

static uint64_t read_bytes(struct cursor *c, unsigned n)
{
    uint64_t value = 0;
    unsigned i;

    if (c->bad || (size_t)(c->end - c->p) < n)
    {
        c->bad = 1;
        return 0;
    }
    for (i = 0; i < n; i++)
        value |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return value;
}

/* A LEB128 number; `is_signed` extends the sign of the last byte's bit 6 (SLEB128). */
static uint64_t read_leb(struct cursor *c, int is_signed)
{
    uint64_t value = 0;
    unsigned shift = 0;
    uint8_t byte;

    do
    {
        byte = (uint8_t)read_bytes(c, 1);
        if (shift < 64)
            value |= (uint64_t)(byte & 0x7f) << shift;
        shift += 7;
    } while ((byte & 0x80) && !c->bad);
    if (is_signed && shift < 64 && (byte & 0x40))
        value |= ~(uint64_t)0 << shift;
    return value;
}

static uint64_t read_uleb(struct cursor *c)
{
    return read_leb(c, 0);
}

static int64_t read_sleb(struct cursor *c)
{
    return (int64_t)read_leb(c, 1);
}

static void skip(struct cursor *c, uint64_t n)
{
    if (c->bad || (uint64_t)(c->end - c->p) < n)
        c->bad = 1;
    else
        c->p += n;
}

static uint64_t truncate_pointer(const struct dw_section *section, uint64_t value)
{
    return section->pointer_size == 4 ? (uint32_t)value : value;
}

/* A pointer in `encoding`; only the encodings compilers emit for .eh_frame (absolute or pc-relative, not indirect). */
static uint64_t read_encoded(const struct dw_section *section, struct cursor *c, uint8_t encoding)
{
    uint64_t here = section->address + (uint64_t)(c->p - section->data), value;

    switch (encoding & PE_FORMAT)
    {
    case PE_ABSPTR:
        value = read_bytes(c, section->pointer_size);
        break;
    case PE_ULEB128:
        value = read_uleb(c);
        break;
    case PE_UDATA2:
        value = read_bytes(c, 2);
        break;
    case PE_UDATA4:
        value = read_bytes(c, 4);
        break;
    case PE_UDATA8:
        value = read_bytes(c, 8);
        break;
    case PE_SLEB128:
        value = (uint64_t)read_sleb(c);
        break;
    case PE_SDATA2:
        value = (uint64_t)(int64_t)(int16_t)read_bytes(c, 2);
        break;
    case PE_SDATA4:
        value = (uint64_t)(int64_t)(int32_t)read_bytes(c, 4);
        break;
    case PE_SDATA8:
        value = read_bytes(c, 8);
        break;
    default:
        c->bad = 1;
        return 0;
    }
    if (encoding & PE_INDIRECT)
        c->bad = 1;
    switch (encoding & PE_APPLICATION)
    {
    case 0:
        break;
    case PE_PCREL:
        value += here;
        break;
    default:
        c->bad = 1;
        break;
    }
    return truncate_pointer(section, value);
}

/* One entry (CIE or FDE) of the section: its body after the length, and its id field. */
struct entry
{
    size_t offset;      /* of the length field */
    size_t id_offset;   /* of the id field */
    struct cursor body; /* from after the id to the end of the entry */
    uint64_t id;
    int is_cie;
};

/* The entry at `offset`; returns 0 at the terminator, the end or a malformed length. */
static int read_entry(const struct dw_section *section, size_t offset, struct entry *entry)
{
    struct cursor c = {section->data + offset, section->data + section->size, 0};
    uint64_t length;
    unsigned id_size = 4;

    if (offset >= section->size)
        return 0;
    length = read_bytes(&c, 4);
    if (length == 0xffffffff)
    {
        length = read_bytes(&c, 8);
        id_size = 8;
    }
    if (!c.bad && !length)
    {
        /* A terminator in the middle: each object's .eh_frame may end with one, and the linker keeps them. */
        entry->offset = offset;
        entry->id_offset = offset;
        entry->body.p = entry->body.end = c.p;
        entry->body.bad = 0;
        entry->id = 0;
        entry->is_cie = 1;
        return 1;
    }
    if (c.bad || length > (uint64_t)(c.end - c.p) || length < id_size)
        return 0;
    entry->offset = offset;
    entry->id_offset = (size_t)(c.p - section->data);
    entry->body.end = c.p + length;
    entry->id = read_bytes(&c, id_size);
    entry->body.p = c.p;
    entry->body.bad = 0;
    entry->is_cie = entry->id == 0;
    return 1;
}

struct cie
{
    uint64_t code_align;
    int64_t data_align;
    unsigned ra_column;
    uint8_t fde_encoding;
    int has_augmentation_data;
    struct cursor instructions;
};

static int parse_cie(const struct dw_section *section, const struct entry *entry, struct cie *cie)
{
    struct cursor c = entry->body, data;
    const char *augmentation;
    uint8_t version;
    uint64_t length;

    memset(cie, 0, sizeof(*cie));
    cie->fde_encoding = PE_ABSPTR;
    version = (uint8_t)read_bytes(&c, 1);
    augmentation = (const char *)c.p;
    while (!c.bad && read_bytes(&c, 1))
        ;
    if (c.bad || (version != 1 && version != 3 && version != 4))
        return 0;
    if (version == 4)
        skip(&c, 2); /* address size, segment selector size */
    cie->code_align = read_uleb(&c);
    cie->data_align = read_sleb(&c);
    cie->ra_column = version == 1 ? (unsigned)read_bytes(&c, 1) : (unsigned)read_uleb(&c);
    if (*augmentation == 'z')
    {
        cie->has_augmentation_data = 1;
        length = read_uleb(&c);
        data = c;
        skip(&c, length);
        data.end = c.p;
        /* An unknown letter ends the parse: the length skips the rest. */
        for (augmentation++; strchr("RLPS", *augmentation) && *augmentation && !data.bad; augmentation++)
        {
            if (*augmentation == 'R')
                cie->fde_encoding = (uint8_t)read_bytes(&data, 1);
            else if (*augmentation == 'L')
                read_bytes(&data, 1);
            else if (*augmentation == 'P')
                read_encoded(section, &data, (uint8_t)read_bytes(&data, 1) & ~PE_INDIRECT);
        }
        if (data.bad)
            return 0;
    }
    else if (*augmentation)
        return 0;
    if (c.bad || cie->ra_column > UINT8_MAX)
        return 0;
    cie->instructions = c;
    return 1;
}

/* The CIE of an FDE entry. */
static int cie_of(const struct dw_section *section, const struct entry *fde, struct cie *cie)
{
    struct entry entry;

    if (fde->id > fde->id_offset || !read_entry(section, fde->id_offset - (size_t)fde->id, &entry) || !entry.is_cie)
        return 0;
    return parse_cie(section, &entry, cie);
}

/* An FDE's range and the cursor at its instructions. */
static int parse_fde(const struct dw_section *section, const struct entry *entry, const struct cie *cie,
                     uint64_t *start, uint64_t *range, struct cursor *instructions)
{
    struct cursor c = entry->body;

    *start = read_encoded(section, &c, cie->fde_encoding);
    *range = read_encoded(section, &c, cie->fde_encoding & PE_FORMAT);
    if (cie->has_augmentation_data)
        skip(&c, read_uleb(&c));
    *instructions = c;
    return !c.bad;
}

/* Walks the section's FDEs that cover code, writing up to `max` of them into `index` when not NULL; returns how
 * many it found (or wrote). */
static size_t walk_fdes(const struct dw_section *section, struct dw_fde *index, size_t max)
{
    struct entry entry;
    struct cie cie;
    struct cursor instructions;
    size_t offset = 0, count = 0, cie_offset = (size_t)-1;
    uint64_t start, range;

    while (read_entry(section, offset, &entry))
    {
        offset = (size_t)(entry.body.end - section->data);
        if (entry.is_cie)
            continue;
        /* The last CIE parsed is kept while the FDEs name it (cie_offset is -1 until one parsed). */
        if (entry.id > entry.id_offset || entry.id_offset - (size_t)entry.id != cie_offset)
        {
            cie_offset = (size_t)-1;
            if (!cie_of(section, &entry, &cie))
                continue;
            cie_offset = entry.id_offset - (size_t)entry.id;
        }
        /* A range that wraps around the address space is as malformed as an empty one. */
        if (!parse_fde(section, &entry, &cie, &start, &range, &instructions) || !start || !range ||
            truncate_pointer(section, start + range) <= start)
            continue;
        if (index)
        {
            if (count >= max)
                break;
            index[count].start = start;
            index[count].end = truncate_pointer(section, start + range);
            index[count].offset = (uint32_t)entry.offset;
        }
        count++;
    }
    return count;
}

size_t dw_fde_count(const struct dw_section *section)
{
    return walk_fdes(section, NULL, 0);
}

static void sift_down(struct dw_fde *index, size_t root, size_t count)
{
    struct dw_fde swap;
    size_t child;

    while ((child = 2 * root + 1) < count)
    {
        if (child + 1 < count && index[child + 1].start > index[child].start)
            child++;
        if (index[root].start >= index[child].start)
            return;
        swap = index[root];
        index[root] = index[child];
        index[child] = swap;
        root = child;
    }
}

size_t dw_fde_index(const struct dw_section *section, struct dw_fde *index, size_t max)
{
    size_t count = walk_fdes(section, index, max), i;
    struct dw_fde swap;

    /* Heapsort: no recursion, no allocation. */
    for (i = count / 2; i-- > 0;)
        sift_down(index, i, count);
    for (i = count; i-- > 1;)
    {
        swap = index[0];
        index[0] = index[i];
        index[i] = swap;
        sift_down(index, 0, i);
    }
    return count;
}

const struct dw_fde *dw_fde_find(const struct dw_fde *index, size_t count, uint64_t pc)
{
    size_t low = 0, high = count, middle;

    /* The last FDE starting at or below pc. */
    while (low < high)
    {
        middle = low + (high - low) / 2;
        if (index[middle].start <= pc)
            low = middle + 1;
        else
            high = middle;
    }
    return low && pc < index[low - 1].end ? &index[low - 1] : NULL;
}

/* A rule's expression block: its offset and length in the section. */
static int read_block(const struct dw_section *section, struct cursor *c, struct dw_rule *rule)
{
    uint64_t length = read_uleb(c);

    rule->expr_offset = (uint32_t)(c->p - section->data);
    skip(c, length);
    if (c->bad || length > UINT16_MAX)
        return 0;
    rule->expr_length = (uint16_t)length;
    return 1;
}

/* The rule of register `reg`, or NULL for a register not tracked. */
static struct dw_rule *column_rule(struct dw_frame_rule *rule, unsigned reg)
{
    if (reg == rule->ra_column)
        return &rule->ra;
    return reg < DW_COLUMNS ? &rule->columns[reg] : NULL;
}

/* Runs `c`'s instructions into `rule` up to `pc`; `initial` is the state after the CIE's (for DW_CFA_restore).
 * Returns 0 on a malformed or unsupported instruction. */
static int run_program(const struct dw_section *section, const struct cie *cie, struct cursor c, uint64_t loc,
                       uint64_t pc, const struct dw_frame_rule *initial, struct dw_frame_rule *rule)
{
    struct dw_frame_rule stack[STATE_STACK_MAX];
    struct dw_rule *column;
    unsigned depth = 0, reg;
    uint64_t delta;
    uint8_t op;

    while (c.p < c.end && !c.bad)
    {
        op = (uint8_t)read_bytes(&c, 1);
        delta = 0;
        reg = UINT8_MAX + 1;
        switch (op >> 6)
        {
        case 1:
            delta = (op & 0x3f) * cie->code_align;
            op = 0x40;
            break;
        case 2:
            reg = op & 0x3f;
            op = 0x80;
            break;
        case 3:
            reg = op & 0x3f;
            op = 0xc0;
            break;
        }
        switch (op)
        {
        case 0x00:
            break; /* nop */
        case 0x40:
            break; /* advance_loc */
        case 0x01:
            delta = read_encoded(section, &c, cie->fde_encoding) - loc;
            break; /* set_loc */
        case 0x02:
            delta = read_bytes(&c, 1) * cie->code_align;
            break;
        case 0x03:
            delta = read_bytes(&c, 2) * cie->code_align;
            break;
        case 0x04:
            delta = read_bytes(&c, 4) * cie->code_align;
            break;
        case 0x80: /* offset */
        case 0x05: /* offset_extended */
        case 0x11: /* offset_extended_sf */
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf */
        case 0x2f: /* GNU_negative_offset_extended */
        {
            int64_t offset;

            if (op != 0x80)
                reg = (unsigned)read_uleb(&c);
            offset = op == 0x11 || op == 0x15 ? read_sleb(&c) : (int64_t)read_uleb(&c);
            offset *= op == 0x2f ? -cie->data_align : cie->data_align;
            if ((column = column_rule(rule, reg)))
            {
                column->kind = op == 0x14 || op == 0x15 ? DW_RULE_VAL_OFFSET : DW_RULE_OFFSET;
                column->offset = (int32_t)offset;
            }
            break;
        }
        case 0xc0: /* restore */
        case 0x06: /* restore_extended */
            if (op == 0x06)
                reg = (unsigned)read_uleb(&c);
            if ((column = column_rule(rule, reg)))
                *column = *column_rule((struct dw_frame_rule *)initial, reg);
            break;
        case 0x07: /* undefined */
        case 0x08: /* same_value */
            reg = (unsigned)read_uleb(&c);
            if ((column = column_rule(rule, reg)))
                column->kind = op == 0x07 ? DW_RULE_UNDEFINED : DW_RULE_SAME;
            break;
        case 0x09: /* register */
            reg = (unsigned)read_uleb(&c);
            op = (uint8_t)read_uleb(&c);
            if ((column = column_rule(rule, reg)))
            {
                column->kind = DW_RULE_REGISTER;
                column->reg = op;
            }
            break;
        case 0x0a: /* remember_state */
            if (depth == STATE_STACK_MAX)
                return 0;
            stack[depth++] = *rule;
            break;
        case 0x0b: /* restore_state: the CFA is part of the row and restored with it */
            if (!depth)
                return 0;
            *rule = stack[--depth];
            break;
        case 0x0c: /* def_cfa */
        case 0x12: /* def_cfa_sf */
            rule->cfa.kind = DW_RULE_REG_OFFSET;
            rule->cfa.reg = (uint8_t)read_uleb(&c);
            rule->cfa.offset = op == 0x12 ? (int32_t)(read_sleb(&c) * cie->data_align) : (int32_t)read_uleb(&c);
            break;
        case 0x0d: /* def_cfa_register */
            rule->cfa.kind = DW_RULE_REG_OFFSET;
            rule->cfa.reg = (uint8_t)read_uleb(&c);
            break;
        case 0x0e: /* def_cfa_offset */
            rule->cfa.offset = (int32_t)read_uleb(&c);
            break;
        case 0x13: /* def_cfa_offset_sf */
            rule->cfa.offset = (int32_t)(read_sleb(&c) * cie->data_align);
            break;
        case 0x0f: /* def_cfa_expression */
            rule->cfa.kind = DW_RULE_CFA_EXPRESSION;
            if (!read_block(section, &c, &rule->cfa))
                return 0;
            break;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
        {
            struct dw_rule expression = {0};

            reg = (unsigned)read_uleb(&c);
            expression.kind = op == 0x10 ? DW_RULE_EXPRESSION : DW_RULE_VAL_EXPRESSION;
            if (!read_block(section, &c, &expression))
                return 0;
            if ((column = column_rule(rule, reg)))
                *column = expression;
            break;
        }
        case 0x2e: /* GNU_args_size */
            read_uleb(&c);
            break;
        default:
            return 0;
        }
        if (delta)
        {
            /* The row in force at pc is the one before the first advance past it. */
            if (loc + delta > pc)
                return !c.bad;
            loc += delta;
        }
    }
    return !c.bad;
}

int dw_frame_rule_at(const struct dw_section *section, const struct dw_fde *fde, uint64_t pc,
                     struct dw_frame_rule *rule)
{
    struct dw_frame_rule initial;
    struct entry entry;
    struct cie cie;
    struct cursor instructions;
    uint64_t start, range;
    unsigned i;

    if (!read_entry(section, fde->offset, &entry) || entry.is_cie || !cie_of(section, &entry, &cie) ||
        !parse_fde(section, &entry, &cie, &start, &range, &instructions))
        return 0;
    memset(&initial, 0, sizeof(initial));
    for (i = 0; i < DW_COLUMNS; i++)
        initial.columns[i].kind = DW_RULE_SAME;
    initial.ra.kind = DW_RULE_UNDEFINED;
    initial.ra_column = (uint8_t)cie.ra_column;
    /* The CIE's program has no advances that matter: it describes the function's entry. */
    if (!run_program(section, &cie, cie.instructions, start, start, &initial, &initial))
        return 0;
    *rule = initial;
    return run_program(section, &cie, instructions, start, pc, &initial, rule) && rule->cfa.kind != DW_RULE_SAME;
}

/* Evaluates a DWARF expression of the section over the frame's registers, `pushed` first on the stack when
 * `push`. */
static int evaluate(const struct dw_section *section, const struct dw_rule *rule, const struct dw_registers *registers,
                    int push, uint64_t pushed, dw_read_fn read, void *read_context, uint64_t *result)
{
    struct cursor c = {section->data + rule->expr_offset, section->data + rule->expr_offset + rule->expr_length, 0};
    uint64_t stack[EXPRESSION_STACK], value;
    unsigned depth = 0, reg;
    uint8_t op;

    if ((size_t)rule->expr_offset + rule->expr_length > section->size)
        return 0;
    if (push)
        stack[depth++] = pushed;
    while (c.p < c.end && !c.bad)
    {
        op = (uint8_t)read_bytes(&c, 1);
        if (op >= 0x30 && op <= 0x4f) /* lit0..lit31 */
            value = op - 0x30;
        else if ((op >= 0x70 && op <= 0x8f) || op == 0x92) /* breg0..breg31, bregx */
        {
            reg = op == 0x92 ? (unsigned)read_uleb(&c) : op - 0x70u;
            if (reg >= DW_COLUMNS || !(registers->valid & (1u << reg)))
                return 0;
            value = registers->value[reg] + (uint64_t)read_sleb(&c);
        }
        else
        {
            switch (op)
            {
            case 0x08:
                value = read_bytes(&c, 1);
                break;
            case 0x09:
                value = (uint64_t)(int64_t)(int8_t)read_bytes(&c, 1);
                break;
            case 0x0a:
                value = read_bytes(&c, 2);
                break;
            case 0x0b:
                value = (uint64_t)(int64_t)(int16_t)read_bytes(&c, 2);
                break;
            case 0x0c:
                value = read_bytes(&c, 4);
                break;
            case 0x0d:
                value = (uint64_t)(int64_t)(int32_t)read_bytes(&c, 4);
                break;
            case 0x10:
                value = read_uleb(&c);
                break;
            case 0x11:
                value = (uint64_t)read_sleb(&c);
                break;
            case 0x96:
                continue; /* nop */
            case 0x06:    /* deref */
                if (!depth || !read(read_context, truncate_pointer(section, stack[depth - 1]), &stack[depth - 1]))
                    return 0;
                continue;
            case 0x12: /* dup */
                if (!depth)
                    return 0;
                value = stack[depth - 1];
                break;
            case 0x13: /* drop */
                if (!depth)
                    return 0;
                depth--;
                continue;
            case 0x1c: /* minus */
            case 0x22: /* plus */
                if (depth < 2)
                    return 0;
                depth--;
                stack[depth - 1] = op == 0x22 ? stack[depth - 1] + stack[depth] : stack[depth - 1] - stack[depth];
                continue;
            case 0x23: /* plus_uconst */
                if (!depth)
                    return 0;
                stack[depth - 1] += read_uleb(&c);
                continue;
            default:
                return 0;
            }
        }
        if (depth == EXPRESSION_STACK)
            return 0;
        stack[depth++] = value;
    }
    if (c.bad || !depth)
        return 0;
    *result = truncate_pointer(section, stack[depth - 1]);
    return 1;
}

/* A column's value in the caller: 1 with *value, 0 when the rule leaves it unknown, -1 when it cannot be had (a
 * failed read, an unsupported expression). */
static int column_value(const struct dw_section *section, const struct dw_rule *column, uint64_t cfa,
                        const struct dw_registers *registers, dw_read_fn read, void *read_context, uint64_t *value)
{
    uint64_t address;

    switch (column->kind)
    {
    case DW_RULE_OFFSET:
    case DW_RULE_VAL_OFFSET:
        address = truncate_pointer(section, cfa + (uint64_t)(int64_t)column->offset);
        break;
    case DW_RULE_REGISTER:
        if (column->reg >= DW_COLUMNS || !(registers->valid & (1u << column->reg)))
            return 0;
        *value = registers->value[column->reg];
        return 1;
    case DW_RULE_EXPRESSION:
    case DW_RULE_VAL_EXPRESSION:
        if (!evaluate(section, column, registers, 1, cfa, read, read_context, &address))
            return -1;
        break;
    default:
        return 0;
    }
    if ((column->kind == DW_RULE_OFFSET || column->kind == DW_RULE_EXPRESSION) &&
        !read(read_context, address, &address))
        return -1;
    *value = truncate_pointer(section, address);
    return 1;
}

int dw_frame_apply(const struct dw_section *section, const struct dw_frame_rule *rule, unsigned sp_column,
                   struct dw_registers *registers, uint64_t *return_address, dw_read_fn read, void *read_context)
{
    struct dw_registers caller = *registers;
    uint64_t cfa;
    unsigned i;
    int known;

    if (rule->cfa.kind == DW_RULE_REG_OFFSET)
    {
        if (rule->cfa.reg >= DW_COLUMNS || !(registers->valid & (1u << rule->cfa.reg)))
            return 0;
        cfa = truncate_pointer(section, registers->value[rule->cfa.reg] + (uint64_t)(int64_t)rule->cfa.offset);
    }
    else if (rule->cfa.kind != DW_RULE_CFA_EXPRESSION ||
             !evaluate(section, &rule->cfa, registers, 0, 0, read, read_context, &cfa))
        return 0;
    for (i = 0; i < DW_COLUMNS; i++)
    {
        if (rule->columns[i].kind == DW_RULE_SAME || i == rule->ra_column)
            continue;
        known = column_value(section, &rule->columns[i], cfa, registers, read, read_context, &caller.value[i]);
        if (known < 0)
            return 0;
        if (known)
            caller.valid |= 1u << i;
        else
            caller.valid &= ~(1u << i);
    }
    /* The outermost frame has an undefined return address. */
    if (column_value(section, &rule->ra, cfa, registers, read, read_context, return_address) <= 0)
        return 0;
    caller.value[sp_column] = cfa;
    caller.valid |= 1u << sp_column;
    *registers = caller;
    return 1;
}

/* An expression that is DW_OP_bregN offset, optionally followed by DW_OP_deref: its register and offset. */
static int simple_expression(const struct dw_section *section, const struct dw_rule *rule, int deref, uint8_t *reg,
                             int32_t *offset)
{
    struct cursor c = {section->data + rule->expr_offset, section->data + rule->expr_offset + rule->expr_length, 0};
    uint8_t op;
    int64_t value;

    if ((size_t)rule->expr_offset + rule->expr_length > section->size)
        return 0;
    op = (uint8_t)read_bytes(&c, 1);
    if (op < 0x70 || op > 0x8f || op - 0x70 >= DW_COLUMNS)
        return 0;
    value = read_sleb(&c);
    if (deref && read_bytes(&c, 1) != 0x06)
        return 0;
    if (c.bad || c.p != c.end || value != (int16_t)value)
        return 0;
    *reg = (uint8_t)(op - 0x70);
    *offset = (int32_t)value;
    return 1;
}

int dw_compact(const struct dw_section *section, const struct dw_frame_rule *rule, struct dw_compact_rule *compact)
{
    const struct dw_rule *column;
    uint8_t base;
    int32_t offset;
    unsigned i;

    memset(compact, 0, sizeof(*compact));
    if (rule->ra.kind != DW_RULE_OFFSET)
        return 0;
    if (rule->cfa.kind == DW_RULE_REG_OFFSET && rule->cfa.reg < DW_COLUMNS)
    {
        compact->cfa_reg = rule->cfa.reg;
        compact->cfa_offset = rule->cfa.offset;
    }
    else if (rule->cfa.kind == DW_RULE_CFA_EXPRESSION &&
             simple_expression(section, &rule->cfa, 1, &compact->cfa_reg, &compact->cfa_offset))
        compact->cfa_deref = 1;
    else
        return 0;
    compact->ra_offset = rule->ra.offset;
    for (i = 0; i < DW_COLUMNS; i++)
    {
        column = &rule->columns[i];
        if (column->kind == DW_RULE_SAME || i == rule->ra_column)
            continue;
        if (compact->saved_count == DW_COMPACT_SAVED)
            return 0;
        if (column->kind == DW_RULE_OFFSET && column->offset == (int16_t)column->offset)
        {
            base = 0;
            offset = column->offset;
        }
        else if (column->kind == DW_RULE_EXPRESSION && simple_expression(section, column, 0, &base, &offset))
            base++;
        else
            return 0;
        compact->saved_reg[compact->saved_count] = (uint8_t)i;
        compact->saved_base[compact->saved_count] = base;
        compact->saved_offset[compact->saved_count++] = (int16_t)offset;
    }
    return 1;
}
