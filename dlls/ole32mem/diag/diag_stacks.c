/*
 * The stack depot: every distinct allocation (or free) call stack stored once, as the sanitizers do, so that a
 * record carries a 32-bit id instead of its frames.
 *
 * Owns the hash table of stacks, the id directory and the arena they live in, all changed under depot_lock, a leaf
 * lock: nothing is called while it is held but plat_meta_alloc. Invariants: a stack, once stored, is never changed
 * nor freed (ids stay valid, and their frames may be read after the lock is left); ids are 1..stack_count in order
 * of arrival, 0 meaning "no stack". A stack is written in full before the release store that links it at the head of
 * its bucket, so the lookup of a stack already stored (every capture but a new stack's) reads the table without
 * the lock (acquire loads); only a stack not found takes depot_lock, and looks again under it. Runs with or without the
 * core's lock (capture happens before it for a top-level call and under it for a hook's nested call); never calls the
 * loader.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"

#include <stdatomic.h>
#include <string.h>

enum
{
    BUCKET_COUNT = 1 << 14,
    ARENA_CHUNK = 64 * 1024,
    IDS_PER_PAGE = 1024,
    ID_PAGES = 4096, /* room for 4M distinct stacks; more are not stored (the record keeps its caller) */
};

struct stack
{
    struct stack *next; /* in its bucket: written before the stack is published, never after */
    uint32_t hash, id;
    unsigned count;
    atomic_int referenced; /* named by a report made under the core's lock: printed in full at exit */
    const void *frames[];
};

static plat_mutex depot_lock = PLAT_MUTEX_INIT;
/* Written under depot_lock; buckets (set once) and its heads are also read without it. */
static _Atomic(struct stack *) *_Atomic buckets;
static struct stack **id_pages[ID_PAGES];
static uint32_t stack_count;
static char *arena;
static size_t arena_left, depot_bytes;

static uint32_t hash_frames(const void *const *frames, unsigned count)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    unsigned i;

    for (i = 0; i < count; i++)
        hash = (hash ^ (uint64_t)(uintptr_t)frames[i]) * 0x100000001b3ull;
    return (uint32_t)(hash ^ hash >> 32);
}

/* Under depot_lock. Memory that lives as long as the process. */
static void *depot_alloc(size_t size)
{
    void *memory;

    size = (size + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
    if (size > arena_left)
    {
        if (!(arena = plat_meta_alloc(ARENA_CHUNK)))
        {
            arena_left = 0;
            return NULL;
        }
        arena_left = ARENA_CHUNK;
        depot_bytes += ARENA_CHUNK;
    }
    memory = arena;
    arena += size;
    arena_left -= size;
    return memory;
}

/* Set at process exit when a thread was ended holding depot_lock: nobody will ever release it. */
static int depot_unusable;

void diag_stacks_at_process_exit(void)
{
    if (plat_mutex_trylock(&depot_lock))
        plat_mutex_unlock(&depot_lock);
    else
        depot_unusable = 1;
}

/* The stored stack equal to `frames`, or NULL; without the lock (the acquire load of a bucket's head makes its chain,
 * written before, visible). */
static const struct stack *find_stack(_Atomic(struct stack *) *table, uint32_t hash, const void *const *frames,
                                      unsigned count)
{
    const struct stack *stack;

    for (stack = atomic_load_explicit(&table[hash % BUCKET_COUNT], memory_order_acquire); stack; stack = stack->next)
    {
        if (stack->hash == hash && stack->count == count && !memcmp(stack->frames, frames, count * sizeof(*frames)))
            return stack;
    }
    return NULL;
}

uint32_t diag_stack_intern(const void *const *frames, unsigned count, int *added)
{
    uint32_t hash = hash_frames(frames, count), id = 0, page;
    _Atomic(struct stack *) *table;
    const struct stack *found;
    struct stack *stack;

    *added = 0;
    if (!count || count > DIAG_STACK_DEPTH_MAX || depot_unusable)
        return 0;
    table = atomic_load_explicit(&buckets, memory_order_acquire);
    if (table && (found = find_stack(table, hash, frames, count)))
        return found->id;
    plat_mutex_lock(&depot_lock);
    if (!(table = atomic_load_explicit(&buckets, memory_order_relaxed)) &&
        (table = plat_meta_alloc(BUCKET_COUNT * sizeof(*table))))
    {
        depot_bytes += BUCKET_COUNT * sizeof(*table);
        atomic_store_explicit(&buckets, table, memory_order_release);
    }
    if (!table)
        goto done;
    /* Another thread may have stored it since the look without the lock. */
    if ((found = find_stack(table, hash, frames, count)))
    {
        id = found->id;
        goto done;
    }
    page = stack_count / IDS_PER_PAGE;
    if (page >= ID_PAGES)
        goto done;
    if (!id_pages[page] && (id_pages[page] = plat_meta_alloc(IDS_PER_PAGE * sizeof(**id_pages))))
        depot_bytes += IDS_PER_PAGE * sizeof(**id_pages);
    if (!id_pages[page] || !(stack = depot_alloc(sizeof(*stack) + count * sizeof(*frames))))
        goto done;
    stack->hash = hash;
    stack->id = ++stack_count;
    stack->count = count;
    atomic_init(&stack->referenced, 0);
    memcpy(stack->frames, frames, count * sizeof(*frames));
    stack->next = atomic_load_explicit(&table[hash % BUCKET_COUNT], memory_order_relaxed);
    id_pages[page][(stack->id - 1) % IDS_PER_PAGE] = stack;
    /* Published last: a reader without the lock that finds it finds it whole. */
    atomic_store_explicit(&table[hash % BUCKET_COUNT], stack, memory_order_release);
    *added = 1;
    id = stack->id;
done:
    plat_mutex_unlock(&depot_lock);
    return id;
}

/* The stack of an id (NULL for 0 or an unknown id). The frames never change once stored. */
static const struct stack *stack_of(uint32_t id)
{
    const struct stack *stack = NULL;

    if (depot_unusable)
        return NULL;
    plat_mutex_lock(&depot_lock);
    if (id && id <= stack_count)
        stack = id_pages[(id - 1) / IDS_PER_PAGE][(id - 1) % IDS_PER_PAGE];
    plat_mutex_unlock(&depot_lock);
    return stack;
}

unsigned diag_stack_frames(uint32_t id, const void *const **frames)
{
    const struct stack *stack = stack_of(id);

    *frames = stack ? stack->frames : NULL;
    return stack ? stack->count : 0;
}

void diag_stack_mark_referenced(uint32_t id)
{
    struct stack *stack = (struct stack *)stack_of(id);

    if (stack)
        atomic_store_explicit(&stack->referenced, 1, memory_order_relaxed);
}

int diag_stack_is_referenced(uint32_t id)
{
    const struct stack *stack = stack_of(id);

    return stack && atomic_load_explicit(&((struct stack *)stack)->referenced, memory_order_relaxed);
}

struct diag_depot_totals diag_stack_totals(void)
{
    struct diag_depot_totals totals = {0, 0};

    if (depot_unusable)
        return totals;
    plat_mutex_lock(&depot_lock);
    totals.stacks = stack_count;
    totals.bytes = depot_bytes;
    plat_mutex_unlock(&depot_lock);
    return totals;
}
