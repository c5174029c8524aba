/*
 * The vbd3 ring server: what its three files share.
 *
 * libxl_devd_vbd3.c        the kind: events, adoption, the table's verdicts
 * libxl_devd_vbd3_ops.c    the asynchronous steps (open, connect, ...)
 * libxl_devd_vbd3_xs.c     the backend's XenStore keys, tapdisk's socket
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_VBD3_H
#define LIBXL_DEVD_VBD3_H

#include "libxl_devd_internal.h"
#include "libxl_devd_tdc.h"
#include "devd_blkif.h"
#include "td_ratelimit.h"

#define VBD3_TD_SOCK_DIR "/var/run/xen/tapdisk"
#define VBD3_TD_TIMEOUT_MS 10000
#define VBD3_GEN_KEY "xl-devd-generation"

#define VLOG(l, v, f, ...) \
    LOGD(l, (v)->domid, "vbd3 %u: " f, (v)->devid, ##__VA_ARGS__)
/* A line that the frontend's doings cause (a guest can connect and close
 * in a loop): at most TD_RL_BURST a minute per device. */
#define VLOG_RL(l, v, f, ...) do {                                      \
        unsigned int drop_;                                             \
        if (td_ratelimit_ok(&(v)->rl, td_ratelimit_now(), &drop_))     \
            VLOG(l, v, f "%s", ##__VA_ARGS__, drop_ ?                   \
                 GCSPRINTF(" (%u such lines dropped)", drop_) : "");   \
    } while (0)

/* The module's state. */
typedef struct {
    uint32_t max_order;         /* max-ring-page-order we offer */
    unsigned int serial;        /* for generation tokens */
} vbd3_state;

/* Per device (d->ext). */
typedef struct devd_vbd3 {
    libxl__devd_state *dds;
    devd_device *d;
    uint32_t domid, devid;
    devd_rs_state rs;
    devd_rs_state adopt_to;     /* ADOPTING: the state found */
    char *be, *fe;              /* backend and (checked) frontend paths */
    char *params;               /* "<format>:<file>" */
    bool readonly;
    char gen[48];               /* our generation token */
    char sock[108];
    bool open;                  /* tapdisk has the image, as `minor` */
    uint32_t minor;
    td_image img;
    int be_state;               /* what we last wrote, -1: not known */
    bool perms_inherited;       /* new keys get the right permissions */
    /* The backend's state and online as last read or written: good until
     * an event on the backend says otherwise (a look that no event on the
     * backend caused, after an operation or for the frontend, uses them). */
    bool seen_ok;
    int seen_state, seen_online;
    libxl__ev_xswatch fe_watch;
    devd_tdc tdc;
    struct vbd3_op *op;         /* the running operation */
    td_ratelimit rl;            /* for the lines the frontend causes */
    int takeovers;              /* the last ones' times, at most 3 */
    time_t takeover_at[3];
} devd_vbd3;

/* One step, from its start to its end. */
typedef struct vbd3_op {
    devd_op op;
    devd_vbd3 *v;
    libxl__ev_child child;      /* the process that starts tapdisk */
    const char *why;            /* the step ends in FAILED, for this */
    bool rm_backend;            /* release: remove the backend at the end */
    bool recreated;             /* release: a new backend took our place */
    bool stopped;               /* release: we told its tapdisk to exit */
    devd_tdc_reply_fn *replied; /* the running request's callback */
} vbd3_op;

extern const libxl__devd_kind libxl__devd_kind_vbd3;

/*----- libxl_devd_vbd3.c -----*/

/* Its events come to the kind as any backend's. */
_hidden int libxl__devd_vbd3_watch_frontend(libxl__gc *gc, devd_vbd3 *v);

/*----- libxl_devd_vbd3_xs.c -----*/

/* Our state, and the device's as the core and the status show it. */
_hidden void libxl__devd_vbd3_set(devd_vbd3 *v, devd_rs_state rs);
_hidden const char *libxl__devd_vbd3_be_read(libxl__gc *gc, devd_vbd3 *v,
                                             const char *key);
/* The toolstack's keys, checked; *why says what is wrong. */
/* We wrote the backend's state. */
_hidden void libxl__devd_vbd3_wrote_state(devd_vbd3 *v, int state);
_hidden int libxl__devd_vbd3_read_config(libxl__gc *gc, devd_vbd3 *v,
                                         const char **why);
/* Our backend state, written only when it changes; never recreates a
 * backend directory that has gone (ERROR_NOTFOUND). */
_hidden int libxl__devd_vbd3_write_state(libxl__gc *gc, devd_vbd3 *v,
                                         int state);
/* The features, then InitWait; the geometry, then Connected. */
_hidden int libxl__devd_vbd3_publish_initwait(libxl__gc *gc, devd_vbd3 *v,
                                              uint32_t max_order);
_hidden int libxl__devd_vbd3_publish_connected(libxl__gc *gc, devd_vbd3 *v);
/* The device stops here (FAILED, backend Closed), saying why. */
_hidden void libxl__devd_vbd3_failed(libxl__gc *gc, devd_vbd3 *v,
                                     const char *why);
/* The frontend's state as a column of the table; *why if invalid. */
_hidden int libxl__devd_vbd3_fe_column(libxl__gc *gc, devd_vbd3 *v,
                                       const char **why);
/* A listening socket for a new tapdisk, or -1. */
_hidden int libxl__devd_vbd3_listen(libxl__gc *gc, devd_vbd3 *v);
/* In a forked child: becomes tapdisk, serving the socket lfd. */
_hidden void libxl__devd_vbd3_exec_tapdisk(const char *bin, const char *logf,
                                           int lfd) __attribute__((noreturn));
/* Removes the socket unless a tapdisk still listens on it. */
_hidden void libxl__devd_vbd3_unlink_socket(libxl__gc *gc, devd_vbd3 *v,
                                            bool stopped);

/*----- libxl_devd_vbd3_ops.c: each ends its operation -----*/

_hidden void libxl__devd_vbd3_open(libxl__egc *egc, libxl__gc *gc,
                                   devd_vbd3 *v, devd_guest *g);
/* Adoption: ask the tapdisk we are connected to, then adopt_to. */
_hidden void libxl__devd_vbd3_ask(libxl__egc *egc, libxl__gc *gc,
                                  devd_vbd3 *v, devd_guest *g);
_hidden void libxl__devd_vbd3_connect(libxl__egc *egc, libxl__gc *gc,
                                      devd_vbd3 *v, devd_guest *g);
/* Its tapdisk died under the connected ring: another takes it over. */
_hidden void libxl__devd_vbd3_takeover(libxl__egc *egc, libxl__gc *gc,
                                       devd_vbd3 *v, devd_guest *g);
/* why: NULL, or the failure the device stops for once the ring is let
 * go. */
_hidden void libxl__devd_vbd3_disconnect(libxl__egc *egc, libxl__gc *gc,
                                         devd_vbd3 *v, devd_guest *g,
                                         const char *why);
_hidden void libxl__devd_vbd3_release(libxl__egc *egc, libxl__gc *gc,
                                      devd_vbd3 *v, devd_guest *g,
                                      devd_rs_action why);

#endif
