/*
 * A per-device limit on log lines that a guest can cause (a frontend that
 * connects and closes in a loop, requests that fail): at most
 * TD_RL_BURST lines per TD_RL_WINDOW_MS, and the first line after a
 * window in which some were dropped says how many.  Pure: the caller
 * passes the time, so it is unit-tested on its own.  Used by tapdisk and
 * by devd's ring server.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef TD_RATELIMIT_H
#define TD_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define TD_RL_BURST 10
#define TD_RL_WINDOW_MS 60000u

typedef struct {
    uint64_t start_ms;          /* the current window's start */
    unsigned int used;          /* lines logged in it */
    unsigned int dropped;       /* lines dropped since the last one logged */
    bool started;
} td_ratelimit;

/*
 * Whether a line may be logged at now_ms (a monotonic clock).  When it
 * may, *dropped_r is how many were dropped before it, and that count
 * starts again from 0.
 */
bool td_ratelimit_ok(td_ratelimit *rl, uint64_t now_ms,
                     unsigned int *dropped_r);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t td_ratelimit_now(void);

#endif
