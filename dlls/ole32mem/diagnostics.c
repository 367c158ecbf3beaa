/*
 * Diagnostics of COM task memory: trace, leak report, checks of bad pointers, guard bytes, fill patterns, stats.
 *
 * OLE32MEM_DEBUG=opt,opt,...  trace | leaks | check | guard | fill | stats | all
 * OLE32MEM_LOG=path           reports go there (appended; %p becomes the process id) instead of stderr
 * OLE32MEM_LEAKS_MAX=n        at most n allocation sites in the leak report (default 20)
 * OLE32MEM_SUPPRESS=a.dll,... leaks allocated from these modules are not reported
 *
 * Everything here runs under task_memory.c's lock (diag_configure runs before any allocation; the exit report
 * takes the lock itself). Records of live blocks sit in a block table keyed by the pointer the program holds;
 * recently freed pointers sit in a bounded ring with a table for lookup, so that a second free of the same pointer
 * is named a double free. A pointer is only kept from the heap when the heap itself says it is not a live block:
 * an address that was freed here and then handed out by another allocator (combase) is that allocator's block.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diagnostics.h"
#include "blocktable.h"
#include "platform_report.h"
#include "task_memory.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum
{
    GUARD_SIZE = 16,
    GUARD_BYTE = 0xfd, /* the MSVC debug heap's "no man's land" */
    FILL_NEW = 0xcd,   /* MSVC: clean memory */
    FILL_FREED = 0xdd, /* MSVC: dead memory */
    FREED_RING_SIZE = 4096,
    DEFAULT_LEAKS_MAX = 20,
    LINE_MAX_CHARS = 512,
    SUPPRESS_MAX = 16,
    MODULE_NAME_MAX = 260,
};

struct diag_block
{
    SIZE_T size;        /* what the program asked for */
    SIZE_T actual_size; /* what the heap block holds before the guard (the spy's size) */
    void *actual;       /* the heap block (differs from the program's pointer under a header spy) */
    struct diag_site site;
    uintptr_t thread;
    unsigned long long sequence;
};

unsigned diag_options;

static struct block_table live_blocks = BLOCK_TABLE_INIT_VALUES;
static struct block_table freed_blocks = BLOCK_TABLE_INIT_VALUES; /* value: 1 + its index in freed_ring */
static void *freed_ring[FREED_RING_SIZE];
static size_t freed_next;
static unsigned long long next_sequence = 1;
static unsigned long leaks_max = DEFAULT_LEAKS_MAX;
static char suppressed[SUPPRESS_MAX][MODULE_NAME_MAX];
static unsigned suppressed_count;

/* Modules that allocated, by address range, with their names; entries are never removed, so records can point at
 * the names. Guarded by module_lock, which is never held across a call out of this file. */
enum
{
    MODULES_MAX = 256,
};
static struct
{
    uintptr_t base, end;
    char name[MODULE_NAME_MAX];
} modules[MODULES_MAX];
static unsigned module_count;
static plat_mutex module_lock = PLAT_MUTEX_INIT;

static unsigned long long calls[DIAG_OP_COUNT];
static size_t live_count, live_bytes, peak_count, peak_bytes;

static const char *const operation_names[DIAG_OP_COUNT] = {"Alloc", "Realloc", "Free", "GetSize", "DidAlloc",
                                                           "HeapMinimize"};

static void report(const char *format, ...)
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

static const char *cached_module(uintptr_t address, uintptr_t *base)
{
    const char *name = NULL;
    unsigned i;

    plat_mutex_lock(&module_lock);
    for (i = module_count; i-- > 0;)
    {
        if (modules[i].base <= address && address < modules[i].end)
        {
            name = modules[i].name;
            *base = modules[i].base;
            break;
        }
    }
    plat_mutex_unlock(&module_lock);
    return name;
}

/* Keeps a module's name for good; returns the kept copy (NULL when the table is full). */
static const char *keep_module(const char *name, uintptr_t base, size_t image_size)
{
    const char *kept = NULL;
    unsigned i;

    plat_mutex_lock(&module_lock);
    for (i = 0; i < module_count && !kept; i++)
        if (modules[i].base == base && !strcmp(modules[i].name, name))
            kept = modules[i].name;
    if (!kept && module_count < MODULES_MAX)
    {
        modules[module_count].base = base;
        /* Without an image size (host build) the entry only serves as the name's home, never as a range. */
        modules[module_count].end = base + image_size;
        snprintf(modules[module_count].name, MODULE_NAME_MAX, "%s", name);
        kept = modules[module_count++].name;
    }
    plat_mutex_unlock(&module_lock);
    return kept;
}

