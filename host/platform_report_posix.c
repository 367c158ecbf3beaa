/*
 * Diagnostics output for the Linux host build: stderr or an appended file, and dladdr for code addresses. Part of
 * the host port (host/): never in the DLL. Test hook (host_platform.h): host_log_capture hands every write to a
 * function of the test instead (the fuzzer checks each diagnostics line).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "host_platform.h"
#include "platform_report.h"

static int log_fd = STDERR_FILENO;
static void (*log_sink)(const char *text, size_t length); /* host_log_capture: the tests read the lines */

void host_log_capture(void (*sink)(const char *text, size_t length))
{
    log_sink = sink;
}

void plat_log_write(const char *text, size_t length)
{
    if (log_sink)
    {
        log_sink(text, length);
        return;
    }
    while (length)
    {
        ssize_t written = write(log_fd, text, length);
        if (written <= 0)
            return;
        text += written;
        length -= (size_t)written;
    }
}

unsigned long plat_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        return (unsigned long)errno;
    log_fd = fd;
    return 0;
}

void plat_log_close(void)
{
    int fd = log_fd;

    log_fd = STDERR_FILENO;
    if (fd != STDERR_FILENO)
        close(fd);
}

int plat_describe_address(const void *address, char *module, size_t module_size, uintptr_t *base, size_t *image_size)
{
    Dl_info info;
    const char *name;

    if (!dladdr(address, &info) || !info.dli_fname)
        return 0;
    name = strrchr(info.dli_fname, '/');
    name = name ? name + 1 : info.dli_fname;
    snprintf(module, module_size, "%s", name);
    *base = (uintptr_t)info.dli_fbase;
    *image_size = 0; /* dladdr does not say: every call asks again */
    return 1;
}

unsigned long plat_process_id(void)
{
    return (unsigned long)getpid();
}

int plat_name_compare(const char *a, const char *b)
{
    return strcasecmp(a, b);
}
