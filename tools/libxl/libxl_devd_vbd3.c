/*
 * The vbd3 ring server: devd itself does the blkif XenBus handshake for
 * backend/vbd3/<domid>/<devid> and hands the frontend's ring to a tapdisk
 * over the tapdisk control protocol (the job of blktap3's xenio daemon and
 * of tapback, done inside devd's ao: no extra daemon, no ordering fight with
 * libxl, strict checks on everything the guest writes).
 *
 * Each device has one tapdisk of its own, started by devd on a socket named
 * after the device, which outlives devd (a restarted devd finds it again).
 * What happens on an event is decided by the table in devd_blkif.c from our
 * state and the frontend's; the asynchronous steps (start tapdisk, open,
 * connect, disconnect, release) each run as a device operation (devd_op),
 * written below as chains of callbacks in the order they run.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "libxl_devd_internal.h"
#include "td_ratelimit.h"

#define TD_SOCK_DIR "/var/run/xen/tapdisk"
#define TD_TIMEOUT_MS 10000
#define GEN_KEY "xl-devd-generation"

#define VLOG(l, v, f, ...) \
    LOGD(l, (v)->domid, "vbd3 %u: " f, (v)->devid, ##__VA_ARGS__)
/* A line that the frontend's doings cause (a guest can connect and close
 * in a loop): at most TD_RL_BURST a minute per device. */
#define VLOG_RL(l, v, f, ...) do {                                      \
        unsigned int drop_;                                             \
        if (td_ratelimit_ok(&(v)->rl, td_ratelimit_now(), &drop_))     \
            VLOG(l, v, f "%s", ##__VA_ARGS__, drop_ ?                   \
                 GCSPRINTF(" (%u such lines dropped)", drop_) : "");   \
    } while (0)

typedef struct devd_vbd3 {
    libxl__devd_state *dds;
    devd_device *d;
    uint32_t domid, devid;
    devd_rs_state rs;
    devd_rs_state adopt_to;     /* ADOPTING: the state found */
    char *be, *fe;              /* backend and (checked) frontend paths */
    char *params;               /* "<format>:<file>" */
    bool readonly;
    char gen[48];               /* our generation token */
    char sock[108];
    bool open;                  /* tapdisk has the image, as `minor` */
    uint32_t minor;
    td_image img;
    int be_state;               /* what we last wrote, -1: not known */
    libxl__ev_xswatch fe_watch;
    devd_tdc tdc;
    devd_op *op;                /* the running operation */
    bool failing;               /* the running disconnect ends in FAILED */
    char *fail_why;
    bool rm_backend;            /* releasing: remove the backend at the end */
    bool recreated;             /* releasing: a new backend took our place */
    bool stopped;               /* releasing: we told its tapdisk to exit */
    td_ratelimit rl;            /* for the lines the frontend causes */
} devd_vbd3;

static void vbd3_opened_child(libxl__egc *egc, libxl__ev_child *child,
                              pid_t pid, int status);
