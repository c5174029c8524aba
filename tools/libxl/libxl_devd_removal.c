/*
 * Script-served kinds (vbd, vif): removals.
 *
 * The toolstack gives the driver domain 10 s to remove a backend
 * directory, then deletes it itself, and a remove script that took longer
 * would find nothing to read.  The backend's keys (not those its driver
 * wrote for the frontend) are copied to a private directory, which the
 * script reads (XENBUS_PATH points at it), and the backend directory goes
 * when the script ends or after 5 s, whichever comes first.
 *
 * The script waits for one of the listener's slots, as an add does (a
 * mass shutdown ran a dozen at once on one CPU, and libxl killed some at
 * 40 s); the copy and the grace period do not wait.
 *
 * A remove script that was killed (libxl's 40 s, or a signal) may not have
 * released what the device held: it runs again from the copy after a
 * pause, DEVD_SCRIPT_ATTEMPTS times in all; a copy still there after the
 * last is left for the next devd, which runs it again at startup.  Before
 * a remove runs from a copy, the copy's loop device must still be bound to
 * its image and named by no other vbd of ours: one released by the run
 * that was cut short may serve another disk by now, which a second
 * `losetup -d` would take from it.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_script.h"

/* How long a removal leaves the backend directory to dom0, which must
 * read its state Closed before it goes, and waits 10 s
 * (LIBXL_DESTROY_TIMEOUT) for it to go after that. */
#define DEVD_REMOVE_GRACE_MS (LIBXL_DESTROY_TIMEOUT * 1000 / 2)

static void removal_ended(libxl__egc *egc, libxl__async_exec_state *aes,
                          int rc, int status);
static void removal_again(libxl__egc *egc, libxl__ev_time *ev,
                          const struct timeval *requested_abs, int rc);
static void removal_finish(libxl__egc *egc, devd_script_op *op,
                           bool keep_copy);

/*----- the private copy, and the backend directory -----*/

struct removal_copy_txn {
    const char *be, *copy;
};

/*
 * Keys a backend driver writes for its frontend (blkif's and netif's
 * features, the disk's geometry): what the backend offers, not what it was
 * set up with, and no script reads them.  Left out of the copy, which
 * costs two requests a key.
 */
static bool removal_protocol_key(const char *k)
{
    static const char *const prefixes[] = {
        "feature-", "multi-queue-", NULL,
    };
    static const char *const keys[] = {
        "sectors", "sector-size", "physical-sector-size", "info",
        "max-ring-page-order", "max-ring-pages", "discard-granularity",
        "discard-alignment", "discard-secure", NULL,
    };
    const char *const *p;

    for (p = prefixes; *p; p++)
        if (!strncmp(k, *p, strlen(*p)))
            return true;
    for (p = keys; *p; p++)
        if (!strcmp(k, *p))
            return true;
    return false;
}

static int removal_copy_txn(libxl__gc *gc, xs_transaction_t t, void *arg)
{
    const struct removal_copy_txn *c = arg;
    char **keys;
    const char *v;
    unsigned int n, i;
    int rc;

    keys = libxl__xs_directory(gc, t, c->be, &n);
    if (!keys)
        return ERROR_NOTFOUND;
    rc = libxl__xs_rm_checked(gc, t, c->copy);    /* a stale one */
    if (rc) return rc;
    for (i = 0; i < n; i++) {
        if (removal_protocol_key(keys[i]))
            continue;
        rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/%s", c->be,
                                                     keys[i]), &v);
        if (rc) return rc;
        if (!v)
            continue;           /* a directory: no script reads those */
        rc = libxl__xs_write_checked(gc, t, GCSPRINTF("%s/%s", c->copy,
                                                      keys[i]), v);
        if (rc) return rc;
    }
    return 0;
}

/* Copies the backend's keys to copy, in one transaction.  ERROR_NOTFOUND
 * if the backend is already gone. */
