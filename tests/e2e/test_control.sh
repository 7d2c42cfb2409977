#!/usr/bin/env bash
# Issue 12, the control plane, on every Linux backend:
# - the configuration (--config, --config-file) reaches the C library and
#   sluice-producer --show-config; a bad --config-file line is a usage
#   error naming the line;
# - live: type 5 disabled at start, one connection emits types 4 and 5,
#   sluice-ctl enables 5, it emits again: the capture holds exactly a4, b4,
#   b5, the state records, the filtered count (1) in the disconnect record,
#   and --verify passes (filtered events have no sequence number);
# - a producer that asked for updates and never reads its socket while
#   1,000 updates are pushed: the collector, sluice-ctl and other producers
#   carry on, and the stop is clean;
# - a plain text client (socat) still works with a configuration present;
# - sluice-ctl's errors: a stopped collector, a wrong name, bad ranges,
#   another user's collector.
source "$(dirname "$0")/lib.sh"
CTL=$BIN/collector/sluice-ctl
LIVE=$BIN/tests/sl-ctl-live

# ---- --config-file errors ---------------------------------------------------
printf '# comment\nmode=fast\n\nbad line here\n' >"$WORK/bad.conf"
rc=0; "$COLLECTOR" --pipe cf --out "$WORK/cf.sluice" --config-file "$WORK/bad.conf" 2>"$WORK/cf.err" || rc=$?
[ "$rc" = 2 ] || fail "bad --config-file exited $rc"
grep -q -- "--config-file $WORK/bad.conf: line 4: 'bad line here' is not KEY=VALUE" "$WORK/cf.err" ||
  fail "bad line not named: $(cat "$WORK/cf.err")"
[ ! -e "$WORK/cf.sluice" ] || fail "a usage error created the capture"
rc=0; "$COLLECTOR" --pipe cf --out "$WORK/cf.sluice" --disable 5-0xF000 2>"$WORK/cf2.err" || rc=$?
[ "$rc" = 2 ] && grep -q "'5-0xF000' is not a list of event types" "$WORK/cf2.err" || fail "bad --disable: $rc $(cat "$WORK/cf2.err")"
long=$(head -c 5000 /dev/zero | tr '\0' x)
rc=0; "$COLLECTOR" --pipe cf --out "$WORK/cf.sluice" --config "k=$long" 2>"$WORK/cf3.err" || rc=$?
[ "$rc" = 2 ] || fail "a 5000-byte value was accepted"

printf '# the test configuration\nmode=fast\n  rate = 3\nlabel=a b c\n' >"$WORK/good.conf"
sed -i 's/  rate = 3/rate=3/' "$WORK/good.conf"

for b in $(backends); do
  note "backend $b"
  cap=$WORK/live-$b.sluice
  start_collector "live-$b" --pipe "live-$b" --out "$cap" --backend "$b" \
    --config-file "$WORK/good.conf" --config extra=1 --disable 5 --stats 0
  # --show-config prints what the library received, before sending.
  "$PRODUCER" --pipe "live-$b" --show-config --count 3 --type 9 >"$WORK/show-$b.out"
  printf 'mode=fast\nrate=3\nlabel=a b c\nextra=1\n' >"$WORK/show-want"
  head -4 "$WORK/show-$b.out" | diff - "$WORK/show-want" >/dev/null || fail "--show-config: $(cat "$WORK/show-$b.out")"
  grep -q "^producer: events=3 bytes=192 seconds=[0-9.]* filtered=0$" "$WORK/show-$b.out" || fail "summary: $(cat "$WORK/show-$b.out")"
  # A text client (socat) with a configuration present: only the greeting.
  if command -v socat >/dev/null; then
    printf 'hello\n' | socat -t 2 - UNIX-CONNECT:"$WORK/CoreFxPipe_live-$b" >"$WORK/socat-$b.out"
    tr -d '\0' <"$WORK/socat-$b.out" | grep -qx "SLUICE/1 max=1048576 id=2 cfg=1" || fail "socat got: $(cat -v "$WORK/socat-$b.out")"
  fi

  # The Python example's binary client, written from docs/protocol.md,
  # reads the configuration too.
  python3 "$SRC/examples/python/binary_frames.py" "live-$b" 4 >"$WORK/pyb-$b.out" || fail "python binary example"
  grep -qx "config: label=a b c" "$WORK/pyb-$b.out" && grep -qx "config: extra=1" "$WORK/pyb-$b.out" ||
    fail "python example config: $(cat "$WORK/pyb-$b.out")"
  grep -q "^python-binary: id=3 events=4 " "$WORK/pyb-$b.out" || fail "python example summary: $(cat "$WORK/pyb-$b.out")"
  # The live run: one connection across the change.
  "$LIVE" "live-$b" "$WORK/ready-$b" >"$WORK/live-$b.out" 2>"$WORK/live-$b.err" &
  lpid=$!
  for _ in $(seq 1 400); do [ -e "$WORK/ready-$b" ] && break; sleep 0.025; done
  [ -e "$WORK/ready-$b" ] || fail "live client not ready: $(cat "$WORK/live-$b.err")"
  "$CTL" --pipe "live-$b" producers | grep -q "^[0-9]* *live " || fail "producers list: $("$CTL" --pipe "live-$b" producers)"
  "$CTL" --pipe "live-$b" enable 5 >"$WORK/enable-$b.out" || fail "sluice-ctl enable failed"
  grep -qx "disabled: -" "$WORK/enable-$b.out" || fail "enable output: $(cat "$WORK/enable-$b.out")"
  wait "$lpid" || fail "live client failed: $(cat "$WORK/live-$b.err")"
  expect_line "$WORK/live-$b.out" "mode is fast"
  expect_line "$WORK/live-$b.out" "enabled5=0 enabled4=1"
  expect_line "$WORK/live-$b.out" "live: events=3 filtered=1 enabled5=1"
  "$CTL" --pipe "live-$b" status >"$WORK/status-$b.out"
  grep -qx "filtered: 1" "$WORK/status-$b.out" || fail "status: $(cat "$WORK/status-$b.out")"
  "$CTL" --pipe "live-$b" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["disabled"] == "" and s["enabled"] == "0-61439", s
