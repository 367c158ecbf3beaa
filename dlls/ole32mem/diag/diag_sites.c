/*
 * Naming a call site and capturing its call stack.
 *
 * A call's site is its return address as "module+0xoffset"; the module is named when the call is made if that is
 * safe (the module may be gone by the time a leak is reported), else at report time. Its stack (DIAG_SITE_STACK)
 * is captured when the call is made, as raw return addresses only, and stored in the depot (diag_stacks.c);
 * functions and source lines are looked up at report time only (diag_symbols.c).
 *
 * Owns the cache of module ranges (modules[], module_count): added under module_lock, read without it. Invariants:
 * entries are never removed and their names never change, so records may keep pointers to the names; an entry is
 * written in full before module_count (release) publishes it, so a reader (acquire) sees only whole entries, and the
 * lookup that every diagnosed call makes takes no lock. An entry's range is `unloaded` from the loader's notification
 * of its module's unload on (diag_sites_module_unloaded): from then on it names no address, so that a module loaded
 * later at the same base gets its own entry (the entry comes back into use when the same module does); module_lock is never held across a call out of this file. This is the one
 * part of the diagnostics that runs WITHOUT the core's lock (diag_resolve_site, before the call takes it) for a
 * top-level call; asking the loader (plat_describe_address) may take the loader's lock, so it is never done when the
 * thread holds the core's lock (DIAG_SITE_NESTED: a spy hook's nested call). Stack capture takes no lock but the
 * depot's leaf lock, for a new stack only (stack_capture_win32.c says why the unwinder takes none). At process exit
 * module_lock is tried, never waited for (docs/hacking.md, "Nothing waits at exit").
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"
#include "platform_report.h"
#include "platform_stacks.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum
{
    MODULES_MAX = 256,
};

static struct
{
    uintptr_t base, end;
    atomic_int unloaded;
    char name[MODULE_NAME_MAX];
} modules[MODULES_MAX];
static atomic_uint module_count;
/* The entry the last lookup found: a program's calls mostly come from one module. A hint only (any value below
 * module_count is a whole entry), written and read relaxed. */
static atomic_uint last_found;
static plat_mutex module_lock = PLAT_MUTEX_INIT;
/* Set once at process exit by the one thread left (diag_sites_at_process_exit): module_lock is tried, never waited
 * for; modules_unusable: an ended thread holds it, so no module is added any more (the published entries stay
 * readable: the one it may have been writing was not published). */
static int modules_at_exit, modules_unusable;

/* Takes module_lock; answers 0 (without it) only at process exit, when it cannot be had. */
static int modules_enter(void)
{
    if (modules_unusable)
        return 0;
    if (!modules_at_exit)
    {
        plat_mutex_lock(&module_lock);
        return 1;
    }
    return plat_mutex_trylock(&module_lock);
}

/* No lock: the entries below module_count are whole and never change. */
static const char *cached_module(uintptr_t address, uintptr_t *base)
{
    unsigned count = atomic_load_explicit(&module_count, memory_order_acquire), i;

    i = atomic_load_explicit(&last_found, memory_order_relaxed);
    if (i < count && modules[i].base <= address && address < modules[i].end &&
        !atomic_load_explicit(&modules[i].unloaded, memory_order_relaxed))
    {
        *base = modules[i].base;
        return modules[i].name;
    }
    for (i = count; i-- > 0;)
    {
        if (modules[i].base <= address && address < modules[i].end &&
            !atomic_load_explicit(&modules[i].unloaded, memory_order_relaxed))
        {
            atomic_store_explicit(&last_found, i, memory_order_relaxed);
            *base = modules[i].base;
            return modules[i].name;
        }
    }
    return NULL;
}

/* Keeps a module's name for good; returns the kept copy (NULL when the table is full). */
static const char *keep_module(const char *name, uintptr_t base, size_t image_size)
{
    const char *kept = NULL;
    unsigned count, i;

    if (!modules_enter())
        return NULL;
    count = atomic_load_explicit(&module_count, memory_order_relaxed);
    for (i = 0; i < count && !kept; i++)
        if (modules[i].base == base && modules[i].end == base + image_size && !strcmp(modules[i].name, name))
        {
            kept = modules[i].name;
            atomic_store_explicit(&modules[i].unloaded, 0, memory_order_relaxed); /* the same module, back */
        }
    if (!kept && count < MODULES_MAX)
    {
        modules[count].base = base;
        atomic_store_explicit(&modules[count].unloaded, 0, memory_order_relaxed);
        /* Without an image size (host build) the entry only serves as the name's home, never as a range. */
        modules[count].end = base + image_size;
        snprintf(modules[count].name, MODULE_NAME_MAX, "%s", name);
        kept = modules[count].name;
        atomic_store_explicit(&module_count, count + 1, memory_order_release);
    }
    plat_mutex_unlock(&module_lock);
    return kept;
}

