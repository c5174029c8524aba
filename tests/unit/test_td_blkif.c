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

/*----- indirect requests -----*/

/* The i386 layout, as QEMU's and Linux's backends declare it. */
#pragma pack(push, 4)
struct x86_32_indirect {
    uint8_t operation, indirect_op;
    uint16_t nr_segments;
    uint64_t id, sector_number;
    uint16_t handle, pad1;
    uint32_t indirect_grefs[8];
    uint64_t pad2;
};
#pragma pack(pop)

static void test_indirect_decode_matches_xen(void **s)
{
    union blkif_sring_entry e;
    struct blkif_request_indirect *in = (void *)&e.req;
    struct x86_32_indirect in32;
    uint8_t raw[TD_ENTRY_MAX];
    td_ireq r;
    int i;

    memset(&e, 0xAA, sizeof(e));
    in->operation = BLKIF_OP_INDIRECT;
    in->indirect_op = BLKIF_OP_WRITE;
    in->nr_segments = 300;
    in->id = 0x1122334455667788ULL;
    in->sector_number = 0x0102030405060708ULL;
    in->handle = 51712;
    for (i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
        in->indirect_grefs[i] = 1000 + i;
    td_ireq_decode(TD_PROTO_NATIVE, (const uint8_t *)&e, &r);
    assert_int_equal(r.op, TD_OP_INDIRECT);
    assert_int_equal(r.indirect_op, TD_OP_WRITE);
    assert_int_equal(r.nr_segments, 300);
    assert_true(r.id == 0x1122334455667788ULL);
    assert_true(r.sector == 0x0102030405060708ULL);
    assert_int_equal(r.handle, 51712);
    for (i = 0; i < TD_MAX_INDIRECT_PAGES; i++)
        assert_int_equal(r.page_gref[i], 1000 + i);

    assert_int_equal(sizeof(in32), 64);
    memset(&in32, 0x55, sizeof(in32));
    in32.operation = TD_OP_INDIRECT;
    in32.indirect_op = TD_OP_READ;
    in32.nr_segments = 7;
    in32.id = 42;
    in32.sector_number = 99;
    in32.handle = 768;
    for (i = 0; i < 8; i++)
        in32.indirect_grefs[i] = 7 + i;
    memset(raw, 0, sizeof(raw));
    memcpy(raw, &in32, sizeof(in32));
    td_ireq_decode(TD_PROTO_X86_32, raw, &r);
    assert_int_equal(r.indirect_op, TD_OP_READ);
    assert_int_equal(r.nr_segments, 7);
    assert_true(r.id == 42 && r.sector == 99);
    assert_int_equal(r.handle, 768);
    assert_int_equal(r.page_gref[7], 14);
}

static td_ireq ireq(uint8_t iop, uint16_t nsegs, uint64_t sector)
{
    td_ireq r;

    memset(&r, 0, sizeof(r));
    r.op = TD_OP_INDIRECT;
    r.indirect_op = iop;
    r.nr_segments = nsegs;
    r.sector = sector;
    return r;
}

static void test_indirect_header(void **s)
{
    td_ireq r;
    int op;

    r = ireq(TD_OP_READ, 1, 0);
    assert_int_equal(td_ireq_validate_header(&r, 256, true), TD_REQ_OK);
    assert_int_equal(r.nr_pages, 1);
    r = ireq(TD_OP_WRITE, 256, 0);
    assert_int_equal(td_ireq_validate_header(&r, 256, false), TD_REQ_OK);
    assert_int_equal(r.nr_pages, 1);
    /* Only reads and writes travel indirect (blkback says the same). */
    for (op = 0; op < 256; op++) {
        r = ireq((uint8_t)op, 8, 0);
        assert_int_equal(td_ireq_validate_header(&r, 256, false),
                         op == TD_OP_READ || op == TD_OP_WRITE
                         ? TD_REQ_OK : TD_REQ_BAD_INDIRECT_OP);
    }
    r = ireq(TD_OP_READ, 8, 0);
    r.op = TD_OP_READ;
    assert_int_equal(td_ireq_validate_header(&r, 256, false), TD_REQ_BAD_OP);
    /* Segment counts: none, over what we advertise, over the limit. */
    r = ireq(TD_OP_READ, 0, 0);
    assert_int_equal(td_ireq_validate_header(&r, 256, false),
                     TD_REQ_BAD_NSEGS);
    r = ireq(TD_OP_READ, 257, 0);
    assert_int_equal(td_ireq_validate_header(&r, 256, false),
                     TD_REQ_BAD_NSEGS);
    r = ireq(TD_OP_READ, 33, 0);
    assert_int_equal(td_ireq_validate_header(&r, 32, false),
                     TD_REQ_BAD_NSEGS);
    r = ireq(TD_OP_READ, 4096, 0);
    assert_int_equal(td_ireq_validate_header(&r, 65535, false),
                     TD_REQ_BAD_NSEGS);
    r = ireq(TD_OP_READ, 65535, 0);
    assert_int_equal(td_ireq_validate_header(&r, 65535, false),
                     TD_REQ_BAD_NSEGS);
    /* A write to a read-only image, before any page is touched. */
    r = ireq(TD_OP_WRITE, 8, 0);
    assert_int_equal(td_ireq_validate_header(&r, 256, true),
                     TD_REQ_READONLY);
    assert_int_equal(td_req_verdict_status(TD_REQ_BAD_INDIRECT_OP),
                     TD_RSP_ERROR);
    assert_string_not_equal(td_req_verdict_name(TD_REQ_BAD_INDIRECT_OP),
                            "invalid");
}

/* An indirect page of n segments, each (first, last). */
static void ipage(uint8_t *page, unsigned int n, uint8_t first,
                  uint8_t last)
{
    unsigned int i;

    memset(page, 0xEE, TD_PAGE_SIZE);
    for (i = 0; i < n; i++) {
        struct blkif_request_segment seg = {
            .gref = 500 + i, .first_sect = first, .last_sect = last,
        };
        memcpy(page + 8 * i, &seg, sizeof(seg));
    }
}

static void test_indirect_segments(void **s)
{
    static uint8_t page[TD_PAGE_SIZE];
    td_ireq r;

    /* 256 full pages: 1 MiB, 2048 sectors, ending at the image's end. */
    ipage(page, 256, 0, 7);
    r = ireq(TD_OP_READ, 256, 0);
    assert_int_equal(td_ireq_validate_header(&r, 256, false), TD_REQ_OK);
    assert_int_equal(td_ireq_validate_segments(&r, page, IMG), TD_REQ_OK);
    assert_true(r.nr_sectors == 2048);
    assert_int_equal(r.seg[255].gref, 755);
    assert_int_equal(r.seg[0].last_sect, 7);
    /* One sector past the end. */
    r = ireq(TD_OP_READ, 256, 1);
    td_ireq_validate_header(&r, 256, false);
    assert_int_equal(td_ireq_validate_segments(&r, page, IMG),
                     TD_REQ_OUT_OF_RANGE);
    /* A sector that would wrap around. */
    r = ireq(TD_OP_WRITE, 1, UINT64_MAX - 3);
    td_ireq_validate_header(&r, 256, false);
    assert_int_equal(td_ireq_validate_segments(&r, page, UINT64_MAX),
                     TD_REQ_OUT_OF_RANGE);
    /* Bad segments: first after last, last past the page. */
    ipage(page, 3, 5, 4);
    r = ireq(TD_OP_READ, 3, 0);
    td_ireq_validate_header(&r, 256, false);
    assert_int_equal(td_ireq_validate_segments(&r, page, IMG),
                     TD_REQ_BAD_SEG);
    ipage(page, 3, 0, 8);
    r = ireq(TD_OP_READ, 3, 0);
    td_ireq_validate_header(&r, 256, false);
    assert_int_equal(td_ireq_validate_segments(&r, page, IMG),
                     TD_REQ_BAD_SEG);
    /* Only the first nr_segments are read: junk after them is fine. */
    ipage(page, 2, 1, 1);
    r = ireq(TD_OP_READ, 2, 10);
    td_ireq_validate_header(&r, 256, false);
    assert_int_equal(td_ireq_validate_segments(&r, page, IMG), TD_REQ_OK);
    assert_true(r.nr_sectors == 2);
    /* Without a valid header, nothing is read. */
    r = ireq(TD_OP_READ, 2, 10);
    assert_int_equal(td_ireq_validate_segments(&r, page, IMG),
                     TD_REQ_BAD_NSEGS);
}

/* The buffer a request may need, read before it is validated. */
static void test_max_pages(void **s)
{
    uint8_t e[TD_ENTRY_MAX];

    memset(e, 0, sizeof(e));
    e[0] = TD_OP_READ; e[1] = 3;
    assert_int_equal(td_req_max_pages(e), 3);
    e[0] = TD_OP_FLUSH; e[1] = 0;
    assert_int_equal(td_req_max_pages(e), 0);
    /* A claim beyond any valid request is bounded. */
    e[0] = TD_OP_WRITE; e[1] = 200;
    assert_int_equal(td_req_max_pages(e), TD_MAX_SEGS);
    e[0] = TD_OP_INDIRECT; e[1] = TD_OP_READ; e[2] = 0x20; e[3] = 0x00;
    assert_int_equal(td_req_max_pages(e), 32);
    e[2] = 0xFF; e[3] = 0xFF;
    assert_int_equal(td_req_max_pages(e), TD_MAX_INDIRECT_SEGS);
    e[0] = TD_OP_DISCARD; e[1] = 11;
    assert_int_equal(td_req_max_pages(e), 0);
    e[0] = 0x77;
    assert_int_equal(td_req_max_pages(e), 0);
    assert_string_equal(td_req_verdict_name(TD_REQ_BAD_INDIRECT_PAGE),
                        "indirect segment page not readable");
    assert_int_equal(td_req_verdict_status(TD_REQ_BAD_INDIRECT_PAGE),
                     TD_RSP_ERROR);
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
        cmocka_unit_test(test_indirect_decode_matches_xen),
        cmocka_unit_test(test_indirect_header),
        cmocka_unit_test(test_indirect_segments),
        cmocka_unit_test(test_max_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
