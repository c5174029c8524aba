/*
 * Unit tests of the listener core (libxl_devd.c), its XenStore helpers
 * (libxl_devd_xs.c), the shared backend rules (libxl_devd_backend.c) and
 * the module for unserved kinds (libxl_devd_unserved.c), compiled unchanged
 * against a stand-in libxl (fakelibxl/, fake_libxl.c) and driven through
 * two fake kinds: "fake" (the backend rules, with operations the test
 * ends when it likes) and "raw" (its own changed hook).  No Xen.
 */
#include "test_helpers.h"
#include "fake_libxl.h"
#include "libxl_devd_internal.h"

#include <time.h>

#define BE "/local/domain/5/backend"

static libxl_ctx ctx_s;
static libxl_ctx *ctx = &ctx_s;
static libxl__devd_state *dds;      /* the running handler's */

/*----- the fake kind: backend rules, operations ended by the test -----*/

static struct {
    devd_op *ops[32];
    int nops;
    int adds, removes, forgets, starts, ups, guest_disposes, disposes;
    int adopted_calls, last_act;
    bool adopted_before_pending;
    libxl__devd_pendings pend;
} K;

const libxl__devd_kind fake_kind, raw_kind;

static void fk_start(libxl__egc *egc, devd_op *op, int act)
{
    dds = op->dds;
    K.ops[K.nops++] = op;
    K.starts++;
    K.last_act = act;
}

static void fk_add(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *s,
                   devd_guest *g, devd_device *d)
{
    int *data = libxl__devd_guest_data(s, g, &fake_kind, sizeof(int));

    (*data)++;
    K.adds++;
    d->state = DEVD_DEV_ADDING;
    libxl__devd_op_slotted(egc, s, g, d, DEVD_ACT_ADD, false,
                           sizeof(devd_op), fk_start);
}

static void fk_remove(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *s,
                      devd_guest *g, devd_device *d)
{
    K.removes++;
    d->state = DEVD_DEV_REMOVING;
    libxl__devd_op_slotted(egc, s, g, d, DEVD_ACT_REMOVE, true,
                           sizeof(devd_op), fk_start);
}

static void fk_forget(libxl__gc *gc, libxl__devd_state *s, devd_guest *g,
                      devd_device *d)
{
    K.forgets++;
}

static void fk_adopted_up(libxl__devd_state *s, devd_guest *g, devd_device *d)
{
    K.ups++;
}

static const libxl__devd_backend_ops fk_ops = {
    .add = fk_add, .remove = fk_remove, .forget = fk_forget,
    .adopted_up = fk_adopted_up,
};

static void fk_changed(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *s,
                       const char *name, uint32_t domid, uint32_t devid)
{
    dds = s;
    libxl__devd_backend_changed(egc, gc, s, &fake_kind, &fk_ops, name, domid,
                                devid);
}

static void fk_adopt(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *s,
                     const char *name, uint32_t domid, uint32_t devid)
{
    dds = s;
    libxl__devd_backend_adopt(gc, s, &fake_kind, &fk_ops, name, domid, devid,
                              &K.pend);
}

static void fk_adopted(libxl__egc *egc, libxl__devd_state *s)
{
    K.adopted_calls++;
    K.adopted_before_pending = K.starts == 0;
    libxl__devd_backend_adopt_finish(egc, s, &fk_ops, &K.pend);
}

static void fk_dispose(libxl__gc *gc, libxl__devd_state *s, devd_device *d)
{
    K.disposes++;
}

static void fk_guest_dispose(libxl__gc *gc, libxl__devd_state *s,
                             devd_guest *g, void *data)
{
    K.guest_disposes++;
}

static const char *const fake_names[] = { "fake", "fake2", NULL };

const libxl__devd_kind fake_kind = {
    .what = "test", .names = fake_names, .device_size = 8,
    .adopt = fk_adopt, .adopted = fk_adopted, .changed = fk_changed,
    .dispose = fk_dispose, .guest_dispose = fk_guest_dispose,
};

/*----- the raw kind: counts what the core gives it -----*/

static struct {
    int changed, adopt, init;
    int init_rc;
    char last[64];
} R;

