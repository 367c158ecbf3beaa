/*
 * IMallocSpy: registration and revocation, and what every hook receives and how its answer is used
 * (docs/semantics.md rules 19 to 41).
 *
 * The recording spy of recording_spy.h logs every hook call with its arguments; each test states the exact sequence
 * it expects (check_log) and ends with finish_spy(), which checks references, calls after the final Release and
 * Pre/Post pairing. Where Wine's builtin is known to differ from Windows, the check is an
 * ok_windows() with the key of the table in docs/semantics.md section 6; scenarios that crash or corrupt the
 * builtin's heap are skipped in the builtin build.
 *
 * Each test leaves no spy registered and no block allocated, except where Wine's builtin has lost track of a block
 * (said where it happens). The tests that leave the builtin's bookkeeping broken run last.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define CONST_VTABLE
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "ole32mem_objidl.h"
#include <objbase.h>

#include "recording_spy.h"
#include "test.h"

static void seq_refuse(struct test_spy *spy, int on)
{
    spy->fail_alloc = spy->fail_realloc = on;
}

#include "sequences.h"

/* Long enough for any healthy run, short enough to report a deadlock before the runner's timeout. */
#define DEADLOCK_TIMEOUT_MS 20000
#define IMPOSSIBLE_SIZE ((SIZE_T)-1)

static IMalloc *task_malloc;

/* The two ways a program reaches the task allocator, for the sequences shared with the host tests
 * (tests/sequences.h): the IMalloc from CoGetMalloc, and the CoTaskMem* functions (GetSize, DidAlloc and
 * HeapMinimize exist only as IMalloc methods). */
static void *imalloc_alloc(SIZE_T size)
{
    return IMalloc_Alloc(task_malloc, size);
}

static void *imalloc_realloc(void *block, SIZE_T size)
{
    return IMalloc_Realloc(task_malloc, block, size);
}

static void imalloc_free(void *block)
{
    IMalloc_Free(task_malloc, block);
}

static SIZE_T imalloc_get_size(void *block)
{
    return IMalloc_GetSize(task_malloc, block);
}

static int imalloc_did_alloc(void *block)
{
    return IMalloc_DidAlloc(task_malloc, block);
}

static void imalloc_heap_minimize(void)
{
    IMalloc_HeapMinimize(task_malloc);
}

static void *cotaskmem_alloc(SIZE_T size)
{
    return CoTaskMemAlloc(size);
}

static void *cotaskmem_realloc(void *block, SIZE_T size)
{
    return CoTaskMemRealloc(block, size);
}

static void cotaskmem_free(void *block)
{
    CoTaskMemFree(block);
}

static const struct seq_allocator through_imalloc = {
    imalloc_alloc, imalloc_realloc, imalloc_free, imalloc_get_size, imalloc_did_alloc, imalloc_heap_minimize, NULL,
};
static const struct seq_allocator through_cotaskmem = {
    cotaskmem_alloc,   cotaskmem_realloc,     cotaskmem_free, imalloc_get_size,
    imalloc_did_alloc, imalloc_heap_minimize, NULL,
};

/* GetSize and DidAlloc under a spy before any block was allocated under one in this process. Must run first. */
static void test_first_query(void)
{
    struct test_spy spy;
    void *block;

    if (testing_builtin)
    {
        skip("first-query-null-table: Wine's builtin crashes on GetSize/DidAlloc under a spy before any spied "
             "allocation\n");
        return;
    }
    block = CoTaskMemAlloc(12);
    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    seq_unspied_block_hooks(&through_imalloc, &spy, block, 12);
    CoTaskMemFree(block);
    check_log(&spy, PRE_FREE(block, FALSE), POST_FREE(FALSE));
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, RELEASE);
    finish_spy(&spy);
}

/* Wine's builtin keeps its spied-block table for the life of the process but only creates it on the first spied
 * allocation, and GetSize/DidAlloc under a spy read it unconditionally (first-query-null-table). One spied
 * allocation up front lets the builtin run the other tests. */
static void prime_builtin_table(void)
{
    struct test_spy spy;

    if (!testing_builtin)
        return;
    trace("builtin: one spied allocation first (first-query-null-table)\n");
    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    CoTaskMemFree(CoTaskMemAlloc(1));
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    finish_spy(&spy);
}

static void test_register_null(void)
{
    struct test_spy spy;
    HRESULT hr;

    hr = CoRegisterMallocSpy(NULL);
    ok(hr == E_INVALIDARG, "no spy registered: got %#lx\n", hr);
    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    hr = CoRegisterMallocSpy(NULL);
    ok(hr == E_INVALIDARG, "a spy registered: got %#lx\n", hr);
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "revoke: got %#lx\n", hr);
    check_log(&spy, RELEASE);
    finish_spy(&spy);
}

