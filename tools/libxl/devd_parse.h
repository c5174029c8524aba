/*
 * Strict parsers for what the driver-domain listener reads from XenStore.
 * Pure functions: no libxl, no XenStore, so they are unit-tested and fuzzed
 * on their own.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef DEVD_PARSE_H
#define DEVD_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Largest domid a guest can have (DOMID_FIRST_RESERVED - 1). */
#define DEVD_DOMID_MAX 0x7FEFu
/* libxl keeps devids in an int. */
#define DEVD_DEVID_MAX 0x7FFFFFFFu
/* Longest backend kind name we accept (plus NUL); "console" is 7. */
#define DEVD_KIND_LEN 16
/* XenbusState values (xen/io/xenbus.h). */
#define DEVD_XENBUS_STATE_MAX 8

enum {
    DEVD_PARSE_OK = 0,
    DEVD_PARSE_EMPTY = -1,      /* "" */
    DEVD_PARSE_JUNK = -2,       /* not a plain decimal number */
    DEVD_PARSE_RANGE = -3,      /* a number, but out of range */
};

/*
 * A plain decimal number in [0, max]: digits only, no sign, no spaces, no
 * leading zeros (other than "0" itself), nothing after it.
 */
int libxl__devd_parse_uint(const char *s, uint32_t max, uint32_t *out);

/* A XenbusState, 0..8. */
int libxl__devd_parse_state(const char *s, int *state_r);

/* A backend `online` flag: "0" or "1". */
int libxl__devd_parse_online(const char *s, int *online_r);

/* Where an event path lies below /local/domain/<self>/backend. */
typedef enum {
    DEVD_PATH_OUTSIDE,    /* not under the backend directory at all */
    DEVD_PATH_INVALID,    /* under it, but a component is malformed */
    DEVD_PATH_BACKEND,    /* the backend directory itself */
    DEVD_PATH_KIND,       /* backend/<kind> */
    DEVD_PATH_GUEST,      /* backend/<kind>/<domid> */
    DEVD_PATH_DEVICE,     /* backend/<kind>/<domid>/<devid>[/<key>...] */
} devd_path_level;

typedef struct {
    devd_path_level level;
    char kind[DEVD_KIND_LEN];  /* valid from DEVD_PATH_KIND */
    uint32_t domid;            /* valid from DEVD_PATH_GUEST */
    uint32_t devid;            /* valid at DEVD_PATH_DEVICE */
    /* The rest below the device directory ("" for the directory itself,
     * "state", "online", "a/b" ...).  Points into the parsed path. */
    const char *key;
} devd_path;

/*
 * Parses event_path against be_path (the absolute backend directory, no
 * trailing slash).  Kinds are [a-z0-9] names; domids and devids strict
 * decimals in range.  Returns the level (also stored in *out).
 */
devd_path_level libxl__devd_parse_path(const char *be_path,
                                       const char *event_path,
                                       devd_path *out);

/*
 * Renders len bytes of untrusted text (a value a guest wrote) for a log
 * line, XenStore or the status: printable ASCII as it is, a backslash or a
 * double quote escaped with a backslash, \n \r \t, and every other byte
 * as \xHH.  At most outsz - 1 characters (outsz >= 8); longer text ends
 * with "...".  Returns out.
 */
#define DEVD_SHOW_LEN 100
char *libxl__devd_escape(char *out, size_t outsz, const char *in, size_t len);

/*
 * Whether a value read from XenStore as len bytes is a C string of that
 * length: one with a NUL byte inside ("13\0junk") would otherwise be read
 * up to the NUL ("13").
 */
int libxl__devd_value_whole(const char *v, size_t len);

/*
 * Does a process command line (as in /proc/PID/cmdline: NUL-separated
 * arguments, len bytes) carry "-xen-domid" "<domid>"?  Tells our QEMU for a
 * guest from whatever process reused its pid.
 */
int libxl__devd_cmdline_serves_domid(const char *cmdline, size_t len,
                                     uint32_t domid);

#endif
