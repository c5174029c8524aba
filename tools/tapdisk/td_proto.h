/*
 * The tapdisk control protocol: message types, payload layouts, and a
 * strict codec.  Shared by devd's ring server (inside libxl), the tapdisk
 * data plane and td-ctl.  Pure: no I/O, no libxl.
 *
 * The message set is blktap3's (tapdisk-message.h): the same type numbers,
 * flags and payloads.  The wire form is ours: a 12-byte header (type,
 * cookie, minor, payload length) followed by the payload of exactly the
 * size its type requires, every field little-endian at a fixed offset, so
 * that no struct padding or compiler decides what goes on the socket.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#ifndef TD_PROTO_H
#define TD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TD_PATH_LEN    256      /* TAPDISK_MESSAGE_MAX_PATH_LENGTH */
#define TD_STRING_LEN  256      /* TAPDISK_MESSAGE_STRING_LENGTH */
#define TD_HDR_LEN     12
#define TD_MSG_MAX     1024     /* no encoded message is longer */

/* Largest ring the blkif payload can describe: gref[8] is 2^3 pages. */
#define TD_MAX_RING_ORDER 3
#define TD_MAX_RING_PAGES (1u << TD_MAX_RING_ORDER)

/* Minor of messages that concern no image (PID, LIST, EXIT). */
#define TD_NO_MINOR 0xFFFFFFFFu

/* Open flags (32 bits, as in blktap3). */
#define TD_FLAG_SHARED      0x001
#define TD_FLAG_RDONLY      0x002
#define TD_FLAG_ADD_CACHE   0x004
#define TD_FLAG_VHD_INDEX   0x008
#define TD_FLAG_LOG_DIRTY   0x010
#define TD_FLAG_ADD_LCACHE  0x020
#define TD_FLAG_REUSE_PRT   0x040
#define TD_FLAG_SECONDARY   0x080
#define TD_FLAG_STANDBY     0x100
#define TD_FLAGS_KNOWN      0x1FF

/* VDISK_* info bits (xen/io/blkif.h). */
#define TD_INFO_CDROM     1
#define TD_INFO_REMOVABLE 2
#define TD_INFO_READONLY  4

/* Ring layouts (blkif payload `proto`). */
enum td_proto {
    TD_PROTO_NATIVE = 0,
    TD_PROTO_X86_32 = 1,
    TD_PROTO_X86_64 = 2,
};
#define TD_PROTO_MAX TD_PROTO_X86_64

/* Message types: blktap3's numbering. */
enum td_msg_type {
    TD_MSG_ERROR = 1,
    TD_MSG_RUNTIME_ERROR,
    TD_MSG_PID,
    TD_MSG_PID_RSP,
    TD_MSG_OPEN,
    TD_MSG_OPEN_RSP,
    TD_MSG_PAUSE,
    TD_MSG_PAUSE_RSP,
    TD_MSG_RESUME,
    TD_MSG_RESUME_RSP,
    TD_MSG_CLOSE,
    TD_MSG_CLOSE_RSP,
    TD_MSG_ATTACH,
    TD_MSG_ATTACH_RSP,
    TD_MSG_DETACH,
    TD_MSG_DETACH_RSP,
    TD_MSG_LIST_MINORS,
    TD_MSG_LIST_MINORS_RSP,
    TD_MSG_LIST,
    TD_MSG_LIST_RSP,
    TD_MSG_STATS,
    TD_MSG_STATS_RSP,
    TD_MSG_FORCE_SHUTDOWN,
    TD_MSG_DISK_INFO,
    TD_MSG_DISK_INFO_RSP,
    TD_MSG_XENBLKIF_CONNECT,
    TD_MSG_XENBLKIF_CONNECT_RSP,
    TD_MSG_XENBLKIF_DISCONNECT,
    TD_MSG_XENBLKIF_DISCONNECT_RSP,
    TD_MSG_EXIT,
};
#define TD_MSG_TYPE_MAX TD_MSG_EXIT

/* OPEN */
typedef struct {
    uint32_t flags;
    uint32_t devnum;
    uint32_t domid;
    char path[TD_PATH_LEN];         /* "<format>:<file>", e.g. aio:/img */
    uint32_t prt_devnum;
    char secondary[TD_PATH_LEN];
} td_params;

/* OPEN_RSP, DISK_INFO_RSP.  features: what this tapdisk implements for
 * the image, from which devd writes exactly the matching feature-* keys
 * (blktap3's image payload has no such field; ours is at its end). */
