/*
 * The vbd3 ring server's asynchronous steps, each one device operation
 * (see libxl_devd_internal.h), written as chains of callbacks in the
 * order they run: open (start tapdisk, open the image, publish InitWait),
 * ask (adoption: what does its tapdisk serve), connect (the frontend's
 * ring to tapdisk, Connected), disconnect (tapdisk lets the ring go,
 * Closed) and release (image closed, tapdisk stopped, backend removed).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_vbd3.h"

static void vbd3_opened_child(libxl__egc *egc, libxl__ev_child *child,
                              pid_t pid, int status);
static void vbd3_open_image(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_open_info(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_open_done(libxl__egc *egc, devd_vbd3 *v);
static void vbd3_ask_listed(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_ask_done(libxl__egc *egc, devd_vbd3 *v);
static void vbd3_connect_done(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_takeover_connect(libxl__egc *egc, devd_vbd3 *v);
static void vbd3_disconnect_done(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_release_closed(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_release_listed(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_release_end(libxl__egc *egc, devd_vbd3 *v);

/*----- operations -----*/

static devd_vbd3 *tdc_vbd3(devd_tdc *c)
{
    return CONTAINER_OF(c, devd_vbd3, tdc);
}

static void vbd3_op_start(devd_vbd3 *v, devd_guest *g, devd_rs_state rs)
{
    devd_op *op = libxl__devd_op_new(v->dds, g, v->d, sizeof(vbd3_op));

    v->op = CONTAINER_OF(op, vbd3_op, op);
    v->op->v = v;
    libxl__devd_op_what(op, rs == RS_DISCONNECTING || rs == RS_RELEASING
                            ? "detach" : "attach");
    libxl__devd_vbd3_set(v, rs);
}

/* Ends the running operation.  The device may be freed by it.  A device
 * that stays is looked at again at once: its step changed our side, which
 * may call for the next one, and the event our own state write causes is
 * not looked at (vbd3_own_echo). */
static void vbd3_op_end(libxl__egc *egc, devd_vbd3 *v)
{
    vbd3_op *op = v->op;

    v->op = NULL;
    if (!op->op.removed)
        v->d->dirty = true;
    libxl__devd_op_done(egc, &op->op);
}

/* The device stops (FAILED), and so does the operation. */
static void vbd3_op_fail(libxl__egc *egc, devd_vbd3 *v, const char *why)
{
    EGC_GC;

    libxl__devd_vbd3_failed(gc, v, why);
    vbd3_op_end(egc, v);
}

/*
 * devd is stopping (libxl_ao_abort) in the middle of a step: end it and
 * change nothing in XenStore; the next devd adopts the device as it is.
 */
static bool vbd3_aborted(libxl__egc *egc, devd_vbd3 *v, int rc)
{
    EGC_GC;

    if (rc != ERROR_ABORTED && !libxl__devd_stopping(v->dds))
        return false;
    VLOG(DEBUG, v, "step cut short: devd is stopping");
    vbd3_op_end(egc, v);
    return true;
}

/* The time until tapdisk answers is tapdisk's, not devd's. */
static void vbd3_replied(libxl__egc *egc, devd_tdc *c, int rc)
{
    vbd3_op *op = tdc_vbd3(c)->op;

    libxl__devd_op_ext_end(&op->op);
    op->replied(egc, c, rc);
}

/* A request of the running operation; on failure, cb gets the rc now. */
static void vbd3_request(libxl__egc *egc, devd_vbd3 *v, td_msg *req,
                         devd_tdc_reply_fn *cb)
{
    int rc;

    v->op->replied = cb;
    libxl__devd_op_ext_begin(&v->op->op, "tapdisk");
    rc = libxl__devd_tdc_request(v->op->op.nested, &v->tdc, req,
                                 VBD3_TD_TIMEOUT_MS, vbd3_replied);
    if (rc)
        vbd3_replied(egc, &v->tdc, rc);
}

static const char *tdc_error(libxl__gc *gc, devd_tdc *c, int rc,
                             const char *what)
{
    if (rc == ERROR_ABORTED)
        return GCSPRINTF("%s: aborted", what);
    if (rc == ERROR_TIMEDOUT)
        return GCSPRINTF("%s: tapdisk did not answer", what);
    if (rc)
        return GCSPRINTF("%s: tapdisk connection lost", what);
    if (c->rsp[0].type == TD_MSG_ERROR)
        return GCSPRINTF("%s: %s", what, c->rsp[0].u.response.message);
    return NULL;
}

