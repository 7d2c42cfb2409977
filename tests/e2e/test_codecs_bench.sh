#!/usr/bin/env bash
# bench/codecs.py works end to end at a tiny size (no timing assertions:
# the figures live in docs/benchmarks.md, "Compression"): every codec on
# every workload runs through sluice-bench (which verifies each capture),
# page cache and behind the test-only write throttle; the tables have one
# row per case, compressed rows store fewer bytes per event than "none" on
# the profiler stream; --doc replaces only the part between its markers.
# The format-1 row needs a second build (bench/codecs.sh makes one), so it
# is left out here.
source "$(dirname "$0")/lib.sh"
[ "$(uname -s)" = Linux ] || { echo "skip: bench/codecs is Linux only"; exit 77; }
[ -f "$BIN/bench/compare/nosync.so" ] || fail "nosync.so not built"
libs=$(ldd "$COLLECTOR" 2>/dev/null || true)
if grep -Eq 'lib(a|t|ub)san' <<<"$libs"; then
  echo "skip: nosync.so cannot be preloaded into a sanitized collector"; exit 77
fi
for c in lz4 zstd:1; do
  "$COLLECTOR" --compress "$c" --help >/dev/null 2>&1 || { echo "skip: no $c in this build"; exit 77; }
done
printf 'Jan  1 00:00:01 host kernel: one\nJan  1 00:00:02 host sshd[1]: two\n' >"$WORK/mini.log"
printf 'before\n<!-- codecs:begin -->\nold\n<!-- codecs:end -->\nafter\n' >"$WORK/doc.md"
out=$(python3 "$SRC/bench/codecs.py" --build "$BIN" --reps 1 --count "$(scaled 2000)" \
  --log "$WORK/mini.log" --dir "$WORK" --doc "$WORK/doc.md" 2>"$WORK/err") ||
  { cat "$WORK/err" >&2; fail "codecs.py failed"; }
for w in synthetic profiler log; do
  for c in none lz4 zstd:1 zstd:3; do
    [ "$(grep -Ec "^\| $w \| $c \| [0-9.]+ \| [0-9.]+ \| [0-9.]+M \| [0-9.]+ \| [0-9.]+ \|$" <<<"$out")" = 1 ] ||
      fail "no page-cache row for $w $c: $out"
  done
done
for w in synthetic profiler; do
  for c in none lz4 zstd:1 zstd:3; do
    [ "$(grep -Ec "^\| $w \| $c \| [0-9.]+ \| [0-9.]+M \| [0-9.]+ \| [0-9.]+ \|$" <<<"$out")" = 1 ] ||
      fail "no throttled row for $w $c: $out"
  done
done
grep -q 'SLUICE_TEST_WRITE_MBPS=200' <<<"$out" || fail "throttle not named: $out"
# Compression must show: the profiler stream's zstd:1 row is smaller than none.
none=$(sed -n 's/^| profiler | none | \([0-9.]*\) | .*/\1/p' <<<"$out" | head -1)
z1=$(sed -n 's/^| profiler | zstd:1 | \([0-9.]*\) | .*/\1/p' <<<"$out" | head -1)
awk -v a="$z1" -v b="$none" 'BEGIN { exit !(a < b) }' || fail "zstd:1 $z1 not below none $none bytes/event"
head -2 "$WORK/doc.md" | grep -q '^<!-- codecs:begin -->$' || fail "doc: text before the markers changed"
grep -q '^old$' "$WORK/doc.md" && fail "doc: old table kept"
tail -2 "$WORK/doc.md" | tr '\n' ' ' | grep -q '^<!-- codecs:end --> after $' || fail "doc: text after the markers changed"
grep -q '^| profiler | zstd:1 | ' "$WORK/doc.md" || fail "doc: no table"
rc=0; python3 "$SRC/bench/codecs.py" --build "$BIN" --workloads nope >/dev/null 2>"$WORK/e" || rc=$?
[ "$rc" = 1 ] && grep -q "unknown workload 'nope'" "$WORK/e" || fail "bad workload: rc $rc $(cat "$WORK/e")"
echo "ok"
