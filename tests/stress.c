/*
 * Threads: several workers allocate, reallocate, measure and free (CoTaskMem* and IMalloc, blocks also passed
 * between threads) in three phases:
 *
 *  1. no spy at all;
 *  2. one counting spy registered before the workers start and revoked after they finish;
 *  3. a registrar thread registering and revoking a fresh counting spy in a loop while the workers run.
 *
 * Every block carries its size and a seed, so that contents and GetSize are checked at every step. The counting
 * spy passes everything through and counts the blocks it saw become spied (PostAlloc, PostRealloc of a block that
 * was not spied) and the spied blocks it saw go (PreFree with fSpyed TRUE): once every block is freed and the spy
 * released, the two balance exactly. Every hook also checks that its spy has not had its final Release, that each
 * Post closes the Pre its thread opened last on the same spy, and that no two threads are ever between a Pre and
 * its Post at once (docs/semantics.md rule 40).
 *
 * Phase 3 is not run against Wine's builtin, which reads the spy pointer outside its lock and crashes when a revoke
 * races an allocation (spy-read-outside-lock). Phase 2 leaves out Realloc(NULL, n) and Realloc(p, 0) there, whose
 * builtin handling is a known difference (realloc-null-*, realloc-zero-via-prerealloc) that breaks the counts.
 *
 * Wine 10's heap answers HeapSize of a block that HeapReAlloc shrank in place, once its low-fragmentation heap serves
 * the size class, larger than the size by a multiple of its alignment (2 * sizeof(void *)), for ole32mem and the
 * builtin alike (heapsize-after-shrink, docs/semantics.md section 6; docs/wine-bugs/heapsize-after-shrink.c shows it
 * without COM). That one answer, of a block whose last Realloc shrank it in place, is counted apart and checked once
 * for the whole run with ok_wine_version (todo on Wine 10 and later, a failure on an earlier Wine; one check, so that
 * the counts do not depend on how the threads interleaved); every other wrong GetSize answer is a failure.
 *
 * ITERATIONS per worker and phase; the environment variable STRESS_ITERATIONS may set it higher.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define CONST_VTABLE
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "ole32mem_objidl.h"
#include <objbase.h>

#include <stdlib.h>

#include "hook_log.h"
#include "passthrough_spy.h"
#include "count_spy.h"
#include "test.h"

#define WORKER_THREADS 4
#define ITERATIONS 20000
/* Blocks a worker keeps across iterations; few, so that the spied count often drops to 0 and pending revokes
 * complete. */
#define LIVE_SLOTS 4
/* Blocks from before phase 3's first spy, only measured: they reach the hooks with fSpyed FALSE. */
#define OLD_SLOTS 4
#define MAILBOXES 2
#define MAX_BLOCK_SIZE 3000
#define LARGE_BLOCK_SIZE (80 * 1024)
#define MAX_SPIES 100000
/* Refused registrations (a revoke is pending) before the registrar asks the workers to pause. */
#define PAUSE_AFTER_REFUSALS 200
#define MIN_REGISTRATIONS 100
#define EXTRA_TIME_MS 20000
#define JOIN_TIMEOUT_MS 240000
/* Bytes checked at each end of a block: enough to catch a wrong copy without reading every byte each time. */
#define CHECK_SPAN 64

static IMalloc *task_malloc;
static unsigned int iterations = ITERATIONS;

/* Spies live in the process heap (not the task allocator, which would call them) until the program ends, so that
 * a late hook is counted rather than a crash. */
static struct count_spy *new_spy(void)
{
    struct count_spy *spy = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*spy));

    if (spy)
        spy->IMallocSpy_iface.lpVtbl = &spy_vtbl;
    return spy;
}

/* Released spies must have seen as many spied blocks go as they saw come. One check per property, naming the first
 * spy that breaks it. */
