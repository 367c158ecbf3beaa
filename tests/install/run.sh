#!/usr/bin/env bash
# tests/install/run.sh: the "install" suite of `make check`, run by `make check-install` (mk/install.mk), which
# passes the variables below. It uses ole32mem the way a MinGW developer would, from a staged install:
#
#   `make install DESTDIR=$BUILD/stage` (every arch at once, as a user types it), then per arch one test each:
#     install     every file of the layout is there, and the DLL, import library and .def are the arch's
#     destdir     no installed file records the stage (DESTDIR is prepended while copying only)
#     pkg-config  <triplet>-pkg-config with PKG_CONFIG_SYSROOT_DIR/PKG_CONFIG_LIBDIR into the stage gives the
#                 version of ole32mem_version.h and the flags
#     pc-path     the wrapper's own search path (no PKG_CONFIG_LIBDIR) covers PREFIX_<arch>/lib/pkgconfig, so that
#                 a real install needs no setup (a PREFIX outside it is skipped: see docs/mingw.md)
#     plain       examples/consumer.c built with -I -L -lole32mem -luuid, then run under wine
#     pkgconfig   the same, built with the flags from pkg-config
#     cmake       the same, built by examples/CMakeLists.txt with examples/cmake/mingw-<triplet>.cmake, finding
#                 ole32memConfig.cmake in the stage (CMAKE_FIND_ROOT_PATH and CMAKE_PREFIX_PATH into it)
#   then `make uninstall DESTDIR=$BUILD/stage` and per arch:
#     uninstall   no file is left under the arch's prefix, nor lib/cmake/ole32mem
#   and once: the stage holds no file at all.
#
# A program that built but cannot run (no wine for its arch) is skipped, not passed. Failures print
# "install.mk: Test failed: ARCH: STEP: why" and the tail of the step's log (all logs: $BUILD/check-install/).
# Writes "PASSED FAILED SKIPPED" to $RESULT; exits 0 when it could run, whatever the results, 2 when it could not.
#
# Environment: MAKE ARCHES BUILD WINE64 WINE32 CMAKE VERSION RESULT WINEPREFIX (never ~/.wine: required), and per
# arch CROSS_<arch> TRIPLET_<arch> PREFIX_<arch> PKG_CONFIG_<arch>. WINEDEBUG and WINEDLLOVERRIDES come from the
# Makefile's WINE_ENV.
set -u
LIB_NAME=install.mk
. "$(dirname "$0")/../lib.sh"

die()
{
    echo "install.mk: $*" >&2
    exit 2
}

for var in MAKE ARCHES BUILD WINE64 WINE32 CMAKE VERSION RESULT WINEPREFIX; do
    [ -n "${!var:-}" ] || die "$var is not set (run this through 'make check-install')"
done

mkdir -p "$BUILD" || die "cannot create $BUILD"
build_abs=$(cd "$BUILD" && pwd) || die "cannot enter $BUILD"
stage=$build_abs/stage
work=$build_abs/check-install
src=$(pwd)
consumer_cflags=(-std=gnu11 -O2 -Wall -Wextra -Werror)
run_timeout=300
# The consumer's own builds are a user's: without the variables that this make passes its sub-makes (BUILD=,
# CFLAGS=... from the command line would reach CMake's makefiles).
no_make_vars=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES)

pass()
{
    lib_pass
    echo "install.mk: $1: $2: ok"
}

# fail ARCH STEP WHY [LOG]
fail()
{
    lib_fail "$1: $2: $3"
    if [ -n "${4:-}" ] && [ -s "$4" ]; then
        tail -n 15 "$4" | sed 's/^/    /'
    fi
}

# The words of $1 on one line, single spaces.
oneline()
{
    tr -s '[:space:]' ' ' <<<"$1" | sed 's/^ //; s/ $//'
}

skip() { lib_skip "$1: $2: $3"; }

# run_consumer ARCH STEP EXE LOG: runs a consumer that built; one test.
run_consumer()
{
    local arch=$1 step=$2 exe=$3 log=$4 wine

    wine=$(lib_wine_for "$arch")
    if ! lib_arch_can_run "$arch"; then
        skip "$arch" "$step" "built; $LIB_ARCH_SKIP_REASON"
        return
    fi
    if ! lib_timeout "$run_timeout" "$wine" "$exe" >>"$log" 2>&1; then
        fail "$arch" "$step" "$(basename "$exe") did not exit 0 under $wine" "$log"
    elif ! grep -q '^consumer: [0-9]* passed, 0 failed' "$log"; then
        fail "$arch" "$step" "$(basename "$exe") exited 0 without its summary line" "$log"
    else
        pass "$arch" "$step"
    fi
}