static void test_register_references(void)
{
    struct test_spy spy, other;
    HRESULT hr;

    spy_init(&spy);
    spy_init(&other);
    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    ok(hr == S_OK, "got %#lx\n", hr);
    ok(spy.qi_spy_calls == 1, "QueryInterface(IID_IMallocSpy) called %ld times\n", spy.qi_spy_calls);
    ok(spy.qi_calls == spy.qi_spy_calls, "%ld other QueryInterface calls\n", spy.qi_calls - spy.qi_spy_calls);
    ok(spy.addref_calls == 0, "AddRef called %ld times on top of QueryInterface\n", spy.addref_calls);
    ok(spy.refs == 1, "registration holds %ld references\n", spy.refs);

    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    ok(hr == CO_E_OBJISREG, "same spy again: got %#lx\n", hr);
    hr = CoRegisterMallocSpy(&other.IMallocSpy_iface);
    ok(hr == CO_E_OBJISREG, "another spy: got %#lx\n", hr);
    ok(spy.refs == 1, "refused registration took a reference: %ld\n", spy.refs);
    ok(other.refs == 0, "refused registration took a reference: %ld\n", other.refs);

    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "revoke: got %#lx\n", hr);
    ok(spy.release_calls == 1, "Release called %ld times\n", spy.release_calls);
    check_log(&spy, RELEASE);
    hr = CoRevokeMallocSpy();
    ok(hr == CO_E_OBJNOTREG, "second revoke: got %#lx\n", hr);
    ok(spy.release_calls == 1, "Release called %ld times\n", spy.release_calls);
    ok(other.release_calls == 0 && other.qi_calls == 0, "the refused spy was called: QI %ld, Release %ld\n",
       other.qi_calls, other.release_calls);
    finish_spy(&spy);
}

static void test_revoke_none(void)
{
    HRESULT hr = CoRevokeMallocSpy();

    ok(hr == CO_E_OBJNOTREG, "got %#lx\n", hr);
}

static void test_register_qi_failure(void)
{
    struct test_spy spy;
    HRESULT hr;

    spy_init(&spy);
    spy.refuse_qi = TRUE;
    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    ok(hr == E_INVALIDARG, "got %#lx\n", hr);
    ok(spy.qi_spy_calls == 1, "QueryInterface(IID_IMallocSpy) called %ld times\n", spy.qi_spy_calls);
    ok(spy.refs == 0 && spy.addref_calls == 0, "refs %ld, AddRef calls %ld\n", spy.refs, spy.addref_calls);
    hr = CoRevokeMallocSpy();
    ok(hr == CO_E_OBJNOTREG, "nothing registered: got %#lx\n", hr);
    CoTaskMemFree(CoTaskMemAlloc(4));
    check_no_calls(&spy);
    ok(spy.release_calls == 0, "Release called %ld times\n", spy.release_calls);
}

/* The pointer QueryInterface answers is the spy: it gets every hook and the final Release. */
static void test_register_uses_qi_answer(void)
{
    struct test_spy outer, inner;
    void *block;
    HRESULT hr;

    spy_init(&outer);
    spy_init(&inner);
    outer.qi_target = &inner;
    hr = CoRegisterMallocSpy(&outer.IMallocSpy_iface);
    ok(hr == S_OK, "got %#lx\n", hr);
    if (hr != S_OK)
        return;
    ok(outer.qi_spy_calls == 1 && outer.refs == 0, "outer: QI %ld, refs %ld\n", outer.qi_spy_calls, outer.refs);
    ok(inner.refs == 1 && inner.addref_calls == 0, "inner: refs %ld, AddRef %ld\n", inner.refs, inner.addref_calls);
    block = CoTaskMemAlloc(9);
    CoTaskMemFree(block);
    check_no_calls(&outer);
    check_log(&inner, PRE_ALLOC(9), POST_ALLOC(block), PRE_FREE(block, TRUE), POST_FREE(TRUE));
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "revoke: got %#lx\n", hr);
    check_log(&inner, RELEASE);
    ok(outer.release_calls == 0, "outer released %ld times\n", outer.release_calls);
    finish_spy(&inner);
}

/* Every IMalloc method and CoTaskMem* function, on blocks allocated under the spy: the sequence shared with the host
 * tests, once through each way in. */
static void test_hooks_spied_blocks(const struct seq_allocator *allocator)
{
    struct test_spy spy;
    void *block;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    seq_spied_block_hooks(allocator, &spy);

    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, RELEASE);
    block = CoTaskMemAlloc(3);
    CoTaskMemFree(block);
    IMalloc_HeapMinimize(task_malloc);
    check_no_calls(&spy);
    finish_spy(&spy);
}

