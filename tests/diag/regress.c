/*
 * diagregress.exe: regression tests of issue 10, "diagnostics that never change what a program does", in Wine's
 * child-process style (tests/diag/child.h): the parent re-runs itself as `diagregress.exe child MODE` with the
 * OLE32MEM_* environment the mode needs and the child's reports in its own log file, waits for it (a time limit is
 * a failure), reads the log and checks it with ok(). The child checks what it sees in the program with ok(): its
 * checks count as the parent's, and it exits nonzero when one failed.
 *
 * ole32mem.dll is loaded at run time (LoadLibrary, GetProcAddress), never imported, so that a child can load and
 * unload it; "combase" below is the system's combase.dll, the allocator Wine's own DLLs use, which frees and
 * allocates blocks behind ole32mem's back.
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

#include "passthrough_spy.h"
#include "test.h"
#include "child.h"

enum
{
    CHILD_TIMEOUT_MS = 60000,
    EXIT_TIMEOUT_MS = 30000,
    REUSE_ATTEMPTS = 64,
    LOAD_CYCLES = 1000,
    /* Handles Wine may open lazily during the first cycles (registry keys, the log's directory): not per cycle. */
    HANDLE_SLACK = 2,
    EXIT_RUNS = 4,
    FILL_NEW = 0xcd,
    /* Exit with a worker inside a checkpoint: runs, and the time limit of each (a hang is a failure). */
    CHECKPOINT_EXIT_RUNS = 8,
    /* A hang never ends; a loaded machine (make -j, other wine processes) has made a healthy run of this child take
     * 21 s: the limit catches the first without failing the second. */
    HANG_TIMEOUT_MS = 60000,
    /* How long the silent symbolizer (this program run as OLE32MEM_SYMBOLIZER) keeps its caller waiting, and how
     * long its caller waits for it to start. */
    SILENT_SYMBOLIZER_MS = 30000,
    SYMBOLIZER_START_MS = 30000,
    /* The suppression file's limits (dlls/ole32mem/diag/diag_suppress.c) and inputs past them. */
    SUPPRESS_LINE_MAX = 1023,
    SUPPRESS_PATTERN_MAX = 255,
    SUPPRESS_FILE_MAX_MIB = 32,
    SUPPRESS_COMPLAINTS_SHOWN = 10,
    HUGE_FILE_MIB = 1024,
    JUNK_LINES = 10000000,
    JUNK_LINES_PER_WRITE = 10000,
    /* A program's own dbghelp options: SYMOPT_NO_PROMPTS | SYMOPT_DEFERRED_LOADS. */
    PROGRAM_SYMOPTIONS = 0x80004,
};

struct allocator
{
    void *(WINAPI *alloc)(SIZE_T);
    void *(WINAPI *realloc)(void *, SIZE_T);
    void(WINAPI *free)(void *);
    HRESULT(WINAPI *get_malloc)(DWORD, IMalloc **);
    HRESULT(WINAPI *register_spy)(IMallocSpy *);
    HRESULT(WINAPI *revoke_spy)(void);
};

static struct allocator om, combase; /* ole32mem and the system's combase */
static IMalloc *om_malloc;

static int load_allocator(HMODULE module, struct allocator *a)
{
    if (!module)
        return 0;
    a->alloc = (void *)GetProcAddress(module, "CoTaskMemAlloc");
    a->realloc = (void *)GetProcAddress(module, "CoTaskMemRealloc");
    a->free = (void *)GetProcAddress(module, "CoTaskMemFree");
    a->get_malloc = (void *)GetProcAddress(module, "CoGetMalloc");
    a->register_spy = (void *)GetProcAddress(module, "CoRegisterMallocSpy");
    a->revoke_spy = (void *)GetProcAddress(module, "CoRevokeMallocSpy");
    return a->alloc && a->realloc && a->free && a->get_malloc && a->register_spy && a->revoke_spy;
}

static int load_both(void)
{
    int loaded =
        load_allocator(LoadLibraryA("ole32mem.dll"), &om) && load_allocator(LoadLibraryA("combase.dll"), &combase);

    ok(loaded, "cannot load ole32mem.dll and combase.dll (error %lu)\n", GetLastError());
    if (loaded)
        om.get_malloc(MEMCTX_TASK, &om_malloc);
    return loaded;
}

/* --- the parent's side ---------------------------------------------------------------------------------------- */

/* Every child reports with one frame (OLE32MEM_STACK_DEPTH=0): these regressions are about the blocks, not stacks. */
static const char *const child_settings[] = {"OLE32MEM_STACK_DEPTH=0", NULL};

/* Runs the child `mode` with the one setting `debug` (OLE32MEM_DEBUG=...), its log read: a child that checks what it
 * sees must end with exit code 0. */
static void run_mode(struct child *child, const char *mode, const char *debug)
{
    const char *settings[] = {debug, NULL};

    child_run(child, mode, mode, settings, CHILD_LOG, CHILD_TIMEOUT_MS);
    ok(child->exit_code == 0, "%s child (%s): exit code %#lx\n", mode, debug, (unsigned long)child->exit_code);
}

/* Runs the child `mode` once with each of the `count` settings `debug`: each run's log has the line `line` (its
 * start) exactly once. */
static void expect_line(const char *mode, const char *const *debug, unsigned count, const char *line)
{
    struct child child;
    unsigned i;

    for (i = 0; i < count; i++)
    {
        run_mode(&child, mode, debug[i]);
        ok(child_count_lines(child.log, line, LINE_STARTS) == 1, "%s (%s): not one line \"%s\":\n%.2000s", mode,
           debug[i], line, child.log);
        child_free(&child);
    }
}

/* Item 1: a block freed by combase whose address the heap hands back, with the same heap size, to combase. */
static void test_stale_record(void)
{
    static const char *const reuse[] = {"OLE32MEM_DEBUG=guard,fill,check,leaks", NULL};
    static const char *const noguard[] = {"OLE32MEM_DEBUG=leaks", NULL};
    struct child child;

    child_run(&child, "reuse", "reuse", reuse, CHILD_LOG, CHILD_TIMEOUT_MS);
    ok(child.exit_code == 0, "reuse child: exit code %ld\n", (long)child.exit_code);
    ok(child_count_lines(child.log, "ole32mem: guard:", LINE_STARTS) == 0, "a false overrun report:\n%s", child.log);
    ok(child_count_lines(child.log, "ole32mem: check:", LINE_STARTS) == 0, "a false check report:\n%s", child.log);
    ok(child_count_lines(child.log, "ole32mem: leaks: 0 blocks, 0 bytes", LINE_STARTS) == 1,
       "combase's blocks reported as leaks:\n%s", child.log);
    child_free(&child);

    child_run(&child, "reuse-noguard", "reuse-noguard", noguard, CHILD_LOG, CHILD_TIMEOUT_MS);
    ok(child.exit_code == 0, "reuse-noguard child: exit code %ld\n", (long)child.exit_code);
    /* Without the guard the reused block cannot be told from ours: reported, but flagged as unverified. */
    ok(child_count_lines(child.log, "ole32mem: leaks: 1 blocks", LINE_STARTS) == 1 &&
           strstr(child.log, "unverified") != NULL,
       "the unverifiable leak is not flagged:\n%s", child.log);
    child_free(&child);
}

/* Item 4: a worker thread busy in the process heap while the main thread exits with leaks on: the report comes
 * and the process ends within the time limit. */
static void test_exit_with_worker(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks,guard", NULL};
    struct child child;
    int run;

    for (run = 0; run < EXIT_RUNS; run++)
    {
        child_run(&child, "exit", "exit", settings, CHILD_LOG, EXIT_TIMEOUT_MS);
        ok(child.finished, "run %d: the process did not exit within %u ms\n", run, EXIT_TIMEOUT_MS);
        ok(strstr(child.log, "777 bytes in 1 blocks") != NULL, "run %d: no leak report:\n%s", run, child.log);
        child_free(&child);
    }
}

/* Item 1 at exit and at run time: ole32mem blocks freed through combase, next to each other so that the heap merges
 * them with their free neighbours (Wine then leaves a stale header, size and all, inside free memory): neither a
 * leak check nor the exit report may count them, with or without the guard, nor the exit stats as live blocks. */