/* Names the module of `address` from the cache, or (when `may_ask_loader`) from the loader, keeping the name. */
static const char *module_of(const void *address, uintptr_t *base, int may_ask_loader)
{
    char name[MODULE_NAME_MAX];
    const char *module = cached_module((uintptr_t)address, base);
    size_t image_size;

    if (!module && may_ask_loader && address && plat_describe_address(address, name, sizeof(name), base, &image_size))
        module = keep_module(name, *base, image_size);
    return module;
}

/* The stack of the call whose return address is `caller`: the captured frames from `caller` on (ole32mem's own
 * frames, above it, are dropped by the capture, which stops diag_stack_depth frames after `caller`). When the
 * unwinder does not reach `caller` (i686 code it cannot walk), the stack is `caller` alone: never a frame of ours,
 * never a guess. Inlined into diag_resolve_site: every frame of ours between the capture and `caller` is one more
 * step of every walk. */
static inline __attribute__((always_inline)) uint32_t capture_stack(const void *caller, int nested,
                                                                    const struct plat_stack_seed *seed)
{
    void *frames[DIAG_STACK_DEPTH_MAX + PLAT_CAPTURE_OWN_MAX];
    const void *only[1] = {caller};
    unsigned count = plat_capture_stack(frames, diag_stack_depth, caller, seed), i;
    int added;
    uint32_t id;
    uintptr_t base;

    id = count ? diag_stack_intern((const void *const *)frames, count, &added) : diag_stack_intern(only, 1, &added);
    /* A new stack: name its modules now, while they are surely loaded (when the loader may be asked). */
    for (i = 0; added && !nested && i < count; i++)
        module_of(frames[i], &base, 1);
    return id;
}

void diag_resolve_site(const void *caller, struct diag_site *site, unsigned flags, const struct plat_stack_seed *seed)
{
    uintptr_t base = 0;

    site->address = caller;
    if (flags & DIAG_SITE_UNNAMED)
    {
        site->module = NULL;
        site->offset = 0;
        site->stack = 0;
        return;
    }
    site->module = module_of(caller, &base, !(flags & DIAG_SITE_NESTED));
    site->offset = site->module ? (uintptr_t)caller - base : 0;
    site->stack =
        (flags & DIAG_SITE_STACK) && diag_stack_depth ? capture_stack(caller, flags & DIAG_SITE_NESTED, seed) : 0;
}

const char *diag_describe(const struct diag_site *site, char *buffer, size_t size)
{
    uintptr_t base = 0;
    const char *module = site->module ? site->module : module_of(site->address, &base, 0);
    uintptr_t offset = site->module ? site->offset : (uintptr_t)site->address - base;
    int length;

    if (module)
        length = snprintf(buffer, size, "%s+0x%lx", module, (unsigned long)offset);
    else
        length = snprintf(buffer, size, "%p", site->address);
    if (site->stack && length > 0 && (size_t)length < size)
    {
        snprintf(buffer + length, size - (size_t)length, " (stack #%lu)", (unsigned long)site->stack);
        diag_stack_mark_referenced(site->stack);
    }
    return buffer;
}

const char *diag_describe_caller(const struct diag_site *site, char *buffer, size_t size)
{
    uintptr_t base = 0;
    const char *module = site->module ? site->module : module_of(site->address, &base, 1);

    if (module)
        snprintf(buffer, size, "%s+0x%lx", module,
                 (unsigned long)(site->module ? site->offset : (uintptr_t)site->address - base));
    else
        snprintf(buffer, size, "%p", site->address);
    return buffer;
}

void diag_sites_at_process_exit(void)
{
    modules_at_exit = 1;
    if (plat_mutex_trylock(&module_lock))
        plat_mutex_unlock(&module_lock);
    else
    {
        modules_unusable = 1;
        diag_report("ole32mem: leaks-note: the process exit ended a thread that held the module cache's lock: frames "
                    "not named when their call was made are named by address only (see docs/diagnostics.md)");
    }
    /* The report's names table comes from the bookkeeping heap: not when an ended thread may hold its lock. */
    if (plat_meta_lock_state() != PLAT_HEAP_LOCK_FREE)
    {
        diag_symbols_unsafe();
        diag_report("ole32mem: leaks-note: the process exit ended a thread inside ole32mem's bookkeeping heap (or its "
                    "lock was not found): frames are named by address only (see docs/diagnostics.md)");
    }
    if (!plat_symbols_at_process_exit())
        diag_report("ole32mem: leaks-note: the process exit ended a thread inside a symbol lookup: frames are not "
                    "named by function or line (see docs/diagnostics.md)");
    if (!diag_symbolizer_at_process_exit())
        diag_report("ole32mem: leaks-note: the process exit ended a thread inside the external symbolizer: frames "
                    "dbghelp cannot name are named by address only (see docs/diagnostics.md)");
}

const char *diag_module_of(const void *address, uintptr_t *base)
{
    *base = 0;
    return module_of(address, base, 1);
}

void diag_sites_module_unloaded(uintptr_t base)
{
    unsigned count = atomic_load_explicit(&module_count, memory_order_acquire), i;

    for (i = 0; i < count; i++)
        if (modules[i].base == base)
            atomic_store_explicit(&modules[i].unloaded, 1, memory_order_relaxed);
}
