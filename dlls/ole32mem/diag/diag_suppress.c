/*
 * Suppressions (OLE32MEM_SUPPRESS): which leaks the report keeps quiet about.
 *
 *   OLE32MEM_SUPPRESS=a.dll,b.dll   leaks allocated by a call from these modules (the allocating frame's module)
 *   OLE32MEM_SUPPRESS=@path         a file of lines "leak:PATTERN", as LeakSanitizer's: PATTERN matches the module
 *                                   name or the function name of any frame of the leak's stack; '*' matches any
 *                                   run of characters (so "leak:*" hides everything); '#' starts a comment line;
 *                                   blank lines are skipped; any other line is reported with its line number and
 *                                   skipped, as is a line of more than 1,023 bytes (a comment excepted: it is one
 *                                   whatever its length) and a pattern of more than 255 characters. The first 10
 *                                   such lines are shown, the rest counted in one line. The file is read as bytes
 *                                   (byte 0x1A ends nothing); a file of more than 32 MiB is refused in one line.
 *                                   Names compare without regard to case (module names are case-insensitive on
 *                                   Windows; functions rarely differ only by case).
 *
 * Owns the suppression list and the blocks/bytes each one hid since the last report. Invariants: the list is
 * written only by diag_suppress_configure, before the first allocation, and read-only after; what each one hid is
 * counted by each report on its own (reports run outside every lock, possibly two at once). Never reads symbols
 * itself: the report hands it names. Never lets part of a line act as a line of its own.
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
    PATTERN_CHARS = 256, /* a pattern has at most PATTERN_CHARS - 1 characters */
    LINE_CHARS = 1024,   /* a line has at most LINE_CHARS - 1 bytes, its end of line apart */
    /* The largest suppression file read, in MiB: it is read while ole32mem.dll loads, under the loader's lock. */
    FILE_MAX_MIB = 32,
    CHUNK_BYTES = 4096,
    /* Complaints about one file's lines: the first ones are shown, the rest counted in one line. */
    COMPLAINTS_MAX = 10,
    LINE_PREVIEW_CHARS = 200, /* of a line complained about, the first ones are shown */
    WHY_CHARS = 64,
};

static const char prefix[] = "leak:";

struct suppression
{
    char pattern[PATTERN_CHARS];
    int caller_module_only; /* from the plain list: the allocating frame's module, nothing else */
};

static struct suppression suppressions[DIAG_SUPPRESS_MAX];
static unsigned suppression_count;
static int any_function_pattern;
static int overflow_reported; /* "more than DIAG_SUPPRESS_MAX" is said once */

/* Adds a suppression of 1..PATTERN_CHARS - 1 characters (the caller checks the length). */
static void add(const char *pattern, size_t length, int caller_module_only)
{
    struct suppression *s;

    if (suppression_count == DIAG_SUPPRESS_MAX)
    {
        if (!overflow_reported)
            diag_report("ole32mem: suppress: more than %d suppressions; '%.*s' and the rest are ignored",
                        DIAG_SUPPRESS_MAX, (int)length, pattern);
        overflow_reported = 1;
        return;
    }
    s = &suppressions[suppression_count++];
    memcpy(s->pattern, pattern, length);
    s->pattern[length] = 0;
    s->caller_module_only = caller_module_only;
    any_function_pattern |= !caller_module_only;
}

/* One file's reading: where it is, and how many lines were complained about. */
struct file_reader
{
    const char *path;
    unsigned long complaints;
    unsigned long number; /* the line's number, from 1 */
    char line[LINE_CHARS];
    size_t length; /* bytes kept in line[] */
    int too_long;  /* the line had more than LINE_CHARS - 1 bytes: only the first ones were kept */
};

enum complaint
{
    NOT_A_SUPPRESSION,
    LINE_TOO_LONG,
    PATTERN_TOO_LONG,
};

/* One line about a line that was skipped, while fewer than COMPLAINTS_MAX were said; counted in any case. */
static void complain(struct file_reader *reader, enum complaint complaint, const char *text, size_t length)
{
    char why[WHY_CHARS];

    if (reader->complaints++ >= COMPLAINTS_MAX)
        return;
    if (complaint == LINE_TOO_LONG)
        snprintf(why, sizeof(why), "longer than %d bytes", LINE_CHARS - 1);
    else if (complaint == PATTERN_TOO_LONG)
        snprintf(why, sizeof(why), "a pattern longer than %d characters", PATTERN_CHARS - 1);
    else
        snprintf(why, sizeof(why), "not a suppression (want leak:PATTERN)");
    diag_report("ole32mem: suppress: %s:%lu: %s, skipped: %.*s%s", reader->path, reader->number, why,
                (int)(length > LINE_PREVIEW_CHARS ? LINE_PREVIEW_CHARS : length), text,
                length > LINE_PREVIEW_CHARS ? "..." : "");
}

