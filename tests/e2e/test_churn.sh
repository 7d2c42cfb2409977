#!/usr/bin/env bash
# Connection churn: one client process makes 2,000 connect/close cycles
# without sending a byte, then 2,000 cycles that each send one line, while
# a normal producer streams alongside. Afterwards the collector holds no
# more descriptors than before (nothing leaked), its peak memory is within
# the bound, the silent connections left no trace (not producers, no
# records), and every line and every event is in the capture.
source "$(dirname "$0")/lib.sh"
N=$(scaled 100000)
IDLE=$(scaled 2000)
LINES=$(scaled 2000)
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
for b in $(backends); do
  note "backend $b"
  cap=$WORK/churn-$b.sluice
  start_collector "c-$b" --pipe "churn-$b" --out "$cap" --backend "$b"
  watch_mem "$CPID"
  base=$(fds "$CPID")
  "$PRODUCER" --pipe "churn-$b" --count "$N" --name steady >/dev/null &
  ppid_=$!
  python3 "$CLIENTS/fault_client.py" churn "$WORK/CoreFxPipe_churn-$b" --idle "$IDLE" --lines "$LINES" \
    >"$WORK/churn-$b.out" || fail "churn client failed"
  wait "$ppid_" || fail "steady producer failed"
  expect_line "$WORK/churn-$b.out" "idle=$IDLE lines=$LINES"
  # Every connection ends at the collector soon after the client closes
  # it; wait (bounded) for the descriptor count to come back.
  for _ in $(seq 1 200); do
    [ "$(fds "$CPID")" -le "$base" ] && break
    sleep 0.05
  done
  [ "$(fds "$CPID")" -le "$base" ] || fail "descriptors leaked: $base before, $(fds "$CPID") after"
  kill -TERM "$CPID"
  wait_collector "c-$b"
  wait
  expect_mem_bound "$CPID" 64 16
  total=$(( N + LINES ))
  grep -q "^collector: producers=$(( LINES + 1 )) events=$total .* dropped=0 malformed=0$" "$WORK/c-$b.out" ||
    fail "summary: $(cat "$WORK/c-$b.out"), expected producers=$(( LINES + 1 )) events=$total"
  expect_verify "$cap" "verify: producers=$(( LINES + 1 )) events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  [ "$("$DUMP" "$cap" | grep -c '^--- connect')" = $(( LINES + 1 )) ] || fail "connect records"
done
echo "ok"
