#!/usr/bin/env bash
# docs/protocol.md section 7, on Linux: a shell redirection cannot open the
# collector's Unix socket (open(2) fails with ENXIO, so nothing is sent),
# and the two commands the document gives instead, socat and OpenBSD
# netcat's `nc -NU`, each deliver their lines as text-mode events.
source "$(dirname "$0")/lib.sh"
command -v nc >/dev/null || fail "nc is missing (scripts/deps.sh installs netcat-openbsd)"
sock=$WORK/CoreFxPipe_sh
cap=$WORK/sh.sluice
start_collector sh --pipe sh --out "$cap" --exit-after 2
if (echo hello >"$sock") 2>"$WORK/redir.err"; then
  fail "a redirection into the socket succeeded"
fi
grep -q "No such device or address" "$WORK/redir.err" || fail "redirection: $(cat "$WORK/redir.err")"
printf 'via socat\nsecond\n' | socat - "UNIX-CONNECT:$sock" >/dev/null
printf 'via nc\n' | nc -NU "$sock" >/dev/null
wait_collector sh
"$DUMP" "$cap" --format jsonl | "${PYTHON:-python3}" -c '
import json, sys
ev = [r["payload"] for r in map(json.loads, sys.stdin) if r["kind"] == "event"]
sys.exit(0 if ev == ["via socat", "second", "via nc"] else "events: %r" % ev)' ||
  fail "the capture does not hold the socat and nc lines"
echo "ok"
