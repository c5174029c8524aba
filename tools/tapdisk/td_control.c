/*
 * The control server (see td_control.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "td_control.h"
#include "td_disk.h"
#include "td_req.h"
#include "td_ring.h"

typedef struct client {
    int fd;                     /* -1: free */
    uint8_t buf[TD_MSG_MAX];
    size_t len;
} client;

static client clients[TD_MAX_CLIENTS];
static int listen_fd = -1;
static bool exit_asked;
/* The listening socket and every client, so that the loop waits on one
 * fd for all of them; an event's key is the client's index, or: */
static int ep_fd = -1;
#define LISTEN_KEY TD_MAX_CLIENTS

static int watch(int fd, uint32_t key)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = key };

    if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &ev)) {
        td_log("cannot watch control socket %d: %s", fd, strerror(errno));
        return -1;
    }
    return 0;
}

static void client_drop(client *c)
{
    epoll_ctl(ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static int client_send(client *c, td_msg *m)
{
    uint8_t buf[TD_MSG_MAX];
    int n = td_encode(m, buf, sizeof(buf));
    size_t off = 0;

    if (n < 0) {
        td_log("bug: cannot encode a %s: %s", td_msg_name(m->type),
               td_err_name(n));
        return -1;
    }
    while (off < (size_t)n) {
        ssize_t w = send(c->fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static int send_error(client *c, const td_msg *req, int err, const char *why)
{
    td_msg rsp = { .type = TD_MSG_ERROR, .cookie = req->cookie,
                   .minor = req->minor };

    rsp.u.response.error = err;
    snprintf(rsp.u.response.message, TD_STRING_LEN, "%s", why);
    td_log("%s (minor %d): error: %s", td_msg_name(req->type),
           req->minor == TD_NO_MINOR ? -1 : (int)req->minor, why);
    return client_send(c, &rsp);
}

static int send_list(client *c, td_msg *rsp)
{
    int i, n = 0;

    for (i = 0; i < TD_MAX_DISKS; i++)
        n += td_disks[i].used;
    rsp->u.list.count = n;
    if (!n) {
        rsp->u.list.minor = -1;
        return client_send(c, rsp);
    }
    for (i = 0; i < TD_MAX_DISKS; i++) {
        if (!td_disks[i].used)
            continue;
        rsp->u.list.minor = i;
        rsp->u.list.state = td_disks[i].r.connected ? TD_IMG_CONNECTED
                                                    : TD_IMG_OPEN;
        snprintf(rsp->u.list.path, TD_PATH_LEN, "%s", td_disks[i].path);
        if (client_send(c, rsp))
            return -1;
    }
    return 0;
}

/* Messages about one open image. */
static int handle_disk(client *c, const td_msg *req, td_msg *rsp)
{
    td_disk *d = td_disk_get(req->minor);
    char why[TD_STRING_LEN] = "";
    bool same;
    int err;

    if (!d) {
        snprintf(why, sizeof(why), "no image with minor %d",
                 (int)req->minor);
        return send_error(c, req, ENOENT, why);
    }
    switch (req->type) {
    case TD_MSG_DISK_INFO:
        td_disk_info(d, &rsp->u.image);
        break;
    case TD_MSG_STATS:
        rsp->u.stats = d->st;
        break;
    case TD_MSG_CLOSE:
        /* The guest sees its disk go, rather than hang. */
        td_req_detach(d);
        td_disk_close(d);
        break;
    case TD_MSG_XENBLKIF_CONNECT:
        if (d->r.connected) {
            /* A restarted devd connecting what is already connected. */
            same = td_ring_same(&d->r, &req->u.blkif);
            return send_error(c, req, same ? EALREADY : EBUSY,
                              same ? "already connected" : "connected to"
                              " another ring: disconnect first");
        }
        err = td_req_attach(d, &req->u.blkif, why, sizeof(why));
        if (err)
            return send_error(c, req, err, why);
        break;
    default:                    /* TD_MSG_XENBLKIF_DISCONNECT */
        td_req_detach(d);       /* idempotent */
        break;
    }
    return client_send(c, rsp);
}

static int handle(client *c, const td_msg *req)
{
    td_msg rsp = { .type = td_response_type(req->type),
                   .cookie = req->cookie, .minor = req->minor };
    char why[TD_STRING_LEN];
    uint32_t minor;
    int err;

    switch (req->type) {
    case TD_MSG_PID:
        rsp.u.pid = (uint32_t)getpid();
        return client_send(c, &rsp);
    case TD_MSG_OPEN:
        err = td_disk_open(&req->u.params, &minor, why, sizeof(why));
        if (err)
            return send_error(c, req, err, why);
        rsp.minor = minor;
        td_disk_info(&td_disks[minor], &rsp.u.image);
        return client_send(c, &rsp);
    case TD_MSG_LIST:
        return send_list(c, &rsp);
    case TD_MSG_EXIT:
        td_log("asked to exit");
        exit_asked = true;
        return 0;
    case TD_MSG_DISK_INFO:
    case TD_MSG_STATS:
    case TD_MSG_CLOSE:
    case TD_MSG_XENBLKIF_CONNECT:
    case TD_MSG_XENBLKIF_DISCONNECT:
        return handle_disk(c, req, &rsp);
    }
    snprintf(why, sizeof(why), "message \"%s\" not supported",
             td_msg_name(req->type));
    return send_error(c, req, EOPNOTSUPP, why);
}

static void on_client(client *c)
{
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    td_msg req;
    int n;

    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        client_drop(c);
        return;
    }
    c->len += (size_t)r;
    while (c->len) {
        n = td_decode(c->buf, c->len, &req);
        if (n == TD_ERR_SHORT)
            return;
        if (n < 0) {
            td_log("dropping a control client: %s", td_err_name(n));
            client_drop(c);
            return;
        }
        memmove(c->buf, c->buf + n, c->len - (size_t)n);
        c->len -= (size_t)n;
        if (handle(c, &req)) {
            client_drop(c);
            return;
        }
    }
}

/* Only root or our own user (devd's, which started us) may control us. */
static bool peer_allowed(int fd)
{
    static td_ratelimit rl;
    struct ucred cr;
    socklen_t len = sizeof(cr);
    unsigned int drop;

    if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) &&
        len == sizeof(cr) && (cr.uid == 0 || cr.uid == geteuid()))
        return true;
    if (td_ratelimit_ok(&rl, td_ratelimit_now(), &drop))
        td_log("refusing a control client of uid %ld (pid %ld)",
               len == sizeof(cr) ? (long)cr.uid : -1L,
               len == sizeof(cr) ? (long)cr.pid : -1L);
    return false;
}

static void on_listen(void)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    int i;

    if (fd < 0)
        return;
    if (!peer_allowed(fd)) {
        close(fd);
        return;
    }
    for (i = 0; i < TD_MAX_CLIENTS; i++) {
        if (clients[i].fd < 0) {
            if (watch(fd, (uint32_t)i))
                break;
            clients[i].fd = fd;
            clients[i].len = 0;
            return;
        }
    }
    /* (a client epoll could not watch was logged there) */
    if (i == TD_MAX_CLIENTS)
        td_log("too many control clients, refusing one");
    close(fd);
}

int td_control_init(int fd)
{
    int i;

    listen_fd = fd;
    for (i = 0; i < TD_MAX_CLIENTS; i++)
        clients[i].fd = -1;
    ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd < 0) {
        td_log("epoll_create1: %s", strerror(errno));
        return -1;
    }
    return watch(listen_fd, LISTEN_KEY);
}

int td_control_fd(void)
{
    return ep_fd;
}

void td_control_serve(void)
{
    struct epoll_event ev[1 + TD_MAX_CLIENTS];
    bool listener = false;
    int i, n = epoll_wait(ep_fd, ev, 1 + TD_MAX_CLIENTS, 0);

    for (i = 0; i < n; i++) {
        uint32_t k = ev[i].data.u32;

        if (k == LISTEN_KEY)
            listener = true;
        else if (k < TD_MAX_CLIENTS && clients[k].fd >= 0)
            on_client(&clients[k]);
    }
    /* Last: a slot a client gave up above is free for a new one. */
    if (listener)
        on_listen();
}

bool td_control_exit_asked(void)
{
    return exit_asked;
}
