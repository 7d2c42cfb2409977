#!/usr/bin/env bash
# A stop reads everything producers had already sent, also from
# connections the collector had not accepted yet. 3,000 clients (scaled by
# SL_TEST_SCALE) each connect, send one line without reading the greeting,
# and stay open; SIGTERM follows the last send at once, so many of them
# are still in the listen backlog (or accepted by the kernel for io_uring
# but not yet reported). Every line must be in the capture, on every
# backend: the summary and the verified dump count one producer and one
# event per client.
source "$(dirname "$0")/lib.sh"
N=$(scaled 3000)
for b in $(backends); do
  note "backend $b, $N clients"
  cap=$WORK/backlog-$b.sluice
  stop=$WORK/backlog-$b.stop
  start_collector "c-$b" --pipe "bl-$b" --out "$cap" --backend "$b" --workers 2
  python3 "$CLIENTS/fault_client.py" hold "$WORK/CoreFxPipe_bl-$b" --count "$N" \
    --stop-file "$stop" >"$WORK/hold-$b.out" &
  hpid=$!
  for _ in $(seq 1 1200); do
    grep -q "^held=" "$WORK/hold-$b.out" 2>/dev/null && break
    kill -0 "$hpid" 2>/dev/null || break
    sleep 0.01
  done
  kill -TERM "$CPID"
  expect_line "$WORK/hold-$b.out" "held=$N"
  wait_collector "c-$b"
  touch "$stop"
  wait "$hpid" || fail "hold client failed"
  expect_line "$WORK/c-$b.out" "collector: producers=$N events=$N bytes=$(
    python3 -c "print(sum(len('held %d' % i) for i in range($N)))") dropped=0 malformed=0"
  expect_verify "$cap" "verify: producers=$N events=$N gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
done
echo "ok"
