#!/usr/bin/env bash
# sluice-ctl's limits and errors (issue 12, session 4):
# - with every --max-producers slot taken, sluice-ctl status, producers and
#   a change still work, take no producer id (the next producer's id is
#   the next one) and are not counted as refused;
# - a response longer than 64 MiB is refused with a clear error;
# - a change request without an answer within --timeout says that it may
#   or may not have been applied and how to check; a status one does not;
# - a socket path over the system's limit names the path, its length and
#   the limit;
# - a usage error is one line plus the --help hint, never the usage text;
# - sluice-collector --config-file refuses a directory and a FIFO (which
#   it used to read as empty / wait on for ever) with a clear usage error;
# - sluice-dump's text format shows a state record's values as one word
#   each (a space is \x20), so a value can neither split nor fake a pair;
# - one event-type limit everywhere, 0..61439 (0x0..0xEFFF): sluice-dump
#   --type refuses 61440 and says the range, as its --help, docs/cli.md,
#   sluice-producer --type and sluice-ctl do;
# - sluice-ctl --collector-user UID (sluice-producer's option): a
#   collector run by another user is refused without it and steered with
#   it (needs root and a user 'nobody', else that part is skipped).
source "$(dirname "$0")/lib.sh"
CTL=$BIN/collector/sluice-ctl

# holders_are PIPE N: the producers list shows exactly N 'hold' producers.
holders_are() { [ "$("$CTL" --pipe "$1" producers 2>/dev/null | grep -c hold)" = "$2" ]; }

for b in $(backends); do
  note "backend $b: control connections take no producer slot and no id"
  cap=$WORK/full-$b.sluice
  start_collector "full-$b" --pipe "full-$b" --out "$cap" --backend "$b" --max-producers 2 --stats 0
  # A sluice-ctl connection holds a producer slot from its accept until
  # its first bytes say it is a control connection (protocol.md section
  # 14: the greeting goes out before the collector knows), so a holder
  # connecting while the test polls with sluice-ctl can be refused. hold1
  # is waited for before hold2 starts (a poll then uses the second slot
  # at most), and hold2 retries a refusal, each one counted.
  "$PRODUCER" --pipe "full-$b" --name hold1 --rate 20 --count 100000 >/dev/null 2>&1 &
  h1=$!
  wait_for "hold1 in the producers list" holders_are "full-$b" 1
  : >"$WORK/h2-$b.refused"
  ( for _ in $(seq 1 100); do
      "$PRODUCER" --pipe "full-$b" --name hold2 --rate 20 --count 100000 >/dev/null 2>"$WORK/h2-$b.err" &
      echo $! >"$WORK/h2-$b.pid"
      wait $! && exit 0
      grep -q "too many producers" "$WORK/h2-$b.err" || exit 1
      echo refused >>"$WORK/h2-$b.refused"
      sleep 0.2
    done ) &
  h2=$!
  wait_for "both holders in the producers list" holders_are "full-$b" 2
  rc=0; "$PRODUCER" --pipe "full-$b" --count 1 --connect-timeout 0 >/dev/null 2>"$WORK/full-$b.p" || rc=$?
  [ "$rc" = 1 ] && grep -q "too many producers" "$WORK/full-$b.p" || fail "a third producer was not refused: $rc $(cat "$WORK/full-$b.p")"
  "$CTL" --pipe "full-$b" status >"$WORK/full-$b.st" 2>&1 || fail "status with every slot taken: $(cat "$WORK/full-$b.st")"
  grep -qx "producers: 2 now, 2 total" "$WORK/full-$b.st" || fail "status: $(cat "$WORK/full-$b.st")"
  want_refused=$(( $(wc -l <"$WORK/h2-$b.refused") + 1 ))
  grep -qx "refused: $want_refused" "$WORK/full-$b.st" || fail "a control connection counted as refused (want $want_refused): $(cat "$WORK/full-$b.st")"
  "$CTL" --pipe "full-$b" producers | grep -c hold | grep -qx 2 || fail "producers with every slot taken"
  "$CTL" --pipe "full-$b" disable 9 >/dev/null || fail "disable with every slot taken"
  "$CTL" --pipe "full-$b" enable 9 >/dev/null || fail "enable with every slot taken"
  kill "$h1"; wait "$h1" || true
  wait_for "hold1 to leave the producers list" holders_are "full-$b" 1
  # hold1 leaves the producers list a moment before its slot is given
  # back (the slot goes at the connection's end): a refusal for that
  # reason is retried, bounded (20 s), anything else fails at once.
  produce_retrying_refusal "$WORK/after-$b.err" --pipe "full-$b" --name after --count 3 ||
    fail "a producer after the slot was freed: $(cat "$WORK/after-$b.err")"
  kill "$(cat "$WORK/h2-$b.pid")"; wait "$h2" || true
  "$CTL" --pipe "full-$b" stop >/dev/null
  wait_collector "full-$b"
  # The refused producer got no id and every sluice-ctl call gave its id
  # back, so the three producers hold exactly ids 1, 2 and 3. (Which of
  # them got which depends on timing: a sluice-ctl call that held id 1
  # while hold1 connected gives it back for a later producer.)
  ids=$("$DUMP" "$cap" | sed -n 's/^--- connect id=\([0-9]*\) .*/\1/p' | sort -n | tr '\n' ' ')
  [ "$ids" = "1 2 3 " ] ||
    fail "control connections used producer ids: $("$DUMP" "$cap" | grep connect)"
