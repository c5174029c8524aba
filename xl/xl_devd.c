/*
 * `xl devd`: run the driver-domain listener as a daemon.
 *
 * The listener itself is libxl_device_events_handler, run synchronously on
 * the main thread.  A second thread owns the signals: TERM/INT abort the
 * handler (backends stay up), HUP reopens the log, USR1 writes the status.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <libxlutil.h>

#include "xl.h"
#include "xl_utils.h"
#include "xl_devd_pidfile.h"
#include "xl_devd_status.h"

#define DEVD_PIDFILE XEN_RUN_DIR "/xldevd.pid"
#define DEVD_STATUSFILE XEN_RUN_DIR "/xldevd.status"
#define DEVD_LOGNAME "xldevd"

static const char *devd_logpath;        /* when daemonized */
static volatile sig_atomic_t devd_stopping;

/*
 * The signal thread calls into libxl (abort, status) only under this lock
 * and only while the handler runs: the main thread takes it before it
 * frees the context, so an abort still unwinding on the signal thread is
 * never cut off by exit().
 */
static pthread_mutex_t devd_libxl_lock = PTHREAD_MUTEX_INITIALIZER;
static bool devd_ctx_usable = true;

static void devd_reopen_log(void)
{
    int fd;

    if (!devd_logpath)
        return;
    fd = open(devd_logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "xl devd: cannot reopen log %s: %s\n", devd_logpath,
                strerror(errno));
        return;
    }
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    fprintf(stderr, "xl devd: log reopened\n");
}

/*
 * Signals reach us through a self-pipe, not a blocked mask: a blocked mask
 * would be inherited by every hotplug script and by the QEMUs we spawn (so
 * they could never be stopped with a signal).  Handlers, unlike masks, are
 * reset by exec.
 */
static int devd_sigpipe[2] = { -1, -1 };
static pid_t devd_pid;

static void devd_sighandler(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;

    /* A forked libxl child that has not exec'd yet is not us.  A failed
     * write means the pipe is full: the signal is pending already. */
    if (getpid() == devd_pid) {
        ssize_t r = write(devd_sigpipe[1], &c, 1);
        (void)r;
    }
    errno = saved;
}

static int devd_setup_signals(void)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
    struct sigaction sa;
    size_t i;

    devd_pid = getpid();
    if (pipe(devd_sigpipe) ||
        fcntl(devd_sigpipe[0], F_SETFD, FD_CLOEXEC) ||
        fcntl(devd_sigpipe[1], F_SETFD, FD_CLOEXEC))
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = devd_sighandler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigaction(sigs[i], &sa, NULL))
            return -1;
    }
    return 0;
}

static void *devd_signal_thread(void *arg)
{
    unsigned char c;
    ssize_t r;

    for (;;) {
        r = read(devd_sigpipe[0], &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != 1)
            break;
        switch (c) {
        case SIGTERM:
        case SIGINT:
            fprintf(stderr, "xl devd: signal %d, stopping\n", c);
            devd_stopping = 1;
            /* The handler may not have started yet: keep asking. */
            pthread_mutex_lock(&devd_libxl_lock);
            while (devd_ctx_usable &&
                   libxl_ao_abort(ctx, NULL) == ERROR_NOTFOUND) {
                pthread_mutex_unlock(&devd_libxl_lock);
                usleep(10000);
                pthread_mutex_lock(&devd_libxl_lock);
            }
            pthread_mutex_unlock(&devd_libxl_lock);
            break;
        case SIGHUP:
            devd_reopen_log();
            break;
        case SIGUSR1:
            pthread_mutex_lock(&devd_libxl_lock);
            if (devd_ctx_usable)
                xl_devd_status_write(ctx, DEVD_STATUSFILE);
            pthread_mutex_unlock(&devd_libxl_lock);
            break;
        }
    }
    return NULL;
}

/*
 * Forks away from the terminal; returns only in the daemon, with *ready_fd
 * to be written once the pidfile holds the daemon's pid.  The command that
 * started us exits only then (0 if the daemon got that far), so a service
 * manager reading the pidfile (systemd Type=forking) never races it.
 */
