#!/bin/sh
# gcov line coverage of the listener core by its unit tests (no Xen):
# test_devd_core is built again with --coverage in $1/coverage and run; the
# core's files must each have at least MIN% of their lines run.
# Usage: coverage.sh BUILDDIR SRCDIR
set -e
B=$1/coverage S=$2 MIN=${COVERAGE_MIN:-80}
CORE="libxl_devd.c libxl_devd_op.c libxl_devd_xs.c libxl_devd_backend.c"
rm -rf "$B" && mkdir -p "$B" && cd "$B"
srcs="$S/tests/unit/test_devd_core.c $S/tests/unit/fake_libxl.c"
for f in $CORE libxl_devd_unserved.c devd_table.c devd_parse.c devd_policy.c; do
    srcs="$srcs $S/tools/libxl/$f"
done
for f in $srcs; do
    ${CC:-cc} -std=gnu11 -O0 -g --coverage -Wall -Wextra -Werror -Wno-unused-parameter \
        -I"$S/tests/unit/fakelibxl" -I"$S/tools/libxl" -I"$S/tools/tapdisk" \
        -I"$S/tests/unit" -c "$f" -o "$(basename "$f" .c).o"
done
${CC:-cc} --coverage -o test_devd_core ./*.o -lcmocka
./test_devd_core >test.log 2>&1 || { cat test.log; exit 1; }
bad=0
for f in $CORE; do
    pct=$(gcov -n -o . "$(basename "$f" .c).o" 2>/dev/null |
          awk -v f="$f" '$0 ~ "^File .*/"f"'"'"'$" { getline; sub(/^Lines executed:/, ""); print; exit }')
    n=${pct%%%*}
    printf '%-24s %s\n' "$f" "${pct:-no data}"
    [ -n "$pct" ] && awk -v n="$n" -v m="$MIN" 'BEGIN { exit !(n >= m) }' || bad=1
done
[ $bad = 0 ] && echo "coverage: every core file has at least $MIN% of its lines run" ||
    { echo "coverage: below $MIN%"; exit 1; }
