/*
 * A disk's requests, from its ring to the I/O engine and back.
 *
 * Taking a request: a free slot and (grant copy) a run of buffer pages are
 * found before the request is consumed, so a ring short of either stops,
 * the request left where it is, until one of its requests completes.  The
 * entry, copied once, is decoded and validated (td_blkif.c); an indirect
 * request's segment pages are copied into private memory and validated in
 * turn.  Only then is any byte of the guest's data or of the image touched.
 *
 * Persistent grants (a frontend that keeps its grants): the pages are
 * mapped once and held (td_gmem_hold), and the engine reads and writes
 * them in place: no copy at all.  What cannot be held is copied.
 *
 * Grant copy, batched: writes queue their copy in and wait on the ring's
 * staged list; at the end of the batch one call moves all of it and their
 * I/O starts.  Reads queue their copy out when their I/O is done, and
 * every completion of a wakeup is answered after one call moved it all.
 * A grant that cannot be copied fails only the request that named it.
 *
 * Fairness: each wakeup serves one batch (BATCH requests at most) of a
 * ring; a ring with more left is served again in the next round, after
 * every other ring with work has had its batch and the control socket,
 * the signals and the event channel have been polled (tapdisk.c).  So a
 * frontend that keeps its ring full, even of requests that fail at once,
 * cannot delay another disk, a control request or a signal.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "td_disk.h"
#include "td_engine.h"
#include "td_gmem.h"
#include "td_req.h"
#include "td_reqmem.h"
#include "td_ring.h"
#include "td_spin.h"

#define BATCH 64
#define POOL_BYTES ((size_t)TD_RING_BUF_PAGES * TD_POOL_PAGE)
#define INDIRECT_BYTES ((size_t)TD_MAX_INDIRECT_PAGES * TD_PAGE_SIZE)

/* Requests the engine is done with, answered by finish_all; and those
 * their format sends back to it (a discard's next blocks). */
static td_ioq finished, again;
/* Requests taken off any ring, ever. */
static uint64_t taken;

static bool copying(void)
{
    return td_gmem_mode_of() == TD_GMEM_COPY;
}

static void ioq_push(td_ioq *q, td_io *io)
{
    io->next = NULL;
    if (q->head)
        q->last->next = io;
    else
        q->head = io;
    q->last = io;
}

static td_io *ioq_pop(td_ioq *q)
{
    td_io *io = q->head;

    if (io)
        q->head = io->next;
    return io;
}

static void finish_later(td_io *io)
{
    ioq_push(&finished, io);
}

/* To the engine, once its format mapped it onto the image's file. */
static void start(td_io *io)
{
    if (!td_disk_map(io)) {
        io->status = TD_RSP_ERROR;
        finish_later(io);
        return;
    }
    td_engine_start(io);
}

/*----- answering -----*/

static void finish(td_io *io)
{
    td_disk *d = io->d;
    td_ring *r = &d->r;
    /* A ring that stopped for want of a slot, a buffer or a drained ring
     * (a barrier) went without its final check: req_event stayed behind,
     * so no event will come.  Whoever reaped this, in whichever ring's
     * batch, the ring is served again in the loop's next round. */
    bool waiting = r->stalled || r->barrier_wait;

    if (io->gnt_err) {
        DLOG(d, "%s at sector %" PRIu64 ": a data grant could not be"
             " copied (grant status %d)", io->to_guest ? "read" : "write",
             io->sector, io->gnt_err);
        io->status = TD_RSP_ERROR;
    }
    td_reqmem_release(io);
    if (io->status == TD_RSP_OKAY && io->niov)
        d->st.v[io->to_guest ? TD_STAT_SECTORS_READ
                             : TD_STAT_SECTORS_WRITTEN] += io->nr_sectors;
    if (io->status != TD_RSP_OKAY)
        d->st.v[TD_STAT_ERRORS]++;
    /* Before the answer: a successor must know it was written. */
    td_jnl_answer(&r->jnl, io->jslot, r->rsp_prod_pvt);
    r->jpushed[r->njpushed++] = io->jslot;
    td_ring_respond(r, io->id, io->op, io->status);
    if (io->barrier)
        r->barrier_wait = false;
    io->next = r->free_ios;
    r->free_ios = io;
    r->inflight--;
    if (waiting)
        r->more = true;
}

