/*
 * Platform layer for the Linux host build (tests under ASan/UBSan/TSan and libFuzzer).
 *
 * The heap is malloc with a small header that records the requested size, because GetSize must answer the
 * requested size, not malloc_usable_size's rounding; like Windows' heap it reuses freed addresses soon and resizes
 * in place when the block has room (platform_posix.c). plat_heap_owns is exact: live blocks are kept in a block
 * table of their own (under its own mutex), so the host tests can check DidAlloc on wild pointers without
 * dereferencing them. None of this is in the DLL.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_POSIX_H
#define OLE32MEM_PLATFORM_POSIX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef int32_t HRESULT;
typedef size_t SIZE_T;
typedef int BOOL;
#define S_OK ((HRESULT)0)
#define E_ACCESSDENIED ((HRESULT)0x80070005)
#define E_INVALIDARG ((HRESULT)0x80070057)
#define CO_E_OBJISREG ((HRESULT)0x800401FC)
#define CO_E_OBJNOTREG ((HRESULT)0x800401FB)
#define SUCCEEDED(hr) ((HRESULT)(hr) >= 0)
#define FAILED(hr) ((HRESULT)(hr) < 0)
#ifndef TRUE
#define TRUE 1
#define FALSE 0
#endif

void *plat_heap_alloc(size_t n);
void *plat_heap_realloc(void *p, size_t n);
void plat_heap_free(void *p);
size_t plat_heap_size(const void *p);
int plat_heap_owns(const void *p);
/* Exact for any pointer (nothing is read at it): the same answers as plat_heap_owns and plat_heap_size. */
size_t plat_heap_ask(const void *p);
void plat_heap_minimize(void);
void *plat_meta_alloc(size_t n);
void plat_meta_free(void *p);
/* plat_heap_size and plat_heap_owns read no header (platform_posix.c): nothing to probe in front of a block. */
#define PLAT_HEAP_HEADER_BYTES 0
/* Memory that AddressSanitizer has poisoned (freed blocks, bytes past a request) stands for pages that are gone: a
 * report reads a stale record's bytes only where this says they can be read. Without ASan everything is readable. */
int plat_memory_readable(const void *p, size_t n);
/* The host has no process-exit report: nothing to learn about the heap's lock. */
static inline void plat_heap_probe_lock(void)
{
}
static inline void plat_heap_probe_release(void)
{
}
static inline enum plat_heap_lock_state plat_heap_lock_state(void)
{
    return PLAT_HEAP_LOCK_UNKNOWN;
}
static inline enum plat_heap_lock_state plat_meta_lock_state(void)
{
    return PLAT_HEAP_LOCK_UNKNOWN;
}

/* Test hook: how many host heap blocks are live (leak checks in the host tests). */
size_t plat_heap_live_blocks(void);

typedef pthread_mutex_t plat_mutex;
#define PLAT_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER

static inline void plat_mutex_lock(plat_mutex *m)
{
    pthread_mutex_lock(m);
}

static inline int plat_mutex_trylock(plat_mutex *m)
{
    return pthread_mutex_trylock(m) == 0;
}

static inline void plat_mutex_unlock(plat_mutex *m)
{
    pthread_mutex_unlock(m);
}

typedef uintptr_t plat_thread_id_t;

/* The address of a thread-local object: unique among live threads and never 0. */
plat_thread_id_t plat_thread_id(void);

#endif /* OLE32MEM_PLATFORM_POSIX_H */
