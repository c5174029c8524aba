#!/bin/sh
# Checks the foundation's promises on the built tree (no hypervisor needed):
# help without Xen, our objects inside libxenlight, the series applying to
# the pristine source, and that source left untouched.
# Prints TAP lines; exits non-zero if any check fails.
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
XEN_SOURCE=${XEN_SOURCE:?}
n=0 bad=0
check() {
    n=$((n + 1))
    desc=$1; shift
    if "$@" >/dev/null 2>&1; then echo "ok $n - $desc"
    else echo "not ok $n - $desc"; bad=$((bad + 1)); fi
}
xl=$top_builddir/xl-run
lib=$top_builddir/xen-build/tools/libs/light/libxenlight.so

check "xl help devd prints usage without a hypervisor" \
    sh -c "'$xl' help devd | grep -q 'Usage: xl .* devd'"
check "xl devd --help prints usage without a hypervisor" \
    sh -c "'$xl' devd --help | grep -q -- '--status'"
check "xl devd -h exits 0" "$xl" devd -h
check "libxenlight exports libxl_device_events_handler" \
    sh -c "nm -D '$lib' | grep -q ' T libxl_device_events_handler'"
check "libxenlight exports the handler's parameters and status (IDL types)" \
    sh -c "nm -D '$lib' | grep -q ' T libxl_device_events_handler_params' && nm -D '$lib' | grep -q ' T libxl_device_events_get_status' && nm -D '$lib' | grep -q ' T libxl_device_events_status_to_json'"
check "libxenlight holds our objects (devd_parse, devd_policy, devd_table, devd_blkif)" \
    sh -c "nm '$lib' | grep -q libxl__devd_parse_path && nm '$lib' | grep -q libxl__devd_classify && nm '$lib' | grep -q libxl__devd_table_init && nm '$lib' | grep -q libxl__devd_rs_decide"
check "upstream devd code is gone from libxenlight" \
    sh -c "! nm '$lib' | grep -q backend_watch_callback"
# The series applies in order, with fuzz 0, to a copy of the files it touches.
series=$top_srcdir/libxl-patches/$XEN_MAJMIN
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$XEN_SOURCE" && cp -a --parents tools/libs/light tools/xl tools/include "$tmp/")
for p in $(cat "$series/series"); do
    check "patch $p applies in order with fuzz 0 to the pristine source" \
        patch -p1 --fuzz=0 -s -d "$tmp" -i "$series/$p"
done
check "pristine source is untouched (upstream devd still there)" \
    grep -q backend_watch_callback "$XEN_SOURCE/tools/libs/light/libxl_device.c"
check "pristine source has no quilt state of ours" test ! -e "$XEN_SOURCE/.pc-xl-devd"
echo "1..$n"
[ "$bad" = 0 ]
