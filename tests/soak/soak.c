/*
 * The soak (make soak, never part of make check): ole32mem under OLE32MEM_DEBUG=all for SOAK_SECONDS, several
 * threads at once, blocks crossing to and from the system allocator, a spy coming and going; exact accounting at
 * the end.
 *
 *   - WORKERS threads pick random operations on their own slots: Alloc (CoTaskMemAlloc, IMalloc::Alloc,
 *     CoTaskMemRealloc(NULL)), Realloc (CoTaskMemRealloc, IMalloc::Realloc, growing and shrinking), Free
 *     (CoTaskMemFree, IMalloc::Free, Realloc(p, 0)), GetSize and DidAlloc; blocks of the system allocator (combase's
 *     CoTaskMemAlloc, found with GetProcAddress) are freed, reallocated and measured through ole32mem, and blocks of
 *     ole32mem are freed and reallocated through combase; blocks are handed to other workers through mailboxes.
 *     Every block carries a fill pattern and its size: contents and GetSize are checked at every step.
 *   - one thread registers a counting pass-through spy and revokes it, again and again (a revoke with spied blocks
 *     outstanding is pending until the last one is freed, on whatever thread frees it: while it is, the workers
 *     free their spied blocks and only measure the rest or allocate from combase).
 *   - once in a while a worker frees a pointer that is no heap block (a static object): OLE32MEM_DEBUG=check must
 *     refuse it with one check: line. These are the only diagnostics lines provoked on purpose; the runner
 *     (tests/soak/run.sh) counts them against the number this program prints, and finds no other check: or guard:
 *     line and an empty leak report.
 *
 * Only a block ole32mem did not spy may go to combase's Free or Realloc: the spied-block table would otherwise keep
 * its key (ole32mem cannot see another allocator's free) and the spy's revoke would wait for ever, as on Windows. A
 * worker knows its block is not spied when it was made while no spy was registered: registration takes `gate`
 * exclusively, each ole32mem Alloc/Realloc takes it shared and reads `spies_alive` (spies registered and not yet
 * released) under it.
 *
 * Accounting at the end: every block freed (each worker frees what it holds, mailboxes drained); the last spy
 * released; for every spy the blocks it saw become spied equal those it saw freed with fSpyed TRUE, no hook came
 * after its final Release, every Post closed its thread's Pre and no two threads were ever between a Pre and its
 * Post; Ole32memReportLeaks answers 0; the process heap is valid.
 *
 * Prints operations per second. Must never: free a block another thread may use, or call ole32mem from a hook.
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

#define WORKERS 3
#define SLOTS 24
#define MAILBOXES 4
#define MAX_SIZE 2048
#define DEFAULT_SECONDS 60
/* One wild Free in this many operations of a worker. */
#define WILD_EVERY 200000
#define MAX_SPIES 1000000

typedef void *(WINAPI *alloc_fn)(SIZE_T);
typedef void *(WINAPI *realloc_fn)(void *, SIZE_T);
typedef void(WINAPI *free_fn)(void *);
typedef DWORD(WINAPI *report_leaks_fn)(void);

static IMalloc *task_malloc;
static alloc_fn system_alloc;
static realloc_fn system_realloc;
static free_fn system_free;

static SRWLOCK gate = SRWLOCK_INIT;
static volatile LONG spies_alive, stop;
/* Set by the spy thread while a revoke is pending: the workers free their spied blocks and make no new ones, so that
 * the revoke completes and the next spy can come (otherwise some spied block is always outstanding). */
static volatile LONG drain;
static LONG errors;
static unsigned char wild_object[64];

enum origin
{
    ORIGIN_OURS,   /* made by ole32mem while a spy may have been registered: ole32mem frees it */
    ORIGIN_UNSPIED /* made by combase, or by ole32mem while no spy was: either allocator may free it */
};

struct block
{
    unsigned char *p;
    SIZE_T size;
    unsigned char seed;
    enum origin origin;
};

struct mailbox
{
    SRWLOCK lock;
    struct block parcel;
};

static struct mailbox mailboxes[MAILBOXES];

struct worker
{
    unsigned index;
    unsigned long long rng;
    struct block slots[SLOTS];
    LONGLONG ops, crossed_out, crossed_in, wild_frees;
};

