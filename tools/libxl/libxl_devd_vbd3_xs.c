/*
 * The vbd3 ring server's XenStore side (the backend's keys, checked and
 * published the way blkback does: connect-time keys in one transaction,
 * the state last) and tapdisk's socket.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "libxl_devd_vbd3.h"

void libxl__devd_vbd3_set(devd_vbd3 *v, devd_rs_state rs)
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

void libxl__devd_vbd3_wrote_state(devd_vbd3 *v, int state)
{
    v->be_state = state;
    v->seen_state = state;
}

const char *libxl__devd_vbd3_be_read(libxl__gc *gc, devd_vbd3 *v,
                                     const char *key)
{
    const char *s = NULL;

    libxl__devd_xs_read(gc, XBT_NULL, GCSPRINTF("%s/%s", v->be, key), &s,
                        NULL);
    return s;
}

/*
 * Whether keys we create in the backend directory get {us: none,
 * frontend: read} from it: xenstored gives a new node its parent's
 * permissions, owned by the unprivileged domain that makes it.  libxl
 * makes backend directories so; then one request here saves one per key.
 */
static bool vbd3_perms_inherited(libxl__gc *gc, devd_vbd3 *v)
{
    unsigned int n = 0;
    struct xs_permissions *p = xs_get_permissions(CTX->xsh, XBT_NULL, v->be,
                                                  &n);
    bool ok = p && n == 2 && p[0].id == v->dds->self_domid &&
              p[0].perms == XS_PERM_NONE && p[1].id == v->domid &&
              p[1].perms == XS_PERM_READ;

    free(p);
    return ok;
}

int libxl__devd_vbd3_read_config(libxl__gc *gc, devd_vbd3 *v,
                                 const char **why)
{
    const char *params = libxl__devd_vbd3_be_read(gc, v, "params");
    const char *mode = libxl__devd_vbd3_be_read(gc, v, "mode");
    const char *fe = libxl__devd_vbd3_be_read(gc, v, "frontend");
    const char *feid = libxl__devd_vbd3_be_read(gc, v, "frontend-id");
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
    v->perms_inherited = vbd3_perms_inherited(gc, v);
    return 0;
}

/*----- publishing -----*/

typedef struct {
    const char *key, *val;
} vbd3_kv;

/* Backend-written keys the frontend may read and nobody else change
 * (given explicitly only if the directory would not give them). */
static int vbd3_xs_write_ro(libxl__gc *gc, devd_vbd3 *v, xs_transaction_t t,
                            const char *key, const char *val)
{
    const char *path = GCSPRINTF("%s/%s", v->be, key);
    struct xs_permissions perms[2] = {
        { .id = v->dds->self_domid, .perms = XS_PERM_NONE },
        { .id = v->domid, .perms = XS_PERM_READ },
    };
    int rc = libxl__xs_write_checked(gc, t, path, val);

    if (rc || v->perms_inherited) return rc;
    if (!xs_set_permissions(CTX->xsh, t, path, perms, 2)) {
        LOGED(ERROR, v->domid, "vbd3 %u: setting permissions of %s",
              v->devid, path);
        return ERROR_FAIL;
    }
    return 0;
}

/*
 * In one transaction, retried on EAGAIN: the keys (readable by the
 * frontend only), hotplug-status if given, then the state, so that the
 * frontend never sees the state before what goes with it.  Never
 * recreates a backend that has gone (ERROR_NOTFOUND).
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
        /* blkif.h's default for every feature and discard parameter we
         * offer is 0: a 0 is said by leaving the key out.  (Not for the
         * keys a frontend must find, such as info.) */
        if (!strcmp(p->kv[i].val, "0") &&
            (!strncmp(p->kv[i].key, "feature-", 8) ||
             !strncmp(p->kv[i].key, "discard-", 8)))
            continue;
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
        libxl__devd_vbd3_wrote_state(v, state);
    return rc;
}

int libxl__devd_vbd3_write_state(libxl__gc *gc, devd_vbd3 *v, int state)
{
    if (v->be_state == state)
        return 0;
    return vbd3_publish(gc, v, NULL, 0, NULL, state);
}

/* Exactly the features tapdisk implements, then InitWait. */
int libxl__devd_vbd3_publish_initwait(libxl__gc *gc, devd_vbd3 *v,
                                      uint32_t max_order)
{
    uint32_t f = v->img.features;
    bool discard = f & TD_FEAT_DISCARD;
    const vbd3_kv kv[] = {
        { "max-ring-page-order", GCSPRINTF("%u", max_order) },
        { "feature-flush-cache", f & TD_FEAT_FLUSH ? "1" : "0" },
        { "feature-barrier", f & TD_FEAT_BARRIER ? "1" : "0" },
        { "feature-discard", discard ? "1" : "0" },
        { "feature-persistent", f & TD_FEAT_PERSISTENT ? "1" : "0" },
        { "feature-max-indirect-segments",
          f & TD_FEAT_INDIRECT ? GCSPRINTF("%u", TD_INDIRECT_SEGS) : "0" },
        /* only with discard (the last three) */
        { "discard-granularity", "4096" },
        { "discard-alignment", "0" },
        { "discard-secure", "0" },
    };

    return vbd3_publish(gc, v, kv, discard ? 9 : 6, "connected",
                        DEVD_XBS_INITWAIT);
}

