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
#     set after both and removed before them, and ole32.dll is only ever replaced by a rename. A backup of Wine's
#     ole32 is never deleted while a proxy in system32 or syswow64 may still need it.
#   - Signals. INT, TERM and HUP are trapped before anything changes. While a Wine child runs (wineboot -u,
#     wineserver) the signal is remembered and acted on when the child returns; inside a transaction the journal
#     decides: a journal that ends in "commit" is finished (the change is complete), any other is rolled back.
#   - The registry (user.reg) is edited as a file, with no wineserver running for the prefix: a running server
#     would overwrite it. Which Wine processes belong to the prefix is read from /proc (the processes whose
#     WINEPREFIX is this directory, with the Windows image path Wine started them with): a server running only
#     Wine's own services (their images in system32/syswow64) is stopped; one running anything else is left alone
#     and the command refused, unless --force (which ends those programs first). When /proc cannot tell, the
#     command is refused. Every wait on Wine is bounded.
# It must never act on a prefix other than the one named, never install into ~/.wine without being told to, never
# end a program without --force, and never remove a DLL that it did not put there.
#
# Environment: WINE64, WINE32, WINESERVER (the Makefile's defaults), BUILD (build), WINE_DLLDIR_x86_64 and
# WINE_DLLDIR_i686 (where Wine keeps its PE ole32.dll; Debian's paths by default), WINE_INF (Wine's wine.inf),
# OLE32MEM_WINEBOOT_TIMEOUT (seconds wineboot -u may take, 300).
# Test hooks (tests/prefix/run.sh): OLE32MEM_PREFIX_STEPS=FILE appends each journaled step's name to FILE;
# OLE32MEM_PREFIX_FAIL_AT=STEP acts right after journaling STEP as OLE32MEM_PREFIX_FAIL_HOW says: kill (SIGKILL
# to itself, the default), int or term (that signal to itself), or error (the step's write fails). The step
# "commit" comes after the journal's commit line, "cleanup" in the middle of removing the pre-images.
# OLE32MEM_PREFIX_PROC=DIR reads the process table from DIR instead of /proc.
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

# ---- signals -------------------------------------------------------------------------------------------------------
# Set before the first change (recover() may already roll an earlier run back). pending_sig is "NAME CODE".

