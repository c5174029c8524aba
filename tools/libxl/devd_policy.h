/*
 * What the driver-domain listener does about a XenStore event or an
 * existing backend found at startup.  Pure decision functions.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef DEVD_POLICY_H
#define DEVD_POLICY_H

#include <stdbool.h>

/* XenbusState values we act on. */
#define DEVD_XBS_UNKNOWN     0
#define DEVD_XBS_INITIALISING 1
#define DEVD_XBS_INITWAIT    2
#define DEVD_XBS_INITIALISED 3
#define DEVD_XBS_CONNECTED   4
#define DEVD_XBS_CLOSING     5
#define DEVD_XBS_CLOSED      6

/* Our view of a tracked device. */
typedef enum {
    DEVD_DEV_ADDING,      /* backend being brought up (script, QEMU) */
    DEVD_DEV_CONNECTED,   /* up: must be torn down by us */
    DEVD_DEV_FAILED,      /* bringing it up failed; see last error */
    DEVD_DEV_REMOVING,    /* being torn down */
    DEVD_DEV_UNSUPPORTED, /* a kind we do not serve; tracked to log once */
} devd_dev_state;

const char *libxl__devd_dev_state_name(devd_dev_state s);

typedef enum {
    DEVD_ACT_IGNORE,      /* nothing to do (a DEBUG line) */
    DEVD_ACT_ADD,         /* start tracking, bring the backend up */
    DEVD_ACT_RETRY,       /* tracked and failed: bring it up again */
    DEVD_ACT_REMOVE,      /* tear the backend down, then forget it */
    DEVD_ACT_FORGET,      /* backend directory gone: drop what is ours */
    DEVD_ACT_DEFER,       /* an operation runs: look again when it ends */
    DEVD_ACT_BAD_VALUE,   /* state/online unparsable: log, do nothing */
    DEVD_ACT_READD,       /* up, and its backend started over: add again
                             (if hotplug-status no longer says connected) */
} devd_action;

const char *libxl__devd_action_name(devd_action a);

typedef struct {
    bool exists;          /* the backend's state node is there */
    bool values_ok;       /* state and online parsed strictly */
    int state;            /* XenbusState (if values_ok) */
    int online;           /* 0 or 1 (if values_ok) */
    bool tracked;
    devd_dev_state dev_state;   /* if tracked */
    bool busy;                  /* if tracked: an operation is running */
    /* If tracked and FAILED: the (state, online) seen when it failed. */
    int failed_state, failed_online;
    int last_state;             /* if tracked: at the last event, -1: none */
    bool qemu_kind;             /* served by the guest's QEMU, no script */
} devd_observation;

/* The event rules (see docs/design.md). */
devd_action libxl__devd_classify(const devd_observation *o);

/*
 * Startup adoption of a backend found in XenStore, in any state.
 * hotplug_connected: its hotplug-status is "connected" (its script ran).
 * Sets *initial to the state it is tracked in, and returns what to do next
 * (ADD, REMOVE or IGNORE); IGNORE with *track false means not to track it.
 * values_ok: state parsed strictly, and online too if it was read.
 */
devd_action libxl__devd_adopt(bool values_ok, int state, int online,
                              bool hotplug_connected, bool qemu_kind,
                              devd_dev_state *initial, bool *track);

/*
 * What adoption must read besides state, so that a driver domain with
 * many Connected backends costs one read each at startup.  online is
 * needed only where the state leaves the outcome open; hotplug-status only
 * where state and online (-1 if not read) do.  libxl__devd_adopt gives the
 * same answer whatever a key it does not need holds (a unit test checks
 * every combination).
 */
bool libxl__devd_adopt_needs_online(int state);
bool libxl__devd_adopt_needs_hotplug(int state, int online, bool qemu_kind);

#endif
