/*
 * The record of every live block allocated through ole32mem while the diagnostics are on, with its guard bytes and
 * fill patterns: which pointers may reach the heap (DIAG_CHECK), overruns (DIAG_GUARD), fresh and dead memory
 * (DIAG_FILL).
 *
 * Owns the records (slabs of struct diag_block, never freed before the DLL's bookkeeping heap), live_blocks (a block
 * table from the pointer the program holds to its record: the index of the calls) and the live totals.
 *
 * Records and the exit report. A record is taken from a free list (slabs are added whole, linked in with one store
 * once initialised) and is live exactly while its `key` is nonzero: filing a record writes every field, then the
 * key (release); forgetting it clears the key first. The reports walk the slabs, not the table, so a thread that
 * the process exit ends anywhere in here leaves every record but the one it was changing either filed or not, and
 * the table's state (mid-insert, mid-resize) does not matter to them: the exit report skips at most that one record
 * and reports the rest. The reports' own memory comes from plat_report_pages, not from the bookkeeping heap, whose
 * lock an ended thread may hold.
 *
 * Liveness, from ole32mem's own knowledge first. Blocks cross freely to the system ole32, which can free, move or
 * resize one of ours in place without telling us, and the heap can then hand the same address to somebody else. A
 * record keeps `heap_size`, what the heap answered for the block right after ole32mem's own last Alloc or Realloc
 * of it (not what it was asked: Wine 10's heap answers the old size after an in-place shrink, and answers it
 * consistently). A record is stale (dropped when met, never used) when the heap, asked, says otherwise: no live
 * block there (HeapValidate) or another size (HeapSize). Before a report asks, it reads only the bytes the heap
 * itself reads (PLAT_HEAP_HEADER_BYTES before the block): pages that are gone prove the block gone. With DIAG_GUARD
 * the guard, DIAG_GUARD_SIZE bytes right after actual + actual_size derived from the record's identity (unique per
 * record, unguessable by the program), must keep at least GUARD_PROOF of them; without it nothing proves the record,
 * it is "unverified". At process exit the heap is asked only when its lock is known to be free
 * (plat_heap_lock_state); otherwise only the guard is read, and only where the pages are readable.
 *
 * Writes. A record is proven (record_proven) when the heap's size is the recorded one and the whole guard is as
 * written: only then are the fill and guard bytes written and does GetSize answer from the record; otherwise the
 * heap answers and nothing is written. The guard is DIAG_GUARD_SIZE = 15 bytes, an odd amount a program rarely
 * grows a block by, so that the system's CoTaskMemRealloc (a HeapReAlloc in place) almost always changes the heap
 * size and unmasks the record; the one case that cannot be told from an overrun is another allocator resizing the
 * block in place to exactly the size ole32mem asked the heap for (docs/diagnostics.md).
 *
 * Never changes a pointer the program sees, nor a byte whose owner is not proven. Runs under task_memory.c's lock
 * only (or alone, at process exit).
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
     * random pattern with a chance of about 2^-56; an overrun of up to DIAG_GUARD_SIZE - GUARD_PROOF bytes (anywhere
     * in the guard) is still reported. */
    GUARD_PROOF = DIAG_GUARD_SIZE / 2,
    /* Records per slab: a slab is about 26 KB on 64-bit, 15 KB on 32-bit. */
    SLAB_RECORDS = 256,
    /* New blocks of one size class that the heap must measure exactly before their size is taken as asked. */
    EXACT_SAMPLES = 32,
    /* The options for which a call (Free, Realloc, GetSize, DidAlloc) asks the heap whether the block's record is
     * current: `check` lets only such a block reach the heap, `guard` and `fill` write only through it. Without them
     * the record is forgotten at a Free or Realloc whether it is current or stale, GetSize answers the heap's size
     * either way, and the answer (HeapValidate and HeapSize, a third of a leaks-only pair) would only decide whether
     * the report notes that another allocator freed blocks of ours: that is still learnt when the address comes
     * back to ole32mem (diag_allocated) and for every such record the report meets. */
    CALL_NEEDS_LIVENESS = DIAG_CHECK | DIAG_GUARD | DIAG_FILL,
};

struct record_slab
{
    struct record_slab *next;
    struct diag_block records[SLAB_RECORDS];
};

