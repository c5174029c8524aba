/*
 * Image formats: opening, sizing and closing the image behind a disk, and
 * mapping its requests onto the file.  "aio:" or "raw:" and an absolute
 * path to a file or a block device; "vhd:" and a VHD file (td_vhd_disk.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_DISK_H
#define TD_DISK_H

#include "tapdisk.h"

/* Opens p's image in a free disk slot; its index in *minor. */
int td_disk_open(const td_params *p, uint32_t *minor, char *why, size_t wl);
/* Closes the image; the caller detached its ring first. */
void td_disk_close(td_disk *d);
/* The disk at minor, if open. */
td_disk *td_disk_get(uint32_t minor);
/* Its size and what it implements (TD_FEAT_*), for devd. */
void td_disk_info(const td_disk *d, td_image *out);

/* Before the engine: maps io onto the image's file.  False fails it. */
bool td_disk_map(td_io *io);
/* After the engine: finishes what the format must.  True if io goes on
 * (mapped and started again). */
bool td_disk_done(td_io *io);

#endif
