/*
 * A set of block pointers, optionally with one value per block: open addressing, linear probing, O(1) expected.
 *
 * Used by the spy path (which blocks were allocated under the current spy: keys only, 8 bytes a slot on 64-bit)
 * and by the diagnostics (which live blocks came from ole32mem and from where: a value per key).
 *
 * Not thread-safe: every caller holds the lock that protects the table. NULL is never a key.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_BLOCKTABLE_H
#define OLE32MEM_BLOCKTABLE_H

#include <stddef.h>
#include <stdint.h>

struct block_table
{
    uintptr_t *keys; /* capacity slots, 0 = empty; NULL until the first insert */
    void **values;   /* capacity slots when with_values, else NULL */
    size_t capacity; /* a power of two, or 0 */
    size_t count;    /* occupied slots */
    unsigned shift;  /* bits of uintptr_t minus log2(capacity): the hash keeps the top bits */
    int with_values;
};

/* An initializer, not a block: clang-format would wrap it as one. */
/* clang-format off */
#define BLOCK_TABLE_INIT_KEYS {NULL, NULL, 0, 0, 0, 0}
#define BLOCK_TABLE_INIT_VALUES {NULL, NULL, 0, 0, 0, 1}
/* clang-format on */

/* Makes room for `more` further inserts, so that they cannot fail. Returns 0 when out of memory. */
int block_table_grow(struct block_table *table, size_t more);

/* The table stays at most 3/4 full (linear probing degrades fast beyond that). */
static inline int block_table_has_room(const struct block_table *table, size_t more)
{
    size_t needed = table->count + more;

    return needed >= table->count && needed <= table->capacity - table->capacity / 4;
}

static inline int block_table_reserve(struct block_table *table, size_t more)
{
    return block_table_has_room(table, more) || block_table_grow(table, more);
}

/* Inserts key (or replaces its value). Returns 0 only when out of memory (never after a matching reserve). */
int block_table_insert(struct block_table *table, const void *key, void *value);

/* Heap blocks are at least 8-aligned: the low bits carry no information. */
#define BLOCK_TABLE_ALIGNMENT_BITS 3

/* Fibonacci hashing: multiply by 2^bits / golden ratio and keep the top bits, which mixes every input bit. */
#if UINTPTR_MAX > 0xffffffffu
#define BLOCK_TABLE_MULTIPLIER ((uintptr_t)0x9e3779b97f4a7c15ull)
#else
#define BLOCK_TABLE_MULTIPLIER ((uintptr_t)0x9e3779b9u)
#endif

static inline size_t block_table_home_slot(const struct block_table *table, uintptr_t key)
{
    return (size_t)(((key >> BLOCK_TABLE_ALIGNMENT_BITS) * BLOCK_TABLE_MULTIPLIER) >> table->shift);
}

/* The slot holding key, in *found; 0 when key is not in the table. Inline: it is on every spied call. */
static inline int block_table_find(const struct block_table *table, uintptr_t key, size_t *found)
{
    size_t mask, slot;

    if (!table->count)
        return 0;
    mask = table->capacity - 1;
    for (slot = block_table_home_slot(table, key); table->keys[slot]; slot = (slot + 1) & mask)
    {
        if (table->keys[slot] == key)
        {
            *found = slot;
            return 1;
        }
    }
    return 0;
}

/* Nonzero when key is in the table; *value (if not NULL) receives its value. */
static inline int block_table_lookup(const struct block_table *table, const void *key, void **value)
{
    size_t slot;

    if (!block_table_find(table, (uintptr_t)key, &slot))
        return 0;
    if (value)
        *value = table->with_values ? table->values[slot] : NULL;
    return 1;
}

/* Removes key; nonzero when it was there, and *value (if not NULL) receives its value. */
int block_table_remove(struct block_table *table, const void *key, void **value);

/* The spied path's operations (task_memory.c), inline and one probe each: they are on every spied call.
 *
 * block_table_insert_reserved: inserts key (or replaces its value) into a table with room reserved
 * (block_table_reserve): one walk of the run from key's home slot finds key or the hole that ends the run, and never
 * allocates. Returns 1 when key is new, 0 when it was already there. */
static inline int block_table_insert_reserved(struct block_table *table, const void *key, void *value)
{
    size_t mask = table->capacity - 1, slot;

    for (slot = block_table_home_slot(table, (uintptr_t)key); table->keys[slot]; slot = (slot + 1) & mask)
    {
        if (table->keys[slot] == (uintptr_t)key)
        {
            if (table->with_values)
                table->values[slot] = value;
            return 0;
        }
    }
    table->keys[slot] = (uintptr_t)key;
    if (table->with_values)
        table->values[slot] = value;
    table->count++;
    return 1;
}

/* Empties slot `hole` (occupied) by backward shift (blocktable.c): out of line, since only a collision needs it. */
void block_table_vacate_run(struct block_table *table, size_t hole);

/* Removes key, which block_table_find placed at *slot some time ago: when the slot still holds key (nothing moved it:
 * no resize, no removal before it in its run) the key is removed there without a probe, else by block_table_remove.
 * Nonzero when key was in the table. At a run's end (the usual case with a table at most 3/4 full) it is two stores. */
static inline int block_table_remove_at(struct block_table *table, const void *key, size_t slot)
{
    size_t mask = table->capacity - 1;

    if (!table->count || slot > mask || table->keys[slot] != (uintptr_t)key)
        return block_table_remove(table, key, NULL);
    if (table->keys[(slot + 1) & mask])
        block_table_vacate_run(table, slot);
    else
    {
        table->keys[slot] = 0;
        if (table->with_values)
            table->values[slot] = NULL;
        table->count--;
    }
    return 1;
}

/* Calls visit for every entry, in no particular order. The table must not change meanwhile. */
void block_table_foreach(const struct block_table *table, void (*visit)(const void *key, void *value, void *context),
                         void *context);

/* Empties the table and returns its memory. */
void block_table_clear(struct block_table *table);

/* Bytes of bookkeeping memory the table holds. */
size_t block_table_memory(const struct block_table *table);

#endif /* OLE32MEM_BLOCKTABLE_H */
