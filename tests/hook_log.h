/*
 * The one vocabulary of IMallocSpy hook logs, and the one Pre/Post pairing checker, for every spy the tests write:
 * the recording spy of the conformance tests (tests/recording_spy.h), the counting spy of tests/stress.c, and the
 * host tests' and the fuzzer's spy (tests/host/test_spy.c).
 *
 *   - A hook call is a struct hook_call, written with the constructors below in the order of the IMallocSpy
 *     methods' arguments: PRE_ALLOC(27), POST_ALLOC(block), PRE_FREE(block, TRUE), POST_DID_ALLOC(p, spyed, 1)...
 *     A test states the exact sequence it expects with check_log(&spy, PRE_ALLOC(27), POST_ALLOC(block)); each spy
 *     fixture supplies check_log_() for its own log (this file compares, the fixture reports).
 *   - A Post hook must close the Pre hook opened last (on that spy and thread): struct hook_pairs keeps the open
 *     Pre hooks, innermost last, with what each saw, so that the Post can check against it (docs/semantics.md rule 40:
 *     Pre to Post is atomic for the spy).
 *
 * Invariants: every Post kind is its Pre kind + 1; the wildcards (ANY_PTR, ANY_SIZE, ANY_SPYED) are values no hook
 * is given in a test. Portable C: nothing here names Windows or POSIX, so both sides compile it; it never reports
 * by itself (no ok(): the fixture decides how a mismatch counts, e.g. as a known Wine difference).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_HOOK_LOG_H
#define OLE32MEM_HOOK_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum hook
{
    HOOK_NONE,
    HOOK_PRE_ALLOC,
    HOOK_POST_ALLOC,
    HOOK_PRE_FREE,
    HOOK_POST_FREE,
    HOOK_PRE_REALLOC,
    HOOK_POST_REALLOC,
    HOOK_PRE_GET_SIZE,
    HOOK_POST_GET_SIZE,
    HOOK_PRE_DID_ALLOC,
    HOOK_POST_DID_ALLOC,
    HOOK_PRE_HEAP_MINIMIZE,
    HOOK_POST_HEAP_MINIMIZE,
    HOOK_ACQUIRE, /* registration's QueryInterface (the host spy's acquire) */
    HOOK_RELEASE, /* the spy's final Release */
    HOOK_COUNT,
};

static const char *const hook_names[HOOK_COUNT] = {
    "none",         "PreAlloc",        "PostAlloc",        "PreFree",     "PostFree",
    "PreRealloc",   "PostRealloc",     "PreGetSize",       "PostGetSize", "PreDidAlloc",
    "PostDidAlloc", "PreHeapMinimize", "PostHeapMinimize", "Acquire",     "Release",
};

/* Values that match anything in an expected call: PostRealloc's fSpyed for a block that was not spied (the one
 * undocumented case), and pointers or sizes a test cannot know (the raw block under a host header spy). */
#define ANY_SPYED (-1)
#define ANY_PTR ((const void *)(uintptr_t)-2)
#define ANY_SIZE ((size_t)-2)

/* One hook call: the pointer and size arguments it got (ptr = pRequest or pActual, size = cbRequest or cbActual),
 * its fSpyed, and PostDidAlloc's fActual. Unused fields are 0. */
struct hook_call
{
    enum hook hook;
    const void *ptr;
    size_t size;
    int spyed;
    int actual;
};

#define ACQUIRE                                                                                                        \
    {                                                                                                                  \
        HOOK_ACQUIRE, NULL, 0, 0, 0                                                                                    \
    }
#define RELEASE                                                                                                        \
    {                                                                                                                  \
        HOOK_RELEASE, NULL, 0, 0, 0                                                                                    \
    }
#define PRE_ALLOC(size)                                                                                                \
    {                                                                                                                  \
        HOOK_PRE_ALLOC, NULL, (size), 0, 0                                                                             \
    }
#define POST_ALLOC(ptr)                                                                                                \
    {                                                                                                                  \
        HOOK_POST_ALLOC, (ptr), 0, 0, 0                                                                                \
    }
