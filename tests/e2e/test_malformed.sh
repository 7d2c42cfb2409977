#!/usr/bin/env bash
# Bad input closes only the offending connection, with a logged, counted
# reason; everything it sent before the violation stays, and every other
# producer's events are all there.
source "$(dirname "$0")/lib.sh"
for b in $(backends); do
  note "backend $b"
  cap=$WORK/bad-$b.sluice
  start_collector "c-$b" --pipe "bad-$b" --out "$cap" --exit-after 7 --backend "$b" --max-frame 4096
  path=$WORK/CoreFxPipe_bad-$b
  "$PRODUCER" --pipe "bad-$b" --count 50000 --name good1 >/dev/null &
  "$PRODUCER" --pipe "bad-$b" --count 50000 --name good2 --text >/dev/null &
  python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault garbage --fault-at 40 --name garbage &
  python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault too-big --fault-at 10 --name toobig &
  python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault len0 --fault-at 0 --name len0 &
  python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault truncated --fault-at 99 --name trunc &
  python3 - "$path" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(64)
s.sendall(b"ok line\n" + b"x" * 5000 + b"\n")   # second line over --max-frame
s.close()
PY
  wait_collector "c-$b"
  wait
  out=$WORK/c-$b.out
  # good: 100000; garbage: 40 events; toobig: 10; len0: 0; trunc: 99; text: 1
  expect_line "$out" "collector: producers=7 events=100150 bytes=$((50000 * 64 * 2 + 40 * 32 + 10 * 32 + 99 * 32 + 7)) dropped=0 malformed=5"
  err=$WORK/c-$b.err
  grep -q "garbage.*closed: reserved frame type\|garbage.*closed: frame length" "$err" || fail "garbage not logged: $(cat "$err")"
  grep -q "toobig.*FRAME_TOO_BIG" "$err" || fail "too-big not logged"
  grep -q "len0.*FRAME_TOO_SMALL" "$err" || fail "len0 not logged"
  grep -q "trunc.*TRUNCATED" "$err" || fail "truncated not logged"
  grep -q "LINE_TOO_LONG" "$err" || fail "long line not logged"
  expect_verify "$cap" "verify: producers=7 events=100150 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
done
echo "ok"
