#!/bin/bash
# The real-Xen scenarios, run in dom0 of the bed.  Prints TAP; every test's
# name carries its scenario's word.  DEVD=ours|stock selects the devd that
# the driver domain runs; CHURN_CYCLES (10) and SCENARIOS (all) narrow it.
set -u
. /etc/xen/bed/lib.sh
DEVD=${DEVD:-ours}
XEN=${XEN:-4.17} DOM0=${DOM0:-ours}   # the Xen booted, and whose xl dom0 runs
# Xen 4.17's stock libxl has no vbd3 kind: the scenarios that create vbd3
# disks run this project's xl in dom0 there, and say so.
XL_DOM0=$XL XL_VBD3=$XL VBD3_DOM0=""
if [ "$XEN" = 4.17 ] && [ "$DOM0" = stock ]; then
    XL_VBD3=/opt/xl-devd/sbin/xl VBD3_DOM0=" (dom0: this project's xl; 4.17's stock xl has no vbd3)"
fi
CHURN_CYCLES=${CHURN_CYCLES:-10}
# Every scenario, in order; SCENARIOS=all (the default here) runs them.
ALL_SCENARIOS="vbd vif qdisk 9pfs vbd3 vhd vbd3-hostile restart shutdown churn many slow-hotplug killed-scripts rebind api package"
SCENARIOS=${SCENARIOS:-all}
[ "$SCENARIOS" = all ] && SCENARIOS=$ALL_SCENARIOS
XVDB=51728 XVDC=51744 XVDD=51760 XVDE=51776
want() { case " $SCENARIOS " in *" $1 "*) return 0;; esac; return 1; }

say "devd under test: $DEVD"
scenario setup
# DRV_VCPUS (make bench's multi-queue figures): the driver domain's vCPUs
sed -e "s/@DEVD@/$DEVD/" -e "s/^vcpus = .*/vcpus = ${DRV_VCPUS:-1}/" /etc/xen/bed/drv.cfg > /run/drv.cfg
$XL create /run/drv.cfg > /run/drv.create 2>&1
DRV=$(domid drv)
wait_key /local/domain/$DRV/data/drvready 1 120
ok $? "setup: driver domain up with $DEVD devd" "$(cat /run/drv.create)"
DRVBE=/local/domain/$DRV/backend
if [ "$DEVD" = ours ]; then
    # A fresh start in a domU logs no error or warning: there is no fault
    # (xl once asked the hypervisor for its CPUs, three errors a start).
    # Its lines up to "serving backends", which it logs once started.
    out=$(drv "for i in \$(seq 50); do grep -q 'devd: serving backends' /var/log/xen/xldevd.log && break; sleep 0.2; done; sed '/devd: serving backends/q' /var/log/xen/xldevd.log")
    n=$(echo "$out" | grep -cE ': (error|warning|critical): ')
    echo "$out" | grep -q 'devd: serving backends' && [ "$n" = 0 ]
    ok $? "setup: devd's start logged no error or warning line" "$n such lines; devd's log up to its start: $(echo "$out" | tail -8)"
fi

# The main job (make demo): one guest served by the driver domain.
if want demo; then
    scenario demo
    drv "truncate -s 64M /srv/demo.img && printf 'HELLO FROM THE DRIVER DOMAIN\n' | dd of=/srv/demo.img conv=notrunc 2>/dev/null" >/dev/null
    guest_up demo "backend=drv,vdev=xvdb,format=raw,target=/srv/demo.img" -- "backend=drv,bridge=xenbr0"
    ok $? "demo: guest up with a disk and a vif served by the driver domain"
    GD=$(domid demo)
    connected vbd "$GD" $XVDB 60 && connected vif "$GD" 0 60
    ok $? "demo: both backends Connected"
    say "---- what devd tracks (xl devd --status, in the driver domain)"
    drv "$(drv 'devd-ctl xl' | head -1) devd --status 2>&1" | sed 's/^/#   /'
    say "---- the guest's view of its disk"
    dcmd "$GD" 'echo "xvdb: $(( $(cat /sys/block/xvdb/size) / 2048 )) MiB, starts with: $(head -c 28 /dev/xvdb)"' | sed 's/^/#   /'
    say "---- the guest's view of its network"
    dcmd "$GD" "ip addr add 10.99.0.20/24 dev eth0 && ip link set eth0 up && ip -br addr show eth0 && busybox ping -c 2 -W 3 10.99.0.1 | tail -2" 60 | sed 's/^/#   /'
    $XL destroy demo
    wait_gone "$(be vbd "$GD" $XVDB)" 30 && wait_gone "$(be vif "$GD" 0)" 30
    ok $? "demo: guest destroyed, devd removed its backends"
fi

# 1. vbd and 2. vif, on one guest
if want vbd || want vif; then
    scenario g1-boot
    drv "truncate -s 64M /srv/g1.img" >/dev/null
    shared_guest && guest_attach g1 "backend=drv,vdev=xvdb,format=raw,target=/srv/g1.img" -- "backend=drv,bridge=xenbr0"
    ok $? "vbd: guest g1 up with a disk and a vif from drv"
fi
if want vbd; then
    scenario vbd
    connected vbd "$G1" $XVDB 60
    ok $? "vbd: backend Connected with hotplug-status connected"
    out=$(guest_rw "$G1" xvdb); r=$?
    ok $r "vbd: guest writes a pattern and reads it back" "$out"
    sum=${out%% *}
    dsum=$(drv "dd if=/srv/g1.img bs=1M count=8 2>/dev/null | md5sum | cut -d' ' -f1" | head -1)
    [ -n "$sum" ] && [ "$sum" = "$dsum" ]
    ok $? "vbd: driver domain reads the same checksum" "guest $sum drv $dsum"
    if [ "$DEVD" = ours ]; then
        # The status through libxl's IDL type: text and JSON alike.
        st=$(drv "X=\$(devd-ctl xl | head -1); \$X devd --status 2>&1; \$X devd --status --json 2>&1")
        echo "$st" | grep -q "^  device vbd $XVDB state connected" &&
            echo "$st" | grep -q "\"backend_path\": \"$DRVBE\"" &&
            echo "$st" | grep -q "\"kind\": \"vbd\"" &&
            echo "$st" | grep -q "\"devid\": $XVDB"
        ok $? "vbd: xl devd --status shows it, as text and as JSON" "$st"
    fi
    detach g1 xvdb vbd "$G1" $XVDB
    ok $? "vbd: detach removes the backend directory"
    n=$(loops_left g1.img)
    [ "$n" = 0 ]
    ok $? "vbd: loop device released" "loop devices on g1.img: $n"
fi
if want vif; then
    scenario vif
    connected vif "$G1" 0 60
    ok $? "vif: backend Connected with hotplug-status connected"
    out=$(dcmd "$G1" "ip addr add 10.99.0.11/24 dev eth0 && ip link set eth0 up && busybox ping -c 3 -W 3 10.99.0.1" 60); r=$?
    ok $r "vif: guest pings the driver domain" "$out"
    out=$(drv "busybox ping -c 3 -W 3 10.99.0.11" 60); r=$?
    ok $r "vif: driver domain pings the guest" "$out"
    out=$(drv "ls /sys/class/net/xenbr0/brif")
    case " $(echo $out) " in *" vif$G1.0 "*) r=0;; *) r=1;; esac
    ok $r "vif: vif$G1.0 is on the bridge" "$out"
    detach g1 0 vif "$G1" 0
    ok $? "vif: detach removes the backend directory"
    out=$(drv "ls /sys/class/net/xenbr0/brif")
    case " $(echo $out) " in *" vif$G1.0 "*) r=1;; *) r=0;; esac
    ok $r "vif: vif$G1.0 gone from the bridge" "$out"
fi

# 3. qdisk: two qdisks, one QEMU; the last detach stops it
if want qdisk; then
    scenario qdisk
    drv "truncate -s 32M /srv/q1.img /srv/q2.img" >/dev/null
    guest_up g2 "backend=drv,backendtype=qdisk,vdev=xvdb,format=raw,target=/srv/q1.img" \
                "backend=drv,backendtype=qdisk,vdev=xvdc,format=raw,target=/srv/q2.img"
    ok $? "qdisk: guest g2 up with two qdisks from drv"
    G2=$(domid g2)
    connected qdisk "$G2" $XVDB 90 && connected qdisk "$G2" $XVDC 90
    ok $? "qdisk: both backends Connected"
    out=$(guest_rw "$G2" xvdb); r=$?
    ok $r "qdisk: guest writes a pattern and reads it back" "$out"
    n=$(qemus_for "$G2")
    [ "$n" = 1 ]
    ok $? "qdisk: one QEMU serves both disks" "QEMUs for domain $G2: $n"
    detach g2 xvdc qdisk "$G2" $XVDC
    ok $? "qdisk: detaching one removes its backend"
    n=$(qemus_for "$G2")
    [ "$n" = 1 ]
    ok $? "qdisk: QEMU still runs for the other disk" "QEMUs: $n"
    detach g2 xvdb qdisk "$G2" $XVDB
    ok $? "qdisk: detaching the last removes its backend"
    for i in $(seq 20); do n=$(qemus_for "$G2"); [ "$n" = 0 ] && break; sleep 0.5; done
    [ "$n" = 0 ]
    ok $? "qdisk: detaching the last one stops QEMU" "QEMUs: $n"
    $XL destroy g2 2>/dev/null
fi

# 3a. 9pfs: a share of the driver domain's, served by the guest's QEMU there
# (given at creation: xl cannot hot-attach 9pfs).
if want 9pfs; then
    scenario 9pfs
    drv "mkdir -p /srv/p9 && echo from-drv > /srv/p9/hello" >/dev/null
    P9="tag=xtp9,security_model=none,path=/srv/p9,backend=drv" guest_up g9
    ok $? "9pfs: guest g9 up with a 9pfs share from drv"
    G9=$(domid g9)
    wait_key "$(be 9pfs "$G9" 0)/state" 2 60
    ok $? "9pfs: backend in InitWait, waiting for the guest" "state=$(xs $(be 9pfs "$G9" 0)/state)"
    out=$(dcmd "$G9" "modprobe -a 9pnet_xen 9p; mkdir -p /run/p9 && mount -t 9p -o trans=xen,version=9p2000.L xtp9 /run/p9 && cat /run/p9/hello && echo from-guest > /run/p9/back && sync" 60)
    case "$out" in *from-drv*) r=0;; *) r=1;; esac
    ok $r "9pfs: the guest mounts the share and reads the driver domain's file" "$out"
    wait_key "$(be 9pfs "$G9" 0)/state" 4 30
    ok $? "9pfs: backend Connected once mounted" "state=$(xs $(be 9pfs "$G9" 0)/state)"
    out=$(drv "cat /srv/p9/back 2>&1")
    case "$out" in *from-guest*) r=0;; *) r=1;; esac
    ok $r "9pfs: the driver domain sees what the guest wrote" "$out"
    n=$(qemus_for "$G9")
    [ "$n" = 1 ]
    ok $? "9pfs: one QEMU in the driver domain serves it" "QEMUs for domain $G9: $n"
    $XL destroy g9 2>/dev/null
    for i in $(seq 20); do n=$(qemus_for "$G9"); [ "$n" = 0 ] && break; sleep 0.5; done
    wait_gone "$(be 9pfs "$G9" 0)" 30 && [ "$n" = 0 ]
    ok $? "9pfs: guest destroyed, backend removed and its QEMU stopped" "QEMUs: $n"
fi

