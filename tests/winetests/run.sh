#!/usr/bin/env bash
# The "winetests" suite of `make check`: Wine's own conformance tests of ole32 and combase (built by
# tests/winetests/build.mk from the source tests/winetests/fetch.sh unpacked) run against ole32mem, compared check by
# check with the same programs on Wine's builtin ole32.
#
# Modes, each in a fresh prefix under $WT/prefixes (copies of a wineboot'ed base prefix, one per kind: win64, and
# win32 for C32), removed when its mode is done (a Wine 10 prefix is 1.4 GB); when the suite ends only the pristine
# win64 base prefix is left, to be copied from next time (remade when the Wine version changes):
#   A    the builtin: the programs as Wine links them, nothing installed (the reference)
#   B    the programs linked with -lole32mem ahead of the system import libraries, ole32mem.dll beside them
#   C    the programs of A after `make install-prefix` (the proxy ole32.dll in system32/syswow64)
#   D    C with HOOK_COMBASE=1
#   E    C with OLE32MEM_DEBUG=all (reports to a log per program, kept beside its output)
#   C32  (i686 only) C in a WINEARCH=win32 prefix
#
# Verdict, per program, arch and mode: a run that ends without its own summary line, or whose exit status is not the
# failure count that line reports (a crash), or that exceeds WINETESTS_TIMEOUT seconds (a hang) fails. In B-C32, a
# check (file.c:LINE) that fails but did not fail in A on the same arch is ole32mem's failure; when every such check
# is listed in tests/winetests/flaky.txt the program is run again, up to WINETESTS_RETRIES times, and only the
# checks that fail in every run count. A's own failing checks are Wine's and are listed, not counted. Each program x
# arch x mode verdict counts once in "PASSED FAILED SKIPPED" ($RESULT); a source that cannot be fetched counts each
# planned arch x mode as skipped.
#
# Two lanes run in parallel (the machine has 2 cores), each with its own Xvfb display (compobj, clipboard and
# dragdrop need windows, and two clipboard tests on one X display would disturb each other) and its own prefixes.
#
# Environment (from mk/winetests.mk): WT, ARCHES, BUILD, MAKE, WINE64, WINE32, WINESERVER, RESULT, REPO (the source
# tree, for make install-prefix), WINETESTS_TIMEOUT (300), WINETESTS_RETRIES (5), FLAKY (tests/winetests/flaky.txt).
# Must never touch a prefix outside $WT/prefixes, nor stop a wineserver or X server it did not start.
set -u

: "${WT:?}" "${ARCHES:=x86_64 i686}" "${BUILD:=build}" "${MAKE:=make}" "${RESULT:=$BUILD/results/winetests}"
: "${WINE64:=/usr/lib/wine/wine64}" "${WINE32:=/usr/lib/wine/wine}" "${WINESERVER:=/usr/lib/wine/wineserver}"
: "${REPO:=$PWD}" "${WINETESTS_TIMEOUT:=300}" "${WINETESTS_RETRIES:=5}" "${FLAKY:=$REPO/tests/winetests/flaky.txt}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
WT=$(mkdir -p "$WT" && cd "$WT" && pwd -P)
RESULT=$(mkdir -p "$(dirname "$RESULT")" && cd "$(dirname "$RESULT")" && pwd -P)/$(basename "$RESULT")
MODULES="ole32 combase"
start=$(date +%s)

log() { printf 'winetests: %s\n' "$*"; }
wine_for() { if [ "$1" = i686 ]; then echo "$WINE32"; else echo "$WINE64"; fi; }
modes_for() { if [ "$1" = i686 ]; then echo "A B C D E C32"; else echo "A B C D E"; fi; }

# ---- no source, no suite --------------------------------------------------------------------------------------------

if [ "${FETCH_STATUS:-0}" != 0 ]; then
    planned=0
    for arch in $ARCHES; do planned=$((planned + $(wc -w <<<"$(modes_for "$arch")"))); done
    log "SKIPPED: Wine's source package could not be fetched (see above); $planned arch x mode runs not made"
    echo "0 0 $planned" >"$RESULT"
    exit 0
fi

