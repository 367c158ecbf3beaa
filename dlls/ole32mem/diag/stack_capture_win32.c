/*
 * Call-stack capture on Windows: plat_capture_stack of platform_stacks.h, one frame at a time from a cache of what
 * each return address's frame does (a dw_compact_rule of unwind_dwarf.h: where the caller's stack pointer, return
 * address and saved registers are), learnt once per return address:
 * - i686: from the DWARF call-frame information of the module's loaded .eh_frame (unwind_dwarf.c), so that frames
 *   without a frame pointer (MinGW's -O2 default, ole32mem's own build included) are walked; a module without
 *   .eh_frame, or code without an FDE, is walked by its chain of frame pointers. The walk is seeded by
 *   plat_stack_seed (not RtlCaptureContext: Wine's i386 one dereferences the caller's frame pointer), which the
 *   diagnosed call's slow path takes itself, so that no frame below it is walked.
 * - x86_64: from one RtlVirtualUnwind over the module's .pdata (with the addresses of the saved registers it
 *   reports), because Wine's RtlLookupFunctionEntry walks the module list on every call; a frame whose unwind the
 *   compact form cannot say (chained unwind data, a machine frame) is unwound by RtlVirtualUnwind every time.
 *
 * Owns the rule cache and, on i686, the module table (one sorted FDE index per module, built lazily on first
 * sight). Both are lock-free, because capture runs while the core's lock is held and must never take the loader's
 * lock nor any lock of ours (platform_stacks.h):
 * - a module is added by the one thread that holds a try-lock (never waited for: a thread that finds it taken walks
 *   that frame by frame pointer, and does not cache it), then published with a release store. Modules are found
 *   with VirtualQuery (the kernel's map, no loader call) and their PE headers. Indexes are never freed: an unloaded
 *   module's slot goes DORMANT and is revived when the same image is mapped at the same base again, so a program
 *   that loads and unloads a library in a loop does not grow the table.
 * - the cache has sets of CACHE_WAYS slots (a return address may be in any slot of its set); a slot is a sequence
 *   lock: a writer claims it by making its sequence odd (compare-and-swap), a reader keeps what it copied only when
 *   the sequence was even and unchanged around the copy. Each entry carries the generation it was learnt in; a
 *   module unload (LdrRegisterDllNotification, registered at start-up from DllMain, where the loader's lock is
 *   already held) bumps the generation, so no entry learnt from an unloaded module is ever used again.
 * Every read of the stack by this file is checked against the thread's stack (from the capture's own stack pointer
 * up to the TEB's StackBase) and every read of .eh_frame stays inside the section, so a corrupt stack or section
 * ends the walk, never the process. The walk also ends when the stack pointer stops growing (no loops).
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winternl.h>

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "platform_stacks.h"
#include "unwind_dwarf.h"

enum
{
    /* The cache is set-associative: a return address may sit in any of the CACHE_WAYS slots of its set, so that a
     * few return addresses whose hashes meet do not evict each other on every capture (with one slot per set, two
     * of the frames of one stack that met were learnt again at every capture: 2.5 times the capture's cost). */
    CACHE_SLOTS = 2048, /* a power of two */
    CACHE_WAYS = 4,
    CACHE_SETS = CACHE_SLOTS / CACHE_WAYS,
    LDR_DLL_NOTIFICATION_REASON_UNLOADED = 2,
#ifdef __i386__
    SP_COLUMN = DW_I386_ESP,
    MODULES_MAX = 256,
    PAGE = 4096, /* the PE headers are read within the image's first page */
#else
    SP_COLUMN = DW_X86_64_RSP,
#endif
};

/* What the cache knows of a return address. */
enum cache_kind
{
    CACHE_COMPACT,       /* the compact rule */
    CACHE_FULL,          /* i686: a rule with more than the compact form can say: run the module's CFI again */
    CACHE_FRAME_POINTER, /* i686: no FDE: the frame pointer's chain */
    CACHE_UNWIND,        /* x86_64: RtlVirtualUnwind every time */
};

struct module;

struct cache_entry
{
    atomic_uint sequence; /* odd while written */
    unsigned generation;
    uintptr_t pc;
    struct module *module;
    unsigned kind;
    struct dw_compact_rule compact;
};

