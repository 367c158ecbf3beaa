# mk/prefix.mk: ole32mem in a Wine prefix, for programs that were never rebuilt (docs/wineprefix.md).
#
#   make install-prefix WINEPREFIX=DIR [APP=foo.exe] [HOOK_COMBASE=1] [SYMLINK=1] [FORCE=1]
#   make uninstall-prefix WINEPREFIX=DIR [FORCE=1]
#   make check-prefix     (suite "prefix" of `make check`: tests/prefix/run.sh in fresh prefixes under build/)
#
# The proxy build/<arch>/proxy/ole32.dll is the allocator (the objects of ole32mem.dll) plus dlls/ole32/*.c,
# with dlls/ole32/proxy.c's proxy_entry as the entry point (the CRT's, then the combase hook), linked with a .def that tools/gen-ole32-def.sh generates from the installed Wine's ole32.dll: ole32mem's exports
# with Wine's ordinals, every other export forwarded to ole32_orig.dll. The work in the prefix is
# tools/wineprefix.sh's.
#
# WINEPREFIX must be given (command line or environment): the Makefile's default, $(BUILD)/wineprefix, belongs to
# the conformance tests and is refused.

# Where the installed Wine keeps its PE ole32.dll per arch (Debian's layout); the .def is generated from it and
# install compares ole32_orig.dll with it.
WINE_DLLDIR_x86_64 ?= /usr/lib/x86_64-linux-gnu/wine/x86_64-windows
WINE_DLLDIR_i686   ?= /usr/lib/i386-linux-gnu/wine/i386-windows
APP          ?=
HOOK_COMBASE ?=
SYMLINK      ?=
# FORCE=1: programs running in the prefix are ended (wineserver -k) instead of the command being refused.
FORCE        ?=

PROXY_OWN_SOURCES := proxy.c combase_hook.c prologue.c
PROXY_TEST_BUILD  := $(BUILD)/prefix-tests

define PROXY_RULES
# The allocator's objects are the DLL's own (<arch>_DLL_OBJS, built once by the Makefile); only the proxy's own
# sources are compiled here.
$(1)_PROXY_OBJS := $$($(1)_DLL_OBJS) $$(patsubst %.c,$(BUILD)/$(1)/proxy/obj/%.o,$(PROXY_OWN_SOURCES)) \
    $(BUILD)/$(1)/proxy/obj/proxy.res.o

$(BUILD)/$(1)/proxy/obj/%.o: dlls/ole32/%.c $(GEN_HEADER) | deps
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) $(DLL_CPPFLAGS) -Idlls/ole32 -MMD -MP -c $$< -o $$@

$(BUILD)/$(1)/proxy/obj/proxy.res.o: dlls/ole32/proxy.rc dlls/ole32mem/ole32mem_version.h | deps
	@mkdir -p $$(@D)
	$$(CROSS_$(1))windres -Idlls/ole32mem $$< -o $$@

# The sha256 of Wine's ole32.dll, rewritten only when it changes: checked on every make (the recipe always runs),
# so the .def and the proxy are regenerated when the content of Wine's ole32 changes (an upgrade), whatever its
# date says (dpkg keeps the package's dates).
$(BUILD)/$(1)/proxy/wine-ole32.sha256: FORCE_PROXY_STAMP
	@mkdir -p $$(@D)
	@bash tools/gen-ole32-def.sh --stamp $$@ $$(WINE_DLLDIR_$(1))/ole32.dll

# When Wine's ole32 is missing the script says what to install.
$(BUILD)/$(1)/proxy/ole32.def: tools/gen-ole32-def.sh ole32mem.def dlls/ole32/proxy.def $(BUILD)/$(1)/proxy/wine-ole32.sha256 | deps
	@mkdir -p $$(@D)
	bash tools/gen-ole32-def.sh $(1) $$(WINE_DLLDIR_$(1))/ole32.dll $$@ ole32mem.def dlls/ole32/proxy.def

