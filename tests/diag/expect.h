/*
 * tests/diag/expect.h: the expectation protocol of the diagnostics suite, both sides. A child (a mode of
 * tests/diag/diag.c, or tests/diag/diagdyn.c) does a known good or bad thing and prints on its stdout what ole32mem
 * must report about it; the parent (diag.c run without arguments) reads those lines and checks the report, the
 * child's stderr or OLE32MEM_LOG file, with ok(): expect_check.
 *
 * The lines (fields separated by '|'; the last field takes the rest of the line):
 *   RANGE|name|module|lo|hi        code offsets [lo, hi) of function `name` in `module` (hex, no 0x): a report that
 *                                  names that function as the caller must say module+0xOFF with lo < OFF < hi (a
 *                                  return address lies after the function's first byte).
 *   EXPECT|how|n|prefix|fn|suffix  exactly n lines of the report are prefix + "module+0xOFF" + suffix, with OFF in
 *                                  the RANGE of fn; fn "-" means the line is prefix + suffix exactly. how "seq" also
 *                                  requires the (first) match to come after the previous "seq" match.
 *   COUNT|n|prefix                 exactly n lines of the report start with prefix (no unexpected report).
 *
 * A child knows where a function starts, not where it ends: it prints hi = lo + EXPECT_FUNCTION_BOUND. The parent
 * narrows hi to the next symbol when the file named by DIAG_EXTENTS knows the function: lines
 * "module|symbol|start|next" (hex), the start of each code symbol and of the next symbol above it, which
 * tests/diag/run.sh writes with the cross nm. An i686 symbol may carry a leading '_' and a stdcall "@N".
 *
 * Failure messages name the case, the line expected, the nearest line the report has (same prefix or same suffix:
 * another caller, size or pointer) and the range of the function.
 *
 * Must never: read the child's memory or guess an offset (every expected site comes from the child's own function
 * addresses). Include it after tests/test.h.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_DIAG_EXPECT_H
#define OLE32MEM_DIAG_EXPECT_H

#include <stdarg.h>
#include <stdint.h>

#include "child.h"

enum
{
    /* A report's return address lies within this many bytes of the start of the (small) function that made it. */
    EXPECT_FUNCTION_BOUND = 0x200,
    EXPECT_NAME_MAX = 64,
    EXPECT_RANGES_MAX = 32,
    EXPECT_COUNT_SHOWN = 8, /* lines listed when a COUNT fails */
};

/* --- the child's side ------------------------------------------------------------------------------------------ */

/* The file name of a module, without its folder. */
static TEST_UNUSED void expect_module_name(HMODULE module, char *name, size_t size)
{
    char path[MAX_PATH];
    const char *base;

    GetModuleFileNameA(module, path, sizeof(path));
    base = strrchr(path, '\\');
    snprintf(name, size, "%s", base ? base + 1 : path);
}

static TEST_UNUSED void expect_range(const char *name, HMODULE module, const void *function)
{
    char module_name[MAX_PATH];
    uintptr_t lo = (uintptr_t)function - (uintptr_t)module;

    expect_module_name(module, module_name, sizeof(module_name));
    printf("RANGE|%s|%s|%lx|%lx\n", name, module_name, (unsigned long)lo, (unsigned long)(lo + EXPECT_FUNCTION_BOUND));
}

/* The RANGE of a function of the program itself. */
#define RANGE(fn) expect_range(#fn, GetModuleHandleA(NULL), (const void *)(fn))

/* printf into one of a few rotating buffers: for building an expectation in one call. */
static TEST_UNUSED TEST_FORMAT(1, 2) const char *fmt(const char *format, ...)
{
    static char buffers[8][512];
    static unsigned next;
    char *buffer = buffers[next++ % 8];
    va_list args;

    va_start(args, format);
    vsnprintf(buffer, sizeof(buffers[0]), format, args);
    va_end(args);
    return buffer;
}

static TEST_UNUSED void expect(const char *how, int count, const char *prefix, const char *fn, const char *suffix)
{
    printf("EXPECT|%s|%d|%s|%s|%s\n", how, count, prefix, fn, suffix);
}

static TEST_UNUSED void expect_count(int count, const char *prefix)
{
    printf("COUNT|%d|%s\n", count, prefix);
}

/* The first line of this process's leak report at exit (or at ole32mem's unload). */
static TEST_UNUSED void expect_leak_header(const char *how, unsigned long blocks, unsigned long bytes,
                                           unsigned long suppressed, unsigned long sites)
{
    expect(how, 1,
           fmt("ole32mem: leaks: %lu blocks, %lu bytes never freed (pid %lu; %lu suppressed), %lu allocation sites:",
               blocks, bytes, GetCurrentProcessId(), suppressed, sites),
           "-", "");
}

