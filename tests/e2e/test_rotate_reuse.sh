#!/usr/bin/env bash
# A rotating set started where an earlier set of the same name still has
# chunks (docs/capture-format.md section 16, docs/cli.md --force):
# - without --force any chunk of that name is refused at the start, naming
#   it (exit 1), nothing created and the old chunks untouched; before,
#   a set whose chunk 1 was gone (--keep) started and stopped the capture
#   when rotation reached the first old chunk;
# - with --force every old chunk is removed first and said so; the new
#   set alone remains and verifies as one set;
# - --force never removes a chunk a running collector writes;
# - files that only look alike (five digits, another extension, a
#   snapshot, a state file) are not chunks and are left alone.
source "$(dirname "$0")/lib.sh"
CTL=$BIN/collector/sluice-ctl

note "an earlier set whose first chunks --keep deleted"
start_collector old --pipe old --out "$WORK/cap.sluice" --rotate-time 3600 --keep 2 --stats 0
for i in 1 2 3 4; do
  "$PRODUCER" --pipe old --count 50 --name "old$i" >/dev/null
  "$CTL" --pipe old rotate >/dev/null || fail "sluice-ctl rotate $i"
done
"$CTL" --pipe old stop >/dev/null
wait_collector old
[ ! -e "$WORK/cap.000001.sluice" ] && [ -e "$WORK/cap.000004.sluice" ] && [ -e "$WORK/cap.000005.sluice" ] ||
  fail "the earlier set is not chunks 4 and 5: $(ls "$WORK")"
: >"$WORK/cap.12345.sluice"          # five digits: not a chunk name
: >"$WORK/cap.000002.sluice.bak"     # another extension
: >"$WORK/cap.snapshot-001.sluice"   # a flight-recorder snapshot's name
: >"$WORK/cap.sluice.fwd"            # a forwarding state file
: >"$WORK/other.000002.sluice"       # another set
sum_old=$(cat "$WORK/cap.000004.sluice" "$WORK/cap.000005.sluice" | md5sum)

note "without --force: refused at the start, nothing touched"
rc=0; "$COLLECTOR" --pipe new --out "$WORK/cap.sluice" --rotate-size 1M --duration 5 --stats 0 \
  >"$WORK/new.out" 2>"$WORK/new.err" || rc=$?
[ "$rc" = 1 ] || fail "a set over an earlier one's chunks exited $rc: $(cat "$WORK/new.err")"
expect_line "$WORK/new.err" \
  "sluice-collector: $WORK/cap.000004.sluice already exists (2 chunks of an earlier set named $WORK/cap.sluice); use --force to replace that set"
[ ! -e "$WORK/cap.000001.sluice" ] || fail "chunk 1 was created by a refused start"
[ "$(cat "$WORK/cap.000004.sluice" "$WORK/cap.000005.sluice" | md5sum)" = "$sum_old" ] ||
  fail "a refused start changed the earlier set"
# The same from a relative --out (the chunk named as given).
rc=0; (cd "$WORK" && "$COLLECTOR" --pipe new --out cap.sluice --rotate-size 1M --duration 5 --stats 0) \
  >/dev/null 2>"$WORK/rel.err" || rc=$?
[ "$rc" = 1 ] && grep -q "^sluice-collector: cap.000004.sluice already exists" "$WORK/rel.err" ||
  fail "relative --out: $rc $(cat "$WORK/rel.err")"
# A plain (not rotating) capture of the same name is not a set: it starts.
"$COLLECTOR" --pipe plain --out "$WORK/cap.sluice" --duration 0.2 --stats 0 >/dev/null 2>&1 ||
  fail "a plain capture beside an old set was refused"
rm -f "$WORK/cap.sluice"

note "a running collector's chunks are never removed, even with --force"
start_collector live --pipe live --out "$WORK/run.sluice" --rotate-time 3600 --keep 1 --stats 0
"$CTL" --pipe live rotate >/dev/null || fail "rotate the live set"
[ ! -e "$WORK/run.000001.sluice" ] && [ -e "$WORK/run.000002.sluice" ] || fail "live set: $(ls "$WORK")"
rc=0; "$COLLECTOR" --pipe live2 --out "$WORK/run.sluice" --rotate-size 1M --force --duration 5 --stats 0 \
  >/dev/null 2>"$WORK/live2.err" || rc=$?
[ "$rc" = 1 ] || fail "--force over a live set exited $rc"
expect_line "$WORK/live2.err" \
  "sluice-collector: $WORK/run.000002.sluice is being written by another collector (pid $CPID); refusing to touch its set, even with --force"
[ -e "$WORK/run.000002.sluice" ] && [ ! -e "$WORK/run.000001.sluice" ] || fail "the live set was touched: $(ls "$WORK")"
"$PRODUCER" --pipe live --count 20 --name still >/dev/null || fail "the live collector stopped"
"$CTL" --pipe live stop >/dev/null
wait_collector live
expect_verify "$WORK/run.000002.sluice" \
  "verify: producers=1 events=20 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

note "with --force: the earlier set removed first, the new one alone"
start_collector force --pipe force --out "$WORK/cap.sluice" --rotate-time 3600 --force --stats 0
expect_line "$WORK/force.err" \
  "sluice-collector: --force: removed 2 chunks of an earlier set named $WORK/cap.sluice (cap.000004.sluice .. cap.000005.sluice)"
"$PRODUCER" --pipe force --count 30 --name new1 >/dev/null
"$CTL" --pipe force rotate >/dev/null
"$PRODUCER" --pipe force --count 30 --name new2 >/dev/null
"$CTL" --pipe force stop >/dev/null
wait_collector force
[ "$(cd "$WORK" && ls cap.0*.sluice | tr '\n' ' ')" = "cap.000001.sluice cap.000002.sluice " ] ||
  fail "after --force the set is not chunks 1 and 2 alone: $(ls "$WORK")"
expect_line <("$DUMP" --verify "$WORK"/cap.0*.sluice 2>&1) \
  "verify: producers=2 events=60 gaps=0 corrupt_blocks=0 torn_tail_bytes=0 chunks=2 expired=0 missing_chunks=0"
for f in cap.12345.sluice cap.000002.sluice.bak cap.snapshot-001.sluice cap.sluice.fwd other.000002.sluice; do
  [ -e "$WORK/$f" ] || fail "$f is not a chunk of the set but was removed"
done
echo "ok"