static struct cache_entry cache[CACHE_SLOTS];
static atomic_uint generation = 1;
/* The way a store takes in a full set: round robin, a hint only (written and read relaxed, races are harmless). */
static atomic_uint next_victim;

/* The thread's stack above the capture's own frame: the only stack memory the walk reads itself. */
struct stack_bounds
{
    uintptr_t low, high;
};

static int read_stack(void *context, uint64_t address, uint64_t *value)
{
    const struct stack_bounds *bounds = context;

    if (address < bounds->low || address > bounds->high - sizeof(uintptr_t))
        return 0;
    *value = *(const uintptr_t *)(uintptr_t)address;
    return 1;
}

/* The thread's NT_TIB.StackBase, read directly: the SDK's NtCurrentTeb trips GCC 12's -Warray-bounds on i686. */
static uintptr_t stack_base(void)
{
    uintptr_t base;

#ifdef __i386__
    __asm__("movl %%fs:%c1, %0" : "=r"(base) : "i"(offsetof(NT_TIB, StackBase)));
#else
    __asm__("movq %%gs:%c1, %0" : "=r"(base) : "i"(offsetof(NT_TIB, StackBase)));
#endif
    return base;
}

/* The first slot of the set of `pc`. */
static struct cache_entry *cache_set(uintptr_t pc)
{
    return &cache[((pc * 2654435761u) >> 22 & (CACHE_SETS - 1)) * CACHE_WAYS];
}

/* A copy of the entry for `pc` learnt in generation `current`; 0 when there is none. */
static int cache_lookup(uintptr_t pc, unsigned current, struct cache_entry *copy)
{
    struct cache_entry *entry = cache_set(pc), *end = entry + CACHE_WAYS;
    unsigned before;

    for (; entry < end; entry++)
    {
        before = atomic_load_explicit(&entry->sequence, memory_order_acquire);
        if ((before & 1) || entry->pc != pc || entry->generation != current)
            continue;
        copy->module = entry->module;
        copy->kind = entry->kind;
        copy->compact = entry->compact;
        atomic_thread_fence(memory_order_acquire);
        return atomic_load_explicit(&entry->sequence, memory_order_relaxed) == before;
    }
    return 0;
}

/* The slot a store for `pc` takes: the one that holds `pc` already, else one never used or learnt in an older
 * generation, else the next victim of a full set. Read without the sequence: a wrong choice only costs a miss. */
static struct cache_entry *cache_victim(uintptr_t pc, unsigned current)
{
    struct cache_entry *set = cache_set(pc), *free_slot = NULL;
    unsigned i;

    for (i = 0; i < CACHE_WAYS; i++)
    {
        if (set[i].pc == pc)
            return &set[i];
        if (!free_slot &&
            (!atomic_load_explicit(&set[i].sequence, memory_order_relaxed) || set[i].generation != current))
            free_slot = &set[i];
    }
    if (free_slot)
        return free_slot;
    i = atomic_load_explicit(&next_victim, memory_order_relaxed);
    atomic_store_explicit(&next_victim, i + 1, memory_order_relaxed);
    return &set[i % CACHE_WAYS];
}

static void cache_store(uintptr_t pc, unsigned current, const struct cache_entry *learnt)
{
    struct cache_entry *entry = cache_victim(pc, current);
    unsigned sequence = atomic_load_explicit(&entry->sequence, memory_order_relaxed);

    /* Another writer at work: leave the slot to it. */
    if ((sequence & 1) || !atomic_compare_exchange_strong(&entry->sequence, &sequence, sequence + 1))
        return;
    atomic_thread_fence(memory_order_release);
    entry->pc = pc;
    entry->generation = current;
    entry->module = learnt->module;
    entry->kind = learnt->kind;
    entry->compact = learnt->compact;
    atomic_store_explicit(&entry->sequence, sequence + 2, memory_order_release);
}

#ifdef __i386__

enum module_state
{
    MODULE_EMPTY,
    MODULE_READY,
    MODULE_DORMANT,
};

struct module
{
    atomic_int state;
    uintptr_t base, end;
    DWORD stamp;               /* the image's TimeDateStamp: a DORMANT slot is revived only for the same image */
    struct dw_section section; /* size 0: no .eh_frame */
    struct dw_fde *index;
    size_t count;
};

