/*
 * The driver-domain listener: state shared by its libxl modules.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_INTERNAL_H
#define LIBXL_DEVD_INTERNAL_H

#include "libxl_internal.h"
#include "devd_table.h"

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
    bool aborting;
    XEN_LIST_ENTRY(libxl__devd_state) registry_entry;
};

/* Registry of running handlers, for libxl_device_events_status.
 * Callers hold the ctx lock. */
_hidden void libxl__devd_registry_add(libxl__devd_state *dds);
_hidden void libxl__devd_registry_remove(libxl__devd_state *dds);
_hidden bool libxl__devd_registry_has_ctx(libxl_ctx *ctx);

#endif
