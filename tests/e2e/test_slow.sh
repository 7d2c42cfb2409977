#!/usr/bin/env bash
# A slow producer (one byte every 100 ms) holds no worker thread: with a
# single worker, four fast producers connect after it and finish while it
# is still connected and sending. No timing is asserted; the order is: the
# fast producers exit (their writes completed, so the collector was
# reading them), the slow client is still running at that moment, and in
# the capture every fast producer's disconnect record comes before the slow
# one's. Then the slow one finishes its line and every event of all five
# is in the file.
source "$(dirname "$0")/lib.sh"
N=$(scaled 50000)
for b in $(backends); do
  note "backend $b"
  cap=$WORK/slow-$b.sluice
  stop=$WORK/slow-$b.stop
  start_collector "c-$b" --pipe "slow-$b" --out "$cap" --exit-after 5 --backend "$b" --workers 1
  watch_mem "$CPID"
  python3 "$CLIENTS/fault_client.py" slow "$WORK/CoreFxPipe_slow-$b" --stop-file "$stop" \
    >"$WORK/slow-$b.out" &
  spid=$!
  for _ in $(seq 1 200); do
    grep -q connected "$WORK/slow-$b.out" && break
    sleep 0.05
  done
  grep -q connected "$WORK/slow-$b.out" || fail "slow client did not connect"
  fast=()
  for i in 1 2 3 4; do
    "$PRODUCER" --pipe "slow-$b" --count "$N" --name "fast$i" >"$WORK/fast$i-$b.out" &
    fast+=($!)
  done
  for p in "${fast[@]}"; do
    wait "$p" || fail "a fast producer failed"
  done
  kill -0 "$spid" 2>/dev/null || fail "the slow client ended before the fast ones were done"
  grep -q "lines=" "$WORK/slow-$b.out" && fail "the slow client already finished"
  touch "$stop"
  wait "$spid" || fail "slow client failed"
  lines=$(sed -n 's/^lines=//p' "$WORK/slow-$b.out")
  [ "$lines" -ge 1 ] || fail "slow client sent no whole line"
  wait_collector "c-$b"
  wait
  expect_mem_bound "$CPID" 64 5
  for i in 1 2 3 4; do
    expect_line "$WORK/fast$i-$b.out" "$(grep '^producer:' "$WORK/fast$i-$b.out" | grep "events=$N ")"
  done
  total=$(( 4 * N + lines ))
  grep -q "^collector: producers=5 events=$total .* dropped=0 malformed=0$" "$WORK/c-$b.out" ||
    fail "summary: $(cat "$WORK/c-$b.out"), expected events=$total"
  expect_verify "$cap" "verify: producers=5 events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  # Disconnect order in the capture: the slow producer (text, id 1) ends last.
  "$DUMP" "$cap" | grep '^--- disconnect' >"$WORK/disc-$b.txt"
  tail -n 1 "$WORK/disc-$b.txt" | grep -q "^--- disconnect id=1 events=$lines " ||
    fail "the slow producer did not end last: $(cat "$WORK/disc-$b.txt")"
done
echo "ok"
