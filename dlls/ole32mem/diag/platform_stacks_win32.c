/*
 * Call stacks on Windows: names from dbghelp (capture is stack_capture_win32.c's).
 *
 * dbghelp is loaded at the first report (LoadLibrary takes the loader's lock: report time only, outside every lock
 * of ours) and kept: Wine's dbghelp reads the DWARF of MinGW -g builds and the exports of Wine's own modules. Owns
 * the dbghelp handle and its functions (written once by the first report, under the report's order: reports never
 * run concurrently with each other's symbol lookups because dbghelp is not thread-safe, see symbols_lock).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <dbghelp.h>

#include <stdio.h>
#include <string.h>

#include "platform_stacks.h"

typedef DWORD(WINAPI *sym_set_options_fn)(DWORD);
typedef BOOL(WINAPI *sym_initialize_fn)(HANDLE, PCSTR, BOOL);
typedef BOOL(WINAPI *sym_from_addr_fn)(HANDLE, DWORD64, DWORD64 *, SYMBOL_INFO *);
typedef BOOL(WINAPI *sym_get_line_fn)(HANDLE, DWORD64, DWORD *, IMAGEHLP_LINE64 *);

/* dbghelp is not thread-safe: one lookup at a time. */
static SRWLOCK symbols_lock = SRWLOCK_INIT;
static int symbols_tried;
static HMODULE dbghelp_module;
static sym_from_addr_fn sym_from_addr;
static sym_get_line_fn sym_get_line;

/* Under symbols_lock. */
static void load_symbols(void)
{
    sym_set_options_fn set_options;
    sym_initialize_fn initialize;
    HMODULE dbghelp;

    symbols_tried = 1;
    if (!(dbghelp = dbghelp_module) && !(dbghelp = LoadLibraryA("dbghelp.dll")))
        return;
    set_options = (sym_set_options_fn)(void (*)(void))GetProcAddress(dbghelp, "SymSetOptions");
    initialize = (sym_initialize_fn)(void (*)(void))GetProcAddress(dbghelp, "SymInitialize");
    if (!set_options || !initialize)
        return;
    set_options(SYMOPT_UNDNAME | SYMOPT_LOAD_LINES);
    /* Invade the process: every module loaded now gets its symbols (deferred until the first lookup in it). */
    if (!initialize(GetCurrentProcess(), NULL, TRUE))
        return;
    sym_from_addr = (sym_from_addr_fn)(void (*)(void))GetProcAddress(dbghelp, "SymFromAddr");
    sym_get_line = (sym_get_line_fn)(void (*)(void))GetProcAddress(dbghelp, "SymGetLineFromAddr64");
}

void plat_symbols_prepare(void)
{
    /* Loaded now, at start-up, and not at the exit report: a library loaded while the process exits is not
     * initialized by Wine's loader. */
    dbghelp_module = LoadLibraryA("dbghelp.dll");
}

int plat_symbolize(const void *address, struct plat_symbol *symbol)
{
    union
    {
        SYMBOL_INFO info;
        char bytes[sizeof(SYMBOL_INFO) + PLAT_FUNCTION_CHARS];
    } found;
    IMAGEHLP_LINE64 line;
    DWORD64 displacement = 0;
    DWORD line_displacement = 0;
    const char *base;
    int known = 0;

    memset(symbol, 0, sizeof(*symbol));
    AcquireSRWLockExclusive(&symbols_lock);
    if (!symbols_tried)
        load_symbols();
    memset(&found, 0, sizeof(found));
    found.info.SizeOfStruct = sizeof(found.info);
    found.info.MaxNameLen = PLAT_FUNCTION_CHARS - 1;
    if (sym_from_addr && sym_from_addr(GetCurrentProcess(), (DWORD64)(uintptr_t)address, &displacement, &found.info))
    {
        snprintf(symbol->function, sizeof(symbol->function), "%s", found.info.Name);
        symbol->function_offset = (uintptr_t)displacement;
        known = 1;
    }
    memset(&line, 0, sizeof(line));
    line.SizeOfStruct = sizeof(line);
    if (sym_get_line && sym_get_line(GetCurrentProcess(), (DWORD64)(uintptr_t)address, &line_displacement, &line) &&
        line.FileName)
    {
        /* The file name without its directory: the build's paths say little to whoever reads the report. */
        base = strrchr(line.FileName, '\\');
        if (!base || strrchr(base, '/'))
            base = strrchr(line.FileName, '/');
        snprintf(symbol->file, sizeof(symbol->file), "%s", base ? base + 1 : line.FileName);
        symbol->line = line.LineNumber;
        known = 1;
    }
    ReleaseSRWLockExclusive(&symbols_lock);
    return known;
}

const char *plat_setting(const char *name, char *buffer, size_t size)
{
    DWORD length = GetEnvironmentVariableA(name, buffer, (DWORD)size);

    return length && length < size ? buffer : NULL;
}

void plat_exit_process(int code)
{
    TerminateProcess(GetCurrentProcess(), (UINT)code);
}