/* Slots below module_count are in use. Slots are added and revived only by the holder of adding_module (a try-lock:
 * nobody waits for it); a slot's fields are written before module_count publishes it, and never after but for its
 * state (READY -> DORMANT by the unload notification, DORMANT -> READY by the lock's holder). */
static struct module modules[MODULES_MAX];
static atomic_uint module_count;
static atomic_flag adding_module = ATOMIC_FLAG_INIT;

/* plat_stack_seed: the caller's registers right after this call returns: ebx, esi, edi, ebp, esp, and the return
 * address. */
struct seed
{
    uintptr_t ebx, esi, edi, ebp, esp, pc;
};
__asm__(".text\n"
        ".globl _plat_stack_seed\n"
        "_plat_stack_seed:\n\t"
        "movl 4(%esp), %eax\n\t"
        "movl %ebx, 0(%eax)\n\t"
        "movl %esi, 4(%eax)\n\t"
        "movl %edi, 8(%eax)\n\t"
        "movl %ebp, 12(%eax)\n\t"
        "leal 4(%esp), %ecx\n\t"
        "movl %ecx, 16(%eax)\n\t"
        "movl (%esp), %ecx\n\t"
        "movl %ecx, 20(%eax)\n\t"
        "ret\n");

/* The .eh_frame of a mapped image: named ".eh_frame", or (in an image whose long section names are in the unmapped
 * string table) "/N", loaded and not discardable, and starting with a CIE. */
static void find_eh_frame(struct module *module, const IMAGE_NT_HEADERS32 *nt)
{
    const IMAGE_SECTION_HEADER *sections = IMAGE_FIRST_SECTION(nt);
    const uint32_t *words;
    unsigned i;

    if ((const char *)(sections + nt->FileHeader.NumberOfSections) > (const char *)module->base + PAGE)
        return;
    for (i = 0; i < nt->FileHeader.NumberOfSections; i++)
    {
        const IMAGE_SECTION_HEADER *section = &sections[i];
        DWORD size = section->Misc.VirtualSize;

        if ((memcmp(section->Name, ".eh_frame", IMAGE_SIZEOF_SHORT_NAME) && section->Name[0] != '/') ||
            (section->Characteristics & IMAGE_SCN_MEM_DISCARDABLE) ||
            !(section->Characteristics & IMAGE_SCN_MEM_READ) || size < 3 * sizeof(uint32_t) ||
            section->VirtualAddress > module->end - module->base ||
            size > module->end - module->base - section->VirtualAddress)
            continue;
        words = (const uint32_t *)(module->base + section->VirtualAddress);
        /* A CIE: a length that fits, a CIE id of 0, version 1. */
        if (words[0] < 2 * sizeof(uint32_t) || words[0] > size - sizeof(uint32_t) || words[1] ||
            *(const uint8_t *)&words[2] != 1)
            continue;
        module->section.data = (const uint8_t *)words;
        module->section.size = size;
        module->section.address = (uintptr_t)words;
        module->section.pointer_size = sizeof(void *);
        return;
    }
}

/* The image's headers, or NULL when `base` does not start a PE image. */
static const IMAGE_NT_HEADERS32 *image_headers(uintptr_t base)
{
    const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)base;
    const IMAGE_NT_HEADERS32 *nt;

    if (dos->e_magic != IMAGE_DOS_SIGNATURE || dos->e_lfanew < 0 ||
        (DWORD)dos->e_lfanew > PAGE - sizeof(IMAGE_NT_HEADERS32))
        return NULL;
    nt = (const IMAGE_NT_HEADERS32 *)(base + dos->e_lfanew);
    if (nt->Signature != IMAGE_NT_SIGNATURE || nt->OptionalHeader.Magic != IMAGE_NT_OPTIONAL_HDR32_MAGIC)
        return NULL;
    return nt;
}

