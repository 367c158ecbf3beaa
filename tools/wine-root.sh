#!/usr/bin/env bash
# tools/wine-root.sh: a Debian root with another Wine in it (by default Debian 13 "trixie" and its Wine 10), made
# from Debian's mirror with debootstrap, and the one way the test suites run programs inside it.
#
#   tools/wine-root.sh create ROOT     make ROOT once; exit 0 when it is complete (made now or before), 2 when the
#                                      mirror cannot be reached (the reason on stderr: the caller counts its suites
#                                      as skipped), 1 on any other error
#   tools/wine-root.sh run ROOT [--cwd DIR] [--bind DIR]... -- CMD ARG...
#                                      run CMD inside ROOT with every --bind DIR (and --cwd DIR) at the same path
#   tools/wine-root.sh remove ROOT     delete ROOT, refused while anything runs inside it or is mounted under it
#   tools/wine-root.sh wine-version ROOT   print the Debian version of ROOT's wine64 package
#
# Environment: WINE_ROOT_SUITE (trixie), WINE_ROOT_MIRROR (http://deb.debian.org/debian), WINE_ROOT_SECURITY
# (http://deb.debian.org/debian-security), WINE_ROOT_PACKAGES (the packages below).
#
# Invariants:
# - The host's apt configuration is never read for the root nor changed: debootstrap fetches with its own settings
#   and the root's apt runs inside the root, on the root's own /etc/apt (the suite, -updates and -security).
# - A root is complete only when its stamp (ROOT/.ole32mem-root: suite and package list) exists, and the stamp is
#   written last, after the root was built under ROOT.new and renamed. A root without the stamp (an interrupted
#   create) is removed and made again.
# - Every run gets a private mount namespace and a private PID namespace: the bind mounts, proc, sysfs, /dev,
#   devpts, and tmpfs on /dev/shm and /tmp (XDG_RUNTIME_DIR=/tmp/runtime) exist only for that run and vanish with
#   it, and every process the run
#   started (wineserver, Xvfb) ends with it. Nothing is mounted in the host's namespace, so removing a root can
#   never delete through a bind mount into the work tree; `remove` also refuses while a process has its root inside
#   ROOT or something is mounted under it, and deletes with --one-file-system.
# - Inside a run, the host path of ROOT leads to ROOT as well (a relative symbolic link made at run time, when that
#   path does not already lead there through a bind), so that a file of the root named by its host path
#   (WINE_DLLDIR_x86_64=ROOT/usr/lib/...) is the same file outside and inside.
# Must never: touch /etc/apt or the host's package state, mount anything outside a run's namespace, delete a
# directory that is not a root made by this script.
set -euo pipefail