static void raw_changed(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *s,
                        const char *name, uint32_t domid, uint32_t devid)
{
    R.changed++;
    snprintf(R.last, sizeof(R.last), "%s/%u/%u", name, domid, devid);
}

static void raw_adopt(libxl__egc *egc, libxl__gc *gc, libxl__devd_state *s,
                      const char *name, uint32_t domid, uint32_t devid)
{
    devd_guest *g;

    R.adopt++;
    libxl__devd_device_new(gc, s, &raw_kind, name, domid, devid,
                           DEVD_DEV_CONNECTED, &g);
}

static int raw_init(libxl__gc *gc, libxl__devd_state *s, void *state)
{
    R.init++;
    assert_non_null(state);
    assert_ptr_equal(libxl__devd_kind_state(s, &raw_kind), state);
    return R.init_rc;
}

static const char *const raw_names[] = { "raw", NULL };

const libxl__devd_kind raw_kind = {
    .what = "raw", .names = raw_names, .state_size = 16, .init = raw_init,
    .adopt = raw_adopt, .changed = raw_changed,
};

/* The kind table (libxl_devd_kinds.c), with the fake kinds in it; the
 * module for kinds devd does not serve is the real one. */
const libxl__devd_kind *const libxl__devd_kinds[] = {
    &fake_kind, &raw_kind, NULL,
};

/*----- helpers -----*/

static int setup(void **s)
{
    memset(&K, 0, sizeof(K));
    memset(&R, 0, sizeof(R));
    memset(&W, 0, sizeof(W));
    fake_xs_reset();
    ctx_s.nogc_gc.owner = ctx;
    ctx_s.nogc_gc.nogc = true;
    dds = NULL;
    return 0;
}

static int teardown(void **s)
{
    free(K.pend.v);
    fake_xs_reset();
    return 0;
}

static void be_write(const char *dev, int state, int online)
{
    char p[128], v[16];

    snprintf(p, sizeof(p), BE "/%s/state", dev);
    snprintf(v, sizeof(v), "%d", state);
    fake_xs_write(p, v);
    if (online < 0)
        return;
    snprintf(p, sizeof(p), BE "/%s/online", dev);
    snprintf(v, sizeof(v), "%d", online);
    fake_xs_write(p, v);
}

static void fire(const char *dev)
{
    char p[128];

    snprintf(p, sizeof(p), BE "/%s", dev);
    fake_fire(ctx, p);
}

static void start(void)
{
    assert_int_equal(libxl_device_events_handler(ctx, NULL), 0);
    assert_non_null(W.top);
    dds = W.dds;
    assert_non_null(dds);
    fake_fire(ctx, BE);     /* xenstored's firing at registration */
}

static devd_device *dev(const char *kind, uint32_t domid, uint32_t devid)
{
    devd_guest *g = libxl__devd_guest_find(&dds->table, domid);

    return libxl__devd_device_find(g, kind, devid);
}

/* Ends the test's i-th running operation. */
enum { END_UP, END_FAILED, END_REMOVED };
static void end_op(int i, int how)
{
    libxl__egc egc = { .gc = { .owner = ctx } };
    devd_op *op = K.ops[i];

    if (how == END_UP)
        op->dev->state = DEVD_DEV_CONNECTED;
    else if (how == END_FAILED)
        op->dev->state = DEVD_DEV_FAILED;
    else
        op->removed = true;
    memmove(&K.ops[i], &K.ops[i + 1], (K.nops - i - 1) * sizeof(K.ops[0]));
    K.nops--;
    libxl__devd_op_done(&egc, op);
    fake_gc_free(&egc.gc);
}

static void stop(void)
{
    fake_abort(ctx);
    while (K.nops)
        end_op(0, END_UP);
    assert_true(W.completed);
    assert_int_equal(W.complete_rc, ERROR_ABORTED);
    assert_int_equal(W.nested, 0);
    assert_int_equal(W.registered, 0);
}

/*----- where an operation's time went -----*/

static void sleep_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };

    nanosleep(&ts, NULL);
}