static void test_freed_elsewhere(void)
{
    static const char *const debug[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_DEBUG=all", "OLE32MEM_DEBUG=stats",
                                        "OLE32MEM_DEBUG=check,stats"};
    struct child child;
    unsigned i;

    for (i = 0; i < ARRAYSIZE(debug); i++)
    {
        int leaks = !!strstr(debug[i], "leaks") || !!strstr(debug[i], "all");
        int stats = !!strstr(debug[i], "stats") || !!strstr(debug[i], "all");

        run_mode(&child, "freed-elsewhere", debug[i]);
        ok(child_count_lines(child.log, "ole32mem: leaks: 0 blocks, 0 bytes never freed", LINE_STARTS) == leaks,
           "(%s) blocks freed by combase reported at exit:\n%.2000s", debug[i], child.log);
        ok(child_count_lines(child.log, "ole32mem: guard:", LINE_STARTS) == 0, "(%s) a false overrun report:\n%.2000s",
           debug[i], child.log);
        ok(!strstr(child.log, "unverified") && !strstr(child.log, "process heap's lock"),
           "(%s) the exit report could not ask the heap:\n%.2000s", debug[i], child.log);
        /* The 64 records left behind are not live blocks, and are counted apart. */
        ok(!stats ||
               (child_count_lines(child.log, "ole32mem: stats: live now 0 blocks, 0 bytes;", LINE_STARTS) == 1 &&
                child_count_lines(child.log, "ole32mem: stats: 64 blocks, 50944 bytes freed or moved by another "
                                             "allocator", LINE_IS) == 1),
           "(%s) the stats count the blocks freed by combase as live:\n%.2000s", debug[i], child.log);
        child_free(&child);
    }
}

/* Item 4, the worst case made certain: a thread holds the process heap's lock for ever when the process exits. The
 * exit report must say so, judge the blocks without the heap (the leak is still reported, from what the records
 * hold) and name no symbol (dbghelp allocates from the heap). The same child without the holder is the control: the
 * heap can be asked, and the frames are named with their source lines (built with -gdwarf-4, mk/diag.mk). */
static void test_exit_heap_locked(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks,guard", "OLE32MEM_STACK_DEPTH=4", NULL};
    static const char held[] = "ole32mem: leaks-note: the process exit ended a thread that held the process heap's "
                               "lock: blocks are judged by their guard alone, frames are not named";
    struct child child;

    child_run(&child, "exit-heap-free", "exit-heap free", settings, CHILD_LOG, EXIT_TIMEOUT_MS);
    ok(child.finished, "control: the process did not exit within %u ms\n", EXIT_TIMEOUT_MS);
    ok(strstr(child.log, "777 bytes in 1 blocks") != NULL, "control: no leak report:\n%.2000s", child.log);
    ok(!strstr(child.log, "leaks-note"), "control: a note on the heap's lock:\n%.2000s", child.log);
    ok(strstr(child.log, "regress.c:") != NULL, "control: the frames are not named:\n%.2000s", child.log);
    child_free(&child);

    child_run(&child, "exit-heap-locked", "exit-heap locked", settings, CHILD_LOG, EXIT_TIMEOUT_MS);
    ok(child.finished, "the process did not exit within %u ms\n", EXIT_TIMEOUT_MS);
    ok(strstr(child.log, "777 bytes in 1 blocks") != NULL, "no leak report:\n%.2000s", child.log);
    ok(child_count_lines(child.log, held, LINE_STARTS) == 1, "the report does not say the heap was locked:\n%.2000s",
       child.log);
    ok(!strstr(child.log, "regress.c"),
       "symbols were looked up with the heap's lock held by an ended thread:\n%.2000s", child.log);
    child_free(&child);
}

/* --- liveness and records: what ole32mem knows of a block first, the heap second ------------------------------- */

enum
{
    EXIT_THREAD_RUNS = 30,
    EXIT_THREADS = 3,
    SHRUNK_BLOCKS = 64,
    SHRUNK_FROM = 126,
    SHRUNK_TO = 119,
};

/* What the system CoTaskMemRealloc does to a block of ours: HeapReAlloc(32 -> 48) in place, then the program writes
 * bytes 32..39. The record can no longer be proven: GetSize answers the heap, nothing reports an overrun, and the next
 * Realloc through ole32mem keeps the program's bytes (with `fill`, only what grows beyond the heap's 48 is new). */
static void test_foreign_grow(void)
{
    static const char *const debug[] = {"OLE32MEM_DEBUG=guard", "OLE32MEM_DEBUG=guard,fill"};
    struct child child;
    unsigned i;

    for (i = 0; i < ARRAYSIZE(debug); i++)
    {
        run_mode(&child, "foreign-grow", debug[i]);
        ok(child_count_lines(child.log, "ole32mem: guard:", LINE_STARTS) == 0, "(%s) a false overrun report:\n%s",
           debug[i], child.log);
        child_free(&child);
    }
}

/* Leaks of 1 MB and 16 MB (heap blocks of their own mapping; on i386 Wine's start 0x20 bytes into it): reported on
 * both arches, with and without the guard, and counted live by the stats. */
static void test_large_leaks(void)
{
    static const char *const debug[] = {"OLE32MEM_DEBUG=leaks,stats", "OLE32MEM_DEBUG=leaks,guard,stats"};
    struct child child;
    unsigned i;

    for (i = 0; i < ARRAYSIZE(debug); i++)
    {
        run_mode(&child, "large-leak", debug[i]);
        ok(child_count_lines(child.log, "ole32mem: leaks: 2 blocks, 17825792 bytes never freed", LINE_STARTS) == 1,
           "(%s) the 1 MB and 16 MB leaks are not reported:\n%.2000s", debug[i], child.log);
        ok(child_count_lines(child.log, "ole32mem: stats: live now 2 blocks, 17825792 bytes;", LINE_STARTS) == 1,
           "(%s) the stats do not count them live:\n%.2000s", debug[i], child.log);
        ok(!strstr(child.log, "freed or moved by another allocator"), "(%s) taken for freed elsewhere:\n%.2000s",
           debug[i], child.log);
        child_free(&child);
    }
}

/* Blocks shrunk by ole32mem's own Realloc (126 -> 119 bytes) and leaked, in a size class the heap serves often (Wine
 * 10's x86_64 heap shrinks them in place and then answers HeapSize with the old size; its i686 heap moves them): every
 * one is a leak. */
