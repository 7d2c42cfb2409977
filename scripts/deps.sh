#!/usr/bin/env bash
# Installs the Debian packages sluice needs to build and test natively.
# Usage: scripts/deps.sh [extra-package ...]
# Does nothing for packages already installed; needs root (or sudo) otherwise.
set -euo pipefail
# Forwarding (collector/forward/, sluice-pull) builds with libnats-dev;
# its tests (tests/e2e/test_forward*.sh) run nats-server, openssl and
# python3-cryptography (NKeys for the credentials test).
forward_pkgs=(libnats-dev nats-server openssl python3-cryptography)

# nodejs runs examples/node in the tests; groff-base checks the man pages.
# Consumers (issue 13): python3-protobuf and protobuf-compiler decode
# --format perfetto; python3-lz4, python3-zstandard and python3-pandas
# for the Python reader; chromium renders --plot's SVG; mono-mcs and
# mono-runtime build and run examples/csharp; g++ and clang build
# examples/cpp; python3-pip and python3-venv install python/ (python3-crcmod
# speeds its CRC32C); netcat-openbsd is the `nc -U` of docs/protocol.md.
# liblz4-dev and libzstd-dev: the block codecs of capture format v2
# (sluice-collector --compress lz4|zstd, and the reader's decoders).
pkgs=(cmake make gcc libc6-dev pkg-config libcriterion-dev liburing-dev liblz4-dev libzstd-dev socat python3 nodejs groff-base
  python3-protobuf protobuf-compiler python3-lz4 python3-zstandard python3-pandas chromium
  mono-mcs mono-runtime g++ clang python3-pip python3-venv python3-crcmod netcat-openbsd "$@")
missing=()
for p in "${pkgs[@]}" "${forward_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
