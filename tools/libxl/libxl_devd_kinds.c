/*
 * The kinds of backend devd serves, and which module serves each: the one
 * place to add a new one (see docs/design.md).  Backends of any other kind
 * go to libxl_devd_unserved.c, which tracks them to log them once.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"

extern const libxl__devd_kind libxl__devd_kind_qemu;    /* qdisk, 9pfs */
extern const libxl__devd_kind libxl__devd_kind_script;  /* vbd, vif */
extern const libxl__devd_kind libxl__devd_kind_vbd3;    /* vbd3 */
/* and libxl__devd_kind_unserved (libxl_devd_unserved.c) for the others */

/* At most DEVD_TABLE_MODULES.  At startup each module's adopted() runs in
 * this order: a guest's QEMU is taken over before its devices move on. */
const libxl__devd_kind *const libxl__devd_kinds[] = {
    &libxl__devd_kind_qemu,
    &libxl__devd_kind_script,
    &libxl__devd_kind_vbd3,
    NULL,
};
