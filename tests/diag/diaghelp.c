/*
 * diaghelp.dll: a second module that allocates through ole32mem, for tests/diag/diag.c's suppression and
 * unloaded-module modes. Its one export allocates from a known function (helper_alloc itself).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define COBJMACROS
#define COM_NO_WINDOWS_H
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "ole32mem_objidl.h"
#include <objbase.h>

__declspec(dllexport) void *helper_alloc(SIZE_T size);

__declspec(dllexport) __attribute__((noinline)) void *helper_alloc(SIZE_T size)
{
    return CoTaskMemAlloc(size);
}
