/*
 * The record of every live block allocated through ole32mem while the diagnostics are on, with its guard bytes and
 * fill patterns: which pointers may reach the heap (DIAG_CHECK), overruns (DIAG_GUARD), fresh and dead memory
 * (DIAG_FILL).
 *
 * Owns live_blocks (a block table keyed by the pointer the program holds, valued by its struct diag_block) and
 * the live totals. Invariants: live_count is the number of records and live_bytes the sum of their sizes; with
 * DIAG_GUARD a record's guard lies right after actual + actual_size, inside the heap block: DIAG_GUARD_SIZE bytes
 * derived from the record's identity (unique per record, unguessable by the program): the block is proven ours
 * while at least GUARD_PROOF of them are intact, and any damaged byte of a proven block is an overrun.
 *
 * Blocks cross freely to the system ole32, which can free or move one of ours without telling us, and the heap can
 * then hand the same address, with the same size, to somebody else. A record is therefore trusted only when it is
 * proven to be the same block: the heap still has a live block of the recorded size there AND the identity in its
 * guard is ours. An untrusted record is dropped when met, never used: no size, no fill, no overrun report comes
 * from it. Without the guard nothing can prove it; such records are "unverified" (the leak report says so). At
 * process exit the heap is asked only when its lock is known to be free (plat_heap_lock_state: another thread may
 * have been ended holding it, and nobody would ever release it); otherwise only the guard is read, and only where
 * the pages are readable. A pointer is only kept from the heap when the heap itself says it is
 * not a live block. Never changes a pointer the program sees, nor a byte the program owns. Runs under
 * task_memory.c's lock only (or alone, at process exit).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "blocktable.h"
#include "core_assert.h"
#include "diag_internal.h"
#include "platform_report.h"

#include <string.h>

enum
{
    GUARD_BYTE = 0xfd, /* the MSVC debug heap's "no man's land": what a freed block's guard becomes */
    FILL_NEW = 0xcd,   /* MSVC: clean memory */
    FILL_FREED = 0xdd, /* MSVC: dead memory */
    /* Guard bytes that must be intact for the block to be proven ours: a foreign block matches that many bytes of a
     * random pattern with a chance of about 2^-60; an overrun of up to DIAG_GUARD_SIZE - GUARD_PROOF bytes (anywhere
     * in the guard) is still reported. */
    GUARD_PROOF = DIAG_GUARD_SIZE / 2,
    /* Bytes in front of a heap block that must be mapped before the heap is asked about it: the block's header. */
    HEAP_HEADER_PROBE = 64,
};

static struct block_table live_blocks = BLOCK_TABLE_INIT_VALUES;
static unsigned long long next_sequence = 1;
static size_t live_count, live_bytes, peak_count, peak_bytes;
static uint64_t identity_key;
static int at_process_exit;
/* At process exit: whether the process heap may still be asked (its lock is free, and no other thread can take it
 * any more). Always 1 before. */
static int heap_askable = 1;
/* Nonzero while live_blocks or the totals are being changed: a thread ended here at process exit leaves them
 * half-updated. Written under the core's lock only. */
static volatile int records_busy;

static unsigned char *guard_of(const struct diag_block *record)
{
    return (unsigned char *)record->actual + record->actual_size;
}

/* A 64-bit mix (splitmix64's finaliser): distinct inputs give distinct outputs, none predictable from the next. */
static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Unique per record (the sequence number is), and keyed per process so that no program data equals it by design. */
static uint64_t new_identity(unsigned long long sequence)
{
    if (!identity_key)
        identity_key = mix64((uint64_t)(uintptr_t)&live_blocks ^ ((uint64_t)plat_process_id() << 32) ^
                             (uint64_t)(uintptr_t)plat_thread_id()) |
                       1;
    return mix64(identity_key + sequence);
}

