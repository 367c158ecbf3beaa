#!/usr/bin/env bash
# Installs ole32mem into a Wine prefix, so that unmodified programs linked against ole32.dll use its allocator,
# and removes it again. In the style of DXVK's setup script: one command each way, messages on stderr.
#
#   tools/wineprefix.sh install   [--app NAME.exe] [--hook-combase] [--symlink]
#   tools/wineprefix.sh uninstall
#   tools/wineprefix.sh status
#
# WINEPREFIX must name an existing prefix. `make install-prefix WINEPREFIX=...` / `make uninstall-prefix` call this.
#
# What install does (see docs/wineprefix.md):
#   1. wineboot -u, so that the prefix's ole32.dll is the installed Wine's (skipped when it already is and Wine's
#      own update stamp says the prefix is current);
#   2. per arch (system32: x86_64; syswow64: i686 in a 64-bit prefix, system32 in a 32-bit one): keeps a backup of
#      ole32.dll under $WINEPREFIX/ole32mem-backup/, puts Wine's ole32 beside it as ole32_orig.dll (a copy, or with
#      --symlink a link to Wine's file, which then follows Wine upgrades), and the proxy (build/<arch>/proxy/
#      ole32.dll) in its place;
#   3. sets the DllOverride ole32=native,builtin (HKCU\Software\Wine\DllOverrides, or with --app only
#      HKCU\Software\Wine\AppDefaults\NAME.exe\DllOverrides), and with --hook-combase HKCU\Software\ole32mem
#      HookCombase=1, which the proxy reads at load.
# Every registry value it sets is journaled with its previous state (value or absence, keys it had to create).
#
# Uninstall undoes exactly that, the override first (a prefix whose override names a missing proxy breaks
# wineboot): registry values back to their previous state, created keys removed, ole32.dll restored byte for byte,
# ole32_orig.dll and the backup directory deleted. Without an installation it says so and succeeds.
#
# Install on an installed prefix brings it up to date and says what it changed: the proxy when it was rebuilt, a
# copied ole32_orig.dll that no longer matches Wine's ole32 (Wine was upgraded: a stale copy would pair an old
# ole32 with a new combase), and the scope, mode and hook setting when they differ. Otherwise it changes nothing.
#
# Environment: WINE64, WINE32, WINESERVER (the Makefile's defaults), BUILD (build), WINE_DLLDIR_x86_64 and
# WINE_DLLDIR_i686 (where Wine keeps its PE ole32.dll; Debian's paths by default), WINE_INF (Wine's wine.inf).
set -euo pipefail

log() { printf 'ole32mem-prefix: %s\n' "$*" >&2; }
die() { printf 'ole32mem-prefix: error: %s\n' "$*" >&2; exit 1; }
usage() {
    sed -n '5,7s/^#   //p' "$0" >&2
    exit 2
}

WINE64=${WINE64:-/usr/lib/wine/wine64}
WINE32=${WINE32:-/usr/lib/wine/wine}
WINESERVER=${WINESERVER:-/usr/lib/wine/wineserver}
BUILD=${BUILD:-build}
WINE_DLLDIR_x86_64=${WINE_DLLDIR_x86_64:-/usr/lib/x86_64-linux-gnu/wine/x86_64-windows}
WINE_DLLDIR_i686=${WINE_DLLDIR_i686:-/usr/lib/i386-linux-gnu/wine/i386-windows}
WINE_INF=${WINE_INF:-/usr/share/wine/wine.inf}

action=${1:-}
[ $# -gt 0 ] && shift
app= hook=0 mode=copy
while [ $# -gt 0 ]; do
    case $1 in
        --app) [ $# -ge 2 ] || usage; app=$2; shift 2 ;;
        --app=*) app=${1#--app=}; shift ;;
        --hook-combase) hook=1; shift ;;
        --symlink) mode=symlink; shift ;;
        *) usage ;;
    esac