# The test programs of a module: the .exe files build.mk made from its Makefile.in.
programs() { (cd "$WT/$1/$2" && ls -- *.exe) | sed 's/\.exe$//'; }

# An arch whose wine cannot start here (a kernel without 32-bit support cannot execute wine32's loader: "Exec format
# error") has its programs built but not run: each of its program x mode runs counts as skipped, with the reason.
. "$REPO/tests/lib.sh"
RUN_ARCHES=
skipped=0
for arch in $ARCHES; do
    if lib_arch_can_run "$arch"; then
        RUN_ARCHES="$RUN_ARCHES $arch"
        continue
    fi
    reason=$LIB_ARCH_SKIP_REASON
    n=0
    for module in $MODULES; do n=$((n + $(programs "$arch" "$module" | wc -l))); done
    n=$((n * $(wc -w <<<"$(modes_for "$arch")")))
    log "SKIPPED: $arch: $n program x mode runs (modes $(modes_for "$arch")): $reason"
    skipped=$((skipped + n))
done

# ---- prefixes -------------------------------------------------------------------------------------------------------

# A pristine prefix per Wine version (the tests never run in it): $1 win64|win32.
base_prefix() {
    local kind=$1 dir=$WT/prefixes/base-$1 id
    id="$(dpkg-query -W -f '${Version}' wine64 2>/dev/null) $(stat -c %Y /usr/share/wine/wine.inf 2>/dev/null)"
    if [ -r "$dir/.ole32mem-base" ] && [ "$(cat "$dir/.ole32mem-base")" = "$id" ]; then return 0; fi
    stop_server "$dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$kind" = win32 ]; then
        WINEPREFIX=$dir WINEARCH=win32 "$WINE32" wineboot -i >/dev/null 2>&1
    else
        WINEPREFIX=$dir "$WINE64" wineboot -i >/dev/null 2>&1
    fi
    WINEPREFIX=$dir "$WINESERVER" -w
    [ -f "$dir/system.reg" ] || { log "wineboot -i failed for the $kind base prefix"; return 1; }
    echo "$id" >"$dir/.ole32mem-base"
}

# Stops the wineserver of prefix $1 and waits until it is gone: a prefix made again at once can get the old
# directory's inode, and with it the old server's socket, which a dying server leaves wine unable to use.
# `wineserver -w` can return while the killed server still exits; its working directory is its server directory,
# named after the prefix's device and inode (server-DEV-INODE, hexadecimal), so its end is seen when no process has
# that directory as its working directory any more (up to 20 s). Only then may the prefix go: a prefix made at once
# after (the next mode's, in either lane) can get the freed inode.
stop_server() {
    local suffix i p busy
    [ -d "$1" ] || return 0
    # shellcheck disable=SC2046
    suffix=$(printf '/server-%x-%x' $(stat -c '%d %i' "$1"))
    WINEPREFIX=$1 "$WINESERVER" -k 2>/dev/null
    WINEPREFIX=$1 "$WINESERVER" -w 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        busy=
        for p in /proc/[0-9]*/cwd; do
            case $(readlink "$p" 2>/dev/null) in *"$suffix") busy=1 && break ;; esac
        done
        [ -n "$busy" ] || break
        sleep 0.2
    done
    return 0
}

# Removes the prefix of mode (or base) $1, its server stopped first.
remove_prefix() {
    stop_server "$WT/prefixes/$1"
    rm -rf "$WT/prefixes/$1"
}

