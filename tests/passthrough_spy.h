/*
 * IMallocSpy methods that change nothing: each hook returns what it was given (PreRealloc keeps the block), and
 * QueryInterface answers the spy itself for IUnknown and IMallocSpy, with a reference taken through the spy's own
 * AddRef. The spies of the tests and the benchmark build their vtables from these and write only the methods they
 * watch (and their AddRef/Release, which know where the spy keeps its count).
 *
 * Include it after the header that defines IMallocSpy (ours or the SDK's).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PASSTHROUGH_SPY_H
#define OLE32MEM_PASSTHROUGH_SPY_H

static inline HRESULT STDMETHODCALLTYPE passthrough_QueryInterface(IMallocSpy *iface, REFIID riid, void **obj)
{
    BOOL known = IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IMallocSpy);

    *obj = known ? iface : NULL;
    if (known)
        iface->lpVtbl->AddRef(iface);
    return known ? S_OK : E_NOINTERFACE;
}

static inline SIZE_T STDMETHODCALLTYPE passthrough_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    (void)iface;
    return size;
}

static inline void *STDMETHODCALLTYPE passthrough_PostAlloc(IMallocSpy *iface, void *actual)
{
    (void)iface;
    return actual;
}

static inline void *STDMETHODCALLTYPE passthrough_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return request;
}

static inline void STDMETHODCALLTYPE passthrough_PostFree(IMallocSpy *iface, BOOL spyed)
{
    (void)iface;
    (void)spyed;
}

static inline SIZE_T STDMETHODCALLTYPE passthrough_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size,
                                                              void **new_request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    *new_request = request;
    return size;
}

static inline void *STDMETHODCALLTYPE passthrough_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return actual;
}

static inline void *STDMETHODCALLTYPE passthrough_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return request;
}

static inline SIZE_T STDMETHODCALLTYPE passthrough_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return actual;
}

static inline void *STDMETHODCALLTYPE passthrough_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return request;
}

static inline int STDMETHODCALLTYPE passthrough_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    (void)iface;
    (void)request;
    (void)spyed;
    return actual;
}

static inline void STDMETHODCALLTYPE passthrough_PreHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
}

static inline void STDMETHODCALLTYPE passthrough_PostHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
}

/* For a spy that is a static object, never destroyed: references are not counted. */
static inline ULONG STDMETHODCALLTYPE passthrough_static_AddRef(IMallocSpy *iface)
{
    (void)iface;
    return 2;
}

static inline ULONG STDMETHODCALLTYPE passthrough_static_Release(IMallocSpy *iface)
{
    (void)iface;
    return 1;
}

/* The whole vtable of a static spy that changes nothing: `static const IMallocSpyVtbl v = PASSTHROUGH_SPY_VTBL;` */
#define PASSTHROUGH_SPY_VTBL                                                                                           \
    {                                                                                                                  \
        passthrough_QueryInterface, passthrough_static_AddRef, passthrough_static_Release, passthrough_PreAlloc,       \
            passthrough_PostAlloc, passthrough_PreFree, passthrough_PostFree, passthrough_PreRealloc,                  \
            passthrough_PostRealloc, passthrough_PreGetSize, passthrough_PostGetSize, passthrough_PreDidAlloc,         \
            passthrough_PostDidAlloc, passthrough_PreHeapMinimize, passthrough_PostHeapMinimize,                       \
    }

#endif /* OLE32MEM_PASSTHROUGH_SPY_H */
