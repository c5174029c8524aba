/*
 * tapdisk: a userspace blkif data plane for raw images.
 *
 * One process serves one or more images ("minors") and answers the tapdisk
 * control protocol (td_proto.h) on a Unix socket.  devd's ring server opens
 * an image, asks for its geometry, and hands it a frontend's ring with
 * XENBLKIF_CONNECT; from then on requests flow guest -> ring -> here ->
 * image without devd.  Everything runs in one poll loop: control clients,
 * the event channel, signals.
 *
 * Guest memory is hostile: each request is copied out of the shared ring
 * once, then validated (td_blkif.c) before any grant is mapped or any byte
 * of the image touched.  A frontend that corrupts its ring indexes loses
 * its ring; nothing it does ends this process.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <sys/eventfd.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#include "td_blkif.h"
#include "td_proto.h"
#include "td_ratelimit.h"

#define MAX_IMAGES   16
#define MAX_CLIENTS  16
/* Requests handled per ring before looking at other work: a frontend
 * that keeps its ring full cannot starve the others. */
#define BATCH 64

struct image;

/* One request in flight (io_uring path).  Allocated per ring at connect
 * time, never per request. */
typedef struct td_io {
    struct image *m;
    uint64_t id;
    uint8_t op;                 /* as the frontend sent it: echoed back */
    uint8_t nsegs;              /* data grants mapped at `pages` */
    uint8_t *pages;
    int pending;                /* SQEs not completed yet */
    int16_t status;
    bool to_guest;
    bool barrier;               /* a write barrier: nothing passes it */
    size_t want;                /* bytes the data SQE must move */
    uint64_t nr_sectors;
    struct iovec iov[TD_MAX_SEGS];
    struct td_io *next_free;
} td_io;

typedef struct ring {
    bool connected;
    td_io *ios;                 /* geom.nr_ents slots */
    td_io *free_ios;
    unsigned int inflight;
    bool barrier_wait;          /* a barrier is in flight: consume nothing */
    bool notify;                /* responses written since the last push */
    bool more;                  /* requests left after its last batch */
    uint32_t domid, devid, order, proto, port;
    uint32_t gref[TD_MAX_RING_PAGES];
    evtchn_port_t lport;
    uint8_t *sring;             /* the shared pages */
    td_ring_geom geom;
    uint32_t req_cons, rsp_prod_pvt;
} ring;

typedef struct image {
    bool used;
    char path[TD_PATH_LEN];     /* as given: "<format>:<file>" */
    int fd;
    uint64_t sectors;
    bool readonly, discard;
    ring r;
    td_stats st;
    td_ratelimit rl;            /* for the lines about it */
} image;

typedef struct client {
    int fd;                     /* -1: free */
    uint8_t buf[TD_MSG_MAX];
    size_t len;
} client;

static image images[MAX_IMAGES];
static client clients[MAX_CLIENTS];
static int listen_fd = -1;
static xengnttab_handle *xgt;
static xenevtchn_handle *xce;
static bool stopping;
/* Asynchronous I/O.  Without io_uring (old kernel, seccomp) every request
 * is served synchronously instead. */
#define URING_DEPTH 512
static struct io_uring uring;
static bool uring_ok;
static int uring_efd = -1;

static void logm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logm(const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s tapdisk[%ld]: ", when, (long)getpid());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

/* Every line about an image is one its guest can cause (connecting in a
 * loop, failing requests): at most TD_RL_BURST a minute per image. */
#define ILOG(m, fmt, ...) do {                                          \
        unsigned int drop_;                                             \
        if (td_ratelimit_ok(&(m)->rl, td_ratelimit_now(), &drop_))     \
            logm("minor %d (domain %u vdev %u): " fmt "%s%.0u%s",      \
                 (int)((m) - images), (m)->r.domid, (m)->r.devid,      \
                 ##__VA_ARGS__, drop_ ? " (" : "", drop_,               \
                 drop_ ? " such lines dropped)" : "");                  \
    } while (0)

/*----- the Xen handles, opened when the first ring arrives -----*/

static int xen_open(char *why, size_t whylen)
{
    if (!xgt && !(xgt = xengnttab_open(NULL, 0))) {
        snprintf(why, whylen, "cannot open the grant device: %s",
                 strerror(errno));
        return -1;
    }
    if (!xce && !(xce = xenevtchn_open(NULL, 0))) {
        snprintf(why, whylen, "cannot open the event channel device: %s",
                 strerror(errno));
        return -1;
    }
    return 0;
}

