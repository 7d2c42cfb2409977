#!/usr/bin/env bash
# A second sluice-collector.exe on a pipe name that a running one serves
# is refused with a clear one-line reason and exit status 1, and touches
# neither the pipe nor its own capture file; the first collector keeps
# working. (Under Wine this rests on the instance-count check: Wine
# ignores FILE_FLAG_FIRST_PIPE_INSTANCE.)
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/first.sluice"
cap2="$T_DIR/second.sluice"
start_collector "$cap" --exit-after 1

set +e
win "$SL_WIN_COLLECTOR" --pipe "$T_PIPE" --out "$(winpath "$cap2")" \
    >"$T_DIR/second.out" 2>"$T_DIR/second.err"
rc=$?
set -e
err=$(tr -d '\r' <"$T_DIR/second.err")
log "second collector: exit $rc: $err"
[ "$rc" -eq 1 ] || fail "second collector exited $rc, wanted 1"
[[ "$err" == *"already served by a running collector"* ]] ||
    fail "second collector's reason is not clear: $err"
[ "$(wc -l <"$T_DIR/second.err")" -eq 1 ] || fail "wanted a one-line reason"
[ ! -e "$cap2" ] || fail "the refused collector created its capture file"

# The first one still serves the name.
win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --count 1000 --name after \
    >"$T_DIR/producer.out" || fail "producer after the refusal failed"
collector_done '^collector: producers=1 events=1000 bytes=64000 dropped=0 malformed=0$'
verify_both "$cap" "verify: producers=1 events=1000 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
log "PASS"
