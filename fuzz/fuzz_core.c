/*
 * libFuzzer harness of the allocator core: each input is a sequence of operations (Alloc, Realloc, Free, GetSize,
 * DidAlloc, HeapMinimize, register a spy, revoke, arm a refusal, a failure of the heap or of the bookkeeping memory,
 * an allocator call from inside a chosen hook, and the foreign side's operations below) run against task_memory.c
 * over platform_posix.c, with the spy of tests/host/test_spy.c (optionally adding a header and a trailer, refusing
 * registration, measuring blocks from PreFree). The core is checked against a simple model: every live block has its
 * size and contents, every spied block is counted once (core, spy and model agree), the registration state and the
 * route bit are right, every spy is released exactly once per registration and never called unregistered.
 *
 * Diagnostics: the input's first byte chooses OLE32MEM_DEBUG for the whole input (none, leaks, check, guard+fill,
 * all; call stacks in one input of eight), so that every failure pattern of the injector also runs with them on.
 * With them on the model also checks: the records (diag_live_totals, the table and the walk of the slabs that the
 * reports use) are exactly the model's tracked blocks, each with its size, plus stale records the model knows of;
 * every line the diagnostics write is one the input asked for (trace; the leak report of a leak check) and never a
 * check:, guard: or any other line; every block the program gets has its record (a call whose bookkeeping fails
 * fails as a whole, with Windows' failure answer); the leak check (OP_MINIMIZE's other use) reports exactly the
 * blocks allocated since its last checkpoint; a block grown by Realloc has the fresh-memory fill in its new part.
 * The options are switched between inputs, when no block, record or spy is live, by writing the option globals
 * directly (diag_configure only ever turns them on).
 *
 * The foreign side (OP_REVOKE with arg & 0x80): another allocator on the same heap, as the system ole32/combase and
 * HeapReAlloc are in real programs, frees one of the program's blocks behind ole32mem's back, resizes it in place,
 * reallocates it (in place or moved), moves it for sure, or allocates a block of its own (the host heap reuses
 * addresses and resizes in place as Windows' does: host/platform_posix.c). The program then writes the new bytes or
 * leaves them as they were; the model keeps every byte of every block either way, and blocks cross back freely
 * (ole32mem frees, reallocates, measures the foreign side's blocks). Checked: ole32mem never changes a byte of a block
 * it does not own (every block's contents, after every step), never answers for it anything but the heap's size,
 * never crashes or reads freed memory (ASan); a record of a block the foreign side took is stale and dropped when
 * met, and until then counted in the totals (the walk: a record is a tracked block or a stale one); the leak check
 * reports no block the foreign side freed or resized, and only those stale records that docs/diagnostics.md says
 * cannot be told from a live block (no `guard`, a live block of the recorded heap size at the address); the leak
 * checkpoint is followed by sequence number, as the report does. The model avoids, by writing the block, the one case
 * the documentation says cannot be told apart (a block back at exactly the heap size ole32mem recorded, its guard
 * unwritten). Spied blocks are left to the spy.
 *
 * When the checks run (as strong as after every step, cheaper): the model state (every block's contents, the
 * records walk, the totals, the spy's and the core's counts, the route bit) after every step; the calls (GetSize and
 * DidAlloc of a block, through hooks and diagnostics) of the blocks a step names, before the step (the state the
 * step starts from) and after it; of every block after a step that may change them all (register, revoke, a fired
 * reentry, HeapMinimize, a leak check, which is preceded by them too) and at the end of the input. A block's answers
 * depend only on its own state (record, heap block, spy's view), which only a step that names it may change, and
 * that is checked before any step uses it: a corruption made by a step that does not name the block is found at the
 * latest by the next step that names it, or at the end. (Before, every block was called after every step, which
 * was two thirds of the time.) The records walk is skipped after a step that called nothing (arming a refusal,
 * a failure, a reentry). The model's own loops are not instrumented for coverage.
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
    /* At most one record goes stale per step (a foreign operation on a block of ole32mem's). */
    MAX_STALE = MAX_OPS,
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
    unsigned char contents[MAX_SIZE]; /* what the program wrote: the block must hold exactly this */
    int spied;
    int tracked;  /* diagnostics on: ole32mem's record of the block (checked by every step's walk of the records) */
    int foreign;  /* the foreign side owns it (allocated, freed, resized or moved behind ole32mem's back): size is the
                   * heap's size, and ole32mem has no current record of it */
    unsigned long long sequence; /* its record's (read by the walk): the leak check lists it when after the mark */
};