/* Starts again what has more to do, moves the copies out, answers every
 * finished request and tells each frontend that has new answers. */
static void finish_all(void)
{
    td_io *io;
    int i;

    while ((io = ioq_pop(&again)))
        start(io);
    td_gmem_flush();
    while ((io = ioq_pop(&finished)))
        finish(io);
    for (i = 0; i < TD_MAX_DISKS; i++) {
        td_disk *d = &td_disks[i];
        if (!d->used || !d->r.connected || !d->r.notify)
            continue;
        if (td_ring_push(&d->r))
            d->st.v[TD_STAT_NOTIFY]++;
        /* The frontend sees those answers: no successor owes them. */
        while (d->r.njpushed) {
            uint32_t js = d->r.jpushed[--d->r.njpushed];
            td_jnl_free(&d->r.jnl, js);
            d->r.jfree[d->r.njfree++] = js;
        }
    }
}

/* The engine's callback: a read's data still has to reach the guest. */
static void on_done(td_io *io)
{
    if (td_disk_done(io)) {
        ioq_push(&again, io);
        return;
    }
    if (io->to_guest && io->status == TD_RSP_OKAY && io->niov && copying() &&
        !io->held)
        td_reqmem_copy(io, true);
    finish_later(io);
}

/*----- taking a request -----*/

static td_req_verdict take_direct(td_disk *d, td_io *io,
                                  const uint8_t *entry)
{
    td_req q;
    td_req_verdict v;

    td_req_decode(d->r.proto, entry, &q);
    io->id = q.id;
    io->op = q.op;
    io->sector = q.sector;
    io->nsegs = q.nr_segments;
    v = td_req_validate(&q, d->sectors, d->readonly, d->discard);
    if (v != TD_REQ_OK)
        return v;
    io->nr_sectors = q.nr_sectors;
    io->to_guest = q.op == TD_OP_READ;
    io->barrier = q.op == TD_OP_WRITE_BARRIER;
    io->flush = io->barrier || q.op == TD_OP_FLUSH;
    io->discard = q.op == TD_OP_DISCARD;
    io->nsegs = io->discard ? 0 : q.nr_segments;
    memcpy(io->seg, q.seg, io->nsegs * sizeof(io->seg[0]));
    return TD_REQ_OK;
}

/* Persistent grants: the segment pages held, copied from there (once,
 * so that the frontend cannot change them under the validation). */
static bool hold_indirect(td_ring *r, const td_ireq *q)
{
    uint8_t *pages[TD_MAX_INDIRECT_PAGES];
    unsigned int i;

    if (!td_gmem_hold(&r->pg, r->domid, q->nr_pages, q->page_gref, pages))
        return false;
    for (i = 0; i < q->nr_pages; i++)
        memcpy(r->indirect + (size_t)i * TD_PAGE_SIZE, pages[i],
               TD_PAGE_SIZE);
    return true;
}

/* An indirect request's segment pages, copied into r->indirect. */
static bool read_indirect(td_disk *d, const td_ireq *q)
{
    td_ring *r = &d->r;
    int16_t err = 0;
    unsigned int i;
    void *p;

    if (r->persistent && hold_indirect(r, q))
        return true;
    if (copying()) {
        for (i = 0; i < q->nr_pages; i++)
            td_gmem_add(r->domid, q->page_gref[i], 0, TD_PAGE_SIZE,
                        r->indirect + (size_t)i * TD_PAGE_SIZE, false, &err);
        td_gmem_flush();
        return !err;
    }
    p = td_gmem_map(r->domid, q->nr_pages, q->page_gref, false);
    if (!p)
        return false;
    memcpy(r->indirect, p, (size_t)q->nr_pages * TD_PAGE_SIZE);
    td_gmem_unmap(p, q->nr_pages);
    return true;
}

