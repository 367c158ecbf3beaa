/*
 * Where the time of a spied call goes: a profiling program for `make bench-profile`, never part of the DLL. It links
 * the DLL's own objects (the core, the block table, the lock, the IMallocSpy adapter) statically, so that it can time
 * a whole spied CoTaskMemAlloc/CoTaskMemFree pair and, beside it, each of the parts the pair is made of, with the same
 * inline code: the recursive lock, the thread id, the table's reserve, one-probe insert, find and removal at the found
 * slot at N outstanding keys, the spy hooks called straight through the spy's vtable (as the core calls them), the
 * heap calls. Every part is timed with rdtsc over a loop
 * (the fastest of several rounds, minus the cost of an empty loop), in cycles per operation; the sum of the parts
 * against the whole shows what the breakdown misses (call overhead, cache effects, branches).
 *
 * Invariants: single-threaded; measures at N = 0 and N = 1e3 spied blocks outstanding, as issue 12 asks. Must never
 * be linked into anything that ships.
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
#define _OLE32_
#include <objbase.h>

#include "blocktable.h"
#include "passthrough_spy.h"
#include "recursive_lock.h"
#include "task_memory.h"

#include <intrin.h>
#include <stdio.h>

enum
{
    LOOPS = 20000,
    ROUNDS = 60,
    BLOCK_SIZE = 16,
    MAX_OUTSTANDING = 1000,
};

static const IMallocSpyVtbl spy_vtbl = PASSTHROUGH_SPY_VTBL;
static IMallocSpy spy = {&spy_vtbl};

/* The core's way to a hook: the object (volatile: read at every call, as the core reads it) and its vtable. */
static IMallocSpy *volatile hook_target = &spy;

static void *volatile sink;
static struct recursive_lock lock = RECURSIVE_LOCK_INIT;
static struct block_table table = BLOCK_TABLE_INIT_KEYS;
static void *outstanding[MAX_OUTSTANDING];
static void *probe_keys[64];

typedef void (*part_fn)(void);

static void part_empty(void)
{
}

static void part_full_pair(void)
{
    CoTaskMemFree(CoTaskMemAlloc(BLOCK_SIZE));
}

static void part_heap_pair(void)
{
    HeapFree(GetProcessHeap(), 0, HeapAlloc(GetProcessHeap(), 0, BLOCK_SIZE));
}

static void part_thread_id(void)
{
    sink = (void *)(uintptr_t)plat_thread_id();
}

static void part_lock(void)
{
    recursive_lock_enter(&lock);
    recursive_lock_leave(&lock);
}

static void part_hooks(void)
{
    sink = (void *)IMallocSpy_PreAlloc(hook_target, BLOCK_SIZE);
    sink = IMallocSpy_PostAlloc(hook_target, probe_keys[0]);
    sink = IMallocSpy_PreFree(hook_target, probe_keys[0], TRUE);
    IMallocSpy_PostFree(hook_target, TRUE);
}

static unsigned key_turn;

/* What the spied pair does to the table: reserve + one-probe insert on Alloc, find + removal at its slot on Free. */
static void part_table(void)
{
    void *key = probe_keys[key_turn++ & 63];
    size_t slot = 0;

    block_table_reserve(&table, 1);
    block_table_insert_reserved(&table, key, NULL);
    sink = (void *)(uintptr_t)block_table_find(&table, (uintptr_t)key, &slot);
    block_table_remove_at(&table, key, slot);
}

static void part_route(void)
{
    sink = (void *)(uintptr_t)task_slow_path();
}

static IMalloc *task_malloc;
static CRITICAL_SECTION critical_section;

static void part_get_size(void)
{
    sink = (void *)IMalloc_GetSize(task_malloc, probe_keys[0]);
}

static void part_did_alloc(void)
{
    sink = (void *)(intptr_t)IMalloc_DidAlloc(task_malloc, probe_keys[0]);
}

static void part_heap_size(void)
{
    sink = (void *)HeapSize(GetProcessHeap(), 0, probe_keys[0]);
}

/* What the builtin's lock costs (Wine's combase takes a critical section for each spied call). */
static void part_critical_section(void)
{
    EnterCriticalSection(&critical_section);
    LeaveCriticalSection(&critical_section);
}

/* The same calls into Wine's builtin ole32 (loaded by name, under its own pass-through spy), for comparison at N=0. */
static IMallocSpy builtin_spy = {&spy_vtbl};
static struct
{
    void *(WINAPI *alloc)(SIZE_T size);
    void *(WINAPI *realloc)(void *block, SIZE_T size);
    void(WINAPI *free)(void *block);
    IMalloc *malloc;
    void *probe;
} builtin;

