#!/usr/bin/env bash
# Forwarding across outages (docs/reliability.md), on a real 3-node
# JetStream cluster:
#  1. the whole cluster is down for 5 s while producers keep sending:
#     ingest goes on (exact counts locally), forwarding falls behind and
#     catches up; the rebuilt capture is the local one, byte for byte;
#  2. a collector is SIGKILLed mid-stream (while the cluster is down, so
#     blocks are certainly unforwarded) and restarted on the same capture:
#     the unforwarded rest of the killed capture is forwarded from where
#     it stopped, then the new one; sluice-pull sees every block once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats_lib.sh"

cluster_init
cluster_start

# ---- 1. the whole cluster down for 5 s ------------------------------------
N=$(scaled 2000)
RATE=$(( N / 8 > 0 ? N / 8 : 1 ))   # about 8 s of sending at any scale
start_collector c-gamma --pipe p-gamma --out "$WORK/gamma.sluice" --stats 1 \
  --forward "$URLS" --forward-host gamma --forward-stream OUTAGE \
  --exit-after 8 --forward-drain 60
wait_forwarding "$WORK/c-gamma.err"
for i in $(seq 1 8); do
  "$PRODUCER" --pipe p-gamma --count "$N" --size 200 --rate "$RATE" >/dev/null &
done
sleep 1
note "stopping the whole cluster for 5 s"
before=$(stat -c %s "$WORK/gamma.sluice")
node_stop 0 KILL; node_stop 1 KILL; node_stop 2 KILL
sleep 5
during=$(stat -c %s "$WORK/gamma.sluice")
[ "$during" -gt "$before" ] || fail "the local capture did not grow while NATS was down ($before -> $during)"
grep -q "nats=disconnected" "$WORK/c-gamma.err" ||
  { cat "$WORK/c-gamma.err" >&2; fail "the status line did not show the outage"; }
cluster_start
wait_collector c-gamma
expect_line "$WORK/c-gamma.out" "collector: producers=8 events=$((8 * N)) bytes=$((8 * N * 200)) dropped=0 malformed=0"
grep -q "^forward: .* pending_blocks=0 pending_bytes=0 " "$WORK/c-gamma.out" ||
  { cat "$WORK/c-gamma.out" "$WORK/c-gamma.err" >&2; fail "gamma: forwarding did not catch up"; }
note "gamma: $(grep '^forward:' "$WORK/c-gamma.out")"
out=$(pull_one OUTAGE gamma "$WORK/pulled")
note "gamma: $out"
grep -q "^pull: captures=1 .* duplicates=0 missing=0 " <<<"$out" || fail "gamma: $out"
cmp "$WORK/pulled/gamma/"*.sluice "$WORK/gamma.sluice" || fail "gamma: rebuilt capture differs"
expect_verify "$WORK/pulled/gamma/"*.sluice "verify: producers=8 events=$((8 * N)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

# ---- 2. a collector SIGKILLed and restarted on the same capture ------------
start_collector c-delta --pipe p-delta --out "$WORK/delta.sluice" --stats 0 \
  --forward "$URLS" --forward-host delta --forward-stream OUTAGE
wait_forwarding "$WORK/c-delta.err"
pids=()
for i in $(seq 1 8); do
  "$PRODUCER" --pipe p-delta --count 1000000 --size 200 --rate 2000 >/dev/null 2>&1 &
  pids+=($!)
done
sleep 1
# Blocks written while the cluster is down are certainly not forwarded
# when the collector dies; blocks in flight at the kill may or may not be.
node_stop 0 KILL; node_stop 1 KILL; node_stop 2 KILL
sleep 1
note "SIGKILL the collector (NATS down)"
kill -KILL "$CPID"; wait "$CPID" 2>/dev/null || true
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
cluster_start
# This part is about the collector's restart: start it once the cluster
# has recovered the stream (the forwarder would wait for that too, up to
# 30 s, rather than create the stream again; part 1 covers a cluster
# restart under a running collector).
wait_stream_leader OUTAGE
[ -f "$WORK/delta.sluice.fwd" ] || fail "no forwarding state beside the capture"
id=$(sed -n 's/^capture //p' "$WORK/delta.sluice.fwd")

M=$(scaled 500)
start_collector c-delta2 --pipe p-delta --out "$WORK/delta.sluice" --force --stats 0 \
  --forward "$URLS" --forward-host delta --forward-stream OUTAGE \
  --exit-after 8 --forward-drain 60
[ -f "$WORK/delta.sluice.$id" ] || fail "the killed capture was not kept as delta.sluice.$id"
for i in $(seq 1 8); do
  "$PRODUCER" --pipe p-delta --count "$M" --size 200 >/dev/null &
done
wait_collector c-delta2
expect_line "$WORK/c-delta2.out" "collector: producers=8 events=$((8 * M)) bytes=$((8 * M * 200)) dropped=0 malformed=0"
grep -q "^forward: .* pending_blocks=0 pending_bytes=0 " "$WORK/c-delta2.out" ||
  { cat "$WORK/c-delta2.out" "$WORK/c-delta2.err" >&2; fail "delta: forwarding did not finish"; }
note "delta (restarted): $(grep '^forward:' "$WORK/c-delta2.out")"
grep -q "^done 1" "$WORK/delta.sluice.$id.fwd" || fail "the killed capture's state is not done"

out=$(pull_one OUTAGE delta "$WORK/pulled")
note "delta: $out"
grep -q "^pull: captures=2 .* duplicates=0 missing=0 " <<<"$out" || fail "delta: $out"
# The killed capture, rebuilt: exactly its whole blocks (not its torn tail).
old=$(ls "$WORK/pulled/delta/$id"*.sluice) || fail "delta: the killed capture was not rebuilt"
torn=$("$DUMP" "$WORK/delta.sluice.$id" --verify 2>/dev/null | sed -n 's/.*torn_tail_bytes=//p') || true
size=$(stat -c %s "$WORK/delta.sluice.$id")
head -c $((size - torn)) "$WORK/delta.sluice.$id" >"$WORK/old-whole.sluice"
cmp "$old" "$WORK/old-whole.sluice" || fail "delta: the rebuilt killed capture differs from its whole blocks"
for f in "$WORK/pulled/delta/"*.sluice; do
  [ "$f" = "$old" ] || cmp "$f" "$WORK/delta.sluice" || fail "delta: the rebuilt new capture differs"
done
expect_verify "$(ls "$WORK/pulled/delta/"*.sluice | grep -v "$id")" \
  "verify: producers=8 events=$((8 * M)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
cluster_stop
echo "PASS test_forward_outage"
