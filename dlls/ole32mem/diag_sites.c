/*
 * Naming a call site: the caller's return address as "module+0xoffset", resolved once, when the call is made (the
 * module may be gone by the time a leak is reported).
 *
 * Owns the cache of module ranges (modules[], module_count) under module_lock. Invariants: entries are never
 * removed or changed, so records may keep pointers to the names; module_lock is never held across a call out of
 * this file. This is the one part of the diagnostics that runs WITHOUT the core's lock (diag_resolve_site, before
 * the call takes it), because asking the loader (plat_describe_address) may take the loader's lock: it must never
 * be called with the core's lock held.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"
#include "platform_report.h"

#include <stdio.h>
#include <string.h>

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

const char *diag_describe(const struct diag_site *site, char *buffer, size_t size)
{
    if (site->module)
        snprintf(buffer, size, "%s+0x%lx", site->module, (unsigned long)site->offset);
    else
        snprintf(buffer, size, "%p", site->address);
    return buffer;
}
