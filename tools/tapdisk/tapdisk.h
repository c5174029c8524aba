/*
 * What tapdisk's files share: a disk (one image and the ring that feeds
 * it), a request in flight, and the log.
 *
 *   tapdisk.c     the loop (sleeping in io_uring, or poll): control
 *                 clients, event channel, I/O completions, signals
 *   td_control.c  the control protocol server (td_proto.h)
 *   td_disk.c     image formats: opening, sizing, closing an image
 *   td_vhd_disk.c a VHD image: its metadata in the file, requests mapped
 *   td_vhd.c      the VHD format: parsing, validation, arithmetic (pure)
 *   td_ring.c     the shared ring: attach, decode, validate, answer
 *   td_req.c      a validated request's life: buffers, guest memory, I/O
 *   td_journal.c  a ring's requests in flight, kept for a successor
 *   td_engine.c   the I/O engine: io_uring, or synchronous without it
 *   td_gmem.c     guest memory: grant copy (batched) or grant mapping
 *   td_pool.c     a ring's data buffers (pure)
 *   td_blkif.c    ring layouts and request validation (pure)
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TAPDISK_H
#define TAPDISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <xenevtchn.h>
#include <xentoollog.h>

#include "td_blkif.h"
#include "td_journal.h"
#include "td_pgnt.h"
#include "td_pool.h"
#include "td_proto.h"
#include "td_ratelimit.h"

#define TD_MAX_DISKS 16

/*
 * Data buffers per ring, in pages (grant copy): a request takes a run of
 * pages while in flight and waits, unconsumed, when none is free.  4 MiB
 * keeps 32 requests of 128 KiB (blkfront's default indirect size) or four
 * of 1 MiB in flight, and bounds what a guest can make us hold.
 */
#define TD_RING_BUF_PAGES 1024

struct td_disk;
struct td_vhd_disk;

/*
 * A file range a request moves: data to or from iov (niov > 0), a hole
 * punched (a discard), or nothing (niov 0 in a read or a write: zeros the
 * format filled in).  A request that spans several blocks of an image
 * has one per block; one over at most 3 blocks (TD_VHD_MIN_BLOCK), and a
 * discard takes its blocks TD_IO_MAX_EXT at a time.
 */
#define TD_IO_MAX_EXT 16
typedef struct td_ext {
    uint64_t off, len;          /* in the file, bytes */
    struct iovec *iov;
    unsigned int niov;
} td_ext;

/* One request in flight.  A ring has one per ring entry, allocated when
 * it connects, never per request. */
typedef struct td_io {
    struct td_disk *d;
    uint64_t id;
    uint8_t op;                 /* as the frontend sent it: echoed back */
    bool to_guest;              /* a read */
    bool barrier;               /* a write barrier: nothing passes it */
    bool flush;                 /* fdatasync after the data */
    bool discard;               /* a hole punch over the sectors */
    bool held;                  /* its data sits in persistent grants */
    int16_t status;
    int16_t gnt_err;            /* a grant copy failed: its status */
    uint32_t jslot;             /* its slot in the ring's journal */
    int pending;                /* engine operations not completed yet */
    uint16_t nsegs;             /* data segments in seg[] */
    uint64_t sector, nr_sectors;
    size_t want;                /* bytes the data operations must move */
    size_t moved;               /* bytes they moved so far */
    bool mapped;                /* its format filled ext[]; else its own
                                   range is its one extent */
    unsigned int nexts;         /* extents in ext[] */
    bool zmask_on;              /* sectors to zero after the read */
    uint64_t cont;              /* the format's: where to go on */
    uint8_t *buf;               /* copy: a pool run; map: the grants;
                                   held: NULL */
    unsigned int npages;        /* of buf */
    unsigned int niov;
    struct iovec iov[TD_MAX_INDIRECT_SEGS];
    td_seg seg[TD_MAX_INDIRECT_SEGS];
    td_ext ext[TD_IO_MAX_EXT];
    struct iovec xiov[TD_MAX_INDIRECT_SEGS + TD_IO_MAX_EXT];
    uint8_t zmask[TD_MAX_INDIRECT_SEGS * TD_SECTORS_PER_PAGE / 8];
    struct td_io *next;         /* free list, or a list of ios to finish */
} td_io;

/* Requests in a queue, first in first out, through their next. */
typedef struct {
    td_io *head, *last;
} td_ioq;

typedef struct td_ring {
    bool connected;
    td_io *ios;                 /* geom.nr_ents slots */
    td_io *free_ios;
    td_ioq staged;              /* writes waiting for their copy in */
    unsigned int inflight;
    bool barrier_wait;          /* a barrier is in flight: consume nothing */
    bool stalled;               /* stopped until a request completes */
    bool notify;                /* responses written since the last push */
    bool more;                  /* requests left after its last batch */
    bool quiet;                 /* served without asking for an event
                                   (polling): the loop owes it a look */
    uint32_t domid, devid, order, proto, port;
    uint32_t gref[TD_MAX_RING_PAGES];
    evtchn_port_t lport;
    uint8_t *sring;             /* the shared pages */
    td_ring_geom geom;
    uint32_t req_cons, rsp_prod_pvt;
    td_pool pool;               /* data buffers (grant copy) */
    uint64_t moved_now, moved_later;    /* data moves, inline or queued */
    uint64_t slow_writes;       /* inline writes that sent the rest back */
    bool persistent;            /* the frontend keeps its grants */
    td_pgnt pg;                 /* the grants we hold for it */
    uint8_t *indirect;          /* TD_MAX_INDIRECT_PAGES private pages */
    td_jnl jnl;                 /* what is in flight, for a successor */
    uint32_t *jfree, njfree;    /* its free slots */
    uint32_t *jpushed, njpushed;        /* answered, freed at the push */
    uint8_t *owed;              /* entries a dead tapdisk left unanswered, */
    uint32_t *owed_idx;         /* their ring indexes, */
    uint32_t *owed_slot;        /* their journal slots, */
    uint32_t nowed, owed_next;  /* taken before the ring's */
} td_ring;

typedef struct td_disk {
    bool used;
    char path[TD_PATH_LEN];     /* as given: "<format>:<file>" */
    int fd;
    struct td_vhd_disk *vhd;    /* a VHD image's state, or NULL (raw) */
    uint64_t sectors;
    bool readonly, discard;
    bool no_nowait_write;       /* its file system blocks buffered writes */
    uint64_t inline_after;      /* no inline write before (coarse clock) */
    td_ring r;
    td_stats st;
    td_ratelimit rl;            /* for the lines about it */
} td_disk;

extern td_disk td_disks[TD_MAX_DISKS];

void td_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For the Xen libraries' handles: drops their own messages. */
xentoollog_logger *td_xen_logger(void);

/* Every line about a disk is one its guest can cause (connecting in a
 * loop, failing requests): at most TD_RL_BURST a minute per disk. */
#define DLOG(dk, fmt, ...) do {                                         \
        unsigned int drop_;                                             \
        if (td_ratelimit_ok(&(dk)->rl, td_ratelimit_now(), &drop_))    \
            td_log("minor %d (domain %u vdev %u): " fmt "%s%.0u%s",    \
                   (int)((dk) - td_disks), (dk)->r.domid, (dk)->r.devid, \
                   ##__VA_ARGS__, drop_ ? " (" : "", drop_,             \
                   drop_ ? " such lines dropped)" : "");                \
    } while (0)

#endif
