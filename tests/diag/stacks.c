/*
 * Leak reports with call stacks (OLE32MEM_STACK_DEPTH, issue 11), suppressions, the exit code, the checkpoint
 * exports, and the loader-lock deadlock of a hook's nested call (issue 10, item 2).
 *
 * Child-process pattern (tests/diag/child.h): run without arguments, the program re-runs itself as `stacks.exe child
 * MODE` with OLE32MEM_* settings and its reports in its own OLE32MEM_LOG file, waits for it (a hang is a failure),
 * then checks the child's log and output with ok(). The children print "LINE|NAME|n" for each allocating call: n is
 * __LINE__ taken on the line of the call itself, so the expected "stacks.c:n" of a frame comes from the source,
 * never from a number written here. Built with -g (mk/diag.mk) so that dbghelp finds functions and lines.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ole32mem.h"
#include "passthrough_spy.h"
#include "test.h"
#include "child.h"

#define NOINLINE __attribute__((noinline, noclone))

enum
{
    CHILD_SECONDS = 60,
    EXIT_CODE = 23, /* OLE32MEM_LEAKS_EXITCODE */
};

static void *volatile sink[16];

/* --- the children ----------------------------------------------------------------------------------------------- */

static void say_line(const char *name, int line)
{
    printf("LINE|%s|%d\n", name, line);
}

/* Chain A: three functions, the leak at the bottom, twice (one group of two blocks). */
static NOINLINE void chain_a3(void)
{
    say_line("A", __LINE__), sink[0] = CoTaskMemAlloc(100); /* LEAK_SITE_A */
}
static NOINLINE void chain_a2(void)
{
    chain_a3();
    say_line("A2", __LINE__ - 1);
}
static NOINLINE void chain_a1(void)
{
    chain_a2();
    say_line("A1", __LINE__ - 1);
}

/* Chain B: another three, one block. */
static NOINLINE void chain_b3(void)
{
    say_line("B", __LINE__), sink[1] = CoTaskMemAlloc(50); /* LEAK_SITE_B */
}
static NOINLINE void chain_b2(void)
{
    chain_b3();
    say_line("B2", __LINE__ - 1);
}
static NOINLINE void chain_b1(void)
{
    chain_b2();
    say_line("B1", __LINE__ - 1);
}

static volatile int leak_repeats = 2; /* volatile: the loop stays a loop, one call site */

static NOINLINE void child_leaks(void)
{
    int i;

    /* One call site, twice: one stack, one group of two blocks. */
    for (i = 0; i < leak_repeats; i++)
    {
        chain_a1();
        sink[2 + i] = sink[0];
    }
    chain_b1();
}

/* Checkpoints: case 1 leaks one block, case 2 none, case 3 two. */
static NOINLINE void case_one(void)
{
    say_line("C1", __LINE__), sink[3] = CoTaskMemAlloc(31);
}
static NOINLINE void case_two(void)
{
    CoTaskMemFree(CoTaskMemAlloc(32));
}
static NOINLINE void case_three(void)
{
    say_line("C3", __LINE__), sink[4] = CoTaskMemAlloc(33);
    sink[5] = CoTaskMemAlloc(33);
}

/* A double free: the report names the second free's stack and the first free's. */
static NOINLINE void first_free(void *block)
{
    say_line("F1", __LINE__), CoTaskMemFree(block);
}
static NOINLINE void second_free(void *block)
{
    say_line("F2", __LINE__), CoTaskMemFree(block);
}
static NOINLINE void child_double_free(void)
{
    void *block = CoTaskMemAlloc(24);

    first_free(block);
    second_free(block);
}

static void child_checkpoints(void)
{
    void (*const cases[])(void) = {case_one, case_two, case_three};
    unsigned i;

    Ole32memMarkLeaksReported();
    for (i = 0; i < 3; i++)
    {
        cases[i]();
        printf("CASE|%u|%lu\n", i + 1, Ole32memReportLeaks());
        fflush(stdout);
        Ole32memMarkLeaksReported();
    }
    /* Nothing outstanding is new at exit: the exit report lists nothing (the test checks). */
}

/* A spy that logs what it sees (sizes and the order of hooks; pointers differ run to run). When armed, its PreAlloc
 * is where the loader-lock scenario happens. */
static HANDLE in_hook, dllmain_entered;
static int armed;
static void *(*helper_alloc)(SIZE_T);

