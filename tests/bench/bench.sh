#!/bin/bash
# make bench: one boot of the real-Xen bed.
#  - bench: fio in a guest against the same raw image served three ways by
#    the driver domain: kernel blkback (vbd), QEMU qdisk, and tapdisk (vbd3,
#    through devd's ring server); ratios to blkback.
#  - bench-devd: our devd and Debian's stock xl devd in turn: attach latency
#    per kind, XenStore requests per attach, RSS over attach/detach cycles,
#    startup over 1,000 (10,000) existing backends; ratios ours/stock
#    (tests/xen/suite/bench-devd.sh says how each is measured).
#  - bench-mq (DRV_VCPUS=2 BENCH_SCENARIOS=bench-mq): blkback with one
#    queue and with two, in a 2-vCPU guest: does multi-queue pay here?
#  - bench-vhd: tapdisk serving a dynamic VHD (fully allocated, and fresh
#    for the writes) against tapdisk serving a raw image, in one guest.
# BENCH_TESTS="randread-4k-qd1 ..." narrows bench to the fio tests it
# names, BENCH_ROWS="vbd-m vbd3p ..." to the disks (a quicker look at a
# few rows).
# Writes one line per figure to BUILDDIR/tests/bench/results.txt.  No
# thresholds: figures, not verdicts.
#   bench.sh BUILDDIR SRCDIR
set -uo pipefail
B=$(cd "$1" && pwd) S=$(cd "$2" && pwd)
OUT=$B/tests/bench
mkdir -p "$OUT"
# The bed's time limit grows with the work asked for (the suite's own 2400 s
# is too short for 2 x 200 cycles under TCG, about 5.5 s each): generous,
# since it only stops a hung run.
if [ -z "${BED_TIMEOUT:-}" ]; then
    BED_TIMEOUT=$(( 1800 + 2 * ${BENCH_CYCLES:-200} * 12 + 2 * 4 * ${BENCH_ATTACHES:-10} * 20 ))
    export BED_TIMEOUT
fi
DEVD=ours SCENARIOS="${BENCH_SCENARIOS:-bench bench-devd}" ART_NAME=bench "$S/tests/xen/run.sh" "$B" "$S" > "$OUT/bed.log" 2>&1
rc=$?
[ $rc = 77 ] && { echo "SKIP: no qemu-system-x86_64: the bed cannot run"; exit 0; }
grep -E "^(not ok|ok|#)" "$OUT/bed.log" | grep -E "bench(-devd)?:|qemu exited"
grep '^BENCH ' "$OUT/bed.log" > "$OUT/raw.txt"
if [ ! -s "$OUT/raw.txt" ]; then
    echo "bench: no figures (see $OUT/bed.log)"; exit 1
fi
awk -v when="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v ver="$(git -C "$S" describe --always --dirty 2>/dev/null || echo unknown)" '
function f(s, k,   i, n, a) { n = split(s, a, " "); for (i = 1; i <= n; i++) if (index(a[i], k "=") == 1) return substr(a[i], length(k) + 2); return "" }
function ratio(a, b) { return (b != "" && b + 0 > 0 && a != "") ? sprintf("%.2f", a / b) : "n/a" }
{
    d = f($0, "devd"); k = f($0, "kind"); t = f($0, "test")
    # base: the blkback disk of the same guest (default: the first guest'"'"'s)
    if (d == "") { v[k, t] = f($0, "value"); u[t] = f($0, "unit"); tests[t] = 1; kinds[k] = 1; b = f($0, "base"); base[k] = (b == "" ? "vbd" : b); next }
    key = t " " k " " f($0, "stat"); dv[d, key] = f($0, "value"); du[key] = f($0, "unit"); keys[key] = 1
}
END {
    name["vbd"] = "blkback"; name["qdisk"] = "qdisk"; name["vbd3"] = "tapdisk"
    name["vbd-m"] = "blkback(2nd-guest)"; name["vbd3p"] = "tapdisk(2nd-guest)"
    name["vbd3copy"] = "tapdisk(copy-all)"; name["vbd3u"] = "tapdisk(uring-writes)"
    name["vbd3poll"] = "tapdisk(poll-wait)"
    name["vbd3spin"] = "tapdisk(ring-polling-200us)"; name["vbd3spinl"] = "tapdisk(ring-polling-2000us)"
    name["vbd3o3"] = "tapdisk(8-page-ring)"
    name["vbd3raw"] = "tapdisk(raw)"; name["vbd3vhd"] = "tapdisk(vhd)"
    name["vbd3vhdnew"] = "tapdisk(vhd-fresh)"
    name["vbd-q1"] = "blkback(1-queue)"; name["vbd-q2"] = "blkback(2-queues)"
    print "# xl-devd bench " ver " " when " (under QEMU TCG: compare ratios, not absolutes)"
    for (t in tests) for (k in kinds) if ((k, t) in v) {
        printf "bench %s %s %s %s ratio-to-%s %s\n", t, (k in name ? name[k] : k), u[t], v[k, t], (base[k] in name ? name[base[k]] : base[k]), ratio(v[k, t], v[base[k], t])
    }
    # devd figures: ours and stock side by side; "-" where stock has no such device kind.
    for (key in keys) {
        o = dv["ours", key]; s = dv["stock", key]
        printf "devd %s %s ours %s stock %s ratio-ours-to-stock %s\n", key, du[key], (o == "" ? "-" : o), (s == "" ? "-" : s), ratio(o, s)
    }
}' "$OUT/raw.txt" | sort > "$OUT/results.txt"
echo "# results ($OUT/results.txt):"
cat "$OUT/results.txt"
# A run cut short (a failed step, or the time limit) leaves figures out:
# say so rather than pass for a complete set.
if [ $rc != 0 ]; then
    echo "bench: the bed did not finish cleanly (rc $rc; $(grep -m1 '^# qemu exited' "$OUT/bed.log" | sed 's/^# //')): figures may be missing, see $OUT/bed.log"
    exit 1
fi
