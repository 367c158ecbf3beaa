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

/* The calling convention of a COM method: a hook called through a COM vtable (struct spy_hooks) must use it. */
#if defined(_WIN32) && defined(__i386__)
#define SPY_CALL __stdcall
#else
#define SPY_CALL
#endif

/* The hooks as the core calls them: in the order, with the signatures and the calling convention of IMallocSpy's
 * methods from PreAlloc on, so that the DLL can hand the core a spy's own vtable (ole32mem.c checks the layout at
 * compile time) and a hook is one indirect call, as in Windows and Wine. `self` is the object whose vtable it is. */
struct spy_hooks
{
    SIZE_T(SPY_CALL *pre_alloc)(void *self, SIZE_T request);
    void *(SPY_CALL *post_alloc)(void *self, void *actual);
    void *(SPY_CALL *pre_free)(void *self, void *request, BOOL spyed);
    void(SPY_CALL *post_free)(void *self, BOOL spyed);
    SIZE_T(SPY_CALL *pre_realloc)(void *self, void *request, SIZE_T size, void **new_request, BOOL spyed);
    void *(SPY_CALL *post_realloc)(void *self, void *actual, BOOL spyed);
    void *(SPY_CALL *pre_get_size)(void *self, void *request, BOOL spyed);
    SIZE_T(SPY_CALL *post_get_size)(void *self, SIZE_T actual, BOOL spyed);
    void *(SPY_CALL *pre_did_alloc)(void *self, void *request, BOOL spyed);
    int(SPY_CALL *post_did_alloc)(void *self, void *request, BOOL spyed, int actual);
    void(SPY_CALL *pre_heap_minimize)(void *self);
    void(SPY_CALL *post_heap_minimize)(void *self);
};

/* What the core needs of a spy. Host tests implement the hooks below directly; the DLL registers with
 * task_register_vtable_spy instead (IMallocSpy), and then only acquire and release are used. `spy` is the pointer
 * acquire() returned. */
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

/* The diagnostics' end-of-process reports (nothing when they are off). process_exit: DllMain's detach at process
 * exit (reserved != NULL), when other threads are gone and may have died holding any lock: then no call into the
 * process heap is made, no lock is waited for, and OLE32MEM_LEAKS_EXITCODE may end the process. 0: an unload
 * (FreeLibrary), every thread still runs and the program goes on: the report never ends the process. */
void task_report_at_exit(int process_exit);
/* The checkpoint exports: with DIAG_COLLECT_REPORT reports the blocks outstanding since the last checkpoint and
 * returns their count (unsuppressed); with DIAG_COLLECT_MARK takes a checkpoint (diagnostics.h). 0 when the
 * diagnostics are off. */
size_t task_check_leaks(unsigned flags);

HRESULT task_register_spy(void *object, const struct spy_ops *ops);
/* The same for a spy that begins with a pointer to its vtable, which holds a struct spy_hooks hooks_in_vtable (> 0)
 * bytes in: the core calls the hooks there, one indirect call each, the vtable read at every call as COM's callers
 * do; ops->acquire and ops->release do the rest. */
HRESULT task_register_vtable_spy(void *object, const struct spy_ops *ops, size_t hooks_in_vtable);
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
