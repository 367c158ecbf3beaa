/*
 * Host unit tests of the allocator core (task_memory.c over platform_posix.c), run under ASan and UBSan: the rules
 * of docs/semantics.md that the core implements, checked with the logging spy of test_spy.c.
 *
 * The core has process-wide state: every test leaves no spy registered and no block allocated (check_clean).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host_platform.h"
#include "host_test.h"
#include "test_spy.h"

enum
{
    MILLION = 1000000,
    MAX_BYTES_PER_SPIED_BLOCK = 32,
};

/* check_log(&spy, PRE_ALLOC(27), POST_ALLOC(p)) for the host spy (tests/hook_log.h): compares the calls logged since
 * the last check, then forgets them. The host has no Wine difference: key is always NULL. */
static void check_log_(const char *file, int line, const char *key, struct test_spy *spy,
                       const struct hook_call *expect, unsigned int count)
{
    char message[512];
    int match = hook_log_compare(expect, count, spy->log, spy->log_count, spy->log_overflow, message, sizeof(message));

    (void)key;
    test_ok(file, line, match, "%s", message);
    test_spy_clear_log(spy);
}

/* PreAlloc/PreRealloc refuse while on: the host spy's refusal is one-shot, so a sequence sets it before each call. */
static void seq_refuse(struct test_spy *spy, int on)
{
    spy->refuse_next = on;
}

#include "../sequences.h"

static size_t spied_count(void)
{
    size_t blocks, bytes;

    task_spy_bookkeeping(&blocks, &bytes);
    return blocks;
}

/* The core as the sequences shared with the conformance tests drive it (tests/sequences.h). */
static void *core_alloc(SIZE_T size)
{
    return task_alloc(size, NULL);
}

static void *core_realloc(void *block, SIZE_T size)
{
    return task_realloc(block, size, NULL);
}

static void core_free(void *block)
{
    task_free(block, NULL);
}

static SIZE_T core_get_size(void *block)
{
    return task_get_size(block, NULL);
}

static int core_did_alloc(void *block)
{
    return task_did_alloc(block, NULL);
}

static void core_heap_minimize(void)
{
    task_heap_minimize(NULL);
}

static const struct seq_allocator core = {
    core_alloc, core_realloc, core_free, core_get_size, core_did_alloc, core_heap_minimize, spied_count,
};

static int spy_routed(void)
{
    return (atomic_load(&task_route) & TASK_ROUTE_SPY) != 0;
}

#define check_spy(spy) check_spy_(__LINE__, spy)
static void check_spy_(int line, struct test_spy *spy)
{
    test_ok(__FILE__, line, atomic_load(&spy->violations) == 0, "spy protocol violations: %ld, first: %s\n",
            atomic_load(&spy->violations), spy->first_violation);
    test_ok(__FILE__, line, hook_pairs_balanced(&spy->pairs),
            "spy left with %u open Pre/Post pairs, %ld pairing errors\n", spy->pairs.depth, spy->pairs.errors);
}

#define check_clean() check_clean_(__LINE__)
static void check_clean_(int line)
{
    size_t blocks, bytes;

    task_spy_bookkeeping(&blocks, &bytes);
    test_ok(__FILE__, line, !spy_routed(), "a spy is still routed\n");
    test_ok(__FILE__, line, blocks == 0 && bytes == 0, "bookkeeping left: %zu blocks, %zu bytes\n", blocks, bytes);
    test_ok(__FILE__, line, plat_heap_live_blocks() == 0, "%zu heap blocks leaked\n", plat_heap_live_blocks());
}

