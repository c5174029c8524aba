#!/bin/sh
# Unpack an upstream Xen source tarball under DESTDIR after checking its
# SHA256: the one given, or the file's line in a SHA256SUMS beside it.
# Prints the path of the unpacked tree on stdout; everything else goes to
# stderr.  A tree already unpacked from the same checksum is reused.
set -u
usage="usage: unpack-xen-tarball.sh FILE SHA256|'' DESTDIR"
file=${1:?$usage}
want=${2?$usage}
dest=${3:?$usage}
log() { echo "unpack-xen-tarball: $*" >&2; }

[ -f "$file" ] || { log "$file: no such file"; exit 1; }
base=$(basename "$file")
if [ -z "$want" ]; then
    sums="$(dirname "$file")/SHA256SUMS"
    [ -f "$sums" ] || {
        log "no SHA256 for $base: give --with-xen-tarball-sha256=HEX or put a SHA256SUMS beside it"
        exit 1; }
    want=$(awk -v f="$base" '{ n = $2; sub(/^\*/, "", n) } n == f { print $1; exit }' "$sums")
    [ -n "$want" ] || { log "$sums has no line for $base"; exit 1; }
fi
case "$want" in
    *[!0-9a-fA-F]*|"") log "not a SHA256: $want"; exit 1 ;;
esac
[ ${#want} = 64 ] || { log "not a SHA256 (64 hex digits): $want"; exit 1; }
want=$(echo "$want" | tr 'A-F' 'a-f')

mark="upstream $base sha256 $want"
for d in "$dest"/xen-*; do
    if [ -f "$d/.xen-devd-version" ] && [ "$(cat "$d/.xen-devd-version")" = "$mark" ]; then
        log "reusing $base in $d"
        echo "$d"; exit 0
    fi
done

got=$(sha256sum "$file" | cut -d' ' -f1)
[ "$got" = "$want" ] || { log "$base: SHA256 is $got, expected $want"; exit 1; }

mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.unpack.XXXXXX")
if ! tar -xf "$file" -C "$tmp"; then
    log "$base: tar failed"; rm -rf "$tmp"; exit 1
fi
tree=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n1)
if [ -z "$tree" ] || [ ! -f "$tree/xen/Makefile" ]; then
    log "$base does not unpack to a Xen source tree"; rm -rf "$tmp"; exit 1
fi
final="$dest/$(basename "$tree")"
rm -rf "$final"
mv "$tree" "$final"
rm -rf "$tmp"
echo "$mark" > "$final/.xen-devd-version"
log "using $base (sha256 $want)"
echo "$final"
