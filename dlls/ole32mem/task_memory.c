/*
 * The task allocator's slow path: spy registration, hook dispatch and the spied-block table.
 *
 * Protocol (the only shared state is below; all of it but task_route is guarded by core_lock):
 *
 *  1. task_route is nonzero exactly while a spy is registered (including while its revoke is pending) or
 *     diagnostics are on. It is written only under core_lock, and read without the lock by the inline fast path,
 *     which does the plain heap call when it reads 0.
 *  2. Every slow-path call takes core_lock and reads the spy again under it; a call that entered the slow path
 *     but finds no spy does the plain operation. So a hook only runs while its spy is registered, and Pre, the
 *     heap call and Post of one operation run under one hold of the lock: no other thread's hook, registration
 *     or revoke can come between them. The lock is recursive so that a hook may call the allocator on its own
 *     thread (WIL's spy calls GetSize from PreFree).
 *  3. A spy is released only under core_lock, after task_route has been cleared and only when no spied block is
 *     outstanding and no call is in progress (a hook's nested call or revoke leaves the release to the outermost
 *     call's end). A fast-path reader that saw 0 touches no spy; one that saw the old nonzero value finds the spy
 *     gone once it holds the lock. Hence no call through a released spy and no Post without its Pre.
 *  4. Why the fast path may skip the lock: a block allocated under a spy keeps that spy registered (revoke is
 *     deferred while spied blocks are outstanding), so whoever frees, reallocates or measures a spied block
 *     reads a nonzero task_route (acquire ordering, and the block reached that thread after its allocation).
 *     A fast-path call that reads 0 therefore never handles a spied block, and its place in the order of events
 *     is that read: an Alloc racing with a registration simply happened before it (its block is not spied).
 *  5. The table holds the pointers the program got back (PostAlloc's and PostRealloc's answers) for blocks
 *     allocated or reallocated while the current spy was registered: fSpyed is a lookup, the outstanding count is
 *     its size, and its memory is returned when the spy is released.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "task_memory.h"
#include "blocktable.h"
#include "core_assert.h"
#include "diagnostics.h"
#include "recursive_lock.h"

#include <string.h>

atomic_uintptr_t task_route;

static struct recursive_lock core_lock = RECURSIVE_LOCK_INIT;

/* The spied path's own steps (lock, Pre -> heap -> Post) are inlined into each exported slow-path call: with a few
 * blocks outstanding a spied call costs little more than its heap call, and every call level shows. */
#if defined(__GNUC__)
#define CORE_INLINE inline __attribute__((always_inline))
#else
#define CORE_INLINE inline
#endif

/* All guarded by core_lock. */
static void *current_spy;
static const struct spy_ops *spy_ops;
/* The hooks are called as hook_table()->x(hook_target, ...): hook_target is the spy itself when its vtable holds the
 * hooks (task_register_vtable_spy; hook_offset), else ops_adapter, which calls spy_ops' members. */
static void *hook_target;
static size_t hook_offset;
static int revoke_pending;
static int registering; /* inside ops->acquire: a registration from there (same thread) is refused */
/* The current spy answered PostAlloc or PostRealloc with another pointer than the heap's block (a header spy): the
 * keys of its blocks are not heap blocks, and the heap's "not a block" proves nothing about them. */
static int spy_moves_blocks;
/* core_lock.depth of a thread with no allocator call in progress: 1, or one more than where a spy's final Release
 * was called (a register and revoke made from inside that Release have no hook of any call still to come). */
static unsigned idle_depth = 1;
static struct block_table spied_blocks = BLOCK_TABLE_INIT_KEYS;

static CORE_INLINE SIZE_T task_get_size_locked(void *block, const struct diag_block *record);

/* A spy's vtable as the hooks' caller reads it: once per call, as a COM caller does (memcpy: the object's first
 * member is a pointer of its own type). */