/* A failed per-operation check: reported once each (up to a few), counted always; main turns the count into one
 * ok(). */
#define CHECK(condition, ...)                                                                                          \
    do                                                                                                                 \
    {                                                                                                                  \
        if (!(condition) && InterlockedIncrement(&errors) <= 20)                                                       \
        {                                                                                                              \
            printf("soak.c:%d: ", __LINE__);                                                                           \
            printf(__VA_ARGS__);                                                                                       \
            fflush(stdout);                                                                                            \
        }                                                                                                              \
    } while (0)

static unsigned next_random(struct worker *w)
{
    /* xorshift64*: cheap and good enough to pick operations and sizes. */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (unsigned)((w->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static SIZE_T random_size(struct worker *w)
{
    unsigned r = next_random(w);

    /* Mostly small, some up to MAX_SIZE, now and then 0. */
    switch (r & 7)
    {
    case 0:
        return (r >> 3) % (MAX_SIZE + 1);
    case 1:
        return (r >> 3) % 4;
    default:
        return (r >> 3) % 128;
    }
}

/* Spies live in the process heap until the end, so that a late hook is counted rather than a crash. */
static struct count_spy *spies[MAX_SPIES];
static LONG spy_count, registrations, pending_revokes;

static DWORD WINAPI spy_thread(void *arg)
{
    unsigned long long rng = 0x9e3779b97f4a7c15ULL;
    struct count_spy *spy;
    HRESULT hr;

    (void)arg;
    while (!stop && spy_count < MAX_SPIES)
    {
        if (!(spy = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(*spy))))
            break;
        spy->IMallocSpy_iface.lpVtbl = &spy_vtbl;
        spy->alive = &spies_alive;
        spies[spy_count++] = spy;
        AcquireSRWLockExclusive(&gate);
        InterlockedIncrement(&spies_alive);
        /* The previous spy may still be pending (spied blocks outstanding): then wait for its release. */
        while ((hr = CoRegisterMallocSpy(&spy->IMallocSpy_iface)) == CO_E_OBJISREG && !stop)
        {
            ReleaseSRWLockExclusive(&gate);
            Sleep(1);
            AcquireSRWLockExclusive(&gate);
        }
        if (hr != S_OK)
            InterlockedDecrement(&spies_alive); /* never referenced: no Release will come */
        ReleaseSRWLockExclusive(&gate);
        CHECK(hr == S_OK || (hr == CO_E_OBJISREG && stop), "CoRegisterMallocSpy: %#lx\n", (unsigned long)hr);
        if (hr != S_OK)
            break;
        InterlockedIncrement(&registrations);
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        Sleep((DWORD)(rng >> 60)); /* 0..15 ms registered */
        hr = CoRevokeMallocSpy();
        CHECK(hr == S_OK || hr == E_ACCESSDENIED, "CoRevokeMallocSpy: %#lx\n", (unsigned long)hr);
        if (hr == E_ACCESSDENIED)
        {
            InterlockedIncrement(&pending_revokes);
            InterlockedExchange(&drain, 1);
            while (spies_alive && !stop)
                Sleep(1);
            InterlockedExchange(&drain, 0);
        }
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        Sleep((DWORD)(rng >> 61)); /* 0..7 ms without */
    }
    return 0;
}

/* ---- the workers ---- */

static void check_block(const struct block *b, const char *when)
{
    size_t bad = check_fill(b->p, b->size, b->seed);

    CHECK(bad == b->size, "%s: block %p (%lu bytes) changed at byte %lu\n", when, b->p, (unsigned long)b->size,
          (unsigned long)bad);
}

static void fill_block(struct block *b, unsigned char seed)
{
    b->seed = seed;
    fill(b->p, b->size, seed);
}

/* An ole32mem Alloc, Realloc or the like: under the gate, so that `origin` says whether a spy may have seen it. */
static void *ours(struct worker *w, void *p, SIZE_T size, int how, enum origin *origin)
{
    void *result;

    AcquireSRWLockShared(&gate);
    *origin = spies_alive ? ORIGIN_OURS : ORIGIN_UNSPIED;
    switch (how)
    {
    case 0:
        result = p ? CoTaskMemRealloc(p, size) : CoTaskMemAlloc(size);
        break;
    case 1:
        result = p ? IMalloc_Realloc(task_malloc, p, size) : IMalloc_Alloc(task_malloc, size);
        break;
    default:
        result = CoTaskMemRealloc(p, size);
        break;
    }
    ReleaseSRWLockShared(&gate);
    (void)w;
    return result;
}

static void free_block(struct worker *w, struct block *b)
{
    unsigned r = next_random(w);

    if (b->origin == ORIGIN_UNSPIED && (r & 3) == 0)
    {
        system_free(b->p);
        w->crossed_out++;
    }
    else if (r & 4)
        CoTaskMemFree(b->p);
    else if (r & 8)
        IMalloc_Free(task_malloc, b->p);
    else
        CHECK(CoTaskMemRealloc(b->p, 0) == NULL, "Realloc(p, 0) answered a block\n");
    b->p = NULL;
}

static void do_alloc(struct worker *w, struct block *b)
{
    unsigned r = next_random(w);
    SIZE_T size = random_size(w);

    if ((r & 7) == 0)
    {
        b->p = system_alloc(size);
        b->origin = ORIGIN_UNSPIED;
        w->crossed_in++;
    }
    else
        b->p = ours(w, NULL, size, (int)(r >> 3) % 3, &b->origin);
    CHECK(b->p != NULL, "Alloc(%lu) failed\n", (unsigned long)size);
    if (!b->p)
        return;
    b->size = size;
    fill_block(b, (unsigned char)r);
}

static void do_realloc(struct worker *w, struct block *b)
{
    unsigned r = next_random(w);
    SIZE_T size = random_size(w);
    enum origin origin = ORIGIN_UNSPIED;
    unsigned char *p;

    if (!size)
        size = 1; /* Realloc(p, 0) is a Free: free_block does it */
    if (b->origin == ORIGIN_UNSPIED && (r & 7) == 0)
    {
        p = system_realloc(b->p, size);
        w->crossed_out++;
    }
    else
        p = ours(w, b->p, size, (int)(r >> 3) & 1, &origin);
    CHECK(p != NULL, "Realloc(%lu -> %lu) failed\n", (unsigned long)b->size, (unsigned long)size);
    if (!p)
        return;
    b->p = p;
    /* Made while no spy was alive, the block is in no spied table (the last release emptied it), whatever it was. */
    b->origin = origin;
    CHECK(check_fill(p, size < b->size ? size : b->size, b->seed) >= (size < b->size ? size : b->size),
          "Realloc(%lu -> %lu) lost the contents\n", (unsigned long)b->size, (unsigned long)size);
    b->size = size;
    fill_block(b, (unsigned char)(r >> 8));
}

static void exchange(struct worker *w, struct block *b)
{
    struct mailbox *box = &mailboxes[next_random(w) % MAILBOXES];
    struct block parcel;

    AcquireSRWLockExclusive(&box->lock);
    parcel = box->parcel;
    box->parcel = *b;
    ReleaseSRWLockExclusive(&box->lock);
    *b = parcel;
    if (b->p)
        check_block(b, "from a mailbox");
}

/* While a revoke is pending: free the spied blocks, make none (combase's blocks only), measure the rest. */
static void drain_step(struct worker *w, struct block *b, unsigned r)
{
    struct mailbox *box = &mailboxes[r % MAILBOXES];
    struct block parcel = {0};

    if (!b->p)
    {
        b->p = system_alloc(b->size = random_size(w));
        b->origin = ORIGIN_UNSPIED;
        w->crossed_in++;
        if (b->p)
            fill_block(b, (unsigned char)r);
        CHECK(b->p != NULL, "combase's Alloc(%lu) failed\n", (unsigned long)b->size);
        return;
    }
    if (b->origin == ORIGIN_OURS)
    {
        check_block(b, "drained");
        free_block(w, b);
        return;
    }
    CHECK(IMalloc_GetSize(task_malloc, b->p) == b->size, "GetSize(%p) while draining\n", b->p);
    AcquireSRWLockExclusive(&box->lock);
    if (box->parcel.p && box->parcel.origin == ORIGIN_OURS)
    {
        parcel = box->parcel;
        box->parcel.p = NULL;
    }
    ReleaseSRWLockExclusive(&box->lock);
    if (parcel.p)
    {
        check_block(&parcel, "drained from a mailbox");
        free_block(w, &parcel);
    }
}

static void step(struct worker *w)
{
    unsigned r = next_random(w);
    struct block *b = &w->slots[(r >> 8) % SLOTS];

    w->ops++;
    if (drain)
    {
        drain_step(w, b, r);
        return;
    }
    if (!b->p)
    {
        do_alloc(w, b);
        return;
    }
    switch (r % 16)
    {
    case 0:
    case 1:
    case 2:
        check_block(b, "before Free");
        free_block(w, b);
        break;
    case 3:
    case 4:
    case 5:
        do_realloc(w, b);
        break;
    case 6:
    case 7:
    case 8:
    {
        SIZE_T size = IMalloc_GetSize(task_malloc, b->p);
        CHECK(size == b->size, "GetSize(%p) %lu, expected %lu\n", b->p, (unsigned long)size, (unsigned long)b->size);
        break;
    }
    case 9:
    case 10:
    {
        int did = IMalloc_DidAlloc(task_malloc, b->p);
        CHECK(did == 1, "DidAlloc(%p) %d\n", b->p, did);
        break;
    }
    case 11:
        exchange(w, b);
        break;
    default:
        check_block(b, "checked");
        break;
    }
}

static DWORD WINAPI worker_thread(void *arg)
{
    struct worker *w = arg;
    unsigned i;

    while (!stop)
    {
        step(w);
        if (w->ops % WILD_EVERY == 0)
        {
            /* Provoked on purpose: a check: line, and nothing freed. */
            CoTaskMemFree(wild_object + 16);
            w->wild_frees++;
        }
    }
    for (i = 0; i < SLOTS; i++)
        if (w->slots[i].p)
        {
            check_block(&w->slots[i], "at the end");
            free_block(w, &w->slots[i]);
        }
    return 0;
}

static unsigned seconds_setting(void)
{
    char text[32];
    DWORD length = GetEnvironmentVariableA("SOAK_SECONDS", text, sizeof(text));
    unsigned long value;

    if (!length || length >= sizeof(text))
        return DEFAULT_SECONDS;
    value = strtoul(text, NULL, 10);
    return value ? (unsigned)value : DEFAULT_SECONDS;
}

int main(void)
{
    static struct worker workers[WORKERS];
    HANDLE threads[WORKERS + 1];
    HMODULE combase, ole32mem;
    report_leaks_fn report_leaks;
    LONGLONG ops = 0, crossed_out = 0, crossed_in = 0, wild = 0, spied_in = 0, spied_out = 0;
    LONG unreleased = 0, unbalanced = 0;
    unsigned seconds = seconds_setting(), i;
    char debug[64];
    DWORD start, elapsed;
    HRESULT hr;

    setvbuf(stdout, NULL, _IONBF, 0);
    ok(GetEnvironmentVariableA("OLE32MEM_DEBUG", debug, sizeof(debug)) && !strcmp(debug, "all"),
       "OLE32MEM_DEBUG=all expected\n");
    hr = CoGetMalloc(1, &task_malloc);
    ok(hr == S_OK && task_malloc, "CoGetMalloc: %#lx\n", (unsigned long)hr);
    if (!(combase = GetModuleHandleA("combase.dll")))
        combase = LoadLibraryA("combase.dll");
    ok(combase != NULL, "combase.dll: %lu\n", GetLastError());
    ole32mem = GetModuleHandleA("ole32mem.dll");
    ok(ole32mem != NULL, "ole32mem.dll is not loaded\n");
    if (!task_malloc || !combase || !ole32mem)
        return test_summary("soak");
    system_alloc = (alloc_fn)(void (*)(void))GetProcAddress(combase, "CoTaskMemAlloc");
    system_realloc = (realloc_fn)(void (*)(void))GetProcAddress(combase, "CoTaskMemRealloc");
    system_free = (free_fn)(void (*)(void))GetProcAddress(combase, "CoTaskMemFree");
    report_leaks = (report_leaks_fn)(void (*)(void))GetProcAddress(ole32mem, "Ole32memReportLeaks");
    ok(system_alloc && system_realloc && system_free, "combase's CoTaskMem* not found\n");
    ok(report_leaks != NULL, "Ole32memReportLeaks not found\n");
    ok((void *)system_free != (void *)CoTaskMemFree, "combase's CoTaskMemFree is ole32mem's\n");
    if (!system_alloc || !system_realloc || !system_free || !report_leaks)
        return test_summary("soak");
    for (i = 0; i < MAILBOXES; i++)
        InitializeSRWLock(&mailboxes[i].lock);

    trace("soak: %u s, %d workers, OLE32MEM_DEBUG=%s\n", seconds, WORKERS, debug);
    start = GetTickCount();
    for (i = 0; i < WORKERS; i++)
    {
        workers[i].index = i;
        workers[i].rng = 0x853c49e6748fea9bULL * (i + 1) ^ GetTickCount();
        threads[i] = CreateThread(NULL, 0, worker_thread, &workers[i], 0, NULL);
        ok(threads[i] != NULL, "CreateThread: %lu\n", GetLastError());
    }
    threads[WORKERS] = CreateThread(NULL, 0, spy_thread, NULL, 0, NULL);
    ok(threads[WORKERS] != NULL, "CreateThread: %lu\n", GetLastError());
    Sleep(seconds * 1000);
    InterlockedExchange(&stop, 1);
    ok(WaitForMultipleObjects(WORKERS + 1, threads, TRUE, 120000) == WAIT_OBJECT_0, "threads did not finish\n");
    elapsed = GetTickCount() - start;

    /* What the mailboxes hold, then the last spy: its revoke is pending until the last spied block is gone. */
    for (i = 0; i < MAILBOXES; i++)
        if (mailboxes[i].parcel.p)
        {
            check_block(&mailboxes[i].parcel, "in a mailbox at the end");
            CoTaskMemFree(mailboxes[i].parcel.p);
        }
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK || hr == CO_E_OBJNOTREG, "final CoRevokeMallocSpy: %#lx\n", (unsigned long)hr);
    ok(spies_alive == 0, "%ld spies not released after every block was freed\n", spies_alive);

    for (i = 0; i < WORKERS; i++)
    {
        ops += workers[i].ops;
        crossed_out += workers[i].crossed_out;
        crossed_in += workers[i].crossed_in;
        wild += workers[i].wild_frees;
    }
    for (i = 0; i < (unsigned)spy_count; i++)
    {
        spied_in += spies[i]->allocated;
        spied_out += spies[i]->freed;
        unreleased += !spies[i]->released && spies[i]->refs;
        unbalanced += spies[i]->allocated != spies[i]->freed;
    }
    ok(!errors, "%ld operations went wrong (the first are above)\n", errors);
    ok(!unreleased, "%ld spies still referenced\n", unreleased);
    ok(!unbalanced, "%ld spies saw more or fewer spied blocks go than come (%lld in, %lld out)\n", unbalanced, spied_in,
       spied_out);
    ok(!hooks_after_release, "%ld hooks called after the spy's final Release\n", hooks_after_release);
    ok(!pairing_errors, "%ld Post hooks did not close their thread's Pre\n", pairing_errors);
    ok(!overlap_errors, "%ld times two threads were between a Pre and its Post\n", overlap_errors);
    ok(registrations > 0 && spied_in > 0, "the spy never saw a block (%ld registrations)\n", registrations);
    ok(crossed_in > 0 && crossed_out > 0, "no block crossed (%lld in, %lld out)\n", crossed_in, crossed_out);
    ok(report_leaks() == 0, "Ole32memReportLeaks found leaks\n");
    ok(HeapValidate(GetProcessHeap(), 0, NULL), "the process heap is damaged\n");

    trace("soak: %lld operations in %lu ms: %.0f ops/s; %ld spies registered (%ld revokes pending), %lld spied "
          "blocks; %lld blocks from combase, %lld freed or moved by combase\n",
          ops, elapsed, ops * 1000.0 / (elapsed ? elapsed : 1), registrations, pending_revokes, spied_in, crossed_in,
          crossed_out);
    /* The runner checks the log for exactly this many check: lines, and no other. */
    trace("WILD_FREES %lld %p\n", wild, (void *)(wild_object + 16));
    return test_summary("soak");
}
