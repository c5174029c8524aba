#!/bin/bash
# make check: tapdisk's VHD against an independent implementation, qemu-img
# and qemu-io (Debian's qemu-utils), through tapdisk's own image layer and
# I/O engine (td-image), no hypervisor.  TAP.
#   - images qemu made and filled: tapdisk reads what qemu-img reads;
#   - images tapdisk wrote (random writes, discards, reopens): qemu-img
#     reads what tapdisk's raw path wrote from the same script, sees the
#     virtual size and maps whole discarded blocks as holes;
#   - hostile images: each bad field refused at open, with its reason;
#   - a crash test: tapdisk's writer killed with SIGKILL at random points,
#     then qemu-img reads every write answered before the kill (a kill
#     loses no answered write; power loss, only unflushed ones).
set -u
B=${top_builddir:-.}
TI=$B/tests/tapdisk/td-image
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0 fail=0
CRASH_RUNS=${VHD_CRASH_RUNS:-20}

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
    n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/# /'
}
# check DESC CMD...: ok if CMD succeeds; else its output and rc.
check() {
    local d=$1 out rc; shift
    local t0=$SECONDS
    out=$("$@" 2>&1); rc=$?
    if [ $rc = 0 ]; then
        ok "$d"
        [ -n "$out" ] && printf '# %s (%d s)\n' "$(printf '%s\n' "$out" | tail -1)" $((SECONDS - t0))
    else
        notok "$d" "$out
(rc $rc: $*)"
    fi
}

for tool in qemu-img qemu-io; do
    if ! command -v $tool >/dev/null; then
        notok "$tool is installed (Debian: qemu-utils; scripts/install-deps.sh installs it)"
        echo "1..$n"; exit 1
    fi
done
qemu-img --version | head -1 | sed 's/^/# /'

# The virtual size qemu-img gives an image (the top node's: qemu 10 also
# lists its file's).
vsize() {
    qemu-img info -f vpc --output=json "$1" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])'
}

# Reads IMG (vpc) with qemu-img and with tapdisk; the same bytes?
same_read() {
    local img=$1 seed=$2
    qemu-img convert -f vpc -O raw "$img" "$T/q.raw" || return 1
    "$TI" read "vhd:$img" "$T/t.raw" "$seed" || return 1
    cmp "$T/q.raw" "$T/t.raw" || return 1
    local qs ts
    qs=$(vsize "$img")
    ts=$("$TI" info "vhd:$img" | awk '{print $2 * 512}')
    [ "$qs" = "$ts" ] || { echo "virtual size: qemu-img $qs, tapdisk $ts"; return 1; }
    echo "$(stat -c %s "$T/q.raw") bytes alike"
}

# 1. Images qemu made, filled with qemu-io's patterns.
fill() {
    local img=$1 size=$2
    qemu-io -f vpc -c "write -P 0x5a 0 1M" -c "write -P 0xa5 3584k 1536k" \
        -c "write -P 0x33 $((size / 2 + 512)) 4096" \
        -c "write -P 0x77 $((size - 1024)) 512" \
        -c "write -z 3584k 64k" "$img" >/dev/null
}
mk() { qemu-img create -q -f vpc -o "$2" "$T/$1.vhd" "$3"; }
mk dyn64 subformat=dynamic 64M && fill "$T/dyn64.vhd" 67125248
check "a dynamic VHD qemu made (64 MiB by its geometry), filled by qemu-io: tapdisk reads what qemu-img reads" \
    same_read "$T/dyn64.vhd" 1
odd=$((10 * 1048576 + 3 * 512))
mk odd subformat=dynamic,force_size=on $odd && fill "$T/odd.vhd" $odd
check "a dynamic VHD of $odd bytes (not a multiple of its 2 MiB blocks): tapdisk reads what qemu-img reads" \
    same_read "$T/odd.vhd" 2
mk fix subformat=fixed,force_size=on 16M && fill "$T/fix.vhd" 16777216
check "a fixed VHD qemu made, filled by qemu-io: tapdisk reads what qemu-img reads" \
    same_read "$T/fix.vhd" 3
mk big subformat=dynamic,force_size=on 6G &&
    qemu-io -f vpc -c "write -P 0x42 4294966784 8192" -c "write -P 0x24 6442450432 512" \
        -c "write -P 0x99 0 64k" "$T/big.vhd" >/dev/null
big_sparse() {
    # Only the blocks around the writes are read: the rest are holes.
    local off
    for off in 0 120 8388600 8388607 8388608 12582904 12582911; do
        qemu-img dd -f vpc -O raw if="$T/big.vhd" of="$T/q.raw" bs=512 \
            skip=$off count=$((off + 1)) || return 1
        "$TI" read-at "vhd:$T/big.vhd" $off 1 "$T/t.raw" || return 1
        cmp "$T/q.raw" "$T/t.raw" || { echo "sector $off differs"; return 1; }
    done
    echo "file $(stat -c %s "$T/big.vhd") bytes for 6 GiB"
}
check "a sparse 6 GiB dynamic VHD (blocks above 4 GiB): tapdisk reads what qemu-io reads" big_sparse

