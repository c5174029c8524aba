#!/bin/bash
# The API our series add is the same on every flavour: the lines each
# series adds to libxl.h (LIBXL_HAVE_DEVICE_EVENTS_* and the declarations)
# and to libxl_types.idl (the IDL types) are identical in libxl-patches/
# 4.17, 4.20 and 4.22, so that a libxl API caller builds against any of
# them.  Needs no build.  Prints TAP.
set -u
S=${top_srcdir:?}
n=0 bad=0
# added_lines SERIES_DIR FILE: the "+" lines of every hunk on FILE
added_lines() {
    for p in $(cat "$1/series"); do
        awk -v f="$2" '
            /^(diff --git |--- )/ { on = 0 }
            /^\+\+\+ / { on = ($2 == "b/" f) ; next }
            on && /^\+/ { print }' "$1/$p"
    done
}
dirs=$(ls -d "$S"/libxl-patches/*/ | sed 's|/$||')
first=$(echo "$dirs" | head -n1)
for f in tools/include/libxl.h tools/libs/light/libxl_types.idl; do
    ref=$(added_lines "$first" "$f")
    n=$((n + 1))
    if [ -z "$ref" ]; then
        echo "not ok $n - $(basename "$first")'s series adds nothing to $f"; bad=$((bad + 1)); continue
    fi
    diffs=""
    for d in $dirs; do
        out=$(added_lines "$d" "$f" | diff -u /dev/stdin <(echo "$ref") 2>&1) ||
            diffs="$diffs
$(basename "$d") against $(basename "$first"):
$out"
    done
    if [ -z "$diffs" ]; then
        echo "ok $n - every series adds the same $(echo "$ref" | wc -l) lines to $f ($(echo $dirs | wc -w) series)"
    else
        echo "not ok $n - the series add different lines to $f"
        echo "$diffs" | sed 's/^/# /' | head -n 40
        bad=$((bad + 1))
    fi
done
n=$((n + 1))
if added_lines "$first" tools/include/libxl.h | grep -q '^+#define LIBXL_HAVE_DEVICE_EVENTS_PARAMS 1$'; then
    echo "ok $n - the series define LIBXL_HAVE_DEVICE_EVENTS_PARAMS"
else
    echo "not ok $n - the series define LIBXL_HAVE_DEVICE_EVENTS_PARAMS"; bad=$((bad + 1))
fi
echo "1..$n"
[ "$bad" = 0 ]
