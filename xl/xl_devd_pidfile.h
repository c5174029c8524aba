/*
 * The `xl devd` pidfile: created atomically, locked for the daemon's life.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef XL_DEVD_PIDFILE_H
#define XL_DEVD_PIDFILE_H

#include <sys/types.h>

typedef struct {
    int fd;             /* -1 when not held */
    char *path;
} xl_pidfile;

#define XL_PIDFILE_BUSY 1   /* another live process holds the lock */

void xl_pidfile_init(xl_pidfile *pf);

/*
 * Creates (if needed) and locks path.  0: locked, the file is ours.
 * XL_PIDFILE_BUSY: another process holds it; *holder_r is the pid it
 * wrote (0 if it has not written one yet).  Negative errno on failure.
 */
int xl_pidfile_acquire(xl_pidfile *pf, const char *path, pid_t *holder_r);

/* Replaces the content with pid (after daemonizing, the daemon's). */
int xl_pidfile_write(xl_pidfile *pf, pid_t pid);

/* Reads the pid a pidfile names; 0 if none or junk. */
pid_t xl_pidfile_read(const char *path);

/* Unlinks the file (still locked, so no one races us) and unlocks. */
void xl_pidfile_release(xl_pidfile *pf);

#endif