static int removal_copy(libxl__gc *gc, const char *be, const char *copy)
{
    struct removal_copy_txn c = { be, copy };

    return libxl__devd_xs_txn(gc, removal_copy_txn, &c);
}

/*
 * Removes the backend directory, once: when the script ends, or at the
 * grace deadline if it runs longer.  Not at once: dom0 first waits to read
 * state Closed (a state node that vanished first makes its detach fail
 * and leave the frontend behind), then up to 10 s for the directory to go.
 * Only the device's own directory: its parents belong to the toolstack
 * (we may not remove them).  Never a backend that is no longer this one
 * (Closed with online 0).
 */
static void removal_take_down(libxl__gc *gc, devd_script_op *op)
{
    const char *be = libxl__devd_dev_path(gc, op->op.dds, op->op.dev);
    bool exists, ok;
    int state, online;

    libxl__ev_time_deregister(gc, &op->backoff);
    if (op->taken_down)
        return;
    op->taken_down = true;
    if (libxl__devd_read_values(gc, be, op->op.dev->domid, &exists, &ok,
                                &state, &online) || !exists)
        return;
    if (ok && state == DEVD_XBS_CLOSED && online == 0)
        libxl__xs_rm_checked(gc, XBT_NULL, be);
}

static void removal_grace_done(libxl__egc *egc, libxl__ev_time *ev,
                               const struct timeval *requested_abs, int rc)
{
    devd_script_op *op = CONTAINER_OF(ev, *op, backoff);
    STATE_AO_GC(op->op.nested);

    /* (Aborted: the script is being killed; its end takes it down.) */
    if (rc != ERROR_ABORTED)
        removal_take_down(gc, op);
}

/*----- running the remove from the copy alone -----*/

/* The copy's name under DEVD_COPY_DIR: "<kind>-<domid>-<devid>". */
static const char *removal_name(libxl__gc *gc, const devd_device *d)
{
    return GCSPRINTF("%s-%u-%u", libxl__device_kind_to_string(d->libxl_kind),
                     d->domid, d->devid);
}

/*
 * The arguments and environment for the remove, from the copy alone (the
 * backend is gone): what libxl's hotplug helpers would give
 * (tools/libs/light/libxl_linux.c) for a vbd, or a vif of type vif.
 */
static int removal_prepare_from_copy(libxl__gc *gc, devd_script_op *op,
                                     const char *rel)
{
    devd_device *d = op->op.dev;
    const char *script = NULL, *vifname = NULL, *gw = NULL;
    bool vif = d->libxl_kind == LIBXL__DEVICE_KIND_VIF;
    char **args, **env;
    int n = 0;

    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/script", op->copy),
                           &script);
    if (!script || script[0] != '/')
        return 0;
    if (vif) {
        libxl__xs_read_checked(gc, XBT_NULL,
                               GCSPRINTF("%s/vifname", op->copy), &vifname);
        libxl__xs_read_checked(gc, XBT_NULL,
                               GCSPRINTF("%s/gatewaydev", op->copy), &gw);
    }
    GCNEW_ARRAY(args, 4);
    args[0] = (char *)script;
    args[1] = vif ? "offline" : "remove";
    args[2] = vif ? "type_if=vif" : NULL;
    args[3] = NULL;
    GCNEW_ARRAY(env, 13);
    env[n++] = "script";
    env[n++] = (char *)script;
    env[n++] = "XENBUS_TYPE";
    env[n++] = vif ? "vif" : "vbd";
    env[n++] = "XENBUS_PATH";
    env[n++] = (char *)rel;
    env[n++] = "XENBUS_BASE_PATH";
    env[n++] = "backend";
    if (vif) {
        env[n++] = "netdev";
        env[n++] = (char *)(gw ? gw : "");
        env[n++] = "vif";
        env[n++] = vifname ? (char *)vifname
                           : GCSPRINTF("vif%u.%u", d->domid, d->devid);
    }
    env[n] = NULL;
    libxl__devd_hotplug_exec_init(gc, op, args, env);
    return 1;
}

