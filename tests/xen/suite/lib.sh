# Helpers for the bed's suite, run in dom0.  Prints TAP.
XL=${XL:-/opt/xl-devd/sbin/xl}
T=0; FAILS=0
say() { printf '%s\n' "$*" | sed 's/^/# /'; }
# Every TAP line says which build of devd served it (DEVD_BUILD, from run.sh).
TAG=${DEVD_BUILD:+ [$DEVD_BUILD]}
ok() { # ok COND-STATUS DESCRIPTION [DIAG]
    T=$((T + 1))
    if [ "$1" = 0 ]; then echo "ok $T - $2$TAG"
    else
        echo "not ok $T - $2$TAG"; FAILS=$((FAILS + 1)); [ -n "${3:-}" ] && say "$3"
        [ -n "$XL_DIAG" ] && say "dom0's xl since the last check: $XL_DIAG"
        dom0_check
    fi
    XL_DIAG=""
}
# xl_run ARGS...: dom0's xl; its rc and the tail of its output are kept
# (XL_DIAG) for the diagnostics of the next check, should it fail.
XL_DIAG=""
xl_run() {
    local out r
    out=$($XL "$@" 2>&1); r=$?
    XL_DIAG="$XL_DIAG${XL_DIAG:+ | }xl $*: rc=$r${out:+: $(echo "$out" | tail -6 | tr '\n' ' ')}"
    return $r
}
# xl_attach ARGS...: an attach by dom0's xl (-vvv), its output in XL_OUT
# (what says why) and XL_DIAG.  A stock libxl waits for its backend to be
# in InitWait exactly: on a loaded dom0 it may first read the state once
# the backend has gone past it (Connected), then wait out its 10 s and
# fail, the device working.  That race is dom0's: it is said, as a figure,
# and returns 0 (the caller checks the device itself).  Any other failure
# is returned.
xl_attach() {
    local out r
    out=$($XL -vvv "$@" 2>&1); r=$?
    XL_OUT=$(echo "$out" | grep -E 'error|warning|timed out|wanted state|unable|[Ff]ail' | tail -8)
    XL_DIAG="$XL_DIAG${XL_DIAG:+ | }xl $*: rc=$r${XL_OUT:+: $(echo "$XL_OUT" | tr '\n' ' ')}"
    if [ $r != 0 ] && echo "$out" | grep -q 'wanted state 2 timed out' &&
        echo "$out" | grep -qE 'wanted state 2 still waiting state [3-6]'; then
        say "xl $1 $2: rc=$r, a figure: dom0 read the backend's state only once it had gone past InitWait, then waited out its 10 s"
        return 0
    fi
    return $r
}
# dom0_check: ends the run if dom0's own kernel (Debian's) has oopsed.
# Every check after it would fail for that reason alone, each after its
# timeout (a 6.12 dom0 once lost its xenbus stream and then its blkback
# thread for the driver domain's root disk: 30 failures and 800 s more).
# run.sh boots again once (dom0-oops in the share says why).
dom0_check() {
    local l
    l=$(dmesg 2>/dev/null | grep -E 'BUG: |Oops: |general protection fault|kernel BUG at' | head -3)
    [ -n "$l" ] || return 0
    say "dom0's kernel oopsed: the run ends here"
    dmesg | grep -E 'WARNING:|BUG: |Oops: |RIP: |xenbus: error|blocked for more than' | head -20 | sed 's/^/#   /'
    dmesg > /share/dom0-dmesg.log 2>/dev/null
    echo "$l" > /share/dom0-oops
    for d in $($XL list 2>/dev/null | awk 'NR > 2 { print $1 }'); do timeout 30 $XL destroy "$d" 2>/dev/null; done
    echo "1..$T"
    exit 1
}
skip() { T=$((T + 1)); echo "ok $T - $1$TAG # SKIP $2"; }
check() { local d=$1; shift; "$@" >/dev/null 2>&1; ok $? "$d"; }
now() { cut -d' ' -f1 /proc/uptime; }
# scenario NAME: prints the wall time of the scenario that ends ("" at
# the end) and starts timing NAME.
SC_NAME="" SC_T0=0
scenario() {
    local t; t=$(now)
    [ -n "$SC_NAME" ] && say "time: $SC_NAME $(awk -v a="$SC_T0" -v b="$t" 'BEGIN{printf "%.0f", b - a}') s"
    SC_NAME=$1 SC_T0=$t
    dom0_check
}

