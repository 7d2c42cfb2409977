#!/usr/bin/env bash
# Forwarding a rotating capture set (docs/forwarding.md section 8,
# docs/reliability.md), on a real 3-node JetStream cluster, R3 stream:
#  1. --rotate-size 64K --keep 3 with the whole cluster down for 4 s:
#     chunks beyond --keep are kept while they are not acknowledged, and
#     deleted once they are; sluice-pull rebuilds the whole set (exact
#     counts, no gap, no missing chunk), the chunks still kept locally
#     byte-identical (cmp) to the rebuilt ones;
#  2. the collector SIGKILLed (cluster down, so blocks are certainly
#     unforwarded) and restarted on the same set with --force: the killed
#     set's unforwarded chunks are moved aside and forwarded from where
#     the state file says, then the new set; each block pulled once;
#  3. --max-total forcing deletion while the cluster is down: the blocks
#     deleted unforwarded are counted in sluice-ctl status (text and
#     --json), the status line, the exit line and the last close record;
#     sluice-pull and sluice-dump --verify report the chunks that never
#     arrived.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats_lib.sh"
CTL=$BIN/collector/sluice-ctl

cluster_init
cluster_start

# ctl_json PIPE EXPR: polls `status --json` (at most 90 s) until the python
# expression EXPR over f (the forward object) holds.
ctl_json() {
  for _ in $(seq 1 900); do
    if "$CTL" --pipe "$1" status --json >"$WORK/st-$1.json" 2>/dev/null &&
       /usr/bin/python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['forward']; sys.exit(0 if ($2) else 1)" \
         "$WORK/st-$1.json" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK/st-$1.json" >&2; fail "status of $1 never had $2"
}
# set_suffix N: what verify adds for a set of N files (nothing for one).
set_suffix() { [ "$1" -gt 1 ] && echo " chunks=$1 expired=0 missing_chunks=0" || true; }
nchunks() { ls "$WORK"/"$1".[0-9]*.sluice 2>/dev/null | wc -l; }
# chunk_no FILE: the chunk number in a chunk's name (…NNNNNN.sluice).
chunk_no() { local b=${1%.sluice}; echo $((10#${b##*.})); }

# ---- 1. --keep 3, cluster down: kept until acknowledged, then deleted ------
P=4
N=$(scaled 2500)
RATE=$(( N / 6 > 0 ? N / 6 : 1 ))   # about 6 s of sending
start_collector ra --pipe p-ra --out "$WORK/ra.sluice" --rotate-size 64K --keep 3 \
  --stats 1 --forward "$URLS" --forward-host ra --forward-stream ROT --forward-drain 60
wait_forwarding "$WORK/ra.err"
pids=()
for i in $(seq 1 $P); do
  "$PRODUCER" --pipe p-ra --count "$N" --size 200 --rate "$RATE" >/dev/null &
  pids+=($!)
done
sleep 1
note "stopping the whole cluster for 4 s"
node_stop 0 KILL; node_stop 1 KILL; node_stop 2 KILL
sleep 4
kept=$(nchunks ra)
[ "$kept" -gt 3 ] || fail "with NATS down only $kept chunks are kept: unforwarded chunks were deleted"
ctl_json p-ra 'f["connected"] is False and f["pending_blocks"] > 0 and f["pending_bytes"] > 0'
note "NATS down: $kept chunks kept (--keep 3)"
cluster_start
for p in "${pids[@]}"; do wait "$p"; done
ctl_json p-ra 'f["connected"] is True and f["pending_blocks"] == 0 and f["pending_bytes"] == 0'
# One more event: retention runs at the next block and deletes what is
# now acknowledged.
"$PRODUCER" --pipe p-ra --count 10 --size 200 >/dev/null
for _ in $(seq 1 100); do [ "$(nchunks ra)" -le 3 ] && break; sleep 0.1; done
[ "$(nchunks ra)" -le 3 ] || { ls "$WORK" >&2; fail "acknowledged chunks beyond --keep 3 were not deleted: $(nchunks ra)"; }
"$CTL" --pipe p-ra stop >/dev/null || fail "sluice-ctl stop failed"
wait_collector ra
E=$((P * N + 10))
expect_line "$WORK/ra.out" "collector: producers=$((P + 1)) events=$E bytes=$((E * 200)) dropped=0 malformed=0"
grep -q "^forward: .* pending_blocks=0 pending_bytes=0 .* expired_unforwarded=0$" "$WORK/ra.out" ||
  { cat "$WORK/ra.out" "$WORK/ra.err" >&2; fail "ra: forwarding did not finish"; }
note "ra: $(grep '^forward:' "$WORK/ra.out")"
grep -q "^done 1" "$WORK/ra.sluice.fwd" || fail "ra: the set's state is not done: $(cat "$WORK/ra.sluice.fwd")"
out=$(pull_one ROT ra "$WORK/pulled")
note "ra: $out"
grep -q "^pull: .* duplicates=0 missing=0 .* missing_chunks=0$" <<<"$out" || fail "ra: $out"
n_pulled=$(ls "$WORK/pulled/ra/"*.sluice | wc -l)
last=$(ls "$WORK"/ra.[0-9]*.sluice | sort | tail -n 1)
[ "$n_pulled" = "$(chunk_no "$last")" ] || fail "ra: $n_pulled chunks rebuilt, the set has $(chunk_no "$last")"
for f in "$WORK"/ra.[0-9]*.sluice; do
  k=$(printf %06d "$(chunk_no "$f")")
  cmp "$f" "$WORK/pulled/ra/"*".$k.sluice" || fail "ra: rebuilt chunk $k differs"
done
# The rebuilt set is the whole capture: every event, nothing expired.
rc=0; vout=$("$DUMP" --verify "$WORK/pulled/ra/"*.sluice 2>&1) || rc=$?
[ "$rc" = 0 ] || { echo "$vout" >&2; fail "ra: verify of the rebuilt set exited $rc"; }
grep -qx "verify: producers=$((P + 1)) events=$E gaps=0 corrupt_blocks=0 torn_tail_bytes=0$(set_suffix "$n_pulled")" <<<"$vout" ||
  fail "ra: rebuilt set: $vout"
# Where both have the same chunks, the same counts as the local set.
rc=0; lout=$("$DUMP" --verify "$WORK"/ra.[0-9]*.sluice 2>&1) || rc=$?
sel=$(for f in "$WORK"/ra.[0-9]*.sluice; do ls "$WORK/pulled/ra/"*".$(printf %06d "$(chunk_no "$f")").sluice"; done)
rc2=0; pout=$("$DUMP" --verify $sel 2>&1) || rc2=$?
[ "$rc" = "$rc2" ] && [ "$lout" = "$pout" ] || fail "ra: local set '$lout' ($rc), rebuilt '$pout' ($rc2)"

# ---- 2. SIGKILL and restart on the same set --------------------------------
start_collector rb --pipe p-rb --out "$WORK/rb.sluice" --rotate-size 64K --stats 0 \
  --forward "$URLS" --forward-host rb --forward-stream ROT
wait_forwarding "$WORK/rb.err"
pids=()
for i in $(seq 1 $P); do
  "$PRODUCER" --pipe p-rb --count 1000000 --size 200 --rate 1500 >/dev/null 2>&1 &
  pids+=($!)
done
sleep 1
node_stop 0 KILL; node_stop 1 KILL; node_stop 2 KILL
sleep 1
note "SIGKILL the collector (NATS down)"
kill -KILL "$CPID"; wait "$CPID" 2>/dev/null || true
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
cluster_start
wait_stream_leader ROT
[ -f "$WORK/rb.sluice.fwd" ] || fail "no forwarding state beside the set"
id=$(sed -n 's/^capture //p' "$WORK/rb.sluice.fwd")
from=$(sed -n 's/^chunk //p' "$WORK/rb.sluice.fwd")
[ -n "$from" ] || fail "the set's state names no chunk: $(cat "$WORK/rb.sluice.fwd")"
old_last=$(ls "$WORK"/rb.[0-9]*.sluice | sort | tail -n 1)
old_n=$(chunk_no "$old_last")
# The killed set's chunks the restart will move aside, as they are now.
mkdir "$WORK/rb-old"
for f in "$WORK"/rb.[0-9]*.sluice; do
  [ "$(chunk_no "$f")" -ge "$from" ] && cp "$f" "$WORK/rb-old/"
done
# A small new run: the killed set's chunks below $from, already forwarded,
# stay beside it unless the new run overwrites them; the forwarder must
# not take them for the new set's.
M=$(scaled 100)
start_collector rb2 --pipe p-rb --out "$WORK/rb.sluice" --rotate-size 64K --force --stats 0 \
  --forward "$URLS" --forward-host rb --forward-stream ROT --exit-after $P --forward-drain 60
[ -f "$WORK/rb.sluice.$id.fwd" ] || fail "the killed set's state was not moved aside"
[ -f "$WORK/rb.sluice.$(printf %06d "$old_n").$id" ] || { ls "$WORK" >&2; fail "the killed set's last chunk was not moved aside"; }
for i in $(seq 1 $P); do
  "$PRODUCER" --pipe p-rb --count "$M" --size 200 >/dev/null &
done
wait_collector rb2
expect_line "$WORK/rb2.out" "collector: producers=$P events=$((P * M)) bytes=$((P * M * 200)) dropped=0 malformed=0"
grep -q "^forward: .* pending_blocks=0 pending_bytes=0 " "$WORK/rb2.out" ||
  { cat "$WORK/rb2.out" "$WORK/rb2.err" >&2; fail "rb: forwarding did not finish"; }
note "rb (restarted): $(grep '^forward:' "$WORK/rb2.out")"
grep -q "^done 1" "$WORK/rb.sluice.$id.fwd" || fail "the killed set's state is not done"
new_id=$(sed -n 's/^capture //p' "$WORK/rb.sluice.fwd")
new_last=0
for f in "$WORK"/rb.[0-9]*.sluice; do
  k=$(chunk_no "$f")
  # The header's capture_id: 16 bytes at offset 48 (capture-format.md 15.1).
  if [ "$(od -An -tx1 -j 48 -N 16 "$f" | tr -d ' \n')" = "$new_id" ] && [ "$k" -gt "$new_last" ]; then new_last=$k; fi
done
grep -qx "chunk $new_last" "$WORK/rb.sluice.fwd" && grep -qx "done 1" "$WORK/rb.sluice.fwd" ||
  fail "rb: the new set's state should be done at its last chunk $new_last: $(cat "$WORK/rb.sluice.fwd")"
[ -e "$WORK/rb.$(printf %06d $((new_last + 1))).sluice" ] && note "rb: an earlier capture's chunk $((new_last + 1)) is beside the new set (not forwarded)"
out=$(pull_one ROT rb "$WORK/pulled")
note "rb: $out"
grep -q "^pull: .* duplicates=0 missing=0 .* missing_chunks=0$" <<<"$out" || fail "rb: $out"
# The killed set, rebuilt: chunk by chunk its whole blocks.
for f in "$WORK/rb-old/"*.sluice; do
  k=$(printf %06d "$(chunk_no "$f")")
  r="$WORK/pulled/rb/$id.$k.sluice"
  torn=$("$DUMP" "$f" --verify 2>/dev/null | sed -n 's/.*torn_tail_bytes=\([0-9]*\).*/\1/p') || true
  size=$(stat -c %s "$f")
  if [ "$size" -le 200 ] && [ ! -e "$r" ]; then continue; fi   # a header and no block yet
  head -c $((size - ${torn:-0})) "$f" >"$WORK/whole.sluice"
  cmp "$r" "$WORK/whole.sluice" || fail "rb: rebuilt chunk $k of the killed set differs from its whole blocks"
done
n_old=$(ls "$WORK/pulled/rb/$id".*.sluice | wc -l)
rc=0; vout=$("$DUMP" --verify "$WORK/pulled/rb/$id".*.sluice 2>&1) || rc=$?
grep -q " gaps=0 corrupt_blocks=0 torn_tail_bytes=0$(set_suffix "$n_old")$" <<<"$vout" ||
  fail "rb: the killed set rebuilt: $vout (exit $rc)"
new=$(ls "$WORK/pulled/rb/"*.sluice | grep -v "/$id\.")
for f in $new; do
  cmp "$f" "$WORK/rb.$(basename "$f" | sed 's/^[0-9a-f]*\.//')" || fail "rb: rebuilt chunk $(basename "$f") of the new set differs"
done
rc=0; vout=$("$DUMP" --verify $new 2>&1) || rc=$?
[ "$rc" = 0 ] || { echo "$vout" >&2; fail "rb: verify of the rebuilt new set exited $rc"; }
grep -qx "verify: producers=$P events=$((P * M)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0$(set_suffix "$(echo $new | wc -w)")" <<<"$vout" ||
  fail "rb: rebuilt new set: $vout"

# ---- 3. --max-total deletes unforwarded chunks while NATS is down ----------
start_collector rc --pipe p-rc --out "$WORK/rc.sluice" --rotate-size 64K --keep 3 --max-total 256K \
  --stats 1 --forward "$URLS" --forward-host rc --forward-stream ROT --forward-drain 60
wait_forwarding "$WORK/rc.err"
"$PRODUCER" --pipe p-rc --count 100 --size 200 >/dev/null
ctl_json p-rc 'f["forwarded_blocks"] > 0 and f["pending_blocks"] == 0'
node_stop 0 KILL; node_stop 1 KILL; node_stop 2 KILL
pids=()
for i in $(seq 1 $P); do
  "$PRODUCER" --pipe p-rc --count "$N" --size 200 --rate $((RATE * 2)) >/dev/null &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
ctl_json p-rc 'f["connected"] is False and f["expired_unforwarded"] > 0'
"$CTL" --pipe p-rc status >"$WORK/rc-status.txt" || fail "status failed"
grep -Eq "^  expired unforwarded: [1-9][0-9]* blocks$" "$WORK/rc-status.txt" || fail "rc: status: $(cat "$WORK/rc-status.txt")"
total=0; for f in "$WORK"/rc.[0-9]*.sluice; do total=$((total + $(stat -c %s "$f"))); done
[ "$total" -le $((256 * 1024 + 2 * 65536)) ] || fail "rc: the set holds $total bytes with --max-total 256K"
cluster_start
ctl_json p-rc 'f["connected"] is True and f["pending_blocks"] == 0 and f["pending_bytes"] == 0'
"$CTL" --pipe p-rc stop >/dev/null || fail "sluice-ctl stop failed"
wait_collector rc
expired=$(sed -n 's/^forward: .* expired_unforwarded=\([0-9]*\)$/\1/p' "$WORK/rc.out")
[ "${expired:-0}" -gt 0 ] || { cat "$WORK/rc.out" >&2; fail "rc: no expired_unforwarded in the exit line"; }
grep -q "expired_unforwarded=$expired" "$WORK/rc.err" || fail "rc: the status line did not show expired_unforwarded=$expired"
note "rc: $(grep '^forward:' "$WORK/rc.out")"
last=$(ls "$WORK"/rc.[0-9]*.sluice | sort | tail -n 1)
"$DUMP" --format jsonl "$last" | grep '"kind":"close"' >"$WORK/rc-close.json" || fail "rc: no close record"
/usr/bin/python3 - "$WORK/rc-close.json" "$expired" <<'PY' || fail "rc: close record: $(cat "$WORK/rc-close.json")"
import json, sys
c = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert c.get("expired_unforwarded") == int(sys.argv[2]), c
PY
out=$(pull_one ROT rc "$WORK/pulled")
note "rc: $out"
mc=$(sed -n 's/.* missing_chunks=\([0-9]*\)$/\1/p' <<<"$out")
[ "${mc:-0}" -gt 0 ] || fail "rc: pull reports no missing chunk: $out"
rc=0; vout=$("$DUMP" --verify "$WORK/pulled/rc/"*.sluice 2>&1) || rc=$?
[ "$rc" = 4 ] || fail "rc: verify of the rebuilt set with missing chunks exited $rc: $vout"
grep -q " missing_chunks=$mc$" <<<"$vout" || fail "rc: pull says $mc chunks missing, verify: $vout"
for f in "$WORK"/rc.[0-9]*.sluice; do
  r="$WORK/pulled/rc/"*".$(printf %06d "$(chunk_no "$f")").sluice"
  cmp "$f" $r || fail "rc: kept chunk $(basename "$f") and its rebuilt copy differ"
done
cluster_stop
echo "PASS test_forward_rotate"
