# ole32memConfig.cmake: the imported target ole32mem::ole32mem of an installed ole32mem (one arch per prefix, as
# MinGW cross prefixes are). `make install` (mk/install.mk) puts it in <prefix>/lib/cmake/ole32mem/ unchanged.
#
# Every path is computed from this file's own location, never written in at install time: the installed tree can
# be moved as a whole, and used from a DESTDIR stage. ole32memConfigVersion.cmake, next to it, rejects an install
# for the other arch, so both prefixes can be listed in CMAKE_PREFIX_PATH.
#
#   find_package(ole32mem 1.0 REQUIRED)
#   target_link_libraries(app PRIVATE ole32mem::ole32mem)
#
# The target links -luuid too: the IIDs that ole32mem_objidl.h declares are defined in mingw-w64's libuuid.a.

get_filename_component(_ole32mem_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

foreach(_ole32mem_file IN ITEMS bin/ole32mem.dll lib/libole32mem.dll.a include/ole32mem.h include/ole32mem_objidl.h)
    if(NOT EXISTS "${_ole32mem_prefix}/${_ole32mem_file}")
        set(ole32mem_FOUND FALSE)
        set(ole32mem_NOT_FOUND_MESSAGE "${_ole32mem_prefix}/${_ole32mem_file} is missing (incomplete install?)")
        unset(_ole32mem_file)
        unset(_ole32mem_prefix)
        return()
    endif()
endforeach()

if(NOT TARGET ole32mem::ole32mem)
    add_library(ole32mem::ole32mem SHARED IMPORTED)
    set_target_properties(ole32mem::ole32mem PROPERTIES
        IMPORTED_IMPLIB "${_ole32mem_prefix}/lib/libole32mem.dll.a"
        IMPORTED_LOCATION "${_ole32mem_prefix}/bin/ole32mem.dll"
        INTERFACE_INCLUDE_DIRECTORIES "${_ole32mem_prefix}/include"
        INTERFACE_LINK_LIBRARIES "uuid")
endif()

unset(_ole32mem_file)
unset(_ole32mem_prefix)