static void test_no_spy(void)
{
    char local;
    char *p, *q, *z;

    z = task_alloc(0, NULL);
    ok(z != NULL, "Alloc(0) returned NULL\n");
    ok(task_get_size(z, NULL) == 0, "GetSize of a 0-byte block: %zu\n", task_get_size(z, NULL));
    p = task_alloc(27, NULL);
    ok(p != NULL, "Alloc(27) returned NULL\n");
    ok(((uintptr_t)p & 15) == 0, "block %p not 16-aligned\n", p);
    ok(task_get_size(p, NULL) == 27, "GetSize %zu, expected the requested 27\n", task_get_size(p, NULL));
    ok(task_get_size(NULL, NULL) == (SIZE_T)-1, "GetSize(NULL) %zu\n", task_get_size(NULL, NULL));
    ok(task_get_size(p + 4, NULL) == (SIZE_T)-1, "GetSize(interior) %zu\n", task_get_size(p + 4, NULL));
    ok(task_get_size(&local, NULL) == (SIZE_T)-1, "GetSize(stack) %zu\n", task_get_size(&local, NULL));
    ok(task_did_alloc(NULL, NULL) == -1, "DidAlloc(NULL) %d\n", task_did_alloc(NULL, NULL));
    ok(task_did_alloc(p, NULL) == 1, "DidAlloc(own block) %d\n", task_did_alloc(p, NULL));
    ok(task_did_alloc((void *)1, NULL) == 0, "DidAlloc((void *)1) %d\n", task_did_alloc((void *)1, NULL));
    ok(task_did_alloc(p + 4, NULL) == 0, "DidAlloc(interior) %d\n", task_did_alloc(p + 4, NULL));
    ok(task_did_alloc(&local, NULL) == 0, "DidAlloc(stack) %d\n", task_did_alloc(&local, NULL));
    task_free(NULL, NULL);

    fill(p, 27, 1);
    q = task_realloc(p, 100, NULL);
    ok(q != NULL, "Realloc grow failed\n");
    ok(q && filled(q, 27, 1), "Realloc lost the contents\n");
    ok(task_get_size(q, NULL) == 100, "GetSize after Realloc %zu\n", task_get_size(q, NULL));
    p = task_realloc(q, 10, NULL);
    ok(p && filled(p, 10, 1), "Realloc shrink lost the contents\n");

    ok(task_alloc((SIZE_T)-1, NULL) == NULL, "Alloc(SIZE_MAX) succeeded\n");
    ok(task_alloc((SIZE_T)-1 / 2, NULL) == NULL, "Alloc(SIZE_MAX / 2) succeeded\n");
    q = task_realloc(p, (SIZE_T)-1, NULL);
    ok(q == NULL, "Realloc(p, SIZE_MAX) succeeded\n");
    ok(task_get_size(p, NULL) == 10 && filled(p, 10, 1), "failed Realloc changed the block\n");
    host_fail_heap_after(1);
    q = task_realloc(p, 1000, NULL);
    ok(q == NULL, "Realloc succeeded despite the injected failure\n");
    ok(task_get_size(p, NULL) == 10 && filled(p, 10, 1), "failed Realloc changed the block\n");

    /* Realloc(NULL, n) is Alloc(n), Realloc(NULL, 0) a 0-byte block, Realloc(p, 0) a Free. */
    q = task_realloc(NULL, 5, NULL);
    ok(q && task_get_size(q, NULL) == 5, "Realloc(NULL, 5): %p\n", q);
    task_free(q, NULL);
    q = task_realloc(NULL, 0, NULL);
    ok(q && task_get_size(q, NULL) == 0, "Realloc(NULL, 0): %p\n", q);
    ok(task_realloc(q, 0, NULL) == NULL, "Realloc(p, 0) returned a block\n");
    ok(task_realloc(p, 0, NULL) == NULL, "Realloc(p, 0) returned a block\n");
    ok(plat_heap_live_blocks() == 1, "live blocks %zu, expected 1\n", plat_heap_live_blocks());
    task_heap_minimize(NULL);
    task_free(z, NULL);
    check_clean();
}

