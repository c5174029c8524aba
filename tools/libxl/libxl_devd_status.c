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

int libxl_device_events_status(libxl_ctx *ctx, char **text_r)
{
    GC_INIT(ctx);
    libxl__devd_state *dds;
    char *body = NULL;
    int rc;

    CTX_LOCK;
    pthread_mutex_lock(&registry_lock);
    dds = registry_find(ctx);
    if (!dds) {
        rc = ERROR_NOTFOUND;
        goto out;
    }
    body = libxl__devd_table_format(&dds->table);
    if (!body) {
        rc = ERROR_NOMEM;
        goto out;
    }
    *text_r = libxl__sprintf(NOGC, "domid %u watching %s operations %d%s\n%s",
                             dds->self_domid, dds->be_path, dds->ops_inflight,
                             dds->aborting ? " (stopping)" : "", body);
    rc = 0;

out:
    pthread_mutex_unlock(&registry_lock);
    CTX_UNLOCK;
    free(body);
    GC_FREE;
    return rc;
}
