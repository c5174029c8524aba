/*
 * The I/O engine (see td_engine.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "td_engine.h"

#define URING_DEPTH 512
/* Writes made at once: see write_inline() */
#define WRITE_SLOW_NS 2000000ull        /* 2 ms, or the clock's tick */
#define WRITE_BACKOFF_NS 1000000000ull  /* 1 s */

static struct io_uring uring;
static bool uring_ok;
static void (*done_cb)(td_io *io);
static uint64_t write_slow_ns;          /* 0: writes go to io_uring */

static void writes_init(void);

void td_engine_init(void (*done)(td_io *io))
{
    int rc = io_uring_queue_init(URING_DEPTH, &uring, 0);

    done_cb = done;
    if (rc < 0) {
        td_log("io_uring unavailable (%s): serving requests synchronously",
               strerror(-rc));
        return;
    }
    uring_ok = true;
    writes_init();
}

/* The ring's own fd: readable while completions wait to be reaped. */
int td_engine_fd(void)
{
    return uring_ok ? uring.ring_fd : -1;
}

static void fail(td_io *io, const char *what, int err)
{
    if (io->status == TD_RSP_OKAY)
        DLOG(io->d, "%s at sector %" PRIu64 " failed: %s", what, io->sector,
             err ? strerror(err) : "short transfer");
    io->status = TD_RSP_ERROR;
}

static const char *what_of(const td_io *io)
{
    return io->to_guest ? "read" : io->want ? "write"
           : io->discard ? "discard" : "flush";
}

/* The file ranges io moves: the extents its format mapped, or its own
 * range, made its one extent here.  Sets io->want to the bytes its data
 * must move. */
static unsigned int extents(td_io *io)
{
    unsigned int i;

    if (!io->mapped) {
        if (!io->niov && !(io->discard && io->nr_sectors))
            return 0;
        io->ext[0] = (td_ext){ .off = io->sector * TD_SECTOR,
                               .len = io->niov ? io->want
                                               : io->nr_sectors * TD_SECTOR,
                               .iov = io->iov, .niov = io->niov };
        return 1;
    }
    io->want = 0;
    for (i = 0; i < io->nexts; i++)
        if (io->ext[i].niov)
            io->want += io->ext[i].len;
    return io->nexts;
}

/* The data of io, at once; flags: preadv2/pwritev2's.  The bytes moved
 * (short of io->want if an extent fell short), or -1 with errno. */
static ssize_t move_data(td_io *io, unsigned int n, int flags)
{
    size_t total = 0;
    unsigned int i;

    for (i = 0; i < n; i++) {
        const td_ext *e = &io->ext[i];
        ssize_t r;

        if (!e->niov)
            continue;
        r = io->to_guest
            ? preadv2(io->d->fd, e->iov, (int)e->niov, (off_t)e->off, flags)
            : pwritev2(io->d->fd, e->iov, (int)e->niov, (off_t)e->off,
                       flags);
        if (r < 0)
            return -1;
        total += (size_t)r;
        if ((uint64_t)r != e->len) {
            errno = 0;
            return (ssize_t)total;
        }
    }
    return (ssize_t)total;
}

/* Punches io's extents. */
static int punch(td_io *io, unsigned int n)
{
    unsigned int i;

    for (i = 0; i < n; i++)
        if (fallocate(io->d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)io->ext[i].off, (off_t)io->ext[i].len))
            return errno;
    return 0;
}

/*----- without io_uring: each operation at once -----*/

static void run_sync(td_io *io, unsigned int n)
{
    td_disk *d = io->d;
    ssize_t moved;
    int err;

    if (io->want) {
        moved = move_data(io, n, 0);
        /* Every byte, or an error: 0 is short too. */
        if (moved != (ssize_t)io->want)
            fail(io, what_of(io), moved < 0 ? errno : 0);
    }
    if (io->status == TD_RSP_OKAY && io->flush && fdatasync(d->fd))
        fail(io, "flush", errno);
    if (io->discard && (err = punch(io, n)))
        fail(io, "discard", err);
    done_cb(io);
}

/*----- io_uring -----*/