/*----- rings -----*/

static volatile uint32_t *sr_req_prod(ring *r)
{
    return (volatile uint32_t *)(r->sring + 0);
}
static volatile uint32_t *sr_req_event(ring *r)
{
    return (volatile uint32_t *)(r->sring + 4);
}
static volatile uint32_t *sr_rsp_prod(ring *r)
{
    return (volatile uint32_t *)(r->sring + 8);
}
static volatile uint32_t *sr_rsp_event(ring *r)
{
    return (volatile uint32_t *)(r->sring + 12);
}
static uint8_t *sr_entry(ring *r, uint32_t idx)
{
    return r->sring + TD_RING_HDR +
           (size_t)(idx & (r->geom.nr_ents - 1)) * r->geom.entry_size;
}

static void uring_drain(ring *r);

static void ring_disconnect(image *m)
{
    ring *r = &m->r;

    if (!r->connected)
        return;
    /* Requests in flight write into guest pages and into the ring: they
     * finish before anything is unmapped. */
    uring_drain(r);
    free(r->ios);
    if (xce && r->lport)
        xenevtchn_unbind(xce, r->lport);
    if (r->sring)
        xengnttab_unmap(xgt, r->sring, 1u << r->order);
    ILOG(m, "ring disconnected");
    memset(r, 0, sizeof(*r));
}

static int ring_connect(image *m, const td_blkif *b, char *why, size_t wl)
{
    ring *r = &m->r;
    xenevtchn_port_or_error_t lp;
    unsigned int i;

    if (b->order > TD_MAX_RING_ORDER || b->proto > TD_PROTO_MAX) {
        snprintf(why, wl, "ring order %u or protocol %u out of range",
                 b->order, b->proto);
        return EINVAL;
    }
    if (xen_open(why, wl))
        return ENODEV;
    memset(r, 0, sizeof(*r));
    r->domid = b->domid;
    r->devid = b->devid;
    r->order = b->order;
    r->proto = b->proto;
    r->port = b->port;
    for (i = 0; i < (1u << b->order); i++)
        r->gref[i] = b->gref[i];
    td_ring_geometry(b->proto, b->order, &r->geom);

    r->sring = xengnttab_map_domain_grant_refs(xgt, 1u << b->order, b->domid,
                                               r->gref,
                                               PROT_READ | PROT_WRITE);
    if (!r->sring) {
        snprintf(why, wl, "cannot map the %u ring page(s) of domain %u: %s",
                 1u << b->order, b->domid, strerror(errno));
        memset(r, 0, sizeof(*r));
        return EFAULT;
    }
    lp = xenevtchn_bind_interdomain(xce, b->domid, b->port);
    if (lp < 0) {
        snprintf(why, wl, "cannot bind event channel %u of domain %u: %s",
                 b->port, b->domid, strerror(errno));
        xengnttab_unmap(xgt, r->sring, 1u << b->order);
        memset(r, 0, sizeof(*r));
        return EINVAL;
    }
    r->lport = (evtchn_port_t)lp;
    r->ios = calloc(r->geom.nr_ents, sizeof(*r->ios));
    if (!r->ios) {
        snprintf(why, wl, "out of memory");
        xenevtchn_unbind(xce, r->lport);
        xengnttab_unmap(xgt, r->sring, 1u << b->order);
        memset(r, 0, sizeof(*r));
        return ENOMEM;
    }
    for (i = 0; i < r->geom.nr_ents; i++) {
        r->ios[i].m = m;
        r->ios[i].next_free = i + 1 < r->geom.nr_ents ? &r->ios[i + 1] : NULL;
    }
    r->free_ios = r->ios;
    /* Attach, rather than init: a ring the frontend already used (a
     * reconnect) resumes where its responses stopped. */
    r->rsp_prod_pvt = r->req_cons = *sr_rsp_prod(r);
    r->connected = true;
    ILOG(m, "ring connected: %u page(s), %u entries, protocol %s, port %u",
         1u << r->order, r->geom.nr_ents, td_proto_name(r->proto), r->port);
    return 0;
}

/*----- one request, synchronously -----*/

