/*
 * The thin platform layer under the allocator core.
 *
 * The core (task_memory.c, blocktable.c) names no operating-system call: everything it needs from the system goes
 * through the functions declared here, so the same core compiles into ole32mem.dll (platform_win32.h: the process
 * heap, a futex-style mutex) and into host test programs on Linux (platform_posix.h: malloc with a size header, a
 * pthread mutex; the host port in host/, outside the DLL's folder), where sanitizers and fuzzers can run on it.
 *
 * Contract of every implementation:
 *   plat_heap_alloc(n)      a block of n bytes (n may be 0), aligned for any type; NULL on failure.
 *   plat_heap_realloc(p, n) p != NULL and n != 0; NULL on failure with p left intact.
 *   plat_heap_free(p)       p != NULL; frees a block of this heap.
 *   plat_heap_size(p)       the size requested for live block p; (size_t)-1 when p is not one.
 *   plat_heap_owns(p)       nonzero when p is a live block of this heap; must not crash on wild pointers and must
 *                           only look at the one block (never walk the heap).
 *   plat_heap_minimize()    give free memory back to the system where the heap can.
 *   PLAT_HEAP_HEADER_BYTES  how many bytes in front of a block plat_heap_size and plat_heap_owns read (the heap's
 *                           block header): a report probes them before asking about a block that may be gone.
 *   plat_heap_ask(p)        a report's question about a pointer that may no longer be a block (its bytes may be
 *                           anybody's by now): what plat_heap_size answers when plat_heap_owns(p), else (size_t)-1;
 *                           (size_t)-1 too when the heap faults on the bytes it finds there, which it may: the fault
 *                           is caught and the heap left as it was (its lock given back), never the process's end.
 *   plat_meta_alloc/free    zeroed memory for the core's own bookkeeping, never seen by the program. At process
 *                           exit only the report's names table uses it, and only when plat_meta_lock_state() answers
 *                           PLAT_HEAP_LOCK_FREE (a thread ended inside it may have left it locked).
 *   plat_memory_readable(p, n)  nonzero when the n bytes at p can be read without a fault, decided without
 *                           touching them and without any heap (used at process exit only).
 *   plat_heap_probe_lock()  learns, while every thread runs, how to tell whether the heap's lock and the bookkeeping
 *                           heap's are held (may find nothing), and readies plat_heap_ask; called once when the
 *                           diagnostics start. plat_heap_probe_release() undoes it when the DLL is unloaded.
 *   plat_heap_lock_state()  at process exit: PLAT_HEAP_LOCK_FREE when a call into the heap cannot wait for an ended
 *                           thread, PLAT_HEAP_LOCK_HELD when it would, PLAT_HEAP_LOCK_UNKNOWN when it cannot tell.
 *   plat_meta_lock_state()  the same for the bookkeeping heap of plat_meta_alloc.
 *   plat_mutex              a plain (non-recursive) mutex with a static initializer PLAT_MUTEX_INIT;
 *                           plat_mutex_lock/unlock, and plat_mutex_trylock (nonzero when it took the mutex).
 *   plat_thread_id()        a nonzero id of the calling thread.
 * The diagnostics' output (log file, module names of code addresses) is in platform_report.h.
 * HRESULT, the few error codes the core returns, and SIZE_T come from the platform header too.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_H
#define OLE32MEM_PLATFORM_H

enum plat_heap_lock_state
{
    PLAT_HEAP_LOCK_UNKNOWN,
    PLAT_HEAP_LOCK_FREE,
    PLAT_HEAP_LOCK_HELD,
};

#ifdef _WIN32
#include "platform_win32.h"
#else
#include "platform_posix.h"
#endif

#if defined(__GNUC__)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NOINLINE __attribute__((noinline))
#else
#define likely(x) (x)
#define unlikely(x) (x)
#define NOINLINE
#endif

#endif /* OLE32MEM_PLATFORM_H */
