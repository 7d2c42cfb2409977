#!/usr/bin/env bash
# Non-ASCII command-line arguments on Windows: the C runtime hands main()
# its arguments in the ANSI code page, so every tool rebuilds argv as UTF-8
# (sl_os_args_utf8). A capture path and a producer name with accents and
# CJK must arrive intact: the file exists under its UTF-8 name and the
# connect record carries the name byte for byte; sluice-dump.exe reads the
# file back by that name.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/été-日本.sluice"
start_collector "$cap" --exit-after 1
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100 --name "prodüct-名前" \
    --connect-timeout 20000 >"$T_DIR/p.out" || fail "producer failed"
collector_done '^collector: producers=1 events=100 bytes=6400 dropped=0 malformed=0$'
[ -f "$cap" ] || fail "capture not created under its UTF-8 name: $(ls "$T_DIR")"
native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
grep -q '"kind":"connect".*"name":"prodüct-名前"' "$T_DIR/dump.jsonl" ||
    fail "producer name not kept: $(grep connect "$T_DIR/dump.jsonl")"
# sluice-dump.exe opens the UTF-8 path too (the reader uses _wfopen).
verify_both "$cap" "verify: producers=1 events=100 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