static void test_shrunk_leak(void)
{
    static const char *const debug[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_DEBUG=leaks,guard"};
    char header[128];

    snprintf(header, sizeof(header), "ole32mem: leaks: %u blocks, %u bytes never freed", SHRUNK_BLOCKS,
             SHRUNK_BLOCKS * SHRUNK_TO);
    expect_line("shrunk-leak", debug, ARRAYSIZE(debug), header);
}

/* Three threads allocating, reallocating and freeing through ole32mem while main returns: the process exit ends them
 * anywhere, inside ole32mem's records too, and every run still reports the leak main left. */
static void test_exit_threads(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", NULL};
    struct child child;
    unsigned run, reported = 0;

    for (run = 0; run < EXIT_THREAD_RUNS; run++)
    {
        child_run(&child, "exit-threads", "exit-threads", settings, CHILD_LOG, EXIT_TIMEOUT_MS);
        ok(child.finished, "run %u: the process did not exit within %u ms\n", run, EXIT_TIMEOUT_MS);
        if (strstr(child.log, "777 bytes in 1 blocks") && !strstr(child.log, "no report"))
            reported++;
        else
            ok(0, "run %u: no leak report:\n%.2000s", run, child.log);
        child_free(&child);
    }
    ok(reported == EXIT_THREAD_RUNS, "%u of %u runs reported\n", reported, EXIT_THREAD_RUNS);
}

/* Records of blocks that another allocator freed, whose header bytes are now the program's data inside a block of
 * its own. The child makes them headers that Wine's heap follows to an unmapped address (fake_header): the report
 * must judge the records stale, surviving the heap's faults, and report only the real leak. The i686 soak met both
 * by chance (HeapSize faulted inside a leak check; then HeapValidate did, with the heap's lock held, and the process
 * hung in its crash handler). */
static void test_reused_header(void)
{
    static const char *const debug[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_DEBUG=leaks,guard", "OLE32MEM_DEBUG=all"};

    expect_line("reused-header", debug, ARRAYSIZE(debug), "ole32mem: leaks: 1 blocks, 777 bytes never freed");
}

/* A plain `leaks` report of a plain leak carries no note: only another allocator's frees make blocks unverified. */
static void test_plain_leak_note(void)
{
    struct child child;

    run_mode(&child, "plain-leak", "OLE32MEM_DEBUG=leaks");
    ok(child_count_lines(child.log, "ole32mem: leaks: 1 blocks, 777 bytes never freed", LINE_STARTS) == 1,
       "the leak is not reported:\n%.2000s", child.log);
    ok(!strstr(child.log, "leaks-note"), "a note on a report that nothing made doubtful:\n%.2000s", child.log);
    child_free(&child);
}

/* A child that checks what it sees itself: it must end well, and ole32mem must report nothing wrong. */
static void test_child_mode(const char *label, const char *mode, const char *debug)
{
    const char *settings[] = {debug, NULL};
    struct child child;

    child_run(&child, label, mode, settings, CHILD_LOG, CHILD_TIMEOUT_MS);
    ok(child.exit_code == 0, "%s child: exit code %ld\n", label, (long)child.exit_code);
    ok(child_count_lines(child.log, "ole32mem: check:", LINE_STARTS) == 0 &&
           child_count_lines(child.log, "ole32mem: guard:", LINE_STARTS) == 0,
       "%s child: unexpected reports:\n%s", label, child.log);
    child_free(&child);
}

/* --- nothing waits at exit, exit and unload apart, settings (issue: diagnostics safe to leave on, round two) --- */

/* A worker thread reports leaks in a loop (naming frames through dbghelp) while main returns: the process exit ends
 * it wherever it is, often inside a symbol lookup, holding its lock for ever. The exit report must come, and the
 * process end, within the time limit; it says in one line when it had to go on without names. */
static void test_exit_during_checkpoint(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_STACK_DEPTH=8", NULL};
    static const char note[] = "ole32mem: leaks-note: the process exit ended a thread inside a symbol lookup";
    struct child child;
    int run, noted = 0;

    for (run = 0; run < CHECKPOINT_EXIT_RUNS; run++)
    {
        child_run(&child, "exit-checkpoint", "exit-checkpoint", settings, CHILD_LOG, HANG_TIMEOUT_MS);
        ok(child.finished, "run %d: the process did not exit within %u ms\n", run, HANG_TIMEOUT_MS);
        ok(child_count_lines(child.log, "ole32mem: leaks: 1 blocks, 777 bytes never freed", LINE_STARTS) == 1 ||
               strstr(child.log, "no report: the process exit ended") != NULL,
           "run %d: no exit report:\n%.3000s", run,
           child.log + (strlen(child.log) > 3000 ? strlen(child.log) - 3000 : 0));
        noted += child_count_lines(child.log, note, LINE_STARTS);
        child_free(&child);
    }
    trace("exit-checkpoint: %d of %d runs ended the worker inside a symbol lookup\n", noted, CHECKPOINT_EXIT_RUNS);
}

/* The process exit ends a worker while its report waits for the external symbolizer (this program, run as
 * OLE32MEM_SYMBOLIZER, silent: see main): the ended thread may have been inside the system's process creation, which
 * then blocks the next one for ever (seen under Wine, ended inside fork). The exit report must not start the
 * symbolizer again: it says so in one line, names the frames without it, and the process ends at once. */
static void test_exit_during_symbolizer(void)
{
    static const char note[] = "ole32mem: leaks-note: the process exit ended a thread inside the external symbolizer";
    char program[MAX_PATH], symbolizer[MAX_PATH + 32];
    const char *settings[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_STACK_DEPTH=8", symbolizer, NULL};
    const char *exit_report;
    struct child child;

    GetModuleFileNameA(NULL, program, sizeof(program));
    snprintf(symbolizer, sizeof(symbolizer), "OLE32MEM_SYMBOLIZER=%s", program);
    child_run(&child, "exit-symbolizer", "exit-symbolizer", settings, CHILD_LOG, HANG_TIMEOUT_MS);
    ok(child.finished, "the process did not exit within %u ms\n", HANG_TIMEOUT_MS);
    exit_report = strstr(child.log, "ole32mem: leaks: 1 blocks, 777 bytes never freed");
    ok(exit_report != NULL, "no exit report:\n%.3000s", child.log);
    ok(child_count_lines(child.log, note, LINE_STARTS) == 1,
       "the exit report does not say why it has no symbolizer:\n%.3000s", child.log);
    ok(exit_report && !strstr(exit_report, "did not answer") && strstr(exit_report, "diagregress.exe!exit_leak"),
       "the exit report started the symbolizer again, or named no frame:\n%.3000s", exit_report ? exit_report : "");
    child_free(&child);
}

/* OLE32MEM_LEAKS_EXITCODE applies at process exit, never at FreeLibrary: the program unloads ole32mem with a leak
 * outstanding, goes on, and exits with its own code. The unload's report still lists the leak. */
static void test_unload_with_exit_code(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_LEAKS_EXITCODE=3", NULL};
    struct child child;

    child_run(&child, "unload-exitcode", "unload-exitcode", settings, CHILD_LOG, CHILD_TIMEOUT_MS);
    ok(child.exit_code == 0, "the program's exit code was replaced: %ld\n", (long)child.exit_code);
    ok(child.summary, "the program did not go on after FreeLibrary:\n%s", child.out);
    ok(child_count_lines(child.log, "ole32mem: leaks: 1 blocks, 777 bytes never freed", LINE_STARTS) == 1,
       "no report at the unload:\n%.2000s", child.log);
    ok(!strstr(child.log, "exiting with code"), "the unload ended the process:\n%.2000s", child.log);
    child_free(&child);
}

/* Writes `count` copies of `size` bytes to a new file. */
static int write_repeated(const char *path, const void *data, DWORD size, unsigned count)
{
    HANDLE file = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    DWORD written;
    int good = file != INVALID_HANDLE_VALUE;

    while (good && count--)
        good = WriteFile(file, data, size, &written, NULL) && written == size;
    if (file != INVALID_HANDLE_VALUE)
        CloseHandle(file);
    ok(good, "cannot write %s: error %lu\n", path, GetLastError());
    return good;
}

/* A suppression file of `length` bytes of `text` for the child "leak-one" (one 777-byte leak); runs the child with
 * it and leaves the result in `child`. The file is made at test time and removed after. */
static void run_with_suppressions(struct child *child, const char *label, const char *text, size_t length)
{
    char path[CHILD_PATH_MAX], setting[CHILD_PATH_MAX + 32];
    const char *settings[] = {"OLE32MEM_DEBUG=leaks", setting, NULL};

    child_path(path, sizeof(path), label, "supp");
    snprintf(setting, sizeof(setting), "OLE32MEM_SUPPRESS=@%s", path);
    write_repeated(path, text, (DWORD)length, 1);
    child_run(child, label, "leak-one", settings, CHILD_LOG, CHILD_TIMEOUT_MS);
    DeleteFileA(path);
}

/* A complaint about line `number` of the file of `label`, saying `why`. */
static int complaint_count(const struct child *child, const char *label, unsigned number, const char *why)
{
    char path[CHILD_PATH_MAX], line[CHILD_LINE_MAX];

    child_path(path, sizeof(path), label, "supp");
    snprintf(line, sizeof(line), "ole32mem: suppress: %s:%u: %s, skipped: ", path, number, why);
    return child_count_lines(child->log, line, LINE_STARTS);
}

static const char leak_shown[] = "ole32mem: leaks: 1 blocks, 777 bytes never freed";
static const char leak_hidden[] = "ole32mem: leaks: 0 blocks, 0 bytes never freed";

/* A line of more than 1,023 bytes is one line: a long comment ending in leak:* hides nothing, a long suppression
 * line is said once with its number, a long pattern too; the line after them still counts as line 4. */
static void test_suppress_long_lines(void)
{
    char *text = malloc(8192), why[64];
    struct child child;
    size_t length;

    /* The comment's tail from byte 1,023 on is "leak:*": what a reader cutting lines there would have kept. */
    memset(text, 0, 8192);
    text[0] = '#';
    memset(text + 1, 'x', SUPPRESS_LINE_MAX - 1);
    strcat(text, "leak:*\n");
    run_with_suppressions(&child, "supp-comment", text, strlen(text));
    ok(child_count_lines(child.log, leak_shown, LINE_STARTS) == 1, "a long comment hid the leak:\n%.2000s", child.log);
    ok(!strstr(child.log, "ole32mem: suppress"), "a comment was complained about:\n%.2000s", child.log);
    child_free(&child);

    /* 1: a pattern of 300 characters; 2: a line of 1,100 bytes; 3: a blank; 4: leak:* (hides the leak). */
    strcpy(text, "leak:");
    length = strlen(text);
    memset(text + length, 'a', 300);
    length += 300;
    memcpy(text + length, "\r\nleak:", 7);
    length += 7;
    memset(text + length, 'b', 1100);
    length += 1100;
    memcpy(text + length, "\n  \nleak:*\n", 11);
    length += 11;
    run_with_suppressions(&child, "supp-long", text, length);
    snprintf(why, sizeof(why), "a pattern longer than %d characters", SUPPRESS_PATTERN_MAX);
    ok(complaint_count(&child, "supp-long", 1, why) == 1, "the long pattern was not said:\n%.3000s", child.log);
    snprintf(why, sizeof(why), "longer than %d bytes", SUPPRESS_LINE_MAX);
    ok(complaint_count(&child, "supp-long", 2, why) == 1, "the long line was not said:\n%.3000s", child.log);
    ok(child_count_lines(child.log, "ole32mem: suppress:", LINE_STARTS) == 2, "other complaints:\n%.3000s", child.log);
    ok(child_count_lines(child.log, leak_hidden, LINE_STARTS) == 1 &&
           child_count_lines(child.log, "ole32mem: suppressed: leak:* hid 1 blocks", LINE_STARTS) == 1,
       "line 4 (leak:*) did not apply:\n%.3000s", child.log);
    child_free(&child);
    free(text);
}

/* Byte 0x1A is a byte (a text-mode reader stops there): the suppression after it applies. */
static void test_suppress_byte_1a(void)
{
    static const char text[] = "# a comment with \x1a in it\nleak:*\n";
    struct child child;

    run_with_suppressions(&child, "supp-1a", text, sizeof(text) - 1);
    ok(child_count_lines(child.log, leak_hidden, LINE_STARTS) == 1, "the file was cut at byte 0x1A:\n%.2000s",
       child.log);
    child_free(&child);
}

/* A file of 1 GiB (sparse: made by setting its end) is refused in one line, after reading no more than the limit;
 * 10 M junk lines (20 MB, under the limit) give 10 complaints and one line counting the rest. */
static void test_suppress_big_files(void)
{
    char path[CHILD_PATH_MAX], setting[CHILD_PATH_MAX + 32], refused[CHILD_PATH_MAX + 128], rest[CHILD_PATH_MAX + 128];
    const char *settings[] = {"OLE32MEM_DEBUG=leaks", setting, NULL};
    LARGE_INTEGER end;
    char *junk = malloc(JUNK_LINES_PER_WRITE * 2);
    struct child child;
    HANDLE file;
    DWORD start;
    unsigned i;

    child_path(path, sizeof(path), "supp-huge", "supp");
    snprintf(setting, sizeof(setting), "OLE32MEM_SUPPRESS=@%s", path);
    file = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    end.QuadPart = (LONGLONG)HUGE_FILE_MIB << 20;
    ok(file != INVALID_HANDLE_VALUE && SetFilePointerEx(file, end, NULL, FILE_BEGIN) && SetEndOfFile(file),
       "cannot make a %u MiB file: error %lu\n", HUGE_FILE_MIB, GetLastError());
    CloseHandle(file);
    start = GetTickCount();
    child_run(&child, "supp-huge", "leak-one", settings, CHILD_LOG, CHILD_TIMEOUT_MS);
    trace("supp-huge: the child ran %lu ms\n", GetTickCount() - start);
    DeleteFileA(path);
    snprintf(refused, sizeof(refused), "ole32mem: suppress: %s is larger than %d MiB: not read, no suppression %s",
             path, SUPPRESS_FILE_MAX_MIB, "from it applies");
    ok(child_count_lines(child.log, refused, LINE_IS) == 1, "the huge file was not refused:\n%.2000s", child.log);
    ok(child_count_lines(child.log, leak_shown, LINE_STARTS) == 1, "no leak report:\n%.2000s", child.log);
    child_free(&child);

    for (i = 0; i < JUNK_LINES_PER_WRITE; i++)
        memcpy(junk + 2 * i, "j\n", 2);
    child_path(path, sizeof(path), "supp-junk", "supp");
    snprintf(setting, sizeof(setting), "OLE32MEM_SUPPRESS=@%s", path);
    write_repeated(path, junk, JUNK_LINES_PER_WRITE * 2, JUNK_LINES / JUNK_LINES_PER_WRITE);
    start = GetTickCount();
    child_run(&child, "supp-junk", "leak-one", settings, CHILD_LOG, CHILD_TIMEOUT_MS);
    trace("supp-junk: the child ran %lu ms\n", GetTickCount() - start);
    DeleteFileA(path);
    snprintf(rest, sizeof(rest), "ole32mem: suppress: %s: %u more lines skipped (not shown)", path,
             JUNK_LINES - SUPPRESS_COMPLAINTS_SHOWN);
    ok(child.finished, "the child did not end within %u ms\n", CHILD_TIMEOUT_MS);
    ok(child_count_lines(child.log, "ole32mem: suppress:", LINE_STARTS) == SUPPRESS_COMPLAINTS_SHOWN + 1 &&
           child_count_lines(child.log, rest, LINE_IS) == 1,
       "the complaints are not capped: %d lines\n%.2000s",
       child_count_lines(child.log, "ole32mem: suppress:", LINE_STARTS), child.log);
    ok(child_count_lines(child.log, leak_shown, LINE_STARTS) == 1, "no leak report:\n%.2000s", child.log);
    child_free(&child);
    free(junk);
}

/* The program's dbghelp options are its own: a checkpoint and the exit report name frames through dbghelp and put
 * them back (the child checks SymGetOptions; the log shows that frames were named). */
static void test_dbghelp_options(void)
{
    static const char *const settings[] = {"OLE32MEM_DEBUG=leaks", "OLE32MEM_STACK_DEPTH=4", NULL};
    struct child child;

    child_run(&child, "dbghelp-options", "dbghelp-options", settings, CHILD_LOG, CHILD_TIMEOUT_MS);
    ok(child.exit_code == 0, "dbghelp-options child: exit code %ld\n", (long)child.exit_code);
    ok(strstr(child.log, "regress.c:") != NULL, "no frame was named through dbghelp:\n%.2000s", child.log);
    child_free(&child);
}

/* Number settings that are not numbers in range: said in one line, and not used (the default applies, or the
 * exit code is off). The child leaks one block and exits 0. */
static void test_number_settings(void)
{
    static const struct
    {
        const char *setting;
        const char *said;
    } rows[] = {
        {"OLE32MEM_LEAKS_MAX=abc", "ole32mem: OLE32MEM_LEAKS_MAX=abc: not a number from 0 to 4294967295; using 20"},
        {"OLE32MEM_LEAKS_MAX=-1", "ole32mem: OLE32MEM_LEAKS_MAX=-1: not a number from 0 to 4294967295; using 20"},
        {"OLE32MEM_LEAKS_MAX=99999999999", "ole32mem: OLE32MEM_LEAKS_MAX=99999999999: not a number from 0 to "
                                           "4294967295; using 20"},
        {"OLE32MEM_LEAKS_EXITCODE=abc", "ole32mem: OLE32MEM_LEAKS_EXITCODE=abc: not a number from 0 to 255; the "
                                        "option is off"},
        {"OLE32MEM_LEAKS_EXITCODE=256", "ole32mem: OLE32MEM_LEAKS_EXITCODE=256: not a number from 0 to 255; the "
                                        "option is off"},
        {"OLE32MEM_LEAKS_EXITCODE=-1", "ole32mem: OLE32MEM_LEAKS_EXITCODE=-1: not a number from 0 to 255; the "
                                       "option is off"},
    };
    struct child child;
    unsigned i;

    for (i = 0; i < ARRAYSIZE(rows); i++)
    {
        const char *settings[] = {"OLE32MEM_DEBUG=leaks", rows[i].setting, NULL};

        child_run(&child, "number-setting", "leak-one", settings, CHILD_LOG, CHILD_TIMEOUT_MS);
        ok(child.exit_code == 0, "%s: exit code %ld\n", rows[i].setting, (long)child.exit_code);
        ok(child_count_lines(child.log, rows[i].said, LINE_IS) == 1, "%s: not said:\n%.2000s", rows[i].setting,
           child.log);
        ok(!strstr(child.log, "4294967295;") || strstr(rows[i].setting, "LEAKS_MAX"), "%s:\n%.2000s", rows[i].setting,
           child.log);
        /* The leak is listed (OLE32MEM_LEAKS_MAX is 20, not 0) and ends nothing. */
        ok(child_count_lines(child.log, "ole32mem: leaks:   777 bytes in 1 blocks from", LINE_STARTS) == 1,
           "%s: the leak is not listed:\n%.2000s", rows[i].setting, child.log);
        child_free(&child);
    }
}

/* --- the children --------------------------------------------------------------------------------------------- */

/* Frees an ole32mem block through combase and has combase allocate until it gets the same address back. */
static void *reuse_through_combase(void *ours, SIZE_T combase_size)
{
    void *spare[REUSE_ATTEMPTS], *got = NULL;
    int i, n = 0;

    combase.free(ours);
    for (i = 0; i < REUSE_ATTEMPTS && got != ours; i++)
    {
        got = combase.alloc(combase_size);
        if (got != ours)
            spare[n++] = got;
    }
    while (n--)
        combase.free(spare[n]);
    return got == ours ? got : NULL;
}

static void child_reuse(void)
{
    unsigned char *p, *q, *r, *kept;
    size_t i, grown_ok = 1;

    if (!load_both())
        return;
    p = om.alloc(32); /* 48 bytes in the heap with the guard */
    q = reuse_through_combase(p, 48);
    if (!q)
    {
        skip("the heap did not hand the address back\n");
        return;
    }
    fill(q, 48, 7); /* combase's block: 48 bytes of live data */
    ok(IMalloc_GetSize(om_malloc, q) == 48, "GetSize %llu, want the heap's 48\n", SZ(IMalloc_GetSize(om_malloc, q)));
    ok(IMalloc_DidAlloc(om_malloc, q) == 1, "DidAlloc of a live block\n");
    r = om.realloc(q, 100);
    ok(r && filled(r, 48, 7), "Realloc changed the program's data (first bad byte %llu)\n",
       SZ(r ? check_fill(r, 48, 7) : 0));
    for (i = 48; r && i < 100; i++)
        grown_ok &= r[i] == FILL_NEW;
    ok(grown_ok, "the grown part is not filled with 0xcd\n");
    om.free(r);

    /* A combase block at a reused address that the program keeps: not an ole32mem leak. */
    p = om.alloc(32);
    kept = reuse_through_combase(p, 48);
    if (kept)
        fill(kept, 48, 9);
}

static void child_reuse_noguard(void)
{
    if (!load_both())
        return;
    /* A block of ours that combase frees and nobody reuses: proof that another allocator frees our blocks, without
     * which the report would have no reason to doubt the reused one. */
    combase.free(om.alloc(40));
    if (!reuse_through_combase(om.alloc(32), 32))
    {
        skip("the heap did not hand the address back\n");
        /* Nothing is left to report: keep the parent's expectation of one leak. */
        om.alloc(32);
    }
}

/* A spy that answers NULL from PreDidAlloc and PreGetSize when asked to, and counts its references. */
struct test_spy
{
    IMallocSpy IMallocSpy_iface;
    LONG refs;
    int null_answers;
    struct test_spy *register_at_release; /* the final Release registers and revokes this spy */
    HRESULT inner_register, inner_revoke;
    LONG refs_after_inner_revoke;
    int revoke_in_heap_minimize;
    HRESULT hook_revoke;
};

static struct test_spy *impl_from_IMallocSpy(IMallocSpy *iface)
{
    return CONTAINING_RECORD(iface, struct test_spy, IMallocSpy_iface);
}

static ULONG WINAPI spy_AddRef(IMallocSpy *iface)
{
    return InterlockedIncrement(&impl_from_IMallocSpy(iface)->refs);
}

static ULONG WINAPI spy_Release(IMallocSpy *iface)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);
    LONG refs = InterlockedDecrement(&spy->refs);
    struct test_spy *inner = spy->register_at_release;

    if (refs == 1 && inner)
    {
        spy->register_at_release = NULL;
        spy->inner_register = om.register_spy(&inner->IMallocSpy_iface);
        spy->inner_revoke = om.revoke_spy();
        spy->refs_after_inner_revoke = inner->refs;
    }
    return refs;
}

static void *WINAPI spy_PreGetSize(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)spyed;
    return impl_from_IMallocSpy(iface)->null_answers ? NULL : request;
}

