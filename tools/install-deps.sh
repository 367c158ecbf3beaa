#!/usr/bin/env bash
# Installs what building and testing ole32mem needs on Debian 12, as root, from Debian's archive only:
#   mingw-w64 cross compilers for x86_64 and i686, mingw-w64-tools (widl, gendef, pkg-config wrappers),
#   wine64 (64-bit PE), wine32:i386 (32-bit PE), clang with its sanitizer/libFuzzer runtime (host checks),
#   cmake (MinGW consumer example), xvfb (a display for window-dependent tests), dpkg-dev (dpkg-source, to unpack
#   Wine's source package for the winetests suite), make, debootstrap (the Debian 13 root in which
#   `make check-wine10` runs the suites under Wine 10: tools/wine-root.sh).
#
# It does nothing when everything is already there, so `make` and CI can call it every time.
# All output goes to stderr.
#
# What it may change on the machine, and nothing else:
#   - the packages above and their dependencies (and the i386 architecture that wine32:i386 needs);
#   - only when the plain install is impossible: a few installed amd64 libraries downgraded from their
#     bookworm-security version, each named before and after, with the command that restores them.
# It never writes under /etc/apt. The workaround below lives in a temporary directory that is removed when the
# script ends, however it ends (trap). A pin file that versions before 2026-11-30 left in
# /etc/apt/preferences.d (it blocked every security update of the machine) is removed when found.
#
# wine32:i386 is the hard part. Multi-Arch: same libraries must have the SAME version on amd64 and i386.
# When the mirror serves bookworm-security's amd64 index but not its i386 one ("File has unexpected size ...
# Mirror sync in progress?"), i386 only sees bookworm's versions while amd64 candidates and often installed
# versions come from bookworm-security. apt's resolver then fails ("held broken packages"), or "solves" it by
# removing wine64. What works:
#   1. try the plain install (simulated first); that is all it takes when the archive is consistent;
#   2. otherwise, for this one apt transaction only, rank bookworm-security below bookworm for the libraries in
#      wine32:i386's dependency closure (a preferences file in the temporary directory, passed with
#      -o Dir::Etc::Preferences), so that both arches choose the same candidates; and explicitly downgrade the
#      few installed amd64 libraries that exist only in bookworm-security (a pin never downgrades).
# Every plan is simulated first; a plan that removes any package (wine64 above all) is refused.
#
# For tests (tests/deps/): OLE32MEM_APT_ETC replaces /etc/apt (where apt's own preferences are read and the old
# pin file is looked for), OLE32MEM_DEPS_FORCE=1 skips the "everything is there" shortcut.
set -euo pipefail

APT_ETC=${OLE32MEM_APT_ETC:-/etc/apt}
# The file earlier versions of this script left behind, and a line that proves it is ours.
OLD_PIN_FILE=$APT_ETC/preferences.d/ole32mem-wine32-i386
OLD_PIN_MARK="Explanation: Written by ole32mem's tools/install-deps.sh to install wine32:i386."

log() { printf 'install-deps: %s\n' "$*" >&2; }
# ON_DIE, when set, names a function that die runs first (to leave the machine as usable as possible).
ON_DIE=
die() {
    local hook=$ON_DIE
    ON_DIE=
    if [ -n "$hook" ]; then "$hook" || true; fi
    printf 'install-deps: error: %s\n' "$*" >&2
    exit 1
}

