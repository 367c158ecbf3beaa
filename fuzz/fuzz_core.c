/*
 * libFuzzer harness of the allocator core: each input is a sequence of operations (Alloc, Realloc, Free, GetSize,
 * DidAlloc, HeapMinimize, register a spy, revoke, arm a refusal, a failure of the heap or of the bookkeeping memory,
 * an allocator call from inside a chosen hook) run against task_memory.c over platform_posix.c, with the spy of
 * tests/host/test_spy.c (optionally adding a header and a trailer, refusing registration, measuring blocks from
 * PreFree). After every step the core is checked against a simple model: every live block has its size and
 * contents, every spied block is counted once (core, spy and model agree), the registration state and the route
 * bit are right, every spy is released exactly once per registration and never called unregistered.
 *
 * A violated invariant aborts with a message, which libFuzzer records as a crash; fuzz/regressions/ keeps the
 * inputs of real findings and `make check-host` replays them.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_platform.h"
#include "test_spy.h"

enum
{
    MAX_BLOCKS = 16,
    MAX_OPS = 256,
    MAX_SIZE = 600,
    SPIES = 2,
};

enum op
{
    OP_ALLOC,
    OP_REALLOC,
    OP_FREE,
    OP_GET_SIZE,
    OP_DID_ALLOC,
    OP_REGISTER,
    OP_REVOKE,
    OP_REFUSE_NEXT,
    OP_REENTRY,
    OP_FAIL_HEAP,
    OP_FAIL_META,
    OP_MINIMIZE,
    OP_HUGE,
    OP_COUNT
};

enum spy_state
{
    SPY_NONE,
    SPY_REGISTERED,
    SPY_PENDING,
};

struct model_block
{
    unsigned char *p; /* NULL: slot empty */
    size_t size;
    unsigned char seed;
    int spied;
};

static struct model_block blocks[MAX_BLOCKS];
static struct test_spy spies[SPIES];
static int expected_releases[SPIES];
static int state, current, reentry_slot, step;
/* OP_REENTRY arms a reentry here; the next operation installs it on the spy (never during the invariant checks,
 * whose GetSize/DidAlloc calls run hooks too). */
static struct reentry armed;
static int armed_spy = -1;
static unsigned char foreign_object[32];
static int trace_steps; /* FUZZ_TRACE=1: print every step (for reading a reproducer) */

static const size_t headers[] = {0, 16, 32};
static const size_t trailers[] = {0, 1, 8, 13};

#define CHECK(condition, ...)                                                                                          \
    do                                                                                                                 \
    {                                                                                                                  \
        if (!(condition))                                                                                              \
            fail(__LINE__, __VA_ARGS__);                                                                               \
    } while (0)

static __attribute__((format(printf, 2, 3), noreturn)) void fail(int line, const char *format, ...)
{
    va_list args;

    fprintf(stderr, "fuzz_core.c:%d: step %d: invariant violated: ", line, step);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, "\n");
    abort();
}

struct input
{
    const uint8_t *data;
    size_t size;
};

static unsigned take(struct input *in)
{
    if (!in->size)
        return 0;
    in->size--;
    return *in->data++;
}

static size_t take_size(struct input *in)
{
    unsigned hi = take(in), lo = take(in);

    return (hi << 8 | lo) % (MAX_SIZE + 1);
}

static void fill(struct model_block *b, unsigned char seed)
{
    size_t i;

    b->seed = seed;
    for (i = 0; i < b->size; i++)
        b->p[i] = (unsigned char)(seed + i * 13);
}

static int intact(const struct model_block *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (b->p[i] != (unsigned char)(b->seed + i * 13))
            return 0;
    return 1;
}

static size_t model_spied(void)
{
    size_t i, n = 0;

    for (i = 0; i < MAX_BLOCKS; i++)
        n += blocks[i].p && blocks[i].spied;
    return n;
}

static size_t model_live(void)
{
    size_t i, n = 0;

    for (i = 0; i < MAX_BLOCKS; i++)
        n += blocks[i].p != NULL;
    return n;
}

/* A pending revoke completes when the last spied block is gone (and no call is in progress). */
static void settle_pending(void)
{
    if (state == SPY_PENDING && !model_spied())
    {
        state = SPY_NONE;
        expected_releases[current]++;
    }
}

