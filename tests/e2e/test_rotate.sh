#!/usr/bin/env bash
# Rotation and retention (issue 11, docs/capture-format.md section 16):
# - 64 producers under load with --rotate-size 4M --keep 3 --compress lz4:
#   3 chunks kept, each at most 4 MiB and verifying alone (exit 0), the
#   set (given in any order) verifying with the events of the deleted
#   chunks counted as expired, no gap and no missing chunk;
# - --max-total keeps the set within its bytes; --rotate-time starts new
#   chunks by age; sluice-ctl rotate starts one on request and is a clear
#   "not possible" error without rotation;
# - SIGKILL mid-rotation (the test-only SLUICE_TEST_ROTATE_DELAY_US holds
#   the writer between a new chunk's header and its preamble): every
#   chunk reads back without a corrupt block or a gap;
# - usage errors: bad sizes, --keep without rotation, --forward with it;
#   a set of chunks of different captures, a duplicate chunk.
source "$(dirname "$0")/lib.sh"
CTL=$BIN/collector/sluice-ctl

codec=lz4
"$COLLECTOR" --pipe probe --out "$WORK/probe.sluice" --compress lz4 --duration 0.1 --stats 0 >/dev/null 2>&1 || codec=none
rm -f "$WORK/probe.sluice"
[ "$codec" = lz4 ] || note "no lz4 in this build: --compress none"

# verify_alone FILE: exit 0 and no gaps, alone.
verify_alone() {
  local out rc=0
  out=$("$DUMP" --verify "$1" 2>&1) || rc=$?
  [ "$rc" = 0 ] || { echo "$out" >&2; fail "$(basename "$1") alone: verify exited $rc"; }
  grep -q " gaps=0 corrupt_blocks=0 torn_tail_bytes=0$" <<<"$out" || fail "$(basename "$1"): $out"
}

note "64 producers, --rotate-size 4M --keep 3 --compress $codec"
P=64
N=$(scaled 6000)
# Not below 2500 lines each (about 32 MB, 8 chunks of 4M before
# compression), or a scaled-down run (sanitizers) fills too few chunks
# for --keep 3 to delete any.
[ "$N" -ge 2500 ] || N=2500
# Random text lines (base64), so lz4 cannot shrink the load below a few
# chunks' worth: 64 x N lines of 200 bytes.
head -c $((N * 150)) /dev/urandom | base64 -w 200 >"$WORK/lines.txt"
start_collector big --pipe rot --out "$WORK/cap.sluice" --rotate-size 4M --keep 3 \
  --compress "$codec" --exit-after $P --stats 0
for i in $(seq 1 $P); do
  "$PRODUCER" --pipe rot --stdin --name "p$i" <"$WORK/lines.txt" >/dev/null &
done
wait_collector big
wait
ls "$WORK"/cap.*.sluice >"$WORK/chunks.txt"
[ "$(wc -l <"$WORK/chunks.txt")" = 3 ] || { cat "$WORK/chunks.txt" >&2; fail "expected 3 kept chunks"; }
[ ! -e "$WORK/cap.000001.sluice" ] || fail "chunk 1 was not deleted"
for f in $(cat "$WORK/chunks.txt"); do
  sz=$(stat -c %s "$f")
  [ "$sz" -le 4194304 ] || fail "$(basename "$f"): $sz bytes, over --rotate-size 4M"
  verify_alone "$f"
done
# The set, newest first: ordered by the chunk numbers in the headers.
rc=0
out=$("$DUMP" --verify $(sort -r "$WORK/chunks.txt") 2>&1) || rc=$?
[ "$rc" = 0 ] || { echo "$out" >&2; fail "set verify exited $rc"; }
grep -Eq "^verify: producers=[0-9]+ events=[0-9]+ gaps=0 corrupt_blocks=0 torn_tail_bytes=0 chunks=3 expired=[1-9][0-9]* missing_chunks=0$" <<<"$out" \
  || fail "set: $out"
