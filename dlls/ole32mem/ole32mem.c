/*
 * ole32mem.dll: the exports of ole32's task allocator and the static IMalloc object, over the core in
 * task_memory.c. This file is COM plumbing only: argument checks, the IMalloc vtable, and the adapter that lets
 * the core call an IMallocSpy, and DllMain, which configures the diagnostics from the environment and reports at
 * exit. Every method passes its return address down for the diagnostics.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#define COM_NO_WINDOWS_H
#define COBJMACROS
#define CONST_VTABLE
#define OLE32MEM_BUILDING_DLL
#include <windows.h>

#include "ole32mem_objidl.h"
/* The SDK's prototypes of the exports, without dllimport, so that the compiler checks our definitions. */
#define _OLE32_
#include <objbase.h>

#include <stddef.h>

#include "diagnostics.h"
#include "ole32mem.h"
#include "platform_report.h"
#include "platform_stacks.h"
#include "task_memory.h"

#define CALLER() __builtin_return_address(0)

static HRESULT WINAPI allocator_QueryInterface(IMalloc *iface, REFIID riid, void **obj)
{
    if (!obj)
        return E_POINTER;
    if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IMalloc))
    {
        *obj = iface;
        return S_OK;
    }
    *obj = NULL;
    return E_NOINTERFACE;
}

/* The allocator is static: references are not counted and nothing is ever destroyed. */
static ULONG WINAPI allocator_AddRef(IMalloc *iface)
{
    (void)iface;
    return 2;
}

static ULONG WINAPI allocator_Release(IMalloc *iface)
{
    (void)iface;
    return 1;
}

static void *WINAPI allocator_Alloc(IMalloc *iface, SIZE_T size)
{
    (void)iface;
    return task_alloc(size, CALLER());
}

static void *WINAPI allocator_Realloc(IMalloc *iface, void *block, SIZE_T size)
{
    (void)iface;
    return task_realloc(block, size, CALLER());
}

static void WINAPI allocator_Free(IMalloc *iface, void *block)
{
    (void)iface;
    task_free(block, CALLER());
}

static SIZE_T WINAPI allocator_GetSize(IMalloc *iface, void *block)
{
    (void)iface;
    return task_get_size(block, CALLER());
}

static int WINAPI allocator_DidAlloc(IMalloc *iface, void *block)
{
    (void)iface;
    return task_did_alloc(block, CALLER());
}

static void WINAPI allocator_HeapMinimize(IMalloc *iface)
{
    (void)iface;
    task_heap_minimize(CALLER());
}

static const IMallocVtbl allocator_vtbl = {
    allocator_QueryInterface, allocator_AddRef,  allocator_Release,  allocator_Alloc,        allocator_Realloc,
    allocator_Free,           allocator_GetSize, allocator_DidAlloc, allocator_HeapMinimize,
};

static IMalloc task_allocator = {&allocator_vtbl};

/* The core's view of an IMallocSpy: registration and release here; the hooks the core calls straight through the
 * spy's own vtable (struct spy_hooks mirrors IMallocSpyVtbl from PreAlloc on: checked below), one indirect call
 * each, as Windows and Wine make them. */
static void *spy_acquire(void *object)
{
    IUnknown *unknown = object;
    void *spy = NULL;

    /* Registration keeps the reference this QueryInterface returns (it is the AddRef) and releases it on revoke. */
    if (FAILED(unknown->lpVtbl->QueryInterface(unknown, &IID_IMallocSpy, &spy)))
        return NULL;
    return spy;
}

static void spy_release(void *spy)
{
    IMallocSpy_Release((IMallocSpy *)spy);
}

/* The layout struct spy_hooks must share with IMallocSpyVtbl: same order, same slots (the signatures are the methods',
 * with the object as void *, and SPY_CALL is the methods' calling convention). */
