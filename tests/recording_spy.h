/*
 * The conformance tests' recording IMallocSpy: one configurable spy object that records every hook call with its
 * arguments in the vocabulary of tests/hook_log.h, so that a test states the exact sequence it expects:
 *
 *     check_log(&spy, PRE_ALLOC(27), POST_ALLOC(block));
 *
 * The same object also checks, on every call, that no hook comes after its final Release and that every Post hook
 * closes the Pre hook opened last (hook_pairs); finish_spy() checks that at the end of a test, with the references
 * and that no spy is left registered. What it can do besides recording: refuse Alloc/Realloc (PreAlloc/PreRealloc
 * answer 0), ask for more than requested, put a header in front of every block as Windows' spies are written
 * (docs/semantics.md rules 29 and 30), redirect GetSize/DidAlloc, and call the allocator from inside its hooks
 * (re-entrancy, as WIL's spy does). Behaviour switches are plain fields set between spy_init() and registration.
 *
 * Single-threaded: the spy's own state is not locked (the allocator serialises its hooks; the re-entrant calls come
 * on the hook's own thread). Must never allocate through the task allocator outside a re-entrant hook, which would
 * record itself. Wine side only: it names COM (include after ole32mem_objidl.h and <objbase.h>).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_RECORDING_SPY_H
#define OLE32MEM_RECORDING_SPY_H

#include "hook_log.h"
#include "test.h"

/* Room a header spy puts in front of each block; a multiple of MEMORY_ALLOCATION_ALIGNMENT on both arches. */
#define HEADER_SIZE 16
#define HEADER_MAGIC 0x5059534dUL /* "MSYP" */
#define MAX_LOG 32

struct test_spy
{
    IMallocSpy IMallocSpy_iface;

    /* References: QueryInterface and AddRef take one, Release drops one. The test's own use is not counted. */
    LONG refs, qi_calls, qi_spy_calls, addref_calls, release_calls, over_releases;
    BOOL refuse_qi;
    /* When set, QueryInterface(IID_IMallocSpy) answers this other spy (with a reference on it). */
    struct test_spy *qi_target;
    BOOL released;
    LONG calls_after_release;

    /* Behaviour. */
    BOOL fail_alloc, fail_realloc;     /* PreAlloc / PreRealloc answer 0 */
    SIZE_T alloc_extra, realloc_extra; /* added to the PreAlloc / PreRealloc answer, without a header */
    BOOL header;                       /* a header spy, as Windows' spies are written ([SAMPLE]) */
    void *redirect;                    /* PreGetSize and PreDidAlloc answer this instead of the request */
    BOOL reentrant;                    /* hooks call the allocator on their own thread */

    /* Header spy: what PreRealloc saw, for PostRealloc (Pre to Post is atomic). */
    BOOL realloc_had_header;
    SIZE_T realloc_request;
    LONG header_errors;

    /* Re-entrancy: nesting > 0 while a hook body calls the allocator; those calls are counted, not logged. */
    LONG nesting, nested_calls, nested_errors;
    SIZE_T sizes_in_pre_free[MAX_LOG], size_in_pre_realloc;
    unsigned int pre_free_count;
    int did_alloc_in_pre_heap_minimize;

    /* Pairing: Pre hooks whose Post has not come yet, innermost last. */
    struct hook_pairs pairs;

    /* The allocator the re-entrant hooks call (CoGetMalloc's). */
    IMalloc *allocator;

    struct hook_call log[MAX_LOG];
    unsigned int log_count;
    BOOL log_overflow;
};

static inline struct test_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct test_spy, IMallocSpy_iface);
}

static void spy_record(struct test_spy *spy, enum hook hook, const void *ptr, SIZE_T size, BOOL spyed, int actual)
{
    if (spy->released)
        spy->calls_after_release++;
    if (spy->nesting)
    {
        spy->nested_calls++;
        return;
    }
    if (spy->log_count >= MAX_LOG)
    {
        spy->log_overflow = TRUE;
        return;
    }
    spy->log[spy->log_count++] = hook_call_make(hook, ptr, size, spyed, actual);
}

