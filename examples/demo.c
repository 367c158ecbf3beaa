/*
 * ole32mem demo: the task allocator at work, then the same calls watched by an IMallocSpy that prints every hook.
 * Built against ole32mem (-lole32mem) by `make demo`, which runs it under wine on both arches.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "ole32mem_objidl.h"
#include <objbase.h>
#include <stdio.h>
#include <string.h>

#include "ole32mem.h"

/* A spy that logs every hook and changes nothing. */
struct logging_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refcount;
};

static struct logging_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct logging_spy, IMallocSpy_iface);
}

static HRESULT WINAPI spy_QueryInterface(IMallocSpy *iface, REFIID riid, void **obj)
{
    if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IMallocSpy))
    {
        *obj = iface;
        IMallocSpy_AddRef(iface);
        return S_OK;
    }
    *obj = NULL;
    return E_NOINTERFACE;
}

static ULONG WINAPI spy_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&impl_from_IMallocSpy(iface)->refcount);
}

static ULONG WINAPI spy_Release(IMallocSpy *iface)
{
    ULONG refcount = InterlockedDecrement(&impl_from_IMallocSpy(iface)->refcount);
    printf("    spy: Release -> %lu\n", refcount);
    return refcount;
}

static SIZE_T WINAPI spy_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    (void)iface;
    printf("    spy: PreAlloc(%lu)\n", (unsigned long)size);
    return size;
}

static void *WINAPI spy_PostAlloc(IMallocSpy *iface, void *actual)
{
    (void)iface;
    printf("    spy: PostAlloc(%p)\n", actual);
    return actual;
}

static void *WINAPI spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    printf("    spy: PreFree(%p, fSpyed=%d)\n", request, spyed);
    return request;
}

static void WINAPI spy_PostFree(IMallocSpy *iface, BOOL spyed)
{
    (void)iface;
    printf("    spy: PostFree(fSpyed=%d)\n", spyed);
}

static SIZE_T WINAPI spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    (void)iface;
    printf("    spy: PreRealloc(%p, %lu, fSpyed=%d)\n", request, (unsigned long)size, spyed);
    *new_request = request;
    return size;
}

static void *WINAPI spy_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    (void)iface;
    printf("    spy: PostRealloc(%p, fSpyed=%d)\n", actual, spyed);
    return actual;
}

static void *WINAPI spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    printf("    spy: PreGetSize(%p, fSpyed=%d)\n", request, spyed);
    return request;
}

static SIZE_T WINAPI spy_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    (void)iface;
    printf("    spy: PostGetSize(%lu, fSpyed=%d)\n", (unsigned long)actual, spyed);
    return actual;
}

static void *WINAPI spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    printf("    spy: PreDidAlloc(%p, fSpyed=%d)\n", request, spyed);
    return request;
}

static int WINAPI spy_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    (void)iface;
    printf("    spy: PostDidAlloc(%p, fSpyed=%d, fActual=%d)\n", request, spyed, actual);
    return actual;
}

static void WINAPI spy_PreHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
    printf("    spy: PreHeapMinimize\n");
}

static void WINAPI spy_PostHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
    printf("    spy: PostHeapMinimize\n");
}

static const IMallocSpyVtbl logging_spy_vtbl = {
    spy_QueryInterface, spy_AddRef,     spy_Release,        spy_PreAlloc,     spy_PostAlloc,
    spy_PreFree,        spy_PostFree,   spy_PreRealloc,     spy_PostRealloc,  spy_PreGetSize,
    spy_PostGetSize,    spy_PreDidAlloc, spy_PostDidAlloc,  spy_PreHeapMinimize, spy_PostHeapMinimize,
};

int main(void)
{
    struct logging_spy spy = {{(IMallocSpyVtbl *)&logging_spy_vtbl}, 1};
    IMalloc *allocator;
    HRESULT hr;
    char *before, *block;

    printf("ole32mem %lu.%lu.%lu (%s): COM task allocator demo\n", Ole32memGetVersion() >> 24,
           (Ole32memGetVersion() >> 16) & 0xff, (Ole32memGetVersion() >> 8) & 0xff,
           sizeof(void *) == 8 ? "x86_64" : "i686");

    hr = CoGetMalloc(MEMCTX_TASK, &allocator);
    printf("CoGetMalloc(MEMCTX_TASK) = %#lx, allocator %p\n", hr, (void *)allocator);
    if (FAILED(hr))
        return 1;

    before = CoTaskMemAlloc(27);
    strcpy(before, "allocated before the spy");
    printf("CoTaskMemAlloc(27) = %p, GetSize = %lu, DidAlloc = %d\n", before, (unsigned long)IMalloc_GetSize(allocator, before),
           IMalloc_DidAlloc(allocator, before));

    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    printf("\nCoRegisterMallocSpy = %#lx\n", hr);
    if (FAILED(hr))
        return 1;

    printf("CoTaskMemAlloc(16):\n");
    block = CoTaskMemAlloc(16);
    strcpy(block, "hello");
    printf("  -> %p\n", block);

    printf("CoTaskMemRealloc(%p, 4096):\n", block);
    block = CoTaskMemRealloc(block, 4096);
    printf("  -> %p, still \"%s\"\n", block, block);

    printf("IMalloc::GetSize:\n");
    printf("  -> %lu\n", (unsigned long)IMalloc_GetSize(allocator, block));

    printf("IMalloc::DidAlloc:\n");
    printf("  -> %d\n", IMalloc_DidAlloc(allocator, block));

    printf("CoRevokeMallocSpy with a spied block outstanding:\n");
    hr = CoRevokeMallocSpy();
    printf("  -> %#lx (E_ACCESSDENIED: the spy is released when its last block is freed)\n", hr);

    printf("CoTaskMemFree(block allocated before the spy):\n");
    CoTaskMemFree(before);

    printf("CoTaskMemFree(last spied block):\n");
    CoTaskMemFree(block);

    printf("CoRevokeMallocSpy again = %#lx (CO_E_OBJNOTREG: already gone)\n", CoRevokeMallocSpy());
    printf("spy reference count at exit: %ld\n", spy.refcount);
    return spy.refcount == 1 ? 0 : 1;
}
