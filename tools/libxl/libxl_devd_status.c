/*
 * What a running listener tracks, for operators (`xl devd --status`).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include <pthread.h>

#include "libxl_devd_internal.h"

/* Handlers of every ctx in this process.  The list has its own mutex;
 * the tables of one handler are guarded by its ctx's lock (taken first). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static XEN_LIST_HEAD(, libxl__devd_state) registry =
    XEN_LIST_HEAD_INITIALIZER(registry);

void libxl__devd_registry_add(libxl__devd_state *dds)
{
    pthread_mutex_lock(&registry_lock);
    XEN_LIST_INSERT_HEAD(&registry, dds, registry_entry);
    pthread_mutex_unlock(&registry_lock);
}

void libxl__devd_registry_remove(libxl__devd_state *dds)
{
    pthread_mutex_lock(&registry_lock);
    XEN_LIST_REMOVE(dds, registry_entry);
    pthread_mutex_unlock(&registry_lock);
}

static libxl__devd_state *registry_find(libxl_ctx *ctx)
{
    libxl__devd_state *dds;

    XEN_LIST_FOREACH(dds, &registry, registry_entry) {
        if (libxl__gc_owner(&dds->ao->gc) == ctx)
            return dds;
    }
    return NULL;
}

bool libxl__devd_registry_has_ctx(libxl_ctx *ctx)
{
    bool found;

    pthread_mutex_lock(&registry_lock);
    found = registry_find(ctx) != NULL;
    pthread_mutex_unlock(&registry_lock);
    return found;
}

static void status_guest(libxl__gc *gc, libxl_device_events_guest *o,
                         const devd_guest *g)
{
    o->domid = g->domid;
    o->detail = g->detail[0] ? libxl__strdup(NOGC, g->detail) : NULL;
}

static void status_device(libxl__gc *gc, libxl_device_events_device *o,
                          const devd_device *d)
{
    o->domid = d->domid;
    o->kind = libxl__strdup(NOGC, d->kind);
    o->devid = d->devid;
    o->state = libxl__strdup(NOGC, libxl__devd_dev_state_name(d->state));
    o->busy = d->busy;
    o->queued = d->queued;
    o->detail = d->detail ? libxl__strdup(NOGC, d->detail) : NULL;
    o->error = d->last_error ? libxl__strdup(NOGC, d->last_error) : NULL;
}

/* Copies what dds tracks, guests in table order, each one's devices
 * after it. */
static void status_fill(libxl__gc *gc, const libxl__devd_state *dds,
                        libxl_device_events_status *st)
{
    const devd_guest *g;
    const devd_device *d;
    int ng = 0, nd = 0;

    st->domid = dds->self_domid;
    st->backend_path = libxl__strdup(NOGC, dds->be_path);
    st->operations = dds->ops_inflight;
    st->slots = dds->slots;
    st->stopping = dds->aborting;
    st->guests = libxl__calloc(NOGC, dds->table.nguests + 1,
                               sizeof(*st->guests));
    st->devices = libxl__calloc(NOGC, dds->table.ndevices + 1,
                                sizeof(*st->devices));
    SLIST_FOREACH(g, &dds->table.guests, next) {
        status_guest(gc, &st->guests[ng++], g);
        SLIST_FOREACH(d, &g->devices, next)
            status_device(gc, &st->devices[nd++], d);
    }
    st->num_guests = ng;
    st->num_devices = nd;
}

int libxl_device_events_get_status(libxl_ctx *ctx,
                                   libxl_device_events_status *status)
{
    GC_INIT(ctx);
    libxl__devd_state *dds;
    int rc;

    CTX_LOCK;
    pthread_mutex_lock(&registry_lock);
    dds = registry_find(ctx);
    if (!dds) {
        rc = ERROR_NOTFOUND;
        goto out;
    }
    libxl_device_events_status_dispose(status);
    libxl_device_events_status_init(status);
    status_fill(gc, dds, status);
    rc = 0;

out:
    pthread_mutex_unlock(&registry_lock);
    CTX_UNLOCK;
    GC_FREE;
    return rc;
}
