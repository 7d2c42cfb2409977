#!/usr/bin/env bash
# Forwarding's failure modes, against real nats-server processes: wrong
# credentials (password, NKey, token), an unreachable URL and TLS with a CA
# that did not sign the server's certificate each give one clear error
# line, and the local capture is complete and intact regardless. The right
# credentials of each kind and the right CA (certificates made here with
# openssl, NKeys by tests/e2e/clients/nkey_gen.py) forward and pull back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nats_lib.sh"

N=$(scaled 5000)
read -r PAUTH PTLS PDEAD PNKEY PTOKEN <<<"$(free_ports 5)"

# ---- certificates: CA A signs the server's; CA B is a stranger ----------
for ca in a b; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sluice test CA $ca" \
    -keyout "$WORK/ca-$ca.key" -out "$WORK/ca-$ca.pem" 2>/dev/null
done
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca-a.pem" -CAkey "$WORK/ca-a.key" \
  -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/server.pem" 2>/dev/null

cat >"$WORK/auth.conf" <<CONF
host: 127.0.0.1
port: $PAUTH
jetstream { store_dir: "$WORK/store-auth" }
authorization { user: sluice, password: "right-horse" }
CONF
cat >"$WORK/tls.conf" <<CONF
host: 127.0.0.1
port: $PTLS
jetstream { store_dir: "$WORK/store-tls" }
tls { cert_file: "$WORK/server.pem", key_file: "$WORK/server.key" }
CONF
python3 "$SRC/tests/e2e/clients/nkey_gen.py" >"$WORK/nkey.pair"
NKEY_PUB=$(sed -n 1p "$WORK/nkey.pair")
python3 "$SRC/tests/e2e/clients/nkey_gen.py" >"$WORK/nkey-other.pair"
cat >"$WORK/nkey.conf" <<CONF
host: 127.0.0.1
port: $PNKEY
jetstream { store_dir: "$WORK/store-nkey" }
authorization { users: [ { nkey: "$NKEY_PUB" } ] }
CONF
cat >"$WORK/token.conf" <<CONF
host: 127.0.0.1
port: $PTOKEN
jetstream { store_dir: "$WORK/store-token" }
authorization { token: "s3cret-t0ken" }
CONF
nats-server -c "$WORK/nkey.conf" >"$WORK/nkey.log" 2>&1 &
nats-server -c "$WORK/token.conf" >"$WORK/token.log" 2>&1 &
nats-server -c "$WORK/auth.conf" >"$WORK/auth.log" 2>&1 &
nats-server -c "$WORK/tls.conf" >"$WORK/tls.log" 2>&1 &
wait_log "$WORK/auth.log" "Server is ready" || fail "auth server did not start"
wait_log "$WORK/tls.log" "Server is ready" || fail "tls server did not start"
wait_log "$WORK/nkey.log" "Server is ready" || fail "nkey server did not start"
wait_log "$WORK/token.log" "Server is ready" || fail "token server did not start"
printf 'user=sluice\npassword=wrong-horse\n' >"$WORK/wrong.creds"
printf 'user=sluice\npassword=right-horse\n' >"$WORK/right.creds"
# An NKey: the public key and the seed, in one file; the other pair's seed
# is not the server's user.
printf 'nkey=%s\n%s\n' "$NKEY_PUB" "$(sed -n 2p "$WORK/nkey.pair")" >"$WORK/nkey.creds"
printf 'nkey=%s\n%s\n' "$(sed -n 1p "$WORK/nkey-other.pair")" "$(sed -n 2p "$WORK/nkey-other.pair")" >"$WORK/nkey-wrong.creds"
printf 'token=s3cret-t0ken\n' >"$WORK/token.creds"
printf 'token=not-the-token\n' >"$WORK/token-wrong.creds"
chmod 600 "$WORK"/*.creds

# run_case NAME EXPECTED-ERROR forward-options...: a collector with two
# producers; the capture must be complete whatever forwarding does.
run_case() {
  local name=$1 want=$2 N=${CASE_N:-$N}; shift 2
  start_collector "c-$name" --pipe "p-$name" --out "$WORK/$name.sluice" --stats 0 \
    --exit-after 2 --forward-drain 1 "$@"
  "$PRODUCER" --pipe "p-$name" --count "$N" --size 100 >/dev/null &
  "$PRODUCER" --pipe "p-$name" --count "$N" --size 100 >/dev/null &
  wait_collector "c-$name"
  expect_line "$WORK/c-$name.out" "collector: producers=2 events=$((2 * N)) bytes=$((2 * N * 100)) dropped=0 malformed=0"
  expect_verify "$WORK/$name.sluice" "verify: producers=2 events=$((2 * N)) gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  if [ -n "$want" ]; then
    grep -qF -- "$want" "$WORK/c-$name.err" ||
      { cat "$WORK/c-$name.err" >&2; fail "$name: expected the error '$want'"; }
    grep -q "forwarding not finished" "$WORK/c-$name.err" || fail "$name: no 'not finished' line"
    note "$name: $(grep -F -- "$want" "$WORK/c-$name.err" | head -1)"
  else
    grep -q "^forward: .* pending_blocks=0 pending_bytes=0 errors=0" "$WORK/c-$name.out" ||
      { cat "$WORK/c-$name.out" "$WORK/c-$name.err" >&2; fail "$name: forwarding did not finish"; }
  fi
}

run_case badcreds "Authorization Violation" \
  --forward "nats://127.0.0.1:$PAUTH" --forward-creds "$WORK/wrong.creds"
run_case badnkey "Authorization Violation" \
  --forward "nats://127.0.0.1:$PNKEY" --forward-creds "$WORK/nkey-wrong.creds"
run_case badtoken "Authorization Violation" \
  --forward "nats://127.0.0.1:$PTOKEN" --forward-creds "$WORK/token-wrong.creds"
run_case unreachable "cannot connect to nats://127.0.0.1:$PDEAD" \
  --forward "nats://127.0.0.1:$PDEAD"
run_case badca "SSL handshake error" \
  --forward "tls://127.0.0.1:$PTLS" --forward-tls-ca "$WORK/ca-b.pem"

# sluice-ctl status shows forwarding while the collector runs: against an
# unreachable URL, disconnected with the connect error, the blocks and
# bytes written but not acknowledged, nothing forwarded; against a server, connected, blocks
# forwarded and no error; a collector that does not forward says null.
CTL=$BIN/collector/sluice-ctl
# ctl_wait PIPE REGEX: polls `status` (at most 60 s) until a line matches.
ctl_wait() {
  for _ in $(seq 1 600); do
    "$CTL" --pipe "$1" status >"$WORK/st-$1.out" 2>"$WORK/st-$1.err" &&
      grep -qE -- "$2" "$WORK/st-$1.out" && return 0
    sleep 0.1
  done
  cat "$WORK/st-$1.out" "$WORK/st-$1.err" >&2; fail "status of $1 never showed '$2'"
}
start_collector st-dead --pipe st-dead --out "$WORK/st-dead.sluice" --stats 0 \
  --forward-drain 1 --forward "nats://127.0.0.1:$PDEAD"
"$PRODUCER" --pipe st-dead --count 100 --size 100 >/dev/null
ctl_wait st-dead '^  pending: [1-9][0-9]* blocks, [1-9][0-9]* bytes$'
ctl_wait st-dead '^  errors: [1-9]'
grep -qx "forward: disconnected" "$WORK/st-st-dead.out" || fail "status: $(cat "$WORK/st-st-dead.out")"
grep -qx "  forwarded: 0 blocks, 0 bytes" "$WORK/st-st-dead.out" || fail "status: $(cat "$WORK/st-st-dead.out")"
grep -qx "  last error: cannot connect to nats://127.0.0.1:$PDEAD: .*" "$WORK/st-st-dead.out" ||
  fail "status: no last error: $(cat "$WORK/st-st-dead.out")"
"$CTL" --pipe st-dead status --json >"$WORK/st-dead.json" || fail "status --json failed"
PDEAD=$PDEAD /usr/bin/python3 - "$WORK/st-dead.json" <<'PY' || fail "status --json (unreachable): $(cat "$WORK/st-dead.json")"
import json, os, sys
f = json.load(open(sys.argv[1]))["forward"]
assert f["connected"] is False, f
assert f["forwarded_blocks"] == 0 and f["pending_blocks"] >= 1, f
assert f["pending_bytes"] > 0 and f["errors"] >= 1, f
assert f["last_error"].startswith("cannot connect to nats://127.0.0.1:%s: " % os.environ["PDEAD"]), f
PY
"$CTL" --pipe st-dead stop >/dev/null || fail "sluice-ctl stop failed"
wait_collector st-dead
expect_verify "$WORK/st-dead.sluice" "verify: producers=1 events=100 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"

start_collector st-good --pipe st-good --out "$WORK/st-good.sluice" --stats 0 \
  --forward "nats://127.0.0.1:$PAUTH" --forward-creds "$WORK/right.creds" --forward-stream STATUS \
  --forward-subject status.blocks
"$PRODUCER" --pipe st-good --count 100 --size 100 >/dev/null
ctl_wait st-good '^  forwarded: [1-9][0-9]* blocks, [1-9][0-9]* bytes$'
"$CTL" --pipe st-good status --json >"$WORK/st-good.json" || fail "status --json failed"
/usr/bin/python3 - "$WORK/st-good.json" <<'PY' || fail "status --json (forwarding): $(cat "$WORK/st-good.json")"
import json, sys
f = json.load(open(sys.argv[1]))["forward"]
assert f["connected"] is True, f
assert f["forwarded_blocks"] >= 1 and f["forwarded_bytes"] > 0, f
assert f["errors"] == 0 and f["last_error"] == "" and f["duplicates"] == 0, f
PY
grep -qx "forward: connected" "$WORK/st-st-good.out" || fail "status: $(cat "$WORK/st-st-good.out")"
grep -qx "  last error: -" "$WORK/st-st-good.out" || fail "status: $(cat "$WORK/st-st-good.out")"
"$CTL" --pipe st-good stop >/dev/null || fail "sluice-ctl stop failed"
wait_collector st-good
grep -q "^forward: .* pending_blocks=0 pending_bytes=0 errors=0" "$WORK/st-good.out" ||
  fail "st-good: forwarding did not finish: $(cat "$WORK/st-good.out")"

start_collector st-none --pipe st-none --out "$WORK/st-none.sluice" --stats 0
"$CTL" --pipe st-none status --json >"$WORK/st-none.json" || fail "status --json failed"
/usr/bin/python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["forward"] is None' \
  "$WORK/st-none.json" || fail "status --json without forwarding: $(cat "$WORK/st-none.json")"
"$CTL" --pipe st-none status >"$WORK/st-none.out" || fail "status failed"
! grep -q "^forward" "$WORK/st-none.out" || fail "status shows forwarding without --forward"
"$CTL" --pipe st-none stop >/dev/null || fail "sluice-ctl stop failed"
wait_collector st-none

# The same servers with the right credentials and the right CA.
run_case goodcreds "" --forward "nats://127.0.0.1:$PAUTH" --forward-creds "$WORK/right.creds"
run_case goodca "" --forward "tls://127.0.0.1:$PTLS" --forward-tls-ca "$WORK/ca-a.pem"
run_case goodnkey "" --forward "nats://127.0.0.1:$PNKEY" --forward-creds "$WORK/nkey.creds"
run_case goodtoken "" --forward "nats://127.0.0.1:$PTOKEN" --forward-creds "$WORK/token.creds"
for kind in nkey token; do
  port=$PNKEY; [ $kind = token ] && port=$PTOKEN
  timeout 60 "$PULL" "nats://127.0.0.1:$port" --stream SLUICE --creds "$WORK/$kind.creds" \
    --out "$WORK/pulled-$kind" >/dev/null || fail "pull with the $kind failed"
  cmp "$WORK/pulled-$kind/"*/*.sluice "$WORK/good$kind.sluice" || fail "pulled capture differs ($kind)"
