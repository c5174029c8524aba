/* Unit tests: the tapdisk control protocol codec. */
#include "test_helpers.h"
#include <stdio.h>
#include <string.h>
#include "td_proto.h"

static void roundtrip_len(const td_msg *in, int len)
{
    uint8_t buf[TD_MSG_MAX];
    td_msg out;
    int n, m, cut;

    n = td_encode(in, buf, sizeof(buf));
    assert_true(n >= TD_HDR_LEN);
    assert_int_equal(n, len);
    m = td_decode(buf, (size_t)n, &out);
    assert_int_equal(m, n);
    assert_int_equal(out.type, in->type);
    assert_int_equal(out.cookie, in->cookie);
    assert_int_equal(out.minor, in->minor);
    assert_memory_equal(&out.u, &in->u, sizeof(in->u));
    /* Every truncation asks for more; none decodes. */
    for (cut = 0; cut < n; cut++)
        assert_int_equal(td_decode(buf, (size_t)cut, &out), TD_ERR_SHORT);
    /* A buffer too small to encode into is refused. */
    assert_int_equal(td_encode(in, buf, (size_t)n - 1), TD_ERR_SHORT);
}

static void roundtrip(const td_msg *in)
{
    roundtrip_len(in, TD_HDR_LEN + td_payload_len(in->type));
}

static void test_roundtrip_every_type(void **s)
{
    unsigned int t;
    int i;

    for (t = 1; t <= TD_MSG_TYPE_MAX; t++) {
        td_msg m;
        memset(&m, 0, sizeof(m));
        m.type = (uint16_t)t;
        m.cookie = (uint16_t)(0xBEEF + t);
        m.minor = t == TD_MSG_PID ? TD_NO_MINOR : t;
        switch (t) {
        case TD_MSG_PID_RSP:
            m.u.pid = 4242;
            break;
        case TD_MSG_OPEN:
            m.u.params.flags = TD_FLAG_RDONLY | TD_FLAG_STANDBY;
            m.u.params.devnum = 51712;
            m.u.params.domid = 7;
            td_set_string(m.u.params.path, TD_PATH_LEN, "aio:/srv/disk.img");
            m.u.params.prt_devnum = 3;
            td_set_string(m.u.params.secondary, TD_PATH_LEN, "aio:/srv/b");
            break;
        case TD_MSG_OPEN_RSP:
        case TD_MSG_DISK_INFO_RSP:
            m.u.image.sectors = 0x123456789ULL;
            m.u.image.sector_size = 4096;
            m.u.image.info = TD_INFO_READONLY;
            m.u.image.features = TD_FEAT_FLUSH | TD_FEAT_DISCARD;
            break;
        case TD_MSG_ERROR:
        case TD_MSG_RUNTIME_ERROR:
            m.u.response.error = 114;
            td_set_string(m.u.response.message, TD_STRING_LEN,
                          "already connected");
            break;
        case TD_MSG_LIST_RSP:
            m.u.list.count = 2;
            m.u.list.minor = 1;
            m.u.list.state = TD_IMG_CONNECTED;
            td_set_string(m.u.list.path, TD_PATH_LEN, "aio:/x");
            break;
        case TD_MSG_STATS_RSP:
            for (i = 0; i < TD_STAT_COUNT; i++)
                m.u.stats.v[i] = 0x0102030405060708ULL * (uint64_t)(i + 1);
            break;
        case TD_MSG_XENBLKIF_CONNECT:
        case TD_MSG_XENBLKIF_DISCONNECT:
            m.u.blkif.domid = 0x7FEF;
            m.u.blkif.devid = 51728;
            for (i = 0; i < (int)TD_MAX_RING_PAGES; i++)
                m.u.blkif.gref[i] = 0xFFFFFFF0u + (uint32_t)i;
            m.u.blkif.order = 3;
            m.u.blkif.proto = TD_PROTO_X86_32;
            td_set_string(m.u.blkif.pool, TD_STRING_LEN, "pool0");
            m.u.blkif.port = 0xFFFFFFFFu;
            break;
        }
        roundtrip(&m);
        assert_string_not_equal(td_msg_name(t), "unknown");
    }
}

static void test_two_in_a_row(void **s)
{
    td_msg a = { .type = TD_MSG_PID, .cookie = 1, .minor = TD_NO_MINOR };
    td_msg b = { .type = TD_MSG_PID_RSP, .cookie = 1, .minor = 0 };
    uint8_t buf[2 * TD_MSG_MAX];
    td_msg out;
    int n1, n2;

    b.u.pid = 99;
    n1 = td_encode(&a, buf, TD_MSG_MAX);
    n2 = td_encode(&b, buf + n1, TD_MSG_MAX);
    assert_int_equal(td_decode(buf, (size_t)(n1 + n2), &out), n1);
    assert_int_equal(out.type, TD_MSG_PID);
    assert_int_equal(td_decode(buf + n1, (size_t)n2, &out), n2);
    assert_int_equal(out.u.pid, 99);
}

