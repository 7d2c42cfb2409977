#!/usr/bin/env bash
# Disk errors while producers are sending: the capture file hits the file
# size limit (RLIMIT_FSIZE, `ulimit -f`; SIGXFSZ is ignored so the write
# fails with EFBIG), and, where this machine lets us mount a 4 MiB tmpfs,
# a full disk (ENOSPC). 4 MiB: blocks are up to 1 MiB, so a few whole ones
# fit before the error. Each time the collector prints one clear error
# line, stops by itself without hanging, exits 1, and leaves a file that
# reads back up to its last whole block: `sluice-dump --verify` finds no
# gap and no corrupt block, only an incomplete file (a torn tail or no
# close record), exit 3, never 4.
source "$(dirname "$0")/lib.sh"
N=$(scaled 200000)
mnt=$WORK/small
trap 'umount "$mnt" 2>/dev/null || true; cleanup' EXIT

# run_full LABEL CAPTURE EXPECTED-REASON: four producers fill it up.
run_full() {
  local label=$1 cap=$2 reason=$3 out rc=0 size
  for i in 1 2 3 4; do
    "$PRODUCER" --pipe "$label" --count "$N" --name "p$i" >/dev/null 2>&1 &
  done
  wait_collector "$label" 1
  wait || true
  [ "$(grep -c 'failed' "$WORK/$label.err")" = 1 ] || fail "expected one error line: $(cat "$WORK/$label.err")"
  grep -qxF "sluice-collector: writing $cap failed: $reason; stopping (the file is valid up to the last whole block)" \
    "$WORK/$label.err" || fail "error line: $(cat "$WORK/$label.err")"
  size=$(stat -c %s "$cap")
  [ "$size" -le $(( 4 << 20 )) ] || fail "file is $size bytes, above the 4 MiB limit"
  out=$("$DUMP" "$cap" --verify 2>&1) || rc=$?
  note "$label: $size bytes; $out"
  [ "$rc" = 3 ] || fail "verify exited $rc, expected 3 (incomplete): $out"
  grep -Eq '^verify: producers=[1-4] events=[1-9][0-9]* gaps=0 corrupt_blocks=0 torn_tail_bytes=[0-9]+$' <<<"$out" ||
    fail "verify: $out"
}

for b in $(backends); do
  note "backend $b: RLIMIT_FSIZE 4 MiB"
  cap=$WORK/fsize-$b.sluice
  ulimit -S -f 4096   # KiB: the collector inherits a 4 MiB file size limit
  start_collector "fsize-$b" --pipe "fsize-$b" --out "$cap" --backend "$b"
  ulimit -S -f "$(ulimit -H -f)"
  run_full "fsize-$b" "$cap" "file too large"

  mkdir -p "$mnt"
  if mount -t tmpfs -o size=4m tmpfs "$mnt" 2>/dev/null; then
    note "backend $b: ENOSPC on a 4 MiB tmpfs"
    cap=$mnt/nospc-$b.sluice
    start_collector "nospc-$b" --pipe "nospc-$b" --out "$cap" --backend "$b"
    run_full "nospc-$b" "$cap" "no space left on device"
    umount "$mnt"
  else
    note "cannot mount a tmpfs here (needs root); ENOSPC not tested, RLIMIT_FSIZE only"
  fi
done
echo "ok"
