/*
 * blkif ring layouts and request validation (see td_blkif.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <string.h>

#include "td_blkif.h"
#include "td_proto.h"

/* Byte offsets of the request fields in each layout.  x86_32 aligns
 * uint64_t to 4 bytes, so its id follows the handle directly. */
typedef struct {
    unsigned int entry_size, id, sector, segs, nr_sectors;
} layout;

static const layout layout_64 = { 112, 8, 16, 24, 24 };
static const layout layout_32 = { 108, 4, 12, 20, 20 };

static const layout *layout_of(unsigned int proto)
{
    /* Every platform a driver domain runs on (x86_64, arm32, arm64) has
     * the x86_64 layout as its native one. */
    return proto == TD_PROTO_X86_32 ? &layout_32 : &layout_64;
}

static uint16_t rd16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p)
{
    return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

int td_ring_geometry(unsigned int proto, unsigned int order,
                     td_ring_geom *g)
{
    unsigned int n;

    if (proto > TD_PROTO_MAX || order > TD_MAX_RING_ORDER)
        return -1;
    g->entry_size = layout_of(proto)->entry_size;
    n = (TD_PAGE_SIZE << order) - TD_RING_HDR;
    n /= g->entry_size;
    /* Round down to a power of two, as __RING_SIZE does. */
    while (n & (n - 1))
        n &= n - 1;
    g->nr_ents = n;
    return 0;
}

void td_req_decode(unsigned int proto, const uint8_t *e, td_req *r)
{
    const layout *l = layout_of(proto);
    unsigned int i, n;

    memset(r, 0, sizeof(*r));
    r->op = e[0];
    r->nr_segments = e[1];
    r->handle = rd16(e + 2);
    r->id = rd64(e + l->id);
    r->sector = rd64(e + l->sector);
    if (r->op == TD_OP_DISCARD) {
        r->nr_segments = 0;
        r->nr_sectors = rd64(e + l->nr_sectors);
        return;
    }
    /* Never read past the entry, whatever nr_segments claims. */
    n = r->nr_segments < TD_MAX_SEGS ? r->nr_segments : TD_MAX_SEGS;
    for (i = 0; i < n; i++) {
        const uint8_t *s = e + l->segs + 8 * i;
        r->seg[i].gref = rd32(s);
        r->seg[i].first_sect = s[4];
        r->seg[i].last_sect = s[5];
    }
}

const char *td_req_verdict_name(td_req_verdict v)
{
    switch (v) {
    case TD_REQ_OK: return "ok";
    case TD_REQ_BAD_OP: return "unsupported operation";
    case TD_REQ_BAD_NSEGS: return "bad segment count";
    case TD_REQ_BAD_SEG: return "bad segment";
    case TD_REQ_OUT_OF_RANGE: return "beyond the end of the image";
    case TD_REQ_READONLY: return "write to a read-only image";
    case TD_REQ_BAD_INDIRECT_OP: return "indirect request of neither read"
                                        " nor write";
    case TD_REQ_BAD_INDIRECT_PAGE: return "indirect segment page not"
                                          " readable";
    }
    return "invalid";
}

int td_req_verdict_status(td_req_verdict v)
{
    if (v == TD_REQ_OK)
        return TD_RSP_OKAY;
    return v == TD_REQ_BAD_OP ? TD_RSP_EOPNOTSUPP : TD_RSP_ERROR;
}

/* [sector, sector + n) inside [0, sectors), without overflow. */
static bool in_image(uint64_t sector, uint64_t n, uint64_t sectors)
{
    return sector <= sectors && n <= sectors - sector;
}

td_req_verdict td_req_validate(td_req *r, uint64_t sectors, bool readonly,
                               bool discard)
{
    uint64_t total = 0;
    unsigned int i;

    switch (r->op) {
    case TD_OP_READ:
    case TD_OP_WRITE:
        if (r->nr_segments == 0 || r->nr_segments > TD_MAX_SEGS)
            return TD_REQ_BAD_NSEGS;
        break;
    case TD_OP_WRITE_BARRIER:
    case TD_OP_FLUSH:
        /* Linux blkfront sends flushes with data (FUA writes) and empty
         * ones; both are valid. */
        if (r->nr_segments > TD_MAX_SEGS)
            return TD_REQ_BAD_NSEGS;
        break;
    case TD_OP_DISCARD:
        if (!discard)
            return TD_REQ_BAD_OP;
        if (readonly)
            return TD_REQ_READONLY;
        if (!in_image(r->sector, r->nr_sectors, sectors))
            return TD_REQ_OUT_OF_RANGE;
        return TD_REQ_OK;
    default:
        return TD_REQ_BAD_OP;   /* includes indirect: not advertised */
    }

    for (i = 0; i < r->nr_segments; i++) {
        const td_seg *s = &r->seg[i];
        if (s->first_sect > s->last_sect ||
            s->last_sect >= TD_SECTORS_PER_PAGE)
            return TD_REQ_BAD_SEG;
        total += (uint64_t)(s->last_sect - s->first_sect + 1);
    }
    r->nr_sectors = total;
    /* An empty flush carries no sector (Linux blkfront sends -1). */
    if (!total)
        return TD_REQ_OK;
    if (r->op != TD_OP_READ && readonly)
        return TD_REQ_READONLY;
    if (!in_image(r->sector, total, sectors))
        return TD_REQ_OUT_OF_RANGE;
    return TD_REQ_OK;
}

/*----- indirect requests -----*/

/* Byte offsets of the indirect request's fields: x86_64 aligns id to 8
 * (after 4 bytes of padding), x86_32 to 4. */
typedef struct {
    unsigned int id, sector, handle, grefs;
} ilayout;

static const ilayout ilayout_64 = { 8, 16, 24, 28 };
static const ilayout ilayout_32 = { 4, 12, 20, 24 };

void td_ireq_decode(unsigned int proto, const uint8_t *e, td_ireq *r)
{
    const ilayout *l = proto == TD_PROTO_X86_32 ? &ilayout_32 : &ilayout_64;
    unsigned int i;

    memset(r, 0, sizeof(*r));
    r->op = e[0];
    r->indirect_op = e[1];
    r->nr_segments = rd16(e + 2);
    r->id = rd64(e + l->id);
    r->sector = rd64(e + l->sector);
    r->handle = rd16(e + l->handle);
    for (i = 0; i < TD_MAX_INDIRECT_PAGES; i++)
        r->page_gref[i] = rd32(e + l->grefs + 4 * i);
}

td_req_verdict td_ireq_validate_header(td_ireq *r, unsigned int max_segs,
                                       bool readonly)
{
    if (r->op != TD_OP_INDIRECT)
        return TD_REQ_BAD_OP;
    if (r->indirect_op != TD_OP_READ && r->indirect_op != TD_OP_WRITE)
        return TD_REQ_BAD_INDIRECT_OP;
    if (max_segs > TD_MAX_INDIRECT_SEGS)
        max_segs = TD_MAX_INDIRECT_SEGS;
    if (r->nr_segments == 0 || r->nr_segments > max_segs)
        return TD_REQ_BAD_NSEGS;
    if (r->indirect_op == TD_OP_WRITE && readonly)
        return TD_REQ_READONLY;
    r->nr_pages = (r->nr_segments + TD_SEGS_PER_INDIRECT_PAGE - 1) /
                  TD_SEGS_PER_INDIRECT_PAGE;
    return TD_REQ_OK;
}

td_req_verdict td_ireq_validate_segments(td_ireq *r, const uint8_t *pages,
                                         uint64_t sectors)
{
    uint64_t total = 0;
    unsigned int i;

    /* The header's checks bound nr_segments, and so what is read here. */
    if (r->nr_segments == 0 || r->nr_segments > TD_MAX_INDIRECT_SEGS ||
        r->nr_pages * TD_SEGS_PER_INDIRECT_PAGE < r->nr_segments)
        return TD_REQ_BAD_NSEGS;
    for (i = 0; i < r->nr_segments; i++) {
        const uint8_t *s = pages + 8 * (size_t)i;
        td_seg *g = &r->seg[i];

        g->gref = rd32(s);
        g->first_sect = s[4];
        g->last_sect = s[5];
        if (g->first_sect > g->last_sect ||
            g->last_sect >= TD_SECTORS_PER_PAGE)
            return TD_REQ_BAD_SEG;
        total += (uint64_t)(g->last_sect - g->first_sect + 1);
    }
    r->nr_sectors = total;
    if (!in_image(r->sector, total, sectors))
        return TD_REQ_OUT_OF_RANGE;
    return TD_REQ_OK;
}

unsigned int td_req_max_pages(const uint8_t *e)
{
    unsigned int n;

    /* op and nr_segments sit at the same offsets in every layout. */
    switch (e[0]) {
    case TD_OP_READ:
    case TD_OP_WRITE:
    case TD_OP_WRITE_BARRIER:
    case TD_OP_FLUSH:
        return e[1] < TD_MAX_SEGS ? e[1] : TD_MAX_SEGS;
    case TD_OP_INDIRECT:
        n = rd16(e + 2);
        return n < TD_MAX_INDIRECT_SEGS ? n : TD_MAX_INDIRECT_SEGS;
    }
    return 0;
}

void td_rsp_encode(uint8_t *e, uint64_t id, uint8_t op, int16_t status)
{
    unsigned int i;

    for (i = 0; i < 8; i++)
        e[i] = (uint8_t)(id >> (8 * i));
    e[8] = op;
    e[9] = 0;
    e[10] = (uint8_t)((uint16_t)status & 0xFF);
    e[11] = (uint8_t)((uint16_t)status >> 8);
}

bool td_ring_prod_ok(uint32_t req_prod, uint32_t rsp_prod_pvt,
                     unsigned int nr_ents)
{
    return (uint32_t)(req_prod - rsp_prod_pvt) <= nr_ents;
}
