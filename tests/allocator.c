/*
 * The task allocator without a spy: CoGetMalloc, the static IMalloc object and CoTaskMemAlloc/Realloc/Free
 * (docs/semantics.md rules 1 to 18). Every block is freed before its test returns.
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
#include <objbase.h>

#include "ole32mem_version.h"
#include "test.h"

#define IMPOSSIBLE_SIZE ((SIZE_T)-1)
#define IMPOSSIBLE_HALF_SIZE ((SIZE_T)-1 / 2)
/* Larger than any small-block bucket, so that growing to it must move the block on any heap. */
#define LARGE_SIZE (256 * 1024)

static IMalloc *get_malloc(void)
{
    IMalloc *imalloc = NULL;
    HRESULT hr = CoGetMalloc(MEMCTX_TASK, &imalloc);

    ok(hr == S_OK && imalloc != NULL, "CoGetMalloc: %#lx %p\n", hr, imalloc);
    return imalloc;
}

static void test_CoGetMalloc_task(void)
{
    IMalloc *first = NULL, *second = NULL;
    HRESULT hr;

    hr = CoGetMalloc(MEMCTX_TASK, &first);
    ok(hr == S_OK, "got %#lx\n", hr);
    ok(first != NULL, "got %p\n", first);
    hr = CoGetMalloc(MEMCTX_TASK, &second);
    ok(hr == S_OK, "got %#lx\n", hr);
    ok(second == first, "got %p, first call gave %p\n", second, first);
}

static void test_CoGetMalloc_other_contexts(void)
{
    static const DWORD contexts[] = {0, MEMCTX_SHARED, MEMCTX_MACSYSTEM, (DWORD)MEMCTX_UNKNOWN, (DWORD)MEMCTX_SAME};
    unsigned int i;

    for (i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++)
    {
        IMalloc *imalloc = (IMalloc *)0xdeadbeef;
        HRESULT hr = CoGetMalloc(contexts[i], &imalloc);

        ok(hr == E_INVALIDARG, "context %ld: got %#lx\n", (LONG)contexts[i], hr);
        ok(imalloc == NULL, "context %ld: got %p\n", (LONG)contexts[i], imalloc);
    }
}

static void test_QueryInterface(void)
{
    static const IID random_iid = {0x6d2a5c1e, 0x0b4f, 0x4e77, {0x9a, 0x31, 0x5e, 0x08, 0x6c, 0x2d, 0xf1, 0x93}};
    static const struct
    {
        const IID *iid;
        const char *name;
        HRESULT expect;
    } cases[] = {
        {&IID_IUnknown, "IUnknown", S_OK},
        {&IID_IMalloc, "IMalloc", S_OK},
        {&IID_IMallocSpy, "IMallocSpy", E_NOINTERFACE},
        {&IID_IStream, "IStream", E_NOINTERFACE},
        {&IID_IClassFactory, "IClassFactory", E_NOINTERFACE},
        {&random_iid, "random", E_NOINTERFACE},
    };
    IMalloc *imalloc = get_malloc();
    unsigned int i;

    if (!imalloc)
        return;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        void *obj = NULL;
        HRESULT hr = IMalloc_QueryInterface(imalloc, cases[i].iid, &obj);

        ok(hr == cases[i].expect, "%s: got %#lx\n", cases[i].name, hr);
        /* Wine's builtin does not clear *obj on failure; only the success case is checked. */
        if (cases[i].expect == S_OK)
        {
            ok(obj == imalloc, "%s: got %p, allocator %p\n", cases[i].name, obj, imalloc);
            if (obj)
                IMalloc_Release((IMalloc *)obj);
        }
    }
}

static void test_refcount(void)
{
    IMalloc *imalloc = get_malloc(), *again = NULL;
    void *block;
    int i;

    if (!imalloc)
        return;
    for (i = 0; i < 8; i++)
        IMalloc_AddRef(imalloc);
    /* More Releases than references: a static object is never destroyed. */
    for (i = 0; i < 32; i++)
        IMalloc_Release(imalloc);
    block = IMalloc_Alloc(imalloc, 8);
    ok(block != NULL, "Alloc after Releases: got %p\n", block);
    IMalloc_Free(imalloc, block);
    ok(CoGetMalloc(MEMCTX_TASK, &again) == S_OK && again == imalloc, "got %p, before %p\n", again, imalloc);
}

