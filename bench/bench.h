/*
 * The benchmark's shared declarations: the targets it times (each loaded by DLL name at run time), the scenario
 * kernels, the timer and the memory measurement.
 *
 * Invariants: the benchmark's own bookkeeping (block arrays) lives in VirtualAlloc'd memory, never in the process
 * heap, so that heap walks see only what the targets allocate; and no kernel calls a target's allocator on a
 * block that target did not allocate.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_BENCH_H
#define OLE32MEM_BENCH_H

#define COBJMACROS
#define CONST_VTABLE
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "ole32mem_objidl.h"
#include <objbase.h>
#include <stdint.h>

enum target_id
{
    TARGET_OLE32MEM, /* ole32mem.dll, copied next to bench.exe */
    TARGET_BUILTIN,  /* the system ole32.dll: Wine's builtin, which forwards to combase */
    TARGET_HEAP,     /* HeapAlloc & co. on the process heap from kernel32.dll: what the task allocator wraps */
    /* A second copy of ole32mem.dll (ole32mem_ref.dll), used only in the spied rows: its spy never has more than
     * the one probe block outstanding, so it is the N=0 reference measured alongside every spied level. */
    TARGET_REFERENCE,
    TARGET_COUNT,
};

/* One allocator under test, called only through these pointers so that every target costs the same indirection.
 * The heap target has no IMalloc and no spy functions (NULL): its GetSize/DidAlloc are HeapSize/HeapValidate
 * wrappers that ignore their first argument. */
struct target
{
    const char *name;
    HMODULE module;
    IMalloc *malloc;
    void *(WINAPI *alloc)(SIZE_T size);
    void *(WINAPI *realloc)(void *block, SIZE_T size);
    void(WINAPI *free)(void *block);
    SIZE_T(WINAPI *get_size)(IMalloc *malloc, void *block);
    int(WINAPI *did_alloc)(IMalloc *malloc, void *block);
    HRESULT(WINAPI *register_spy)(IMallocSpy *spy);
    HRESULT(WINAPI *revoke_spy)(void);
    IMallocSpy *spy; /* this target's own pass-through spy object */
};

extern struct target targets[TARGET_COUNT];

/* targets.c: loads the targets by name and checks what they are; prints one line per target. Returns 0 (after
 * printing why) when ole32mem, the builtin or the heap cannot be loaded; the reference is optional (its module stays
 * NULL without it). */
int targets_load(void);

/* timer, in bench.c: QueryPerformanceCounter ticks and their length. */
LONGLONG bench_now(void);
extern double bench_ns_per_tick;

/* Memory for the benchmark's own arrays, outside the process heap; zeroed. */
void *bench_array_alloc(size_t bytes);
void bench_array_free(void *array);

/* scenarios.c. A kernel performs `ops` operations of one kind against one target and returns the elapsed timer
 * ticks; `state` is the kernel's per-target state. */
typedef LONGLONG (*kernel_fn)(const struct target *target, void *state, unsigned ops);

/* Sizes for the "mixed" scenarios: log-uniform between MIXED_MIN and MIXED_MAX bytes, fixed seed. The working sets
 * use small sizes only (up to WORKSET_MAX): with larger ones Wine 8's heap keeps more and more free blocks on its
 * few large-size free lists, which it searches first-fit, and a random working set of 1e5 blocks of 8..8192 bytes
 * slowed from 20 us to 100-270 us per replacement within 240000 replacements (8..256 bytes: about 1 us, steady):
 * that times the heap's fragmentation, the same for every target, not the allocators. */
enum
{
    MIXED_SIZE_COUNT = 1024, /* a power of two */
    MIXED_MIN = 8,
    MIXED_MAX = 8192,
    WORKSET_MAX = 256,
};
extern SIZE_T mixed_sizes[MIXED_SIZE_COUNT];
extern SIZE_T workset_sizes[MIXED_SIZE_COUNT];
void scenarios_init(void);

/* Alloc(size) then Free; size 0 means the mixed sizes in turn. */
struct pair_state
{
    SIZE_T size;
};
LONGLONG kernel_pair(const struct target *target, void *state, unsigned ops);

/* A working set of `count` live blocks of workset_sizes; one op frees a random one and allocates its replacement.
 * worksets_init() fills one set per target in `active` (all targets share the process heap: their blocks are
 * interleaved). */
struct workset
{
    void **blocks;
    unsigned count;
    uint64_t rng;
};
int worksets_init(struct workset sets[TARGET_COUNT], const int active[TARGET_COUNT], unsigned count);
void workset_release(struct workset *set, const struct target *target);
LONGLONG kernel_workset(const struct target *target, void *state, unsigned ops);

/* GetSize / DidAlloc of one block of the target. */
struct probe
{
    void *block;
};
LONGLONG kernel_get_size(const struct target *target, void *state, unsigned ops);
LONGLONG kernel_did_alloc(const struct target *target, void *state, unsigned ops);

/* One op: Alloc(16), Realloc doubling up to the state's max (REALLOC_MAX when the state is NULL), Free. */
enum
{
    REALLOC_MIN = 16,
    REALLOC_MAX = 1 << 20,
};
struct chain_state
{
    SIZE_T max;
};
LONGLONG kernel_realloc_chain(const struct target *target, void *state, unsigned ops);

/* One op: one Alloc(16) (kernel_alloc) or one Free of such a block (kernel_free), the other half untimed. No state. */
LONGLONG kernel_alloc(const struct target *target, void *state, unsigned ops);
LONGLONG kernel_free(const struct target *target, void *state, unsigned ops);

/* Mixed-size pairs on `count` threads at once, ops split evenly; the ticks are from the first thread's start to the
 * last one's end, so ops / ticks is the aggregate throughput. */
struct threads_state
{
    unsigned count;
};
LONGLONG kernel_threads(const struct target *target, void *state, unsigned ops);

/* A growing set of blocks allocated through one target (under its spy in the spied phase). */
struct block_set
{
    void **blocks;
    size_t count, capacity;
};
int block_set_grow(struct block_set *set, const struct target *target, size_t count, SIZE_T size);
void block_set_release(struct block_set *set, const struct target *target);

/* memory.c: bookkeeping bytes per outstanding spied block, measured from outside the target: heap-walk totals of the
 * process heap with `blocks` 16-byte blocks outstanding under the target's spy, minus the same without the spy,
 * divided by `blocks`; the same for the working set. Leaves the target with no spy and no block. */
struct memory_result
{
    unsigned blocks;
    double heap_bytes_per_block; /* HeapWalk: busy bytes, data plus overhead */
    double ws_bytes_per_block;   /* working set, from K32GetProcessMemoryInfo; noisier */
    double seconds;
    int measured;
};
void measure_memory(struct target *target, unsigned blocks, struct memory_result *result);

#endif /* OLE32MEM_BENCH_H */