static SIZE_T WINAPI spy_PreAlloc(IMallocSpy *iface, SIZE_T size)
{
    (void)iface;
    printf("SPY|PreAlloc|%lu\n", (unsigned long)size);
    if (armed)
    {
        armed = 0;
        SetEvent(in_hook);
        /* The other thread is in DllMain now (loader's lock held), about to wait for the core's lock we hold. */
        WaitForSingleObject(dllmain_entered, CHILD_SECONDS * 1000);
        Sleep(200);
        CoTaskMemFree(helper_alloc(8)); /* nested, from a module never named before */
    }
    return size;
}
static void *WINAPI spy_PostAlloc(IMallocSpy *iface, void *actual)
{
    (void)iface;
    printf("SPY|PostAlloc|%d\n", !!actual);
    return actual;
}
static void *WINAPI spy_PreFree(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    printf("SPY|PreFree|%d\n", spyed);
    return request;
}
static void WINAPI spy_PostFree(IMallocSpy *iface, BOOL spyed)
{
    (void)iface;
    printf("SPY|PostFree|%d\n", spyed);
}
static SIZE_T WINAPI spy_PreRealloc(IMallocSpy *iface, void *request, SIZE_T size, void **new_request, BOOL spyed)
{
    (void)iface;
    printf("SPY|PreRealloc|%lu|%d\n", (unsigned long)size, spyed);
    *new_request = request;
    return size;
}
static void *WINAPI spy_PostRealloc(IMallocSpy *iface, void *actual, BOOL spyed)
{
    (void)iface;
    printf("SPY|PostRealloc|%d|%d\n", !!actual, spyed);
    return actual;
}
static void *WINAPI spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    printf("SPY|PreGetSize|%d\n", spyed);
    return request;
}
static SIZE_T WINAPI spy_PostGetSize(IMallocSpy *iface, SIZE_T actual, BOOL spyed)
{
    (void)iface;
    printf("SPY|PostGetSize|%lu|%d\n", (unsigned long)actual, spyed);
    return actual;
}
static void *WINAPI spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)iface;
    printf("SPY|PreDidAlloc|%d\n", spyed);
    return request;
}
static int WINAPI spy_PostDidAlloc(IMallocSpy *iface, void *request, BOOL spyed, int actual)
{
    (void)iface;
    (void)request;
    printf("SPY|PostDidAlloc|%d|%d\n", spyed, actual);
    return actual;
}
static void WINAPI spy_PreHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
    printf("SPY|PreHeapMinimize\n");
}
static void WINAPI spy_PostHeapMinimize(IMallocSpy *iface)
{
    (void)iface;
    printf("SPY|PostHeapMinimize\n");
}

static IMallocSpyVtbl spy_vtbl = {
    passthrough_QueryInterface,
    passthrough_static_AddRef,
    passthrough_static_Release,
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
static IMallocSpy spy = {&spy_vtbl};

static void child_spy(void)
{
    IMalloc *allocator;
    void *p, *q;

    CoGetMalloc(MEMCTX_TASK, &allocator);
    if (FAILED(CoRegisterMallocSpy(&spy)))
        return;
    p = CoTaskMemAlloc(40);
    q = CoTaskMemRealloc(p, 400);
    printf("SIZE|%lu\n", (unsigned long)IMalloc_GetSize(allocator, q));
    printf("DID|%d\n", IMalloc_DidAlloc(allocator, q));
    IMalloc_HeapMinimize(allocator);
    CoTaskMemFree(q);
    CoTaskMemFree(CoTaskMemRealloc(NULL, 12));
    CoRevokeMallocSpy();
}

static DWORD WINAPI load_in_thread(void *arg)
{
    (void)arg;
    WaitForSingleObject(in_hook, CHILD_SECONDS * 1000);
    return LoadLibraryA("stackshelp2.dll") != NULL;
}

static void child_deadlock(void)
{
    HMODULE first = LoadLibraryA("stackshelp.dll");
    HANDLE thread;

    helper_alloc = first ? (void *(*)(SIZE_T))(void (*)(void))GetProcAddress(first, "stackshelp_alloc") : NULL;
    in_hook = CreateEventA(NULL, TRUE, FALSE, NULL);
    dllmain_entered = CreateEventA(NULL, TRUE, FALSE, "ole32mem_stacks_dllmain");
    if (!helper_alloc || FAILED(CoRegisterMallocSpy(&spy)))
    {
        printf("DEADLOCK|setup failed\n");
        return;
    }
    thread = CreateThread(NULL, 0, load_in_thread, NULL, 0, NULL);
    armed = 1;
    CoTaskMemFree(CoTaskMemAlloc(16));
    WaitForSingleObject(thread, INFINITE);
    CoRevokeMallocSpy();
    printf("DEADLOCK|finished\n");
}

/* The external symbolizer: tests/diag/symchain.c, built with the default -g (DWARF 5), which dbghelp cannot read.
 * The chain leaks once; a report while the program runs, then the one at exit. With `many`, the time of a first
 * report (the chain: "FIRST_US|n") and of one of 100 distinct stacks ("REPORT_US|n"). */
static void symchain_run(const char *dll, int many)
{
    HMODULE module = LoadLibraryA(dll);
    void (*chain)(SIZE_T) = module ? (void (*)(SIZE_T))(void (*)(void))GetProcAddress(module, "symchain_a") : NULL;
    void (*hundred)(void) = module ? (void (*)(void))GetProcAddress(module, "symchain_many") : NULL;
    LARGE_INTEGER frequency, start, end;

    if (!chain || !hundred)
    {
        printf("SYMCHAIN|%s not loaded\n", dll);
        return;
    }
    if (!many)
    {
        chain(40);
        Ole32memReportLeaks();
        return;
    }
    /* The first report pays for dbghelp's start (SymInitialize reads every module's symbols): timed apart. */
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&start);
    chain(40);
    Ole32memReportLeaks();
    QueryPerformanceCounter(&end);
    printf("FIRST_US|%lu\n", (unsigned long)((end.QuadPart - start.QuadPart) * 1000000 / frequency.QuadPart));
    Ole32memMarkLeaksReported();
    hundred();
    QueryPerformanceCounter(&start);
    Ole32memReportLeaks();
    QueryPerformanceCounter(&end);
    printf("REPORT_US|%lu\n", (unsigned long)((end.QuadPart - start.QuadPart) * 1000000 / frequency.QuadPart));
    Ole32memMarkLeaksReported();
}
static void child_symchain(void)
{
    symchain_run("symchain.dll", 0);
}
static void child_symchainfp(void)
{
    symchain_run("symchainfp.dll", 0);
}
static void child_symhundred(void)
{
    symchain_run("symchainfp.dll", 1);
}

