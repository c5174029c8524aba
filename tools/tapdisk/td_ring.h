/*
 * The shared ring of one disk, as a data structure: attaching to the
 * frontend's pages and event channel, taking requests off it (each copied
 * once into private memory), writing responses and notifying.  What a
 * request means is td_req.c's business.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_RING_H
#define TD_RING_H

#include "tapdisk.h"

/* Maps the frontend's ring pages and binds its event channel. */
int td_ring_connect(td_ring *r, const td_blkif *b, char *why, size_t wl);
/* Unbinds and unmaps; the caller finished every request first. */
void td_ring_disconnect(td_ring *r);
/* Is b the ring r is connected to (a restarted devd asking again)? */
bool td_ring_same(const td_ring *r, const td_blkif *b);

typedef enum {
    TD_RING_EMPTY,              /* nothing unconsumed */
    TD_RING_ENTRY,              /* *entry holds a copy of the next one */
    TD_RING_BROKEN,             /* the frontend's index is impossible */
} td_ring_peek_result;

/* Copies the next unconsumed entry (entry: TD_ENTRY_MAX bytes) without
 * consuming it; td_ring_consume then takes it. */
td_ring_peek_result td_ring_peek(td_ring *r, uint8_t *entry);
void td_ring_consume(td_ring *r);

/* The shared ring's indexes: what the frontend produced, and the
 * answers it has been shown. */
uint32_t td_ring_req_prod(td_ring *r);
uint32_t td_ring_rsp_prod(td_ring *r);

/* RING_FINAL_CHECK_FOR_REQUESTS: asks the frontend for an event at the
 * next request, then looks once more; true if requests are waiting. */
bool td_ring_final_check(td_ring *r);
/* Whether requests are waiting, without asking for an event (polling). */
bool td_ring_unconsumed(td_ring *r);

void td_ring_respond(td_ring *r, uint64_t id, uint8_t op, int16_t st);
/* Publishes the responses written; true if the frontend was notified. */
bool td_ring_push(td_ring *r);

/*
 * The event channel device (opened with the first ring, non-blocking),
 * or -1.  Linux's: a read of it gives the ports that fired, each an
 * evtchn_port_t, masked until a write of the same ports unmasks them;
 * so a loop may do both through io_uring.
 */
int td_ring_evtchn_fd(void);
/* The port that fired (unmasked again), or -1. */
int td_ring_evtchn_pending(void);
void td_ring_evtchn_unmask(evtchn_port_t port);

#endif
