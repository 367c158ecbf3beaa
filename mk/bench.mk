# Benchmarks (included by the Makefile).
#
#   make bench                  build build/<arch>/bench/bench.exe for every arch and run each under wine: ole32mem.dll
#                               (copied next to the exe), Wine's builtin ole32.dll and the raw process heap, timed in
#                               one process, alternating; a table of medians and the performance targets on stdout
#   BENCH_QUICK=1 make bench    a short run (under 30 s for both arches); BENCH_REPS / BENCH_BATCH_MS tune a full one
#
# Not part of `make check`: timings depend on the machine and are reported, not asserted.

BENCH_SOURCES := bench/bench.c bench/targets.c bench/scenarios.c bench/memory.c
BENCH_HEADERS := bench/bench.h tests/passthrough_spy.h
BENCH_QUICK   ?=

# $(1) is the arch. bench.exe does not link against ole32 or ole32mem: it loads both by name at run time.
define BENCH_RULES
$(BUILD)/$(1)/bench/bench.exe: $(BENCH_SOURCES) $(BENCH_HEADERS) $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$(CROSS_$(1))gcc $(CSTD) $(CFLAGS) $(WARNINGS) -I$(GENINC) -Ibench -Itests -o $$@ $$(filter %.c,$$^) -luuid

# ole32mem_ref.dll is a second copy, loaded as a separate instance: the N=0 reference of the spied rows.
$(BUILD)/$(1)/bench/ole32mem.dll $(BUILD)/$(1)/bench/ole32mem_ref.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@
endef

$(foreach a,$(ARCHES),$(eval $(call BENCH_RULES,$(a))))

BENCH_EXES := $(foreach a,$(ARCHES),$(addprefix $(BUILD)/$(a)/bench/,bench.exe ole32mem.dll ole32mem_ref.dll))

.PHONY: bench
bench: all $(BENCH_EXES) $(BUILD)/wineprefix/.created
	@for a in $(ARCHES); do \
	    echo "=== bench $$a ==="; \
	    wine=$(WINE64); [ $$a = i686 ] && wine=$(WINE32); \
	    $(WINE_ENV) BENCH_QUICK="$(BENCH_QUICK)" $$wine $(BUILD)/$$a/bench/bench.exe || exit 1; \
	done
