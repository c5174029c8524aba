/*
 * The differences between the libxl releases xl devd builds against
 * (Xen 4.17, 4.20 and 4.22), each keyed on what libxl.h says, so that
 * one copy of the listener serves all three.  Each names the upstream
 * change that made it; docs/design.md lists them.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_COMPAT_H
#define LIBXL_DEVD_COMPAT_H

#include "libxl_internal.h"

/*
 * Xen 4.19, "libxl: devd: Spawn QEMU for 9pfs" (Jason Andryuk, v2 of
 * 2024-04-07): the per-guest PV QEMU serves 9pfs as well as qdisk, and
 * its spawn helper and its pid key in the driver domain's libxl/
 * directory were renamed.
 * LIBXL_HAVE_XEN_9PFS came in the same release (no macro names the
 * rename itself).  The old key is still read, so that a devd upgraded
 * from 4.17 takes over the QEMU its predecessor started.
 */
#ifdef LIBXL_HAVE_XEN_9PFS
#define libxl__devd_spawn_pv_qemu(egc, dmss) \
    libxl__spawn_qemu_xenpv_backend(egc, dmss)
#define LIBXL__DEVD_PV_QEMU_PID_KEY "qemu-xenpv-backend-pid"
#define LIBXL__DEVD_PV_QEMU_OLD_PID_KEY "qdisk-backend-pid"
#else
#define libxl__devd_spawn_pv_qemu(egc, dmss) \
    libxl__spawn_qdisk_backend(egc, dmss)
#define LIBXL__DEVD_PV_QEMU_PID_KEY "qdisk-backend-pid"
#endif

#endif /* LIBXL_DEVD_COMPAT_H */
