/*
 * The tapdisk control protocol codec (see td_proto.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include <stdbool.h>
#include <string.h>

#include "td_proto.h"

#define DOMID_LIMIT 0x7FF0u     /* DOMID_FIRST_RESERVED */

static const char *const msg_names[TD_MSG_TYPE_MAX + 1] = {
    [TD_MSG_ERROR] = "error",
    [TD_MSG_RUNTIME_ERROR] = "runtime error",
    [TD_MSG_PID] = "pid",
    [TD_MSG_PID_RSP] = "pid response",
    [TD_MSG_OPEN] = "open",
    [TD_MSG_OPEN_RSP] = "open response",
    [TD_MSG_PAUSE] = "pause",
    [TD_MSG_PAUSE_RSP] = "pause response",
    [TD_MSG_RESUME] = "resume",
    [TD_MSG_RESUME_RSP] = "resume response",
    [TD_MSG_CLOSE] = "close",
    [TD_MSG_CLOSE_RSP] = "close response",
    [TD_MSG_ATTACH] = "attach",
    [TD_MSG_ATTACH_RSP] = "attach response",
    [TD_MSG_DETACH] = "detach",
    [TD_MSG_DETACH_RSP] = "detach response",
    [TD_MSG_LIST_MINORS] = "list minors",
    [TD_MSG_LIST_MINORS_RSP] = "list minors response",
    [TD_MSG_LIST] = "list",
    [TD_MSG_LIST_RSP] = "list response",
    [TD_MSG_STATS] = "stats",
    [TD_MSG_STATS_RSP] = "stats response",
    [TD_MSG_FORCE_SHUTDOWN] = "force shutdown",
    [TD_MSG_DISK_INFO] = "disk info",
    [TD_MSG_DISK_INFO_RSP] = "disk info response",
    [TD_MSG_XENBLKIF_CONNECT] = "blkif connect",
    [TD_MSG_XENBLKIF_CONNECT_RSP] = "blkif connect response",
    [TD_MSG_XENBLKIF_DISCONNECT] = "blkif disconnect",
    [TD_MSG_XENBLKIF_DISCONNECT_RSP] = "blkif disconnect response",
    [TD_MSG_EXIT] = "exit",
};

const char *td_msg_name(unsigned int type)
{
    if (type < 1 || type > TD_MSG_TYPE_MAX)
        return "unknown";
    return msg_names[type];
}

const char *td_err_name(int err)
{
    switch (err) {
    case TD_OK: return "ok";
    case TD_ERR_SHORT: return "truncated message";
    case TD_ERR_TYPE: return "unknown message type";
    case TD_ERR_LENGTH: return "wrong payload length";
    case TD_ERR_STRING: return "unterminated string";
    case TD_ERR_RANGE: return "field out of range";
    default: return "invalid";
    }
}

const char *td_proto_name(unsigned int proto)
{
    switch (proto) {
    case TD_PROTO_NATIVE: return "native";
    case TD_PROTO_X86_32: return "x86_32-abi";
    case TD_PROTO_X86_64: return "x86_64-abi";
    default: return "unknown";
    }
}

/* Payload sizes on the wire. */
#define LEN_PID      4
#define LEN_PARAMS   (4 + 4 + 4 + TD_PATH_LEN + 4 + TD_PATH_LEN)
#define LEN_IMAGE    (8 + 4 + 4 + 4)
#define LEN_RESPONSE (4 + TD_STRING_LEN)
#define LEN_LIST     (4 + 4 + 4 + TD_PATH_LEN)
#define LEN_STATS    (TD_STAT_COUNT * 8)
#define LEN_BLKIF    (4 + 4 + 4 * TD_MAX_RING_PAGES + 4 + 4 + TD_STRING_LEN + 4)
#define LEN_BLKIF_FLAGS (LEN_BLKIF + 4)

_Static_assert(TD_HDR_LEN + LEN_PARAMS <= TD_MSG_MAX, "TD_MSG_MAX too small");

static bool is_blkif(unsigned int type)
{
    return type == TD_MSG_XENBLKIF_CONNECT ||
           type == TD_MSG_XENBLKIF_DISCONNECT;
}

