/* Unit tests: tapdisk's ring polling (td_spin.c): its settings, parsed
 * strictly; the idle share it polls under; a window that ends, and a look
 * that ends it early. */
#define _GNU_SOURCE
#include "test_helpers.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "td_spin.h"

static char last_log[256];

void td_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_log, sizeof(last_log), fmt, ap);
    va_end(ap);
}

static void test_parse(void **s)
{
    assert_int_equal(td_spin_parse("0", 100), 0);
    assert_int_equal(td_spin_parse("250", 10000), 250);
    assert_int_equal(td_spin_parse("10000", 10000), 10000);
    assert_int_equal(td_spin_parse("10001", 10000), -1);
    assert_int_equal(td_spin_parse("", 100), -1);
    assert_int_equal(td_spin_parse(NULL, 100), -1);
    assert_int_equal(td_spin_parse("-1", 100), -1);
    assert_int_equal(td_spin_parse("+5", 100), -1);
    assert_int_equal(td_spin_parse(" 5", 100), -1);
    assert_int_equal(td_spin_parse("5us", 100), -1);
    assert_int_equal(td_spin_parse("99999999999999999999999", 100), -1);
}

static void test_idle_pct(void **s)
{
    /* 1 s of two CPUs at 100 Hz: 200 ticks, 150 of them idle. */
    assert_int_equal(td_spin_idle_pct(1000, 5000, 1150, 5200, 0), 75);
    /* 30 of the 50 busy ticks were this process polling: idle for it. */
    assert_int_equal(td_spin_idle_pct(1000, 5000, 1150, 5200, 30), 90);
    assert_int_equal(td_spin_idle_pct(1000, 5000, 1150, 5200, 500), 100);
    /* No time passed, or a counter went back: not idle. */
    assert_int_equal(td_spin_idle_pct(1000, 5000, 1000, 5000, 0), 0);
    assert_int_equal(td_spin_idle_pct(1000, 5000, 900, 5200, 0), 0);
    assert_int_equal(td_spin_idle_pct(1000, 5000, 1000, 5200, 0), 0);
}

static unsigned int calls, ready_at;

static bool ready(void)
{
    return ++calls >= ready_at;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_window(void **s)
{
    td_spin_stats st;
    double t0, ms;

    setenv("TAPDISK_POLL_US", "3000", 1);
    setenv("TAPDISK_POLL_IDLE", "0", 1);
    td_spin_init();
    assert_non_null(strstr(last_log, "up to 3000 us"));
    assert_true(td_spin_active());

    /* Work shows on the 10th look: found, long before the window ends. */
    calls = 0;
    ready_at = 10;
    assert_true(td_spin(ready));
    assert_int_equal(calls, 10);

    /* Nothing shows: the window (3 ms) ends it. */
    calls = 0;
    ready_at = ~0u;
    t0 = now_ms();
    assert_false(td_spin(ready));
    ms = now_ms() - t0;
    assert_true(ms >= 3.0);
    assert_true(calls > 1);

    td_spin_get_stats(&st);
    assert_int_equal(st.found, 1);
    assert_int_equal(st.expired, 1);
    assert_true(st.ns >= 3000000);
}

static void test_bad_settings_leave_it_off(void **s)
{
    setenv("TAPDISK_POLL_US", "20000", 1);
    setenv("TAPDISK_POLL_IDLE", "0", 1);
    td_spin_init();
    assert_non_null(strstr(last_log, "ring polling: off (TAPDISK_POLL_US"));
    setenv("TAPDISK_POLL_US", "100", 1);
    setenv("TAPDISK_POLL_IDLE", "101", 1);
    td_spin_init();
    assert_non_null(strstr(last_log, "ring polling: off (TAPDISK_POLL_US"));
    setenv("TAPDISK_POLL_US", "0", 1);
    setenv("TAPDISK_POLL_IDLE", "50", 1);
    td_spin_init();
    assert_string_equal(last_log, "ring polling: off");
    assert_false(td_spin_active());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_idle_pct),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_bad_settings_leave_it_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
