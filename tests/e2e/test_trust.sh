#!/usr/bin/env bash
# Producers cannot be lured (needs root, to run a squatter as another user):
# - another user binds the pipe name first (a plain listener that even
#   greets like a collector): sluice-producer refuses before sending a byte,
#   both when the socket file is that user's (checked before connecting)
#   and when the file is ours but the process serving it is not
#   (SO_PEERCRED, checked after connecting); the squatter receives 0 bytes;
# - --collector-user UID trusts that user: a real collector run as that
#   user gets the events (each backend);
# - a bad --collector-user is a usage error (exit 2).
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "skip: needs root to run a squatter as a second user"; exit 77
fi
OTHER_UID=$(id -u nobody 2>/dev/null) || { echo "skip: no user 'nobody' for a second uid"; exit 77; }
OTHER_GID=$(id -g nobody)
as_other() { setpriv --reuid "$OTHER_UID" --regid "$OTHER_GID" --clear-groups -- "$@"; }
as_other true || { echo "skip: setpriv cannot switch to uid $OTHER_UID"; exit 77; }
chmod 1777 "$WORK"   # a shared, sticky directory, like /tmp

# squat PATH COUNTFILE: as the other user, listens on PATH, greets every
# connection like a collector and counts every byte received; writes the
# total to COUNTFILE when terminated. Sets SQPID once it listens.
squat() {
  local path=$1 count=$2
  # exec: $! is then the python process itself, which SIGTERM reaches.
  ( exec setpriv --reuid "$OTHER_UID" --regid "$OTHER_GID" --clear-groups -- \
      /usr/bin/python3 - "$path" "$count" ) <<'PY' &
import os, signal, socket, sys, threading
path, countfile = sys.argv[1], sys.argv[2]
total = 0
lock = threading.Lock()
threads = []
def done(*_):
    # Every client has closed by now; let each connection's thread read
    # what is still queued on its socket, so the count is complete.
    for t in list(threads):
        t.join(2.0)
    with lock:
        with open(countfile + ".tmp", "w") as f:
            f.write("%d\n" % total)
        os.rename(countfile + ".tmp", countfile)
    os._exit(0)
signal.signal(signal.SIGTERM, done)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
open(countfile + ".ready", "w").close()
def serve(c):
    global total
    try:
        c.sendall(b"SLUICE/1 max=65536 id=1\0")
        while True:
            b = c.recv(65536)
            if not b:
                break
            with lock:
                total += len(b)
    except OSError:
        pass
while True:
    c, _ = s.accept()
    t = threading.Thread(target=serve, args=(c,), daemon=True)
    t.start()
    threads.append(t)
PY
  SQPID=$!
  for _ in $(seq 1 400); do
    [ -e "$count.ready" ] && return 0
    sleep 0.025
  done
  fail "squatter did not start"
}

# unsquat COUNTFILE: stops the squatter and sets SQCOUNT to its byte count.
# Not meant for $(...): a command substitution is a subshell, whose wait
# cannot wait for this shell's child, so the count file could be read
# before the squatter wrote it.
unsquat() {
  kill -TERM "$SQPID"
  wait "$SQPID" 2>/dev/null || true
  for _ in $(seq 1 400); do
    [ -e "$1" ] && break
    sleep 0.025
  done
  [ -e "$1" ] || fail "the squatter wrote no count to $1"
  SQCOUNT=$(cat "$1")
}

note "a squatter's socket file: refused before connecting"
squat "$WORK/CoreFxPipe_sq" "$WORK/sq.count"
[ "$(stat -c %u "$WORK/CoreFxPipe_sq")" = "$OTHER_UID" ] || fail "squatter socket not owned by $OTHER_UID"
rc=0
"$PRODUCER" --pipe sq --count 100 --connect-timeout 0 >"$WORK/sq.out" 2>"$WORK/sq.err" || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/sq.err" >&2; fail "producer exited $rc against a squatter, expected 1"; }
grep -q "served by another user" "$WORK/sq.err" || fail "unclear refusal: $(cat "$WORK/sq.err")"
grep -q -- "--collector-user" "$WORK/sq.err" || fail "refusal does not name the override: $(cat "$WORK/sq.err")"
unsquat "$WORK/sq.count"
[ "$SQCOUNT" = 0 ] || fail "the squatter received $SQCOUNT bytes"

note "our socket file, another user's process: refused by SO_PEERCRED"
rm -f "$WORK/sq.count" "$WORK/sq.count.ready"
squat "$WORK/CoreFxPipe_sq2" "$WORK/sq.count"
chown -h 0 "$WORK/CoreFxPipe_sq2"   # the file looks like ours
rc=0
"$PRODUCER" --pipe sq2 --count 100 --connect-timeout 0 >"$WORK/sq2.out" 2>"$WORK/sq2.err" || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/sq2.err" >&2; fail "producer exited $rc against a peer of uid $OTHER_UID, expected 1"; }
grep -q "served by another user" "$WORK/sq2.err" || fail "unclear refusal: $(cat "$WORK/sq2.err")"
# The override reaches this same listener: the check, not the listener,
# kept the bytes away above.
"$PRODUCER" --pipe sq2 --count 5 --connect-timeout 0 --collector-user "$OTHER_UID" >/dev/null 2>"$WORK/sq2b.err" ||
  fail "trusted producer failed: $(cat "$WORK/sq2b.err")"
unsquat "$WORK/sq.count"
[ "$SQCOUNT" -gt 0 ] || fail "the trusted listener received nothing"

for b in $(backends); do
  note "backend $b: a collector of uid $OTHER_UID, trusted with --collector-user"
  cap=$WORK/t-$b.sluice
  TMPDIR=$WORK as_other "$COLLECTOR" --pipe "t-$b" --out "$cap" --backend "$b" --exit-after 1 \
    >"$WORK/t-$b.out" 2>"$WORK/t-$b.err" &
  CPID=$!
  for _ in $(seq 1 400); do
    grep -q "listening on" "$WORK/t-$b.err" 2>/dev/null && break
    kill -0 "$CPID" 2>/dev/null || fail "collector exited at start: $(cat "$WORK/t-$b.err")"
    sleep 0.025
  done
  rc=0
  "$PRODUCER" --pipe "t-$b" --count 10 --connect-timeout 0 >/dev/null 2>"$WORK/t-$b.p1" || rc=$?
  [ "$rc" = 1 ] && grep -q "served by another user" "$WORK/t-$b.p1" ||
    fail "untrusted collector not refused (rc=$rc): $(cat "$WORK/t-$b.p1")"
  # The refused producer left nothing: the next one is the capture's only one.
  "$PRODUCER" --pipe "t-$b" --count 10 --connect-timeout 0 --collector-user "$OTHER_UID" >/dev/null ||
    fail "trusted producer failed"
  wait_collector "t-$b"
  expect_verify "$cap" "verify: producers=1 events=10 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
done

note "usage errors"
rc=0
"$PRODUCER" --pipe x --collector-user root --connect-timeout 0 2>"$WORK/u.err" || rc=$?
[ "$rc" = 2 ] || fail "--collector-user root exited $rc, expected 2"
grep -q "invalid value 'root' for --collector-user" "$WORK/u.err" || fail "unclear: $(cat "$WORK/u.err")"
echo "ok"
