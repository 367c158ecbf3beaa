/*
 * The DLL of tests/diag/stacks.c's optimized-chain and unload tests, built as users build: -O2 (on i686 that omits
 * the frame pointer) with -gdwarf-4 (mk/diag.mk). stacksopt_chain(seed) leaks one block of 77 + seed bytes from the
 * bottom of a three-function chain, each function with a frame of its own; every one must appear in the leak's stack.
 * Built twice at the same image base: stacksopt2.dll (-DSTACKSOPT_VARIANT) puts different code at the same addresses,
 * so that a rule learnt from stacksopt.dll and kept after its unload would unwind stacksopt2.dll's frames wrongly.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <objbase.h>

#define NOINLINE __attribute__((noinline, noclone))

#ifdef STACKSOPT_VARIANT
enum
{
    FRAME_WORDS = 37
};
/* Code of its own before the chain: the chain's functions start elsewhere than in stacksopt.dll. */
NOINLINE int stacksopt_padding(volatile int *values, int count)
{
    int i, total = 0;

    for (i = 0; i < count; i++)
        total += values[i] * (i + 3) ^ (total >> 2);
    return total;
}
#else
enum
{
    FRAME_WORDS = 5
};
#endif

static void *volatile sink;

/* Each function keeps locals live across its call and uses the result after it: a frame, and no tail call. */
NOINLINE int opt_chain3(int seed)
{
    volatile int locals[FRAME_WORDS];

    locals[0] = seed;
    sink = CoTaskMemAlloc(77 + seed);
    return locals[0] + (sink != NULL);
}

NOINLINE int opt_chain2(int seed)
{
    volatile int locals[FRAME_WORDS + 2];

    locals[1] = seed;
    return opt_chain3(locals[1]) + locals[1];
}

NOINLINE int opt_chain1(int seed)
{
    volatile int locals[FRAME_WORDS + 4];

    locals[2] = seed;
    return opt_chain2(locals[2]) * 2 + locals[2];
}

__declspec(dllexport) int stacksopt_chain(int seed)
{
    return opt_chain1(seed) + 1;
}