static CORE_INLINE const struct spy_hooks *hook_table(void)
{
    const char *vtable;

    memcpy(&vtable, hook_target, sizeof(vtable));
    return (const struct spy_hooks *)(vtable + hook_offset);
}

/* The adapter for a spy_ops without hooks_in_vtable (the host tests): called only under core_lock while the spy is
 * registered (rule 2), so spy_ops and current_spy are the spy's. */
static SIZE_T SPY_CALL adapt_pre_alloc(void *self, SIZE_T request)
{
    (void)self;
    return spy_ops->pre_alloc(current_spy, request);
}

static void *SPY_CALL adapt_post_alloc(void *self, void *actual)
{
    (void)self;
    return spy_ops->post_alloc(current_spy, actual);
}

static void *SPY_CALL adapt_pre_free(void *self, void *request, BOOL spyed)
{
    (void)self;
    return spy_ops->pre_free(current_spy, request, spyed);
}

static void SPY_CALL adapt_post_free(void *self, BOOL spyed)
{
    (void)self;
    spy_ops->post_free(current_spy, spyed);
}

static SIZE_T SPY_CALL adapt_pre_realloc(void *self, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    (void)self;
    return spy_ops->pre_realloc(current_spy, request, size, new_request, spyed);
}

static void *SPY_CALL adapt_post_realloc(void *self, void *actual, BOOL spyed)
{
    (void)self;
    return spy_ops->post_realloc(current_spy, actual, spyed);
}

static void *SPY_CALL adapt_pre_get_size(void *self, void *request, BOOL spyed)
{
    (void)self;
    return spy_ops->pre_get_size(current_spy, request, spyed);
}

static SIZE_T SPY_CALL adapt_post_get_size(void *self, SIZE_T actual, BOOL spyed)
{
    (void)self;
    return spy_ops->post_get_size(current_spy, actual, spyed);
}

static void *SPY_CALL adapt_pre_did_alloc(void *self, void *request, BOOL spyed)
{
    (void)self;
    return spy_ops->pre_did_alloc(current_spy, request, spyed);
}

static int SPY_CALL adapt_post_did_alloc(void *self, void *request, BOOL spyed, int actual)
{
    (void)self;
    return spy_ops->post_did_alloc(current_spy, request, spyed, actual);
}

static void SPY_CALL adapt_pre_heap_minimize(void *self)
{
    (void)self;
    spy_ops->pre_heap_minimize(current_spy);
}

static void SPY_CALL adapt_post_heap_minimize(void *self)
{
    (void)self;
    spy_ops->post_heap_minimize(current_spy);
}

static const struct spy_hooks adapter_hooks = {
    adapt_pre_alloc,     adapt_post_alloc,     adapt_pre_free,          adapt_post_free,
    adapt_pre_realloc,   adapt_post_realloc,   adapt_pre_get_size,      adapt_post_get_size,
    adapt_pre_did_alloc, adapt_post_did_alloc, adapt_pre_heap_minimize, adapt_post_heap_minimize,
};

/* An object whose vtable is adapter_hooks (at offset 0). */
static const struct spy_hooks *const ops_adapter = &adapter_hooks;

/* For the assertions: this thread holds core_lock. */
static int core_lock_held(void)
{
    return core_lock.depth && atomic_load_explicit(&core_lock.owner, memory_order_relaxed) == plat_thread_id();
}

static void set_route_bit(uintptr_t bit, int on)
{
    core_assert(core_lock_held(), "rule 1: task_route is written only under core_lock");
    if (on)
        atomic_fetch_or_explicit(&task_route, bit, memory_order_release);
    else
        atomic_fetch_and_explicit(&task_route, ~bit, memory_order_release);
}

/* Called under core_lock at the end of every allocator call and by revoke: completes a revoke that was waiting
 * for the last spied block. The Release comes after the PostFree of that block and after task_route says "no
 * spy", so nothing can call the spy any more. Not while a call is in progress further up this thread's stack (a
 * hook called the allocator, core_lock.depth > 1): that call still has hooks to make, and its own end completes
 * the revoke. */
