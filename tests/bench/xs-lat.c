/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xs-lat: attach latency as XenStore shows it, for `make bench`.
 *
 *   xs-lat BACKEND-ROOT FRONTEND-DOMID
 *
 * Watches BACKEND-ROOT (/local/domain/<drv>/backend) and, for each backend
 * directory <kind>/<FRONTEND-DOMID>/<devid> that appears, measures the time
 * from its first watch event (the toolstack's write) to the event at which
 * its state is 4 (Connected) and, for the kinds a hotplug script or devd
 * completes, hotplug-status is "connected" (QEMU's qdisk writes none).
 * Prints "ready" once the watch is set, then one line per attach:
 *   attach KIND DOMID DEVID MILLISECONDS
 * and "unfinished KIND DOMID DEVID" for a directory removed before it got
 * there.  Runs until killed.  Times are CLOCK_MONOTONIC in this domain.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

#define MAXDEV 64

struct inst {
    bool used, done;
    char kind[16];
    unsigned long devid;
    double t0;
};

static struct inst tab[MAXDEV];

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct inst *find(const char *kind, unsigned long devid, bool make)
{
    struct inst *free_slot = NULL;
    int i;

    for (i = 0; i < MAXDEV; i++) {
        if (tab[i].used && tab[i].devid == devid && !strcmp(tab[i].kind, kind))
            return &tab[i];
        if (!tab[i].used && !free_slot)
            free_slot = &tab[i];
    }
    if (!make || !free_slot)
        return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->used = true;
    snprintf(free_slot->kind, sizeof(free_slot->kind), "%s", kind);
    free_slot->devid = devid;
    return free_slot;
}

/* Its directory is gone: says so if it never got there, frees the slot. */
static void forget(struct inst *in, unsigned long domid)
{
    if (!in->done)
        printf("unfinished %s %lu %lu\n", in->kind, domid, in->devid);
    in->used = false;
}

static void forget_kind(const char *kind, unsigned long domid)
{
    int i;

    for (i = 0; i < MAXDEV; i++)
        if (tab[i].used && !strcmp(tab[i].kind, kind))
            forget(&tab[i], domid);
    fflush(stdout);
}

static char *rd(struct xs_handle *xs, const char *dir, const char *key)
{
    char p[256];
    unsigned int len;

    snprintf(p, sizeof(p), "%s%s%s", dir, *key ? "/" : "", key);
    return xs_read(xs, XBT_NULL, p, &len);
}

int main(int argc, char **argv)
{
    struct xs_handle *xs;
    const char *root;
    unsigned long fdomid;
    size_t rl;

    if (argc != 3) {
        fprintf(stderr, "usage: xs-lat BACKEND-ROOT FRONTEND-DOMID\n");
        return 2;
    }
    root = argv[1];
    rl = strlen(root);
    fdomid = strtoul(argv[2], NULL, 10);
    xs = xs_open(0);
    if (!xs || !xs_watch(xs, root, "lat")) {
        perror("xs-lat: xenstore");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    for (;;) {
        unsigned int n;
        char **ev = xs_read_watch(xs, &n);
        char kind[16], dir[256], *st, *hs, *here;
        unsigned long domid, devid;
        double t = now_ms();
        struct inst *in;
        int used;

        if (!ev) {
            if (errno == EINTR)
                continue;
            perror("xs-lat: read watch");
            return 1;
        }
        if (strncmp(ev[XS_WATCH_PATH], root, rl) ||
            (used = sscanf(ev[XS_WATCH_PATH] + rl, "/%15[^/]/%lu/%lu", kind,
                           &domid, &devid)) < 2 || domid != fdomid) {
            free(ev);
            continue;
        }
        free(ev);
        if (used == 2) {
            /* A whole guest's directory removed: one event for all. */
            snprintf(dir, sizeof(dir), "%s/%s/%lu", root, kind, domid);
            here = rd(xs, dir, "");
            if (!here)
                forget_kind(kind, domid);
            free(here);
            continue;
        }
        snprintf(dir, sizeof(dir), "%s/%s/%lu/%lu", root, kind, domid, devid);

        here = rd(xs, dir, "");
        in = find(kind, devid, here != NULL);
        if (!here) {
            if (in)
                forget(in, domid);
            fflush(stdout);
            continue;
        }
        free(here);
        if (!in)
            continue;
        if (!in->t0)
            in->t0 = t;
        st = rd(xs, dir, "state");
        hs = rd(xs, dir, "hotplug-status");
        if (in->done && st && !strcmp(st, "1")) {
            /* Removed and written again between two events: a new one. */
            in->done = false;
            in->t0 = t;
        }
        if (in->done) {
            free(st);
            free(hs);
            continue;
        }
        if (st && !strcmp(st, "4") &&
            (!strcmp(kind, "qdisk") || (hs && !strcmp(hs, "connected")))) {
            in->done = true;
            printf("attach %s %lu %lu %.1f\n", kind, domid, devid, t - in->t0);
            fflush(stdout);
        }
        free(st);
        free(hs);
    }
}