static void check_invariants(void)
{
    size_t i, blocks_spied, bytes;
    int s;

    for (i = 0; i < MAX_BLOCKS; i++)
    {
        struct model_block *b = &blocks[i];
        SIZE_T size;
        int did;

        if (!b->p)
            continue;
        size = task_get_size(b->p, NULL);
        CHECK(size == b->size, "GetSize(slot %zu) %zu, expected %zu", i, (size_t)size, b->size);
        CHECK(intact(b, b->size), "slot %zu: contents changed", i);
        did = task_did_alloc(b->p, NULL);
        CHECK(did == 1, "DidAlloc(slot %zu) %d", i, did);
    }
    task_spy_bookkeeping(&blocks_spied, &bytes);
    CHECK(blocks_spied == model_spied(), "core counts %zu spied blocks, model %zu", blocks_spied, model_spied());
    if (state == SPY_NONE)
        CHECK(bytes == 0, "no spy but the table holds %zu bytes", bytes);
    CHECK(plat_heap_live_blocks() == model_live(), "heap has %zu live blocks, model %zu", plat_heap_live_blocks(),
          model_live());
    CHECK(!!(atomic_load(&task_route) & TASK_ROUTE_SPY) == (state != SPY_NONE), "route bit %d, spy state %d",
          (int)(atomic_load(&task_route) & TASK_ROUTE_SPY), state);
    for (s = 0; s < SPIES; s++)
    {
        struct test_spy *spy = &spies[s];
        int registered = state != SPY_NONE && current == s;

        CHECK(!atomic_load(&spy->violations), "spy %d: %s", s, spy->first_violation);
        CHECK(hook_pairs_balanced(&spy->pairs), "spy %d: %u Pre/Post pairs open, %ld pairing errors", s,
              spy->pairs.depth, spy->pairs.errors);
        CHECK(atomic_load(&spy->releases) == expected_releases[s], "spy %d: %d releases, expected %d", s,
              atomic_load(&spy->releases), expected_releases[s]);
        CHECK(atomic_load(&spy->refs) == registered, "spy %d: %d references, registered %d", s, atomic_load(&spy->refs),
              registered);
        if (registered)
            CHECK((size_t)spy->outstanding == model_spied(), "spy %d saw %ld blocks outstanding, model %zu", s,
                  spy->outstanding, model_spied());
    }
}

static int find_slot(int want_live, unsigned pick)
{
    int i, k;

    for (i = 0; i < MAX_BLOCKS; i++)
    {
        k = (int)((pick + (unsigned)i) % MAX_BLOCKS);
        if (!!blocks[k].p == want_live)
            return k;
    }
    return -1;
}

/* Pointers for GetSize/DidAlloc: a block, NULL, an interior pointer, a foreign object, (void *)1. */
static void *pick_target(unsigned pick, int *slot)
{
    int k = find_slot(1, pick >> 3);

    *slot = -1;
    switch (pick & 7)
    {
    case 0:
        return NULL;
    case 1:
        return k >= 0 ? blocks[k].p + 1 : NULL;
    case 2:
        return foreign_object + 16;
    case 3:
        return (void *)1;
    default:
        *slot = k;
        return k >= 0 ? blocks[k].p : NULL;
    }
}

struct op_watch
{
    long heap_failures, meta_failures;
    int refuse_armed;
};

static void watch_start(struct op_watch *w)
{
    w->heap_failures = host_heap_failures_injected();
    w->meta_failures = host_meta_failures_injected();
    w->refuse_armed = spies[current].refuse_next;
}

/* Whether the operation just done was allowed to fail: an injected failure fired or the spy refused. */
static int may_have_failed(const struct op_watch *w)
{
    return host_heap_failures_injected() != w->heap_failures || host_meta_failures_injected() != w->meta_failures ||
           (w->refuse_armed && !spies[current].refuse_next);
}

/* Reentry: resolve the armed slot to its current pointer; an operation on that very block disarms it. */
static void reentry_prepare(int target_slot)
{
    struct reentry *r;

    if (armed_spy < 0)
        return;
    r = &spies[armed_spy].reentry;
    *r = armed;
    armed_spy = -1;
    if (r->action != RE_FREE && r->action != RE_GET_SIZE && r->action != RE_DID_ALLOC)
        return;
    if (reentry_slot < 0 || !blocks[reentry_slot].p || reentry_slot == target_slot)
    {
        r->action = RE_NONE;
        return;
    }
    r->block = blocks[reentry_slot].p;
}

