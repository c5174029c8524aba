/*
 * Where a request's data sits in tapdisk's memory: grant copy into the
 * ring's pool, grant mapping, or persistent grants held (td_reqmem.c).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_REQMEM_H
#define TD_REQMEM_H

#include "tapdisk.h"

/* Queues the copy of every segment between the guest and io->buf, where
 * the data sits packed, in segment order. */
void td_reqmem_copy(td_io *io, bool to_guest);
/* Grant copy: the data packed at the start of the pool run taken for the
 * request; the pages it does not need go back at once. */
void td_reqmem_copied(td_io *io);
/* Grant mapping: the request's grants mapped while it is in flight;
 * false (logged) if they do not map. */
bool td_reqmem_mapped(td_io *io);
/* Persistent grants: the request's pages held, its pool run given back;
 * false: copy it instead. */
bool td_reqmem_held(td_io *io);
/* Gives back what the request's data took. */
void td_reqmem_release(td_io *io);

#endif