# Prepares the fresh prefix of mode $1; prints nothing, fails with a message when the mode cannot be set up.
setup_mode() {
    local mode=$1 p=$WT/prefixes/$1 base=base-win64 hook='' arch dir
    [ "$mode" = C32 ] && base='base-win32'
    stop_server "$p"
    rm -rf "$p"
    cp -a "$WT/prefixes/$base" "$p" || return 1
    rm -f "$p/.ole32mem-base"
    case $mode in A | B) return 0 ;; D) hook=1 ;; esac
    # -o: the proxy that check-winetests built is the one every mode installs, even if a source changed since.
    # shellcheck disable=SC2046
    "$MAKE" --no-print-directory -C "$REPO" install-prefix BUILD="$BUILD" WINEPREFIX="$p" SKIP_DEPS=1 \
        ${hook:+HOOK_COMBASE=1} $(for arch in $ARCHES; do echo "-o $BUILD/$arch/proxy/ole32.dll"; done) \
        >"$WT/runs/$mode.install.log" 2>&1 ||
        { log "$mode: make install-prefix failed; see $WT/runs/$mode.install.log"; return 1; }
    # The mode is what it says only when the proxy really is each arch's ole32.dll.
    for arch in $(mode_arches "$mode"); do
        dir=$p/drive_c/windows/system32
        [ "$arch" = i686 ] && [ "$mode" != C32 ] && dir=$p/drive_c/windows/syswow64
        cmp -s "$BUILD/$arch/proxy/ole32.dll" "$dir/ole32.dll" ||
            { log "$mode: the $arch proxy is not $dir/ole32.dll after make install-prefix"; return 1; }
    done
}

mode_arches() {
    local arch out=
    for arch in $RUN_ARCHES; do
        case " $(modes_for "$arch") " in *" $1 "*) out="$out $arch" ;; esac
    done
    echo "$out"
}

# ---- one run --------------------------------------------------------------------------------------------------------

# Runs program $4 of module $3 for arch $2 in mode $1; $5 is the output's name. Leaves NAME.out, NAME.rc. The
# program runs from its own copy in the run's directory, with the test's name as argument, as Wine's harness runs
# it: the tests that start themselves again (marshal's local server) pass their argv[1] on, and roapi's manifest
# names a helper DLL that it extracts into the current directory and that must be in the program's directory.
run_program() {
    local mode=$1 arch=$2 module=$3 prog=$4 name=$5 dir=$WT/runs/$1-$2 src=$WT/$2/$3 rc
    [ "$mode" = B ] && src=$WT/$arch/$module-mem
    mkdir -p "$dir/bin"
    if [ ! -e "$dir/bin/$prog.exe" ]; then
        cp "$src/$prog.exe" "$dir/bin/" || return 1
        [ "$mode" != B ] || cp "$src/ole32mem.dll" "$dir/bin/" || return 1
    fi
    (
        cd "$dir/bin" || exit 1
        export WINEPREFIX=$WT/prefixes/$mode
        [ "$mode" = E ] && export OLE32MEM_DEBUG=all OLE32MEM_LOG="$dir/$name.diag.%p"
        timeout -k 10 "$WINETESTS_TIMEOUT" "$(wine_for "$arch")" "$prog.exe" "$prog" >"$dir/$name.out" 2>&1
    )
    rc=$?
    echo "$rc" >"$dir/$name.rc"
    # A hang leaves the test's other processes behind; this lane owns the prefix.
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then stop_server "$WT/prefixes/$mode"; fi
    return 0
}

