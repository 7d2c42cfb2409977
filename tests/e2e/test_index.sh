#!/usr/bin/env bash
# The time index (docs/capture-format.md 15.5, reliability promise 26):
# on a large capture, sluice-dump --since/--until read a small fraction of
# the file (counted in bytes by the test knob SLUICE_TEST_DUMP_BYTES_READ,
# reliability.md section 5), and print exactly what the scan prints on a
# copy cut by one byte (no close record, so no index: read as before);
# the same for a rotated set, whose chunks before --since are skipped but
# for their ends; a crash-cut copy still reads and verifies as before;
# --verify still reads everything.
source "$(dirname "$0")/lib.sh"
N=$(scaled 200000)
LATE=$(scaled 2000)

bytes_read() { # bytes_read ERRFILE
  sed -n 's/^sluice-dump: bytes_read=\([0-9]*\)$/\1/p' "$1"
}
size_of() { wc -c <"$1" | tr -d ' '; }
first_ns() { # first_ns CAPTURE PRODUCER: the collector time of its first event
  "$DUMP" "$1" --format jsonl --producer "$2" |
    python3 -c 'import sys, json
ns = [json.loads(l)["collector_ns"] for l in sys.stdin if json.loads(l)["kind"] == "event"]
print(ns[0] if ns else "")'
}
# same ARGS...: the seeking dump of $cap equals the scanning dump of $cut
# (its close record aside, which the cut copy lacks), and read under a
# tenth of the file plus the reader's 1 MiB read-ahead (with SL_TEST_SCALE
# the capture shrinks, the read-ahead does not; the scan reads it all).
same() {
  SLUICE_TEST_DUMP_BYTES_READ=1 "$DUMP" "${caps[@]}" "$@" >"$WORK/seek.out" 2>"$WORK/seek.err" ||
    { cat "$WORK/seek.err" >&2; fail "sluice-dump $* failed"; }
  SLUICE_TEST_DUMP_BYTES_READ=1 "$DUMP" "${cuts[@]}" "$@" >"$WORK/scan.out" 2>"$WORK/scan.err" ||
    { cat "$WORK/scan.err" >&2; fail "sluice-dump (cut) $* failed"; }
  grep -v -e '"kind":"close"' -e '^--- close' -e ',(close),' "$WORK/seek.out" >"$WORK/seek.cmp" || true
  grep -v -e '"kind":"close"' -e '^--- close' -e ',(close),' "$WORK/scan.out" >"$WORK/scan.cmp" || true
  cmp -s "$WORK/seek.cmp" "$WORK/scan.cmp" ||
    { diff "$WORK/seek.cmp" "$WORK/scan.cmp" | head -5 >&2; fail "sluice-dump $*: seeking and scanning differ"; }
  [ -s "$WORK/seek.cmp" ] || fail "sluice-dump $*: printed nothing"
  local got total scanned
  got=$(bytes_read "$WORK/seek.err"); scanned=$(bytes_read "$WORK/scan.err")
  total=0; for f in "${caps[@]}"; do total=$(( total + $(size_of "$f") )); done
  note "$*: read $got of $total bytes (the scan: $scanned)"
  [ -n "$got" ] && [ "$got" -lt $(( total / 10 + 1048576 )) ] ||
    fail "sluice-dump $*: read $got of $total bytes, expected under a tenth (+1 MiB)"
  [ "$scanned" -gt $(( total / 2 )) ] || fail "the scan read only $scanned bytes"
}

# ---- one file ---------------------------------------------------------------
cap=$WORK/big.sluice
start_collector c --pipe idx --out "$cap" --exit-after 3
"$PRODUCER" --pipe idx --count "$N" --size 100 --name early >/dev/null
sleep 0.2
"$PRODUCER" --pipe idx --count "$LATE" --size 100 --name late >/dev/null
sleep 0.2
"$PRODUCER" --pipe idx --count 10 --size 100 --name last >/dev/null
wait_collector c
"$DUMP" "$cap" --verify >/dev/null || fail "the capture does not verify"
cp "$cap" "$WORK/cut.sluice"
truncate -s -1 "$WORK/cut.sluice"
caps=("$cap"); cuts=("$WORK/cut.sluice")
T2=$(first_ns "$cap" 2)
T3=$(first_ns "$cap" 3)
[ -n "$T2" ] && [ -n "$T3" ] || fail "no event of producers 2 and 3"
same --since "$T2" --format jsonl
same --since "$T2" --until "$T3" --format jsonl
same --since "$T2" --format text
same --since "$T2" --format csv --producer late
same --since "$T3" --format text --producer last
# --until alone ends early: the index says where every record left is later.
T1=$(first_ns "$cap" 1)
same --until "$(( T1 + 1000 ))" --format jsonl
# Exactly the events at or after T2: all of producers 2 and 3.
n=$("$DUMP" "$cap" --since "$T2" --format jsonl | grep -c '"kind":"event"')
[ "$n" = $(( LATE + 10 )) ] || fail "--since: $n events, expected $(( LATE + 10 ))"
# --verify reads everything, index or not.
SLUICE_TEST_DUMP_BYTES_READ=1 "$DUMP" "$cap" --verify >/dev/null 2>"$WORK/v.err" ||
  fail "verify failed"
[ "$(bytes_read "$WORK/v.err")" = "$(size_of "$cap")" ] || fail "--verify did not read the whole file"
# A crash-cut file (half of it) reads as before: no index, a torn tail.
cp "$cap" "$WORK/half.sluice"
truncate -s $(( $(size_of "$cap") / 2 + 13 )) "$WORK/half.sluice"
rc=0; "$DUMP" "$WORK/half.sluice" --verify >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "the half file verifies with $rc, expected 3"
"$DUMP" "$WORK/half.sluice" --since "$T2" --format jsonl >"$WORK/half.out" 2>/dev/null
[ ! -s "$WORK/half.out" ] || fail "the half file has events after T2"

# ---- a rotated set ------------------------------------------------------------
rm -f "$WORK"/cut.sluice
start_collector r --pipe idxr --out "$WORK/set.sluice" --rotate-size $(( 4194304 / SCALE > 65536 ? 4194304 / SCALE : 65536 )) --exit-after 2
"$PRODUCER" --pipe idxr --count "$N" --size 100 --name early >/dev/null
sleep 0.2
"$PRODUCER" --pipe idxr --count "$LATE" --size 100 --name late >/dev/null
wait_collector r
caps=("$WORK"/set.*.sluice)
[ "${#caps[@]}" -ge 4 ] || fail "only ${#caps[@]} chunks"
"$DUMP" "${caps[@]}" --verify >/dev/null || fail "the set does not verify"
mkdir "$WORK/cuts"
cuts=()
for f in "${caps[@]}"; do
  cp "$f" "$WORK/cuts/"; truncate -s -1 "$WORK/cuts/${f##*/}"; cuts+=("$WORK/cuts/${f##*/}")
done
T2=$(first_ns "${caps[-1]}" 2)
same --since "$T2" --format jsonl
same --since "$T2" --format text --producer late
echo "PASS"
