#!/bin/sh
# Runs apt-get or apt-cache against another Debian suite (e.g. trixie on a
# Debian 12 host) through a private apt state under ROOT, never touching the
# host's sources, lists or installed packages.  The archive is verified with
# the host's debian-archive-keyring (which holds every current release's key).
#   apt-suite.sh ROOT SUITE apt-get|apt-cache ARGS...
#   apt-suite.sh --mirror      (prints the mirror it uses)
# The mirror is the host's first Debian one (deb.debian.org if none).
set -eu
log() { echo "apt-suite: $*" >&2; }

mirror=$(sed -n 's/^URIs: *\(.*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 ~ /\/debian$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
[ "${1:-}" = --mirror ] && { echo "$mirror"; exit 0; }
root=${1:?usage: apt-suite.sh ROOT SUITE apt-get|apt-cache ARGS...}
suite=${2:?}
tool=${3:?}
shift 3
sec=$(echo "$mirror" | sed 's|/debian$|/debian-security|')
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$root/lists/partial" "$root/cache/archives/partial" "$root/etc/preferences.d" \
         "$root/etc/apt.conf.d" "$root/status.d"
list="$root/etc/sources.list"
cat > "$list.tmp" <<EOF
deb [signed-by=$keyring] $mirror $suite main
deb-src [signed-by=$keyring] $mirror $suite main
deb [signed-by=$keyring] $mirror $suite-updates main
deb-src [signed-by=$keyring] $mirror $suite-updates main
deb [signed-by=$keyring] $sec $suite-security main
deb-src [signed-by=$keyring] $sec $suite-security main
EOF
mv "$list.tmp" "$list"
: > "$root/status.d/status"

# An empty dpkg status: the host's installed packages play no part.
opts() {
    "$@" -o Dir::Etc::SourceList="$list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$root/etc/preferences.d" \
        -o Dir::Etc::Parts="$root/etc/apt.conf.d" \
        -o Dir::State::Lists="$root/lists" -o Dir::State::status="$root/status.d/status" \
        -o Dir::Cache="$root/cache" -o Debug::NoLocking=true
}

# The lists are fetched once a day at most.
stamp="$root/lists/.updated"
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
    log "updating the $suite lists from $mirror"
    opts apt-get -q update >&2 || { log "apt-get update for $suite failed"; exit 1; }
    touch "$stamp"
fi
opts "$tool" "$@"