/* --- the parent ------------------------------------------------------------------------------------------------ */

/* stacksopt.dll's chain (-O2, tests/diag/stacksopt.c) leaks 77 + seed bytes. */
static int call_opt_chain(const char *dll, int seed, HMODULE *module)
{
    int (*chain)(int);

    if (!(*module = LoadLibraryA(dll)) ||
        !(chain = (int (*)(int))(void (*)(void))GetProcAddress(*module, "stacksopt_chain")))
    {
        printf("FAILED|%s\n", dll);
        return 0;
    }
    return chain(seed);
}

static void child_opt_chain(void)
{
    HMODULE module;

    call_opt_chain("stacksopt.dll", 0, &module);
}

/* Leaks from stacksopt.dll, unloads it, leaks from stacksopt2.dll at the same base (different code there). */
static void child_unload(void)
{
    HMODULE module;

    call_opt_chain("stacksopt.dll", 0, &module);
    printf("BASE|1|%p\n", (void *)module);
    FreeLibrary(module);
    call_opt_chain("stacksopt2.dll", 10, &module);
    printf("BASE|2|%p\n", (void *)module);
}

/* A second instance of ole32mem, stacks on, loaded and unloaded; then another DLL unloaded: the loader must no longer
 * call into the unloaded instance (its notification of module unloads is withdrawn when it unloads). */
static void child_unload_self(void)
{
    HMODULE instance = LoadLibraryA("ole32mem2.dll"), other;
    void *(WINAPI *alloc)(SIZE_T);
    void(WINAPI * release)(void *);

    alloc = instance ? (void *(WINAPI *)(SIZE_T))(void (*)(void))GetProcAddress(instance, "CoTaskMemAlloc") : NULL;
    release = instance ? (void(WINAPI *)(void *))(void (*)(void))GetProcAddress(instance, "CoTaskMemFree") : NULL;
    if (!alloc || !release)
    {
        printf("FAILED|ole32mem2.dll\n");
        return;
    }
    release(alloc(40));
    FreeLibrary(instance);
    if ((other = LoadLibraryA("stacksopt.dll")))
        FreeLibrary(other);
    printf("UNLOADED|%d\n", other != NULL);
}

/* One child, its reports in its own log: `stacks.exe child MODE`. */
static struct child run_child(const char *label, const char *mode, const char *const *settings)
{
    struct child child;

    child_run(&child, label, mode, settings, CHILD_LOG, CHILD_SECONDS * 1000);
    return child;
}

/* The line number a child printed for NAME ("LINE|NAME|n"), or -1. */
static int child_line(const struct child *child, const char *name)
{
    char key[64];
    const char *found;

    snprintf(key, sizeof(key), "LINE|%s|", name);
    found = strstr(child->out, key);
    return found ? atoi(found + strlen(key)) : -1;
}

/* Frame `index` of some leak stack names function `function` in stacks.exe at stacks.c:line. */
static void check_frame(const struct child *child, const char *function, int line)
{
    char want_function[128], want_line[64], found[1024];

    snprintf(want_function, sizeof(want_function), "stacks.exe!%s+0x", function);
    snprintf(want_line, sizeof(want_line), "(stacks.c:%d)", line);
    ok(line > 0 && child_find_line(child->log, want_function, want_line, found, sizeof(found)) != NULL,
       "no frame \"%s... %s\" in the report:\n%s\n", want_function, want_line, child->log);
}