static void test_register_revoke(void)
{
    struct test_spy a, b, refuser;
    HRESULT hr;

    test_spy_init(&a, 0, 0);
    test_spy_init(&b, 0, 0);
    test_spy_init(&refuser, 0, 0);
    refuser.refuse_acquire = 1;

    ok(task_register_spy(NULL, &test_spy_ops) == E_INVALIDARG, "register NULL\n");
    ok(task_revoke_spy() == CO_E_OBJNOTREG, "revoke without a spy\n");
    hr = task_register_spy(&refuser, &test_spy_ops);
    ok(hr == E_INVALIDARG, "refused QueryInterface: got %#x\n", (unsigned)hr);
    check_log(&refuser, ACQUIRE);
    ok(!spy_routed(), "a refused spy is routed\n");
    ok(task_revoke_spy() == CO_E_OBJNOTREG, "revoke after a refused registration\n");

    hr = task_register_spy(&a, &test_spy_ops);
    ok(hr == S_OK, "register: %#x\n", (unsigned)hr);
    ok(spy_routed(), "registered spy not routed\n");
    ok(atomic_load(&a.refs) == 1, "refs after register %d\n", atomic_load(&a.refs));
    ok(task_register_spy(NULL, &test_spy_ops) == E_INVALIDARG, "register NULL while registered\n");
    hr = task_register_spy(&a, &test_spy_ops);
    ok(hr == CO_E_OBJISREG, "register again: %#x\n", (unsigned)hr);
    hr = task_register_spy(&b, &test_spy_ops);
    ok(hr == CO_E_OBJISREG, "register another: %#x\n", (unsigned)hr);
    ok(atomic_load(&a.acquires) == 1 && atomic_load(&b.acquires) == 0, "a failed registration took a reference\n");

    hr = task_revoke_spy();
    ok(hr == S_OK, "revoke: %#x\n", (unsigned)hr);
    ok(atomic_load(&a.releases) == 1 && atomic_load(&a.refs) == 0, "releases %d refs %d\n", atomic_load(&a.releases),
       atomic_load(&a.refs));
    ok(task_revoke_spy() == CO_E_OBJNOTREG, "second revoke\n");
    ok(atomic_load(&a.releases) == 1, "released again\n");

    /* The same object again, then another one. */
    ok(task_register_spy(&a, &test_spy_ops) == S_OK, "re-register\n");
    ok(task_revoke_spy() == S_OK, "revoke\n");
    ok(task_register_spy(&b, &test_spy_ops) == S_OK, "register b\n");
    ok(task_revoke_spy() == S_OK, "revoke b\n");
    ok(atomic_load(&a.releases) == 2 && atomic_load(&b.releases) == 1, "releases %d %d\n", atomic_load(&a.releases),
       atomic_load(&b.releases));
    check_spy(&a);
    check_spy(&b);
    test_spy_cleanup(&a);
    test_spy_cleanup(&b);
    check_clean();
}

static void test_hook_sequences(void)
{
    struct test_spy spy;
    char *before, *p;
    int did;

    test_spy_init(&spy, 0, 0);
    before = task_alloc(8, NULL);
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");

    test_spy_clear_log(&spy);
    seq_spied_block_hooks(&core, &spy);

    seq_unspied_block_hooks(&core, &spy, before, 8);
    did = task_did_alloc((void *)1, NULL);
    ok(did == 0, "DidAlloc((void *)1) %d\n", did);

    /* NULL: no hook at all. */
    test_spy_clear_log(&spy);
    task_free(NULL, NULL);
    ok(task_get_size(NULL, NULL) == (SIZE_T)-1, "GetSize(NULL)\n");
    ok(task_did_alloc(NULL, NULL) == -1, "DidAlloc(NULL)\n");
    check_no_calls(&spy);

    test_spy_clear_log(&spy);
    task_free(before, NULL);
    check_log(&spy, PRE_FREE(before, FALSE), POST_FREE(FALSE));

    test_spy_clear_log(&spy);
    ok(task_revoke_spy() == S_OK, "revoke\n");
    check_log(&spy, RELEASE);
    test_spy_clear_log(&spy);
    p = task_alloc(3, NULL);
    task_free(p, NULL);
    ok(spy.log_count == 0 && atomic_load(&spy.hooks) > 0, "hooks after the release: %s\n", test_spy_log_string(&spy));
    check_spy(&spy);
    test_spy_cleanup(&spy);
    check_clean();
}