static void check_spies(struct count_spy *const *spies, unsigned int count, const char *phase)
{
    unsigned int i, unreleased = 0, unbalanced = 0, refused_refs = 0, first_unreleased = 0, first_unbalanced = 0;

    for (i = 0; i < count; i++)
    {
        const struct count_spy *spy = spies[i];

        if (spy->refs || !spy->released)
        {
            if (!unreleased++)
                first_unreleased = i;
        }
        if (spy->allocated != spy->freed)
        {
            if (!unbalanced++)
                first_unbalanced = i;
        }
        if (spy->refused_refs)
            refused_refs++;
    }
    ok(!unreleased, "%s: %u spies not released, the first (%u) holds %ld references\n", phase, unreleased,
       first_unreleased, unreleased ? spies[first_unreleased]->refs : 0);
    ok(!unbalanced, "%s: %u spies unbalanced, the first (%u) saw %ld spied blocks allocated and %ld freed\n", phase,
       unbalanced, first_unbalanced, unbalanced ? spies[first_unbalanced]->allocated : 0,
       unbalanced ? spies[first_unbalanced]->freed : 0);
    ok(!refused_refs, "%s: %u refused registrations kept a reference\n", phase, refused_refs);
}

static void reset_hook_errors(void)
{
    hooks_after_release = pairing_errors = overlap_errors = inside_pairs = 0;
}

static void check_hook_errors(const char *phase)
{
    ok(!hooks_after_release, "%s: %ld hook calls after the spy's final Release\n", phase, hooks_after_release);
    ok(!pairing_errors, "%s: %ld Post hooks that did not close their thread's Pre\n", phase, pairing_errors);
    ok(!overlap_errors, "%s: %ld times two threads were between Pre and Post at once\n", phase, overlap_errors);
    ok(!inside_pairs, "%s: %ld Pre hooks still open\n", phase, inside_pairs);
}

/* ---- blocks that describe themselves ---- */

struct block_header
{
    SIZE_T size;
    ULONG seed;
    BOOL shrunk_in_place; /* its last Realloc kept it where it was and made it smaller */
};

#define MIN_BLOCK_SIZE sizeof(struct block_header)

static unsigned char pattern(ULONG seed, SIZE_T offset)
{
    return (unsigned char)(seed + offset * 31);
}

static void write_block(unsigned char *block, SIZE_T size, ULONG seed, SIZE_T from)
{
    struct block_header *header = (struct block_header *)block;
    SIZE_T i;

    header->size = size;
    header->seed = seed;
    header->shrunk_in_place = FALSE;
    for (i = max(from, MIN_BLOCK_SIZE); i < size; i++)
        block[i] = pattern(seed, i);
}

/* The first `size` bytes hold what write_block wrote (checked at both ends). */
static BOOL check_bytes(const unsigned char *block, SIZE_T size, ULONG seed)
{
    SIZE_T i;

    for (i = MIN_BLOCK_SIZE; i < size && i < MIN_BLOCK_SIZE + CHECK_SPAN; i++)
        if (block[i] != pattern(seed, i))
            return FALSE;
    for (i = size > CHECK_SPAN ? max(size - CHECK_SPAN, MIN_BLOCK_SIZE) : MIN_BLOCK_SIZE; i < size; i++)
        if (block[i] != pattern(seed, i))
            return FALSE;
    return TRUE;
}

/* ---- workers ---- */

struct worker
{
    ULONG random;
    BOOL realloc_edges; /* may use Realloc(NULL, n) and Realloc(p, 0) */
    void *live[LIVE_SLOTS];
    void *old[OLD_SLOTS];
    SIZE_T old_sizes[OLD_SLOTS];
    LONG failures, content_errors, size_errors, did_alloc_errors;
    LONG shrunk_size_answers; /* GetSize answers that are Wine 10's heapsize-after-shrink */
};

#define HEAPSIZE_AFTER_SHRINK "heapsize-after-shrink"
/* Wine 10's heap answers for a block shrunk in place a size too large by one or more of its alignment units (two
 * pointers: 16 bytes up to a few hundred bytes, more for larger size classes); Wine 10.0 is the one tested, later
 * versions are taken to share it until a run shows otherwise (the check then simply passes). */
