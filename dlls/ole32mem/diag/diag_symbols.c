/*
 * Naming the frames of one report: dbghelp first (plat_symbolize), then, for the frames it leaves without a source
 * line in modules whose files carry DWARF (GCC 12's -g writes DWARF 5, which Wine's dbghelp cannot read), an
 * external symbolizer (platform_symbolizer.h: the mingw binutils' addr2line), as LeakSanitizer does.
 *
 * A report first adds every frame it will print (diag_names_add), then asks for names: the first question resolves
 * every frame added so far at once, so that the symbolizer runs once per module per report with all of that
 * module's addresses, every module's program at the same time, under one time limit. An address the symbolizer
 * names may stand for several functions (inlined into each other): each is a frame line of its own, innermost
 * first, all at the same address, as LeakSanitizer prints them. Frames nobody could name print as module+0xoffset;
 * the report then says, in lines of its own at its end, which file each such module is (so that
 * tools/ole32mem-symbolize can name them later, from a saved log) and, once per process, how to get names.
 *
 * Owns a report's table of names (struct diag_names: allocated per report, freed at its end), symbols_unsafe and
 * the symbolizer's state at exit. Invariants: report time only, outside every lock of ours (dbghelp takes the
 * loader's and the process heap's lock, the symbolizer starts processes); after diag_symbols_unsafe (an exit report
 * whose thread may have been ended inside the heap or the loader) nothing is looked up at all: frames are
 * module+0xoffset. The exit report never starts the symbolizer when the exit ended a thread inside it (a process
 * creation interrupted there may block the next one for ever), and gives it a short time limit otherwise.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "blocktable.h"
#include "diag_internal.h"
#include "platform.h"
#include "platform_stacks.h"
#include "platform_symbolizer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum
{
    MODULES_PER_REPORT_MAX = 64,
    SYMBOLIZER_TIMEOUT_MS = 10000,
    /* The exit report's: the process's end waits for it (addr2line answers in well under a second). */
    SYMBOLIZER_EXIT_TIMEOUT_MS = 3000,
    ADDRESS_CHARS = 24, /* "0x" and 16 hex digits, a newline */
    FIRST_CAPACITY = 64,
};

/* One function of a frame: the frame's own, or one inlined into it. */
struct name
{
    size_t function, file; /* offsets into the string pool; 0: unknown */
    unsigned line;
};

struct entry
{
    const void *address; /* a return address */
    const char *module;  /* diag_sites.c's kept name (never freed), or NULL */
    uintptr_t base;
    /* dbghelp's answer (pool offsets, 0: unknown) */
    size_t function, file;
    unsigned line;
    uintptr_t function_offset;
    /* The symbolizer's: names[first .. first + count), innermost first. */
    size_t first;
    unsigned count;
    int module_index; /* in modules[]: for the symbolizer; -1: not */
    int resolved;
};

struct debug_module
{
    uintptr_t base;
    const char *name;
    int has_debug; /* plat_debug_module found DWARF in its file */
    struct plat_debug_module info;
    struct plat_symbolizer_job job;
    size_t *order; /* the entries whose addresses the job's input lists, in its order */
    size_t asked;
};

struct diag_names
{
    struct block_table index; /* address -> 1 + its entry's index */
    struct entry *entries;
    size_t entry_count, entry_capacity;
    struct name *names;
    size_t name_count, name_capacity;
    char *pool;
    size_t pool_length, pool_capacity;
    struct debug_module modules[MODULES_PER_REPORT_MAX];
    unsigned module_count;
    size_t pending;
};

/* Written once at process exit by the one thread left (diag_symbols_unsafe). */
static int symbols_unsafe;
/* The hint of how to get names has been given (once per process). */
static atomic_int hint_given;
/* Reports inside plat_symbolizer_run now. A thread the process exit ends in there may have been ended inside the
 * system's process creation (under Wine: inside fork, with the C library's locks held), which a second process
 * creation then waits for for ever. */
