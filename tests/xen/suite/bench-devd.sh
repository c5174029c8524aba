# make bench, the devd half: our devd and Debian's stock `xl devd`, one
# after the other in the same driver domain of the same boot.  Sourced by
# suite.sh (needs lib.sh, DRV, DRVBE).  Prints TAP checks (that each step
# ran) and "BENCH devd=D test=T kind=K stat=S value=V unit=U" figures.
#
# For each devd:
#   rss:     devd's resident memory after startup, after BENCH_CYCLES (200)
#            attach/detach cycles (vbd, vif and qdisk in turn), difference;
#   attach:  BENCH_ATTACHES (10) attaches per kind, timed by xs-lat in dom0
#            from the backend directory's first watch event to state 4 and
#            hotplug-status "connected" (qdisk: state 4, QEMU writes no
#            hotplug-status);
#   xs-ops:  devd's XenStore requests per attach and per detach, counted in
#            devd itself by the xscount.so shim; the first attach and
#            detach of each kind also traced request by request (in the
#            log as "type key x count", whole in the driver domain's
#            /var/log/xen/xstrace-*.txt, copied out with its logs);
#   steps:   (ours) where each attach and detach went, from devd's own
#            "timing:" lines: total from the event that decided it, devd's
#            own share, and the script's, QEMU's or tapdisk's;
#   adopt:   devd started over BENCH_ADOPT (1000) Connected backends of
#            domains that do not run: seconds until its CPU time stops
#            growing, and that CPU time; then 10 times as many if ours
#            projects to under a minute.  Both devds run over the same
#            backends, written once per size after both devds' other
#            figures are taken, and never removed: removing 10,000 of them
#            under the driver domain kernel's watch took xenstored 8.5
#            minutes under TCG.
#
# qdisk attaches are written into XenStore here, as libxl would write them:
# dom0's libxl refuses to hot-attach a qdisk to a PV guest ("device model
# required"), and a guest created for each would time its boot, not devd.

BT=/usr/local/lib/xl-devd-bench
BENCH_ATTACHES=${BENCH_ATTACHES:-10}
BENCH_CYCLES=${BENCH_CYCLES:-200}
BENCH_ADOPT=${BENCH_ADOPT:-1000}
XVDE=51776 XVDF=51792 XVDG=51808
bench() { echo "BENCH devd=$1 test=$2 kind=$3 stat=$4 value=$5 unit=$6"; }

# Stops whatever devd runs and makes D the next one, with the counting
# shim; devd_switch starts it too (after a command in the driver domain,
# such as the one that asks for the request trace).
devd_select() { # D [then-this-in-drv]
    drv "devd-ctl term >/dev/null 2>&1; pkill -TERM -f '[x]l.* devd'; sleep 1; echo $1 > /run/devd.kind; touch /run/devd.xscount; rm -f /run/xstrace /run/devd.xstrace${2:+; $2}" 30 >/dev/null
}
devd_switch() { # D [first-this-in-drv]
    devd_select "$1" "${2:+$2; }devd-ctl start"
    drv 'kill -0 $(cat /run/devd.pid)' >/dev/null
}
# devd's XenStore counters, one a line, in the order of tests/bench/xscount.c
xs_raw() { drv "od -v -An -t u8 -w8 /run/xscount"; }
# ... summed: "requests watch-events"
xs_counts() {
    xs_raw | awk 'NF == 1 { n++; if (n <= 12) r += $1; else e = $1 } END { print r + 0, e + 0 }'
}
xs_by_type() { # the same counters, named (the order of tests/bench/xscount.c)
    xs_raw | awk 'BEGIN { split("read write directory mkdir rm get-perms set-perms txn-start txn-end watch unwatch other watch-events", n, " ") }
        NF == 1 { i++; if ($1) printf "%s=%s ", n[i], $1 }'
}

