/*
 * A ring's persistent grants (see td_pgnt.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <stdlib.h>

#include "td_pgnt.h"

/* Multiply-xorshift, keyed: the slot a reference lands in depends on a
 * key the guest does not know. */
static unsigned int home(const td_pgnt *t, uint32_t gref)
{
    uint32_t h = (gref ^ t->key) * 0x9e3779b1u;

    h ^= h >> 15;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h & (t->nslots - 1);
}

static unsigned int next_slot(const td_pgnt *t, unsigned int i)
{
    return (i + 1) & (t->nslots - 1);
}

int td_pgnt_init(td_pgnt *t, uint32_t key, unsigned int max)
{
    unsigned int n = 1;

    t->slot = NULL;
    t->region = NULL;
    if (!max || max > TD_PGNT_LIMIT)
        return -1;
    /* At least twice the entries: probes stay short, and a free slot
     * always ends them. */
    while (n < 2 * max)
        n <<= 1;
    t->slot = calloc(n, sizeof(*t->slot));
    t->region = calloc(max, sizeof(*t->region));
    t->max = max;
    t->nslots = n;
    t->count = t->nregions = 0;
    t->key = key;
    if (!t->slot || !t->region) {
        td_pgnt_dispose(t);
        return -1;
    }
    return 0;
}

void td_pgnt_dispose(td_pgnt *t)
{
    free(t->slot);
    free(t->region);
    t->slot = NULL;
    t->region = NULL;
    t->max = t->nslots = t->count = t->nregions = 0;
}

uint8_t *td_pgnt_find(const td_pgnt *t, uint32_t gref)
{
    unsigned int i;

    if (!t->slot)
        return NULL;
    for (i = home(t, gref); t->slot[i].page; i = next_slot(t, i))
        if (t->slot[i].gref == gref)
            return t->slot[i].page;
    return NULL;
}

bool td_pgnt_room(const td_pgnt *t, unsigned int n)
{
    return t->slot && n <= t->max - t->count;
}

void td_pgnt_add(td_pgnt *t, uint8_t *base, unsigned int n,
                 const uint32_t *grefs)
{
    unsigned int k, i;

    if (!n)
        return;
    for (k = 0; k < n; k++) {
        for (i = home(t, grefs[k]); t->slot[i].page; i = next_slot(t, i))
            ;
        t->slot[i].gref = grefs[k];
        t->slot[i].page = base + (size_t)k * TD_PGNT_PAGE;
    }
    t->count += n;
    t->region[t->nregions++] = (td_pgnt_region){ base, n };
}