static atomic_int symbolizers_running;
/* Written once at process exit by the one thread left (diag_symbolizer_at_process_exit): 1, the exit report runs
 * the symbolizer with the exit's short time limit; -1, a thread was ended inside one: it is never run again. */
static int symbolizer_at_exit;

void diag_symbols_unsafe(void)
{
    symbols_unsafe = 1;
}

int diag_symbolizer_at_process_exit(void)
{
    symbolizer_at_exit = atomic_load(&symbolizers_running) ? -1 : 1;
    return symbolizer_at_exit > 0;
}

/* Makes room for `more` elements of `size` bytes; 0 when out of memory. */
static int make_room(void **array, size_t *capacity, size_t used, size_t more, size_t size)
{
    size_t wanted = *capacity ? *capacity : FIRST_CAPACITY;
    void *bigger;

    if (used + more <= *capacity)
        return 1;
    while (wanted < used + more)
        wanted *= 2;
    if (!(bigger = plat_meta_alloc(wanted * size)))
        return 0;
    if (*array)
    {
        memcpy(bigger, *array, used * size);
        plat_meta_free(*array);
    }
    *array = bigger;
    *capacity = wanted;
    return 1;
}

/* Keeps a string of `length` bytes; its offset in the pool (0 when out of memory or empty). */
static size_t keep_string(struct diag_names *names, const char *text, size_t length)
{
    size_t at;

    if (!length)
        return 0;
    if (!names->pool_length)
        names->pool_length = 1; /* offset 0 means "none" */
    if (!make_room((void **)&names->pool, &names->pool_capacity, names->pool_length, length + 1, 1))
        return 0;
    at = names->pool_length;
    memcpy(names->pool + at, text, length);
    names->pool[at + length] = 0;
    names->pool_length += length + 1;
    return at;
}

static const char *string_at(const struct diag_names *names, size_t offset)
{
    return offset ? names->pool + offset : NULL;
}

struct diag_names *diag_names_begin(void)
{
    struct block_table empty = BLOCK_TABLE_INIT_VALUES;
    struct diag_names *names;

    /* An exit that ended a thread inside the bookkeeping heap (or ole32mem's lock): no table, frames by address. */
    if (symbols_unsafe)
        return NULL;
    if ((names = plat_meta_alloc(sizeof(*names))))
        names->index = empty;
    return names;
}

void diag_names_add(struct diag_names *names, const void *const *frames, unsigned count)
{
    void *found;
    unsigned i;

    for (i = 0; names && i < count; i++)
    {
        if (!frames[i] || block_table_lookup(&names->index, frames[i], &found))
            continue;
        if (!make_room((void **)&names->entries, &names->entry_capacity, names->entry_count, 1,
                       sizeof(*names->entries)) ||
            !block_table_reserve(&names->index, 1))
            return;
        memset(&names->entries[names->entry_count], 0, sizeof(*names->entries));
        names->entries[names->entry_count].address = frames[i];
        names->entries[names->entry_count].module_index = -1;
        block_table_insert(&names->index, frames[i], (void *)(uintptr_t)++names->entry_count);
        names->pending++;
    }
}

/* The module of an entry that dbghelp left without a line, when its file has DWARF: its index, else -1. */
static int debug_module_of(struct diag_names *names, const struct entry *entry)
{
    struct debug_module *module;
    unsigned i;

    for (i = 0; i < names->module_count; i++)
        if (names->modules[i].base == entry->base && names->modules[i].name == entry->module)
            return names->modules[i].has_debug ? (int)i : -1;
    if (names->module_count == MODULES_PER_REPORT_MAX)
        return -1;
    module = &names->modules[names->module_count];
    module->base = entry->base;
    module->name = entry->module;
    module->has_debug = plat_debug_module(entry->address, &module->info) && module->info.base == entry->base;
    names->module_count++;
    return module->has_debug ? (int)names->module_count - 1 : -1;
}