static int16_t do_data(image *m, td_req *q)
{
    ring *r = &m->r;
    uint32_t refs[TD_MAX_SEGS];
    struct iovec iov[TD_MAX_SEGS];
    bool to_guest = q->op == TD_OP_READ;
    unsigned int i, n = q->nr_segments;
    uint8_t *pages;
    off_t off = (off_t)(q->sector * TD_SECTOR);
    size_t want = 0;
    ssize_t done;

    for (i = 0; i < n; i++)
        refs[i] = q->seg[i].gref;
    /* One batched map for the whole request. */
    pages = xengnttab_map_domain_grant_refs(xgt, n, r->domid, refs,
                    to_guest ? PROT_READ | PROT_WRITE : PROT_READ);
    if (!pages) {
        if (m->st.v[TD_STAT_ERRORS] < 10)
            ILOG(m, "cannot map the %u data grant(s) of a request: %s", n,
                 strerror(errno));
        return TD_RSP_ERROR;
    }
    for (i = 0; i < n; i++) {
        iov[i].iov_base = pages + (size_t)i * TD_PAGE_SIZE +
                          q->seg[i].first_sect * TD_SECTOR;
        iov[i].iov_len = (size_t)(q->seg[i].last_sect -
                                  q->seg[i].first_sect + 1) * TD_SECTOR;
        want += iov[i].iov_len;
    }
    done = to_guest ? preadv(m->fd, iov, (int)n, off)
                    : pwritev(m->fd, iov, (int)n, off);
    xengnttab_unmap(xgt, pages, n);
    if (done != (ssize_t)want) {
        ILOG(m, "%s of %zu bytes at %lld failed: %s",
             to_guest ? "read" : "write", want, (long long)off,
             done < 0 ? strerror(errno) : "short transfer");
        return TD_RSP_ERROR;
    }
    m->st.v[to_guest ? TD_STAT_SECTORS_READ : TD_STAT_SECTORS_WRITTEN] +=
        q->nr_sectors;
    return TD_RSP_OKAY;
}

/* A request ring_process already validated, served synchronously (the
 * path without io_uring). */
static int16_t do_request(image *m, td_req *q)
{
    int16_t st = TD_RSP_OKAY;

    switch (q->op) {
    case TD_OP_READ:
        m->st.v[TD_STAT_REQS_READ]++;
        return do_data(m, q);
    case TD_OP_WRITE:
        m->st.v[TD_STAT_REQS_WRITE]++;
        return do_data(m, q);
    case TD_OP_WRITE_BARRIER:
    case TD_OP_FLUSH:
        m->st.v[TD_STAT_REQS_FLUSH]++;
        if (q->nr_segments) {
            uint8_t op = q->op;     /* answered with the op it came with */
            m->st.v[TD_STAT_REQS_WRITE]++;
            q->op = TD_OP_WRITE;
            st = do_data(m, q);
            q->op = op;
            if (st != TD_RSP_OKAY)
                return st;
        }
        if (fdatasync(m->fd)) {
            ILOG(m, "flush failed: %s", strerror(errno));
            return TD_RSP_ERROR;
        }
        return TD_RSP_OKAY;
    case TD_OP_DISCARD:
        m->st.v[TD_STAT_REQS_DISCARD]++;
        if (q->nr_sectors &&
            fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)(q->sector * TD_SECTOR),
                      (off_t)(q->nr_sectors * TD_SECTOR))) {
            ILOG(m, "discard failed: %s", strerror(errno));
            return TD_RSP_ERROR;
        }
        return TD_RSP_OKAY;
    }
    return TD_RSP_EOPNOTSUPP;   /* validate let nothing else through */
}

/*----- ring processing -----*/

static void ring_notify(image *m)
{
    ring *r = &m->r;
    uint32_t old = *sr_rsp_prod(r), new = r->rsp_prod_pvt;

    r->notify = false;
    __atomic_thread_fence(__ATOMIC_RELEASE);  /* responses before index */
    *sr_rsp_prod(r) = new;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  /* index before rsp_event */
    if ((uint32_t)(new - *sr_rsp_event(r)) < (uint32_t)(new - old)) {
        xenevtchn_notify(xce, r->lport);
        m->st.v[TD_STAT_NOTIFY]++;
    }
}

static void respond(image *m, uint64_t id, uint8_t op, int16_t st)
{
    ring *r = &m->r;

    if (st != TD_RSP_OKAY)
        m->st.v[TD_STAT_ERRORS]++;
    td_rsp_encode(sr_entry(r, r->rsp_prod_pvt), id, op, st);
    r->rsp_prod_pvt++;
    r->notify = true;
}

