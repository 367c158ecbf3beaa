/*
 * What tests/abi.c compares: the measurements of IMalloc and IMallocSpy that abi.c takes of ole32mem's generated
 * header and abi_sdk.c of the SDK's <objidl.h> (the two cannot meet in one translation unit). Each file includes
 * this after its own interface definitions and expands ABI_LAYOUT_VALUES into its table, so both measure exactly
 * the same names the same way.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_ABI_LAYOUT_H
#define OLE32MEM_ABI_LAYOUT_H

#include <stddef.h>

struct abi_value
{
    const char *name;
    size_t value;
};

/* Counts kept by abi_sdk.c's pass-through spy, written against the SDK's vtable type. */
struct sdk_spy_counts
{
    LONG refs, pre_alloc, post_alloc, pre_free, post_free, pre_get_size, post_get_size;
    SIZE_T last_request;
};

/* Result size and "is unsigned" of a method, measured on an unevaluated call. */
#define RESULT_SIZE(vtbl, method, ...) sizeof(__typeof__(((vtbl *)0)->method(__VA_ARGS__)))
#define RESULT_UNSIGNED(vtbl, method, ...) ((__typeof__(((vtbl *)0)->method(__VA_ARGS__)))-1 > 0)

#define OFFSET(vtbl, method) {#vtbl "." #method, offsetof(vtbl, method)}

/* 1 when the member has exactly this function-pointer type (calling convention included). */
#define HAS_TYPE(vtbl, method, type) {#vtbl "." #method ".type", _Generic(((vtbl *)0)->method, type: 1, default: 0)}

#define SPY_PARAMS IMallocSpy *
#define MALLOC_PARAMS IMalloc *

