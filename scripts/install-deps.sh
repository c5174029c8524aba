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

# The bed's emulator is QEMU 10 (docs/design.md, "The bed's emulator": a
# fifth quicker than Debian 12's 7.2 on a loaded host).  Debian 12 has it
# in bookworm-backports: installed from there through a sources list of
# our own, the system's apt configuration left as it is.
codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
qemu=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
if [ "$codename" = bookworm ] && ! dpkg --compare-versions "${qemu:-0}" ge 1:10; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: need root to install QEMU 10 from bookworm-backports" >&2
        exit 1
    fi
    mirror=$(sh "$(dirname "$0")/apt-suite.sh" --mirror)
    d=$(mktemp -d)
    mkdir -p "$d/parts" "$d/lists/partial"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" > "$d/parts/bpo.sources"
    o="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$d/parts -o Dir::State::Lists=$d/lists"
    echo "install-deps: installing QEMU 10 (qemu-system-x86) from bookworm-backports" >&2
    # shellcheck disable=SC2086
    if apt-get $o update -q >&2 &&
        apt-get $o install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86 >&2; then
        rc=0
    else
        rc=$?
    fi
    rm -rf "$d"
    [ $rc = 0 ] || exit $rc
fi
