/*
 * The driver-domain listener: libxl_device_events_handler.
 *
 * One long-running ao watches /local/domain/<self>/backend.  Every watch
 * event gets a nested ao for its own memory, freed before the callback
 * returns; every device operation that has to wait (hotplug script, QEMU
 * spawn, tapdisk) gets a nested ao of its own, freed when the operation
 * ends.  At most one operation runs per device; events that come
 * meanwhile mark the device dirty and it is looked at again afterwards.
 *
 * What an event means for a device is its kind module's business (see
 * libxl_devd_internal.h); this file dispatches by the backend directory's
 * name (the table of libxl_devd_kinds.c) and keeps the tables and the
 * adoption walk at startup.  Device operations and their slots are in
 * libxl_devd_op.c, the XenStore helpers every module uses in
 * libxl_devd_xs.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"

/*
 * At most one slotted operation (a hotplug-script add) per online CPU of
 * the driver domain runs at once (at most DEVD_SLOTS_MAX); further ones
 * wait in a FIFO.  libxl gives each script 40 s, and the scripts are
 * CPU-bound (forks and execs, dear in a PV domain): two on one CPU each
 * take twice as long, and under load both lost the race where one after
 * the other would not, and they starved the kernel thread that brings new
 * backends to InitWait, which dom0 waits 10 s for.  Queued here, their
 * clock starts when they can run.  A removal's script waits for a slot
 * too (a mass shutdown ran a dozen at once, and killed some at 40 s), but
 * its operation does not: the toolstack gives us only 10 s before it
 * deletes the backend directory itself, so its copy of the keys and its
 * grace period start at once (libxl__devd_op_slot_wait).
 */
#define DEVD_SLOTS_MAX 4
/* What an administrator may ask for instead. */
#define DEVD_SLOTS_LIMIT 64

static void devd_finish(libxl__egc *egc, libxl__devd_state *dds, int rc);

/*----- the kind table -----*/

static int devd_kind_index(const libxl__devd_kind *k)
{
    int i;

    for (i = 0; libxl__devd_kinds[i]; i++)
        if (libxl__devd_kinds[i] == k)
            return i;
    return -1;
}

static const libxl__devd_kind *devd_kind_at(int i)
{
    return i < 0 ? &libxl__devd_kind_unserved : libxl__devd_kinds[i];
}

/* The module serving backends named `name`. */
const libxl__devd_kind *libxl__devd_kind_find(const char *name)
{
    const char *const *n;
    int i;

    for (i = 0; libxl__devd_kinds[i]; i++)
        for (n = libxl__devd_kinds[i]->names; *n; n++)
            if (!strcmp(*n, name))
                return libxl__devd_kinds[i];
    return &libxl__devd_kind_unserved;
}

void *libxl__devd_kind_state(libxl__devd_state *dds,
                             const libxl__devd_kind *k)
{
    int i = devd_kind_index(k);

    return i < 0 ? NULL : dds->kind_state[i];
}

void *libxl__devd_guest_data(libxl__devd_state *dds, devd_guest *g,
                             const libxl__devd_kind *k, size_t size)
{
    STATE_AO_GC(dds->ao);
    int i = devd_kind_index(k);

    assert(i >= 0);
    if (!g->priv[i] && size)
        g->priv[i] = libxl__zalloc(NOGC, size);
    return g->priv[i];
}

bool libxl__devd_served_by(const devd_device *d, const libxl__devd_kind *k)
{
    return d->module >= 0 && libxl__devd_kinds[d->module] == k;
}

const char *libxl__devd_event_key(const libxl__devd_state *dds)
{
    return dds->event_key;
}

bool libxl__devd_stopping(const libxl__devd_state *dds)
{
    return dds->aborting;
}

/*----- the tables -----*/

devd_device *libxl__devd_device_new(libxl__gc *gc, libxl__devd_state *dds,
                                    const libxl__devd_kind *k,
                                    const char *name, uint32_t domid,
                                    uint32_t devid, devd_dev_state state,
                                    devd_guest **g_r)
{
    devd_guest *g = libxl__devd_guest_get(&dds->table, domid);
    libxl__device_kind lk;
    devd_device *d;

    if (libxl__device_kind_from_string(name, &lk))
        lk = -1;
    d = g ? libxl__devd_device_add(&dds->table, g, name, lk, devid, state,
                                   k->device_size) : NULL;
    if (!d) {
        LOGD(ERROR, domid, "%s %u: out of memory, not tracked", name, devid);
        if (g) libxl__devd_guest_drop_if_empty(&dds->table, g);
        return NULL;
    }
    d->module = devd_kind_index(k);
    *g_r = g;
    return d;
}