# 3b. vbd3: the in-process ring server and tapdisk
if want vbd3; then
    scenario vbd3
    XL=$XL_VBD3
    if [ "$DEVD" = stock ]; then
        skip "vbd3: guest disk served by devd's ring server and tapdisk" "Debian's xl devd has no vbd3"
    else
        drv "truncate -s 64M /srv/t1.img" >/dev/null
        shared_guest && out=$(guest_attach g1 "backend=drv,backendtype=tap,vdev=xvdb,format=raw,target=/srv/t1.img")
        ok $? "vbd3: guest g1 gets a vbd3 disk (backendtype=tap) from drv$VBD3_DOM0" "$out"
        B3=$(be vbd3 "$G1" $XVDB)
        wait_key "$B3/state" 4 60
        ok $? "vbd3: backend Connected" "state=$(xs $B3/state) error=$(xs $B3/hotplug-error)"
        [ "$(xs $B3/params)" = "aio:/srv/t1.img" ] && [ "$(xs $B3/max-ring-page-order)" = 3 ] &&
            [ "$(xs $B3/sectors)" = 131072 ] && [ "$(xs $B3/sector-size)" = 512 ] &&
            [ "$(xs $B3/feature-flush-cache)" = 1 ] && [ -n "$(xs $B3/xl-devd-generation)" ]
        ok $? "vbd3: params aio:, max-ring-page-order 3, geometry and features published" \
            "params=$(xs $B3/params) order=$(xs $B3/max-ring-page-order) sectors=$(xs $B3/sectors) flush=$(xs $B3/feature-flush-cache)"
        # dom0's libxl (stock 4.19+, or ours on 4.17) writes script=block-tap,
        # as upstream does; our devd serves the ring itself, never runs it.
        out=$(drv "cat /var/log/xen/xen-hotplug.log /var/log/xen/xldevd.log 2>/dev/null | grep -c 'b[l]ock-tap'; pgrep -f 'b[l]ock-tap' | wc -l" | tr '\n' ' ')
        [ "$(xs $B3/script)" = /etc/xen/scripts/block-tap ] && [ "$out" = "0 0 " ]
        ok $? "vbd3: dom0 ($DOM0 xl, Xen $XEN) wrote script=block-tap, and devd never ran it" \
            "script=$(xs $B3/script); block-tap in the hotplug and devd logs, block-tap processes: $out"
        n=$(drv "pgrep -x tapdisk | wc -l" | head -1)
        [ "$n" = 1 ]
        ok $? "vbd3: one tapdisk serves it" "tapdisks: $n"
        out=$(drv "stat -c '%a %U' /var/run/xen/tapdisk /var/run/xen/tapdisk/vbd3-$G1-$XVDB.sock" | head -2)
        [ "$(echo $out)" = "700 root 600 root" ]
        ok $? "vbd3: its control socket is 0600 in a 0700 directory" "$out"
        out=$(dcmd "$G1" "cat /sys/block/xvdb/size")
        [ "$(echo $out)" = 131072 ]
        ok $? "vbd3: the guest sees a 64 MiB disk" "$out"
        # blkfront takes up indirect requests when offered (32 segments, its
        # default): more than the 11 of a direct request.
        out=$(dcmd "$G1" "cat /sys/block/xvdb/queue/max_segments")
        [ "$(xs $B3/feature-max-indirect-segments)" = 256 ] && [ "$(echo $out)" = 32 ]
        ok $? "vbd3: tapdisk offers 256-segment indirect requests, the guest takes them up" \
            "feature-max-indirect-segments=$(xs $B3/feature-max-indirect-segments) guest max_segments=$out"
        # and persistent grants: both sides say so, and tapdisk holds them
        # (the guest's pages mapped once, used in place by every request).
        fe=/local/domain/$G1/device/vbd/$XVDB
        log=$(drv "grep 'ring connected' /var/log/xen/tapdisk-vbd3-$G1-$XVDB.log | tail -1" | head -1)
        [ "$(xs $B3/feature-persistent)" = 1 ] && [ "$(xs $fe/feature-persistent)" = 1 ] &&
            case "$log" in *"grant persistent"*) true;; *) false;; esac
        ok $? "vbd3: tapdisk offers persistent grants, the guest takes them up" \
            "backend feature-persistent=$(xs $B3/feature-persistent) frontend=$(xs $fe/feature-persistent); tapdisk: $log"
        # Every check of the disk below runs through tapdisk's loop that
        # sleeps in io_uring (and reads and unmasks the event channel there).
        log=$(drv "grep -m1 'waiting in' /var/log/xen/tapdisk-vbd3-$G1-$XVDB.log" | head -1)
        case "$log" in *"waiting in io_uring"*) true;; *) false;; esac
        ok $? "vbd3: tapdisk sleeps in io_uring" "tapdisk: $log"
        # Data integrity over the whole disk: a random pattern, flushed,
        # read back, checksums equal in the guest and in the driver domain.
        # (in 8 MiB pieces: the guest has little memory for /tmp)
        out=$(guest_pattern "$G1" xvdb); r=$?
        ok $r "vbd3: 64 MiB random pattern over the whole disk reads back equal" "$out"
        sum=${out%% *}
        dsum=$(drv "md5sum < /srv/t1.img | cut -d' ' -f1" 120 | head -1)
        [ -n "$sum" ] && [ "$sum" = "$dsum" ]
        ok $? "vbd3: the image in the driver domain has the same checksum" "guest $sum drv $dsum"
        out=$(drv "/opt/xl-devd/sbin/td-ctl -s /var/run/xen/tapdisk/vbd3-$G1-$XVDB.sock stats 0")
        fl=$(echo "$out" | sed -n 's/^reqs_flush=//p'); bad=$(echo "$out" | sed -n 's/^bad_requests=//p')
        [ "${fl:-0}" -gt 0 ] && [ "${bad:-1}" = 0 ]
        ok $? "vbd3: flushes reached tapdisk, no request refused" "$(echo $out)"
        # 1 MiB direct reads came as requests larger than 11 segments can
        # carry (88 sectors): indirect ones, and they read back equal above.
        rq=$(echo "$out" | sed -n 's/^reqs_read=//p'); sr=$(echo "$out" | sed -n 's/^sectors_read=//p')
        [ "${rq:-0}" -gt 0 ] && [ $(( ${sr:-0} / rq )) -gt 88 ]
        ok $? "vbd3: reads came as indirect requests (more than 88 sectors each on average)" "reqs_read=$rq sectors_read=$sr"
        if [ "$(xs $B3/feature-discard)" = 1 ]; then
            out=$(dcmd "$G1" "blkdiscard -o 0 -l 33554432 /dev/xvdb && dd if=/dev/xvdb bs=1M count=32 iflag=direct 2>/dev/null | tr -d '\\000' | wc -c" 120); r=$?
            [ $r = 0 ] && [ "$(echo "$out" | tail -1)" = 0 ]
            ok $? "vbd3: discard of 32 MiB reads back as zeros" "$out"
            out=$(drv "/opt/xl-devd/sbin/td-ctl -s /var/run/xen/tapdisk/vbd3-$G1-$XVDB.sock stats 0 | sed -n 's/^reqs_discard=//p'; du -k /srv/t1.img")
            set -- $out
            [ "${1:-0}" -gt 0 ] && [ "${2:-65536}" -lt 40000 ]
            ok $? "vbd3: discards punched holes in the image" "discards=${1:-} du_kib=${2:-}"
        else
            skip "vbd3: discard" "the driver domain's file system cannot punch holes"
            skip "vbd3: discard holes" "no discard"
        fi
        # A guest whose blkfront takes rings of up to 8 pages gets one: the
        # largest the tapdisk control protocol carries (8 ring-refs).
        drv "truncate -s 16M /srv/t3.img" >/dev/null
        GUEST_MEM=256 GUEST_EXTRA=xen_blkfront.max_ring_page_order=3 guest_up g4 "backend=drv,backendtype=tap,vdev=xvdb,format=raw,target=/srv/t3.img"
        G4=$(domid g4)
        B4=$(be vbd3 "$G4" $XVDB)
        wait_key "$B4/state" 4 60 && out=$(guest_rw "$G4" xvdb)
        r=$?; fe=/local/domain/$G4/device/vbd/$XVDB
        log=$(drv "grep 'ring connected' /var/log/xen/tapdisk-vbd3-$G4-$XVDB.log | tail -1" | head -1)
        [ $r = 0 ] && [ "$(xs $fe/ring-page-order)" = 3 ] && [ -n "$(xs $fe/ring-ref7)" ] &&
            case "$log" in *"8 page(s), 256 entries"*) true;; *) false;; esac
        ok $? "vbd3: a guest asking for 8-page rings gets one, and its I/O works" \
            "ring-page-order=$(xs $fe/ring-page-order) ring-ref7=$(xs $fe/ring-ref7); tapdisk: $log; $out"
        # Eight writers then eight readers of 1 MiB direct I/O at once: 64
        # requests of 128 KiB, twice what tapdisk's buffers hold, so the
        # ring waits for buffers and goes on as requests complete.  (The
        # guest gets 256 MiB: 16 MiB in its /tmp is too much for 128.)
        out=$(dcmd "$G4" 'dd if=/dev/urandom of=/tmp/p bs=1M count=8 2>/dev/null || exit 1; for i in 0 1 2 3 4 5 6 7; do dd if=/tmp/p of=/dev/xvdb bs=1M skip=$i seek=$i count=1 oflag=direct conv=notrunc 2>/dev/null & done; wait; for i in 0 1 2 3 4 5 6 7; do dd if=/dev/xvdb of=/tmp/r$i bs=1M skip=$i count=1 iflag=direct 2>/dev/null & done; wait; a=$(md5sum < /tmp/p); b=$(cat /tmp/r0 /tmp/r1 /tmp/r2 /tmp/r3 /tmp/r4 /tmp/r5 /tmp/r6 /tmp/r7 | md5sum); rm -f /tmp/p /tmp/r?; echo "${a%% *} ${b%% *}"; [ "$a" = "$b" ]' 180); r=$?
        ok $r "vbd3: 8 parallel 1 MiB direct writers, then readers, on the 8-page ring read back equal" "$out"
        $XL destroy g4 2>/dev/null
        wait_gone "$B4" 30
        # An 8-page ring may hold 33 grants per entry (8448), more than a
        # one-page ring (1056): what blkfront keeps for it.
        out=$(drv "grep 'ring disconnected' /var/log/xen/tapdisk-vbd3-$G4-$XVDB.log | tail -1" | head -1)
        n=$(echo "$out" | sed -n 's/.*disconnected: \([0-9]*\) persistent.*/\1/p')
        [ "${n:-0}" -gt 0 ] && [ "$n" -le 8448 ]
        ok $? "vbd3: the 8-page ring held its guest's grants, within its bound" "$out"
        # A devd restart adopts the connected device; I/O keeps working.
        drv "devd-ctl kill9; devd-ctl start" >/dev/null
        sleep 2
        out=$(guest_rw "$G1" xvdb); r=$?
        [ $r = 0 ] && [ "$(xs $B3/state)" = 4 ]
        ok $? "vbd3: after kill -9 and restart of devd, still Connected and I/O works" "$out state=$(xs $B3/state)"
        out=$(drv "grep 'vbd3 $XVDB: adopted' /var/log/xen/xldevd.log | tail -1")
        case "$out" in *"adopted: aio:/srv/t1.img in tapdisk minor 0, connected"*) r=0;; *) r=1;; esac
        ok $r "vbd3: the restarted devd adopted it as connected" "$out"
        detach g1 xvdb vbd3 "$G1" $XVDB
        ok $? "vbd3: detach removes the backend directory" "state=$(xs $B3/state)"
        for i in $(seq 20); do n=$(drv "pgrep -x tapdisk | wc -l" | head -1); [ "$n" = 0 ] && break; sleep 0.5; done
        [ "$n" = 0 ]
        ok $? "vbd3: its tapdisk stopped after the detach" "tapdisks: $n"
        out=$(drv "ls /var/run/xen/tapdisk/")
        case "$out" in *"vbd3-$G1-$XVDB.sock"*) r=1;; *) r=0;; esac
        ok $r "vbd3: the released device left no socket file" "$out"
    fi
    XL=$XL_DOM0
fi

