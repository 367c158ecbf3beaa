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

/* Same layout as in abi.c. */
struct abi_value
{
    const char *name;
    size_t value;
};

/* Result size and "is unsigned" of a method, measured on an unevaluated call. */
#define RESULT_SIZE(vtbl, method, ...) sizeof(__typeof__(((vtbl *)0)->method(__VA_ARGS__)))
#define RESULT_UNSIGNED(vtbl, method, ...) ((__typeof__(((vtbl *)0)->method(__VA_ARGS__)))-1 > 0)

#define OFFSET(vtbl, method) {#vtbl "." #method, offsetof(vtbl, method)}

/* 1 when the member has exactly this function-pointer type (calling convention included). */
#define HAS_TYPE(vtbl, method, type) {#vtbl "." #method ".type", _Generic(((vtbl *)0)->method, type: 1, default: 0)}

#define SPY_PARAMS IMallocSpy *
#define MALLOC_PARAMS IMalloc *

const struct abi_value abi_sdk_values[] = {
    OFFSET(IMallocVtbl, QueryInterface),
    OFFSET(IMallocVtbl, AddRef),
    OFFSET(IMallocVtbl, Release),
    OFFSET(IMallocVtbl, Alloc),
    OFFSET(IMallocVtbl, Realloc),
    OFFSET(IMallocVtbl, Free),
    OFFSET(IMallocVtbl, GetSize),
    OFFSET(IMallocVtbl, DidAlloc),
    OFFSET(IMallocVtbl, HeapMinimize),
    {"sizeof(IMallocVtbl)", sizeof(IMallocVtbl)},
    {"sizeof(IMalloc)", sizeof(IMalloc)},
    {"offsetof(IMalloc, lpVtbl)", offsetof(IMalloc, lpVtbl)},

    OFFSET(IMallocSpyVtbl, QueryInterface),
    OFFSET(IMallocSpyVtbl, AddRef),
    OFFSET(IMallocSpyVtbl, Release),
    OFFSET(IMallocSpyVtbl, PreAlloc),
    OFFSET(IMallocSpyVtbl, PostAlloc),
    OFFSET(IMallocSpyVtbl, PreFree),
    OFFSET(IMallocSpyVtbl, PostFree),
    OFFSET(IMallocSpyVtbl, PreRealloc),
    OFFSET(IMallocSpyVtbl, PostRealloc),
    OFFSET(IMallocSpyVtbl, PreGetSize),
    OFFSET(IMallocSpyVtbl, PostGetSize),
    OFFSET(IMallocSpyVtbl, PreDidAlloc),
    OFFSET(IMallocSpyVtbl, PostDidAlloc),
    OFFSET(IMallocSpyVtbl, PreHeapMinimize),
    OFFSET(IMallocSpyVtbl, PostHeapMinimize),
    {"sizeof(IMallocSpyVtbl)", sizeof(IMallocSpyVtbl)},
    {"sizeof(IMallocSpy)", sizeof(IMallocSpy)},
    {"offsetof(IMallocSpy, lpVtbl)", offsetof(IMallocSpy, lpVtbl)},

    {"IMalloc.Alloc.result.size", RESULT_SIZE(IMallocVtbl, Alloc, NULL, 0)},
    {"IMalloc.GetSize.result.size", RESULT_SIZE(IMallocVtbl, GetSize, NULL, NULL)},
    {"IMalloc.GetSize.result.unsigned", RESULT_UNSIGNED(IMallocVtbl, GetSize, NULL, NULL)},
    {"IMallocSpy.PreAlloc.result.size", RESULT_SIZE(IMallocSpyVtbl, PreAlloc, NULL, 0)},
    {"IMallocSpy.PreAlloc.result.unsigned", RESULT_UNSIGNED(IMallocSpyVtbl, PreAlloc, NULL, 0)},
    {"IMallocSpy.PreRealloc.result.size", RESULT_SIZE(IMallocSpyVtbl, PreRealloc, NULL, NULL, 0, NULL, FALSE)},
    {"IMallocSpy.PreRealloc.result.unsigned",
     RESULT_UNSIGNED(IMallocSpyVtbl, PreRealloc, NULL, NULL, 0, NULL, FALSE)},
    {"IMallocSpy.PostGetSize.result.size", RESULT_SIZE(IMallocSpyVtbl, PostGetSize, NULL, 0, FALSE)},
    {"IMallocSpy.PostGetSize.result.unsigned", RESULT_UNSIGNED(IMallocSpyVtbl, PostGetSize, NULL, 0, FALSE)},
    {"IMallocSpy.PostDidAlloc.result.size", RESULT_SIZE(IMallocSpyVtbl, PostDidAlloc, NULL, NULL, FALSE, 0)},

    HAS_TYPE(IMallocVtbl, Alloc, void *(STDMETHODCALLTYPE *)(MALLOC_PARAMS, SIZE_T)),
    HAS_TYPE(IMallocVtbl, Realloc, void *(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *, SIZE_T)),
    HAS_TYPE(IMallocVtbl, Free, void(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *)),
    HAS_TYPE(IMallocVtbl, GetSize, SIZE_T(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *)),
    HAS_TYPE(IMallocVtbl, DidAlloc, int(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *)),
    HAS_TYPE(IMallocVtbl, HeapMinimize, void(STDMETHODCALLTYPE *)(MALLOC_PARAMS)),
    HAS_TYPE(IMallocSpyVtbl, PreAlloc, SIZE_T(STDMETHODCALLTYPE *)(SPY_PARAMS, SIZE_T)),
    HAS_TYPE(IMallocSpyVtbl, PostAlloc, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *)),
    HAS_TYPE(IMallocSpyVtbl, PreFree, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)),
    HAS_TYPE(IMallocSpyVtbl, PostFree, void(STDMETHODCALLTYPE *)(SPY_PARAMS, BOOL)),
    HAS_TYPE(IMallocSpyVtbl, PreRealloc, SIZE_T(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, SIZE_T, void **, BOOL)),
    HAS_TYPE(IMallocSpyVtbl, PostRealloc, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)),
    HAS_TYPE(IMallocSpyVtbl, PreGetSize, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)),
    HAS_TYPE(IMallocSpyVtbl, PostGetSize, SIZE_T(STDMETHODCALLTYPE *)(SPY_PARAMS, SIZE_T, BOOL)),
    HAS_TYPE(IMallocSpyVtbl, PreDidAlloc, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)),
    HAS_TYPE(IMallocSpyVtbl, PostDidAlloc, int(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL, int)),
    HAS_TYPE(IMallocSpyVtbl, PreHeapMinimize, void(STDMETHODCALLTYPE *)(SPY_PARAMS)),
    HAS_TYPE(IMallocSpyVtbl, PostHeapMinimize, void(STDMETHODCALLTYPE *)(SPY_PARAMS)),
};