/* The figures of the last timing line: total, devd, slot, ext. */
static void timing_of_last(const char *what, const char *ext, double v[4])
{
    char fmt[128];
    const char *t = strstr(W.last_log, "timing: ");

    assert_non_null(t);
    snprintf(fmt, sizeof(fmt), "timing: %s total=%%lf devd=%%lf slot=%%lf"
             " %s=%%lf ms", what, ext);
    assert_int_equal(sscanf(t, fmt, &v[0], &v[1], &v[2], &v[3]), 4);
    /* The parts add up to the whole (rounding aside). */
    assert_true(v[1] + v[2] + v[3] > v[0] - 0.3 &&
                v[1] + v[2] + v[3] < v[0] + 0.3);
}

/* Each operation's end logs where its time went: the wait for someone
 * else's work and for a slot are told apart from devd's own share. */
static void test_op_timing(void **s)
{
    double v[4];

    start();
    dds->slots = 1;
    be_write("fake/7/1", 2, 1);
    fire("fake/7/1/state");
    be_write("fake/7/2", 2, 1);
    fire("fake/7/2/state");     /* queued behind the first */
    assert_int_equal(K.nops, 1);
    libxl__devd_op_what(K.ops[0], "attach");
    libxl__devd_op_ext_begin(K.ops[0], "script");
    sleep_ms(40);
    libxl__devd_op_ext_end(K.ops[0]);
    libxl__devd_op_ext_end(K.ops[0]);       /* (once only) */
    end_op(0, END_UP);
    /* The first: the script's 40 ms are not devd's. */
    timing_of_last("attach", "script", v);
    assert_true(v[3] >= 40.0);
    assert_true(v[1] < 10.0 && v[2] < 10.0);
    assert_int_equal(K.nops, 1);
    assert_string_equal(K.ops[0]->dev->kind, "fake");
    assert_int_equal(K.ops[0]->dev->devid, 2);
    libxl__devd_op_what(K.ops[0], "attach");
    libxl__devd_op_ext_begin(K.ops[0], "tapdisk");
    sleep_ms(10);
    /* Still waiting at its end: counted as the others' time. */
    end_op(0, END_UP);
    timing_of_last("attach", "tapdisk", v);
    assert_true(v[3] >= 10.0);
    assert_true(v[2] >= 40.0);              /* queued behind the first */
    assert_true(v[1] < 10.0);
    /* Nothing waited for, nothing named: all its time is devd's. */
    be_write("fake/7/1", 6, 0);
    fire("fake/7/1/state");
    assert_int_equal(K.nops, 1);
    end_op(0, END_UP);
    timing_of_last("operation", "other", v);
    assert_true(v[3] == 0.0 && v[2] < 10.0);
    stop();
}

/*----- start and stop -----*/

static void test_start_stop(void **s)
{
    start();
    assert_int_equal(R.init, 1);
    assert_non_null(W.watches[0]);
    assert_string_equal(W.watches[0]->path, BE);
    assert_int_equal(K.adopted_calls, 1);
    stop();
    assert_null(W.watches[0]);
}

static void test_start_failures(void **s)
{
    W.no_domid = true;
    assert_int_equal(libxl_device_events_handler(ctx, NULL), ERROR_FAIL);
    W.no_domid = false;
    W.watch_fail = true;
    assert_int_equal(libxl_device_events_handler(ctx, NULL), ERROR_FAIL);
    W.watch_fail = false;
    R.init_rc = ERROR_INVAL;
    assert_int_equal(libxl_device_events_handler(ctx, NULL), ERROR_INVAL);
    R.init_rc = 0;
    /* The administrator's parameters are checked. */
    {
        libxl_device_events_params p;

        libxl_device_events_params_init(&p);
        p.max_ring_page_order = 4;
        assert_int_equal(libxl_device_events_handler_params(ctx, &p, NULL),
                         ERROR_INVAL);
        p.max_ring_page_order = 1;
        p.script_slots = -1;
        assert_int_equal(libxl_device_events_handler_params(ctx, &p, NULL),
                         ERROR_INVAL);
        p.script_slots = 3;
        assert_int_equal(libxl_device_events_handler_params(ctx, &p, NULL),
                         0);
        assert_int_equal(W.dds->slots, 3);
        assert_int_equal(W.dds->max_ring_page_order, 1);
        dds = W.dds;
        stop();
        memset(&W, 0, sizeof(W));
    }
    /* One handler per ctx. */
    start();
    assert_int_equal(libxl_device_events_handler(ctx, NULL), ERROR_INVAL);
    stop();
    assert_int_equal(W.nested, 0);
}

