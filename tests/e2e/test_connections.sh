#!/usr/bin/env bash
# 1,024 concurrent connections against --max-producers 1000. The collector
# is started with a soft open-file limit of 256 and must raise it to the
# hard limit itself. One client process opens the connections one after
# another and holds them: the first 1,000 are greeted and each sends one
# line, the other 24 get the refusal greeting
# "SLUICE/1 error=too-many-producers" and are closed; the collector keeps
# running, and once the held connections close it takes new producers
# again. Prints the collector's resident memory with the 1,024 connections
# open and idle, then with every held connection's buffer holding a
# 60,000-byte unfinished line (the figures in docs/reliability.md), and
# checks the bound. Sanitizer builds skip the second measurement: their
# memory is not the collector's, and the 60 MB would only cost time.
source "$(dirname "$0")/lib.sh"
CONNS=1024
MAXP=1000
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $(( CONNS + 200 )) ]; then
  ulimit -Hn $(( CONNS + 200 )) 2>/dev/null ||
    { echo "skip: hard open-file limit $hard is below $(( CONNS + 200 )) and cannot be raised"; exit 77; }
  hard=$(ulimit -Hn)
fi
for b in $(backends); do
  note "backend $b"
  cap=$WORK/conn-$b.sluice
  stop=$WORK/conn-$b.stop
  ulimit -Sn 256
  start_collector "c-$b" --pipe "conn-$b" --out "$cap" --exit-after $(( MAXP + 1 )) --backend "$b" \
    --max-producers "$MAXP"
  ulimit -Sn "$hard"
  watch_mem "$CPID"
  soft=$(awk '/^Max open files/ { print $4 }' "/proc/$CPID/limits")
  [ "$soft" = "$hard" ] || fail "collector's soft open-file limit is $soft, not the hard limit $hard"
  grep -q "open-file limit" "$WORK/c-$b.err" && fail "unexpected limit warning: $(cat "$WORK/c-$b.err")"
  python3 "$CLIENTS/fault_client.py" many "$WORK/CoreFxPipe_conn-$b" --count "$CONNS" \
    --stop-file "$stop" --fill-file "$WORK/conn-$b.fill" --fill 60000 >"$WORK/many-$b.out" &
  mpid=$!
  for _ in $(seq 1 600); do
    grep -q "^accepted=" "$WORK/many-$b.out" && break
    kill -0 "$mpid" 2>/dev/null || break
    sleep 0.05
  done
  expect_line "$WORK/many-$b.out" "accepted=$MAXP refused=$(( CONNS - MAXP ))"
  expect_line "$WORK/many-$b.out" "refusal b'SLUICE/1 error=too-many-producers\\x00' x$(( CONNS - MAXP ))"
  kill -0 "$CPID" 2>/dev/null || fail "collector died"
  # Every accepted connection's line has been read once the collector
  # counts MAXP producers; wait for that (bounded) before measuring.
  for _ in $(seq 1 200); do
    [ "$(find "/proc/$CPID/fd" -mindepth 1 -maxdepth 1 | wc -l)" -ge "$MAXP" ] && break
    sleep 0.05
  done
  sleep 0.5
  rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$CPID/status")
  note "RSS with $CONNS connections open and idle ($MAXP held, each sent one line): $rss KiB"
  filled=0
  if ! sanitized; then
    touch "$WORK/conn-$b.fill"
    for _ in $(seq 1 600); do
      grep -q "^filled" "$WORK/many-$b.out" && break
      kill -0 "$mpid" 2>/dev/null || break
      sleep 0.05
    done
    grep -q "^filled" "$WORK/many-$b.out" || fail "client did not fill its connections"
    sleep 1
    rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$CPID/status")
    note "RSS with $MAXP connections each buffering a 60,000-byte unfinished line: $rss KiB"
    filled=$MAXP
  fi
  touch "$stop"
  wait "$mpid" || fail "client failed"
  # Still serving after the burst: once the collector has seen the held
  # connections close (1,000 hang-ups, each its own completion, so not at
  # once on a loaded machine) it takes a producer again. Until then a new
  # one is refused, which is right; retry only that refusal, bounded.
  produce_retrying_refusal "$WORK/after-$b.err" --pipe "conn-$b" --count 1000 --name after ||
    { cat "$WORK/after-$b.err" >&2; fail "producer after the burst failed"; }
  wait_collector "c-$b"
  wait
  expect_mem_bound "$CPID" 64 "$CONNS"
  # Each held connection: its line and, at the close, the unfinished one.
  ev=$(( MAXP + filled + 1000 ))
  expect_line "$WORK/c-$b.out" "$(grep '^collector:' "$WORK/c-$b.out" | grep "producers=$(( MAXP + 1 )) events=$ev .* malformed=0$")"
  expect_verify "$cap" "verify: producers=$(( MAXP + 1 )) events=$ev gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
done
echo "ok"
