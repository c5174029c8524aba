/*
 * The driver-domain listener: the core's interface to the kind modules.
 *
 * The core (libxl_devd.c, libxl_devd_adopt.c) watches the backend
 * directory, keeps the guest and device tables, runs one operation per
 * device at a time and stops on abort.  It knows no backend kind by name:
 * every kind is served by a module (libxl__devd_kind) found in the table
 * of libxl_devd_kinds.c by the backend directory's name.  Modules use the
 * core; the core uses the table; no module calls another.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_INTERNAL_H
#define LIBXL_DEVD_INTERNAL_H

#include "libxl_internal.h"
#include "devd_table.h"
#include "devd_blkif.h"

/* A log line about one device. */
#define DLOG(l, d, f, ...) \
    LOGD(l, (d)->domid, "%s %u: " f, (d)->kind, (d)->devid, ##__VA_ARGS__)

typedef struct libxl__devd_state libxl__devd_state;
typedef struct libxl__devd_kind libxl__devd_kind;

/*----- a kind module -----*/

/*
 * One module serves the backend kinds named in `names`.  An event on
 * backend/<name>/<domid>/<devid> (or a device of it whose directory went)
 * calls changed(); at startup, adopt() is called for each such backend
 * found in XenStore, then adopted() once every backend has been seen.
 * The module tracks a device with libxl__devd_device_new, which gives it
 * device_size zeroed bytes at d->ext; dispose() releases what the module
 * holds for a device (watches, sockets) before the core frees it, and
 * before devd stops (backends and processes stay for the next devd).
 */
struct libxl__devd_kind {
    const char *what;                   /* for the log */
    const char *const *names;           /* NULL-terminated */
    size_t device_size;
    /* Called at start, with a zeroed state of state_size at state. */
    size_t state_size;
    int (*init)(libxl__gc *gc, libxl__devd_state *dds, void *state);
    void (*adopt)(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                  const char *name, uint32_t domid, uint32_t devid);
    void (*adopted)(libxl__egc *egc, libxl__devd_state *dds);  /* or NULL */
    void (*changed)(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                    const char *name, uint32_t domid, uint32_t devid);
    void (*dispose)(libxl__gc *gc, libxl__devd_state *dds,
                    devd_device *d);                        /* or NULL */
    /* A guest with data of this module (libxl__devd_guest_data) goes. */
    void (*guest_dispose)(libxl__gc *gc, libxl__devd_state *dds,
                          devd_guest *g, void *data);       /* or NULL */
};

/* The table (libxl_devd_kinds.c), NULL-terminated, and the module
 * serving backends of no kind in it (they are tracked to be logged once). */
extern const libxl__devd_kind *const libxl__devd_kinds[];
extern const libxl__devd_kind libxl__devd_kind_unserved;

/*----- the listener -----*/

struct libxl__devd_state {
    /* filled by the initiator */
    libxl__ao *ao;
    /* private */
    uint32_t self_domid;
    char *be_path;                  /* /local/domain/<self>/backend (ao gc) */
    libxl__ev_xswatch watch;
    libxl__ao_abortable abrt;
    devd_table table;
    void *kind_state[DEVD_TABLE_MODULES];
    int ops_inflight;               /* device operations with a nested ao */
    int slot_ops;                   /* of which hold an operation slot */
    int slots;                      /* at most this many at once */
    uint32_t max_ring_page_order;   /* offered to vbd3 frontends */
    bool aborting;
    bool watch_fired;               /* its first event has come */
    uint64_t event_us;              /* when the event being handled came */
    const char *event_key;          /* its device key ("state"), or NULL */
    XEN_LIST_ENTRY(libxl__devd_state) registry_entry;
};

/* The module's state given to its init. */
_hidden void *libxl__devd_kind_state(libxl__devd_state *dds,
                                     const libxl__devd_kind *k);
/* The module's data for guest g: allocated zeroed on first use, or NULL
 * if it has none and size is 0. */
_hidden void *libxl__devd_guest_data(libxl__devd_state *dds, devd_guest *g,
                                     const libxl__devd_kind *k, size_t size);
/* Whether k serves d. */
_hidden bool libxl__devd_served_by(const devd_device *d,
                                   const libxl__devd_kind *k);
/* (core) The module serving backends named `name`, and the startup. */
_hidden const libxl__devd_kind *libxl__devd_kind_find(const char *name);
_hidden void libxl__devd_adopt_all(libxl__egc *egc, libxl__devd_state *dds);
/* While an event on the backends is handled: the device key it names
 * ("state", "online"), or "" for a directory (made, removed); NULL for
 * any other look at a device (an operation's end, a module's own). */
_hidden const char *libxl__devd_event_key(const libxl__devd_state *dds);
/* devd is stopping: start nothing new. */
_hidden bool libxl__devd_stopping(const libxl__devd_state *dds);

/* Tracks a new device served by k, in state `state`; *g_r is its guest.
 * NULL (logged, nothing left behind) when out of memory. */
_hidden devd_device *libxl__devd_device_new(libxl__gc *gc,
                                            libxl__devd_state *dds,
                                            const libxl__devd_kind *k,
                                            const char *name, uint32_t domid,
                                            uint32_t devid,
                                            devd_dev_state state,
                                            devd_guest **g_r);
/* Forgets the device (its module's dispose first), and its guest if it
 * was the last one. */
_hidden void libxl__devd_device_drop(libxl__gc *gc, libxl__devd_state *dds,
                                     devd_guest *g, devd_device *d);
/* Looks at the device again as if an event had come. */
_hidden void libxl__devd_reevaluate(libxl__egc *egc, libxl__devd_state *dds,
                                    const char *name, uint32_t domid,
                                    uint32_t devid);

/*----- device operations (libxl_devd_op.c) -----*/

typedef struct devd_op devd_op;
/* Runs after the operation has ended and, if events came meanwhile, the
 * device has been looked at again (not when devd stops).  The device
 * may be gone: look it up by its key. */
typedef void devd_op_after_fn(libxl__egc *egc, libxl__devd_state *dds,
                              const char *name, uint32_t domid,
                              uint32_t devid);
/* Starts an operation that waited for a slot; act as queued. */
typedef void devd_op_start_fn(libxl__egc *egc, devd_op *op, int act);

/*
 * One device operation that waits for something (hotplug script, QEMU
 * spawn, tapdisk).  While it runs the device is busy: events only mark it
 * dirty, and it is looked at again when the operation ends.  A module
 * keeps what its operation needs in a struct that starts with a devd_op
 * (CONTAINER_OF), allocated zeroed in the operation's own nested ao.
 */
struct devd_op {
    libxl__devd_state *dds;
    libxl__ao *nested;          /* owns this struct */
    bool slot;                  /* holds an operation slot */
    bool removed;               /* the device is gone: free it at the end */
    devd_op_after_fn *after;    /* or NULL */
    devd_guest *guest;          /* stays valid: its device is busy */
    devd_device *dev;           /* stays valid: busy devices are not freed */
    /* Where its time went (monotonic us), logged at its end: from the
     * event that decided it to the end, the wait for a slot and for
     * others' work (a script, QEMU, tapdisk) told apart from devd's. */
    const char *what;           /* "attach", "detach": set by the module */
    const char *ext_name;       /* what it waited for, or NULL */
    uint64_t t_event, slot_us, t_ext_begin, ext_us;
};

/* size: of the module's struct, at least sizeof(devd_op). */
_hidden devd_op *libxl__devd_op_new(libxl__devd_state *dds, devd_guest *g,
                                    devd_device *d, size_t size);
/* Ends the operation; the device is looked at again if events came. */
_hidden void libxl__devd_op_done(libxl__egc *egc, devd_op *op);
/*
 * Starts an operation for d with start(op, act) now if one of the
 * listener's slots is free or `now`, or later in FIFO order: the device
 * is busy meanwhile.  Used for the work that competes for the driver
 * domain's CPUs (hotplug scripts).  `now`: at once and without a slot,
 * for work that cannot wait (a removal), which may wait for one later
 * (libxl__devd_op_slot_wait).
 */
_hidden void libxl__devd_op_slotted(libxl__egc *egc, libxl__devd_state *dds,
                                    devd_guest *g, devd_device *d, int act,
                                    bool now, size_t size,
                                    devd_op_start_fn *start);
/* What the operation is, for its timing line ("attach", "detach"). */
_hidden void libxl__devd_op_what(devd_op *op, const char *what);
/* The operation waits for someone else's work (a script, QEMU, tapdisk)
 * from _begin to _end: that time is not devd's. */
_hidden void libxl__devd_op_ext_begin(devd_op *op, const char *name);
_hidden void libxl__devd_op_ext_end(devd_op *op);
_hidden uint64_t libxl__devd_now_us(void);
/* An operation that goes on (a pause) gives its slot back. */
_hidden void libxl__devd_op_slot_release(libxl__egc *egc, devd_op *op);
/*
 * An operation already running that needs a slot for its next step (a
 * removal's script: its copy and grace period cannot wait, its script
 * can): got(op, 0) once it holds one, at once if one is free, in FIFO
 * order with the devices queued for one; got(op, ERROR_ABORTED) if devd
 * stops first.
 */
typedef void devd_op_slot_fn(libxl__egc *egc, devd_op *op, int rc);
_hidden void libxl__devd_op_slot_wait(libxl__egc *egc, devd_op *op,
                                      devd_op_slot_fn *got);
/* devd stops: every operation waiting for a slot is told. */
_hidden void libxl__devd_op_abort_waiters(libxl__egc *egc,
                                          libxl__devd_state *dds);
/* (core) devd stops and its last operation ended: completes the
 * handler. */
_hidden void libxl__devd_stopped(libxl__egc *egc, libxl__devd_state *dds);

/*----- backends that something else brings up (libxl_devd_backend.c) -----*/

/*
 * Hotplug scripts and QEMU bring backends up and take them down; devd
 * decides when, by the event rules of devd_policy.c.  Their modules give
 * these hooks and call the functions below from their own.  Each hook
 * that starts an operation ends it; the others act at once.
 */
typedef struct {
    bool qemu;      /* no script: devd_observation.qemu_kind */
    void (*add)(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                devd_guest *g, devd_device *d);
    void (*remove)(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *dds,
                   devd_guest *g, devd_device *d);
    /* Its backend directory has gone: before the device is dropped. */
    void (*forget)(libxl__gc *gc, libxl__devd_state *dds, devd_guest *g,
                   devd_device *d);
    /* Adoption tracked it as Connected. */
    void (*adopted_up)(libxl__devd_state *dds, devd_guest *g,
                       devd_device *d);
} libxl__devd_backend_ops;

/* Actions that adoption leaves for later, kept out of any gc. */
typedef struct {
    struct devd_pending *v;
    unsigned int n, cap;
} libxl__devd_pendings;

_hidden void libxl__devd_backend_changed(libxl__egc *egc, libxl__gc *gc,
                                         libxl__devd_state *dds,
                                         const libxl__devd_kind *k,
                                         const libxl__devd_backend_ops *ops,
                                         const char *name, uint32_t domid,
                                         uint32_t devid);
/* Tracks a backend found at startup; what is left to do goes to pend. */
_hidden void libxl__devd_backend_adopt(libxl__gc *gc, libxl__devd_state *dds,
                                       const libxl__devd_kind *k,
                                       const libxl__devd_backend_ops *ops,
                                       const char *name, uint32_t domid,
                                       uint32_t devid,
                                       libxl__devd_pendings *pend);
/* Takes the actions left, in order, and empties pend. */
_hidden void libxl__devd_backend_adopt_finish(libxl__egc *egc,
                                        libxl__devd_state *dds,
                                        const libxl__devd_backend_ops *ops,
                                        libxl__devd_pendings *pend);
/* Marks the device FAILED (a real change of its state or online retries
 * it), logs why, and publishes it as hotplug-error if publish. */
_hidden void libxl__devd_fail(libxl__gc *gc, libxl__devd_state *dds,
                              devd_device *d, const char *why, bool publish);

/*----- XenStore helpers (libxl_devd.c) -----*/

_hidden const char *libxl__devd_be_path(libxl__gc *gc, libxl__devd_state *dds,
                                        const char *name, uint32_t domid,
                                        uint32_t devid);
_hidden const char *libxl__devd_dev_path(libxl__gc *gc, libxl__devd_state *dds,
                                         const devd_device *d);
/* The libxl__device of d, whose frontend is of frontend_kind. */
_hidden void libxl__devd_fill_ldev(libxl__devd_state *dds,
                                   const devd_device *d, int frontend_kind,
                                   libxl__device *ldev);
/* A backend's state and online, strictly parsed (junk is logged): exists
 * if its state node is there, values_ok if both parsed. */
_hidden int libxl__devd_read_values(libxl__gc *gc, const char *be,
                                    uint32_t domid, bool *exists,
                                    bool *values_ok, int *state, int *online);
/* One of them: *present if it is there, *ok if it parses. */
_hidden int libxl__devd_read_value(libxl__gc *gc, const char *be,
                                   uint32_t domid, const char *key,
                                   bool *present, bool *ok, int *val);
/* A XenStore read checked over the value's whole length (see there). */
_hidden int libxl__devd_xs_read(libxl__gc *gc, xs_transaction_t t,
                                const char *path, const char **out,
                                bool *escaped_r);
/* A directory's children; none (*n 0) if it cannot be listed. */
_hidden char **libxl__devd_list(libxl__gc *gc, const char *path,
                                unsigned int *n);
/* Untrusted text, escaped and bounded, for a log line or a message. */
_hidden const char *libxl__devd_show(libxl__gc *gc, const char *s);
/* One XenStore transaction, retried on conflict (see libxl_devd.c). */
#define DEVD_TXN_NOTHING 1
typedef int libxl__devd_txn_body(libxl__gc *gc, xs_transaction_t t,
                                 void *arg);
_hidden int libxl__devd_xs_txn(libxl__gc *gc, libxl__devd_txn_body *body,
                               void *arg);

/* Registry of running handlers, for libxl_device_events_get_status.
 * Callers hold the ctx lock. */
_hidden void libxl__devd_registry_add(libxl__devd_state *dds);
_hidden void libxl__devd_registry_remove(libxl__devd_state *dds);
_hidden bool libxl__devd_registry_has_ctx(libxl_ctx *ctx);

#endif
