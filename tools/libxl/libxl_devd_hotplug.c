/*
 * Script-served kinds (vbd, vif): running their hotplug scripts, and the
 * add of a backend by its script.
 *
 * libxl waits for the backend's InitWait and runs the script, which it
 * kills after 40 s.  On a slow or busy driver domain a script can lose
 * that race half-way through.  What it had set up (a loop device, a bridge
 * port) is released by running its remove, and the add is tried again
 * after a pause, DEVD_SCRIPT_ATTEMPTS times in all, while the backend still
 * waits for it and the frontend is still there.  The last killed attempt
 * is undone too before the failure is published.  An add killed after its
 * work was done (physical-device written) is kept instead.  Removals are
 * in libxl_devd_removal.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include <glob.h>

#include "libxl_devd_script.h"

static void hotplug_added(libxl__egc *egc, libxl__ao_device *aodev);
static void hotplug_undo_exited(libxl__egc *egc,
                                libxl__async_exec_state *aes, int rc,
                                int status);
static void hotplug_undone(libxl__egc *egc, devd_script_op *op, bool ran, int rc);
static void hotplug_backoff_done(libxl__egc *egc, libxl__ev_time *ev,
                                 const struct timeval *requested_abs,
                                 int rc);

/*----- running a script ourselves -----*/

void libxl__devd_hotplug_exec_init(libxl__gc *gc, devd_script_op *op,
                                   char **args, char **env)
{
    libxl__async_exec_init(&op->aes);
    op->aes.ao = op->op.nested;
    op->aes.what = GCSPRINTF("%s %s", args[0], args[1]);
    op->aes.args = args;
    op->aes.env = env;
    op->aes.timeout_ms = LIBXL_HOTPLUG_TIMEOUT * 1000;
}

int libxl__devd_hotplug_prepare(libxl__gc *gc, devd_script_op *op,
                                libxl__device_action action,
                                const char *xenbus_path)
{
    char **args = NULL, **env = NULL;
    int rc, i;

    rc = libxl__get_hotplug_script_info(gc, &op->ldev, &args, &env, action,
                                        0);
    if (rc <= 0)
        return rc;
    for (i = 0; xenbus_path && env && env[i]; i += 2)
        if (!strcmp(env[i], "XENBUS_PATH"))
            env[i + 1] = (char *)xenbus_path;
    libxl__devd_hotplug_exec_init(gc, op, args, env);
    return 1;
}

int libxl__devd_hotplug_start(libxl__gc *gc, devd_script_op *op,
                              libxl__async_exec_callback *cb)
{
    int rc, nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (nullfd < 0) {
        LOGED(ERROR, op->op.dev->domid, "cannot open /dev/null for a script");
        return ERROR_FAIL;
    }
    op->aes.callback = cb;
    op->aes.stdfds[0] = nullfd;
    op->aes.stdfds[1] = 2;
    op->aes.stdfds[2] = -1;
    rc = libxl__async_exec_start(&op->aes);
    close(nullfd);
    if (!rc)
        libxl__devd_op_ext_begin(&op->op, "script");
    return rc;
}

const char *libxl__devd_hotplug_outcome(libxl__gc *gc, int rc, int status)
{
    if (rc == ERROR_TIMEDOUT)
        return GCSPRINTF("killed after %d s", LIBXL_HOTPLUG_TIMEOUT);
    if (rc)
        return GCSPRINTF("not run to its end (rc=%d)", rc);
    if (WIFSIGNALED(status))
        return GCSPRINTF("killed by signal %d", WTERMSIG(status));
    if (WIFEXITED(status) && WEXITSTATUS(status))
        return GCSPRINTF("exited with status %d", WEXITSTATUS(status));
    return NULL;
}

/*----- add, and its retries -----*/

void libxl__devd_hotplug_add(libxl__egc *egc, devd_script_op *op)
{
    devd_device *d = op->op.dev;
    STATE_AO_GC(op->op.nested);

    libxl__devd_script_dev(d)->add_attempts++;
    if (libxl__devd_script_dev(d)->add_attempts == 1)
        DLOG(INFO, d, "bringing the backend up");
    else
        DLOG(INFO, d, "bringing the backend up, attempt %u of %d",
             libxl__devd_script_dev(d)->add_attempts, DEVD_SCRIPT_ATTEMPTS);
    libxl__prepare_ao_device(op->op.nested, &op->aodev);
    op->aodev.dev = &op->ldev;
    op->aodev.action = LIBXL__DEVICE_ACTION_ADD;
    op->aodev.callback = hotplug_added;
    /* (libxl's own wait for InitWait is counted with the script.) */
    libxl__devd_op_ext_begin(&op->op, "script");
    libxl__wait_device_connection(egc, &op->aodev);
}

