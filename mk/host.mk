# mk/host.mk: the allocator core built for the Linux host with clang, where sanitizers and libFuzzer run (Wine runs
# none of them). The same sources as the DLL (CORE_SOURCES, listed once in the Makefile) over the Linux port in
# host/ (HOST_PORT_SOURCES): no copies. Every host build has the core's assertions on (OLE32MEM_ASSERT).
#
#   make check-host   ASan+UBSan unit tests (tests/host/test_core.c, test_blocktable.c, test_unwind.c, and
#                     test_prologue.c: the combase hook's prologue check on every supported Wine's bytes and the
#                     installed Wine's combase.dll, WINE_DLLDIR_* of mk/prefix.mk), the TSan stress
#                     (tests/host/stress.c), the fuzz regressions replayed (fuzz/regressions/; the unwinder's,
#                     fuzz/regressions-unwind/, under MSan) and a short fuzz run (CHECK_FUZZ_SECONDS); suite "host"
#                     of `make check`
#   make fuzz         fuzz for FUZZ_SECONDS (corpus in $(BUILD)/host/fuzz-corpus, findings in
#                     $(BUILD)/host/fuzz-artifacts; copy real ones to fuzz/regressions/)
#   make fuzz-unwind  fuzz the DWARF unwinder (fuzz/fuzz_unwind.c) for FUZZ_SECONDS (corpus in
#                     $(BUILD)/host/fuzz-unwind-corpus, seeded with the i686 fixture's .eh_frame)
#
# Output of the parts: $(BUILD)/results/host-logs/. FUZZ_TRACE=1 build/host/fuzz/fuzz_core INPUT shows the steps of
# one input.

HOST_CC            ?= clang
HOST_CFLAGS        ?= -O1 -g -fno-omit-frame-pointer
FUZZ_SECONDS       ?= 300
CHECK_FUZZ_SECONDS ?= 25

