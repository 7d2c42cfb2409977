#!/usr/bin/env bash
# A stop stores only whole events, on Windows too (issue 10): at Ctrl-C a
# plain client still connected with half a line sent ("unfinished", no
# newline) and a binary producer still streaming both end STOPPED, not
# EOF and not malformed; the half line is no event, its 10 bytes are the
# disconnect record's discarded count; every stored event is whole.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap"

fifo="$T_DIR/stdin.fifo"
mkfifo "$fifo"
exec 3<>"$fifo"
WIN_STDIN=$fifo win_bg half "$SL_WIN_PLAIN_CLIENT" "$T_PIPE" -
half=$LAST_PID
printf 'whole line\r\nunfinished' >&3
win_bg stream "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100000000 --rate 20000 \
    --name streaming --connect-timeout 20000
stream=$LAST_PID
# Both connected and the half line arrived: the whole line is counted.
for _ in $(seq 1 200); do
    native_dump "$cap" --format jsonl 2>/dev/null | grep -q '"payload":"whole line"' && break
    sleep 0.1
done
sleep 1
kill -INT "$COLLECTOR_PID"
log "sent SIGINT (Ctrl-C) to the collector"
collector_done '^collector: producers=2 events=[0-9]+ bytes=[0-9]+ dropped=0 malformed=0$'
exec 3>&-
wait_pid "$half" 30 || true
wait_pid "$stream" 30 || true

native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
grep -q '"payload":"whole line"}' "$T_DIR/dump.jsonl" || fail "the whole line is missing"
! grep -q 'unfinished' "$T_DIR/dump.jsonl" || fail "the unfinished line was stored as an event"
n=$(grep -c '"kind":"disconnect"' "$T_DIR/dump.jsonl")
[ "$n" = 2 ] || fail "$n disconnect records, want 2"
s=$(grep '"kind":"disconnect"' "$T_DIR/dump.jsonl" | grep -c '"reason":"STOPPED"')
[ "$s" = 2 ] || { grep '"kind":"disconnect"' "$T_DIR/dump.jsonl" >&2; fail "$s of 2 disconnects STOPPED"; }
grep '"kind":"disconnect"' "$T_DIR/dump.jsonl" | grep '"events":1,' | grep -q '"discarded":10' ||
    { grep '"kind":"disconnect"' "$T_DIR/dump.jsonl" >&2; fail "the half line's 10 bytes are not counted as discarded"; }
# Every event of the binary producer is whole: 64-byte payloads, in order.
grep '"kind":"event"' "$T_DIR/dump.jsonl" | grep -v '"payload":"whole line"' >"$T_DIR/bin.jsonl" || true
n=$(grep -c . "$T_DIR/bin.jsonl" || true)
[ "$n" -gt 0 ] || fail "no events from the streaming producer"
n=$(grep -c '"kind":"event"' "$T_DIR/dump.jsonl")
verify_both "$cap" "verify: producers=2 events=$n gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
