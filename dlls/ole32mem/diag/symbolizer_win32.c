/*
 * The external symbolizer on Windows and under Wine: finds the modules whose files carry DWARF, finds the program
 * (OLE32MEM_SYMBOLIZER, else the mingw binutils' addr2line for the module's machine), and runs it.
 *
 * Under Wine a Windows process can start a Unix program with CreateProcess: Wine forks and executes it, with the
 * standard handles given as its file descriptors, but answers no process handle. So the program's output goes to a
 * temporary file, and its end is recognised from the output itself (the caller's end marker, answered last); a
 * program that has not answered when the time limit passes is left to finish on its own (its input is a file, so
 * it ends), never waited for. A Windows program (OLE32MEM_SYMBOLIZER naming an addr2line.exe, on Windows or under
 * Wine) does have a handle: it is waited for with the same limit and ended when it passes it. A Unix program gets
 * Unix paths (wine_get_unix_file_name, looked up at run time: absent on Windows), a Windows program Windows paths.
 *
 * Owns nothing between calls. Invariants: report time only, outside every lock of ours (it opens files, takes the
 * loader's lock and starts processes); every wait is bounded by the caller's limit.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "platform_stacks.h"
#include "platform_symbolizer.h"

enum
{
    WIDE_PATH_CHARS = MAX_PATH * 4,
    COMMAND_CHARS = 3 * WIDE_PATH_CHARS,
    SECTIONS_MAX = 96,            /* the PE format's limit */
    HEADERS_OFFSET_MAX = 1 << 16, /* where a sane file's NT headers start */
    POLL_MS = 2,
    OUTPUT_FIRST_CHARS = 4096,
};

typedef char *(CDECL *unix_name_fn)(const WCHAR *);
typedef WCHAR *(CDECL *dos_name_fn)(const char *);

/* Wine's path conversions (kernel32 exports of Wine's own; NULL on Windows). Their results are freed with
 * HeapFree on the process heap. */
static unix_name_fn unix_name_of(void)
{
    return (unix_name_fn)(void (*)(void))GetProcAddress(GetModuleHandleA("kernel32.dll"), "wine_get_unix_file_name");
}

static dos_name_fn dos_name_of(void)
{
    return (dos_name_fn)(void (*)(void))GetProcAddress(GetModuleHandleA("kernel32.dll"), "wine_get_dos_file_name");
}

static int read_at(HANDLE file, uint64_t offset, void *buffer, DWORD size)
{
    LARGE_INTEGER at;
    DWORD got = 0;

    at.QuadPart = (LONGLONG)offset;
    return SetFilePointerEx(file, at, NULL, FILE_BEGIN) && ReadFile(file, buffer, size, &got, NULL) && got == size;
}

/* Reads a PE file's machine, image base and whether it has a .debug_info section (its name, longer than eight
 * characters, is in the COFF string table after the symbols: "/N" names the string at offset N). */
static int read_debug_info(HANDLE file, struct plat_debug_module *module)
{
    IMAGE_DOS_HEADER dos;
    IMAGE_FILE_HEADER header;
    IMAGE_SECTION_HEADER section;
    DWORD signature;
    WORD magic;
    uint64_t at, strings;
    char name[sizeof(".debug_info")];
    unsigned i;

    if (!read_at(file, 0, &dos, sizeof(dos)) || dos.e_magic != IMAGE_DOS_SIGNATURE || dos.e_lfanew <= 0 ||
        dos.e_lfanew > HEADERS_OFFSET_MAX)
        return 0;
    at = (uint64_t)dos.e_lfanew;
    if (!read_at(file, at, &signature, sizeof(signature)) || signature != IMAGE_NT_SIGNATURE ||
        !read_at(file, at + sizeof(signature), &header, sizeof(header)) || header.NumberOfSections > SECTIONS_MAX ||
        !header.PointerToSymbolTable)
        return 0;
    at += sizeof(signature) + sizeof(header);
    if (header.Machine == IMAGE_FILE_MACHINE_AMD64)
        snprintf(module->machine, sizeof(module->machine), "x86_64");
    else if (header.Machine == IMAGE_FILE_MACHINE_I386)
        snprintf(module->machine, sizeof(module->machine), "i686");
    else
        return 0;
    if (!read_at(file, at, &magic, sizeof(magic)))
        return 0;
    if (magic == IMAGE_NT_OPTIONAL_HDR64_MAGIC)
    {
        IMAGE_OPTIONAL_HEADER64 optional;

        if (header.SizeOfOptionalHeader < sizeof(optional) || !read_at(file, at, &optional, sizeof(optional)))
            return 0;
        module->file_base = optional.ImageBase;
    }
    else
    {
        IMAGE_OPTIONAL_HEADER32 optional;

        if (magic != IMAGE_NT_OPTIONAL_HDR32_MAGIC || header.SizeOfOptionalHeader < sizeof(optional) ||
            !read_at(file, at, &optional, sizeof(optional)))
            return 0;
        module->file_base = optional.ImageBase;
    }
    at += header.SizeOfOptionalHeader;
    strings = header.PointerToSymbolTable + (uint64_t)header.NumberOfSymbols * IMAGE_SIZEOF_SYMBOL;
    for (i = 0; i < header.NumberOfSections; i++)
    {
        if (!read_at(file, at + i * sizeof(section), &section, sizeof(section)))
            return 0;
        if (section.Name[0] != '/')
            continue;
        memcpy(name, section.Name + 1, sizeof(section.Name) - 1);
        name[sizeof(section.Name) - 1] = 0;
        if (read_at(file, strings + strtoul(name, NULL, 10), name, sizeof(name)) &&
            !memcmp(name, ".debug_info", sizeof(name)))
            return 1;
    }
    return 0;
}

