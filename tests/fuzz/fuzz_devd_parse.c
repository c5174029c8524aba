/* libFuzzer: devd's XenStore parsers: backend event paths, uint, state,
 * online; and the escaping of untrusted text.  Input: a selector byte and
 * a string (NUL-free but for the escaper, which takes any bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "devd_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;
    uint32_t v;
    int st;
    devd_path p;

    if (size < 1)
        return 0;
    s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    switch (data[0] % 5) {
    case 0:
        switch (libxl__devd_parse_path("/local/domain/1/backend", s, &p)) {
        case DEVD_PATH_DEVICE:
            if (p.devid > DEVD_DEVID_MAX || !p.key)
                abort();
            /* fall through */
        case DEVD_PATH_GUEST:
            if (p.domid > DEVD_DOMID_MAX)
                abort();
            /* fall through */
        case DEVD_PATH_KIND:
            if (!memchr(p.kind, 0, sizeof(p.kind)) || !p.kind[0])
                abort();
            break;
        default:
            break;
        }
        break;
    case 1:
        if (!libxl__devd_parse_uint(s, DEVD_DEVID_MAX, &v) &&
            v > DEVD_DEVID_MAX)
            abort();
        break;
    case 2:
        if (!libxl__devd_parse_state(s, &st) && (st < 0 || st > 8))
            abort();
        break;
    case 3:
        if (!libxl__devd_parse_online(s, &st) && st != 0 && st != 1)
            abort();
        break;
    case 4: {
        /* Bounded, printable, and nothing a terminal acts on; a value
         * with a NUL inside is never whole. */
        char out[DEVD_SHOW_LEN];
        size_t i, n;

        libxl__devd_escape(out, sizeof(out), (const char *)data + 1,
                           size - 1);
        n = strlen(out);
        if (n > sizeof(out) - 1)
            abort();
        for (i = 0; i < n; i++)
            if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
                abort();
        if (memchr(data + 1, 0, size - 1) &&
            libxl__devd_value_whole((const char *)data + 1, size - 1))
            abort();
        break;
    }
    }
    free(s);
    return 0;
}
