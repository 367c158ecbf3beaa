#!/usr/bin/env bash
# The "upgrade" suite of `make check-wine10`: a Wine prefix into which ole32mem was installed under one Wine (this
# machine's, Wine 8), then used under another (the Debian 13 root's Wine 10) — what a user has after upgrading
# Wine. It tests the installer's contract there, not its wording:
#   1. under the old Wine: a fresh 64-bit prefix, install (exit 0, each arch's proxy of the old build in
#      system32/syswow64, the prefix's program served by it);
#   2. under the new Wine, install with the new build over the old install: either it succeeds (exit 0, the new
#      build's proxy, ole32_orig.dll the new Wine's own ole32, the program served by the proxy) or it refuses
#      (exit status not 0, the prefix's ole32 files and override exactly as before);
#   3. under the new Wine, uninstall: exit 0, no proxy and no ole32_orig.dll left, ole32.dll a Wine builtin, the
#      override gone, the program running COM on Wine's builtin;
#   4. under the new Wine, install again: exit 0, the new build's proxy and the new Wine's ole32 as ole32_orig.dll,
#      the program served by the proxy; uninstall: exit 0, Wine's builtin again;
#   5. under the new Wine, install with the OLD build's proxy (made from the old Wine's ole32: Wine 10's adds
#      RoGetAgileReference and moves the later ordinals): refused with the prefix as before, or installed with a proxy
#      that exports everything the new Wine's ole32 exports — never a proxy that lacks some;
#   6. the old build tree, made again after the upgrade (`make proxy` with the new Wine's ole32, a copy of the tree
#      with its dates as they were: dpkg keeps a package's file dates, so the new ole32.dll is older than the
#      proxy's .def): the proxy exports everything the new Wine's ole32 exports.
# After every successful install, each arch's proxy exports every name of the ole32_orig.dll beside it.
# "The program" is tests/prefix/prefix_e2e.c (an ordinary COM program: its own checks, summary line and all) on
# every arch that runs here. The prefix is removed at the end.
#
# Environment (from mk/wine10.mk's check-upgrade): ARCHES, OLD_BUILD and NEW_BUILD (the two build trees: each
# <arch>/proxy/ole32.dll, prefix-tests/<arch>/prefix_e2e.exe), NEW_RUN (the command that runs a command under the new
# Wine: tools/wine-root.sh run ...), WINE_DLLDIR_x86_64 and WINE_DLLDIR_i686 (the new Wine's PE directories, by a path
# valid outside and inside the root), OLD_DLLDIR_x86_64 and OLD_DLLDIR_i686 (the old Wine's: Debian's paths by
# default), WINE64, WINE32, WINESERVER (the same paths for both Wines), TEST_DIR, RESULT.
# Writes "PASSED FAILED SKIPPED" to $RESULT; exits 0 when it could run, whatever the results.
set -u

: "${ARCHES:=x86_64 i686}" "${OLD_BUILD:=build}" "${NEW_BUILD:=build/wine10}" "${NEW_RUN:?NEW_RUN must be set}"
: "${TEST_DIR:=$NEW_BUILD/upgrade-tests}" "${RESULT:=$NEW_BUILD/results/upgrade}"
: "${OLD_DLLDIR_x86_64:=/usr/lib/x86_64-linux-gnu/wine/x86_64-windows}"
: "${OLD_DLLDIR_i686:=/usr/lib/i386-linux-gnu/wine/i386-windows}"
: "${WINE_DLLDIR_x86_64:?}" "${WINE_DLLDIR_i686:?}"
LIB_NAME=upgrade
. tests/lib.sh
lib_wine_env
SCRIPT=$PWD/tools/wineprefix.sh
TEST_DIR=$(mkdir -p "$TEST_DIR" && cd "$TEST_DIR" && pwd -P)
OLD_BUILD=$(cd "$OLD_BUILD" && pwd -P)
NEW_BUILD=$(cd "$NEW_BUILD" && pwd -P)
export WINEPREFIX=$TEST_DIR/prefix
LOG=$TEST_DIR/installer.log
started=$(date +%s)

# old CMD...: under this machine's Wine; new CMD...: under the root's (in a run of its own, which ends when CMD does).
old() { "$@"; }
new() { eval "$NEW_RUN"' "$@"'; }
new_wine_version=$(new "$WINE64" --version 2>/dev/null | tr -d '\r')
old_wine_version=$("$WINE64" --version 2>/dev/null)

# The arches whose programs run here (the root's wine32 needs a kernel that runs 32-bit programs too).
arches=
for arch in $ARCHES; do
    if lib_arch_can_run "$arch"; then arches="$arches $arch"; else lib_skip "$LIB_ARCH_SKIP_REASON"; fi
done
# Where each arch's ole32.dll is in the (64-bit) prefix.
sysdir() {
    local d=system32
    [ "$1" != i686 ] || d=syswow64
    echo "$WINEPREFIX/drive_c/windows/$d"
}
dlldir() { eval "printf '%s' \"\$$1_$2\""; }