static void finish_pending_revoke(void)
{
    void *spy = current_spy;
    const struct spy_ops *ops = spy_ops;

    unsigned saved_idle_depth = idle_depth;

    if (!revoke_pending || spied_blocks.count || core_lock.depth > idle_depth)
        return;
    core_assert(spy && ops, "rule 3: a pending revoke has a registered spy");
    current_spy = NULL;
    spy_ops = NULL;
    hook_target = NULL;
    revoke_pending = 0;
    block_table_clear(&spied_blocks);
    set_route_bit(TASK_ROUTE_SPY, 0);
    idle_depth = core_lock.depth + 1;
    ops->release(spy);
    idle_depth = saved_idle_depth;
}

/* The protocol's state as every call leaves it. */
static void check_protocol(void)
{
    core_assert(!current_spy == !(atomic_load_explicit(&task_route, memory_order_relaxed) & TASK_ROUTE_SPY),
                "rule 1: the spy bit is set exactly while a spy is registered");
    core_assert(!revoke_pending || current_spy, "rule 3: a revoke is pending only for a registered spy");
    core_assert(!revoke_pending || spied_blocks.count || core_lock.depth > idle_depth,
                "rule 3: the outermost call completes a revoke that no spied block holds up");
    core_assert(current_spy || !spied_blocks.count, "rule 5: the table holds blocks of the current spy only");
}

/* Takes core_lock for an allocator call. The diagnostics name the caller and capture its stack first
 * (diag_resolve_site, DIAG_SITE_STACK for the calls that need one): naming may take the loader's lock, which must
 * never be waited for while holding ours, so a call nested in a hook (this thread holds core_lock already) names
 * from the cache only (DIAG_SITE_NESTED). */
static CORE_INLINE void core_enter(const void *caller, struct diag_site *site, enum diag_operation operation)
{
    struct plat_stack_seed seed;
    unsigned flags;

    if (diag_options)
    {
        flags =
            diag_site_flags(operation) |
            (atomic_load_explicit(&core_lock.owner, memory_order_relaxed) == plat_thread_id() ? DIAG_SITE_NESTED : 0);
        /* The stack's walk starts here, in the exported call's slow path (core_enter is inlined into it): not in the
         * capture, two frames deeper, which it would step through on every capture. */
        if (flags & DIAG_SITE_STACK)
            plat_stack_seed(&seed);
        diag_resolve_site(caller, site, flags, flags & DIAG_SITE_STACK ? &seed : NULL);
    }
    recursive_lock_enter(&core_lock);
}

/* Leaves core_lock at the end of an allocator call, completing a revoke that the call made possible. */
static CORE_INLINE void core_leave(void)
{
    /* Tested here so that the common case (no revoke pending) costs one load, not a call. */
    if (unlikely(revoke_pending))
        finish_pending_revoke();
    check_protocol();
    recursive_lock_leave(&core_lock);
}

/* The operations below run under core_lock. Each reads Pre -> heap -> Post: the spy's Pre hook (if a spy is
 * registered), the heap call and the Post hook, keeping the spied-block table in step; the diagnostics' records
 * are kept by calls before the hooks (diag_admit*, diag_reserve_record) and one after the heap call. The
 * diagnostics only add guard bytes behind the block and look at pointers; the spy sees the same calls and pointers
 * as without them. */

