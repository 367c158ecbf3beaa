#!/usr/bin/env bash
# The "prefix" suite of `make check`: ole32mem installed into Wine prefixes by tools/wineprefix.sh, end to end.
#
# One fresh 64-bit prefix under $TEST_DIR (never the conformance tests' build/wineprefix), made once with wine64 and
# put back between cases by restore() (its pristine ole32 files and user.reg are kept aside), plus a WINEARCH=win32
# prefix for the i686-only case. Cases, each ending with the prefix checked against its pristine state or a full
# installation (snapshot: sha256 of system32/syswow64 ole32*.dll and of every file named like ours, and the
# DllOverrides/AppDefaults/ole32mem registry values):
#   basic      install -> prefix_e2e installed, hooked by OLE32MEM_HOOK_COMBASE=1, leak report through the proxy
#              (and symchainapp.exe's, built with the default -g, named by the external symbolizer);
#              install again is a no-op; regsvr32 registers nothing to ole32_orig.dll; a stale ole32_orig.dll (a fake
#              Wine upgrade) is refreshed; uninstall -> pristine, prefix_e2e builtin; uninstall again is a no-op.
#   app        install --app --symlink: only that program gets the proxy; uninstall -> pristine.
#   hook       an earlier override ole32=builtin; install --hook-combase -> hooked; uninstall gives it back.
#   errors     WINEPREFIX unset, missing, not a prefix; a running program (refused, then --force); ole32.dll
#              replaced behind the installer's back (by Wine, by the user); a record naming a non-prefix path.
#   copy/move  uninstall in a `cp -a` copy restores the copy only; install/uninstall in a moved prefix; a record
#              of the earlier format (absolute paths into another prefix) acts on the prefix named.
#   signals    SIGINT during wineboot -u, after the commit line, during the clean-up; a committed journal with
#              proxies and no record (the backups are kept, uninstall puts Wine's ole32 back).
#   recovery   rollbacks past immutable files (each failure reported), a missing backup restored by its hash or
#              refused, the backup moved (not copied) back.
#   confinement  planted symlinks in ole32mem-backup, the directory itself a symlink; user.reg byte for byte after
#              keys were created; a "$" in WINEPREFIX through make.
#   programs   the user's svchost.exe/explorer.exe (tests/prefix/idle.c) never ended, refused; an unreadable process
#              table refused; a wedged wineboot -u ended after its time limit, refused, and run again next time.
#   messages   literal ~, relative paths, an empty journal, this build's proxy, a Wine builtin that is not ole32
#              (refused before wineboot -u), an override changed by hand, a program's own ole32 override.
#   proxy_source  a proxy generated from another ole32 refused; the .def stamp follows content, not dates.
#   faults     every journaled step of install, reinstall and uninstall cut by SIGKILL (then the next run recovers)
#              and by SIGINT, SIGTERM and a failed write (the run rolls back itself); a real SIGKILL from outside
#              at a random moment; a full disk (a 1 MB tmpfs under the backup); a read-only system32 (chattr +i).
#              Wine's ole32 must be loadable at every point (ole32.dll is Wine's, or the proxy beside ole32_orig).
# Each prefix_e2e run counts its own checks (its summary line); each step of this script counts as one check.
# Writes "PASSED FAILED SKIPPED" to $RESULT; exits 0 when it could run, whatever the results.
#
# Environment (from mk/prefix.mk): ARCHES, TEST_DIR, BUILD, WINE64, WINE32, WINESERVER, WINE_DLLDIR_x86_64,
# WINE_DLLDIR_i686, RESULT; optional CASES, PREFIX_SCRIPT (below), KEEP_PREFIXES=1. Needs no make (the one check
# through make is skipped without it); chattr (e2fsprogs) and mount are used where present, skipped otherwise.
set -u

: "${ARCHES:=x86_64 i686}" "${BUILD:=build}" "${TEST_DIR:=$BUILD/prefix-tests}" "${RESULT:=$BUILD/results/prefix}"
: "${WINE64:=/usr/lib/wine/wine64}" "${WINE32:=/usr/lib/wine/wine}" "${WINESERVER:=/usr/lib/wine/wineserver}"
: "${WINE_DLLDIR_x86_64:=/usr/lib/x86_64-linux-gnu/wine/x86_64-windows}"
export BUILD WINE64 WINE32 WINESERVER WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# PREFIX_SCRIPT runs the cases against another copy of the installer (e.g. an older one, to see a regression test
# fail there); CASES picks cases (all by default).
SCRIPT=${PREFIX_SCRIPT:-$PWD/tools/wineprefix.sh}
GEN_DEF=$PWD/tools/gen-ole32-def.sh
OVERRIDE_KEY='HKEY_CURRENT_USER\Software\Wine\DllOverrides'
HOOK_KEY='HKEY_CURRENT_USER\Software\ole32mem'
started=$(date +%s)

LIB_NAME=prefix
. tests/lib.sh
TEST_DIR=$(mkdir -p "$TEST_DIR" && cd "$TEST_DIR" && pwd -P)
BUILD=$(cd "$BUILD" && pwd -P)
LOG=$TEST_DIR/script.log

check() { lib_check "$@"; }
wine_for() { lib_wine_for "$1"; }

# An arch counts as runnable only when its loader really starts (lib_arch_can_run).
runnable_arches=
for arch in $ARCHES; do
    if lib_arch_can_run "$arch"; then
        runnable_arches="$runnable_arches $arch"
    else
        lib_skip "$LIB_ARCH_SKIP_REASON"
    fi
done

# Runs prefix_e2e STATE on every arch (extra environment in $@ before the state) and adds up its summary line.
e2e() {
    local arch out exe state=${*: -1} vars=("${@:1:$#-1}")
    for arch in $runnable_arches; do
        exe=$TEST_DIR/$arch/${E2E_EXE:-prefix_e2e.exe}
        out=$(env "${vars[@]}" "$(wine_for "$arch")" "$exe" "$state" 2>&1)
        if ! lib_add_summary "$out" '^prefix_e2e [a-z]+ \([a-z0-9]+\): [0-9]+ passed'; then
            echo "$out" | tail -20
            lib_fail "$arch: $exe $state ended without a summary (crashed?)"
            continue
        fi
        grep -v '^prefix_e2e ' <<<"$out" | sed "s/^/$arch: /"
        echo "$arch: $LIB_LINE"
    done
    "$WINESERVER" -k 2>/dev/null
}

