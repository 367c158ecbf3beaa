#!/usr/bin/env bash
# Installs what building and testing ole32mem needs on Debian 12, as root, from Debian's archive only:
#   mingw-w64 cross compilers for x86_64 and i686, mingw-w64-tools (widl, gendef, pkg-config wrappers),
#   wine64 (64-bit PE), wine32:i386 (32-bit PE), clang with its sanitizer/libFuzzer runtime (host checks),
#   cmake (MinGW consumer example), make.
#
# It does nothing when everything is already there, so `make` and CI can call it every time.
# All output goes to stderr.
#
# wine32:i386 is the hard part. Multi-Arch: same libraries must have the SAME version on amd64 and i386.
# When the mirror serves bookworm-security's amd64 index but not its i386 one ("File has unexpected size ...
# Mirror sync in progress?"), i386 only sees bookworm's versions while amd64 candidates and often installed
# versions come from bookworm-security. apt's resolver then fails ("generated breaks"), or "solves" it by
# removing wine64. What works (see shared/NOTES.md and the comments at install_pinned):
#   1. try the plain install (simulated first); that is all it takes when the archive is consistent;
#   2. otherwise rank bookworm-security below bookworm (apt preferences, Pin-Priority 100) so that both
#      arches choose the same candidates, and explicitly downgrade the few installed amd64 libraries that
#      exist only in bookworm-security (the pin cannot downgrade: apt keeps an installed newer version).
#      The pin is /etc/apt/preferences.d/ole32mem-wine32-i386; it stays after success (see PIN_FILE below).
# Every plan is simulated first; a plan that removes any package (wine64 above all) is refused.
set -euo pipefail

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

# Paths are the ones Debian's packages install; the Makefile uses the same defaults.
have_all() {
    command -v x86_64-w64-mingw32-gcc >/dev/null &&
    command -v i686-w64-mingw32-gcc >/dev/null &&
    command -v x86_64-w64-mingw32-widl >/dev/null &&
    command -v gendef >/dev/null &&
    command -v cmake >/dev/null &&
    command -v make >/dev/null &&
    command -v clang >/dev/null &&
    [ -r /usr/include/wine/wine/windows/unknwn.idl ] &&
    [ -x /usr/lib/wine/winedump ] &&
    [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] &&
    [ -x /usr/lib/wine/wine64 ] && [ -x /usr/lib/wine/wine ] && [ -x /usr/lib/wine/wineserver ]
}

# Fast path: no apt, no network, no root needed.
if have_all; then
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "missing build dependencies and not root; run as root: $0"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"
[ "$(dpkg --print-architecture)" = amd64 ] || die "this script supports amd64 hosts only"

export DEBIAN_FRONTEND=noninteractive
# libwine-dev: the IDL files (unknwn.idl, wtypes.idl, ...) that idl/objidl.idl imports (Debian's mingw-w64
# packages ship only the generated headers); wine64-tools: winedump, for the prefix proxy's export list.
PKGS64=(gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 mingw-w64-tools wine64 wine64-tools libwine-dev clang
    libclang-rt-14-dev cmake make)
PKGS=("${PKGS64[@]}" wine32:i386)
# Wait for a concurrent apt/dpkg (e.g. unattended-upgrades) instead of failing on its lock.
APT=(apt-get -y --no-install-recommends -o DPkg::Lock::Timeout=300)

# The pin that makes both arches agree; only written when the plain install cannot work. It stays after a
# successful install: without it apt sees newer amd64 versions in bookworm-security that i386 cannot match,
# so e.g. a later `apt-get install libgstreamer-plugins-base1.0-dev` fails ("held broken packages") and
# upgrades keep ~20 libraries back. Delete it once `apt-get install -s wine32:i386` works without it.
PIN_FILE=/etc/apt/preferences.d/ole32mem-wine32-i386

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

# simulate ARGS...: runs `apt-get install -s ARGS`; sets SIM (its output) and returns apt's exit code.
SIM=
simulate() {
    local rc=0
    SIM=$("${APT[@]}" install -s "$@" 2>&1) || rc=$?
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

# DOWNGRADES ("name:amd64=version" ...) and the names already examined.
DOWNGRADES=()
declare -A EXAMINED=()

# consider NAME...: for each installed amd64 package among NAMEs (arch suffixes ignored) whose installed
# version is newer than anything outside bookworm-security, add an explicit downgrade to DOWNGRADES.
# Returns 0 if it added one. (The pin alone cannot do this: apt never picks a lower version than the
# installed one below priority 1000, and we do not want a 1000 pin that would downgrade the whole system.)
consider() {
    local name status inst target added=1
    for name in "$@"; do
        name=${name%:*}
        [ -n "${EXAMINED[$name]:-}" ] && continue
        EXAMINED[$name]=1
        # Status "ii" is installed, "hi" installed and held.
        status='' inst=''
        IFS='|' read -r status inst < <(dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' "$name:amd64" 2>/dev/null) || true
        case "${status:-}" in ii*|hi*) ;; *) continue ;; esac
        target=$(best_non_security "$name")
        [ -n "$target" ] || continue
        if dpkg --compare-versions "$inst" gt "$target"; then
            case "$status" in hi*)
                die "$name:amd64 is held (apt-mark hold) at $inst, which only bookworm-security has; wine32:i386 needs it at $target. Run \`apt-mark unhold $name\` and re-run, or install wine32:i386 by hand" ;;
            esac
            DOWNGRADES+=("$name:amd64=$target")
            log "  $name:amd64 $inst (bookworm-security only) -> $target"
            added=0
        fi
    done
    return "$added"
}

