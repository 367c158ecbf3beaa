# The soak (included by the Makefile; not part of `make check`):
#
#   make soak [SOAK_SECONDS=60]   build $(BUILD)/<arch>/soak/soak.exe for every arch and run each under wine64/wine
#                                 with OLE32MEM_DEBUG=all for SOAK_SECONDS: threads allocating, reallocating,
#                                 measuring and freeing through ole32mem and combase, a spy registered and revoked
#                                 in a loop, exact accounting at the end (tests/soak/soak.c); tests/soak/run.sh then
#                                 checks the diagnostics log: exactly the check: lines the program provoked, no
#                                 guard: line, an empty leak report. Prints ops/s. An arch that cannot run here (no
#                                 32-bit support in the kernel) is built and reported as skipped.
#
# -fno-optimize-sibling-calls as for the diagnostics suite: the calls keep their callers' names.

SOAK_SECONDS ?= 60

define SOAK_RULES
$(BUILD)/$(1)/soak/soak.exe: tests/soak/soak.c tests/test.h tests/harness.h tests/hook_log.h tests/passthrough_spy.h \
                             tests/count_spy.h $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -fno-optimize-sibling-calls -I$(GENINC) -Itests -o $$@ $$< \
	    -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/soak/ole32mem.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@
endef

$(foreach a,$(ARCHES),$(eval $(call SOAK_RULES,$(a))))

SOAK_BUILT := $(foreach a,$(ARCHES),$(BUILD)/$(a)/soak/soak.exe $(BUILD)/$(a)/soak/ole32mem.dll)

.PHONY: soak
soak: all $(SOAK_BUILT) $(BUILD)/wineprefix/.created
	@ARCHES="$(ARCHES)" BUILD="$(BUILD)" WINE64="$(WINE64)" WINE32="$(WINE32)" WINESERVER="$(WINESERVER)" \
	    SOAK_SECONDS="$(SOAK_SECONDS)" bash tests/soak/run.sh