/* --- the parent's side ----------------------------------------------------------------------------------------- */

struct expect_range
{
    char name[EXPECT_NAME_MAX], module[MAX_PATH];
    unsigned long lo, hi;
};

struct expect_ranges
{
    unsigned count;
    struct expect_range range[EXPECT_RANGES_MAX];
};

static char *expect_extents; /* the DIAG_EXTENTS file, NULL when there is none */

/* Once, in the parent, before the first expect_check. */
static TEST_UNUSED void expect_load_extents(void)
{
    char path[CHILD_PATH_MAX];

    if (GetEnvironmentVariableA("DIAG_EXTENTS", path, sizeof(path)))
        expect_extents = child_read_text(path);
}

/* `symbol` is the symbol table's name of function `name`: name, _name, or name@N / _name@N (i686 stdcall). */
static TEST_UNUSED int expect_symbol_is(const char *symbol, const char *name)
{
    const char *rest = symbol + (*symbol == '_');
    size_t length = strlen(name);

    if (!strcmp(symbol, name))
        return 1;
    if (strncmp(rest, name, length))
        return 0;
    rest += length;
    if (!*rest)
        return 1;
    return rest[0] == '@' && rest[1] && strspn(rest + 1, "0123456789") == strlen(rest + 1);
}

/* How far function `name` of `module` reaches by the symbol table (its first symbol of that name), 0 if unknown. */
static TEST_UNUSED unsigned long expect_extent(const char *module, const char *name)
{
    char line[CHILD_LINE_MAX], file[MAX_PATH], symbol[256];
    const char *cursor = expect_extents ? expect_extents : "";
    unsigned long long start, next;

    while (child_next_line(&cursor, line, sizeof(line)))
        if (sscanf(line, "%259[^|]|%255[^|]|%llx|%llx", file, symbol, &start, &next) == 4 && !lstrcmpiA(file, module) &&
            expect_symbol_is(symbol, name))
            return next > start ? (unsigned long)(next - start) : 0;
    return 0;
}

/* The RANGE lines of a child's output, each narrowed to its function's extent when the symbol table knows it. */
static TEST_UNUSED void expect_read_ranges(const char *out, struct expect_ranges *ranges)
{
    char line[CHILD_LINE_MAX];
    struct expect_range range;
    unsigned long extent;
    unsigned i;

    ranges->count = 0;
    while (child_next_line(&out, line, sizeof(line)))
    {
        if (sscanf(line, "RANGE|%63[^|]|%259[^|]|%lx|%lx", range.name, range.module, &range.lo, &range.hi) != 4)
            continue;
        extent = expect_extent(range.module, range.name);
        if (extent && range.lo + extent < range.hi)
            range.hi = range.lo + extent;
        for (i = 0; i < ranges->count && strcmp(ranges->range[i].name, range.name); i++)
            ;
        if (i < EXPECT_RANGES_MAX)
        {
            ranges->range[i] = range;
            ranges->count += i == ranges->count;
        }
    }
}

static TEST_UNUSED const struct expect_range *expect_find_range(const struct expect_ranges *ranges, const char *name)
{
    unsigned i;

    for (i = 0; i < ranges->count; i++)
        if (!strcmp(ranges->range[i].name, name))
            return &ranges->range[i];
    return NULL;
}

static TEST_UNUSED int expect_ends_with(const char *line, const char *suffix)
{
    size_t length = strlen(line), suffix_length = strlen(suffix);

    return length >= suffix_length && !strcmp(line + length - suffix_length, suffix);
}

/* `line` is prefix + "module+0xOFF" + suffix, with the module of `range` and OFF (lowercase hex) inside it. */
static TEST_UNUSED int expect_site_matches(const char *line, const char *prefix, const struct expect_range *range,
                                           const char *suffix)
{
    size_t prefix_length = strlen(prefix), length = strlen(line), suffix_length = strlen(suffix);
    char middle[CHILD_LINE_MAX], *plus, *next, *hex;

    if (strncmp(line, prefix, prefix_length) || length < prefix_length + suffix_length ||
        !expect_ends_with(line, suffix))
        return 0;
    snprintf(middle, sizeof(middle), "%.*s", (int)(length - prefix_length - suffix_length), line + prefix_length);
    for (plus = NULL, next = middle; (next = strstr(next, "+0x")); next++)
        plus = next;
    if (!plus)
        return 0;
    *plus = 0;
    hex = plus + 3;
    if (strcmp(middle, range->module) || !*hex || strspn(hex, "0123456789abcdef") != strlen(hex))
        return 0;
    return strtoul(hex, NULL, 16) > range->lo && strtoul(hex, NULL, 16) < range->hi;
}