static void test_alloc_zero(void)
{
    IMalloc *imalloc = get_malloc();
    void *block;
    SIZE_T size;
    int did;

    if (!imalloc)
        return;
    block = IMalloc_Alloc(imalloc, 0);
    ok(block != NULL, "Alloc(0): got %p\n", block);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 0, "GetSize: got %llu\n", SZ(size));
    did = IMalloc_DidAlloc(imalloc, block);
    ok(did == 1, "DidAlloc: got %d\n", did);
    IMalloc_Free(imalloc, block);

    block = CoTaskMemAlloc(0);
    ok(block != NULL, "CoTaskMemAlloc(0): got %p\n", block);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 0, "GetSize: got %llu\n", SZ(size));
    CoTaskMemFree(block);
}

static void test_GetSize(void)
{
    static const SIZE_T sizes[] = {1, 3, 16, 27, 100, 4095, 4096, 65537, LARGE_SIZE};
    IMalloc *imalloc = get_malloc();
    unsigned int i;

    if (!imalloc)
        return;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    {
        void *block = IMalloc_Alloc(imalloc, sizes[i]);
        SIZE_T size;

        ok(block != NULL, "Alloc(%llu): got %p\n", SZ(sizes[i]), block);
        if (!block)
            continue;
        size = IMalloc_GetSize(imalloc, block);
        ok(size == sizes[i], "GetSize of a %llu-byte block: got %llu\n", SZ(sizes[i]), SZ(size));
        IMalloc_Free(imalloc, block);
    }
}

static void test_GetSize_null(void)
{
    IMalloc *imalloc = get_malloc();
    SIZE_T size;

    if (!imalloc)
        return;
    size = IMalloc_GetSize(imalloc, NULL);
    ok(size == (SIZE_T)-1, "got %#llx\n", SZ(size));
}

static void test_DidAlloc(void)
{
    IMalloc *imalloc = get_malloc();
    char *block;
    int did;

    if (!imalloc)
        return;
    did = IMalloc_DidAlloc(imalloc, NULL);
    ok(did == -1, "NULL: got %d\n", did);
    block = IMalloc_Alloc(imalloc, 16);
    ok(block != NULL, "Alloc: got %p\n", block);
    if (!block)
        return;
    did = IMalloc_DidAlloc(imalloc, block);
    ok(did == 1, "own block: got %d\n", did);
    did = IMalloc_DidAlloc(imalloc, (void *)1);
    ok(did == 0, "(void *)1: got %d\n", did);
    did = IMalloc_DidAlloc(imalloc, block + 4);
    ok(did == 0, "interior pointer: got %d\n", did);
    IMalloc_Free(imalloc, block);

    block = CoTaskMemAlloc(24);
    did = IMalloc_DidAlloc(imalloc, block);
    ok(did == 1, "CoTaskMemAlloc block: got %d\n", did);
    CoTaskMemFree(block);
}

static void test_Free_null(void)
{
    IMalloc *imalloc = get_malloc();

    if (!imalloc)
        return;
    IMalloc_Free(imalloc, NULL);
    CoTaskMemFree(NULL);
    ok(1, "Free(NULL) returned\n");
}

static void test_Realloc_null(void)
{
    IMalloc *imalloc = get_malloc();
    void *block;
    SIZE_T size;

    if (!imalloc)
        return;
    block = IMalloc_Realloc(imalloc, NULL, 10);
    ok(block != NULL, "Realloc(NULL, 10): got %p\n", block);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 10, "GetSize: got %llu\n", SZ(size));
    ok(IMalloc_DidAlloc(imalloc, block) == 1, "DidAlloc: not ours\n");
    IMalloc_Free(imalloc, block);

    block = IMalloc_Realloc(imalloc, NULL, 0);
    ok(block != NULL, "Realloc(NULL, 0): got %p\n", block);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 0, "GetSize: got %llu\n", SZ(size));
    IMalloc_Free(imalloc, block);

    block = CoTaskMemRealloc(NULL, 0);
    ok(block != NULL, "CoTaskMemRealloc(NULL, 0): got %p\n", block);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 0, "GetSize: got %llu\n", SZ(size));
    CoTaskMemFree(block);

    block = CoTaskMemRealloc(NULL, 33);
    ok(block != NULL, "CoTaskMemRealloc(NULL, 33): got %p\n", block);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 33, "GetSize: got %llu\n", SZ(size));
    CoTaskMemFree(block);
}

static void test_Realloc_zero(void)
{
    IMalloc *imalloc = get_malloc();
    void *block, *result;

    if (!imalloc)
        return;
    block = IMalloc_Alloc(imalloc, 40);
    ok(block != NULL, "Alloc: got %p\n", block);
    result = IMalloc_Realloc(imalloc, block, 0);
    ok(result == NULL, "Realloc(p, 0): got %p\n", result);
    /* The block was freed: the process heap (the allocator's backing store) no longer has it. */
    ok(!HeapValidate(GetProcessHeap(), 0, block), "block %p still allocated\n", block);

    block = CoTaskMemAlloc(40);
    result = CoTaskMemRealloc(block, 0);
    ok(result == NULL, "CoTaskMemRealloc(p, 0): got %p\n", result);
    ok(!HeapValidate(GetProcessHeap(), 0, block), "block %p still allocated\n", block);
}

