#!/usr/bin/env bash
# A payload cannot become a block (issue 11; docs/capture-format.md 15.4).
# Capture A holds a producer "ghost" whose events say GHOST-n. Its blocks,
# byte for byte (headers, bodies, trailers: complete and CRC-valid), become
# the payload of every event a producer "carrier" sends into capture B,
# between two honest producers. B is then damaged: the header of every real
# block that holds a carrier event is zeroed, so the reader must
# resynchronise through those payloads. It must not accept the copies:
# --verify reports the damage (exit 4, corrupt blocks, no more events than
# the undamaged file had) and no GHOST event or ghost connect appears in
# --format jsonl, while the honest events after the damage are still read.
# Twice: A written under another key than B, and under the same key (the
# attacker "guessed" it), where the file offset in the tag still refuses
# the copy at any other position.
source "$(dirname "$0")/lib.sh"
KEY_A=00112233445566778899aabbccddeeff
KEY_B=f0e1d2c3b4a5968778695a4b3c2d1e0f

for mode in other-key same-key; do
  note "$mode"
  a=$WORK/a-$mode.sluice b=$WORK/b-$mode.sluice
  key_b=$KEY_B; [ "$mode" = same-key ] && key_b=$KEY_A

  SLUICE_TEST_CAPTURE_KEY=$KEY_A start_collector "a-$mode" --pipe fa --out "$a" --exit-after 1 --stats 0
  seq 1 5 | sed 's/^/GHOST-/' | "$PRODUCER" --pipe fa --stdin --text --name ghost >/dev/null
  wait_collector "a-$mode"
  expect_verify "$a" "verify: producers=1 events=5 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  # The payload: all of A after its file header (every block, valid).
  python3 - "$a" "$WORK/forged-$mode.bin" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[8:10] == b"\x02\x00", "capture A is not format v2"
off = struct.unpack_from("<I", d, 12)[0]
assert d[off:off + 4] == b"SLB2"
open(sys.argv[2], "wb").write(d[off:])
PY

  SLUICE_TEST_CAPTURE_KEY=$key_b start_collector "b-$mode" --pipe fb --out "$b" --exit-after 3 --stats 0
  "$PRODUCER" --pipe fb --count 1000 --size 64 --name honest1 >/dev/null
  python3 "$CLIENTS/binary_client.py" "$WORK/CoreFxPipe_fb" --name carrier --count 200 \
    --payload-file "$WORK/forged-$mode.bin"
  "$PRODUCER" --pipe fb --count 1000 --size 64 --name honest2 >/dev/null
  wait_collector "b-$mode"
  expect_verify "$b" "verify: producers=3 events=2200 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

  # Zero the header of every real block that holds a copy of A's blocks.
  zeroed=$(python3 - "$b" "$WORK/forged-$mode.bin" <<'PY'
import struct, sys
path, forged = sys.argv[1], open(sys.argv[2], "rb").read()
d = bytearray(open(path, "rb").read())
off = struct.unpack_from("<I", d, 12)[0]
hits = []
while off + 64 <= len(d):
    assert d[off:off + 4] == b"SLB2", "block walk lost at %d" % off
    n = struct.unpack_from("<I", d, off + 4)[0]
    if bytes(d[off:off + n]).find(forged) >= 0:
        hits.append(off)
    off += n
for h in hits:
    d[h:h + 64] = b"\0" * 64
open(path, "wb").write(d)
print(len(hits))
PY
)
  [ "$zeroed" -ge 1 ] || fail "$mode: no block of B holds the forged payload"

  rc=0
  out=$("$DUMP" "$b" --verify 2>&1) || rc=$?
  [ "$rc" = 4 ] || { echo "$out" >&2; fail "$mode: verify exited $rc, expected 4 (corrupt)"; }
  cb=$(sed -n 's/.*corrupt_blocks=\([0-9]*\).*/\1/p' <<<"$out")
  ev=$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$out")
  [ -n "$cb" ] && [ "$cb" -ge 1 ] || { echo "$out" >&2; fail "$mode: no corrupt block reported"; }
  [ "$ev" -lt 2200 ] || { echo "$out" >&2; fail "$mode: $ev events, the damaged blocks' must be gone"; }
  np=$(sed -n 's/^verify: producers=\([0-9]*\) .*/\1/p' <<<"$out")
  [ "$np" -le 3 ] || { echo "$out" >&2; fail "$mode: a forged producer was counted"; }

  rc=0
  "$DUMP" "$b" --format jsonl >"$WORK/b-$mode.jsonl" 2>"$WORK/b-$mode.dump.err" || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 4 ] || { cat "$WORK/b-$mode.dump.err" >&2; fail "$mode: dump exited $rc"; }
  if grep -q 'GHOST' "$WORK/b-$mode.jsonl"; then
    grep 'GHOST' "$WORK/b-$mode.jsonl" | head -3 >&2
    fail "$mode: a forged event was accepted"
  fi
  grep -q '"ghost"' "$WORK/b-$mode.jsonl" && fail "$mode: the forged producer ghost appears"
  n=$(grep -c '^{"kind":"event",' "$WORK/b-$mode.jsonl" || true)
  [ "$n" = "$ev" ] || fail "$mode: jsonl has $n events, verify counted $ev"
  # Resynchronised past the damage: honest2's last event is there.
  grep -q '^{"kind":"event","producer":[0-9]*,"name":"honest2","seq":999,' "$WORK/b-$mode.jsonl" ||
    fail "$mode: the events after the damaged blocks were not read"
  grep -q '"kind":"connect".*"honest2"' "$WORK/b-$mode.jsonl" ||
    fail "$mode: honest2's connect record is missing"
done
echo "ok"