/* Blocks allocated before the registration reach the hooks with fSpyed FALSE; a Realloc under the spy makes its
 * result spied. */
static void test_hooks_unspied_blocks(void)
{
    struct test_spy spy;
    char *before, *other, *dropped, *moved;
    SIZE_T size;
    HRESULT hr;
    int did;

    before = CoTaskMemAlloc(40);
    other = CoTaskMemAlloc(8);
    dropped = CoTaskMemAlloc(20);
    fill(before, 40, 2);
    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    seq_unspied_block_hooks(&through_imalloc, &spy, before, 40);
    did = IMalloc_DidAlloc(task_malloc, (void *)1);
    ok(did == 0, "DidAlloc((void *)1): got %d\n", did);
    check_log(&spy, PRE_DID_ALLOC((void *)1, FALSE), POST_DID_ALLOC((void *)1, FALSE, 0));

    moved = CoTaskMemRealloc(dropped, 0);
    ok(moved == NULL, "CoTaskMemRealloc(p, 0): got %p\n", moved);
    check_log_windows("realloc-zero-via-prerealloc", &spy, PRE_FREE(dropped, FALSE), POST_FREE(FALSE));
    ok_windows("realloc-zero-via-prerealloc", !HeapValidate(GetProcessHeap(), 0, dropped), "block %p not freed\n",
               dropped);
    /* The builtin refused and kept the block: free it. */
    if (HeapValidate(GetProcessHeap(), 0, dropped))
    {
        CoTaskMemFree(dropped);
        spy.log_count = 0;
    }

    /* PostRealloc's fSpyed for a block that was not spied is undocumented (Wine: TRUE). */
    moved = CoTaskMemRealloc(before, 400);
    ok(moved != NULL, "CoTaskMemRealloc: NULL\n");
    check_log(&spy, PRE_REALLOC(before, 400, FALSE), POST_REALLOC(moved, ANY_SPYED));
    ok(moved && filled(moved, 40, 2), "contents lost\n");
    if (!moved)
        moved = before;
    size = IMalloc_GetSize(task_malloc, moved);
    ok(size == 400, "GetSize: got %llu\n", SZ(size));
    check_log(&spy, PRE_GET_SIZE(moved, TRUE), POST_GET_SIZE(400, TRUE));

    CoTaskMemFree(other);
    check_log(&spy, PRE_FREE(other, FALSE), POST_FREE(FALSE));
    hr = CoRevokeMallocSpy();
    ok(hr == E_ACCESSDENIED, "revoke with the reallocated block outstanding: got %#lx\n", hr);
    check_no_calls(&spy);
    CoTaskMemFree(moved);
    check_log(&spy, PRE_FREE(moved, TRUE), POST_FREE(TRUE), RELEASE);
    finish_spy(&spy);
}

/* Free(NULL) calls no hook; GetSize(NULL) and DidAlloc(NULL) answer -1. */
static void test_hooks_null(void)
{
    struct test_spy spy;
    SIZE_T size;
    int did;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    IMalloc_Free(task_malloc, NULL);
    CoTaskMemFree(NULL);
    check_no_calls(&spy);
    size = IMalloc_GetSize(task_malloc, NULL);
    ok(size == (SIZE_T)-1, "GetSize(NULL): got %#llx\n", SZ(size));
    did = IMalloc_DidAlloc(task_malloc, NULL);
    ok(did == -1, "DidAlloc(NULL): got %d\n", did);
    /* Whether Windows calls hooks for these is undocumented: the log is not checked. */
    spy.log_count = 0;
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, RELEASE);
    finish_spy(&spy);
}

/* Revoke with spied blocks outstanding: E_ACCESSDENIED, the spy keeps working, and is released right after the
 * PostFree of the last spied block. */
static void test_revoke_pending(void)
{
    struct test_spy spy, other;
    void *before, *first, *second, *after;
    HRESULT hr;

    before = CoTaskMemAlloc(5);
    spy_init(&spy);
    spy_init(&other);
    if (!register_spy(&spy))
        return;
    first = CoTaskMemAlloc(10);
    second = IMalloc_Alloc(task_malloc, 20);
    check_log(&spy, PRE_ALLOC(10), POST_ALLOC(first), PRE_ALLOC(20), POST_ALLOC(second));

    hr = CoRevokeMallocSpy();
    ok(hr == E_ACCESSDENIED, "got %#lx\n", hr);
    ok(spy.refs == 1 && spy.release_calls == 0, "refs %ld, Release calls %ld\n", spy.refs, spy.release_calls);
    hr = CoRegisterMallocSpy(&other.IMallocSpy_iface);
    ok(hr == CO_E_OBJISREG, "register while the revoke is pending: got %#lx\n", hr);
    ok(other.refs == 0, "other spy: %ld references\n", other.refs);

    CoTaskMemFree(before);
    check_log(&spy, PRE_FREE(before, FALSE), POST_FREE(FALSE));
    CoTaskMemFree(first);
    check_log(&spy, PRE_FREE(first, TRUE), POST_FREE(TRUE));
    ok(spy.refs == 1, "released with a spied block outstanding: refs %ld\n", spy.refs);
    IMalloc_Free(task_malloc, second);
    check_log(&spy, PRE_FREE(second, TRUE), POST_FREE(TRUE), RELEASE);

    after = CoTaskMemAlloc(7);
    CoTaskMemFree(after);
    check_no_calls(&spy);
    ok(other.qi_calls == 0, "the refused spy was queried\n");
    finish_spy(&spy);
}