assert s["config"] == {"mode": "fast", "rate": "3", "label": "a b c", "extra": "1"}, s
assert s["producers_total"] == 4 and s["filtered"] == 1, s
' || fail "status --json"
  # Bad ranges and a config change (recorded and pushed).
  rc=0; "$CTL" --pipe "live-$b" disable 7-3 2>"$WORK/ctlbad-$b.err" || rc=$?
  [ "$rc" = 2 ] && grep -q "'7-3' is not a list of event types" "$WORK/ctlbad-$b.err" || fail "bad range: $rc"
  "$CTL" --pipe "live-$b" config mode=slow >/dev/null || fail "config"
  "$PRODUCER" --pipe "live-$b" --show-config --count 1 >"$WORK/show2-$b.out"
  grep -qx "mode=slow" "$WORK/show2-$b.out" || fail "changed config not seen: $(cat "$WORK/show2-$b.out")"
  rc=0; "$CTL" --pipe "live-$b" snapshot 2>"$WORK/snap-$b.err" || rc=$?
  [ "$rc" = 1 ] && grep -q "snapshot is not possible" "$WORK/snap-$b.err" || fail "snapshot: $rc $(cat "$WORK/snap-$b.err")"
  "$CTL" --pipe "live-$b" stop >/dev/null || fail "stop"
  wait_collector "live-$b"
  expect_verify "$cap" "verify: producers=5 events=12 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  "$DUMP" "$cap" --format jsonl >"$WORK/live-$b.jsonl"
  python3 - "$WORK/live-$b.jsonl" <<'PY' || fail "capture content"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