/* An SQE whose user_data is data, submitting what is queued if the
 * submission queue is full. */
static struct io_uring_sqe *next_sqe(void *data)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&uring);

    if (!sqe) {
        io_uring_submit(&uring);
        sqe = io_uring_get_sqe(&uring);
    }
    io_uring_sqe_set_data(sqe, data);
    return sqe;
}

static struct io_uring_sqe *get_sqe(td_io *io)
{
    io->pending++;
    return next_sqe(io);
}

/*
 * A file system without non-blocking buffered writes (ext4 in Linux 6.1)
 * has io_uring hand every write to a worker thread: two more wakeups a
 * write.  So writes are made here instead, blocking the loop, for as long
 * as they stay fast: one that took longer than write_slow_ns (dirty pages
 * throttled, a slow disk) sends the disk's writes back to io_uring for
 * WRITE_BACKOFF_NS, so that control requests and signals wait at most one
 * slow write, or one batch (64) of fast ones.  TAPDISK_WRITES=uring
 * leaves every write to io_uring.
 *
 * The clock is the coarse one: a PV guest on a host whose TSC Xen does
 * not call stable has no vDSO clock but the coarse one, and the precise
 * one would be two more system calls a write.  A difference of more than
 * one tick is a write that took longer than a tick: so "slow" is more
 * than 2 ms or one tick, whichever is longer; one that took up to two
 * ticks (8 ms at HZ=250) may still pass as fast.
 */
static void writes_init(void)
{
    const char *w = getenv("TAPDISK_WRITES");
    struct timespec res;

    if (w && !strcmp(w, "uring")) {
        td_log("writes: through io_uring (TAPDISK_WRITES=uring)");
        return;
    }
    write_slow_ns = WRITE_SLOW_NS;
    if (!clock_getres(CLOCK_MONOTONIC_COARSE, &res) && !res.tv_sec &&
        (uint64_t)res.tv_nsec > write_slow_ns)
        write_slow_ns = (uint64_t)res.tv_nsec;
    td_log("writes: inline while they take under %" PRIu64 " ms",
           (write_slow_ns + 999999) / 1000000);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A blocking write while writes stay fast; -1 when not now. */
static ssize_t write_inline(td_io *io, unsigned int n)
{
    td_disk *d = io->d;
    uint64_t t0, t1;
    ssize_t moved;

    if (!write_slow_ns || (t0 = now_ns()) < d->inline_after)
        return -1;
    moved = move_data(io, n, 0);
    t1 = now_ns();
    if (t1 - t0 > write_slow_ns) {
        d->inline_after = t1 + WRITE_BACKOFF_NS;
        d->r.slow_writes++;
    }
    return moved;
}

/*
 * Data the page cache can take or give at once moves here, without the
 * trip through io_uring (a submit, a wakeup, a reap): RWF_NOWAIT says
 * EAGAIN rather than block.  Anything else (would block, moved only part,
 * failed, a file system without non-blocking writes) goes to io_uring,
 * which does it all again: the same bytes, so no harm.
 */
static bool try_now(td_io *io, unsigned int n)
{
    td_disk *d = io->d;
    ssize_t moved;

    if (io->flush || io->discard)
        return false;
    if (!io->want) {            /* the format gave it all: zeros */
        done_cb(io);
        return true;
    }
    if (!io->to_guest && d->no_nowait_write) {
        moved = write_inline(io, n);
    } else {
        moved = move_data(io, n, RWF_NOWAIT);
        if (moved < 0 && errno == EOPNOTSUPP && !io->to_guest)
            d->no_nowait_write = true;
    }
    if (moved != (ssize_t)io->want)
        return false;
    done_cb(io);
    return true;
}

/* One SQE a data extent; a write that must be flushed goes first, so
 * every one links to the next. */
static void queue_data(td_io *io, unsigned int n)
{
    struct io_uring_sqe *sqe;
    unsigned int i;

    for (i = 0; i < n; i++) {
        const td_ext *e = &io->ext[i];

        if (!e->niov)
            continue;
        sqe = get_sqe(io);
        if (io->to_guest)
            io_uring_prep_readv(sqe, io->d->fd, e->iov, e->niov, e->off);
        else
            io_uring_prep_writev(sqe, io->d->fd, e->iov, e->niov, e->off);
        if (io->flush)
            sqe->flags |= IOSQE_IO_LINK;
    }
}

void td_engine_start(td_io *io)
{
    int fd = io->d->fd;
    unsigned int i, n = extents(io);
    struct io_uring_sqe *sqe;

    io->pending = 0;
    io->moved = 0;
    if (!uring_ok) {
        run_sync(io, n);
        return;
    }
    if (io->niov && try_now(io, n)) {
        io->d->r.moved_now++;
        return;
    }
    if (io->want) {
        io->d->r.moved_later++;
        queue_data(io, n);
    }
    if (io->flush) {
        sqe = get_sqe(io);
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    } else if (io->discard) {
        for (i = 0; i < n; i++) {
            sqe = get_sqe(io);
            io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE |
                                    FALLOC_FL_KEEP_SIZE, io->ext[i].off,
                                    io->ext[i].len);
        }
    }
    if (!io->pending)           /* an empty discard */
        done_cb(io);
}

