/*
 * Call stacks on Windows: names from dbghelp (capture is stack_capture_win32.c's).
 *
 * dbghelp is loaded at the first report (LoadLibrary takes the loader's lock: report time only, outside every lock
 * of ours) and kept: Wine's dbghelp reads the DWARF of MinGW -g builds and the exports of Wine's own modules. Owns
 * the dbghelp handle and its functions (written once by the first report, under the report's order: reports never
 * run concurrently with each other's symbol lookups because dbghelp is not thread-safe, see symbols_lock).
 *
 * dbghelp's options are the process's, not a session's (SymSetOptions takes no process handle): a private process
 * handle would not keep ours apart from the program's. So each use sets ours and puts the program's back before
 * symbols_lock is left; the program sees its own options between our lookups. Must never wait for symbols_lock at process exit: an ended thread may hold it for ever (Wine lets a
 * critical-section wait through while the process shuts down, but not an SRW lock's).
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
typedef DWORD(WINAPI *sym_get_options_fn)(void);
typedef BOOL(WINAPI *sym_initialize_fn)(HANDLE, PCSTR, BOOL);
typedef BOOL(WINAPI *sym_from_addr_fn)(HANDLE, DWORD64, DWORD64 *, SYMBOL_INFO *);
typedef BOOL(WINAPI *sym_get_line_fn)(HANDLE, DWORD64, DWORD *, IMAGEHLP_LINE64 *);

enum
{
    /* What the lookups need: undecorated C++ names, and source lines. */
    SYMBOL_OPTIONS = SYMOPT_UNDNAME | SYMOPT_LOAD_LINES,
};

/* dbghelp is not thread-safe: one lookup at a time. */
static SRWLOCK symbols_lock = SRWLOCK_INIT;
/* Set once at process exit, by the one thread left (plat_symbols_at_process_exit): symbols_lock is tried, never
 * waited for; symbols_unusable: an ended thread holds it. */
static int symbols_at_exit, symbols_unusable;
static int symbols_tried, symbols_ready; /* symbols_ready: SymInitialize succeeded (under symbols_lock) */
static HMODULE dbghelp_module;
static sym_set_options_fn sym_set_options;
static sym_get_options_fn sym_get_options;
static sym_from_addr_fn sym_from_addr;
static sym_get_line_fn sym_get_line;

/* Under symbols_lock: our options in force; answers the program's, for put_options_back. */
static DWORD use_our_options(void)
{
    DWORD program_options = sym_get_options();

    sym_set_options(SYMBOL_OPTIONS);
    return program_options;
}

static void put_options_back(DWORD program_options)
{
    sym_set_options(program_options);
}

/* Under symbols_lock. */
static void load_symbols(void)
{
    sym_initialize_fn initialize;
    DWORD program_options;
    HMODULE dbghelp;
    BOOL initialized;

    symbols_tried = 1;
    if (!(dbghelp = dbghelp_module) && !(dbghelp = LoadLibraryA("dbghelp.dll")))
        return;
    sym_set_options = (sym_set_options_fn)(void (*)(void))GetProcAddress(dbghelp, "SymSetOptions");
    sym_get_options = (sym_get_options_fn)(void (*)(void))GetProcAddress(dbghelp, "SymGetOptions");
    initialize = (sym_initialize_fn)(void (*)(void))GetProcAddress(dbghelp, "SymInitialize");
    if (!sym_set_options || !sym_get_options || !initialize)
        return;
    /* Invade the process: every module loaded now gets its symbols (deferred until the first lookup in it). */
    program_options = use_our_options();
    initialized = initialize(GetCurrentProcess(), NULL, TRUE);
    put_options_back(program_options);
    if (!initialized)
        return;
    symbols_ready = 1;
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
    DWORD program_options = 0;
    int known = 0;

    memset(symbol, 0, sizeof(*symbol));
    if (symbols_unusable)
        return 0;
    if (!symbols_at_exit)
        AcquireSRWLockExclusive(&symbols_lock);
    else if (!TryAcquireSRWLockExclusive(&symbols_lock))
        return 0;
    if (!symbols_tried)
        load_symbols();
    if (symbols_ready)
        program_options = use_our_options();
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
    if (symbols_ready)
        put_options_back(program_options);
    ReleaseSRWLockExclusive(&symbols_lock);
    return known;
}

int plat_symbols_at_process_exit(void)
{
    symbols_at_exit = 1;
    if (!TryAcquireSRWLockExclusive(&symbols_lock))
        symbols_unusable = 1;
    else
        ReleaseSRWLockExclusive(&symbols_lock);
    return !symbols_unusable;
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