/* Whether a symbolizer's output is whole: its last answer is the one to the end marker, address 0 ("0x0...",
 * then a function line and a location line). */
static int output_complete(const char *output, size_t length)
{
    const char *line;
    unsigned lines = 0;

    if (!length || output[length - 1] != '\n')
        return 0;
    for (line = output + length - 1; line > output; line--)
    {
        if (line[-1] == '\n' && ++lines == 3)
            break;
    }
    if (lines != 3 && !(line == output && lines == 2))
        return 0;
    return line[0] == '0' && line[1] == 'x' && strspn(line + 2, "0") && line[2 + strspn(line + 2, "0")] == '\n';
}

/* "file:line" or "file:line (discriminator N)", "??:0", "??:?": the file without its directory, and the line. */
static void parse_location(const char *text, size_t length, const char **file, size_t *file_length, unsigned *line)
{
    const char *colon = NULL, *start = text, *p;

    for (p = text; p < text + length; p++)
    {
        if (*p == ':')
            colon = p;
        else if (*p == '/' || *p == '\\')
            start = p + 1;
        else if (*p == ' ')
            break;
    }
    *file = NULL;
    *file_length = 0;
    *line = 0;
    if (!colon || colon < start || (colon - start == 2 && !memcmp(start, "??", 2)))
        return;
    *file = start;
    *file_length = (size_t)(colon - start);
    *line = (unsigned)strtoul(colon + 1, NULL, 10);
}

/* Reads one module's answers ("0x<address>", then a function line and a location line per function, the innermost
 * first) into the entries its input listed. */
static void read_answers(struct diag_names *names, struct debug_module *module)
{
    const char *at = module->job.output, *end = at + module->job.output_length, *line_end, *function = NULL;
    size_t record = 0, function_length = 0, file_length;
    int in_record = 0;
    const char *file;
    unsigned line;

    for (; at < end; at = line_end + 1)
    {
        struct entry *entry;
        struct name *name;

        if (!(line_end = memchr(at, '\n', (size_t)(end - at))))
            break;
        if (line_end - at >= 2 && at[0] == '0' && at[1] == 'x' && !function)
        {
            record += in_record;
            in_record = 1;
            continue;
        }
        if (!in_record || record >= module->asked)
            continue;
        if (!function)
        {
            function = at;
            function_length = (size_t)(line_end - at);
            continue;
        }
        entry = &names->entries[module->order[record]];
        parse_location(at, (size_t)(line_end - at), &file, &file_length, &line);
        if (!(function_length == 2 && !memcmp(function, "??", 2)) && entry->count < DIAG_INLINE_MAX &&
            make_room((void **)&names->names, &names->name_capacity, names->name_count, 1, sizeof(*names->names)))
        {
            if (!entry->count)
                entry->first = names->name_count;
            /* Names of one entry are consecutive: its answers are read together, one module at a time. */
            if (entry->first + entry->count == names->name_count)
            {
                name = &names->names[names->name_count++];
                name->function = keep_string(names, function, function_length);
                name->file = file ? keep_string(names, file, file_length) : 0;
                name->line = line;
                entry->count++;
            }
        }
        function = NULL;
    }
}