/* Fills a new slot (adding_module held): the module's range, its .eh_frame and the sorted index of its FDEs. */
static void build_module(struct module *module, uintptr_t base, const IMAGE_NT_HEADERS32 *nt)
{
    size_t count;

    module->base = base;
    module->end = base + nt->OptionalHeader.SizeOfImage;
    module->stamp = nt->FileHeader.TimeDateStamp;
    memset(&module->section, 0, sizeof(module->section));
    module->index = NULL;
    module->count = 0;
    find_eh_frame(module, nt);
    if (!module->section.size || !(count = dw_fde_count(&module->section)))
        return;
    /* VirtualAlloc takes no lock of ours nor the loader's. */
    if (!(module->index = VirtualAlloc(NULL, count * sizeof(*module->index), MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE)))
        return;
    module->count = dw_fde_index(&module->section, module->index, count);
}

/* The READY module containing `pc`, or NULL. */
static struct module *ready_module(uintptr_t pc)
{
    unsigned count = atomic_load_explicit(&module_count, memory_order_acquire), i;

    for (i = 0; i < count; i++)
    {
        if (atomic_load_explicit(&modules[i].state, memory_order_acquire) == MODULE_READY && modules[i].base <= pc &&
            pc < modules[i].end)
            return &modules[i];
    }
    return NULL;
}

/* The module containing `pc`, indexed on first sight. NULL for code outside every image, or (*busy set: not to be
 * cached) while another thread adds a module. */
static struct module *module_of(uintptr_t pc, int *busy)
{
    MEMORY_BASIC_INFORMATION info;
    const IMAGE_NT_HEADERS32 *nt;
    struct module *module;
    unsigned count, i;
    uintptr_t base;

    *busy = 0;
    if ((module = ready_module(pc)))
        return module;
    if (atomic_flag_test_and_set_explicit(&adding_module, memory_order_acquire))
    {
        *busy = 1;
        return NULL;
    }
    if (!(module = ready_module(pc)) && VirtualQuery((void *)pc, &info, sizeof(info)) && info.Type == MEM_IMAGE &&
        info.State == MEM_COMMIT && (nt = image_headers(base = (uintptr_t)info.AllocationBase)) &&
        pc < base + nt->OptionalHeader.SizeOfImage)
    {
        count = atomic_load_explicit(&module_count, memory_order_relaxed);
        for (i = 0; i < count && !module; i++)
        {
            if (atomic_load_explicit(&modules[i].state, memory_order_relaxed) == MODULE_DORMANT &&
                modules[i].base == base && modules[i].end == base + nt->OptionalHeader.SizeOfImage &&
                modules[i].stamp == nt->FileHeader.TimeDateStamp)
            {
                module = &modules[i];
                atomic_store_explicit(&module->state, MODULE_READY, memory_order_release);
            }
        }
        if (!module && count < MODULES_MAX)
        {
            module = &modules[count];
            build_module(module, base, nt);
            atomic_store_explicit(&module->state, MODULE_READY, memory_order_release);
            atomic_store_explicit(&module_count, count + 1, memory_order_release);
        }
    }
    atomic_flag_clear_explicit(&adding_module, memory_order_release);
    return module;
}

/* The rule at return address `pc` from its module's CFI. */
static int full_rule(const struct module *module, uintptr_t pc, struct dw_frame_rule *rule)
{
    const struct dw_fde *fde;

    /* The call instruction's row: the return address may already be the next function's first byte. */
    return module->count && (fde = dw_fde_find(module->index, module->count, pc - 1)) &&
           dw_frame_rule_at(&module->section, fde, pc - 1, rule);
}

