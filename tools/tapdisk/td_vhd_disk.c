/*
 * A VHD image served by tapdisk (see td_vhd_disk.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td_vhd.h"
#include "td_vhd_disk.h"

/* What is known of a block's bitmap. */
enum { BLK_UNKNOWN, BLK_FULL, BLK_PARTIAL };

typedef struct td_vhd_disk {
    bool fixed, ro;
    td_vhd_geom g;
    uint32_t spb;               /* sectors a block */
    uint32_t *bat;              /* host order, g.nblocks entries */
    uint8_t *state;             /* BLK_*, a block each */
    uint8_t *bm;                /* one bitmap's bytes */
    uint8_t footer[TD_VHD_FOOTER];      /* as it is at the end */
    uint64_t alloc_end;         /* the end footer: a new block goes here */
    uint32_t nused;             /* blocks the BAT named at open */
    uint64_t allocated, given_back;     /* blocks, since it was opened */
    uint32_t *free_slots, nfree;        /* slots to use again (sectors) */
    uint32_t *pend, npend;      /* freed; usable once the BAT says so */
    bool leak_said;
} td_vhd_disk;

static int read_at(int fd, void *buf, size_t len, uint64_t off,
                   const char *what, char *why, size_t wl)
{
    ssize_t n = pread(fd, buf, len, (off_t)off);

    if (n == (ssize_t)len)
        return 0;
    snprintf(why, wl, "cannot read the %s at %" PRIu64 ": %s", what, off,
             n < 0 ? strerror(errno) : "the file ends first");
    return n < 0 ? errno : EINVAL;
}

static int write_at(int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n = pwrite(fd, buf, len, (off_t)off);

    if (n == (ssize_t)len)
        return 0;
    return n < 0 ? errno : ENOSPC;
}

static void vhd_free(td_vhd_disk *v)
{
    if (!v)
        return;
    free(v->bat);
    free(v->state);
    free(v->bm);
    free(v->free_slots);
    free(v->pend);
    free(v);
}

/*----- opening -----*/

/*
 * Which footer rules: the one at the end, or (a dynamic disk whose end
 * footer an interrupted allocation lost) its copy at offset 0, which is
 * also what qemu reads first.  *lost says the end footer must be written
 * again.
 */
static int read_footers(td_disk *d, td_vhd_disk *v, uint64_t fsize,
                        td_vhd_footer *f, bool *lost, char *why, size_t wl)
{
    uint8_t head[TD_VHD_FOOTER];
    td_vhd_footer hf;
    char ewhy[160], hwhy[160];
    int err, eerr, herr;

    if (fsize < TD_VHD_FOOTER) {
        snprintf(why, wl, "the file is too small for a VHD");
        return EINVAL;
    }
    err = read_at(d->fd, v->footer, TD_VHD_FOOTER, fsize - TD_VHD_FOOTER,
                  "footer", why, wl);
    if (!err)
        err = read_at(d->fd, head, TD_VHD_FOOTER, 0, "footer copy", why,
                      wl);
    if (err)
        return err;
    eerr = td_vhd_parse_footer(v->footer, f, ewhy, sizeof(ewhy));
    if (!eerr && f->type == TD_VHD_FIXED)
        return 0;
    herr = td_vhd_parse_footer(head, &hf, hwhy, sizeof(hwhy));
    if (herr) {
        snprintf(why, wl, "%s; the copy at offset 0: %s",
                 eerr ? ewhy : "the footer at the end is a dynamic disk's",
                 hwhy);
        return EINVAL;
    }
    if (!eerr && (hf.type != f->type || hf.size != f->size ||
                  hf.header_off != f->header_off ||
                  memcmp(hf.uuid, f->uuid, sizeof(f->uuid)))) {
        snprintf(why, wl, "the footer at the end and its copy at offset 0"
                 " disagree (type, size, header offset or uuid)");
        return EINVAL;
    }
    *lost = eerr != 0;
    if (*lost) {
        td_log("%s: the footer at the end is not one (%s): the copy at"
               " offset 0 rules", d->path, ewhy);
        memcpy(v->footer, head, TD_VHD_FOOTER);
        *f = hf;
    }
    return 0;
}

