/*
 * A ring's data buffers (see td_pool.h).
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#include <string.h>

#include "td_pool.h"

static bool used(const td_pool *p, unsigned int i)
{
    return p->used[i / 64] >> (i % 64) & 1;
}

static void mark(td_pool *p, unsigned int first, unsigned int n, bool on)
{
    unsigned int i;

    for (i = first; i < first + n; i++) {
        if (on)
            p->used[i / 64] |= (uint64_t)1 << (i % 64);
        else
            p->used[i / 64] &= ~((uint64_t)1 << (i % 64));
    }
}

int td_pool_init(td_pool *p, uint8_t *base, unsigned int npages)
{
    memset(p, 0, sizeof(*p));
    if (!base || npages == 0 || npages > TD_POOL_MAX_PAGES)
        return -1;
    p->base = base;
    p->npages = p->nfree = npages;
    return 0;
}

uint8_t *td_pool_get(td_pool *p, unsigned int n)
{
    unsigned int i, run = 0;

    if (n == 0 || n > p->nfree)
        return NULL;
    for (i = 0; i < p->npages; i++) {
        /* A whole word in use: skip it at once. */
        if (i % 64 == 0 && p->used[i / 64] == UINT64_MAX &&
            i + 64 <= p->npages) {
            run = 0;
            i += 63;
            continue;
        }
        run = used(p, i) ? 0 : run + 1;
        if (run == n) {
            mark(p, i + 1 - n, n, true);
            p->nfree -= n;
            return p->base + (size_t)(i + 1 - n) * TD_POOL_PAGE;
        }
    }
    return NULL;
}

void td_pool_put(td_pool *p, uint8_t *buf, unsigned int n)
{
    unsigned int first;

    if (!buf || !n)
        return;
    first = (unsigned int)((size_t)(buf - p->base) / TD_POOL_PAGE);
    mark(p, first, n, false);
    p->nfree += n;
}
