/*
 * td-ctl: talk to a tapdisk over its control socket, in the spirit of
 * blktap's tap-ctl.  For operators and tests.
 *
 *   td-ctl spawn SOCKET [LOGFILE]     start a tapdisk listening on SOCKET
 *   td-ctl -s SOCKET pid | list | exit
 *   td-ctl -s SOCKET open [-r] aio:/path/to/image
 *   td-ctl -s SOCKET info|stats|close|disconnect MINOR
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "td_proto.h"

#define TIMEOUT_MS 10000

static int sock_fd = -1;
static uint8_t rbuf[TD_MSG_MAX];
static size_t rlen;

static int connect_to(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "td-ctl: socket path too long\n");
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        fprintf(stderr, "td-ctl: cannot connect to %s: %s\n", path,
                strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static int send_msg(td_msg *m)
{
    uint8_t buf[TD_MSG_MAX];
    int n = td_encode(m, buf, sizeof(buf));

    if (n < 0) {
        fprintf(stderr, "td-ctl: cannot encode: %s\n", td_err_name(n));
        return -1;
    }
    if (send(sock_fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "td-ctl: send: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Waits for one whole message; 1 on end of file. */
static int recv_msg(td_msg *m)
{
    struct pollfd p = { .fd = sock_fd, .events = POLLIN };
    int n;

    for (;;) {
        n = td_decode(rbuf, rlen, m);
        if (n > 0) {
            memmove(rbuf, rbuf + n, rlen - (size_t)n);
            rlen -= (size_t)n;
            return 0;
        }
        if (n != TD_ERR_SHORT) {
            fprintf(stderr, "td-ctl: bad reply: %s\n", td_err_name(n));
            return -1;
        }
        if (poll(&p, 1, TIMEOUT_MS) != 1) {
            fprintf(stderr, "td-ctl: no reply within %d ms\n", TIMEOUT_MS);
            return -1;
        }
        n = (int)recv(sock_fd, rbuf + rlen, sizeof(rbuf) - rlen, 0);
        if (n == 0)
            return 1;
        if (n < 0) {
            fprintf(stderr, "td-ctl: recv: %s\n", strerror(errno));
            return -1;
        }
        rlen += (size_t)n;
    }
}

static int request(td_msg *req, td_msg *rsp)
{
    static uint16_t cookie;
    int rc;

    req->cookie = ++cookie;
    if (send_msg(req))
        return -1;
    rc = recv_msg(rsp);
    if (rc)
        return -1;
    if (rsp->cookie != req->cookie) {
        fprintf(stderr, "td-ctl: reply to another request\n");
        return -1;
    }
    if (rsp->type == TD_MSG_ERROR) {
        fprintf(stderr, "td-ctl: %s: %s (%s)\n", td_msg_name(req->type),
                rsp->u.response.message, strerror(rsp->u.response.error));
        return -1;
    }
    if (rsp->type != td_response_type(req->type)) {
        fprintf(stderr, "td-ctl: unexpected %s\n", td_msg_name(rsp->type));
        return -1;
    }
    return 0;
}

static int parse_minor(const char *s, uint32_t *minor)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > 0xFFFF) {
        fprintf(stderr, "td-ctl: bad minor \"%s\"\n", s);
        return -1;
    }
    *minor = (uint32_t)v;
    return 0;
}