static void *WINAPI spy_PreDidAlloc(IMallocSpy *iface, void *request, BOOL spyed)
{
    (void)spyed;
    return impl_from_IMallocSpy(iface)->null_answers ? NULL : request;
}

static void WINAPI spy_PreHeapMinimize(IMallocSpy *iface)
{
    struct test_spy *spy = impl_from_IMallocSpy(iface);

    if (spy->revoke_in_heap_minimize)
        spy->hook_revoke = om.revoke_spy();
}

static const IMallocSpyVtbl spy_vtbl = {
    passthrough_QueryInterface, spy_AddRef,           spy_Release,
    passthrough_PreAlloc,       passthrough_PostAlloc, passthrough_PreFree,
    passthrough_PostFree,       passthrough_PreRealloc, passthrough_PostRealloc,
    spy_PreGetSize,             passthrough_PostGetSize, spy_PreDidAlloc,
    passthrough_PostDidAlloc,   spy_PreHeapMinimize,  passthrough_PostHeapMinimize,
};

static void spy_init(struct test_spy *spy)
{
    memset(spy, 0, sizeof(*spy));
    spy->IMallocSpy_iface.lpVtbl = (IMallocSpyVtbl *)&spy_vtbl;
    spy->refs = 1;
}

/* Item 3: a spied block freed by combase is no longer ours: DidAlloc asks the heap, and the dead key no longer
 * holds up the revoke. Item 5: PreDidAlloc/PreGetSize answering NULL get "no block" without a heap walk. */