# qdisk: libxl's keys and permissions.  libxl writes both directories in
# one transaction; here the frontend's state comes last, as the guest
# probes a frontend only once its state is Initialising and gives up on it
# if the backend is not there yet.
qdisk_attach() { # GUEST-DOMID DEVID VDEV IMAGE
    local fe=/local/domain/$1/device/vbd/$2 be=$DRVBE/qdisk/$1/$2
    xenstore-write $fe/backend "$be" $fe/backend-id "$DRV" $fe/virtual-device "$2" \
        $fe/device-type disk $fe/trusted 1 &&
    xenstore-chmod -r $fe "n$1" "r$DRV" &&
    xenstore-write $be/frontend "$fe" $be/frontend-id "$1" $be/removable 0 $be/bootable 1 \
        $be/dev "$3" $be/type qdisk $be/mode w $be/device-type disk $be/params "raw:$4" \
        $be/discard-enable 1 $be/specification xen $be/online 1 $be/state 1 &&
    xenstore-chmod -r $be "n$DRV" "r$1" &&
    xenstore-write $fe/state 1
}
# As libxl's removal for a driver domain's backend: online 0 + Closing,
# devd removes the backend, then the toolstack removes the frontend.
qdisk_detach() { # GUEST-DOMID DEVID
    local be=$DRVBE/qdisk/$1/$2
    xenstore-write $be/online 0 $be/state 5
    wait_gone $be 60; local r=$?
    xenstore-rm /local/domain/$1/device/vbd/$2 2>/dev/null
    return $r
}

# One attach of KIND to guest gl and its wait; one detach, and its wait
# for both directories to go.  Each disk kind has its own vdev.  On
# failure, what the toolstack said and where the backend is.  vbd3 disks
# are attached with XL_VBD3 (4.17's stock xl has no vbd3).
b_id() { case $1 in vbd) echo $XVDE;; vbd3) echo $XVDF;; qdisk) echo $XVDG;; vif) echo 0;; esac; }
b_attach() {
    local r
    case $1 in
    vbd)   $XL block-attach gl "backend=drv,vdev=xvde,format=raw,target=/srv/l.img" >/run/b.err 2>&1 &&
               connected vbd "$GL" $XVDE 60 ;;
    vbd3)  $XL_VBD3 block-attach gl "backend=drv,backendtype=tap,vdev=xvdf,format=raw,target=/srv/l.img" >/run/b.err 2>&1 &&
               connected vbd3 "$GL" $XVDF 60 ;;
    vif)   $XL network-attach gl backend=drv bridge=xenbr0 >/run/b.err 2>&1 && connected vif "$GL" 0 60 ;;
    qdisk) qdisk_attach "$GL" $XVDG xvdg /srv/l.img >/run/b.err 2>&1 && connected qdisk "$GL" $XVDG 90 ;;
    esac
    r=$?
    [ $r = 0 ] || b_diag "$1" "attach"
    return $r
}
b_detach() {
    local r fk=vbd
    case $1 in
    vbd)      $XL block-detach gl xvde >/run/b.err 2>&1 ;;
    vbd3)     $XL_VBD3 block-detach gl xvdf >/run/b.err 2>&1 ;;
    vif)      $XL network-detach gl 0 >/run/b.err 2>&1; fk=vif ;;
    qdisk)    qdisk_detach "$GL" $XVDG >/run/b.err 2>&1 ;;
    esac
    wait_gone "$(be $1 "$GL" "$(b_id $1)")" 60 && wait_gone "/local/domain/$GL/device/$fk/$(b_id $1)" 30
    r=$?
    [ $r = 0 ] || b_diag "$1" "detach"
    return $r
}
b_diag() {
    local id; id=$(b_id "$1")
    say "bench-devd: $1 $2 failed: $(grep -iE 'error|fail|warn' /run/b.err | tr '\n' ' ' | tail -c 1500)"
    [ -d /share ] && cp /run/b.err /share/bench-$1-$2.err
    say "  backend: $(xenstore-ls -f "$(be "$1" "$GL" $id)" 2>&1 | grep -E '/(state|online|hotplug-status|hotplug-error) ' | tr '\n' ' ')"
    say "  frontend: $(xenstore-ls -f "/local/domain/$GL/device/$([ "$1" = vif ] && echo vif || echo vbd)/$id" 2>&1 | grep -E '/(state|ring-ref|event-channel|error) ' | tr '\n' ' ')"
    say "  devd log: $(drv "tail -n 4 /var/log/xen/xldevd.log | grep -v cpu_bitmap" | tr '\n' ' ' | tail -c 600)"
    say "  guest kernel: $(dcmd "$GL" "dmesg | tail -n 6" 20 | tr '\n' ' ' | tail -c 800)"
}

