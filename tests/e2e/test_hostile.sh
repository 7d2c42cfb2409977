#!/usr/bin/env bash
# Hostile input beyond test_malformed.sh, all at once on one collector per
# backend: a frame length of 2^32-1 (after ten events, and as the first
# frame after the hello), a client SIGKILLed in the middle of a frame, a
# real producer SIGKILLed while sending, and text lines with NUL bytes and
# invalid UTF-8. Each bad connection is closed with its own logged reason
# and counted as malformed; the good producers' events are all there
# (exact counts, no gaps); the killed ones keep every whole frame they sent,
# in order; text bytes are kept as they are and dumped escaped; and the
# collector's peak memory stays within the documented bound (a 4 GiB length
# must not allocate anything).
source "$(dirname "$0")/lib.sh"
N=$(scaled 50000)
for b in $(backends); do
  note "backend $b"
  cap=$WORK/h-$b.sluice
  path=$WORK/CoreFxPipe_h-$b
  start_collector "c-$b" --pipe "h-$b" --out "$cap" --exit-after 7 --backend "$b" \
    --max-frame 4096 --ring-mb 8
  watch_mem "$CPID"
  "$PRODUCER" --pipe "h-$b" --count "$N" --name good1 >/dev/null &
  "$PRODUCER" --pipe "h-$b" --count "$N" --name good2 >/dev/null &
  python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault len-max --fault-at 10 --name lenmax10 &
  python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault len-max --fault-at 0 --name lenmax0 &
  # 25 whole frames and all but 3 bytes of the 26th, then SIGKILL.
  python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault truncated --fault-at 25 \
    --name killed --hold >"$WORK/killed-$b.out" &
  kpid=$!
  "$PRODUCER" --pipe "h-$b" --count 200000 --rate 20000 --name victim >/dev/null 2>&1 &
  vpid=$!
  python3 - "$path" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(64)
s.sendall(b"nul\x00inside\n" b"bad \xff\xfe utf8 \xc3\x28\n" b"ok \xc3\xa9\t\\ end\n")
s.close()
PY
  for _ in $(seq 1 200); do
    grep -q sent "$WORK/killed-$b.out" && break
    sleep 0.05
  done
  grep -q sent "$WORK/killed-$b.out" || fail "the mid-frame client did not send"
  kill -KILL "$kpid"
  # The victim sends 20k events/s; kill it once its connect record is in
  # the file and it has been busy for a moment (how many it sent does not
  # matter, see below).
  for _ in $(seq 1 200); do
    grep -qa victim "$cap" && break
    sleep 0.05
  done
  sleep 0.5
  kill -KILL "$vpid" 2>/dev/null || true
  wait_collector "c-$b"
  wait
  expect_mem_bound "$CPID" 8 7

  "$DUMP" "$cap" --format jsonl | python3 "$CLIENTS/dump_summary.py" >"$WORK/sum-$b.txt"
  cat "$WORK/sum-$b.txt" >&2
  row() { grep " name=$1 " "$WORK/sum-$b.txt" || fail "no producer named $1"; }
  for g in good1 good2; do
    row $g | grep -q "events=$N seq_ok=1 disc_events=$N .* reason=EOF malformed=0" || fail "$g incomplete"
  done
  row lenmax10 | grep -q "events=10 seq_ok=1 disc_events=10 .* reason=FRAME_TOO_BIG malformed=1" || fail "lenmax10"
  row lenmax0 | grep -q "events=0 seq_ok=1 disc_events=0 .* reason=FRAME_TOO_BIG malformed=1" || fail "lenmax0"
  row killed | grep -q "events=25 seq_ok=1 disc_events=25 .* reason=TRUNCATED malformed=1" || fail "killed"
  # The victim: every event it got onto the socket before the kill, in
  # order from seq 0; a frame cut by the kill is reported as TRUNCATED.
  vrow=$(row victim)
  vev=$(sed 's/.* events=\([0-9]*\) .*/\1/' <<<"$vrow")
  [ "$vev" -gt 0 ] || fail "the victim sent nothing before the kill"
  grep -Eq "seq_ok=1 disc_events=$vev .* reason=(EOF|TRUNCATED) " <<<"$vrow" || fail "victim: $vrow"
  vbad=0; grep -q "reason=TRUNCATED" <<<"$vrow" && vbad=1
  grep -q "mode=text events=3 seq_ok=1 disc_events=3 .* reason=EOF malformed=0" "$WORK/sum-$b.txt" ||
    fail "text client"
  total=$(( 2 * N + 10 + 25 + vev + 3 ))
  grep -q "^collector: producers=7 events=$total .* dropped=0 malformed=$(( 3 + vbad ))$" "$WORK/c-$b.out" ||
    fail "summary: $(cat "$WORK/c-$b.out"), expected events=$total"
  expect_verify "$cap" "verify: producers=7 events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

  err=$WORK/c-$b.err
  [ "$(grep -c 'lenmax.*closed: .*(FRAME_TOO_BIG)' "$err")" = 2 ] || fail "len-max not logged: $(cat "$err")"
  grep -q 'killed.*closed: .*(TRUNCATED)' "$err" || fail "mid-frame kill not logged"

  # Text bytes are kept exactly, and dumped escaped.
  tid=$(grep "mode=text" "$WORK/sum-$b.txt" | sed 's/^id=\([0-9]*\) .*/\1/')
  "$DUMP" "$cap" --producer "$tid" --format jsonl | grep '"kind":"event"' |
    sed 's/.*"payload":\(".*"\)}$/\1/' >"$WORK/text-$b.json"
  printf '%s\n' '"nul\u0000inside"' '"bad \u00ff\u00fe utf8 \u00c3("' \
    '"ok é\t\\ end"' | diff - "$WORK/text-$b.json" >&2 || fail "jsonl payloads"
  "$DUMP" "$cap" --producer "$tid" | grep ' type=0: ' | sed 's/.* type=0: //' >"$WORK/text-$b.txt"
  printf '%s\n' 'nul\x00inside' 'bad \xff\xfe utf8 \xc3(' 'ok é\t\\ end' |
    diff - "$WORK/text-$b.txt" >&2 || fail "text payloads"
done
echo "ok"
