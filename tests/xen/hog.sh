#!/bin/bash
# hog.sh CMD [ARG...]: runs CMD on a loaded host.  A busy loop (not
# niced) takes one of the host's CPUs for as long as CMD runs, as another
# job on a CI machine would: the bed must pass with it.  CMD's status.
hog() { while :; do :; done; }
hog &
HOG=$!
trap 'kill $HOG 2>/dev/null' EXIT
echo "# a CPU hog (pid $HOG) takes one of the host's $(nproc) CPUs while this runs: $*"
"$@"
