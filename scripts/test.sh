#!/usr/bin/env bash
# Every test: native unit + end-to-end (io_uring and epoll), the same under
# AddressSanitizer+UBSan and under ThreadSanitizer, and the Windows build
# under Wine. Installs what is missing first. Exit status 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh clang
start=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - start ))s)"; }

step "native build and tests"
bash scripts/build.sh build
ctest --test-dir build --output-on-failure -j 2

step "AddressSanitizer + UBSan build and tests"
bash scripts/build.sh build-asan -DSLUICE_SANITIZE="address;undefined" -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  SL_TEST_SCALE=4 ctest --test-dir build-asan --output-on-failure -j 2

step "ThreadSanitizer build and tests"
bash scripts/build.sh build-tsan -DSLUICE_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  SL_TEST_SCALE=8 ctest --test-dir build-tsan --output-on-failure -j 2

if [ -f scripts/test-windows.sh ]; then
  step "Windows build under Wine"
  bash scripts/test-windows.sh
fi
step "all tests passed"
