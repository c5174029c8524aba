/*
 * The listener's tables: guests, and each guest's devices, in SLISTs.
 * Plain C with malloc; no libxl, so it is unit-tested on its own.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef DEVD_TABLE_H
#define DEVD_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "devd_parse.h"
#include "devd_policy.h"

typedef enum {
    DEVD_QEMU_NONE,       /* no QEMU backend for this guest */
    DEVD_QEMU_SPAWNING,
    DEVD_QEMU_RUNNING,
} devd_qemu_state;

typedef struct devd_device {
    /* identity */
    char kind[DEVD_KIND_LEN];   /* backend kind, as in the path */
    int libxl_kind;             /* libxl__device_kind, or -1 if unknown */
    uint32_t domid, devid;
    /* our view */
    devd_dev_state state;
    bool busy;          /* an operation runs for it */
    bool dirty;         /* an event came while busy: evaluate again */
    bool qemu_ref;      /* holds a reference on the guest's QEMU */
    int failed_state, failed_online;
    int last_state;     /* backend state at the last event, -1: none */
    unsigned add_attempts;  /* of the add that runs (script kinds) */
    bool retry_add;     /* its operation ends: try the add again */
    /* Not a backend but a removal that a previous devd left unfinished:
     * its keys are in a private copy (libxl_devd_hotplug.c). */
    bool leftover;
    char *last_error;   /* malloc'd, or NULL */
    /* Per-kind state of the module that serves it (the vbd3 ring server),
     * released by that module before the device is freed. */
    void *ext;
    const char *detail; /* static text shown in the status, or NULL */
    /* Waiting for a hotplug-script slot (see libxl_devd.c). */
    bool queued;
    devd_action queued_act;
    STAILQ_ENTRY(devd_device) qnext;
    SLIST_ENTRY(devd_device) next;
} devd_device;

typedef struct devd_guest {
    uint32_t domid;
    devd_qemu_state qemu;
    pid_t qemu_pid;     /* if known */
    int qemu_refs;      /* devices holding a QEMU reference */
    unsigned ndevices;
    SLIST_HEAD(, devd_device) devices;
    SLIST_ENTRY(devd_guest) next;
} devd_guest;

typedef struct {
    SLIST_HEAD(, devd_guest) guests;
    unsigned nguests, ndevices;
    STAILQ_HEAD(, devd_device) queue;   /* FIFO of queued devices */
    unsigned nqueued;
} devd_table;

void libxl__devd_table_init(devd_table *t);
/* Frees every guest and device; idempotent. */
void libxl__devd_table_dispose(devd_table *t);

devd_guest *libxl__devd_guest_find(devd_table *t, uint32_t domid);
/* Finds or creates; NULL only when out of memory. */
devd_guest *libxl__devd_guest_get(devd_table *t, uint32_t domid);
/* Drops the guest if it has no device left; returns true if it did. */
bool libxl__devd_guest_drop_if_empty(devd_table *t, devd_guest *g);

devd_device *libxl__devd_device_find(devd_guest *g, const char *kind,
                                     uint32_t devid);
/* Adds a new device in state `state`; NULL when out of memory. */
devd_device *libxl__devd_device_add(devd_table *t, devd_guest *g,
                                    const char *kind, int libxl_kind,
                                    uint32_t devid, devd_dev_state state);
/* Unlinks and frees the device (releasing its QEMU reference). */
void libxl__devd_device_free(devd_table *t, devd_guest *g, devd_device *d);

/* QEMU references: take returns true if this is the guest's first one. */
bool libxl__devd_qemu_ref(devd_guest *g, devd_device *d);
/* Returns true if that was the guest's last reference. */
bool libxl__devd_qemu_unref(devd_guest *g, devd_device *d);

/* The FIFO of devices waiting for a hotplug-script slot.  A device is in it
 * at most once; freeing a device takes it out. */
void libxl__devd_queue_push(devd_table *t, devd_device *d, devd_action act);
/* The oldest queued device (and its action), or NULL. */
devd_device *libxl__devd_queue_pop(devd_table *t, devd_action *act_r);

/* Replaces the last error (NULL clears it). */
void libxl__devd_device_set_error(devd_device *d, const char *msg);

/* A human-readable dump of the tables; malloc'd, NULL on OOM. */
char *libxl__devd_table_format(const devd_table *t);

#endif
