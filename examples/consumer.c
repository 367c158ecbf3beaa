/*
 * examples/consumer.c: a program that uses an installed ole32mem the way any MinGW project uses a library. `make
 * check-install` builds it from a staged install three ways (plain -lole32mem, pkg-config, CMake) and runs it
 * under wine; docs/mingw.md shows the same builds by hand.
 *
 * ole32's memory functions come from ole32mem's import library (not libole32.a): the program checks that
 * ole32mem.dll serves them, that the DLL is the version its header names, allocates through CoTaskMemAlloc and
 * through the IMalloc from CoGetMalloc, and registers the IMallocSpy of example_spy.h, which counts the hooks it
 * sees. It prints one line per check and exits 0 only if every check passed. When the build defines
 * CONSUMER_PACKAGE_VERSION (the version that pkg-config or CMake reported), it must be the header's version too.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#define COM_NO_WINDOWS_H
#define COBJMACROS
#define CONST_VTABLE
#include <windows.h>

/* ole32mem's IMalloc and IMallocSpy first (see idl/ole32mem_markers.idl), then the SDK's COM prototypes. */
#include <ole32mem_objidl.h>

#include <objbase.h>

#include <ole32mem.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "example_spy.h"

#define ALLOC_SIZE 64
#define REALLOC_SIZE 256
#define FILL_BYTE 0x5a

static int checks_passed, checks_failed;

#define check(cond, ...) check_(__LINE__, (cond), __VA_ARGS__)

static int check_(int line, int condition, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    if (condition)
    {
        checks_passed++;
        printf("consumer: ok: ");
    }
    else
    {
        checks_failed++;
        printf("consumer.c:%d: Test failed: ", line);
    }
    vprintf(format, args);
    va_end(args);
    return condition;
}

/* The spy: it counts every hook and changes nothing (example_spy.h). */
static struct example_spy spy = {{&example_spy_vtbl}, 1, FALSE, {0}};

static void test_version(void)
{
    DWORD version = Ole32memGetVersion();

    check(version == OLE32MEM_VERSION, "Ole32memGetVersion() is %#lx, ole32mem.h says %#lx (%s)\n",
          (unsigned long)version, (unsigned long)OLE32MEM_VERSION, OLE32MEM_VERSION_STRING);
#ifdef CONSUMER_PACKAGE_VERSION
    check(!strcmp(CONSUMER_PACKAGE_VERSION, OLE32MEM_VERSION_STRING), "the package metadata says version %s\n",
          CONSUMER_PACKAGE_VERSION);
#endif
}

/* The import library must bind ole32's names to ole32mem.dll, not to the system's ole32. */
static void test_served_by_ole32mem(void)
{
    HMODULE ole32mem = GetModuleHandleA("ole32mem.dll"), server = NULL;

    GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                       (const char *)(INT_PTR)CoTaskMemAlloc, &server);
    check(ole32mem && server == ole32mem, "CoTaskMemAlloc is served by ole32mem.dll (module %p, ole32mem.dll %p)\n",
          (void *)server, (void *)ole32mem);
}

static void test_task_memory(void)
{
    unsigned char *block = CoTaskMemAlloc(ALLOC_SIZE), *bigger;

    if (!check(block != NULL, "CoTaskMemAlloc(%u) returned %p\n", ALLOC_SIZE, (void *)block))
        return;
    memset(block, FILL_BYTE, ALLOC_SIZE);
    bigger = CoTaskMemRealloc(block, REALLOC_SIZE);
    if (!check(bigger != NULL, "CoTaskMemRealloc(%u) returned %p\n", REALLOC_SIZE, (void *)bigger))
    {
        CoTaskMemFree(block);
        return;
    }
    check(bigger[0] == FILL_BYTE && bigger[ALLOC_SIZE - 1] == FILL_BYTE, "CoTaskMemRealloc kept the contents\n");
    CoTaskMemFree(bigger);
}

static void test_imalloc(void)
{
    IMalloc *allocator = NULL;
    SIZE_T size;
    void *block;
    HRESULT hr;

    hr = CoGetMalloc(MEMCTX_TASK, &allocator);
    if (!check(hr == S_OK && allocator, "CoGetMalloc(MEMCTX_TASK) returned %#lx, %p\n", (unsigned long)hr,
               (void *)allocator))
        return;
    block = IMalloc_Alloc(allocator, ALLOC_SIZE);
    if (check(block != NULL, "IMalloc_Alloc(%u) returned %p\n", ALLOC_SIZE, block))
    {
        size = IMalloc_GetSize(allocator, block);
        check(size >= ALLOC_SIZE, "IMalloc_GetSize returned %lu\n", (unsigned long)size);
        /* One allocator: what IMalloc gives, CoTaskMemFree takes. */
        CoTaskMemFree(block);
    }
    IMalloc_Release(allocator);
}

static void test_spy(void)
{
    void *block;
    HRESULT hr;

    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    if (!check(hr == S_OK, "CoRegisterMallocSpy returned %#lx\n", (unsigned long)hr))
        return;
    block = CoTaskMemAlloc(ALLOC_SIZE);
    CoTaskMemFree(block);
    hr = CoRevokeMallocSpy();
    check(hr == S_OK, "CoRevokeMallocSpy returned %#lx\n", (unsigned long)hr);
    check(block && spy.calls[SPY_PRE_ALLOC] == 1 && spy.calls[SPY_POST_ALLOC] == 1 && spy.calls[SPY_PRE_FREE] == 1 &&
              spy.calls[SPY_POST_FREE] == 1,
          "the spy saw PreAlloc %ld, PostAlloc %ld, PreFree %ld, PostFree %ld (one Alloc, one Free)\n",
          spy.calls[SPY_PRE_ALLOC], spy.calls[SPY_POST_ALLOC], spy.calls[SPY_PRE_FREE], spy.calls[SPY_POST_FREE]);
    check(spy.refs == 1, "the revoked spy holds %ld references, its owner's one expected\n", spy.refs);

    block = CoTaskMemAlloc(ALLOC_SIZE);
    CoTaskMemFree(block);
    check(spy.calls[SPY_PRE_ALLOC] == 1 && spy.calls[SPY_PRE_FREE] == 1,
          "a revoked spy sees nothing (PreAlloc %ld, PreFree %ld)\n", spy.calls[SPY_PRE_ALLOC],
          spy.calls[SPY_PRE_FREE]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    test_version();
    test_served_by_ole32mem();
    test_task_memory();
    test_imalloc();
    test_spy();
    printf("consumer: %d passed, %d failed\n", checks_passed, checks_failed);
    return checks_failed ? 1 : 0;
}