/*----- events -----*/

/* A new backend is added; an event while its operation runs only marks
 * it dirty, and it is looked at again when the operation ends. */
static void test_add_busy_dirty(void **s)
{
    devd_device *d;

    start();
    be_write("fake/7/1", 1, 1);
    /* The directory itself, of a device not tracked: nothing (its keys
     * send their own events). */
    fire("fake/7/1");
    assert_int_equal(K.adds, 0);
    fire("fake/7/1/state");
    assert_int_equal(K.adds, 1);
    assert_int_equal(K.nops, 1);
    d = dev("fake", 7, 1);
    assert_non_null(d);
    assert_true(d->busy);
    assert_int_equal(d->module, 0);
    /* Closed with online 0 while busy: deferred, and what the state was
     * meanwhile is not kept. */
    be_write("fake/7/1", 6, 0);
    fire("fake/7/1/state");
    assert_true(d->dirty);
    assert_int_equal(d->last_state, -1);
    assert_int_equal(K.removes, 0);
    /* Other keys than state and online mean nothing. */
    fire("fake/7/1/params");
    end_op(0, END_UP);
    /* Looked at again: the removal starts at once. */
    assert_int_equal(K.removes, 1);
    assert_int_equal(K.nops, 1);
    assert_int_equal(K.last_act, DEVD_ACT_REMOVE);
    end_op(0, END_REMOVED);
    assert_null(libxl__devd_guest_find(&dds->table, 7));
    assert_int_equal(K.guest_disposes, 1);
    assert_int_equal(K.disposes, 1);
    stop();
}

/* Adds wait for a slot, in order; a removal starts at once. */
static void test_slots_queue(void **s)
{
    char txt[32];
    int i;

    start();
    be_write("fake/9/1", 4, 1);
    fire("fake/9/1/state");
    end_op(0, END_UP);
    dds->slots = 2;
    for (i = 1; i <= 4; i++) {
        snprintf(txt, sizeof(txt), "fake/8/%d", i);
        be_write(txt, 2, 1);
        snprintf(txt, sizeof(txt), "fake/8/%d/state", i);
        fire(txt);
    }
    assert_int_equal(K.adds, 5);
    assert_int_equal(K.nops, 2);
    assert_int_equal(dds->table.nqueued, 2);
    assert_true(dev("fake", 8, 3)->queued && dev("fake", 8, 3)->busy);
    /* An event on a queued device: dirty, still queued. */
    fire("fake/8/4/state");
    assert_true(dev("fake", 8, 4)->dirty);
    /* A removal goes ahead of the queue. */
    be_write("fake/9/1", 6, 0);
    fire("fake/9/1/state");
    assert_int_equal(K.nops, 3);
    end_op(2, END_REMOVED);
    assert_int_equal(dds->table.nqueued, 2);
    /* A slot frees: the oldest queued starts. */
    end_op(0, END_UP);
    assert_int_equal(K.nops, 2);
    assert_ptr_equal(K.ops[1]->dev, dev("fake", 8, 3));
    assert_false(dev("fake", 8, 3)->queued);
    /* A slot given back during a pause starts the next at once. */
    libxl__devd_op_slot_release(NULL, K.ops[0]);
    assert_int_equal(K.nops, 3);
    assert_ptr_equal(K.ops[2]->dev, dev("fake", 8, 4));
    libxl__devd_op_slot_release(NULL, K.ops[0]);    /* idempotent */
    while (K.nops)
        end_op(0, END_UP);
    assert_int_equal(dds->table.nqueued, 0);
    stop();
}

/* A running operation that waits for a slot (a removal's script):
 * served in FIFO order with the queued devices; told when devd stops. */
