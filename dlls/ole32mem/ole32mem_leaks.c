/*
 * The checkpoint exports (ole32mem.h): a test harness checks for leaks per test case instead of only at exit, as
 * VLD's VLDReportLeaks/VLDMarkAllLeaksAsReported, the CRT's _CrtMemCheckpoint/_CrtMemDifference and LeakSanitizer's
 * __lsan_do_recoverable_leak_check allow. COM plumbing only: the work is task_check_leaks and diag_report.c's.
 *
 * Never called by ole32mem itself; a program finds them with GetProcAddress so that it runs unchanged against the
 * system ole32 (docs/diagnostics.md). They do nothing (and answer 0) when the diagnostics are off, when called from
 * inside a spy hook, and report only with OLE32MEM_DEBUG=leaks.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#define OLE32MEM_BUILDING_DLL
#include <windows.h>

#include "diagnostics.h"
#include "ole32mem.h"
#include "task_memory.h"

DWORD WINAPI Ole32memReportLeaks(void)
{
    size_t count = task_check_leaks(DIAG_COLLECT_REPORT);

    return count > MAXDWORD ? MAXDWORD : (DWORD)count;
}

void WINAPI Ole32memMarkLeaksReported(void)
{
    task_check_leaks(DIAG_COLLECT_MARK);
}
