/*
 * The driver-domain listener: state shared by its libxl modules.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_INTERNAL_H
#define LIBXL_DEVD_INTERNAL_H

#include "libxl_internal.h"
#include "devd_table.h"
#include "devd_blkif.h"
#include "td_proto.h"

/* A log line about one device. */
#define DLOG(l, d, f, ...) \
    LOGD(l, (d)->domid, "%s %u: " f, (d)->kind, (d)->devid, ##__VA_ARGS__)

typedef struct libxl__devd_state libxl__devd_state;

struct libxl__devd_state {
    /* filled by the initiator */
    libxl__ao *ao;
    /* private */
    uint32_t self_domid;
    char *be_path;                  /* /local/domain/<self>/backend (ao gc) */
    libxl__ev_xswatch watch;
    libxl__ao_abortable abrt;
    devd_table table;
    int ops_inflight;               /* device operations with a nested ao */
    int script_ops;                 /* of which run hotplug scripts */
    int script_slots;               /* at most this many at once */
    uint32_t vbd3_max_order;        /* max-ring-page-order we offer */
    unsigned int vbd3_serial;       /* for generation tokens */
    bool aborting;
    bool watch_fired;               /* its first event has come */
    XEN_LIST_ENTRY(libxl__devd_state) registry_entry;
};

/* One device operation that waits for something (libxl_devd.c). */
typedef struct devd_op {
    libxl__devd_state *dds;
    libxl__ao *nested;          /* owns this struct */
    bool script;                /* holds a script slot */
    bool removed;               /* the device is gone: free it at the end */
    devd_guest *guest;          /* stays valid: its device is busy */
    devd_device *dev;           /* stays valid: busy devices are not freed */
    libxl__device ldev;
    libxl__ao_device aodev;
    libxl__dm_spawn_state dmss;
    libxl__ev_child child;      /* vbd3: the process that starts tapdisk */
    libxl__async_exec_state aes;    /* a hotplug script we run ourselves */
    libxl__ev_time backoff;     /* an add's pause before its next attempt,
                                   a removal's grace deadline */
    bool taken_down;            /* a removal removed the backend directory */
    const char *copy;           /* a removal's copy of the backend's keys */
    int add_rc;                 /* a killed add's rc, while it is undone */
} devd_op;

_hidden devd_op *libxl__devd_op_new(libxl__devd_state *dds, devd_guest *g,
                                    devd_device *d);
/* Ends the operation; the device is looked at again if events came. */
_hidden void libxl__devd_op_done(libxl__egc *egc, devd_op *op);
_hidden void libxl__devd_fill_ldev(libxl__devd_state *dds,
                                   const devd_device *d, libxl__device *ldev);
/* A backend's state and online, strictly parsed (junk is logged): exists
 * if its state node is there, values_ok if both parsed. */
_hidden int libxl__devd_read_values(libxl__gc *gc, const char *be,
                                    uint32_t domid, bool *exists,
                                    bool *values_ok, int *state, int *online);
/* A XenStore read checked over the value's whole length (see there). */
_hidden int libxl__devd_xs_read(libxl__gc *gc, xs_transaction_t t,
                                const char *path, const char **out,
                                bool *escaped_r);
/* Untrusted text, escaped and bounded, for a log line or a message. */
_hidden const char *libxl__devd_show(libxl__gc *gc, const char *s);
/* One XenStore transaction, retried on conflict (see libxl_devd.c). */
#define DEVD_TXN_NOTHING 1
typedef int libxl__devd_txn_body(libxl__gc *gc, xs_transaction_t t,
                                 void *arg);
_hidden int libxl__devd_xs_txn(libxl__gc *gc, libxl__devd_txn_body *body,
                               void *arg);
_hidden const char *libxl__devd_be_path(libxl__gc *gc, libxl__devd_state *dds,
                                        const devd_device *d);
/* Marks the device FAILED (a real change of its state or online retries
 * it), logs why, and publishes it as hotplug-error if publish. */
_hidden void libxl__devd_fail(libxl__gc *gc, libxl__devd_state *dds,
                              devd_device *d, const char *why, bool publish);
/* A script operation that goes on gives its slot back. */
_hidden void libxl__devd_script_slot_release(libxl__egc *egc, devd_op *op);
_hidden void libxl__devd_drop_guest_if_empty(libxl__gc *gc,
                                             libxl__devd_state *dds,
                                             devd_guest *g);

/*----- script-served kinds (libxl_devd_hotplug.c) -----*/

/* Both end with libxl__devd_op_done.  An add whose script was killed is
 * retried: the device then has retry_add set when its operation ends. */
_hidden void libxl__devd_hotplug_add(libxl__egc *egc, devd_op *op);
/* The backend directory goes at once; the script reads a copy. */
_hidden void libxl__devd_hotplug_remove(libxl__egc *egc, devd_op *op);
/* Startup: runs the removals a previous devd left unfinished (their
 * copies are still there). */
_hidden void libxl__devd_hotplug_adopt_leftovers(libxl__egc *egc,
                                                 libxl__devd_state *dds);
/* (core) Starts the removal of such a leftover. */
_hidden void libxl__devd_remove_leftover(libxl__egc *egc,
                                         libxl__devd_state *dds,
                                         devd_guest *g, devd_device *d);

/*----- the tapdisk control client (libxl_devd_tdc.c) -----*/

#define DEVD_TDC_MAX_RSP 16
#define DEVD_TDC_MAX_LIST 64

typedef struct devd_tdc devd_tdc;
/* rc: 0 (rsp[0..nrsp) hold the answer, possibly a TD_MSG_ERROR),
 * ERROR_FAIL (connection broken; it is closed), ERROR_TIMEDOUT,
 * ERROR_ABORTED. */
typedef void devd_tdc_reply_fn(libxl__egc *egc, devd_tdc *c, int rc);
typedef void devd_tdc_lost_fn(libxl__egc *egc, devd_tdc *c);

struct devd_tdc {
    /* filled by the owner */
    uint32_t domid, devid;      /* for log lines */
    devd_tdc_lost_fn *lost;     /* the connection broke between requests */
    /* private */
    int fd;
    libxl__ev_fd efd;
    libxl__ev_time timeout;
    devd_tdc_reply_fn *reply;   /* set while a request runs */
    unsigned int want, req_type;
    uint16_t cookie;
    int nrsp, expect;
    td_msg rsp[DEVD_TDC_MAX_RSP];
    uint8_t buf[TD_MSG_MAX];
    size_t len;
};

_hidden void libxl__devd_tdc_init(devd_tdc *c);
/* 0, ERROR_NOTFOUND if no tapdisk listens there, or another error. */
_hidden int libxl__devd_tdc_connect(libxl__gc *gc, devd_tdc *c,
                                    const char *path);
_hidden bool libxl__devd_tdc_connected(const devd_tdc *c);
/* On 0, cb is called exactly once, later. */
_hidden int libxl__devd_tdc_request(libxl__ao *ao, devd_tdc *c, td_msg *req,
                                    int timeout_ms, devd_tdc_reply_fn *cb);
/* A message that has no answer (EXIT). */
_hidden int libxl__devd_tdc_send(libxl__gc *gc, devd_tdc *c, td_msg *req);
/* Idempotent; not while a request runs. */
_hidden void libxl__devd_tdc_close(libxl__gc *gc, devd_tdc *c);

/*----- the vbd3 ring server (libxl_devd_vbd3.c) -----*/

/* An event concerning backend vbd3/<domid>/<devid> (tracked or not). */
_hidden void libxl__devd_vbd3_evaluate(libxl__egc *egc, libxl__gc *gc,
                                       libxl__devd_state *dds,
                                       uint32_t domid, uint32_t devid);
/* Startup: take over a vbd3 backend found in XenStore. */
_hidden void libxl__devd_vbd3_adopt(libxl__egc *egc, libxl__gc *gc,
                                    libxl__devd_state *dds,
                                    uint32_t domid, uint32_t devid);
/* Releases what devd holds for the device (not its tapdisk, not XenStore):
 * before the device is freed, and for every vbd3 device when devd stops. */
_hidden void libxl__devd_vbd3_dispose(libxl__gc *gc, devd_device *d);

/* Registry of running handlers, for libxl_device_events_status.
 * Callers hold the ctx lock. */
_hidden void libxl__devd_registry_add(libxl__devd_state *dds);
_hidden void libxl__devd_registry_remove(libxl__devd_state *dds);
_hidden bool libxl__devd_registry_has_ctx(libxl_ctx *ctx);

#endif
