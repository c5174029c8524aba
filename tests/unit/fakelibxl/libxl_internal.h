/*
 * The listener core's unit tests: a stand-in for the few parts of libxl's
 * libxl_internal.h that the core (libxl_devd.c, libxl_devd_xs.c,
 * libxl_devd_backend.c) uses, so that it is compiled unchanged and run
 * without Xen.  Memory is per gc as in libxl; XenStore is an in-memory
 * tree; a watch fires when the test says so (fake_libxl.c).
 */
#ifndef FAKE_LIBXL_INTERNAL_H
#define FAKE_LIBXL_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _hidden

#define ERROR_FAIL -3
#define ERROR_INVAL -6
#define ERROR_NOMEM -5
#define ERROR_NOTFOUND -25
#define ERROR_ABORTED -31
#define ERROR_TIMEDOUT -28

typedef enum { XTL_DEBUG, XTL_INFO, XTL_WARN, XTL_ERROR } fake_level;

typedef struct libxl_ctx libxl_ctx;
typedef struct libxl__gc libxl__gc;
typedef struct libxl__ao libxl__ao;
typedef struct libxl__egc libxl__egc;
typedef struct libxl_asyncop_how libxl_asyncop_how;
typedef uint32_t xs_transaction_t;
#define XBT_NULL 0u

struct libxl__gc {
    libxl_ctx *owner;
    bool nogc;          /* plain malloc: the caller frees */
    void **ptrs;
    int n, cap;
};

struct libxl_ctx {
    struct xs_handle *xsh;
    libxl__gc nogc_gc;
};

struct libxl__ao {
    libxl__gc gc;
    libxl__ao *parent;  /* NULL: the top ao */
};

struct libxl__egc {
    libxl__gc gc;
};

#define CONTAINER_OF(inner_ptr, outer, member_name)                     \
    ((__typeof__(outer) *)((char *)(inner_ptr) -                        \
                           offsetof(__typeof__(outer), member_name)))

#define CTX libxl__gc_owner(gc)
#define NOGC (&CTX->nogc_gc)
#define GCSPRINTF(...) libxl__sprintf(gc, __VA_ARGS__)
#define GCNEW(var) ((var) = libxl__zalloc(gc, sizeof(*(var))))
#define STATE_AO_GC(op_ao)                                              \
    libxl__ao *const ao = (op_ao);                                      \
    libxl__gc *const gc __attribute__((unused)) = &ao->gc
#define EGC_GC libxl__gc *const gc __attribute__((unused)) = &egc->gc

#define AO_CREATE(ctx, domid, ao_how)                                   \
    libxl__ao *ao = fake_ao_create(ctx);                                \
    libxl__egc egc[1] = { { .gc = { .owner = (ctx) } } };               \
    libxl__gc *const gc __attribute__((unused)) = &ao->gc
#define AO_INPROGRESS (fake_gc_free(&egc->gc), 0)
#define AO_CREATE_FAIL(rc) (fake_gc_free(&egc->gc), fake_ao_fail(ao), (rc))

#define LOG(l, f, ...) fake_log(XTL_##l, -1, 0, f, ##__VA_ARGS__)
#define LOGD(l, d, f, ...) fake_log(XTL_##l, (int)(d), 0, f, ##__VA_ARGS__)
#define LOGE(l, f, ...) fake_log(XTL_##l, -1, errno, f, ##__VA_ARGS__)
#define LOGED(l, d, f, ...) fake_log(XTL_##l, (int)(d), errno, f, ##__VA_ARGS__)

#define XEN_LIST_ENTRY(type) struct { type *le_next; type **le_prev; }

/* libxl's device kinds, as far as the tests need them. */
typedef enum {
    LIBXL__DEVICE_KIND_NONE, LIBXL__DEVICE_KIND_VIF = 1,
    LIBXL__DEVICE_KIND_VBD = 2, LIBXL__DEVICE_KIND_QDISK = 3,
    LIBXL__DEVICE_KIND_9PFS = 13,
} libxl__device_kind;