# 3b'. vhd: a VHD image (format=vhd, backendtype=tap) served by tapdisk, read
# back by qemu-img in the driver domain; tapdisk and devd killed mid-write.
if want vhd; then
    scenario vhd
    XL=$XL_VBD3
    if [ "$DEVD" = stock ]; then
        skip "vhd: a VHD disk served by tapdisk" "Debian's xl devd has no vbd3"
    else
        V=/srv/v1.vhd
        drv "rm -f $V; qemu-img create -q -f vpc -o subformat=dynamic,force_size=on $V 64M" >/dev/null
        shared_guest && out=$(guest_attach g1 "backend=drv,backendtype=tap,vdev=xvdc,format=vhd,target=$V")
        ok $? "vhd: guest g1 gets a dynamic VHD disk (format=vhd, backendtype=tap) from drv$VBD3_DOM0" "$out"
        G1=$(domid g1) SK=/var/run/xen/tapdisk/vbd3-$G1-$XVDC.sock
        B5=$(be vbd3 "$G1" $XVDC)
        wait_key "$B5/state" 4 60 && [ "$(xs $B5/params)" = "vhd:$V" ] &&
            [ "$(xs $B5/sectors)" = 131072 ] && [ "$(xs $B5/feature-discard)" = 1 ]
        ok $? "vhd: backend Connected: params vhd:, 64 MiB, feature-discard" \
            "state=$(xs $B5/state) params=$(xs $B5/params) sectors=$(xs $B5/sectors) discard=$(xs $B5/feature-discard) error=$(xs $B5/hotplug-error)"
        log=$(drv "grep -m1 'dynamic VHD' /var/log/xen/tapdisk-vbd3-$G1-$XVDC.log" | head -1)
        case "$log" in *"32 blocks of 2048 KiB, 0 allocated"*) r=0;; *) r=1;; esac
        ok $r "vhd: tapdisk opened it as a dynamic VHD, nothing allocated" "tapdisk: $log"
        # The whole disk, random, flushed, read back; then qemu-img reads
        # the same image in the driver domain.
        out=$(guest_pattern "$G1" xvdc); r=$?
        ok $r "vhd: 64 MiB random pattern over the whole disk reads back equal" "$out"
        sum=${out%% *}
        dsum=$(drv "qemu-img convert -f vpc -O raw $V /tmp/v1.raw && md5sum < /tmp/v1.raw | cut -d' ' -f1; rm -f /tmp/v1.raw" 120 | head -1)
        [ -n "$sum" ] && [ "$sum" = "$dsum" ]
        ok $? "vhd: qemu-img in the driver domain reads what the guest wrote" "guest $sum, qemu-img $dsum"
        # Discard half the disk: zeros, and the image gives the space back.
        before=$(drv "du -k $V | cut -f1" | head -1)
        out=$(dcmd "$G1" "blkdiscard -o 0 -l 33554432 /dev/xvdc && dd if=/dev/xvdc bs=1M count=32 iflag=direct 2>/dev/null | tr -d '\\000' | wc -c" 120); r=$?
        after=$(drv "du -k $V | cut -f1" | head -1)
        holes=$(drv "qemu-img map -f vpc --output=json $V | grep -c '\"data\": false'" | head -1)
        [ $r = 0 ] && [ "$(echo "$out" | tail -1)" = 0 ] && [ "${after:-99999}" -lt $(( ${before:-0} - 30000 )) ] && [ "${holes:-0}" -ge 1 ]
        ok $? "vhd: discard of 32 MiB reads zeros, the image file's allocation shrinks, qemu-img maps holes" \
            "non-zero bytes read: $(echo "$out" | tail -1); allocated $before KiB -> $after KiB; qemu-img map hole runs: $holes"
        # A guest writing, passes of 8 MiB pieces over the whole disk, until
        # told to stop (then it ends its pass): tapdisk is killed (-9) in
        # the middle, then devd and tapdisk both are.  Each time a new
        # tapdisk takes the ring over, the pass the kill cut into completes
        # and the writes go on; then every byte is where it belongs.
        writer() {
            # (only the loop goes to the background, its output to a file:
            # the agent waits for whatever holds its output open)
            dcmd "$G1" "dd if=/dev/urandom of=/tmp/c bs=1M count=8 2>/dev/null; md5sum < /tmp/c | cut -d' ' -f1 > /tmp/c.sum; rm -f /tmp/wr.out /tmp/stop; (p=0; while [ ! -f /tmp/stop ]; do p=\$((p + 1)); for i in 0 1 2 3 4 5 6 7; do dd if=/tmp/c of=/dev/xvdc bs=1M seek=\$((i * 8)) oflag=direct conv=notrunc 2>/dev/null || { echo FAIL \$p \$i; exit 1; }; done; echo pass \$p; done; sync; echo DONE) > /tmp/wr.out 2>&1 < /dev/null &" 60 >/dev/null
        }
        passes() { dcmd "$G1" "grep -c '^pass' /tmp/wr.out" 30 | head -1; }
        writer_done() {
            local i o
            dcmd "$G1" "touch /tmp/stop" 30 >/dev/null
            for i in $(seq 120); do
                o=$(dcmd "$G1" "cat /tmp/wr.out 2>/dev/null" 30)
                case "$o" in *DONE*|*FAIL*) echo "$o" | tail -3 | tr '\n' ' '; return 0;; esac
                sleep 2
            done
            echo "the guest's writer did not finish in 240 s: ${o:-nothing}"
            return 1
        }
        pieces_ok() {   # every 8 MiB piece holds the writer's data
            dcmd "$G1" 'c=$(cat /tmp/c.sum); for i in 0 1 2 3 4 5 6 7; do s=$(dd if=/dev/xvdc bs=1M skip=$((i * 8)) count=8 iflag=direct 2>/dev/null | md5sum | cut -d" " -f1); [ "$s" = "$c" ] || { echo "piece $i: $s, not $c"; exit 1; }; done; echo "8 pieces hold the data written"' 120
        }
        for how in tapdisk devd+tapdisk; do
            l0=$(drv "wc -l < /var/log/xen/xldevd.log" | head -1)
            writer
            sleep 2
            k0=$(passes)
            kill_td="kill -9 \$(/opt/xl-devd/sbin/td-ctl -s $SK pid)"
            if [ $how = tapdisk ]; then
                drv "$kill_td" >/dev/null
            else
                drv "devd-ctl kill9; $kill_td; sleep 1; devd-ctl start" >/dev/null
            fi
            # Taken over: then the writer goes on a while before it stops.
            drv "for i in \$(seq 120); do tail -n +$((l0 + 1)) /var/log/xen/xldevd.log | grep -q 'vbd3 $XVDC: ring taken over' && exit 0; sleep 0.5; done; exit 1" 90 >/dev/null
            sleep 3
            out=$(writer_done); r=$?
            k1=$(passes)
            case "$out" in *DONE*) ;; *) r=1;; esac
            [ $r = 0 ] && [ "${k1:-0}" -gt "${k0:-0}" ]
            ok $? "vhd: $how killed (-9) mid-write: the guest's writes go on and complete" \
                "writer: $out; passes before the kill $k0, at the end $k1; state=$(xs $B5/state) error=$(xs $B5/hotplug-error)"
            out=$(pieces_ok); r=$?
            [ $r = 0 ] && [ "$(xs $B5/state)" = 4 ]
            ok $? "vhd: after $how was killed, the disk holds what the guest wrote, backend Connected" "$out state=$(xs $B5/state)"
            log=$(drv "tail -n +$((l0 + 1)) /var/log/xen/xldevd.log | grep -E 'vbd3 $XVDC: (ring taken over|its tapdisk died|adopted)' | tail -3; grep 'ring taken over from' /var/log/xen/tapdisk-vbd3-$G1-$XVDC.log | tail -1")
            case "$log" in *"ring taken over by a new tapdisk"*"ring taken over from a tapdisk that died"*) r=0;; *) r=1;; esac
            ok $r "vhd: after $how was killed, devd had a new tapdisk take the live ring over" "$log"
            # How many requests the dead one owed is chance (tapdisk answers
            # most at once): a figure; test_td_frontend makes it many.
            say "vhd: $how killed with the guest $k0 pass(es) in: $(echo "$log" | tail -1 | sed 's/.*: ring taken over/ring taken over/')"
        done
        dsum=$(drv "qemu-img convert -f vpc -O raw $V /tmp/v1.raw && md5sum < /tmp/v1.raw | cut -d' ' -f1; rm -f /tmp/v1.raw" 120 | head -1)
        sum=$(dcmd "$G1" 'for i in 0 1 2 3 4 5 6 7; do cat /tmp/c; done | md5sum | cut -d" " -f1' 60 | head -1)
        [ -n "$sum" ] && [ "$sum" = "$dsum" ]
        ok $? "vhd: after the kills, qemu-img in the driver domain reads what the guest wrote" "guest $sum, qemu-img $dsum"
        detach g1 xvdc vbd3 "$G1" $XVDC
        ok $? "vhd: detach removes the backend" "state=$(xs $B5/state)"
        out=$(drv "ls /var/run/xen/tapdisk/")
        case "$out" in *"vbd3-$G1-$XVDC.sock"*|*"ring-$G1-$XVDC.jnl"*) r=1;; *) r=0;; esac
        ok $r "vhd: the released device left no socket or journal" "$out"
    fi
    XL=$XL_DOM0
fi

