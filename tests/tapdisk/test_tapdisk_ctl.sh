#!/bin/sh
# tapdisk's control protocol end to end, without a hypervisor: td-ctl
# spawns a tapdisk, opens, lists, reads info and stats, closes, and the
# error answers come back as errors; once for each of tapdisk's loops
# (sleeping in io_uring, and in poll with TAPDISK_WAIT=poll).  TAP output.
set -u
B=${top_builddir:-.}
TD=$B/tools/tapdisk/tapdisk
CTL=$B/tools/tapdisk/td-ctl
T=$(mktemp -d)
trap 'kill $(cat $T/pid 2>/dev/null) 2>/dev/null; rm -rf "$T"' EXIT
S=$T/td.sock
n=0
fail=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
no() { n=$((n+1)); fail=$((fail+1)); echo "not ok $n - $1"; }
# Each command's output is kept in $T/out and $T/err for the next check.
run() { "$@" >$T/o 2>$T/e; r=$?; cp $T/o $T/out; cp $T/e $T/err; return $r; }
check() { d=$1; shift; if run "$@"; then ok "$d"; else no "$d"; sed 's/^/# /' $T/out $T/err; fi; }
checkfail() { d=$1; shift; if run "$@"; then no "$d"; else ok "$d"; fi; }
# gone PID: true once the process has exited (a zombie counts), looking
# for up to 30 s, however slow the host.
gone() {
    i=0
    while [ $i -lt 300 ]; do
        { test ! -e /proc/$1 || grep -q '^State:.*Z' /proc/$1/status; } 2>/dev/null && return 0
        sleep 0.1; i=$((i+1))
    done
    return 1
}

# One tapdisk's life; $WAIT is the environment it is spawned with and
# $W names it in the checks.
life() {
    rm -f $T/td.log
    truncate -s 8M $T/img
    # Spawned with a umask that would leave the socket open to everyone.
    check "spawn$W" sh -c "umask 000; env TAPDISK=$TD $WAIT $CTL spawn $S $T/td.log"
    check "its socket is 0600 whatever the umask" sh -c "test \"\$(stat -c %a $S)\" = 600"
    check "pid" $CTL -s $S pid
    cp $T/out $T/pid
    check "pid is a live tapdisk" sh -c "kill -0 \$(cat $T/pid) && grep -q tapdisk /proc/\$(cat $T/pid)/cmdline"
    check "open a raw image" $CTL -s $S open aio:$T/img
    check "open reports 16384 sectors of 512 bytes" grep -q "minor=0 sectors=16384 sector-size=512 info=0 features=0x" $T/out
    check "list shows it open" sh -c "$CTL -s $S list | grep -qx 'minor=0 state=open image=aio:$T/img'"
    check "disk info" sh -c "$CTL -s $S info 0 | grep -q '^sectors=16384 sector-size=512 info=0'"
    check "read-only open reports info=4" sh -c "$CTL -s $S open -r raw:$T/img | grep -q 'minor=1 .*info=4'"
    check "stats" sh -c "$CTL -s $S stats 0 | grep -qx 'reqs_read=0'"
    checkfail "qcow2 refused" $CTL -s $S open qcow2:$T/img
    check "qcow2 refusal says why" grep -q 'image format "qcow2" not supported (raw and vhd)' $T/err
    checkfail "a raw file opened as vhd refused" $CTL -s $S open vhd:$T/img
    check "the vhd refusal says why" grep -q 'no "conectix" cookie' $T/err
    checkfail "relative path refused" $CTL -s $S open aio:img
    checkfail "missing image refused" $CTL -s $S open aio:$T/nope
    check "missing image says why" grep -q "No such file" $T/err
    checkfail "info of an unknown minor" $CTL -s $S info 9
    checkfail "close of an unknown minor" $CTL -s $S close 9
    check "disconnect without a ring is idempotent" $CTL -s $S disconnect 0
    check "close minor 1" $CTL -s $S close 1
    check "close minor 0" $CTL -s $S close 0
    check "list is empty" sh -c "test -z \"\$($CTL -s $S list)\""
    # Garbage on the socket: tapdisk drops that client and keeps serving.
    printf 'garbage that is no message at all' > $T/junk
    check "junk sent" sh -c "python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(open(sys.argv[2],\"rb\").read()); print(s.recv(10))' $S $T/junk"
    check "still serving after junk" $CTL -s $S pid
    check "junk logged" grep -q "dropping a control client" $T/td.log
    # A client that is neither root nor tapdisk's user is dropped at once
    # (here the socket is opened up by hand to let one connect).
    if command -v setpriv >/dev/null && [ -x /usr/bin/python3 ] && [ "$(id -u)" = 0 ]; then
        chmod 711 $T; chmod 666 $S
        check "an unprivileged client connects" setpriv --reuid=65534 --regid=65534 --clear-groups \
            /usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5); print(s.recv(10))' $S
        check "and is refused" grep -q "refusing a control client of uid 65534" $T/td.log
        chmod 700 $T; chmod 600 $S
        check "root is still served" $CTL -s $S pid
    else
        n=$((n+1)); echo "ok $n - unprivileged client refused # SKIP needs root and setpriv"
    fi
    check "exit" $CTL -s $S exit
    p=$(cat $T/pid)
    check "gone after exit" gone $p
    check "its socket is gone too" sh -c "test ! -e $S"
    check "it said how it waits$W" grep -q "$1" $T/td.log
}

WAIT= W= life "waiting in"
if grep -q "waiting in io_uring" $T/td.log; then
    WAIT=TAPDISK_WAIT=poll W=" (poll)" life "waiting in poll (TAPDISK_WAIT=poll)"
else
    n=$((n+1)); echo "ok $n - the poll loop # SKIP io_uring unavailable here: it ran already"
fi
# A signal ends it as an EXIT does, whichever loop it sleeps in.
check "spawn for a signal" sh -c "env TAPDISK=$TD $CTL spawn $S $T/td.log"
check "pid" $CTL -s $S pid
p=$(cat $T/out)
kill -TERM $p
check "gone after SIGTERM" gone $p
check "it said why" grep -q "terminating on a signal" $T/td.log
echo "1..$n"
test $fail = 0