#define HEAPSIZE_AFTER_SHRINK_FIRST_WINE 10
#define HEAP_ALIGNMENT (2 * sizeof(void *))
/* Set once in main, before any worker starts: whether the running Wine has heapsize-after-shrink. */
static BOOL heapsize_after_shrink;
/* The workers' shrunk_size_answers, added up by the main thread once they have finished. */
static LONG shrunk_size_answers;

static void *volatile mailboxes[MAILBOXES];
/* Phase 3: set by the registrar when a pending revoke has waited long enough; workers then free every block they
 * hold and wait, so that the spied count reaches 0 and the spy is released. */
static volatile LONG pause_requested;
/* Phase 3: nonzero until the registrar has completed MIN_REGISTRATIONS cycles; workers go on past their iterations
 * meanwhile (up to EXTRA_TIME_MS), so that a starved registrar still races them. */
static volatile LONG registrar_needs_time;

static ULONG next_random(struct worker *worker)
{
    ULONG x = worker->random;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    worker->random = x;
    return x;
}

static SIZE_T random_size(struct worker *worker)
{
    ULONG r = next_random(worker);

    if (r % 64 == 0)
        return LARGE_BLOCK_SIZE + r % 1024;
    return MIN_BLOCK_SIZE + r % MAX_BLOCK_SIZE;
}

static void *worker_alloc(struct worker *worker, SIZE_T size)
{
    ULONG r = next_random(worker);
    void *block;

    if (worker->realloc_edges && r % 5 == 0)
        block = CoTaskMemRealloc(NULL, size);
    else if (r % 2)
        block = CoTaskMemAlloc(size);
    else
        block = IMalloc_Alloc(task_malloc, size);
    if (!block)
        worker->failures++;
    else
        write_block(block, size, r, 0);
    return block;
}

/* Checks a block against its own header and against GetSize. */
static void worker_check(struct worker *worker, const unsigned char *block)
{
    const struct block_header *header = (const struct block_header *)block;
    SIZE_T size = IMalloc_GetSize(task_malloc, (void *)block);

    if (size != header->size)
    {
        if (header->shrunk_in_place && size > header->size && (size - header->size) % HEAP_ALIGNMENT == 0)
            worker->shrunk_size_answers++;
        else
            worker->size_errors++;
    }
    if (!check_bytes(block, header->size, header->seed))
        worker->content_errors++;
}

static void worker_free(struct worker *worker, void *block)
{
    ULONG r = next_random(worker);

    if (!block)
        return;
    worker_check(worker, block);
    if (worker->realloc_edges && r % 7 == 0)
    {
        if (CoTaskMemRealloc(block, 0))
            worker->failures++;
    }
    else if (r % 2)
        CoTaskMemFree(block);
    else
        IMalloc_Free(task_malloc, block);
}

static void *worker_realloc(struct worker *worker, unsigned char *block)
{
    const struct block_header *header = (const struct block_header *)block;
    SIZE_T old_size = header->size, size = random_size(worker);
    ULONG seed = header->seed, r = next_random(worker);
    unsigned char *moved;

    moved = (r % 2) ? CoTaskMemRealloc(block, size) : IMalloc_Realloc(task_malloc, block, size);
    if (!moved)
    {
        worker->failures++;
        return block;
    }
    if (!check_bytes(moved, min(old_size, size), seed))
        worker->content_errors++;
    write_block(moved, size, seed, old_size);
    ((struct block_header *)moved)->shrunk_in_place = moved == block && size < old_size;
    return moved;
}