static struct { devd_op *op[4]; int rc[4]; int n; bool end_on_abort; } G;

static void got_slot(libxl__egc *egc, devd_op *op, int rc)
{
    int i;

    G.op[G.n] = op;
    G.rc[G.n++] = rc;
    if (rc && G.end_on_abort)       /* as a module's would: it ends */
        for (i = 0; i < K.nops; i++)
            if (K.ops[i] == op)
                end_op(i, END_REMOVED);
}

static void wait_slot(devd_op *op)
{
    libxl__egc egc = { .gc = { .owner = ctx } };

    libxl__devd_op_slot_wait(&egc, op, got_slot);
    fake_gc_free(&egc.gc);
}

/* devd started with fake/9/1 up, and `slots` slots. */
static void start_slots(int slots)
{
    memset(&G, 0, sizeof(G));
    start();
    be_write("fake/9/1", 4, 1);
    fire("fake/9/1/state");
    end_op(0, END_UP);
    dds->slots = slots;
}

/* devd stops: each waiting operation is told, and ends at once. */
static void abort_waiters(int told)
{
    G.end_on_abort = true;
    fake_abort(ctx);
    assert_int_equal(G.n, told);
    assert_int_equal(G.rc[told - 1], ERROR_ABORTED);
}

static void assert_completed(void)
{
    assert_true(W.completed);
    assert_int_equal(W.complete_rc, ERROR_ABORTED);
    assert_int_equal(W.nested, 0);
}

static void test_slot_wait(void **s)
{
    start_slots(1);
    be_write("fake/9/2", 2, 1);
    fire("fake/9/2/state");             /* an add: takes the slot */
    assert_int_equal(K.nops, 1);
    assert_true(K.ops[0]->slot);
    be_write("fake/9/1", 6, 0);
    fire("fake/9/1/state");             /* a removal: starts, no slot */
    assert_int_equal(K.nops, 2);
    assert_false(K.ops[1]->slot);
    wait_slot(K.ops[1]);                /* its script must wait */
    assert_int_equal(G.n, 0);
    assert_int_equal(dds->table.nqueued, 1);
    be_write("fake/9/3", 2, 1);
    fire("fake/9/3/state");             /* an add, queued behind it */
    assert_int_equal(dds->table.nqueued, 2);
    /* The slot frees: the waiting operation goes on, the add waits. */
    end_op(0, END_UP);
    assert_int_equal(G.n, 1);
    assert_int_equal(G.rc[0], 0);
    assert_true(G.op[0]->slot);
    assert_int_equal(dds->slot_ops, 1);
    assert_int_equal(K.nops, 1);
    assert_int_equal(dds->table.nqueued, 1);
    /* It holds the slot already: a second wait goes on at once. */
    wait_slot(K.ops[0]);
    assert_int_equal(G.n, 2);
    assert_int_equal(G.rc[1], 0);
    /* A pause gives it back: the queued add starts; then it waits. */
    libxl__devd_op_slot_release(NULL, K.ops[0]);
    assert_int_equal(K.nops, 2);
    assert_ptr_equal(K.ops[1]->dev, dev("fake", 9, 3));
    wait_slot(K.ops[0]);
    assert_int_equal(G.n, 2);
    /* devd stops: the handler completes once, when the add ends too. */
    abort_waiters(3);
    assert_int_equal(dds->table.nqueued, 0);
    assert_false(W.completed);
    end_op(0, END_UP);
    assert_completed();
}

/* The only operation in flight waits for a slot when devd stops: the
 * handler completes once, from under the abort. */
static void test_slot_wait_abort_last(void **s)
{
    start_slots(0);                     /* (no slot ever frees) */
    be_write("fake/9/1", 6, 0);
    fire("fake/9/1/state");
    wait_slot(K.ops[0]);
    assert_int_equal(G.n, 0);
    abort_waiters(1);
    assert_int_equal(K.nops, 0);
    assert_completed();
}

