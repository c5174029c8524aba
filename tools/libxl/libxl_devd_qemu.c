/*
 * The kind module for backends that QEMU serves (qdisk, 9pfs): one QEMU
 * per guest serves all of them and picks every new backend up by itself.
 * Its first device starts it, its last one going stops it; the QEMU and
 * its reference count are this module's data for the guest.  When to add
 * and remove is decided by the shared backend rules (libxl_devd_backend.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"
#include "libxl_devd_compat.h"

typedef enum {
    QEMU_NONE,          /* no QEMU backend for this guest */
    QEMU_SPAWNING,
    QEMU_RUNNING,
} qemu_run_state;

/* Per guest. */
typedef struct {
    qemu_run_state run;
    pid_t pid;          /* if known */
    int refs;           /* devices holding a reference */
} qemu_guest;

/* Per device (d->ext). */
typedef struct {
    bool ref;           /* holds a reference on its guest's QEMU */
} qemu_dev;

typedef struct {
    libxl__devd_pendings pend;      /* adoption's actions left */
} qemu_state;

typedef struct {
    devd_op op;
    libxl__dm_spawn_state dmss;
} qemu_op;

extern const libxl__devd_kind libxl__devd_kind_qemu;

static void qemu_spawned(libxl__egc *egc, libxl__dm_spawn_state *dmss,
                         int rc);

/*----- the guest's QEMU, and its references -----*/

static qemu_guest *qemu_of(libxl__devd_state *dds, devd_guest *g)
{
    return libxl__devd_guest_data(dds, g, &libxl__devd_kind_qemu,
                                  sizeof(qemu_guest));
}

/* What `xl devd --status` shows for the guest. */
static void qemu_show(devd_guest *g, const qemu_guest *q)
{
    static const char *const names[] = {
        [QEMU_NONE] = "none",
        [QEMU_SPAWNING] = "spawning",
        [QEMU_RUNNING] = "running",
    };

    if (q->run == QEMU_NONE)
        snprintf(g->detail, sizeof(g->detail), "qemu none");
    else
        snprintf(g->detail, sizeof(g->detail), "qemu %s pid %ld refs %d",
                 names[q->run], (long)q->pid, q->refs);
}

static void qemu_set(devd_guest *g, qemu_guest *q, qemu_run_state run,
                     pid_t pid)
{
    q->run = run;
    q->pid = pid;
    qemu_show(g, q);
}

/* Returns true if this is the guest's first reference. */
static bool qemu_ref(libxl__devd_state *dds, devd_guest *g, devd_device *d)
{
    qemu_dev *qd = d->ext;
    qemu_guest *q = qemu_of(dds, g);

    if (qd->ref)
        return false;
    qd->ref = true;
    q->refs++;
    qemu_show(g, q);
    return q->refs == 1;
}

/* Returns true if that was the guest's last reference. */
static bool qemu_unref(libxl__devd_state *dds, devd_guest *g, devd_device *d)
{
    qemu_dev *qd = d->ext;
    qemu_guest *q;

    if (!qd->ref)
        return false;
    q = qemu_of(dds, g);
    qd->ref = false;
    q->refs--;
    qemu_show(g, q);
    return q->refs == 0;
}

/* Is pid a QEMU serving domid?  Guards against pid reuse.  (Not
 * libxl_read_file_contents: it trusts st_size, which /proc says is 0.) */
static bool qemu_alive(libxl__gc *gc, pid_t pid, uint32_t domid)
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

static pid_t qemu_pid_at(libxl__gc *gc, uint32_t domid, const char *key)
{
    const char *s = NULL;
    uint32_t pid;

    if (libxl__xs_read_checked(gc, XBT_NULL,
                               GCSPRINTF("libxl/%u/%s", domid, key), &s) || !s)
        return 0;
    if (libxl__devd_parse_uint(s, INT_MAX, &pid))
        return 0;
    return (pid_t)pid;
}

static pid_t qemu_recorded_pid(libxl__gc *gc, uint32_t domid)
{
    pid_t pid = qemu_pid_at(gc, domid, LIBXL__DEVD_PV_QEMU_PID_KEY);

#ifdef LIBXL__DEVD_PV_QEMU_OLD_PID_KEY
    if (!pid)
        pid = qemu_pid_at(gc, domid, LIBXL__DEVD_PV_QEMU_OLD_PID_KEY);
#endif
    return pid;
}

