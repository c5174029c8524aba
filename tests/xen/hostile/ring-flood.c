/*
 * ring-flood: a hostile blkif frontend for the real-Xen bed, run in a
 * guest whose vbd device was left unbound (drivers_autoprobe 0).  It
 * shares one ring page and an event channel with the backend domain,
 * prints "ring-ref event-channel" for the caller to write into the
 * frontend's XenStore directory, waits for the file given as GO to appear
 * (the backend is Connected), then for SECONDS keeps the ring full of
 * requests that fail at once (reads far beyond the end of any disk),
 * taking the answers as they come.  At the end it prints how many it sent,
 * how many were answered and how many of those were errors.
 *
 *   ring-flood BACKEND_DOMID SECONDS GO
 *
 * Native (x86_64) blkif layout: a 64-byte header, then 112-byte entries.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <errno.h>
#include <poll.h>
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

/* A read of one sector at 2^60: beyond the end of any disk. */
static void put_request(uint8_t *e, uint64_t id, uint32_t gref)
{
    uint64_t sector = (uint64_t)1 << 60;

    memset(e, 0, ENTRY);
    e[0] = 0;                   /* BLKIF_OP_READ */
    e[1] = 1;                   /* one segment */
    memcpy(e + 8, &id, 8);
    memcpy(e + 16, &sector, 8);
    memcpy(e + 24, &gref, 4);   /* segment 0: its grant, sectors 0..0 */
}

typedef struct {
    uint64_t sent, answered, errors;
} counts;

/* Keeps the ring full until `end`, taking the answers as they come. */
static void flood(uint8_t *ring, uint32_t gref, xenevtchn_handle *xce,
                  evtchn_port_t port, double end, counts *c)
{
    uint32_t req_prod = 0, rsp_cons = 0;

    while (now() < end) {
        struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };

        while (req_prod - rsp_cons < NR_ENTS) {
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

int main(int argc, char **argv)
{
    counts c = { 0, 0, 0 };
    xengntshr_handle *gs;
    xenevtchn_handle *xce;
    xenevtchn_port_or_error_t port;
    uint32_t gref;
    uint8_t *ring;
    int domid;

    if (argc != 4) {
        fprintf(stderr, "usage: ring-flood BACKEND_DOMID SECONDS GO\n");
        return 2;
    }
    domid = atoi(argv[1]);
    gs = xengntshr_open(NULL, 0);
    xce = xenevtchn_open(NULL, 0);
    ring = gs ? xengntshr_share_pages(gs, domid, 1, &gref, 1) : NULL;
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
    flood(ring, gref, xce, (evtchn_port_t)port, now() + atoi(argv[2]), &c);
    printf("sent %llu answered %llu errors %llu\n",
           (unsigned long long)c.sent, (unsigned long long)c.answered,
           (unsigned long long)c.errors);
    return 0;
}
