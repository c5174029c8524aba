/*
 * The driver-domain listener's XenStore helpers, one per pattern that
 * the core and the kind modules repeat: backend paths, strict reads of
 * values a guest or the toolstack wrote, the one transaction-with-retry
 * loop, and untrusted text made safe to show.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"

const char *libxl__devd_be_path(libxl__gc *gc, libxl__devd_state *dds,
                                const char *name, uint32_t domid,
                                uint32_t devid)
{
    return GCSPRINTF("%s/%s/%u/%u", dds->be_path, name, domid, devid);
}

const char *libxl__devd_dev_path(libxl__gc *gc, libxl__devd_state *dds,
                                 const devd_device *d)
{
    return libxl__devd_be_path(gc, dds, d->kind, d->domid, d->devid);
}

void libxl__devd_fill_ldev(libxl__devd_state *dds, const devd_device *d,
                           int frontend_kind, libxl__device *ldev)
{
    ldev->backend_devid = d->devid;
    ldev->backend_domid = dds->self_domid;
    ldev->devid = d->devid;
    ldev->domid = d->domid;
    ldev->backend_kind = d->libxl_kind;
    ldev->kind = frontend_kind;
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

char **libxl__devd_list(libxl__gc *gc, const char *path, unsigned int *n)
{
    char **l = libxl__xs_directory(gc, XBT_NULL, path, n);

    if (!l)
        *n = 0;
    return l;
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

/* Reads and strictly parses a backend's state or online node.  *present
 * is false if it is not there; *ok is true if it is and parses (junk is
 * logged: it is left alone until it changes). */
int libxl__devd_read_value(libxl__gc *gc, const char *be, uint32_t domid,
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

int libxl__devd_read_values(libxl__gc *gc, const char *be, uint32_t domid,
                            bool *exists, bool *values_ok,
                            int *state, int *online)
{
    bool state_ok, present;
    int rc;

    *values_ok = false;
    rc = libxl__devd_read_value(gc, be, domid, "state", exists, &state_ok,
                                state);
    if (rc || !*exists || !state_ok) return rc;
    return libxl__devd_read_value(gc, be, domid, "online", &present,
                                  values_ok, online);
}