# What the layout promises under each arch's prefix (mk/install.mk's header and docs/mingw.md).
expected_files=(
    bin/ole32mem.dll
    lib/libole32mem.dll.a lib/ole32mem.lib lib/ole32mem.def
    lib/pkgconfig/ole32mem.pc
    lib/cmake/ole32mem/ole32memConfig.cmake lib/cmake/ole32mem/ole32memConfigVersion.cmake
    include/ole32mem.h include/ole32mem_version.h
    include/ole32mem_objidl.h include/ole32mem_markers.h include/ole32mem_objidl_i.c
    include/ole32mem_objidl.idl include/ole32mem_markers.idl
)

check_install()
{
    local arch=$1 dest=$2 log=$3 cross=$4 f missing=() pe_format def_ok

    for f in "${expected_files[@]}"; do
        [ -f "$dest/$f" ] || missing+=("$f")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        fail "$arch" install "missing under $dest: ${missing[*]}" "$log"
        return
    fi
    [ -x "$dest/bin/ole32mem.dll" ] || {
        fail "$arch" install "bin/ole32mem.dll is not executable"
        return
    }
    # The arch's own files: the PE format of the DLL and of the import library, and the .def's decoration (i686
    # keeps the stdcall @N suffixes, x86_64 has none).
    pe_format=pei-x86-64
    [ "$arch" = i686 ] && pe_format=pei-i386
    if ! "${cross}objdump" -f "$dest/bin/ole32mem.dll" 2>>"$log" | grep -q "file format $pe_format"; then
        fail "$arch" install "bin/ole32mem.dll is not $pe_format" "$log"
        return
    fi
    if ! "${cross}objdump" -f "$dest/lib/libole32mem.dll.a" 2>>"$log" | grep -q "file format ${pe_format/pei/pe}"; then
        fail "$arch" install "lib/libole32mem.dll.a is not ${pe_format/pei/pe}" "$log"
        return
    fi
    if [ "$arch" = i686 ]; then
        grep -q 'CoTaskMemAlloc@4$' "$dest/lib/ole32mem.def" && def_ok=1 || def_ok=
    else
        grep -q 'CoTaskMemAlloc$' "$dest/lib/ole32mem.def" && def_ok=1 || def_ok=
    fi
    if [ -z "$def_ok" ]; then
        fail "$arch" install "lib/ole32mem.def is not the $arch one" "$log"
        return
    fi
    pass "$arch" install
}

check_destdir()
{
    local arch=$1 dest=$2 prefix=$3 leaks

    leaks=$(grep -rlF "$stage" "$dest" 2>/dev/null)
    if [ -n "$leaks" ]; then
        fail "$arch" destdir "the stage path is written in: $(oneline "$leaks")"
    elif ! grep -qxF "prefix=$prefix" "$dest/lib/pkgconfig/ole32mem.pc" 2>/dev/null; then
        fail "$arch" destdir "ole32mem.pc does not say prefix=$prefix"
    else
        pass "$arch" destdir
    fi
}

# stage_pkg_config PKG_CONFIG DEST ARGS...: the .pc of the install in the stage, and no other; paths in the stage.
stage_pkg_config()
{
    local pkg_config=$1 dest=$2

    shift 2
    PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_LIBDIR=$dest/lib/pkgconfig "$pkg_config" "$@"
}

check_pkg_config()
{
    local arch=$1 dest=$2 pkg_config=$3 log=$4 pc_version flags expected

    if ! command -v "$pkg_config" >/dev/null; then
        fail "$arch" pkg-config "no $pkg_config"
        return
    fi
    pc_version=$(stage_pkg_config "$pkg_config" "$dest" --modversion ole32mem 2>>"$log")
    flags=$(stage_pkg_config "$pkg_config" "$dest" --cflags --libs ole32mem 2>>"$log")
    flags=$(oneline "$flags")
    expected="-I$dest/include -L$dest/lib -lole32mem -luuid"
    if [ "$pc_version" != "$VERSION" ]; then
        fail "$arch" pkg-config "--modversion says '$pc_version', ole32mem_version.h $VERSION" "$log"
    elif [ "$flags" != "$expected" ]; then
        fail "$arch" pkg-config "--cflags --libs says '$flags', expected '$expected'" "$log"
    else
        pass "$arch" pkg-config
    fi
}

