/*
 * The driver-domain listener: libxl_device_events_handler.
 *
 * One long-running ao watches /local/domain/<self>/backend.  Every watch
 * event gets a nested ao for its own memory, freed before the callback
 * returns; every device operation that has to wait (hotplug script, QEMU
 * spawn, backend teardown) gets a nested ao of its own, freed when the
 * operation ends.  At most one operation runs per device; events that come
 * meanwhile mark the device dirty and it is looked at again afterwards.
 *
 * The rules that decide what an event means are in devd_policy.c, the
 * tables in devd_table.c, the path and value parsers in devd_parse.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"

/*
 * At most one hotplug-script add per online CPU of the driver domain runs
 * at once (at most DEVD_SCRIPT_SLOTS_MAX); further adds wait in a FIFO.
 * libxl gives each script 40 s, and the scripts are CPU-bound (forks and
 * execs, dear in a PV domain): two on one CPU each take twice as long, and
 * under load both lost the race where one after the other would not, and
 * they starved the kernel thread that brings new backends to InitWait,
 * which dom0 waits 10 s for.  Queued here, their clock starts when they
 * can run.  Removals never wait: the toolstack gives us only 10 s before
 * it deletes the backend directory itself.
 */
#define DEVD_SCRIPT_SLOTS_MAX 4

static void devd_evaluate(libxl__egc *egc, libxl__gc *gc,
                          libxl__devd_state *dds, const char *kind,
                          uint32_t domid, uint32_t devid);
static void devd_add(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                     devd_guest *g, devd_device *d);
static void devd_remove(libxl__egc *egc, libxl__gc *gc,
                        libxl__devd_state *dds, devd_guest *g,
                        devd_device *d);
static void devd_forget(libxl__gc *gc, libxl__devd_state *dds,
                        devd_guest *g, devd_device *d);
static void devd_qemu_spawned(libxl__egc *egc, libxl__dm_spawn_state *dmss,
                              int rc);
static void devd_script_op(libxl__egc *egc, libxl__devd_state *dds,
                           devd_guest *g, devd_device *d, devd_action act);
static void devd_watch_cb(libxl__egc *egc, libxl__ev_xswatch *watch,
                          const char *watch_path, const char *event_path);
static void devd_abort_cb(libxl__egc *egc, libxl__ao_abortable *abrt,
                          int rc);
static void devd_finish(libxl__egc *egc, libxl__devd_state *dds, int rc);

/*----- small helpers -----*/

static bool qemu_kind(int k)
{
    return k == LIBXL__DEVICE_KIND_QDISK || k == LIBXL__DEVICE_KIND_9PFS;
}

static bool served_kind(int k)
{
    return k == LIBXL__DEVICE_KIND_VBD || k == LIBXL__DEVICE_KIND_VIF ||
           qemu_kind(k);
}

const char *libxl__devd_be_path(libxl__gc *gc, libxl__devd_state *dds,
                                const devd_device *d)
{
    return GCSPRINTF("%s/%s/%u/%u", dds->be_path, d->kind, d->domid,
                     d->devid);
}

void libxl__devd_fill_ldev(libxl__devd_state *dds, const devd_device *d,
                           libxl__device *ldev)
{
    ldev->backend_devid = d->devid;
    ldev->backend_domid = dds->self_domid;
    ldev->devid = d->devid;
    ldev->domid = d->domid;
    ldev->backend_kind = d->libxl_kind;
    /* A qdisk's frontend is a vbd. */
    ldev->kind = d->libxl_kind == LIBXL__DEVICE_KIND_QDISK ||
                 d->libxl_kind == LIBXL__DEVICE_KIND_VBD3
                 ? LIBXL__DEVICE_KIND_VBD : d->libxl_kind;
}

/*
 * Reads path like libxl__xs_read_checked, but checks the value over its
 * whole length.  One with a NUL byte inside ("13\0junk", which C would
 * take as "13") comes back escaped and bounded like libxl__devd_show
 * ("13\x00junk", *escaped_r set if not NULL): it then holds a backslash,
 * which none of our parsers takes.
 */
int libxl__devd_xs_read(libxl__gc *gc, xs_transaction_t t, const char *path,
                        const char **out, bool *escaped_r)
{
    unsigned int len;
    char *v = xs_read(CTX->xsh, t, path, &len);

    *out = NULL;
    if (escaped_r)
        *escaped_r = false;
    if (!v) {
        if (errno == ENOENT)
            return 0;
        LOGE(ERROR, "xenstore read failed: `%s'", path);
        return ERROR_FAIL;
    }
    libxl__ptr_add(gc, v);
    if (libxl__devd_value_whole(v, len)) {
        *out = v;
        return 0;
    }
    *out = libxl__devd_escape(libxl__zalloc(gc, DEVD_SHOW_LEN), DEVD_SHOW_LEN,
                              v, len);
    if (escaped_r)
        *escaped_r = true;
    return 0;
}

