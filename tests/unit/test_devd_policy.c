/*
 * Unit tests: the event rules over every state x online x tracking
 * combination, and startup adoption.
 */
#include "test_helpers.h"
#include "devd_policy.h"

static devd_observation obs(int state, int online, bool tracked,
                            devd_dev_state ds)
{
    devd_observation o = {
        .exists = true, .values_ok = true, .state = state, .online = online,
        .tracked = tracked, .dev_state = ds, .busy = false,
        .failed_state = -1, .failed_online = -1, .last_state = -1,
    };
    return o;
}

/* The expected action, written out independently of the implementation. */
static devd_action expect(int state, int online, bool tracked,
                          devd_dev_state ds, int last, bool qemu)
{
    if (!tracked)
        return state == 6 ? DEVD_ACT_IGNORE : DEVD_ACT_ADD;
    if (ds == DEVD_DEV_UNSUPPORTED)
        return DEVD_ACT_IGNORE;
    if (state == 6 && online == 0)
        return DEVD_ACT_REMOVE;
    if (ds == DEVD_DEV_FAILED)
        return (state == 5 || state == 6 || online == 0) ? DEVD_ACT_IGNORE
                                                         : DEVD_ACT_RETRY;
    if (ds == DEVD_DEV_CONNECTED && !qemu && state == 2 && online == 1 &&
        last != -1 && last != 2)
        return DEVD_ACT_READD;
    return DEVD_ACT_IGNORE;
}

static void test_all_combinations(void **s)
{
    const devd_dev_state states[] = { DEVD_DEV_ADDING, DEVD_DEV_CONNECTED,
        DEVD_DEV_FAILED, DEVD_DEV_REMOVING, DEVD_DEV_UNSUPPORTED };
    const int lasts[] = { -1, 1, 2, 4, 6 };
    int n = 0;
    for (int st = 0; st <= 8; st++)
        for (int on = 0; on <= 1; on++) {
            devd_observation o = obs(st, on, false, DEVD_DEV_ADDING);
            assert_int_equal(libxl__devd_classify(&o),
                             expect(st, on, false, 0, -1, false));
            n++;
            for (size_t k = 0; k < 5; k++)
                for (size_t l = 0; l < 5; l++)
                    for (int q = 0; q <= 1; q++) {
                        o = obs(st, on, true, states[k]);
                        o.last_state = lasts[l];
                        o.qemu_kind = q;
                        assert_int_equal(libxl__devd_classify(&o),
                                         expect(st, on, true, states[k],
                                                lasts[l], q));
                        o.busy = true;
                        assert_int_equal(libxl__devd_classify(&o),
                                         DEVD_ACT_DEFER);
                        n += 2;
                    }
        }
    assert_int_equal(n, 9 * 2 * (1 + 5 * 5 * 2 * 2));
}

/* A backend whose driver was unbound and bound again comes back to
 * InitWait: its script runs again; never twice for one InitWait, never
 * for QEMU's devices, never for a device not up. */
static void test_rebind(void **s)
{
    devd_observation o = obs(2, 1, true, DEVD_DEV_CONNECTED);
    o.last_state = 6;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_READD);
    o.last_state = 4;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_READD);
    o.last_state = 2;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o.last_state = -1;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o.last_state = 6;
    o.qemu_kind = true;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o.qemu_kind = false;
    o.online = 0;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o = obs(2, 1, true, DEVD_DEV_ADDING);
    o.last_state = 6;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
}

static void test_specific_rules(void **s)
{
    devd_observation o = obs(2, 1, false, 0);
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_ADD);
    o = obs(6, 0, false, 0);
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o = obs(6, 0, true, DEVD_DEV_CONNECTED);
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_REMOVE);
    o = obs(6, 1, true, DEVD_DEV_CONNECTED);
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o = obs(4, 1, true, DEVD_DEV_CONNECTED);
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
}

static void test_gone_and_bad(void **s)
{
    devd_observation o = obs(4, 1, true, DEVD_DEV_CONNECTED);
    o.exists = false;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_FORGET);
    o.tracked = false;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o = obs(4, 1, true, DEVD_DEV_CONNECTED);
    o.values_ok = false;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_BAD_VALUE);
    o.tracked = false;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_BAD_VALUE);
    /* busy wins over everything, even a deleted directory */
    o = obs(4, 1, true, DEVD_DEV_ADDING);
    o.busy = true;
    o.exists = false;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_DEFER);
}

static void test_failed_retry_only_on_change(void **s)
{
    devd_observation o = obs(2, 1, true, DEVD_DEV_FAILED);
    o.failed_state = 2;
    o.failed_online = 1;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_IGNORE);
    o.state = 1;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_RETRY);
    o.state = 2;
    o.failed_online = 0;
    assert_int_equal(libxl__devd_classify(&o), DEVD_ACT_RETRY);
}