static void qemu_stop(libxl__gc *gc, libxl__devd_state *dds, devd_guest *g)
{
    qemu_guest *q = qemu_of(dds, g);
    pid_t pid = q->pid ? q->pid : qemu_recorded_pid(gc, g->domid);

    if (pid && qemu_alive(gc, pid, g->domid)) {
        LOGD(INFO, g->domid, "last QEMU-served device gone: stopping QEMU"
             " backend pid %ld", (long)pid);
        if (kill(pid, SIGHUP))
            LOGED(ERROR, g->domid, "failed to signal QEMU pid %ld", (long)pid);
    } else {
        LOGD(INFO, g->domid, "QEMU backend already gone");
    }
    libxl__xs_rm_checked(gc, XBT_NULL, GCSPRINTF("libxl/%u/%s", g->domid,
                                                 LIBXL__DEVD_PV_QEMU_PID_KEY));
#ifdef LIBXL__DEVD_PV_QEMU_OLD_PID_KEY
    libxl__xs_rm_checked(gc, XBT_NULL, GCSPRINTF("libxl/%u/%s", g->domid,
                                                 LIBXL__DEVD_PV_QEMU_OLD_PID_KEY));
#endif
    libxl__xs_rm_checked(gc, XBT_NULL,
                         GCSPRINTF("device-model/%u", g->domid));
    qemu_set(g, q, QEMU_NONE, 0);
}

/* d's reference goes; the QEMU too if it was the last. */
static void qemu_release(libxl__gc *gc, libxl__devd_state *dds,
                         devd_guest *g, devd_device *d)
{
    if (qemu_unref(dds, g, d) && qemu_of(dds, g)->run != QEMU_NONE)
        qemu_stop(gc, dds, g);
}

static void qemu_spawn(libxl__egc *egc, libxl__devd_state *dds,
                       devd_guest *g, devd_device *d)
{
    qemu_op *op = CONTAINER_OF(libxl__devd_op_new(dds, g, d, sizeof(*op)),
                               *op, op);

    qemu_set(g, qemu_of(dds, g), QEMU_SPAWNING, 0);
    d->state = DEVD_DEV_ADDING;
    op->dmss.guest_domid = g->domid;
    op->dmss.spawn.ao = op->op.nested;
    op->dmss.callback = qemu_spawned;
    libxl__devd_op_what(&op->op, "attach");
    libxl__devd_op_ext_begin(&op->op, "qemu");
    libxl__devd_spawn_pv_qemu(egc, &op->dmss);
}

static void qemu_spawned(libxl__egc *egc, libxl__dm_spawn_state *dmss,
                         int rc)
{
    qemu_op *op = CONTAINER_OF(dmss, *op, dmss);
    libxl__devd_state *dds = op->op.dds;
    devd_guest *g = op->op.guest;
    devd_device *d;
    STATE_AO_GC(op->op.nested);

    libxl__devd_op_ext_end(&op->op);
    if (!rc) {
        qemu_set(g, qemu_of(dds, g), QEMU_RUNNING,
                 qemu_recorded_pid(gc, g->domid));
        LOGD(INFO, g->domid, "QEMU backend started, pid %ld",
             (long)qemu_of(dds, g)->pid);
        op->op.dev->state = DEVD_DEV_CONNECTED;
        libxl__devd_device_set_error(op->op.dev, NULL);
        goto out;
    }

    /* Every device waiting for this QEMU failed with it. */
    qemu_set(g, qemu_of(dds, g), QEMU_NONE, 0);
    SLIST_FOREACH(d, &g->devices, next) {
        if (!libxl__devd_served_by(d, &libxl__devd_kind_qemu) ||
            !((qemu_dev *)d->ext)->ref)
            continue;
        qemu_unref(dds, g, d);
        libxl__devd_fail(gc, dds, d,
                  rc == ERROR_ABORTED ? "aborted while starting QEMU"
                  : GCSPRINTF("QEMU backend failed to start (rc=%d)", rc),
                  rc != ERROR_ABORTED);
    }

out:
    libxl__devd_op_done(egc, &op->op);
}

/*----- the backend rules' hooks -----*/

static void qemu_add(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                     devd_guest *g, devd_device *d)
{
    qemu_guest *q = qemu_of(dds, g);

    qemu_ref(dds, g, d);
    if (q->run != QEMU_NONE) {
        /* The guest's QEMU picks every backend up by itself. */
        d->state = DEVD_DEV_CONNECTED;
        libxl__devd_device_set_error(d, NULL);
        DLOG(DEBUG, d, "served by the guest's QEMU (refs %d)", q->refs);
        return;
    }
    DLOG(INFO, d, "starting the guest's QEMU backend");
    qemu_spawn(egc, dds, g, d);
}

