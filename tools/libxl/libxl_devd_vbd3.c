/*
 * The vbd3 ring server: devd itself does the blkif XenBus handshake for
 * backend/vbd3/<domid>/<devid> and hands the frontend's ring to a tapdisk
 * over the tapdisk control protocol (the job of blktap3's xenio daemon and
 * of tapback, done inside devd's ao: no extra daemon, no ordering fight with
 * libxl, strict checks on everything the guest writes).  Upstream libxl
 * (4.19+) writes these backends with script=block-tap; devd never runs it.
 *
 * Each device has one tapdisk of its own, started by devd on a socket named
 * after the device, which outlives devd (a restarted devd finds it again).
 * What an event means is decided by the table in devd_blkif.c from our
 * state, the backend's and the frontend's; this file reads them and carries
 * the verdict out through the steps of libxl_devd_vbd3_ops.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_vbd3.h"

/*----- the device -----*/

static void vbd3_tapdisk_lost(libxl__egc *egc, devd_tdc *c);

static devd_vbd3 *vbd3_new(libxl__gc *gc, libxl__devd_state *dds,
                           const char *name, uint32_t domid, uint32_t devid,
                           devd_guest **g_r)
{
    devd_device *d = libxl__devd_device_new(gc, dds, &libxl__devd_kind_vbd3,
                                            name, domid, devid,
                                            DEVD_DEV_ADDING, g_r);
    devd_vbd3 *v;

    if (!d)
        return NULL;
    v = d->ext;
    v->dds = dds;
    v->d = d;
    v->domid = domid;
    v->devid = devid;
    v->be = libxl__strdup(NOGC, libxl__devd_dev_path(gc, dds, d));
    v->be_state = -1;
    snprintf(v->sock, sizeof(v->sock), VBD3_TD_SOCK_DIR "/vbd3-%u-%u.sock",
             domid, devid);
    libxl__ev_xswatch_init(&v->fe_watch);
    libxl__devd_tdc_init(&v->tdc);
    v->tdc.domid = domid;
    v->tdc.devid = devid;
    v->tdc.lost = vbd3_tapdisk_lost;
    libxl__devd_vbd3_set(v, RS_OPENING);
    return v;
}

/* What devd holds for the device (not its tapdisk, not XenStore): before
 * the device is freed, and for every vbd3 device when devd stops. */
static void vbd3_dispose(libxl__gc *gc, libxl__devd_state *dds,
                         devd_device *d)
{
    devd_vbd3 *v = d->ext;

    libxl__ev_xswatch_deregister(gc, &v->fe_watch);
    libxl__devd_tdc_close(gc, &v->tdc);
    free(v->be);
    free(v->fe);
    free(v->params);
    v->be = v->fe = v->params = NULL;
    d->detail = NULL;
}

static void vbd3_fe_watch_cb(libxl__egc *egc, libxl__ev_xswatch *w,
                             const char *wpath, const char *epath)
{
    devd_vbd3 *v = CONTAINER_OF(w, *v, fe_watch);

    libxl__devd_reevaluate(egc, v->dds, v->d->kind, v->domid, v->devid);
}

int libxl__devd_vbd3_watch_frontend(libxl__gc *gc, devd_vbd3 *v)
{
    if (libxl__ev_xswatch_isregistered(&v->fe_watch))
        return 0;
    return libxl__ev_xswatch_register(gc, &v->fe_watch, vbd3_fe_watch_cb,
                                      GCSPRINTF("%s/state", v->fe));
}

static void vbd3_tapdisk_lost(libxl__egc *egc, devd_tdc *c)
{
    devd_vbd3 *v = CONTAINER_OF(c, devd_vbd3, tdc);
    EGC_GC;

    /* Between operations (a running one learns it from its reply). */
    v->open = false;
    if (v->rs == RS_FAILED || v->rs == RS_CLOSED) {
        VLOG(WARN, v, "its tapdisk has gone");
        return;
    }
    if (v->rs != RS_CONNECTED) {
        libxl__devd_vbd3_failed(gc, v, "its tapdisk died");
        return;
    }
    /* A guest's disk is not lost with its tapdisk: the table has another
     * take the ring over (libxl__devd_vbd3_takeover). */
    VLOG(WARN, v, "its tapdisk died under the connected ring");
    libxl__devd_vbd3_set(v, RS_LOST);
    libxl__devd_reevaluate(egc, v->dds, v->d->kind, v->domid, v->devid);
}

