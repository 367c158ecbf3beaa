/*
 * A recursive lock over the platform's plain mutex, statically initialised (no DllMain needed).
 *
 * The owner field is atomic because other threads read it (relaxed) to learn that they are not the owner; only
 * the owning thread ever finds its own id there, and only the owner touches depth.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_RECURSIVE_LOCK_H
#define OLE32MEM_RECURSIVE_LOCK_H

#include <stdatomic.h>

#include "platform.h"

struct recursive_lock
{
    plat_mutex mutex;
    _Atomic(plat_thread_id_t) owner; /* 0 when free */
    unsigned depth;                  /* owner only */
};

/* An initializer, not a block: clang-format would wrap it as one. */
/* clang-format off */
#define RECURSIVE_LOCK_INIT {PLAT_MUTEX_INIT, 0, 0}
/* clang-format on */

static inline void recursive_lock_enter(struct recursive_lock *lock)
{
    plat_thread_id_t self = plat_thread_id();

    if (atomic_load_explicit(&lock->owner, memory_order_relaxed) != self)
    {
        plat_mutex_lock(&lock->mutex);
        atomic_store_explicit(&lock->owner, self, memory_order_relaxed);
    }
    lock->depth++;
}

/* Enters when the lock is free or already ours; returns 0 without waiting otherwise. */
static inline int recursive_lock_try_enter(struct recursive_lock *lock)
{
    plat_thread_id_t self = plat_thread_id();

    if (atomic_load_explicit(&lock->owner, memory_order_relaxed) != self)
    {
        if (!plat_mutex_trylock(&lock->mutex))
            return 0;
        atomic_store_explicit(&lock->owner, self, memory_order_relaxed);
    }
    lock->depth++;
    return 1;
}

static inline void recursive_lock_leave(struct recursive_lock *lock)
{
    if (--lock->depth)
        return;
    atomic_store_explicit(&lock->owner, 0, memory_order_relaxed);
    plat_mutex_unlock(&lock->mutex);
}

#endif /* OLE32MEM_RECURSIVE_LOCK_H */
