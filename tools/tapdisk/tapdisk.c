/*
 * tapdisk: a userspace blkif data plane for raw images.
 *
 * One process serves one or more images ("minors") and answers the tapdisk
 * control protocol (td_proto.h) on a Unix socket.  devd's ring server opens
 * an image, asks for its geometry, and hands it a frontend's ring with
 * XENBLKIF_CONNECT; from then on requests flow guest -> ring -> here ->
 * image without devd.  Everything runs in one loop (this file), which
 * sleeps in io_uring or in poll: control clients, the event channel, I/O
 * completions, signals.
 * tapdisk.h maps the other files.
 *
 * Guest memory is hostile: each request is copied out of the shared ring
 * once, then validated (td_blkif.c) before any grant is copied or mapped
 * or any byte of the image touched.  A frontend that corrupts its ring
 * indexes loses its ring; nothing it does ends this process.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "td_control.h"
#include "td_disk.h"
#include "td_engine.h"
#include "td_journal.h"
#include "td_req.h"
#include "td_ring.h"
#include "td_spin.h"

/* The Xen libraries log every failed call on their own (libxengnttab:
 * "mmap failed" for each grant a guest names that does not map), without
 * a limit: a guest could fill the disk.  They get this logger, which
 * drops it all; every caller logs what failed, rate-limited per disk. */
static void quiet_vmessage(struct xentoollog_logger *l,
                           xentoollog_level level, int errnoval,
                           const char *context, const char *format,
                           va_list al)
{
}

static void quiet_progress(struct xentoollog_logger *l, const char *context,
                           const char *doing_what, int percent,
                           unsigned long done, unsigned long total)
{
}

static void quiet_destroy(struct xentoollog_logger *l)
{
}

static xentoollog_logger quiet = {
    quiet_vmessage, quiet_progress, quiet_destroy,
};

xentoollog_logger *td_xen_logger(void)
{
    return &quiet;
}

void td_log(const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s tapdisk[%ld]: ", when, (long)getpid());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    mode_t old;
    int fd, r;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        td_log("socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    unlink(path);
    /* 0600 whatever the caller's umask (we have one thread). */
    old = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r || listen(fd, 8)) {
        td_log("cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tapdisk (-s SOCKET | -S FD) [-l LOGFILE]\n"
            "  -s SOCKET  listen for control clients on this Unix socket\n"
            "  -S FD      use the already listening socket FD (devd passes"
            " one)\n"
            "  -l LOGFILE append the log here instead of stderr\n"
            "environment: TAPDISK_GRANTS=map maps each request's guest"
            " pages instead of\n  copying them; TAPDISK_GRANTS=copy copies"
            " them all, holding no persistent grant;\n  TAPDISK_WRITES=uring"
            " hands every write to io_uring instead of writing at\n  once"
            " while writes stay fast;\n  TAPDISK_WAIT=poll sleeps in"
            " poll(2) rather than in io_uring;\n  TAPDISK_POLL_US=N watches"
            " the rings for up to N us (at most 10000)\n  before it sleeps,"
            " while the domain leaves TAPDISK_POLL_IDLE percent\n  (default"
            " 50) of its CPUs idle\n");
}

typedef struct {
    const char *sock, *logfile;
    int listen_fd;
} options;

/* 0: go on; otherwise the exit status. */
static int parse(int argc, char **argv, options *o)
{
    int opt;

    while ((opt = getopt(argc, argv, "s:S:l:h")) != -1) {
        switch (opt) {
        case 's': o->sock = optarg; break;
        case 'S': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > INT_MAX) {
                usage();
                return 2;
            }
            o->listen_fd = (int)v;
            break;
        }
        case 'l': o->logfile = optarg; break;
        default: usage(); return opt == 'h' ? -1 : 2;
        }
    }
    if ((!o->sock) == (o->listen_fd < 0) || optind != argc) {
        usage();
        return 2;
    }
    return 0;
}

/*
 * The loop with poll(2): without io_uring, or with TAPDISK_WAIT=poll.
 * Serves until a signal or an EXIT message.
 */
