/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * syscost: what the steps of a userspace backend's request cost in this
 * domain, for `make bench` (in the driver domain, under TCG: where each
 * system call of a PV guest goes through Xen and switches page tables).
 *
 *   syscost FILE
 *
 * Prints one line per step, "BENCH kind=drv-sys test=T value=US unit=us",
 * the mean of many rounds in microseconds:
 *   syscall   a system call that does nothing (getppid)
 *   read-4k   a 4 KiB preadv2(RWF_NOWAIT) of FILE from the page cache
 *   uring     an io_uring_enter that submits a NOP and reaps it
 *   wake      one process waking another through a pipe and going to
 *             sleep (half a ping-pong: a write, a wakeup, a read)
 * A request at queue depth 1 costs tapdisk one wakeup and three system
 * calls (its sleep in io_uring, the data's, the notify).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void report(const char *test, double t0, long n)
{
    printf("BENCH kind=drv-sys test=%s value=%.1f unit=us base=none\n", test,
           (now_us() - t0) / n);
}

static int cost_read(const char *path, long n)
{
    static char buf[4096] __attribute__((aligned(4096)));
    struct iovec v = { buf, sizeof(buf) };
    int fd = open(path, O_RDONLY);
    off_t size;
    double t0;
    long i;

    if (fd < 0 || (size = lseek(fd, 0, SEEK_END)) < (off_t)sizeof(buf))
        return -1;
    for (i = 0; i < size / 4096; i++)       /* into the page cache */
        if (pread(fd, buf, sizeof(buf), i * 4096) < 0)
            return -1;
    t0 = now_us();
    for (i = 0; i < n; i++)
        if (preadv2(fd, &v, 1, (i * 7919 % (size / 4096)) * 4096,
                    RWF_NOWAIT) != sizeof(buf))
            return -1;
    report("read-4k", t0, n);
    close(fd);
    return 0;
}

static int cost_uring(long n)
{
    struct io_uring ring;
    struct io_uring_cqe *cqe;
    double t0;
    long i;

    if (io_uring_queue_init(8, &ring, 0))
        return -1;
    t0 = now_us();
    for (i = 0; i < n; i++) {
        io_uring_prep_nop(io_uring_get_sqe(&ring));
        if (io_uring_submit_and_wait(&ring, 1) < 0 ||
            io_uring_peek_cqe(&ring, &cqe))
            return -1;
        io_uring_cqe_seen(&ring, cqe);
    }
    report("uring", t0, n);
    io_uring_queue_exit(&ring);
    return 0;
}

static int cost_wake(long n)
{
    int ab[2], ba[2];
    char c = 0;
    double t0;
    pid_t p;
    long i;

    if (pipe(ab) || pipe(ba))
        return -1;
    p = fork();
    if (p == 0) {
        while (read(ab[0], &c, 1) == 1 && write(ba[1], &c, 1) == 1)
            ;
        _exit(0);
    }
    t0 = now_us();
    for (i = 0; i < n; i++)
        if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
            return -1;
    report("wake", t0, 2 * n);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    return 0;
}

int main(int argc, char **argv)
{
    long n = 20000, i;
    double t0;

    if (argc != 2) {
        fprintf(stderr, "usage: syscost FILE\n");
        return 2;
    }
    t0 = now_us();
    for (i = 0; i < n; i++)
        syscall(SYS_getppid);
    report("syscall", t0, n);
    if (cost_read(argv[1], n) || cost_uring(n) || cost_wake(n / 4)) {
        perror("syscost");
        return 1;
    }
    return 0;
}
