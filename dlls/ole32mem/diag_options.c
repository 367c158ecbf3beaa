/*
 * The diagnostics' settings, read once at start-up (ole32mem.c's DllMain, or a host test):
 *
 * OLE32MEM_DEBUG=opt,opt,...  trace | leaks | check | guard | fill | stats | all
 * OLE32MEM_LOG=path           reports go there (appended; %p becomes the process id) instead of stderr
 * OLE32MEM_LEAKS_MAX=n        at most n allocation sites in the leak report (default 20)
 * OLE32MEM_SUPPRESS=a.dll,... leaks allocated from these modules are not reported
 *
 * Owns diag_options, the leak-report limit and the suppressed modules. Invariant: all of them are written only by
 * diag_configure, before the first allocation, and only read after it; the diagnostics route (TASK_ROUTE_DIAGNOSTICS)
 * is turned on last, so that no call takes the slow path for them before they are set. Never turns anything off.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"
#include "platform_report.h"
#include "task_memory.h"

#include <stdlib.h>
#include <string.h>

enum
{
    DEFAULT_LEAKS_MAX = 20,
    SUPPRESS_MAX = 16,
};

unsigned diag_options;
unsigned long diag_leaks_max = DEFAULT_LEAKS_MAX;

static char suppressed[SUPPRESS_MAX][MODULE_NAME_MAX];
static unsigned suppressed_count;

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

static void parse_suppress(const char *text)
{
    while (text && *text && suppressed_count < SUPPRESS_MAX)
    {
        size_t length = strcspn(text, ",");

        if (length && length < MODULE_NAME_MAX)
        {
            memcpy(suppressed[suppressed_count], text, length);
            suppressed[suppressed_count++][length] = 0;
        }
        text += length;
        text += strspn(text, ",");
    }
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
    parse_suppress(suppress);
    atomic_fetch_or_explicit(&task_route, TASK_ROUTE_DIAGNOSTICS, memory_order_release);
}

int diag_is_suppressed(const struct diag_site *site)
{
    unsigned i;

    if (!site->module)
        return 0;
    for (i = 0; i < suppressed_count; i++)
        if (!plat_name_compare(site->module, suppressed[i]))
            return 1;
    return 0;
}
