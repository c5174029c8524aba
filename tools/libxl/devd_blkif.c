/*
 * The vbd3 handshake table and frontend parsing (see devd_blkif.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include <stdio.h>
#include <string.h>

#include "devd_blkif.h"
#include "devd_parse.h"
#include "devd_policy.h"

static const char *const state_names[RS__COUNT] = {
    [RS_OPENING] = "opening",
    [RS_ADOPTING] = "adopting",
    [RS_INITWAIT] = "initwait",
    [RS_CONNECTING] = "connecting",
    [RS_CONNECTED] = "connected",
    [RS_CLOSING] = "closing",
    [RS_DISCONNECTING] = "disconnecting",
    [RS_CLOSED] = "closed",
    [RS_FAILED] = "failed",
    [RS_RELEASING] = "releasing",
    [RS_LOST] = "lost",
    [RS_TAKING_OVER] = "taking-over",
};

const char *libxl__devd_rs_state_name(devd_rs_state s)
{
    return (unsigned)s < RS__COUNT ? state_names[s] : "?";
}

const char *libxl__devd_rs_action_name(devd_rs_action a)
{
    switch (a) {
    case RS_ACT_NONE: return "none";
    case RS_ACT_DEFER: return "defer";
    case RS_ACT_OPEN: return "open";
    case RS_ACT_CONNECT: return "connect";
    case RS_ACT_CLOSING: return "closing";
    case RS_ACT_DISCONNECT: return "disconnect";
    case RS_ACT_REINIT: return "reinit";
    case RS_ACT_FAIL: return "fail";
    case RS_ACT_RELEASE: return "release";
    case RS_ACT_REPLACED: return "replaced";
    case RS_ACT_REMOVE: return "remove";
    case RS_ACT_TAKEOVER: return "takeover";
    case RS_ACT_REOPEN: return "reopen";
    }
    return "?";
}

const char *libxl__devd_rs_backend_name(devd_rs_backend b)
{
    switch (b) {
    case RS_BE_UP: return "up";
    case RS_BE_CLOSED: return "closed";
    case RS_BE_OFFLINE: return "offline";
    case RS_BE_GONE: return "gone";
    case RS_BE_REPLACED: return "replaced";
    case RS_BE__COUNT: break;
    }
    return "?";
}

const char *libxl__devd_rs_adopt_name(devd_rs_adopt_how h)
{
    switch (h) {
    case RS_ADOPT_OPEN: return "open";
    case RS_ADOPT_ASK: return "ask";
    case RS_ADOPT_REST: return "rest";
    case RS_ADOPT_FAIL: return "fail";
    }
    return "?";
}

bool libxl__devd_rs_busy(devd_rs_state s)
{
    return s == RS_OPENING || s == RS_ADOPTING || s == RS_CONNECTING ||
           s == RS_DISCONNECTING || s == RS_RELEASING ||
           s == RS_TAKING_OVER;
}

#define N RS_ACT_NONE
#define C RS_ACT_CONNECT
#define G RS_ACT_CLOSING
#define X RS_ACT_DISCONNECT
#define R RS_ACT_REINIT
#define F RS_ACT_FAIL
#define T RS_ACT_TAKEOVER
#define O RS_ACT_REOPEN

/*
 * A device between operations whose backend is there, by the frontend's
 * state.  Frontend:   Unknown Init'ing InitWait Init'ed Connected Closing
 *                     Closed Reconf'ing Reconf'd Absent Invalid
 *
 * - Initialised or Connected while we wait: connect (blkfront may skip
 *   Initialised).  A second Connected while connected changes nothing.
 * - Closing -> we go Closing; Closed, Unknown or gone -> the ring is let
 *   go and we go Closed.  Initialising after that is a frontend starting
 *   again (module reload, kexec): back to InitWait, as blkback does.
 * - A state node that is not a XenbusState is a broken frontend.
 * - Reconfiguring/Reconfigured have no meaning for blkif: ignored.
 * - Its tapdisk died under a connected ring (lost): a frontend that uses
 *   its ring (Initialised, Connected, Closing) has it taken over by
 *   another tapdisk, which answers what the dead one owed; otherwise
 *   another tapdisk opens the image and we wait in InitWait.
 */
static const struct {
    devd_rs_state s;
    devd_rs_action a[RS_FE__COUNT];
} table[] = {
    /*                   0  1  2  3  4  5  6  7  8 abs inv */
    { RS_INITWAIT,     {N, N, N, C, C, G, X, N, N, X, F} },
    { RS_CONNECTED,    {X, N, N, N, N, G, X, N, N, X, F} },
    { RS_CLOSING,      {X, N, N, N, N, N, X, N, N, X, F} },
    { RS_CLOSED,       {N, R, N, R, N, N, N, N, N, N, N} },
    { RS_FAILED,       {N, N, N, N, N, N, N, N, N, N, N} },
    { RS_LOST,         {O, O, O, T, T, T, O, N, N, O, F} },
};