/*----- events -----*/

/* Our side changed without an operation: the table may have a next step
 * for the same inputs (a frontend already Initialised when we go back to
 * InitWait), and no event will come for it (vbd3_own_echo). */
static void vbd3_look_again(libxl__egc *egc, devd_vbd3 *v)
{
    libxl__devd_reevaluate(egc, v->dds, v->d->kind, v->domid, v->devid);
}

/* The verdict, carried out.  state: the backend's. */
static void vbd3_act(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                     devd_guest *g, devd_rs_action act, int state,
                     const char *fe_why)
{
    switch (act) {
    case RS_ACT_NONE:
        break;
    case RS_ACT_DEFER:
        v->d->dirty = true;
        break;
    case RS_ACT_OPEN:
        VLOG(INFO, v, "new vbd3 backend");
        libxl__devd_vbd3_open(egc, gc, v, g);
        break;
    case RS_ACT_CONNECT:
        libxl__devd_vbd3_connect(egc, gc, v, g);
        break;
    case RS_ACT_CLOSING:
        if (libxl__devd_vbd3_write_state(gc, v, DEVD_XBS_CLOSING))
            VLOG_RL(ERROR, v, "cannot switch the backend to Closing");
        libxl__devd_vbd3_set(v, RS_CLOSING);
        vbd3_look_again(egc, v);
        break;
    case RS_ACT_DISCONNECT:
        libxl__devd_vbd3_disconnect(egc, gc, v, g, NULL);
        break;
    case RS_ACT_REINIT:
        if (!libxl__devd_tdc_connected(&v->tdc)) {
            libxl__devd_vbd3_failed(gc, v, "frontend reconnects, tapdisk"
                                    " gone");
            break;
        }
        if (libxl__devd_vbd3_write_state(gc, v, DEVD_XBS_INITWAIT)) {
            VLOG_RL(ERROR, v, "cannot switch the backend to InitWait");
            break;
        }
        VLOG_RL(INFO, v, "frontend starts again: InitWait");
        libxl__devd_vbd3_set(v, RS_INITWAIT);
        vbd3_look_again(egc, v);
        break;
    case RS_ACT_FAIL:
        if (v->rs == RS_LOST) {     /* no tapdisk to let the ring go */
            libxl__devd_vbd3_failed(gc, v, fe_why ? fe_why
                                           : "broken frontend");
            break;
        }
        libxl__devd_vbd3_disconnect(egc, gc, v, g,
                                    fe_why ? fe_why : "broken frontend");
        break;
    case RS_ACT_TAKEOVER:
        libxl__devd_vbd3_takeover(egc, gc, v, g);
        break;
    case RS_ACT_REOPEN:
        VLOG(INFO, v, "its tapdisk died, and the frontend has no ring:"
             " starting another, InitWait");
        libxl__devd_vbd3_open(egc, gc, v, g);
        break;
    case RS_ACT_REMOVE:
        if (state != DEVD_XBS_CLOSED) {
            v->be_state = state;    /* changed behind our back */
            libxl__devd_vbd3_write_state(gc, v, DEVD_XBS_CLOSED);
        }
        /* fall through */
    case RS_ACT_RELEASE:
    case RS_ACT_REPLACED:
        libxl__devd_vbd3_release(egc, gc, v, g, act);
        break;
    }
}

/*
 * Whether the backend still carries our generation token.  Read only
 * when the state is not the one we wrote last: a backend made anew
 * starts in the toolstack's Initialising, and only we move it on.
 */