/*----- open: start tapdisk, open the image, publish, InitWait -----*/

/* A tapdisk left on our socket by an earlier backend of the same
 * domid/devid serves nothing of ours any more. */
static void vbd3_stop_stale(libxl__gc *gc, devd_vbd3 *v)
{
    td_msg bye = { .type = TD_MSG_EXIT, .minor = TD_NO_MINOR };

    if (libxl__devd_tdc_connect(gc, &v->tdc, v->sock))
        return;
    VLOG(INFO, v, "stopping a stale tapdisk on %s", v->sock);
    libxl__devd_tdc_send(gc, &v->tdc, &bye);
    libxl__devd_tdc_close(gc, &v->tdc);
}

/* Forks the process that starts tapdisk on a new socket; its end comes
 * to vbd3_opened_child.  NULL, or why it cannot. */
static const char *vbd3_spawn(libxl__gc *gc, devd_vbd3 *v)
{
    const char *bin = GCSPRINTF("%s/tapdisk", libxl__private_bindir_path());
    const char *logf = GCSPRINTF(XEN_LOG_DIR "/tapdisk-vbd3-%u-%u.log",
                                 v->domid, v->devid);
    vbd3_op *op = v->op;
    int lfd = libxl__devd_vbd3_listen(gc, v);
    pid_t pid;

    if (lfd < 0)
        return GCSPRINTF("cannot create the tapdisk socket %s", v->sock);
    libxl__ev_child_init(&op->child);
    /* The child belongs to the operation's ao. */
    pid = libxl__ev_child_fork(&op->op.nested->gc, &op->child,
                               vbd3_opened_child);
    if (pid < 0) {
        close(lfd);
        return "cannot fork to start tapdisk";
    }
    if (!pid)
        libxl__devd_vbd3_exec_tapdisk(bin, logf, lfd);   /* never returns */
    close(lfd);
    libxl__devd_op_ext_begin(&op->op, "tapdisk");   /* until it listens */
    /* The child's death still comes: it ends the operation. */
    if (libxl__devd_tdc_connect(gc, &v->tdc, v->sock))
        op->why = "cannot connect to the new tapdisk";
    VLOG(DEBUG, v, "starting tapdisk for %s", v->params);
    return NULL;
}

void libxl__devd_vbd3_open(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                           devd_guest *g)
{
    vbd3_state *st = libxl__devd_kind_state(v->dds, &libxl__devd_kind_vbd3);
    const char *why = NULL;

    if (libxl__devd_vbd3_read_config(gc, v, &why)) {
        libxl__devd_vbd3_failed(gc, v, why);
        return;
    }
    /* The generation token tells this backend from a later one with the
     * same domid/devid (a fast remove and re-create). */
    snprintf(v->gen, sizeof(v->gen), "%lx.%lx.%u", (unsigned long)time(NULL),
             (unsigned long)getpid(), ++st->serial);
    if (libxl__xs_printf(gc, XBT_NULL, GCSPRINTF("%s/" VBD3_GEN_KEY, v->be),
                         "%s", v->gen)) {
        libxl__devd_vbd3_failed(gc, v, "cannot write the generation token");
        return;
    }
    vbd3_op_start(v, g, RS_OPENING);
    vbd3_stop_stale(gc, v);
    why = vbd3_spawn(gc, v);
    if (why)
        vbd3_op_fail(egc, v, why);
}

static void vbd3_open_fail(libxl__egc *egc, devd_vbd3 *v, const char *why)
{
    EGC_GC;

    /* A tapdisk without our image serves nothing: let it go now. */
    if (libxl__devd_tdc_connected(&v->tdc) && !v->open) {
        td_msg bye = { .type = TD_MSG_EXIT, .minor = TD_NO_MINOR };
        libxl__devd_tdc_send(gc, &v->tdc, &bye);
        libxl__devd_tdc_close(gc, &v->tdc);
    }
    vbd3_op_fail(egc, v, why);
}

