/*
 * The diagnostics' test program (OLE32MEM_DEBUG & co.), in Wine's child-process style (tests/diag/child.h).
 *
 * Run without arguments it is the parent: a table of cases (the end of this file), each a child run with its own
 * OLE32MEM_* settings and report destination (stderr, or an OLE32MEM_LOG file), checked with ok(): the child
 * survived (it printed its summary line and exited with 0), ole32mem reported what the child expected (each EXPECT
 * line, with module+offset inside the named function, and each COUNT: tests/diag/expect.h), and the case's own
 * checks (option parsing, OLE32MEM_LOG, a spy that sees the same hooks with and without diagnostics). A child's
 * own checks count as the parent's.
 *
 * Run as `diag.exe child MODE [ARG]` it is a child: one mode does a known good or bad thing from a known noinline
 * function and prints on stdout what ole32mem must report about it (RANGE, EXPECT and COUNT lines), in the spy mode
 * also SPYLOG|... lines, each a hook its own spy saw with pointers named by generation; then the summary line of its
 * own checks. tests/diag/diagdyn.c is a child of the same protocol (ole32mem loaded at run time).
 *
 * Invariants: the parent never runs a mode without the option that makes it safe (the bad things are done on
 * purpose: a double free or foreign free without `check`, or an overrun without `guard`, would corrupt the heap);
 * freed memory is never read (the 0xDD fill is observed through a spy whose PreFree keeps the heap block, returning
 * NULL so that nothing is freed, until the program has looked at it).
 *
 * Built with -fno-optimize-sibling-calls (mk/diag.mk): a call to CoTaskMemFree in tail position would become a
 * jump, and its return address would then lie in this function's caller.
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

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passthrough_spy.h"
#include "test.h"
#include "expect.h"

#define NOINLINE __attribute__((noinline, noclone))

enum
{
    GUARD_BYTES = 15, /* only for in-program writes into the guard; the report is what the parent checks */
    FILL_NEW = 0xcd,
    FILL_FREED = 0xdd,
    SINK_SIZE = 64,
    SPY_LOG_LINES = 256,
    SPY_LOG_CHARS = 160,
    SPY_POINTERS = 64,
    HEADER_MAGIC = 0x4f4c4533,
};

static void *volatile sink[SINK_SIZE];
static char exe_name[MAX_PATH];
static IMalloc *allocator;

static unsigned long thread_id(void)
{
    return GetCurrentThreadId();
}

/* Whether module `name` is in the comma list of OLE32MEM_SUPPRESS. */
static int suppressed(const char *name)
{
    char list[1024], *item, *context = NULL;

    if (!GetEnvironmentVariableA("OLE32MEM_SUPPRESS", list, sizeof(list)))
        return 0;
    for (item = strtok_s(list, ",", &context); item; item = strtok_s(NULL, ",", &context))
        if (!lstrcmpiA(item, name))
            return 1;
    return 0;
}

static unsigned long leaks_max(void)
{
    char value[32];

    if (!GetEnvironmentVariableA("OLE32MEM_LEAKS_MAX", value, sizeof(value)))
        return 20;
    return strtoul(value, NULL, 10);
}

static int heap_is_sound(void)
{
    return HeapValidate(GetProcessHeap(), 0, NULL) != 0;
}

/* The program went on after the bad thing, and the heap is intact. */
static void check_survival(void)
{
    int i;

    for (i = 0; i < 200; i++)
    {
        void *p = CoTaskMemAlloc(16 + i * 8);
        ok(p != NULL, "Alloc %d failed\n", i);
        memset(p, i, 16 + i * 8);
        CoTaskMemFree(p);
    }
    ok(heap_is_sound(), "the process heap is damaged\n");
}

/* --- the allocation sites ---------------------------------------------------------------------------------- */

/* One call site, two blocks (a site is one call instruction: two calls in one function are two sites). */
static NOINLINE void leak_small(void)
{
    static volatile int count = 2; /* not a constant: the loop must stay a loop, with one call in it */
    int i;

    for (i = 0; i < count; i++)
        sink[i] = CoTaskMemAlloc(10);
}

static NOINLINE void leak_many(void)
{
    int i;

    for (i = 0; i < 5; i++)
        sink[2 + i] = IMalloc_Alloc(allocator, 100);
}

/* Realloc(NULL, n) allocates; the realloc that follows is the block's allocation site from then on. */
static NOINLINE void leak_big(void)
{
    sink[7] = CoTaskMemRealloc(NULL, 1000);
    sink[7] = CoTaskMemRealloc(sink[7], 3000);
}

static NOINLINE DWORD WINAPI leak_thread(void *arg)
{
    (void)arg;
    sink[8] = CoTaskMemAlloc(7);
    return thread_id();
}

static NOINLINE void not_a_leak(void)
{
    void *p = CoTaskMemAlloc(500);
    CoTaskMemFree(p);
}

/* Leaks: four sites (one in another thread), a block freed in between; expects the report, largest first. */
static void test_leak(void)
{
    unsigned long main_thread = thread_id(), other_thread = 0;
    HANDLE thread;
    int exe_suppressed = suppressed(exe_name);

    CoGetMalloc(MEMCTX_TASK, &allocator);
    RANGE(leak_small);
    RANGE(leak_many);
    RANGE(leak_big);
    RANGE(leak_thread);

    leak_small(); /* seq 1, 2 */
    not_a_leak(); /* seq 3 */
    leak_many();  /* seq 4..8 */
    leak_big();   /* seq 9 (Realloc(NULL)), 10 */
    thread = CreateThread(NULL, 0, leak_thread, NULL, 0, NULL); /* seq 11 */
    WaitForSingleObject(thread, INFINITE);
    GetExitCodeThread(thread, (DWORD *)&other_thread);
    CloseHandle(thread);
    ok(other_thread && other_thread != main_thread, "thread id %#lx\n", other_thread);

    if (exe_suppressed)
    {
        expect_leak_header("seq", 0, 0, 9, 0);
        expect_count(1, "ole32mem: leaks:");
        return;
    }
    expect_leak_header("seq", 9, 3527, 0, 4);
    expect("seq", 1, "ole32mem: leaks:   3000 bytes in 1 blocks from ", "leak_big",
           fmt(", e.g. %p (3000 bytes, thread %#lx, seq 10)", sink[7], main_thread));
    expect("seq", 1, "ole32mem: leaks:   500 bytes in 5 blocks from ", "leak_many",
           fmt(", e.g. %p (100 bytes, thread %#lx, seq 4)", sink[2], main_thread));
    expect("seq", 1, "ole32mem: leaks:   20 bytes in 2 blocks from ", "leak_small",
           fmt(", e.g. %p (10 bytes, thread %#lx, seq 1)", sink[0], main_thread));
    expect("seq", 1, "ole32mem: leaks:   7 bytes in 1 blocks from ", "leak_thread",
           fmt(", e.g. %p (7 bytes, thread %#lx, seq 11)", sink[8], other_thread));
    expect_count(5, "ole32mem: leaks:");
}

/* --- suppression and a second module ----------------------------------------------------------------------- */

typedef void *(*helper_alloc_fn)(SIZE_T size);

static HMODULE helper;
static helper_alloc_fn helper_alloc;

