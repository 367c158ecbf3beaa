/*
 * tests/diag/child.h: the child-process fixture of the diagnostics' test programs (diag.c, regress.c, hook.c,
 * stacks.c), in the style of Wine's tests: a program run without arguments is the parent; it re-runs itself as
 * `PROGRAM child MODE [ARG]` (or runs a helper program of its folder) with the OLE32MEM_* settings one case needs,
 * waits for it within a time limit, and checks with ok() what the child wrote. The diagnostics read their settings
 * when ole32mem.dll loads, and report at exit: both need a process of their own.
 *
 * What it owns:
 *   - the child's environment: the parent's, with every OLE32MEM_* variable removed, then the program's defaults
 *     (child_init) and the case's settings ("NAME=value" strings, in that order: a later one wins);
 *   - the child's files, in the folder `out` next to the program (made when missing): PROGRAM-LABEL.out and .err, its
 *     stdout and stderr through inherited handles, and with CHILD_LOG PROGRAM-LABEL.log, named in OLE32MEM_LOG;
 *   - the texts read back, CRs removed (a child's stdout is in text mode), and the line helpers the checks use;
 *   - the child's side: child_main runs the mode a child was started for, from the program's table, and ends with
 *     the summary line of the child's checks (tests/harness.h);
 *   - the child's own checks: child_run adds the counts of that summary line to the parent's and shows the child's
 *     failed checks, so that a failure in a child fails the parent.
 *
 * Invariants: one child at a time (the environment changed around a run is the parent's own); a child that outlives
 * its time limit is ended and `finished` is 0; a missing file reads as "".
 * Must never: leave an OLE32MEM_* variable set in the parent, or read a child's file before the child has ended.
 *
 * Include it after tests/test.h.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_DIAG_CHILD_H
#define OLE32MEM_DIAG_CHILD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum
{
    CHILD_TEXT_MAX = 1 << 20, /* the most of a child's file that is read */
    CHILD_LINE_MAX = 4096,    /* the longest line the helpers copy whole */
    CHILD_PATH_MAX = MAX_PATH * 2,
    CHILD_LABEL_MAX = 64,
    CHILD_LOG = 1, /* child_run flag: OLE32MEM_LOG is PROGRAM-LABEL.log, read into `log` */
};

/* How child_count_lines and child_find_line match a line. */
enum child_match
{
    LINE_STARTS,
    LINE_CONTAINS,
    LINE_IS,
};

struct child
{
    char label[CHILD_LABEL_MAX];
    DWORD pid;             /* its process id: what OLE32MEM_LOG's "%p" became */
    DWORD exit_code;       /* (DWORD)-1 when it did not finish */
    int finished;          /* it ended by itself within the time limit */
    int summary;           /* it printed its summary line: its mode ran to the end (child_main) */
    char *out, *err, *log; /* its stdout, stderr and (CHILD_LOG) OLE32MEM_LOG file; "" when none */
};

/* A mode of a child, `PROGRAM child NAME [ARG]`: `run` does it (ARG is child_arg). */
struct child_mode
{
    const char *name;
    void (*run)(void);
};

static char child_self[CHILD_PATH_MAX], child_dir[CHILD_PATH_MAX], child_out_dir[CHILD_PATH_MAX];
static const char *child_program = "test";
static const char *const *child_defaults;
static const char *child_arg; /* in a child: ARG of `PROGRAM child MODE ARG`, NULL when none */

/* Once, first thing in main: `program` names the children's files and messages; `defaults` (NULL-terminated, or
 * NULL) are the settings of every child of this program. */
static TEST_UNUSED void child_init(const char *program, const char *const *defaults)
{
    char *slash;

    GetModuleFileNameA(NULL, child_self, sizeof(child_self));
    snprintf(child_dir, sizeof(child_dir), "%s", child_self);
    if ((slash = strrchr(child_dir, '\\')))
        *slash = 0;
    snprintf(child_out_dir, sizeof(child_out_dir), "%s\\out", child_dir);
    CreateDirectoryA(child_out_dir, NULL);
    child_program = program;
    child_defaults = defaults;
}

/* The whole of a child, `PROGRAM child MODE [ARG]` (main's argv[2] and argv[3]): runs MODE from the table (an
 * unknown mode is a failed check) and prints the summary of its checks, which tells the parent it ran to the end.
 * Answers main's exit code: nonzero when a check failed. */