/* A failed device is retried on a real change only. */
static void test_failed_retry(void **s)
{
    start();
    be_write("fake/3/0", 2, 1);
    fire("fake/3/0/state");
    {
        libxl__egc egc = { .gc = { .owner = ctx } };
        libxl__devd_fail(&egc.gc, dds, K.ops[0]->dev, "boom", true);
        fake_gc_free(&egc.gc);
    }
    assert_string_equal(fake_xs_get(BE "/fake/3/0/hotplug-error"), "boom");
    assert_string_equal(fake_xs_get(BE "/fake/3/0/hotplug-status"), "error");
    end_op(0, END_FAILED);
    fire("fake/3/0/state");             /* the echo: nothing */
    assert_int_equal(K.adds, 1);
    be_write("fake/3/0", 1, 1);
    fire("fake/3/0/state");             /* a real change: again */
    assert_int_equal(K.adds, 2);
    end_op(0, END_UP);
    stop();
}

/* The after hook runs once the operation has ended, and not on abort. */
static int afters;
static void count_after(libxl__egc *egc, libxl__devd_state *s,
                        const char *name, uint32_t domid, uint32_t devid)
{
    afters++;
    assert_string_equal(name, "fake");
    assert_false(dev(name, domid, devid)->busy);
}

static void test_after(void **s)
{
    afters = 0;
    start();
    be_write("fake/4/1", 2, 1);
    fire("fake/4/1/state");
    K.ops[0]->after = count_after;
    end_op(0, END_UP);
    assert_int_equal(afters, 1);
    be_write("fake/4/2", 2, 1);
    fire("fake/4/2/state");
    K.ops[0]->after = count_after;
    fake_abort(ctx);
    end_op(0, END_UP);
    assert_int_equal(afters, 1);
    assert_true(W.completed);
}

/* Backend directories that go: their devices are forgotten, through the
 * event on the directory (the device's own event may never come). */
static void test_prefix_forget(void **s)
{
    char p[64];
    int i;

    start();
    for (i = 0; i < 10; i++) {
        snprintf(p, sizeof(p), "fake/%d/1", 20 + i);
        be_write(p, 4, 1);
    }
    be_write("fake2/20/1", 4, 1);
    be_write("raw/20/1", 4, 1);
    fake_fire(ctx, BE "/fake");
    fake_fire(ctx, BE "/fake2/20");
    assert_int_equal(K.adds, 0);    /* prefix events add nothing */
    for (i = 0; i < 10; i++) {
        snprintf(p, sizeof(p), "fake/%d/1/state", 20 + i);
        fire(p);
        end_op(0, END_UP);
    }
    fire("fake2/20/1/state");
    end_op(0, END_UP);
    /* A tracked device's directory event while it is there: nothing. */
    fire("fake/22/1");
    assert_int_equal(K.forgets, 0);
    assert_non_null(dev("fake", 22, 1));
    /* ... and once it is gone: forgotten. */
    fake_xs_rm(BE "/fake/22/1");
    fire("fake/22/1");
    assert_int_equal(K.forgets, 1);
    be_write("fake/22/1", 4, 1);
    fire("fake/22/1/state");
    end_op(0, END_UP);
    K.forgets = 0;
    fake_xs_rm(BE "/fake/21");
    fire("fake/21");
    assert_int_equal(K.forgets, 1);
    assert_null(libxl__devd_guest_find(&dds->table, 21));
    /* The whole kind directory: every guest looked at, in its own ao. */
    fake_xs_rm(BE "/fake");
    fake_fire(ctx, BE "/fake");
    assert_int_equal(K.forgets, 10);
    assert_non_null(dev("fake2", 20, 1));
    fake_xs_rm(BE);
    fake_fire(ctx, BE);
    assert_int_equal(K.forgets, 11);
    assert_int_equal(dds->table.ndevices, 0);
    stop();
}

/* Unserved kinds: tracked to be logged once, forgotten when gone;
 * malformed paths ignored; the raw kind gets its events. */