#define PRE_FREE(ptr, spyed)                                                                                           \
    {                                                                                                                  \
        HOOK_PRE_FREE, (ptr), 0, (spyed), 0                                                                            \
    }
#define POST_FREE(spyed)                                                                                               \
    {                                                                                                                  \
        HOOK_POST_FREE, NULL, 0, (spyed), 0                                                                            \
    }
#define PRE_REALLOC(ptr, size, spyed)                                                                                  \
    {                                                                                                                  \
        HOOK_PRE_REALLOC, (ptr), (size), (spyed), 0                                                                    \
    }
#define POST_REALLOC(ptr, spyed)                                                                                       \
    {                                                                                                                  \
        HOOK_POST_REALLOC, (ptr), 0, (spyed), 0                                                                        \
    }
#define PRE_GET_SIZE(ptr, spyed)                                                                                       \
    {                                                                                                                  \
        HOOK_PRE_GET_SIZE, (ptr), 0, (spyed), 0                                                                        \
    }
#define POST_GET_SIZE(size, spyed)                                                                                     \
    {                                                                                                                  \
        HOOK_POST_GET_SIZE, NULL, (size), (spyed), 0                                                                   \
    }
#define PRE_DID_ALLOC(ptr, spyed)                                                                                      \
    {                                                                                                                  \
        HOOK_PRE_DID_ALLOC, (ptr), 0, (spyed), 0                                                                       \
    }
#define POST_DID_ALLOC(ptr, spyed, actual)                                                                             \
    {                                                                                                                  \
        HOOK_POST_DID_ALLOC, (ptr), 0, (spyed), (actual)                                                               \
    }
#define PRE_HEAP_MINIMIZE                                                                                              \
    {                                                                                                                  \
        HOOK_PRE_HEAP_MINIMIZE, NULL, 0, 0, 0                                                                          \
    }
#define POST_HEAP_MINIMIZE                                                                                             \
    {                                                                                                                  \
        HOOK_POST_HEAP_MINIMIZE, NULL, 0, 0, 0                                                                         \
    }

static __attribute__((unused)) struct hook_call hook_call_make(enum hook hook, const void *ptr, size_t size, int spyed,
                                                               int actual)
{
    struct hook_call call = {hook, ptr, size, spyed != 0, actual};

    return call;
}

static __attribute__((unused)) void hook_call_describe(char *buffer, size_t size, const struct hook_call *call)
{
    snprintf(buffer, size, "%s(ptr %p, size %#llx, spyed %d, actual %d)",
             call->hook < HOOK_COUNT ? hook_names[call->hook] : "?", call->ptr, (unsigned long long)call->size,
             call->spyed, call->actual);
}

static __attribute__((unused)) int hook_call_matches(const struct hook_call *expect, const struct hook_call *got)
{
    return expect->hook == got->hook && (expect->ptr == ANY_PTR || expect->ptr == got->ptr) &&
           (expect->size == ANY_SIZE || expect->size == got->size) &&
           (expect->spyed == ANY_SPYED || expect->spyed == got->spyed) && expect->actual == got->actual;
}

/* Compares a log with the expected calls; writes a one-line verdict ("N calls as expected" or where they part) into
 * message and returns nonzero when they are the same. overflow: the log lost calls (it is then never a match). */
