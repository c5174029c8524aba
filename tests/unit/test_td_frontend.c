/*
 * A model blkif frontend driving a real tapdisk: the binary built here,
 * its real loop and request path, over an in-process stand-in for the
 * grant and event-channel devices (fake_xen.c, preloaded).  The frontend
 * is this file's own code, on Xen's public ring macros; the stand-in's
 * event channel masks a port when it fires until tapdisk writes it back,
 * as Linux's evtchn device does, so a lost event leaves a ring deaf here
 * as it would in a driver domain.
 *
 * Each test keeps requests in flight on one or more rings and checks
 * that every one is answered, with the right data; a ring that neither
 * answers nor unmasks for STALL_MS is a hang, reported with the ring's
 * indexes and tapdisk's log.  What they drive:
 *   - a WRITE_BARRIER followed by more requests in the same push, with
 *     each engine (io_uring, synchronous) and each loop;
 *   - a frontend that notifies after every push (not only when asked),
 *     with one ring and with several rings in one tapdisk, writes through
 *     io_uring so that completions are reaped during rounds, and control
 *     requests (stats, a ring connected and disconnected) arriving
 *     meanwhile;
 *   - tapdisk killed (SIGKILL) with requests in flight, and another one
 *     taking the live rings over, again and again;
 *   - ring polling (rings that ask for no event while tapdisk watches
 *     them), with deep rings, one request at a time around the window's
 *     end, and kills.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include "test_helpers.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define __XEN_INTERFACE_VERSION__ 0x00040e00
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#include <xen/xen.h>
#include <xen/io/blkif.h>

#include "td_proto.h"

#define PAGE 4096u
#define LPORT_BASE 1000u        /* as fake_xen.c */
#define MAX_FRONTS 4
#define ORDER_MAX 2             /* ring pages: up to 4 */
#define SLOTS 128               /* a four-page ring's entries */
#define SEGS 4                  /* data pages a request uses at most */
#define DISK_BLOCKS 512         /* 2 MiB images, in 4 KiB blocks */
#define STALL_MS 15000
#define SPARE_PORT 9            /* the ring that control connects, idle */
#define FRONT_PAGES ((1u << ORDER_MAX) + SLOTS * SEGS)
#define MEM_PAGES (1 + MAX_FRONTS * FRONT_PAGES)

typedef enum { NOTIFY_ASKED, NOTIFY_ALWAYS } notify_mode;

typedef struct {
    bool busy;
    uint8_t op;
    unsigned int nseg, block;   /* data: nseg blocks from block */
} slot;

typedef struct {
    uint32_t minor, rport, ring_gref, data_gref, order;
    blkif_front_ring_t fr;
    bool masked, pending;       /* the stand-in kernel's port state */
    bool connected;
    unsigned int inflight;
    unsigned long issued, answered, notified;
    unsigned long long progress;        /* when it last had an answer */
    slot s[SLOTS];
    bool block_busy[DISK_BLOCKS];
    uint8_t model[DISK_BLOCKS];  /* each block is filled with one byte */
} front;

static struct {
    char dir[64];
    int evt, ntf, mem_fd, ctl;  /* our ends */
    pid_t pid;
    uint8_t *mem;
    front f[MAX_FRONTS];
    unsigned int nf;
    uint16_t cookie;
    unsigned int kills;         /* tapdisks killed, each taken over */
    unsigned long owed;         /* requests in flight at the kills */
    unsigned long long progress;        /* the least of the rings' */
    char why[512];
} t;

static unsigned long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint8_t *page(uint32_t gref)
{
    return t.mem + (size_t)gref * PAGE;
}

/*----- the stand-in kernel's event channel -----*/

static void deliver(front *f)
{
    uint32_t lport = f->rport + LPORT_BASE;
    ssize_t n = write(t.evt, &lport, sizeof(lport));

    /* A backend killed has no binding: the event is lost, and the next
     * one looks at the ring when it binds. */
    if (n < 0 && errno == EPIPE)
        return;
    assert_int_equal(n, sizeof(lport));
    f->masked = true;
}

