/*
 * Platform layer for Windows (and Wine): the process heap, exactly as Windows' ole32 uses it, so that blocks cross
 * freely between ole32mem and the system ole32/combase in both directions. Links with -lsynchronization
 * (WaitOnAddress).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_WIN32_H
#define OLE32MEM_PLATFORM_WIN32_H

#include <windef.h>
#include <winbase.h>
#include <winerror.h>
#include <synchapi.h>

static inline void *plat_heap_alloc(size_t n)
{
    return HeapAlloc(GetProcessHeap(), 0, n);
}

static inline void *plat_heap_realloc(void *p, size_t n)
{
    return HeapReAlloc(GetProcessHeap(), 0, p, n);
}

static inline void plat_heap_free(void *p)
{
    HeapFree(GetProcessHeap(), 0, p);
}

static inline size_t plat_heap_size(const void *p)
{
    return HeapSize(GetProcessHeap(), 0, p);
}

/* HeapValidate with a block pointer checks that one block only; both Windows and Wine answer FALSE (not a fault)
 * for pointers that are not blocks of the heap, which is what DidAlloc needs. */
static inline int plat_heap_owns(const void *p)
{
    return HeapValidate(GetProcessHeap(), 0, p) != 0;
}

static inline void plat_heap_minimize(void)
{
    HeapCompact(GetProcessHeap(), 0);
}

/* Bookkeeping lives in a private heap (platform_win32.c): never at an address the process heap could hand to the
 * program, so that a double free of a program block can never free one of our records. */
HANDLE plat_meta_heap(void);

static inline void *plat_meta_alloc(size_t n)
{
    HANDLE heap = plat_meta_heap();

    return heap ? HeapAlloc(heap, HEAP_ZERO_MEMORY, n) : NULL;
}

static inline void plat_meta_free(void *p)
{
    if (p)
        HeapFree(plat_meta_heap(), 0, p);
}

/* A futex-style mutex: 0 free, 1 held, 2 held with waiters. Uncontended, lock and unlock are one interlocked
 * instruction each; Wine 8's SRW lock costs about a quarter of a spied call (two locked operations to acquire, and
 * a wake-up call on every release). Waiters sleep in WaitOnAddress. */
typedef volatile LONG plat_mutex;
#define PLAT_MUTEX_INIT 0

enum
{
    PLAT_MUTEX_FREE = 0,
    PLAT_MUTEX_HELD = 1,
    PLAT_MUTEX_CONTENDED = 2,
    PLAT_MUTEX_SPINS = 200,
};

static inline int plat_mutex_trylock(plat_mutex *m)
{
    return InterlockedCompareExchange(m, PLAT_MUTEX_HELD, PLAT_MUTEX_FREE) == PLAT_MUTEX_FREE;
}

static inline void plat_mutex_lock(plat_mutex *m)
{
    LONG contended = PLAT_MUTEX_CONTENDED;
    unsigned spins;

    if (plat_mutex_trylock(m))
        return;
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

static inline void plat_mutex_unlock(plat_mutex *m)
{
    if (InterlockedExchange(m, PLAT_MUTEX_FREE) == PLAT_MUTEX_CONTENDED)
        WakeByAddressSingle((void *)m);
}

typedef DWORD plat_thread_id_t;

static inline plat_thread_id_t plat_thread_id(void)
{
    return GetCurrentThreadId();
}

#endif /* OLE32MEM_PLATFORM_WIN32_H */