# 2. Images tapdisk wrote.
written() {
    local name=$1 opts=$2 size=$3 seed=$4 ops=$5
    qemu-img create -q -f vpc -o "$opts" "$T/$name.vhd" "$size" || return 1
    local bytes
    bytes=$(vsize "$T/$name.vhd")
    truncate -s "$bytes" "$T/$name.raw"
    "$TI" script "$seed" $((bytes / 512)) "$ops" > "$T/$name.ops"
    "$TI" apply "vhd:$T/$name.vhd" < "$T/$name.ops" || return 1
    "$TI" apply "aio:$T/$name.raw" < "$T/$name.ops" || return 1
    # qemu-img compare: the same bytes (it skips what both say are holes).
    qemu-img compare -f vpc -F raw "$T/$name.vhd" "$T/$name.raw" | grep -v "^Images are identical" ; [ "${PIPESTATUS[0]}" = 0 ] || return 1
    # And tapdisk reads back what it wrote.
    "$TI" read "vhd:$T/$name.vhd" "$T/$name.back" "$seed" || return 1
    qemu-img compare -f raw -F raw "$T/$name.back" "$T/$name.raw" | grep -v "^Images are identical"; [ "${PIPESTATUS[0]}" = 0 ] || return 1
    echo "$(grep -c '^w' "$T/$name.ops") writes, $(grep -c '^d' "$T/$name.ops") discards, $(grep -c '^o' "$T/$name.ops") reopens; virtual size $bytes"
}
check "tapdisk's random writes, discards and reopens on a dynamic VHD: qemu-img reads the same bytes" \
    written w1 subformat=dynamic,force_size=on 96M 11 600
check "the same on a dynamic VHD whose size is not a multiple of 2 MiB" \
    written w2 subformat=dynamic,force_size=on $((33 * 1048576 + 7 * 512)) 12 600
check "the same on a fixed VHD" written w3 subformat=fixed,force_size=on 24M 13 300
check "the same on a sparse 5 GiB dynamic VHD (writes anywhere)" \
    written w4 subformat=dynamic,force_size=on 5G 14 150