static void test_impossible_sizes(void)
{
    static const SIZE_T sizes[] = {IMPOSSIBLE_SIZE, IMPOSSIBLE_HALF_SIZE, IMPOSSIBLE_SIZE - 64};
    IMalloc *imalloc = get_malloc();
    unsigned int i;
    void *block, *result;
    SIZE_T size;

    if (!imalloc)
        return;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    {
        block = IMalloc_Alloc(imalloc, sizes[i]);
        ok(block == NULL, "Alloc(%#llx): got %p\n", SZ(sizes[i]), block);
        IMalloc_Free(imalloc, block);
        block = CoTaskMemAlloc(sizes[i]);
        ok(block == NULL, "CoTaskMemAlloc(%#llx): got %p\n", SZ(sizes[i]), block);
        CoTaskMemFree(block);
        block = IMalloc_Realloc(imalloc, NULL, sizes[i]);
        ok(block == NULL, "Realloc(NULL, %#llx): got %p\n", SZ(sizes[i]), block);
        IMalloc_Free(imalloc, block);

        block = IMalloc_Alloc(imalloc, 50);
        ok(block != NULL, "Alloc(50): got %p\n", block);
        if (!block)
            continue;
        fill(block, 50, (unsigned char)i);
        result = IMalloc_Realloc(imalloc, block, sizes[i]);
        ok(result == NULL, "Realloc(p, %#llx): got %p\n", SZ(sizes[i]), result);
        size = IMalloc_GetSize(imalloc, block);
        ok(size == 50, "after failed Realloc: GetSize %llu\n", SZ(size));
        size = check_fill(block, 50, (unsigned char)i);
        ok(size == 50, "after failed Realloc: byte %llu changed\n", SZ(size));
        ok(IMalloc_DidAlloc(imalloc, block) == 1, "after failed Realloc: block %p not ours\n", block);
        result = CoTaskMemRealloc(block, sizes[i]);
        ok(result == NULL, "CoTaskMemRealloc(p, %#llx): got %p\n", SZ(sizes[i]), result);
        size = check_fill(block, 50, (unsigned char)i);
        ok(size == 50, "after failed CoTaskMemRealloc: byte %llu changed\n", SZ(size));
        IMalloc_Free(imalloc, block);
    }
}

static void test_Realloc_contents(void)
{
    static const SIZE_T steps[] = {16, 17, 100, 4000, LARGE_SIZE, 3000, 24, 8, 1, 64};
    IMalloc *imalloc = get_malloc();
    unsigned char *block;
    SIZE_T kept = 16, size, mismatch;
    unsigned int i;

    if (!imalloc)
        return;
    block = IMalloc_Alloc(imalloc, steps[0]);
    ok(block != NULL, "Alloc: got %p\n", block);
    if (!block)
        return;
    fill(block, steps[0], 0x5a);
    for (i = 1; i < sizeof(steps) / sizeof(steps[0]); i++)
    {
        unsigned char *grown = (i & 1) ? CoTaskMemRealloc(block, steps[i]) : IMalloc_Realloc(imalloc, block, steps[i]);

        ok(grown != NULL, "Realloc to %llu: got %p\n", SZ(steps[i]), grown);
        if (!grown)
            break;
        block = grown;
        if (steps[i] < kept)
            kept = steps[i];
        mismatch = check_fill(block, kept, 0x5a);
        ok(mismatch == kept, "Realloc to %llu: byte %llu of %llu changed\n", SZ(steps[i]), SZ(mismatch), SZ(kept));
        size = IMalloc_GetSize(imalloc, block);
        ok(size == steps[i], "GetSize after Realloc to %llu: got %llu\n", SZ(steps[i]), SZ(size));
        /* Rewrite the whole block so that the next step checks every byte it keeps. */
        fill(block, steps[i], 0x5a);
        kept = steps[i];
    }
    CoTaskMemFree(block);
}

