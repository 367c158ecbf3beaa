/*
 * The benchmark's targets, each loaded by DLL name with LoadLibrary + GetProcAddress so that one binary times them
 * all: ole32mem.dll (found next to bench.exe), the system ole32.dll (under Wine its builtin, which forwards the
 * memory functions to combase) and the raw process heap from kernel32.dll; and ole32mem_ref.dll, a second copy of
 * ole32mem.dll (a separate instance with its own state) that serves as the N=0 reference of the spied rows. Also
 * the pass-through IMallocSpy each COM target gets: every Pre* and Post* returns its input, so the spy adds only
 * the cost of its calls.
 *
 * Must never: link against ole32 (the builtin is reached only through LoadLibrary), or give a target a spy that
 * changes sizes or pointers (Wine's builtin overruns blocks under a header-adding spy).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench.h"
#include "passthrough_spy.h"

#include <stdio.h>
#include <string.h>

struct target targets[TARGET_COUNT];

/* GetProcAddress into a typed pointer; the detour through void (*)(void) is how GCC spells "any function". */
#define GET_PROC(var, module, name) ((var) = (__typeof__(var))(void (*)(void))GetProcAddress((module), (name)))

/* Wine's builtin PE modules carry this right after the DOS header; Windows' own DLLs do not. */
static const char wine_builtin_signature[] = "Wine builtin DLL";
enum
{
    WINE_SIGNATURE_OFFSET = 0x40,
};

/* --- the raw heap target ------------------------------------------------------------------------------------- */

static HANDLE(WINAPI *pGetProcessHeap)(void);
static void *(WINAPI *pHeapAlloc)(HANDLE heap, DWORD flags, SIZE_T size);
static void *(WINAPI *pHeapReAlloc)(HANDLE heap, DWORD flags, void *block, SIZE_T size);
static BOOL(WINAPI *pHeapFree)(HANDLE heap, DWORD flags, void *block);
static SIZE_T(WINAPI *pHeapSize)(HANDLE heap, DWORD flags, const void *block);
static BOOL(WINAPI *pHeapValidate)(HANDLE heap, DWORD flags, const void *block);

/* What a program calling the heap directly writes: HeapXxx(GetProcessHeap(), 0, ...), with the task allocator's
 * NULL and zero-size conventions so that the kernels treat all targets alike. */
static void *WINAPI heap_alloc(SIZE_T size)
{
    return pHeapAlloc(pGetProcessHeap(), 0, size);
}

static void WINAPI heap_free(void *block)
{
    if (block)
        pHeapFree(pGetProcessHeap(), 0, block);
}

static void *WINAPI heap_realloc(void *block, SIZE_T size)
{
    if (!block)
        return heap_alloc(size);
    if (!size)
    {
        heap_free(block);
        return NULL;
    }
    return pHeapReAlloc(pGetProcessHeap(), 0, block, size);
}

static SIZE_T WINAPI heap_get_size(IMalloc *unused, void *block)
{
    (void)unused;
    return pHeapSize(pGetProcessHeap(), 0, block);
}

static int WINAPI heap_did_alloc(IMalloc *unused, void *block)
{
    (void)unused;
    return pHeapValidate(pGetProcessHeap(), 0, block) != 0;
}

/* --- the pass-through spy ------------------------------------------------------------------------------------- */

struct passthrough_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refcount;
};

static struct passthrough_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct passthrough_spy, IMallocSpy_iface);
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

static ULONG WINAPI spy_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&impl_from_IMallocSpy(iface)->refcount);
}

/* The objects are static: the count only shows that registration keeps and returns its reference. */
static ULONG WINAPI spy_Release(IMallocSpy *iface)
{
    return InterlockedDecrement(&impl_from_IMallocSpy(iface)->refcount);
}

/* A table in vtable order, IUnknown's three methods first: clang-format would put one a line. */
/* clang-format off */
static const IMallocSpyVtbl passthrough_spy_vtbl = {
    spy_QueryInterface, spy_AddRef, spy_Release,
    passthrough_PreAlloc, passthrough_PostAlloc, passthrough_PreFree, passthrough_PostFree,
    passthrough_PreRealloc, passthrough_PostRealloc, passthrough_PreGetSize, passthrough_PostGetSize,
    passthrough_PreDidAlloc, passthrough_PostDidAlloc, passthrough_PreHeapMinimize, passthrough_PostHeapMinimize,
};
/* clang-format on */

/* One spy per COM target, so that neither sees the other's calls. */
static struct passthrough_spy spies[TARGET_COUNT] = {
    [TARGET_OLE32MEM] = {{&passthrough_spy_vtbl}, 1},
    [TARGET_BUILTIN] = {{&passthrough_spy_vtbl}, 1},
    [TARGET_REFERENCE] = {{&passthrough_spy_vtbl}, 1},
};

/* --- loading -------------------------------------------------------------------------------------------------- */

