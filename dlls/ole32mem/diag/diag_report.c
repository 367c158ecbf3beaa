/*
 * Every line the diagnostics write: where reports go (OLE32MEM_LOG, "%p" expanded here for every platform), the
 * trace and the per-function counters (DIAG_TRACE, DIAG_STATS), and the leak reports (at exit and at the
 * checkpoint exports): leaks grouped by allocation stack, largest first, each with its frames named at report time,
 * suppressions applied, what each suppression hid; the guard check of the blocks still live, the stacks that
 * earlier reports named by id, the statistics and the exit code (OLE32MEM_LEAKS_EXITCODE).
 *
 * Owns the call counters and the checkpoint (reported_through). Invariants: a report is one line written in one
 * piece (plat_log_write), so that lines of several threads or processes sharing a log never interleave; reports
 * only read the records (diag_records.c), never change them. A leak report runs in two steps: diag_leaks_collect
 * under task_memory.c's lock (copies what it needs: groups, totals, counters), diag_leaks_emit outside every lock of
 * ours (names the frames through diag_symbols.c, which may take the loader's lock, load dbghelp and start the
 * external symbolizer). The counters and the checkpoint are guarded by task_memory.c's lock.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"
#include "platform_report.h"
#include "platform_stacks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    unsigned long error;
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
    if ((error = plat_log_open(expanded)))
        diag_report("ole32mem: cannot open OLE32MEM_LOG=%s (error %lu); using stderr", expanded, error);
}

void diag_call(enum diag_operation operation, const void *block, SIZE_T size, const void *result,
               const struct diag_site *call_site)
{
    char by[SITE_CHARS];
    /* The trace names the caller only: every traced stack would otherwise be printed in full at exit. */
    struct diag_site caller = *call_site, *site = &caller;

    calls[operation]++;
    if (!(diag_options & DIAG_TRACE))
        return;
    caller.stack = 0;
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

/* --- the leak report ------------------------------------------------------------------------------------------- */

static unsigned long long reported_through; /* checkpoint: blocks with a sequence up to this are not listed again */

struct leak_group
{
    uint32_t stack;        /* the allocation stack, or 0 (OLE32MEM_STACK_DEPTH=0): then grouped by caller */
    uintptr_t key;         /* what the group is keyed by: the stack's id, or the caller's address */
    struct diag_site site; /* the example's allocating call */
    size_t count, bytes;
    const void *example; /* the earliest block of the group: the first one to look at */
    size_t example_size;
    uintptr_t example_thread;
    unsigned long long example_sequence;
    int suppressed_by; /* set by the emit step: a suppression's index, or -1 */
};

/* A collection lives in pages of its own (plat_report_pages), never in the bookkeeping heap: at process exit an
 * ended thread may hold that heap's lock. */
struct diag_leaks
{
    unsigned flags;
    size_t memory;             /* bytes of pages holding this structure and its groups */
    struct leak_group *groups; /* one per leaked block while collecting, merged per key before the report */
    size_t group_count, capacity;
    size_t dropped;         /* leaked blocks that did not fit (the pages could not be had) */
    size_t freed_elsewhere; /* freed through the system ole32 or the heap: not leaks */
    size_t freed_elsewhere_bytes;
    size_t live_count, live_bytes; /* the records that are still live blocks */
    size_t unverified;             /* leaks that nothing proves are still ours (diag_record_is_current) */
    unsigned long long checkpoint, newest;
    struct diag_live_totals totals;
    unsigned long long calls[DIAG_OP_COUNT];
};

static void count_record(const void *block, void *value, void *context)
{
    (void)block;
    (void)value;
    ++*(size_t *)context;
}

static void collect_leak(const void *block, void *value, void *context)
{
    struct diag_leaks *leaks = context;
    const struct diag_block *record = value;
    struct leak_group *group;
    enum diag_record_state state = diag_record_is_current(record, 1);

    if (state == DIAG_RECORD_STALE)
    {
        leaks->freed_elsewhere++;
        leaks->freed_elsewhere_bytes += record->size;
        return;
    }
    leaks->live_count++;
    leaks->live_bytes += record->size;
    if (leaks->flags & DIAG_COLLECT_EXIT)
        diag_check_record_guard(record, block, "exit");
    if (record->sequence > leaks->newest)
        leaks->newest = record->sequence;
    if (!(diag_options & DIAG_LEAKS) || !(leaks->flags & DIAG_COLLECT_REPORT) || record->sequence <= leaks->checkpoint)
        return;
    if (leaks->group_count == leaks->capacity)
    {
        leaks->dropped++;
        return;
    }
    leaks->unverified += state == DIAG_RECORD_UNVERIFIED;
    group = &leaks->groups[leaks->group_count++];
    group->stack = record->site.stack;
    group->key = record->site.stack ? record->site.stack : (uintptr_t)record->site.address;
    group->site = record->site;
    group->count = 1;
    group->bytes = record->size;
    group->example = block;
    group->example_size = record->size;
    group->example_thread = record->thread;
    group->example_sequence = record->sequence;
}

