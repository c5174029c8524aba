/*
 * Backends that something else brings up and takes down (a hotplug
 * script, the guest's QEMU): devd decides when, from the backend's state
 * and online, by the rules of devd_policy.c, and its module's hooks do it.
 * The script and QEMU modules share this, and the table's module for kinds
 * devd does not serve; the vbd3 ring server does not (it is the backend
 * itself).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"

/*----- failure -----*/

/*
 * Tells the toolstack and the user why a backend did not come up, the way
 * the hotplug scripts do, unless a script already said so.  Never
 * recreates a backend directory that is gone.
 */
struct devd_error_txn {
    const char *be, *msg;
};

static int devd_publish_error_txn(libxl__gc *gc, xs_transaction_t t,
                                  void *arg)
{
    const struct devd_error_txn *e = arg;
    const char *state, *status;
    int rc;

    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/state", e->be), &state);
    if (rc) return rc;
    if (!state) return DEVD_TXN_NOTHING;        /* gone: never recreated */
    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/hotplug-status", e->be),
                                &status);
    if (rc) return rc;
    if (status && !strcmp(status, "error"))
        return DEVD_TXN_NOTHING;                /* the script said why */
    rc = libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-error", e->be), "%s",
                          e->msg);
    if (rc) return rc;
    return libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-status", e->be),
                            "error");
}

void libxl__devd_fail(libxl__gc *gc, libxl__devd_state *dds, devd_device *d,
                      const char *why, bool publish)
{
    struct devd_error_txn e = { libxl__devd_dev_path(gc, dds, d), why };
    int state = -1, online = -1;
    bool exists, values_ok;

    d->state = DEVD_DEV_FAILED;
    libxl__devd_device_set_error(d, why);
    /* Remember what the backend looked like, so that only a real change
     * of state or online retries. */
    if (libxl__devd_read_values(gc, e.be, d->domid, &exists, &values_ok,
                                &state, &online) || !values_ok)
        state = online = -1;
    d->failed_state = state;
    d->failed_online = online;
    DLOG(ERROR, d, "backend failed: %s (retried on its next state or online"
         " change)", why);
    if (publish && libxl__devd_xs_txn(gc, devd_publish_error_txn, &e))
        DLOG(ERROR, d, "cannot publish the failure in XenStore");
}

/*----- events -----*/

static bool devd_hotplug_connected(libxl__gc *gc, const char *be)
{
    const char *hs = NULL;

    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/hotplug-status", be),
                           &hs);
    return hs && !strcmp(hs, "connected");
}

static void devd_forget(libxl__gc *gc, libxl__devd_state *dds,
                        const libxl__devd_backend_ops *ops, devd_guest *g,
                        devd_device *d)
{
    if (d->state == DEVD_DEV_CONNECTED && !ops->qemu)
        DLOG(WARN, d, "backend directory removed under us: its hotplug"
             " remove could not run");
    else
        DLOG(DEBUG, d, "backend directory gone, forgetting it");
    if (ops->forget)
        ops->forget(gc, dds, g, d);
    libxl__devd_device_drop(gc, dds, g, d);
}

/* Tracks a backend in state `initial`; NULL if it cannot be, or if its
 * kind is not served (said once, here). */
static devd_device *devd_track(libxl__gc *gc, libxl__devd_state *dds,
                               const libxl__devd_kind *k,
                               const libxl__devd_backend_ops *ops,
                               const char *name, uint32_t domid,
                               uint32_t devid, devd_dev_state initial,
                               int state, devd_guest **g_r)
{
    devd_device *d = libxl__devd_device_new(gc, dds, k, name, domid, devid,
                                            initial, g_r);

    if (!d)
        return NULL;
    d->last_state = state;
    if (!ops->add) {
        DLOG(INFO, d, "not a kind devd serves, ignoring it");
        return NULL;
    }
    return d;
}