# The temporary directory of this run; removed on every exit path. A signal ends the script through exit, so
# that the EXIT trap runs once.
TMP_DIR=
cleanup() {
    if [ -n "$TMP_DIR" ]; then rm -rf "$TMP_DIR"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM HUP

# Paths are the ones Debian's packages install; the Makefile uses the same defaults.
have_all() {
    command -v x86_64-w64-mingw32-gcc >/dev/null &&
    command -v i686-w64-mingw32-gcc >/dev/null &&
    command -v x86_64-w64-mingw32-widl >/dev/null &&
    command -v gendef >/dev/null &&
    command -v cmake >/dev/null &&
    command -v make >/dev/null &&
    command -v clang >/dev/null &&
    command -v Xvfb >/dev/null &&
    command -v dpkg-source >/dev/null &&
    [ -x /usr/sbin/debootstrap ] &&
    [ -r /usr/include/wine/wine/windows/unknwn.idl ] &&
    [ -x /usr/lib/wine/winedump ] &&
    [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] &&
    [ -x /usr/lib/wine/wine64 ] && [ -x /usr/lib/wine/wine ] && [ -x /usr/lib/wine/wineserver ]
}

# remove_old_pin: deletes the pin file of earlier versions, only that file and only if its content is ours.
remove_old_pin() {
    [ -e "$OLD_PIN_FILE" ] || return 0
    if ! grep -qxF "$OLD_PIN_MARK" "$OLD_PIN_FILE"; then
        log "leaving $OLD_PIN_FILE alone: it is not the file ole32mem wrote"
        return 0
    fi
    if rm -f "$OLD_PIN_FILE" 2>/dev/null; then
        log "removed $OLD_PIN_FILE, which an earlier version of this script left behind: it ranked"
        log "bookworm-security below bookworm for every package and so blocked the machine's security updates."
        log "Run \`apt-get update && apt-get upgrade\` to take the updates it held back."
    else
        log "warning: $OLD_PIN_FILE (left by an earlier version of this script) blocks this machine's security"
        log "updates; remove it as root: rm $OLD_PIN_FILE"
    fi
}

remove_old_pin

# Fast path: no apt, no network, no root needed.
if [ -z "${OLE32MEM_DEPS_FORCE:-}" ] && have_all; then
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "missing build dependencies and not root; run as root: $0"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"
[ "$(dpkg --print-architecture)" = amd64 ] || die "this script supports amd64 hosts only"

TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ole32mem-deps.XXXXXX") || die "cannot create a temporary directory"

export DEBIAN_FRONTEND=noninteractive
# libwine-dev: the IDL files (unknwn.idl, wtypes.idl, ...) that idl/objidl.idl imports (Debian's mingw-w64
# packages ship only the generated headers); wine64-tools: winedump, for the prefix proxy's export list.
PKGS64=(gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 mingw-w64-tools wine64 wine64-tools libwine-dev clang
    libclang-rt-14-dev cmake xvfb xauth dpkg-dev make debootstrap)
PKGS=("${PKGS64[@]}" wine32:i386)
# Wait for a concurrent apt/dpkg (e.g. unattended-upgrades) instead of failing on its lock.
APT=(apt-get -y --no-install-recommends -o DPkg::Lock::Timeout=300)
# The apt options of the one transaction that needs the workaround (set by install_pinned).
PIN_OPTS=()

# A previous run may have been killed in the middle of dpkg; apt refuses to work until this is done.
dpkg --configure -a >&2 || die "dpkg --configure -a failed; fix dpkg's state first"

if ! grep -qx i386 <<<"$(dpkg --print-foreign-architectures)"; then
    log "adding the i386 architecture (for wine32)"
    dpkg --add-architecture i386
fi

# A mirror in mid-sync can serve a stale index for one suite ("File has unexpected size"): apt then keeps
# the other lists and says so. Retry a few times; go on with what we have if only some lists failed
# (the pinned install below copes with a missing bookworm-security i386 index).
apt_update() {
    local try out
    for try in 1 2 3; do
        log "apt-get update (try $try)"
        out=$(apt-get update 2>&1) || true
        if ! grep -q '^E: \|^Err:' <<<"$out"; then
            return 0
        fi
        sleep 2
    done
    grep '^E: \|^Err:' <<<"$out" | head -5 >&2 || true
    grep -q '^Get:\|^Hit:' <<<"$out" || die "apt-get update reached no repository"
    log "warning: some package lists failed to download; continuing with the others"
}
apt_update

# simulate ARGS...: runs `apt-get install -s ARGS` (with the transaction's pin, if any); sets SIM (its output)
# and returns apt's exit code.
SIM=
simulate() {
    local rc=0
    SIM=$("${APT[@]}" "${PIN_OPTS[@]}" install -s "$@" 2>&1) || rc=$?
    return "$rc"
}

# refuse_removals: stops if the plan in SIM removes anything. Installing a dev tool must never take wine64
# (or anything else) away; apt does that silently with -y when it "resolves" a multiarch version skew.
refuse_removals() {
    local removed
    removed=$(grep '^Remv ' <<<"$SIM" | awk '{print $2}' | tr '\n' ' ') || true
    [ -z "$removed" ] && return 0
    case " $removed " in *" wine64 "* | *" wine64:amd64 "*)
        die "apt's plan would REMOVE wine64; refusing. Packages it would remove: $removed" ;;
    esac
    die "apt's plan would remove packages; refusing. Packages it would remove: $removed"
}

