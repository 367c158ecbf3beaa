/*
 * Multithreaded stress of the allocator core, built with ThreadSanitizer: worker threads allocate, reallocate,
 * measure, free and hand blocks to each other while a controller thread registers and revokes spies in a loop
 * (a header-and-trailer spy that measures blocks from PreFree, and a pass-through one).
 *
 * Checked: TSan finds no data race; contents and sizes survive; every spy is released exactly once per
 * registration, with no spied block outstanding (the spy's own count balances); no hook runs on a spy that is not
 * registered and Pre/Post pairs of different threads never interleave (test_spy.c's protocol checks); at the end
 * the core holds no spied block, no bookkeeping memory and no heap block.
 *
 * A revoke that answers E_ACCESSDENIED is completed by the workers: the controller asks them to drain (free every
 * block they hold) and waits for the deferred release.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "host_test.h"
#include "test_spy.h"

enum
{
    WORKERS = 3,
    SLOTS = 12,
    MAX_SIZE = 300,
    ROUNDS = 300,
    ROUND_SPINS = 200,
};

struct worker
{
    pthread_t thread;
    unsigned index;
    uint64_t random;
    unsigned char *blocks[SLOTS];
    size_t sizes[SLOTS];
};

static struct test_spy spies[2];
static atomic_int drain, stop, draining_workers;
static _Atomic(unsigned char *) mailbox;
static atomic_long operations;

static uint64_t next_random(struct worker *w)
{
    w->random ^= w->random << 13;
    w->random ^= w->random >> 7;
    w->random ^= w->random << 17;
    return w->random;
}

/* Contents are the harness's fill(): byte 0 is the seed, so any thread can check a block it received. */
static int intact(const unsigned char *p, size_t size)
{
    return !size || filled(p, size, p[0]);
}

static void release_all(struct worker *w)
{
    unsigned char *p;
    int i;

    for (i = 0; i < SLOTS; i++)
    {
        task_free(w->blocks[i], NULL);
        w->blocks[i] = NULL;
    }
    if ((p = atomic_exchange(&mailbox, NULL)))
        task_free(p, NULL);
}