static int load_helper(void)
{
    helper = LoadLibraryA("diaghelp.dll");
    helper_alloc = helper ? (helper_alloc_fn)(void *)GetProcAddress(helper, "helper_alloc") : NULL;
    ok(helper_alloc != NULL, "diaghelp.dll: error %lu\n", GetLastError());
    if (helper_alloc)
        expect_range("helper_alloc", helper, (const void *)helper_alloc);
    return helper_alloc != NULL;
}

static NOINLINE void suppress_exe_leak(void)
{
    sink[0] = CoTaskMemAlloc(64);
}

/* Leaks from this program and from diaghelp.dll; what is reported depends on OLE32MEM_SUPPRESS. */
static void test_suppress(void)
{
    int exe_suppressed = suppressed(exe_name), helper_suppressed = suppressed("diaghelp.dll");
    unsigned long blocks = 0, bytes = 0, sites = 0, hidden = 0, main_thread = thread_id();

    if (!load_helper())
        return;
    RANGE(suppress_exe_leak);
    suppress_exe_leak();        /* seq 1 */
    sink[1] = helper_alloc(90); /* seq 2 */
    sink[2] = helper_alloc(90); /* seq 3, same site */
    if (exe_suppressed)
        hidden += 1;
    else
        blocks += 1, bytes += 64, sites++;
    if (helper_suppressed)
        hidden += 2;
    else
        blocks += 2, bytes += 180, sites++;
    expect_leak_header("seq", blocks, bytes, hidden, sites);
    if (!helper_suppressed)
        expect("seq", 1, "ole32mem: leaks:   180 bytes in 2 blocks from ", "helper_alloc",
               fmt(", e.g. %p (90 bytes, thread %#lx, seq 2)", sink[1], main_thread));
    if (!exe_suppressed)
        expect("seq", 1, "ole32mem: leaks:   64 bytes in 1 blocks from ", "suppress_exe_leak",
               fmt(", e.g. %p (64 bytes, thread %#lx, seq 1)", sink[0], main_thread));
    expect_count(1 + sites, "ole32mem: leaks:");
}

/* A module that leaked and was unloaded before the exit report: its blocks must still be named module+offset. */
static void test_unloaded_module(void)
{
    if (!load_helper())
        return;
    sink[0] = helper_alloc(77); /* seq 1 */
    ok(FreeLibrary(helper), "FreeLibrary failed\n");
    expect_leak_header("seq", 1, 77, 0, 1);
    expect("seq", 1, "ole32mem: leaks:   77 bytes in 1 blocks from ", "helper_alloc",
           fmt(", e.g. %p (77 bytes, thread %#lx, seq 1)", sink[0], thread_id()));
    expect_count(2, "ole32mem: leaks:");
}

/* --- OLE32MEM_LEAKS_MAX ------------------------------------------------------------------------------------- */

static NOINLINE void site_a(void) { sink[0] = CoTaskMemAlloc(500); }
static NOINLINE void site_b(void) { sink[1] = CoTaskMemAlloc(400); }
static NOINLINE void site_c(void) { sink[2] = CoTaskMemAlloc(300); }
static NOINLINE void site_d(void) { sink[3] = CoTaskMemAlloc(200); }
static NOINLINE void site_e(void) { sink[4] = CoTaskMemAlloc(100); }

static void test_leaks_max(void)
{
    static const char *const names[] = {"site_a", "site_b", "site_c", "site_d", "site_e"};
    static const unsigned sizes[] = {500, 400, 300, 200, 100};
    unsigned long max = leaks_max(), shown, i;

    RANGE(site_a);
    RANGE(site_b);
    RANGE(site_c);
    RANGE(site_d);
    RANGE(site_e);
    /* Allocated smallest first: the report must sort. */
    site_e(); /* seq 1 */
    site_d();
    site_c();
    site_b();
    site_a(); /* seq 5 */
    shown = max < 5 ? max : 5;
    expect_leak_header("seq", 5, 1500, 0, 5);
    for (i = 0; i < shown; i++)
        expect("seq", 1, fmt("ole32mem: leaks:   %u bytes in 1 blocks from ", sizes[i]), names[i],
               fmt(", e.g. %p (%u bytes, thread %#lx, seq %lu)", sink[i], sizes[i], thread_id(), 5 - i));
    if (shown < 5)
        expect("seq", 1, fmt("ole32mem: leaks:   ... %lu more sites (OLE32MEM_LEAKS_MAX=%lu)", 5 - shown, max), "-",
               "");
    expect_count(1 + shown + (shown < 5), "ole32mem: leaks:");
}

/* --- check: double free, foreign pointers, queries of freed blocks ----------------------------------------- */

static NOINLINE void double_free_again(void *p)
{
    CoTaskMemFree(p);
}

static NOINLINE void double_free_imalloc(void *p)
{
    IMalloc_Free(allocator, p);
}

static void test_double_free(void)
{
    void *p;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    RANGE(double_free_again);
    RANGE(double_free_imalloc);
    p = CoTaskMemAlloc(64);
    CoTaskMemFree(p);
    double_free_again(p);
    double_free_imalloc(p);
    expect("any", 1, fmt("ole32mem: check: Free of %p by ", p), "double_free_again",
           ": double free (the block was already freed); ignored");
    expect("any", 1, fmt("ole32mem: check: Free of %p by ", p), "double_free_imalloc",
           ": double free (the block was already freed); ignored");
    expect_count(2, "ole32mem: check:");
    check_survival();
}

/* A double free while other blocks come and go must be refused and must leave them alone. The freed block's hole is
 * fenced in by a block of the heap's (not ole32mem's) right after it, so that none of the bigger blocks below can
 * take its address: the second free is then a double free, not the free of a block the program holds again. */
static void test_double_free_reuse(void)
{
    const SIZE_T small = sizeof(void *) == 8 ? 48 : 32;
    void *p, *fence, *others[8];
    int i;

    RANGE(double_free_again);
    p = CoTaskMemAlloc(small);
    fence = HeapAlloc(GetProcessHeap(), 0, 16);
    CoTaskMemFree(p);
    for (i = 0; i < 8; i++)
        others[i] = CoTaskMemAlloc(2000 + i);
    for (i = 0; i < 8; i++)
        ok(others[i] != p, "the heap gave the freed address to a block of %d bytes\n", 2000 + i);
    double_free_again(p);
    expect("any", 1, fmt("ole32mem: check: Free of %p by ", p), "double_free_again",
           ": double free (the block was already freed); ignored");
    for (i = 0; i < 8; i++)
    {
        memset(others[i], 0x5a, 2000 + i);
        ok(CoTaskMemRealloc(others[i], 16) != NULL, "Realloc failed\n");
    }
    for (i = 0; i < 8; i++)
        CoTaskMemFree(others[i]);
    HeapFree(GetProcessHeap(), 0, fence);
    expect_count(1, "ole32mem: check:");
    check_survival();
    expect_leak_header("any", 0, 0, 0, 0);
}

static NOINLINE void free_stack_pointer(void)
{
    char local[32];

    sink[0] = local;
    CoTaskMemFree(sink[0]);
}

static NOINLINE void free_interior_pointer(char *p)
{
    CoTaskMemFree(p + 16);
}

static NOINLINE void free_private_heap_block(void *p)
{
    CoTaskMemFree(p);
}

static NOINLINE void realloc_stack_pointer(void)
{
    char local[32];

    sink[0] = local;
    sink[1] = CoTaskMemRealloc(sink[0], 100);
}