# install_64bit_only: ON_DIE hook for the pinned install. Removes the pin unless an earlier run installed
# with it, then installs the 64-bit packages so that 64-bit builds and tests work at least.
PIN_WAS_THERE=
install_64bit_only() {
    [ -n "$PIN_WAS_THERE" ] || rm -f "$PIN_FILE"
    log "wine32:i386 cannot be installed; installing the 64-bit packages so 64-bit builds and tests work"
    if simulate "${PKGS64[@]}" && ! grep -q '^Remv ' <<<"$SIM"; then
        "${APT[@]}" install "${PKGS64[@]}" >&2
    else
        log "the 64-bit packages cannot be installed without removing others either"
    fi
}

install_pinned() {
    local attempt names autos=() d n
    log "the plain install is not possible (multiarch version skew between amd64 and i386?); apt said:"
    apt_errors >&2
    [ -e "$PIN_FILE" ] && PIN_WAS_THERE=1
    ON_DIE=install_64bit_only
    log "ranking bookworm-security below bookworm in $PIN_FILE so amd64 and i386 choose the same versions"
    cat >"$PIN_FILE" <<'PIN' || die "cannot write $PIN_FILE"
Explanation: Written by ole32mem's tools/install-deps.sh to install wine32:i386.
Explanation: Multi-Arch: same libraries need one version on amd64 and i386; when bookworm-security's i386
Explanation: index is missing (mirror in mid-sync) the two arches disagree. Prefer bookworm over
Explanation: bookworm-security so they agree. Delete this file once `apt-get install -s wine32:i386` works
Explanation: without it.
Package: *
Pin: release l=Debian-Security
Pin-Priority: 100
PIN

    # Start from the Multi-Arch: same libraries in wine32's i386 dependency closure that are installed for
    # amd64: those are the ones whose i386 copy must match. (Only MA: same packages carry an arch suffix in
    # dpkg's binary:Package.) Then add whatever apt's complaints name, and retry.
    log "looking for installed amd64 libraries that only bookworm-security has and wine32:i386 needs to match"
    names=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                --no-replaces --no-enhances wine32:i386 2>/dev/null | sed -n 's/^\([^ <].*\):i386$/\1/p' | sort -u)
    [ -n "$names" ] || die "apt-cache knows no wine32:i386 (is the i386 bookworm index missing?)"
    # shellcheck disable=SC2086  # word splitting of name lists is intended here and below
    names=$(comm -12 <(printf '%s\n' $names) <(dpkg-query -W -f='${db:Status-Abbrev}|${binary:Package}\n' |
                awk -F'|' '$1 ~ /^[ih]i/ && $2 ~ /:amd64$/ {sub(/:amd64$/, "", $2); print $2}' | sort -u))
    # shellcheck disable=SC2086
    consider $names || true

    for attempt in 1 2 3 4 5 6; do
        if simulate --allow-downgrades "${PKGS[@]}" "${DOWNGRADES[@]}"; then
            refuse_removals
            # `apt-get install NAME=VERSION` marks NAME manually installed; remember which were automatic.
            for d in "${DOWNGRADES[@]}"; do
                n=${d%%=*}
                if [ -n "$(apt-mark showauto "${n%:amd64}")" ]; then autos+=("$n"); fi
            done
            log "installing ${PKGS[*]} with bookworm preferred${DOWNGRADES[*]:+; downgrading ${DOWNGRADES[*]}}"
            "${APT[@]}" install --allow-downgrades "${PKGS[@]}" "${DOWNGRADES[@]}" >&2 ||
                die "apt-get install failed (see above)"
            ON_DIE=
            if [ "${#autos[@]}" -gt 0 ]; then apt-mark auto "${autos[@]}" >/dev/null; fi
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
    die "gave up on wine32:i386 after 6 attempts (apt's last answer is above)"
}

# 1. The plain install: it works whenever the archive is consistent (and when the pin from an earlier run is
#    in place and nothing new needs downgrading), and changes nothing that the packages do not need.
#    A plan that "works" by removing packages is not taken.
if simulate "${PKGS[@]}" && ! grep -q '^Remv ' <<<"$SIM"; then
    log "installing ${PKGS[*]}"
    "${APT[@]}" install "${PKGS[@]}" >&2 || die "apt-get install ${PKGS[*]} failed (see above)"
else
    # 2. The pinned install with explicit downgrades, see the top of this file.
    install_pinned
fi

have_all || die "packages installed but some tools are still missing (need x86_64-w64-mingw32-gcc, i686-w64-mingw32-gcc, x86_64-w64-mingw32-widl, gendef, cmake, make, clang + libclang-rt-14-dev, /usr/include/wine/wine/windows/unknwn.idl, /usr/lib/wine/winedump, /usr/lib/wine/wine64, /usr/lib/wine/wine)"
log "all dependencies present"
