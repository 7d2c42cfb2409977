#!/usr/bin/env bash
# sluice-dump's filters, with exact counts: --producer by id and by name
# (two connections share the name "red"), repeated; --type as a list, a hex
# range, repeated; --since/--until on collector time in every documented
# form (RFC 3339 with a fraction, with an offset, +DURATION from the
# capture's start, epoch nanoseconds), whose counts must equal what Python
# computes from the jsonl dump, and split the events exactly; the filters
# combined, with --verify and with --stats; and every bad value a usage
# error (exit 2).
source "$(dirname "$0")/lib.sh"
cap=$WORK/filt.sluice
start_collector c --pipe filt --out "$cap" --exit-after 5
# One after the other (ids 1..5), a pause apart so times separate them.
"$PRODUCER" --pipe filt --count 100 --name red --type 1 >/dev/null
sleep 0.2
"$PRODUCER" --pipe filt --count 50 --name green --type 2 >/dev/null
sleep 0.2
"$PRODUCER" --pipe filt --count 25 --name blue --type 3 >/dev/null
sleep 0.2
"$PRODUCER" --pipe filt --count 10 --name red --type 0xE001 >/dev/null
sleep 0.2
printf '1\n2\n3\n4\n5\n6\n7\n' | "$PRODUCER" --pipe filt --stdin --text >/dev/null
wait_collector c
TOTAL=192

events() { # events ARGS...: the number of events sluice-dump prints
  local out
  out=$("$DUMP" "$cap" --format jsonl "$@") || fail "sluice-dump $* failed"
  grep -c '"kind":"event"' <<<"$out" || true
}
expect_events() { # expect_events N ARGS...
  local want=$1 got; shift
  got=$(events "$@")
  [ "$got" = "$want" ] || fail "sluice-dump $*: $got events, expected $want"
}
usage_error() { # usage_error ARGS...: exit 2 with a reason on stderr
  local rc=0
  "$DUMP" "$cap" "$@" >/dev/null 2>"$WORK/usage.err" || rc=$?
  [ "$rc" = 2 ] || fail "sluice-dump $*: exit $rc, expected 2"
  [ -s "$WORK/usage.err" ] || fail "sluice-dump $*: no reason on stderr"
}

expect_events $TOTAL
# --producer: ids, names, both, repeated
expect_events 100 --producer 1
expect_events 110 --producer red
expect_events 135 --producer red --producer 3
expect_events 135 --producer=blue --producer=red
expect_events 60 --producer 2 --producer 4
# A --producer that matches nothing is an error (issue 10), also for
# --verify, which must not pass on nothing.
for sel in nosuch 99; do
  for v in "" --verify; do
    rc=0; "$DUMP" "$cap" $v --producer "$sel" >"$WORK/nm.out" 2>"$WORK/nm.err" || rc=$?
    [ "$rc" = 1 ] || fail "--producer $sel $v exited $rc, want 1"
    grep -q "no producer in .* matches" "$WORK/nm.err" || fail "--producer $sel $v: no 'nothing matched' message"
  done
done
# --type: lists, ranges, hex, repeated
expect_events 100 --type 1
expect_events 150 --type 1,2
expect_events 125 --type 1 --type 3
expect_events 75 --type 0x2-0x3
expect_events 10 --type 0xE000-0xEFFF
expect_events 7 --type 0
expect_events 0 --type 9
expect_events 10 --producer red --type 57345
expect_events 0 --producer green --type 1
# Collector records follow --producer, not --type.
out=$("$DUMP" "$cap" --producer red --type 9)
[ "$(grep -c '^--- connect id=[14] name=red ' <<<"$out")" = 2 ] || fail "connect records of red: $out"
[ "$(grep -c '^--- disconnect id=[14] ' <<<"$out")" = 2 ] || fail "disconnect records of red: $out"
grep -q '^--- connect id=2 ' <<<"$out" && fail "green's connect record shown"
"$DUMP" "$cap" --producer green --format jsonl | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    assert r["kind"] == "close" or r["producer"] == 2, r
' || fail "--producer green shows another producer"

