/*
 * The diagnostics' settings, read once at start-up (ole32mem.c's DllMain, or a host test):
 *
 * OLE32MEM_DEBUG=opt,opt,...  trace | leaks | check | guard | fill | stats | all
 * OLE32MEM_LOG=path           reports go there (appended; %p becomes the process id) instead of stderr
 * OLE32MEM_LEAKS_MAX=n        at most n allocation stacks in the leak report (default 20)
 * OLE32MEM_SUPPRESS=a.dll,... leaks allocated from these modules are not reported; or =@path, a suppression file
 *                             (diag_suppress.c)
 * OLE32MEM_STACK_DEPTH=n      frames of the allocation stack kept (default 16, at most 64; 0: the caller only)
 * OLE32MEM_LEAKS_EXITCODE=n   when unsuppressed leaks are found at process exit, the process exits with code n
 *
 * Owns diag_options, the leak-report limit, the stack depth and the exit code. Invariant: all of them are written only
 * by diag_configure, before the first allocation, and only read after it; the diagnostics route
 * (TASK_ROUTE_DIAGNOSTICS) is turned on last, so that no call takes the slow path for them before they are set. Never
 * turns anything off.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"
#include "platform_report.h"
#include "platform_stacks.h"
#include "task_memory.h"

#include <stdlib.h>
#include <string.h>

enum
{
    DEFAULT_LEAKS_MAX = 20,
    NUMBER_CHARS = 32,
};

unsigned diag_options;
unsigned long diag_leaks_max = DEFAULT_LEAKS_MAX;
unsigned diag_stack_depth = DIAG_STACK_DEPTH_DEFAULT;
int diag_leaks_exitcode = -1;

static int parse_options(const char *text)
{
    static const struct
    {
        const char *name;
        unsigned option;
    } names[] = {
        {"trace", DIAG_TRACE},
        {"leaks", DIAG_LEAKS},
        {"check", DIAG_CHECK},
        {"guard", DIAG_GUARD},
        {"fill", DIAG_FILL},
        {"stats", DIAG_STATS},
        {"all", DIAG_TRACE | DIAG_LEAKS | DIAG_CHECK | DIAG_GUARD | DIAG_FILL | DIAG_STATS},
    };
    unsigned options = 0;

    while (text && *text)
    {
        size_t length = strcspn(text, ", ");
        size_t i;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == length && !strncmp(names[i].name, text, length))
                break;
        if (i < sizeof(names) / sizeof(names[0]))
            options |= names[i].option;
        else if (length)
            diag_report("ole32mem: OLE32MEM_DEBUG: unknown option '%.*s' (known: trace, leaks, check, guard, fill, "
                        "stats, all)",
                        (int)length, text);
        text += length;
        text += strspn(text, ", ");
    }
    return options;
}

/* A number setting: its value, or `fallback` (with a report) when it is not a number in [0, max]. */
static unsigned long number_setting(const char *name, unsigned long fallback, unsigned long max)
{
    char buffer[NUMBER_CHARS], *end;
    const char *text = plat_setting(name, buffer, sizeof(buffer));
    unsigned long value;

    if (!text || !*text)
        return fallback;
    value = strtoul(text, &end, 10);
    if (*end || value > max)
    {
        diag_report("ole32mem: %s=%s: not a number from 0 to %lu; using %lu", name, text, max, fallback);
        return fallback;
    }
    return value;
}

void diag_configure(const char *options, const char *log_path, const char *leaks_limit, const char *suppress)
{
    if (!options || !*options)
        return;
    /* The log first, so that complaints about the options go there too. */
    if (log_path && *log_path)
        diag_log_open(log_path);
    diag_options = parse_options(options);
    if (!diag_options)
        return;
    if (leaks_limit && *leaks_limit)
        diag_leaks_max = strtoul(leaks_limit, NULL, 10);
    diag_stack_depth = (unsigned)number_setting("OLE32MEM_STACK_DEPTH", DIAG_STACK_DEPTH_DEFAULT, DIAG_STACK_DEPTH_MAX);
    diag_leaks_exitcode = (int)number_setting("OLE32MEM_LEAKS_EXITCODE", (unsigned long)-1, 255);
    diag_suppress_configure(suppress);
    if ((diag_stack_depth && (diag_options & (DIAG_LEAKS | DIAG_GUARD | DIAG_CHECK))) ||
        diag_suppressions_need_functions())
    {
        plat_capture_prepare();
        plat_symbols_prepare();
    }
    /* While every thread runs: how the exit report will know whether it may ask the heap (diag_records.c) and
     * name frames through dbghelp. Every option reports at exit (stats, and the stacks that check: reports named). */
    plat_heap_probe_lock();
    atomic_fetch_or_explicit(&task_route, TASK_ROUTE_DIAGNOSTICS, memory_order_release);
}