static CORE_INLINE void *alloc_locked(SIZE_T size, const struct diag_site *site)
{
    SIZE_T actual_size = size, guard = diag_guard_size();
    struct diag_block *record = NULL;
    void *actual = NULL, *result;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    /* Room for the bookkeeping first: once the spy has seen the block we must be able to record it. One slot per
     * call in progress on this thread, since a hook's own allocations may take slots before we insert. */
    if (diag_options && !(record = diag_reserve_record(core_lock.depth)))
        return NULL;
    if (current_spy)
    {
        if (!block_table_reserve(&spied_blocks, core_lock.depth))
            goto refused;
        actual_size = hook_table()->pre_alloc(hook_target, size);
        /* A spy refuses a request by answering 0; for a 0-byte request 0 is just the size. */
        if (size && !actual_size)
            goto refused;
    }
    if (actual_size + guard >= actual_size)
        actual = plat_heap_alloc(actual_size + guard);
    result = current_spy ? hook_table()->post_alloc(hook_target, actual) : actual;
    /* NULL is a refusal (the spy keeps the heap block), not a pointer of its own. */
    if (current_spy && result && result != actual)
        spy_moves_blocks = 1;
    if (!actual || !result)
    {
        /* A heap block that the spy swallowed (PostAlloc answered NULL) still has our guard: it keeps its record,
         * under its own address, and is a leak unless freed. A spy's answer without a heap block is not ours. */
        if (actual && record)
            diag_allocated(record, actual, actual, size, actual_size, 0, 0, site);
        else
            diag_unreserve_record(record);
        return result;
    }
    if (current_spy)
    {
        /* A hook's nested allocations reserve one slot more than they take, so our slot is still there. */
        core_assert(block_table_has_room(&spied_blocks, 1), "rule 5: the room was reserved before PreAlloc");
        block_table_insert_reserved(&spied_blocks, result, NULL);
    }
    if (record)
        diag_allocated(record, result, actual, size, actual_size, 0, 0, site);
    return result;

refused:
    diag_unreserve_record(record);
    return NULL;
}

static CORE_INLINE void free_locked(void *block, const struct diag_site *site)
{
    struct diag_block *record = NULL;
    BOOL spyed = FALSE;
    void *actual = block;
    size_t slot = 0;
    int forgotten;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (diag_options && !diag_admit(DIAG_OP_FREE, block, site, &record))
        return;
    if (current_spy)
    {
        /* The slot found here usually still holds the block after the hooks: the removal below reuses it. */
        spyed = block_table_find(&spied_blocks, (uintptr_t)block, &slot);
        actual = hook_table()->pre_free(hook_target, block, spyed);
    }
    if (record)
        diag_released(record, block, 1, site);
    if (actual)
        plat_heap_free(actual);
    if (current_spy)
    {
        if (spyed)
        {
            forgotten = block_table_remove_at(&spied_blocks, block, slot);
            core_assert(forgotten, "rule 5: a spied block stays in the table until it is freed");
        }
        hook_table()->post_free(hook_target, spyed);
    }
}

/* block != NULL and size != 0: the other cases are an Alloc and a Free. */
static void *realloc_locked(void *block, SIZE_T size, const struct diag_site *site)
{
    struct diag_block *record = NULL, *new_record = NULL;
    SIZE_T actual_size = size, guard = diag_guard_size(), old_size = 0;
    BOOL spyed = FALSE;
    void *new_request = block, *actual = NULL, *result;
    size_t slot = 0;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (diag_options && !diag_admit_realloc(block, size, site, &record, &old_size))
        return NULL;
    if (diag_options && !(new_record = diag_reserve_record(core_lock.depth)))
        return NULL;
    if (current_spy)
    {
        if (!block_table_reserve(&spied_blocks, core_lock.depth))
            goto refused;
        spyed = block_table_find(&spied_blocks, (uintptr_t)block, &slot);
        actual_size = hook_table()->pre_realloc(hook_target, block, size, &new_request, spyed);
        /* Refused: no PostRealloc, the block is unchanged and keeps its spied state. */
        if (!actual_size)
            goto refused;
    }
    if (actual_size + guard >= actual_size)
        actual = plat_heap_realloc(new_request, actual_size + guard);
    if (!actual)
    {
        diag_unreserve_record(new_record);
        return current_spy ? hook_table()->post_realloc(hook_target, NULL, spyed) : NULL;
    }
    if (record)
        diag_released(record, block, 0, site);
    if (spyed)
        block_table_remove_at(&spied_blocks, block, slot);
    /* The documented meaning of fSpyed in PostRealloc is "the original allocation was made under this spy", the
     * same as PreRealloc's; from now on the block counts as spied either way. */
    result = current_spy ? hook_table()->post_realloc(hook_target, actual, spyed) : actual;
    if (current_spy && result && result != actual)
        spy_moves_blocks = 1;
    if (!result)
    {
        /* The heap block the spy swallowed (PostRealloc answered NULL) keeps its record: see alloc_locked. */
        if (new_record)
            diag_allocated(new_record, actual, actual, size, actual_size, old_size, 1, site);
        return NULL;
    }
    if (current_spy)
    {
        core_assert(block_table_has_room(&spied_blocks, 1), "rule 5: the room was reserved before PreRealloc");
        block_table_insert_reserved(&spied_blocks, result, NULL);
    }
    if (new_record)
        diag_allocated(new_record, result, actual, size, actual_size, old_size, 1, site);
    return result;

refused:
    diag_unreserve_record(new_record);
    return NULL;
}

