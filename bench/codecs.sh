#!/usr/bin/env bash
# bench/codecs.sh: bytes on disk per event and msgs/s for format 1 and for
# format 2 with --compress none, lz4, zstd:1 and zstd:3, on the synthetic,
# profiler and log workloads, page cache and behind a 200 MB/s writer, in
# one run; writes the tables into docs/benchmarks.md ("Compression").
# About 3 minutes on a 2-core machine (bench/codecs.py's docstring lists
# the cases).
#
#   bench/codecs.sh [--reps N] [--count N] [--log FILE] [--no-doc] ...
#
# BUILD (default build) is this tree's build directory; it is configured
# RelWithDebInfo and built first. The format-1 reference is the commit
# before format 2 was merged (V1_COMMIT, 9b5a72c), exported with git
# archive into $BUILD/codecs-v1/src and built there (only the four
# programs sluice-bench needs); V1_BUILD=DIR uses a build of your own.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
V1_COMMIT=${V1_COMMIT:-9b5a72c}
doc=(--doc docs/benchmarks.md)
args=()
for a in "$@"; do
  if [ "$a" = "--no-doc" ]; then doc=(); else args+=("$a"); fi
done

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null

prefix=${V1_BUILD:+V1_BUILD=$V1_BUILD }
if [ -z "${V1_BUILD:-}" ]; then
  V1_BUILD=$BUILD/codecs-v1/build
  src=$BUILD/codecs-v1/src
  if [ ! -x "$V1_BUILD/bench/sluice-bench" ]; then
    rm -rf "$src" && mkdir -p "$src"
    git archive "$V1_COMMIT" | tar -x -C "$src"
    cmake -S "$src" -B "$V1_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$V1_BUILD" -j "$(nproc)" --target sluice-collector \
      sluice-producer sluice-bench sluice-dump >/dev/null
  fi
fi

echo "codecs: load average now: $(cut -d' ' -f1-3 /proc/loadavg) (figures are noisy above ~1.5)" >&2
exec python3 bench/codecs.py --build "$BUILD" --v1-build "$V1_BUILD" \
  --command "${prefix}bench/codecs.sh${1+$(printf " %q" "$@")}" "${doc[@]}" "${args[@]}"