static void step(struct worker *w)
{
    uint64_t r = next_random(w);
    unsigned slot = (unsigned)(r % SLOTS);
    size_t size = (size_t)((r >> 8) % MAX_SIZE);
    unsigned char *p = w->blocks[slot], *q;

    switch ((r >> 20) % 8)
    {
    case 0:
    case 1:
        if (p)
            break;
        if ((p = (r >> 40) & 1 ? task_realloc(NULL, size, NULL) : task_alloc(size, NULL)))
        {
            fill(p, size, (unsigned char)r);
            w->blocks[slot] = p;
            w->sizes[slot] = size;
        }
        ok(p != NULL, "Alloc(%zu) failed\n", size);
        break;
    case 2:
        if (!p)
            break;
        q = task_realloc(p, size, NULL);
        if (!size)
        {
            ok(q == NULL, "Realloc(p, 0) returned %p\n", (void *)q);
            w->blocks[slot] = NULL;
            break;
        }
        ok(q != NULL, "Realloc(%zu) failed\n", size);
        if (!q)
            break;
        ok(intact(q, w->sizes[slot] < size ? w->sizes[slot] : size), "Realloc lost the contents\n");
        fill(q, size, (unsigned char)r);
        w->blocks[slot] = q;
        w->sizes[slot] = size;
        break;
    case 3:
        task_free(p, NULL);
        w->blocks[slot] = NULL;
        break;
    case 4:
        if (p)
            ok(task_get_size(p, NULL) == w->sizes[slot], "GetSize %zu, expected %zu\n", task_get_size(p, NULL),
               w->sizes[slot]);
        break;
    case 5:
        if (p)
        {
            ok(task_did_alloc(p, NULL) == 1, "DidAlloc(block) %d\n", task_did_alloc(p, NULL));
            ok(task_did_alloc(p + 1, NULL) == 0, "DidAlloc(interior) %d\n", task_did_alloc(p + 1, NULL));
        }
        break;
    case 6:
        /* Hand the block to whichever thread comes next and take what the last one left. */
        q = atomic_exchange(&mailbox, p);
        w->blocks[slot] = q;
        if (q)
        {
            w->sizes[slot] = task_get_size(q, NULL);
            ok(w->sizes[slot] != (SIZE_T)-1 && intact(q, w->sizes[slot]), "received block %p damaged\n", (void *)q);
        }
        break;
    case 7:
        if (p)
            ok(intact(p, w->sizes[slot]), "contents of %p changed\n", (void *)p);
        break;
    }
    atomic_fetch_add_explicit(&operations, 1, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    while (!atomic_load(&stop))
    {
        if (atomic_load(&drain))
        {
            release_all(w);
            atomic_fetch_add(&draining_workers, 1);
            while (atomic_load(&drain) && !atomic_load(&stop))
                sched_yield();
            atomic_fetch_sub(&draining_workers, 1);
            continue;
        }
        step(w);
    }
    release_all(w);
    return NULL;
}

static void *controller_main(void *arg)
{
    int round, registrations[2] = {0, 0}, deferred = 0, spins;

    (void)arg;
    for (round = 0; round < ROUNDS; round++)
    {
        int s = round & 1, releases = atomic_load(&spies[s].releases);
        HRESULT hr = task_register_spy(&spies[s], &test_spy_ops);

        ok(hr == S_OK, "round %d: register: %#x\n", round, (unsigned)hr);
        if (hr != S_OK)
            break;
        registrations[s]++;
        for (spins = 0; spins < ROUND_SPINS; spins++)
            sched_yield();
        hr = task_revoke_spy();
        ok(hr == S_OK || hr == E_ACCESSDENIED, "round %d: revoke: %#x\n", round, (unsigned)hr);
        if (hr == E_ACCESSDENIED)
        {
            deferred++;
            ok(task_register_spy(&spies[!s], &test_spy_ops) == CO_E_OBJISREG, "register while pending\n");
            atomic_store(&drain, 1);
            while (atomic_load(&spies[s].releases) == releases)
                sched_yield();
            atomic_store(&drain, 0);
        }
        ok(atomic_load(&spies[s].releases) == releases + 1, "round %d: %d releases, expected %d\n", round,
           atomic_load(&spies[s].releases), releases + 1);
        ok(atomic_load(&spies[s].refs) == 0, "round %d: %d references left\n", round, atomic_load(&spies[s].refs));
    }
    trace("stress: %d rounds, %d + %d registrations, %d revokes deferred, %ld operations\n", round, registrations[0],
          registrations[1], deferred, atomic_load(&operations));
    ok(atomic_load(&spies[0].releases) == registrations[0] && atomic_load(&spies[1].releases) == registrations[1],
       "releases %d %d, registrations %d %d\n", atomic_load(&spies[0].releases), atomic_load(&spies[1].releases),
       registrations[0], registrations[1]);
    atomic_store(&stop, 1);
    return NULL;
}

int main(void)
{
    static struct worker workers[WORKERS];
    pthread_t controller;
    size_t blocks, bytes;
    unsigned i;
    int s;

    test_spy_init(&spies[0], 16, 8);
    spies[0].measure_on_free = 1;
    test_spy_init(&spies[1], 0, 0);
    for (i = 0; i < WORKERS; i++)
    {
        workers[i].index = i;
        workers[i].random = 0x9e3779b97f4a7c15ull * (i + 1);
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    }
    pthread_create(&controller, NULL, controller_main, NULL);
    pthread_join(controller, NULL);
    for (i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);

    task_spy_bookkeeping(&blocks, &bytes);
    ok(blocks == 0 && bytes == 0, "bookkeeping left: %zu blocks, %zu bytes\n", blocks, bytes);
    ok(!(atomic_load(&task_route) & TASK_ROUTE_SPY), "a spy is still routed\n");
    ok(plat_heap_live_blocks() == 0, "%zu heap blocks leaked\n", plat_heap_live_blocks());
    for (s = 0; s < 2; s++)
    {
        ok(!atomic_load(&spies[s].violations), "spy %d: %ld protocol violations, first: %s\n", s,
           atomic_load(&spies[s].violations), spies[s].first_violation);
        ok(spies[s].outstanding == 0, "spy %d: %ld spied blocks unbalanced\n", s, spies[s].outstanding);
        ok(atomic_load(&spies[s].acquires) == atomic_load(&spies[s].releases), "spy %d: %d acquires, %d releases\n", s,
           atomic_load(&spies[s].acquires), atomic_load(&spies[s].releases));
        test_spy_cleanup(&spies[s]);
    }
    return test_summary("host_stress");
}
