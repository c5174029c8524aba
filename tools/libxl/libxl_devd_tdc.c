/*
 * The ring server's client of the tapdisk control protocol, on libxl's
 * event loop: one connection per vbd3 device, one request at a time, each
 * answered through a callback, with a timeout.  The connection stays open
 * between requests so that a tapdisk that dies is noticed at once (its end
 * of the socket closes) rather than at the next request.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "libxl_devd_tdc.h"

#define TLOG(l, c, f, ...) \
    LOGD(l, (c)->domid, "vbd3 %u: " f, (c)->devid, ##__VA_ARGS__)

static void tdc_fd_cb(libxl__egc *egc, libxl__ev_fd *ev, int fd,
                      short events, short revents);
static void tdc_timeout_cb(libxl__egc *egc, libxl__ev_time *ev,
                           const struct timeval *requested_abs, int rc);

void libxl__devd_tdc_init(devd_tdc *c)
{
    c->fd = -1;
    libxl__ev_fd_init(&c->efd);
    libxl__ev_time_init(&c->timeout);
    c->reply = NULL;
    c->len = 0;
}

bool libxl__devd_tdc_connected(const devd_tdc *c)
{
    return c->fd >= 0;
}

static void tdc_shut(libxl__gc *gc, devd_tdc *c)
{
    libxl__ev_fd_deregister(gc, &c->efd);
    libxl__ev_time_deregister(gc, &c->timeout);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

void libxl__devd_tdc_close(libxl__gc *gc, devd_tdc *c)
{
    /* Only between requests: whoever waits for a reply owns the end. */
    assert(!c->reply);
    tdc_shut(gc, c);
}

int libxl__devd_tdc_connect(libxl__gc *gc, devd_tdc *c, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int rc;

    assert(c->fd < 0);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        TLOG(ERROR, c, "tapdisk socket path too long: %s", path);
        return ERROR_INVAL;
    }
    strcpy(sa.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        LOGED(ERROR, c->domid, "socket");
        return ERROR_FAIL;
    }
    /* A Unix stream connect completes at once, or fails at once. */
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
        rc = (errno == ENOENT || errno == ECONNREFUSED) ? ERROR_NOTFOUND
                                                        : ERROR_FAIL;
        if (rc == ERROR_FAIL)
            LOGED(ERROR, c->domid, "vbd3 %u: connect to %s", c->devid, path);
        close(c->fd);
        c->fd = -1;
        return rc;
    }
    rc = libxl__ev_fd_register(gc, &c->efd, tdc_fd_cb, c->fd, POLLIN);
    if (rc) {
        close(c->fd);
        c->fd = -1;
    }
    return rc;
}

static int tdc_write(libxl__gc *gc, devd_tdc *c, td_msg *req)
{
    uint8_t buf[TD_MSG_MAX];
    int n = td_encode(req, buf, sizeof(buf));
    ssize_t w;

    if (n < 0) {
        TLOG(ERROR, c, "cannot encode a tapdisk %s: %s", td_msg_name(req->type),
             td_err_name(n));
        return ERROR_INVAL;
    }
    /* Our messages are far smaller than a socket buffer: a send that does
     * not take all of it means the peer is stuck, not slow. */
    do {
        w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (w < 0 && errno == EINTR);
    if (w != n) {
        TLOG(ERROR, c, "sending a %s to tapdisk failed: %s",
             td_msg_name(req->type), w < 0 ? strerror(errno) : "short write");
        return ERROR_FAIL;
    }
    return 0;
}

int libxl__devd_tdc_request(libxl__ao *ao, devd_tdc *c, td_msg *req,
                            int timeout_ms, devd_tdc_reply_fn *cb)
{
    AO_GC;
    int rc;

    assert(!c->reply);
    if (c->fd < 0)
        return ERROR_FAIL;
    req->cookie = ++c->cookie;
    c->want = td_response_type(req->type);
    c->req_type = req->type;
    c->nrsp = 0;
    c->expect = 1;
    rc = libxl__ev_time_register_rel(ao, &c->timeout, tdc_timeout_cb,
                                     timeout_ms);
    if (rc) return rc;
    rc = tdc_write(gc, c, req);
    if (rc) {
        libxl__ev_time_deregister(gc, &c->timeout);
        return rc;
    }
    c->reply = cb;
    return 0;
}

int libxl__devd_tdc_send(libxl__gc *gc, devd_tdc *c, td_msg *req)
{
    if (c->fd < 0)
        return ERROR_FAIL;
    req->cookie = ++c->cookie;
    return tdc_write(gc, c, req);
}

/* Ends the running request: exactly one reply callback per request. */
static void tdc_reply(libxl__egc *egc, devd_tdc *c, int rc)
{
    EGC_GC;
    devd_tdc_reply_fn *cb = c->reply;

    libxl__ev_time_deregister(gc, &c->timeout);
    c->reply = NULL;
    if (rc)
        tdc_shut(gc, c);    /* a broken or stuck tapdisk: never reused */
    cb(egc, c, rc);
}

static void tdc_broken(libxl__egc *egc, devd_tdc *c, const char *why)
{
    EGC_GC;

    TLOG(ERROR, c, "tapdisk control connection: %s", why);
    if (c->reply) {
        tdc_reply(egc, c, ERROR_FAIL);
        return;
    }
    tdc_shut(gc, c);
    c->lost(egc, c);
}

static void tdc_timeout_cb(libxl__egc *egc, libxl__ev_time *ev,
                           const struct timeval *requested_abs, int rc)
{
    devd_tdc *c = CONTAINER_OF(ev, *c, timeout);
    EGC_GC;

    if (rc != ERROR_ABORTED)
        TLOG(ERROR, c, "tapdisk did not answer a %s in time",
             td_msg_name(c->req_type));
    tdc_reply(egc, c, rc == ERROR_ABORTED ? ERROR_ABORTED : ERROR_TIMEDOUT);
}

static void tdc_fd_cb(libxl__egc *egc, libxl__ev_fd *ev, int fd,
                      short events, short revents)
{
    devd_tdc *c = CONTAINER_OF(ev, *c, efd);
    td_msg m;
    ssize_t r;
    int n;

    r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        tdc_broken(egc, c, r < 0 ? strerror(errno) : "closed by tapdisk");
        return;
    }
    c->len += (size_t)r;

    while (c->len) {
        n = td_decode(c->buf, c->len, &m);
        if (n == TD_ERR_SHORT)
            return;
        if (n < 0) {
            tdc_broken(egc, c, td_err_name(n));
            return;
        }
        memmove(c->buf, c->buf + n, c->len - (size_t)n);
        c->len -= (size_t)n;
        if (!c->reply || m.cookie != c->cookie ||
            (m.type != c->want && m.type != TD_MSG_ERROR)) {
            tdc_broken(egc, c, "a message nobody asked for");
            return;
        }
        if (c->nrsp < DEVD_TDC_MAX_RSP)
            c->rsp[c->nrsp] = m;
        c->nrsp++;
        /* LIST answers with one message per image. */
        if (m.type == TD_MSG_LIST_RSP && c->nrsp == 1) {
            if (m.u.list.count > DEVD_TDC_MAX_LIST) {
                tdc_broken(egc, c, "an absurd image count");
                return;
            }
            if (m.u.list.count > 1)
                c->expect = m.u.list.count;
        }
        if (c->nrsp >= c->expect) {
            tdc_reply(egc, c, 0);
            return;     /* the callback may have closed or reused c */
        }
    }
}
