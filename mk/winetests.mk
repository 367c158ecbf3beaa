# mk/winetests.mk: the "winetests" suite of `make check` — the tested Wine's own conformance tests of ole32 and
# combase (dlls/ole32/tests, dlls/combase/tests), run against ole32mem in every way it can be used and compared check
# by check with Wine's builtin ole32 (README, "Wine's own tests").
#
#   make check-winetests   fetch (once) Debian's source package of the tested Wine into $(BUILD)/winetests/src,
#                          build the test programs for each arch, run them in modes A-E (and C in a win32 prefix)
#
# The tested Wine is the installed one (Debian 12's Wine 8), or the one WINETESTS_WINE_VERSION names from the
# WINETESTS_SUITE of Debian's archive (make check-wine10: Debian 13's Wine 10, the programs run inside its root
# through $(WINE_RUN)). The programs are always built here, with this machine's cross compilers and Wine tools.
#
# tests/winetests/fetch.sh fetches and unpacks the source with a private apt configuration (never the machine's);
# tests/winetests/build.mk builds the programs from it; tests/winetests/run.sh runs and judges them. Everything lives
# under $(BUILD)/winetests: the source, the programs, the prefixes (removed when the suite ends, but for one pristine
# 64-bit prefix to copy from next time). Without network (and no cached source) the suite says so and counts as
# skipped, never as passed.

WINETESTS_DIR     := $(BUILD)/winetests
WINETESTS_TIMEOUT ?= 300
WINETESTS_RETRIES ?= 5
WINE_WIDL         ?= /usr/lib/wine/widl
WINE_WINEBUILD    ?= /usr/lib/wine/winebuild
WINETESTS_SUITE   ?= bookworm
# Empty: the installed wine64 package's version.
WINETESTS_WINE_VERSION ?=

.PHONY: check-winetests
CHECK_SUITES += winetests
# The programs are rebuilt by build.mk's own dependencies; the source is fetched only when the cache is not this
# Wine's. A fetch that cannot reach the archive (status 2) still runs run.sh, which records the skip.
check-winetests: all $(PROXY_DLLS)
	@mkdir -p $(BUILD)/results $(WINETESTS_DIR)
	@status=0; WT=$(WINETESTS_DIR) WINETESTS_SUITE=$(WINETESTS_SUITE) WINE_VERSION=$(WINETESTS_WINE_VERSION) \
	    bash tests/winetests/fetch.sh || status=$$?; \
	if [ $$status = 0 ]; then \
	    $(foreach a,$(ARCHES),$(MAKE) --no-print-directory -s -f tests/winetests/build.mk \
	        SRC=$(WINETESTS_DIR)/src GEN=$(WINETESTS_DIR)/gen OUT=$(WINETESTS_DIR)/$(a) ARCH=$(a) \
	        CROSS=$(CROSS_$(a)) WIDL=$(WINE_WIDL) WINEBUILD=$(WINE_WINEBUILD) OLE32MEM_LIB=$(BUILD)/$(a) all || exit 1;) \
	elif [ $$status != 2 ]; then exit 1; fi; \
	$(WINE_RUN) env FETCH_STATUS=$$status WT=$(WINETESTS_DIR) ARCHES="$(ARCHES)" BUILD="$(BUILD)" MAKE="$(MAKE)" \
	    REPO="$(CURDIR)" WINE64="$(WINE64)" WINE32="$(WINE32)" WINESERVER="$(WINESERVER)" \
	    WINETESTS_TIMEOUT=$(WINETESTS_TIMEOUT) WINETESTS_RETRIES=$(WINETESTS_RETRIES) \
	    RESULT=$(BUILD)/results/winetests bash tests/winetests/run.sh
