#!/usr/bin/env bash
# Instructions per call on 1 and 4 threads of sluice_producer_emit() and
# _emit_ts() (type 1, enabled), sluice_producer_enabled() (`enabled`) and
# _emit_ts() of a type the sink's STATE frame disables (`disabled`: filtered,
# nothing sent), counted by callgrind inside those calls only (their callees included:
# the frame copy, the clock, the amortised write() of full buffers). Unlike
# wall time this is stable on a busy machine. Valgrind runs the clock as a
# system call rather than through the vDSO, so for emit() the clock's share
# is a handful of instructions here but about 20 ns in real runs (the TSC
# clock of producer.c is an rdtsc, about 10 ns on this VM). Valgrind runs
# threads one at a time, so the 4-thread figure shows extra work per event
# (locks, retries), not contention stalls.
# The caller's loop and call instruction are outside the count.
#   bench/emit_instructions.sh [BUILD_DIR] [COUNT] [SIZE] [APIS]
# APIS: space-separated, default "emit emit_ts enabled disabled".
set -euo pipefail
build=${1:-build}
count=${2:-200000}
size=${3:-64}
apis=${4:-emit emit_ts enabled disabled}
bench=$build/bench/sl-emit-bench
[ -x "$bench" ] || { echo "emit_instructions: $bench not built" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "emit_instructions: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for threads in 1 4; do
  for api in $apis; do
    case $api in
      emit | emit_ts) fn=sluice_producer_$api ;;
      enabled) fn=sluice_producer_enabled ;;
      disabled) fn=sluice_producer_emit_ts ;;
      *) echo "emit_instructions: unknown api $api" >&2; exit 2 ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$api" \
      --toggle-collect="$fn" "$bench" --threads "$threads" --count "$count" \
      --size "$size" --api "$api" --quiet >/dev/null 2>"$tmp/log.$api" ||
      { cat "$tmp/log.$api" >&2; exit 1; }
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.$api")
    awk -v api="$api" -v ir="$ir" -v n="$((count * threads))" -v s="$size" -v t="$threads" \
      'BEGIN { printf "%s, %d thread(s): %.1f instructions/call (size %d, %d calls)\n", api, t, ir / n, s, n }'
  done
done