/* A script that was killed, or died without saying why (a script that
 * fails on purpose writes hotplug-error), may succeed next time. */
static bool hotplug_retryable(int rc, const char *herr)
{
    return rc == ERROR_TIMEDOUT || (rc == ERROR_FAIL && !herr);
}

/*----- loop devices, as the block script uses them -----*/

/* The first line of a small sysfs file, in buf; false if unreadable. */
static bool hotplug_read_line(const char *path, char *buf, size_t sz)
{
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return false;
    r = read(fd, buf, sz - 1);
    close(fd);
    if (r <= 0)
        return false;
    buf[r] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return true;
}

const char *libxl__devd_loop_backing(libxl__gc *gc, const char *dev)
{
    const char *n = dev;
    char back[PATH_MAX + 1];

    if (strncmp(n, "/dev/loop", 9))
        return NULL;
    n += 9;
    if (!*n || strspn(n, "0123456789") != strlen(n) || strlen(n) > 6)
        return NULL;
    if (!hotplug_read_line(GCSPRINTF("/sys/block/loop%s/loop/backing_file",
                                     n), back, sizeof(back)))
        return NULL;
    return libxl__strdup(gc, back);
}

bool libxl__devd_loop_claimed(libxl__gc *gc, libxl__devd_state *dds,
                              const devd_device *self, const char *own_copy,
                              const char *dev)
{
    const char *copies = GCSPRINTF("/local/domain/%u/" DEVD_COPY_DIR,
                                   dds->self_domid);
    const char *node;
    unsigned int n = 0, i;
    char **names = libxl__xs_directory(gc, XBT_NULL, copies, &n);
    devd_guest *g;
    devd_device *o;

    for (i = 0; names && i < n; i++) {
        if (own_copy && !strcmp(names[i], own_copy))
            continue;
        node = NULL;
        libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/%s/node", copies,
                                                       names[i]), &node);
        if (node && !strcmp(node, dev))
            return true;
    }
    SLIST_FOREACH(g, &dds->table.guests, next)
        SLIST_FOREACH(o, &g->devices, next) {
            if (o == self || strcmp(o->kind, "vbd"))
                continue;
            node = NULL;
            libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/node",
                                   libxl__devd_dev_path(gc, dds, o)), &node);
            if (node && !strcmp(node, dev))
                return true;
        }
    return false;
}

/*
 * A killed block add may have bound a loop device to the image and not
 * yet written `node`, the key its remove reads.  Find that loop device
 * (backed by the image, named by no other vbd of ours) and write it
 * there.  (The block script's own knowledge: a file-backed vbd is served
 * through a loop device, named in `node`.)
 */
static void hotplug_find_lost_loop(libxl__gc *gc, devd_script_op *op, const char *be)
{
    const char *params = NULL, *node = NULL, *found = NULL, *back;
    char *file;
    glob_t gl;
    size_t i;

    if (op->op.dev->libxl_kind != LIBXL__DEVICE_KIND_VBD ||
        libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/node", be), &node)
        || node ||
        libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/params", be),
                               &params) || !params)
        return;
    file = realpath(params, NULL);
    if (!file)
        return;                 /* not a file: no loop device */
    if (!glob("/sys/block/loop*/loop/backing_file", 0, NULL, &gl)) {
        for (i = 0; i < gl.gl_pathc && !found; i++) {
            /* /sys/block/<name>/loop/backing_file */
            const char *name = gl.gl_pathv[i] + strlen("/sys/block/");
            const char *dev = GCSPRINTF("/dev/%.*s",
                                        (int)strcspn(name, "/"), name);

            back = libxl__devd_loop_backing(gc, dev);
            if (back && !strcmp(back, file) &&
                !libxl__devd_loop_claimed(gc, op->op.dds, op->op.dev, NULL,
                                          dev))
                found = dev;
        }
        globfree(&gl);
    }
    free(file);
    if (!found)
        return;
    DLOG(INFO, op->op.dev, "the killed add left %s bound to %s: releasing it",
         found, params);
    if (libxl__xs_printf(gc, XBT_NULL, GCSPRINTF("%s/node", be), "%s", found))
        DLOG(ERROR, op->op.dev, "cannot write node: %s stays bound", found);
}

/*
 * Whether a killed add had done its work: physical-device is the block
 * script's last output before hotplug-status, and blkback may be using
 * it already.  Such an add is finished, not undone: the hotplug-status
 * the script did not get to write is written, in the same transaction
 * that finds the backend still there (never recreating it).
 */