static void test_realloc_routing(void)
{
    struct test_spy spy;
    char *before, *p, *q;

    test_spy_init(&spy, 0, 0);
    before = task_alloc(16, NULL);
    fill(before, 16, 3);
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");

    test_spy_clear_log(&spy);
    p = seq_realloc_null(&core, &spy, 12);
    test_spy_clear_log(&spy);
    q = task_realloc(NULL, 0, NULL);
    ok(q != NULL, "Realloc(NULL, 0) under a pass-through spy returned NULL\n");
    check_log(&spy, PRE_ALLOC(0), POST_ALLOC(q));
    ok(task_get_size(q, NULL) == 0, "Realloc(NULL, 0) size %zu\n", task_get_size(q, NULL));
    ok(spied_count() == 2, "spied blocks %zu\n", spied_count());

    test_spy_clear_log(&spy);
    seq_realloc_zero(&core, &spy, q);
    ok(spied_count() == 1, "spied blocks %zu\n", spied_count());

    /* An unspied block becomes spied by a Realloc under the spy. */
    test_spy_clear_log(&spy);
    q = task_realloc(before, 40, NULL);
    ok(q && filled(q, 16, 3), "Realloc of an older block lost it\n");
    check_log(&spy, PRE_REALLOC(before, 40, FALSE), POST_REALLOC(q, FALSE));
    ok(spied_count() == 2, "spied blocks %zu\n", spied_count());
    test_spy_clear_log(&spy);
    task_get_size(q, NULL);
    check_log(&spy, PRE_GET_SIZE(q, TRUE), POST_GET_SIZE(40, TRUE));

    before = p;
    p = task_realloc(p, 200, NULL);
    ok(p != NULL, "Realloc failed\n");
    check_log(&spy, PRE_REALLOC(before, 200, TRUE), POST_REALLOC(p, TRUE));
    ok(spied_count() == 2, "spied blocks %zu\n", spied_count());

    task_free(p, NULL);
    task_free(q, NULL);
    ok(task_revoke_spy() == S_OK, "revoke\n");
    check_spy(&spy);
    test_spy_cleanup(&spy);
    check_clean();
}

/* A spy answering 0 refuses a request; a failed or refused Realloc leaves the block spied. */
static void test_refusing_spy(void)
{
    struct test_spy spy;
    char *p, *q;

    test_spy_init(&spy, 0, 0);
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");

    test_spy_clear_log(&spy);
    seq_refusing_alloc(&core, &spy);
    ok(plat_heap_live_blocks() == 0, "a refused Alloc allocated: %zu heap blocks\n", plat_heap_live_blocks());

    /* A real failure: PostAlloc(NULL). */
    host_fail_heap_after(1);
    test_spy_clear_log(&spy);
    p = task_alloc(10, NULL);
    ok(p == NULL, "failing Alloc returned %p\n", p);
    check_log(&spy, PRE_ALLOC(10), POST_ALLOC(NULL));
    test_spy_clear_log(&spy);
    p = task_alloc((SIZE_T)-1, NULL);
    ok(p == NULL, "Alloc(SIZE_MAX): %p\n", p);
    check_log(&spy, PRE_ALLOC((SIZE_T)-1), POST_ALLOC(NULL));

    test_spy_clear_log(&spy);
    p = seq_refusing_realloc(&core, &spy);
    ok(p && task_get_size(p, NULL) == 16, "refused Realloc changed the block\n");

    host_fail_heap_after(1);
    test_spy_clear_log(&spy);
    q = task_realloc(p, 100, NULL);
    ok(q == NULL, "failing Realloc returned %p\n", q);
    check_log(&spy, PRE_REALLOC(p, 100, TRUE), POST_REALLOC(NULL, TRUE));
    ok(task_get_size(p, NULL) == 16 && filled(p, 16, 3), "failed Realloc changed the block\n");
    ok(spied_count() == 1, "failed Realloc unspied the block: %zu\n", spied_count());
    test_spy_clear_log(&spy);
    task_get_size(p, NULL);
    check_log(&spy, PRE_GET_SIZE(p, TRUE), POST_GET_SIZE(16, TRUE));
    ok(task_revoke_spy() == E_ACCESSDENIED, "revoke with the block outstanding\n");
    ok(atomic_load(&spy.releases) == 0, "released early\n");
    task_free(p, NULL);
    ok(atomic_load(&spy.releases) == 1, "not released after the last free\n");

    /* Out of bookkeeping memory: the call fails before any hook. */
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");
    host_fail_meta_after(1);
    test_spy_clear_log(&spy);
    p = task_alloc(10, NULL);
    ok(p == NULL, "Alloc without bookkeeping memory: %p\n", p);
    check_no_calls(&spy);
    host_fail_meta_after(0);
    ok(task_revoke_spy() == S_OK, "revoke\n");
    check_spy(&spy);
    test_spy_cleanup(&spy);
    check_clean();
}