# The guest's kernel log, in dom0.  In one run Debian 6.1's blkfront hit a
# BUG (talk_to_blkback, in xenwatch) once with each devd, after 31 and 133
# cycles; with xenwatch dead, no device of that guest moves again.
GL_CONSOLE=/var/log/xen/console/guest-gl.log
console_lines() { wc -l < $GL_CONSOLE 2>/dev/null || echo 0; }
guest_oops() { # LINES-BEFORE: the first oops line logged since, if any
    tail -n +$(( $1 + 1 )) $GL_CONSOLE 2>/dev/null | grep -m1 -E 'kernel BUG at|BUG: |Oops: ' | cut -c1-200
}
# A new guest gl in place of one whose kernel died.  libxl's destroy takes
# down what it attached; the qdisk written here is removed here.
guest_replace() {
    local old=$GL
    $XL destroy gl 2>/dev/null
    xenstore-rm $DRVBE/qdisk/$old 2>/dev/null
    wait_gone $DRVBE/vbd/$old 60; wait_gone $DRVBE/vif/$old 60
    GUEST_MEM=512 guest_up gl || return 1
    GL=$(domid gl)
}

# Connected vbd backends FROM..TO-1 of domains 20000.. (10 disks each), in
# XenStore only.  They belong to dom0 with read access for the driver
# domain: as many nodes owned by the driver domain would pass xenstored's
# per-domain quotas (1000 nodes, 2.5 MB), and devd only reads them.
ADOPT_BASE=20000
adopt_populate() { # FROM TO (multiples of 10)
    if [ "$1" = 0 ]; then
        xenstore-write $DRVBE/vbd/$ADOPT_BASE ""    # make sure the kind exists
        xenstore-rm $DRVBE/vbd/$ADOPT_BASE
        xenstore-chmod $DRVBE/vbd n0 "r$DRV"
    fi
    awk -v from="$1" -v n="$2" -v base=$ADOPT_BASE -v be=$DRVBE/vbd 'BEGIN {
        for (i = from; i < n; i++) {
            d = base + int(i / 10); v = 51712 + (i % 10) * 16; p = be "/" d "/" v
            print p "/frontend /local/domain/" d "/device/vbd/" v
            print p "/frontend-id " d; print p "/type phy"; print p "/params /dev/null"
            print p "/online 1"; print p "/hotplug-status connected"; print p "/state 4"
        } }' | xargs -n 700 xenstore-write
    [ "$(xenstore-list $DRVBE/vbd | awk -v b=$ADOPT_BASE '$1 >= b' | wc -l)" = "$(( $2 / 10 ))" ]
}

