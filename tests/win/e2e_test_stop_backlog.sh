#!/usr/bin/env bash
# A stop keeps every client that had connected: 100 plain Win32 clients
# connect one after another, each writes one line without reading its
# greeting and stays; Ctrl-C follows the last write at once, so some of
# them sit on pipe instances whose connect the collector has not taken
# yet (a streaming producer keeps the one worker busy). Every line must be
# in the capture, and the capture must verify with both dumps.
source "$(dirname "$0")/e2e_lib.sh"

N=100
cap="$T_DIR/capture.sluice"
stop="$T_DIR/stop"
start_collector "$cap" --instances 8 --workers 1
# A producer streaming as fast as it can keeps the one worker busy, so
# connect completions queue up behind its reads. Its last frame may be
# cut by the drain point (malformed=1, as in e2e_test_ctrl_c).
win_bg stream "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100000000 \
    --name streaming --connect-timeout 20000
sleep 1
win_bg hold "$SL_WIN_HOLD_CLIENTS" "$T_PIPE" "$N" "$(winpath "$stop")"
hold=$LAST_PID
for _ in $(seq 1 600); do
    grep -q '^held=' "$T_DIR/hold.out" 2>/dev/null && break
    kill -0 "$hold" 2>/dev/null || break
    sleep 0.05
done
kill -INT "$COLLECTOR_PID"
grep -q "^held=$N" "$T_DIR/hold.out" || { cat "$T_DIR/hold.err" >&2; fail "the clients did not all connect"; }
log "sent SIGINT (Ctrl-C) right after $N clients wrote"
collector_done "^collector: producers=$((N + 1)) events=[0-9]+ bytes=[0-9]+ dropped=0 malformed=[01]$"
touch "$stop"
wait_pid "$hold" 60
[ "$WAIT_RC" = 0 ] || fail "win_hold_clients exited $WAIT_RC"
native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
got=$(grep -c '"payload":"held [0-9]*"' "$T_DIR/dump.jsonl" || true)
log "held lines in the capture: $got of $N"
[ "$got" = "$N" ] || fail "$got of $N held lines in the capture"
n=$(grep -c '"kind":"event"' "$T_DIR/dump.jsonl")
verify_both "$cap" "verify: producers=$((N + 1)) events=$n gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
rm -f "$cap" "$T_DIR/dump.jsonl"   # a few hundred MB of streamed events
log "PASS"