static void worker_step(struct worker *worker)
{
    ULONG r = next_random(worker);
    unsigned int slot = r % LIVE_SLOTS, i;
    unsigned char *scratch;

    /* A short-lived block: the common case. */
    scratch = worker_alloc(worker, random_size(worker));
    if (scratch)
    {
        if (r & 0x100)
            scratch = worker_realloc(worker, scratch);
        worker_free(worker, scratch);
    }

    switch ((r >> 4) % 8)
    {
    case 0:
    case 1:
        if (!worker->live[slot])
            worker->live[slot] = worker_alloc(worker, random_size(worker));
        else
        {
            worker_free(worker, worker->live[slot]);
            worker->live[slot] = NULL;
        }
        break;
    case 2:
        if (worker->live[slot])
            worker->live[slot] = worker_realloc(worker, worker->live[slot]);
        break;
    case 3:
        if (worker->live[slot])
        {
            worker_check(worker, worker->live[slot]);
            if (IMalloc_DidAlloc(task_malloc, worker->live[slot]) != 1)
                worker->did_alloc_errors++;
        }
        break;
    case 4:
        /* Hand a block to another thread, or take one and free it. */
        i = (r >> 8) % MAILBOXES;
        if (worker->live[slot] && !InterlockedCompareExchangePointer(&mailboxes[i], worker->live[slot], NULL))
            worker->live[slot] = NULL;
        else
            worker_free(worker, InterlockedExchangePointer(&mailboxes[i], NULL));
        break;
    case 5:
        i = (r >> 8) % OLD_SLOTS;
        if (worker->old[i] && IMalloc_GetSize(task_malloc, worker->old[i]) != worker->old_sizes[i])
            worker->size_errors++;
        break;
    case 6:
        if ((r >> 8) % 64 == 0)
            IMalloc_HeapMinimize(task_malloc);
        break;
    default:
        break;
    }
}

/* Frees every block the worker holds, and whatever waits in the mailboxes. */
static void worker_release_all(struct worker *worker)
{
    unsigned int i;

    for (i = 0; i < LIVE_SLOTS; i++)
    {
        worker_free(worker, worker->live[i]);
        worker->live[i] = NULL;
    }
    for (i = 0; i < MAILBOXES; i++)
        worker_free(worker, InterlockedExchangePointer(&mailboxes[i], NULL));
}

static DWORD WINAPI worker_thread(void *arg)
{
    struct worker *worker = arg;
    DWORD start = GetTickCount();
    unsigned int i;

    for (i = 0; i < iterations || (registrar_needs_time && GetTickCount() - start < EXTRA_TIME_MS); i++)
    {
        if (pause_requested)
        {
            worker_release_all(worker);
            while (pause_requested)
                SwitchToThread();
        }
        worker_step(worker);
    }
    worker_release_all(worker);
    return 0;
}

static void init_workers(struct worker *workers, BOOL realloc_edges)
{
    unsigned int i, j;

    memset(workers, 0, WORKER_THREADS * sizeof(*workers));
    for (i = 0; i < WORKER_THREADS; i++)
    {
        workers[i].random = 0x9e3779b9u * (i + 1);
        workers[i].realloc_edges = realloc_edges;
        for (j = 0; j < OLD_SLOTS; j++)
        {
            workers[i].old_sizes[j] = 100 + 17 * j;
            workers[i].old[j] = CoTaskMemAlloc(workers[i].old_sizes[j]);
        }
    }
}

/* Starts the workers and waits for them; FALSE when one did not finish (deadlock). */
static BOOL run_workers(struct worker *workers, const char *phase)
{
    HANDLE threads[WORKER_THREADS];
    unsigned int i, started = 0;
    DWORD wait;

    for (i = 0; i < WORKER_THREADS; i++)
    {
        threads[i] = CreateThread(NULL, 0, worker_thread, &workers[i], 0, NULL);
        ok(threads[i] != NULL, "%s: CreateThread: %lu\n", phase, GetLastError());
        if (threads[i])
            started++;
    }
    if (started != WORKER_THREADS)
        return FALSE;
    wait = WaitForMultipleObjects(WORKER_THREADS, threads, TRUE, JOIN_TIMEOUT_MS);
    ok(wait < WAIT_OBJECT_0 + WORKER_THREADS, "%s: workers did not finish (wait %#lx): deadlock?\n", phase, wait);
    for (i = 0; i < WORKER_THREADS; i++)
        CloseHandle(threads[i]);
    return wait < WAIT_OBJECT_0 + WORKER_THREADS;
}

