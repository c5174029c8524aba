#!/bin/sh
# Installs what building and testing xl devd needs on Debian 12 or 13 (as root).
set -e
# libFuzzer's runtime comes with the release's default clang.
case $(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}") in
    trixie) CLANG_RT=libclang-rt-19-dev ;;
    *) CLANG_RT=libclang-rt-14-dev ;;
esac
PKGS="build-essential autoconf automake pkg-config patch quilt patchelf dpkg-dev
 acpica-tools python3 python3-dev uuid-dev libyajl-dev zlib1g-dev libncurses-dev
 xz-utils zstd libxen-dev libcmocka-dev liburing-dev
 qemu-system-x86 qemu-utils debootstrap busybox-static cpio e2fsprogs
 perl man-db systemd logrotate clang $CLANG_RT
 file lintian"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: need root to install:$missing" >&2
        exit 1
    fi
    echo "install-deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >&2
fi