done
case $action in install | uninstall | status) ;; *) usage ;; esac
case $app in */* | *\\*) die "--app takes a program's file name (foo.exe), not a path: '$app'" ;; esac

[ -n "${WINEPREFIX:-}" ] || die "WINEPREFIX is not set; name the prefix: WINEPREFIX=/path/to/prefix $0 $action"
[ -f "$WINEPREFIX/system.reg" ] ||
    die "$WINEPREFIX is not a Wine prefix (no system.reg); create it first with: WINEPREFIX=$WINEPREFIX wine64 wineboot -i"
WINEPREFIX=$(cd "$WINEPREFIX" && pwd -P)
# Our own wine runs: quiet, and no Mono/Gecko installers popping up in the middle of an update.
export WINEPREFIX WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

STATE_DIR=$WINEPREFIX/ole32mem-backup
STATE=$STATE_DIR/state
JOURNAL=$STATE_DIR/registry
OVERRIDE_VALUE=native,builtin
HOOK_KEY='HKEY_CURRENT_USER\Software\ole32mem'

if grep -q '^#arch=win32' "$WINEPREFIX/system.reg"; then
    prefix_arch=win32 wine=$WINE32
else
    prefix_arch=win64 wine=$WINE64
fi
[ -x "$wine" ] || die "$wine not found: cannot run this $prefix_arch prefix"

# ---- registry ----------------------------------------------------------------------------------------------------

# Lines of `reg query`, without the CRs.
reg_query() { { "$wine" reg query "$@" 2>/dev/null || true; } | tr -d '\r'; }
reg_key_exists() { "$wine" reg query "$1" >/dev/null 2>&1; }

# "TYPE<TAB>DATA" of value $2 in key $1, or nothing.
reg_get() {
    reg_query "$1" /v "$2" | awk -v name="$2" '
        $1 == name && $2 ~ /^REG_/ { type = $2; sub(/^[ \t]*[^ \t]+[ \t]+REG_[A-Z_]+[ \t]*/, ""); print type "\t" $0; exit }'
}

# A key is empty when `reg query` lists neither values nor subkeys: nothing but its own name and blank lines.
reg_key_empty() {
    # The key through the environment: awk -v would read its backslashes as escapes.
    ! reg_query "$1" | REG_KEY=$1 awk 'NF && $0 != ENVIRON["REG_KEY"] { found = 1 } END { exit !found }'
}

# Sets value $2 of key $1 to type $3, data $4, journaling what was there before: "KEY<TAB>NAME<TAB>TYPE<TAB>DATA
# <TAB>TOP", TYPE "-" when the value did not exist, TOP the outermost key this call created ("-" for none).
reg_set() {
    local key=$1 name=$2 type=$3 data=$4 prev top=- k
    prev=$(reg_get "$key" "$name")
    k=$key
    while ! reg_key_exists "$k"; do
        top=$k
        k=${k%\\*}
    done
    [ -n "$prev" ] || prev=$'-\t-'
    printf '%s\t%s\t%s\t%s\n' "$key" "$name" "$prev" "$top" >>"$JOURNAL"
    "$wine" reg add "$key" /v "$name" /t "$type" /d "$data" /f >/dev/null 2>&1 ||
        die "could not set $key\\$name"
}

# Undoes the journal, last entry first.
reg_restore() {
    local key name type data top k
    [ -s "$JOURNAL" ] || return 0
    tac "$JOURNAL" | while IFS=$'\t' read -r key name type data top; do
        if [ "$type" = - ]; then
            "$wine" reg delete "$key" /v "$name" /f >/dev/null 2>&1 || true
        else
            "$wine" reg add "$key" /v "$name" /t "$type" /d "$data" /f >/dev/null 2>&1 ||
                log "warning: could not restore $key\\$name to '$data'"
        fi
        [ "$top" != - ] || continue
        # The keys this entry created, innermost first, while they are empty.
        k=$key
        while reg_key_exists "$k" && reg_key_empty "$k"; do
            "$wine" reg delete "$k" /f >/dev/null 2>&1 || break
            [ "$k" != "$top" ] || break
            k=${k%\\*}
        done
    done
    rm -f "$JOURNAL"
}

