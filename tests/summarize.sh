#!/usr/bin/env bash
# Adds up the result files that each test suite of `make check` leaves in $BUILD/results/ (one line each:
# "PASSED FAILED SKIPPED") and prints the closing line "N passed, N failed, N skipped".
# Exits 1 when a test failed or an expected suite left no result (a suite that did not run is not a pass).
# Usage: summarize.sh RESULTS_DIR SUITE...   With TOTAL_FILE set, the totals are also written there as
# "PASSED FAILED SKIPPED" (a missing suite counted as one failure): .ci/run adds up make check and make check-wine10.
set -u
dir=$1
shift
passed=0 failed=0 skipped=0
for suite in "$@"; do
    if [ ! -r "$dir/$suite" ]; then
        echo "summarize: suite '$suite' left no result in $dir" >&2
        failed=$((failed + 1))
        continue
    fi
    read -r p f s <"$dir/$suite"
    printf '%-14s %6d passed, %d failed, %d skipped\n' "$suite:" "$p" "$f" "$s"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "$passed passed, $failed failed, $skipped skipped"
if [ -n "${TOTAL_FILE:-}" ]; then echo "$passed $failed $skipped" >"$TOTAL_FILE"; fi
[ "$failed" -eq 0 ]
