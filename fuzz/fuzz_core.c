/*
 * libFuzzer harness of the allocator core: each input is a sequence of operations (Alloc, Realloc, Free, GetSize,
 * DidAlloc, HeapMinimize, register a spy, revoke, arm a refusal, a failure of the heap or of the bookkeeping memory,
 * an allocator call from inside a chosen hook) run against task_memory.c over platform_posix.c, with the spy of
 * tests/host/test_spy.c (optionally adding a header and a trailer, refusing registration, measuring blocks from
 * PreFree). After every step the core is checked against a simple model: every live block has its size and
 * contents, every spied block is counted once (core, spy and model agree), the registration state and the route
 * bit are right, every spy is released exactly once per registration and never called unregistered.
 *
 * Diagnostics: the input's first byte chooses OLE32MEM_DEBUG for the whole input (none, leaks, check, guard+fill,
 * all; call stacks in one input of eight), so that every failure pattern of the injector also runs with them on.
 * With them on the model also checks: the records (diag_live_totals, the table and the walk of the slabs that the
 * reports use) count exactly the model's live blocks and bytes;
 * every line the diagnostics write is one the input asked for (trace; the leak report of a leak check) and never a
 * check:, guard: or any other line; every block the program gets has its record (a call whose bookkeeping fails
 * fails as a whole, with Windows' failure answer); the leak check (OP_MINIMIZE's other use) reports exactly the
 * blocks allocated since its last checkpoint; a block grown by Realloc has the fresh-memory fill in its new part.
 * The options are switched between inputs, when no block, record or spy is live, by writing the option globals
 * directly (diag_configure only ever turns them on).
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

#include "diag_internal.h"
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
    int tracked;  /* diagnostics on and its record made (lost only to an injected bookkeeping failure) */
    int unmarked; /* allocated or reallocated since the last leak checkpoint: the leak check lists it */
};

/* What the diagnostics wrote during the current operation (host_log_capture). */
static struct
{
    int allow_leak_lines; /* inside a leak check */
    long leak_header_lines;
} diag_log;

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

static const unsigned diag_modes[] = {0, DIAG_LEAKS, DIAG_CHECK, DIAG_GUARD | DIAG_FILL,
                                      DIAG_TRACE | DIAG_LEAKS | DIAG_CHECK | DIAG_GUARD | DIAG_FILL | DIAG_STATS};
static const size_t headers[] = {0, 16, 32};
static const size_t trailers[] = {0, 1, 8, 13};
/* The caller the diagnostics attribute the fuzzer's calls to: not NULL (the DLL's exports always pass a return
 * address) and outside every module, like JIT code, so that naming it is cheap (the host's dladdr scans the
 * symbol table of this large binary at every call) and it is printed as a bare address. */
#define CALLER ((const void *)(uintptr_t)0x10000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* The model's own byte loops are not instrumented for coverage: they say nothing about the core, and with every
 * compare traced they took a third of each execution. */
#define MODEL_ONLY __attribute__((no_sanitize("coverage")))

static MODEL_ONLY void fill(struct model_block *b, unsigned char seed)
{
    size_t i;

    b->seed = seed;
    for (i = 0; i < b->size; i++)
        b->p[i] = (unsigned char)(seed + i * 13);
}

static MODEL_ONLY int intact(const struct model_block *b, size_t n)
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

/* The diagnostics' log, line by line (diag_report writes one whole line per call). A line the input did not ask for
 * is a finding: the diagnostics must never report what did not happen. */
static void diag_log_sink(const char *text, size_t length)
{
    static const char trace[] = "ole32mem: trace: ", leaks[] = "ole32mem: leaks:", note[] = "ole32mem: leaks-note: ";

    if (length >= sizeof(trace) - 1 && !memcmp(text, trace, sizeof(trace) - 1))
    {
        CHECK(diag_options & DIAG_TRACE, "a trace line without trace: %.*s", (int)length, text);
        return;
    }
    if (diag_log.allow_leak_lines && ((length >= sizeof(leaks) - 1 && !memcmp(text, leaks, sizeof(leaks) - 1)) ||
                                      (length >= sizeof(note) - 1 && !memcmp(text, note, sizeof(note) - 1))))
    {
        diag_log.leak_header_lines += length > sizeof(leaks) + 1 && text[sizeof(leaks)] != ' ' &&
                                      text[sizeof(leaks)] != '(' && memcmp(text, note, sizeof(note) - 1);
        return;
    }
    fail(__LINE__, "diagnostics line not provoked: %.*s", (int)length, text);
}

struct record_search
{
    const void *block;
    const struct diag_block *record;
};