# apt_errors: why the plan in SIM is unusable, for messages: the "unmet dependencies" part of a failed
# simulation, apt's E: lines, or the removals it planned.
apt_errors() {
    if grep -q '^Remv ' <<<"$SIM"; then
        echo "apt's plan removes: $(grep '^Remv ' <<<"$SIM" | awk '{print $2}' | tr '\n' ' ')"
    elif grep -q 'unmet dependencies' <<<"$SIM"; then
        sed -n '/unmet dependencies/,$p' <<<"$SIM" | head -40 || true
    else
        grep '^E: ' <<<"$SIM" | head -5 || true
    fi
}

# best_non_security PKG: the highest amd64 version of PKG that an archive other than *-security offers,
# i.e. the version the pin lets apt choose. Empty if there is none.
best_non_security() {
    local best='' v
    for v in $(apt-cache madison "$1" 2>/dev/null |
               awk -F' [|] ' '$3 !~ /-security/ && $3 ~ / amd64 Packages/ {print $2}'); do
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done
    printf '%s' "$best"
}

# installed_version PKG:ARCH: the installed version, or nothing. Sets STATUS to dpkg's abbreviated status.
STATUS=
installed_version() {
    local inst=''
    STATUS=''
    IFS='|' read -r STATUS inst < <(dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' "$1" 2>/dev/null) || true
    case "$STATUS" in ii*|hi*) printf '%s' "$inst" ;; esac
}

# DOWNGRADES ("name:amd64=version" ...), their versions before ("name:amd64 from"), and the names examined.
DOWNGRADES=()
declare -A FROM=()
declare -A EXAMINED=()

# consider NAME...: for each installed amd64 package among NAMEs (arch suffixes ignored) whose installed
# version is newer than anything outside bookworm-security, add an explicit downgrade to DOWNGRADES.
# Returns 0 if it added one. (The pin alone cannot do this: apt never picks a lower version than the
# installed one below priority 1000, and a 1000 pin would downgrade far more than wine32 needs.)
consider() {
    local name inst target added=1
    for name in "$@"; do
        name=${name%:*}
        [ -n "${EXAMINED[$name]:-}" ] && continue
        EXAMINED[$name]=1
        inst=$(installed_version "$name:amd64")
        [ -n "$inst" ] || continue
        target=$(best_non_security "$name")
        [ -n "$target" ] || continue
        if dpkg --compare-versions "$inst" gt "$target"; then
            case "$STATUS" in hi*)
                die "$name:amd64 is held (apt-mark hold) at $inst, which only bookworm-security has; wine32:i386 needs it at $target. Run \`apt-mark unhold $name\` and re-run, or install wine32:i386 by hand" ;;
            esac
            DOWNGRADES+=("$name:amd64=$target")
            FROM[$name:amd64]=$inst
            added=0
        fi
    done
    return "$added"
}

# install_64bit_only: ON_DIE hook for the pinned install: installs the 64-bit packages (no pin, nothing
# downgraded) so that 64-bit builds and tests work at least.
install_64bit_only() {
    PIN_OPTS=()
    log "wine32:i386 cannot be installed; installing the 64-bit packages so 64-bit builds and tests work"
    if simulate "${PKGS64[@]}" && ! grep -q '^Remv ' <<<"$SIM"; then
        "${APT[@]}" install "${PKGS64[@]}" >&2
    else
        log "the 64-bit packages cannot be installed without removing others either"
    fi
}

# The packages the pin applies to: wine32:i386's closure, and installed packages that need one of those at its
# exact version (libssl-dev on libssl3, say), which must follow it or be removed.
declare -A PINNED=()

# pin_more NAME...: adds NAMEs to the pin and rewrites its file; returns 0 if one was new.
pin_more() {
    local name added=1
    for name in "$@"; do
        name=${name%:*}
        [ -n "${PINNED[$name]:-}" ] && continue
        PINNED[$name]=1
        added=0
    done
    [ "$added" -eq 0 ] && write_preferences
    return "$added"
}

