/*
 * Platform layer for Windows (and Wine): the process heap, exactly as Windows' ole32 uses it, so that blocks cross
 * freely between ole32mem and the system ole32/combase in both directions.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_WIN32_H
#define OLE32MEM_PLATFORM_WIN32_H

#include <windef.h>
#include <winbase.h>
#include <winerror.h>

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

typedef SRWLOCK plat_mutex;
#define PLAT_MUTEX_INIT SRWLOCK_INIT

static inline void plat_mutex_lock(plat_mutex *m)
{
    AcquireSRWLockExclusive(m);
}

static inline int plat_mutex_trylock(plat_mutex *m)
{
    return TryAcquireSRWLockExclusive(m) != 0;
}

static inline void plat_mutex_unlock(plat_mutex *m)
{
    ReleaseSRWLockExclusive(m);
}

typedef DWORD plat_thread_id_t;

static inline plat_thread_id_t plat_thread_id(void)
{
    return GetCurrentThreadId();
}

#endif /* OLE32MEM_PLATFORM_WIN32_H */
