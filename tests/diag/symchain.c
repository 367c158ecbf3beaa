/*
 * The code of tests/diag/stacks.c's symbolizer cases, built with the compiler's default debug information (-g:
 * DWARF 5 with GCC 12, which Wine's dbghelp cannot read) so that only the external symbolizer names its frames.
 * A chain of three functions and one inlined into the last, the leak at the bottom; and 100 distinct leak stacks for
 * the report's timing. Each call prints "LINE|NAME|n", n taken on the call's own line, as stacks.c's children do.
 *
 * mk/diag.mk builds it as symchain.dll (-O2: no frame pointers, the default build) and symchainfp.dll (-O1
 * -fno-omit-frame-pointer), both against ole32mem; and, with SYMCHAIN_PROGRAM, as symchainapp.exe, a program of its
 * own against the system's ole32 (through the prefix proxy when it is installed), whose leak is the chain.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <objbase.h>

#include <stdio.h>

#define NOINLINE __attribute__((noinline, noclone))
#define EXPORT __declspec(dllexport)

enum
{
    MANY_SITES = 10,
    MANY_DEPTHS = 10,
};

static void *volatile sink[MANY_SITES * MANY_DEPTHS + 1];
static volatile int after_call; /* written after each call: the calls stay calls, never jumps */

static NOINLINE void say_line(const char *name, int line)
{
    printf("LINE|%s|%d\n", name, line);
    fflush(stdout);
}

static inline __attribute__((always_inline)) void symchain_inlined(SIZE_T size)
{
    say_line("S0", __LINE__), sink[0] = CoTaskMemAlloc(size);
}
static NOINLINE void symchain_c(SIZE_T size)
{
    symchain_inlined(size);
    say_line("S1", __LINE__ - 1);
}
static NOINLINE void symchain_b(SIZE_T size)
{
    symchain_c(size + 1);
    say_line("S2", __LINE__ - 1);
}
EXPORT NOINLINE void symchain_a(SIZE_T size)
{
    symchain_b(size + 1);
    say_line("S3", __LINE__ - 1);
}

/* 100 distinct stacks: ten call sites, each under ten depths of recursion. */
static NOINLINE void many_leaf(int site, int slot)
{
    switch (site)
    {
    case 0:
        sink[slot] = CoTaskMemAlloc(10);
        break;
    case 1:
        sink[slot] = CoTaskMemAlloc(11);
        break;
    case 2:
        sink[slot] = CoTaskMemAlloc(12);
        break;
    case 3:
        sink[slot] = CoTaskMemAlloc(13);
        break;
    case 4:
        sink[slot] = CoTaskMemAlloc(14);
        break;
    case 5:
        sink[slot] = CoTaskMemAlloc(15);
        break;
    case 6:
        sink[slot] = CoTaskMemAlloc(16);
        break;
    case 7:
        sink[slot] = CoTaskMemAlloc(17);
        break;
    case 8:
        sink[slot] = CoTaskMemAlloc(18);
        break;
    default:
        sink[slot] = CoTaskMemAlloc(19);
        break;
    }
    after_call++;
}
static NOINLINE void many_down(int depth, int site, int slot)
{
    if (depth)
        many_down(depth - 1, site, slot);
    else
        many_leaf(site, slot);
    after_call++;
}
EXPORT NOINLINE void symchain_many(void)
{
    int site, depth;

    for (site = 0; site < MANY_SITES; site++)
        for (depth = 0; depth < MANY_DEPTHS; depth++)
            many_down(depth, site, 1 + site * MANY_DEPTHS + depth);
}

#ifdef SYMCHAIN_PROGRAM
int main(void)
{
    symchain_a(40);
    return 0;
}
#endif