# 3c. vbd3-hostile: a guest writes malformed frontend keys
if want vbd3-hostile; then
    scenario vbd3-hostile
    XL=$XL_VBD3
    if [ "$DEVD" = stock ]; then
        skip "vbd3-hostile: malformed frontends" "Debian's xl devd has no vbd3"
    else
        drv "truncate -s 16M /srv/h0.img /srv/h1.img" >/dev/null
        guest_up g8 "backend=drv,backendtype=tap,vdev=xvdb,format=raw,target=/srv/h0.img" \
                    "backend=drv,vdev=xvdd,format=raw,target=/srv/h1.img"
        ok $? "vbd3-hostile: guest g8 up with a vbd3 and a vbd disk$VBD3_DOM0"
        G8=$(domid g8)
        wait_key "$(be vbd3 "$G8" $XVDB)/state" 4 60 && connected vbd "$G8" $XVDD 60
        ok $? "vbd3-hostile: both good disks Connected"
        DP=$(drv 'cat /run/devd.pid' | head -1)
        # New devices stay unbound in the guest: its own xenstore writes
        # play the frontend, as a malicious kernel would.
        dcmd "$G8" "echo 0 > /sys/bus/xen/drivers_autoprobe" >/dev/null
        # Eight frontends, each with one bad value, on eight devices at
        # once (each device has its own log limit): each device Closed,
        # named in its hotplug-error and in one log line, detached.
        # CASES: key|the guest's writes (the frontend's directory is $F).
        CASES=("ring-page-order|\$F/ring-page-order 4 \$F/ring-ref0 8 \$F/event-channel 5"
               "ring-ref|\$F/event-channel 5"
               "event-channel|\$F/ring-ref 8 \$F/event-channel 12abc"
               "protocol|\$F/ring-ref 8 \$F/event-channel 5 \$F/protocol x86_16-abi"
               "feature-persistent|\$F/ring-ref 8 \$F/event-channel 5 \$F/feature-persistent 2"
               "state|\$F/ring-ref 8 \$F/event-channel 5"
               "event-channel|\$F/ring-ref 8 \$F/event-channel '13\\x00junk'"
               "protocol|\$F/ring-ref 8 \$F/event-channel 5 \$F/protocol 'x86_64-abi\\n\\x1b[31mDomain 0: FORGED'")
        VDEVS=(xvdc xvde xvdf xvdg xvdh xvdi xvdj xvdk)
        hdev() { echo $((51712 + 16 * ($(printf '%d' "'${VDEVS[$1]#xvd}") - 97))); }
        drv "for i in 0 1 2 3 4 5 6 7; do truncate -s 16M /srv/h2-\$i.img; done" >/dev/null
        for i in 0 1 2 3 4 5 6 7; do
            att=$($XL block-attach g8 "backend=drv,backendtype=tap,vdev=${VDEVS[$i]},format=raw,target=/srv/h2-$i.img" 2>&1) ||
                say "case ${CASES[$i]%%|*}: block-attach ${VDEVS[$i]}: $att"
        done
        for i in 0 1 2 3 4 5 6 7; do
            BH=$(be vbd3 "$G8" "$(hdev $i)")
            wait_key "$BH/state" 2 60 || say "case ${CASES[$i]%%|*}: backend not in InitWait: $(xs $BH/state)"
        done
        l0=$(drv "wc -l < /var/log/xen/xldevd.log" | head -1)
        w=
        for i in 0 1 2 3 4 5 6 7; do
            F=device/vbd/$(hdev $i) st=3; key=${CASES[$i]%%|*} keys=${CASES[$i]#*|}
            [ "$key" = state ] && st=junk
            w="$w xenstore-write ${keys//'$F'/$F} && xenstore-write $F/state $st &&"
        done
        out=$(dcmd "$G8" "$w true"); r=$?
        [ $r = 0 ] || say "the guest's writes: rc $r $out"
        for i in 0 1 2 3 4 5 6 7; do
            c=${CASES[$i]}; key=${c%%|*}; keys=${c#*|}; dev=$(hdev $i)
            BH=$(be vbd3 "$G8" $dev)
            wait_key "$BH/state" 6 30
            ok $? "vbd3-hostile: bad $key -> that device Closed" "state=$(xs $BH/state)"
            err=$(xs "$BH/hotplug-error")
            case "$err" in *"$key"*) r=0;; *) r=1;; esac
            ok $r "vbd3-hostile: bad $key -> hotplug-error names it" "$err"
            out=$(drv "grep 'vbd3 $dev: device closed' /var/log/xen/xldevd.log | tail -1")
            case "$out" in *"Domain $G8:"*"$key"*) r=0;; *) r=1;; esac
            ok $r "vbd3-hostile: bad $key -> one log line naming domain, device and key" "$out"
            case "$keys" in
            *x00junk*)  # "13\0junk" is not event channel 13
                raw=$(xenstore-read -R "$BH/hotplug-error")
                case "$raw" in *'event-channel="13\x00junk" rejected'*) r=0;; *) r=1;; esac
                ok $r "vbd3-hostile: a value with a NUL byte inside is rejected, shown escaped" "$raw";;
            *FORGED*)   # a newline and an ESC sequence: escaped everywhere
                E='x86_64-abi\n\x1b[31mDomain 0: FORGED'
                out=$(drv "tail -n +$((l0 + 1)) /var/log/xen/xldevd.log > /run/inj.log; l=/run/inj.log; echo \$(tr -cd '\\033' < \$l | wc -c) \$(grep -a FORGED \$l | grep -vcF '$E') \$(grep -acF '$E' \$l)" | head -1)
                say "injection: the log line: $(drv "grep -aF '$E' /var/log/xen/xldevd.log | tail -1" | head -1)"
                set -- $out
                [ "${1:-x}" = 0 ] && [ "${2:-x}" = 0 ] && [ "${3:-0}" -ge 1 ]
                ok $? "vbd3-hostile: injected newline and ESC reach xldevd.log escaped (ESC bytes, forged lines, escaped lines: $out)"
                raw=$(xenstore-read -R "$BH/hotplug-error")
                say "injection: hotplug-error (raw): $raw"
                n=$(printf '%s' "$raw" | tr -cd '\033\n' | wc -c)
                case "$raw" in *"$E"*) r=$n;; *) r=1;; esac
                ok $r "vbd3-hostile: injected text reaches hotplug-error escaped" "$raw"
                st=$(drv "\$(devd-ctl xl) devd --status 2>&1")
                say "injection: xl devd --status:"; echo "$st" | sed 's/^/#   /'
                n=$(printf '%s' "$st" | tr -cd '\033' | wc -c)
                f=$(printf '%s\n' "$st" | grep -c '^.*\[31mDomain 0: FORGED' )
                case "$st" in *"$E"*) r=0;; *) r=1;; esac
                [ $r = 0 ] && [ "$n" = 0 ] && [ "$(printf '%s\n' "$st" | grep FORGED | grep -vcF "$E")" = 0 ]
                ok $? "vbd3-hostile: injected text reaches xl devd --status escaped" "ESC bytes $n, lines $f";;
            esac
        done
        for i in 0 1 2 3 4 5 6 7; do xl_run block-detach g8 "${VDEVS[$i]}"; done
        for i in 0 1 2 3 4 5 6 7; do
            BH=$(be vbd3 "$G8" "$(hdev $i)")
            wait_gone "$BH" 30
            ok $? "vbd3-hostile: bad ${CASES[$i]%%|*} -> detached, backend removed" "state=$(xs $BH/state)"
            # dom0 removes the frontend after the backend: wait for it too
            # before the next attach.
            wait_gone "/local/domain/$G8/device/vbd/$(hdev $i)" 30
        done
        F=device/vbd/$XVDC
        # A frontend that closes and starts again in a loop (Closed,
        # Initialising, ...): every turn is a disconnect and a restart in
        # the ring server, which logs at most 10 lines a minute about it.
        drv "truncate -s 16M /srv/h2.img" >/dev/null
        xl_run block-attach g8 "backend=drv,backendtype=tap,vdev=xvdc,format=raw,target=/srv/h2.img"
        BH=$(be vbd3 "$G8" $XVDC)
        wait_key "$BH/state" 2 60
        l0=$(drv "wc -l < /var/log/xen/xldevd.log" | head -1)
        # The loop runs in the guest, as a hostile frontend's would: no
        # round trip through dom0 per turn, so that its 30 transitions fall
        # in fewer minutes than they would need lines at 10 a minute.
        t0=$(now)
        out=$(dcmd "$G8" "w() { for i in \$(seq 200); do [ \"\$(xenstore-read $BH/state)\" = \$1 ] && return 0; sleep 0.1; done; echo \"backend not in \$1\"; return 1; }; for c in \$(seq 15); do xenstore-write $F/state 6 && w 6 && xenstore-write $F/state 1 && w 2 || exit 1; done" 300); r=$?
        ok $r "vbd3-hostile: a frontend closing and starting again 15 times is served every time" "state=$(xs $BH/state) $out"
        # 10 lines per started minute (the limit's window); the check means
        # something only while that is below the 30 lines of no limit.
        lim=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%d", (int((b - a) / 60) + 1) * 10}')
        n=$(drv "tail -n +$((l0 + 1)) /var/log/xen/xldevd.log | grep -c 'vbd3 $XVDC: \(disconnected\|frontend starts again\)'" | head -1)
        [ "${n:-99}" -le "$lim" ] && [ "${n:-0}" -ge 1 ] && [ "$lim" -lt 30 ]
        ok $? "vbd3-hostile: its 30 transitions cost devd's log $n lines (at most $lim, in $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.0f", b - a}') s)"
        xl_run block-detach g8 xvdc
        wait_gone "$BH" 30
        wait_gone "/local/domain/$G8/$F" 30
        # A frontend that keeps its ring full of requests that must fail
        # (tests/xen/hostile/ring-flood.c, in the guest) for 20 s: reads
        # beyond the disk, reads into grants that do not exist, indirect
        # reads whose segment page does not exist; and it asks for
        # persistent grants, so tapdisk tries to hold each bad grant first.
        # Its tapdisk answers every one, logs within its limit, answers
        # control requests meanwhile, and the guest's other vbd3 disk
        # (another tapdisk) keeps working.
        RF=/usr/local/lib/xl-devd-bed/ring-flood
        drv "truncate -s 16M /srv/h2.img" >/dev/null
        xl_run block-attach g8 "backend=drv,backendtype=tap,vdev=xvdc,format=raw,target=/srv/h2.img"
        BH=$(be vbd3 "$G8" $XVDC)
        SK=/var/run/xen/tapdisk/vbd3-$G8-$XVDC.sock
        wait_key "$BH/state" 2 60
        out=$(dcmd "$G8" "rm -f /tmp/rf.go /tmp/rf.out; ($RF $DRV 20 /tmp/rf.go > /tmp/rf.out 2>&1 &); for i in \$(seq 100); do [ -s /tmp/rf.out ] && break; sleep 0.1; done; set -- \$(head -1 /tmp/rf.out); xenstore-write $F/ring-ref \$1 $F/event-channel \$2 $F/protocol x86_64-abi $F/feature-persistent 1 $F/state 3; cat /tmp/rf.out")
        wait_key "$BH/state" 4 30 &&
            drv "grep 'ring connected' /var/log/xen/tapdisk-vbd3-$G8-$XVDC.log | tail -1 | grep -q 'grant persistent'"
        ok $? "vbd3-hostile: a ring-flooding frontend gets its ring Connected, with persistent grants" "state=$(xs $BH/state) ring-ref, port: $out"
        dcmd "$G8" "touch /tmp/rf.go" >/dev/null
        t0=$(now)
        sleep 3
        out=$(drv "/opt/xl-devd/sbin/td-ctl -s $SK stats 0"); r=$?
        ok $r "vbd3-hostile: during the flood its tapdisk answers a control request" "$(echo $out)"
        out=$(guest_rw "$G8" xvdb); r=$?
        ok $r "vbd3-hostile: during the flood the guest's other vbd3 disk works" "$out"
        out=$(dcmd "$G8" "for i in \$(seq 600); do [ \$(wc -l < /tmp/rf.out) -ge 2 ] && break; sleep 0.1; done; tail -1 /tmp/rf.out" 90)
        st=$(drv "/opt/xl-devd/sbin/td-ctl -s $SK stats 0")
        bad=$(echo "$st" | sed -n 's/^bad_requests=//p')
        err=$(echo "$st" | sed -n 's/^errors=//p')
        set -- $out     # sent N answered N errors N
        # Refused (beyond the end, no indirect page) and failed (no data
        # grant) alike: errors, every one; bad_requests counts the former.
        [ "${1:-}" = sent ] && [ "${4:-0}" -gt 0 ] && [ "${6:-x}" = "$4" ] &&
            [ "${err:-0}" -ge "$4" ] && [ "${bad:-0}" -gt 0 ] && [ "$bad" -lt "$err" ]
        ok $? "vbd3-hostile: every flooded request answered, each with an error" "flood: $out; tapdisk: errors=$err bad_requests=$bad"
        # 10 lines per started minute, and one window more for where the
        # windows fall: meaningful while below the requests refused.
        lim=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%d", (int((b - a) / 60) + 2) * 10}')
        # Each kind named at least once, all of them within the limit.
        TL=/var/log/xen/tapdisk-vbd3-$G8-$XVDC.log
        kinds=$(drv "for k in 'beyond the end' 'could not be copied' 'indirect segment page not'; do grep -c \"\$k\" $TL; done" | tr '\n' ' ')
        n=$(drv "grep -c 'beyond the end\|could not be copied\|indirect segment page not' $TL" | head -1)
        # and nothing else: no line of the Xen libraries' own per failed
        # call (libxengnttab logs each grant that does not map)
        all=$(drv "awk '/ring connected/ { n = 0 } { n++ } END { print n - 1 }' $TL" | head -1)
        set -- $out $kinds
        [ "${n:-99}" -le "$lim" ] && [ "${7:-0}" -ge 1 ] && [ "${8:-0}" -ge 1 ] && [ "${9:-0}" -ge 1 ] && [ "$lim" -lt "${4:-0}" ] &&
            [ "${all:-99}" -le "$lim" ]
        ok $? "vbd3-hostile: ${4:-no} failed requests cost tapdisk's log $n lines (at most $lim), each kind named" "lines of each kind: $kinds; lines since the ring connected: $all"
        # Its frontend never lets the ring go: a safe detach fails, as with
        # blkback, and leaves the device; a forced one removes it.
        out=$($XL block-detach g8 xvdc 2>&1); r=$?
        [ $r != 0 ] && [ "$(xs $BH/state)" = 5 ]
        ok $? "vbd3-hostile: a safe detach of the flooding device fails, the guest holding it" "rc=$r state=$(xs $BH/state) $out"
        xl_run block-detach -f g8 xvdc
        wait_gone "$BH" 30
        ok $? "vbd3-hostile: a forced detach removes its backend" "state=$(xs $BH/state)"
        wait_gone "/local/domain/$G8/$F" 30
        # The same frontend with good requests, sent the way that once hung
        # tapdisk: a WRITE_BARRIER with more behind it in one push, and a
        # notify after every push, asked for or not.  Each is answered.
        xl_run block-attach g8 "backend=drv,backendtype=tap,vdev=xvdc,format=raw,target=/srv/h2.img"
        wait_key "$BH/state" 2 60
        out=$(dcmd "$G8" "rm -f /tmp/rf.go /tmp/rf.out; ($RF $DRV 15 /tmp/rf.go wakeups > /tmp/rf.out 2>&1 &); for i in \$(seq 100); do [ -s /tmp/rf.out ] && break; sleep 0.1; done; set -- \$(head -1 /tmp/rf.out); xenstore-write $F/ring-ref \$1 $F/event-channel \$2 $F/protocol x86_64-abi $F/feature-persistent 1 $F/state 3; cat /tmp/rf.out")
        wait_key "$BH/state" 4 30
        ok $? "vbd3-hostile: a frontend of barriers and a notify after every push gets its ring Connected" "state=$(xs $BH/state) ring-ref, port: $out"
        dcmd "$G8" "touch /tmp/rf.go" >/dev/null
        out=$(dcmd "$G8" "for i in \$(seq 600); do [ \$(wc -l < /tmp/rf.out) -ge 2 ] && break; sleep 0.1; done; tail -1 /tmp/rf.out" 90)
        set -- $out     # sent N answered N errors N barriers N stalled N longest N ms
        [ "${1:-}" = sent ] && [ "${2:-0}" -gt 0 ] && [ "${4:-x}" = "$2" ] && [ "${6:-x}" = 0 ] &&
            [ "${8:-0}" -gt 0 ] && [ "${10:-x}" = 0 ]
        ok $? "vbd3-hostile: its every request answered, none failed, none left waiting 10 s: ${2:-no} requests, ${8:-no} barriers, the longest wait ${12:-?} ms" \
            "ring-flood: $out; tapdisk: $(drv "/opt/xl-devd/sbin/td-ctl -s $SK stats 0" | tr '\n' ' ')"
        xl_run block-detach -f g8 xvdc
        wait_gone "$BH" 30
        ok $? "vbd3-hostile: that device detached too" "state=$(xs $BH/state)"
        wait_gone "/local/domain/$G8/$F" 30
        [ "$(drv 'cat /run/devd.pid' | head -1)" = "$DP" ] && drv "kill -0 $DP" >/dev/null
        ok $? "vbd3-hostile: devd is the same process, alive"
        out=$(guest_rw "$G8" xvdb); r=$?
        ok $r "vbd3-hostile: the guest's vbd3 disk still works" "$out"
        out=$(guest_rw "$G8" xvdd); r=$?
        ok $r "vbd3-hostile: the guest's vbd disk still works" "$out"
        n=$(drv "pgrep -x tapdisk | wc -l" | head -1)
        [ "$n" = 1 ]
        ok $? "vbd3-hostile: only the good disk's tapdisk remains" "tapdisks: $n"
        # Its tapdisk dies: another takes the ring over and the disk goes
        # on; if each one dies (a request that kills tapdisk would kill
        # every successor), the fourth death in a minute closes the device,
        # saying why.  devd and the vbd disk go on throughout.
        B8=$(be vbd3 "$G8" $XVDB)
        l0=$(drv "wc -l < /var/log/xen/xldevd.log" | head -1)
        taken_over() {  # N: the N-th takeover since l0 is logged
            drv "for i in \$(seq 60); do [ \$(tail -n +$((l0 + 1)) /var/log/xen/xldevd.log | grep -c 'vbd3 $XVDB: ring taken over') -ge $1 ] && exit 0; sleep 0.5; done; exit 1" 60 >/dev/null
        }
        drv "pkill -9 -x tapdisk" >/dev/null
        taken_over 1 && out=$(guest_rw "$G8" xvdb); r=$?
        [ $r = 0 ] && [ "$(xs $B8/state)" = 4 ]
        ok $? "vbd3-hostile: tapdisk killed -> another takes the ring over, the disk still works" \
            "$out state=$(xs $B8/state) error=$(xs $B8/hotplug-error); devd: $(drv "tail -n +$((l0 + 1)) /var/log/xen/xldevd.log | grep 'vbd3 $XVDB' | tail -3")"
        for k in 2 3; do drv "pkill -9 -x tapdisk" >/dev/null; taken_over $k; done
        drv "pkill -9 -x tapdisk" >/dev/null
        wait_key "$B8/state" 6 30
        err=$(xs "$B8/hotplug-error")
        case "$err" in *"tapdisk died 3 times in 60 s"*) r=0;; *) r=1;; esac
        ok $r "vbd3-hostile: its tapdisk killed 4 times in a minute -> that device Closed, hotplug-error says so" \
            "state=$(xs $B8/state) error=$err; devd: $(drv "tail -n +$((l0 + 1)) /var/log/xen/xldevd.log | grep 'vbd3 $XVDB' | tail -4")"
        out=$(guest_rw "$G8" xvdd); r=$?
        [ $r = 0 ] && drv "kill -0 $DP" >/dev/null
        ok $? "vbd3-hostile: tapdisk killed -> devd alive, the vbd disk still works" "$out"
        $XL destroy g8 2>/dev/null
        wait_gone "$(be vbd3 "$G8" $XVDB)" 30
        ok $? "vbd3-hostile: guest destroyed, devd removed its vbd3 backend"
    fi
    XL=$XL_DOM0
fi