# write_preferences: the preferences file of the pinned transaction: the machine's own $APT_ETC/preferences
# (which -o Dir::Etc::Preferences replaces for this transaction; preferences.d still applies), then
# bookworm-security ranked below bookworm for the PINNED packages only.
write_preferences() {
    local file=$TMP_DIR/preferences
    {
        if [ -r "$APT_ETC/preferences" ]; then cat "$APT_ETC/preferences"; echo; fi
        echo "Explanation: ole32mem's install-deps, this one transaction only: amd64 and i386 agree on these"
        echo "Package: $(printf '%s\n' "${!PINNED[@]}" | sort | tr '\n' ' ')"
        echo "Pin: release l=Debian-Security"
        echo "Pin-Priority: 100"
    } >"$file" || die "cannot write $file"
    PIN_OPTS=(-o "Dir::Etc::Preferences=$file")
}

# show_downgrades WHEN: lists DOWNGRADES as "name:amd64 from -> to".
show_downgrades() {
    local d n
    log "$1"
    for d in "${DOWNGRADES[@]}"; do
        n=${d%%=*}
        log "  $n ${FROM[$n]} -> ${d#*=}"
    done
}

# behind_security NAME...: the installed amd64 packages among NAMEs for which bookworm-security has a newer
# version than the one installed: what the skewed mirror keeps from the machine until it is consistent again.
behind_security() {
    local name inst cand
    for name in "$@"; do
        inst=$(installed_version "$name:amd64")
        [ -n "$inst" ] || continue
        cand=$(apt-cache madison "$name" 2>/dev/null |
               awk -F' [|] ' '$3 ~ /-security/ && $3 ~ / amd64 Packages/ {print $2; exit}')
        [ -n "$cand" ] || continue
        if dpkg --compare-versions "$cand" gt "$inst"; then printf '%s %s %s\n' "$name" "$inst" "$cand"; fi
    done
}

