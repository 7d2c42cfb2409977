#!/usr/bin/env bash
# sluice-collector.exe --list enumerates \\.\pipe\, shows the pipes that
# answer with a sluice greeting, and its probe is not counted as a producer.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap" --exit-after 1
rc=0
out=$(win "$SL_WIN_COLLECTOR" --list 2>&1 | tr -d '\r') || rc=$?
if [ "$rc" = 1 ] && grep -q "cannot list pipes: not supported on this system" <<<"$out"; then
    # Wine cannot enumerate \\.\pipe\ (FindFirstFileW answers
    # ERROR_BAD_DEV_TYPE); Windows can. The clear refusal is what we check.
    log "skipped: this Wine cannot enumerate pipes ($out)"
    kill "$COLLECTOR_PID" 2>/dev/null || true
    exit 77
fi
[ "$rc" = 0 ] || fail "--list failed: $out"
log "$out"
grep -Eq "^$T_PIPE +1 +1048576 +\\\\\\\\\\.\\\\pipe\\\\$T_PIPE\$" <<<"$out" || fail "pipe not listed"
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 5 --connect-timeout 20000 >/dev/null || fail "producer failed"
collector_done '^collector: producers=1 events=5 bytes=320 dropped=0 malformed=0$'
log "PASS"