/* What each module holds for g (its data is freed with g). */
static void devd_guest_dispose(libxl__gc *gc, libxl__devd_state *dds,
                               devd_guest *g)
{
    const libxl__devd_kind *k;
    int i;

    for (i = 0; (k = libxl__devd_kinds[i]); i++)
        if (g->priv[i] && k->guest_dispose)
            k->guest_dispose(gc, dds, g, g->priv[i]);
}

/* What the modules hold for g, then g if it has no device left. */
static void devd_drop_guest_if_empty(libxl__gc *gc, libxl__devd_state *dds,
                                     devd_guest *g)
{
    uint32_t domid = g->domid;

    if (!SLIST_EMPTY(&g->devices))
        return;
    devd_guest_dispose(gc, dds, g);
    libxl__devd_guest_drop_if_empty(&dds->table, g);
    LOGD(DEBUG, domid, "no device left, guest dropped");
    /* Clear what libxl keeps for this guest here (QEMU pid ...). */
    libxl__xs_rm_checked(gc, XBT_NULL, GCSPRINTF("libxl/%u", domid));
}

static void devd_dispose_device(libxl__gc *gc, libxl__devd_state *dds,
                                devd_device *d)
{
    const libxl__devd_kind *k = devd_kind_at(d->module);

    if (k->dispose)
        k->dispose(gc, dds, d);
}

void libxl__devd_device_drop(libxl__gc *gc, libxl__devd_state *dds,
                             devd_guest *g, devd_device *d)
{
    devd_dispose_device(gc, dds, d);
    libxl__devd_device_free(&dds->table, g, d);
    devd_drop_guest_if_empty(gc, dds, g);
}

/* What the modules hold (watches, sockets, per-guest data); backends
 * and processes stay up for the next devd to adopt. */
static void devd_dispose_all(libxl__gc *gc, libxl__devd_state *dds)
{
    devd_guest *g;
    devd_device *d;

    SLIST_FOREACH(g, &dds->table.guests, next) {
        SLIST_FOREACH(d, &g->devices, next)
            devd_dispose_device(gc, dds, d);
        devd_guest_dispose(gc, dds, g);
    }
    libxl__devd_table_dispose(&dds->table);
}

/*----- events -----*/

static void devd_evaluate(libxl__egc *egc, libxl__gc *gc,
                          libxl__devd_state *dds, const char *name,
                          uint32_t domid, uint32_t devid)
{
    if (dds->aborting)
        return;
    libxl__devd_kind_find(name)->changed(egc, gc, dds, name, domid, devid);
}

void libxl__devd_reevaluate(libxl__egc *egc, libxl__devd_state *dds,
                            const char *name, uint32_t domid, uint32_t devid)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    const char *key = dds->event_key;

    /* (Not the event's look: that key says nothing of this one.) */
    dds->event_key = NULL;
    devd_evaluate(egc, gc, dds, name, domid, devid);
    dds->event_key = key;
    libxl__nested_ao_free(nested);
}

/* One guest's backend directories (<kind>/<domid>) as listed once, so
 * that a prefix event costs a listing per guest and kind, not two reads
 * per device. */
#define DEVD_LISTINGS 8
typedef struct {
    const char *dir[DEVD_LISTINGS];
    char **names[DEVD_LISTINGS];
    unsigned int n[DEVD_LISTINGS];
    int used;
} devd_listings;

/* Whether d's backend directory is still listed under its guest's.  A
 * directory that cannot be listed (gone, or an error) lists nothing. */
static bool devd_listed(libxl__gc *gc, libxl__devd_state *dds,
                        devd_listings *ls, const devd_device *d)
{
    const char *dir = GCSPRINTF("%s/%s/%u", dds->be_path, d->kind, d->domid);
    const char *id = GCSPRINTF("%u", d->devid);
    unsigned int i;
    int j;

    for (j = 0; j < ls->used; j++)
        if (!strcmp(ls->dir[j], dir))
            break;
    if (j == ls->used) {
        if (ls->used == DEVD_LISTINGS)
            j = ls->used - 1;   /* more kinds than slots: reuse the last */
        else
            ls->used++;
        ls->dir[j] = dir;
        ls->names[j] = libxl__devd_list(gc, dir, &ls->n[j]);
    }
    for (i = 0; i < ls->n[j]; i++)
        if (!strcmp(ls->names[j][i], id))
            return true;
    return false;
}

