/*
 * Host tests of the combase hook's prologue check (dlls/ole32/prologue.c) on real bytes:
 *   - the first bytes of the six hooked functions of Wine 8.0's and Wine 10.0's combase.dll, both arches
 *     (tests/host/combase_prologues.h, fixtures written by this program's --dump mode) are accepted;
 *   - the combase.dll files of the Wine installed here (the directories given on the command line, read as PE files
 *     at test time) are accepted: the Wine that the Wine suites run;
 *   - what the hook must refuse: another tool's jump at the entry (jmp rel32, jmp [rip], the hook's own patch), a
 *     return or call inside the patched bytes, a conditional branch back or into the patched bytes or out of the
 *     image, an unknown opcode, bytes that end inside an instruction, and x86_64 code read as i386.
 *
 * Usage: test_prologue [COMBASE_DIR_X86_64 COMBASE_DIR_I386]
 *        test_prologue --dump WINE_VERSION COMBASE.DLL   prints fixture lines for combase_prologues.h
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdlib.h>

#include "host_test.h"
#include "prologue.h"
#include "combase_prologues.h"

static const char *const hooked_names[] = {"CoGetMalloc",   "CoTaskMemAlloc",      "CoTaskMemRealloc",
                                           "CoTaskMemFree", "CoRegisterMallocSpy", "CoRevokeMallocSpy"};
#define HOOKED (sizeof(hooked_names) / sizeof(hooked_names[0]))

enum
{
    PE_SIGNATURE_OFFSET = 0x3c,
    PE_MACHINE_AMD64 = 0x8664,
    PE_MACHINE_I386 = 0x14c,
    PE_OPTIONAL_MAGIC_PE32PLUS = 0x20b,
    PE_DATA_DIRECTORIES_PE32 = 96, /* offset of the data directories in the optional header */
    PE_DATA_DIRECTORIES_PE32PLUS = 112,
    PE_SECTION_HEADER = 40,
};

static size_t patch_size(enum prologue_arch arch)
{
    return arch == PROLOGUE_X86_64 ? PROLOGUE_PATCH_X86_64 : PROLOGUE_PATCH_I386;
}

static const char *arch_name(enum prologue_arch arch)
{
    return arch == PROLOGUE_X86_64 ? "x86_64" : "i386";
}

/* --- a PE file, read whole ------------------------------------------------------------------------------------- */

struct pe
{
    unsigned char *data;
    size_t size;
    enum prologue_arch arch;
    uint32_t sections, section_table, exports;
};

static uint32_t get16(const struct pe *pe, size_t at)
{
    return at + 2 <= pe->size ? (uint32_t)pe->data[at] | (uint32_t)pe->data[at + 1] << 8 : 0;
}

static uint32_t get32(const struct pe *pe, size_t at)
{
    return at + 4 <= pe->size ? get16(pe, at) | get16(pe, at + 2) << 16 : 0;
}

/* The file offset of an RVA, and in *left how many bytes of its section follow it in the file; 0 when no section
 * holds it. */
static size_t file_offset(const struct pe *pe, uint32_t rva, size_t *left)
{
    uint32_t i, header, start, length, raw;

    for (i = 0; i < pe->sections; i++)
    {
        header = pe->section_table + i * PE_SECTION_HEADER;
        length = get32(pe, header + 16); /* SizeOfRawData */
        start = get32(pe, header + 12);  /* VirtualAddress */
        raw = get32(pe, header + 20);    /* PointerToRawData */
        if (rva >= start && rva - start < length && raw + length <= pe->size)
        {
            *left = length - (rva - start);
            return raw + (rva - start);
        }
    }
    return 0;
}

