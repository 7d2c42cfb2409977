#!/usr/bin/env bash
# Forwarding to a real 3-node JetStream cluster (docs/forwarding.md): two
# collectors (hosts alpha and beta) with 8 producers each forward into one
# R3 stream; the stream's leader node is killed mid-stream and restarted
# later. sluice-pull then rebuilds both captures, which must be byte for
# byte the local captures (every block once, none missing), and verify
# with exact counts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats_lib.sh"

N=$(scaled 3000)      # events per producer
RATE=$(( N / 2 > 0 ? N / 2 : 1 ))   # per producer: the run lasts about 2 s at any scale
cluster_init
cluster_start

for h in alpha beta; do
  start_collector "c-$h" --pipe "p-$h" --out "$WORK/$h.sluice" --stats 0 \
    --forward "$URLS" --forward-host "$h" --forward-stream EVENTS \
    --exit-after 8 --forward-drain 60
  eval "CPID_$h=$CPID"
done
for h in alpha beta; do wait_forwarding "$WORK/c-$h.err"; done
grep -q "3 replicas" "$WORK/c-alpha.err" "$WORK/c-beta.err" ||
  fail "the stream was not created with 3 replicas"

for h in alpha beta; do
  for i in $(seq 1 8); do
    "$PRODUCER" --pipe "p-$h" --count "$N" --size 200 --rate $RATE >/dev/null &
  done
done

# Mid-stream: kill the stream's leader, restart it after a while.
sleep 0.7
leader=
for _ in $(seq 1 100); do
  leader=$(stream_leader EVENTS) && break
  sleep 0.1
done
[ -n "$leader" ] || fail "no leader known for stream EVENTS"
note "killing the stream leader n$leader"
node_stop "$leader" KILL
sleep 2
node_start "$leader"

for h in alpha beta; do
  CPID=$(eval echo "\$CPID_$h")
  wait_collector "c-$h"
  expect_line "$WORK/c-$h.out" "collector: producers=8 events=$((8 * N)) bytes=$((8 * N * 200)) dropped=0 malformed=0"
  grep -q "^forward: .* pending_blocks=0 pending_bytes=0 " "$WORK/c-$h.out" ||
    { cat "$WORK/c-$h.out" "$WORK/c-$h.err" >&2; fail "$h: forwarding did not finish"; }
  note "$h: $(grep '^forward:' "$WORK/c-$h.out"); $(grep -c 'forward:' "$WORK/c-$h.err") forward log lines"
  grep 'forward:' "$WORK/c-$h.err" | sed 's/^/    /' >&2
done

for h in alpha beta; do
  out=$(pull_one EVENTS "$h" "$WORK/pulled")
  note "$h: $out"
  files=("$WORK/pulled/$h"/*.sluice)
  [ ${#files[@]} = 1 ] || fail "$h: expected one rebuilt capture, got ${#files[@]}"
  grep -q "^pull: captures=1 .* missing=0 " <<<"$out" || fail "$h: $out"
  cmp "${files[0]}" "$WORK/$h.sluice" || fail "$h: the rebuilt capture differs from the local one"
  expect_verify "${files[0]}" "verify: producers=8 events=$((8 * N)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
done
cluster_stop
echo "PASS test_forward_cluster"
