/*
 * Diagnostics of COM task memory, switched on by OLE32MEM_DEBUG (see diag_options.c for the settings): trace,
 * leak report, checks of bad pointers, guard bytes, fill patterns, statistics. diag_internal.h says which file
 * owns which part.
 *
 * When they are off nothing here is called: the fast path never reaches the slow path for them. When they are
 * on, TASK_ROUTE_DIAGNOSTICS sends every call to task_memory.c's slow path, which calls these functions under
 * its lock (they are not thread-safe on their own). They never change a pointer the program sees: the guard
 * bytes go after the block, so blocks still cross to and from the system ole32.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_DIAGNOSTICS_H
#define OLE32MEM_DIAGNOSTICS_H

#include <stddef.h>
#include <stdint.h>

#include "platform.h"
#include "platform_stacks.h"

enum diag_option
{
    DIAG_TRACE = 1 << 0,
    DIAG_LEAKS = 1 << 1,
    DIAG_CHECK = 1 << 2,
    DIAG_GUARD = 1 << 3,
    DIAG_FILL = 1 << 4,
    DIAG_STATS = 1 << 5,
};

/* Where a call came from: the caller's return address, and for an allocation (and a free, with `check`) the id
 * of its call stack in the depot (0: none, OLE32MEM_STACK_DEPTH=0). The module is named when the call is made if
 * that is safe (the module may be gone by the time a leak is reported), else at report time; module is NULL when
 * not (yet) named. */
struct diag_site
{
    const void *address;
    const char *module;
    uintptr_t offset;
    uint32_t stack;
};

enum diag_site_flags
{
    /* Capture the call stack into the depot (an Alloc or Realloc; a Free with `check`). */
    DIAG_SITE_STACK = 1 << 0,
    /* This thread already holds the core's lock (a spy hook's nested call, a registration's QueryInterface): the
     * loader must not be asked, names come from the cache or wait for the report. */
    DIAG_SITE_NESTED = 1 << 1,
    /* No report will name this call's site (no trace, no check: a Free, GetSize, DidAlloc or HeapMinimize): keep its
     * address only, without looking up its module. */
    DIAG_SITE_UNNAMED = 1 << 2,
};

/* Names `caller` (and captures the stack, see the flags, starting at the frame that took `seed`: plat_stack_seed, by
 * the diagnosed call's slow path). Call it before taking the core's lock, or with DIAG_SITE_NESTED when the thread
 * holds it: naming may take the loader's lock, and a DllMain that allocates while holding the loader's lock would
 * otherwise deadlock with us. Stack capture never takes the loader's lock (see platform_stacks_win32.c). A cache of
 * module ranges makes repeated calls from one module cheap. `seed` is read only with DIAG_SITE_STACK. */
void diag_resolve_site(const void *caller, struct diag_site *site, unsigned flags, const struct plat_stack_seed *seed);

/* Options in force (0: diagnostics off). Set once by diag_configure before the first call, read-only after. */
extern unsigned diag_options;
/* OLE32MEM_STACK_DEPTH (0: the caller only, no stack captured). Set with diag_options, read-only after. */
extern unsigned diag_stack_depth;

/* Parses the OLE32MEM_DEBUG-style option list and the other settings (NULLs for defaults) and, if any option is
 * on, turns the diagnostics route on. Unknown words are reported. Call once, before any allocation. */
void diag_configure(const char *options, const char *log_path, const char *leaks_max, const char *suppress);

enum
{
    /* Odd on purpose: see diag_records.c ("Writes") and docs/diagnostics.md. */
    DIAG_GUARD_SIZE = 15,
};

/* Guard bytes added after every block (0 unless DIAG_GUARD). Inline: it is on every call while they are on. */
static inline size_t diag_guard_size(void)
{
    return diag_options & DIAG_GUARD ? DIAG_GUARD_SIZE : 0;
}

enum diag_operation
{
    DIAG_OP_ALLOC,
    DIAG_OP_REALLOC,
    DIAG_OP_FREE,
    DIAG_OP_GET_SIZE,
    DIAG_OP_DID_ALLOC,
    DIAG_OP_HEAP_MINIMIZE,
    DIAG_OP_COUNT
};

/* What diag_resolve_site needs to do for a call of `operation` (DIAG_SITE_STACK, DIAG_SITE_UNNAMED): an Alloc or
 * Realloc's stack is captured; a Free's only with `check` (the double-free report names the first free's stack);
 * the other calls' sites are named only when a report may name them (trace, check). Inline: on every call. */
static inline unsigned diag_site_flags(enum diag_operation operation)
{
    if (operation == DIAG_OP_ALLOC || operation == DIAG_OP_REALLOC)
        return diag_stack_depth ? DIAG_SITE_STACK : 0;
    if (!(diag_options & (DIAG_TRACE | DIAG_CHECK)))
        return DIAG_SITE_UNNAMED;
    return operation == DIAG_OP_FREE && (diag_options & DIAG_CHECK) ? DIAG_SITE_STACK : 0;
}

/* The record of a live block allocated through ole32mem (opaque). */
struct diag_block;

/* Before Realloc/Free/GetSize/DidAlloc of `block` (not NULL): finds its record (*record, NULL for a block
 * ole32mem did not allocate) and, with DIAG_CHECK, decides whether the pointer may reach the heap. Returns 0 when
 * it must not (a double free, a wild pointer, a freed block): that has been reported with the calling site. */
int diag_admit(enum diag_operation operation, void *block, const struct diag_site *site, struct diag_block **record);