static void notify(front *f)
{
    if (f->masked)
        f->pending = true;      /* Xen keeps it pending */
    else
        deliver(f);
}

static front *by_lport(uint32_t lport)
{
    unsigned int i;

    for (i = 0; i < t.nf; i++)
        if (t.f[i].rport + LPORT_BASE == lport)
            return &t.f[i];
    return NULL;
}

/* Ports tapdisk wrote back: unmasked, and fired again if pending. */
static bool take_unmasks(void)
{
    uint32_t ports[64];
    ssize_t n = read(t.evt, ports, sizeof(ports));
    unsigned int i;

    for (i = 0; n > 0 && i < (size_t)n / sizeof(ports[0]); i++) {
        front *f = by_lport(ports[i]);
        if (!f)
            continue;
        f->masked = false;
        if (f->pending) {
            f->pending = false;
            deliver(f);
        }
    }
    return n > 0;
}

/* Notifications from tapdisk: which rings have answers to look at. */
static bool take_notifies(bool *which)
{
    uint32_t ports[64];
    ssize_t n = read(t.ntf, ports, sizeof(ports));
    unsigned int i;

    for (i = 0; n > 0 && i < (size_t)n / sizeof(ports[0]); i++) {
        front *f = by_lport(ports[i]);
        if (f) {
            f->notified++;
            which[f - t.f] = true;
        }
    }
    return n > 0;
}

/*----- tapdisk and its control socket -----*/

static void show_log(void);

static int ctl_request(td_msg *req, td_msg *rsp)
{
    uint8_t buf[TD_MSG_MAX];
    size_t len = 0;
    int n;

    req->cookie = ++t.cookie;
    n = td_encode(req, buf, sizeof(buf));
    if (n < 0 || send(t.ctl, buf, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    for (;;) {
        struct pollfd p = { .fd = t.ctl, .events = POLLIN };
        ssize_t r;

        n = td_decode(buf, len, rsp);
        if (n > 0)
            return rsp->type == TD_MSG_ERROR ? -1 : 0;
        if (n != TD_ERR_SHORT || poll(&p, 1, STALL_MS) != 1)
            return -1;
        r = recv(t.ctl, buf + len, sizeof(buf) - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
}

/* Starts a tapdisk on the guest's memory (a first one, or one that takes
 * over from one killed). */
static void start_tapdisk(const char *env)
{
    int evt[2], ntf[2];
    char path[128], log[128];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    const char *top = getenv("top_builddir");
    int i;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, evt), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, ntf), 0);
    snprintf(path, sizeof(path), "%s/td.sock", t.dir);
    snprintf(log, sizeof(log), "%s/td.log", t.dir);
    t.pid = fork();
    assert_true(t.pid >= 0);
    if (t.pid == 0) {
        char bin[512], pre[512], v[64];

        snprintf(bin, sizeof(bin), "%s/tools/tapdisk/tapdisk",
                 top ? top : ".");
        snprintf(pre, 256, "%s/tests/unit/fake_xen.so", top ? top : ".");
        setenv("LD_PRELOAD", pre, 1);
        /* ASan wants to come first; the stand-in is not instrumented. */
        snprintf(pre + 256, 256, "%s%sverify_asan_link_order=0",
                 getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
                 getenv("ASAN_OPTIONS") ? ":" : "");
        setenv("ASAN_OPTIONS", pre + 256, 1);
        snprintf(v, sizeof(v), "%d", evt[1]);
        setenv("FAKEXEN_EVT_FD", v, 1);
        snprintf(v, sizeof(v), "%d", ntf[1]);
        setenv("FAKEXEN_NTF_FD", v, 1);
        snprintf(v, sizeof(v), "%d", t.mem_fd);
        setenv("FAKEXEN_MEM_FD", v, 1);
        snprintf(v, sizeof(v), "%u", MEM_PAGES);
        setenv("FAKEXEN_MEM_PAGES", v, 1);
        if (env && *env) {
            char *e = strdup(env), *v1, *save = NULL;

            for (v1 = strtok_r(e, " ", &save); v1;
                 v1 = strtok_r(NULL, " ", &save))
                putenv(v1);
        }
        execl(bin, "tapdisk", "-s", path, "-l", log, (char *)NULL);
        _exit(127);
    }
    close(evt[1]);
    close(ntf[1]);
    t.evt = evt[0];
    t.ntf = ntf[0];
    fcntl(t.evt, F_SETFL, O_NONBLOCK);
    fcntl(t.ntf, F_SETFL, O_NONBLOCK);
    strcpy(sa.sun_path, path);
    t.ctl = socket(AF_UNIX, SOCK_STREAM, 0);
    for (i = 0; i < 1000; i++) {
        if (!connect(t.ctl, (struct sockaddr *)&sa, sizeof(sa)))
            return;
        usleep(10000);
    }
    fail_msg("tapdisk did not listen on %s", path);
}

static void spawn(const char *env)
{
    snprintf(t.dir, sizeof(t.dir), "/tmp/test_td_frontend.XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    t.mem_fd = memfd_create("guest", 0);
    assert_true(t.mem_fd >= 0);
    assert_int_equal(ftruncate(t.mem_fd, (off_t)MEM_PAGES * PAGE), 0);
    t.mem = mmap(NULL, (size_t)MEM_PAGES * PAGE, PROT_READ | PROT_WRITE,
                 MAP_SHARED, t.mem_fd, 0);
    assert_true(t.mem != MAP_FAILED);
    start_tapdisk(env);
}

static void show_log(void)
{
    char cmd[160];

    snprintf(cmd, sizeof(cmd), "tail -n 20 %s/td.log | sed 's/^/# /' >&2",
             t.dir);
    if (system(cmd) < 0)
        print_error("cannot show the log\n");
}

/* What the last tapdisk said of ring polling as its last ring went. */
static unsigned long spin_found, spin_expired;

static void read_spin_line(void)
{
    char path[128], line[512];
    FILE *f;

    spin_found = spin_expired = 0;
    snprintf(path, sizeof(path), "%s/td.log", t.dir);
    if (!(f = fopen(path, "r")))
        return;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "ring polling (");
        if (p)
            sscanf(p, "ring polling (%*u us): %lu look(s) found work, %lu"
                   " ran out", &spin_found, &spin_expired);
    }
    fclose(f);
}

