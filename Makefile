# ole32mem: one Makefile for the DLL (x86_64 and i686), its tests under Wine, the demo, and the host checks.
#
#   make                   build both arches into build/<arch>/
#   make demo              build and run the demo under wine (the allocator and a spy at work)
#   make check             every test suite (CHECK_SUITES), both arches; last line "N passed, N failed, N skipped"
#   make bench             ole32mem vs Wine's builtin vs the bare heap, side by side (BENCH_QUICK=1: < 30 s)
#   make install           into $(PREFIX)/<triplet> per arch (DESTDIR for staging); make uninstall
#   make install-prefix    WINEPREFIX=... [APP=x.exe] [HOOK_COMBASE=1]; make uninstall-prefix WINEPREFIX=...
#   make check-host        the core on the Linux host under ASan/UBSan/TSan, and a short fuzz run
#   make check-wine10      the suites that run Wine, again under Debian 13's Wine 10 (mk/wine10.mk)
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
# WINE_RUN: a command put before every run of Wine by the suites' recipes (empty: this machine's Wine). make
# check-wine10 (mk/wine10.mk) sets it to run them inside the Debian 13 root, with Wine 10.
WINE_RUN     ?=
# Set SKIP_DEPS=1 to skip the dependency check (tools/install-deps.sh) on machines set up by hand.
SKIP_DEPS    ?=
# DEBUG=1: the core's assertions (dlls/ole32mem/core_assert.h) in the DLL too, as in the host builds. Objects do not
# record their flags: give a debug build its own BUILD (make DEBUG=1 BUILD=build-debug).
DEBUG        ?=

WARNINGS := -Wall -Wextra -Werror
CSTD     := -std=gnu11
GENINC   := $(BUILD)/include
export WINEPREFIX
WINE_ENV := WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

# The sources, each list written once (paths under dlls/ole32mem/; the diagnostics in their own folder, diag/). The
# core is OS-free: the DLL builds it over the Windows port with the COM plumbing (ole32mem.c); mk/host.mk builds it
# over the Linux port in host/; the prefix proxy (mk/prefix.mk) links the DLL's objects.
DIAG_SOURCES       := $(addprefix diag/,diag_options.c diag_sites.c diag_records.c diag_freed.c diag_report.c \
                      diag_stacks.c diag_suppress.c diag_symbols.c)
CORE_SOURCES       := task_memory.c blocktable.c $(DIAG_SOURCES)
# The DWARF unwinder is OS-free (the host suite tests it over real .eh_frame sections); only i686 capture uses it.
UNWIND_SOURCES     := diag/unwind_dwarf.c
WIN32_PORT_SOURCES := platform_win32.c diag/platform_report_win32.c diag/platform_stacks_win32.c \
                      diag/stack_capture_win32.c diag/symbolizer_win32.c ole32mem_leaks.c
DLL_SOURCES        := ole32mem.c $(CORE_SOURCES) $(UNWIND_SOURCES) $(WIN32_PORT_SOURCES)
GEN_HEADER  := $(GENINC)/ole32mem_objidl.h $(GENINC)/ole32mem_markers.h
# IID definitions as widl writes them. The DLL takes its IIDs from the SDK's libuuid (which also has IID_IUnknown
# and defines IID_IMalloc in the same object, so the two cannot be linked together); tests/abi.c compiles this
# file under other names and checks that the values agree.
GEN_IIDS    := $(GENINC)/ole32mem_objidl_i.c
DLL_CPPFLAGS := -I$(GENINC) -Idlls/ole32mem -Idlls/ole32mem/diag $(if $(filter-out 0,$(DEBUG)),-DOLE32MEM_ASSERT)
# libuuid: IID_IUnknown/IID_IMalloc/IID_IMallocSpy; libsynchronization: WaitOnAddress (platform_win32.h's mutex);
# libntdll: RtlFreeHeap and RtlValidateHeap (platform_win32.h: one call fewer than kernel32's HeapFree/HeapValidate).
DLL_LIBS     := -luuid -lsynchronization -lntdll

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

