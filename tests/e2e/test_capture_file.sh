#!/usr/bin/env bash
# The capture file (issue 10): created 0600; locked while written, so a
# second collector on it (even with --force) refuses and leaves it intact;
# a symlink at --out is replaced with --force, never written through.
source "$(dirname "$0")/lib.sh"

cap=$WORK/cf.sluice
start_collector cf --pipe cf --out "$cap"
mode=$(stat -c %a "$cap")
[ "$mode" = 600 ] || fail "capture created $mode, want 600"

printf 'one\ntwo\n' | python3 "$CLIENTS/text_client.py" "$WORK/CoreFxPipe_cf" >/dev/null 2>&1 || true
size=$(stat -c %s "$cap")
rc=0
"$COLLECTOR" --pipe cf2 --out "$cap" --force --duration 1 >"$WORK/cf2.out" 2>"$WORK/cf2.err" || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/cf2.err" >&2; fail "second collector on a live capture exited $rc, want 1"; }
grep -q "being written by another running collector" "$WORK/cf2.err" ||
  { cat "$WORK/cf2.err" >&2; fail "no clear refusal"; }
[ "$(stat -c %s "$cap")" -ge "$size" ] || fail "the live capture was truncated"
kill -TERM "$CPID"
wait_collector cf
"$DUMP" "$cap" --verify >"$WORK/cf.verify" || { cat "$WORK/cf.verify" >&2; fail "verify of the first capture failed"; }

# A symlink at --out: refused without --force, replaced (not followed) with it.
echo precious >"$WORK/target"
ln -s "$WORK/target" "$WORK/link.sluice"
rc=0
"$COLLECTOR" --pipe cf3 --out "$WORK/link.sluice" --duration 1 >/dev/null 2>"$WORK/cf3.err" || rc=$?
[ "$rc" = 1 ] || fail "symlink at --out without --force: exit $rc, want 1"
"$COLLECTOR" --pipe cf4 --out "$WORK/link.sluice" --force --duration 1 >/dev/null 2>"$WORK/cf4.err" ||
  { cat "$WORK/cf4.err" >&2; fail "--force over a symlink failed"; }
[ "$(cat "$WORK/target")" = precious ] || fail "--force wrote through the symlink"
[ ! -L "$WORK/link.sluice" ] && [ -f "$WORK/link.sluice" ] || fail "the symlink was not replaced by a file"
"$DUMP" "$WORK/link.sluice" --verify >/dev/null || fail "the replacing capture does not verify"
echo ok
