/*
 * Redirecting combase.dll's task allocator to ole32mem's (the proxy's --hook-combase mode).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32_PROXY_COMBASE_HOOK_H
#define OLE32_PROXY_COMBASE_HOOK_H

/* Patches combase's CoGetMalloc, CoTaskMemAlloc, CoTaskMemRealloc, CoTaskMemFree, CoRegisterMallocSpy and
 * CoRevokeMallocSpy to jump to this DLL's. All six or none; nonzero when they are redirected. Call once, from
 * DllMain. */
int combase_hook_install(void);

#endif /* OLE32_PROXY_COMBASE_HOOK_H */
