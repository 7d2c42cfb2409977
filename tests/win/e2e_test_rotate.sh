#!/usr/bin/env bash
# Rotation on Windows (issue 11), all under Wine: 64 sluice-producer.exe
# under load against sluice-collector.exe --rotate-size 4M --keep 3
# --compress none (mingw has no lz4/zstd): 3 chunks kept, each verifying
# alone with both dumps, the set (any order) verifying with the deleted
# chunks' events counted as expired and no gap; sluice-ctl.exe rotate
# starts a chunk on request; a collector killed mid-rotation (the
# test-only SLUICE_TEST_ROTATE_DELAY_US) leaves every chunk readable with
# no corrupt block and no gap.
source "$(dirname "$0")/e2e_lib.sh"

P=64
N=2000
start_collector "$T_DIR/cap.sluice" --rotate-size 4M --keep 3 --compress none \
    --exit-after $P --workers 2 --instances 8
for i in $(seq 1 $P); do
    win_bg "p$i" "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count $N --size 200 \
        --name "p$i" --connect-timeout 60000
    pids[$i]=$LAST_PID
done
for i in $(seq 1 $P); do
    wait_pid "${pids[$i]}" 240
    [ "$WAIT_RC" -eq 0 ] || fail "producer $i exited $WAIT_RC: $(cat "$T_DIR/p$i.err")"
done
collector_done "^collector: producers=$P events=$((P * N)) "
ls "$T_DIR"/cap.*.sluice >"$T_DIR/chunks.txt"
[ "$(wc -l <"$T_DIR/chunks.txt")" = 3 ] || fail "expected 3 kept chunks: $(cat "$T_DIR/chunks.txt")"
[ ! -e "$T_DIR/cap.000001.sluice" ] || fail "chunk 1 was not deleted"
for f in $(cat "$T_DIR/chunks.txt"); do
    sz=$(stat -c %s "$f")
    [ "$sz" -le 4194304 ] || fail "$(basename "$f"): $sz bytes, over 4 MiB"
    a=$(native_dump --verify "$f") || fail "native verify $(basename "$f"): $a"
    b=$(win "$SL_WIN_DUMP" --verify "$(winpath "$f")" | tr -d '\r') ||
        fail "sluice-dump.exe verify $(basename "$f"): $b"
    [ "$a" = "$b" ] || fail "$(basename "$f"): native '$a', wine '$b'"
    grep -q " gaps=0 corrupt_blocks=0 torn_tail_bytes=0$" <<<"$a" || fail "$(basename "$f"): $a"
done
a=$(native_dump --verify $(sort -r "$T_DIR/chunks.txt")) || fail "native set verify: $a"
wargs=()
for f in $(sort -r "$T_DIR/chunks.txt"); do wargs+=("$(winpath "$f")"); done
b=$(win "$SL_WIN_DUMP" --verify "${wargs[@]}" | tr -d '\r') || fail "sluice-dump.exe set verify: $b"
log "set: $a"
[ "$a" = "$b" ] || fail "set: native '$a', wine '$b'"
[[ "$a" =~ ^verify:\ producers=[0-9]+\ events=([0-9]+)\ gaps=0\ corrupt_blocks=0\ torn_tail_bytes=0\ chunks=3\ expired=([1-9][0-9]*)\ missing_chunks=0$ ]] ||
    fail "set verify line: $a"
[ $((BASH_REMATCH[1] + BASH_REMATCH[2])) -le $((P * N)) ] || fail "events + expired over the events sent"

log "sluice-ctl.exe rotate"
T_PIPE="$T_PIPE-ctl"
start_collector "$T_DIR/rc.sluice" --rotate-time 3600
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100 --name before >/dev/null || fail "producer before"
win "$SL_WIN_CTL" --pipe "$T_PIPE" rotate >"$T_DIR/rot.out" 2>&1 || fail "sluice-ctl.exe rotate: $(cat "$T_DIR/rot.out")"
[ -e "$T_DIR/rc.000002.sluice" ] || fail "no chunk 2 after rotate"
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100 --name after >/dev/null || fail "producer after"
win "$SL_WIN_CTL" --pipe "$T_PIPE" stop >/dev/null || fail "sluice-ctl.exe stop"
collector_done '^collector: producers=2 events=200 '
a=$(native_dump --verify "$T_DIR/rc.000002.sluice" "$T_DIR/rc.000001.sluice") || fail "ctl set: $a"
[ "$a" = "verify: producers=2 events=200 gaps=0 corrupt_blocks=0 torn_tail_bytes=0 chunks=2 expired=0 missing_chunks=0" ] ||
    fail "ctl set: $a"

log "killed mid-rotation"
T_PIPE="$T_PIPE-kill"
SLUICE_TEST_ROTATE_DELAY_US=400000 start_collector "$T_DIR/kr.sluice" --rotate-size 256K
for i in 1 2 3 4; do
    win_bg "k$i" "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 1000000 --size 100 --connect-timeout 20000
done
for _ in $(seq 1 1200); do [ -e "$T_DIR/kr.000004.sluice" ] && break; sleep 0.05; done
[ -e "$T_DIR/kr.000004.sluice" ] || fail "no chunk 4 under load"
kill -9 "$COLLECTOR_PID"
wait_pid "$COLLECTOR_PID" 30
for f in "$T_DIR"/kr.*.sluice; do
    rc=0; a=$(native_dump --verify "$f" 2>&1) || rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "$(basename "$f") after the kill: verify $rc: $a"
    grep -q " gaps=0 corrupt_blocks=0 " <<<"$a" || fail "$(basename "$f"): $a"
done
rc=0; a=$(native_dump --verify "$T_DIR"/kr.*.sluice 2>&1) || rc=$?
[ "$rc" = 3 ] || fail "killed set: verify $rc: $a"
grep -q " gaps=0 corrupt_blocks=0 .* missing_chunks=0$" <<<"$a" || fail "killed set: $a"
log "ok"
