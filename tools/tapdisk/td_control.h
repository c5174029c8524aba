/*
 * tapdisk's control server: the protocol of td_proto.h on a Unix socket,
 * for devd's ring server and td-ctl.  Only root or tapdisk's own user may
 * connect.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_CONTROL_H
#define TD_CONTROL_H

#include <stdbool.h>

#define TD_MAX_CLIENTS 16

/* 0, or -1 (logged) if the listening socket cannot be watched. */
int td_control_init(int listen_fd);
/* One fd, readable while the listening socket or a client has something
 * to serve. */
int td_control_fd(void);
/* Serves what is ready, without waiting. */
void td_control_serve(void);
/* A client asked us to exit. */
bool td_control_exit_asked(void);

#endif
