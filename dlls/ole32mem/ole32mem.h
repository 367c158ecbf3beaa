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

#ifdef __cplusplus
}
#endif

#endif /* OLE32MEM_H */