/* Runs the symbolizer over every module that has frames waiting for it, all at once. */
static void run_symbolizer(struct diag_names *names)
{
    struct plat_symbolizer_job *jobs[MODULES_PER_REPORT_MAX], batch[MODULES_PER_REPORT_MAX];
    char *input;
    size_t i, waiting, length;
    unsigned m, count = 0;

    for (m = 0; m < names->module_count; m++)
    {
        struct debug_module *module = &names->modules[m];

        for (waiting = 0, i = 0; i < names->entry_count; i++)
            waiting += names->entries[i].module_index == (int)m && !names->entries[i].resolved;
        if (!module->has_debug || !waiting || module->order)
            continue;
        input = plat_meta_alloc((waiting + 1) * ADDRESS_CHARS);
        module->order = plat_meta_alloc(waiting * sizeof(*module->order));
        if (!input || !module->order)
        {
            plat_meta_free(input);
            continue;
        }
        for (length = 0, i = 0; i < names->entry_count; i++)
        {
            const struct entry *entry = &names->entries[i];

            if (entry->module_index != (int)m || entry->resolved)
                continue;
            module->order[module->asked++] = i;
            /* The call's own instruction: the byte before the return address. */
            length += (size_t)snprintf(
                input + length, ADDRESS_CHARS, "0x%llx\n",
                (unsigned long long)(module->info.file_base + ((uintptr_t)entry->address - 1 - module->base)));
        }
        length += (size_t)snprintf(input + length, ADDRESS_CHARS, "0x0\n");
        module->job.module = &module->info;
        module->job.input = input;
        module->job.input_length = length;
        module->job.complete = output_complete;
        batch[count] = module->job;
        jobs[count++] = &module->job;
    }
    if (!count)
        return;
    atomic_fetch_add(&symbolizers_running, 1);
    plat_symbolizer_run(batch, count, symbolizer_at_exit ? SYMBOLIZER_EXIT_TIMEOUT_MS : SYMBOLIZER_TIMEOUT_MS);
    atomic_fetch_sub(&symbolizers_running, 1);
    for (m = 0; m < count; m++)
    {
        *jobs[m] = batch[m];
        plat_meta_free((void *)jobs[m]->input);
        jobs[m]->input = NULL;
    }
    for (m = 0; m < names->module_count; m++)
    {
        if (names->modules[m].job.state == PLAT_SYMBOLIZER_DONE && names->modules[m].job.output)
            read_answers(names, &names->modules[m]);
    }
}

/* Names every entry added since the last time: dbghelp for each, then the symbolizer for what it left. */
static void resolve(struct diag_names *names)
{
    struct plat_symbol symbol;
    size_t i;

    for (i = 0; i < names->entry_count; i++)
    {
        struct entry *entry = &names->entries[i];

        if (entry->resolved)
            continue;
        entry->module = diag_module_of(entry->address, &entry->base);
        if (symbols_unsafe || !entry->module)
            continue;
        /* A return address lies after its call: the call's own function and line are those of the byte before. */
        if (plat_symbolize((const char *)entry->address - 1, &symbol))
        {
            entry->function = keep_string(names, symbol.function, strlen(symbol.function));
            entry->function_offset = symbol.function_offset;
            entry->file = keep_string(names, symbol.file, strlen(symbol.file));
            entry->line = symbol.line;
        }
        if (!entry->file && symbolizer_at_exit >= 0)
            entry->module_index = debug_module_of(names, entry);
    }
    run_symbolizer(names);
    for (i = 0; i < names->entry_count; i++)
        names->entries[i].resolved = 1;
    names->pending = 0;
}

static struct entry *entry_of(struct diag_names *names, const void *address)
{
    void *found;

    if (!names || !block_table_lookup(&names->index, address, &found))
        return NULL;
    if (names->pending)
        resolve(names);
    return &names->entries[(uintptr_t)found - 1];
}

unsigned diag_names_of(struct diag_names *names, const void *address, const char **module, const char **functions,
                       unsigned max)
{
    const struct entry *entry = entry_of(names, address);
    uintptr_t base;
    unsigned i;

    if (!entry)
    {
        *module = diag_module_of(address, &base);
        functions[0] = NULL;
        return 1;
    }
    *module = entry->module;
    if (!entry->count || !max)
    {
        functions[0] = string_at(names, entry->function);
        return 1;
    }
    for (i = 0; i < entry->count && i < max; i++)
        functions[i] = string_at(names, names->names[entry->first + i].function);
    return i;
}