/* A spied block that the spy passes through unchanged and that the heap says is gone was freed by another
 * allocator (the system ole32, HeapFree): its key must not make a later block at the same address "spied", nor hold
 * up a pending revoke for ever. (When the spy maps the block elsewhere, the heap's answer is about that pointer,
 * not about the block: no proof, the key stays. Likewise for every block of a spy that ever answered PostAlloc or
 * PostRealloc with a pointer other than the heap's: its keys are inside heap blocks, never at their start, and a
 * PreDidAlloc that hands the key back unchanged must not make a live block unspied.) */
static void forget_dead_spied_block(void *block)
{
    if (!spy_moves_blocks)
        block_table_remove(&spied_blocks, block, NULL);
}

static CORE_INLINE SIZE_T task_get_size_locked(void *block, const struct diag_block *record)
{
    BOOL spyed;
    void *actual;
    SIZE_T size;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (!current_spy)
        return record ? diag_visible_size(record, plat_heap_size(block)) : plat_heap_size(block);
    spyed = block_table_lookup(&spied_blocks, block, NULL);
    actual = hook_table()->pre_get_size(hook_target, block, spyed);
    /* A NULL answer is no block: no heap call (HeapSize(NULL) is not defined). */
    size = actual ? plat_heap_size(actual) : (SIZE_T)-1;
    if (spyed && actual == block && size == (SIZE_T)-1)
        forget_dead_spied_block(block);
    return hook_table()->post_get_size(hook_target, record ? diag_visible_size(record, size) : size, spyed);
}

static CORE_INLINE int did_alloc_locked(void *block)
{
    BOOL spyed;
    void *actual;
    int owned;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (!current_spy)
        return plat_heap_owns(block);
    spyed = block_table_lookup(&spied_blocks, block, NULL);
    actual = hook_table()->pre_did_alloc(hook_target, block, spyed);
    /* fActual answers for the pointer PreDidAlloc returned, and the heap decides even for a spied block: the system
     * ole32 may have freed it behind our back. NULL is no block (HeapValidate(NULL) would walk the whole heap). */
    owned = actual && plat_heap_owns(actual);
    if (spyed && actual == block && !owned)
        forget_dead_spied_block(block);
    /* PostDidAlloc gets the caller's pointer, not PreDidAlloc's answer. */
    return hook_table()->post_did_alloc(hook_target, block, spyed, owned);
}

void *task_alloc_slow(SIZE_T size, const void *caller)
{
    struct diag_site site;
    void *result;

    core_enter(caller, &site, DIAG_OP_ALLOC);
    result = alloc_locked(size, &site);
    if (diag_options)
        diag_call(DIAG_OP_ALLOC, NULL, size, result, &site);
    core_leave();
    return result;
}

