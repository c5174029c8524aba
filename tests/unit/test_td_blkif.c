/* Unit tests: blkif ring layouts and request validation in tapdisk. */
#include "test_helpers.h"
#include <stdio.h>
#include <string.h>
#include <xen/io/blkif.h>
#include "td_blkif.h"
#include "td_proto.h"

#define IMG 2048        /* sectors: 1 MiB */

static td_req rw(uint8_t op, uint64_t sector, int nsegs, uint8_t first,
                 uint8_t last)
{
    td_req r;
    int i;

    memset(&r, 0, sizeof(r));
    r.op = op;
    r.nr_segments = (uint8_t)nsegs;
    r.sector = sector;
    for (i = 0; i < nsegs && i < TD_MAX_SEGS; i++) {
        r.seg[i].gref = (uint32_t)(100 + i);
        r.seg[i].first_sect = first;
        r.seg[i].last_sect = last;
    }
    return r;
}

static void test_geometry(void **s)
{
    td_ring_geom g;

    /* Matches __RING_SIZE for the native ring (Xen's own macros). */
    assert_int_equal(td_ring_geometry(TD_PROTO_NATIVE, 0, &g), 0);
    assert_int_equal(g.entry_size, sizeof(union blkif_sring_entry));
    assert_int_equal(g.nr_ents, __CONST_RING_SIZE(blkif, 4096));
    assert_int_equal(td_ring_geometry(TD_PROTO_NATIVE, 3, &g), 0);
    assert_int_equal(g.nr_ents, __CONST_RING_SIZE(blkif, 4096 * 8));
    assert_int_equal(td_ring_geometry(TD_PROTO_X86_32, 0, &g), 0);
    assert_int_equal(g.entry_size, 108);
    assert_int_equal(g.nr_ents, 32);
    assert_int_equal(td_ring_geometry(TD_PROTO_X86_64, 3, &g), 0);
    assert_int_equal(g.nr_ents, 256);
    assert_int_equal(td_ring_geometry(TD_PROTO_NATIVE, 4, &g), -1);
    assert_int_equal(td_ring_geometry(3, 0, &g), -1);
}

static void test_decode_native_matches_xen(void **s)
{
    union blkif_sring_entry e;
    blkif_request_discard_t *dr = (blkif_request_discard_t *)&e.req;
    td_req r;

    memset(&e, 0xAA, sizeof(e));
    e.req.operation = BLKIF_OP_WRITE;
    e.req.nr_segments = 2;
    e.req.handle = 51712;
    e.req.id = 0x1122334455667788ULL;
    e.req.sector_number = 4096;
    e.req.seg[0].gref = 77;
    e.req.seg[0].first_sect = 1;
    e.req.seg[0].last_sect = 7;
    e.req.seg[1].gref = 78;
    e.req.seg[1].first_sect = 0;
    e.req.seg[1].last_sect = 3;
    td_req_decode(TD_PROTO_NATIVE, (const uint8_t *)&e, &r);
    assert_int_equal(r.op, BLKIF_OP_WRITE);
    assert_int_equal(r.nr_segments, 2);
    assert_int_equal(r.handle, 51712);
    assert_true(r.id == 0x1122334455667788ULL);
    assert_int_equal(r.sector, 4096);
    assert_int_equal(r.seg[0].gref, 77);
    assert_int_equal(r.seg[0].first_sect, 1);
    assert_int_equal(r.seg[1].last_sect, 3);

    memset(&e, 0, sizeof(e));
    dr->operation = BLKIF_OP_DISCARD;
    dr->id = 5;
    dr->sector_number = 10;
    dr->nr_sectors = 2000;
    td_req_decode(TD_PROTO_X86_64, (const uint8_t *)&e, &r);
    assert_int_equal(r.op, BLKIF_OP_DISCARD);
    assert_int_equal(r.sector, 10);
    assert_int_equal(r.nr_sectors, 2000);
    assert_int_equal(r.nr_segments, 0);
}

static void test_decode_x86_32(void **s)
{
    uint8_t e[108];
    td_req r;

    memset(e, 0, sizeof(e));
    e[0] = BLKIF_OP_READ;
    e[1] = 1;
    e[4] = 0x44;            /* id at 4 */
    e[12] = 0x10;           /* sector at 12 */
    e[20] = 9;              /* seg[0].gref at 20 */
    e[24] = 2;              /* first_sect */
    e[25] = 5;              /* last_sect */
    td_req_decode(TD_PROTO_X86_32, e, &r);
    assert_int_equal(r.id, 0x44);
    assert_int_equal(r.sector, 0x10);
    assert_int_equal(r.seg[0].gref, 9);
    assert_int_equal(r.seg[0].first_sect, 2);
    assert_int_equal(r.seg[0].last_sect, 5);
}

static void test_decode_never_overreads(void **s)
{
    uint8_t e[TD_ENTRY_MAX];
    td_req r;

    memset(e, 0xFF, sizeof(e));     /* nr_segments 255 */
    e[0] = BLKIF_OP_READ;
    td_req_decode(TD_PROTO_X86_32, e, &r);     /* ASan would catch it */
    assert_int_equal(r.nr_segments, 255);
    assert_int_equal(td_req_validate(&r, IMG, false, true), TD_REQ_BAD_NSEGS);
}

