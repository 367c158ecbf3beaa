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

atomic_uintptr_t task_route;

static struct recursive_lock core_lock = RECURSIVE_LOCK_INIT;

/* All guarded by core_lock. */
static void *current_spy;
static const struct spy_ops *spy_ops;
static int revoke_pending;
static int registering; /* inside ops->acquire: a registration from there (same thread) is refused */
static struct block_table spied_blocks = BLOCK_TABLE_INIT_KEYS;

static SIZE_T task_get_size_locked(void *block, const struct diag_block *record);

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

    if (!revoke_pending || spied_blocks.count || core_lock.depth > 1)
        return;
    core_assert(spy && ops, "rule 3: a pending revoke has a registered spy");
    current_spy = NULL;
    spy_ops = NULL;
    revoke_pending = 0;
    block_table_clear(&spied_blocks);
    set_route_bit(TASK_ROUTE_SPY, 0);
    ops->release(spy);
}

/* The protocol's state as every call leaves it. */
static void check_protocol(void)
{
    core_assert(!current_spy == !(atomic_load_explicit(&task_route, memory_order_relaxed) & TASK_ROUTE_SPY),
                "rule 1: the spy bit is set exactly while a spy is registered");
    core_assert(!revoke_pending || current_spy, "rule 3: a revoke is pending only for a registered spy");
    core_assert(!revoke_pending || spied_blocks.count || core_lock.depth > 1,
                "rule 3: the outermost call completes a revoke that no spied block holds up");
    core_assert(current_spy || !spied_blocks.count, "rule 5: the table holds blocks of the current spy only");
}

/* Takes core_lock for an allocator call. The diagnostics name the caller first (diag_resolve_site): naming may take
 * the loader's lock, which must never be waited for while holding ours. */
static void core_enter(const void *caller, struct diag_site *site)
{
    if (diag_options)
        diag_resolve_site(caller, site);
    recursive_lock_enter(&core_lock);
}

/* Leaves core_lock at the end of an allocator call, completing a revoke that the call made possible. */
static void core_leave(void)
{
    finish_pending_revoke();
    check_protocol();
    recursive_lock_leave(&core_lock);
}

/* The operations below run under core_lock. Each reads Pre -> heap -> Post: the spy's Pre hook (if a spy is
 * registered), the heap call and the Post hook, keeping the spied-block table in step; the diagnostics' records
 * are kept by one call before (diag_admit*) and one after the heap call. The diagnostics only add guard bytes
 * behind the block and look at pointers; the spy sees the same calls and pointers as without them. */

static void *alloc_locked(SIZE_T size, const struct diag_site *site)
{
    SIZE_T actual_size = size, guard = diag_guard_size();
    void *actual = NULL, *result;
    int recorded;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (current_spy)
    {
        /* Room in the table first: once the spy has seen the block we must be able to record it. One slot per
         * call in progress on this thread, since a hook's own allocations may take slots before we insert. */
        if (!block_table_reserve(&spied_blocks, core_lock.depth))
            return NULL;
        actual_size = spy_ops->pre_alloc(current_spy, size);
        /* A spy refuses a request by answering 0; for a 0-byte request 0 is just the size. */
        if (size && !actual_size)
            return NULL;
    }
    if (actual_size + guard >= actual_size)
        actual = plat_heap_alloc(actual_size + guard);
    result = current_spy ? spy_ops->post_alloc(current_spy, actual) : actual;
    if (actual && result)
    {
        if (current_spy)
        {
            recorded = block_table_insert(&spied_blocks, result, NULL);
            core_assert(recorded, "rule 5: the room was reserved before PreAlloc");
        }
        if (diag_options)
            diag_allocated(result, actual, size, actual_size, 0, site);
    }
    return result;
}

static void free_locked(void *block, const struct diag_site *site)
{
    struct diag_block *record = NULL;
    BOOL spyed = FALSE;
    void *actual = block;
    int forgotten;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (diag_options && !diag_admit(DIAG_OP_FREE, block, site, &record))
        return;
    if (current_spy)
    {
        spyed = block_table_lookup(&spied_blocks, block, NULL);
        actual = spy_ops->pre_free(current_spy, block, spyed);
    }
    if (record)
        diag_released(record, block, 1);
    if (actual)
        plat_heap_free(actual);
    if (current_spy)
    {
        if (spyed)
        {
            forgotten = block_table_remove(&spied_blocks, block, NULL);
            core_assert(forgotten, "rule 5: a spied block stays in the table until it is freed");
        }
        spy_ops->post_free(current_spy, spyed);
    }
}

