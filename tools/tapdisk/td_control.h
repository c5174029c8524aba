/*
 * tapdisk's control server: the protocol of td_proto.h on a Unix socket,
 * for devd's ring server and td-ctl.  Only root or tapdisk's own user may
 * connect.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_CONTROL_H
#define TD_CONTROL_H

#include <poll.h>
#include <stdbool.h>

#define TD_MAX_CLIENTS 16

void td_control_init(int listen_fd);
/* Adds the listening socket and every client to pfd; how many. */
int td_control_pollfds(struct pollfd *pfd);
/* Serves what the poll found on the entries td_control_pollfds filled. */
void td_control_serve(const struct pollfd *pfd);
/* A client asked us to exit. */
bool td_control_exit_asked(void);

#endif
