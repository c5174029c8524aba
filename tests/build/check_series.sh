#!/bin/sh
# make check-series: proves that the libxl patch series bisects.  A fresh
# copy of the pristine Xen tree gets the series one patch at a time, and
# libxenlight and xl are built after each patch, with our sources linked
# in (they are compiled only once a patch adds them to a Makefile).
# Prints TAP: one line per patch (applies with fuzz 0 and builds).
#   check_series.sh XEN_SOURCE SERIES_DIR WORKDIR QUILT CONFIGURE_FLAGS SRCDIR LIBXL_OURS XL_OURS XEN_LIBS
set -u
src=$1 series=$2 work=$3 quilt=$4 cflags=$5 top=$6 libxl_ours=$7 xl_ours=$8 XEN_LIBS=$9
JOBS=${JOBS:-$(nproc)}
# -O1: a quicker compile that still runs GCC's flow warnings (-Werror).
export EXTRA_CFLAGS_XEN_TOOLS="-O1"
export QUILT_PATCHES="$series" QUILT_PC=.pc-xl-devd
log=$work.log

fail() { echo "Bail out! $*"; [ -f "$log" ] && tail -n 30 "$log" | sed 's/^/# /'; exit 1; }

rm -rf "$work"
cp -a "$src" "$work" || fail "cannot copy $src"
cp /usr/share/autoconf/build-aux/config.sub /usr/share/autoconf/build-aux/config.guess "$work/"
(cd "$work" && ./autogen.sh && cd tools && eval "./configure $cflags") >"$log" 2>&1 ||
    fail "configuring the pristine tree failed"
for f in $libxl_ours; do ln -sfn "$top/$f" "$work/tools/libs/light/$(basename "$f")"; done
for f in $xl_ours; do ln -sfn "$top/$f" "$work/tools/xl/$(basename "$f")"; done

build() {
    make -C "$work/tools/include" -j"$JOBS" || return 1
    for d in $XEN_LIBS; do make -C "$work/tools/libs/$d" -j"$JOBS" || return 1; done
    make -C "$work/tools/xl" -j"$JOBS"
}

n=0 bad=0
for p in $(cat "$series/series"); do
    n=$((n + 1))
    start=$(date +%s)
    if ! (cd "$work" && $quilt --quiltrc=- push -q --fuzz=0) >"$log" 2>&1; then
        echo "not ok $n - $p applies with fuzz 0"
        sed 's/^/# /' "$log" | tail -n 20
        bad=$((bad + 1)); break
    fi
    if build >"$log" 2>&1; then
        echo "ok $n - $p applies with fuzz 0 and builds ($(( $(date +%s) - start )) s)"
    else
        echo "not ok $n - $p applies with fuzz 0 and builds"
        grep -E 'error|Error' "$log" | head -n 20 | sed 's/^/# /'
        bad=$((bad + 1))
    fi
done
echo "1..$n"
[ "$bad" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$work" "$log"
[ "$bad" = 0 ]
