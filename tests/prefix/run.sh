#!/usr/bin/env bash
# The "prefix" suite of `make check`: ole32mem installed into Wine prefixes by tools/wineprefix.sh, end to end.
#
# Two fresh prefixes under $TEST_DIR (never the conformance tests' build/wineprefix), each made with wine64 after
# wine32 is installed so that it runs both arches:
#   plain  install (copy) -> prefix_e2e installed; with OLE32MEM_HOOK_COMBASE=1 -> hooked; install again is a
#          no-op; regsvr32 ole32.dll does not re-register anything to ole32_orig.dll; a stale ole32_orig.dll (a
#          fake Wine upgrade via WINE_DLLDIR_x86_64) is refreshed; uninstall -> byte-identical ole32.dll, no
#          override, prefix_e2e builtin; uninstall again is a no-op; install --app --symlink -> only that program
#          gets the proxy; uninstall -> identical again.
#   hook   (with an ole32=builtin override set beforehand) install --hook-combase -> hooked; with
#          OLE32MEM_HOOK_COMBASE=0 -> installed; uninstall -> identical, the earlier override back, no HookCombase
#          key.
# Each prefix_e2e run counts its own checks (its summary line); each step of this script counts as one check.
# Writes "PASSED FAILED SKIPPED" to $RESULT; exits 0 when it could run, whatever the results.
#
# Environment (from mk/prefix.mk): ARCHES, TEST_DIR, BUILD, WINE64, WINE32, WINESERVER, WINE_DLLDIR_x86_64,
# WINE_DLLDIR_i686, RESULT.
set -u

: "${ARCHES:=x86_64 i686}" "${BUILD:=build}" "${TEST_DIR:=$BUILD/prefix-tests}" "${RESULT:=$BUILD/results/prefix}"
: "${WINE64:=/usr/lib/wine/wine64}" "${WINE32:=/usr/lib/wine/wine}" "${WINESERVER:=/usr/lib/wine/wineserver}"
export BUILD WINE64 WINE32 WINESERVER WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
SCRIPT=tools/wineprefix.sh
OVERRIDE_KEY='HKEY_CURRENT_USER\Software\Wine\DllOverrides'
APP_KEY='HKEY_CURRENT_USER\Software\Wine\AppDefaults\prefix_e2e.exe'
HOOK_KEY='HKEY_CURRENT_USER\Software\ole32mem'

passed=0 failed=0 skipped=0
TEST_DIR=$(mkdir -p "$TEST_DIR" && cd "$TEST_DIR" && pwd -P)

check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "prefix: Test failed: $what"
    fi
}

wine_for() { if [ "$1" = i686 ]; then echo "$WINE32"; else echo "$WINE64"; fi; }

runnable_arches=
for arch in $ARCHES; do
    if [ -x "$(wine_for "$arch")" ]; then
        runnable_arches="$runnable_arches $arch"
    else
        echo "prefix: $arch skipped: $(wine_for "$arch") not found"
        skipped=$((skipped + 1))
    fi
done

# Runs prefix_e2e STATE on every arch (extra environment in $@ before the state) and adds up its summary line.
e2e() {
    local arch out line p f s exe state=${*: -1} vars=("${@:1:$#-1}")
    for arch in $runnable_arches; do
        exe=$TEST_DIR/$arch/${E2E_EXE:-prefix_e2e.exe}
        out=$(env "${vars[@]}" "$(wine_for "$arch")" "$exe" "$state" 2>&1)
        line=$(grep -E '^prefix_e2e [a-z]+ \([a-z0-9]+\): [0-9]+ passed' <<<"$out" | tail -1)
        if [ -z "$line" ]; then
            echo "$out" | tail -20
            echo "prefix: Test failed: $arch: $exe $state ended without a summary (crashed?)"
            failed=$((failed + 1))
            continue
        fi
        grep -v '^prefix_e2e ' <<<"$out" | sed "s/^/$arch: /"
        read -r p f s <<<"$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"$line")"
        echo "$arch: $line"
        passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    done
}