/* A Pre hook returns: its Post is now due. */
static void spy_open(struct test_spy *spy, enum hook pre)
{
    struct hook_frame frame = {pre, NULL, 0, 0, 0};

    hook_pairs_open(&spy->pairs, frame);
}

/* A Post hook is called: it must close the Pre opened last on this spy. */
static void spy_close(struct test_spy *spy, enum hook post)
{
    hook_pairs_close(&spy->pairs, post);
}

static HRESULT STDMETHODCALLTYPE spy_QueryInterface(IMallocSpy *iface, REFIID riid, void **obj)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy->qi_calls++;
    if (IsEqualIID(riid, &IID_IMallocSpy))
        spy->qi_spy_calls++;
    if (spy->refuse_qi)
    {
        *obj = NULL;
        return E_NOINTERFACE;
    }
    if (IsEqualIID(riid, &IID_IMallocSpy) && spy->qi_target)
    {
        *obj = &spy->qi_target->IMallocSpy_iface;
        InterlockedIncrement(&spy->qi_target->refs);
        return S_OK;
    }
    if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IMallocSpy))
    {
        /* The reference is taken here, not through AddRef: registration must not call AddRef on top. */
        *obj = iface;
        InterlockedIncrement(&spy->refs);
        return S_OK;
    }
    *obj = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE spy_AddRef(IMallocSpy *iface)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy->addref_calls++;
    return InterlockedIncrement(&spy->refs);
}

static ULONG STDMETHODCALLTYPE spy_Release(IMallocSpy *iface)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);
    LONG refs;

    spy->release_calls++;
    spy_record(spy, HOOK_RELEASE, NULL, 0, FALSE, 0);
    refs = InterlockedDecrement(&spy->refs);
    if (refs < 0)
        spy->over_releases++;
    if (refs == 0)
        spy->released = TRUE;
    return refs;
}

static TEST_UNUSED BOOL header_ok(const void *block)
{
    return *(const DWORD *)((const char *)block - HEADER_SIZE) == HEADER_MAGIC;
}

static TEST_UNUSED void *add_header(void *actual)
{
    *(DWORD *)actual = HEADER_MAGIC;
    return (char *)actual + HEADER_SIZE;
}

/* The header spy's view of a request: the pointer really allocated. */
static void *strip_header(struct test_spy *spy, void *request, BOOL spyed)
{
    if (!spy->header || !spyed)
        return request;
    if (!header_ok(request))
    {
        spy->header_errors++;
        return request;
    }
    return (char *)request - HEADER_SIZE;
}

static SIZE_T STDMETHODCALLTYPE spy_PreAlloc(IMallocSpy *iface, SIZE_T request)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);
    SIZE_T answer;

    spy_record(spy, HOOK_PRE_ALLOC, NULL, request, FALSE, 0);
    if (spy->reentrant && !spy->nesting)
    {
        void *scratch;

        spy->nesting++;
        scratch = CoTaskMemAlloc(8);
        if (!scratch || IMalloc_GetSize(spy->allocator, scratch) != 8)
            spy->nested_errors++;
        CoTaskMemFree(scratch);
        spy->nesting--;
    }
    if (spy->fail_alloc && !spy->nesting)
        answer = 0;
    else if (spy->header && !spy->nesting)
        answer = request + HEADER_SIZE;
    else
        answer = request + (spy->nesting ? 0 : spy->alloc_extra);
    /* 0 for a nonzero request refuses it: no PostAlloc follows. */
    if (answer || !request)
        spy_open(spy, HOOK_PRE_ALLOC);
    return answer;
}

static void *STDMETHODCALLTYPE spy_PostAlloc(IMallocSpy *iface, void *actual)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_close(spy, HOOK_POST_ALLOC);
    spy_record(spy, HOOK_POST_ALLOC, actual, 0, FALSE, 0);
    if (spy->header && actual && !spy->nesting)
        return add_header(actual);
    return actual;
}

