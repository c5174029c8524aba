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
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xenstore.h>

enum {
    XC_READ, XC_WRITE, XC_DIRECTORY, XC_MKDIR, XC_RM, XC_GET_PERMS,
    XC_SET_PERMS, XC_TXN_START, XC_TXN_END, XC_WATCH, XC_UNWATCH,
    XC_OTHER, XC_WATCH_EVENTS, XC_N
};

static uint64_t *counts;
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
out:
    unsetenv("XSCOUNT_FILE");
}

static void bump(int which)
{
    if (counts)
        __atomic_fetch_add(&counts[which], 1, __ATOMIC_RELAXED);
}

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* WRAP(counter, return type, name, (params), (args)) */
#define WRAP(C, R, NAME, PARAMS, ARGS)                                  \
    R NAME PARAMS                                                       \
    {                                                                   \
        static R (*real) PARAMS;                                        \
        R r;                                                            \
        if (!real)                                                      \
            real = (R (*) PARAMS)next(#NAME);                           \
        if (depth++ == 0)                                               \
            bump(C);                                                    \
        r = real ARGS;                                                  \
        depth--;                                                        \
        return r;                                                       \
    }

WRAP(XC_READ, void *, xs_read,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      unsigned int *len), (h, t, path, len))
WRAP(XC_WRITE, bool, xs_write,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      const void *data, unsigned int len), (h, t, path, data, len))
WRAP(XC_DIRECTORY, char **, xs_directory,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      unsigned int *num), (h, t, path, num))
WRAP(XC_MKDIR, bool, xs_mkdir,
     (struct xs_handle *h, xs_transaction_t t, const char *path),
     (h, t, path))
WRAP(XC_RM, bool, xs_rm,
     (struct xs_handle *h, xs_transaction_t t, const char *path),
     (h, t, path))
WRAP(XC_GET_PERMS, struct xs_permissions *, xs_get_permissions,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      unsigned int *num), (h, t, path, num))
WRAP(XC_SET_PERMS, bool, xs_set_permissions,
     (struct xs_handle *h, xs_transaction_t t, const char *path,
      struct xs_permissions *perms, unsigned int num),
     (h, t, path, perms, num))
WRAP(XC_TXN_START, xs_transaction_t, xs_transaction_start,
     (struct xs_handle *h), (h))
WRAP(XC_TXN_END, bool, xs_transaction_end,
     (struct xs_handle *h, xs_transaction_t t, bool abort), (h, t, abort))
WRAP(XC_WATCH, bool, xs_watch,
     (struct xs_handle *h, const char *path, const char *token),
     (h, path, token))
WRAP(XC_UNWATCH, bool, xs_unwatch,
     (struct xs_handle *h, const char *path, const char *token),
     (h, path, token))
WRAP(XC_OTHER, char *, xs_get_domain_path,
     (struct xs_handle *h, unsigned int domid), (h, domid))
WRAP(XC_OTHER, bool, xs_is_domain_introduced,
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
        bump(XC_WATCH_EVENTS);
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
        bump(XC_WATCH_EVENTS);
    return r;
}