/* Slots between blocks that no BAT entry names (given back before a
 * restart): used again.  Space before the first block is left alone
 * (other tools keep metadata there). */
static void find_free_slots(td_vhd_disk *v, const uint32_t *sorted,
                            uint32_t n)
{
    uint64_t slot = td_vhd_slot(&v->g);
    uint32_t i;

    for (i = 0; i + 1 < n && v->nfree < v->g.nblocks; i++) {
        uint64_t at = (uint64_t)sorted[i] * TD_VHD_SECTOR + slot;
        uint64_t next = (uint64_t)sorted[i + 1] * TD_VHD_SECTOR;

        while (next - at >= slot && v->nfree < v->g.nblocks) {
            v->free_slots[v->nfree++] = (uint32_t)(at / TD_VHD_SECTOR);
            at += slot;
        }
    }
}

static int read_bat(td_disk *d, td_vhd_disk *v, char *why, size_t wl)
{
    uint32_t i, *scratch = calloc(v->g.nblocks, sizeof(*scratch));
    uint8_t *raw = (uint8_t *)v->bat;
    int err;

    if (!scratch) {
        snprintf(why, wl, "out of memory");
        return ENOMEM;
    }
    err = read_at(d->fd, raw, (size_t)v->g.nblocks * 4, v->g.table_off,
                  "BAT", why, wl);
    for (i = 0; !err && i < v->g.nblocks; i++)
        v->bat[i] = (uint32_t)raw[4 * i] << 24 |
                    (uint32_t)raw[4 * i + 1] << 16 |
                    (uint32_t)raw[4 * i + 2] << 8 | raw[4 * i + 3];
    if (!err)
        err = td_vhd_check_bat(&v->g, v->bat, scratch, &v->nused,
                               &v->alloc_end, why, wl);
    if (!err)
        find_free_slots(v, scratch, v->nused);
    free(scratch);
    return err;
}

/* Cuts off what follows the last block (an allocation cut short) and
 * writes the end footer where the next block goes. */
static int repair_end(td_disk *d, td_vhd_disk *v, uint64_t fsize,
                      char *why, size_t wl)
{
    int err = 0;

    if (fsize > v->alloc_end + TD_VHD_FOOTER &&
        ftruncate(d->fd, (off_t)(v->alloc_end + TD_VHD_FOOTER)))
        err = errno;
    if (!err)
        err = write_at(d->fd, v->footer, TD_VHD_FOOTER, v->alloc_end);
    if (!err && fdatasync(d->fd))
        err = errno;
    if (err) {
        snprintf(why, wl, "cannot write the end footer: %s", strerror(err));
        return err;
    }
    td_log("%s: end footer written again at %" PRIu64 " (the file had %"
           PRIu64 " bytes)", d->path, v->alloc_end, fsize);
    return 0;
}

static int open_dynamic(td_disk *d, td_vhd_disk *v, const td_vhd_footer *f,
                        uint64_t fsize, bool lost, char *why, size_t wl)
{
    uint8_t raw[TD_VHD_HEADER];
    td_vhd_header h;
    uint64_t data_end = lost ? fsize : fsize - TD_VHD_FOOTER;
    int err = td_vhd_header_at(f, data_end, why, wl);

    if (!err)
        err = read_at(d->fd, raw, sizeof(raw), f->header_off, "header", why,
                      wl);

    if (!err)
        err = td_vhd_parse_header(raw, &h, why, wl);
    if (!err && f->type == TD_VHD_DIFF) {
        snprintf(why, wl, "a differencing VHD (its parent: \"%s\") is not"
                 " supported", h.parent);
        err = EOPNOTSUPP;
    }
    if (!err)
        err = td_vhd_geometry(f, &h, data_end, &v->g, why, wl);
    if (err)
        return err;
    v->spb = v->g.block / TD_VHD_SECTOR;
    v->bat = malloc((size_t)v->g.nblocks * 4);
    v->state = calloc(v->g.nblocks, 1);
    v->bm = malloc(v->g.bitmap);
    v->free_slots = malloc((size_t)v->g.nblocks * 4);
    v->pend = malloc((size_t)v->g.nblocks * 4);
    if (!v->bat || !v->state || !v->bm || !v->free_slots || !v->pend) {
        snprintf(why, wl, "out of memory");
        return ENOMEM;
    }
    err = read_bat(d, v, why, wl);
    if (!err && !v->ro &&
        (lost || fsize != v->alloc_end + TD_VHD_FOOTER))
        err = repair_end(d, v, fsize, why, wl);
    return err;
}