# bench (make bench only): fio in one guest against a vbd (kernel blkback),
# a qdisk (QEMU) and a vbd3 (tapdisk) disk, each a 128 MiB raw file in the
# driver domain; then, in a second guest, blkback again and tapdisk three
# ways: as by default (persistent grants), copying every request
# (TAPDISK_GRANTS=copy), writing through io_uring (TAPDISK_WRITES=uring) and
# sleeping in poll (TAPDISK_WAIT=poll); then
# tapdisk with an 8-page ring in a third.  Each test prints "BENCH kind=K
# test=T value=V unit=U base=B" (B: the blkback disk its ratio is taken
# to) and the CPU time per GiB moved of the backend's own threads (blkback's kernel
# threads "<domid>.<vdev>-<queue>", the guest's QEMU, its tapdisk) and of
# the whole driver domain.
# bench_ticks KIND DOMID DEVID: CPU ticks so far of the backend serving it.
bench_ticks() {
    case $1 in
    vbd|vbd-*) drv "cat /proc/[0-9]*/stat 2>/dev/null | awk '\$2 ~ /^\\($2\\.xvd[a-z]+-[0-9]+\\)\$/ { t += \$14 + \$15 } END { print t + 0 }'" ;;
    qdisk) drv "p=\$(pgrep -f '[x]en-domid $2 ' | head -1); awk '{ print \$14 + \$15 }' /proc/\$p/stat" ;;
    vbd3*) drv "p=\$(/opt/xl-devd/sbin/td-ctl -s /var/run/xen/tapdisk/vbd3-$2-$3.sock pid); awk '{ print \$14 + \$15 }' /proc/\$p/stat" ;;
    esac | head -1
}
drv_ticks() { drv "awk '/^cpu / { print \$2 + \$3 + \$4 + \$7 + \$8 }' /proc/stat" | head -1; }
# bench_fio KIND DOMID DEV TEST RW BS DEPTH
bench_fio() {
    local k=$1 g=$2 d=$3 t=$4 rw=$5 bs=$6 qd=$7 b0 c0 b1 c1 out line kib v id
    case $d in xvdb) id=$XVDB;; xvdc) id=$XVDC;; xvdd) id=$XVDD;; *) id=$XVDE;; esac
    b0=$(bench_ticks "$k" "$g" $id) c0=$(drv_ticks)
    out=$(dcmd "$g" "fio --name=b --filename=/dev/$d --rw=$rw --bs=$bs --iodepth=$qd --ioengine=libaio --direct=1 --runtime=$RT --time_based ${FIO_EXTRA:-} --output-format=terse --terse-version=3 2>&1 | tail -3" $((RT + 60)))
    b1=$(bench_ticks "$k" "$g" $id) c1=$(drv_ticks)
    # terse v3: read KiB, KiB/s, IOPS in fields 6-8; write's in 47-49
    line=$(echo "$out" | grep '^3;' | tail -1)
    kib=$(echo "$line" | awk -F';' '{ print $6 + $47 }')
    [ -n "$kib" ] && [ "${kib%.*}" -gt 0 ] 2>/dev/null
    ok $? "bench: $k $t ran" "$out"
    case $bs in
    4k) v=$(echo "$line" | awk -F';' '{ print $8 + $49 }'); echo "BENCH kind=$k test=$t value=${v:-0} unit=IOPS base=${BASE:-vbd}" ;;
    *) v=$(echo "$line" | awk -F';' '{ printf "%.1f", ($7 + $48) / 1024 }'); echo "BENCH kind=$k test=$t value=${v:-0} unit=MiB/s base=${BASE:-vbd}" ;;
    esac
    # ticks are 1/100 s; per GiB moved
    echo "BENCH kind=$k base=${BASE:-vbd} test=$t-cpu value=$(awk -v a="$b0" -v b="$b1" -v k="${kib:-0}" 'BEGIN { printf "%.2f", (k > 0 ? (b - a) / 100 / (k / 1048576) : 0) }') unit=cpu-s/GiB"
    echo "BENCH kind=$k base=${BASE:-vbd} test=$t-drv-cpu value=$(awk -v a="$c0" -v b="$c1" -v k="${kib:-0}" 'BEGIN { printf "%.2f", (k > 0 ? (b - a) / 100 / (k / 1048576) : 0) }') unit=cpu-s/GiB"
}
# bench_all KIND DOMID DEV IMAGE: the six tests, with its image, and only
# it, in the driver domain's page cache: everything dirty written back
# (the write-back of the disk before, its 1 MiB writes, or of a freshly
# made image ran during the next disk's small reads and took their
# driver domain's CPU), the cache dropped, the image read whole.  The
# three images and QEMU do not fit in the driver domain's 384 MiB, and the
# first guest's third disk did a third worse on small reads than with the
# cache dropped: most likely the image read last, not yet used twice, was
# the one evicted, and part of its data came from the disk.
# BENCH_TESTS (make bench) narrows them to the tests it names.
bench_all() {
    drv "sync; echo 3 > /proc/sys/vm/drop_caches; cat $4 > /dev/null" 300 >/dev/null
    set -- "$1" "$2" "$3"
    bench_row "$@" randread-4k-qd1 randread 4k 1
    bench_row "$@" randread-4k-qd32 randread 4k 32
    bench_row "$@" randwrite-4k-qd1 randwrite 4k 1
    bench_row "$@" randwrite-4k-qd32 randwrite 4k 32
    bench_row "$@" seqread-1m read 1M 8
    bench_row "$@" seqwrite-1m write 1M 8
}
# BENCH_ROWS (make bench) narrows them to the disks (kinds) it names.
bench_row() {
    case " ${BENCH_TESTS:-$4} " in *" $4 "*) ;; *) return 0 ;; esac
    case " ${BENCH_ROWS:-$1} " in *" $1 "*) bench_fio "$@" ;; esac
}
# bench_env KIND VAR=VALUE OLD IMAGE PATTERN WHAT: the second guest's
# xvde on a fresh 128 MiB IMAGE (OLD removed, the xvde before it
# detached), served by a tapdisk that a devd restarted with VAR=VALUE
# started, its log saying PATTERN; then its rows, as KIND.
bench_env() {
    local k=$1 env=$2 old=$3 img=$4 pat=$5 what=$6 out bx
    bx=$(be vbd3 "$GM" $XVDE)
    if [ -n "$(xs "$bx/state")" ]; then
        xl_run block-detach gm xvde
        wait_gone "$bx" 60 && wait_gone "/local/domain/$GM/device/vbd/$XVDE" 30
    fi
    drv "echo $env > /run/devd.env; devd-ctl kill9; devd-ctl start" >/dev/null
    drv "rm -f $old; dd if=/dev/zero of=$img bs=1M count=128 2>/dev/null" 300 >/dev/null
    out=$(guest_attach gm "backend=drv,backendtype=tap,vdev=xvde,format=raw,target=$img") &&
        wait_key "$bx/state" 4 60 &&
        drv "grep -q '$pat' /var/log/xen/tapdisk-vbd3-$GM-$XVDE.log"
    ok $? "bench: the second guest's next vbd3 disk $what" "$out $(drv "tail -3 /var/log/xen/tapdisk-vbd3-$GM-$XVDE.log")"
    BASE=vbd-m bench_all "$k" "$GM" xvde "$img"
}
if want bench; then
    scenario bench
    XL=$XL_VBD3     # (its guest has a vbd3 disk)
    drv "for k in vbd qdisk vbd3; do dd if=/dev/zero of=/srv/b-\$k.img bs=1M count=128 2>/dev/null; done; sync" 300 >/dev/null
    # What a system call, a 4 KiB read from the page cache, an io_uring
    # sleep and a process's wakeup cost in the idle driver domain: the
    # steps of tapdisk's request (tests/bench/syscost.c).
    out=$(drv "/usr/local/lib/xl-devd-bench/syscost /srv/b-vbd.img" 300)
    echo "$out" | grep '^BENCH '
    [ "$(echo "$out" | grep -c '^BENCH kind=drv-sys ')" = 4 ]
    ok $? "bench: the driver domain's system call costs" "$out"
    # fio (linked with Ceph's libraries) needs more than the usual 128 MiB
    GUEST_MEM=512 guest_up gb "backend=drv,vdev=xvdb,format=raw,target=/srv/b-vbd.img" \
                "backend=drv,backendtype=qdisk,vdev=xvdc,format=raw,target=/srv/b-qdisk.img" \
                "backend=drv,backendtype=tap,vdev=xvdd,format=raw,target=/srv/b-vbd3.img"
    ok $? "bench: guest up with a vbd, a qdisk and a vbd3 disk" "$(cat /run/gb.create 2>/dev/null)"
    GB=$(domid gb)
    connected vbd "$GB" $XVDB 60 && connected qdisk "$GB" $XVDC 90 &&
        wait_key "$(be vbd3 "$GB" $XVDD)/state" 4 60
    ok $? "bench: all three Connected"
    out=$(xs "$(be vbd3 "$GB" $XVDD)/feature-max-indirect-segments")
    [ "$out" = 256 ]
    ok $? "bench: tapdisk offers indirect requests of 256 segments" "feature-max-indirect-segments=$out"
    # Persistent grants on both: blkback's (Linux, by default) and tapdisk's.
    out="blkback $(xs "$(be vbd "$GB" $XVDB)/feature-persistent") tapdisk $(xs "$(be vbd3 "$GB" $XVDD)/feature-persistent")"
    [ "$out" = "blkback 1 tapdisk 1" ] &&
        drv "grep -q 'grant persistent' /var/log/xen/tapdisk-vbd3-$GB-$XVDD.log"
    ok $? "bench: blkback and tapdisk both hold persistent grants" "feature-persistent: $out"
    RT=${BENCH_SECONDS:-20}
    bench_all vbd "$GB" xvdb /srv/b-vbd.img
    bench_all qdisk "$GB" xvdc /srv/b-qdisk.img
    bench_all vbd3 "$GB" xvdd /srv/b-vbd3.img
    $XL destroy gb 2>/dev/null
    wait_gone "$(be vbd3 "$GB" $XVDD)" 60
    # A second guest with a blkback disk again and a vbd3 disk, as by
    # default (persistent grants); then, for the same guest, tapdisk
    # copying every request (a devd restarted with TAPDISK_GRANTS=copy
    # offers no persistent grants) on a disk of its own.  Their ratios are
    # to this guest's blkback (each figure names its base).  (Mapping each
    # request's grants, TAPDISK_GRANTS=map, was measured on 2026-12-05 and
    # left out: docs/design.md.)
    GUEST_MEM=512 guest_up gm "backend=drv,vdev=xvdb,format=raw,target=/srv/b-vbd.img" \
                "backend=drv,backendtype=tap,vdev=xvdd,format=raw,target=/srv/b-vbd3.img"
    GM=$(domid gm)
    connected vbd "$GM" $XVDB 60 && wait_key "$(be vbd3 "$GM" $XVDD)/state" 4 60 &&
        drv "grep -q 'grant persistent' /var/log/xen/tapdisk-vbd3-$GM-$XVDD.log"
    ok $? "bench: a second guest's vbd3 disk holds persistent grants" "$(drv "tail -3 /var/log/xen/tapdisk-vbd3-$GM-$XVDD.log")"
    BASE=vbd-m bench_all vbd-m "$GM" xvdb /srv/b-vbd.img
    BASE=vbd-m bench_all vbd3p "$GM" xvdd /srv/b-vbd3.img
    bench_env vbd3copy TAPDISK_GRANTS=copy /srv/b-qdisk.img /srv/b-vbd3c.img \
        'guest memory: grant copy$' "served with copied grants"
    # And tapdisk leaving its writes to io_uring's worker thread
    # (TAPDISK_WRITES=uring) rather than making them at once, as by
    # default (ext4 here takes no non-blocking buffered write).
    bench_env vbd3u TAPDISK_WRITES=uring /srv/b-vbd3c.img /srv/b-vbd3u.img \
        'writes: through io_uring' "writes through io_uring"
    # And tapdisk sleeping in poll(2) (TAPDISK_WAIT=poll), which reads
    # and unmasks the event channel with a system call each, rather than in
    # io_uring, as by default.
    bench_env vbd3poll TAPDISK_WAIT=poll /srv/b-vbd3u.img /srv/b-vbd3w.img \
        'waiting in poll' "sleeping in poll"
    # And tapdisk watching its ring before it sleeps (ring polling,
    # TAPDISK_POLL_US, td_spin.h) for 200 us and for 2000 us, while the
    # driver domain is at least half idle (the default): the guest's next
    # request seen without an event.  What polling did is in the tapdisk's
    # disconnect lines, printed below.
    bench_env vbd3spin TAPDISK_POLL_US=200 /srv/b-vbd3w.img /srv/b-vbd3s.img \
        'ring polling: up to 200 us' "polling its ring for 200 us"
    bench_env vbd3spinl TAPDISK_POLL_US=2000 /srv/b-vbd3s.img /srv/b-vbd3l.img \
        'ring polling: up to 2000 us' "polling its ring for 2000 us"
    drv "rm -f /run/devd.env; devd-ctl kill9; devd-ctl start" >/dev/null
    $XL destroy gm 2>/dev/null
    wait_gone "$(be vbd3 "$GM" $XVDD)" 60 && wait_gone "$(be vbd3 "$GM" $XVDE)" 60
    drv "grep -o 'ring polling (.*' /var/log/xen/tapdisk-vbd3-$GM-$XVDE.log" |
        sed 's/^/# bench: tapdisk /'
    # Persistent grants again, with an 8-page ring (256 entries).  The guest has
    # no blkback disk: blkback in a PV driver domain hung on the first I/O
    # of a guest with 8-page rings.  Ratios to the first guest's blkback.
    GUEST_EXTRA=xen_blkfront.max_ring_page_order=3 GUEST_MEM=512 guest_up go "backend=drv,backendtype=tap,vdev=xvdd,format=raw,target=/srv/b-vbd3.img"
    GO=$(domid go)
    wait_key "$(be vbd3 "$GO" $XVDD)/state" 4 60 &&
        [ "$(xs /local/domain/$GO/device/vbd/$XVDD/ring-page-order)" = 3 ]
    ok $? "bench: a third guest's vbd3 disk with an 8-page ring" "$(drv "tail -2 /var/log/xen/tapdisk-vbd3-$GO-$XVDD.log")"
    bench_all vbd3o3 "$GO" xvdd /srv/b-vbd3.img
    $XL destroy go 2>/dev/null
    wait_gone "$(be vbd3 "$GO" $XVDD)" 60
    XL=$XL_DOM0
fi
# bench-vhd: tapdisk serving a dynamic VHD against the same tapdisk serving
# a raw image, in one guest (ratios to the raw disk): a fully allocated
# VHD for every row, and for the writes also fresh VHDs (one per test), so
# that the cost of allocating blocks shows.
if want bench-vhd; then
    scenario bench-vhd
    XL=$XL_VBD3
    RT=${BENCH_SECONDS:-20}
    out=$(drv "rm -f /srv/bv-*; dd if=/dev/zero of=/srv/bv-raw.img bs=1M count=128 2>/dev/null && qemu-img create -q -f vpc -o subformat=dynamic,force_size=on /srv/bv-full.vhd 128M && qemu-io -f vpc -c 'write -P 0 0 128M' /srv/bv-full.vhd >/dev/null && for n in 1 2 3; do qemu-img create -q -f vpc -o subformat=dynamic,force_size=on /srv/bv-new\$n.vhd 128M || exit 1; done; sync" 300); r=$?
    ok $r "bench-vhd: a raw image, a fully allocated VHD and three fresh ones" "$out"
    GUEST_MEM=512 guest_up gv "backend=drv,backendtype=tap,vdev=xvdb,format=raw,target=/srv/bv-raw.img" \
                "backend=drv,backendtype=tap,vdev=xvdc,format=vhd,target=/srv/bv-full.vhd"
    GV=$(domid gv)
    wait_key "$(be vbd3 "$GV" $XVDB)/state" 4 60 && wait_key "$(be vbd3 "$GV" $XVDC)/state" 4 60
    ok $? "bench-vhd: guest up with a raw and a VHD vbd3 disk" "$(cat /run/gv.create 2>/dev/null)"
    BASE=vbd3raw bench_all vbd3raw "$GV" xvdb /srv/bv-raw.img
    BASE=vbd3raw bench_all vbd3vhd "$GV" xvdc /srv/bv-full.vhd
    for t in "randwrite-4k-qd1 randwrite 4k 1 1" "randwrite-4k-qd32 randwrite 4k 32 2" \
             "seqwrite-1m write 1M 8 3"; do
        set -- $t
        bx=$(be vbd3 "$GV" $XVDD)
        out=$(guest_attach gv "backend=drv,backendtype=tap,vdev=xvdd,format=vhd,target=/srv/bv-new$5.vhd") &&
            wait_key "$bx/state" 4 60
        ok $? "bench-vhd: a fresh VHD attached for $1" "$out"
        BASE=vbd3raw bench_row vbd3vhdnew "$GV" xvdd "$1" "$2" "$3" "$4"
        detach gv xvdd vbd3 "$GV" $XVDD
    done
    $XL destroy gv 2>/dev/null
    wait_gone "$(be vbd3 "$GV" $XVDC)" 60
    XL=$XL_DOM0