/* After the operation: fold what the hook did into the model, check its result, and disarm. */
static void reentry_finish(int state_before)
{
    struct reentry *r = &spies[spies[1].reentry.action != RE_NONE].reentry;
    int in_acquire = r->hook == HOOK_ACQUIRE;

    if (r->action != RE_NONE && r->fired)
    {
        switch (r->action)
        {
        case RE_FREE:
            blocks[reentry_slot].p = NULL;
            break;
        case RE_GET_SIZE:
            CHECK(r->got_size == blocks[reentry_slot].size, "GetSize from a hook %zu, expected %zu",
                  (size_t)r->got_size, blocks[reentry_slot].size);
            break;
        case RE_DID_ALLOC:
            CHECK(r->got_did == 1, "DidAlloc from a hook %d", r->got_did);
            break;
        case RE_ALLOC_FREE:
            CHECK(r->got_size == r->size || r->got_size == (SIZE_T)-2, "Alloc+GetSize from a hook: %zu, expected %zu",
                  (size_t)r->got_size, r->size);
            break;
        case RE_REVOKE:
            if (in_acquire || state_before == SPY_NONE)
                CHECK(r->hr == CO_E_OBJNOTREG, "revoke from acquire: %#x", (unsigned)r->hr);
            else
            {
                /* From inside a call the release waits for the call's end at least. */
                CHECK(r->hr == E_ACCESSDENIED, "revoke from a hook: %#x", (unsigned)r->hr);
                state = SPY_PENDING;
            }
            break;
        case RE_REGISTER:
            CHECK(r->hr == CO_E_OBJISREG, "register from a hook or from acquire: %#x", (unsigned)r->hr);
            break;
        }
    }
    memset(&spies[0].reentry, 0, sizeof(spies[0].reentry));
    memset(&spies[1].reentry, 0, sizeof(spies[1].reentry));
}

static void do_alloc_like(int slot, size_t size, int via_realloc)
{
    struct op_watch w;
    unsigned char *p;

    watch_start(&w);
    p = via_realloc ? task_realloc(NULL, size, NULL) : task_alloc(size, NULL);
    if (!p)
    {
        CHECK(may_have_failed(&w), "%s(%zu) failed", via_realloc ? "Realloc(NULL)" : "Alloc", size);
        return;
    }
    CHECK(((uintptr_t)p & 15) == 0, "block %p not aligned", (void *)p);
    blocks[slot] = (struct model_block){p, size, 0, state != SPY_NONE};
    fill(&blocks[slot], (unsigned char)(step * 31 + slot));
}

static void do_realloc(int slot, size_t size)
{
    struct model_block *b = &blocks[slot];
    struct op_watch w;
    unsigned char *p;

    watch_start(&w);
    p = task_realloc(b->p, size, NULL);
    if (!size)
    {
        CHECK(p == NULL, "Realloc(p, 0) returned %p", (void *)p);
        b->p = NULL;
        return;
    }
    if (!p)
    {
        CHECK(may_have_failed(&w), "Realloc(%zu -> %zu) failed", b->size, size);
        return;
    }
    b->p = p;
    CHECK(intact(b, b->size < size ? b->size : size), "Realloc(%zu -> %zu) lost the contents", b->size, size);
    b->size = size;
    b->spied = b->spied || state != SPY_NONE;
    fill(b, (unsigned char)(step * 17 + slot));
}

static void do_register(unsigned config)
{
    int s = (int)(config & 1);
    struct test_spy *spy = &spies[s];
    HRESULT hr, expected = CO_E_OBJISREG;
    int state_before = state;

    if (state == SPY_NONE)
    {
        /* Configure only a spy that is not registered; keep its armed refusal and its counters. */
        int refuse_next = spy->refuse_next, releases = atomic_load(&spy->releases);
        int acquires = atomic_load(&spy->acquires);

        test_spy_cleanup(spy);
        test_spy_init(spy, headers[(config >> 1) % 3], trailers[(config >> 3) & 3]);
        spy->measure_on_free = (config >> 5) & 1;
        spy->refuse_acquire = (config >> 6) == 3;
        spy->refuse_next = refuse_next;
        atomic_store(&spy->releases, releases);
        atomic_store(&spy->acquires, acquires);
        expected = spy->refuse_acquire ? E_INVALIDARG : S_OK;
        current = s;
        reentry_prepare(-1);
    }
    hr = task_register_spy(spy, &test_spy_ops);
    CHECK(hr == expected, "register spy %d: %#x, expected %#x", s, (unsigned)hr, (unsigned)expected);
    if (hr == S_OK)
        state = SPY_REGISTERED;
    reentry_finish(state_before);
}

static void do_revoke(void)
{
    HRESULT hr = task_revoke_spy(), expected;

    if (state == SPY_NONE)
        expected = CO_E_OBJNOTREG;
    else if (state == SPY_REGISTERED && !model_spied())
        expected = S_OK;
    else
        expected = E_ACCESSDENIED;
    CHECK(hr == expected, "revoke: %#x, expected %#x", (unsigned)hr, (unsigned)expected);
    if (hr == S_OK)
    {
        state = SPY_NONE;
        expected_releases[current]++;
    }
    else if (hr == E_ACCESSDENIED)
        state = SPY_PENDING;
}

