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
    assert_int_equal(td_pgnt_init(&t, 7), 0);
    assert_null(td_pgnt_find(&t, 0));
    assert_true(td_pgnt_room(&t, TD_PGNT_MAX));
    assert_false(td_pgnt_room(&t, TD_PGNT_MAX + 1));
    td_pgnt_dispose(&t);
    td_pgnt_dispose(&t);
    assert_null(td_pgnt_find(&t, 0));
}

static void test_regions_map_pages_in_order(void **s)
{
    td_pgnt t;
    const uint32_t a[] = { 5, 0, 0xFFFFFFFFu };
    const uint32_t b[] = { 6 };

    td_pgnt_init(&t, 1234);
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

/* Filled to the bound, with references a guest might pick to collide
 * under an unkeyed hash (multiples of the slot count): every one is
 * found, nothing more fits, and other keys find the same. */
static void fill(uint32_t key)
{
    static uint32_t refs[TD_PGNT_MAX];
    td_pgnt t;
    unsigned int i;

    for (i = 0; i < TD_PGNT_MAX; i++)
        refs[i] = i * TD_PGNT_SLOTS;
    td_pgnt_init(&t, key);
    for (i = 0; i < TD_PGNT_MAX; i += 32)
        td_pgnt_add(&t, base + (size_t)i * PG, 32, refs + i);
    assert_int_equal(t.count, TD_PGNT_MAX);
    assert_false(td_pgnt_room(&t, 1));
    assert_true(td_pgnt_room(&t, 0));
    for (i = 0; i < TD_PGNT_MAX; i++)
        assert_ptr_equal(td_pgnt_find(&t, refs[i]), base + (size_t)i * PG);
    assert_null(td_pgnt_find(&t, 1));
    assert_null(td_pgnt_find(&t, TD_PGNT_MAX * TD_PGNT_SLOTS));
    td_pgnt_dispose(&t);
}

static void test_full_table(void **s)
{
    fill(0);
    fill(0xdeadbeef);
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
