# shellcheck shell=bash
# tests/lib.sh: the one shell library of the test runners (tests/run-tests.sh, tests/host/run.sh, tests/diag/run.sh,
# tests/install/run.sh). Source it; it defines functions and the counters below and runs nothing.
#
# API (every name starts with lib_ or LIB_):
#   Counting                  LIB_PASSED LIB_FAILED LIB_SKIPPED: the suite's totals, 0 when sourced.
#     lib_pass [N]            N checks passed (default 1).
#     lib_fail MESSAGE        one check failed; prints "<LIB_NAME>: Test failed: MESSAGE" on stdout.
#     lib_skip MESSAGE        one check skipped; prints "<LIB_NAME>: skipped: MESSAGE".
#     lib_add P F S           add a part's counts (e.g. a test program's summary).
#     lib_check DESC CMD...   one check: passed when CMD succeeds, else lib_fail DESC.
#   Results (make check's contract, see tests/summarize.sh)
#     lib_write_result FILE   writes "PASSED FAILED SKIPPED" to FILE (directory created); nothing when FILE is empty.
#     lib_total               prints "<LIB_NAME>: N passed, N failed, N skipped".
#   Test programs (tests/harness.h's last line "PROGRAM (TARGET): N passed, N failed, N skipped, N todo")
#     lib_parse_summary LINE  sets LIB_PROGRAM LIB_TARGET LIB_P LIB_F LIB_S LIB_T; returns 1 when LINE is no summary.
#     lib_last_summary FILE   the last summary line of a program's output (CRs removed), or nothing.
#   Running
#     lib_timeout SECONDS CMD...  runs CMD, killed after SECONDS (+10 s for a hung process); returns its status.
#     lib_timed_out STATUS    true when STATUS is what lib_timeout returns for a command it stopped.
#   Wine
#     lib_wine_for ARCH       prints the wine for ARCH ($WINE64 for x86_64, $WINE32 for i686); returns 1 otherwise.
#     lib_arch_can_run ARCH   0 when programs of ARCH can run under Wine here; else 1, and LIB_ARCH_SKIP_REASON says
#                             why. wine32 is itself a 32-bit Linux program: a kernel without IA32 emulation (seen on
#                             some virtual machines: "Exec format error") builds i686 but cannot run it. What a
#                             runner cannot run for that reason is counted as SKIPPED with the reason, never passed
#                             and never failed. Cached per process.
#     lib_wine_env            exports WINEDEBUG=-all and WINEDLLOVERRIDES="mscoree,mshtml=" (WINEPREFIX is the
#                             caller's: always a private prefix inside the build directory).
#     lib_stop_wineserver [TIMED_OUT]  waits for the prefix's wineserver to exit (kills it when TIMED_OUT is 1 or it
#                             does not exit within 60 s). Only $WINEPREFIX's server, never anyone else's.
#
# Set LIB_NAME to the suite's name before printing (default: the script's name). Defaults for the wine variables:
# WINE64=/usr/lib/wine/wine64, WINE32=/usr/lib/wine/wine, WINESERVER=/usr/lib/wine/wineserver.
#
# Must never: exit (the caller decides), print anything when sourced, or touch a prefix other than $WINEPREFIX.

: "${WINE64:=/usr/lib/wine/wine64}" "${WINE32:=/usr/lib/wine/wine}" "${WINESERVER:=/usr/lib/wine/wineserver}"
LIB_NAME=${LIB_NAME:-$(basename "$0" .sh)}
LIB_PASSED=0 LIB_FAILED=0 LIB_SKIPPED=0
LIB_SUMMARY_RE='^([A-Za-z0-9_.-]+) \(([a-z0-9]+)\): ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped, ([0-9]+) todo$'

lib_pass() { LIB_PASSED=$((LIB_PASSED + ${1:-1})); }

lib_fail()
{
    LIB_FAILED=$((LIB_FAILED + 1))
    echo "$LIB_NAME: Test failed: $*"
}

lib_skip()
{
    LIB_SKIPPED=$((LIB_SKIPPED + 1))
    echo "$LIB_NAME: skipped: $*"
}

lib_add()
{
    LIB_PASSED=$((LIB_PASSED + $1)) LIB_FAILED=$((LIB_FAILED + $2)) LIB_SKIPPED=$((LIB_SKIPPED + $3))
}

lib_check()
{
    local what=$1
    shift
    if "$@"; then lib_pass; else lib_fail "$what"; fi
}

lib_write_result()
{
    [ -n "${1:-}" ] || return 0
    mkdir -p "$(dirname "$1")"
    echo "$LIB_PASSED $LIB_FAILED $LIB_SKIPPED" >"$1"
}

lib_total() { echo "$LIB_NAME: $LIB_PASSED passed, $LIB_FAILED failed, $LIB_SKIPPED skipped"; }

lib_parse_summary()
{
    [[ "$1" =~ $LIB_SUMMARY_RE ]] || return 1
    LIB_PROGRAM=${BASH_REMATCH[1]} LIB_TARGET=${BASH_REMATCH[2]}
    LIB_P=${BASH_REMATCH[3]} LIB_F=${BASH_REMATCH[4]} LIB_S=${BASH_REMATCH[5]} LIB_T=${BASH_REMATCH[6]}
}

lib_last_summary() { tr -d '\r' <"$1" | grep -E "${LIB_SUMMARY_RE}" | tail -n 1; }

# lib_add_summary TEXT LINE_RE: the last line of a program's output TEXT that matches LINE_RE (its summary, "... N
# passed, N failed, N skipped ...") becomes LIB_LINE and its counts are added to the totals. Answers 1, adding
# nothing, when no line matches (the program crashed).
lib_add_summary()
{
    LIB_LINE=$(tr -d '\r' <<<"$1" | grep -E "$2" | tail -n 1)
    [[ "$LIB_LINE" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]] || return 1
    lib_add "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
}

lib_timeout()
{
    local seconds=$1
    shift
    timeout --kill-after=10 "$seconds" "$@"
}

lib_timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; }

lib_wine_for()
{
    case $1 in
    x86_64) echo "$WINE64" ;;
    i686) echo "$WINE32" ;;
    *) return 1 ;;
    esac
}

declare -A LIB_ARCH_RUNS=()
LIB_ARCH_SKIP_REASON=

lib_arch_can_run()
{
    local arch=$1 wine out
    if [ -z "${LIB_ARCH_RUNS[$arch]:-}" ]; then
        if ! wine=$(lib_wine_for "$arch"); then
            LIB_ARCH_RUNS[$arch]="unknown arch"
        elif [ ! -x "$wine" ]; then
            LIB_ARCH_RUNS[$arch]="$wine is not installed"
        elif out=$("$wine" --version 2>&1); then
            LIB_ARCH_RUNS[$arch]=yes
        elif grep -q 'Exec format error' <<<"$out"; then
            LIB_ARCH_RUNS[$arch]="this kernel cannot execute 32-bit programs ($wine: Exec format error)"
        else
            LIB_ARCH_RUNS[$arch]="$wine --version failed: $(head -n 1 <<<"$out")"
        fi
    fi
    [ "${LIB_ARCH_RUNS[$arch]}" = yes ] && return 0
    LIB_ARCH_SKIP_REASON="$arch not run: ${LIB_ARCH_RUNS[$arch]}"
    return 1
}

lib_wine_env() { export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="; }

lib_stop_wineserver()
{
    [ -x "$WINESERVER" ] || return 0
    if [ "${1:-0}" = 1 ] || ! timeout 60 "$WINESERVER" -w; then
        "$WINESERVER" -k 2>/dev/null
    fi
    return 0
}
