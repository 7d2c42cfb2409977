# Helpers for the forwarding tests (tests/e2e/test_forward*.sh): real
# nats-server processes on 127.0.0.1, each with its own store directory in
# the test's private $WORK, on ports the kernel reports free, stopped by
# the test (and by lib.sh's cleanup trap, which kills every background job).
# Sourced after lib.sh.

PULL=$BIN/collector/forward/sluice-pull
command -v nats-server >/dev/null || { echo "SKIP: nats-server not installed (scripts/deps.sh)" >&2; exit 77; }
[ -x "$PULL" ] || { echo "SKIP: built without libnats (no sluice-pull)" >&2; exit 77; }

# free_ports N: N distinct ports free on 127.0.0.1 right now, chosen below
# the kernel's ephemeral range: a server restarted on its port must not
# find it taken by some client's outgoing connection (ours included).
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    low = 32768
low = max(low, 12000)
socks, ports = [], []
while len(ports) < int(sys.argv[1]):
    p = random.randrange(10000, low)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close(); continue
    socks.append(s); ports.append(p)
print(" ".join(map(str, ports)))
PY
}

# cluster_init: chooses ports for a 3-node cluster (client, route, monitor).
cluster_init() {
  read -r -a CPORT <<<"$(free_ports 3)"
  read -r -a RPORT <<<"$(free_ports 3)"
  read -r -a MPORT <<<"$(free_ports 3)"
  URLS="nats://127.0.0.1:${CPORT[0]},nats://127.0.0.1:${CPORT[1]},nats://127.0.0.1:${CPORT[2]}"
  NPID=(0 0 0)
}

# node_start K (0..2): starts node K of the cluster, waits until it is ready.
node_start() {
  local k=$1 conf=$WORK/n$1.conf
  cat >"$conf" <<CONF
server_name: n$k
host: 127.0.0.1
port: ${CPORT[$k]}
http: 127.0.0.1:${MPORT[$k]}
jetstream { store_dir: "$WORK/store-n$k" }
cluster {
  name: sluice-test
  listen: 127.0.0.1:${RPORT[$k]}
  routes: [ nats-route://127.0.0.1:${RPORT[0]}, nats-route://127.0.0.1:${RPORT[1]}, nats-route://127.0.0.1:${RPORT[2]} ]
}
CONF
  : >"$WORK/n$k.log"
  nats-server -c "$conf" >>"$WORK/n$k.log" 2>&1 &
  NPID[$k]=$!
  wait_log "$WORK/n$k.log" "Server is ready" || { cat "$WORK/n$k.log" >&2; fail "nats node n$k did not start"; }
}

node_stop() { # node_stop K [SIGNAL]
  local k=$1 sig=${2:-KILL}
  [ "${NPID[$k]}" != 0 ] || return 0
  kill -"$sig" "${NPID[$k]}" 2>/dev/null || true
  wait "${NPID[$k]}" 2>/dev/null || true
  NPID[$k]=0
}

cluster_start() { node_start 0; node_start 1; node_start 2; }
cluster_stop() { node_stop 0 TERM; node_stop 1 TERM; node_stop 2 TERM; }

# wait_log FILE TEXT: up to 20 s for TEXT to appear in FILE.
wait_log() {
  for _ in $(seq 1 400); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# stream_leader STREAM: the node index (0..2) leading STREAM, from the
# monitoring endpoint of any live node; empty if none is known.
stream_leader() {
  local k
  for k in 0 1 2; do
    [ "${NPID[$k]}" != 0 ] || continue
    python3 - "${MPORT[$k]}" "$1" <<'PY' && return 0
import json, sys, urllib.request
port, name = sys.argv[1], sys.argv[2]
try:
    d = json.load(urllib.request.urlopen(
        "http://127.0.0.1:%s/jsz?accounts=true&streams=true" % port, timeout=2))
except Exception:
    sys.exit(1)
for acc in d.get("account_details", []):
    for st in acc.get("stream_detail", []):
        if st.get("name") == name:
            leader = (st.get("cluster") or {}).get("leader", "")
            if leader.startswith("n"):
                print(leader[1:]); sys.exit(0)
sys.exit(1)
PY
  done
  return 1
}

# wait_stream_leader STREAM: up to 30 s for the cluster to have elected a
# leader for STREAM (after a whole-cluster restart it replays its log
# first).
wait_stream_leader() {
  for _ in $(seq 1 60); do
    stream_leader "$1" >/dev/null && return 0
    sleep 0.5
  done
  fail "stream $1 has no leader 30 s after the cluster started"
}

# On a failure, the servers' last words (the test's $WORK goes with it).
fail() {
  local k
  echo "FAIL: $*" >&2
  for k in 0 1 2; do
    [ -f "$WORK/n$k.log" ] || continue
    echo "--- last lines of nats node n$k's log:" >&2
    tail -n 15 "$WORK/n$k.log" >&2
  done
  exit 1
}

# wait_forwarding LOG: the collector logged that it is connected.
wait_forwarding() {
  wait_log "$1" "forward: connected to" || { cat "$1" >&2; fail "collector did not connect to NATS"; }
}

# pull_one STREAM HOST DIR: runs sluice-pull (bounded), prints its summary.
pull_one() {
  timeout 60 "$PULL" "$URLS" --stream "$1" --host "$2" --out "$3" 2>"$WORK/pull-$2.err" ||
    { cat "$WORK/pull-$2.err" >&2; fail "sluice-pull for $2 failed"; }
}