static void vbd3_opened_child(libxl__egc *egc, libxl__ev_child *child,
                              pid_t pid, int status)
{
    vbd3_op *op = CONTAINER_OF(child, *op, child);
    devd_vbd3 *v = op->v;
    td_msg req = { .type = TD_MSG_OPEN, .minor = TD_NO_MINOR };
    EGC_GC;

    libxl__devd_op_ext_end(&op->op);
    if (vbd3_aborted(egc, v, 0))
        return;
    if (status) {
        libxl_report_child_exitstatus(CTX, XTL_ERROR, "tapdisk launcher",
                                      pid, status);
        vbd3_open_fail(egc, v, "could not start tapdisk");
        return;
    }
    if (op->why) {
        vbd3_open_fail(egc, v, op->why);
        return;
    }
    if (v->readonly)
        req.u.params.flags |= TD_FLAG_RDONLY;
    req.u.params.domid = v->domid;
    req.u.params.devnum = v->devid;
    td_set_string(req.u.params.path, TD_PATH_LEN, v->params);
    vbd3_request(egc, v, &req, vbd3_open_image);
}

static void vbd3_open_image(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    td_msg req = { .type = TD_MSG_DISK_INFO };
    const char *why;
    EGC_GC;

    if (vbd3_aborted(egc, v, rc))
        return;
    why = tdc_error(gc, c, rc, GCSPRINTF("tapdisk cannot open %s",
                                         v->params));
    if (why) {
        vbd3_open_fail(egc, v, why);
        return;
    }
    v->open = true;
    v->minor = c->rsp[0].minor;
    req.minor = v->minor;
    vbd3_request(egc, v, &req, vbd3_open_info);
}

static void vbd3_open_info(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    const char *why;
    EGC_GC;

    if (vbd3_aborted(egc, v, rc))
        return;
    why = tdc_error(gc, c, rc, "tapdisk cannot give the disk info");
    if (why) {
        vbd3_open_fail(egc, v, why);
        return;
    }
    v->img = c->rsp[0].u.image;
    if (v->rs == RS_ADOPTING)
        vbd3_ask_done(egc, v);
    else if (v->rs == RS_TAKING_OVER)
        vbd3_takeover_connect(egc, v);
    else
        vbd3_open_done(egc, v);
}

static void vbd3_open_done(libxl__egc *egc, devd_vbd3 *v)
{
    vbd3_state *st = libxl__devd_kind_state(v->dds, &libxl__devd_kind_vbd3);
    EGC_GC;
    int rc;

    rc = libxl__devd_vbd3_publish_initwait(gc, v, st->max_order);
    if (rc) {
        vbd3_open_fail(egc, v, rc == ERROR_NOTFOUND ? "backend removed"
                               : "cannot publish the disk's features");
        return;
    }
    if (libxl__devd_vbd3_watch_frontend(gc, v)) {
        vbd3_open_fail(egc, v, "cannot watch the frontend");
        return;
    }
    VLOG(INFO, v, "%s open in tapdisk (minor %u, %" PRIu64 " sectors%s),"
         " waiting for the frontend", v->params, v->minor, v->img.sectors,
         v->readonly ? ", read-only" : "");
    libxl__devd_device_set_error(v->d, NULL);
    libxl__devd_vbd3_set(v, RS_INITWAIT);
    v->d->dirty = true;     /* the frontend may be ready already */
    vbd3_op_end(egc, v);
}

/*----- ask: after a devd restart, what its tapdisk serves -----*/

void libxl__devd_vbd3_ask(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                          devd_guest *g)
{
    td_msg req = { .type = TD_MSG_LIST, .minor = TD_NO_MINOR };

    vbd3_op_start(v, g, RS_ADOPTING);
    vbd3_request(egc, v, &req, vbd3_ask_listed);
}

/* The image is ours in what tapdisk lists: v->open, v->minor; whether
 * its ring is connected. */
static bool vbd3_find_image(devd_vbd3 *v, const devd_tdc *c)
{
    int i;

    for (i = 0; i < c->nrsp && i < DEVD_TDC_MAX_RSP; i++) {
        const td_list *l = &c->rsp[i].u.list;
        if (l->minor >= 0 && !strcmp(l->path, v->params)) {
            v->open = true;
            v->minor = (uint32_t)l->minor;
            return l->state == TD_IMG_CONNECTED;
        }
    }
    return false;
}

