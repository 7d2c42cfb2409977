#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ in build-fuzz/ (clang,
# ASan+UBSan) and runs each for SECONDS (default 60) on a scratch copy of
# its seed corpus, so the repository is never modified. Exit status 0 only
# if no target reported a crash, a leak, undefined behaviour, a timeout or
# running out of memory; a failing input is kept in build-fuzz/artifacts/.
# Usage: scripts/fuzz.sh [SECONDS]
# SLUICE_FUZZ_PARALLEL=0 runs the targets one after the other (default: at
# the same time when the machine has two or more cores).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
targets=(wire capture)

# Debian's clang brings the compiler; libFuzzer and the sanitizer runtimes
# are in libclang-rt-N-dev, which clang only recommends (and deps.sh
# installs without recommends), so check by linking a fuzzer.
bash scripts/deps.sh clang
probe_dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz-probe.XXXXXX")
trap 'rm -rf "$probe_dir"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
  >"$probe_dir/probe.c"
probe() { clang -fsanitize=fuzzer,address,undefined "$probe_dir/probe.c" -o "$probe_dir/probe" 2>"$probe_dir/err"; }
if ! probe; then
  major=$(clang -dumpversion | cut -d. -f1)
  echo "fuzz: clang cannot link libFuzzer; installing libclang-rt-$major-dev" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "libclang-rt-$major-dev" >/dev/null
  probe || { cat "$probe_dir/err" >&2; echo "fuzz: still no libFuzzer runtime" >&2; exit 1; }
fi
# libFuzzer finds leaks through LeakSanitizer; make sure it can run here.
leaks=$(bash scripts/lsan-check.sh clang)

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSLUICE_FUZZ=ON -DSLUICE_SANITIZE="address;undefined" -DSLUICE_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")
trap 'rm -rf "$probe_dir" "$scratch"' EXIT
mkdir -p build-fuzz/artifacts

run_target() {
  local t=$1 dir=$scratch/$1
  cp -r "tests/fuzz/corpus/$t" "$dir"
  # -fno-sanitize-recover makes any UBSan finding fatal; libFuzzer turns
  # every sanitizer report, leak, timeout or OOM into a non-zero exit.
  ASAN_OPTIONS="$leaks:abort_on_error=1:symbolize=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  TMPDIR=$scratch \
    "build-fuzz/tests/fuzz/fuzz_$t" "$dir" \
      -dict="tests/fuzz/$t.dict" -max_total_time="$secs" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$scratch/$t-" \
      >"$scratch/$t.log" 2>&1
}

summary() {
  local t=$1 rc=$2 log=$scratch/$1.log execs cov seeds corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  seeds=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
  corp=$(find "$scratch/$t" -type f | wc -l)
  printf 'fuzz_%s: %s s, %s execs, %s, corpus %s -> %s: %s\n' "$t" "$secs" \
    "${execs:-?}" "${cov:-cov: ?}" "$seeds" "$corp" "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)"
}

declare -A rcs
if [ "${SLUICE_FUZZ_PARALLEL:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  declare -A pids
  for t in "${targets[@]}"; do run_target "$t" & pids[$t]=$!; done
  for t in "${targets[@]}"; do rc=0; wait "${pids[$t]}" || rc=$?; rcs[$t]=$rc; done
else
  for t in "${targets[@]}"; do rc=0; run_target "$t" || rc=$?; rcs[$t]=$rc; done
fi

status=0
for t in "${targets[@]}"; do
  summary "$t" "${rcs[$t]}"
  if [ "${rcs[$t]}" -ne 0 ]; then
    status=1
    echo "--- fuzz_$t log (last 60 lines):" >&2
    grep -v '# Uses:' "$scratch/$t.log" | tail -60 >&2
    for a in "$scratch/$t"-*; do
      [ -e "$a" ] || continue
      cp "$a" build-fuzz/artifacts/
      echo "fuzz: input kept: build-fuzz/artifacts/$(basename "$a")" \
        "(reproduce: build-fuzz/tests/fuzz/fuzz_$t build-fuzz/artifacts/$(basename "$a"))" >&2
    done
  fi
done
exit $status
