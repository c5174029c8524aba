#!/bin/bash
# make check-xen: boot Xen + dom0 under QEMU (TCG) once, start a PV
# driver domain running the devd under test, run every scenario, collect the
# logs.  DEVD=ours (default) or stock (Debian's xl devd, for comparison).
# XEN=4.17 (default: Debian 12's hypervisor, dom0, driver domain and guest)
# or XEN=4.20 (Debian 13's).  DOM0=stock (default) runs dom0's toolstack
# from Debian's xen-utils, as a real deployment does; on 4.17, whose stock
# libxl has no vbd3, the vbd3 scenarios use this project's xl in dom0 and
# say so.  DOM0=ours runs this project's xl in dom0 throughout.  The
# driver domain runs ours (DEVD=stock: Debian's xl devd, for comparison).
#   run.sh BUILDDIR SRCDIR
set -uo pipefail
B=$(cd "$1" && pwd) S=$(cd "$2" && pwd)
DEVD=${DEVD:-ours}
XEN=${XEN:-4.17}
. "$S/scripts/xen-debian.sh"
REL=$(xen_debian_release "$XEN") || { echo "Bail out! XEN=$XEN: the bed boots a Xen that Debian ships ($(echo "$XEN_DEBIAN_MAP" | awk '{ printf "%s ", $1 }'))"; exit 1; }
DOM0=${DOM0:-stock}
# BED_HOG="4.20 ..." (or "all"): this bed runs on a loaded host, one CPU
# taken by a busy loop for the whole run (hog.sh).
case " ${BED_HOG:-} " in
    *" $XEN "*|*" all "*) BED_HOG= exec "$S/tests/xen/hog.sh" "$0" "$@" ;;
esac
X=$B/tests/xen
sfx=""; [ "$XEN" = 4.17 ] || sfx=-$XEN
ART=$X/artifacts-${ART_NAME:-$DEVD}$sfx
# BED_CACHE: another build directory's images (same Xen), not built again.
CACHE=${BED_CACHE:-$X/cache$sfx}
STAGE=$X/stage
case $DOM0 in
    ours) DOM0_XL=/opt/xl-devd/sbin/xl ;;
    stock) DOM0_XL=/usr/sbin/xl ;;
    *) echo "Bail out! DOM0=$DOM0: ours or stock"; exit 1 ;;
esac

if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "SKIP: qemu-system-x86_64 is not installed (Debian package qemu-system-x86); the real-Xen bed cannot run"
    exit 77
fi

# The driver domain gets our devd from its Debian package, so that the
# package itself is what the bed tests: the one make deb builds from this
# build for $REL, or one built elsewhere for it: BED_DEB_<RELEASE>=FILE
# (CI: BED_DEB_TRIXIE, the 4.20 flavour's, from the Debian 13 chroot).
debvar=BED_DEB_$(echo "$REL" | tr '[:lower:]' '[:upper:]')
rm -rf "$STAGE"; mkdir -p "$STAGE"
if [ -n "${!debvar:-}" ]; then
    # BED_DEB_WAIT=FILE: while FILE exists, the package is still being
    # built (CI builds it, and this bed's base image, beside the first
    # bed).
    if [ -n "${BED_DEB_WAIT:-}" ] && [ -e "$BED_DEB_WAIT" ]; then
        t0=$(date +%s)
        echo "# waiting for the driver domain's package (${!debvar}): still being built"
        while [ -e "$BED_DEB_WAIT" ]; do sleep 5; done
        echo "# the package's build ended after $(( $(date +%s) - t0 )) s of waiting"
    fi
    [ -f "${!debvar}" ] || { echo "Bail out! $debvar=${!debvar}: no such file"; exit 1; }
    echo "# the driver domain's package: ${!debvar} ($debvar)"
    cp "${!debvar}" "$STAGE/"
else
    echo "# building the xl-devd package for $REL into $STAGE"
    "$S/scripts/mkdeb.sh" "$B" "$S" "$(sed -n 's/^VERSION = //p' "$B/Makefile")" "$REL" "$STAGE" \
        >"$X.install.log" 2>&1 || { echo "Bail out! the package build failed"; tail -20 "$X.install.log"; exit 1; }
fi
# Which build serves: every TAP line says so (the suite's DEVD_BUILD).
deb=$(ls "$STAGE"/xl-devd_*.deb)
files=$(dpkg-deb -c "$deb")
flavour=$(echo "$files" | grep -o 'libxenlight\.so\.4\.[0-9]*' | head -n1 | sed 's/^libxenlight\.so\.//')
if echo "$files" | grep -q 'libxenctrl\.so'; then libs="own Xen libraries"; else libs="$REL's Xen libraries"; fi
if [ "$DEVD" = stock ]; then DEVD_BUILD="devd: Debian's stock"
else DEVD_BUILD="devd: Xen $flavour flavour, $libs"; fi
echo "# $DEVD_BUILD ($(basename "$deb"))"
# make bench's probes (built, never installed) go into the image too.
if [ -x "$B/tests/bench/xs-lat" ]; then
    install -D -m 755 "$B/tests/bench/xs-lat" "$STAGE/usr/local/lib/xl-devd-bench/xs-lat"
    install -D -m 755 "$B/tests/bench/xscount.so" "$STAGE/usr/local/lib/xl-devd-bench/xscount.so"
    install -D -m 755 "$B/tests/bench/syscost" "$STAGE/usr/local/lib/xl-devd-bench/syscost"