static struct block_table live_blocks = BLOCK_TABLE_INIT_VALUES;
/* The slabs, newest first: a slab is linked in (one store) only once all its records are free and on the list. */
static _Atomic(struct record_slab *) slabs;
static struct diag_block *free_records;
static unsigned long long next_sequence = 1;
static size_t live_count, live_bytes, peak_count, peak_bytes;
static uint64_t identity_key;
static int at_process_exit;
/* At process exit: whether the process heap may still be asked (its lock is free, and no other thread can take it
 * any more). Always 1 before. */
static int heap_askable = 1;
/* A record was found stale: another allocator freed, moved or resized one of our blocks in this process. Only then
 * does a report say that unverified blocks might not be ours. */
static int foreign_seen;
/* Whether the heap answers HeapSize of a block it has just allocated with the size it was asked for, learnt from the
 * program's own blocks (no block of ours may change the heap's layout, which tests and programs see): the first
 * EXACT_SAMPLES new blocks of each size class (the bit length of the size) are measured; once they all were exact,
 * that class's records keep the size asked for without asking. One other answer, of any class, and every Alloc
 * asks from then on. Both guarded by task_memory.c's lock. */
static unsigned char exact_samples[sizeof(SIZE_T) * 8 + 1];
static int heap_sizes_inexact;

static unsigned char *guard_of(const struct diag_block *record)
{
    return (unsigned char *)record->actual + record->actual_size;
}

