/*
 * End-to-end test of ole32mem installed in a Wine prefix (tools/wineprefix.sh): an ordinary COM program, linked
 * against the SDK's ole32 only, run by tests/prefix/run.sh in the prefix in one of three states:
 *
 *   prefix_e2e installed   the proxy is installed, combase not hooked
 *   prefix_e2e hooked      the proxy is installed with --hook-combase (or OLE32MEM_HOOK_COMBASE=1)
 *   prefix_e2e builtin     no proxy for this program (uninstalled, or installed for another program)
 *
 * What it checks in each: that the program's allocator calls reach ole32mem exactly when the proxy is there
 * (proved by the Ole32memGetVersion export only ole32mem has, not by trusting the override); that COM keeps
 * working (CoInitialize, OleInitialize, CoCreateGuid, structured storage, HGLOBAL streams, marshalling between
 * an STA and an MTA in both directions); that blocks cross between ole32mem and combase both ways; and which
 * allocations made inside ole32 and combase reach ole32mem (a spy registered through ole32 sees them only when
 * combase is hooked) — the table in docs/wineprefix.md.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define CONST_VTABLE
#include <windows.h>
#include <objbase.h>
#include <ole2.h>
#include <propidl.h>

#include "ole32mem_version.h"
#include "passthrough_spy.h"
#include "test.h"

enum state
{
    STATE_BUILTIN,
    STATE_INSTALLED,
    STATE_HOOKED,
};

/* How long any one thread or cross-apartment call may take before the test gives up on it. */
#define WAIT_MS 30000

static enum state state;
static HMODULE ole32, combase;

typedef void *(WINAPI *alloc_func)(SIZE_T);
typedef void(WINAPI *free_func)(void *);
typedef void *(WINAPI *realloc_func)(void *, SIZE_T);
typedef HRESULT(WINAPI *get_malloc_func)(DWORD, IMalloc **);
typedef DWORD(WINAPI *version_func)(void);

static alloc_func combase_alloc;
static free_func combase_free;
static realloc_func combase_realloc;
static get_malloc_func combase_get_malloc;

static HMODULE module_of(const void *address)
{
    HMODULE module = NULL;

    GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                       (const char *)address, &module);
    return module;
}

/* A pass-through spy that counts what it sees. Single-threaded use only (the checks run on the main thread). */
struct counting_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refs, allocs, frees, spied_frees, reallocs;
};

static struct counting_spy spy;

/* The object is static: its count says only who holds it, never frees anything. */
static ULONG WINAPI spy_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&CONTAINING_RECORD(iface, struct counting_spy, IMallocSpy_iface)->refs);
}

static ULONG WINAPI spy_Release(IMallocSpy *iface)
{
    return InterlockedDecrement(&CONTAINING_RECORD(iface, struct counting_spy, IMallocSpy_iface)->refs);
}

static SIZE_T WINAPI spy_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    (void)iface;
    InterlockedIncrement(&spy.allocs);
    return size;
}

static void *WINAPI spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    InterlockedIncrement(&spy.frees);
    if (spyed)
        InterlockedIncrement(&spy.spied_frees);
    return request;
}

static SIZE_T WINAPI spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    (void)iface;
    (void)spyed;
    InterlockedIncrement(&spy.reallocs);
    *new_request = request;
    return size;
}

static const IMallocSpyVtbl spy_vtbl = {
    passthrough_QueryInterface,
    spy_AddRef,
    spy_Release,
    spy_PreAlloc,
    passthrough_PostAlloc,
    spy_PreFree,
    passthrough_PostFree,
    spy_PreRealloc,
    passthrough_PostRealloc,
    passthrough_PreGetSize,
    passthrough_PostGetSize,
    passthrough_PreDidAlloc,
    passthrough_PostDidAlloc,
    passthrough_PreHeapMinimize,
    passthrough_PostHeapMinimize,
};

static void spy_register(void)
{
    HRESULT hr;

    spy.IMallocSpy_iface.lpVtbl = &spy_vtbl;
    spy.allocs = spy.frees = spy.spied_frees = spy.reallocs = 0;
    hr = CoRegisterMallocSpy(&spy.IMallocSpy_iface);
    ok(hr == S_OK, "CoRegisterMallocSpy: got %#lx\n", hr);
}

