/* Unit tests: tapdisk's table of persistent grants. */
#include "test_helpers.h"
#include <stdint.h>
#include <stdlib.h>
#include "td_pgnt.h"

#define PG TD_PGNT_PAGE

/* Addresses only: the table never touches the pages. */
static uint8_t *const base = (uint8_t *)(uintptr_t)0x10000000u;

static void test_empty_and_disposed(void **s)
{
    td_pgnt t = { 0 };

    /* A zeroed table (a ring that never held a grant) finds nothing,
     * has no room, and disposes twice. */
    assert_null(td_pgnt_find(&t, 1));
    assert_false(td_pgnt_room(&t, 1));
    td_pgnt_dispose(&t);
    assert_int_equal(td_pgnt_init(&t, 7, 0), -1);
    assert_int_equal(td_pgnt_init(&t, 7, TD_PGNT_LIMIT + 1), -1);
    assert_null(td_pgnt_find(&t, 0));
    assert_int_equal(td_pgnt_init(&t, 7, 1056), 0);
    assert_int_equal(t.nslots, 4096);       /* a power of two, >= 2 x */
    assert_null(td_pgnt_find(&t, 0));
    assert_true(td_pgnt_room(&t, 1056));
    assert_false(td_pgnt_room(&t, 1057));
    td_pgnt_dispose(&t);
    td_pgnt_dispose(&t);
    assert_null(td_pgnt_find(&t, 0));
}

static void test_regions_map_pages_in_order(void **s)
{
    td_pgnt t;
    const uint32_t a[] = { 5, 0, 0xFFFFFFFFu };
    const uint32_t b[] = { 6 };

    td_pgnt_init(&t, 1234, 64);
    td_pgnt_add(&t, base, 3, a);
    td_pgnt_add(&t, base + 16 * PG, 1, b);
    td_pgnt_add(&t, base + 32 * PG, 0, b);      /* nothing: no region */
    assert_ptr_equal(td_pgnt_find(&t, 5), base);
    assert_ptr_equal(td_pgnt_find(&t, 0), base + PG);
    assert_ptr_equal(td_pgnt_find(&t, 0xFFFFFFFFu), base + 2 * PG);
    assert_ptr_equal(td_pgnt_find(&t, 6), base + 16 * PG);
    assert_null(td_pgnt_find(&t, 7));
    assert_int_equal(t.count, 4);
    assert_int_equal(t.nregions, 2);
    assert_ptr_equal(t.region[1].base, base + 16 * PG);
    assert_int_equal(t.region[1].n, 1);
    td_pgnt_dispose(&t);
}

/* Filled to its bound, in regions of up to 33 (a request's data pages
 * and its indirect page), with references a guest might pick to collide
 * under an unkeyed hash (multiples of the slot count): every one is
 * found, nothing more fits. */
static void fill(uint32_t key, unsigned int max)
{
    static uint32_t refs[TD_PGNT_LIMIT];
    td_pgnt t;
    unsigned int i, n;

    assert_int_equal(td_pgnt_init(&t, key, max), 0);
    for (i = 0; i < max; i++)
        refs[i] = i * t.nslots;
    for (i = 0; i < max; i += n) {
        n = max - i < 33 ? max - i : 33;
        assert_true(td_pgnt_room(&t, n));
        td_pgnt_add(&t, base + (size_t)i * PG, n, refs + i);
    }
    assert_int_equal(t.count, max);
    assert_int_equal(t.nregions, (max + 32) / 33);
    assert_false(td_pgnt_room(&t, 1));
    assert_true(td_pgnt_room(&t, 0));
    for (i = 0; i < max; i++)
        assert_ptr_equal(td_pgnt_find(&t, refs[i]), base + (size_t)i * PG);
    assert_null(td_pgnt_find(&t, 1));
    assert_null(td_pgnt_find(&t, max * t.nslots));
    td_pgnt_dispose(&t);
}

static void test_full_table(void **s)
{
    fill(0, 1056);              /* a one-page ring */
    fill(0xdeadbeef, 1056);
    fill(42, TD_PGNT_LIMIT);    /* an eight-page ring */
    fill(42, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_disposed),
        cmocka_unit_test(test_regions_map_pages_in_order),
        cmocka_unit_test(test_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