static void find_record(const void *block, void *record, void *context)
{
    struct record_search *search = context;

    if (block == search->block)
        search->record = record;
}

struct record_walk
{
    size_t count, bytes;
};

static void count_walked(const void *block, void *record, void *context)
{
    struct record_walk *walk = context;

    (void)block;
    walk->count++;
    walk->bytes += ((const struct diag_block *)record)->size;
}

/* The diagnostics' record of `block`, or NULL. */
static const struct diag_block *record_of(const void *block)
{
    struct record_search search = {block, NULL};

    diag_foreach_record(find_record, &search);
    return search.record;
}

/* With diagnostics on, every block the program gets is tracked: the record is reserved before the spy or the heap
 * sees the call, and a call whose bookkeeping cannot be had fails as a whole (NULL), never hands out a block without
 * a record. */
static int block_tracked(const void *p)
{
    if (!diag_options)
        return 0;
    CHECK(record_of(p) != NULL, "block %p has no record", p);
    return 1;
}

/* Fresh memory: with `fill`, the part of a tracked block the program has not written yet is 0xcd. */
static void check_fresh_fill(const struct model_block *b, size_t from)
{
    size_t i;

    if (!b->tracked || !(diag_options & DIAG_FILL))
        return;
    for (i = from; i < b->size; i++)
        CHECK(b->p[i] == 0xcd, "fresh byte %zu of %zu of block %p is %#x, not the fill", i, b->size, (void *)b->p,
              b->p[i]);
}

/* The options for one input (no block, record or spy is live). */
static void set_diagnostics(unsigned mode)
{
    unsigned options = diag_modes[mode % (sizeof(diag_modes) / sizeof(diag_modes[0]))];

    CHECK(!diag_live_records(), "%zu records left from the last input", diag_live_records());
    diag_options = options;
    /* Call stacks in one input of eight: capturing them is most of the diagnostics' cost here. */
    diag_stack_depth = (mode & 0xe0) == 0xe0 ? DIAG_STACK_DEPTH_DEFAULT : 0;
    if (options)
        atomic_fetch_or(&task_route, TASK_ROUTE_DIAGNOSTICS);
    else
        atomic_fetch_and(&task_route, ~(uintptr_t)TASK_ROUTE_DIAGNOSTICS);
}

/* The leak check: the blocks allocated since the last checkpoint, exactly (fewer only when an injected failure hit
 * the report's own memory). A checkpoint (mark) is taken only with `leaks`, where its report line proves it was. */
static void do_leak_check(int mark)
{
    long meta_before = host_meta_failures_injected(), headers_before = diag_log.leak_header_lines;
    size_t i, expected = 0, got;

    mark = mark && (diag_options & DIAG_LEAKS);
    for (i = 0; i < MAX_BLOCKS; i++)
        expected += blocks[i].p && blocks[i].tracked && blocks[i].unmarked;
    if (!(diag_options & DIAG_LEAKS))
        expected = 0;
    diag_log.allow_leak_lines = 1;
    got = task_check_leaks(DIAG_COLLECT_REPORT | (mark ? DIAG_COLLECT_MARK : 0));
    diag_log.allow_leak_lines = 0;
    if (host_meta_failures_injected() == meta_before)
        CHECK(got == expected, "leak check: %zu blocks, model %zu", got, expected);
    else
        CHECK(got <= expected, "leak check under a failure: %zu blocks, model %zu", got, expected);
    if (diag_options & DIAG_LEAKS && host_meta_failures_injected() == meta_before)
        CHECK(diag_log.leak_header_lines == headers_before + 1, "leak check: %ld report lines",
              diag_log.leak_header_lines - headers_before);
    if (mark && diag_log.leak_header_lines != headers_before)
        for (i = 0; i < MAX_BLOCKS; i++)
            blocks[i].unmarked = 0;
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
        size = task_get_size(b->p, CALLER);
        CHECK(size == b->size, "GetSize(slot %zu) %zu, expected %zu", i,
              (size_t)size, b->size);
        CHECK(intact(b, b->size), "slot %zu: contents changed", i);
        did = task_did_alloc(b->p, CALLER);
        CHECK(did == 1, "DidAlloc(slot %zu) %d", i, did);
    }
    if (diag_options)
    {
        struct diag_live_totals totals = diag_live_totals();
        size_t tracked = 0, tracked_bytes = 0;

        for (i = 0; i < MAX_BLOCKS; i++)
            if (blocks[i].p && blocks[i].tracked)
            {
                tracked++;
                tracked_bytes += blocks[i].size;
            }
        struct record_walk walk = {0, 0};

        /* The reports walk the records' slabs, not the table: the two agree after every call. */
        diag_foreach_record(count_walked, &walk);
        CHECK(totals.count == tracked && diag_live_records() == tracked && walk.count == tracked,
              "diagnostics hold %zu records (table %zu, slabs %zu), model %zu tracked blocks", totals.count,
              diag_live_records(), walk.count, tracked);
        CHECK(walk.bytes == tracked_bytes, "the slabs hold %zu live bytes, model %zu", walk.bytes, tracked_bytes);
        CHECK(totals.bytes == tracked_bytes, "diagnostics count %zu live bytes, model %zu", totals.bytes,
              tracked_bytes);
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
            CHECK(r->got_size == blocks[reentry_slot].size,
                  "GetSize from a hook %zu, expected %zu", (size_t)r->got_size, blocks[reentry_slot].size);
            break;
        case RE_DID_ALLOC:
            CHECK(r->got_did == 1, "DidAlloc from a hook %d", r->got_did);
            break;
        case RE_ALLOC_FREE:
            CHECK(r->got_size == r->size || r->got_size == (SIZE_T)-2,
                  "Alloc+GetSize from a hook: %zu, expected %zu", (size_t)r->got_size, r->size);
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
    p = via_realloc ? task_realloc(NULL, size, CALLER) : task_alloc(size, CALLER);
    if (!p)
    {
        CHECK(may_have_failed(&w), "%s(%zu) failed", via_realloc ? "Realloc(NULL)" : "Alloc", size);
        return;
    }
    CHECK(((uintptr_t)p & 15) == 0, "block %p not aligned", (void *)p);
    blocks[slot] = (struct model_block){p, size, 0, state != SPY_NONE, 0, 1};
    blocks[slot].tracked = block_tracked(p);
    check_fresh_fill(&blocks[slot], 0);
    fill(&blocks[slot], (unsigned char)(step * 31 + slot));
}