int libxl__devd_vbd3_publish_connected(libxl__gc *gc, devd_vbd3 *v)
{
    const vbd3_kv kv[] = {
        { "sector-size", GCSPRINTF("%u", v->img.sector_size) },
        { "physical-sector-size", GCSPRINTF("%u", v->img.sector_size) },
        { "sectors", GCSPRINTF("%" PRIu64, v->img.sectors) },
        { "info", GCSPRINTF("%u", v->img.info) },
    };

    return vbd3_publish(gc, v, kv, 4, NULL, DEVD_XBS_CONNECTED);
}

/*
 * The device stops here, with the reason where the toolstack and the user
 * look (hotplug-error, hotplug-status, the log, `xl devd --status`):
 * backend Closed, the rest of devd unaffected.
 */
struct vbd3_failed_txn {
    const char *be, *why;
};

static int vbd3_failed_txn(libxl__gc *gc, xs_transaction_t t, void *arg)
{
    const struct vbd3_failed_txn *f = arg;
    const char *st;
    int rc;

    rc = libxl__xs_read_checked(gc, t, GCSPRINTF("%s/state", f->be), &st);
    if (rc) return rc;
    if (!st) return ERROR_NOTFOUND;     /* gone: nothing to tell */
    rc = libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-error", f->be), "%s",
                          f->why);
    if (rc) return rc;
    rc = libxl__xs_printf(gc, t, GCSPRINTF("%s/hotplug-status", f->be),
                          "error");
    if (rc) return rc;
    return libxl__xs_printf(gc, t, GCSPRINTF("%s/state", f->be), "%d",
                            DEVD_XBS_CLOSED);
}

void libxl__devd_vbd3_failed(libxl__gc *gc, devd_vbd3 *v, const char *why)
{
    struct vbd3_failed_txn f = { v->be, why };
    int rc;

    libxl__devd_vbd3_set(v, RS_FAILED);
    libxl__devd_device_set_error(v->d, why);
    VLOG_RL(ERROR, v, "device closed: %s", why);
    rc = libxl__devd_xs_txn(gc, vbd3_failed_txn, &f);
    if (!rc)
        libxl__devd_vbd3_wrote_state(v, DEVD_XBS_CLOSED);
    else if (rc != ERROR_NOTFOUND)
        VLOG_RL(ERROR, v, "cannot publish the failure (rc=%d)", rc);
}

int libxl__devd_vbd3_fe_column(libxl__gc *gc, devd_vbd3 *v, const char **why)
{
    const char *s = NULL;
    bool escaped;
    int st;

    *why = NULL;
    if (!v->fe)
        return RS_FE_ABSENT;
    if (libxl__devd_xs_read(gc, XBT_NULL, GCSPRINTF("%s/state", v->fe), &s,
                            &escaped) || !s)
        return RS_FE_ABSENT;
    if (libxl__devd_parse_state(s, &st)) {
        *why = GCSPRINTF("frontend %s/state=\"%s\" is not a XenbusState",
                         v->fe, escaped ? s : libxl__devd_show(gc, s));
        return RS_FE_INVALID;
    }
    return st;
}

/*----- tapdisk's socket -----*/

/* A listening socket for the new tapdisk: devd connects at once, and the
 * connection waits in the backlog until tapdisk accepts it. */
int libxl__devd_vbd3_listen(libxl__gc *gc, devd_vbd3 *v)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    /* Only root may reach a tapdisk: the directory is ours and 0700, the
     * socket 0600, whatever the umask (which a library must not touch). */
    if (mkdir(VBD3_TD_SOCK_DIR, 0700) && errno != EEXIST) {
        LOGED(ERROR, v->domid, "vbd3 %u: mkdir " VBD3_TD_SOCK_DIR, v->devid);
        return -1;
    }
    if (lstat(VBD3_TD_SOCK_DIR, &st) || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() ||
        ((st.st_mode & 077) && chmod(VBD3_TD_SOCK_DIR, 0700))) {
        LOGD(ERROR, v->domid, "vbd3 %u: " VBD3_TD_SOCK_DIR " is not a"
             " directory of ours that only we can enter", v->devid);
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

/* Starts tapdisk in its own session, so that it outlives us, with the
 * listening socket as fd 3. */
void libxl__devd_vbd3_exec_tapdisk(const char *bin, const char *logf, int lfd)
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

/* Removes the device's socket unless a tapdisk still listens on it (one
 * that we could not reach, which td-ctl may still want). */
void libxl__devd_vbd3_unlink_socket(libxl__gc *gc, devd_vbd3 *v, bool stopped)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (!stopped) {
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
    /* And the journal a tapdisk that died with the ring left beside it
     * (tapdisk's td_journal.h names it so). */
    unlink(GCSPRINTF(VBD3_TD_SOCK_DIR "/ring-%u-%u.jnl", v->domid,
                     v->devid));
}
