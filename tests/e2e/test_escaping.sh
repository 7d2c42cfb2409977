#!/usr/bin/env bash
# Hostile names and payloads cannot drive the operator's terminal or fake
# output (docs/cli.md "Escaping"):
# - the collector's log line for a malformed producer escapes its name (an
#   ESC sequence, a newline that would forge a log line, a bidi override,
#   spaces), as sluice-dump does (each backend);
# - sluice-dump's text format: a name can never look like more fields
#   (spaces as \x20), bidi controls and other controls in names and
#   payloads are escaped, payload spaces stay;
# - sluice-collector --list escapes the pipe names it prints, and a socket
#   that never accepts (its backlog full) cannot hang it.
source "$(dirname "$0")/lib.sh"

ESC=$'\x1b'
RLO=$'\xe2\x80\xae'   # U+202E RIGHT-TO-LEFT OVERRIDE
LRI=$'\xe2\x81\xa6'   # U+2066 LEFT-TO-RIGHT ISOLATE
EVIL="ev${ESC}[2J"$'\n'"sluice-collector: FORGED ${RLO}x"
EVIL_ESC='ev\x1b[2J\nsluice-collector:\x20FORGED\x20\xe2\x80\xaex'

for b in $(backends); do
  note "backend $b: the log line of a malformed producer escapes its name"
  cap=$WORK/e-$b.sluice
  start_collector "e-$b" --pipe "e-$b" --out "$cap" --backend "$b" --exit-after 3
  python3 "$CLIENTS/binary_client.py" "$WORK/CoreFxPipe_e-$b" --name "$EVIL" --count 3 --fault too-big --fault-at 1
  "$PRODUCER" --pipe "e-$b" --count 2 --name 'x pid=1 uid=0 mode=binary' >/dev/null
  printf 'a %s b %s c\n' "$RLO" "$LRI" | socat - "UNIX-CONNECT:$WORK/CoreFxPipe_e-$b"
  wait_collector "e-$b"
  err=$WORK/e-$b.err
  ! grep -q "$ESC" "$err" || fail "an ESC byte reached the log: $(cat -v "$err")"
  ! grep -q "^sluice-collector: FORGED" "$err" || fail "a name forged a log line: $(cat -v "$err")"
  ! grep -q "$RLO" "$err" || fail "a bidi override reached the log"
  grep -qF "producer 1 ($EVIL_ESC, pid " "$err" || fail "log line not escaped as expected: $(cat -v "$err")"

  note "backend $b: sluice-dump text: one field per name, controls escaped"
  "$DUMP" "$cap" >"$WORK/e-$b.txt"
  ! grep -q "$ESC" "$WORK/e-$b.txt" || fail "an ESC byte in the dump"
  ! grep -q -e "$RLO" -e "$LRI" "$WORK/e-$b.txt" || fail "a bidi control in the dump"
  grep -qF -- "--- connect id=1 name=$EVIL_ESC pid=" "$WORK/e-$b.txt" || fail "evil name not one escaped field: $(grep connect "$WORK/e-$b.txt" | cat -v)"
  line=$(grep -- "--- connect id=2 " "$WORK/e-$b.txt")
  grep -qF 'name=x\x20pid=1\x20uid=0\x20mode=binary pid=' <<<"$line" || fail "a name faked fields: $line"
  [ "$(grep -o ' pid=' <<<"$line" | wc -l)" = 1 ] || fail "more than one pid field: $line"
  [ "$(grep -o ' mode=' <<<"$line" | wc -l)" = 1 ] || fail "more than one mode field: $line"
  grep -qF '[2] #0 type=0: ' "$WORK/e-$b.txt" || fail "the faking producer's events are not under one name field"
  grep -qF 'x\x20pid=1\x20uid=0\x20mode=binary[2] #0 type=0: ' "$WORK/e-$b.txt" || fail "event line name not escaped"
  grep -qF ': a \xe2\x80\xae b \xe2\x81\xa6 c' "$WORK/e-$b.txt" || fail "payload bidi controls not escaped: $(grep 'type=0: a' "$WORK/e-$b.txt")"
  # JSON Lines stay exact: the name decodes back to the bytes sent.
  "$DUMP" "$cap" --format jsonl | python3 -c '
import json, sys
want = sys.argv[1]
names = [r.get("name") for r in map(json.loads, sys.stdin) if r.get("kind") == "connect"]
assert want in names, names
' "$EVIL" || fail "jsonl does not give the name back exactly"
done

note "--list escapes the names it prints"
LNAME="l${ESC}]0;owned${RLO} x"
python3 - "$WORK/CoreFxPipe_$LNAME" "$WORK/list.ready" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
open(sys.argv[2], "w").close()
while True:
    c, _ = s.accept()
    c.sendall(b"SLUICE/1 max=65536 id=1\0")
    c.close()
PY
LPID=$!
for _ in $(seq 1 400); do [ -e "$WORK/list.ready" ] && break; sleep 0.025; done
rc=0
timeout 60 "$COLLECTOR" --list >"$WORK/list.out" 2>"$WORK/list.err" || rc=$?
[ "$rc" = 0 ] || fail "--list exited $rc: $(cat "$WORK/list.err")"
! grep -q "$ESC" "$WORK/list.out" || fail "an ESC byte in --list: $(cat -v "$WORK/list.out")"
grep -qF 'l\x1b]0;owned\xe2\x80\xae\x20x ' "$WORK/list.out" || fail "--list name not escaped: $(cat -v "$WORK/list.out")"
kill "$LPID"; wait "$LPID" 2>/dev/null || true

note "--list: a socket that never accepts, its backlog full, does not hang it"
python3 - "$WORK/CoreFxPipe_stuck" "$WORK/stuck.ready" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(0)
held = []
while True:  # fill the backlog: the next connect would block
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(False)
    try:
        c.connect(sys.argv[1])
    except BlockingIOError:
        break
    held.append(c)
open(sys.argv[2], "w").close()
time.sleep(300)
PY
SPID=$!
for _ in $(seq 1 400); do [ -e "$WORK/stuck.ready" ] && break; sleep 0.025; done
[ -e "$WORK/stuck.ready" ] || fail "stuck listener did not start"
rc=0
timeout 60 "$COLLECTOR" --list >"$WORK/list2.out" 2>"$WORK/list2.err" || rc=$?
[ "$rc" != 124 ] || fail "--list hung on a socket that never accepts"
[ "$rc" = 0 ] || fail "--list exited $rc: $(cat "$WORK/list2.err")"
! grep -q stuck "$WORK/list2.out" || fail "a socket that never greets was listed"
kill "$SPID"; wait "$SPID" 2>/dev/null || true
echo "ok"
