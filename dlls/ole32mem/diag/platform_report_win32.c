/*
 * Diagnostics output on Windows: WriteFile, so that reports still get out while the C runtime is being torn down
 * at process exit, and module names from the loader.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <string.h>

#include "platform_report.h"

enum
{
    PATH_CHARS = MAX_PATH * 2,
};

static HANDLE log_file = INVALID_HANDLE_VALUE;

static HANDLE log_handle(void)
{
    return log_file != INVALID_HANDLE_VALUE ? log_file : GetStdHandle(STD_ERROR_HANDLE);
}

void plat_log_write(const char *text, size_t length)
{
    DWORD written;
    HANDLE handle = log_handle();

    if (handle && handle != INVALID_HANDLE_VALUE)
        WriteFile(handle, text, (DWORD)length, &written, NULL);
}

unsigned long plat_log_open(const char *path)
{
    HANDLE file = CreateFileA(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                              FILE_ATTRIBUTE_NORMAL, NULL);

    if (file == INVALID_HANDLE_VALUE)
        return GetLastError();
    log_file = file;
    return 0;
}

/* The handle is swapped out before it is closed: a report that starts after the swap goes to stderr. */
void plat_log_close(void)
{
    HANDLE file = InterlockedExchangePointer(&log_file, INVALID_HANDLE_VALUE);

    if (file != INVALID_HANDLE_VALUE)
        CloseHandle(file);
}

int plat_describe_address(const void *address, char *module, size_t module_size, uintptr_t *base, size_t *image_size)
{
    const IMAGE_DOS_HEADER *dos;
    const IMAGE_NT_HEADERS *nt;
    HMODULE handle;
    char path[PATH_CHARS];
    const char *name;
    DWORD length;

    if (!GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            address, &handle))
        return 0;
    length = GetModuleFileNameA(handle, path, sizeof(path));
    if (!length || length >= sizeof(path))
        return 0;
    name = strrchr(path, '\\');
    name = name ? name + 1 : path;
    snprintf(module, module_size, "%s", name);
    *base = (uintptr_t)handle;
    /* The module is loaded (we hold no reference, but the caller's code is running in it): its headers are
     * readable. */
    dos = (const IMAGE_DOS_HEADER *)handle;
    nt = (const IMAGE_NT_HEADERS *)((const char *)handle + dos->e_lfanew);
    *image_size = nt->OptionalHeader.SizeOfImage;
    return 1;
}

void *plat_report_pages(size_t bytes)
{
    return VirtualAlloc(NULL, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

void plat_report_pages_free(void *pages, size_t bytes)
{
    (void)bytes;
    VirtualFree(pages, 0, MEM_RELEASE);
}

unsigned long plat_process_id(void)
{
    return GetCurrentProcessId();
}

int plat_name_compare(const char *a, const char *b)
{
    return lstrcmpiA(a, b);
}
