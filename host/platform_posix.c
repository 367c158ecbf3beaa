/*
 * Platform layer for the Linux host build: the allocator core over malloc, for the host tests (ASan, UBSan, TSan)
 * and the fuzzer. None of this is in the DLL: host/ is the Linux port, kept apart from dlls/ole32mem/ (what ships),
 * and no file of the port includes a test file.
 *
 * Heap blocks are malloc blocks with a header of HEADER_SIZE bytes in front that records the requested size (GetSize
 * must answer the request, not malloc's rounding) and the block's capacity; the program gets the address after the
 * header, which stays 16-aligned.
 *
 * Like Windows' heap, and unlike a bare malloc under ASan (whose quarantine never hands an address out again soon),
 * the heap reuses addresses and resizes in place, because the diagnostics' liveness rules are about exactly that
 * (another allocator freeing, resizing or moving a block of ole32mem's, and the address coming back): every block
 * has room to grow in place (its capacity, at least 32 bytes beyond the request, rounded to 32), a Realloc that fits
 * stays in place, and a freed block waits in a small cache (RECYCLE blocks, newest first) from which the next
 * allocation that fits takes it, at the same address. ASan still sees every byte beyond the request and every byte
 * of a cached block as poisoned (manual poisoning), so an overrun or a use after free is still reported. Every live block is also a key of host_blocks, a block table (blocktable.c, the core's own) under
 * host_lock, so that plat_heap_owns and plat_heap_size answer exactly for any pointer without dereferencing it,
 * and so that free/realloc of something that is not a live block stops the program with a message instead of
 * corrupting memory: the host platform doubles as a checker of the pointers the core hands to the heap.
 *
 * The block table takes its memory from plat_meta_alloc, so the metadata allocator is plain calloc/free and never
 * the tracked heap (which would recurse into host_lock).
 *
 * Test hooks (declared in host_platform.h, next to this file): failure injection for the heap and for the metadata
 * allocator, so that the tests and the fuzzer can make one chosen allocation fail. The table of live blocks is exempt
 * from the metadata failures (they would look like heap failures and only blur the model).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "platform.h"
#include "blocktable.h"
#include "platform_report.h"

#include <sanitizer/asan_interface.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "host_platform.h"

enum
{
    /* The requested size, padded so that the program's pointer keeps malloc's 16-byte alignment. */
    HEADER_SIZE = 16,
    /* Freed blocks kept for reuse. */
    RECYCLE = 8,
    /* Bookkeeping blocks from this size on are kept for reuse (plat_meta_free). */
    SPARE_MIN = 64 * 1024,
};

/* Larger requests fail without reaching malloc: ASan and libFuzzer treat huge mallocs as errors, Windows' heap just
 * fails them. Far above anything the tests allocate on purpose. */
#define HOST_MAX_REQUEST ((size_t)1 << 32)

_Static_assert(alignof(max_align_t) >= HEADER_SIZE, "malloc must align to the header size");

struct header
{
    size_t size;
    size_t capacity; /* bytes after the header that malloc gave */
};
_Static_assert(sizeof(struct header) == HEADER_SIZE, "header layout");

static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static struct block_table host_blocks = BLOCK_TABLE_INIT_KEYS; /* under host_lock */
static struct header *recycled[RECYCLE]; /* under host_lock: freed blocks, newest first */
static size_t recycled_count;

/* Failure injection: n > 0 makes the n-th following call fail (once); 0 is off. */
static atomic_long heap_fail_countdown, meta_fail_countdown;
static atomic_long heap_failures_injected, meta_failures_injected;
static _Thread_local int in_host_table; /* metadata requests of host_blocks itself are never failed */

static int inject(atomic_long *countdown, atomic_long *injected)
{
    long n = atomic_load(countdown);

    while (n > 0)
    {
        if (atomic_compare_exchange_weak(countdown, &n, n - 1))
        {
            if (n != 1)
                return 0;
            atomic_fetch_add(injected, 1);
            return 1;
        }
    }
    return 0;
}