done

note "a response over 64 MiB"
python3 "$CLIENTS/fake_ctl_collector.py" "$WORK/flood.sock" flood "$WORK/flood.ready" &
fpid=$!
for _ in $(seq 1 400); do [ -e "$WORK/flood.ready" ] && break; sleep 0.025; done
rc=0; "$CTL" --pipe "$WORK/flood.sock" --timeout 60000 status >"$WORK/flood.out" 2>"$WORK/flood.err" || rc=$?
[ "$rc" = 1 ] || fail "an unbounded response exited $rc"
grep -qx "sluice-ctl: the response from the collector on pipe '$WORK/flood.sock' is longer than 64 MiB, sluice-ctl's limit: nothing printed" "$WORK/flood.err" ||
  fail "unclear: $(head -c 300 "$WORK/flood.err")"
[ ! -s "$WORK/flood.out" ] || fail "part of the response was printed"
kill "$fpid"; wait "$fpid" 2>/dev/null || true

note "no answer within --timeout"
python3 "$CLIENTS/fake_ctl_collector.py" "$WORK/mute.sock" silent "$WORK/mute.ready" &
fpid=$!
for _ in $(seq 1 400); do [ -e "$WORK/mute.ready" ] && break; sleep 0.025; done
for cmd in "enable 5" "disable 5" "config k=v" "stop" "rotate" "snapshot"; do
  rc=0; "$CTL" --pipe "$WORK/mute.sock" --timeout 1500 $cmd 2>"$WORK/mute.err" || rc=$?
  [ "$rc" = 1 ] || fail "$cmd without an answer exited $rc"
  grep -qx "sluice-ctl: no answer from the collector on pipe '$WORK/mute.sock' within 1500 ms (--timeout): the ${cmd%% *} request may or may not have been applied; check with 'sluice-ctl --pipe $WORK/mute.sock status'" "$WORK/mute.err" ||
    fail "$cmd: $(cat "$WORK/mute.err")"
done
rc=0; "$CTL" --pipe "$WORK/mute.sock" --timeout 1500 status 2>"$WORK/mute.err" || rc=$?
[ "$rc" = 1 ] && grep -qx "sluice-ctl: no answer from the collector on pipe '$WORK/mute.sock' within 1500 ms (--timeout)" "$WORK/mute.err" ||
  fail "status without an answer: $rc $(cat "$WORK/mute.err")"