static void spy_revoke(void)
{
    HRESULT hr = CoRevokeMallocSpy();

    ok(hr == S_OK, "CoRevokeMallocSpy: got %#lx (a spied block still outstanding?)\n", hr);
}

/* (a) The program's own calls reach ole32mem, and only when the proxy is installed. */
static void test_reaches_ole32mem(void)
{
    version_func get_version = (version_func)(void *)GetProcAddress(ole32, "Ole32memGetVersion");
    char path[MAX_PATH];
    IMalloc *malloc = NULL;
    HRESULT hr;
    void *block;

    if (state == STATE_BUILTIN)
    {
        ok(!get_version, "ole32.dll exports Ole32memGetVersion, but no proxy should be in use\n");
        ok(module_of((const void *)CoTaskMemAlloc) == combase,
           "CoTaskMemAlloc resolved into %p, expected Wine's forward to combase %p\n",
           (void *)module_of((const void *)CoTaskMemAlloc), (void *)combase);
        ok(!GetModuleHandleA("ole32_orig.dll"), "ole32_orig.dll is loaded\n");
        return;
    }
    ok(get_version != NULL, "ole32.dll has no Ole32memGetVersion: the proxy is not in use\n");
    if (get_version)
        ok(get_version() == OLE32MEM_VERSION, "Ole32memGetVersion: got %#lx, expected %#x\n", get_version(),
           OLE32MEM_VERSION);
    /* The import the program was linked with (the SDK's ole32) lands in the proxy, not in combase. */
    ok(module_of((const void *)CoTaskMemAlloc) == ole32, "CoTaskMemAlloc is in %p, ole32.dll is %p\n",
       (void *)module_of((const void *)CoTaskMemAlloc), (void *)ole32);
    ok(module_of((const void *)CoRegisterMallocSpy) == ole32, "CoRegisterMallocSpy is in %p, ole32.dll is %p\n",
       (void *)module_of((const void *)CoRegisterMallocSpy), (void *)ole32);
    hr = CoGetMalloc(MEMCTX_TASK, &malloc);
    ok(hr == S_OK && malloc, "CoGetMalloc: got %#lx %p\n", hr, (void *)malloc);
    if (malloc)
        ok(module_of(malloc) == ole32, "CoGetMalloc's IMalloc lives in %p, not in ole32.dll %p\n",
           (void *)module_of(malloc), (void *)ole32);
    /* The proxy is the system32 file: in the application directory combase would load a second ole32. */
    GetModuleFileNameA(ole32, path, sizeof(path));
    CharLowerA(path);
    ok(strstr(path, "\\windows\\sys") && strstr(path, "\\ole32.dll"), "ole32.dll loaded from %s\n", path);
    ok(GetModuleHandleA("ole32_orig.dll") != NULL, "ole32_orig.dll is not loaded\n");

    spy_register();
    block = CoTaskMemAlloc(10);
    ok(block != NULL, "CoTaskMemAlloc failed\n");
    ok(spy.allocs == 1, "the spy saw %ld allocations, expected 1\n", spy.allocs);
    block = CoTaskMemRealloc(block, 100);
    ok(block != NULL && spy.reallocs == 1, "CoTaskMemRealloc: %p, the spy saw %ld\n", block, spy.reallocs);
    CoTaskMemFree(block);
    ok(spy.frees == 1 && spy.spied_frees == 1, "the spy saw %ld frees, %ld of spied blocks\n", spy.frees,
       spy.spied_frees);
    if (malloc)
    {
        block = IMalloc_Alloc(malloc, 20);
        ok(block && spy.allocs == 2, "IMalloc_Alloc: %p, the spy saw %ld\n", block, spy.allocs);
        ok(IMalloc_DidAlloc(malloc, block) == 1, "DidAlloc of our block is not 1\n");
        IMalloc_Free(malloc, block);
    }
    spy_revoke();
}