/* What the rules say about the backend, and what we knew of it. */
static devd_action devd_classify(devd_device *d,
                                 const libxl__devd_backend_ops *ops,
                                 devd_observation *o)
{
    devd_action act;

    o->tracked = d != NULL;
    if (d) {
        o->dev_state = d->state;
        o->busy = d->busy;
        o->failed_state = d->failed_state;
        o->failed_online = d->failed_online;
        o->last_state = d->last_state;
        o->qemu_kind = ops->qemu;
        if (o->exists && o->values_ok)
            d->last_state = o->state;
    }
    act = libxl__devd_classify(o);
    return act;
}

void libxl__devd_backend_changed(libxl__egc *egc, libxl__gc *gc,
                                 libxl__devd_state *dds,
                                 const libxl__devd_kind *k,
                                 const libxl__devd_backend_ops *ops,
                                 const char *name, uint32_t domid,
                                 uint32_t devid)
{
    const char *be = libxl__devd_be_path(gc, dds, name, domid, devid);
    devd_guest *g = libxl__devd_guest_find(&dds->table, domid);
    devd_device *d = libxl__devd_device_find(g, name, devid);
    devd_observation o = { 0 };
    devd_action act;

    /* Busy: it is looked at again when its operation ends, whatever the
     * event says; what the state was meanwhile is not known then. */
    if (d && d->busy) {
        d->dirty = true;
        d->last_state = -1;
        return;
    }
    if (libxl__devd_read_values(gc, be, domid, &o.exists, &o.values_ok,
                                &o.state, &o.online)) {
        LOGD(ERROR, domid, "%s: cannot read its state, ignoring event", be);
        return;
    }
    act = devd_classify(d, ops, &o);
    LOGD(DEBUG, domid, "%s %u: state %d online %d tracked %s -> %s", name,
         devid, o.exists && o.values_ok ? o.state : -1,
         o.exists && o.values_ok ? o.online : -1,
         d ? libxl__devd_dev_state_name(d->state) : "no",
         libxl__devd_action_name(act));

    switch (act) {
    case DEVD_ACT_IGNORE:
    case DEVD_ACT_BAD_VALUE:
        return;
    case DEVD_ACT_DEFER:
        d->dirty = true;
        return;
    case DEVD_ACT_FORGET:
        devd_forget(gc, dds, ops, g, d);
        return;
    case DEVD_ACT_REMOVE:
        ops->remove(egc, gc, dds, g, d);
        return;
    case DEVD_ACT_RETRY:
        DLOG(INFO, d, "retrying after: %s",
             d->last_error ? d->last_error : "failure");
        ops->add(egc, gc, dds, g, d);
        return;
    case DEVD_ACT_READD:
        /* A frontend that starts over leaves hotplug-status as it was; a
         * backend driver bound anew (netback) has removed it. */
        if (devd_hotplug_connected(gc, be)) {
            DLOG(DEBUG, d, "back in InitWait, its script's work still"
                 " stands (hotplug-status connected)");
            return;
        }
        DLOG(INFO, d, "backend back in InitWait (was state %d) without"
             " being closed: running its hotplug add again", o.last_state);
        ops->add(egc, gc, dds, g, d);
        return;
    case DEVD_ACT_ADD:
        d = devd_track(gc, dds, k, ops, name, domid, devid,
                       ops->add ? DEVD_DEV_ADDING : DEVD_DEV_UNSUPPORTED,
                       o.state, &g);
        if (d)
            ops->add(egc, gc, dds, g, d);
        return;
    }
}

/*----- startup adoption -----*/

/* An action left to take on an adopted device, by its key: an earlier
 * one may free devices and guests. */
struct devd_pending {
    char name[DEVD_KIND_LEN];
    uint32_t domid, devid;
    devd_action act;
};

static void devd_pend(libxl__gc *gc, libxl__devd_pendings *pend,
                      const char *name, uint32_t domid, uint32_t devid,
                      devd_action act)
{
    if (pend->n == pend->cap) {
        pend->cap = pend->cap ? pend->cap * 2 : 16;
        pend->v = libxl__realloc(NOGC, pend->v, pend->cap * sizeof(*pend->v));
    }
    pend->v[pend->n] = (struct devd_pending){ .domid = domid, .devid = devid,
                                              .act = act };
    snprintf(pend->v[pend->n].name, DEVD_KIND_LEN, "%s", name);
    pend->n++;
}