static void loop_poll(int sfd)
{
    struct pollfd pfd[4];
    const int SIG = 0, EVT = 1, ENG = 2, CTL = 3;

    while (!td_control_exit_asked()) {
        bool more = td_req_round();

        pfd[SIG] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        pfd[EVT] = (struct pollfd){ .fd = td_ring_evtchn_fd(),
                                    .events = POLLIN };
        pfd[ENG] = (struct pollfd){ .fd = td_engine_fd(), .events = POLLIN };
        pfd[CTL] = (struct pollfd){ .fd = td_control_fd(), .events = POLLIN };
        /* Rings with work left: look at everything else, then go on. */
        if (poll(pfd, 4, more ? 0 : -1) < 0) {
            if (errno == EINTR)
                continue;
            td_log("poll: %s", strerror(errno));
            return;
        }
        if (pfd[SIG].revents) {
            td_log("terminating on a signal");
            return;
        }
        if (pfd[ENG].revents)
            td_req_on_completions();
        if (pfd[EVT].revents) {
            int port = td_ring_evtchn_pending();
            if (port >= 0)
                td_req_on_event(port);
        }
        if (pfd[CTL].revents)
            td_control_serve();
    }
}

/*
 * The loop with io_uring: it sleeps in io_uring alone, which also reads
 * the event channel and unmasks its ports.  A request at queue depth 1
 * then costs three system calls (this sleep, the data's, the notify)
 * where poll's loop makes five (poll, the event's read and unmask, the
 * data's, the notify): in a PV driver domain each one is a trip through
 * Xen.  The ports are unmasked after their rings were served, with the
 * next sleep: an event meanwhile stays pending in Xen, and requests it
 * announces were mostly taken already by the ring's final check.
 */
typedef struct {
    td_watch sig, ctl, evt, unmask;
    evtchn_port_t fired[TD_MAX_DISKS], masked[TD_MAX_DISKS];
    unsigned int nmasked;
} waits;

/*
 * Any reap completes a wait: the loop's own, or one inside a ring's batch
 * or a control request (their submits reap, and so does a detach).  So a
 * wait that fired stays fired, and is not armed again, until the loop has
 * handled it: arming the read again would lose the ports it read, left
 * masked for good.
 */
static void arm(waits *w, int sfd)
{
    int efd = td_ring_evtchn_fd();

    if (!w->sig.armed && !w->sig.fired)
        td_engine_poll(&w->sig, sfd);
    if (!w->ctl.armed && !w->ctl.fired)
        td_engine_poll(&w->ctl, td_control_fd());
    if (!w->evt.armed && !w->evt.fired && efd >= 0)
        td_engine_read(&w->evt, efd, w->fired, sizeof(w->fired));
}

static bool fired(const waits *w)
{
    return w->sig.fired || w->ctl.fired || w->evt.fired || w->unmask.fired;
}

static void unmask_each(const evtchn_port_t *ports, unsigned int n)
{
    unsigned int i;

    for (i = 0; i < n; i++)
        td_ring_evtchn_unmask(ports[i]);
}

static void on_unmasked(waits *w);

static void on_ports(waits *w)
{
    static td_ratelimit rl;
    unsigned int i, n, drop;

    w->evt.fired = false;
    if (w->evt.res <= 0 || w->evt.res % (int)sizeof(evtchn_port_t)) {
        if (td_ratelimit_ok(&rl, td_ratelimit_now(), &drop))
            td_log("reading the event channel device: %s",
                   w->evt.res < 0 ? strerror(-w->evt.res) : "short read");
        return;
    }
    n = (unsigned int)w->evt.res / sizeof(evtchn_port_t);
    for (i = 0; i < n; i++)
        td_req_on_event((int)w->fired[i]);
    /* The last unmask's result first: w->masked is reused below. */
    if (w->unmask.fired)
        on_unmasked(w);
    if (w->unmask.armed) {      /* cannot be: a write to it never waits */
        unmask_each(w->fired, n);
        return;
    }
    memcpy(w->masked, w->fired, n * sizeof(evtchn_port_t));
    w->nmasked = n;
    td_engine_write(&w->unmask, td_ring_evtchn_fd(), w->masked,
                    n * sizeof(evtchn_port_t));
}

/* A failed unmask would leave a ring deaf: unmask each port again. */
static void on_unmasked(waits *w)
{
    static td_ratelimit rl;
    unsigned int drop;

    w->unmask.fired = false;
    if (w->unmask.res == (int)(w->nmasked * sizeof(evtchn_port_t)))
        return;
    if (td_ratelimit_ok(&rl, td_ratelimit_now(), &drop))
        td_log("unmasking event channels: %s", w->unmask.res < 0 ?
               strerror(-w->unmask.res) : "short write");
    unmask_each(w->masked, w->nmasked);
}

