#!/usr/bin/env bash
# Fetches Debian's source package of the installed Wine and unpacks it once into $WT/src (the cache the "winetests"
# suite builds Wine's conformance tests from). Wine's code stays in the build tree: it is never copied into the
# repository.
#
#   tests/winetests/fetch.sh        (environment: WT, WINE_VERSION, WINE_PACKAGE, WINETESTS_MIRROR, WINETESTS_SUITE)
#
# The Wine whose source is fetched is the installed one (the version of the WINE_PACKAGE package, wine64), or the
# Debian version WINE_VERSION names (make check-wine10: the Wine of the Debian 13 root, from the trixie suite).
# apt runs with a private configuration under $WT/apt — its own sources list (one deb-src line for the mirror and
# suite of the machine's Debian sources), its own state and cache directories — so the machine's apt sources, lists
# and cache are never read for the download nor changed; nothing is written under /etc/apt or /var/lib/apt.
#
# Trust: apt checks the Sources index against the archive's signed Release file (Debian's archive keyring) and every
# downloaded file against the index; this script checks the SHA-256 sums again against the index, and dpkg-source
# checks them against the .dsc while unpacking (with Debian's patches applied, as the installed Wine was built).
# The version is the installed package's (dpkg-query -W wine64) or WINE_VERSION exactly; the unpacked tree must say
# so.
#
# Exit status: 0 the source is in $WT/src (already cached, or fetched now); 2 it could not be fetched (no network,
# version gone from the archive): the reason is on stderr and the caller counts the suite as skipped; 1 anything
# else (a checksum mismatch, an unpacking failure).
set -euo pipefail

: "${WT:?WT, the build directory of the suite, must be set}"
# apt reads relative Dir:: paths against its own directories (/etc/apt, /): ours must be absolute.
WT=$(mkdir -p "$WT" && cd "$WT" && pwd -P)
: "${WINE_PACKAGE:=wine64}" "${WINETESTS_MIRROR:=http://deb.debian.org/debian}" "${WINETESTS_SUITE:=bookworm}"

log() { printf 'winetests: %s\n' "$*" >&2; }
unavailable() {
    log "SKIPPED: cannot fetch Wine's source package: $*"
    exit 2
}

version=${WINE_VERSION:-}
[ -n "$version" ] || version=$(dpkg-query -W -f '${Version}' "$WINE_PACKAGE" 2>/dev/null) ||
    unavailable "$WINE_PACKAGE is not installed (dpkg-query -W $WINE_PACKAGE)"
stamp=$WT/src/.ole32mem-source
if [ -r "$stamp" ] && [ "$(cat "$stamp")" = "wine $version" ]; then
    exit 0
fi

for tool in apt-get apt-cache dpkg-source sha256sum; do
    command -v "$tool" >/dev/null || { log "$tool is missing (dpkg-source: install dpkg-dev)"; exit 1; }
done

apt=$WT/apt
mkdir -p "$apt/etc/sources.list.d" "$apt/etc/preferences.d" "$apt/state/lists/partial" \
    "$apt/cache/archives/partial" "$WT/download"
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
    "$WINETESTS_MIRROR" "$WINETESTS_SUITE" >"$apt/etc/sources.list"
# dpkg's status file is only read (apt wants one); the sandbox user stays root because our directories are root's.
APT_OPTS=(-o "Dir::State=$apt/state" -o "Dir::State::status=/var/lib/dpkg/status" -o "Dir::Cache=$apt/cache"
    -o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
    -o "Dir::Etc::Preferences=$apt/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
    -o "APT::Sandbox::User=root" -o "Acquire::Retries=2")

log "fetching the source of wine $version from $WINETESTS_MIRROR $WINETESTS_SUITE (private apt state in $apt)"
apt-get "${APT_OPTS[@]}" -q update >"$apt/update.log" 2>&1 ||
    unavailable "apt-get update failed (no network?); see $apt/update.log"
grep -qE '^(W|E): Failed to fetch' "$apt/update.log" &&
    unavailable "apt-get update could not fetch the Sources index (no network?); see $apt/update.log"

index=$(apt-cache "${APT_OPTS[@]}" showsrc wine 2>/dev/null | awk -v v="$version" '
    /^Package:/ { keep = 0 } /^Version:/ { keep = ($2 == v) } keep') || true
[ -n "$index" ] || unavailable "wine $version is not in $WINETESTS_MIRROR $WINETESTS_SUITE main any more"

rm -f "$WT/download"/*
(cd "$WT/download" && apt-get "${APT_OPTS[@]}" -q source --download-only "wine=$version") >"$apt/source.log" 2>&1 ||
    unavailable "apt-get source --download-only wine=$version failed; see $apt/source.log"

# The SHA-256 lines of the index: " SUM SIZE NAME".
sums=$(awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on { print $1 "  " $3 }' <<<"$index")
[ -n "$sums" ] || { log "no SHA-256 sums for wine $version in the Sources index"; exit 1; }
(cd "$WT/download" && sha256sum --quiet -c) <<<"$sums" || { log "checksum mismatch in $WT/download"; exit 1; }
dsc=$(awk '/\.dsc$/ { print $2 }' <<<"$sums")

rm -rf "$WT/src" "$WT/src.new"
# The .dsc's signature cannot be checked without debian-keyring; the index it was checked against is signed.
dpkg-source --no-copy -x "$WT/download/$dsc" "$WT/src.new" >"$apt/unpack.log" 2>&1 ||
    { log "dpkg-source -x failed; see $apt/unpack.log"; exit 1; }
upstream=${version%%[~-]*}
grep -qx "Wine version $upstream" "$WT/src.new/VERSION" ||
    { log "the unpacked source says '$(cat "$WT/src.new/VERSION")', not Wine $upstream"; exit 1; }
mv "$WT/src.new" "$WT/src"
echo "wine $version" >"$stamp"
log "Wine $upstream source (Debian $version) unpacked into $WT/src"