override_key() {
    if [ -n "$1" ]; then
        printf '%s' "HKEY_CURRENT_USER\\Software\\Wine\\AppDefaults\\$1\\DllOverrides"
    else
        printf '%s' 'HKEY_CURRENT_USER\Software\Wine\DllOverrides'
    fi
}

# ---- files -------------------------------------------------------------------------------------------------------

# Arches of this prefix, with the Windows directory that holds each one's ole32.dll: "ARCH DIR" lines.
prefix_dirs() {
    local sys
    sys=$("$wine" winepath -u 'C:\windows\system32' 2>/dev/null | tr -d '\r') || true
    [ -d "$sys" ] || die "winepath found no system32 directory in $WINEPREFIX"
    if [ $prefix_arch = win32 ]; then
        echo "i686 $(cd "$sys" && pwd -P)"
        return
    fi
    echo "x86_64 $(cd "$sys" && pwd -P)"
    sys=$("$wine" winepath -u 'C:\windows\syswow64' 2>/dev/null | tr -d '\r') || true
    if [ -f "$sys/ole32.dll" ]; then
        echo "i686 $(cd "$sys" && pwd -P)"
    else
        log "no 32-bit ole32.dll in this prefix (created without wine32?): installing the 64-bit side only"
    fi
}

builtin_dir() { eval "printf '%s' \"\$WINE_DLLDIR_$1\""; }

# Replaces $2 by a copy of $1 without ever truncating the file in place (a running program may have it mapped).
put_file() {
    cp -p "$1" "$2.ole32mem-new" && mv -f "$2.ole32mem-new" "$2"
}

is_wine_builtin() { grep -q 'Wine builtin DLL' "$1" 2>/dev/null; }

# Places ole32_orig.dll in $2 for arch $1 per $mode; says what it did when $3 is "verbose".
place_orig() {
    local arch=$1 dir=$2 builtin
    builtin=$(builtin_dir "$arch")/ole32.dll
    if [ $mode = symlink ]; then
        [ -r "$builtin" ] || die "--symlink needs Wine's $arch ole32.dll at $builtin (set WINE_DLLDIR_$arch)"
        ln -sfn "$builtin" "$dir/ole32_orig.dll.ole32mem-new" && mv -Tf "$dir/ole32_orig.dll.ole32mem-new" "$dir/ole32_orig.dll"
    elif [ -r "$builtin" ]; then
        put_file "$builtin" "$dir/ole32_orig.dll"
    else
        log "warning: Wine's $arch ole32.dll is not at $builtin; copying the prefix's ole32.dll (set WINE_DLLDIR_$arch)"
        put_file "$STATE_DIR/$arch/ole32.dll" "$dir/ole32_orig.dll"
    fi
}

# Whether ole32_orig.dll in $2 is what place_orig would put there now.
orig_current() {
    local arch=$1 dir=$2 builtin
    builtin=$(builtin_dir "$arch")/ole32.dll
    [ -r "$builtin" ] || return 0
    if [ $mode = symlink ]; then
        [ -L "$dir/ole32_orig.dll" ] && [ "$(readlink "$dir/ole32_orig.dll")" = "$builtin" ]
    else
        [ ! -L "$dir/ole32_orig.dll" ] && cmp -s "$builtin" "$dir/ole32_orig.dll"
    fi
}

