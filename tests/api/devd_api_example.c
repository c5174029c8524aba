/*
 * An example libxl API caller of libxl_device_events_handler: it runs the
 * handler asynchronously, with a completion callback, inside its own poll()
 * loop (libxl_osevent_beforepoll/afterpoll), serves devices for a while and
 * then aborts it with libxl_ao_abort.
 *
 *   devd-api-example [-t SECONDS] [-s STOPFILE]
 *
 * Stops after SECONDS (default 30) or as soon as STOPFILE exists.  Prints
 * "api: handler running", then "api: completed rc=N" from the callback, and
 * exits 0 only if the handler completed with ERROR_ABORTED after our abort.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <libxl.h>
#include <xentoollog.h>

typedef struct {
    int completed;
    int rc;
} example_state;

static void handler_done(libxl_ctx *ctx, int rc, void *for_callback)
{
    example_state *st = for_callback;

    st->completed = 1;
    st->rc = rc;
    printf("api: completed rc=%d\n", rc);
    fflush(stdout);
}

/* One round of our own event loop: libxl tells us what to poll for. */
static int loop_once(libxl_ctx *ctx, int timeout_ms)
{
    struct pollfd fds[64];
    int nfds = 64, rc;
    struct timeval now;

    gettimeofday(&now, NULL);
    rc = libxl_osevent_beforepoll(ctx, &nfds, fds, &timeout_ms, now);
    if (rc) {
        fprintf(stderr, "api: beforepoll needs %d fds (%d)\n", nfds, rc);
        return -1;
    }
    if (poll(fds, nfds, timeout_ms) < 0 && errno != EINTR) {
        perror("poll");
        return -1;
    }
    gettimeofday(&now, NULL);
    libxl_osevent_afterpoll(ctx, nfds, fds, now);
    return 0;
}

/* What the handler tracks, through the API, as libxl's JSON. */
static void print_status(libxl_ctx *ctx)
{
    libxl_device_events_status status;
    char *json;
    int rc;

    libxl_device_events_status_init(&status);
    rc = libxl_device_events_get_status(ctx, &status);
    if (rc) {
        printf("api: status failed (%d)\n", rc);
    } else {
        json = libxl_device_events_status_to_json(ctx, &status);
        printf("api: status: %d guests, %d devices, %d slots: %s\n",
               status.num_guests, status.num_devices, status.slots,
               json ? json : "(no JSON)");
        free(json);
    }
    libxl_device_events_status_dispose(&status);
}

int main(int argc, char **argv)
{
    const char *stopfile = NULL;
    int seconds = 30, opt, rc, aborted = 0;
    xentoollog_logger_stdiostream *logger;
    libxl_ctx *ctx = NULL;
    example_state st = { 0, 0 };
    libxl_asyncop_how how;
    libxl_device_events_params params;
    struct timeval start, now;

    while ((opt = getopt(argc, argv, "t:s:")) != -1) {
        switch (opt) {
        case 't': seconds = atoi(optarg); break;
        case 's': stopfile = optarg; break;
        default:
            fprintf(stderr, "usage: %s [-t SECONDS] [-s STOPFILE]\n", argv[0]);
            return 2;
        }
    }

    logger = xtl_createlogger_stdiostream(stderr, XTL_INFO, 0);
    if (!logger || libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0,
                                   (xentoollog_logger *)logger)) {
        fprintf(stderr, "api: cannot create a libxl context\n");
        return 1;
    }

    memset(&how, 0, sizeof(how));
    how.callback = handler_done;
    how.u.for_callback = &st;
    /* The administrator's settings, through the API: one script at once. */
    libxl_device_events_params_init(&params);
    params.script_slots = 1;
    rc = libxl_device_events_handler_params(ctx, &params, &how);
    libxl_device_events_params_dispose(&params);
    if (rc) {
        fprintf(stderr, "api: handler failed to start (%d)\n", rc);
        goto out;
    }
    printf("api: handler running\n");
    fflush(stdout);

    gettimeofday(&start, NULL);
    while (!st.completed) {
        if (loop_once(ctx, 200))
            break;
        gettimeofday(&now, NULL);
        if (!aborted && (now.tv_sec - start.tv_sec >= seconds ||
                         (stopfile && access(stopfile, F_OK) == 0))) {
            print_status(ctx);
            printf("api: aborting\n");
            fflush(stdout);
            rc = libxl_ao_abort(ctx, &how);
            if (rc) {
                fprintf(stderr, "api: libxl_ao_abort failed (%d)\n", rc);
                break;
            }
            aborted = 1;
        }
    }
    rc = (st.completed && aborted && st.rc == ERROR_ABORTED) ? 0 : 1;

out:
    libxl_ctx_free(ctx);
    xtl_logger_destroy((xentoollog_logger *)logger);
    return rc ? 1 : 0;
}
