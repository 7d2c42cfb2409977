#!/usr/bin/env bash
# Smoke: a collector, two library producers and one socat text client; the
# capture verifies with exact counts. The inner-loop end-to-end test.
source "$(dirname "$0")/lib.sh"
n=$(scaled 20000)
start_collector c --pipe smoke --out "$WORK/smoke.sluice" --exit-after 3
"$PRODUCER" --pipe smoke --count "$n" >"$WORK/p1.out" &
"$PRODUCER" --pipe smoke --count "$n" --text >"$WORK/p2.out" &
printf 'a\nb\n' | socat - "UNIX-CONNECT:$WORK/CoreFxPipe_smoke" >/dev/null
wait_collector c
wait
expect_line "$WORK/c.out" "collector: producers=3 events=$((2 * n + 2)) bytes=$((2 * n * 64 + 2)) dropped=0 malformed=0"
expect_verify "$WORK/smoke.sluice" "verify: producers=3 events=$((2 * n + 2)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
echo "ok"
