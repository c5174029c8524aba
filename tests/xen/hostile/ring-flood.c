/*
 * ring-flood: a hostile blkif frontend for the real-Xen bed, run in a
 * guest whose vbd device was left unbound (drivers_autoprobe 0).  It
 * shares one ring page and an event channel with the backend domain,
 * prints "ring-ref event-channel" for the caller to write into the
 * frontend's XenStore directory, waits for the file given as GO to appear
 * (the backend is Connected), then for SECONDS keeps the ring full of
 * requests that must fail, taking the answers as they come.  Three kinds,
 * in turn:
 *   - a read far beyond the end of any disk (refused when decoded);
 *   - a read of sector 0 into a grant that does not exist (the data
 *     cannot reach the guest: neither mapped nor copied);
 *   - an indirect read whose segment page is such a grant (refused before
 *     any segment is read).
 * At the end it prints how many it sent, how many were answered and how
 * many of those were errors.
 *
 * With MODE "wakeups" its requests are good ones, over data pages it
 * shares too, sent the way that once hung tapdisk: a WRITE_BARRIER with
 * more requests behind it in the same push, and a notify after every push
 * whether or not the backend asked for one.  It stops at the first
 * request left unanswered for STALL seconds, and prints the same counts
 * and how many barriers it sent, the requests that stalled and the
 * longest wait for an answer.
 *
 *   ring-flood BACKEND_DOMID SECONDS GO [wakeups]
 *
 * Native (x86_64) blkif layout: a 64-byte header, then 112-byte entries.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#define ENTRY 112
#define NR_ENTS 32              /* (4096 - 64) / 112, rounded down to 2^n */

static volatile uint32_t *idx(uint8_t *ring, int off)
{
    return (volatile uint32_t *)(ring + off);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Far above any grant table's size: never a grant. */
#define NO_GRANT 0xFFFFFFF0u

static void put_request(uint8_t *e, uint64_t id, uint32_t gref)
{
    uint64_t sector = 0;
    uint32_t bad = NO_GRANT;
    uint16_t one = 1;

    memset(e, 0, ENTRY);
    memcpy(e + 8, &id, 8);
    switch (id % 3) {
    case 0:                     /* a read of one sector at 2^60 */
        sector = (uint64_t)1 << 60;
        e[1] = 1;               /* one segment: the ring page, sector 0 */
        memcpy(e + 24, &gref, 4);
        break;
    case 1:                     /* a read into no grant */
        e[1] = 1;
        memcpy(e + 24, &bad, 4);
        break;
    default:                    /* an indirect read, its page no grant */
        e[0] = 6;               /* BLKIF_OP_INDIRECT */
        e[1] = 0;               /* carrying BLKIF_OP_READ */
        memcpy(e + 2, &one, 2);
        memcpy(e + 28, &bad, 4);
        break;
    }
    memcpy(e + 16, &sector, 8);
}

typedef struct {
    uint64_t sent, answered, errors;
    uint64_t barriers, stalls;
    double longest;             /* s, the longest wait for an answer */
} counts;

/* How many more requests to put on the ring now: one of each kind alone
 * first, answered before the flood, so that each is logged before the
 * backend's log limit is reached; then as many as fit. */
static uint32_t room(uint32_t in_flight, const counts *c)
{
    if (c->answered < 3)
        return c->sent < 3 ? 3 - (uint32_t)c->sent : 0;
    return NR_ENTS - in_flight;
}

/* Keeps the ring full until `end`, taking the answers as they come. */
static void flood(uint8_t *ring, uint32_t gref, xenevtchn_handle *xce,
                  evtchn_port_t port, double end, counts *c)
{
    uint32_t req_prod = 0, rsp_cons = 0, n;

    while (now() < end) {
        struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };

        for (n = room(req_prod - rsp_cons, c); n; n--) {
            put_request(ring + 64 + (req_prod % NR_ENTS) * ENTRY, c->sent,
                        gref);
            req_prod++;
            c->sent++;
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        *idx(ring, 0) = req_prod;
        xenevtchn_notify(xce, port);
        if (poll(&p, 1, 10) > 0) {
            xenevtchn_port_or_error_t f = xenevtchn_pending(xce);
            if (f >= 0)
                xenevtchn_unmask(xce, (evtchn_port_t)f);
        }
        while (rsp_cons != *idx(ring, 8)) {
            const uint8_t *r = ring + 64 + (rsp_cons % NR_ENTS) * ENTRY;
            int16_t st;

            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            memcpy(&st, r + 10, 2);
            c->answered++;
            c->errors += st != 0;
            rsp_cons++;
        }
        *idx(ring, 12) = rsp_cons + 1;
    }
}

/*----- wakeups: good requests, sent as a frontend may -----*/

#define STALL 10.0              /* s without an answer: a hang */
#define DATA_SECTORS 32768      /* 16 MiB: what the bed's image has */

/* A request of op (read, write, barrier: one data page, slot's own) at a
 * sector that id picks. */
static void put_good(uint8_t *e, uint64_t id, uint8_t op, uint32_t gref)
{
    uint64_t sector = (id * 8) % DATA_SECTORS;

    memset(e, 0, ENTRY);
    e[0] = op;
    e[1] = 1;
    memcpy(e + 8, &id, 8);
    memcpy(e + 16, &sector, 8);
    memcpy(e + 24, &gref, 4);
    e[28] = 0;                  /* first_sect */
    e[29] = 7;                  /* last_sect */
}

typedef struct {
    uint8_t *ring;
    const uint32_t *data_gref;  /* one page a slot */
    xenevtchn_handle *xce;
    evtchn_port_t port;
    uint32_t req_prod, rsp_cons;
    double sent_at[NR_ENTS];
} front;

static void push_notify(front *f)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *idx(f->ring, 0) = f->req_prod;
    xenevtchn_notify(f->xce, f->port);
}