/* Ends tapdisk; its exit status (0: it left cleanly, leaks included
 * under ASan). */
static int stop(void)
{
    int st = 0;
    char cmd[96];

    kill(t.pid, SIGTERM);
    waitpid(t.pid, &st, 0);
    read_spin_line();
    close(t.ctl);
    close(t.evt);
    close(t.ntf);
    munmap(t.mem, (size_t)MEM_PAGES * PAGE);
    close(t.mem_fd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t.dir);
    if (system(cmd) < 0)
        print_error("cannot remove %s\n", t.dir);
    return st;
}

/*----- rings -----*/

/* Hands f's ring to tapdisk: a new one, or (takeover) the live one a
 * killed tapdisk served. */
static void ring_hand(front *f, bool takeover)
{
    td_msg req = { .type = TD_MSG_XENBLKIF_CONNECT, .minor = f->minor };
    td_msg rsp;

    unsigned int i;

    if (!takeover) {
        memset(page(f->ring_gref), 0, PAGE << f->order);
        SHARED_RING_INIT((blkif_sring_t *)page(f->ring_gref));
        FRONT_RING_INIT(&f->fr, (blkif_sring_t *)page(f->ring_gref),
                        PAGE << f->order);
    }
    req.u.blkif.flags = takeover ? TD_BLKIF_TAKEOVER : 0;
    req.u.blkif.domid = 7;
    req.u.blkif.devid = 51712 + f->minor;
    for (i = 0; i < 1u << f->order; i++)
        req.u.blkif.gref[i] = f->ring_gref + i;
    req.u.blkif.order = f->order;
    req.u.blkif.proto = TD_PROTO_NATIVE;
    req.u.blkif.port = f->rport;
    if (ctl_request(&req, &rsp)) {
        if (takeover)
            show_log();
        fail_msg("ring %u: %s", f->minor, rsp.type == TD_MSG_ERROR
                 ? rsp.u.response.message : "no answer from tapdisk");
    }
    f->connected = true;
    f->masked = f->pending = false;
}

