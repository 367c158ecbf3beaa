/*
 * Block table: open addressing with linear probing and backward-shift deletion (no tombstones, so lookups stay
 * short however many blocks come and go). The table doubles when it would pass 3/4 full and is only freed by
 * block_table_clear: a spy's table goes away when the spy is released.
 *
 * Invariant: every key sits in the run of occupied slots that starts at its home slot (hash) and reaches it without
 * crossing an empty slot. Deletion keeps it by moving later members of the run back into the hole.
 *
 * Memory: keys only, the table holds between 1.33 and 2.67 slots per key: at most 22 bytes a block on 64-bit.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "blocktable.h"
#include "core_assert.h"
#include "platform.h"

#include <limits.h>

enum
{
    MIN_CAPACITY = 16,
    UINTPTR_BITS = sizeof(uintptr_t) * CHAR_BIT,
};

static unsigned log2_of(size_t power_of_two)
{
    unsigned bits = 0;
    while ((size_t)1 << bits < power_of_two)
        bits++;
    return bits;
}

/* Places a key known to be absent; the table has a free slot. */
static void place(struct block_table *table, uintptr_t key, void *value)
{
    size_t mask = table->capacity - 1;
    size_t slot = block_table_home_slot(table, key);

    core_assert(key, "blocktable.h: NULL is never a key");
    core_assert(block_table_has_room(table, 1), "blocktable.c: at most 3/4 full, so that every probe meets a hole");
    while (table->keys[slot])
        slot = (slot + 1) & mask;
    table->keys[slot] = key;
    if (table->with_values)
        table->values[slot] = value;
    table->count++;
}

static int resize(struct block_table *table, size_t capacity)
{
    struct block_table old = *table;
    size_t i;

    table->keys = plat_meta_alloc(capacity * sizeof(*table->keys));
    if (!table->keys)
        goto fail;
    table->values = NULL;
    if (table->with_values)
    {
        table->values = plat_meta_alloc(capacity * sizeof(*table->values));
        if (!table->values)
        {
            plat_meta_free(table->keys);
            goto fail;
        }
    }
    core_assert(capacity && !(capacity & (capacity - 1)), "blocktable.h: the capacity is a power of two");
    table->capacity = capacity;
    table->count = 0;
    table->shift = UINTPTR_BITS - log2_of(capacity);

    for (i = 0; i < old.capacity; i++)
        if (old.keys[i])
            place(table, old.keys[i], old.with_values ? old.values[i] : NULL);
    plat_meta_free(old.keys);
    plat_meta_free(old.values);
    return 1;

fail:
    *table = old;
    return 0;
}

int block_table_grow(struct block_table *table, size_t more)
{
    size_t needed = table->count + more;
    size_t capacity = table->capacity ? table->capacity : MIN_CAPACITY;

    if (needed < table->count)
        return 0;
    while (needed > capacity - capacity / 4)
    {
        if (capacity > SIZE_MAX / 2 / sizeof(void *))
            return 0;
        capacity *= 2;
    }
    if (capacity == table->capacity)
        return 1;
    return resize(table, capacity);
}

int block_table_insert(struct block_table *table, const void *key, void *value)
{
    size_t slot;

    if (block_table_find(table, (uintptr_t)key, &slot))
    {
        if (table->with_values)
            table->values[slot] = value;
        return 1;
    }
    if (!block_table_reserve(table, 1))
        return 0;
    place(table, (uintptr_t)key, value);
    return 1;
}

void block_table_vacate_run(struct block_table *table, size_t hole)
{
    size_t mask = table->capacity - 1;
    size_t next;

    core_assert(hole <= mask && table->keys[hole], "blocktable.h: only an occupied slot is vacated");
    /* Backward shift: walk the rest of the run; an entry whose home slot does not lie cyclically in (hole, next]
     * could not be found past the hole any more, so it moves into the hole, which moves to where it was. */
    for (next = (hole + 1) & mask; table->keys[next]; next = (next + 1) & mask)
    {
        size_t home = block_table_home_slot(table, table->keys[next]);
        int home_after_hole = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);

        if (home_after_hole)
            continue;
        table->keys[hole] = table->keys[next];
        if (table->with_values)
            table->values[hole] = table->values[next];
        hole = next;
    }
    table->keys[hole] = 0;
    if (table->with_values)
        table->values[hole] = NULL;
    table->count--;
}

int block_table_remove(struct block_table *table, const void *key, void **value)
{
    size_t hole;

    if (!block_table_find(table, (uintptr_t)key, &hole))
        return 0;
    if (value)
        *value = table->with_values ? table->values[hole] : NULL;
    block_table_vacate_run(table, hole);
    core_assert(!block_table_find(table, (uintptr_t)key, &hole), "blocktable.c: a removed key is not found again");
    return 1;
}

void block_table_foreach(const struct block_table *table, void (*visit)(const void *key, void *value, void *context),
                         void *context)
{
    size_t i;

    for (i = 0; i < table->capacity; i++)
        if (table->keys[i])
            visit((const void *)table->keys[i], table->with_values ? table->values[i] : NULL, context);
}

void block_table_clear(struct block_table *table)
{
    plat_meta_free(table->keys);
    plat_meta_free(table->values);
    table->keys = NULL;
    table->values = NULL;
    table->capacity = 0;
    table->count = 0;
    table->shift = 0;
}

size_t block_table_memory(const struct block_table *table)
{
    return table->capacity * (sizeof(*table->keys) + (table->with_values ? sizeof(*table->values) : 0));
}
