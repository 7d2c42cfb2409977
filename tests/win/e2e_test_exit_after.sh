#!/usr/bin/env bash
# Stopping by --exit-after while another producer is still streaming: the
# collector stops accepting, drains the live connection (on Windows a
# pending read is cancelled once the pipe holds nothing more), writes the
# close record and syncs. The file is complete (verify exit 0 requires the
# close record, no torn tail) and the streaming producer's events are kept
# without gaps; that producer then fails with a broken pipe, as it should.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap" --exit-after 2

win_bg stream "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100000000 --rate 40000 \
    --name streaming --connect-timeout 20000
stream=$LAST_PID
sleep 1
for i in 1 2; do
    win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 20000 --name "short-$i" \
        >"$T_DIR/short$i.out" || fail "short producer $i failed"
done
collector_done '^collector: producers=3 events=[0-9]+ bytes=[0-9]+ dropped=0 malformed=[01]$'
wait_pid "$stream" 60
log "streaming producer ended with status $WAIT_RC once the collector left"
[ "$WAIT_RC" -ne 0 ] || fail "the streaming producer should have seen the pipe break"

native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
tail -n 1 "$T_DIR/dump.jsonl" | grep -q '"kind":"close"' || fail "last record is not the close record"
stream_line=$(grep '"kind":"disconnect".*"name":"streaming"' "$T_DIR/dump.jsonl") ||
    fail "no disconnect record for the streaming producer"
log "streaming: $stream_line"
n=$(sed 's/.*"events":\([0-9]*\).*/\1/' <<<"$stream_line")
[ "$n" -gt 0 ] || fail "the streaming producer's events were not kept"
verify_both "$cap" "verify: producers=3 events=$((40000 + n)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