#define ABI_LAYOUT_VALUES \
    OFFSET(IMallocVtbl, QueryInterface), \
    OFFSET(IMallocVtbl, AddRef), \
    OFFSET(IMallocVtbl, Release), \
    OFFSET(IMallocVtbl, Alloc), \
    OFFSET(IMallocVtbl, Realloc), \
    OFFSET(IMallocVtbl, Free), \
    OFFSET(IMallocVtbl, GetSize), \
    OFFSET(IMallocVtbl, DidAlloc), \
    OFFSET(IMallocVtbl, HeapMinimize), \
    {"sizeof(IMallocVtbl)", sizeof(IMallocVtbl)}, \
    {"sizeof(IMalloc)", sizeof(IMalloc)}, \
    {"offsetof(IMalloc, lpVtbl)", offsetof(IMalloc, lpVtbl)}, \
 \
    OFFSET(IMallocSpyVtbl, QueryInterface), \
    OFFSET(IMallocSpyVtbl, AddRef), \
    OFFSET(IMallocSpyVtbl, Release), \
    OFFSET(IMallocSpyVtbl, PreAlloc), \
    OFFSET(IMallocSpyVtbl, PostAlloc), \
    OFFSET(IMallocSpyVtbl, PreFree), \
    OFFSET(IMallocSpyVtbl, PostFree), \
    OFFSET(IMallocSpyVtbl, PreRealloc), \
    OFFSET(IMallocSpyVtbl, PostRealloc), \
    OFFSET(IMallocSpyVtbl, PreGetSize), \
    OFFSET(IMallocSpyVtbl, PostGetSize), \
    OFFSET(IMallocSpyVtbl, PreDidAlloc), \
    OFFSET(IMallocSpyVtbl, PostDidAlloc), \
    OFFSET(IMallocSpyVtbl, PreHeapMinimize), \
    OFFSET(IMallocSpyVtbl, PostHeapMinimize), \
    {"sizeof(IMallocSpyVtbl)", sizeof(IMallocSpyVtbl)}, \
    {"sizeof(IMallocSpy)", sizeof(IMallocSpy)}, \
    {"offsetof(IMallocSpy, lpVtbl)", offsetof(IMallocSpy, lpVtbl)}, \
 \
    {"IMalloc.Alloc.result.size", RESULT_SIZE(IMallocVtbl, Alloc, NULL, 0)}, \
    {"IMalloc.GetSize.result.size", RESULT_SIZE(IMallocVtbl, GetSize, NULL, NULL)}, \
    {"IMalloc.GetSize.result.unsigned", RESULT_UNSIGNED(IMallocVtbl, GetSize, NULL, NULL)}, \
    {"IMallocSpy.PreAlloc.result.size", RESULT_SIZE(IMallocSpyVtbl, PreAlloc, NULL, 0)}, \
    {"IMallocSpy.PreAlloc.result.unsigned", RESULT_UNSIGNED(IMallocSpyVtbl, PreAlloc, NULL, 0)}, \
    {"IMallocSpy.PreRealloc.result.size", RESULT_SIZE(IMallocSpyVtbl, PreRealloc, NULL, NULL, 0, NULL, FALSE)}, \
    {"IMallocSpy.PreRealloc.result.unsigned", \
     RESULT_UNSIGNED(IMallocSpyVtbl, PreRealloc, NULL, NULL, 0, NULL, FALSE)}, \
    {"IMallocSpy.PostGetSize.result.size", RESULT_SIZE(IMallocSpyVtbl, PostGetSize, NULL, 0, FALSE)}, \
    {"IMallocSpy.PostGetSize.result.unsigned", RESULT_UNSIGNED(IMallocSpyVtbl, PostGetSize, NULL, 0, FALSE)}, \
    {"IMallocSpy.PostDidAlloc.result.size", RESULT_SIZE(IMallocSpyVtbl, PostDidAlloc, NULL, NULL, FALSE, 0)}, \
 \
    HAS_TYPE(IMallocVtbl, Alloc, void *(STDMETHODCALLTYPE *)(MALLOC_PARAMS, SIZE_T)), \
    HAS_TYPE(IMallocVtbl, Realloc, void *(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *, SIZE_T)), \
    HAS_TYPE(IMallocVtbl, Free, void(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *)), \
    HAS_TYPE(IMallocVtbl, GetSize, SIZE_T(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *)), \
    HAS_TYPE(IMallocVtbl, DidAlloc, int(STDMETHODCALLTYPE *)(MALLOC_PARAMS, void *)), \
    HAS_TYPE(IMallocVtbl, HeapMinimize, void(STDMETHODCALLTYPE *)(MALLOC_PARAMS)), \
    HAS_TYPE(IMallocSpyVtbl, PreAlloc, SIZE_T(STDMETHODCALLTYPE *)(SPY_PARAMS, SIZE_T)), \
    HAS_TYPE(IMallocSpyVtbl, PostAlloc, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *)), \
    HAS_TYPE(IMallocSpyVtbl, PreFree, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)), \
    HAS_TYPE(IMallocSpyVtbl, PostFree, void(STDMETHODCALLTYPE *)(SPY_PARAMS, BOOL)), \
    HAS_TYPE(IMallocSpyVtbl, PreRealloc, SIZE_T(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, SIZE_T, void **, BOOL)), \
    HAS_TYPE(IMallocSpyVtbl, PostRealloc, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)), \
    HAS_TYPE(IMallocSpyVtbl, PreGetSize, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)), \
    HAS_TYPE(IMallocSpyVtbl, PostGetSize, SIZE_T(STDMETHODCALLTYPE *)(SPY_PARAMS, SIZE_T, BOOL)), \
    HAS_TYPE(IMallocSpyVtbl, PreDidAlloc, void *(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL)), \
    HAS_TYPE(IMallocSpyVtbl, PostDidAlloc, int(STDMETHODCALLTYPE *)(SPY_PARAMS, void *, BOOL, int)), \
    HAS_TYPE(IMallocSpyVtbl, PreHeapMinimize, void(STDMETHODCALLTYPE *)(SPY_PARAMS)), \
    HAS_TYPE(IMallocSpyVtbl, PostHeapMinimize, void(STDMETHODCALLTYPE *)(SPY_PARAMS))

#endif /* OLE32MEM_ABI_LAYOUT_H */
