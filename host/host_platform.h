/*
 * Test hooks of the host platform layer (platform_posix.c), beyond platform_posix.h: the port's failure injection,
 * which the host tests and the fuzzer drive. Part of the port, not of the tests: the port implements them.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_HOST_PLATFORM_H
#define OLE32MEM_HOST_PLATFORM_H

/* n > 0: the n-th following heap allocation or reallocation fails (once). 0 turns the injection off. */
void host_fail_heap_after(long n);
/* n > 0: the n-th following metadata allocation (the core's block table) fails (once). 0 turns it off. */
void host_fail_meta_after(long n);
/* How many failures have been injected so far. */
long host_heap_failures_injected(void);
long host_meta_failures_injected(void);
/* The metadata countdown now: 0 off, n > 0 the n-th following metadata allocation will fail. */
long host_meta_fail_countdown(void);

#include <stddef.h>
/* HeapReAlloc with HEAP_REALLOC_IN_PLACE_ONLY: resizes the live heap block p to n bytes where it is (contents kept);
 * 0 when it has no room there. */
int host_heap_resize_in_place(void *p, size_t n);
/* sink != NULL: every write of the diagnostics' log goes to sink instead of the log (a report line arrives whole,
 * newline included); NULL: back to the log. */
void host_log_capture(void (*sink)(const char *text, size_t length));

#endif /* OLE32MEM_HOST_PLATFORM_H */