fi
# The hostile frontend of the vbd3-hostile scenario (built, never installed).
install -D -m 755 "$B/tests/xen/hostile/ring-flood" "$STAGE/usr/local/lib/xl-devd-bed/ring-flood"

XEN=$XEN "$S/tests/xen/mkimage.sh" "$CACHE" "$STAGE" "$S" || { echo "Bail out! image build failed"; exit 1; }

# The scenarios: those whose outcome depends on the Xen version (dom0's
# toolstack and its waits, the flavour of libxl devd is built on, the
# driver domain's kernel and QEMU) on every version; those that do not,
# and are long, once: guest-hostile input and VHD images (the same code
# in every flavour) on 4.20; memory churn, many concurrent scripts and
# devd's recovery from killed scripts on 4.17.  SCENARIOS=... (or
# SCENARIOS=all) runs others.
# (suite.sh expands SCENARIOS=all.)
BED_COMMON="vbd vif qdisk 9pfs vbd3 restart shutdown slow-hotplug rebind api package"
case $XEN in
    4.17) bed_default="$BED_COMMON churn many killed-scripts" ;;
    *) bed_default="$BED_COMMON vhd vbd3-hostile" ;;
esac
rm -rf "$ART"; mkdir -p "$ART/share"
cat > "$ART/share/cmd" <<CMD
#!/bin/bash
$(env | grep -E '^(BENCH_(SECONDS|ATTACHES|CYCLES|ADOPT)|DRV_VCPUS)=[0-9]+$|^BENCH_(KINDS|TESTS|ROWS)=[a-z0-9 -]+$' | sed 's/^\(BENCH_[A-Z]*=\)\(.*\)/\1"\2"/' | tr '\n' ' ')XEN=$XEN DOM0=$DOM0 XL=$DOM0_XL DEVD=$DEVD DEVD_BUILD="$DEVD_BUILD" CHURN_CYCLES=${CHURN_CYCLES:-10} SCENARIOS="${SCENARIOS:-$bed_default}" /etc/xen/bed/suite.sh
rc=\$?
# artifacts: the driver domain's logs (its root disk, now that it is gone), consoles
mkdir -p /mnt/drv /share/drv; mount /dev/vdb /mnt/drv && cp -a /mnt/drv/var/log/xen/. /share/drv/ && umount /mnt/drv
cp -a /var/log/xen/console /share/console 2>/dev/null
exit \$rc
CMD
chmod +x "$ART/share/cmd"