# Discards: whole blocks become holes (qemu-img map, and the file's blocks).
holes() {
    local img=$T/h.vhd
    qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$img" 32M || return 1
    printf 'w %d 2048 %d\n' $(seq 0 2048 63488 | awk '{print $1, NR}') > "$T/h.ops"
    echo f >> "$T/h.ops"
    "$TI" apply "vhd:$img" < "$T/h.ops" || return 1
    local before after
    before=$(du -k "$img" | cut -f1)
    # Blocks 3, 4 and 5 whole; half of block 7.
    printf 'd %d %d\nd %d %d\nf\n' $((3 * 4096)) $((3 * 4096)) $((7 * 4096)) 2048 |
        "$TI" apply "vhd:$img" || return 1
    after=$(du -k "$img" | cut -f1)
    qemu-img map -f vpc --output=json "$img" > "$T/h.map" || return 1
    python3 - "$T/h.map" <<'EOF' || return 1
import json, sys
m = json.load(open(sys.argv[1]))
blk = 2 * 1024 * 1024
hole = set()
for e in m:
    if not e["data"]:
        for b in range(e["start"] // blk, (e["start"] + e["length"]) // blk):
            hole.add(b)
if hole != {3, 4, 5}:
    print("qemu-img map: holes at blocks", sorted(hole), "not [3, 4, 5]")
    sys.exit(1)
EOF
    qemu-img convert -f vpc -O raw "$img" "$T/h.raw" || return 1
    local z
    z=$(python3 -c "
import sys
d = open('$T/h.raw', 'rb').read()
b = 2 << 20
print(all(x == 0 for x in d[3*b:6*b]), all(x == 0 for x in d[7*b:7*b + b//2]), any(d[7*b + b//2:8*b]))")
    [ "$z" = "True True True" ] || { echo "discarded ranges read back: $z"; return 1; }
    [ "$after" -le $((before - 3 * 2048)) ] || { echo "allocated: $before KiB before, $after KiB after"; return 1; }
    # A block written again takes a slot given back (after the flush):
    # the file does not grow, and it reads the new data, not the old.
    local size
    size=$(stat -c %s "$img")
    printf 'w %d 16 99\no\n' $((4 * 4096)) | "$TI" apply "vhd:$img" || return 1
    [ "$(stat -c %s "$img")" = "$size" ] || { echo "the file grew from $size to $(stat -c %s "$img") bytes: no slot reused"; return 1; }
    qemu-img convert -f vpc -O raw "$img" "$T/h2.raw" || return 1
    z=$(python3 -c "
d = open('$T/h2.raw', 'rb').read()
b = 2 << 20
print(any(d[4*b:4*b + 8192]), all(x == 0 for x in d[4*b + 8192:5*b]))")
    [ "$z" = "True True" ] || { echo "block 4 written again, in a reused slot: written part non-zero, rest zero? $z"; return 1; }
    echo "allocated $before KiB -> $after KiB; holes at blocks 3-5; block 4 written again into a slot given back"
}
check "a discard gives whole blocks back: qemu-img map shows holes, the file's allocation shrinks, half a block reads zeros" holes

# 3. Hostile images: one field wrong each, refused at open with its reason.
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$T/good.vhd" 8M
qemu-io -f vpc -c "write -P 1 0 4M" "$T/good.vhd" >/dev/null
python3 - "$T" <<'EOF'
import struct, sys, shutil
T = sys.argv[1]
good = open(T + "/good.vhd", "rb").read()
def csum(b, at):
    return (~sum(b[:at] + b[at + 4:])) & 0xffffffff
def fix_footer(f):
    f = bytearray(f); f[64:68] = b"\0\0\0\0"
    f[64:68] = struct.pack(">I", csum(bytes(f), 64)); return bytes(f)
def fix_header(h):
    h = bytearray(h); h[36:40] = b"\0\0\0\0"
    h[36:40] = struct.pack(">I", csum(bytes(h), 36)); return bytes(h)
def image(name, footer=None, header=None, bat=None, both=True, raw=None):
    d = bytearray(raw if raw is not None else good)
    if footer is not None:
        d[-512:] = footer
        if both: d[0:512] = footer
    if header is not None: d[512:1536] = header
    if bat is not None: d[1536:1536 + len(bat)] = bat
    open("%s/%s.vhd" % (T, name), "wb").write(d)
F, H = good[-512:], good[512:1536]
def fpatch(at, val):
    f = bytearray(F); f[at:at + len(val)] = val; return fix_footer(bytes(f))
def hpatch(at, val):
    h = bytearray(H); h[at:at + len(val)] = val; return fix_header(bytes(h))
image("bad-cookie", footer=fix_footer(b"conectiz" + F[8:]))
image("bad-csum", footer=F[:64] + b"\1\2\3\4" + F[68:])
image("bad-size", footer=fpatch(48, struct.pack(">Q", 12345)))
image("huge-size", footer=fpatch(48, struct.pack(">Q", 4096 << 30)))
image("bad-type", footer=fpatch(60, struct.pack(">I", 7)))
image("diff", footer=fpatch(60, struct.pack(">I", 4)),
      header=hpatch(64, "../base\x07.vhd".encode("utf-16-be")))
image("hdr-outside", footer=fpatch(16, struct.pack(">Q", 1 << 40)))
image("hdr-csum", header=H[:36] + b"\0\0\0\1" + H[40:])
image("blk-pow2", header=hpatch(32, struct.pack(">I", 3 << 20)))
image("blk-small", header=hpatch(32, struct.pack(">I", 4096)))
image("tbl-outside", header=hpatch(16, struct.pack(">Q", 1 << 33)))
image("tbl-unaligned", header=hpatch(16, struct.pack(">Q", 1537)))
image("tbl-on-header", header=hpatch(16, struct.pack(">Q", 1024)))
image("few-entries", header=hpatch(28, struct.pack(">I", 2)))
bat = bytearray(good[1536:1536 + 16])
image("bat-outside", bat=struct.pack(">I", 1 << 24) + bat[4:])
image("bat-in-meta", bat=struct.pack(">I", 2) + bat[4:])
image("bat-overlap", bat=bat[0:4] + struct.pack(">I", struct.unpack(">I", bat[0:4])[0] + 8) + bat[8:])
image("copies-differ", footer=fpatch(68, b"\x11" * 16), both=False)
f0 = bytearray(good); f0[0:8] = b"garbage!"
image("copy-gone", raw=bytes(f0))
EOF
refused() {
    local name=$1 want=$2 out
    out=$("$TI" info "vhd:$T/$name.vhd" 2>&1) && { echo "opened: $out"; return 1; }
    printf '%s\n' "$out" | grep -qF -- "$want" || { echo "refused, but not for \"$want\": $out"; return 1; }
    echo "$out"
}
while read -r name want; do
    check "a hostile image ($name) is refused at open: \"$want\"" refused "$name" "$want"
done <<'EOF'
bad-cookie no "conectix" cookie
bad-csum footer: checksum
bad-size current size 12345
huge-size between 512 and 2040 GiB
bad-type disk type 7
diff parent: "../base\u0007.vhd"
hdr-outside header offset
hdr-csum header: checksum
blk-pow2 block size 3145728
blk-small block size 4096
tbl-outside table offset
tbl-unaligned table offset
tbl-on-header table offset
few-entries 2 table entries
bat-outside BAT entry 0
bat-in-meta BAT entry 0
bat-overlap overlap
copies-differ disagree
copy-gone the copy at offset 0
EOF

# 4. An allocation cut short, at each of its steps (the states a kill or a
# power loss can leave; the kills below reach them only by chance): qemu-img
# reads what was there before, tapdisk opens it, cuts the orphan off, and
# both read it after tapdisk wrote to it.
cut_short() {
    local step=$1 img=$T/cs.vhd out
    qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$img" 8M || return 1
    qemu-io -f vpc -c "write -P 0x61 0 2M" "$img" >/dev/null || return 1
    qemu-img convert -f vpc -O raw "$img" "$T/cs.before" || return 1
    python3 - "$img" "$step" <<'EOF' || return 1
import sys
img, step = sys.argv[1], sys.argv[2]
d = bytearray(open(img, "rb").read())
footer, end = d[-512:], len(d) - 512       # the next block goes at end
slot = 512 + (2 << 20)
if step == "footer":        # the footer at the new end, nothing else
    d += b"\0" * slot
    d[end + slot:end + slot + 512] = footer
elif step == "bitmap":      # and the bitmap, over the old footer
    d += b"\0" * slot
    d[end:end + 512] = b"\xff" * 512
    d[end + slot:end + slot + 512] = footer
elif step == "lost":        # the end footer lost: data where it was
    d[end:end + 512] = b"\xff" * 512
    d += b"\x5a" * 4096
open(img, "wb").write(d)
EOF
    qemu-img convert -f vpc -O raw "$img" "$T/cs.crash" || { echo "qemu-img cannot read the crash state"; return 1; }
    cmp "$T/cs.before" "$T/cs.crash" || return 1
    out=$(printf 'w 8192 16 7\nf\n' | TD_IMAGE_VERBOSE=1 "$TI" apply "vhd:$img" 2>&1) || { echo "$out"; return 1; }
    printf '%s\n' "$out" | grep -q "written again" || { echo "tapdisk did not mend it: $out"; return 1; }
    [ "$(stat -c %s "$img")" = $((1536 + 512 + 2 * (512 + 2097152) + 512)) ] ||
        { echo "file $(stat -c %s "$img") bytes after: not two blocks and the footer"; return 1; }
    qemu-img convert -f vpc -O raw "$img" "$T/cs.after" || return 1
    cmp -n 2097152 "$T/cs.before" "$T/cs.after" || return 1
    "$TI" read "vhd:$img" "$T/cs.back" 1 || return 1
    cmp "$T/cs.after" "$T/cs.back" || return 1
    printf '%s\n' "$out" | grep "written again"
}
check "an allocation cut short after the footer moved: qemu-img reads it, tapdisk mends it" cut_short footer
check "an allocation cut short after the bitmap: qemu-img reads it, tapdisk mends it" cut_short bitmap
check "an end footer lost (data where it was): qemu-img reads it, tapdisk mends it from the copy at 0" cut_short lost

# 5. The crash test.
crash() {
    local img=$T/c.vhd log=$T/c.log i pid out cut=0
    qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$img" 1G || return 1
    : > "$log"
    for i in $(seq 1 "$CRASH_RUNS"); do
        TD_IMAGE_VERBOSE=1 "$TI" crash "vhd:$img" "$log" "$i" 2> "$T/c.err" &
        pid=$!
        sleep "0.$(( (RANDOM % 45) + 5 ))"
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
        grep -q "^td-image:" "$T/c.err" && { echo "run $i: $(cat "$T/c.err")"; return 1; }
        # The run opened what the last one left: an allocation cut short?
        grep -q "written again" "$T/c.err" && cut=$((cut + 1))
        qemu-img convert -f vpc -O raw "$img" "$T/c.raw" || { echo "run $i: qemu-img cannot read the image"; return 1; }
        # A killed process loses no write it answered (the page cache keeps
        # them): every answered write is there, not only the flushed ones.
        out=$("$TI" verify --answered "$T/c.raw" "$log" 2>&1) || { echo "run $i: $out"; return 1; }
    done
    echo "$CRASH_RUNS kills, $cut of them found by the next run with blocks past the BAT's (cut off at open); last: $out; $(grep -c '^F' "$log") flushes"
}
check "tapdisk killed with SIGKILL $CRASH_RUNS times mid-write: qemu-img reads the image, every write answered before the kill is there" crash

echo "1..$n"
[ $fail = 0 ]