/* A record ole32mem still holds for a block the foreign side freed, moved or resized: stale, and kept until ole32mem
 * meets it (docs/diagnostics.md, "Liveness"). Pruned when the walk no longer finds it. */
struct stale_record
{
    const void *block;
    size_t size, heap_size;
    unsigned long long sequence;
    int seen; /* by the current walk */
};

/* What the diagnostics wrote during the current operation (host_log_capture). */
static struct
{
    int allow_leak_lines; /* inside a leak check */
    long leak_header_lines;
} diag_log;

static struct model_block blocks[MAX_BLOCKS];
static struct stale_record stale[MAX_STALE];
static size_t stale_count;
/* The leak checkpoint: records up to this sequence are not listed again (every record of an input is newer than
 * the checkpoint of an earlier input). */
static unsigned long long checkpoint;
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

/* The program writes bytes from..size of the block (a pattern from seed), in the block and in the model. */
static MODEL_ONLY void fill_from(struct model_block *b, size_t from, unsigned char seed)
{
    size_t i;

    for (i = from; i < b->size; i++)
        b->contents[i] = (unsigned char)(seed + i * 13);
    if (from < b->size)
        memcpy(b->p + from, b->contents + from, b->size - from);
}

static void fill(struct model_block *b, unsigned char seed)
{
    fill_from(b, 0, seed);
}

/* The first n bytes of the block are what the program wrote. */
static MODEL_ONLY int intact(const struct model_block *b, size_t n)
{
    return !memcmp(b->p, b->contents, n);
}

static MODEL_ONLY size_t model_spied(void)
{
    size_t i, n = 0;

    for (i = 0; i < MAX_BLOCKS; i++)
        n += blocks[i].p && blocks[i].spied;
    return n;
}

static MODEL_ONLY size_t model_live(void)
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

struct record_walk
{
    size_t count, bytes;
    int seen[MAX_BLOCKS];
};

/* Every record is a tracked block of the model, of its size, met once, or a stale record the model knows of. */
static MODEL_ONLY void walk_record(const void *block, void *value, void *context)
{
    const struct diag_block *record = value;
    struct record_walk *walk = context;
    size_t i;

    walk->count++;
    walk->bytes += record->size;
    for (i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i].p == block && !blocks[i].foreign)
        {
            CHECK(blocks[i].tracked, "record of %p (slot %zu), which has none", block, i);
            CHECK(!walk->seen[i]++, "two records of %p (slot %zu)", block, i);
            CHECK(record->size == blocks[i].size, "the record of slot %zu says %zu bytes, model %zu", i,
                  (size_t)record->size, blocks[i].size);
            blocks[i].sequence = record->sequence;
            return;
        }
    for (i = 0; i < stale_count; i++)
        if (stale[i].block == block)
        {
            CHECK(!stale[i].seen++, "two stale records of %p", block);
            CHECK(record->size == stale[i].size, "the stale record of %p says %zu bytes, model %zu", block,
                  (size_t)record->size, stale[i].size);
            return;
        }
    fail(__LINE__, "a record of %p, neither a block of ole32mem's nor one the foreign side took", block);
}

/* The records against the model (the reports walk the slabs, not the table: the two agree after every call), and
 * the stale records that ole32mem has dropped since forgotten. */
