# CMake toolchain file for i686-w64-mingw32 with Debian's mingw-w64 packages (gcc-mingw-w64-i686).
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=examples/cmake/mingw-i686-w64-mingw32.cmake ...
#
# Headers, libraries and CMake packages are looked up only in the target's roots: Debian's mingw-w64 runtime in
# /usr/i686-w64-mingw32 and the default install prefix /usr/local/i686-w64-mingw32 (where `make install` puts
# ole32mem); programs only on the host. Roots and prefixes given with -DCMAKE_FIND_ROOT_PATH= or
# -DCMAKE_PREFIX_PATH= are searched as well.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86)

set(MINGW_TRIPLET i686-w64-mingw32)
set(CMAKE_C_COMPILER ${MINGW_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${MINGW_TRIPLET}-g++)
set(CMAKE_RC_COMPILER ${MINGW_TRIPLET}-windres)

list(APPEND CMAKE_FIND_ROOT_PATH /usr/${MINGW_TRIPLET} /usr/local/${MINGW_TRIPLET})
list(REMOVE_DUPLICATES CMAKE_FIND_ROOT_PATH) # CMake reads this file more than once
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