/* One EXPECT line against the report; *last_seq is the report line of the latest "seq" match. */
static TEST_UNUSED void expect_one(const char *label, const struct expect_ranges *ranges, const char *report,
                                   const char *how, int count, const char *prefix, const char *fn, const char *suffix,
                                   int *last_seq)
{
    const struct expect_range *range = strcmp(fn, "-") ? expect_find_range(ranges, fn) : NULL;
    char line[CHILD_LINE_MAX], nearest[CHILD_LINE_MAX] = "", what[CHILD_LINE_MAX];
    int number = 0, matched = 0, first = -1;
    const char *cursor = report;

    if (strcmp(fn, "-") && !range)
    {
        ok(0, "%s: no RANGE for %s\n", label, fn);
        return;
    }
    if (range)
        snprintf(what, sizeof(what), "\"%s<%s>%s\"", prefix, fn, suffix);
    else
        snprintf(what, sizeof(what), "\"%s%s\"", prefix, suffix);
    for (; child_next_line(&cursor, line, sizeof(line)); number++)
    {
        if (!range)
        {
            if (strncmp(line, prefix, strlen(prefix)) || strcmp(line + strlen(prefix), suffix))
                continue;
        }
        else if (!expect_site_matches(line, prefix, range, suffix))
        {
            /* The same report with another caller, size or pointer: shown in the failure. */
            if (!strncmp(line, prefix, strlen(prefix)) || (*suffix && expect_ends_with(line, suffix)))
                snprintf(nearest, sizeof(nearest), "%s", line);
            continue;
        }
        matched++;
        if (first < 0)
            first = number;
    }
    if (matched != count)
        ok(0, "%s: expected %d x %s, found %d%s%s%s%s\n", label, count, what, matched, *nearest ? "; nearest: \"" : "",
           nearest, *nearest ? "\"" : "",
           range ? fmt(" (range of %s: %s+[%#lx, %#lx))", fn, range->module, range->lo, range->hi) : "");
    else
        ok(strcmp(how, "seq") || first < 0 || first >= *last_seq, "%s: %s out of order (line %d, after line %d)\n",
           label, what, first + 1, *last_seq + 1);
    if (!strcmp(how, "seq") && first >= 0)
        *last_seq = first;
}

/* One COUNT line against the report. */
static TEST_UNUSED void expect_lines(const char *label, const char *report, int count, const char *prefix)
{
    char line[CHILD_LINE_MAX];
    int found = child_count_lines(report, prefix, LINE_STARTS), shown = 0;

    if (ok(found == count, "%s: expected %d lines starting \"%s\", found %d%s\n", label, count, prefix, found,
           found ? ":" : ""))
        return;
    while (shown < EXPECT_COUNT_SHOWN && child_next_line(&report, line, sizeof(line)))
    {
        if (!strstr(line, prefix))
            continue;
        trace("    %s\n", line);
        shown++;
    }
}

/* Checks the report of one child against the EXPECT and COUNT lines of its stdout `out`; `label` names the case. */
static TEST_UNUSED void expect_check(const char *label, const char *out, const char *report)
{
    char line[CHILD_LINE_MAX], how[16], prefix[CHILD_LINE_MAX], fn[EXPECT_NAME_MAX];
    struct expect_ranges ranges;
    const char *cursor = out;
    int count, end, last_seq = 0;

    expect_read_ranges(out, &ranges);
    while (child_next_line(&cursor, line, sizeof(line)))
    {
        end = 0;
        if (strncmp(line, "EXPECT|", 7))
            continue;
        if (sscanf(line, "EXPECT|%15[^|]|%d|%4095[^|]|%63[^|]|%n", how, &count, prefix, fn, &end) == 4 && end)
            expect_one(label, &ranges, report, how, count, prefix, fn, line + end, &last_seq);
        else
            ok(0, "%s: not an expectation: \"%s\"\n", label, line);
    }
    cursor = out;
    while (child_next_line(&cursor, line, sizeof(line)))
    {
        end = 0;
        if (strncmp(line, "COUNT|", 6))
            continue;
        if (sscanf(line, "COUNT|%d|%n", &count, &end) == 1 && end)
            expect_lines(label, report, count, line + end);
        else
            ok(0, "%s: not a count: \"%s\"\n", label, line);
    }
}

#endif /* OLE32MEM_DIAG_EXPECT_H */
