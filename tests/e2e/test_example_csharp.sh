#!/usr/bin/env bash
# examples/csharp: a .NET NamedPipeClientStream producer reaches the collector
# unchanged, because on Linux .NET opens pipe NAME as the Unix socket
# $TMPDIR/CoreFxPipe_NAME, where sluice-collector --pipe NAME listens.
# Needs a .NET SDK (`dotnet`); without one this test is skipped (exit 77),
# visibly, and the other examples still run in test_examples.sh.
source "$(dirname "$0")/lib.sh"
if ! command -v dotnet >/dev/null 2>&1; then
  echo "skipped: no dotnet (install a .NET SDK to build and run examples/csharp)"
  exit 77
fi

note "dotnet build examples/csharp ($(dotnet --version))"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Built from a copy, so the source tree gets no obj/ or bin/.
cp -r "$SRC/examples/csharp" "$WORK/csharp"
dotnet build "$WORK/csharp/SluiceProducer.csproj" -c Release -o "$WORK/cs" >"$WORK/cs-build.log" 2>&1 ||
  { cat "$WORK/cs-build.log" >&2; fail "dotnet build failed"; }

cap=$WORK/cs.sluice
start_collector cs --pipe cs --out "$cap" --exit-after 2
n1=$(scaled 20000) n2=$(scaled 3000)
dotnet "$WORK/cs/SluiceProducer.dll" cs "$n1" >"$WORK/cs1.out" || fail "C# producer 1 failed"
dotnet "$WORK/cs/SluiceProducer.dll" cs "$n2" >"$WORK/cs2.out" || fail "C# producer 2 failed"
expect_line "$WORK/cs1.out" "csharp: id=1 lines=$n1"
expect_line "$WORK/cs2.out" "csharp: id=2 lines=$n2"
wait_collector cs
expect_verify "$cap" "verify: producers=2 events=$((n1 + n2)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
"$DUMP" "$cap" | grep -q "csharp event $((n1 - 1))\$" || fail "the first producer's last line is missing"
echo "ok"