static int encode_raw(uint8_t *buf, uint16_t type, uint32_t len)
{
    memset(buf, 0, TD_MSG_MAX);
    buf[0] = type & 0xFF;
    buf[1] = type >> 8;
    buf[8] = len & 0xFF;
    buf[9] = (len >> 8) & 0xFF;
    buf[10] = (len >> 16) & 0xFF;
    buf[11] = len >> 24;
    return TD_HDR_LEN + (int)(len < TD_MSG_MAX - TD_HDR_LEN ? len : 0);
}

static void test_rejects(void **s)
{
    uint8_t buf[TD_MSG_MAX];
    td_msg m;
    int n;

    /* Unknown types: 0, one past the last, 0xFFFF. */
    encode_raw(buf, 0, 0);
    assert_int_equal(td_decode(buf, TD_HDR_LEN, &m), TD_ERR_TYPE);
    encode_raw(buf, TD_MSG_TYPE_MAX + 1, 0);
    assert_int_equal(td_decode(buf, TD_HDR_LEN, &m), TD_ERR_TYPE);
    encode_raw(buf, 0xFFFF, 0);
    assert_int_equal(td_decode(buf, TD_HDR_LEN, &m), TD_ERR_TYPE);
    /* Oversized: a length above what the type carries, judged from the
     * header alone (no waiting for 4 GiB). */
    encode_raw(buf, TD_MSG_PID, 1);
    assert_int_equal(td_decode(buf, TD_HDR_LEN, &m), TD_ERR_LENGTH);
    encode_raw(buf, TD_MSG_OPEN, 0xFFFFFFFFu);
    assert_int_equal(td_decode(buf, TD_HDR_LEN, &m), TD_ERR_LENGTH);
    /* Undersized payload for its type. */
    encode_raw(buf, TD_MSG_XENBLKIF_CONNECT, 8);
    assert_int_equal(td_decode(buf, TD_HDR_LEN + 8, &m), TD_ERR_LENGTH);

    /* Range checks in decode. */
    {
        td_msg c = { .type = TD_MSG_XENBLKIF_CONNECT, .cookie = 1 };
        c.u.blkif.order = 3;
        n = td_encode(&c, buf, sizeof(buf));
        assert_true(n > 0);
        /* order 4 would overflow gref[8]: patch it on the wire. */
        buf[TD_HDR_LEN + 8 + 32] = 4;
        assert_int_equal(td_decode(buf, (size_t)n, &m), TD_ERR_RANGE);
        buf[TD_HDR_LEN + 8 + 32] = 3;
        buf[TD_HDR_LEN + 8 + 36] = 3;       /* proto 3: unknown */
        assert_int_equal(td_decode(buf, (size_t)n, &m), TD_ERR_RANGE);
        buf[TD_HDR_LEN + 8 + 36] = 0;
        /* pool without its NUL */
        memset(buf + TD_HDR_LEN + 8 + 40, 'x', TD_STRING_LEN);
        assert_int_equal(td_decode(buf, (size_t)n, &m), TD_ERR_STRING);
    }
    {
        td_msg o = { .type = TD_MSG_OPEN };
        td_set_string(o.u.params.path, TD_PATH_LEN, "aio:/a");
        n = td_encode(&o, buf, sizeof(buf));
        memset(buf + TD_HDR_LEN + 12, 'p', TD_PATH_LEN);   /* no NUL */
        assert_int_equal(td_decode(buf, (size_t)n, &m), TD_ERR_STRING);
        o.u.params.flags = 0x200;           /* unknown flag */
        assert_int_equal(td_encode(&o, buf, sizeof(buf)), TD_ERR_RANGE);
        o.u.params.flags = 0;
        o.u.params.domid = 0x7FF0;          /* DOMID_FIRST_RESERVED */
        assert_int_equal(td_encode(&o, buf, sizeof(buf)), TD_ERR_RANGE);
    }
    {
        td_msg i = { .type = TD_MSG_DISK_INFO_RSP };
        i.u.image.sector_size = 513;
        assert_int_equal(td_encode(&i, buf, sizeof(buf)), TD_ERR_RANGE);
        i.u.image.sector_size = 256;
        assert_int_equal(td_encode(&i, buf, sizeof(buf)), TD_ERR_RANGE);
        i.u.image.sector_size = 512;
        i.u.image.info = 8;
        assert_int_equal(td_encode(&i, buf, sizeof(buf)), TD_ERR_RANGE);
        i.u.image.info = 0;
        i.u.image.features = 0x80;
        assert_int_equal(td_encode(&i, buf, sizeof(buf)), TD_ERR_RANGE);
    }
    {
        td_msg p = { .type = TD_MSG_PID_RSP };
        assert_int_equal(td_encode(&p, buf, sizeof(buf)), TD_ERR_RANGE);
        p.u.pid = 0x80000000u;
        assert_int_equal(td_encode(&p, buf, sizeof(buf)), TD_ERR_RANGE);
    }
    {
        td_msg l = { .type = TD_MSG_LIST_RSP };
        l.u.list.minor = -2;
        assert_int_equal(td_encode(&l, buf, sizeof(buf)), TD_ERR_RANGE);
        l.u.list.minor = -1;
        l.u.list.state = 5;
        assert_int_equal(td_encode(&l, buf, sizeof(buf)), TD_ERR_RANGE);
        l.u.list.state = 0;
        l.u.list.count = -1;
        assert_int_equal(td_encode(&l, buf, sizeof(buf)), TD_ERR_RANGE);
    }
    {
        td_msg e = { .type = TD_MSG_ERROR };
        e.u.response.error = -5;
        assert_int_equal(td_encode(&e, buf, sizeof(buf)), TD_ERR_RANGE);
    }
    {
        td_msg u = { .type = 77 };
        assert_int_equal(td_encode(&u, buf, sizeof(buf)), TD_ERR_TYPE);
    }
}