/* What ends a spin: a quiet ring's request, or a completion (of I/O,
 * or of one of the loop's own waits). */
static bool spin_ready(void)
{
    return td_req_watch() || td_engine_ready();
}

/*
 * Before the loop sleeps: with polling on (td_spin.h) and a request
 * taken since it last slept, what is queued goes in and the rings are
 * watched for a while; then every quiet ring asks for an event again.
 * True if there is work (the loop goes on without sleeping).
 */
static bool before_sleep(uint64_t *taken_at_sleep)
{
    if (td_req_taken() != *taken_at_sleep && td_spin_active()) {
        if (td_engine_sleep(false) < 0 || td_spin(spin_ready))
            return true;
    }
    /* No ring sleeps without asking for an event. */
    if (td_req_rearm())
        return true;
    *taken_at_sleep = td_req_taken();
    return false;
}

static void loop_uring(int sfd)
{
    uint64_t taken_at_sleep = 0;
    waits w;
    int rc;

    memset(&w, 0, sizeof(w));
    td_spin_init();
    while (!td_control_exit_asked()) {
        bool more = td_req_round();

        arm(&w, sfd);
        if (!more && !fired(&w))
            more = before_sleep(&taken_at_sleep);
        /* A wait that fired during the round is handled before sleeping. */
        rc = td_engine_sleep(!more && !fired(&w));
        if (rc < 0) {
            td_log("io_uring_enter: %s", strerror(-rc));
            return;
        }
        td_req_on_completions();
        if (w.sig.fired) {
            td_log("terminating on a signal");
            return;
        }
        if (w.evt.fired)
            on_ports(&w);
        if (w.unmask.fired)
            on_unmasked(&w);
        if (w.ctl.fired) {
            w.ctl.fired = false;
            td_control_serve();
        }
    }
}

static void loop(int sfd)
{
    const char *how = getenv("TAPDISK_WAIT");

    if (td_engine_fd() >= 0 && !(how && !strcmp(how, "poll"))) {
        td_log("waiting in io_uring");
        loop_uring(sfd);
    } else {
        td_log("waiting in poll%s", td_engine_fd() >= 0 ?
               " (TAPDISK_WAIT=poll)" : "");
        loop_poll(sfd);
    }
}

/* Rings' journals go beside the control socket, in a directory only
 * its owner (devd, root) enters. */
static void journal_dir(int lfd)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    char *slash;

    memset(&sa, 0, sizeof(sa));
    if (getsockname(lfd, (struct sockaddr *)&sa, &len) ||
        sa.sun_family != AF_UNIX || sa.sun_path[0] != '/' ||
        !(slash = strrchr(sa.sun_path, '/')) || slash == sa.sun_path) {
        td_log("no directory for the rings' journals: a tapdisk after this"
               " one cannot take a ring over");
        return;
    }
    *slash = 0;
    td_jnl_set_dir(sa.sun_path);
}

int main(int argc, char **argv)
{
    options o = { .listen_fd = -1 };
    sigset_t sigs;
    int sfd, i, rc = parse(argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    if (o.logfile && !freopen(o.logfile, "a", stderr))
        return 1;
    if (o.sock && (o.listen_fd = listen_on(o.sock)) < 0)
        return 1;
    fcntl(o.listen_fd, F_SETFD, FD_CLOEXEC);
    fcntl(o.listen_fd, F_SETFL, fcntl(o.listen_fd, F_GETFL) | O_NONBLOCK);
    journal_dir(o.listen_fd);

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (td_control_init(o.listen_fd))
        return 1;
    td_req_init();
    td_log("serving control clients%s%s", o.sock ? " on " : "",
           o.sock ? o.sock : "");
    loop(sfd);

    /* Rings first: the guests see their disks go, not hang. */
    for (i = 0; i < TD_MAX_DISKS; i++) {
        if (td_disks[i].used) {
            td_req_detach(&td_disks[i]);
            td_disk_close(&td_disks[i]);
        }
    }
    if (o.sock)
        unlink(o.sock);
    td_log("exiting");
    return 0;
}