static const void *key_of(const struct diag_block *record)
{
    return (const void *)atomic_load_explicit(&record->key, memory_order_acquire);
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

/* The record's guard pattern: its identity, then a second word derived from it (the first DIAG_GUARD_SIZE bytes). */
static void guard_pattern(const struct diag_block *record, unsigned char pattern[DIAG_GUARD_SIZE])
{
    uint64_t words[2] = {record->identity, mix64(record->identity ^ GUARD_BYTE)};

    _Static_assert(DIAG_GUARD_SIZE <= sizeof(words), "the pattern covers the guard");
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

/* The record may be written through and answers GetSize: the heap still says the size it said after our own last
 * Alloc or Realloc, and the whole guard is as written (docs/diagnostics.md, "Liveness"). */
static int record_proven(const struct diag_block *record)
{
    if (!heap_askable || plat_heap_size(record->actual) != record->heap_size)
        return 0;
    return !(diag_options & DIAG_GUARD) || canary_intact(record);
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
     * prove the block gone. Only what the heap reads is probed: Wine's i386 large blocks start 0x20 bytes into their
     * own mapping. (A call, from_report 0, passes a pointer the program holds now.) */
    if (from_report && PLAT_HEAP_HEADER_BYTES &&
        !plat_memory_readable((const char *)record->actual - PLAT_HEAP_HEADER_BYTES, PLAT_HEAP_HEADER_BYTES))
        return DIAG_RECORD_STALE;
    /* What ole32mem wrote itself comes first: a guard whose identity is gone proves the block gone without asking
     * the heap about bytes that may now be anybody's. */
    if (from_report && (diag_options & DIAG_GUARD) && plat_memory_readable(guard_of(record), DIAG_GUARD_SIZE) &&
        !identity_intact(record))
        return DIAG_RECORD_STALE;
    /* Then the heap: whether there is a block at all (HeapValidate), and its size. The size alone would prove
     * nothing: a block that another allocator freed and the heap merged into the free block before it keeps its old
     * header, size and all, inside free memory; validating the one block looks at its neighbours, which the merge
     * changed (no walk of the blocks; Wine searches only its list of regions). A report's record may be long stale,
     * its header the program's data by now, which Wine's heap follows blindly: a report asks through plat_heap_ask,
     * which survives a fault of the heap's; a call asks about the pointer the program gives it, as HeapFree would. */
    if (heap_askable && from_report && plat_heap_ask(record->actual) != record->heap_size)
        return DIAG_RECORD_STALE;
    /* A call without check, guard or fill: the answer would change nothing but the report's note (see
     * CALL_NEEDS_LIVENESS), so the heap is not asked. */
    if (!from_report && !(diag_options & CALL_NEEDS_LIVENESS))
        return DIAG_RECORD_UNVERIFIED;
    if (heap_askable && !from_report &&
        (!plat_heap_owns(record->actual) || plat_heap_size(record->actual) != record->heap_size))
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

void diag_records_note_interrupted(void)
{
    diag_report("ole32mem: leaks-note: the process exit ended a thread inside an allocator call of ole32mem: the "
                "block of that call may be missing from the report");
}

int diag_records_seen_foreign(void)
{
    return foreign_seen;
}

/* Forgets a record: its block has been freed (by us or, `foreign`, by another allocator) or has moved. The key goes
 * first: from then on no report counts the record. */
static void forget_record(struct diag_block *record, const void *block, int foreign)
{
    core_assert(live_count > 0 && live_bytes >= record->size, "diag_records.c: the totals count the records");
    core_assert(key_of(record) == block, "diag_records.c: a record is forgotten under its own key");
    atomic_store_explicit(&record->key, 0, memory_order_release);
    /* Where the call found it, unless the table has changed since (a hook's allocations): one probe less. */
    block_table_remove_at(&live_blocks, block, record->table_slot);
    live_count--;
    live_bytes -= record->size;
    record->next_free = free_records;
    free_records = record;
    foreign_seen |= foreign;
    core_assert(live_count == live_blocks.count, "diag_records.c: live_count is the number of records");
}

int diag_admit(enum diag_operation operation, void *block, const struct diag_site *site, struct diag_block **record)
{
    char by[SITE_CHARS];
    struct diag_block *value;
    size_t slot;
    int was_freed;
    uint32_t first;

    if (block_table_find(&live_blocks, (uintptr_t)block, &slot))
    {
        value = live_blocks.values[slot];
        value->table_slot = slot;
        if (diag_record_is_current(value, 0) != DIAG_RECORD_STALE)
        {
            *record = value;
            return 1;
        }
        /* Freed, moved or resized by another allocator since (combase, HeapReAlloc): whatever lives at this address
         * now is not the block we recorded. */
        forget_record(value, block, 1);
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
        diag_check_record_guard(*record, block, "realloc");
    /* The old size is where the fill of the grown part starts: without the fill nobody needs it (heap calls). */
    *old_size = size;
    if (!(diag_options & DIAG_FILL))
        return 1;
    if (*record && record_proven(*record))
    {
        *old_size = (*record)->size;
        return 1;
    }
    /* A block of another allocator, or one of ours that the record cannot prove (its guard is damaged): its
     * contents are the program's as far as the heap says, only what grows beyond that is new. */
    *old_size = plat_heap_size(block);
    if (*old_size == (SIZE_T)-1)
        *old_size = size;
    return 1;
}

/* A slab more on the free list; 0 when the bookkeeping heap is out of memory. */
static int add_slab(void)
{
    struct record_slab *slab = plat_meta_alloc(sizeof(*slab));
    size_t i;

    if (!slab)
        return 0;
    for (i = 0; i < SLAB_RECORDS; i++)
    {
        slab->records[i].next_free = free_records;
        free_records = &slab->records[i];
    }
    slab->next = atomic_load_explicit(&slabs, memory_order_relaxed);
    atomic_store_explicit(&slabs, slab, memory_order_release);
    return 1;
}

struct diag_block *diag_reserve_record(size_t calls)
{
    struct diag_block *record;

    if (!block_table_reserve(&live_blocks, calls) || (!free_records && !add_slab()))
        return NULL;
    record = free_records;
    free_records = record->next_free;
    record->next_free = NULL;
    return record;
}

void diag_unreserve_record(struct diag_block *record)
{
    if (!record)
        return;
    record->next_free = free_records;
    free_records = record;
}

/* What the heap answers for `actual`, of `asked` bytes, right after our Alloc (or Realloc) of it. After an Alloc that
 * is `asked` wherever the heap was found exact for the size's class (a heap call less); after a Realloc the heap is
 * asked: Wine 10's answers the old size after an in-place shrink. */
static SIZE_T new_block_heap_size(const void *actual, SIZE_T asked, int reallocated)
{
    SIZE_T size, bits;
    unsigned size_class = 0;

    for (bits = asked; bits; bits >>= 1)
        size_class++;
    if (!reallocated && !heap_sizes_inexact && exact_samples[size_class] >= EXACT_SAMPLES)
        return asked;
    size = plat_heap_size(actual);
    if (!reallocated && size != asked)
        heap_sizes_inexact = 1;
    else if (!reallocated)
        exact_samples[size_class]++;
    return size;
}

void diag_allocated(struct diag_block *record, void *block, void *actual, SIZE_T size, SIZE_T actual_size,
                    SIZE_T old_size, int reallocated, const struct diag_site *site)
{
    void *stale;
    int filed;

    if (block_table_lookup(&live_blocks, block, &stale))
        forget_record(stale, block, 1); /* freed by another allocator, and the address came back to us */
    /* The heap block itself, when a spy's header puts the program's pointer further in: a record still filed under
     * the heap block's address is of a block that another allocator freed, since the heap has just given that
     * address to us. Left there, it would count the new block a second time while its heap size agrees. */
    if (actual != block && block_table_lookup(&live_blocks, actual, &stale))
        forget_record(stale, actual, 1);
    record->size = size;
    record->actual_size = actual_size;
    record->actual = actual;
    record->heap_size = new_block_heap_size(actual, actual_size + diag_guard_size(), reallocated);
    record->site = *site;
    record->thread = (uintptr_t)plat_thread_id();
    record->sequence = next_sequence++;
    /* The identity is written into the guard, and read back from it only. */
    if (diag_options & DIAG_GUARD)
    {
        record->identity = new_identity(record->sequence);
        guard_pattern(record, guard_of(record));
    }
    if ((diag_options & DIAG_FILL) && size > old_size)
        memset((unsigned char *)block + old_size, FILL_NEW, size - old_size);
    /* A hook's nested allocations reserve one slot more than they take, so ours is still there. */
    core_assert(block_table_has_room(&live_blocks, 1), "diag_records.c: the room was reserved before the hooks");
    filed = block_table_insert_reserved(&live_blocks, block, record);
    core_assert(filed, "diag_records.c: a reserved insert cannot fail");
    (void)filed;
    live_count++;
    live_bytes += size;
    /* Last: from here on the reports count the record, complete. */
    atomic_store_explicit(&record->key, (uintptr_t)block, memory_order_release);
    if (diag_options & DIAG_CHECK)
        diag_freed_forget(block);
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
    /* Only the fill and the guard write through the record: without them nothing needs the proof (a heap call). */
    int proven = freed && (diag_options & (DIAG_FILL | DIAG_GUARD)) && record_proven(record);

    if (freed && (diag_options & DIAG_GUARD))
        diag_check_record_guard(record, block, "free");
    if (proven && (diag_options & DIAG_FILL))
        memset(block, FILL_FREED, record->size);
    /* The identity must not outlive the block: the heap may give the address, with the same size, to another
     * allocator's caller who never writes those bytes. Only a proven block's guard is touched. */
    if (proven && (diag_options & DIAG_GUARD))
        memset(guard_of(record), GUARD_BYTE, DIAG_GUARD_SIZE);
    if (freed && (diag_options & DIAG_CHECK))
        diag_freed_remember(block, site ? site->stack : 0);
    forget_record(record, block, 0);
}

SIZE_T diag_visible_size(const struct diag_block *record, SIZE_T heap_size)
{
    /* The heap's answer is about the record's block (a header spy's PreGetSize may hand another pointer) and the
     * record is proven: the heap's answer less our guard. Where HeapSize is right that is what was asked for; where
     * it is not (Wine 10 after an in-place shrink) GetSize is as wrong as without diagnostics: the diagnostics never
     * change a result, not even to repair one. Otherwise the heap answers as it is. */
    if (!record || !diag_guard_size() || heap_size != record->heap_size || heap_size < diag_guard_size() ||
        !record_proven(record))
        return heap_size;
    return heap_size - diag_guard_size();
}

size_t diag_live_records(void)
{
    return live_blocks.count;
}

void diag_foreach_record(void (*visit)(const void *block, void *record, void *context), void *context)
{
    struct record_slab *slab;
    const void *key;
    size_t i;

    for (slab = atomic_load_explicit(&slabs, memory_order_acquire); slab; slab = slab->next)
        for (i = 0; i < SLAB_RECORDS; i++)
            if ((key = key_of(&slab->records[i])))
                visit(key, &slab->records[i], context);
}

struct diag_live_totals diag_live_totals(void)
{
    struct diag_live_totals totals = {live_count, live_bytes, peak_count, peak_bytes};

    return totals;
}
