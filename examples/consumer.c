/*
 * examples/consumer.c: a program that uses an installed ole32mem the way any MinGW project uses a library. `make
 * check-install` builds it from a staged install three ways (plain -lole32mem, pkg-config, CMake) and runs it
 * under wine; docs/mingw.md shows the same builds by hand.
 *
 * ole32's memory functions come from ole32mem's import library (not libole32.a): the program checks that
 * ole32mem.dll serves them, that the DLL is the version its header names, allocates through CoTaskMemAlloc and
 * through the IMalloc from CoGetMalloc, and registers a tiny IMallocSpy that counts the hooks it sees. It prints
 * one line per check and exits 0 only if every check passed. When the build defines CONSUMER_PACKAGE_VERSION (the
 * version that pkg-config or CMake reported), it must be the header's version too.
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

/* A static spy that counts the hooks of Alloc and Free and changes nothing. Other hooks pass their data through. */
typedef struct
{
    IMallocSpy IMallocSpy_iface;
    LONG pre_alloc, post_alloc, pre_free, post_free;
} counting_spy;

static counting_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, counting_spy, IMallocSpy_iface);
}

static HRESULT WINAPI spy_QueryInterface(IMallocSpy *iface, REFIID riid, void **obj)
{
    if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IMallocSpy))
    {
        *obj = iface;
        IMallocSpy_AddRef(iface);
        return S_OK;
    }
    *obj = NULL;
    return E_NOINTERFACE;
}

/* The object is static: its reference count does not decide its lifetime. */
static ULONG WINAPI spy_AddRef(IMallocSpy *iface)
{
    (void)iface;
    return 2;
}

static ULONG WINAPI spy_Release(IMallocSpy *iface)
{
    (void)iface;
    return 1;
}

static SIZE_T WINAPI spy_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    InterlockedIncrement(&impl_from_IMallocSpy(iface)->pre_alloc);
    return size;
}

static void *WINAPI spy_PostAlloc(IMallocSpy *iface, void *actual)
{
    InterlockedIncrement(&impl_from_IMallocSpy(iface)->post_alloc);
    return actual;
}

static void *WINAPI spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)spyed;
    InterlockedIncrement(&impl_from_IMallocSpy(iface)->pre_free);
    return request;
}

static void WINAPI spy_PostFree(IMallocSpy *iface, BOOL spyed)
{
    (void)spyed;
    InterlockedIncrement(&impl_from_IMallocSpy(iface)->post_free);
}

static SIZE_T WINAPI spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    *new_request = request;
    return size;
}

static void *WINAPI spy_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return actual;
}

static void *WINAPI spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return request;
}

static SIZE_T WINAPI spy_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return actual;
}

static void *WINAPI spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    return request;
}

static int WINAPI spy_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    (void)iface;
    (void)request;
    (void)spyed;
    return actual;
}

static void WINAPI spy_PreHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
}

static void WINAPI spy_PostHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
}

static const IMallocSpyVtbl spy_vtbl = {
    spy_QueryInterface,
    spy_AddRef,
    spy_Release,
    spy_PreAlloc,
    spy_PostAlloc,
    spy_PreFree,
    spy_PostFree,
    spy_PreRealloc,
    spy_PostRealloc,
    spy_PreGetSize,
    spy_PostGetSize,
    spy_PreDidAlloc,
    spy_PostDidAlloc,
    spy_PreHeapMinimize,
    spy_PostHeapMinimize,
};

static counting_spy spy = {{&spy_vtbl}, 0, 0, 0, 0};

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
    check(block && spy.pre_alloc == 1 && spy.post_alloc == 1 && spy.pre_free == 1 && spy.post_free == 1,
          "the spy saw PreAlloc %ld, PostAlloc %ld, PreFree %ld, PostFree %ld (one Alloc, one Free)\n", spy.pre_alloc,
          spy.post_alloc, spy.pre_free, spy.post_free);

    block = CoTaskMemAlloc(ALLOC_SIZE);
    CoTaskMemFree(block);
    check(spy.pre_alloc == 1 && spy.pre_free == 1, "a revoked spy sees nothing (PreAlloc %ld, PreFree %ld)\n",
          spy.pre_alloc, spy.pre_free);
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