/* An SQE, submitting what is queued if the submission queue is full. */
static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);

    if (!sqe) {
        io_uring_submit(&uring);
        sqe = io_uring_get_sqe(&uring);
    }
    return sqe;
}

static void io_finish(td_io *io)
{
    image *m = io->m;
    ring *r = &m->r;

    if (io->pages)
        xengnttab_unmap(xgt, io->pages, io->nsegs);
    io->pages = NULL;
    if (io->status == TD_RSP_OKAY && io->nsegs)
        m->st.v[io->to_guest ? TD_STAT_SECTORS_READ
                             : TD_STAT_SECTORS_WRITTEN] += io->nr_sectors;
    respond(m, io->id, io->op, io->status);
    if (io->barrier)
        r->barrier_wait = false;
    io->barrier = false;
    io->next_free = r->free_ios;
    r->free_ios = io;
    r->inflight--;
}

/*
 * Starts a validated request: maps its grants in one call and queues its
 * SQEs (a write that must be flushed is linked to its fdatasync).  Returns
 * its slot, or NULL if it was answered at once instead (mapping failed).
 */
static td_io *io_start(image *m, td_req *q)
{
    ring *r = &m->r;
    td_io *io = r->free_ios;
    struct io_uring_sqe *sqe;
    uint32_t refs[TD_MAX_SEGS];
    bool flush = q->op == TD_OP_FLUSH || q->op == TD_OP_WRITE_BARRIER;
    unsigned int i;

    r->free_ios = io->next_free;
    r->inflight++;
    io->id = q->id;
    io->op = q->op;
    io->nsegs = q->op == TD_OP_DISCARD ? 0 : q->nr_segments;
    io->to_guest = q->op == TD_OP_READ;
    io->status = TD_RSP_OKAY;
    io->nr_sectors = q->nr_sectors;
    io->pending = 0;
    io->pages = NULL;
    io->want = 0;

    switch (q->op) {
    case TD_OP_READ: m->st.v[TD_STAT_REQS_READ]++; break;
    case TD_OP_WRITE: m->st.v[TD_STAT_REQS_WRITE]++; break;
    case TD_OP_DISCARD: m->st.v[TD_STAT_REQS_DISCARD]++; break;
    default:
        m->st.v[TD_STAT_REQS_FLUSH]++;
        if (q->nr_segments)
            m->st.v[TD_STAT_REQS_WRITE]++;
    }

    if (io->nsegs) {
        for (i = 0; i < io->nsegs; i++)
            refs[i] = q->seg[i].gref;
        io->pages = xengnttab_map_domain_grant_refs(xgt, io->nsegs, r->domid,
                        refs, io->to_guest ? PROT_READ | PROT_WRITE
                                           : PROT_READ);
        if (!io->pages) {
            /* The guest chooses its grants: do not let it fill our log. */
            if (m->st.v[TD_STAT_ERRORS] < 10)
                ILOG(m, "cannot map the %u data grant(s) of a request: %s",
                     io->nsegs, strerror(errno));
            io->status = TD_RSP_ERROR;
            io->nsegs = 0;
            io_finish(io);
            return NULL;
        }
        for (i = 0; i < io->nsegs; i++) {
            io->iov[i].iov_base = io->pages + (size_t)i * TD_PAGE_SIZE +
                                  q->seg[i].first_sect * TD_SECTOR;
            io->iov[i].iov_len = (size_t)(q->seg[i].last_sect -
                                          q->seg[i].first_sect + 1) *
                                 TD_SECTOR;
            io->want += io->iov[i].iov_len;
        }
        sqe = get_sqe();
        if (io->to_guest)
            io_uring_prep_readv(sqe, m->fd, io->iov, io->nsegs,
                                q->sector * TD_SECTOR);
        else
            io_uring_prep_writev(sqe, m->fd, io->iov, io->nsegs,
                                 q->sector * TD_SECTOR);
        io_uring_sqe_set_data(sqe, io);
        if (flush)
            sqe->flags |= IOSQE_IO_LINK;
        io->pending++;
    }
    if (flush) {
        sqe = get_sqe();
        io_uring_prep_fsync(sqe, m->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data(sqe, io);
        io->pending++;
    } else if (q->op == TD_OP_DISCARD) {
        sqe = get_sqe();
        io_uring_prep_fallocate(sqe, m->fd,
                                FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                q->sector * TD_SECTOR,
                                q->nr_sectors * TD_SECTOR);
        io_uring_sqe_set_data(sqe, io);
        io->pending++;
    }
    if (!io->pending) {         /* an empty discard */
        io_finish(io);
        return NULL;
    }
    return io;
}

/* Handles up to BATCH requests; returns true if more are waiting (the
 * caller serves them in its next round). */
static bool ring_process(image *m)
{
    ring *r = &m->r;
    uint8_t entry[TD_ENTRY_MAX];
    unsigned int handled = 0;
    bool queued = false;
    uint32_t rp;
    td_req q;

    for (;;) {
        rp = *sr_req_prod(r);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);  /* index before entries */
        if (!td_ring_prod_ok(rp, r->rsp_prod_pvt, r->geom.nr_ents)) {
            ILOG(m, "frontend req_prod %u is impossible (responses at %u,"
                 " %u entries): disconnecting its ring", rp,
                 r->rsp_prod_pvt, r->geom.nr_ents);
            if (queued)
                io_uring_submit(&uring);
            ring_disconnect(m);
            return false;
        }
        while (r->req_cons != rp && handled < BATCH &&
               (!uring_ok || (r->free_ios && !r->barrier_wait))) {
            td_req_verdict v;

            /* Copied once: the frontend may rewrite the slot meanwhile. */
            memcpy(entry, sr_entry(r, r->req_cons), r->geom.entry_size);
            r->req_cons++;
            handled++;
            td_req_decode(r->proto, entry, &q);
            v = td_req_validate(&q, m->sectors, m->readonly, m->discard);
            if (v != TD_REQ_OK) {
                m->st.v[TD_STAT_BAD_REQUESTS]++;
                /* A guest must not fill the disk with our log. */
                if (m->st.v[TD_STAT_BAD_REQUESTS] <= 10)
                    ILOG(m, "refusing request op %u sector %" PRIu64
                         " segs %u: %s", q.op, q.sector, q.nr_segments,
                         td_req_verdict_name(v));
                respond(m, q.id, q.op, (int16_t)td_req_verdict_status(v));
                continue;
            }
            if (uring_ok && q.op == TD_OP_WRITE_BARRIER) {
                /* Everything before it completes first, nothing after it
                 * starts before it is on disk. */
                if (queued)
                    io_uring_submit(&uring);
                queued = false;
                uring_drain(r);
                if (!r->connected)
                    return false;
                td_io *io = io_start(m, &q);
                if (io) {
                    io->barrier = true;
                    r->barrier_wait = true;
                    queued = true;
                }
            } else if (uring_ok)
                queued |= io_start(m, &q) != NULL;
            else
                respond(m, q.id, q.op, do_request(m, &q));
        }
        if (queued)
            io_uring_submit(&uring);
        if (r->notify)
            ring_notify(m);
        /* Out of slots: completions bring us back (on_uring). */
        if (uring_ok && (!r->free_ios || r->barrier_wait))
            return false;
        if (handled >= BATCH && r->req_cons != *sr_req_prod(r))
            return true;        /* the next round goes on */
        /* RING_FINAL_CHECK_FOR_REQUESTS, after every batch whatever its
         * size: ask for an event, then look once more, so that a request
         * racing with us is not missed. */
        *sr_req_event(r) = r->req_cons + 1;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (r->req_cons == *sr_req_prod(r))
            return false;
        if (handled >= BATCH)
            return true;
    }
}