void diag_resolve_site(const void *caller, struct diag_site *site)
{
    char name[MODULE_NAME_MAX];
    uintptr_t base = 0;
    size_t image_size;

    site->address = caller;
    site->module = cached_module((uintptr_t)caller, &base);
    if (!site->module && caller && plat_describe_address(caller, name, sizeof(name), &base, &image_size))
        site->module = keep_module(name, base, image_size);
    site->offset = site->module ? (uintptr_t)caller - base : 0;
}

/* "module+0xoffset" for a call site, or the bare address when no module contains it. */
static const char *describe(const struct diag_site *site, char *buffer, size_t size)
{
    if (site->module)
        snprintf(buffer, size, "%s+0x%lx", site->module, (unsigned long)site->offset);
    else
        snprintf(buffer, size, "%p", site->address);
    return buffer;
}

static int parse_options(const char *text)
{
    static const struct
    {
        const char *name;
        unsigned option;
    } names[] = {
        {"trace", DIAG_TRACE}, {"leaks", DIAG_LEAKS}, {"check", DIAG_CHECK}, {"guard", DIAG_GUARD},
        {"fill", DIAG_FILL},   {"stats", DIAG_STATS}, {"all", DIAG_TRACE | DIAG_LEAKS | DIAG_CHECK | DIAG_GUARD | DIAG_FILL | DIAG_STATS},
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
            report("ole32mem: OLE32MEM_DEBUG: unknown option '%.*s' (known: trace, leaks, check, guard, fill, stats, "
                   "all)",
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
        plat_log_open(log_path);
    diag_options = parse_options(options);
    if (!diag_options)
        return;
    if (leaks_limit && *leaks_limit)
        leaks_max = strtoul(leaks_limit, NULL, 10);
    parse_suppress(suppress);
    atomic_fetch_or_explicit(&task_route, TASK_ROUTE_DIAGNOSTICS, memory_order_release);
}

size_t diag_guard_size(void)
{
    return diag_options & DIAG_GUARD ? GUARD_SIZE : 0;
}

static unsigned char *guard_of(const struct diag_block *record)
{
    return (unsigned char *)record->actual + record->actual_size;
}

static int guard_intact(const struct diag_block *record)
{
    const unsigned char *guard = guard_of(record);
    size_t i;

    for (i = 0; i < GUARD_SIZE; i++)
        if (guard[i] != GUARD_BYTE)
            return 0;
    return 1;
}

static void report_overrun(const struct diag_block *record, const void *block, const char *when,
                           const struct diag_site *by)
{
    char site[MODULE_NAME_MAX + 32], by_site[MODULE_NAME_MAX + 32];

    report("ole32mem: guard: write past the end of block %p (%lu bytes) allocated by %s (thread %#lx, seq %llu), "
           "found at %s%s%s",
           block, (unsigned long)record->size, describe(&record->site, site, sizeof(site)),
           (unsigned long)record->thread, record->sequence, when, by ? " by " : "",
           by ? describe(by, by_site, sizeof(by_site)) : "");
}

static void forget_freed(const void *block)
{
    block_table_remove(&freed_blocks, block, NULL);
}

static void remember_freed(void *block)
{
    void *old = freed_ring[freed_next];
    void *index;

    /* The oldest entry leaves the ring; its table entry goes too unless the pointer was freed again since. */
    if (old && block_table_lookup(&freed_blocks, old, &index) && (uintptr_t)index == freed_next + 1)
        block_table_remove(&freed_blocks, old, NULL);
    freed_ring[freed_next] = block;
    block_table_insert(&freed_blocks, block, (void *)(uintptr_t)(freed_next + 1));
    freed_next = (freed_next + 1) % FREED_RING_SIZE;
}

/* Blocks cross freely to the system ole32, which can free or move one of ours without telling us. A record is
 * current while the heap block it names still has the size we gave it. */
static int record_is_current(const struct diag_block *record)
{
    return plat_heap_size(record->actual) == record->actual_size + diag_guard_size();
}

static void drop_record(struct diag_block *record, const void *block)
{
    block_table_remove(&live_blocks, block, NULL);
    live_count--;
    live_bytes -= record->size;
    plat_meta_free(record);
}

int diag_admit(enum diag_operation operation, void *block, const struct diag_site *site,
               struct diag_block **record)
{
    char by[MODULE_NAME_MAX + 32];
    void *value;
    int was_freed;

    if (block_table_lookup(&live_blocks, block, &value))
    {
        if (record_is_current(value))
        {
            *record = value;
            return 1;
        }
        /* Freed or moved by another allocator since (combase, HeapReAlloc): whatever lives at this address now is
         * not the block we recorded. */
        drop_record(value, block);
    }
    *record = NULL;
    if (!(diag_options & DIAG_CHECK) || plat_heap_owns(block))
        return 1; /* a live block of another allocator (combase, HeapAlloc): it is the heap's business */

    was_freed = block_table_lookup(&freed_blocks, block, NULL);
    switch (operation)
    {
    case DIAG_OP_FREE:
    case DIAG_OP_REALLOC:
        if (was_freed)
            report("ole32mem: check: %s of %p by %s: double free (the block was already freed); ignored",
                   operation_names[operation], block, describe(site, by, sizeof(by)));
        else
            report("ole32mem: check: %s of %p by %s: not a block of ole32mem nor a live heap block; ignored",
                   operation_names[operation], block, describe(site, by, sizeof(by)));
        return 0;
    default:
        if (!was_freed)
            return 1; /* GetSize/DidAlloc of a foreign pointer: the heap answers, as without diagnostics */
        report("ole32mem: check: %s of %p by %s: the block was freed", operation_names[operation], block,
               describe(site, by, sizeof(by)));
        return 0;
    }
}

void diag_allocated(void *block, void *actual, SIZE_T size, SIZE_T actual_size, SIZE_T old_size,
                    const struct diag_site *site)
{
    struct diag_block *record = plat_meta_alloc(sizeof(*record));
    void *stale;

    if (!record)
    {
        report("ole32mem: out of memory for the record of block %p: it will not be tracked", block);
        return;
    }
    record->size = size;
    record->actual_size = actual_size;
    record->actual = actual;
    record->site = *site;
    record->thread = (uintptr_t)plat_thread_id();
    record->sequence = next_sequence++;
    if (block_table_lookup(&live_blocks, block, &stale))
        drop_record(stale, block); /* freed by another allocator, and the address came back to us */
    if (!block_table_insert(&live_blocks, block, record))
    {
        report("ole32mem: out of memory for the record of block %p: it will not be tracked", block);
        plat_meta_free(record);
        return;
    }
    forget_freed(block);
    if (diag_options & DIAG_GUARD)
        memset(guard_of(record), GUARD_BYTE, GUARD_SIZE);
    if ((diag_options & DIAG_FILL) && size > old_size)
        memset((unsigned char *)block + old_size, FILL_NEW, size - old_size);
    live_count++;
    live_bytes += size;
    if (live_count > peak_count)
        peak_count = live_count;
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
}

void diag_check_guard(struct diag_block *record, void *block)
{
    if ((diag_options & DIAG_GUARD) && !guard_intact(record))
        report_overrun(record, block, "realloc", NULL);
}

void diag_released(struct diag_block *record, void *block, int freed)
{
    if (freed && (diag_options & DIAG_GUARD) && !guard_intact(record))
        report_overrun(record, block, "free", NULL);
    if (freed && (diag_options & DIAG_FILL))
        memset(block, FILL_FREED, record->size);
    block_table_remove(&live_blocks, block, NULL);
    if (freed)
        remember_freed(block);
    live_count--;
    live_bytes -= record->size;
    plat_meta_free(record);
}

SIZE_T diag_block_size(const struct diag_block *record)
{
    return record->size;
}

SIZE_T diag_visible_size(const struct diag_block *record, SIZE_T heap_size)
{
    if (!record || heap_size == (SIZE_T)-1 || heap_size < diag_guard_size())
        return heap_size;
    return heap_size - diag_guard_size();
}

void diag_call(enum diag_operation operation, const void *block, SIZE_T size, const void *result,
               const struct diag_site *site)
{
    char by[MODULE_NAME_MAX + 32];

    calls[operation]++;
    if (!(diag_options & DIAG_TRACE))
        return;
    switch (operation)
    {
    case DIAG_OP_ALLOC:
        report("ole32mem: trace: Alloc(%lu) = %p by %s, thread %#lx", (unsigned long)size, result,
               describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
        break;
    case DIAG_OP_REALLOC:
        report("ole32mem: trace: Realloc(%p, %lu) = %p by %s, thread %#lx", block, (unsigned long)size, result,
               describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
        break;
    case DIAG_OP_FREE:
        report("ole32mem: trace: Free(%p) by %s, thread %#lx", block, describe(site, by, sizeof(by)),
               (unsigned long)plat_thread_id());
        break;
    case DIAG_OP_GET_SIZE:
    case DIAG_OP_DID_ALLOC:
        report("ole32mem: trace: %s(%p) = %ld by %s, thread %#lx", operation_names[operation], block,
               (long)(intptr_t)result, describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
        break;
    default:
        report("ole32mem: trace: %s() by %s, thread %#lx", operation_names[operation],
               describe(site, by, sizeof(by)), (unsigned long)plat_thread_id());
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

static int is_suppressed(const struct diag_site *site)
{
    unsigned i;

    if (!site->module)
        return 0;
    for (i = 0; i < suppressed_count; i++)
        if (!plat_name_compare(site->module, suppressed[i]))
            return 1;
    return 0;
}

static void collect_leak(const void *block, void *value, void *context)
{
    struct leak_collection *leaks = context;
    const struct diag_block *record = value;
    size_t i;

    if (!record_is_current(record))
    {
        leaks->freed_elsewhere++;
        return;
    }
    if ((diag_options & DIAG_GUARD) && !guard_intact(record))
        report_overrun(record, block, "exit", NULL);
    if (!(diag_options & DIAG_LEAKS))
        return;
    if (is_suppressed(&record->site))
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
    char site[MODULE_NAME_MAX + 32];
    size_t i;

    leaks.capacity = live_blocks.count ? live_blocks.count : 1;
    leaks.sites = plat_meta_alloc(leaks.capacity * sizeof(*leaks.sites));
    if (!leaks.sites)
    {
        report("ole32mem: leaks: out of memory for the report (%lu blocks live)", (unsigned long)live_blocks.count);
        return;
    }
    block_table_foreach(&live_blocks, collect_leak, &leaks);
    if (diag_options & DIAG_LEAKS)
    {
        qsort(leaks.sites, leaks.site_count, sizeof(*leaks.sites), by_bytes_descending);
        report("ole32mem: leaks: %lu blocks, %lu bytes never freed (pid %lu; %lu suppressed), %lu allocation sites:",
               (unsigned long)leaks.blocks, (unsigned long)leaks.bytes, plat_process_id(),
               (unsigned long)leaks.suppressed_blocks, (unsigned long)leaks.site_count);
        if (leaks.freed_elsewhere)
            report("ole32mem: leaks: (%lu more blocks were freed or moved by another allocator)",
                   (unsigned long)leaks.freed_elsewhere);
        for (i = 0; i < leaks.site_count && i < leaks_max; i++)
        {
            const struct leak_site *s = &leaks.sites[i];

            report("ole32mem: leaks:   %lu bytes in %lu blocks from %s, e.g. %p (%lu bytes, thread %#lx, seq %llu)",
                   (unsigned long)s->bytes, (unsigned long)s->count, describe(&s->example_record->site, site, sizeof(site)),
                   s->example, (unsigned long)s->example_record->size, (unsigned long)s->example_record->thread,
                   s->example_record->sequence);
        }
        if (leaks.site_count > leaks_max)
            report("ole32mem: leaks:   ... %lu more sites (OLE32MEM_LEAKS_MAX=%lu)",
                   (unsigned long)(leaks.site_count - leaks_max), leaks_max);
    }
    plat_meta_free(leaks.sites);
}

void diag_report_at_exit(void)
{
    int op;

    if (!diag_options)
        return;
    if (diag_options & (DIAG_LEAKS | DIAG_GUARD))
        report_leaks();
    if (diag_options & DIAG_STATS)
    {
        for (op = 0; op < DIAG_OP_COUNT; op++)
            report("ole32mem: stats: %-12s %llu calls", operation_names[op], calls[op]);
        report("ole32mem: stats: live now %lu blocks, %lu bytes; peak %lu blocks, %lu bytes",
               (unsigned long)live_count, (unsigned long)live_bytes, (unsigned long)peak_count,
               (unsigned long)peak_bytes);
    }
}
