/*
 * What the diagnostics' files share among themselves (diagnostics.h is what the core may call).
 *
 * The diagnostics are split by concern, one file each:
 *   diag_options.c  OLE32MEM_DEBUG & co.: the options in force, the leak-report limit, the suppressed modules
 *   diag_sites.c    naming a call site: the cache of module ranges (the only part that may run without the core's
 *                   lock, and the only one that asks the loader)
 *   diag_records.c  the record of each live block: admission of pointers, guard bytes and fill patterns
 *   diag_freed.c    the ring of recently freed pointers (double-free detection)
 *   diag_report.c   every line the diagnostics write: the log file, the trace, the leak report and the statistics
 *   diag_symbols.c  the names of a report's frames (dbghelp, then the external symbolizer), report time only
 * Everything but diag_sites.c, diag_symbols.c and the leak report's second step (diag_leaks_emit) runs under
 * task_memory.c's lock.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_DIAG_INTERNAL_H
#define OLE32MEM_DIAG_INTERNAL_H

#include "diagnostics.h"

#include <stdatomic.h>

enum
{
    MODULE_NAME_MAX = 260,
    /* "module+0xoffset" or a bare address, and " (stack #N)". */
    SITE_CHARS = MODULE_NAME_MAX + 48,
    /* "module!function+0xoff (file.c:123)". */
    FRAME_CHARS = MODULE_NAME_MAX + 256 + 260 + 48,
};

struct diag_block
{
    /* The pointer the program holds while the record is live, 0 while it is free or reserved: written last when the
     * record is filed, first when it is forgotten (release), so that a report walking the slabs sees a record whole
     * or not at all (diag_records.c). */
    atomic_uintptr_t key;
    SIZE_T size;        /* what the program asked for */
    SIZE_T actual_size; /* what the heap block holds before the guard (the spy's size) */
    SIZE_T heap_size;   /* what the heap answered for `actual` right after ole32mem's own last Alloc or Realloc */
    void *actual;       /* the heap block (differs from the program's pointer under a header spy) */
    struct diag_site site;
    uintptr_t thread;
    unsigned long long sequence;
    uint64_t identity;            /* DIAG_GUARD only, written into the guard: proves that the block is still this one */
    struct diag_block *next_free; /* on the free list of records */
    size_t table_slot;            /* a hint: where live_blocks held the key when a call last found it (checked) */
};

/* diag_options.c */
extern unsigned long diag_leaks_max;
/* OLE32MEM_LEAKS_EXITCODE (-1: off); OLE32MEM_STACK_DEPTH is diagnostics.h's diag_stack_depth. */
extern int diag_leaks_exitcode;

enum
{
    DIAG_SUPPRESS_MAX = 64,
};
/* diag_suppress.c: OLE32MEM_SUPPRESS, a module list or @file of leak:PATTERN lines. A leak's stack is given as its
 * frames' module and function names (NULL where unknown); frame 0 is the allocating call. Returns the index of the
 * suppression that hides it, or -1. Report time only (outside every lock of ours). */
void diag_suppress_configure(const char *setting);
int diag_suppression_match(unsigned frame_count, const char *const *modules, const char *const *functions);
int diag_suppressions_need_functions(void);
unsigned diag_suppression_count(void);
/* One line per suppression that hid something: blocks[i], bytes[i] are what suppression i hid in this report. */
void diag_suppressions_report(const size_t *blocks, const size_t *bytes);

/* diag_stacks.c: the stack depot (a stack is stored once, records carry its id; 0 means none). */
enum
{
    DIAG_STACK_DEPTH_DEFAULT = 16,
    DIAG_STACK_DEPTH_MAX = 64,
};
uint32_t diag_stack_intern(const void *const *frames, unsigned count, int *added);
unsigned diag_stack_frames(uint32_t id, const void *const **frames);
/* A report made under the core's lock named this stack by its id: the exit report prints it in full. */
void diag_stack_mark_referenced(uint32_t id);
int diag_stack_is_referenced(uint32_t id);
struct diag_depot_totals
{
    size_t stacks, bytes;
};
struct diag_depot_totals diag_stack_totals(void);

/* diag_sites.c: "module+0xoffset" for a call site, or the bare address when no module contains it, plus
 * " (stack #N)" when it has a stack in the depot (marked referenced: the exit report prints it). Module names come
 * from the cache only: safe under the core's lock. */