static void test_validate_ok(void **s)
{
    td_req r = rw(TD_OP_READ, 0, 11, 0, 7);

    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_OK);
    assert_int_equal(r.nr_sectors, 88);
    r = rw(TD_OP_WRITE, IMG - 8, 1, 0, 7);      /* the very last page */
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_OK);
    r = rw(TD_OP_WRITE, IMG - 1, 1, 3, 3);      /* the very last sector */
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_OK);
    r = rw(TD_OP_FLUSH, 0, 0, 0, 0);            /* empty flush */
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_OK);
    r = rw(TD_OP_FLUSH, 8, 2, 0, 7);            /* FUA write */
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_OK);
    r = rw(TD_OP_FLUSH, UINT64_MAX, 0, 0, 0);   /* blkfront's empty flush */
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_OK);
    r = rw(TD_OP_WRITE_BARRIER, UINT64_MAX, 0, 0, 0);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_OK);
    r = rw(TD_OP_FLUSH, 0, 0, 0, 0);            /* flush on read-only */
    assert_int_equal(td_req_validate(&r, IMG, true, false), TD_REQ_OK);
    r = rw(TD_OP_READ, 0, 1, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, true, false), TD_REQ_OK);
}

static void test_validate_rejects(void **s)
{
    td_req r;

    r = rw(TD_OP_READ, 0, 0, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_NSEGS);
    r = rw(TD_OP_WRITE, 0, 12, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_NSEGS);
    r = rw(TD_OP_FLUSH, 0, 12, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_NSEGS);
    r = rw(TD_OP_FLUSH, IMG, 1, 0, 0);          /* FUA write past the end */
    assert_int_equal(td_req_validate(&r, IMG, false, false),
                     TD_REQ_OUT_OF_RANGE);
    r = rw(TD_OP_READ, 0, 1, 5, 4);             /* first > last */
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_SEG);
    r = rw(TD_OP_READ, 0, 1, 0, 8);             /* past the page */
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_SEG);
    r = rw(TD_OP_READ, 0, 1, 255, 255);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_SEG);
    r = rw(TD_OP_READ, IMG - 7, 1, 0, 7);       /* one sector too far */
    assert_int_equal(td_req_validate(&r, IMG, false, false),
                     TD_REQ_OUT_OF_RANGE);
    r = rw(TD_OP_READ, IMG, 1, 0, 0);
    assert_int_equal(td_req_validate(&r, IMG, false, false),
                     TD_REQ_OUT_OF_RANGE);
    r = rw(TD_OP_WRITE, UINT64_MAX - 3, 1, 0, 7);   /* overflow */
    assert_int_equal(td_req_validate(&r, IMG, false, false),
                     TD_REQ_OUT_OF_RANGE);
    r = rw(TD_OP_WRITE, 0, 1, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, true, false), TD_REQ_READONLY);
    r = rw(TD_OP_FLUSH, 0, 1, 0, 7);            /* FUA write, read-only */
    assert_int_equal(td_req_validate(&r, IMG, true, false), TD_REQ_READONLY);
    r = rw(TD_OP_INDIRECT, 0, 1, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_OP);
    r = rw(4, 0, 1, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_OP);
    r = rw(200, 0, 1, 0, 7);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_OP);
    assert_int_equal(td_req_verdict_status(TD_REQ_BAD_OP), TD_RSP_EOPNOTSUPP);
    assert_int_equal(td_req_verdict_status(TD_REQ_BAD_SEG), TD_RSP_ERROR);
    assert_int_equal(td_req_verdict_status(TD_REQ_OK), TD_RSP_OKAY);
}

static void test_validate_discard(void **s)
{
    td_req r;

    memset(&r, 0, sizeof(r));
    r.op = TD_OP_DISCARD;
    r.sector = 0;
    r.nr_sectors = IMG;
    assert_int_equal(td_req_validate(&r, IMG, false, true), TD_REQ_OK);
    assert_int_equal(td_req_validate(&r, IMG, false, false), TD_REQ_BAD_OP);
    assert_int_equal(td_req_validate(&r, IMG, true, true), TD_REQ_READONLY);
    r.nr_sectors = IMG + 1;
    assert_int_equal(td_req_validate(&r, IMG, false, true),
                     TD_REQ_OUT_OF_RANGE);
    r.sector = 1;
    r.nr_sectors = UINT64_MAX;
    assert_int_equal(td_req_validate(&r, IMG, false, true),
                     TD_REQ_OUT_OF_RANGE);
}

static void test_response_layout(void **s)
{
    union blkif_sring_entry e;

    memset(&e, 0xEE, sizeof(e));
    td_rsp_encode((uint8_t *)&e, 0xCAFEBABE12345678ULL, BLKIF_OP_READ,
                  TD_RSP_EOPNOTSUPP);
    assert_true(e.rsp.id == 0xCAFEBABE12345678ULL);
    assert_int_equal(e.rsp.operation, BLKIF_OP_READ);
    assert_int_equal(e.rsp.status, BLKIF_RSP_EOPNOTSUPP);
}

static void test_prod_check(void **s)
{
    assert_true(td_ring_prod_ok(32, 0, 32));
    assert_false(td_ring_prod_ok(33, 0, 32));
    assert_true(td_ring_prod_ok(5, 5, 32));
    /* Wrap-around of the free-running indexes. */
    assert_true(td_ring_prod_ok(10, 0xFFFFFFF0u, 32));
    assert_false(td_ring_prod_ok(0xFFFFFFF0u, 10, 32));  /* "behind" us */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_decode_native_matches_xen),
        cmocka_unit_test(test_decode_x86_32),
        cmocka_unit_test(test_decode_never_overreads),
        cmocka_unit_test(test_validate_ok),
        cmocka_unit_test(test_validate_rejects),
        cmocka_unit_test(test_validate_discard),
        cmocka_unit_test(test_response_layout),
        cmocka_unit_test(test_prod_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
