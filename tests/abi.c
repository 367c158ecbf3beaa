/*
 * ABI conformance of ole32mem's generated interface header (build/include/ole32mem_objidl.h, from idl/objidl.idl)
 * against mingw-w64's <objidl.h>: every IMalloc and IMallocSpy method at the same vtable offset, the same struct
 * sizes, the same prototypes (SIZE_T where the desktop SDK has SIZE_T, stdcall on i686), and the same IIDs.
 *
 * The two headers define the same types and cannot be in one translation unit: abi_sdk.c includes only the SDK's
 * and exports a table of named numbers; this file includes ours first (so that the SDK's IMalloc and IMallocSpy
 * are skipped by the shared include guards), measures the same names and compares. A run-time check then drives an
 * allocator and a spy across the two definitions.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define CONST_VTABLE
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#ifdef __objidl_h__
#error "the SDK's objidl.h must not be included before ours"
#endif

#include "ole32mem_objidl.h"
#include <objbase.h>

#ifndef __ole32mem_objidl_h__
#error "ole32mem_objidl.h is not in force"
#endif

#include <stddef.h>

#include "test.h"

/* widl's IID definitions, under names of their own: libuuid defines IID_IMalloc and IID_IMallocSpy too. */
#define IID_IMalloc ours_IID_IMalloc
#define IID_IMallocSpy ours_IID_IMallocSpy
#include "ole32mem_objidl_i.c"
#undef IID_IMalloc
#undef IID_IMallocSpy

#include "abi_layout.h"

extern const struct abi_value abi_sdk_values[];
extern const size_t abi_sdk_count;
extern const IID *const abi_sdk_iid_imalloc;
extern const IID *const abi_sdk_iid_imallocspy;
extern struct sdk_spy_counts sdk_spy_counts;
void *sdk_spy_object(void);
SIZE_T sdk_malloc_roundtrip(void *allocator, SIZE_T size);

static const struct abi_value our_values[] = {ABI_LAYOUT_VALUES};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const struct abi_value *find_sdk_value(const char *name)
{
    size_t i;

    for (i = 0; i < abi_sdk_count; i++)
        if (!strcmp(abi_sdk_values[i].name, name))
            return &abi_sdk_values[i];
    return NULL;
}

/* Every number measured on our header equals the SDK's, and both tables measure the same things. */
static void test_tables_match(void)
{
    size_t i;

    ok(abi_sdk_count == COUNT(our_values), "SDK table has %u entries, ours %u\n", (unsigned)abi_sdk_count,
       (unsigned)COUNT(our_values));
    for (i = 0; i < COUNT(our_values); i++)
    {
        const struct abi_value *sdk = find_sdk_value(our_values[i].name);

        ok(sdk != NULL, "%s: not measured in abi_sdk.c\n", our_values[i].name);
        if (sdk)
            ok(sdk->value == our_values[i].value, "%s: ours %lu, SDK %lu\n", our_values[i].name,
               (unsigned long)our_values[i].value, (unsigned long)sdk->value);
    }
}

static size_t our_value(const char *name)
{
    size_t i;

    for (i = 0; i < COUNT(our_values); i++)
        if (!strcmp(our_values[i].name, name))
            return our_values[i].value;
    ok(0, "%s: not measured\n", name);
    return (size_t)-1;
}

/* The layout itself, independently of the SDK: methods in declaration order, one pointer apart, after IUnknown's
 * three. */
