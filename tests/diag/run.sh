#!/usr/bin/env bash
# The diagnostics suite of `make check` (mk/diag.mk): runs tests/diag/diag.exe (one mode per run) and diagdyn.exe
# under wine on every arch with the right OLE32MEM_* settings and checks what ole32mem reported (stderr or the
# OLE32MEM_LOG file) against what the program says it must have reported (its RANGE/EXPECT/COUNT lines: see
# diag.c), that the program survived (exit 0, "SURVIVED"), and adds the program's own checks. diagregress.exe,
# diaghook.exe and stacks.exe check their own children in C: their summary lines are their results.
#
# Each report line a program expects must appear exactly the expected number of times, name the expected module
# and an offset inside the function that made the call: [function start, next symbol) by the cross nm when NM_<arch>
# is given, else [start, start + 0x200) as the program prints it.
#
# Environment: ARCHES BUILD WINE64 WINE32 WINESERVER RESULT, optional NM_x86_64 NM_i686. Writes "PASSED FAILED
# SKIPPED" to $RESULT; exits 0 when it could run (failures are counted, not fatal), 1 when it could not.
set -u
LIB_NAME=run.sh
. "$(dirname "$0")/../lib.sh"

: "${ARCHES:=x86_64 i686}" "${BUILD:=build}" "${RESULT:=$BUILD/results/diag}"

arch= label=

pass() { lib_pass; }
fail() { lib_fail "$arch $label: $*"; }
# check DESCRIPTION COMMAND...: one check, passed when the command succeeds.
check() { lib_check "$arch $label: $1" "${@:2}"; }

# --- where each function's code is: RANGE lines, tightened with the symbol table ---------------------------------

declare -A range_module range_lo range_hi