# Starts an X server on the first free display (Xvfb -displayfd picks it); sets DISPLAY and the pid in $1.
start_xvfb() {
    local ready=$WT/runs/xvfb.$2 i
    rm -f "$ready"
    Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$ready" >/dev/null 2>&1 &
    eval "$1=$!"
    for i in $(seq 100); do
        if [ -s "$ready" ]; then
            DISPLAY=:$(head -1 "$ready")
            export DISPLAY
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# One lane: its modes in turn, every arch and program of each.
lane() {
    local n=$1 mode arch module prog xpid=
    shift
    if ! start_xvfb xpid "lane$n"; then
        log "lane $n: Xvfb did not start; modes $* not run"
        for mode in "$@"; do touch "$WT/runs/$mode.broken"; done
        return 1
    fi
    for mode in "$@"; do
        [ -n "$(mode_arches "$mode")" ] || continue
        if ! setup_mode "$mode"; then
            touch "$WT/runs/$mode.broken"
            continue
        fi
        for arch in $(mode_arches "$mode"); do
            for module in $MODULES; do
                for prog in $(programs "$arch" "$module"); do
                    run_program "$mode" "$arch" "$module" "$prog" "$prog.1"
                done
            done
        done
        remove_prefix "$mode"
    done
    kill "$xpid" 2>/dev/null
    wait "$xpid" 2>/dev/null
    return 0
}

# ---- reading a run --------------------------------------------------------------------------------------------------

COUNTS_RE='([0-9]+) tests executed \(([0-9]+) marked as todo, ([0-9]+) as flaky, ([0-9]+) failures?\)'
SUMMARY_RE="^[0-9a-f]{4}:[A-Za-z0-9_]+:[^ ]* ?$COUNTS_RE, [0-9]+ skipped\\."

# "executed failures" of the run's last summary line (the main process's: it waits for its children), or nothing.
last_summary() {
    grep -aE "$SUMMARY_RE" "$1" | tail -1 |
        sed -E "s/.* $COUNTS_RE.*/\\1 \\4/"
}
# All checks the run executed, children included.
executed() {
    grep -aE "$SUMMARY_RE" "$1" | sed -E 's/.* ([0-9]+) tests executed.*/\1/' | awk '{ s += $1 } END { print s + 0 }'
}
# The failing checks of a run, one file.c:LINE each (a todo that succeeds is a failure too, as in Wine).
failed_checks() {
    grep -aoE '^[A-Za-z0-9_.]+\.c:[0-9]+:[^ ]* ?Test (failed|succeeded inside todo block)' "$1" |
        sed -E 's/^([^:]+:[0-9]+):.*/\1/' | sort -u
}
# Whether the run completed: a summary line, and the exit status it implies (no crash, no hang).
completed() {
    local rc sum fails
    rc=$(cat "$1.rc")
    sum=$(last_summary "$1.out")
    [ -n "$sum" ] || return 1
    fails=${sum#* }
    [ "$fails" -gt 255 ] && fails=255
    [ "$rc" = "$fails" ]
}
# The lines of flaky.txt are per Wine version (line numbers move between versions): "VERSION PROGRAM FILE.c:LINE".
WINE_UPSTREAM=$("$WINE64" --version 2>/dev/null | sed -n 's/^wine-\([0-9.]*\).*/\1/p')
flaky_listed() {
    awk -v v="$WINE_UPSTREAM" -v p="$1" -v c="$2" '!/^#/ && $1 == v && $2 == p && $3 == c { found = 1 }
        END { exit !found }' "$FLAKY"
}

# ---- run ------------------------------------------------------------------------------------------------------------

[ -n "$RUN_ARCHES" ] || { echo "0 0 $skipped" >"$RESULT"; exit 0; }
rm -rf "$WT/runs"
mkdir -p "$WT/runs"
base_prefix win64 || { echo "0 1 $skipped" >"$RESULT"; exit 0; }
case " $RUN_ARCHES " in *" i686 "*) base_prefix win32 || touch "$WT/runs/C32.broken" ;; esac
first_arch=${RUN_ARCHES# }
first_arch=${first_arch%% *}
log "running $(for m in $MODULES; do programs "$first_arch" "$m"; done | wc -l) programs per arch" \
    "in modes A B C D E (and C32 on i686), two lanes; timeout ${WINETESTS_TIMEOUT}s per program"
lane 1 A C E >"$WT/runs/lane1.log" 2>&1 &
lane1=$!
lane 2 B D C32 >"$WT/runs/lane2.log" 2>&1 &
lane2=$!
wait "$lane1" "$lane2"
cat "$WT/runs/lane1.log" "$WT/runs/lane2.log"

passed=0 failed=0
declare -A cell
notes=()
retry_xpid=

for arch in $RUN_ARCHES; do
    for mode in $(modes_for "$arch"); do
        for module in $MODULES; do
            for prog in $(programs "$arch" "$module"); do
                run=$WT/runs/$mode-$arch/$prog.1
                key=$arch/$mode/$prog
                if [ -e "$WT/runs/$mode.broken" ]; then
                    cell[$key]="SETUP"
                    failed=$((failed + 1))
                    notes+=("$arch $mode $prog: mode $mode could not be set up (see above)")
                    continue
                fi
                if ! completed "$run"; then
                    rc=$(cat "$run.rc" 2>/dev/null)
                    what="crashed (exit status $rc, no matching summary line)"
                    { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && what="timed out after ${WINETESTS_TIMEOUT}s"
                    cell[$key]="CRASH"
                    failed=$((failed + 1))
                    notes+=("$arch $mode $prog: $what; last lines in $run.out")
                    continue
                fi
                if [ "$mode" = A ]; then
                    for c in $(failed_checks "$run.out"); do
                        notes+=("$arch A $prog: $c fails on the builtin (Wine's own failure, not counted)")
                    done
                    cell[$key]="$(executed "$run.out") ok"
                    passed=$((passed + 1))
                    continue
                fi
                ref=$WT/runs/A-$arch/$prog.1.out
                new=$(comm -23 <(failed_checks "$run.out") <(failed_checks "$ref" 2>/dev/null))
                tries=1
                # Only timing-dependent checks get another chance, and only they may be left over.
                while [ -n "$new" ] && [ "$tries" -le "$WINETESTS_RETRIES" ]; do
                    for c in $new; do flaky_listed "$prog" "$c" || break 2; done
                    if [ -z "$retry_xpid" ]; then
                        start_xvfb retry_xpid retry || break
                    fi
                    tries=$((tries + 1))
                    # The mode's prefix was removed when its lane was done with it.
                    if [ ! -d "$WT/prefixes/$mode" ] && ! setup_mode "$mode"; then
                        notes+=("$arch $mode $prog: could not set mode $mode up again for a retry")
                        break
                    fi
                    run_program "$mode" "$arch" "$module" "$prog" "$prog.$tries"
                    if ! completed "$WT/runs/$mode-$arch/$prog.$tries"; then
                        notes+=("$arch $mode $prog: retry $tries crashed or timed out ($mode-$arch/$prog.$tries.out)")
                        break
                    fi
                    new=$(comm -12 <(echo "$new") <(failed_checks "$WT/runs/$mode-$arch/$prog.$tries.out"))
                    notes+=("$arch $mode $prog: retried for timing-dependent checks (run $tries)")
                done
                if [ -n "$new" ]; then
                    cell[$key]="FAIL $(wc -w <<<"$new")"
                    failed=$((failed + 1))
                    for c in $new; do notes+=("$arch $mode $prog: $c fails, not on the builtin (A)"); done
                else
                    cell[$key]="$(executed "$run.out") ok"
                    passed=$((passed + 1))
                fi
                if [ "$mode" = E ]; then
                    n=$(cat "$WT/runs/E-$arch/$prog".1.diag.* 2>/dev/null | grep -c 'ole32mem: check' || true)
                    [ "$n" = 0 ] || notes+=("$arch E $prog: $n 'check' reports of the diagnostics ($WT/runs/E-$arch)")
                fi
            done
        done
    done
done
[ -z "$retry_xpid" ] || { kill "$retry_xpid" 2>/dev/null; wait "$retry_xpid" 2>/dev/null; }

# ---- report ---------------------------------------------------------------------------------------------------------

for arch in $RUN_ARCHES; do
    printf '\nwinetests %s: checks executed per program and mode (ok: no check fails that does not fail on A)\n' "$arch"
    printf '  %-15s' program
    for mode in $(modes_for "$arch"); do printf ' %11s' "$mode"; done
    echo
    total=()
    for module in $MODULES; do
        for prog in $(programs "$arch" "$module"); do
            printf '  %-15s' "$prog"
            i=0
            for mode in $(modes_for "$arch"); do
                printf ' %11s' "${cell[$arch/$mode/$prog]:-?}"
                n=${cell[$arch/$mode/$prog]%% *}
                [[ $n =~ ^[0-9]+$ ]] && total[i]=$(( ${total[i]:-0} + n ))
                i=$((i + 1))
            done
            echo
        done
    done
    printf '  %-15s' total
    i=0
    for mode in $(modes_for "$arch"); do printf ' %11s' "${total[i]:-0}"; i=$((i + 1)); done
    echo
done
echo
for n in "${notes[@]}"; do echo "winetests: $n"; done
log "$passed passed, $failed failed, $skipped skipped (program x arch x mode verdicts) in $(( $(date +%s) - start ))s"
echo "$passed $failed $skipped" >"$RESULT"
for mode in A B C D E C32 base-win32; do remove_prefix "$mode"; done
exit 0
