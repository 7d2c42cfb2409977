#!/usr/bin/env bash
# Ctrl-C stops the Windows collector cleanly. Wine turns SIGINT into a
# CTRL_C_EVENT for the console control handler, the path a real Ctrl-C
# takes. One producer is connected but idle (a text client whose stdin
# is a FIFO we hold open) and one streams: both are drained, the summary
# is printed, the exit status is 0 and the capture is complete.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap"

fifo="$T_DIR/stdin.fifo"
mkfifo "$fifo"
exec 3<>"$fifo"
WIN_STDIN=$fifo win_bg idle "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --text --stdin \
    --connect-timeout 20000
idle=$LAST_PID
printf 'idle line one\r\nidle line two\n' >&3
win_bg stream "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100000000 --rate 20000 \
    --name streaming --connect-timeout 20000
stream=$LAST_PID
sleep 1.5
kill -INT "$COLLECTOR_PID"
log "sent SIGINT (Ctrl-C) to the collector"
collector_done '^collector: producers=2 events=[0-9]+ bytes=[0-9]+ dropped=0 malformed=[01]$'
grep -q 'listening on' "$T_DIR/collector.err" || fail "no start line"
exec 3>&-
wait_pid "$idle" 30
wait_pid "$stream" 30

native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
for l in 'idle line one' 'idle line two'; do
    grep -q "\"payload\":\"$l\"}" "$T_DIR/dump.jsonl" || fail "'$l' is missing"
done
tail -n 1 "$T_DIR/dump.jsonl" | grep -q '"kind":"close"' || fail "last record is not the close record"
n=$(grep -c '"kind":"event"' "$T_DIR/dump.jsonl")
verify_both "$cap" "verify: producers=2 events=$n gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
