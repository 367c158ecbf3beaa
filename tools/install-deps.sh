#!/usr/bin/env bash
# Installs what building and testing ole32mem needs on Debian 12, as root, from Debian's archive only:
#   mingw-w64 cross compilers for x86_64 and i686, mingw-w64-tools (widl, gendef, pkg-config wrappers),
#   wine64 (64-bit PE), wine32:i386 (32-bit PE), clang with its sanitizer/libFuzzer runtime (host checks),
#   cmake (MinGW consumer example).
#
# It does nothing when everything is already there, so `make` can call it every time.
#
# wine32:i386 is the hard part: on some archive snapshots Multi-Arch: same libraries have a newer amd64
# version (from the security suite) than i386 has, and a plain install either fails or "solves" the
# conflict by removing wine64. We simulate the install, read which i386 dependencies cannot be met,
# pin each such library's amd64 package to the i386 candidate version, and retry. We never accept a
# plan that removes wine64, and we stop with a clear message when the conflicts cannot be synchronised.
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

# Paths are the ones Debian's packages install; the Makefile uses the same defaults.
have_all() {
    command -v x86_64-w64-mingw32-gcc >/dev/null &&
    command -v i686-w64-mingw32-gcc >/dev/null &&
    command -v x86_64-w64-mingw32-widl >/dev/null &&
    command -v gendef >/dev/null &&
    command -v cmake >/dev/null &&
    command -v clang >/dev/null &&
    [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] &&
    [ -x /usr/lib/wine/wine64 ] && [ -x /usr/lib/wine/wine ] && [ -x /usr/lib/wine/wineserver ]
}

if have_all; then
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "missing build dependencies and not root; run as root: $0"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"

export DEBIAN_FRONTEND=noninteractive
APT_INSTALL=(apt-get install -y --no-install-recommends)

if ! dpkg --print-foreign-architectures | grep -qx i386; then
    log "adding the i386 architecture (for wine32)"
    dpkg --add-architecture i386
fi

# A mirror in mid-sync can serve a stale index for one suite ("File has unexpected size"): apt then keeps
# the other lists and says so. Retry a few times; go on with what we have if only some lists failed.
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
    grep '^E: \|^Err:' <<<"$out" | head -5 >&2
    grep -q '^Get:\|^Hit:' <<<"$out" || die "apt-get update reached no repository"
    log "warning: some package lists failed to download; continuing with the others"
}
apt_update

log "installing compilers, widl, wine64, clang"
"${APT_INSTALL[@]}" gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 mingw-w64-tools wine64 \
    clang libclang-rt-14-dev cmake make >&2 || die "installing the 64-bit packages failed"

install_wine32() {
    local pins=() attempt sim missing pkg ver
    for attempt in 1 2 3 4 5 6 7 8; do
        sim=$(apt-get install -s -y --no-install-recommends --allow-downgrades wine32:i386 wine64 "${pins[@]}" 2>&1) || true
        if ! grep -q 'Depends: .*but it is not\|Breaks:\|Conflicts:\|generated breaks\|Unable to correct' <<<"$sim"; then
            if grep -q '^Remv wine64' <<<"$sim"; then
                die "the plan to install wine32:i386 would remove wine64; refusing (apt said: $(grep '^Remv' <<<"$sim" | head -3 | tr '\n' ' '))"
            fi
            log "installing wine32:i386 ${pins[*]:+(synchronising ${pins[*]})}"
            "${APT_INSTALL[@]}" --allow-downgrades wine32:i386 wine64 "${pins[@]}" >&2 && return 0
            die "apt-get install wine32:i386 failed"
        fi
        # Lines like: "libfoo:i386 : Depends: libbar:i386 (= 1.2) but 1.3 is to be installed" or
        # "Depends: libbar:i386 (>= 1) but it is not going to be installed". The library that has to move is
        # a Multi-Arch: same one whose amd64 and i386 candidates differ; sync amd64 to the i386 candidate.
        missing=$(grep -o '[a-z0-9][a-z0-9.+-]*:i386' <<<"$sim" | sed 's/:i386$//' | sort -u)
        local added=0
        for pkg in $missing; do
            ver=$(apt-cache policy "$pkg:i386" 2>/dev/null | awk '/Candidate:/ {print $2}')
            [ -n "$ver" ] && [ "$ver" != "(none)" ] || continue
            local amd64ver
            amd64ver=$(apt-cache policy "$pkg:amd64" 2>/dev/null | awk '/Installed:/ {print $2}')
            if [ -n "$amd64ver" ] && [ "$amd64ver" != "(none)" ] && [ "$amd64ver" != "$ver" ]; then
                case " ${pins[*]} " in *" $pkg:amd64=$ver "*) continue ;; esac
                pins+=("$pkg:amd64=$ver" "$pkg:i386=$ver")
                added=1
            fi
        done
        if [ "$added" -eq 0 ]; then
            printf '%s\n' "$sim" | tail -20 >&2
            die "cannot resolve wine32:i386's dependencies on this archive (see apt's answer above); ${pins[*]:+tried synchronising ${pins[*]}}"
        fi
        log "attempt $attempt: synchronising ${pins[*]}"
    done
    die "gave up synchronising i386 libraries for wine32 after 8 attempts"
}

if [ ! -x /usr/lib/wine/wine ]; then
    install_wine32
fi

have_all || die "packages installed but some tools are still missing (need x86_64-w64-mingw32-gcc, i686-w64-mingw32-gcc, x86_64-w64-mingw32-widl, gendef, cmake, clang + libclang-rt-14-dev, /usr/lib/wine/wine64, /usr/lib/wine/wine)"
[ -x /usr/lib/wine/wine64 ] || die "wine64 is gone after installing wine32; reinstall it with: apt-get install wine64"
log "all dependencies present"