static void test_dispatch(void **s)
{
    int infos;

    start();
    be_write("console/2/0", 4, 1);
    fire("console/2/0/state");
    assert_int_equal(dev("console", 2, 0)->state, DEVD_DEV_UNSUPPORTED);
    infos = W.nlog[XTL_INFO];
    fire("console/2/0/state");
    assert_int_equal(W.nlog[XTL_INFO], infos);      /* said once */
    fake_xs_rm(BE "/console/2/0");
    fire("console/2/0/state");
    assert_null(libxl__devd_guest_find(&dds->table, 2));
    be_write("console/2/1", 6, 1);                  /* Closed: untracked */
    fire("console/2/1/state");
    assert_null(libxl__devd_guest_find(&dds->table, 2));
    fire("raw/3/4/online");
    assert_int_equal(R.changed, 1);
    assert_string_equal(R.last, "raw/3/4");
    fake_fire(ctx, BE "/raw/x/4");
    fake_fire(ctx, "/local/domain/5/elsewhere");
    assert_int_equal(R.changed, 1);
    /* Junk: logged, nothing done until it changes. */
    fake_xs_write(BE "/fake/6/1/state", "4junk");
    fire("fake/6/1/state");
    fake_xs_write_len(BE "/fake/6/1/state", "4\0x", 3);
    fire("fake/6/1/state");
    be_write("fake/6/1", 4, 7);
    fire("fake/6/1/online");
    assert_int_equal(K.adds, 0);
    W.xs_fail_reads = true;
    fire("fake/6/1/state");
    W.xs_fail_reads = false;
    assert_int_equal(K.adds, 0);
    stop();
}

/*----- adoption -----*/

static void test_adopt_every_state(void **s)
{
    /* up, its script done */
    be_write("fake/10/1", 4, 1);
    /* waiting for its script: added */
    be_write("fake/10/2", 2, 1);
    /* removed while no devd ran, the script had run: removed */
    be_write("fake/10/3", 6, 0);
    fake_xs_write(BE "/fake/10/3/hotplug-status", "connected");
    /* the same, never brought up: removed without a script */
    be_write("fake/10/4", 6, 0);
    /* Closed, online 1: up (its reference is held) */
    be_write("fake/10/5", 6, 1);
    /* InitWait with hotplug-status connected: up */
    be_write("fake/10/6", 2, 1);
    fake_xs_write(BE "/fake/10/6/hotplug-status", "connected");
    /* junk: not tracked */
    fake_xs_write(BE "/fake/10/7/state", "x");
    /* unserved, and unserved but Closed */
    be_write("vkbd/10/0", 4, 1);
    be_write("vkbd/10/1", 6, 0);
    /* malformed directories */
    be_write("fake/x/1", 4, 1);
    be_write("fake/11/y", 4, 1);
    be_write("bad kind/11/1", 4, 1);
    be_write("raw/12/1", 4, 1);
    start();
    assert_int_equal(dev("fake", 10, 1)->state, DEVD_DEV_CONNECTED);
    assert_int_equal(dev("fake", 10, 2)->state, DEVD_DEV_ADDING);
    assert_int_equal(dev("fake", 10, 5)->state, DEVD_DEV_CONNECTED);
    assert_int_equal(dev("fake", 10, 6)->state, DEVD_DEV_CONNECTED);
    assert_null(dev("fake", 10, 7));
    assert_int_equal(dev("vkbd", 10, 0)->state, DEVD_DEV_UNSUPPORTED);
    assert_null(dev("vkbd", 10, 1));
    assert_null(libxl__devd_guest_find(&dds->table, 11));
    assert_non_null(dev("raw", 12, 1));
    assert_int_equal(R.adopt, 1);
    assert_int_equal(K.ups, 4);     /* 1, 3 (then removed), 5, 6 */
    /* One line for them all; one each only for those with work left. */
    {
        char line[256];
        unsigned int n, up, failed, busy, unserved;

        assert_int_equal(fake_logged("already there", line, sizeof(line)),
                         XTL_INFO);
        assert_int_equal(sscanf(line, "adopted %u backend(s) already there:"
                                " %u up, %u failed, %u being worked on, %u",
                                &n, &up, &failed, &busy, &unserved), 5);
        assert_int_equal(up, 5);            /* the four, and raw's */
        assert_int_equal(unserved, 1);      /* vkbd/10/0 */
        assert_int_equal(n, up + failed + busy + unserved);
        assert_int_equal(fake_logged("fake 1: adopted", NULL, 0), -1);
        assert_int_equal(fake_logged("fake 2: adopted", NULL, 0), XTL_INFO);
        assert_int_equal(fake_logged("fake 3: adopted", NULL, 0), XTL_INFO);
    }
    /* What was left to do ran after every backend was seen. */
    assert_true(K.adopted_before_pending);
    assert_int_equal(K.adds, 1);
    assert_int_equal(K.removes, 2);
    /* (the add may wait for a slot that the removals took) */
    assert_int_equal(K.nops + dds->table.nqueued, 3);
    assert_int_equal(dev("fake", 10, 4)->state, DEVD_DEV_REMOVING);
    stop();
}