SUITE=${WINE_ROOT_SUITE:-trixie}
MIRROR=${WINE_ROOT_MIRROR:-http://deb.debian.org/debian}
SECURITY=${WINE_ROOT_SECURITY:-http://deb.debian.org/debian-security}
# wine, wine64, wine32:i386: Wine itself. What the suites run inside besides Wine: make (the winetests suite calls
# make install-prefix), procps (pgrep, ps), e2fsprogs (chattr: the prefix suite's read-only case), xvfb and xauth (a
# display for the winetests), the mingw binutils (addr2line and objdump for reports symbolized under Wine).
PACKAGES=${WINE_ROOT_PACKAGES:-wine wine64 wine32:i386 make procps e2fsprogs xvfb xauth binutils-mingw-w64-x86-64
binutils-mingw-w64-i686}
# One line, single spaces: the stamp compares it.
# shellcheck disable=SC2086,SC2116
PACKAGES=$(echo $PACKAGES)
STAMP_NAME=.ole32mem-root
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'wine-root: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
unavailable() { log "SKIPPED: $*"; exit 2; }
usage() { sed -n '4,14p' "$0" >&2; exit 1; }

absolute() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
stamp_text() { printf 'suite %s\nmirror %s\npackages %s\n' "$SUITE" "$MIRROR" "$PACKAGES"; }
complete() { [ -r "$1/$STAMP_NAME" ] && [ "$(cat "$1/$STAMP_NAME")" = "$(stamp_text)" ]; }

# Processes whose root directory is ROOT or below (a run in progress), as "pid command" lines.
users_of() {
    local p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        case $r in "$1" | "$1"/*) echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-80)" ;; esac
    done
}
# Mount points of this namespace at ROOT or below.
mounts_under() { awk -v r="$1" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo; }

remove_dir() {
    local dir=$1 users mounts
    [ -e "$dir" ] || return 0
    [ -e "$dir/$STAMP_NAME" ] || [ -e "$dir/.ole32mem-root-creating" ] ||
        die "$dir is not a root made by tools/wine-root.sh (no $STAMP_NAME); not removing it"
    users=$(users_of "$dir")
    [ -z "$users" ] || die "processes run inside $dir; not removing it:
$users"
    mounts=$(mounts_under "$dir")
    [ -z "$mounts" ] || die "mounted under $dir; not removing it: ${mounts//$'\n'/ }"
    rm -rf --one-file-system "$dir"
}

# ---- run ---------------------------------------------------------------------------------------------------------

# The part of a run inside the new namespaces, as root of them (PID 1 of the new PID namespace): the mounts, then
# the command, chrooted. Arguments: ROOT CWD NBINDS BIND... CMD...
inside() {
    local root=$1 cwd=$2 n=$3 dir link rel rc
    shift 3
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --bind /dev "$root/dev"
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
    mount -t tmpfs tmpfs "$root/dev/shm"
    mount -t tmpfs tmpfs "$root/tmp"
    # Wine 10's display drivers ask libwayland, which complains on stderr when XDG_RUNTIME_DIR is unset: a private
    # empty one (no compositor in it) keeps the programs' stderr theirs.
    mkdir -m 700 "$root/tmp/runtime"
    export XDG_RUNTIME_DIR=/tmp/runtime
    while [ "$n" -gt 0 ]; do
        dir=$1
        shift
        n=$((n - 1))
        mkdir -p "$root$dir"
        mount --bind "$dir" "$root$dir"
    done
    link=$root$root
    if [ ! -e "$link" ] && [ ! -L "$link" ]; then
        mkdir -p "$(dirname "$link")"
        rel=$(dirname "$root" | sed -e 's|^/||' -e 's|[^/][^/]*|..|g')
        ln -s "${rel:-.}" "$link"
    fi
    set +e
    chroot "$root" /bin/bash -c 'cd "$1" && shift && exec "$@"' bash "$cwd" "$@"
    rc=$?
    # What the command left running (a wineserver lingers 3 s after its last client, then saves the registry and
    # exits): given time to end by itself, then SIGTERM (on which a wineserver saves too); whatever is left when
    # this process, PID 1 of the namespace, returns is killed by the kernel. The list is read from the run's own
    # /proc (a process it starts to look is over before the next look).
    leftovers "$root" 200 || { kill -TERM "${LEFT[@]}" 2>/dev/null; leftovers "$root" 100; }
    return "$rc"
}

# leftovers ROOT TENTHS: waits up to TENTHS tenths of a second until no process but this one is left in the run;
# fails with their PIDs in LEFT when some are.
leftovers() {
    local i p
    for ((i = 0; i < $2; i++)); do
        LEFT=()
        for p in "$1"/proc/[0-9]*; do
            p=${p##*/}
            [ "$p" = 1 ] || [ "$(cut -d' ' -f3 "$1/proc/$p/stat" 2>/dev/null)" = Z ] || LEFT+=("$p")
        done
        [ "${#LEFT[@]}" -gt 0 ] || return 0
        sleep 0.1
    done
    return 1
}

cmd_run() {
    local root cwd=$PWD binds=()
    [ $# -ge 1 ] || usage
    root=$(absolute "$1")
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        --cwd) cwd=$(absolute "$2"); shift 2 ;;
        --bind)
            [ -d "$2" ] || die "--bind $2: no such directory"
            binds+=("$(cd "$2" && pwd -P)")
            shift 2
            ;;
        --) shift; break ;;
        *) usage ;;
        esac
    done
    [ $# -ge 1 ] || usage
    complete "$root" || die "$root is not a complete root (make it with: $0 create $root)"
    [ "$(id -u)" = 0 ] || die "running inside the root needs root (unshare, mount, chroot)"
    # --kill-child: if this script is killed (make interrupted), the whole run goes with it.
    exec unshare --mount --propagation private --pid --fork --kill-child \
        bash -c "set -e; $(declare -f inside leftovers); inside \"\$@\"" inside "$root" "$cwd" "${#binds[@]}" \
        "${binds[@]}" "$@"
}

