/*
 * The out-of-line part of the Windows platform layer: the private heap for the core's bookkeeping.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "platform.h"

static HANDLE volatile meta_heap;

/* Created on first use; two threads racing here both create one and the loser destroys its own. */
HANDLE plat_meta_heap(void)
{
    HANDLE heap = meta_heap, created;

    if (heap)
        return heap;
    created = HeapCreate(0, 0, 0);
    if (!created)
        return NULL;
    heap = InterlockedCompareExchangePointer((void *volatile *)&meta_heap, created, NULL);
    if (heap)
    {
        HeapDestroy(created);
        return heap;
    }
    return created;
}