static void *STDMETHODCALLTYPE spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_record(spy, HOOK_PRE_FREE, request, 0, spyed, 0);
    if (spy->reentrant && !spy->nesting)
    {
        /* As WIL's secure-deleter spy: measure the block being freed from inside the hook. */
        SIZE_T size;

        spy->nesting++;
        size = IMalloc_GetSize(spy->allocator, request);
        if (spy->pre_free_count < MAX_LOG)
            spy->sizes_in_pre_free[spy->pre_free_count++] = size;
        spy->nesting--;
    }
    spy_open(spy, HOOK_PRE_FREE);
    return strip_header(spy, request, spyed);
}

static void STDMETHODCALLTYPE spy_PostFree(IMallocSpy *iface, BOOL spyed)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_close(spy, HOOK_POST_FREE);
    spy_record(spy, HOOK_POST_FREE, NULL, 0, spyed, 0);
}

static SIZE_T STDMETHODCALLTYPE spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request,
                                               BOOL spyed)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);
    SIZE_T answer;

    spy_record(spy, HOOK_PRE_REALLOC, request, size, spyed, 0);
    if (spy->reentrant && !spy->nesting)
    {
        spy->nesting++;
        spy->size_in_pre_realloc = IMalloc_GetSize(spy->allocator, request);
        spy->nesting--;
    }
    *new_request = request;
    if (spy->nesting)
        answer = size;
    else if (spy->fail_realloc)
        answer = 0;
    else if (spy->header)
    {
        /* A block that was not spied has no header yet: PostRealloc makes room for one. */
        spy->realloc_had_header = request && spyed;
        spy->realloc_request = size;
        *new_request = strip_header(spy, request, spyed);
        answer = size + HEADER_SIZE;
    }
    else
        answer = size + spy->realloc_extra;
    /* 0 refuses the request (Windows never asks for 0 bytes here; Wine's builtin does, and takes 0 as a refusal
     * too): no PostRealloc follows. */
    if (answer)
        spy_open(spy, HOOK_PRE_REALLOC);
    return answer;
}

static void *STDMETHODCALLTYPE spy_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_close(spy, HOOK_POST_REALLOC);
    spy_record(spy, HOOK_POST_REALLOC, actual, 0, spyed, 0);
    if (!spy->header || !actual || spy->nesting)
        return actual;
    if (!spy->realloc_had_header)
        memmove((char *)actual + HEADER_SIZE, actual, spy->realloc_request);
    return add_header(actual);
}

static void *STDMETHODCALLTYPE spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_record(spy, HOOK_PRE_GET_SIZE, request, 0, spyed, 0);
    spy_open(spy, HOOK_PRE_GET_SIZE);
    if (spy->redirect && !spy->nesting)
        return spy->redirect;
    return strip_header(spy, request, spyed);
}

static SIZE_T STDMETHODCALLTYPE spy_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_close(spy, HOOK_POST_GET_SIZE);
    spy_record(spy, HOOK_POST_GET_SIZE, NULL, actual, spyed, 0);
    if (spy->header && spyed && !spy->nesting)
        return actual - HEADER_SIZE;
    return actual;
}

static void *STDMETHODCALLTYPE spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_record(spy, HOOK_PRE_DID_ALLOC, request, 0, spyed, 0);
    spy_open(spy, HOOK_PRE_DID_ALLOC);
    if (spy->redirect && !spy->nesting)
        return spy->redirect;
    return strip_header(spy, request, spyed);
}

static int STDMETHODCALLTYPE spy_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_close(spy, HOOK_POST_DID_ALLOC);
    spy_record(spy, HOOK_POST_DID_ALLOC, request, 0, spyed, actual);
    return actual;
}

static void STDMETHODCALLTYPE spy_PreHeapMinimize(IMallocSpy *iface)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_record(spy, HOOK_PRE_HEAP_MINIMIZE, NULL, 0, FALSE, 0);
    if (spy->reentrant && !spy->nesting)
    {
        void *scratch;

        spy->nesting++;
        scratch = CoTaskMemAlloc(12);
        spy->did_alloc_in_pre_heap_minimize = IMalloc_DidAlloc(spy->allocator, scratch);
        IMalloc_Free(spy->allocator, scratch);
        spy->nesting--;
    }
    spy_open(spy, HOOK_PRE_HEAP_MINIMIZE);
}

