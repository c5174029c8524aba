# The one map from a Xen major.minor to the Debian release that ships it
# (sourced by configure's fetcher, the bed and the packager).  A Xen with
# no row has no Debian release of its own.
#   xen_debian_release MAJ.MIN   -> codename (bookworm), or fails
#   debian_number CODENAME       -> 12, or fails
# Xen   release   Debian
XEN_DEBIAN_MAP='4.17 bookworm 12
4.20 trixie 13'

xen_debian_release() {
    echo "$XEN_DEBIAN_MAP" | awk -v v="$1" '$1 == v { print $2; f = 1 } END { exit !f }'
}
debian_number() {
    echo "$XEN_DEBIAN_MAP" | awk -v r="$1" '$2 == r { print $3; f = 1 } END { exit !f }'
}