typedef struct {
    uint32_t backend_devid, backend_domid, devid, domid;
    int backend_kind, kind;
} libxl__device;

/* Watches and aborts, fired by the test. */
typedef struct libxl__ev_xswatch libxl__ev_xswatch;
typedef void libxl__ev_xswatch_callback(libxl__egc *egc, libxl__ev_xswatch *w,
                                        const char *watch_path,
                                        const char *event_path);
struct libxl__ev_xswatch {
    libxl__ev_xswatch_callback *callback;
    char *path;
};

typedef struct libxl__ao_abortable libxl__ao_abortable;
typedef void libxl__ao_abortable_callback(libxl__egc *egc,
                                          libxl__ao_abortable *abrt, int rc);
struct libxl__ao_abortable {
    libxl__ao *ao;
    libxl__ao_abortable_callback *callback;
    bool registered;
};

/* gc */
libxl_ctx *libxl__gc_owner(libxl__gc *gc);
void *libxl__zalloc(libxl__gc *gc, size_t size);
void *libxl__realloc(libxl__gc *gc, void *ptr, size_t size);
void libxl__ptr_add(libxl__gc *gc, void *ptr);
char *libxl__sprintf(libxl__gc *gc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *libxl__strdup(libxl__gc *gc, const char *s);
void fake_gc_free(libxl__gc *gc);

/* aos */
libxl__ao *fake_ao_create(libxl_ctx *ctx);
void fake_ao_fail(libxl__ao *ao);
libxl__ao *libxl__nested_ao_create(libxl__ao *parent);
void libxl__nested_ao_free(libxl__ao *child);
void libxl__ao_complete(libxl__egc *egc, libxl__ao *ao, int rc);
int libxl__ao_abortable_register(libxl__ao_abortable *abrt);
void libxl__ao_abortable_deregister(libxl__ao_abortable *abrt);

/* XenStore */
char *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
              unsigned int *len);
int libxl__xs_read_checked(libxl__gc *gc, xs_transaction_t t,
                           const char *path, const char **result_out);
int libxl__xs_write_checked(libxl__gc *gc, xs_transaction_t t,
                            const char *path, const char *string);
int libxl__xs_printf(libxl__gc *gc, xs_transaction_t t, const char *path,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int libxl__xs_rm_checked(libxl__gc *gc, xs_transaction_t t,
                         const char *path);
char **libxl__xs_directory(libxl__gc *gc, xs_transaction_t t,
                           const char *path, unsigned int *nb);
int libxl__xs_transaction_start(libxl__gc *gc, xs_transaction_t *t);
int libxl__xs_transaction_commit(libxl__gc *gc, xs_transaction_t *t);
void libxl__xs_transaction_abort(libxl__gc *gc, xs_transaction_t *t);
void libxl__ev_xswatch_init(libxl__ev_xswatch *w);
int libxl__ev_xswatch_register(libxl__gc *gc, libxl__ev_xswatch *w,
                               libxl__ev_xswatch_callback *cb,
                               const char *path);
void libxl__ev_xswatch_deregister(libxl__gc *gc, libxl__ev_xswatch *w);

int libxl__device_kind_from_string(const char *s, libxl__device_kind *k);
int libxl__get_domid(libxl__gc *gc, uint32_t *domid);
void fake_log(fake_level l, int domid, int errnoval, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The handler's public entry and its IDL type, as in libxl.h. */
typedef struct {
    int max_ring_page_order;
    int script_slots;
} libxl_device_events_params;
void libxl_device_events_params_init(libxl_device_events_params *p);
void libxl_device_events_params_dispose(libxl_device_events_params *p);
int libxl_device_events_handler(libxl_ctx *ctx,
                                const libxl_asyncop_how *ao_how);
int libxl_device_events_handler_params(libxl_ctx *ctx,
                                const libxl_device_events_params *params,
                                const libxl_asyncop_how *ao_how);

#endif