/* (c) Blocks cross between ole32mem and combase in both directions (both use the process heap). */
static void test_cross_combase(void)
{
    IMalloc *malloc = NULL;
    char *block;

    if (!combase_alloc || !combase_free || !combase_realloc)
    {
        skip("combase.dll's allocator is not available\n");
        return;
    }
    CoGetMalloc(MEMCTX_TASK, &malloc);

    block = combase_alloc(32);
    ok(block != NULL, "combase CoTaskMemAlloc failed\n");
    memset(block, 0xab, 32);
    if (malloc)
    {
        ok(IMalloc_GetSize(malloc, block) == 32, "GetSize of a combase block: got %llu\n",
           SZ(IMalloc_GetSize(malloc, block)));
        ok(IMalloc_DidAlloc(malloc, block) == 1, "DidAlloc of a combase block is not 1\n");
    }
    block = CoTaskMemRealloc(block, 64);
    ok(block && (unsigned char)block[31] == 0xab, "our Realloc of a combase block lost its contents\n");
    CoTaskMemFree(block);

    block = CoTaskMemAlloc(48);
    ok(block != NULL, "CoTaskMemAlloc failed\n");
    memset(block, 0xcd, 48);
    block = combase_realloc(block, 96);
    ok(block && (unsigned char)block[47] == 0xcd, "combase's Realloc of our block lost its contents\n");
    combase_free(block);
    ok(HeapValidate(GetProcessHeap(), 0, NULL), "the process heap is corrupt after crossing blocks\n");
    if (malloc)
        IMalloc_Release(malloc);
}

/* (e) Which allocations made by combase and inside ole32 reach ole32mem, seen by a spy registered through ole32:
 * with the proxy alone only the program's own calls; with the combase hook (and trivially with Wine's builtin,
 * where both names are combase's allocator) combase's and ole32's own too. */
static void test_internal_allocations(void)
{
    const int reaches = state != STATE_INSTALLED;
    const char *expect = reaches ? "seen" : "not seen";
    IMalloc *ours = NULL, *theirs = NULL;
    PROPVARIANT value;
    WCHAR *string = NULL;
    IStorage *storage = NULL;
    STATSTG stat;
    LONG before;
    HRESULT hr;
    void *block;

    if (combase_get_malloc)
    {
        CoGetMalloc(MEMCTX_TASK, &ours);
        combase_get_malloc(MEMCTX_TASK, &theirs);
        ok((ours == theirs) == reaches, "combase's CoGetMalloc gives %p, ole32's %p\n", (void *)theirs, (void *)ours);
    }

    spy_register();
    /* combase's exported allocator, called directly. */
    if (combase_alloc)
    {
        before = spy.allocs;
        block = combase_alloc(16);
        ok((spy.allocs > before) == reaches, "combase CoTaskMemAlloc: %s by the spy, expected %s\n",
           spy.allocs > before ? "seen" : "not seen", expect);
        before = spy.spied_frees;
        CoTaskMemFree(block);
        ok((spy.spied_frees > before) == reaches,
           "freeing combase's block through ole32: spied %ld->%ld, expected %s\n", before, spy.spied_frees, expect);
    }

    /* combase's own use: StringFromCLSID allocates the string inside combase. */
    before = spy.allocs;
    hr = StringFromCLSID(&CLSID_StdGlobalInterfaceTable, &string);
    ok(hr == S_OK && string, "StringFromCLSID: got %#lx\n", hr);
    ok((spy.allocs > before) == reaches, "StringFromCLSID's allocation: %s, expected %s\n",
       spy.allocs > before ? "seen" : "not seen", expect);
    before = spy.spied_frees;
    CoTaskMemFree(string);
    ok((spy.spied_frees > before) == reaches, "freeing StringFromCLSID's string: spied %ld->%ld, expected %s\n", before,
       spy.spied_frees, expect);

    /* ole32's own use: IStorage::Stat allocates the name in ole32 (through combase's export). */
    hr =
        StgCreateDocfile(NULL, STGM_CREATE | STGM_READWRITE | STGM_SHARE_EXCLUSIVE | STGM_DELETEONRELEASE, 0, &storage);
    ok(hr == S_OK, "StgCreateDocfile (temporary): got %#lx\n", hr);
    if (storage)
    {
        before = spy.allocs;
        hr = IStorage_Stat(storage, &stat, STATFLAG_DEFAULT);
        ok(hr == S_OK && stat.pwcsName, "IStorage_Stat: got %#lx\n", hr);
        ok((spy.allocs > before) == reaches, "IStorage_Stat's name: %s, expected %s\n",
           spy.allocs > before ? "seen" : "not seen", expect);
        CoTaskMemFree(stat.pwcsName);
        IStorage_Release(storage);
    }
    spy_revoke();

    /* A free inside combase: PropVariantClear frees the string with combase's CoTaskMemFree. The block is
     * allocated before the spy so that the unhooked case, where the spy never hears of the free, leaves no spied
     * block behind. */
    PropVariantInit(&value);
    value.vt = VT_LPWSTR;
    value.pwszVal = CoTaskMemAlloc(16);
    lstrcpyW(value.pwszVal, L"ole32mem");
    spy_register();
    before = spy.frees;
    hr = PropVariantClear(&value);
    ok(hr == S_OK, "PropVariantClear: got %#lx\n", hr);
    ok((spy.frees > before) == reaches, "PropVariantClear's free: %s, expected %s\n",
       spy.frees > before ? "seen" : "not seen", expect);
    spy_revoke();

    if (ours)
        IMalloc_Release(ours);
    if (theirs)
        IMalloc_Release(theirs);
}