static int hotplug_finish_txn(libxl__gc *gc, xs_transaction_t t, void *arg)
{
    const char *be = arg, *state, *phys, *status;
    int rc;

    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/state", be), &state);
    if (rc) return rc;
    if (!state) return ERROR_NOTFOUND;
    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/physical-device", be),
                                &phys);
    if (rc) return rc;
    if (!phys) return ERROR_NOTFOUND;
    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/hotplug-status", be),
                                &status);
    if (rc || status) return rc;
    return libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-status", be),
                            "connected");
}

static bool hotplug_add_finished(libxl__gc *gc, devd_script_op *op)
{
    return !libxl__devd_xs_txn(gc, hotplug_finish_txn,
                               (void *)libxl__devd_dev_path(gc, op->op.dds, op->op.dev));
}

/* Runs the script's remove over what a killed add set up: 0 if it runs
 * (hotplug_undo_exited goes on). */
static int hotplug_undo(libxl__gc *gc, devd_script_op *op)
{
    const char *be = libxl__devd_dev_path(gc, op->op.dds, op->op.dev);
    int rc;

    hotplug_find_lost_loop(gc, op, be);
    rc = libxl__devd_hotplug_prepare(gc, op, LIBXL__DEVICE_ACTION_REMOVE, NULL);
    if (rc <= 0)
        return rc ? rc : ERROR_NOTFOUND;
    return libxl__devd_hotplug_start(gc, op, hotplug_undo_exited);
}

/* Why the add failed, for good: the script's own word, or libxl's rc. */
static const char *hotplug_add_failure(libxl__gc *gc, const devd_device *d,
                                       int rc, const char *herr)
{
    if (herr)
        return GCSPRINTF("hotplug script failed: %s",
                         libxl__devd_show(gc, herr));
    if (libxl__devd_script_dev(d)->add_attempts > 1)
        return GCSPRINTF("adding the backend failed %u times (last rc=%d)",
                         libxl__devd_script_dev(d)->add_attempts, rc);
    return GCSPRINTF("adding the backend failed (rc=%d)", rc);
}

/* The add's work stands: the device is up. */
static void hotplug_up(devd_device *d)
{
    d->state = DEVD_DEV_CONNECTED;
    libxl__devd_script_dev(d)->add_attempts = 0;
    libxl__devd_device_set_error(d, NULL);
}

static void hotplug_added(libxl__egc *egc, libxl__ao_device *aodev)
{
    devd_script_op *op = CONTAINER_OF(aodev, *op, aodev);
    devd_device *d = op->op.dev;
    const char *herr = NULL;
    STATE_AO_GC(op->op.nested);

    libxl__devd_op_ext_end(&op->op);
    if (!aodev->rc) {
        hotplug_up(d);
        DLOG(INFO, d, "backend connected");
        goto done;
    }
    if (aodev->rc == ERROR_ABORTED) {
        libxl__devd_fail(gc, op->op.dds, d, "aborted while adding", false);
        goto done;
    }
    libxl__xs_read_checked(gc, XBT_NULL,
            GCSPRINTF("%s/hotplug-error",
                      libxl__devd_dev_path(gc, op->op.dds, d)), &herr);
    if (!hotplug_retryable(aodev->rc, herr)) {
        libxl__devd_fail(gc, op->op.dds, d,
                         hotplug_add_failure(gc, d, aodev->rc, herr), true);
        libxl__devd_script_dev(d)->add_attempts = 0;
        goto done;
    }
    if (hotplug_add_finished(gc, op)) {
        hotplug_up(d);
        DLOG(WARN, d, "hotplug add failed (rc=%d) after it wrote"
             " physical-device: its work is done, the backend is kept",
             aodev->rc);
        goto done;
    }
    /* Killed: what it set up is released, the last attempt's too. */
    op->add_rc = aodev->rc;
    if (libxl__devd_script_dev(d)->add_attempts < DEVD_SCRIPT_ATTEMPTS)
        DLOG(WARN, d, "hotplug add attempt %u of %d failed (rc=%d):"
             " releasing what it set up, then trying again in %d s",
             libxl__devd_script_dev(d)->add_attempts, DEVD_SCRIPT_ATTEMPTS, aodev->rc,
             libxl__devd_script_backoff_ms(libxl__devd_script_dev(d)->add_attempts) / 1000);
    if (hotplug_undo(gc, op))
        hotplug_undone(egc, op, false, 0);  /* nothing to run */
    return;
done:
    libxl__devd_op_done(egc, &op->op);
}