# Debian's wrapper sets PKG_CONFIG_LIBDIR and execs `pkg-config`: a stand-in on PATH prints what it was given. A
# pkg-config that is no such wrapper (a pkgconf personality) reports its own path as pc_path.
check_pc_path()
{
    local arch=$1 prefix=$2 pkg_config=$3 triplet=$4 shim path

    shim=$work/$arch/shim

    if ! command -v "$pkg_config" >/dev/null; then
        fail "$arch" pc-path "no $pkg_config"
        return
    fi
    mkdir -p "$shim"
    # shellcheck disable=SC2016 # $PKG_CONFIG_LIBDIR is the stand-in's
    printf '#!/bin/sh\nprintf "%%s\\n" "$PKG_CONFIG_LIBDIR"\n' >"$shim/pkg-config"
    chmod +x "$shim/pkg-config"
    path=$(env -u PKG_CONFIG_LIBDIR PATH="$shim:$PATH" "$pkg_config" 2>/dev/null | head -n 1)
    [ -n "$path" ] || path=$(env -u PKG_CONFIG_LIBDIR "$pkg_config" --variable=pc_path pkg-config 2>/dev/null)
    case ":$path:" in
    *":$prefix/lib/pkgconfig:"*)
        pass "$arch" pc-path
        ;;
    *)
        if [ "$prefix" = "/usr/local/$triplet" ]; then
            fail "$arch" pc-path "$pkg_config does not search $prefix/lib/pkgconfig (it searches $path)"
        else
            skip "$arch" pc-path "$pkg_config does not search $prefix/lib/pkgconfig: consumers set PKG_CONFIG_PATH"
        fi
        ;;
    esac
}

check_plain()
{
    local arch=$1 dest=$2 cross=$3 dir

    dir=$work/$arch/plain

    mkdir -p "$dir"
    if ! "${cross}gcc" "${consumer_cflags[@]}" -I"$dest/include" -o "$dir/consumer.exe" examples/consumer.c \
        -L"$dest/lib" -lole32mem -luuid >"$dir/log" 2>&1; then
        fail "$arch" plain "consumer.c did not build with -lole32mem" "$dir/log"
        return
    fi
    cp "$dest/bin/ole32mem.dll" "$dir/"
    run_consumer "$arch" plain "$dir/consumer.exe" "$dir/log"
}

check_pkgconfig_build()
{
    local arch=$1 dest=$2 cross=$3 pkg_config=$4 dir cflags libs pc_version

    dir=$work/$arch/pkgconfig

    mkdir -p "$dir"
    : >"$dir/log"
    if cflags=$(stage_pkg_config "$pkg_config" "$dest" --cflags ole32mem 2>>"$dir/log") &&
        libs=$(stage_pkg_config "$pkg_config" "$dest" --libs ole32mem 2>>"$dir/log") &&
        pc_version=$(stage_pkg_config "$pkg_config" "$dest" --modversion ole32mem 2>>"$dir/log"); then
        # The flags are split as the shell splits $(pkg-config ...) in a makefile rule.
        # shellcheck disable=SC2086
        if ! "${cross}gcc" "${consumer_cflags[@]}" $cflags -DCONSUMER_PACKAGE_VERSION="\"$pc_version\"" \
            -o "$dir/consumer.exe" examples/consumer.c $libs >>"$dir/log" 2>&1; then
            fail "$arch" pkgconfig "consumer.c did not build with the pkg-config flags" "$dir/log"
            return
        fi
    else
        fail "$arch" pkgconfig "$pkg_config found no ole32mem in the stage" "$dir/log"
        return
    fi
    cp "$dest/bin/ole32mem.dll" "$dir/"
    run_consumer "$arch" pkgconfig "$dir/consumer.exe" "$dir/log"
}

