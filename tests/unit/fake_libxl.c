/*
 * The listener core's unit tests: the stand-in libxl (see
 * fakelibxl/libxl_internal.h).  Single-threaded, no Xen.
 */
#include "libxl_internal.h"
#include "fake_libxl.h"

/*----- gc -----*/

libxl_ctx *libxl__gc_owner(libxl__gc *gc)
{
    return gc->owner;
}

void libxl__ptr_add(libxl__gc *gc, void *ptr)
{
    if (!ptr || gc->nogc)
        return;
    if (gc->n == gc->cap) {
        gc->cap = gc->cap ? gc->cap * 2 : 16;
        gc->ptrs = realloc(gc->ptrs, gc->cap * sizeof(*gc->ptrs));
        assert(gc->ptrs);
    }
    gc->ptrs[gc->n++] = ptr;
}

void fake_gc_free(libxl__gc *gc)
{
    int i;

    for (i = 0; i < gc->n; i++)
        free(gc->ptrs[i]);
    free(gc->ptrs);
    gc->ptrs = NULL;
    gc->n = gc->cap = 0;
}

void *libxl__zalloc(libxl__gc *gc, size_t size)
{
    void *p = calloc(1, size ? size : 1);

    assert(p);
    libxl__ptr_add(gc, p);
    return p;
}

void *libxl__realloc(libxl__gc *gc, void *ptr, size_t size)
{
    void *p;

    assert(gc->nogc);       /* the core reallocates only its own */
    p = realloc(ptr, size);
    assert(p);
    return p;
}

char *libxl__sprintf(libxl__gc *gc, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    assert(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    libxl__ptr_add(gc, s);
    return s;
}

char *libxl__strdup(libxl__gc *gc, const char *s)
{
    char *d = strdup(s);

    assert(d);
    libxl__ptr_add(gc, d);
    return d;
}

/*----- aos -----*/

fake_world W;

libxl__ao *fake_ao_create(libxl_ctx *ctx)
{
    libxl__ao *ao = calloc(1, sizeof(*ao));

    assert(ao);
    ao->gc.owner = ctx;
    if (!W.top) {
        W.top = ao;
        W.completed = false;
    }
    return ao;
}

static void ao_free(libxl__ao *ao)
{
    fake_gc_free(&ao->gc);
    free(ao);
}

void fake_ao_fail(libxl__ao *ao)
{
    if (W.top == ao)
        W.top = NULL;
    ao_free(ao);
}

libxl__ao *libxl__nested_ao_create(libxl__ao *parent)
{
    libxl__ao *ao = calloc(1, sizeof(*ao));

    assert(ao && parent);
    ao->gc.owner = parent->gc.owner;
    ao->parent = parent;
    W.nested++;
    return ao;
}

void libxl__nested_ao_free(libxl__ao *child)
{
    assert(child->parent && W.nested > 0);
    W.nested--;
    ao_free(child);
}

void libxl__ao_complete(libxl__egc *egc, libxl__ao *ao, int rc)
{
    assert(ao == W.top && !W.completed);
    W.completed = true;
    W.complete_rc = rc;
    W.top = NULL;
    ao_free(ao);
}

int libxl__ao_abortable_register(libxl__ao_abortable *abrt)
{
    abrt->registered = true;
    W.abrt = abrt;
    return 0;
}

void libxl__ao_abortable_deregister(libxl__ao_abortable *abrt)
{
    if (abrt->registered && W.abrt == abrt)
        W.abrt = NULL;
    abrt->registered = false;
}

/*----- XenStore: a list of nodes -----*/

typedef struct node {
    char *path, *value;
    unsigned int len;
    struct node *next;
} node;

static node *nodes;

static node *node_find(const char *path)
{
    node *n;

    for (n = nodes; n; n = n->next)
        if (!strcmp(n->path, path))
            return n;
    return NULL;
}

/* Whether path is a node or has one below it. */
static bool xs_exists(const char *path)
{
    size_t l = strlen(path);
    node *n;

    for (n = nodes; n; n = n->next)
        if (!strncmp(n->path, path, l) &&
            (n->path[l] == '\0' || n->path[l] == '/'))
            return true;
    return false;
}

void fake_xs_write_len(const char *path, const char *value, unsigned int len)
{
    node *n = node_find(path);

    if (!n) {
        n = calloc(1, sizeof(*n));
        assert(n);
        n->path = strdup(path);
        n->next = nodes;
        nodes = n;
    }
    free(n->value);
    n->value = malloc(len + 1);
    memcpy(n->value, value, len);
    n->value[len] = '\0';
    n->len = len;
}

void fake_xs_write(const char *path, const char *value)
{
    fake_xs_write_len(path, value, strlen(value));
}

const char *fake_xs_get(const char *path)
{
    node *n = node_find(path);

    return n ? n->value : NULL;
}

void fake_xs_rm(const char *path)
{
    size_t l = strlen(path);
    node **pp = &nodes, *n;

    while ((n = *pp)) {
        if (!strncmp(n->path, path, l) &&
            (n->path[l] == '\0' || n->path[l] == '/')) {
            *pp = n->next;
            free(n->path);
            free(n->value);
            free(n);
        } else {
            pp = &n->next;
        }
    }
}

int fake_logged(const char *substr, char *line, size_t len)
{
    unsigned int i, first = W.nlogs > FAKE_LOGS ? W.nlogs - FAKE_LOGS : 0;

    for (i = first; i < W.nlogs; i++)
        if (strstr(W.logs[i % FAKE_LOGS], substr)) {
            if (line)
                snprintf(line, len, "%s", W.logs[i % FAKE_LOGS]);
            return W.log_level[i % FAKE_LOGS];
        }
    return -1;
}

void fake_xs_reset(void)
{
    fake_xs_rm("");
    fake_xs_rm("/");
    while (nodes) {
        node *n = nodes;
        nodes = n->next;
        free(n->path);
        free(n->value);
        free(n);
    }
}

char *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
              unsigned int *len)
{
    node *n = node_find(path);
    char *v;

    if (W.xs_fail_reads) {
        errno = EIO;
        return NULL;
    }
    if (!n) {
        errno = xs_exists(path) ? 0 : ENOENT;
        if (!errno) {
            *len = 0;
            return strdup("");
        }
        return NULL;
    }
    v = malloc(n->len + 1);
    memcpy(v, n->value, n->len + 1);
    *len = n->len;
    return v;
}

