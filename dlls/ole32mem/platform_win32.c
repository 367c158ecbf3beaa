/*
 * The out-of-line part of the Windows platform layer: the private heap for the core's bookkeeping, the wait for a
 * contended mutex, the readability test of the exit-time report, and whether the process heap's lock is free at
 * process exit.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "platform.h"

#include <string.h>

static HANDLE volatile meta_heap;

/* Created on first use; two threads racing here both create one and the loser destroys its own. */
HANDLE plat_meta_heap(void)
{
    HANDLE heap = meta_heap, created;

    if (heap)
        return heap;
    created = HeapCreate(0, 0, 0);
    if (!created)
        return NULL;
    heap = InterlockedCompareExchangePointer((void *volatile *)&meta_heap, created, NULL);
    if (heap)
    {
        HeapDestroy(created);
        return heap;
    }
    return created;
}

void plat_meta_heap_destroy(void)
{
    HANDLE heap = InterlockedExchangePointer((void *volatile *)&meta_heap, NULL);

    if (heap)
        HeapDestroy(heap);
}

void plat_mutex_lock_contended(plat_mutex *m)
{
    LONG contended = PLAT_MUTEX_CONTENDED;
    unsigned spins;

    /* The lock is held for one spy call: usually shorter than a trip through WaitOnAddress. Spin a little first. */
    for (spins = 0; spins < PLAT_MUTEX_SPINS; spins++)
    {
        YieldProcessor();
        if (*m == PLAT_MUTEX_FREE && plat_mutex_trylock(m))
            return;
    }
    /* Whoever takes it from here on marks it contended, so that its unlock wakes the next waiter. */
    while (InterlockedExchange(m, PLAT_MUTEX_CONTENDED) != PLAT_MUTEX_FREE)
        WaitOnAddress(m, &contended, sizeof(contended), INFINITE);
}

/* VirtualQuery asks the kernel about the pages, which takes no lock a thread ended at process exit could hold
 * (Wine blocks the signals that end threads while it holds its virtual-memory lock). */
int plat_memory_readable(const void *p, size_t n)
{
    const char *at = p, *end = (const char *)p + n;
    MEMORY_BASIC_INFORMATION info;

    if (!n || end < at)
        return 0;
    while (at < end)
    {
        if (VirtualQuery(at, &info, sizeof(info)) != sizeof(info) || info.State != MEM_COMMIT ||
            (info.Protect & (PAGE_NOACCESS | PAGE_GUARD)) || !info.Protect)
            return 0;
        at = (const char *)info.BaseAddress + info.RegionSize;
    }
    return 1;
}

/* --- the process heap's lock at process exit ---------------------------------------------------------------------
 *
 * At process exit the other threads have been ended wherever they were; one ended inside the process heap leaves its
 * lock held for ever, and the exit report must then not call into the heap. Both Windows and Wine guard the process
 * heap with a critical section inside the heap's own header, whose layout (RTL_CRITICAL_SECTION) is public but
 * whose place in the header is not. plat_heap_probe_lock finds it by taking the lock (HeapLock) and looking for the
 * one critical section in the first bytes of the header that names this thread as owner while we hold it and not
 * before nor after. When there is not exactly one, the state stays unknown and the exit report does without the
 * heap, as it always may. */

enum
{
    HEAP_HEADER_SCAN = 0x800, /* Wine's and Windows' heap headers hold their lock well within this */
};

static RTL_CRITICAL_SECTION *process_heap_lock, *meta_heap_lock;

static int owned_by_me(const RTL_CRITICAL_SECTION *cs)
{
    return cs->OwningThread == ULongToHandle(GetCurrentThreadId()) && cs->RecursionCount >= 1 && cs->LockCount != -1;
}

/* The one critical section in `heap`'s header that this thread owns while it holds the heap's lock, or NULL. */
static RTL_CRITICAL_SECTION *find_heap_lock(HANDLE heap)
{
    static ULONG_PTR before[HEAP_HEADER_SCAN / sizeof(ULONG_PTR)], held[HEAP_HEADER_SCAN / sizeof(ULONG_PTR)],
        after[HEAP_HEADER_SCAN / sizeof(ULONG_PTR)];
    RTL_CRITICAL_SECTION *found = NULL;
    size_t offset;
    int candidates = 0;

    if (!heap || !plat_memory_readable(heap, HEAP_HEADER_SCAN))
        return NULL;
    memcpy(before, heap, sizeof(before));
    if (!HeapLock(heap))
        return NULL;
    memcpy(held, heap, sizeof(held));
    HeapUnlock(heap);
    memcpy(after, heap, sizeof(after));
    for (offset = 0; offset + sizeof(RTL_CRITICAL_SECTION) <= HEAP_HEADER_SCAN; offset += sizeof(ULONG_PTR))
    {
        const RTL_CRITICAL_SECTION *b = (const void *)((char *)before + offset),
                                   *h = (const void *)((char *)held + offset),
                                   *a = (const void *)((char *)after + offset);

        if (owned_by_me(h) && h->RecursionCount == 1 && !owned_by_me(b) && !owned_by_me(a))
        {
            found = (RTL_CRITICAL_SECTION *)((char *)heap + offset);
            candidates++;
        }
    }
    return candidates == 1 ? found : NULL;
}