static void test_stacks(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks,stats", NULL};
    struct child child = run_child("leaks", "leaks", settings);
    char found[1024];

    ok(child.finished && child.exit_code == 0, "exit code %lu, finished %d\n", child.exit_code, child.finished);
    ok(strstr(child.log, "ole32mem: leaks: 3 blocks, 250 bytes never freed") != NULL, "report:\n%s\n", child.log);
    ok(strstr(child.log, "2 allocation stacks:") != NULL, "not grouped by stack:\n%s\n", child.log);
    /* Largest group first: chain A's two blocks (200 bytes), then chain B's. */
    ok(child_find_line(child.log, "leaks:   200 bytes in 2 blocks from stacks.exe+0x", NULL, found, sizeof(found)) &&
           strstr(child.log, "200 bytes in 2 blocks") < strstr(child.log, "50 bytes in 1 blocks"),
       "groups:\n%s\n", child.log);
    check_frame(&child, "chain_a3", child_line(&child, "A"));
    check_frame(&child, "chain_a2", child_line(&child, "A2"));
    check_frame(&child, "chain_a1", child_line(&child, "A1"));
    check_frame(&child, "chain_b3", child_line(&child, "B"));
    check_frame(&child, "chain_b2", child_line(&child, "B2"));
    check_frame(&child, "chain_b1", child_line(&child, "B1"));
    ok(child_find_line(child.log, "#0 stacks.exe!chain_a3+0x", NULL, found, sizeof(found)) != NULL,
       "frame #0 is not the allocating function (ole32mem's own frames must be skipped):\n%s\n", child.log);
    ok(!strstr(child.log, "ole32mem.dll!"), "a frame of ole32mem itself:\n%s\n", child.log);
    ok(child_find_line(child.log, "ole32mem: stats: stack depot ", " stacks, ", found, sizeof(found)) != NULL,
       "no depot line in stats:\n%s\n", child.log);
    child_free(&child);
}

static void test_depth_zero(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_STACK_DEPTH=0", NULL};
    struct child child = run_child("depth0", "leaks", settings);
    char found[1024];

    ok(child.finished && child.exit_code == 0, "exit code %lu\n", child.exit_code);
    ok(strstr(child.log, "ole32mem: leaks: 3 blocks, 250 bytes never freed") &&
           strstr(child.log, "2 allocation sites:"),
       "report:\n%s\n", child.log);
    ok(child_find_line(child.log, "leaks:   200 bytes in 2 blocks from stacks.exe+0x", ", e.g. ", found,
                       sizeof(found)) != NULL,
       "report:\n%s\n", child.log);
    ok(!strstr(child.log, "#0 ") && !strstr(child.log, "!chain_"), "frames at depth 0:\n%s\n", child.log);
    child_free(&child);
}

static void write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "wb");

    if (file)
    {
        fputs(text, file);
        fclose(file);
    }
}

static void test_suppressions(void)
{
    static const struct
    {
        const char *label, *file, *hid, *left;
        int hidden_blocks;
    } cases[] = {
        {"sup-function", "# chain B is known\nleak:chain_b2\n", "leak:chain_b2 hid 1 blocks, 50 bytes",
         "2 blocks, 200 bytes never freed (pid", 1},
        {"sup-wildcard", "leak:chain_a*\n\n", "leak:chain_a* hid 2 blocks, 200 bytes",
         "1 blocks, 50 bytes never freed (pid", 2},
        {"sup-module", "leak:STACKS.exe\n", "leak:STACKS.exe hid 3 blocks, 250 bytes",
         "0 blocks, 0 bytes never freed (pid", 3},
        {"sup-module-wildcard", "leak:*.exe\n", "leak:*.exe hid 3 blocks, 250 bytes",
         "0 blocks, 0 bytes never freed (pid", 3},
    };
    char path[CHILD_PATH_MAX], setting[CHILD_PATH_MAX + 32], text[512], found[1024];
    const char *settings[3];
    struct child child;
    unsigned i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    {
        child_path(path, sizeof(path), cases[i].label, "txt");
        snprintf(text, sizeof(text), "%s", cases[i].file);
        write_file(path, text);
        snprintf(setting, sizeof(setting), "OLE32MEM_SUPPRESS=@%s", path);
        settings[0] = "OLE32MEM_DEBUG=leaks";
        settings[1] = setting;
        settings[2] = NULL;
        child = run_child(cases[i].label, "leaks", settings);
        ok(strstr(child.log, cases[i].left) != NULL, "%s: report:\n%s\n", cases[i].label, child.log);
        ok(child_find_line(child.log, "ole32mem: suppressed: ", cases[i].hid, found, sizeof(found)) != NULL,
           "%s: no \"%s\":\n%s\n", cases[i].label, cases[i].hid, child.log);
        ok(child_find_line(child.log, "suppressed)", NULL, found, sizeof(found)) &&
               strstr(found, cases[i].hidden_blocks == 1   ? "; 1 suppressed)"
                             : cases[i].hidden_blocks == 2 ? "; 2 suppressed)"
                                                           : "; 3 suppressed)"),
           "%s: header: %s\n", cases[i].label, found);
        child_free(&child);
    }

    /* A malformed line is reported with its number and skipped; the good lines around it still work. */
    child_path(path, sizeof(path), "sup-bad", "txt");
    write_file(path, "# comment\nleak:chain_b3\nthis is not a suppression\nleak:\nleak:chain_a1\n");
    snprintf(setting, sizeof(setting), "OLE32MEM_SUPPRESS=@%s", path);
    settings[0] = "OLE32MEM_DEBUG=leaks";
    settings[1] = setting;
    settings[2] = NULL;
    child = run_child("sup-bad", "leaks", settings);
    ok(child_find_line(child.log, "sup-bad.txt:3: not a suppression", "this is not a suppression", found,
                       sizeof(found)) != NULL,
       "malformed line 3 not reported:\n%s\n", child.log);
    ok(child_find_line(child.log, "sup-bad.txt:4: not a suppression", NULL, found, sizeof(found)) != NULL,
       "malformed line 4 not reported:\n%s\n", child.log);
    ok(child_count_lines(child.log, "not a suppression (want", LINE_CONTAINS) == 2, "malformed lines:\n%s\n",
       child.log);
    ok(strstr(child.log, "0 blocks, 0 bytes never freed (pid") && strstr(child.log, "; 3 suppressed)"),
       "good lines after the bad ones:\n%s\n", child.log);
    child_free(&child);

    /* The plain module list keeps working. */
    settings[1] = "OLE32MEM_SUPPRESS=other.dll,stacks.exe";
    child = run_child("sup-plain", "leaks", settings);
    ok(strstr(child.log, "0 blocks, 0 bytes never freed (pid") &&
           strstr(child.log, "ole32mem: suppressed: stacks.exe hid 3 blocks, 250 bytes"),
       "plain list:\n%s\n", child.log);
    child_free(&child);
}

