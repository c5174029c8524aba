/* The listener core's unit tests: what the tests see of the fake libxl. */
#ifndef FAKE_LIBXL_H
#define FAKE_LIBXL_H

#include "libxl_internal.h"

#define FAKE_SELF 5             /* the driver domain's domid */
#define FAKE_WATCHES 64

struct libxl__devd_state;

typedef struct {
    libxl__ao *top;             /* the handler's ao while it runs */
    bool completed;
    int complete_rc;
    int nested;                 /* nested aos alive */
    libxl__ao_abortable *abrt;
    libxl__ev_xswatch *watches[FAKE_WATCHES];
    int registered;
    struct libxl__devd_state *dds;     /* the registered handler */
    int txn_conflicts;          /* the next commits that meet a conflict */
    bool xs_fail_reads, xs_fail_writes, watch_fail, no_domid;
    int nlog[4];
    char last_log[512];
#define FAKE_LOGS 64
    char logs[FAKE_LOGS][256];      /* the last lines, and their levels */
    int log_level[FAKE_LOGS];
    unsigned int nlogs;
} fake_world;

extern fake_world W;

void fake_xs_write(const char *path, const char *value);
void fake_xs_write_len(const char *path, const char *value, unsigned int len);
const char *fake_xs_get(const char *path);
void fake_xs_rm(const char *path);
void fake_xs_reset(void);
/* The level of the first of the last FAKE_LOGS lines holding substr (the
 * line in line[len] if not NULL), or -1. */
int fake_logged(const char *substr, char *line, size_t len);
/* A watch event on event_path, as xenstored would send it. */
void fake_fire(libxl_ctx *ctx, const char *event_path);
/* libxl_ao_abort on the handler. */
void fake_abort(libxl_ctx *ctx);

#endif