events=$(sed -n 's/.* events=\([0-9]*\) .*/\1/p' <<<"$out")
expired=$(sed -n 's/.* expired=\([0-9]*\) .*/\1/p' <<<"$out")
[ $((events + expired)) -le $((P * N)) ] || fail "events $events + expired $expired > $((P * N)) sent"
# The Python reader says the same, alone and over the set.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
for f in $(cat "$WORK/chunks.txt"); do
  a=$("$DUMP" --verify "$f" 2>/dev/null); b=$(PYTHONPATH=$SRC/python "$PY" -m sluice --verify "$f" 2>/dev/null)
  [ "$a" = "$b" ] || fail "python reader on $(basename "$f"): '$b', sluice-dump: '$a'"
done
b=$(PYTHONPATH=$SRC/python "$PY" -m sluice --verify $(cat "$WORK/chunks.txt") 2>/dev/null)
[ "$b" = "$out" ] || fail "python reader on the set: '$b', sluice-dump: '$out'"
# The chunk number is in each file's header (format 2, offset 64).
for f in $(cat "$WORK/chunks.txt"); do
  n=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(80); print(struct.unpack_from("<Q", d, 64)[0])' "$f")
  want=$(basename "$f" | sed 's/cap\.0*\([0-9]*\)\.sluice/\1/')
  [ "$n" = "$want" ] || fail "$(basename "$f"): header chunk $n"
done
# Two chunks with a hole between them: the missing chunk is reported.
first=$(head -1 "$WORK/chunks.txt"); last=$(tail -1 "$WORK/chunks.txt")
rc=0; "$DUMP" --verify "$first" "$last" >"$WORK/hole.out" 2>"$WORK/hole.err" || rc=$?
[ "$rc" = 4 ] && grep -q "missing_chunks=1$" "$WORK/hole.out" || fail "hole: $rc $(cat "$WORK/hole.out" "$WORK/hole.err")"
rc=0; "$DUMP" --verify "$first" "$first" 2>"$WORK/dup.err" >/dev/null || rc=$?
[ "$rc" = 1 ] && grep -q "are both chunk" "$WORK/dup.err" || fail "duplicate chunk: $rc $(cat "$WORK/dup.err")"

note "--max-total 3M with --rotate-size 1M"
start_collector mt --pipe mt --out "$WORK/mt.sluice" --rotate-size 1M --max-total 3M --exit-after 4 --stats 0
for i in 1 2 3 4; do "$PRODUCER" --pipe mt --count "$(scaled 40000)" --size 200 >/dev/null & done
wait_collector mt
wait
total=$(cat "$WORK"/mt.*.sluice | wc -c)
[ "$total" -le $((3 << 20)) ] || fail "--max-total 3M: the set holds $total bytes"
[ ! -e "$WORK/mt.000001.sluice" ] || fail "--max-total: chunk 1 kept"
rc=0; "$DUMP" --verify "$WORK"/mt.*.sluice >"$WORK/mt.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/mt.out" >&2; fail "--max-total set verify $rc"; }
# Another capture's chunk in the set is refused.
rc=0; "$DUMP" --verify "$first" $(ls "$WORK"/mt.*.sluice | tail -2) 2>"$WORK/mix.err" >/dev/null || rc=$?
[ "$rc" = 1 ] && grep -q "different captures" "$WORK/mix.err" || fail "mixed set: $rc $(cat "$WORK/mix.err")"

note "sluice-ctl rotate, --rotate-time"
start_collector ctl --pipe rc --out "$WORK/rc.sluice" --rotate-time 3600 --stats 0
"$PRODUCER" --pipe rc --count 100 --name before >/dev/null
"$CTL" --pipe rc rotate >"$WORK/rot.out" || fail "sluice-ctl rotate failed"
[ -e "$WORK/rc.000002.sluice" ] || fail "no chunk 2 after sluice-ctl rotate"
"$CTL" --pipe rc status | grep -qxF "capture: $WORK/rc.000002.sluice" || fail "status does not name chunk 2"
"$PRODUCER" --pipe rc --count 100 --name after >/dev/null
"$CTL" --pipe rc stop >/dev/null
wait_collector ctl
verify_alone "$WORK/rc.000001.sluice"
verify_alone "$WORK/rc.000002.sluice"
expect_line <("$DUMP" --verify "$WORK/rc.000002.sluice" "$WORK/rc.000001.sluice") \
  "verify: producers=2 events=200 gaps=0 corrupt_blocks=0 torn_tail_bytes=0 chunks=2 expired=0 missing_chunks=0"
