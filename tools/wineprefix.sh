#!/usr/bin/env bash
# Installs ole32mem into one Wine prefix, so that unmodified programs linked against ole32.dll use its allocator,
# and removes it again. In the style of DXVK's setup script: one command each way, messages on stderr.
#
#   tools/wineprefix.sh install   [--app NAME.exe] [--hook-combase] [--symlink] [--force]
#   tools/wineprefix.sh uninstall [--force]
#   tools/wineprefix.sh status
#
# WINEPREFIX must name an existing prefix. `make install-prefix WINEPREFIX=...` / `make uninstall-prefix` call this.
#
# Invariants (docs/wineprefix.md says what the user gets from them):
#   - Confinement. WINEPREFIX is resolved once (realpath) into $P; every path written is $P/<relative path>, its
#     directory must resolve inside $P, and nothing is ever written through a symlink. The record of an
#     installation (ole32mem-backup/installed) holds only paths relative to the prefix, so a copied or moved prefix
#     carries a record that acts on itself. Records of older versions (absolute paths) are read as relative to the
#     prefix named when they point into some prefix's drive_c/windows, and refused otherwise.
#   - Transactions. install and uninstall each run as one transaction journaled in ole32mem-backup/txn/journal:
#     every change is preceded by a journal line and, for a file, by a pre-image (a hard link of the old file, or
#     "absent"); for a registry value, by its previous text. Files are never written in place: a temporary file
#     named *.ole32mem-tmp is filled and then renamed over the target. Any later run first rolls an unfinished
#     transaction back (or, when its journal says "commit", finishes the clean-up), so an interruption at any point
#     (SIGINT, SIGTERM, SIGKILL, a failed write) leaves the prefix as it was before or fully installed.
#   - Wine's ole32 is never missing: ole32_orig.dll is placed before the proxy replaces ole32.dll, the override is
#     set after both and removed before them, and ole32.dll is only ever replaced by a rename.
#   - The registry (user.reg) is edited as a file, with no wineserver running for the prefix: a running server
#     would overwrite it. A server running only Wine's own services is stopped; one running programs is left alone
#     and the command refused, unless --force (which ends those programs first).
# It must never act on a prefix other than the one named, never install into ~/.wine without being told to, and
# never remove a DLL that it did not put there.
#
# Environment: WINE64, WINE32, WINESERVER (the Makefile's defaults), BUILD (build), WINE_DLLDIR_x86_64 and
# WINE_DLLDIR_i686 (where Wine keeps its PE ole32.dll; Debian's paths by default), WINE_INF (Wine's wine.inf).
# Test hooks (tests/prefix/run.sh): OLE32MEM_PREFIX_STEPS=FILE appends each journaled step's name to FILE;
# OLE32MEM_PREFIX_FAIL_AT=STEP acts right after journaling STEP as OLE32MEM_PREFIX_FAIL_HOW says: kill (SIGKILL
# to itself, the default), int or term (that signal to itself), or error (the step's write fails).
set -euo pipefail

log() { printf 'ole32mem-prefix: %s\n' "$*" >&2; }
# Inside a transaction an error rolls it back first (abort, below).
die() {
    [ "${in_txn:-0}" = 1 ] && abort "$*"
    printf 'ole32mem-prefix: error: %s\n' "$*" >&2
    exit 1
}
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
app='' hook=0 mode=copy force=0
while [ $# -gt 0 ]; do
    case $1 in
        --app) [ $# -ge 2 ] || usage; app=$2; shift 2 ;;
        --app=*) app=${1#--app=}; shift ;;
        --hook-combase) hook=1; shift ;;
        --symlink) mode=symlink; shift ;;
        --force) force=1; shift ;;
        *) usage ;;
    esac