/* The file of the module loaded at `base`. */
static int module_file(uintptr_t base, WCHAR *path, DWORD size)
{
    DWORD length = GetModuleFileNameW((HMODULE)base, path, size);

    return length && length < size;
}

/* A Windows path as a reader of the report finds it: its Unix path under Wine, else itself (UTF-8). */
static void printable_path(const WCHAR *path, char *out, size_t size)
{
    unix_name_fn unix_name = unix_name_of();
    char *converted = unix_name ? unix_name(path) : NULL;

    if (converted)
    {
        snprintf(out, size, "%s", converted);
        HeapFree(GetProcessHeap(), 0, converted);
    }
    else if (!WideCharToMultiByte(CP_UTF8, 0, path, -1, out, (int)size, NULL, NULL))
        out[0] = 0;
}

int plat_debug_module(const void *address, struct plat_debug_module *module)
{
    WCHAR path[WIDE_PATH_CHARS];
    HMODULE handle;
    HANDLE file;
    int found;

    memset(module, 0, sizeof(*module));
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            address, &handle) ||
        !module_file((uintptr_t)handle, path, ARRAYSIZE(path)))
        return 0;
    file = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                       FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE)
        return 0;
    found = read_debug_info(file, module);
    CloseHandle(file);
    if (!found)
        return 0;
    module->base = (uintptr_t)handle;
    printable_path(path, module->path, sizeof(module->path));
    return module->path[0] != 0;
}

/* A program's path (a Unix one, "/...", converted under Wine) if the file exists. */
static int program_exists(const char *name, WCHAR *path, size_t size)
{
    dos_name_fn dos_name = dos_name_of();
    WCHAR *converted;
    DWORD attributes;

    if (name[0] == '/')
    {
        if (!dos_name || !(converted = dos_name(name)))
            return 0;
        lstrcpynW(path, converted, (int)size);
        HeapFree(GetProcessHeap(), 0, converted);
    }
    else if (!MultiByteToWideChar(CP_UTF8, 0, name, -1, path, (int)size))
        return 0;
    attributes = GetFileAttributesW(path);
    return attributes != INVALID_FILE_ATTRIBUTES && !(attributes & FILE_ATTRIBUTE_DIRECTORY);
}

/* The program for a module of `machine`: OLE32MEM_SYMBOLIZER, else the binutils of the module's machine, of the
 * other one (both read both machines), or LLVM's (which reads every machine). `shown` gets its name. */