/* Blocks the spy saw (fSpyed FALSE) are freed without hooks after a successful revoke. */
static void test_free_after_revoke(void)
{
    struct test_spy spy;
    void *block;
    SIZE_T size;

    block = CoTaskMemAlloc(64);
    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    size = IMalloc_GetSize(task_malloc, block);
    ok(size == 64, "GetSize: got %llu\n", SZ(size));
    check_log(&spy, PRE_GET_SIZE(block, FALSE), POST_GET_SIZE(64, FALSE));
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, RELEASE);
    block = CoTaskMemRealloc(block, 128);
    ok(block != NULL, "CoTaskMemRealloc: NULL\n");
    size = IMalloc_GetSize(task_malloc, block);
    ok(size == 128, "GetSize: got %llu\n", SZ(size));
    CoTaskMemFree(block);
    check_no_calls(&spy);
    finish_spy(&spy);
}

/* PostDidAlloc gets the caller's pointer, not what PreDidAlloc answered; PostGetSize gets the size of what
 * PreGetSize answered. */
static void test_hooks_redirect(void)
{
    struct test_spy spy;
    void *block, *target;
    SIZE_T size;
    int did;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    block = CoTaskMemAlloc(16);
    target = CoTaskMemAlloc(48);
    check_log(&spy, PRE_ALLOC(16), POST_ALLOC(block), PRE_ALLOC(48), POST_ALLOC(target));
    spy.redirect = target;
    size = IMalloc_GetSize(task_malloc, block);
    ok(size == 48, "GetSize: got %llu\n", SZ(size));
    check_log(&spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(48, TRUE));
    did = IMalloc_DidAlloc(task_malloc, block);
    ok(did == 1, "DidAlloc: got %d\n", did);
    check_log_windows("postdidalloc-original-pointer", &spy, PRE_DID_ALLOC(block, TRUE),
                      POST_DID_ALLOC(block, TRUE, 1));

    /* fActual is what DidAlloc answers for PreDidAlloc's pointer, whether or not the caller's block is spied: an
     * interior pointer is not a block (docs/semantics.md rule 11). */
    spy.redirect = (char *)target + 8;
    did = IMalloc_DidAlloc(task_malloc, block);
    ok(did == 0, "DidAlloc of a spied block that PreDidAlloc maps to a non-block: got %d\n", did);
    check_log_windows("postdidalloc-original-pointer", &spy, PRE_DID_ALLOC(block, TRUE),
                      POST_DID_ALLOC(block, TRUE, 0));
    did = IMalloc_DidAlloc(task_malloc, (char *)block + 4);
    ok(did == 0, "DidAlloc of an interior pointer mapped to a non-block: got %d\n", did);
    check_log_windows("postdidalloc-original-pointer", &spy, PRE_DID_ALLOC((char *)block + 4, FALSE),
                      POST_DID_ALLOC((char *)block + 4, FALSE, 0));

    spy.redirect = NULL;
    CoTaskMemFree(block);
    CoTaskMemFree(target);
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, PRE_FREE(block, TRUE), POST_FREE(TRUE), PRE_FREE(target, TRUE), POST_FREE(TRUE), RELEASE);
    finish_spy(&spy);
}