/* Whether backing (a loop device's backing_file) is file, or was: the
 * kernel adds " (deleted)" once the image is unlinked. */
static bool removal_same_file(const char *backing, const char *file)
{
    size_t n = strlen(file);

    return !strncmp(backing, file, n) &&
           (!backing[n] || !strcmp(backing + n, " (deleted)"));
}

/* Why the remove of a vbd must not run from its copy, or NULL: the loop
 * device the copy names was released (by the run that was cut short), or
 * is bound to another image, or another vbd of ours names it. */
static const char *removal_loop_moved(libxl__gc *gc, devd_script_op *op)
{
    const char *node = NULL, *params = NULL, *back;
    char *file;
    bool same;

    if (op->op.dev->libxl_kind != LIBXL__DEVICE_KIND_VBD)
        return NULL;
    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/node", op->copy),
                           &node);
    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/params", op->copy),
                           &params);
    if (!node || strncmp(node, "/dev/loop", 9) || !params)
        return NULL;            /* no loop device: the script's business */
    back = libxl__devd_loop_backing(gc, node);
    if (!back)
        return GCSPRINTF("%s is released already",
                         libxl__devd_show(gc, node));
    file = realpath(params, NULL);
    same = removal_same_file(back, file ? file : params);
    free(file);
    if (!same)
        return GCSPRINTF("%s is bound to %s now", libxl__devd_show(gc, node),
                         libxl__devd_show(gc, back));
    if (libxl__devd_loop_claimed(gc, op->op.dds, op->op.dev,
                                 removal_name(gc, op->op.dev), node))
        return GCSPRINTF("%s is another vbd's now",
                         libxl__devd_show(gc, node));
    return NULL;
}

/* Runs the script prepared in op->aes (the operation holds a slot), and
 * counts the run; removal_ended goes on either way. */
static void removal_run(libxl__egc *egc, devd_script_op *op)
{
    STATE_AO_GC(op->op.nested);
    int rc = libxl__devd_hotplug_start(gc, op, removal_ended);

    op->remove_attempts++;
    if (!rc)
        return;
    DLOG(ERROR, op->op.dev, "cannot start its hotplug remove (rc=%d)", rc);
    removal_ended(egc, &op->aes, 0, 0);
}

/* The first run, prepared from the backend, once a slot is ours. */
static void removal_slot_got(libxl__egc *egc, devd_op *base, int rc)
{
    devd_script_op *op = CONTAINER_OF(base, *op, op);

    if (rc)
        removal_ended(egc, &op->aes, rc, 0);
    else
        removal_run(egc, op);
}

/* A run from the copy (op->copy), once a slot is ours: unless its loop
 * device has moved on meanwhile; removal_ended goes on either way. */
static void removal_copy_slot_got(libxl__egc *egc, devd_op *base, int rc)
{
    devd_script_op *op = CONTAINER_OF(base, *op, op);
    devd_device *d = op->op.dev;
    STATE_AO_GC(op->op.nested);
    const char *rel = GCSPRINTF(DEVD_COPY_DIR "/%s", removal_name(gc, d));
    const char *why;

    if (rc)
        goto ended;
    why = removal_loop_moved(gc, op);
    if (why) {
        DLOG(INFO, d, "its hotplug remove does not run: %s", why);
        goto ended;
    }
    if (removal_prepare_from_copy(gc, op, rel) != 1) {
        DLOG(ERROR, d, "no hotplug script to run for the removal (rc=%d)",
             ERROR_NOTFOUND);
        goto ended;
    }
    removal_run(egc, op);
    return;
ended:
    removal_ended(egc, &op->aes, rc, 0);
}

/* Runs the remove from the copy when a slot is free. */
static void removal_from_copy(libxl__egc *egc, devd_script_op *op)
{
    libxl__devd_op_slot_wait(egc, &op->op, removal_copy_slot_got);
}

