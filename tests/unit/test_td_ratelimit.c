/* Unit tests: the per-device log rate limit. */
#include "test_helpers.h"
#include "td_ratelimit.h"

/* A guest that cycles its frontend every 10 ms for 10 minutes gets at most
 * TD_RL_BURST lines a minute, and the count of the rest is said. */
static void test_bounded(void **s)
{
    td_ratelimit rl = { 0 };
    unsigned int logged = 0, dropped_said = 0, d;
    uint64_t t;

    for (t = 1000; t < 1000 + 600000; t += 10) {
        if (td_ratelimit_ok(&rl, t, &d)) {
            logged++;
            dropped_said += d;
        }
    }
    assert_int_equal(logged, 10 * TD_RL_BURST);
    /* Every dropped line but the last window's is accounted for. */
    assert_int_equal(logged + dropped_said + rl.dropped, 60000);
}

static void test_quiet_device_logs_everything(void **s)
{
    td_ratelimit rl = { 0 };
    unsigned int d = 99;
    int i;

    for (i = 0; i < TD_RL_BURST; i++) {
        assert_true(td_ratelimit_ok(&rl, 5000 + (uint64_t)i, &d));
        assert_int_equal(d, 0);
    }
    assert_false(td_ratelimit_ok(&rl, 5100, &d));
    assert_false(td_ratelimit_ok(&rl, 5200, &d));
    /* The next window: logged, and it says 2 were dropped. */
    assert_true(td_ratelimit_ok(&rl, 5000 + TD_RL_WINDOW_MS, &d));
    assert_int_equal(d, 2);
    assert_true(td_ratelimit_ok(&rl, 5001 + TD_RL_WINDOW_MS, &d));
    assert_int_equal(d, 0);
}

static void test_clock_back(void **s)
{
    td_ratelimit rl = { 0 };
    unsigned int d;
    int i;

    for (i = 0; i < TD_RL_BURST; i++)
        assert_true(td_ratelimit_ok(&rl, 100000, &d));
    assert_false(td_ratelimit_ok(&rl, 100001, &d));
    assert_true(td_ratelimit_ok(&rl, 50, &d));      /* a new window */
    assert_int_equal(d, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_quiet_device_logs_everything),
        cmocka_unit_test(test_clock_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
