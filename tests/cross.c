/*
 * Blocks cross between ole32mem and the system's ole32 in both directions, with no spy registered: under Wine
 * other DLLs allocate through combase and programs free with us, and the other way round (docs/semantics.md rule 18).
 * The system allocator is reached with LoadLibrary/GetProcAddress, never through the import library, so that in
 * the ole32mem build the two really are different allocators. In the builtin build both are the system's and the
 * test degenerates to one allocator talking to itself; it still runs.
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

#include "test.h"

/* One allocator seen through its four entry points and its IMalloc. */
struct allocator
{
    const char *name;
    void *(WINAPI *alloc)(SIZE_T size);
    void *(WINAPI *realloc)(void *block, SIZE_T size);
    void (WINAPI *free)(void *block);
    HRESULT (WINAPI *get_malloc)(DWORD context, IMalloc **malloc);
    IMalloc *imalloc;
};

static struct allocator ours, system_ole32;

/* GetProcAddress answers FARPROC; the cast through a generic function pointer keeps -Wcast-function-type quiet. */
#define PROC(type, module, name) ((type)(void (*)(void))GetProcAddress(module, name))

static BOOL load_allocators(void)
{
    HMODULE ole32 = LoadLibraryA("ole32.dll");
    HRESULT hr;

    ok(ole32 != NULL, "LoadLibrary(ole32.dll): %lu\n", GetLastError());
    if (!ole32)
        return FALSE;
    system_ole32.name = "system ole32";
    system_ole32.alloc = PROC(void *(WINAPI *)(SIZE_T), ole32, "CoTaskMemAlloc");
    system_ole32.realloc = PROC(void *(WINAPI *)(void *, SIZE_T), ole32, "CoTaskMemRealloc");
    system_ole32.free = PROC(void(WINAPI *)(void *), ole32, "CoTaskMemFree");
    system_ole32.get_malloc = PROC(HRESULT(WINAPI *)(DWORD, IMalloc **), ole32, "CoGetMalloc");
    ok(system_ole32.alloc && system_ole32.realloc && system_ole32.free && system_ole32.get_malloc,
       "ole32.dll lacks an export: %p %p %p %p\n", system_ole32.alloc, system_ole32.realloc, system_ole32.free,
       system_ole32.get_malloc);
    if (!system_ole32.alloc || !system_ole32.realloc || !system_ole32.free || !system_ole32.get_malloc)
        return FALSE;

    ours.name = testing_builtin ? "linked ole32" : "ole32mem";
    ours.alloc = CoTaskMemAlloc;
    ours.realloc = CoTaskMemRealloc;
    ours.free = CoTaskMemFree;
    ours.get_malloc = CoGetMalloc;

    hr = system_ole32.get_malloc(MEMCTX_TASK, &system_ole32.imalloc);
    ok(hr == S_OK && system_ole32.imalloc, "system CoGetMalloc: %#lx\n", hr);
    hr = ours.get_malloc(MEMCTX_TASK, &ours.imalloc);
    ok(hr == S_OK && ours.imalloc, "CoGetMalloc: %#lx\n", hr);
    return system_ole32.imalloc && ours.imalloc;
}

/* In the ole32mem build the two are distinct allocators; in the builtin build they are one. */
static void test_distinct(void)
{
    if (testing_builtin)
    {
        ok(ours.imalloc == system_ole32.imalloc, "builtin build: two allocators %p and %p\n", ours.imalloc,
           system_ole32.imalloc);
        return;
    }
    ok(ours.imalloc != system_ole32.imalloc, "the system's IMalloc is ours: %p\n", ours.imalloc);
    ok((void *)ours.alloc != (void *)system_ole32.alloc, "the system's CoTaskMemAlloc is ours\n");
}