static __attribute__((unused)) int hook_log_compare(const struct hook_call *expect, unsigned int count,
                                                    const struct hook_call *log, unsigned int log_count, int overflow,
                                                    char *message, size_t size)
{
    char expect_text[160], got_text[160];
    unsigned int i, common = count < log_count ? count : log_count;
    int match = !overflow && log_count == count;

    for (i = 0; i < common; i++)
        if (!hook_call_matches(&expect[i], &log[i]))
        {
            match = 0;
            break;
        }
    if (match)
        snprintf(message, size, "%u calls as expected\n", count);
    else if (i < common)
    {
        hook_call_describe(expect_text, sizeof(expect_text), &expect[i]);
        hook_call_describe(got_text, sizeof(got_text), &log[i]);
        snprintf(message, size, "call %u: expected %s, got %s\n", i, expect_text, got_text);
    }
    else if (log_count > count)
    {
        hook_call_describe(got_text, sizeof(got_text), &log[count]);
        snprintf(message, size, "%u calls expected, got %u%s; first extra: %s\n", count, log_count, overflow ? "+" : "",
                 got_text);
    }
    else
    {
        hook_call_describe(expect_text, sizeof(expect_text), &expect[log_count]);
        snprintf(message, size, "%u calls expected, got %u; first missing: %s\n", count, log_count, expect_text);
    }
    return match;
}

#define HOOK_ARRAY_SIZE(array) (sizeof(array) / sizeof((array)[0]))

/* The checks of a log, for any spy fixture that defines check_log_(file, line, key, spy, expect, count): key names
 * the known Wine difference a mismatch is (NULL: an ordinary check). Each check forgets the calls it compared. */
#define check_log(spy, ...)                                                                                            \
    do                                                                                                                 \
    {                                                                                                                  \
        const struct hook_call expect_[] = {__VA_ARGS__};                                                              \
        check_log_(__FILE__, __LINE__, NULL, spy, expect_, HOOK_ARRAY_SIZE(expect_));                                  \
    } while (0)
#define check_log_windows(key, spy, ...)                                                                               \
    do                                                                                                                 \
    {                                                                                                                  \
        const struct hook_call expect_[] = {__VA_ARGS__};                                                              \
        check_log_(__FILE__, __LINE__, key, spy, expect_, HOOK_ARRAY_SIZE(expect_));                                   \
    } while (0)
#define check_no_calls(spy) check_log_(__FILE__, __LINE__, NULL, spy, NULL, 0)
#define check_no_calls_windows(key, spy) check_log_(__FILE__, __LINE__, key, spy, NULL, 0)

/* --- pairing: each Post closes the Pre opened last ------------------------------------------------------------- */

enum
{
    HOOK_PAIRS_MAX = 16,
};

/* What a Pre hook saw, for its Post. */
struct hook_frame
{
    enum hook pre;
    const void *ptr;
    size_t size;
    size_t old_size;
    int spyed;
};

/* The Pre hooks whose Post has not come yet, innermost last. errors counts every break of the rule. */
struct hook_pairs
{
    struct hook_frame open[HOOK_PAIRS_MAX];
    unsigned int depth;
    long errors;
};

/* A Pre hook returns: its Post is now due. Returns 0 (and counts an error) when the hooks nest too deep. */
static __attribute__((unused)) int hook_pairs_open(struct hook_pairs *pairs, struct hook_frame frame)
{
    if (pairs->depth >= HOOK_PAIRS_MAX)
    {
        pairs->errors++;
        return 0;
    }
    pairs->open[pairs->depth++] = frame;
    return 1;
}

/* The Pre hook opened last, or NULL when none is open. */
static __attribute__((unused)) const struct hook_frame *hook_pairs_top(const struct hook_pairs *pairs)
{
    return pairs->depth ? &pairs->open[pairs->depth - 1] : NULL;
}

/* A Post hook is called: it must close the Pre opened last. Returns what that Pre saw, or NULL (and counts an
 * error, leaving the open hooks as they were) when the Post closes nothing or another kind of Pre. */
static __attribute__((unused)) const struct hook_frame *hook_pairs_close(struct hook_pairs *pairs, enum hook post)
{
    const struct hook_frame *top = hook_pairs_top(pairs);

    if (!top || top->pre != post - 1)
    {
        pairs->errors++;
        return NULL;
    }
    pairs->depth--;
    return top;
}

/* Every Pre had its Post and no Post came out of turn. */
static __attribute__((unused)) int hook_pairs_balanced(const struct hook_pairs *pairs)
{
    return !pairs->errors && !pairs->depth;
}

#endif /* OLE32MEM_HOOK_LOG_H */
