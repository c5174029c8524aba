/*
 * The VHD format, pure (see td_vhd.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_vhd.h"

/* Where the fields are, in bytes from the start of each structure. */
#define F_VERSION 12
#define F_DATA_OFF 16
#define F_CURRENT_SIZE 48
#define F_TYPE 60
#define F_CHECKSUM 64
#define F_UUID 68
#define H_DATA_OFF 8
#define H_TABLE_OFF 16
#define H_VERSION 24
#define H_ENTRIES 28
#define H_BLOCK 32
#define H_CHECKSUM 36
#define H_PARENT_NAME 64
#define H_PARENT_NAME_LEN 512

#define VERSION_1_0 0x00010000u

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

uint32_t td_vhd_checksum(const uint8_t *p, size_t len, size_t csum_at)
{
    uint32_t sum = 0;
    size_t i;

    for (i = 0; i < len; i++)
        if (i < csum_at || i >= csum_at + 4)
            sum += p[i];
    return ~sum;
}

/* What footer and header share: a cookie (at 0), a checksum and version
 * 1.0.  what names the structure in why; vname its version field. */
static int check_struct(const uint8_t *p, size_t len, const char *what,
                        const char *cookie, size_t csum_at, const char *vname,
                        size_t version_at, char *why, size_t wl)
{
    uint32_t csum = be32(p + csum_at), sum = td_vhd_checksum(p, len, csum_at);

    if (memcmp(p, cookie, 8)) {
        snprintf(why, wl, "%s: no \"%s\" cookie", what, cookie);
        return -1;
    }
    if (sum != csum) {
        snprintf(why, wl, "%s: checksum 0x%08x, the bytes give 0x%08x", what,
                 csum, sum);
        return -1;
    }
    if (be32(p + version_at) != VERSION_1_0) {
        snprintf(why, wl, "%s: %s 0x%08x, not 1.0", what, vname,
                 be32(p + version_at));
        return -1;
    }
    return 0;
}

int td_vhd_parse_footer(const uint8_t *p, td_vhd_footer *f, char *why,
                        size_t wl)
{
    memset(f, 0, sizeof(*f));
    if (check_struct(p, TD_VHD_FOOTER, "footer", "conectix", F_CHECKSUM,
                     "file format version", F_VERSION, why, wl))
        return EINVAL;
    f->type = (int)be32(p + F_TYPE);
    if (f->type != TD_VHD_FIXED && f->type != TD_VHD_DYNAMIC &&
        f->type != TD_VHD_DIFF) {
        snprintf(why, wl, "footer: disk type %" PRIu32 " (fixed 2,"
                 " dynamic 3, differencing 4)", be32(p + F_TYPE));
        return EINVAL;
    }
    f->size = be64(p + F_CURRENT_SIZE);
    if (!f->size || f->size % TD_VHD_SECTOR || f->size > TD_VHD_MAX_SIZE) {
        snprintf(why, wl, "footer: current size %" PRIu64 " is not a"
                 " multiple of 512 between 512 and 2040 GiB", f->size);
        return EINVAL;
    }
    /* A fixed disk's data offset is unused (all ones, or 0 by some). */
    f->header_off = be64(p + F_DATA_OFF);
    memcpy(f->uuid, p + F_UUID, sizeof(f->uuid));
    return 0;
}

/* The parent's name (UTF-16BE, NUL-ended) as printable ASCII, the rest
 * escaped, for a log line. */
static void parent_name(const uint8_t *p, char *out, size_t ol)
{
    size_t i, o = 0;

    for (i = 0; i + 1 < H_PARENT_NAME_LEN && o + 7 < ol; i += 2) {
        unsigned int c = (unsigned int)p[i] << 8 | p[i + 1];
        if (!c)
            break;
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, ol - o, "\\u%04x", c);
    }
    out[o] = 0;
}

