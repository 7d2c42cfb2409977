#!/usr/bin/env bash
# The capture is locked while written (issue 10), on Windows too: a second
# collector on the same --out, even with --force, exits 1 naming the file
# and never truncates it; the first one finishes a whole capture.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/live.sluice"
start_collector "$cap"
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 100 --name before \
    --connect-timeout 20000 >"$T_DIR/p1.out" || true
size=$(stat -c %s "$cap")
set +e
win "$SL_WIN_COLLECTOR" --pipe "${T_PIPE}_2" --out "$(winpath "$cap")" --force \
    --duration 1 >"$T_DIR/second.out" 2>"$T_DIR/second.err"
rc=$?
set -e
err=$(tr -d '\r' <"$T_DIR/second.err")
log "second collector: exit $rc: $err"
[ "$rc" -eq 1 ] || fail "second collector on a live capture exited $rc, wanted 1"
[[ "$err" == *"is being written by another collector"*"refusing to touch it, even with --force"* ]] ||
    fail "second collector's reason is not clear: $err"
[ "$(stat -c %s "$cap")" -ge "$size" ] || fail "the live capture was truncated"
kill -INT "$COLLECTOR_PID"
collector_done '^collector: producers=1 events=100 bytes=[0-9]+ dropped=0 malformed=0$'
verify_both "$cap" "verify: producers=1 events=100 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