static void test_vtable_order(void)
{
    static const char *const malloc_methods[] = {
        "QueryInterface", "AddRef", "Release", "Alloc", "Realloc", "Free", "GetSize", "DidAlloc", "HeapMinimize",
    };
    static const char *const spy_methods[] = {
        "QueryInterface", "AddRef",      "Release",      "PreAlloc",        "PostAlloc",
        "PreFree",        "PostFree",    "PreRealloc",   "PostRealloc",     "PreGetSize",
        "PostGetSize",    "PreDidAlloc", "PostDidAlloc", "PreHeapMinimize", "PostHeapMinimize",
    };
    char name[64];
    size_t i, offset;

    for (i = 0; i < COUNT(malloc_methods); i++)
    {
        snprintf(name, sizeof(name), "IMallocVtbl.%s", malloc_methods[i]);
        offset = our_value(name);
        ok(offset == i * sizeof(void *), "%s at %lu, expected %lu\n", name, (unsigned long)offset,
           (unsigned long)(i * sizeof(void *)));
    }
    ok(sizeof(IMallocVtbl) == COUNT(malloc_methods) * sizeof(void *), "sizeof(IMallocVtbl) %lu\n",
       (unsigned long)sizeof(IMallocVtbl));
    for (i = 0; i < COUNT(spy_methods); i++)
    {
        snprintf(name, sizeof(name), "IMallocSpyVtbl.%s", spy_methods[i]);
        offset = our_value(name);
        ok(offset == i * sizeof(void *), "%s at %lu, expected %lu\n", name, (unsigned long)offset,
           (unsigned long)(i * sizeof(void *)));
    }
    ok(sizeof(IMallocSpyVtbl) == COUNT(spy_methods) * sizeof(void *), "sizeof(IMallocSpyVtbl) %lu\n",
       (unsigned long)sizeof(IMallocSpyVtbl));
    ok(sizeof(IMalloc) == sizeof(void *), "sizeof(IMalloc) %lu\n", (unsigned long)sizeof(IMalloc));
    ok(sizeof(IMallocSpy) == sizeof(void *), "sizeof(IMallocSpy) %lu\n", (unsigned long)sizeof(IMallocSpy));
}

/* SIZE_T (pointer-sized, unsigned) where the desktop SDK has it, not the ULONG of the Windows CE pages; and each
 * method's exact prototype, calling convention included. */
static void test_prototypes(void)
{
    static const char *const size_results[] = {
        "IMalloc.GetSize.result.size",
        "IMallocSpy.PreAlloc.result.size",
        "IMallocSpy.PreRealloc.result.size",
        "IMallocSpy.PostGetSize.result.size",
    };
    static const char *const unsigned_results[] = {
        "IMalloc.GetSize.result.unsigned",
        "IMallocSpy.PreAlloc.result.unsigned",
        "IMallocSpy.PreRealloc.result.unsigned",
        "IMallocSpy.PostGetSize.result.unsigned",
    };
    size_t i, value;

    ok(sizeof(SIZE_T) == sizeof(void *), "sizeof(SIZE_T) %lu\n", (unsigned long)sizeof(SIZE_T));
    for (i = 0; i < COUNT(size_results); i++)
    {
        value = our_value(size_results[i]);
        ok(value == sizeof(void *), "%s: %lu\n", size_results[i], (unsigned long)value);
    }
    for (i = 0; i < COUNT(unsigned_results); i++)
    {
        value = our_value(unsigned_results[i]);
        ok(value == 1, "%s: %lu\n", unsigned_results[i], (unsigned long)value);
    }
    value = our_value("IMallocSpy.PostDidAlloc.result.size");
    ok(value == sizeof(int), "PostDidAlloc result size %lu\n", (unsigned long)value);
    value = our_value("IMalloc.Alloc.result.size");
    ok(value == sizeof(void *), "Alloc result size %lu\n", (unsigned long)value);

    for (i = 0; i < COUNT(our_values); i++)
    {
        const char *name = our_values[i].name;
        size_t length = strlen(name);
        const struct abi_value *sdk;

        if (length < 5 || strcmp(name + length - 5, ".type"))
            continue;
        ok(our_values[i].value == 1, "%s: our member does not have the expected prototype\n", name);
        sdk = find_sdk_value(name);
        ok(sdk && sdk->value == 1, "%s: the SDK's member does not have the expected prototype\n", name);
    }
}

