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
 *                             (0 to 255; never at an unload)
 * A number setting that is not decimal digits within its range is reported in one line and not used: the default
 * applies, or for OLE32MEM_LEAKS_EXITCODE the option is off.
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

#include <limits.h>
#include <string.h>

enum
{
    DEFAULT_LEAKS_MAX = 20,
    EXITCODE_MAX = 255,
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

/* A number setting's value: decimal digits only, at most `max` (no sign, no blank, no overflow). Anything else is
 * reported in one line, saying what applies instead (`instead`, or "using `fallback`" when NULL), and answers
 * `fallback`. */
static unsigned long parse_number(const char *name, const char *text, unsigned long max, unsigned long fallback,
                                  const char *instead)
{
    unsigned long value = 0, digit;
    const char *p;

    if (!text || !*text)
        return fallback;
    for (p = text; *p >= '0' && *p <= '9'; p++)
    {
        digit = (unsigned long)(*p - '0');
        if (value > (max - digit) / 10 || digit > max)
            break;
        value = value * 10 + digit;
    }
    if (p != text && !*p)
        return value;
    if (instead)
        diag_report("ole32mem: %s=%s: not a number from 0 to %lu; %s", name, text, max, instead);
    else
        diag_report("ole32mem: %s=%s: not a number from 0 to %lu; using %lu", name, text, max, fallback);
    return fallback;
}

static unsigned long number_setting(const char *name, unsigned long max, unsigned long fallback, const char *instead)
{
    char buffer[NUMBER_CHARS];

    return parse_number(name, plat_setting(name, buffer, sizeof(buffer)), max, fallback, instead);
}

void diag_configure(const char *options, const char *log_path, const char *leaks_limit, const char *suppress)
{
    char exitcode[NUMBER_CHARS];

    if (!options || !*options)
        return;
    /* The log first, so that complaints about the options go there too. */
    if (log_path && *log_path)
        diag_log_open(log_path);
    diag_options = parse_options(options);
    if (!diag_options)
        return;
    diag_leaks_max = parse_number("OLE32MEM_LEAKS_MAX", leaks_limit, ULONG_MAX, DEFAULT_LEAKS_MAX, NULL);
    diag_stack_depth =
        (unsigned)number_setting("OLE32MEM_STACK_DEPTH", DIAG_STACK_DEPTH_MAX, DIAG_STACK_DEPTH_DEFAULT, NULL);
    if (plat_setting("OLE32MEM_LEAKS_EXITCODE", exitcode, sizeof(exitcode)))
        diag_leaks_exitcode = (int)parse_number("OLE32MEM_LEAKS_EXITCODE", exitcode, EXITCODE_MAX, (unsigned long)-1,
                                                "the option is off");
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