/* (b) Structured storage on a real file: write, close, reopen, read. */
static void test_storage(void)
{
    static const char data[] = "ole32mem structured storage";
    WCHAR dir[MAX_PATH], path[MAX_PATH];
    IStorage *storage = NULL;
    IStream *stream = NULL;
    char buffer[64];
    ULONG count = 0;
    STATSTG stat;
    HRESULT hr;

    GetTempPathW(MAX_PATH, dir);
    GetTempFileNameW(dir, L"o32", 0, path);
    hr = StgCreateDocfile(path, STGM_CREATE | STGM_READWRITE | STGM_SHARE_EXCLUSIVE, 0, &storage);
    ok(hr == S_OK, "StgCreateDocfile: got %#lx\n", hr);
    if (!storage)
        return;
    hr =
        IStorage_CreateStream(storage, L"Contents", STGM_CREATE | STGM_READWRITE | STGM_SHARE_EXCLUSIVE, 0, 0, &stream);
    ok(hr == S_OK, "IStorage_CreateStream: got %#lx\n", hr);
    if (stream)
    {
        hr = IStream_Write(stream, data, sizeof(data), &count);
        ok(hr == S_OK && count == sizeof(data), "IStream_Write: got %#lx, %lu bytes\n", hr, count);
        IStream_Release(stream);
        stream = NULL;
    }
    hr = IStorage_Commit(storage, STGC_DEFAULT);
    ok(hr == S_OK, "IStorage_Commit: got %#lx\n", hr);
    IStorage_Release(storage);
    storage = NULL;

    hr = StgOpenStorage(path, NULL, STGM_READ | STGM_SHARE_EXCLUSIVE, NULL, 0, &storage);
    ok(hr == S_OK, "StgOpenStorage: got %#lx\n", hr);
    if (storage)
    {
        hr = IStorage_OpenStream(storage, L"Contents", NULL, STGM_READ | STGM_SHARE_EXCLUSIVE, 0, &stream);
        ok(hr == S_OK, "IStorage_OpenStream: got %#lx\n", hr);
        if (stream)
        {
            memset(buffer, 0, sizeof(buffer));
            hr = IStream_Read(stream, buffer, sizeof(buffer), &count);
            ok(hr == S_OK && count == sizeof(data) && !memcmp(buffer, data, sizeof(data)),
               "IStream_Read: got %#lx, %lu bytes '%s'\n", hr, count, buffer);
            /* The name is allocated inside ole32 and freed here, through whichever allocator the program has. */
            hr = IStream_Stat(stream, &stat, STATFLAG_DEFAULT);
            ok(hr == S_OK && stat.pwcsName && !lstrcmpW(stat.pwcsName, L"Contents"), "IStream_Stat: got %#lx\n", hr);
            if (hr == S_OK)
                CoTaskMemFree(stat.pwcsName);
            IStream_Release(stream);
        }
        IStorage_Release(storage);
    }
    DeleteFileW(path);
}

static IStream *hglobal_stream_with(const char *text)
{
    IStream *stream = NULL;
    ULONG count;
    HRESULT hr = CreateStreamOnHGlobal(NULL, TRUE, &stream);

    ok(hr == S_OK && stream, "CreateStreamOnHGlobal: got %#lx\n", hr);
    if (!stream)
        return NULL;
    hr = IStream_Write(stream, text, (ULONG)strlen(text) + 1, &count);
    ok(hr == S_OK, "IStream_Write on an HGLOBAL stream: got %#lx\n", hr);
    return stream;
}

