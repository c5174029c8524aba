/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xscount.so: counts one process's XenStore requests, for `make bench`.
 *
 *   LD_PRELOAD=xscount.so XSCOUNT_FILE=/run/xscount xl devd -F
 *
 * Every libxenstore call that sends a request to xenstored is wrapped
 * (each is one request on the wire) and counted in a small shared file, so
 * a reader can take the counts at any moment without signalling the
 * process: `od -v -An -t u8 -w8 FILE` prints one counter per line, in the
 * order of xscount_names below.  Watch events received are counted apart:
 * they are not requests.
 *
 * Only the process started with XSCOUNT_FILE counts: the constructor
 * removes LD_PRELOAD and XSCOUNT_FILE from the environment, so the hotplug
 * scripts and QEMUs it starts are not counted (they are the same programs
 * whichever devd runs them).
 *
 * With XSCOUNT_TRACE=FILE too, each request (and watch event) is also
 * appended to FILE as one line, "<type> <path>": where the requests of
 * an attach go, for whoever cuts them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xenstore.h>

enum {
    XC_READ, XC_WRITE, XC_DIRECTORY, XC_MKDIR, XC_RM, XC_GET_PERMS,
    XC_SET_PERMS, XC_TXN_START, XC_TXN_END, XC_WATCH, XC_UNWATCH,
    XC_OTHER, XC_WATCH_EVENTS, XC_N
};

static const char *const xscount_names[XC_N] = {
    "read", "write", "directory", "mkdir", "rm", "get-perms", "set-perms",
    "txn-start", "txn-end", "watch", "unwatch", "other", "watch-event",
};
static uint64_t *counts;
static int trace_fd = -1;
/* A wrapped call may call another wrapped entry point inside libxenstore
 * (through its own PLT): count the outermost only. */
static __thread int depth;

__attribute__((constructor))
static void xscount_init(void)
{
    const char *f = getenv("XSCOUNT_FILE");
    void *m;
    int fd;

    unsetenv("LD_PRELOAD");
    if (!f)
        return;
    fd = open(f, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto out;
    if (ftruncate(fd, XC_N * sizeof(uint64_t)) == 0) {
        m = mmap(NULL, XC_N * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                 MAP_SHARED, fd, 0);
        if (m != MAP_FAILED)
            counts = m;
    }
    close(fd);
    f = getenv("XSCOUNT_TRACE");
    if (f)
        trace_fd = open(f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
out:
    unsetenv("XSCOUNT_FILE");
    unsetenv("XSCOUNT_TRACE");
}

static void bump(int which, const char *path)
{
    char line[512];
    int n;

    if (counts)
        __atomic_fetch_add(&counts[which], 1, __ATOMIC_RELAXED);
    if (trace_fd < 0)
        return;
    /* One write a line (O_APPEND): lines of two threads never mix. */
    n = snprintf(line, sizeof(line), "%s %s\n", xscount_names[which],
                 path ? path : "-");
    if (n >= (int)sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    if (write(trace_fd, line, n) < 0)
        return;     /* (a lost trace line is not worth failing a request) */
}

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* WRAP(counter, path, return type, name, (params), (args)) */
#define WRAP(C, P, R, NAME, PARAMS, ARGS)                               \
    R NAME PARAMS                                                       \
    {                                                                   \
        static R (*real) PARAMS;                                        \
        R r;                                                            \
        if (!real)                                                      \
            real = (R (*) PARAMS)next(#NAME);                           \
        if (depth++ == 0)                                               \
            bump(C, P);                                                 \
        r = real ARGS;                                                  \
        depth--;                                                        \
        return r;                                                       \
    }

WRAP(XC_READ, path, void *, xs_read,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      unsigned int *len), (h, t, path, len))
WRAP(XC_WRITE, path, bool, xs_write,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      const void *data, unsigned int len), (h, t, path, data, len))
WRAP(XC_DIRECTORY, path, char **, xs_directory,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      unsigned int *num), (h, t, path, num))
WRAP(XC_MKDIR, path, bool, xs_mkdir,
     (struct xs_handle *h, xs_transaction_t t, const char *path),
     (h, t, path))
WRAP(XC_RM, path, bool, xs_rm,
     (struct xs_handle *h, xs_transaction_t t, const char *path),
     (h, t, path))
WRAP(XC_GET_PERMS, path, struct xs_permissions *, xs_get_permissions,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      unsigned int *num), (h, t, path, num))
WRAP(XC_SET_PERMS, path, bool, xs_set_permissions,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      struct xs_permissions *perms, unsigned int num),
     (h, t, path, perms, num))
WRAP(XC_TXN_START, NULL, xs_transaction_t, xs_transaction_start,
     (struct xs_handle *h), (h))
WRAP(XC_TXN_END, NULL, bool, xs_transaction_end,
     (struct xs_handle *h, xs_transaction_t t, bool abort), (h, t, abort))
WRAP(XC_WATCH, path, bool, xs_watch,
     (struct xs_handle *h, const char *path, const char *token),
     (h, path, token))
WRAP(XC_UNWATCH, path, bool, xs_unwatch,
     (struct xs_handle *h, const char *path, const char *token),
     (h, path, token))
WRAP(XC_OTHER, NULL, char *, xs_get_domain_path,
     (struct xs_handle *h, unsigned int domid), (h, domid))
WRAP(XC_OTHER, NULL, bool, xs_is_domain_introduced,
     (struct xs_handle *h, unsigned int domid), (h, domid))

/* Watch events: counted when one is returned, not per call. */
char **xs_check_watch(struct xs_handle *h)
{
    static char **(*real)(struct xs_handle *);
    char **r;

    if (!real)
        real = (char **(*)(struct xs_handle *))next("xs_check_watch");
    r = real(h);
    if (r)
        bump(XC_WATCH_EVENTS, r[XS_WATCH_PATH]);
    return r;
}

char **xs_read_watch(struct xs_handle *h, unsigned int *num)
{
    static char **(*real)(struct xs_handle *, unsigned int *);
    char **r;

    if (!real)
        real = (char **(*)(struct xs_handle *, unsigned int *))
               next("xs_read_watch");
    r = real(h, num);
    if (r)
        bump(XC_WATCH_EVENTS, r[XS_WATCH_PATH]);
    return r;
}