/* A block from `from` measured, grown, shrunk and freed by `to`, through both its function and IMalloc APIs. */
static void cross_one_way(const struct allocator *from, const struct allocator *to)
{
    unsigned char *block, *moved;
    SIZE_T size;
    int did;

    block = from->alloc(27);
    ok(block != NULL, "%s alloc: NULL\n", from->name);
    if (!block)
        return;
    fill(block, 27, 0x11);
    size = IMalloc_GetSize(to->imalloc, block);
    ok(size == 27, "%s GetSize of a %s block: got %llu\n", to->name, from->name, SZ(size));
    did = IMalloc_DidAlloc(to->imalloc, block);
    ok(did == 1, "%s DidAlloc of a %s block: got %d\n", to->name, from->name, did);

    moved = to->realloc(block, 5000);
    ok(moved != NULL, "%s realloc of a %s block: NULL\n", to->name, from->name);
    if (moved)
        block = moved;
    ok(filled(block, 27, 0x11), "%s realloc of a %s block: contents lost\n", to->name, from->name);
    size = IMalloc_GetSize(from->imalloc, block);
    ok(size == 5000, "%s GetSize after %s grew it: got %llu\n", from->name, to->name, SZ(size));
    fill(block, 5000, 0x22);

    moved = IMalloc_Realloc(to->imalloc, block, 13);
    ok(moved != NULL, "%s IMalloc_Realloc of a %s block: NULL\n", to->name, from->name);
    if (moved)
        block = moved;
    ok(filled(block, 13, 0x22), "%s IMalloc_Realloc: contents lost\n", to->name);
    size = IMalloc_GetSize(to->imalloc, block);
    ok(size == 13, "%s GetSize after shrink: got %llu\n", to->name, SZ(size));

    moved = from->realloc(block, 64);
    ok(moved != NULL, "%s realloc back: NULL\n", from->name);
    if (moved)
        block = moved;
    ok(filled(block, 13, 0x22), "%s realloc back: contents lost\n", from->name);
    to->free(block);
    ok(!HeapValidate(GetProcessHeap(), 0, block), "%s free of a %s block left it allocated\n", to->name, from->name);

    block = IMalloc_Alloc(from->imalloc, 0);
    ok(block != NULL, "%s IMalloc_Alloc(0): NULL\n", from->name);
    size = IMalloc_GetSize(to->imalloc, block);
    ok(size == 0, "%s GetSize of a %s 0-byte block: got %llu\n", to->name, from->name, SZ(size));
    IMalloc_Free(to->imalloc, block);
    ok(!HeapValidate(GetProcessHeap(), 0, block), "%s IMalloc_Free of a %s block left it allocated\n", to->name,
       from->name);

    block = from->alloc(100);
    fill(block, 100, 0x33);
    moved = to->realloc(block, 0);
    ok(moved == NULL, "%s realloc(p, 0) of a %s block: got %p\n", to->name, from->name, moved);
    ok(!HeapValidate(GetProcessHeap(), 0, block), "%s realloc(p, 0) of a %s block left it allocated\n", to->name,
       from->name);
}

static void test_system_to_ours(void)
{
    cross_one_way(&system_ole32, &ours);
}

static void test_ours_to_system(void)
{
    cross_one_way(&ours, &system_ole32);
}

/* Many blocks, allocated alternately by both and freed alternately by the other: the process heap stays sound. */
static void test_interleaved(void)
{
    enum
    {
        BLOCKS = 200
    };
    void *blocks[BLOCKS];
    unsigned int i, lost = 0;

    for (i = 0; i < BLOCKS; i++)
    {
        const struct allocator *from = (i & 1) ? &ours : &system_ole32;

        blocks[i] = from->alloc(i * 5 + 1);
        if (blocks[i])
            fill(blocks[i], i * 5 + 1, (unsigned char)i);
    }
    for (i = 0; i < BLOCKS; i++)
    {
        const struct allocator *to = (i & 1) ? &system_ole32 : &ours;
        void *moved = to->realloc(blocks[i], i * 7 + 3);

        if (!moved)
            continue;
        blocks[i] = moved;
        if (!filled(blocks[i], min(i * 5 + 1, i * 7 + 3), (unsigned char)i))
            lost++;
    }
    ok(!lost, "%u blocks lost contents\n", lost);
    for (i = 0; i < BLOCKS; i++)
    {
        ok(blocks[i] != NULL, "block %u: NULL\n", i);
        (((i / 2) & 1) ? &ours : &system_ole32)->free(blocks[i]);
    }
    ok(HeapValidate(GetProcessHeap(), 0, NULL), "the process heap is damaged\n");
}

int main(void)
{
    HRESULT hr = CoRevokeMallocSpy();

    ok(hr == CO_E_OBJNOTREG, "a spy is registered: %#lx\n", hr);
    if (!load_allocators())
        return test_summary("cross");
    test_distinct();
    test_system_to_ours();
    test_ours_to_system();
    test_interleaved();
    return test_summary("cross");
}
