/*
 * An in-process stand-in for the grant and event-channel devices, for
 * test_td_frontend: preloaded (LD_PRELOAD) into a real tapdisk, so that a
 * model frontend in the test drives tapdisk's real loop and request path
 * without a hypervisor.
 *
 *   - Guest memory is a memfd the test shares with tapdisk: grant N is its
 *     page N.  Mapping a grant maps that page (MAP_SHARED, so frontend and
 *     backend see the same bytes); a grant copy copies to or from it.
 *   - The event channel device is one end of a socket pair: the test's
 *     "kernel" writes a port to it when an event fires, and a port that
 *     tapdisk writes back (by write(2), io_uring, or xenevtchn_unmask)
 *     unmasks it, as Linux's evtchn device does.  A notification from
 *     tapdisk goes to a second socket.
 *   - FAKEXEN_NO_URING=1 makes io_uring_queue_init fail, so that tapdisk
 *     serves requests with its synchronous engine.
 *
 * Only what tapdisk calls is here.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#define PAGE 4096u
/* Local ports are the frontend's plus this: so each side has its own. */
#define LPORT_BASE 1000u

static int env_fd(const char *name)
{
    const char *v = getenv(name);

    return v ? atoi(v) : -1;
}

static uint8_t *guest_mem(unsigned int *pages)
{
    static uint8_t *mem;
    static unsigned int n;

    if (!mem) {
        const char *p = getenv("FAKEXEN_MEM_PAGES");
        n = p ? (unsigned int)atoi(p) : 0;
        mem = mmap(NULL, (size_t)n * PAGE, PROT_READ | PROT_WRITE,
                   MAP_SHARED, env_fd("FAKEXEN_MEM_FD"), 0);
        if (mem == MAP_FAILED)
            abort();
    }
    *pages = n;
    return mem;
}

/*----- the event channel device -----*/

struct xenevtchn_handle {
    int fd;
};
static struct xenevtchn_handle the_evtchn;

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *l, unsigned f)
{
    the_evtchn.fd = env_fd("FAKEXEN_EVT_FD");
    return the_evtchn.fd < 0 ? NULL : &the_evtchn;
}

int xenevtchn_close(xenevtchn_handle *xce)
{
    return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
    return xce->fd;
}

xenevtchn_port_or_error_t
xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
                           evtchn_port_t remote_port)
{
    return (xenevtchn_port_or_error_t)(remote_port + LPORT_BASE);
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
    return 0;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
    return write(env_fd("FAKEXEN_NTF_FD"), &port, sizeof(port)) ==
           sizeof(port) ? 0 : -1;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
    evtchn_port_t p;

    if (read(xce->fd, &p, sizeof(p)) != sizeof(p))
        return -1;
    return (xenevtchn_port_or_error_t)p;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
    return write(xce->fd, &port, sizeof(port)) == sizeof(port) ? 0 : -1;
}

/*----- the grant device -----*/

struct xengntdev_handle {
    int unused;
};
static struct xengntdev_handle the_gnttab;

xengnttab_handle *xengnttab_open(struct xentoollog_logger *l, unsigned f)
{
    unsigned int n;

    guest_mem(&n);
    return &the_gnttab;
}

int xengnttab_close(xengnttab_handle *xgt)
{
    return 0;
}

/* The guest's bytes at (ref, offset, len), or NULL. */
static uint8_t *granted(uint32_t ref, unsigned int offset, unsigned int len)
{
    unsigned int n;
    uint8_t *mem = guest_mem(&n);

    if (ref == 0 || ref >= n || offset + len > PAGE)
        return NULL;
    return mem + (size_t)ref * PAGE + offset;
}

int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
                         xengnttab_grant_copy_segment_t *segs)
{
    uint32_t i;

    for (i = 0; i < count; i++) {
        xengnttab_grant_copy_segment_t *s = &segs[i];
        bool from = s->flags & GNTCOPY_source_gref;
        uint8_t *g = from
            ? granted(s->source.foreign.ref, s->source.foreign.offset, s->len)
            : granted(s->dest.foreign.ref, s->dest.foreign.offset, s->len);

        s->status = g ? GNTST_okay : GNTST_bad_gntref;
        if (g && from)
            memcpy(s->dest.virt, g, s->len);
        else if (g)
            memcpy(g, s->source.virt, s->len);
    }
    return 0;
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
                                      uint32_t domid, uint32_t *refs,
                                      int prot)
{
    uint8_t *base = mmap(NULL, (size_t)count * PAGE, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t i;

    if (base == MAP_FAILED)
        return NULL;
    for (i = 0; i < count; i++) {
        if (!granted(refs[i], 0, PAGE) ||
            mmap(base + (size_t)i * PAGE, PAGE, prot, MAP_SHARED | MAP_FIXED,
                 env_fd("FAKEXEN_MEM_FD"), (off_t)refs[i] * PAGE) ==
            MAP_FAILED) {
            munmap(base, (size_t)count * PAGE);
            errno = EINVAL;
            return NULL;
        }
    }
    return base;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
                    uint32_t count)
{
    return munmap(start_address, (size_t)count * PAGE);
}

/*----- io_uring, refused on request -----*/

int io_uring_queue_init(unsigned entries, struct io_uring *ring,
                        unsigned flags)
{
    struct io_uring_params p;

    if (getenv("FAKEXEN_NO_URING"))
        return -ENOSYS;
    memset(&p, 0, sizeof(p));
    p.flags = flags;
    return io_uring_queue_init_params(entries, ring, &p);
}