/* Frees what the workers left (mailboxes, old blocks) and checks their counters. */
static void finish_workers(struct worker *workers, const char *phase)
{
    unsigned int i, j;
    struct worker cleanup;

    memset(&cleanup, 0, sizeof(cleanup));
    cleanup.random = 1;
    for (i = 0; i < MAILBOXES; i++)
        worker_free(&cleanup, InterlockedExchangePointer(&mailboxes[i], NULL));
    for (i = 0; i < WORKER_THREADS; i++)
    {
        ok(!workers[i].failures, "%s, worker %u: %ld allocations failed\n", phase, i, workers[i].failures);
        ok(!workers[i].content_errors, "%s, worker %u: %ld blocks with wrong contents\n", phase, i,
           workers[i].content_errors);
        ok(!workers[i].size_errors, "%s, worker %u: %ld wrong GetSize answers\n", phase, i, workers[i].size_errors);
        shrunk_size_answers += workers[i].shrunk_size_answers;
        ok(!workers[i].did_alloc_errors, "%s, worker %u: %ld wrong DidAlloc answers\n", phase, i,
           workers[i].did_alloc_errors);
        for (j = 0; j < OLD_SLOTS; j++)
            CoTaskMemFree(workers[i].old[j]);
    }
    ok(!cleanup.size_errors && !cleanup.content_errors, "%s: mailbox blocks damaged: %ld size, %ld contents\n", phase,
       cleanup.size_errors, cleanup.content_errors);
    shrunk_size_answers += cleanup.shrunk_size_answers;
    ok(HeapValidate(GetProcessHeap(), 0, NULL), "%s: the process heap is damaged\n", phase);
}

/* ---- phases ---- */

static struct worker workers[WORKER_THREADS];

static BOOL test_threads_no_spy(void)
{
    BOOL finished;

    init_workers(workers, TRUE);
    finished = run_workers(workers, "no spy");
    if (finished)
        finish_workers(workers, "no spy");
    return finished;
}

static BOOL test_threads_fixed_spy(void)
{
    struct count_spy *spy = new_spy();
    HRESULT hr;
    BOOL finished;

    ok(spy != NULL, "out of memory\n");
    if (!spy)
        return TRUE;
    reset_hook_errors();
    /* Blocks from before the registration are freed under the spy with fSpyed FALSE and do not count. */
    init_workers(workers, !testing_builtin);
    hr = CoRegisterMallocSpy(&spy->IMallocSpy_iface);
    ok(hr == S_OK, "CoRegisterMallocSpy: %#lx\n", hr);
    if (hr != S_OK)
        return TRUE;
    finished = run_workers(workers, "fixed spy");
    if (!finished)
        return FALSE;
    finish_workers(workers, "fixed spy");
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "revoke after every block was freed: %#lx\n", hr);
    ok(spy->allocated > 0, "the spy saw no allocation\n");
    check_spies(&spy, 1, "fixed spy");
    check_hook_errors("fixed spy");
    trace("fixed spy: %ld spied blocks allocated and freed\n", spy->allocated);
    return TRUE;
}

struct registrar
{
    volatile LONG stop;
    struct count_spy **spies;
    unsigned int spy_count;
    LONG immediate_revokes, pending_revokes, refused_registrations, pauses, errors;
};

static DWORD WINAPI registrar_thread(void *arg)
{
    struct registrar *registrar = arg;
    ULONG random = 12345;

    while (!registrar->stop && registrar->spy_count < MAX_SPIES)
    {
        struct count_spy *spy = new_spy();
        HRESULT hr;
        unsigned int spin, attempts;

        if (!spy)
        {
            registrar->errors++;
            break;
        }
        registrar->spies[registrar->spy_count++] = spy;
        /* While a revoke is pending the next registration is refused: try again until the old spy is gone, and
         * after a while have the workers let go of their blocks. */
        attempts = 0;
        while ((hr = CoRegisterMallocSpy(&spy->IMallocSpy_iface)) == CO_E_OBJISREG && !registrar->stop)
        {
            registrar->refused_registrations++;
            if (spy->refs)
                spy->refused_refs = spy->refs;
            if (++attempts == PAUSE_AFTER_REFUSALS)
            {
                registrar->pauses++;
                InterlockedExchange(&pause_requested, 1);
            }
            SwitchToThread();
        }
        InterlockedExchange(&pause_requested, 0);
        if (hr != S_OK)
        {
            if (hr != CO_E_OBJISREG)
                registrar->errors++;
            /* Never registered: nothing will release it. */
            spy->released = 1;
            break;
        }
        random = random * 1103515245 + 12345;
        for (spin = (random >> 16) % 8; spin; spin--)
            SwitchToThread();
        hr = CoRevokeMallocSpy();
        if (registrar->spy_count >= MIN_REGISTRATIONS)
            InterlockedExchange(&registrar_needs_time, 0);
        if (hr == S_OK)
            registrar->immediate_revokes++;
        else if (hr == E_ACCESSDENIED)
            registrar->pending_revokes++;
        else
            registrar->errors++;
    }
    InterlockedExchange(&registrar_needs_time, 0);
    return 0;
}

