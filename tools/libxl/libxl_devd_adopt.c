/*
 * The listener's startup: every backend already in XenStore is handed to
 * its kind module, which takes it over in whatever state it is (a devd
 * restart never loses a device), then each module finishes what the
 * previous devd left half done.
 *
 * SPDX-License-Identifier: LGPL-2.1-only
 */
#include "libxl_osdeps.h"

#include "libxl_devd_internal.h"


/*
 * One guest's backends of one kind (<be>/<kind>/<domid>).  Each guest
 * gets its own nested ao, so its reads and log strings are freed as soon
 * as it is done: in one gc, the thousands of allocations of a large
 * adoption would stay for devd's lifetime and make every new one slower
 * (libxl's gc looks for a free slot from the start of its array).
 */
static void devd_adopt_guest(libxl__egc *egc, libxl__devd_state *dds,
                             const libxl__devd_kind *k, const char *name,
                             const char *dom)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    const char *dp = GCSPRINTF("%s/%s/%s", dds->be_path, name, dom);
    unsigned int nv, l;
    uint32_t domid, devid;
    char **devs;

    if (libxl__devd_parse_uint(dom, DEVD_DOMID_MAX, &domid)) {
        LOG(WARN, "skipping malformed domid \"%s\" under %s/%s", dom,
            dds->be_path, name);
        goto out;
    }
    devs = libxl__devd_list(gc, dp, &nv);
    for (l = 0; l < nv; l++) {
        if (libxl__devd_parse_uint(devs[l], DEVD_DEVID_MAX, &devid)) {
            LOGD(WARN, domid, "skipping malformed devid \"%s\" under %s",
                 devs[l], dp);
            continue;
        }
        k->adopt(egc, gc, dds, name, domid, devid);
    }
out:
    libxl__nested_ao_free(nested);
}

void libxl__devd_adopt_all(libxl__egc *egc, libxl__devd_state *dds)
{
    libxl__ao *nested = libxl__nested_ao_create(dds->ao);
    STATE_AO_GC(nested);
    const libxl__devd_kind *k;
    unsigned int nk, nd, i, j;
    char **kinds, **doms;

    kinds = libxl__devd_list(gc, dds->be_path, &nk);
    for (i = 0; i < nk; i++) {
        const char *kp = GCSPRINTF("%s/%s", dds->be_path, kinds[i]);
        devd_path p;

        if (libxl__devd_parse_path(dds->be_path, kp, &p) != DEVD_PATH_KIND) {
            LOG(WARN, "skipping malformed backend kind \"%s\"", kinds[i]);
            continue;
        }
        k = libxl__devd_kind_find(p.kind);
        doms = libxl__devd_list(gc, kp, &nd);
        for (j = 0; j < nd; j++)
            devd_adopt_guest(egc, dds, k, p.kind, doms[j]);
    }
    for (i = 0; (k = libxl__devd_kinds[i]); i++)
        if (k->adopted)
            k->adopted(egc, dds);
    libxl__nested_ao_free(nested);
}
