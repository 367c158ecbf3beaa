#!/usr/bin/env bash
# Runs the conformance tests under Wine: for each arch and each test, NAME.exe (against ole32mem), NAME.exe again
# with the diagnostics on (target "debug": same counts, no diagnostic report; run_debug, DEBUG_OPTIONS), then NAME_builtin.exe
# (against Wine's builtin ole32, the differential reference), from $BUILD/<arch>/tests/.
#
# Each program ends with "PROGRAM (target): N passed, N failed, N skipped, N todo" (tests/harness.h). A program that
# crashes, times out, or does not end with that line counts as one failure. "todo" checks are known Wine-vs-Windows
# differences that behaved as expected: they count as passed, and are shown separately per arch and target.
#
# Environment (set by `make check-wine`; defaults in brackets):
#   ARCHES [x86_64 i686]  TESTS [abi allocator spy cross stress]  BUILD [build]
#   WINE64 [/usr/lib/wine/wine64]  WINE32 [/usr/lib/wine/wine]  WINESERVER [/usr/lib/wine/wineserver]
#   WINEPREFIX [$BUILD/wineprefix]  RESULT [file that receives "PASSED FAILED SKIPPED"; none if empty]
#   TEST_TIMEOUT [300]  seconds per program
#
# Exits 0 whenever it could run the tests, failures or not (`make check`'s summary decides); nonzero only when it
# could not run at all (no test programs, or no Wine for any arch).
set -u
LIB_NAME=run-tests
. "$(dirname "$0")/lib.sh"

ARCHES=${ARCHES:-x86_64 i686}
TESTS=${TESTS:-abi allocator spy cross stress}
BUILD=${BUILD:-build}
RESULT=${RESULT:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
WINEPREFIX=${WINEPREFIX:-$PWD/$BUILD/wineprefix}
export WINEPREFIX
lib_wine_env

total_todo=0
programs_run=0 timed_out=0
declare -A cell_passed cell_failed cell_skipped cell_todo
declare -a problems=()

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# add ARCH TARGET PASSED FAILED SKIPPED TODO
add() {
    local key="$1/$2"
    cell_passed[$key]=$(( ${cell_passed[$key]:-0} + $3 ))
    cell_failed[$key]=$(( ${cell_failed[$key]:-0} + $4 ))
    cell_skipped[$key]=$(( ${cell_skipped[$key]:-0} + $5 ))
    cell_todo[$key]=$(( ${cell_todo[$key]:-0} + $6 ))
    lib_add "$3" "$4" "$5"
    total_todo=$((total_todo + $6))
}

# fail ARCH TARGET PROGRAM MESSAGE: the program counts as one failure.
fail() {
    echo "run-tests: $1 $3: $4" >&2
    problems+=("$1 $3: $4")
    add "$1" "$2" 0 1 0 0
}

# skip ARCH TARGET PROGRAM REASON: the program counts as one skipped check.
skip() {
    echo "run-tests: $1 $3: skipped: $4"
    add "$1" "$2" 0 0 1 0
}

# run_program ARCH TARGET WINE EXE NAME
run_program() {
    local arch=$1 target=$2 wine=$3 exe=$4 name=$5 program
    local out="$tmp/out" err="$tmp/err" rc last

    program=$(basename "$exe")
    echo "=== $arch $program ==="
    if [ ! -f "$exe" ]; then
        fail "$arch" "$target" "$program" "not built ($exe missing)"
        return
    fi
    programs_run=$((programs_run + 1))
    lib_timeout "$TEST_TIMEOUT" "$wine" "$exe" >"$out" 2>"$err" </dev/null
    rc=$?
    cat "$out"
    if [ -s "$err" ]; then
        sed 's/^/stderr: /' "$err"
    fi
    if lib_timed_out "$rc"; then
        timed_out=1
        fail "$arch" "$target" "$program" "timed out after ${TEST_TIMEOUT}s"
        return
    fi
    last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 | tr -d '\r')
    if ! lib_parse_summary "$last"; then
        fail "$arch" "$target" "$program" "crashed or printed no summary (exit code $rc)"
        return
    fi
    if [ "$LIB_PROGRAM" != "$name" ] || [ "$LIB_TARGET" != "$target" ]; then
        fail "$arch" "$target" "$program" "summary is for '$LIB_PROGRAM ($LIB_TARGET)'"
        return
    fi
    add "$arch" "$target" "$((LIB_P + LIB_T))" "$LIB_F" "$LIB_S" "$LIB_T"
    plain_counts="$LIB_P $LIB_F $LIB_S $LIB_T"
    if [ "$LIB_F" -gt 0 ]; then
        problems+=("$arch $program: $LIB_F failed")
    fi
    # A program that reports no failure must also exit cleanly (a crash after the summary is still a crash).
    if [ "$LIB_F" -eq 0 ] && [ "$rc" -ne 0 ]; then
        fail "$arch" "$target" "$program" "exit code $rc after reporting no failures"
    fi
}