/*
 * Runs body in a XenStore transaction, again as long as the commit meets
 * a conflict.  body returns 0 to commit, DEVD_TXN_NOTHING to end without
 * writing (0 is returned), or an error, returned after the abort.
 */
int libxl__devd_xs_txn(libxl__gc *gc, libxl__devd_txn_body *body, void *arg)
{
    xs_transaction_t t = XBT_NULL;
    int rc;

    for (;;) {
        rc = libxl__xs_transaction_start(gc, &t);
        if (rc) goto out;
        rc = body(gc, t, arg);
        if (rc) goto out;
        rc = libxl__xs_transaction_commit(gc, &t);
        if (rc <= 0) goto out;
    }
out:
    libxl__xs_transaction_abort(gc, &t);
    return rc == DEVD_TXN_NOTHING ? 0 : rc;
}

/* Untrusted text (a value a guest wrote) for a log line or a message:
 * escaped and bounded. */
const char *libxl__devd_show(libxl__gc *gc, const char *s)
{
    if (!s)
        return "(missing)";
    return libxl__devd_escape(libxl__zalloc(gc, DEVD_SHOW_LEN), DEVD_SHOW_LEN,
                              s, strlen(s));
}

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

static void devd_publish_error(libxl__gc *gc, libxl__devd_state *dds,
                               const devd_device *d, const char *msg)
{
    struct devd_error_txn e = { libxl__devd_be_path(gc, dds, d), msg };

    libxl__devd_xs_txn(gc, devd_publish_error_txn, &e);
}

void libxl__devd_fail(libxl__gc *gc, libxl__devd_state *dds, devd_device *d,
                      const char *why, bool publish)
{
    int state = -1, online = -1;
    bool exists, values_ok;

    d->state = DEVD_DEV_FAILED;
    libxl__devd_device_set_error(d, why);
    /* Remember what the backend looked like, so that only a real change
     * of state or online retries. */
    if (libxl__devd_read_values(gc, libxl__devd_be_path(gc, dds, d), d->domid, &exists,
                         &values_ok, &state, &online) || !values_ok)
        state = online = -1;
    d->failed_state = state;
    d->failed_online = online;
    DLOG(ERROR, d, "backend failed: %s (retried on its next state or online"
         " change)", why);
    if (publish)
        devd_publish_error(gc, dds, d, why);
}

devd_op *libxl__devd_op_new(libxl__devd_state *dds, devd_guest *g,
                            devd_device *d)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    devd_op *op = libxl__zalloc(&nested->gc, sizeof(*op));

    op->dds = dds;
    op->nested = nested;
    op->guest = g;
    op->dev = d;
    libxl__devd_fill_ldev(dds, d, &op->ldev);
    d->busy = true;
    dds->ops_inflight++;
    return op;
}

void libxl__devd_drop_guest_if_empty(libxl__gc *gc, libxl__devd_state *dds,
                                     devd_guest *g)
{
    uint32_t domid = g->domid;

    if (!libxl__devd_guest_drop_if_empty(&dds->table, g))
        return;
    LOGD(DEBUG, domid, "no device left, guest dropped");
    /* Clear what libxl keeps for this guest here (QEMU pid ...). */
    libxl__xs_rm_checked(gc, XBT_NULL, GCSPRINTF("libxl/%u", domid));
}

/* Frees a device and what its serving module keeps for it. */
static void devd_device_free(libxl__gc *gc, libxl__devd_state *dds,
                             devd_guest *g, devd_device *d)
{
    libxl__devd_vbd3_dispose(gc, d);
    libxl__devd_device_free(&dds->table, g, d);
}

/*----- the guest's QEMU (qdisk, 9pfs) -----*/

/* Is pid a QEMU serving domid?  Guards against pid reuse.  (Not
 * libxl_read_file_contents: it trusts st_size, which /proc says is 0.) */