# --since/--until: every form names the same instant, B = the first event
# of "blue", and the two windows split the events exactly.
"$DUMP" "$cap" --format jsonl >"$WORK/all.jsonl"
start=$("$DUMP" "$cap" --format chrome | python3 -c 'import json,sys; print(json.load(sys.stdin)["otherData"]["start_ns"])')
read -r B after before rfc off rel < <(python3 - "$WORK/all.jsonl" "$start" <<'PY'
import json, sys, datetime
ev = [json.loads(l) for l in open(sys.argv[1])]
ev = [r for r in ev if r["kind"] == "event"]
b = min(r["collector_ns"] for r in ev if r["name"] == "blue")
after = sum(r["collector_ns"] >= b for r in ev)
s, ns = divmod(b, 10**9)
t = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
rfc = t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"
t2 = t.astimezone(datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
off = t2.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}+05:30"
print(b, after, len(ev) - after, rfc, off, f"+{b - int(sys.argv[2])}ns")
PY
)
note "B=$B ($rfc, $off, $rel): $after events at or after, $before before"
[ "$after" -gt 0 ] && [ "$before" -gt 0 ] || fail "B does not split the capture"
for form in "$B" "$rfc" "$off" "$rel"; do
  expect_events "$after" --since "$form"
  expect_events "$before" --until "$form"
  expect_events 0 --since "$form" --until "$form"
done
expect_events 25 --producer blue --since "$rfc"
expect_events 0 --producer green --since "$rfc"
expect_events $TOTAL --since +0s
expect_events $TOTAL --since 1970-01-01T00:00:00Z --until 2500-01-01T00:00:00Z
expect_events 0 --since +1000h
expect_events 0 --until +0ns
# A second-resolution RFC 3339 time and a relative time with a fraction.
python3 - "$WORK/all.jsonl" "$start" <<'PY' >"$WORK/forms"
import json, sys, datetime
ev = [json.loads(l) for l in open(sys.argv[1])]
ns = sorted(r["collector_ns"] for r in ev if r["kind"] == "event")
mid = ns[len(ns) // 2]
sec = mid // 10**9 * 10**9
print(datetime.datetime.fromtimestamp(sec // 10**9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
      sum(n >= sec for n in ns))
rel = mid - int(sys.argv[2])
print(f"+{rel // 10**9}.{rel % 10**9 // 1000:06d}s",
      sum(n >= int(sys.argv[2]) + rel // 1000 * 1000 for n in ns))
PY
while read -r form want; do
  expect_events "$want" --since "$form"
done <"$WORK/forms"

# The filters feed --verify and --stats.
expect_verify_args() { # expect_verify_args LINE ARGS...
  local want=$1 out; shift
  out=$("$DUMP" "$cap" --verify "$@") || fail "verify $* failed"
  [ "$out" = "$want" ] || fail "verify $*: $out"
}
expect_verify_args "verify: producers=2 events=110 gaps=0 corrupt_blocks=0 torn_tail_bytes=0" --producer red
expect_verify_args "verify: producers=1 events=50 gaps=0 corrupt_blocks=0 torn_tail_bytes=0" --producer 2
"$DUMP" "$cap" --stats --producer red --type 1 --format csv >"$WORK/stats.csv"
python3 - "$WORK/stats.csv" <<'PY' || fail "--stats with filters"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
got = [(r["id"], r["name"], r["events"], r["bytes"], r["end"]) for r in rows]
assert got == [("1", "red", "100", "6400", "EOF"), ("4", "red", "0", "0", "EOF")], got
assert rows[1]["first_time"] == "" and rows[1]["last_ns"] == "", rows[1]
PY
"$DUMP" "$cap" --stats --since "$rfc" --format jsonl | tail -n 1 | python3 -c '
import json, sys
t = json.loads(sys.stdin.read())
assert t["kind"] == "total" and t["producers"] == 5 and t["events"] == int(sys.argv[1]), t
' "$after" || fail "--stats --since totals"
# Bad values and combinations are usage errors.
usage_error --type 70000
usage_error --type abc
usage_error --type 1,
usage_error --type 5-3
usage_error --since yesterday
usage_error --since 2026-11-24T17:00:00
usage_error --until +5x
usage_error --producer 99999999999
usage_error --producer
usage_error --format xml
usage_error --verify --type 1
usage_error --verify --since +1s
usage_error --verify --stats
usage_error --stats --format chrome
usage_error --no-such-option
echo "ok"
