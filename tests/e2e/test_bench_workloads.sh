#!/usr/bin/env bash
# sluice-bench's realistic workloads work end to end at a tiny count (no
# timing: the figures are in docs/benchmarks.md): the profiler stream and a
# replayed log, each kept and verified by sluice-dump with exact counts;
# the profiler stream's slices show in the dump; a missing log file is a
# clear error before anything starts; a bad workload is a usage error.
source "$(dirname "$0")/lib.sh"
BENCH=$BIN/bench/sluice-bench
DUMP=$BIN/collector/sluice-dump
n=$(scaled 3000)
printf 'Jan  1 00:00:01 host kernel: one\nJan  1 00:00:02 host sshd[1]: two\r\n\nthree\n' >"$WORK/mini.log"
for w in profiler "log:$WORK/mini.log"; do
  rm -f "$WORK"/*.sluice
  out=$("$BENCH" --producers 2 --count "$n" --workload "$w" --keep --dir "$WORK" 2>"$WORK/err") || { cat "$WORK/err" >&2; fail "bench --workload $w failed"; }
  grep -Eq "^bench: producers=2 events=$((2 * n)) .* lost=0 .* capture_bytes=[0-9]+$" <<<"$out" || fail "bad bench line for $w: $out"
  cap=$(ls "$WORK"/*.sluice)
  expect_verify "$cap" "verify: producers=2 events=$((2 * n)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  if [ "$w" = profiler ]; then
    "$DUMP" --format chrome "$cap" >"$WORK/p.json" || fail "dump chrome failed"
    grep -q '"ph":"B"' "$WORK/p.json" || fail "profiler workload has no slice begins"
    grep -q 'http::read_request' "$WORK/p.json" || fail "profiler workload's interned name missing"
  else
    "$DUMP" "$cap" >"$WORK/l.txt" || fail "dump failed"
    grep -q 'host sshd\[1\]: two$' "$WORK/l.txt" || fail "log line not replayed without its CR"
  fi
done
# A missing log file: exit 1 with the file named, before a collector starts.
set +e
"$BENCH" --producers 1 --count 1 --workload log:/nonexistent/x.log --dir "$WORK" >"$WORK/o" 2>"$WORK/e"; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "missing log: exit $rc, not 1"
grep -q "cannot read '/nonexistent/x.log'" "$WORK/e" || fail "missing log: $(cat "$WORK/e")"
set +e
"$BENCH" --workload nope >"$WORK/o" 2>"$WORK/e"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bad workload: exit $rc, not 2"
grep -q "synthetic, profiler or log" "$WORK/e" || fail "bad workload: $(cat "$WORK/e")"
echo "ok"
