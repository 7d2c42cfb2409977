#!/usr/bin/env bash
# bench/compare.py works end to end at a tiny size (no timing assertions:
# the figures live in docs/benchmarks.md): the copy and durable limits, the
# naive collector and sluice run, every case is verified for count and
# per-producer order by the comparison's own verifier, and the table has a
# row per case. rsyslog and syslog-ng are left out (bench/compare.sh
# unpacks them from Debian's packages, which a test must not download).
source "$(dirname "$0")/lib.sh"
[ "$(uname -s)" = Linux ] || { echo "skip: bench/compare is Linux only"; exit 77; }
[ -x "$BIN/bench/compare/sl-cmp-copy_reader" ] || fail "compare programs not built"
# The page-cache sluice rows preload nosync.so into the collector, which a
# sanitizer runtime refuses (it must come first); those builds run only the
# synced row.
sanitized=0
# ldd's output is captured first: with pipefail, grep -q closing the pipe
# early could make ldd die of SIGPIPE and the check read "not sanitized".
libs=$(ldd "$COLLECTOR" 2>/dev/null || true)
grep -Eq 'lib(a|t|ub)san' <<<"$libs" && sanitized=1
systems=copy,durable,naive
for b in $(backends); do
  case $b in
    uring) systems=$systems,sluice-uring-sync
           [ "$sanitized" = 1 ] || systems=$systems,sluice-uring ;;
    epoll) [ "$sanitized" = 1 ] || systems=$systems,sluice-epoll ;;
  esac
done
# The shim must export what it replaces (hidden visibility once hid them).
nm -D "$BIN/bench/compare/nosync.so" | grep -q ' T fdatasync$' || fail "nosync.so does not export fdatasync"
out=$(python3 "$SRC/bench/compare.py" --build "$BIN" --peers /nonexistent \
  --dir "$WORK/cmp" --reps 1 --scale 0.002 --only "$systems" 2>"$WORK/err") ||
  { cat "$WORK/err" >&2; fail "compare.py failed"; }
rows=$(grep -c '^| \(64\|256\) | ' <<<"$out")
want=$(( 6 * $(tr ',' '\n' <<<"$systems" | wc -l) ))
[ "$rows" = "$want" ] || fail "expected $want rows, got $rows: $out"
grep -q '^| 64 | 4 | copy limit | ' <<<"$out" || fail "no copy limit row: $out"
# The verifier catches a lost event and a reordered one.
V=$BIN/bench/compare/sl-cmp-verify
printf 'x p=0000 s=0000000000 a\nx p=0000 s=0000000001 a\n' >"$WORK/ok.txt"
"$V" lines "$WORK/ok.txt" 1 2 >/dev/null || fail "verify rejected a good file"
printf 'x p=0000 s=0000000001 a\nx p=0000 s=0000000000 a\n' >"$WORK/bad.txt"
rc=0; "$V" lines "$WORK/bad.txt" 1 2 >/dev/null || rc=$?
[ "$rc" = 1 ] || fail "verify accepted reordered lines"
rc=0; "$V" lines "$WORK/ok.txt" 1 3 >/dev/null || rc=$?
[ "$rc" = 1 ] || fail "verify accepted a missing line"
echo "ok"