static void vbd3_ask_listed(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    td_msg req = { .type = TD_MSG_DISK_INFO };
    const char *why;
    bool connected;
    EGC_GC;

    if (vbd3_aborted(egc, v, rc))
        return;
    why = tdc_error(gc, c, rc, "asking tapdisk what it serves");
    if (why) {
        vbd3_op_fail(egc, v, why);
        return;
    }
    connected = vbd3_find_image(v, c);
    if (!v->open) {
        vbd3_op_fail(egc, v, GCSPRINTF("its tapdisk does not serve %s",
                                       v->params));
        return;
    }
    /* A backend that says Connected over a ring tapdisk does not have
     * (devd died while another tapdisk was taking it over): take it
     * over. */
    if (v->adopt_to == RS_CONNECTED && !connected)
        v->adopt_to = RS_LOST;
    if (v->adopt_to == RS_FAILED) {
        libxl__devd_vbd3_set(v, RS_FAILED);
        v->d->dirty = true;     /* perhaps to be released */
        vbd3_op_end(egc, v);
        return;
    }
    req.minor = v->minor;
    vbd3_request(egc, v, &req, vbd3_open_info);
}

static void vbd3_ask_done(libxl__egc *egc, devd_vbd3 *v)
{
    EGC_GC;

    if (libxl__devd_vbd3_watch_frontend(gc, v)) {
        vbd3_op_fail(egc, v, "cannot watch the frontend");
        return;
    }
    VLOG(INFO, v, "adopted: %s in tapdisk minor %u, %s", v->params,
         v->minor, libxl__devd_rs_state_name(v->adopt_to));
    libxl__devd_vbd3_set(v, v->adopt_to);
    v->d->dirty = true;     /* look at the frontend now */
    vbd3_op_end(egc, v);
}

/*----- connect: ring info from the frontend, to tapdisk, Connected -----*/

typedef struct {
    libxl__gc *gc;
    const char *fe;
    const char *escaped;        /* the value read last, if escaped */
} fe_reader;

static const char *fe_read(void *ctx, const char *key)
{
    fe_reader *r = ctx;
    libxl__gc *gc = r->gc;
    const char *s = NULL;
    bool escaped;

    libxl__devd_xs_read(gc, XBT_NULL, GCSPRINTF("%s/%s", r->fe, key), &s,
                        &escaped);
    r->escaped = escaped ? s : NULL;
    return s;
}

/* The frontend's ring, checked; NULL, or why it is rejected (one line
 * naming the guest, the device, the key and the value). */
static const char *vbd3_read_ring(libxl__gc *gc, devd_vbd3 *v,
                                  devd_ringinfo *ri)
{
    vbd3_state *st = libxl__devd_kind_state(v->dds, &libxl__devd_kind_vbd3);
    fe_reader rd = { gc, v->fe, NULL };
    devd_ringinfo_error err;

    if (!libxl__devd_ringinfo_read(fe_read, &rd, st->max_order, ri, &err))
        return NULL;
    if (!err.value)
        return GCSPRINTF("frontend %s/%s is missing", v->fe, err.key);
    return GCSPRINTF("frontend %s/%s=\"%s\" rejected: %s", v->fe, err.key,
                     err.value == rd.escaped ? err.value
                     : libxl__devd_show(gc, err.value), err.why);
}

/* The ring's XENBLKIF_CONNECT, from the frontend's keys; NULL, or why
 * the frontend's ring is rejected. */
static const char *vbd3_connect_req(libxl__gc *gc, devd_vbd3 *v,
                                    td_msg *req)
{
    const char *why;
    devd_ringinfo ri;
    unsigned int i;

    memset(req, 0, sizeof(*req));
    req->type = TD_MSG_XENBLKIF_CONNECT;
    req->minor = v->minor;
    why = vbd3_read_ring(gc, v, &ri);
    if (why)
        return why;
    req->u.blkif.domid = v->domid;
    req->u.blkif.devid = v->devid;
    req->u.blkif.order = ri.order;
    req->u.blkif.proto = ri.proto;
    req->u.blkif.port = ri.port;
    /* Only what we offered: a tapdisk that did not knows no flags. */
    if (ri.persistent && (v->img.features & TD_FEAT_PERSISTENT))
        req->u.blkif.flags |= TD_BLKIF_PERSISTENT;
    for (i = 0; i < ri.nr_refs; i++)
        req->u.blkif.gref[i] = ri.ref[i];
    VLOG(DEBUG, v, "frontend ring: order %u, event channel %u, protocol %s,"
         " persistent grants %s", ri.order, ri.port, td_proto_name(ri.proto),
         req->u.blkif.flags & TD_BLKIF_PERSISTENT ? "yes" : "no");
    return NULL;
}