/* One guest's part of a prefix event, in its own nested ao: an event on
 * the backend directory looks at every guest, and in the event's one gc
 * the listings of thousands of guests would make each allocation slower
 * (libxl's gc looks for a free slot from the start of its array). */
static void devd_evaluate_guest(libxl__egc *egc, libxl__devd_state *dds,
                                devd_guest *g, const devd_path *p)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    devd_device *d, *dnext;
    devd_listings ls;

    ls.used = 0;
    for (d = SLIST_FIRST(&g->devices); d; d = dnext) {
        dnext = SLIST_NEXT(d, next);
        if (p->level >= DEVD_PATH_KIND && strcmp(d->kind, p->kind))
            continue;
        if (devd_listed(gc, dds, &ls, d))
            continue;
        /* If this frees d and so g, d was g's last device: dnext is NULL
         * and g is not touched again. */
        devd_evaluate(egc, gc, dds, d->kind, d->domid, d->devid);
    }
    libxl__nested_ao_free(nested);
}

/*
 * A backend, kind or guest directory itself changed: created or removed.
 * Devices still listed under it send their own events when their state or
 * online changes; only those that are gone need looking at.
 */
static void devd_evaluate_prefix(libxl__egc *egc, libxl__devd_state *dds,
                                 const devd_path *p)
{
    devd_guest *g, *gnext;

    /* evaluate may free devices and guests: take next pointers first. */
    for (g = SLIST_FIRST(&dds->table.guests); g; g = gnext) {
        gnext = SLIST_NEXT(g, next);
        if (p->level >= DEVD_PATH_GUEST && g->domid != p->domid)
            continue;
        devd_evaluate_guest(egc, dds, g, p);
    }
}

/*
 * An event on a device's directory itself: made, its permissions
 * changed, or removed.  Only a tracked device's removal is news (what
 * is written in it comes as events of its own): one read says whether
 * the directory is still there.
 */
static bool devd_dir_gone(libxl__gc *gc, libxl__devd_state *dds,
                          const devd_path *p, const char *dir)
{
    devd_guest *g = libxl__devd_guest_find(&dds->table, p->domid);
    const char *v;

    if (!libxl__devd_device_find(g, p->kind, p->devid))
        return false;
    return libxl__xs_read_checked(gc, XBT_NULL, dir, &v) || !v;
}

static void devd_watch_cb(libxl__egc *egc, libxl__ev_xswatch *watch,
                          const char *watch_path, const char *event_path)
{
    libxl__devd_state *dds = CONTAINER_OF(watch, *dds, watch);
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    devd_path p;

    dds->event_us = libxl__devd_now_us();

    /* The first event is xenstored's firing at registration, on be_path
     * itself.  Adoption ran after registration, so it has seen all that
     * this event would list again; later changes send their own events. */
    if (!dds->watch_fired) {
        dds->watch_fired = true;
        if (!strcmp(event_path, dds->be_path))
            goto out;
    }

    switch (libxl__devd_parse_path(dds->be_path, event_path, &p)) {
    case DEVD_PATH_OUTSIDE:
        break;
    case DEVD_PATH_INVALID:
        LOG(DEBUG, "ignoring event on malformed backend path %s", event_path);
        break;
    case DEVD_PATH_DEVICE:
        if (*p.key && strcmp(p.key, "state") && strcmp(p.key, "online"))
            break;      /* only state and online changes mean anything */
        if (!*p.key && !devd_dir_gone(gc, dds, &p, event_path))
            break;
        dds->event_key = p.key;
        devd_evaluate(egc, gc, dds, p.kind, p.domid, p.devid);
        dds->event_key = NULL;
        break;
    case DEVD_PATH_BACKEND:
    case DEVD_PATH_KIND:
    case DEVD_PATH_GUEST:
        dds->event_key = "";
        devd_evaluate_prefix(egc, dds, &p);
        dds->event_key = NULL;
        break;
    }
out:
    dds->event_us = 0;
    libxl__nested_ao_free(nested);
}

/*----- startup: adoption -----*/

/* Every backend already in XenStore is handed to its kind module, which
 * takes it over in whatever state it is (a devd restart never loses a
 * device), then each module finishes what the previous devd left half
 * done. */

/*
 * One guest's backends of one kind (<be>/<kind>/<domid>).  Each guest
 * gets its own nested ao, so its reads and log strings are freed as soon
 * as it is done: in one gc, the thousands of allocations of a large
 * adoption would stay for devd's lifetime and make every new one slower
 * (libxl's gc looks for a free slot from the start of its array).
 */
