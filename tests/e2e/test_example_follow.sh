#!/usr/bin/env bash
# Live readers.
#  1. examples/c/follow_rates.c (built with -std=c11 -Wall -Wextra -Werror
#     against this build's library), started before the capture exists:
#     sluice_capture_open_wait() waits for it; it prints a rates line every
#     second and, at the close record, the totals. Every event is counted
#     in exactly one rates line, so each producer's rates add up to what it
#     sent, and the totals match --verify.
#  2. sluice-dump --follow --wait, started before the capture exists,
#     prints exactly what the finished file holds.
#  3. Waiting has a limit: a file that never appears fails with exit 1
#     (follow_rates WAIT_SECS 1, sluice-dump --wait 1); a bad --wait is a
#     usage error.
#  4. Where the reader has sluice_capture_writer_alive() (the collector's
#     writer lock, issue 10), follow_rates is built to use it: a collector
#     killed with SIGKILL mid-stream ends it with exit 3.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
cache=$BIN/CMakeCache.txt
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
san=$(sed -n 's/^SLUICE_SANITIZE:[A-Z]*=//p' "$cache")
SANFLAGS=""
[ -n "$san" ] && SANFLAGS="-fsanitize=${san//;/,} -fno-omit-frame-pointer"
lib=$BIN/producer
ALIVE=""
grep -q 'sluice_capture_writer_alive' "$SRC/include/sluice/capture.h" && ALIVE=-DFOLLOW_RATES_WRITER_ALIVE
# shellcheck disable=SC2086
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror -pedantic $SANFLAGS $ALIVE -I"$SRC/include" \
  "$SRC/examples/c/follow_rates.c" -L"$lib" -lsluice-producer -Wl,-rpath,"$lib" \
  -o "$WORK/follow_rates" || fail "follow_rates does not build"

note "follow_rates and sluice-dump --follow --wait, started before the collector"
cap=$WORK/live.sluice
"$WORK/follow_rates" "$cap" 60 >"$WORK/rates.out" 2>"$WORK/rates.err" &
fr=$!
"$DUMP" "$cap" --follow --wait 60 --format jsonl >"$WORK/follow.jsonl" 2>"$WORK/follow.err" &
fd=$!
sleep 0.3
ns=$(scaled 12500) nb=$(scaled 20000)
start_collector live --pipe live --out "$cap" --exit-after 2
"$PRODUCER" --pipe live --count "$ns" --rate 5000 --name steady >/dev/null &
"$PRODUCER" --pipe live --count "$nb" --name burst >/dev/null
wait_collector live
for p in "$fr:follow_rates:rates" "$fd:sluice-dump:follow"; do
  pid=${p%%:*} rest=${p#*:}
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && fail "${rest%%:*} did not stop at the close record"
  wait "$pid" || fail "${rest%%:*} exited non-zero: $(cat "$WORK/${rest#*:}.err")"
done
expect_line "$WORK/rates.out" "follow_rates: producers=2 events=$((ns + nb)) closed"
"$PY" - "$WORK/rates.out" "$ns" "$nb" <<'PY' || fail "the rates lines do not add up"
import re, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("rates: ")]
sums = {}
for l in lines:
    for name, rate in re.findall(r" (\w+)\[\d+\]=(\d+)/s", l):
        sums[name] = sums.get(name, 0) + int(rate)
want = {"steady": int(sys.argv[2]), "burst": int(sys.argv[3])}
if sums != want:
    sys.exit("rates add up to %r, want %r (%d lines)" % (sums, want, len(lines)))
if not re.match(r"^rates: \+1s ", lines[0]):
    sys.exit("first line %r" % lines[0])
PY
"$DUMP" "$cap" --format jsonl | cmp -s - "$WORK/follow.jsonl" ||
  fail "sluice-dump --follow --wait printed something else than the finished file"

note "waiting has a limit"
rc=0; "$WORK/follow_rates" "$WORK/never.sluice" 1 2>"$WORK/never.err" || rc=$?
[ "$rc" = 1 ] && grep -q "no such file" "$WORK/never.err" || fail "follow_rates on a missing file: exit $rc, $(cat "$WORK/never.err")"
rc=0; "$DUMP" "$WORK/never.sluice" --wait 1 2>"$WORK/never2.err" || rc=$?
[ "$rc" = 1 ] && grep -q "cannot open" "$WORK/never2.err" || fail "sluice-dump --wait 1 on a missing file: exit $rc"
rc=0; "$DUMP" "$cap" --wait soon 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--wait soon exited $rc, not 2"
if [ -n "$ALIVE" ]; then
  note "a collector killed mid-stream: follow_rates stops with exit 3"
  dead=$WORK/dead.sluice
  start_collector dead --pipe dead --out "$dead"
  "$WORK/follow_rates" "$dead" 10 >"$WORK/dead.out" 2>"$WORK/dead.err" &
  fr=$!
  "$PRODUCER" --pipe dead --count 100000000 --rate 20000 --name doomed >/dev/null 2>&1 &
  pp=$!
  for _ in $(seq 1 200); do grep -q doomed "$WORK/dead.out" 2>/dev/null && break; sleep 0.05; done
  kill -KILL "$CPID"; wait "$CPID" 2>/dev/null || true
  rc=0
  for _ in $(seq 1 200); do kill -0 "$fr" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$fr" 2>/dev/null && fail "follow_rates still waits for a dead collector"
  wait "$fr" || rc=$?
  kill "$pp" 2>/dev/null || true; wait "$pp" 2>/dev/null || true
  [ "$rc" = 3 ] && grep -q "gone without a close record" "$WORK/dead.err" ||
    fail "follow_rates after SIGKILL: exit $rc, $(cat "$WORK/dead.err")"
else
  note "this reader has no sluice_capture_writer_alive(): the dead-collector case is not built"
fi
echo "ok"