# Per arch: the compiler (<arch>_CC, used by mk/*.mk too) and the DLL's objects (<arch>_DLL_OBJS, which the prefix
# proxy links as well). i686 is the one arch with stdcall decorations: its .def names carry @N (so that the import
# library answers _CoTaskMemAlloc@4), its exports do not (--kill-at, as ole32.dll); x86_64 has none at all.
comma := ,
$(foreach a,$(ARCHES),$(eval $(a)_CC := $(CROSS_$(a))gcc))
$(foreach a,$(ARCHES),$(eval $(a)_DLL_OBJS := $(patsubst %.c,$(BUILD)/$(a)/obj/%.o,$(DLL_SOURCES))))
# Named here, not only in the pattern rules below, so that make keeps them (pattern-only files are intermediate).
$(foreach a,$(ARCHES),$(eval $(BUILD)/$(a)/ole32mem.dll: $($(a)_DLL_OBJS) $(BUILD)/$(a)/obj/ole32mem.res.o \
    $(BUILD)/$(a)/ole32mem.def))
is_i686 = $(filter i686,$(1))

# The rules whose only variable part is the arch: the stem ($*) is the arch.
$(BUILD)/%/obj/ole32mem.res.o: dlls/ole32mem/ole32mem.rc dlls/ole32mem/ole32mem_version.h | deps
	@mkdir -p $(@D)
	$(CROSS_$*)windres -Idlls/ole32mem $< -o $@

$(BUILD)/%/ole32mem.def: ole32mem.def
	@mkdir -p $(@D)
	$(if $(call is_i686,$*),cp $< $@,sed 's/@[0-9][0-9]*$$//' $< > $@)

$(BUILD)/%/ole32mem.dll: $(BUILD)/%/obj/ole32mem.res.o $(BUILD)/%/ole32mem.def
	$($*_CC) -shared -static-libgcc -o $@ $(filter %.o,$^) $(filter %.def,$^) $(DLL_LIBS) \
	    $(if $(call is_i686,$*),-Wl$(comma)--kill-at)

$(BUILD)/%/libole32mem.dll.a: $(BUILD)/%/ole32mem.def | deps
	$(CROSS_$*)dlltool $(if $(call is_i686,$*),-k) -d $< -D ole32mem.dll -l $@

# MinGW's linkers read the GNU import library under the MSVC name too.
$(BUILD)/%/ole32mem.lib: $(BUILD)/%/libole32mem.dll.a
	cp $< $@

$(BUILD)/%/demo.exe: examples/demo.c examples/example_spy.h $(BUILD)/%/libole32mem.dll.a | $(GEN_HEADER)
	$($*_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -I$(GENINC) -Idlls/ole32mem -o $@ $(filter %.c,$^) -L$(@D) -lole32mem -luuid

# The rules with a second variable part (the source file, the test program): one copy per arch, $(1).
define ARCH_RULES
$(BUILD)/$(1)/obj/%.o: dlls/ole32mem/%.c $(GEN_HEADER) | deps
	@mkdir -p $$(@D)
	$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) $(DLL_CPPFLAGS) -MMD -MP -c $$< -o $$@

# The tests run against a copy next to them (named per arch: run-tests.sh needs it at run time, make must keep it).
$(BUILD)/$(1)/tests/ole32mem.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@

# Each test twice: against ole32mem (NAME.exe) and against Wine's own ole32 (NAME_builtin.exe, -DTEST_BUILTIN).
# A test's helper sources (TEST_EXTRA_NAME) are added as prerequisites below.
$(BUILD)/$(1)/tests/%.exe: tests/%.c $(TEST_HEADERS) $(BUILD)/$(1)/libole32mem.dll.a $(BUILD)/$(1)/tests/ole32mem.dll \
                           | $(GEN_HEADER) $(GEN_IIDS)
	$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -I$(GENINC) -Itests -Idlls/ole32mem -o $$@ $$(filter %.c,$$^) \
	    -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/tests/%_builtin.exe: tests/%.c $(TEST_HEADERS) | $(GEN_HEADER) $(GEN_IIDS) $(BUILD)/$(1)/tests/ole32mem.dll
	$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -DTEST_BUILTIN -I$(GENINC) -Itests -Idlls/ole32mem -o $$@ \
	    $$(filter %.c,$$^) -lole32 -luuid