static enum plat_symbolizer_state find_program(const char *machine, WCHAR *path, size_t size, char *shown,
                                               size_t shown_size)
{
    static const char *const defaults[] = {"/usr/bin/%s-w64-mingw32-addr2line", "/usr/bin/%s-w64-mingw32-addr2line",
                                           "/usr/bin/llvm-addr2line"};
    char setting[PLAT_PATH_CHARS], name[PLAT_PATH_CHARS];
    const char *value = plat_setting("OLE32MEM_SYMBOLIZER", setting, sizeof(setting));
    unsigned i;

    if (value)
    {
        snprintf(shown, shown_size, "%s", value);
        if (!lstrcmpiA(value, "none"))
            return PLAT_SYMBOLIZER_OFF;
        return program_exists(value, path, size) ? PLAT_SYMBOLIZER_DONE : PLAT_SYMBOLIZER_MISSING;
    }
    for (i = 0; i < ARRAYSIZE(defaults); i++)
    {
        snprintf(name, sizeof(name), defaults[i], i == 1 ? (strcmp(machine, "i686") ? "i686" : "x86_64") : machine);
        if (program_exists(name, path, size))
        {
            snprintf(shown, shown_size, "%s", name);
            return PLAT_SYMBOLIZER_DONE;
        }
    }
    snprintf(shown, shown_size, defaults[0], machine);
    return PLAT_SYMBOLIZER_MISSING;
}

/* A Windows program (MZ) takes Windows paths; anything else is a Unix program under Wine. */
static int is_windows_program(const WCHAR *path)
{
    HANDLE file = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    char magic[2] = {0};
    int windows;

    if (file == INVALID_HANDLE_VALUE)
        return 0;
    windows = read_at(file, 0, magic, sizeof(magic)) && magic[0] == 'M' && magic[1] == 'Z';
    CloseHandle(file);
    return windows;
}

struct running
{
    HANDLE process; /* NULL for a Unix program under Wine */
    HANDLE reader;  /* the output file, opened apart from the program's handle (its own file position) */
    WCHAR input_path[MAX_PATH], output_path[MAX_PATH];
    size_t capacity;
    int active;
};

static HANDLE temporary_file(WCHAR *path, int inheritable)
{
    SECURITY_ATTRIBUTES attributes = {sizeof(attributes), NULL, TRUE};
    WCHAR directory[MAX_PATH];
    DWORD length = GetTempPathW(ARRAYSIZE(directory), directory);

    if (!length || length >= ARRAYSIZE(directory) || !GetTempFileNameW(directory, L"o32", 0, path))
        return INVALID_HANDLE_VALUE;
    return CreateFileW(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                       inheritable ? &attributes : NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_TEMPORARY, NULL);
}

/* Starts one job's program; 0 (and the job's state) when it cannot. */
static int start_job(struct plat_symbolizer_job *job, struct running *run)
{
    SECURITY_ATTRIBUTES inherit = {sizeof(inherit), NULL, TRUE};
    WCHAR program[WIDE_PATH_CHARS], module_path[WIDE_PATH_CHARS], command[COMMAND_CHARS];
    STARTUPINFOW startup;
    PROCESS_INFORMATION process;
    HANDLE input, output, null;
    DWORD written;
    BOOL started;
    int windows;

    job->state = find_program(job->module->machine, program, ARRAYSIZE(program), job->program, sizeof(job->program));
    if (job->state != PLAT_SYMBOLIZER_DONE)
        return 0;
    job->state = PLAT_SYMBOLIZER_FAILED;
    if ((windows = is_windows_program(program)))
    {
        if (!module_file(job->module->base, module_path, ARRAYSIZE(module_path)))
            return 0;
    }
    else if (!MultiByteToWideChar(CP_UTF8, 0, job->module->path, -1, module_path, ARRAYSIZE(module_path)))
        return 0;
    if (wcschr(program, L'"') || wcschr(module_path, L'"') ||
        _snwprintf(command, ARRAYSIZE(command), L"\"%ls\" -a -f -i -C -e \"%ls\"", program, module_path) < 0)
        return 0;
    command[ARRAYSIZE(command) - 1] = 0;

    /* The input is written, closed and opened again: the program's descriptor then starts at the file's start
     * (under Wine a handle's file position is not the one a Unix program inherits). */
    input = temporary_file(run->input_path, 0);
    if (input == INVALID_HANDLE_VALUE)
        return 0;
    started = WriteFile(input, job->input, (DWORD)job->input_length, &written, NULL) && written == job->input_length;
    CloseHandle(input);
    input = started ? CreateFileW(run->input_path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                  &inherit, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL)
                    : INVALID_HANDLE_VALUE;
    if (input == INVALID_HANDLE_VALUE)
        return 0;
    output = temporary_file(run->output_path, 1);
    null = CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                       OPEN_EXISTING, 0, NULL);
    started = output != INVALID_HANDLE_VALUE && null != INVALID_HANDLE_VALUE;
    if (started)
    {
        memset(&startup, 0, sizeof(startup));
        startup.cb = sizeof(startup);
        startup.dwFlags = STARTF_USESTDHANDLES;
        startup.hStdInput = input;
        startup.hStdOutput = output;
        startup.hStdError = null;
        memset(&process, 0, sizeof(process));
        /* CREATE_NO_WINDOW only for a Windows program: Wine gives a Unix program started so no standard handles. */
        started = CreateProcessW(NULL, command, NULL, NULL, TRUE, windows ? CREATE_NO_WINDOW : 0, NULL, NULL, &startup,
                                 &process);
    }
    /* The program has its own copies now (a Unix program its file descriptors). */
    CloseHandle(input);
    if (output != INVALID_HANDLE_VALUE)
        CloseHandle(output);
    if (null != INVALID_HANDLE_VALUE)
        CloseHandle(null);
    if (!started)
        return 0;
    if (process.hThread)
        CloseHandle(process.hThread);
    run->process = process.hProcess;
    run->reader = CreateFileW(run->output_path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                              NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (run->reader == INVALID_HANDLE_VALUE || !(job->output = plat_meta_alloc(OUTPUT_FIRST_CHARS)))
        return 0;
    run->capacity = OUTPUT_FIRST_CHARS;
    job->output_length = 0;
    run->active = 1;
    return 1;
}