static void ring_connect(front *f)
{
    ring_hand(f, false);
}

static void ring_disconnect(front *f)
{
    td_msg req = { .type = TD_MSG_XENBLKIF_DISCONNECT, .minor = f->minor };
    td_msg rsp;

    assert_int_equal(ctl_request(&req, &rsp), 0);
    f->connected = false;
}

/* Opens a zeroed image for the next front and connects its ring, of
 * 2^order pages. */
static front *add_front(unsigned int order, bool spare)
{
    front *f = &t.f[t.nf];
    td_msg req = { .type = TD_MSG_OPEN, .minor = TD_NO_MINOR };
    td_msg rsp;
    char img[128];
    int fd;

    memset(f, 0, sizeof(*f));
    snprintf(img, sizeof(img), "%s/img%u", t.dir, t.nf);
    fd = open(img, O_CREAT | O_RDWR, 0600);
    assert_true(fd >= 0 && !ftruncate(fd, (off_t)DISK_BLOCKS * PAGE));
    close(fd);
    snprintf(req.u.params.path, TD_PATH_LEN, "aio:%s", img);
    assert_int_equal(ctl_request(&req, &rsp), 0);
    assert_int_equal(rsp.type, TD_MSG_OPEN_RSP);
    f->minor = rsp.minor;
    f->rport = spare ? SPARE_PORT : 10 + t.nf;
    f->order = order;
    f->ring_gref = 1 + t.nf * FRONT_PAGES;
    f->data_gref = f->ring_gref + (1u << ORDER_MAX);
    t.nf++;
    ring_connect(f);
    return f;
}

/*----- requests -----*/

static uint8_t fill_of(const front *f, unsigned int id, unsigned int k)
{
    return (uint8_t)(1 + ((f->issued * 7 + id * 3 + k) % 250));
}

/* Queues one request (not pushed); false if the slot or its blocks are
 * not free. */
static bool queue(front *f, uint8_t op, unsigned int nseg)
{
    unsigned int id, k, block = (unsigned int)rand() % (DISK_BLOCKS - SEGS);
    blkif_request_t *rq;

    for (id = 0; id < SLOTS && f->s[id].busy; id++)
        ;
    if (id == SLOTS || RING_FULL(&f->fr))
        return false;
    for (k = 0; k < nseg; k++)
        if (f->block_busy[block + k])
            return false;
    rq = RING_GET_REQUEST(&f->fr, f->fr.req_prod_pvt);
    memset(rq, 0, sizeof(*rq));
    rq->operation = op;
    rq->nr_segments = (uint8_t)nseg;
    rq->handle = 0;
    rq->id = id;
    rq->sector_number = (blkif_sector_t)block * (PAGE / 512);
    for (k = 0; k < nseg; k++) {
        uint32_t g = f->data_gref + id * SEGS + k;

        rq->seg[k].gref = g;
        rq->seg[k].first_sect = 0;
        rq->seg[k].last_sect = 7;
        f->block_busy[block + k] = true;
        if (op == BLKIF_OP_READ) {
            memset(page(g), 0xEE, PAGE);
        } else {
            f->model[block + k] = fill_of(f, id, k);
            memset(page(g), f->model[block + k], PAGE);
        }
    }
    if (!f->inflight)
        f->progress = now_ms();
    f->s[id] = (slot){ .busy = true, .op = op, .nseg = nseg, .block = block };
    f->fr.req_prod_pvt++;
    f->inflight++;
    f->issued++;
    return true;
}