static MODEL_ONLY void check_records(void)
{
    struct diag_live_totals totals = diag_live_totals();
    struct record_walk walk = {0};
    size_t i, kept;

    for (i = 0; i < stale_count; i++)
        stale[i].seen = 0;
    diag_foreach_record(walk_record, &walk);
    for (i = 0; i < MAX_BLOCKS; i++)
        CHECK(!blocks[i].p || !blocks[i].tracked || blocks[i].foreign || walk.seen[i], "block %p (slot %zu) has no record",
              (void *)blocks[i].p, i);
    for (i = kept = 0; i < stale_count; i++)
        if (stale[i].seen)
            stale[kept++] = stale[i];
    stale_count = kept;
    CHECK(totals.count == walk.count && diag_live_records() == walk.count,
          "diagnostics hold %zu records (table %zu), the slabs %zu", totals.count, diag_live_records(), walk.count);
    CHECK(totals.bytes == walk.bytes, "diagnostics count %zu live bytes, the slabs %zu", totals.bytes, walk.bytes);
}

/* The stale record at `block` is taken for a live block of ole32mem's (documented: "Without guard nothing can prove
 * that a live block is still ours"): the address holds a live block of the recorded heap size. With guard it never
 * is here: the foreign side writes every byte of its blocks, the guard's included. */
static int stale_looks_live(const struct stale_record *r)
{
    size_t i;

    if (diag_options & DIAG_GUARD)
        return 0;
    for (i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i].p == r->block)
            return blocks[i].foreign && blocks[i].size == r->heap_size;
    return 0;
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
    unsigned long long newest = 0;

    mark = mark && (diag_options & DIAG_LEAKS);
    /* What the report counts live: the model's tracked blocks, and stale records that look live; it lists those after
     * the checkpoint, and a mark moves the checkpoint to the newest of them. */
    for (i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i].p && blocks[i].tracked && !blocks[i].foreign)
        {
            expected += blocks[i].sequence > checkpoint;
            newest = blocks[i].sequence > newest ? blocks[i].sequence : newest;
        }
    for (i = 0; i < stale_count; i++)
        if (stale_looks_live(&stale[i]))
        {
            expected += stale[i].sequence > checkpoint;
            newest = stale[i].sequence > newest ? stale[i].sequence : newest;
        }
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
    if (mark && diag_log.leak_header_lines != headers_before && newest > checkpoint)
        checkpoint = newest;
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

/* What the core answers about one block: GetSize and DidAlloc (full calls through the hooks and the diagnostics). */
static void check_block(int slot)
{
    struct model_block *b = &blocks[slot];
    SIZE_T size;
    int did;

    if (!b->p)
        return;
    size = task_get_size(b->p, CALLER);
    CHECK(size == b->size, "GetSize(slot %d) %zu, expected %zu", slot, (size_t)size, b->size);
    did = task_did_alloc(b->p, CALLER);
    CHECK(did == 1, "DidAlloc(slot %d) %d", slot, did);
}

/* Everything but the calls of check_block: after every step (the walk of the records after every step that called
 * ole32mem: no other step changes them). */
static MODEL_ONLY void check_state(int walk_records)
{
    size_t i, blocks_spied, bytes;
    int s;

    for (i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i].p)
            CHECK(intact(&blocks[i], blocks[i].size), "slot %zu: contents changed", i);
    if (diag_options && walk_records)
        check_records();
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

static void check_invariants(void)
{
    int i;

    for (i = 0; i < MAX_BLOCKS; i++)
        check_block(i);
    check_state(1);
}

/* The slots named by the current step: checked with check_block before the step's call (they were last checked when
 * a step named them) and after it. */
static struct
{
    int slots[2], count;
    int all; /* the step may have changed every block's state (register, revoke, a reentry): check them all after */
    int called_core; /* the step called ole32mem (or the foreign side): the records may have changed */
} named;

static void name_slot(int slot)
{
    if (slot < 0 || (named.count && named.slots[0] == slot))
        return;
    check_block(slot);
    if (named.count == 2)
    {
        named.all = 1;
        return;
    }
    named.slots[named.count++] = slot;
}