static TEST_UNUSED int child_main(const char *mode, const char *arg, const struct child_mode *modes, size_t count)
{
    size_t i;

    child_arg = arg;
    for (i = 0; i < count && strcmp(mode, modes[i].name); i++)
        ;
    if (i < count)
        modes[i].run();
    else
        ok(0, "unknown mode %s\n", mode);
    return test_summary(mode);
}

/* Where a child's file is: out\PROGRAM-LABEL.EXTENSION. */
static TEST_UNUSED void child_path(char *path, size_t size, const char *label, const char *extension)
{
    snprintf(path, size, "%s\\%s-%s.%s", child_out_dir, child_program, label, extension);
}

/* A file's text (at most CHILD_TEXT_MAX - 1 bytes) with its CRs removed, "" when there is none; free() it. */
static TEST_UNUSED char *child_read_text(const char *path)
{
    HANDLE file = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                              OPEN_EXISTING, 0, NULL);
    char *text = malloc(CHILD_TEXT_MAX), *in, *out;
    DWORD got = 0;

    if (!text)
    {
        fprintf(stderr, "%s: out of memory\n", child_program);
        exit(1);
    }
    if (file != INVALID_HANDLE_VALUE)
    {
        if (!ReadFile(file, text, CHILD_TEXT_MAX - 1, &got, NULL))
            got = 0;
        CloseHandle(file);
    }
    text[got] = 0;
    for (in = out = text; in < text + got; in++)
        if (*in != '\r')
            *out++ = *in;
    *out = 0;
    return text;
}

/* The line at *cursor, copied into `line` (cut to fit), and *cursor moved past it; 0 at the end of the text. */
static TEST_UNUSED int child_next_line(const char **cursor, char *line, size_t size)
{
    const char *start = *cursor, *end;
    size_t length;

    if (!*start)
        return 0;
    end = strchr(start, '\n');
    length = end ? (size_t)(end - start) : strlen(start);
    *cursor = end ? end + 1 : start + length;
    if (length >= size)
        length = size - 1;
    memcpy(line, start, length);
    line[length] = 0;
    return 1;
}

static TEST_UNUSED int child_line_matches(const char *line, const char *what, enum child_match how)
{
    switch (how)
    {
    case LINE_STARTS:
        return !strncmp(line, what, strlen(what));
    case LINE_CONTAINS:
        return strstr(line, what) != NULL;
    case LINE_IS:
        return !strcmp(line, what);
    }
    return 0;
}

/* How many lines of `text` match `what`. */
static TEST_UNUSED int child_count_lines(const char *text, const char *what, enum child_match how)
{
    char line[CHILD_LINE_MAX];
    int count = 0;

    while (child_next_line(&text, line, sizeof(line)))
        count += child_line_matches(line, what, how);
    return count;
}

/* The first line of `text` that contains `a` and (unless NULL) `b`, copied to `line`; NULL when there is none. */
static TEST_UNUSED const char *child_find_line(const char *text, const char *a, const char *b, char *line, size_t size)
{
    while (child_next_line(&text, line, size))
        if (strstr(line, a) && (!b || strstr(line, b)))
            return line;
    return NULL;
}

/* Removes every OLE32MEM_* variable from this process's environment (GetEnvironmentStrings answers a copy). */
static TEST_UNUSED void child_clean_environment(void)
{
    static const char prefix[] = "OLE32MEM_";
    char *block = GetEnvironmentStringsA(), *entry, name[256];

    for (entry = block; entry && *entry; entry += strlen(entry) + 1)
    {
        const char *equals = strchr(entry, '=');

        if (equals && equals - entry < (ptrdiff_t)sizeof(name) && !_strnicmp(entry, prefix, sizeof(prefix) - 1))
        {
            snprintf(name, sizeof(name), "%.*s", (int)(equals - entry), entry);
            SetEnvironmentVariableA(name, NULL);
        }
    }
    FreeEnvironmentStringsA(block);
}

static TEST_UNUSED void child_set(const char *const *settings)
{
    char name[256];

    for (; settings && *settings; settings++)
    {
        const char *equals = strchr(*settings, '=');

        snprintf(name, sizeof(name), "%.*s", (int)(equals - *settings), *settings);
        SetEnvironmentVariableA(name, equals + 1);
    }
}

/* Adds the counts of the child's (last) summary line to this program's and shows the child's failed checks under
 * its label; 0 when the child printed no summary. */