xs() { xenstore-read "$1" 2>/dev/null; }
# watch_until TIMEOUT PATH CMD...: runs CMD whenever something at or under
# PATH changes (and once at the start: a watch fires when it is set) until
# CMD succeeds, or TIMEOUT s have passed.  A XenStore watch, not a polling
# loop: under TCG every fork costs the host's two CPUs, which the domains
# under test then lack.
watch_until() {
    local t=$1 p=$2 fd wpid r=1; shift 2
    exec {fd}< <(exec timeout "$t" xenstore-watch "$p" 2>/dev/null)
    wpid=$!
    while read -r -u "$fd" _; do "$@" && { r=0; break; }; done
    kill "$wpid" 2>/dev/null
    exec {fd}<&-
    return $r
}
key_is() { [ "$(xs "$1")" = "$2" ]; }
key_gone() { ! xenstore-exists "$1" 2>/dev/null; }
wait_key() { watch_until "$3" "$1" key_is "$1" "$2"; }    # path value timeout_s
wait_gone() { watch_until "$2" "$1" key_gone "$1"; }      # path timeout_s

# dcmd DOMID CMD [TIMEOUT]: run CMD in a domain's agent; prints its output,
# returns its status.
dcmd() {
    local d=/local/domain/$1/data
    xenstore-rm $d/rc 2>/dev/null
    xenstore-write -R $d/cmd "$2"
    if watch_until "${3:-60}" $d/rc xenstore-exists $d/rc; then
        xenstore-read -R $d/out 2>/dev/null; echo
        return "$(xs $d/rc)"
    fi
    echo "dcmd: no answer from domain $1 to: $2"
    dom_why "$1"
    return 124
}
# dom_why DOMID: what dom0 knows of a domain that stopped answering: its
# state and CPU time, whether its agent took the command, its console's last lines
# (a guest kernel's complaint is there, not in any log of ours).
dom_why() {
    local n a
    n=$($XL domname "$1" 2>/dev/null) || { echo "domain $1: gone"; return; }
    if xenstore-exists "/local/domain/$1/data/cmd" 2>/dev/null; then a="never took the command (its XenStore watch did not fire)"
    else a="took the command and is still running it"; fi
    echo "domain $1 ($n): $($XL list "$1" 2>/dev/null | awk 'NR == 2 { print "state " $5 ", " $6 " s of CPU" }'); its agent $a"
    echo "its console's last lines:"
    tail -n 12 "/var/log/xen/console/guest-$n.log" 2>/dev/null | tr -d '\r' | sed 's/^/  /'
}
drv() { dcmd "$DRV" "$@"; }

