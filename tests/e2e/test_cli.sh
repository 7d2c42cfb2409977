#!/usr/bin/env bash
# The command-line contract: --help/--version, usage errors exit 2 with a
# one-line reason, runtime errors exit 1, no overwriting without --force, a
# second collector on a live pipe is refused, a stale socket is reclaimed,
# and nothing that is not our socket is ever unlinked.
source "$(dirname "$0")/lib.sh"

status() { local rc=0; "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?; echo $rc; }

for tool in "$COLLECTOR" "$PRODUCER" "$DUMP"; do
  [ "$(status "$tool" --help)" = 0 ] || fail "$tool --help"
  grep -q -- "--help" "$WORK/out" || fail "$tool --help does not list --help"
  [ "$(status "$tool" --version)" = 0 ] || fail "$tool --version"
  grep -q "^sluice-" "$WORK/out" || fail "$tool --version output"
  [ "$(status "$tool" --no-such-option)" = 2 ] || fail "$tool bad option should exit 2"
  [ -s "$WORK/err" ] || fail "$tool bad option printed no reason"
done
[ "$(status "$COLLECTOR" --out x.sluice)" = 2 ] || fail "missing --pipe should exit 2"
[ "$(status "$COLLECTOR" --pipe p --out x --ring-mb 3)" = 2 ] || fail "--ring-mb 3 should exit 2"
[ "$(status "$COLLECTOR" --pipe p --out x --max-frame 12abc)" = 2 ] || fail "bad number should exit 2"
[ "$(status "$COLLECTOR" --pipe p --out x --on-full maybe)" = 2 ] || fail "bad --on-full should exit 2"
[ "$(status "$COLLECTOR" --pipe p --out x --max-frame 16777216 --ring-mb 16)" = 2 ] || fail "ring too small for max-frame should exit 2"
grep -q "ring-mb 64" "$WORK/err" || fail "ring-size hint missing: $(cat "$WORK/err")"
[ "$(status "$PRODUCER" --pipe nobody-here --count 1 --connect-timeout 0)" = 1 ] || fail "producer without collector should exit 1"
[ "$(status "$DUMP" "$WORK/missing.sluice")" = 1 ] || fail "dump of missing file should exit 1"

# Existing capture: refused without --force, kept intact.
echo "precious" >"$WORK/exists.sluice"
[ "$(status "$COLLECTOR" --pipe cli1 --out "$WORK/exists.sluice" --duration 1)" = 1 ] || fail "overwrote without --force"
grep -q -- "--force" "$WORK/err" || fail "no --force hint: $(cat "$WORK/err")"
[ "$(cat "$WORK/exists.sluice")" = precious ] || fail "existing file was modified"
[ -e "$WORK/CoreFxPipe_cli1" ] && fail "socket left behind after refusing"

# A second collector on a live pipe is refused; the first keeps working.
start_collector c1 --pipe cli2 --out "$WORK/a.sluice" --exit-after 1
[ "$(status "$COLLECTOR" --pipe cli2 --out "$WORK/b.sluice" --duration 1)" = 1 ] || fail "second collector not refused"
grep -q "already served" "$WORK/err" || fail "unclear refusal: $(cat "$WORK/err")"
[ -e "$WORK/b.sluice" ] && fail "refused collector created its capture"
"$PRODUCER" --pipe cli2 --count 10 >/dev/null
wait_collector c1
expect_verify "$WORK/a.sluice" "verify: producers=1 events=10 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

# A stale socket (collector killed) is reclaimed on restart.
start_collector c2 --pipe cli3 --out "$WORK/c.sluice"
kill -KILL "$CPID"; wait "$CPID" 2>/dev/null || true
[ -S "$WORK/CoreFxPipe_cli3" ] || fail "expected a stale socket after SIGKILL"
start_collector c3 --pipe cli3 --out "$WORK/d.sluice" --exit-after 1
"$PRODUCER" --pipe cli3 --count 5 >/dev/null
wait_collector c3
expect_verify "$WORK/d.sluice" "verify: producers=1 events=5 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

# A regular file, a directory or a symlink at the path: refused, untouched.
echo data >"$WORK/CoreFxPipe_cli4"
mkdir "$WORK/CoreFxPipe_cli5"
ln -s "$WORK/target" "$WORK/CoreFxPipe_cli6"
for p in cli4 cli5 cli6; do
  [ "$(status "$COLLECTOR" --pipe $p --out "$WORK/$p.sluice" --duration 1)" = 1 ] || fail "$p not refused"
  grep -q "refusing to touch" "$WORK/err" || fail "$p: unclear message: $(cat "$WORK/err")"
done
[ "$(cat "$WORK/CoreFxPipe_cli4")" = data ] || fail "regular file modified"
[ -d "$WORK/CoreFxPipe_cli5" ] || fail "directory removed"
[ -L "$WORK/CoreFxPipe_cli6" ] && [ ! -e "$WORK/target" ] || fail "symlink removed or followed"

# The socket is private to the user (mode 0600).
start_collector c4 --pipe cli7 --out "$WORK/e.sluice" --exit-after 1
mode=$(stat -c %a "$WORK/CoreFxPipe_cli7")
[ "$mode" = 600 ] || fail "socket mode $mode, want 600"
"$PRODUCER" --pipe cli7 --count 1 >/dev/null
wait_collector c4

# --list finds live collectors (and only them) without counting as a producer.
start_collector c5 --pipe listed --out "$WORK/f.sluice" --exit-after 1
: >"$WORK/CoreFxPipe_not-a-socket"
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$WORK/CoreFxPipe_dead"
[ "$(status "$COLLECTOR" --list)" = 0 ] || fail "--list failed"
grep -Eq "^listed +1 +1048576 +$WORK/CoreFxPipe_listed$" "$WORK/out" || fail "--list output: $(cat "$WORK/out")"
[ "$(wc -l <"$WORK/out")" = 2 ] || fail "--list listed something that is not a live collector: $(cat "$WORK/out")"
"$PRODUCER" --pipe listed --count 3 >/dev/null
wait_collector c5
expect_line "$WORK/c5.out" "collector: producers=1 events=3 bytes=192 dropped=0 malformed=0"

# --stats N off a terminal: one plain line per interval on stderr.
start_collector c6 --pipe stats --out "$WORK/g.sluice" --stats 1 --duration 3
wait_collector c6
n=$(grep -c '^collector: events/s=[0-9]* MB/s=[0-9.]* producers=0/0 ring=0% events=0 dropped=0 malformed=0$' "$WORK/c6.err" || true)
[ "$n" -ge 1 ] || fail "no plain stats lines: $(cat "$WORK/c6.err")"
echo "ok"