# wineboot -u takes 20 s; it is needed unless Wine itself would consider the prefix current (its .update-timestamp
# holds wine.inf's mtime) and every ole32.dll to be replaced already is this Wine's.
prefix_up_to_date() {
    local line builtin
    [ -r "$WINE_INF" ] && [ -r "$WINEPREFIX/.update-timestamp" ] || return 1
    [ "$(head -c 64 "$WINEPREFIX/.update-timestamp" | tr -d '\r\n')" = "$(stat -c %Y "$WINE_INF")" ] || return 1
    for line in "${dirs[@]}"; do
        builtin=$(builtin_dir "${line%% *}")/ole32.dll
        cmp -s "$builtin" "${line#* }/ole32.dll" || return 1
    done
}

proxy_file() {
    local f="$BUILD/$1/proxy/ole32.dll"
    [ -f "$f" ] || die "$f is missing: build it first (make install-prefix does)"
    printf '%s' "$f"
}

read_state() {
    local key value
    installed_mode= installed_hook= installed_app= installed_dirs=()
    while IFS='=' read -r key value; do
        case $key in
            mode) installed_mode=$value ;;
            hook) installed_hook=$value ;;
            app) installed_app=$value ;;
            dir) installed_dirs+=("$value") ;;
        esac
    done <"$STATE"
}

write_state() {
    local line
    {
        echo "mode=$mode"
        echo "hook=$hook"
        echo "app=$app"
        for line in "${dirs[@]}"; do echo "dir=$line"; done
    } >"$STATE.new"
    mv -f "$STATE.new" "$STATE"
}

set_registry() {
    reg_set "$(override_key "$app")" ole32 REG_SZ "$OVERRIDE_VALUE"
    if [ $hook = 1 ]; then
        reg_set "$HOOK_KEY" HookCombase REG_DWORD 1
    fi
}

# Whether the registry still says what set_registry wrote.
registry_current() {
    [ "$(reg_get "$(override_key "$app")" ole32)" = "REG_SZ	$OVERRIDE_VALUE" ] || return 1
    [ $hook = 0 ] || [ "$(reg_get "$HOOK_KEY" HookCombase)" = "REG_DWORD	0x1" ]
}

describe() {
    if [ -n "$app" ]; then printf 'for %s only' "$app"; else printf 'for every program'; fi
    printf ', ole32_orig.dll as a %s' "$mode"
    [ "$1" = 1 ] && printf ', combase hooked'
    return 0
}

# ---- actions -----------------------------------------------------------------------------------------------------

do_status() {
    if [ ! -f "$STATE" ]; then
        log "ole32mem is not installed in $WINEPREFIX"
        return 0
    fi
    read_state
    mode=$installed_mode app=$installed_app
    log "ole32mem is installed in $WINEPREFIX ($(describe "$installed_hook"))"
    for line in "${installed_dirs[@]}"; do
        orig_current "${line%% *}" "${line#* }" || log "${line%% *}: ole32_orig.dll is stale (Wine was upgraded); run install again"
    done
}

do_uninstall() {
    local line arch dir
    if [ ! -f "$STATE" ]; then
        for dir in "$WINEPREFIX"/drive_c/windows/system32 "$WINEPREFIX"/drive_c/windows/syswow64; do
            [ ! -e "$dir/ole32_orig.dll" ] ||
                log "warning: $dir/ole32_orig.dll exists but no installation is recorded; left alone"
        done
        log "ole32mem is not installed in $WINEPREFIX; nothing to do"
        return 0
    fi
    read_state
    # The override goes first: with it but without the proxy, Wine would load no ole32 at all.
    reg_restore
    "$WINESERVER" -w
    for line in "${installed_dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        if [ -f "$STATE_DIR/$arch/ole32.dll" ]; then
            put_file "$STATE_DIR/$arch/ole32.dll" "$dir/ole32.dll"
        else
            log "warning: no backup of the $arch ole32.dll; left $dir/ole32.dll as it is"
        fi
        rm -f "$dir/ole32_orig.dll"
        log "$arch: restored $dir/ole32.dll"
        [ ! -r "$(builtin_dir "$arch")/ole32.dll" ] || cmp -s "$dir/ole32.dll" "$(builtin_dir "$arch")/ole32.dll" ||
            log "$arch: Wine's ole32 changed since the install; run wineboot -u to bring the prefix up to date"
    done
    rm -rf "$STATE_DIR"
    log "ole32mem uninstalled from $WINEPREFIX"
}

