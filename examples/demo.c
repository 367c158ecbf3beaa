/*
 * ole32mem demo: the task allocator at work, then the same calls watched by an IMallocSpy that prints every hook.
 * Built against ole32mem (-lole32mem) by `make demo`, which runs it under wine on both arches.
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
#include <stdio.h>
#include <string.h>

#include "ole32mem.h"

/* The spy: it prints every hook and changes nothing. */
#include "example_spy.h"

int main(void)
{
    struct example_spy spy = {{&example_spy_vtbl}, 1, TRUE, {0}};
    IMalloc *allocator;
    HRESULT hr;
    char *before, *block;

    printf("ole32mem %lu.%lu.%lu (%s): COM task allocator demo\n", Ole32memGetVersion() >> 24,
           (Ole32memGetVersion() >> 16) & 0xff, (Ole32memGetVersion() >> 8) & 0xff,
           sizeof(void *) == 8 ? "x86_64" : "i686");

    hr = CoGetMalloc(MEMCTX_TASK, &allocator);
    printf("CoGetMalloc(MEMCTX_TASK) = %#lx, allocator %p\n", hr, (void *)allocator);
    if (FAILED(hr))
        return 1;

    before = CoTaskMemAlloc(27);
    strcpy(before, "allocated before the spy");
    printf("CoTaskMemAlloc(27) = %p, GetSize = %lu, DidAlloc = %d\n", before,
           (unsigned long)IMalloc_GetSize(allocator, before), IMalloc_DidAlloc(allocator, before));

    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    printf("\nCoRegisterMallocSpy = %#lx\n", hr);
    if (FAILED(hr))
        return 1;

    printf("CoTaskMemAlloc(16):\n");
    block = CoTaskMemAlloc(16);
    strcpy(block, "hello");
    printf("  -> %p\n", block);

    printf("CoTaskMemRealloc(%p, 4096):\n", block);
    block = CoTaskMemRealloc(block, 4096);
    printf("  -> %p, still \"%s\"\n", block, block);

    printf("IMalloc::GetSize:\n");
    printf("  -> %lu\n", (unsigned long)IMalloc_GetSize(allocator, block));

    printf("IMalloc::DidAlloc:\n");
    printf("  -> %d\n", IMalloc_DidAlloc(allocator, block));

    printf("CoRevokeMallocSpy with a spied block outstanding:\n");
    hr = CoRevokeMallocSpy();
    printf("  -> %#lx (E_ACCESSDENIED: the spy is released when its last block is freed)\n", hr);

    printf("CoTaskMemFree(block allocated before the spy):\n");
    CoTaskMemFree(before);

    printf("CoTaskMemFree(last spied block):\n");
    CoTaskMemFree(block);

    printf("CoRevokeMallocSpy again = %#lx (CO_E_OBJNOTREG: already gone)\n", CoRevokeMallocSpy());
    printf("spy reference count at exit: %ld\n", spy.refs);
    return spy.refs == 1 ? 0 : 1;
}