const char *diag_describe(const struct diag_site *site, char *buffer, size_t size);
/* Report time only: "module+0xoffset" of a call site, named when it was made or now. */
const char *diag_describe_caller(const struct diag_site *site, char *buffer, size_t size);
/* Report time only: the name and base of the module containing `address`, from the cache or the loader (kept). */
const char *diag_module_of(const void *address, uintptr_t *base);
/* The module at `base` was unloaded (the loader's notification, its lock held): its cached range no longer names
 * new addresses. Takes no lock. */
void diag_sites_module_unloaded(uintptr_t base);

/* diag_symbols.c: the names of a report's frames. Add every frame the report will print first: the first question
 * names them all at once (dbghelp, then the external symbolizer, once per module). A frame may stand for several
 * functions inlined into each other (at most DIAG_INLINE_MAX), each printed as a frame line of its own. */
enum
{
    DIAG_INLINE_MAX = 8,
};
struct diag_names;
struct diag_names *diag_names_begin(void);
void diag_names_add(struct diag_names *names, const void *const *frames, unsigned count);
/* How many lines frame `address` takes (1 + the functions inlined there), and line `index` of them as
 * "module!function+0xoff (file.c:123)" (dbghelp), "module!function (file.c:123) module+0xoff" (the symbolizer),
 * "module+0xoff" or the bare address. */
unsigned diag_names_lines(struct diag_names *names, const void *address);
const char *diag_names_frame(struct diag_names *names, const void *address, unsigned index, char *buffer,
                             size_t size);
/* For suppressions: the module's name and up to `max` function names (NULL where unknown); returns how many. */
unsigned diag_names_of(struct diag_names *names, const void *address, const char **module, const char **functions,
                       unsigned max);
/* Writes what the report must say about names (the modules left unnamed, for tools/ole32mem-symbolize; once per
 * process, how to get names) and frees the table. */
void diag_names_end(struct diag_names *names);
/* At process exit, by the one thread left: 0 when the exit ended a thread inside the external symbolizer (the exit
 * report then names frames by dbghelp or by address only); the exit report's symbolizer gets a short time limit. */
int diag_symbolizer_at_process_exit(void);

/* diag_records.c */
size_t diag_live_records(void);
/* Calls visit for every filed record (walking the slabs, not the table: see diag_records.c). */
void diag_foreach_record(void (*visit)(const void *block, void *record, void *context), void *context);
/* Nonzero once a record was found stale: another allocator freed, moved or resized a block of ours. */
int diag_records_seen_foreign(void);
/* Whether a record still describes the block at its address (diag_records.c says how that is decided):
 * DIAG_RECORD_STALE: the block was freed, moved or resized by another allocator, or the address now holds another
 * block;
 * DIAG_RECORD_CURRENT: proven the same block (the guard's identity is intact);
 * DIAG_RECORD_UNVERIFIED: nothing contradicts it, nothing proves it (no guard, or the guard cannot be read at
 * process exit). Once diag_records_at_process_exit has been called, calls into the process heap only when its lock
 * is known to be free. */
enum diag_record_state
{
    DIAG_RECORD_STALE,
    DIAG_RECORD_CURRENT,
    DIAG_RECORD_UNVERIFIED,
};
enum diag_record_state diag_record_is_current(const struct diag_block *record, int from_report);
/* Checks the guard of a record (DIAG_GUARD) and reports an overrun found at `when` ("free", "exit", ...). */
void diag_check_record_guard(const struct diag_block *record, const void *block, const char *when);
/* Live blocks and bytes, now and at the peak, for the statistics. */
struct diag_live_totals
{
    size_t count, bytes, peak_count, peak_bytes;
};
struct diag_live_totals diag_live_totals(void);

/* diag_freed.c */
void diag_freed_remember(void *block, uint32_t stack);
void diag_freed_forget(const void *block);
int diag_freed_contains(const void *block);
/* The stack of the newest free of block in the ring (0: none recorded, or not in the ring). */
uint32_t diag_freed_stack(const void *block);

/* diag_report.c: one line (the newline is added); reports go to the log or stderr. */
void diag_report(const char *format, ...);
/* Opens OLE32MEM_LOG: "%p" in the path becomes the process id. */
void diag_log_open(const char *path);
extern const char *const diag_operation_names[DIAG_OP_COUNT];

#endif /* OLE32MEM_DIAG_INTERNAL_H */