static void test_adopt(void **s)
{
    devd_dev_state ini;
    bool track;

    /* Connected with its script run: tracked, nothing re-run */
    assert_int_equal(libxl__devd_adopt(true, 4, 1, true, false, &ini, &track),
                     DEVD_ACT_IGNORE);
    assert_true(track);
    assert_int_equal(ini, DEVD_DEV_CONNECTED);
    /* Connected even without hotplug-status (kernel got it up) */
    assert_int_equal(libxl__devd_adopt(true, 4, 1, false, false, &ini, &track),
                     DEVD_ACT_IGNORE);
    assert_int_equal(ini, DEVD_DEV_CONNECTED);
    /* InitWait, script not run: add */
    assert_int_equal(libxl__devd_adopt(true, 2, 1, false, false, &ini, &track),
                     DEVD_ACT_ADD);
    assert_int_equal(ini, DEVD_DEV_ADDING);
    /* InitWait with the script already run */
    assert_int_equal(libxl__devd_adopt(true, 2, 1, true, false, &ini, &track),
                     DEVD_ACT_IGNORE);
    assert_int_equal(ini, DEVD_DEV_CONNECTED);
    /* Closing: was up */
    assert_int_equal(libxl__devd_adopt(true, 5, 1, true, false, &ini, &track),
                     DEVD_ACT_IGNORE);
    assert_int_equal(ini, DEVD_DEV_CONNECTED);
    /* removed while devd was down: finish the removal with the script */
    assert_int_equal(libxl__devd_adopt(true, 6, 0, true, false, &ini, &track),
                     DEVD_ACT_REMOVE);
    assert_int_equal(ini, DEVD_DEV_CONNECTED);
    assert_int_equal(libxl__devd_adopt(true, 6, 0, false, false, &ini, &track),
                     DEVD_ACT_REMOVE);
    assert_int_equal(ini, DEVD_DEV_FAILED);
    /* QEMU kinds in any live state hold a reference */
    for (int st = 1; st <= 5; st++) {
        assert_int_equal(libxl__devd_adopt(true, st, 1, false, true, &ini, &track),
                         DEVD_ACT_IGNORE);
        assert_true(track);
        assert_int_equal(ini, DEVD_DEV_CONNECTED);
    }
    /* junk: not tracked */
    assert_int_equal(libxl__devd_adopt(false, 0, 0, false, false, &ini, &track),
                     DEVD_ACT_IGNORE);
    assert_false(track);
}

typedef struct {
    devd_action act;
    devd_dev_state initial;
    bool track;
} adopt_result;

static adopt_result adopt(int state, int online, bool hp, bool q)
{
    adopt_result r = { .initial = DEVD_DEV_ADDING };

    r.act = libxl__devd_adopt(true, state, online, hp, q, &r.initial,
                              &r.track);
    if (!r.track)
        r.initial = DEVD_DEV_ADDING;    /* meaningless when not tracked */
    return r;
}

static bool same(adopt_result a, adopt_result b)
{
    return a.act == b.act && a.track == b.track && a.initial == b.initial;
}

/* Adoption reads online and hotplug-status only when told to: what it
 * does not read must never change the outcome, and what it reads must
 * (otherwise a read is wasted at every startup). */
static void test_adopt_reads_only_what_decides(void **s)
{
    for (int q = 0; q <= 1; q++)
    for (int st = DEVD_XBS_UNKNOWN; st <= 8; st++) {
        bool online_matters = false;

        for (int on = 0; on <= 1; on++)
        for (int hp = 0; hp <= 1; hp++) {
            if (!same(adopt(st, on, hp, q), adopt(st, 1 - on, hp, q)))
                online_matters = true;
            if (!libxl__devd_adopt_needs_online(st))
                assert_true(same(adopt(st, on, hp, q), adopt(st, -1, hp, q)));
        }
        assert_int_equal(libxl__devd_adopt_needs_online(st), online_matters);

        /* online as adoption has it: read (0 or 1), or not (-1) */
        int lo = libxl__devd_adopt_needs_online(st) ? 0 : -1;
        int hi = libxl__devd_adopt_needs_online(st) ? 1 : -1;

        for (int on = lo; on <= hi; on++) {
            bool hp_matters = !same(adopt(st, on, true, q),
                                    adopt(st, on, false, q));

            assert_int_equal(libxl__devd_adopt_needs_hotplug(st, on, q),
                             hp_matters);
        }
    }
    /* the common case: a Connected backend costs its state read only */
    assert_false(libxl__devd_adopt_needs_online(DEVD_XBS_CONNECTED));
    assert_false(libxl__devd_adopt_needs_hotplug(DEVD_XBS_CONNECTED, -1,
                                                 false));
    /* a removal to finish must know whether its script had run */
    assert_true(libxl__devd_adopt_needs_hotplug(DEVD_XBS_CLOSED, 0, false));
}

static void test_names(void **s)
{
    for (int a = DEVD_ACT_IGNORE; a <= DEVD_ACT_READD; a++)
        assert_string_not_equal(libxl__devd_action_name(a), "?");
    for (int d = DEVD_DEV_ADDING; d <= DEVD_DEV_UNSUPPORTED; d++)
        assert_string_not_equal(libxl__devd_dev_state_name(d), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_combinations),
        cmocka_unit_test(test_specific_rules),
        cmocka_unit_test(test_rebind),
        cmocka_unit_test(test_gone_and_bad),
        cmocka_unit_test(test_failed_retry_only_on_change),
        cmocka_unit_test(test_adopt),
        cmocka_unit_test(test_adopt_reads_only_what_decides),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
