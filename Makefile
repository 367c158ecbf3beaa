# ole32mem: one Makefile for the DLL (x86_64 and i686), its tests under Wine, the demo, and the host checks.
#
#   make                   build both arches into build/<arch>/
#   make demo              build and run the demo under wine (the allocator and a spy at work)
#   make check             every test suite (CHECK_SUITES), both arches; last line "N passed, N failed, N skipped"
#   make bench             ole32mem vs Wine's builtin vs the bare heap, side by side (BENCH_QUICK=1: < 30 s)
#   make install           into $(PREFIX)/<triplet> per arch (DESTDIR for staging); make uninstall
#   make install-prefix    WINEPREFIX=... [APP=x.exe] [HOOK_COMBASE=1]; make uninstall-prefix WINEPREFIX=...
#   make check-host        the core on the Linux host under ASan/UBSan/TSan, and a short fuzz run
#   make fuzz              fuzz the core for FUZZ_SECONDS
#   make clean             remove build/
#
# The parts beyond the DLL and its conformance tests live in mk/*.mk. Every variable below can be overridden on
# the command line (make WINE64=/opt/wine/bin/wine64 ...).

ARCHES       ?= x86_64 i686
CROSS_x86_64 ?= x86_64-w64-mingw32-
CROSS_i686   ?= i686-w64-mingw32-
WIDL         ?= x86_64-w64-mingw32-widl
# The IDL files that idl/objidl.idl imports (unknwn.idl and what it imports). Debian's mingw-w64 packages ship
# only the generated headers; libwine-dev ships the IDL sources.
IDL_IMPORT_DIR ?= /usr/include/wine/wine/windows
WINE64       ?= /usr/lib/wine/wine64
WINE32       ?= /usr/lib/wine/wine
WINESERVER   ?= /usr/lib/wine/wineserver
BUILD        ?= build
PREFIX       ?= /usr/local
DESTDIR      ?=
WINEPREFIX   ?= $(CURDIR)/$(BUILD)/wineprefix
CFLAGS       ?= -O2 -g
# Set SKIP_DEPS=1 to skip the dependency check (tools/install-deps.sh) on machines set up by hand.
SKIP_DEPS    ?=

# Test prerequisites name per-test helper sources, expanded per target.
.SECONDEXPANSION:

WARNINGS := -Wall -Wextra -Werror
CSTD     := -std=gnu11
GENINC   := $(BUILD)/include
export WINEPREFIX
WINE_ENV := WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

# The DLL: COM plumbing (ole32mem.c) over the OS-free core (task_memory.c, blocktable.c, diagnostics.c) and the
# Windows side of the platform layer (platform_win32.h/.c, platform_report_win32.c).
DLL_SOURCES := ole32mem.c task_memory.c blocktable.c diagnostics.c platform_win32.c platform_report_win32.c
GEN_HEADER  := $(GENINC)/ole32mem_objidl.h $(GENINC)/ole32mem_markers.h
# IID definitions as widl writes them. The DLL takes its IIDs from the SDK's libuuid (which also has IID_IUnknown
# and defines IID_IMalloc in the same object, so the two cannot be linked together); tests/abi.c compiles this
# file under other names and checks that the values agree.
GEN_IIDS    := $(GENINC)/ole32mem_objidl_i.c
DLL_CPPFLAGS := -I$(GENINC) -Idlls/ole32mem
# libuuid: IID_IUnknown/IID_IMalloc/IID_IMallocSpy; libsynchronization: WaitOnAddress (platform_win32.h's mutex).
DLL_LIBS     := -luuid -lsynchronization