install_pinned() {
    local attempt names closure removed autos=() d n behind
    log "the plain install is not possible (multiarch version skew between amd64 and i386?); apt said:"
    apt_errors >&2
    ON_DIE=install_64bit_only

    # The Multi-Arch: same libraries in wine32's i386 dependency closure are the ones whose amd64 and i386
    # copies must agree (only MA: same packages carry an arch suffix in apt-cache's output).
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                --no-replaces --no-enhances wine32:i386 2>/dev/null | sed -n 's/^\([^ <].*\):i386$/\1/p' | grep -vx wine32 | sort -u)
    [ -n "$closure" ] || die "apt-cache knows no wine32:i386 (is the i386 bookworm index missing?)"
    # shellcheck disable=SC2086  # word splitting of name lists is intended here and below
    pin_more $closure
    log "for this one transaction (a preferences file under $TMP_DIR, removed at exit), ranking"
    log "bookworm-security below bookworm for the $(wc -w <<<"$closure") libraries of wine32:i386's closure"

    # Installed amd64 libraries of the closure that only bookworm-security has must be downgraded explicitly.
    # shellcheck disable=SC2086
    names=$(comm -12 <(printf '%s\n' $closure) <(dpkg-query -W -f='${db:Status-Abbrev}|${binary:Package}\n' |
                awk -F'|' '$1 ~ /^[ih]i/ && $2 ~ /:amd64$/ {sub(/:amd64$/, "", $2); print $2}' | sort -u))
    # shellcheck disable=SC2086
    consider $names || true

    for attempt in 1 2 3 4 5 6 7 8; do
        if simulate --allow-downgrades "${PKGS[@]}" "${DOWNGRADES[@]}"; then
            # A downgraded library takes the packages that depend on its exact version with it (libssl-dev on
            # libssl3, say): downgrade those too where bookworm has a matching version, never remove them.
            removed=$(grep '^Remv ' <<<"$SIM" | awk '{print $2}' | sed 's/:amd64$//') || true
            if [ -n "$removed" ]; then
                # shellcheck disable=SC2086
                if pin_more $removed; then
                    log "attempt $attempt: the plan removes packages that need one of these libraries at its exact"
                    log "version; adding them to the transaction's pin: $(tr '\n' ' ' <<<"$removed")"
                    # shellcheck disable=SC2086
                    consider $removed || true
                    continue
                fi
                refuse_removals
            fi
            # `apt-get install NAME=VERSION` marks NAME manually installed; remember which were automatic.
            for d in "${DOWNGRADES[@]}"; do
                n=${d%%=*}
                if [ -n "$(apt-mark showauto "${n%:amd64}")" ]; then autos+=("$n"); fi
            done
            if [ "${#DOWNGRADES[@]}" -gt 0 ]; then
                show_downgrades "wine32:i386 needs these amd64 libraries at the version i386 has; downgrading:"
            fi
            log "installing ${PKGS[*]} with bookworm preferred for wine32's libraries (this transaction only)"
            "${APT[@]}" "${PIN_OPTS[@]}" install --allow-downgrades "${PKGS[@]}" "${DOWNGRADES[@]}" >&2 ||
                die "apt-get install failed (see above)"
            ON_DIE=
            if [ "${#autos[@]}" -gt 0 ]; then apt-mark auto "${autos[@]}" >/dev/null; fi
            if [ "${#DOWNGRADES[@]}" -gt 0 ]; then show_downgrades "downgraded (from -> to):"; fi
            behind=$(behind_security "${!PINNED[@]}")
            if [ -n "$behind" ]; then
                log "these amd64 libraries of wine32's closure are older than bookworm-security's (installed ->"
                log "security):"
                while read -r n d a; do log "  $n $d -> $a"; done <<<"$behind"
            fi
            if [ -n "$behind" ] || [ "${#DOWNGRADES[@]}" -gt 0 ]; then
                log "apt's policy is unchanged: their security versions stay the candidates, but apt keeps them"
                log "back while wine32:i386's copies cannot follow. Once \`apt-get update\` fetches"
                log "bookworm-security's i386 index without error, run as root:"
                log "  apt-get update && apt-get upgrade"
                log "It upgrades each library on both arches together and keeps wine32:i386. Do not accept a plan"
                log "that removes wine32 or wine64 before then."
            fi
            return 0
        fi
        # apt's complaints ("X:i386 : Depends: Y:i386 (>= 1) but it is not going to be installed") name the
        # stuck packages; downgrade those whose installed amd64 version only bookworm-security has. Words
        # that are not installed packages ("but", "it", ...) are skipped by consider.
        log "attempt $attempt: apt still cannot resolve it; checking the packages it names"
        names=$(apt_errors | grep -v '^E: ' | sed 's/([^)]*)//g' | tr ' ' '\n' |
                grep -E '^[a-z0-9][a-z0-9.+-]+(:[a-z0-9]+)?$' | sort -u) || true
        # shellcheck disable=SC2086
        if ! consider $names; then
            apt_errors >&2
            die "cannot resolve wine32:i386's dependencies on this archive even with bookworm preferred${DOWNGRADES[*]:+ and ${DOWNGRADES[*]} downgraded} (apt's answer is above)"
        fi
    done
    apt_errors >&2
    die "gave up on wine32:i386 after 8 attempts (apt's last answer is above)"
}

# 1. The plain install: it works whenever the archive is consistent, and changes nothing that the packages do
#    not need. A plan that "works" by removing packages is not taken.
if simulate "${PKGS[@]}" && ! grep -q '^Remv ' <<<"$SIM"; then
    log "installing ${PKGS[*]}"
    "${APT[@]}" install "${PKGS[@]}" >&2 || die "apt-get install ${PKGS[*]} failed (see above)"
else
    # 2. The pinned transaction with explicit downgrades, see the top of this file.
    install_pinned
fi

if [ -z "${OLE32MEM_DEPS_FORCE:-}" ]; then
    have_all || die "packages installed but some tools are still missing (need x86_64-w64-mingw32-gcc, i686-w64-mingw32-gcc, x86_64-w64-mingw32-widl, gendef, cmake, make, clang + libclang-rt-14-dev, Xvfb, dpkg-source, debootstrap, /usr/include/wine/wine/windows/unknwn.idl, /usr/lib/wine/winedump, /usr/lib/wine/wine64, /usr/lib/wine/wine)"
fi
log "all dependencies present"
