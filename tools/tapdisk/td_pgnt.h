/*
 * A ring's persistent grants: the guest pages a frontend that negotiated
 * feature-persistent keeps granted for the life of its ring, mapped here
 * once and then read and written in place by every request that names
 * them, with no grant copy and no second copy.
 *
 * A table from grant reference to our address of its page, filled in
 * regions (the grants one request brought, mapped in one call) and never
 * emptied before the ring disconnects: the frontend cannot take back a
 * grant we hold mapped, so an entry never goes stale.  A table holds as
 * many grants as it is told: td_req.c gives a ring what Linux blkfront
 * keeps for it with its default 128 KiB requests (32 data pages and an
 * indirect page per ring entry: 1056 for a one-page ring, as blkback's
 * default, 8448 for eight pages); a request that would need more is
 * copied instead.  The hash is keyed per ring, so a guest cannot choose
 * references that collide.
 * Pure: the caller maps and unmaps, so it is unit-tested on its own.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_PGNT_H
#define TD_PGNT_H

#include <stdbool.h>
#include <stdint.h>

/* Grants per ring entry that blkfront keeps with its default 32-segment
 * requests: 32 data pages and the indirect page. */
#define TD_PGNT_PER_ENTRY 33
/* At most: the entries of the largest ring (8 pages), 33 each. */
#define TD_PGNT_LIMIT (256 * TD_PGNT_PER_ENTRY)
#define TD_PGNT_PAGE 4096u

typedef struct {
    uint32_t gref;
    uint8_t *page;                  /* NULL: a free slot */
} td_pgnt_slot;

typedef struct {
    uint8_t *base;                  /* n pages, as one mapping */
    unsigned int n;
} td_pgnt_region;

typedef struct {
    td_pgnt_slot *slot;             /* nslots, a power of two */
    td_pgnt_region *region;         /* max at most */
    unsigned int max, nslots, count, nregions;
    uint32_t key;
} td_pgnt;

/* Allocates an empty table for max grants (1..TD_PGNT_LIMIT); -1 if out
 * of range or out of memory.  td_pgnt_dispose is idempotent, and safe on
 * a zeroed table. */
int td_pgnt_init(td_pgnt *t, uint32_t key, unsigned int max);
void td_pgnt_dispose(td_pgnt *t);

/* The page of gref, or NULL if it is not held. */
uint8_t *td_pgnt_find(const td_pgnt *t, uint32_t gref);

/* Whether n more grants fit. */
bool td_pgnt_room(const td_pgnt *t, unsigned int n);

/*
 * Records a region: grefs[i] (distinct, none held yet) mapped at
 * base + i pages.  The caller checked td_pgnt_room(t, n) first.
 */
void td_pgnt_add(td_pgnt *t, uint8_t *base, unsigned int n,
                 const uint32_t *grefs);

#endif
