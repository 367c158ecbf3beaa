#!/usr/bin/env bash
# The diagnostics suite of `make check` (mk/diag.mk). The checks are in C: each of the four programs of
# build/<arch>/diag/ runs its own children with the OLE32MEM_* settings they need and checks what they did and what
# ole32mem reported (tests/diag/child.h; diag.exe against what each child expects, tests/diag/expect.h). This
# script runs them under wine, each with a clean OLE32MEM_* environment and a time limit, and adds up their summary
# lines.
#
# Done here: tools/ole32mem-symbolize on two of stacks.exe's reports (check_filter); and where each function of
# diag.exe, diaghelp.dll and diagdyn.exe ends, by the cross nm (NM_<arch>), written to out/extents.txt and named in
# DIAG_EXTENTS (lines "module|symbol|start|next", hex): a report must name an offset inside the function, [start,
# next symbol). Without NM_<arch>, diag.exe takes [start, start + 0x200). DIAG_SYMBOLIZER, when set, is passed to
# stacks.exe's symbolizer cases as OLE32MEM_SYMBOLIZER (a root whose mingw binutils are elsewhere).
#
# Environment: ARCHES BUILD WINE64 WINE32 WINESERVER RESULT, optional NM_x86_64 NM_i686. Writes "PASSED FAILED
# SKIPPED" to $RESULT; exits 0 when it could run (failures are counted, not fatal), 1 when it could not.
set -u
LIB_NAME=run.sh
. "$(dirname "$0")/../lib.sh"

: "${ARCHES:=x86_64 i686}" "${BUILD:=build}" "${RESULT:=$BUILD/results/diag}"

PROGRAMS="diag.exe:1800 diagregress.exe:600 diaghook.exe:300 stacks.exe:900" # program:seconds
MODULES="diag.exe diaghelp.dll diagdyn.exe" # the modules whose functions diag.exe's children name

# extents: for each code symbol of MODULES, the address of the next symbol above it (nm -n lists by address).
extents()
{
    local nm_var="NM_$arch" module
    local nm=${!nm_var:-}
    [ -n "$nm" ] && command -v "$nm" >/dev/null || return 0
    for module in $MODULES; do
        "$nm" -n "$dir/$module" 2>/dev/null | awk -v module="$module" '
            NF != 3 { next }
            $1 != at { for (i = 0; i < n; i++) print module "|" names[i] "|" at "|" $1; n = 0; at = $1 }
            $2 ~ /^[tT]$/ { names[n++] = $3 }'
    done
}

# tools/ole32mem-symbolize on real reports: stacks.exe's child sym-none (OLE32MEM_SYMBOLIZER=none: frames of the
# default -g DLL left module+0xoffset, the module's file named) filtered must give exactly the frames of its child
# sym-fp (the same program, named by the live symbolizer).
check_filter()
{
    local none=$outdir/stacks-sym-none.log named=$outdir/stacks-sym-fp.log filtered=$outdir/stacks-sym-filtered.log
    if [ ! -s "$none" ] || [ ! -s "$named" ]; then
        lib_fail "$arch ole32mem-symbolize: stacks.exe left no sym-none/sym-fp logs"
        return
    fi
    "$(dirname "$0")/../../tools/ole32mem-symbolize" "$none" >"$filtered" 2>"$outdir/stacks-sym-filtered.err"
    lib_check "$arch ole32mem-symbolize: the filtered report names no chain ($filtered)" \
        grep -q "symchainfp.dll!symchain_c (symchain.c:" "$filtered"
    lib_check "$arch ole32mem-symbolize: frames differ from the live symbolizer's ($outdir/stacks-sym-filter.diff)" \
        diff <(grep '#[0-9]' "$filtered") <(grep '#[0-9]' "$named") >"$outdir/stacks-sym-filter.diff"
    lib_check "$arch ole32mem-symbolize: the lines about the named module are left in ($filtered)" \
        test "$(grep -c 'ole32mem: symbols:' "$filtered")" = 0
}

# run_program PROGRAM SECONDS: runs one program in its folder; its summary line is its result.
run_program()
{
    local program=$1 seconds=$2 log=$outdir/${1%.exe}.txt rc var stopped=
    local -a clean=()
    for var in $(compgen -e); do
        [[ $var == OLE32MEM_* ]] && clean+=(-u "$var")
    done
    (cd "$dir" && lib_timeout "$seconds" env "${clean[@]}" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" \
        DIAG_EXTENTS=out/extents.txt "$wine" "./$program") >"$log" 2>&1
    rc=$?
    # A failure's message, and the lines it lists under it (indented).
    tr -d '\r' <"$log" | awk '/: Test failed: |: Test succeeded inside todo block/ { shown = 1; print; next }
                              /^    / && shown { print; next } { shown = 0 }' |
        head -60 | sed "s/^/run.sh: $arch $program: /"
    if lib_parse_summary "$(lib_last_summary "$log")"; then
        lib_add "$LIB_P" "$LIB_F" 0
    else
        lib_timed_out "$rc" && stopped=", stopped after $seconds s"
        lib_fail "$arch $program: no summary (exit code $rc$stopped): $(tail -3 "$log" | tr '\n' ' ' | cut -c1-300)"
    fi
}

for arch in $ARCHES; do
    dir=$BUILD/$arch/diag
    outdir=$dir/out
    wine=$(lib_wine_for "$arch")
    if ! lib_arch_can_run "$arch"; then
        lib_skip "$LIB_ARCH_SKIP_REASON"
        continue
    fi
    for program in $PROGRAMS $MODULES ole32mem.dll; do
        if [ ! -e "$dir/${program%:*}" ]; then
            echo "run.sh: $arch: $dir is not built (no ${program%:*})" >&2
            exit 1
        fi
    done
    rm -rf "$outdir"
    mkdir -p "$outdir"
    extents >"$outdir/extents.txt"
    before=$((LIB_PASSED + LIB_FAILED))
    failed_before=$LIB_FAILED
    for program in $PROGRAMS; do
        run_program "${program%:*}" "${program#*:}"
    done
    check_filter
    echo "run.sh: $arch: $((LIB_PASSED + LIB_FAILED - before)) checks, $((LIB_FAILED - failed_before)) failed"
done

lib_write_result "$RESULT"
LIB_NAME=diag lib_total
exit 0
