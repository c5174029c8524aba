/*
 * Ring polling (see td_spin.h).
 *
 * The window is measured with the precise clock, which in a PV driver
 * domain without a stable TSC is a system call (no vDSO clock but the
 * coarse one): it is read once every SPIN_CLOCK_EVERY looks.  Whether the
 * domain is idle enough is read from /proc/stat at most every
 * TD_SPIN_SAMPLE_MS, the coarse clock deciding when: the time this
 * process spent polling counts as idle (it would be, but for polling), so
 * that polling does not switch itself off.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tapdisk.h"
#include "td_spin.h"

#define TD_SPIN_SAMPLE_MS 200u
#define SPIN_CLOCK_EVERY 64u

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif

static uint64_t window_ns;      /* 0: off */
static unsigned int idle_min;   /* percent */
static bool idle_ok;
static uint64_t sampled_at;     /* coarse clock, ns */
static uint64_t s_idle, s_total, s_spun_ns;     /* at the last sample */
static td_spin_stats st;

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long td_spin_parse(const char *s, unsigned long max)
{
    unsigned long v;
    char *end;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    return (long)v;
}

unsigned int td_spin_idle_pct(uint64_t idle0, uint64_t total0,
                              uint64_t idle1, uint64_t total1,
                              uint64_t spun_ticks)
{
    uint64_t di, dt;

    if (total1 <= total0 || idle1 < idle0)
        return 0;               /* no time passed, or a wrapped counter */
    dt = total1 - total0;
    di = idle1 - idle0 + spun_ticks;
    return di >= dt ? 100u : (unsigned int)(di * 100 / dt);
}

/* /proc/stat's first line: the idle ticks (idle + iowait) and all. */
static bool cpu_ticks(uint64_t *idle, uint64_t *total)
{
    unsigned long long v[8] = { 0 };
    FILE *f = fopen("/proc/stat", "re");
    int n;

    if (!f)
        return false;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 5)
        return false;
    *idle = v[3] + v[4];
    *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    return true;
}

static void sample(void)
{
    uint64_t idle, total, now = clock_ns(CLOCK_MONOTONIC_COARSE);
    long hz = sysconf(_SC_CLK_TCK);

    if (sampled_at && now - sampled_at < TD_SPIN_SAMPLE_MS * 1000000ull)
        return;
    sampled_at = now;
    if (!cpu_ticks(&idle, &total)) {
        idle_ok = idle_min == 0;        /* cannot tell: only if asked */
        return;
    }
    if (s_total)
        idle_ok = td_spin_idle_pct(s_idle, s_total, idle, total,
                                   (st.ns - s_spun_ns) *
                                   (uint64_t)(hz > 0 ? hz : 100) /
                                   1000000000ull) >= idle_min;
    s_idle = idle;
    s_total = total;
    s_spun_ns = st.ns;
}

void td_spin_init(void)
{
    const char *us = getenv("TAPDISK_POLL_US"), *idle =
        getenv("TAPDISK_POLL_IDLE");
    long u = us ? td_spin_parse(us, TD_SPIN_MAX_US) : 0;
    long i = idle ? td_spin_parse(idle, 100) : TD_SPIN_IDLE_DEFAULT;

    window_ns = 0;
    if (u < 0 || i < 0) {
        td_log("ring polling: off (TAPDISK_POLL_US takes 0 to %u"
               " microseconds, TAPDISK_POLL_IDLE 0 to 100 percent)",
               TD_SPIN_MAX_US);
        return;
    }
    window_ns = (uint64_t)u * 1000;
    idle_min = (unsigned int)i;
    /* The first window opens at once; the first sample only starts the
     * count. */
    idle_ok = true;
    if (window_ns)
        td_log("ring polling: up to %ld us before sleeping, while the"
               " domain leaves %u%% of its CPUs idle", u, idle_min);
    else
        td_log("ring polling: off");
}

bool td_spin_active(void)
{
    if (!window_ns)
        return false;
    sample();
    return idle_ok;
}

bool td_spin(bool (*ready)(void))
{
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), t = t0;
    unsigned int n;
    bool found = false;

    for (n = 1;; n++) {
        if (ready()) {
            found = true;
            break;
        }
        cpu_relax();
        if (n % SPIN_CLOCK_EVERY == 0 &&
            (t = clock_ns(CLOCK_MONOTONIC)) - t0 >= window_ns)
            break;
    }
    if (found) {
        st.found++;
        t = n >= SPIN_CLOCK_EVERY ? clock_ns(CLOCK_MONOTONIC) : t0;
    } else {
        st.expired++;
    }
    st.ns += t - t0;
    return found;
}

void td_spin_get_stats(td_spin_stats *s)
{
    *s = st;
    s->us = window_ns / 1000;
}