static void child_spied(void)
{
    struct test_spy spy;
    void *p, *q;
    HRESULT hr;

    if (!load_both())
        return;
    spy_init(&spy);
    hr = om.register_spy(&spy.IMallocSpy_iface);
    ok(hr == S_OK, "register: %#lx\n", hr);
    p = om.alloc(40);
    combase.free(p);
    ok(IMalloc_DidAlloc(om_malloc, p) == 0, "DidAlloc of a spied block freed by combase: %d\n",
       IMalloc_DidAlloc(om_malloc, p));
    hr = om.revoke_spy();
    ok(hr == S_OK, "revoke with the only spied block freed by combase: %#lx\n", hr);
    ok(spy.refs == 1, "the spy was not released: %ld references\n", spy.refs);

    spy_init(&spy);
    spy.null_answers = 1;
    hr = om.register_spy(&spy.IMallocSpy_iface);
    ok(hr == S_OK, "register: %#lx\n", hr);
    q = om.alloc(24);
    ok(IMalloc_DidAlloc(om_malloc, q) == 0, "DidAlloc with PreDidAlloc answering NULL: %d\n",
       IMalloc_DidAlloc(om_malloc, q));
    ok(IMalloc_GetSize(om_malloc, q) == (SIZE_T)-1, "GetSize with PreGetSize answering NULL: %llu\n",
       SZ(IMalloc_GetSize(om_malloc, q)));
    om.free(q);
    ok(om.revoke_spy() == S_OK, "revoke\n");
}