/* --- asking the heap about a block that may be gone ----------------------------------------------------------------
 *
 * A report asks about every record, also those of blocks that another allocator freed long ago, whose header may by
 * now be the program's data inside somebody's block. Wine (8 and 10) trusts such a header: HeapSize follows the
 * region offset in it, and HeapValidate, when it says the block before is free, the pointer in front of it; an
 * unlucky header makes either read an unmapped page, HeapValidate with the heap's lock held (found by the i686
 * soak: the process hung in its crash handler, which needs the heap). So plat_heap_ask asks with the fault caught: a
 * vectored handler, registered when the diagnostics start, acts only on the thread that is asking (one at a time:
 * the reports run under the core's lock, or alone at exit) and only while it asks, and resumes it in
 * ask_faulted, which returns to plat_heap_ask as from __builtin_setjmp; the asker then gives back the heap's lock as
 * many times as the fault left it taken (the critical section plat_heap_probe_lock found) and counts the block gone.
 * Both questions only read, so nothing is left half done. When the lock was not found, a fault inside HeapValidate
 * could not be undone: only HeapSize is asked then (under the handler; Wine's takes no lock before it has the
 * block), and a block freed elsewhere whose header survived inside free memory may look live. */

static PVOID ask_handler;
static volatile DWORD asking_thread;
static void *ask_resume[5];

static void __attribute__((noreturn, noinline)) ask_faulted(void)
{
    __builtin_longjmp(ask_resume, 1);
}

static LONG CALLBACK ask_fault(EXCEPTION_POINTERS *info)
{
    CONTEXT *context = info->ContextRecord;

    if (!asking_thread || asking_thread != GetCurrentThreadId() ||
        info->ExceptionRecord->ExceptionCode != EXCEPTION_ACCESS_VIOLATION)
        return EXCEPTION_CONTINUE_SEARCH;
    /* A fresh frame below the faulting one, aligned as at a function's entry. */
#if defined(__x86_64__)
    context->Rsp = ((context->Rsp - 256) & ~(DWORD64)15) - 8;
    context->Rip = (DWORD64)(ULONG_PTR)ask_faulted;
#else
    context->Esp = ((context->Esp - 256) & ~(DWORD)15) - 4;
    context->Eip = (DWORD)(ULONG_PTR)ask_faulted;
#endif
    return EXCEPTION_CONTINUE_EXECUTION;
}

size_t plat_heap_ask(const void *p)
{
    HANDLE heap = plat_process_heap();
    RTL_CRITICAL_SECTION *lock = process_heap_lock;
    LONG held = lock && owned_by_me(lock) ? lock->RecursionCount : 0;
    volatile size_t size = (size_t)-1;

    if (!ask_handler)
        return plat_heap_owns(p) ? plat_heap_size(p) : (size_t)-1;
    if (!__builtin_setjmp(ask_resume))
    {
        asking_thread = GetCurrentThreadId();
        if (!lock || plat_heap_owns(p))
            size = plat_heap_size(p);
        asking_thread = 0;
        return size;
    }
    asking_thread = 0;
    while (lock && owned_by_me(lock) && lock->RecursionCount > held)
        HeapUnlock(heap);
    return (size_t)-1;
}

/* Called once, when the diagnostics start (one thread): the process heap's lock and the bookkeeping heap's, and the
 * handler of plat_heap_ask. */
void plat_heap_probe_lock(void)
{
    if (!process_heap_lock)
        process_heap_lock = find_heap_lock(GetProcessHeap());
    if (!meta_heap_lock)
        meta_heap_lock = find_heap_lock(plat_meta_heap());
    if (!ask_handler)
        ask_handler = AddVectoredExceptionHandler(1, ask_fault);
}

void plat_heap_probe_release(void)
{
    if (ask_handler)
        RemoveVectoredExceptionHandler(ask_handler);
    ask_handler = NULL;
}

static enum plat_heap_lock_state lock_state(const volatile RTL_CRITICAL_SECTION *cs)
{
    if (!cs)
        return PLAT_HEAP_LOCK_UNKNOWN;
    if (cs->OwningThread == ULongToHandle(GetCurrentThreadId()))
        return PLAT_HEAP_LOCK_FREE; /* held by this thread: a call recurses, never waits */
    /* Free and nobody between taking and naming it: an ended thread may have left either half done. */
    if (!cs->OwningThread && cs->LockCount == -1 && !cs->RecursionCount)
        return PLAT_HEAP_LOCK_FREE;
    return PLAT_HEAP_LOCK_HELD;
}

enum plat_heap_lock_state plat_heap_lock_state(void)
{
    return lock_state(process_heap_lock);
}

enum plat_heap_lock_state plat_meta_lock_state(void)
{
    return lock_state(meta_heap_lock);
}