/* The allocator allocates what PreAlloc and PreRealloc answer, and PostGetSize sees the size really allocated. */
static void test_pre_answer_sizes(void)
{
    enum
    {
        EXTRA = 48
    };
    struct test_spy spy;
    void *block, *moved;
    SIZE_T size;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    spy.alloc_extra = EXTRA;
    block = CoTaskMemAlloc(16);
    ok(block != NULL, "CoTaskMemAlloc: NULL\n");
    check_log(&spy, PRE_ALLOC(16), POST_ALLOC(block));
    size = HeapSize(GetProcessHeap(), 0, block);
    ok_windows("prealloc-size-ignored", size == 16 + EXTRA, "allocated %llu bytes\n", SZ(size));
    size = IMalloc_GetSize(task_malloc, block);
    ok_windows("prealloc-size-ignored", size == 16 + EXTRA, "GetSize: got %llu\n", SZ(size));
    check_log_windows("prealloc-size-ignored", &spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(16 + EXTRA, TRUE));

    spy.alloc_extra = 0;
    spy.realloc_extra = EXTRA;
    moved = CoTaskMemRealloc(block, 200);
    ok(moved != NULL, "CoTaskMemRealloc: NULL\n");
    check_log(&spy, PRE_REALLOC(block, 200, TRUE), POST_REALLOC(moved, TRUE));
    if (moved)
        block = moved;
    size = HeapSize(GetProcessHeap(), 0, block);
    ok(size == 200 + EXTRA, "reallocated %llu bytes\n", SZ(size));
    spy.realloc_extra = 0;
    CoTaskMemFree(block);
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, PRE_FREE(block, TRUE), POST_FREE(TRUE), RELEASE);
    finish_spy(&spy);
}

/* A spy that refuses: PreAlloc answering 0 makes Alloc fail without PostAlloc, except for a 0-byte request (the
 * sequence shared with the host tests). */
static void test_refusing_alloc(const struct seq_allocator *allocator)
{
    struct test_spy spy;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    seq_refusing_alloc(allocator, &spy);
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, RELEASE);
    finish_spy(&spy);
}

/* After a Realloc that failed (refused or impossible): the block of `size` bytes is unchanged and still spied, so
 * GetSize says fSpyed=TRUE, revoke waits for it, and its free releases the spy. Frees the block. */
static void check_failed_realloc_kept_spied(struct test_spy *spy, void *block, SIZE_T size)
{
    SIZE_T got = IMalloc_GetSize(task_malloc, block);
    HRESULT hr;

    ok(got == size, "GetSize: got %llu\n", SZ(got));
    check_log_windows("failed-realloc-unspies", spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(size, TRUE));

    hr = CoRevokeMallocSpy();
    ok_windows("failed-realloc-unspies", hr == E_ACCESSDENIED, "revoke with the block outstanding: got %#lx\n", hr);
    check_no_calls_windows("failed-realloc-unspies", spy);
    CoTaskMemFree(block);
    check_log_windows("failed-realloc-unspies", spy, PRE_FREE(block, TRUE), POST_FREE(TRUE), RELEASE);
    finish_spy(spy);
}

/* PreRealloc answering 0 makes Realloc fail without PostRealloc; the block is unchanged and still spied (the
 * sequence shared with the host tests). */
static void test_refusing_realloc(const struct seq_allocator *allocator)
{
    struct test_spy spy;
    void *block;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    block = seq_refusing_realloc(allocator, &spy);
    if (!block)
        return;
    ok(HeapSize(GetProcessHeap(), 0, block) == 16, "size changed: %llu\n", SZ(HeapSize(GetProcessHeap(), 0, block)));
    check_failed_realloc_kept_spied(&spy, block, 16);
}

/* Real failures (impossible sizes): PostAlloc(NULL) / PostRealloc(NULL) are called; the block is unchanged and
 * still spied. */
static void test_real_failures(void)
{
    struct test_spy spy;
    void *block, *result;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    result = CoTaskMemAlloc(IMPOSSIBLE_SIZE);
    ok(result == NULL, "CoTaskMemAlloc: got %p\n", result);
    check_log(&spy, PRE_ALLOC(IMPOSSIBLE_SIZE), POST_ALLOC(NULL));
    block = CoTaskMemAlloc(32);
    ok(block != NULL, "CoTaskMemAlloc: NULL\n");
    if (!block)
        return;
    fill(block, 32, 4);
    check_log(&spy, PRE_ALLOC(32), POST_ALLOC(block));
    result = CoTaskMemRealloc(block, IMPOSSIBLE_SIZE);
    ok(result == NULL, "CoTaskMemRealloc: got %p\n", result);
    check_log(&spy, PRE_REALLOC(block, IMPOSSIBLE_SIZE, TRUE), POST_REALLOC(NULL, TRUE));
    ok(filled(block, 32, 4), "contents changed\n");
    check_failed_realloc_kept_spied(&spy, block, 32);
}

/* Realloc(p, 0) under a spy is a Free: PreFree/PostFree, the block is freed, NULL comes back. */
static void test_realloc_zero(void)
{
    struct test_spy spy;
    void *block;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    block = CoTaskMemAlloc(40);
    check_log(&spy, PRE_ALLOC(40), POST_ALLOC(block));
    seq_realloc_zero(&through_cotaskmem, &spy, block);
    ok_windows("realloc-zero-via-prerealloc", !HeapValidate(GetProcessHeap(), 0, block), "block %p not freed\n", block);
    /* The builtin leaks the block (and no longer counts it as spied): free it. */
    if (HeapValidate(GetProcessHeap(), 0, block))
    {
        CoTaskMemFree(block);
        spy.log_count = 0;
    }
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, RELEASE);
    finish_spy(&spy);
}

