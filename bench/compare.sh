#!/usr/bin/env bash
# bench/compare.sh: sluice side by side with the copy limit, the durable
# limit, a naive collector, rsyslog and syslog-ng, in one run, on this
# machine; writes the table into docs/benchmarks.md. About 8 minutes on a
# 2-core machine (bench/compare.py's docstring lists the cases).
#
#   bench/compare.sh [--reps N] [--scale F] [--only SYSTEMS] [--no-doc]
#
# BUILD (default build) is the build directory; it is configured
# RelWithDebInfo and built first. rsyslog and syslog-ng come from Debian's
# packages, but are not installed: they conflict with each other as
# packages and would start system daemons, so their .debs are unpacked with
# dpkg-deb -x into $BUILD/compare-peers (their libraries are installed
# normally) and run as plain processes with configs in a temporary
# directory, listening only on sockets there.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
doc=(--doc docs/benchmarks.md)
args=()
for a in "$@"; do
  if [ "$a" = "--no-doc" ]; then doc=(); else args+=("$a"); fi
done

# The peers' shared libraries (Depends of rsyslog and syslog-ng-core).
bash scripts/deps.sh libestr0 libfastjson4 liblognorm5 libuuid1 libzstd1 \
  zlib1g libcap2 libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libssl3 \
  libwrap0 libsystemd0

peers=$BUILD/compare-peers
if [ ! -x "$peers/usr/sbin/rsyslogd" ] || [ ! -x "$peers/usr/sbin/syslog-ng" ]; then
  debs=$(mktemp -d)
  chmod 777 "$debs" # apt-get download runs as _apt
  (cd "$debs" && apt-get download rsyslog syslog-ng-core >/dev/null 2>&1) || {
    [ "$(id -u)" -eq 0 ] && apt-get update -qq
    (cd "$debs" && apt-get download rsyslog syslog-ng-core >/dev/null)
  }
  mkdir -p "$peers"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$peers"; done
  rm -rf "$debs"
fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null

echo "compare: load average now: $(cut -d' ' -f1-3 /proc/loadavg) (figures are noisy above ~1.5)" >&2
exec python3 bench/compare.py --build "$BUILD" --peers "$peers" "${doc[@]}" "${args[@]}"
