/*
 * The record of every live block allocated through ole32mem while the diagnostics are on, with its guard bytes and
 * fill patterns: which pointers may reach the heap (DIAG_CHECK), overruns (DIAG_GUARD), fresh and dead memory
 * (DIAG_FILL).
 *
 * Owns live_blocks (a block table keyed by the pointer the program holds, valued by its struct diag_block) and
 * the live totals. Invariants: live_count is the number of records and live_bytes the sum of their sizes; a
 * record's guard (GUARD_SIZE bytes of GUARD_BYTE) lies right after actual + actual_size, inside the heap block,
 * while the record is current. Blocks cross freely to the system ole32, which can free or move one of ours
 * without telling us: a record that is no longer current is dropped when met, never trusted. A pointer is only
 * kept from the heap when the heap itself says it is not a live block (an address freed here and then handed out
 * by another allocator is that allocator's block). Never changes a pointer the program sees. Runs under
 * task_memory.c's lock only.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "blocktable.h"
#include "core_assert.h"
#include "diag_internal.h"

#include <string.h>

enum
{
    GUARD_BYTE = 0xfd, /* the MSVC debug heap's "no man's land" */
    FILL_NEW = 0xcd,   /* MSVC: clean memory */
    FILL_FREED = 0xdd, /* MSVC: dead memory */
};

static struct block_table live_blocks = BLOCK_TABLE_INIT_VALUES;
static unsigned long long next_sequence = 1;
static size_t live_count, live_bytes, peak_count, peak_bytes;

static unsigned char *guard_of(const struct diag_block *record)
{
    return (unsigned char *)record->actual + record->actual_size;
}

static int guard_intact(const struct diag_block *record)
{
    const unsigned char *guard = guard_of(record);
    size_t i;

    for (i = 0; i < DIAG_GUARD_SIZE; i++)
        if (guard[i] != GUARD_BYTE)
            return 0;
    return 1;
}

void diag_check_record_guard(const struct diag_block *record, const void *block, const char *when)
{
    char site[SITE_CHARS];

    if (!(diag_options & DIAG_GUARD) || guard_intact(record))
        return;
    diag_report("ole32mem: guard: write past the end of block %p (%lu bytes) allocated by %s (thread %#lx, seq %llu), "
                "found at %s",
                block, (unsigned long)record->size, diag_describe(&record->site, site, sizeof(site)),
                (unsigned long)record->thread, record->sequence, when);
}

int diag_record_is_current(const struct diag_block *record)
{
    return plat_heap_size(record->actual) == record->actual_size + diag_guard_size();
}

/* Forgets a record: its block has been freed or has moved. */
static void forget_record(struct diag_block *record, const void *block)
{
    core_assert(live_count > 0 && live_bytes >= record->size, "diag_records.c: the totals count the records");
    block_table_remove(&live_blocks, block, NULL);
    live_count--;
    live_bytes -= record->size;
    plat_meta_free(record);
    core_assert(live_count == live_blocks.count, "diag_records.c: live_count is the number of records");
}

int diag_admit(enum diag_operation operation, void *block, const struct diag_site *site, struct diag_block **record)
{
    char by[SITE_CHARS];
    void *value;
    int was_freed;

    if (block_table_lookup(&live_blocks, block, &value))
    {
        if (diag_record_is_current(value))
        {
            *record = value;
            return 1;
        }
        /* Freed or moved by another allocator since (combase, HeapReAlloc): whatever lives at this address now is
         * not the block we recorded. */
        forget_record(value, block);
    }
    *record = NULL;
    if (!(diag_options & DIAG_CHECK) || plat_heap_owns(block))
        return 1; /* a live block of another allocator (combase, HeapAlloc): it is the heap's business */

    was_freed = diag_freed_contains(block);
    switch (operation)
    {
    case DIAG_OP_FREE:
    case DIAG_OP_REALLOC:
        if (was_freed)
            diag_report("ole32mem: check: %s of %p by %s: double free (the block was already freed); ignored",
                        diag_operation_names[operation], block, diag_describe(site, by, sizeof(by)));
        else
            diag_report("ole32mem: check: %s of %p by %s: not a block of ole32mem nor a live heap block; ignored",
                        diag_operation_names[operation], block, diag_describe(site, by, sizeof(by)));
        return 0;
    default:
        if (!was_freed)
            return 1; /* GetSize/DidAlloc of a foreign pointer: the heap answers, as without diagnostics */
        diag_report("ole32mem: check: %s of %p by %s: the block was freed", diag_operation_names[operation], block,
                    diag_describe(site, by, sizeof(by)));
        return 0;
    }
}

int diag_admit_realloc(void *block, SIZE_T size, const struct diag_site *site, struct diag_block **record,
                       SIZE_T *old_size)
{
    if (!diag_admit(DIAG_OP_REALLOC, block, site, record))
        return 0;
    if (*record)
    {
        diag_check_record_guard(*record, block, "realloc");
        *old_size = (*record)->size;
        return 1;
    }
    /* A block of another allocator: its contents are the program's, only what grows is new. */
    *old_size = plat_heap_size(block);
    if (*old_size == (SIZE_T)-1)
        *old_size = size;
    return 1;
}

void diag_allocated(void *block, void *actual, SIZE_T size, SIZE_T actual_size, SIZE_T old_size,
                    const struct diag_site *site)
{
    struct diag_block *record = plat_meta_alloc(sizeof(*record));
    void *stale;

    if (!record)
    {
        diag_report("ole32mem: out of memory for the record of block %p: it will not be tracked", block);
        return;
    }
    record->size = size;
    record->actual_size = actual_size;
    record->actual = actual;
    record->site = *site;
    record->thread = (uintptr_t)plat_thread_id();
    record->sequence = next_sequence++;
    if (block_table_lookup(&live_blocks, block, &stale))
        forget_record(stale, block); /* freed by another allocator, and the address came back to us */
    if (!block_table_insert(&live_blocks, block, record))
    {
        diag_report("ole32mem: out of memory for the record of block %p: it will not be tracked", block);
        plat_meta_free(record);
        return;
    }
    diag_freed_forget(block);
    if (diag_options & DIAG_GUARD)
        memset(guard_of(record), GUARD_BYTE, DIAG_GUARD_SIZE);
    if ((diag_options & DIAG_FILL) && size > old_size)
        memset((unsigned char *)block + old_size, FILL_NEW, size - old_size);
    live_count++;
    live_bytes += size;
    if (live_count > peak_count)
        peak_count = live_count;
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
    core_assert(live_count == live_blocks.count, "diag_records.c: live_count is the number of records");
    core_assert(diag_record_is_current(record), "diag_records.c: the guard lies inside the heap block");
}

void diag_released(struct diag_block *record, void *block, int freed)
{
    if (freed)
        diag_check_record_guard(record, block, "free");
    if (freed && (diag_options & DIAG_FILL))
        memset(block, FILL_FREED, record->size);
    if (freed)
        diag_freed_remember(block);
    forget_record(record, block);
}

SIZE_T diag_visible_size(const struct diag_block *record, SIZE_T heap_size)
{
    if (!record || heap_size == (SIZE_T)-1 || heap_size < diag_guard_size())
        return heap_size;
    return heap_size - diag_guard_size();
}

size_t diag_live_records(void)
{
    return live_blocks.count;
}

void diag_foreach_record(void (*visit)(const void *block, void *record, void *context), void *context)
{
    block_table_foreach(&live_blocks, visit, context);
}

struct diag_live_totals diag_live_totals(void)
{
    struct diag_live_totals totals = {live_count, live_bytes, peak_count, peak_bytes};

    return totals;
}