# The diagnostics reach programs through the prefix install: OLE32MEM_DEBUG=leaks reports prefix_e2e's known leak
# (1234 bytes) with the program's module and, as its stack's first frame, the leaking function at the line the
# program printed (prefix_e2e is built with -gdwarf-4), and only when the proxy serves the program ($1: yes or no).
leak_report() {
    local arch out line
    for arch in $runnable_arches; do
        out=$(OLE32MEM_DEBUG=leaks "$(wine_for "$arch")" "$TEST_DIR/$arch/prefix_e2e.exe" leak 2>&1)
        line=$(sed -n 's/^prefix_e2e leak line: \([0-9]*\).*/\1/p' <<<"$out")
        if [ "$1" = yes ]; then
            check "$arch: OLE32MEM_DEBUG=leaks reports the program's leak through the prefix install" \
                grep -q 'leaks: *1234 bytes in 1 blocks from prefix_e2e.exe+0x' <<<"$out"
            check "$arch: the leak's stack names the function and line through the prefix install" \
                grep -q "#0 prefix_e2e.exe!leak_through_proxy+0x[0-9a-f]* (prefix_e2e.c:${line:-none})" <<<"$out"
            symbolized_chain "$arch"
        else
            check "$arch: without the install OLE32MEM_DEBUG changes nothing" \
                bash -c '! grep -q "^ole32mem:" <<<"$1"' - "$out"
        fi
    done
    "$WINESERVER" -k 2>/dev/null
}

# A program built with the compiler's default -g (DWARF 5, which Wine's dbghelp cannot read) and -O2, unmodified,
# through the prefix install: the external symbolizer names every function of its leak's chain (tests/diag/symchain.c;
# symchain_inlined is inlined into symchain_c) with the line the program printed for it.
symbolized_chain() {
    local arch=$1 out f name line
    out=$(OLE32MEM_DEBUG=leaks "$(wine_for "$arch")" "$BUILD/$arch/diag/symchainapp.exe" 2>&1)
    for f in symchain_inlined:S0 symchain_c:S1 symchain_b:S2 symchain_a:S3; do
        name=${f%:*}
        line=$(sed -n "s/^LINE|${f#*:}|\([0-9]*\).*/\1/p" <<<"$out")
        check "$arch: a default -g -O2 program through the prefix install: $name named at its line" \
            grep -q "#[0-9]* symchainapp.exe!$name (symchain.c:${line:-none}) symchainapp.exe+0x" <<<"$out"
    done
}

# ---- the prefix and its states -------------------------------------------------------------------------------------

# What install and uninstall may change, as text: checksums of the ole32 files and of everything named like ours
# (state directory, temporary files), and the registry values they touch, read from user.reg with the server down.
snapshot() {
    local p=${1:-$WINEPREFIX}
    (cd "$p" && find . drive_c/windows/system32 drive_c/windows/syswow64 -maxdepth 1 \
        \( -iname 'ole32*.dll' -o -name '*ole32mem*' \) 2>/dev/null | sort | while read -r f; do
            if [ -d "$f" ]; then echo "dir $f"; else echo "$(sha256sum <"$f" | cut -c1-64) $f"; fi
        done)
    awk '/^\[/ { keep = (tolower($0) ~ /dlloverrides|\\\\ole32mem\]/) } keep && !/^#time/ { sub(/\] [0-9]+$/, "]"); print }' \
        "$p/user.reg"
}

# Wine's ole32 is loadable: ole32.dll is Wine's, or the proxy with Wine's ole32 beside it as ole32_orig.dll.
wine_ole32_present() {
    local dir f
    for dir in "$WINEPREFIX/drive_c/windows/system32" $([ -f "$PRISTINE/syswow64.dll" ] && echo "$WINEPREFIX/drive_c/windows/syswow64"); do
        f=$dir/ole32.dll
        grep -q 'Wine builtin DLL' "$f" 2>/dev/null && continue
        grep -qa 'ole32_orig\.' "$f" 2>/dev/null && grep -q 'Wine builtin DLL' "$dir/ole32_orig.dll" 2>/dev/null && continue
        return 1
    done
}

wineprefix() { bash "$SCRIPT" "$@" 2>"$LOG"; }
said() { grep -q -- "$1" "$LOG"; }
# (On a failure the script's messages are shown: they say why it did or did not refuse.)
fails_saying() {
    local what=$1
    shift
    ! wineprefix "$@" && said "$what" && return 0
    sed 's/^/    script said: /' "$LOG"
    return 1
}
is_pristine() { [ "$(snapshot)" = "$BEFORE" ]; }
is_installed() { [ "$(snapshot)" = "$INSTALLED" ]; }
reg_is() { "$WINE64" reg query "$1" /v "$2" 2>/dev/null | tr -d '\r' | grep -q "$3"; }
reg_absent() { ! "$WINE64" reg query "$@" >/dev/null 2>&1; }

# Puts the prefix back to its pristine state, whatever a case left (the checks came before).
restore() {
    local d
    "$WINESERVER" -k 2>/dev/null
    command -v chattr >/dev/null && chattr -i "$WINEPREFIX/user.reg" "$SYS64" "$SYS64/ole32.dll" \
        "$WINEPREFIX/drive_c/windows/syswow64" 2>/dev/null
    rm -f "$WINEPREFIX/ole32mem-wineboot.pending"
    [ ! -f "$PRISTINE/update-timestamp" ] || cp -p "$PRISTINE/update-timestamp" "$WINEPREFIX/.update-timestamp"
    for d in system32 syswow64; do
        rm -f "$WINEPREFIX/drive_c/windows/$d/ole32_orig.dll" "$WINEPREFIX/drive_c/windows/$d/"*.ole32mem-*
        [ ! -f "$PRISTINE/$d.dll" ] || cp -p "$PRISTINE/$d.dll" "$WINEPREFIX/drive_c/windows/$d/ole32.dll"
    done
    rm -rf "$WINEPREFIX/ole32mem-backup" "$WINEPREFIX"/*.ole32mem-* "$WINEPREFIX/ole32mem-wineboot.pending"
    cp -p "$PRISTINE/user.reg" "$WINEPREFIX/user.reg"
}

new_prefix() {
    export WINEPREFIX=$TEST_DIR/$1
    [ ! -d "$WINEPREFIX" ] || "$WINESERVER" -k 2>/dev/null
    rm -rf "$WINEPREFIX"
    mkdir -p "$WINEPREFIX"
    "$2" wineboot -i >/dev/null 2>&1
    "$WINESERVER" -w
    [ -f "$WINEPREFIX/drive_c/windows/system32/ole32.dll" ] || { echo "prefix: could not create $WINEPREFIX" >&2; exit 1; }
    PRISTINE=$TEST_DIR/$1.pristine
    rm -rf "$PRISTINE" && mkdir -p "$PRISTINE"
    cp -p "$WINEPREFIX/user.reg" "$PRISTINE/user.reg"
    cp -p "$WINEPREFIX/.update-timestamp" "$PRISTINE/update-timestamp"
    for d in system32 syswow64; do
        [ ! -f "$WINEPREFIX/drive_c/windows/$d/ole32.dll" ] || cp -p "$WINEPREFIX/drive_c/windows/$d/ole32.dll" "$PRISTINE/$d.dll"
    done
    BEFORE=$(snapshot)
}

# The snapshot of a full installation with the given options, taken once per set of options.
learn_installed() {
    restore
    wineprefix install "$@" || echo "prefix: could not install ($*): $(cat "$LOG")"
    INSTALLED=$(snapshot)
}

# True when a process of the prefix runs image $1 (its command line starts with a Windows or an absolute Unix path
# ending in that name).
program_runs() {
    local f
    for f in $(grep -l -a -i -E "^([A-Za-z]:\\\\|/)[^ ]*[\\\\/]$1" /proc/[0-9]*/cmdline 2>/dev/null); do
        grep -q -a -z -x -F "WINEPREFIX=$WINEPREFIX" "${f%/cmdline}/environ" 2>/dev/null && return 0
    done
    return 1
}

