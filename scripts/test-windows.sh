#!/usr/bin/env bash
# Builds sluice for Windows with mingw-w64 (CMake preset `windows`, into
# build-win/) and runs the Windows tests under Wine: the Win32 OS layer,
# the IOCP backend, the producer transport, the core's smoke checks, and
# the end-to-end runs of sluice-collector.exe with sluice-producer.exe,
# the plain Win32 client and sluice-dump.exe, cross-checked by the native
# Linux sluice-dump.
#
# On a fresh Debian machine it installs what is missing (as root, or with
# passwordless sudo): cmake, gcc, make, gcc-mingw-w64-x86-64,
# g++-mingw-w64-x86-64, wine, wine64. The Wine prefix lives in
# build-win/wineprefix, is created once (wineboot -i), and `wineserver -k`
# ends Wine when the tests are done, whether they pass or not.
#
# Usage: scripts/test-windows.sh [extra ctest arguments, e.g. -R iocp]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
step() { echo "=== $* ($(($(date +%s) - start))s)"; }

# ---- packages ------------------------------------------------------------
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
command -v x86_64-w64-mingw32-gcc >/dev/null ||
    need+=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64)
# Debian's `wine` is a wrapper that runs /usr/lib/wine/wine64 for 64-bit
# programs; both packages are needed.
command -v wine >/dev/null || need+=(wine)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        echo "test-windows.sh: missing packages: ${need[*]}" >&2
        echo "install them as root: apt-get install ${need[*]}" >&2
        exit 1
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends "${need[@]}"
fi

# ---- native sluice-dump (cross-checks the Windows captures) --------------
# Reuse the native build when there is one (scripts/test.sh makes it
# first); otherwise build just sluice-dump in a private directory, so no
# other build's configuration is touched.
if [ -f build/CMakeCache.txt ]; then
    native=build
else
    native=build-win-native
    [ -f "$native/CMakeCache.txt" ] ||
        cmake -S . -B "$native" -DSLUICE_BUILD_TESTS=OFF >/dev/null
fi
step "native sluice-dump in $native/"
cmake --build "$native" --target sluice-dump -j "$(nproc)" >/dev/null

# ---- Windows build ----------------------------------------------------------
step "configure and build the windows preset (mingw-w64) in build-win/"
cmake --preset windows -DSLUICE_NATIVE_BIN="$root/$native" >/dev/null
cmake --build --preset windows -j "$(nproc)"

# ---- tests under Wine ----------------------------------------------------
export WINEPREFIX="$root/build-win/wineprefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
# Console programs need no display; without one Wine cannot pop up
# dialogs that would hang an unattended run.
unset DISPLAY WAYLAND_DISPLAY
stop_wine() { bash tests/win/wine-prefix.sh stop >/dev/null 2>&1 || true; }
trap stop_wine EXIT

step "Wine prefix $WINEPREFIX"
bash tests/win/wine-prefix.sh init

step "Windows tests under $(wine --version 2>/dev/null || echo Wine)"
# --no-tests=error: a build that registered no Windows tests is a failure,
# not a silent pass.
ctest --test-dir build-win --output-on-failure --no-tests=error -L win "$@"
step "Windows tests passed"