static void devd_adopt_guest(libxl__egc *egc, libxl__devd_state *dds,
                             const libxl__devd_kind *k, const char *name,
                             const char *dom)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    const char *dp = GCSPRINTF("%s/%s/%s", dds->be_path, name, dom);
    unsigned int nv, l;
    uint32_t domid, devid;
    char **devs;

    if (libxl__devd_parse_uint(dom, DEVD_DOMID_MAX, &domid)) {
        LOG(WARN, "skipping malformed domid \"%s\" under %s/%s", dom,
            dds->be_path, name);
        goto out;
    }
    devs = libxl__devd_list(gc, dp, &nv);
    for (l = 0; l < nv; l++) {
        if (libxl__devd_parse_uint(devs[l], DEVD_DEVID_MAX, &devid)) {
            LOGD(WARN, domid, "skipping malformed devid \"%s\" under %s",
                 devs[l], dp);
            continue;
        }
        k->adopt(egc, gc, dds, name, domid, devid);
    }
out:
    libxl__nested_ao_free(nested);
}

/* Adoption's one line: how many backends it took over, and in what. */
static void devd_adopted_log(libxl__gc *gc, libxl__devd_state *dds)
{
    unsigned int n[DEVD_DEV_UNSUPPORTED + 1] = { 0 }, all = 0;
    devd_guest *g;
    devd_device *d;

    SLIST_FOREACH(g, &dds->table.guests, next)
        SLIST_FOREACH(d, &g->devices, next) {
            all++;
            n[d->state]++;
        }
    LOG(INFO, "adopted %u backend(s) already there: %u up, %u failed, %u"
        " being worked on, %u of kinds not served", all,
        n[DEVD_DEV_CONNECTED], n[DEVD_DEV_FAILED],
        n[DEVD_DEV_ADDING] + n[DEVD_DEV_REMOVING], n[DEVD_DEV_UNSUPPORTED]);
}

void libxl__devd_adopt_all(libxl__egc *egc, libxl__devd_state *dds)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    const libxl__devd_kind *k;
    unsigned int nk, nd, i, j;
    char **kinds, **doms;

    kinds = libxl__devd_list(gc, dds->be_path, &nk);
    for (i = 0; i < nk; i++) {
        const char *kp = GCSPRINTF("%s/%s", dds->be_path, kinds[i]);
        devd_path p;

        if (libxl__devd_parse_path(dds->be_path, kp, &p) != DEVD_PATH_KIND) {
            LOG(WARN, "skipping malformed backend kind \"%s\"", kinds[i]);
            continue;
        }
        k = libxl__devd_kind_find(p.kind);
        doms = libxl__devd_list(gc, kp, &nd);
        for (j = 0; j < nd; j++)
            devd_adopt_guest(egc, dds, k, p.kind, doms[j]);
    }
    devd_adopted_log(gc, dds);
    for (i = 0; (k = libxl__devd_kinds[i]); i++)
        if (k->adopted)
            k->adopted(egc, dds);
    libxl__nested_ao_free(nested);
}

/*----- abort and completion -----*/

static void devd_abort_cb(libxl__egc *egc, libxl__ao_abortable *abrt,
                          int rc)
{
    libxl__devd_state *dds = CONTAINER_OF(abrt, *dds, abrt);
    STATE_AO_GC(dds->ao);

    LOG(INFO, "devd: stopping (%d device operations to cut short);"
        " backends are left as they are", dds->ops_inflight);
    dds->aborting = true;
    libxl__ev_xswatch_deregister(gc, &dds->watch);
    /* Running operations see the abort through their own abortables and
     * end; the last one to end completes us.  Those waiting for a slot
     * have none: they are told here (held meanwhile, so that the last
     * of them does not complete us under this loop). */
    dds->ops_inflight++;
    libxl__devd_op_abort_waiters(egc, dds);
    dds->ops_inflight--;
    if (!dds->ops_inflight)
        devd_finish(egc, dds, ERROR_ABORTED);
}

void libxl__devd_stopped(libxl__egc *egc, libxl__devd_state *dds)
{
    devd_finish(egc, dds, ERROR_ABORTED);
}

static void devd_finish(libxl__egc *egc, libxl__devd_state *dds, int rc)
{
    STATE_AO_GC(dds->ao);

    assert(!dds->ops_inflight);
    libxl__ev_xswatch_deregister(gc, &dds->watch);
    libxl__ao_abortable_deregister(&dds->abrt);
    libxl__devd_registry_remove(dds);
    devd_dispose_all(gc, dds);
    libxl__ao_complete(egc, ao, rc);
}

