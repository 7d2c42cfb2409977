#!/usr/bin/env bash
# --idle-timeout: connections that never identify themselves cannot hold
# --max-producers slots. Per backend, with --max-producers 100:
# - without a timeout (--idle-timeout 0), 100 silent connections lock a
#   real producer out, and it says why: "too many producers" (not
#   "protocol error");
# - with --idle-timeout 1, 99 silent connections and one that sent only
#   part of a binary hello are ended after a second: the silent ones
#   leave no record, the partial one a disconnect record with reason IDLE,
#   its bytes counted as discarded and not as malformed; then a real
#   producer gets in and its events are stored.
source "$(dirname "$0")/lib.sh"

# hold SOCK N PARTIAL READY: N connections (the last sends PARTIAL bytes of
# a binary stream if PARTIAL=1), each waits for its greeting; touches READY
# once all are greeted, then waits until the collector ends them and
# prints how many it ended ("ended=K").
hold() {
  python3 - "$@" <<'PY'
import socket, struct, sys, time
path, n, partial, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
socks = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    g = b""
    while not g.endswith(b"\0"):
        c = s.recv(64)
        if not c:
            break
        g += c
    socks.append(s)
if partial:
    # the magic and the first 10 bytes of a hello frame: not identified
    socks[-1].sendall(b"\x89SLU\r\n\x1a\n" + struct.pack("<IHH", 60, 0xFF00, 0) + b"\0\0")
open(ready, "w").close()
ended = 0
deadline = time.time() + 60
for s in socks:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        if s.recv(1) == b"":
            ended += 1
    except (socket.timeout, ConnectionResetError):
        if not isinstance(sys.exc_info()[1], socket.timeout):
            ended += 1
print("ended=%d" % ended)
PY
}

for b in $(backends); do
  sock=$WORK/CoreFxPipe_idle-$b
  # No timeout: the slots stay taken and the refusal says why.
  start_collector "n-$b" --pipe "idle-$b" --out "$WORK/n-$b.sluice" --backend "$b" \
    --max-producers 100 --idle-timeout 0
  hold "$sock" 100 0 "$WORK/n-$b.ready" >"$WORK/n-$b.hold" &
  hpid=$!
  for _ in $(seq 1 800); do [ -f "$WORK/n-$b.ready" ] && break; sleep 0.025; done
  [ -f "$WORK/n-$b.ready" ] || fail "backend $b: the silent connections were not greeted"
  rc=0
  "$PRODUCER" --pipe "idle-$b" --count 3 --connect-timeout 0 >/dev/null 2>"$WORK/n-$b.p" || rc=$?
  [ "$rc" = 1 ] || fail "backend $b: a producer past 100 silent connections exited $rc: $(cat "$WORK/n-$b.p")"
  grep -q "too many producers" "$WORK/n-$b.p" ||
    fail "backend $b: the refusal does not say why: $(cat "$WORK/n-$b.p")"
  ! grep -q "protocol error" "$WORK/n-$b.p" || fail "backend $b: refusal reported as a protocol error"
  kill -TERM "$CPID"
  wait_collector "n-$b"
  wait "$hpid" || true

  # --idle-timeout 1: they are ended, the producer gets in.
  cap=$WORK/i-$b.sluice
  start_collector "i-$b" --pipe "idle-$b" --out "$cap" --backend "$b" \
    --max-producers 100 --idle-timeout 1 --exit-after 2
  hold "$sock" 100 1 "$WORK/i-$b.ready" >"$WORK/i-$b.hold" &
  hpid=$!
  wait "$hpid" || fail "backend $b: the holder failed"
  [ "$(cat "$WORK/i-$b.hold")" = "ended=100" ] ||
    fail "backend $b: the collector ended $(cat "$WORK/i-$b.hold") of 100 unidentified connections"
  grep -q "closing .* connections\? that did not identify themselves within --idle-timeout 1s" "$WORK/i-$b.err" ||
    fail "backend $b: not logged: $(cat "$WORK/i-$b.err")"
  "$PRODUCER" --pipe "idle-$b" --count 5 --connect-timeout 0 >/dev/null 2>"$WORK/i-$b.p" ||
    fail "backend $b: the real producer was not admitted: $(cat "$WORK/i-$b.p")"
  wait_collector "i-$b"
  grep -q "producers=2 events=5 .* malformed=0" "$WORK/i-$b.out" "$WORK/i-$b.err" ||
    fail "backend $b: summary: $(cat "$WORK/i-$b.out" "$WORK/i-$b.err")"
  "$DUMP" "$cap" --format jsonl >"$WORK/i-$b.jsonl"
  grep '"kind":"disconnect"' "$WORK/i-$b.jsonl" | grep '"reason":"IDLE"' | grep -q '"discarded":10' ||
    fail "backend $b: no IDLE disconnect with 10 discarded bytes (the hello's; the magic is no event): $(grep disconnect "$WORK/i-$b.jsonl")"
  [ "$(grep -c '"kind":"disconnect"' "$WORK/i-$b.jsonl")" = 2 ] ||
    fail "backend $b: silent connections left records: $(grep -c disconnect "$WORK/i-$b.jsonl")"
  expect_verify "$cap" "verify: producers=2 events=5 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  note "backend $b: 100 unidentified connections ended after 1 s, the producer admitted"
done
echo "ok"