start_collector plain --pipe pl --out "$WORK/pl.sluice" --stats 0
rc=0; "$CTL" --pipe pl rotate 2>"$WORK/pl.err" || rc=$?
[ "$rc" = 1 ] && grep -q "rotate is not possible: the capture was not started with rotation" "$WORK/pl.err" \
  || fail "rotate without rotation: $rc $(cat "$WORK/pl.err")"
"$CTL" --pipe pl stop >/dev/null
wait_collector plain
start_collector age --pipe age --out "$WORK/age.sluice" --rotate-time 1 --exit-after 1 --stats 0
"$PRODUCER" --pipe age --count 500 --rate 200 --name slow >/dev/null
wait_collector age
n=$(ls "$WORK"/age.*.sluice | wc -l)
[ "$n" -ge 2 ] || fail "--rotate-time 1 over 2.5 s of events: $n chunk(s)"
rc=0; "$DUMP" --verify "$WORK"/age.*.sluice >"$WORK/age.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q " events=500 gaps=0 .* expired=0 missing_chunks=0$" "$WORK/age.out" || fail "age set: $(cat "$WORK/age.out")"

note "SIGKILL mid-rotation"
SLUICE_TEST_ROTATE_DELAY_US=400000 start_collector kill --pipe kr --out "$WORK/kr.sluice" \
  --rotate-size 256K --compress "$codec" --stats 0
for i in 1 2 3 4; do "$PRODUCER" --pipe kr --count 1000000 --size 100 >/dev/null 2>&1 & done
for _ in $(seq 1 400); do [ -e "$WORK/kr.000004.sluice" ] && break; sleep 0.025; done
[ -e "$WORK/kr.000004.sluice" ] || fail "no chunk 4 under load"
kill -9 "$CPID"; wait "$CPID" 2>/dev/null || true
wait 2>/dev/null || true
for f in "$WORK"/kr.*.sluice; do
  rc=0; out=$("$DUMP" --verify "$f" 2>&1) || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "$out" >&2; fail "$(basename "$f") after SIGKILL: verify $rc"; }
  grep -q " gaps=0 corrupt_blocks=0 " <<<"$out" || fail "$(basename "$f"): $out"
done
rc=0; out=$("$DUMP" --verify "$WORK"/kr.*.sluice 2>&1) || rc=$?
[ "$rc" = 3 ] || { echo "$out" >&2; fail "killed set: verify $rc, expected 3 (incomplete)"; }
grep -q " gaps=0 corrupt_blocks=0 .* missing_chunks=0$" <<<"$out" || fail "killed set: $out"

note "usage errors"
for args in "--rotate-size 4X" "--rotate-size 1K" "--rotate-size M" "--keep 3" "--max-total 1G" \
    "--rotate-time 0" "--rotate-size 4M --forward nats://127.0.0.1:1"; do
  rc=0
  "$COLLECTOR" --pipe bad --out "$WORK/bad.sluice" $args 2>"$WORK/bad.err" || rc=$?
  [ "$rc" = 2 ] || fail "'$args' exited $rc, expected 2: $(cat "$WORK/bad.err")"
  grep -q -- "--" "$WORK/bad.err" || fail "'$args': $(cat "$WORK/bad.err")"
done
grep -q "need rotation" <("$COLLECTOR" --pipe bad --out "$WORK/bad.sluice" --keep 3 2>&1) || fail "--keep alone: no reason"
echo "ok"