kill "$fpid"; wait "$fpid" 2>/dev/null || true

note "a socket path too long"
long=$(head -c 300 /dev/zero | tr '\0' n)
rc=0; "$CTL" --pipe "$long" status 2>"$WORK/long.err" || rc=$?
[ "$rc" = 1 ] || fail "a too-long path exited $rc"
grep -qF "sluice-ctl: pipe '$long': the socket path $WORK/CoreFxPipe_$long is $(( ${#WORK} + 12 + 300 )) bytes, over the system's limit of 107 bytes for a socket path" "$WORK/long.err" ||
  fail "unclear: $(cat "$WORK/long.err")"
! grep -q "name too long" "$WORK/long.err" || fail "still 'name too long'"

note "usage errors: one line and the hint"
for args in "" "--pipe x" "--pipe x enable 7-3" "--pipe x status extra" "--bogus" "--pipe x frob" "--pipe x config nokey" "--timeout 0 --pipe x status"; do
  rc=0; "$CTL" $args 2>"$WORK/u.err" >"$WORK/u.out" || rc=$?
  [ "$rc" = 2 ] || fail "'$args' exited $rc"
  [ "$(wc -l <"$WORK/u.err")" = 2 ] && grep -q "^sluice-ctl: " "$WORK/u.err" &&
    [ "$(tail -1 "$WORK/u.err")" = "Try 'sluice-ctl --help'." ] ||
    fail "'$args': not one line and the hint: $(cat "$WORK/u.err")"
  [ ! -s "$WORK/u.out" ] || fail "'$args' printed on stdout"
done
note "--config-file: a directory, a FIFO"
mkdir "$WORK/confdir"
rc=0; "$COLLECTOR" --pipe cfd --out "$WORK/cfd.sluice" --config-file "$WORK/confdir" 2>"$WORK/cfd.err" || rc=$?
[ "$rc" = 2 ] && grep -qx "sluice-collector: --config-file: '$WORK/confdir' is a directory, not a file of KEY=VALUE lines" "$WORK/cfd.err" ||
  fail "a directory as --config-file: $rc $(cat "$WORK/cfd.err")"
mkfifo "$WORK/conf.fifo"
rc=0; timeout 20 "$COLLECTOR" --pipe cfd --out "$WORK/cfd.sluice" --config-file "$WORK/conf.fifo" 2>"$WORK/cff.err" || rc=$?
[ "$rc" = 2 ] && grep -qx "sluice-collector: --config-file: '$WORK/conf.fifo' is not a regular file (a FIFO, socket or device); give a file of KEY=VALUE lines" "$WORK/cff.err" ||
  fail "a FIFO as --config-file: $rc $(cat "$WORK/cff.err")"
rc=0; "$COLLECTOR" --pipe cfd --out "$WORK/cfd.sluice" --config-file "$WORK/none.conf" 2>"$WORK/cfn.err" || rc=$?
[ "$rc" = 2 ] && grep -q "cannot open '$WORK/none.conf': no such file" "$WORK/cfn.err" || fail "a missing --config-file: $rc $(cat "$WORK/cfn.err")"
[ ! -e "$WORK/cfd.sluice" ] || fail "a bad --config-file created the capture"
note "the text dump of a state record escapes spaces in values"
start_collector st --pipe st --out "$WORK/st.sluice" --stats 0 --config 'label=a b c' --config 'x=1 config=9' --config 'e=' --disable 7
"$CTL" --pipe st stop >/dev/null
wait_collector st
"$DUMP" "$WORK/st.sluice" | grep '^--- state' >"$WORK/st.txt"
expect_line "$WORK/st.txt" '--- state gen=1 disabled=7 config=3: label=a\x20b\x20c x=1\x20config=9 e='
note "event types: 0..61439 everywhere"
for t in 61440 0xF000 65535 5-61440; do
  rc=0; "$DUMP" "$WORK/st.sluice" --type "$t" >/dev/null 2>"$WORK/t.err" || rc=$?
  [ "$rc" = 2 ] && grep -q "^sluice-dump: --type takes event types 0..61439 (or 0x0..0xEFFF) and ranges A-B" "$WORK/t.err" ||
    fail "sluice-dump --type $t: $rc $(cat "$WORK/t.err")"