/*----- abort -----*/

static void test_abort_in_flight(void **s)
{
    start();
    be_write("fake/13/1", 2, 1);
    be_write("fake/13/2", 2, 1);
    fire("fake/13/1/state");
    fire("fake/13/2/state");
    assert_int_equal(K.nops, 2);
    be_write("fake/13/1", 6, 0);
    fire("fake/13/1/state");            /* dirty */
    fake_abort(ctx);
    assert_false(W.completed);
    assert_null(W.watches[0]);
    fire("fake/13/2/state");            /* no watch: nothing */
    end_op(0, END_UP);
    assert_false(W.completed);
    assert_int_equal(K.removes, 0);     /* dirty, but stopping */
    end_op(0, END_UP);
    assert_true(W.completed);
    assert_int_equal(W.complete_rc, ERROR_ABORTED);
    assert_int_equal(K.disposes, 2);
    assert_int_equal(K.guest_disposes, 1);
    assert_int_equal(W.nested, 0);
}

/*----- XenStore helpers -----*/

static int bodies;
static int body(libxl__gc *gc, xs_transaction_t t, void *arg)
{
    bodies++;
    return *(int *)arg;
}

static void test_helpers(void **s)
{
    libxl__gc gc_s = { .owner = ctx }, *gc = &gc_s;
    const char *v;
    bool esc, present, ok;
    int rc, val;

    bodies = 0;
    rc = 0;
    W.txn_conflicts = 2;
    assert_int_equal(libxl__devd_xs_txn(gc, body, &rc), 0);
    assert_int_equal(bodies, 3);
    rc = DEVD_TXN_NOTHING;
    assert_int_equal(libxl__devd_xs_txn(gc, body, &rc), 0);
    rc = ERROR_NOTFOUND;
    assert_int_equal(libxl__devd_xs_txn(gc, body, &rc), ERROR_NOTFOUND);

    fake_xs_write_len("/a/b", "13\0junk", 7);
    assert_int_equal(libxl__devd_xs_read(gc, XBT_NULL, "/a/b", &v, &esc), 0);
    assert_true(esc);
    assert_string_equal(v, "13\\x00junk");
    assert_int_equal(libxl__devd_xs_read(gc, XBT_NULL, "/a/c", &v, NULL), 0);
    assert_null(v);
    W.xs_fail_reads = true;
    assert_int_equal(libxl__devd_xs_read(gc, XBT_NULL, "/a/b", &v, NULL),
                     ERROR_FAIL);
    W.xs_fail_reads = false;
    assert_string_equal(libxl__devd_show(gc, "a\nb\x1b"), "a\\nb\\x1b");
    assert_string_equal(libxl__devd_show(gc, NULL), "(missing)");

    fake_xs_write("/be/online", "1");
    assert_int_equal(libxl__devd_read_value(gc, "/be", 1, "online", &present,
                                            &ok, &val), 0);
    assert_true(present && ok);
    assert_int_equal(val, 1);
    assert_int_equal(libxl__devd_read_value(gc, "/be", 1, "state", &present,
                                            &ok, &val), 0);
    assert_false(present);
    assert_non_null(libxl__devd_list(gc, "/be", (unsigned int *)&val));
    assert_int_equal(val, 1);
    libxl__devd_list(gc, "/nothing", (unsigned int *)&val);
    assert_int_equal(val, 0);
    fake_gc_free(gc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_busy_dirty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slots_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_wait_abort_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopt_every_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_timing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
