/*
 * The vbd3 handshake table and frontend parsing (see devd_blkif.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include <stdio.h>
#include <string.h>

#include "devd_blkif.h"
#include "devd_parse.h"

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
    case RS_ACT_CONNECT: return "connect";
    case RS_ACT_CLOSING: return "closing";
    case RS_ACT_DISCONNECT: return "disconnect";
    case RS_ACT_REINIT: return "reinit";
    case RS_ACT_FAIL: return "fail";
    }
    return "?";
}

bool libxl__devd_rs_busy(devd_rs_state s)
{
    return s == RS_OPENING || s == RS_ADOPTING || s == RS_CONNECTING ||
           s == RS_DISCONNECTING || s == RS_RELEASING;
}

#define N RS_ACT_NONE
#define D RS_ACT_DEFER
#define C RS_ACT_CONNECT
#define G RS_ACT_CLOSING
#define X RS_ACT_DISCONNECT
#define R RS_ACT_REINIT
#define F RS_ACT_FAIL

/*
 * Frontend:   Unknown Init'ing InitWait Init'ed Connected Closing Closed
 *             Reconf'ing Reconf'd Absent Invalid
 *
 * - Initialised or Connected while we wait: connect (blkfront may skip
 *   Initialised).  A second Connected while connected changes nothing.
 * - Closing -> we go Closing; Closed, Unknown or gone -> the ring is let
 *   go and we go Closed.  Initialising after that is a frontend starting
 *   again (module reload, kexec): back to InitWait, as blkback does.
 * - A state node that is not a XenbusState is a broken frontend.
 * - Reconfiguring/Reconfigured have no meaning for blkif: ignored.
 */
static const devd_rs_action table[RS__COUNT][RS_FE__COUNT] = {
    /*                 0  1  2  3  4  5  6  7  8 abs inv */
    [RS_OPENING]    = {D, D, D, D, D, D, D, D, D, D, D},
    [RS_ADOPTING]   = {D, D, D, D, D, D, D, D, D, D, D},
    [RS_INITWAIT]   = {N, N, N, C, C, G, X, N, N, X, F},
    [RS_CONNECTING] = {D, D, D, D, D, D, D, D, D, D, D},
    [RS_CONNECTED]  = {X, N, N, N, N, G, X, N, N, X, F},
    [RS_CLOSING]    = {X, N, N, N, N, N, X, N, N, X, F},
    [RS_DISCONNECTING] = {D, D, D, D, D, D, D, D, D, D, D},
    [RS_CLOSED]     = {N, R, N, R, N, N, N, N, N, N, N},
    [RS_FAILED]     = {N, N, N, N, N, N, N, N, N, N, N},
    [RS_RELEASING]  = {D, D, D, D, D, D, D, D, D, D, D},
};

#undef N
#undef D
#undef C
#undef G
#undef X
#undef R
#undef F

devd_rs_action libxl__devd_rs_next(devd_rs_state s, int fe_col)
{
    if ((unsigned)s >= RS__COUNT)
        return RS_ACT_NONE;
    if (fe_col < 0 || fe_col >= RS_FE__COUNT)
        fe_col = RS_FE_INVALID;
    return table[s][fe_col];
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

int libxl__devd_ringinfo_read(devd_fe_read_fn *rd, void *ctx,
                              uint32_t max_order, devd_ringinfo *ri,
                              devd_ringinfo_error *err)
{
    const char *v;
    char key[24];
    uint32_t i;
    int r;

    memset(ri, 0, sizeof(*ri));
    memset(err, 0, sizeof(*err));
    if (max_order > DEVD_BLKIF_ORDER_LIMIT)
        max_order = DEVD_BLKIF_ORDER_LIMIT;

    /* The order first, and bounded, before any ref is looked at. */
    v = rd(ctx, "ring-page-order");
    if (v) {
        r = libxl__devd_parse_uint(v, UINT32_MAX, &ri->order);
        if (r)
            return fail(err, "ring-page-order", v, uint_why(r));
        if (ri->order > max_order)
            return fail(err, "ring-page-order", v,
                        "larger than our max-ring-page-order");
    }
    ri->nr_refs = 1u << ri->order;

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

    v = rd(ctx, "event-channel");
    if (!v)
        return fail(err, "event-channel", NULL, "missing");
    r = libxl__devd_parse_uint(v, UINT32_MAX, &ri->port);
    if (r)
        return fail(err, "event-channel", v, uint_why(r));
    if (ri->port == 0)
        return fail(err, "event-channel", v, "port 0 is never valid");

    v = rd(ctx, "protocol");
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