const size_t abi_sdk_count = sizeof(abi_sdk_values) / sizeof(abi_sdk_values[0]);

/* The IIDs as the SDK names them (libuuid's definitions). */
const IID *const abi_sdk_iid_imalloc = &IID_IMalloc;
const IID *const abi_sdk_iid_imallocspy = &IID_IMallocSpy;

/* A pass-through spy built on the SDK's IMallocSpyVtbl. abi.c registers it with ole32mem: if the SDK's vtable and
 * ours disagreed, the allocator would call the wrong slots and the counts below would not come out. */
struct sdk_spy_counts
{
    LONG refs, pre_alloc, post_alloc, pre_free, post_free, pre_get_size, post_get_size;
    SIZE_T last_request;
};

struct sdk_spy_counts sdk_spy_counts;

static HRESULT STDMETHODCALLTYPE sdk_spy_QueryInterface(IMallocSpy *iface, REFIID riid, void **obj)
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

static SIZE_T STDMETHODCALLTYPE sdk_spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request,
                                                   BOOL spyed)
{
    (void)iface;
    (void)spyed;
    *new_request = request;
    return size;
}

static void *STDMETHODCALLTYPE sdk_spy_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return actual;
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

static void *STDMETHODCALLTYPE sdk_spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return request;
}

static int STDMETHODCALLTYPE sdk_spy_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    (void)iface;
    (void)request;
    (void)spyed;
    return actual;
}

static void STDMETHODCALLTYPE sdk_spy_PreHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
}

static void STDMETHODCALLTYPE sdk_spy_PostHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
}

static const IMallocSpyVtbl sdk_spy_vtbl = {
    sdk_spy_QueryInterface, sdk_spy_AddRef,          sdk_spy_Release,          sdk_spy_PreAlloc,
    sdk_spy_PostAlloc,      sdk_spy_PreFree,         sdk_spy_PostFree,         sdk_spy_PreRealloc,
    sdk_spy_PostRealloc,    sdk_spy_PreGetSize,      sdk_spy_PostGetSize,      sdk_spy_PreDidAlloc,
    sdk_spy_PostDidAlloc,   sdk_spy_PreHeapMinimize, sdk_spy_PostHeapMinimize,
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