new_prefix() {
    export WINEPREFIX=$TEST_DIR/$1
    [ ! -d "$WINEPREFIX" ] || "$WINESERVER" -k 2>/dev/null
    rm -rf "$WINEPREFIX"
    mkdir -p "$WINEPREFIX"
    "$WINE64" wineboot -i >/dev/null 2>&1
    "$WINESERVER" -w
    SYS64=$WINEPREFIX/drive_c/windows/system32 SYS32=$WINEPREFIX/drive_c/windows/syswow64
    [ -f "$SYS64/ole32.dll" ] || { echo "prefix: could not create $WINEPREFIX" >&2; exit 1; }
    BEFORE=$(snapshot)
}

# The state that uninstall must give back: ole32.dll of both arches, byte for byte, and no ole32_orig.dll.
# The diagnostics reach programs through the prefix install: OLE32MEM_DEBUG=leaks reports prefix_e2e's known leak
# (1234 bytes) with the program's module, and only when the proxy serves the program ($1: yes or no).
leak_report() {
    local arch out
    for arch in $runnable_arches; do
        out=$(OLE32MEM_DEBUG=leaks "$(wine_for "$arch")" "$TEST_DIR/$arch/prefix_e2e.exe" leak 2>&1)
        if [ "$1" = yes ]; then
            check "$arch: OLE32MEM_DEBUG=leaks reports the program's leak through the prefix install" \
                grep -q 'leaks: *1234 bytes in 1 blocks from prefix_e2e.exe+0x' <<<"$out"
        else
            check "$arch: without the install OLE32MEM_DEBUG changes nothing" \
                bash -c '! grep -q "^ole32mem:" <<<"$1"' - "$out"
        fi
    done
}

snapshot() { (cd "$WINEPREFIX/drive_c/windows" && sha256sum system32/ole32*.dll syswow64/ole32*.dll 2>/dev/null); }

reg_absent() { ! "$WINE64" reg query "$@" >/dev/null 2>&1; }
reg_is() { "$WINE64" reg query "$1" /v "$2" 2>/dev/null | tr -d '\r' | grep -q "$3"; }
wineprefix() { bash "$SCRIPT" "$@" 2>"$TEST_DIR/script.log"; }
said() { grep -q "$1" "$TEST_DIR/script.log"; }
both_orig() {
    local test=$1
    for dir in "$SYS64" $([[ " $runnable_arches " == *" i686 "* ]] && echo "$SYS32"); do
        $test "$dir/ole32_orig.dll" || return 1
    done
}
is_symlink() { [ -L "$1" ]; }
is_file() { [ -f "$1" ] && [ ! -L "$1" ]; }

# After an uninstall: $1 names the step, $2 the ole32 override the prefix had before install (none if empty).
check_restored() {
    check "$1: ole32.dll restored byte for byte, no ole32_orig.dll" [ "$(snapshot)" = "$BEFORE" ]
    if [ -z "${2:-}" ]; then
        check "$1: no ole32 DllOverride" reg_absent "$OVERRIDE_KEY" /v ole32
    else
        check "$1: the earlier ole32 DllOverride '$2' is back" reg_is "$OVERRIDE_KEY" ole32 "REG_SZ *$2\$"
    fi
    check "$1: no backup directory left" [ ! -e "$WINEPREFIX/ole32mem-backup" ]
}

echo "prefix: creating $TEST_DIR/plain"
new_prefix plain
check "fresh prefix: no ole32 DllOverride" reg_absent "$OVERRIDE_KEY" /v ole32
e2e builtin
leak_report no

check "install: succeeds" wineprefix install
check "install: ole32_orig.dll copied beside the proxy" both_orig is_file
check "install: override ole32=native,builtin" reg_is "$OVERRIDE_KEY" ole32 'native,builtin'
e2e installed
leak_report yes
e2e OLE32MEM_HOOK_COMBASE=1 hooked

