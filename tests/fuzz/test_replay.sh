#!/bin/sh
# make check: every fuzz harness replays its corpus (the seeds and every
# input that once found a bug) without libFuzzer.  TAP output.
set -u
B=${top_builddir:-.} S=${top_srcdir:-.}
n=0 fail=0
for h in td_proto ringinfo blkif_req blkif_indirect devd_parse vhd; do
    n=$((n + 1))
    if out=$("$B/tests/fuzz/replay_$h" "$S/tests/fuzz/corpus/$h" 2>&1); then
        echo "ok $n - fuzz corpus $h: $out"
    else
        echo "not ok $n - fuzz corpus $h"; echo "$out" | sed 's/^/# /'; fail=$((fail + 1))
    fi
done
echo "1..$n"
test $fail = 0
