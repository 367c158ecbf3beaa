/*
 * The counting spy of the thread tests (tests/stress.c, tests/soak/soak.c): it passes everything through, counts the
 * blocks it saw become spied (PostAlloc, PostRealloc of a block that was not spied: `allocated`) and the spied blocks
 * it saw go (PreFree with fSpyed TRUE: `freed`), so that once every block is freed and the spy released the two
 * balance exactly. Every hook also checks that its spy has not had its final Release, that each Post closes the Pre
 * its thread opened last on the same spy (hook_log.h's pairing checker), and that no two threads are ever between a
 * Pre and its Post at once (docs/semantics.md rule 40); the errors are counted in hooks_after_release,
 * pairing_errors and overlap_errors. `alive`, when set, is decremented at the final Release.
 *
 * Include it after hook_log.h and passthrough_spy.h, in one file of a program.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_COUNT_SPY_H
#define OLE32MEM_COUNT_SPY_H

struct count_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refs, released, allocated, freed, refused_refs;
    volatile LONG *alive; /* decremented at the final Release, when set */
};

/* Errors seen by any hook on any spy. */
static LONG hooks_after_release, pairing_errors, overlap_errors;
/* Threads currently between a Pre hook and its Post. */
static LONG inside_pairs;

/* The Pre hook this thread has open (hook_log.h's pairing checker; it keeps PreRealloc's fSpyed for PostRealloc), and
 * on which spy. */
static __thread struct hook_pairs open_pairs;
static __thread struct count_spy *open_spy;

static inline struct count_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct count_spy, IMallocSpy_iface);
}

/* The counting spy's hooks never call the allocator: a Pre while this thread has one open is a pairing error. */
static void hook_pre(struct count_spy *spy, enum hook pre, BOOL spyed)
{
    struct hook_frame frame = {pre, NULL, 0, 0, spyed};

    if (spy->released)
        InterlockedIncrement(&hooks_after_release);
    if (open_pairs.depth || !hook_pairs_open(&open_pairs, frame))
        InterlockedIncrement(&pairing_errors);
    open_spy = spy;
    if (InterlockedIncrement(&inside_pairs) != 1)
        InterlockedIncrement(&overlap_errors);
}

/* Returns whether the Pre this Post closes was given a spied block. */
static BOOL hook_post(struct count_spy *spy, enum hook post)
{
    const struct hook_frame *pre = hook_pairs_close(&open_pairs, post);
    BOOL spyed = pre && pre->spyed;

    if (spy->released)
        InterlockedIncrement(&hooks_after_release);
    if (!pre || open_spy != spy)
        InterlockedIncrement(&pairing_errors);
    open_pairs.depth = 0;
    open_spy = NULL;
    InterlockedDecrement(&inside_pairs);
    return spyed;
}

static ULONG STDMETHODCALLTYPE spy_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&impl_from_IMallocSpy(iface)->refs);
}

static ULONG STDMETHODCALLTYPE spy_Release(IMallocSpy *iface)
{
    struct count_spy *spy = impl_from_IMallocSpy(iface);
    LONG refs = InterlockedDecrement(&spy->refs);

    if (!refs)
    {
        InterlockedExchange(&spy->released, 1);
        if (spy->alive)
            InterlockedDecrement(spy->alive);
    }
    return refs;
}

static SIZE_T STDMETHODCALLTYPE spy_PreAlloc(IMallocSpy *iface, SIZE_T request)
{
    hook_pre(impl_from_IMallocSpy(iface), HOOK_PRE_ALLOC, FALSE);
    return request;
}

static void *STDMETHODCALLTYPE spy_PostAlloc(IMallocSpy *iface, void *actual)
{
    struct count_spy *spy = impl_from_IMallocSpy(iface);

    hook_post(spy, HOOK_POST_ALLOC);
    if (actual)
        InterlockedIncrement(&spy->allocated);
    return actual;
}

static void *STDMETHODCALLTYPE spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    struct count_spy *spy = impl_from_IMallocSpy(iface);

    hook_pre(spy, HOOK_PRE_FREE, spyed);
    if (spyed)
        InterlockedIncrement(&spy->freed);
    return request;
}

static void STDMETHODCALLTYPE spy_PostFree(IMallocSpy *iface, BOOL spyed)
{
    (void)spyed;
    hook_post(impl_from_IMallocSpy(iface), HOOK_POST_FREE);
}

static SIZE_T STDMETHODCALLTYPE spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request,
                                               BOOL spyed)
{
    hook_pre(impl_from_IMallocSpy(iface), HOOK_PRE_REALLOC, spyed);
    *new_request = request;
    return size;
}

static void *STDMETHODCALLTYPE spy_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    struct count_spy *spy = impl_from_IMallocSpy(iface);
    BOOL was_spyed = hook_post(spy, HOOK_POST_REALLOC);

    (void)spyed;
    /* A block that was not spied becomes spied; a spied one stays spied (moved or not, failed or not). */
    if (actual && !was_spyed)
        InterlockedIncrement(&spy->allocated);
    return actual;
}

static void *STDMETHODCALLTYPE spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    hook_pre(impl_from_IMallocSpy(iface), HOOK_PRE_GET_SIZE, spyed);
    return request;
}

static SIZE_T STDMETHODCALLTYPE spy_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    (void)spyed;
    hook_post(impl_from_IMallocSpy(iface), HOOK_POST_GET_SIZE);
    return actual;
}

static void *STDMETHODCALLTYPE spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    hook_pre(impl_from_IMallocSpy(iface), HOOK_PRE_DID_ALLOC, spyed);
    return request;
}

static int STDMETHODCALLTYPE spy_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    (void)request;
    (void)spyed;
    hook_post(impl_from_IMallocSpy(iface), HOOK_POST_DID_ALLOC);
    return actual;
}

static void STDMETHODCALLTYPE spy_PreHeapMinimize(IMallocSpy *iface)
{
    hook_pre(impl_from_IMallocSpy(iface), HOOK_PRE_HEAP_MINIMIZE, FALSE);
}

static void STDMETHODCALLTYPE spy_PostHeapMinimize(IMallocSpy *iface)
{
    hook_post(impl_from_IMallocSpy(iface), HOOK_POST_HEAP_MINIMIZE);
}

static const IMallocSpyVtbl spy_vtbl = {
    passthrough_QueryInterface,
    spy_AddRef,
    spy_Release,
    spy_PreAlloc,
    spy_PostAlloc,
    spy_PreFree,
    spy_PostFree,
    spy_PreRealloc,
    spy_PostRealloc,
    spy_PreGetSize,
    spy_PostGetSize,
    spy_PreDidAlloc,
    spy_PostDidAlloc,
    spy_PreHeapMinimize,
    spy_PostHeapMinimize,
};

#endif /* OLE32MEM_COUNT_SPY_H */