#undef N
#undef C
#undef G
#undef X
#undef R
#undef F
#undef T
#undef O

static devd_rs_action rs_table(devd_rs_state s, int fe_col)
{
    size_t i;

    if (fe_col < 0 || fe_col >= RS_FE__COUNT)
        fe_col = RS_FE_INVALID;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].s == s)
            return table[i].a[fe_col];
    return RS_ACT_NONE;
}

devd_rs_backend libxl__devd_rs_backend_col(bool exists, bool tracked,
                                           bool gen_ok, int state,
                                           int online)
{
    if (!exists)
        return RS_BE_GONE;
    if (!tracked)
        return state == DEVD_XBS_CLOSED ? RS_BE_CLOSED : RS_BE_UP;
    if (!gen_ok)
        return RS_BE_REPLACED;
    return online == 0 ? RS_BE_OFFLINE : RS_BE_UP;
}

/* A frontend that uses its ring: it must let it go before we do. */
static bool fe_using_ring(int fe_col)
{
    return fe_col == DEVD_XBS_INITIALISED || fe_col == DEVD_XBS_CONNECTED ||
           fe_col == DEVD_XBS_CLOSING;
}

devd_rs_action libxl__devd_rs_decide(bool tracked, bool busy,
                                     devd_rs_state s, devd_rs_backend be,
                                     int fe_col)
{
    devd_rs_action a;

    if (!tracked)
        return be == RS_BE_UP ? RS_ACT_OPEN : RS_ACT_NONE;
    /* One operation per device: events meanwhile are looked at after it. */
    if (busy || libxl__devd_rs_busy(s))
        return RS_ACT_DEFER;
    switch (be) {
    case RS_BE_GONE:
        return RS_ACT_RELEASE;
    case RS_BE_REPLACED:
        return RS_ACT_REPLACED;
    case RS_BE_OFFLINE:
        /* The toolstack removes it (online 0, and it writes Closing over
         * our state): once the ring is let go and we are Closed, release.
         * A frontend not using a ring (never connected, or gone) will not
         * close anything, so do not wait for it. */
        if (s == RS_CLOSED || s == RS_FAILED ||
            (s == RS_LOST && !fe_using_ring(fe_col)))
            return RS_ACT_REMOVE;
        a = rs_table(s, fe_col);
        return a == RS_ACT_NONE && !fe_using_ring(fe_col) ? RS_ACT_DISCONNECT
                                                          : a;
    default:
        return rs_table(s, fe_col);
    }
}

devd_rs_adopt_how libxl__devd_rs_adopt(int state, bool hotplug_error,
                                       bool tapdisk, devd_rs_state *to)
{
    switch (state) {
    case DEVD_XBS_INITWAIT:
    case DEVD_XBS_INITIALISED:
        *to = RS_INITWAIT;
        break;
    case DEVD_XBS_CONNECTED:
        *to = RS_CONNECTED;
        break;
    case DEVD_XBS_CLOSING:
        *to = RS_CLOSING;
        break;
    default:
        *to = RS_CLOSED;
        break;
    }
    if (state == DEVD_XBS_CLOSED && hotplug_error)
        *to = RS_FAILED;
    if (tapdisk)
        return RS_ADOPT_ASK;
    /* A backend that waits needs a tapdisk: start one again. */
    if (state == DEVD_XBS_INITWAIT)
        return RS_ADOPT_OPEN;
    /* A connected one's tapdisk died while devd was down: the table takes
     * its ring over, or starts another. */
    if (state == DEVD_XBS_CONNECTED && !hotplug_error) {
        *to = RS_LOST;
        return RS_ADOPT_REST;
    }
    /* Nothing left to serve: released now or when the toolstack says so. */
    if (*to == RS_FAILED || state == DEVD_XBS_CLOSED)
        return RS_ADOPT_REST;
    return RS_ADOPT_FAIL;
}

/*----- frontend ring information -----*/

static int fail(devd_ringinfo_error *err, const char *key, const char *value,
                const char *why)
{
    snprintf(err->key, sizeof(err->key), "%s", key);
    err->value = value;
    err->why = why;
    return -1;
}

static const char *uint_why(int r)
{
    switch (r) {
    case DEVD_PARSE_EMPTY: return "empty";
    case DEVD_PARSE_RANGE: return "out of range";
    default: return "not a plain decimal number";
    }
}

