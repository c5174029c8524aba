/* libFuzzer: tapdisk's indirect request decoding and validation (a ring
 * entry and the indirect page it names, both written by the guest).
 * Input: protocol byte, 8 bytes of image size, flags byte (bit 0: read
 * only), 2 bytes of max segments, a 64-byte ring entry, then the first
 * indirect page (zero-filled past the input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "td_blkif.h"
#include "td_proto.h"

#define HDR 12
#define ENTRY 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pages[TD_MAX_INDIRECT_PAGES * TD_PAGE_SIZE];
    uint8_t entry[TD_ENTRY_MAX];
    uint64_t sectors = 0;
    unsigned int proto, max_segs, i;
    bool ro;
    td_ireq r;
    td_req_verdict v;

    if (size < HDR)
        return 0;
    proto = data[0] % 3;
    for (i = 0; i < 8; i++)
        sectors |= (uint64_t)data[1 + i] << (8 * i);
    ro = data[9] & 1;
    max_segs = data[10] | (unsigned int)data[11] << 8;
    memset(entry, 0, sizeof(entry));
    memcpy(entry, data + HDR, size - HDR < ENTRY ? size - HDR : ENTRY);
    memset(pages, 0, sizeof(pages));
    if (size > HDR + ENTRY)
        memcpy(pages, data + HDR + ENTRY,
               size - HDR - ENTRY < TD_PAGE_SIZE ? size - HDR - ENTRY
                                                 : TD_PAGE_SIZE);
    td_ireq_decode(proto, entry, &r);
    v = td_ireq_validate_header(&r, max_segs, ro);
    if (v != TD_REQ_OK) {
        (void)td_req_verdict_name(v);
        return 0;
    }
    if (r.nr_segments == 0 || r.nr_segments > TD_MAX_INDIRECT_SEGS ||
        r.nr_segments > max_segs || r.nr_pages == 0 ||
        r.nr_pages > TD_MAX_INDIRECT_PAGES ||
        (r.indirect_op != TD_OP_READ && r.indirect_op != TD_OP_WRITE) ||
        (ro && r.indirect_op != TD_OP_READ))
        abort();
    v = td_ireq_validate_segments(&r, pages, sectors);
    if (v == TD_REQ_OK) {
        uint64_t total = 0;

        for (i = 0; i < r.nr_segments; i++) {
            if (r.seg[i].first_sect > r.seg[i].last_sect ||
                r.seg[i].last_sect >= TD_SECTORS_PER_PAGE)
                abort();
            total += r.seg[i].last_sect - r.seg[i].first_sect + 1u;
        }
        if (total != r.nr_sectors || r.sector > sectors ||
            r.nr_sectors > sectors - r.sector)
            abort();
    }
    td_rsp_encode(entry, r.id, r.op, (int16_t)td_req_verdict_status(v));
    return 0;
}