HOST_DIR      := $(BUILD)/host
HOST_PORT_SOURCES := host/platform_posix.c host/platform_report_posix.c host/platform_stacks_posix.c
HOST_CORE     := $(addprefix dlls/ole32mem/,$(CORE_SOURCES)) $(HOST_PORT_SOURCES)
HOST_HEADERS  := $(wildcard dlls/ole32mem/*.h dlls/ole32mem/diag/*.h host/*.h tests/host/*.h) tests/harness.h tests/hook_log.h
HOST_CPPFLAGS := -Idlls/ole32mem -Idlls/ole32mem/diag -Ihost -Itests/host -DOLE32MEM_ASSERT
HOST_LIBS     := -ldl -lpthread
HOST_ASAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
HOST_TSAN     := -fsanitize=thread
HOST_FUZZ     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
# The core's fuzzer without comparison tracing: it fed libFuzzer's table of compared values (for magic numbers in
# parsers), while these inputs are small numbers (ops, slots, sizes up to 600) that mutation reaches anyway, and it
# took a third of every execution. ASan, UBSan and the model's checks are unchanged.
HOST_FUZZ_CORE := $(HOST_FUZZ) -fno-sanitize-coverage=trace-cmp
# The unwinder's regressions replay under MemorySanitizer: its finding so far was a read of an uninitialized CIE.
HOST_MSAN_FUZZ := -fsanitize=fuzzer,memory
HOST_COMPILE   = $(HOST_CC) $(CSTD) $(HOST_CFLAGS) $(WARNINGS) $(HOST_CPPFLAGS)
HOST_PROGRAMS := $(HOST_DIR)/asan/test_core $(HOST_DIR)/asan/test_blocktable $(HOST_DIR)/asan/test_unwind \
                 $(HOST_DIR)/asan/test_prologue $(HOST_DIR)/tsan/stress $(HOST_DIR)/fuzz/fuzz_core \
                 $(HOST_DIR)/msan/fuzz_unwind
# The unwinder's fixtures (tests/host/test_unwind.c): PE files built now by the cross tools, and the cross objdump's
# table of their CFI as the oracle.
UNWIND_FIXTURES := $(HOST_DIR)/unwind/fixture_i686.exe $(HOST_DIR)/unwind/fixture_x86_64.exe
# test_unwind's arguments for tests/host/run.sh: each fixture and its table, separated by commas.
UNWIND_TEST_ARGS = $(subst $(eval) ,$(comma),$(strip $(foreach f,$(UNWIND_FIXTURES),$(f) $(f:.exe=.frames))))

CHECK_SUITES += host
.PHONY: check-host fuzz fuzz-unwind host-programs

$(HOST_DIR)/asan/test_core: tests/host/test_core.c tests/host/test_spy.c $(HOST_CORE) $(HOST_HEADERS) | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) $(HOST_ASAN) -o $@ $(filter %.c,$^) $(HOST_LIBS)

$(HOST_DIR)/asan/test_blocktable: tests/host/test_blocktable.c dlls/ole32mem/blocktable.c host/platform_posix.c \
                                  $(HOST_HEADERS) | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) $(HOST_ASAN) -o $@ $(filter %.c,$^) $(HOST_LIBS)

# The proxy's prologue check alone: plain C over bytes, no allocator.
$(HOST_DIR)/asan/test_prologue: tests/host/test_prologue.c dlls/ole32/prologue.c dlls/ole32/prologue.h \
                                tests/host/combase_prologues.h $(HOST_HEADERS) | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) -Idlls/ole32 $(HOST_ASAN) -o $@ $(filter %.c,$^) $(HOST_LIBS)

$(HOST_DIR)/asan/test_unwind: tests/host/test_unwind.c $(addprefix dlls/ole32mem/,$(UNWIND_SOURCES)) $(HOST_HEADERS) \
                             | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) $(HOST_ASAN) -o $@ $(filter %.c,$^)

# -O2: no frame pointers, as users build; the x86_64 fixture is assembly (MinGW's x86_64 compilers emit .pdata).
$(HOST_DIR)/unwind/fixture_i686.exe: tests/host/unwind_fixture.c | deps
	@mkdir -p $(@D)
	$(CROSS_i686)gcc $(CSTD) -O2 $(WARNINGS) -o $@ $<

$(HOST_DIR)/unwind/fixture_x86_64.exe: tests/host/unwind_fixture_x86_64.S | deps
	@mkdir -p $(@D)
	$(CROSS_x86_64)gcc -nostdlib -Wl,--enable-long-section-names -o $@ $<

$(HOST_DIR)/unwind/fixture_%.frames: $(HOST_DIR)/unwind/fixture_%.exe
	$(CROSS_$*)objdump --dwarf=frames-interp $< > $@

$(HOST_DIR)/tsan/stress: tests/host/stress.c tests/host/test_spy.c $(HOST_CORE) $(HOST_HEADERS) | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) $(HOST_TSAN) -o $@ $(filter %.c,$^) $(HOST_LIBS)

$(HOST_DIR)/fuzz/fuzz_core: fuzz/fuzz_core.c tests/host/test_spy.c $(HOST_CORE) $(HOST_HEADERS) | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) $(HOST_FUZZ_CORE) -o $@ $(filter %.c,$^) $(HOST_LIBS)

host-programs: $(HOST_PROGRAMS)

check-host: $(HOST_PROGRAMS) $(UNWIND_FIXTURES) $(UNWIND_FIXTURES:.exe=.frames)
	@mkdir -p $(BUILD)/results
	@FUZZ_CORPUS=$(HOST_DIR)/fuzz-corpus FUZZ_ARTIFACTS=$(HOST_DIR)/fuzz-artifacts \
	    bash tests/host/run.sh $(BUILD)/results/host \
	    test:host_core:$(HOST_DIR)/asan/test_core \
	    test:host_blocktable:$(HOST_DIR)/asan/test_blocktable \
	    "test:host_prologue:$(HOST_DIR)/asan/test_prologue:$(WINE_DLLDIR_x86_64),$(WINE_DLLDIR_i686)" \
	    test:host_unwind:$(HOST_DIR)/asan/test_unwind:$(UNWIND_TEST_ARGS) \
	    test:host_stress:$(HOST_DIR)/tsan/stress \
	    replay:fuzz_regressions:$(HOST_DIR)/fuzz/fuzz_core:fuzz/regressions \
	    replay:unwind_regressions:$(HOST_DIR)/msan/fuzz_unwind:fuzz/regressions-unwind \
	    fuzz:fuzz_short:$(HOST_DIR)/fuzz/fuzz_core:$(CHECK_FUZZ_SECONDS)

fuzz: $(HOST_DIR)/fuzz/fuzz_core
	@mkdir -p $(HOST_DIR)/fuzz-corpus $(HOST_DIR)/fuzz-artifacts
	$< -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(HOST_DIR)/fuzz-artifacts/ $(HOST_DIR)/fuzz-corpus fuzz/regressions

$(HOST_DIR)/fuzz/fuzz_unwind: fuzz/fuzz_unwind.c $(addprefix dlls/ole32mem/,$(UNWIND_SOURCES)) $(HOST_HEADERS) | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) $(HOST_FUZZ) -o $@ $(filter %.c,$^)

$(HOST_DIR)/msan/fuzz_unwind: fuzz/fuzz_unwind.c $(addprefix dlls/ole32mem/,$(UNWIND_SOURCES)) $(HOST_HEADERS) | deps
	@mkdir -p $(@D)
	$(HOST_COMPILE) $(HOST_MSAN_FUZZ) -o $@ $(filter %.c,$^)

# The seed: a header (pointer size 4, a code address inside the fixture's .text) and the fixture's .eh_frame.
fuzz-unwind: $(HOST_DIR)/fuzz/fuzz_unwind $(HOST_DIR)/unwind/fixture_i686.exe
	@mkdir -p $(HOST_DIR)/fuzz-unwind-corpus $(HOST_DIR)/fuzz-unwind-artifacts
	{ printf '\000\020\020\100\000\000\000\000\000'; \
	  $(CROSS_i686)objcopy -O binary --only-section=.eh_frame $(HOST_DIR)/unwind/fixture_i686.exe /dev/stdout; } \
	    > $(HOST_DIR)/fuzz-unwind-corpus/fixture_i686
	$< -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(HOST_DIR)/fuzz-unwind-artifacts/ $(HOST_DIR)/fuzz-unwind-corpus
