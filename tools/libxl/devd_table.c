/*
 * The listener's guest and device tables.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devd_table.h"

void libxl__devd_table_init(devd_table *t)
{
    SLIST_INIT(&t->guests);
    t->nguests = t->ndevices = 0;
    STAILQ_INIT(&t->queue);
    t->nqueued = 0;
}

static void guest_free(devd_guest *g)
{
    int i;

    for (i = 0; i < DEVD_TABLE_MODULES; i++)
        free(g->priv[i]);
    free(g);
}

void libxl__devd_table_dispose(devd_table *t)
{
    devd_guest *g;
    devd_device *d;

    while ((g = SLIST_FIRST(&t->guests))) {
        while ((d = SLIST_FIRST(&g->devices)))
            libxl__devd_device_free(t, g, d);
        SLIST_REMOVE_HEAD(&t->guests, next);
        guest_free(g);
        t->nguests--;
    }
}

devd_guest *libxl__devd_guest_find(devd_table *t, uint32_t domid)
{
    devd_guest *g;

    SLIST_FOREACH(g, &t->guests, next) {
        if (g->domid == domid)
            return g;
    }
    return NULL;
}

devd_guest *libxl__devd_guest_get(devd_table *t, uint32_t domid)
{
    devd_guest *g = libxl__devd_guest_find(t, domid);

    if (g)
        return g;
    g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->domid = domid;
    SLIST_INIT(&g->devices);
    SLIST_INSERT_HEAD(&t->guests, g, next);
    t->nguests++;
    return g;
}

bool libxl__devd_guest_drop_if_empty(devd_table *t, devd_guest *g)
{
    if (!g || !SLIST_EMPTY(&g->devices))
        return false;
    SLIST_REMOVE(&t->guests, g, devd_guest, next);
    t->nguests--;
    guest_free(g);
    return true;
}

devd_device *libxl__devd_device_find(devd_guest *g, const char *kind,
                                     uint32_t devid)
{
    devd_device *d;

    if (!g)
        return NULL;
    SLIST_FOREACH(d, &g->devices, next) {
        if (d->devid == devid && !strcmp(d->kind, kind))
            return d;
    }
    return NULL;
}

devd_device *libxl__devd_device_add(devd_table *t, devd_guest *g,
                                    const char *kind, int libxl_kind,
                                    uint32_t devid, devd_dev_state state,
                                    size_t ext_size)
{
    devd_device *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    if (ext_size && !(d->ext = calloc(1, ext_size))) {
        free(d);
        return NULL;
    }
    snprintf(d->kind, sizeof(d->kind), "%s", kind);
    d->libxl_kind = libxl_kind;
    d->module = -1;
    d->domid = g->domid;
    d->devid = devid;
    d->state = state;
    d->failed_state = d->failed_online = -1;
    d->last_state = -1;
    SLIST_INSERT_HEAD(&g->devices, d, next);
    g->ndevices++;
    t->ndevices++;
    return d;
}

void libxl__devd_device_free(devd_table *t, devd_guest *g, devd_device *d)
{
    if (d->queued) {
        STAILQ_REMOVE(&t->queue, d, devd_device, qnext);
        t->nqueued--;
    }
    SLIST_REMOVE(&g->devices, d, devd_device, next);
    g->ndevices--;
    t->ndevices--;
    free(d->last_error);
    free(d->queued_with);
    free(d->ext);
    free(d);
}

void libxl__devd_queue_push(devd_table *t, devd_device *d, int act)
{
    d->queued_act = act;
    if (d->queued)
        return;
    d->queued = true;
    STAILQ_INSERT_TAIL(&t->queue, d, qnext);
    t->nqueued++;
}

devd_device *libxl__devd_queue_pop(devd_table *t, int *act_r)
{
    devd_device *d = STAILQ_FIRST(&t->queue);

    if (!d)
        return NULL;
    STAILQ_REMOVE_HEAD(&t->queue, qnext);
    t->nqueued--;
    d->queued = false;
    *act_r = d->queued_act;
    return d;
}

void libxl__devd_device_set_error(devd_device *d, const char *msg)
{
    free(d->last_error);
    d->last_error = msg ? strdup(msg) : NULL;
}
