#!/usr/bin/env bash
# Forwarding's cost (docs/benchmarks.md, "Forwarding to JetStream"): the
# same load with the local capture alone, then with --forward to a 3-node
# JetStream cluster on loopback (R3 stream), on the same machine. Reports,
# per run: ingest time (first producer started to last producer done: the
# collector took every event), local ingest events/s and MB/s from it; the
# time to the collector's exit (everything forwarded and acknowledged); the
# collector's
# CPU seconds (user+sys), the three servers' CPU seconds, and what was
# forwarded. Usage (from the source tree, after a build):
#   SL_BIN=build SL_SRC=. bash bench/forward_bench.sh [PRODUCERS] [EVENTS] [SIZE] [RATE] [COMPRESS]
# RATE is each producer's --rate (0: as fast as the collector takes them);
# COMPRESS is passed as --compress when the collector has it (format v2).
set -euo pipefail
. "$SL_SRC/tests/e2e/lib.sh"
. "$SL_SRC/tests/e2e/nats_lib.sh"
P=${1:-4} N=${2:-250000} SIZE=${3:-100} RATE=${4:-0} COMP=${5:-}
comp_opt=()
if [ -n "$COMP" ]; then
  "$COLLECTOR" --help | grep -q -- --compress || { echo "this collector has no --compress" >&2; exit 2; }
  comp_opt=(--compress "$COMP")
fi
cluster_init
cluster_start

server_cpu() { # total CPU seconds of the three servers so far
  local t=0 k
  for k in 0 1 2; do
    t=$(awk -v t="$t" '{ print t + ($14 + $15) / 100 }' "/proc/${NPID[$k]}/stat")
  done
  echo "$t"
}

run() { # run NAME collector-options...
  local name=$1; shift
  rm -f "$WORK/$name.sluice"*
  /usr/bin/time -f "%e %U %S" -o "$WORK/$name.time" "$COLLECTOR" --pipe "b-$name" \
    --out "$WORK/$name.sluice" --stats 0 --exit-after "$P" "${comp_opt[@]}" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local cpid=$! s0 s1 t0 t1 ti pids=()
  wait_log "$WORK/$name.err" "listening on" || { cat "$WORK/$name.err" >&2; exit 1; }
  case " $* " in *" --forward "*) wait_forwarding "$WORK/$name.err" ;; esac
  s0=$(server_cpu); t0=$(date +%s.%N)
  for _ in $(seq 1 "$P"); do
    "$PRODUCER" --pipe "b-$name" --count "$N" --size "$SIZE" --rate "$RATE" >/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
  ti=$(date +%s.%N)
  wait "$cpid"
  t1=$(date +%s.%N); s1=$(server_cpu)
  read -r _ u s <"$WORK/$name.time"
  python3 - "$name" "$t0" "$ti" "$t1" "$u" "$s" "$s0" "$s1" "$P" "$N" "$SIZE" \
    "$(grep '^forward:' "$WORK/$name.out" || true)" "$(stat -c %s "$WORK/$name.sluice")" <<'PY'
import sys
name, t0, ti, t1, u, s, s0, s1, p, n, size, fwd, fsize = sys.argv[1:]
ing = float(ti) - float(t0); done = float(t1) - float(t0); ev = int(p) * int(n)
print(f"{name:8s} ingest={ing:5.2f}s events/s={ev / ing:9.0f} "
      f"MB/s={ev * int(size) / ing / 1e6:6.1f} done={done:5.2f}s "
      f"collector_cpu={float(u) + float(s):5.2f}s "
      f"servers_cpu={float(s1) - float(s0):5.2f}s file={int(fsize) / 1e6:.1f}MB {fwd}")
PY
}

run local
run forward --forward "$URLS" --forward-stream BENCH --forward-drain 120
run local2
cluster_stop