done
case $action in install | uninstall | status) ;; *) usage ;; esac
case $app in */* | *\\*) die "--app takes a program's file name (foo.exe), not a path: '$app'" ;; esac
# The name becomes a registry key written into user.reg as text: keep to characters that need no escaping there.
[[ $app =~ ^[A-Za-z0-9\ ._+~\(\)\{\}\!\#\$%\&\',\;=@^-]*$ ]] ||
    die "--app '$app': only printable ASCII without \\ / \" [ ] is supported in a program name"

# ---- the prefix ----------------------------------------------------------------------------------------------------

if [ -z "${WINEPREFIX:-}" ]; then
    default=${HOME:-~}/.wine
    if [ -d "$default" ]; then what="the existing prefix $default"; else what="$default (which does not exist yet)"; fi
    die "WINEPREFIX is not set: Wine would use $what. Refusing to guess; name the prefix, even that one:" \
        "WINEPREFIX=$default $0 $action"
fi
[ -e "$WINEPREFIX" ] || die "WINEPREFIX=$WINEPREFIX does not exist; create the prefix first: WINEPREFIX=$WINEPREFIX wine64 wineboot -i"
[ -d "$WINEPREFIX" ] || die "WINEPREFIX=$WINEPREFIX is not a directory"
P=$(realpath -e -- "$WINEPREFIX")
for f in system.reg user.reg drive_c/windows; do
    [ -e "$P/$f" ] || die "$P is not a Wine prefix (no $f); create it with: WINEPREFIX=$P wine64 wineboot -i"
done
[ ! -L "$P/user.reg" ] && [ -f "$P/user.reg" ] || die "$P/user.reg is not a regular file; refusing to edit it"
# Our own wine runs (wineboot -u, wmic): quiet, and no Mono/Gecko installers popping up in the middle of an update.
export WINEPREFIX=$P WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

B=ole32mem-backup                # the state directory, relative to $P, like every path below
RECORD=$B/installed              # this version's record of an installation
OLD_STATE=$B/state               # the record of versions that wrote absolute paths
OLD_JOURNAL=$B/registry          # their registry journal (`wine reg` syntax)
TXN=$B/txn
JOURNAL=$TXN/journal
TMP_SUFFIX=.ole32mem-tmp         # the one name of every temporary file
OLD_TMP_SUFFIX=.ole32mem-new     # what older versions left behind
OVERRIDE_VALUE=native,builtin
HOOK_KEY='Software\ole32mem'

if grep -q '^#arch=win32' "$P/system.reg"; then
    prefix_arch=win32 wine=$WINE32
else
    prefix_arch=win64 wine=$WINE64
fi

# Refuses a relative path whose directory does not resolve to itself inside $P (a symlinked drive_c or system32
# pointing elsewhere), and a target that is a directory.
confined() {
    local rel=$1 dir=${1%/*}
    case /$rel/ in */../* | */./*) die "internal: path '$rel' is not canonical" ;; esac
    [ "$(realpath -e -- "$P/$dir" 2>/dev/null)" = "$P/$dir" ] ||
        die "$P/$dir resolves outside $P (a symlink?); refusing to write there"
    [ ! -d "$P/$rel" ] || [ -L "$P/$rel" ] || die "$P/$rel is a directory"
}

# One installer at a time per prefix: a lock on the prefix directory itself (no file of ours is created for it).
exec 9<"$P"
flock -n 9 || die "another ole32mem install or uninstall is running on $P"

# ---- registry: user.reg as text ------------------------------------------------------------------------------------
# Wine's format: "[Software\\Wine\\DllOverrides] 1700000000" opens a key (path relative to HKCU, backslashes
# doubled; parents exist implicitly), then "#time=", "#class=" lines, then values ("name"=data, a line ending in a
# backslash continues), then a blank line. Key and value names compare case-insensitively.

# Runs the editor on user.reg: op get|has_key|set|del, key as in regedit (single backslashes), value name, data.
reg_awk() {
    REG_OP=$1 REG_KEY=${2//\\/\\\\} REG_NAME=${3:-} REG_DATA=${4:-} REG_NOW=$(date +%s) awk '
    function hdr_path(line) { sub(/^\[/, "", line); sub(/\][^\]]*$/, "", line); return tolower(line) }
    BEGIN {
        op = ENVIRON["REG_OP"]; want = ENVIRON["REG_KEY"]
        key = tolower(want); vname = "\"" tolower(ENVIRON["REG_NAME"]) "\"="; data = ENVIRON["REG_DATA"]
        insec = 0; found_key = 0; found_val = 0; subkeys = 0; cont = 0; nvals = 0; n = 0
    }
    {
        line = $0
        if (cont) { cont = (line ~ /\\$/); if (skipping) { if (op == "get") print line; next } out[++n] = line; next }
        if (line ~ /^\[/) {
            p = hdr_path(line)
            if (insec) { flush() }
            insec = (p == key)
            if (insec) { found_key = 1; sec_start = n + 1 }
            else if (index(p, key "\\\\") == 1) { subkeys = 1; found_key = 1 }
        } else if (insec && tolower(substr(line, 1, length(vname))) == vname) {
            found_val = 1; cont = (line ~ /\\$/); skipping = 1
            if (op == "get") { print line; next }
            if (op == "set") { out[++n] = data; set_done = 1 }
            next
        } else if (insec && (line ~ /^"/ || line ~ /^@/)) {
            nvals++
        }
        skipping = 0; cont = (insec && line ~ /\\$/)
        out[++n] = line
    }
    function flush() { sec_end = n; sec_vals = nvals; insec = 0 }
    END {
        if (insec) flush()
        if (op == "get") exit(found_val ? 0 : 1)
        if (op == "has_key") exit(found_key ? 0 : 1)
        if (op == "set" && !set_done) {
            if (sec_start) {
                # After the header and its #time/#class/#link lines.
                at = sec_start; while (at + 1 <= n && out[at + 1] ~ /^#/) at++
                for (i = 1; i <= at; i++) print out[i]; print data; for (i = at + 1; i <= n; i++) print out[i]
                exit 0
            }
            for (i = 1; i <= n; i++) print out[i]
            if (n && out[n] != "") print ""
            print "[" want "] " ENVIRON["REG_NOW"]; print data
            exit 0
        }
        if (op == "del_key" && sec_start && !sec_vals && !subkeys) {
            # The header, its # lines and the blank line after them go; nothing else was in the section.
            stop = sec_end; if (stop + 1 <= n && out[stop + 1] == "") stop++
            for (i = 1; i < sec_start; i++) print out[i]; for (i = stop + 1; i <= n; i++) print out[i]
            exit 0
        }
        for (i = 1; i <= n; i++) print out[i]
    }' "$P/user.reg"
}

reg_get() { reg_awk get "$1" "$2"; }
reg_has_key() { reg_awk has_key "$1" >/dev/null; }

# Rewrites user.reg through a temporary file (never in place).
reg_write() {
    local tmp=user.reg$TMP_SUFFIX
    reg_awk "$@" >"$P/$tmp" && chmod --reference="$P/user.reg" "$P/$tmp" && mv -f "$P/$tmp" "$P/user.reg"
}

# Value $2 of key $1 becomes the raw line(s) $3, or is deleted when $3 is empty; a key that $4 says did not exist
# before is removed with the value when nothing else is in it.
reg_apply() {
    local key=$1 name=$2 raw=$3 existed=${4:-1}
    if [ -n "$raw" ]; then
        reg_write set "$key" "$name" "$raw"
    else
        reg_write del "$key" "$name" && { [ "$existed" = 1 ] || reg_write del_key "$key"; }
    fi
}

override_key() {
    if [ -n "$1" ]; then printf 'Software\\Wine\\AppDefaults\\%s\\DllOverrides' "$1"; else printf 'Software\\Wine\\DllOverrides'; fi
}

# ---- the journal ---------------------------------------------------------------------------------------------------

# Journal and record fields are base64, "-" for the empty string (base64 never makes "-").
b64() { if [ -n "$1" ]; then printf '%s' "$1" | base64 -w0; else printf -- -; fi; }
unb64() { [ "$1" = - ] || printf '%s' "$1" | base64 -d; }

jwrite() { printf '%s\n' "$*" >>"$P/$JOURNAL"; }

# Journals step $1, then lets the test hooks act on it.
step() {
    jwrite "step $1"
    [ -z "${OLE32MEM_PREFIX_STEPS:-}" ] || echo "$1" >>"$OLE32MEM_PREFIX_STEPS"
    [ "${OLE32MEM_PREFIX_FAIL_AT:-}" = "$1" ] || return 0
    case ${OLE32MEM_PREFIX_FAIL_HOW:-kill} in
        kill) kill -KILL $$ ;;
        int) kill -INT $$ ;;
        term) kill -TERM $$ ;;
        error) abort "step $1: injected write failure (OLE32MEM_PREFIX_FAIL_HOW=error)" ;;
    esac
}

# Journals the pre-image of file $1 (relative): a hard link of it (a copy across file systems), or "absent".
save_file() {
    local rel=$1 n
    confined "$rel"
    n=$(wc -l <"$P/$JOURNAL")
    if [ -e "$P/$rel" ] || [ -L "$P/$rel" ]; then
        rm -f "$P/$TXN/$n$TMP_SUFFIX"
        ln -P "$P/$rel" "$P/$TXN/$n$TMP_SUFFIX" 2>/dev/null || cp -a "$P/$rel" "$P/$TXN/$n$TMP_SUFFIX" ||
            abort "could not save $rel before changing it (disk full?)"
        mv -f "$P/$TXN/$n$TMP_SUFFIX" "$P/$TXN/$n" || abort "could not save $rel"
        jwrite "file $n $rel"
    else
        jwrite "file - $rel"
    fi
}


# Puts file $1 (a path, or a symlink target when $3 is "link") at relative path $2, journaled, by a rename.
put() {
    local src=$1 rel=$2 how=${3:-copy} tmp=$2$TMP_SUFFIX
    save_file "$rel"
    rm -f "$P/$tmp"
    if [ "$how" = link ]; then
        ln -s "$src" "$P/$tmp" || abort "could not create $tmp"
    else
        cp -p "$src" "$P/$tmp" || { rm -f "$P/$tmp"; abort "could not write $tmp (disk full? read-only?)"; }
    fi
    mv -fT "$P/$tmp" "$P/$rel" || { rm -f "$P/$tmp"; abort "could not replace $rel (read-only?)"; }
}

# Removes relative path $1, journaled.
remove() {
    save_file "$1"
    rm -f "$P/$1" || abort "could not remove $1 (read-only?)"
}

txn_begin() {
    [ -d "$P/$B" ] || { mkdir "$P/$B" || die "could not create $P/$B"; }
    mkdir "$P/$TXN" || die "could not create $P/$TXN"
    printf 'ole32mem transaction %s\n' "$1" >"$P/$JOURNAL" ||
        { rm -rf "${P:?}/$TXN"; die "could not write the journal in $P/$B (disk full?)"; }
    trap 'interrupted INT 130' INT
    trap 'interrupted TERM 143' TERM
    trap 'interrupted HUP 129' HUP
    in_txn=1
}

txn_commit() {
    jwrite commit
    finish_cleanup
    in_txn=0
    trap - INT TERM HUP
}

# After a commit or a rollback: the pre-images go, and the state directory when no installation is recorded.
finish_cleanup() {
    rm -rf "${P:?}/$TXN"
    [ -e "$P/$RECORD" ] || [ -e "$P/$OLD_STATE" ] || rm -rf "${P:?}/$B" 2>/dev/null || true
    sweep_tmp
}

sweep_tmp() {
    local d
    for d in "$P" "$P/drive_c/windows/system32" "$P/drive_c/windows/syswow64"; do
        [ -d "$d" ] || continue
        find "$d" -maxdepth 1 \( -name "*$TMP_SUFFIX" -o -name "*$OLD_TMP_SUFFIX" \) -exec rm -f {} + 2>/dev/null || true
    done
}

# Undoes the journal, last change first. Idempotent: a rollback cut short is simply run again.
rollback() {
    local kind a b c d rel
    while read -r kind a b c d; do
        case $kind in
            file)
                rel=$b
                confined "$rel"
                if [ "$a" = - ]; then
                    rm -f "$P/$rel" || return 1
                elif [ ! "$P/$rel" -ef "$P/$TXN/$a" ]; then # (the same file when the change never happened)
                    [ -e "$P/$TXN/$a" ] || [ -L "$P/$TXN/$a" ] || { log "rollback: the pre-image of $rel is missing"; return 1; }
                    rm -f "$P/$rel$TMP_SUFFIX"
                    ln -P "$P/$TXN/$a" "$P/$rel$TMP_SUFFIX" 2>/dev/null || cp -a "$P/$TXN/$a" "$P/$rel$TMP_SUFFIX" || return 1
                    mv -fT "$P/$rel$TMP_SUFFIX" "$P/$rel" || return 1
                fi
                ;;
            reg) reg_apply "$(unb64 "$a")" "$(unb64 "$b")" "$(unb64 "$c")" "$d" || return 1 ;;
        esac
    done < <(tac "$P/$JOURNAL")
}

# Finishes or rolls back whatever an earlier run left: called first by install and uninstall.
recover() {
    local what
    if [ -f "$P/$JOURNAL" ]; then
        what=$(head -1 "$P/$JOURNAL" | awk '{ print $3 }')
        if [ "$(tail -1 "$P/$JOURNAL")" = commit ]; then
            log "finishing the clean-up of a completed $what"
        else
            log "an earlier $what in $P was interrupted; rolling it back"
            rollback || die "could not roll back the interrupted $what (journal $P/$JOURNAL kept; run again once writes work)"
            log "rolled back: the prefix is as it was before that $what"
        fi
        finish_cleanup
    elif [ -e "$P/$TXN" ]; then
        finish_cleanup # interrupted before its journal existed: nothing had changed
    elif [ -d "$P/$B" ] && [ ! -e "$P/$RECORD" ] && [ ! -e "$P/$OLD_STATE" ]; then
        log "removing $P/$B: left by an interrupted run, no installation recorded in it"
        rm -rf "${P:?}/$B" 2>/dev/null || true
    fi
    sweep_tmp
}

abort() {
    log "error: $*"
    if [ "${in_txn:-0}" = 1 ]; then
        in_txn=0
        trap '' INT TERM HUP
        if rollback; then finish_cleanup; log "rolled back: $P is as it was before"; else
            log "the rollback failed too; the journal $P/$JOURNAL is kept and the next install or uninstall will finish it"
        fi
    fi
    exit 1
}

interrupted() {
    trap '' INT TERM HUP
    log "interrupted by SIG$1"
    if [ "${in_txn:-0}" = 1 ]; then
        in_txn=0
        if rollback; then finish_cleanup; log "rolled back: $P is as it was before"; else
            log "the rollback failed; the next install or uninstall will finish it"
        fi
    fi
    exit "$2"
}

# ---- wineserver ----------------------------------------------------------------------------------------------------

# Wine's server for a prefix runs in a directory named server-<dev>-<inode> of the prefix directory (hex).
server_pid() {
    local tag pid cwd
    tag=$(stat -c 'server-%d-%i' "$P" | awk -F- '{ printf "server-%x-%x", $2, $3 }')
    for pid in $(pgrep -x 'wineserver|wineserver64|wineserver32' 2>/dev/null); do
        cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
        [ "${cwd##*/}" != "$tag" ] || { echo "$pid"; return 0; }
    done
    return 1
}

