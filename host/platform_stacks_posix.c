/*
 * Call stacks on the Linux host build: glibc's backtrace() to capture, dladdr to name (exported functions only,
 * no source lines), and no external symbolizer. Only what the host tests need: the DLL's report is the one users read.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform_stacks.h"
#include "platform_symbolizer.h"

/* backtrace() starts from its own frame: the seed is not needed. */
void plat_stack_seed(struct plat_stack_seed *seed)
{
    (void)seed;
}

unsigned plat_capture_stack(void **frames, unsigned max, const void *from, const struct plat_stack_seed *seed)
{
    int count = backtrace(frames, (int)(max + PLAT_CAPTURE_OWN_MAX));
    unsigned first, i;

    (void)seed;
    for (first = 0; (int)first < count && frames[first] != from; first++)
        ;
    for (i = first; (int)i < count && i - first < max && frames[i]; i++)
        ;
    memmove(frames, frames + first, (i - first) * sizeof(*frames));
    return i - first;
}

void plat_capture_prepare(int stacks, void (*unloaded)(uintptr_t base))
{
    (void)stacks;
    (void)unloaded;
}

void plat_capture_release(void)
{
}

void plat_symbols_prepare(void)
{
}

int plat_symbolize(const void *address, struct plat_symbol *symbol)
{
    Dl_info info;

    memset(symbol, 0, sizeof(*symbol));
    if (!dladdr(address, &info) || !info.dli_sname)
        return 0;
    snprintf(symbol->function, sizeof(symbol->function), "%s", info.dli_sname);
    symbol->function_offset = (uintptr_t)address - (uintptr_t)info.dli_saddr;
    return 1;
}

/* dladdr takes only the dynamic linker's own lock, which a process exit does not leave held. */
int plat_symbols_at_process_exit(void)
{
    return 1;
}

const char *plat_setting(const char *name, char *buffer, size_t size)
{
    const char *value = getenv(name);

    if (!value || strlen(value) >= size)
        return NULL;
    memcpy(buffer, value, strlen(value) + 1);
    return buffer;
}

void plat_exit_process(int code)
{
    _exit(code);
}

/* The host build names no frames beyond dladdr's: no external symbolizer (platform_symbolizer.h). */
int plat_debug_module(const void *address, struct plat_debug_module *module)
{
    (void)address;
    memset(module, 0, sizeof(*module));
    return 0;
}

void plat_symbolizer_run(struct plat_symbolizer_job *jobs, unsigned count, unsigned timeout_ms)
{
    unsigned i;

    (void)timeout_ms;
    for (i = 0; i < count; i++)
        jobs[i].state = PLAT_SYMBOLIZER_MISSING;
}
