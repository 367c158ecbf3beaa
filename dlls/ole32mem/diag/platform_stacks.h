/*
 * The platform services of the diagnostics' call stacks: capturing return addresses (on every allocation while
 * stacks are on), naming them (at report time only), the two settings read outside OLE32MEM_DEBUG's list, and the
 * exit code of OLE32MEM_LEAKS_EXITCODE.
 *
 * Implemented by platform_stacks_win32.c (x86_64 capture over .pdata; dbghelp, loaded at the first report),
 * stack_capture_win32.c (i686 capture over .eh_frame, unwind_dwarf.c) and host/platform_stacks_posix.c (glibc's
 * backtrace; dladdr). Invariant: plat_capture_stack never takes the loader's
 * lock nor any lock of ours, because it runs while the core's lock is held (a spy hook's nested call);
 * plat_symbolize may take any lock and load libraries, so it runs only at report time, outside every lock of ours.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_PLATFORM_STACKS_H
#define OLE32MEM_PLATFORM_STACKS_H

#include <stddef.h>
#include <stdint.h>

enum
{
    PLAT_FUNCTION_CHARS = 256,
    PLAT_FILE_CHARS = 260,
    /* Frames of ole32mem's own between the seed's frame and the diagnosed call's return address (the slow path, the
     * export), with room to spare: the walk gives up on `from` after this many. */
    PLAT_CAPTURE_OWN_MAX = 8,
    /* Room for the registers a walk starts from (x86_64: ten). */
    PLAT_STACK_SEED_WORDS = 10,
};

/* Where a capture starts (opaque: the registers the platform's walk needs). */
struct plat_stack_seed
{
    uintptr_t words[PLAT_STACK_SEED_WORDS];
};

/* Fills *seed with the calling function's registers as they are right after this call returns (a leaf: it changes
 * no register the caller keeps). A capture from that seed starts at the calling function's frame, which must still
 * be live when the capture runs: the slow path of the diagnosed call takes it, so that the walk starts there instead
 * of stepping through the frames of ole32mem's own below it (naming the site, the capture itself). */
void plat_stack_seed(struct plat_stack_seed *seed);

/* The calling thread's return addresses from `from` (the return address of the call being diagnosed) on, innermost
 * first: up to `max` of them, so the walk stops `max` frames after `from`, and ends at a null return address (past
 * the thread's start routine). The walk starts at the frame that took `seed` (plat_stack_seed, on this thread, still
 * live); the frames above `from` (ole32mem's own, at most PLAT_CAPTURE_OWN_MAX) are walked and dropped. Returns how
 * many it wrote, 0 when `from` was not met (e.g. i686 code the unwinder cannot walk). `frames` has room for max +
 * PLAT_CAPTURE_OWN_MAX entries (an implementation may use them as scratch, or ignore the seed). */
unsigned plat_capture_stack(void **frames, unsigned max, const void *from, const struct plat_stack_seed *seed);

/* At start-up (from DllMain, the loader's lock held), when diagnostics are on: lets capture (when `stacks`) and
 * `unloaded` learn of module unloads; `unloaded` is called with the module's base under the loader's lock, and must
 * take no lock. plat_capture_release undoes it when ole32mem itself is unloaded. */
void plat_capture_prepare(int stacks, void (*unloaded)(uintptr_t base));
void plat_capture_release(void);

/* What a code address is: the function containing it (and the distance from its start) and its source line, where
 * the module's debug information says so. function[0] == 0 when unknown; file[0] == 0 when no line is known. */
struct plat_symbol
{
    char function[PLAT_FUNCTION_CHARS];
    uintptr_t function_offset;
    char file[PLAT_FILE_CHARS];
    unsigned line;
};

/* At start-up, when stacks will be reported: loads what plat_symbolize needs (it may run at process exit). */
void plat_symbols_prepare(void);

/* Names `address` (a code address, not a return address: callers pass the return address minus one). Report time
 * only, outside every lock of ours. Returns 0 when nothing is known. Leaves the process's own symbol-handler state
 * as it found it (the program may use dbghelp itself). */
int plat_symbolize(const void *address, struct plat_symbol *symbol);

/* Process exit (the other threads are gone, wherever they were): from now on plat_symbolize tries its locks and never
 * waits for one. Answers 0 when an ended thread holds one of them, i.e. was ended inside a lookup: plat_symbolize then
 * answers 0 for good, since whatever that lock guards may be half changed. */
int plat_symbols_at_process_exit(void);

/* An environment setting, or NULL when unset or longer than `size`. */
const char *plat_setting(const char *name, char *buffer, size_t size);

/* Ends the process now with exit code `code` (after the leak report, for OLE32MEM_LEAKS_EXITCODE). */
void plat_exit_process(int code);

#endif /* OLE32MEM_PLATFORM_STACKS_H */