/* Reaps completions; answers the requests that are done. */
static void uring_reap(void)
{
    struct io_uring_cqe *cqe;
    int i;

    while (io_uring_peek_cqe(&uring, &cqe) == 0) {
        td_io *io = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&uring, cqe);
        if (!io)
            continue;
        /* The data SQE must move every byte (0 is short too); the
         * others return 0. */
        if (res < 0 || (io->want && (size_t)res != io->want)) {
            if (io->status == TD_RSP_OKAY)
                ILOG(io->m, "%s failed: %s", io->to_guest ? "read"
                     : io->nsegs ? "write" : "flush or discard",
                     res < 0 ? strerror(-res) : "short transfer");
            io->status = TD_RSP_ERROR;
        }
        if (io->want && res >= 0)
            io->want = 0;       /* the data part is done */
        if (--io->pending == 0)
            io_finish(io);
    }
    for (i = 0; i < MAX_IMAGES; i++)
        if (images[i].used && images[i].r.connected && images[i].r.notify)
            ring_notify(&images[i]);
}

static void uring_drain(ring *r)
{
    struct io_uring_cqe *cqe;

    while (uring_ok && r->inflight) {
        if (io_uring_wait_cqe(&uring, &cqe) < 0)
            break;
        uring_reap();
    }
}

