# mk/diag.mk: the diagnostics suite of `make check` (OLE32MEM_DEBUG & co., see dlls/ole32mem/diag/diag_options.c).
# build/<arch>/diag/ holds four test programs that run their own children and check them in C (tests/diag/child.h):
# diag.exe (the reports against what each child expects, tests/diag/expect.h), stacks.exe (call stacks,
# suppressions, checkpoints, the external symbolizer), diagregress.exe and diaghook.exe (issue 10); their helpers
# diaghelp.dll, diagdyn.exe, stackshelp.dll, stackshelp2.dll, stacksopt.dll, stacksopt2.dll, symchain.dll and
# symchainfp.dll; symchainapp.exe (for the prefix suite); and two copies of ole32mem.dll (the second, ole32mem2.dll,
# loaded at run time by stacks.exe). tests/diag/run.sh runs the four under wine.
#
# The programs are built with -fno-optimize-sibling-calls: a CoTaskMemFree in tail position would be a jump, and
# ole32mem would rightly name the caller's caller.

STACKSOPT_BASE := 0x6f000000
DIAG_CFLAGS := $(CSTD) $(CFLAGS) $(WARNINGS) -fno-optimize-sibling-calls -I$(GENINC) -Itests
DIAG_FILES  := diag.exe diaghelp.dll diagdyn.exe ole32mem.dll stacks.exe stackshelp.dll stackshelp2.dll \
               stacksopt.dll stacksopt2.dll ole32mem2.dll diagregress.exe diaghook.exe symchain.dll symchainfp.dll \
               symchainapp.exe
DIAG_BUILT  := $(foreach a,$(ARCHES),$(addprefix $(BUILD)/$(a)/diag/,$(DIAG_FILES)))
# What every test program of the folder includes.
DIAG_HARNESS := tests/diag/child.h tests/test.h tests/harness.h

define DIAG_RULES
$(BUILD)/$(1)/diag/diag.exe: tests/diag/diag.c tests/diag/expect.h $(DIAG_HARNESS) tests/passthrough_spy.h \
                             $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -o $$@ $$< -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/diag/diaghelp.dll: tests/diag/diaghelp.c $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -shared -o $$@ $$< -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/diag/diagdyn.exe: tests/diag/diagdyn.c tests/diag/expect.h $(DIAG_HARNESS)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -o $$@ $$<

# tests/diag/stacks.c: -g for the functions and lines of its leak stacks; -O1 keeps its frames' calls as written.
$(BUILD)/$(1)/diag/stacks.exe: tests/diag/stacks.c $(DIAG_HARNESS) dlls/ole32mem/ole32mem.h \
                               $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) -gdwarf-4 -O1 $(WARNINGS) -fno-optimize-sibling-calls -I$(GENINC) -Itests -Idlls/ole32mem \
	    -o $$@ $$< -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/diag/stackshelp.dll: tests/diag/stackshelp.c $(BUILD)/$(1)/libole32mem.dll.a
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -shared -o $$@ $$< -L$(BUILD)/$(1) -lole32mem

$(BUILD)/$(1)/diag/stackshelp2.dll: $(BUILD)/$(1)/diag/stackshelp.dll
	cp $$< $$@

# tests/diag/symchain.c: the compiler's default -g (DWARF 5 with GCC 12: only the external symbolizer names it), at
# -O2 (no frame pointers) and -O1 with frame pointers; symchainapp.exe against the system ole32 (the prefix proxy).
$(BUILD)/$(1)/diag/symchain.dll: tests/diag/symchain.c $(BUILD)/$(1)/libole32mem.dll.a
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) -O2 -g $(WARNINGS) -fno-optimize-sibling-calls -shared -o $$@ $$< -L$(BUILD)/$(1) -lole32mem

$(BUILD)/$(1)/diag/symchainfp.dll: tests/diag/symchain.c $(BUILD)/$(1)/libole32mem.dll.a
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) -O1 -fno-omit-frame-pointer -g $(WARNINGS) -fno-optimize-sibling-calls -shared -o $$@ $$< \
	    -L$(BUILD)/$(1) -lole32mem

$(BUILD)/$(1)/diag/symchainapp.exe: tests/diag/symchain.c
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) -O2 -g $(WARNINGS) -fno-optimize-sibling-calls -DSYMCHAIN_PROGRAM -o $$@ $$< -lole32

# tests/diag/stacksopt.c as users build: -O2 (no frame pointers on i686), -gdwarf-4 for dbghelp's names. Both
# copies at one image base, so that the second loads where the first was (the unload test).
$(BUILD)/$(1)/diag/stacksopt.dll $(BUILD)/$(1)/diag/stacksopt2.dll: tests/diag/stacksopt.c \
                                                                   $(BUILD)/$(1)/libole32mem.dll.a
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) -O2 -gdwarf-4 $(WARNINGS) $$(if $$(findstring 2.dll,$$@),-DSTACKSOPT_VARIANT) -shared \
	    -Wl,--image-base=$(STACKSOPT_BASE) -o $$@ $$< -L$(BUILD)/$(1) -lole32mem

# Issue 10's regressions (tests/diag/regress.c: loads ole32mem at run time, imports nothing of it) and the combase
# hook's prologue check (tests/diag/hook.c, with the proxy's dlls/ole32/combase_hook.c compiled in).
# -gdwarf-4: Wine 8's dbghelp reads no DWARF 5, and regress.c checks that its exit report names its source lines.
$(BUILD)/$(1)/diag/diagregress.exe: tests/diag/regress.c $(DIAG_HARNESS) tests/passthrough_spy.h | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -gdwarf-4 -o $$@ $$< -luuid

$(BUILD)/$(1)/diag/diaghook.exe: tests/diag/hook.c dlls/ole32/combase_hook.c dlls/ole32/combase_hook.h \
                                 dlls/ole32/prologue.c dlls/ole32/prologue.h \
                                 $(DIAG_HARNESS) tests/passthrough_spy.h $(BUILD)/$(1)/libole32mem.dll.a \
                                 | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(DIAG_CFLAGS) -Idlls/ole32 -o $$@ $$(filter %.c,$$^) -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/diag/ole32mem.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@

# A second instance of ole32mem for stacks.c's test_unload_self: loaded and unloaded at run time.
$(BUILD)/$(1)/diag/ole32mem2.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@
endef

$(foreach a,$(ARCHES),$(eval $(call DIAG_RULES,$(a))))

# NM_<arch>: the cross nm, with which run.sh tells diag.exe where each function ends (tests/diag/expect.h).
.PHONY: check-diag
CHECK_SUITES += diag
check-diag: all $(DIAG_BUILT) $(BUILD)/wineprefix/.created
	@mkdir -p $(BUILD)/results
	@$(WINE_RUN) env ARCHES="$(ARCHES)" BUILD="$(BUILD)" WINE64="$(WINE64)" WINE32="$(WINE32)" WINESERVER="$(WINESERVER)" \
	    $(foreach a,$(ARCHES),NM_$(a)="$(CROSS_$(a))nm") RESULT=$(BUILD)/results/diag bash tests/diag/run.sh