static void fatal(const char *what, const void *p)
{
    fprintf(stderr, "platform_posix: %s %p is not a live heap block\n", what, p);
    abort();
}

static struct header *header_of(const void *p)
{
    return (struct header *)((char *)p - HEADER_SIZE);
}

/* The block's bytes: the first n usable, the rest of its capacity poisoned. */
static void set_size(struct header *h, size_t n)
{
    h->size = n;
    ASAN_UNPOISON_MEMORY_REGION(h + 1, n);
    ASAN_POISON_MEMORY_REGION((char *)(h + 1) + n, h->capacity - n);
}

/* A block of capacity for n from the cache (the newest that fits) or from malloc. Under host_lock. */
static struct header *new_block(size_t n)
{
    size_t i, capacity = (n + 32 + 31) & ~(size_t)31;
    struct header *h;

    for (i = 0; i < recycled_count; i++)
        if (recycled[i]->capacity >= n)
        {
            h = recycled[i];
            memmove(recycled + i, recycled + i + 1, (recycled_count - i - 1) * sizeof(*recycled));
            recycled_count--;
            set_size(h, n);
            return h;
        }
    if (!(h = malloc(HEADER_SIZE + capacity)))
        return NULL;
    h->capacity = capacity;
    set_size(h, n);
    return h;
}

/* A freed block goes to the cache (the oldest one there back to malloc). Under host_lock. */
static void recycle(struct header *h)
{
    ASAN_POISON_MEMORY_REGION(h + 1, h->capacity);
    if (recycled_count == RECYCLE)
    {
        ASAN_UNPOISON_MEMORY_REGION(recycled[RECYCLE - 1] + 1, recycled[RECYCLE - 1]->capacity);
        free(recycled[--recycled_count]);
    }
    memmove(recycled + 1, recycled, recycled_count * sizeof(*recycled));
    recycled[0] = h;
    recycled_count++;
}

void *plat_heap_alloc(size_t n)
{
    struct header *h;
    int ok;

    if (n > HOST_MAX_REQUEST || inject(&heap_fail_countdown, &heap_failures_injected))
        return NULL;
    pthread_mutex_lock(&host_lock);
    in_host_table = 1;
    ok = (h = new_block(n)) && block_table_insert(&host_blocks, h + 1, NULL);
    if (h && !ok)
        recycle(h);
    in_host_table = 0;
    pthread_mutex_unlock(&host_lock);
    return ok ? h + 1 : NULL;
}

void *plat_heap_realloc(void *p, size_t n)
{
    struct header *h;

    pthread_mutex_lock(&host_lock);
    if (!block_table_lookup(&host_blocks, p, NULL))
    {
        pthread_mutex_unlock(&host_lock);
        fatal("realloc of", p);
    }
    /* Everything under the lock: once realloc has moved the block, another thread's malloc may get the old address
     * and must not find it still in the table. The reserve makes the insert below infallible. */
    in_host_table = 1;
    if (n > HOST_MAX_REQUEST || inject(&heap_fail_countdown, &heap_failures_injected) ||
        !block_table_reserve(&host_blocks, 1))
    {
        in_host_table = 0;
        pthread_mutex_unlock(&host_lock);
        return NULL;
    }
    if (n <= header_of(p)->capacity)
        set_size(h = header_of(p), n); /* in place, as HeapReAlloc when the block has room */
    else if ((h = new_block(n)))
    {
        memcpy(h + 1, p, header_of(p)->size);
        block_table_remove(&host_blocks, p, NULL);
        recycle(header_of(p));
        block_table_insert(&host_blocks, h + 1, NULL);
    }
    in_host_table = 0;
    pthread_mutex_unlock(&host_lock);
    return h ? h + 1 : NULL;
}

int host_heap_resize_in_place(void *p, size_t n)
{
    int ok;

    pthread_mutex_lock(&host_lock);
    if (!block_table_lookup(&host_blocks, p, NULL))
    {
        pthread_mutex_unlock(&host_lock);
        fatal("resize of", p);
    }
    if ((ok = n <= header_of(p)->capacity))
        set_size(header_of(p), n);
    pthread_mutex_unlock(&host_lock);
    return ok;
}

