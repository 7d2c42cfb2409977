#!/usr/bin/env bash
# 256 concurrent producer processes × 20,000 events each (scaled down under
# sanitizers): every event of every producer is in the capture, in order,
# and the collector's peak memory stays within the bound.
source "$(dirname "$0")/lib.sh"
P=256
N=$(scaled 20000)
for b in $(backends); do
  note "backend $b"
  cap=$WORK/load-$b.sluice
  start_collector "c-$b" --pipe "load-$b" --out "$cap" --exit-after "$P" --backend "$b" --ring-mb 16
  watch_mem "$CPID"
  pids=()
  for i in $(seq 1 "$P"); do
    # 256 processes starting at once (slow under a sanitizer on a loaded
    # machine): a generous connect timeout, the test is about the events.
    "$PRODUCER" --pipe "load-$b" --count "$N" --size 32 --name "p$i" --connect-timeout 60000 >/dev/null 2>"$WORK/p$i.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do
    wait "$p" || fail "a producer failed: $(cat "$WORK"/p*.err)"
  done
  wait_collector "c-$b"
  wait
  expect_mem_bound "$CPID" 16 "$P"
  total=$(( P * N ))
  expect_line "$WORK/c-$b.out" "collector: producers=$P events=$total bytes=$(( total * 32 )) dropped=0 malformed=0"
  expect_verify "$cap" "verify: producers=$P events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  rm -f "$cap"
done
echo "ok"
