#!/usr/bin/env bash
# sluice-bench works end to end at a tiny size (no timing assertions: the
# figures live in docs/benchmarks.md): the line has every field, nothing is
# lost, --json is one JSON object, usage errors exit 2.
source "$(dirname "$0")/lib.sh"
BENCH=$BIN/bench/sluice-bench
for b in $(backends); do
  out=$("$BENCH" --producers 3 --count "$(scaled 20000)" --size 48 --backend "$b" --dir "$WORK" 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "bench failed on $b"; }
  grep -Eq "^bench: producers=3 events=$((3 * $(scaled 20000))) bytes=$((3 * $(scaled 20000) * 48)) seconds=[0-9.]+ msgs_per_s=[0-9]+ mb_per_s=[0-9.]+ lost=0 collector_cpu_s=[0-9.]+ msgs_per_cpu_s=[0-9]+ collector_rss_mb=[0-9.]+ capture_bytes=[0-9]+$" <<<"$out" || fail "bad bench line: $out"
done
"$BENCH" --producers 2 --count 1000 --json --dir "$WORK" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["events"]==2000 and d["lost"]==0, d'
ls "$WORK"/*.sluice >/dev/null 2>&1 && fail "bench left its capture behind"
rc=0; "$BENCH" --count x >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "bad --count should exit 2"
# --rotate-size: the collector rotates, the bench checks the whole set
# (sequence continuity across chunks), says how many chunks, and removes them.
out=$("$BENCH" --producers 2 --count "$(scaled 40000)" --size 64 --rotate-size 64K --dir "$WORK" 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "bench --rotate-size failed"; }
grep -Eq " lost=0 .* chunks=([2-9]|[1-9][0-9]+)$" <<<"$out" || fail "bench --rotate-size: not several chunks, or lost events: $out"
ls "$WORK"/*.sluice >/dev/null 2>&1 && fail "bench --rotate-size left chunks behind"
"$BENCH" --producers 1 --count 100 --json --dir "$WORK" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["chunks"]==0, d' || fail "--json without rotation: chunks is not 0"
rc=0; "$BENCH" --rotate-size 1X 2>"$WORK/err" >/dev/null || rc=$?
[ "$rc" = 2 ] && grep -q -- "--rotate-size" "$WORK/err" || fail "a bad --rotate-size should exit 2 naming the option (rc=$rc: $(cat "$WORK/err"))"
# --sweep: one table row per producer count; --svg draws it.
out=$("$BENCH" --sweep 1,3 --total 3000 --size 32 --dir "$WORK" --svg "$WORK/sweep.svg" 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "sweep failed"; }
[ "$(grep -Ec '^ +[13] +3000 ' <<<"$out")" = 2 ] || fail "bad sweep table: $out"
grep -q '^<svg ' "$WORK/sweep.svg" && grep -q '<polyline' "$WORK/sweep.svg" && grep -q '</svg>' "$WORK/sweep.svg" || fail "bad sweep chart"
[ "$("$BENCH" --sweep 1,2 --total 100 --json --dir "$WORK" 2>/dev/null | python3 -c 'import json,sys; print(sum(json.loads(l)["lost"] == 0 for l in sys.stdin))')" = 2 ] || fail "sweep --json"
rc=0; "$BENCH" --svg "$WORK/x.svg" >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "--svg without --sweep should exit 2"
rc=0; "$BENCH" --sweep 4,2 >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "a descending --sweep should exit 2"
# sl-emit-bench (POSIX only): its stand-in collector speaks protocol 1.1, so
# `disabled` is filtered (the tool exits 1 unless the filtered count equals
# the calls) and `enabled` reads type 1 as enabled; 1.0 refuses `disabled`.
EMIT=$BIN/bench/sl-emit-bench
if [ -x "$EMIT" ]; then
  out=$("$EMIT" --threads 1,2 --count 2000 --api all 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "sl-emit-bench --api all failed"; }
  for api in emit emit_ts enabled disabled; do
    [ "$(grep -Ec "^$api +[12] +64 +[0-9.]+ +[0-9.]+ +[0-9.]+$" <<<"$out")" = 2 ] || fail "sl-emit-bench: no $api rows: $out"
  done
  "$EMIT" --threads 1 --count 2000 --proto 1.0 --api both --quiet 2>"$WORK/err" || { cat "$WORK/err" >&2; fail "sl-emit-bench --proto 1.0 failed"; }
  rc=0; "$EMIT" --proto 1.0 --api disabled >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "--proto 1.0 --api disabled should exit 2"
  rc=0; "$EMIT" --api nope >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "a bad --api should exit 2"
fi
echo "ok"
