#!/bin/sh
# Operators' files: every message in the troubleshooting guide, the guide's
# configs identical to the bed's, the man page renders, the service files
# are accepted.  TAP lines; exits non-zero on a failure.
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
n=0 bad=0
check() {
    n=$((n + 1)); desc=$1; shift
    if out=$("$@" 2>&1); then echo "ok $n - $desc"
    else echo "not ok $n - $desc"; echo "$out" | sed 's/^/# /'; bad=$((bad + 1)); fi
}
S=$top_srcdir

check "every error message of devd is in the troubleshooting guide" \
    python3 "$S/tests/docs/error_strings.py" --check "$S/docs/driver-domains.md" \
        "$S"/tools/libxl/libxl_devd*.c "$S"/xl/xl_devd*.c \
        "$S"/tools/tapdisk/tapdisk.c "$S"/tools/tapdisk/td-ctl.c

# ```cfg PATH blocks in the guide must be PATH, byte for byte.
guide_configs() {
    python3 - "$S" <<'PY'
import re, sys
top = sys.argv[1]
text = open(top + '/docs/driver-domains.md').read()
blocks = re.findall(r'^```cfg (\S+)\n(.*?)^```$', text, re.S | re.M)
if len(blocks) < 2:
    sys.exit('fewer than 2 config blocks in the guide')
for path, body in blocks:
    if open(top + '/' + path).read() != body:
        sys.exit('docs/driver-domains.md: the block for %s differs from the file' % path)
    print('same:', path)
PY
}
check "the guide's configs are the bed's configs" guide_configs

check "man -l renders the man page" \
    sh -c "man -l '$top_builddir/docs/man/xl-devd.1' 2>&1 | grep -q 'xl-devd - serve the backends'"

unit_ok() {
    d=$(mktemp -d)
    sed "s|@sbindir@|$top_builddir/xen-build/tools/xl|" "$S/service/xl-devd.service.in" > "$d/xl-devd.service"
    out=$(systemd-analyze verify --man=no "$d/xl-devd.service" 2>&1); rc=$?
    rm -rf "$d"
    [ $rc = 0 ] && [ -z "$out" ] || { echo "$out"; return 1; }
}
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify accepts the unit (no warnings)" unit_ok
else
    n=$((n + 1)); echo "ok $n - systemd unit # SKIP systemd-analyze not installed"
fi
check "the sysvinit script parses" sh -n "$S/service/xl-devd.init.in"
if command -v logrotate >/dev/null; then
    check "logrotate accepts the snippet" logrotate -d "$S/service/xl-devd.logrotate"
fi
echo "1..$n"
[ "$bad" = 0 ]
