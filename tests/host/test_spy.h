/*
 * A configurable IMallocSpy for the host tests and the fuzzer, implemented directly over struct spy_ops.
 *
 * It logs every hook in the vocabulary of tests/hook_log.h (the host tests check it with check_log, as the
 * conformance tests do), checks the protocol from the spy's side (Pre/Post pairs nest and never interleave across
 * threads, by hook_log.h's pairing checker; fSpyed agrees with the set of blocks the spy handed out, PostDidAlloc gets
 * the caller's pointer, no hook runs while the spy is not registered, the release comes once and outside any hook) and
 * can:
 *   - add a header (with a size and a magic number, checked on free) and a trailer (a pattern, checked on free
 *     through a reentrant GetSize, as WIL's spy does) to every block it sees allocated;
 *   - refuse the next allocation or reallocation (PreAlloc/PreRealloc answer 0), or refuse registration;
 *   - perform one allocator call from inside a chosen hook (reentry).
 * Hooks run under the core's lock, so the spy's state needs no lock of its own; the counters that tests read while
 * other threads run are atomics. Violations are counted with the first message kept; the tests check the count.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_TEST_SPY_H
#define OLE32MEM_TEST_SPY_H

#include <stdatomic.h>

#include "../hook_log.h"
#include "task_memory.h"

enum reentry_action
{
    RE_NONE,
    RE_ALLOC_FREE, /* allocate `size` bytes, write them, free them */
    RE_GET_SIZE,   /* GetSize(block) */
    RE_DID_ALLOC,  /* DidAlloc(block) */
    RE_FREE,       /* Free(block) */
    RE_REVOKE,     /* CoRevokeMallocSpy */
    RE_REGISTER,   /* CoRegisterMallocSpy(other) */
};

/* One allocator call made from inside the first hook of kind `hook` (HOOK_ACQUIRE: inside acquire). */
struct reentry
{
    enum hook hook;
    int action;
    void *block;
    size_t size;
    struct test_spy *other;
    /* results */
    int fired;
    HRESULT hr;
    SIZE_T got_size;
    int got_did;
};

enum
{
    SPY_LOG_MAX = 64,
    SPY_MAGIC_SIZE = 16, /* a header of at least this size holds the block's size and a magic number */
};

struct test_spy
{
    /* Configuration: set before registering. */
    size_t header;  /* a multiple of 16 (keeps the alignment) */
    size_t trailer; /* any size */
    int refuse_acquire;
    int refuse_next;     /* one-shot: the next PreAlloc/PreRealloc with a nonzero request answers 0 */
    int track;           /* keep the set of blocks handed out and check every fSpyed against it */
    int measure_on_free; /* PreFree of a spied block calls GetSize on it (reentrant, as WIL's spy) */
    struct reentry reentry;

    /* State. */
    atomic_int refs, acquires, releases;
    atomic_long hooks;
    atomic_long violations;
    char first_violation[256];
    long outstanding;        /* blocks handed out by PostAlloc/PostRealloc and not yet freed or reallocated */
    struct hook_pairs pairs; /* the open Pre hooks (tests/hook_log.h); a pairing error is also a violation */
    plat_thread_id_t owner;  /* the thread inside the open Pre/Post pairs, while pairs.depth > 0 */
    void **mine;
    size_t mine_count, mine_capacity;
    struct hook_call log[SPY_LOG_MAX]; /* in the vocabulary of tests/hook_log.h: check_log(&spy, PRE_ALLOC(27), ...) */
    unsigned log_count;
    int log_overflow;
};

extern const struct spy_ops test_spy_ops;

void test_spy_init(struct test_spy *spy, size_t header, size_t trailer);
void test_spy_clear_log(struct test_spy *spy);
/* Frees the tracking array (the spy must be released). */
void test_spy_cleanup(struct test_spy *spy);
/* "PreAlloc PostAlloc ..." for messages. */
const char *test_spy_log_string(const struct test_spy *spy);

#endif /* OLE32MEM_TEST_SPY_H */
