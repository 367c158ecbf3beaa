/*
 * The host tests' spy: see test_spy.h.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "test_spy.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_MAGIC ((size_t)0x5079486561646572ull)
#define FREED_MAGIC ((size_t)0x4672656564426c6bull)
enum
{
    TRAILER_BYTE = 0xab,
};

static void violation(struct test_spy *spy, const char *format, ...)
{
    va_list args;

    if (atomic_fetch_add(&spy->violations, 1))
        return;
    va_start(args, format);
    vsnprintf(spy->first_violation, sizeof(spy->first_violation), format, args);
    va_end(args);
}

void test_spy_init(struct test_spy *spy, size_t header, size_t trailer)
{
    memset(spy, 0, sizeof(*spy));
    spy->header = header;
    spy->trailer = trailer;
    spy->track = 1;
}

void test_spy_clear_log(struct test_spy *spy)
{
    spy->log_count = 0;
    spy->log_overflow = 0;
}

void test_spy_cleanup(struct test_spy *spy)
{
    free(spy->mine);
    spy->mine = NULL;
    spy->mine_count = spy->mine_capacity = 0;
}

const char *test_spy_log_string(const struct test_spy *spy)
{
    static _Thread_local char text[SPY_LOG_MAX * 14];
    size_t used = 0;
    unsigned i;

    text[0] = 0;
    for (i = 0; i < spy->log_count && used < sizeof(text); i++)
        used += snprintf(text + used, sizeof(text) - used, "%s%s", i ? " " : "", hook_names[spy->log[i].hook]);
    return text;
}

static void log_event(struct test_spy *spy, enum hook hook, void *ptr, size_t size, int spyed, int actual)
{
    if (spy->log_count < SPY_LOG_MAX)
        spy->log[spy->log_count++] = hook_call_make(hook, ptr, size, spyed, actual);
    else
        spy->log_overflow = 1;
}

/* The set of blocks handed out: a small unordered array (the tests keep at most a few hundred). */
static long mine_find(const struct test_spy *spy, const void *p)
{
    size_t i;

    for (i = 0; i < spy->mine_count; i++)
        if (spy->mine[i] == p)
            return (long)i;
    return -1;
}

static void mine_add(struct test_spy *spy, void *p)
{
    spy->outstanding++;
    if (!spy->track)
        return;
    if (mine_find(spy, p) >= 0)
        violation(spy, "block %p handed out twice", p);
    if (spy->mine_count == spy->mine_capacity)
    {
        size_t capacity = spy->mine_capacity ? 2 * spy->mine_capacity : 64;
        void **grown = realloc(spy->mine, capacity * sizeof(*grown));

        if (!grown)
        {
            violation(spy, "out of memory for the tracking array");
            return;
        }
        spy->mine = grown;
        spy->mine_capacity = capacity;
    }
    spy->mine[spy->mine_count++] = p;
}

static void mine_remove(struct test_spy *spy, void *p)
{
    long i;

    spy->outstanding--;
    if (!spy->track)
        return;
    if ((i = mine_find(spy, p)) < 0)
    {
        violation(spy, "block %p taken back but never handed out", p);
        return;
    }
    spy->mine[i] = spy->mine[--spy->mine_count];
}

static void check_spyed(struct test_spy *spy, enum hook kind, void *p, int spyed)
{
    if (spy->track && (mine_find(spy, p) >= 0) != !!spyed)
        violation(spy, "%s(%p): fSpyed %d, but the spy %s that block", hook_names[kind], p, spyed,
                  spyed ? "never handed out" : "handed out");
}

static void reenter(struct test_spy *spy, enum hook kind);

/* Every hook starts here. */
static void enter_hook(struct test_spy *spy, enum hook kind)
{
    atomic_fetch_add(&spy->hooks, 1);
    if (atomic_load(&spy->refs) <= 0)
        violation(spy, "%s called while the spy holds no reference", hook_names[kind]);
    if (spy->pairs.depth && spy->owner != plat_thread_id())
        violation(spy, "%s on another thread inside a Pre/Post pair", hook_names[kind]);
    reenter(spy, kind);
}

static void push(struct test_spy *spy, enum hook pre, void *ptr, size_t size, size_t old_size, int spyed)
{
    struct hook_frame frame = {pre, ptr, size, old_size, spyed};

    if (!spy->pairs.depth)
        spy->owner = plat_thread_id();
    if (!hook_pairs_open(&spy->pairs, frame))
        violation(spy, "hooks nested too deep");
}

