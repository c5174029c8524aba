/*
 * Per-device log rate limit (see td_ratelimit.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include <time.h>

#include "td_ratelimit.h"

bool td_ratelimit_ok(td_ratelimit *rl, uint64_t now_ms,
                     unsigned int *dropped_r)
{
    /* A new window when the old one is over (or the clock went back). */
    if (!rl->started || now_ms < rl->start_ms ||
        now_ms - rl->start_ms >= TD_RL_WINDOW_MS) {
        rl->started = true;
        rl->start_ms = now_ms;
        rl->used = 0;
    }
    if (rl->used >= TD_RL_BURST) {
        if (rl->dropped < UINT32_MAX)
            rl->dropped++;
        return false;
    }
    rl->used++;
    *dropped_r = rl->dropped;
    rl->dropped = 0;
    return true;
}

uint64_t td_ratelimit_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