static int spawn(const char *sock, const char *logfile)
{
    char self[4096], *slash, tapdisk[4200];
    const char *td = getenv("TAPDISK");
    ssize_t n;
    pid_t pid;
    int i, fd, status;

    if (!td) {
        /* tapdisk lives beside td-ctl. */
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            return 1;
        self[n] = 0;
        slash = strrchr(self, '/');
        *slash = 0;
        snprintf(tapdisk, sizeof(tapdisk), "%s/tapdisk", self);
        td = tapdisk;
    }
    pid = fork();
    if (pid < 0)
        return 1;
    if (!pid) {
        setsid();
        if (!fork()) {
            int nul = open("/dev/null", O_RDWR);
            dup2(nul, 0);
            dup2(nul, 1);
            if (!logfile)
                dup2(nul, 2);
            execl(td, "tapdisk", "-s", sock, logfile ? "-l" : NULL,
                  logfile, (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    waitpid(pid, &status, 0);
    /* Ready when it answers. */
    for (i = 0; i < 100; i++) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            close(fd);
            return 0;
        }
        if (fd >= 0) close(fd);
        usleep(50000);
    }
    fprintf(stderr, "td-ctl: tapdisk did not come up on %s\n", sock);
    return 1;
}

static void usage(void)
{
    fprintf(stderr,
        "usage: td-ctl spawn SOCKET [LOGFILE]\n"
        "       td-ctl -s SOCKET pid|list|exit\n"
        "       td-ctl -s SOCKET open [-r] aio:/path/to/image\n"
        "       td-ctl -s SOCKET info|stats|close|disconnect MINOR\n");
}

static int cmd_list(void)
{
    td_msg req = { .type = TD_MSG_LIST, .minor = TD_NO_MINOR }, rsp;
    int i;

    if (request(&req, &rsp))
        return 1;
    for (i = 0; i < rsp.u.list.count; i++) {
        if (i && (recv_msg(&rsp) || rsp.type != TD_MSG_LIST_RSP))
            return 1;
        printf("minor=%d state=%s image=%s\n", rsp.u.list.minor,
               rsp.u.list.state == TD_IMG_CONNECTED ? "connected" : "open",
               rsp.u.list.path);
    }
    return 0;
}

static void print_image(const td_image *i)
{
    printf("sectors=%" PRIu64 " sector-size=%u info=%u features=0x%x\n",
           i->sectors, i->sector_size, i->info, i->features);
}

/* open [-r] IMAGE */
static int cmd_open(int argc, char **argv)
{
    td_msg req = { .type = TD_MSG_OPEN, .minor = TD_NO_MINOR }, rsp;

    if (argc >= 1 && !strcmp(argv[0], "-r")) {
        req.u.params.flags |= TD_FLAG_RDONLY;
        argv++;
        argc--;
    }
    if (argc != 1 || td_set_string(req.u.params.path, TD_PATH_LEN, argv[0])) {
        usage();
        return 2;
    }
    if (request(&req, &rsp))
        return 1;
    printf("minor=%u ", rsp.minor);
    print_image(&rsp.u.image);
    return 0;
}

/* info|stats|close|disconnect MINOR */
static int cmd_minor(const char *cmd, const char *minor)
{
    td_msg req = { .minor = TD_NO_MINOR }, rsp;
    int i;

    if (parse_minor(minor, &req.minor))
        return 2;
    req.type = !strcmp(cmd, "info") ? TD_MSG_DISK_INFO
             : !strcmp(cmd, "stats") ? TD_MSG_STATS
             : !strcmp(cmd, "close") ? TD_MSG_CLOSE
             : TD_MSG_XENBLKIF_DISCONNECT;
    if (request(&req, &rsp))
        return 1;
    if (req.type == TD_MSG_DISK_INFO)
        print_image(&rsp.u.image);
    else if (req.type == TD_MSG_STATS)
        for (i = 0; i < TD_STAT_COUNT; i++)
            printf("%s=%" PRIu64 "\n", td_stat_names[i], rsp.u.stats.v[i]);
    return 0;
}

int main(int argc, char **argv)
{
    td_msg req = { .minor = TD_NO_MINOR }, rsp;
    const char *cmd;

    if (argc >= 3 && !strcmp(argv[1], "spawn"))
        return spawn(argv[2], argc > 3 ? argv[3] : NULL);
    if (argc < 4 || strcmp(argv[1], "-s")) {
        usage();
        return 2;
    }
    cmd = argv[3];
    if ((sock_fd = connect_to(argv[2])) < 0)
        return 1;
    argv += 4;
    argc -= 4;
    if (!strcmp(cmd, "pid") && !argc) {
        req.type = TD_MSG_PID;
        if (request(&req, &rsp))
            return 1;
        printf("%u\n", rsp.u.pid);
        return 0;
    }
    if (!strcmp(cmd, "exit") && !argc) {
        req.type = TD_MSG_EXIT;
        if (send_msg(&req))
            return 1;
        /* No reply: the socket closes when it has gone. */
        return recv_msg(&rsp) == 1 ? 0 : 1;
    }
    if (!strcmp(cmd, "list") && !argc)
        return cmd_list();
    if (!strcmp(cmd, "open"))
        return cmd_open(argc, argv);
    if (argc == 1 && (!strcmp(cmd, "info") || !strcmp(cmd, "stats") ||
                      !strcmp(cmd, "close") || !strcmp(cmd, "disconnect")))
        return cmd_minor(cmd, argv[0]);
    usage();
    return 2;
}
