#!/usr/bin/env bash
# bench/ring_release.sh: how long producers stay blocked behind a slow
# writer, for one or more builds side by side (docs/benchmarks.md, "Ring
# release per block").
#
#   bench/ring_release.sh [--reps N] [--delay-us US] BUILD [BUILD...]
#
# Each run: sluice-collector --ring-mb 8 with the test-only writer throttle
# SLUICE_TEST_WRITER_DELAY_US (a sleep before every block: a slow disk),
# and 4 sluice-producer processes of 200,000 events of 256 bytes each, so
# the ring is full and lossless backpressure holds the producers. From the
# capture, per producer, the gaps between consecutive events' collector
# timestamps: while a producer is blocked none of its events is read, so
# the gaps are its stalls. Printed: the longest stall, and the number of
# stalls over 5 ms and the time spent in them (mean per producer); plus
# the run's wall time. Runs alternate between the builds, repetition by
# repetition, so that the builds share the same minutes of a busy machine.
# Measuring, not testing: nothing here asserts on time.
set -euo pipefail

reps=3
delay=2000
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=$2; shift 2 ;;
    --delay-us) delay=$2; shift 2 ;;
    --help|-h) sed -n '2,18p' "$0"; exit 0 ;;
    --*) echo "ring_release.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: ring_release.sh [--reps N] [--delay-us US] BUILD..." >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sl-ring-release.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work

one() { # build rep
    local b=$1 pipe=rr-$$-$2 out=$work/out.sluice t0 t1
    rm -f "$out"
    t0=$(date +%s.%N)
    SLUICE_TEST_WRITER_DELAY_US=$delay "$b/collector/sluice-collector" \
        --pipe "$pipe" --out "$out" --ring-mb 8 --exit-after 4 --stats 0 \
        >/dev/null 2>"$work/collector.err" &
    local cpid=$!
    for _ in $(seq 200); do
        [ -S "$work/CoreFxPipe_$pipe" ] && break
        sleep 0.02
    done
    for i in 1 2 3 4; do
        "$b/producer/sluice-producer" --pipe "$pipe" --count 200000 \
            --size 256 --name "p$i" >/dev/null &
    done
    wait $cpid
    wait
    t1=$(date +%s.%N)
    "$b/collector/sluice-dump" "$out" --format csv |
        python3 -c '
import sys, csv
wall = float(sys.argv[1])
r = csv.reader(sys.stdin)
next(r)
ts = {}
for row in r:
    if row[5] in ("connect", "disconnect", "drop", "close") or not row[4]:
        continue
    ts.setdefault(row[2], []).append(int(row[1]))
worst, stalls, stalled = 0, 0, []
for p, t in ts.items():
    t.sort()
    g = [b - a for a, b in zip(t, t[1:]) if b - a > 5_000_000]
    worst = max([worst] + g)
    stalls += len(g)
    stalled.append(sum(g))
print("longest_stall_ms=%.1f stalls_over_5ms_per_producer=%.0f "
      "stalled_s_per_producer=%.2f wall_s=%.2f"
      % (worst / 1e6, stalls / len(stalled),
         sum(stalled) / len(stalled) / 1e9, wall))
' "$(echo "$t1 - $t0" | bc)"
}

for rep in $(seq "$reps"); do
    for b in "$@"; do
        printf '%s rep %d: ' "$b" "$rep"
        one "$b" "$rep"
    done
done