static int by_key(const void *a, const void *b)
{
    const struct leak_group *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->example_sequence < y->example_sequence ? -1 : x->example_sequence > y->example_sequence;
}

/* One group per key: the blocks sorted by key, each run merged into its first (earliest) block. */
static void merge_groups(struct diag_leaks *leaks)
{
    size_t in, out = 0;

    if (!leaks->group_count)
        return;
    qsort(leaks->groups, leaks->group_count, sizeof(*leaks->groups), by_key);
    for (in = 1; in < leaks->group_count; in++)
    {
        if (leaks->groups[in].key == leaks->groups[out].key)
        {
            leaks->groups[out].count++;
            leaks->groups[out].bytes += leaks->groups[in].bytes;
        }
        else
            leaks->groups[++out] = leaks->groups[in];
    }
    leaks->group_count = out + 1;
}

struct diag_leaks *diag_leaks_collect(unsigned flags)
{
    struct diag_leaks *leaks;
    size_t records = 0, memory;

    /* Room for every filed record: a leaked block is one group until they are merged. */
    diag_foreach_record(count_record, &records);
    memory = sizeof(*leaks) + records * sizeof(*leaks->groups);
    if (records > (SIZE_MAX - sizeof(*leaks)) / sizeof(*leaks->groups) || !(leaks = plat_report_pages(memory)))
    {
        memory = sizeof(*leaks);
        records = 0;
        if (!(leaks = plat_report_pages(memory)))
            return NULL;
    }
    leaks->flags = flags;
    leaks->memory = memory;
    leaks->groups = (struct leak_group *)(leaks + 1);
    leaks->capacity = records;
    leaks->checkpoint = reported_through;
    if (diag_options & (DIAG_LEAKS | DIAG_GUARD | DIAG_STATS))
        diag_foreach_record(collect_leak, leaks);
    /* Everything outstanding now counts as reported: a later report lists only what is newer. */
    if ((flags & DIAG_COLLECT_MARK) && leaks->newest > reported_through)
        reported_through = leaks->newest;
    leaks->totals = diag_live_totals();
    memcpy(leaks->calls, calls, sizeof(calls));
    return leaks;
}

static int by_bytes_descending(const void *a, const void *b)
{
    const struct leak_group *x = a, *y = b;

    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->example_sequence > y->example_sequence ? 1 : x->example_sequence < y->example_sequence ? -1 : 0;
}

/* The frames of a group: its stack's, or its caller alone. */
static unsigned group_frames(const struct leak_group *group, const void *const **frames)
{
    unsigned count = group->stack ? diag_stack_frames(group->stack, frames) : 0;

    if (!count)
    {
        *frames = &group->site.address;
        count = 1;
    }
    return count;
}

/* Which suppression hides a group (-1: none). With suppressions of function names, `names` holds the group's frames
 * (every function inlined at a frame counts); otherwise only module names are needed, and `names` may be NULL. */
static int group_suppression(const struct leak_group *group, struct diag_names *names)
{
    const char *modules[DIAG_STACK_DEPTH_MAX * DIAG_INLINE_MAX], *functions[DIAG_STACK_DEPTH_MAX * DIAG_INLINE_MAX];
    const void *const *frames;
    unsigned count = group_frames(group, &frames), i, j, named, total = 0;
    uintptr_t base;

    if (!diag_suppression_count())
        return -1;
    for (i = 0; i < count; i++)
    {
        if (!diag_suppressions_need_functions())
        {
            modules[total] = diag_module_of(frames[i], &base);
            functions[total++] = NULL;
            continue;
        }
        named = diag_names_of(names, frames[i], &modules[total], &functions[total], DIAG_INLINE_MAX);
        for (j = 1; j < named; j++)
            modules[total + j] = modules[total];
        total += named;
    }
    return diag_suppression_match(total, modules, functions);
}