void libxl__devd_vbd3_connect(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                              devd_guest *g)
{
    td_msg req;
    const char *why = vbd3_connect_req(gc, v, &req);

    if (why) {
        /* Let the ring go, should tapdisk have it, then Closed. */
        libxl__devd_vbd3_disconnect(egc, gc, v, g, why);
        return;
    }
    vbd3_op_start(v, g, RS_CONNECTING);
    vbd3_request(egc, v, &req, vbd3_connect_done);
}

/*----- takeover: its tapdisk died under the ring; another takes it -----*/

/* How often a device's tapdisk may die before we stop starting another
 * (a request that kills it would otherwise kill every successor, which
 * takes it again). */
#define VBD3_TAKEOVERS 3
#define VBD3_TAKEOVER_WINDOW_S 60

static bool vbd3_takeover_allowed(devd_vbd3 *v)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (v->takeovers == VBD3_TAKEOVERS &&
        now.tv_sec - v->takeover_at[0] < VBD3_TAKEOVER_WINDOW_S)
        return false;
    if (v->takeovers == VBD3_TAKEOVERS) {
        memmove(v->takeover_at, v->takeover_at + 1,
                sizeof(v->takeover_at) - sizeof(v->takeover_at[0]));
        v->takeovers--;
    }
    v->takeover_at[v->takeovers++] = now.tv_sec;
    return true;
}

void libxl__devd_vbd3_takeover(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                               devd_guest *g)
{
    const char *why;

    if (!vbd3_takeover_allowed(v)) {
        libxl__devd_vbd3_failed(gc, v, GCSPRINTF("its tapdisk died %d times"
                                " in %d s: not started again", VBD3_TAKEOVERS,
                                VBD3_TAKEOVER_WINDOW_S));
        return;
    }
    vbd3_op_start(v, g, RS_TAKING_OVER);
    /* devd died while another tapdisk was taking over: it has the
     * image, and waits for the ring. */
    if (libxl__devd_tdc_connected(&v->tdc) && v->open) {
        VLOG(INFO, v, "its tapdisk has the image: handing it the ring");
        vbd3_takeover_connect(egc, v);
        return;
    }
    VLOG(INFO, v, "starting another tapdisk to take the ring over");
    why = vbd3_spawn(gc, v);
    if (why)
        vbd3_op_fail(egc, v, why);
}

/* The image open in the new tapdisk: the live ring, with what the dead
 * one owed (TD_BLKIF_TAKEOVER). */
static void vbd3_takeover_connect(libxl__egc *egc, devd_vbd3 *v)
{
    td_msg req;
    const char *why;
    EGC_GC;

    why = vbd3_connect_req(gc, v, &req);
    if (why) {
        vbd3_open_fail(egc, v, why);
        return;
    }
    req.u.blkif.flags |= TD_BLKIF_TAKEOVER;
    vbd3_request(egc, v, &req, vbd3_connect_done);
}

static void vbd3_connect_done(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    const char *why = NULL;
    EGC_GC;

    if (vbd3_aborted(egc, v, rc))
        return;
    /* Already connected (devd restarted between the two) is success. */
    if (!rc && c->rsp[0].type == TD_MSG_ERROR &&
        c->rsp[0].u.response.error == EALREADY)
        VLOG_RL(INFO, v, "tapdisk already had this ring");
    else
        why = tdc_error(gc, c, rc, "tapdisk cannot connect the ring");
    if (!why && (rc = libxl__devd_vbd3_publish_connected(gc, v)))
        why = rc == ERROR_NOTFOUND ? "backend removed"
                                   : "cannot publish the disk geometry";
    if (why) {
        vbd3_op_fail(egc, v, why);
        return;
    }
    if (v->rs == RS_TAKING_OVER)
        VLOG(INFO, v, "ring taken over by a new tapdisk (minor %u)",
             v->minor);
    else
        VLOG_RL(INFO, v, "connected");
    libxl__devd_vbd3_set(v, RS_CONNECTED);
    vbd3_op_end(egc, v);
}

/*----- disconnect: tapdisk lets the ring go, backend Closed -----*/

void libxl__devd_vbd3_disconnect(libxl__egc *egc, libxl__gc *gc,
                                 devd_vbd3 *v, devd_guest *g,
                                 const char *why)
{
    td_msg req = { .type = TD_MSG_XENBLKIF_DISCONNECT, .minor = v->minor };

    req.u.blkif.domid = v->domid;
    req.u.blkif.devid = v->devid;
    vbd3_op_start(v, g, RS_DISCONNECTING);
    if (why)
        v->op->why = libxl__strdup(&v->op->op.nested->gc, why);
    vbd3_request(egc, v, &req, vbd3_disconnect_done);
}

