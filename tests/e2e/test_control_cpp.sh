#!/usr/bin/env bash
# issue 12 from C++: a program built with g++ and clang++ (-std=c++11
# -Wall -Wextra -Werror -pedantic) against include/sluice/producer.h calls
# sluice_producer_enabled() and sluice_producer_config_get() on a real
# collector started with --config mode=fast --disable 5: type 4 enabled,
# type 5 disabled, its emit filtered (counted, no sequence number), and the
# capture verifies with the one type-4 event.
source "$(dirname "$0")/lib.sh"
cache=$BIN/CMakeCache.txt
san=$(sed -n 's/^SLUICE_SANITIZE:[A-Z]*=//p' "$cache")
SANFLAGS=""
[ -n "$san" ] && SANFLAGS="-fsanitize=${san//;/,} -fno-omit-frame-pointer"
lib=$BIN/producer
[ -e "$lib/libsluice-producer.so" ] || fail "no libsluice-producer.so in $lib"
compilers="g++ clang++"
[ -n "$san" ] && compilers=g++
for cxx in $compilers; do
  command -v "$cxx" >/dev/null || fail "$cxx is missing (scripts/deps.sh installs g++ and clang)"
  note "$cxx"
  # shellcheck disable=SC2086
  "$cxx" -std=c++11 -Wall -Wextra -Werror -pedantic $SANFLAGS -I"$SRC/include" \
    "$SRC/tests/e2e/ctl/ctl_enabled.cpp" -L"$lib" -lsluice-producer -Wl,-rpath,"$lib" \
    -o "$WORK/ce-$cxx" 2>"$WORK/$cxx.log" || { cat "$WORK/$cxx.log" >&2; fail "$cxx failed"; }
  cap=$WORK/$cxx.sluice
  start_collector "$cxx" --pipe "ce$cxx" --out "$cap" --exit-after 1 \
    --config mode=fast --disable 5
  "$WORK/ce-$cxx" "ce$cxx" >"$WORK/ce-$cxx.out" || fail "ctl_enabled ($cxx) failed"
  wait_collector "$cxx"
  expect_line "$WORK/ce-$cxx.out" "enabled4=1 enabled5=0 mode=fast filtered=1 events=1"
  expect_verify "$cap" "verify: producers=1 events=1 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
done
note "PASS"