static NOINLINE void free_process_heap_block(void *p)
{
    CoTaskMemFree(p);
}

/* Pointers ole32mem never allocated: reported and not passed on unless they are live blocks of the process heap
 * (the heap's own, or the system ole32's). */
static void test_foreign_free(void)
{
    void *(WINAPI * builtin_alloc)(SIZE_T);
    HANDLE private_heap = HeapCreate(0, 0, 0);
    char *p = CoTaskMemAlloc(64), local_copy[64];
    void *q, *h, *b;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    RANGE(free_stack_pointer);
    RANGE(free_interior_pointer);
    RANGE(free_private_heap_block);
    RANGE(realloc_stack_pointer);

    free_stack_pointer();
    expect("any", 1, fmt("ole32mem: check: Free of %p by ", sink[0]), "free_stack_pointer",
           ": not a block of ole32mem nor a live heap block; ignored");

    memset(p, 0x11, 64);
    free_interior_pointer(p);
    expect("any", 1, fmt("ole32mem: check: Free of %p by ", p + 16), "free_interior_pointer",
           ": not a block of ole32mem nor a live heap block; ignored");
    memset(local_copy, 0x11, 64);
    ok(!memcmp(p, local_copy, 64), "the block was changed\n");
    ok(IMalloc_GetSize(allocator, p) == 64, "the block is gone\n");
    CoTaskMemFree(p);

    q = HeapAlloc(private_heap, 0, 32);
    free_private_heap_block(q);
    expect("any", 1, fmt("ole32mem: check: Free of %p by ", q), "free_private_heap_block",
           ": not a block of ole32mem nor a live heap block; ignored");
    ok(HeapValidate(private_heap, 0, q), "the private heap's block was freed\n");
    ok(HeapFree(private_heap, 0, q), "HeapFree of the private heap's block failed\n");
    HeapDestroy(private_heap);

    realloc_stack_pointer();
    ok(sink[1] == NULL, "Realloc of a stack pointer = %p\n", sink[1]);
    expect("any", 1, fmt("ole32mem: check: Realloc of %p by ", sink[0]), "realloc_stack_pointer",
           ": not a block of ole32mem nor a live heap block; ignored");

    /* Not reported: live blocks of the process heap, from HeapAlloc and from the system ole32. */
    h = HeapAlloc(GetProcessHeap(), 0, 48);
    free_process_heap_block(h);
    builtin_alloc = (void *(WINAPI *)(SIZE_T))(void *)GetProcAddress(LoadLibraryA("ole32.dll"), "CoTaskMemAlloc");
    ok(builtin_alloc != NULL, "no CoTaskMemAlloc in ole32.dll\n");
    if (builtin_alloc)
    {
        b = builtin_alloc(40);
        ok(b != NULL, "the system ole32's CoTaskMemAlloc failed\n");
        free_process_heap_block(b);
    }
    expect_count(4, "ole32mem: check:");
    check_survival();
}

static NOINLINE SIZE_T get_size_of_freed(void *p)
{
    return IMalloc_GetSize(allocator, p);
}

static NOINLINE int did_alloc_of_freed(void *p)
{
    return IMalloc_DidAlloc(allocator, p);
}

static NOINLINE void *realloc_of_freed(void *p)
{
    return CoTaskMemRealloc(p, 64);
}

static void test_freed_queries(void)
{
    void *p;
    SIZE_T size;
    int did;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    RANGE(get_size_of_freed);
    RANGE(did_alloc_of_freed);
    RANGE(realloc_of_freed);
    p = CoTaskMemAlloc(32);
    ok(IMalloc_GetSize(allocator, p) == 32, "GetSize of a live block\n");
    CoTaskMemFree(p);
    size = get_size_of_freed(p);
    ok(size == (SIZE_T)-1, "GetSize of a freed block = %llu\n", SZ(size));
    did = did_alloc_of_freed(p);
    ok(did == 0, "DidAlloc of a freed block = %d\n", did);
    ok(realloc_of_freed(p) == NULL, "Realloc of a freed block succeeded\n");
    expect("any", 1, fmt("ole32mem: check: GetSize of %p by ", p), "get_size_of_freed", ": the block was freed");
    expect("any", 1, fmt("ole32mem: check: DidAlloc of %p by ", p), "did_alloc_of_freed", ": the block was freed");
    expect("any", 1, fmt("ole32mem: check: Realloc of %p by ", p), "realloc_of_freed",
           ": double free (the block was already freed); ignored");
    expect_count(3, "ole32mem: check:");
    check_survival();
}

/* --- guard ------------------------------------------------------------------------------------------------- */

static NOINLINE void *guard_alloc_a(SIZE_T size) { return CoTaskMemAlloc(size); }
static NOINLINE void *guard_alloc_b(SIZE_T size) { return CoTaskMemAlloc(size); }
static NOINLINE void *guard_alloc_c(SIZE_T size) { return CoTaskMemAlloc(size); }

static void test_overrun(void)
{
    unsigned long me = thread_id();
    char *a, *b, *c, *d;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    RANGE(guard_alloc_a);
    RANGE(guard_alloc_b);
    RANGE(guard_alloc_c);

    /* Overrun by one byte, found at free. */
    a = guard_alloc_a(24); /* seq 1 */
    ok(IMalloc_GetSize(allocator, a) == 24, "GetSize = %llu\n", SZ(IMalloc_GetSize(allocator, a)));
    ok(IMalloc_DidAlloc(allocator, a) == 1, "DidAlloc\n");
    a[24] = (char)~a[24]; /* the guard's bytes are random per block: any one fixed value matches 1 time in 256 */
    CoTaskMemFree(a);
    expect("any", 1, fmt("ole32mem: guard: write past the end of block %p (24 bytes) allocated by ", a),
           "guard_alloc_a", fmt(" (thread %#lx, seq 1), found at free", me));

    /* Found at realloc; the new block has a new guard, so the free that follows finds nothing. */
    b = guard_alloc_b(40); /* seq 2 */
    memset(b + 40, 0, 4);
    sink[0] = b;
    b = CoTaskMemRealloc(b, 100); /* seq 3 */
    ok(b != NULL, "Realloc failed\n");
    ok(IMalloc_GetSize(allocator, b) == 100, "GetSize after Realloc = %llu\n", SZ(IMalloc_GetSize(allocator, b)));
    expect("any", 1, fmt("ole32mem: guard: write past the end of block %p (40 bytes) allocated by ", sink[0]),
           "guard_alloc_b", fmt(" (thread %#lx, seq 2), found at realloc", me));
    memset(b, 0, 100);
    CoTaskMemFree(b);

    /* Overrun and leaked: found at exit (with or without `leaks`). No thread holds the process heap's lock then, so
     * the heap can still say the block is live: the report is not marked unverified (docs/diagnostics.md). */
    c = guard_alloc_c(8); /* seq 4 */
    c[8 + GUARD_BYTES - 1] = (char)~c[8 + GUARD_BYTES - 1];
    expect("any", 1, fmt("ole32mem: guard: write past the end of block %p (8 bytes) allocated by ", c),
           "guard_alloc_c", fmt(" (thread %#lx, seq 4), found at exit", me));

    /* Right up to the end: not an overrun. Zero bytes: GetSize 0. */
    d = CoTaskMemAlloc(16);
    memset(d, 0xfd - 1, 16);
    CoTaskMemFree(d);
    d = CoTaskMemAlloc(0);
    ok(d != NULL && IMalloc_GetSize(allocator, d) == 0, "GetSize of a 0-byte block\n");
    CoTaskMemFree(d);

    expect_count(3, "ole32mem: guard:");
    check_survival();
}