static void test_iids(void)
{
    static const IID expect_imalloc = {0x00000002, 0x0000, 0x0000, {0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};
    static const IID expect_imallocspy = {0x0000001d, 0x0000, 0x0000,
                                          {0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};

    ok(IsEqualIID(&ours_IID_IMalloc, &expect_imalloc), "our IID_IMalloc {%08lx-...}\n", ours_IID_IMalloc.Data1);
    ok(IsEqualIID(&ours_IID_IMallocSpy, &expect_imallocspy), "our IID_IMallocSpy {%08lx-...}\n",
       ours_IID_IMallocSpy.Data1);
    ok(IsEqualIID(&IID_IMalloc, &expect_imalloc), "libuuid IID_IMalloc {%08lx-...}\n", IID_IMalloc.Data1);
    ok(IsEqualIID(&IID_IMallocSpy, &expect_imallocspy), "libuuid IID_IMallocSpy {%08lx-...}\n",
       IID_IMallocSpy.Data1);
    ok(IsEqualIID(abi_sdk_iid_imalloc, &ours_IID_IMalloc), "SDK IID_IMalloc {%08lx-...}\n",
       abi_sdk_iid_imalloc->Data1);
    ok(IsEqualIID(abi_sdk_iid_imallocspy, &ours_IID_IMallocSpy), "SDK IID_IMallocSpy {%08lx-...}\n",
       abi_sdk_iid_imallocspy->Data1);
}

/* At run time: an allocator obtained through our header and called through the SDK's vtable type, and a spy
 * written against the SDK's vtable registered through our prototype. Wrong slots would show in the counts. */
static void test_runtime_crossing(void)
{
    IMalloc *imalloc = NULL;
    HRESULT hr;
    SIZE_T size;
    void *block;

    hr = CoGetMalloc(MEMCTX_TASK, &imalloc);
    ok(hr == S_OK && imalloc, "CoGetMalloc: %#lx %p\n", hr, imalloc);
    if (!imalloc)
        return;
    size = sdk_malloc_roundtrip(imalloc, 27);
    ok(size == 27, "GetSize through the SDK's vtable: %lu\n", (unsigned long)size);

    memset(&sdk_spy_counts, 0, sizeof(sdk_spy_counts));
    hr = CoRegisterMallocSpy((IMallocSpy *)sdk_spy_object());
    ok(hr == S_OK, "CoRegisterMallocSpy: %#lx\n", hr);
    if (hr != S_OK)
        return;
    ok(sdk_spy_counts.refs == 1, "refs after registration: %ld\n", sdk_spy_counts.refs);

    block = CoTaskMemAlloc(40);
    ok(block != NULL, "CoTaskMemAlloc: NULL\n");
    ok(sdk_spy_counts.pre_alloc == 1 && sdk_spy_counts.post_alloc == 1, "PreAlloc %ld, PostAlloc %ld\n",
       sdk_spy_counts.pre_alloc, sdk_spy_counts.post_alloc);
    ok(sdk_spy_counts.last_request == 40, "PreAlloc got %lu\n", (unsigned long)sdk_spy_counts.last_request);
    size = IMalloc_GetSize(imalloc, block);
    ok(size == 40, "GetSize: %lu\n", (unsigned long)size);
    ok(sdk_spy_counts.pre_get_size == 1 && sdk_spy_counts.post_get_size == 1, "PreGetSize %ld, PostGetSize %ld\n",
       sdk_spy_counts.pre_get_size, sdk_spy_counts.post_get_size);
    CoTaskMemFree(block);
    ok(sdk_spy_counts.pre_free == 1 && sdk_spy_counts.post_free == 1, "PreFree %ld, PostFree %ld\n",
       sdk_spy_counts.pre_free, sdk_spy_counts.post_free);

    hr = CoRevokeMallocSpy();
    ok(hr == S_OK, "CoRevokeMallocSpy: %#lx\n", hr);
    ok(sdk_spy_counts.refs == 0, "refs after revoke: %ld\n", sdk_spy_counts.refs);
}

int main(void)
{
    test_tables_match();
    test_vtable_order();
    test_prototypes();
    test_iids();
    test_runtime_crossing();
    return test_summary("abi");
}
