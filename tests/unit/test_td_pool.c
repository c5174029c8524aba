/* Unit tests: tapdisk's per-ring data buffers (first-fit page runs). */
#include "test_helpers.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "td_pool.h"

#define PG TD_POOL_PAGE

static uint8_t mem[256 * 4096];

static void test_init_bounds(void **s)
{
    td_pool p;

    assert_int_equal(td_pool_init(&p, mem, 0), -1);
    assert_int_equal(td_pool_init(&p, NULL, 8), -1);
    assert_int_equal(td_pool_init(&p, mem, TD_POOL_MAX_PAGES + 1), -1);
    assert_int_equal(td_pool_init(&p, mem, 16), 0);
    assert_int_equal(p.nfree, 16);
}

static void test_runs_are_contiguous_and_disjoint(void **s)
{
    td_pool p;
    uint8_t *a, *b, *c;

    td_pool_init(&p, mem, 16);
    a = td_pool_get(&p, 4);
    b = td_pool_get(&p, 8);
    c = td_pool_get(&p, 4);
    assert_ptr_equal(a, mem);
    assert_ptr_equal(b, mem + 4 * PG);
    assert_ptr_equal(c, mem + 12 * PG);
    assert_int_equal(p.nfree, 0);
    /* Full: nothing more, not even one page. */
    assert_null(td_pool_get(&p, 1));
    assert_null(td_pool_get(&p, 0));
}

static void test_fragmented_waits_then_fits(void **s)
{
    td_pool p;
    uint8_t *r[8];
    int i;

    td_pool_init(&p, mem, 16);
    for (i = 0; i < 8; i++)
        r[i] = td_pool_get(&p, 2);
    /* Every other run back: 8 pages free, but no run of 3. */
    for (i = 0; i < 8; i += 2)
        td_pool_put(&p, r[i], 2);
    assert_int_equal(p.nfree, 8);
    assert_null(td_pool_get(&p, 3));
    assert_ptr_equal(td_pool_get(&p, 2), r[0]);
    /* Neighbours back: the run of 3 appears where they were. */
    td_pool_put(&p, r[1], 2);
    assert_ptr_equal(td_pool_get(&p, 3), r[1]);
}

static void test_give_back_a_tail(void **s)
{
    td_pool p;
    uint8_t *a;

    td_pool_init(&p, mem, 8);
    a = td_pool_get(&p, 8);
    /* A request that needed fewer pages than it took gives back the rest. */
    td_pool_put(&p, a + 3 * PG, 5);
    assert_int_equal(p.nfree, 5);
    assert_ptr_equal(td_pool_get(&p, 5), a + 3 * PG);
    td_pool_put(&p, NULL, 3);
    td_pool_put(&p, a, 0);
    assert_int_equal(p.nfree, 0);
}

/* Random gets and puts against a model: never two owners of one page,
 * every page back at the end; across 64-page word boundaries. */
static void test_random_against_model(void **s)
{
    static int owner[256];
    struct { uint8_t *b; unsigned int n; } live[64];
    unsigned int nlive = 0, i, k, step;
    td_pool p;

    srand(7);
    td_pool_init(&p, mem, 200);
    memset(owner, 0, sizeof(owner));
    for (step = 0; step < 20000; step++) {
        if (nlive < 64 && rand() % 2) {
            unsigned int n = 1 + (unsigned int)rand() % 40;
            uint8_t *b = td_pool_get(&p, n);
            if (!b)
                continue;
            for (k = 0; k < n; k++) {
                unsigned int pg = (unsigned int)((b - mem) / PG) + k;
                assert_true(pg < 200);
                assert_int_equal(owner[pg], 0);
                owner[pg] = 1;
            }
            live[nlive].b = b;
            live[nlive++].n = n;
        } else if (nlive) {
            i = (unsigned int)rand() % nlive;
            for (k = 0; k < live[i].n; k++)
                owner[(live[i].b - mem) / PG + k] = 0;
            td_pool_put(&p, live[i].b, live[i].n);
            live[i] = live[--nlive];
        }
    }
    while (nlive--)
        td_pool_put(&p, live[nlive].b, live[nlive].n);
    assert_int_equal(p.nfree, 200);
    assert_ptr_equal(td_pool_get(&p, 200), mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_bounds),
        cmocka_unit_test(test_runs_are_contiguous_and_disjoint),
        cmocka_unit_test(test_fragmented_waits_then_fits),
        cmocka_unit_test(test_give_back_a_tail),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
