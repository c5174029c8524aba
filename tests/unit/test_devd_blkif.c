/* Unit tests: the vbd3 handshake table and frontend ring-info parsing. */
#include "test_helpers.h"
#include <stdio.h>
#include <string.h>
#include "devd_blkif.h"

/*----- a fake frontend directory -----*/

typedef struct {
    const char *k[24];
    const char *v[24];
    int n;
    int reads_of_refs;      /* how many ring-ref* keys were read */
} fe;

static const char *rd(void *ctx, const char *key)
{
    fe *f = ctx;
    int i;

    if (!strncmp(key, "ring-ref", 8))
        f->reads_of_refs++;
    for (i = 0; i < f->n; i++)
        if (!strcmp(f->k[i], key))
            return f->v[i];
    return NULL;
}

static void put(fe *f, const char *k, const char *v)
{
    int i;

    for (i = 0; i < f->n; i++) {
        if (!strcmp(f->k[i], k)) {
            f->v[i] = v;
            return;
        }
    }
    f->k[f->n] = k;
    f->v[f->n++] = v;
}

static void del(fe *f, const char *k)
{
    int i;

    for (i = 0; i < f->n; i++) {
        if (!strcmp(f->k[i], k)) {
            f->k[i] = f->k[f->n - 1];
            f->v[i] = f->v[f->n - 1];
            f->n--;
            return;
        }
    }
}

static void single(fe *f)
{
    memset(f, 0, sizeof(*f));
    put(f, "ring-ref", "8");
    put(f, "event-channel", "15");
}

static void multi(fe *f, const char *order, int n)
{
    static const char *names[8] = { "ring-ref0", "ring-ref1", "ring-ref2",
        "ring-ref3", "ring-ref4", "ring-ref5", "ring-ref6", "ring-ref7" };
    static const char *vals[8] = { "100", "101", "102", "103", "104", "105",
                                   "106", "4294967295" };
    int i;

    memset(f, 0, sizeof(*f));
    put(f, "ring-page-order", order);
    for (i = 0; i < n; i++)
        put(f, names[i], vals[i]);
    put(f, "event-channel", "7");
    put(f, "protocol", "x86_64-abi");
}

static int parse(fe *f, uint32_t max, devd_ringinfo *ri,
                 devd_ringinfo_error *e)
{
    return libxl__devd_ringinfo_read(rd, f, max, ri, e);
}

static void test_single_page(void **s)
{
    fe f;
    devd_ringinfo ri;
    devd_ringinfo_error e;

    single(&f);
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_int_equal(ri.order, 0);
    assert_int_equal(ri.nr_refs, 1);
    assert_int_equal(ri.ref[0], 8);
    assert_int_equal(ri.port, 15);
    assert_int_equal(ri.proto, BLKIF_PROTO_NATIVE);
    put(&f, "protocol", "x86_32-abi");
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_int_equal(ri.proto, BLKIF_PROTO_X86_32);
    put(&f, "protocol", "x86_64-abi");
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_int_equal(ri.proto, BLKIF_PROTO_X86_64);
}

static void test_multi_page(void **s)
{
    fe f;
    devd_ringinfo ri;
    devd_ringinfo_error e;

    multi(&f, "3", 8);
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_int_equal(ri.order, 3);
    assert_int_equal(ri.nr_refs, 8);
    assert_int_equal(ri.ref[0], 100);
    assert_true(ri.ref[7] == 4294967295u);
    multi(&f, "1", 2);
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_int_equal(ri.nr_refs, 2);
}

static void expect_fail(fe *f, uint32_t max, const char *key,
                        const char *value)
{
    devd_ringinfo ri;
    devd_ringinfo_error e;

    assert_int_equal(parse(f, max, &ri, &e), -1);
    assert_string_equal(e.key, key);
    if (value)
        assert_string_equal(e.value, value);
    else
        assert_null(e.value);
    assert_non_null(e.why);
}

