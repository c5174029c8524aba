#!/bin/sh
# make deb: builds xl-devd_<version>_amd64.deb for a Debian release from the
# build tree.  Everything runnable stays in its own prefix, /opt/xl-devd
# (xl, libxenlight with the listener, tapdisk), beside Debian's
# xen-utils and never touching them; what other programs read goes where
# they read it: the systemd unit, the init script, the logrotate snippet,
# the man page, the docs, and /usr/sbin/xl-devd (= xl devd).
#   mkdeb.sh BUILDDIR SRCDIR VERSION RELEASE OUTDIR
set -eu
B=$1 S=$2 VERSION=$3 REL=$4 OUT=$5
. "$S/scripts/xen-debian.sh"
n=$(debian_number "$REL") || { echo "mkdeb: release $REL: not one of: $(echo "$XEN_DEBIAN_MAP" | awk '{ printf "%s ", $2 }')" >&2; exit 1; }
debrel=deb$n
# Debian 13 moved the units to /usr (merged /usr).
if [ "$n" -ge 13 ]; then unitdir=/usr/lib/systemd/system; else unitdir=/lib/systemd/system; fi
P=/opt/xl-devd
MAINT=${DEB_MAINTAINER:-xl-devd developers <xl-devd@localhost>}
DEBVER=$VERSION-1~$debrel
work=$B/deb-$REL
pkg=$work/debian/xl-devd
rm -rf "$work"
mkdir -p "$pkg"
# The flavour of REL's own Xen, built on REL, uses REL's Xen libraries
# (dpkg-shlibdeps below names their packages) and ships only libxenlight;
# any other ships every Xen library it was built with.
majmin=$(sed -n 's/^XEN_MAJMIN = //p' "$B/Makefile")
own=$(sed -n 's/^XEN_OWN_LIBS = //p' "$B/Makefile")
[ "$(xen_debian_release "$majmin" 2>/dev/null)" = "$REL" ] || own=yes
make -s -C "$B" install prefix=$P DESTDIR="$pkg" XEN_OWN_LIBS="$own" >"$work.install.log" 2>&1 ||
    { tail -n 20 "$work.install.log" >&2; exit 1; }

# Operators' files, where systemd, init, logrotate and man read them.
mv_to() { mkdir -p "$pkg$(dirname "$2")"; mv "$pkg$1" "$pkg$2"; }
mv_to $P/lib/systemd/system/xl-devd.service $unitdir/xl-devd.service
mv_to $P/etc/init.d/xl-devd /etc/init.d/xl-devd
mv_to $P/etc/logrotate.d/xl-devd /etc/logrotate.d/xl-devd
mkdir -p "$pkg/usr/share/man/man1"
gzip -9n -c "$pkg$P/share/man/man1/xl-devd.1" > "$pkg/usr/share/man/man1/xl-devd.1.gz"
doc=/usr/share/doc/xl-devd
mv_to $P/share/doc/xl-devd $doc
rm -rf "$pkg$P/share" "$pkg$P/etc" "$pkg$P/lib/systemd"
mkdir -p "$pkg/usr/sbin"
cat > "$pkg/usr/sbin/xl-devd" <<EOF
#!/bin/sh
# xl devd from the xl-devd package (Debian's own xl is not used).
exec $P/sbin/xl devd "\$@"
EOF
chmod 755 "$pkg/usr/sbin/xl-devd"
cp "$S/scripts/deb/copyright" "$pkg$doc/copyright"
sed -e "s/@VERSION@/$DEBVER/" -e "s/@RELEASE@/$REL/" -e "s|@MAINTAINER@|$MAINT|" \
    -e "s/@DATE@/$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$S" log -1 --format=%ct 2>/dev/null || date +%s)}")/" \
    "$S/scripts/deb/changelog.in" | gzip -9n > "$pkg$doc/changelog.Debian.gz"
mkdir -p "$pkg/usr/share/lintian/overrides"
cp "$S/scripts/deb/lintian-overrides" "$pkg/usr/share/lintian/overrides/xl-devd"
find "$pkg$doc" -name '*.md' -size +4k -exec gzip -9n {} \;
find "$pkg$P/lib/xl-devd" -type f -name 'lib*.so*' -exec chmod 644 {} +
# Everything runnable finds its libraries in the private directory.
elfs=$(find "$pkg$P" -type f -exec sh -c 'file -b "$1" | grep -q "^ELF"' _ {} \; -print)
for f in $elfs; do
    patchelf --set-rpath $P/lib/xl-devd "$f"
    # (A sanitizer build keeps its symbols for the reports.)
    [ -e "$pkg$P/sanitized" ] || strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
done

# Control files; dependencies from the ELF files' needs.
mkdir -p "$pkg/DEBIAN"
for f in postinst prerm postrm; do install -m 755 "$S/scripts/deb/$f" "$pkg/DEBIAN/$f"; done
printf '/etc/init.d/xl-devd\n/etc/logrotate.d/xl-devd\n' > "$pkg/DEBIAN/conffiles"
cp "$S/scripts/deb/control" "$work/debian/control"
(cd "$work" && dpkg-shlibdeps -O -l"$pkg$P/lib/xl-devd" $elfs 2>"$work/shlibdeps.log") > "$work/substvars" ||
    { cat "$work/shlibdeps.log" >&2; exit 1; }
shdeps=$(sed -n 's/^shlibs:Depends=//p' "$work/substvars")
# Debian's Xen libraries ask for at least the version installed where the
# package is built (their shlibs); libxenlight was compiled against the Xen
# source's own, so no Xen library floor is set above that source's version
# (a driver domain on the release's libraries need not be newer than it).
srcver=$(sed -n 's/^XEN_SOURCE_VERSION = //p' "$B/Makefile" |
    sed -n 's/^Debian xen \(.*\)-[^-]*$/\1/p; s/^upstream xen-\([0-9.]*\)\.tar.*/\1/p')
if [ -n "$srcver" ]; then
    shdeps=$(echo "$shdeps" | tr ',' '\n' | sed 's/^ *//' | while read -r dep; do
        pkgname=${dep%% *}; v=$(echo "$dep" | sed -n 's/.*(>= \(.*\))$/\1/p')
        case $pkgname in libxen*|libxlutil*)
            if [ -n "$v" ] && dpkg --compare-versions "$v" gt "$srcver"; then dep="$pkgname (>= $srcver)"; fi ;;
        esac
        echo "$dep"
    done | paste -sd, | sed 's/,/, /g')
fi
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
{
    echo "Package: xl-devd"
    echo "Version: $DEBVER"
    echo "Architecture: amd64"
    echo "Maintainer: $MAINT"
    echo "Installed-Size: $size"
    echo "Depends: $shdeps, xen-utils-common, xenstore-utils"
    sed -n '/^Package:/,$p' "$S/scripts/deb/control" | grep -vE '^(Package|Architecture|Depends):'
} > "$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's|  \./|  |') > "$pkg/DEBIAN/md5sums"
mkdir -p "$OUT"
deb=$OUT/xl-devd_${DEBVER}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
