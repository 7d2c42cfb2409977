#!/usr/bin/env bash
# The capture file (issue 10): created 0600 (0640 with --group); locked
# while it is written, so a second collector on the same file refuses with
# a message naming the file and the holder, even with --force, and never
# truncates it; a symlink at --out is never followed (with --force the
# link is replaced, its target untouched); a FIFO or socket at --out is
# refused before the pipe is bound (no hang, no client left waiting);
# /dev/null works as a sink to the end; sluice-dump --follow (and
# sluice_capture_writer_alive()) tells a live writer from a dead one.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
mode() { stat -c %a "$1"; }

note "mode 0600, 0640 with --group"
start_collector m --pipe m --out m.sluice
[ "$(mode m.sluice)" = 600 ] || fail "capture mode $(mode m.sluice), want 600"
kill -TERM "$CPID"; wait_collector m
[ "$(mode m.sluice)" = 600 ] || fail "capture mode after the stop $(mode m.sluice)"
umask 000
grp=$(id -gn)
start_collector g --pipe g --out g.sluice --group "$grp"
[ "$(mode g.sluice)" = 640 ] || fail "capture mode with --group $(mode g.sluice), want 640"
kill -TERM "$CPID"; wait_collector g
# --force over an existing world-readable file: it becomes 0600 too.
echo old >w.sluice; chmod 644 w.sluice
start_collector w --pipe w --out w.sluice --force
[ "$(mode w.sluice)" = 600 ] || fail "forced capture mode $(mode w.sluice), want 600"
kill -TERM "$CPID"; wait_collector w
umask 022

note "a second collector on a live capture refuses, even with --force"
start_collector l1 --pipe l1 --out live.sluice
python3 "$CLIENTS/text_client.py" "$WORK/CoreFxPipe_l1" --lines 100 >/dev/null
LIVE=$CPID
before=$(stat -c %s live.sluice)
rc=0; "$COLLECTOR" --pipe l2 --out live.sluice --force --duration 1 >l2.out 2>l2.err || rc=$?
[ "$rc" = 1 ] || fail "second collector exited $rc, want 1"
grep -q "live.sluice is being written by another collector (pid $LIVE); refusing to touch it, even with --force" l2.err ||
  { cat l2.err >&2; fail "second collector's message"; }
[ ! -e "$WORK/CoreFxPipe_l2" ] || fail "the refused collector bound its pipe"
[ "$(stat -c %s live.sluice)" -ge "$before" ] || fail "the live capture was truncated"
kill -TERM "$LIVE"; wait_collector l1
expect_verify live.sluice "verify: producers=1 events=100 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

note "a symlink at --out is never followed"
echo precious >target.txt
ln -s target.txt link.sluice
rc=0; "$COLLECTOR" --pipe s1 --out link.sluice --duration 1 >/dev/null 2>s1.err || rc=$?
[ "$rc" = 1 ] && grep -q "already exists" s1.err || fail "a link without --force should be refused"
start_collector s2 --pipe s2 --out link.sluice --force
kill -TERM "$CPID"; wait_collector s2
[ "$(cat target.txt)" = precious ] || fail "the link's target was written"
[ ! -L link.sluice ] && [ -f link.sluice ] || fail "the link was not replaced by a file"
expect_verify link.sluice "verify: producers=0 events=0 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

note "a FIFO or a socket at --out is refused before the pipe is bound"
mkfifo fifo.sluice
rc=0; timeout 20 "$COLLECTOR" --pipe f --out fifo.sluice --force >/dev/null 2>f.err || rc=$?
[ "$rc" = 1 ] || fail "FIFO --out exited $rc (124 = hung), want 1"
grep -q "fifo.sluice is not a regular file" f.err || { cat f.err >&2; fail "FIFO message"; }
[ ! -e "$WORK/CoreFxPipe_f" ] || fail "the pipe was bound before the output was checked"
# A FIFO with a reader waiting: still refused, never written.
( cat fifo.sluice >fifo.read ) & reader=$!
rc=0; timeout 20 "$COLLECTOR" --pipe f2 --out fifo.sluice --force >/dev/null 2>f2.err || rc=$?
[ "$rc" = 1 ] || fail "FIFO with a reader exited $rc, want 1"
kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true
[ ! -s fifo.read ] || fail "the collector wrote into the FIFO"
python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('$WORK/sock.sluice')"
rc=0; "$COLLECTOR" --pipe k --out sock.sluice --force --duration 1 >/dev/null 2>k.err || rc=$?
[ "$rc" = 1 ] && grep -q "sock.sluice is not a regular file" k.err || { cat k.err >&2; fail "socket --out"; }

note "/dev/null is a sink, to the end"
start_collector n --pipe n --out /dev/null --force
python3 "$CLIENTS/text_client.py" "$WORK/CoreFxPipe_n" --lines 1000 >/dev/null
kill -TERM "$CPID"; wait_collector n
grep -q '^collector: producers=1 events=1000 ' n.out || fail "/dev/null summary"
! grep -qi "invalid argument\|failed" n.err || { cat n.err >&2; fail "/dev/null: an error at the end"; }

note "sluice-dump --follow stops after the writer crashed"
start_collector cr --pipe cr --out crash.sluice
python3 "$CLIENTS/text_client.py" "$WORK/CoreFxPipe_cr" --lines 10 >/dev/null
"$DUMP" crash.sluice --follow >follow.out 2>follow.err & follower=$!
for _ in $(seq 1 200); do [ "$(grep -c . follow.out)" -ge 1 ] && break; sleep 0.05; done
kill -KILL "$CPID"; wait "$CPID" 2>/dev/null || true
rc=0
for _ in $(seq 1 200); do kill -0 "$follower" 2>/dev/null || break; sleep 0.1; done
kill -0 "$follower" 2>/dev/null && { kill "$follower"; fail "--follow still waits after the collector was killed"; }
wait "$follower" || rc=$?
[ "$rc" = 3 ] || fail "--follow after a crash exited $rc, want 3 (incomplete)"
grep -q "crash.sluice: no collector is writing it any more and it has no close record" follow.err ||
  { cat follow.err >&2; fail "--follow's message after a crash"; }
# While a collector lives, --follow keeps waiting (and ends at the close).
start_collector fl --pipe fl --out fl.sluice
"$DUMP" fl.sluice --follow >fl.out 2>fl.err & follower=$!
sleep 1
kill -0 "$follower" 2>/dev/null || { cat fl.err >&2; fail "--follow gave up on a live collector"; }
kill -TERM "$CPID"; wait_collector fl
wait "$follower" || fail "--follow of a clean stop should exit 0"
echo ok
