#!/usr/bin/env bash
# The flight recorder on Windows (issue 11), all under Wine: there is no
# SIGUSR1 there (docs/cli.md), so the triggers are --trigger-type and
# sluice-ctl.exe snapshot. sluice-collector.exe --flight-recorder 1M
# --trigger-type 7: load from 3 producers, one type-7 event, more load:
# cap.snapshot-001.sluice holds the event and the trigger record after
# it, verifies alone with both dumps; sluice-ctl.exe snapshot prints
# cap.snapshot-002.sluice, which verifies alone too; no capture file.
source "$(dirname "$0")/e2e_lib.sh"

start_collector "$T_DIR/cap.sluice" --flight-recorder 1M --trigger-type 7 --workers 2
for i in 1 2 3; do
    win_bg "p$i" "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 10000 --size 100 \
        --type 1 --name "load$i" --connect-timeout 60000
    pids[$i]=$LAST_PID
done
for i in 1 2 3; do
    wait_pid "${pids[$i]}" 240
    [ "$WAIT_RC" -eq 0 ] || fail "producer $i exited $WAIT_RC: $(cat "$T_DIR/p$i.err")"
done
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 1 --type 7 --name trig >/dev/null || fail "trigger producer"
for _ in $(seq 1 400); do [ -s "$T_DIR/cap.snapshot-001.sluice" ] && break; sleep 0.05; done
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 1000 --type 1 --name after >/dev/null || fail "producer after"
win "$SL_WIN_CTL" --pipe "$T_PIPE" snapshot >"$T_DIR/snap.out" 2>&1 || fail "sluice-ctl.exe snapshot: $(cat "$T_DIR/snap.out")"
got=$(tr -d '\r' <"$T_DIR/snap.out")
[ "$got" = "$(winpath "$T_DIR/cap.snapshot-002.sluice")" ] || [ "$got" = "$T_DIR/cap.snapshot-002.sluice" ] ||
    fail "sluice-ctl.exe snapshot printed '$got'"
win "$SL_WIN_CTL" --pipe "$T_PIPE" stop >/dev/null || fail "sluice-ctl.exe stop"
collector_done '^collector: producers=5 events=31001 '
[ ! -e "$T_DIR/cap.sluice" ] || fail "a flight recorder wrote a capture file"
[ ! -e "$T_DIR/cap.snapshot-003.sluice" ] || fail "a third snapshot"
for n in 001 002; do
    f=$T_DIR/cap.snapshot-$n.sluice
    a=$(native_dump --verify "$f") || fail "native verify $n: $a"
    b=$(win "$SL_WIN_DUMP" --verify "$(winpath "$f")" | tr -d '\r') || fail "sluice-dump.exe verify $n: $b"
    [ "$a" = "$b" ] || fail "$n: native '$a', wine '$b'"
    grep -q " gaps=0 corrupt_blocks=0 torn_tail_bytes=0$" <<<"$a" || fail "$n: $a"
done
native_dump "$T_DIR/cap.snapshot-001.sluice" >"$T_DIR/s1.txt"
grep -A1 " type=7: " "$T_DIR/s1.txt" | grep -q "^--- trigger snapshot=1 cause=type producer=[0-9]* seq=0 type=7 " ||
    fail "snapshot 1: no trigger record after the type-7 event"
grep -q "^--- trigger snapshot=2 cause=ctl " <(native_dump "$T_DIR/cap.snapshot-002.sluice") ||
    fail "snapshot 2: no ctl trigger record"
log "ok"