static void vbd3_open_image(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_open_info(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_open_done(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_adopt_list(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_adopt_done(libxl__egc *egc, devd_vbd3 *v);
static void vbd3_connect_done(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_disconnect_done(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_release_closed(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_release_listed(libxl__egc *egc, devd_tdc *c, int rc);
static void vbd3_release_end(libxl__egc *egc, devd_vbd3 *v);
static void vbd3_fe_watch_cb(libxl__egc *egc, libxl__ev_xswatch *w,
                             const char *wpath, const char *epath);
static void vbd3_tapdisk_lost(libxl__egc *egc, devd_tdc *c);

/*----- state and XenStore helpers -----*/

static void vbd3_set(devd_vbd3 *v, devd_rs_state rs)
{
    v->rs = rs;
    v->d->detail = libxl__devd_rs_state_name(rs);
    switch (rs) {
    case RS_OPENING:
    case RS_ADOPTING:
        v->d->state = DEVD_DEV_ADDING;
        break;
    case RS_FAILED:
        v->d->state = DEVD_DEV_FAILED;
        break;
    case RS_RELEASING:
        v->d->state = DEVD_DEV_REMOVING;
        break;
    default:
        v->d->state = DEVD_DEV_CONNECTED;
        break;
    }
}

static const char *be_read(libxl__gc *gc, devd_vbd3 *v, const char *key)
{
    const char *s = NULL;

    libxl__devd_xs_read(gc, XBT_NULL, GCSPRINTF("%s/%s", v->be, key), &s,
                        NULL);
    return s;
}

typedef struct {
    const char *key, *val;
} vbd3_kv;

static int vbd3_publish(libxl__gc *gc, devd_vbd3 *v, const vbd3_kv *kv,
                        int n, const char *hotplug_status, int state);

/* Our backend state, written only when it changes; never recreates a
 * backend directory that has gone (ERROR_NOTFOUND). */
static int vbd3_write_state(libxl__gc *gc, devd_vbd3 *v, int state)
{
    if (v->be_state == state)
        return 0;
    return vbd3_publish(gc, v, NULL, 0, NULL, state);
}

/* Backend-written keys the frontend may read and nobody else change. */
static int vbd3_xs_write_ro(libxl__gc *gc, devd_vbd3 *v, xs_transaction_t t,
                            const char *key, const char *val)
{
    const char *path = GCSPRINTF("%s/%s", v->be, key);
    struct xs_permissions perms[2] = {
        { .id = v->dds->self_domid, .perms = XS_PERM_NONE },
        { .id = v->domid, .perms = XS_PERM_READ },
    };
    int rc = libxl__xs_write_checked(gc, t, path, val);

    if (rc) return rc;
    if (!xs_set_permissions(CTX->xsh, t, path, perms, 2)) {
        LOGED(ERROR, v->domid, "vbd3 %u: setting permissions of %s",
              v->devid, path);
        return ERROR_FAIL;
    }
    return 0;
}

/*
 * The device stops here, with the reason where the toolstack and the user
 * look (hotplug-error, hotplug-status, the log, `xl devd --status`):
 * backend Closed, the rest of devd unaffected.
 */
static int vbd3_failed_txn(libxl__gc *gc, xs_transaction_t t, void *arg)
{
    const char *const *kv = arg;       /* be, why */
    const char *st;
    int rc;

    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/state", kv[0]), &st);
    if (rc) return rc;
    if (!st) return ERROR_NOTFOUND;     /* gone: nothing to tell */
    rc = libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-error", kv[0]), "%s",
                          kv[1]);
    if (rc) return rc;
    rc = libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-status", kv[0]),
                          "error");
    if (rc) return rc;
    return libxl__xs_printf(gc, t, GCSPRINTF("%s/state", kv[0]), "%d",
                            DEVD_XBS_CLOSED);
}

static void vbd3_failed(libxl__gc *gc, devd_vbd3 *v, const char *why)
{
    const char *kv[] = { v->be, why };

    vbd3_set(v, RS_FAILED);
    libxl__devd_device_set_error(v->d, why);
    VLOG_RL(ERROR, v, "device closed: %s", why);
    if (!libxl__devd_xs_txn(gc, vbd3_failed_txn, kv))
        v->be_state = DEVD_XBS_CLOSED;
}

/*----- device creation and disposal -----*/

static devd_vbd3 *vbd3_new(libxl__gc *gc, libxl__devd_state *dds,
                           uint32_t domid, uint32_t devid, devd_guest **g_r)
{
    devd_guest *g = libxl__devd_guest_get(&dds->table, domid);
    devd_device *d;
    devd_vbd3 *v;

    d = g ? libxl__devd_device_add(&dds->table, g, "vbd3",
                                   LIBXL__DEVICE_KIND_VBD3, devid,
                                   DEVD_DEV_ADDING) : NULL;
    if (!d) {
        LOGD(ERROR, domid, "vbd3 %u: out of memory, not tracked", devid);
        if (g) libxl__devd_drop_guest_if_empty(gc, dds, g);
        return NULL;
    }
    v = libxl__zalloc(NOGC, sizeof(*v));
    v->dds = dds;
    v->d = d;
    v->domid = domid;
    v->devid = devid;
    v->be = libxl__sprintf(NOGC, "%s/vbd3/%u/%u", dds->be_path, domid,
                           devid);
    v->be_state = -1;
    snprintf(v->sock, sizeof(v->sock), TD_SOCK_DIR "/vbd3-%u-%u.sock",
             domid, devid);
    libxl__ev_xswatch_init(&v->fe_watch);
    libxl__devd_tdc_init(&v->tdc);
    v->tdc.domid = domid;
    v->tdc.devid = devid;
    v->tdc.lost = vbd3_tapdisk_lost;
    d->ext = v;
    vbd3_set(v, RS_OPENING);
    *g_r = g;
    return v;
}

void libxl__devd_vbd3_dispose(libxl__gc *gc, devd_device *d)
{
    devd_vbd3 *v = d->ext;

    if (!v)
        return;
    libxl__ev_xswatch_deregister(gc, &v->fe_watch);
    libxl__devd_tdc_close(gc, &v->tdc);
    free(v->be);
    free(v->fe);
    free(v->params);
    free(v->fail_why);
    free(v);
    d->ext = NULL;
    d->detail = NULL;
}

static devd_vbd3 *op_vbd3(devd_op *op)
{
    return op->dev->ext;
}

static devd_vbd3 *tdc_vbd3(devd_tdc *c)
{
    return CONTAINER_OF(c, devd_vbd3, tdc);
}

static void vbd3_op_end(libxl__egc *egc, devd_vbd3 *v);

/*
 * devd is stopping (libxl_ao_abort) in the middle of a step: end it and
 * change nothing in XenStore; the next devd adopts the device as it is.
 */
static bool vbd3_aborted(libxl__egc *egc, devd_vbd3 *v, int rc)
{
    EGC_GC;

    if (rc != ERROR_ABORTED && !v->dds->aborting)
        return false;
    VLOG(DEBUG, v, "step cut short: devd is stopping");
    vbd3_op_end(egc, v);
    return true;
}

static void vbd3_op_start(devd_vbd3 *v, devd_guest *g, devd_rs_state rs)
{
    v->op = libxl__devd_op_new(v->dds, g, v->d);
    vbd3_set(v, rs);
}

/* Ends the running operation.  The device may be freed by it. */
static void vbd3_op_end(libxl__egc *egc, devd_vbd3 *v)
{
    devd_op *op = v->op;

    v->op = NULL;
    libxl__devd_op_done(egc, op);
}

/*----- opening: start tapdisk, open the image, publish, InitWait -----*/

/* The toolstack's keys, checked: params, mode, frontend, frontend-id. */
static int vbd3_read_config(libxl__gc *gc, devd_vbd3 *v, const char **why)
{
    const char *params = be_read(gc, v, "params");
    const char *mode = be_read(gc, v, "mode");
    const char *fe = be_read(gc, v, "frontend");
    const char *feid = be_read(gc, v, "frontend-id");
    const char *want_fe = GCSPRINTF("/local/domain/%u/device/vbd/%u",
                                    v->domid, v->devid);
    uint32_t id;

    if (!libxl__devd_vbd3_params_ok(params)) {
        *why = GCSPRINTF("params=\"%s\" is not <format>:<absolute path>",
                         libxl__devd_show(gc, params));
        return ERROR_INVAL;
    }
    if (mode && strcmp(mode, "r") && strcmp(mode, "w")) {
        *why = GCSPRINTF("mode=\"%s\" is neither r nor w",
                         libxl__devd_show(gc, mode));
        return ERROR_INVAL;
    }
    /* The frontend must be the one of the domain in our path. */
    if (!fe || strcmp(fe, want_fe)) {
        *why = GCSPRINTF("frontend=\"%s\" is not %s",
                         libxl__devd_show(gc, fe), want_fe);
        return ERROR_INVAL;
    }
    if (!feid || libxl__devd_parse_uint(feid, DEVD_DOMID_MAX, &id) ||
        id != v->domid) {
        *why = GCSPRINTF("frontend-id=\"%s\" is not %u",
                         libxl__devd_show(gc, feid), v->domid);
        return ERROR_INVAL;
    }
    free(v->params);
    v->params = libxl__strdup(NOGC, params);
    free(v->fe);
    v->fe = libxl__strdup(NOGC, fe);
    v->readonly = mode && !strcmp(mode, "r");
    return 0;
}

/* A listening socket for the new tapdisk: devd connects at once, and the
 * connection waits in the backlog until tapdisk accepts it. */
static int vbd3_listen(libxl__gc *gc, devd_vbd3 *v)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    /* Only root may reach a tapdisk: the directory is ours and 0700, the
     * socket 0600, whatever the umask (which a library must not touch). */
    if (mkdir(TD_SOCK_DIR, 0700) && errno != EEXIST) {
        LOGED(ERROR, v->domid, "vbd3 %u: mkdir " TD_SOCK_DIR, v->devid);
        return -1;
    }
    if (lstat(TD_SOCK_DIR, &st) || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() ||
        ((st.st_mode & 077) && chmod(TD_SOCK_DIR, 0700))) {
        LOGD(ERROR, v->domid, "vbd3 %u: " TD_SOCK_DIR " is not a directory"
             " of ours that only we can enter", v->devid);
        return -1;
    }
    strcpy(sa.sun_path, v->sock);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    unlink(v->sock);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
        chmod(v->sock, 0600) || listen(fd, 8)) {
        LOGED(ERROR, v->domid, "vbd3 %u: listen on %s", v->devid, v->sock);
        close(fd);
        unlink(v->sock);
        return -1;
    }
    return fd;
}

/* In the forked child: start tapdisk in its own session, so that it
 * outlives us, with the listening socket as fd 3.  Never returns. */
static void vbd3_exec_tapdisk(const char *bin, const char *logf, int lfd)
{
    int nul, lg;
    pid_t p;

    p = fork();
    if (p)
        _exit(p < 0 ? 1 : 0);
    setsid();
    nul = open("/dev/null", O_RDWR);
    lg = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (nul < 0 || lg < 0)
        _exit(1);
    if (lfd != 3) {
        if (dup2(lfd, 3) < 0)
            _exit(1);
    } else {
        fcntl(3, F_SETFD, 0);
    }
    dup2(nul, 0);
    dup2(lg, 1);
    dup2(lg, 2);
    execl(bin, "tapdisk", "-S", "3", (char *)NULL);
    _exit(127);
}

static void vbd3_open(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                      devd_guest *g)
{
    const char *why = NULL;
    const char *bin = GCSPRINTF("%s/tapdisk", libxl__private_bindir_path());
    const char *logf = GCSPRINTF(XEN_LOG_DIR "/tapdisk-vbd3-%u-%u.log",
                                 v->domid, v->devid);
    devd_op *op;
    int lfd, rc;
    pid_t pid;

    if (vbd3_read_config(gc, v, &why)) {
        vbd3_failed(gc, v, why);
        return;
    }
    /* The generation token tells this backend from a later one with the
     * same domid/devid (a fast remove and re-create). */
    snprintf(v->gen, sizeof(v->gen), "%lx.%lx.%u", (unsigned long)time(NULL),
             (unsigned long)getpid(), ++v->dds->vbd3_serial);
    if (libxl__xs_printf(gc, XBT_NULL, GCSPRINTF("%s/" GEN_KEY, v->be), "%s",
                         v->gen)) {
        vbd3_failed(gc, v, "cannot write the generation token");
        return;
    }

    vbd3_op_start(v, g, RS_OPENING);
    op = v->op;
    /* A tapdisk left on our socket by an earlier backend of the same
     * domid/devid serves nothing of ours any more. */
    if (!libxl__devd_tdc_connect(gc, &v->tdc, v->sock)) {
        td_msg bye = { .type = TD_MSG_EXIT, .minor = TD_NO_MINOR };
        VLOG(INFO, v, "stopping a stale tapdisk on %s", v->sock);
        libxl__devd_tdc_send(gc, &v->tdc, &bye);
        libxl__devd_tdc_close(gc, &v->tdc);
    }

    lfd = vbd3_listen(gc, v);
    if (lfd < 0) {
        rc = ERROR_FAIL;
        why = GCSPRINTF("cannot create the tapdisk socket %s", v->sock);
        goto fail;
    }
    libxl__ev_child_init(&op->child);
    /* The child belongs to the operation's ao. */
    pid = libxl__ev_child_fork(&op->nested->gc, &op->child,
                               vbd3_opened_child);
    if (pid < 0) {
        close(lfd);
        rc = ERROR_FAIL;
        why = "cannot fork to start tapdisk";
        goto fail;
    }
    if (!pid)
        vbd3_exec_tapdisk(bin, logf, lfd);   /* in the child; never returns */
    close(lfd);
    rc = libxl__devd_tdc_connect(gc, &v->tdc, v->sock);
    if (rc) {
        why = "cannot connect to the new tapdisk";
        /* The child's death still comes: it ends the operation. */
        v->fail_why = libxl__strdup(NOGC, why);
    }
    VLOG(DEBUG, v, "starting tapdisk for %s", v->params);
    return;

fail:
    vbd3_failed(gc, v, why);
    vbd3_op_end(egc, v);
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
    vbd3_failed(gc, v, why);
    vbd3_op_end(egc, v);
}

static void vbd3_opened_child(libxl__egc *egc, libxl__ev_child *child,
                              pid_t pid, int status)
{
    devd_op *op = CONTAINER_OF(child, *op, child);
    devd_vbd3 *v = op_vbd3(op);
    td_msg req = { .type = TD_MSG_OPEN, .minor = TD_NO_MINOR };
    EGC_GC;
    int rc;

    if (vbd3_aborted(egc, v, 0))
        return;

    if (status) {
        libxl_report_child_exitstatus(CTX, XTL_ERROR, "tapdisk launcher",
                                      pid, status);
        vbd3_open_fail(egc, v, "could not start tapdisk");
        return;
    }
    if (v->fail_why) {
        char *why = v->fail_why;
        v->fail_why = NULL;
        vbd3_open_fail(egc, v, GCSPRINTF("%s", why));
        free(why);
        return;
    }
    if (v->readonly)
        req.u.params.flags |= TD_FLAG_RDONLY;
    req.u.params.domid = v->domid;
    req.u.params.devnum = v->devid;
    td_set_string(req.u.params.path, TD_PATH_LEN, v->params);
    rc = libxl__devd_tdc_request(op->nested, &v->tdc, &req, TD_TIMEOUT_MS,
                                 vbd3_open_image);
    if (rc)
        vbd3_open_fail(egc, v, "cannot talk to the new tapdisk");
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
    rc = libxl__devd_tdc_request(v->op->nested, c, &req, TD_TIMEOUT_MS,
                                 vbd3_open_info);
    if (rc)
        vbd3_open_fail(egc, v, "cannot ask tapdisk for the disk info");
}

/*
 * In one transaction, retried on EAGAIN: the keys (readable by the
 * frontend only), hotplug-status if given, then the state, so that the
 * frontend never sees the state before what goes with it.
 */
struct vbd3_publish_txn {
    devd_vbd3 *v;
    const vbd3_kv *kv;
    int n, state;
    const char *hotplug_status;
};

static int vbd3_publish_txn(libxl__gc *gc, xs_transaction_t t, void *arg)
{
    const struct vbd3_publish_txn *p = arg;
    const char *be = p->v->be, *st;
    int rc, i;

    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/state", be), &st);
    if (rc) return rc;
    if (!st) return ERROR_NOTFOUND;
    for (i = 0; i < p->n; i++) {
        rc = vbd3_xs_write_ro(gc, p->v, t, p->kv[i].key, p->kv[i].val);
        if (rc) return rc;
    }
    if (p->hotplug_status) {
        rc = libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-status", be),
                              "%s", p->hotplug_status);
        if (rc) return rc;
    }
    return libxl__xs_printf(gc, t, GCSPRINTF("%s/state", be), "%d",
                            p->state);
}

static int vbd3_publish(libxl__gc *gc, devd_vbd3 *v, const vbd3_kv *kv,
                        int n, const char *hotplug_status, int state)
{
    struct vbd3_publish_txn p = { v, kv, n, state, hotplug_status };
    int rc = libxl__devd_xs_txn(gc, vbd3_publish_txn, &p);

    if (!rc)
        v->be_state = state;
    return rc;
}

/* Exactly the features tapdisk implements, then InitWait. */
static int vbd3_publish_initwait(libxl__gc *gc, devd_vbd3 *v)
{
    uint32_t f = v->img.features;
    bool discard = f & TD_FEAT_DISCARD;
    const vbd3_kv kv[] = {
        { "max-ring-page-order", GCSPRINTF("%u", v->dds->vbd3_max_order) },
        { "feature-flush-cache", f & TD_FEAT_FLUSH ? "1" : "0" },
        { "feature-barrier", f & TD_FEAT_BARRIER ? "1" : "0" },
        { "feature-discard", discard ? "1" : "0" },
        { "feature-persistent", "0" },
        { "feature-max-indirect-segments", "0" },
        /* only with discard (the last three) */
        { "discard-granularity", "4096" },
        { "discard-alignment", "0" },
        { "discard-secure", "0" },
    };

    return vbd3_publish(gc, v, kv, discard ? 9 : 6, "connected",
                        DEVD_XBS_INITWAIT);
}

static int vbd3_watch_frontend(libxl__gc *gc, devd_vbd3 *v)
{
    if (libxl__ev_xswatch_isregistered(&v->fe_watch))
        return 0;
    return libxl__ev_xswatch_register(gc, &v->fe_watch, vbd3_fe_watch_cb,
                                      GCSPRINTF("%s/state", v->fe));
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
    if (v->rs == RS_ADOPTING) {
        vbd3_adopt_done(egc, v);
        return;
    }
    vbd3_open_done(egc, c, 0);
}

static void vbd3_open_done(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    EGC_GC;

    rc = vbd3_publish_initwait(gc, v);
    if (rc) {
        vbd3_open_fail(egc, v, rc == ERROR_NOTFOUND ? "backend removed"
                               : "cannot publish the disk's features");
        return;
    }
    rc = vbd3_watch_frontend(gc, v);
    if (rc) {
        vbd3_open_fail(egc, v, "cannot watch the frontend");
        return;
    }
    VLOG(INFO, v, "%s open in tapdisk (minor %u, %" PRIu64 " sectors%s),"
         " waiting for the frontend", v->params, v->minor, v->img.sectors,
         v->readonly ? ", read-only" : "");
    libxl__devd_device_set_error(v->d, NULL);
    vbd3_set(v, RS_INITWAIT);
    v->d->dirty = true;     /* the frontend may be ready already */
    vbd3_op_end(egc, v);
}

/*----- adoption after a devd restart -----*/

void libxl__devd_vbd3_adopt(libxl__egc *egc, libxl__gc *gc,
                            libxl__devd_state *dds, uint32_t domid,
                            uint32_t devid)
{
    devd_guest *g;
    devd_vbd3 *v;
    const char *s, *o, *gen, *why = NULL;
    int state, online = 1, rc;
    td_msg req = { .type = TD_MSG_LIST, .minor = TD_NO_MINOR };

    v = vbd3_new(gc, dds, domid, devid, &g);
    if (!v)
        return;
    s = be_read(gc, v, "state");
    o = be_read(gc, v, "online");
    gen = be_read(gc, v, GEN_KEY);
    if (!s || libxl__devd_parse_state(s, &state) ||
        (o && libxl__devd_parse_online(o, &online))) {
        vbd3_failed(gc, v, "unreadable backend state or online");
        return;
    }
    /* Never got as far as InitWait: start from the beginning. */
    if (!gen || state <= DEVD_XBS_INITIALISING) {
        VLOG(INFO, v, "adopted before InitWait: opening it afresh");
        vbd3_open(egc, gc, v, g);
        return;
    }
    snprintf(v->gen, sizeof(v->gen), "%s", gen);
    v->be_state = state;
    if (vbd3_read_config(gc, v, &why)) {
        vbd3_failed(gc, v, why);
        return;
    }
    switch (state) {
    case DEVD_XBS_INITWAIT:
    case DEVD_XBS_INITIALISED:
        v->adopt_to = RS_INITWAIT;
        break;
    case DEVD_XBS_CONNECTED:
        v->adopt_to = RS_CONNECTED;
        break;
    case DEVD_XBS_CLOSING:
        v->adopt_to = RS_CLOSING;
        break;
    default:
        v->adopt_to = RS_CLOSED;
        break;
    }
    if (state == DEVD_XBS_CLOSED && be_read(gc, v, "hotplug-error"))
        v->adopt_to = RS_FAILED;

    rc = libxl__devd_tdc_connect(gc, &v->tdc, v->sock);
    if (rc) {
        if (state == DEVD_XBS_INITWAIT) {
            VLOG(WARN, v, "adopted in InitWait, but its tapdisk is gone:"
                 " starting one again");
            vbd3_open(egc, gc, v, g);
            return;
        }
        vbd3_set(v, v->adopt_to);
        if (v->adopt_to == RS_FAILED || state == DEVD_XBS_CLOSED) {
            /* Nothing left to serve: released now or when the toolstack
             * says so. */
            libxl__devd_vbd3_evaluate(egc, gc, dds, domid, devid);
            return;
        }
        vbd3_failed(gc, v, "its tapdisk died while devd was down");
        return;
    }
    vbd3_op_start(v, g, RS_ADOPTING);
    rc = libxl__devd_tdc_request(v->op->nested, &v->tdc, &req,
                                 TD_TIMEOUT_MS, vbd3_adopt_list);
    if (rc) {
        vbd3_failed(gc, v, "cannot ask its tapdisk what it serves");
        vbd3_op_end(egc, v);
    }
}

static void vbd3_adopt_list(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    const char *why = NULL;
    bool connected = false;
    EGC_GC;
    int i;

    if (vbd3_aborted(egc, v, rc))
        return;

    why = tdc_error(gc, c, rc, "asking tapdisk what it serves");
    if (why) goto fail;
    for (i = 0; i < c->nrsp && i < DEVD_TDC_MAX_RSP; i++) {
        const td_list *l = &c->rsp[i].u.list;
        if (l->minor >= 0 && !strcmp(l->path, v->params)) {
            v->open = true;
            v->minor = (uint32_t)l->minor;
            connected = l->state == TD_IMG_CONNECTED;
            break;
        }
    }
    if (!v->open) {
        why = GCSPRINTF("its tapdisk does not serve %s", v->params);
        goto fail;
    }
    /* A backend that says Connected over a ring tapdisk does not have
     * (it died with its old tapdisk...): wait for the frontend again. */
    if (v->adopt_to == RS_CONNECTED && !connected)
        v->adopt_to = RS_INITWAIT;
    if (v->adopt_to == RS_FAILED) {
        vbd3_set(v, RS_FAILED);
        v->d->dirty = true;     /* perhaps to be released */
        vbd3_op_end(egc, v);
        return;
    }
    {
        td_msg req = { .type = TD_MSG_DISK_INFO, .minor = v->minor };
        rc = libxl__devd_tdc_request(v->op->nested, c, &req, TD_TIMEOUT_MS,
                                     vbd3_open_info);
        if (rc) {
            why = "cannot ask tapdisk for the disk info";
            goto fail;
        }
    }
    return;

fail:
    vbd3_failed(gc, v, why);
    vbd3_op_end(egc, v);
}

static void vbd3_adopt_done(libxl__egc *egc, devd_vbd3 *v)
{
    EGC_GC;

    if (vbd3_watch_frontend(gc, v)) {
        vbd3_failed(gc, v, "cannot watch the frontend");
    } else {
        VLOG(INFO, v, "adopted: %s in tapdisk minor %u, %s", v->params,
             v->minor, libxl__devd_rs_state_name(v->adopt_to));
        vbd3_set(v, v->adopt_to);
        v->d->dirty = true;     /* look at the frontend now */
    }
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

static void vbd3_connect(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                         devd_guest *g)
{
    fe_reader rd = { gc, v->fe, NULL };
    devd_ringinfo ri;
    devd_ringinfo_error err;
    td_msg req = { .type = TD_MSG_XENBLKIF_CONNECT, .minor = v->minor };
    unsigned int i;
    int rc;

    if (libxl__devd_ringinfo_read(fe_read, &rd, v->dds->vbd3_max_order, &ri,
                                  &err)) {
        /* One line naming the guest, the device, the key and the value. */
        const char *why = err.value
            ? GCSPRINTF("frontend %s/%s=\"%s\" rejected: %s", v->fe,
                        err.key, err.value == rd.escaped ? err.value
                        : libxl__devd_show(gc, err.value), err.why)
            : GCSPRINTF("frontend %s/%s is missing", v->fe, err.key);
        v->failing = true;
        v->fail_why = libxl__strdup(NOGC, why);    /* logged once, there */
        /* Let the ring go, should tapdisk have it, then Closed. */
        vbd3_op_start(v, g, RS_DISCONNECTING);
        req.type = TD_MSG_XENBLKIF_DISCONNECT;
        req.u.blkif.domid = v->domid;
        req.u.blkif.devid = v->devid;
        rc = libxl__devd_tdc_request(v->op->nested, &v->tdc, &req,
                                     TD_TIMEOUT_MS, vbd3_disconnect_done);
        if (rc)
            vbd3_disconnect_done(egc, &v->tdc, rc);
        return;
    }
    req.u.blkif.domid = v->domid;
    req.u.blkif.devid = v->devid;
    req.u.blkif.order = ri.order;
    req.u.blkif.proto = ri.proto;
    req.u.blkif.port = ri.port;
    for (i = 0; i < ri.nr_refs; i++)
        req.u.blkif.gref[i] = ri.ref[i];
    VLOG(DEBUG, v, "frontend ring: order %u, event channel %u, protocol %s",
         ri.order, ri.port, td_proto_name(ri.proto));
    vbd3_op_start(v, g, RS_CONNECTING);
    rc = libxl__devd_tdc_request(v->op->nested, &v->tdc, &req, TD_TIMEOUT_MS,
                                 vbd3_connect_done);
    if (rc)
        vbd3_connect_done(egc, &v->tdc, rc);
}

/* The geometry, then Connected. */
static int vbd3_publish_connected(libxl__gc *gc, devd_vbd3 *v)
{
    const vbd3_kv kv[] = {
        { "sector-size", GCSPRINTF("%u", v->img.sector_size) },
        { "physical-sector-size", GCSPRINTF("%u", v->img.sector_size) },
        { "sectors", GCSPRINTF("%" PRIu64, v->img.sectors) },
        { "info", GCSPRINTF("%u", v->img.info) },
    };

    return vbd3_publish(gc, v, kv, 4, NULL, DEVD_XBS_CONNECTED);
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
    if (!why && (rc = vbd3_publish_connected(gc, v)))
        why = rc == ERROR_NOTFOUND ? "backend removed"
                                   : "cannot publish the disk geometry";
    if (why) {
        vbd3_failed(gc, v, why);
    } else {
        VLOG_RL(INFO, v, "connected");
        vbd3_set(v, RS_CONNECTED);
    }
    vbd3_op_end(egc, v);
}

/*----- disconnect: tapdisk lets the ring go, backend Closed -----*/

static void vbd3_disconnect(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                            devd_guest *g)
{
    td_msg req = { .type = TD_MSG_XENBLKIF_DISCONNECT, .minor = v->minor };
    int rc;

    req.u.blkif.domid = v->domid;
    req.u.blkif.devid = v->devid;
    vbd3_op_start(v, g, RS_DISCONNECTING);
    rc = libxl__devd_tdc_request(v->op->nested, &v->tdc, &req, TD_TIMEOUT_MS,
                                 vbd3_disconnect_done);
    if (rc)
        vbd3_disconnect_done(egc, &v->tdc, rc);
}

static void vbd3_disconnect_done(libxl__egc *egc, devd_tdc *c, int rc)
{
    devd_vbd3 *v = tdc_vbd3(c);
    EGC_GC;
    const char *why = tdc_error(gc, c, rc, "tapdisk cannot let the ring go");

    if (vbd3_aborted(egc, v, rc))
        return;

    if (v->failing) {
        char *fw = v->fail_why;
        v->failing = false;
        v->fail_why = NULL;
        vbd3_failed(gc, v, fw ? GCSPRINTF("%s", fw) : "failed");
        free(fw);
    } else if (why) {
        vbd3_failed(gc, v, why);
    } else {
        rc = vbd3_write_state(gc, v, DEVD_XBS_CLOSED);
        if (rc && rc != ERROR_NOTFOUND)
            VLOG_RL(ERROR, v, "cannot switch the backend to Closed");
        VLOG_RL(INFO, v, "disconnected");
        vbd3_set(v, RS_CLOSED);
    }
    vbd3_op_end(egc, v);
}

/*----- release: image closed, tapdisk stopped, backend removed -----*/

static void vbd3_release(libxl__egc *egc, libxl__gc *gc, devd_vbd3 *v,
                         devd_guest *g, bool rm, bool recreated)
{
    td_msg req = { .type = TD_MSG_CLOSE, .minor = v->minor };
    int rc;

    v->rm_backend = rm;
    v->recreated = recreated;
    libxl__ev_xswatch_deregister(gc, &v->fe_watch);
    vbd3_op_start(v, g, RS_RELEASING);
    VLOG(INFO, v, "releasing%s", recreated ? " (a new backend replaced it)"
                                           : "");
    if (!libxl__devd_tdc_connected(&v->tdc)) {
        vbd3_release_end(egc, v);
        return;
    }
    if (!v->open) {
        vbd3_release_closed(egc, &v->tdc, 0);
        return;
    }
    rc = libxl__devd_tdc_request(v->op->nested, &v->tdc, &req, TD_TIMEOUT_MS,
                                 vbd3_release_closed);
    if (rc)
        vbd3_release_end(egc, v);
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
        libxl__devd_tdc_request(v->op->nested, c, &req, TD_TIMEOUT_MS,
                                vbd3_release_listed))
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
        v->stopped = true;
        VLOG(DEBUG, v, "tapdisk stopped");
    }
    vbd3_release_end(egc, v);
}

/* Removes the device's socket unless a tapdisk still listens on it (one
 * that we could not reach, which td-ctl may still want). */
static void vbd3_unlink_socket(libxl__gc *gc, devd_vbd3 *v)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (!v->stopped) {
        strcpy(sa.sun_path, v->sock);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return;
        if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
            errno != ECONNREFUSED) {
            close(fd);
            return;
        }
        close(fd);
    }
    if (unlink(v->sock) && errno != ENOENT)
        LOGED(WARN, v->domid, "vbd3 %u: cannot remove %s", v->devid,
              v->sock);
}