done
URLS="nats://127.0.0.1:$PAUTH"
out=$(timeout 60 "$PULL" "$URLS" --stream SLUICE --creds "$WORK/right.creds" --out "$WORK/pulled") ||
  fail "pull with credentials failed"
grep -q "^pull: captures=1 " <<<"$out" || fail "pull (credentials): $out"
cmp "$WORK/pulled/"*/*.sluice "$WORK/goodcreds.sluice" || fail "pulled capture differs (credentials)"
out=$(timeout 60 "$PULL" "tls://127.0.0.1:$PTLS" --stream SLUICE --tls-ca "$WORK/ca-a.pem" --out "$WORK/pulled-tls") ||
  fail "pull over TLS failed"
cmp "$WORK/pulled-tls/"*/*.sluice "$WORK/goodca.sluice" || fail "pulled capture differs (TLS)"
# --follow: a puller started before a capture is forwarded picks it up as
# it arrives, and stops cleanly on SIGTERM.
timeout 120 "$PULL" "nats://127.0.0.1:$PAUTH" --stream SLUICE --creds "$WORK/right.creds" \
  --durable follower --follow --out "$WORK/followed" >"$WORK/follow.out" 2>"$WORK/follow.err" &
FPID=$!
run_case later "" --forward "nats://127.0.0.1:$PAUTH" --forward-creds "$WORK/right.creds"
id=$(sed -n 's/^capture //p' "$WORK/later.sluice.fwd")
for _ in $(seq 1 200); do
  f=$(ls "$WORK/followed/"*/"$id"*.sluice 2>/dev/null) && cmp -s "$f" "$WORK/later.sluice" && break
  sleep 0.1