# Devd D started over the N backends there are: figures.
bench_adopt() { # D N
    local D=$1 N=$2 out secs cpu c
    devd_select "$D"
    out=$(drv "devd-ctl adopt" 300)
    secs=$(echo "$out" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
    cpu=$(echo "$out" | sed -n 's/.*cpu=\([0-9.]*\).*/\1/p')
    [ -n "$secs" ] && [ -n "$cpu" ]
    ok $? "bench-devd: $D devd: started over $N backends and went idle" "$out"
    bench "$D" adopt-seconds $N wall "${secs:-0}" s
    bench "$D" adopt-cpu-seconds $N cpu "${cpu:-0}" s
    set -- $(xs_counts)
    bench "$D" adopt-xs-requests $N total "$1" requests
    say "bench-devd: $D over $N backends, requests by type: $(xs_by_type)"
    bench "$D" rss-after-adopt $N value "$(drv "devd-ctl rss" | head -1)" KiB
    if [ "$D" = ours ]; then
        c=$(echo "$out" | sed -n 's/.*adopted=\([0-9]*\).*/\1/p')
        [ "${c:-0}" = "$N" ]
        ok $? "bench-devd: ours tracks all $N backends it started over" "adopted: $c"
        bench "$D" adopt-tracked $N count "${c:-0}" backends
    fi
    drv "devd-ctl term" >/dev/null
    ADOPT_SECS=$secs
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Where our attaches and detaches went, from devd's "timing:" lines
# since log line FROM (devd-ctl steps): per kind and phase, the medians of
# the whole, devd's own share, the wait for a slot and the time it waited
# for the script, QEMU or tapdisk.
bench_steps() { # FROM KINDS
    local k ph f v
    for k in $2; do
        for ph in attach detach; do
            v=$(drv "devd-ctl steps $1 $k $ph")
            set -- $1 "$2" $v
            [ $# = 6 ] || { say "bench-devd: no timing lines for $k $ph: $v"; continue; }
            bench ours "$ph-steps-ms" "$k" total "$3" ms
            bench ours "$ph-steps-ms" "$k" devd "$4" ms
            bench ours "$ph-steps-ms" "$k" slot "$5" ms
            bench ours "$ph-steps-ms" "$k" waited "$6" ms
        done
    done
}

bench_devd_one() { # ours|stock
    local D=$1 k i c0 c1 c2 ra rd ea n kinds=${BENCH_KINDS:-vbd vif qdisk vbd3} rss0 rss1 out
    [ "$D" = stock ] && kinds=${kinds/vbd3/}
    devd_switch "$D" "touch /run/devd.xstrace"
    ok $? "bench-devd: $D devd started with the XenStore counter"
    sleep 3
    rss0=$(drv "devd-ctl rss" | head -1)
    bench "$D" rss-startup all value "${rss0:-0}" KiB

    # Attach latency and XenStore requests, BENCH_ATTACHES of each kind.
    $BT/xs-lat "$DRVBE" "$GL" > /run/lat-$D.log 2>&1 &
    local latpid=$!
    for i in $(seq 50); do grep -q ready /run/lat-$D.log && break; sleep 0.1; done
    local l0 l1 l2 log0
    log0=$(drv "wc -l < /var/log/xen/xldevd.log")
    for k in $kinds; do
        ra=0; rd=0; ea=0; n=0
        set -- $(xs_counts); c2=$1 e2=$2
        for i in $(seq "$BENCH_ATTACHES"); do
            c0=$c2 e0=$e2       # (a detach's end is the next attach's start)
            [ "$i" = 1 ] && l0=$(drv "devd-ctl tracelen")
            b_attach $k || { say "bench-devd: $D $k attach $i failed"; break; }
            set -- $(xs_counts); c1=$1 e1=$2
            [ "$i" = 1 ] && l1=$(drv "devd-ctl tracelen")
            b_detach $k || { say "bench-devd: $D $k detach $i failed"; break; }
            set -- $(xs_counts); c2=$1 e2=$2
            if [ "$i" = 1 ]; then
                l2=$(drv "devd-ctl tracelen")
                say "bench-devd: $D $k attach 1, $((c1 - c0)) requests: $(drv "devd-ctl trace $l0 $l1 $D-$k-attach")"
                say "bench-devd: $D $k detach 1, $((c2 - c1)) requests: $(drv "devd-ctl trace $l1 $l2 $D-$k-detach")"
            fi
            ra=$((ra + c1 - c0)); rd=$((rd + c2 - c1)); ea=$((ea + e1 - e0)); n=$((n + 1))
        done
        [ "$n" = "$BENCH_ATTACHES" ]
        ok $? "bench-devd: $D devd: $n of $BENCH_ATTACHES $k attach/detach cycles completed"
        [ "$n" -gt 0 ] || continue
        bench "$D" xs-requests-per-attach $k mean "$(awk -v a=$ra -v n=$n 'BEGIN{printf "%.1f", a / n}')" requests
        bench "$D" xs-requests-per-detach $k mean "$(awk -v a=$rd -v n=$n 'BEGIN{printf "%.1f", a / n}')" requests
        bench "$D" xs-watch-events-per-attach $k mean "$(awk -v a=$ea -v n=$n 'BEGIN{printf "%.1f", a / n}')" events
    done
    sleep 1; kill $latpid 2>/dev/null; wait $latpid 2>/dev/null
    for k in $kinds; do
        out=$(awk -v k=$k '$1 == "attach" && $2 == k { print $5 }' /run/lat-$D.log | sort -n)
        n=$(echo "$out" | grep -c .)
        [ "$n" -ge "$BENCH_ATTACHES" ]
        ok $? "bench-devd: $D devd: $k attach latency measured $n times" "$(grep " $k " /run/lat-$D.log | head -5)"
        [ "$n" -gt 0 ] || continue
        bench "$D" attach-ms $k median "$(echo "$out" | median)" ms
        bench "$D" attach-ms $k max "$(echo "$out" | tail -1)" ms
    done
    [ "$D" = ours ] && bench_steps "$log0" "$kinds"

    # Memory over attach/detach cycles of the kinds both devds serve.  A
    # cycle that fails because the guest's kernel died is the guest's
    # failure, not devd's: the guest is replaced (at most 3 times) and the
    # cycles go on; any other failure ends them.
    local t0 lost=0 cl why; t0=$(now); n=0; cl=$(console_lines)
    for i in $(seq "$BENCH_CYCLES"); do
        case $((i % 3)) in 1) k=vbd;; 2) k=vif;; 0) k=qdisk;; esac
        if b_attach $k && b_detach $k; then n=$((n + 1)); continue; fi
        why=$(guest_oops "$cl")
        if [ -n "$why" ] && [ $lost -lt 3 ]; then
            lost=$((lost + 1))
            say "bench-devd: $D cycle $i ($k): the guest's kernel failed ($why): a new guest, the cycles go on"
            guest_replace || { say "bench-devd: no new guest"; break; }
            cl=$(console_lines)
            continue
        fi
        say "bench-devd: $D cycle $i ($k) failed"; break
    done
    rss1=$(drv "devd-ctl rss" | head -1)
    [ $((n + lost)) = "$BENCH_CYCLES" ]
    ok $? "bench-devd: $D devd: $n of $BENCH_CYCLES attach/detach cycles completed, $lost lost to the guest's kernel ($(awk -v a=$t0 -v b=$(now) 'BEGIN{printf "%.0f", b - a}') s)"
    bench "$D" rss-after-cycles all value "${rss1:-0}" KiB
    bench "$D" rss-growth all value "$(( ${rss1:-0} - ${rss0:-0} ))" KiB
    bench "$D" cycles all value "$n" cycles
    bench "$D" cycles-lost-to-guest-kernel all value "$lost" cycles

    drv "devd-ctl start" >/dev/null
}

