/*
 * Ring polling: before its loop sleeps, tapdisk may watch the shared
 * rings (and its own completions) for a while instead, so that a
 * frontend's next request is seen without an event: the frontend makes
 * no notify hypercall, tapdisk no wakeup, read or unmask.  Off unless
 * TAPDISK_POLL_US=N (microseconds, at most TD_SPIN_MAX_US) asks for it;
 * and only while the rest of the driver domain leaves at least
 * TAPDISK_POLL_IDLE percent (default 50) of its CPUs idle, as blktap3's
 * poll_duration and poll_idle_threshold do.
 *
 * While it is on, a ring served is left without asking for an event
 * (req_event not moved: td_req.c calls it quiet), and the loop owes it
 * a look before it sleeps: td_spin until the window ends, then the
 * ring's final check (td_req_rearm).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_SPIN_H
#define TD_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#define TD_SPIN_MAX_US 10000u
#define TD_SPIN_IDLE_DEFAULT 50u

/* Reads TAPDISK_POLL_US and TAPDISK_POLL_IDLE; logs what it does. */
void td_spin_init(void);
/* Polling now: rings may be left quiet.  Looks at the domain's CPUs at
 * most every 200 ms. */
bool td_spin_active(void);
/* Watches until ready() says true or the window (TAPDISK_POLL_US) ends;
 * ready()'s verdict. */
bool td_spin(bool (*ready)(void));

/* What polling did, for the log: its window, looks that found work,
 * that ran out, and the time spent looking. */
typedef struct {
    uint64_t us, found, expired, ns;
} td_spin_stats;
void td_spin_get_stats(td_spin_stats *s);

/* Parses a whole decimal number in [0, max]; -1 if it is not one. */
long td_spin_parse(const char *s, unsigned long max);
/* From two samples of /proc/stat's "cpu" line (idle, total, in ticks)
 * and the ticks this process spent polling: the percent of the CPUs the
 * rest of the domain left idle. */
unsigned int td_spin_idle_pct(uint64_t idle0, uint64_t total0,
                              uint64_t idle1, uint64_t total1,
                              uint64_t spun_ticks);

#endif
