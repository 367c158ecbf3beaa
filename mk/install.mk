# mk/install.mk: `make install` / `make uninstall` into a MinGW cross prefix per arch, and `make check-install`
# (suite "install" of `make check`).
#
# Layout: one prefix per arch, as MinGW cross prefixes are. PREFIX_<arch> defaults to $(PREFIX)/<triplet>, PREFIX
# to /usr/local: /usr/local/x86_64-w64-mingw32 and /usr/local/i686-w64-mingw32, the first directories that
# Debian's <triplet>-pkg-config wrappers search. PREFIX=/usr installs beside Debian's mingw-w64 runtime
# (/usr/<triplet>); PREFIX_x86_64=DIR / PREFIX_i686=DIR name one arch's prefix outright. DESTDIR is prepended while
# copying only: no installed file records it (the .pc names PREFIX_<arch>, the CMake files compute their paths).
#
#   bin/ole32mem.dll
#   lib/libole32mem.dll.a  lib/ole32mem.lib  lib/ole32mem.def (the arch's: i686 keeps the @N suffixes)
#   lib/pkgconfig/ole32mem.pc  lib/cmake/ole32mem/ole32memConfig.cmake, ole32memConfigVersion.cmake
#   include/ole32mem.h  ole32mem_version.h  the generated ole32mem_objidl.h, ole32mem_markers.h, ole32mem_objidl_i.c
#   include/ole32mem_objidl.idl, ole32mem_markers.idl: idl/*.idl under the names of the headers they generate, so
#     that a consumer's `import "ole32mem_objidl.idl";` makes widl write `#include <ole32mem_objidl.h>` (and not
#     the SDK's objidl.h, which idl/objidl.idl would name).
#
# Uninstall removes exactly those files, and lib/cmake/ole32mem when it is left empty; the shared directories
# (bin, lib, include, lib/pkgconfig, lib/cmake) stay. check-install runs tests/install/run.sh: see there.

PREFIX  ?= /usr/local
DESTDIR ?=
INSTALL ?= install
CMAKE   ?= cmake

# The version, from the one place it is written.
OLE32MEM_VERSION_STRING := $(shell sed -n 's/^.define OLE32MEM_VERSION_STRING "\([^"]*\)".*/\1/p' \
                                dlls/ole32mem/ole32mem_version.h)
ifeq ($(OLE32MEM_VERSION_STRING),)
$(error mk/install.mk: no OLE32MEM_VERSION_STRING in dlls/ole32mem/ole32mem_version.h)
endif
OLE32MEM_VERSION_MAJOR := $(firstword $(subst ., ,$(OLE32MEM_VERSION_STRING)))

