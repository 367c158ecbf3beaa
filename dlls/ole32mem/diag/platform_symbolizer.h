/*
 * The platform side of the external symbolizer: the program that names the frames dbghelp cannot (Wine's dbghelp
 * reads DWARF 2 to 4; GCC 12's -g writes DWARF 5), by reading the module's own debug information. diag_symbols.c
 * decides which frames need it, writes the addresses and reads the answers; this contract only finds modules and
 * the program, and runs it.
 *
 * Implemented by symbolizer_win32.c (the mingw binutils' addr2line, a Unix program started from the Windows process
 * under Wine) and host/platform_stacks_posix.c (none: the host build has no modules of its own to name).
 * Invariants: report time only, outside every lock of ours (these functions open files, take the loader's lock and
 * start processes); never at allocation time. Every wait is bounded by the caller's time limit: a symbolizer that
 * does not answer in time is left running on its own, never waited for.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_SYMBOLIZER_H
#define OLE32MEM_PLATFORM_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>

enum
{
    PLAT_PATH_CHARS = 1024,
    PLAT_MACHINE_CHARS = 16,
};

/* A loaded module whose file carries DWARF debug information. */
struct plat_debug_module
{
    uintptr_t base;     /* where it is loaded */
    uint64_t file_base; /* the image base in its file: the symbolizer reads file_base + (address - base) */
    char machine[PLAT_MACHINE_CHARS]; /* "x86_64" or "i686" */
    char path[PLAT_PATH_CHARS];       /* its file, as a reader of the report finds it (a Unix path under Wine) */
};

/* The module containing `address`, when it is still loaded and its file has a .debug_info section; 0 otherwise.
 * Opens the module's file (it reads the section table there: the long section names are not mapped). */
int plat_debug_module(const void *address, struct plat_debug_module *module);

enum plat_symbolizer_state
{
    PLAT_SYMBOLIZER_DONE,      /* the program answered every address (output holds its answer) */
    PLAT_SYMBOLIZER_MISSING,   /* no program found (OLE32MEM_SYMBOLIZER unset and none at the default places) */
    PLAT_SYMBOLIZER_OFF,       /* OLE32MEM_SYMBOLIZER=none */
    PLAT_SYMBOLIZER_FAILED,    /* the program could not be started, or ended without answering */
    PLAT_SYMBOLIZER_TIMED_OUT, /* it had not answered when the time limit passed: left running, not waited for */
};

/* One module's batch: every address the report needs named in it, at once. */
struct plat_symbolizer_job
{
    const struct plat_debug_module *module;
    const char *input; /* "0x<hex>\n" per address, the last one the caller's end marker */
    size_t input_length;
    /* Whether the output is whole (the answer to the end marker has arrived): a Unix program started under Wine
     * has no process handle to wait on. */
    int (*complete)(const char *output, size_t length);
    /* Set by plat_symbolizer_run. The output is allocated with plat_meta_alloc: the caller frees it. */
    enum plat_symbolizer_state state;
    char *output;
    size_t output_length;
    char program[PLAT_PATH_CHARS]; /* the program run (or the setting that named a missing one) */
};

/* Runs every job's program at once (`<program> -a -f -i -C -e <module>`, the addresses on its standard input) and
 * collects their answers until all are complete or `timeout_ms` has passed. */
void plat_symbolizer_run(struct plat_symbolizer_job *jobs, unsigned count, unsigned timeout_ms);

#endif /* OLE32MEM_PLATFORM_SYMBOLIZER_H */