int td_vhd_open(td_disk *d, bool ro, char *why, size_t wl)
{
    td_vhd_disk *v = calloc(1, sizeof(*v));
    td_vhd_footer f;
    struct stat st;
    bool lost = false;
    int err;

    if (!v) {
        snprintf(why, wl, "out of memory");
        return ENOMEM;
    }
    v->ro = ro;
    if (fstat(d->fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(why, wl, "a VHD image must be a regular file");
        vhd_free(v);
        return EINVAL;
    }
    err = read_footers(d, v, (uint64_t)st.st_size, &f, &lost, why, wl);
    if (!err && f.type == TD_VHD_FIXED) {
        v->fixed = true;
        if (f.size > (uint64_t)st.st_size - TD_VHD_FOOTER) {
            snprintf(why, wl, "footer: current size %" PRIu64 " does not"
                     " fit in the file", f.size);
            err = EINVAL;
        }
    } else if (!err) {
        err = open_dynamic(d, v, &f, (uint64_t)st.st_size, lost, why, wl);
    }
    if (err) {
        vhd_free(v);
        return err;
    }
    d->vhd = v;
    d->sectors = f.size / TD_SECTOR;
    if (v->fixed)
        td_log("%s: a fixed VHD of %" PRIu64 " bytes", d->path, f.size);
    else
        td_log("%s: a dynamic VHD of %" PRIu64 " bytes, %" PRIu32 " blocks"
               " of %" PRIu32 " KiB, %" PRIu32 " allocated, %" PRIu32
               " free slot(s)", d->path, f.size, v->g.nblocks,
               v->g.block >> 10, v->nused, v->nfree);
    return 0;
}

/*----- the BAT on disk -----*/

/* Writes block blk's BAT entry (an entry never straddles a sector: a
 * torn write tears none). */
static int write_entry(td_disk *d, td_vhd_disk *v, uint32_t blk)
{
    uint8_t be[4] = { (uint8_t)(v->bat[blk] >> 24),
                      (uint8_t)(v->bat[blk] >> 16),
                      (uint8_t)(v->bat[blk] >> 8), (uint8_t)v->bat[blk] };

    return write_at(d->fd, be, sizeof(be),
                    v->g.table_off + (uint64_t)blk * 4);
}

void td_vhd_close(td_disk *d)
{
    td_vhd_disk *v = d->vhd;

    if (!v)
        return;
    if (!v->ro && fdatasync(d->fd))
        td_log("%s: cannot flush it at close: %s", d->path, strerror(errno));
    if (!v->fixed)
        td_log("%s: %" PRIu64 " block(s) allocated, %" PRIu64 " given back"
               " while open", d->path, v->allocated, v->given_back);
    vhd_free(v);
    d->vhd = NULL;
}

/*----- blocks -----*/

/* Block blk's bitmap into v->bm, and what it says into v->state. */
static int load_bitmap(td_disk *d, td_vhd_disk *v, uint32_t blk)
{
    ssize_t n = pread(d->fd, v->bm, v->g.bitmap,
                      (off_t)v->bat[blk] * TD_VHD_SECTOR);

    if (n != (ssize_t)v->g.bitmap)
        return n < 0 ? errno : EIO;
    v->state[blk] = td_vhd_bits_full(v->bm, v->spb) ? BLK_FULL
                                                    : BLK_PARTIAL;
    return 0;
}

/* Writes the bitmap sectors that hold bits [in, in + cnt). */
static int store_bits(td_disk *d, td_vhd_disk *v, uint32_t blk,
                      uint32_t in, uint32_t cnt)
{
    uint32_t first = in / 8 / TD_VHD_SECTOR * TD_VHD_SECTOR;
    uint32_t last = (in + cnt - 1) / 8 / TD_VHD_SECTOR * TD_VHD_SECTOR +
                    TD_VHD_SECTOR;

    return write_at(d->fd, v->bm + first, last - first,
                    (uint64_t)v->bat[blk] * TD_VHD_SECTOR + first);
}

/* A write's sectors are there from now on. */
static int set_bits(td_disk *d, td_vhd_disk *v, uint32_t blk, uint32_t in,
                    uint32_t cnt)
{
    int err;

    if (v->state[blk] == BLK_FULL)
        return 0;
    if ((err = load_bitmap(d, v, blk)) || v->state[blk] == BLK_FULL)
        return err;
    td_vhd_bits(v->bm, in, cnt, true);
    if (td_vhd_bits_full(v->bm, v->spb))
        v->state[blk] = BLK_FULL;
    return store_bits(d, v, blk, in, cnt);
}

/* A discard's sectors read zeros from now on (their data is punched
 * too, for readers that ignore the bitmap, as qemu does). */
static int clear_bits(td_disk *d, td_vhd_disk *v, uint32_t blk,
                      uint32_t in, uint32_t cnt)
{
    int err = load_bitmap(d, v, blk);

    if (err)
        return err;
    td_vhd_bits(v->bm, in, cnt, false);
    v->state[blk] = BLK_PARTIAL;
    return store_bits(d, v, blk, in, cnt);
}

/*
 * A slot for block blk: one given back, or a new one at the end, the
 * footer moved past it first.  Its bitmap all ones: its data area is a
 * hole (new, or punched just now).  Both reach the disk
 * before the BAT entry names the block (power loss); the entry is written
 * before any write to the block is answered (a tapdisk killed, or
 * restarted, loses nothing it answered).
 */
static int allocate(td_disk *d, td_vhd_disk *v, uint32_t blk)
{
    uint64_t slot = td_vhd_slot(&v->g), at = 0;
    bool append = true;
    int err;

    /* A slot given back is punched again here: its discard may have
     * failed, or an earlier tapdisk may have died before punching it.
     * One that cannot be is left alone. */
    while (append && v->nfree) {
        at = (uint64_t)v->free_slots[--v->nfree] * TD_VHD_SECTOR;
        append = fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           (off_t)at, (off_t)slot) != 0;
    }
    if (append)
        at = v->alloc_end;
    if (at / TD_VHD_SECTOR >= TD_VHD_UNUSED)
        return ENOSPC;          /* past what a BAT entry can name */
    if (append && (err = write_at(d->fd, v->footer, TD_VHD_FOOTER,
                                  at + slot)))
        return err;
    memset(v->bm, 0xff, v->g.bitmap);
    if ((err = write_at(d->fd, v->bm, v->g.bitmap, at)))
        return err;
    if (fdatasync(d->fd))
        return errno;
    if (append)
        v->alloc_end = at + slot;
    v->bat[blk] = (uint32_t)(at / TD_VHD_SECTOR);
    v->state[blk] = BLK_FULL;
    v->allocated++;
    return write_entry(d, v, blk);
}

