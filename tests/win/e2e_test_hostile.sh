#!/usr/bin/env bash
# Hostile input on Windows: a text producer whose second line is longer
# than --max-frame, and one that sends a NUL byte and invalid UTF-8. The
# long line closes only that connection with LINE_TOO_LONG (logged,
# counted as malformed), its first line is kept; the odd bytes are kept as
# bytes; the well-behaved binary producer loses nothing.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap" --exit-after 3 --max-frame 4096

python3 -c 'import sys; sys.stdout.buffer.write(b"first line\n" + b"x" * 5000 + b"\nnever\n")' >"$T_DIR/long.txt"
printf 'nul\000inside\nbad \377\376 utf8\n' >"$T_DIR/odd.txt"
# Our producer refuses an over-long event itself, so a raw client sends it.
WIN_STDIN="$T_DIR/long.txt" win_bg long "$SL_WIN_PLAIN_CLIENT" "$T_PIPE" -
long=$LAST_PID
WIN_STDIN="$T_DIR/odd.txt" win_bg odd "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --stdin --text \
    --name odd --connect-timeout 20000
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 20000 --name good \
    --connect-timeout 20000 >"$T_DIR/good.out" || fail "good producer failed"
wait_pid "$long" 60
collector_done '^collector: producers=3 events=20003 bytes=[0-9]+ dropped=0 malformed=1$'
grep -q 'closed: text line longer than max-frame (LINE_TOO_LONG)' "$T_DIR/collector.err" ||
    fail "long line not logged: $(cat "$T_DIR/collector.err")"
native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
grep -q '"payload":"first line"' "$T_DIR/dump.jsonl" || fail "the line before the violation was lost"
grep -q '"payload":"nul\\u0000inside"' "$T_DIR/dump.jsonl" || fail "NUL byte not kept"
grep -q '"payload":"bad \\u00ff\\u00fe utf8"' "$T_DIR/dump.jsonl" || fail "invalid UTF-8 not kept as bytes"
grep -q '"kind":"disconnect".*"name":"good","events":20000,.*"reason":"EOF"' "$T_DIR/dump.jsonl" ||
    fail "the good producer lost events"
verify_both "$cap" "verify: producers=3 events=20003 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
