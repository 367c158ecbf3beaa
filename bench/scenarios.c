/*
 * The benchmark's kernels: tight loops of one kind of call against one target, timed with QueryPerformanceCounter
 * around the loop only. Each kernel copies the target's function pointers into locals first, so every target pays
 * the same one indirect call per operation and nothing else.
 *
 * Invariants: a kernel leaves its state as it found it (same number of live blocks), frees only blocks its target
 * allocated, and calls no target from more than one thread except kernel_threads (which never registers or revokes
 * a spy: Wine's builtin reads its spy pointer outside its lock).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench.h"

#include <math.h>
#include <string.h>

SIZE_T mixed_sizes[MIXED_SIZE_COUNT];
SIZE_T workset_sizes[MIXED_SIZE_COUNT];

/* Results of GetSize/DidAlloc loops go here so that the calls cannot be dropped. */
static volatile SIZE_T sink;

/* xorshift64*: fast, deterministic, good enough to pick slots and sizes. */
static uint32_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545f4914f6cdd1dull) >> 32);
}

/* A uniform index below count from 32 random bits (multiply-shift, no division). */
static unsigned random_below(uint32_t random, unsigned count)
{
    return (unsigned)(((uint64_t)random * count) >> 32);
}

/* Fills sizes[] log-uniformly between low and high, from a fixed seed. */
static void fill_sizes(SIZE_T *sizes, double low, double high)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    double span = log(high / low);
    unsigned i;

    for (i = 0; i < MIXED_SIZE_COUNT; i++)
        sizes[i] = (SIZE_T)(low * exp(next_random(&rng) / 4294967296.0 * span));
}

void scenarios_init(void)
{
    fill_sizes(mixed_sizes, MIXED_MIN, MIXED_MAX);
    fill_sizes(workset_sizes, MIXED_MIN, WORKSET_MAX);
}

LONGLONG kernel_pair(const struct target *target, void *state, unsigned ops)
{
    void *(WINAPI *alloc)(SIZE_T) = target->alloc;
    void(WINAPI * free_block)(void *) = target->free;
    SIZE_T size = ((const struct pair_state *)state)->size;
    LONGLONG start = bench_now();
    unsigned i;

    if (size)
        for (i = 0; i < ops; i++)
            free_block(alloc(size));
    else
        for (i = 0; i < ops; i++)
            free_block(alloc(mixed_sizes[i & (MIXED_SIZE_COUNT - 1)]));
    return bench_now() - start;
}

int worksets_init(struct workset sets[TARGET_COUNT], const int active[TARGET_COUNT], unsigned count)
{
    unsigned i, t;

    for (t = 0; t < TARGET_COUNT; t++)
    {
        sets[t].count = count;
        sets[t].rng = 0x2545f4914f6cdd1dull;
        sets[t].blocks = NULL;
        if (active[t] && !(sets[t].blocks = bench_array_alloc(count * sizeof(*sets[t].blocks))))
            return 0;
    }
    /* Round robin, so that no target's blocks sit together in a region of the shared heap of their own. */
    for (i = 0; i < count; i++)
        for (t = 0; t < TARGET_COUNT; t++)
            if (active[t])
                sets[t].blocks[i] = targets[t].alloc(workset_sizes[i & (MIXED_SIZE_COUNT - 1)]);
    return 1;
}

void workset_release(struct workset *set, const struct target *target)
{
    unsigned i;

    if (!set->blocks)
        return;
    for (i = 0; i < set->count; i++)
        target->free(set->blocks[i]);
    bench_array_free(set->blocks);
    set->blocks = NULL;
}

LONGLONG kernel_workset(const struct target *target, void *state, unsigned ops)
{
    void *(WINAPI *alloc)(SIZE_T) = target->alloc;
    void(WINAPI * free_block)(void *) = target->free;
    struct workset *set = state;
    void **blocks = set->blocks;
    unsigned count = set->count, i;
    uint64_t rng = set->rng;
    LONGLONG start = bench_now();

    for (i = 0; i < ops; i++)
    {
        uint32_t random = next_random(&rng);
        unsigned slot = random_below(random, count);

        free_block(blocks[slot]);
        /* The low bits pick the size; random_below() leans on the high ones. */
        blocks[slot] = alloc(workset_sizes[random & (MIXED_SIZE_COUNT - 1)]);
    }
    start = bench_now() - start;
    set->rng = rng;
    return start;
}

LONGLONG kernel_get_size(const struct target *target, void *state, unsigned ops)
{
    SIZE_T(WINAPI * get_size)(IMalloc *, void *) = target->get_size;
    IMalloc *malloc = target->malloc;
    void *block = ((const struct probe *)state)->block;
    SIZE_T total = 0;
    LONGLONG start = bench_now();
    unsigned i;

    for (i = 0; i < ops; i++)
        total += get_size(malloc, block);
    start = bench_now() - start;
    sink = total;
    return start;
}

LONGLONG kernel_did_alloc(const struct target *target, void *state, unsigned ops)
{
    int(WINAPI * did_alloc)(IMalloc *, void *) = target->did_alloc;
    IMalloc *malloc = target->malloc;
    void *block = ((const struct probe *)state)->block;
    SIZE_T total = 0;
    LONGLONG start = bench_now();
    unsigned i;

    for (i = 0; i < ops; i++)
        total += did_alloc(malloc, block);
    start = bench_now() - start;
    sink = total;
    return start;
}

/* Alloc or Free alone: blocks are allocated and freed in chunks of ALLOC_CHUNK, and only the half of each chunk the
 * kernel measures is timed. A chunk adds at most ALLOC_CHUNK blocks to those outstanding (under a spy: to the N of
 * the level; kept small since the builtin scans its whole table on every spied call), and the timer is read twice per
 * chunk, which adds the same small amount per op to every target. */