# installer WHICH VERB [BUILD]: tools/wineprefix.sh VERB under the old or the new Wine, with that side's Wine
# directories and build (or BUILD); its messages go to $LOG. Returns its exit status.
installer() {
    local which=$1 build dir32 dir64
    if [ "$which" = old ]; then
        build=$OLD_BUILD dir64=$OLD_DLLDIR_x86_64 dir32=$OLD_DLLDIR_i686
    else
        build=$NEW_BUILD dir64=$WINE_DLLDIR_x86_64 dir32=$WINE_DLLDIR_i686
    fi
    build=${3:-$build}
    set -- "$2"
    echo "--- $which: wineprefix.sh $*" >>"$LOG"
    "$which" env BUILD="$build" WINE_DLLDIR_x86_64="$dir64" WINE_DLLDIR_i686="$dir32" bash "$SCRIPT" "$@" >>"$LOG" 2>&1
}

# e2e WHICH STATE: prefix_e2e STATE (builtin, installed) on every arch under that Wine; its checks count here.
e2e() {
    local which=$1 state=$2 arch out
    for arch in $arches; do
        out=$("$which" "$(lib_wine_for "$arch")" "$TEST_DIR/$arch/prefix_e2e.exe" "$state" 2>&1)
        if ! lib_add_summary "$out" '^prefix_e2e [a-z]+ \([a-z0-9]+\): [0-9]+ passed'; then
            tail -20 <<<"$out" | sed "s/^/upgrade: $which $arch: /"
            lib_fail "$which Wine, $arch: prefix_e2e $state ended without a summary (crashed?)"
            continue
        fi
        grep -E 'Test failed' <<<"$out" | sed "s/^/upgrade: $which $arch: /"
        echo "upgrade: $which Wine, $arch: $LIB_LINE"
    done
}

# The prefix's ole32 files and override, as text (for "exactly as before").
snapshot() {
    (cd "$WINEPREFIX" && find drive_c/windows/system32 drive_c/windows/syswow64 -maxdepth 1 -iname 'ole32*.dll' \
        2>/dev/null | sort | while read -r f; do echo "$(sha256sum <"$f" | cut -c1-64) $f"; done)
    grep -i '^"ole32"=' "$WINEPREFIX/user.reg"
}
override_gone() { ! grep -qi '^"ole32"=' "$WINEPREFIX/user.reg"; }

# The export names of DLL for ARCH (the cross objdump's name table).
export_names() {
    "${1}-w64-mingw32-objdump" -p "$2" | awk '/\[Ordinal\/Name Pointer\] Table/ { on = 1; next }
        on && /^\t\[ *[0-9]+\] / { print $3; next } on { on = 0 }' | sort -u
}
# covers ARCH PROXY DLL: PROXY exports every name DLL exports (it forwards what it does not implement).
covers() {
    local missing
    missing=$(comm -13 <(export_names "$1" "$2") <(export_names "$1" "$3"))
    [ -z "$missing" ] && [ -n "$(export_names "$1" "$3")" ] && return 0
    echo "upgrade: $1: $2 lacks exports of $3: $(echo $missing)"
    return 1
}
# proxies_cover: after an install, each arch's proxy exports everything of the ole32_orig.dll beside it.
proxies_cover() {
    local arch ok=0
    for arch in $arches; do
        covers "$arch" "$(sysdir "$arch")/ole32.dll" "$(sysdir "$arch")/ole32_orig.dll" || ok=1
    done
    return $ok
}

# installed_by BUILD DLLDIR-VAR: every arch's ole32.dll is BUILD's proxy and ole32_orig.dll that Wine's own ole32.
installed_by() {
    local arch ok=0
    proxies_cover || ok=1
    for arch in $arches; do
        cmp -s "$1/$arch/proxy/ole32.dll" "$(sysdir "$arch")/ole32.dll" ||
            { echo "upgrade: $arch: $(sysdir "$arch")/ole32.dll is not $1/$arch/proxy/ole32.dll"; ok=1; }
        cmp -s "$(dlldir "$2" "$arch")/ole32.dll" "$(sysdir "$arch")/ole32_orig.dll" ||
            { echo "upgrade: $arch: ole32_orig.dll is not $(dlldir "$2" "$arch")/ole32.dll"; ok=1; }
    done
    return $ok
}
# Wine's builtin again: no proxy, no ole32_orig.dll, ole32.dll a Wine builtin DLL.
builtin_again() {
    local arch ok=0 dir
    for arch in $arches; do
        dir=$(sysdir "$arch")
        [ ! -e "$dir/ole32_orig.dll" ] || { echo "upgrade: $arch: $dir/ole32_orig.dll is left"; ok=1; }
        grep -q 'Wine builtin DLL' "$dir/ole32.dll" ||
            { echo "upgrade: $arch: $dir/ole32.dll is no Wine builtin"; ok=1; }
    done
    return $ok
}

# The old Wine's server must be gone before the new Wine opens the prefix (the two cannot see each other's server):
# waiting lets it save the registry. A run under the new Wine ends every process it started (tools/wine-root.sh).
old_server_done() { "$WINESERVER" -w; }

# ---- the cases ------------------------------------------------------------------------------------------------------