static void reap_cqes(void);

void td_engine_submit(void)
{
    if (!uring_ok)
        return;
    io_uring_submit(&uring);
    /* What completed inside the submit is answered now rather than after
     * one more turn of the loop. */
    reap_cqes();
}

static void complete(td_io *io, int res)
{
    /* The data operations must move every byte (0 is short too); the
     * others return 0. */
    if (res < 0)
        fail(io, io->moved < io->want ? what_of(io)
                 : io->discard ? "discard" : "flush", -res);
    else
        io->moved += (size_t)res;
    if (--io->pending)
        return;
    if (io->moved != io->want)
        fail(io, what_of(io), 0);
    done_cb(io);
}

/* A watch's user_data has its low bit set: td_io and td_watch are both
 * aligned, so neither ever has it. */
#define WATCH_TAG 1u

static void reap_cqes(void)
{
    struct io_uring_cqe *cqe;

    while (io_uring_peek_cqe(&uring, &cqe) == 0) {
        uintptr_t ud = (uintptr_t)io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&uring, cqe);
        if (ud & WATCH_TAG) {
            td_watch *w = (td_watch *)(ud & ~(uintptr_t)WATCH_TAG);
            w->armed = false;
            w->fired = true;
            w->res = res;
        } else if (ud) {
            complete((td_io *)ud, res);
        }
    }
}

void td_engine_reap(void)
{
    if (uring_ok)
        reap_cqes();
}

/*----- the loop's own waits -----*/

static struct io_uring_sqe *watch_sqe(td_watch *w)
{
    w->armed = true;
    w->fired = false;
    return next_sqe((void *)((uintptr_t)w | WATCH_TAG));
}

void td_engine_poll(td_watch *w, int fd)
{
    io_uring_prep_poll_add(watch_sqe(w), fd, POLLIN);
}

void td_engine_read(td_watch *w, int fd, void *buf, unsigned int len)
{
    /* Offset -1: the file's position, for devices that have none. */
    io_uring_prep_read(watch_sqe(w), fd, buf, len, (uint64_t)-1);
}

void td_engine_write(td_watch *w, int fd, const void *buf, unsigned int len)
{
    io_uring_prep_write(watch_sqe(w), fd, buf, len, (uint64_t)-1);
}

int td_engine_sleep(bool wait)
{
    int rc;

    /* One system call: what is queued goes in, and the loop sleeps. */
    if (wait && !io_uring_cq_ready(&uring))
        rc = io_uring_submit_and_wait(&uring, 1);
    else
        rc = io_uring_submit(&uring);
    /* Interrupted, or short of memory or of CQ room: reaping and coming
     * back is the cure. */
    if (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
        return 0;
    return rc < 0 ? rc : 0;
}

bool td_engine_ready(void)
{
    return uring_ok && io_uring_cq_ready(&uring) > 0;
}

int td_engine_wait(void)
{
    struct io_uring_cqe *cqe;

    if (!uring_ok || io_uring_wait_cqe(&uring, &cqe) < 0)
        return -1;
    td_engine_reap();
    return 0;
}
