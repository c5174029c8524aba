/*
 * A ring's requests in flight, in a file that outlives the process, so
 * that a tapdisk killed under a live ring can be replaced by one that
 * answers every request the dead one took and had not answered, exactly
 * once, and goes on.
 *
 * Why a file: a response is written over the slot of the request the
 * ring had there, and answers go out of order, so the ring alone cannot
 * tell which requests the dead tapdisk took and left unanswered, nor
 * what they were.  The journal keeps, per request taken and not yet
 * answered where the frontend can see it, a copy of the entry taken
 * (before anything is done with it), the ring index it was taken at, and
 * the index its answer was written at (before the answer is); its slot is
 * freed once the answer is pushed.  The ring's own rsp_prod says which
 * answers the frontend was shown.  So a request is owed an answer exactly when it was taken
 * (its index below the journal's req_cons) and its answer, if written,
 * is at or past rsp_prod; and every entry from req_cons on is still on
 * the ring, untaken.
 *
 * The file is <dir of the control socket>/ring-<domid>-<devid>.jnl (the
 * directory is root's alone, 0700), MAP_SHARED: stores reach it as they
 * are made, whenever the process dies.  Removed when the ring is let go.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_JOURNAL_H
#define TD_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "td_blkif.h"
#include "td_proto.h"

typedef struct td_jnl_slot {
    uint32_t taken;             /* holds a request taken off the ring */
    uint32_t req_idx;           /* the ring index it was taken at */
    uint32_t answered;          /* its answer was written ... */
    uint32_t rsp_idx;           /* ... at this ring index */
    uint8_t entry[TD_ENTRY_MAX];
} td_jnl_slot;

typedef struct td_jnl_hdr {
    uint32_t magic, version;
    uint32_t domid, devid, order, proto, port, nr_ents;
    uint32_t gref[TD_MAX_RING_PAGES];
    uint32_t req_cons;          /* every entry before it was taken */
    uint32_t slots;
} td_jnl_hdr;

typedef struct td_jnl {
    td_jnl_hdr *hdr;            /* NULL: no journal (no directory for it) */
    td_jnl_slot *slot;
    size_t bytes;
    char path[128];
} td_jnl;

/* The directory journals go in (the control socket's); NULL: none. */
void td_jnl_set_dir(const char *dir);

/*
 * Opens the journal of the ring b with slots slots.  If keep and one is
 * there for exactly this ring (the same domain, device, pages, port and
 * layout), *found is set and its contents kept for td_jnl_owed; else it
 * starts empty, taking from req_cons on (a new ring may well have the
 * same grants and port as one a dead tapdisk served).  Without a journal (no directory for
 * it, or a failure: why says) the ring works; it cannot be taken over.
 */
void td_jnl_open(td_jnl *j, const td_blkif *b, uint32_t nr_ents,
                 uint32_t slots, uint32_t req_cons, bool keep, bool *found,
                 char *why, size_t wl);

/*
 * The requests owed an answer, given the ring's rsp_prod: their entries
 * copied to out (TD_ENTRY_MAX bytes each, at most nr_ents), their ring
 * indexes to idx and their journal slots to slot (each keeps its slot
 * until answered again), in the order they were taken, and the journal's
 * req_cons in *req_cons; every other slot is freed.  -1 if the journal and the ring disagree (owed
 * answers are not req_cons - rsp_prod): nothing can be owed safely then.
 */
int td_jnl_owed(td_jnl *j, uint32_t rsp_prod, uint8_t *out, uint32_t *idx,
                uint32_t *slot, uint32_t *req_cons);

/* Forgets what it holds: the ring is taken from req_cons on. */
void td_jnl_reset(td_jnl *j, uint32_t req_cons);

/* Journal slot s (a free one, or an owed entry's own) holds the entry
 * taken at ring index idx (next_cons: the ring's req_cons after it, or
 * the same for an entry taken again). */
void td_jnl_take(td_jnl *j, uint32_t s, uint32_t idx, const uint8_t *entry,
                 uint32_t len, uint32_t next_cons);
/* Slot s's answer goes at ring index idx. */
void td_jnl_answer(td_jnl *j, uint32_t s, uint32_t idx);
/* Slot s's answer was pushed: the slot is free. */
void td_jnl_free(td_jnl *j, uint32_t s);

/* Unmaps it; removes the file if the ring was let go on purpose. */
void td_jnl_close(td_jnl *j, bool remove);

#endif