static void test_order_bounded_before_refs(void **s)
{
    fe f;

    /* Order 4 rejected by default, before a single ring-ref is read. */
    multi(&f, "4", 8);
    f.reads_of_refs = 0;
    expect_fail(&f, DEVD_BLKIF_DEFAULT_MAX_ORDER, "ring-page-order", "4");
    assert_int_equal(f.reads_of_refs, 0);
    /* A huge order (the tapback overflow) likewise. */
    multi(&f, "31", 8);
    expect_fail(&f, 3, "ring-page-order", "31");
    assert_int_equal(f.reads_of_refs, 0);
    /* A lower configured maximum is honoured... */
    multi(&f, "2", 4);
    expect_fail(&f, 1, "ring-page-order", "2");
    /* ...and one above the protocol's limit is capped to 3. */
    multi(&f, "4", 8);
    expect_fail(&f, 9, "ring-page-order", "4");
    multi(&f, "3x", 8);
    expect_fail(&f, 3, "ring-page-order", "3x");
    multi(&f, "", 8);
    expect_fail(&f, 3, "ring-page-order", "");
    multi(&f, "-1", 8);
    expect_fail(&f, 3, "ring-page-order", "-1");
}

static void test_refs(void **s)
{
    fe f;

    single(&f);
    del(&f, "ring-ref");
    expect_fail(&f, 3, "ring-ref", NULL);
    single(&f);
    put(&f, "ring-ref", "12abc");
    expect_fail(&f, 3, "ring-ref", "12abc");
    put(&f, "ring-ref", "4294967296");
    expect_fail(&f, 3, "ring-ref", "4294967296");
    put(&f, "ring-ref", "");
    expect_fail(&f, 3, "ring-ref", "");
    put(&f, "ring-ref", " 8");
    expect_fail(&f, 3, "ring-ref", " 8");
    put(&f, "ring-ref", "0x8");
    expect_fail(&f, 3, "ring-ref", "0x8");
    /* Order 2 needs ring-ref0..3: one missing. */
    multi(&f, "2", 3);
    expect_fail(&f, 3, "ring-ref3", NULL);
    /* Order 1 with only the single-page key. */
    memset(&f, 0, sizeof(f));
    put(&f, "ring-page-order", "1");
    put(&f, "ring-ref", "8");
    put(&f, "event-channel", "3");
    expect_fail(&f, 3, "ring-ref0", NULL);
}

static void test_port_and_protocol(void **s)
{
    fe f;

    single(&f);
    del(&f, "event-channel");
    expect_fail(&f, 3, "event-channel", NULL);
    single(&f);
    put(&f, "event-channel", "junk");
    expect_fail(&f, 3, "event-channel", "junk");
    put(&f, "event-channel", "0");
    expect_fail(&f, 3, "event-channel", "0");
    put(&f, "event-channel", "99999999999");
    expect_fail(&f, 3, "event-channel", "99999999999");
    single(&f);
    put(&f, "protocol", "x86_16-abi");
    expect_fail(&f, 3, "protocol", "x86_16-abi");
    put(&f, "protocol", "");
    expect_fail(&f, 3, "protocol", "");
    put(&f, "protocol", "x86_64-abi ");
    expect_fail(&f, 3, "protocol", "x86_64-abi ");
}

static void test_persistent(void **s)
{
    fe f;
    devd_ringinfo ri;
    devd_ringinfo_error e;

    single(&f);
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_false(ri.persistent);            /* absent: 0 */
    put(&f, "feature-persistent", "1");
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_true(ri.persistent);
    put(&f, "feature-persistent", "0");
    assert_int_equal(parse(&f, 3, &ri, &e), 0);
    assert_false(ri.persistent);
    /* A boolean, strictly: what is neither 0 nor 1 closes the device
     * rather than be guessed at. */
    put(&f, "feature-persistent", "2");
    expect_fail(&f, 3, "feature-persistent", "2");
    put(&f, "feature-persistent", "yes");
    expect_fail(&f, 3, "feature-persistent", "yes");
    put(&f, "feature-persistent", "");
    expect_fail(&f, 3, "feature-persistent", "");
    put(&f, "feature-persistent", "01");
    expect_fail(&f, 3, "feature-persistent", "01");
}

/*----- the table -----*/

/* The stable states: the rows of the table. */
static const devd_rs_state stable[] = {
    RS_INITWAIT, RS_CONNECTED, RS_CLOSING, RS_CLOSED, RS_FAILED, RS_LOST,
};
#define NSTABLE (int)(sizeof(stable) / sizeof(stable[0]))

