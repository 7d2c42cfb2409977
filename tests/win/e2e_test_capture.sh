#!/usr/bin/env bash
# Issue 3's main Windows scenario, all under Wine: 8 sluice-producer.exe
# sending 50,000 binary events each, the plain Win32 client
# (win_plain_client.exe) and a text client (sluice-producer.exe --text)
# against one sluice-collector.exe, which stops by --exit-after. The
# capture must verify clean with the native Linux sluice-dump and with
# sluice-dump.exe, both must print it identically, and it must hold
# exactly one text event "hello from c++" (the \r stripped).
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap" --exit-after 10 --workers 4 --instances 4

for i in 1 2 3 4 5 6 7 8; do
    win_bg "bin$i" "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 50000 --size 64 \
        --name "bin-$i" --connect-timeout 20000
    pids[$i]=$LAST_PID
done
win_bg text "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --text --count 1000 --size 40 \
    --connect-timeout 20000
text_pid=$LAST_PID
win "$SL_WIN_PLAIN_CLIENT" "$T_PIPE" >"$T_DIR/plain.out" ||
    fail "win_plain_client failed: $(cat "$T_DIR/plain.out")"
log "plain client: $(tr -d '\r' <"$T_DIR/plain.out")"
grep -q '^greeting: SLUICE/1 max=[0-9]* id=[0-9]*' "$T_DIR/plain.out" ||
    fail "plain client got no sluice greeting"

for i in 1 2 3 4 5 6 7 8; do
    wait_pid "${pids[$i]}" 120
    [ "$WAIT_RC" -eq 0 ] || fail "producer $i exited $WAIT_RC: $(cat "$T_DIR/bin$i.err")"
    grep -q '^producer: events=50000 bytes=3200000 ' "$T_DIR/bin$i.out" ||
        fail "producer $i: $(cat "$T_DIR/bin$i.out")"
done
wait_pid "$text_pid" 120
[ "$WAIT_RC" -eq 0 ] || fail "text producer exited $WAIT_RC: $(cat "$T_DIR/text.err")"

collector_done '^collector: producers=10 events=401001 bytes=[0-9]+ dropped=0 malformed=0$'
verify_both "$cap" "verify: producers=10 events=401001 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

native_dump "$cap" --format jsonl >"$T_DIR/native.jsonl"
n=$(grep -c '"kind":"event".*"payload":"hello from c++"}$' "$T_DIR/native.jsonl" || true)
[ "$n" = 1 ] || fail "wanted exactly one 'hello from c++' event, found $n"
n=$(grep -c '"kind":"event"' "$T_DIR/native.jsonl")
[ "$n" = 401001 ] || fail "native dump shows $n events, wanted 401001"
n=$(grep -c '"kind":"connect".*"mode":"binary"' "$T_DIR/native.jsonl")
[ "$n" = 8 ] || fail "wanted 8 binary connect records, found $n"
n=$(grep -c '"kind":"disconnect".*"reason":"EOF"' "$T_DIR/native.jsonl")
[ "$n" = 10 ] || fail "wanted 10 clean disconnects, found $n"
log "one 'hello from c++' event; 10 producers connected and ended cleanly"

# The same file printed by both builds: identical, line for line.
# Byte for byte, no \r stripping: sluice-dump.exe writes stdout in binary
# mode, so its output is the same file as on Linux (CSV keeps its CRLF).
win "$SL_WIN_DUMP" "$(winpath "$cap")" --format jsonl >"$T_DIR/wine.jsonl"
cmp -s "$T_DIR/native.jsonl" "$T_DIR/wine.jsonl" ||
    fail "sluice-dump.exe and the native sluice-dump print the capture differently"
log "sluice-dump.exe and native sluice-dump agree on all $(wc -l <"$T_DIR/native.jsonl") records"
native_dump "$cap" --format csv >"$T_DIR/native.csv"
win "$SL_WIN_DUMP" "$(winpath "$cap")" --format csv >"$T_DIR/wine.csv"
cmp -s "$T_DIR/native.csv" "$T_DIR/wine.csv" ||
    fail "sluice-dump.exe --format csv differs from the native one (text-mode stdout?)"
# Binary output (perfetto) and the --plot SVG file: the same bytes too.
native_dump "$cap" --format perfetto >"$T_DIR/native.pftrace"
win "$SL_WIN_DUMP" "$(winpath "$cap")" --format perfetto >"$T_DIR/wine.pftrace"
cmp -s "$T_DIR/native.pftrace" "$T_DIR/wine.pftrace" ||
    fail "sluice-dump.exe --format perfetto differs from the native one"
native_dump "$cap" --plot "$T_DIR/native.svg"
win "$SL_WIN_DUMP" "$(winpath "$cap")" --plot "$(winpath "$T_DIR/wine.svg")"
cmp -s "$T_DIR/native.svg" "$T_DIR/wine.svg" ||
    fail "sluice-dump.exe --plot differs from the native one"
log "PASS"