static td_req_verdict take_indirect(td_disk *d, td_io *io,
                                    const uint8_t *entry)
{
    td_ireq q;
    td_req_verdict v;

    td_ireq_decode(d->r.proto, entry, &q);
    io->id = q.id;
    /* Answered with the operation it carries: blkfront checks that. */
    io->op = q.indirect_op;
    io->sector = q.sector;
    io->nsegs = q.nr_segments;
    v = td_ireq_validate_header(&q, TD_INDIRECT_SEGS, d->readonly);
    if (v != TD_REQ_OK)
        return v;
    if (!read_indirect(d, &q))
        return TD_REQ_BAD_INDIRECT_PAGE;
    v = td_ireq_validate_segments(&q, d->r.indirect, d->sectors);
    if (v != TD_REQ_OK)
        return v;
    io->nr_sectors = q.nr_sectors;
    io->to_guest = q.indirect_op == TD_OP_READ;
    memcpy(io->seg, q.seg, io->nsegs * sizeof(io->seg[0]));
    return TD_REQ_OK;
}

static void count(td_disk *d, const td_io *io)
{
    if (io->flush) {
        d->st.v[TD_STAT_REQS_FLUSH]++;
        if (io->nsegs)
            d->st.v[TD_STAT_REQS_WRITE]++;
    } else if (io->discard) {
        d->st.v[TD_STAT_REQS_DISCARD]++;
    } else {
        d->st.v[io->to_guest ? TD_STAT_REQS_READ : TD_STAT_REQS_WRITE]++;
    }
}

/* A consumed entry, decoded and validated, on its way to the engine. */
static void accept(td_disk *d, td_io *io, const uint8_t *entry)
{
    td_req_verdict v = entry[0] == TD_OP_INDIRECT
                       ? take_indirect(d, io, entry)
                       : take_direct(d, io, entry);

    if (v != TD_REQ_OK) {
        d->st.v[TD_STAT_BAD_REQUESTS]++;
        DLOG(d, "refusing request op %u sector %" PRIu64 " segs %u: %s",
             entry[0], io->sector, io->nsegs, td_req_verdict_name(v));
        io->status = (int16_t)td_req_verdict_status(v);
        finish_later(io);
        return;
    }
    count(d, io);
    if (io->barrier)
        d->r.barrier_wait = true;   /* nothing after it starts before it */
    if (io->nsegs && !copying() && !td_reqmem_mapped(io)) {
        io->status = TD_RSP_ERROR;
        finish_later(io);
        return;
    }
    if (io->nsegs && d->r.persistent && td_reqmem_held(io)) {
        start(io);
        return;
    }
    if (io->nsegs && copying()) {
        td_reqmem_copied(io);
        if (!io->to_guest) {
            td_reqmem_copy(io, false);
            ioq_push(&d->r.staged, io);
            return;
        }
    }
    start(io);
}

/* Starts the staged writes once their copy in has moved. */
static void start_staged(td_ring *r)
{
    td_io *io;

    if (!r->staged.head)
        return;
    td_gmem_flush();
    while ((io = ioq_pop(&r->staged))) {
        if (io->gnt_err)
            finish_later(io);
        else
            start(io);
    }
}

/* The end of a batch, or a pause in one: what it took goes to the engine,
 * what is done is answered. */
static bool settle(td_disk *d)
{
    unsigned int before = d->r.inflight;

    start_staged(&d->r);
    td_engine_submit();
    finish_all();
    /* Whether some of its requests finished (and gave back their slot and
     * buffer, or let a barrier through). */
    return d->r.inflight < before;
}

/*
 * Takes the request in entry off the ring if it can be served now: a free
 * slot, and the buffer it may need; a barrier also waits until every
 * request before it has finished.  False leaves it on the ring.
 */