static bool devd_qemu_alive(libxl__gc *gc, pid_t pid, uint32_t domid)
{
    char buf[4096];
    size_t len = 0;
    ssize_t r;
    int fd;

    if (pid <= 1 || kill(pid, 0))
        return false;
    fd = open(GCSPRINTF("/proc/%d/cmdline", pid), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    while (len < sizeof(buf) &&
           (r = read(fd, buf + len, sizeof(buf) - len)) > 0)
        len += (size_t)r;
    close(fd);
    return libxl__devd_cmdline_serves_domid(buf, len, domid);
}

static pid_t devd_qemu_recorded_pid(libxl__gc *gc, uint32_t domid)
{
    const char *s = NULL;
    uint32_t pid;

    if (libxl__xs_read_checked(gc, XBT_NULL,
                               GCSPRINTF("libxl/%u/qdisk-backend-pid", domid),
                               &s) || !s)
        return 0;
    if (libxl__devd_parse_uint(s, INT_MAX, &pid))
        return 0;
    return (pid_t)pid;
}

static void devd_qemu_stop(libxl__gc *gc, devd_guest *g)
{
    pid_t pid = g->qemu_pid ? g->qemu_pid
                            : devd_qemu_recorded_pid(gc, g->domid);

    if (pid && devd_qemu_alive(gc, pid, g->domid)) {
        LOGD(INFO, g->domid, "last QEMU-served device gone: stopping QEMU"
             " backend pid %ld", (long)pid);
        if (kill(pid, SIGHUP))
            LOGED(ERROR, g->domid, "failed to signal QEMU pid %ld", (long)pid);
    } else {
        LOGD(INFO, g->domid, "QEMU backend already gone");
    }
    libxl__xs_rm_checked(gc, XBT_NULL,
                         GCSPRINTF("libxl/%u/qdisk-backend-pid", g->domid));
    libxl__xs_rm_checked(gc, XBT_NULL,
                         GCSPRINTF("device-model/%u", g->domid));
    g->qemu = DEVD_QEMU_NONE;
    g->qemu_pid = 0;
}

static void devd_qemu_spawn(libxl__egc *egc, libxl__devd_state *dds,
                            devd_guest *g, devd_device *d)
{
    devd_op *op = libxl__devd_op_new(dds, g, d);

    g->qemu = DEVD_QEMU_SPAWNING;
    d->state = DEVD_DEV_ADDING;
    op->dmss.guest_domid = g->domid;
    op->dmss.spawn.ao = op->nested;
    op->dmss.callback = devd_qemu_spawned;
    libxl__spawn_qdisk_backend(egc, &op->dmss);
}

static void devd_qemu_spawned(libxl__egc *egc, libxl__dm_spawn_state *dmss,
                              int rc)
{
    devd_op *op = CONTAINER_OF(dmss, *op, dmss);
    libxl__devd_state *dds = op->dds;
    devd_guest *g = op->guest;
    devd_device *d;
    STATE_AO_GC(op->nested);

    if (!rc) {
        g->qemu = DEVD_QEMU_RUNNING;
        g->qemu_pid = devd_qemu_recorded_pid(gc, g->domid);
        LOGD(INFO, g->domid, "QEMU backend started, pid %ld",
             (long)g->qemu_pid);
        op->dev->state = DEVD_DEV_CONNECTED;
        libxl__devd_device_set_error(op->dev, NULL);
        goto out;
    }

    /* Every device waiting for this QEMU failed with it. */
    g->qemu = DEVD_QEMU_NONE;
    g->qemu_pid = 0;
    SLIST_FOREACH(d, &g->devices, next) {
        if (!d->qemu_ref)
            continue;
        libxl__devd_qemu_unref(g, d);
        libxl__devd_fail(gc, dds, d,
                  rc == ERROR_ABORTED ? "aborted while starting QEMU"
                  : GCSPRINTF("QEMU backend failed to start (rc=%d)", rc),
                  rc != ERROR_ABORTED);
    }

out:
    libxl__devd_op_done(egc, op);
}

/*----- add -----*/

static void devd_add(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                     devd_guest *g, devd_device *d)
{
    if (qemu_kind(d->libxl_kind)) {
        libxl__devd_qemu_ref(g, d);
        if (g->qemu != DEVD_QEMU_NONE) {
            /* The guest's QEMU picks every backend up by itself. */
            d->state = DEVD_DEV_CONNECTED;
            libxl__devd_device_set_error(d, NULL);
            DLOG(DEBUG, d, "served by the guest's QEMU (refs %d)",
                 g->qemu_refs);
            return;
        }
        DLOG(INFO, d, "starting the guest's QEMU backend");
        devd_qemu_spawn(egc, dds, g, d);
        return;
    }

    d->state = DEVD_DEV_ADDING;
    d->add_attempts = 0;
    d->retry_add = false;
    devd_script_op(egc, dds, g, d, DEVD_ACT_ADD);
}

/*----- remove and forget -----*/

static void devd_remove(libxl__egc *egc, libxl__gc *gc,
                        libxl__devd_state *dds, devd_guest *g,
                        devd_device *d)
{
    if (qemu_kind(d->libxl_kind)) {
        libxl__device ldev;

        DLOG(INFO, d, "removing (QEMU-served)");
        if (libxl__devd_qemu_unref(g, d) && g->qemu != DEVD_QEMU_NONE)
            devd_qemu_stop(gc, g);
        libxl__devd_fill_ldev(dds, d, &ldev);
        libxl__device_destroy(gc, &ldev);
        devd_device_free(gc, dds, g, d);
        libxl__devd_drop_guest_if_empty(gc, dds, g);
        return;
    }

    d->state = DEVD_DEV_REMOVING;
    devd_script_op(egc, dds, g, d, DEVD_ACT_REMOVE);
}

/* Runs the hotplug remove of a removal a previous devd left unfinished. */
void libxl__devd_remove_leftover(libxl__egc *egc, libxl__devd_state *dds,
                                 devd_guest *g, devd_device *d)
{
    d->state = DEVD_DEV_REMOVING;
    devd_script_op(egc, dds, g, d, DEVD_ACT_REMOVE);
}

/*----- hotplug-script operations, at most script_slots at once -----*/

static void devd_script_start(libxl__egc *egc, libxl__devd_state *dds,
                              devd_guest *g, devd_device *d, devd_action act)
{
    devd_op *op = libxl__devd_op_new(dds, g, d);

    op->script = true;
    dds->script_ops++;
    if (act == DEVD_ACT_REMOVE)
        libxl__devd_hotplug_remove(egc, op);
    else
        libxl__devd_hotplug_add(egc, op);
}

static void devd_script_op(libxl__egc *egc, libxl__devd_state *dds,
                           devd_guest *g, devd_device *d, devd_action act)
{
    EGC_GC;

    if (act == DEVD_ACT_REMOVE || dds->script_ops < dds->script_slots) {
        devd_script_start(egc, dds, g, d, act);
        return;
    }
    /* Busy while queued: events meanwhile mark it dirty, and it is never
     * freed before its turn comes. */
    d->busy = true;
    libxl__devd_queue_push(&dds->table, d, act);
    DLOG(DEBUG, d, "queued for a hotplug-script slot (%u waiting)",
         dds->table.nqueued);
}

/* A slot was freed: start the oldest queued operation. */
static void devd_script_next(libxl__egc *egc, libxl__devd_state *dds)
{
    EGC_GC;
    devd_device *d;
    devd_action act;

    while (dds->script_ops < dds->script_slots &&
           (d = libxl__devd_queue_pop(&dds->table, &act))) {
        devd_guest *g = libxl__devd_guest_find(&dds->table, d->domid);
        devd_observation o = { .tracked = true, .dev_state = d->state,
                               .last_state = -1 };

        /* Removed while it waited (the event rules say so): tear it down
         * instead of bringing it up and waiting for an InitWait that will
         * not come. */
        if (act == DEVD_ACT_ADD && d->dirty &&
            !libxl__devd_read_values(gc, libxl__devd_be_path(gc, dds, d), d->domid,
                              &o.exists, &o.values_ok, &o.state,
                              &o.online) &&
            libxl__devd_classify(&o) == DEVD_ACT_REMOVE) {
            act = DEVD_ACT_REMOVE;
            d->state = DEVD_DEV_REMOVING;
        }
        /* Still dirty: looked at again when this operation ends. */
        d->busy = false;    /* devd_op_new takes it again */
        devd_script_start(egc, dds, g, d, act);
    }
}

/* An operation that still runs gives its slot back (a retry's pause). */
void libxl__devd_script_slot_release(libxl__egc *egc, devd_op *op)
{
    if (!op->script)
        return;
    op->script = false;
    op->dds->script_ops--;
    devd_script_next(egc, op->dds);
}

static void devd_forget(libxl__gc *gc, libxl__devd_state *dds,
                        devd_guest *g, devd_device *d)
{
    if (d->state == DEVD_DEV_CONNECTED && !qemu_kind(d->libxl_kind))
        DLOG(WARN, d, "backend directory removed under us: its hotplug"
             " remove could not run");
    else
        DLOG(DEBUG, d, "backend directory gone, forgetting it");
    if (libxl__devd_qemu_unref(g, d) && g->qemu != DEVD_QEMU_NONE)
        devd_qemu_stop(gc, g);
    devd_device_free(gc, dds, g, d);
    libxl__devd_drop_guest_if_empty(gc, dds, g);
}

/*----- end of an operation -----*/

/* The next attempt of an add whose script was killed, unless the events
 * looked at meanwhile took the device elsewhere (removed, forgotten). */
static void devd_retry_add(libxl__egc *egc, libxl__devd_state *dds,
                           const char *kind, uint32_t domid, uint32_t devid)
{
    devd_guest *g = libxl__devd_guest_find(&dds->table, domid);
    devd_device *d = libxl__devd_device_find(g, kind, devid);

    if (!d || d->busy || d->state != DEVD_DEV_ADDING)
        return;
    devd_script_op(egc, dds, g, d, DEVD_ACT_ADD);
}

void libxl__devd_op_done(libxl__egc *egc, devd_op *op)
{
    libxl__devd_state *dds = op->dds;
    devd_guest *g = op->guest;
    devd_device *d = op->dev;
    bool removed = op->removed;
    bool dirty = d->dirty;
    bool script = op->script;
    bool retry = d->retry_add;
    char kind[DEVD_KIND_LEN];
    uint32_t domid = d->domid, devid = d->devid;

    memcpy(kind, d->kind, sizeof(kind));
    d->busy = false;
    d->dirty = false;
    d->retry_add = false;

    {
        STATE_AO_GC(op->nested);
        if (removed) {
            devd_device_free(gc, dds, g, d);
            libxl__devd_drop_guest_if_empty(gc, dds, g);
        }
    }
    libxl__nested_ao_free(op->nested);    /* frees op */
    dds->ops_inflight--;
    if (script)
        dds->script_ops--;

    if (dds->aborting) {
        if (!dds->ops_inflight)
            devd_finish(egc, dds, ERROR_ABORTED);
        return;
    }

    if (dirty) {
        /* Something changed while we were busy: look again.  After a
         * removal, at a backend that may be new (the old directory went
         * before the remove script ran, and dom0 may have attached the
         * same device again meanwhile). */
        libxl__ao *nested = libxl__nested_ao_create(dds->ao);
        STATE_AO_GC(nested);
        devd_evaluate(egc, gc, dds, kind, domid, devid);
        libxl__nested_ao_free(nested);
    }
    if (retry && !removed)
        devd_retry_add(egc, dds, kind, domid, devid);
    if (script)
        devd_script_next(egc, dds);
}

/*----- events -----*/

/* Reads and strictly parses a backend's state or online node.  *present
 * is false if it is not there; *ok is true if it is and parses (junk is
 * logged: it is left alone until it changes). */
static int devd_read_value(libxl__gc *gc, const char *be, uint32_t domid,
                           const char *key, bool *present, bool *ok, int *val)
{
    const char *v = NULL;
    bool is_state = !strcmp(key, "state"), escaped;
    int rc;

    *present = *ok = false;
    rc = libxl__devd_xs_read(gc, XBT_NULL, GCSPRINTF("%s/%s", be, key), &v,
                             &escaped);
    if (rc) return rc;
    if (!v) {
        if (!is_state)
            LOGD(DEBUG, domid, "%s: no %s node yet", be, key);
        return 0;
    }
    *present = true;
    if (is_state ? libxl__devd_parse_state(v, val)
                 : libxl__devd_parse_online(v, val)) {
        LOGD(ERROR, domid, "%s: %s=\"%s\" %s, ignoring this backend until it"
             " changes", be, key, escaped ? v : libxl__devd_show(gc, v),
             is_state ? "is not a XenbusState" : "is neither 0 nor 1");
        return 0;
    }
    *ok = true;
    return 0;
}

/* Reads and strictly parses a backend's state and online. */
int libxl__devd_read_values(libxl__gc *gc, const char *be, uint32_t domid,
                            bool *exists, bool *values_ok,
                            int *state, int *online)
{
    bool state_ok, present;
    int rc;

    *values_ok = false;
    rc = devd_read_value(gc, be, domid, "state", exists, &state_ok, state);
    if (rc || !*exists || !state_ok) return rc;
    rc = devd_read_value(gc, be, domid, "online", &present, values_ok, online);
    return rc;
}

/* Said once per device, when it is first tracked. */
static void devd_log_unsupported(libxl__gc *gc, const devd_device *d)
{
    DLOG(INFO, d, "not a kind devd serves, ignoring it");
}

/* The libxl kind of a backend kind name, or -1 if devd does not serve it. */
static int devd_kind(const char *kind)
{
    libxl__device_kind k;

    if (libxl__device_kind_from_string(kind, &k) || !served_kind(k))
        return -1;
    return k;
}

static bool devd_hotplug_connected(libxl__gc *gc, const char *be)
{
    const char *hs = NULL;

    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/hotplug-status", be),
                           &hs);
    return hs && !strcmp(hs, "connected");
}