# run_debug ARCH WINE EXE NAME: the no-interference check (issue 10). NAME.exe again with the diagnostics on, its
# reports in a log: it must give the same counts as the plain run just before it (plain_counts), and its log may hold
# no report of a problem (check, guard, a leak that the report asserts). Counted under the target "debug": its program's checks, plus one
# check for the equal counts and one for the quiet log.
# DEBUG_OPTIONS: every option but `guard`, whose 15 bytes behind each block are visible by design to anyone who
# asks the heap itself (HeapSize, the system ole32's GetSize: docs/diagnostics.md, Limits), which the conformance
# tests do on purpose.
DEBUG_OPTIONS=${DEBUG_OPTIONS:-trace,leaks,check,fill,stats}
plain_counts=
run_debug() {
    local arch=$1 wine=$2 exe=$3 name=$4 program out="$tmp/debug-out" log="$tmp/debug.log" rc last bad
    program="$(basename "$exe") (OLE32MEM_DEBUG=$DEBUG_OPTIONS)"
    echo "=== $arch $program ==="
    [ -f "$exe" ] || return 0
    rm -f "$log"
    OLE32MEM_DEBUG=$DEBUG_OPTIONS OLE32MEM_LOG="Z:$log" lib_timeout "$TEST_TIMEOUT" "$wine" "$exe" >"$out" 2>"$tmp/debug-err" </dev/null
    rc=$?
    if lib_timed_out "$rc"; then
        timed_out=1
        fail "$arch" debug "$program" "timed out after ${TEST_TIMEOUT}s"
        return
    fi
    last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 | tr -d '\r')
    if ! lib_parse_summary "$last"; then
        fail "$arch" debug "$program" "crashed or printed no summary (exit code $rc)"
        return
    fi
    add "$arch" debug "$((LIB_P + LIB_T))" "$LIB_F" "$LIB_S" "$LIB_T"
    grep -F ': Test failed: ' "$out" | sed "s/^/run-tests: $arch $program: /"
    if [ "$LIB_P $LIB_F $LIB_S $LIB_T" = "$plain_counts" ]; then
        add "$arch" debug 1 0 0 0
    else
        fail "$arch" debug "$program" "counts $LIB_P $LIB_F $LIB_S $LIB_T, without diagnostics $plain_counts"
    fi
    # A leak is asserted unless the report flags it as unverified (a block freed by the system ole32 whose address
    # was reused: without `guard` it cannot be told from ours; docs/diagnostics.md).
    bad=$(tr -d '\r' <"$log" 2>/dev/null | awk '
        /^ole32mem: (check|guard):/ { print; next }
        /^ole32mem: leaks: [0-9]+ blocks/ { leaked += $3; header = $0 }
        /^ole32mem: leaks-note: [0-9]+ of these blocks are unverified/ { unverified += $3 }
        END { if (leaked > unverified) print header " (" leaked - unverified " not flagged unverified)" }' | head -n 3)
    if [ -z "$bad" ]; then
        add "$arch" debug 1 0 0 0
    else
        fail "$arch" debug "$program" "diagnostics reported: $(tr '\n' ' ' <<<"$bad")"
    fi
}

if [ -z "$ARCHES" ] || [ -z "$TESTS" ]; then
    echo "run-tests: nothing to run (ARCHES='$ARCHES', TESTS='$TESTS')" >&2
    exit 2
fi

usable_arches=0
for arch in $ARCHES; do
    if ! wine=$(lib_wine_for "$arch"); then
        echo "run-tests: unknown arch '$arch'" >&2
        exit 2
    fi
    if ! lib_arch_can_run "$arch"; then
        for name in $TESTS; do
            skip "$arch" ole32mem "$name.exe" "$LIB_ARCH_SKIP_REASON"
            skip "$arch" builtin "${name}_builtin.exe" "$LIB_ARCH_SKIP_REASON"
            skip "$arch" debug "$name.exe (OLE32MEM_DEBUG=$DEBUG_OPTIONS)" "$LIB_ARCH_SKIP_REASON"
        done
        continue
    fi
    usable_arches=$((usable_arches + 1))
    for name in $TESTS; do
        plain_counts=
        run_program "$arch" ole32mem "$wine" "$BUILD/$arch/tests/$name.exe" "$name"
        [ -n "$plain_counts" ] && run_debug "$arch" "$wine" "$BUILD/$arch/tests/$name.exe" "$name"
        run_program "$arch" builtin "$wine" "$BUILD/$arch/tests/${name}_builtin.exe" "$name"
    done
done

# Stop this prefix's wineserver (and anything a timed-out program left behind); nobody else's.
if [ "$programs_run" -gt 0 ]; then
    lib_stop_wineserver "$timed_out"
fi

if [ "$usable_arches" -eq 0 ] || [ "$programs_run" -eq 0 ]; then
    echo "run-tests: could not run any test program" >&2
    exit 2
fi

echo
echo "Conformance tests (todo = known Wine differences that behaved as expected, counted as passed):"
printf '  %-8s %-9s %7s %7s %8s %6s\n' arch target passed failed skipped todo
for arch in $ARCHES; do
    for target in ole32mem builtin debug; do
        key="$arch/$target"
        printf '  %-8s %-9s %7d %7d %8d %6d\n' "$arch" "$target" "${cell_passed[$key]:-0}" \
            "${cell_failed[$key]:-0}" "${cell_skipped[$key]:-0}" "${cell_todo[$key]:-0}"
    done
done
if [ ${#problems[@]} -gt 0 ]; then
    echo "Problems:"
    printf '  %s\n' "${problems[@]}"
fi
lib_write_result "$RESULT"
echo "$LIB_PASSED passed, $LIB_FAILED failed, $LIB_SKIPPED skipped"
exit 0
