/*
 * Guest memory: how a request's data moves between the guest's granted
 * pages and ours.
 *  - copy (the default): the hypervisor copies (GNTTABOP_copy through
 *    gntdev), batched: callers add segments, then one flush per ring pass
 *    moves them all.  A segment that cannot be copied (a bad grant) fails
 *    only the request it belongs to.
 *  - persistent: a frontend that negotiated feature-persistent keeps
 *    its grants; each is mapped once, when first seen, and held until its
 *    ring disconnects (td_pgnt.h); requests use those pages in place.
 *    What cannot be held (the table full, a grant not mappable) is copied.
 *    Offered in copy mode, unless TAPDISK_GRANTS=copy.
 *  - map: a request's grants are mapped while it is in flight (an mmap
 *    and an munmap per request).  Where the kernel has no grant copy, or
 *    when TAPDISK_GRANTS=map asks for it (to measure one against the other).
 * docs/design.md has the figures behind the default.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_GMEM_H
#define TD_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "td_pgnt.h"

typedef enum { TD_GMEM_COPY, TD_GMEM_MAP } td_gmem_mode;

/* Opens the grant device (once) and picks the mode. */
int td_gmem_open(char *why, size_t wl);
td_gmem_mode td_gmem_mode_of(void);
const char *td_gmem_mode_name(void);

/* Whether frontends are offered persistent grants (copy mode, unless
 * TAPDISK_GRANTS=copy); opens the grant device if need be. */
bool td_gmem_persistent(void);

/*
 * Queues a copy of len bytes between local memory and offset..offset+len
 * (inside one page) of domid's grant gref; to_guest: from local to the
 * guest.  If it fails, *failed receives the grant status (< 0) unless it
 * already holds one.  Nothing moves before td_gmem_flush.
 */
void td_gmem_add(uint32_t domid, uint32_t gref, uint16_t offset,
                 uint16_t len, void *local, bool to_guest, int16_t *failed);

/* Moves everything queued. */
void td_gmem_flush(void);

/* Maps n grants of domid contiguously; NULL with errno on failure. */
void *td_gmem_map(uint32_t domid, unsigned int n, const uint32_t *refs,
                  bool writable);
void td_gmem_unmap(void *addr, unsigned int n);

/*
 * Persistent grants: pages[i] receives our address of grefs[i]'s page
 * (references may repeat), held in t; those not held yet are mapped now,
 * writable, in one call.  False if any cannot be: t has no room, or a
 * grant cannot be mapped; nothing is held then that was not before, and
 * the caller copies instead.
 */
bool td_gmem_hold(td_pgnt *t, uint32_t domid, unsigned int n,
                  const uint32_t *grefs, uint8_t **pages);

/* Unmaps every page t holds and empties it. */
void td_gmem_release(td_pgnt *t);

#endif