/* The record's guard pattern: its identity, then a second word derived from it. */
static void guard_pattern(const struct diag_block *record, unsigned char pattern[DIAG_GUARD_SIZE])
{
    uint64_t words[2] = {record->identity, mix64(record->identity ^ GUARD_BYTE)};

    memcpy(pattern, words, DIAG_GUARD_SIZE);
}

/* How many guard bytes are as written. */
static size_t guard_intact_bytes(const struct diag_block *record)
{
    unsigned char pattern[DIAG_GUARD_SIZE];
    const unsigned char *guard = guard_of(record);
    size_t i, intact = 0;

    guard_pattern(record, pattern);
    for (i = 0; i < DIAG_GUARD_SIZE; i++)
        intact += guard[i] == pattern[i];
    return intact;
}

static int identity_intact(const struct diag_block *record)
{
    return guard_intact_bytes(record) >= GUARD_PROOF;
}

static int canary_intact(const struct diag_block *record)
{
    return guard_intact_bytes(record) == DIAG_GUARD_SIZE;
}

/* The guard can be read: always while the heap says the block is live; at process exit only where the pages are. */
static int guard_readable(const struct diag_block *record)
{
    return !at_process_exit || plat_memory_readable(guard_of(record), DIAG_GUARD_SIZE);
}

/* Reports an overrun only of a block proven to be ours: a write past the end that damaged more than half of the
 * guard looks exactly like the address now holding another allocator's block, and is not reported
 * (docs/diagnostics.md). At process exit the heap cannot be asked whether the block is still live: a block that
 * another allocator freed may have its guard damaged by the heap's own data, so the report says it is unverified. */
void diag_check_record_guard(const struct diag_block *record, const void *block, const char *when)
{
    char site[SITE_CHARS];

    if (!(diag_options & DIAG_GUARD) || !guard_readable(record) || !identity_intact(record) || canary_intact(record))
        return;
    diag_report("ole32mem: guard: write past the end of block %p (%llu bytes) allocated by %s (thread %#llx, seq "
                "%llu), found at %s%s",
                block, (unsigned long long)record->size, diag_describe(&record->site, site, sizeof(site)),
                (unsigned long long)record->thread, record->sequence, when,
                !heap_askable ? " (unverified: at exit the heap cannot say whether another allocator freed the block)"
                                : "");
}

enum diag_record_state diag_record_is_current(const struct diag_block *record, int from_report)
{
    /* A report meets every record, also those of blocks that another allocator freed long ago, whose pages the heap
     * may have given back to the system: Wine's HeapSize then faults on the block's header. Pages that are gone
     * prove the block gone. (A call, from_report 0, passes a pointer the program holds now.) */
    if (from_report && !plat_memory_readable((const char *)record->actual - HEAP_HEADER_PROBE, HEAP_HEADER_PROBE + 1))
        return DIAG_RECORD_STALE;
    /* The size alone proves nothing: a block that another allocator freed and the heap merged into the free block
     * before it keeps its old header, size and all, inside free memory. Validating the one block looks at its
     * neighbours too, which the merge changed (no walk of the blocks; Wine searches only its list of regions). */
    if (heap_askable && (plat_heap_size(record->actual) != record->actual_size + diag_guard_size() ||
                         !plat_heap_owns(record->actual)))
        return DIAG_RECORD_STALE;
    if (!(diag_options & DIAG_GUARD) || !guard_readable(record))
        return DIAG_RECORD_UNVERIFIED;
    return identity_intact(record) ? DIAG_RECORD_CURRENT : DIAG_RECORD_STALE;
}

enum plat_heap_lock_state diag_records_at_process_exit(void)
{
    enum plat_heap_lock_state heap_lock = plat_heap_lock_state();

    at_process_exit = 1;
    heap_askable = heap_lock == PLAT_HEAP_LOCK_FREE;
    return heap_lock;
}

int diag_records_consistent(void)
{
    if (!records_busy && !plat_meta_in_use())
        return 1;
    diag_report("ole32mem: leaks: no report: the process exit ended a thread while it was updating ole32mem's records");
    return 0;
}