/*
 * Each wakeup serves one batch (BATCH requests at most) of a ring; a ring
 * with more left is served again in the next round, after every other
 * ring with work has had its batch and the control socket, the signals
 * and the event channel have been polled.  So a frontend that keeps its
 * ring full (even of requests that fail at once) cannot delay another
 * image, a control request or a signal.
 */
static void ring_serve(image *m)
{
    m->r.more = m->r.connected && ring_process(m);
}

/* One round over the rings with work left; whether any has more. */
static bool rings_round(void)
{
    bool more = false;
    int i;

    for (i = 0; i < MAX_IMAGES; i++) {
        image *m = &images[i];
        if (m->used && m->r.connected && m->r.more)
            ring_serve(m);
        more |= m->used && m->r.more;
    }
    return more;
}

static void on_uring(void)
{
    uint64_t n;
    int i;

    if (read(uring_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        return;
    uring_reap();
    /*
     * Slots came free: rings that stopped for want of them go on.  Even a
     * ring with nothing new is looked at: one that stopped left req_event
     * behind, and the frontend notifies only when req_prod crosses it, so
     * without the final check in ring_process no event would ever come.
     */
    for (i = 0; i < MAX_IMAGES; i++) {
        image *m = &images[i];
        if (m->used && m->r.connected && m->r.free_ios && !m->r.barrier_wait &&
            !m->r.more)
            ring_serve(m);
    }
}

static void on_evtchn(void)
{
    xenevtchn_port_or_error_t port = xenevtchn_pending(xce);
    int i;

    if (port < 0)
        return;
    xenevtchn_unmask(xce, (evtchn_port_t)port);
    for (i = 0; i < MAX_IMAGES; i++) {
        image *m = &images[i];
        if (m->used && m->r.connected && m->r.lport == (evtchn_port_t)port &&
            !m->r.more)
            ring_serve(m);
    }
}

static void uring_setup(void)
{
    int rc = io_uring_queue_init(URING_DEPTH, &uring, 0);

    if (rc < 0) {
        logm("io_uring unavailable (%s): serving requests synchronously",
             strerror(-rc));
        return;
    }
    uring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (uring_efd < 0 || io_uring_register_eventfd(&uring, uring_efd)) {
        logm("io_uring eventfd: %s: serving requests synchronously",
             strerror(errno));
        io_uring_queue_exit(&uring);
        if (uring_efd >= 0) close(uring_efd);
        uring_efd = -1;
        return;
    }
    uring_ok = true;
}

/*----- images -----*/

static image *image_get(uint32_t minor)
{
    if (minor >= MAX_IMAGES || !images[minor].used)
        return NULL;
    return &images[minor];
}

/* "<format>:<absolute path>"; only raw images ("aio" or "raw"). */
static int image_open(const td_params *p, uint32_t *minor, char *why,
                      size_t wl)
{
    const char *colon = strchr(p->path, ':');
    bool ro = p->flags & TD_FLAG_RDONLY;
    struct stat stb;
    image *m = NULL;
    uint64_t bytes;
    int i, fd;

    if (!colon || colon[1] != '/') {
        snprintf(why, wl, "image \"%s\" is not <format>:<absolute path>",
                 p->path);
        return EINVAL;
    }
    if (strncmp(p->path, "aio:", 4) && strncmp(p->path, "raw:", 4)) {
        snprintf(why, wl, "image format \"%.*s\" not supported (raw only)",
                 (int)(colon - p->path), p->path);
        return EOPNOTSUPP;
    }
    if (p->flags & ~(uint32_t)(TD_FLAG_RDONLY | TD_FLAG_SHARED)) {
        snprintf(why, wl, "open flags 0x%x not supported", p->flags);
        return EOPNOTSUPP;
    }
    for (i = 0; i < MAX_IMAGES; i++) {
        if (!images[i].used) {
            m = &images[i];
            break;
        }
    }
    if (!m) {
        snprintf(why, wl, "already serving %d images", MAX_IMAGES);
        return ENOSPC;
    }
    fd = open(colon + 1, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &stb)) {
        int e = errno;
        snprintf(why, wl, "cannot open %s: %s", colon + 1, strerror(e));
        if (fd >= 0) close(fd);
        return e;
    }
    if (S_ISREG(stb.st_mode)) {
        bytes = (uint64_t)stb.st_size;
    } else if (S_ISBLK(stb.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &bytes)) {
            int e = errno;
            snprintf(why, wl, "cannot size %s: %s", colon + 1, strerror(e));
            close(fd);
            return e;
        }
    } else {
        snprintf(why, wl, "%s is neither a file nor a block device",
                 colon + 1);
        close(fd);
        return EINVAL;
    }
    memset(m, 0, sizeof(*m));
    m->used = true;
    m->fd = fd;
    m->sectors = bytes / TD_SECTOR;
    m->readonly = ro;
    /* Discard only if the file system can punch holes: try past the end,
     * which changes nothing. */
    m->discard = !ro &&
        !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                   (off_t)bytes, TD_SECTOR);
    snprintf(m->path, sizeof(m->path), "%s", p->path);
    *minor = (uint32_t)(m - images);
    logm("minor %u: opened %s, %" PRIu64 " sectors%s%s", *minor, m->path,
         m->sectors, ro ? ", read-only" : "", m->discard ? ", discard" : "");
    return 0;
}