endef

$(foreach a,$(ARCHES),$(eval $(call ARCH_RULES,$(a))))
-include $(wildcard $(foreach a,$(ARCHES),$(BUILD)/$(a)/obj/*.d $(BUILD)/$(a)/obj/diag/*.d))

TEST_EXES := $(foreach a,$(ARCHES),$(foreach t,$(TESTS),$(BUILD)/$(a)/tests/$(t).exe $(BUILD)/$(a)/tests/$(t)_builtin.exe))

# One private prefix for every wine run of the build; created after wine32 is installed so that it runs both
# arches.
$(BUILD)/wineprefix/.created: | deps
	@mkdir -p $(WINEPREFIX)
	$(WINE_RUN) env $(WINE_ENV) $(WINE64) wineboot -i >/dev/null 2>&1
	$(WINE_RUN) $(WINESERVER) -w
	@touch $@

# tests/lib.sh (lib_arch_can_run) is bash.
demo: SHELL := /bin/bash
demo: all $(foreach a,$(ARCHES),$(BUILD)/$(a)/demo.exe) $(BUILD)/wineprefix/.created
	@. tests/lib.sh; for a in $(ARCHES); do \
	    echo "=== $$a ==="; \
	    if ! lib_arch_can_run $$a; then echo "demo: $$LIB_ARCH_SKIP_REASON (built: $(BUILD)/$$a/demo.exe)"; continue; fi; \
	    $(WINE_ENV) $$(lib_wine_for $$a) $(BUILD)/$$a/demo.exe || exit 1; \
	done

# `make check` runs every suite listed in CHECK_SUITES (the mk/*.mk fragments add theirs). Each suite's target
# records "PASSED FAILED SKIPPED" in $(BUILD)/results/<suite> and fails only when it could not run; the summary
# adds them up, prints the closing "N passed, N failed, N skipped" line and fails if any test failed.
CHECK_SUITES := wine

# Fragments for the later parts (host checks, benchmarks, prefix install, packaging): each may append to
# CHECK_SUITES and add its own targets.
include $(sort $(wildcard mk/*.mk))

# Each test's helper sources, after the fragments (which may name some): tests/NAME.c plus $(TEST_EXTRA_NAME).
$(foreach a,$(ARCHES),$(foreach t,$(TESTS),$(eval $(BUILD)/$(a)/tests/$(t).exe $(BUILD)/$(a)/tests/$(t)_builtin.exe: \
    $(addprefix tests/,$(TEST_EXTRA_$(t))))))

check: $(addprefix check-,$(CHECK_SUITES))
	@TOTAL_FILE=$(BUILD)/results/total bash tests/summarize.sh $(BUILD)/results $(CHECK_SUITES)

# The conformance tests: every program on every arch, against ole32mem and against Wine's builtin ole32.
check-wine: all $(TEST_EXES) $(BUILD)/wineprefix/.created
	@mkdir -p $(BUILD)/results
	@$(WINE_RUN) env ARCHES="$(ARCHES)" TESTS="$(TESTS)" BUILD="$(BUILD)" WINE64="$(WINE64)" WINE32="$(WINE32)" \
	    WINESERVER="$(WINESERVER)" RESULT=$(BUILD)/results/wine bash tests/run-tests.sh


# Stops the wineservers of the build's own prefixes (never anyone else's) before removing them.
clean:
	@for prefix in $(WINEPREFIX) $(wildcard $(BUILD)/prefix-tests/*); do \
	    if [ -d "$$prefix" ] && [ -x $(WINESERVER) ]; then WINEPREFIX="$$prefix" $(WINESERVER) -k 2>/dev/null || true; fi; \
	done
	rm -rf $(BUILD)