static void do_realloc(int slot, size_t size)
{
    struct model_block *b = &blocks[slot];
    struct op_watch w;
    unsigned char *p;
    size_t old_size;
    int was_tracked;

    watch_start(&w);
    p = task_realloc(b->p, size, CALLER);
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
    old_size = b->size;
    was_tracked = b->tracked;
    b->size = size;
    b->spied = b->spied || state != SPY_NONE;
    b->tracked = block_tracked(p);
    b->unmarked = 1;
    if (was_tracked && old_size < size)
        check_fresh_fill(b, old_size);
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
        task_free(blocks[slot].p, CALLER);
        blocks[slot].p = NULL;
        break;
    case OP_GET_SIZE:
    case OP_DID_ALLOC:
        target = pick_target(arg, &slot);
        reentry_prepare(slot);
        if (op == OP_GET_SIZE)
        {
            SIZE_T size = task_get_size(target, CALLER);
            SIZE_T expected = slot >= 0 && target ? blocks[slot].size : (SIZE_T)-1;
            CHECK(size == expected,
                  "GetSize(%p) %zu, expected %zu", target, (size_t)size, (size_t)expected);
        }
        else
        {
            int did = task_did_alloc(target, CALLER);
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
        /* Also the leak check (the checkpoint exports): a separate op would renumber the regressions' ops. */
        if ((arg & 3) == 1 || (arg & 3) == 2)
        {
            do_leak_check((arg & 3) == 2);
            break;
        }
        reentry_prepare(-1);
        task_heap_minimize(CALLER);
        break;
    case OP_HUGE:
        if ((slot = find_slot(1, arg)) >= 0 && (arg & 1))
        {
            reentry_prepare(slot);
            CHECK(task_realloc(blocks[slot].p, (SIZE_T)-1 - (arg >> 1), CALLER) == NULL, "huge Realloc succeeded");
        }
        else
        {
            reentry_prepare(-1);
            CHECK(task_alloc((SIZE_T)-1 - (arg >> 1), CALLER) == NULL, "huge Alloc succeeded");
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
            task_free(blocks[i].p, CALLER);
            blocks[i].p = NULL;
            settle_pending();
        }
    if (state == SPY_REGISTERED)
        do_revoke();
    check_invariants();
    do_leak_check(1);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};

    trace_steps = getenv("FUZZ_TRACE") != NULL;
    host_log_capture(diag_log_sink);
    memset(&diag_log, 0, sizeof(diag_log));
    /* The first byte: the diagnostics for the whole input (fuzz/regressions' older inputs begin with 0: none). */
    set_diagnostics(take(&in));
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
