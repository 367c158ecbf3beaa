# tests/winetests/build.mk: builds Wine's own conformance tests of ole32 and combase (dlls/ole32/tests,
# dlls/combase/tests of the Wine source tree in SRC) as standalone Windows programs for one arch, with mingw-w64.
# mk/winetests.mk runs it once per arch after tests/winetests/fetch.sh has unpacked the source:
#
#   make -f tests/winetests/build.mk SRC=<wine source> GEN=<generated headers> OUT=<arch dir> ARCH=x86_64|i686 \
#        CROSS=<prefix> WIDL=<widl> WINEBUILD=<winebuild> OLE32MEM_LIB=<dir with libole32mem.dll.a, ole32mem.dll>
#
# Everything comes from the same source tree, as Wine's own build supplies it: the headers (include/, its IDL files
# compiled by Wine's widl into GEN), the CRT headers (include/msvcrt, msvcrt flavour), winecrt0's debug support
# (dlls/winecrt0/debug.c), Wine's libuuid (libs/uuid), an import library for combase made from combase.spec, and
# the helper DLLs a test module builds from its .spec files (testlib.dll, wine.combase.test.dll), embedded in every
# test program of the module as TESTDLL resources. Each module's Makefile.in says what its tests import and which
# sources they are.
#
# Outputs, per module M (ole32, combase) and test T:
#   OUT/M/T.exe       linked as Wine links it (modes A, C, D, E of the suite)
#   OUT/M-mem/T.exe   the same objects linked with -lole32mem first (mode B), next to a copy of ole32mem.dll
#
# Invariants: nothing is written outside OUT and GEN; nothing of Wine's is copied anywhere else. The only files of
# ours compiled in are the one-line resource scripts this makefile writes. Wine's code is compiled with -w: its
# warnings are Wine's business, and -Werror must not break the suite on a compiler upgrade.

SRC       ?= $(error SRC not set)
GEN       ?= $(error GEN not set)
OUT       ?= $(error OUT not set)
ARCH      ?= $(error ARCH not set)
CROSS     ?= $(ARCH)-w64-mingw32-
WIDL      ?= /usr/lib/wine/widl
WINEBUILD ?= /usr/lib/wine/winebuild
OLE32MEM_LIB ?= $(error OLE32MEM_LIB not set)

CC      := $(CROSS)gcc
MODULES := ole32 combase
# Wine's PE flags: its own CRT headers in place of mingw's (msvcrt flavour, as the tests link msvcrt.dll), __WINESRC__
# for the debugstr_* helpers the tests use, STANDALONE for test.h's main().
WINE_CFLAGS := -O2 -g -fno-strict-aliasing -w -nostdinc -isystem $(shell $(CC) -print-file-name=include) \
    -I$(GEN) -I$(SRC)/include -I$(SRC)/include/msvcrt -D_MSVCR_VER=0 -D__WINESRC__
M32     := $(if $(filter i686,$(ARCH)),-m32,-m64)
# dlltool -k: the i686 import names without @N, as the DLLs export them.
KILLAT  := $(if $(filter i686,$(ARCH)),-k,)

# "VAR = a \ b" of $(1)/Makefile.in, the continuation lines joined.
mkvar = $(shell sed -e ':a' -e '/\\$$/N; s/\\\n//; ta' $(SRC)/dlls/$(1)/tests/Makefile.in | sed -n 's/^$(2) *= *//p')

define MODULE_RULES
$(1)_DIR      := $(SRC)/dlls/$(1)/tests
$(1)_SOURCES  := $$(call mkvar,$(1),SOURCES)
$(1)_SPECS    := $$(basename $$(filter %.spec,$$($(1)_SOURCES)))
$(1)_RCS      := $$(basename $$(filter %.rc,$$($(1)_SOURCES)))
# The tests are the C sources that are not a helper DLL's (a helper DLL is named after its .spec).
$(1)_TESTS    := $$(filter-out $$($(1)_SPECS),$$(basename $$(filter %.c,$$($(1)_SOURCES))))
# IMPORTS, with uuid as Wine's own libuuid and combase as the import library made from combase.spec.
$(1)_LIBS     := $$(patsubst uuid,wineuuid,$$(call mkvar,$(1),IMPORTS))
$(1)_RES      := $$(patsubst %,$(OUT)/obj/$(1)/%.res.o,$$($(1)_RCS)) \
    $$(if $$($(1)_SPECS),$(OUT)/obj/$(1)/testdlls.res.o)
$(1)_EXES     := $$(patsubst %,$(OUT)/$(1)/%.exe,$$($(1)_TESTS)) $$(patsubst %,$(OUT)/$(1)-mem/%.exe,$$($(1)_TESTS)) \
    $(OUT)/$(1)-mem/ole32mem.dll

$(OUT)/obj/$(1)/%.o: $$($(1)_DIR)/%.c $(GEN)/.stamp
	@mkdir -p $$(@D)
	$(CC) -DSTANDALONE $(WINE_CFLAGS) -I$$($(1)_DIR) -c $$< -o $$@