/* Frames as lines, numbered from 0; a frame where functions were inlined takes a line for each, at one address. */
static void print_frames(const char *prefix, const void *const *frames, unsigned count, struct diag_names *names)
{
    char frame[FRAME_CHARS];
    unsigned i, j, lines, number = 0;

    for (i = 0; i < count; i++)
    {
        lines = diag_names_lines(names, frames[i]);
        for (j = 0; j < lines; j++)
            diag_report("%s#%u %s", prefix, number++, diag_names_frame(names, frames[i], j, frame, sizeof(frame)));
    }
}

/* The stacks that reports made under the lock named by id (guard, double free, ...), in full; or, when not `print`,
 * their frames added to the names the report will look up. */
static void print_referenced_stacks(struct diag_names *names, int print)
{
    struct diag_depot_totals depot = diag_stack_totals();
    const void *const *frames;
    uint32_t id;
    unsigned count;

    for (id = 1; id <= depot.stacks; id++)
    {
        if (!diag_stack_is_referenced(id) || !(count = diag_stack_frames(id, &frames)))
            continue;
        if (!print)
        {
            diag_names_add(names, frames, count);
            continue;
        }
        diag_report("ole32mem: stack #%lu:", (unsigned long)id);
        print_frames("ole32mem:   ", frames, count, names);
    }
}

static size_t report_leaks(struct diag_leaks *leaks, struct diag_names *names)
{
    unsigned suppressions = diag_suppression_count();
    size_t hid_blocks[DIAG_SUPPRESS_MAX] = {0}, hid_bytes[DIAG_SUPPRESS_MAX] = {0};
    size_t blocks = 0, bytes = 0, suppressed = 0, shown_groups = 0, printed = 0, i;
    const int at_exit = leaks->flags & DIAG_COLLECT_EXIT;
    char where[SITE_CHARS];
    const void *const *frames;
    unsigned count;

    merge_groups(leaks);
    if (leaks->group_count)
        qsort(leaks->groups, leaks->group_count, sizeof(*leaks->groups), by_bytes_descending);
    /* Suppressions of function names need every group's frames named; otherwise only the printed groups'. */
    for (i = 0; diag_suppression_count() && diag_suppressions_need_functions() && i < leaks->group_count; i++)
        if (leaks->groups[i].stack && (count = group_frames(&leaks->groups[i], &frames)))
            diag_names_add(names, frames, count);
    for (i = 0; i < leaks->group_count; i++)
    {
        struct leak_group *group = &leaks->groups[i];

        group->suppressed_by = group_suppression(group, names);
        if (group->suppressed_by >= 0 && (unsigned)group->suppressed_by < suppressions)
        {
            hid_blocks[group->suppressed_by] += group->count;
            hid_bytes[group->suppressed_by] += group->bytes;
            suppressed += group->count;
            continue;
        }
        blocks += group->count;
        bytes += group->bytes;
        shown_groups++;
    }
    diag_report("ole32mem: leaks: %lu blocks, %lu bytes %s (pid %lu; %lu suppressed), %lu allocation %s:",
                (unsigned long)blocks, (unsigned long)bytes,
                at_exit ? "never freed" : "outstanding since the last checkpoint", plat_process_id(),
                (unsigned long)suppressed, (unsigned long)shown_groups, diag_stack_depth ? "stacks" : "sites");
    if (leaks->freed_elsewhere)
        diag_report("ole32mem: leaks: (%lu more blocks were freed or moved by another allocator)",
                    (unsigned long)leaks->freed_elsewhere);
    /* Only when another allocator is known to have freed, moved or resized a block of ours: then an unverified
     * block may be its block at a reused address. A note on every report would teach people to ignore it. */
    if (leaks->unverified && (leaks->freed_elsewhere || diag_records_seen_foreign()))
        diag_report(
            "ole32mem: leaks-note: %llu of these blocks are unverified: another allocator freed or moved "
            "blocks of ole32mem in this process, and without `guard` (or when its bytes cannot be read at exit) "
            "a block it freed whose address now holds a block of the same size looks like a leak (see "
            "docs/diagnostics.md)",
            (unsigned long long)leaks->unverified);
    if (leaks->dropped)
        diag_report("ole32mem: leaks: out of memory for the report: %lu blocks are not listed",
                    (unsigned long)leaks->dropped);
    for (i = 0; i < leaks->group_count && printed < diag_leaks_max; i++)
    {
        if (leaks->groups[i].suppressed_by >= 0)
            continue;
        printed++;
        if (leaks->groups[i].stack && (count = group_frames(&leaks->groups[i], &frames)))
            diag_names_add(names, frames, count);
    }
    for (printed = 0, i = 0; i < leaks->group_count && printed < diag_leaks_max; i++)
    {
        struct leak_group *group = &leaks->groups[i];

        if (group->suppressed_by >= 0)
            continue;
        printed++;
        /* The allocating call as module+0xoffset: named when it was made, or now (outside every lock). */
        diag_describe_caller(&group->site, where, sizeof(where));
        diag_report("ole32mem: leaks:   %lu bytes in %lu blocks from %s, e.g. %p (%lu bytes, thread %#lx, seq %llu)",
                    (unsigned long)group->bytes, (unsigned long)group->count, where, group->example,
                    (unsigned long)group->example_size, (unsigned long)group->example_thread, group->example_sequence);
        if (group->stack && (count = group_frames(group, &frames)))
            print_frames("ole32mem: leaks:     ", frames, count, names);
    }
    if (shown_groups > printed)
        diag_report("ole32mem: leaks:   ... %lu more %s (OLE32MEM_LEAKS_MAX=%lu)",
                    (unsigned long)(shown_groups - printed), diag_stack_depth ? "stacks" : "sites", diag_leaks_max);
    diag_suppressions_report(hid_blocks, hid_bytes);
    return blocks;
}

