/*
 * Hook sequences that both test suites run, written once: the conformance tests (tests/spy.c, under Wine, against
 * ole32mem and the builtin) drive them through IMalloc and CoTaskMem*, the host tests (tests/host/test_core.c, under
 * ASan) through the core's task_* functions. Each side binds a struct seq_allocator to its calls, registers its own
 * recording spy (tests/recording_spy.h or tests/host/test_spy.h, both named struct test_spy and both checked with
 * tests/hook_log.h's check_log) and defines, before including this file:
 *
 *     static void seq_refuse(struct test_spy *spy, int on);   the spy's PreAlloc/PreRealloc answer 0 while on
 *
 * A sequence starts with the spy registered and its log empty, and leaves it so. Where Wine's builtin differs from
 * Windows a check carries its key from docs/semantics.md section 6 (check_log_windows); the host's check_log_ takes
 * every check as an ordinary one. Portable C: nothing here names Windows or POSIX. Never registers or revokes: what
 * comes after a sequence (revoke, release, references) differs between the two spies and stays with each suite.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_SEQUENCES_H
#define OLE32MEM_SEQUENCES_H

#include "hook_log.h"

/* The allocator a sequence drives. spied_blocks may be NULL (only the host core can count its spied blocks). */
struct seq_allocator
{
    void *(*alloc)(SIZE_T size);
    void *(*realloc)(void *block, SIZE_T size);
    void (*free)(void *block);
    SIZE_T (*get_size)(void *block);
    int (*did_alloc)(void *block);
    void (*heap_minimize)(void);
    size_t (*spied_blocks)(void);
};

static void seq_refuse(struct test_spy *spy, int on);

static TEST_UNUSED void seq_check_spied(const struct seq_allocator *a, size_t expect)
{
    if (a->spied_blocks)
        ok(a->spied_blocks() == expect, "spied blocks %llu, expected %llu\n", SZ(a->spied_blocks()), SZ(expect));
}

/* Every method on blocks allocated under the spy: each calls its Pre and Post hook with fSpyed TRUE and the
 * caller's pointer, and the block keeps its contents through Realloc (docs/semantics.md rules 28 to 38). */
static TEST_UNUSED void seq_spied_block_hooks(const struct seq_allocator *a, struct test_spy *spy)
{
    static const SIZE_T realloc_sizes[] = {3000, 5};
    char *block, *moved;
    unsigned int i;
    SIZE_T size;
    int did;

    block = a->alloc(27);
    ok(block != NULL, "Alloc: NULL\n");
    check_log(spy, PRE_ALLOC(27), POST_ALLOC(block));
    if (!block)
        return;
    seq_check_spied(a, 1);
    size = a->get_size(block);
    ok(size == 27, "GetSize: got %llu\n", SZ(size));
    check_log(spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(27, TRUE));
    did = a->did_alloc(block);
    ok(did == 1, "DidAlloc: got %d\n", did);
    check_log(spy, PRE_DID_ALLOC(block, TRUE), POST_DID_ALLOC(block, TRUE, 1));
    did = a->did_alloc(block + 4);
    ok(did == 0, "DidAlloc(p + 4): got %d\n", did);
    check_log(spy, PRE_DID_ALLOC(block + 4, FALSE), POST_DID_ALLOC(block + 4, FALSE, 0));
    a->heap_minimize();
    check_log(spy, PRE_HEAP_MINIMIZE, POST_HEAP_MINIMIZE);

    /* Grow, then shrink below the first size: the block keeps what fits. */
    fill(block, 27, 1);
    for (i = 0; i < sizeof(realloc_sizes) / sizeof(realloc_sizes[0]); i++)
    {
        moved = a->realloc(block, realloc_sizes[i]);
        ok(moved != NULL, "Realloc(p, %llu): NULL\n", SZ(realloc_sizes[i]));
        check_log(spy, PRE_REALLOC(block, realloc_sizes[i], TRUE), POST_REALLOC(moved, TRUE));
        ok(moved && filled(moved, realloc_sizes[i] < 27 ? realloc_sizes[i] : 27, 1),
           "Realloc(p, %llu): contents lost\n", SZ(realloc_sizes[i]));
        if (moved)
            block = moved;
    }
    size = a->get_size(block);
    ok(size == 5, "GetSize: got %llu\n", SZ(size));
    check_log(spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(5, TRUE));
    a->free(block);
    check_log(spy, PRE_FREE(block, TRUE), POST_FREE(TRUE));
    seq_check_spied(a, 0);

    block = a->alloc(0);
    ok(block != NULL, "Alloc(0): NULL\n");
    check_log(spy, PRE_ALLOC(0), POST_ALLOC(block));
    a->free(block);
    check_log(spy, PRE_FREE(block, TRUE), POST_FREE(TRUE));
}

