/*
 * The driver-domain listener's device operations (libxl_devd.c): each
 * one's nested ao and its end, the slots that bound how many hotplug
 * scripts run at once, and the timing line that says where an
 * operation's time went.
 *
 * A device waits for a slot before its operation exists (an add); an
 * operation already running waits for one from inside (a removal, whose
 * copy of the keys and grace period cannot wait but whose script can):
 * both in one FIFO, the device queue of devd_table.c.  One that waits
 * holds no abortable of its own: when devd stops, it is told here.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include <time.h>

#include "libxl_devd_internal.h"

/*----- operations -----*/

uint64_t libxl__devd_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

devd_op *libxl__devd_op_new(libxl__devd_state *dds, devd_guest *g,
                            devd_device *d, size_t size)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    devd_op *op;

    assert(size >= sizeof(*op));
    op = libxl__zalloc(&nested->gc, size);
    op->dds = dds;
    op->nested = nested;
    op->guest = g;
    op->dev = d;
    /* Started outside an event (by another operation's end, a timer):
     * it counts from its start. */
    op->t_event = dds->event_us ? dds->event_us : libxl__devd_now_us();
    d->busy = true;
    dds->ops_inflight++;
    return op;
}

void libxl__devd_op_what(devd_op *op, const char *what)
{
    op->what = what;
}

void libxl__devd_op_ext_begin(devd_op *op, const char *name)
{
    op->ext_name = name;
    op->t_ext_begin = libxl__devd_now_us();
}

void libxl__devd_op_ext_end(devd_op *op)
{
    if (!op->t_ext_begin)
        return;
    op->ext_us += libxl__devd_now_us() - op->t_ext_begin;
    op->t_ext_begin = 0;
}

/* One line per operation: its whole time, the part that was devd's own
 * (what make bench reads), the wait for a slot and the others' part. */
static void devd_op_timing(libxl__gc *gc, devd_op *op)
{
    uint64_t total;

    libxl__devd_op_ext_end(op);
    total = libxl__devd_now_us() - op->t_event;
    DLOG(INFO, op->dev, "timing: %s total=%.1f devd=%.1f slot=%.1f"
         " %s=%.1f ms", op->what ? op->what : "operation", total / 1e3,
         (total - op->slot_us - op->ext_us) / 1e3, op->slot_us / 1e3,
         op->ext_name ? op->ext_name : "other", op->ext_us / 1e3);
}

/* A device waiting for a slot: what to start, how big its op is, when
 * the event that queued it came and when it was queued; or its running
 * operation, which waits for one (op, got). */
typedef struct {
    devd_op_start_fn *start;
    size_t size;
    uint64_t t_event, t_queued;
    devd_op *op;
    devd_op_slot_fn *got;
} devd_queued;

/* The operation holds one of the listener's slots from now on (once). */
static void devd_slot_take(devd_op *op)
{
    if (op->slot)
        return;
    op->slot = true;
    op->dds->slot_ops++;
}

/* Starts d's operation, in a slot unless `now`; q: as it was queued. */
static void devd_op_start(libxl__egc *egc, libxl__devd_state *dds,
                          devd_guest *g, devd_device *d, int act, bool now,
                          size_t size, devd_op_start_fn *start,
                          const devd_queued *q)
{
    devd_op *op = libxl__devd_op_new(dds, g, d, size);

    if (q) {
        op->t_event = q->t_event ? q->t_event : q->t_queued;
        op->slot_us = libxl__devd_now_us() - q->t_queued;
    }
    if (!now)
        devd_slot_take(op);
    start(egc, op, act);
}

void libxl__devd_op_slotted(libxl__egc *egc, libxl__devd_state *dds,
                            devd_guest *g, devd_device *d, int act, bool now,
                            size_t size, devd_op_start_fn *start)
{
    EGC_GC;
    devd_queued *q;

    if (now || dds->slot_ops < dds->slots) {
        devd_op_start(egc, dds, g, d, act, now, size, start, NULL);
        return;
    }
    /* Busy while queued: events meanwhile mark it dirty, and it is never
     * freed before its turn comes. */
    q = libxl__zalloc(NOGC, sizeof(*q));
    q->start = start;
    q->size = size;
    q->t_event = dds->event_us;
    q->t_queued = libxl__devd_now_us();
    free(d->queued_with);
    d->queued_with = q;
    d->busy = true;
    libxl__devd_queue_push(&dds->table, d, act);
    DLOG(DEBUG, d, "queued for an operation slot (%u waiting)",
         dds->table.nqueued);
}

