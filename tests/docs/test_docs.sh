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
# The README stays short: the two commands, and a link to every page of
# docs/ (where to go next).
readme_ok() {
    python3 - "$S" <<'PY'
import glob, os, re, sys
top = sys.argv[1]
text = open(top + '/README.md').read()
errs = []
lines = text.count('\n')
if lines > 120:
    errs.append('README.md has %d lines (at most 120: details belong in docs/)' % lines)
blocks = re.findall(r'^```sh\n(.*?)^```$', text, re.S | re.M)
cmds = [l.split('#')[0].strip() for b in blocks[:1] for l in b.splitlines() if l.strip()]
if cmds != ['./quickstart.sh', 'make -C build check check-xen']:
    errs.append('the first sh block is not the two commands: %r' % cmds)
for page in sorted(glob.glob(top + '/docs/*.md')):
    name = 'docs/' + os.path.basename(page)
    if '](%s)' % name not in text:
        errs.append('README.md does not link %s' % name)
if errs:
    sys.exit('\n'.join(errs))
print('%d lines, the two commands, every page of docs/ linked' % lines)
PY
}
check "the README: the two commands, every page of docs/ linked, at most 120 lines" readme_ok

# docs/testing.md has a row for every scenario the bed runs by default, and
# names no scenario the bed does not have.
scenarios_ok() {
    python3 - "$S" <<'PY'
import re, sys
top = sys.argv[1]
suite = open(top + '/tests/xen/suite/suite.sh').read()
m = re.search(r'^ALL_SCENARIOS="([^"]+)"$', suite, re.M)
if not m:
    sys.exit('no ALL_SCENARIOS line in tests/xen/suite/suite.sh')
want = m.group(1).split()
doc = open(top + '/docs/testing.md').read()
rows = re.findall(r'^\| `([a-z0-9-]+)` \|', doc, re.M)
missing = [s for s in want if s not in rows]
extra = [s for s in rows if s not in want]
if missing or extra:
    sys.exit('docs/testing.md: no row for %s; rows the bed does not run: %s' % (missing, extra))
print('%d scenarios, one row each' % len(want))
PY
}
check "docs/testing.md has one row per scenario of the bed" scenarios_ok

# Every figure in docs/performance.md says when and at which commit it was
# taken: each table is preceded by a "Measured YYYY-MM-DD at <commit>" line.
figures_dated() {
    python3 - "$S" <<'PY'
import re, sys
top = sys.argv[1]
text = open(top + '/docs/performance.md').read()
paras = re.split(r'\n\s*\n', text)
n = 0
last = None
for p in paras:
    m = re.search(r'Measured (\d{4}-\d\d-\d\d) at ([0-9a-f]{7,40})\b', p)
    if m:
        last = m.groups()
    if p.lstrip().startswith('|'):
        n += 1
        if not last:
            sys.exit('docs/performance.md: table %d has no "Measured DATE at COMMIT" before it' % n)
        last = None
if n == 0:
    sys.exit('docs/performance.md: no table')
print('%d tables, each dated with its commit' % n)
PY
}
check "docs/performance.md: every table says its date and commit" figures_dated
echo "1..$n"
[ "$bad" = 0 ]