int td_payload_len(unsigned int type)
{
    switch (type) {
    case TD_MSG_PID_RSP:
        return LEN_PID;
    case TD_MSG_OPEN:
        return LEN_PARAMS;
    case TD_MSG_OPEN_RSP:
    case TD_MSG_DISK_INFO_RSP:
        return LEN_IMAGE;
    case TD_MSG_ERROR:
    case TD_MSG_RUNTIME_ERROR:
        return LEN_RESPONSE;
    case TD_MSG_LIST_RSP:
        return LEN_LIST;
    case TD_MSG_STATS_RSP:
        return LEN_STATS;
    case TD_MSG_XENBLKIF_CONNECT:
    case TD_MSG_XENBLKIF_DISCONNECT:
        return LEN_BLKIF;
    default:
        if (type < 1 || type > TD_MSG_TYPE_MAX)
            return -1;
        return 0;   /* every other message is its header alone */
    }
}

unsigned int td_response_type(unsigned int request)
{
    switch (request) {
    case TD_MSG_PID: return TD_MSG_PID_RSP;
    case TD_MSG_OPEN: return TD_MSG_OPEN_RSP;
    case TD_MSG_PAUSE: return TD_MSG_PAUSE_RSP;
    case TD_MSG_RESUME: return TD_MSG_RESUME_RSP;
    case TD_MSG_CLOSE: return TD_MSG_CLOSE_RSP;
    case TD_MSG_ATTACH: return TD_MSG_ATTACH_RSP;
    case TD_MSG_DETACH: return TD_MSG_DETACH_RSP;
    case TD_MSG_LIST_MINORS: return TD_MSG_LIST_MINORS_RSP;
    case TD_MSG_LIST: return TD_MSG_LIST_RSP;
    case TD_MSG_STATS: return TD_MSG_STATS_RSP;
    case TD_MSG_DISK_INFO: return TD_MSG_DISK_INFO_RSP;
    case TD_MSG_XENBLKIF_CONNECT: return TD_MSG_XENBLKIF_CONNECT_RSP;
    case TD_MSG_XENBLKIF_DISCONNECT: return TD_MSG_XENBLKIF_DISCONNECT_RSP;
    default: return 0;
    }
}

int td_set_string(char *field, size_t size, const char *s)
{
    size_t n = strlen(s);

    if (n >= size)
        return -1;
    memset(field, 0, size);
    memcpy(field, s, n);
    return 0;
}