/* The order first, and bounded, before any ref is looked at. */
static int read_order(devd_fe_read_fn *rd, void *ctx, uint32_t max_order,
                      devd_ringinfo *ri, devd_ringinfo_error *err)
{
    const char *v = rd(ctx, "ring-page-order");
    int r;

    if (v) {
        r = libxl__devd_parse_uint(v, UINT32_MAX, &ri->order);
        if (r)
            return fail(err, "ring-page-order", v, uint_why(r));
        if (ri->order > max_order)
            return fail(err, "ring-page-order", v,
                        "larger than our max-ring-page-order");
    }
    ri->nr_refs = 1u << ri->order;
    return 0;
}

static int read_refs(devd_fe_read_fn *rd, void *ctx, devd_ringinfo *ri,
                     devd_ringinfo_error *err)
{
    const char *v;
    char key[24];
    uint32_t i;
    int r;

    for (i = 0; i < ri->nr_refs; i++) {
        if (ri->order == 0)
            snprintf(key, sizeof(key), "ring-ref");
        else
            snprintf(key, sizeof(key), "ring-ref%u", i);
        v = rd(ctx, key);
        if (!v)
            return fail(err, key, NULL, "missing");
        r = libxl__devd_parse_uint(v, UINT32_MAX, &ri->ref[i]);
        if (r)
            return fail(err, key, v, uint_why(r));
    }
    return 0;
}

static int read_port(devd_fe_read_fn *rd, void *ctx, devd_ringinfo *ri,
                     devd_ringinfo_error *err)
{
    const char *v = rd(ctx, "event-channel");
    int r;

    if (!v)
        return fail(err, "event-channel", NULL, "missing");
    r = libxl__devd_parse_uint(v, UINT32_MAX, &ri->port);
    if (r)
        return fail(err, "event-channel", v, uint_why(r));
    if (ri->port == 0)
        return fail(err, "event-channel", v, "port 0 is never valid");
    return 0;
}

static int read_protocol(devd_fe_read_fn *rd, void *ctx, devd_ringinfo *ri,
                         devd_ringinfo_error *err)
{
    const char *v = rd(ctx, "protocol");

    if (!v || !strcmp(v, "x86_64-abi")) {
        /* Absent means native, and native here is the x86_64 layout
         * (x86_64, arm32 and arm64 driver domains alike). */
        ri->proto = v ? BLKIF_PROTO_X86_64 : BLKIF_PROTO_NATIVE;
    } else if (!strcmp(v, "x86_32-abi")) {
        ri->proto = BLKIF_PROTO_X86_32;
    } else if (!strcmp(v, "arm-abi")) {
        ri->proto = BLKIF_PROTO_NATIVE;     /* same layout as x86_64 */
    } else {
        return fail(err, "protocol", v, "not a protocol we know");
    }
    return 0;
}

/* A boolean of blkif.h: absent is 0. */
static int read_persistent(devd_fe_read_fn *rd, void *ctx,
                           devd_ringinfo *ri, devd_ringinfo_error *err)
{
    const char *v = rd(ctx, "feature-persistent");
    uint32_t b = 0;
    int r;

    if (v) {
        r = libxl__devd_parse_uint(v, 1, &b);
        if (r)
            return fail(err, "feature-persistent", v,
                        r == DEVD_PARSE_RANGE ? "neither 0 nor 1"
                                              : uint_why(r));
    }
    ri->persistent = b;
    return 0;
}

int libxl__devd_ringinfo_read(devd_fe_read_fn *rd, void *ctx,
                              uint32_t max_order, devd_ringinfo *ri,
                              devd_ringinfo_error *err)
{
    memset(ri, 0, sizeof(*ri));
    memset(err, 0, sizeof(*err));
    if (max_order > DEVD_BLKIF_ORDER_LIMIT)
        max_order = DEVD_BLKIF_ORDER_LIMIT;
    if (read_order(rd, ctx, max_order, ri, err) ||
        read_refs(rd, ctx, ri, err) ||
        read_port(rd, ctx, ri, err) ||
        read_protocol(rd, ctx, ri, err) ||
        read_persistent(rd, ctx, ri, err))
        return -1;
    return 0;
}

int libxl__devd_vbd3_params_ok(const char *params)
{
    const char *colon;

    if (!params)
        return 0;
    colon = strchr(params, ':');
    if (!colon || colon[1] != '/')
        return 0;
    if (strlen(params) >= 256)      /* TD_PATH_LEN */
        return 0;
    return !strncmp(params, "aio:", 4) || !strncmp(params, "raw:", 4) ||
           !strncmp(params, "vhd:", 4);
}