enum
{
    CHAIN_MAX = 4096, /* make bench's spied realloc chain: 16 B doubled up to 4 KiB */
};

static void part_realloc_chain(void)
{
    void *block = CoTaskMemAlloc(BLOCK_SIZE);
    SIZE_T size;

    for (size = 2 * BLOCK_SIZE; size <= CHAIN_MAX; size *= 2)
        block = CoTaskMemRealloc(block, size);
    CoTaskMemFree(block);
}

static void part_builtin_realloc_chain(void)
{
    void *block = builtin.alloc(BLOCK_SIZE);
    SIZE_T size;

    for (size = 2 * BLOCK_SIZE; size <= CHAIN_MAX; size *= 2)
        block = builtin.realloc(block, size);
    builtin.free(block);
}

/* One Realloc that the heap does in place (a block shrunk to 16 bytes and grown back to 32), so that the allocator's
 * own cost of a spied Realloc shows beside the heap's. */
static void *realloc_block, *builtin_realloc_block;
static SIZE_T realloc_size = BLOCK_SIZE, builtin_realloc_size = BLOCK_SIZE;

static void part_realloc_in_place(void)
{
    realloc_size ^= 3 * BLOCK_SIZE;
    realloc_block = CoTaskMemRealloc(realloc_block, realloc_size);
}

static void part_builtin_realloc_in_place(void)
{
    builtin_realloc_size ^= 3 * BLOCK_SIZE;
    builtin_realloc_block = builtin.realloc(builtin_realloc_block, builtin_realloc_size);
}

static void part_builtin_pair(void)
{
    builtin.free(builtin.alloc(BLOCK_SIZE));
}

static void part_builtin_get_size(void)
{
    sink = (void *)IMalloc_GetSize(builtin.malloc, builtin.probe);
}

static void part_builtin_did_alloc(void)
{
    sink = (void *)(intptr_t)IMalloc_DidAlloc(builtin.malloc, builtin.probe);
}

/* GetProcAddress into a typed pointer; the detour through void (*)(void) is how GCC spells "any function". */
#define GET_PROC(var, module, name) ((var) = (__typeof__(var))(void (*)(void))GetProcAddress((module), (name)))

/* Loads the builtin, registers its spy and allocates its probe (a spied block: Wine's builtin must have one before
 * GetSize/DidAlloc under a spy). 0 when there is no builtin to compare with. */
static int builtin_load(void)
{
    HMODULE module = LoadLibraryA("ole32.dll");
    HRESULT(WINAPI * get_malloc)(DWORD context, IMalloc **malloc);
    HRESULT(WINAPI * register_spy)(IMallocSpy * spy);

    if (!module || !GET_PROC(builtin.alloc, module, "CoTaskMemAlloc") ||
        !GET_PROC(builtin.realloc, module, "CoTaskMemRealloc") || !GET_PROC(builtin.free, module, "CoTaskMemFree") ||
        !GET_PROC(get_malloc, module, "CoGetMalloc") || !GET_PROC(register_spy, module, "CoRegisterMallocSpy") ||
        FAILED(get_malloc(MEMCTX_TASK, &builtin.malloc)) || FAILED(register_spy(&builtin_spy)))
        return 0;
    builtin.probe = builtin.alloc(BLOCK_SIZE);
    builtin_realloc_block = builtin.alloc(BLOCK_SIZE);
    return builtin.probe && builtin_realloc_block;
}

static double cycles_per_op(part_fn part)
{
    double best = 1e300;
    unsigned r, i;

    for (r = 0; r < ROUNDS; r++)
    {
        unsigned long long start = __rdtsc();
        double cycles;

        for (i = 0; i < LOOPS; i++)
            part();
        cycles = (double)(__rdtsc() - start) / LOOPS;
        if (cycles < best)
            best = cycles;
    }
    return best;
}

/* Two parts' cycles per op, their rounds alternated so that a busy moment of the machine hits both alike. */
static void cycles_side_by_side(part_fn a, part_fn b, double *a_cycles, double *b_cycles)
{
    double best[2] = {1e300, 1e300};
    part_fn parts[2] = {a, b};
    unsigned r, i, k;

    for (r = 0; r < 2 * ROUNDS; r++)
    {
        unsigned long long start;
        double cycles;

        k = r & 1;
        start = __rdtsc();
        for (i = 0; i < LOOPS; i++)
            parts[k]();
        cycles = (double)(__rdtsc() - start) / LOOPS;
        if (cycles < best[k])
            best[k] = cycles;
    }
    *a_cycles = best[0];
    *b_cycles = best[1];
}

