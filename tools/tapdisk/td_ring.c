/*
 * The shared ring (see td_ring.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "td_gmem.h"
#include "td_ring.h"

static xenevtchn_handle *xce;

static volatile uint32_t *sr_req_prod(td_ring *r)
{
    return (volatile uint32_t *)(r->sring + 0);
}
static volatile uint32_t *sr_req_event(td_ring *r)
{
    return (volatile uint32_t *)(r->sring + 4);
}
static volatile uint32_t *sr_rsp_prod(td_ring *r)
{
    return (volatile uint32_t *)(r->sring + 8);
}
static volatile uint32_t *sr_rsp_event(td_ring *r)
{
    return (volatile uint32_t *)(r->sring + 12);
}
static uint8_t *sr_entry(td_ring *r, uint32_t idx)
{
    return r->sring + TD_RING_HDR +
           (size_t)(idx & (r->geom.nr_ents - 1)) * r->geom.entry_size;
}

static int evtchn_open(char *why, size_t wl)
{
    int fd;

    if (xce)
        return 0;
    if (!(xce = xenevtchn_open(td_xen_logger(), 0))) {
        snprintf(why, wl, "cannot open the event channel device: %s",
                 strerror(errno));
        return -1;
    }
    /* Non-blocking: io_uring then reads it when poll says so, rather than
     * in a worker thread that blocks (see tapdisk.c). */
    fd = xenevtchn_fd(xce);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

int td_ring_connect(td_ring *r, const td_blkif *b, char *why, size_t wl)
{
    xenevtchn_port_or_error_t lp;
    unsigned int i, n = 1u << b->order;

    if (b->order > TD_MAX_RING_ORDER || b->proto > TD_PROTO_MAX) {
        snprintf(why, wl, "ring order %u or protocol %u out of range",
                 b->order, b->proto);
        return EINVAL;
    }
    if (td_gmem_open(why, wl) || evtchn_open(why, wl))
        return ENODEV;
    memset(r, 0, sizeof(*r));
    r->domid = b->domid;
    r->devid = b->devid;
    r->order = b->order;
    r->proto = b->proto;
    r->port = b->port;
    for (i = 0; i < n; i++)
        r->gref[i] = b->gref[i];
    td_ring_geometry(b->proto, b->order, &r->geom);

    r->sring = td_gmem_map(b->domid, n, r->gref, true);
    if (!r->sring) {
        snprintf(why, wl, "cannot map the %u ring page(s) of domain %u: %s",
                 n, b->domid, strerror(errno));
        memset(r, 0, sizeof(*r));
        return EFAULT;
    }
    lp = xenevtchn_bind_interdomain(xce, b->domid, b->port);
    if (lp < 0) {
        snprintf(why, wl, "cannot bind event channel %u of domain %u: %s",
                 b->port, b->domid, strerror(errno));
        td_gmem_unmap(r->sring, n);
        memset(r, 0, sizeof(*r));
        return EINVAL;
    }
    r->lport = (evtchn_port_t)lp;
    /* Attach, rather than init: a ring the frontend already used (a
     * reconnect) resumes where its responses stopped. */
    r->rsp_prod_pvt = r->req_cons = *sr_rsp_prod(r);
    r->connected = true;
    return 0;
}

void td_ring_disconnect(td_ring *r)
{
    if (xce && r->lport)
        xenevtchn_unbind(xce, r->lport);
    if (r->sring)
        td_gmem_unmap(r->sring, 1u << r->order);
    memset(r, 0, sizeof(*r));
}

bool td_ring_same(const td_ring *r, const td_blkif *b)
{
    unsigned int i;

    if (r->domid != b->domid || r->devid != b->devid ||
        r->order != b->order || r->proto != b->proto || r->port != b->port)
        return false;
    for (i = 0; i < (1u << b->order); i++)
        if (r->gref[i] != b->gref[i])
            return false;
    return true;
}

td_ring_peek_result td_ring_peek(td_ring *r, uint8_t *entry)
{
    uint32_t rp = *sr_req_prod(r);

    __atomic_thread_fence(__ATOMIC_ACQUIRE);    /* index before entries */
    if (!td_ring_prod_ok(rp, r->rsp_prod_pvt, r->geom.nr_ents))
        return TD_RING_BROKEN;
    if (r->req_cons == rp)
        return TD_RING_EMPTY;
    /* Copied once: the frontend may rewrite the slot meanwhile. */
    memcpy(entry, sr_entry(r, r->req_cons), r->geom.entry_size);
    return TD_RING_ENTRY;
}

uint32_t td_ring_req_prod(td_ring *r)
{
    return *sr_req_prod(r);
}

uint32_t td_ring_rsp_prod(td_ring *r)
{
    return *sr_rsp_prod(r);
}

void td_ring_consume(td_ring *r)
{
    r->req_cons++;
}

bool td_ring_final_check(td_ring *r)
{
    *sr_req_event(r) = r->req_cons + 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return r->req_cons != *sr_req_prod(r);
}

bool td_ring_unconsumed(td_ring *r)
{
    return r->req_cons != *sr_req_prod(r);
}

void td_ring_respond(td_ring *r, uint64_t id, uint8_t op, int16_t st)
{
    td_rsp_encode(sr_entry(r, r->rsp_prod_pvt), id, op, st);
    r->rsp_prod_pvt++;
    r->notify = true;
}

bool td_ring_push(td_ring *r)
{
    uint32_t old = *sr_rsp_prod(r), new = r->rsp_prod_pvt;

    r->notify = false;
    __atomic_thread_fence(__ATOMIC_RELEASE);    /* responses before index */
    *sr_rsp_prod(r) = new;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);    /* index before rsp_event */
    if ((uint32_t)(new - *sr_rsp_event(r)) < (uint32_t)(new - old)) {
        xenevtchn_notify(xce, r->lport);
        return true;
    }
    return false;
}

int td_ring_evtchn_fd(void)
{
    return xce ? xenevtchn_fd(xce) : -1;
}

int td_ring_evtchn_pending(void)
{
    xenevtchn_port_or_error_t port;

    if (!xce)
        return -1;
    port = xenevtchn_pending(xce);
    if (port < 0)
        return -1;
    xenevtchn_unmask(xce, (evtchn_port_t)port);
    return (int)port;
}

void td_ring_evtchn_unmask(evtchn_port_t port)
{
    if (xce)
        xenevtchn_unmask(xce, port);
}