void task_free_slow(void *block, const void *caller)
{
    struct diag_site site;

    core_enter(caller, &site, DIAG_OP_FREE);
    if (diag_options)
        diag_call(DIAG_OP_FREE, block, 0, NULL, &site);
    free_locked(block, &site);
    core_leave();
}

void *task_realloc_slow(void *block, SIZE_T size, const void *caller)
{
    struct diag_site site;
    void *result = NULL;

    core_enter(caller, &site, DIAG_OP_REALLOC);
    /* Realloc(NULL, n) is an Alloc and Realloc(p, 0) a Free, hooks included (Windows calls PreAlloc/PreFree). */
    if (!block)
        result = alloc_locked(size, &site);
    else if (!size)
        free_locked(block, &site);
    else
        result = realloc_locked(block, size, &site);
    if (diag_options)
        diag_call(DIAG_OP_REALLOC, block, size, result, &site);
    core_leave();
    return result;
}

/* GetSize with the diagnostics on; query_spied below is the spied GetSize without them. */
static NOINLINE SIZE_T get_size_diagnosed(void *block, const void *caller)
{
    struct diag_block *record = NULL;
    struct diag_site site;
    SIZE_T size = (SIZE_T)-1;

    core_enter(caller, &site, DIAG_OP_GET_SIZE);
    if (!diag_options || diag_admit(DIAG_OP_GET_SIZE, block, &site, &record))
        size = task_get_size_locked(block, record);
    if (diag_options)
        diag_call(DIAG_OP_GET_SIZE, block, 0, (void *)(intptr_t)size, &site);
    core_leave();
    return size;
}

/* DidAlloc with the diagnostics on; query_spied below is the spied DidAlloc without them. */
static NOINLINE int did_alloc_diagnosed(void *block, const void *caller)
{
    struct diag_block *record;
    struct diag_site site;
    int result = 0;

    core_enter(caller, &site, DIAG_OP_DID_ALLOC);
    if (!diag_options || diag_admit(DIAG_OP_DID_ALLOC, block, &site, &record))
        result = did_alloc_locked(block);
    if (diag_options)
        diag_call(DIAG_OP_DID_ALLOC, block, 0, (void *)(intptr_t)result, &site);
    core_leave();
    return result;
}

/* GetSize (did_alloc 0) or DidAlloc (1) under a spy with the diagnostics off: no call site to name and no record to
 * look up, so the exported calls below keep a smaller frame than the diagnostics' versions need. */
static CORE_INLINE SIZE_T query_spied(void *block, int did_alloc)
{
    SIZE_T result;

    recursive_lock_enter(&core_lock);
    result = did_alloc ? (SIZE_T)did_alloc_locked(block) : task_get_size_locked(block, NULL);
    core_leave();
    return result;
}

SIZE_T task_get_size_slow(void *block, const void *caller)
{
    return unlikely(diag_options) ? get_size_diagnosed(block, caller) : query_spied(block, 0);
}

int task_did_alloc_slow(void *block, const void *caller)
{
    return unlikely(diag_options) ? did_alloc_diagnosed(block, caller) : (int)query_spied(block, 1);
}

void task_heap_minimize_slow(const void *caller)
{
    struct diag_site site;

    core_enter(caller, &site, DIAG_OP_HEAP_MINIMIZE);
    if (current_spy)
        hook_table()->pre_heap_minimize(hook_target);
    plat_heap_minimize();
    if (current_spy)
        hook_table()->post_heap_minimize(hook_target);
    if (diag_options)
        diag_call(DIAG_OP_HEAP_MINIMIZE, NULL, 0, NULL, &site);
    core_leave();
}