echo "upgrade: from $old_wine_version (this machine) to $new_wine_version (the root)"
[ -n "$new_wine_version" ] || { lib_fail "the new Wine does not start ($NEW_RUN $WINE64 --version)"; arches=; }
for arch in $arches; do
    mkdir -p "$TEST_DIR/$arch"
    cp "$NEW_BUILD/prefix-tests/$arch/prefix_e2e.exe" "$TEST_DIR/$arch/" ||
        { lib_fail "$arch: no prefix_e2e.exe in $NEW_BUILD/prefix-tests"; arches=; }
done
if [ -n "$arches" ]; then
    rm -rf "$WINEPREFIX" "$LOG"
    mkdir -p "$WINEPREFIX"
    "$WINE64" wineboot -i >/dev/null 2>&1
    "$WINESERVER" -w
    lib_check "old Wine: the prefix is made" [ -f "$WINEPREFIX/system.reg" ]

    # 1. Installed under the old Wine.
    lib_check "old Wine: install succeeds" installer old install
    lib_check "old Wine: the old build's proxies are installed" installed_by "$OLD_BUILD" OLD_DLLDIR
    e2e old installed
    old_server_done

    # 2. The new Wine, installing its build over the old install.
    before=$(snapshot)
    if installer new install; then
        lib_pass
        echo "upgrade: new Wine: install over the old install succeeded"
        lib_check "new Wine: after an install over the old one, the new build and Wine's ole32 are installed" \
            installed_by "$NEW_BUILD" WINE_DLLDIR
        e2e new installed
    else
        lib_pass
        echo "upgrade: new Wine: install over the old install refused: $(grep -v '^---' "$LOG" | tail -1)"
        lib_check "new Wine: a refused install leaves the prefix's ole32 files and override as they were" \
            [ "$(snapshot)" = "$before" ]
    fi

    # 3. Uninstalled under the new Wine.
    lib_check "new Wine: uninstall succeeds" installer new uninstall
    lib_check "new Wine: after uninstall, ole32.dll is Wine's builtin and nothing of ours is left" builtin_again
    lib_check "new Wine: after uninstall, the ole32 override is gone" override_gone
    e2e new builtin

    # 4. Installed and uninstalled again under the new Wine.
    lib_check "new Wine: install again succeeds" installer new install
    lib_check "new Wine: the new build's proxies and the new Wine's ole32 are installed" \
        installed_by "$NEW_BUILD" WINE_DLLDIR
    e2e new installed
    lib_check "new Wine: uninstall again succeeds" installer new uninstall
    lib_check "new Wine: Wine's builtin ole32 again" builtin_again
    e2e new builtin

    # 5. The old build's proxy (the old Wine's exports) into the prefix under the new Wine.
    before=$(snapshot)
    if installer new install "$OLD_BUILD"; then
        lib_pass
        echo "upgrade: new Wine: install with the old build's proxy: accepted"
        lib_check "new Wine: a proxy made for the old Wine is installed only if it exports all of the new ole32" \
            proxies_cover
        installer new uninstall || lib_fail "new Wine: uninstall after the old build's proxy failed"
    else
        lib_pass
        echo "upgrade: new Wine: install with the old build's proxy refused: $(grep -v '^---' "$LOG" | tail -1)"
        lib_check "new Wine: a refused install of the old build's proxy leaves the prefix as it was" \
            [ "$(snapshot)" = "$before" ]
    fi
    sed 's/^/upgrade: installer: /' "$LOG"

    # 6. The old build tree made again after the upgrade (a copy, dates kept), with the new Wine's ole32.
    stale=$TEST_DIR/old-build
    rm -rf "$stale"
    mkdir -p "$stale"
    cp -a "$OLD_BUILD/include" "$stale/"
    for arch in $ARCHES; do
        mkdir -p "$stale/$arch" && cp -a "$OLD_BUILD/$arch/obj" "$OLD_BUILD/$arch/proxy" "$stale/$arch/"
    done
    if make --no-print-directory -s BUILD="$stale" SKIP_DEPS=1 WINE_DLLDIR_x86_64="$WINE_DLLDIR_x86_64" \
        WINE_DLLDIR_i686="$WINE_DLLDIR_i686" proxy >"$TEST_DIR/old-build.log" 2>&1; then
        lib_pass
        for arch in $ARCHES; do
            lib_check "$arch: the old build tree's proxy, made again after the upgrade, exports all of the new ole32" \
                covers "$arch" "$stale/$arch/proxy/ole32.dll" "$(dlldir WINE_DLLDIR "$arch")/ole32.dll"
        done
    else
        sed 's/^/upgrade: make proxy: /' "$TEST_DIR/old-build.log"
        lib_fail "make proxy in the old build tree after the upgrade failed"
    fi
    rm -rf "$stale"
fi
[ "$LIB_FAILED" = 0 ] || echo "upgrade: the prefix's installer log is above"
rm -rf "$WINEPREFIX"
echo "upgrade: $LIB_PASSED passed, $LIB_FAILED failed, $LIB_SKIPPED skipped ($(($(date +%s) - started)) s)"
lib_write_result "$RESULT"
exit 0