static void push(front *f, notify_mode m)
{
    int do_notify = 1;

    if (m == NOTIFY_ALWAYS)
        RING_PUSH_REQUESTS(&f->fr);
    else
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f->fr, do_notify);
    if (do_notify)
        notify(f);
}

static bool data_ok(const front *f, const slot *s, unsigned int id)
{
    unsigned int k, i;

    for (k = 0; k < s->nseg; k++) {
        const uint8_t *p = page(f->data_gref + id * SEGS + k);
        for (i = 0; i < PAGE; i++)
            if (p[i] != f->model[s->block + k])
                return false;
    }
    return true;
}

/* Takes every answer on f's ring; false on a wrong one (t.why says). */
static bool answers(front *f)
{
    int more;

    do {
        while (f->fr.rsp_cons != f->fr.sring->rsp_prod) {
            blkif_response_t *r;
            slot *s;
            unsigned int k;

            xen_rmb();
            r = RING_GET_RESPONSE(&f->fr, f->fr.rsp_cons);
            f->fr.rsp_cons++;
            if (r->id >= SLOTS || !f->s[r->id].busy) {
                snprintf(t.why, sizeof(t.why), "ring %u: answer for id %llu"
                         " not in flight", f->minor,
                         (unsigned long long)r->id);
                return false;
            }
            s = &f->s[r->id];
            if (r->status != BLKIF_RSP_OKAY || r->operation != s->op ||
                (s->op == BLKIF_OP_READ && !data_ok(f, s, (unsigned)r->id))) {
                snprintf(t.why, sizeof(t.why), "ring %u: op %u id %llu block"
                         " %u answered status %d op %u%s", f->minor, s->op,
                         (unsigned long long)r->id, s->block, r->status,
                         r->operation, r->status ? "" : ", wrong data");
                return false;
            }
            for (k = 0; k < s->nseg; k++)
                f->block_busy[s->block + k] = false;
            s->busy = false;
            f->inflight--;
            f->answered++;
            f->progress = now_ms();
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&f->fr, more);
    } while (more);
    return true;
}

static void report_hang(void)
{
    unsigned int i;
    size_t n = 0;

    for (i = 0; i < t.nf; i++) {
        front *f = &t.f[i];
        if (!f->connected)
            continue;
        n += (size_t)snprintf(t.why + n, sizeof(t.why) - n,
                "ring %u: %u in flight, issued %lu answered %lu;"
                " req_prod %u req_event %u rsp_prod %u rsp_event %u;"
                " port %s%s; notified %lu time(s)\n", f->minor, f->inflight,
                f->issued, f->answered, f->fr.sring->req_prod,
                f->fr.sring->req_event, f->fr.sring->rsp_prod,
                f->fr.sring->rsp_event, f->masked ? "masked" : "unmasked",
                f->pending ? " with an event pending" : "", f->notified);
        if (n >= sizeof(t.why))
            break;
    }
}

/*
 * Takes what tapdisk sent: unmasks and notifications, waiting for one if
 * block.  Looks at a ring's answers only when tapdisk notified it, as a
 * frontend does.  False on a hang or a wrong answer (t.why says).
 */
static bool wait_and_take(bool block)
{
    struct pollfd p[2] = { { .fd = t.evt, .events = POLLIN },
                           { .fd = t.ntf, .events = POLLIN } };
    bool which[MAX_FRONTS] = { false };
    unsigned int i;
    int n = poll(p, 2, block ? STALL_MS : 0);

    if (n <= 0) {
        if (block)
            report_hang();
        return !block;
    }
    take_unmasks();
    take_notifies(which);
    for (i = 0; i < t.nf; i++)
        if (which[i] && !answers(&t.f[i]))
            return false;
    return true;
}

/* Whether every ring has at least n requests in flight. */
static bool all_busy(unsigned int n)
{
    unsigned int i;

    for (i = 0; i < t.nf; i++)
        if (t.f[i].connected && t.f[i].inflight < n)
            return false;
    return true;
}