/* A device between operations whose backend is up, as the old table. */
static devd_rs_action up(devd_rs_state st, int col)
{
    return libxl__devd_rs_decide(true, false, st, RS_BE_UP, col);
}

static void test_decide_every_input(void **s)
{
    int st, be, col, n = 0;

    for (st = 0; st < RS__COUNT; st++)
        for (be = 0; be < RS_BE__COUNT; be++)
            for (col = 0; col < RS_FE__COUNT; col++) {
                devd_rs_action a = libxl__devd_rs_decide(true, false, st, be,
                                                         col);
                devd_rs_action b = libxl__devd_rs_decide(true, true, st, be,
                                                         col);
                /* Busy states (or a running operation) defer everything,
                 * and only they do. */
                assert_int_equal(a == RS_ACT_DEFER, libxl__devd_rs_busy(st));
                assert_int_equal(b, RS_ACT_DEFER);
                if (libxl__devd_rs_busy(st))
                    continue;
                /* A backend gone or replaced is let go whatever else. */
                if (be == RS_BE_GONE)
                    assert_int_equal(a, RS_ACT_RELEASE);
                if (be == RS_BE_REPLACED)
                    assert_int_equal(a, RS_ACT_REPLACED);
                /* Only an untracked backend opens. */
                assert_int_not_equal(a, RS_ACT_OPEN);
                n++;
            }
    assert_int_equal(n, NSTABLE * RS_BE__COUNT * RS_FE__COUNT);
    /* Untracked: open what is up, nothing else. */
    for (be = 0; be < RS_BE__COUNT; be++)
        for (col = 0; col < RS_FE__COUNT; col++)
            assert_int_equal(libxl__devd_rs_decide(false, false, RS_OPENING,
                                                   be, col),
                             be == RS_BE_UP ? RS_ACT_OPEN : RS_ACT_NONE);
    /* Out-of-range columns are the invalid column. */
    assert_int_equal(up(RS_CONNECTED, 42), up(RS_CONNECTED, RS_FE_INVALID));
    assert_int_equal(up(RS_CONNECTED, -1), RS_ACT_FAIL);
}

/* Its tapdisk died under a connected ring: a frontend using its ring
 * has it taken over; otherwise another tapdisk waits in InitWait; a
 * removal in progress removes. */
static void test_decide_lost(void **s)
{
    int col;

    for (col = 0; col < RS_FE__COUNT; col++) {
        devd_rs_action a = up(RS_LOST, col);
        if (col == 3 || col == 4 || col == 5)
            assert_int_equal(a, RS_ACT_TAKEOVER);
        else if (col == 7 || col == 8)
            assert_int_equal(a, RS_ACT_NONE);
        else if (col == RS_FE_INVALID)
            assert_int_equal(a, RS_ACT_FAIL);
        else
            assert_int_equal(a, RS_ACT_REOPEN);
    }
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_LOST,
                                           RS_BE_OFFLINE, 6), RS_ACT_REMOVE);
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_LOST,
                                           RS_BE_OFFLINE, RS_FE_ABSENT),
                     RS_ACT_REMOVE);
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_LOST,
                                           RS_BE_OFFLINE, 4),
                     RS_ACT_TAKEOVER);
    assert_true(libxl__devd_rs_busy(RS_TAKING_OVER));
    assert_false(libxl__devd_rs_busy(RS_LOST));
}

