#!/usr/bin/env bash
# Instructions per sluice_producer_emit() / _emit_ts() on 1 and 4 threads,
# counted by callgrind inside those calls only (their callees included:
# the frame copy, the clock, the amortised write() of full buffers). Unlike
# wall time this is stable on a busy machine. Valgrind runs the clock as a
# system call rather than through the vDSO, so for emit() the clock's share
# is a handful of instructions here but about 20 ns in real runs (the TSC
# clock of producer.c is an rdtsc, about 10 ns on this VM). Valgrind runs
# threads one at a time, so the 4-thread figure shows extra work per event
# (locks, retries), not contention stalls.
#   bench/emit_instructions.sh [BUILD_DIR] [COUNT] [SIZE]
set -euo pipefail
build=${1:-build}
count=${2:-200000}
size=${3:-64}
bench=$build/bench/sl-emit-bench
[ -x "$bench" ] || { echo "emit_instructions: $bench not built" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "emit_instructions: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for threads in 1 4; do
  for api in emit emit_ts; do
    fn=sluice_producer_$api
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$api" \
      --toggle-collect="$fn" "$bench" --threads "$threads" --count "$count" \
      --size "$size" --api "$api" --quiet >/dev/null 2>"$tmp/log.$api" ||
      { cat "$tmp/log.$api" >&2; exit 1; }
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.$api")
    awk -v api="$api" -v ir="$ir" -v n="$((count * threads))" -v s="$size" -v t="$threads" \
      'BEGIN { printf "%s, %d thread(s): %.1f instructions/event (size %d, %d events)\n", api, t, ir / n, s, n }'
  done
done