/*----- remove -----*/

void libxl__devd_hotplug_remove(libxl__egc *egc, devd_script_op *op)
{
    devd_device *d = op->op.dev;
    STATE_AO_GC(op->op.nested);
    const char *be = libxl__devd_dev_path(gc, op->op.dds, d);
    const char *rel = GCSPRINTF(DEVD_COPY_DIR "/%s", removal_name(gc, d));
    int rc, script;

    op->copy = GCSPRINTF("/local/domain/%u/%s", op->op.dds->self_domid, rel);
    if (libxl__devd_script_dev(d)->leftover) {
        DLOG(INFO, d, "finishing a removal that a previous devd left: running"
             " its hotplug remove over %s", rel);
        removal_from_copy(egc, op);
        return;
    }
    DLOG(INFO, d, "tearing the backend down");
    script = libxl__devd_hotplug_prepare(gc, op, LIBXL__DEVICE_ACTION_REMOVE,
                                         rel);
    rc = removal_copy(gc, be, op->copy);
    if (rc == ERROR_NOTFOUND) {
        DLOG(WARN, d, "backend directory removed under us: its hotplug"
             " remove could not run");
        goto ended;
    }
    if (rc) {
        libxl__devd_fail(gc, op->op.dds, d, GCSPRINTF("cannot take the backend"
                         " directory down (rc=%d)", rc), false);
        libxl__devd_op_done(egc, &op->op);
        return;
    }
    if (script <= 0) {
        if (script < 0)
            DLOG(ERROR, d, "no hotplug script to run for the removal"
                 " (rc=%d)", script);
        goto ended;
    }
    if (libxl__ev_time_register_rel(op->op.nested, &op->backoff,
                                    removal_grace_done, DEVD_REMOVE_GRACE_MS))
        removal_take_down(gc, op);
    libxl__devd_op_slot_wait(egc, &op->op, removal_slot_got);
    return;
ended:
    removal_ended(egc, &op->aes, 0, 0);
}

/* A script killed (by libxl's timeout, or a signal) may have stopped
 * anywhere; one that exited did what it could. */
static bool removal_killed(int rc, int status)
{
    return rc == ERROR_TIMEDOUT || (!rc && WIFSIGNALED(status));
}

static void removal_ended(libxl__egc *egc, libxl__async_exec_state *aes,
                          int rc, int status)
{
    devd_script_op *op = CONTAINER_OF(aes, *op, aes);
    devd_device *d = op->op.dev;
    const char *how;
    STATE_AO_GC(op->op.nested);

    libxl__devd_op_ext_end(&op->op);
    if (!libxl__devd_script_dev(d)->leftover)
        removal_take_down(gc, op);
    how = libxl__devd_hotplug_outcome(gc, rc, status);
    if (!how) {
        DLOG(INFO, d, "backend removed");
    } else if (rc == ERROR_ABORTED) {
        DLOG(INFO, d, "devd stops: its hotplug remove is left to the next"
             " devd, which runs it from the copy");
    } else if (!removal_killed(rc, status)) {
        DLOG(ERROR, d, "hotplug remove %s", how);
    } else if (op->remove_attempts < DEVD_SCRIPT_ATTEMPTS) {
        int ms = libxl__devd_script_backoff_ms(op->remove_attempts);

        DLOG(WARN, d, "hotplug remove attempt %u of %d %s: running it again"
             " from its copy in %d s", op->remove_attempts,
             DEVD_SCRIPT_ATTEMPTS, how, ms / 1000);
        /* (A pause: the slot serves others meanwhile.) */
        libxl__devd_op_slot_release(egc, &op->op);
        rc = libxl__ev_time_register_rel(op->op.nested, &op->backoff,
                                         removal_again, ms);
        if (rc)
            removal_again(egc, &op->backoff, NULL, rc);
        return;
    } else {
        DLOG(ERROR, d, "hotplug remove %s, %u times: its copy %s is left"
             " for the next devd to run again", how, op->remove_attempts,
             op->copy);
        removal_finish(egc, op, true);
        return;
    }
    /* A script cut short by devd stopping leaves the copy: the next devd
     * runs it again. */
    removal_finish(egc, op, rc == ERROR_ABORTED);
}

