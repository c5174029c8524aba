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
# Our sources are linked in where the series does not carry them itself
# (an upstream-form series adds them as new files: those are built).
link_ours() {
    for f in $libxl_ours; do t=$work/tools/libs/light/$(basename "$f")
        [ -e "$t" ] || ln -sfn "$top/$f" "$t"; done
    for f in $xl_ours; do t=$work/tools/xl/$(basename "$f")
        [ -e "$t" ] || ln -sfn "$top/$f" "$t"; done
}
carried=$(cat "$series"/*.patch 2>/dev/null | sed -n 's|^+++ b/||p' | sort -u)
unlink_carried() {
    for f in $libxl_ours $xl_ours; do
        case $f in xl/*) t=tools/xl/$(basename "$f") ;; *) t=tools/libs/light/$(basename "$f") ;; esac
        if echo "$carried" | grep -qx "$t" && [ -L "$work/$t" ]; then rm -f "$work/$t"; fi
    done
}
link_ours

build() {
    make -C "$work/tools/include" -j"$JOBS" || return 1
    for d in $XEN_LIBS; do make -C "$work/tools/libs/$d" -j"$JOBS" || return 1; done
    make -C "$work/tools/xl" -j"$JOBS"
}

# git am SERIES onto a git repository of the pristine SRC; every file the
# series changed must be as in the quilt-applied WORK.
#   git_am SRC SERIES WORK
git_am() {
    g=$3.git
    rm -rf "$g" && cp -a "$1" "$g" || return 1
    (cd "$g" && git init -q && git add -A &&
        git -c user.name=release -c user.email=release@localhost commit -qm release && git tag release &&
        git -c user.name=xl-devd -c user.email=xl-devd@localhost \
            am $(sed "s|^|$2/|" "$2/series")) || return 1
    (cd "$g" && git diff --name-only release) | while read -r f; do
        cmp -s "$g/$f" "$3/$f" || { echo "differs from quilt's: $f"; exit 1; }
    done
}

n=0 bad=0
for p in $(cat "$series/series"); do
    n=$((n + 1))
    start=$(date +%s)
    unlink_carried
    if ! (cd "$work" && $quilt --quiltrc=- push -q --fuzz=0) >"$log" 2>&1; then
        echo "not ok $n - $p applies with fuzz 0"
        sed 's/^/# /' "$log" | tail -n 20
        bad=$((bad + 1)); break
    fi
    link_ours
    if build >"$log" 2>&1; then
        echo "ok $n - $p applies with fuzz 0 and builds ($(( $(date +%s) - start )) s)"
    else
        echo "not ok $n - $p applies with fuzz 0 and builds"
        grep -E 'error|Error' "$log" | head -n 20 | sed 's/^/# /'
        bad=$((bad + 1))
    fi
done

# An upstream-form series (with a cover letter): its copies of our sources
# are those of this tree, and `git am` takes it onto a git checkout of the
# release, giving the tree quilt gave.
if [ -f "$series/0000-cover-letter.patch" ]; then
    n=$((n + 1))
    if out=$(cd "$top" && python3 "$top/scripts/series.py" check "$series" $libxl_ours $xl_ours 2>&1); then
        echo "ok $n - the series' cover letter and its copies of our sources are in step with the tree"
    else
        echo "not ok $n - the series' cover letter and its copies of our sources are in step with the tree"
        echo "$out" | sed 's/^/# /'; bad=$((bad + 1))
    fi
    n=$((n + 1))
    git_am "$src" "$series" "$work" >"$log" 2>&1; rc=$?
    if [ $rc = 0 ]; then
        echo "ok $n - git am of the whole series onto a git checkout of the release gives the tree quilt gave"
    else
        echo "not ok $n - git am of the whole series onto a git checkout of the release gives the tree quilt gave (rc $rc)"
        tail -n 20 "$log" | sed 's/^/# /'; bad=$((bad + 1))
    fi
fi
echo "1..$n"
[ "$bad" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$work" "$work.git" "$log"
[ "$bad" = 0 ]