static bool vbd3_gen_ok(libxl__gc *gc, const char *be, const devd_vbd3 *v,
                        int state)
{
    const char *gen = NULL;

    if (state == v->be_state && state != DEVD_XBS_INITIALISING)
        return true;

    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/" VBD3_GEN_KEY, be),
                           &gen);
    return gen && !strcmp(gen, v->gen);
}

/*
 * The event our own write of the backend's state causes: its state is
 * the one we wrote, and since nothing else changed (each change of online
 * or of the frontend brings its own event) there is nothing to decide.
 * One read, where a look at the device takes four.
 */
static bool vbd3_own_echo(libxl__gc *gc, devd_vbd3 *v)
{
    const char *key = libxl__devd_event_key(v->dds), *s;
    int state;

    if (!key || strcmp(key, "state") || v->be_state < 0)
        return false;
    if (libxl__devd_xs_read(gc, XBT_NULL, GCSPRINTF("%s/state", v->be), &s,
                            NULL) || !s || libxl__devd_parse_state(s, &state))
        return false;
    return state == v->be_state;
}

static void vbd3_seen(devd_vbd3 *v, bool ok, int state, int online)
{
    v->seen_ok = ok;
    v->seen_state = state;
    v->seen_online = online;
}

/* The backend's state and online: read if an event on the backend
 * brought us here, else as last seen. */
static int vbd3_backend_values(libxl__gc *gc, devd_vbd3 *v, const char *be,
                               uint32_t domid, bool *exists, bool *values_ok,
                               int *state, int *online)
{
    int rc;

    if (v && v->seen_ok && !libxl__devd_event_key(v->dds)) {
        *exists = *values_ok = true;
        *state = v->seen_state;
        *online = v->seen_online;
        return 0;
    }
    rc = libxl__devd_read_values(gc, be, domid, exists, values_ok, state,
                                 online);
    if (v)
        vbd3_seen(v, !rc && *exists && *values_ok, *state, *online);
    return rc;
}

static void vbd3_changed(libxl__egc *egc, libxl__gc *gc,
                         libxl__devd_state *dds, const char *name,
                         uint32_t domid, uint32_t devid)
{
    const char *be = libxl__devd_be_path(gc, dds, name, domid, devid);
    devd_guest *g = libxl__devd_guest_find(&dds->table, domid);
    devd_device *d = libxl__devd_device_find(g, name, devid);
    devd_vbd3 *v = d ? d->ext : NULL;
    bool exists, values_ok;
    int state = -1, online = -1, fe = RS_FE_ABSENT;
    const char *fe_why = NULL;
    devd_rs_backend bc;
    devd_rs_action act;

    /* Busy: looked at again when its operation ends, whatever this is. */
    if (v && (d->busy || libxl__devd_rs_busy(v->rs))) {
        d->dirty = true;
        if (libxl__devd_event_key(dds))
            v->seen_ok = false;
        return;
    }
    if (v && vbd3_own_echo(gc, v))
        return;
    if (vbd3_backend_values(gc, v, be, domid, &exists, &values_ok, &state,
                            &online)) {
        LOGD(ERROR, domid, "%s: cannot read its state, ignoring event", be);
        return;
    }
    if (exists && !values_ok)
        return;     /* junk (logged) or no online yet */
    /* (From here on a tracked device is not busy.) */
    bc = libxl__devd_rs_backend_col(exists, v,
                                    v && vbd3_gen_ok(gc, be, v, state),
                                    state, online);
    /* The frontend is read only when the table looks at it. */
    if (v && (bc == RS_BE_UP || bc == RS_BE_OFFLINE))
        fe = libxl__devd_vbd3_fe_column(gc, v, &fe_why);
    act = libxl__devd_rs_decide(v, false, v ? v->rs : RS_OPENING, bc, fe);
    LOGD(DEBUG, domid, "vbd3 %u: backend %d online %d (%s), frontend %d,"
         " ours %s -> %s", devid, state, online,
         libxl__devd_rs_backend_name(bc), fe,
         v ? libxl__devd_rs_state_name(v->rs) : "untracked",
         libxl__devd_rs_action_name(act));
    if (act == RS_ACT_NONE)
        return;
    if (!v) {
        if (!(v = vbd3_new(gc, dds, name, domid, devid, &g)))
            return;
        vbd3_seen(v, exists && values_ok, state, online);
    }
    vbd3_act(egc, gc, v, g, act, state, fe_why);
}

