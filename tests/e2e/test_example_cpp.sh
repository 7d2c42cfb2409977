#!/usr/bin/env bash
# examples/cpp with include/sluice/trace.hpp: built with g++ and with
# clang++ (-std=c++11 -Wall -Wextra -Werror -pedantic), each run against a
# real collector; the capture, dumped as a Perfetto trace and decoded by
# python3-protobuf (tests/e2e/perfetto/perfetto_decode.py), holds for
# every request one handle_request slice with parse, two queries (the
# second with a nested cache lookup) and render inside it, in that order,
# and nothing unbalanced. A missing collector makes the constructor throw
# (exit 1 with the reason), and a usage error exits 2.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
cache=$BIN/CMakeCache.txt
san=$(sed -n 's/^SLUICE_SANITIZE:[A-Z]*=//p' "$cache")
SANFLAGS=""
[ -n "$san" ] && SANFLAGS="-fsanitize=${san//;/,} -fno-omit-frame-pointer"
lib=$BIN/producer
[ -e "$lib/libsluice-producer.so" ] || fail "no libsluice-producer.so in $lib"
n=$(scaled 200)
compilers="g++ clang++"
if [ -n "$san" ]; then
  # A sanitizer build's library carries its compiler's sanitizer runtime
  # (gcc's libasan, or clang's); a program built by the other compiler
  # brings another one, and the two cannot share a process. The plain
  # build runs both compilers.
  CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
  case "$("${CC:-cc}" --version 2>/dev/null | head -1)" in
    *clang*) compilers=clang++ ;;
    *) compilers=g++ ;;
  esac
  note "sanitizer build ($san): only $compilers, the library's compiler"
fi
for cxx in $compilers; do
  command -v "$cxx" >/dev/null || fail "$cxx is missing (scripts/deps.sh installs g++ and clang)"
  note "$cxx"
  # shellcheck disable=SC2086
  "$cxx" -std=c++11 -Wall -Wextra -Werror -pedantic $SANFLAGS -I"$SRC/include" \
    "$SRC/examples/cpp/traced_server.cpp" -L"$lib" -lsluice-producer -Wl,-rpath,"$lib" \
    -o "$WORK/ts-$cxx" 2>"$WORK/$cxx.log" || { cat "$WORK/$cxx.log" >&2; fail "$cxx failed"; }
  cap=$WORK/$cxx.sluice
  start_collector "$cxx" --pipe "cpp$cxx" --out "$cap" --exit-after 1
  "$WORK/ts-$cxx" "cpp$cxx" "$n" >"$WORK/ts-$cxx.out" || fail "traced_server ($cxx) failed"
  wait_collector "$cxx"
  expect_line "$WORK/ts-$cxx.out" "cpp: id=1 requests=$n events=$((n * 12))"
  expect_verify "$cap" "verify: producers=1 events=$((n * 12)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  "$DUMP" "$cap" --format perfetto >"$WORK/$cxx.pftrace"
  "$PY" "$SRC/tests/e2e/perfetto/perfetto_decode.py" "$WORK/$cxx.pftrace" >"$WORK/$cxx.dec" ||
    fail "the trace does not decode"
  "$PY" - "$WORK/$cxx.dec" "$n" <<'PY' || fail "the trace's slices ($cxx)"
import json, sys
dec = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
ev = [r for r in dec if r["kind"] == "event" and r["cat"] == "slice"]
# Rebuild the slice tree from begin/end: (name, [children]).
root, stack, last = [], [], 0
for r in ev:
    if r["ts"] < last:
        sys.exit("time goes backwards at %r" % r)
    last = r["ts"]
    if r["type"] == "SLICE_BEGIN":
        node = (r["name"], [], r["ts"])
        (stack[-1][1] if stack else root).append(node)
        stack.append(node)
    elif r["type"] == "SLICE_END":
        if not stack:
            sys.exit("an end without a begin")
        stack.pop()
if stack:
    sys.exit("%d slices left open" % len(stack))
def shape(node):
    return [node[0], [shape(c) for c in node[1]]]
if len(root) != n:
    sys.exit("%d top-level slices, want %d" % (len(root), n))
for i, req in enumerate(root):
    want = ["handle_request", [["parse", []], ["query table %d" % (i % 4), []],
                               ["query table 7", [["cache lookup", []]]], ["render", []]]]
    if shape(req) != want:
        sys.exit("request %d: %r" % (i, shape(req)))
if any(r["kind"] == "event" and (r["name"] or "").startswith("end without begin") for r in dec):
    sys.exit("an unmatched end")
PY
  "$DUMP" "$cap" --format chrome >"$WORK/$cxx.json"
  pf=$(stat -c %s "$WORK/$cxx.pftrace") ch=$(stat -c %s "$WORK/$cxx.json")
  note "slices: perfetto $pf bytes, chrome $ch bytes"
  [ $((pf * 7)) -le $((ch * 2)) ] || fail "the slice trace ($pf bytes) is not 3.5 times smaller than chrome's ($ch)"
done

note "no collector: the constructor throws, the program says why"
rc=0
"$WORK/ts-${compilers%% *}" nobody 1 2>"$WORK/none.err" || rc=$?
[ "$rc" = 1 ] || fail "traced_server without a collector exited $rc, not 1"
grep -q "^traced_server: cannot connect to sluice pipe nobody: " "$WORK/none.err" ||
  fail "no reason: $(cat "$WORK/none.err")"
rc=0
"$WORK/ts-${compilers%% *}" a b c 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "a usage error exited $rc, not 2"
echo "ok"