static void test_exit_code(void)
{
    static const char *const leaking[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_LEAKS_EXITCODE=23", NULL};
    static const char *const hidden[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_LEAKS_EXITCODE=23",
                                         "OLE32MEM_SUPPRESS=stacks.exe", NULL};
    struct child child = run_child("exitcode", "leaks", leaking);

    ok(child.finished && child.exit_code == EXIT_CODE, "exit code %lu, want %d\n", child.exit_code, EXIT_CODE);
    ok(strstr(child.log, "exiting with code 23 (OLE32MEM_LEAKS_EXITCODE)") != NULL, "log:\n%s\n", child.log);
    ok(strstr(child.out, "LINE|B|") != NULL, "the program's own output is lost:\n%s\n", child.out);
    child_free(&child);
    child = run_child("exitcode-suppressed", "leaks", hidden);
    ok(child.finished && child.exit_code == 0, "all leaks suppressed: exit code %lu, want 0\n", child.exit_code);
    child_free(&child);
}

static void test_checkpoints(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_LEAKS_EXITCODE=23", NULL};
    struct child child = run_child("checkpoints", "checkpoints", settings);
    const char *report1, *report2, *report3, *at_exit;
    char found[1024];

    ok(child.finished && child.exit_code == 0, "exit code %lu (no new leak at exit: 0)\n", child.exit_code);
    ok(strstr(child.out, "CASE|1|1\n") && strstr(child.out, "CASE|2|0\n") && strstr(child.out, "CASE|3|2\n"),
       "counts:\n%s\n", child.out);
    report1 = strstr(child.log, "ole32mem: leaks: 1 blocks, 31 bytes outstanding since the last checkpoint");
    report2 = report1 ? strstr(report1 + 1, "ole32mem: leaks: 0 blocks, 0 bytes outstanding since") : NULL;
    report3 = report2 ? strstr(report2 + 1, "ole32mem: leaks: 2 blocks, 66 bytes outstanding since") : NULL;
    at_exit = report3 ? strstr(report3 + 1, "ole32mem: leaks: 0 blocks, 0 bytes never freed") : NULL;
    ok(report1 && report2 && report3 && at_exit, "per-case reports:\n%s\n", child.log);
    check_frame(&child, "case_one", child_line(&child, "C1"));
    check_frame(&child, "case_three", child_line(&child, "C3"));
    ok(!child_find_line(child.log, "!case_two+0x", NULL, found, sizeof(found)), "case 2 reported:\n%s\n", child.log);
    ok(child_count_lines(child.log, "!case_one+0x", LINE_CONTAINS) == 1, "case 1's block reported again:\n%s\n",
       child.log);
    child_free(&child);
}

static void test_double_free(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=check", NULL};
    struct child child = run_child("doublefree", "doublefree", settings);
    char found[1024], first_ref[64];
    const char *at, *stack;
    unsigned long first = 0;

    ok(child.finished && child.exit_code == 0, "exit code %lu, finished %d\n", child.exit_code, child.finished);
    at = child_find_line(child.log, "double free (the block was already freed, first at stack #", NULL, found,
                         sizeof(found));
    ok(at != NULL, "no double-free line naming the first free's stack:\n%s\n", child.log);
    if (at && (at = strstr(found, "first at stack #")))
        first = strtoul(at + strlen("first at stack #"), NULL, 10);
    /* The first free's stack is printed in full at exit, and it is first_free's, not second_free's. */
    snprintf(first_ref, sizeof(first_ref), "ole32mem: stack #%lu:", first);
    stack = first ? strstr(child.log, first_ref) : NULL;
    ok(stack != NULL, "stack #%lu not printed:\n%s\n", first, child.log);
    if (stack)
    {
        char want[64];
        const char *next = strstr(stack + 1, "ole32mem: stack #");
        const char *frame = strstr(stack, "stacks.exe!first_free+0x");

        snprintf(want, sizeof(want), "(stacks.c:%d)", child_line(&child, "F1"));
        ok(frame && (!next || frame < next) && strstr(frame, want) && (!next || strstr(frame, want) < next),
           "stack #%lu is not first_free at %s:\n%s\n", first, want, child.log);
    }
    child_free(&child);
}

static void test_spy(void)
{
    static const char *const plain[] = {NULL};
    static const char *const stacks[] = {"OLE32MEM_DEBUG=leaks,check,guard,fill", "OLE32MEM_STACK_DEPTH=32", NULL};
    struct child without = run_child("spy-plain", "spy", plain), with = run_child("spy-stacks", "spy", stacks);

    ok(child_count_lines(without.out, "SPY|", LINE_STARTS) >= 14, "the spy saw %d hooks:\n%s\n",
       child_count_lines(without.out, "SPY|", LINE_STARTS), without.out);
    ok(!strcmp(without.out, with.out), "the spy saw other calls with stacks on:\n%s\n---\n%s\n", without.out, with.out);
    child_free(&without);
    child_free(&with);
}

/* The leak group of `bytes` bytes: its frames, up to the next group. */
static const char *leak_group(const char *log, const char *bytes, char *group, size_t size)
{
    const char *start = strstr(log, bytes), *end;

    if (!start)
        return NULL;
    end = strstr(start + strlen(bytes), " bytes in ");
    snprintf(group, size, "%.*s", (int)(end ? end - start : (ptrdiff_t)strlen(start)), start);
    return group;
}

/* Frames #0, #1, #2 of the group are opt_chain3, 2, 1 of stacksopt*.dll: every function of a chain built -O2 (no
 * frame pointers on i686) is a frame, in order. (The module's name is not checked: after an unload the report
 * names a module by the name it had when first seen at that base.) */
static void check_opt_chain(const struct child *child, const char *bytes)
{
    char group[4096], want[64], function[64];
    const char *at, *end;
    int i;

    if (!ok(leak_group(child->log, bytes, group, sizeof(group)) != NULL, "no group \"%s\":\n%s\n", bytes, child->log))
        return;
    for (i = 0; i < 3; i++)
    {
        snprintf(want, sizeof(want), "#%d stacksopt", i);
        snprintf(function, sizeof(function), "!opt_chain%d+0x", 3 - i);
        at = strstr(group, want);
        end = at ? strchr(at, '\n') : NULL;
        ok(at && strstr(at, function) && (!end || strstr(at, function) < end), "no frame \"%s...%s\" in:\n%s\n", want,
           function, group);
    }
}

static void test_optimized_chain(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", NULL};
    struct child child = run_child("optchain", "optchain", settings);

    ok(child.finished && child.exit_code == 0, "exit code %lu, finished %d\n", child.exit_code, child.finished);
    check_opt_chain(&child, "77 bytes in 1 blocks");
    child_free(&child);
}

/* A module unloaded between the allocation and the report, another one loaded at its base: the capture's rules
 * learnt from the first must not be used for the second (whose frames would then be lost), nor its name, and nothing
 * crashes. */
static void test_unload(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", NULL};
    struct child child = run_child("unload", "unload", settings);
    const char *first = strstr(child.out, "BASE|1|"), *second = strstr(child.out, "BASE|2|");

    ok(child.finished && child.exit_code == 0, "exit code %lu, finished %d\n", child.exit_code, child.finished);
    ok(first && second && strtoul(first + 7, NULL, 16) == strtoul(second + 7, NULL, 16),
       "the two DLLs were not loaded at one base:\n%s\n", child.out);
    ok(strstr(child.log, "ole32mem: leaks: 2 blocks, 164 bytes never freed") != NULL, "report:\n%s\n", child.log);
    /* The module cache forgets a range at its module's unload: each call site is named by the module that made it. */
    ok(strstr(child.log, "77 bytes in 1 blocks from stacksopt.dll+0x") != NULL &&
           strstr(child.log, "87 bytes in 1 blocks from stacksopt2.dll+0x") != NULL &&
           strstr(child.log, "#0 stacksopt2.dll!opt_chain3+0x") != NULL,
       "a call site named by the module unloaded from its base:\n%s\n", child.log);
    check_opt_chain(&child, "87 bytes in 1 blocks");
    child_free(&child);
}

static void test_unload_self(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", NULL};
    struct child child = run_child("unload-self", "unload-self", settings);

    ok(child.finished && child.exit_code == 0, "exit code %lu, finished %d\n", child.exit_code, child.finished);
    ok(strstr(child.out, "UNLOADED|1") != NULL, "output:\n%s\n", child.out);
    child_free(&child);
}

static void test_loader_lock(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks,check", NULL};
    struct child child = run_child("deadlock", "deadlock", settings);

    ok(child.finished, "a hook's nested call and a DllMain's call deadlocked (killed after %d s)\n", CHILD_SECONDS);
    ok(strstr(child.out, "DEADLOCK|finished") != NULL, "output:\n%s\nlog:\n%s\n", child.out, child.log);
    child_free(&child);
}

/* --- the external symbolizer ----------------------------------------------------------------------------------- */

/* OLE32MEM_SYMBOLIZER for the children when DIAG_SYMBOLIZER names one (a root without the mingw binutils at their
 * default place); NULL: the default search. */
static const char *symbolizer_setting(void)
{
    static char setting[CHILD_PATH_MAX + 32];
    char value[CHILD_PATH_MAX];
    DWORD length = GetEnvironmentVariableA("DIAG_SYMBOLIZER", value, sizeof(value));

    if (!length || length >= sizeof(value))
        return NULL;
    snprintf(setting, sizeof(setting), "OLE32MEM_SYMBOLIZER=%s", value);
    return setting;
}

/* The frame line "#N DLL!FUNCTION (symchain.c:LINE) DLL+0xOFF" of the log: its number and module offset. */
static int find_named(const struct child *child, const char *dll, const char *function, int line, unsigned *number,
                      char *offset, size_t size)
{
    char want[256], found[1024];
    const char *hash, *tail;

    snprintf(want, sizeof(want), "%s!%s (symchain.c:%d) %s+0x", dll, function, line, dll);
    if (line <= 0 || !child_find_line(child->log, want, NULL, found, sizeof(found)) || !(hash = strchr(found, '#')) ||
        !(tail = strstr(found, want)))
        return 0;
    *number = (unsigned)atoi(hash + 1);
    snprintf(offset, size, "%s", tail + strlen(want));
    return 1;
}

/* Every function of the chain named by the symbolizer, with the allocating line; the inlined function and the one
 * it was inlined into as consecutive frames at one address. `whole`: the frames above the first one too (a capture
 * that walks code without frame pointers: on i686, the DWARF unwinder). */
static void check_symchain(const struct child *child, const char *dll, int whole)
{
    static const struct
    {
        const char *function, *line;
    } chain[] = {{"symchain_inlined", "S0"}, {"symchain_c", "S1"}, {"symchain_b", "S2"}, {"symchain_a", "S3"}};
    char offsets[ARRAYSIZE(chain)][64], found[1024];
    unsigned numbers[ARRAYSIZE(chain)], i;
    int named[ARRAYSIZE(chain)];

    ok(child->finished && child->exit_code == 0, "%s: exit code %lu, finished %d\n", dll, child->exit_code,
       child->finished);
    ok(!strstr(child->out, "SYMCHAIN|"), "%s\n", child->out);
    for (i = 0; i < ARRAYSIZE(chain); i++)
    {
        named[i] = find_named(child, dll, chain[i].function, child_line(child, chain[i].line), &numbers[i], offsets[i],
                              sizeof(offsets[i]));
        if (i < 2 || whole)
            ok(named[i], "%s: no frame \"%s!%s (symchain.c:%d) %s+0x...\" in the report:\n%s\n", dll, dll,
               chain[i].function, child_line(child, chain[i].line), dll, child->log);
    }
    ok(named[0] && numbers[0] == 0, "%s: frame #0 is not the inlined allocating function:\n%s\n", dll, child->log);
    ok(named[0] && named[1] && numbers[1] == numbers[0] + 1 && !strcmp(offsets[0], offsets[1]),
       "%s: the inlined frame and its caller are not consecutive frames at one address:\n%s\n", dll, child->log);
    if (whole)
        ok(named[2] && named[3] && numbers[2] == numbers[1] + 1 && numbers[3] == numbers[2] + 1 &&
               child_find_line(child->log, "stacks.exe!symchain_run+0x", "(stacks.c:", found, sizeof(found)),
           "%s: the chain's frames are not in order, or its caller is not named by dbghelp:\n%s\n", dll, child->log);
    /* Both reports (while running and at exit) named everything: no line about unnamed modules. */
    ok(child_count_lines(child->log, "ole32mem: leaks: 1 blocks, 42 bytes", LINE_CONTAINS) == 2,
       "%s: two reports of the chain's block expected:\n%s\n", dll, child->log);
    ok(!strstr(child->log, "ole32mem: symbols:"), "%s: frames left unnamed:\n%s\n", dll, child->log);
}

static void test_symbolizer(void)
{
    const char *symbolizer = symbolizer_setting();
    const char *named[] = {"OLE32MEM_DEBUG=leaks", symbolizer, NULL};
    static const char *const off[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_SYMBOLIZER=none", NULL};
    static const char *const missing[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_SYMBOLIZER=Z:\\nonexistent\\addr2line",
                                          NULL};
    const char *suppress[] = {"OLE32MEM_DEBUG=leaks", NULL, symbolizer, NULL};
    char found[1024], path[CHILD_PATH_MAX], setting[CHILD_PATH_MAX + 32];
    struct child child;

    /* The default build (-O2 -g): on i686 no frame pointers, so the frames above the first need the DWARF unwinder. */
    child = run_child("sym-o2", "symchain", named);
    check_symchain(&child, "symchain.dll", 1);
    child_free(&child);
    child = run_child("sym-fp", "symchainfp", named);
    check_symchain(&child, "symchainfp.dll", 1);
    child_free(&child);

    /* Off: the frames stay module+0xoffset, and each report says which file the module is, for
     * tools/ole32mem-symbolize (tests/diag/run.sh filters this log and compares it with sym-fp's). */
    child = run_child("sym-none", "symchainfp", off);
    ok(!strstr(child.log, "symchainfp.dll!symchain_") &&
           child_find_line(child.log, "#0 symchainfp.dll+0x", NULL, found, sizeof(found)),
       "frames named with OLE32MEM_SYMBOLIZER=none:\n%s\n", child.log);
    ok(child_count_lines(child.log, "ole32mem: symbols: module symchainfp.dll: ", LINE_CONTAINS) == 2 &&
           child_find_line(child.log, "ole32mem: symbols: module symchainfp.dll: ",
                           sizeof(void *) == 8 ? "symchainfp.dll (x86_64, image base 0x"
                                               : "symchainfp.dll (i686, image base 0x",
                           found, sizeof(found)),
       "no line naming the module's file in each report:\n%s\n", child.log);
    ok(!strstr(child.log, "no symbolizer found"), "the hint although the symbolizer is off:\n%s\n", child.log);
    child_free(&child);

    /* Suppressions match the names the symbolizer gives, an inlined function's too. */
    child_path(path, sizeof(path), "sym-suppress", "txt");
    write_file(path, "leak:symchain_inlined\n");
    snprintf(setting, sizeof(setting), "OLE32MEM_SUPPRESS=@%s", path);
    suppress[1] = setting;
    child = run_child("sym-suppress", "symchainfp", suppress);
    ok(child_count_lines(child.log, "ole32mem: suppressed: leak:symchain_inlined hid 1 blocks, 42 bytes",
                         LINE_CONTAINS) == 2,
       "the inlined function's name does not suppress the leak in both reports:\n%s\n", child.log);
    child_free(&child);

    /* Missing: the same, and how to get names, once for the two reports. */
    child = run_child("sym-missing", "symchainfp", missing);
    ok(child.finished && child.exit_code == 0, "exit code %lu\n", child.exit_code);
    ok(child_count_lines(child.log, "no symbolizer found (Z:\\nonexistent\\addr2line)", LINE_CONTAINS) == 1,
       "the hint is not given exactly once:\n%s\n", child.log);
    ok(child_find_line(child.log, "#0 symchainfp.dll+0x", NULL, found, sizeof(found)) != NULL, "frames:\n%s\n",
       child.log);
    child_free(&child);
}

/* The report's time for 100 distinct stacks of default-g code, with the symbolizer and without it. */
static void test_symbolizer_time(void)
{
    const char *symbolizer = symbolizer_setting();
    const char *named[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_LEAKS_MAX=100", symbolizer, NULL};
    static const char *const off[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_LEAKS_MAX=100", "OLE32MEM_SYMBOLIZER=none",
                                      NULL};
    const char *const *settings[] = {named, off};
    const char *labels[] = {"sym-time", "sym-time-off"};
    const char *time, *first;
    struct child child;
    unsigned i;

    for (i = 0; i < ARRAYSIZE(settings); i++)
    {
        child = run_child(labels[i], "symhundred", settings[i]);
        time = strstr(child.out, "REPORT_US|");
        ok(time && strstr(child.log, "ole32mem: leaks: 100 blocks, 1450 bytes outstanding") &&
               strstr(child.log, "100 allocation stacks:"),
           "%s: no report of 100 stacks:\n%s\n%s\n", labels[i], child.out, child.log);
        ok(i || strstr(child.log, "symchainfp.dll!many_leaf (symchain.c:"), "%s: not named:\n%s\n", labels[i],
           child.log);
        if (time && (first = strstr(child.out, "FIRST_US|")))
            printf("stacks: a report of 100 stacks took %lu us, the first report %lu us (%s)\n",
                   strtoul(time + strlen("REPORT_US|"), NULL, 10), strtoul(first + strlen("FIRST_US|"), NULL, 10),
                   i ? "OLE32MEM_SYMBOLIZER=none" : "with the symbolizer");
        child_free(&child);
    }
}

static const struct child_mode modes[] = {
    {"leaks", child_leaks},           {"checkpoints", child_checkpoints}, {"spy", child_spy},
    {"deadlock", child_deadlock},     {"doublefree", child_double_free},  {"symchain", child_symchain},
    {"symchainfp", child_symchainfp}, {"symhundred", child_symhundred},   {"optchain", child_opt_chain},
    {"unload", child_unload},         {"unload-self", child_unload_self},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    child_init("stacks", NULL);
    if (argc >= 3 && !strcmp(argv[1], "child"))
        return child_main(argv[2], argv[3], modes, ARRAYSIZE(modes));
    test_stacks();
    test_depth_zero();
    test_suppressions();
    test_exit_code();
    test_checkpoints();
    test_double_free();
    test_spy();
    test_loader_lock();
    test_symbolizer();
    test_symbolizer_time();
    test_optimized_chain();
    test_unload();
    test_unload_self();
    return test_summary("stacks");
}