# Programs the prefix's server runs, other than Wine's own services and our query.
user_programs() {
    "$wine" wmic process get name 9<&- 2>/dev/null | iconv -f UTF-16 -t UTF-8 2>/dev/null | tr -d '\r' |
        awk 'NR > 1 && NF { n = tolower($1) }
             NR > 1 && NF && n !~ /^(services|winedevice|plugplay|svchost|rpcss|explorer|start|conhost|wmic|wineboot|winemenubuilder|tabtip)\.exe$/ { print $1 }'
}

# Makes sure no wineserver runs for the prefix: user.reg is about to be edited and DLLs replaced.
stop_server() {
    local programs
    server_pid >/dev/null || return 0
    programs=$(user_programs | sort -u | tr '\n' ' ')
    if [ -n "$programs" ]; then
        [ $force = 1 ] || die "programs are running in $P: ${programs% }. Quit them (or: WINEPREFIX=$P" \
            "$WINESERVER -k), or pass --force (make ... FORCE=1) to have them ended before the $action"
        log "--force: ending the programs running in $P: ${programs% }"
    fi
    "$WINESERVER" -k 9<&- 2>/dev/null || true
    "$WINESERVER" -w 9<&- 2>/dev/null || true
    ! server_pid >/dev/null || die "the wineserver of $P did not stop"
}