static bool take(td_disk *d, const uint8_t *entry)
{
    td_ring *r = &d->r;
    unsigned int bound = copying() ? td_req_max_pages(entry) : 0;
    td_io *io = r->free_ios;
    uint8_t *buf = NULL;
    bool owed = r->owed_next < r->nowed;
    uint32_t js;

    if (!io || (entry[0] == TD_OP_WRITE_BARRIER && r->inflight))
        return false;
    /* A journal slot: never short (as many as entries taken and not yet
     * answered where the frontend sees it can be: the ring's size). */
    if (!owed && !r->njfree)
        return false;
    if (bound && !(buf = td_pool_get(&r->pool, bound)))
        return false;
    /* Journaled before anything is done with it (td_journal.h). */
    if (owed) {
        io->jslot = r->owed_slot[r->owed_next];
        td_jnl_take(&r->jnl, io->jslot, r->owed_idx[r->owed_next++], entry,
                    r->geom.entry_size, r->req_cons);
    } else {
        io->jslot = r->jfree[--r->njfree];
        td_ring_consume(r);
        td_jnl_take(&r->jnl, io->jslot, r->req_cons - 1, entry,
                    r->geom.entry_size, r->req_cons);
    }
    r->free_ios = io->next;
    r->inflight++;
    taken++;
    js = io->jslot;
    memset(io, 0, offsetof(td_io, iov));
    io->jslot = js;
    io->d = d;
    io->buf = buf;
    io->npages = buf ? bound : 0;
    accept(d, io, entry);
    return true;
}

/* The next entry to take: one a dead tapdisk owed an answer, then the
 * ring's. */
static td_ring_peek_result next_entry(td_ring *r, uint8_t *entry)
{
    if (r->owed_next < r->nowed) {
        memcpy(entry, r->owed + (size_t)r->owed_next * TD_ENTRY_MAX,
               TD_ENTRY_MAX);
        return TD_RING_ENTRY;
    }
    return td_ring_peek(r, entry);
}

static void broken(td_disk *d)
{
    DLOG(d, "frontend's req_prod is impossible (responses at %u, %u"
         " entries): disconnecting its ring", d->r.rsp_prod_pvt,
         d->r.geom.nr_ents);
    td_req_detach(d);           /* it settles what was taken first */
}

/* Serves up to BATCH requests; true if more are waiting (the caller
 * serves them in its next round). */
static bool serve_batch(td_disk *d)
{
    td_ring *r = &d->r;
    uint8_t entry[TD_ENTRY_MAX];
    unsigned int handled = 0;
    bool more, progressed;

    for (;;) {
        r->stalled = false;
        while (handled < BATCH && !r->barrier_wait) {
            td_ring_peek_result p = next_entry(r, entry);

            if (p == TD_RING_BROKEN) {
                broken(d);
                return false;
            }
            if (p == TD_RING_EMPTY)
                break;
            if (take(d, entry)) {
                handled++;
                continue;
            }
            /* What this batch took may give back what it needs (always,
             * with the synchronous engine); else a completion will. */
            if (!settle(d)) {
                r->stalled = true;
                break;
            }
        }
        progressed = settle(d);
        if (r->stalled || r->barrier_wait) {
            /* Stopped with requests in the engine: their completion
             * brings it back (finish() asks for another round).  But one
             * already seen here does not: go on now, or in the next
             * round. */
            if (!progressed)
                return false;
            if (handled >= BATCH)
                return true;
            continue;
        }
        /* After every batch, whatever its size: no wakeup is lost.  A
         * ring left quiet (polling) is the loop's to look at. */
        r->quiet = td_spin_active();
        more = (r->quiet ? td_ring_unconsumed(r) : td_ring_final_check(r)) ||
               r->owed_next < r->nowed;
        if (!more || handled >= BATCH)
            return more;
    }
}

/*----- the interface -----*/

/* The key of a ring's grant table: one the guest cannot guess. */
static uint32_t table_key(void)
{
    uint32_t k;

    if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != sizeof(k))
        k = (uint32_t)(uintptr_t)&k ^ (uint32_t)time(NULL);
    return k;
}

/* The journal's slots that no owed entry holds are free. */
static void free_slots(td_ring *r)
{
    uint32_t s, k;

    r->njfree = 0;
    for (s = r->geom.nr_ents; s-- > 0;) {
        for (k = 0; k < r->nowed && r->owed_slot[k] != s; k++)
            ;
        if (k == r->nowed)
            r->jfree[r->njfree++] = s;
    }
}