static void print_module(const char *name, HMODULE module, const char *what)
{
    WCHAR path[MAX_PATH];
    char narrow[MAX_PATH];

    if (!GetModuleFileNameW(module, path, MAX_PATH) ||
        !WideCharToMultiByte(CP_UTF8, 0, path, -1, narrow, sizeof(narrow), NULL, NULL))
        strcpy(narrow, "?");
    printf("  %-9s %s (%s)\n", name, narrow, what);
}

static int is_wine_builtin(HMODULE module)
{
    return !memcmp((const char *)module + WINE_SIGNATURE_OFFSET, wine_builtin_signature,
                   sizeof(wine_builtin_signature) - 1);
}

static int load_com_target(struct target *target, const WCHAR *dll, int optional)
{
    HRESULT(WINAPI * get_malloc)(DWORD context, IMalloc **malloc);

    if (!(target->module = LoadLibraryW(dll)))
    {
        printf("%s: cannot load %ls: error %lu\n", optional ? "  note" : "bench", dll, GetLastError());
        return 0;
    }
    GET_PROC(target->alloc, target->module, "CoTaskMemAlloc");
    GET_PROC(target->realloc, target->module, "CoTaskMemRealloc");
    GET_PROC(target->free, target->module, "CoTaskMemFree");
    GET_PROC(target->register_spy, target->module, "CoRegisterMallocSpy");
    GET_PROC(target->revoke_spy, target->module, "CoRevokeMallocSpy");
    GET_PROC(get_malloc, target->module, "CoGetMalloc");
    if (!target->alloc || !target->realloc || !target->free || !target->register_spy || !target->revoke_spy ||
        !get_malloc || FAILED(get_malloc(MEMCTX_TASK, &target->malloc)))
    {
        printf("bench: %ls lacks the task allocator's exports\n", dll);
        return 0;
    }
    /* One indirect call per method, as IMalloc_GetSize() makes. */
    target->get_size = target->malloc->lpVtbl->GetSize;
    target->did_alloc = target->malloc->lpVtbl->DidAlloc;
    return 1;
}

int targets_load(void)
{
    struct target *mem = &targets[TARGET_OLE32MEM], *sys = &targets[TARGET_BUILTIN], *heap = &targets[TARGET_HEAP],
                  *ref = &targets[TARGET_REFERENCE];
    DWORD(WINAPI * get_version)(void);
    char what[64];

    mem->name = "ole32mem";
    sys->name = "builtin";
    heap->name = "heap";
    ref->name = "reference";
    mem->spy = &spies[TARGET_OLE32MEM].IMallocSpy_iface;
    sys->spy = &spies[TARGET_BUILTIN].IMallocSpy_iface;
    ref->spy = &spies[TARGET_REFERENCE].IMallocSpy_iface;

    if (!load_com_target(mem, L"ole32mem.dll", 0) || !load_com_target(sys, L"ole32.dll", 0))
        return 0;
    if (!GET_PROC(get_version, mem->module, "Ole32memGetVersion"))
    {
        printf("bench: the ole32mem.dll found is not ole32mem (no Ole32memGetVersion)\n");
        return 0;
    }
    snprintf(what, sizeof(what), "version %#lx", (unsigned long)get_version());
    print_module(mem->name, mem->module, what);
    /* A prefix with ole32mem's proxy installed answers ole32.dll with ole32mem: then there is no builtin to time. */
    if (GetProcAddress(sys->module, "Ole32memGetVersion"))
    {
        printf("bench: ole32.dll in this prefix is ole32mem's proxy; run with WINEDLLOVERRIDES=ole32=b\n");
        return 0;
    }
    print_module(sys->name, sys->module, is_wine_builtin(sys->module) ? "Wine builtin" : "system, not Wine builtin");

    if (!(heap->module = LoadLibraryW(L"kernel32.dll")) || !GET_PROC(pGetProcessHeap, heap->module, "GetProcessHeap") ||
        !GET_PROC(pHeapAlloc, heap->module, "HeapAlloc") || !GET_PROC(pHeapReAlloc, heap->module, "HeapReAlloc") ||
        !GET_PROC(pHeapFree, heap->module, "HeapFree") || !GET_PROC(pHeapSize, heap->module, "HeapSize") ||
        !GET_PROC(pHeapValidate, heap->module, "HeapValidate"))
    {
        printf("bench: cannot find the heap functions in kernel32.dll\n");
        return 0;
    }
    heap->alloc = heap_alloc;
    heap->realloc = heap_realloc;
    heap->free = heap_free;
    heap->get_size = heap_get_size;
    heap->did_alloc = heap_did_alloc;
    print_module(heap->name, heap->module, "HeapAlloc/HeapReAlloc/HeapFree/HeapSize/HeapValidate, process heap");

    /* The reference must be a second instance, not ole32mem.dll again. */
    if (load_com_target(ref, L"ole32mem_ref.dll", 1) && ref->module != mem->module && ref->alloc != mem->alloc)
        print_module(ref->name, ref->module, "a second copy of ole32mem.dll: the N=0 reference of the spied rows");
    else
    {
        printf("  note: no N=0 reference for the spied rows; the N=1e6 vs N=0 targets compare rows measured at "
               "different times\n");
        ref->module = NULL;
    }
    return 1;
}
