/*
 * The kinds of backend devd serves, and which module serves each: the one
 * place to add a new one (see docs/design.md).  Backends of any other kind
 * are served by the module at the end, which tracks them to log them once.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"

extern const libxl__devd_kind libxl__devd_kind_qemu;    /* qdisk, 9pfs */
extern const libxl__devd_kind libxl__devd_kind_script;  /* vbd, vif */
extern const libxl__devd_kind libxl__devd_kind_vbd3;    /* vbd3 */

/* At most DEVD_TABLE_MODULES.  At startup each module's adopted() runs in
 * this order: a guest's QEMU is taken over before its devices move on. */
const libxl__devd_kind *const libxl__devd_kinds[] = {
    &libxl__devd_kind_qemu,
    &libxl__devd_kind_script,
    &libxl__devd_kind_vbd3,
    NULL,
};

/*----- backends of a kind devd does not serve -----*/

/* Tracked (when not Closed) to be logged once, and forgotten when gone. */
static const libxl__devd_backend_ops unserved_ops = { .qemu = false };

static void unserved_changed(libxl__egc *egc, libxl__gc *gc,
                             libxl__devd_state *dds, const char *name,
                             uint32_t domid, uint32_t devid)
{
    libxl__devd_backend_changed(egc, gc, dds, &libxl__devd_kind_unserved,
                                &unserved_ops, name, domid, devid);
}

static void unserved_adopt(libxl__egc *egc, libxl__gc *gc,
                           libxl__devd_state *dds, const char *name,
                           uint32_t domid, uint32_t devid)
{
    libxl__devd_backend_adopt(gc, dds, &libxl__devd_kind_unserved,
                              &unserved_ops, name, domid, devid, NULL);
}

static const char *const unserved_names[] = { NULL };

const libxl__devd_kind libxl__devd_kind_unserved = {
    .what = "kinds devd does not serve",
    .names = unserved_names,
    .adopt = unserved_adopt,
    .changed = unserved_changed,
};
