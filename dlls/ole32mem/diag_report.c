/*
 * Every line the diagnostics write: where reports go (OLE32MEM_LOG, "%p" expanded here for every platform), the
 * trace and the per-function counters (DIAG_TRACE, DIAG_STATS), and the end-of-process reports: leaks grouped by
 * allocating call site, the guard check of the blocks still live, the statistics.
 *
 * Owns the call counters. Invariants: a report is one line written in one piece (plat_log_write), so that lines of
 * several threads or processes sharing a log never interleave; reports only read the records (diag_records.c),
 * never change them. Runs under task_memory.c's lock (the exit report is taken under it, or without it when
 * another thread died holding it at process exit).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"
#include "platform_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum
{
    LINE_MAX_CHARS = 512,
    LOG_PATH_CHARS = 4096,
    /* Room kept at the end of the expanded path for one more process id. */
    PID_CHARS = 16,
};

const char *const diag_operation_names[DIAG_OP_COUNT] = {"Alloc",   "Realloc",  "Free",
                                                         "GetSize", "DidAlloc", "HeapMinimize"};

static unsigned long long calls[DIAG_OP_COUNT];

void diag_report(const char *format, ...)
{
    char line[LINE_MAX_CHARS];
    va_list args;
    int length;

    va_start(args, format);
    length = vsnprintf(line, sizeof(line) - 1, format, args);
    va_end(args);
    if (length < 0)
        return;
    if ((size_t)length > sizeof(line) - 2)
        length = sizeof(line) - 2;
    line[length++] = '\n';
    plat_log_write(line, (size_t)length);
}

void diag_log_open(const char *path)
{
    char expanded[LOG_PATH_CHARS];
    size_t out = 0;

    for (; *path && out < sizeof(expanded) - PID_CHARS; path++)
    {
        if (path[0] == '%' && path[1] == 'p')
        {
            out += (size_t)snprintf(expanded + out, sizeof(expanded) - out, "%lu", plat_process_id());
            path++;
        }
        else
            expanded[out++] = *path;
    }
    expanded[out] = 0;
    plat_log_open(expanded);
}

