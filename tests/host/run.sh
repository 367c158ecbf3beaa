#!/usr/bin/env bash
# Runs the parts of `make check-host` and adds up their checks. Each part prints its own counts; the total goes to
# $RESULT as "PASSED FAILED SKIPPED" (tests/summarize.sh's contract).
#
# Usage: run.sh RESULT KIND:NAME:PROGRAM[:ARG] ...
#   test:NAME:PROGRAM[:ARGS]    a test program (ARGS: its arguments, separated by commas) whose last line is
#                               "NAME (host): N passed, N failed, N skipped, N todo"
#                               (tests/harness.h); a crash or a sanitizer report (nonzero exit) without a failed
#                               check counts as one failure
#   replay:NAME:FUZZER:DIR      every input in DIR run once through the fuzzer binary: one check each
#   fuzz:NAME:FUZZER:SECONDS    a bounded fuzzing run (corpus $FUZZ_CORPUS, artifacts $FUZZ_ARTIFACTS): one check
# Exits 0 whenever the parts could run; nonzero only when a program is missing.
set -u
LIB_NAME=host
. "$(dirname "$0")/../lib.sh"
result=$1
shift
logdir=$(dirname "$result")/host-logs
mkdir -p "$logdir"

add() { # name passed failed skipped
    printf 'host %-16s %6d passed, %d failed, %d skipped\n' "$1:" "$2" "$3" "$4"
    lib_add "$2" "$3" "$4"
}

for part in "$@"; do
    IFS=: read -r kind name program arg <<<"$part"
    if [ ! -x "$program" ]; then
        echo "run.sh: $program was not built" >&2
        exit 2
    fi
    log=$logdir/$name.log
    case $kind in
    test)
        IFS=, read -r -a args <<<"$arg"
        "$program" "${args[@]}" >"$log" 2>&1
        rc=$?
        grep -E 'Test failed|ERROR|WARNING: ThreadSanitizer|runtime error|SUMMARY' "$log" | head -40
        if lib_parse_summary "$(lib_last_summary "$log")" && [ "$LIB_PROGRAM" = "$name" ]; then
            p=$LIB_P f=$LIB_F s=$LIB_S
        else
            echo "$name: printed no summary line; see $log"
            p=0 f=1 s=0
        fi
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "$name: exited with status $rc (crash or sanitizer report); see $log"
            f=1
        fi
        add "$name" "$p" "$f" "$s"
        ;;
    replay)
        p=0 f=0
        for input in "$arg"/*; do
            [ -f "$input" ] || continue
            if "$program" "$input" >"$log" 2>&1; then
                p=$((p + 1))
            else
                f=$((f + 1))
                echo "$name: regression input $input fails again:"
                grep -E 'invariant violated|ERROR|runtime error' "$log" | head -5
            fi
        done
        add "$name" "$p" "$f" 0
        ;;
    fuzz)
        mkdir -p "$FUZZ_CORPUS" "$FUZZ_ARTIFACTS"
        "$program" -max_total_time="$arg" -max_len=1024 -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$FUZZ_ARTIFACTS/" "$FUZZ_CORPUS" fuzz/regressions >"$log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        if [ "$rc" -eq 0 ]; then
            echo "$name: ${execs:-?} executions in ${arg}s, no finding"
            add "$name" 1 0 0
        else
            echo "$name: finding after ${execs:-?} executions (exit $rc); input in $FUZZ_ARTIFACTS, log $log:"
            grep -E 'invariant violated|ERROR|runtime error|Test unit written' "$log" | head -5
            add "$name" 0 1 0
        fi
        ;;
    *)
        echo "run.sh: unknown part kind '$kind'" >&2
        exit 2
        ;;
    esac
done
lib_total
lib_write_result "$result"
