/*
 * Strict parsers for what the driver-domain listener reads from XenStore.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include <string.h>

#include "devd_parse.h"

int libxl__devd_parse_uint(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    const char *p;

    if (!s || !*s)
        return DEVD_PARSE_EMPTY;
    for (p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return DEVD_PARSE_JUNK;
    }
    if (s[0] == '0' && s[1])
        return DEVD_PARSE_JUNK;     /* "007" is not how anyone writes 7 */
    for (p = s; *p; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return DEVD_PARSE_RANGE;  /* also stops before 64-bit overflow */
    }
    *out = (uint32_t)v;
    return DEVD_PARSE_OK;
}

int libxl__devd_parse_state(const char *s, int *state_r)
{
    uint32_t v;
    int rc = libxl__devd_parse_uint(s, DEVD_XENBUS_STATE_MAX, &v);

    if (!rc)
        *state_r = (int)v;
    return rc;
}

int libxl__devd_parse_online(const char *s, int *online_r)
{
    uint32_t v;
    int rc = libxl__devd_parse_uint(s, 1, &v);

    if (!rc)
        *online_r = (int)v;
    return rc;
}

/* Copies the next path component into buf; returns its length or -1. */
static int next_component(const char **pp, char *buf, size_t bufsz)
{
    const char *p = *pp;
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);

    if (len == 0 || len >= bufsz)
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    *pp = end ? end + 1 : p + len;
    return (int)len;
}

static int valid_kind(const char *k)
{
    for (; *k; k++) {
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9')))
            return 0;
    }
    return 1;
}

devd_path_level libxl__devd_parse_path(const char *be_path,
                                       const char *event_path,
                                       devd_path *out)
{
    size_t blen = strlen(be_path);
    const char *p;
    char comp[16];
    int at_end;

    memset(out, 0, sizeof(*out));
    out->key = "";
    out->level = DEVD_PATH_OUTSIDE;
    if (strncmp(event_path, be_path, blen))
        return out->level;
    p = event_path + blen;
    if (*p == '\0')
        return out->level = DEVD_PATH_BACKEND;
    if (*p != '/')
        return out->level;          /* e.g. ".../backendfoo" */
    p++;

    out->level = DEVD_PATH_INVALID;
    if (next_component(&p, out->kind, sizeof(out->kind)) < 0 ||
        !valid_kind(out->kind))
        return out->level;
    at_end = (*p == '\0' && p[-1] != '/');
    if (at_end)
        return out->level = DEVD_PATH_KIND;

    if (next_component(&p, comp, sizeof(comp)) < 0 ||
        libxl__devd_parse_uint(comp, DEVD_DOMID_MAX, &out->domid))
        return out->level;
    at_end = (*p == '\0' && p[-1] != '/');
    if (at_end)
        return out->level = DEVD_PATH_GUEST;

    if (next_component(&p, comp, sizeof(comp)) < 0 ||
        libxl__devd_parse_uint(comp, DEVD_DEVID_MAX, &out->devid))
        return out->level;
    if (*p == '\0' && p[-1] == '/')
        return out->level;          /* trailing slash */
    out->key = p;
    return out->level = DEVD_PATH_DEVICE;
}

/* One byte of untrusted text, escaped into e[4]; returns its length. */
static int escape_one(unsigned char c, char *e)
{
    static const char hex[] = "0123456789abcdef";

    if (c == '\\' || c == '"') {
        e[0] = '\\';
        e[1] = (char)c;
        return 2;
    }
    if (c == '\n' || c == '\r' || c == '\t') {
        e[0] = '\\';
        e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        return 2;
    }
    if (c >= 0x20 && c < 0x7f) {
        e[0] = (char)c;
        return 1;
    }
    e[0] = '\\';
    e[1] = 'x';
    e[2] = hex[c >> 4];
    e[3] = hex[c & 15];
    return 4;
}

char *libxl__devd_escape(char *out, size_t outsz, const char *in, size_t len)
{
    size_t o = 0, i, total = 0, room = outsz - 1;
    char e[4];
    int n;

    for (i = 0; i < len && total <= room; i++)
        total += (size_t)escape_one((unsigned char)in[i], e);
    if (total > room)
        room -= 3;              /* it will not all fit: end with "..." */
    for (i = 0; i < len; i++) {
        n = escape_one((unsigned char)in[i], e);
        if (o + (size_t)n > room) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, e, (size_t)n);
        o += (size_t)n;
    }
    out[o] = '\0';
    return out;
}

int libxl__devd_value_whole(const char *v, size_t len)
{
    return v && memchr(v, '\0', len) == NULL;
}

int libxl__devd_cmdline_serves_domid(const char *cmdline, size_t len,
                                     uint32_t domid)
{
    const char *p = cmdline, *end = cmdline + len, *next;
    uint32_t v;
    char arg[16];
    size_t alen;

    while (p < end) {
        next = memchr(p, '\0', (size_t)(end - p));
        if (!next)
            return 0;               /* unterminated: not a cmdline */
        if (!strcmp(p, "-xen-domid")) {
            p = next + 1;
            if (p >= end)
                return 0;
            next = memchr(p, '\0', (size_t)(end - p));
            alen = next ? (size_t)(next - p) : 0;
            if (!next || alen >= sizeof(arg))
                return 0;
            memcpy(arg, p, alen + 1);
            return !libxl__devd_parse_uint(arg, DEVD_DOMID_MAX, &v) &&
                   v == domid;
        }
        p = next + 1;
    }
    return 0;
}