/* Whether every ring (the spare aside) has issued n requests. */
static bool enough(unsigned long n)
{
    unsigned int i;

    for (i = 0; i < t.nf; i++)
        if (t.f[i].connected && t.f[i].rport != SPARE_PORT &&
            t.f[i].issued < n)
            return false;
    return true;
}

/* When the ring that waits longest for an answer last had one (now if
 * none waits). */
static unsigned long long least_progress(void)
{
    unsigned long long p = now_ms();
    unsigned int i;

    for (i = 0; i < t.nf; i++)
        if (t.f[i].inflight && t.f[i].progress < p)
            p = t.f[i].progress;
    return p;
}

static bool busy(void)
{
    unsigned int i;

    for (i = 0; i < t.nf; i++)
        if (t.f[i].inflight)
            return true;
    return false;
}

/*----- what the tests run -----*/

typedef struct {
    const char *env;            /* tapdisk's environment: VAR=value ... */
    unsigned int rings;
    unsigned long requests;     /* on each ring */
    unsigned int order;         /* each ring has 2^order pages */
    unsigned int depth;         /* requests kept in flight on each ring */
    unsigned int burst;         /* requests queued at once, at most */
    notify_mode mode;
    bool barriers;              /* each burst: a barrier, then more */
    bool control;               /* control requests meanwhile */
    unsigned int kills;         /* tapdisk killed and taken over */
    unsigned int pause_us;      /* before each burst, up to this long */
    bool polling;               /* the last tapdisk must have found work
                                   by polling (and, with pauses, had
                                   windows that ran out) */
} run_cfg;

/* Reads and writes, and now and then a write that is flushed (an
 * fdatasync: it takes io_uring's worker a while). */
static uint8_t random_op(void)
{
    int r = rand() % 8;

    return r == 0 ? BLKIF_OP_FLUSH_DISKCACHE
           : r < 4 ? BLKIF_OP_WRITE : BLKIF_OP_READ;
}

/* One burst on f: a barrier and what follows it in the same push, or
 * requests pushed one by one. */
static void burst(front *f, const run_cfg *c)
{
    unsigned int k, n = 1 + (unsigned int)rand() % c->burst;

    if (c->barriers) {
        if (queue(f, BLKIF_OP_WRITE_BARRIER, 1))
            for (k = 0; k < n; k++)
                queue(f, random_op(), 1 + (unsigned int)rand() % SEGS);
        push(f, c->mode);
        return;
    }
    for (k = 0; k < n; k++) {
        if (queue(f, random_op(), 1 + (unsigned int)rand() % SEGS))
            push(f, c->mode);
    }
}

static void stats(void)
{
    td_msg req = { .type = TD_MSG_STATS, .minor = t.f[0].minor };
    td_msg rsp;

    assert_int_equal(ctl_request(&req, &rsp), 0);
}

/* A control request now and then: stats, and a spare ring connected and
 * disconnected (its detach reaps whatever has completed). */
static void control(front *spare, unsigned int round)
{
    stats();
    if (round % 2)
        ring_connect(spare);
    else
        ring_disconnect(spare);
}

/*
 * Kills tapdisk (SIGKILL) with requests in flight and starts another on
 * the same memory, images and live rings, as devd does: it must answer
 * exactly what the dead one owed (a request lost hangs its ring, one
 * answered twice is an answer for an id not in flight) and go on.
 */
static void kill_and_take_over(const char *env)
{
    td_msg req = { .type = TD_MSG_OPEN, .minor = TD_NO_MINOR }, rsp;
    unsigned int i;
    int st;

    for (i = 0; i < t.nf; i++)
        t.owed += t.f[i].inflight;
    kill(t.pid, SIGKILL);
    waitpid(t.pid, &st, 0);
    /* What it sent before it died reaches the guest (its events are the
     * guest's ports' pending bits, whoever sent them). */
    if (!wait_and_take(false))
        return;
    close(t.ctl);
    close(t.evt);
    close(t.ntf);
    start_tapdisk(env);
    for (i = 0; i < t.nf; i++) {
        front *f = &t.f[i];

        snprintf(req.u.params.path, TD_PATH_LEN, "aio:%s/img%u", t.dir, i);
        assert_int_equal(ctl_request(&req, &rsp), 0);
        assert_int_equal(rsp.type, TD_MSG_OPEN_RSP);
        f->minor = rsp.minor;
        if (f->connected)
            ring_hand(f, true);
    }
    t.kills++;
}

