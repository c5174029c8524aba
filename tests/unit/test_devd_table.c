/* Unit tests: the guest and device tables (leaks are caught by ASan/LSan). */
#include "test_helpers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "devd_table.h"

static void test_guest_and_device(void **s)
{
    devd_table t;
    libxl__devd_table_init(&t);
    assert_null(libxl__devd_guest_find(&t, 3));
    devd_guest *g = libxl__devd_guest_get(&t, 3);
    assert_non_null(g);
    assert_ptr_equal(libxl__devd_guest_get(&t, 3), g);
    assert_int_equal(t.nguests, 1);
    devd_device *a = libxl__devd_device_add(&t, g, "vbd", 2, 51712, DEVD_DEV_ADDING, 0);
    devd_device *b = libxl__devd_device_add(&t, g, "vif", 1, 0, DEVD_DEV_CONNECTED, 0);
    assert_int_equal(t.ndevices, 2);
    assert_ptr_equal(libxl__devd_device_find(g, "vbd", 51712), a);
    assert_ptr_equal(libxl__devd_device_find(g, "vif", 0), b);
    assert_null(libxl__devd_device_find(g, "vbd", 0));
    assert_null(libxl__devd_device_find(g, "qdisk", 51712));
    assert_null(libxl__devd_device_find(NULL, "vbd", 51712));
    assert_false(libxl__devd_guest_drop_if_empty(&t, g));
    libxl__devd_device_free(&t, g, a);
    libxl__devd_device_free(&t, g, b);
    assert_int_equal(t.ndevices, 0);
    assert_true(libxl__devd_guest_drop_if_empty(&t, g));
    assert_int_equal(t.nguests, 0);
    assert_null(libxl__devd_guest_find(&t, 3));
    libxl__devd_table_dispose(&t);
    libxl__devd_table_dispose(&t);  /* idempotent */
}

/* A module's per-device and per-guest data go with the device and the
 * guest (LeakSanitizer fails the test otherwise). */
static void test_module_data(void **s)
{
    devd_table t;
    libxl__devd_table_init(&t);
    devd_guest *g = libxl__devd_guest_get(&t, 5);
    devd_device *a = libxl__devd_device_add(&t, g, "qdisk", 3, 51712,
                                            DEVD_DEV_ADDING, 24);
    assert_non_null(a);
    assert_int_equal(a->module, -1);
    for (int i = 0; i < 24; i++)
        assert_int_equal(((unsigned char *)a->ext)[i], 0);
    g->priv[1] = malloc(16);
    libxl__devd_device_free(&t, g, a);
    assert_true(libxl__devd_guest_drop_if_empty(&t, g));
    g = libxl__devd_guest_get(&t, 6);
    g->priv[0] = malloc(8);
    libxl__devd_device_add(&t, g, "vbd3", 19, 1, DEVD_DEV_ADDING, 100);
    libxl__devd_table_dispose(&t);
    assert_int_equal(t.nguests, 0);
}

static void test_errors(void **s)
{
    devd_table t;
    libxl__devd_table_init(&t);
    devd_guest *g = libxl__devd_guest_get(&t, 7);
    devd_device *d = libxl__devd_device_add(&t, g, "vbd", 2, 768, DEVD_DEV_FAILED, 0);
    libxl__devd_device_set_error(d, "hotplug script failed: no such file");
    libxl__devd_device_set_error(d, "second error");
    assert_string_equal(d->last_error, "second error");
    libxl__devd_device_set_error(d, NULL);
    assert_null(d->last_error);
    libxl__devd_table_dispose(&t);
    assert_int_equal(t.nguests, 0);
}

/* Many guests and devices come and go: counts return to zero and nothing
 * leaks (LeakSanitizer fails the test otherwise). */
static void test_storm(void **s)
{
    devd_table t;
    libxl__devd_table_init(&t);
    for (int round = 0; round < 200; round++) {
        for (uint32_t dom = 1; dom <= 20; dom++) {
            devd_guest *g = libxl__devd_guest_get(&t, dom);
            for (uint32_t dev = 0; dev < 5; dev++) {
                devd_device *d = libxl__devd_device_add(&t, g, dev & 1 ? "vif" : "vbd",
                                                        1, dev, DEVD_DEV_ADDING, 0);
                libxl__devd_device_set_error(d, "x");
            }
        }
        assert_int_equal(t.ndevices, 100);
        if (round & 1) {
            libxl__devd_table_dispose(&t);
        } else {
            devd_guest *g;
            while ((g = SLIST_FIRST(&t.guests))) {
                devd_device *d;
                while ((d = SLIST_FIRST(&g->devices)))
                    libxl__devd_device_free(&t, g, d);
                assert_true(libxl__devd_guest_drop_if_empty(&t, g));
            }
        }
        assert_int_equal(t.nguests, 0);
        assert_int_equal(t.ndevices, 0);
    }
}

static void test_queue(void **s)
{
    devd_table t;
    int act = DEVD_ACT_IGNORE;
    libxl__devd_table_init(&t);
    devd_guest *g = libxl__devd_guest_get(&t, 9);
    devd_device *a = libxl__devd_device_add(&t, g, "vbd", 2, 1, DEVD_DEV_ADDING, 0);
    devd_device *b = libxl__devd_device_add(&t, g, "vbd", 2, 2, DEVD_DEV_ADDING, 0);
    devd_device *c = libxl__devd_device_add(&t, g, "vif", 1, 0, DEVD_DEV_ADDING, 0);
    assert_null(libxl__devd_queue_pop(&t, &act));
    libxl__devd_queue_push(&t, a, DEVD_ACT_ADD);
    libxl__devd_queue_push(&t, b, DEVD_ACT_ADD);
    libxl__devd_queue_push(&t, c, DEVD_ACT_ADD);
    libxl__devd_queue_push(&t, a, DEVD_ACT_REMOVE);   /* once; action updated */
    assert_int_equal(t.nqueued, 3);
    assert_true(a->queued && b->queued && c->queued);
    /* freeing a queued device takes it out of the queue */
    libxl__devd_device_free(&t, g, b);
    assert_int_equal(t.nqueued, 2);
    assert_ptr_equal(libxl__devd_queue_pop(&t, &act), a);    /* FIFO */
    assert_int_equal(act, DEVD_ACT_REMOVE);
    assert_false(a->queued);
    assert_ptr_equal(libxl__devd_queue_pop(&t, &act), c);
    assert_int_equal(act, DEVD_ACT_ADD);
    assert_null(libxl__devd_queue_pop(&t, &act));
    assert_int_equal(t.nqueued, 0);
    /* dispose with queued devices frees them all */
    libxl__devd_queue_push(&t, a, DEVD_ACT_ADD);
    libxl__devd_table_dispose(&t);
    assert_int_equal(t.nqueued, 0);
    assert_int_equal(t.ndevices, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_and_device),
        cmocka_unit_test(test_module_data),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_storm),
        cmocka_unit_test(test_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
