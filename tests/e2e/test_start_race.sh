#!/usr/bin/env bash
# Collectors started together on a stale socket: reclaim and bind are
# serialised by a lock file beside the socket (PATH.lock, flock), so in
# every round exactly one collector wins, the others refuse ("already served
# by a running collector", exit 1), and the winner is reachable: a
# producer's events reach its capture. Each backend, 10 rounds of 3.
source "$(dirname "$0")/lib.sh"
# Widen the window between bind() and listen() (reliability.md section 5)
# so that, unserialised, a second start would take the path every round.
export SLUICE_TEST_BIND_DELAY_US=200000

# stale PATH: leaves a socket of ours at PATH that nobody listens on.
stale() {
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)' "$1"
}

for b in $(backends); do
  for round in $(seq 1 10); do
    sock=$WORK/CoreFxPipe_race
    rm -f "$sock"
    stale "$sock"
    pids=()
    for k in 1 2 3; do
      "$COLLECTOR" --pipe race --out "$WORK/race-$k.sluice" --force --backend "$b" --exit-after 1 \
        >"$WORK/race-$k.out" 2>"$WORK/race-$k.err" &
      pids+=($!)
    done
    # Losers exit on their own; the winner says it listens.
    winner=
    for _ in $(seq 1 800); do
      for k in 1 2 3; do
        grep -q "listening on" "$WORK/race-$k.err" 2>/dev/null && winner=$k
      done
      [ -n "$winner" ] && break
      sleep 0.025
    done
    [ -n "$winner" ] || fail "backend $b round $round: nobody listens: $(cat "$WORK"/race-*.err)"
    losers=0
    for k in 1 2 3; do
      [ "$k" = "$winner" ] && continue
      rc=0; wait "${pids[$((k - 1))]}" || rc=$?
      [ "$rc" = 1 ] || fail "backend $b round $round: collector $k exited $rc, expected 1: $(cat "$WORK/race-$k.err")"
      grep -q "already served by a running collector" "$WORK/race-$k.err" ||
        fail "backend $b round $round: collector $k: $(cat "$WORK/race-$k.err")"
      losers=$((losers + 1))
    done
    [ "$losers" = 2 ] || fail "backend $b round $round: $losers losers"
    "$PRODUCER" --pipe race --count 5 --connect-timeout 0 >/dev/null ||
      fail "backend $b round $round: the winner is not reachable"
    rc=0; wait "${pids[$((winner - 1))]}" || rc=$?
    [ "$rc" = 0 ] || fail "backend $b round $round: winner exited $rc: $(cat "$WORK/race-$winner.err")"
    expect_verify "$WORK/race-$winner.sluice" "verify: producers=1 events=5 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  done
  note "backend $b: 10 rounds, one winner each, reachable"
done
echo "ok"