static void vbd3_disconnect_done(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    const char *why;
    EGC_GC;

    if (vbd3_aborted(egc, v, rc))
        return;
    /* Logged once, here: the failure that led to the disconnect. */
    why = v->op->why ? v->op->why
                     : tdc_error(gc, c, rc, "tapdisk cannot let the ring go");
    if (why) {
        vbd3_op_fail(egc, v, why);
        return;
    }
    rc = libxl__devd_vbd3_write_state(gc, v, DEVD_XBS_CLOSED);
    if (rc && rc != ERROR_NOTFOUND)
        VLOG_RL(ERROR, v, "cannot switch the backend to Closed");
    VLOG_RL(INFO, v, "disconnected");
    libxl__devd_vbd3_set(v, RS_CLOSED);
    vbd3_op_end(egc, v);
}

/*----- release: image closed, tapdisk stopped, backend removed -----*/

void libxl__devd_vbd3_release(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                              devd_guest *g, devd_rs_action why)
{
    td_msg req = { .type = TD_MSG_CLOSE, .minor = v->minor };
    bool recreated = why == RS_ACT_REPLACED;

    libxl__ev_xswatch_deregister(gc, &v->fe_watch);
    vbd3_op_start(v, g, RS_RELEASING);
    v->op->rm_backend = why == RS_ACT_REMOVE;
    v->op->recreated = recreated;
    VLOG(INFO, v, "releasing%s", recreated ? " (a new backend replaced it)"
                                           : "");
    if (!libxl__devd_tdc_connected(&v->tdc))
        vbd3_release_end(egc, v);
    else if (!v->open)
        vbd3_release_closed(egc, &v->tdc, 0);
    else
        vbd3_request(egc, v, &req, vbd3_release_closed);
}

static void vbd3_release_closed(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    td_msg req = { .type = TD_MSG_LIST, .minor = TD_NO_MINOR };
    EGC_GC;
    const char *why = v->open ? tdc_error(gc, c, rc, "closing the image")
                              : NULL;

    if (vbd3_aborted(egc, v, rc))
        return;
    if (why)
        VLOG(WARN, v, "%s", why);
    v->open = false;
    if (rc || !libxl__devd_tdc_connected(c) ||
        libxl__devd_tdc_request(v->op->op.nested, c, &req,
                                VBD3_TD_TIMEOUT_MS, vbd3_release_listed))
        vbd3_release_end(egc, v);
}

static void vbd3_release_listed(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    EGC_GC;

    if (vbd3_aborted(egc, v, rc))
        return;
    /* Stop tapdisk only if it serves nothing else (td-ctl may have given
     * it more). */
    if (!rc && c->rsp[0].type == TD_MSG_LIST_RSP &&
        c->rsp[0].u.list.count == 0) {
        td_msg bye = { .type = TD_MSG_EXIT, .minor = TD_NO_MINOR };
        libxl__devd_tdc_send(gc, c, &bye);
        v->op->stopped = true;
        VLOG(DEBUG, v, "tapdisk stopped");
    }
    vbd3_release_end(egc, v);
}

static void vbd3_release_end(libxl__egc *egc, devd_vbd3 *v)
{
    libxl__devd_state *dds = v->dds;
    vbd3_op *op = v->op;
    uint32_t domid = v->domid, devid = v->devid;
    bool recreated = op->recreated;
    EGC_GC;

    /* Its socket goes with a tapdisk we stopped or that died (devd alone
     * makes sockets on that path, one device operation at a time). */
    if (op->stopped || !libxl__devd_tdc_connected(&v->tdc))
        libxl__devd_vbd3_unlink_socket(gc, v, op->stopped);
    libxl__devd_tdc_close(gc, &v->tdc);
    if (op->rm_backend) {
        libxl__device ldev;
        libxl__devd_fill_ldev(dds, v->d, LIBXL__DEVICE_KIND_VBD, &ldev);
        libxl__device_destroy(gc, &ldev);
    }
    VLOG(INFO, v, "released");
    op->op.removed = true;      /* the device is freed with the operation */
    vbd3_op_end(egc, v);        /* frees v */
    if (recreated && !libxl__devd_stopping(dds))
        libxl__devd_reevaluate(egc, dds, "vbd3", domid, devid);
}