static void run(const run_cfg *c)
{
    front *spare = NULL;
    unsigned int round, i;
    unsigned long issued = 0, answered = 0;
    int st;

    srand(42);
    memset(&t, 0, sizeof(t));
    spawn(c->env);
    for (i = 0; i < c->rings; i++)
        add_front(c->order, false);
    if (c->control)
        spare = add_front(0, true);
    t.progress = now_ms();
    for (round = 0; !enough(c->requests); round++) {
        /* A ring that takes no new request (its slots all held by
         * unanswered ones) while others go on is a hang too. */
        if (now_ms() - t.progress > STALL_MS) {
            report_hang();
            break;
        }
        for (i = 0; i < c->rings; i++) {
            if (c->pause_us)
                usleep((useconds_t)rand() % c->pause_us);
            if (t.f[i].issued < c->requests)
                burst(&t.f[i], c);
        }
        if (c->control && round % 16 == 0)
            control(spare, round / 16);
        else if (round % 16 == 0)
            stats();
        if (t.kills < c->kills && round % 53 == 40 && busy())
            kill_and_take_over(c->env);
        /* Rings kept deep, pushing while tapdisk serves. */
        if (!wait_and_take(all_busy(c->depth)))
            break;
        t.progress = least_progress();
    }
    while (!t.why[0] && busy() && wait_and_take(true))
        ;
    if (t.why[0]) {
        print_error("# %s (%s)\n%s", c->barriers ? "barriers" : "requests",
                    c->env ? c->env : "defaults", t.why);
        show_log();
    }
    for (i = 0; i < c->rings; i++) {
        issued += t.f[i].issued;
        answered += t.f[i].answered;
    }
    if (c->kills)
        print_message("# %u kills with %lu requests in flight, every one"
                      " answered once by the next tapdisk\n", t.kills,
                      t.owed);
    st = stop();
    if (c->polling)
        print_message("# ring polling (the last tapdisk): %lu look(s) found"
                      " work, %lu ran out\n", spin_found, spin_expired);
    assert_string_equal(t.why, "");
    if (c->polling) {
        assert_true(spin_found > 0);
        if (c->pause_us)
            assert_true(spin_expired > 0);
    }
    assert_int_equal(t.kills, c->kills);
    assert_int_equal(answered, issued);
    assert_true(issued >= c->requests * c->rings);
    assert_int_equal(st, 0);
}

static void test_barrier_then_more_io_uring(void **s)
{
    run(&(run_cfg){ .env = NULL, .rings = 1, .requests = 1000, .depth = 8,
                    .burst = 4, .mode = NOTIFY_ASKED, .barriers = true });
}

static void test_barrier_then_more_synchronous(void **s)
{
    run(&(run_cfg){ .env = "FAKEXEN_NO_URING=1", .rings = 1,
                    .requests = 1000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ASKED, .barriers = true });
}

static void test_barrier_then_more_poll_loop(void **s)
{
    run(&(run_cfg){ .env = "TAPDISK_WAIT=poll", .rings = 2,
                    .requests = 1000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ASKED, .barriers = true });
}

/* One ring of four pages kept nearly full: batches of 64 and more, so
 * that rounds reap while its port is unmasked. */
static void test_notify_always_one_ring(void **s)
{
    run(&(run_cfg){ .env = "TAPDISK_WRITES=uring", .rings = 1,
                    .requests = 40000, .order = 2, .depth = 100,
                    .burst = 96, .mode = NOTIFY_ALWAYS });
}

static void test_notify_always_rings_and_control(void **s)
{
    run(&(run_cfg){ .env = "TAPDISK_WRITES=uring", .rings = 3,
                    .requests = 10000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ALWAYS, .control = true });
}