static void check_after_step(void)
{
    int i;

    if (named.all)
        check_invariants();
    else
    {
        for (i = 0; i < named.count; i++)
            check_block(named.slots[i]);
        check_state(named.called_core);
    }
    named.called_core = 0;
    named.count = 0;
    named.all = 0;
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
    if (armed.action == RE_FREE || armed.action == RE_GET_SIZE || armed.action == RE_DID_ALLOC)
        name_slot(reentry_slot);
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
        named.all = 1;
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
    blocks[slot] = (struct model_block){.p = p, .size = size, .spied = state != SPY_NONE, .tracked = !!diag_options};
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
    b->tracked = !!diag_options;
    /* A foreign block: ole32mem takes the heap's size for its old contents and fills only beyond. */
    if ((was_tracked || b->foreign) && old_size < size)
        check_fresh_fill(b, old_size);
    b->foreign = 0;
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

/* The block at `slot` leaves ole32mem behind its back: its record (if any) is stale from now on. */
static void give_to_foreign(struct model_block *b, size_t heap_size)
{
    if (b->tracked && !b->foreign)
    {
        CHECK(stale_count < MAX_STALE, "stale records overflow the model");
        stale[stale_count++] = (struct stale_record){b->p, b->size, heap_size, b->sequence, 0};
    }
    b->foreign = 1;
    b->tracked = 0;
}

/* The heap size that ole32mem recorded for a stale record at `block`, or -1. */
static size_t stale_heap_size(const void *block)
{
    size_t i;

    for (i = 0; i < stale_count; i++)
        if (stale[i].block == block)
            return stale[i].heap_size;
    return (size_t)-1;
}

/* What becomes new in a block of the foreign side (from `from` on): the program writes it (arg & 8) or leaves it as
 * the heap handed it, and the model takes note of those bytes: it knows every byte of every block either way. Left
 * unwritten, a block at an address where ole32mem has a stale record of exactly this heap size could still hold
 * ole32mem's guard, and be taken for ole32mem's own: that is the case docs/diagnostics.md says cannot be told apart
 * ("Why 15 guard bytes"), so there the program writes its whole block. */
static void foreign_contents(struct model_block *b, size_t from, unsigned arg, unsigned char seed)
{
    if (stale_heap_size(b->p) == b->size)
        from = 0;
    else if (!(arg & 8))
    {
        memcpy(b->contents + from, b->p + from, b->size - from);
        return;
    }
    fill_from(b, from, seed);
}

/* Another allocator (the system ole32, HeapFree, HeapReAlloc) on the same heap, never through ole32mem: frees a block
 * of the program's, resizes it in place or moves it (HeapReAlloc), or allocates a block of its own, likely at an
 * address just freed. Spied blocks are left alone (their heap block is not the program's pointer). */
static void do_foreign(struct input *in, unsigned arg)
{
    int slot = find_slot(arg & 0x10 ? 0 : 1, arg);
    unsigned kind = (arg >> 5) & 3;
    struct model_block *b;
    unsigned char *p;
    size_t size, keep, heap_size;

    if (slot < 0 || (blocks[slot].p && blocks[slot].spied))
        return;
    b = &blocks[slot];
    heap_size = b->p ? plat_heap_size(b->p) : 0; /* what ole32mem recorded, for a block of its own */
    if (!b->p)
    {
        /* HeapAlloc: where the heap likes, often a block just freed (by ole32mem or by the foreign side). */
        size = take_size(in);
        if (!(p = plat_heap_alloc(size)))
            return;
        *b = (struct model_block){.p = p, .size = size, .foreign = 1};
        foreign_contents(b, 0, arg, (unsigned char)(step * 7 + slot));
        return;
    }
    if (kind == 0)
    {
        /* HeapFree */
        give_to_foreign(b, heap_size);
        plat_heap_free(b->p);
        b->p = NULL;
        return;
    }
    size = take_size(in);
    keep = b->size < size ? b->size : size;
    if (kind == 1)
    {
        /* HeapReAlloc with HEAP_REALLOC_IN_PLACE_ONLY: the system CoTaskMemRealloc of a block with room */
        if (!host_heap_resize_in_place(b->p, size))
            return;
        p = b->p;
    }
    else if (kind == 2)
    {
        /* HeapReAlloc: in place when it fits, moved otherwise */
        if (!(p = plat_heap_realloc(b->p, size)))
            return;
    }
    else
    {
        /* moved for sure: the old address is free for the next allocation */
        if (!(p = plat_heap_alloc(size)))
            return;
        memcpy(p, b->p, keep);
        plat_heap_free(b->p);
    }
    give_to_foreign(b, heap_size);
    b->p = p;
    b->size = size;
    CHECK(intact(b, keep), "the foreign side's realloc lost the contents");
    foreign_contents(b, keep, arg, (unsigned char)(step * 5 + slot));
}

static void run_step(struct input *in)
{
    unsigned op = take(in) % OP_COUNT, arg = take(in);
    int slot, state_before = state;
    void *target;

    if (trace_steps)
        fprintf(stderr, "step %d: op %u arg %#x, spy %d state %d\n", step, op, arg, current, state);
    named.called_core = op != OP_REFUSE_NEXT && op != OP_FAIL_HEAP && op != OP_FAIL_META && op != OP_REENTRY;

    switch (op)
    {
    case OP_ALLOC:
        if ((slot = find_slot(0, arg)) < 0)
            break;
        name_slot(slot);
        reentry_prepare(-1);
        do_alloc_like(slot, take_size(in), arg & 1);
        break;
    case OP_REALLOC:
        if ((slot = find_slot(1, arg)) < 0)
            break;
        name_slot(slot);
        reentry_prepare(slot);
        do_realloc(slot, (arg & 0xe0) == 0xe0 ? 0 : take_size(in));
        break;
    case OP_FREE:
        if ((slot = find_slot(1, arg)) < 0)
            break;
        name_slot(slot);
        reentry_prepare(slot);
        task_free(blocks[slot].p, CALLER);
        blocks[slot].p = NULL;
        break;
    case OP_GET_SIZE:
    case OP_DID_ALLOC:
        target = pick_target(arg, &slot);
        if ((arg & 7) == 1 || slot >= 0)
            name_slot(find_slot(1, arg >> 3)); /* the block, or the one an interior pointer points into */
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
        named.all = 1;
        do_register(arg);
        return;
    case OP_REVOKE:
        /* Also the foreign side's operations (arg & 0x80): a separate op would renumber the regressions' ops. */
        if (arg & 0x80)
        {
            do_foreign(in, arg);
            break;
        }
        named.all = 1;
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
        named.all = 1;
        if ((arg & 3) == 1 || (arg & 3) == 2)
        {
            check_invariants(); /* the report reads every record */
            do_leak_check((arg & 3) == 2);
            break;
        }
        reentry_prepare(-1);
        task_heap_minimize(CALLER);
        break;
    case OP_HUGE:
        if ((slot = find_slot(1, arg)) >= 0 && (arg & 1))
        {
            name_slot(slot);
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
    check_invariants(); /* every block, as the last step left it */
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
    /* The stale records left (their blocks freed by the foreign side, never met since) are met now, by a DidAlloc
     * each: the next input starts without records. `check` is off for it (a DidAlloc of an address that ole32mem
     * itself freed earlier would be reported, rightly) and `fill` on: a call asks the heap about a record only with
     * `check`, `guard` or `fill`, and a DidAlloc writes nothing. */
    if (stale_count)
    {
        unsigned options = diag_options;
        size_t k;

        diag_options = (options & ~DIAG_CHECK) | DIAG_FILL;
        for (k = 0; k < stale_count; k++)
            CHECK(task_did_alloc((void *)stale[k].block, CALLER) == 0, "DidAlloc of a freed block");
        diag_options = options;
        check_invariants();
        CHECK(!stale_count, "%zu stale records survive a DidAlloc", stale_count);
    }
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
    stale_count = 0;
    checkpoint = 0;
    state = SPY_NONE;
    current = 0;
    reentry_slot = -1;
    armed_spy = -1;
    named.count = 0;
    named.all = 0;
    for (step = 0; step < MAX_OPS && in.size; step++)
    {
        run_step(&in);
        check_after_step();
    }
    finish_input();
    return 0;
}