done
cmp "$WORK/followed/"*/"$id"*.sluice "$WORK/later.sluice" || fail "--follow did not rebuild the new capture"
kill -TERM "$FPID"
rc=0; wait "$FPID" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/follow.err" >&2; fail "sluice-pull --follow exited $rc on SIGTERM"; }
grep -q "^pull: captures=2 " "$WORK/follow.out" || { cat "$WORK/follow.out" >&2; fail "follow: wrong summary"; }

rc=0; timeout 30 "$PULL" "nats://127.0.0.1:$PAUTH" --stream SLUICE --creds "$WORK/wrong.creds" \
  --out "$WORK/pulled-bad" 2>"$WORK/pull-bad.err" || rc=$?
[ "$rc" = 1 ] || fail "pull with wrong credentials exited $rc, expected 1"
grep -q "Authorization Violation" "$WORK/pull-bad.err" || { cat "$WORK/pull-bad.err" >&2; fail "pull: no clear error"; }

# Blocks larger than the server's max payload (1 MB) travel in parts; with
# --forward-inflight 3 a block's parts must wait for room, never overrun
# the ones in flight.
CASE_N=$(scaled 40000) run_case bigblocks "" --forward "nats://127.0.0.1:$PAUTH" \
  --forward-creds "$WORK/right.creds" --forward-inflight 3 --forward-stream BIG \
  --forward-subject bulk.blocks