# ---- files ---------------------------------------------------------------------------------------------------------

# Arches of this prefix, with the directory (relative) that holds each one's ole32.dll: "ARCH DIR" lines.
prefix_dirs() {
    if [ $prefix_arch = win32 ]; then
        echo "i686 drive_c/windows/system32"
        return
    fi
    echo "x86_64 drive_c/windows/system32"
    if [ -f "$P/drive_c/windows/syswow64/ole32.dll" ]; then
        echo "i686 drive_c/windows/syswow64"
    else
        log "no 32-bit ole32.dll in this prefix (created without wine32?): installing the 64-bit side only"
    fi
}

builtin_dir() { eval "printf '%s' \"\$WINE_DLLDIR_$1\""; }
is_wine_builtin() { grep -q 'Wine builtin DLL' "$1" 2>/dev/null; }
# The proxy forwards to ole32_orig; neither Wine's ole32 nor a native one names it.
is_proxy() { [ -f "$1" ] && grep -qa 'ole32_orig\.' "$1"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }

proxy_file() {
    local f="$BUILD/$1/proxy/ole32.dll"
    [ -f "$f" ] || die "$f is missing: build it first (make install-prefix does)"
    realpath -- "$f"
}

# What ole32_orig.dll in $2 should be for arch $1: "link TARGET" or "copy FILE".
orig_source() {
    local arch=$1 builtin
    builtin=$(builtin_dir "$arch")/ole32.dll
    if [ $mode = symlink ]; then
        [ -r "$builtin" ] || die "--symlink needs Wine's $arch ole32.dll at $builtin (set WINE_DLLDIR_$arch)"
        echo "link $builtin"
    elif [ -r "$builtin" ]; then
        echo "copy $builtin"
    else
        log "warning: Wine's $arch ole32.dll is not at $builtin; copying the prefix's ole32.dll (set WINE_DLLDIR_$arch)"
        echo "copy $P/$B/$arch/ole32.dll"
    fi
}