static void vbd3_release_end(libxl__egc *egc, devd_vbd3 *v)
{
    libxl__devd_state *dds = v->dds;
    devd_op *op = v->op;
    uint32_t domid = v->domid, devid = v->devid;
    bool recreated = v->recreated;
    EGC_GC;

    /* Its socket goes with a tapdisk we stopped or that died (devd alone
     * makes sockets on that path, one device operation at a time). */
    if (v->stopped || !libxl__devd_tdc_connected(&v->tdc))
        vbd3_unlink_socket(gc, v);
    libxl__devd_tdc_close(gc, &v->tdc);
    if (v->rm_backend) {
        libxl__device ldev;
        libxl__devd_fill_ldev(dds, v->d, &ldev);
        libxl__device_destroy(gc, &ldev);
    }
    VLOG(INFO, v, "released");
    op->removed = true;         /* the device is freed with the operation */
    vbd3_op_end(egc, v);        /* frees v */
    if (recreated && !dds->aborting)
        libxl__devd_vbd3_evaluate(egc, gc, dds, domid, devid);
}

/*----- events -----*/

static void vbd3_tapdisk_lost(libxl__egc *egc, devd_tdc *c)
{
    devd_vbd3 *v = tdc_vbd3(c);
    EGC_GC;

    /* Between operations (a running one learns it from its reply). */
    v->open = false;
    if (v->rs == RS_FAILED || v->rs == RS_CLOSED) {
        VLOG(WARN, v, "its tapdisk has gone");
        return;
    }
    vbd3_failed(gc, v, "its tapdisk died");
}

