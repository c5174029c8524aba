/*
 * The blkif side of the vbd3 ring server, as pure functions: the
 * handshake's state machine (a table: our state x frontend state ->
 * action) and the strict parsing of what the frontend (the guest) writes.
 * No libxl and no XenStore here, so all of it is unit-tested and fuzzed.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef DEVD_BLKIF_H
#define DEVD_BLKIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* gref[8] in the tapdisk protocol: order 3 at most, whatever we are told. */
#define DEVD_BLKIF_ORDER_LIMIT 3
#define DEVD_BLKIF_DEFAULT_MAX_ORDER 3

/* Our side of one vbd3 device. */
typedef enum {
    RS_OPENING,         /* finding/starting its tapdisk, opening the image */
    RS_ADOPTING,        /* after a devd restart: asking its tapdisk */
    RS_INITWAIT,        /* features published, backend InitWait */
    RS_CONNECTING,      /* XENBLKIF_CONNECT sent */
    RS_CONNECTED,       /* backend Connected */
    RS_CLOSING,         /* backend Closing, waiting for the frontend */
    RS_DISCONNECTING,   /* XENBLKIF_DISCONNECT sent */
    RS_CLOSED,          /* backend Closed, image still open */
    RS_FAILED,          /* backend Closed after an error; stays so */
    RS_RELEASING,       /* closing the image, stopping tapdisk, removing */
    RS_LOST,            /* its tapdisk died under a connected ring */
    RS_TAKING_OVER,     /* another tapdisk taking the live ring over */
    RS__COUNT
} devd_rs_state;

/* Columns: the frontend's XenbusState, plus two of ours. */
#define RS_FE_ABSENT  9     /* no frontend state node (frontend gone) */
#define RS_FE_INVALID 10    /* a state node that is not a XenbusState */
#define RS_FE__COUNT  11

/* Columns: the backend's side, from its keys and ours. */
typedef enum {
    RS_BE_UP,           /* there (and online, if we serve it) */
    RS_BE_CLOSED,       /* Closed, and not ours: nothing to serve */
    RS_BE_OFFLINE,      /* online 0: the toolstack is removing it */
    RS_BE_GONE,         /* its directory has gone */
    RS_BE_REPLACED,     /* not our generation: a new backend, same ids */
    RS_BE__COUNT
} devd_rs_backend;

typedef enum {
    RS_ACT_NONE,
    RS_ACT_DEFER,       /* an operation runs: look again when it ends */
    RS_ACT_OPEN,        /* a new backend: start its tapdisk, InitWait */
    RS_ACT_CONNECT,     /* read the ring info, hand it to tapdisk */
    RS_ACT_CLOSING,     /* backend -> Closing */
    RS_ACT_DISCONNECT,  /* tapdisk lets the ring go, backend -> Closed */
    RS_ACT_REINIT,      /* frontend starts again: backend -> InitWait */
    RS_ACT_FAIL,        /* the frontend is broken: backend -> Closed */
    RS_ACT_RELEASE,     /* backend gone: let its tapdisk go, forget it */
    RS_ACT_REPLACED,    /* the same, then serve the new backend */
    RS_ACT_REMOVE,      /* the same, and remove the backend directory */
    RS_ACT_TAKEOVER,    /* its tapdisk died: another takes the ring over */
    RS_ACT_REOPEN,      /* its tapdisk died, no ring in use: start another,
                           InitWait */
} devd_rs_action;

const char *libxl__devd_rs_state_name(devd_rs_state s);
const char *libxl__devd_rs_action_name(devd_rs_action a);
const char *libxl__devd_rs_backend_name(devd_rs_backend b);

/* Is our state one where an operation runs? */
bool libxl__devd_rs_busy(devd_rs_state s);

/*
 * The backend's column.  exists: its state node is there; state and
 * online as parsed (online -1 if absent); tracked: we serve it; gen_ok:
 * it carries our generation token (if tracked).
 */
devd_rs_backend libxl__devd_rs_backend_col(bool exists, bool tracked,
                                           bool gen_ok, int state,
                                           int online);

/*
 * What to do about an event: from our state (if tracked; busy if an
 * operation runs), the backend's column and the frontend's (a XenbusState
 * 0..8, RS_FE_ABSENT or RS_FE_INVALID).  Every input of the handshake is
 * here; see the table in devd_blkif.c.
 */
devd_rs_action libxl__devd_rs_decide(bool tracked, bool busy,
                                     devd_rs_state s, devd_rs_backend be,
                                     int fe_col);

/* How a backend found at startup is taken over. */
typedef enum {
    RS_ADOPT_OPEN,      /* its tapdisk is gone while it waits in
                           InitWait: open it afresh */
    RS_ADOPT_ASK,       /* ask its tapdisk what it serves, then *to */
    RS_ADOPT_REST,      /* nothing to serve: *to, and look at it again */
    RS_ADOPT_FAIL,      /* its tapdisk died while devd was down */
} devd_rs_adopt_how;

const char *libxl__devd_rs_adopt_name(devd_rs_adopt_how h);

/*
 * A backend that devd had opened (it carries our generation token) and
 * brought to InitWait or beyond.  state: its XenbusState; hotplug_error:
 * it says why it failed; tapdisk: its tapdisk answers on its socket.
 * *to: the state to track it in.
 */
devd_rs_adopt_how libxl__devd_rs_adopt(int state, bool hotplug_error,
                                       bool tapdisk, devd_rs_state *to);

/* The frontend's ring description, validated. */
typedef enum {
    BLKIF_PROTO_NATIVE = 0,     /* the values of td_proto.h */
    BLKIF_PROTO_X86_32 = 1,
    BLKIF_PROTO_X86_64 = 2,
} devd_blkif_proto;

typedef struct {
    uint32_t order;
    uint32_t nr_refs;
    uint32_t ref[1u << DEVD_BLKIF_ORDER_LIMIT];
    uint32_t port;
    devd_blkif_proto proto;
    bool persistent;            /* feature-persistent: it keeps its grants */
} devd_ringinfo;

/* Reads a frontend key (relative to the frontend directory); NULL if it
 * does not exist.  The returned string stays valid until the parse ends. */
typedef const char *devd_fe_read_fn(void *ctx, const char *key);

typedef struct {
    char key[24];               /* the offending key */
    const char *value;          /* its value (NULL: missing) */
    const char *why;            /* static text */
} devd_ringinfo_error;

/*
 * Reads and checks ring-page-order (absent = 0; above max_order rejected
 * before any ring-ref is read), ring-ref or ring-ref0..N-1, event-channel,
 * protocol (absent = native; whitelist) and feature-persistent (absent =
 * 0; 0 or 1).  0 on success; -1 with *err filled otherwise.  max_order is
 * capped at DEVD_BLKIF_ORDER_LIMIT.
 */
int libxl__devd_ringinfo_read(devd_fe_read_fn *rd, void *ctx,
                              uint32_t max_order, devd_ringinfo *ri,
                              devd_ringinfo_error *err);

/* "aio:/path" or "raw:/path": the params a vbd3 backend may carry. */
int libxl__devd_vbd3_params_ok(const char *params);

#endif
