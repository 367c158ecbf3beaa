/*
 * The conformance tests' harness: tests/harness.h (ok, skip, trace, fill, the summary line) plus what is Wine's.
 *
 * Every test program is built twice: against ole32mem and, with TEST_BUILTIN defined, against the system ole32
 * (Wine's builtin), which is the differential reference; the summary names the target ("ole32mem" or "builtin").
 * Where Wine's builtin is known to differ from Windows (the table in README.md, keys as in docs/semantics.md section
 * 6), a check is written with ok_windows(key, ...): against ole32mem it is an ordinary check; against the builtin a
 * failure is expected and counted as "todo", and a pass is a failure (the difference is gone: update the test and
 * the README), like Wine's todo_wine. Where a Wine version's own code below ole32 (its heap) differs from Windows, for
 * ole32mem and the builtin alike (README "Tested Wine versions", docs/semantics.md section 6), the check is written
 * with ok_wine_version(key, affected, ...), `affected` telling whether the running Wine (wine_major_version) has it.
 *
 * Must never be included by host code: it names <windows.h>.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_TEST_H
#define OLE32MEM_TEST_H

#include <windows.h>

#include <stdlib.h>

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

/* The running Wine's major version, from ntdll's wine_get_version ("10.0" gives 10); 0 on Windows. */
static TEST_UNUSED int wine_major_version(void)
{
    const char *(CDECL * get_version)(void);
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");

    if (!ntdll || !(get_version = (const char *(CDECL *)(void))(void *)GetProcAddress(ntdll, "wine_get_version")))
        return 0;
    return atoi(get_version());
}

/* A check of Windows behaviour that the running Wine's own code gets wrong for every target when `affected` (see the
 * header comment). There a failure is expected and counted as "todo" with the key; a pass counts as a pass, because
 * such a difference shows only when that Wine's code takes the path it breaks. Elsewhere an ordinary check. */
static TEST_UNUSED TEST_FORMAT(6, 7) int test_ok_wine_version(const char *file, int line, const char *key, int affected,
                                                              int condition, const char *format, ...)
{
    char kind[160];
    va_list args;

    if (condition)
    {
        atomic_fetch_add(&test_passed, 1);
        return 1;
    }
    va_start(args, format);
    if (affected)
    {
        atomic_fetch_add(&test_todo, 1);
        snprintf(kind, sizeof(kind), "Test marked todo (Wine %d: %s): ", wine_major_version(), key);
        test_vreport(file, line, kind, format, args);
    }
    else
    {
        atomic_fetch_add(&test_failed, 1);
        test_vreport(file, line, "Test failed: ", format, args);
    }
    va_end(args);
    return 0;
}

#define ok_wine_version(key, affected, condition, ...) \
    test_ok_wine_version(__FILE__, __LINE__, key, affected, (condition) != 0, __VA_ARGS__)

#endif /* OLE32MEM_TEST_H */
