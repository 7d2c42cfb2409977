#!/usr/bin/env bash
# The Windows build has no libnats (docs/forwarding.md): --forward must say
# so, as a usage error, and create no capture.
source "$(dirname "$0")/e2e_lib.sh"

cap="$T_DIR/capture.sluice"
rc=0
out=$(win "$SL_WIN_COLLECTOR" --pipe "$T_PIPE" --out "$cap" --forward nats://127.0.0.1:4222 2>&1 | tr -d '\r') || rc=$?
[ "$rc" = 2 ] || fail "--forward exited $rc, expected 2: $out"
grep -q -- "--forward: not compiled in" <<<"$out" || fail "no clear reason: $out"
[ ! -e "$cap" ] || fail "a capture was created"
log "PASS"