# ---- create ------------------------------------------------------------------------------------------------------

# Runs CMD chrooted in the root being made, with proc, sysfs and /dev, in a namespace of its own.
in_new_root() {
    local root=$1
    shift
    unshare --mount --propagation private --pid --fork --kill-child bash -c '
        set -e
        r=$1; shift
        mount -t proc proc "$r/proc"; mount -t sysfs sysfs "$r/sys"; mount --bind /dev "$r/dev"
        mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
        exec chroot "$r" "$@"' bash "$root" "$@"
}

cmd_create() {
    local root new log started
    [ $# = 1 ] || usage
    root=$(absolute "$1")
    complete "$root" && return 0
    started=$(date +%s)
    [ "$(id -u)" = 0 ] || die "making the root needs root (debootstrap, chroot)"
    command -v debootstrap >/dev/null || die "debootstrap is missing (tools/install-deps.sh installs it)"
    [ -r "$KEYRING" ] || die "$KEYRING is missing (debian-archive-keyring)"
    # Whether the mirror answers at all: a failure here is "cannot reach", counted as skipped, not as failed.
    if ! wget -q -T 20 -t 2 -O /dev/null "$MIRROR/dists/$SUITE/InRelease" 2>/dev/null; then
        unavailable "cannot reach $MIRROR/dists/$SUITE/InRelease (no network?); the $SUITE root was not made"
    fi
    if [ -e "$root" ]; then
        log "$root is incomplete or was made for other packages; making it again"
        remove_dir "$root"
    fi
    new=$root.new
    remove_dir "$new"
    mkdir -p "$new"
    touch "$new/.ole32mem-root-creating"
    log=$(dirname "$root")/$(basename "$root").log
    log "making $root: debootstrap --variant=minbase $SUITE from $MIRROR (log: $log)"
    debootstrap --variant=minbase --arch=amd64 --keyring="$KEYRING" "$SUITE" "$new" "$MIRROR" >"$log" 2>&1 ||
        die "debootstrap failed; see $log"
    # A released suite has -updates and -security; unstable has neither.
    case $SUITE in
    sid | unstable) printf 'deb %s %s main\n' "$MIRROR" "$SUITE" ;;
    *) printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' "$MIRROR" "$SUITE" "$MIRROR" \
        "$SUITE" "$SECURITY" "$SUITE" ;;
    esac >"$new/etc/apt/sources.list"
    cp /etc/hosts /etc/resolv.conf "$new/etc/"
    log "installing $PACKAGES inside (log: $log)"
    in_new_root "$new" /bin/sh -c "dpkg --add-architecture i386 && apt-get -q update &&
        DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends install $PACKAGES && apt-get clean" \
        >>"$log" 2>&1 || die "installing $PACKAGES inside $new failed; see $log"
    rm -f "$new/.ole32mem-root-creating"
    stamp_text >"$new/$STAMP_NAME"
    mv "$new" "$root"
    log "made $root in $(($(date +%s) - started)) s ($(du -sh --one-file-system "$root" | cut -f1)):" \
        "wine $(cmd_wine_version "$root")"
}

cmd_wine_version() {
    [ $# = 1 ] || usage
    dpkg-query --admindir="$1/var/lib/dpkg" -W -f '${Version}' wine64
}

cmd_remove() {
    [ $# = 1 ] || usage
    local root
    root=$(absolute "$1")
    remove_dir "$root.new"
    remove_dir "$root"
    rm -f "$root.log"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
create) cmd_create "$@" ;;
run) cmd_run "$@" ;;
remove) cmd_remove "$@" ;;
wine-version) cmd_wine_version "$@" ;;
*) usage ;;
esac
