#!/usr/bin/env bash
# Access control on Linux (needs root, to run clients as another user):
# - by default the socket is 0600, so another user cannot even connect;
# - --group G makes it 0660 and owned by G (set before listen()), so a
#   member of G can connect; the connect record holds the peer's pid and
#   uid from SO_PEERCRED, and sluice-dump shows them;
# - --allow-uid limits who may connect beyond the file permissions: a peer
#   whose uid is not listed gets the refusal greeting
#   "SLUICE/1 error=user-not-allowed" (sluice-producer says "this user is
#   not allowed"), with a logged reason, and leaves no record; the
#   collector's own user is always let in;
# - bad --group / --allow-uid values are usage errors (exit 2).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip: needs root to run a client as another user"; exit 77; }
OTHER_UID=$(id -u nobody 2>/dev/null) || { echo "skip: no user 'nobody'"; exit 77; }
OTHER_GID=$(id -g nobody)
OTHER_GROUP=$(getent group "$OTHER_GID" | cut -d: -f1)
[ -n "$OTHER_GROUP" ] || { echo "skip: nobody's group has no name"; exit 77; }
chmod 711 "$WORK"   # let the other user reach the socket inside

# as_other PATH LINES PREFIX: connects as nobody, sends LINES lines; prints
# "pid=P greeting=G" or "pid=P error=E".
as_other() {
  python3 - "$OTHER_UID" "$OTHER_GID" "$@" <<'PY'
import os, socket, sys
uid, gid, path, lines, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
os.setgroups([]); os.setgid(gid); os.setuid(uid)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(path)
    g = s.recv(64)
    s.sendall(b"".join(b"%s %d\n" % (prefix.encode(), i) for i in range(lines)))
    s.close()
    print("pid=%d greeting=%r" % (os.getpid(), g))
except OSError as e:
    print("pid=%d error=%s" % (os.getpid(), e.__class__.__name__))
PY
}

for b in $(backends); do
  note "backend $b: default mode 0600"
  start_collector "d-$b" --pipe "d-$b" --out "$WORK/d-$b.sluice" --backend "$b"
  [ "$(stat -c '%a %u' "$WORK/CoreFxPipe_d-$b")" = "600 0" ] || fail "mode: $(stat -c '%a %U %G' "$WORK/CoreFxPipe_d-$b")"
  as_other "$WORK/CoreFxPipe_d-$b" 1 x | grep -q "error=PermissionError" || fail "another user could connect to a 0600 socket"
  kill -TERM "$CPID"; wait_collector "d-$b"
  expect_line "$WORK/d-$b.out" "collector: producers=0 events=0 bytes=0 dropped=0 malformed=0"

  note "backend $b: --group $OTHER_GROUP --allow-uid $OTHER_UID"
  cap=$WORK/g-$b.sluice
  start_collector "g-$b" --pipe "g-$b" --out "$cap" --backend "$b" --exit-after 2 \
    --group "$OTHER_GROUP" --allow-uid "4242,$OTHER_UID"
  [ "$(stat -c '%a %u %g' "$WORK/CoreFxPipe_g-$b")" = "660 0 $OTHER_GID" ] ||
    fail "mode/group: $(stat -c '%a %U %G' "$WORK/CoreFxPipe_g-$b")"
  res=$(as_other "$WORK/CoreFxPipe_g-$b" 5 other)
  grep -q "greeting=b'SLUICE/1 max=" <<<"$res" || fail "group member refused: $res"
  opid=$(sed 's/^pid=\([0-9]*\) .*/\1/' <<<"$res")
  # Our own user is allowed without being listed.
  python3 "$CLIENTS/text_client.py" "$WORK/CoreFxPipe_g-$b" --lines 3 --prefix own
  wait_collector "g-$b"
  expect_verify "$cap" "verify: producers=2 events=8 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  "$DUMP" "$cap" >"$WORK/g-$b.txt"
  grep -q "^--- connect id=[0-9]* name= pid=$opid uid=$OTHER_UID mode=text$" "$WORK/g-$b.txt" ||
    fail "connect record without the peer's pid/uid: $(grep connect "$WORK/g-$b.txt")"
  grep -q "^--- connect id=[0-9]* name= pid=[1-9][0-9]* uid=0 mode=text$" "$WORK/g-$b.txt" || fail "own connect record"
  "$DUMP" "$cap" --format jsonl >"$WORK/g-$b.jsonl"
  grep -q "\"kind\":\"connect\".*\"pid\":$opid,\"uid\":$OTHER_UID," "$WORK/g-$b.jsonl" ||
    fail "jsonl connect record without pid/uid"

  note "backend $b: --group $OTHER_GROUP --allow-uid 4242 (other user not listed)"
  cap=$WORK/r-$b.sluice
  start_collector "r-$b" --pipe "r-$b" --out "$cap" --backend "$b" --exit-after 1 \
    --group "$OTHER_GROUP" --allow-uid 4242
  res=$(as_other "$WORK/CoreFxPipe_r-$b" 5 other)
  # Refused with a greeting that says why, never a real one (the client's
  # send may then fail: the collector closes at once).
  grep -q "greeting=b'SLUICE/1 error=user-not-allowed\\\\x00'\|error=ConnectionResetError\|error=BrokenPipeError" <<<"$res" ||
    fail "unlisted user was greeted: $res"
  rc=0
  setpriv --reuid "$OTHER_UID" --regid "$OTHER_GID" --clear-groups -- \
    "$PRODUCER" --pipe "$WORK/CoreFxPipe_r-$b" --count 3 --connect-timeout 0 --collector-user 0 \
    >/dev/null 2>"$WORK/r-$b.p" || rc=$?
  [ "$rc" = 1 ] && grep -q "this user is not allowed" "$WORK/r-$b.p" ||
    fail "sluice-producer of an unlisted user: rc=$rc $(cat "$WORK/r-$b.p")"
  opid=$(sed 's/^pid=\([0-9]*\) .*/\1/' <<<"$res")
  kill -0 "$CPID" || fail "collector died"
  python3 "$CLIENTS/text_client.py" "$WORK/CoreFxPipe_r-$b" --lines 3 --prefix own
  wait_collector "r-$b"
  grep -qxF "sluice-collector: refused a connection from uid $OTHER_UID (pid $opid): not in --allow-uid" \
    "$WORK/r-$b.err" || fail "refusal not logged: $(cat "$WORK/r-$b.err")"
  expect_line "$WORK/r-$b.out" "collector: producers=1 events=3 bytes=$(( 3 * 5 )) dropped=0 malformed=0"
  expect_verify "$cap" "verify: producers=1 events=3 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
done

note "usage errors"
for args in "--group no-such-group-sluice" "--allow-uid abc" "--allow-uid 1,,2" "--allow-uid 4294967295"; do
  rc=0
  # shellcheck disable=SC2086
  "$COLLECTOR" --pipe u --out "$WORK/u.sluice" $args 2>"$WORK/u.err" || rc=$?
  [ "$rc" = 2 ] || fail "$args: exit $rc, expected 2"
  [ "$(wc -l <"$WORK/u.err")" -le 2 ] && grep -q "^sluice-collector: --" "$WORK/u.err" || fail "$args: $(cat "$WORK/u.err")"
done
echo "ok"
