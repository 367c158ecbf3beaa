# Benchmarks (included by the Makefile).
#
#   make bench                  build build/<arch>/bench/bench.exe for every arch and run each under wine: ole32mem.dll
#                               (copied next to the exe), Wine's builtin ole32.dll and the raw process heap, timed in
#                               one process, alternating; a table of medians and the performance targets on stdout
#   BENCH_QUICK=1 make bench    a short run (under 30 s for both arches); BENCH_REPS / BENCH_BATCH_MS tune a full one;
#                               BENCH_LFH=1 asks for the low-fragmentation heap first (an experiment);
#                               BENCH_FILTER='N=0:|GetSize 16' runs only the rows whose label contains one of the texts
#   make bench-profile          the cycles of a spied call, part by part (bench/profile.c)
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

# bench-profile: where a spied call's time goes (bench/profile.c), in cycles. A separate program that links the DLL's
# objects statically, so nothing of it can reach the shipped DLL. x86_64 and i686 alike; i686 runs only where the
# machine can run 32-bit programs (tests/lib.sh decides).
define BENCH_PROFILE_RULES
$(BUILD)/$(1)/bench/profile.exe: bench/profile.c $$($(1)_DLL_OBJS) $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$(CROSS_$(1))gcc $(CSTD) $(CFLAGS) $(WARNINGS) -I$(GENINC) -Idlls/ole32mem -Itests -o $$@ bench/profile.c \
	    $$($(1)_DLL_OBJS) $(DLL_LIBS)
endef
$(foreach a,$(ARCHES),$(eval $(call BENCH_PROFILE_RULES,$(a))))

.PHONY: bench-profile
bench-profile: $(foreach a,$(ARCHES),$(BUILD)/$(a)/bench/profile.exe) $(BUILD)/wineprefix/.created
	@. tests/lib.sh; for a in $(ARCHES); do \
	    echo "=== bench-profile $$a ==="; \
	    if ! lib_arch_can_run $$a; then echo "bench-profile: $$LIB_ARCH_SKIP_REASON"; continue; fi; \
	    $(WINE_ENV) $$(lib_wine_for $$a) $(BUILD)/$$a/bench/profile.exe || exit 1; \
	done

# tests/lib.sh (which arch can run here) is bash.
bench bench-profile: SHELL := /bin/bash

.PHONY: bench
bench: all $(BENCH_EXES) $(BUILD)/wineprefix/.created
	@. tests/lib.sh; for a in $(ARCHES); do \
	    echo "=== bench $$a ==="; \
	    if ! lib_arch_can_run $$a; then echo "bench: $$LIB_ARCH_SKIP_REASON: no numbers for $$a"; continue; fi; \
	    $(WINE_ENV) BENCH_QUICK="$(BENCH_QUICK)" $$(lib_wine_for $$a) $(BUILD)/$$a/bench/bench.exe || exit 1; \
	done

# bench-diag: the diagnostics' cost per Alloc/Free pair (bench/diagcost.c), one process per row because the
# settings are read when ole32mem.dll loads: no diagnostics, a pass-through spy, `leaks` at depth 0, at the default
# depth and at 64, and `all`. The rows run BENCH_DIAG_RUNS times, interleaved, and each row keeps its fastest run
# (on a shared machine the other processes only ever add time); the ratio is to the row without diagnostics. Each
# run gives the processes an environment 40 bytes longer (BENCH_DIAG_LAYOUT, read by nobody): where the process
# parameters end moves the heap's first blocks, and Wine 8's i686 heap runs the same pairs up to 70% slower in some
# of those layouts (none: 56 to 98 ns), so the fastest run is also the fastest of as many layouts.
# Prints ns per pair; the README's performance section has one run's numbers.
BENCH_DIAG_RUNS ?= 5
define BENCH_DIAG_RULES
$(BUILD)/$(1)/benchdiag/diagcost.exe: bench/diagcost.c tests/passthrough_spy.h $(BUILD)/$(1)/libole32mem.dll.a | $(GEN_HEADER)
	@mkdir -p $$(@D)
	$$($(1)_CC) $(CSTD) -O2 $(WARNINGS) -I$(GENINC) -Itests -o $$@ $$< -L$(BUILD)/$(1) -lole32mem -luuid

$(BUILD)/$(1)/benchdiag/ole32mem.dll: $(BUILD)/$(1)/ole32mem.dll
	@mkdir -p $$(@D)
	cp $$< $$@
endef
$(foreach a,$(ARCHES),$(eval $(call BENCH_DIAG_RULES,$(a))))

# Each row NAME:ARGUMENT:SETTINGS, the settings separated by % (the shell reads the rows as words).
BENCH_DIAG_ROWS := none:: spy:spy: leaks-depth-0::OLE32MEM_DEBUG=leaks%OLE32MEM_STACK_DEPTH=0 \
                   leaks-depth-16::OLE32MEM_DEBUG=leaks leaks-depth-64::OLE32MEM_DEBUG=leaks%OLE32MEM_STACK_DEPTH=64 \
                   all-depth-16::OLE32MEM_DEBUG=all%OLE32MEM_LOG=NUL
.PHONY: bench-diag
bench-diag: SHELL := /bin/bash
bench-diag: $(foreach a,$(ARCHES),$(BUILD)/$(a)/benchdiag/diagcost.exe $(BUILD)/$(a)/benchdiag/ole32mem.dll) \
            $(BUILD)/wineprefix/.created
	@. tests/lib.sh; for a in $(ARCHES); do \
	    if ! lib_arch_can_run $$a; then echo "bench-diag: $$LIB_ARCH_SKIP_REASON: no numbers for $$a"; continue; fi; \
	    declare -A best=(); \
	    for run in $$(seq $(BENCH_DIAG_RUNS)); do \
	        layout=$$(printf '%*s' $$((run * 40)) '' | tr ' ' x); \
	        for row in $(BENCH_DIAG_ROWS); do \
	            IFS=: read -r name arg settings <<<"$$row"; \
	            ns=$$(cd $(BUILD)/$$a/benchdiag && env $(WINE_ENV) BENCH_DIAG_LAYOUT=$$layout $${settings//%/ } \
	                  $$(lib_wine_for $$a) ./diagcost.exe $$arg 2>/dev/null | tail -1); \
	            if [ -z "$${best[$$name]:-}" ] || awk -v n="$$ns" -v b="$${best[$$name]}" 'BEGIN { exit !(n < b) }'; \
	            then best[$$name]=$$ns; fi; \
	        done; \
	    done; \
	    for row in $(BENCH_DIAG_ROWS); do \
	        name=$${row%%:*}; \
	        awk -v a=$$a -v name=$$name -v ns="$${best[$$name]}" -v none="$${best[none]}" \
	            'BEGIN { printf "%s %-16s %10.1f ns per pair %6.1fx\n", a, name, ns, ns / none }'; \
	    done; \
	done