/* Item 7: what a spy may do from its hooks and its final Release (docs/diagnostics.md says what was decided). */
static void child_revoke_rules(void)
{
    struct test_spy outer, inner, third;
    HRESULT hr;

    if (!load_both())
        return;
    /* A revoke from inside a hook is deferred to the end of the call (rule 25): E_ACCESSDENIED, then released. */
    spy_init(&outer);
    outer.revoke_in_heap_minimize = 1;
    ok(om.register_spy(&outer.IMallocSpy_iface) == S_OK, "register\n");
    IMalloc_HeapMinimize(om_malloc);
    ok(outer.hook_revoke == E_ACCESSDENIED, "revoke inside a hook: %#lx\n", outer.hook_revoke);
    ok(outer.refs == 1, "not released at the end of the call: %ld references\n", outer.refs);
    ok(om.revoke_spy() == CO_E_OBJNOTREG, "the revoke did not complete\n");

    /* Register and revoke inside the final Release: no call is in progress, both complete at once. */
    spy_init(&outer);
    spy_init(&inner);
    outer.register_at_release = &inner;
    ok(om.register_spy(&outer.IMallocSpy_iface) == S_OK, "register\n");
    hr = om.revoke_spy();
    ok(hr == S_OK, "revoke: %#lx\n", hr);
    ok(outer.inner_register == S_OK, "register inside Release: %#lx\n", outer.inner_register);
    ok(outer.inner_revoke == S_OK, "revoke inside Release: %#lx\n", outer.inner_revoke);
    ok(outer.refs_after_inner_revoke == 1, "the inner spy is still held: %ld references\n",
       outer.refs_after_inner_revoke);
    spy_init(&third);
    ok(om.register_spy(&third.IMallocSpy_iface) == S_OK, "a new registration after that\n");
    ok(om.revoke_spy() == S_OK, "revoke\n");
}

static DWORD WINAPI exit_worker(void *arg)
{
    HANDLE heap = GetProcessHeap();
    unsigned i;

    (void)arg;
    for (i = 0;; i++)
    {
        void *p = HeapAlloc(heap, 0, 64 + i % 512);
        HeapFree(heap, 0, p);
        if (!(i % 64))
            om.free(om.alloc(16));
    }
    return 0;
}

static void *volatile exit_kept;

static __attribute__((noinline)) void exit_leak(void)
{
    exit_kept = om.alloc(777);
}

/* Item 4: returns from main while the worker runs in the heap: the exit report must not wait for the heap. */
static void child_exit(void)
{
    HANDLE thread;

    if (!load_both())
        return;
    exit_leak();
    thread = CreateThread(NULL, 0, exit_worker, NULL, 0, NULL);
    Sleep(100);
    (void)thread;
}

/* See test_freed_elsewhere. Sizes differ so that no block of the same size comes back at a freed address. */
static void child_freed_elsewhere(void)
{
    DWORD(WINAPI * report_leaks)(void);
    void *blocks[64];
    unsigned i;

    if (!load_both())
        return;
    report_leaks = (void *)GetProcAddress(GetModuleHandleA("ole32mem.dll"), "Ole32memReportLeaks");
    ok(report_leaks != NULL, "no Ole32memReportLeaks\n");
    for (i = 0; i < ARRAYSIZE(blocks); i++)
        fill(blocks[i] = om.alloc(40 + i * 24), 40 + i * 24, (unsigned char)i);
    /* Every other one first, then the rest: each of the second half merges with both neighbours. */
    for (i = 0; i < ARRAYSIZE(blocks); i += 2)
        combase.free(blocks[i]);
    for (i = 1; i < ARRAYSIZE(blocks); i += 2)
        combase.free(blocks[i]);
    if (report_leaks)
        ok(report_leaks() == 0, "a leak check counts blocks that combase freed\n");
}

static DWORD WINAPI heap_holder(void *event)
{
    HeapLock(GetProcessHeap());
    SetEvent(event);
    Sleep(INFINITE);
    return 0;
}

/* See test_exit_heap_locked: `exit-heap locked` or `exit-heap free` (the control). ole32mem alone, loaded last: its
 * exit report comes before any other module's detach, which may need the heap itself. Nothing may use the heap
 * once the holder has it, the C runtime's stdio included: the summary comes first, and the process ends without
 * the C runtime's exit. */
static void child_exit_heap(void)
{
    HANDLE event = CreateEventA(NULL, TRUE, FALSE, NULL);
    int locked = child_arg && !strcmp(child_arg, "locked");

    if (!load_allocator(LoadLibraryA("ole32mem.dll"), &om))
    {
        ok(0, "cannot load ole32mem.dll (error %lu)\n", GetLastError());
        return;
    }
    exit_leak();
    test_summary(locked ? "exit-heap locked" : "exit-heap free");
    if (locked)
    {
        CreateThread(NULL, 0, heap_holder, event, 0, NULL);
        WaitForSingleObject(event, INFINITE);
    }
    ExitProcess(0);
}

/* Item 7: loading and unloading ole32mem with diagnostics on leaves no handle and no heap behind. */
static void child_load_unload(void)
{
    DWORD handles_before = 0, handles_after = 0, heaps_before = 0, heaps_after = 0;
    struct allocator a;
    unsigned i;

    for (i = 0; i < LOAD_CYCLES; i++)
    {
        HMODULE module = LoadLibraryA("ole32mem.dll");

        if (!load_allocator(module, &a))
        {
            ok(0, "cycle %u: cannot load ole32mem.dll (error %lu)\n", i, GetLastError());
            return;
        }
        a.free(a.alloc(i + 1));
        FreeLibrary(module);
        if (i == 9)
        {
            GetProcessHandleCount(GetCurrentProcess(), &handles_before);
            heaps_before = GetProcessHeaps(0, NULL);
        }
    }
    ok(!GetModuleHandleA("ole32mem.dll"), "ole32mem.dll is still loaded\n");
    GetProcessHandleCount(GetCurrentProcess(), &handles_after);
    heaps_after = GetProcessHeaps(0, NULL);
    ok(handles_after <= handles_before + HANDLE_SLACK, "handles: %lu after 10 cycles, %lu after %u\n", handles_before,
       handles_after, LOAD_CYCLES);
    ok(heaps_after == heaps_before, "heaps: %lu after 10 cycles, %lu after %u\n", heaps_before, heaps_after,
       LOAD_CYCLES);
}

/* See test_exit_during_checkpoint. */
static DWORD(WINAPI *checkpoint_report)(void);
static volatile LONG checkpoint_reports;

static DWORD WINAPI checkpoint_worker(void *arg)
{
    (void)arg;
    for (;;)
    {
        checkpoint_report();
        InterlockedIncrement(&checkpoint_reports);
    }
    return 0;
}

static void child_exit_checkpoint(void)
{
    if (!load_both())
        return;
    checkpoint_report = (void *)GetProcAddress(GetModuleHandleA("ole32mem.dll"), "Ole32memReportLeaks");
    ok(checkpoint_report != NULL, "no Ole32memReportLeaks\n");
    if (!checkpoint_report)
        return;
    exit_leak();
    CreateThread(NULL, 0, checkpoint_worker, NULL, 0, NULL);
    /* Past the first report (dbghelp's start): from then on the worker spends its time naming frames. */
    while (checkpoint_reports < 2)
        Sleep(1);
    Sleep(20);
}

/* See test_exit_during_symbolizer: main returns once the worker's report has started the silent symbolizer. */
static DWORD WINAPI symbolizer_worker(void *arg)
{
    (void)arg;
    checkpoint_report();
    return 0;
}

static void child_exit_symbolizer(void)
{
    char name[64];
    HANDLE started;

    /* The event's name is this child's own (the symbolizer inherits the environment): a symbolizer left from an
     * earlier run keeps its event alive, set. */
    snprintf(name, sizeof(name), "ole32mem-regress-symbolizer-%lu", GetCurrentProcessId());
    SetEnvironmentVariableA("REGRESS_SYMBOLIZER_EVENT", name);
    started = CreateEventA(NULL, TRUE, FALSE, name);
    if (!load_both())
        return;
    checkpoint_report = (void *)GetProcAddress(GetModuleHandleA("ole32mem.dll"), "Ole32memReportLeaks");
    ok(checkpoint_report != NULL, "no Ole32memReportLeaks\n");
    if (!checkpoint_report)
        return;
    exit_leak();
    CreateThread(NULL, 0, symbolizer_worker, NULL, 0, NULL);
    ok(WaitForSingleObject(started, SYMBOLIZER_START_MS) == WAIT_OBJECT_0, "the report started no symbolizer\n");
}