#define HOOK_AT(member, method)                                                                                        \
    _Static_assert(offsetof(IMallocSpyVtbl, method) - offsetof(IMallocSpyVtbl, PreAlloc) ==                            \
                       offsetof(struct spy_hooks, member),                                                             \
                   "struct spy_hooks." #member " is IMallocSpy's " #method)
HOOK_AT(pre_alloc, PreAlloc);
HOOK_AT(post_alloc, PostAlloc);
HOOK_AT(pre_free, PreFree);
HOOK_AT(post_free, PostFree);
HOOK_AT(pre_realloc, PreRealloc);
HOOK_AT(post_realloc, PostRealloc);
HOOK_AT(pre_get_size, PreGetSize);
HOOK_AT(post_get_size, PostGetSize);
HOOK_AT(pre_did_alloc, PreDidAlloc);
HOOK_AT(post_did_alloc, PostDidAlloc);
HOOK_AT(pre_heap_minimize, PreHeapMinimize);
HOOK_AT(post_heap_minimize, PostHeapMinimize);
_Static_assert(sizeof(IMallocSpyVtbl) - offsetof(IMallocSpyVtbl, PreAlloc) == sizeof(struct spy_hooks),
               "struct spy_hooks ends where IMallocSpyVtbl does");
_Static_assert(offsetof(IMallocSpy, lpVtbl) == 0, "an IMallocSpy begins with its vtable pointer");

static const struct spy_ops imallocspy_ops = {
    .acquire = spy_acquire,
    .release = spy_release,
};

HRESULT WINAPI CoGetMalloc(DWORD context, IMalloc **allocator)
{
    if (!allocator)
        return E_INVALIDARG;
    if (context != MEMCTX_TASK)
    {
        *allocator = NULL;
        return E_INVALIDARG;
    }
    *allocator = &task_allocator;
    return S_OK;
}

void *WINAPI CoTaskMemAlloc(SIZE_T size)
{
    return task_alloc(size, CALLER());
}

void *WINAPI CoTaskMemRealloc(void *block, SIZE_T size)
{
    return task_realloc(block, size, CALLER());
}

void WINAPI CoTaskMemFree(void *block)
{
    task_free(block, CALLER());
}

HRESULT WINAPI CoRegisterMallocSpy(IMallocSpy *spy)
{
    return task_register_vtable_spy(spy, &imallocspy_ops, offsetof(IMallocSpyVtbl, PreAlloc));
}

HRESULT WINAPI CoRevokeMallocSpy(void)
{
    return task_revoke_spy();
}

DWORD WINAPI Ole32memGetVersion(void)
{
    return OLE32MEM_VERSION;
}

enum
{
    SETTING_CHARS = 1024,
};

/* An environment variable's value, or NULL when unset or too long (the settings are short lists). */
static const char *setting(const char *name, char *buffer)
{
    DWORD length = GetEnvironmentVariableA(name, buffer, SETTING_CHARS);

    return length && length < SETTING_CHARS ? buffer : NULL;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void *reserved)
{
    static char options[SETTING_CHARS], log_path[SETTING_CHARS], leaks_max[SETTING_CHARS], suppress[SETTING_CHARS];

    switch (reason)
    {
    case DLL_PROCESS_ATTACH:
        DisableThreadLibraryCalls(instance);
        /* Before any allocation: the diagnostics must see every block from the start. */
        diag_configure(setting("OLE32MEM_DEBUG", options), setting("OLE32MEM_LOG", log_path),
                       setting("OLE32MEM_LEAKS_MAX", leaks_max), setting("OLE32MEM_SUPPRESS", suppress));
        break;
    case DLL_PROCESS_DETACH:
        /* reserved != NULL: the process is exiting (other threads are already gone); NULL: FreeLibrary. */
        task_report_at_exit(reserved != NULL);
        if (!reserved)
        {
            /* Unloaded while the process goes on: give back what a load took, or a program that loads and unloads
             * us in a loop would collect one heap and one file handle per load. */
            plat_meta_heap_destroy();
            plat_log_close();
            plat_capture_release();
            plat_heap_probe_release();
        }
        break;
    }
    return TRUE;
}
