#!/usr/bin/env bash
# The foundation issue's "done when" example, literally: pipe t, two
# sluice-producer --count 100000 and a socat text client sending two lines.
source "$(dirname "$0")/lib.sh"
start_collector c --pipe t --out "$WORK/t.sluice" --exit-after 3
"$PRODUCER" --pipe t --count 100000 >/dev/null &
"$PRODUCER" --pipe t --count 100000 >/dev/null &
printf 'a\nb\n' | socat - "UNIX-CONNECT:$TMPDIR/CoreFxPipe_t" >/dev/null
wait_collector c
wait
expect_verify "$WORK/t.sluice" "verify: producers=3 events=200002 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
echo "ok"
