/*
 * The vbd3 ring server's client of the tapdisk control protocol
 * (libxl_devd_tdc.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef LIBXL_DEVD_TDC_H
#define LIBXL_DEVD_TDC_H

#include "libxl_devd_internal.h"
#include "td_proto.h"

#define DEVD_TDC_MAX_RSP 16
#define DEVD_TDC_MAX_LIST 64

typedef struct devd_tdc devd_tdc;
/* rc: 0 (rsp[0..nrsp) hold the answer, possibly a TD_MSG_ERROR),
 * ERROR_FAIL (connection broken; it is closed), ERROR_TIMEDOUT,
 * ERROR_ABORTED. */
typedef void devd_tdc_reply_fn(libxl__egc *egc, devd_tdc *c, int rc);
typedef void devd_tdc_lost_fn(libxl__egc *egc, devd_tdc *c);

struct devd_tdc {
    /* filled by the owner */
    uint32_t domid, devid;      /* for log lines */
    devd_tdc_lost_fn *lost;     /* the connection broke between requests */
    /* private */
    int fd;
    libxl__ev_fd efd;
    libxl__ev_time timeout;
    devd_tdc_reply_fn *reply;   /* set while a request runs */
    unsigned int want, req_type;
    uint16_t cookie;
    int nrsp, expect;
    td_msg rsp[DEVD_TDC_MAX_RSP];
    uint8_t buf[TD_MSG_MAX];
    size_t len;
};

_hidden void libxl__devd_tdc_init(devd_tdc *c);
/* 0, ERROR_NOTFOUND if no tapdisk listens there, or another error. */
_hidden int libxl__devd_tdc_connect(libxl__gc *gc, devd_tdc *c,
                                    const char *path);
_hidden bool libxl__devd_tdc_connected(const devd_tdc *c);
/* On 0, cb is called exactly once, later. */
_hidden int libxl__devd_tdc_request(libxl__ao *ao, devd_tdc *c, td_msg *req,
                                    int timeout_ms, devd_tdc_reply_fn *cb);
/* A message that has no answer (EXIT). */
_hidden int libxl__devd_tdc_send(libxl__gc *gc, devd_tdc *c, td_msg *req);
/* Idempotent; not while a request runs. */
_hidden void libxl__devd_tdc_close(libxl__gc *gc, devd_tdc *c);

#endif
