/*
 * The out-of-line part of the Windows platform layer: the private heap for the core's bookkeeping, the wait for a
 * contended mutex, and the readability test of the exit-time report.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "platform.h"

static HANDLE volatile meta_heap;
volatile LONG plat_meta_busy;

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