static void test_header_spy(void)
{
    struct test_spy spy;
    char *before, *p, *q;

    test_spy_init(&spy, 16, 8);
    spy.measure_on_free = 1;
    before = task_alloc(20, NULL);
    fill(before, 20, 5);
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");

    p = task_alloc(27, NULL);
    ok(p != NULL && ((uintptr_t)p & 15) == 0, "Alloc: %p\n", p);
    ok(task_get_size(p, NULL) == 27, "GetSize %zu\n", task_get_size(p, NULL));
    ok(plat_heap_size(p - 16) == 27 + 24, "heap block size %zu: PreAlloc's answer not allocated\n",
       plat_heap_size(p - 16));
    ok(task_did_alloc(p, NULL) == 1, "DidAlloc(spied) %d\n", task_did_alloc(p, NULL));
    ok(task_did_alloc(p + 4, NULL) == 0, "DidAlloc(interior) %d\n", task_did_alloc(p + 4, NULL));
    fill(p, 27, 6);
    q = task_realloc(p, 300, NULL);
    ok(q && filled(q, 27, 6), "Realloc of a spied block lost its contents\n");
    ok(task_get_size(q, NULL) == 300, "GetSize after Realloc %zu\n", task_get_size(q, NULL));
    fill(q, 300, 7);
    p = task_realloc(q, 5, NULL);
    ok(p && filled(p, 5, 7) && task_get_size(p, NULL) == 5, "shrinking Realloc\n");

    /* An older block gets a header through Realloc: PostRealloc's answer is what the program sees from then on. */
    q = task_realloc(before, 64, NULL);
    ok(q && filled(q, 20, 5), "Realloc of an older block under a header spy lost its contents\n");
    ok(task_get_size(q, NULL) == 64, "GetSize %zu\n", task_get_size(q, NULL));
    ok(spied_count() == 2, "spied %zu\n", spied_count());

    task_free(p, NULL);
    task_free(q, NULL);
    ok(task_revoke_spy() == S_OK, "revoke\n");
    check_spy(&spy);
    test_spy_cleanup(&spy);
    check_clean();
}

static void test_deferred_release(void)
{
    struct test_spy spy, other;
    char *before, *p, *q, *r;
    HRESULT hr;

    test_spy_init(&spy, 16, 0);
    test_spy_init(&other, 0, 0);
    before = task_alloc(4, NULL);
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");
    p = task_alloc(10, NULL);
    q = task_alloc(10, NULL);

    hr = task_revoke_spy();
    ok(hr == E_ACCESSDENIED, "revoke with blocks outstanding: %#x\n", (unsigned)hr);
    ok(atomic_load(&spy.releases) == 0, "released while blocks are outstanding\n");
    ok(spy_routed(), "pending spy not routed\n");
    hr = task_revoke_spy();
    ok(hr == E_ACCESSDENIED, "second revoke while pending: %#x\n", (unsigned)hr);
    hr = task_register_spy(&other, &test_spy_ops);
    ok(hr == CO_E_OBJISREG, "register while pending: %#x\n", (unsigned)hr);
    ok(atomic_load(&other.acquires) == 0, "refused registration took a reference\n");

    /* Still hooked: blocks it never saw get fSpyed FALSE, new blocks are counted. */
    test_spy_clear_log(&spy);
    task_free(before, NULL);
    check_log(&spy, PRE_FREE(before, FALSE), POST_FREE(FALSE));
    r = task_alloc(3, NULL);
    ok(r && spied_count() == 3, "Alloc while pending: %p, spied %zu\n", r, spied_count());
    task_free(r, NULL);
    task_free(p, NULL);
    ok(atomic_load(&spy.releases) == 0, "released with a block outstanding\n");

    /* The last spied block is reallocated: PostRealloc comes, the new block is spied and holds the spy. */
    test_spy_clear_log(&spy);
    r = task_realloc(q, 100, NULL);
    ok(r != NULL, "Realloc while pending failed\n");
    /* PostRealloc gets the heap block, behind the spy's 16-byte header. */
    check_log(&spy, PRE_REALLOC(q, 100, TRUE), POST_REALLOC(ANY_PTR, TRUE));
    ok(atomic_load(&spy.releases) == 0 && spied_count() == 1, "Realloc while pending dropped the spy\n");

    /* The last one goes through Realloc(p, 0): PreFree, PostFree, then the release. */
    test_spy_clear_log(&spy);
    ok(task_realloc(r, 0, NULL) == NULL, "Realloc(p, 0)\n");
    check_log(&spy, PRE_FREE(r, TRUE), POST_FREE(TRUE), RELEASE);
    ok(atomic_load(&spy.releases) == 1 && atomic_load(&spy.refs) == 0, "releases %d\n", atomic_load(&spy.releases));
    ok(task_revoke_spy() == CO_E_OBJNOTREG, "revoke after the deferred release\n");
    test_spy_clear_log(&spy);
    p = task_alloc(1, NULL);
    task_free(p, NULL);
    check_no_calls(&spy);

    /* A new spy after the deferred release. */
    ok(task_register_spy(&other, &test_spy_ops) == S_OK, "register after the deferred release\n");
    ok(task_revoke_spy() == S_OK, "revoke\n");
    check_spy(&spy);
    check_spy(&other);
    test_spy_cleanup(&spy);
    test_spy_cleanup(&other);
    check_clean();
}

