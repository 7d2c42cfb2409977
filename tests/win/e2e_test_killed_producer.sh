#!/usr/bin/env bash
# A producer killed mid-stream (SIGKILL to its Wine process, so Windows
# sees the process vanish with its pipe open and a frame possibly cut in
# half) does not disturb the others: both complete producers land all
# their events, the capture verifies without gaps or corruption, and the
# victim's events up to the cut are kept in order.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap" --exit-after 3

win_bg victim "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100000000 --rate 50000 \
    --name victim --connect-timeout 20000
victim=$LAST_PID
for i in 1 2; do
    win_bg "ok$i" "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 50000 --rate 25000 \
        --name "ok-$i" --connect-timeout 20000
    ok[$i]=$LAST_PID
done
sleep 1
kill -0 "$victim" 2>/dev/null || fail "the victim ended before it was killed: $(cat "$T_DIR/victim.err")"
kill -9 "$victim"
log "killed the victim producer (pid $victim) mid-stream"
for i in 1 2; do
    wait_pid "${ok[$i]}" 120
    [ "$WAIT_RC" -eq 0 ] || fail "producer ok-$i exited $WAIT_RC: $(cat "$T_DIR/ok$i.err")"
    grep -q '^producer: events=50000 ' "$T_DIR/ok$i.out" ||
        fail "producer ok-$i: $(cat "$T_DIR/ok$i.out")"
done

collector_done '^collector: producers=3 events=[0-9]+ bytes=[0-9]+ dropped=0 malformed=[01]$'
native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
for i in 1 2; do
    grep -q "\"kind\":\"disconnect\",\"producer\":[0-9]*,\"name\":\"ok-$i\",\"events\":50000,.*\"reason\":\"EOF\"" \
        "$T_DIR/dump.jsonl" || fail "ok-$i did not end cleanly with 50000 events"
done
victim_line=$(grep '"kind":"disconnect".*"name":"victim"' "$T_DIR/dump.jsonl") ||
    fail "no disconnect record for the victim"
log "victim: $victim_line"
victim_events=$(sed 's/.*"events":\([0-9]*\).*/\1/' <<<"$victim_line")
[ "$victim_events" -gt 0 ] && [ "$victim_events" -lt 100000000 ] ||
    fail "victim events $victim_events"
total=$((100000 + victim_events))
verify_both "$cap" "verify: producers=3 events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