static int pe_load(const char *path, struct pe *pe)
{
    uint32_t header, optional, magic;
    long length;
    FILE *file;

    memset(pe, 0, sizeof(*pe));
    if (!(file = fopen(path, "rb")))
        return 0;
    if (fseek(file, 0, SEEK_END) || (length = ftell(file)) <= 0 || fseek(file, 0, SEEK_SET) ||
        !(pe->data = malloc((size_t)length)) || fread(pe->data, 1, (size_t)length, file) != (size_t)length)
    {
        fclose(file);
        free(pe->data);
        pe->data = NULL;
        return 0;
    }
    fclose(file);
    pe->size = (size_t)length;
    header = get32(pe, PE_SIGNATURE_OFFSET);
    optional = header + 24;
    magic = get16(pe, optional);
    pe->arch = get16(pe, header + 4) == PE_MACHINE_AMD64 ? PROLOGUE_X86_64 : PROLOGUE_I386;
    pe->sections = get16(pe, header + 6);
    pe->section_table = optional + get16(pe, header + 20);
    pe->exports = get32(
        pe, optional + (magic == PE_OPTIONAL_MAGIC_PE32PLUS ? PE_DATA_DIRECTORIES_PE32PLUS : PE_DATA_DIRECTORIES_PE32));
    return get32(pe, 0) != 0 && (get16(pe, header + 4) == PE_MACHINE_AMD64 || get16(pe, header + 4) == PE_MACHINE_I386);
}

/* The bytes of the export `name` (NULL when absent), its RVA and how many bytes of its section follow it. */
static const unsigned char *pe_export(const struct pe *pe, const char *name, uint32_t *rva, size_t *left)
{
    size_t directory, names, ordinals, functions, string, ignored;
    uint32_t count, i;

    if (!(directory = file_offset(pe, pe->exports, &ignored)))
        return NULL;
    count = get32(pe, directory + 24);
    names = file_offset(pe, get32(pe, directory + 32), &ignored);
    ordinals = file_offset(pe, get32(pe, directory + 36), &ignored);
    functions = file_offset(pe, get32(pe, directory + 28), &ignored);
    for (i = 0; i < count; i++)
    {
        string = file_offset(pe, get32(pe, names + 4 * i), &ignored);
        if (!string || ignored < strlen(name) + 1 || memcmp(pe->data + string, name, strlen(name) + 1))
            continue;
        *rva = get32(pe, functions + 4 * get16(pe, ordinals + 2 * i));
        string = file_offset(pe, *rva, left);
        return string ? pe->data + string : NULL;
    }
    return NULL;
}

/* --- the checks ------------------------------------------------------------------------------------------------ */

static void test_fixtures(void)
{
    enum prologue_verdict verdict;
    size_t i, offset;

    for (i = 0; i < sizeof(combase_prologues) / sizeof(combase_prologues[0]); i++)
    {
        const struct combase_prologue *fixture = &combase_prologues[i];

        verdict =
            prologue_check(fixture->bytes, sizeof(fixture->bytes), fixture->arch, patch_size(fixture->arch), &offset);
        ok(verdict == PROLOGUE_OK, "Wine %s %s %s: refused, %s at +%llu\n", fixture->wine, arch_name(fixture->arch),
           fixture->function, prologue_verdict_text(verdict), SZ(offset));
    }
}

static void test_installed(const char *dir)
{
    enum prologue_verdict verdict;
    const unsigned char *code;
    size_t i, left, offset;
    char path[4096];
    struct pe pe;
    uint32_t rva;

    snprintf(path, sizeof(path), "%s/combase.dll", dir);
    if (!pe_load(path, &pe))
    {
        skip("%s: not a readable PE file; the installed Wine's prologues are not checked\n", path);
        free(pe.data);
        return;
    }
    for (i = 0; i < HOOKED; i++)
    {
        code = pe_export(&pe, hooked_names[i], &rva, &left);
        ok(code != NULL, "%s: no export %s\n", path, hooked_names[i]);
        if (!code)
            continue;
        verdict = prologue_check(code, left, pe.arch, patch_size(pe.arch), &offset);
        ok(verdict == PROLOGUE_OK, "%s %s (rva %#x): refused, %s at +%llu\n", path, hooked_names[i], (unsigned)rva,
           prologue_verdict_text(verdict), SZ(offset));
    }
    free(pe.data);
}

