/*
 * The `xl devd` pidfile.
 *
 * The lock (flock on the open file) is what says "a devd runs"; the pid
 * inside is for humans and `xl devd --status`.  A stale file left by a
 * crashed daemon is not locked and is simply taken over.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xl_devd_pidfile.h"

void xl_pidfile_init(xl_pidfile *pf)
{
    pf->fd = -1;
    pf->path = NULL;
}

static pid_t parse_pid(const char *buf)
{
    char *end;
    long v;

    if (buf[0] < '1' || buf[0] > '9')
        return 0;
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno || v <= 0 || v > INT_MAX || (*end && *end != '\n'))
        return 0;
    return (pid_t)v;
}

static pid_t read_pid_fd(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return parse_pid(buf);
}

pid_t xl_pidfile_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    pid_t pid;

    if (fd < 0)
        return 0;
    pid = read_pid_fd(fd);
    close(fd);
    return pid;
}

int xl_pidfile_acquire(xl_pidfile *pf, const char *path, pid_t *holder_r)
{
    struct stat fst, pst;
    int fd, tries;

    *holder_r = 0;
    for (tries = 0; tries < 100; tries++) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            int e = errno;
            if (e == EWOULDBLOCK) {
                *holder_r = read_pid_fd(fd);
                close(fd);
                return XL_PIDFILE_BUSY;
            }
            close(fd);
            return -e;
        }
        /* The previous holder may have unlinked it between our open and
         * our lock: then we locked an orphan inode, try again. */
        if (fstat(fd, &fst) == 0 && stat(path, &pst) == 0 &&
            fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino) {
            pf->fd = fd;
            free(pf->path);
            pf->path = strdup(path);
            if (!pf->path) {
                close(fd);
                pf->fd = -1;
                return -ENOMEM;
            }
            return 0;
        }
        close(fd);
    }
    return -EAGAIN;
}

int xl_pidfile_write(xl_pidfile *pf, pid_t pid)
{
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);

    if (pf->fd < 0)
        return -EBADF;
    /* One write at offset 0 of an empty file: a reader sees nothing or
     * the whole line, never a mix of two pids. */
    if (ftruncate(pf->fd, 0))
        return -errno;
    if (pwrite(pf->fd, buf, (size_t)len, 0) != len)
        return errno ? -errno : -EIO;
    if (fsync(pf->fd))
        return -errno;
    return 0;
}

void xl_pidfile_release(xl_pidfile *pf)
{
    if (pf->fd >= 0) {
        if (pf->path)
            unlink(pf->path);
        close(pf->fd);
        pf->fd = -1;
    }
    free(pf->path);
    pf->path = NULL;
}
