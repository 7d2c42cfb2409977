#!/usr/bin/env bash
# Instructions per sluice_producer_emit() / _emit_ts() on one thread,
# counted by callgrind inside those calls only (their callees included:
# the frame copy, the clock, the amortised write() of full buffers). Unlike
# wall time this is stable on a busy machine. Valgrind runs the clock as a
# system call rather than through the vDSO, so for emit() the clock's share
# is a handful of instructions here but about 20 ns in real runs.
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
for api in emit emit_ts; do
  fn=sluice_producer_$api
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$api" \
    --toggle-collect="$fn" "$bench" --threads 1 --count "$count" \
    --size "$size" --api "$api" --quiet >/dev/null 2>"$tmp/log.$api" ||
    { cat "$tmp/log.$api" >&2; exit 1; }
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.$api")
  awk -v api="$api" -v ir="$ir" -v n="$count" -v s="$size" \
    'BEGIN { printf "%s: %.1f instructions/event (size %d, %d events)\n", api, ir / n, s, n }'
done