static void test_reentrant_hooks(void)
{
    struct test_spy spy, other;
    char *p, *q;
    HRESULT hr;

    test_spy_init(&spy, 16, 8);
    spy.measure_on_free = 1;
    test_spy_init(&other, 0, 0);
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");

    /* WIL: GetSize from PreFree. */
    p = task_alloc(33, NULL);
    test_spy_clear_log(&spy);
    task_free(p, NULL);
    /* PostGetSize gets the heap block's size: the block, its 16-byte header and its 8-byte trailer. */
    check_log(&spy, PRE_FREE(p, TRUE), PRE_GET_SIZE(p, TRUE), POST_GET_SIZE(33 + 24, TRUE), POST_FREE(TRUE));

    /* An allocation from PreAlloc is spied like any other. */
    spy.reentry = (struct reentry){.hook = HOOK_PRE_ALLOC, .action = RE_ALLOC_FREE, .size = 40};
    p = task_alloc(8, NULL);
    ok(p && spy.reentry.fired && spy.reentry.got_size == 40, "Alloc inside PreAlloc: size %zu\n",
       (size_t)spy.reentry.got_size);
    ok(spied_count() == 1, "spied %zu\n", spied_count());

    /* Registering from inside a hook. */
    spy.reentry = (struct reentry){.hook = HOOK_PRE_GET_SIZE, .action = RE_REGISTER, .other = &other};
    task_get_size(p, NULL);
    ok(spy.reentry.hr == CO_E_OBJISREG, "register inside a hook: %#x\n", (unsigned)spy.reentry.hr);

    /* Revoking from inside a hook while no block is outstanding (the operation is still in progress). */
    task_free(p, NULL);
    spy.reentry = (struct reentry){.hook = HOOK_PRE_HEAP_MINIMIZE, .action = RE_REVOKE};
    test_spy_clear_log(&spy);
    task_heap_minimize(NULL);
    ok(spy.reentry.fired && spy.reentry.hr == E_ACCESSDENIED, "revoke inside PreHeapMinimize: %#x\n",
       (unsigned)spy.reentry.hr);
    check_log(&spy, PRE_HEAP_MINIMIZE, POST_HEAP_MINIMIZE, RELEASE);
    ok(atomic_load(&spy.releases) == 1 && !spy_routed(), "not released after the operation\n");

    /* Revoking from PreAlloc: the new block holds the spy until it is freed. */
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");
    spy.reentry = (struct reentry){.hook = HOOK_PRE_ALLOC, .action = RE_REVOKE};
    p = task_alloc(8, NULL);
    ok(p && spy.reentry.hr == E_ACCESSDENIED, "revoke inside PreAlloc: %#x\n", (unsigned)spy.reentry.hr);
    ok(atomic_load(&spy.releases) == 1 && spied_count() == 1, "released with a block outstanding\n");
    task_free(p, NULL);
    ok(atomic_load(&spy.releases) == 2, "not released after the last free\n");

    /* The last spied block of a pending revoke freed from inside a hook of another call. */
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");
    p = task_alloc(8, NULL);
    q = task_alloc(8, NULL);
    ok(task_revoke_spy() == E_ACCESSDENIED, "revoke\n");
    task_free(q, NULL);
    spy.reentry = (struct reentry){.hook = HOOK_PRE_DID_ALLOC, .action = RE_FREE, .block = p};
    test_spy_clear_log(&spy);
    ok(task_did_alloc(&spy, NULL) == 0, "DidAlloc of a foreign pointer\n");
    check_log(&spy, PRE_DID_ALLOC(&spy, FALSE), PRE_FREE(p, TRUE), PRE_GET_SIZE(p, TRUE), POST_GET_SIZE(8 + 24, TRUE),
              POST_FREE(TRUE), POST_DID_ALLOC(&spy, FALSE, 0), RELEASE);
    ok(atomic_load(&spy.releases) == 3, "releases %d\n", atomic_load(&spy.releases));

    /* The last spied block freed from PostRealloc, whose own block was just taken out of the table. */
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");
    p = task_alloc(8, NULL);
    q = task_alloc(8, NULL);
    ok(task_revoke_spy() == E_ACCESSDENIED, "revoke\n");
    spy.reentry = (struct reentry){.hook = HOOK_POST_REALLOC, .action = RE_FREE, .block = q};
    p = task_realloc(p, 64, NULL);
    ok(p && spy.reentry.fired, "Realloc: %p\n", p);
    ok(atomic_load(&spy.releases) == 3 && spied_count() == 1, "released with a block outstanding: spied %zu\n",
       spied_count());
    task_free(p, NULL);
    ok(atomic_load(&spy.releases) == 4, "releases %d\n", atomic_load(&spy.releases));

    /* Registering from inside acquire (QueryInterface) is refused; the outer registration goes on. */
    spy.reentry = (struct reentry){.hook = HOOK_ACQUIRE, .action = RE_REGISTER, .other = &other};
    hr = task_register_spy(&spy, &test_spy_ops);
    ok(spy.reentry.hr == CO_E_OBJISREG && hr == S_OK, "register inside acquire: %#x, outer %#x\n",
       (unsigned)spy.reentry.hr, (unsigned)hr);
    ok(atomic_load(&spy.refs) == 1 && atomic_load(&other.acquires) == 0, "refs %d, other acquired %d\n",
       atomic_load(&spy.refs), atomic_load(&other.acquires));
    ok(task_revoke_spy() == S_OK, "revoke\n");
    ok(atomic_load(&spy.refs) == 0 && atomic_load(&spy.releases) == 5, "refs %d releases %d\n", atomic_load(&spy.refs),
       atomic_load(&spy.releases));
    check_spy(&spy);
    check_spy(&other);
    test_spy_cleanup(&spy);
    test_spy_cleanup(&other);
    check_clean();
}