# Waits (at most 25 s) until program $1 runs in the prefix; the test then knows it is up.
wait_for_program() {
    for _ in $(seq 100); do
        program_runs "$1" && return 0
        sleep 0.25
    done
    return 1
}

# Waits (at most 60 s) until no wineboot runs in the prefix: Wine's own start-up of a cold prefix, which the
# installer rightly refuses to interrupt, is over.
wait_for_wineboot() {
    for _ in $(seq 240); do
        program_runs wineboot.exe || return 0
        sleep 0.25
    done
    return 1
}

# A simulated Wine upgrade in $1: Wine's x86_64 ole32.dll with one byte appended, and under $1/build a copy of the
# build's proxies whose x86_64 .def names that file's sha256 (what make regenerates after an upgrade).
fake_upgrade() {
    local arch
    rm -rf "$1" && mkdir -p "$1"
    cp "$WINE_DLLDIR_x86_64/ole32.dll" "$1/ole32.dll"
    printf 'x' >>"$1/ole32.dll"
    for arch in x86_64 i686; do
        [ -d "$BUILD/$arch/proxy" ] || continue
        mkdir -p "$1/build/$arch/proxy"
        cp "$BUILD/$arch/proxy/ole32.dll" "$BUILD/$arch/proxy/ole32.def" "$1/build/$arch/proxy/"
    done
    sed -i "s/^; Wine ole32 sha256: .*/; Wine ole32 sha256: $(sha256sum <"$1/ole32.dll" | cut -c1-64)/" \
        "$1/build/x86_64/proxy/ole32.def"
}

# ---- cases ---------------------------------------------------------------------------------------------------------

case_basic() {
    check "fresh prefix: no ole32 DllOverride" reg_absent "$OVERRIDE_KEY" /v ole32
    "$WINESERVER" -k 2>/dev/null
    e2e builtin
    leak_report no
    check "install: succeeds" wineprefix install
    check "install: ole32_orig.dll copied beside the proxy" [ -f "$SYS64/ole32_orig.dll" ] && [ ! -L "$SYS64/ole32_orig.dll" ]
    check "install: the record holds no absolute path" bash -c '! grep -q -e "$1" -e " /" "$1/ole32mem-backup/installed"' - "$WINEPREFIX"
    check "install: override ole32=native,builtin" reg_is "$OVERRIDE_KEY" ole32 'native,builtin'
    "$WINESERVER" -k 2>/dev/null
    INSTALLED=$(snapshot)
    e2e installed
    leak_report yes
    e2e OLE32MEM_HOOK_COMBASE=1 hooked
    check "install again: succeeds" wineprefix install
    check "install again: says nothing to do" said 'nothing to do'
    check "install again: changes nothing" is_installed
    for arch in $runnable_arches; do
        "$(wine_for "$arch")" regsvr32 /s ole32.dll >/dev/null 2>&1
        check "$arch: regsvr32 ole32.dll through the proxy succeeds" [ $? -eq 0 ]
    done
    "$WINESERVER" -k 2>/dev/null
    check "regsvr32: nothing registered under ole32_orig.dll" bash -c "! grep -qi ole32_orig '$WINEPREFIX/system.reg'"
    # A Wine upgrade, simulated: Wine's x86_64 ole32.dll "changes" (one byte appended: still a loadable PE), and the
    # proxy is rebuilt for it (its .def names the new file's sha256, as make would regenerate it).
    local fake=$TEST_DIR/fake-wine-upgrade
    fake_upgrade "$fake"
    check "stale ole32_orig.dll: install succeeds" env WINE_DLLDIR_x86_64="$fake" BUILD="$fake/build" bash "$SCRIPT" install 2>"$LOG"
    check "stale ole32_orig.dll: install says it refreshed it" said 'refreshed the stale ole32_orig.dll'
    check "stale ole32_orig.dll: refreshed from Wine's file" cmp -s "$fake/ole32.dll" "$SYS64/ole32_orig.dll"
    check "after the upgrade: install again refreshes back" wineprefix install
    check "after the upgrade: ole32_orig.dll is Wine's again" cmp -s "$WINE_DLLDIR_x86_64/ole32.dll" "$SYS64/ole32_orig.dll"
    rm -rf "$fake"
    check "uninstall: succeeds" wineprefix uninstall
    check "uninstall: the prefix is pristine (files, override values)" is_pristine
    check "uninstall: no state directory left" [ ! -e "$WINEPREFIX/ole32mem-backup" ]
    e2e builtin
    check "uninstall again: succeeds" wineprefix uninstall
    check "uninstall again: says nothing to do" said 'not installed'
}

case_app() {
    local app_key='HKEY_CURRENT_USER\Software\Wine\AppDefaults\prefix_e2e.exe'
    check "install --app --symlink: succeeds" wineprefix install --app prefix_e2e.exe --symlink
    check "install --symlink: ole32_orig.dll is a symlink" [ -L "$SYS64/ole32_orig.dll" ]
    check "install --app: no global override" reg_absent "$OVERRIDE_KEY" /v ole32
    check "install --app: the program's override" reg_is "$app_key\\DllOverrides" ole32 'native,builtin'
    "$WINESERVER" -k 2>/dev/null
    e2e installed
    for arch in $runnable_arches; do cp "$TEST_DIR/$arch/prefix_e2e.exe" "$TEST_DIR/$arch/other_e2e.exe"; done
    E2E_EXE=other_e2e.exe e2e builtin
    check "uninstall --app: succeeds" wineprefix uninstall
    check "uninstall --app: the prefix is pristine" is_pristine
    check "uninstall --app: the program's AppDefaults key is gone" reg_absent "$app_key"
    "$WINESERVER" -k 2>/dev/null
}

case_hook() {
    # An override the user had before: uninstall must give it back, not delete it.
    "$WINE64" reg add "$OVERRIDE_KEY" /v ole32 /d builtin /f >/dev/null 2>&1
    "$WINESERVER" -k 2>/dev/null
    local before_hook
    before_hook=$(snapshot)
    check "install --hook-combase: succeeds" wineprefix install --hook-combase
    check "install --hook-combase: HookCombase=1" reg_is "$HOOK_KEY" HookCombase 0x1
    "$WINESERVER" -k 2>/dev/null
    e2e hooked
    e2e OLE32MEM_HOOK_COMBASE=0 installed
    check "uninstall --hook-combase: succeeds" wineprefix uninstall
    check "uninstall --hook-combase: files and values as before, the earlier override back" [ "$(snapshot)" = "$before_hook" ]
    check "uninstall --hook-combase: override ole32=builtin as Wine reads it" reg_is "$OVERRIDE_KEY" ole32 'REG_SZ *builtin$'
    check "uninstall --hook-combase: no ole32mem key" reg_absent "$HOOK_KEY"
    "$WINESERVER" -k 2>/dev/null
    restore
}

