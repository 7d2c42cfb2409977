#!/usr/bin/env bash
# examples/csharp: a C# NamedPipeClientStream producer reaches the collector
# unchanged, because on Linux both .NET and Mono open pipe NAME as the Unix
# socket $TMPDIR/CoreFxPipe_NAME, where sluice-collector --pipe NAME
# listens (lib.sh points TMPDIR at this test's own directory, so the
# connection itself proves the path). Built with `dotnet build` where a
# .NET SDK exists, else with Mono's mcs and run with mono (Debian's
# mono-mcs and mono-runtime, which scripts/deps.sh installs). Runs it
# with PipeDirection.InOut (reads the greeting: ids 1 and 2) and
# PipeDirection.Out (write-only, cannot read it), then checks the capture.
source "$(dirname "$0")/lib.sh"
cp -r "$SRC/examples/csharp" "$WORK/csharp"   # built from a copy: no obj/ or bin/ in the tree
if command -v dotnet >/dev/null 2>&1; then
  note "dotnet build examples/csharp ($(dotnet --version))"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
  dotnet build "$WORK/csharp/SluiceProducer.csproj" -c Release -o "$WORK/cs" >"$WORK/cs-build.log" 2>&1 ||
    { cat "$WORK/cs-build.log" >&2; fail "dotnet build failed"; }
  run_cs() { dotnet "$WORK/cs/SluiceProducer.dll" "$@"; }
else
  command -v mcs >/dev/null && command -v mono >/dev/null ||
    fail "neither dotnet nor mcs+mono (scripts/deps.sh installs mono-mcs and mono-runtime)"
  note "mcs examples/csharp/Program.cs ($(mono --version | head -1))"
  mcs -warnaserror -out:"$WORK/SluiceProducer.exe" "$WORK/csharp/Program.cs" >"$WORK/cs-build.log" 2>&1 ||
    { cat "$WORK/cs-build.log" >&2; fail "mcs failed"; }
  run_cs() { mono "$WORK/SluiceProducer.exe" "$@"; }
fi

cap=$WORK/cs.sluice
start_collector cs --pipe cs --out "$cap" --exit-after 3
n1=$(scaled 20000) n2=$(scaled 3000) n3=$(scaled 5000)
run_cs cs "$n1" >"$WORK/cs1.out" || fail "C# producer 1 (InOut) failed"
run_cs cs "$n2" inout >"$WORK/cs2.out" || fail "C# producer 2 (InOut) failed"
run_cs cs "$n3" out >"$WORK/cs3.out" || fail "C# producer 3 (Out) failed"
expect_line "$WORK/cs1.out" "csharp: id=1 lines=$n1"
expect_line "$WORK/cs2.out" "csharp: id=2 lines=$n2"
expect_line "$WORK/cs3.out" "csharp: id=? lines=$n3"
wait_collector cs
expect_verify "$cap" "verify: producers=3 events=$((n1 + n2 + n3)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
"$DUMP" "$cap" --producer 1 | grep -q "csharp event $((n1 - 1))\$" || fail "the first producer's last line is missing"
"$DUMP" "$cap" --producer 3 | grep -q "csharp event $((n3 - 1))\$" || fail "the write-only producer's last line is missing"
"$DUMP" "$cap" --format jsonl | grep '"kind":"connect"' | grep -c '"mode":"text"' | grep -qx 3 ||
  fail "not three text-mode connections"

note "usage errors exit 2"
rc=0; run_cs cs 10 sideways 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "a bad direction exited $rc, not 2"
echo "ok"
