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
static bool persistent;         /* offered to frontends */
static xengnttab_grant_copy_segment_t segs[BATCH_SEGS];
static int16_t *owners[BATCH_SEGS];
static unsigned int nsegs;

static td_gmem_mode pick_mode(void)
{
    const char *want = getenv("TAPDISK_GRANTS");

    if (want && !strcmp(want, "map"))
        return TD_GMEM_MAP;
    /* TAPDISK_GRANTS=copy: copy everything, hold nothing (to measure
     * one against the other). */
    persistent = !want || strcmp(want, "copy");
    /* No segment at all: only asks whether the kernel has the ioctl
     * (Linux 4.5 and later). */
    if (xengnttab_grant_copy(xgt, 0, segs)) {
        td_log("grant copy unavailable (%s): mapping grants instead",
               strerror(errno));
        persistent = false;     /* what it cannot hold, it copies */
        return TD_GMEM_MAP;
    }
    return TD_GMEM_COPY;
}

int td_gmem_open(char *why, size_t wl)
{
    if (xgt)
        return 0;
    xgt = xengnttab_open(td_xen_logger(), 0);
    if (!xgt) {
        snprintf(why, wl, "cannot open the grant device: %s",
                 strerror(errno));
        return -1;
    }
    mode = pick_mode();
    td_log("guest memory: grant %s%s", td_gmem_mode_name(),
           persistent ? ", persistent grants offered" : "");
    return 0;
}

td_gmem_mode td_gmem_mode_of(void)
{
    return mode;
}

bool td_gmem_persistent(void)
{
    char why[128];

    return !td_gmem_open(why, sizeof(why)) && persistent;
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

/* Adds gref to the m references in out unless it is there already. */
static unsigned int add_once(uint32_t *out, unsigned int m, uint32_t gref)
{
    unsigned int j;

    for (j = 0; j < m && out[j] != gref; j++)
        ;
    if (j == m)
        out[m++] = gref;
    return m;
}

bool td_gmem_hold(td_pgnt *t, uint32_t domid, unsigned int n,
                  const uint32_t *grefs, uint8_t **pages)
{
    uint32_t todo[TD_MAX_INDIRECT_SEGS];
    unsigned int i, m = 0;
    uint8_t *base;

    if (n > TD_MAX_INDIRECT_SEGS)
        return false;
    /* One lookup per page on the usual path, where all are held. */
    for (i = 0; i < n; i++)
        if (!(pages[i] = td_pgnt_find(t, grefs[i])))
            m = add_once(todo, m, grefs[i]);
    if (!m)
        return true;
    if (!td_pgnt_room(t, m))
        return false;
    base = td_gmem_map(domid, m, todo, true);
    if (!base)
        return false;
    td_pgnt_add(t, base, m, todo);
    for (i = 0; i < n; i++)
        if (!pages[i])
            pages[i] = td_pgnt_find(t, grefs[i]);
    return true;
}

void td_gmem_release(td_pgnt *t)
{
    unsigned int i;

    for (i = 0; i < t->nregions; i++)
        td_gmem_unmap(t->region[i].base, t->region[i].n);
    td_pgnt_dispose(t);
}
