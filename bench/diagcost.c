/*
 * The cost of the diagnostics per Alloc/Free pair (make bench-diag): one row per run, the settings come from the
 * environment (OLE32MEM_DEBUG, OLE32MEM_STACK_DEPTH are read once, when ole32mem.dll loads), so mk/bench.mk runs
 * this program once per row. "diagcost spy" registers a pass-through spy first (the spied row). Prints the fastest of
 * REPEATS timings of PAIRS pairs, in nanoseconds per pair, from a call chain a few frames deep (a stack to capture):
 * many short timings and the fastest, because on a shared machine other processes only ever add time, and a short
 * timing often runs alone where a long one never does.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "ole32mem_objidl.h"
#include <objbase.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passthrough_spy.h"

enum
{
    PAIRS = 2000,
    REPEATS = 41,
    BLOCK_SIZE = 32,
};

static __attribute__((noinline)) void pairs(unsigned count)
{
    unsigned i;

    for (i = 0; i < count; i++)
        CoTaskMemFree(CoTaskMemAlloc(BLOCK_SIZE));
}

static __attribute__((noinline)) void level2(unsigned count)
{
    pairs(count);
}
static __attribute__((noinline)) void level1(unsigned count)
{
    level2(count);
}

static IMallocSpyVtbl spy_vtbl = PASSTHROUGH_SPY_VTBL;
static IMallocSpy spy = {&spy_vtbl};

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    LARGE_INTEGER frequency, start, end;
    double ns[REPEATS];
    unsigned r;

    if (argc > 1 && !strcmp(argv[1], "spy") && FAILED(CoRegisterMallocSpy(&spy)))
        return 1;
    QueryPerformanceFrequency(&frequency);
    level1(PAIRS); /* warm: the depot, the module cache, the heap */
    for (r = 0; r < REPEATS; r++)
    {
        QueryPerformanceCounter(&start);
        level1(PAIRS);
        QueryPerformanceCounter(&end);
        ns[r] = (double)(end.QuadPart - start.QuadPart) * 1e9 / (double)frequency.QuadPart / PAIRS;
    }
    qsort(ns, REPEATS, sizeof(ns[0]), by_value);
    printf("%.1f\n", ns[0]);
    return 0;
}