case_errors() {
    local home=$TEST_DIR/home out sum
    mkdir -p "$home"
    check "WINEPREFIX unset: refused" bash -c '! env -u WINEPREFIX HOME="$1" bash "$2" install 2>"$3"' - "$home" "$SCRIPT" "$LOG"
    check "WINEPREFIX unset: names ~/.wine and does not create it" bash -c 'grep -q "not set: Wine would use $1/.wine" "$2" && [ ! -e "$1/.wine" ]' - "$home" "$LOG"
    check "WINEPREFIX missing: refused, says so" env WINEPREFIX="$TEST_DIR/no-such" bash -c '! bash "$1" install 2>"$2" && grep -q "does not exist" "$2"' - "$SCRIPT" "$LOG"
    check "WINEPREFIX not a prefix: refused, says so" env WINEPREFIX="$home" bash -c '! bash "$1" uninstall 2>"$2" && grep -q "is not a Wine prefix" "$2"' - "$SCRIPT" "$LOG"
    check "WINEPREFIX missing: nothing created" [ ! -e "$TEST_DIR/no-such" ]

    # A program running in the prefix: refused without --force, and nothing changes.
    "$WINE64" ping -n 120 127.0.0.1 >/dev/null 2>&1 &
    local ping=$!
    wait_for_program ping.exe && wait_for_wineboot
    check "running program: install refused, names it" fails_saying 'programs are running.*ping.exe' install
    check "running program: nothing changed" is_pristine
    check "running program: the program still runs" kill -0 $ping
    check "running program: install --force succeeds" wineprefix install --force
    check "running program: --force said it ends the program" said 'force: ending the programs.*ping.exe'
    wait $ping 2>/dev/null
    INSTALLED=$(snapshot)

    # ole32.dll replaced behind the installer's back: by Wine (wineboot -u after an upgrade), by the user.
    cp -p "$PRISTINE/system32.dll" "$SYS64/ole32.dll.tmp" && mv "$SYS64/ole32.dll.tmp" "$SYS64/ole32.dll"
    check "ole32.dll is Wine's again: install refuses, says what it found" fails_saying "no longer the proxy: found the installed Wine's own ole32" install
    check "ole32.dll is Wine's again: uninstall succeeds, keeps it" wineprefix uninstall
    check "ole32.dll is Wine's again: uninstall says so" said "not the proxy ole32mem installed; found the installed Wine's own ole32"
    check "ole32.dll is Wine's again: the prefix is pristine" is_pristine
    wineprefix install
    cp "$BUILD/x86_64/ole32mem.dll" "$SYS64/ole32.dll"
    sum=$(sha256sum <"$SYS64/ole32.dll")
    check "the user's own ole32.dll: uninstall keeps it, says what it is" \
        bash -c 'bash "$1" uninstall 2>"$2" && grep -q "a DLL that is not Wine" "$2"' - "$SCRIPT" "$LOG"
    check "the user's own ole32.dll: still there, byte for byte" [ "$(sha256sum <"$SYS64/ole32.dll")" = "$sum" ]
    check "the user's own ole32.dll: ole32_orig.dll and the state removed" \
        [ ! -e "$SYS64/ole32_orig.dll" ] && [ ! -e "$WINEPREFIX/ole32mem-backup" ]
    check "the user's own ole32.dll: install refuses to replace it" fails_saying 'a DLL that is not Wine' install
    check "the user's own ole32.dll: install changed nothing" [ "$(sha256sum <"$SYS64/ole32.dll")" = "$sum" ]
    restore
}

# Writes the record of the earlier format (absolute paths, `wine reg` journal) for the current installation, with
# its paths under $1 instead of the prefix's.
to_old_record() {
    local b=$WINEPREFIX/ole32mem-backup
    {
        echo "mode=copy"; echo "hook=0"; echo "app="
        echo "dir=x86_64 $1/drive_c/windows/system32"
        [ ! -f "$PRISTINE/syswow64.dll" ] || echo "dir=i686 $1/drive_c/windows/syswow64"
    } >"$b/state"
    printf '%s\t%s\t%s\t%s\t%s\n' "$OVERRIDE_KEY" ole32 - - - >"$b/registry"
    rm -f "$b/installed"
}

case_copy_move() {
    local copy=$TEST_DIR/plain-copy moved=$TEST_DIR/plain-moved other=$TEST_DIR/other-prefix
    restore
    wineprefix install
    INSTALLED=$(snapshot)
    rm -rf "$copy" && cp -a "$WINEPREFIX" "$copy"
    check "copy: uninstall in the copy succeeds" env WINEPREFIX="$copy" bash "$SCRIPT" uninstall 2>"$LOG"
    check "copy: the copy is pristine" [ "$(snapshot "$copy")" = "$BEFORE" ]
    check "copy: the original is untouched (still installed)" is_installed
    check "copy: messages name only the copy" bash -c '! grep -q "$1/" "$2"' - "$WINEPREFIX" "$LOG"
    rm -rf "$copy"

    # A record of the earlier format that points into another prefix (where the install was made before a copy).
    mkdir -p "$other/drive_c/windows/system32" && echo original >"$other/drive_c/windows/system32/ole32.dll"
    to_old_record "$other"
    check "old record: uninstall succeeds" wineprefix uninstall
    check "old record: says it acts on the prefix named" said "acting on $WINEPREFIX/drive_c/windows/system32"
    check "old record: the prefix named is pristine" is_pristine
    check "old record: the other prefix is untouched" bash -c '[ "$(cat "$1")" = original ] && [ ! -e "${1%/*}/ole32_orig.dll" ]' - "$other/drive_c/windows/system32/ole32.dll"
    wineprefix install
    to_old_record "$other"
    sed -i "s#^dir=x86_64 .*#dir=x86_64 /etc#" "$WINEPREFIX/ole32mem-backup/state"
    check "old record naming a non-prefix path: refused" fails_saying 'not a prefix.s system directory' uninstall
    check "old record naming a non-prefix path: nothing changed" [ -f "$WINEPREFIX/ole32mem-backup/state" ]
    rm -rf "$other"
    restore

    wineprefix install
    "$WINESERVER" -k 2>/dev/null
    mv "$WINEPREFIX" "$moved"
    check "move: uninstall in the moved prefix succeeds" env WINEPREFIX="$moved" bash "$SCRIPT" uninstall 2>"$LOG"
    check "move: pristine after uninstall" [ "$(snapshot "$moved")" = "$BEFORE" ]
    check "move: install in the moved prefix succeeds" env WINEPREFIX="$moved" bash "$SCRIPT" install 2>"$LOG"
    check "move: fully installed" [ "$(snapshot "$moved")" = "$INSTALLED" ]
    mv "$moved" "$WINEPREFIX"
    check "move back: uninstall succeeds" wineprefix uninstall
    check "move back: pristine" is_pristine
}