static struct hook_frame pop(struct test_spy *spy, enum hook post)
{
    const struct hook_frame *top = hook_pairs_top(&spy->pairs), *closed = hook_pairs_close(&spy->pairs, post);
    struct hook_frame none = {HOOK_NONE, NULL, 0, 0, 0};

    if (closed)
        return *closed;
    if (!top)
        violation(spy, "%s without its Pre", hook_names[post]);
    else
        violation(spy, "%s after %s", hook_names[post], hook_names[top->pre]);
    return none;
}

static size_t add_room(const struct test_spy *spy, size_t size)
{
    size_t room = spy->header + spy->trailer;

    return size > SIZE_MAX - room ? SIZE_MAX : size + room;
}

/* Writes header and trailer around the user area of `size` bytes at raw + header; returns the user pointer. */
static void *dress(struct test_spy *spy, void *raw, size_t size)
{
    char *user = (char *)raw + spy->header;

    if (spy->header >= SPY_MAGIC_SIZE)
    {
        size_t *h = (size_t *)user - 2;
        h[0] = size;
        h[1] = HEADER_MAGIC;
    }
    memset(user + size, TRAILER_BYTE, spy->trailer);
    return user;
}

/* Checks header and trailer of a spied block before it goes away; returns the raw pointer. */
static void *undress(struct test_spy *spy, void *user, enum hook kind, int reentrant_size)
{
    char *raw = (char *)user - spy->header;
    size_t size = 0, i;
    int have_size = 0;

    if (spy->header >= SPY_MAGIC_SIZE)
    {
        size_t *h = (size_t *)user - 2;
        if (h[1] != HEADER_MAGIC)
            violation(spy, "%s(%p): bad header magic %#zx", hook_names[kind], user, h[1]);
        else
        {
            size = h[0];
            have_size = 1;
        }
    }
    if (reentrant_size)
    {
        /* WIL's spy measures the block from inside PreFree: the allocator must let this thread back in. */
        SIZE_T measured = task_get_size(user, NULL);
        if (have_size && measured != size)
            violation(spy, "%s(%p): GetSize from the hook %zu, header says %zu", hook_names[kind], user,
                      (size_t)measured, size);
        if (measured != (SIZE_T)-1)
        {
            size = measured;
            have_size = 1;
        }
    }
    if (have_size)
        for (i = 0; i < spy->trailer; i++)
            if ((unsigned char)((char *)user)[size + i] != TRAILER_BYTE)
            {
                violation(spy, "%s(%p): trailer overwritten at %zu", hook_names[kind], user, size + i);
                break;
            }
    return raw;
}

static void reenter(struct test_spy *spy, enum hook kind)
{
    struct reentry *r = &spy->reentry;
    void *p;

    if (r->action == RE_NONE || r->fired || r->hook != kind)
        return;
    r->fired = 1;
    switch (r->action)
    {
    case RE_ALLOC_FREE:
        if ((p = task_alloc(r->size, NULL)))
        {
            memset(p, 0x5a, r->size);
            r->got_size = task_get_size(p, NULL);
            task_free(p, NULL);
        }
        else
            r->got_size = (SIZE_T)-2;
        break;
    case RE_GET_SIZE:
        r->got_size = task_get_size(r->block, NULL);
        break;
    case RE_DID_ALLOC:
        r->got_did = task_did_alloc(r->block, NULL);
        break;
    case RE_FREE:
        task_free(r->block, NULL);
        break;
    case RE_REVOKE:
        r->hr = task_revoke_spy();
        break;
    case RE_REGISTER:
        r->hr = task_register_spy(r->other, &test_spy_ops);
        break;
    }
}

static void *spy_acquire(void *object)
{
    struct test_spy *spy = object;

    reenter(spy, HOOK_ACQUIRE);
    log_event(spy, HOOK_ACQUIRE, NULL, 0, 0, 0);
    if (spy->refuse_acquire)
        return NULL;
    atomic_fetch_add(&spy->refs, 1);
    atomic_fetch_add(&spy->acquires, 1);
    return spy;
}

