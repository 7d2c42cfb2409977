#!/usr/bin/env bash
# The flight recorder (issue 11; docs/capture-format.md section 17,
# docs/reliability.md):
# - 10 s of load from several producers with --flight-recorder 1M
#   --trigger-type 7: one type-7 event at a known point; the snapshot
#   cap.snapshot-001.sluice holds that event, the TRIGGER record right
#   after it (cause type, its producer and seq), about 1 MiB before it
#   (bytes, generous bounds), and verifies alone (LIVE gives the start);
# - SIGUSR1 with --trigger-after: the snapshot holds events after the
#   trigger; a second trigger meanwhile (sluice-ctl snapshot) is recorded
#   as folded and makes no second snapshot; sluice-ctl prints the name;
# - sluice-ctl snapshot on a collector without a flight recorder: the
#   clear "not possible" error, exit 1;
# - SIGKILL while a snapshot is being cut leaves a readable file;
# - the options that do not combine with --flight-recorder are usage errors.
source "$(dirname "$0")/lib.sh"
CTL=$BIN/collector/sluice-ctl
FR=1048576

# verify_alone FILE: verify exits 0 with no gaps.
verify_alone() {
  local out rc=0
  out=$("$DUMP" --verify "$1" 2>&1) || rc=$?
  [ "$rc" = 0 ] || { echo "$out" >&2; fail "$(basename "$1"): verify exited $rc"; }
  grep -q "^verify: .* gaps=0 corrupt_blocks=0 torn_tail_bytes=0$" <<<"$out" ||
    fail "$(basename "$1"): $out"
}

size_of() { stat -c %s "$1"; }

note "10 s of load, --trigger-type 7"
start_collector ty --pipe ty --out "$WORK/cap.sluice" --flight-recorder 1M --trigger-type 7 --stats 0
# Not scaled: the recorder must have filled (3 x 4000 x ~104 B/s passes
# 1 MiB within 5 s) for the snapshot to start at a LIVE preamble; 12,000
# events/s is light even for a sanitizer build.
rate=4000
for i in 1 2 3; do
  "$PRODUCER" --pipe ty --count $((rate * 10)) --rate "$rate" --type 1 --name "load$i" >/dev/null &
done
sleep 5
echo "THE-TRIGGER" | "$PRODUCER" --pipe ty --stdin --type 7 --name trig >/dev/null
for _ in $(seq 1 200); do [ -s "$WORK/cap.snapshot-001.sluice" ] && break; sleep 0.05; done
wait_jobs() { for j in $(jobs -p); do [ "$j" = "$CPID" ] || wait "$j"; done; }
wait_jobs
"$CTL" --pipe ty stop >/dev/null
wait_collector ty
[ -e "$WORK/cap.snapshot-001.sluice" ] || fail "no snapshot after the type-7 event"
[ ! -e "$WORK/cap.snapshot-002.sluice" ] || fail "a second snapshot from one trigger"
[ ! -e "$WORK/cap.sluice" ] || fail "a flight recorder wrote a capture file"
snap=$WORK/cap.snapshot-001.sluice
verify_alone "$snap"
"$DUMP" "$snap" >"$WORK/ty.txt"
grep -q "trig\[[0-9]*\] #0 type=7: THE-TRIGGER$" "$WORK/ty.txt" || fail "the triggering event is not in the snapshot"
tid=$(sed -n 's/.*trig\[\([0-9]*\)\] #0 type=7: THE-TRIGGER$/\1/p' "$WORK/ty.txt")
expect_line "$WORK/ty.txt" "--- trigger snapshot=1 cause=type producer=$tid seq=0 type=7 after_ns=0 folded=0"
# The trigger record comes right after its event (the writer cuts the block there).
grep -A1 "type=7: THE-TRIGGER$" "$WORK/ty.txt" | grep -q "^--- trigger " || fail "the trigger record does not follow its event"
# About BYTES before it: the snapshot is cut at the trigger (after 0), so
# its size is what came before. Generous bounds: 0.6 .. 1.8 x BYTES.
sz=$(size_of "$snap")
note "snapshot: $sz bytes for --flight-recorder 1M"
[ "$sz" -ge $((FR * 6 / 10)) ] && [ "$sz" -le $((FR * 18 / 10)) ] || fail "snapshot of $sz bytes, not about $FR"
# It starts with the LIVE preamble of the load producers (not their seq 0).
grep -q "^--- live id=[0-9]* next_seq=[1-9][0-9]* name=load" "$WORK/ty.txt" || fail "no LIVE preamble: $(head -3 "$WORK/ty.txt")"
for f in jsonl csv chrome; do
  "$DUMP" --format $f "$snap" | grep -q "trigger" || fail "--format $f does not show the trigger"
done
"$DUMP" --format jsonl "$snap" | grep -q "\"kind\":\"trigger\",\"producer\":0,\"snapshot\":1,\"cause\":\"type\",\"trigger_producer\":$tid,\"trigger_seq\":0,\"trigger_type\":7," ||
  fail "jsonl trigger record"