/* --- fill -------------------------------------------------------------------------------------------------- */

/* The spies of this program start with this: their AddRef and Release count, and nothing is ever destroyed. */
struct counted_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refcount;
};

static ULONG WINAPI counted_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&CONTAINING_RECORD(iface, struct counted_spy, IMallocSpy_iface)->refcount);
}

static ULONG WINAPI counted_Release(IMallocSpy *iface)
{
    return InterlockedDecrement(&CONTAINING_RECORD(iface, struct counted_spy, IMallocSpy_iface)->refcount);
}

/* A spy that keeps freed blocks: its PreFree answers NULL (the heap frees nothing) and remembers the pointer, so
 * that the program can look at a block right after CoTaskMemFree without reading freed memory. */
struct keeper
{
    struct counted_spy base;
    void *kept;
};

static void *WINAPI keeper_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)spyed;
    CONTAINING_RECORD(iface, struct keeper, base.IMallocSpy_iface)->kept = request;
    return NULL;
}

static const IMallocSpyVtbl keeper_vtbl = {
    passthrough_QueryInterface, counted_AddRef,          counted_Release,         passthrough_PreAlloc,
    passthrough_PostAlloc,      keeper_PreFree,          passthrough_PostFree,    passthrough_PreRealloc,
    passthrough_PostRealloc,    passthrough_PreGetSize,  passthrough_PostGetSize, passthrough_PreDidAlloc,
    passthrough_PostDidAlloc,   passthrough_PreHeapMinimize, passthrough_PostHeapMinimize,
};

static int all_bytes(const unsigned char *p, size_t size, unsigned char value)
{
    size_t i;

    for (i = 0; i < size; i++)
        if (p[i] != value)
            return 0;
    return 1;
}

static void test_fill(void)
{
    struct keeper keeper = {{{(IMallocSpyVtbl *)&keeper_vtbl}, 1}, NULL};
    unsigned char *p, *q;
    HRESULT hr;

    p = CoTaskMemAlloc(256);
    ok(p && all_bytes(p, 256, FILL_NEW), "a new block is not filled with 0xcd\n");
    memset(p, 0x42, 256);
    p = CoTaskMemRealloc(p, 4096);
    ok(p && all_bytes(p, 256, 0x42), "Realloc lost the contents\n");
    ok(p && all_bytes(p + 256, 4096 - 256, FILL_NEW), "the grown part is not filled with 0xcd\n");
    p = CoTaskMemRealloc(p, 100);
    ok(p && all_bytes(p, 100, 0x42), "shrinking lost the contents\n");
    CoTaskMemFree(p);

    hr = CoRegisterMallocSpy(&keeper.base.IMallocSpy_iface);
    ok(hr == S_OK, "CoRegisterMallocSpy = %#lx\n", hr);
    q = CoTaskMemAlloc(300);
    ok(q && all_bytes(q, 300, FILL_NEW), "a new block under a spy is not filled with 0xcd\n");
    memset(q, 0x42, 300);
    CoTaskMemFree(q);
    ok(keeper.kept == q, "the spy kept %p, not %p\n", keeper.kept, (void *)q);
    /* Still a live heap block: the spy's PreFree kept it from the heap. */
    ok(HeapValidate(GetProcessHeap(), 0, q), "the kept block is not a heap block\n");
    ok(all_bytes(q, 300, FILL_FREED), "a freed block is not filled with 0xdd\n");
    HeapFree(GetProcessHeap(), 0, q);
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "CoRevokeMallocSpy = %#lx\n", hr);
    ok(keeper.base.refcount == 1, "spy refcount %ld\n", keeper.base.refcount);
    check_survival();
}

/* --- trace and stats --------------------------------------------------------------------------------------- */

static NOINLINE void trace_calls(void **blocks)
{
    blocks[0] = CoTaskMemAlloc(40);
    blocks[1] = CoTaskMemRealloc(blocks[0], 80);
    blocks[2] = (void *)IMalloc_GetSize(allocator, blocks[1]);
    blocks[3] = (void *)(INT_PTR)IMalloc_DidAlloc(allocator, blocks[1]);
    IMalloc_HeapMinimize(allocator);
    blocks[4] = CoTaskMemRealloc(NULL, 12);
    blocks[5] = CoTaskMemRealloc(blocks[4], 0);
    CoTaskMemFree(blocks[1]);
}

static NOINLINE DWORD WINAPI trace_thread(void *blocks)
{
    ((void **)blocks)[6] = CoTaskMemAlloc(11);
    CoTaskMemFree(((void **)blocks)[6]);
    return thread_id();
}

static void test_trace(void)
{
    void *b[8];
    unsigned long me = thread_id();
    DWORD other = 0;
    HANDLE thread;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    RANGE(trace_calls);
    RANGE(trace_thread);
    trace_calls(b);
    thread = CreateThread(NULL, 0, trace_thread, b, 0, NULL);
    WaitForSingleObject(thread, INFINITE);
    GetExitCodeThread(thread, &other);
    CloseHandle(thread);
    ok(b[2] == (void *)80 && b[3] == (void *)1 && b[5] == NULL, "GetSize %p, DidAlloc %p, Realloc(p, 0) %p\n", b[2],
       b[3], b[5]);

    expect("any", 1, fmt("ole32mem: trace: Alloc(40) = %p by ", b[0]), "trace_calls", fmt(", thread %#lx", me));
    expect("any", 1, fmt("ole32mem: trace: Realloc(%p, 80) = %p by ", b[0], b[1]), "trace_calls",
           fmt(", thread %#lx", me));
    expect("any", 1, fmt("ole32mem: trace: GetSize(%p) = 80 by ", b[1]), "trace_calls", fmt(", thread %#lx", me));
    expect("any", 1, fmt("ole32mem: trace: DidAlloc(%p) = 1 by ", b[1]), "trace_calls", fmt(", thread %#lx", me));
    expect("any", 1, "ole32mem: trace: HeapMinimize() by ", "trace_calls", fmt(", thread %#lx", me));
    expect("any", 1, fmt("ole32mem: trace: Realloc(%p, 12) = %p by ", NULL, b[4]), "trace_calls",
           fmt(", thread %#lx", me));
    expect("any", 1, fmt("ole32mem: trace: Realloc(%p, 0) = %p by ", b[4], NULL), "trace_calls",
           fmt(", thread %#lx", me));
    expect("any", 1, fmt("ole32mem: trace: Free(%p) by ", b[1]), "trace_calls", fmt(", thread %#lx", me));
    expect("any", 1, fmt("ole32mem: trace: Alloc(11) = %p by ", b[6]), "trace_thread", fmt(", thread %#lx", other));
    expect("any", 1, fmt("ole32mem: trace: Free(%p) by ", b[6]), "trace_thread", fmt(", thread %#lx", other));
    expect_count(10, "ole32mem: trace:");
}

