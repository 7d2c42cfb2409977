#!/usr/bin/env bash
# Inner loop: native build, unit tests and the end-to-end smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
ctest --test-dir build --output-on-failure -j 2 -L unit
ctest --test-dir build --output-on-failure -R 'e2e/test_smoke'
