#!/usr/bin/env bash
# sluice-dump --follow, against a live collector.
# 1. The dump starts on a capture with no producer yet; a first producer's
#    events show up in its output while it is still running (so it reads
#    what is appended after it started), then more producers send, the
#    collector is stopped, and the dump exits 0 by itself at the close
#    record, its output identical to a plain dump of the finished file.
# 2. Ctrl-C (SIGINT) stops a dump that is waiting for more: exit 0, every
#    event written so far printed, and a chrome document still closed into
#    valid JSON.
source "$(dirname "$0")/lib.sh"

# wait_for FILE PATTERN COUNT: until FILE has COUNT lines matching PATTERN.
wait_for() {
  local n=0
  for _ in $(seq 1 600); do
    n=$(grep -c -- "$2" "$1" 2>/dev/null || true)
    [ "$n" -ge "$3" ] && return 0
    sleep 0.05
  done
  fail "$1: $n lines matching $2 after 30 s, expected $3"
}

# wait_exit PID: sets RC to the exit status of PID, which must end within
# 30 s (no command substitution: only this shell can wait for its child).
wait_exit() {
  RC=0
  for _ in $(seq 1 600); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$1" 2>/dev/null && { kill -KILL "$1"; fail "sluice-dump --follow did not exit"; }
  wait "$1" || RC=$?
}

n=$(scaled 20000)
for b in $(backends); do
  note "backend $b: follow until the collector finalises the file"
  cap=$WORK/follow-$b.sluice
  start_collector "c-$b" --pipe "fol-$b" --out "$cap" --backend "$b"
  "$DUMP" "$cap" --follow --format jsonl >"$WORK/follow-$b.jsonl" 2>"$WORK/follow-$b.err" &
  DPID=$!
  sleep 0.3
  kill -0 "$DPID" 2>/dev/null || fail "sluice-dump --follow exited early: $(cat "$WORK/follow-$b.err")"
  [ ! -s "$WORK/follow-$b.jsonl" ] || fail "output before any producer"
  "$PRODUCER" --pipe "fol-$b" --count 5 --name first >/dev/null
  wait_for "$WORK/follow-$b.jsonl" '"kind":"event"' 5
  kill -0 "$DPID" 2>/dev/null || fail "sluice-dump --follow stopped before the close record"
  "$PRODUCER" --pipe "fol-$b" --count "$n" --name second >/dev/null &
  P2=$!
  "$PRODUCER" --pipe "fol-$b" --count "$n" --name third --rate 20000 >/dev/null &
  P3=$!
  printf 'late\nlines\n' | "$PRODUCER" --pipe "fol-$b" --stdin --text >/dev/null
  wait "$P2" || fail "producer second failed"
  wait "$P3" || fail "producer third failed"
  wait_for "$WORK/follow-$b.jsonl" '"kind":"event"' $(( 5 + 2 * n + 2 ))
  kill -0 "$DPID" 2>/dev/null || fail "sluice-dump --follow stopped before the close record"
  kill -INT "$CPID"
  wait_collector "c-$b"
  wait_exit "$DPID"
  [ "$RC" = 0 ] || fail "sluice-dump --follow exited $RC: $(cat "$WORK/follow-$b.err")"
  [ ! -s "$WORK/follow-$b.err" ] || fail "stderr: $(cat "$WORK/follow-$b.err")"
  tail -n 1 "$WORK/follow-$b.jsonl" | grep -q '^{"kind":"close","producers":4,' ||
    fail "last line is not the close record: $(tail -n 1 "$WORK/follow-$b.jsonl")"
  "$DUMP" "$cap" --format jsonl >"$WORK/plain-$b.jsonl"
  cmp -s "$WORK/plain-$b.jsonl" "$WORK/follow-$b.jsonl" || fail "--follow output differs from a plain dump"
  expect_verify "$cap" "verify: producers=4 events=$(( 5 + 2 * n + 2 )) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

  note "backend $b: Ctrl-C stops --follow"
  cap=$WORK/int-$b.sluice
  start_collector "ci-$b" --pipe "int-$b" --out "$cap" --backend "$b"
  "$DUMP" "$cap" --follow >"$WORK/int-$b.txt" 2>"$WORK/int-$b.err" &
  TPID=$!
  "$DUMP" "$cap" --follow --format chrome >"$WORK/int-$b.json" 2>"$WORK/int-$b.jerr" &
  JPID=$!
  "$PRODUCER" --pipe "int-$b" --count 100 --name before-ctrl-c >/dev/null
  wait_for "$WORK/int-$b.txt" ' before-ctrl-c\[1\] #' 100
  wait_for "$WORK/int-$b.json" '"cat":"event"' 100
  kill -INT "$TPID" "$JPID"
  wait_exit "$TPID"
  [ "$RC" = 0 ] || fail "text --follow exited $RC after SIGINT: $(cat "$WORK/int-$b.err")"
  wait_exit "$JPID"
  [ "$RC" = 0 ] || fail "chrome --follow exited $RC after SIGINT: $(cat "$WORK/int-$b.jerr")"
  [ "$(grep -c ' before-ctrl-c\[1\] #' "$WORK/int-$b.txt")" = 100 ] || fail "text events after SIGINT"
  grep -q '^--- close' "$WORK/int-$b.txt" && fail "a close record before the collector stopped"
  python3 - "$WORK/int-$b.json" <<'PY' || fail "chrome output after SIGINT is not a whole document"
import json, sys
d = json.load(open(sys.argv[1]))
assert sum(e.get("cat") == "event" for e in d["traceEvents"]) == 100
PY
  kill -INT "$CPID"
  wait_collector "ci-$b"
done
echo "ok"