typedef struct {
    uint64_t sectors;
    uint32_t sector_size;
    uint32_t info;
    uint32_t features;              /* TD_FEAT_* */
} td_image;
#define TD_FEAT_FLUSH    0x1        /* BLKIF_OP_FLUSH_DISKCACHE */
#define TD_FEAT_BARRIER  0x2        /* BLKIF_OP_WRITE_BARRIER */
#define TD_FEAT_DISCARD  0x4        /* BLKIF_OP_DISCARD */
#define TD_FEAT_INDIRECT 0x8        /* BLKIF_OP_INDIRECT, 256 segments */
#define TD_FEAT_PERSISTENT 0x10     /* feature-persistent */
#define TD_FEATS_KNOWN   0x1F
/* With TD_FEAT_INDIRECT: the segments an indirect request may carry
 * (feature-max-indirect-segments; 1 MiB, as Linux blkback). */
#define TD_INDIRECT_SEGS 256

/* ERROR, RUNTIME_ERROR: error is a positive errno value. */
typedef struct {
    int32_t error;
    char message[TD_STRING_LEN];
} td_response;

/* LIST_RSP: one per image; count is the total (0: one reply, minor -1). */
typedef struct {
    int32_t count;
    int32_t minor;
    int32_t state;                  /* TD_IMG_* */
    char path[TD_PATH_LEN];
} td_list;
#define TD_IMG_OPEN      0
#define TD_IMG_CONNECTED 1

/* STATS_RSP: counters of one image (blktap3 sends a JSON blob here). */
enum {
    TD_STAT_REQS_READ, TD_STAT_REQS_WRITE, TD_STAT_REQS_FLUSH,
    TD_STAT_REQS_DISCARD, TD_STAT_SECTORS_READ, TD_STAT_SECTORS_WRITTEN,
    TD_STAT_ERRORS,             /* requests answered BLKIF_RSP_ERROR */
    TD_STAT_BAD_REQUESTS,       /* of which malformed by the frontend */
    TD_STAT_NOTIFY,             /* notifications sent to the frontend */
    TD_STAT_COUNT
};
typedef struct {
    uint64_t v[TD_STAT_COUNT];
} td_stats;
extern const char *const td_stat_names[TD_STAT_COUNT];

/* XENBLKIF_CONNECT, XENBLKIF_DISCONNECT.  flags (ours, after blktap3's
 * payload) travel only when not 0, so a tapdisk that predates them still
 * understands every message a devd sends it: devd sets a flag only for a
 * feature the tapdisk announced (TD_FEAT_*). */
typedef struct {
    uint32_t domid;
    uint32_t devid;
    uint32_t gref[TD_MAX_RING_PAGES];
    uint32_t order;
    uint32_t proto;                 /* enum td_proto */
    char pool[TD_STRING_LEN];
    uint32_t port;
    uint32_t flags;                 /* TD_BLKIF_* */
} td_blkif;
#define TD_BLKIF_PERSISTENT 0x1     /* the frontend keeps its grants */
/* The ring is live: a tapdisk that died served it (td_journal.h). */
#define TD_BLKIF_TAKEOVER 0x2
#define TD_BLKIF_FLAGS_KNOWN 0x3

typedef struct {
    uint16_t type;
    uint16_t cookie;
    uint32_t minor;
    union {
        uint32_t pid;               /* PID_RSP */
        td_params params;
        td_image image;
        td_response response;
        td_list list;
        td_stats stats;
        td_blkif blkif;
    } u;
} td_msg;

enum {
    TD_OK = 0,
    TD_ERR_SHORT = -1,      /* need more bytes (decode) / buffer too small */
    TD_ERR_TYPE = -2,       /* unknown message type */
    TD_ERR_LENGTH = -3,     /* payload length not what the type requires */
    TD_ERR_STRING = -4,     /* a string field without its NUL */
    TD_ERR_RANGE = -5,      /* a field out of its range */
};

const char *td_msg_name(unsigned int type);
const char *td_err_name(int err);
const char *td_proto_name(unsigned int proto);

/* Payload length a type carries on the wire, or -1 for an unknown type
 * (a blkif payload with flags is 4 bytes longer). */
int td_payload_len(unsigned int type);

/*
 * Encodes m into buf (at least TD_MSG_MAX bytes is always enough).
 * Returns the number of bytes, or a TD_ERR_* (the message would not
 * decode: strings without NUL, fields out of range).
 */
int td_encode(const td_msg *m, uint8_t *buf, size_t size);

/*
 * Decodes one message from the first len bytes of buf.  Returns the bytes
 * it used, TD_ERR_SHORT if the message is not complete yet (read more),
 * or another TD_ERR_* if the bytes are not a valid message (the peer is
 * broken: drop the connection).
 */
int td_decode(const uint8_t *buf, size_t len, td_msg *m);

/* The response type of a request, or 0 if it has none. */
unsigned int td_response_type(unsigned int request);

/* Copies s into a fixed string field; returns -1 if it does not fit. */
int td_set_string(char *field, size_t size, const char *s);

#endif
