/* libFuzzer: frontend ring-info parsing (ring-page-order, ring-ref*,
 * event-channel, protocol, feature-persistent), the values a guest writes
 * for devd.  Input:
 * one byte of max order, then "key=value" lines of the frontend dir. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "devd_blkif.h"

#define MAXKV 32

typedef struct {
    char *k[MAXKV], *v[MAXKV];
    int n;
} dir;

static const char *rd(void *ctx, const char *key)
{
    dir *d = ctx;
    int i;

    for (i = 0; i < d->n; i++)
        if (!strcmp(d->k[i], key))
            return d->v[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    devd_ringinfo ri;
    devd_ringinfo_error err;
    char *buf, *line, *save = NULL;
    uint32_t max;
    dir d = { .n = 0 };
    unsigned int i;

    if (size < 1)
        return 0;
    max = data[0] % 6;
    buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    for (line = strtok_r(buf, "\n", &save); line && d.n < MAXKV;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        d.k[d.n] = line;
        d.v[d.n++] = eq + 1;
    }
    if (libxl__devd_ringinfo_read(rd, &d, max, &ri, &err) == 0) {
        if (ri.order > max || ri.order > DEVD_BLKIF_ORDER_LIMIT ||
            ri.nr_refs != 1u << ri.order || ri.port == 0 ||
            ri.proto > BLKIF_PROTO_X86_64)
            abort();
        for (i = 0; i < ri.nr_refs; i++)
            (void)ri.ref[i];
    } else if (!err.why || !err.key[0]) {
        abort();
    }
    free(buf);
    return 0;
}