enum
{
    ALLOC_CHUNK = 16,
};
static void *chunk_blocks[ALLOC_CHUNK];

static LONGLONG alloc_free_chunks(const struct target *target, unsigned ops, int time_free)
{
    void *(WINAPI *alloc)(SIZE_T) = target->alloc;
    void(WINAPI * free_block)(void *) = target->free;
    LONGLONG ticks = 0, start;
    unsigned done, n, i;

    for (done = 0; done < ops; done += n)
    {
        n = ops - done < ALLOC_CHUNK ? ops - done : ALLOC_CHUNK;
        start = bench_now();
        for (i = 0; i < n; i++)
            chunk_blocks[i] = alloc(REALLOC_MIN);
        if (!time_free)
            ticks += bench_now() - start;
        start = bench_now();
        for (i = 0; i < n; i++)
            free_block(chunk_blocks[i]);
        if (time_free)
            ticks += bench_now() - start;
    }
    return ticks;
}

LONGLONG kernel_alloc(const struct target *target, void *state, unsigned ops)
{
    (void)state;
    return alloc_free_chunks(target, ops, 0);
}

LONGLONG kernel_free(const struct target *target, void *state, unsigned ops)
{
    (void)state;
    return alloc_free_chunks(target, ops, 1);
}

LONGLONG kernel_realloc_chain(const struct target *target, void *state, unsigned ops)
{
    void *(WINAPI *alloc)(SIZE_T) = target->alloc;
    void *(WINAPI *realloc_block)(void *, SIZE_T) = target->realloc;
    void(WINAPI * free_block)(void *) = target->free;
    SIZE_T max = state ? ((const struct chain_state *)state)->max : REALLOC_MAX;
    LONGLONG start = bench_now();
    unsigned i;

    for (i = 0; i < ops; i++)
    {
        void *block = alloc(REALLOC_MIN), *grown;
        SIZE_T size;

        for (size = 2 * REALLOC_MIN; block && size <= max; size *= 2)
        {
            if (!(grown = realloc_block(block, size)))
                break;
            block = grown;
        }
        free_block(block);
    }
    return bench_now() - start;
}

/* --- threads -------------------------------------------------------------------------------------------------- */

enum
{
    MAX_THREADS = 8,
};

struct worker
{
    const struct target *target;
    unsigned ops, index;
    volatile LONG *ready, *go;
    LONGLONG start, end;
};

static DWORD WINAPI worker_main(void *arg)
{
    struct worker *worker = arg;
    void *(WINAPI *alloc)(SIZE_T) = worker->target->alloc;
    void(WINAPI * free_block)(void *) = worker->target->free;
    /* Each thread walks the size table from its own offset, so the threads do not ask for the same size in step. */
    unsigned offset = worker->index * (MIXED_SIZE_COUNT / MAX_THREADS), i;

    InterlockedIncrement(worker->ready);
    /* Yield rather than spin: on two cores the main thread needs a core to say "go". */
    while (!*worker->go)
        SwitchToThread();
    worker->start = bench_now();
    for (i = 0; i < worker->ops; i++)
        free_block(alloc(mixed_sizes[(i + offset) & (MIXED_SIZE_COUNT - 1)]));
    worker->end = bench_now();
    return 0;
}

LONGLONG kernel_threads(const struct target *target, void *state, unsigned ops)
{
    unsigned count = ((const struct threads_state *)state)->count, started = 0, i;
    struct worker workers[MAX_THREADS];
    HANDLE threads[MAX_THREADS];
    volatile LONG ready = 0, go = 0;
    LONGLONG first = 0, last = 0;

    if (count > MAX_THREADS)
        count = MAX_THREADS;
    for (i = 0; i < count; i++)
    {
        workers[i] = (struct worker){target, ops / count, i, &ready, &go, 0, 0};
        if (!(threads[i] = CreateThread(NULL, 0, worker_main, &workers[i], 0, NULL)))
            break;
        started++;
    }
    while ((unsigned)ready < started)
        SwitchToThread();
    InterlockedExchange(&go, 1);
    WaitForMultipleObjects(started, threads, TRUE, INFINITE);
    for (i = 0; i < started; i++)
    {
        if (!i || workers[i].start < first)
            first = workers[i].start;
        if (!i || workers[i].end > last)
            last = workers[i].end;
        CloseHandle(threads[i]);
    }
    /* A thread that could not be created did no work: report the whole batch as not run. */
    return started == count ? last - first : -1;
}

/* --- block sets ----------------------------------------------------------------------------------------------- */

int block_set_grow(struct block_set *set, const struct target *target, size_t count, SIZE_T size)
{
    void *(WINAPI *alloc)(SIZE_T) = target->alloc;

    if (count > set->capacity)
    {
        void **blocks = bench_array_alloc(count * sizeof(*blocks));

        if (!blocks)
            return 0;
        if (set->blocks)
        {
            memcpy(blocks, set->blocks, set->count * sizeof(*blocks));
            bench_array_free(set->blocks);
        }
        set->blocks = blocks;
        set->capacity = count;
    }
    while (set->count < count)
    {
        if (!(set->blocks[set->count] = alloc(size)))
            return 0;
        set->count++;
    }
    return 1;
}

void block_set_release(struct block_set *set, const struct target *target)
{
    void(WINAPI * free_block)(void *) = target->free;

    while (set->count)
        free_block(set->blocks[--set->count]);
    bench_array_free(set->blocks);
    set->blocks = NULL;
    set->capacity = 0;
}