/* block != NULL and size != 0: the other cases are an Alloc and a Free. */
static void *realloc_locked(void *block, SIZE_T size, const struct diag_site *site)
{
    struct diag_block *record = NULL;
    SIZE_T actual_size = size, guard = diag_guard_size(), old_size = 0;
    BOOL spyed = FALSE;
    void *new_request = block, *actual = NULL, *result;
    int recorded;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (diag_options && !diag_admit_realloc(block, size, site, &record, &old_size))
        return NULL;
    if (current_spy)
    {
        if (!block_table_reserve(&spied_blocks, core_lock.depth))
            return NULL;
        spyed = block_table_lookup(&spied_blocks, block, NULL);
        actual_size = spy_ops->pre_realloc(current_spy, block, size, &new_request, spyed);
        /* Refused: no PostRealloc, the block is unchanged and keeps its spied state. */
        if (!actual_size)
            return NULL;
    }
    if (actual_size + guard >= actual_size)
        actual = plat_heap_realloc(new_request, actual_size + guard);
    if (!actual)
        return current_spy ? spy_ops->post_realloc(current_spy, NULL, spyed) : NULL;
    if (record)
        diag_released(record, block, 0);
    if (spyed)
        block_table_remove(&spied_blocks, block, NULL);
    /* The documented meaning of fSpyed in PostRealloc is "the original allocation was made under this spy", the
     * same as PreRealloc's; from now on the block counts as spied either way. */
    result = current_spy ? spy_ops->post_realloc(current_spy, actual, spyed) : actual;
    if (result)
    {
        if (current_spy)
        {
            recorded = block_table_insert(&spied_blocks, result, NULL);
            core_assert(recorded, "rule 5: the room was reserved before PreRealloc");
        }
        if (diag_options)
            diag_allocated(result, actual, size, actual_size, old_size, site);
    }
    return result;
}

static SIZE_T task_get_size_locked(void *block, const struct diag_block *record)
{
    BOOL spyed;
    void *actual;
    SIZE_T size;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (!current_spy)
        return record ? diag_visible_size(record, plat_heap_size(block)) : plat_heap_size(block);
    spyed = block_table_lookup(&spied_blocks, block, NULL);
    actual = spy_ops->pre_get_size(current_spy, block, spyed);
    size = plat_heap_size(actual);
    return spy_ops->post_get_size(current_spy, record ? diag_visible_size(record, size) : size, spyed);
}

static int did_alloc_locked(void *block)
{
    BOOL spyed;
    void *actual;
    int owned;

    core_assert(core_lock_held(), "rule 2: Pre, heap and Post under one hold of core_lock");
    if (!current_spy)
        return plat_heap_owns(block);
    spyed = block_table_lookup(&spied_blocks, block, NULL);
    actual = spy_ops->pre_did_alloc(current_spy, block, spyed);
    /* fActual answers for the pointer PreDidAlloc returned. A spied block that the spy leaves as it is, is one of
     * our live heap blocks by construction: no heap lookup (the common pass-through case stays O(1)). */
    owned = (spyed && actual == block) || plat_heap_owns(actual);
    /* PostDidAlloc gets the caller's pointer, not PreDidAlloc's answer. */
    return spy_ops->post_did_alloc(current_spy, block, spyed, owned);
}

void *task_alloc_slow(SIZE_T size, const void *caller)
{
    struct diag_site site;
    void *result;

    core_enter(caller, &site);
    result = alloc_locked(size, &site);
    if (diag_options)
        diag_call(DIAG_OP_ALLOC, NULL, size, result, &site);
    core_leave();
    return result;
}

void task_free_slow(void *block, const void *caller)
{
    struct diag_site site;

    core_enter(caller, &site);
    if (diag_options)
        diag_call(DIAG_OP_FREE, block, 0, NULL, &site);
    free_locked(block, &site);
    core_leave();
}

void *task_realloc_slow(void *block, SIZE_T size, const void *caller)
{
    struct diag_site site;
    void *result = NULL;

    core_enter(caller, &site);
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

SIZE_T task_get_size_slow(void *block, const void *caller)
{
    struct diag_block *record = NULL;
    struct diag_site site;
    SIZE_T size = (SIZE_T)-1;

    core_enter(caller, &site);
    if (!diag_options || diag_admit(DIAG_OP_GET_SIZE, block, &site, &record))
        size = task_get_size_locked(block, record);
    if (diag_options)
        diag_call(DIAG_OP_GET_SIZE, block, 0, (void *)(intptr_t)size, &site);
    core_leave();
    return size;
}

int task_did_alloc_slow(void *block, const void *caller)
{
    struct diag_block *record;
    struct diag_site site;
    int result = 0;

    core_enter(caller, &site);
    if (!diag_options || diag_admit(DIAG_OP_DID_ALLOC, block, &site, &record))
        result = did_alloc_locked(block);
    if (diag_options)
        diag_call(DIAG_OP_DID_ALLOC, block, 0, (void *)(intptr_t)result, &site);
    core_leave();
    return result;
}

void task_heap_minimize_slow(const void *caller)
{
    struct diag_site site;

    core_enter(caller, &site);
    if (current_spy)
        spy_ops->pre_heap_minimize(current_spy);
    plat_heap_minimize();
    if (current_spy)
        spy_ops->post_heap_minimize(current_spy);
    if (diag_options)
        diag_call(DIAG_OP_HEAP_MINIMIZE, NULL, 0, NULL, &site);
    core_leave();
}

void task_report_at_exit(void)
{
    /* At process exit other threads are gone, possibly while holding the lock: then report without it, since
     * nobody else can run any more. */
    int locked = recursive_lock_try_enter(&core_lock);

    diag_report_at_exit();
    if (locked)
        recursive_lock_leave(&core_lock);
}

HRESULT task_register_spy(void *object, const struct spy_ops *ops)
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
            current_spy = spy;
            spy_ops = ops;
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
    else if (spied_blocks.count || core_lock.depth > 1)
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