static void test_decide_handshake(void **s)
{
    /* Waiting: connect on Initialised or Connected only. */
    assert_int_equal(up(RS_INITWAIT, 1), RS_ACT_NONE);
    assert_int_equal(up(RS_INITWAIT, 2), RS_ACT_NONE);
    assert_int_equal(up(RS_INITWAIT, 3), RS_ACT_CONNECT);
    assert_int_equal(up(RS_INITWAIT, 4), RS_ACT_CONNECT);
    /* Idempotent: Connected again while connected does nothing. */
    assert_int_equal(up(RS_CONNECTED, 4), RS_ACT_NONE);
    assert_int_equal(up(RS_CONNECTED, 3), RS_ACT_NONE);
    /* Closing and Closed. */
    assert_int_equal(up(RS_CONNECTED, 5), RS_ACT_CLOSING);
    assert_int_equal(up(RS_CLOSING, 5), RS_ACT_NONE);
    assert_int_equal(up(RS_CLOSING, 6), RS_ACT_DISCONNECT);
    assert_int_equal(up(RS_CONNECTED, 6), RS_ACT_DISCONNECT);
    assert_int_equal(up(RS_CONNECTED, RS_FE_ABSENT), RS_ACT_DISCONNECT);
    assert_int_equal(up(RS_INITWAIT, RS_FE_ABSENT), RS_ACT_DISCONNECT);
    /* A frontend starting again after Closed. */
    assert_int_equal(up(RS_CLOSED, 1), RS_ACT_REINIT);
    assert_int_equal(up(RS_CLOSED, 6), RS_ACT_NONE);
    /* Garbage state from the guest fails the device where it matters. */
    assert_int_equal(up(RS_INITWAIT, RS_FE_INVALID), RS_ACT_FAIL);
    assert_int_equal(up(RS_CONNECTED, RS_FE_INVALID), RS_ACT_FAIL);
    /* Failed is final: nothing the frontend does revives it. */
    for (int c = 0; c < RS_FE__COUNT; c++)
        assert_int_equal(up(RS_FAILED, c), RS_ACT_NONE);
}

/* online 0: the toolstack removes the device. */
static void test_decide_offline(void **s)
{
    int c;

    for (c = 0; c < RS_FE__COUNT; c++) {
        /* Closed or failed: remove at once, whatever the frontend. */
        assert_int_equal(libxl__devd_rs_decide(true, false, RS_CLOSED,
                                               RS_BE_OFFLINE, c),
                         RS_ACT_REMOVE);
        assert_int_equal(libxl__devd_rs_decide(true, false, RS_FAILED,
                                               RS_BE_OFFLINE, c),
                         RS_ACT_REMOVE);
    }
    /* A frontend using its ring is waited for (Closing first). */
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_CONNECTED,
                                           RS_BE_OFFLINE, 4), RS_ACT_NONE);
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_CONNECTED,
                                           RS_BE_OFFLINE, 5), RS_ACT_CLOSING);
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_INITWAIT,
                                           RS_BE_OFFLINE, 3), RS_ACT_CONNECT);
    /* One that is not (never connected, or gone) is not. */
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_INITWAIT,
                                           RS_BE_OFFLINE, 2),
                     RS_ACT_DISCONNECT);
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_CONNECTED,
                                           RS_BE_OFFLINE, RS_FE_ABSENT),
                     RS_ACT_DISCONNECT);
    assert_int_equal(libxl__devd_rs_decide(true, false, RS_CLOSING,
                                           RS_BE_OFFLINE, 1),
                     RS_ACT_DISCONNECT);
}

static void test_backend_column(void **s)
{
    /* gone whatever else */
    assert_int_equal(libxl__devd_rs_backend_col(false, true, true, 4, 1),
                     RS_BE_GONE);
    assert_int_equal(libxl__devd_rs_backend_col(false, false, false, -1, -1),
                     RS_BE_GONE);
    /* untracked: Closed is nothing to serve; online is not looked at */
    assert_int_equal(libxl__devd_rs_backend_col(true, false, false, 6, 1),
                     RS_BE_CLOSED);
    assert_int_equal(libxl__devd_rs_backend_col(true, false, false, 1, 0),
                     RS_BE_UP);
    /* tracked: the generation first, then online */
    assert_int_equal(libxl__devd_rs_backend_col(true, true, false, 4, 0),
                     RS_BE_REPLACED);
    assert_int_equal(libxl__devd_rs_backend_col(true, true, true, 5, 0),
                     RS_BE_OFFLINE);
    assert_int_equal(libxl__devd_rs_backend_col(true, true, true, 6, 1),
                     RS_BE_UP);
    assert_int_equal(libxl__devd_rs_backend_col(true, true, true, 4, -1),
                     RS_BE_UP);
}