XENCMD="console=com1 com1=115200,8n1 dom0_mem=768M,max:768M dom0_max_vcpus=2 loglvl=all guest_loglvl=all"
LXCMD="console=hvc0 earlyprintk=xen root=/dev/vda rw init=/sbin/xt-init quiet"
echo "# booting Xen $XEN + dom0 (Debian's, its toolstack $DOM0) under qemu (TCG); serial log: $ART/serial.log"
start=$(date +%s)
# One host thread runs both vCPUs (BED_TCG=multi: one thread each): on a
# loaded host it is faster (docs/design.md, "The bed's emulator").  Debian
# 13's 6.12 kernels under the 4.20 bed corrupt their own state now and
# then, more often with two threads: dom0 oopsed in prepare_creds and
# kmem_cache_alloc, then panicked; a guest's xenbus read a bad message
# ("xenbus: error -22 while reading message") and never answered again;
# once dom0 took an int3 oops from its own code patching at boot.
# dom0's kernel can still die while it boots, before any test runs
# (Debian 12's 6.1 once hung, silent, after the PCI scan).  That is the
# emulator's, not devd's: boot again (at most twice), a dom0 not up after
# BOOT_LIMIT seconds being stopped first.  If dom0's kernel oopses or
# panics while the suite runs, the suite stops (lib.sh's dom0_check, or
# the panic) and the run is repeated once, the oops and the first run's
# failures printed.  Any other crash, or a second oops, is a failure like
# any other.
boot_watch() { # QEMU_PID
    local i
    for i in $(seq "${BOOT_LIMIT:-600}"); do
        grep -aq 'DOM0-READY' "$ART/serial.log" 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || return 0
        sleep 1
    done
    echo "# dom0 not up after ${BOOT_LIMIT:-600} s: stopping this boot"
    kill "$1" 2>/dev/null
}
# The first run's oops and failures, kept beside the second run's files.
oops_report() { # BOOT
    echo "# dom0's own kernel (Debian's) oopsed during the suite (boot $1): the run is repeated once"
    sed 's/^/#   /' "$ART/share/dom0-oops" 2>/dev/null
    # (dom0's kernel log as the suite saw it: the serial console is quiet)
    sed -n '/oopsed: the run ends here/,$p' "$ART/share/out" 2>/dev/null | grep '^#   ' | head -20
    grep -E '^not ok' "$ART/share/out" 2>/dev/null | sed 's/^/#   that run: /'
    cp "$ART/serial.log" "$ART/serial-oops.log"
    mkdir -p "$ART/oops-run"
    mv "$ART/share/out" "$ART/share/dom0-oops" "$ART/share/dom0-dmesg.log" "$ART/oops-run/" 2>/dev/null
    rm -rf "$ART/share/drv" "$ART/share/console" "$ART/share/rc"
}
reran=""
for boot in 1 2 3 4; do
    timeout "${BED_TIMEOUT:-3600}" qemu-system-x86_64 -accel "tcg,thread=${BED_TCG:-single}" -cpu qemu64 -m 3072 -smp 2 \
        -display none -serial stdio -monitor none -no-reboot \
        -kernel "$CACHE/boot/xen" -append "$XENCMD" \
        -initrd "$CACHE/boot/vmlinux $LXCMD,$CACHE/boot/initrd.img" \
        -drive file="$CACHE/rootfs.ext4",if=virtio,format=raw,snapshot=on \
        -drive file="$CACHE/rootfs.ext4",if=virtio,format=raw,snapshot=on \
        -drive file="$CACHE/rootfs.ext4",if=virtio,format=raw,snapshot=on \
        -virtfs local,path="$ART/share",mount_tag=xshare,security_model=none,id=xshare \
        </dev/null > "$ART/serial.log" 2>&1 &
    qpid=$!
    boot_watch "$qpid"
    wait "$qpid"
    qrc=$?
    if ! grep -aq 'DOM0-READY' "$ART/serial.log"; then
        echo "# dom0 died while booting (boot $boot): $(grep -aE -m1 'Oops|Kernel panic|BUG:' "$ART/serial.log")"
        cp "$ART/serial.log" "$ART/serial-boot$boot.log"
        [ "$boot" = 3 ] && break
        continue
    fi
    # A panic of dom0's kernel ends the suite before lib.sh's dom0_check
    # can see it: the same case as an oops that it saw.
    if [ ! -f "$ART/share/dom0-oops" ] && grep -aq 'Hardware Dom0 crashed' "$ART/serial.log"; then
        grep -aE 'BUG: |Oops: |RIP: |Kernel panic' "$ART/serial.log" | head -4 > "$ART/share/dom0-oops"
    fi
    [ -f "$ART/share/dom0-oops" ] && [ -z "$reran" ] || break
    oops_report "$boot"
    reran=1
done
echo "# qemu exited ($qrc) after $(( $(date +%s) - start )) s"

out=$ART/share/out
if [ ! -s "$out" ]; then
    echo "Bail out! the suite produced no output (qemu rc=$qrc)"
    tail -40 "$ART/serial.log"
    exit 1
fi
cat "$out"
rc=$(cat "$ART/share/rc" 2>/dev/null)
[ -n "$rc" ] || rc=1    # dom0 died before it could write its rc

# Which scenarios failed (the first word of each test's name).
echo "# scenario summary ($DEVD devd):"
for s in setup demo vbd vif qdisk 9pfs vbd3 vhd vbd3-hostile restart shutdown churn many slow-hotplug killed-scripts rebind api package bench bench-devd bench-vhd sanitizers; do
    p=$(grep -cE "^ok [0-9]+ - $s:" "$out"); f=$(grep -cE "^not ok [0-9]+ - $s:" "$out")
    [ $((p + f)) = 0 ] && continue
    [ "$f" = 0 ] && st=passes || st="FAILS ($f of $((p + f)) checks)"
    echo "#   $s: $st"
done

if [ "$rc" != 0 ] && [ "$DEVD" = ours ]; then
    echo "# ---- tail of the serial log"; tail -30 "$ART/serial.log" | sed 's/^/# /'
    echo "# ---- tail of xldevd.log"; tail -60 "$ART/share/drv/xldevd.log" 2>/dev/null | sed 's/^/# /'
    for c in "$ART"/share/console/guest-*.log; do
        [ -f "$c" ] || continue
        echo "# ---- tail of $(basename "$c")"; tail -15 "$c" | sed 's/^/# /'
    done
fi
# Stock devd is expected to fail some scenarios: that is the comparison.
[ "$DEVD" = stock ] && exit 0
exit "$rc"