static int devd_daemonize(int *ready_fd)
{
    char *fullname = NULL;
    pid_t child;
    int fd, nullfd, rc, p[2];
    char c;

    child = xl_fork(child_waitdaemon, "devd daemonizing child");
    if (child) {
        rc = child_report(child_waitdaemon);
        exit(rc ? EXIT_FAILURE : EXIT_SUCCESS);
    }
    postfork();

    /* -l FILE is used as given; the default log is rotated to .1 ... .10
     * as upstream does. */
    if (devd_logpath) {
        fullname = strdup(devd_logpath);
    } else if (libxl_create_logfile(ctx, DEVD_LOGNAME, &fullname)) {
        fprintf(stderr, "xl devd: cannot create the log file\n");
        return -1;
    }
    if (!fullname)
        return -1;
    fd = open(fullname, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    nullfd = open("/dev/null", O_RDONLY);
    if (fd < 0 || nullfd < 0) {
        fprintf(stderr, "xl devd: cannot open %s: %s\n", fullname,
                strerror(errno));
        return -1;
    }
    devd_logpath = fullname;
    dup2(nullfd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    close(nullfd);
    close(fd);
    if (setsid() < 0 || pipe(p)) {
        perror("xl devd: setsid/pipe");
        return -1;
    }
    child = fork();
    if (child < 0) {
        perror("xl devd: fork");
        return -1;
    }
    if (child) {
        close(p[1]);
        _exit(read(p[0], &c, 1) == 1 ? EXIT_SUCCESS : EXIT_FAILURE);
    }
    close(p[0]);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    if (chdir("/"))
        perror("xl devd: chdir /");
    *ready_fd = p[1];
    return 0;
}

/* What the command line asks for. */
typedef struct {
    bool daemonize, status, json;
    const char *pidfile;
    libxl_device_events_params params;
} devd_opts;

/* A small decimal in 0..max, or -1. */
static int devd_small_uint(const char *s, int max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max || s[0] == '+' ||
        (s[0] == '0' && s[1]))
        return -1;
    return (int)v;
}

/* 0, or an exit status: the options are bad (or were --help). */
static int devd_parse(int argc, char **argv, devd_opts *o)
{
    static const struct option opts[] = {
        {"foreground", 0, 0, 'F'},
        {"pidfile", 1, 0, 'p'},
        {"logfile", 1, 0, 'l'},
        {"status", 0, 0, 's'},
        {"json", 0, 0, 'J'},
        {"max-ring-page-order", 1, 0, 'o'},
        {"script-slots", 1, 0, 'j'},
        COMMON_LONG_OPTS,
        {0, 0, 0, 0}
    };
    int opt;

    SWITCH_FOREACH_OPT(opt, "Fp:l:so:j:", opts, "devd", 0) {
    case 'F': o->daemonize = false; break;
    case 'p': o->pidfile = optarg; break;
    case 'l': devd_logpath = optarg; break;
    case 's': o->status = true; break;
    case 'J': o->json = true; break;
    case 'o':
        o->params.max_ring_page_order = devd_small_uint(optarg, 3);
        if (o->params.max_ring_page_order < 0) {
            fprintf(stderr, "xl devd: --max-ring-page-order takes 0..3\n");
            return EXIT_FAILURE;
        }
        break;
    case 'j':
        o->params.script_slots = devd_small_uint(optarg, 64);
        if (o->params.script_slots < 1) {
            fprintf(stderr, "xl devd: --script-slots takes 1..64\n");
            return EXIT_FAILURE;
        }
        break;
    }
    return 0;
}

/* The pidfile's lock, or why not. */
static int devd_lock(xl_pidfile *pf, const char *pidfile)
{
    pid_t holder;
    int rc;

    mkdir(XEN_RUN_DIR, 0755);
    rc = xl_pidfile_acquire(pf, pidfile, &holder);
    if (rc == XL_PIDFILE_BUSY) {
        if (holder)
            fprintf(stderr, "xl devd already running (pid %ld)\n",
                    (long)holder);
        else
            fprintf(stderr, "xl devd already running (pidfile %s)\n",
                    pidfile);
        return -1;
    }
    if (rc) {
        fprintf(stderr, "xl devd: cannot lock %s: %s\n", pidfile,
                strerror(-rc));
        return -1;
    }
    return 0;
}

/* The pid in the pidfile; the starting command told we got this far. */
static int devd_started(xl_pidfile *pf, const char *pidfile, int ready_fd)
{
    if (xl_pidfile_write(pf, getpid())) {
        fprintf(stderr, "xl devd: cannot write %s\n", pidfile);
        return -1;
    }
    if (ready_fd >= 0) {
        if (write(ready_fd, "1", 1) != 1)
            perror("xl devd: telling the starting process");
        close(ready_fd);
    }
    return 0;
}

/* Runs the handler until it is stopped; an exit status. */
static int devd_serve(const libxl_device_events_params *params)
{
    pthread_t sigthread;
    int rc;

    /* Signals are handled on one thread; libxl's SIGCHLD is untouched. */
    if (devd_setup_signals() ||
        pthread_create(&sigthread, NULL, devd_signal_thread, NULL)) {
        fprintf(stderr, "xl devd: cannot start the signal thread\n");
        return EXIT_FAILURE;
    }
    pthread_detach(sigthread);

    rc = libxl_device_events_handler_params(ctx, params, NULL);
    /* Wait for an abort still unwinding on the signal thread. */
    pthread_mutex_lock(&devd_libxl_lock);
    devd_ctx_usable = false;
    pthread_mutex_unlock(&devd_libxl_lock);
    if (devd_stopping && (rc == ERROR_ABORTED || rc == 0)) {
        fprintf(stderr, "xl devd: stopped, backends left running\n");
        return EXIT_SUCCESS;
    }
    fprintf(stderr, "xl devd: the device events handler failed (%d)\n", rc);
    return EXIT_FAILURE;
}

int main_devd(int argc, char **argv)
{
    devd_opts o = { .daemonize = true, .pidfile = DEVD_PIDFILE };
    int ret = EXIT_FAILURE, ready_fd = -1;
    xl_pidfile pf;

    libxl_device_events_params_init(&o.params);
    xl_pidfile_init(&pf);
    ret = devd_parse(argc, argv, &o);
    if (ret)
        goto out;
    ret = EXIT_FAILURE;
    if (o.status) {
        ret = xl_devd_status_print(o.pidfile, DEVD_STATUSFILE, o.json);
        goto out;
    }
    if (devd_lock(&pf, o.pidfile))
        goto out;
    if ((o.daemonize && devd_daemonize(&ready_fd)) ||
        devd_started(&pf, o.pidfile, ready_fd))
        goto unlock;
    ret = devd_serve(&o.params);
unlock:
    unlink(DEVD_STATUSFILE);
    unlink(DEVD_STATUSFILE ".json");
    xl_pidfile_release(&pf);
out:
    libxl_device_events_params_dispose(&o.params);
    return ret;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
