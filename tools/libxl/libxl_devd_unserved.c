/*
 * The kind module for backends of every kind devd does not serve (vkbd,
 * console, ...): tracked while not Closed, so that each is logged once,
 * and forgotten when its directory goes.  Nothing is ever run for them.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"

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