/* Realloc(NULL, n) under a spy is an Alloc: PreAlloc/PostAlloc, and the block counts as spied. */
static void test_realloc_null(void)
{
    struct test_spy spy;
    void *block;
    HRESULT hr;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    block = seq_realloc_null(&through_cotaskmem, &spy, 24);
    if (!block)
        return;

    hr = CoRevokeMallocSpy();
    ok_windows("realloc-null-miscounts", hr == E_ACCESSDENIED, "revoke with the block outstanding: got %#lx\n", hr);
    if (hr == S_OK && testing_builtin)
    {
        /* The builtin released the spy but keeps the block in its spied-block table: freeing it would let a later
         * block at the same address pass for spied and break the builtin's count. It stays allocated. */
        check_log(&spy, RELEASE);
        finish_spy(&spy);
        return;
    }
    check_no_calls(&spy);
    CoTaskMemFree(block);
    check_log(&spy, PRE_FREE(block, TRUE), POST_FREE(TRUE), RELEASE);
    finish_spy(&spy);
}

/* Once a pending revoke's last spied block is reallocated, Windows still calls PostRealloc and the new block keeps
 * the spy until it is freed. */
static void test_pending_realloc(void)
{
    struct test_spy spy;
    void *block, *moved;
    HRESULT hr;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    block = CoTaskMemAlloc(16);
    fill(block, 16, 5);
    check_log(&spy, PRE_ALLOC(16), POST_ALLOC(block));
    hr = CoRevokeMallocSpy();
    ok(hr == E_ACCESSDENIED, "got %#lx\n", hr);
    moved = CoTaskMemRealloc(block, 4000);
    ok(moved != NULL, "CoTaskMemRealloc: NULL\n");
    if (!moved)
        moved = block;
    ok(filled(moved, 16, 5), "contents lost\n");
    check_log_windows("pending-realloc-drops-spy", &spy, PRE_REALLOC(block, 4000, TRUE), POST_REALLOC(moved, TRUE));
    ok_windows("pending-realloc-drops-spy", spy.refs == 1, "spy released while its block is outstanding: refs %ld\n",
               spy.refs);
    CoTaskMemFree(moved);
    check_log_windows("pending-realloc-drops-spy", &spy, PRE_FREE(moved, TRUE), POST_FREE(TRUE), RELEASE);
    finish_spy_windows("pending-realloc-drops-spy", &spy);
}

/* A header spy, as Windows' spies are written: PreAlloc asks for room in front, PostAlloc hands out the block after
 * it, the Pre hooks step back over it for spied blocks. Blocks work end to end with their contents intact. */