static void report(unsigned n)
{
    static const struct
    {
        const char *name;
        part_fn part;
    } parts[] = {
        {"heap pair (HeapAlloc+HeapFree)", part_heap_pair},   {"2 x lock enter+leave", part_lock},
        {"2 x GetCurrentThreadId (in lock)", part_thread_id}, {"4 spy hooks via the spy's vtable", part_hooks},
        {"table reserve+insert+lookup+remove", part_table},   {"2 x route load", part_route},
    };
    static const struct
    {
        const char *name;
        part_fn ours, theirs;
    } versus[] = {
        {"spied pair", part_full_pair, part_builtin_pair},
        {"spied GetSize", part_get_size, part_builtin_get_size},
        {"spied DidAlloc", part_did_alloc, part_builtin_did_alloc},
        {"spied Realloc 32 <-> 16 B", part_realloc_in_place, part_builtin_realloc_in_place},
        {"spied realloc chain 16 B..4 KiB (one op)", part_realloc_chain, part_builtin_realloc_chain},
    };
    double empty = cycles_per_op(part_empty), whole = cycles_per_op(part_full_pair) - empty, sum = 0;
    double heap = cycles_per_op(part_heap_pair) - empty;
    unsigned i;

    printf("N=%u: whole spied pair %.1f cycles (empty loop %.1f subtracted)\n", n, whole, empty);
    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
    {
        double c = cycles_per_op(parts[i].part) - empty;

        /* Lock, thread id and route happen once per call: twice per pair. */
        if (parts[i].part == part_lock || parts[i].part == part_thread_id || parts[i].part == part_route)
            c *= 2;
        sum += c;
        printf("  %-36s %7.1f cycles  %5.1f%%\n", parts[i].name, c, 100 * c / whole);
    }
    printf("  %-36s %7.1f cycles  %5.1f%%\n", "rest (calls, branches, core logic)", whole - sum,
           100 * (whole - sum) / whole);
    /* The parts are timed one after the other on a shared machine: the heap's share moves most between runs. The
     * pair's own cost, whole minus a heap pair timed right after it, is the steadier figure. */
    printf("  %-36s %7.1f cycles\n", "whole - heap (ole32mem's own cost)", whole - heap);
    /* The queries take the lock once; the probe block is spied (allocated under the spy in main). */
    heap = cycles_per_op(part_heap_size) - empty;
    whole = cycles_per_op(part_get_size) - empty;
    printf("  spied GetSize %.1f cycles, HeapSize %.1f: ole32mem's own cost %.1f\n", whole, heap, whole - heap);
    printf("  spied DidAlloc %.1f cycles\n", cycles_per_op(part_did_alloc) - empty);
    printf("  1 x lock enter+leave %.1f cycles (a critical section's, as the builtin takes: %.1f)\n",
           cycles_per_op(part_lock) - empty, cycles_per_op(part_critical_section) - empty);
    if (n || !builtin.probe)
        return;
    printf("  side by side with Wine's builtin ole32, cycles   ole32mem  builtin\n");
    for (i = 0; i < sizeof(versus) / sizeof(versus[0]); i++)
    {
        double ours, theirs;

        cycles_side_by_side(versus[i].ours, versus[i].theirs, &ours, &theirs);
        printf("    %-44s %8.1f %8.1f\n", versus[i].name, ours - empty, theirs - empty);
    }
}

int main(void)
{
    unsigned i;

    InitializeCriticalSection(&critical_section);
    if (FAILED(CoGetMalloc(MEMCTX_TASK, &task_malloc)) || FAILED(CoRegisterMallocSpy(&spy)))
        return 1;
    if (!builtin_load())
        printf("no builtin ole32 with a spy to compare with\n");
    /* probe_keys[0] is a spied block (the queries' probe); the others are only keys for part_table. */
    probe_keys[0] = CoTaskMemAlloc(BLOCK_SIZE);
    realloc_block = CoTaskMemAlloc(BLOCK_SIZE);
    for (i = 1; i < 64; i++)
        probe_keys[i] = HeapAlloc(GetProcessHeap(), 0, BLOCK_SIZE);
    report(0);
    for (i = 0; i < MAX_OUTSTANDING; i++)
    {
        outstanding[i] = CoTaskMemAlloc(BLOCK_SIZE);
        block_table_insert(&table, HeapAlloc(GetProcessHeap(), 0, BLOCK_SIZE), NULL);
    }
    report(MAX_OUTSTANDING);
    for (i = 0; i < MAX_OUTSTANDING; i++)
        CoTaskMemFree(outstanding[i]);
    CoTaskMemFree(probe_keys[0]);
    CoTaskMemFree(realloc_block);
    return CoRevokeMallocSpy() == S_OK ? 0 : 1;
}