static void test_stats(void)
{
    void *a, *b, *c, *d;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    a = CoTaskMemAlloc(100);
    b = CoTaskMemAlloc(200);
    c = IMalloc_Alloc(allocator, 300);     /* 3 blocks, 600 bytes */
    a = CoTaskMemRealloc(a, 150);          /* 3, 650: the peak */
    CoTaskMemFree(b);                      /* 2, 450 */
    d = IMalloc_Realloc(allocator, NULL, 50); /* 3, 500 */
    ok(IMalloc_GetSize(allocator, c) == 300, "GetSize\n");
    ok(IMalloc_DidAlloc(allocator, c) == 1, "DidAlloc\n");
    IMalloc_HeapMinimize(allocator);
    IMalloc_Free(allocator, c);            /* 2, 200 */
    sink[0] = a;
    sink[1] = d;
    expect("seq", 1, fmt("ole32mem: stats: %-12s %u calls", "Alloc", 3), "-", "");
    expect("seq", 1, fmt("ole32mem: stats: %-12s %u calls", "Realloc", 2), "-", "");
    expect("seq", 1, fmt("ole32mem: stats: %-12s %u calls", "Free", 2), "-", "");
    expect("seq", 1, fmt("ole32mem: stats: %-12s %u calls", "GetSize", 1), "-", "");
    expect("seq", 1, fmt("ole32mem: stats: %-12s %u calls", "DidAlloc", 1), "-", "");
    expect("seq", 1, fmt("ole32mem: stats: %-12s %u calls", "HeapMinimize", 1), "-", "");
    expect("seq", 1, "ole32mem: stats: live now 2 blocks, 200 bytes; peak 3 blocks, 650 bytes", "-", "");
    expect_count(7, "ole32mem: stats:");
}

/* --- a program's own spy, with and without diagnostics ----------------------------------------------------- */

/* Logs every hook with the pointers named by generation: every PostAlloc/PostRealloc answer is a new name ("P3"),
 * so that two runs (with and without OLE32MEM_DEBUG) compare equal when the spy saw the same calls and the same
 * pointers, wherever the heap put the blocks. With a header, it is the classic header spy: PreAlloc asks for more,
 * PostAlloc writes a header and answers the pointer after it. */
struct logging_spy
{
    struct counted_spy base;
    SIZE_T header;
    void *names[SPY_POINTERS];
    unsigned name_count;
    char log[SPY_LOG_LINES][SPY_LOG_CHARS];
    unsigned lines;
};

static struct logging_spy *impl_from_logging_spy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct logging_spy, base.IMallocSpy_iface);
}

static TEST_FORMAT(2, 3) void spy_log(struct logging_spy *spy, const char *format, ...)
{
    va_list args;

    if (spy->lines == SPY_LOG_LINES)
        return;
    va_start(args, format);
    vsnprintf(spy->log[spy->lines++], SPY_LOG_CHARS, format, args);
    va_end(args);
}

/* The latest name of a pointer the spy handed out, "?" for one it never did (a different pointer). */
static const char *spy_name(struct logging_spy *spy, const void *pointer)
{
    unsigned i;

    if (!pointer)
        return "NULL";
    for (i = spy->name_count; i-- > 0;)
        if (spy->names[i] == pointer)
            return fmt("P%u", i);
    return fmt("?%p", pointer);
}

static void *spy_new_name(struct logging_spy *spy, void *pointer)
{
    if (pointer && spy->name_count < SPY_POINTERS)
        spy->names[spy->name_count++] = pointer;
    return pointer;
}

static SIZE_T WINAPI logging_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);

    spy_log(spy, "PreAlloc(%llu)", SZ(size));
    return size + spy->header;
}

static void *header_wrap(struct logging_spy *spy, void *actual)
{
    if (!actual || !spy->header)
        return actual;
    *(DWORD *)actual = HEADER_MAGIC;
    return (char *)actual + spy->header;
}

static void *header_unwrap(struct logging_spy *spy, void *request, BOOL spyed)
{
    if (!request || !spy->header || !spyed)
        return request;
    if (*(DWORD *)((char *)request - spy->header) != HEADER_MAGIC)
        spy_log(spy, "bad header before %s", spy_name(spy, request));
    return (char *)request - spy->header;
}

static void *WINAPI logging_PostAlloc(IMallocSpy *iface, void *actual)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);
    void *result = spy_new_name(spy, header_wrap(spy, actual));

    spy_log(spy, "PostAlloc -> %s", spy_name(spy, result));
    return result;
}

static void *WINAPI logging_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);

    spy_log(spy, "PreFree(%s, %d)", spy_name(spy, request), spyed);
    return header_unwrap(spy, request, spyed);
}

static void WINAPI logging_PostFree(IMallocSpy *iface, BOOL spyed)
{
    spy_log(impl_from_logging_spy(iface), "PostFree(%d)", spyed);
}

static SIZE_T WINAPI logging_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);

    spy_log(spy, "PreRealloc(%s, %llu, %d)", spy_name(spy, request), SZ(size), spyed);
    *new_request = header_unwrap(spy, request, spyed);
    return size + spy->header;
}

static void *WINAPI logging_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);
    void *result = spy_new_name(spy, header_wrap(spy, actual));

    spy_log(spy, "PostRealloc(%d) -> %s", spyed, spy_name(spy, result));
    return result;
}

static void *WINAPI logging_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);

    spy_log(spy, "PreGetSize(%s, %d)", spy_name(spy, request), spyed);
    return header_unwrap(spy, request, spyed);
}

static SIZE_T WINAPI logging_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);

    spy_log(spy, "PostGetSize(%llu, %d)", SZ(actual), spyed);
    return spyed && actual != (SIZE_T)-1 ? actual - spy->header : actual;
}

static void *WINAPI logging_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);

    spy_log(spy, "PreDidAlloc(%s, %d)", spy_name(spy, request), spyed);
    return header_unwrap(spy, request, spyed);
}

static int WINAPI logging_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    struct logging_spy *spy = impl_from_logging_spy(iface);

    spy_log(spy, "PostDidAlloc(%s, %d, %d)", spy_name(spy, request), spyed, actual);
    return actual;
}

static void WINAPI logging_PreHeapMinimize(IMallocSpy *iface)
{
    spy_log(impl_from_logging_spy(iface), "PreHeapMinimize");
}

static void WINAPI logging_PostHeapMinimize(IMallocSpy *iface)
{
    spy_log(impl_from_logging_spy(iface), "PostHeapMinimize");
}

static const IMallocSpyVtbl logging_vtbl = {
    passthrough_QueryInterface, counted_AddRef,  counted_Release,        logging_PreAlloc,
    logging_PostAlloc,      logging_PreFree,     logging_PostFree,       logging_PreRealloc,
    logging_PostRealloc,    logging_PreGetSize,  logging_PostGetSize,    logging_PreDidAlloc,
    logging_PostDidAlloc,   logging_PreHeapMinimize, logging_PostHeapMinimize,
};

