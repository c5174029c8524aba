/*
 * Image formats (see td_disk.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td_disk.h"
#include "td_gmem.h"
#include "td_vhd_disk.h"

td_disk td_disks[TD_MAX_DISKS];

static int check_params(const td_params *p, char *why, size_t wl)
{
    const char *colon = strchr(p->path, ':');

    if (!colon || colon[1] != '/') {
        snprintf(why, wl, "image \"%s\" is not <format>:<absolute path>",
                 p->path);
        return EINVAL;
    }
    if (strncmp(p->path, "aio:", 4) && strncmp(p->path, "raw:", 4) &&
        strncmp(p->path, "vhd:", 4)) {
        snprintf(why, wl, "image format \"%.*s\" not supported (raw and"
                 " vhd)", (int)(colon - p->path), p->path);
        return EOPNOTSUPP;
    }
    if (p->flags & ~(uint32_t)(TD_FLAG_RDONLY | TD_FLAG_SHARED)) {
        snprintf(why, wl, "open flags 0x%x not supported", p->flags);
        return EOPNOTSUPP;
    }
    return 0;
}

/* The size in bytes of an open file or block device. */
static int size_of(int fd, const char *file, uint64_t *bytes, char *why,
                   size_t wl)
{
    struct stat stb;

    if (fstat(fd, &stb)) {
        snprintf(why, wl, "cannot open %s: %s", file, strerror(errno));
        return errno;
    }
    if (S_ISREG(stb.st_mode)) {
        *bytes = (uint64_t)stb.st_size;
        return 0;
    }
    if (!S_ISBLK(stb.st_mode)) {
        snprintf(why, wl, "%s is neither a file nor a block device", file);
        return EINVAL;
    }
    if (ioctl(fd, BLKGETSIZE64, bytes)) {
        snprintf(why, wl, "cannot size %s: %s", file, strerror(errno));
        return errno;
    }
    return 0;
}

int td_disk_open(const td_params *p, uint32_t *minor, char *why, size_t wl)
{
    bool ro = p->flags & TD_FLAG_RDONLY;
    const char *file = strchr(p->path, ':') + 1;
    td_disk *d = NULL;
    uint64_t bytes;
    int i, fd, err = check_params(p, why, wl);

    if (err)
        return err;
    for (i = 0; i < TD_MAX_DISKS && !d; i++)
        if (!td_disks[i].used)
            d = &td_disks[i];
    if (!d) {
        snprintf(why, wl, "already serving %d images", TD_MAX_DISKS);
        return ENOSPC;
    }
    fd = open(file, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        snprintf(why, wl, "cannot open %s: %s", file, strerror(err));
        return err;
    }
    err = size_of(fd, file, &bytes, why, wl);
    if (err) {
        close(fd);
        return err;
    }
    memset(d, 0, sizeof(*d));
    d->fd = fd;
    d->sectors = bytes / TD_SECTOR;
    snprintf(d->path, sizeof(d->path), "%s", p->path);
    if (!strncmp(p->path, "vhd:", 4) &&
        (err = td_vhd_open(d, ro, why, wl))) {
        close(fd);
        memset(d, 0, sizeof(*d));
        return err;
    }
    d->used = true;
    d->readonly = ro;
    /* Discard only if the file system can punch holes: try past the end,
     * which changes nothing. */
    d->discard = !ro &&
        !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                   (off_t)bytes, TD_SECTOR);
    *minor = (uint32_t)(d - td_disks);
    td_log("minor %u: opened %s, %" PRIu64 " sectors%s%s", *minor, d->path,
           d->sectors, ro ? ", read-only" : "",
           d->discard ? ", discard" : "");
    return 0;
}

void td_disk_close(td_disk *d)
{
    td_vhd_close(d);
    close(d->fd);
    td_log("minor %d: closed %s", (int)(d - td_disks), d->path);
    memset(d, 0, sizeof(*d));
}

td_disk *td_disk_get(uint32_t minor)
{
    if (minor >= TD_MAX_DISKS || !td_disks[minor].used)
        return NULL;
    return &td_disks[minor];
}

void td_disk_info(const td_disk *d, td_image *out)
{
    out->sectors = d->sectors;
    out->sector_size = TD_SECTOR;
    out->info = d->readonly ? TD_INFO_READONLY : 0;
    out->features = TD_FEAT_FLUSH | TD_FEAT_BARRIER | TD_FEAT_INDIRECT |
                    (d->discard ? TD_FEAT_DISCARD : 0) |
                    (td_gmem_persistent() ? TD_FEAT_PERSISTENT : 0);
}

bool td_disk_map(td_io *io)
{
    return !io->d->vhd || td_vhd_map(io);
}

bool td_disk_done(td_io *io)
{
    return io->d->vhd && td_vhd_done(io);
}
