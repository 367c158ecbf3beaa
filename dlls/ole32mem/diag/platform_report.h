/*
 * The platform services of the diagnostics: where reports go and how a code address is named.
 *
 * Implemented by platform_report_win32.c (WriteFile to stderr or the log file; module+offset from the loader) and
 * host/platform_report_posix.c (the host build: stderr or a file; dladdr).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_REPORT_H
#define OLE32MEM_PLATFORM_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* Sends reports to `path` (appended) instead of stderr. The path is used as given: the diagnostics have already
 * expanded "%p" (diag_report.c). Returns 0, or the system's error code when the file cannot be opened: reports
 * then stay on stderr (the caller says why). */
unsigned long plat_log_open(const char *path);

/* Closes the log opened by plat_log_open (reports go to stderr again): when the DLL is unloaded. */
void plat_log_close(void);

/* Writes one report line (with its newline) in one piece. */
void plat_log_write(const char *text, size_t length);

/* The file name (no directory) of the module containing `address`, its base and its image size (0 when unknown);
 * 0 if no module contains it. May take the loader's lock: never call it while holding the core's lock. */
int plat_describe_address(const void *address, char *module, size_t module_size, uintptr_t *base, size_t *image_size);

unsigned long plat_process_id(void);

/* Zeroed memory for a report's collection, straight from the system's pages (no heap, no lock an ended thread could
 * hold at process exit); NULL when none. Freed with the size it was asked with. */
void *plat_report_pages(size_t bytes);
void plat_report_pages_free(void *pages, size_t bytes);

/* Compares module names the way the platform's loader does (case-insensitively on Windows); 0 when equal. */
int plat_name_compare(const char *a, const char *b);

#endif /* OLE32MEM_PLATFORM_REPORT_H */