/* Reads only the keys that decide the backend's fate: a Connected one
 * costs one read.  false if it is not to be tracked. */
static bool devd_adopt_read(libxl__gc *gc, const char *be, uint32_t domid,
                            const libxl__devd_backend_ops *ops, bool *ok,
                            int *state, int *online, bool *hs_connected)
{
    bool exists, present;

    *state = *online = -1;
    *hs_connected = false;
    if (libxl__devd_read_value(gc, be, domid, "state", &exists, ok, state) ||
        !exists)
        return false;
    if (*ok && libxl__devd_adopt_needs_online(*state) &&
        libxl__devd_read_value(gc, be, domid, "online", &present, ok,
                               online))
        return false;
    if (*ok && ops->add &&
        libxl__devd_adopt_needs_hotplug(*state, *online, ops->qemu))
        *hs_connected = devd_hotplug_connected(gc, be);
    return true;
}

void libxl__devd_backend_adopt(libxl__gc *gc, libxl__devd_state *dds,
                               const libxl__devd_kind *k,
                               const libxl__devd_backend_ops *ops,
                               const char *name, uint32_t domid,
                               uint32_t devid, libxl__devd_pendings *pend)
{
    const char *be = libxl__devd_be_path(gc, dds, name, domid, devid);
    devd_dev_state initial = DEVD_DEV_UNSUPPORTED;
    devd_action act = DEVD_ACT_IGNORE;
    bool ok, track, hs;
    int state, online;
    devd_guest *g;
    devd_device *d;

    if (!devd_adopt_read(gc, be, domid, ops, &ok, &state, &online, &hs))
        return;
    if (ops->add)
        act = libxl__devd_adopt(ok, state, online, hs, ops->qemu, &initial,
                                &track);
    else
        track = ok && state != DEVD_XBS_CLOSED;
    if (!track)
        return;
    d = devd_track(gc, dds, k, ops, name, domid, devid, initial, state, &g);
    if (!d)
        return;
    /* A line each for those that need something; those up with nothing
     * to do are only counted in adoption's one line (a line each cost
     * most of adoption's CPU time in a PV driver domain, where each write
     * goes through Xen, even at debug level: libxl formats it first). */
    if (initial != DEVD_DEV_CONNECTED || act != DEVD_ACT_IGNORE)
        DLOG(INFO, d, "adopted in backend state %d%s as %s%s", state,
             online < 0 ? "" : GCSPRINTF(" online %d", online),
             libxl__devd_dev_state_name(initial),
             act == DEVD_ACT_IGNORE ? ""
             : GCSPRINTF(", then %s", libxl__devd_action_name(act)));
    if (initial == DEVD_DEV_CONNECTED && ops->adopted_up)
        ops->adopted_up(dds, g, d);
    if (act != DEVD_ACT_IGNORE)
        devd_pend(gc, pend, name, domid, devid, act);
}

/* Each in its own nested ao, for the reason given at devd_adopt_guest;
 * an earlier removal may have freed a guest, so the device is looked up
 * by its key. */
static void devd_adopt_finish_one(libxl__egc *egc, libxl__devd_state *dds,
                                  const libxl__devd_backend_ops *ops,
                                  const struct devd_pending *p)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    devd_guest *g = libxl__devd_guest_find(&dds->table, p->domid);
    devd_device *d = libxl__devd_device_find(g, p->name, p->devid);

    if (!d || d->busy)
        goto out;
    if (p->act == DEVD_ACT_ADD)
        ops->add(egc, gc, dds, g, d);
    else if (p->act == DEVD_ACT_REMOVE)
        ops->remove(egc, gc, dds, g, d);
out:
    libxl__nested_ao_free(nested);
}

void libxl__devd_backend_adopt_finish(libxl__egc *egc, libxl__devd_state *dds,
                                      const libxl__devd_backend_ops *ops,
                                      libxl__devd_pendings *pend)
{
    unsigned int i;

    for (i = 0; i < pend->n; i++)
        devd_adopt_finish_one(egc, dds, ops, &pend->v[i]);
    free(pend->v);
    pend->v = NULL;
    pend->n = pend->cap = 0;
}