static void devd_evaluate(libxl__egc *egc, libxl__gc *gc,
                          libxl__devd_state *dds, const char *kind,
                          uint32_t domid, uint32_t devid)
{
    const char *be;
    devd_observation o = { 0 };
    devd_guest *g = libxl__devd_guest_find(&dds->table, domid);
    devd_device *d = libxl__devd_device_find(g, kind, devid);
    devd_action act;
    int k;

    /* vbd3 backends are served in-process by the ring server. */
    if (!strcmp(kind, "vbd3")) {
        libxl__devd_vbd3_evaluate(egc, gc, dds, domid, devid);
        return;
    }
    be = GCSPRINTF("%s/%s/%u/%u", dds->be_path, kind, domid, devid);
    if (libxl__devd_read_values(gc, be, domid, &o.exists, &o.values_ok,
                         &o.state, &o.online)) {
        LOGD(ERROR, domid, "%s: cannot read its state, ignoring event", be);
        return;
    }
    o.tracked = d != NULL;
    if (d) {
        o.dev_state = d->state;
        o.busy = d->busy;
        o.failed_state = d->failed_state;
        o.failed_online = d->failed_online;
        o.last_state = d->last_state;
        o.qemu_kind = qemu_kind(d->libxl_kind);
        if (o.exists && o.values_ok)
            d->last_state = o.state;
    }
    act = libxl__devd_classify(&o);
    LOGD(DEBUG, domid, "%s %u: state %d online %d tracked %s -> %s", kind,
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
        devd_forget(gc, dds, g, d);
        return;
    case DEVD_ACT_REMOVE:
        devd_remove(egc, gc, dds, g, d);
        return;
    case DEVD_ACT_RETRY:
        DLOG(INFO, d, "retrying after: %s",
             d->last_error ? d->last_error : "failure");
        devd_add(egc, gc, dds, g, d);
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
        devd_add(egc, gc, dds, g, d);
        return;
    case DEVD_ACT_ADD:
        break;
    }

    /* A device we did not know. */
    g = libxl__devd_guest_get(&dds->table, domid);
    k = devd_kind(kind);
    d = g ? libxl__devd_device_add(&dds->table, g, kind, k, devid,
                                   k < 0 ? DEVD_DEV_UNSUPPORTED
                                         : DEVD_DEV_ADDING) : NULL;
    if (!d) {
        LOGD(ERROR, domid, "%s %u: out of memory, not tracked", kind, devid);
        if (g) libxl__devd_drop_guest_if_empty(gc, dds, g);
        return;
    }
    d->last_state = o.state;
    if (k < 0) {
        devd_log_unsupported(gc, d);
        return;
    }
    devd_add(egc, gc, dds, g, d);
}

