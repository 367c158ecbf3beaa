/*
 * ole32mem's public header: what ole32mem exports beyond ole32's six memory functions (whose prototypes come
 * from <objbase.h> as usual, and whose interfaces come from <ole32mem_objidl.h>, generated from idl/objidl.idl).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_H
#define OLE32MEM_H

#include <windef.h>

#include "ole32mem_version.h"

#ifdef OLE32MEM_BUILDING_DLL
#define OLE32MEM_API
#else
#define OLE32MEM_API DECLSPEC_IMPORT
#endif

#ifdef __cplusplus
extern "C"
{
#endif

    /* The OLE32MEM_VERSION of the ole32mem that serves this process's task allocator. Only ole32mem has this export,
     * so finding it (GetProcAddress on ole32.dll after a Wine-prefix install) proves the allocator is ole32mem. */
    OLE32MEM_API DWORD WINAPI Ole32memGetVersion(void);

    /* Leak checkpoints for test harnesses (OLE32MEM_DEBUG=leaks; docs/diagnostics.md).
     *
     * Ole32memReportLeaks writes a leak report of the blocks allocated since the last checkpoint and still
     * outstanding (grouped by stack, suppressions applied, as the report at exit) and returns how many it listed.
     * Ole32memMarkLeaksReported takes a checkpoint: every block outstanding now counts as reported, and no later
     * report lists it again, the one at exit included (nor counts it for OLE32MEM_LEAKS_EXITCODE).
     * Both do nothing (and the first answers 0) when the diagnostics are off or when called from a spy's hook.
     *
     * Only ole32mem has them: a program that must also run against the system ole32 looks them up instead of
     * linking them, e.g.
     *     typedef DWORD(WINAPI * report_leaks_fn)(void);
     *     report_leaks_fn report = (report_leaks_fn)(void (*)(void))GetProcAddress(GetModuleHandleA("ole32.dll"),
     *                                                                              "Ole32memReportLeaks");
     *     if (report && report()) ... a leak ...
     * (GetModuleHandleA("ole32mem.dll") for a program linked against ole32mem.dll itself.) */
    OLE32MEM_API DWORD WINAPI Ole32memReportLeaks(void);
    OLE32MEM_API void WINAPI Ole32memMarkLeaksReported(void);

#ifdef __cplusplus
}
#endif

#endif /* OLE32MEM_H */