/* Block blk given back: its entry cleared on disk; its slot (the caller
 * punches it) waits for a flush. */
static int give_back(td_disk *d, td_vhd_disk *v, uint32_t blk)
{
    uint32_t at = v->bat[blk];

    v->bat[blk] = TD_VHD_UNUSED;
    v->state[blk] = BLK_UNKNOWN;
    if (write_entry(d, v, blk)) {
        v->bat[blk] = at;
        return errno ? errno : EIO;
    }
    if (v->npend < v->g.nblocks)
        v->pend[v->npend++] = at;
    else if (!v->leak_said) {
        v->leak_said = true;
        DLOG(d, "vhd: blocks given back faster than flushed: their"
             " slots are used again after a restart");
    }
    v->given_back++;
    return 0;
}

/* After a flush that made their cleared entries durable, with nothing
 * else in flight (no write can still land in them): the first n slots
 * given back may be used again. */
static void reuse_given_back(td_vhd_disk *v, uint32_t n)
{
    uint32_t i;

    if (n > v->npend)
        n = v->npend;
    for (i = 0; i < n && v->nfree < v->g.nblocks; i++)
        v->free_slots[v->nfree++] = v->pend[i];
    memmove(v->pend, v->pend + n, (size_t)(v->npend - n) * 4);
    v->npend -= n;
}

