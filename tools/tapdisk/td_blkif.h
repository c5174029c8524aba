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
    TD_REQ_BAD_INDIRECT_OP,     /* an indirect request carrying neither
                                   a read nor a write */
    TD_REQ_BAD_INDIRECT_PAGE,   /* its segment pages cannot be read */
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

/*----- indirect requests (BLKIF_OP_INDIRECT) -----*/

/*
 * An indirect request carries its segments in up to 8 pages of its own
 * (512 eight-byte segments a page), named by grant refs in the ring entry.
 * We take at most TD_MAX_INDIRECT_SEGS segments (1 MiB), as much as Linux
 * blkback.  Decoding is in two steps, each on private memory: the header
 * from the ring entry, then (once the caller has copied the indirect
 * pages) the segments.
 */
#define TD_MAX_INDIRECT_SEGS 256
#define TD_MAX_INDIRECT_PAGES 8         /* ..._INDIRECT_PAGES_PER_REQUEST */
#define TD_SEGS_PER_INDIRECT_PAGE (TD_PAGE_SIZE / 8)

typedef struct {
    uint8_t op;                 /* TD_OP_INDIRECT */
    uint8_t indirect_op;        /* the operation it carries */
    uint16_t nr_segments;
    uint16_t handle;
    uint64_t id;
    uint64_t sector;
    uint64_t nr_sectors;        /* summed by td_ireq_validate_segments */
    unsigned int nr_pages;      /* set by td_ireq_validate_header */
    uint32_t page_gref[TD_MAX_INDIRECT_PAGES];
    td_seg seg[TD_MAX_INDIRECT_SEGS];
} td_ireq;

/* Decodes an indirect request's header from a ring entry already copied
 * into private memory. */
void td_ireq_decode(unsigned int proto, const uint8_t *entry, td_ireq *r);

/*
 * Checks what the header says before any indirect page is touched: the
 * operation it carries (read or write; a write not to a read-only image),
 * its segment count (1..max_segs, max_segs at most TD_MAX_INDIRECT_SEGS)
 * and so how many indirect pages it needs (set in r->nr_pages).
 */
td_req_verdict td_ireq_validate_header(td_ireq *r, unsigned int max_segs,
                                       bool readonly);

/*
 * Reads the segments from the indirect pages, copied by the caller into
 * private memory (r->nr_pages pages of TD_PAGE_SIZE at `pages`), and checks
 * each as a direct request's (first_sect <= last_sect < 8) and the whole
 * range against an image of `sectors` sectors; sets r->nr_sectors.  Only
 * after td_ireq_validate_header said TD_REQ_OK.
 */
td_req_verdict td_ireq_validate_segments(td_ireq *r, const uint8_t *pages,
                                         uint64_t sectors);

/*
 * The most data pages the request in a ring entry (already copied into
 * private memory) can need, before it is validated: its segment count as
 * it claims it, bounded by what any valid request carries; 0 for an
 * operation without data.  A backend takes the buffer this says before it
 * consumes the request, so that it never consumes one it cannot serve.
 */
unsigned int td_req_max_pages(const uint8_t *entry);

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