static void queue_good(front *f, uint8_t op, counts *c)
{
    uint32_t slot = f->req_prod % NR_ENTS;

    put_good(f->ring + 64 + slot * ENTRY, c->sent, op, f->data_gref[slot]);
    f->sent_at[slot] = now();
    f->req_prod++;
    c->sent++;
    c->barriers += op == 2;
}

/* Takes the answers; false once one has waited STALL s. */
static bool take_good(front *f, counts *c)
{
    while (f->rsp_cons != *idx(f->ring, 8)) {
        const uint8_t *r = f->ring + 64 + (f->rsp_cons % NR_ENTS) * ENTRY;
        double w = now() - f->sent_at[f->rsp_cons % NR_ENTS];
        int16_t st;

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        memcpy(&st, r + 10, 2);
        c->answered++;
        c->errors += st != 0;
        if (w > c->longest)
            c->longest = w;
        f->rsp_cons++;
    }
    *idx(f->ring, 12) = f->rsp_cons + 1;
    if (f->rsp_cons != f->req_prod &&
        now() - f->sent_at[f->rsp_cons % NR_ENTS] > STALL) {
        c->stalls = f->req_prod - f->rsp_cons;
        return false;
    }
    return true;
}

/* Until end: bursts of a barrier and what follows it, in one push, and
 * single requests, each pushed and notified on its own. */
static void wakeups(front *f, double end, counts *c)
{
    unsigned int n = 0;

    while (now() < end) {
        struct pollfd p = { .fd = xenevtchn_fd(f->xce), .events = POLLIN };
        uint32_t room = NR_ENTS - (f->req_prod - f->rsp_cons);

        if (n % 2 == 0 && room >= 4) {
            queue_good(f, 2, c);                /* WRITE_BARRIER */
            queue_good(f, 1, c);                /* a write */
            queue_good(f, 0, c);                /* a read */
            queue_good(f, 0, c);
            push_notify(f);
        } else {
            for (; room; room--) {
                queue_good(f, room % 2, c);
                push_notify(f);
            }
        }
        n++;
        if (poll(&p, 1, 10) > 0) {
            xenevtchn_port_or_error_t e = xenevtchn_pending(f->xce);
            if (e >= 0)
                xenevtchn_unmask(f->xce, (evtchn_port_t)e);
        }
        if (!take_good(f, c))
            return;
    }
    /* What is in flight is answered too. */
    while (f->rsp_cons != f->req_prod && take_good(f, c))
        usleep(1000);
}

int main(int argc, char **argv)
{
    counts c = { 0 };
    uint32_t refs[1 + NR_ENTS];
    bool good;
    xengntshr_handle *gs;
    xenevtchn_handle *xce;
    xenevtchn_port_or_error_t port;
    uint32_t gref;
    uint8_t *ring;
    int domid;

    good = argc == 5 && !strcmp(argv[4], "wakeups");
    if (argc != 4 && !good) {
        fprintf(stderr, "usage: ring-flood BACKEND_DOMID SECONDS GO"
                " [wakeups]\n");
        return 2;
    }
    domid = atoi(argv[1]);
    gs = xengntshr_open(NULL, 0);
    xce = xenevtchn_open(NULL, 0);
    /* The ring, and (wakeups) a data page for each of its slots. */
    ring = gs ? xengntshr_share_pages(gs, domid, good ? 1 + NR_ENTS : 1,
                                      refs, 1) : NULL;
    gref = refs[0];
    port = xce ? xenevtchn_bind_unbound_port(xce, domid) : -1;
    if (!ring || port < 0) {
        perror("ring-flood: share a page / bind a port");
        return 1;
    }
    memset(ring, 0, 4096);
    *idx(ring, 4) = 1;          /* req_event */
    *idx(ring, 12) = 1;         /* rsp_event */
    printf("%u %d\n", gref, port);
    fflush(stdout);
    while (access(argv[3], F_OK))
        usleep(100000);
    if (good) {
        front f = { .ring = ring, .data_gref = refs + 1, .xce = xce,
                    .port = (evtchn_port_t)port };

        wakeups(&f, now() + atoi(argv[2]), &c);
        printf("sent %llu answered %llu errors %llu barriers %llu"
               " stalled %llu longest %.0f ms\n",
               (unsigned long long)c.sent, (unsigned long long)c.answered,
               (unsigned long long)c.errors,
               (unsigned long long)c.barriers,
               (unsigned long long)c.stalls, c.longest * 1000);
        return 0;
    }
    flood(ring, gref, xce, (evtchn_port_t)port, now() + atoi(argv[2]), &c);
    printf("sent %llu answered %llu errors %llu\n",
           (unsigned long long)c.sent, (unsigned long long)c.answered,
           (unsigned long long)c.errors);
    return 0;
}