int td_vhd_parse_header(const uint8_t *p, td_vhd_header *h, char *why,
                        size_t wl)
{
    memset(h, 0, sizeof(*h));
    if (check_struct(p, TD_VHD_HEADER, "header", "cxsparse", H_CHECKSUM,
                     "version", H_VERSION, why, wl))
        return EINVAL;
    h->table_off = be64(p + H_TABLE_OFF);
    h->entries = be32(p + H_ENTRIES);
    h->block = be32(p + H_BLOCK);
    if (h->block < TD_VHD_MIN_BLOCK || h->block > TD_VHD_MAX_BLOCK ||
        (h->block & (h->block - 1))) {
        snprintf(why, wl, "header: block size %" PRIu32 " is not a power"
                 " of two from 512 KiB to 256 MiB", h->block);
        return EINVAL;
    }
    parent_name(p + H_PARENT_NAME, h->parent, sizeof(h->parent));
    return 0;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int td_vhd_header_at(const td_vhd_footer *f, uint64_t data_end, char *why,
                     size_t wl)
{
    if (f->header_off < TD_VHD_FOOTER || f->header_off > data_end ||
        data_end - f->header_off < TD_VHD_HEADER) {
        snprintf(why, wl, "footer: header offset %" PRIu64 " is not"
                 " inside the file", f->header_off);
        return EINVAL;
    }
    return 0;
}

int td_vhd_geometry(const td_vhd_footer *f, const td_vhd_header *h,
                    uint64_t data_end, td_vhd_geom *g, char *why, size_t wl)
{
    uint64_t nblocks = (f->size + h->block - 1) / h->block;

    memset(g, 0, sizeof(*g));
    if (td_vhd_header_at(f, data_end, why, wl))
        return EINVAL;
    if (h->entries < nblocks) {
        snprintf(why, wl, "header: %" PRIu32 " table entries, the size"
                 " needs %" PRIu64, h->entries, nblocks);
        return EINVAL;
    }
    g->size = f->size;
    g->block = h->block;
    g->bitmap = (h->block / TD_VHD_SECTOR / 8 + TD_VHD_SECTOR - 1) /
                TD_VHD_SECTOR * TD_VHD_SECTOR;
    g->nblocks = (uint32_t)nblocks;
    g->table_off = h->table_off;
    /* The whole table, as its entries say, must be clear: we only use
     * the entries the size needs. */
    g->table_bytes = ((uint64_t)h->entries * 4 + TD_VHD_SECTOR - 1) /
                     TD_VHD_SECTOR * TD_VHD_SECTOR;
    if (h->table_off % TD_VHD_SECTOR || h->table_off < TD_VHD_FOOTER ||
        h->table_off > data_end || data_end - h->table_off <
        g->table_bytes ||
        overlap(h->table_off, g->table_bytes, f->header_off,
                TD_VHD_HEADER)) {
        snprintf(why, wl, "header: table offset %" PRIu64 " (%" PRIu32
                 " entries) is not sector-aligned inside the file, clear of"
                 " the header", h->table_off, h->entries);
        return EINVAL;
    }
    g->meta_end = h->table_off + g->table_bytes;
    if (f->header_off + TD_VHD_HEADER > g->meta_end)
        g->meta_end = (f->header_off + TD_VHD_HEADER + TD_VHD_SECTOR - 1) /
                      TD_VHD_SECTOR * TD_VHD_SECTOR;
    g->data_end = data_end;
    return 0;
}

bool td_vhd_entry_ok(const td_vhd_geom *g, uint32_t entry, uint64_t limit)
{
    uint64_t off = (uint64_t)entry * TD_VHD_SECTOR;

    return entry == TD_VHD_UNUSED ||
           (off >= g->meta_end && off <= limit &&
            limit - off >= td_vhd_slot(g));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

int td_vhd_check_bat(const td_vhd_geom *g, const uint32_t *bat,
                     uint32_t *scratch, uint32_t *nused,
                     uint64_t *alloc_end, char *why, size_t wl)
{
    uint64_t slot = td_vhd_slot(g), end = g->meta_end;
    uint32_t i, n = 0;

    for (i = 0; i < g->nblocks; i++) {
        if (!td_vhd_entry_ok(g, bat[i], g->data_end)) {
            snprintf(why, wl, "BAT entry %" PRIu32 ": block at sector %"
                     PRIu32 " is not wholly between the metadata and the"
                     " end footer", i, bat[i]);
            return EINVAL;
        }
        if (bat[i] != TD_VHD_UNUSED)
            scratch[n++] = bat[i];
    }
    qsort(scratch, n, sizeof(*scratch), cmp_u32);
    for (i = 0; i + 1 < n; i++)
        if ((uint64_t)(scratch[i + 1] - scratch[i]) * TD_VHD_SECTOR < slot) {
            snprintf(why, wl, "BAT: the blocks at sectors %" PRIu32 " and %"
                     PRIu32 " overlap", scratch[i], scratch[i + 1]);
            return EINVAL;
        }
    if (n && (uint64_t)scratch[n - 1] * TD_VHD_SECTOR + slot > end)
        end = (uint64_t)scratch[n - 1] * TD_VHD_SECTOR + slot;
    *nused = n;
    *alloc_end = end;
    return 0;
}

void td_vhd_bits(uint8_t *bm, uint32_t first, uint32_t n, bool on)
{
    uint32_t i;

    for (i = first; i < first + n; i++) {
        if (!(i & 7) && i + 8 <= first + n) {
            bm[i >> 3] = on ? 0xff : 0;
            i += 7;
        } else if (on) {
            bm[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
        } else {
            bm[i >> 3] &= (uint8_t)~(0x80u >> (i & 7));
        }
    }
}

bool td_vhd_bits_full(const uint8_t *bm, uint32_t nbits)
{
    uint32_t i;

    for (i = 0; i < nbits / 8; i++)
        if (bm[i] != 0xff)
            return false;
    for (i = nbits & ~7u; i < nbits; i++)
        if (!td_vhd_bit(bm, i))
            return false;
    return true;
}
