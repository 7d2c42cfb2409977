#!/usr/bin/env bash
# Ring full: a 1 MiB ring (max-frame 64 KiB, so that it may be) and a
# writer throttled by the test-only knob SLUICE_TEST_WRITER_DELAY_US (a
# sleep before every block: a slow disk; 100 ms with drop, 20 ms with
# wait). The load is not scaled down under sanitizers: 20 MB of records
# must outrun the throttled writer.
# - --on-full drop, first: the ring fills, some events are dropped, and
#   the accounting is exact: for every producer,
#   sent = captured + dropped, the drop records in the capture add up to
#   its dropped count (also in its disconnect record), their sum over all
#   producers is the summary's dropped=D, and --verify accepts the skipped
#   sequence numbers as accounted for.
# - --on-full wait, same load: nothing is lost (exact counts, no gaps,
#   dropped=0); producers are held back by the full socket buffers
#   instead, and all of them still finish.
source "$(dirname "$0")/lib.sh"
N=50000
P=4
for b in $(backends); do
  for mode in drop wait; do
    note "backend $b, --on-full $mode"
    if [ "$mode" = drop ]; then
      export SLUICE_TEST_WRITER_DELAY_US=100000
    else
      export SLUICE_TEST_WRITER_DELAY_US=20000
    fi
    cap=$WORK/full-$b-$mode.sluice
    start_collector "c-$b-$mode" --pipe "full-$b-$mode" --out "$cap" --exit-after "$P" \
      --backend "$b" --ring-mb 1 --max-frame 65536 --on-full "$mode"
    watch_mem "$CPID"
    pids=()
    for i in $(seq 1 "$P"); do
      "$PRODUCER" --pipe "full-$b-$mode" --count "$N" --name "p$i" >"$WORK/p$i.out" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do
      wait "$p" || fail "a producer failed"
    done
    for i in $(seq 1 "$P"); do
      grep -q "^producer: events=$N " "$WORK/p$i.out" || fail "p$i did not send all: $(cat "$WORK/p$i.out")"
    done
    wait_collector "c-$b-$mode"
    wait
    expect_mem_bound "$CPID" 1 "$P"
    line=$(grep '^collector: ' "$WORK/c-$b-$mode.out") || fail "no summary"
    captured=$(sed 's/.* events=\([0-9]*\) .*/\1/' <<<"$line")
    dropped=$(sed 's/.* dropped=\([0-9]*\) .*/\1/' <<<"$line")
    [ $(( captured + dropped )) = $(( P * N )) ] || fail "captured + dropped != sent: $line"
    "$DUMP" "$cap" --format jsonl | python3 "$CLIENTS/dump_summary.py" >"$WORK/sum-$b-$mode.txt"
    cat "$WORK/sum-$b-$mode.txt" >&2
    sum=0
    for i in $(seq 1 "$P"); do
      row=$(grep " name=p$i " "$WORK/sum-$b-$mode.txt") || fail "no p$i"
      ev=$(sed 's/.* events=\([0-9]*\) .*/\1/' <<<"$row")
      dr=$(sed 's/.* dropped=\([0-9]*\)$/\1/' <<<"$row")
      [ $(( ev + dr )) = "$N" ] || fail "p$i: captured $ev + drop records $dr != sent $N"
      grep -q "seq_ok=1 disc_events=$ev disc_dropped=$dr reason=EOF malformed=0 " <<<"$row" ||
        fail "p$i: disconnect record disagrees: $row"
      sum=$(( sum + dr ))
    done
    [ "$sum" = "$dropped" ] || fail "drop records add up to $sum, the summary says dropped=$dropped"
    if [ "$mode" = drop ]; then
      [ "$dropped" -gt 0 ] || fail "nothing dropped: the throttle did not fill the ring"
    else
      [ "$dropped" = 0 ] || fail "--on-full wait dropped $dropped"
      grep -q "drop_records=[1-9]" "$WORK/sum-$b-$mode.txt" && fail "drop record with --on-full wait"
    fi
    expect_verify "$cap" "verify: producers=$P events=$captured gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  done
done
echo "ok"
