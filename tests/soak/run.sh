#!/usr/bin/env bash
# The soak's runner (make soak, mk/soak.mk): runs $BUILD/<arch>/soak/soak.exe under wine with OLE32MEM_DEBUG=all for
# SOAK_SECONDS on every arch that can run here, then checks what ole32mem wrote besides the trace: exactly the
# check: lines the program provoked (its WILD_FREES line: count and pointer), no guard: line, no other check: line,
# a leak report of 0 blocks at exit. The trace (one line per call) is dropped on the way, so that a long soak does
# not fill the disk; the rest of the log is kept in $BUILD/<arch>/soak/soak.log.
#
# Environment: ARCHES BUILD WINE64 WINE32 WINESERVER SOAK_SECONDS. Exits nonzero when any check failed; an arch that
# cannot run here is skipped with the reason (never passed).
set -u
LIB_NAME=soak
. "$(dirname "$0")/../lib.sh"

: "${ARCHES:=x86_64 i686}" "${BUILD:=build}" "${SOAK_SECONDS:=60}"
export WINEPREFIX=${WINEPREFIX:-$PWD/$BUILD/wineprefix}
lib_wine_env

for arch in $ARCHES; do
    if ! lib_arch_can_run "$arch"; then
        lib_skip "$LIB_ARCH_SKIP_REASON (built: $BUILD/$arch/soak/soak.exe)"
        continue
    fi
    dir=$BUILD/$arch/soak
    out=$dir/soak.out log=$dir/soak.log
    wine=$(lib_wine_for "$arch")
    # ole32mem writes its lines to stderr (no OLE32MEM_LOG); the program's own output goes to stdout.
    SOAK_SECONDS=$SOAK_SECONDS OLE32MEM_DEBUG=all OLE32MEM_STACK_DEPTH=${OLE32MEM_STACK_DEPTH:-16} \
        lib_timeout $((SOAK_SECONDS + 300)) "$wine" "$dir/soak.exe" >"$out" \
        2> >(tr -d '\r' | grep -v '^ole32mem: trace: ' >"$log")
    status=$?
    lib_stop_wineserver "$(lib_timed_out $status && echo 1 || echo 0)"
    wait
    tr -d '\r' <"$out" | grep -v '^WILD_FREES'
    echo "$arch: exit status $status; diagnostics log (trace dropped): $log"
    lib_check "$arch: soak.exe exited 0" [ "$status" -eq 0 ]
    summary=$(lib_last_summary "$out")
    if lib_parse_summary "$summary"; then
        lib_check "$arch: soak.exe's checks ($summary)" [ "$LIB_F" -eq 0 ] && [ "$LIB_P" -gt 0 ]
    else
        lib_fail "$arch: soak.exe printed no summary"
    fi
    read -r _ wild_count wild_ptr < <(tr -d '\r' <"$out" | grep '^WILD_FREES' | tail -n 1)
    wild_count=${wild_count:-missing} wild_ptr=${wild_ptr:-missing}
    provoked=$(grep -c "^ole32mem: check: Free of ${wild_ptr} .*not a block of ole32mem nor a live heap block" "$log")
    lib_check "$arch: $wild_count wild frees provoked, $provoked check: lines for them" \
        [ "$provoked" = "$wild_count" ]
    other=$(grep -E '^ole32mem: (check|guard):' "$log" | grep -vc "^ole32mem: check: Free of ${wild_ptr} ")
    lib_check "$arch: no other check: or guard: line ($other)" [ "$other" -eq 0 ]
    unexpected=$(grep -vcE '^ole32mem: (check: Free of |leaks|stats: |stack #|  )' "$log")
    lib_check "$arch: no unexpected diagnostics line ($unexpected)" [ "$unexpected" -eq 0 ]
    lib_check "$arch: the exit leak report says 0 blocks never freed" \
        grep -q '^ole32mem: leaks: 0 blocks, 0 bytes never freed' "$log"
    if [ "$other" -ne 0 ] || [ "$unexpected" -ne 0 ]; then
        grep -vE "^ole32mem: (check: Free of ${wild_ptr} |leaks|stats: )" "$log" | head -n 20
    fi
    grep -E '^ole32mem: (leaks|stats: live)' "$log" | head -n 5
done
lib_total
[ "$LIB_FAILED" -eq 0 ]