/* A frame the cache has no compact rule for: learns what it can of `pc` (when `known` is NULL) and steps. */
static int slow_step(uintptr_t pc, unsigned current, const struct cache_entry *known, struct dw_registers *registers,
                     uint64_t *return_address, const struct stack_bounds *bounds)
{
    struct dw_frame_rule rule;
    struct cache_entry learnt;
    uint64_t frame, value;
    int busy;

    if (!known)
    {
        learnt.kind = CACHE_FRAME_POINTER;
        if ((learnt.module = module_of(pc - 1, &busy)) && full_rule(learnt.module, pc, &rule))
            learnt.kind = dw_compact(&learnt.module->section, &rule, &learnt.compact) ? CACHE_COMPACT : CACHE_FULL;
        if (!busy)
            cache_store(pc, current, &learnt);
        known = &learnt;
    }
    switch (known->kind)
    {
    case CACHE_COMPACT:
        return dw_compact_apply(&known->compact, sizeof(void *), SP_COLUMN, registers, return_address, read_stack,
                                (void *)bounds);
    case CACHE_FULL:
        return full_rule(known->module, pc, &rule) &&
               dw_frame_apply(&known->module->section, &rule, SP_COLUMN, registers, return_address, read_stack,
                              (void *)bounds);
    default:
        /* The frame pointer's chain: [ebp] is the caller's ebp, [ebp + 4] the return address. */
        frame = registers->value[DW_I386_EBP];
        if (!(registers->valid & (1u << DW_I386_EBP)) || frame < registers->value[SP_COLUMN] ||
            !read_stack((void *)bounds, frame + sizeof(uint32_t), return_address) ||
            !read_stack((void *)bounds, frame, &value))
            return 0;
        registers->value[DW_I386_EBP] = value;
        registers->value[SP_COLUMN] = frame + 2 * sizeof(uint32_t);
        return 1;
    }
}

/* The registers and return address of the frame that took the seed. */
static uintptr_t seed_registers(const struct plat_stack_seed *taken, struct dw_registers *registers)
{
    struct seed seed;

    _Static_assert(sizeof(seed) <= sizeof(*taken), "platform_stacks.h: the seed has room for the registers");
    memcpy(&seed, taken, sizeof(seed));
    registers->value[3] = seed.ebx;
    registers->value[DW_I386_ESP] = seed.esp;
    registers->value[DW_I386_EBP] = seed.ebp;
    registers->value[6] = seed.esi;
    registers->value[7] = seed.edi;
    registers->valid = 1u << 3 | 1u << DW_I386_ESP | 1u << DW_I386_EBP | 1u << 6 | 1u << 7;
    return seed.pc;
}

/* Drops an unloaded image's index from use (DORMANT until the same image comes back). Loader's lock held. */
static void module_unloaded(uintptr_t base)
{
    unsigned count = atomic_load_explicit(&module_count, memory_order_acquire), i;
    int expected;

    for (i = 0; i < count; i++)
    {
        expected = MODULE_READY;
        if (modules[i].base == base)
            atomic_compare_exchange_strong(&modules[i].state, &expected, MODULE_DORMANT);
    }
}

#else

/* DWARF's column of each of Windows' integer registers (CONTEXT order: rax rcx rdx rbx rsp rbp rsi rdi r8-r15). */
static const uint8_t dwarf_column[16] = {0, 2, 1, 3, 7, 6, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15};

enum
{
    UNWIND_VERSION_MASK = 7,
    UNWIND_FLAGS_SHIFT = 3,
    UWOP_PUSH_MACHFRAME = 10,
};

/* The compact rule of what RtlVirtualUnwind did from `before` to `after` (with the saved registers' addresses in
 * `pointers`), or 0 when the frame's unwind is more than it can say. */
static int compact_of_unwind(uintptr_t pc, DWORD64 image_base, const RUNTIME_FUNCTION *function,
                             const struct dw_registers *before, const CONTEXT *after,
                             const KNONVOLATILE_CONTEXT_POINTERS *pointers, const struct stack_bounds *bounds,
                             struct dw_compact_rule *compact)
{
    const uint8_t *info = (const uint8_t *)(image_base + function->UnwindData);
    const uint16_t *codes = (const uint16_t *)(info + 4);
    unsigned frame_register = info[3] & 15, i, column;
    int64_t offset;
    uint64_t word;

