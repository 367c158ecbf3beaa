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
}

int main(void)
{
    unsigned i;

    for (i = 0; i < 64; i++)
        probe_keys[i] = HeapAlloc(GetProcessHeap(), 0, BLOCK_SIZE);
    if (FAILED(CoRegisterMallocSpy(&spy)))
        return 1;
    report(0);
    for (i = 0; i < MAX_OUTSTANDING; i++)
    {
        outstanding[i] = CoTaskMemAlloc(BLOCK_SIZE);
        block_table_insert(&table, HeapAlloc(GetProcessHeap(), 0, BLOCK_SIZE), NULL);
    }
    report(MAX_OUTSTANDING);
    for (i = 0; i < MAX_OUTSTANDING; i++)
        CoTaskMemFree(outstanding[i]);
    return CoRevokeMallocSpy() == S_OK ? 0 : 1;
}
