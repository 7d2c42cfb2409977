#!/usr/bin/env bash
# --compress (issue 11, format v2 section 15.2): a capture written with
# each codec verifies and dumps the same events as an uncompressed one,
# its blocks carry the codec and are smaller; an unknown codec or a bad
# zstd level is a usage error (exit 2) that names the value.
source "$(dirname "$0")/lib.sh"
N=$(scaled 20000)
for c in none lz4 zstd zstd:3; do
  f=$WORK/c-${c/:/_}.sluice
  start_collector "c-$c" --pipe "cmp" --out "$f" --compress "$c" --exit-after 1 --stats 0
  "$PRODUCER" --pipe cmp --count "$N" --size 64 --name p >/dev/null
  wait_collector "c-$c"
  expect_verify "$f" "verify: producers=1 events=$N gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  "$DUMP" "$f" 2>/dev/null | sed 's/pid=[0-9]*//' | awk '{ $1 = ""; $2 = ""; print }' >"$WORK/dump-$c.txt"
done
none=$(stat -c %s "$WORK/c-none.sluice")
for c in lz4 zstd zstd_3; do
  sz=$(stat -c %s "$WORK/c-$c.sluice")
  [ "$sz" -lt "$none" ] || fail "$c: $sz bytes, not less than uncompressed $none"
  # The first block's codec byte (offset 28 of the block header).
  codec=$(python3 - "$WORK/c-$c.sluice" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
off = struct.unpack_from("<I", d, 12)[0]
print(d[off + 28])
PY
)
  want=1; [ "$c" = lz4 ] || want=2
  [ "$codec" = "$want" ] || fail "$c: first block codec $codec, expected $want"
done
for c in lz4 zstd zstd:3; do
  diff "$WORK/dump-none.txt" "$WORK/dump-$c.txt" | head -4 >&2 || true
  cmp -s "$WORK/dump-none.txt" "$WORK/dump-$c.txt" || fail "$c: the dump differs from the uncompressed capture's"
done
for bad in gzip zstd:0 zstd:20 zstd: ; do
  rc=0
  "$COLLECTOR" --pipe cmpbad --out "$WORK/bad.sluice" --compress "$bad" 2>"$WORK/bad.err" || rc=$?
  [ "$rc" = 2 ] || fail "--compress $bad exited $rc, expected 2"
  grep -q -- "--compress" "$WORK/bad.err" || fail "--compress $bad: $(cat "$WORK/bad.err")"
done
echo "ok"
