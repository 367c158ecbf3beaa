/*
 * The conformance tests' harness, in the style of Wine's tests: ok(cond, "got %#lx\n", hr) with the actual value in
 * the message, failures printed as "file.c:LINE: Test failed: ...", and a last line per program
 * "PROGRAM: N passed, N failed, N skipped, N todo" that tests/run-tests.sh adds up.
 *
 * Every test program is built twice: against ole32mem and, with TEST_BUILTIN defined, against the system ole32 (Wine's
 * builtin), which is the differential reference. Where Wine's builtin is known to differ from Windows (the table in
 * README.md, keys as in ../shared/SEMANTICS.md), a check is written with ok_windows(key, ...): against ole32mem it is
 * an ordinary check; against the builtin a failure is expected and counted as "todo", and a pass is a failure
 * (the difference is gone: update the test and the README), like Wine's todo_wine.
 *
 * Thread-safe: counters are updated with interlocked operations.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_TEST_H
#define OLE32MEM_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <windows.h>

#ifdef TEST_BUILTIN
#define TEST_TARGET "builtin"
static const int testing_builtin = 1;
#else
#define TEST_TARGET "ole32mem"
static const int testing_builtin = 0;
#endif

static LONG test_passed, test_failed, test_skipped, test_todo;

/* Not every program uses every helper; messages are checked against the C runtime's printf. */
#define TEST_UNUSED __attribute__((unused))
#define TEST_FORMAT(format_arg, first_arg) __attribute__((format(__MINGW_PRINTF_FORMAT, format_arg, first_arg)))
/* SIZE_T and pointer-sized integers in messages: "%llu" / "%#llx" with SZ(value), the same on both arches. */
#define SZ(value) ((ULONGLONG)(value))

static void test_vreport(const char *file, int line, const char *kind, const char *format, va_list args)
{
    const char *base = strrchr(file, '/');

    printf("%s:%d: %s", base ? base + 1 : file, line, kind);
    vprintf(format, args);
    fflush(stdout);
}

static TEST_UNUSED TEST_FORMAT(4, 5) int test_ok(const char *file, int line, int condition, const char *format, ...)
{
    va_list args;

    if (condition)
    {
        InterlockedIncrement(&test_passed);
        return 1;
    }
    InterlockedIncrement(&test_failed);
    va_start(args, format);
    test_vreport(file, line, "Test failed: ", format, args);
    va_end(args);
    return 0;
}

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
            InterlockedIncrement(&test_passed);
        else
        {
            InterlockedIncrement(&test_failed);
            test_vreport(file, line, "Test failed: ", format, args);
        }
        va_end(args);
        return condition;
    }
    if (condition)
    {
        InterlockedIncrement(&test_failed);
        snprintf(kind, sizeof(kind), "Test succeeded inside todo block: Wine difference '%s' is gone: ", key);
        va_start(args, format);
        test_vreport(file, line, kind, format, args);
        va_end(args);
        return 1;
    }
    InterlockedIncrement(&test_todo);
    snprintf(kind, sizeof(kind), "Test marked todo (%s): ", key);
    va_start(args, format);
    test_vreport(file, line, kind, format, args);
    va_end(args);
    return 0;
}

static TEST_UNUSED TEST_FORMAT(3, 4) void test_skip(const char *file, int line, const char *format, ...)
{
    va_list args;

    InterlockedIncrement(&test_skipped);
    va_start(args, format);
    test_vreport(file, line, "Tests skipped: ", format, args);
    va_end(args);
}

#define ok(condition, ...) test_ok(__FILE__, __LINE__, (condition) != 0, __VA_ARGS__)
#define ok_windows(key, condition, ...) test_ok_windows(__FILE__, __LINE__, key, (condition) != 0, __VA_ARGS__)
#define skip(...) test_skip(__FILE__, __LINE__, __VA_ARGS__)
#define trace(...) (printf(__VA_ARGS__), fflush(stdout))

/* A recognisable, seed-dependent pattern for a block's contents, to prove that data survives Realloc and crossing
 * allocators. */
static TEST_UNUSED void fill(void *block, SIZE_T size, unsigned char seed)
{
    unsigned char *bytes = block;
    SIZE_T i;

    for (i = 0; i < size; i++)
        bytes[i] = (unsigned char)(seed + i * 7);
}

/* The index of the first byte that is not what fill() wrote, or size when all are. */
static TEST_UNUSED SIZE_T check_fill(const void *block, SIZE_T size, unsigned char seed)
{
    const unsigned char *bytes = block;
    SIZE_T i;

    for (i = 0; i < size; i++)
        if (bytes[i] != (unsigned char)(seed + i * 7))
            return i;
    return size;
}

static TEST_UNUSED BOOL filled(const void *block, SIZE_T size, unsigned char seed)
{
    return check_fill(block, size, seed) == size;
}

/* Last line of a test program; its exit code is nonzero when something failed. */
static TEST_UNUSED int test_summary(const char *program)
{
    printf("%s (%s): %ld passed, %ld failed, %ld skipped, %ld todo\n", program, TEST_TARGET, test_passed, test_failed,
           test_skipped, test_todo);
    fflush(stdout);
    return test_failed ? 1 : 0;
}

#endif /* OLE32MEM_TEST_H */
