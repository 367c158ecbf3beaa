# mk/wine10.mk: `make check-wine10` — the suites that run Wine (wine, diag, prefix, winetests) again under Debian 13's
# Wine 10, and the Wine-upgrade test (a prefix installed under this machine's Wine, then used under Wine 10).
#
#   make check-wine10        last line "N passed, N failed, N skipped" (results in $(WINE10_BUILD)/results)
#   make wine10-root         make the Debian 13 root once (tools/wine-root.sh create); check-wine10 does it too
#   make remove-wine10-root  delete it (refused while a run uses it)
#
# The root, $(WINE10_ROOT) (about 2.5 GB), is made by debootstrap from Debian's mirror with wine, wine64 and
# wine32:i386 and what the suites need inside (tools/wine-root.sh says what and why), and reused while complete. If
# the mirror cannot be reached, every suite of check-wine10 counts as skipped, with the reason.
# The build is this machine's (its cross compilers and Wine tools) in its own tree, $(WINE10_BUILD), with the proxy's
# exports generated from the root's Wine 10 ole32.dll (WINE_DLLDIR_<arch>) and Wine 10's own tests from Wine 10's
# source package (trixie). The suites' recipes are this Makefile's own, run by a sub-make with that BUILD; only
# their Wine runs go inside the root, through WINE_RUN (tools/wine-root.sh run: private mount and PID namespaces,
# the work tree bound at its own path, nothing left mounted or running afterwards). Every prefix is removed when
# its suite ends (the winetests keep one pristine prefix to copy from).
#
# Another Wine the same way: WINE10_SUITE (a Debian suite with wine, wine64, wine32:i386), WINE10_ROOT, WINE10_BUILD.

WINE10_CACHE  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ole32mem
WINE10_ROOT   ?= $(WINE10_CACHE)/debian13-wine10
WINE10_SUITE  ?= trixie
WINE10_BUILD  ?= $(BUILD)/wine10
# The suites of check-wine10 (check-<suite> each), each leaving "PASSED FAILED SKIPPED" in
# $(WINE10_BUILD)/results/<suite>; make check-wine10 WINE10_SUITES="wine diag" runs only those.
WINE10_SUITES ?= wine diag prefix winetests upgrade

# The suites that use the conformance prefix, and the others.
wine10_first := $(filter wine diag,$(WINE10_SUITES))
wine10_then  := $(filter-out wine diag,$(WINE10_SUITES))
wine10_root  := $(abspath $(WINE10_ROOT))
wine10_build := $(abspath $(WINE10_BUILD))
WINE10_ROOT_ENV := WINE_ROOT_SUITE=$(WINE10_SUITE)
WINE10_RUN := $(WINE10_ROOT_ENV) bash $(CURDIR)/tools/wine-root.sh run $(wine10_root) --cwd $(CURDIR) \
    --bind $(CURDIR) --bind $(wine10_build) --
# The sub-make's settings: the build tree, its own conformance prefix, the root's Wine 10 ole32 for the proxy, the
# winetests' source from the root's Wine version.
WINE10_MAKE = $(MAKE) --no-print-directory -k BUILD=$(WINE10_BUILD) WINEPREFIX=$(wine10_build)/wineprefix \
    WINE_RUN='$(WINE10_RUN)' \
    WINE_DLLDIR_x86_64=$(wine10_root)/usr/lib/x86_64-linux-gnu/wine/x86_64-windows \
    WINE_DLLDIR_i686=$(wine10_root)/usr/lib/i386-linux-gnu/wine/i386-windows \
    WINETESTS_SUITE=$(WINE10_SUITE) \
    WINETESTS_WINE_VERSION=$$($(WINE10_ROOT_ENV) bash tools/wine-root.sh wine-version $(wine10_root)) \
    UPGRADE_FROM_BUILD=$(BUILD)

.PHONY: check-wine10 wine10-root remove-wine10-root check-upgrade wine10-programs
# What the suites run, built in one go by the sub-make with two jobs before the suites run one after the other.
wine10-programs: all $(TEST_EXES) $(DIAG_BUILT) $(PROXY_DLLS) \
    $(foreach a,$(ARCHES),$(PROXY_TEST_BUILD)/$(a)/prefix_e2e.exe)

wine10-root: | deps
	@$(WINE10_ROOT_ENV) bash tools/wine-root.sh create $(wine10_root)

remove-wine10-root:
	@$(WINE10_ROOT_ENV) bash tools/wine-root.sh remove $(wine10_root)

# This machine's build first: the upgrade test installs its proxy under this machine's Wine before Wine 10.
# A root that could not be made because the mirror is out of reach (status 2) makes every suite a skip; the
# sub-make's failures are the suites' own results (a suite that left none is a failure in the summary). The
# conformance prefix of wine and diag (1.4 GB) is removed before the other suites make theirs: a lower peak.
check-wine10: all $(PROXY_DLLS) $(foreach a,$(ARCHES),$(PROXY_TEST_BUILD)/$(a)/prefix_e2e.exe) | deps
	@rm -rf $(WINE10_BUILD)/results && mkdir -p $(WINE10_BUILD)/results
	@status=0; $(WINE10_ROOT_ENV) bash tools/wine-root.sh create $(wine10_root) || status=$$?; \
	if [ $$status = 2 ]; then \
	    for s in $(WINE10_SUITES); do echo "0 0 1" >$(WINE10_BUILD)/results/$$s; done; \
	    echo "check-wine10: every suite skipped: the Debian $(WINE10_SUITE) root could not be made (see above)"; \
	elif [ $$status = 0 ]; then \
	    $(WINE10_MAKE) -j2 wine10-programs; \
	    $(if $(wine10_first),$(WINE10_MAKE) $(addprefix check-,$(wine10_first)) || true;) \
	    $(WINE10_RUN) env WINESERVER="$(WINESERVER)" bash tests/remove-prefixes.sh $(wine10_build)/wineprefix; \
	    $(if $(wine10_then),$(WINE10_MAKE) $(addprefix check-,$(wine10_then)) || true;) \
	else exit 1; fi
	@TOTAL_FILE=$(WINE10_BUILD)/results/total bash tests/summarize.sh $(WINE10_BUILD)/results $(WINE10_SUITES)

# Run by check-wine10's sub-make (BUILD is the Wine 10 build, UPGRADE_FROM_BUILD this machine's): a prefix installed
# under this machine's Wine, then uninstalled and installed again under the root's (tests/upgrade/run.sh).
check-upgrade: $(PROXY_DLLS) $(foreach a,$(ARCHES),$(PROXY_TEST_BUILD)/$(a)/prefix_e2e.exe)
	@mkdir -p $(BUILD)/results
	@$(PREFIX_SCRIPT_ENV) ARCHES="$(ARCHES)" OLD_BUILD="$(UPGRADE_FROM_BUILD)" NEW_BUILD="$(BUILD)" \
	    NEW_RUN='$(WINE_RUN)' TEST_DIR=$(BUILD)/upgrade-tests RESULT=$(BUILD)/results/upgrade bash tests/upgrade/run.sh
