/*
 * A fixture of the host suite's unwinder test (tests/host/test_unwind.c), built at test time by the i686 cross
 * compiler at -O2 (no frame pointers, DWARF-2 CFI in .eh_frame): frames of the shapes the unwinder must read, i.e.
 * a CFA that moves with the stack pointer, callee-saved registers pushed, a frame pointer (alloca), and main's
 * realigned stack (CFA and saved registers as DWARF expressions). Never run: only its .eh_frame is read.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <malloc.h>
#include <string.h>

typedef int (*callback)(int *, int);

__attribute__((noinline)) int through_pointer(callback call, int value)
{
    int locals[8];

    memset(locals, value, sizeof(locals));
    return call(locals, value) + locals[3];
}

__attribute__((noinline)) int saves_registers(callback call, int a, int b, int c)
{
    int i, total = 0;

    for (i = 0; i < a; i++)
        total += call(&total, b * i + c) ^ through_pointer(call, i + b);
    return total;
}

__attribute__((noinline)) int with_alloca(callback call, int size)
{
    int *buffer = alloca(size * sizeof(int));

    buffer[0] = size;
    return call(buffer, size);
}

static int echo(int *values, int value)
{
    return values[0] + value;
}

int main(int argc, char **argv)
{
    double aligned[4] __attribute__((aligned(32)));

    aligned[0] = argc;
    (void)argv;
    return saves_registers(echo, argc, 2, 3) + with_alloca(echo, argc) + (int)aligned[0];
}