static void test_header_spy(void)
{
    struct test_spy spy;
    char *before, *block, *empty, *from_null, *moved;
    SIZE_T size;

    if (testing_builtin)
    {
        skip("prealloc-size-ignored: the builtin allocates the request, not PreAlloc's answer; a header spy "
             "overruns every block\n");
        return;
    }
    before = CoTaskMemAlloc(40);
    fill(before, 40, 6);
    spy_init(&spy);
    spy.header = TRUE;
    if (!register_spy(&spy))
        return;

    block = CoTaskMemAlloc(100);
    ok(block != NULL, "CoTaskMemAlloc: NULL\n");
    if (!block)
        return;
    check_log(&spy, PRE_ALLOC(100), POST_ALLOC(block - HEADER_SIZE));
    ok(header_ok(block), "no header in front of %p\n", block);
    size = HeapSize(GetProcessHeap(), 0, block - HEADER_SIZE);
    ok(size == 100 + HEADER_SIZE, "allocated %llu bytes\n", SZ(size));
    fill(block, 100, 7);
    size = IMalloc_GetSize(task_malloc, block);
    ok(size == 100, "GetSize: got %llu\n", SZ(size));
    check_log(&spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(100 + HEADER_SIZE, TRUE));
    ok(IMalloc_DidAlloc(task_malloc, block) == 1, "DidAlloc: not ours\n");
    check_log(&spy, PRE_DID_ALLOC(block, TRUE), POST_DID_ALLOC(block, TRUE, 1));
    /* A header spy whose PreDidAlloc/PreGetSize hand the request back unchanged: the heap says the key (inside a
     * heap block) is no block, which proves nothing about a header spy's block: it stays spied (rule 34). */
    spy.redirect = block;
    ok(IMalloc_DidAlloc(task_malloc, block) == 0, "DidAlloc of a pointer inside a heap block: not 0\n");
    check_log(&spy, PRE_DID_ALLOC(block, TRUE), POST_DID_ALLOC(block, TRUE, 0));
    IMalloc_GetSize(task_malloc, block);
    check_log(&spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(ANY_SIZE, TRUE));
    spy.redirect = NULL;
    ok(IMalloc_DidAlloc(task_malloc, block) == 1, "DidAlloc: the block is no longer spied\n");
    check_log(&spy, PRE_DID_ALLOC(block, TRUE), POST_DID_ALLOC(block, TRUE, 1));

    moved = CoTaskMemRealloc(block, 5000);
    ok(moved != NULL, "grow: NULL\n");
    if (moved)
    {
        check_log(&spy, PRE_REALLOC(block, 5000, TRUE), POST_REALLOC(moved - HEADER_SIZE, TRUE));
        block = moved;
    }
    ok(header_ok(block) && filled(block, 100, 7), "grow: header or contents lost\n");
    ok(IMalloc_GetSize(task_malloc, block) == 5000, "GetSize after grow: %llu\n",
       SZ(IMalloc_GetSize(task_malloc, block)));
    moved = IMalloc_Realloc(task_malloc, block, 10);
    ok(moved != NULL, "shrink: NULL\n");
    if (moved)
        block = moved;
    ok(header_ok(block) && filled(block, 10, 7), "shrink: header or contents lost\n");
    ok(IMalloc_GetSize(task_malloc, block) == 10, "GetSize after shrink: %llu\n",
       SZ(IMalloc_GetSize(task_malloc, block)));

    empty = IMalloc_Alloc(task_malloc, 0);
    ok(empty != NULL && header_ok(empty), "Alloc(0): %p\n", empty);
    ok(IMalloc_GetSize(task_malloc, empty) == 0, "GetSize(0-byte block): %llu\n",
       SZ(IMalloc_GetSize(task_malloc, empty)));
    from_null = CoTaskMemRealloc(NULL, 50);
    ok(from_null != NULL && header_ok(from_null), "Realloc(NULL, 50): %p\n", from_null);
    ok(IMalloc_GetSize(task_malloc, from_null) == 50, "GetSize: %llu\n", SZ(IMalloc_GetSize(task_malloc, from_null)));

    /* A block from before the registration has no header; reallocated under the spy it gets one. */
    moved = CoTaskMemRealloc(before, 80);
    ok(moved != NULL, "Realloc of an older block: NULL\n");
    if (moved)
        before = moved;
    ok(header_ok(before) && filled(before, 40, 6), "older block: header or contents lost\n");
    ok(IMalloc_GetSize(task_malloc, before) == 80, "GetSize: %llu\n", SZ(IMalloc_GetSize(task_malloc, before)));
    spy.log_count = 0;

    ok(CoTaskMemRealloc(from_null, 0) == NULL, "Realloc(p, 0) did not return NULL\n");
    check_log(&spy, PRE_FREE(from_null, TRUE), POST_FREE(TRUE));
    IMalloc_Free(task_malloc, empty);
    CoTaskMemFree(block);
    ok(CoRevokeMallocSpy() == E_ACCESSDENIED, "revoke with a block outstanding succeeded\n");
    IMalloc_Free(task_malloc, before);
    check_log(&spy, PRE_FREE(empty, TRUE), POST_FREE(TRUE), PRE_FREE(block, TRUE), POST_FREE(TRUE),
              PRE_FREE(before, TRUE), POST_FREE(TRUE), RELEASE);
    finish_spy(&spy);
}

struct reentrant_work
{
    struct test_spy *spy;
    void *block;
    SIZE_T moved_size;
};

static DWORD WINAPI reentrant_thread(void *arg)
{
    struct reentrant_work *work = arg;
    void *block, *moved;

    block = CoTaskMemAlloc(24);
    work->block = block;
    CoTaskMemFree(block);
    block = IMalloc_Alloc(task_malloc, 10);
    moved = IMalloc_Realloc(task_malloc, block, 20);
    if (moved)
        block = moved;
    work->moved_size = IMalloc_GetSize(task_malloc, block);
    IMalloc_HeapMinimize(task_malloc);
    IMalloc_Free(task_malloc, block);
    return 0;
}

/* Hooks may call the allocator on their own thread (WIL's spy calls GetSize from PreFree): no deadlock, and the
 * nested calls work. Run on a thread so that a deadlock is reported instead of hanging the program. */