/*----- entry point -----*/

/* The administrator's settings, checked; the slots they give. */
static int devd_params(libxl__gc *gc, libxl__devd_state *dds,
                       const libxl_device_events_params *params)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (params->max_ring_page_order < -1 ||
        params->max_ring_page_order > DEVD_BLKIF_ORDER_LIMIT ||
        params->script_slots < 0 || params->script_slots > DEVD_SLOTS_LIMIT) {
        LOG(ERROR, "device events parameters out of range: max ring page"
            " order %d (-1..%d), script slots %d (0..%d)",
            params->max_ring_page_order, DEVD_BLKIF_ORDER_LIMIT,
            params->script_slots, DEVD_SLOTS_LIMIT);
        return ERROR_INVAL;
    }
    dds->max_ring_page_order = params->max_ring_page_order < 0
        ? DEVD_BLKIF_DEFAULT_MAX_ORDER : (uint32_t)params->max_ring_page_order;
    if (params->script_slots)
        dds->slots = params->script_slots;
    else
        dds->slots = n < 1 ? 1 : n > DEVD_SLOTS_MAX ? DEVD_SLOTS_MAX : n;
    return 0;
}

/* Each module's state, and its init. */
static int devd_kinds_init(libxl__gc *gc, libxl__devd_state *dds)
{
    const libxl__devd_kind *k;
    int i, rc;

    for (i = 0; (k = libxl__devd_kinds[i]); i++) {
        assert(i < DEVD_TABLE_MODULES);
        if (k->state_size)
            dds->kind_state[i] = libxl__zalloc(gc, k->state_size);
        if (k->init) {
            rc = k->init(gc, dds, dds->kind_state[i]);
            if (rc) return rc;
        }
    }
    return 0;
}

static int devd_handler(libxl_ctx *ctx,
                        const libxl_device_events_params *params,
                        const libxl_asyncop_how *ao_how);

int libxl_device_events_handler(libxl_ctx *ctx,
                                const libxl_asyncop_how *ao_how)
{
    libxl_device_events_params params;
    int rc;

    libxl_device_events_params_init(&params);
    rc = devd_handler(ctx, &params, ao_how);
    libxl_device_events_params_dispose(&params);
    return rc;
}

int libxl_device_events_handler_params(libxl_ctx *ctx,
                                const libxl_device_events_params *params,
                                const libxl_asyncop_how *ao_how)
{
    return devd_handler(ctx, params, ao_how);
}

static int devd_handler(libxl_ctx *ctx,
                        const libxl_device_events_params *params,
                        const libxl_asyncop_how *ao_how)
{
    AO_CREATE(ctx, 0, ao_how);
    libxl__devd_state *dds;
    int rc;

    GCNEW(dds);
    dds->ao = ao;
    libxl__ev_xswatch_init(&dds->watch);
    libxl__devd_table_init(&dds->table);

    if (libxl__devd_registry_has_ctx(ctx)) {
        LOG(ERROR, "a device events handler already runs on this context");
        rc = ERROR_INVAL;
        goto out;
    }
    rc = devd_params(gc, dds, params);
    if (rc) goto out;

    rc = libxl__get_domid(gc, &dds->self_domid);
    if (rc) {
        LOG(ERROR, "unable to get my domain id");
        goto out;
    }

    /* Absolute, so that event paths come back absolute and parseable. */
    dds->be_path = GCSPRINTF("/local/domain/%u/backend", dds->self_domid);
    rc = devd_kinds_init(gc, dds);
    if (rc) goto out;

    dds->abrt.ao = ao;
    dds->abrt.callback = devd_abort_cb;
    rc = libxl__ao_abortable_register(&dds->abrt);
    if (rc) goto out;

    /* Watch first, then adopt: nothing that happens meanwhile is missed. */
    rc = libxl__ev_xswatch_register(gc, &dds->watch, devd_watch_cb,
                                    dds->be_path);
    if (rc) {
        LOG(ERROR, "unable to watch %s", dds->be_path);
        goto out;
    }
    libxl__devd_registry_add(dds);

    LOG(INFO, "devd: serving backends under %s (hotplug scripts: %d at"
        " once)", dds->be_path, dds->slots);
    libxl__devd_adopt_all(egc, dds);

    return AO_INPROGRESS;

out:
    libxl__ev_xswatch_deregister(gc, &dds->watch);
    libxl__ao_abortable_deregister(&dds->abrt);
    devd_dispose_all(gc, dds);
    return AO_CREATE_FAIL(rc);
}