static void image_close(image *m)
{
    ring_disconnect(m);
    close(m->fd);
    logm("minor %d: closed %s", (int)(m - images), m->path);
    memset(m, 0, sizeof(*m));
}

static void image_info(const image *m, td_image *out)
{
    out->sectors = m->sectors;
    out->sector_size = TD_SECTOR;
    out->info = m->readonly ? TD_INFO_READONLY : 0;
    out->features = TD_FEAT_FLUSH | TD_FEAT_BARRIER |
                    (m->discard ? TD_FEAT_DISCARD : 0);
}

/*----- control protocol -----*/

static void client_drop(client *c)
{
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
        logm("bug: cannot encode a %s: %s", td_msg_name(m->type),
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
    logm("%s (minor %d): error: %s", td_msg_name(req->type),
         req->minor == TD_NO_MINOR ? -1 : (int)req->minor, why);
    return client_send(c, &rsp);
}

static bool same_ring(const ring *r, const td_blkif *b)
{
    unsigned int i;

    if (r->domid != b->domid || r->devid != b->devid ||
        r->order != b->order || r->proto != b->proto || r->port != b->port)
        return false;
    for (i = 0; i < (1u << b->order); i++)
        if (r->gref[i] != b->gref[i])
            return false;
    return true;
}

static int handle(client *c, const td_msg *req)
{
    td_msg rsp = { .type = td_response_type(req->type),
                   .cookie = req->cookie, .minor = req->minor };
    char why[TD_STRING_LEN] = "";
    image *m = NULL;
    int err, i, n;

    switch (req->type) {
    case TD_MSG_PID:
        rsp.u.pid = (uint32_t)getpid();
        return client_send(c, &rsp);

    case TD_MSG_OPEN:
        err = image_open(&req->u.params, &rsp.minor, why, sizeof(why));
        if (err)
            return send_error(c, req, err, why);
        image_info(&images[rsp.minor], &rsp.u.image);
        return client_send(c, &rsp);

    case TD_MSG_LIST:
        for (i = n = 0; i < MAX_IMAGES; i++)
            n += images[i].used;
        rsp.u.list.count = n;
        if (!n) {
            rsp.u.list.minor = -1;
            return client_send(c, &rsp);
        }
        for (i = 0; i < MAX_IMAGES; i++) {
            if (!images[i].used)
                continue;
            rsp.u.list.minor = i;
            rsp.u.list.state = images[i].r.connected ? TD_IMG_CONNECTED
                                                     : TD_IMG_OPEN;
            snprintf(rsp.u.list.path, TD_PATH_LEN, "%s", images[i].path);
            if (client_send(c, &rsp))
                return -1;
        }
        return 0;

    case TD_MSG_EXIT:
        logm("asked to exit");
        stopping = true;
        return 0;

    case TD_MSG_DISK_INFO:
    case TD_MSG_STATS:
    case TD_MSG_CLOSE:
    case TD_MSG_XENBLKIF_CONNECT:
    case TD_MSG_XENBLKIF_DISCONNECT:
        m = image_get(req->minor);
        if (!m) {
            snprintf(why, sizeof(why), "no image with minor %d",
                     (int)req->minor);
            return send_error(c, req, ENOENT, why);
        }
        break;

    default:
        snprintf(why, sizeof(why), "message \"%s\" not supported",
                 td_msg_name(req->type));
        return send_error(c, req, EOPNOTSUPP, why);
    }

    switch (req->type) {
    case TD_MSG_DISK_INFO:
        image_info(m, &rsp.u.image);
        break;
    case TD_MSG_STATS:
        rsp.u.stats = m->st;
        break;
    case TD_MSG_CLOSE:
        image_close(m);
        break;
    case TD_MSG_XENBLKIF_CONNECT:
        if (m->r.connected) {
            /* A restarted devd connecting what is already connected. */
            if (same_ring(&m->r, &req->u.blkif))
                return send_error(c, req, EALREADY, "already connected");
            return send_error(c, req, EBUSY,
                              "connected to another ring: disconnect first");
        }
        err = ring_connect(m, &req->u.blkif, why, sizeof(why));
        if (err)
            return send_error(c, req, err, why);
        /* Requests the frontend queued before we came. */
        while (m->r.connected && ring_process(m))
            ;
        break;
    case TD_MSG_XENBLKIF_DISCONNECT:
        ring_disconnect(m);     /* idempotent */
        break;
    }
    return client_send(c, &rsp);
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
            logm("dropping a control client: %s", td_err_name(n));
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
        logm("refusing a control client of uid %ld (pid %ld)",
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
    for (i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].fd < 0) {
            clients[i].fd = fd;
            clients[i].len = 0;
            return;
        }
    }
    logm("too many control clients, refusing one");
    close(fd);
}

