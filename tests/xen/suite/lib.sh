# Helpers for the bed's suite, run in dom0.  Prints TAP.
XL=${XL:-/opt/xl-devd/sbin/xl}
T=0; FAILS=0
say() { echo "# $*"; }
ok() { # ok COND-STATUS DESCRIPTION [DIAG]
    T=$((T + 1))
    if [ "$1" = 0 ]; then echo "ok $T - $2"
    else echo "not ok $T - $2"; FAILS=$((FAILS + 1)); [ -n "${3:-}" ] && say "$3"; fi
}
skip() { T=$((T + 1)); echo "ok $T - $1 # SKIP $2"; }
check() { local d=$1; shift; "$@" >/dev/null 2>&1; ok $? "$d"; }
now() { cut -d' ' -f1 /proc/uptime; }
# scenario NAME: prints the wall time of the scenario that ends ("" at
# the end) and starts timing NAME.
SC_NAME="" SC_T0=0
scenario() {
    local t; t=$(now)
    [ -n "$SC_NAME" ] && say "time: $SC_NAME $(awk -v a="$SC_T0" -v b="$t" 'BEGIN{printf "%.0f", b - a}') s"
    SC_NAME=$1 SC_T0=$t
}

xs() { xenstore-read "$1" 2>/dev/null; }
wait_key() { # path value timeout_s
    local i; for i in $(seq $(( $3 * 5 ))); do [ "$(xs "$1")" = "$2" ] && return 0; sleep 0.2; done; return 1; }
wait_gone() { # path timeout_s
    local i; for i in $(seq $(( $2 * 5 ))); do xenstore-exists "$1" 2>/dev/null || return 0; sleep 0.2; done; return 1; }

# dcmd DOMID CMD [TIMEOUT]: run CMD in a domain's agent; prints its output,
# returns its status.
dcmd() {
    local d=/local/domain/$1/data i
    xenstore-rm $d/rc 2>/dev/null
    xenstore-write -R $d/cmd "$2"
    for i in $(seq $(( ${3:-60} * 10 ))); do
        if xenstore-exists $d/rc 2>/dev/null; then
            xenstore-read -R $d/out 2>/dev/null; echo
            return "$(xs $d/rc)"
        fi
        sleep 0.1
    done
    echo "dcmd: no answer from domain $1 to: $2"; return 124
}
drv() { dcmd "$DRV" "$@"; }

# guest_up NAME 'DISK' ... -- VIF ...: create the guest, wait for its
# agent, then attach the driver domain's disks and vifs one at a time.
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
        /etc/xen/bed/guest.cfg > /run/$name.cfg
    $XL create /run/$name.cfg >/run/$name.create 2>&1 || { cat /run/$name.create; return 1; }
    g=$($XL domid "$name") || return 1
    wait_key /local/domain/$g/data/ready 1 120 || { echo "guest $name: its agent never came up"; return 1; }
    [ -n "$all" ] || guest_attach "$name" "$@"
}
# guest_attach NAME 'DISK' ... -- VIF ...: attach them one at a time.
guest_attach() {
    local name=$1 d out; shift
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        out=$($XL block-attach "$name" "$1" 2>&1) || { echo "block-attach $name $1: $out"; return 1; }
        shift
    done
    [ "${1:-}" = "--" ] && shift
    for d in "$@"; do
        out=$($XL network-attach "$name" ${d//,/ } 2>&1) || { echo "network-attach $name $d: $out"; return 1; }
    done
}
domid() { $XL domid "$1" 2>/dev/null; }
be() { echo "/local/domain/$DRV/backend/$1/$2/$3"; }
connected() { # KIND DOMID DEVID TIMEOUT: backend Connected and (non-QEMU) script done
    wait_key "$(be "$1" "$2" "$3")/state" 4 "$4" || return 1
    [ "$1" = qdisk ] && return 0
    wait_key "$(be "$1" "$2" "$3")/hotplug-status" connected "$4"
}
# Pattern check inside a guest: write 8 MiB of random data, read back.
GUEST_RW='dd if=/dev/urandom of=/tmp/p bs=1M count=8 2>/dev/null && dd if=/tmp/p of=/dev/DEV bs=1M oflag=direct conv=fsync 2>/dev/null && a=$(md5sum < /tmp/p) && b=$(dd if=/dev/DEV bs=1M count=8 iflag=direct 2>/dev/null | md5sum) && echo "${a%% *} ${b%% *}" && [ "$a" = "$b" ]'
guest_rw() { dcmd "$1" "${GUEST_RW//DEV/$2}" 120; }
guest_read() { dcmd "$1" "dd if=/dev/$2 bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1" 60; }
qemus_for() { drv "pgrep -f '[x]en-domid $1 ' | wc -l" | head -1; }  # [x]: not our own bash -c
# loops_left PATTERN: how many loop devices in the driver domain match,
# once none do or after 20 s.  (The backend directory goes first; the
# remove script that releases the loop device runs after.)
loops_left() {
    drv "for i in \$(seq 40); do n=\$(losetup -a | grep -c '$1'); [ \$n = 0 ] && break; sleep 0.5; done; echo \$n" | head -1
}
# detach NAME VDEV KIND DOMID DEVID: block-detach, wait for the backend to go.
detach() {
    $XL block-detach "$1" "$2" >/dev/null 2>&1
    wait_gone "$(be "$3" "$4" "$5")" 30
}