void task_report_at_exit(int process_exit)
{
    /* At an unload every thread still runs: wait for the lock like any call. At process exit other threads are
     * gone, possibly while holding the lock: then collect without it, since nobody else can run any more (the
     * records are whole but for the one that thread was changing); and call into the process heap only when its
     * lock is known to be free (diag_records.c). The report itself is written after the lock is left (symbols are
     * looked up then, which may take the loader's lock and the process heap's). */
    enum plat_heap_lock_state heap_lock = PLAT_HEAP_LOCK_FREE;
    int locked = 1;
    struct diag_leaks *leaks = NULL;

    if (!diag_options)
        return;
    if (process_exit)
    {
        /* Every lock of the report is tried from here on, never waited for (docs/hacking.md). */
        diag_sites_at_process_exit();
        heap_lock = diag_records_at_process_exit();
        diag_stacks_at_process_exit();
        locked = recursive_lock_try_enter(&core_lock);
    }
    else
        recursive_lock_enter(&core_lock);
    /* Without the lock the records are still whole but for the one that thread's call was changing (diag_records.c). */
    if (!locked)
        diag_records_note_interrupted();
    /* OLE32MEM_LEAKS_EXITCODE ends the process at its exit only: after an unload the program goes on. */
    leaks = diag_leaks_collect(DIAG_COLLECT_REPORT | DIAG_COLLECT_EXIT | (process_exit ? DIAG_COLLECT_EXIT_CODE : 0));

    if (locked)
        recursive_lock_leave(&core_lock);
    if (!locked || heap_lock == PLAT_HEAP_LOCK_HELD)
        diag_symbols_unsafe();
    if (leaks)
    {
        diag_leaks_note_heap(heap_lock);
        diag_leaks_emit(leaks);
    }
}

size_t task_check_leaks(unsigned flags)
{
    struct diag_leaks *leaks;

    /* From inside a spy hook this thread holds core_lock, and naming the stacks may take the loader's lock: no. */
    if (!diag_options || atomic_load_explicit(&core_lock.owner, memory_order_relaxed) == plat_thread_id())
        return 0;
    recursive_lock_enter(&core_lock);
    leaks = diag_leaks_collect(flags);
    recursive_lock_leave(&core_lock);
    return leaks ? diag_leaks_emit(leaks) : 0;
}

HRESULT task_register_spy(void *object, const struct spy_ops *ops)
{
    return task_register_vtable_spy(object, ops, 0);
}

HRESULT task_register_vtable_spy(void *object, const struct spy_ops *ops, size_t hooks_in_vtable)
{
    HRESULT hr = S_OK;
    void *spy;

    if (!object)
        return E_INVALIDARG;
    recursive_lock_enter(&core_lock);
    if (current_spy || registering)
        hr = CO_E_OBJISREG;
    else
    {
        registering = 1;
        spy = ops->acquire(object);
        registering = 0;
        if (!spy)
            hr = E_INVALIDARG;
        else
        {
            core_assert(!spied_blocks.count, "rule 5: a new spy starts with an empty table");
            spy_moves_blocks = 0;
            current_spy = spy;
            spy_ops = ops;
            hook_target = hooks_in_vtable ? spy : (void *)&ops_adapter;
            hook_offset = hooks_in_vtable;
            set_route_bit(TASK_ROUTE_SPY, 1);
        }
    }
    recursive_lock_leave(&core_lock);
    return hr;
}

HRESULT task_revoke_spy(void)
{
    HRESULT hr = S_OK;

    recursive_lock_enter(&core_lock);
    if (!current_spy)
        hr = CO_E_OBJNOTREG;
    else if (spied_blocks.count || core_lock.depth > idle_depth)
    {
        /* Released automatically when the last spied block is freed (finish_pending_revoke), or, when a hook
         * revokes, at the end of the call it is in at the earliest (core_leave). */
        revoke_pending = 1;
        hr = E_ACCESSDENIED;
    }
    else
    {
        revoke_pending = 1;
        finish_pending_revoke();
    }
    recursive_lock_leave(&core_lock);
    return hr;
}

void task_spy_bookkeeping(size_t *blocks, size_t *bytes)
{
    recursive_lock_enter(&core_lock);
    *blocks = spied_blocks.count;
    *bytes = block_table_memory(&spied_blocks);
    recursive_lock_leave(&core_lock);
}
