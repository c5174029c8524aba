/*
 * `xl devd --status`: what the running listener tracks, rendered by xl
 * from libxl's libxl_device_events_status.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef XL_DEVD_STATUS_H
#define XL_DEVD_STATUS_H

#include <stdbool.h>

#include <libxl.h>

/* In the daemon: writes the status files (text, and JSON beside it),
 * atomically: a reader sees the old or the new file. */
void xl_devd_status_write(libxl_ctx *ctx, const char *path);
/* In `xl devd --status`: asks the daemon holding pidfile for its status
 * and prints it (JSON if json).  An exit status. */
int xl_devd_status_print(const char *pidfile, const char *path, bool json);

#endif
