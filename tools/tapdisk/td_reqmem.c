/*
 * Where a request's data sits in tapdisk's memory (td_req.c's helper):
 * copied by grant copy into a run of the ring's pool, the guest's pages
 * mapped for the request, or the frontend's persistent grants held.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "td_gmem.h"
#include "td_pool.h"
#include "td_reqmem.h"

/* Queues the copy of every segment between the guest and io->buf, where
 * the data sits packed, in segment order. */
void td_reqmem_copy(td_io *io, bool to_guest)
{
    td_ring *r = &io->d->r;
    size_t pos = 0;
    unsigned int i;

    for (i = 0; i < io->nsegs; i++) {
        const td_seg *s = &io->seg[i];
        uint16_t len = (uint16_t)((s->last_sect - s->first_sect + 1) *
                                  TD_SECTOR);

        td_gmem_add(r->domid, s->gref, (uint16_t)(s->first_sect * TD_SECTOR),
                    len, io->buf + pos, to_guest, &io->gnt_err);
        pos += len;
    }
}

/* Grant copy: the data packed at the start of the pool run taken for the
 * request; the pages it does not need go back at once. */
void td_reqmem_copied(td_io *io)
{
    td_ring *r = &io->d->r;
    size_t bytes = io->nr_sectors * TD_SECTOR;
    unsigned int need = (unsigned int)((bytes + TD_POOL_PAGE - 1) /
                                       TD_POOL_PAGE);

    td_pool_put(&r->pool, io->buf + (size_t)need * TD_POOL_PAGE,
                io->npages - need);
    io->npages = need;
    io->iov[0] = (struct iovec){ .iov_base = io->buf, .iov_len = bytes };
    io->niov = 1;
    io->want = bytes;
}

static void segment_refs(const td_io *io, uint32_t *refs)
{
    unsigned int i;

    for (i = 0; i < io->nsegs; i++)
        refs[i] = io->seg[i].gref;
}

/* One iovec a segment, in the page each segment's grant is at: pages[i],
 * or (pages NULL) the i-th page from base. */
static void segment_iovs(td_io *io, uint8_t *base, uint8_t *const *pages)
{
    unsigned int i;

    io->want = 0;
    for (i = 0; i < io->nsegs; i++) {
        const td_seg *s = &io->seg[i];
        uint8_t *page = pages ? pages[i] : base + (size_t)i * TD_PAGE_SIZE;

        io->iov[i].iov_base = page + s->first_sect * TD_SECTOR;
        io->iov[i].iov_len = (size_t)(s->last_sect - s->first_sect + 1) *
                             TD_SECTOR;
        io->want += io->iov[i].iov_len;
    }
    io->niov = io->nsegs;
}

/* Grant mapping: the request's grants mapped for as long as it is in
 * flight. */
bool td_reqmem_mapped(td_io *io)
{
    td_disk *d = io->d;
    uint32_t refs[TD_MAX_INDIRECT_SEGS];

    segment_refs(io, refs);
    io->buf = td_gmem_map(d->r.domid, io->nsegs, refs, io->to_guest);
    if (!io->buf) {
        DLOG(d, "cannot map the %u data grant(s) of a request: %s",
             io->nsegs, strerror(errno));
        return false;
    }
    io->npages = io->nsegs;
    segment_iovs(io, io->buf, NULL);
    return true;
}

/* Persistent grants: the request's pages held, and its pool run given
 * back.  False: copy it instead. */
bool td_reqmem_held(td_io *io)
{
    td_ring *r = &io->d->r;
    uint32_t refs[TD_MAX_INDIRECT_SEGS];
    uint8_t *pages[TD_MAX_INDIRECT_SEGS];

    segment_refs(io, refs);
    if (!td_gmem_hold(&r->pg, r->domid, io->nsegs, refs, pages))
        return false;
    if (io->buf)
        td_pool_put(&r->pool, io->buf, io->npages);
    io->buf = NULL;
    io->npages = 0;
    io->held = true;
    segment_iovs(io, NULL, pages);
    return true;
}

void td_reqmem_release(td_io *io)
{
    if (io->buf && td_gmem_mode_of() == TD_GMEM_COPY)
        td_pool_put(&io->d->r.pool, io->buf, io->npages);
    else if (io->buf)
        td_gmem_unmap(io->buf, io->npages);
    io->buf = NULL;
    io->npages = 0;
}