/* Reads back what hglobal_stream_with wrote, through `stream` (a proxy when called from another apartment). */
static void check_stream_text(IStream *stream, const char *text, const char *where)
{
    LARGE_INTEGER zero = {{0, 0}};
    char buffer[64] = {0};
    ULONG count = 0;
    HRESULT hr;

    hr = IStream_Seek(stream, zero, STREAM_SEEK_SET, NULL);
    ok(hr == S_OK, "%s: IStream_Seek: got %#lx\n", where, hr);
    hr = IStream_Read(stream, buffer, sizeof(buffer) - 1, &count);
    ok(hr == S_OK && !strcmp(buffer, text), "%s: IStream_Read: got %#lx '%s'\n", where, hr, buffer);
}

struct mta_thread
{
    IStream *to_mta;   /* marshalled by the STA, unmarshalled by the MTA thread */
    IStream *to_sta;   /* marshalled by the MTA thread, unmarshalled by the STA */
    HANDLE marshalled; /* set by the MTA thread when to_sta is ready */
    HANDLE done;       /* set by the STA when it no longer calls the MTA's object */
};

static DWORD WINAPI mta_thread_proc(void *arg)
{
    struct mta_thread *thread = arg;
    IStream *proxy = NULL, *own;
    HRESULT hr;

    hr = CoInitializeEx(NULL, COINIT_MULTITHREADED);
    ok(hr == S_OK, "CoInitializeEx(MTA): got %#lx\n", hr);
    hr = CoGetInterfaceAndReleaseStream(thread->to_mta, &IID_IStream, (void **)&proxy);
    ok(hr == S_OK && proxy, "CoGetInterfaceAndReleaseStream in the MTA: got %#lx\n", hr);
    if (proxy)
    {
        check_stream_text(proxy, "from the STA", "MTA calling the STA's stream");
        IStream_Release(proxy);
    }

    own = hglobal_stream_with("from the MTA");
    thread->to_sta = NULL;
    if (own)
    {
        hr = CoMarshalInterThreadInterfaceInStream(&IID_IStream, (IUnknown *)own, &thread->to_sta);
        ok(hr == S_OK, "CoMarshalInterThreadInterfaceInStream in the MTA: got %#lx\n", hr);
    }
    SetEvent(thread->marshalled);
    WaitForSingleObject(thread->done, WAIT_MS);
    if (own)
        IStream_Release(own);
    CoUninitialize();
    return 0;
}

/* Waits for `handle` while serving the STA's incoming calls. */
static BOOL sta_wait(HANDLE handle)
{
    DWORD start = GetTickCount();
    MSG msg;

    while (GetTickCount() - start < WAIT_MS)
    {
        DWORD ret = MsgWaitForMultipleObjects(1, &handle, FALSE, 1000, QS_ALLINPUT);

        if (ret == WAIT_OBJECT_0)
            return TRUE;
        while (PeekMessageA(&msg, NULL, 0, 0, PM_REMOVE))
            DispatchMessageA(&msg);
    }
    return FALSE;
}

/* (b) Marshalling an interface from the STA (this thread) to an MTA thread and from that MTA back here. */
static void test_marshalling(void)
{
    struct mta_thread thread = {0};
    IStream *stream, *proxy = NULL;
    HANDLE handle;
    HRESULT hr;

    stream = hglobal_stream_with("from the STA");
    if (!stream)
        return;
    hr = CoMarshalInterThreadInterfaceInStream(&IID_IStream, (IUnknown *)stream, &thread.to_mta);
    ok(hr == S_OK, "CoMarshalInterThreadInterfaceInStream in the STA: got %#lx\n", hr);
    if (hr != S_OK)
    {
        IStream_Release(stream);
        return;
    }
    thread.marshalled = CreateEventA(NULL, TRUE, FALSE, NULL);
    thread.done = CreateEventA(NULL, TRUE, FALSE, NULL);
    handle = CreateThread(NULL, 0, mta_thread_proc, &thread, 0, NULL);
    ok(sta_wait(thread.marshalled), "the MTA thread did not finish its calls into the STA\n");
    if (thread.to_sta)
    {
        hr = CoGetInterfaceAndReleaseStream(thread.to_sta, &IID_IStream, (void **)&proxy);
        ok(hr == S_OK && proxy, "CoGetInterfaceAndReleaseStream in the STA: got %#lx\n", hr);
        if (proxy)
        {
            check_stream_text(proxy, "from the MTA", "STA calling the MTA's stream");
            IStream_Release(proxy);
        }
    }
    SetEvent(thread.done);
    ok(sta_wait(handle), "the MTA thread did not end\n");
    CloseHandle(handle);
    CloseHandle(thread.marshalled);
    CloseHandle(thread.done);
    IStream_Release(stream);
}