pending_sig='' child_name='' in_txn=0
on_signal() {
    [ -n "$pending_sig" ] || pending_sig="$1 $2"
    if [ -n "$child_name" ]; then
        log "SIG$1 received; acting on it when $child_name returns"
        return 0
    fi
    act_on_signal
}
act_on_signal() {
    trap '' INT TERM HUP
    log "interrupted by SIG${pending_sig% *}"
    if [ "$in_txn" = 1 ]; then
        in_txn=0
        settle
    elif [ -n "${recovering:-}" ]; then
        log "the recovery of the earlier run was cut short; its journal is kept and the next install or" \
            "uninstall finishes it"
    else
        log "nothing in ${P:-the prefix} was changed"
    fi
    exit "${pending_sig#* }"
}
set_traps() {
    trap 'on_signal INT 130' INT
    trap 'on_signal TERM 143' TERM
    trap 'on_signal HUP 129' HUP
}
set_traps

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
case $WINEPREFIX in
    '~'*) die "WINEPREFIX=$WINEPREFIX starts with a literal '~' (no shell expanded it); write the full path:" \
        "WINEPREFIX=${HOME:-/home/you}${WINEPREFIX#\~}" ;;
    /*) ;;
    *) die "WINEPREFIX=$WINEPREFIX is a relative path; Wine accepts only absolute ones (and make -C would resolve it" \
        "elsewhere): give the full path, e.g. WINEPREFIX=$PWD/$WINEPREFIX" ;;
esac
# The hint that creates a prefix names the Wine that this script runs.
create_hint="WINEPREFIX=$WINEPREFIX $WINE64 wineboot -i (WINEARCH=win32 $WINE32 wineboot -i for a 32-bit one)"
[ -e "$WINEPREFIX" ] || die "WINEPREFIX=$WINEPREFIX does not exist; create the prefix first: $create_hint"
[ -d "$WINEPREFIX" ] || die "WINEPREFIX=$WINEPREFIX is not a directory"
P=$(realpath -e -- "$WINEPREFIX")
for f in system.reg user.reg drive_c/windows; do
    [ -e "$P/$f" ] || die "$P is not a Wine prefix (no $f); create it with: $create_hint"
done
[ ! -L "$P/user.reg" ] && [ -f "$P/user.reg" ] || die "$P/user.reg is not a regular file; refusing to edit it"
# Our own wine runs (wineboot -u, wineserver): quiet, and no Mono/Gecko installers popping up in the middle of an update.
export WINEPREFIX=$P WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

B=ole32mem-backup                # the state directory, relative to $P, like every path below
RECORD=$B/installed              # this version's record of an installation
OLD_STATE=$B/state               # the record of versions that wrote absolute paths
OLD_JOURNAL=$B/registry          # their registry journal (`wine reg` syntax)
TXN=$B/txn
JOURNAL=$TXN/journal
DONE=$B/txn-done.ole32mem-tmp    # a finished transaction directory, on its way out
WINEBOOT_MARK=ole32mem-wineboot.pending # present while a wineboot -u of ours runs (or was cut short)
WINEBOOT_TIMEOUT=${OLE32MEM_WINEBOOT_TIMEOUT:-300}
TMP_SUFFIX=.ole32mem-tmp         # the one name of every temporary file
OLD_TMP_SUFFIX=.ole32mem-new     # what older versions left behind
OVERRIDE_VALUE=native,builtin
HOOK_KEY='Software\ole32mem'

if grep -q '^#arch=win32' "$P/system.reg"; then
    prefix_arch=win32 wine=$WINE32
else
    prefix_arch=win64 wine=$WINE64
fi

# Refuses a relative path whose directory does not resolve to itself inside $P (a symlinked drive_c, system32,
# ole32mem-backup or any directory of ours pointing elsewhere), and a target that is a directory.
is_confined() {
    local rel=$1 dir=. want=$P
    case /$rel/ in */../* | */./*) return 1 ;; esac
    case $rel in */*) dir=${rel%/*} want=$P/${rel%/*} ;; esac
    [ "$(realpath -e -- "$P/$dir" 2>/dev/null)" = "$want" ]
}
confined() {
    is_confined "$1" || die "$P/${1%/*} resolves outside $P (a symlink?); refusing to write there"
    [ ! -d "$P/$1" ] || [ -L "$P/$1" ] || die "$P/$1 is a directory"
}

# Creates file $1 (relative, confined) with the standard input as its content. A symlink (or anything) planted
# under that name is removed first, and the file is created exclusively: nothing is written through a link.
write_new() {
    confined "$1"
    rm -f -- "$P/$1" && (set -o noclobber && cat >"$P/$1")
}

# Creates directory $1 (relative, confined) unless it is already a directory of its own (not a symlink).
make_dir() {
    is_confined "$1" || die "$P/${1%/*} resolves outside $P (a symlink?); refusing to write there"
    if [ -L "$P/$1" ] || { [ -e "$P/$1" ] && [ ! -d "$P/$1" ]; }; then
        die "$P/$1 is not a directory of its own (a symlink?); refusing to write through it"
    fi
    [ -d "$P/$1" ] || mkdir -- "$P/$1"
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
            # A new section at the end, separated by one blank line; del_key takes exactly that line away again.
            for (i = 1; i <= n; i++) print out[i]
            if (n && out[n] != "") print ""
            print "[" want "] " ENVIRON["REG_NOW"]; print data
            if (n && out[n] == "") print ""
            exit 0
        }
        if (op == "del_key" && sec_start && !sec_vals && !subkeys) {
            # The header, its # lines and one blank line go (the one after them; at the end of the file, the one
            # before the header): nothing else was in the section, and set added exactly that separator.
            start = sec_start; stop = sec_end
            if (stop + 1 <= n && out[stop + 1] == "") stop++
            else if (stop == n && start > 1 && out[start - 1] == "") start--
            for (i = 1; i < start; i++) print out[i]; for (i = stop + 1; i <= n; i++) print out[i]
            exit 0
        }
        for (i = 1; i <= n; i++) print out[i]
    }' "$P/user.reg"
}

reg_get() { reg_awk get "$1" "$2"; }
reg_has_key() { reg_awk has_key "$1" >/dev/null; }

# Rewrites user.reg through a temporary file (never in place).
# An edit that changes nothing writes nothing (so an unchanged user.reg that cannot be written is not an error).
reg_write() {
    local tmp=user.reg$TMP_SUFFIX
    reg_awk "$@" | write_new "$tmp" || { rm -f "$P/$tmp"; return 1; }
    if cmp -s "$P/$tmp" "$P/user.reg"; then
        rm -f "$P/$tmp"
        return 0
    fi
    chmod --reference="$P/user.reg" "$P/$tmp" && mv -f "$P/$tmp" "$P/user.reg" || { rm -f "$P/$tmp"; return 1; }
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
    if [ -n "$1" ]; then
        printf 'Software\\Wine\\AppDefaults\\%s\\DllOverrides' "$1"
    else
        printf 'Software\\Wine\\DllOverrides'
    fi
}

# ---- the journal ---------------------------------------------------------------------------------------------------

# Journal and record fields are base64, "-" for the empty string (base64 never makes "-").
b64() { if [ -n "$1" ]; then printf '%s' "$1" | base64 -w0; else printf -- -; fi; }
unb64() { [ "$1" = - ] || printf '%s' "$1" | base64 -d; }

jwrite() { printf '%s\n' "$*" >>"$P/$JOURNAL"; }

# Lets the test hooks act at point $1 (a step's name, "commit" or "cleanup").
test_hook() {
    [ "${OLE32MEM_PREFIX_FAIL_AT:-}" = "$1" ] || return 0
    case ${OLE32MEM_PREFIX_FAIL_HOW:-kill} in
        kill) kill -KILL $$ ;;
        int) kill -INT $$ ;;
        term) kill -TERM $$ ;;
        error) abort "at $1: injected write failure (OLE32MEM_PREFIX_FAIL_HOW=error)" ;;
    esac
}

# Journals step $1, then lets the test hooks act on it.
step() {
    jwrite "step $1"
    [ -z "${OLE32MEM_PREFIX_STEPS:-}" ] || echo "$1" >>"$OLE32MEM_PREFIX_STEPS"
    test_hook "$1"
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

# Moves relative path $1 over relative path $2, both journaled: no copy, so no free space needed.
move() {
    save_file "$2"
    save_file "$1"
    mv -fT "$P/$1" "$P/$2" || abort "could not move $1 to $2 (read-only?)"
}

# Removes relative path $1, journaled.
remove() {
    save_file "$1"
    rm -f "$P/$1" || abort "could not remove $1 (read-only?)"
}

# Starts a transaction. A state directory that this creates and cannot fill goes again.
txn_begin() {
    local made=0
    [ -d "$P/$B" ] && [ ! -L "$P/$B" ] || made=1
    make_dir "$B" || die "could not create $P/$B"
    mkdir "$P/$TXN" || { [ $made = 0 ] || rmdir "$P/$B"; die "could not create $P/$TXN"; }
    printf 'ole32mem transaction %s\n' "$1" | write_new "$JOURNAL" || {
        rm -rf "${P:?}/$TXN"
        [ $made = 0 ] || rmdir "$P/$B" 2>/dev/null
        die "could not write the journal in $P/$B (disk full?)"
    }
    in_txn=1
}

txn_commit() {
    jwrite commit || abort "could not write the journal's commit line (disk full?)"
    test_hook commit
    finish_cleanup
    in_txn=0
}

# What the journal's transaction was (install or uninstall), for messages.
journal_what() {
    local what
    what=$(head -1 "$P/$JOURNAL" 2>/dev/null | awk '$1 == "ole32mem" && $2 == "transaction" { print $3 }')
    printf '%s' "${what:-run (its journal has no header)}"
}

# True when a proxy in system32 or syswow64 may still need the backup of Wine's ole32 in the state directory.
backup_needed() {
    local arch dir
    for arch in x86_64 i686; do
        for dir in system32 syswow64; do
            [ -f "$P/$B/$arch/ole32.dll" ] && is_proxy "$P/drive_c/windows/$dir/ole32.dll" && return 0
        done
    done
    return 1
}

# After a commit or a rollback: the transaction directory is renamed away first (the journal goes with it at once,
# so a clean-up cut short leaves nothing that could be taken for an unfinished transaction), then removed; the
# state directory goes when no installation is recorded in it and no proxy still needs a backup in it.
finish_cleanup() {
    if [ -e "$P/$TXN" ]; then
        rm -rf "${P:?}/$DONE"
        mv -T "$P/$TXN" "$P/$DONE" 2>/dev/null || rm -rf "${P:?}/$TXN"
    fi
    [ "$in_txn" = 0 ] || test_hook cleanup
    rm -rf "${P:?}/$DONE"
    if [ -d "$P/$B" ] && [ ! -L "$P/$B" ] && [ ! -e "$P/$RECORD" ] && [ ! -e "$P/$OLD_STATE" ]; then
        if backup_needed; then
            log "keeping $P/$B: it holds the backup of Wine's ole32 that a proxy in the prefix still needs" \
                "(run uninstall to put it back)"
        else
            rm -rf "${P:?}/$B" 2>/dev/null || true
        fi
    fi
    sweep_tmp
}

# Temporary files of ours, in every directory we write (never following a symlinked directory).
sweep_tmp() {
    local d
    for d in "$P" "$P/drive_c/windows/system32" "$P/drive_c/windows/syswow64" "$P/$B" "$P/$B/x86_64" "$P/$B/i686"; do
        [ -d "$d" ] && [ ! -L "$d" ] || continue
        find "$d" -maxdepth 1 \( -name "*$TMP_SUFFIX" -o -name "*$OLD_TMP_SUFFIX" \) -exec rm -rf {} + 2>/dev/null ||
            true
    done
}

# Puts relative path $2 back to its pre-image $1 (a journal number, or "-" for absent).
undo_file() {
    local pre=$1 rel=$2
    is_confined "$rel" || { log "rollback: $P/${rel%/*} resolves outside $P; not touching $rel"; return 1; }
    if [ "$pre" = - ]; then
        rm -f "$P/$rel" || { log "rollback: could not remove $rel (read-only?)"; return 1; }
        return 0
    fi
    # The same file when the change never happened; the same bytes when only the pre-image is a copy.
    [ ! "$P/$rel" -ef "$P/$TXN/$pre" ] || return 0
    [ -e "$P/$TXN/$pre" ] || [ -L "$P/$TXN/$pre" ] || { log "rollback: the pre-image of $rel is missing"; return 1; }
    if [ ! -L "$P/$rel" ] && [ ! -L "$P/$TXN/$pre" ] && cmp -s "$P/$TXN/$pre" "$P/$rel"; then return 0; fi
    rm -f "$P/$rel$TMP_SUFFIX"
    { ln -P "$P/$TXN/$pre" "$P/$rel$TMP_SUFFIX" 2>/dev/null || cp -a "$P/$TXN/$pre" "$P/$rel$TMP_SUFFIX"; } &&
        mv -fT "$P/$rel$TMP_SUFFIX" "$P/$rel" && return 0
    rm -f "$P/$rel$TMP_SUFFIX" 2>/dev/null
    log "rollback: could not put $rel back (read-only? disk full?)"
    return 1
}

# Undoes the journal, last change first, going on past a step it cannot undo (each is reported). Idempotent: a
# rollback cut short is simply run again.
rollback() {
    local kind a b c d failed=0
    while read -r kind a b c d; do
        case $kind in
            file) undo_file "$a" "$b" || failed=1 ;;
            reg)
                reg_apply "$(unb64 "$a")" "$(unb64 "$b")" "$(unb64 "$c")" "$d" || {
                    log "rollback: could not restore the registry value $(unb64 "$a")\\$(unb64 "$b") in user.reg"
                    failed=1
                }
                ;;
        esac
    done < <(tac "$P/$JOURNAL")
    return $failed
}

# Ends a transaction that will not go on (a signal, an error, or an earlier run's): a journal with its commit line
# is finished (the change was complete), any other is rolled back.
settle() {
    local what
    trap '' INT TERM HUP
    if [ ! -f "$P/$JOURNAL" ]; then
        finish_cleanup # only the clean-up after a commit or a rollback was left
        return 0
    fi
    what=$(journal_what)
    if grep -qx commit "$P/$JOURNAL"; then
        finish_cleanup
        log "the $what had completed; finished its clean-up"
    elif rollback; then
        finish_cleanup
        log "rolled back: $P is as it was before the $what"
    else
        log "the rollback could not undo everything (each step above); the journal $P/$JOURNAL is kept and the" \
            "next install or uninstall finishes it once writes work"
        return 1
    fi
}

# Finishes or rolls back whatever an earlier run left: called first by install and uninstall.
recover() {
    recovering=1
    if [ -f "$P/$JOURNAL" ]; then
        log "an earlier $(journal_what) in $P did not finish; settling it first"
        settle || die "could not settle the interrupted $(journal_what)"
        set_traps
    elif [ -e "$P/$TXN" ] || [ -e "$P/$DONE" ]; then
        finish_cleanup # interrupted before its journal existed, or after it was done
    elif [ -d "$P/$B" ] && [ ! -L "$P/$B" ] && [ ! -e "$P/$RECORD" ] && [ ! -e "$P/$OLD_STATE" ] && ! backup_needed; then
        log "removing $P/$B: left by an interrupted run, no installation recorded in it"
        rm -rf "${P:?}/$B" 2>/dev/null || true
    fi
    sweep_tmp
    recovering=
}

abort() {
    log "error: $*"
    if [ "$in_txn" = 1 ]; then
        in_txn=0
        settle || true
    fi
    exit 1
}

# ---- Wine's processes ----------------------------------------------------------------------------------------------

# Runs a Wine command ($2...) for at most $1 seconds, in the background so that a signal is seen while it runs:
# the signal is remembered, and the caller acts on it (check_signal) once it has dealt with the command's result.
# Returns the command's status (124 when it timed out).
wine_run() {
    local limit=$1 pid rc
    shift
    child_name="${1##*/} ${*:2}"
    timeout -k 5 "$limit" "$@" 9<&- </dev/null >/dev/null 2>&1 &
    pid=$!
    while :; do
        rc=0
        wait "$pid" || rc=$?
        kill -0 "$pid" 2>/dev/null || break # (a wait cut short by a trapped signal returns with the child alive)
    done
    child_name=
    return "$rc"
}