out=$(timeout 60 "$PULL" "nats://127.0.0.1:$PAUTH" --stream BIG --creds "$WORK/right.creds" \
  --out "$WORK/pulled-big") || fail "pull of the big blocks failed"
note "bigblocks: $(grep '^forward:' "$WORK/c-bigblocks.out"); $out"
grep -q "^pull: captures=1 .* duplicates=0 missing=0 " <<<"$out" || fail "bigblocks: $out"
cmp "$WORK/pulled-big/"*/*.sluice "$WORK/bigblocks.sluice" || fail "bigblocks: rebuilt capture differs"

# Usage errors: exit 2, one line.
rc=0; "$COLLECTOR" --pipe u --out "$WORK/u.sluice" --forward-creds "$WORK/right.creds" 2>"$WORK/u.err" || rc=$?
[ "$rc" = 2 ] && grep -q "need --forward" "$WORK/u.err" || fail "--forward-creds without --forward: exit $rc"
rc=0; "$COLLECTOR" --pipe u --out "$WORK/u.sluice" --forward "nats://127.0.0.1:$PAUTH" \
  --forward-creds "$WORK/missing.creds" 2>"$WORK/u.err" || rc=$?
[ "$rc" = 2 ] && grep -q "missing.creds" "$WORK/u.err" || { cat "$WORK/u.err" >&2; fail "missing creds file: exit $rc"; }
[ ! -e "$WORK/u.sluice" ] || fail "a usage error left a capture behind"
# One URL-list parser for both programs (collector/forward/natsopt.c):
# an empty entry and a 17th URL are usage errors, never skipped or cut.
URL17=$(printf "nats://127.0.0.1:$PDEAD,%.0s" $(seq 1 17)); URL17=${URL17%,}
for urls in "nats://127.0.0.1:$PAUTH,,nats://127.0.0.1:$PTLS" "nats://127.0.0.1:$PAUTH," "$URL17"; do
  want="has an empty URL"; [ "$urls" = "$URL17" ] && want="more than 16 URLs"
  rc=0; "$COLLECTOR" --pipe u --out "$WORK/u.sluice" --forward "$urls" 2>"$WORK/u.err" || rc=$?
  [ "$rc" = 2 ] && grep -qF -- "--forward: " "$WORK/u.err" && grep -qF "$want" "$WORK/u.err" ||
    { cat "$WORK/u.err" >&2; fail "--forward '$urls': exit $rc"; }
  [ ! -e "$WORK/u.sluice" ] || fail "a bad URL list left a capture behind"
  rc=0; timeout 30 "$PULL" "$urls" --stream SLUICE --out "$WORK/pulled-u" 2>"$WORK/u.err" || rc=$?
  [ "$rc" = 2 ] && grep -qF "$want" "$WORK/u.err" ||
    { cat "$WORK/u.err" >&2; fail "sluice-pull '$urls': exit $rc"; }
done
rc=0; "$PULL" "nats://127.0.0.1:$PAUTH" --out "$WORK/x" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "sluice-pull without --stream: exit $rc"
echo "PASS test_forward_errors"