static DWORD WINAPI ole_thread_proc(void *arg)
{
    HRESULT hr = OleInitialize(NULL);

    (void)arg;
    ok(hr == S_OK, "OleInitialize: got %#lx\n", hr);
    if (SUCCEEDED(hr))
        OleUninitialize();
    return 0;
}

/* (b) The rest of COM, through the forwarded exports. */
static void test_com_works(void)
{
    HANDLE thread;
    GUID guid, zero = {0};
    HRESULT hr;

    hr = CoCreateGuid(&guid);
    ok(hr == S_OK && memcmp(&guid, &zero, sizeof(guid)), "CoCreateGuid: got %#lx\n", hr);
    thread = CreateThread(NULL, 0, ole_thread_proc, NULL, 0, NULL);
    ok(WaitForSingleObject(thread, WAIT_MS) == WAIT_OBJECT_0, "OleInitialize's thread did not end\n");
    CloseHandle(thread);
    test_storage();
    test_marshalling();
}

enum
{
    LEAK_BYTES = 1234,
};

/* The leak of "prefix_e2e leak", in a function of its own so that the report's stack names it and its line. */
static __attribute__((noinline)) void *leak_through_proxy(void)
{
    void *leak;

    printf("prefix_e2e leak line: %d\n", __LINE__ + 1);
    leak = CoTaskMemAlloc(LEAK_BYTES);
    return leak;
}

int main(int argc, char **argv)
{
    HRESULT hr;

    if (argc == 2 && !strcmp(argv[1], "leak"))
    {
        /* A known leak for the diagnostics through the prefix install (run.sh sets OLE32MEM_DEBUG=leaks and
         * looks for it in the report): LEAK_BYTES from this program, never freed. */
        void *leak = leak_through_proxy();
        printf("prefix_e2e leak: %p\n", leak);
        return leak ? 0 : 1;
    }
    if (argc == 2 && !strcmp(argv[1], "builtin"))
        state = STATE_BUILTIN;
    else if (argc == 2 && !strcmp(argv[1], "installed"))
        state = STATE_INSTALLED;
    else if (argc == 2 && !strcmp(argv[1], "hooked"))
        state = STATE_HOOKED;
    else
    {
        printf("usage: %s builtin|installed|hooked|leak\n", argv[0]);
        return 2;
    }

    ole32 = GetModuleHandleA("ole32.dll");
    ok(ole32 != NULL, "ole32.dll is not loaded\n");
    combase = LoadLibraryA("combase.dll");
    ok(combase != NULL, "LoadLibrary(combase.dll) failed: %lu\n", GetLastError());
    if (combase)
    {
        combase_alloc = (alloc_func)(void *)GetProcAddress(combase, "CoTaskMemAlloc");
        combase_free = (free_func)(void *)GetProcAddress(combase, "CoTaskMemFree");
        combase_realloc = (realloc_func)(void *)GetProcAddress(combase, "CoTaskMemRealloc");
        combase_get_malloc = (get_malloc_func)(void *)GetProcAddress(combase, "CoGetMalloc");
    }

    hr = CoInitialize(NULL);
    ok(hr == S_OK, "CoInitialize: got %#lx\n", hr);
    test_reaches_ole32mem();
    test_cross_combase();
    test_internal_allocations();
    test_com_works();
    CoUninitialize();
    return test_summary(state == STATE_BUILTIN     ? "prefix_e2e builtin"
                        : state == STATE_INSTALLED ? "prefix_e2e installed"
                                                   : "prefix_e2e hooked");
}