/* A prologue edited from real bytes, and the verdict and offset the check must give. */
struct refusal
{
    const char *what;
    enum prologue_arch arch;
    unsigned char bytes[COMBASE_PROLOGUE_BYTES];
    size_t size; /* bytes given to the check; 0: all */
    enum prologue_verdict verdict;
    size_t offset;
};

/* Wine 10.0's x86_64 CoGetMalloc: cmp ecx,1; jne +0x13 (to +0x18, past the 12 patched bytes); lea rcx,[rip+...];
 * xor eax,eax; mov [rdx],rcx; ret. */
#define W10_GETMALLOC                                                                                                  \
    0x83, 0xf9, 0x01, 0x75, 0x13, 0x48, 0x8d, 0x0d, 0x04, 0xe9, 0x01, 0x00, 0x31, 0xc0, 0x48, 0x89, 0x0a, 0xc3
/* Wine 10.0's i386 CoRegisterMallocSpy: push ebp; mov ebp,esp; push ebx; sub esp,0x14; test byte [abs],8; jne. */
#define W10_REGISTER_I386 0x55, 0x89, 0xe5, 0x53, 0x83, 0xec, 0x14, 0xf6, 0x05, 0xf0, 0x91, 0x02, 0x10, 0x08, 0x75, 0x48

static const struct refusal refusals[] = {
    {"Wine 10 CoGetMalloc as given", PROLOGUE_X86_64, {W10_GETMALLOC}, 0, PROLOGUE_OK, 12},
    {"its jne to the first byte past the patch",
     PROLOGUE_X86_64,
     {0x83, 0xf9, 0x01, 0x75, 0x07, 0x48, 0x8d, 0x0d, 0x04, 0xe9, 0x01, 0x00},
     0,
     PROLOGUE_OK,
     12},
    {"its jne near (0f 85 rel32) past the patch",
     PROLOGUE_X86_64,
     {0x83, 0xf9, 0x01, 0x0f, 0x85, 0x10, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x0d, 0x04, 0xe9, 0x01, 0x00},
     0,
     PROLOGUE_OK,
     16},
    {"its jne into the patched bytes",
     PROLOGUE_X86_64,
     {0x83, 0xf9, 0x01, 0x75, 0x06, 0x48, 0x8d, 0x0d, 0x04, 0xe9, 0x01, 0x00},
     0,
     PROLOGUE_BRANCH_IN,
     3},
    {"its jne back to the entry",
     PROLOGUE_X86_64,
     {0x83, 0xf9, 0x01, 0x75, 0xfb, 0x48, 0x8d, 0x0d, 0x04, 0xe9, 0x01, 0x00},
     0,
     PROLOGUE_BRANCH_IN,
     3},
    {"its jne before the function",
     PROLOGUE_X86_64,
     {0x83, 0xf9, 0x01, 0x0f, 0x85, 0x00, 0xff, 0xff, 0xff, 0x48, 0x8d, 0x0d, 0x04, 0xe9, 0x01, 0x00},
     0,
     PROLOGUE_BRANCH_IN,
     3},
    {"its jne out of the image", PROLOGUE_X86_64, {W10_GETMALLOC}, 20, PROLOGUE_BRANCH_OUT, 3},
    {"the bytes end inside an instruction",
     PROLOGUE_X86_64,
     {0x48, 0x8b, 0x05, 0xd9, 0xb9, 0x01, 0x00, 0x48, 0x8b, 0x40, 0x18},
     9,
     PROLOGUE_TRUNCATED,
     7},
    {"a ret inside the patch",
     PROLOGUE_X86_64,
     {0x83, 0xf9, 0x01, 0xc3, 0x48, 0x8d, 0x0d, 0x04, 0xe9, 0x01, 0x00},
     0,
     PROLOGUE_JUMP,
     3},
    {"jmp [rip+0] at the entry (a detour)",
     PROLOGUE_X86_64,
     {0xff, 0x25, 0x00, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x00},
     0,
     PROLOGUE_JUMP,
     0},
    {"jmp rel32 at the entry", PROLOGUE_X86_64, {0xe9, 0x10, 0x20, 0x30, 0x00, W10_GETMALLOC}, 0, PROLOGUE_JUMP, 0},
    {"jmp rel8 at the entry", PROLOGUE_I386, {0xeb, 0x05, W10_REGISTER_I386}, 0, PROLOGUE_JUMP, 0},
    {"call rel32 at the entry", PROLOGUE_I386, {0xe8, 0x10, 0x20, 0x30, 0x00, W10_REGISTER_I386}, 0, PROLOGUE_JUMP, 0},
    {"the hook's own x86_64 patch (hooked twice)",
     PROLOGUE_X86_64,
     {0x48, 0xb8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x00, 0xff, 0xe0, W10_GETMALLOC},
     0,
     PROLOGUE_JUMP,
     10},
    {"the hook's own i386 patch (hooked twice)",
     PROLOGUE_I386,
     {0xb8, 0x11, 0x22, 0x33, 0x44, 0xff, 0xe0, W10_REGISTER_I386},
     0,
     PROLOGUE_JUMP,
     5},
    {"int3 at the entry (a breakpoint)", PROLOGUE_I386, {0xcc, W10_REGISTER_I386}, 0, PROLOGUE_UNKNOWN, 0},
    {"x86_64 code read as i386 (dec eax)",
     PROLOGUE_I386,
     {0x48, 0x8b, 0x05, 0xd9, 0xb9, 0x01, 0x00, 0x48, 0x8b, 0x40, 0x18},
     0,
     PROLOGUE_UNKNOWN,
     0},
    {"Wine 10 i386 CoRegisterMallocSpy as given", PROLOGUE_I386, {W10_REGISTER_I386}, 0, PROLOGUE_OK, 7},
};