static void run_step(struct input *in)
{
    unsigned op = take(in) % OP_COUNT, arg = take(in);
    int slot, state_before = state;
    void *target;

    if (trace_steps)
        fprintf(stderr, "step %d: op %u arg %#x, spy %d state %d\n", step, op, arg, current, state);

    switch (op)
    {
    case OP_ALLOC:
        if ((slot = find_slot(0, arg)) < 0)
            break;
        reentry_prepare(-1);
        do_alloc_like(slot, take_size(in), arg & 1);
        break;
    case OP_REALLOC:
        if ((slot = find_slot(1, arg)) < 0)
            break;
        reentry_prepare(slot);
        do_realloc(slot, (arg & 0xe0) == 0xe0 ? 0 : take_size(in));
        break;
    case OP_FREE:
        if ((slot = find_slot(1, arg)) < 0)
            break;
        reentry_prepare(slot);
        task_free(blocks[slot].p, NULL);
        blocks[slot].p = NULL;
        break;
    case OP_GET_SIZE:
    case OP_DID_ALLOC:
        target = pick_target(arg, &slot);
        reentry_prepare(slot);
        if (op == OP_GET_SIZE)
        {
            SIZE_T size = task_get_size(target, NULL);
            SIZE_T expected = slot >= 0 && target ? blocks[slot].size : (SIZE_T)-1;
            CHECK(size == expected, "GetSize(%p) %zu, expected %zu", target, (size_t)size, (size_t)expected);
        }
        else
        {
            int did = task_did_alloc(target, NULL);
            int expected = !target ? -1 : slot >= 0;
            CHECK(did == expected, "DidAlloc(%p) %d, expected %d", target, did, expected);
        }
        break;
    case OP_REGISTER:
        do_register(arg);
        return;
    case OP_REVOKE:
        do_revoke();
        break;
    case OP_REFUSE_NEXT:
        spies[arg & 1].refuse_next = 1;
        break;
    case OP_REENTRY:
    {
        int s = state != SPY_NONE ? current : (int)(arg & 1);

        armed = (struct reentry){.hook = (enum hook)(1 + (int)(take(in) % HOOK_ACQUIRE)),
                                 .action = 1 + (int)((arg >> 1) % RE_REGISTER),
                                 .size = take_size(in),
                                 .other = &spies[!s]};
        armed_spy = s;
        reentry_slot = find_slot(1, arg >> 4);
        return;
    }
    case OP_FAIL_HEAP:
        host_fail_heap_after(1 + arg % 3);
        break;
    case OP_FAIL_META:
        host_fail_meta_after(1 + arg % 3);
        break;
    case OP_MINIMIZE:
        reentry_prepare(-1);
        task_heap_minimize(NULL);
        break;
    case OP_HUGE:
        if ((slot = find_slot(1, arg)) >= 0 && (arg & 1))
        {
            reentry_prepare(slot);
            CHECK(task_realloc(blocks[slot].p, (SIZE_T)-1 - (arg >> 1), NULL) == NULL, "huge Realloc succeeded");
        }
        else
        {
            reentry_prepare(-1);
            CHECK(task_alloc((SIZE_T)-1 - (arg >> 1), NULL) == NULL, "huge Alloc succeeded");
        }
        break;
    }
    reentry_finish(state_before);
    settle_pending();
}

static void finish_input(void)
{
    int i, s;

    host_fail_heap_after(0);
    host_fail_meta_after(0);
    for (s = 0; s < SPIES; s++)
    {
        spies[s].refuse_next = 0;
        memset(&spies[s].reentry, 0, sizeof(spies[s].reentry));
    }
    for (i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i].p)
        {
            task_free(blocks[i].p, NULL);
            blocks[i].p = NULL;
            settle_pending();
        }
    if (state == SPY_REGISTERED)
        do_revoke();
    check_invariants();
    CHECK(state == SPY_NONE, "spy still registered at the end");
    for (s = 0; s < SPIES; s++)
    {
        CHECK(atomic_load(&spies[s].acquires) == atomic_load(&spies[s].releases), "spy %d: %d acquires, %d releases", s,
              atomic_load(&spies[s].acquires), atomic_load(&spies[s].releases));
        test_spy_cleanup(&spies[s]);
        test_spy_init(&spies[s], 0, 0);
        expected_releases[s] = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};

    trace_steps = getenv("FUZZ_TRACE") != NULL;
    memset(blocks, 0, sizeof(blocks));
    state = SPY_NONE;
    current = 0;
    reentry_slot = -1;
    armed_spy = -1;
    for (step = 0; step < MAX_OPS && in.size; step++)
    {
        run_step(&in);
        check_invariants();
    }
    finish_input();
    return 0;
}
