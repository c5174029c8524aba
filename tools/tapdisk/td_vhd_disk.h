/*
 * A VHD image served by tapdisk: its metadata read, checked and kept up
 * to date in the file, and each request mapped onto the file's blocks
 * (td_io's extents) for the I/O engine.  Fixed images are raw data with a
 * footer: their requests need no mapping.
 *
 * Metadata is read and written here, at once (pread/pwrite, page cache);
 * data goes through the engine.  Ordering, so that a crash anywhere
 * leaves an image every reader opens and that has every write the guest
 * saw flushed, and a tapdisk killed loses nothing it answered:
 *   - a new block: the footer at the new end first, then the block's
 *     bitmap (all ones: the data area is a fresh hole, or a punched one),
 *     fdatasync, then its BAT entry, then its data (the engine): no BAT
 *     entry on disk ever names a block that is not there;
 *   - a block given back (a discard of all of it): its BAT entry cleared
 *     and its slot punched; the slot is used again only after a flush
 *     made the cleared entry durable with nothing else in flight (no late
 *     write can land in it).
 * At open, blocks past the last one the BAT names (an allocation cut
 * short) are cut off and the end footer written again.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_VHD_DISK_H
#define TD_VHD_DISK_H

#include "tapdisk.h"

/* Reads and checks d->fd's metadata; sets d->sectors, d->vhd. */
int td_vhd_open(td_disk *d, bool ro, char *why, size_t wl);
/* Writes what is left of the metadata and frees the state. */
void td_vhd_close(td_disk *d);

/* Maps io onto the file (io->ext); false fails it (said why). */
bool td_vhd_map(td_io *io);
/* The engine is done with io: zeroes the sectors the bitmaps say are
 * not there.  True if io has more to do (a discard's next blocks): map
 * and start it again. */
bool td_vhd_done(td_io *io);

#endif