static void test_refusals(void)
{
    enum prologue_verdict verdict;
    size_t i, offset;

    for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
    {
        const struct refusal *r = &refusals[i];

        offset = ~(size_t)0;
        verdict = prologue_check(r->bytes, r->size ? r->size : sizeof(r->bytes), r->arch, patch_size(r->arch), &offset);
        ok(verdict == r->verdict && offset == r->offset, "%s: %s at +%llu, expected %s at +%llu\n", r->what,
           prologue_verdict_text(verdict), SZ(offset), prologue_verdict_text(r->verdict), SZ(r->offset));
    }
}

/* --- fixtures -------------------------------------------------------------------------------------------------- */

/* Prints the lines of combase_prologues.h for one combase.dll of Wine `version`. */
static int dump(const char *version, const char *path)
{
    enum
    {
        BYTES_PER_LINE = 16,
    };
    const unsigned char *code;
    size_t i, j, left;
    struct pe pe;
    uint32_t rva;

    if (!pe_load(path, &pe))
    {
        fprintf(stderr, "%s: not a readable PE file\n", path);
        return 1;
    }
    for (i = 0; i < HOOKED; i++)
    {
        if (!(code = pe_export(&pe, hooked_names[i], &rva, &left)) || left < COMBASE_PROLOGUE_BYTES)
        {
            fprintf(stderr, "%s: no export %s\n", path, hooked_names[i]);
            free(pe.data);
            return 1;
        }
        printf("    {\"%s\", %s, \"%s\", %#x,\n     {", version,
               pe.arch == PROLOGUE_X86_64 ? "PROLOGUE_X86_64" : "PROLOGUE_I386", hooked_names[i], (unsigned)rva);
        for (j = 0; j < COMBASE_PROLOGUE_BYTES; j++)
            printf("%s0x%02x", !j ? "" : j % BYTES_PER_LINE ? ", " : ",\n      ", code[j]);
        printf("}},\n");
    }
    free(pe.data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--dump"))
        return dump(argv[2], argv[3]);
    test_fixtures();
    test_refusals();
    if (argc >= 2)
        test_installed(argv[1]);
    if (argc >= 3)
        test_installed(argv[2]);
    return test_summary("host_prologue");
}