# Test programs: tests/NAME.c, plus tests/NAME_*.c helper sources named in TEST_EXTRA_NAME.
TESTS := abi allocator spy cross stress
TEST_EXTRA_abi := abi_sdk.c
TEST_HEADERS := $(wildcard tests/*.h)

.PHONY: all deps demo check check-wine clean
all: $(foreach a,$(ARCHES),$(BUILD)/$(a)/ole32mem.dll $(BUILD)/$(a)/libole32mem.dll.a $(BUILD)/$(a)/ole32mem.lib)

deps:
ifeq ($(SKIP_DEPS),)
	@bash tools/install-deps.sh
endif

$(GENINC)/ole32mem_%.h: idl/%.idl | deps
	@mkdir -p $(@D)
	$(WIDL) -Iidl -I$(IDL_IMPORT_DIR) -h -o $@ $<

$(GENINC)/ole32mem_markers.h: idl/ole32mem_markers.idl | deps
	@mkdir -p $(@D)
	$(WIDL) -h -o $@ $<

$(GEN_IIDS): idl/objidl.idl | deps
	@mkdir -p $(@D)
	$(WIDL) -Iidl -I$(IDL_IMPORT_DIR) -u -o $@ $<

# Per-arch rules. $(1) is the arch. The i686 DLL is linked with --kill-at: the .def names carry @N (so that the
# import library answers _CoTaskMemAlloc@4), the exports do not (as ole32.dll); x86_64 has no decoration at all.
define ARCH_RULES
$(1)_CC      := $$(CROSS_$(1))gcc
$(1)_DIR     := $(BUILD)/$(1)
$(1)_OBJS    := $$(patsubst %.c,$(BUILD)/$(1)/obj/%.o,$(DLL_SOURCES)) $(BUILD)/$(1)/obj/ole32mem.res.o
$(1)_KILLAT  := $$(if $$(filter i686,$(1)),-k,)

$(BUILD)/$(1)/obj/%.o: dlls/ole32mem/%.c $(GEN_HEADER) | deps
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) $(DLL_CPPFLAGS) -MMD -MP -c $$< -o $$@

$(BUILD)/$(1)/obj/ole32mem.res.o: dlls/ole32mem/ole32mem.rc dlls/ole32mem/ole32mem_version.h | deps
	@mkdir -p $$(@D)
	$$(CROSS_$(1))windres -Idlls/ole32mem $$< -o $$@

$(BUILD)/$(1)/ole32mem.def: ole32mem.def
	@mkdir -p $$(@D)
	$$(if $$(filter i686,$(1)),cp $$< $$@,sed 's/@[0-9][0-9]*$$$$//' $$< > $$@)

$(BUILD)/$(1)/ole32mem.dll: $$($(1)_OBJS) $(BUILD)/$(1)/ole32mem.def
	$$($(1)_CC) -shared -static-libgcc -o $$@ $$($(1)_OBJS) $(BUILD)/$(1)/ole32mem.def $(DLL_LIBS) $$(if $$(filter i686,$(1)),-Wl$$(comma)--kill-at)

$(BUILD)/$(1)/libole32mem.dll.a: $(BUILD)/$(1)/ole32mem.def | deps
	$$(CROSS_$(1))dlltool $$($(1)_KILLAT) -d $$< -D ole32mem.dll -l $$@

# MinGW's linkers read the GNU import library under the MSVC name too.
$(BUILD)/$(1)/ole32mem.lib: $(BUILD)/$(1)/libole32mem.dll.a
	cp $$< $$@

# Each test twice: against ole32mem (NAME.exe) and against Wine's own ole32 (NAME_builtin.exe, -DTEST_BUILTIN).
$(BUILD)/$(1)/tests/%.exe: tests/%.c $$$$(addprefix tests/,$$$$(TEST_EXTRA_$$$$*)) $(TEST_HEADERS) $(BUILD)/$(1)/libole32mem.dll.a $(BUILD)/$(1)/tests/ole32mem.dll | $(GEN_HEADER) $(GEN_IIDS)
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -I$(GENINC) -Itests -Idlls/ole32mem -o $$@ $$(filter %.c,$$^) -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/tests/%_builtin.exe: tests/%.c $$$$(addprefix tests/,$$$$(TEST_EXTRA_$$$$*)) $(TEST_HEADERS) | $(GEN_HEADER) $(GEN_IIDS) $(BUILD)/$(1)/tests/ole32mem.dll
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -DTEST_BUILTIN -I$(GENINC) -Itests -Idlls/ole32mem -o $$@ $$(filter %.c,$$^) -lole32 -luuid

$(BUILD)/$(1)/tests/ole32mem.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@

$(BUILD)/$(1)/demo.exe: examples/demo.c $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -I$(GENINC) -Idlls/ole32mem -o $$@ $$(filter %.c,$$^) -L$(BUILD)/$(1) -lole32mem -luuid

-include $$(wildcard $(BUILD)/$(1)/obj/*.d)
endef

comma := ,
$(foreach a,$(ARCHES),$(eval $(call ARCH_RULES,$(a))))

TEST_EXES := $(foreach a,$(ARCHES),$(foreach t,$(TESTS),$(BUILD)/$(a)/tests/$(t).exe $(BUILD)/$(a)/tests/$(t)_builtin.exe))

# One private prefix for every wine run of the build; created after wine32 is installed so that it runs both
# arches.
$(BUILD)/wineprefix/.created: | deps
	@mkdir -p $(WINEPREFIX)
	$(WINE_ENV) $(WINE64) wineboot -i >/dev/null 2>&1
	$(WINESERVER) -w
	@touch $@

demo: all $(foreach a,$(ARCHES),$(BUILD)/$(a)/demo.exe) $(BUILD)/wineprefix/.created
	@for a in $(ARCHES); do \
	    echo "=== $$a ==="; \
	    wine=$(WINE64); [ $$a = i686 ] && wine=$(WINE32); \
	    $(WINE_ENV) $$wine $(BUILD)/$$a/demo.exe || exit 1; \
	done

# `make check` runs every suite listed in CHECK_SUITES (the mk/*.mk fragments add theirs). Each suite's target
# records "PASSED FAILED SKIPPED" in $(BUILD)/results/<suite> and fails only when it could not run; the summary
# adds them up, prints the closing "N passed, N failed, N skipped" line and fails if any test failed.
CHECK_SUITES := wine

# Fragments for the later parts (host checks, benchmarks, prefix install, packaging): each may append to
# CHECK_SUITES and add its own targets.
include $(sort $(wildcard mk/*.mk))

check: $(addprefix check-,$(CHECK_SUITES))
	@bash tests/summarize.sh $(BUILD)/results $(CHECK_SUITES)

# The conformance tests: every program on every arch, against ole32mem and against Wine's builtin ole32.
check-wine: all $(TEST_EXES) $(BUILD)/wineprefix/.created
	@mkdir -p $(BUILD)/results
	@ARCHES="$(ARCHES)" TESTS="$(TESTS)" BUILD="$(BUILD)" WINE64="$(WINE64)" WINE32="$(WINE32)" \
	    WINESERVER="$(WINESERVER)" RESULT=$(BUILD)/results/wine bash tests/run-tests.sh


# Stops the wineservers of the build's own prefixes (never anyone else's) before removing them.
clean:
	@for prefix in $(WINEPREFIX) $(wildcard $(BUILD)/prefix-tests/*); do \
	    if [ -d "$$prefix" ] && [ -x $(WINESERVER) ]; then WINEPREFIX="$$prefix" $(WINESERVER) -k 2>/dev/null || true; fi; \
	done
	rm -rf $(BUILD)
