#!/usr/bin/env bash
# The main job, end to end: installs what is missing, builds, starts a
# collector, attaches 4 producers (3 binary library producers and 1 text
# client), verifies the capture and dumps its first lines.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
bin=build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pipe="$work/demo.sock"   # a NAME with '/' is used as the socket path
cap="$work/demo.sluice"

"$bin/collector/sluice-collector" --pipe "$pipe" --out "$cap" --exit-after 4 &
cpid=$!
for i in 1 2 3; do
  "$bin/producer/sluice-producer" --pipe "$pipe" --count 100000 --size 64 --name "demo-$i" &
done
printf 'hello from a text client\nsecond line\n' | "$bin/producer/sluice-producer" --pipe "$pipe" --stdin --text --name demo-text
wait "$cpid"
wait
echo "--- verify"
"$bin/collector/sluice-dump" "$cap" --verify
echo "--- first lines"
# head exits after 12 lines; sluice-dump then ends by SIGPIPE (141), which
# is how a reader that stops early ends a Unix pipeline, not a failure.
{ "$bin/collector/sluice-dump" "$cap" || [ $? -eq 141 ]; } | head -n 12