# A fresh guest for each devd, with room: the guest kernel (Debian's 6.1)
# ran out of memory at 128 MiB after some 140 hot-plug cycles.
drv "truncate -s 16M /srv/l.img" >/dev/null
for D in ours stock; do
    GUEST_MEM=512 guest_up gl
    ok $? "bench-devd: guest gl up for $D devd (devices come and go on it)"
    GL=$(domid gl)
    bench_devd_one $D
    $XL destroy gl 2>/dev/null
done

# Startup over pre-existing backends: ours, then stock, over the same ones.
if [ "$BENCH_ADOPT" -gt 0 ]; then
    N=0
    for M in $BENCH_ADOPT $((BENCH_ADOPT * 10)); do
        t0=$(now)
        adopt_populate $N $M
        ok $? "bench-devd: $M Connected backends written for domains that do not run ($(awk -v a=$t0 -v b=$(now) 'BEGIN{printf "%.0f", b - a}') s)"
        N=$M
        for D in ours stock; do
            bench_adopt $D $N
            [ $D = ours ] && ours_secs=$ADOPT_SECS
        done
        # 10 times as many only if that projects to under a minute for ours.
        [ "$N" = "$BENCH_ADOPT" ] || break
        if ! awk -v s="${ours_secs:-999}" 'BEGIN { exit !(s * 10 < 60) }'; then
            say "bench-devd: $((N * 10)) backends: not measured: ours took ${ours_secs}s for $N, so more than a minute for $((N * 10))"
            break
        fi
    done
    xenstore-chmod $DRVBE/vbd "n$DRV"
fi
drv "rm -f /run/devd.xscount; echo ours > /run/devd.kind; devd-ctl term; devd-ctl start" >/dev/null
