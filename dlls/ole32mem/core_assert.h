/*
 * core_assert(condition, rule): the core's invariants, checked where they can break.
 *
 * On when OLE32MEM_ASSERT is defined: in every host build (tests/host, the fuzzer: mk/host.mk) and in a debug build
 * of the DLL (make DEBUG=1). Compiled out of the normal DLL, where it costs nothing and the condition is still
 * type-checked but never evaluated. `rule` cites what the condition checks (task_memory.c's numbered protocol, the
 * block table's invariant, the diagnostics' records); a failure prints it with the file and line on stderr and
 * aborts, so that a broken invariant is found where it broke, not later in a fuzzer's model.
 *
 * Must never check caller input (a bad pointer from the program gets Windows' answer, never an abort), and a
 * condition must have no side effect: it vanishes from the normal DLL.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_CORE_ASSERT_H
#define OLE32MEM_CORE_ASSERT_H

#ifdef OLE32MEM_ASSERT

#include <stdio.h>
#include <stdlib.h>

static inline void core_assert_failed(const char *condition, const char *rule, const char *file, int line)
{
    fprintf(stderr, "ole32mem: %s:%d: assertion failed: %s (%s)\n", file, line, condition, rule);
    fflush(stderr);
    abort();
}

#define core_assert(condition, rule) ((condition) ? (void)0 : core_assert_failed(#condition, rule, __FILE__, __LINE__))

#else

#define core_assert(condition, rule) ((void)sizeof(!(condition)))

#endif

#endif /* OLE32MEM_CORE_ASSERT_H */
