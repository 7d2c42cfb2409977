# Shared helpers for the end-to-end tests: real binaries, real sockets,
# real files. Sourced by tests/e2e/test_*.sh; ctest sets SL_BIN and SL_SRC.
set -euo pipefail

BIN=${SL_BIN:?SL_BIN must point at the build directory}
SRC=${SL_SRC:?SL_SRC must point at the source directory}
COLLECTOR=$BIN/collector/sluice-collector
PRODUCER=$BIN/producer/sluice-producer
DUMP=$BIN/collector/sluice-dump
CLIENTS=$SRC/tests/e2e/clients
# Sanitizer builds are slower: SL_TEST_SCALE divides event counts.
SCALE=${SL_TEST_SCALE:-1}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e.XXXXXX")
export TMPDIR=$WORK   # pipe NAMEs resolve to $WORK/CoreFxPipe_NAME
cleanup() {
  local pids
  pids=$(jobs -p || true)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }
scaled() { echo $(( $1 / SCALE > 0 ? $1 / SCALE : 1 )); }

# Backends compiled in and usable on this machine (io_uring may be refused
# by the kernel or a seccomp filter; then only epoll is tested).
backends() {
  local list b
  list=$("$COLLECTOR" --version | sed -n 's/.*(backends: \(.*\))/\1/p')
  for b in $list; do
    if [ "$b" = uring ] && ! uring_usable; then
      echo "note: io_uring unavailable here; uring backend not tested" >&2
      continue
    fi
    echo "$b"
  done
}

uring_usable() {
  local out
  out=$("$COLLECTOR" --pipe "$WORK/probe.sock" --out "$WORK/probe.sluice" --backend uring --duration 1 2>&1) || true
  rm -f "$WORK/probe.sluice"
  ! grep -q "not available" <<<"$out"
}

# start_collector LOGPREFIX args... : starts it in the background, sets CPID,
# waits until it says it is listening. Output: $WORK/LOGPREFIX.{out,err}.
start_collector() {
  local log=$1; shift
  "$COLLECTOR" "$@" >"$WORK/$log.out" 2>"$WORK/$log.err" &
  CPID=$!
  for _ in $(seq 1 400); do
    grep -q "listening on" "$WORK/$log.err" 2>/dev/null && return 0
    kill -0 "$CPID" 2>/dev/null || { cat "$WORK/$log.err" >&2; fail "collector exited at start"; }
    sleep 0.025
  done
  fail "collector did not start listening"
}

# wait_collector LOGPREFIX [expected-status]: waits for CPID (at most 120 s).
wait_collector() {
  local log=$1 want=${2:-0} rc=0
  for _ in $(seq 1 1200); do
    kill -0 "$CPID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$CPID" 2>/dev/null; then
    kill -TERM "$CPID"; fail "collector did not exit in time"
  fi
  wait "$CPID" || rc=$?
  if [ "$rc" != "$want" ]; then
    cat "$WORK/$log.err" >&2
    fail "collector exited $rc, expected $want"
  fi
}

expect_line() { # expect_line FILE EXACT-LINE
  grep -qxF -- "$2" "$1" || { echo "got:" >&2; cat "$1" >&2; fail "expected line: $2"; }
}

expect_verify() { # expect_verify CAPTURE EXACT-VERIFY-LINE
  local out rc=0
  out=$("$DUMP" "$1" --verify 2>&1) || rc=$?
  [ "$rc" = 0 ] || { echo "$out" >&2; fail "verify exited $rc"; }
  grep -qxF -- "$2" <<<"$out" || { echo "$out" >&2; fail "expected: $2"; }
}

# ---- memory bounds (the fault suite; docs/reliability.md) -----------------
# The collector's documented bound on its peak resident memory:
#   ring + connections × (64 KiB buffer + 4 KiB state) + 32 MiB fixed
# (code, thread stacks, allocator arenas, io_uring rings). Sanitizer builds
# add shadow memory and quarantines, so there the bound is not checked.
# produce_retrying_refusal ERRFILE PRODUCER-ARGS...: runs sluice-producer,
# retrying (every 0.2 s, at most 100 times: 20 s) only while the collector
# refuses it with "too many producers" (a slot being given back); any other
# failure ends at once. Returns the last run's status; stderr in ERRFILE.
produce_retrying_refusal() {
  local err=$1
  shift
  for _ in $(seq 1 100); do
    "$PRODUCER" "$@" >/dev/null 2>"$err" && return 0
    grep -q "too many producers" "$err" || return 1
    sleep 0.2
  done
  return 1
}
# wait_for WHAT CMD...: polls CMD (every 50 ms, at most 60 s: a sanitizer
# build on a loaded machine is slow) until it succeeds; fails naming WHAT
# if it never does, so a later check does not fail for a confusing reason.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 1200); do
    "$@" && return 0
    sleep 0.05
  done
  fail "waited 60 s for $what"
}
sanitized() { grep -qa -e __asan_init -e __tsan_init "$COLLECTOR"; }

# watch_mem PID: samples the process's peak RSS (VmHWM, KiB) into
# $WORK/hwm.PID every 50 ms until it exits (a background job).
watch_mem() {
  local pid=$1
  ( while v=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status" 2>/dev/null) &&
          [ -n "$v" ]; do
      echo "$v" >"$WORK/hwm.$pid"; sleep 0.05
    done ) &
}

# expect_mem_bound PID RING_MIB CONNECTIONS: the last VmHWM sample of PID
# (watch_mem) is within the bound above.
expect_mem_bound() {
  local pid=$1 ring_mb=$2 conns=$3 hwm bound
  hwm=$(cat "$WORK/hwm.$pid" 2>/dev/null) || fail "no memory sample for $pid"
  bound=$(( ring_mb * 1024 + conns * 68 + 32 * 1024 ))
  note "peak RSS ${hwm} KiB (bound ${bound} KiB: ring ${ring_mb} MiB, $conns connections)"
  sanitized && { note "sanitizer build: memory bound not checked"; return 0; }
  [ "$hwm" -le "$bound" ] || fail "peak RSS $hwm KiB above the bound $bound KiB"
}