static void test_alignment(void)
{
    enum
    {
        BLOCKS = 64
    };
    IMalloc *imalloc = get_malloc();
    void *blocks[BLOCKS];
    unsigned int i;
    UINT_PTR misaligned = 0;

    if (!imalloc)
        return;
    ok(MEMORY_ALLOCATION_ALIGNMENT == 2 * sizeof(void *), "MEMORY_ALLOCATION_ALIGNMENT %u\n",
       (unsigned)MEMORY_ALLOCATION_ALIGNMENT);
    for (i = 0; i < BLOCKS; i++)
    {
        blocks[i] = (i & 1) ? CoTaskMemAlloc(i) : IMalloc_Alloc(imalloc, i * 3 + 1);
        ok(blocks[i] != NULL, "block %u: NULL\n", i);
        misaligned |= (UINT_PTR)blocks[i] & (MEMORY_ALLOCATION_ALIGNMENT - 1);
    }
    ok(!misaligned, "allocations not %u-aligned: low bits %#llx\n", (unsigned)MEMORY_ALLOCATION_ALIGNMENT,
       SZ(misaligned));
    misaligned = 0;
    for (i = 0; i < BLOCKS; i++)
    {
        void *moved = IMalloc_Realloc(imalloc, blocks[i], i * 11 + 5);

        ok(moved != NULL, "Realloc of block %u: NULL\n", i);
        if (moved)
            blocks[i] = moved;
        misaligned |= (UINT_PTR)blocks[i] & (MEMORY_ALLOCATION_ALIGNMENT - 1);
    }
    ok(!misaligned, "reallocations not %u-aligned: low bits %#llx\n", (unsigned)MEMORY_ALLOCATION_ALIGNMENT,
       SZ(misaligned));
    for (i = 0; i < BLOCKS; i++)
        CoTaskMemFree(blocks[i]);
}

/* CoTaskMem* and IMalloc are one allocator: every mix of the two works. */
static void test_api_mix(void)
{
    IMalloc *imalloc = get_malloc();
    unsigned char *block, *moved;
    SIZE_T size;

    if (!imalloc)
        return;
    block = CoTaskMemAlloc(30);
    ok(block != NULL, "CoTaskMemAlloc: NULL\n");
    if (!block)
        return;
    fill(block, 30, 1);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 30, "IMalloc_GetSize of a CoTaskMemAlloc block: got %llu\n", SZ(size));
    moved = IMalloc_Realloc(imalloc, block, 300);
    ok(moved != NULL, "IMalloc_Realloc of a CoTaskMemAlloc block: NULL\n");
    if (moved)
        block = moved;
    ok(check_fill(block, 30, 1) == 30, "contents lost\n");
    moved = CoTaskMemRealloc(block, 3000);
    ok(moved != NULL, "CoTaskMemRealloc of an IMalloc_Realloc block: NULL\n");
    if (moved)
        block = moved;
    ok(check_fill(block, 30, 1) == 30, "contents lost\n");
    IMalloc_Free(imalloc, block);

    block = IMalloc_Alloc(imalloc, 70);
    ok(block != NULL, "IMalloc_Alloc: NULL\n");
    fill(block, 70, 2);
    moved = CoTaskMemRealloc(block, 7);
    ok(moved != NULL, "CoTaskMemRealloc of an IMalloc_Alloc block: NULL\n");
    if (moved)
        block = moved;
    ok(check_fill(block, 7, 2) == 7, "contents lost\n");
    CoTaskMemFree(block);
}

static void test_HeapMinimize(void)
{
    IMalloc *imalloc = get_malloc();
    void *blocks[32], *block;
    unsigned int i;

    if (!imalloc)
        return;
    for (i = 0; i < 32; i++)
        blocks[i] = CoTaskMemAlloc(1000 * i);
    for (i = 0; i < 32; i += 2)
        CoTaskMemFree(blocks[i]);
    IMalloc_HeapMinimize(imalloc);
    for (i = 1; i < 32; i += 2)
        ok(IMalloc_GetSize(imalloc, blocks[i]) == 1000 * i, "block %u damaged by HeapMinimize\n", i);
    for (i = 1; i < 32; i += 2)
        CoTaskMemFree(blocks[i]);
    IMalloc_HeapMinimize(imalloc);
    block = CoTaskMemAlloc(5);
    ok(block != NULL, "CoTaskMemAlloc after HeapMinimize: NULL\n");
    CoTaskMemFree(block);
}

/* Blocks are process-heap blocks in both directions (docs/semantics.md rule 18: under Wine other DLLs allocate through
 * combase and programs free with us, so this is a hard requirement). */
