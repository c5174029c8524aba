#!/bin/bash
# Builds the real-Xen bed's images from Debian packages, cached in CACHE:
#   boot/xen.gz-less ELF, boot/vmlinux, boot/initrd.img, rootfs/ (debootstrap)
# and rootfs.ext4 = rootfs + this project's install tree (STAGE) + the bed's
# scripts.  The base is rebuilt when this script changes, the overlay
# whenever its inputs change.
#   XEN=4.17|4.20 mkimage.sh CACHE STAGE SRCDIR
# STAGE "-" builds the base only (CI makes the 4.20 bed's beside the 4.17
# bed, on the CPU its other suites load).
# Xen 4.17 images are Debian 12's, Xen 4.20 images Debian 13's (fetched
# through a private apt state on a Debian 12 host: scripts/apt-suite.sh).
set -euo pipefail
CACHE=$1 STAGE=$2 SRC=$3
XEN=${XEN:-4.17}
. "$SRC/scripts/xen-debian.sh"
REL=$(xen_debian_release "$XEN") || { echo "mkimage: no Debian release for Xen $XEN" >&2; exit 1; }
BED=$SRC/tests/xen
PKGS=xen-utils-$XEN,xenstore-utils,iproute2,kmod,bridge-utils,procps,qemu-system-xen,qemu-utils,liburing2,fio,libasan8,libubsan1,init-system-helpers
mkdir -p "$CACHE"
cd "$CACHE"
log() { echo "mkimage: $*" >&2; }
# apt-get/apt-cache of the image's release: the host's own, or a private one.
host_rel=$(. /etc/os-release; echo "${VERSION_CODENAME:-}")
apt_rel() {
    if [ "$REL" = "$host_rel" ]; then "$@"
    else "$SRC/scripts/apt-suite.sh" "$CACHE/apt-$REL" "$REL" "$@"; fi
}

base_key=$( (sha256sum "$0"; echo "$XEN") | sha256sum | cut -c1-16)
if [ "$(cat base.stamp 2>/dev/null)" != "$base_key" ]; then
    log "building the base image (Debian packages; about 2 minutes)"
    rm -rf debs boot rootfs initrd-root base.stamp
    # The kernel ABI that linux-image-amd64 points at today.
    K=$(apt_rel apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -1)
    [ -n "$K" ] || { log "cannot resolve linux-image-amd64"; exit 1; }
    MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    [ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
    mkdir -p debs boot
    (cd debs && apt_rel apt-get download "xen-hypervisor-$XEN-amd64" "linux-image-$K" >&2)
    dpkg -x debs/xen-hypervisor-$XEN-amd64_*.deb debs/x
    dpkg -x "debs/linux-image-${K}_"*.deb debs/k
    gunzip -c debs/x/boot/xen-$XEN-amd64.gz > boot/xen   # multiboot ELF for qemu -kernel
    # An uncompressed vmlinux builds PV domains much faster under TCG.
    # (Debian 12 compresses it with xz, Debian 13 with zstd.)
    for z in '\xfd7zXZ\x00:xz' '\x28\xb5\x2f\xfd:zstd'; do
        off=$(LC_ALL=C grep -aobP "${z%:*}" "debs/k/boot/vmlinuz-$K" | head -1 | cut -d: -f1) || true
        [ -n "$off" ] || continue
        tail -c +$((off + 1)) "debs/k/boot/vmlinuz-$K" | ${z#*:} -dc 2>/dev/null > boot/vmlinux || true
        [ -s boot/vmlinux ] && break
    done
    [ -s boot/vmlinux ] || { log "cannot unpack the kernel"; exit 1; }
    debootstrap --variant=minbase --include=$PKGS $REL rootfs "$MIRROR" >&2
    # What the package scenario reads our files with (systemctl, man,
    # logrotate; systemd is not the image's init); installed after the base
    # (in Debian 13, logrotate's cron-daemon-common needs a configured
    # systemd, which debootstrap's first pass does not give it).
    chroot rootfs apt-get update -q >&2
    chroot rootfs apt-get install -y -q --no-install-recommends systemd man-db logrotate >&2
    # Copy modules (dpkg -x into a usrmerged root would replace /lib).
    mkdir -p rootfs/usr/lib/modules
    cp -a "$(ls -d debs/k/lib/modules/$K debs/k/usr/lib/modules/$K 2>/dev/null | head -1)" rootfs/usr/lib/modules/
    M=rootfs/usr/lib/modules/$K/kernel
    rm -rf $M/drivers/gpu $M/sound $M/drivers/media $M/drivers/net/wireless \
        $M/drivers/infiniband $M/drivers/staging $M/net/wireless $M/net/mac80211 \
        $M/drivers/bluetooth $M/net/bluetooth $M/drivers/iio $M/drivers/hid \
        $M/drivers/input $M/drivers/usb
    chroot rootfs /sbin/depmod "$K"
    cp /bin/busybox rootfs/bin/busybox
    rm -rf rootfs/var/cache/apt/archives/*.deb rootfs/var/lib/apt/lists/*
    # initramfs: busybox + what mounts an ext4 root from virtio or xen-blkfront
    mkdir -p initrd-root/{bin,dev,proc,sys,newroot}
    cp /bin/busybox initrd-root/bin/
    for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
             virtio_blk xen-blkfront crc16 mbcache jbd2 ext4 crc32c_generic; do
        f=$(grep -oE "^[^:]*/$m\.ko[^:]*" "rootfs/lib/modules/$K/modules.dep" | head -1) || true
        [ -n "$f" ] || continue     # built in (Debian 13's kernel has most)
        mkdir -p "initrd-root/lib/modules/$K/$(dirname "$f")"
        # busybox's modprobe takes plain .ko: Debian 13's are xz-compressed.
        case $f in
            *.xz) xz -dc "rootfs/lib/modules/$K/$f" > "initrd-root/lib/modules/$K/${f%.xz}" ;;
            *) cp "rootfs/lib/modules/$K/$f" "initrd-root/lib/modules/$K/$f" ;;
        esac
    done
    cp rootfs/lib/modules/$K/modules.{dep,alias,builtin} "initrd-root/lib/modules/$K/"
    sed -i 's/\.ko\.xz/.ko/g' "initrd-root/lib/modules/$K/modules.dep"
    rm -rf debs
    echo "$base_key" > base.stamp
