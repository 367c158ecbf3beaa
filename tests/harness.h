/*
 * The one test harness of ole32mem, shared by the conformance tests under Wine (tests/test.h adds what is Wine's:
 * the builtin reference and ok_windows) and the host tests (tests/host/host_test.h), in the style of Wine's
 * include/wine/test.h: ok(cond, "got %#lx\n", hr) with the actual value in the message, failures printed as
 * "file.c:LINE: Test failed: ...", and one last line per program
 *
 *     PROGRAM (TARGET): N passed, N failed, N skipped, N todo
 *
 * that tests/lib.sh (lib_parse_summary) reads for every runner. TARGET is "ole32mem" or "builtin" under Wine and
 * "host" on the host; "todo" counts only known Wine differences that behaved as expected (tests/test.h).
 *
 * Invariants: checks are counted, not programs; the counters are C11 atomics and every report is written with one
 * stdio call, so ok() may be called from any thread (the stress tests do). Never exits on a failed check: a test
 * goes on and reports everything it finds. Portable C: nothing here names Windows or POSIX.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_HARNESS_H
#define OLE32MEM_HARNESS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef TEST_TARGET
#define TEST_TARGET "host"
#endif

/* Not every program uses every helper; messages are checked against the C runtime's printf. */
#define TEST_UNUSED __attribute__((unused))
#ifdef __MINGW_PRINTF_FORMAT
#define TEST_FORMAT(format_arg, first_arg) __attribute__((format(__MINGW_PRINTF_FORMAT, format_arg, first_arg)))
#else
#define TEST_FORMAT(format_arg, first_arg) __attribute__((format(printf, format_arg, first_arg)))
#endif
/* Sizes and pointer-sized integers in messages: "%llu" / "%#llx" with SZ(value), the same on every arch. */
#define SZ(value) ((unsigned long long)(value))

enum
{
    TEST_REPORT_MAX = 1024,
};

static atomic_long test_passed, test_failed, test_skipped, test_todo;

/* One report line, written with one call so that lines of different threads do not mix. */
static TEST_UNUSED void test_vreport(const char *file, int line, const char *kind, const char *format, va_list args)
{
    const char *base = strrchr(file, '/');
    char text[TEST_REPORT_MAX];
    int used;

    used = snprintf(text, sizeof(text), "%s:%d: %s", base ? base + 1 : file, line, kind);
    if (used >= 0 && (size_t)used < sizeof(text))
        vsnprintf(text + used, sizeof(text) - (size_t)used, format, args);
    fputs(text, stdout);
    fflush(stdout);
}

static TEST_UNUSED TEST_FORMAT(4, 5) int test_ok(const char *file, int line, int condition, const char *format, ...)
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

static TEST_UNUSED TEST_FORMAT(3, 4) void test_skip(const char *file, int line, const char *format, ...)
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

/* A recognisable, seed-dependent pattern for a block's contents, to prove that data survives Realloc and crossing
 * allocators. */
static TEST_UNUSED void fill(void *block, size_t size, unsigned char seed)
{
    unsigned char *bytes = block;
    size_t i;

    for (i = 0; i < size; i++)
        bytes[i] = (unsigned char)(seed + i * 7);
}

/* The index of the first byte that is not what fill() wrote, or size when all are. */
static TEST_UNUSED size_t check_fill(const void *block, size_t size, unsigned char seed)
{
    const unsigned char *bytes = block;
    size_t i;

    for (i = 0; i < size; i++)
        if (bytes[i] != (unsigned char)(seed + i * 7))
            return i;
    return size;
}

static TEST_UNUSED int filled(const void *block, size_t size, unsigned char seed)
{
    return check_fill(block, size, seed) == size;
}

/* Last line of a test program; its exit code is nonzero when something failed. */
static TEST_UNUSED int test_summary(const char *program)
{
    printf("%s (%s): %ld passed, %ld failed, %ld skipped, %ld todo\n", program, TEST_TARGET, atomic_load(&test_passed),
           atomic_load(&test_failed), atomic_load(&test_skipped), atomic_load(&test_todo));
    fflush(stdout);
    return atomic_load(&test_failed) ? 1 : 0;
}

#endif /* OLE32MEM_HARNESS_H */
