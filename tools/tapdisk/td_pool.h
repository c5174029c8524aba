/*
 * A ring's data buffers: a fixed budget of pages, handed out as runs of
 * contiguous pages (one request's data, packed), first fit.  A request
 * that finds no run waits until one is given back; since no request needs
 * more than the whole pool, it always gets one once the ring drains.
 * Pure: the caller provides the memory, so it is unit-tested on its own.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#ifndef TD_POOL_H
#define TD_POOL_H

#include <stdbool.h>
#include <stdint.h>

#define TD_POOL_MAX_PAGES 4096
#define TD_POOL_PAGE 4096u

typedef struct {
    uint8_t *base;              /* npages * TD_POOL_PAGE bytes */
    unsigned int npages, nfree;
    uint64_t used[TD_POOL_MAX_PAGES / 64];
} td_pool;

/* npages: 1..TD_POOL_MAX_PAGES.  Returns -1 if out of range. */
int td_pool_init(td_pool *p, uint8_t *base, unsigned int npages);

/* The first run of n free pages (1 <= n <= npages), or NULL. */
uint8_t *td_pool_get(td_pool *p, unsigned int n);

/* Gives back n pages from buf (a run, or part of one, td_pool_get gave). */
void td_pool_put(td_pool *p, uint8_t *buf, unsigned int n);

#endif