    memset(compact, 0, sizeof(*compact));
    if ((function->UnwindData & 1) || (info[0] & UNWIND_VERSION_MASK) != 1 ||
        ((info[0] >> UNWIND_FLAGS_SHIFT) & UNW_FLAG_CHAININFO))
        return 0;
    for (i = 0; i < info[2]; i++)
    {
        if ((codes[i] >> 8 & 15) == UWOP_PUSH_MACHFRAME)
            return 0;
    }
    /* The frame register is the base once the prologue has set it; a return address inside a prologue is not
     * learnt. */
    if (frame_register && pc - image_base - function->BeginAddress < info[1])
        return 0;
    column = frame_register ? dwarf_column[frame_register] : SP_COLUMN;
    offset = (int64_t)(after->Rsp - before->value[column]);
    if (offset != (int32_t)offset || !read_stack((void *)bounds, after->Rsp - sizeof(DWORD64), &word) ||
        word != after->Rip)
        return 0;
    compact->cfa_reg = (uint8_t)column;
    compact->cfa_offset = (int32_t)offset;
    compact->ra_offset = -(int32_t)sizeof(DWORD64);
    for (i = 0; i < 16; i++)
    {
        if (!pointers->IntegerContext[i])
            continue;
        offset = (int64_t)((uintptr_t)pointers->IntegerContext[i] - after->Rsp);
        if (compact->saved_count == DW_COMPACT_SAVED || offset != (int16_t)offset)
            return 0;
        compact->saved_reg[compact->saved_count] = dwarf_column[i];
        compact->saved_offset[compact->saved_count++] = (int16_t)offset;
    }
    return 1;
}

/* A frame the cache has no compact rule for: one RtlVirtualUnwind, learnt from when `known` is NULL. Wine's
 * RtlLookupFunctionEntry finds the module with LdrFindEntryForAddress, which takes no lock; a frame without unwind
 * data is a leaf (its return address is at the stack pointer). */
static int slow_step(uintptr_t pc, unsigned current, const struct cache_entry *known, struct dw_registers *registers,
                     uint64_t *return_address, const struct stack_bounds *bounds)
{
    KNONVOLATILE_CONTEXT_POINTERS pointers;
    RUNTIME_FUNCTION *function;
    DWORD64 image_base, establisher;
    struct cache_entry learnt;
    void *handler_data;
    CONTEXT context;
    unsigned i;

    if (!(function = RtlLookupFunctionEntry(pc, &image_base, NULL)))
    {
        memset(&learnt, 0, sizeof(learnt));
        learnt.kind = CACHE_COMPACT;
        learnt.compact.cfa_reg = SP_COLUMN;
        learnt.compact.cfa_offset = sizeof(DWORD64);
        learnt.compact.ra_offset = -(int32_t)sizeof(DWORD64);
        if (!known)
            cache_store(pc, current, &learnt);
        return dw_compact_apply(&learnt.compact, sizeof(void *), SP_COLUMN, registers, return_address, read_stack,
                                (void *)bounds);
    }
    /* RtlVirtualUnwind reads the frame without checks of its own: it must at least lie on this thread's stack. */
    if (registers->value[SP_COLUMN] < bounds->low || registers->value[SP_COLUMN] >= bounds->high)
        return 0;
    memset(&context, 0, sizeof(context));
    for (i = 0; i < 16; i++)
        (&context.Rax)[i] = registers->valid & (1u << dwarf_column[i]) ? registers->value[dwarf_column[i]] : 0;
    context.Rip = pc;
    memset(&pointers, 0, sizeof(pointers));
    RtlVirtualUnwind(UNW_FLAG_NHANDLER, image_base, pc, function, &context, &handler_data, &establisher, &pointers);
    if (context.Rsp <= registers->value[SP_COLUMN] || context.Rsp >= bounds->high)
        return 0;
    if (!known)
    {
        learnt.module = NULL;
        learnt.kind =
            compact_of_unwind(pc, image_base, function, registers, &context, &pointers, bounds, &learnt.compact)
                ? CACHE_COMPACT
                : CACHE_UNWIND;
        cache_store(pc, current, &learnt);
    }
    for (i = 0; i < 16; i++)
    {
        if (pointers.IntegerContext[i])
        {
            registers->value[dwarf_column[i]] = (&context.Rax)[i];
            registers->valid |= 1u << dwarf_column[i];
        }
    }
    registers->value[SP_COLUMN] = context.Rsp;
    *return_address = context.Rip;
    return 1;
}

/* plat_stack_seed: the caller's nonvolatile registers right after this call returns: rbx, rbp, rsi, rdi, r12-r15,
 * rsp, and the return address. Not RtlCaptureContext, which also stores the flags, segments and the whole
 * floating-point state (a third of a 16-frame capture's time): unwinding needs only these. A leaf without a stack frame
 * of its own, so it needs no unwind data. */