fi

# bench-mq (make bench with DRV_VCPUS=2 BENCH_SCENARIOS=bench-mq): does
# multi-queue pay on this machine?  Kernel blkback, which has it, serves a
# 2-vCPU guest through one queue (xen_blkfront.max_queues=1), then through
# two, with fio running two jobs (one a vCPU).
if want bench-mq; then
    scenario bench-mq
    RT=${BENCH_SECONDS:-20}
    drv "dd if=/dev/zero of=/srv/b-mq.img bs=1M count=128 2>/dev/null; sync" 300 >/dev/null
    for q in 1 2; do
        GUEST_VCPUS=2 GUEST_MEM=512 GUEST_EXTRA=xen_blkfront.max_queues=$q \
            guest_up gq "backend=drv,vdev=xvdb,format=raw,target=/srv/b-mq.img"
        GQ=$(domid gq)
        connected vbd "$GQ" $XVDB 60
        n=$(xs /local/domain/$GQ/device/vbd/$XVDB/multi-queue-num-queues)
        [ "${n:-1}" = $q ]
        ok $? "bench-mq: a blkback disk with $q queue(s)" "multi-queue-num-queues=${n:-none} backend offers $(xs "$(be vbd "$GQ" $XVDB)/multi-queue-max-queues")"
        drv "cat /srv/b-mq.img > /dev/null" 120 >/dev/null
        FIO_EXTRA="--numjobs=2 --group_reporting" BASE=vbd-q1 bench_fio vbd-q$q "$GQ" xvdb randread-4k-qd32x2 randread 4k 32
        FIO_EXTRA="--numjobs=2 --group_reporting" BASE=vbd-q1 bench_fio vbd-q$q "$GQ" xvdb seqread-1m-x2 read 1M 8
        $XL destroy gq 2>/dev/null
        wait_gone "$(be vbd "$GQ" $XVDB)" 60
    done
fi

# bench-devd (make bench only): ours against Debian's stock devd.
want bench-devd && scenario bench-devd && . /etc/xen/bed/bench-devd.sh

# 4. restart: kill -9 with vbd, vif and qdisk connected
if want restart; then
    scenario restart
    drv "truncate -s 64M /srv/r1.img /srv/r2.img" >/dev/null
    guest_up g3 "backend=drv,vdev=xvdb,format=raw,target=/srv/r1.img" \
                "backend=drv,backendtype=qdisk,vdev=xvdc,format=raw,target=/srv/r2.img" \
                -- "backend=drv,bridge=xenbr0"
    G3=$(domid g3)
    connected vbd "$G3" $XVDB 60 && connected vif "$G3" 0 60 && connected qdisk "$G3" $XVDC 90
    ok $? "restart: vbd, vif and qdisk Connected"
    guest_rw "$G3" xvdb >/dev/null; guest_rw "$G3" xvdc >/dev/null
    dcmd "$G3" "ip addr add 10.99.0.13/24 dev eth0 && ip link set eth0 up" >/dev/null
    qpid=$(drv "pgrep -f '[x]en-domid $G3 '" | head -1)
    drv "devd-ctl kill9; devd-ctl start" >/dev/null
    out=$(guest_rw "$G3" xvdb); r=$?
    ok $r "restart: vbd I/O continues after kill -9 and restart" "$out"
    out=$(guest_rw "$G3" xvdc); r=$?
    ok $r "restart: qdisk I/O continues" "$out"
    out=$(dcmd "$G3" "busybox ping -c 2 -W 3 10.99.0.1" 30); r=$?
    ok $r "restart: network continues" "$out"
    detach g3 xvdb vbd "$G3" $XVDB
    ok $? "restart: vbd detach completes"
    n=$(loops_left r1.img)
    [ "$n" = 0 ]
    ok $? "restart: hotplug remove released the loop device" "loop devices: $n"
    detach g3 0 vif "$G3" 0
    ok $? "restart: vif detach completes"
    out=$(drv "ls /sys/class/net/xenbr0/brif")
    case " $(echo $out) " in *" vif$G3.0 "*) r=1;; *) r=0;; esac
    ok $r "restart: hotplug remove took vif$G3.0 off the bridge" "$out"
    detach g3 xvdc qdisk "$G3" $XVDC
    ok $? "restart: qdisk detach completes"
    for i in $(seq 20); do n=$(qemus_for "$G3"); [ "$n" = 0 ] && break; sleep 0.5; done
    [ "$n" = 0 ]
    ok $? "restart: the guest's QEMU was stopped" "QEMUs: $n (was pid $qpid)"
    # libxl rotates qdisk-<domid>.log at every spawn: a .1 means a second QEMU.
    out=$(drv "ls /var/log/xen/qdisk-$G3.log*")
    case "$out" in *".log.1"*) r=1;; *) r=0;; esac
    ok $r "restart: no second QEMU was ever spawned" "$out"
    $XL destroy g3 2>/dev/null
fi

# 5. shutdown: SIGTERM leaves backends up; a new devd takes over
if want shutdown; then
    scenario shutdown
    drv "truncate -s 64M /srv/s1.img" >/dev/null
    shared_guest && guest_attach g1 "backend=drv,vdev=xvdb,format=raw,target=/srv/s1.img"
    connected vbd "$G1" $XVDB 60
    ok $? "shutdown: vbd Connected"
    out=$(drv "devd-ctl term")
    case "$out" in *"rc=0 "*) r=0;; *) r=1;; esac
    ok $r "shutdown: SIGTERM makes devd exit 0 ($out)" "$out"
    secs=$(echo "$out" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
    awk -v s="${secs:-99}" 'BEGIN{exit !(s < 10)}'
    ok $? "shutdown: devd exited promptly (${secs}s; 2s expected outside TCG)"
    out=$(drv "ls /var/run/xen/xldevd.pid 2>&1")
    case "$out" in *"No such file"*) r=0;; *) r=1;; esac
    ok $r "shutdown: pidfile removed" "$out"
    [ "$(xs "$(be vbd "$G1" $XVDB)/state")" = 4 ]
    ok $? "shutdown: backend left Connected"
    out=$(guest_rw "$G1" xvdb); r=$?
    ok $r "shutdown: guest I/O continues without devd" "$out"
    # Daemon mode: the command returns once the pidfile names the daemon,
    # which holds it locked against a second devd.
    out=$(drv 'xl=$(devd-ctl xl); $xl devd; rc=$?; p=$(cat /var/run/xen/xldevd.pid 2>/dev/null); echo "rc=$rc pid=$p alive=$(kill -0 "$p" 2>/dev/null && echo yes)"')
    case "$out" in *"rc=0 pid="[0-9]*" alive=yes"*) r=0;; *) r=1;; esac
    ok $r "shutdown: daemon mode returns 0 after writing the pidfile" "$out"
    out=$(drv 'xl=$(devd-ctl xl); $xl devd 2>&1; echo "rc=${PIPESTATUS[0]}"')
    case "$out" in *"already running (pid "*"rc=1"*) r=0;; *) r=1;; esac
    ok $r "shutdown: a second devd exits 1: already running" "$out"
    out=$(drv 'p=$(cat /var/run/xen/xldevd.pid); kill -TERM "$p"; for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -0 "$p" 2>/dev/null && echo still-running; ls /var/run/xen/xldevd.pid 2>&1; tail -n 3 /var/log/xen/xldevd.log')
    case "$out" in *still-running*) r=1;; *"No such file"*) r=0;; *) r=1;; esac
    ok $r "shutdown: the daemon stops on SIGTERM and removes its pidfile" "$out"
    # A devd without a lock (stock) may have left a second one running.
    drv "pkill -TERM -f '[x]l.* devd'; sleep 1" >/dev/null
    drv "devd-ctl start" >/dev/null
    detach g1 xvdb vbd "$G1" $XVDB
    ok $? "shutdown: after a restart, detach works"
    n=$(loops_left s1.img)
    [ "$n" = 0 ]
    ok $? "shutdown: loop device released" "loop devices: $n"
fi

# 6. churn: attach/detach cycles; devd's memory stays flat
if want churn; then
    scenario churn
    drv "truncate -s 16M /srv/c.img" >/dev/null
    shared_guest
    bad=0; rss1=""; why=""; done_c=0
    t0=$(now)
    for c in $(seq "$CHURN_CYCLES"); do
        # dom0's xl is kept (verbose) for the diagnostics of a failure.
        xl_attach block-attach g1 "backend=drv,vdev=xvdd,format=raw,target=/srv/c.img"; r=$?
        if [ $r != 0 ] || ! connected vbd "$G1" $XVDD 60; then
            bad=$((bad + 1))
            why="cycle $c: attach: xl rc=$r, state=$(xs "$(be vbd "$G1" $XVDD)/state") hotplug-status=$(xs "$(be vbd "$G1" $XVDD)/hotplug-status"); xl said: $XL_OUT"
        fi
        out=$(timeout 120 $XL -vvv block-detach g1 xvdd 2>&1); r=$?
        if ! wait_gone "$(be vbd "$G1" $XVDD)" 30 || ! wait_gone "/local/domain/$G1/device/vbd/$XVDD" 30; then
            bad=$((bad + 1))
            why="$why${why:+; }cycle $c: detach: xl rc=$r, backend state=$(xs "$(be vbd "$G1" $XVDD)/state"), frontend $(xenstore-exists /local/domain/$G1/device/vbd/$XVDD 2>/dev/null && echo left || echo gone); xl said: $(echo "$out" | tail -12)"
        elif [ $r != 0 ]; then
            # dom0's own 10 s waits (for Closed, which the guest's frontend
            # decides, then for the directory to go): a figure, not devd's.
            say "churn cycle $c: xl block-detach $(detach_figure $r "$out"), backend and frontend gone: $(echo "$out" | grep -iE 'error|timed out|unable' | tail -3 | tr '\n' ' ')"
        fi
        [ "$bad" = 0 ] || { say "churn: $why"; break; }  # do not wait out the rest
        done_c=$c
        [ "$c" = 1 ] && rss1=$(drv "devd-ctl rss" | head -1)
        [ $((c % 10)) = 0 ] && say "churn: $c cycles after $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.0f", b - a}') s"
    done
    rssN=$(drv "devd-ctl rss" | head -1)
    [ "$bad" = 0 ]
    ok $? "churn: $CHURN_CYCLES attach/detach cycles all completed" "$done_c of $CHURN_CYCLES cycles completed; $why"
    if [ "$bad" != 0 ]; then
        # What the failed cycle left goes, so that the checks after this
        # one, and the next scenario, start clean.
        shared_guest
    fi
    say "churn: devd RSS ${rss1} KiB after cycle 1, ${rssN} KiB after cycle $done_c"
    # Under ASan freed memory waits in its quarantine (256 MiB): RSS then
    # says nothing about devd; the sanitizers check the memory instead.
    SAN=; [ -f /opt/xl-devd/sanitized ] && SAN="ASan build: RSS is its quarantine"
    if [ -n "$SAN" ]; then skip "churn: devd RSS grew by at most 1 MiB" "$SAN"; else
    [ -n "$rss1" ] && [ -n "$rssN" ] && [ $((rssN - rss1)) -le 1024 ]
    ok $? "churn: devd RSS grew by at most 1 MiB (${rss1} KiB after cycle 1 -> ${rssN} KiB after cycle $done_c)"
    fi
    # An event storm on a connected device: 4000 watch events (writes of
    # its state and online nodes), each handled and freed.  Paced, so that
    # no event queue on the way drops any.
    xl_run block-attach g1 "backend=drv,vdev=xvdd,format=raw,target=/srv/c.img"
    connected vbd "$G1" $XVDD 60
    p=$(be vbd "$G1" $XVDD)
    rssA=$(drv "devd-ctl rss" | head -1)
    args=""; for i in $(seq 50); do args="$args $p/online 1 $p/state 4"; done
    for round in $(seq 40); do xenstore-write $args; sleep 0.5; done
    sleep 3
    rssB=$(drv "devd-ctl rss" | head -1)
    say "churn: devd RSS ${rssA} KiB before and ${rssB} KiB after 4000 events"
    if [ -n "$SAN" ]; then skip "churn: 4000 events leave RSS flat" "$SAN"; else
    [ -n "$rssA" ] && [ -n "$rssB" ] && [ $((rssB - rssA)) -le 256 ]
    ok $? "churn: 4000 events on a tracked device leave RSS flat (${rssA} -> ${rssB} KiB)"
    fi
    # (Through detach(): the guest's libxl/ node goes when the removal
    # ends, which may be after its backend directory on a loaded host.)
    detach g1 xvdd vbd "$G1" $XVDD
    ok $? "churn: device still detaches after the storm"
    left=$(xenstore-ls -f "$DRVBE" 2>/dev/null | grep -c "/$G1/"; xenstore-list /local/domain/$DRV/libxl 2>/dev/null | grep -cx "$G1")
    [ "$(echo $left)" = "0 0" ]
    ok $? "churn: no leftover backend or libxl nodes for the guest" "$left"
fi