static void spy_release(void *object)
{
    struct test_spy *spy = object;

    log_event(spy, HOOK_RELEASE, NULL, 0, 0, 0);
    if (atomic_fetch_sub(&spy->refs, 1) != 1)
        violation(spy, "Release of a spy that holds %d references", atomic_load(&spy->refs) + 1);
    if (spy->pairs.depth)
        violation(spy, "Release inside a Pre/Post pair (%s open)", hook_names[hook_pairs_top(&spy->pairs)->pre]);
    if (spy->outstanding)
        violation(spy, "Release with %ld spied blocks outstanding", spy->outstanding);
    atomic_fetch_add(&spy->releases, 1);
}

static SIZE_T spy_pre_alloc(void *object, SIZE_T request)
{
    struct test_spy *spy = object;

    log_event(spy, HOOK_PRE_ALLOC, NULL, request, 0, 0);
    enter_hook(spy, HOOK_PRE_ALLOC);
    if (spy->refuse_next && request)
    {
        spy->refuse_next = 0;
        return 0;
    }
    push(spy, HOOK_PRE_ALLOC, NULL, request, 0, 0);
    return add_room(spy, request);
}

static void *spy_post_alloc(void *object, void *actual)
{
    struct test_spy *spy = object;
    struct hook_frame frame;
    void *user;

    log_event(spy, HOOK_POST_ALLOC, actual, 0, 0, 0);
    enter_hook(spy, HOOK_POST_ALLOC);
    frame = pop(spy, HOOK_POST_ALLOC);
    if (!actual)
        return NULL;
    user = dress(spy, actual, frame.size);
    mine_add(spy, user);
    return user;
}

static void *spy_pre_free(void *object, void *request, BOOL spyed)
{
    struct test_spy *spy = object;
    void *actual = request;

    log_event(spy, HOOK_PRE_FREE, request, 0, spyed, 0);
    enter_hook(spy, HOOK_PRE_FREE);
    check_spyed(spy, HOOK_PRE_FREE, request, spyed);
    if (!request)
        violation(spy, "PreFree(NULL)");
    if (spyed)
    {
        actual = undress(spy, request, HOOK_PRE_FREE, spy->measure_on_free);
        if (spy->header >= SPY_MAGIC_SIZE)
            ((size_t *)request)[-1] = FREED_MAGIC;
        mine_remove(spy, request);
    }
    push(spy, HOOK_PRE_FREE, request, 0, 0, spyed);
    return actual;
}

static void spy_post_free(void *object, BOOL spyed)
{
    struct test_spy *spy = object;
    struct hook_frame frame;

    log_event(spy, HOOK_POST_FREE, NULL, 0, spyed, 0);
    enter_hook(spy, HOOK_POST_FREE);
    frame = pop(spy, HOOK_POST_FREE);
    if (frame.pre && frame.spyed != !!spyed)
        violation(spy, "PostFree fSpyed %d, PreFree had %d", spyed, frame.spyed);
}

static SIZE_T spy_pre_realloc(void *object, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    struct test_spy *spy = object;
    size_t old_size;

    log_event(spy, HOOK_PRE_REALLOC, request, size, spyed, 0);
    enter_hook(spy, HOOK_PRE_REALLOC);
    check_spyed(spy, HOOK_PRE_REALLOC, request, spyed);
    if (!request || !size)
        violation(spy, "PreRealloc(%p, %zu): Realloc(NULL, n) is an Alloc and Realloc(p, 0) a Free", request,
                  (size_t)size);
    *new_request = spyed ? (char *)request - spy->header : request;
    if (spy->refuse_next && size)
    {
        spy->refuse_next = 0;
        return 0;
    }
    /* An unspied block has no header yet: PostRealloc moves its contents behind the new one. */
    old_size = spyed ? 0 : plat_heap_size(request);
    push(spy, HOOK_PRE_REALLOC, request, size, old_size, spyed);
    return add_room(spy, size);
}

static void *spy_post_realloc(void *object, void *actual, BOOL spyed)
{
    struct test_spy *spy = object;
    const struct hook_frame *top = hook_pairs_top(&spy->pairs);
    struct hook_frame frame;
    int taken_back = 0;
    void *user;

    log_event(spy, HOOK_POST_REALLOC, actual, 0, spyed, 0);
    /* The heap has reallocated the block already: a block it moved is gone, and its old address may come back to a
     * call made from inside this very hook (reentry), so the old pointer leaves the set first. */
    if (actual && top && top->pre == HOOK_PRE_REALLOC && top->spyed)
    {
        mine_remove(spy, (void *)top->ptr);
        taken_back = 1;
    }
    enter_hook(spy, HOOK_POST_REALLOC);
    frame = pop(spy, HOOK_POST_REALLOC);
    if (frame.pre && frame.spyed != !!spyed)
        violation(spy, "PostRealloc fSpyed %d, PreRealloc had %d", spyed, frame.spyed);
    if (!actual)
        return NULL;
    if (!frame.spyed && spy->header)
        memmove((char *)actual + spy->header, actual, frame.old_size < frame.size ? frame.old_size : frame.size);
    if (frame.spyed && !taken_back)
        mine_remove(spy, (void *)frame.ptr);
    user = dress(spy, actual, frame.size);
    mine_add(spy, user);
    return user;
}