/*
 * The ring's journal, and (TD_BLKIF_TAKEOVER: devd says the ring is live,
 * a tapdisk that died served it) the one that tapdisk left: what it took
 * and did not answer is taken first, again (its grants are still the
 * frontend's, as it waits for the answers), then the ring from where it
 * stopped taking.  Without a journal that fits, the entries past the
 * answers shown may be answers written over requests: such a ring is
 * refused unless there are none.
 */
static int take_over(td_disk *d, bool takeover, char *why, size_t wl)
{
    td_ring *r = &d->r;
    uint32_t n = r->geom.nr_ents, cons = 0;
    td_blkif b = { .domid = r->domid, .devid = r->devid, .order = r->order,
                   .proto = r->proto, .port = r->port };
    char jwhy[200] = "";
    bool found;
    int owed = -1;

    memcpy(b.gref, r->gref, sizeof(b.gref));
    td_jnl_open(&r->jnl, &b, n, n, r->req_cons, takeover, &found, jwhy,
                sizeof(jwhy));
    if (jwhy[0])
        DLOG(d, "%s: a tapdisk after this one could not take the ring"
             " over", jwhy);
    if (!takeover)
        return 0;
    r->owed = malloc((size_t)n * TD_ENTRY_MAX);
    r->owed_idx = malloc((size_t)n * sizeof(*r->owed_idx));
    r->owed_slot = malloc((size_t)n * sizeof(*r->owed_slot));
    if (found && r->owed && r->owed_idx && r->owed_slot)
        owed = td_jnl_owed(&r->jnl, td_ring_rsp_prod(r), r->owed,
                           r->owed_idx, r->owed_slot, &cons);
    if (owed < 0 || td_ring_req_prod(r) - cons > n) {
        td_jnl_reset(&r->jnl, r->req_cons);
        if (td_ring_req_prod(r) == r->req_cons)
            return 0;
        snprintf(why, wl, "a live ring with %u request(s) past its answers"
                 " and %s: not served", td_ring_req_prod(r) - r->req_cons,
                 found ? "a journal that does not fit them" : "no journal");
        return EPROTO;
    }
    r->req_cons = cons;
    r->nowed = (uint32_t)owed;
    free_slots(r);
    DLOG(d, "ring taken over from a tapdisk that died: %d request(s) it"
         " owed an answer taken again, the ring taken from index %u on",
         owed, cons);
    return 0;
}

void td_req_init(void)
{
    td_engine_init(on_done);
}

int td_req_attach(td_disk *d, const td_blkif *b, char *why, size_t wl)
{
    td_ring *r = &d->r;
    uint8_t *mem;
    unsigned int i;
    int err = td_ring_connect(r, b, why, wl);

    if (err)
        return err;
    r->ios = calloc(r->geom.nr_ents, sizeof(*r->ios));
    /* Untouched pages cost nothing: only what requests use is resident. */
    mem = mmap(NULL, POOL_BYTES + INDIRECT_BYTES, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!r->ios || mem == MAP_FAILED) {
        snprintf(why, wl, "out of memory");
        free(r->ios);
        if (mem != MAP_FAILED)
            munmap(mem, POOL_BYTES + INDIRECT_BYTES);
        td_ring_disconnect(r);
        return ENOMEM;
    }
    td_pool_init(&r->pool, mem, TD_RING_BUF_PAGES);
    r->indirect = mem + POOL_BYTES;
    /* Without room for it, the ring works as well, copying. */
    r->persistent = (b->flags & TD_BLKIF_PERSISTENT) && copying() &&
                    !td_pgnt_init(&r->pg, table_key(),
                                  r->geom.nr_ents * TD_PGNT_PER_ENTRY);
    for (i = 0; i < r->geom.nr_ents; i++) {
        r->ios[i].d = d;
        r->ios[i].next = i + 1 < r->geom.nr_ents ? &r->ios[i + 1] : NULL;
    }
    r->free_ios = r->ios;
    r->jfree = malloc(r->geom.nr_ents * sizeof(*r->jfree));
    r->jpushed = malloc(r->geom.nr_ents * sizeof(*r->jpushed));
    if (!r->jfree || !r->jpushed) {
        snprintf(why, wl, "out of memory");
        td_req_detach(d);
        return ENOMEM;
    }
    free_slots(r);
    err = take_over(d, b->flags & TD_BLKIF_TAKEOVER, why, wl);
    if (err) {
        td_req_detach(d);
        return err;
    }
    /* Requests the frontend queued before we came: the next round. */
    r->more = true;
    DLOG(d, "ring connected: %u page(s), %u entries, protocol %s, port %u,"
         " grant %s", 1u << r->order, r->geom.nr_ents,
         td_proto_name(r->proto), r->port,
         r->persistent ? "persistent" : td_gmem_mode_name());
    return 0;
}