/* This program run as the external symbolizer (`PROGRAM -a -f -i -C -e MODULE`): says it started, answers nothing. */
static int silent_symbolizer(void)
{
    char name[64];
    DWORD length = GetEnvironmentVariableA("REGRESS_SYMBOLIZER_EVENT", name, sizeof(name));
    HANDLE started = length && length < sizeof(name) ? OpenEventA(EVENT_MODIFY_STATE, FALSE, name) : NULL;

    if (started)
        SetEvent(started);
    Sleep(SILENT_SYMBOLIZER_MS);
    return 0;
}

/* See test_unload_with_exit_code: a leak, FreeLibrary, and the program goes on. */
static void child_unload_exitcode(void)
{
    HMODULE module = LoadLibraryA("ole32mem.dll");

    if (!load_allocator(module, &om))
    {
        ok(0, "cannot load ole32mem.dll (error %lu)\n", GetLastError());
        return;
    }
    exit_leak();
    ok(FreeLibrary(module), "FreeLibrary: error %lu\n", GetLastError());
    ok(!GetModuleHandleA("ole32mem.dll"), "ole32mem.dll is still loaded\n");
}

/* One 777-byte leak, nothing else. */
static void child_leak_one(void)
{
    if (load_allocator(LoadLibraryA("ole32mem.dll"), &om))
        exit_leak();
    else
        ok(0, "cannot load ole32mem.dll (error %lu)\n", GetLastError());
}

/* See test_dbghelp_options. */
static void child_dbghelp_options(void)
{
    HMODULE dbghelp = LoadLibraryA("dbghelp.dll");
    DWORD(WINAPI * set_options)(DWORD) = dbghelp ? (void *)GetProcAddress(dbghelp, "SymSetOptions") : NULL;
    DWORD(WINAPI * get_options)(void) = dbghelp ? (void *)GetProcAddress(dbghelp, "SymGetOptions") : NULL;
    DWORD(WINAPI * report_leaks)(void);

    if (!set_options || !get_options || !load_both())
    {
        ok(0, "cannot load dbghelp.dll or ole32mem.dll\n");
        return;
    }
    report_leaks = (void *)GetProcAddress(GetModuleHandleA("ole32mem.dll"), "Ole32memReportLeaks");
    set_options(PROGRAM_SYMOPTIONS);
    ok(get_options() == PROGRAM_SYMOPTIONS, "SymGetOptions %#lx after SymSetOptions(%#x)\n", get_options(),
       PROGRAM_SYMOPTIONS);
    exit_leak();
    ok(report_leaks && report_leaks() == 1, "the checkpoint did not report the leak\n");
    ok(get_options() == PROGRAM_SYMOPTIONS, "SymGetOptions %#lx after a checkpoint, want %#x\n", get_options(),
       PROGRAM_SYMOPTIONS);
}

/* A spy whose PostAlloc swallows the first block after `swallow_next` is set (answers NULL, keeping the heap
 * block), and passes every other one through. */
static void *swallowed;
static int swallow_next;

static void *WINAPI swallow_PostAlloc(IMallocSpy *iface, void *actual)
{
    (void)iface;
    if (!swallow_next)
        return actual;
    swallow_next = 0;
    swallowed = actual;
    return NULL;
}

static const IMallocSpyVtbl swallow_vtbl = {
    passthrough_QueryInterface, passthrough_static_AddRef,   passthrough_static_Release,   passthrough_PreAlloc,
    swallow_PostAlloc,          passthrough_PreFree,         passthrough_PostFree,         passthrough_PreRealloc,
    passthrough_PostRealloc,    passthrough_PreGetSize,      passthrough_PostGetSize,      passthrough_PreDidAlloc,
    passthrough_PostDidAlloc,   passthrough_PreHeapMinimize, passthrough_PostHeapMinimize,
};

/* A PostAlloc that answers NULL refuses a block; it does not make the spy one that moves blocks: a spied block
 * that combase frees afterwards still leaves the spied table when DidAlloc finds it gone, and the revoke completes. */
static void child_swallow(void)
{
    static IMallocSpy spy = {(IMallocSpyVtbl *)&swallow_vtbl};
    void *p;
    HRESULT hr;

    if (!load_both())
        return;
    ok(om.register_spy(&spy) == S_OK, "register\n");
    swallow_next = 1;
    ok(om.alloc(40) == NULL, "the spy's NULL answer was not the result\n");
    p = om.alloc(40);
    combase.free(p);
    ok(IMalloc_DidAlloc(om_malloc, p) == 0, "DidAlloc of a spied block freed by combase: %d\n",
       IMalloc_DidAlloc(om_malloc, p));
    hr = om.revoke_spy();
    ok(hr == S_OK, "revoke after a NULL from PostAlloc and a spied block freed by combase: %#lx\n", hr);
    /* The swallowed heap block is the spy's to free; it is not spied. */
    om.free(swallowed);
}

/* --- liveness and records: the children ----------------------------------------------------------------------- */

static void child_foreign_grow(void)
{
    unsigned char *p, *q, *r;

    if (!load_both())
        return;
    p = om.alloc(32);
    q = HeapReAlloc(GetProcessHeap(), 0, p, 48);
    ok(q != NULL, "HeapReAlloc(32 -> 48) failed\n");
    if (!q)
        return;
    /* Wine 8 and Wine 10's x86_64 heap grow it in place, Wine 10's i686 one moves it: then the record is simply
     * stale, and the same answers are due. */
    trace("HeapReAlloc(32 -> 48) %s\n", q == p ? "in place" : "moved the block");
    fill(q, 40, 5); /* the program's bytes, 32..39 among them */
    ok(IMalloc_GetSize(om_malloc, q) == 48, "GetSize %llu, want the heap's 48\n", SZ(IMalloc_GetSize(om_malloc, q)));
    r = om.realloc(q, 64);
    ok(r && filled(r, 40, 5), "Realloc(64) changed the program's bytes (first bad byte %llu)\n",
       SZ(r ? check_fill(r, 40, 5) : 0));
    om.free(r);
}

/* Bytes that Wine's heap reads as a block's header (struct block, in Wine 8's layout or Wine 10's), written over a
 * stale record's header inside the program's own block:
 *   FAKE_REGION  a used block whose region base, `offset` 64 KiB regions below its own, is an address this program
 *                reserves without access (nothing maps it meanwhile): HeapSize faults on it;
 *   FAKE_PREV    a used block whose previous block is free, the pointer to which (in front of the header) is NULL:
 *                HeapValidate faults on it, the heap's lock held.
 * Elsewhere (Windows, another Wine) they are only bytes, and the check is the report. */
enum fake_header
{
    FAKE_REGION,
    FAKE_PREV,
};

static void fake_header(char *at, enum fake_header kind)
{
    UINT_PTR region = (UINT_PTR)at & ~(UINT_PTR)0xffff, offset = 1;
    BYTE header[8] = {1, 0}; /* the size: one unit */
    BYTE flags = kind == FAKE_PREV ? 0x02 : 0x01; /* previous block free, or (for HeapValidate) this one free */

    if (kind == FAKE_REGION)
    {
        for (; offset < 0x10000 && offset << 16 < region; offset++)
            if (VirtualAlloc((void *)(region - (offset << 16)), 0x10000, MEM_RESERVE, PAGE_NOACCESS))
                break;
        if (offset >= 0x10000 || offset << 16 >= region)
            trace("no free 64 KiB region below %p (x86_64 Wine's heap is the lowest mapping)\n", at), offset = 1;
    }
    header[4] = (BYTE)offset;
    header[5] = (BYTE)(offset >> 8);
    if (wine_major_version() >= 10)
    {
        header[6] = 'u'; /* the type, then the flags */
        header[7] = flags;
    }
    else
    {
        header[2] = flags;
        header[6] = 0x55; /* the type: 0x5355 */
        header[7] = 0x53;
    }
    memcpy(at, header, sizeof(header));
    memset(at - sizeof(void *), 0, sizeof(void *)); /* the previous block's address */
    memset(at + sizeof(header), 0, sizeof(header)); /* the next "block": no flags */
}

static DWORD WINAPI heap_user(void *arg)
{
    (void)arg;
    return HeapFree(GetProcessHeap(), 0, HeapAlloc(GetProcessHeap(), 0, 100));
}