live = [r["producer"] for r in recs if r["kind"] == "connect" and r["name"] == "live"][0]
ev = [(r["type"], r["payload"], r["seq"]) for r in recs if r["kind"] == "event" and r["producer"] == live]
assert ev == [(4, "a4", 0), (4, "b4", 1), (5, "b5", 2)], ev
d = [r for r in recs if r["kind"] == "disconnect" and r["producer"] == live][0]
assert d["filtered"] == 1 and d["events"] == 3, d
st = [r for r in recs if r["kind"] == "state"]
assert [s["gen"] for s in st] == [1, 2, 3], st
assert st[0]["disabled"] == "5" and st[1]["disabled"] == "" and st[2]["config"]["mode"] == "slow", st
assert st[0]["config"] == {"mode": "fast", "rate": "3", "label": "a b c", "extra": "1"}, st[0]
PY
  python3 -m sluice --verify "$cap" 2>/dev/null | grep -q "gaps=0" || PYTHONPATH=$SRC/python python3 -m sluice --verify "$cap" | grep -q "gaps=0" || fail "python verify"

  # ---- a producer that never reads, while 1,000 updates are pushed --------
  cap=$WORK/mute-$b.sluice
  start_collector "mute-$b" --pipe "mute-$b" --out "$cap" --backend "$b" --config big="$(head -c 4000 /dev/zero | tr '\0' v)" --stats 0
  python3 "$CLIENTS/mute_client.py" "$WORK/CoreFxPipe_mute-$b" "$WORK/mute-stop-$b" 10 >"$WORK/mute-$b.out" &
  mpid=$!
  for _ in $(seq 1 400); do grep -q "mute: ready" "$WORK/mute-$b.out" 2>/dev/null && break; sleep 0.025; done
  for i in $(seq 1 1000); do
    if [ $((i % 2)) = 0 ]; then "$CTL" --pipe "mute-$b" --timeout 60000 disable "$i" >/dev/null; else "$CTL" --pipe "mute-$b" --timeout 60000 config "n=$i" >/dev/null; fi ||
      fail "update $i failed"
  done
  "$PRODUCER" --pipe "mute-$b" --count 500 >/dev/null || fail "another producer was blocked"
  # A generous --timeout: under ThreadSanitizer, beside other tests, the
  # answer can take longer than the default 5 s.
  "$CTL" --pipe "mute-$b" --timeout 60000 status >"$WORK/st-$b.out" 2>&1 || true
  grep -qx "state: generation 1001" "$WORK/st-$b.out" ||
    fail "status after 1000 updates: $(head -c 600 "$WORK/st-$b.out")"
  # The mute producer is still connected; the stop cancels its pending push.
  "$CTL" --pipe "mute-$b" stop >/dev/null
  wait_collector "mute-$b"
  touch "$WORK/mute-stop-$b"; wait "$mpid" || true
  expect_verify "$cap" "verify: producers=2 events=510 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  [ "$("$DUMP" "$cap" --format jsonl | grep -c '"kind":"state"')" = 1001 ] || fail "state records"
done

# ---- sluice-ctl errors --------------------------------------------------------
rc=0; "$CTL" --pipe nobody-here status 2>"$WORK/e1" || rc=$?
[ "$rc" = 1 ] && grep -q "no collector serves pipe 'nobody-here'" "$WORK/e1" || fail "wrong name: $rc $(cat "$WORK/e1")"
rc=0; "$CTL" --pipe "live-epoll" status 2>"$WORK/e2" || rc=$?   # stopped above
[ "$rc" = 1 ] && grep -q "no collector serves pipe 'live-epoll'" "$WORK/e2" || fail "stopped collector: $rc $(cat "$WORK/e2")"
rc=0; "$CTL" --pipe x frobnicate 2>"$WORK/e3" || rc=$?
[ "$rc" = 2 ] && grep -q "unknown command 'frobnicate'" "$WORK/e3" || fail "unknown command: $rc"
"$CTL" --help | grep -q "^Usage: sluice-ctl --pipe NAME COMMAND" || fail "--help"
# Names and values from the collector reach the terminal escaped: a
# producer named with ESC, a config value with ESC.
start_collector esc --pipe esc --out "$WORK/esc.sluice" --stats 0 --config $'k=\e[2J'
"$PRODUCER" --pipe esc --name $'li\e]0;x\ave' --rate 20 --count 40 >/dev/null &
ppid_=$!
for _ in $(seq 1 200); do "$CTL" --pipe esc producers | grep -q 'li' && break; sleep 0.05; done
"$CTL" --pipe esc producers >"$WORK/esc-prod.out"
"$CTL" --pipe esc status >"$WORK/esc-status.out"
grep -qF 'li\x1b]0;x\x07ve' "$WORK/esc-prod.out" || fail "producers: name not escaped: $(cat -v "$WORK/esc-prod.out")"
grep -qF 'k=\x1b[2J' "$WORK/esc-status.out" || fail "status: value not escaped: $(cat -v "$WORK/esc-status.out")"
! grep -q $'\e' "$WORK/esc-prod.out" "$WORK/esc-status.out" || fail "a raw ESC reached the terminal"
wait "$ppid_" || fail "esc producer failed"
"$CTL" --pipe esc stop >/dev/null
wait_collector esc
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  # Another user's collector: sluice-ctl checks who serves the pipe before
  # sending a byte (as the producer library does), and the socket is 0600.
  start_collector other --pipe other --out "$WORK/other.sluice" --stats 0
  chmod 755 "$WORK"
  rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups env TMPDIR="$WORK" "$CTL" --pipe other status 2>"$WORK/e4" || rc=$?
  [ "$rc" = 1 ] && grep -q "pipe 'other' .* is served by another user, not a trusted collector" "$WORK/e4" || fail "another user: $rc $(cat "$WORK/e4")"
  "$CTL" --pipe other stop >/dev/null
  wait_collector other
else
  note "not root: the another-user case is not tested"
fi
echo "ok"