static BOOL test_reentrant_spy(void)
{
    struct test_spy spy;
    struct reentrant_work work = {&spy, NULL, 0};
    HANDLE thread;
    DWORD wait;

    spy_init(&spy);
    spy.reentrant = TRUE;
    if (!register_spy(&spy))
        return TRUE;
    thread = CreateThread(NULL, 0, reentrant_thread, &work, 0, NULL);
    ok(thread != NULL, "CreateThread: %lu\n", GetLastError());
    if (!thread)
        return TRUE;
    wait = WaitForSingleObject(thread, DEADLOCK_TIMEOUT_MS);
    CloseHandle(thread);
    ok(wait == WAIT_OBJECT_0, "hooks calling the allocator deadlocked (wait %#lx)\n", wait);
    if (wait != WAIT_OBJECT_0)
        return FALSE;
    ok(spy.nested_calls >= 10, "only %ld nested hook calls\n", spy.nested_calls);
    ok(!spy.nested_errors, "%ld nested allocations failed or had the wrong size\n", spy.nested_errors);
    ok(spy.pre_free_count == 2, "%u outer PreFree calls\n", spy.pre_free_count);
    ok(spy.sizes_in_pre_free[0] == 24 && spy.sizes_in_pre_free[1] == 20, "GetSize from PreFree: got %llu, %llu\n",
       SZ(spy.sizes_in_pre_free[0]), SZ(spy.sizes_in_pre_free[1]));
    ok(spy.size_in_pre_realloc == 10, "GetSize from PreRealloc: got %llu\n", SZ(spy.size_in_pre_realloc));
    ok(spy.did_alloc_in_pre_heap_minimize == 1, "DidAlloc from PreHeapMinimize: got %d\n",
       spy.did_alloc_in_pre_heap_minimize);
    ok(work.moved_size == 20, "GetSize after Realloc: got %llu\n", SZ(work.moved_size));
    ok(spy.log_count >= 4 && spy.log[0].hook == HOOK_PRE_ALLOC && spy.log[0].size == 24 &&
           spy.log[1].hook == HOOK_POST_ALLOC && spy.log[1].ptr == work.block && spy.log[2].hook == HOOK_PRE_FREE &&
           spy.log[3].hook == HOOK_POST_FREE,
       "outer calls out of order\n");
    spy.log_count = 0;
    ok(CoRevokeMallocSpy() == S_OK, "revoke failed\n");
    check_log(&spy, RELEASE);
    finish_spy(&spy);
    return TRUE;
}

/* Realloc(NULL, 0) under a spy is Alloc(0): a 0-byte block, PreAlloc/PostAlloc. Runs last: the builtin takes a
 * pass-through spy's 0 as a refusal and its count of spied blocks goes wrong for the rest of the process
 * (realloc-null-miscounts), so that its revoke never completes. */
static void test_realloc_null_zero(void)
{
    struct test_spy spy;
    void *block;
    HRESULT hr;

    spy_init(&spy);
    if (!register_spy(&spy))
        return;
    block = IMalloc_Realloc(task_malloc, NULL, 0);
    ok_windows("realloc-null-uses-prerealloc", block != NULL, "Realloc(NULL, 0): got NULL\n");
    check_log_windows("realloc-null-uses-prerealloc", &spy, PRE_ALLOC(0), POST_ALLOC(block));
    if (block)
    {
        ok(IMalloc_GetSize(task_malloc, block) == 0, "GetSize: %llu\n", SZ(IMalloc_GetSize(task_malloc, block)));
        spy.log_count = 0;
        CoTaskMemFree(block);
        check_log(&spy, PRE_FREE(block, TRUE), POST_FREE(TRUE));
    }
    hr = CoRevokeMallocSpy();
    ok_windows("realloc-null-miscounts", hr == S_OK, "revoke with nothing outstanding: got %#lx\n", hr);
    if (hr != S_OK)
        return;
    check_log(&spy, RELEASE);
    finish_spy(&spy);
}

int main(void)
{
    HRESULT hr = CoGetMalloc(MEMCTX_TASK, &task_malloc);

    ok(hr == S_OK && task_malloc, "CoGetMalloc: %#lx\n", hr);
    if (!task_malloc)
        return test_summary("spy");
    test_first_query();
    prime_builtin_table();
    test_revoke_none();
    test_register_null();
    test_register_references();
    test_register_qi_failure();
    test_register_uses_qi_answer();
    test_hooks_spied_blocks(&through_imalloc);
    test_hooks_spied_blocks(&through_cotaskmem);
    test_hooks_unspied_blocks();
    test_hooks_null();
    test_revoke_pending();
    test_free_after_revoke();
    test_hooks_redirect();
    test_pre_answer_sizes();
    test_refusing_alloc(&through_imalloc);
    test_refusing_alloc(&through_cotaskmem);
    test_refusing_realloc(&through_imalloc);
    test_refusing_realloc(&through_cotaskmem);
    test_real_failures();
    test_realloc_zero();
    test_pending_realloc();
    test_header_spy();
    if (!test_reentrant_spy())
        return test_summary("spy");
    test_realloc_null();
    test_realloc_null_zero();
    return test_summary("spy");
}
