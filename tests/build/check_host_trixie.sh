#!/bin/sh
# make check-host-trixie: a Debian 13 user's build, proven rather than
# assumed.  In a Debian 13 chroot made with debootstrap (gcc 14 and its
# newer warnings, Debian 13's libxen-dev 4.20) it runs the README's build
# from a copy of the source tree: install-deps.sh, configure (which picks
# the Xen 4.20 flavour itself), make, make check, make deb.  Prints TAP.
# Debian's trixie xen source is not always downloadable: XEN_TARBALL=FILE
# (with its SHA256SUMS beside it) is copied in and given to configure.
# JOBS=N: make's jobs (default: the host's CPUs).
#   [XEN_TARBALL=FILE] [JOBS=N] check_host_trixie.sh BUILDDIR SRCDIR
set -u
B=$1 S=$2
root=$B/trixie-host
log=$B/trixie-host.log
mirror=$("$S/scripts/apt-suite.sh" --mirror)
n=0 bad=0
step() { # step DESCRIPTION COMMAND...: one TAP line, the log's tail on failure
    n=$((n + 1)); d=$1; shift
    t0=$(date +%s)
    if "$@" >"$log" 2>&1; then echo "ok $n - trixie host: $d ($(( $(date +%s) - t0 )) s)"
    else echo "not ok $n - trixie host: $d"; tail -n 25 "$log" | sed 's/^/# /'; bad=$((bad + 1)); fi
}
in_root() { chroot "$root" /bin/sh -c "$1"; }
mounted=""
cleanup() { for m in $mounted; do umount -l "$root/$m" 2>/dev/null; done; }
trap cleanup EXIT

if [ ! -f "$root/.xd-ready" ]; then
    rm -rf "$root"
    step "debootstrap a Debian 13 chroot" debootstrap --variant=minbase trixie "$root" "$mirror" ||
        { echo "1..$n"; exit 1; }
    touch "$root/.xd-ready"
fi
for m in proc dev; do
    case $m in proc) mount -t proc proc "$root/proc" ;; dev) mount --bind /dev "$root/dev" ;; esac &&
        mounted="$m $mounted"
done
rm -rf "$root/src"; mkdir -p "$root/src"
tar -C "$S" --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . | tar -C "$root/src" -xf -

xen_src_opt=""
if [ -n "${XEN_TARBALL:-}" ]; then
    mkdir -p "$root/src/xen-tarball"
    cp "$XEN_TARBALL" "$root/src/xen-tarball/" &&
        { ! [ -f "$(dirname "$XEN_TARBALL")/SHA256SUMS" ] ||
          cp "$(dirname "$XEN_TARBALL")/SHA256SUMS" "$root/src/xen-tarball/"; } ||
        { echo "Bail out! cannot copy $XEN_TARBALL into the chroot"; exit 1; }
    xen_src_opt="--with-xen-tarball=/src/xen-tarball/$(basename "$XEN_TARBALL")"
fi

step "install-deps.sh installs what the build needs" in_root "cd /src && sh scripts/install-deps.sh"
in_root "gcc --version | head -n1" | sed 's/^/# /'
step "configure picks the Xen series and gets its source" \
    in_root "cd /src && autoreconf -fi && mkdir -p build && cd build && ../configure $xen_src_opt"
sed -n 's/^XEN_MAJMIN = /# building for Xen /p' "$root/src/build/Makefile" 2>/dev/null
step "make (Xen's tools and ours, gcc 14, -Werror)" in_root "cd /src/build && make -j${JOBS:-$(nproc)}"
step "make check (unit tests, build checks)" in_root "cd /src/build && make check"
step "make deb DEB_RELEASE=trixie (lintian of Debian 13 clean)" \
    in_root "cd /src/build && make deb DEB_RELEASE=trixie"
echo "1..$n"
[ "$bad" = 0 ]