static void test_adopt(void **s)
{
    devd_rs_state to = RS__COUNT;

    /* A tapdisk answers: ask it, and track the backend's state. */
    assert_int_equal(libxl__devd_rs_adopt(2, false, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_INITWAIT);
    assert_int_equal(libxl__devd_rs_adopt(3, false, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_INITWAIT);
    assert_int_equal(libxl__devd_rs_adopt(4, false, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_CONNECTED);
    assert_int_equal(libxl__devd_rs_adopt(5, false, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_CLOSING);
    assert_int_equal(libxl__devd_rs_adopt(6, false, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_CLOSED);
    assert_int_equal(libxl__devd_rs_adopt(6, true, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_FAILED);
    assert_int_equal(libxl__devd_rs_adopt(7, false, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_CLOSED);
    /* None answers: a waiting backend gets a new one ... */
    assert_int_equal(libxl__devd_rs_adopt(2, false, false, &to),
                     RS_ADOPT_OPEN);
    /* ... a closed or failed one has nothing to serve ... */
    assert_int_equal(libxl__devd_rs_adopt(6, false, false, &to),
                     RS_ADOPT_REST);
    assert_int_equal(to, RS_CLOSED);
    assert_int_equal(libxl__devd_rs_adopt(6, true, false, &to),
                     RS_ADOPT_REST);
    assert_int_equal(to, RS_FAILED);
    /* ... a connected one is taken over (the table decides how) ... */
    assert_int_equal(libxl__devd_rs_adopt(4, false, false, &to),
                     RS_ADOPT_REST);
    assert_int_equal(to, RS_LOST);
    /* ... and one half-way has lost its disk. */
    assert_int_equal(libxl__devd_rs_adopt(3, false, false, &to),
                     RS_ADOPT_FAIL);
    assert_int_equal(libxl__devd_rs_adopt(5, false, false, &to),
                     RS_ADOPT_FAIL);
    /* hotplug-error only matters on a Closed backend */
    assert_int_equal(libxl__devd_rs_adopt(4, true, true, &to), RS_ADOPT_ASK);
    assert_int_equal(to, RS_CONNECTED);
}

static void test_names(void **s)
{
    int i;

    for (i = 0; i < RS__COUNT; i++)
        assert_string_not_equal(libxl__devd_rs_state_name(i), "?");
    assert_string_equal(libxl__devd_rs_state_name(RS__COUNT), "?");
    assert_string_equal(libxl__devd_rs_action_name(RS_ACT_CONNECT),
                        "connect");
    for (i = RS_ACT_NONE; i <= RS_ACT_REMOVE; i++)
        assert_string_not_equal(libxl__devd_rs_action_name(i), "?");
    for (i = 0; i < RS_BE__COUNT; i++)
        assert_string_not_equal(libxl__devd_rs_backend_name(i), "?");
    for (i = RS_ADOPT_OPEN; i <= RS_ADOPT_FAIL; i++)
        assert_string_not_equal(libxl__devd_rs_adopt_name(i), "?");
}

static void test_params(void **s)
{
    assert_true(libxl__devd_vbd3_params_ok("aio:/srv/img"));
    assert_true(libxl__devd_vbd3_params_ok("raw:/dev/vg/lv"));
    assert_true(libxl__devd_vbd3_params_ok("vhd:/srv/a.vhd"));
    assert_false(libxl__devd_vbd3_params_ok(NULL));
    assert_false(libxl__devd_vbd3_params_ok(""));
    assert_false(libxl__devd_vbd3_params_ok("/srv/img"));
    assert_false(libxl__devd_vbd3_params_ok("aio:relative"));
    assert_false(libxl__devd_vbd3_params_ok("qcow2:/srv/img"));
    {
        char big[300];
        memset(big, 'a', sizeof(big));
        memcpy(big, "aio:/", 5);
        big[sizeof(big) - 1] = 0;
        assert_false(libxl__devd_vbd3_params_ok(big));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_page),
        cmocka_unit_test(test_multi_page),
        cmocka_unit_test(test_order_bounded_before_refs),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_port_and_protocol),
        cmocka_unit_test(test_persistent),
        cmocka_unit_test(test_decide_every_input),
        cmocka_unit_test(test_decide_offline),
        cmocka_unit_test(test_backend_column),
        cmocka_unit_test(test_adopt),
        cmocka_unit_test(test_decide_handshake),
        cmocka_unit_test(test_decide_lost),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