static void test_notify_always_poll_loop(void **s)
{
    run(&(run_cfg){ .env = "TAPDISK_WAIT=poll", .rings = 3,
                    .requests = 10000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ALWAYS, .control = true });
}

static void test_notify_asked_rings_and_control(void **s)
{
    run(&(run_cfg){ .env = "TAPDISK_WRITES=uring", .rings = 3,
                    .requests = 10000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ASKED, .control = true });
}

/* tapdisk killed eight times under two busy rings (writes in io_uring,
 * flushes, and a spare ring connected now and then): each time another
 * takes the live rings over. */
static void test_killed_and_taken_over(void **s)
{
    run(&(run_cfg){ .env = "TAPDISK_WRITES=uring", .rings = 2,
                    .requests = 6000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ASKED, .control = true, .kills = 8 });
}

static void test_killed_and_taken_over_barriers(void **s)
{
    run(&(run_cfg){ .env = NULL, .rings = 1, .requests = 3000, .depth = 8,
                    .burst = 4, .mode = NOTIFY_ALWAYS, .barriers = true,
                    .kills = 6 });
}

/* The same on the synchronous engine and on poll's loop. */
static void test_killed_and_taken_over_synchronous(void **s)
{
    run(&(run_cfg){ .env = "FAKEXEN_NO_URING=1", .rings = 2,
                    .requests = 3000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ASKED, .control = true, .kills = 4 });
}

static void test_killed_and_taken_over_poll_loop(void **s)
{
    run(&(run_cfg){ .env = "TAPDISK_WAIT=poll", .rings = 2,
                    .requests = 3000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ALWAYS, .control = true, .kills = 4 });
}

/*
 * Ring polling (td_spin.h): rings served while it is on ask for no
 * event, and the frontend (as Linux's) notifies only when asked: a ring
 * the loop forgets to look at, or sleeps on without asking for an event
 * again, hangs.  Deep rings and control requests, as above; then one
 * request at a time with pauses around the window's length, so that
 * requests come during a look, as it ends and after it (the final check
 * and the event); then tapdisk killed and taken over while polling.
 */
#define POLLING "TAPDISK_POLL_US=300 TAPDISK_POLL_IDLE=0"

static void test_polling_rings_and_control(void **s)
{
    run(&(run_cfg){ .env = POLLING " TAPDISK_WRITES=uring", .rings = 3,
                    .requests = 10000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ASKED, .control = true,
                    .polling = true });
}

static void test_polling_window_ends_between_requests(void **s)
{
    run(&(run_cfg){ .env = POLLING, .rings = 2, .requests = 1500,
                    .depth = 1, .burst = 1, .mode = NOTIFY_ASKED,
                    .control = true, .pause_us = 900, .polling = true });
}

static void test_polling_killed_and_taken_over(void **s)
{
    run(&(run_cfg){ .env = POLLING " TAPDISK_WRITES=uring", .rings = 2,
                    .requests = 3000, .depth = 8, .burst = 4,
                    .mode = NOTIFY_ASKED, .control = true, .kills = 4,
                    .polling = true });
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_and_taken_over),
        cmocka_unit_test(test_killed_and_taken_over_barriers),
        cmocka_unit_test(test_killed_and_taken_over_synchronous),
        cmocka_unit_test(test_killed_and_taken_over_poll_loop),
        cmocka_unit_test(test_barrier_then_more_io_uring),
        cmocka_unit_test(test_barrier_then_more_synchronous),
        cmocka_unit_test(test_barrier_then_more_poll_loop),
        cmocka_unit_test(test_notify_always_one_ring),
        cmocka_unit_test(test_notify_always_rings_and_control),
        cmocka_unit_test(test_notify_always_poll_loop),
        cmocka_unit_test(test_notify_asked_rings_and_control),
        cmocka_unit_test(test_polling_rings_and_control),
        cmocka_unit_test(test_polling_window_ends_between_requests),
        cmocka_unit_test(test_polling_killed_and_taken_over),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