/* Reads what the program wrote since the last look. 0 when out of memory. */
static int read_more(struct plat_symbolizer_job *job, struct running *run)
{
    DWORD got;
    char *bigger;

    for (;;)
    {
        if (job->output_length + 1 >= run->capacity)
        {
            if (!(bigger = plat_meta_alloc(run->capacity * 2)))
                return 0;
            memcpy(bigger, job->output, job->output_length);
            plat_meta_free(job->output);
            job->output = bigger;
            run->capacity *= 2;
        }
        if (!ReadFile(run->reader, job->output + job->output_length, (DWORD)(run->capacity - 1 - job->output_length),
                      &got, NULL) ||
            !got)
            break;
        job->output_length += got;
    }
    job->output[job->output_length] = 0;
    return 1;
}

static void finish(struct running *run)
{
    if (run->process)
    {
        /* A Windows program still running has had its time: end it. */
        if (WaitForSingleObject(run->process, 0) != WAIT_OBJECT_0)
            TerminateProcess(run->process, 1);
        CloseHandle(run->process);
    }
    if (run->reader && run->reader != INVALID_HANDLE_VALUE)
        CloseHandle(run->reader);
    run->active = 0;
}

void plat_symbolizer_run(struct plat_symbolizer_job *jobs, unsigned count, unsigned timeout_ms)
{
    struct running *runs = plat_meta_alloc(count * sizeof(*runs) + 1);
    ULONGLONG start = GetTickCount64();
    unsigned i, active = 0;
    int exited;

    for (i = 0; i < count; i++)
    {
        jobs[i].output = NULL;
        jobs[i].output_length = 0;
        if (!runs)
            jobs[i].state = PLAT_SYMBOLIZER_FAILED;
        else if (start_job(&jobs[i], &runs[i]))
            active++;
        else if (runs[i].reader || runs[i].process)
            finish(&runs[i]);
    }
    while (active)
    {
        for (i = 0; i < count; i++)
        {
            if (!runs[i].active)
                continue;
            /* Looked at before the output is read: whatever it wrote before it ended is then read too. */
            exited = runs[i].process && WaitForSingleObject(runs[i].process, 0) == WAIT_OBJECT_0;
            if (!read_more(&jobs[i], &runs[i]))
                jobs[i].state = PLAT_SYMBOLIZER_FAILED;
            else if (jobs[i].complete(jobs[i].output, jobs[i].output_length))
                jobs[i].state = PLAT_SYMBOLIZER_DONE;
            else if (!exited)
                continue;
            finish(&runs[i]);
            active--;
        }
        if (!active)
            break;
        if (GetTickCount64() - start >= timeout_ms)
        {
            for (i = 0; i < count; i++)
            {
                if (!runs[i].active)
                    continue;
                jobs[i].state = PLAT_SYMBOLIZER_TIMED_OUT;
                finish(&runs[i]);
            }
            break;
        }
        Sleep(POLL_MS);
    }
    for (i = 0; runs && i < count; i++)
    {
        /* A Unix program still running keeps its open files: deleting the names is all that is needed. */
        if (runs[i].input_path[0])
            DeleteFileW(runs[i].input_path);
        if (runs[i].output_path[0])
            DeleteFileW(runs[i].output_path);
    }
    plat_meta_free(runs);
}
