/*
 * The ring of recently freed pointers: a second Free of the same pointer is named a double free, a use of it a use
 * after free (with DIAG_CHECK; diag_records.c decides, this file only remembers).
 *
 * Owns freed_ring (the last FREED_RING_SIZE pointers freed through ole32mem, oldest overwritten first) and
 * freed_blocks, a table from each pointer to 1 + its newest index in the ring. Invariants: a pointer is in the
 * table only while its newest ring entry is there, so the table never holds more entries than the ring; a pointer
 * leaves the table when it is allocated again (diag_freed_forget). Runs under task_memory.c's lock only.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "blocktable.h"
#include "core_assert.h"
#include "diag_internal.h"

enum
{
    FREED_RING_SIZE = 4096,
};

static struct block_table freed_blocks = BLOCK_TABLE_INIT_VALUES; /* value: 1 + its index in freed_ring */
static void *freed_ring[FREED_RING_SIZE];
static uint32_t freed_stacks[FREED_RING_SIZE]; /* the freeing call's stack in the depot, beside each ring entry */
static size_t freed_next;

void diag_freed_forget(const void *block)
{
    block_table_remove(&freed_blocks, block, NULL);
}

void diag_freed_remember(void *block, uint32_t stack)
{
    void *old = freed_ring[freed_next];
    void *index;

    /* The oldest entry leaves the ring; its table entry goes too unless the pointer was freed again since. */
    if (old && block_table_lookup(&freed_blocks, old, &index) && (uintptr_t)index == freed_next + 1)
        block_table_remove(&freed_blocks, old, NULL);
    freed_ring[freed_next] = block;
    freed_stacks[freed_next] = stack;
    block_table_insert(&freed_blocks, block, (void *)(uintptr_t)(freed_next + 1));
    freed_next = (freed_next + 1) % FREED_RING_SIZE;
    core_assert(freed_blocks.count <= FREED_RING_SIZE, "diag_freed.c: the table indexes the ring, never more");
}

int diag_freed_contains(const void *block)
{
    return block_table_lookup(&freed_blocks, block, NULL);
}

uint32_t diag_freed_stack(const void *block)
{
    void *index;

    if (!block_table_lookup(&freed_blocks, block, &index))
        return 0;
    return freed_stacks[(uintptr_t)index - 1];
}