/*----- main -----*/

static int listen_on(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    mode_t old;
    int fd, r;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        logm("socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    unlink(path);
    /* 0600 whatever the caller's umask (we have one thread). */
    old = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r || listen(fd, 8)) {
        logm("cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tapdisk (-s SOCKET | -S FD) [-l LOGFILE]\n"
            "  -s SOCKET  listen for control clients on this Unix socket\n"
            "  -S FD      use the already listening socket FD (devd passes"
            " one)\n"
            "  -l LOGFILE append the log here instead of stderr\n");
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *logfile = NULL;
    struct pollfd pfd[4 + MAX_CLIENTS];
    sigset_t sigs;
    int sfd, opt, i, n;

    while ((opt = getopt(argc, argv, "s:S:l:h")) != -1) {
        switch (opt) {
        case 's': sock = optarg; break;
        case 'S': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > INT_MAX) {
                usage();
                return 2;
            }
            listen_fd = (int)v;
            break;
        }
        case 'l': logfile = optarg; break;
        default: usage(); return opt == 'h' ? 0 : 2;
        }
    }
    if ((!sock) == (listen_fd < 0) || optind != argc) {
        usage();
        return 2;
    }
    if (logfile && !freopen(logfile, "a", stderr))
        return 1;
    if (sock && (listen_fd = listen_on(sock)) < 0)
        return 1;
    fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    for (i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;
    uring_setup();
    logm("serving control clients%s%s", sock ? " on " : "", sock ? sock : "");

    while (!stopping) {
        bool more = rings_round();

        n = 0;
        pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
        pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        pfd[n++] = (struct pollfd){ .fd = xce ? xenevtchn_fd(xce) : -1,
                                    .events = POLLIN };
        for (i = 0; i < MAX_CLIENTS; i++)
            pfd[n++] = (struct pollfd){ .fd = clients[i].fd,
                                        .events = POLLIN };
        pfd[n++] = (struct pollfd){ .fd = uring_efd, .events = POLLIN };
        /* Rings with work left: look at everything else, then go on. */
        if (poll(pfd, (nfds_t)n, more ? 0 : -1) < 0) {
            if (errno == EINTR)
                continue;
            logm("poll: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents) {
            logm("terminating on a signal");
            break;
        }
        if (pfd[3 + MAX_CLIENTS].revents)
            on_uring();
        if (pfd[2].revents)
            on_evtchn();
        for (i = 0; i < MAX_CLIENTS; i++)
            if (pfd[3 + i].revents && clients[i].fd >= 0)
                on_client(&clients[i]);
        if (pfd[0].revents)
            on_listen();
    }

    /* Rings first: the guests see their disks go, not hang. */
    for (i = 0; i < MAX_IMAGES; i++)
        if (images[i].used)
            image_close(&images[i]);
    if (sock)
        unlink(sock);
    logm("exiting");
    return 0;
}
