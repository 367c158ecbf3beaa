/*
 * The SDK's half of tests/abi.c: this file sees only mingw-w64's own <objidl.h> (the two definitions of IMalloc
 * cannot meet in one translation unit) and exports what it measures there, in the same form abi.c measures our
 * generated header: a table of named numbers (vtable offsets, struct sizes, sizes and signedness of the spy
 * methods' SIZE_T results, whether each method has the expected prototype) and a small IMallocSpy written against
 * the SDK's vtable type, which abi.c registers through ole32mem to prove at run time that the layouts agree.
 *
 * Nothing here includes ole32mem's headers; nothing here calls the allocator itself.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define CONST_VTABLE
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <objbase.h>
#include <objidl.h>

#include <stddef.h>

#ifdef __ole32mem_objidl_h__
#error "abi_sdk.c must see the SDK's objidl.h only"
#endif

#include "abi_layout.h"
#include "passthrough_spy.h"

const struct abi_value abi_sdk_values[] = {ABI_LAYOUT_VALUES};

const size_t abi_sdk_count = sizeof(abi_sdk_values) / sizeof(abi_sdk_values[0]);

/* The IIDs as the SDK names them (libuuid's definitions). */
const IID *const abi_sdk_iid_imalloc = &IID_IMalloc;
const IID *const abi_sdk_iid_imallocspy = &IID_IMallocSpy;

/* A pass-through spy built on the SDK's IMallocSpyVtbl. abi.c registers it with ole32mem: if the SDK's vtable and
 * ours disagreed, the allocator would call the wrong slots and the counts below would not come out. */
struct sdk_spy_counts sdk_spy_counts;

static ULONG STDMETHODCALLTYPE sdk_spy_AddRef(IMallocSpy *iface)
{
    (void)iface;
    return InterlockedIncrement(&sdk_spy_counts.refs);
}

static ULONG STDMETHODCALLTYPE sdk_spy_Release(IMallocSpy *iface)
{
    (void)iface;
    return InterlockedDecrement(&sdk_spy_counts.refs);
}

static SIZE_T STDMETHODCALLTYPE sdk_spy_PreAlloc(IMallocSpy *iface, SIZE_T request)
{
    (void)iface;
    sdk_spy_counts.pre_alloc++;
    sdk_spy_counts.last_request = request;
    return request;
}

static void *STDMETHODCALLTYPE sdk_spy_PostAlloc(IMallocSpy *iface, void *actual)
{
    (void)iface;
    sdk_spy_counts.post_alloc++;
    return actual;
}

static void *STDMETHODCALLTYPE sdk_spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    sdk_spy_counts.pre_free++;
    return request;
}

static void STDMETHODCALLTYPE sdk_spy_PostFree(IMallocSpy *iface, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    sdk_spy_counts.post_free++;
}

static void *STDMETHODCALLTYPE sdk_spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    sdk_spy_counts.pre_get_size++;
    return request;
}

static SIZE_T STDMETHODCALLTYPE sdk_spy_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    sdk_spy_counts.post_get_size++;
    return actual;
}

static const IMallocSpyVtbl sdk_spy_vtbl = {
    passthrough_QueryInterface,
    sdk_spy_AddRef,
    sdk_spy_Release,
    sdk_spy_PreAlloc,
    sdk_spy_PostAlloc,
    sdk_spy_PreFree,
    sdk_spy_PostFree,
    passthrough_PreRealloc,
    passthrough_PostRealloc,
    sdk_spy_PreGetSize,
    sdk_spy_PostGetSize,
    passthrough_PreDidAlloc,
    passthrough_PostDidAlloc,
    passthrough_PreHeapMinimize,
    passthrough_PostHeapMinimize,
};

static IMallocSpy sdk_spy = {&sdk_spy_vtbl};

/* Returned as void *: abi.c hands it to CoRegisterMallocSpy under its own (our) type. */
void *sdk_spy_object(void)
{
    return &sdk_spy;
}

/* Calls IMalloc::Alloc, GetSize and Free through the SDK's vtable type on an allocator abi.c got from CoGetMalloc. */
SIZE_T sdk_malloc_roundtrip(void *allocator, SIZE_T size)
{
    IMalloc *imalloc = allocator;
    void *block = IMalloc_Alloc(imalloc, size);
    SIZE_T result;

    if (!block)
        return (SIZE_T)-2;
    result = IMalloc_GetSize(imalloc, block);
    IMalloc_Free(imalloc, block);
    return result;
}