/* 1e6 spied blocks: the table stays within MAX_BYTES_PER_SPIED_BLOCK, and gives all its memory back. */
static void test_million_blocks(void)
{
    struct test_spy spy;
    void **blocks = malloc(MILLION * sizeof(*blocks));
    size_t i, count, bytes;
    int all = 1;

    test_spy_init(&spy, 0, 0);
    spy.track = 0;
    ok(task_register_spy(&spy, &test_spy_ops) == S_OK, "register\n");
    for (i = 0; i < MILLION; i++)
        if (!(blocks[i] = task_alloc(1, NULL)))
            all = 0;
    ok(all, "an allocation failed\n");
    task_spy_bookkeeping(&count, &bytes);
    ok(count == MILLION, "spied blocks %zu\n", count);
    ok(bytes <= (size_t)MAX_BYTES_PER_SPIED_BLOCK * MILLION, "bookkeeping %zu bytes for %zu blocks (%.1f a block)\n",
       bytes, count, (double)bytes / (double)count);
    trace("%zu spied blocks: %zu bytes of bookkeeping, %.1f a block\n", count, bytes, (double)bytes / (double)count);
    for (i = 0; i < MILLION; i += 2)
        task_free(blocks[i], NULL);
    ok(task_revoke_spy() == E_ACCESSDENIED, "revoke\n");
    for (i = 1; i < MILLION; i += 2)
        task_free(blocks[i], NULL);
    ok(atomic_load(&spy.releases) == 1, "not released\n");
    free(blocks);
    check_spy(&spy);
    test_spy_cleanup(&spy);
    check_clean();
}

int main(void)
{
    test_no_spy();
    test_register_revoke();
    test_hook_sequences();
    test_realloc_routing();
    test_refusing_spy();
    test_header_spy();
    test_deferred_release();
    test_reentrant_hooks();
    test_million_blocks();
    return test_summary("host_core");
}
