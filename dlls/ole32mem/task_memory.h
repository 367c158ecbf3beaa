/*
 * The COM task allocator's core: Windows' IMalloc semantics and the IMallocSpy protocol, independent of COM
 * plumbing and of the operating system (see platform.h). ole32mem.c wraps it into the DLL's exports and the
 * IMalloc object; the host tests drive it directly.
 *
 * The fast path (no spy registered, no diagnostics) is inline here: one atomic load of task_route and the heap
 * call. Everything else is in task_memory.c, behind task_route != 0.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_TASK_MEMORY_H
#define OLE32MEM_TASK_MEMORY_H

#include <stdatomic.h>
#include <stdint.h>

#include "platform.h"

/* What the core needs of a spy. The DLL implements it over IMallocSpy (one indirect call per hook); host tests
 * implement it directly. `spy` is the pointer acquire() returned. */
struct spy_ops
{
    /* Takes the reference registration keeps (QueryInterface for IID_IMallocSpy); NULL when the object refuses. */
    void *(*acquire)(void *object);
    void (*release)(void *spy);
    SIZE_T (*pre_alloc)(void *spy, SIZE_T request);
    void *(*post_alloc)(void *spy, void *actual);
    void *(*pre_free)(void *spy, void *request, BOOL spyed);
    void (*post_free)(void *spy, BOOL spyed);
    SIZE_T (*pre_realloc)(void *spy, void *request, SIZE_T size, void **new_request, BOOL spyed);
    void *(*post_realloc)(void *spy, void *actual, BOOL spyed);
    void *(*pre_get_size)(void *spy, void *request, BOOL spyed);
    SIZE_T (*post_get_size)(void *spy, SIZE_T actual, BOOL spyed);
    void *(*pre_did_alloc)(void *spy, void *request, BOOL spyed);
    int (*post_did_alloc)(void *spy, void *request, BOOL spyed, int actual);
    void (*pre_heap_minimize)(void *spy);
    void (*post_heap_minimize)(void *spy);
};

/* Nonzero while any call must take the slow path: a spy is registered (TASK_ROUTE_SPY) or diagnostics are on
 * (TASK_ROUTE_DIAGNOSTICS). Written under the core's lock, read with acquire ordering and no lock. */
extern atomic_uintptr_t task_route;

enum
{
    TASK_ROUTE_SPY = 1,
    TASK_ROUTE_DIAGNOSTICS = 2,
};

/* `caller` is the return address of the exported function or method: diagnostics attribute blocks to it. */
void *task_alloc_slow(SIZE_T size, const void *caller);
void *task_realloc_slow(void *block, SIZE_T size, const void *caller);
void task_free_slow(void *block, const void *caller);
SIZE_T task_get_size_slow(void *block, const void *caller);
int task_did_alloc_slow(void *block, const void *caller);
void task_heap_minimize_slow(const void *caller);

/* The diagnostics' end-of-process reports (nothing when they are off). Safe to call while other threads are
 * gone at process exit. */
void task_report_at_exit(void);

HRESULT task_register_spy(void *object, const struct spy_ops *ops);
HRESULT task_revoke_spy(void);

/* Introspection for tests and benchmarks: blocks allocated under the current spy and still outstanding, and the
 * bytes the spied-block table holds. */
void task_spy_bookkeeping(size_t *blocks, size_t *bytes);

static inline int task_slow_path(void)
{
    return atomic_load_explicit(&task_route, memory_order_acquire) != 0;
}

static inline void *task_alloc(SIZE_T size, const void *caller)
{
    if (likely(!task_slow_path()))
        return plat_heap_alloc(size);
    return task_alloc_slow(size, caller);
}

static inline void task_free(void *block, const void *caller)
{
    /* Free(NULL) does nothing and calls no hook. */
    if (!block)
        return;
    if (likely(!task_slow_path()))
        plat_heap_free(block);
    else
        task_free_slow(block, caller);
}

static inline void *task_realloc(void *block, SIZE_T size, const void *caller)
{
    if (unlikely(task_slow_path()))
        return task_realloc_slow(block, size, caller);
    /* Realloc(NULL, n) is Alloc(n); Realloc(p, 0) is Free(p) and returns NULL. */
    if (!block)
        return plat_heap_alloc(size);
    if (!size)
    {
        plat_heap_free(block);
        return NULL;
    }
    return plat_heap_realloc(block, size);
}

static inline SIZE_T task_get_size(void *block, const void *caller)
{
    if (!block)
        return (SIZE_T)-1;
    if (likely(!task_slow_path()))
        return plat_heap_size(block);
    return task_get_size_slow(block, caller);
}

static inline int task_did_alloc(void *block, const void *caller)
{
    if (!block)
        return -1;
    if (likely(!task_slow_path()))
        return plat_heap_owns(block);
    return task_did_alloc_slow(block, caller);
}

static inline void task_heap_minimize(const void *caller)
{
    if (likely(!task_slow_path()))
        plat_heap_minimize();
    else
        task_heap_minimize_slow(caller);
}

#endif /* OLE32MEM_TASK_MEMORY_H */