void libxl__devd_op_slot_wait(libxl__egc *egc, devd_op *op,
                              devd_op_slot_fn *got)
{
    EGC_GC;
    libxl__devd_state *dds = op->dds;
    devd_device *d = op->dev;
    devd_queued *q;

    if (dds->aborting) {
        got(egc, op, ERROR_ABORTED);
        return;
    }
    if (op->slot || dds->slot_ops < dds->slots) {
        devd_slot_take(op);
        got(egc, op, 0);
        return;
    }
    /* (The device is busy: no event pushes it meanwhile.) */
    q = libxl__zalloc(NOGC, sizeof(*q));
    q->op = op;
    q->got = got;
    q->t_queued = libxl__devd_now_us();
    free(d->queued_with);
    d->queued_with = q;
    libxl__devd_queue_push(&dds->table, d, 0);
    DLOG(DEBUG, d, "its operation waits for a slot (%u waiting)",
         dds->table.nqueued);
}

/* The oldest waiting for a slot, taken off the queue: a device (its
 * action in *act) or a running operation (q->op). */
static devd_device *devd_slot_pop(libxl__devd_state *dds, devd_queued *q,
                                  int *act)
{
    devd_device *d = libxl__devd_queue_pop(&dds->table, act);

    if (!d)
        return NULL;
    *q = *(devd_queued *)d->queued_with;
    free(d->queued_with);
    d->queued_with = NULL;
    return d;
}

/* A slot was freed: start the oldest queued operation, or let the oldest
 * waiting operation go on. */
static void devd_slot_next(libxl__egc *egc, libxl__devd_state *dds)
{
    devd_device *d;
    devd_queued q;
    int act;

    while (dds->slot_ops < dds->slots &&
           (d = devd_slot_pop(dds, &q, &act))) {
        devd_guest *g = libxl__devd_guest_find(&dds->table, d->domid);

        if (q.op) {
            devd_slot_take(q.op);
            q.op->slot_us += libxl__devd_now_us() - q.t_queued;
            q.got(egc, q.op, 0);
            continue;
        }
        /* Still dirty, if events came: looked at again when this
         * operation ends (the start function may look now). */
        d->busy = false;    /* op_new takes it again */
        devd_op_start(egc, dds, g, d, act, false, q.size, q.start, &q);
    }
}

void libxl__devd_op_slot_release(libxl__egc *egc, devd_op *op)
{
    if (!op->slot)
        return;
    op->slot = false;
    op->dds->slot_ops--;
    devd_slot_next(egc, op->dds);
}

void libxl__devd_op_done(libxl__egc *egc, devd_op *op)
{
    libxl__devd_state *dds = op->dds;
    devd_guest *g = op->guest;
    devd_device *d = op->dev;
    devd_op_after_fn *after = op->after;
    bool removed = op->removed, dirty = d->dirty, slot = op->slot;
    char name[DEVD_KIND_LEN];
    uint32_t domid = d->domid, devid = d->devid;

    memcpy(name, d->kind, sizeof(name));
    d->busy = false;
    d->dirty = false;
    {
        STATE_AO_GC(op->nested);
        devd_op_timing(gc, op);
        if (removed)
            libxl__devd_device_drop(gc, dds, g, d);
    }
    libxl__nested_ao_free(op->nested);    /* frees op */
    dds->ops_inflight--;
    if (slot)
        dds->slot_ops--;

    if (dds->aborting) {
        if (!dds->ops_inflight)
            libxl__devd_stopped(egc, dds);
        return;
    }
    /* Something changed while we were busy: look again.  After a
     * removal, at a backend that may be new (the old directory may have
     * gone first, and dom0 may have attached the same device again). */
    if (dirty)
        libxl__devd_reevaluate(egc, dds, name, domid, devid);
    if (after)
        after(egc, dds, name, domid, devid);
    if (slot)
        devd_slot_next(egc, dds);
}

/*----- stopping -----*/

/* (Devices queued for a slot leave the queue too, their operations never
 * started: nothing new starts now.) */
void libxl__devd_op_abort_waiters(libxl__egc *egc, libxl__devd_state *dds)
{
    devd_device *d;
    devd_queued q;
    int act;

    while ((d = devd_slot_pop(dds, &q, &act)))
        if (q.op)
            q.got(egc, q.op, ERROR_ABORTED);
}
