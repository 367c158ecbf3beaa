# mk/diag.mk: the diagnostics suite of `make check` (OLE32MEM_DEBUG & co., see dlls/ole32mem/diag_options.c):
# build/<arch>/diag/ holds diag.exe (linked against ole32mem, one mode per run), diaghelp.dll (a second module that
# allocates through ole32mem), diagdyn.exe (loads and unloads ole32mem at run time) and a copy of ole32mem.dll;
# tests/diag/run.sh runs them under wine and checks the reports. See tests/diag/diag.c for the protocol.
#
# The programs are built with -fno-optimize-sibling-calls: a CoTaskMemFree in tail position would be a jump, and
# ole32mem would rightly name the caller's caller.

DIAG_CFLAGS := $(CSTD) $(CFLAGS) $(WARNINGS) -fno-optimize-sibling-calls -I$(GENINC) -Itests
DIAG_FILES  := diag.exe diaghelp.dll diagdyn.exe ole32mem.dll
DIAG_BUILT  := $(foreach a,$(ARCHES),$(addprefix $(BUILD)/$(a)/diag/,$(DIAG_FILES)))

define DIAG_RULES
$(BUILD)/$(1)/diag/diag.exe: tests/diag/diag.c tests/test.h tests/harness.h tests/passthrough_spy.h $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -o $$@ $$< -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/diag/diaghelp.dll: tests/diag/diaghelp.c $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -shared -o $$@ $$< -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/diag/diagdyn.exe: tests/diag/diagdyn.c
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -o $$@ $$<

$(BUILD)/$(1)/diag/ole32mem.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@
endef

$(foreach a,$(ARCHES),$(eval $(call DIAG_RULES,$(a))))

.PHONY: check-diag
CHECK_SUITES += diag
check-diag: all $(DIAG_BUILT) $(BUILD)/wineprefix/.created
	@mkdir -p $(BUILD)/results
	@ARCHES="$(ARCHES)" BUILD="$(BUILD)" WINE64="$(WINE64)" WINE32="$(WINE32)" WINESERVER="$(WINESERVER)" \
	    $(foreach a,$(ARCHES),NM_$(a)="$(CROSS_$(a))nm") RESULT=$(BUILD)/results/diag bash tests/diag/run.sh
