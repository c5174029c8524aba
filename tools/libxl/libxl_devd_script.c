/*
 * The kind module for backends that hotplug scripts bring up (vbd, vif):
 * when to add and remove them is decided by the shared backend rules
 * (libxl_devd_backend.c); the scripts run in libxl_devd_hotplug.c (adds)
 * and libxl_devd_removal.c.  Adds wait for one of the listener's
 * operation slots; a removal starts at once, and only its script waits
 * for one.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_script.h"

typedef struct {
    libxl__devd_pendings pend;      /* adoption's actions left */
} script_state;

static void script_start(libxl__egc *egc, devd_op *base, int act)
{
    devd_script_op *op = CONTAINER_OF(base, *op, op);
    devd_device *d = base->dev;
    devd_observation o = { .tracked = true, .dev_state = d->state,
                           .last_state = -1 };
    EGC_GC;

    libxl__devd_fill_ldev(base->dds, d, d->libxl_kind, &op->ldev);
    /* Removed while it waited for its slot (the event rules say so): tear
     * it down instead of bringing it up and waiting for an InitWait that
     * will not come. */
    if (act == DEVD_ACT_ADD && d->dirty &&
        !libxl__devd_read_values(gc, libxl__devd_dev_path(gc, base->dds, d),
                                 d->domid, &o.exists, &o.values_ok, &o.state,
                                 &o.online) &&
        libxl__devd_classify(&o) == DEVD_ACT_REMOVE) {
        act = DEVD_ACT_REMOVE;
        d->state = DEVD_DEV_REMOVING;
    }
    libxl__devd_op_what(&op->op, act == DEVD_ACT_REMOVE ? "detach"
                                                          : "attach");
    if (act == DEVD_ACT_REMOVE)
        libxl__devd_hotplug_remove(egc, op);
    else
        libxl__devd_hotplug_add(egc, op);
}

static void script_add(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                       devd_guest *g, devd_device *d)
{
    d->state = DEVD_DEV_ADDING;
    libxl__devd_script_dev(d)->add_attempts = 0;
    libxl__devd_op_slotted(egc, dds, g, d, DEVD_ACT_ADD, false,
                           sizeof(devd_script_op), script_start);
}

static void script_remove(libxl__egc *egc, libxl__gc *gc,
                          libxl__devd_state *dds, devd_guest *g,
                          devd_device *d)
{
    d->state = DEVD_DEV_REMOVING;
    libxl__devd_op_slotted(egc, dds, g, d, DEVD_ACT_REMOVE, true,
                           sizeof(devd_script_op), script_start);
}

void libxl__devd_script_remove_leftover(libxl__egc *egc,
                                        libxl__devd_state *dds,
                                        devd_guest *g, devd_device *d)
{
    EGC_GC;

    script_remove(egc, gc, dds, g, d);
}

/* The next attempt of an add whose script was killed, unless the events
 * looked at meanwhile took the device elsewhere (removed, forgotten). */
static void script_retry_after(libxl__egc *egc, libxl__devd_state *dds,
                               const char *name, uint32_t domid,
                               uint32_t devid)
{
    devd_guest *g = libxl__devd_guest_find(&dds->table, domid);
    devd_device *d = libxl__devd_device_find(g, name, devid);

    if (!d || d->busy || d->state != DEVD_DEV_ADDING)
        return;
    libxl__devd_op_slotted(egc, dds, g, d, DEVD_ACT_ADD, false,
                           sizeof(devd_script_op), script_start);
}

void libxl__devd_script_retry(devd_script_op *op)
{
    op->op.after = script_retry_after;
}

static const libxl__devd_backend_ops script_ops = {
    .qemu = false,
    .add = script_add,
    .remove = script_remove,
};

static void script_changed(libxl__egc *egc, libxl__gc *gc,
                           libxl__devd_state *dds, const char *name,
                           uint32_t domid, uint32_t devid)
{
    libxl__devd_backend_changed(egc, gc, dds, &libxl__devd_kind_script,
                                &script_ops, name, domid, devid);
}

static void script_adopt(libxl__egc *egc, libxl__gc *gc,
                         libxl__devd_state *dds, const char *name,
                         uint32_t domid, uint32_t devid)
{
    script_state *st = libxl__devd_kind_state(dds, &libxl__devd_kind_script);

    libxl__devd_backend_adopt(gc, dds, &libxl__devd_kind_script, &script_ops,
                              name, domid, devid, &st->pend);
}

static void script_adopted(libxl__egc *egc, libxl__devd_state *dds)
{
    script_state *st = libxl__devd_kind_state(dds, &libxl__devd_kind_script);

    libxl__devd_backend_adopt_finish(egc, dds, &script_ops, &st->pend);
    libxl__devd_hotplug_adopt_leftovers(egc, dds);
}

static const char *const script_names[] = { "vbd", "vif", NULL };

const libxl__devd_kind libxl__devd_kind_script = {
    .what = "hotplug scripts",
    .names = script_names,
    .device_size = sizeof(devd_script_dev),
    .state_size = sizeof(script_state),
    .adopt = script_adopt,
    .adopted = script_adopted,
    .changed = script_changed,
};