check_signal() { [ -z "$pending_sig" ] || act_on_signal; }

SERVER_TIMEOUT=60
PROC=${OLE32MEM_PREFIX_PROC:-/proc} # (a test hook: where the process table is read)

# The prefix's Wine processes, from /proc, without asking Wine (which may be wedged). The server: a wineserver of
# ours whose working directory is the prefix's server directory (server-<device>-<inode> of the prefix, in hex, as
# Wine names it). The programs: our processes that Wine started (WINELOADER or WINESERVERSOCKET in their
# environment) whose WINEPREFIX (~/.wine when unset) is this directory, compared by device and inode as Wine does.
# Sets server_pids and procs ("PID<TAB>argv" lines, argv as Wine set it: argv[0] is the Windows path of the
# image). Fails when /proc cannot be read.
scan_prefix() {
    local d pid comm v prefix home wine ident tag argv
    local -a env args
    server_pids=() procs=()
    [ -r "$PROC/self/environ" ] && [ -r "$PROC/self/cmdline" ] && [ -r "$PROC/self/comm" ] || return 1
    ident=$(stat -Lc '%d:%i' -- "$P") || return 1
    tag=$(stat -Lc '%d %i' -- "$P" | awk '{ printf "server-%x-%x", $1, $2 }')
    for d in "$PROC"/[0-9]*; do
        pid=${d##*/}
        [ "$pid" != $$ ] && [ -O "$d" ] || continue
        comm=
        read -r comm 2>/dev/null <"$d/comm" || continue
        if [[ $comm == wineserver* ]]; then
            v=$(readlink "$d/cwd" 2>/dev/null) || continue
            [ "${v##*/}" != "$tag" ] || server_pids+=("$pid")
            continue
        fi
        mapfile -d '' -t env 2>/dev/null <"$d/environ" || continue
        prefix='' home='' wine=0
        for v in "${env[@]}"; do
            case $v in
                WINEPREFIX=*) prefix=${v#WINEPREFIX=} ;;
                HOME=*) home=${v#HOME=} ;;
                WINELOADER=* | WINESERVERSOCKET=*) wine=1 ;;
            esac
        done
        [ $wine = 1 ] || continue
        [ -n "$prefix" ] || prefix=$home/.wine
        [ "$prefix" = "$P" ] || [ "$(stat -Lc '%d:%i' -- "$prefix" 2>/dev/null)" = "$ident" ] || continue
        mapfile -d '' -t args 2>/dev/null <"$d/cmdline" || continue
        [ ${#args[@]} -gt 0 ] || continue # exited meanwhile
        argv="${args[*]}"
        procs+=("$pid"$'\t'"${argv%"${argv##*[! ]}"}")
    done
}

# True when process line $1 ("PID<TAB>argv") is one of Wine's own services: its image, as Wine started it, is a
# Wine builtin in the prefix's system32 or syswow64, and one that Wine itself starts (explorer.exe only as the
# desktop). Anything else, a program of the same name elsewhere included, is a program.
wine_service() {
    local argv=${1#*$'\t'} image name dir
    image=${argv%% *}
    image=${image,,}
    case $image in
        'c:\windows\system32\'* | 'c:\windows\syswow64\'*) ;;
        *) return 1 ;;
    esac
    name=${image##*\\} dir=${image%\\*} dir=${dir##*\\}
    case $name in
        services.exe | winedevice.exe | plugplay.exe | svchost.exe | rpcss.exe | conhost.exe | tabtip.exe) ;;
        explorer.exe) [[ ${argv,,} == *' /desktop'* ]] || return 1 ;;
        *) return 1 ;;
    esac
    grep -q 'Wine builtin DLL' "$P/drive_c/windows/$dir/$name" 2>/dev/null
}

# "NAME (pid N)" for process line $1.
proc_label() {
    local argv=${1#*$'\t'} image
    image=${argv%% *}
    printf '%s (pid %s)' "${image##*[\\/]}" "${1%%$'\t'*}"
}

# Makes sure no wineserver runs for the prefix: user.reg is about to be edited and DLLs replaced. Programs (and a
# wineboot still updating the prefix) are never ended without --force.
stop_server() {
    local line programs='' updating=''
    scan_prefix || die "cannot read the process table ($PROC), so cannot tell whether programs run in $P; refusing" \
        "(nothing was changed)." \
        "Quit every program of the prefix and end its server (WINEPREFIX=$P $WINESERVER -k), then run this again"
    [ ${#server_pids[@]} -gt 0 ] || [ ${#procs[@]} -gt 0 ] || return 0
    for line in "${procs[@]}"; do
        wine_service "$line" && continue
        case ${line,,} in
            *'\wineboot.exe'* | *'rundll32.exe setupapi,installhinfsection'*'wine.inf'*)
                updating="$updating $(proc_label "$line"): ${line#*$'\t'};" ;;
            *) programs="$programs $(proc_label "$line")" ;;
        esac
    done
    if [ -n "$updating" ] && [ $force = 0 ]; then
        die "Wine is updating $P (wineboot:${updating%;}; wedged if it has run for minutes). Nothing was changed." \
            "Wait for it, or end it (WINEPREFIX=$P $WINESERVER -k), or pass --force (make ... FORCE=1)"
    fi
    if [ -n "$programs" ]; then
        [ $force = 1 ] || die "programs are running in $P:$programs. Quit them (or: WINEPREFIX=$P" \
            "$WINESERVER -k), or pass --force (make ... FORCE=1) to have them ended before the $action"
        log "--force: ending the programs running in $P:$programs"
    fi
    [ -z "$updating" ] || log "--force: ending Wine's update of $P:$updating"
    wine_run $SERVER_TIMEOUT "$WINESERVER" -k || true
    wine_run $SERVER_TIMEOUT "$WINESERVER" -w || true
    check_signal
    scan_prefix || true
    [ ${#server_pids[@]} = 0 ] ||
        die "the wineserver of $P (pid ${server_pids[*]}) did not stop within $SERVER_TIMEOUT s; nothing was changed"
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
# Wine's builtin ole32 among Wine's builtins: the only one that exports BindMoniker.
is_wine_ole32() { is_wine_builtin "$1" && grep -qa 'BindMoniker' "$1"; }
# The proxy forwards to ole32_orig; neither Wine's ole32 nor a native one names it.
is_proxy() { [ -f "$1" ] && grep -qa 'ole32_orig\.' "$1"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# The version a proxy carries in its VERSIONINFO (ProductVersion, UTF-16: read with the NULs taken out).
proxy_version() {
    tr -d '\000' <"$1" | grep -ao 'ProductVersion[^0-9A-Za-z]*[0-9][0-9.]*' |
        awk 'NR == 1 { sub(/^ProductVersion[^0-9]*/, ""); v = $0 } END { print v ? v : "unknown" }'
}
# The sha256 of the Wine ole32.dll whose exports the build's proxy for arch $1 copies (written by gen-ole32-def.sh).
proxy_source_sha() {
    sed -n 's/^; Wine ole32 sha256: \([0-9a-f]\{64\}\).*/\1/p' "$BUILD/$1/proxy/ole32.def" 2>/dev/null
}

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

# Refuses, before any change, a proxy whose exports were generated from another ole32.dll than the one that
# becomes ole32_orig.dll beside it ($2: the prefix's directory): its ordinals and forwarders would not match.
check_proxy_source() {
    local arch=$1 dir=$2 orig built want
    orig=$(builtin_dir "$arch")/ole32.dll
    [ -r "$orig" ] || orig=$P/$dir/ole32.dll
    built=$(proxy_source_sha "$arch")
    want=$(sha "$orig")
    [ -n "$built" ] || die "$arch: $BUILD/$arch/proxy/ole32.def does not say which ole32.dll its exports come from" \
        "(built by an older version?); nothing was changed. Rebuild the proxy: make proxy"
    [ "$built" = "$want" ] || die "$arch: the proxy in $BUILD/$arch/proxy copies the exports of another ole32.dll" \
        "(sha256 $built) than this Wine's $orig (sha256 $want), so its ordinals would not match; nothing was" \
        "changed. Rebuild it against this Wine: make proxy (make install-prefix does that by itself)"
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
# A wineboot -u of ours that did not finish (its marker is left) means a half-updated prefix, whatever the timestamp
# says: Wine writes the timestamp before it updates.
prefix_up_to_date() {
    local line builtin
    [ ! -e "$P/$WINEBOOT_MARK" ] && [ ! -L "$P/$WINEBOOT_MARK" ] || return 1
    [ -r "$WINE_INF" ] && [ -r "$P/.update-timestamp" ] || return 1
    [ "$(head -c 64 "$P/.update-timestamp" | tr -d '\r\n')" = "$(stat -c %Y "$WINE_INF")" ] || return 1
    for line in "${dirs[@]}"; do
        builtin=$(builtin_dir "${line%% *}")/ole32.dll
        cmp -s "$builtin" "$P/${line#* }/ole32.dll" || return 1
    done
}

# ---- the record ----------------------------------------------------------------------------------------------------
# ole32mem-backup/installed: "format 2", "mode M", "hook H", "app A", per arch "dir ARCH RELDIR",
# per registry value set "reg KEY NAME PREVIOUS EXISTED" (base64 fields, as in the journal), per arch
# "sha ARCH REPLACED PROXY": the sha256 of the ole32.dll the proxy replaced and of the proxy (absent in records of
# earlier versions of this format).

read_record() {
    local kind a b c d
    installed_mode='' installed_hook=0 installed_app='' installed_dirs=() installed_regs=()
    declare -gA installed_orig=() installed_proxy=()
    if [ -f "$P/$RECORD" ]; then
        while read -r kind a b c d; do
            case $kind in
                mode) installed_mode=$a ;;
                hook) installed_hook=$a ;;
                app) installed_app=$(unb64 "${a:-}") ;;
                dir) installed_dirs+=("$a $b") ;;
                reg) installed_regs+=("$a $b $c $d") ;;
                sha) installed_orig[$a]=$b installed_proxy[$a]=$c ;;
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

# No record, but proxies in system32/syswow64 (what a clean-up cut short by an older version could leave): they
# are taken as the installation, with no registry values to restore.
read_orphans() {
    local line
    installed_mode=copy installed_hook=0 installed_app='' installed_dirs=() installed_regs=()
    declare -gA installed_orig=() installed_proxy=()
    while read -r line; do
        if is_proxy "$P/${line#* }/ole32.dll"; then installed_dirs+=("$line"); fi
    done < <(prefix_dirs 2>/dev/null)
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

# Writes the record; sha_lines holds its "sha" lines.
write_record() {
    local line regs=("$@")
    {
        echo "format 2"
        echo "mode $mode"
        echo "hook $hook"
        echo "app $(b64 "$app")"
        for line in "${dirs[@]}"; do echo "dir $line"; done
        for line in "${regs[@]}"; do echo "reg $line"; done
        for line in "${sha_lines[@]}"; do echo "sha $line"; done
    } | write_new "$B/record$TMP_SUFFIX" || abort "could not write the record (disk full?)"
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

# What file $1 (relative) is, for messages; $2 is its arch. A proxy is told by its forwarders and its version, this
# build's or the installed one by its sha256; a Wine ole32 by its content: the installed Wine's is byte for byte
# the file in WINE_DLLDIR_<arch>.
what_is() {
    local f=$P/$1 arch=${2:-} s builtin
    [ -e "$f" ] || { echo "no file"; return 0; }
    s=$(sha "$f")
    builtin=$(builtin_dir "${arch:-x86_64}")/ole32.dll
    if is_proxy "$f"; then
        if [ -n "$arch" ] && [ -f "$BUILD/$arch/proxy/ole32.dll" ] &&
            [ "$s" = "$(sha "$BUILD/$arch/proxy/ole32.dll")" ]; then
            echo "this build's ole32mem proxy (version $(proxy_version "$f"))"
        elif [ -n "$arch" ] && [ "$s" = "${installed_proxy[$arch]:-}" ]; then
            echo "the ole32mem proxy installed here (version $(proxy_version "$f"), an earlier build than this one)"
        else
            echo "an ole32mem proxy of another build (version $(proxy_version "$f"), sha256 $s)"
        fi
    elif is_wine_ole32 "$f"; then
        if [ -r "$builtin" ] && [ "$s" = "$(sha "$builtin")" ]; then
            echo "the installed Wine's own ole32 (sha256 $s)"
        else
            echo "the ole32 of another Wine version (sha256 $s; Wine upgraded since the prefix was last updated?)"
        fi
    elif is_wine_builtin "$f"; then
        echo "a Wine builtin DLL that is not ole32 (sha256 $s)"
    else
        echo "a DLL that is not Wine's (sha256 $s; a native ole32 put there by the user or winetricks?)"
    fi
}

# A file with the content of the ole32.dll that the proxy in $2 replaced, when its backup is missing: the installed
# Wine's ole32 or the prefix's ole32_orig.dll, whichever has the sha256 the record holds (for a record without
# one: the installed Wine's ole32 when ole32_orig.dll, copied from it at install, is byte for byte the same).
lost_backup_source() {
    local arch=$1 dir=$2 want=${installed_orig[$1]:-} builtin c
    builtin=$(builtin_dir "$arch")/ole32.dll
    [ "$want" != - ] || want=
    if [ -n "$want" ]; then
        for c in "$builtin" "$P/$dir/ole32_orig.dll"; do
            [ -f "$c" ] && [ "$(sha "$c")" = "$want" ] && { echo "$c"; return 0; }
        done
        return 1
    fi
    [ -f "$builtin" ] && [ -f "$P/$dir/ole32_orig.dll" ] && cmp -s "$builtin" "$P/$dir/ole32_orig.dll" && echo "$builtin"
}

# Global installs: a program with an ole32 override of its own (AppDefaults\<app>\DllOverrides) does not get the
# proxy, because Wine takes the program's override first. Says so for each.
warn_app_overrides() {
    [ -z "$app" ] || return 0
    awk '/^\[/ { sec = tolower($0); app = ""
                 if (sec ~ /^\[software\\\\wine\\\\appdefaults\\\\[^\\]+\\\\dlloverrides\]/) {
                     app = $0; sub(/^\[[^\\]*\\\\[^\\]*\\\\[^\\]*\\\\/, "", app); sub(/\\\\.*/, "", app) } next }
         app != "" && tolower($0) ~ /^"ole32"=/ { print app "\t" $0 }' "$P/user.reg" |
        while IFS=$'\t' read -r a v; do
            log "note: $a has an ole32 override of its own ($v in" \
                "HKCU\\Software\\Wine\\AppDefaults\\$a\\DllOverrides)," \
                "which Wine takes before the global one: $a will not use the proxy unless that value goes"
        done
}

# The value the override has now, for messages.
override_now() { reg_get "$(override_key "$app")" ole32 || echo "no ole32 value"; }

# ---- actions -------------------------------------------------------------------------------------------------------

do_status() {
    [ ! -f "$P/$JOURNAL" ] || log "an interrupted $(journal_what) is pending in $P; install or uninstall will settle it"
    if [ ! -f "$P/$RECORD" ] && [ ! -f "$P/$OLD_STATE" ]; then
        log "ole32mem is not installed in $P"
        return 0
    fi
    read_record
    mode=$installed_mode app=$installed_app hook=$installed_hook
    log "ole32mem is installed in $P ($(describe "$installed_hook"))"
    registry_current || log "the override in HKCU\\$(override_key "$app") is now $(override_now), not" \
        "\"ole32\"=\"$OVERRIDE_VALUE\" (changed by hand?): programs do not get the proxy; install again to set it"
    for line in "${installed_dirs[@]}"; do
        orig_current "${line%% *}" "${line#* }" ||
            log "${line%% *}: ole32_orig.dll is stale (Wine was upgraded); run install again"
        is_proxy "$P/${line#* }/ole32.dll" ||
            log "${line%% *}: ${line#* }/ole32.dll is no longer the proxy:" \
                "$(what_is "${line#* }/ole32.dll" "${line%% *}")"
        [ -f "$P/$B/${line%% *}/ole32.dll" ] || log "${line%% *}: the backup of ole32.dll is missing"
    done
}

do_uninstall() {
    local i line arch dir backup src
    local -a how=()
    if [ ! -f "$P/$RECORD" ] && [ ! -f "$P/$OLD_STATE" ]; then
        read_orphans
        if [ ${#installed_dirs[@]} = 0 ]; then
            for dir in drive_c/windows/system32 drive_c/windows/syswow64; do
                [ ! -e "$P/$dir/ole32_orig.dll" ] ||
                    log "warning: $P/$dir/ole32_orig.dll exists but no installation is recorded; left alone"
            done
            log "ole32mem is not installed in $P; nothing to do"
            return 0
        fi
        log "found ole32mem proxies but no record of their installation (a clean-up cut short by an older version?):" \
            "putting Wine's ole32 back under them; registry values are left as they are (their earlier values were" \
            "not recorded)"
    else
        read_record
    fi
    # The way back for each arch, decided before any change: the backup, else a file with its content, else refuse.
    for i in "${!installed_dirs[@]}"; do
        line=${installed_dirs[$i]}
        arch=${line%% *} dir=${line#* } backup=$B/$arch/ole32.dll
        if ! is_proxy "$P/$dir/ole32.dll"; then
            how[$i]=keep
        elif [ -f "$P/$backup" ] && [ ! -L "$P/$backup" ]; then
            how[$i]=backup
        elif src=$(lost_backup_source "$arch" "$dir"); then
            how[$i]="file $src"
        else
            die "$arch: the backup of $dir/ole32.dll ($P/$backup) is missing, and neither this Wine's ole32 nor" \
                "ole32_orig.dll has the content of the file the proxy replaced; nothing was changed. The proxy and" \
                "ole32_orig.dll stay (programs keep working). To put Wine's ole32 back: copy" \
                "$(builtin_dir "$arch")/ole32.dll over $P/$dir/ole32.dll, then uninstall again"
        fi
    done
    stop_server
    txn_begin uninstall
    restore_registry
    for i in "${!installed_dirs[@]}"; do
        line=${installed_dirs[$i]}
        arch=${line%% *} dir=${line#* } backup=$B/$arch/ole32.dll
        case ${how[$i]} in
            keep)
                log "$arch: $dir/ole32.dll is not the proxy ole32mem installed; found" \
                    "$(what_is "$dir/ole32.dll" "$arch"). Keeping it"
                ;;
            backup)
                step "restore-$arch"
                move "$backup" "$dir/ole32.dll"
                log "$arch: restored $dir/ole32.dll"
                ;;
            file\ *)
                step "restore-$arch"
                put "${how[$i]#file }" "$dir/ole32.dll"
                log "$arch: the backup of $dir/ole32.dll was missing; restored it from ${how[$i]#file } (the same" \
                    "bytes as the ole32.dll that ole32mem replaced)"
                ;;
        esac
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

# wineboot -u, bounded: a wineboot that does not finish in time is ended (with Wine's own services: no program
# runs, stop_server saw to that) and the install refused.
update_prefix() {
    local rc=0
    if prefix_up_to_date; then
        log "the prefix is up to date with this Wine (skipping wineboot -u)"
        return 0
    fi
    [ ! -e "$P/$WINEBOOT_MARK" ] || log "an earlier wineboot -u of ole32mem's did not finish; running it again"
    log "updating the prefix (wineboot -u)"
    date +%s | write_new "$WINEBOOT_MARK" || die "could not write in $P (disk full? read-only?)"
    wine_run "$WINEBOOT_TIMEOUT" "$wine" wineboot -u || rc=$?
    if [ $rc = 0 ]; then
        wine_run $SERVER_TIMEOUT "$WINESERVER" -w || true
        rm -f "$P/$WINEBOOT_MARK"
    fi
    check_signal
    if [ $rc = 124 ] || [ $rc = 137 ]; then
        wine_run $SERVER_TIMEOUT "$WINESERVER" -k || true
        die "wineboot -u did not finish within $WINEBOOT_TIMEOUT s (wedged?); ended it. ole32mem changed nothing;" \
            "the prefix may be half updated: run install again (it runs wineboot -u again), or look at" \
            "WINEPREFIX=$P WINEDEBUG=+all $wine wineboot -u"
    fi
    [ $rc = 0 ] || die "wineboot -u failed in $P (status $rc); ole32mem changed nothing"
}

do_install_fresh() {
    local arch dir line proxy
    mapfile -t dirs < <(prefix_dirs)
    [ ${#dirs[@]} -gt 0 ] || die "found no ole32.dll to replace in $P"
    # Everything that can refuse is checked before anything runs or changes (wineboot -u rewrites system.reg).
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        confined "$dir/ole32.dll"
        proxy_file "$arch" >/dev/null
        [ -f "$P/$dir/ole32.dll" ] || die "$P/$dir/ole32.dll does not exist"
        # A native ole32 (winetricks, or the user's own) is not ours to wrap: the proxy forwards to ole32_orig.
        is_wine_ole32 "$P/$dir/ole32.dll" ||
            die "$arch: $dir/ole32.dll is $(what_is "$dir/ole32.dll" "$arch"). Keeping it; refusing to install over it"
        check_proxy_source "$arch" "$dir"
    done
    stop_server
    update_prefix
    stop_server
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        is_wine_ole32 "$P/$dir/ole32.dll" ||
            die "$arch: after wineboot -u, $dir/ole32.dll is $(what_is "$dir/ole32.dll" "$arch");" \
                "refusing to install over it"
        [ ! -e "$P/$dir/ole32_orig.dll" ] || log "warning: replacing a leftover $dir/ole32_orig.dll"
    done
    warn_app_overrides
    txn_begin install
    sha_lines=()
    for line in "${dirs[@]}"; do
        arch=${line%% *} dir=${line#* }
        step "backup-$arch"
        make_dir "$B/$arch" || abort "could not create $B/$arch"
        put "$P/$dir/ole32.dll" "$B/$arch/ole32.dll"
        sha_lines+=("$arch $(sha "$P/$B/$arch/ole32.dll") $(sha "$(proxy_file "$arch")")")
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
    sha_lines=()
    for i in "${!dirs[@]}"; do
        arch=${dirs[$i]%% *} dir=${dirs[$i]#* }
        confined "$dir/ole32.dll"
        proxy_file "$arch" >/dev/null
        if ! is_proxy "$P/$dir/ole32.dll"; then
            die "$arch: $dir/ole32.dll is no longer the proxy: found $(what_is "$dir/ole32.dll" "$arch"). Keeping it;" \
                "uninstall (which keeps it too), then install again"
        fi
        check_proxy_source "$arch" "$dir"
        sha_lines+=("$arch ${installed_orig[$arch]:--} $(sha "$(proxy_file "$arch")")")
    done
    warn_app_overrides
    stop_server
    txn_begin install
    reg_records=("${installed_regs[@]}")
    if [ "$installed_app" != "$app" ] || [ "$installed_hook" != "$hook" ] || ! registry_current; then
        if [ "$installed_app" != "$app" ] || [ "$installed_hook" != "$hook" ]; then
            log "changing the installation from ($(mode=$installed_mode app=$installed_app describe "$installed_hook"))" \
                "to ($(describe $hook))"
        else
            log "the override was changed or lost since the install ($(override_now)); setting it again"
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

# The state directory and every directory of ours in it must be directories of their own: nothing is written
# through a symlink planted there.
for d in "$B" "$B/txn" "$B/x86_64" "$B/i686"; do
    [ ! -L "$P/$d" ] || die "$P/$d is a symlink (to $(readlink "$P/$d")); refusing to write through it. Nothing was" \
        "changed; remove the link (and put back the directory it points to, if it was ole32mem's)"
done

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
