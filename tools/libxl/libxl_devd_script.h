/*
 * Script-served kinds (vbd, vif): the module's own interface between its
 * kind (libxl_devd_script.c) and the running of its hotplug scripts
 * (libxl_devd_hotplug.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_SCRIPT_H
#define LIBXL_DEVD_SCRIPT_H

#include "libxl_devd_internal.h"

/* Per device (d->ext). */
typedef struct {
    unsigned int add_attempts;  /* of the add that runs */
    /* Not a backend but a removal that a previous devd left unfinished:
     * its keys are in a private copy (libxl_devd_hotplug.c). */
    bool leftover;
} devd_script_dev;

/* One add or remove. */
typedef struct {
    devd_op op;
    libxl__device ldev;
    libxl__ao_device aodev;
    libxl__async_exec_state aes;    /* a hotplug script we run ourselves */
    libxl__ev_time backoff;     /* an add's pause before its next attempt,
                                   a removal's grace deadline */
    bool taken_down;            /* a removal removed the backend directory */
    const char *copy;           /* a removal's copy of the backend's keys */
    int add_rc;                 /* a killed add's rc, while it is undone */
} devd_script_op;

extern const libxl__devd_kind libxl__devd_kind_script;

static inline devd_script_dev *libxl__devd_script_dev(const devd_device *d)
{
    return d->ext;
}

/* Both end the operation.  An add whose script was killed is retried
 * (libxl__devd_script_retry) when its operation ends. */
_hidden void libxl__devd_hotplug_add(libxl__egc *egc, devd_script_op *op);
/* The backend directory goes at once; the script reads a copy. */
_hidden void libxl__devd_hotplug_remove(libxl__egc *egc, devd_script_op *op);
/* Startup: runs the removals a previous devd left unfinished (their
 * copies are still there). */
_hidden void libxl__devd_hotplug_adopt_leftovers(libxl__egc *egc,
                                                 libxl__devd_state *dds);

/* (libxl_devd_script.c) The add runs again, for a slot, after op. */
_hidden void libxl__devd_script_retry(devd_script_op *op);
/* (libxl_devd_script.c) Starts the removal of such a leftover. */
_hidden void libxl__devd_script_remove_leftover(libxl__egc *egc,
                                                libxl__devd_state *dds,
                                                devd_guest *g,
                                                devd_device *d);

#endif
