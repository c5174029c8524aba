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

/* Kind modules that may keep data per guest (see libxl_devd_kinds.c). */
#define DEVD_TABLE_MODULES 4
#define DEVD_DETAIL_LEN 64

typedef struct devd_device {
    /* identity */
    char kind[DEVD_KIND_LEN];   /* backend kind, as in the path */
    int libxl_kind;             /* libxl__device_kind, or -1 if unknown */
    int module;                 /* serving kind module, -1: none */
    uint32_t domid, devid;
    /* our view */
    devd_dev_state state;
    bool busy;          /* an operation runs for it */
    bool dirty;         /* an event came while busy: evaluate again */
    int failed_state, failed_online;
    int last_state;     /* backend state at the last event, -1: none */
    char *last_error;   /* malloc'd, or NULL */
    /* The serving module's data (ext_size bytes, zeroed), freed with the
     * device once the module has released what it holds. */
    void *ext;
    const char *detail; /* static text shown in the status, or NULL */
    /* Waiting for an operation slot (see libxl_devd.c). */
    bool queued;
    int queued_act;
    void *queued_with;  /* the owner's (malloc'd), freed with the device */
    STAILQ_ENTRY(devd_device) qnext;
    SLIST_ENTRY(devd_device) next;
} devd_device;

typedef struct devd_guest {
    uint32_t domid;
    unsigned ndevices;
    /* Each module's data for this guest (malloc'd by it, or NULL), freed
     * with the guest once the module has released what it holds. */
    void *priv[DEVD_TABLE_MODULES];
    char detail[DEVD_DETAIL_LEN];       /* shown in the status */
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
/* Adds a new device in state `state`, with ext_size zeroed bytes at ext
 * if ext_size; NULL when out of memory. */
devd_device *libxl__devd_device_add(devd_table *t, devd_guest *g,
                                    const char *kind, int libxl_kind,
                                    uint32_t devid, devd_dev_state state,
                                    size_t ext_size);
/* Unlinks and frees the device, and its ext. */
void libxl__devd_device_free(devd_table *t, devd_guest *g, devd_device *d);

/* The FIFO of devices waiting for an operation slot.  A device is in it
 * at most once (pushing it again updates its action); freeing a device
 * takes it out. */
void libxl__devd_queue_push(devd_table *t, devd_device *d, int act);
/* The oldest queued device (and its action), or NULL. */
devd_device *libxl__devd_queue_pop(devd_table *t, int *act_r);

/* Replaces the last error (NULL clears it). */
void libxl__devd_device_set_error(devd_device *d, const char *msg);

#endif
