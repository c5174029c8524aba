/* libFuzzer: the tapdisk control protocol decoder (what devd reads from a
 * tapdisk and tapdisk from its clients).  A decoded message must encode
 * back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "td_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t again[TD_MSG_MAX];
    size_t off = 0;
    td_msg m;
    int n, e;

    /* A stream of messages, as a socket delivers them. */
    while (off < size) {
        n = td_decode(data + off, size - off, &m);
        if (n <= 0)
            break;
        if (n > TD_MSG_MAX || (size_t)n > size - off)
            abort();
        e = td_encode(&m, again, sizeof(again));
        /* Padding after a string's NUL may differ; the decoded form not. */
        if (e != n)
            abort();
        {
            td_msg m2;
            if (td_decode(again, (size_t)e, &m2) != e ||
                memcmp(&m2.u, &m.u, sizeof(m.u)) || m2.type != m.type)
                abort();
        }
        (void)td_msg_name(m.type);
        off += (size_t)n;
    }
    return 0;
}
