/*
 * heapsize-after-shrink: Wine 10's HeapSize answers a wrong size for a block that HeapReAlloc shrank in place once
 * the low-fragmentation heap serves its size class. No COM, nothing but kernel32's heap functions: a program ready
 * to attach to an upstream bug report. HeapSize is documented to answer the block's requested size; Wine 8.0 does
 * for every shrink here (0 of 1666 wrong on both arches), Wine 10.0 answers more, by a multiple of the heap's
 * alignment (16 bytes on x86_64, 8 on i686): 196 of 800 in-place shrinks wrong on x86_64, 306 of 576 on i686.
 *
 * For every size SMALLEST..LARGEST and every shrink by SHRINK_STEPS bytes: WARM_UP blocks of that size are
 * allocated first (so that the heap's low-fragmentation front end takes the size class over, as it does in a real
 * program), then one block of that size is reallocated to the smaller size with flags 0 and, when it stayed in
 * place, HeapSize is asked. Prints the first wrong answers and one last line "N of M in-place shrinks: HeapSize
 * wrong"; exits 1 when any answer is wrong.
 *
 * Build (mingw-w64; `make wine-bugs` builds both into build/<arch>/wine-bugs/):
 *     x86_64-w64-mingw32-gcc -O2 -o heapsize-after-shrink.exe heapsize-after-shrink.c
 *     i686-w64-mingw32-gcc -O2 -o heapsize-after-shrink32.exe heapsize-after-shrink.c
 * Run: wine heapsize-after-shrink.exe
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <windows.h>
#include <stdio.h>

enum
{
    SMALLEST = 1,
    LARGEST = 256,
    WARM_UP = 64,
    SHOWN = 10,
};

static const SIZE_T shrink_steps[] = {1, 2, 3, 8, 16, 32, 64};

int main(void)
{
    HANDLE heap = GetProcessHeap();
    unsigned long shrinks = 0, wrong = 0;
    void *warm[WARM_UP];
    SIZE_T size, smaller, answer;
    unsigned int i, step;
    char *block, *moved;

    for (size = SMALLEST; size <= LARGEST; size++)
        for (step = 0; step < sizeof(shrink_steps) / sizeof(shrink_steps[0]); step++)
        {
            if (shrink_steps[step] >= size)
                continue;
            smaller = size - shrink_steps[step];
            for (i = 0; i < WARM_UP; i++)
                warm[i] = HeapAlloc(heap, 0, size);
            if (!(block = HeapAlloc(heap, 0, size)))
            {
                printf("HeapAlloc(%lu) failed\n", (unsigned long)size);
                return 2;
            }
            if (!(moved = HeapReAlloc(heap, 0, block, smaller)))
            {
                printf("HeapReAlloc(%lu -> %lu) failed\n", (unsigned long)size, (unsigned long)smaller);
                return 2;
            }
            if (moved == block)
            {
                shrinks++;
                answer = HeapSize(heap, 0, moved);
                if (answer != smaller && wrong++ < SHOWN)
                    printf("HeapReAlloc(%lu -> %lu) in place: HeapSize answers %lu\n", (unsigned long)size,
                           (unsigned long)smaller, (unsigned long)answer);
            }
            HeapFree(heap, 0, moved);
            for (i = 0; i < WARM_UP; i++)
                HeapFree(heap, 0, warm[i]);
        }
    printf("%lu of %lu in-place shrinks: HeapSize wrong\n", wrong, shrinks);
    return wrong ? 1 : 0;
}
