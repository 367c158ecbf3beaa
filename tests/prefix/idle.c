/*
 * A user program for tests/prefix/run.sh that only waits: "idle SECONDS" sleeps that long, then exits 0. Copied
 * under the names of Wine's own services (svchost.exe, explorer.exe) outside system32, it must still count as a
 * program running in the prefix, which the installer never ends without --force. It must never touch COM.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0)
    {
        printf("usage: %s SECONDS\n", argv[0]);
        return 2;
    }
    Sleep((DWORD)atoi(argv[1]) * 1000);
    return 0;
}