# Installed name of idl/NAME.idl: the name of the header the Makefile generates from it, with .idl.
install_idl_name = $(patsubst ole32mem_ole32mem_%,ole32mem_%,ole32mem_$(notdir $(1)))
INSTALL_IDLS     := $(sort $(wildcard idl/*.idl))
INSTALL_HEADERS  := dlls/ole32mem/ole32mem.h dlls/ole32mem/ole32mem_version.h $(GEN_HEADER) $(GEN_IIDS)
# Every installed file, relative to the arch's prefix: what uninstall removes.
INSTALL_FILES := bin/ole32mem.dll lib/libole32mem.dll.a lib/ole32mem.lib lib/ole32mem.def \
    $(addprefix include/,$(notdir $(INSTALL_HEADERS)) $(foreach f,$(INSTALL_IDLS),$(call install_idl_name,$(f)))) \
    lib/pkgconfig/ole32mem.pc lib/cmake/ole32mem/ole32memConfig.cmake lib/cmake/ole32mem/ole32memConfigVersion.cmake

# Per-arch rules. $(1) is the arch. The .pc and the CMake version file are written at install time, for the prefix
# of this very install.
define INSTALL_RULES
TRIPLET_$(1)     ?= $$(notdir $$(patsubst %-,%,$$(CROSS_$(1))))
PREFIX_$(1)      ?= $$(PREFIX)/$$(TRIPLET_$(1))
PKG_CONFIG_$(1)  ?= $$(CROSS_$(1))pkg-config
$(1)_DEST         = $$(DESTDIR)$$(PREFIX_$(1))
$(1)_SIZEOF_VOID_P := $$(if $$(filter x86_64,$(1)),8,4)
$(1)_PKG_SED      = -e 's|@PREFIX@|$$(PREFIX_$(1))|g' -e 's|@TRIPLET@|$$(TRIPLET_$(1))|g' \
    -e 's|@VERSION@|$(OLE32MEM_VERSION_STRING)|g' -e 's|@VERSION_MAJOR@|$(OLE32MEM_VERSION_MAJOR)|g' \
    -e 's|@SIZEOF_VOID_P@|$$($(1)_SIZEOF_VOID_P)|g'

install-$(1): $(BUILD)/$(1)/ole32mem.dll $(BUILD)/$(1)/libole32mem.dll.a $(BUILD)/$(1)/ole32mem.lib \
              $(BUILD)/$(1)/ole32mem.def $(INSTALL_HEADERS) $(INSTALL_IDLS) \
              pkg/ole32mem.pc.in pkg/ole32memConfig.cmake pkg/ole32memConfigVersion.cmake.in
	$(INSTALL) -d "$$($(1)_DEST)/bin" "$$($(1)_DEST)/lib/pkgconfig" "$$($(1)_DEST)/lib/cmake/ole32mem" \
	    "$$($(1)_DEST)/include"
	$(INSTALL) -m 755 $(BUILD)/$(1)/ole32mem.dll "$$($(1)_DEST)/bin/"
	$(INSTALL) -m 644 $(BUILD)/$(1)/libole32mem.dll.a $(BUILD)/$(1)/ole32mem.lib $(BUILD)/$(1)/ole32mem.def \
	    "$$($(1)_DEST)/lib/"
	$(INSTALL) -m 644 $(INSTALL_HEADERS) "$$($(1)_DEST)/include/"
	$(foreach f,$(INSTALL_IDLS),$(INSTALL) -m 644 $(f) "$$($(1)_DEST)/include/$(call install_idl_name,$(f))" &&) :
	sed $$($(1)_PKG_SED) pkg/ole32mem.pc.in >"$$($(1)_DEST)/lib/pkgconfig/ole32mem.pc"
	sed $$($(1)_PKG_SED) pkg/ole32memConfigVersion.cmake.in \
	    >"$$($(1)_DEST)/lib/cmake/ole32mem/ole32memConfigVersion.cmake"
	chmod 644 "$$($(1)_DEST)/lib/pkgconfig/ole32mem.pc" "$$($(1)_DEST)/lib/cmake/ole32mem/ole32memConfigVersion.cmake"
	$(INSTALL) -m 644 pkg/ole32memConfig.cmake "$$($(1)_DEST)/lib/cmake/ole32mem/"

uninstall-$(1):
	rm -f $(foreach f,$(INSTALL_FILES),"$$($(1)_DEST)/$(f)")
	[ ! -d "$$($(1)_DEST)/lib/cmake/ole32mem" ] || rmdir --ignore-fail-on-non-empty "$$($(1)_DEST)/lib/cmake/ole32mem"
endef

$(foreach a,$(ARCHES),$(eval $(call INSTALL_RULES,$(a))))

.PHONY: install uninstall check-install $(addprefix install-,$(ARCHES)) $(addprefix uninstall-,$(ARCHES))
install: $(addprefix install-,$(ARCHES))
uninstall: $(addprefix uninstall-,$(ARCHES))

# Installs into $(BUILD)/stage, builds examples/consumer.c from there three ways and runs each under wine, uninstalls;
# every step counts as one test per arch (an arch without its wine: built is skipped, not passed).
CHECK_SUITES += install
# (What install needs beyond `all` is built here, not in the sub-make, which would race this make under -j.)
check-install: all $(INSTALL_HEADERS) $(foreach a,$(ARCHES),$(BUILD)/$(a)/ole32mem.def) $(BUILD)/wineprefix/.created
	@mkdir -p $(BUILD)/results
	@$(WINE_ENV) MAKE="$(MAKE)" ARCHES="$(ARCHES)" BUILD="$(BUILD)" WINE64="$(WINE64)" WINE32="$(WINE32)" \
	    WINESERVER="$(WINESERVER)" CMAKE="$(CMAKE)" VERSION="$(OLE32MEM_VERSION_STRING)" \
	    $(foreach a,$(ARCHES),CROSS_$(a)="$(CROSS_$(a))" TRIPLET_$(a)="$(TRIPLET_$(a))" PREFIX_$(a)="$(PREFIX_$(a))" \
	        PKG_CONFIG_$(a)="$(PKG_CONFIG_$(a))") \
	    RESULT=$(BUILD)/results/install bash tests/install/run.sh