place_orig() {
    local src
    src=$(orig_source "$1")
    put "${src#* }" "$2/ole32_orig.dll" "${src%% *}"
}

orig_current() {
    local arch=$1 dir=$2 builtin
    builtin=$(builtin_dir "$arch")/ole32.dll
    [ -r "$builtin" ] || return 0
    if [ $mode = symlink ]; then
        [ -L "$P/$dir/ole32_orig.dll" ] && [ "$(readlink "$P/$dir/ole32_orig.dll")" = "$builtin" ]
    else
        [ ! -L "$P/$dir/ole32_orig.dll" ] && cmp -s "$builtin" "$P/$dir/ole32_orig.dll"
    fi
}

# wineboot -u takes 20 s; it is needed unless Wine itself would consider the prefix current (its .update-timestamp
# holds wine.inf's mtime) and every ole32.dll to be replaced already is this Wine's.
prefix_up_to_date() {
    local line builtin
    [ -r "$WINE_INF" ] && [ -r "$P/.update-timestamp" ] || return 1
    [ "$(head -c 64 "$P/.update-timestamp" | tr -d '\r\n')" = "$(stat -c %Y "$WINE_INF")" ] || return 1
    for line in "${dirs[@]}"; do
        builtin=$(builtin_dir "${line%% *}")/ole32.dll
        cmp -s "$builtin" "$P/${line#* }/ole32.dll" || return 1
    done
}

