#!/usr/bin/env bash
# The examples in examples/ that need no build run against a real collector:
# examples/node/producer.js (Node's net module, text lines) and
# examples/python/{text_lines,binary_frames}.py (plain socket; text lines and
# the binary framing of docs/protocol.md). examples/c runs in
# test_install.sh (it is built against the installed tree) and
# examples/csharp in test_example_csharp.sh (only where dotnet exists).
#  1. All three at once: each prints its summary, the capture verifies with
#     exact counts, and every producer's events, types and mode are right.
#  2. The collector stops while node and the text script are still writing:
#     both notice (EPIPE/ECONNRESET), say so and exit 1, and the capture
#     holds whole streams up to the stop with no gap.
source "$(dirname "$0")/lib.sh"
EX=$SRC/examples
command -v node >/dev/null || fail "node is missing (scripts/deps.sh installs nodejs)"

note "node, python text and python binary examples against one collector"
cap=$WORK/ex.sluice
start_collector ex --pipe ex --out "$cap" --exit-after 3
nn=$(scaled 30000) nt=$(scaled 20000) nb=$(scaled 10001)
node "$EX/node/producer.js" ex "$nn" >"$WORK/node.out" 2>"$WORK/node.err" &
p1=$!
python3 "$EX/python/text_lines.py" ex "$nt" >"$WORK/pyt.out" 2>"$WORK/pyt.err" &
p2=$!
python3 "$EX/python/binary_frames.py" ex "$nb" >"$WORK/pyb.out" 2>"$WORK/pyb.err" &
p3=$!
for p in "$p1:node" "$p2:pyt" "$p3:pyb"; do
  wait "${p%%:*}" || { cat "$WORK/${p#*:}.err" >&2; fail "example ${p#*:} exited non-zero"; }
done
wait_collector ex
total=$((nn + nt + nb))
grep -qE "^node: id=[1-3] lines=$nn$" "$WORK/node.out" || { cat "$WORK/node.out" >&2; fail "node summary"; }
grep -qE "^python-text: id=[1-3] lines=$nt$" "$WORK/pyt.out" || { cat "$WORK/pyt.out" >&2; fail "python-text summary"; }
grep -qE "^python-binary: id=[1-3] events=$nb bytes=[0-9]+$" "$WORK/pyb.out" || { cat "$WORK/pyb.out" >&2; fail "python-binary summary"; }
expect_line "$WORK/ex.out" "$(grep '^collector:' "$WORK/ex.out" | grep "producers=3 events=$total .* dropped=0 malformed=0$")"
expect_verify "$cap" "verify: producers=3 events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

# Per producer (by the id each example printed): mode, event count, types,
# first and last payload.
"$DUMP" "$cap" --format jsonl >"$WORK/ex.jsonl"
id_of() { sed -n 's/.* id=\([0-9]*\) .*/\1/p' "$1"; }
python3 - "$WORK/ex.jsonl" \
  "$(id_of "$WORK/node.out")" text "$nn" "0:$nn" "node event 0" "node event $((nn - 1))" \
  "$(id_of "$WORK/pyt.out")" text "$nt" "0:$nt" "python text event 0" "python text event $((nt - 1))" \
  "$(id_of "$WORK/pyb.out")" binary "$nb" "10:$(((nb + 1) / 2)),11:$((nb / 2))" "python binary event 0" "" \
  <<'EOF' || fail "the capture does not hold what the examples sent"
import collections, json, sys
recs = collections.defaultdict(list)
mode = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] == "event":
        recs[r["producer"]].append(r)
    elif r["kind"] == "connect":
        mode[r["producer"]] = r["mode"]
args = sys.argv[2:]
bad = []
for i in range(0, len(args), 6):
    pid, want_mode, n, types, first, last = args[i:i + 6]
    pid, n = int(pid), int(n)
    ev = recs[pid]
    want_types = {int(k): int(v) for k, v in (t.split(":") for t in types.split(","))}
    got_types = dict(collections.Counter(r["type"] for r in ev))
    if mode.get(pid) != want_mode:
        bad.append("producer %d: mode %s, want %s" % (pid, mode.get(pid), want_mode))
    if len(ev) != n or got_types != want_types:
        bad.append("producer %d: %d events %s, want %d %s" % (pid, len(ev), got_types, n, want_types))
    elif ev[0]["payload"] != first or (last and ev[-1]["payload"] != last):
        bad.append("producer %d: first/last payload %r/%r" % (pid, ev[0]["payload"], ev[-1]["payload"]))
if bad:
    sys.exit("\n".join(bad))
EOF

note "the collector stops while node and python are writing: both see the broken pipe"
# Each would write a bounded 10 million lines (~200 MB) if never stopped,
# and is stopped after 0.2 s of streaming, so the capture stays small.
cap2=$WORK/stop.sluice
sock=$WORK/CoreFxPipe_stop
start_collector stop --pipe stop --out "$cap2"
node "$EX/node/producer.js" stop 10000000 >"$WORK/node2.out" 2>"$WORK/node2.err" &
p1=$!
python3 "$EX/python/text_lines.py" stop 10000000 >"$WORK/pyt2.out" 2>"$WORK/pyt2.err" &
p2=$!
# Both connected: two connected sockets at the path (state 03 in /proc/net/unix).
connected() { awk -v p="$sock" '$6 == "03" && $8 == p' /proc/net/unix | wc -l; }
for _ in $(seq 1 400); do
  [ "$(connected)" -ge 2 ] && break
  sleep 0.025
done
[ "$(connected)" -ge 2 ] || fail "the two examples did not connect"
sleep 0.2
kill -INT "$CPID"
wait_collector stop
for p in "$p1:node2:node" "$p2:pyt2:python-text"; do
  rc=0
  wait "${p%%:*}" || rc=$?
  f=${p#*:}; f=${f%%:*}
  [ "$rc" = 1 ] || { cat "$WORK/$f.err" >&2; fail "${p##*:}: exit status $rc after the collector stopped, want 1"; }
  grep -qE "^${p##*:}: the collector closed the connection \((.*)\); [0-9]+ lines (written|sent)$" "$WORK/$f.err" ||
    { cat "$WORK/$f.err" >&2; fail "${p##*:}: no clear message about the broken pipe"; }
done
out=$("$DUMP" "$cap2" --verify) || { echo "$out" >&2; fail "the stopped capture does not verify"; }
grep -qE "^verify: producers=2 events=[1-9][0-9]* gaps=0 corrupt_blocks=0 torn_tail_bytes=0$" <<<"$out" ||
  { echo "$out" >&2; fail "unexpected verify line"; }
echo "ok"
