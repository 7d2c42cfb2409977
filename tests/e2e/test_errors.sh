#!/usr/bin/env bash
# Errors a user can act on (issue 10): each message names the thing and the
# reason. --out a directory / a read-only file system, sluice-dump DIR, a
# socket path over 107 bytes (exit 1, the path and the limit), a stale
# socket (ECONNREFUSED, with the retry), a pipe that does not exist, the
# live status line fitted to the terminal, --duration with a fraction.
# (--out a socket or FIFO, /dev/null: test_capture_file.sh; --producer
# matching nothing: test_dump_filters.sh.)
source "$(dirname "$0")/lib.sh"
cd "$WORK"

# expect_err RC PATTERN CMD...: CMD exits RC and its stderr has PATTERN.
expect_err() {
  local want=$1 pat=$2 rc=0; shift 2
  "$@" >e.out 2>e.err || rc=$?
  [ "$rc" = "$want" ] || { cat e.err >&2; fail "$* exited $rc, want $want"; }
  grep -qF -- "$pat" e.err || { cat e.err >&2; fail "$*: message lacks '$pat'"; }
}

note "--out a directory"
mkdir dir
expect_err 1 "--out dir is a directory; name a capture file (for example dir/capture.sluice)" \
  "$COLLECTOR" --pipe d --out dir --duration 1
[ ! -e "$WORK/CoreFxPipe_d" ] || fail "bound the pipe for a directory --out"

note "--out on a read-only file system"
mkdir ro
if unshare -rm true 2>/dev/null; then
  rc=0
  unshare -rm sh -c 'mount -t tmpfs -o ro tmpfs ro && exec "$0" --pipe r --out ro/c.sluice --duration 1' \
    "$COLLECTOR" >/dev/null 2>ro.err || rc=$?
  [ "$rc" = 1 ] || { cat ro.err >&2; fail "read-only --out exited $rc, want 1"; }
  grep -qF "cannot create the capture file ro/c.sluice: the file system is read-only" ro.err ||
    { cat ro.err >&2; fail "read-only file system message"; }
else
  note "no user+mount namespace here: read-only file system not tested"
fi

note "--out in a directory that does not exist"
expect_err 1 "cannot create the capture file nodir/c.sluice: its directory does not exist" \
  "$COLLECTOR" --pipe nd --out nodir/c.sluice --duration 1
[ ! -e "$WORK/CoreFxPipe_nd" ] || fail "bound the pipe for an --out in a missing directory"

note "the lock file beside the socket is in the way (a directory, a symlink)"
mkdir "$WORK/CoreFxPipe_lk.lock"
expect_err 1 "the lock file $WORK/CoreFxPipe_lk.lock cannot be used" \
  "$COLLECTOR" --pipe lk --out lk.sluice --duration 1
rmdir "$WORK/CoreFxPipe_lk.lock"
ln -s /nonexistent "$WORK/CoreFxPipe_lk.lock"
expect_err 1 "the lock file $WORK/CoreFxPipe_lk.lock cannot be used" \
  "$COLLECTOR" --pipe lk --out lk.sluice --duration 1
rm "$WORK/CoreFxPipe_lk.lock"

note "a producer name longer than the collector's hello takes"
start_collector nm --pipe nm --out nm.sluice --max-frame 64 --exit-after 1
expect_err 1 "--name is 34 bytes, more than the collector on pipe 'nm' accepts (at most its max frame minus 32, and 255; nothing was sent)" \
  "$PRODUCER" --pipe nm --count 1 --size 8 --connect-timeout 0 --name 0123456789012345678901234567890123
"$PRODUCER" --pipe nm --count 1 --size 8 --connect-timeout 0 --name short >/dev/null || fail "short --name refused"
wait_collector nm
expect_verify nm.sluice "verify: producers=1 events=1 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

note "sluice-dump DIR"
expect_err 1 "cannot open dir: is a directory" "$DUMP" dir
expect_err 1 "cannot open dir: is a directory" "$DUMP" dir --verify

note "a socket path over 107 bytes: exit 1, the path and the limit"
long=$(printf 'n%.0s' $(seq 1 120))
path="$WORK/CoreFxPipe_$long"
expect_err 1 "the socket path $path is ${#path} bytes, over the system's limit of 107 bytes" \
  "$COLLECTOR" --pipe "$long" --out long.sluice --duration 1
[ ! -e long.sluice ] || fail "a capture was left behind by a collector that never started"
expect_err 1 "($path): the socket path is ${#path} bytes, over the system's limit of 107 bytes" "$PRODUCER" --pipe "$long" --count 1 --connect-timeout 0

note "a stale socket: nobody listening, and how long it retried"
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$WORK/CoreFxPipe_stale"
expect_err 1 "cannot connect to pipe 'stale' ($WORK/CoreFxPipe_stale): nobody is listening on it (a stale socket left by a collector that is gone) (kept retrying for 300 ms, --connect-timeout)" \
  "$PRODUCER" --pipe stale --count 1 --connect-timeout 300
expect_err 1 "(tried once, --connect-timeout 0)" \
  "$PRODUCER" --pipe stale --count 1 --connect-timeout 0
grep -qF "is a collector running with --pipe stale?" e.err || fail "no hint at --pipe"
note "no such pipe"
expect_err 1 "cannot connect to pipe 'none' ($WORK/CoreFxPipe_none): no such pipe (kept retrying for 200 ms, --connect-timeout)" \
  "$PRODUCER" --pipe none --count 1 --connect-timeout 200

note "--duration takes a fraction; a bad one says what it wants"
"$COLLECTOR" --pipe f --out frac.sluice --duration 0.5 >frac.out 2>frac.err ||
  { cat frac.err >&2; fail "--duration 0.5 refused"; }
grep -q '^collector: producers=0 ' frac.out || fail "--duration 0.5: no summary"
expect_err 2 "--duration: '2.5x' is not a number of seconds (like 10 or 2.5" \
  "$COLLECTOR" --pipe f2 --out frac2.sluice --duration 2.5x

note "the live status line fits the terminal (drops fields from the right)"
if command -v script >/dev/null; then
  for cols in 60 40; do
    rm -f st.sluice
    script -qfc "env COLUMNS=$cols '$COLLECTOR' --pipe st --out st.sluice --stats 1 --duration 2.5" st.tty >/dev/null </dev/null
    # Each refresh is "\r\e[K" + the line; the longest must leave the
    # last column free, so the terminal never wraps it.
    lines=$(tr '\r' '\n' <st.tty | sed 's/\x1b\[K//g' | grep '^collector: events/s=' || true)
    [ -n "$lines" ] || { cat -A st.tty >&2; fail "no live status line at $cols columns"; }
    longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' <<<"$lines")
    [ "$longest" -lt "$cols" ] || { echo "$lines" >&2; fail "status line of $longest characters on $cols columns"; }
  done
else
  note "no script(1): status line width not tested"
fi
echo ok