static void test_spy(SIZE_T header)
{
    static struct logging_spy spy;
    char *before, *b, *c, *d, local[8];
    unsigned i;
    HRESULT hr;

    spy.base.IMallocSpy_iface.lpVtbl = (IMallocSpyVtbl *)&logging_vtbl;
    spy.base.refcount = 1;
    spy.header = header;
    CoGetMalloc(MEMCTX_TASK, &allocator);

    before = CoTaskMemAlloc(27);
    /* Names for the two pointers the spy did not hand out, so that they compare equal between runs too. */
    spy_new_name(&spy, before);
    spy_new_name(&spy, local);
    hr = CoRegisterMallocSpy(&spy.base.IMallocSpy_iface);
    ok(hr == S_OK, "CoRegisterMallocSpy = %#lx\n", hr);
    if (hr != S_OK)
        return;
    ok(IMalloc_GetSize(allocator, before) == 27, "GetSize of a block from before the spy\n");
    b = CoTaskMemAlloc(100);
    strcpy(b, "spied");
    c = IMalloc_Alloc(allocator, 0);
    ok(c != NULL, "Alloc(0) failed\n");
    b = CoTaskMemRealloc(b, 5000);
    ok(b && !strcmp(b, "spied"), "Realloc lost the contents\n");
    ok(IMalloc_GetSize(allocator, b) == 5000, "GetSize = %llu\n", SZ(IMalloc_GetSize(allocator, b)));
    ok(IMalloc_GetSize(allocator, c) == 0, "GetSize(0-byte block) = %llu\n", SZ(IMalloc_GetSize(allocator, c)));
    ok(IMalloc_DidAlloc(allocator, b) == 1, "DidAlloc of a spied block\n");
    ok(IMalloc_DidAlloc(allocator, local) == 0, "DidAlloc of a stack pointer\n");
    IMalloc_HeapMinimize(allocator);
    CoTaskMemFree(before);
    CoTaskMemFree(c);
    ok(CoTaskMemRealloc(b, 0) == NULL, "Realloc(p, 0)\n");
    d = CoTaskMemRealloc(NULL, 33);
    ok(d != NULL, "Realloc(NULL, 33) failed\n");
    IMalloc_Free(allocator, d);
    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "CoRevokeMallocSpy = %#lx\n", hr);
    ok(spy.base.refcount == 1, "spy refcount %ld\n", spy.base.refcount);
    for (i = 0; i < spy.lines; i++)
        printf("SPYLOG|%s\n", spy.log[i]);
    expect_count(0, "ole32mem: check:");
    expect_count(0, "ole32mem: guard:");
}

/* --- everything right: no report but an empty leak report -------------------------------------------------- */

static DWORD WINAPI clean_thread(void *arg)
{
    void *blocks[16] = {0};
    unsigned i, seed = (unsigned)(UINT_PTR)arg;

    for (i = 0; i < 20000; i++)
    {
        unsigned slot = (seed = seed * 1103515245 + 12345) >> 16 & 15;

        if (blocks[slot] && (seed & 0x100))
        {
            CoTaskMemFree(blocks[slot]);
            blocks[slot] = NULL;
        }
        else
            blocks[slot] = CoTaskMemRealloc(blocks[slot], (seed >> 8 & 255) + 1);
        if (blocks[slot])
            ((char *)blocks[slot])[0] = 1;
    }
    for (i = 0; i < 16; i++)
        CoTaskMemFree(blocks[i]);
    return 0;
}

static void test_clean(void)
{
    void *(WINAPI * builtin_alloc)(SIZE_T);
    HANDLE threads[4];
    void *p;
    unsigned i;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    CoTaskMemFree(NULL);
    p = CoTaskMemAlloc(0);
    ok(p && IMalloc_GetSize(allocator, p) == 0, "Alloc(0)\n");
    CoTaskMemFree(p);
    p = HeapAlloc(GetProcessHeap(), 0, 20);
    ok(IMalloc_GetSize(allocator, p) == 20, "GetSize of a process heap block\n");
    ok(IMalloc_DidAlloc(allocator, p) == 1, "DidAlloc of a process heap block\n");
    p = CoTaskMemRealloc(p, 40);
    ok(p && IMalloc_GetSize(allocator, p) == 40, "Realloc of a process heap block\n");
    CoTaskMemFree(p);
    builtin_alloc = (void *(WINAPI *)(SIZE_T))(void *)GetProcAddress(LoadLibraryA("ole32.dll"), "CoTaskMemAlloc");
    if (builtin_alloc)
    {
        p = builtin_alloc(30);
        ok(IMalloc_GetSize(allocator, p) == 30, "GetSize of the system ole32's block\n");
        CoTaskMemFree(p);
    }
    /* More frees than the diagnostics remember, and blocks moving between threads' slots. */
    for (i = 0; i < 4; i++)
        threads[i] = CreateThread(NULL, 0, clean_thread, (void *)(UINT_PTR)(i + 1), 0, NULL);
    WaitForMultipleObjects(4, threads, TRUE, INFINITE);
    for (i = 0; i < 4; i++)
        CloseHandle(threads[i]);
    ok(heap_is_sound(), "the process heap is damaged\n");
    expect_count(0, "ole32mem: check:");
    expect_count(0, "ole32mem: guard:");
    expect_leak_header("any", 0, 0, 0, 0);
}

/* --- the child --------------------------------------------------------------------------------------------- */

/* `diag.exe child spy [HEADER]`. */
static void test_spy_mode(void)
{
    test_spy(child_arg ? strtoul(child_arg, NULL, 10) : 0);
}

static const struct child_mode modes[] = {
    {"leak", test_leak},
    {"suppress", test_suppress},
    {"unloaded-module", test_unloaded_module},
    {"leaks-max", test_leaks_max},
    {"double-free", test_double_free},
    {"double-free-reuse", test_double_free_reuse},
    {"foreign-free", test_foreign_free},
    {"freed-queries", test_freed_queries},
    {"overrun", test_overrun},
    {"fill", test_fill},
    {"trace", test_trace},
    {"stats", test_stats},
    {"clean", test_clean},
    {"spy", test_spy_mode},
};

/* --- the parent ------------------------------------------------------------------------------------------- */

enum
{
    CHILD_TIMEOUT_MS = 300000,
    CASE_SETTINGS = 4,
    TAIL_LINES = 3, /* of a child's output, in the message when it did not survive */
    TAIL_CHARS = 300,
    SPY_LOG_MIN = 10,
};

enum case_flags
{
    NO_EXPECT = 1, /* the child's expectations do not hold here (diagnostics off, a log written twice) */
};

struct diag_run;

struct diag_case
{
    const char *label;
    const char *program; /* NULL: `diag.exe child ARGS`; else a child program of this folder, run with ARGS */
    const char *args;
    const char *settings[CASE_SETTINGS]; /* OLE32MEM_* of this case, NULL-terminated */
    /* NULL: reports on stderr; else the OLE32MEM_LOG file in out\log ("%p": the process id). The folder is emptied
     * before the first case: a name used twice is a file appended to. */
    const char *log;
    unsigned flags;
    void (*also)(const struct diag_run *run, const struct diag_run *before); /* checks of the case's own */
};

struct diag_run
{
    const struct diag_case *c;
    struct child child;
    char log_path[CHILD_PATH_MAX]; /* the OLE32MEM_LOG file, "%p" replaced; "" when none */
    char *log;                     /* its text, NULL when none */
    const char *report;            /* where the child's reports are: its stderr or the log */
};

/* Every child reports with one frame (OLE32MEM_STACK_DEPTH=0): tests/diag/stacks.c checks the call stacks. */
static const char *const child_settings[] = {"OLE32MEM_STACK_DEPTH=0", NULL};
static const char unknown_option[] =
    "ole32mem: OLE32MEM_DEBUG: unknown option 'bogus' (known: trace, leaks, check, guard, fill, stats, all)";
static char log_dir[CHILD_PATH_MAX];