fi
[ "$STAGE" = - ] && { log "base ready: $CACHE"; exit 0; }

# Overlay: the bed's scripts and our install tree, then the ext4 image.
cp "$BED/init/initrd-init" initrd-root/init; chmod +x initrd-root/init
(cd initrd-root && find . | cpio -o -H newc 2>/dev/null | gzip -1) > boot/initrd.img
install -m 755 "$BED/init/xt-init" rootfs/sbin/xt-init
install -m 755 "$BED/init/devd-ctl" rootfs/usr/local/bin/devd-ctl
for f in "$BED"/init/slow-*; do       # the bed's slow hotplug scripts
    install -D -m 755 "$f" "rootfs/etc/xen/scripts/xt-$(basename "$f")"
done
mkdir -p rootfs/etc/xen/bed
cp "$BED/cfg/drv.cfg" "$BED/cfg/guest.cfg" "$BED/suite/lib.sh" "$BED/suite/bench-devd.sh" rootfs/etc/xen/bed/
install -m 755 "$BED/suite/suite.sh" rootfs/etc/xen/bed/suite.sh
# Our devd from its package (the one in STAGE), in place of the last run's;
# make bench's probes (STAGE/usr/local) beside it.  No service starts in
# the chroot (policy-rc.d), as in any image build.
printf '#!/bin/sh\nexit 101\n' > rootfs/usr/sbin/policy-rc.d; chmod 755 rootfs/usr/sbin/policy-rc.d
chroot rootfs dpkg --purge xl-devd >/dev/null 2>&1 || true
rm -rf rootfs/opt/xl-devd rootfs/tmp/*.deb
[ -d "$STAGE/usr" ] && cp -a "$STAGE/usr/." rootfs/usr/
cp "$STAGE"/xl-devd_*.deb rootfs/tmp/
chroot rootfs apt-get install -y -q /tmp/"$(basename "$STAGE"/xl-devd_*.deb)" >&2 ||
    { log "installing the xl-devd package failed"; exit 1; }
rm -f rootfs/usr/sbin/policy-rc.d rootfs/tmp/*.deb
cp boot/vmlinux boot/initrd.img rootfs/boot/
rm -f rootfs.ext4.tmp
truncate -s 1536M rootfs.ext4.tmp
mkfs.ext4 -q -F -L xtroot -d rootfs rootfs.ext4.tmp
mv rootfs.ext4.tmp rootfs.ext4
log "image ready: $CACHE/rootfs.ext4"
