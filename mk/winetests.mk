# mk/winetests.mk: the "winetests" suite of `make check` — Wine 8's own conformance tests of ole32 and combase
# (dlls/ole32/tests, dlls/combase/tests), run against ole32mem in every way it can be used and compared check by
# check with Wine's builtin ole32 (README, "Wine's own tests").
#
#   make check-winetests   fetch (once) Debian's source package of the installed Wine into $(BUILD)/winetests/src,
#                          build the test programs for each arch, run them in modes A-E (and C in a win32 prefix)
#
# tests/winetests/fetch.sh fetches and unpacks the source with a private apt configuration (never the machine's);
# tests/winetests/build.mk builds the programs from it; tests/winetests/run.sh runs and judges them. Everything lives
# under $(BUILD)/winetests: the source, the programs, the prefixes. Without network (and no cached source) the suite
# says so and counts as skipped, never as passed.

WINETESTS_DIR     := $(BUILD)/winetests
WINETESTS_TIMEOUT ?= 300
WINETESTS_RETRIES ?= 5
WINE_WIDL         ?= /usr/lib/wine/widl
WINE_WINEBUILD    ?= /usr/lib/wine/winebuild

.PHONY: check-winetests
CHECK_SUITES += winetests
# The programs are rebuilt by build.mk's own dependencies; the source is fetched only when the cache is not this
# Wine's. A fetch that cannot reach the archive (status 2) still runs run.sh, which records the skip.
check-winetests: all $(PROXY_DLLS)
	@mkdir -p $(BUILD)/results $(WINETESTS_DIR)
	@status=0; WT=$(WINETESTS_DIR) bash tests/winetests/fetch.sh || status=$$?; \
	if [ $$status = 0 ]; then \
	    $(foreach a,$(ARCHES),$(MAKE) --no-print-directory -s -f tests/winetests/build.mk \
	        SRC=$(WINETESTS_DIR)/src GEN=$(WINETESTS_DIR)/gen OUT=$(WINETESTS_DIR)/$(a) ARCH=$(a) \
	        CROSS=$(CROSS_$(a)) WIDL=$(WINE_WIDL) WINEBUILD=$(WINE_WINEBUILD) OLE32MEM_LIB=$(BUILD)/$(a) all || exit 1;) \
	elif [ $$status != 2 ]; then exit 1; fi; \
	FETCH_STATUS=$$status WT=$(WINETESTS_DIR) ARCHES="$(ARCHES)" BUILD="$(BUILD)" MAKE="$(MAKE)" REPO="$(CURDIR)" \
	    WINE64="$(WINE64)" WINE32="$(WINE32)" WINESERVER="$(WINESERVER)" WINETESTS_TIMEOUT=$(WINETESTS_TIMEOUT) \
	    WINETESTS_RETRIES=$(WINETESTS_RETRIES) RESULT=$(BUILD)/results/winetests bash tests/winetests/run.sh
