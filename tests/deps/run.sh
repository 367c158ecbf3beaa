#!/usr/bin/env bash
# The "deps" suite of `make check`: tools/install-deps.sh's decisions, without root and without the network.
#
# tests/deps/fake-apt stands in for apt-get, apt-cache, apt-mark, dpkg, dpkg-query, id and sleep (symlinks on
# PATH) and plays one machine per scenario: a consistent mirror, a skewed one (bookworm-security's i386 index
# missing), a skewed one where the plan would remove a -dev package, a failure in the middle of the install, and
# an interrupt. OLE32MEM_APT_ETC points the script at a scratch /etc/apt; TMPDIR at a scratch temporary
# directory. Each check asserts what was run (the fake's log), what the script said, and that nothing is left
# behind: no file under the scratch /etc/apt, no temporary directory.
# Writes "PASSED FAILED SKIPPED" to $RESULT.
set -u
: "${RESULT:=build/results/deps}" "${BUILD:=build}"
script=$PWD/tools/install-deps.sh
work=$BUILD/deps-test
rm -rf "$work" && mkdir -p "$work/bin" "$(dirname "$RESULT")"
work=$(cd "$work" && pwd -P)
for cmd in apt-get apt-cache apt-mark dpkg dpkg-query id sleep; do
    ln -s "$PWD/tests/deps/fake-apt" "$work/bin/$cmd"
done

LIB_NAME=deps
. tests/lib.sh
check() { # check WHAT COMMAND...: one check of the current case
    local what=$1
    shift
    lib_check "$case: $what" "$@"
}
logged() { grep -qE -- "$1" "$dir/log"; }
said() { grep -qF -- "$1" "$dir/out"; }
not() { ! "$@"; }
nothing_left() { # no file under the scratch /etc/apt but the ones the case put there, no temporary directory
    [ -z "$(find "$dir/etc" -type f ! -name keep 2>/dev/null)" ] && [ -z "$(ls -A "$dir/tmp")" ]
}

# run CASE SCENARIO: runs the script in a fresh scratch directory; sets dir and rc.
case='' dir='' rc=0
run() {
    case=$1
    dir=$work/$1
    mkdir -p "$dir/etc/preferences.d" "$dir/tmp"
    : >"$dir/log"
    rc=0
    PATH="$work/bin:$PATH" FAKE_SCENARIO=$2 FAKE_LOG=$dir/log OLE32MEM_APT_ETC=$dir/etc OLE32MEM_DEPS_FORCE=1 \
        TMPDIR=$dir/tmp bash "$script" >"$dir/out" 2>&1 || rc=$?
}

run consistent consistent
check "exit 0" [ "$rc" -eq 0 ]
check "simulates the plain install" logged '^apt-get -y --no-install-recommends -o DPkg::Lock::Timeout=300 install -s gcc.* wine32:i386$'
check "then installs it" logged '^apt-get -y --no-install-recommends -o DPkg::Lock::Timeout=300 install gcc.* wine32:i386$'
check "no preferences option, no downgrade" not logged 'Dir::Etc::Preferences|allow-downgrades'
check "says nothing of security versions" not said 'bookworm-security'
check "nothing left" nothing_left

run skewed skewed
check "exit 0" [ "$rc" -eq 0 ]
check "pins the closure for the transaction" logged '^prefs Package: libbar2 libfoo1 $'
check "the install itself carries the pin and the downgrade" \
    logged '^apt-get .*Dir::Etc::Preferences=.* install --allow-downgrades .*wine32:i386 libfoo1:amd64=1.0-1$'
check "lists the downgrade before and after" [ "$(grep -c 'libfoo1:amd64 1.0-1+deb12u2 -> 1.0-1' "$dir/out")" -eq 2 ]
check "says how to get the security versions back" said 'apt-get update && apt-get upgrade'
check "nothing left under /etc/apt or in TMPDIR" nothing_left

run skewed-dev skewed-dev
check "exit 0" [ "$rc" -eq 0 ]
check "adds the package the plan would remove to the pin" logged '^prefs Package: libbar2 libfoo-dev libfoo1 $'
check "downgrades it with its library" logged ' install --allow-downgrades .*libfoo1:amd64=1.0-1 libfoo-dev:amd64=1.0-1$'
check "never removes it" not logged '^apt-get .*remove'
check "nothing left" nothing_left

run fail-install fail-install
check "exit 1" [ "$rc" -eq 1 ]
check "says the install failed" said 'error: apt-get install failed'
check "falls back to the 64-bit packages, unpinned" logged '^apt-get -y --no-install-recommends -o DPkg::Lock::Timeout=300 install gcc'
check "nothing left" nothing_left

run interrupt interrupt
check "exit 143" [ "$rc" -eq 143 ]
check "says it was terminated" said 'terminated'
check "nothing left" nothing_left

# The pin file of earlier versions: removed when it is ours, kept when it is not.
mkdir -p "$work/oldpin/etc/preferences.d"
printf '%s\n' "Explanation: Written by ole32mem's tools/install-deps.sh to install wine32:i386." \
    'Package: *' 'Pin: release l=Debian-Security' 'Pin-Priority: 100' \
    >"$work/oldpin/etc/preferences.d/ole32mem-wine32-i386"
run oldpin consistent
check "removes the old pin file" [ ! -e "$dir/etc/preferences.d/ole32mem-wine32-i386" ]
check "says so" said 'removed '"$dir/etc/preferences.d/ole32mem-wine32-i386"
mkdir -p "$work/foreign/etc/preferences.d"
printf 'Package: *\nPin: release l=Debian-Security\nPin-Priority: 100\n' >"$work/foreign/etc/preferences.d/ole32mem-wine32-i386"
run foreign consistent
check "keeps a file of the same name that is not ours" [ -e "$dir/etc/preferences.d/ole32mem-wine32-i386" ]

lib_total
lib_write_result "$RESULT"
