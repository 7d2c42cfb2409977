#!/usr/bin/env bash
# The foundation's end-to-end case, on every backend: 8 binary library
# producers x 100k events + 2 text clients that are not our code (socat and
# Python's socket) -> sluice-dump --verify reports exactly the sent counts
# and no gaps; the collector's summary agrees; jsonl has one line per record.
source "$(dirname "$0")/lib.sh"
n=$(scaled 100000)
for b in $(backends); do
  note "backend $b"
  cap=$WORK/pipe-$b.sluice
  start_collector "c-$b" --pipe "pl-$b" --out "$cap" --exit-after 10 --backend "$b"
  for i in $(seq 1 8); do
    "$PRODUCER" --pipe "pl-$b" --count "$n" --size 100 --name "prod-$i" >"$WORK/p$i.out" &
  done
  python3 "$CLIENTS/text_client.py" "$WORK/CoreFxPipe_pl-$b" --lines 5000 --crlf &
  seq 1 3000 | socat -u - "UNIX-CONNECT:$WORK/CoreFxPipe_pl-$b" &
  wait_collector "c-$b"
  wait
  total=$((8 * n + 8000))
  expect_line "$WORK/c-$b.out" "collector: producers=10 events=$total bytes=$((8 * n * 100 + $(python3 -c 'print(sum(len("line %d" % i) for i in range(5000)) + sum(len(str(i)) for i in range(1, 3001)))'))) dropped=0 malformed=0"
  expect_verify "$cap" "verify: producers=10 events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  # Every producer line of p*.out reports exactly its count.
  for i in $(seq 1 8); do
    grep -q "^producer: events=$n bytes=$((n * 100)) seconds=" "$WORK/p$i.out" || fail "producer $i output: $(cat "$WORK/p$i.out")"
  done
  # CRLF was stripped: no text event payload ends in \r.
  "$DUMP" "$cap" --format jsonl >"$WORK/dump-$b.jsonl"
  lines=$(wc -l <"$WORK/dump-$b.jsonl")
  [ "$lines" -ge "$total" ] || fail "jsonl has $lines lines, want >= $total"
  ! grep -q '\\r"' "$WORK/dump-$b.jsonl" || fail "a text event kept its \\r"
  grep -q '"line 4999"' "$WORK/dump-$b.jsonl" || fail "last python line missing"
done
echo "ok"