# 7. many: 4 guests, each 2 disks and 1 vif, attached at once
if want many; then
    scenario many
    for i in 1 2 3 4; do drv "truncate -s 16M /srv/m$i-a.img /srv/m$i-b.img" >/dev/null; done
    # The guests one after another (four xl creates at once run four
    # block scripts for their root disks in dom0, which lost libxl's 40 s
    # here), then their twelve devices at once.
    for i in 1 2 3 4; do
        guest_up m$i > /run/m$i.up 2>&1 || say "many: m$i did not start: $(head -5 /run/m$i.up)"
    done
    for i in 1 2 3 4; do
        guest_attach m$i "backend=drv,vdev=xvdb,format=raw,target=/srv/m$i-a.img" \
                         "backend=drv,vdev=xvdc,format=raw,target=/srv/m$i-b.img" \
                         -- "backend=drv,bridge=xenbr0" > /run/m$i.att 2>&1 &
    done
    wait
    # Twelve adds queue for the driver domain's script slots (one per CPU)
    # and run one after another: allow each 60 s on this host, in all.
    t0=$(now); paths=""
    for i in 1 2 3 4; do
        g=$(domid m$i) && paths="$paths $(be vbd "$g" $XVDB) $(be vbd "$g" $XVDC) $(be vif "$g" 0)"
    done
    # (one xenstore-read of all 24 keys every 2 s: forks are dear here)
    # (the devices of the guests that started: none to wait for of one
    # that did not, which is a failure below)
    keys=""; nk=0; for p in $paths; do keys="$keys $p/state $p/hotplug-status"; nk=$((nk + 2)); done
    while :; do
        n=0; for v in $(xenstore-read $keys 2>/dev/null); do case $v in 4|connected) n=$((n + 1));; esac; done
        [ "$n" = "$nk" ] && break
        awk -v a="$t0" -v b="$(now)" 'BEGIN{exit !(b - a > 720)}' && break
        sleep 2
    done
    bad=$(( 12 - $(echo $paths | wc -w) ))
    for p in $paths; do
        [ "$(xs "$p/state")" = 4 ] && [ "$(xs "$p/hotplug-status")" = connected ] || bad=$((bad + 1))
    done
    say "many: $((12 - bad)) of 12 devices Connected after $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.0f", b - a}') s"
    [ "$bad" = 0 ] || for i in 1 2 3 4; do say "many: m$i: $(head -3 /run/m$i.up /run/m$i.att 2>/dev/null | tr '\n' ' ')"; done
    [ "$bad" = 0 ]
    ok $? "many: 4 guests x (2 vbd + 1 vif) all Connected" "$bad devices incomplete"
    # One guest at a time: the toolstack waits only 10 s for a driver
    # domain's removals, and each hotplug script takes seconds under TCG.
    left="" doms="" ndev=0
    drv "wc -l < /var/log/xen/xldevd.log > /run/many.l0" >/dev/null
    for i in 1 2 3 4; do
        g=$(domid m$i) || continue
        doms="$doms${doms:+|}$g" ndev=$((ndev + 3))
        xl_run destroy m$i
        wait_gone "$(be vbd "$g" $XVDB)" 30 && wait_gone "$(be vbd "$g" $XVDC)" 30 &&
            wait_gone "$(be vif "$g" 0)" 30 || left="$left m$i"
    done
    [ -z "$left" ]
    ok $? "many: every backend removed after the guests are destroyed" "left: $left"
    # The backend directories go before the remove scripts end (dom0 waits
    # only 10 s): wait for devd's word that every removal ended (a script
    # killed on a busy driver domain runs again), then none may hold its
    # loop device.  Debian's devd says nothing of the kind: a bounded wait.
    if [ "$DEVD" = stock ]; then
        e="(not counted: Debian's devd)"; n=$(loops_left /srv/m)
    else
        e=$(devd_lines /run/many.l0 "Domain ($doms):(vbd|vif) [0-9]+: timing: detach" $ndev 400)
        n=$(drv "losetup -a | grep -c /srv/m" | head -1)
    fi
    [ "$n" = 0 ]
    ok $? "many: every loop device released" "loop devices: $n; removals devd said ended: $e of $ndev
$(drv "losetup -a; tail -n +\$((\$(cat /run/many.l0) + 1)) /var/log/xen/xldevd.log | grep -E 'Domain ($doms):' | grep -v DEBUG | tail -40")"
fi

# slow_vif: the same for a vif (tests/xen/init/slow-vif): its first online
# is killed after it put the vif on the bridge; devd runs offline before it
# tries again.  Then an offline hangs: dom0's detach does not wait for it,
# and the next devd finishes the removal from its copy of the keys.
slow_vif() {
    local V=/local/domain/$G1/device/vif/0 H=/var/log/xen/xen-hotplug.log
    drv "rm -f /run/xt-slow-vif.once; wc -l < /var/log/xen/xldevd.log > /run/slow.l0; wc -l < $H > /run/slow.h0" >/dev/null
    out=$($XL network-attach g1 backend=drv bridge=xenbr0 script=/etc/xen/scripts/xt-slow-vif 2>&1)
    ok $? "killed-scripts: network-attach with the slow vif script returns" "$out"
    connected vif "$G1" 0 150
    ok $? "killed-scripts: after the killed first online, the vif is Connected with hotplug-status connected" \
        "state=$(xs "$(be vif "$G1" 0)/state") hs=$(xs "$(be vif "$G1" 0)/hotplug-status")"
    slow_lines vif 0
    hl=$(drv "tail -n +\$((\$(cat /run/slow.h0) + 1)) $H | grep 'xt-slow-vif: .* vif$G1.0'")
    say "killed-scripts: the vif script's lines:"; echo "$hl" | sed 's/^/#   /'
    n1=$(echo "$log" | grep -c 'hotplug add attempt 1 of 3 failed')
    n2=$(echo "$log" | grep -c 'bringing the backend up, attempt 2 of 3')
    n3=$(echo "$hl" | grep -c 'offline of')
    n4=$(echo "$hl" | grep -c 'online of .*: off the bridge')
    [ "$n1" = 1 ] && [ "$n2" = 1 ] && [ "$n3" = 1 ] && [ "$n4" = 1 ]
    ok $? "killed-scripts: vif: one log line per attempt; offline ran, so the retry found it off the bridge" \
        "failed=$n1 attempt2=$n2 offline=$n3 off-bridge=$n4"
    out=$(dcmd "$G1" "for i in \$(seq 50); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.2; done; ip addr add 10.99.0.40/24 dev eth0 && ip link set eth0 up && busybox ping -c 3 -W 3 10.99.0.1" 90); r=$?
    ok $r "killed-scripts: the guest pings the driver domain over the retried vif" "$out"
    drv "touch /run/xt-slow-vif.hang-offline" >/dev/null
    t0=$(now)
    out=$($XL -vvv network-detach g1 0 2>&1); r=$?
    fig=$(detach_figure $r "$out"); f=$?
    wait_gone "$(be vif "$G1" 0)" 30 && [ $f = 0 ]
    ok $? "killed-scripts: the vif's backend is gone while its offline hangs, dom0's detach not failed by devd ($(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.0f", b - a}') s; xl: $fig)" \
        "xl said: $(echo "$out" | grep -vE 'debug: (libxl_event|libxl_aoutils).c' | tail -15)"
    copy=/local/domain/$DRV/libxl/devd-remove/vif-$G1-0
    for i in $(seq 50); do drv "pgrep -f '[x]t-slow-vif-hang'" >/dev/null && break; sleep 0.2; done
    drv "devd-ctl kill9; pkill -9 -f '[x]t-slow-vif-hang'; rm -f /run/xt-slow-vif.hang-offline" >/dev/null
    [ "$(xs "$copy/script")" = /etc/xen/scripts/xt-slow-vif ] && [ "$(xs "$copy/bridge")" = xenbr0 ]
    ok $? "killed-scripts: devd and its vif offline killed: the copy of the vif's keys remains" "copy script=$(xs "$copy/script") bridge=$(xs "$copy/bridge")"
    drv "devd-ctl start" >/dev/null
    wait_gone "$copy" 30
    ok $? "killed-scripts: the restarted devd finished the vif's removal: its copy is gone"
    out=$(drv "grep -c 'Domain $G1:vif-removal 0: finishing a removal that a previous devd left' /var/log/xen/xldevd.log; tail -n +\$((\$(cat /run/slow.h0) + 1)) $H | grep -c 'offline of vif$G1.0 .*devd-remove/vif-$G1-0'; ls /sys/class/net/xenbr0/brif" | tr '\n' ' ')
    set -- $out
    [ "${1:-}" = 1 ] && [ "${2:-}" = 2 ] && case " $out " in *" vif$G1.0 "*) false;; esac
    ok $? "killed-scripts: one line says so; the offline ran from the copy twice (cut short, then finished); vif$G1.0 off the bridge" "lines, offline runs from the copy, bridge ports: $out"
    wait_gone "$V" 30 || shared_guest     # a frontend dom0 left: gone before rebind
}

# slow_lines KIND DEVID: devd's lines about that device since the mark in
# /run/slow.l0, into $log and shown in the TAP.
slow_lines() {
    log=$(drv "tail -n +\$((\$(cat /run/slow.l0) + 1)) /var/log/xen/xldevd.log | grep '$1 $2:' | grep -v DEBUG")
    say "devd's lines about $1 $2:"; echo "$log" | sed 's/^/#   /'
}

# 7b. slow-hotplug: what races the toolstack's fixed waits, on every
# version (libxl's 40 s for a script, in the flavour devd is built on;
# dom0's wait for a backend to go).  The first block add hangs past 40 s
# after binding a loop device (tests/xen/init/slow-block); devd releases
# it and adds again.  Then its remove hangs: dom0's detach does not wait,
# and the next devd finishes the removal.  The guest is up before its
# disk is attached: nothing races its boot.
if want slow-hotplug; then
    scenario slow-hotplug
    if [ "$DEVD" = stock ]; then
        skip "slow-hotplug: a killed block add is retried" "Debian's xl devd never retries"
    else
        drv "truncate -s 16M /srv/slow.img; rm -f /run/xt-slow-block.once; wc -l < /var/log/xen/xldevd.log > /run/slow.l0" >/dev/null
        shared_guest
        out=$($XL block-attach g1 "backend=drv,vdev=xvdb,format=raw,script=/etc/xen/scripts/xt-slow-block,target=/srv/slow.img" 2>&1)
        ok $? "slow-hotplug: block-attach with the slow script returns" "$out"
        connected vbd "$G1" $XVDB 150
        ok $? "slow-hotplug: after the killed first add, the backend is Connected with hotplug-status connected" \
            "state=$(xs "$(be vbd "$G1" $XVDB)/state") hs=$(xs "$(be vbd "$G1" $XVDB)/hotplug-status")"
        slow_lines vbd $XVDB
        n1=$(echo "$log" | grep -c 'hotplug add attempt 1 of 3 failed')
        n2=$(echo "$log" | grep -c 'bringing the backend up, attempt 2 of 3')
        nl=$(echo "$log" | grep -c 'the killed add left /dev/loop[0-9]* bound to /srv/slow.img: releasing it')
        [ "$n1" = 1 ] && [ "$n2" = 1 ] && [ "$nl" = 1 ]
        ok $? "slow-hotplug: one log line per attempt, and the leftover loop device named" "failed=$n1 attempt2=$n2 loop=$nl"
        n=$(drv "losetup -j /srv/slow.img | wc -l" | head -1)
        [ "$n" = 1 ]
        ok $? "slow-hotplug: one loop device on the image while attached (the killed add's was released)" "loop devices: $n"
        out=$(guest_rw "$G1" xvdb); r=$?
        ok $r "slow-hotplug: guest I/O on the retried disk" "$out"
        # The remove hangs now: dom0's detach must not wait for it (the
        # backend directory goes after 5 s), and when devd and the script
        # both die, the next devd finishes the removal from its copy.
        drv "touch /run/xt-slow-block.hang-remove" >/dev/null
        t0=$(now)
        out=$($XL -vvv block-detach g1 xvdb 2>&1); r=$?
        fig=$(detach_figure $r "$out"); f=$?
        wait_gone "$(be vbd "$G1" $XVDB)" 30 && [ $f = 0 ]
        ok $? "slow-hotplug: the backend is gone while its remove script hangs, dom0's detach not failed by devd ($(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.0f", b - a}') s; xl: $fig)" \
            "xl said: $(echo "$out" | grep -vE 'debug: (libxl_event|libxl_aoutils).c' | tail -15)"
        copy=/local/domain/$DRV/libxl/devd-remove/vbd-$G1-$XVDB
        for i in $(seq 50); do drv "pgrep -f '[x]t-slow-block-hang'" >/dev/null && break; sleep 0.2; done
        drv "devd-ctl kill9; pkill -9 -f '[x]t-slow-block-hang'; rm -f /run/xt-slow-block.hang-remove" >/dev/null
        n=$(drv "losetup -j /srv/slow.img | wc -l" | head -1)
        [ "$(xs "$copy/params")" = /srv/slow.img ] && [ "$n" = 1 ]
        ok $? "slow-hotplug: devd and its remove script killed: the copy of the keys and the loop device remain" "copy params=$(xs "$copy/params") loop devices: $n"
        drv "devd-ctl start" >/dev/null
        for i in $(seq 40); do n=$(drv "losetup -j /srv/slow.img | wc -l" | head -1); [ "$n" = 0 ] && break; sleep 0.5; done
        [ "$n" = 0 ]
        ok $? "slow-hotplug: the restarted devd finished the removal: no loop device left" "loop devices: $n"
        wait_gone "$copy" 20
        ok $? "slow-hotplug: the removal's private copy is gone"
        out=$(drv "grep -c 'vbd-removal $XVDB: finishing a removal that a previous devd left' /var/log/xen/xldevd.log" | head -1)
        [ "$out" = 1 ]
        ok $? "slow-hotplug: one log line says so" "lines: $out"
    fi
fi