/* Forgets a record: its block has been freed or has moved. */
static void forget_record(struct diag_block *record, const void *block)
{
    core_assert(live_count > 0 && live_bytes >= record->size, "diag_records.c: the totals count the records");
    records_busy = 1;
    block_table_remove(&live_blocks, block, NULL);
    live_count--;
    live_bytes -= record->size;
    records_busy = 0;
    plat_meta_free(record);
    core_assert(live_count == live_blocks.count, "diag_records.c: live_count is the number of records");
}

int diag_admit(enum diag_operation operation, void *block, const struct diag_site *site, struct diag_block **record)
{
    char by[SITE_CHARS];
    void *value;
    int was_freed;
    uint32_t first;

    if (block_table_lookup(&live_blocks, block, &value))
    {
        if (diag_record_is_current(value, 0) != DIAG_RECORD_STALE)
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
        if (was_freed && (first = diag_freed_stack(block)))
        {
            diag_stack_mark_referenced(first);
            diag_report("ole32mem: check: %s of %p by %s: double free (the block was already freed, first at stack "
                        "#%lu); ignored",
                        diag_operation_names[operation], block, diag_describe(site, by, sizeof(by)),
                        (unsigned long)first);
        }
        else if (was_freed)
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

struct diag_block *diag_reserve_record(size_t calls)
{
    if (!block_table_reserve(&live_blocks, calls))
        return NULL;
    return plat_meta_alloc(sizeof(struct diag_block));
}

void diag_unreserve_record(struct diag_block *record)
{
    if (record)
        plat_meta_free(record);
}

void diag_allocated(struct diag_block *record, void *block, void *actual, SIZE_T size, SIZE_T actual_size,
                    SIZE_T old_size, const struct diag_site *site)
{
    void *stale;
    int filed;

    record->size = size;
    record->actual_size = actual_size;
    record->actual = actual;
    record->site = *site;
    record->thread = (uintptr_t)plat_thread_id();
    record->sequence = next_sequence++;
    record->identity = new_identity(record->sequence);
    if (block_table_lookup(&live_blocks, block, &stale))
        forget_record(stale, block); /* freed by another allocator, and the address came back to us */
    /* A hook's nested allocations reserve one slot more than they take, so ours is still there. */
    core_assert(block_table_has_room(&live_blocks, 1), "diag_records.c: the room was reserved before the hooks");
    records_busy = 1;
    filed = block_table_insert_reserved(&live_blocks, block, record);
    live_count++;
    live_bytes += size;
    records_busy = 0;
    core_assert(filed, "diag_records.c: a reserved insert cannot fail");
    (void)filed;
    diag_freed_forget(block);
    if (diag_options & DIAG_GUARD)
        guard_pattern(record, guard_of(record));
    if ((diag_options & DIAG_FILL) && size > old_size)
        memset((unsigned char *)block + old_size, FILL_NEW, size - old_size);
    if (live_count > peak_count)
        peak_count = live_count;
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
    core_assert(live_count == live_blocks.count, "diag_records.c: live_count is the number of records");
    core_assert(diag_record_is_current(record, 0) != DIAG_RECORD_STALE,
                "diag_records.c: the guard lies inside the heap block");
}

void diag_released(struct diag_block *record, void *block, int freed, const struct diag_site *site)
{
    if (freed)
        diag_check_record_guard(record, block, "free");
    if (freed && (diag_options & DIAG_FILL))
        memset(block, FILL_FREED, record->size);
    /* The identity must not outlive the block: the heap may give the address, with the same size, to another
     * allocator's caller who never writes those bytes. Only our own guard bytes are touched (proven ours). */
    if (freed && (diag_options & DIAG_GUARD) && identity_intact(record))
        memset(guard_of(record), GUARD_BYTE, DIAG_GUARD_SIZE);
    if (freed)
        diag_freed_remember(block, site ? site->stack : 0);
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