# The steps a run journals, by running it once with the hook that lists them.
steps_of() {
    rm -f "$TEST_DIR/steps"
    OLE32MEM_PREFIX_STEPS=$TEST_DIR/steps bash "$SCRIPT" "$@" 2>"$LOG"
    cat "$TEST_DIR/steps"
}

# Cuts "$@" (a run from state $from) at step $step by $how, then checks the prefix: Wine's ole32 loadable at once,
# then, after the next uninstall or install ($next), the state $expect (pristine or installed).
cut_at() {
    local from=$1 how=$2 step=$3 expect=$4 next=$5
    shift 5
    OLE32MEM_PREFIX_FAIL_AT=$step OLE32MEM_PREFIX_FAIL_HOW=$how bash "$SCRIPT" "$@" 2>"$LOG"
    check "$from: $* cut by $how at $step: Wine's ole32 still loadable" wine_ole32_present
    if [ "$how" != kill ]; then
        check "$from: $* cut by $how at $step: rolled back at once" bash -c '[ ! -e "$1/ole32mem-backup/txn" ]' - "$WINEPREFIX"
        check "$from: $* cut by $how at $step: says it rolled back" said 'rolled back'
    fi
    [ -z "$next" ] || bash "$SCRIPT" "$next" 2>"$LOG"
    if [ "$expect" = pristine ]; then
        check "$from: $* cut by $how at $step, then ${next:-nothing}: pristine" is_pristine
    else
        check "$from: $* cut by $how at $step, then ${next:-nothing}: fully installed" is_installed
    fi
}