# 7b'. killed-scripts: how devd recovers from a script killed midway, its
# own code in every flavour (run once by default: on 4.17).  An add
# killed after its work is kept; a remove killed past 40 s runs again
# from its copy; a copy whose loop device moved on is not run; a vif
# script killed after it bridged the vif, and an offline that hangs.
if want killed-scripts; then
    scenario killed-scripts
    if [ "$DEVD" = stock ]; then
        skip "killed-scripts: a killed script is undone or run again" "Debian's xl devd never retries"
    else
        shared_guest
        # An add killed after it wrote physical-device had done its work:
        # kept as it is (hotplug-status written for it), neither undone
        # nor tried again.
        # (xt-slow-block.once: no add of this scenario's hangs first.)
        drv "truncate -s 16M /srv/slow.img /srv/slow2.img; touch /run/xt-slow-block.once /run/xt-slow-block.hang-after; wc -l < /var/log/xen/xldevd.log > /run/slow.l0" >/dev/null
        out=$($XL block-attach g1 "backend=drv,vdev=xvdc,format=raw,script=/etc/xen/scripts/xt-slow-block,target=/srv/slow2.img" 2>&1)
        ok $? "killed-scripts: block-attach of a disk whose add hangs after its work returns" "$out"
        # (The real script writes hotplug-status before the wrapper takes
        # it away again: wait for devd's word, not for that key.)
        out=$(devd_lines /run/slow.l0 "vbd $XVDC: hotplug add failed" 1 150)
        connected vbd "$G1" $XVDC 30
        ok $? "killed-scripts: the add killed after its work: Connected, hotplug-status connected" \
            "state=$(xs "$(be vbd "$G1" $XVDC)/state") hs=$(xs "$(be vbd "$G1" $XVDC)/hotplug-status") devd's 'add failed' lines: $out"
        slow_lines vbd $XVDC
        n1=$(echo "$log" | grep -c 'after it wrote physical-device: its work is done, the backend is kept')
        n2=$(echo "$log" | grep -c 'attempt 2 of 3\|releasing\|failed after')
        n=$(drv "losetup -j /srv/slow2.img | wc -l" | head -1)
        [ "$n1" = 1 ] && [ "$n2" = 0 ] && [ "$n" = 1 ]
        ok $? "killed-scripts: one line says it is kept; not undone, not retried; one loop device" "kept=$n1 undone/retried=$n2 loop devices: $n"
        out=$(guest_rw "$G1" xvdc); r=$?
        ok $r "killed-scripts: guest I/O on the kept disk" "$out"
        # Its remove hangs once, past libxl's 40 s (as on a driver domain
        # busy with many removals): devd kills it and runs it again from its
        # copy of the keys, and that releases the loop device.
        drv "touch /run/xt-slow-block.hang-remove-once; wc -l < /var/log/xen/xldevd.log > /run/slow.l0" >/dev/null
        detach g1 xvdc vbd "$G1" $XVDC
        ok $? "killed-scripts: the kept disk detaches while its remove hangs"
        e=$(devd_lines /run/slow.l0 "vbd $XVDC: timing: detach" 1 150)
        slow_lines vbd $XVDC
        nk=$(echo "$log" | grep -c 'hotplug remove attempt 1 of 3 killed after 40 s: running it again from its copy in 2 s')
        nr=$(echo "$log" | grep -c 'backend removed')
        n=$(drv "losetup -j /srv/slow2.img | wc -l" | head -1)
        copy=/local/domain/$DRV/libxl/devd-remove/vbd-$G1-$XVDC
        [ "$e" = 1 ] && [ "$nk" = 1 ] && [ "$nr" = 1 ] && [ "$n" = 0 ] && ! xenstore-exists "$copy" 2>/dev/null
        ok $? "killed-scripts: its remove, killed after 40 s, ran again from the copy: loop device released, copy gone" \
            "removal ended: $e, lines killed-and-again: $nk, removed: $nr, loop devices: $n, copy: $(xenstore-ls "$copy" 2>&1 | head -3 | tr '\n' ' ')"
        # A copy whose loop device serves another image by now (the remove
        # that was cut short had released it, another add took it): the
        # next devd must not run that remove, which would release it.
        copy=/local/domain/$DRV/libxl/devd-remove/vbd-$G1-$XVDB
        xl_run block-attach g1 "backend=drv,vdev=xvdb,format=raw,script=/etc/xen/scripts/xt-slow-block,target=/srv/slow.img"
        connected vbd "$G1" $XVDB 60
        drv "touch /run/xt-slow-block.hang-remove" >/dev/null
        xl_run block-detach g1 xvdb
        wait_gone "$(be vbd "$G1" $XVDB)" 30
        for i in $(seq 50); do drv "pgrep -f '[x]t-slow-block-hang'" >/dev/null && break; sleep 0.2; done
        drv "devd-ctl kill9; pkill -9 -f '[x]t-slow-block-hang'; rm -f /run/xt-slow-block.hang-remove" >/dev/null
        loop=$(xs "$copy/node")
        case $loop in /dev/loop[0-9]*) ;; *) loop=/dev/loop-none ;; esac
        out=$(drv "losetup -d $loop && truncate -s 16M /srv/reuse.img && losetup $loop /srv/reuse.img && wc -l < /var/log/xen/xldevd.log > /run/slow.l0 && devd-ctl start" 2>&1); r=$?
        wait_gone "$copy" 30 && [ $r = 0 ]; r=$?
        back=$(drv "cat /sys/block/${loop#/dev/}/loop/backing_file" | head -1)
        slow_lines vbd-removal $XVDB
        nl=$(echo "$log" | grep -c "its hotplug remove does not run: $loop is bound to /srv/reuse.img now")
        [ $r = 0 ] && [ "$back" = /srv/reuse.img ] && [ "$nl" = 1 ]
        ok $? "killed-scripts: a copy whose loop device serves another image now: its remove does not run, the copy goes, the image keeps $loop" \
            "setup: $out (rc $r); $loop bound to: $back; lines: $nl"
        drv "losetup -d $loop" >/dev/null
        slow_vif
    fi
fi

# 7c. rebind: netback unbound and bound again in the driver domain brings
# the backend back to InitWait with a new vif; devd runs vif-bridge again.
if want rebind; then
    scenario rebind
    shared_guest && guest_attach g1 -- "backend=drv,bridge=xenbr0"
    connected vif "$G1" 0 60
    ok $? "rebind: vif Connected"
    drv "echo vif-$G1-0 > /sys/bus/xen-backend/drivers/vif/unbind" >/dev/null
    out=$(drv "ls /sys/class/net/xenbr0/brif")
    case " $(echo $out) " in *" vif$G1.0 "*) r=1;; *) r=0;; esac
    ok $r "rebind: unbinding netback took vif$G1.0 away" "$out"
    drv "echo vif-$G1-0 > /sys/bus/xen-backend/drivers/vif/bind" >/dev/null
    connected vif "$G1" 0 60
    ok $? "rebind: after the rebind, hotplug-status connected again" \
        "state=$(xs "$(be vif "$G1" 0)/state") hs=$(xs "$(be vif "$G1" 0)/hotplug-status")"
    out=$(drv "for i in \$(seq 50); do [ -e /sys/class/net/xenbr0/brif/vif$G1.0 ] && break; sleep 0.2; done; ls /sys/class/net/xenbr0/brif")
    case " $(echo $out) " in *" vif$G1.0 "*) r=0;; *) r=1;; esac
    ok $r "rebind: vif$G1.0 is on the bridge again" "$out"
    out=$(drv "grep 'vif 0: backend back in InitWait' /var/log/xen/xldevd.log | grep -c 'Domain $G1:'" | head -1)
    [ "${out:-0}" -ge 1 ]
    ok $? "rebind: devd logged the re-add" "lines: $out"
    # The guest's netfront starts over too, and traffic flows.
    out=$(dcmd "$G1" "echo vif-0 > /sys/bus/xen/drivers/vif/unbind; echo vif-0 > /sys/bus/xen/drivers/vif/bind; for i in \$(seq 50); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.2; done; ip addr add 10.99.0.30/24 dev eth0 && ip link set eth0 up && busybox ping -c 3 -W 3 10.99.0.1" 90); r=$?
    ok $r "rebind: the guest pings the driver domain over the rebound vif" "$out"
    detach g1 0 vif "$G1" 0
    ok $? "rebind: detach removes the backend"
fi

# 8. api: the asynchronous libxl API caller serves a device, then aborts
if want api; then
    scenario api
    if [ "$DEVD" = stock ]; then
        skip "api: async handler caller" "Debian's libxl handler cannot be aborted"
    else
        drv "truncate -s 16M /srv/a.img" >/dev/null
        drv "devd-ctl term" >/dev/null
        drv "rm -f /run/api.stop; (/opt/xl-devd/libexec/xl-devd/devd-api-example -t 600 -s /run/api.stop > /run/api.out 2>&1; echo \$? > /run/api.rc) >/dev/null 2>&1 &" >/dev/null
        sleep 2
        shared_guest && guest_attach g1 "backend=drv,vdev=xvdb,format=raw,target=/srv/a.img"
        connected vbd "$G1" $XVDB 60
        ok $? "api: the async caller brought a vbd to Connected"
        out=$(guest_rw "$G1" xvdb); r=$?
        ok $r "api: guest I/O on that vbd" "$out"
        out=$(drv "touch /run/api.stop; for i in \$(seq 100); do [ -f /run/api.rc ] && break; sleep 0.1; done; cat /run/api.rc; grep '^api:' /run/api.out")
        case "$out" in 0*"api: completed rc=-"*) r=0;; *) r=1;; esac
        ok $r "api: libxl_ao_abort completes the handler with ERROR_ABORTED" "$out"
        drv "devd-ctl start" >/dev/null
        $XL destroy g1 2>/dev/null     # the shared guest's last scenario
        wait_gone "$(be vbd "$G1" $XVDB)" 30
        ok $? "api: after the abort, a new devd removes the vbd of the destroyed guest"
    fi
fi

# make check-xen-asan: libxl, xl and tapdisk built with ASan + UBSan.
if [ -f /opt/xl-devd/sanitized ]; then
    n=$(drv 'grep -c libasan /proc/$(cat /run/devd.pid)/maps' | head -1)
    [ "${n:-0}" -gt 0 ]
    ok $? "sanitizers: the driver domain's devd runs with ASan" "libasan mappings: $n"
    out=$(drv "cat /var/log/xen/asan.* /var/log/xen/ubsan.* 2>/dev/null | head -30"; cat /var/log/xen/asan.* /var/log/xen/ubsan.* 2>/dev/null | head -30)
    [ -z "$(echo $out)" ]
    ok $? "sanitizers: no ASan or UBSan report in the driver domain or dom0" "$out"
fi

# 9. package: the driver domain got our devd from its Debian package (the
# image build ran apt-get install on make deb's .deb).  Its files are where
# systemd, man and logrotate read them; then it is purged, last, and
# leaves nothing behind.  (Its log goes with the purge: kept for the
# artifacts under another name and put back.)
if want package && [ "$DEVD" = ours ]; then
    scenario package
    out=$(drv "dpkg-query -W -f='\${Status} \${Version}' xl-devd; echo; systemctl --root=/ is-enabled xl-devd.service 2>&1; man -w xl-devd 2>&1; logrotate -d /etc/logrotate.d/xl-devd 2>&1 | grep -c 'considering log /var/log/xen/xldevd.log'; xl-devd --help 2>&1 | grep -c 'devd \[options\]'")
    case "$(echo $out)" in
        "install ok installed "*" enabled /usr/share/man/man1/xl-devd.1.gz 1 1") r=0 ;;
        *) r=1 ;;
    esac
    ok $r "package: xl-devd installed from its .deb: unit enabled for systemd, man xl-devd, logrotate reads its snippet, xl-devd runs xl devd" "$(echo $out)"
    # Only libxenlight is ours unless the package carries its own copies
    # of the Xen libraries (a build of another release's Xen).
    out=$(drv "ldd /opt/xl-devd/sbin/xl | grep -E 'libxen|libxl'")
    say "the driver domain's xl loads: $out"
    # (the release's are in /lib or /usr/lib: Debian 12 links them both)
    case "$DEVD_BUILD" in *"own Xen libraries"*) lib_from='/opt/xl-devd/lib/xl-devd/' what="ours" ;;
        *) lib_from='/(usr/)?lib/' what="the release's" ;; esac
    [ "$(echo "$out" | grep 'libxenlight\.so' | grep -c '=> /opt/xl-devd/lib/xl-devd/')" = 1 ] &&
        [ "$(echo "$out" | grep 'libxenctrl\.so' | grep -cE "=> $lib_from")" = 1 ] &&
        ! echo "$out" | grep -q 'not found'
    ok $? "package: xl loads our libxenlight from /opt/xl-devd and $what libxenctrl" "$out"
    out=$(drv "devd-ctl term >/dev/null; cp /var/log/xen/xldevd.log /var/log/xen/xldevd.bed; dpkg -L xl-devd > /run/xl-devd.files; dpkg --purge xl-devd >/dev/null 2>&1; echo rc=\$?;
        while read -r f; do [ -d \"\$f\" ] && continue; [ -e \"\$f\" ] || [ -L \"\$f\" ] && echo \"left: \$f\"; done < /run/xl-devd.files;
        dpkg-query -W xl-devd >/dev/null 2>&1 && echo 'still known to dpkg';
        ls /etc/systemd/system/*.wants/xl-devd.service /etc/rc?.d/*xl-devd /opt/xl-devd /var/log/xen/xldevd.log 2>/dev/null;
        mv /var/log/xen/xldevd.bed /var/log/xen/xldevd.log" 60)
    [ "$(echo $out)" = "rc=0" ]
    ok $? "package: dpkg --purge leaves no file, unit link, rc link, /opt/xl-devd or log behind" "$(echo $out | head -c 600)"
fi

scenario ""
$XL destroy g1 2>/dev/null
drv "sync" >/dev/null
$XL destroy drv 2>/dev/null
echo "1..$T"
exit $(( FAILS > 0 ))