$(OUT)/obj/$(1)/%.def: $$($(1)_DIR)/%.spec
	@mkdir -p $$(@D)
	$(WINEBUILD) --def $(M32) -E $$< -o $$@

$(OUT)/obj/$(1)/%.dll: $(OUT)/obj/$(1)/%.o $(OUT)/obj/$(1)/%.def $(OUT)/libwineuuid.a $(OUT)/libcombase.a \
    $(OUT)/obj/debug.o
	$(CC) -shared -o $$@ $$(filter %.o %.def,$$^) -L$(OUT) -lcombase -lwineuuid \
	    $$(if $$(filter i686,$(ARCH)),-Wl$$(comma)--kill-at)

$(OUT)/obj/$(1)/%.res.o: $$($(1)_DIR)/%.rc $(GEN)/.stamp
	$(CROSS)windres -I$$($(1)_DIR) -I$(GEN) -I$(SRC)/include --preprocessor-arg=-D__WINESRC__ \
	    --preprocessor-arg=-w $$< -o $$@

# What Wine's makedep writes for a test module with helper DLLs: one TESTDLL resource per DLL, named after it.
$(OUT)/obj/$(1)/testdlls.rc: $(SRC)/dlls/$(1)/tests/Makefile.in
	@mkdir -p $$(@D)
	printf '%s TESTDLL "%s"\n' $$(foreach d,$$($(1)_SPECS),$$(d).dll $$(d).dll) > $$@

$(OUT)/obj/$(1)/testdlls.res.o: $(OUT)/obj/$(1)/testdlls.rc $$(patsubst %,$(OUT)/obj/$(1)/%.dll,$$($(1)_SPECS))
	$(CROSS)windres -I$(OUT)/obj/$(1) $$< -o $$@

$(OUT)/$(1)/%.exe: $(OUT)/obj/$(1)/%.o $$($(1)_RES) $(OUT)/obj/debug.o $(OUT)/libwineuuid.a $(OUT)/libcombase.a
	@mkdir -p $$(@D)
	$(CC) -o $$@ $$< $$($(1)_RES) $(OUT)/obj/debug.o -L$(OUT) $$(addprefix -l,$$($(1)_LIBS))

# Mode B: ole32mem's import library ahead of every other, so that the memory functions bind to ole32mem.dll.
$(OUT)/$(1)-mem/%.exe: $(OUT)/obj/$(1)/%.o $$($(1)_RES) $(OUT)/obj/debug.o $(OUT)/libwineuuid.a $(OUT)/libcombase.a \
    $(OLE32MEM_LIB)/libole32mem.dll.a
	@mkdir -p $$(@D)
	$(CC) -o $$@ $$< $$($(1)_RES) $(OUT)/obj/debug.o -L$(OLE32MEM_LIB) -lole32mem -L$(OUT) $$(addprefix -l,$$($(1)_LIBS))

$(OUT)/$(1)-mem/ole32mem.dll: $(OLE32MEM_LIB)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@
endef

comma := ,
$(foreach m,$(MODULES),$(eval $(call MODULE_RULES,$(m))))

.PHONY: all
all: $(foreach m,$(MODULES),$($(m)_EXES))
# The helper DLLs and their .def files are intermediates, but worth keeping for a warm rebuild.
.SECONDARY:

# Every IDL of include/ compiled to its header, once for both arches (the headers do not depend on the arch).
# A few IDL files are fragments that only compile inside another (oledb's, for instance): their failure is logged
# and harmless, since a header a test needs and lacks stops its compilation anyway.
$(GEN)/.stamp: $(SRC)/include/objidl.idl
	@mkdir -p $(GEN)/wine
	cd $(SRC)/include && ls *.idl wine/*.idl | \
	    xargs -P2 -I{} sh -c '$(WIDL) -I. -Iwine -D__WINESRC__ -h -o "$(abspath $(GEN))/$${1%.idl}.h" "$$1" 2>&1 || true' \
	    sh {} > $(abspath $(GEN))/widl.log
	@touch $@

$(OUT)/obj/debug.o: $(SRC)/dlls/winecrt0/debug.c $(GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) -D__WINE_PE_BUILD $(WINE_CFLAGS) -c $< -o $@

$(OUT)/obj/uuid/%.o: $(SRC)/libs/uuid/%.c $(GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) $(WINE_CFLAGS) -c $< -o $@

$(OUT)/libwineuuid.a: $(patsubst %.c,$(OUT)/obj/uuid/%.o,$(notdir $(wildcard $(SRC)/libs/uuid/*.c)))
	rm -f $@
	$(CROSS)ar rcs $@ $^

$(OUT)/obj/combase.def: $(SRC)/dlls/combase/combase.spec
	@mkdir -p $(@D)
	$(WINEBUILD) --def $(M32) -E $< -o $@

$(OUT)/libcombase.a: $(OUT)/obj/combase.def
	$(CROSS)dlltool $(KILLAT) -d $< -D combase.dll -l $@
