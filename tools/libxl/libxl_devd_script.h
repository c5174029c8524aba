/*
 * Script-served kinds (vbd, vif): the module's own interface between its
 * kind (libxl_devd_script.c), the running of its hotplug scripts and their
 * adds (libxl_devd_hotplug.c) and their removals (libxl_devd_removal.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_SCRIPT_H
#define LIBXL_DEVD_SCRIPT_H

#include "libxl_devd_internal.h"

/* Where a removal keeps its copy of the keys, below our own home (one
 * level: <kind>-<domid>-<devid>). */
#define DEVD_COPY_DIR "libxl/devd-remove"

/* How many times a killed script's work is tried, an add's or a
 * remove's, and the pause before the second (2 s) and the third (8 s). */
#define DEVD_SCRIPT_ATTEMPTS 3
static inline int libxl__devd_script_backoff_ms(unsigned int attempts_done)
{
    return attempts_done <= 1 ? 2000 : 8000;
}

/* Per device (d->ext). */
typedef struct {
    unsigned int add_attempts;  /* of the add that runs */
    /* Not a backend but a removal that a previous devd left unfinished:
     * its keys are in a private copy (libxl_devd_removal.c). */
    bool leftover;
} devd_script_dev;

/* One add or remove. */
typedef struct {
    devd_op op;
    libxl__device ldev;
    libxl__ao_device aodev;
    libxl__async_exec_state aes;    /* a hotplug script we run ourselves */
    libxl__ev_time backoff;     /* the pause before a next attempt, a
                                   removal's grace deadline */
    bool taken_down;            /* a removal removed the backend directory */
    const char *copy;           /* a removal's copy of the backend's keys */
    int add_rc;                 /* a killed add's rc, while it is undone */
    unsigned int remove_attempts;   /* of a removal's script */
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
 * copies are still there).  (libxl_devd_removal.c, as the one above.) */
_hidden void libxl__devd_hotplug_adopt_leftovers(libxl__egc *egc,
                                                 libxl__devd_state *dds);

/* Running a script of ours (libxl_devd_hotplug.c).  exec_init: with
 * libxl's own timeout.  prepare: the arguments and environment for action
 * from the backend (still there), XENBUS_PATH replaced by xenbus_path
 * (relative to our home) unless NULL; 1: a script to run, 0: none, or an
 * error.  start: runs it, cb when it ends.  outcome: what its end means,
 * for the log; NULL if it went well. */
_hidden void libxl__devd_hotplug_exec_init(libxl__gc *gc, devd_script_op *op,
                                           char **args, char **env);
_hidden int libxl__devd_hotplug_prepare(libxl__gc *gc, devd_script_op *op,
                                        libxl__device_action action,
                                        const char *xenbus_path);
_hidden int libxl__devd_hotplug_start(libxl__gc *gc, devd_script_op *op,
                                      libxl__async_exec_callback *cb);
_hidden const char *libxl__devd_hotplug_outcome(libxl__gc *gc, int rc,
                                                int status);

/* Loop devices, as the block script uses them (a file-backed vbd is served
 * through one, named in its `node`).  backing: the file that dev
 * ("/dev/loopN") is bound to; NULL if it is none or not a loop device.
 * claimed: whether a vbd of ours other than self names dev as its node, in
 * its backend or in the copy of a removal that runs (other than the copy
 * named own_copy, if not NULL). */
_hidden const char *libxl__devd_loop_backing(libxl__gc *gc, const char *dev);
_hidden bool libxl__devd_loop_claimed(libxl__gc *gc, libxl__devd_state *dds,
                                      const devd_device *self,
                                      const char *own_copy, const char *dev);

/* (libxl_devd_script.c) The add runs again, for a slot, after op. */
_hidden void libxl__devd_script_retry(devd_script_op *op);
/* (libxl_devd_script.c) Starts the removal of such a leftover. */
_hidden void libxl__devd_script_remove_leftover(libxl__egc *egc,
                                                libxl__devd_state *dds,
                                                devd_guest *g,
                                                devd_device *d);

#endif