/*----- adoption after a devd restart -----*/

/* The backend's state and online, as found; false (the device failed) if
 * they do not parse. */
static bool vbd3_adopt_read(libxl__gc *gc, devd_vbd3 *v, int *state)
{
    const char *s = libxl__devd_vbd3_be_read(gc, v, "state");
    const char *o = libxl__devd_vbd3_be_read(gc, v, "online");
    int online;

    if (!s || libxl__devd_parse_state(s, state) ||
        (o && libxl__devd_parse_online(o, &online))) {
        libxl__devd_vbd3_failed(gc, v, "unreadable backend state or online");
        return false;
    }
    return true;
}

static void vbd3_adopt(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                       const char *name, uint32_t domid, uint32_t devid)
{
    const char *gen, *why = NULL;
    devd_rs_adopt_how how;
    devd_guest *g;
    devd_vbd3 *v;
    bool herr;
    int state;

    v = vbd3_new(gc, dds, name, domid, devid, &g);
    if (!v || !vbd3_adopt_read(gc, v, &state))
        return;
    gen = libxl__devd_vbd3_be_read(gc, v, VBD3_GEN_KEY);
    if (!gen || state <= DEVD_XBS_INITIALISING) {
        VLOG(INFO, v, "adopted before InitWait: opening it afresh");
        libxl__devd_vbd3_open(egc, gc, v, g);
        return;
    }
    snprintf(v->gen, sizeof(v->gen), "%s", gen);
    v->be_state = state;
    if (libxl__devd_vbd3_read_config(gc, v, &why)) {
        libxl__devd_vbd3_failed(gc, v, why);
        return;
    }
    herr = state == DEVD_XBS_CLOSED &&
           libxl__devd_vbd3_be_read(gc, v, "hotplug-error");
    how = libxl__devd_rs_adopt(state, herr,
                               !libxl__devd_tdc_connect(gc, &v->tdc, v->sock),
                               &v->adopt_to);
    switch (how) {
    case RS_ADOPT_ASK:
        libxl__devd_vbd3_ask(egc, gc, v, g);
        break;
    case RS_ADOPT_OPEN:
        VLOG(WARN, v, "adopted in InitWait, but its tapdisk is gone:"
             " starting one again");
        libxl__devd_vbd3_open(egc, gc, v, g);
        break;
    case RS_ADOPT_REST:
        if (v->adopt_to == RS_LOST)
            VLOG(WARN, v, "adopted Connected, but its tapdisk is gone:"
                 " another takes its ring over");
        libxl__devd_vbd3_set(v, v->adopt_to);
        vbd3_changed(egc, gc, dds, name, domid, devid);
        break;
    case RS_ADOPT_FAIL:
        libxl__devd_vbd3_set(v, v->adopt_to);
        libxl__devd_vbd3_failed(gc, v, "its tapdisk died while devd was"
                                " down");
        break;
    }
}

/*----- the module -----*/

/* The max-ring-page-order offered to frontends: the administrator's
 * (libxl_device_events_params), never a guest's. */
static int vbd3_init(libxl__gc *gc, libxl__devd_state *dds, void *state)
{
    vbd3_state *st = state;

    st->max_order = dds->max_ring_page_order;
    return 0;
}

static const char *const vbd3_names[] = { "vbd3", NULL };

const libxl__devd_kind libxl__devd_kind_vbd3 = {
    .what = "the vbd3 ring server",
    .names = vbd3_names,
    .device_size = sizeof(devd_vbd3),
    .state_size = sizeof(vbd3_state),
    .init = vbd3_init,
    .adopt = vbd3_adopt,
    .changed = vbd3_changed,
    .dispose = vbd3_dispose,
};