# ---- the record ----------------------------------------------------------------------------------------------------
# ole32mem-backup/installed: "format 2", "mode M", "hook H", "app A", per arch "dir ARCH RELDIR",
# per registry value set "reg KEY NAME PREVIOUS EXISTED" (base64 fields, as in the journal).

read_record() {
    local kind a b c d
    installed_mode='' installed_hook=0 installed_app='' installed_dirs=() installed_regs=()
    if [ -f "$P/$RECORD" ]; then
        while read -r kind a b c d; do
            case $kind in
                mode) installed_mode=$a ;;
                hook) installed_hook=$a ;;
                app) installed_app=$(unb64 "${a:-}") ;;
                dir) installed_dirs+=("$a $b") ;;
                reg) installed_regs+=("$a $b $c $d") ;;
            esac
        done <"$P/$RECORD"
    else
        read_old_record
    fi
    local line
    for line in "${installed_dirs[@]}"; do
        case ${line#* } in
            drive_c/windows/system32 | drive_c/windows/syswow64) ;;
            *) die "the record in $P/$B names '${line#* }', which is not a system directory; refusing to act on it" ;;
        esac
    done
}

# Records of earlier versions: "dir=ARCH /abs/path" and a `wine reg` journal. An absolute path is taken relative to
# the prefix named when it ends in drive_c/windows/system32 or syswow64 (whichever prefix it was written in: the
# prefix may have been copied or moved since); anything else is refused.
read_old_record() {
    local key value rel k name type data top raw
    while IFS='=' read -r key value; do
        case $key in
            mode) installed_mode=$value ;;
            hook) installed_hook=$value ;;
            app) installed_app=$value ;;
            dir)
                rel=$(printf '%s' "${value#* }" | sed -nE 's#^/.*/(drive_c/windows/(system32|syswow64))/?$#\1#p')
                [ -n "$rel" ] || die "the record in $P/$OLD_STATE names '${value#* }', not a prefix's system directory; refusing to act on it"
                [ "${value#* }" = "$P/$rel" ] || log "the record was written in ${value#* } (a copy or a move): acting on $P/$rel"
                installed_dirs+=("${value%% *} $rel")
                ;;
        esac
    done <"$P/$OLD_STATE"
    [ -f "$P/$OLD_JOURNAL" ] || return 0
    while IFS=$'\t' read -r k name type data top; do
        k=${k#HKEY_CURRENT_USER\\}
        case $type in
            -) raw= ;;
            REG_SZ) raw="\"$name\"=\"$(printf '%s' "$data" | sed 's/\\/\\\\/g; s/"/\\"/g')\"" ;;
            REG_DWORD) raw=$(printf '"%s"=dword:%08x' "$name" "$((data))") ;;
            *) log "warning: cannot restore $k\\$name ($type) recorded by an older version; it keeps its current value"; continue ;;
        esac
        installed_regs+=("$(b64 "$k") $(b64 "$name") $(b64 "$raw") $([ "$top" = - ] && echo 1 || echo 0)")
    done <"$P/$OLD_JOURNAL"
}

write_record() {
    local line regs=("$@")
    {
        echo "format 2"
        echo "mode $mode"
        echo "hook $hook"
        echo "app $(b64 "$app")"
        for line in "${dirs[@]}"; do echo "dir $line"; done
        for line in "${regs[@]}"; do echo "reg $line"; done
    } >"$P/$B/record$TMP_SUFFIX" || abort "could not write the record (disk full?)"
    put "$P/$B/record$TMP_SUFFIX" "$RECORD"
    rm -f "$P/$B/record$TMP_SUFFIX"
}

# Sets the registry values of the installation, journaled; their record lines (what to restore) go to reg_records.
set_registry() {
    reg_records=()
    record_and_set reg-override "$(override_key "$app")" ole32 "\"ole32\"=\"$OVERRIDE_VALUE\""
    [ $hook = 0 ] || record_and_set reg-hook "$HOOK_KEY" HookCombase '"HookCombase"=dword:00000001'
}

record_and_set() {
    local prev existed=0
    prev=$(reg_get "$2" "$3") || prev=
    ! reg_has_key "$2" || existed=1
    reg_records+=("$(b64 "$2") $(b64 "$3") $(b64 "$prev") $existed")
    step "$1"
    jwrite "reg ${reg_records[-1]}"
    reg_apply "$2" "$3" "$4" 1 || abort "could not edit $P/user.reg (disk full? read-only?)"
}