void plat_heap_free(void *p)
{
    int found;

    pthread_mutex_lock(&host_lock);
    if ((found = block_table_remove(&host_blocks, p, NULL)))
        recycle(header_of(p));
    pthread_mutex_unlock(&host_lock);
    if (!found)
        fatal("free of", p);
}

size_t plat_heap_size(const void *p)
{
    size_t size = (size_t)-1;

    pthread_mutex_lock(&host_lock);
    if (p && block_table_lookup(&host_blocks, p, NULL))
        size = header_of(p)->size;
    pthread_mutex_unlock(&host_lock);
    return size;
}

int plat_heap_owns(const void *p)
{
    int found;

    pthread_mutex_lock(&host_lock);
    found = p && block_table_lookup(&host_blocks, p, NULL);
    pthread_mutex_unlock(&host_lock);
    return found;
}

#if defined(__SANITIZE_ADDRESS__)
#define HOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOST_ASAN 1
#endif
#endif

int plat_memory_readable(const void *p, size_t n)
{
#ifdef HOST_ASAN
    return p && n && !__asan_region_is_poisoned((void *)p, n);
#else
    return p && n;
#endif
}

size_t plat_heap_ask(const void *p)
{
    return plat_heap_owns(p) ? plat_heap_size(p) : (size_t)-1;
}

/* malloc has nothing to compact that the tests could observe. */
void plat_heap_minimize(void)
{
}

/* One large bookkeeping block kept for the next request of its size: a report takes one of some 300 KB (its table
 * of names) and frees it at its end, and under ASan each such calloc was a fresh mapping, page faults and an unmap,
 * a quarter of the fuzzer's time. Poisoned while it waits, so a use after free is still reported. */
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static void *spare;
static size_t spare_size;

void *plat_meta_alloc(size_t n)
{
    void *p = NULL;

    if (!in_host_table && inject(&meta_fail_countdown, &meta_failures_injected))
        return NULL;
    if (n >= SPARE_MIN)
    {
        pthread_mutex_lock(&spare_lock);
        if (spare && spare_size == n)
        {
            p = spare;
            spare = NULL;
        }
        pthread_mutex_unlock(&spare_lock);
    }
    if (!p)
        return calloc(1, n);
    ASAN_UNPOISON_MEMORY_REGION(p, n);
    return memset(p, 0, n);
}

void plat_meta_free(void *p)
{
    size_t n = p ? malloc_usable_size(p) : 0;

    if (n >= SPARE_MIN)
    {
        pthread_mutex_lock(&spare_lock);
        if (!spare)
        {
            ASAN_POISON_MEMORY_REGION(p, n);
            spare = p;
            spare_size = n;
            p = NULL;
        }
        pthread_mutex_unlock(&spare_lock);
    }
    free(p);
}

/* A report's collection: the metadata failures apply to it too, so that the report's out-of-memory path is fuzzed. */
void *plat_report_pages(size_t bytes)
{
    if (inject(&meta_fail_countdown, &meta_failures_injected))
        return NULL;
    return calloc(1, bytes);
}

void plat_report_pages_free(void *pages, size_t bytes)
{
    (void)bytes;
    free(pages);
}

size_t plat_heap_live_blocks(void)
{
    size_t count;

    pthread_mutex_lock(&host_lock);
    count = host_blocks.count;
    pthread_mutex_unlock(&host_lock);
    return count;
}

plat_thread_id_t plat_thread_id(void)
{
    static _Thread_local char anchor;

    return (plat_thread_id_t)&anchor;
}

void host_fail_heap_after(long n)
{
    atomic_store(&heap_fail_countdown, n);
}

void host_fail_meta_after(long n)
{
    atomic_store(&meta_fail_countdown, n);
}

long host_heap_failures_injected(void)
{
    return atomic_load(&heap_failures_injected);
}

long host_meta_failures_injected(void)
{
    return atomic_load(&meta_failures_injected);
}

long host_meta_fail_countdown(void)
{
    return atomic_load(&meta_fail_countdown);
}