/* See test_reused_header: two blocks of ours freed by the heap directly merge into one free block, which the next
 * heap block of their joint size takes; the second one's header is then inside it. A new size each try, none common:
 * Wine 10's heap serves a size class the process uses a lot from bins of its own, which never merge. Two such
 * records, one of each fake header. */
static void child_reused_header(void)
{
    enum
    {
        TRIES = 64,
        FIRST_SIZE = 1000,
    };
    DWORD(WINAPI * report_leaks)(void);
    HANDLE heap = GetProcessHeap();
    char *cover[TRIES] = {0}, *kept[TRIES][2] = {{0}};
    unsigned i, covered = 0;
    HANDLE thread;

    if (!load_both())
        return;
    report_leaks = (void *)GetProcAddress(GetModuleHandleA("ole32mem.dll"), "Ole32memReportLeaks");
    ok(report_leaks != NULL, "no Ole32memReportLeaks\n");
    exit_leak();
    for (i = 0; i < TRIES && covered < 2; i++)
    {
        SIZE_T size = FIRST_SIZE + 24 * i;
        char *a = om.alloc(size), *b = om.alloc(size), *low = a < b ? a : b, *high = a < b ? b : a;
        SIZE_T joint = (SIZE_T)(high - low) + size;

        if (joint > 4 * size)
        {
            kept[i][0] = a; /* not neighbours: kept, so that the next two are new addresses */
            kept[i][1] = b;
            continue;
        }
        HeapFree(heap, 0, a);
        HeapFree(heap, 0, b);
        if ((cover[i] = HeapAlloc(heap, 0, joint)) && cover[i] + 32 <= high && high + 32 <= cover[i] + joint)
            fake_header(high - 8, covered++ ? FAKE_PREV : FAKE_REGION);
    }
    trace("%u blocks' headers covered by others after %u tries\n", covered, i);
    ok(covered == 2, "only %u heap blocks covered a freed block's header\n", covered);
    for (i = 0; i < TRIES; i++)
    {
        om.free(kept[i][0]);
        om.free(kept[i][1]);
    }
    if (report_leaks)
        ok(report_leaks() == 1, "the leak check does not count exactly the real leak\n");
    thread = CreateThread(NULL, 0, heap_user, NULL, 0, NULL);
    ok(thread && WaitForSingleObject(thread, 10000) == WAIT_OBJECT_0,
       "another thread cannot use the heap after the leak check: its lock was left taken\n");
    for (i = 0; i < TRIES; i++)
        HeapFree(heap, 0, cover[i]); /* the headers stay in free memory, for the exit report */
}

static void *volatile large_kept[2];

static void child_large_leak(void)
{
    if (!load_both())
        return;
    large_kept[0] = om.alloc(1 << 20);
    large_kept[1] = om.alloc(16 << 20);
    ok(large_kept[0] && large_kept[1], "cannot allocate 1 MB and 16 MB\n");
}

static void *volatile shrunk_kept[SHRUNK_BLOCKS];

/* Warms the size class up with heap blocks of the program's own, so that the heap serves it from its fast bins, then
 * shrinks SHRUNK_BLOCKS blocks of ole32mem in place and leaks them. Says how many HeapSize answers were wrong. */
static void child_shrunk_leak(void)
{
    enum
    {
        WARM_BLOCKS = 2048,
    };
    static void *warm[WARM_BLOCKS];
    unsigned i, wrong = 0, in_place = 0;
    SIZE_T size;
    void *p;

    if (!load_both())
        return;
    for (i = 0; i < WARM_BLOCKS; i++)
        warm[i] = HeapAlloc(GetProcessHeap(), 0, SHRUNK_FROM + i % 2 * 15); /* without a guard, and with one */
    for (i = 0; i < SHRUNK_BLOCKS; i++)
    {
        p = om.alloc(SHRUNK_FROM);
        shrunk_kept[i] = om.realloc(p, SHRUNK_TO);
        ok(shrunk_kept[i] != NULL, "Realloc(%u -> %u) failed\n", SHRUNK_FROM, SHRUNK_TO);
        in_place += shrunk_kept[i] == p;
        size = shrunk_kept[i] == p ? HeapSize(GetProcessHeap(), 0, p) : SHRUNK_TO;
        wrong += size != SHRUNK_TO && size != SHRUNK_TO + 15 && size != SHRUNK_TO + 16; /* no guard, or a guard */
    }
    for (i = 0; i < WARM_BLOCKS; i++)
        HeapFree(GetProcessHeap(), 0, warm[i]);
    trace("%u of %u shrinks in place, %u of them answered by HeapSize with a wrong size\n", in_place, SHRUNK_BLOCKS,
          wrong);
}

static DWORD WINAPI exit_thread_worker(void *arg)
{
    enum
    {
        KEPT = 256,
    };
    void *kept[KEPT] = {0};
    unsigned i, seed = (unsigned)(UINT_PTR)arg;

    for (i = 0;; i++)
    {
        unsigned slot = (seed = seed * 1103515245 + 12345) % KEPT, size = 8 + (seed >> 16) % 500;

        if (size == 777)
            size++; /* main's leak is the only one of 777 bytes */
        if (!kept[slot])
            kept[slot] = om.alloc(size);
        else if (i % 3)
            kept[slot] = om.realloc(kept[slot], size);
        else
        {
            om.free(kept[slot]);
            kept[slot] = NULL;
        }
    }
    return 0;
}

static void child_exit_threads(void)
{
    unsigned i;

    if (!load_both())
        return;
    exit_leak();
    for (i = 0; i < EXIT_THREADS; i++)
        CreateThread(NULL, 0, exit_thread_worker, (void *)(UINT_PTR)(i + 1), 0, NULL);
    Sleep(50);
}

static void child_plain_leak(void)
{
    if (!load_both())
        return;
    exit_leak();
}

/* Each mode but load-unload and exit-heap starts with load_both: ole32mem and combase, loaded at run time. */
static const struct child_mode modes[] = {
    {"reuse", child_reuse},
    {"reuse-noguard", child_reuse_noguard},
    {"spied", child_spied},
    {"revoke-rules", child_revoke_rules},
    {"exit", child_exit},
    {"load-unload", child_load_unload},
    {"freed-elsewhere", child_freed_elsewhere},
    {"exit-heap", child_exit_heap},
    {"exit-checkpoint", child_exit_checkpoint},
    {"exit-symbolizer", child_exit_symbolizer},
    {"unload-exitcode", child_unload_exitcode},
    {"leak-one", child_leak_one},
    {"dbghelp-options", child_dbghelp_options},
    {"swallow", child_swallow},
    {"foreign-grow", child_foreign_grow},
    {"large-leak", child_large_leak},
    {"shrunk-leak", child_shrunk_leak},
    {"exit-threads", child_exit_threads},
    {"plain-leak", child_plain_leak},
    {"reused-header", child_reused_header},
};

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "-a"))
        return silent_symbolizer();
    child_init("regress", child_settings);
    if (argc >= 3 && !strcmp(argv[1], "child"))
        return child_main(argv[2], argv[3], modes, ARRAYSIZE(modes));
    test_stale_record();
    test_child_mode("spied", "spied", NULL);
    test_child_mode("spied-all", "spied", "OLE32MEM_DEBUG=all");
    test_child_mode("revoke-rules", "revoke-rules", NULL);
    test_child_mode("revoke-rules-all", "revoke-rules", "OLE32MEM_DEBUG=all");
    test_child_mode("load-unload-all", "load-unload", "OLE32MEM_DEBUG=all");
    test_exit_with_worker();
    test_freed_elsewhere();
    test_exit_heap_locked();
    test_child_mode("swallow", "swallow", NULL);
    test_child_mode("swallow-all", "swallow", "OLE32MEM_DEBUG=all");
    test_exit_during_checkpoint();
    test_exit_during_symbolizer();
    test_unload_with_exit_code();
    test_suppress_long_lines();
    test_suppress_byte_1a();
    test_suppress_big_files();
    test_dbghelp_options();
    test_number_settings();
    test_foreign_grow();
    test_large_leaks();
    test_shrunk_leak();
    test_exit_threads();
    test_plain_leak_note();
    test_reused_header();
    return test_summary("diagregress");
}