/* Removes the logs of an earlier run (a name with "%p" could not be removed before its case: the id is not known). */
static void empty_log_dir(void)
{
    char pattern[CHILD_PATH_MAX], path[CHILD_PATH_MAX];
    WIN32_FIND_DATAA found;
    HANDLE search;

    snprintf(pattern, sizeof(pattern), "%s\\*.log", log_dir);
    if ((search = FindFirstFileA(pattern, &found)) == INVALID_HANDLE_VALUE)
        return;
    do
    {
        snprintf(path, sizeof(path), "%s\\%s", log_dir, found.cFileName);
        DeleteFileA(path);
    } while (FindNextFileA(search, &found));
    FindClose(search);
}

/* OLE32MEM_DEBUG=leaks,bogus: the unknown word is reported once, and `leaks` still works (the expectations). */
static void check_unknown_once(const struct diag_run *run, const struct diag_run *before)
{
    (void)before;
    ok(child_count_lines(run->child.err, unknown_option, LINE_IS) == 1, "%s: the unknown option is not reported once\n",
       run->c->label);
}

/* "stats, trace": a comma and a space both separate. */
static void check_separators(const struct diag_run *run, const struct diag_run *before)
{
    (void)before;
    ok(!child_count_lines(run->child.err, "unknown option", LINE_CONTAINS), "%s: \"stats, trace\": an unknown option\n",
       run->c->label);
    ok(child_count_lines(run->child.err, "ole32mem: trace:", LINE_STARTS) == 10,
       "%s: \"stats, trace\": %d trace lines\n", run->c->label,
       child_count_lines(run->child.err, "ole32mem: trace:", LINE_STARTS));
}

/* OLE32MEM_DEBUG empty: no report, and the log file is not even made. */
static void check_off(const struct diag_run *run, const struct diag_run *before)
{
    (void)before;
    ok(!*run->child.err && GetFileAttributesA(run->log_path) == INVALID_FILE_ATTRIBUTES,
       "%s: diagnostics off: a report or a log file (%s): \"%.200s\"\n", run->c->label, run->log_path, run->child.err);
}

/* OLE32MEM_LOG=...%p: the file has the child's process id, and every report goes there, the warning too. */
static void check_log_pid(const struct diag_run *run, const struct diag_run *before)
{
    const char *err = run->child.err;

    (void)before;
    ok(*run->report != 0, "%s: no log file %s\n", run->c->label, run->log_path);
    ok(child_count_lines(err, "ole32mem:", LINE_STARTS) == child_count_lines(err, unknown_option, LINE_IS),
       "%s: OLE32MEM_LOG: a report on stderr: \"%.200s\"\n", run->c->label, err);
    ok(!child_count_lines(err, "unknown option", LINE_CONTAINS) &&
           child_count_lines(run->report, unknown_option, LINE_IS) == 1,
       "%s: OLE32MEM_LOG: the unknown-option warning goes to the log, not stderr (stderr has %d, the log %d)\n",
       run->c->label, child_count_lines(err, "unknown option", LINE_CONTAINS),
       child_count_lines(run->report, "unknown option", LINE_CONTAINS));
}

/* Two runs into one OLE32MEM_LOG: both runs' reports are there. */
static void check_appended(const struct diag_run *run, const struct diag_run *before)
{
    char line[CHILD_LINE_MAX];
    const char *cursor = run->report;
    int double_frees = 0;

    (void)before;
    ok(child_count_lines(run->report, "ole32mem: leaks: 0 blocks", LINE_STARTS) == 2,
       "%s: OLE32MEM_LOG is appended to: %d leak reports, not two\n", run->c->label,
       child_count_lines(run->report, "ole32mem: leaks: 0 blocks", LINE_STARTS));
    while (child_next_line(&cursor, line, sizeof(line)))
        double_frees += !strncmp(line, "ole32mem: check: ", 17) && strstr(line, "double free") != NULL;
    ok(double_frees == 4, "%s: OLE32MEM_LOG is appended to: %d double-free reports, not both runs' 4\n", run->c->label,
       double_frees);
}

/* The spy saw the same hooks, sizes and pointers (named by generation) as in the case before, which ran without
 * diagnostics. */
static void check_same_spy_log(const struct diag_run *run, const struct diag_run *before)
{
    char with[CHILD_LINE_MAX], without[CHILD_LINE_MAX];
    const char *a = before->child.out, *b = run->child.out;
    int lines = 0, more_a, more_b;

    for (;;)
    {
        while ((more_a = child_next_line(&a, without, sizeof(without))) && strncmp(without, "SPYLOG|", 7))
            ;
        while ((more_b = child_next_line(&b, with, sizeof(with))) && strncmp(with, "SPYLOG|", 7))
            ;
        if (!more_a || !more_b || strcmp(with, without))
            break;
        lines++;
    }
    ok(!more_a && !more_b && lines > SPY_LOG_MIN,
       "%s: the spy saw other hooks with the diagnostics than without (%s): hook %d: \"%s\" against \"%s\"\n",
       run->c->label, before->c->label, lines + 1, more_b ? with : "(none)", more_a ? without : "(none)");
}

static void append(char *text, size_t size, const char *piece)
{
    size_t used = strlen(text);

    snprintf(text + used, size - used, "%s / ", piece);
}

/* For a child that did not survive: its last lines on stdout that are not the protocol's, and its lines on stderr
 * that speak of an exception or a fault. */
static const char *what_went_wrong(const struct child *child)
{
    static char text[CHILD_LINE_MAX];
    char tail[TAIL_LINES][TAIL_CHARS], line[CHILD_LINE_MAX], lower[CHILD_LINE_MAX];
    const char *cursor = child->out;
    int n = 0, i, faults = 0;

    while (child_next_line(&cursor, line, sizeof(line)))
        if (strncmp(line, "RANGE|", 6) && strncmp(line, "EXPECT|", 7) && strncmp(line, "COUNT|", 6) &&
            strncmp(line, "SPYLOG|", 7))
            snprintf(tail[n++ % TAIL_LINES], sizeof(tail[0]), "%s", line);
    text[0] = 0;
    for (i = n > TAIL_LINES ? n - TAIL_LINES : 0; i < n; i++)
        append(text, sizeof(text), tail[i % TAIL_LINES]);
    for (cursor = child->err; faults < TAIL_LINES && child_next_line(&cursor, line, sizeof(line));)
    {
        for (i = 0; line[i]; i++)
            lower[i] = (char)tolower((unsigned char)line[i]);
        lower[i] = 0;
        if (strstr(lower, "exception") || strstr(lower, "fault"))
            append(text, sizeof(text), line), faults++;
    }
    return text;
}

/* The file ole32mem wrote for OLE32MEM_LOG=<log_dir>\NAME: "%p" is the process id, in decimal. */
static void log_file_of(const struct diag_run *run, char *path, size_t size)
{
    const char *log = run->c->log, *pid = strstr(log, "%p");

    if (pid)
        snprintf(path, size, "%s\\%.*s%lu%s", log_dir, (int)(pid - log), log, run->child.pid, pid + 2);
    else
        snprintf(path, size, "%s\\%s", log_dir, log);
}

