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
 * Everything but diag_sites.c runs under task_memory.c's lock.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_DIAG_INTERNAL_H
#define OLE32MEM_DIAG_INTERNAL_H

#include "diagnostics.h"

enum
{
    MODULE_NAME_MAX = 260,
    /* "module+0xoffset" or a bare address. */
    SITE_CHARS = MODULE_NAME_MAX + 32,
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

/* diag_options.c */
extern unsigned long diag_leaks_max;
int diag_is_suppressed(const struct diag_site *site);

/* diag_sites.c: "module+0xoffset" for a call site, or the bare address when no module contains it. */
const char *diag_describe(const struct diag_site *site, char *buffer, size_t size);

/* diag_records.c */
size_t diag_live_records(void);
void diag_foreach_record(void (*visit)(const void *block, void *record, void *context), void *context);
/* A record is current while the heap block it names still has the size we gave it. */
int diag_record_is_current(const struct diag_block *record);
/* Checks the guard of a record (DIAG_GUARD) and reports an overrun found at `when` ("free", "exit", ...). */
void diag_check_record_guard(const struct diag_block *record, const void *block, const char *when);
/* Live blocks and bytes, now and at the peak, for the statistics. */
struct diag_live_totals
{
    size_t count, bytes, peak_count, peak_bytes;
};
struct diag_live_totals diag_live_totals(void);

/* diag_freed.c */
void diag_freed_remember(void *block);
void diag_freed_forget(const void *block);
int diag_freed_contains(const void *block);

/* diag_report.c: one line (the newline is added); reports go to the log or stderr. */
void diag_report(const char *format, ...);
/* Opens OLE32MEM_LOG: "%p" in the path becomes the process id. */
void diag_log_open(const char *path);
extern const char *const diag_operation_names[DIAG_OP_COUNT];

#endif /* OLE32MEM_DIAG_INTERNAL_H */
