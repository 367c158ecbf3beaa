/*
 * The conformance tests' harness: tests/harness.h (ok, skip, trace, fill, the summary line) plus what is Wine's.
 *
 * Every test program is built twice: against ole32mem and, with TEST_BUILTIN defined, against the system ole32
 * (Wine's builtin), which is the differential reference; the summary names the target ("ole32mem" or "builtin").
 * Where Wine's builtin is known to differ from Windows (the table in README.md, keys as in docs/semantics.md section
 * 6), a check is written with ok_windows(key, ...): against ole32mem it is an ordinary check; against the builtin a
 * failure is expected and counted as "todo", and a pass is a failure (the difference is gone: update the test and
 * the README), like Wine's todo_wine.
 *
 * Must never be included by host code: it names <windows.h>.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_TEST_H
#define OLE32MEM_TEST_H

#include <windows.h>

#ifdef TEST_BUILTIN
#define TEST_TARGET "builtin"
static const int testing_builtin = 1;
#else
#define TEST_TARGET "ole32mem"
static const int testing_builtin = 0;
#endif

#include "harness.h"

/* A check of Windows behaviour that Wine's builtin is known to get wrong (see the header comment). */
static TEST_UNUSED TEST_FORMAT(5, 6) int test_ok_windows(const char *file, int line, const char *key, int condition,
                                                         const char *format, ...)
{
    char kind[160];
    va_list args;

    if (!testing_builtin)
    {
        va_start(args, format);
        if (condition)
            atomic_fetch_add(&test_passed, 1);
        else
        {
            atomic_fetch_add(&test_failed, 1);
            test_vreport(file, line, "Test failed: ", format, args);
        }
        va_end(args);
        return condition;
    }
    if (condition)
    {
        atomic_fetch_add(&test_failed, 1);
        snprintf(kind, sizeof(kind), "Test succeeded inside todo block: Wine difference '%s' is gone: ", key);
        va_start(args, format);
        test_vreport(file, line, kind, format, args);
        va_end(args);
        return 1;
    }
    atomic_fetch_add(&test_todo, 1);
    snprintf(kind, sizeof(kind), "Test marked todo (%s): ", key);
    va_start(args, format);
    test_vreport(file, line, kind, format, args);
    va_end(args);
    return 0;
}

#define ok_windows(key, condition, ...) test_ok_windows(__FILE__, __LINE__, key, (condition) != 0, __VA_ARGS__)

#endif /* OLE32MEM_TEST_H */
