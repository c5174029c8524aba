/*
 * Unit tests: tapdisk's engine (td_engine.c) writing at once, and
 * completing the loop's own waits, on a real file and a real io_uring.  The coarse clock and pwritev2 are the test's
 * own (they take the place of libc's), so that a write can be made to
 * take as long as the test wants, or to move fewer bytes than asked.
 */
#define _GNU_SOURCE
#include "test_helpers.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "td_engine.h"

td_disk td_disks[TD_MAX_DISKS];

void td_log(const char *fmt, ...)
{
}

static uint64_t fake_now = 1000000000ull;   /* the coarse clock, ns */
static uint64_t write_takes;                 /* each pwritev2 advances it */
static unsigned int writes_made, short_by;

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (id != CLOCK_MONOTONIC_COARSE)
        return (int)syscall(SYS_clock_gettime, id, ts);
    ts->tv_sec = (time_t)(fake_now / 1000000000ull);
    ts->tv_nsec = (long)(fake_now % 1000000000ull);
    return 0;
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off,
                 int flags)
{
    struct iovec v = iov[0];

    /* ext4's answer to a non-blocking buffered write in Linux 6.1. */
    if (flags & RWF_NOWAIT) {
        errno = EOPNOTSUPP;
        return -1;
    }
    writes_made++;
    fake_now += write_takes;
    v.iov_len -= short_by;
    return syscall(SYS_pwritev2, fd, &v, 1, (long)off, 0L, flags);
}

static unsigned int done;
static void on_done(td_io *io)
{
    done++;
}

static td_disk *d;
static td_io io;
static uint8_t data[4096];

static int setup(void **s)
{
    char path[] = "/tmp/test_td_engine.XXXXXX";

    td_engine_init(on_done);
    if (td_engine_fd() < 0)
        return 0;               /* no io_uring here: each test skips */
    d = &td_disks[0];
    d->used = true;
    d->fd = mkstemp(path);
    unlink(path);
    return d->fd < 0 || ftruncate(d->fd, 1 << 20);
}

/* Starts a 4 KiB write of byte c at sector 8 * n. */
static void start_block(int c, uint64_t n)
{
    memset(data, c, sizeof(data));
    memset(&io, 0, sizeof(io));
    io.d = d;
    io.status = TD_RSP_OKAY;
    io.sector = 8 * n;
    io.nr_sectors = 8;
    io.niov = 1;
    io.nsegs = 1;
    io.want = sizeof(data);
    io.iov[0] = (struct iovec){ .iov_base = data, .iov_len = sizeof(data) };
    done = 0;
    td_engine_start(&io);
}

/* The same; true once it is done. */
static bool write_block(int c, uint64_t n)
{
    start_block(c, n);
    td_engine_submit();
    while (!done && td_engine_wait() == 0)
        ;
    return done == 1;
}

static int byte_at(uint64_t n)
{
    uint8_t b = 0;

    assert_int_equal(pread(d->fd, &b, 1, (off_t)(n * 4096 + 4095)), 1);
    return b;
}

static void test_slow_write_sends_the_next_to_io_uring(void **s)
{
    if (td_engine_fd() < 0)
        skip();
    d->no_nowait_write = true;
    /* Fast: made at once. */
    write_takes = 100000;
    assert_true(write_block('a', 0));
    assert_int_equal(writes_made, 1);
    assert_int_equal(d->r.moved_now, 1);
    /* Slow (10 ms): made, and counted. */
    write_takes = 10000000;
    assert_true(write_block('b', 1));
    assert_int_equal(writes_made, 2);
    assert_int_equal(d->r.slow_writes, 1);
    /* For the next second io_uring makes them: not this pwritev2. */
    fake_now += 999000000ull;
    assert_true(write_block('c', 2));
    assert_int_equal(writes_made, 2);
    assert_int_equal(d->r.moved_later, 1);
    /* Then at once again. */
    fake_now += 2000000ull;
    write_takes = 0;
    assert_true(write_block('d', 3));
    assert_int_equal(writes_made, 3);
    assert_int_equal(d->r.moved_now, 3);
    assert_int_equal(d->r.slow_writes, 1);
    /* Every byte where it belongs, whichever way it went. */
    assert_int_equal(byte_at(0), 'a');
    assert_int_equal(byte_at(1), 'b');
    assert_int_equal(byte_at(2), 'c');
    assert_int_equal(byte_at(3), 'd');
    assert_int_equal(io.status, TD_RSP_OKAY);
}

/* A write at once that moved only part is made again, whole, by
 * io_uring: the same bytes, so no harm. */
static void test_short_inline_write_is_made_again(void **s)
{
    if (td_engine_fd() < 0)
        skip();
    d->no_nowait_write = true;
    fake_now += 2000000000ull;
    write_takes = 0;
    short_by = 512;
    assert_true(write_block('e', 4));
    short_by = 0;
    assert_int_equal(d->r.moved_later, 2);
    assert_int_equal(io.status, TD_RSP_OKAY);
    assert_int_equal(byte_at(4), 'e');
}

/* The loop's own waits (a read, a poll, a write) complete in the same
 * reaps as the disk's I/O, each to its own: tapdisk's loop sleeps in
 * io_uring on all of them at once. */
static void test_watches_complete_beside_io(void **s)
{
    td_watch rd = { 0 }, pl = { 0 }, wr = { 0 };
    char buf[16] = { 0 };
    int a[2], b[2];

    if (td_engine_fd() < 0)
        skip();
    assert_int_equal(pipe2(a, O_NONBLOCK), 0);
    assert_int_equal(pipe2(b, O_NONBLOCK), 0);
    td_engine_read(&rd, a[0], buf, sizeof(buf));
    td_engine_poll(&pl, b[0]);
    assert_int_equal(td_engine_sleep(false), 0);
    td_engine_reap();
    /* Nothing to read or poll yet: armed, not fired. */
    assert_true(rd.armed && !rd.fired && pl.armed && !pl.fired);

    /* A write through a watch and a disk write through io_uring (writes
     * at once are off for now), in one sleep. */
    d->no_nowait_write = true;
    d->inline_after = fake_now + 10000000000ull;
    td_engine_write(&wr, a[1], "ports!", 6);
    start_block('f', 5);
    assert_int_equal(done, 0);
    while (!(rd.fired && wr.fired && done)) {
        assert_int_equal(td_engine_sleep(true), 0);
        td_engine_reap();
    }
    assert_int_equal(wr.res, 6);
    assert_int_equal(rd.res, 6);
    assert_memory_equal(buf, "ports!", 6);
    assert_false(rd.armed || wr.armed);
    assert_int_equal(io.status, TD_RSP_OKAY);
    assert_int_equal(byte_at(5), 'f');
    /* The poll fires on its own pipe only. */
    assert_true(pl.armed && !pl.fired);
    assert_int_equal(write(b[1], "x", 1), 1);
    while (!pl.fired) {
        assert_int_equal(td_engine_sleep(true), 0);
        td_engine_reap();
    }
    assert_true(pl.res & POLLIN);
    assert_false(pl.armed);
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_write_sends_the_next_to_io_uring),
        cmocka_unit_test(test_short_inline_write_is_made_again),
        cmocka_unit_test(test_watches_complete_beside_io),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