const char *diag_names_frame(struct diag_names *names, const void *address, unsigned index, char *buffer, size_t size)
{
    const struct entry *entry = entry_of(names, address);
    const struct name *name;
    uintptr_t base = 0;
    const char *module = entry ? entry->module : diag_module_of(address, &base);
    const char *file = NULL;
    unsigned line = 0;
    int length;

    if (entry)
        base = entry->base;
    if (entry && entry->count)
    {
        /* The symbolizer knows no function's start: the module offset stays, for whoever reads the report. */
        name = &names->names[entry->first + (index < entry->count ? index : entry->count - 1)];
        length = snprintf(buffer, size, "%s!%s", module, string_at(names, name->function));
        file = string_at(names, name->file);
        line = name->line;
        if (file && length > 0 && (size_t)length < size)
            length += snprintf(buffer + length, size - (size_t)length, " (%s:%u)", file, line);
        if (length > 0 && (size_t)length < size)
            snprintf(buffer + length, size - (size_t)length, " %s+0x%lx", module,
                     (unsigned long)((uintptr_t)address - base));
        return buffer;
    }
    if (module && entry && entry->function)
        length = snprintf(buffer, size, "%s!%s+0x%lx", module, string_at(names, entry->function),
                          (unsigned long)(entry->function_offset + 1));
    else if (module)
        length = snprintf(buffer, size, "%s+0x%lx", module, (unsigned long)((uintptr_t)address - base));
    else
        length = snprintf(buffer, size, "%p", address);
    if (entry && entry->file && length > 0 && (size_t)length < size)
        snprintf(buffer + length, size - (size_t)length, " (%s:%u)", string_at(names, entry->file), entry->line);
    return buffer;
}

unsigned diag_names_lines(struct diag_names *names, const void *address)
{
    const struct entry *entry = entry_of(names, address);

    return entry && entry->count ? entry->count : 1;
}

void diag_names_end(struct diag_names *names)
{
    static const char *const why[] = {
        [PLAT_SYMBOLIZER_FAILED] = "could not be started or stopped without answering",
        [PLAT_SYMBOLIZER_TIMED_OUT] = "did not answer within the time limit",
    };
    const char *missing = NULL;
    unsigned m;

    if (!names)
        return;
    for (m = 0; m < names->module_count; m++)
    {
        struct debug_module *module = &names->modules[m];

        if (!module->has_debug || !module->asked)
            continue;
        if (module->job.state != PLAT_SYMBOLIZER_DONE)
            /* For tools/ole32mem-symbolize, which names these frames later from a saved log. */
            diag_report("ole32mem: symbols: module %s: %s (%s, image base 0x%llx)", module->name, module->info.path,
                        module->info.machine, (unsigned long long)module->info.file_base);
        if (module->job.state == PLAT_SYMBOLIZER_FAILED || module->job.state == PLAT_SYMBOLIZER_TIMED_OUT)
            diag_report("ole32mem: symbols: %s %s for %s: its frames stay module+0xoffset", module->job.program,
                        why[module->job.state], module->name);
        if (module->job.state == PLAT_SYMBOLIZER_MISSING && !missing)
            missing = module->job.program;
        plat_meta_free(module->job.output);
        plat_meta_free(module->order);
    }
    if (missing && !atomic_exchange(&hint_given, 1))
        diag_report("ole32mem: symbols: frames of modules with debug information that dbghelp cannot read (DWARF 5, "
                    "GCC 12's -g) stay module+0xoffset: no symbolizer found (%s). Install the mingw binutils, set "
                    "OLE32MEM_SYMBOLIZER to an addr2line, or name them later: tools/ole32mem-symbolize < log",
                    missing);
    block_table_clear(&names->index);
    plat_meta_free(names->entries);
    plat_meta_free(names->names);
    plat_meta_free(names->pool);
    plat_meta_free(names);
}