static void qemu_remove(libxl__egc *egc, libxl__gc *gc,
                        libxl__devd_state *dds, devd_guest *g,
                        devd_device *d)
{
    libxl__device ldev;

    DLOG(INFO, d, "removing (QEMU-served)");
    qemu_release(gc, dds, g, d);
    /* A qdisk's frontend is a vbd. */
    libxl__devd_fill_ldev(dds, d, d->libxl_kind == LIBXL__DEVICE_KIND_QDISK
                                  ? LIBXL__DEVICE_KIND_VBD : d->libxl_kind,
                          &ldev);
    libxl__device_destroy(gc, &ldev);
    libxl__devd_device_drop(gc, dds, g, d);
}

static void qemu_adopted_up(libxl__devd_state *dds, devd_guest *g,
                            devd_device *d)
{
    qemu_ref(dds, g, d);
}

static const libxl__devd_backend_ops qemu_ops = {
    .qemu = true,
    .add = qemu_add,
    .remove = qemu_remove,
    .forget = qemu_release,
    .adopted_up = qemu_adopted_up,
};

/*----- the module -----*/

static void qemu_changed(libxl__egc *egc, libxl__gc *gc,
                         libxl__devd_state *dds, const char *name,
                         uint32_t domid, uint32_t devid)
{
    libxl__devd_backend_changed(egc, gc, dds, &libxl__devd_kind_qemu,
                                &qemu_ops, name, domid, devid);
}

static void qemu_adopt(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                       const char *name, uint32_t domid, uint32_t devid)
{
    qemu_state *st = libxl__devd_kind_state(dds, &libxl__devd_kind_qemu);

    libxl__devd_backend_adopt(gc, dds, &libxl__devd_kind_qemu, &qemu_ops,
                              name, domid, devid, &st->pend);
}

/* A guest with live QEMU-served devices needs its QEMU: take over the one
 * that runs, or start it again. */
static void qemu_take_over(libxl__egc *egc, libxl__gc *gc,
                           libxl__devd_state *dds, devd_guest *g)
{
    qemu_guest *q = libxl__devd_guest_data(dds, g, &libxl__devd_kind_qemu, 0);
    devd_device *d;
    pid_t pid;

    if (!q || !q->refs)
        return;
    pid = qemu_recorded_pid(gc, g->domid);
    if (pid && qemu_alive(gc, pid, g->domid)) {
        qemu_set(g, q, QEMU_RUNNING, pid);
        LOGD(INFO, g->domid, "adopted running QEMU backend pid %ld"
             " (refs %d)", (long)pid, q->refs);
        return;
    }
    SLIST_FOREACH(d, &g->devices, next)
        if (libxl__devd_served_by(d, &libxl__devd_kind_qemu) &&
            ((qemu_dev *)d->ext)->ref && !d->busy)
            break;
    if (!d)
        return;
    LOGD(WARN, g->domid, "QEMU backend%s is not running: starting it"
         " again", pid ? GCSPRINTF(" pid %ld", (long)pid) : "");
    qemu_spawn(egc, dds, g, d);
}

static void qemu_adopted(libxl__egc *egc, libxl__devd_state *dds)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    qemu_state *st = libxl__devd_kind_state(dds, &libxl__devd_kind_qemu);
    devd_guest *g;

    SLIST_FOREACH(g, &dds->table.guests, next)
        qemu_take_over(egc, gc, dds, g);
    libxl__nested_ao_free(nested);
    libxl__devd_backend_adopt_finish(egc, dds, &qemu_ops, &st->pend);
}

/* devd stops, or the device is dropped: its reference goes (the QEMU
 * stays for the next devd, or was stopped by its removal). */
static void qemu_dispose(libxl__gc *gc, libxl__devd_state *dds,
                         devd_device *d)
{
    devd_guest *g = libxl__devd_guest_find(&dds->table, d->domid);

    if (g)
        qemu_unref(dds, g, d);
}

static const char *const qemu_names[] = { "qdisk", "9pfs", NULL };

const libxl__devd_kind libxl__devd_kind_qemu = {
    .what = "the guest's QEMU",
    .names = qemu_names,
    .device_size = sizeof(qemu_dev),
    .state_size = sizeof(qemu_state),
    .adopt = qemu_adopt,
    .adopted = qemu_adopted,
    .changed = qemu_changed,
    .dispose = qemu_dispose,
};