# guest_up NAME 'DISK' ... -- VIF ...: create the guest, wait for its
# agent, then attach the driver domain's disks and vifs one at a time.
# GUEST_MEM: its memory in MiB; GUEST_VCPUS: its vCPUs; GUEST_EXTRA: more
# kernel parameters (e.g. xen_blkfront.max_ring_page_order=3: Debian's
# blkfront takes 1-page rings unless told).
# (Scripts that run beside a booting kernel race libxl's timeouts on a slow
# host; the bed tests serving devices, not that race.)  A guest with a
# qdisk gets all its devices in its configuration: 4.17's libxl in dom0
# then takes it for a guest with a device model of dom0's (the stored
# qdisk has lost its backend domid) and refuses any attach while none
# runs there.
guest_up() {
    local name=$1 d out g cfg="" vifs="" sep="" all="" v=""; shift
    for d in "$@"; do
        [ "$d" = "--" ] && { v=1; continue; }
        case "$d" in *backendtype=qdisk*) all=1;; esac
        if [ -n "$v" ]; then vifs="$vifs$sep'$d'"; sep=", "; else cfg="$cfg, '$d'"; fi
    done
    [ -n "$all" ] || cfg="" vifs=""
    sed -e "s/@NAME@/$name/" -e "s|@DISKS@|$cfg|" -e "s|@VIFS@|$vifs|" \
        -e "s/^memory = .*/memory = ${GUEST_MEM:-128}/" \
        -e "s/xtrole=guest/& ${GUEST_EXTRA:-}/" -e "s/^vcpus = .*/vcpus = ${GUEST_VCPUS:-1}/" \
        /etc/xen/bed/guest.cfg > /run/$name.cfg
    # P9='tag=...,path=...,backend=drv,...': a 9pfs share (creation only).
    [ -n "${P9:-}" ] && echo "p9 = [ '$P9' ]" >> /run/$name.cfg
    $XL create /run/$name.cfg >/run/$name.create 2>&1 || { cat /run/$name.create; return 1; }
    g=$($XL domid "$name") || return 1
    wait_key /local/domain/$g/data/ready 1 120 || { echo "guest $name: its agent never came up"; return 1; }
    [ -n "$all" ] || guest_attach "$name" "$@"
}
# guest_attach NAME 'DISK' ... -- VIF ...: attach them one at a time.
guest_attach() {
    local name=$1 d out; shift
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        xl_attach block-attach "$name" "$1" || { echo "block-attach $name $1: $XL_OUT"; return 1; }
        shift
    done
    [ "${1:-}" = "--" ] && shift
    for d in "$@"; do
        xl_attach network-attach "$name" ${d//,/ } || { echo "network-attach $name $d: $XL_OUT"; return 1; }
    done
}
domid() { $XL domid "$1" 2>/dev/null; }
# detach_figure RC OUT: for a detach by dom0's xl (-vvv, OUT its output),
# whether its failure was the driver domain's doing: the backend's state
# vanished before dom0 read Closed (dom0 then leaves the frontend behind).
# Otherwise a failure is dom0's own 10 s wait for Closed running out
# (the guest's frontend decides when that comes), after which dom0 forces
# the removal: its rc is then only a figure.  Prints the figure.
detach_figure() {
    local forced=0 removed=0
    [ "$1" = 0 ] && { echo ok; return 0; }
    echo "$2" | grep -q 'initiating forced remove' && forced=1
    echo "$2" | grep -q 'wanted state 6 but it was removed' && removed=1
    echo "rc=$1$([ $forced = 1 ] && echo " (dom0's 10 s wait for Closed ran out: it forced the removal)")$([ $removed = 1 ] && echo " (the backend's state went before dom0 read it)")"
    [ $removed = 0 ] || [ $forced = 1 ]
}
# shared_guest: sets $G1 to the guest g1 that most scenarios share (no
# device of the driver domain's in its configuration), booting it on first
# use: one boot instead of one per scenario.  A device of the driver
# domain's that a failed scenario left on it is detached first, so that
# one failure does not spread to the next scenario.
shared_guest() {
    local k d b why
    G1=$(domid g1)
    # A g1 that no longer answers (its kernel lost its XenStore stream,
    # as Debian 13's once did under TCG) would fail every later scenario
    # for that one reason: it is said why, then booted again.
    if [ -n "$G1" ] && ! why=$(dcmd "$G1" true 30); then
        say "guest g1 no longer answers: booting it again"; say "$why"
        xl_run destroy g1
        G1=""
    fi
    [ -n "$G1" ] || { guest_up g1 || return 1; G1=$(domid g1) || return 1; }
    for k in vbd vbd3 vif; do
        for d in $(xenstore-list "$DRVBE/$k/$G1" 2>/dev/null); do
            say "guest g1: detaching the $k $d that an earlier scenario left"
            detach g1 "$d" $k "$G1" "$d"
        done
    done
    # A frontend whose backend is gone (a detach that dom0 gave up on):
    # xl then removes the frontend alone, and its devid is free again.
    for k in vbd vif; do
        for d in $(xenstore-list "/local/domain/$G1/device/$k" 2>/dev/null); do
            b=$(xs "/local/domain/$G1/device/$k/$d/backend")
            case "$b" in "$DRVBE"/*) ;; *) continue;; esac
            xenstore-exists "$b" 2>/dev/null && continue
            say "guest g1: removing the $k frontend $d whose backend $b is gone"
            if [ $k = vif ]; then xl_run network-detach g1 "$d"; else xl_run block-detach g1 "$d"; fi
            wait_gone "/local/domain/$G1/device/$k/$d" 30 || say "guest g1: its $k frontend $d is still there"
        done
    done
}
be() { echo "/local/domain/$DRV/backend/$1/$2/$3"; }
connected() { # KIND DOMID DEVID TIMEOUT: backend Connected and (non-QEMU) script done
    wait_key "$(be "$1" "$2" "$3")/state" 4 "$4" || return 1
    [ "$1" = qdisk ] && return 0
    wait_key "$(be "$1" "$2" "$3")/hotplug-status" connected "$4"
}
# Pattern check inside a guest: write 8 MiB of random data, read back.
GUEST_RW='dd if=/dev/urandom of=/tmp/p bs=1M count=8 2>/dev/null && dd if=/tmp/p of=/dev/DEV bs=1M oflag=direct conv=fsync 2>/dev/null && a=$(md5sum < /tmp/p) && b=$(dd if=/dev/DEV bs=1M count=8 iflag=direct 2>/dev/null | md5sum) && echo "${a%% *} ${b%% *}" && [ "$a" = "$b" ]'
guest_rw() { dcmd "$1" "${GUEST_RW//DEV/$2}" 120; }
# guest_pattern DOMID DEV: a random pattern over the whole 64 MiB disk in
# 8 MiB pieces (the guest has little memory for /tmp), each flushed, read
# back and compared; prints the whole disk's md5 and "8 pieces equal".
GUEST_PATTERN='rm -f /tmp/w /tmp/r; for i in 0 1 2 3 4 5 6 7; do dd if=/dev/urandom of=/tmp/c bs=1M count=8 2>/dev/null && md5sum < /tmp/c >> /tmp/w && dd if=/tmp/c of=/dev/DEV bs=1M seek=$((i * 8)) oflag=direct conv=notrunc,fsync 2>/dev/null || exit 1; done; sync; for i in 0 1 2 3 4 5 6 7; do dd if=/dev/DEV bs=1M skip=$((i * 8)) count=8 iflag=direct 2>/dev/null | md5sum >> /tmp/r; done; rm -f /tmp/c; cmp -s /tmp/w /tmp/r || { paste /tmp/w /tmp/r; exit 1; }; a=$(dd if=/dev/DEV bs=1M iflag=direct 2>/dev/null | md5sum); echo "${a%% *} 8 pieces equal"'
guest_pattern() { dcmd "$1" "${GUEST_PATTERN//DEV/$2}" 300; }
guest_read() { dcmd "$1" "dd if=/dev/$2 bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1" 60; }
qemus_for() { drv "pgrep -f '[x]en-domid $1 ' | wc -l" | head -1; }  # [x]: not our own bash -c
# loops_left PATTERN: how many loop devices in the driver domain match,
# once none do or after 20 s.  (The backend directory goes first; the
# remove script that releases the loop device runs after.)
loops_left() {
    drv "for i in \$(seq 40); do n=\$(losetup -a | grep -c '$1'); [ \$n = 0 ] && break; sleep 0.5; done; echo \$n" | head -1
}
# devd_lines MARK PATTERN N SECS: waits until devd's log has N lines that
# match PATTERN (grep -E) after the line whose number is in the driver
# domain's file MARK, SECS at most; prints how many it has.  For waiting
# on devd's own word that its operations ended, whatever the host's load.
devd_lines() {
    drv "for i in \$(seq $4); do n=\$(tail -n +\$((\$(cat $1) + 1)) /var/log/xen/xldevd.log | grep -cE '$2'); [ \$n -ge $3 ] && break; sleep 1; done; echo \$n" $(( $4 + 60 )) | head -1
}
# detach NAME VDEV KIND DOMID DEVID: block-detach (network-detach for a
# vif), wait for the backend to go, then for the frontend (dom0 removes it
# after the backend), so that the same device can be attached again at once.
# A vbd's or vif's hotplug remove may still run then (its backend directory
# goes after 5 s): with our devd, wait for its word that the removal ended,
# so that what the script releases can be checked at once.
detach() {
    local fe=vbd verb=block-detach mark=
    [ "$3" = vif ] && fe=vif verb=network-detach
    case $3 in vbd|vif) [ "$DEVD" != stock ] && mark=/run/detach.l0 ;; esac
    [ -n "$mark" ] && drv "wc -l < /var/log/xen/xldevd.log > $mark" >/dev/null
    xl_run $verb "$1" "$2"
    wait_gone "$(be "$3" "$4" "$5")" 30 || return 1
    wait_gone "/local/domain/$4/device/$fe/$5" 30 || return 1
    [ -z "$mark" ] && return 0
    [ "$(devd_lines $mark "Domain $4:$3 $5: timing: detach" 1 150)" -ge 1 ] 2>/dev/null && return 0
    say "detach: devd did not say within 150 s that the removal of $3 $5 of domain $4 ended"
    return 1
}