/* A directory's children; none if it cannot be listed. */
static char **devd_list(libxl__gc *gc, const char *path, unsigned int *n)
{
    char **l = libxl__xs_directory(gc, XBT_NULL, path, n);

    if (!l)
        *n = 0;
    return l;
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
        ls->names[j] = devd_list(gc, dir, &ls->n[j]);
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

static void devd_watch_cb(libxl__egc *egc, libxl__ev_xswatch *watch,
                          const char *watch_path, const char *event_path)
{
    libxl__devd_state *dds = CONTAINER_OF(watch, *dds, watch);
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    devd_path p;

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
        devd_evaluate(egc, gc, dds, p.kind, p.domid, p.devid);
        break;
    case DEVD_PATH_BACKEND:
    case DEVD_PATH_KIND:
    case DEVD_PATH_GUEST:
        devd_evaluate_prefix(egc, dds, &p);
        break;
    }
out:
    libxl__nested_ao_free(nested);
}

/*----- startup adoption -----*/

/* An action left to take on an adopted device, by its key: an earlier
 * one may free devices and guests. */
typedef struct {
    char kind[DEVD_KIND_LEN];
    uint32_t domid, devid;
    devd_action act;
} devd_pending;

/* Tracks one existing backend; returns the action still to take.  Reads
 * only the keys that decide it: a Connected backend costs one read. */
