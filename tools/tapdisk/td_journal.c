/*
 * A ring's requests in flight, in a file (see td_journal.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "td_journal.h"

#define JNL_MAGIC 0x4c4e4a54u       /* "TJNL" */
#define JNL_VERSION 1u

/* The stores a journal update makes reach memory in the order written:
 * the process may die between any two (one process writes it). */
#define ORDERED() __atomic_signal_fence(__ATOMIC_SEQ_CST)

static char jnl_dir[96];

void td_jnl_set_dir(const char *dir)
{
    snprintf(jnl_dir, sizeof(jnl_dir), "%s", dir ? dir : "");
}

static bool same_ring(const td_jnl_hdr *h, const td_blkif *b,
                      uint32_t nr_ents, uint32_t slots)
{
    uint32_t i;

    if (h->magic != JNL_MAGIC || h->version != JNL_VERSION ||
        h->domid != b->domid || h->devid != b->devid ||
        h->order != b->order || h->proto != b->proto ||
        h->port != b->port || h->nr_ents != nr_ents || h->slots != slots)
        return false;
    for (i = 0; i < (1u << b->order); i++)
        if (h->gref[i] != b->gref[i])
            return false;
    return true;
}

static void fresh(td_jnl *j, const td_blkif *b, uint32_t nr_ents,
                  uint32_t slots, uint32_t req_cons)
{
    td_jnl_hdr *h = j->hdr;
    uint32_t i;

    memset(h, 0, j->bytes);
    h->version = JNL_VERSION;
    h->domid = b->domid;
    h->devid = b->devid;
    h->order = b->order;
    h->proto = b->proto;
    h->port = b->port;
    h->nr_ents = nr_ents;
    h->slots = slots;
    h->req_cons = req_cons;
    for (i = 0; i < (1u << b->order); i++)
        h->gref[i] = b->gref[i];
    ORDERED();
    h->magic = JNL_MAGIC;
}

void td_jnl_open(td_jnl *j, const td_blkif *b, uint32_t nr_ents,
                 uint32_t slots, uint32_t req_cons, bool keep, bool *found,
                 char *why, size_t wl)
{
    size_t bytes = sizeof(td_jnl_hdr) + (size_t)slots * sizeof(td_jnl_slot);
    struct stat st;
    void *p;
    int fd;

    memset(j, 0, sizeof(*j));
    *found = false;
    if (!jnl_dir[0])
        return;
    snprintf(j->path, sizeof(j->path), "%s/ring-%u-%u.jnl", jnl_dir,
             b->domid, b->devid);
    fd = open(j->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
        ((size_t)st.st_size != bytes &&
         (ftruncate(fd, 0) || ftruncate(fd, (off_t)bytes)))) {
        snprintf(why, wl, "cannot make the ring's journal %s: %s", j->path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(why, wl, "cannot map the ring's journal: %s",
                 strerror(errno));
        return;
    }
    j->hdr = p;
    j->slot = (td_jnl_slot *)(j->hdr + 1);
    j->bytes = bytes;
    *found = keep && (size_t)st.st_size == bytes &&
             same_ring(j->hdr, b, nr_ents, slots);
    if (!*found)
        fresh(j, b, nr_ents, slots, req_cons);
}

/*
 * Whether slot sl holds a request owed an answer: taken (and counted in
 * req_cons: one the process died taking is still on the ring), and not
 * answered where the frontend sees it.  A request may stay in flight
 * while any number are taken and answered after it, so its index is only
 * known to be before req_cons.
 */
static bool owed(const td_jnl_hdr *h, const td_jnl_slot *sl,
                 uint32_t rsp_prod)
{
    return sl->taken && (int32_t)(sl->req_idx - h->req_cons) < 0 &&
           (!sl->answered || sl->rsp_idx - rsp_prod < h->nr_ents);
}

int td_jnl_owed(td_jnl *j, uint32_t rsp_prod, uint8_t *out, uint32_t *idx,
                uint32_t *slot, uint32_t *req_cons)
{
    td_jnl_hdr *h = j->hdr;
    uint32_t want = h->req_cons - rsp_prod, s, k, n = 0;

    *req_cons = h->req_cons;
    if (want > h->nr_ents)
        return -1;
    for (s = 0; s < h->slots; s++) {
        if (!owed(h, &j->slot[s], rsp_prod))
            continue;
        if (n == want)
            return -1;
        /* In the order taken: insertion by index, oldest first. */
        for (k = n; k > 0 && (int32_t)(j->slot[slot[k - 1]].req_idx -
                                       j->slot[s].req_idx) > 0; k--)
            slot[k] = slot[k - 1];
        slot[k] = s;
        n++;
    }
    if (n != want)
        return -1;
    for (k = 0; k < n; k++) {
        memcpy(out + (size_t)k * TD_ENTRY_MAX, j->slot[slot[k]].entry,
               TD_ENTRY_MAX);
        idx[k] = j->slot[slot[k]].req_idx;
    }
    for (s = 0; s < h->slots; s++)
        if (!owed(h, &j->slot[s], rsp_prod))
            j->slot[s].taken = 0;
    return (int)n;
}

void td_jnl_reset(td_jnl *j, uint32_t req_cons)
{
    if (!j->hdr)
        return;
    j->hdr->magic = 0;
    ORDERED();
    memset(j->slot, 0, (size_t)j->hdr->slots * sizeof(*j->slot));
    j->hdr->req_cons = req_cons;
    ORDERED();
    j->hdr->magic = JNL_MAGIC;
}

void td_jnl_take(td_jnl *j, uint32_t s, uint32_t idx, const uint8_t *entry,
                 uint32_t len, uint32_t next_cons)
{
    td_jnl_slot *sl;

    if (!j->hdr || s >= j->hdr->slots)
        return;
    sl = &j->slot[s];
    sl->taken = 0;
    ORDERED();
    sl->req_idx = idx;
    sl->answered = 0;
    memcpy(sl->entry, entry, len < TD_ENTRY_MAX ? len : TD_ENTRY_MAX);
    ORDERED();
    sl->taken = 1;
    ORDERED();
    j->hdr->req_cons = next_cons;
}

void td_jnl_answer(td_jnl *j, uint32_t s, uint32_t idx)
{
    td_jnl_slot *sl;

    if (!j->hdr || s >= j->hdr->slots)
        return;
    sl = &j->slot[s];
    sl->rsp_idx = idx;
    ORDERED();
    sl->answered = 1;
}

void td_jnl_free(td_jnl *j, uint32_t s)
{
    if (j->hdr && s < j->hdr->slots)
        j->slot[s].taken = 0;
}

void td_jnl_close(td_jnl *j, bool remove)
{
    if (j->hdr)
        munmap(j->hdr, j->bytes);
    if (remove && j->path[0])
        unlink(j->path);
    memset(j, 0, sizeof(*j));
}
