/*
 * Spied-block bookkeeping measured from outside: a DLL cannot be asked what its tables hold, so we count what the
 * process holds. With the same number of 16-byte blocks outstanding, once without a spy and once under the target's
 * pass-through spy, the difference of the busy bytes of every heap in the process (GetProcessHeaps + HeapWalk: data
 * plus per-block overhead, large blocks included; a target may keep its tables in a private heap) is what the target
 * keeps per spied block. The working-set difference is reported beside it: it also sees memory that is in no heap
 * (VirtualAlloc), but is noisier.
 *
 * Invariants: both rounds start from the same heap state (a warm-up round has grown the heap to the working size
 * and given it back), and the benchmark's own block array is outside the heap (VirtualAlloc).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench.h"

#include <psapi.h>
#include <stdio.h>
#include <string.h>

enum
{
    MEMORY_BLOCK_SIZE = 16,
};

enum
{
    MAX_HEAPS = 256,
};

static double heap_busy_bytes_of(HANDLE heap)
{
    PROCESS_HEAP_ENTRY entry;
    double total = 0;

    entry.lpData = NULL;
    if (!HeapLock(heap))
        return 0;
    while (HeapWalk(heap, &entry))
        if (entry.wFlags & PROCESS_HEAP_ENTRY_BUSY)
            total += (double)entry.cbData + entry.cbOverhead;
    HeapUnlock(heap);
    return total;
}

/* Every heap of the process, the process heap and private ones alike. */
static double heap_busy_bytes(void)
{
    HANDLE heaps[MAX_HEAPS];
    DWORD count = GetProcessHeaps(MAX_HEAPS, heaps), i;
    double total = 0;

    if (count > MAX_HEAPS)
        count = MAX_HEAPS;
    for (i = 0; i < count; i++)
        total += heap_busy_bytes_of(heaps[i]);
    return total;
}

static double working_set_bytes(void)
{
    static BOOL(WINAPI * get_memory_info)(HANDLE process, PROCESS_MEMORY_COUNTERS *counters, DWORD size);
    PROCESS_MEMORY_COUNTERS counters;

    if (!get_memory_info)
        get_memory_info = (__typeof__(get_memory_info))(void (*)(void))GetProcAddress(GetModuleHandleW(L"kernel32.dll"),
                                                                                      "K32GetProcessMemoryInfo");
    memset(&counters, 0, sizeof(counters));
    counters.cb = sizeof(counters);
    if (!get_memory_info || !get_memory_info(GetCurrentProcess(), &counters, sizeof(counters)))
        return 0;
    return (double)counters.WorkingSetSize;
}

/* One round: the heap and working-set growth from allocating `blocks` blocks; frees them again. */
static int measure_round(const struct target *target, unsigned blocks, double *heap_growth, double *ws_growth)
{
    struct block_set set = {0};
    double heap_before = heap_busy_bytes(), ws_before = working_set_bytes();
    int ok = block_set_grow(&set, target, blocks, MEMORY_BLOCK_SIZE);

    *heap_growth = heap_busy_bytes() - heap_before;
    *ws_growth = working_set_bytes() - ws_before;
    block_set_release(&set, target);
    return ok;
}

void measure_memory(struct target *target, unsigned blocks, struct memory_result *result)
{
    double plain_heap, plain_ws, spied_heap, spied_ws, unused;
    LONGLONG start = bench_now();
    HRESULT hr;

    result->blocks = blocks;
    result->measured = 0;
    if (!measure_round(target, blocks, &unused, &unused) || !measure_round(target, blocks, &plain_heap, &plain_ws))
    {
        printf("bench: memory: %s: out of memory at %u blocks\n", target->name, blocks);
        return;
    }
    if (FAILED(hr = target->register_spy(target->spy)))
    {
        printf("bench: memory: %s: CoRegisterMallocSpy failed: %#lx\n", target->name, (unsigned long)hr);
        return;
    }
    result->measured = measure_round(target, blocks, &spied_heap, &spied_ws);
    if (FAILED(hr = target->revoke_spy()))
        printf("bench: memory: %s: CoRevokeMallocSpy failed: %#lx\n", target->name, (unsigned long)hr);
    result->heap_bytes_per_block = (spied_heap - plain_heap) / blocks;
    result->ws_bytes_per_block = (spied_ws - plain_ws) / blocks;
    result->seconds = (bench_now() - start) * bench_ns_per_tick * 1e-9;
}
