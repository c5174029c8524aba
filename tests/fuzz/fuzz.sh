#!/bin/bash
# make fuzz: builds every harness with clang's libFuzzer (+ASan, UBSan) and
# runs each for FUZZ_SECONDS (default 60) from the repo's seed corpus.
# Prints the executions of each; exits 1 on any finding (the input is left
# in BUILDDIR/tests/fuzz/findings/).   fuzz.sh BUILDDIR SRCDIR
set -uo pipefail
B=$(cd "$1" && pwd) S=$(cd "$2" && pwd)
SECS=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-clang}
O=$B/tests/fuzz
mkdir -p "$O/findings"
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (Debian: clang libclang-rt-14-dev)"; exit 1; }
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I$S/tools/libxl -I$S/tools/tapdisk"
declare -A SRC=(
    [td_proto]="$S/tools/tapdisk/td_proto.c"
    [ringinfo]="$S/tools/libxl/devd_blkif.c $S/tools/libxl/devd_parse.c"
    [blkif_req]="$S/tools/tapdisk/td_blkif.c"
    [blkif_indirect]="$S/tools/tapdisk/td_blkif.c"
    [devd_parse]="$S/tools/libxl/devd_parse.c"
    [vhd]="$S/tools/tapdisk/td_vhd.c $S/tools/tapdisk/td_vhd_disk.c $S/tools/tapdisk/td_disk.c $S/tools/tapdisk/td_ratelimit.c"
)
bad=0 n=0
for h in td_proto ringinfo blkif_req blkif_indirect devd_parse vhd; do
    n=$((n + 1))
    $CC $FLAGS -o "$O/fuzz_$h" "$S/tests/fuzz/fuzz_$h.c" ${SRC[$h]} ||
        { echo "not ok $n - fuzz $h: the harness does not build"; bad=1; continue; }
    rm -rf "$O/work/$h"; mkdir -p "$O/work/$h"
    cp "$S/tests/fuzz/corpus/$h/"* "$O/work/$h/"
    "$O/fuzz_$h" -max_total_time="$SECS" -print_final_stats=1 \
        -artifact_prefix="$O/findings/$h-" "$O/work/$h" > "$O/$h.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$O/$h.log" | tail -1)
    if [ $rc = 0 ]; then
        echo "ok $n - fuzz $h: ${runs:-?} executions in ${SECS} s, no finding"
    else
        echo "not ok $n - fuzz $h: finding after ${runs:-?} executions (see $O/$h.log, $O/findings/)"
        grep -m5 -E "ERROR|SUMMARY|runtime error" "$O/$h.log" | sed 's/^/# /'
        bad=1
    fi
done
echo "1..$n"
exit $bad
