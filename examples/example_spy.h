/*
 * examples/example_spy.h: the IMallocSpy both examples register, kept in one place so that each example reads as
 * what it does with the spy. Include it after ole32mem_objidl.h and <objbase.h>.
 *
 * The spy changes nothing: every hook hands its data through, so that it may watch any program. It counts the hooks
 * of each kind (calls[], indexed by enum spy_hook) and, when `verbose` is set, prints each one as it comes. Its
 * reference count is a real one: CoRegisterMallocSpy takes a reference through QueryInterface, and the allocator
 * drops it when the spy is revoked, or later, when the last block allocated under it is freed. The counters are
 * updated with Interlocked calls: the allocator may call a spy from any thread.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_EXAMPLE_SPY_H
#define OLE32MEM_EXAMPLE_SPY_H

#include <stdarg.h>
#include <stdio.h>

enum spy_hook
{
    SPY_PRE_ALLOC,
    SPY_POST_ALLOC,
    SPY_PRE_FREE,
    SPY_POST_FREE,
    SPY_PRE_REALLOC,
    SPY_POST_REALLOC,
    SPY_PRE_GET_SIZE,
    SPY_POST_GET_SIZE,
    SPY_PRE_DID_ALLOC,
    SPY_POST_DID_ALLOC,
    SPY_PRE_HEAP_MINIMIZE,
    SPY_POST_HEAP_MINIMIZE,
    SPY_HOOK_KINDS,
};

struct example_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refs;
    BOOL verbose;
    LONG calls[SPY_HOOK_KINDS];
};

static struct example_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct example_spy, IMallocSpy_iface);
}

/* Every hook comes through here: count it, and print "spy: <what it got>" when verbose. */
static void spy_saw(IMallocSpy *iface, enum spy_hook hook, const char *format, ...)
{
    struct example_spy *spy = impl_from_IMallocSpy(iface);
    va_list args;

    InterlockedIncrement(&spy->calls[hook]);
    if (!spy->verbose)
        return;
    va_start(args, format);
    printf("    spy: ");
    vprintf(format, args);
    printf("\n");
    va_end(args);
}

static HRESULT WINAPI spy_QueryInterface(IMallocSpy *iface, REFIID riid, void **obj)
{
    BOOL known = IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IMallocSpy);

    *obj = known ? iface : NULL;
    if (known)
        IMallocSpy_AddRef(iface);
    return known ? S_OK : E_NOINTERFACE;
}

static ULONG WINAPI spy_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&impl_from_IMallocSpy(iface)->refs);
}

static ULONG WINAPI spy_Release(IMallocSpy *iface)
{
    LONG refs = InterlockedDecrement(&impl_from_IMallocSpy(iface)->refs);

    if (impl_from_IMallocSpy(iface)->verbose)
        printf("    spy: Release -> %ld\n", refs);
    return refs;
}

static SIZE_T WINAPI spy_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    spy_saw(iface, SPY_PRE_ALLOC, "PreAlloc(%lu)", (unsigned long)size);
    return size;
}

static void *WINAPI spy_PostAlloc(IMallocSpy *iface, void *actual)
{
    spy_saw(iface, SPY_POST_ALLOC, "PostAlloc(%p)", actual);
    return actual;
}

static void *WINAPI spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    spy_saw(iface, SPY_PRE_FREE, "PreFree(%p, fSpyed=%d)", request, spyed);
    return request;
}

static void WINAPI spy_PostFree(IMallocSpy *iface, BOOL spyed)
{
    spy_saw(iface, SPY_POST_FREE, "PostFree(fSpyed=%d)", spyed);
}

/* The block stays where it is (*new_request = request) and gets the size asked for. */
static SIZE_T WINAPI spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    spy_saw(iface, SPY_PRE_REALLOC, "PreRealloc(%p, %lu, fSpyed=%d)", request, (unsigned long)size, spyed);
    *new_request = request;
    return size;
}

static void *WINAPI spy_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    spy_saw(iface, SPY_POST_REALLOC, "PostRealloc(%p, fSpyed=%d)", actual, spyed);
    return actual;
}

static void *WINAPI spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    spy_saw(iface, SPY_PRE_GET_SIZE, "PreGetSize(%p, fSpyed=%d)", request, spyed);
    return request;
}

static SIZE_T WINAPI spy_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    spy_saw(iface, SPY_POST_GET_SIZE, "PostGetSize(%lu, fSpyed=%d)", (unsigned long)actual, spyed);
    return actual;
}

static void *WINAPI spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    spy_saw(iface, SPY_PRE_DID_ALLOC, "PreDidAlloc(%p, fSpyed=%d)", request, spyed);
    return request;
}

static int WINAPI spy_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    spy_saw(iface, SPY_POST_DID_ALLOC, "PostDidAlloc(%p, fSpyed=%d, fActual=%d)", request, spyed, actual);
    return actual;
}

static void WINAPI spy_PreHeapMinimize(IMallocSpy *iface)
{
    spy_saw(iface, SPY_PRE_HEAP_MINIMIZE, "PreHeapMinimize");
}

static void WINAPI spy_PostHeapMinimize(IMallocSpy *iface)
{
    spy_saw(iface, SPY_POST_HEAP_MINIMIZE, "PostHeapMinimize");
}

static const IMallocSpyVtbl example_spy_vtbl = {
    spy_QueryInterface, spy_AddRef,      spy_Release,      spy_PreAlloc,        spy_PostAlloc,
    spy_PreFree,        spy_PostFree,    spy_PreRealloc,   spy_PostRealloc,     spy_PreGetSize,
    spy_PostGetSize,    spy_PreDidAlloc, spy_PostDidAlloc, spy_PreHeapMinimize, spy_PostHeapMinimize,
};

#endif /* OLE32MEM_EXAMPLE_SPY_H */