static devd_action devd_adopt_one(libxl__gc *gc, libxl__devd_state *dds,
                                  const char *kind, uint32_t domid,
                                  uint32_t devid)
{
    const char *be = GCSPRINTF("%s/%s/%u/%u", dds->be_path, kind, domid,
                               devid);
    bool exists, values_ok, present, track, hs_connected = false;
    int state = -1, online = -1, k = devd_kind(kind);
    devd_dev_state initial = DEVD_DEV_ADDING;
    devd_action act;
    devd_guest *g;
    devd_device *d;

    if (devd_read_value(gc, be, domid, "state", &exists, &values_ok, &state)
        || !exists)
        return DEVD_ACT_IGNORE;
    if (values_ok && libxl__devd_adopt_needs_online(state) &&
        devd_read_value(gc, be, domid, "online", &present, &values_ok,
                        &online))
        return DEVD_ACT_IGNORE;
    if (values_ok && k >= 0 &&
        libxl__devd_adopt_needs_hotplug(state, online, qemu_kind(k)))
        hs_connected = devd_hotplug_connected(gc, be);
    if (k < 0) {
        initial = DEVD_DEV_UNSUPPORTED;
        act = DEVD_ACT_IGNORE;
        track = values_ok && !(state == DEVD_XBS_CLOSED);
    } else {
        act = libxl__devd_adopt(values_ok, state, online,
                                hs_connected, qemu_kind(k),
                                &initial, &track);
    }
    if (!track)
        return DEVD_ACT_IGNORE;

    g = libxl__devd_guest_get(&dds->table, domid);
    d = g ? libxl__devd_device_add(&dds->table, g, kind, k, devid, initial)
          : NULL;
    if (!d) {
        LOGD(ERROR, domid, "%s %u: out of memory, not adopted", kind, devid);
        return DEVD_ACT_IGNORE;
    }
    d->last_state = state;
    if (k < 0) {
        devd_log_unsupported(gc, d);
    } else {
        DLOG(INFO, d, "adopted in backend state %d%s as %s%s", state,
             online < 0 ? "" : GCSPRINTF(" online %d", online),
             libxl__devd_dev_state_name(initial),
             act == DEVD_ACT_IGNORE ? ""
             : GCSPRINTF(", then %s", libxl__devd_action_name(act)));
        if (qemu_kind(k) && initial == DEVD_DEV_CONNECTED)
            libxl__devd_qemu_ref(g, d);
    }
    return act;
}