static void test_process_heap(void)
{
    IMalloc *imalloc = get_malloc();
    HANDLE heap = GetProcessHeap();
    unsigned char *block, *moved;
    SIZE_T size;

    if (!imalloc)
        return;
    block = CoTaskMemAlloc(27);
    ok(block != NULL, "CoTaskMemAlloc: NULL\n");
    if (!block)
        return;
    size = HeapSize(heap, 0, block);
    ok(size == 27, "HeapSize: got %llu\n", SZ(size));
    ok(size == IMalloc_GetSize(imalloc, block), "HeapSize %llu, GetSize %llu\n", SZ(size),
       SZ(IMalloc_GetSize(imalloc, block)));
    ok(HeapValidate(heap, 0, block), "HeapValidate failed on %p\n", block);
    ok(HeapFree(heap, 0, block), "HeapFree of a CoTaskMemAlloc block failed: %lu\n", GetLastError());

    block = IMalloc_Alloc(imalloc, 99);
    ok(HeapSize(heap, 0, block) == 99, "HeapSize of an IMalloc block: got %llu\n", SZ(HeapSize(heap, 0, block)));
    moved = HeapReAlloc(heap, 0, block, 199);
    ok(moved != NULL, "HeapReAlloc of an IMalloc block: NULL\n");
    if (moved)
        block = moved;
    ok(IMalloc_GetSize(imalloc, block) == 199, "GetSize after HeapReAlloc: got %llu\n",
       SZ(IMalloc_GetSize(imalloc, block)));
    IMalloc_Free(imalloc, block);

    block = HeapAlloc(heap, 0, 45);
    ok(block != NULL, "HeapAlloc: NULL\n");
    if (!block)
        return;
    fill(block, 45, 3);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 45, "GetSize of a HeapAlloc block: got %llu\n", SZ(size));
    ok(IMalloc_DidAlloc(imalloc, block) == 1, "DidAlloc of a HeapAlloc block: got %d\n",
       IMalloc_DidAlloc(imalloc, block));
    moved = CoTaskMemRealloc(block, 4500);
    ok(moved != NULL, "CoTaskMemRealloc of a HeapAlloc block: NULL\n");
    if (moved)
        block = moved;
    ok(check_fill(block, 45, 3) == 45, "contents lost\n");
    ok(HeapSize(heap, 0, block) == 4500, "HeapSize: got %llu\n", SZ(HeapSize(heap, 0, block)));
    CoTaskMemFree(block);
    ok(!HeapValidate(heap, 0, block), "CoTaskMemFree left %p allocated\n", block);

    block = HeapAlloc(heap, 0, 8);
    IMalloc_Free(imalloc, block);
    ok(!HeapValidate(heap, 0, block), "IMalloc_Free left %p allocated\n", block);
}

/* Which module serves CoTaskMemAlloc: ole32mem.dll in the ole32mem build, the system's ole32/combase in the builtin
 * build (which proves that the builtin build really tests the reference). */
static void test_module(void)
{
    HMODULE ole32mem = GetModuleHandleA("ole32mem.dll"), owner = NULL;
    DWORD (WINAPI *get_version)(void);
    BOOL found;

    found = GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                               (const char *)(UINT_PTR)CoTaskMemAlloc, &owner);
    ok(found && owner != NULL, "no module owns CoTaskMemAlloc: %lu\n", GetLastError());
    if (testing_builtin)
    {
        ok(ole32mem == NULL, "ole32mem.dll is loaded in the builtin build\n");
        ok(owner == GetModuleHandleA("ole32.dll") || owner == GetModuleHandleA("combase.dll"),
           "CoTaskMemAlloc is in module %p, neither ole32 nor combase\n", owner);
        return;
    }
    ok(ole32mem != NULL, "ole32mem.dll is not loaded\n");
    if (!ole32mem)
        return;
    ok(owner == ole32mem, "CoTaskMemAlloc is in module %p, ole32mem is %p\n", owner, ole32mem);
    get_version = (DWORD(WINAPI *)(void))(void (*)(void))GetProcAddress(ole32mem, "Ole32memGetVersion");
    ok(get_version != NULL, "Ole32memGetVersion not exported\n");
    if (get_version)
        ok(get_version() == OLE32MEM_VERSION, "Ole32memGetVersion: got %#lx, expected %#x\n", get_version(),
           OLE32MEM_VERSION);
}

int main(void)
{
    test_module();
    test_CoGetMalloc_task();
    test_CoGetMalloc_other_contexts();
    test_QueryInterface();
    test_refcount();
    test_alloc_zero();
    test_GetSize();
    test_GetSize_null();
    test_DidAlloc();
    test_Free_null();
    test_Realloc_null();
    test_Realloc_zero();
    test_impossible_sizes();
    test_Realloc_contents();
    test_alignment();
    test_api_mix();
    test_HeapMinimize();
    test_process_heap();
    return test_summary("allocator");
}