/*----- requests -----*/

/* Where the next byte of a request's data is. */
typedef struct {
    unsigned int i;
    size_t off;
} iov_cur;

/* Appends the next len bytes of io's data to extent e (in io->xiov, at
 * *nx), or zeroes them (e NULL). */
static void take_data(td_io *io, iov_cur *c, size_t len, td_ext *e,
                      unsigned int *nx)
{
    while (len) {
        struct iovec *src = &io->iov[c->i];
        uint8_t *p = (uint8_t *)src->iov_base + c->off;
        size_t n = src->iov_len - c->off < len ? src->iov_len - c->off
                                               : len;
        if (e) {
            io->xiov[(*nx)++] = (struct iovec){ .iov_base = p,
                                                .iov_len = n };
            e->niov++;
        } else {
            memset(p, 0, n);
        }
        c->off += n;
        len -= n;
        if (c->off == src->iov_len) {
            c->i++;
            c->off = 0;
        }
    }
}

/* An extent for off..+len: the last one grown if it ends at off. */
static td_ext *extent(td_io *io, uint64_t off, uint64_t len,
                      unsigned int nx)
{
    td_ext *e = io->nexts ? &io->ext[io->nexts - 1] : NULL;

    if (e && e->off + e->len == off) {
        e->len += len;
        return e;
    }
    if (io->nexts == TD_IO_MAX_EXT)
        return NULL;
    e = &io->ext[io->nexts++];
    *e = (td_ext){ .off = off, .len = len, .iov = &io->xiov[nx] };
    return e;
}

/* A read's sectors in a block whose bitmap has some clear: those go in
 * io->zmask, to be zeroed once read. */
static int mask_clear(td_disk *d, td_vhd_disk *v, td_io *io, uint32_t blk,
                      uint32_t in, uint32_t cnt, uint64_t at)
{
    uint32_t k;
    int err;

    if (v->state[blk] == BLK_FULL)
        return 0;
    if ((err = load_bitmap(d, v, blk)) || v->state[blk] == BLK_FULL)
        return err;
    for (k = 0; k < cnt; k++)
        if (!td_vhd_bit(v->bm, in + k)) {
            td_vhd_bits(io->zmask, (uint32_t)at + k, 1, true);
            io->zmask_on = true;
        }
    return 0;
}

static bool entry_ok(td_disk *d, td_vhd_disk *v, uint32_t blk)
{
    if (td_vhd_entry_ok(&v->g, v->bat[blk], v->alloc_end))
        return true;
    DLOG(d, "vhd: BAT entry %" PRIu32 " names sector %" PRIu32 ", outside"
         " the image's blocks: request failed", blk, v->bat[blk]);
    return false;
}

/* One block's part of a read or a write: zeros, or an extent. */
static int map_piece(td_disk *d, td_vhd_disk *v, td_io *io, iov_cur *c,
                     unsigned int *nx, uint64_t s, uint32_t cnt)
{
    uint32_t blk = (uint32_t)(s / v->spb), in = (uint32_t)(s % v->spb);
    size_t len = (size_t)cnt * TD_VHD_SECTOR;
    td_ext *e;
    int err = 0;

    if (v->bat[blk] == TD_VHD_UNUSED && io->to_guest) {
        take_data(io, c, len, NULL, nx);
        return 0;
    }
    if (!entry_ok(d, v, blk))
        return EIO;
    if (v->bat[blk] == TD_VHD_UNUSED)
        err = allocate(d, v, blk);
    else if (io->to_guest)
        err = mask_clear(d, v, io, blk, in, cnt, s - io->sector);
    else
        err = set_bits(d, v, blk, in, cnt);
    if (err)
        return err;
    e = extent(io, (uint64_t)v->bat[blk] * TD_VHD_SECTOR + v->g.bitmap +
                   (uint64_t)in * TD_VHD_SECTOR, len, *nx);
    if (!e)
        return E2BIG;
    take_data(io, c, len, e, nx);
    return 0;
}