/*----- little-endian fields at fixed offsets -----*/

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xFFFF);
    put16(p + 2, v >> 16);
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}
static uint16_t get16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (uint32_t)get16(p + 2) << 16;
}
static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* A string field is valid if its NUL is inside it. */
static int str_ok(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

static int check(const td_msg *m)
{
    switch (m->type) {
    case TD_MSG_PID_RSP:
        if (m->u.pid == 0 || m->u.pid > 0x7FFFFFFFu) return TD_ERR_RANGE;
        return TD_OK;
    case TD_MSG_OPEN:
        if (m->u.params.flags & ~TD_FLAGS_KNOWN) return TD_ERR_RANGE;
        if (m->u.params.domid >= DOMID_LIMIT) return TD_ERR_RANGE;
        if (!str_ok(m->u.params.path, TD_PATH_LEN) ||
            !str_ok(m->u.params.secondary, TD_PATH_LEN))
            return TD_ERR_STRING;
        return TD_OK;
    case TD_MSG_OPEN_RSP:
    case TD_MSG_DISK_INFO_RSP: {
        uint32_t ss = m->u.image.sector_size;
        if (ss < 512 || ss > 65536 || (ss & (ss - 1))) return TD_ERR_RANGE;
        if (m->u.image.info & ~(uint32_t)(TD_INFO_CDROM | TD_INFO_REMOVABLE |
                                          TD_INFO_READONLY))
            return TD_ERR_RANGE;
        if (m->u.image.features & ~(uint32_t)TD_FEATS_KNOWN)
            return TD_ERR_RANGE;
        return TD_OK;
    }
    case TD_MSG_ERROR:
    case TD_MSG_RUNTIME_ERROR:
        if (m->u.response.error < 0) return TD_ERR_RANGE;
        if (!str_ok(m->u.response.message, TD_STRING_LEN))
            return TD_ERR_STRING;
        return TD_OK;
    case TD_MSG_LIST_RSP:
        if (m->u.list.count < 0 || m->u.list.minor < -1 ||
            (m->u.list.state != TD_IMG_OPEN &&
             m->u.list.state != TD_IMG_CONNECTED))
            return TD_ERR_RANGE;
        if (!str_ok(m->u.list.path, TD_PATH_LEN)) return TD_ERR_STRING;
        return TD_OK;
    case TD_MSG_XENBLKIF_CONNECT:
    case TD_MSG_XENBLKIF_DISCONNECT:
        if (m->u.blkif.domid >= DOMID_LIMIT ||
            m->u.blkif.order > TD_MAX_RING_ORDER ||
            m->u.blkif.proto > TD_PROTO_MAX ||
            (m->u.blkif.flags & ~(uint32_t)TD_BLKIF_FLAGS_KNOWN))
            return TD_ERR_RANGE;
        if (!str_ok(m->u.blkif.pool, TD_STRING_LEN)) return TD_ERR_STRING;
        return TD_OK;
    default:
        return TD_OK;
    }
}

static void put_blkif(const td_blkif *b, uint8_t *p)
{
    int i;

    put32(p, b->domid);
    put32(p + 4, b->devid);
    for (i = 0; i < (int)TD_MAX_RING_PAGES; i++)
        put32(p + 8 + 4 * i, b->gref[i]);
    p += 8 + 4 * TD_MAX_RING_PAGES;
    put32(p, b->order);
    put32(p + 4, b->proto);
    memcpy(p + 8, b->pool, TD_STRING_LEN);
    put32(p + 8 + TD_STRING_LEN, b->port);
    if (b->flags)
        put32(p + 12 + TD_STRING_LEN, b->flags);
}

/* The length m takes on the wire: its type's, longer with blkif flags. */
static int msg_payload_len(const td_msg *m)
{
    int plen = td_payload_len(m->type);

    if (is_blkif(m->type) && m->u.blkif.flags)
        return LEN_BLKIF_FLAGS;
    return plen;
}

/* The payload of m's type at p (its length checked by the caller). */
static void put_payload(const td_msg *m, uint8_t *p)
{
    int i;

    switch (m->type) {
    case TD_MSG_PID_RSP:
        put32(p, m->u.pid);
        break;
    case TD_MSG_OPEN:
        put32(p, m->u.params.flags);
        put32(p + 4, m->u.params.devnum);
        put32(p + 8, m->u.params.domid);
        memcpy(p + 12, m->u.params.path, TD_PATH_LEN);
        put32(p + 12 + TD_PATH_LEN, m->u.params.prt_devnum);
        memcpy(p + 16 + TD_PATH_LEN, m->u.params.secondary, TD_PATH_LEN);
        break;
    case TD_MSG_OPEN_RSP:
    case TD_MSG_DISK_INFO_RSP:
        put64(p, m->u.image.sectors);
        put32(p + 8, m->u.image.sector_size);
        put32(p + 12, m->u.image.info);
        put32(p + 16, m->u.image.features);
        break;
    case TD_MSG_ERROR:
    case TD_MSG_RUNTIME_ERROR:
        put32(p, (uint32_t)m->u.response.error);
        memcpy(p + 4, m->u.response.message, TD_STRING_LEN);
        break;
    case TD_MSG_LIST_RSP:
        put32(p, (uint32_t)m->u.list.count);
        put32(p + 4, (uint32_t)m->u.list.minor);
        put32(p + 8, (uint32_t)m->u.list.state);
        memcpy(p + 12, m->u.list.path, TD_PATH_LEN);
        break;
    case TD_MSG_STATS_RSP:
        for (i = 0; i < TD_STAT_COUNT; i++)
            put64(p + 8 * i, m->u.stats.v[i]);
        break;
    case TD_MSG_XENBLKIF_CONNECT:
    case TD_MSG_XENBLKIF_DISCONNECT:
        put_blkif(&m->u.blkif, p);
        break;
    default:
        break;
    }
}

int td_encode(const td_msg *m, uint8_t *buf, size_t size)
{
    int plen = msg_payload_len(m), rc;

    if (plen < 0)
        return TD_ERR_TYPE;
    if (size < (size_t)(TD_HDR_LEN + plen))
        return TD_ERR_SHORT;
    rc = check(m);
    if (rc)
        return rc;
    memset(buf, 0, TD_HDR_LEN + plen);
    put16(buf, m->type);
    put16(buf + 2, m->cookie);
    put32(buf + 4, m->minor);
    put32(buf + 8, (uint32_t)plen);
    put_payload(m, buf + TD_HDR_LEN);
    return TD_HDR_LEN + plen;
}

static void get_blkif(const uint8_t *p, uint32_t plen, td_blkif *b)
{
    int i;

    b->domid = get32(p);
    b->devid = get32(p + 4);
    for (i = 0; i < (int)TD_MAX_RING_PAGES; i++)
        b->gref[i] = get32(p + 8 + 4 * i);
    p += 8 + 4 * TD_MAX_RING_PAGES;
    b->order = get32(p);
    b->proto = get32(p + 4);
    memcpy(b->pool, p + 8, TD_STRING_LEN);
    b->port = get32(p + 8 + TD_STRING_LEN);
    b->flags = plen == LEN_BLKIF_FLAGS ? get32(p + 12 + TD_STRING_LEN) : 0;
}

/* m's payload from p (its length checked by the caller). */
static void get_payload(const uint8_t *p, uint32_t plen, td_msg *m)
{
    int i;

    switch (m->type) {
    case TD_MSG_PID_RSP:
        m->u.pid = get32(p);
        break;
    case TD_MSG_OPEN:
        m->u.params.flags = get32(p);
        m->u.params.devnum = get32(p + 4);
        m->u.params.domid = get32(p + 8);
        memcpy(m->u.params.path, p + 12, TD_PATH_LEN);
        m->u.params.prt_devnum = get32(p + 12 + TD_PATH_LEN);
        memcpy(m->u.params.secondary, p + 16 + TD_PATH_LEN, TD_PATH_LEN);
        break;
    case TD_MSG_OPEN_RSP:
    case TD_MSG_DISK_INFO_RSP:
        m->u.image.sectors = get64(p);
        m->u.image.sector_size = get32(p + 8);
        m->u.image.info = get32(p + 12);
        m->u.image.features = get32(p + 16);
        break;
    case TD_MSG_ERROR:
    case TD_MSG_RUNTIME_ERROR:
        m->u.response.error = (int32_t)get32(p);
        memcpy(m->u.response.message, p + 4, TD_STRING_LEN);
        break;
    case TD_MSG_LIST_RSP:
        m->u.list.count = (int32_t)get32(p);
        m->u.list.minor = (int32_t)get32(p + 4);
        m->u.list.state = (int32_t)get32(p + 8);
        memcpy(m->u.list.path, p + 12, TD_PATH_LEN);
        break;
    case TD_MSG_STATS_RSP:
        for (i = 0; i < TD_STAT_COUNT; i++)
            m->u.stats.v[i] = get64(p + 8 * i);
        break;
    case TD_MSG_XENBLKIF_CONNECT:
    case TD_MSG_XENBLKIF_DISCONNECT:
        get_blkif(p, plen, &m->u.blkif);
        break;
    default:
        break;
    }
}

int td_decode(const uint8_t *buf, size_t len, td_msg *m)
{
    uint32_t plen;
    int want, rc;

    if (len < TD_HDR_LEN)
        return TD_ERR_SHORT;
    memset(m, 0, sizeof(*m));
    m->type = get16(buf);
    m->cookie = get16(buf + 2);
    m->minor = get32(buf + 4);
    plen = get32(buf + 8);
    want = td_payload_len(m->type);
    if (want < 0)
        return TD_ERR_TYPE;
    /* Judge the length before waiting for it: a peer announcing a huge
     * payload is broken, not slow. */
    if (plen != (uint32_t)want &&
        !(is_blkif(m->type) && plen == LEN_BLKIF_FLAGS))
        return TD_ERR_LENGTH;
    if (len < TD_HDR_LEN + plen)
        return TD_ERR_SHORT;

    get_payload(buf + TD_HDR_LEN, plen, m);
    /* One wire form per message: flags of 0 travel as no flags. */
    if (is_blkif(m->type) && plen == LEN_BLKIF_FLAGS && !m->u.blkif.flags)
        return TD_ERR_LENGTH;
    rc = check(m);
    if (rc)
        return rc;
    return TD_HDR_LEN + (int)plen;
}

const char *const td_stat_names[TD_STAT_COUNT] = {
    "reqs_read", "reqs_write", "reqs_flush", "reqs_discard",
    "sectors_read", "sectors_written", "errors", "bad_requests", "notify",
};