/* Before a Realloc of `block` (not NULL) to `size`: diag_admit, then, for a block with a record, the check of its
 * guard. *old_size is the size the block had (what the fill of the grown part starts from): the recorded size,
 * or for a block of another allocator what the heap says (`size` when it says nothing: nothing new to fill); without
 * DIAG_FILL, `size` (nothing is filled, and the heap is not asked).
 * Returns 0 when the pointer must not reach the heap. */
int diag_admit_realloc(void *block, SIZE_T size, const struct diag_site *site, struct diag_block **record,
                       SIZE_T *old_size);

/* Before an Alloc or Realloc reaches the spy or the heap: the record its block will need and room to file it (room
 * for `calls` records: one per call in progress on this thread, since a hook's own allocations file theirs before
 * ours). NULL when the bookkeeping is out of memory: the call must then fail as it does when the heap is, before
 * any hook, so that no block is ever handed out without a record (a block with a guard but no record would be
 * measured and checked wrongly for the rest of its life). */
struct diag_block *diag_reserve_record(size_t calls);

/* Gives back a reserved record that the call did not use (refused, failed). NULL is accepted. */
void diag_unreserve_record(struct diag_block *record);

/* After a successful Alloc, or a Realloc that produced `block`: fills in `record` (from diag_reserve_record) and
 * files it; cannot fail. `actual`/`actual_size` are the heap block and the size the spy asked for (the guard
 * follows them); `size` is what the program asked for. `old_size` is the size the block had before a Realloc (for
 * the fill), or 0; `reallocated` is 1 after a Realloc (the heap is then asked for the block's size), 0 after an
 * Alloc (the heap was asked for actual_size + the guard); `site` the allocating call. */
void diag_allocated(struct diag_block *record, void *block, void *actual, SIZE_T size, SIZE_T actual_size,
                    SIZE_T old_size, int reallocated, const struct diag_site *site);

/* Before a block with a record goes back to the heap (Free, or the old block of a Realloc): checks its guard,
 * fills it (DIAG_FILL on free), and forgets the record. `freed` is 1 for a free, 0 when a Realloc replaces it;
 * `site` is the freeing call (its stack is what a later double free names as the first free). */
void diag_released(struct diag_block *record, void *block, int freed, const struct diag_site *site);

/* GetSize's answer for a block with a record (heap_size is what the heap answered): the size the spy asked for when
 * the record is proven (diag_records.c), else the heap's answer as it is. */
SIZE_T diag_visible_size(const struct diag_block *record, SIZE_T heap_size);

/* One trace line (DIAG_TRACE) and the per-function counters (DIAG_STATS). */
void diag_call(enum diag_operation operation, const void *block, SIZE_T size, const void *result,
               const struct diag_site *site);

/* The leak report is made in two steps so that no lock is held while symbols are looked up: diag_leaks_collect runs
 * under the core's lock (or without it at process exit when another thread died holding it) and copies what the
 * report needs; diag_leaks_emit runs outside every lock, names the stacks, applies the suppressions, writes the
 * report and frees the collection. DIAG_COLLECT_EXIT: the end-of-process report (guard check of live blocks,
 * statistics); DIAG_COLLECT_MARK: the blocks collected count as reported from now on (a checkpoint). */
enum diag_collect_flags
{
    DIAG_COLLECT_REPORT = 1 << 0,
    DIAG_COLLECT_MARK = 1 << 1,
    DIAG_COLLECT_EXIT = 1 << 2,
    DIAG_COLLECT_EXIT_CODE = 1 << 3, /* process exit only: OLE32MEM_LEAKS_EXITCODE applies (never at an unload) */
};
struct diag_leaks;
struct diag_leaks *diag_leaks_collect(unsigned flags);
/* Returns the number of unsuppressed leaked blocks reported. */
size_t diag_leaks_emit(struct diag_leaks *leaks);
/* From now on frames are named module+0xoffset only, without looking up symbols: for the exit report collected
 * without the core's lock, whose owner was ended mid-call and may have held the process heap's or the loader's lock
 * too (dbghelp takes both). */
void diag_symbols_unsafe(void);

/* Process exit (DLL_PROCESS_DETACH with reserved != NULL): other threads are gone, wherever they were, possibly
 * holding the process heap's lock. From this call on the records are judged without calling into the process heap
 * unless its lock is known to be free (diag_records.c). Answers the lock's state: when an ended thread holds it,
 * nothing that may use the process heap (dbghelp) may run either. */
enum plat_heap_lock_state diag_records_at_process_exit(void);

/* Process exit, before the report: one line saying why the report could not ask the process heap, when it could
 * not (an ended thread holds the heap's lock, or the lock was not found). */
void diag_leaks_note_heap(enum plat_heap_lock_state heap_lock);

/* Process exit, before anything of the report: from now on the module cache's and the symbol lookups' locks are tried,
 * never waited for; one report line for each that an ended thread holds (the report then goes on without module
 * names, or without functions and lines). */
void diag_sites_at_process_exit(void);

/* Process exit: the stack depot is usable unless a thread was ended while it held the depot's lock (then no stack
 * is read or printed any more: the report names callers only). */
void diag_stacks_at_process_exit(void);
/* At process exit, when the core's lock could not be taken (a thread was ended holding it): says in one report line
 * that the block of that thread's call may be missing. Every other record is whole (diag_records.c). */
void diag_records_note_interrupted(void);

#endif /* OLE32MEM_DIAGNOSTICS_H */