/* A byte that a pattern may hold: printable, not a blank (a pattern is one word). */
static int pattern_byte(unsigned char c)
{
    return c > ' ' && c != 0x7f;
}

/* The line in reader->line: a comment, a blank line, a suppression, or a complaint. Bytes, not a C string: a NUL
 * byte in the file is just a byte that no pattern may hold. */
static void end_line(struct file_reader *reader)
{
    const char *text = reader->line;
    size_t length = reader->length, i;

    reader->number++;
    while (length && isspace((unsigned char)*text))
    {
        text++;
        length--;
    }
    /* A comment is one whatever its length: no part of it is ever read as a suppression. */
    if (length && *text == '#')
        return;
    if (reader->too_long)
    {
        complain(reader, LINE_TOO_LONG, text, length);
        return;
    }
    while (length && isspace((unsigned char)text[length - 1]))
        length--;
    if (!length)
        return;
    if (length > sizeof(prefix) - 1 && !memcmp(text, prefix, sizeof(prefix) - 1))
    {
        for (i = sizeof(prefix) - 1; i < length && pattern_byte((unsigned char)text[i]); i++)
            ;
        if (i == length && length - (sizeof(prefix) - 1) >= PATTERN_CHARS)
            complain(reader, PATTERN_TOO_LONG, text, length);
        else if (i == length)
            add(text + sizeof(prefix) - 1, length - (sizeof(prefix) - 1), 0);
        else
            complain(reader, NOT_A_SUPPRESSION, text, length);
        return;
    }
    complain(reader, NOT_A_SUPPRESSION, text, length);
}

/* Lines end at LF (a CR before it is a blank); the bytes are read as they are (binary: byte 0x1A ends nothing). */
static void read_lines(struct file_reader *reader, FILE *file)
{
    unsigned char chunk[CHUNK_BYTES];
    size_t got, i;

    while ((got = fread(chunk, 1, sizeof(chunk), file)))
    {
        for (i = 0; i < got; i++)
        {
            if (chunk[i] == '\n')
            {
                end_line(reader);
                reader->length = 0;
                reader->too_long = 0;
            }
            else if (reader->length < sizeof(reader->line) - 1)
                reader->line[reader->length++] = (char)chunk[i];
            else
                reader->too_long = 1;
        }
    }
    if (reader->length || reader->too_long)
        end_line(reader);
}

/* Whether the file has at most FILE_MAX_MIB MiB: reads up to one byte more than that, never the rest. */
static int small_enough(FILE *file)
{
    unsigned char chunk[CHUNK_BYTES];
    unsigned long long total = 0;
    size_t got;

    while (total <= (unsigned long long)FILE_MAX_MIB << 20 && (got = fread(chunk, 1, sizeof(chunk), file)))
        total += got;
    return total <= (unsigned long long)FILE_MAX_MIB << 20;
}

/* Read at start-up, in DllMain under the loader's lock, before any allocation can be reported (the report needs the
 * list, and may itself run in DllMain at exit). That is safe: stdio on a file loads no library and waits for no
 * lock that a thread waiting for the loader's lock could hold, and the time is bounded by FILE_MAX_MIB (a larger
 * file is refused after reading FILE_MAX_MIB MiB once). A path naming a pipe or device that never answers would
 * block the load: name a regular file. */
static void read_file(const char *path)
{
    struct file_reader reader;
    FILE *file = fopen(path, "rb");

    if (!file)
    {
        diag_report("ole32mem: suppress: cannot read OLE32MEM_SUPPRESS file %s", path);
        return;
    }
    if (!small_enough(file))
    {
        diag_report("ole32mem: suppress: %s is larger than %d MiB: not read, no suppression from it applies", path,
                    FILE_MAX_MIB);
        fclose(file);
        return;
    }
    if (fseek(file, 0, SEEK_SET))
    {
        diag_report("ole32mem: suppress: cannot read OLE32MEM_SUPPRESS file %s twice (not a regular file?)", path);
        fclose(file);
        return;
    }
    memset(&reader, 0, sizeof(reader));
    reader.path = path;
    read_lines(&reader, file);
    fclose(file);
    if (reader.complaints > COMPLAINTS_MAX)
        diag_report("ole32mem: suppress: %s: %lu more lines skipped (not shown)", path,
                    reader.complaints - COMPLAINTS_MAX);
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

        if (length >= PATTERN_CHARS)
            diag_report("ole32mem: suppress: a module name longer than %d characters, skipped: %.*s...",
                        PATTERN_CHARS - 1, LINE_PREVIEW_CHARS, setting);
        else if (length)
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