check_cmake()
{
    local arch=$1 dest=$2 triplet=$3 dir toolchain found

    dir=$work/$arch/cmake

    toolchain=$src/examples/cmake/mingw-$triplet.cmake
    if ! command -v "$CMAKE" >/dev/null; then
        fail "$arch" cmake "no $CMAKE (tools/install-deps.sh installs it)"
        return
    fi
    if [ ! -r "$toolchain" ]; then
        fail "$arch" cmake "no toolchain file $toolchain"
        return
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    # The stage is a root like the toolchain's own (/usr/local/<triplet>): its packages mode is ONLY.
    if ! "${no_make_vars[@]}" "$CMAKE" -S examples -B "$dir/build" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="${consumer_cflags[*]}" \
        -DCMAKE_FIND_ROOT_PATH="$stage" -DCMAKE_PREFIX_PATH="$dest" >"$dir/log" 2>&1; then
        fail "$arch" cmake "examples/CMakeLists.txt did not configure" "$dir/log"
        return
    fi
    found=$(sed -n 's/^ole32mem_DIR:[A-Z]*=//p' "$dir/build/CMakeCache.txt")
    if [ "$found" != "$dest/lib/cmake/ole32mem" ]; then
        fail "$arch" cmake "find_package(ole32mem) took '$found', not the stage's" "$dir/log"
        return
    fi
    if ! "${no_make_vars[@]}" "$CMAKE" --build "$dir/build" >>"$dir/log" 2>&1; then
        fail "$arch" cmake "examples/CMakeLists.txt did not build" "$dir/log"
        return
    fi
    if [ ! -f "$dir/build/ole32mem.dll" ]; then
        fail "$arch" cmake "the build did not copy ole32mem.dll (the imported target's IMPORTED_LOCATION)" "$dir/log"
        return
    fi
    run_consumer "$arch" cmake "$dir/build/consumer.exe" "$dir/log"
}

check_uninstall()
{
    local arch=$1 dest=$2 log=$3 left

    left=$(find "$dest" \( -type f -o -type l \) 2>/dev/null)
    if [ -n "$left" ]; then
        fail "$arch" uninstall "files left: $(oneline "$left")" "$log"
    elif [ -d "$dest/lib/cmake/ole32mem" ]; then
        fail "$arch" uninstall "$dest/lib/cmake/ole32mem is left" "$log"
    else
        pass "$arch" uninstall
    fi
}

rm -rf "$stage" "$work"
mkdir -p "$work"

install_log=$work/install.log
$MAKE -s --no-print-directory install DESTDIR="$stage" >"$install_log" 2>&1 ||
    echo "install.mk: make install DESTDIR=$stage failed (see $install_log)"

for arch in $ARCHES; do
    cross_var=CROSS_$arch triplet_var=TRIPLET_$arch prefix_var=PREFIX_$arch pkg_config_var=PKG_CONFIG_$arch
    cross=${!cross_var:-} triplet=${!triplet_var:-} prefix=${!prefix_var:-} pkg_config=${!pkg_config_var:-}
    if [ -z "$cross" ] || [ -z "$triplet" ] || [ -z "$prefix" ] || [ -z "$pkg_config" ]; then
        die "$cross_var, $triplet_var, $prefix_var or $pkg_config_var is not set"
    fi
    dest=$stage$prefix
    mkdir -p "$work/$arch"

    check_install "$arch" "$dest" "$install_log" "$cross"
    check_destdir "$arch" "$dest" "$prefix"
    check_pkg_config "$arch" "$dest" "$pkg_config" "$work/$arch/pkg-config.log"
    check_pc_path "$arch" "$prefix" "$pkg_config" "$triplet"
    check_plain "$arch" "$dest" "$cross"
    check_pkgconfig_build "$arch" "$dest" "$cross" "$pkg_config"
    check_cmake "$arch" "$dest" "$triplet"
done

uninstall_log=$work/uninstall.log
$MAKE -s --no-print-directory uninstall DESTDIR="$stage" >"$uninstall_log" 2>&1 ||
    echo "install.mk: make uninstall DESTDIR=$stage failed (see $uninstall_log)"
for arch in $ARCHES; do
    prefix_var=PREFIX_$arch
    check_uninstall "$arch" "$stage${!prefix_var}" "$uninstall_log"
done
left=$(find "$stage" \( -type f -o -type l \) 2>/dev/null)
if [ -n "$left" ]; then
    fail all uninstall "the stage still holds: $(oneline "$left")" "$uninstall_log"
else
    pass all "stage empty after uninstall"
fi

LIB_NAME=install lib_total
if ! lib_write_result "$RESULT"; then
    die "cannot write $RESULT"
fi
exit 0
