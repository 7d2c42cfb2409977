#!/usr/bin/env bash
# Issue 12 on Windows (IOCP): the collector starts with a configuration
# and type 5 disabled. sluice-producer.exe --show-config prints the
# configuration; the live client (tests/e2e/ctl/ctl_live.c built for
# Windows) reads it through the library, emits types 4 and 5 (5 is
# filtered), and waits on one connection until sluice-ctl.exe enables 5:
# the collector pushes the new state beside the pending read on the same
# pipe instance, the client emits again. The capture holds exactly a4, b4,
# b5, the filtered count (1) in the live producer's disconnect record, and
# verifies without gaps; the seed-style plain Win32 client still works.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
start_collector "$cap" --config mode=fast --config label=x --disable 5

win "$SL_WIN_PRODUCER" --pipe "$T_PIPE" --show-config --count 1 --name show \
    >"$T_DIR/show.out" || fail "sluice-producer --show-config failed"
tr -d '\r' <"$T_DIR/show.out" | grep -qx "mode=fast" || fail "show-config: $(cat "$T_DIR/show.out")"
tr -d '\r' <"$T_DIR/show.out" | grep -qx "label=x" || fail "show-config: $(cat "$T_DIR/show.out")"

ready="$T_DIR/ready"
win_bg live "$SL_WIN_CTL_LIVE" "$T_PIPE" "$(winpath "$ready")"
live=$LAST_PID
for _ in $(seq 1 600); do [ -e "$ready" ] && break; sleep 0.1; done
[ -e "$ready" ] || fail "live client not ready: $(cat "$T_DIR/live.err")"
win "$SL_WIN_CTL" --pipe "$T_PIPE" enable 5 >"$T_DIR/enable.out" ||
    fail "sluice-ctl.exe enable failed: $(cat "$T_DIR/enable.out")"
tr -d '\r' <"$T_DIR/enable.out" | grep -qx "disabled: -" || fail "enable output: $(cat "$T_DIR/enable.out")"
wait_pid "$live" 90
[ "$WAIT_RC" -eq 0 ] || fail "live client failed: $(cat "$T_DIR/live.err")"
out=$(tr -d '\r' <"$T_DIR/live.out")
log "live: $out"
grep -qx "config: mode=fast" <<<"$out" || fail "live client config"
grep -qx "enabled5=0 enabled4=1" <<<"$out" || fail "live client initial state"
grep -qx "live: events=3 filtered=1 enabled5=1" <<<"$out" || fail "live client counts"

win "$SL_WIN_PLAIN_CLIENT" "$T_PIPE" >"$T_DIR/plain.out" || fail "plain Win32 client failed with a configuration present"
win "$SL_WIN_CTL" --pipe "$T_PIPE" stop >/dev/null || fail "sluice-ctl.exe stop"
collector_done '^collector: producers=3 '

native_dump "$cap" --format jsonl >"$T_DIR/dump.jsonl"
python3 - "$T_DIR/dump.jsonl" <<'PY' || fail "capture content"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
live = [r["producer"] for r in recs if r["kind"] == "connect" and r["name"] == "live"][0]
ev = [(r["type"], r["payload"]) for r in recs if r["kind"] == "event" and r["producer"] == live]
assert ev == [(4, "a4"), (4, "b4"), (5, "b5")], ev
dis = [r for r in recs if r["kind"] == "disconnect" and r["producer"] == live][0]
assert dis.get("filtered") == 1, dis
states = [r for r in recs if r["kind"] == "state"]
assert len(states) == 2 and states[0]["disabled"] == "5" and states[1]["disabled"] == "", states
PY
got=$(native_dump "$cap" --verify) || fail "verify: $got"
log "native: $got"
grep -q "gaps=0 corrupt_blocks=0 torn_tail_bytes=0" <<<"$got" || fail "verify: $got"
log "PASS"