static void *spy_pre_get_size(void *object, void *request, BOOL spyed)
{
    struct test_spy *spy = object;

    log_event(spy, HOOK_PRE_GET_SIZE, request, 0, spyed, 0);
    enter_hook(spy, HOOK_PRE_GET_SIZE);
    check_spyed(spy, HOOK_PRE_GET_SIZE, request, spyed);
    push(spy, HOOK_PRE_GET_SIZE, request, 0, 0, spyed);
    return spyed ? (char *)request - spy->header : request;
}

static SIZE_T spy_post_get_size(void *object, SIZE_T actual, BOOL spyed)
{
    struct test_spy *spy = object;
    struct hook_frame frame;
    size_t room = spy->header + spy->trailer;

    log_event(spy, HOOK_POST_GET_SIZE, NULL, actual, spyed, 0);
    enter_hook(spy, HOOK_POST_GET_SIZE);
    frame = pop(spy, HOOK_POST_GET_SIZE);
    if (frame.pre && frame.spyed != !!spyed)
        violation(spy, "PostGetSize fSpyed %d, PreGetSize had %d", spyed, frame.spyed);
    if (!spyed || actual == (SIZE_T)-1)
        return actual;
    if (actual < room)
        violation(spy, "PostGetSize(%zu) of a spied block smaller than header and trailer", (size_t)actual);
    return actual - room;
}

static void *spy_pre_did_alloc(void *object, void *request, BOOL spyed)
{
    struct test_spy *spy = object;

    log_event(spy, HOOK_PRE_DID_ALLOC, request, 0, spyed, 0);
    enter_hook(spy, HOOK_PRE_DID_ALLOC);
    check_spyed(spy, HOOK_PRE_DID_ALLOC, request, spyed);
    push(spy, HOOK_PRE_DID_ALLOC, request, 0, 0, spyed);
    return spyed ? (char *)request - spy->header : request;
}

static int spy_post_did_alloc(void *object, void *request, BOOL spyed, int actual)
{
    struct test_spy *spy = object;
    struct hook_frame frame;

    log_event(spy, HOOK_POST_DID_ALLOC, request, 0, spyed, actual);
    enter_hook(spy, HOOK_POST_DID_ALLOC);
    frame = pop(spy, HOOK_POST_DID_ALLOC);
    if (frame.pre && (frame.ptr != request || frame.spyed != !!spyed))
        violation(spy, "PostDidAlloc(%p, %d), PreDidAlloc had (%p, %d)", request, spyed, frame.ptr, frame.spyed);
    return actual;
}

static void spy_pre_heap_minimize(void *object)
{
    struct test_spy *spy = object;

    log_event(spy, HOOK_PRE_HEAP_MINIMIZE, NULL, 0, 0, 0);
    enter_hook(spy, HOOK_PRE_HEAP_MINIMIZE);
    push(spy, HOOK_PRE_HEAP_MINIMIZE, NULL, 0, 0, 0);
}

static void spy_post_heap_minimize(void *object)
{
    struct test_spy *spy = object;

    log_event(spy, HOOK_POST_HEAP_MINIMIZE, NULL, 0, 0, 0);
    enter_hook(spy, HOOK_POST_HEAP_MINIMIZE);
    pop(spy, HOOK_POST_HEAP_MINIMIZE);
}

const struct spy_ops test_spy_ops = {
    spy_acquire,       spy_release,        spy_pre_alloc,         spy_post_alloc,         spy_pre_free,
    spy_post_free,     spy_pre_realloc,    spy_post_realloc,      spy_pre_get_size,       spy_post_get_size,
    spy_pre_did_alloc, spy_post_did_alloc, spy_pre_heap_minimize, spy_post_heap_minimize,
};
