/*
 * `xl devd --status`: the daemon renders libxl_device_events_status as
 * text and as JSON (libxl's generator) into files on SIGUSR1; `xl devd
 * --status [--json]` sends the signal and prints the file once it changes.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "xl_devd_status.h"
#include "xl_devd_pidfile.h"

/* Guests, each followed by its devices, as `xl devd --status` has shown
 * them since the first version. */
static void status_text(FILE *f, const libxl_device_events_status *st)
{
    int i, j, queued = 0;

    for (j = 0; j < st->num_devices; j++)
        queued += st->devices[j].queued;
    fprintf(f, "domid %u watching %s operations %d%s\n", st->domid,
            st->backend_path, st->operations,
            st->stopping ? " (stopping)" : "");
    fprintf(f, "guests %d devices %d queued %d\n", st->num_guests,
            st->num_devices, queued);
    for (i = 0; i < st->num_guests; i++) {
        const libxl_device_events_guest *g = &st->guests[i];

        fprintf(f, "guest %u%s%s\n", g->domid, g->detail ? " " : "",
                g->detail ? g->detail : "");
        for (j = 0; j < st->num_devices; j++) {
            const libxl_device_events_device *d = &st->devices[j];

            if (d->domid != g->domid)
                continue;
            fprintf(f, "  device %s %u state %s%s", d->kind, d->devid,
                    d->state, d->queued ? " (queued)"
                              : d->busy ? " (busy)" : "");
            if (d->detail)
                fprintf(f, " %s", d->detail);
            if (d->error)
                fprintf(f, " error \"%s\"", d->error);
            fputc('\n', f);
        }
    }
}

/* A status file is written as path.tmp, then renamed over path. */
static FILE *status_open(const char *path, char *tmp, size_t sz)
{
    FILE *f;

    snprintf(tmp, sz, "%s.tmp", path);
    f = fopen(tmp, "we");
    if (!f)
        fprintf(stderr, "xl devd: cannot write %s: %s\n", tmp,
                strerror(errno));
    return f;
}

static void status_commit(FILE *f, const char *tmp, const char *path)
{
    if (fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, path))
        fprintf(stderr, "xl devd: cannot write %s: %s\n", path,
                strerror(errno));
}

void xl_devd_status_write(libxl_ctx *ctx, const char *path)
{
    libxl_device_events_status st;
    char tmp[256], jpath[256];
    char *js = NULL;
    FILE *f;
    int rc;

    libxl_device_events_status_init(&st);
    rc = libxl_device_events_get_status(ctx, &st);
    if (!rc)
        js = libxl_device_events_status_to_json(ctx, &st);
    /* The JSON first: when the text file changes, both are new. */
    snprintf(jpath, sizeof(jpath), "%s.json", path);
    if ((f = status_open(jpath, tmp, sizeof(tmp)))) {
        if (js)
            fprintf(f, "%s\n", js);
        else
            fprintf(f, "{ \"error\": %d }\n", rc);
        status_commit(f, tmp, jpath);
    }
    if ((f = status_open(path, tmp, sizeof(tmp)))) {
        fprintf(f, "xl devd pid %ld time %ld\n", (long)getpid(),
                (long)time(NULL));
        if (rc)
            fprintf(f, "not serving yet (%d)\n", rc);
        else
            status_text(f, &st);
        status_commit(f, tmp, path);
    }
    free(js);
    libxl_device_events_status_dispose(&st);
}

/* The pid of the devd holding pidfile, or 0 (said why). */
static pid_t status_holder(const char *pidfile)
{
    pid_t pid = xl_pidfile_read(pidfile), holder;
    xl_pidfile probe;
    int rc;

    /* A pidfile we can lock belongs to no running devd. */
    xl_pidfile_init(&probe);
    rc = xl_pidfile_acquire(&probe, pidfile, &holder);
    if (rc == 0) {
        xl_pidfile_release(&probe);
        fprintf(stderr, "xl devd is not running (no lock on %s)\n", pidfile);
        return 0;
    }
    if (rc != XL_PIDFILE_BUSY || (!pid && !(pid = holder))) {
        fprintf(stderr, "xl devd: cannot tell from %s which devd runs\n",
                pidfile);
        return 0;
    }
    return pid;
}

/* Signals pid and waits (3 s at most) for path to change. */
static int status_wait(pid_t pid, const char *path)
{
    struct stat before, after;
    int i;

    if (stat(path, &before))
        memset(&before, 0, sizeof(before));
    if (kill(pid, SIGUSR1)) {
        fprintf(stderr, "xl devd: cannot signal pid %ld: %s\n", (long)pid,
                strerror(errno));
        return -1;
    }
    for (i = 0; i < 300; i++) {
        if (!stat(path, &after) &&
            (after.st_ino != before.st_ino ||
             after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
             after.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "xl devd: pid %ld did not write %s\n", (long)pid, path);
    return -1;
}

int xl_devd_status_print(const char *pidfile, const char *path, bool json)
{
    pid_t pid = status_holder(pidfile);
    char line[512], jpath[256];
    FILE *f;

    if (!pid || status_wait(pid, path))
        return EXIT_FAILURE;
    snprintf(jpath, sizeof(jpath), "%s.json", path);
    f = fopen(json ? jpath : path, "re");
    if (!f) {
        perror(json ? jpath : path);
        return EXIT_FAILURE;
    }
    while (fgets(line, sizeof(line), f))
        fputs(line, stdout);
    fclose(f);
    return EXIT_SUCCESS;
}
