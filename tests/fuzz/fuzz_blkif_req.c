/* libFuzzer: tapdisk's blkif request decoding and validation (what a
 * guest puts in the shared ring).  Input: protocol byte, 8 bytes of image
 * size, flags byte, then one ring entry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "td_blkif.h"
#include "td_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t entry[TD_ENTRY_MAX];
    uint64_t sectors = 0;
    unsigned int proto, i;
    td_ring_geom g;
    td_req r;
    td_req_verdict v;

    if (size < 10)
        return 0;
    proto = data[0] % 3;
    for (i = 0; i < 8; i++)
        sectors |= (uint64_t)data[1 + i] << (8 * i);
    memset(entry, 0, sizeof(entry));
    memcpy(entry, data + 10, size - 10 < sizeof(entry) ? size - 10
                                                       : sizeof(entry));
    if (td_ring_geometry(proto, data[9] & 3, &g) || g.nr_ents == 0 ||
        (g.nr_ents & (g.nr_ents - 1)))
        abort();
    td_req_decode(proto, entry, &r);
    v = td_req_validate(&r, sectors, data[9] & 4, data[9] & 8);
    if (v == TD_REQ_OK) {
        if (r.op == TD_OP_DISCARD || r.nr_segments) {
            if (r.sector > sectors || r.nr_sectors > sectors - r.sector)
                abort();
        }
        if (r.nr_segments > TD_MAX_SEGS)
            abort();
        for (i = 0; i < r.nr_segments; i++)
            if (r.seg[i].first_sect > r.seg[i].last_sect ||
                r.seg[i].last_sect >= TD_SECTORS_PER_PAGE)
                abort();
        if ((data[9] & 4) && r.op != TD_OP_READ && r.nr_sectors)
            abort();    /* a write got through to a read-only image */
    }
    (void)td_req_verdict_name(v);
    td_rsp_encode(entry, r.id, r.op, (int16_t)td_req_verdict_status(v));
    return 0;
}