static void removal_again(libxl__egc *egc, libxl__ev_time *ev,
                          const struct timeval *requested_abs, int rc)
{
    devd_script_op *op = CONTAINER_OF(ev, *op, backoff);
    STATE_AO_GC(op->op.nested);

    libxl__ev_time_deregister(gc, &op->backoff);
    if (rc == ERROR_ABORTED) {
        removal_finish(egc, op, true);
        return;
    }
    removal_from_copy(egc, op);
}

/* The backend directory is gone whatever the script did; the copy goes
 * too unless keep_copy.  (Only the copy: its parents stay, since we could
 * not make libxl/ again under our home, which the toolstack owns.) */
static void removal_finish(libxl__egc *egc, devd_script_op *op,
                           bool keep_copy)
{
    STATE_AO_GC(op->op.nested);

    if (op->copy && !keep_copy)
        libxl__xs_rm_checked(gc, XBT_NULL, op->copy);
    op->op.removed = true;
    libxl__devd_op_done(egc, &op->op);
}

/*----- startup: removals a previous devd did not finish -----*/

/* "<kind>-<domid>-<devid>" of a vbd or vif; false for anything else. */
static bool removal_parse_copy(libxl__gc *gc, const char *name, int *kind,
                               uint32_t *domid, uint32_t *devid)
{
    const char *a = strchr(name, '-'), *b = a ? strchr(a + 1, '-') : NULL;

    if (!b)
        return false;
    if (a - name == 3 && !strncmp(name, "vbd", 3))
        *kind = LIBXL__DEVICE_KIND_VBD;
    else if (a - name == 3 && !strncmp(name, "vif", 3))
        *kind = LIBXL__DEVICE_KIND_VIF;
    else
        return false;
    return !libxl__devd_parse_uint(GCSPRINTF("%.*s", (int)(b - a - 1), a + 1),
                                   DEVD_DOMID_MAX, domid) &&
           !libxl__devd_parse_uint(b + 1, DEVD_DEVID_MAX, devid);
}

/*
 * A copy still under DEVD_COPY_DIR is a removal whose script did not run
 * to its end (devd, or the script, was killed): its hotplug remove runs
 * now, from the copy, as a device of kind "<kind>-removal" (no backend has
 * such a kind, so it cannot meet a live device).
 */
void libxl__devd_hotplug_adopt_leftovers(libxl__egc *egc,
                                         libxl__devd_state *dds)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    const char *dir = GCSPRINTF("/local/domain/%u/" DEVD_COPY_DIR,
                                dds->self_domid);
    unsigned int n = 0, i;
    char **names = libxl__xs_directory(gc, XBT_NULL, dir, &n);
    uint32_t domid, devid;
    devd_guest *g;
    devd_device *d;
    int kind;

    for (i = 0; names && i < n; i++) {
        if (!removal_parse_copy(gc, names[i], &kind, &domid, &devid)) {
            LOG(WARN, "removing %s/%s: not a copy of ours", dir, names[i]);
            libxl__xs_rm_checked(gc, XBT_NULL,
                                 GCSPRINTF("%s/%s", dir, names[i]));
            continue;
        }
        d = libxl__devd_device_new(gc, dds, &libxl__devd_kind_script,
                    GCSPRINTF("%s-removal",
                              libxl__device_kind_to_string(kind)),
                    domid, devid, DEVD_DEV_REMOVING, &g);
        if (!d)
            continue;
        d->libxl_kind = kind;
        libxl__devd_script_dev(d)->leftover = true;
        libxl__devd_script_remove_leftover(egc, dds, g, d);
    }
    libxl__nested_ao_free(nested);
}
