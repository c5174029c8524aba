#!/bin/bash
# make check-xen-stress: the bed on a loaded host (BED_HOG, hog.sh: one
# CPU taken by a busy loop for each whole run), the scenarios that race the
# toolstack's fixed waits, on Xen 4.20 (dom0 stock), then on 4.17.  XEN=
# and SCENARIOS= narrow it.  Each TAP line is the bed's own.
#   stress.sh BUILDDIR SRCDIR
set -u
B=$1 S=$2
export SCENARIOS=${SCENARIOS:-"churn slow-hotplug killed-scripts rebind many vbd3-hostile"}
rc=0
for v in ${XEN:-4.20 4.17}; do
    echo "# ==== the real-Xen bed on Xen $v, loaded: $SCENARIOS"
    BED_HOG=all XEN=$v DEVD=ours ART_NAME=stress "$S/tests/xen/run.sh" "$B" "$S"
    r=$?; [ $r = 0 ] || [ $r = 77 ] || rc=1
done
exit $rc