installed=$(snapshot)
check "install again: succeeds" wineprefix install
check "install again: says nothing to do" said 'nothing to do'
check "install again: changes no file" [ "$(snapshot)" = "$installed" ]

for arch in $runnable_arches; do
    "$(wine_for "$arch")" regsvr32 /s ole32.dll >/dev/null 2>&1
    check "$arch: regsvr32 ole32.dll through the proxy succeeds" [ $? -eq 0 ]
done
"$WINESERVER" -w
check "regsvr32: nothing registered under ole32_orig.dll" bash -c "! grep -qi ole32_orig '$WINEPREFIX/system.reg'"

# A Wine upgrade, simulated: Wine's x86_64 ole32.dll "changes" (one byte appended: still a loadable PE).
fake=$TEST_DIR/fake-wine-upgrade
mkdir -p "$fake"
cp "${WINE_DLLDIR_x86_64:-/usr/lib/x86_64-linux-gnu/wine/x86_64-windows}/ole32.dll" "$fake/ole32.dll"
printf 'x' >>"$fake/ole32.dll"
check "stale ole32_orig.dll: install succeeds" env WINE_DLLDIR_x86_64="$fake" bash "$SCRIPT" install 2>"$TEST_DIR/script.log"
check "stale ole32_orig.dll: install says it refreshed it" said 'refreshed the stale ole32_orig.dll'
check "stale ole32_orig.dll: refreshed from Wine's file" cmp -s "$fake/ole32.dll" "$SYS64/ole32_orig.dll"
check "after the upgrade: install again refreshes back" wineprefix install
check "after the upgrade: ole32_orig.dll is Wine's again" cmp -s "${WINE_DLLDIR_x86_64:-/usr/lib/x86_64-linux-gnu/wine/x86_64-windows}/ole32.dll" "$SYS64/ole32_orig.dll"
rm -rf "$fake"

check "uninstall: succeeds" wineprefix uninstall
check_restored uninstall
e2e builtin
check "uninstall again: succeeds" wineprefix uninstall
check "uninstall again: says nothing to do" said 'not installed'

check "install --app --symlink: succeeds" wineprefix install --app prefix_e2e.exe --symlink
check "install --symlink: ole32_orig.dll is a symlink" both_orig is_symlink
check "install --app: no global override" reg_absent "$OVERRIDE_KEY" /v ole32
check "install --app: the program's override" reg_is "$APP_KEY\\DllOverrides" ole32 'native,builtin'
e2e installed
for arch in $runnable_arches; do
    cp "$TEST_DIR/$arch/prefix_e2e.exe" "$TEST_DIR/$arch/other_e2e.exe"
done
E2E_EXE=other_e2e.exe e2e builtin
check "uninstall --app: succeeds" wineprefix uninstall
check_restored "uninstall --app"
check "uninstall --app: the program's AppDefaults key is gone" reg_absent "$APP_KEY"
"$WINESERVER" -k 2>/dev/null

echo "prefix: creating $TEST_DIR/hook"
new_prefix hook
# An override the user had before: uninstall must give it back, not delete it.
"$WINE64" reg add "$OVERRIDE_KEY" /v ole32 /d builtin /f >/dev/null 2>&1
check "install --hook-combase: succeeds" wineprefix install --hook-combase
check "install --hook-combase: HookCombase=1" reg_is "$HOOK_KEY" HookCombase 0x1
e2e hooked
e2e OLE32MEM_HOOK_COMBASE=0 installed
check "uninstall --hook-combase: succeeds" wineprefix uninstall
check_restored "uninstall --hook-combase" builtin
check "uninstall --hook-combase: no ole32mem key" reg_absent "$HOOK_KEY"
e2e builtin
"$WINESERVER" -k 2>/dev/null

echo "prefix: $passed passed, $failed failed, $skipped skipped"
mkdir -p "$(dirname "$RESULT")"
echo "$passed $failed $skipped" >"$RESULT"
exit 0
