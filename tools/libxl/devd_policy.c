/*
 * Decision rules of the driver-domain listener.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "devd_policy.h"

const char *libxl__devd_dev_state_name(devd_dev_state s)
{
    switch (s) {
    case DEVD_DEV_ADDING: return "adding";
    case DEVD_DEV_CONNECTED: return "connected";
    case DEVD_DEV_FAILED: return "failed";
    case DEVD_DEV_REMOVING: return "removing";
    case DEVD_DEV_UNSUPPORTED: return "unsupported";
    }
    return "?";
}

const char *libxl__devd_action_name(devd_action a)
{
    switch (a) {
    case DEVD_ACT_IGNORE: return "ignore";
    case DEVD_ACT_ADD: return "add";
    case DEVD_ACT_RETRY: return "retry";
    case DEVD_ACT_REMOVE: return "remove";
    case DEVD_ACT_FORGET: return "forget";
    case DEVD_ACT_DEFER: return "defer";
    case DEVD_ACT_BAD_VALUE: return "bad-value";
    case DEVD_ACT_READD: return "readd";
    }
    return "?";
}

static bool closing_or_closed(int state)
{
    return state == DEVD_XBS_CLOSING || state == DEVD_XBS_CLOSED;
}

devd_action libxl__devd_classify(const devd_observation *o)
{
    /* One operation per device: events meanwhile are looked at after it. */
    if (o->tracked && o->busy)
        return DEVD_ACT_DEFER;

    if (!o->exists)
        return o->tracked ? DEVD_ACT_FORGET : DEVD_ACT_IGNORE;

    if (!o->values_ok)
        return DEVD_ACT_BAD_VALUE;

    if (!o->tracked) {
        /* A Closed device we never knew: already gone or never attached. */
        if (o->state == DEVD_XBS_CLOSED)
            return DEVD_ACT_IGNORE;
        return DEVD_ACT_ADD;
    }

    if (o->dev_state == DEVD_DEV_UNSUPPORTED)
        return DEVD_ACT_IGNORE;

    if (o->state == DEVD_XBS_CLOSED && o->online == 0)
        return DEVD_ACT_REMOVE;

    if (o->dev_state == DEVD_DEV_FAILED) {
        /* Retry on a real change, never while it is going away, and never
         * on the echo of our own failure. */
        if (closing_or_closed(o->state) || o->online == 0)
            return DEVD_ACT_IGNORE;
        if (o->state == o->failed_state && o->online == o->failed_online)
            return DEVD_ACT_IGNORE;
        return DEVD_ACT_RETRY;
    }

    /* Back in InitWait without Closed/online 0 in between: its driver
     * was unbound and bound again (or the frontend starts over), and the
     * new backend instance waits for its script.  (Scripts take a second
     * add of a device that is up: block returns at once, vif-bridge finds
     * the port on its bridge.) */
    if (o->dev_state == DEVD_DEV_CONNECTED && !o->qemu_kind &&
        o->state == DEVD_XBS_INITWAIT && o->online == 1 &&
        o->last_state >= 0 && o->last_state != DEVD_XBS_INITWAIT)
        return DEVD_ACT_READD;

    return DEVD_ACT_IGNORE;
}

devd_action libxl__devd_adopt(bool values_ok, int state, int online,
                              bool hotplug_connected, bool qemu_kind,
                              devd_dev_state *initial, bool *track)
{
    *track = true;
    if (!values_ok) {
        /* Not ours to guess: leave it, an event will tell us more. */
        *track = false;
        return DEVD_ACT_IGNORE;
    }

    if (state == DEVD_XBS_CLOSED && online == 0) {
        /* Removed while no devd ran: finish the removal, running the
         * hotplug remove if the add had run. */
        *initial = (hotplug_connected || qemu_kind) ? DEVD_DEV_CONNECTED
                                                    : DEVD_DEV_FAILED;
        return DEVD_ACT_REMOVE;
    }

    if (qemu_kind) {
        /* QEMU serves every qdisk of the guest; the caller checks that it
         * runs.  A Closed one with online=1 still holds a reference. */
        *initial = DEVD_DEV_CONNECTED;
        return DEVD_ACT_IGNORE;
    }

    if (hotplug_connected || state == DEVD_XBS_CONNECTED ||
        state == DEVD_XBS_CLOSING || state == DEVD_XBS_CLOSED) {
        /* Its script ran: track it as up, do not run it again. */
        *initial = DEVD_DEV_CONNECTED;
        return DEVD_ACT_IGNORE;
    }

    /* Unknown/Initialising/InitWait/Initialised with no script run yet. */
    *initial = DEVD_DEV_ADDING;
    return DEVD_ACT_ADD;
}

bool libxl__devd_adopt_needs_online(int state)
{
    /* Closed is the only state whose outcome online decides (remove, or
     * a reference still held). */
    return state == DEVD_XBS_CLOSED;
}

bool libxl__devd_adopt_needs_hotplug(int state, int online, bool qemu_kind)
{
    if (qemu_kind)
        return false;           /* QEMU's devices run no script */
    if (state == DEVD_XBS_CLOSED)
        return online == 0;     /* was the script run that remove undoes? */
    /* Connected and Closing are up whatever the script said. */
    return state != DEVD_XBS_CONNECTED && state != DEVD_XBS_CLOSING;
}