static BOOL test_threads_racing_spy(void)
{
    struct registrar registrar;
    HANDLE thread;
    DWORD wait;
    HRESULT hr;
    BOOL finished;

    if (testing_builtin)
    {
        skip("spy-read-outside-lock: registering and revoking while other threads allocate crashes Wine's builtin\n");
        return TRUE;
    }
    memset(&registrar, 0, sizeof(registrar));
    registrar.spies = HeapAlloc(GetProcessHeap(), 0, MAX_SPIES * sizeof(*registrar.spies));
    ok(registrar.spies != NULL, "out of memory\n");
    if (!registrar.spies)
        return TRUE;
    reset_hook_errors();
    init_workers(workers, TRUE);
    registrar_needs_time = 1;
    thread = CreateThread(NULL, 0, registrar_thread, &registrar, 0, NULL);
    ok(thread != NULL, "CreateThread: %lu\n", GetLastError());
    if (!thread)
        return TRUE;
    finished = run_workers(workers, "racing spy");
    InterlockedExchange(&registrar.stop, 1);
    registrar_needs_time = 0;
    wait = WaitForSingleObject(thread, JOIN_TIMEOUT_MS);
    CloseHandle(thread);
    ok(wait == WAIT_OBJECT_0, "registrar did not finish (wait %#lx)\n", wait);
    if (!finished || wait != WAIT_OBJECT_0)
        return FALSE;
    finish_workers(workers, "racing spy");

    /* Every block is freed: whatever spy is left is either registered (revoke it now) or already released. */
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK || hr == CO_E_OBJNOTREG, "final revoke: %#lx\n", hr);
    ok(!registrar.errors, "registrar: %ld unexpected results\n", registrar.errors);
    ok(registrar.spy_count >= 2, "only %u registrations\n", registrar.spy_count);
    check_spies(registrar.spies, registrar.spy_count, "racing spy");
    check_hook_errors("racing spy");
    trace("racing spy: %u spies, %ld revoked at once, %ld pending, %ld registrations refused while pending, "
          "%ld pauses\n",
          registrar.spy_count, registrar.immediate_revokes, registrar.pending_revokes, registrar.refused_registrations,
          registrar.pauses);
    return TRUE;
}

int main(void)
{
    const char *setting = getenv("STRESS_ITERATIONS");
    HRESULT hr;

    if (setting && strtoul(setting, NULL, 10) > iterations)
        iterations = strtoul(setting, NULL, 10);
    trace("%u workers, %u iterations each per phase\n", WORKER_THREADS, iterations);
    heapsize_after_shrink = wine_major_version() >= HEAPSIZE_AFTER_SHRINK_FIRST_WINE;
    hr = CoGetMalloc(MEMCTX_TASK, &task_malloc);
    ok(hr == S_OK && task_malloc, "CoGetMalloc: %#lx\n", hr);
    if (!task_malloc)
        return test_summary("stress");
    /* A deadlocked phase leaves threads holding the allocator: report it and stop. */
    if (test_threads_no_spy() && test_threads_fixed_spy())
        test_threads_racing_spy();
    ok_wine_version(HEAPSIZE_AFTER_SHRINK, heapsize_after_shrink, !shrunk_size_answers,
                    "%ld GetSize answers of blocks shrunk in place too large by a multiple of %u bytes\n",
                    shrunk_size_answers, (unsigned)HEAP_ALIGNMENT);
    return test_summary("stress");
}