$(BUILD)/$(1)/proxy/ole32.dll: $$($(1)_PROXY_OBJS) $(BUILD)/$(1)/proxy/ole32.def
	$$($(1)_CC) -shared -static-libgcc -o $$@ $$($(1)_PROXY_OBJS) $(BUILD)/$(1)/proxy/ole32.def $(DLL_LIBS) -ladvapi32 \
	    $$(if $$(filter i686,$(1)),-Wl$$(comma)--kill-at -Wl$$(comma)-e$$(comma)_proxy_entry@12,-Wl$$(comma)-e$$(comma)proxy_entry)

# The end-to-end test program: an ordinary COM program, linked against the SDK's ole32 only.
$(PROXY_TEST_BUILD)/$(1)/prefix_e2e.exe: tests/prefix/prefix_e2e.c tests/test.h tests/passthrough_spy.h dlls/ole32mem/ole32mem_version.h | deps
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) $(CFLAGS) -gdwarf-4 -fno-optimize-sibling-calls $(WARNINGS) -Itests -Idlls/ole32mem -o $$@ $$< \
	    -lole32 -luuid

# A program that only waits: the user's program the installer must not end.
$(PROXY_TEST_BUILD)/$(1)/idle.exe: tests/prefix/idle.c | deps
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -o $$@ $$<

-include $$(wildcard $(BUILD)/$(1)/proxy/obj/*.d)
endef

$(foreach a,$(ARCHES),$(eval $(call PROXY_RULES,$(a))))

PROXY_DLLS := $(foreach a,$(ARCHES),$(BUILD)/$(a)/proxy/ole32.dll)
# Single-quoted for the shell, as the user wrote it: make would expand a "$" in a value given on its command line.
prefix_shell_quote = '$(subst ','\'',$(1))'
PREFIX_SCRIPT_ENV = WINE64="$(WINE64)" WINE32="$(WINE32)" WINESERVER="$(WINESERVER)" BUILD="$(BUILD)" \
    WINE_DLLDIR_x86_64="$(WINE_DLLDIR_x86_64)" WINE_DLLDIR_i686="$(WINE_DLLDIR_i686)"
# install and uninstall get WINEPREFIX as its raw text ($(value ...)), never expanded by make.
PREFIX_TARGET_ENV = $(PREFIX_SCRIPT_ENV) WINEPREFIX=$(call prefix_shell_quote,$(value WINEPREFIX))

.PHONY: proxy install-prefix uninstall-prefix check-prefix require-wineprefix FORCE_PROXY_STAMP
proxy: $(PROXY_DLLS)

require-wineprefix:
ifeq ($(filter command line environment,$(origin WINEPREFIX)),)
	@echo "Name the prefix: make $(MAKECMDGOALS) WINEPREFIX=/path/to/prefix ($(WINEPREFIX) is the tests' own)" >&2
	@exit 1
endif

install-prefix: require-wineprefix $(PROXY_DLLS)
	@$(PREFIX_TARGET_ENV) bash tools/wineprefix.sh install $(if $(APP),--app "$(APP)") \
	    $(if $(filter-out 0,$(HOOK_COMBASE)),--hook-combase) $(if $(filter-out 0,$(SYMLINK)),--symlink) \
	    $(if $(filter-out 0,$(FORCE)),--force)

uninstall-prefix: require-wineprefix
	@$(PREFIX_TARGET_ENV) bash tools/wineprefix.sh uninstall $(if $(filter-out 0,$(FORCE)),--force)

CHECK_SUITES += prefix
# (the errors case puts ole32mem.dll in ole32.dll's place: a DLL that is not Wine's)
check-prefix: $(PROXY_DLLS) $(foreach a,$(ARCHES),$(PROXY_TEST_BUILD)/$(a)/prefix_e2e.exe $(PROXY_TEST_BUILD)/$(a)/idle.exe \
    $(BUILD)/$(a)/ole32mem.dll $(BUILD)/$(a)/diag/symchainapp.exe)
	@mkdir -p $(BUILD)/results
	@$(WINE_RUN) env $(PREFIX_SCRIPT_ENV) ARCHES="$(ARCHES)" TEST_DIR="$(PROXY_TEST_BUILD)" \
	    RESULT=$(BUILD)/results/prefix bash tests/prefix/run.sh
	@$(WINE_RUN) env WINESERVER="$(WINESERVER)" bash tests/remove-prefixes.sh $(PROXY_TEST_BUILD)
