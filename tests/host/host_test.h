/*
 * The host tests' harness: tests/harness.h, the one harness of every test program, with the target "host" in the
 * summary line ("PROGRAM (host): N passed, N failed, N skipped, N todo"). Kept so that host sources name their
 * harness the same way the Wine-side ones name tests/test.h.
 *
 * Copyright 2026 the ole32mem authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef OLE32MEM_HOST_TEST_H
#define OLE32MEM_HOST_TEST_H

#define TEST_TARGET "host"
#include "../harness.h"

#endif /* OLE32MEM_HOST_TEST_H */
