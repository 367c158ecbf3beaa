/*
 * The host tests' harness, in the style of tests/test.h (Wine's): ok(cond, "got %d\n", x) with the actual value in
 * the message, failures printed as "file.c:LINE: Test failed: ...", and a last line per program
 * "PROGRAM: N passed, N failed, N skipped" that tests/host/run.sh adds up. Checks are counted, not programs.
 *
 * Thread-safe: the counters are atomics (the TSan stress calls ok() from several threads).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_HOST_TEST_H
#define OLE32MEM_HOST_TEST_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_long test_passed, test_failed, test_skipped;

static void test_vreport(const char *file, int line, const char *kind, const char *format, va_list args)
{
    const char *base = strrchr(file, '/');

    flockfile(stdout);
    printf("%s:%d: %s", base ? base + 1 : file, line, kind);
    vprintf(format, args);
    fflush(stdout);
    funlockfile(stdout);
}

static __attribute__((format(printf, 4, 5), unused)) int test_ok(const char *file, int line, int condition,
                                                                 const char *format, ...)
{
    va_list args;

    if (condition)
    {
        atomic_fetch_add(&test_passed, 1);
        return 1;
    }
    atomic_fetch_add(&test_failed, 1);
    va_start(args, format);
    test_vreport(file, line, "Test failed: ", format, args);
    va_end(args);
    return 0;
}

static __attribute__((format(printf, 3, 4), unused)) void test_skip(const char *file, int line, const char *format,
                                                                    ...)
{
    va_list args;

    atomic_fetch_add(&test_skipped, 1);
    va_start(args, format);
    test_vreport(file, line, "Tests skipped: ", format, args);
    va_end(args);
}

#define ok(condition, ...) test_ok(__FILE__, __LINE__, (condition) != 0, __VA_ARGS__)
#define skip(...) test_skip(__FILE__, __LINE__, __VA_ARGS__)
#define trace(...) (printf(__VA_ARGS__), fflush(stdout))

/* Last line of a test program; its exit code is nonzero when something failed. */
static __attribute__((unused)) int test_summary(const char *program)
{
    printf("%s: %ld passed, %ld failed, %ld skipped\n", program, atomic_load(&test_passed),
           atomic_load(&test_failed), atomic_load(&test_skipped));
    fflush(stdout);
    return atomic_load(&test_failed) ? 1 : 0;
}

#endif /* OLE32MEM_HOST_TEST_H */