static TEST_UNUSED int child_add_summary(struct child *child)
{
    char line[CHILD_LINE_MAX], name[128], target[32];
    const char *cursor = child->out;
    long counts[4], found[4];
    int end, have = 0;

    while (child_next_line(&cursor, line, sizeof(line)))
    {
        if (strstr(line, ": Test failed: ") || strstr(line, ": Test succeeded inside todo block"))
            printf("%s: child %s: %s\n", child_program, child->label, line);
        end = 0;
        if (sscanf(line, "%127s (%31[^)]): %ld passed, %ld failed, %ld skipped, %ld todo%n", name, target, &counts[0],
                   &counts[1], &counts[2], &counts[3], &end) == 6 &&
            end && !line[end])
        {
            memcpy(found, counts, sizeof(found));
            have = 1;
        }
    }
    child->summary = have;
    if (have)
    {
        atomic_fetch_add(&test_passed, found[0]);
        atomic_fetch_add(&test_failed, found[1]);
        atomic_fetch_add(&test_skipped, found[2]);
        atomic_fetch_add(&test_todo, found[3]);
    }
    fflush(stdout);
    return have;
}

/* Runs `program` of this folder with `args` (NULL: none), or this program as `PROGRAM child ARGS` when `program` is
 * NULL, with the settings added (NULL-terminated, or NULL); waits at most `timeout_ms`. Free with child_free. */
static TEST_UNUSED void child_run_program(struct child *child, const char *program, const char *label, const char *args,
                                          const char *const *settings, unsigned flags, DWORD timeout_ms)
{
    SECURITY_ATTRIBUTES inherit = {sizeof(inherit), NULL, TRUE};
    char command[CHILD_PATH_MAX * 2], out_path[CHILD_PATH_MAX], err_path[CHILD_PATH_MAX], log_path[CHILD_PATH_MAX];
    STARTUPINFOA startup;
    PROCESS_INFORMATION process;
    HANDLE out, err;

    memset(child, 0, sizeof(*child));
    child->exit_code = (DWORD)-1;
    snprintf(child->label, sizeof(child->label), "%s", label);
    child_path(out_path, sizeof(out_path), label, "out");
    child_path(err_path, sizeof(err_path), label, "err");
    child_path(log_path, sizeof(log_path), label, "log");
    child_clean_environment();
    child_set(child_defaults);
    child_set(settings);
    if (flags & CHILD_LOG)
    {
        DeleteFileA(log_path);
        SetEnvironmentVariableA("OLE32MEM_LOG", log_path);
    }
    out = CreateFileA(out_path, GENERIC_WRITE, FILE_SHARE_READ, &inherit, CREATE_ALWAYS, 0, NULL);
    err = CreateFileA(err_path, GENERIC_WRITE, FILE_SHARE_READ, &inherit, CREATE_ALWAYS, 0, NULL);
    memset(&startup, 0, sizeof(startup));
    startup.cb = sizeof(startup);
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    startup.hStdOutput = out;
    startup.hStdError = err;
    if (program)
        snprintf(command, sizeof(command), "\"%s\\%s\"%s%s", child_dir, program, args ? " " : "", args ? args : "");
    else
        snprintf(command, sizeof(command), "\"%s\" child %s", child_self, args);
    if (!CreateProcessA(NULL, command, NULL, NULL, TRUE, 0, NULL, NULL, &startup, &process))
        ok(0, "%s: CreateProcess(%s): error %lu\n", label, command, GetLastError());
    else
    {
        child->pid = process.dwProcessId;
        child->finished = WaitForSingleObject(process.hProcess, timeout_ms) == WAIT_OBJECT_0;
        if (child->finished)
            GetExitCodeProcess(process.hProcess, &child->exit_code);
        else
        {
            TerminateProcess(process.hProcess, 1);
            WaitForSingleObject(process.hProcess, INFINITE);
        }
        CloseHandle(process.hProcess);
        CloseHandle(process.hThread);
    }
    CloseHandle(out);
    CloseHandle(err);
    child_clean_environment();
    child->out = child_read_text(out_path);
    child->err = child_read_text(err_path);
    child->log = child_read_text(flags & CHILD_LOG ? log_path : "");
    child_add_summary(child);
}

/* This program as `PROGRAM child ARGS`: see child_run_program. */
static TEST_UNUSED void child_run(struct child *child, const char *label, const char *args, const char *const *settings,
                                  unsigned flags, DWORD timeout_ms)
{
    child_run_program(child, NULL, label, args, settings, flags, timeout_ms);
}

static TEST_UNUSED void child_free(struct child *child)
{
    free(child->out);
    free(child->err);
    free(child->log);
    child->out = child->err = child->log = NULL;
}

#endif /* OLE32MEM_DIAG_CHILD_H */