/* blkif flags travel only when set, so a tapdisk that predates them
 * understands every message without one; a devd that predates them is
 * understood as it was. */
static void test_blkif_flags(void **s)
{
    td_msg c = { .type = TD_MSG_XENBLKIF_CONNECT, .cookie = 3 }, out;
    uint8_t buf[TD_MSG_MAX];
    int plain, n;

    c.u.blkif.port = 9;
    plain = td_encode(&c, buf, sizeof(buf));
    assert_int_equal(plain, TD_HDR_LEN +
                     td_payload_len(TD_MSG_XENBLKIF_CONNECT));
    c.u.blkif.flags = TD_BLKIF_PERSISTENT;
    n = td_encode(&c, buf, sizeof(buf));
    assert_int_equal(n, plain + 4);
    assert_int_equal(td_decode(buf, (size_t)n, &out), n);
    assert_int_equal(out.u.blkif.flags, TD_BLKIF_PERSISTENT);
    assert_int_equal(out.u.blkif.port, 9);
    roundtrip_len(&c, n);
    c.u.blkif.flags = TD_BLKIF_PERSISTENT | TD_BLKIF_TAKEOVER;
    n = td_encode(&c, buf, sizeof(buf));
    assert_int_equal(td_decode(buf, (size_t)n, &out), n);
    assert_int_equal(out.u.blkif.flags, 0x3);
    /* An unknown flag: refused both ways. */
    buf[n - 4] = 0x7;
    assert_int_equal(td_decode(buf, (size_t)n, &out), TD_ERR_RANGE);
    /* Flags of 0 in the longer form: not the one wire form of that
     * message, refused (so every message encodes back to its bytes). */
    buf[n - 4] = 0;
    assert_int_equal(td_decode(buf, (size_t)n, &out), TD_ERR_LENGTH);
    c.u.blkif.flags = 0x4;
    assert_int_equal(td_encode(&c, buf, sizeof(buf)), TD_ERR_RANGE);
    /* The longer form is a blkif payload's only: not another type's. */
    encode_raw(buf, TD_MSG_ERROR, 264);
    assert_int_equal(td_decode(buf, TD_HDR_LEN + 264, &out),
                     TD_ERR_LENGTH);
    encode_raw(buf, TD_MSG_XENBLKIF_CONNECT, (uint32_t)(plain + 8 -
                                                       TD_HDR_LEN));
    assert_int_equal(td_decode(buf, (size_t)plain + 8, &out),
                     TD_ERR_LENGTH);
}

static void test_names_and_pairs(void **s)
{
    assert_string_equal(td_msg_name(0), "unknown");
    assert_string_equal(td_msg_name(TD_MSG_TYPE_MAX + 1), "unknown");
    assert_string_equal(td_msg_name(TD_MSG_XENBLKIF_CONNECT), "blkif connect");
    assert_int_equal(td_response_type(TD_MSG_XENBLKIF_CONNECT),
                     TD_MSG_XENBLKIF_CONNECT_RSP);
    assert_int_equal(td_response_type(TD_MSG_EXIT), 0);
    assert_int_equal(td_response_type(TD_MSG_PID_RSP), 0);
    assert_string_equal(td_proto_name(TD_PROTO_X86_32), "x86_32-abi");
    assert_string_equal(td_proto_name(9), "unknown");
    {
        char f[4];
        assert_int_equal(td_set_string(f, sizeof(f), "abc"), 0);
        assert_int_equal(td_set_string(f, sizeof(f), "abcd"), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_two_in_a_row),
        cmocka_unit_test(test_blkif_flags),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_names_and_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
