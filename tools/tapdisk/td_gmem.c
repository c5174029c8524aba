/*
 * Guest memory (see td_gmem.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xengnttab.h>

#include "tapdisk.h"
#include "td_gmem.h"

/* Segments per flush at most; a full batch is flushed early. */
#define BATCH_SEGS 1024

static xengnttab_handle *xgt;
static td_gmem_mode mode;
static xengnttab_grant_copy_segment_t segs[BATCH_SEGS];
static int16_t *owners[BATCH_SEGS];
static unsigned int nsegs;

static td_gmem_mode pick_mode(void)
{
    const char *want = getenv("TAPDISK_GRANTS");

    if (want && !strcmp(want, "map"))
        return TD_GMEM_MAP;
    /* No segment at all: only asks whether the kernel has the ioctl
     * (Linux 4.5 and later). */
    if (xengnttab_grant_copy(xgt, 0, segs)) {
        td_log("grant copy unavailable (%s): mapping grants instead",
               strerror(errno));
        return TD_GMEM_MAP;
    }
    return TD_GMEM_COPY;
}

int td_gmem_open(char *why, size_t wl)
{
    if (xgt)
        return 0;
    xgt = xengnttab_open(NULL, 0);
    if (!xgt) {
        snprintf(why, wl, "cannot open the grant device: %s",
                 strerror(errno));
        return -1;
    }
    mode = pick_mode();
    td_log("guest memory: grant %s", td_gmem_mode_name());
    return 0;
}

td_gmem_mode td_gmem_mode_of(void)
{
    return mode;
}

const char *td_gmem_mode_name(void)
{
    return mode == TD_GMEM_COPY ? "copy" : "map";
}

void td_gmem_add(uint32_t domid, uint32_t gref, uint16_t offset,
                 uint16_t len, void *local, bool to_guest, int16_t *failed)
{
    xengnttab_grant_copy_segment_t *s;

    if (nsegs == BATCH_SEGS)
        td_gmem_flush();
    s = &segs[nsegs];
    memset(s, 0, sizeof(*s));
    if (to_guest) {
        s->source.virt = local;
        s->dest.foreign.ref = gref;
        s->dest.foreign.offset = offset;
        s->dest.foreign.domid = (uint16_t)domid;
        s->flags = GNTCOPY_dest_gref;
    } else {
        s->source.foreign.ref = gref;
        s->source.foreign.offset = offset;
        s->source.foreign.domid = (uint16_t)domid;
        s->dest.virt = local;
        s->flags = GNTCOPY_source_gref;
    }
    s->len = len;
    owners[nsegs++] = failed;
}

static void fail(int16_t *failed, int16_t st)
{
    if (!*failed)
        *failed = st < 0 ? st : GNTST_general_error;
}

/*
 * The ioctl failed as a whole (not one segment's status): copy each
 * owner's segments on their own, so that one owner's fault stays its own.
 */
static void flush_by_owner(void)
{
    unsigned int i = 0, j;

    while (i < nsegs) {
        for (j = i + 1; j < nsegs && owners[j] == owners[i]; j++)
            ;
        if (xengnttab_grant_copy(xgt, j - i, segs + i))
            fail(owners[i], GNTST_general_error);
        i = j;
    }
}

void td_gmem_flush(void)
{
    unsigned int i;

    if (!nsegs)
        return;
    if (xengnttab_grant_copy(xgt, nsegs, segs))
        flush_by_owner();
    for (i = 0; i < nsegs; i++)
        if (segs[i].status != GNTST_okay)
            fail(owners[i], segs[i].status);
    nsegs = 0;
}

void *td_gmem_map(uint32_t domid, unsigned int n, const uint32_t *refs,
                  bool writable)
{
    return xengnttab_map_domain_grant_refs(xgt, n, domid, (uint32_t *)refs,
                        writable ? PROT_READ | PROT_WRITE : PROT_READ);
}

void td_gmem_unmap(void *addr, unsigned int n)
{
    xengnttab_unmap(xgt, addr, n);
}