case_faults() {
    local s steps
    # install from pristine; recovery by uninstall (rolls back, then nothing is installed).
    learn_installed
    restore
    mapfile -t steps < <(steps_of install)
    check "install journals its steps" [ ${#steps[@]} -ge 4 ]
    restore
    for s in "${steps[@]}"; do cut_at pristine kill "$s" pristine uninstall install; done
    for s in "${steps[@]}"; do cut_at pristine error "$s" pristine "" install; done
    cut_at pristine int "${steps[1]}" pristine "" install
    cut_at pristine term "${steps[2]}" pristine "" install
    # install interrupted, then install again: recovers, then installs.
    cut_at pristine kill "${steps[1]}" installed install install
    restore

    # uninstall from installed; recovery by uninstall finishes it.
    wineprefix install
    mapfile -t steps < <(steps_of uninstall)
    check "uninstall journals its steps" [ ${#steps[@]} -ge 4 ]
    for s in "${steps[@]}"; do
        restore && wineprefix install
        cut_at installed kill "$s" pristine uninstall uninstall
    done
    for s in "${steps[@]}"; do
        restore && wineprefix install
        cut_at installed error "$s" installed "" uninstall
    done
    restore && wineprefix install
    cut_at installed term "${steps[1]}" installed "" uninstall

    # A reinstall that switches the mode (registry restored and set again, the record rewritten).
    restore
    learn_installed --hook-combase
    restore && wineprefix install
    mapfile -t steps < <(steps_of install --hook-combase)
    for s in "${steps[@]}"; do
        restore && wineprefix install
        cut_at "installed plain" kill "$s" pristine uninstall install --hook-combase
    done
    restore

    # A real SIGKILL from outside, at a random moment of install and of uninstall.
    local i
    for i in 1 2; do
        restore
        bash "$SCRIPT" install 2>/dev/null &
        sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
        kill -KILL $! 2>/dev/null
        wait $! 2>/dev/null
        check "install killed from outside ($i): Wine's ole32 still loadable" wine_ole32_present
        wineprefix uninstall
        check "install killed from outside ($i), then uninstall: pristine" is_pristine
        wineprefix install
        bash "$SCRIPT" uninstall 2>/dev/null &
        sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
        kill -KILL $! 2>/dev/null
        wait $! 2>/dev/null
        check "uninstall killed from outside ($i): Wine's ole32 still loadable" wine_ole32_present
        wineprefix uninstall
        check "uninstall killed from outside ($i), then uninstall: pristine" is_pristine
    done

    # A full disk: the backup directory on a 1 MB tmpfs (Wine's ole32.dll is larger).
    restore
    mkdir -p "$WINEPREFIX/ole32mem-backup"
    if mount -t tmpfs -o size=1m ole32mem-test "$WINEPREFIX/ole32mem-backup" 2>/dev/null; then
        check "full disk: install fails" fails_saying 'disk full' install
        check "full disk: says it rolled back" said 'rolled back'
        umount "$WINEPREFIX/ole32mem-backup"
        rmdir "$WINEPREFIX/ole32mem-backup" 2>/dev/null
        check "full disk: pristine" is_pristine
    else
        lib_skip "full-disk case: cannot mount a tmpfs here"
        rmdir "$WINEPREFIX/ole32mem-backup"
    fi

    # A read-only system32.
    learn_installed
    restore
    if chattr +i "$SYS64" 2>/dev/null; then
        check "read-only system32: install fails, says why" fails_saying 'read-only' install
        chattr -i "$SYS64"
        check "read-only system32: pristine" is_pristine
        wineprefix install
        chattr +i "$SYS64"
        check "read-only system32: uninstall fails" fails_saying 'read-only' uninstall
        chattr -i "$SYS64"
        check "read-only system32: uninstall failed whole (still installed)" is_installed
        check "read-only system32: uninstall once writable succeeds" wineprefix uninstall
        check "read-only system32: pristine" is_pristine
    else
        lib_skip "read-only case: chattr +i not supported here"
    fi
    restore
    e2e builtin
}

# Makes the next install run wineboot -u (Wine's timestamp no longer matches wine.inf).
stale_timestamp() { echo 1 >"$WINEPREFIX/.update-timestamp"; }
# The ole32 DLLs of system32 and syswow64 as before (the state directory and the registry aside).
ole32_files_pristine() { [ "$(snapshot | grep ' drive_c/.*\.dll$')" = "$(grep ' drive_c/.*\.dll$' <<<"$BEFORE")" ]; }

# Signals: before the first change, while wineboot -u runs, after the commit, during the clean-up.
case_signals() {
    local pid rc
    restore
    stale_timestamp
    # (A background job of a script starts with SIGINT ignored, which a trap cannot undo: reset it, as a terminal's
    # Ctrl-C finds it.)
    env --default-signal=INT bash "$SCRIPT" install 2>"$LOG" &
    pid=$!
    wait_for_program wineboot.exe
    kill -INT $pid
    rc=0; wait $pid || rc=$?
    check "SIGINT during wineboot -u: exits 130" [ $rc = 130 ]
    check "SIGINT during wineboot -u: says it acts on it once wineboot returns" said 'SIGINT received; acting on it when'
    check "SIGINT during wineboot -u: says nothing was changed" said 'nothing in .* was changed'
    check "SIGINT during wineboot -u: pristine (no override, no proxy)" is_pristine
    restore

    learn_installed
    restore
    OLE32MEM_PREFIX_FAIL_AT=commit OLE32MEM_PREFIX_FAIL_HOW=int bash "$SCRIPT" install 2>"$LOG"
    check "SIGINT right after the commit line: says the install had completed" said 'the install had completed'
    check "SIGINT right after the commit line: does not claim a rollback" bash -c '! grep -q "rolled back" "$1"' - "$LOG"
    check "SIGINT right after the commit line: fully installed, no journal" \
        bash -c '[ "$1" = "$2" ] && [ ! -e "$3/ole32mem-backup/txn" ]' - "$(snapshot)" "$INSTALLED" "$WINEPREFIX"
    restore
    OLE32MEM_PREFIX_FAIL_AT=cleanup OLE32MEM_PREFIX_FAIL_HOW=term bash "$SCRIPT" install 2>"$LOG"
    check "SIGTERM during the clean-up: fully installed" is_installed
    restore
    OLE32MEM_PREFIX_FAIL_AT=cleanup OLE32MEM_PREFIX_FAIL_HOW=kill bash "$SCRIPT" install 2>"$LOG"
    check "SIGKILL during the clean-up, then uninstall: succeeds" bash -c 'bash "$1" uninstall 2>"$2"' - "$SCRIPT" "$LOG"
    check "SIGKILL during the clean-up, then uninstall: pristine" is_pristine

    # What a rollback cut short after a commit used to leave: the record and the override gone, the proxies still
    # in place, a journal that says "commit". Finishing it must not delete the backups the proxies need.
    restore
    wineprefix install
    rm -f "$WINEPREFIX/ole32mem-backup/installed"
    mkdir "$WINEPREFIX/ole32mem-backup/txn"
    printf 'ole32mem transaction install\nstep proxy-x86_64\ncommit\n' >"$WINEPREFIX/ole32mem-backup/txn/journal"
    check "committed journal, proxies without a record: uninstall succeeds" wineprefix uninstall
    check "committed journal, proxies without a record: finishing kept the backups the proxies need" \
        said 'a proxy in the prefix still needs'
    check "committed journal, proxies without a record: uninstall put Wine's ole32 back from them" said 'putting Wine.s ole32 back'
    check "committed journal, proxies without a record: ole32 files pristine" ole32_files_pristine
    check "committed journal, proxies without a record: nothing of ours left" [ ! -e "$WINEPREFIX/ole32mem-backup" ]
    restore
}

# Rollback past errors (immutable files), a missing backup.
case_recovery() {
    local f
    if ! command -v chattr >/dev/null || ! chattr +i "$SYS64/ole32.dll" 2>/dev/null; then
        lib_skip "recovery case: chattr +i is not available here"
    else
        chattr -i "$SYS64/ole32.dll"
        # The user's own override, as install sets it: install writes nothing, so an immutable user.reg is no error.
        restore
        awk '{ print } /^\[Software\\\\Wine\\\\DllOverrides\]/ { print "\"ole32\"=\"native,builtin\"" }' \
            "$PRISTINE/user.reg" >"$WINEPREFIX/user.reg"
        grep -q '^"ole32"="native,builtin"' "$WINEPREFIX/user.reg" ||
            printf '\n[Software\\\\Wine\\\\DllOverrides] 1\n"ole32"="native,builtin"\n' >>"$WINEPREFIX/user.reg"
        f=$(sha256sum <"$WINEPREFIX/user.reg")
        chattr +i "$WINEPREFIX/user.reg"
        check "override already set, user.reg immutable: install succeeds" wineprefix install
        check "override already set, user.reg immutable: uninstall succeeds" wineprefix uninstall
        chattr -i "$WINEPREFIX/user.reg"
        check "override already set, user.reg immutable: user.reg unchanged" [ "$(sha256sum <"$WINEPREFIX/user.reg")" = "$f" ]
        check "override already set, user.reg immutable: ole32 files pristine" ole32_files_pristine
        # An immutable system32/ole32.dll: its pre-image is a copy; the rollback sees the same bytes and goes on.
        restore
        chattr +i "$SYS64/ole32.dll"
        check "immutable system32/ole32.dll: install fails" fails_saying 'could not replace' install
        chattr -i "$SYS64/ole32.dll"
        check "immutable system32/ole32.dll: rolled back whole" said 'rolled back'
        check "immutable system32/ole32.dll: pristine" is_pristine
        # A rollback that cannot undo two steps reports both and keeps going.
        restore
        OLE32MEM_PREFIX_FAIL_AT=record OLE32MEM_PREFIX_FAIL_HOW=kill bash "$SCRIPT" install 2>"$LOG"
        if [ -f "$PRISTINE/syswow64.dll" ]; then
            chattr +i "$SYS64" "$WINEPREFIX/drive_c/windows/syswow64"
            check "rollback blocked in system32 and syswow64: refused" fails_saying 'could not settle' uninstall
            check "rollback blocked: reports system32" said 'could not put drive_c/windows/system32/ole32.dll back'
            check "rollback blocked: goes on and reports syswow64" said 'could not put drive_c/windows/syswow64/ole32.dll back'
            chattr -i "$SYS64" "$WINEPREFIX/drive_c/windows/syswow64"
            check "rollback blocked, then writable: uninstall succeeds" wineprefix uninstall
            check "rollback blocked, then writable: pristine" is_pristine
        fi
    fi
    # A backup gone: the installed Wine's ole32 has the recorded sha256, so uninstall restores from it.
    restore
    wineprefix install
    rm -f "$WINEPREFIX/ole32mem-backup/x86_64/ole32.dll"
    check "backup missing: uninstall succeeds" wineprefix uninstall
    check "backup missing: says where it restored from" said 'backup of drive_c/windows/system32/ole32.dll was missing; restored it from'
    check "backup missing: pristine" is_pristine
    # Missing, and no file with its content: refused before any change, the proxy stays usable.
    restore
    wineprefix install
    rm -f "$WINEPREFIX/ole32mem-backup/x86_64/ole32.dll"
    sed -i 's/^sha x86_64 [0-9a-f]*/sha x86_64 0000/' "$WINEPREFIX/ole32mem-backup/installed"
    check "backup missing, no copy with its sha256: uninstall refuses, says what to do" \
        fails_saying 'is missing, and neither this Wine.s ole32 nor' uninstall
    check "backup missing, no copy: Wine's ole32 still loadable" wine_ole32_present
    restore
    # Uninstall moves the backup back (no copy, no free space needed): the restored file is the backup's inode.
    wineprefix install
    f=$(stat -c %i "$WINEPREFIX/ole32mem-backup/x86_64/ole32.dll")
    wineprefix uninstall
    check "uninstall puts the backup back by a rename" [ "$(stat -c %i "$SYS64/ole32.dll")" = "$f" ]
    check "uninstall by a rename: pristine" is_pristine
    restore
}

# Nothing written through a symlink under the prefix; WINEPREFIX with a "$" through make.
case_confinement() {
    local out=$TEST_DIR/outside listing
    rm -rf "$out" && mkdir -p "$out"
    echo untouched >"$out/target"
    restore
    wineprefix install
    ln -s "$out/target" "$WINEPREFIX/ole32mem-backup/record.ole32mem-tmp"
    check "planted record.ole32mem-tmp symlink: install --hook-combase succeeds" wineprefix install --hook-combase
    check "planted record.ole32mem-tmp symlink: the file outside is untouched" [ "$(cat "$out/target")" = untouched ]
    wineprefix uninstall
    check "planted symlink: uninstall leaves the prefix pristine" is_pristine
    restore
    wineprefix install
    mv "$WINEPREFIX/ole32mem-backup" "$out/backup"
    ln -s "$out/backup" "$WINEPREFIX/ole32mem-backup"
    listing=$(cd "$out" && find . -printf '%p %s %T@\n' | sort)
    check "ole32mem-backup a symlink: uninstall refused" fails_saying 'ole32mem-backup is a symlink' uninstall
    check "ole32mem-backup a symlink: nothing written in the directory it points to" \
        bash -c '[ "$(cd "$1" && find . -printf "%p %s %T@\n" | sort)" = "$2" ]' - "$out" "$listing"
    check "ole32mem-backup a symlink: install refused too" fails_saying 'ole32mem-backup is a symlink' install
    rm -f "$WINEPREFIX/ole32mem-backup"
    mv "$out/backup" "$WINEPREFIX/ole32mem-backup"
    check "ole32mem-backup back in place: uninstall succeeds" wineprefix uninstall
    check "ole32mem-backup back in place: pristine" is_pristine
    rm -rf "$out"

    # The registry, byte for byte, after install created keys (the hook's, the program's).
    restore
    wineprefix install --hook-combase
    wineprefix uninstall
    check "install --hook-combase, uninstall: user.reg byte-identical" cmp -s "$PRISTINE/user.reg" "$WINEPREFIX/user.reg"
    wineprefix install --app foo.exe
    wineprefix install --hook-combase
    wineprefix uninstall
    check "install --app, switch to --hook-combase, uninstall: user.reg byte-identical" \
        cmp -s "$PRISTINE/user.reg" "$WINEPREFIX/user.reg"

    if command -v make >/dev/null; then
        mkdir -p "$TEST_DIR/d\$Ax"
        make -s --no-print-directory uninstall-prefix SKIP_DEPS=1 BUILD="$BUILD" WINEPREFIX="$TEST_DIR/d\$Ax" 2>"$LOG"
        check "make uninstall-prefix WINEPREFIX='...\$Ax': the script gets the \$ unexpanded" said "d\\\$Ax is not a Wine prefix"
        rmdir "$TEST_DIR/d\$Ax"
    else
        lib_skip "WINEPREFIX through make: make is not installed here"
    fi
    restore
}

# Running programs are told by process identity, never ended without --force; every wait is bounded.
case_programs() {
    local pids=() name fake=$TEST_DIR/fake-wine rc t
    restore
    for name in svchost explorer; do
        cp "$TEST_DIR/x86_64/idle.exe" "$TEST_DIR/x86_64/$name.exe"
        "$WINE64" "$TEST_DIR/x86_64/$name.exe" 120 >/dev/null 2>&1 &
        pids+=($!)
        wait_for_program "$name.exe"
    done
    wait_for_wineboot
    # (Wine may still start a wineboot of its own in the fresh server; the installer then refuses for that reason,
    # also without ending anything: wait for it and ask again.)
    for _ in 1 2 3; do
        wineprefix install && break
        said 'Wine is updating' || break
        wait_for_wineboot
    done
    check "a program named svchost.exe and one named explorer.exe: install refused" fails_saying 'programs are running' install
    check "refused: names svchost.exe" said 'running in .*svchost.exe (pid'
    check "refused: names explorer.exe" said 'running in .*explorer.exe (pid'
    check "refused: the programs still run" bash -c 'kill -0 "$@" 2>/dev/null' - "${pids[@]}"
    check "refused: svchost.exe still runs in the prefix" wait_for_program svchost.exe
    check "refused: nothing changed" is_pristine
    "$WINESERVER" -k 2>/dev/null
    wait "${pids[@]}" 2>/dev/null

    # The process table cannot be read: refused, whatever runs.
    check "process table unreadable: install refused, says why" \
        env OLE32MEM_PREFIX_PROC="$TEST_DIR/no-proc" bash -c '! bash "$1" install 2>"$2" && grep -q "cannot read the process table" "$2"' - "$SCRIPT" "$LOG"
    check "process table unreadable: nothing changed" is_pristine

    # A wineboot that never returns: ended after OLE32MEM_WINEBOOT_TIMEOUT, named, the install refused.
    mkdir -p "$fake"
    printf '#!/bin/sh\ncase $1 in wineboot) exec sleep 300 ;; esac\nexec "%s" "$@"\n' "$WINE64" >"$fake/wine64"
    chmod +x "$fake/wine64"
    stale_timestamp
    t=$(date +%s)
    rc=0; timeout 120 env WINE64="$fake/wine64" OLE32MEM_WINEBOOT_TIMEOUT=3 bash "$SCRIPT" install 2>"$LOG" || rc=$?
    check "wedged wineboot -u: refused within 30 s" [ $rc = 1 ] && [ $(($(date +%s) - t)) -lt 30 ]
    check "wedged wineboot -u: says so" said 'wineboot -u did not finish within 3 s'
    check "wedged wineboot -u: no proxy, no override" ole32_files_pristine
    check "wedged wineboot -u: the next install runs it again" bash -c 'bash "$1" install 2>"$2" && grep -q "did not finish; running it again" "$2"' - "$SCRIPT" "$LOG"
    check "after the wedged wineboot: uninstall, pristine" bash -c 'bash "$1" uninstall 2>"$2"' - "$SCRIPT" "$LOG"
    check "after the wedged wineboot: pristine" is_pristine
    rm -rf "$fake"
    restore
}

# Messages that say what was found and what to do.
case_messages() {
    local sum
    check "WINEPREFIX with a literal ~: refused, says so" env WINEPREFIX='~/x' bash -c '! bash "$1" install 2>"$2" && grep -q "literal .~." "$2"' - "$SCRIPT" "$LOG"
    check "relative WINEPREFIX: refused, says Wine needs an absolute path" env WINEPREFIX='rel/x' bash -c '! bash "$1" install 2>"$2" && grep -q "relative path" "$2"' - "$SCRIPT" "$LOG"
    check "missing prefix: the create hint names this Wine" env WINEPREFIX="$TEST_DIR/no-such" bash -c '! bash "$1" install 2>"$2" && grep -q "$3 wineboot -i" "$2"' - "$SCRIPT" "$LOG" "$WINE64"
    restore
    mkdir -p "$WINEPREFIX/ole32mem-backup/txn" && : >"$WINEPREFIX/ole32mem-backup/txn/journal"
    wineprefix uninstall
    check "an empty journal: the message has no hole" bash -c '! grep -q "earlier  in" "$1" && grep -q "its journal has no header" "$1"' - "$LOG"
    restore
    # A proxy of this very build left without a record: called this build's, not another's.
    wineprefix install
    rm -rf "$WINEPREFIX/ole32mem-backup.keep" && mv "$WINEPREFIX/ole32mem-backup" "$WINEPREFIX/ole32mem-backup.keep"
    check "this build's proxy without a record: install refuses, names it this build's" fails_saying "is this build's ole32mem proxy" install
    mv "$WINEPREFIX/ole32mem-backup.keep" "$WINEPREFIX/ole32mem-backup"
    wineprefix uninstall
    # A Wine builtin that is not ole32 in ole32's place.
    restore
    stale_timestamp
    cp "$WINEPREFIX/drive_c/windows/system32/combase.dll" "$SYS64/ole32.dll"
    sum=$(sha256sum <"$WINEPREFIX/system.reg")
    check "a Wine builtin that is not ole32: install refuses, says so" fails_saying 'a Wine builtin DLL that is not ole32' install
    check "refused before wineboot -u: system.reg untouched" [ "$(sha256sum <"$WINEPREFIX/system.reg")" = "$sum" ]
    check "refused before wineboot -u: Wine's timestamp untouched" [ "$(cat "$WINEPREFIX/.update-timestamp")" = 1 ]
    restore
    # An override changed by hand after the install: status says so.
    wineprefix install
    sed -i 's/^"ole32"="native,builtin"/"ole32"="builtin"/' "$WINEPREFIX/user.reg"
    wineprefix status
    check "override changed by hand: status says so" said 'changed by hand'
    wineprefix uninstall
    restore
    # A program's own ole32 override wins over a global install: install says so.
    printf '\n[Software\\\\Wine\\\\AppDefaults\\\\foo.exe\\\\DllOverrides] 1\n"ole32"="builtin"\n' >>"$WINEPREFIX/user.reg"
    check "a program's own ole32 override: install succeeds" wineprefix install
    check "a program's own ole32 override: install names it" said 'note: foo.exe has an ole32 override of its own'
    wineprefix uninstall
    restore
}

# The proxy and the prefix's Wine ole32: told apart by content, never installed when they do not match.
case_proxy_source() {
    local fake=$TEST_DIR/fake-wine-upgrade d=$TEST_DIR/stamp s
    fake_upgrade "$fake"
    restore
    check "proxy built from another ole32 (an upgraded Wine): install refused" \
        env WINE_DLLDIR_x86_64="$fake" bash -c '! bash "$1" install 2>"$2"' - "$SCRIPT" "$LOG"
    check "proxy built from another ole32: says the exports would not match" said 'copies the exports of another ole32.dll'
    check "proxy built from another ole32: nothing changed" is_pristine
    check "a proxy rebuilt for it: installs" env WINE_DLLDIR_x86_64="$fake" BUILD="$fake/build" bash "$SCRIPT" install 2>"$LOG"
    wineprefix uninstall
    rm -rf "$fake"
    # The stamp that makes make regenerate the .def follows the content, not the date.
    rm -rf "$d" && mkdir -p "$d"
    cp "$WINE_DLLDIR_x86_64/ole32.dll" "$d/ole32.dll"
    bash "$GEN_DEF" --stamp "$d/stamp" "$d/ole32.dll"
    touch -d '2001-01-01' "$d/stamp"
    touch "$d/ole32.dll"
    bash "$GEN_DEF" --stamp "$d/stamp" "$d/ole32.dll"
    check "def stamp: a newer date with the same content leaves the stamp alone" [ "$(stat -c %Y "$d/stamp")" = "$(date -d 2001-01-01 +%s)" ]
    printf 'x' >>"$d/ole32.dll"
    touch -d '2000-01-01' "$d/ole32.dll"
    bash "$GEN_DEF" --stamp "$d/stamp" "$d/ole32.dll"
    check "def stamp: new content with an older date rewrites the stamp" [ "$(cat "$d/stamp")" = "$(sha256sum <"$d/ole32.dll" | cut -c1-64)" ]
    s=$(sed -n 's/^; Wine ole32 sha256: //p' "$BUILD/x86_64/proxy/ole32.def")
    check "the proxy's .def names the sha256 of Wine's ole32 it was generated from" [ "$s" = "$(sha256sum <"$WINE_DLLDIR_x86_64/ole32.dll" | cut -c1-64)" ]
    rm -rf "$d"
    restore
}

# ---- main ----------------------------------------------------------------------------------------------------------

echo "prefix: creating $TEST_DIR/plain"
new_prefix plain "$WINE64"
SYS64=$WINEPREFIX/drive_c/windows/system32
for c in ${CASES:-basic app hook errors copy_move signals recovery confinement programs messages proxy_source faults}; do
    t=$(date +%s)
    restore
    "case_$c"
    echo "prefix: case $c took $(($(date +%s) - t)) s"
done
"$WINESERVER" -k 2>/dev/null

# A 32-bit prefix: system32 holds the i686 side.
if [[ " $runnable_arches " == *" i686 "* ]]; then
    echo "prefix: creating $TEST_DIR/win32"
    WINEARCH=win32 new_prefix win32 "$WINE32"
    SYS64=$WINEPREFIX/drive_c/windows/system32
    check "win32: install succeeds" wineprefix install
    check "win32: the i686 proxy is in system32" cmp -s "$BUILD/i686/proxy/ole32.dll" "$SYS64/ole32.dll"
    runnable_arches=" i686" e2e installed
    check "win32: uninstall succeeds" wineprefix uninstall
    check "win32: pristine" is_pristine
    runnable_arches=" i686" e2e builtin
    "$WINESERVER" -k 2>/dev/null
else
    lib_skip "WINEARCH=win32 case: ${LIB_ARCH_RUNS[i686]:-i686 not in ARCHES}"
fi

# The prefixes go when the suite is done (about 1 GB under Wine 8, more under Wine 10); KEEP_PREFIXES=1 keeps them.
if [ -z "${KEEP_PREFIXES:-}" ]; then
    for p in plain win32; do
        [ ! -d "$TEST_DIR/$p" ] || WINEPREFIX=$TEST_DIR/$p "$WINESERVER" -k 2>/dev/null
        rm -rf "${TEST_DIR:?}/$p" "${TEST_DIR:?}/$p.pristine"
    done
fi

echo "prefix: $LIB_PASSED passed, $LIB_FAILED failed, $LIB_SKIPPED skipped ($(($(date +%s) - started)) s)"
lib_write_result "$RESULT"
exit 0
