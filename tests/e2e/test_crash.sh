#!/usr/bin/env bash
# Crash: SIGKILL of the collector in the middle of a capture, producers
# still sending. The file holds every whole block the writer finished:
# `sluice-dump --verify` reads them all (no gap, no corrupt block, every
# producer's events from seq 0 on), says the file is incomplete (no close
# record) with exit status 3, and reports a torn tail in bytes. A block cut
# short (what a power loss can leave; here the first K bytes of a real
# block appended at the end) is reported as exactly K torn bytes, still
# exit 3; one flipped byte inside the file is corruption, exit 4. A new
# collector then reclaims the dead one's socket.
source "$(dirname "$0")/lib.sh"
N=$(scaled 2000000)
verify_rc() { # verify_rc CAPTURE: sets OUT (the verify line) and RC
  RC=0
  "$DUMP" "$1" --verify >"$WORK/verify.out" 2>"$WORK/verify.err" || RC=$?
  OUT=$(cat "$WORK/verify.out")
}
for b in $(backends); do
  note "backend $b"
  cap=$WORK/crash-$b.sluice
  start_collector "c-$b" --pipe "crash-$b" --out "$cap" --backend "$b"
  for i in 1 2 3 4; do
    "$PRODUCER" --pipe "crash-$b" --count "$N" --rate 200000 --name "p$i" >/dev/null 2>&1 &
  done
  # Kill once a few blocks are on disk (bounded wait).
  for _ in $(seq 1 200); do
    [ "$(stat -c %s "$cap")" -gt 2000000 ] && break
    sleep 0.05
  done
  [ "$(stat -c %s "$cap")" -gt 2000000 ] || fail "the capture did not grow"
  kill -KILL "$CPID"
  wait "$CPID" 2>/dev/null || true
  wait || true   # the producers end with a broken pipe

  verify_rc "$cap"; out=$OUT; note "after SIGKILL: $out"
  [ "$RC" = 3 ] || fail "verify exited $RC, expected 3 (incomplete): $out $(cat "$WORK/verify.err")"
  grep -Eq '^verify: producers=[1-4] events=[1-9][0-9]* gaps=0 corrupt_blocks=0 torn_tail_bytes=[0-9]+$' <<<"$out" ||
    fail "verify: $out"
  grep -q "incomplete" "$WORK/verify.err" || fail "no 'incomplete' reason: $(cat "$WORK/verify.err")"
  events=$(sed 's/.* events=\([0-9]*\) .*/\1/' <<<"$out")
  prods=$(sed 's/.* producers=\([0-9]*\) .*/\1/' <<<"$out")
  torn=$(sed 's/.* torn_tail_bytes=//' <<<"$out")

  # Cut the tail back to the last whole block, then append the first K
  # bytes of a real block: a block that a crash cut short. In format
  # version 2 a block header's tag covers its file offset (capture-format.md
  # section 15.4), so the copy gets the tag it would have at its new offset,
  # computed with the file's block_key, as the writer would have.
  whole=$(( $(stat -c %s "$cap") - torn ))
  truncate -s "$whole" "$cap"
  python3 - "$cap" 1000 "$SRC/python" <<'PY'
import struct, sys
path, k = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from sluice._format import siphash24
with open(path, "rb") as f:
    data = f.read()
version = struct.unpack_from("<H", data, 8)[0]
pos = struct.unpack_from("<I", data, 12)[0]   # the first block
while True:   # the first block longer than k (blocks are back to back)
    blen = struct.unpack_from("<I", data, pos + 4)[0]
    if blen > k:
        break
    pos += blen
    assert pos + 8 <= len(data), "no block longer than %d bytes" % k
part = bytearray(data[pos:pos + k])
if version == 2:
    key = data[32:48]
    tag = siphash24(key, struct.pack("<Q", len(data)) + bytes(part[:56]))
    struct.pack_into("<Q", part, 56, tag)
with open(path, "ab") as f:
    f.write(part)
PY
  verify_rc "$cap"; out=$OUT; note "with a torn block: $out"
  [ "$RC" = 3 ] || fail "torn block: verify exited $RC, expected 3: $out"
  expect_line <(echo "$out") "verify: producers=$prods events=$events gaps=0 corrupt_blocks=0 torn_tail_bytes=1000"

  # One flipped byte in the middle is corruption, a different answer.
  python3 - "$cap" <<'PY'
import sys
path = sys.argv[1]
with open(path, "r+b") as f:
    f.seek(0, 2); mid = f.tell() // 2
    f.seek(mid); b = f.read(1); f.seek(mid); f.write(bytes([b[0] ^ 0xFF]))
PY
  verify_rc "$cap"; out=$OUT; note "with a flipped byte: $out"
  [ "$RC" = 4 ] || fail "flipped byte: verify exited $RC, expected 4 (corrupt): $out"
  grep -q "corrupt_blocks=1 " <<<"$out" || fail "verify: $out"

  # The dead collector's socket is still there; a new one reclaims it.
  [ -S "$WORK/CoreFxPipe_crash-$b" ] || fail "no stale socket after SIGKILL"
  start_collector "again-$b" --pipe "crash-$b" --out "$WORK/again-$b.sluice" --exit-after 1 --backend "$b"
  "$PRODUCER" --pipe "crash-$b" --count 10 >/dev/null
  wait_collector "again-$b"
  expect_verify "$WORK/again-$b.sluice" "verify: producers=1 events=10 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  rm -f "$cap"
done
echo "ok"