/* A list of actions left to take, kept out of any gc: it lives across
 * the guests' nested aos. */
typedef struct {
    devd_pending *v;
    unsigned int n, cap;
} devd_pendings;

/*
 * One guest's backends of one kind (<be>/<kind>/<domid>).  Each guest
 * gets its own nested ao, so its reads and log strings are freed as soon
 * as it is done: in one gc, the thousands of allocations of a large
 * adoption would stay for devd's lifetime and make every new one slower
 * (libxl's gc looks for a free slot from the start of its array).
 */
static void devd_adopt_guest(libxl__egc *egc, libxl__devd_state *dds,
                             const char *kind, const char *dom,
                             devd_pendings *pend)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    const char *dp = GCSPRINTF("%s/%s/%s", dds->be_path, kind, dom);
    unsigned int nv, l;
    uint32_t domid, devid;
    char **devs;

    if (libxl__devd_parse_uint(dom, DEVD_DOMID_MAX, &domid)) {
        LOG(WARN, "skipping malformed domid \"%s\" under %s/%s", dom,
            dds->be_path, kind);
        goto out;
    }
    devs = devd_list(gc, dp, &nv);
    for (l = 0; l < nv; l++) {
        devd_action act;

        if (libxl__devd_parse_uint(devs[l], DEVD_DEVID_MAX, &devid)) {
            LOGD(WARN, domid, "skipping malformed devid \"%s\" under %s",
                 devs[l], dp);
            continue;
        }
        if (!strcmp(kind, "vbd3")) {
            libxl__devd_vbd3_adopt(egc, gc, dds, domid, devid);
            continue;
        }
        act = devd_adopt_one(gc, dds, kind, domid, devid);
        if (act == DEVD_ACT_IGNORE)
            continue;
        if (pend->n == pend->cap) {
            pend->cap = pend->cap ? pend->cap * 2 : 16;
            pend->v = libxl__realloc(NOGC, pend->v,
                                     pend->cap * sizeof(*pend->v));
        }
        pend->v[pend->n] = (devd_pending){ .domid = domid, .devid = devid,
                                           .act = act };
        snprintf(pend->v[pend->n].kind, DEVD_KIND_LEN, "%s", kind);
        pend->n++;
    }
out:
    libxl__nested_ao_free(nested);
}

/* Finishes one thing the previous devd left half done, in its own nested
 * ao for the same reason.  An earlier removal may have freed a guest, so
 * the device is looked up by its key. */
static void devd_adopt_finish(libxl__egc *egc, libxl__devd_state *dds,
                              const devd_pending *p)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    devd_guest *g = libxl__devd_guest_find(&dds->table, p->domid);
    devd_device *d = libxl__devd_device_find(g, p->kind, p->devid);

    if (!d || d->busy)
        goto out;
    if (p->act == DEVD_ACT_ADD)
        devd_add(egc, gc, dds, g, d);
    else if (p->act == DEVD_ACT_REMOVE)
        devd_remove(egc, gc, dds, g, d);
out:
    libxl__nested_ao_free(nested);
}