note "SIGUSR1 with --trigger-after; sluice-ctl snapshot meanwhile is folded"
start_collector sig --pipe sig --out "$WORK/sig.sluice" --flight-recorder 1M --trigger-after 2 --stats 0
"$PRODUCER" --pipe sig --count $(scaled 20000) --name before >/dev/null
"$CTL" --pipe sig status | grep -qxF "capture: $WORK/sig.snapshot-NNN.sluice" || fail "status does not name the snapshots"
kill -USR1 "$CPID"
for _ in $(seq 1 200); do [ -e "$WORK/sig.snapshot-001.sluice" ] && break; sleep 0.025; done
[ -e "$WORK/sig.snapshot-001.sluice" ] || fail "no snapshot file after SIGUSR1"
"$CTL" --pipe sig snapshot >"$WORK/sig.ctl" || fail "sluice-ctl snapshot during --trigger-after failed"
expect_line "$WORK/sig.ctl" "$WORK/sig.snapshot-001.sluice"
"$PRODUCER" --pipe sig --count 500 --name after >/dev/null
for _ in $(seq 1 400); do "$DUMP" --verify "$WORK/sig.snapshot-001.sluice" >/dev/null 2>&1 && break; sleep 0.05; done
"$CTL" --pipe sig snapshot >"$WORK/sig2.ctl" || fail "second sluice-ctl snapshot failed"
expect_line "$WORK/sig2.ctl" "$WORK/sig.snapshot-002.sluice"
"$CTL" --pipe sig stop >/dev/null
wait_collector sig
verify_alone "$WORK/sig.snapshot-001.sluice"
verify_alone "$WORK/sig.snapshot-002.sluice"
[ ! -e "$WORK/sig.snapshot-003.sluice" ] || fail "a third snapshot"
"$DUMP" "$WORK/sig.snapshot-001.sluice" >"$WORK/sig.txt"
grep -q "^--- trigger snapshot=1 cause=signal producer=0 seq=0 type=0 after_ns=2000000000 folded=0$" "$WORK/sig.txt" || fail "no signal trigger record"
grep -q "^--- trigger snapshot=1 cause=ctl producer=0 seq=0 type=0 after_ns=2000000000 folded=1$" "$WORK/sig.txt" || fail "no folded ctl trigger record"
# What came during --trigger-after is in it: events after the trigger record.
awk '/^--- trigger .*cause=signal/ { t = 1; next } t && / after\[[0-9]*\] #/ { n++ } END { exit n == 500 ? 0 : 1 }' "$WORK/sig.txt" ||
  fail "the 500 events after the trigger are not in the snapshot"
"$DUMP" --verify "$WORK/sig.snapshot-002.sluice" | grep -q " events=0 " && fail "snapshot 2 is empty"

note "sluice-ctl snapshot without a flight recorder"
start_collector plain --pipe pl --out "$WORK/pl.sluice" --stats 0
rc=0; "$CTL" --pipe pl snapshot 2>"$WORK/pl.err" || rc=$?
[ "$rc" = 1 ] && grep -q "snapshot is not possible: the capture was not started with a flight recorder" "$WORK/pl.err" ||
  fail "snapshot without a flight recorder: $rc $(cat "$WORK/pl.err")"
"$CTL" --pipe pl stop >/dev/null
wait_collector plain

note "SIGKILL while a snapshot is being cut"
SLUICE_TEST_SNAPSHOT_DELAY_US=300000 start_collector kill --pipe kl --out "$WORK/kl.sluice" --flight-recorder 1M --stats 0
"$PRODUCER" --pipe kl --count $(scaled 30000) --name load >/dev/null
"$CTL" --pipe kl --timeout 60000 snapshot >/dev/null 2>&1 &
for _ in $(seq 1 400); do [ -s "$WORK/kl.snapshot-001.sluice" ] && [ "$(size_of "$WORK/kl.snapshot-001.sluice")" -gt 200000 ] && break; sleep 0.025; done
kill -9 "$CPID"; wait "$CPID" 2>/dev/null || true
wait 2>/dev/null || true
rc=0; out=$("$DUMP" --verify "$WORK/kl.snapshot-001.sluice" 2>&1) || rc=$?
[ "$rc" = 3 ] || { echo "$out" >&2; fail "killed snapshot: verify $rc, expected 3 (incomplete)"; }
grep -q "^verify: producers=1 events=[1-9][0-9]* gaps=0 corrupt_blocks=0 " <<<"$out" || fail "killed snapshot: $out"

note "usage errors"
bad() { # bad EXPECTED-TEXT args...
  local want=$1 rc=0; shift
  "$COLLECTOR" --pipe bad --stats 0 "$@" >/dev/null 2>"$WORK/bad.err" || rc=$?
  [ "$rc" = 2 ] || fail "$*: exit $rc, expected 2"
  [ "$(wc -l <"$WORK/bad.err")" -le 2 ] || fail "$*: more than a line: $(cat "$WORK/bad.err")"
  grep -qF -- "$want" "$WORK/bad.err" || fail "$*: $(cat "$WORK/bad.err")"
}
bad "--trigger-type and --trigger-after need --flight-recorder" --out "$WORK/b.sluice" --trigger-type 7
bad "--trigger-type and --trigger-after need --flight-recorder" --out "$WORK/b.sluice" --trigger-after 1
bad "does not combine with --rotate-size" --out "$WORK/b.sluice" --flight-recorder 1M --rotate-size 1M
bad "does not combine with --keep" --out "$WORK/b.sluice" --flight-recorder 1M --keep 3
bad "does not combine with --compress" --out "$WORK/b.sluice" --flight-recorder 1M --compress lz4
bad "does not combine with --force" --out "$WORK/b.sluice" --flight-recorder 1M --force
bad "--flight-recorder: '100' is out of range" --out "$WORK/b.sluice" --flight-recorder 100
bad "--trigger-type: '0xF000' is not an event type" --out "$WORK/b.sluice" --flight-recorder 1M --trigger-type 0xF000
bad "--trigger-type: 'x' is not an event type" --out "$WORK/b.sluice" --flight-recorder 1M --trigger-type x
bad "--trigger-after" --out "$WORK/b.sluice" --flight-recorder 1M --trigger-after 4000
mkfifo "$WORK/fifo.sluice"
bad "is not a regular file name" --out "$WORK/fifo.sluice" --flight-recorder 1M
echo "ok"
