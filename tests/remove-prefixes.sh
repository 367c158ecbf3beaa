#!/usr/bin/env bash
# tests/remove-prefixes.sh DIR...: removes the Wine prefixes that a suite made under each DIR, so that no prefix
# outlives its suite (a Wine 8 prefix is about 0.5 GB, a Wine 10 one 1.4 GB). A prefix is a directory holding
# system.reg: DIR itself or a directory up to two levels below it. Each one's wineserver is stopped first
# ($WINESERVER -k with WINEPREFIX set to that prefix: its own server, never anyone else's).
#
# Environment: WINESERVER [/usr/lib/wine/wineserver]. Run it under the Wine that made the prefixes ($(WINE_RUN) in
# the Makefile). Must never remove anything but a directory with a system.reg at most two levels below a DIR given.
set -u
: "${WINESERVER:=/usr/lib/wine/wineserver}"
for dir in "$@"; do
    [ -d "$dir" ] || continue
    find "$dir" -maxdepth 3 -name system.reg -type f -printf '%h\n' | sort -u | while read -r prefix; do
        [ ! -x "$WINESERVER" ] || WINEPREFIX=$prefix "$WINESERVER" -k 2>/dev/null
        rm -rf "$prefix"
    done
done
exit 0