void diag_call(enum diag_operation operation, const void *block, SIZE_T size, const void *result,
               const struct diag_site *site)
{
    char by[SITE_CHARS];

    calls[operation]++;
    if (!(diag_options & DIAG_TRACE))
        return;
    switch (operation)
    {
    case DIAG_OP_ALLOC:
        diag_report("ole32mem: trace: Alloc(%lu) = %p by %s, thread %#lx", (unsigned long)size, result,
                    diag_describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
        break;
    case DIAG_OP_REALLOC:
        diag_report("ole32mem: trace: Realloc(%p, %lu) = %p by %s, thread %#lx", block, (unsigned long)size, result,
                    diag_describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
        break;
    case DIAG_OP_FREE:
        diag_report("ole32mem: trace: Free(%p) by %s, thread %#lx", block, diag_describe(site, by, sizeof(by)),
                    (unsigned long)plat_thread_id());
        break;
    case DIAG_OP_GET_SIZE:
    case DIAG_OP_DID_ALLOC:
        diag_report("ole32mem: trace: %s(%p) = %ld by %s, thread %#lx", diag_operation_names[operation], block,
                    (long)(intptr_t)result, diag_describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
        break;
    default:
        diag_report("ole32mem: trace: %s() by %s, thread %#lx", diag_operation_names[operation],
                    diag_describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
        break;
    }
}

/* The leak report: live blocks grouped by allocating call site, largest first. */
struct leak_site
{
    const void *caller; /* the call site's address: one group per call instruction */
    size_t count, bytes;
    const void *example;
    const struct diag_block *example_record;
};

struct leak_collection
{
    struct leak_site *sites;
    size_t site_count, capacity;
    size_t blocks, bytes, suppressed_blocks;
    size_t freed_elsewhere; /* freed through the system ole32 or the heap: not leaks */
};

static void collect_leak(const void *block, void *value, void *context)
{
    struct leak_collection *leaks = context;
    const struct diag_block *record = value;
    size_t i;

    if (!diag_record_is_current(record))
    {
        leaks->freed_elsewhere++;
        return;
    }
    diag_check_record_guard(record, block, "exit");
    if (!(diag_options & DIAG_LEAKS))
        return;
    if (diag_is_suppressed(&record->site))
    {
        leaks->suppressed_blocks++;
        return;
    }
    leaks->blocks++;
    leaks->bytes += record->size;
    for (i = 0; i < leaks->site_count; i++)
        if (leaks->sites[i].caller == record->site.address)
            break;
    if (i == leaks->site_count)
    {
        if (leaks->site_count == leaks->capacity)
            return; /* sized for every live block: cannot happen */
        leaks->sites[i].caller = record->site.address;
        leaks->sites[i].example = block;
        leaks->sites[i].example_record = record;
        leaks->site_count++;
    }
    leaks->sites[i].count++;
    leaks->sites[i].bytes += record->size;
    /* The example is the earliest block of the site: the first one to look at. */
    if (record->sequence < leaks->sites[i].example_record->sequence)
    {
        leaks->sites[i].example = block;
        leaks->sites[i].example_record = record;
    }
}

static int by_bytes_descending(const void *a, const void *b)
{
    const struct leak_site *x = a, *y = b;

    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void report_leaks(void)
{
    struct leak_collection leaks = {0};
    char site[SITE_CHARS];
    size_t i, live = diag_live_records();

    leaks.capacity = live ? live : 1;
    leaks.sites = plat_meta_alloc(leaks.capacity * sizeof(*leaks.sites));
    if (!leaks.sites)
    {
        diag_report("ole32mem: leaks: out of memory for the report (%lu blocks live)", (unsigned long)live);
        return;
    }
    diag_foreach_record(collect_leak, &leaks);
    if (diag_options & DIAG_LEAKS)
    {
        qsort(leaks.sites, leaks.site_count, sizeof(*leaks.sites), by_bytes_descending);
        diag_report("ole32mem: leaks: %lu blocks, %lu bytes never freed (pid %lu; %lu suppressed), %lu allocation "
                    "sites:",
                    (unsigned long)leaks.blocks, (unsigned long)leaks.bytes, plat_process_id(),
                    (unsigned long)leaks.suppressed_blocks, (unsigned long)leaks.site_count);
        if (leaks.freed_elsewhere)
            diag_report("ole32mem: leaks: (%lu more blocks were freed or moved by another allocator)",
                        (unsigned long)leaks.freed_elsewhere);
        for (i = 0; i < leaks.site_count && i < diag_leaks_max; i++)
        {
            const struct leak_site *s = &leaks.sites[i];

            diag_report(
                "ole32mem: leaks:   %lu bytes in %lu blocks from %s, e.g. %p (%lu bytes, thread %#lx, seq %llu)",
                (unsigned long)s->bytes, (unsigned long)s->count,
                diag_describe(&s->example_record->site, site, sizeof(site)), s->example,
                (unsigned long)s->example_record->size, (unsigned long)s->example_record->thread,
                s->example_record->sequence);
        }
        if (leaks.site_count > diag_leaks_max)
            diag_report("ole32mem: leaks:   ... %lu more sites (OLE32MEM_LEAKS_MAX=%lu)",
                        (unsigned long)(leaks.site_count - diag_leaks_max), diag_leaks_max);
    }
    plat_meta_free(leaks.sites);
}

void diag_report_at_exit(void)
{
    struct diag_live_totals totals;
    int op;

    if (!diag_options)
        return;
    if (diag_options & (DIAG_LEAKS | DIAG_GUARD))
        report_leaks();
    if (diag_options & DIAG_STATS)
    {
        totals = diag_live_totals();
        for (op = 0; op < DIAG_OP_COUNT; op++)
            diag_report("ole32mem: stats: %-12s %llu calls", diag_operation_names[op], calls[op]);
        diag_report("ole32mem: stats: live now %lu blocks, %lu bytes; peak %lu blocks, %lu bytes",
                    (unsigned long)totals.count, (unsigned long)totals.bytes, (unsigned long)totals.peak_count,
                    (unsigned long)totals.peak_bytes);
    }
}