void diag_leaks_note_heap(enum plat_heap_lock_state heap_lock)
{
    if (heap_lock == PLAT_HEAP_LOCK_HELD)
        diag_report("ole32mem: leaks-note: the process exit ended a thread that held the process heap's lock: blocks "
                    "are judged by their guard alone, frames are not named (see docs/diagnostics.md)");
    else if (heap_lock == PLAT_HEAP_LOCK_UNKNOWN)
        diag_report("ole32mem: leaks-note: the process heap's lock was not found: blocks are judged by their guard "
                    "alone (see docs/diagnostics.md)");
}

size_t diag_leaks_emit(struct diag_leaks *leaks)
{
    size_t blocks = 0;
    struct diag_depot_totals depot;
    struct diag_names *names = diag_names_begin();
    int op;

    /* Every frame the report prints is added before the first is named: the symbolizer runs once per module. */
    if (leaks->flags & DIAG_COLLECT_EXIT)
        print_referenced_stacks(names, 0);
    if ((diag_options & DIAG_LEAKS) && (leaks->flags & DIAG_COLLECT_REPORT))
        blocks = report_leaks(leaks, names);
    if (leaks->flags & DIAG_COLLECT_EXIT)
        print_referenced_stacks(names, 1);
    diag_names_end(names);
    if (leaks->flags & DIAG_COLLECT_EXIT)
    {
        if (diag_options & DIAG_STATS)
        {
            depot = diag_stack_totals();
            for (op = 0; op < DIAG_OP_COUNT; op++)
                diag_report("ole32mem: stats: %-12s %llu calls", diag_operation_names[op], leaks->calls[op]);
            /* The records of blocks that another allocator freed are not live blocks, though no call has met
             * them since: the peak may still count some. */
            diag_report("ole32mem: stats: live now %lu blocks, %lu bytes; peak %lu blocks, %lu bytes",
                        (unsigned long)leaks->live_count, (unsigned long)leaks->live_bytes,
                        (unsigned long)leaks->totals.peak_count, (unsigned long)leaks->totals.peak_bytes);
            if (leaks->freed_elsewhere)
                diag_report("ole32mem: stats: %lu blocks, %lu bytes freed or moved by another allocator",
                            (unsigned long)leaks->freed_elsewhere, (unsigned long)leaks->freed_elsewhere_bytes);
            if (diag_stack_depth)
                diag_report("ole32mem: stats: stack depot %lu stacks, %lu bytes (OLE32MEM_STACK_DEPTH=%u)",
                            (unsigned long)depot.stacks, (unsigned long)depot.bytes, diag_stack_depth);
        }
    }
    /* At process exit only: an unload (FreeLibrary) returns to a program that goes on (docs/diagnostics.md). */
    if ((leaks->flags & DIAG_COLLECT_EXIT_CODE) && blocks && diag_leaks_exitcode >= 0)
    {
        diag_report("ole32mem: leaks: exiting with code %d (OLE32MEM_LEAKS_EXITCODE)", diag_leaks_exitcode);
        plat_report_pages_free(leaks, leaks->memory);
        plat_exit_process(diag_leaks_exitcode);
        return blocks;
    }
    plat_report_pages_free(leaks, leaks->memory);
    return blocks;
}
