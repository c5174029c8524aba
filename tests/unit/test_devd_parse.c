/* Unit tests: strict parsing of XenStore values and backend paths. */
#include "test_helpers.h"
#include <stdio.h>
#include <string.h>
#include "devd_parse.h"

#define BE "/local/domain/1/backend"

static void test_uint_ok(void **s)
{
    uint32_t v = 99;
    assert_int_equal(libxl__devd_parse_uint("0", 10, &v), DEVD_PARSE_OK);
    assert_int_equal(v, 0);
    assert_int_equal(libxl__devd_parse_uint("4294967295", UINT32_MAX, &v), 0);
    assert_true(v == UINT32_MAX);
    assert_int_equal(libxl__devd_parse_uint("51712", DEVD_DEVID_MAX, &v), 0);
    assert_int_equal(v, 51712);
}

static void test_uint_bad(void **s)
{
    uint32_t v = 7;
    assert_int_equal(libxl__devd_parse_uint("", 10, &v), DEVD_PARSE_EMPTY);
    assert_int_equal(libxl__devd_parse_uint(NULL, 10, &v), DEVD_PARSE_EMPTY);
    assert_int_equal(libxl__devd_parse_uint("12abc", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint("-1", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint("+1", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint(" 1", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint("1 ", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint("1\n", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint("01", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint("0x10", 100, &v), DEVD_PARSE_JUNK);
    assert_int_equal(libxl__devd_parse_uint("4294967296", UINT32_MAX, &v),
                     DEVD_PARSE_RANGE);
    assert_int_equal(libxl__devd_parse_uint("99999999999999999999999999", UINT32_MAX, &v),
                     DEVD_PARSE_RANGE);
    assert_int_equal(libxl__devd_parse_uint("11", 10, &v), DEVD_PARSE_RANGE);
    assert_int_equal(v, 7);     /* untouched on failure */
}

static void test_state_online(void **s)
{
    int st = -1, on = -1;
    for (int i = 0; i <= 8; i++) {
        char b[4];
        snprintf(b, sizeof(b), "%d", i);
        assert_int_equal(libxl__devd_parse_state(b, &st), 0);
        assert_int_equal(st, i);
    }
    assert_int_not_equal(libxl__devd_parse_state("9", &st), 0);
    assert_int_not_equal(libxl__devd_parse_state("4x", &st), 0);
    assert_int_not_equal(libxl__devd_parse_state("", &st), 0);
    assert_int_not_equal(libxl__devd_parse_state("-4", &st), 0);
    assert_int_equal(libxl__devd_parse_online("0", &on), 0);
    assert_int_equal(on, 0);
    assert_int_equal(libxl__devd_parse_online("1", &on), 0);
    assert_int_equal(on, 1);
    assert_int_not_equal(libxl__devd_parse_online("2", &on), 0);
    assert_int_not_equal(libxl__devd_parse_online("true", &on), 0);
    assert_int_not_equal(libxl__devd_parse_online("", &on), 0);
}

static void test_path_levels(void **s)
{
    devd_path p;
    assert_int_equal(libxl__devd_parse_path(BE, "/local/domain/2/backend/vbd", &p),
                     DEVD_PATH_OUTSIDE);
    assert_int_equal(libxl__devd_parse_path(BE, BE "x/vbd", &p), DEVD_PATH_OUTSIDE);
    assert_int_equal(libxl__devd_parse_path(BE, BE, &p), DEVD_PATH_BACKEND);
    assert_int_equal(libxl__devd_parse_path(BE, BE "/vbd", &p), DEVD_PATH_KIND);
    assert_string_equal(p.kind, "vbd");
    assert_int_equal(libxl__devd_parse_path(BE, BE "/vif/3", &p), DEVD_PATH_GUEST);
    assert_int_equal(p.domid, 3);
    assert_int_equal(libxl__devd_parse_path(BE, BE "/qdisk/3/51728", &p),
                     DEVD_PATH_DEVICE);
    assert_string_equal(p.kind, "qdisk");
    assert_int_equal(p.domid, 3);
    assert_int_equal(p.devid, 51728);
    assert_string_equal(p.key, "");
    assert_int_equal(libxl__devd_parse_path(BE, BE "/vbd/3/51712/state", &p),
                     DEVD_PATH_DEVICE);
    assert_string_equal(p.key, "state");
    assert_int_equal(libxl__devd_parse_path(BE, BE "/vbd/3/51712/a/b", &p),
                     DEVD_PATH_DEVICE);
    assert_string_equal(p.key, "a/b");
}

static void test_path_invalid(void **s)
{
    devd_path p;
    const char *bad[] = {
        BE "/", BE "//3", BE "/VBD/3", BE "/vbd-x/3", BE "/vbd/",
        BE "/vbd/abc", BE "/vbd/-1", BE "/vbd/032", BE "/vbd/32768",
        BE "/vbd/4294967296/1", BE "/vbd/3/", BE "/vbd/3/x1",
        BE "/vbd/3/2147483648", BE "/vbd/3/51712/",
        BE "/averyveryverylongkindname/3/1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(libxl__devd_parse_path(BE, bad[i], &p), DEVD_PATH_INVALID);
        assert_int_equal(p.level, DEVD_PATH_INVALID);
    }
    /* the largest valid ones */
    assert_int_equal(libxl__devd_parse_path(BE, BE "/vbd/32751/2147483647", &p),
                     DEVD_PATH_DEVICE);
    assert_int_equal(p.domid, 32751);
    assert_true(p.devid == 2147483647u);
}

#define CMD(lit) lit, sizeof(lit) - 1

static void test_cmdline_domid(void **s)
{
    assert_true(libxl__devd_cmdline_serves_domid(
        CMD("/usr/libexec/xen-qemu-system-i386\0-xen-domid\0004\0-xen-attach\0"), 4));
    assert_true(libxl__devd_cmdline_serves_domid(
        CMD("qemu\0-xen-domid\0" "12\0"), 12));
    /* another guest's QEMU, or a process that reused the pid */
    assert_false(libxl__devd_cmdline_serves_domid(CMD("qemu\0-xen-domid\0" "12\0"), 1));
    assert_false(libxl__devd_cmdline_serves_domid(CMD("qemu\0-xen-domid\0" "120\0"), 12));
    assert_false(libxl__devd_cmdline_serves_domid(CMD("bash\0-c\0sleep 5\0"), 4));
    assert_false(libxl__devd_cmdline_serves_domid(CMD("qemu\0-xen-domid\0"), 4));
    assert_false(libxl__devd_cmdline_serves_domid(CMD("qemu\0-xen-domid\0" "4x\0"), 4));
    assert_false(libxl__devd_cmdline_serves_domid(CMD("qemu\0-xen-domid\0" "4"), 4));
    assert_false(libxl__devd_cmdline_serves_domid(CMD("qemu\0-xen-domid\0" "99999999999999999\0"), 4));
    assert_false(libxl__devd_cmdline_serves_domid("", 0, 4));
}

/* Guest text, escaped: nothing a terminal or a log reader would take as
 * anything but text, and bounded. */
static void test_escape(void **s)
{
    char out[DEVD_SHOW_LEN];
    const char inj[] = "x86_64-abi\n\x1b[31mDomain 0: FORGED\"\\";

    assert_string_equal(libxl__devd_escape(out, sizeof(out), "plain 42", 8),
                        "plain 42");
    assert_string_equal(libxl__devd_escape(out, sizeof(out), "13\0junk", 7),
                        "13\\x00junk");
    assert_string_equal(libxl__devd_escape(out, sizeof(out), inj,
                                           sizeof(inj) - 1),
                        "x86_64-abi\\n\\x1b[31mDomain 0: FORGED\\\"\\\\");
    assert_string_equal(libxl__devd_escape(out, sizeof(out), "\r\t\x7f\xff",
                                           4), "\\r\\t\\x7f\\xff");
    assert_string_equal(libxl__devd_escape(out, sizeof(out), "", 0), "");
    /* Bounded: 4096 NULs take at most outsz - 1 characters, "..." last. */
    {
        char big[4096] = { 0 };
        char small[8];
        libxl__devd_escape(out, sizeof(out), big, sizeof(big));
        assert_true(strlen(out) <= sizeof(out) - 1);
        assert_string_equal(out + strlen(out) - 3, "...");
        assert_string_equal(libxl__devd_escape(small, sizeof(small), "abcdefgh",
                                               8), "abcd...");
        assert_string_equal(libxl__devd_escape(small, sizeof(small), "abcdefg",
                                               7), "abcdefg");
        assert_string_equal(libxl__devd_escape(small, sizeof(small), "\n\n\n\n",
                                               4), "\\n\\n...");
    }
}

/* A value with a NUL byte inside is not the number before the NUL. */
static void test_value_whole(void **s)
{
    assert_true(libxl__devd_value_whole("13", 2));
    assert_false(libxl__devd_value_whole("13\0junk", 7));
    assert_false(libxl__devd_value_whole("\0", 1));
    assert_true(libxl__devd_value_whole("", 0));
    assert_false(libxl__devd_value_whole(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint_ok),
        cmocka_unit_test(test_uint_bad),
        cmocka_unit_test(test_state_online),
        cmocka_unit_test(test_path_levels),
        cmocka_unit_test(test_path_invalid),
        cmocka_unit_test(test_cmdline_domid),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_value_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
