/*
 * Platform layer for Windows (and Wine): the process heap, exactly as Windows' ole32 uses it, so that blocks cross
 * freely between ole32mem and the system ole32/combase in both directions. Links with -lsynchronization
 * (WaitOnAddress).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_WIN32_H
#define OLE32MEM_PLATFORM_WIN32_H

#include <windef.h>
#include <winbase.h>
#include <winerror.h>
#include <synchapi.h>

/* The process heap, read where GetProcessHeap() reads it: the PEB's ProcessHeap field (the PEB at gs:0x60 on x86_64,
 * fs:0x30 on i686; the field at 0x30 and 0x18), the layout Windows and Wine share. It is on every call of the
 * allocator, with a spy or without: inline, it saves a call through the import table each time (2-3% of a no-spy
 * DidAlloc, 1-2 ns). The handle never changes during a process's life. */
enum
{
#if defined(__x86_64__)
    PLAT_PEB_PROCESS_HEAP = 0x30,
#else
    PLAT_PEB_PROCESS_HEAP = 0x18,
#endif
};

static inline HANDLE plat_process_heap(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    const char *peb;

    /* Not volatile: the PEB's address never changes, and neither does the field. */
#if defined(__x86_64__)
    __asm__("movq %%gs:0x60, %0" : "=r"(peb));
#else
    __asm__("movl %%fs:0x30, %0" : "=r"(peb));
#endif
    return *(HANDLE const *)(peb + PLAT_PEB_PROCESS_HEAP);
#else
    return GetProcessHeap();
#endif
}

static inline void *plat_heap_alloc(size_t n)
{
    return HeapAlloc(plat_process_heap(), 0, n);
}

static inline void *plat_heap_realloc(void *p, size_t n)
{
    return HeapReAlloc(plat_process_heap(), 0, p, n);
}

/* ntdll's heap functions, which kernel32's HeapFree and HeapValidate reach through a jump (HeapFree, to
 * kernelbase's forwarder) or a wrapper function (HeapValidate, kernelbase's); HeapAlloc, HeapReAlloc and HeapSize are
 * forwarded to ntdll at load time already. */
DECLSPEC_IMPORT BOOLEAN NTAPI RtlFreeHeap(HANDLE heap, ULONG flags, void *block);
DECLSPEC_IMPORT BOOLEAN NTAPI RtlValidateHeap(HANDLE heap, ULONG flags, const void *block);

static inline void plat_heap_free(void *p)
{
    RtlFreeHeap(plat_process_heap(), 0, p);
}

static inline size_t plat_heap_size(const void *p)
{
    return HeapSize(plat_process_heap(), 0, p);
}

/* HeapValidate with a block pointer checks that one block only; both Windows and Wine answer FALSE (not a fault)
 * for pointers that are not blocks of the heap, which is what DidAlloc needs. */
static inline int plat_heap_owns(const void *p)
{
    return RtlValidateHeap(plat_process_heap(), 0, p) != 0;
}

/* The heap's block header: HEAP_ENTRY on Windows (8 bytes on i686, 16 on x86_64), Wine's struct block (8). The part
 * of a large block in front of that lies in the same page: Wine's i386 large blocks start 0x20 bytes into their own
 * mapping, its x86_64 ones 0x40. */
#define PLAT_HEAP_HEADER_BYTES (2 * sizeof(void *))

static inline void plat_heap_minimize(void)
{
    HeapCompact(plat_process_heap(), 0);
}

/* Bookkeeping lives in a private heap (platform_win32.c): never at an address the process heap could hand to the
 * program, so that a double free of a program block can never free one of our records. */
HANDLE plat_meta_heap(void);

/* Destroys the bookkeeping heap when ole32mem.dll is unloaded (FreeLibrary, not process exit): every record in it
 * dies with the DLL, and a DLL loaded and unloaded in a loop must not leave one heap behind per load. */
void plat_meta_heap_destroy(void);

static inline void *plat_meta_alloc(size_t n)
{
    HANDLE heap = plat_meta_heap();

    return heap ? HeapAlloc(heap, HEAP_ZERO_MEMORY, n) : NULL;
}

static inline void plat_meta_free(void *p)
{
    if (p)
        HeapFree(plat_meta_heap(), 0, p);
}

int plat_memory_readable(const void *p, size_t n);

void plat_heap_probe_lock(void);
void plat_heap_probe_release(void);
size_t plat_heap_ask(const void *p);
enum plat_heap_lock_state plat_heap_lock_state(void);
enum plat_heap_lock_state plat_meta_lock_state(void);

/* A futex-style mutex: 0 free, 1 held, 2 held with waiters. Uncontended, lock and unlock are one interlocked
 * instruction each; Wine 8's SRW lock costs about a quarter of a spied call (two locked operations to acquire, and
 * a wake-up call on every release). Waiters sleep in WaitOnAddress. */
typedef volatile LONG plat_mutex;
#define PLAT_MUTEX_INIT 0

enum
{
    PLAT_MUTEX_FREE = 0,
    PLAT_MUTEX_HELD = 1,
    PLAT_MUTEX_CONTENDED = 2,
    PLAT_MUTEX_SPINS = 200,
};

static inline int plat_mutex_trylock(plat_mutex *m)
{
    return InterlockedCompareExchange(m, PLAT_MUTEX_HELD, PLAT_MUTEX_FREE) == PLAT_MUTEX_FREE;
}

/* The wait for a mutex another thread holds (platform_win32.c): out of line, so that the inline uncontended path is
 * the one interlocked instruction and nothing more. */
void plat_mutex_lock_contended(plat_mutex *m);

static inline void plat_mutex_lock(plat_mutex *m)
{
    if (!plat_mutex_trylock(m))
        plat_mutex_lock_contended(m);
}

static inline void plat_mutex_unlock(plat_mutex *m)
{
    if (InterlockedExchange(m, PLAT_MUTEX_FREE) == PLAT_MUTEX_CONTENDED)
        WakeByAddressSingle((void *)m);
}

typedef DWORD plat_thread_id_t;

/* The id GetCurrentThreadId() returns, read where that function reads it: the TEB's ClientId.UniqueThread (gs:0x48 on
 * x86_64, fs:0x24 on i686; the layout Windows and Wine share and programs rely on). It is taken twice per spied call
 * (the recursive lock's owner check): inline it saves a call through the import table each time. */
static inline plat_thread_id_t plat_thread_id(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    plat_thread_id_t id;

    /* Inline assembly, not __readgsqword(): GCC 12 takes the intrinsic's constant address for an array access and
     * warns. The low 32 bits of the field are the id (it is a DWORD). Not volatile: it never changes on a thread. */
#if defined(__x86_64__)
    __asm__("movl %%gs:0x48, %0" : "=r"(id));
#else
    __asm__("movl %%fs:0x24, %0" : "=r"(id));
#endif
    return id;
#else
    return GetCurrentThreadId();
#endif
}

#endif /* OLE32MEM_PLATFORM_WIN32_H */
