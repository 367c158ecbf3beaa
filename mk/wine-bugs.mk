# mk/wine-bugs.mk: programs that show a Wine bug with nothing of ole32mem (docs/wine-bugs/*.c), ready to attach to an
# upstream report. Optional: `make wine-bugs` builds build/<arch>/wine-bugs/NAME.exe; neither `all` nor `check`
# depends on them. Run one with `wine64 build/x86_64/wine-bugs/NAME.exe` (or `wine` for i686); each says on its
# last line what it found.

WINE_BUG_SOURCES := $(wildcard docs/wine-bugs/*.c)

.PHONY: wine-bugs
wine-bugs: $(foreach a,$(ARCHES),$(patsubst docs/wine-bugs/%.c,$(BUILD)/$(a)/wine-bugs/%.exe,$(WINE_BUG_SOURCES)))

define WINE_BUG_RULES
$(BUILD)/$(1)/wine-bugs/%.exe: docs/wine-bugs/%.c | deps
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) $(CFLAGS) $(WARNINGS) -o $$@ $$<
endef
$(foreach a,$(ARCHES),$(eval $(call WINE_BUG_RULES,$(a))))
