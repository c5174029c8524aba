#!/bin/sh
# Obtain Debian's xen source package for Xen MAJ.MIN, unpacked under DESTDIR.
# Prints the path of the unpacked tree on stdout; everything else goes to stderr.
# The newest version in the archive may have no source (the security pocket
# often has none), so every candidate is tried, newest first.
set -u
majmin=${1:?usage: fetch-xen-source.sh MAJ.MIN DESTDIR}
dest=${2:?usage: fetch-xen-source.sh MAJ.MIN DESTDIR}
log() { echo "fetch-xen-source: $*" >&2; }

for d in "$dest"/xen-"$majmin".*; do
    if [ -f "$d/.xen-devd-version" ] && grep -q '^Debian xen ' "$d/.xen-devd-version"; then
        log "reusing $(cat "$d/.xen-devd-version") in $d"
        echo "$d"; exit 0
    fi
done

command -v dpkg-source >/dev/null || { log "dpkg-source missing (Debian package: dpkg-dev)"; exit 1; }

# The Debian release whose archive carries Xen MAJ.MIN.
. "$(dirname "$0")/xen-debian.sh"
suite=$(xen_debian_release "$majmin") || suite=""
# apt-cache/apt-get: the host's own, or a private one for another release.
APT_CACHE=apt-cache APT_GET=apt-get
versions() { $APT_CACHE showsrc xen 2>/dev/null | sed -n 's/^Version: //p' | grep "^$majmin\." ; }

host_suite=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
if [ -n "$suite" ] && [ "$suite" != "$host_suite" ]; then
    log "Xen $majmin is Debian $suite's: using a private apt state for $suite"
    here=$(cd "$(dirname "$0")" && pwd)
    mkdir -p "$dest"
    APT_CACHE="$here/apt-suite.sh $(cd "$dest" && pwd)/.apt-$suite $suite apt-cache"
    APT_GET="$here/apt-suite.sh $(cd "$dest" && pwd)/.apt-$suite $suite apt-get"
elif [ -z "$(versions)" ]; then
    if [ "$(id -u)" != 0 ]; then
        log "no deb-src entry for xen; enable deb-src in apt's sources, run apt-get update, or pass --with-xen-source"
        exit 1
    fi
    # Mirror every binary entry of apt's sources as a deb-src entry.
    f=/etc/apt/sources.list.d/xl-devd-src.sources
    log "enabling deb-src in $f"
    : > "$f.tmp"
    for s in /etc/apt/sources.list.d/*.sources; do
        [ -f "$s" ] && [ "$s" != "$f" ] || continue
        awk 'BEGIN{RS=""; ORS="\n\n"} /(^|\n)Types:[^\n]*deb([ \n]|$)/ && !/Enabled: *no/ {
                 sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$s" >> "$f.tmp"
    done
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list > /etc/apt/sources.list.d/xl-devd-src.list
    fi
    mv "$f.tmp" "$f"
    apt-get update -q >&2 || log "apt-get update failed"
fi

cands=$(versions | while read -r v; do echo "$v"; done)
[ -n "$cands" ] || { log "Debian's archive has no xen $majmin source"; exit 1; }
# newest first
sorted=""
for v in $cands; do
    ins=""; out=""; placed=0
    for s in $sorted; do
        if [ $placed = 0 ] && dpkg --compare-versions "$v" gt "$s"; then out="$out $v"; placed=1; fi
        out="$out $s"
    done
    [ $placed = 1 ] || out="$out $v"
    sorted=$out
done

mkdir -p "$dest"
for v in $sorted; do
    tmp=$(mktemp -d "$dest/.fetch.XXXXXX")
    log "trying xen=$v"
    if (cd "$tmp" && $APT_GET source -q "xen=$v" >&2 2>"$tmp/.err"); then
        tree=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'xen-*' | head -n1)
        if [ -n "$tree" ] && [ -f "$tree/xen/Makefile" ]; then
            final="$dest/$(basename "$tree")"
            rm -rf "$final"
            mv "$tree" "$final"
            echo "Debian xen $v" > "$final/.xen-devd-version"
            rm -rf "$tmp"
            log "using Debian xen source $v"
            echo "$final"
            exit 0
        fi
    fi
    log "xen=$v: source not available ($(grep -m1 -E '^E:' "$tmp/.err" 2>/dev/null || echo unpack failed))"
    rm -rf "$tmp"
done
log "no candidate version of xen $majmin could be downloaded"
exit 1
