/*
 * blkif rings as tapdisk sees them: the three ring layouts (native,
 * x86_32-abi, x86_64-abi), copying a request out of shared memory once,
 * and validating it against the image.  Pure: unit-tested and fuzzed
 * without a hypervisor.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_BLKIF_H
#define TD_BLKIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TD_PAGE_SIZE 4096u
#define TD_SECTOR 512u                  /* blkif sectors are always 512 B */
#define TD_SECTORS_PER_PAGE (TD_PAGE_SIZE / TD_SECTOR)
#define TD_MAX_SEGS 11                  /* BLKIF_MAX_SEGMENTS_PER_REQUEST */
#define TD_RING_HDR 64                  /* prod/event indexes + padding */
#define TD_ENTRY_MAX 112                /* largest ring entry (x86_64) */

#define TD_OP_READ          0
#define TD_OP_WRITE         1
#define TD_OP_WRITE_BARRIER 2
#define TD_OP_FLUSH         3
#define TD_OP_DISCARD       5
#define TD_OP_INDIRECT      6

#define TD_RSP_OKAY        0
#define TD_RSP_ERROR      (-1)
#define TD_RSP_EOPNOTSUPP (-2)

typedef struct {
    uint32_t gref;
    uint8_t first_sect, last_sect;
} td_seg;

/* A request copied out of the ring and decoded from its layout. */
typedef struct {
    uint8_t op;
    uint8_t nr_segments;        /* read/write/flush/barrier */
    uint16_t handle;
    uint64_t id;
    uint64_t sector;
    uint64_t nr_sectors;        /* discard: from the request; else summed */
    td_seg seg[TD_MAX_SEGS];
} td_req;

/* Geometry of a ring of 2^order pages for a protocol (td_proto values). */
typedef struct {
    unsigned int entry_size;
    unsigned int nr_ents;       /* a power of two */
} td_ring_geom;

int td_ring_geometry(unsigned int proto, unsigned int order,
                     td_ring_geom *g);

/* Decodes one ring entry already copied into private memory. */
void td_req_decode(unsigned int proto, const uint8_t *entry, td_req *r);

/* Why a request is refused (for the stats and the log). */
typedef enum {
    TD_REQ_OK = 0,
    TD_REQ_BAD_OP,              /* unknown or unsupported operation */
    TD_REQ_BAD_NSEGS,           /* segment count 0 or > 11 where invalid */
    TD_REQ_BAD_SEG,             /* first_sect > last_sect or past a page */
    TD_REQ_OUT_OF_RANGE,        /* sectors past the end of the image */
    TD_REQ_READONLY,            /* a write to a read-only image */
} td_req_verdict;

const char *td_req_verdict_name(td_req_verdict v);

/*
 * Checks r against an image of `sectors` 512-byte sectors.  Sets
 * r->nr_sectors for data requests.  discard: the image supports discard.
 */
td_req_verdict td_req_validate(td_req *r, uint64_t sectors, bool readonly,
                               bool discard);

/* The blkif status a verdict is answered with. */
int td_req_verdict_status(td_req_verdict v);

/* Writes a response into a ring entry (the same layout for all three). */
void td_rsp_encode(uint8_t *entry, uint64_t id, uint8_t op, int16_t status);

/*
 * Is a frontend's req_prod believable?  More unconsumed requests than the
 * ring can hold, counting those we have not answered yet, is a broken or
 * hostile frontend (Linux's RING_REQUEST_PROD_OVERFLOW).
 */
bool td_ring_prod_ok(uint32_t req_prod, uint32_t rsp_prod_pvt,
                     unsigned int nr_ents);

#endif