struct seed
{
    uintptr_t rbx, rbp, rsi, rdi, r12, r13, r14, r15, rsp, pc;
};
__asm__(".text\n"
        ".globl plat_stack_seed\n"
        "plat_stack_seed:\n\t"
        "movq %rbx, 0(%rcx)\n\t"
        "movq %rbp, 8(%rcx)\n\t"
        "movq %rsi, 16(%rcx)\n\t"
        "movq %rdi, 24(%rcx)\n\t"
        "movq %r12, 32(%rcx)\n\t"
        "movq %r13, 40(%rcx)\n\t"
        "movq %r14, 48(%rcx)\n\t"
        "movq %r15, 56(%rcx)\n\t"
        "leaq 8(%rsp), %rax\n\t"
        "movq %rax, 64(%rcx)\n\t"
        "movq (%rsp), %rax\n\t"
        "movq %rax, 72(%rcx)\n\t"
        "ret\n");

/* The registers and return address of the frame that took the seed. */
static uintptr_t seed_registers(const struct plat_stack_seed *taken, struct dw_registers *registers)
{
    struct seed seed;

    _Static_assert(sizeof(seed) <= sizeof(*taken), "platform_stacks.h: the seed has room for the registers");
    memcpy(&seed, taken, sizeof(seed));
    registers->value[3] = seed.rbx;
    registers->value[4] = seed.rsi;
    registers->value[5] = seed.rdi;
    registers->value[6] = seed.rbp;
    registers->value[7] = seed.rsp;
    registers->value[12] = seed.r12;
    registers->value[13] = seed.r13;
    registers->value[14] = seed.r14;
    registers->value[15] = seed.r15;
    /* The nonvolatile registers and the stack pointer: what unwinding keeps meaningful. */
    registers->valid = 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7 | 0xfu << 12;
    return seed.pc;
}

static void module_unloaded(uintptr_t base)
{
    (void)base;
}

#endif

/* One word of this thread's stack (read_stack in the native width). */
static inline int read_word(const struct stack_bounds *bounds, uintptr_t address, uintptr_t *value)
{
    if (address < bounds->low || address > bounds->high - sizeof(uintptr_t))
        return 0;
    *value = *(const uintptr_t *)address;
    return 1;
}

/* dw_compact_apply for this process's own frames, in the native width: the same result, but on i686 without the
 * 64-bit arithmetic that the unwinder's registers (wide enough for any process) cost at every frame. */
static inline __attribute__((always_inline)) int apply_compact(const struct dw_compact_rule *compact,
                                                               struct dw_registers *registers,
                                                               uintptr_t *return_address,
                                                               const struct stack_bounds *bounds)
{
    uintptr_t cfa, base, saved[DW_COMPACT_SAVED];
    unsigned i, reg, count = compact->saved_count;

    if (compact->cfa_reg >= DW_COLUMNS || !(registers->valid & (1u << compact->cfa_reg)) || count > DW_COMPACT_SAVED)
        return 0;
    cfa = (uintptr_t)registers->value[compact->cfa_reg] + (uintptr_t)(intptr_t)compact->cfa_offset;
    if (compact->cfa_deref && !read_word(bounds, cfa, &cfa))
        return 0;
    if (!read_word(bounds, cfa + (uintptr_t)(intptr_t)compact->ra_offset, return_address))
        return 0;
    /* Every read first, from the registers as they are: a failed one leaves them unchanged. */
    for (i = 0; i < count; i++)
    {
        if (compact->saved_base[i])
        {
            reg = compact->saved_base[i] - 1u;
            if (reg >= DW_COLUMNS || !(registers->valid & (1u << reg)))
                return 0;
            base = (uintptr_t)registers->value[reg];
        }
        else
            base = cfa;
        if (compact->saved_reg[i] >= DW_COLUMNS ||
            !read_word(bounds, base + (uintptr_t)(intptr_t)compact->saved_offset[i], &saved[i]))
            return 0;
    }
    for (i = 0; i < count; i++)
    {
        registers->value[compact->saved_reg[i]] = saved[i];
        registers->valid |= 1u << compact->saved_reg[i];
    }
    registers->value[SP_COLUMN] = cfa;
    registers->valid |= 1u << SP_COLUMN;
    return 1;
}