static void vbd3_fe_watch_cb(libxl__egc *egc, libxl__ev_xswatch *w,
                             const char *wpath, const char *epath)
{
    devd_vbd3 *v = CONTAINER_OF(w, *v, fe_watch);
    EGC_GC;

    libxl__devd_vbd3_evaluate(egc, gc, v->dds, v->domid, v->devid);
}

/* The frontend's state, as a column of the table. */
static int vbd3_fe_column(libxl__gc *gc, devd_vbd3 *v)
{
    const char *s = NULL;
    bool escaped;
    int st;

    if (!v->fe)
        return RS_FE_ABSENT;
    if (libxl__devd_xs_read(gc, XBT_NULL, GCSPRINTF("%s/state", v->fe), &s,
                            &escaped) || !s)
        return RS_FE_ABSENT;
    if (libxl__devd_parse_state(s, &st)) {
        /* Logged by the failure it leads to (if it matters now). */
        if (!v->fail_why)
            v->fail_why = libxl__sprintf(NOGC, "frontend %s/state=\"%s\" is"
                                         " not a XenbusState", v->fe,
                                         escaped ? s
                                         : libxl__devd_show(gc, s));
        return RS_FE_INVALID;
    }
    return st;
}

void libxl__devd_vbd3_evaluate(libxl__egc *egc, libxl__gc *gc,
                               libxl__devd_state *dds, uint32_t domid,
                               uint32_t devid)
{
    devd_guest *g = libxl__devd_guest_find(&dds->table, domid);
    devd_device *d = libxl__devd_device_find(g, "vbd3", devid);
    const char *be = GCSPRINTF("%s/vbd3/%u/%u", dds->be_path, domid, devid);
    const char *gen = NULL;
    bool exists, values_ok;
    int state = -1, online = -1, col;
    devd_rs_action act;
    devd_vbd3 *v;

    if (dds->aborting)
        return;
    if (libxl__devd_read_values(gc, be, domid, &exists, &values_ok, &state,
                                &online)) {
        LOGD(ERROR, domid, "%s: cannot read its state, ignoring event", be);
        return;
    }
    if (exists && !values_ok)
        return;     /* junk (logged) or no online yet */
    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/" GEN_KEY, be), &gen);

    if (!d) {
        if (!exists || state == DEVD_XBS_CLOSED)
            return;     /* nothing to serve */
        v = vbd3_new(gc, dds, domid, devid, &g);
        if (!v)
            return;
        VLOG(INFO, v, "new vbd3 backend");
        vbd3_open(egc, gc, v, g);
        return;
    }
    v = d->ext;
    if (libxl__devd_rs_busy(v->rs) || d->busy) {
        d->dirty = true;
        return;
    }
    if (!exists) {
        vbd3_release(egc, gc, v, g, false, false);
        return;
    }
    if (!gen || strcmp(gen, v->gen)) {
        vbd3_release(egc, gc, v, g, false, true);
        return;
    }
    col = vbd3_fe_column(gc, v);
    act = libxl__devd_rs_next(v->rs, col);

    /*
     * The toolstack removing the device (online=0, and it writes Closing
     * over our state): once the ring is let go and we are Closed, release.
     * A frontend that is not using a ring (never connected, or gone) will
     * not close anything, so do not wait for it.
     */
    if (online == 0) {
        bool fe_busy = col == DEVD_XBS_INITIALISED ||
                       col == DEVD_XBS_CONNECTED || col == DEVD_XBS_CLOSING;
        if (v->rs == RS_CLOSED || v->rs == RS_FAILED) {
            if (state != DEVD_XBS_CLOSED) {
                v->be_state = state;    /* changed behind our back */
                vbd3_write_state(gc, v, DEVD_XBS_CLOSED);
            }
            vbd3_release(egc, gc, v, g, true, false);
            return;
        }
        if (!fe_busy && act == RS_ACT_NONE)
            act = RS_ACT_DISCONNECT;
    }

    VLOG(DEBUG, v, "backend %d online %d, frontend %d, ours %s -> %s", state,
         online, col, libxl__devd_rs_state_name(v->rs),
         libxl__devd_rs_action_name(act));
    if (act != RS_ACT_FAIL) {
        free(v->fail_why);
        v->fail_why = NULL;
    }

    switch (act) {
    case RS_ACT_NONE:
    case RS_ACT_DEFER:
        break;
    case RS_ACT_CONNECT:
        vbd3_connect(egc, gc, v, g);
        break;
    case RS_ACT_CLOSING:
        if (vbd3_write_state(gc, v, DEVD_XBS_CLOSING))
            VLOG_RL(ERROR, v, "cannot switch the backend to Closing");
        vbd3_set(v, RS_CLOSING);
        break;
    case RS_ACT_DISCONNECT:
        vbd3_disconnect(egc, gc, v, g);
        break;
    case RS_ACT_REINIT:
        if (!libxl__devd_tdc_connected(&v->tdc)) {
            vbd3_failed(gc, v, "frontend reconnects, tapdisk gone");
            break;
        }
        if (vbd3_write_state(gc, v, DEVD_XBS_INITWAIT)) {
            VLOG_RL(ERROR, v, "cannot switch the backend to InitWait");
            break;
        }
        VLOG_RL(INFO, v, "frontend starts again: InitWait");
        vbd3_set(v, RS_INITWAIT);
        break;
    case RS_ACT_FAIL:
        v->failing = true;
        if (!v->fail_why)
            v->fail_why = libxl__strdup(NOGC, "broken frontend");
        vbd3_disconnect(egc, gc, v, g);
        break;
    }
}
