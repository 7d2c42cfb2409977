#!/usr/bin/env bash
# Hostile input on Windows: a text producer whose second line is longer
# than --max-frame, and one that sends a NUL byte and invalid UTF-8. The
# long line closes only that connection with LINE_TOO_LONG (logged,
# counted as malformed), its first line is kept; the odd bytes are kept as
# bytes; the well-behaved binary producer loses nothing. A binary producer
# whose name holds an ESC sequence, a newline and a bidi override, closed
# for a frame over max-frame: its log line escapes the name. The
# producer's trust check: a collector of our own user is trusted (also
# with --collector-user naming another SID), a non-SID is a usage error.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap" --exit-after 4 --max-frame 4096

python3 -c '
import struct, sys, time
name = b"ev\x1b[2J\nsluice-collector: FORGED \xe2\x80\xaex"
hello = struct.pack("<IHH", 1, len(name), 0) + name
out = b"\x89SLU\r\n\x1a\n" + struct.pack("<IHHQQ", 24 + len(hello), 0xFF00, 0, 0, 0) + hello
out += struct.pack("<I", 4097) + b"\0" * 20
sys.stdout.buffer.write(out)' >"$T_DIR/evil.bin"
WIN_STDIN="$T_DIR/evil.bin" win_bg evil "$SL_WIN_PLAIN_CLIENT" "$T_PIPE" -
evil=$LAST_PID

python3 -c 'import sys; sys.stdout.buffer.write(b"first line\n" + b"x" * 5000 + b"\nnever\n")' >"$T_DIR/long.txt"
printf 'nul\000inside\nbad \377\376 utf8\n' >"$T_DIR/odd.txt"
# Our producer refuses an over-long event itself, so a raw client sends it.
WIN_STDIN="$T_DIR/long.txt" win_bg long "$SL_WIN_PLAIN_CLIENT" "$T_PIPE" -
long=$LAST_PID
WIN_STDIN="$T_DIR/odd.txt" win_bg odd "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --stdin --text \
    --name odd --connect-timeout 20000
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 20000 --name good \
    --connect-timeout 20000 --collector-user S-1-5-18 >"$T_DIR/good.out" || fail "good producer failed"
wait_pid "$long" 60
wait_pid "$evil" 60
collector_done '^collector: producers=4 events=20003 bytes=[0-9]+ dropped=0 malformed=2$'
! grep -q $'\x1b' "$T_DIR/collector.err" || fail "an ESC byte reached the log"
! grep -q '^sluice-collector: FORGED' "$T_DIR/collector.err" || fail "a name forged a log line"
grep -qF '(ev\x1b[2J\nsluice-collector:\x20FORGED\x20\xe2\x80\xaex, pid ' "$T_DIR/collector.err" ||
    fail "name not escaped in the log: $(cat -v "$T_DIR/collector.err")"
rc=0
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --collector-user root --connect-timeout 0 2>"$T_DIR/cu.err" || rc=$?
[ "$rc" = 2 ] || fail "--collector-user root exited $rc, expected 2: $(cat "$T_DIR/cu.err")"
grep -q 'closed: text line longer than max-frame (LINE_TOO_LONG)' "$T_DIR/collector.err" ||
    fail "long line not logged: $(cat "$T_DIR/collector.err")"
native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
grep -q '"payload":"first line"' "$T_DIR/dump.jsonl" || fail "the line before the violation was lost"
grep -q '"payload":"nul\\u0000inside"' "$T_DIR/dump.jsonl" || fail "NUL byte not kept"
grep -q '"payload":"bad \\u00ff\\u00fe utf8"' "$T_DIR/dump.jsonl" || fail "invalid UTF-8 not kept as bytes"
grep -q '"kind":"disconnect".*"name":"good","events":20000,.*"reason":"EOF"' "$T_DIR/dump.jsonl" ||
    fail "the good producer lost events"
verify_both "$cap" "verify: producers=4 events=20003 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
