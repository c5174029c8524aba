/* libFuzzer: tapdisk's VHD metadata parser and block mapper, on an image
 * an attacker wrote (an uploaded disk).  Input: 16 bytes of four
 * requests (kind, sector, count), then the image file.  The image is
 * opened from a memfd as tapdisk opens it; each request is mapped onto
 * the file and every extent must lie inside the image's blocks, past its
 * metadata and before its end footer; an image tapdisk opened and wrote
 * must open again. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "td_disk.h"
#include "td_vhd.h"
#include "td_vhd_disk.h"

bool td_gmem_persistent(void)
{
    return false;
}

void td_log(const char *fmt, ...)
{
}

static uint8_t buf[TD_MAX_INDIRECT_SEGS * TD_PAGE_SIZE];
static td_io io;

/* Where the image's blocks may be: past the metadata, before the end
 * footer (the file as it is now). */
static void blocks_area(int fd, uint64_t *lo, uint64_t *hi)
{
    uint8_t f[TD_VHD_FOOTER], h[TD_VHD_HEADER];
    td_vhd_footer vf;
    td_vhd_header vh;
    td_vhd_geom g;
    struct stat st;
    char why[200];

    if (fstat(fd, &st) || st.st_size < TD_VHD_FOOTER ||
        pread(fd, f, sizeof(f), 0) != sizeof(f) ||
        td_vhd_parse_footer(f, &vf, why, sizeof(why)) ||
        pread(fd, h, sizeof(h), (off_t)vf.header_off) != sizeof(h) ||
        td_vhd_parse_header(h, &vh, why, sizeof(why)) ||
        td_vhd_geometry(&vf, &vh, (uint64_t)st.st_size - TD_VHD_FOOTER, &g,
                        why, sizeof(why)))
        abort();                /* tapdisk opened it: so must this */
    *lo = g.meta_end;
    *hi = g.data_end;
}

static void request(td_disk *d, const uint8_t *op)
{
    uint64_t lo, hi;
    unsigned int i;
    uint32_t s = (uint32_t)op[1] << 16 | (uint32_t)op[2] << 8 | op[3];

    memset(&io, 0, offsetof(td_io, iov));
    io.d = d;
    io.nr_sectors = (op[0] >> 2) * 32u + 1;
    if (io.nr_sectors > d->sectors)
        io.nr_sectors = d->sectors;
    io.sector = s % (d->sectors - io.nr_sectors + 1);
    switch (op[0] & 3) {
    case 0: io.to_guest = true; break;
    case 1: break;
    case 2: io.discard = true; break;
    case 3: io.flush = true; io.nr_sectors = 0; break;
    }
    if (!io.discard && !io.flush) {
        io.iov[0] = (struct iovec){ buf, io.nr_sectors * TD_SECTOR };
        io.niov = io.nsegs = 1;
        io.want = io.nr_sectors * TD_SECTOR;
    }
    d->r.inflight = 1;
    do {
        if (!td_vhd_map(&io))
            return;
        if (!io.mapped)
            return;             /* fixed: the request's own range */
        blocks_area(d->fd, &lo, &hi);
        for (i = 0; i < io.nexts; i++)
            if (io.ext[i].off < lo || io.ext[i].off > hi ||
                hi - io.ext[i].off < io.ext[i].len)
                abort();
        io.status = TD_RSP_OKAY;
    } while (td_vhd_done(&io));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_params p = { .flags = 0 };
    char why[256];
    uint32_t minor;
    unsigned int i;
    int fd;

    if (size < 16 + TD_VHD_FOOTER)
        return 0;
    fd = memfd_create("vhd", 0);
    if (fd < 0 || write(fd, data + 16, size - 16) != (ssize_t)(size - 16))
        abort();
    snprintf(p.path, sizeof(p.path), "vhd:/proc/self/fd/%d", fd);
    if (!td_disk_open(&p, &minor, why, sizeof(why))) {
        td_disk *d = td_disk_get(minor);
        for (i = 0; i < 4; i++)
            request(d, data + 4 * i);
        td_disk_close(d);
        /* What tapdisk wrote, it opens again. */
        if (td_disk_open(&p, &minor, why, sizeof(why)))
            abort();
        td_disk_close(td_disk_get(minor));
    }
    close(fd);
    return 0;
}