/* One frame up from `registers` at return address `*pc`: the caller's registers and return address. `current` is
 * the generation the capture started in. */
static int unwind_frame(struct dw_registers *registers, uintptr_t *pc, unsigned current,
                        const struct stack_bounds *bounds)
{
    struct cache_entry entry;
    uint64_t return_address;
    uintptr_t next;
    int known = cache_lookup(*pc, current, &entry);

    if (known && entry.kind == CACHE_COMPACT)
    {
        if (!apply_compact(&entry.compact, registers, &next, bounds))
            return 0;
        *pc = next;
        return 1;
    }
    if (!slow_step(*pc, current, known ? &entry : NULL, registers, &return_address, bounds))
        return 0;
    *pc = (uintptr_t)return_address;
    return 1;
}

unsigned plat_capture_stack(void **frames, unsigned max, const void *from, const struct plat_stack_seed *seed)
{
    struct dw_registers registers;
    struct stack_bounds bounds;
    uintptr_t pc, sp;
    unsigned count = 0, own = 0, current = atomic_load_explicit(&generation, memory_order_acquire);

    memset(&registers, 0, sizeof(registers));
    pc = seed_registers(seed, &registers);
    bounds.low = (uintptr_t)registers.value[SP_COLUMN];
    bounds.high = stack_base();
    /* The first step leaves the seed's frame: its caller's return address is the first frame met. Ours are dropped
     * until `from`; from there on, `max` frames are kept and the walk stops. The walk reads only above the seed's
     * stack pointer, where the frames of the seed's function and its callers are, unchanged since it was taken. */
    while (count < max)
    {
        sp = (uintptr_t)registers.value[SP_COLUMN];
        if (!unwind_frame(&registers, &pc, current, &bounds) || !pc || registers.value[SP_COLUMN] <= sp)
            break;
        if (count || pc == (uintptr_t)from)
            frames[count++] = (void *)pc;
        else if (++own > PLAT_CAPTURE_OWN_MAX)
            break;
    }
    return count;
}

/* The registration's cookie and the diagnostics' listener: written under the loader's lock (DllMain) only. */
static void *notification_cookie;
static void (*unload_listener)(uintptr_t base);

/* Under the loader's lock (Wine and Windows call DLL notifications with it held). */
static void CALLBACK dll_notification(ULONG reason, const void *data, void *context)
{
    /* LDR_DLL_UNLOADED_NOTIFICATION_DATA: flags, full name, base name, base, size. */
    const struct
    {
        ULONG flags;
        const UNICODE_STRING *full_name, *base_name;
        void *base;
        ULONG size;
    } *unloaded = data;

    (void)context;
    if (reason != LDR_DLL_NOTIFICATION_REASON_UNLOADED)
        return;
    if (unload_listener)
        unload_listener((uintptr_t)unloaded->base);
    module_unloaded((uintptr_t)unloaded->base);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
}

void plat_capture_prepare(int stacks, void (*unloaded)(uintptr_t base))
{
    typedef NTSTATUS(WINAPI * register_fn)(ULONG, void(CALLBACK *)(ULONG, const void *, void *), void *, void **);
    register_fn register_notification;

    (void)stacks; /* the capture's caches are only filled when stacks are captured; the notification serves both */
    unload_listener = unloaded;
    if (notification_cookie)
        return;
    register_notification =
        (register_fn)(void (*)(void))GetProcAddress(GetModuleHandleA("ntdll.dll"), "LdrRegisterDllNotification");
    if (register_notification)
        register_notification(0, dll_notification, NULL, &notification_cookie);
}

/* When ole32mem is unloaded: the callback would otherwise be called in unmapped code. */
void plat_capture_release(void)
{
    typedef NTSTATUS(WINAPI * unregister_fn)(void *);
    unregister_fn unregister_notification;

    if (!notification_cookie)
        return;
    unregister_notification =
        (unregister_fn)(void (*)(void))GetProcAddress(GetModuleHandleA("ntdll.dll"), "LdrUnregisterDllNotification");
    if (unregister_notification)
        unregister_notification(notification_cookie);
    notification_cookie = NULL;
}