# Puts back the values recorded, last first; the override thereby goes before any file does.
restore_registry() {
    local i key name prev existed
    for ((i = ${#installed_regs[@]} - 1; i >= 0; i--)); do
        read -r key name prev existed <<<"${installed_regs[$i]}"
        step "reg-restore-$i"
        jwrite "reg $key $name $(b64 "$(reg_get "$(unb64 "$key")" "$(unb64 "$name")" || true)") 1"
        reg_apply "$(unb64 "$key")" "$(unb64 "$name")" "$(unb64 "$prev")" "$existed" ||
            abort "could not edit $P/user.reg (disk full? read-only?)"
    done
}

registry_current() {
    [ "$(reg_get "$(override_key "$app")" ole32)" = "\"ole32\"=\"$OVERRIDE_VALUE\"" ] || return 1
    [ $hook = 0 ] || [ "$(reg_get "$HOOK_KEY" HookCombase)" = '"HookCombase"=dword:00000001' ]
}

describe() {
    if [ -n "$app" ]; then printf 'for %s only' "$app"; else printf 'for every program'; fi
    printf ', ole32_orig.dll as a %s' "$mode"
    [ "$1" = 1 ] && printf ', combase hooked'
    return 0
}

# What ole32.dll in $1 (relative) is, for messages.
what_is() {
    if [ ! -e "$P/$1" ]; then echo "no file"
    elif is_proxy "$P/$1"; then echo "an ole32mem proxy of another build (sha256 $(sha "$P/$1"))"
    elif is_wine_builtin "$P/$1"; then echo "Wine's builtin ole32 (sha256 $(sha "$P/$1"); a Wine update and wineboot -u?)"
    else echo "a DLL that is not Wine's (sha256 $(sha "$P/$1"); a native ole32 put there by the user or winetricks?)"
    fi
}

# ---- actions -------------------------------------------------------------------------------------------------------

do_status() {
    [ ! -f "$P/$JOURNAL" ] || log "an interrupted $(head -1 "$P/$JOURNAL" | awk '{ print $3 }') is pending in $P; install or uninstall will roll it back"
    if [ ! -f "$P/$RECORD" ] && [ ! -f "$P/$OLD_STATE" ]; then
        log "ole32mem is not installed in $P"
        return 0
    fi
    read_record
    mode=$installed_mode app=$installed_app
    log "ole32mem is installed in $P ($(describe "$installed_hook"))"
    for line in "${installed_dirs[@]}"; do
        orig_current "${line%% *}" "${line#* }" || log "${line%% *}: ole32_orig.dll is stale (Wine was upgraded); run install again"
        is_proxy "$P/${line#* }/ole32.dll" || log "${line%% *}: ${line#* }/ole32.dll is no longer the proxy: $(what_is "${line#* }/ole32.dll")"
    done
}

do_uninstall() {
    local i line arch dir backup
    if [ ! -f "$P/$RECORD" ] && [ ! -f "$P/$OLD_STATE" ]; then
        for dir in drive_c/windows/system32 drive_c/windows/syswow64; do
            [ ! -e "$P/$dir/ole32_orig.dll" ] ||
                log "warning: $P/$dir/ole32_orig.dll exists but no installation is recorded; left alone"
        done
        log "ole32mem is not installed in $P; nothing to do"
        return 0
    fi
    read_record
    stop_server
    txn_begin uninstall
    restore_registry
    for i in "${!installed_dirs[@]}"; do
        line=${installed_dirs[$i]}
        arch=${line%% *} dir=${line#* } backup=$B/$arch/ole32.dll
        if ! is_proxy "$P/$dir/ole32.dll"; then
            log "$arch: $dir/ole32.dll is not the proxy ole32mem installed; found $(what_is "$dir/ole32.dll"). Keeping it."
        elif [ -f "$P/$backup" ]; then
            step "restore-$arch"
            put "$P/$backup" "$dir/ole32.dll"
            log "$arch: restored $dir/ole32.dll"
        else
            log "warning: no backup of the $arch ole32.dll; left $dir/ole32.dll as it is"
        fi
        if [ -e "$P/$dir/ole32_orig.dll" ] || [ -L "$P/$dir/ole32_orig.dll" ]; then
            step "remove-orig-$arch"
            remove "$dir/ole32_orig.dll"
        fi
        [ ! -f "$P/$backup" ] || { step "remove-backup-$arch"; remove "$backup"; }
        [ ! -r "$(builtin_dir "$arch")/ole32.dll" ] || cmp -s "$P/$dir/ole32.dll" "$(builtin_dir "$arch")/ole32.dll" ||
            log "$arch: the prefix's ole32.dll differs from this Wine's; run wineboot -u to bring the prefix up to date"
    done
    step remove-record
    for f in "$RECORD" "$OLD_STATE" "$OLD_JOURNAL"; do [ ! -e "$P/$f" ] || remove "$f"; done
    txn_commit
    log "ole32mem uninstalled from $P"
}

do_install_fresh() {
    local arch dir line proxy
    mapfile -t dirs < <(prefix_dirs)
    [ ${#dirs[@]} -gt 0 ] || die "found no ole32.dll to replace in $P"
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        confined "$dir/ole32.dll"
        proxy_file "$arch" >/dev/null
        [ -f "$P/$dir/ole32.dll" ] || die "$P/$dir/ole32.dll does not exist"
    done
    if prefix_up_to_date; then
        log "the prefix is up to date with this Wine (skipping wineboot -u)"
    else
        log "updating the prefix (wineboot -u)"
        "$wine" wineboot -u 9<&- >/dev/null 2>&1 || die "wineboot -u failed in $P"
        "$WINESERVER" -w 9<&-
    fi
    stop_server
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        # A native ole32 (winetricks, or the user's own) is not ours to wrap: the proxy forwards to ole32_orig.
        is_wine_builtin "$P/$dir/ole32.dll" ||
            die "$arch: $dir/ole32.dll is $(what_is "$dir/ole32.dll"). Keeping it; refusing to install over it"
        [ ! -e "$P/$dir/ole32_orig.dll" ] || log "warning: replacing a leftover $dir/ole32_orig.dll"
    done
    txn_begin install
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        step "backup-$arch"
        [ -d "$P/$B/$arch" ] || mkdir "$P/$B/$arch" || abort "could not create $B/$arch"
        put "$P/$dir/ole32.dll" "$B/$arch/ole32.dll"
    done
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        proxy=$(proxy_file "$arch")
        step "orig-$arch"
        place_orig "$arch" "$dir"
        step "proxy-$arch"
        put "$proxy" "$dir/ole32.dll"
        log "$arch: installed the proxy in $P/$dir"
    done
    set_registry
    step record
    write_record "${reg_records[@]}"
    txn_commit
    log "ole32mem installed in $P ($(describe $hook))"
}

do_install_update() {
    local i arch dir line proxy changed=0
    read_record
    dirs=("${installed_dirs[@]}")
    for i in "${!dirs[@]}"; do
        arch=${dirs[$i]%% *} dir=${dirs[$i]#* }
        confined "$dir/ole32.dll"
        proxy_file "$arch" >/dev/null
        if ! is_proxy "$P/$dir/ole32.dll"; then
            die "$arch: $dir/ole32.dll is no longer the proxy: found $(what_is "$dir/ole32.dll"). Keeping it;" \
                "uninstall (which keeps it too), then install again"
        fi
    done
    stop_server
    txn_begin install
    reg_records=("${installed_regs[@]}")
    if [ "$installed_app" != "$app" ] || [ "$installed_hook" != "$hook" ] || ! registry_current; then
        if [ "$installed_app" != "$app" ] || [ "$installed_hook" != "$hook" ]; then
            log "changing the installation from ($(mode=$installed_mode app=$installed_app describe "$installed_hook")) to ($(describe $hook))"
        else
            log "the override was changed or lost since the install; setting it again"
        fi
        restore_registry
        set_registry
        changed=1
    fi
    for i in "${!dirs[@]}"; do
        arch=${dirs[$i]%% *} dir=${dirs[$i]#* }
        proxy=$(proxy_file "$arch")
        if ! cmp -s "$proxy" "$P/$dir/ole32.dll"; then
            step "proxy-$arch"
            put "$proxy" "$dir/ole32.dll"
            log "$arch: updated the proxy in $P/$dir"
            changed=1
        fi
        if [ "$installed_mode" != "$mode" ] || ! orig_current "$arch" "$dir"; then
            step "orig-$arch"
            place_orig "$arch" "$dir"
            if [ "$installed_mode" != "$mode" ]; then
                log "$arch: ole32_orig.dll is now a $mode"
            else
                log "$arch: refreshed the stale ole32_orig.dll from $(builtin_dir "$arch") (Wine was upgraded)"
            fi
            changed=1
        fi
    done
    if [ $changed = 1 ] || [ ! -f "$P/$RECORD" ]; then
        step record
        write_record "${reg_records[@]}"
        # A record of an older version is replaced by this one (relative paths).
        for f in "$OLD_STATE" "$OLD_JOURNAL"; do [ ! -e "$P/$f" ] || remove "$f"; done
    fi
    txn_commit
    if [ $changed = 1 ]; then
        log "ole32mem installation in $P updated ($(describe $hook))"
    else
        log "ole32mem is already installed in $P ($(describe $hook)); nothing to do"
    fi
}

case $action in
    status) do_status ;;
    uninstall)
        recover
        do_uninstall
        ;;
    install)
        recover
        if [ -f "$P/$RECORD" ] || [ -f "$P/$OLD_STATE" ]; then
            do_install_update
        else
            do_install_fresh
        fi
        ;;
esac