do_install_fresh() {
    local arch dir line proxy
    mapfile -t dirs < <(prefix_dirs)
    [ ${#dirs[@]} -gt 0 ] || die "found no ole32.dll to replace in $WINEPREFIX"
    if prefix_up_to_date; then
        log "the prefix is up to date with this Wine (skipping wineboot -u)"
    else
        log "updating the prefix (wineboot -u)"
        "$wine" wineboot -u >/dev/null 2>&1 || die "wineboot -u failed in $WINEPREFIX"
        "$WINESERVER" -w
    fi
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        proxy_file "$arch" >/dev/null
        [ -f "$dir/ole32.dll" ] || die "$dir/ole32.dll does not exist"
        # A native ole32 (winetricks) is not ours to wrap: the proxy forwards to whatever ole32_orig is.
        is_wine_builtin "$dir/ole32.dll" ||
            die "$dir/ole32.dll is not Wine's builtin ole32 (a native ole32 installed?); refusing to replace it"
        [ ! -e "$dir/ole32_orig.dll" ] || log "warning: replacing a leftover $dir/ole32_orig.dll"
    done
    mkdir -p "$STATE_DIR"
    : >"$JOURNAL"
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        mkdir -p "$STATE_DIR/$arch"
        cp -p "$dir/ole32.dll" "$STATE_DIR/$arch/ole32.dll"
    done
    # Recorded before anything in system32 changes, so that an interrupted install can be uninstalled.
    write_state
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        proxy=$(proxy_file "$arch")
        place_orig "$arch" "$dir"
        put_file "$proxy" "$dir/ole32.dll"
        log "$arch: installed the proxy in $dir"
    done
    set_registry
    "$WINESERVER" -w
    log "ole32mem installed in $WINEPREFIX ($(describe $hook))"
}

do_install_update() {
    local arch dir line proxy changed=0
    read_state
    dirs=("${installed_dirs[@]}")
    if [ "$installed_app" != "$app" ] || [ "$installed_hook" != "$hook" ]; then
        log "changing the installation from ($(mode=$installed_mode app=$installed_app describe "$installed_hook")) to ($(describe $hook))"
        reg_restore
        : >"$JOURNAL"
        set_registry
        changed=1
    elif ! registry_current; then
        log "the override was changed or lost since the install; setting it again"
        reg_restore
        : >"$JOURNAL"
        set_registry
        changed=1
    fi
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        proxy=$(proxy_file "$arch")
        if ! cmp -s "$proxy" "$dir/ole32.dll"; then
            put_file "$proxy" "$dir/ole32.dll"
            log "$arch: updated the proxy in $dir"
            changed=1
        fi
        if [ "$installed_mode" != "$mode" ]; then
            place_orig "$arch" "$dir"
            log "$arch: ole32_orig.dll is now a $mode"
            changed=1
        elif ! orig_current "$arch" "$dir"; then
            place_orig "$arch" "$dir"
            log "$arch: refreshed the stale ole32_orig.dll from $(builtin_dir "$arch") (Wine was upgraded)"
            changed=1
        fi
    done
    write_state
    "$WINESERVER" -w
    if [ $changed = 1 ]; then
        log "ole32mem installation in $WINEPREFIX updated ($(describe $hook))"
    else
        log "ole32mem is already installed in $WINEPREFIX ($(describe $hook)); nothing to do"
    fi
}

case $action in
    status) do_status ;;
    uninstall) do_uninstall ;;
    install)
        if [ -f "$STATE" ]; then
            do_install_update
        else
            do_install_fresh
        fi
        ;;
esac