void td_req_detach(td_disk *d)
{
    td_ring *r = &d->r;
    td_spin_stats spin;
    char polled[128] = "";

    if (!r->connected)
        return;
    /* Requests in flight write into guest memory and into the ring: they
     * finish before anything is unmapped. */
    settle(d);
    while (r->inflight && td_engine_wait() == 0)
        finish_all();
    /* How the data moved, for whoever measures: at once (the page cache
     * had it or took it) or through io_uring, and how often a slow write
     * sent the writes after it there; and what polling did (this
     * process's, which serves one ring but in tests). */
    td_spin_get_stats(&spin);
    if (spin.found || spin.expired)
        snprintf(polled, sizeof(polled), "; ring polling (%" PRIu64
                 " us): %" PRIu64 " look(s) found work, %" PRIu64
                 " ran out, %" PRIu64 " ms spent looking", spin.us,
                 spin.found, spin.expired, spin.ns / 1000000);
    DLOG(d, "ring disconnected: %u persistent grant(s) let go; data moved"
         " %" PRIu64 " time(s) at once, %" PRIu64 " through the engine;"
         " %" PRIu64 " slow write(s)%s", r->pg.count, r->moved_now,
         r->moved_later, r->slow_writes, polled);
    td_gmem_release(&r->pg);
    td_jnl_close(&r->jnl, true);
    free(r->owed);
    free(r->owed_idx);
    free(r->owed_slot);
    free(r->jfree);
    free(r->jpushed);
    free(r->ios);
    munmap(r->pool.base, POOL_BYTES + INDIRECT_BYTES);
    td_ring_disconnect(r);
}

void td_req_serve(td_disk *d)
{
    d->r.more = d->r.connected && serve_batch(d);
}

bool td_req_round(void)
{
    int i;

    for (i = 0; i < TD_MAX_DISKS; i++) {
        td_disk *d = &td_disks[i];
        if (d->used && d->r.connected && d->r.more)
            td_req_serve(d);
    }
    /* Looked at after every ring's batch: a later ring's batch may have
     * reaped what an earlier one was waiting for. */
    for (i = 0; i < TD_MAX_DISKS; i++)
        if (td_disks[i].used && td_disks[i].r.more)
            return true;
    return false;
}

/* For quiet rings: those with requests waiting are served in the next
 * round; whether there are any (rearm: after their final check). */
static bool look_at_quiet(bool rearm)
{
    bool any = false;
    int i;

    for (i = 0; i < TD_MAX_DISKS; i++) {
        td_ring *r = &td_disks[i].r;

        if (!td_disks[i].used || !r->connected || !r->quiet)
            continue;
        if (rearm)
            r->quiet = false;
        if (rearm ? td_ring_final_check(r) : td_ring_unconsumed(r))
            r->more = true;
        any |= r->more;
    }
    return any;
}

uint64_t td_req_taken(void)
{
    return taken;
}

bool td_req_watch(void)
{
    return look_at_quiet(false);
}

bool td_req_rearm(void)
{
    return look_at_quiet(true);
}

void td_req_on_event(int port)
{
    int i;

    for (i = 0; i < TD_MAX_DISKS; i++) {
        td_disk *d = &td_disks[i];
        if (d->used && d->r.connected && (int)d->r.lport == port &&
            !d->r.more)
            td_req_serve(d);
    }
}

void td_req_on_completions(void)
{
    /* Rings that were waiting for these are served in the next round
     * (finish() says so). */
    td_engine_reap();
    finish_all();
}
