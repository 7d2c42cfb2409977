#!/usr/bin/env bash
# --idle-timeout on Windows (IOCP): with --max-producers 5, five plain
# Win32 clients that connect and never write are ended after the timeout
# (logged, no record), and then a real producer is admitted; its events
# are in the capture.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
stop="$T_DIR/stop"
start_collector "$cap" --instances 8 --max-producers 5 --idle-timeout 1 --exit-after 1
win_bg hold "$SL_WIN_HOLD_CLIENTS" "$T_PIPE" 5 "$(winpath "$stop")" silent
hold=$LAST_PID
for _ in $(seq 1 600); do
    grep -q 'closing [0-9]* connections\? that did not identify themselves within --idle-timeout 1s' \
        "$T_DIR/collector.err" 2>/dev/null && break
    kill -0 "$hold" 2>/dev/null || break
    sleep 0.05
done
grep -q 'that did not identify themselves within --idle-timeout' "$T_DIR/collector.err" ||
    fail "the silent connections were not ended: $(cat "$T_DIR/collector.err" "$T_DIR/hold.err")"
# They are ended right after the log line; until each is released its
# slot is still counted, so a refusal ("too many producers") is retried.
ok=
for _ in $(seq 1 50); do
    rc=0
    win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 7 --name real \
        --connect-timeout 20000 >"$T_DIR/p.out" 2>"$T_DIR/p.err" || rc=$?
    [ "$rc" = 0 ] && { ok=1; break; }
    grep -q "too many producers" "$T_DIR/p.err" || fail "producer exited $rc: $(cat "$T_DIR/p.err")"
    sleep 0.1
done
[ -n "$ok" ] || fail "the real producer was never admitted"
collector_done '^collector: producers=1 events=7 bytes=[0-9]+ dropped=0 malformed=0$'
touch "$stop"
wait_pid "$hold" 60
verify_both "$cap" "verify: producers=1 events=7 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
