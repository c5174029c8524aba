#!/bin/sh
# The main job on a fresh Debian 12 machine: install the build dependencies,
# fetch Debian's Xen source, build the patched libxenlight + xl into build/,
# and run the demo.  Run as root (apt-get).
set -e
cd "$(dirname "$0")"
sh scripts/install-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure "$@"
make -j"$(nproc)"
make demo
