/*
 * The I/O engine: runs a request's operations on its disk's file.  Data
 * the page cache can move without blocking moves at once (RWF_NOWAIT).
 * The rest goes to io_uring: queued (td_engine_start), submitted together
 * (td_engine_submit) and completed later (td_engine_reap); without
 * io_uring (an old kernel, seccomp) each runs at once.  Either way a
 * request whose operations are all done goes to the callback given to
 * td_engine_init, with io->status set.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_ENGINE_H
#define TD_ENGINE_H

#include "tapdisk.h"

void td_engine_init(void (*done)(td_io *io));
/* The fd that is readable while completions wait (the ring's own), or
 * -1. */
int td_engine_fd(void);

/*
 * Starts io: its data (io->iov, to or from io->sector) if it has any,
 * then an fdatasync if io->flush, or a hole punch if it is a discard.
 */
void td_engine_start(td_io *io);
/* Submits what was started; reaps what completed at once. */
void td_engine_submit(void);
/* Hands every completed request to the callback. */
void td_engine_reap(void);
/* Waits for at least one completion and reaps; -1 if there is nothing
 * to wait for (the synchronous engine). */
int td_engine_wait(void);

/*
 * The loop's own waits, so that it sleeps in io_uring alone: a poll of an
 * fd, or a read or a write of one.  Each is armed once and completes
 * once: the reap clears armed, sets fired and res (the poll mask, the
 * bytes moved, or -errno).  The caller keeps w and any buffer alive and
 * untouched while w is armed.  Only with io_uring (td_engine_fd() >= 0).
 */
typedef struct td_watch {
    bool armed, fired;
    int res;
} td_watch;

void td_engine_poll(td_watch *w, int fd);
void td_engine_read(td_watch *w, int fd, void *buf, unsigned int len);
void td_engine_write(td_watch *w, int fd, const void *buf, unsigned int len);
/* Submits what is queued and, if wait and nothing has completed yet,
 * sleeps until something does; the caller reaps.  -errno on failure. */
int td_engine_sleep(bool wait);
/* Whether completions wait to be reaped (no system call). */
bool td_engine_ready(void);

#endif
