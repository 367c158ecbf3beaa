/*
 * Suppressions (OLE32MEM_SUPPRESS): which leaks the report keeps quiet about.
 *
 *   OLE32MEM_SUPPRESS=a.dll,b.dll   leaks allocated by a call from these modules (the allocating frame's module)
 *   OLE32MEM_SUPPRESS=@path         a file of lines "leak:PATTERN", as LeakSanitizer's: PATTERN matches the module
 *                                   name or the function name of any frame of the leak's stack; '*' matches any
 *                                   run of characters (so "leak:*" hides everything); '#' starts a comment line;
 *                                   blank lines are skipped; any other line is reported with its line number and
 *                                   skipped. Names compare without regard to case (module names are
 *                                   case-insensitive on Windows; functions rarely differ only by case).
 *
 * Owns the suppression list and the blocks/bytes each one hid since the last report. Invariants: the list is
 * written only by diag_suppress_configure, before the first allocation, and read-only after; what each one hid is
 * counted by each report on its own (reports run outside every lock, possibly two at once). Never reads symbols
 * itself: the report hands it names.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "diag_internal.h"
#include "platform_report.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

enum
{
    PATTERN_CHARS = 256,
    LINE_CHARS = 1024,
};

struct suppression
{
    char pattern[PATTERN_CHARS];
    int caller_module_only; /* from the plain list: the allocating frame's module, nothing else */
};

static struct suppression suppressions[DIAG_SUPPRESS_MAX];
static unsigned suppression_count;
static int any_function_pattern;

static void add(const char *pattern, size_t length, int caller_module_only)
{
    struct suppression *s;

    if (suppression_count == DIAG_SUPPRESS_MAX)
    {
        diag_report("ole32mem: suppress: more than %d suppressions; '%.*s' and the rest are ignored", DIAG_SUPPRESS_MAX,
                    (int)length, pattern);
        return;
    }
    if (!length || length >= PATTERN_CHARS)
        return;
    s = &suppressions[suppression_count++];
    memcpy(s->pattern, pattern, length);
    s->pattern[length] = 0;
    s->caller_module_only = caller_module_only;
    any_function_pattern |= !caller_module_only;
}

static void read_file(const char *path)
{
    char line[LINE_CHARS];
    unsigned number = 0;
    FILE *file = fopen(path, "r");

    if (!file)
    {
        diag_report("ole32mem: suppress: cannot read OLE32MEM_SUPPRESS file %s", path);
        return;
    }
    while (fgets(line, sizeof(line), file))
    {
        size_t length = strcspn(line, "\r\n");
        const char *text = line, *pattern;

        number++;
        line[length] = 0;
        while (isspace((unsigned char)*text))
            text++;
        length = strlen(text);
        while (length && isspace((unsigned char)text[length - 1]))
            length--;
        if (!length || *text == '#')
            continue;
        if (length > 5 && !strncmp(text, "leak:", 5))
        {
            pattern = text + 5;
            if (strcspn(pattern, " \t") >= length - 5)
            {
                add(pattern, length - 5, 0);
                continue;
            }
        }
        diag_report("ole32mem: suppress: %s:%u: not a suppression (want leak:PATTERN), skipped: %.*s", path, number,
                    (int)length, text);
    }
    fclose(file);
}

void diag_suppress_configure(const char *setting)
{
    if (!setting || !*setting)
        return;
    if (*setting == '@')
    {
        read_file(setting + 1);
        return;
    }
    while (*setting)
    {
        size_t length = strcspn(setting, ",");

        add(setting, length, 1);
        setting += length;
        setting += strspn(setting, ",");
    }
}

/* '*' matches any run of characters; everything else one character, case-insensitively. */
static int wildcard_match(const char *pattern, const char *name)
{
    const char *star = NULL, *resume = NULL;

    while (*name)
    {
        if (*pattern == '*')
        {
            star = pattern++;
            resume = name;
        }
        else if (tolower((unsigned char)*pattern) == tolower((unsigned char)*name))
        {
            pattern++;
            name++;
        }
        else if (star)
        {
            pattern = star + 1;
            name = ++resume;
        }
        else
            return 0;
    }
    while (*pattern == '*')
        pattern++;
    return !*pattern;
}

int diag_suppressions_need_functions(void)
{
    return any_function_pattern;
}

int diag_suppression_match(unsigned frame_count, const char *const *modules, const char *const *functions)
{
    unsigned i, frame;

    for (i = 0; i < suppression_count; i++)
    {
        const struct suppression *s = &suppressions[i];

        if (s->caller_module_only)
        {
            if (frame_count && modules[0] && *modules[0] && !plat_name_compare(modules[0], s->pattern))
                return (int)i;
            continue;
        }
        for (frame = 0; frame < frame_count; frame++)
            if ((modules[frame] && *modules[frame] && wildcard_match(s->pattern, modules[frame])) ||
                (functions && functions[frame] && *functions[frame] && wildcard_match(s->pattern, functions[frame])))
                return (int)i;
    }
    return -1;
}

unsigned diag_suppression_count(void)
{
    return suppression_count;
}

void diag_suppressions_report(const size_t *blocks, const size_t *bytes)
{
    unsigned i;

    for (i = 0; i < suppression_count; i++)
        if (blocks[i])
            diag_report("ole32mem: suppressed: %s%s hid %llu blocks, %llu bytes",
                        suppressions[i].caller_module_only ? "" : "leak:", suppressions[i].pattern,
                        (unsigned long long)blocks[i], (unsigned long long)bytes[i]);
}