/* A block allocated before the registration, of `expect` bytes: GetSize and DidAlloc call their hooks with fSpyed
 * FALSE (docs/semantics.md rule 38). */
static TEST_UNUSED void seq_unspied_block_hooks(const struct seq_allocator *a, struct test_spy *spy, void *block,
                                                SIZE_T expect)
{
    SIZE_T size = a->get_size(block);
    int did;

    ok(size == expect, "GetSize: got %llu, expected %llu\n", SZ(size), SZ(expect));
    check_log(spy, PRE_GET_SIZE(block, FALSE), POST_GET_SIZE(expect, FALSE));
    did = a->did_alloc(block);
    ok(did == 1, "DidAlloc: got %d\n", did);
    check_log(spy, PRE_DID_ALLOC(block, FALSE), POST_DID_ALLOC(block, FALSE, 1));
}

/* PreAlloc answering 0 refuses a nonzero request: Alloc fails without PostAlloc. For a 0-byte request 0 is the
 * size asked for, not a refusal (docs/semantics.md rule 29). */
static TEST_UNUSED void seq_refusing_alloc(const struct seq_allocator *a, struct test_spy *spy)
{
    void *block;

    seq_refuse(spy, 1);
    block = a->alloc(10);
    ok(block == NULL, "refused Alloc: got %p\n", block);
    check_log(spy, PRE_ALLOC(10));
    seq_refuse(spy, 1);
    block = a->alloc(100);
    ok(block == NULL, "refused Alloc: got %p\n", block);
    check_log(spy, PRE_ALLOC(100));
    seq_refuse(spy, 1);
    block = a->alloc(0);
    ok(block != NULL, "Alloc(0): 0 answered to a 0-byte request is not a refusal\n");
    check_log(spy, PRE_ALLOC(0), POST_ALLOC(block));
    seq_refuse(spy, 0);
    a->free(block);
    check_log(spy, PRE_FREE(block, TRUE), POST_FREE(TRUE));
    seq_check_spied(a, 0);
}

/* PreRealloc answering 0 refuses (rule 32): Realloc fails without PostRealloc, the block keeps its contents. Returns
 * the block (16 bytes, fill seed 3, still allocated) for the caller's checks that it is still spied; NULL when even the
 * Alloc failed. */
static TEST_UNUSED void *seq_refusing_realloc(const struct seq_allocator *a, struct test_spy *spy)
{
    void *block, *result;

    block = a->alloc(16);
    ok(block != NULL, "Alloc: NULL\n");
    check_log(spy, PRE_ALLOC(16), POST_ALLOC(block));
    if (!block)
        return NULL;
    fill(block, 16, 3);
    seq_refuse(spy, 1);
    result = a->realloc(block, 64);
    ok(result == NULL, "refused Realloc: got %p\n", result);
    check_log(spy, PRE_REALLOC(block, 64, TRUE));
    seq_refuse(spy, 1);
    result = a->realloc(block, 8);
    ok(result == NULL, "refused Realloc: got %p\n", result);
    check_log_windows("failed-realloc-unspies", spy, PRE_REALLOC(block, 8, TRUE));
    seq_refuse(spy, 0);
    ok(filled(block, 16, 3), "refused Realloc changed the contents\n");
    seq_check_spied(a, 1);
    return block;
}

/* Realloc(NULL, n) under a spy is an Alloc: PreAlloc/PostAlloc, and the block is spied (docs/semantics.md rule 34).
 * Returns the block, or NULL. */
static TEST_UNUSED void *seq_realloc_null(const struct seq_allocator *a, struct test_spy *spy, SIZE_T size)
{
    void *block = a->realloc(NULL, size);
    SIZE_T got;

    ok(block != NULL, "Realloc(NULL, %llu): NULL\n", SZ(size));
    if (!block)
        return NULL;
    check_log_windows("realloc-null-uses-prerealloc", spy, PRE_ALLOC(size), POST_ALLOC(block));
    got = a->get_size(block);
    ok(got == size, "GetSize: got %llu, expected %llu\n", SZ(got), SZ(size));
    check_log(spy, PRE_GET_SIZE(block, TRUE), POST_GET_SIZE(size, TRUE));
    return block;
}

/* Realloc(p, 0) of a spied block under a spy is a Free: PreFree/PostFree, and NULL comes back (rule 34). */
static TEST_UNUSED void seq_realloc_zero(const struct seq_allocator *a, struct test_spy *spy, void *block)
{
    void *result = a->realloc(block, 0);

    ok(result == NULL, "Realloc(p, 0): got %p\n", result);
    check_log_windows("realloc-zero-via-prerealloc", spy, PRE_FREE(block, TRUE), POST_FREE(TRUE));
}

#endif /* OLE32MEM_SEQUENCES_H */