static void run_case(const struct diag_case *c, struct diag_run *run, const struct diag_run *before)
{
    const char *settings[CASE_SETTINGS + 2];
    char log_setting[CHILD_PATH_MAX + 16];
    unsigned i;

    memset(run, 0, sizeof(*run));
    run->c = c;
    for (i = 0; i < CASE_SETTINGS && c->settings[i]; i++)
        settings[i] = c->settings[i];
    if (c->log)
    {
        snprintf(log_setting, sizeof(log_setting), "OLE32MEM_LOG=%s\\%s", log_dir, c->log);
        settings[i++] = log_setting;
    }
    settings[i] = NULL;
    child_run_program(&run->child, c->program, c->label, c->args, settings, 0, CHILD_TIMEOUT_MS);
    ok(run->child.finished && run->child.exit_code == 0 && run->child.summary,
       "%s: %s (must survive and exit 0): %s\n", c->label,
       run->child.finished ? fmt("exit code %lu (%#lx)", run->child.exit_code, run->child.exit_code)
                           : fmt("no end within %d s, ended", CHILD_TIMEOUT_MS / 1000),
       what_went_wrong(&run->child));
    if (c->log)
    {
        log_file_of(run, run->log_path, sizeof(run->log_path));
        run->log = child_read_text(run->log_path);
    }
    run->report = c->log ? run->log : run->child.err;
    if (!(c->flags & NO_EXPECT))
        expect_check(c->label, run->child.out, run->report);
    if (c->also)
        c->also(run, before);
}

static void free_run(struct diag_run *run)
{
    child_free(&run->child);
    free(run->log);
    run->log = NULL;
}

/* A case whose child runs `diag.exe child MODE` with the settings given and reports on stderr, checked against its
 * expectations and nothing else. */
#define PLAIN_CASE(label, mode, ...) {label, NULL, mode, {__VA_ARGS__}, NULL, 0, NULL}

/* The cases, run in this order; every child also runs with child_settings. */
static const struct diag_case cases[] = {
    /* Reports on stderr: each mode with the option that makes it safe, and with `all`. */
    PLAIN_CASE("leak", "leak", "OLE32MEM_DEBUG=leaks"),
    PLAIN_CASE("leak-all", "leak", "OLE32MEM_DEBUG=all"),
    PLAIN_CASE("suppress-none", "suppress", "OLE32MEM_DEBUG=leaks"),
    PLAIN_CASE("suppress-helper", "suppress", "OLE32MEM_DEBUG=leaks", "OLE32MEM_SUPPRESS=diaghelp.dll"),
    PLAIN_CASE("suppress-exe", "suppress", "OLE32MEM_DEBUG=leaks", "OLE32MEM_SUPPRESS=kernel32.dll,DIAG.EXE"),
    PLAIN_CASE("suppress-leak", "leak", "OLE32MEM_DEBUG=leaks", "OLE32MEM_SUPPRESS=diag.exe"),
    PLAIN_CASE("unloaded-module", "unloaded-module", "OLE32MEM_DEBUG=leaks"),
    PLAIN_CASE("leaks-max-2", "leaks-max", "OLE32MEM_DEBUG=leaks", "OLE32MEM_LEAKS_MAX=2"),
    PLAIN_CASE("leaks-max-default", "leaks-max", "OLE32MEM_DEBUG=leaks"),
    PLAIN_CASE("double-free", "double-free", "OLE32MEM_DEBUG=check"),
    PLAIN_CASE("double-free-all", "double-free", "OLE32MEM_DEBUG=all"),
    PLAIN_CASE("double-free-reuse", "double-free-reuse", "OLE32MEM_DEBUG=check,leaks"),
    PLAIN_CASE("double-free-reuse-all", "double-free-reuse", "OLE32MEM_DEBUG=all"),
    PLAIN_CASE("foreign-free", "foreign-free", "OLE32MEM_DEBUG=check"),
    PLAIN_CASE("foreign-free-all", "foreign-free", "OLE32MEM_DEBUG=all"),
    PLAIN_CASE("freed-queries", "freed-queries", "OLE32MEM_DEBUG=check"),
    PLAIN_CASE("overrun", "overrun", "OLE32MEM_DEBUG=guard"),
    PLAIN_CASE("overrun-all", "overrun", "OLE32MEM_DEBUG=all"),
    PLAIN_CASE("fill", "fill", "OLE32MEM_DEBUG=fill"),
    PLAIN_CASE("trace", "trace", "OLE32MEM_DEBUG=trace"),
    PLAIN_CASE("stats", "stats", "OLE32MEM_DEBUG=stats"),
    PLAIN_CASE("clean", "clean", "OLE32MEM_DEBUG=check,guard,fill,leaks,stats"),
    /* ole32mem loaded and unloaded at run time: the leak report comes at the unload (tests/diag/diagdyn.c). */
    {"unload", "diagdyn.exe", NULL, {"OLE32MEM_DEBUG=leaks"}, NULL, 0, NULL},
    /* Option parsing: unknown words are reported once and the known ones still work; ", " both separate. */
    {"unknown-option", NULL, "leak", {"OLE32MEM_DEBUG=leaks,bogus"}, NULL, 0, check_unknown_once},
    {"separators", NULL, "stats", {"OLE32MEM_DEBUG=stats, trace"}, NULL, 0, check_separators},
    {"off", NULL, "leak", {"OLE32MEM_DEBUG="}, "off.log", NO_EXPECT, check_off},
    /* OLE32MEM_LOG: %p is the process id, reports go there and not to stderr, and the file is appended to. */
    {"log-pid", NULL, "leak", {"OLE32MEM_DEBUG=leaks,bogus"}, "diag-%p.log", 0, check_log_pid},
    {"log-append-1", NULL, "double-free", {"OLE32MEM_DEBUG=check,leaks"}, "append.log", 0, NULL},
    {"log-append-2", NULL, "double-free", {"OLE32MEM_DEBUG=check,leaks"}, "append.log", NO_EXPECT, check_appended},
    /* A program's own spy sees the same hooks, sizes and pointers with and without the diagnostics. */
    {"spy-0-plain", NULL, "spy 0", {NULL}, NULL, NO_EXPECT, NULL},
    {"spy-0-all", NULL, "spy 0", {"OLE32MEM_DEBUG=all"}, NULL, 0, check_same_spy_log},
    {"spy-16-plain", NULL, "spy 16", {NULL}, NULL, NO_EXPECT, NULL},
    {"spy-16-all", NULL, "spy 16", {"OLE32MEM_DEBUG=all"}, NULL, 0, check_same_spy_log},
};

int main(int argc, char **argv)
{
    struct diag_run runs[2]; /* this case's and the one before, which a case's own checks may compare with */
    unsigned i;

    child_init("diag", child_settings);
    expect_module_name(GetModuleHandleA(NULL), exe_name, sizeof(exe_name));
    if (argc >= 3 && !strcmp(argv[1], "child"))
        return child_main(argv[2], argv[3], modes, ARRAYSIZE(modes));
    snprintf(log_dir, sizeof(log_dir), "%s\\log", child_out_dir);
    CreateDirectoryA(log_dir, NULL);
    empty_log_dir();
    expect_load_extents();
    for (i = 0; i < ARRAYSIZE(cases); i++)
    {
        run_case(&cases[i], &runs[i % 2], i ? &runs[(i - 1) % 2] : NULL);
        if (i)
            free_run(&runs[(i - 1) % 2]);
    }
    if (i)
        free_run(&runs[(i - 1) % 2]);
    return test_summary("diag");
}