static bool map_rw(td_disk *d, td_vhd_disk *v, td_io *io)
{
    iov_cur c = { 0, 0 };
    unsigned int nx = 0;
    uint64_t s = io->sector, end = s + io->nr_sectors;
    int err = 0;

    if (io->to_guest)
        memset(io->zmask, 0, (io->nr_sectors + 7) / 8);
    while (!err && s < end) {
        uint64_t room = v->spb - s % v->spb;
        uint32_t cnt = (uint32_t)(end - s < room ? end - s : room);

        err = map_piece(d, v, io, &c, &nx, s, cnt);
        s += cnt;
    }
    if (err && err != EIO)
        DLOG(d, "vhd: %s at sector %" PRIu64 ": the block's metadata: %s",
             io->to_guest ? "read" : "write", io->sector, strerror(err));
    return !err;
}

/* A discard's next blocks (TD_IO_MAX_EXT punches at most): whole blocks
 * given back, the bits of parts of blocks cleared. */
static bool map_discard(td_disk *d, td_vhd_disk *v, td_io *io)
{
    uint64_t s = io->sector + io->cont, end = io->sector + io->nr_sectors;
    uint64_t slot = td_vhd_slot(&v->g);
    int err = 0;

    while (!err && s < end && io->nexts < TD_IO_MAX_EXT) {
        uint32_t blk = (uint32_t)(s / v->spb), in = (uint32_t)(s % v->spb);
        uint64_t room = v->spb - in, at;
        uint32_t cnt = (uint32_t)(end - s < room ? end - s : room);

        if (v->bat[blk] != TD_VHD_UNUSED) {
            if (!entry_ok(d, v, blk))
                return false;
            at = (uint64_t)v->bat[blk] * TD_VHD_SECTOR;
            if (cnt == v->spb) {
                if (!(err = give_back(d, v, blk)))
                    extent(io, at, slot, 0);
            } else if (!(err = clear_bits(d, v, blk, in, cnt))) {
                extent(io, at + v->g.bitmap + (uint64_t)in * TD_VHD_SECTOR,
                       (uint64_t)cnt * TD_VHD_SECTOR, 0);
            }
        }
        s += cnt;
    }
    io->cont = s - io->sector;
    if (err)
        DLOG(d, "vhd: discard at sector %" PRIu64 ": the block's bitmap:"
             " %s", s, strerror(err));
    return !err;
}

bool td_vhd_map(td_io *io)
{
    td_disk *d = io->d;
    td_vhd_disk *v = d->vhd;

    if (v->fixed)
        return true;            /* raw data: its own range */
    io->mapped = true;
    io->nexts = 0;
    if (io->discard)
        return map_discard(d, v, io);
    if (io->niov && !map_rw(d, v, io))
        return false;
    /* The slots given back so far are free once this flush made their
     * cleared entries durable (td_vhd_done). */
    if (io->flush)
        io->cont = v->npend;
    return true;
}

/* Zeroes bytes [off, off + len) of io's data. */
static void zero_at(td_io *io, size_t off, size_t len)
{
    iov_cur c = { 0, 0 };

    while (off >= io->iov[c.i].iov_len) {
        off -= io->iov[c.i].iov_len;
        c.i++;
    }
    c.off = off;
    take_data(io, &c, len, NULL, NULL);
}

bool td_vhd_done(td_io *io)
{
    td_vhd_disk *v = io->d->vhd;
    uint32_t k, run;

    if (!io->mapped || io->status != TD_RSP_OKAY)
        return false;
    for (k = 0; io->zmask_on && k < io->nr_sectors; k += run) {
        for (run = 0; k + run < io->nr_sectors &&
             td_vhd_bit(io->zmask, k + run); run++)
            ;
        if (run)
            zero_at(io, (size_t)k * TD_VHD_SECTOR,
                    (size_t)run * TD_VHD_SECTOR);
        else
            run = 1;
    }
    if (io->flush && io->d->r.inflight == 1)
        reuse_given_back(v, (uint32_t)io->cont);
    if (io->discard && io->cont < io->nr_sectors) {
        io->nexts = 0;
        return true;
    }
    return false;
}