static void STDMETHODCALLTYPE spy_PostHeapMinimize(IMallocSpy *iface)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    spy_close(spy, HOOK_POST_HEAP_MINIMIZE);
    spy_record(spy, HOOK_POST_HEAP_MINIMIZE, NULL, 0, FALSE, 0);
}

static const IMallocSpyVtbl spy_vtbl = {
    spy_QueryInterface, spy_AddRef,      spy_Release,      spy_PreAlloc,        spy_PostAlloc,
    spy_PreFree,        spy_PostFree,    spy_PreRealloc,   spy_PostRealloc,     spy_PreGetSize,
    spy_PostGetSize,    spy_PreDidAlloc, spy_PostDidAlloc, spy_PreHeapMinimize, spy_PostHeapMinimize,
};

static TEST_UNUSED void spy_init(struct test_spy *spy)
{
    memset(spy, 0, sizeof(*spy));
    spy->IMallocSpy_iface.lpVtbl = &spy_vtbl;
    CoGetMalloc(MEMCTX_TASK, &spy->allocator);
}

/* Compares the calls recorded since the last check with the expected ones, then forgets them. With a key, a
 * mismatch is the expected Wine difference of that name (ok_windows). */
static TEST_UNUSED void check_log_(const char *file, int line, const char *key, struct test_spy *spy,
                                   const struct hook_call *expect, unsigned int count)
{
    char message[512];
    int match = hook_log_compare(expect, count, spy->log, spy->log_count, spy->log_overflow, message, sizeof(message));

    if (key)
        test_ok_windows(file, line, key, match, "%s", message);
    else
        test_ok(file, line, match, "%s", message);
    spy->log_count = 0;
    spy->log_overflow = FALSE;
}

static TEST_UNUSED BOOL register_spy(struct test_spy *spy)
{
    HRESULT hr = CoRegisterMallocSpy(&spy->IMallocSpy_iface);

    ok(hr == S_OK, "CoRegisterMallocSpy: got %#lx\n", hr);
    return hr == S_OK;
}

/* End of a test: the spy was released exactly once by the allocator, nothing called it afterwards, every Pre had
 * its Post, and no spy is left registered. pairing_key names the Wine difference that breaks pairing, if any. */
static TEST_UNUSED void finish_spy_(const char *file, int line, struct test_spy *spy, const char *pairing_key)
{
    HRESULT hr;

    test_ok(file, line, spy->refs == 0, "spy still holds %ld references\n", spy->refs);
    test_ok(file, line, spy->released, "spy never released\n");
    test_ok(file, line, !spy->over_releases, "spy released %ld times too often\n", spy->over_releases);
    test_ok(file, line, !spy->calls_after_release, "%ld hook calls after the final Release\n",
            spy->calls_after_release);
    test_ok(file, line, !spy->header_errors, "%ld blocks reached the spy without its header\n", spy->header_errors);
    if (pairing_key)
        test_ok_windows(file, line, pairing_key, hook_pairs_balanced(&spy->pairs),
                        "%ld pairing errors, %u Pre hooks without Post\n", spy->pairs.errors, spy->pairs.depth);
    else
        test_ok(file, line, hook_pairs_balanced(&spy->pairs), "%ld pairing errors, %u Pre hooks without Post\n",
                spy->pairs.errors, spy->pairs.depth);
    hr = CoRevokeMallocSpy();
    test_ok(file, line, hr == CO_E_OBJNOTREG, "a spy is still registered: CoRevokeMallocSpy gave %#lx\n", hr);
}

#define finish_spy(spy) finish_spy_(__FILE__, __LINE__, spy, NULL)
#define finish_spy_windows(key, spy) finish_spy_(__FILE__, __LINE__, spy, key)

#endif /* OLE32MEM_RECORDING_SPY_H */