int libxl__xs_read_checked(libxl__gc *gc, xs_transaction_t t,
                           const char *path, const char **result_out)
{
    unsigned int len;
    char *v = xs_read(NULL, t, path, &len);

    *result_out = NULL;
    if (!v)
        return errno == ENOENT ? 0 : ERROR_FAIL;
    libxl__ptr_add(gc, v);
    *result_out = v;
    return 0;
}

int libxl__xs_write_checked(libxl__gc *gc, xs_transaction_t t,
                            const char *path, const char *string)
{
    if (W.xs_fail_writes)
        return ERROR_FAIL;
    fake_xs_write(path, string);
    return 0;
}

int libxl__xs_printf(libxl__gc *gc, xs_transaction_t t, const char *path,
                     const char *fmt, ...)
{
    va_list ap;
    char *s;
    int rc;

    va_start(ap, fmt);
    assert(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    rc = libxl__xs_write_checked(gc, t, path, s);
    free(s);
    return rc;
}

int libxl__xs_rm_checked(libxl__gc *gc, xs_transaction_t t, const char *path)
{
    fake_xs_rm(path);
    return 0;
}

char **libxl__xs_directory(libxl__gc *gc, xs_transaction_t t,
                           const char *path, unsigned int *nb)
{
    size_t l = strlen(path);
    char **names = NULL;
    unsigned int n = 0, i;
    node *x;

    if (!xs_exists(path)) {
        errno = ENOENT;
        return NULL;
    }
    for (x = nodes; x; x = x->next) {
        const char *rest;
        size_t cl;

        if (strncmp(x->path, path, l) || x->path[l] != '/')
            continue;
        rest = x->path + l + 1;
        cl = strcspn(rest, "/");
        for (i = 0; i < n; i++)
            if (strlen(names[i]) == cl && !strncmp(names[i], rest, cl))
                break;
        if (i < n)
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        names[n++] = strndup(rest, cl);
    }
    for (i = 0; i < n; i++)
        libxl__ptr_add(gc, names[i]);
    libxl__ptr_add(gc, names);
    *nb = n;
    return names ? names : libxl__zalloc(gc, sizeof(char *));
}

int libxl__xs_transaction_start(libxl__gc *gc, xs_transaction_t *t)
{
    *t = 1;
    return 0;
}

int libxl__xs_transaction_commit(libxl__gc *gc, xs_transaction_t *t)
{
    *t = XBT_NULL;
    if (W.txn_conflicts > 0) {
        W.txn_conflicts--;
        return 1;           /* try again */
    }
    return 0;
}

void libxl__xs_transaction_abort(libxl__gc *gc, xs_transaction_t *t)
{
    *t = XBT_NULL;
}

/*----- watches -----*/

void libxl__ev_xswatch_init(libxl__ev_xswatch *w)
{
    w->callback = NULL;
    w->path = NULL;
}

int libxl__ev_xswatch_register(libxl__gc *gc, libxl__ev_xswatch *w,
                               libxl__ev_xswatch_callback *cb,
                               const char *path)
{
    int i;

    if (W.watch_fail)
        return ERROR_FAIL;
    for (i = 0; i < FAKE_WATCHES; i++)
        if (!W.watches[i]) {
            W.watches[i] = w;
            w->callback = cb;
            w->path = strdup(path);
            return 0;
        }
    return ERROR_NOMEM;
}

void libxl__ev_xswatch_deregister(libxl__gc *gc, libxl__ev_xswatch *w)
{
    int i;

    for (i = 0; i < FAKE_WATCHES; i++)
        if (W.watches[i] == w)
            W.watches[i] = NULL;
    free(w->path);
    w->path = NULL;
    w->callback = NULL;
}

void fake_fire(libxl_ctx *ctx, const char *event_path)
{
    libxl__egc egc = { .gc = { .owner = ctx } };
    int i;

    for (i = 0; i < FAKE_WATCHES; i++) {
        libxl__ev_xswatch *w = W.watches[i];
        size_t l;

        if (!w)
            continue;
        l = strlen(w->path);
        if (strncmp(event_path, w->path, l) ||
            (event_path[l] && event_path[l] != '/'))
            continue;
        w->callback(&egc, w, w->path, event_path);
    }
    fake_gc_free(&egc.gc);
}

void fake_abort(libxl_ctx *ctx)
{
    libxl__egc egc = { .gc = { .owner = ctx } };

    assert(W.abrt);
    W.abrt->callback(&egc, W.abrt, ERROR_ABORTED);
    fake_gc_free(&egc.gc);
}

/*----- the rest -----*/

void libxl_device_events_params_init(libxl_device_events_params *p)
{
    memset(p, 0, sizeof(*p));
    p->max_ring_page_order = -1;
}

void libxl_device_events_params_dispose(libxl_device_events_params *p)
{
}

int libxl__device_kind_from_string(const char *s, libxl__device_kind *k)
{
    if (!strcmp(s, "vif")) *k = LIBXL__DEVICE_KIND_VIF;
    else if (!strcmp(s, "vbd")) *k = LIBXL__DEVICE_KIND_VBD;
    else if (!strcmp(s, "qdisk")) *k = LIBXL__DEVICE_KIND_QDISK;
    else return ERROR_INVAL;
    return 0;
}

int libxl__get_domid(libxl__gc *gc, uint32_t *domid)
{
    if (W.no_domid)
        return ERROR_FAIL;
    *domid = FAKE_SELF;
    return 0;
}

void fake_log(fake_level l, int domid, int errnoval, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    W.nlog[l]++;
    snprintf(W.last_log, sizeof(W.last_log), "%s", line);
    /* (a line cut at the slot's size: the tests look at their starts) */
    memcpy(W.logs[W.nlogs % FAKE_LOGS], line, sizeof(W.logs[0]) - 1);
    W.logs[W.nlogs % FAKE_LOGS][sizeof(W.logs[0]) - 1] = '\0';
    W.log_level[W.nlogs % FAKE_LOGS] = l;
    W.nlogs++;
    if (getenv("FAKE_LIBXL_VERBOSE"))
        fprintf(stderr, "[%d] d%d %s\n", l, domid, line);
}

/* libxl_devd_status.c's registry: one handler at a time here. */
void libxl__devd_registry_add(struct libxl__devd_state *dds)
{
    W.registered++;
    W.dds = dds;
}

void libxl__devd_registry_remove(struct libxl__devd_state *dds)
{
    W.registered--;
    W.dds = NULL;
}

bool libxl__devd_registry_has_ctx(libxl_ctx *ctx)
{
    return W.registered > 0;
}