# symbol_extent FILE NAME: prints the distance from NAME to the next symbol with a higher address, or nothing.
symbol_extent()
{
    local nm_var="NM_$arch" file=$1 name=$2
    local nm=${!nm_var:-}
    [ -n "$nm" ] && command -v "$nm" >/dev/null || return 0
    local start next
    read -r start next < <("$nm" -n "$file" 2>/dev/null | awk -v name="$name" '
        found && $1 != start { print start, $1; exit }
        !found && NF == 3 && $2 ~ /^[tT]$/ && ($3 == name || $3 == "_" name || $3 ~ ("^_?" name "@[0-9]+$")) {
            found = 1; start = $1 }')
    [ -n "${next:-}" ] && echo $((16#$next - 16#$start))
}

read_ranges()
{
    local out=$1 dir=$2 fn module lo hi extent
    range_module=() range_lo=() range_hi=()
    while IFS='|' read -r _ fn module lo hi; do
        lo=$((16#$lo)) hi=$((16#$hi))
        extent=$(symbol_extent "$dir/$module" "$fn")
        if [ -n "$extent" ] && [ "$extent" -gt 0 ] && [ $((lo + extent)) -lt "$hi" ]; then
            hi=$((lo + extent))
        fi
        range_module[$fn]=$module range_lo[$fn]=$lo range_hi[$fn]=$hi
    done < <(grep '^RANGE|' "$out" | tr -d '\r')
}

# --- the program's expectations against the report ----------------------------------------------------------------

# matches_site LINE PREFIX FN SUFFIX: LINE is PREFIX module+0xOFF SUFFIX with the module and offset of FN.
matches_site()
{
    local line=$1 prefix=$2 fn=$3 suffix=$4 middle off
    [ "${line:0:${#prefix}}" = "$prefix" ] || return 1
    [ "${#line}" -ge $((${#prefix} + ${#suffix})) ] || return 1
    [ "${line:${#line}-${#suffix}}" = "$suffix" ] || return 1
    middle=${line:${#prefix}:$((${#line} - ${#prefix} - ${#suffix}))}
    [ "${middle%+0x*}" = "${range_module[$fn]}" ] || return 1
    off=${middle##*+0x}
    [[ $off =~ ^[0-9a-f]+$ ]] || return 1
    off=$((16#$off))
    [ "$off" -gt "${range_lo[$fn]}" ] && [ "$off" -lt "${range_hi[$fn]}" ]
}

verify_expectations()
{
    local out=$1 report=$2 how count prefix fn suffix line number matched first near last_seq=0 n what
    local -a lines=()
    mapfile -t lines < <(tr -d '\r' <"$report")
    while IFS='|' read -r _ how count prefix fn suffix; do
        if [ "$fn" = - ]; then what="\"$prefix$suffix\""; else what="\"${prefix}<$fn>$suffix\""; fi
        if [ "$fn" != - ] && [ -z "${range_module[$fn]:-}" ]; then
            fail "no RANGE for $fn"
            continue
        fi
        matched=0 first= near=
        for number in "${!lines[@]}"; do
            line=${lines[$number]}
            if [ "$fn" = - ]; then
                [ "$line" = "$prefix$suffix" ] || continue
            elif ! matches_site "$line" "$prefix" "$fn" "$suffix"; then
                # Same report with another caller, size or pointer: show it in the failure.
                [ "${line:0:${#prefix}}" = "$prefix" ] && near=$line
                [ "${line:${#line}-${#suffix}}" = "$suffix" ] && [ -n "$suffix" ] && near=$line
                continue
            fi
            matched=$((matched + 1))
            [ -n "$first" ] || first=$number
        done
        if [ "$matched" -ne "$count" ]; then
            fail "expected $count x $what, found $matched${near:+; nearest: \"$near\"}${fn:+ (range of $fn: ${range_module[$fn]:-?}+[$(printf '%#x' "${range_lo[$fn]:-0}"), $(printf '%#x' "${range_hi[$fn]:-0}")))}"
        elif [ "$how" = seq ] && [ -n "$first" ] && [ "$first" -lt "$last_seq" ]; then
            fail "$what out of order (line $((first + 1)), after line $((last_seq + 1)))"
        else
            pass
        fi
        [ "$how" = seq ] && [ -n "$first" ] && last_seq=$first
    done < <(grep '^EXPECT|' "$out" | tr -d '\r')
    while IFS='|' read -r _ count prefix; do
        n=0
        for line in "${lines[@]}"; do
            [ "${line:0:${#prefix}}" = "$prefix" ] && n=$((n + 1))
        done
        if [ "$n" -eq "$count" ]; then
            pass
        else
            fail "expected $count lines starting \"$prefix\", found $n:$(printf '\n    %s' "${lines[@]}" | grep -F -- "$prefix" | head -8)"
        fi
    done < <(grep '^COUNT|' "$out" | tr -d '\r')
}

# --- running a program --------------------------------------------------------------------------------------------

# run PROGRAM LABEL [ARG...] -- [VAR=VALUE...]: runs the program in its directory with a clean OLE32MEM_*
# environment plus the given settings; leaves $out and $err, checks that it survived and adds its own checks.
run()
{
    local program=$1 summary p f
    label=$2
    shift 2
    local -a args=() settings=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    settings=("$@")
    out=$outdir/$label.out err=$outdir/$label.err
    # These modes check the one-frame report: OLE32MEM_STACK_DEPTH=0 (tests/diag/stacks.c checks the stacks).
    (cd "$dir" && env -u OLE32MEM_DEBUG -u OLE32MEM_LOG -u OLE32MEM_LEAKS_MAX -u OLE32MEM_SUPPRESS \
        -u OLE32MEM_LEAKS_EXITCODE OLE32MEM_STACK_DEPTH=0 \
        WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" "${settings[@]}" \
        timeout 300 "$wine" "./$program" "${args[@]}") >"$out" 2>"$err"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q '^SURVIVED' "$out"; then
        pass
    else
        fail "exit code $rc (must survive and exit 0): $(grep -v '^\(RANGE\|EXPECT\|COUNT\|SPYLOG\)' "$out" | tail -3 | tr '\n' ' ') $(grep -m3 -i 'exception\|fault' "$err" | tr '\n' ' ')"
    fi
    grep -F ': Test failed: ' "$out" | sed "s/^/run.sh: $arch $label: /"
    if lib_parse_summary "$(lib_last_summary "$out")"; then
        lib_add "$LIB_P" "$LIB_F" 0
    fi
    read_ranges "$out" "$dir"
}

# The modes whose report goes to stderr: LABEL MODE SETTINGS...
stderr_cases()
{
    run diag.exe leak leak -- OLE32MEM_DEBUG=leaks && verify_expectations "$out" "$err"
    run diag.exe leak-all leak -- OLE32MEM_DEBUG=all && verify_expectations "$out" "$err"
    run diag.exe suppress-none suppress -- OLE32MEM_DEBUG=leaks && verify_expectations "$out" "$err"
    run diag.exe suppress-helper suppress -- OLE32MEM_DEBUG=leaks OLE32MEM_SUPPRESS=diaghelp.dll &&
        verify_expectations "$out" "$err"
    run diag.exe suppress-exe suppress -- OLE32MEM_DEBUG=leaks OLE32MEM_SUPPRESS=kernel32.dll,DIAG.EXE &&
        verify_expectations "$out" "$err"
    run diag.exe suppress-leak leak -- OLE32MEM_DEBUG=leaks OLE32MEM_SUPPRESS=diag.exe &&
        verify_expectations "$out" "$err"
    run diag.exe unloaded-module unloaded-module -- OLE32MEM_DEBUG=leaks && verify_expectations "$out" "$err"
    run diag.exe leaks-max-2 leaks-max -- OLE32MEM_DEBUG=leaks OLE32MEM_LEAKS_MAX=2 && verify_expectations "$out" "$err"
    run diag.exe leaks-max-default leaks-max -- OLE32MEM_DEBUG=leaks && verify_expectations "$out" "$err"
    run diag.exe double-free double-free -- OLE32MEM_DEBUG=check && verify_expectations "$out" "$err"
    run diag.exe double-free-all double-free -- OLE32MEM_DEBUG=all && verify_expectations "$out" "$err"
    run diag.exe double-free-reuse double-free-reuse -- OLE32MEM_DEBUG=check,leaks && verify_expectations "$out" "$err"
    run diag.exe double-free-reuse-all double-free-reuse -- OLE32MEM_DEBUG=all && verify_expectations "$out" "$err"
    run diag.exe foreign-free foreign-free -- OLE32MEM_DEBUG=check && verify_expectations "$out" "$err"
    run diag.exe foreign-free-all foreign-free -- OLE32MEM_DEBUG=all && verify_expectations "$out" "$err"
    run diag.exe freed-queries freed-queries -- OLE32MEM_DEBUG=check && verify_expectations "$out" "$err"
    run diag.exe overrun overrun -- OLE32MEM_DEBUG=guard && verify_expectations "$out" "$err"
    run diag.exe overrun-all overrun -- OLE32MEM_DEBUG=all && verify_expectations "$out" "$err"
    run diag.exe fill fill -- OLE32MEM_DEBUG=fill && verify_expectations "$out" "$err"
    run diag.exe trace trace -- OLE32MEM_DEBUG=trace && verify_expectations "$out" "$err"
    run diag.exe stats stats -- OLE32MEM_DEBUG=stats && verify_expectations "$out" "$err"
    run diag.exe clean clean -- OLE32MEM_DEBUG=check,guard,fill,leaks,stats && verify_expectations "$out" "$err"
    run diagdyn.exe unload -- OLE32MEM_DEBUG=leaks && verify_expectations "$out" "$err"
}

# Option parsing: unknown words are reported once and the known ones still work; ", " both separate.
option_cases()
{
    local quiet unknown="ole32mem: OLE32MEM_DEBUG: unknown option 'bogus' (known: trace, leaks, check, guard, fill, stats, all)"
    run diag.exe unknown-option leak -- OLE32MEM_DEBUG=leaks,bogus && verify_expectations "$out" "$err"
    check "the unknown option is reported once" [ "$(grep -cFx -- "$unknown" "$err")" -eq 1 ]
    run diag.exe separators stats -- "OLE32MEM_DEBUG=stats, trace" && verify_expectations "$out" "$err"
    check "\"stats, trace\": no unknown option" [ "$(grep -c 'unknown option' "$err")" -eq 0 ]
    check "\"stats, trace\": trace is on" [ "$(grep -c '^ole32mem: trace:' "$err")" -eq 10 ]
    run diag.exe off leak -- OLE32MEM_DEBUG= OLE32MEM_LOG="$logdir/off.log"
    quiet=0
    [ ! -s "$err" ] && [ ! -e "$logdir/off.log" ] && quiet=1
    check "diagnostics off: no report, no log file" [ "$quiet" = 1 ]
}

# OLE32MEM_LOG: %p is the process id, reports go there and not to stderr, and the file is appended to.
log_cases()
{
    local pid log in_log unknown="ole32mem: OLE32MEM_DEBUG: unknown option 'bogus' (known: trace, leaks, check, guard, fill, stats, all)"
    rm -f "$logdir"/*.log
    run diag.exe log-pid leak -- OLE32MEM_DEBUG=leaks,bogus "OLE32MEM_LOG=$logdir/diag-%p.log"
    pid=$(sed -n 's/^PID|\([0-9]*\).*/\1/p' "$out")
    log=$logdir/diag-$pid.log
    if [ -n "$pid" ] && [ -s "$log" ]; then
        pass
        verify_expectations "$out" "$log"
    else
        fail "no log file $log ($(ls "$logdir"))"
    fi
    check "OLE32MEM_LOG: nothing but the unknown-option warning on stderr" \
        [ "$(grep -c '^ole32mem:' "$err")" -eq "$(grep -cFx -- "$unknown" "$err")" ]
    in_log=0
    [ "$(grep -c 'unknown option' "$err")" -eq 0 ] && [ "$(grep -cFx -- "$unknown" "$log" 2>/dev/null)" = 1 ] && in_log=1
    check "OLE32MEM_LOG: the unknown-option warning goes to the log, not stderr (stderr has $(grep -c 'unknown option' "$err"), the log $(grep -c 'unknown option' "$log" 2>/dev/null))" \
        [ "$in_log" = 1 ]
    run diag.exe log-append-1 double-free -- OLE32MEM_DEBUG=check,leaks "OLE32MEM_LOG=$logdir/append.log" &&
        verify_expectations "$out" "$logdir/append.log"
    run diag.exe log-append-2 double-free -- OLE32MEM_DEBUG=check,leaks "OLE32MEM_LOG=$logdir/append.log"
    check "OLE32MEM_LOG is appended to: two runs, two leak reports" \
        [ "$(grep -c '^ole32mem: leaks: 0 blocks' "$logdir/append.log")" -eq 2 ]
    check "OLE32MEM_LOG is appended to: both runs' check reports" \
        [ "$(grep -c '^ole32mem: check: .*double free' "$logdir/append.log")" -eq 4 ]
}

# A program's own spy sees the same hooks, sizes and pointers with and without the diagnostics.
spy_cases()
{
    local header plain
    for header in 0 16; do
        run diag.exe "spy-$header-plain" spy "$header"
        plain=$out
        run diag.exe "spy-$header-all" spy "$header" -- OLE32MEM_DEBUG=all && verify_expectations "$out" "$err"
        if [ "$(grep -c '^SPYLOG|' "$plain")" -gt 10 ] &&
            diff <(grep '^SPYLOG|' "$plain") <(grep '^SPYLOG|' "$out") >"$outdir/spy-$header.diff"; then
            pass
        else
            fail "the spy (header $header) saw other hooks with OLE32MEM_DEBUG=all: $(head -6 "$outdir/spy-$header.diff" | tr '\n' ' ')"
        fi
    done
}

# The programs that run their own children and check them in C (tests/diag/child.h): issue 10's regressions
# (tests/diag/regress.c, tests/diag/hook.c) and the call stacks, suppressions, exit code, checkpoints and the
# loader-lock deadlock (tests/diag/stacks.c). Each one's summary line is its result.
program_cases()
{
    local program seconds log rc
    for program in diagregress.exe:600 diaghook.exe:300 stacks.exe:900; do
        seconds=${program#*:} program=${program%:*} label=${program%.exe}
        log=$outdir/$label.out
        (cd "$dir" && env -u OLE32MEM_DEBUG -u OLE32MEM_LOG -u OLE32MEM_SUPPRESS -u OLE32MEM_STACK_DEPTH \
            -u OLE32MEM_LEAKS_EXITCODE -u OLE32MEM_LEAKS_MAX WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" \
            timeout "$seconds" "$wine" "./$program") >"$log" 2>&1
        rc=$?
        grep -F ': Test failed: ' "$log" | head -20 | cut -c1-300 | sed "s/^/run.sh: $arch $label: /"
        if lib_parse_summary "$(lib_last_summary "$log")"; then
            lib_add "$LIB_P" "$LIB_F" 0
        else
            fail "$program gave no summary (exit code $rc): $(tail -3 "$log" | tr '\n' ' ' | cut -c1-300)"
        fi
    done
}

cases() { stderr_cases; option_cases; log_cases; spy_cases; program_cases; }

for arch in $ARCHES; do
    label=setup
    dir=$BUILD/$arch/diag
    outdir=$dir/out
    wine=$(lib_wine_for "$arch")
    if ! lib_arch_can_run "$arch"; then
        lib_skip "$LIB_ARCH_SKIP_REASON"
        continue
    fi
    if [ ! -e "$dir/diag.exe" ] || [ ! -e "$dir/diagdyn.exe" ] || [ ! -e "$dir/ole32mem.dll" ]; then
        echo "run.sh: $arch: $dir is not built" >&2
        exit 1
    fi
    rm -rf "$outdir"
    mkdir -p "$outdir/log"
    logdir=$(cd "$outdir/log" && pwd)
    before=$((LIB_PASSED + LIB_FAILED))
    failed_before=$LIB_FAILED
    cases
    echo "run.sh: $arch: $((LIB_PASSED + LIB_FAILED - before)) checks, $((LIB_FAILED - failed_before)) failed"
done

lib_write_result "$RESULT"
LIB_NAME=diag lib_total
exit 0