done
"$DUMP" "$WORK/st.sluice" --type 0-0xEFFF >/dev/null || fail "sluice-dump --type 0-0xEFFF refused"
"$DUMP" --help | tr -s ' \n' ' ' | grep -q -- "--type T\[,T...\] only events of these types: numbers 0..61439 (decimal, or 0x0..0xEFFF)" ||
  fail "sluice-dump --help does not say the range"
grep -q '^| `--type T\[,T...\]` | all types | Only events of these types: numbers 0..61439' "$SRC/docs/cli.md" || fail "docs/cli.md: dump --type range"
rc=0; "$PRODUCER" --pipe st --type 61440 2>"$WORK/pt.err" || rc=$?
[ "$rc" = 2 ] && grep -q "invalid value '61440' for --type (expected 0..61439 or 0x0..0xEFFF)" "$WORK/pt.err" ||
  fail "sluice-producer --type 61440: $rc $(cat "$WORK/pt.err")"
"$PRODUCER" --help | tr -s ' \n' ' ' | grep -q -- "--type T Event type, 0..61439 or 0x0..0xEFFF" || fail "sluice-producer --help --type"
rc=0; "$CTL" --pipe st disable 61440 2>"$WORK/ct.err" || rc=$?
[ "$rc" = 2 ] && grep -q "0..61439 or 0x0..0xEFFF" "$WORK/ct.err" || fail "sluice-ctl disable 61440: $rc $(cat "$WORK/ct.err")"
if [ "$(id -u)" = 0 ] && OTHER_UID=$(id -u nobody 2>/dev/null) &&
   setpriv --reuid "$OTHER_UID" --regid "$(id -g nobody)" --clear-groups -- true 2>/dev/null; then
  note "--collector-user: a collector of uid $OTHER_UID"
  chmod 1777 "$WORK"
  TMPDIR=$WORK setpriv --reuid "$OTHER_UID" --regid "$(id -g nobody)" --clear-groups -- \
    "$COLLECTOR" --pipe other --out "$WORK/other.sluice" --stats 0 >"$WORK/other.out" 2>"$WORK/other.err" &
  CPID=$!
  for _ in $(seq 1 400); do
    grep -q "listening on" "$WORK/other.err" 2>/dev/null && break
    kill -0 "$CPID" 2>/dev/null || fail "collector exited at start: $(cat "$WORK/other.err")"
    sleep 0.025
  done
  rc=0; "$CTL" --pipe other status 2>"$WORK/other.c1" || rc=$?
  [ "$rc" = 1 ] && grep -q "is served by another user, not a trusted collector: nothing was sent (--collector-user USER trusts a collector run by USER)" "$WORK/other.c1" ||
    fail "another user's collector not refused: $rc $(cat "$WORK/other.c1")"
  "$CTL" --pipe other --collector-user "$OTHER_UID" status >"$WORK/other.c2" 2>&1 ||
    fail "sluice-ctl --collector-user: $(cat "$WORK/other.c2")"
  grep -qx "producers: 0 now, 0 total" "$WORK/other.c2" || fail "status: $(cat "$WORK/other.c2")"
  "$CTL" --pipe other --collector-user "$OTHER_UID" stop >/dev/null || fail "stop with --collector-user"
  wait_collector other
  rc=0; "$CTL" --pipe other --collector-user root status 2>"$WORK/other.c3" || rc=$?
  [ "$rc" = 2 ] && grep -q "invalid value 'root' for --collector-user" "$WORK/other.c3" || fail "bad --collector-user: $rc"
else
  note "skip --collector-user: needs root and a user 'nobody'"
fi
echo "ok"