static void devd_adopt_all(libxl__egc *egc, libxl__devd_state *dds)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    unsigned int nk, nd, i, j;
    char **kinds, **doms;
    devd_pendings pend = { NULL, 0, 0 };
    devd_guest *g;
    devd_device *d;

    kinds = devd_list(gc, dds->be_path, &nk);
    for (i = 0; i < nk; i++) {
        const char *kp = GCSPRINTF("%s/%s", dds->be_path, kinds[i]);
        devd_path p;

        if (libxl__devd_parse_path(dds->be_path, kp, &p) != DEVD_PATH_KIND) {
            LOG(WARN, "skipping malformed backend kind \"%s\"", kinds[i]);
            continue;
        }
        doms = devd_list(gc, kp, &nd);
        for (j = 0; j < nd; j++)
            devd_adopt_guest(egc, dds, p.kind, doms[j], &pend);
    }

    /* Every guest with live QEMU-served devices needs its QEMU: take over
     * the one that runs, or start it again. */
    SLIST_FOREACH(g, &dds->table.guests, next) {
        pid_t pid;

        if (!g->qemu_refs)
            continue;
        pid = devd_qemu_recorded_pid(gc, g->domid);
        if (pid && devd_qemu_alive(gc, pid, g->domid)) {
            g->qemu = DEVD_QEMU_RUNNING;
            g->qemu_pid = pid;
            LOGD(INFO, g->domid, "adopted running QEMU backend pid %ld"
                 " (refs %d)", (long)pid, g->qemu_refs);
            continue;
        }
        SLIST_FOREACH(d, &g->devices, next) {
            if (d->qemu_ref && !d->busy)
                break;
        }
        if (!d)
            continue;
        LOGD(WARN, g->domid, "QEMU backend%s is not running: starting it"
             " again", pid ? GCSPRINTF(" pid %ld", (long)pid) : "");
        devd_qemu_spawn(egc, dds, g, d);
    }

    for (i = 0; i < pend.n; i++)
        devd_adopt_finish(egc, dds, &pend.v[i]);
    free(pend.v);
    libxl__devd_hotplug_adopt_leftovers(egc, dds);
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
     * end; the last one to end completes us. */
    if (!dds->ops_inflight)
        devd_finish(egc, dds, ERROR_ABORTED);
}

/* What serving modules keep per device (watches, sockets); their
 * backends and tapdisks stay up for the next devd to adopt. */
static void devd_dispose_all(libxl__gc *gc, libxl__devd_state *dds)
{
    devd_guest *g;
    devd_device *d;

    SLIST_FOREACH(g, &dds->table.guests, next)
        SLIST_FOREACH(d, &g->devices, next)
            libxl__devd_vbd3_dispose(gc, d);
}

static void devd_finish(libxl__egc *egc, libxl__devd_state *dds, int rc)
{
    STATE_AO_GC(dds->ao);

    assert(!dds->ops_inflight);
    libxl__ev_xswatch_deregister(gc, &dds->watch);
    libxl__ao_abortable_deregister(&dds->abrt);
    libxl__devd_registry_remove(dds);
    devd_dispose_all(gc, dds);
    libxl__devd_table_dispose(&dds->table);
    libxl__ao_complete(egc, ao, rc);
}

/*----- entry point -----*/

/*
 * The max-ring-page-order offered to vbd3 frontends: 0..3 (the tapdisk
 * protocol carries 8 grant refs at most), default 3.  Set by the driver
 * domain's administrator through the environment (xl devd
 * --max-ring-page-order), never by a guest.
 */
static int devd_script_slots(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > DEVD_SCRIPT_SLOTS_MAX ? DEVD_SCRIPT_SLOTS_MAX : n;
}

static uint32_t devd_vbd3_max_order(libxl__gc *gc)
{
    const char *s = getenv("XL_DEVD_MAX_RING_PAGE_ORDER");
    uint32_t v;

    if (!s)
        return DEVD_BLKIF_DEFAULT_MAX_ORDER;
    if (libxl__devd_parse_uint(s, DEVD_BLKIF_ORDER_LIMIT, &v)) {
        LOG(WARN, "XL_DEVD_MAX_RING_PAGE_ORDER=\"%s\" is not 0..%d, using %d",
            s, DEVD_BLKIF_ORDER_LIMIT, DEVD_BLKIF_DEFAULT_MAX_ORDER);
        return DEVD_BLKIF_DEFAULT_MAX_ORDER;
    }
    return v;
}

int libxl_device_events_handler(libxl_ctx *ctx,
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

    rc = libxl__get_domid(gc, &dds->self_domid);
    if (rc) {
        LOG(ERROR, "unable to get my domain id");
        goto out;
    }

    /*
     * Xen 4.17's libxl always runs hotplug scripts itself (udev-driven
     * hotplug is gone), so unlike the 2013 RFC nothing has to be written
     * to libxl/disable_udev for scripts to run in a driver domain.
     */

    /* Absolute, so that event paths come back absolute and parseable. */
    dds->be_path = GCSPRINTF("/local/domain/%u/backend", dds->self_domid);
    dds->vbd3_max_order = devd_vbd3_max_order(gc);
    dds->script_slots = devd_script_slots();

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
        " once)", dds->be_path, dds->script_slots);
    devd_adopt_all(egc, dds);

    return AO_INPROGRESS;

out:
    libxl__ev_xswatch_deregister(gc, &dds->watch);
    libxl__ao_abortable_deregister(&dds->abrt);
    devd_dispose_all(gc, dds);
    libxl__devd_table_dispose(&dds->table);
    return AO_CREATE_FAIL(rc);
}