static void hotplug_undo_exited(libxl__egc *egc,
                                libxl__async_exec_state *aes, int rc,
                                int status)
{
    devd_script_op *op = CONTAINER_OF(aes, *op, aes);
    const char *how;
    STATE_AO_GC(op->op.nested);

    libxl__devd_op_ext_end(&op->op);
    how = libxl__devd_hotplug_outcome(gc, rc, status);
    if (how)
        DLOG(WARN, op->op.dev, "hotplug remove after the failed add: %s", how);
    hotplug_undone(egc, op, true, rc);
}

/* The keys an add writes, gone in one transaction (never recreating a
 * backend that has gone). */
static int hotplug_forget_txn(libxl__gc *gc, xs_transaction_t t, void *arg)
{
    static const char *const keys[] = {
        "node", "hotplug-status", "hotplug-error",
    };
    const char *be = arg;
    unsigned int i;
    int rc;

    for (i = 0; i < ARRAY_SIZE(keys); i++) {
        rc = libxl__xs_rm_checked(gc, t, GCSPRINTF("%s/%s", be, keys[i]));
        if (rc) return rc;
    }
    return 0;
}

/* The killed add's leftovers are released (ran) or there were none: the
 * keys it wrote go, so that the next add starts afresh, and the script
 * slot is given back for the pause. */
static void hotplug_undone(libxl__egc *egc, devd_script_op *op, bool ran, int rc)
{
    devd_device *d = op->op.dev;
    const char *be;
    STATE_AO_GC(op->op.nested);

    if (rc == ERROR_ABORTED) {
        libxl__devd_fail(gc, op->op.dds, d, "aborted while adding", false);
        libxl__devd_op_done(egc, &op->op);
        return;
    }
    if (ran) {
        be = libxl__devd_dev_path(gc, op->op.dds, d);
        if (libxl__devd_xs_txn(gc, hotplug_forget_txn, (void *)be))
            DLOG(ERROR, d, "cannot remove the keys of the failed add");
    }
    if (libxl__devd_script_dev(d)->add_attempts >= DEVD_SCRIPT_ATTEMPTS) {
        libxl__devd_fail(gc, op->op.dds, d,
                         hotplug_add_failure(gc, d, op->add_rc, NULL), true);
        libxl__devd_script_dev(d)->add_attempts = 0;
        libxl__devd_op_done(egc, &op->op);
        return;
    }
    libxl__devd_op_slot_release(egc, &op->op);
    rc = libxl__ev_time_register_rel(op->op.nested, &op->backoff,
                                     hotplug_backoff_done,
                                     libxl__devd_script_backoff_ms(libxl__devd_script_dev(d)->add_attempts));
    if (rc)
        hotplug_backoff_done(egc, &op->backoff, NULL, rc);
}

/* Whether the backend still waits for its script and the frontend is
 * still there; why not otherwise. */
static const char *hotplug_still_wanted(libxl__gc *gc, devd_script_op *op)
{
    const char *be = libxl__devd_dev_path(gc, op->op.dds, op->op.dev);
    const char *fe = NULL, *fst = NULL;
    bool exists, ok;
    int state, online;

    if (libxl__devd_read_values(gc, be, op->op.dev->domid, &exists, &ok,
                                &state, &online) || !exists || !ok)
        return "its backend is gone or unreadable";
    if ((state != DEVD_XBS_INITIALISING && state != DEVD_XBS_INITWAIT) ||
        online != 1)
        return GCSPRINTF("its backend moved on (state %d, online %d)",
                         state, online);
    libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/frontend", be), &fe);
    if (fe)
        libxl__xs_read_checked(gc, XBT_NULL, GCSPRINTF("%s/state", fe),
                               &fst);
    if (!fst)
        return "its frontend is gone";
    return NULL;
}

static void hotplug_backoff_done(libxl__egc *egc, libxl__ev_time *ev,
                                 const struct timeval *requested_abs,
                                 int rc)
{
    devd_script_op *op = CONTAINER_OF(ev, *op, backoff);
    devd_device *d = op->op.dev;
    const char *why;
    STATE_AO_GC(op->op.nested);

    libxl__ev_time_deregister(gc, &op->backoff);
    if (rc == ERROR_ABORTED) {
        libxl__devd_fail(gc, op->op.dds, d, "aborted before retrying", false);
        goto out;
    }
    why = hotplug_still_wanted(gc, op);
    if (why) {
        libxl__devd_fail(gc, op->op.dds, d,
                         GCSPRINTF("adding the backend failed %u times;"
                                   " not retried: %s", libxl__devd_script_dev(d)->add_attempts, why),
                         true);
        libxl__devd_script_dev(d)->add_attempts = 0;
        goto out;
    }
    /* The next attempt waits for a script slot like any add. */
    libxl__devd_script_retry(op);
out:
    libxl__devd_op_done(egc, &op->op);
}
