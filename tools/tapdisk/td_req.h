/*
 * A disk's requests, from its ring to the I/O engine and back (td_req.c
 * says how, and how rings share the process fairly).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_REQ_H
#define TD_REQ_H

#include "tapdisk.h"

void td_req_init(void);

/* Connects the frontend's ring b to disk d and gets its buffers. */
int td_req_attach(td_disk *d, const td_blkif *b, char *why, size_t wl);
/* Finishes what is in flight, then lets the ring go.  Idempotent. */
void td_req_detach(td_disk *d);

/* One batch of d's requests. */
void td_req_serve(td_disk *d);
/* One round over the rings with work left; whether any has more. */
bool td_req_round(void);
/* Requests taken off the rings so far. */
uint64_t td_req_taken(void);
/* Quiet rings (served while polling, td_spin.h): whether one has
 * requests waiting (each such is served in the next round). */
bool td_req_watch(void);
/* The same after each quiet ring's final check, which asks for an event
 * again: before the loop sleeps, no ring may be left quiet. */
bool td_req_rearm(void);
/* The event channel fired for port. */
void td_req_on_event(int port);
/* Reaps and answers what the engine completed; a ring that was waiting
 * for it is served in the next round. */
void td_req_on_completions(void);

#endif
