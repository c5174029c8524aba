/*
 * The VHD format (Microsoft's Virtual Hard Disk Image Format
 * Specification, 2006), pure: its metadata parsed and validated from
 * bytes the caller read, and the arithmetic of its blocks.  No I/O, so
 * that every field an image's author controls is fuzzed (tests/fuzz).
 *
 *   fixed:   data (current size) | footer (512)
 *   dynamic: footer copy (512) | header (1024) | BAT | blocks | footer
 *   a block: its sector bitmap (one bit a sector, padded to 512 bytes)
 *            then its data (block size)
 *
 * Every number on disk is big-endian; the BAT gives each block's first
 * sector (its bitmap) or TD_VHD_UNUSED.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_VHD_H
#define TD_VHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TD_VHD_SECTOR 512u
#define TD_VHD_FOOTER 512u
#define TD_VHD_HEADER 1024u
#define TD_VHD_UNUSED 0xFFFFFFFFu
/* The format's own limit (2040 GiB: the geometry's). */
#define TD_VHD_MAX_SIZE (2040ull << 30)
/* Block sizes we take: every image seen in use has 2 MiB (512 KiB for
 * some old ones).  The floor bounds the BAT we keep (16 MiB at 2040 GiB)
 * and the blocks one request spans (3). */
#define TD_VHD_MIN_BLOCK (512u << 10)
#define TD_VHD_MAX_BLOCK (256u << 20)

enum { TD_VHD_FIXED = 2, TD_VHD_DYNAMIC = 3, TD_VHD_DIFF = 4 };

typedef struct {
    int type;                   /* TD_VHD_FIXED, _DYNAMIC or _DIFF */
    uint64_t size;              /* the virtual disk's, in bytes */
    uint64_t header_off;        /* dynamic: where the header is */
    uint8_t uuid[16];
} td_vhd_footer;

typedef struct {
    uint64_t table_off;         /* the BAT's, in bytes */
    uint32_t entries;           /* max table entries */
    uint32_t block;             /* block size, bytes */
    char parent[128];           /* differencing: the parent, escaped */
} td_vhd_header;

/* A dynamic image's layout, from its footer, header and file size. */
typedef struct {
    uint64_t size;              /* virtual, bytes */
    uint32_t block;             /* data bytes a block */
    uint32_t bitmap;            /* its bitmap's bytes (512-aligned) */
    uint32_t nblocks;           /* blocks the virtual size needs */
    uint64_t table_off, table_bytes;    /* the BAT (nblocks entries) */
    uint64_t meta_end;          /* past the header and the BAT */
    uint64_t data_end;          /* where the end footer must start */
} td_vhd_geom;

/* The footer's and the header's checksum: one's complement of the byte
 * sum, the checksum field counted as zero. */
uint32_t td_vhd_checksum(const uint8_t *p, size_t len, size_t csum_at);

/*
 * Parses and validates a footer (TD_VHD_FOOTER bytes).  0, or an errno
 * with why saying which field is wrong.
 */
int td_vhd_parse_footer(const uint8_t *p, td_vhd_footer *f, char *why,
                        size_t wl);
/* The same for a dynamic disk's header (TD_VHD_HEADER bytes). */
int td_vhd_parse_header(const uint8_t *p, td_vhd_header *h, char *why,
                        size_t wl);

/* Whether a dynamic disk's header lies inside [512, data_end). */
int td_vhd_header_at(const td_vhd_footer *f, uint64_t data_end, char *why,
                     size_t wl);

/*
 * Checks that footer, header and a file whose end footer starts at
 * data_end (its size less 512, or its size if the end footer is lost)
 * fit together
 * (the table inside the file and clear of the header and the footers,
 * enough entries for the virtual size) and fills g.
 */
int td_vhd_geometry(const td_vhd_footer *f, const td_vhd_header *h,
                    uint64_t data_end, td_vhd_geom *g, char *why,
                    size_t wl);

/*
 * Checks every BAT entry (bat: g->nblocks entries, host order): unused,
 * or a block that lies wholly between the metadata and the end footer
 * and overlaps no other block.  scratch: g->nblocks entries of the
 * caller's, left holding the *nused entries in use, sorted.  *alloc_end:
 * where the next new block goes (past the last block and the metadata,
 * 512-aligned).
 */
int td_vhd_check_bat(const td_vhd_geom *g, const uint32_t *bat,
                     uint32_t *scratch, uint32_t *nused,
                     uint64_t *alloc_end, char *why, size_t wl);

/* A block's bytes in the file: its bitmap and its data. */
static inline uint64_t td_vhd_slot(const td_vhd_geom *g)
{
    return (uint64_t)g->bitmap + g->block;
}

/* Whether a BAT entry may be used now: unused, or a whole block inside
 * [g->meta_end, limit).  Checked again before each use. */
bool td_vhd_entry_ok(const td_vhd_geom *g, uint32_t entry, uint64_t limit);

/* Bit n of a sector bitmap (the first sector is the high bit of byte 0). */
static inline bool td_vhd_bit(const uint8_t *bm, uint32_t n)
{
    return bm[n >> 3] & (0x80u >> (n & 7));
}
/* Sets (on) or clears bits [first, first + n). */
void td_vhd_bits(uint8_t *bm, uint32_t first, uint32_t n, bool on);
/* Whether all of a block's bits are set. */
bool td_vhd_bits_full(const uint8_t *bm, uint32_t nbits);

#endif
