#!/usr/bin/env bash
# Creates the Wine prefix the Windows tests run in, once, or stops Wine.
#   wine-prefix.sh init   create $WINEPREFIX unless it is there already
#   wine-prefix.sh stop   wineserver -k: end every process of the prefix
# ctest runs `init` as a fixture setup before the Windows tests and `stop`
# as its cleanup. Environment: WINEPREFIX (required), SL_WINEBOOT and
# SL_WINESERVER (default: from PATH). WINEDLLOVERRIDES=mscoree,mshtml=
# keeps wineboot from looking for Mono and Gecko, which console programs
# never need.
set -euo pipefail
: "${WINEPREFIX:?WINEPREFIX must be set}"
export WINEPREFIX WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
wineboot=${SL_WINEBOOT:-$(command -v wineboot || true)}
wineserver=${SL_WINESERVER:-$(command -v wineserver || echo /usr/lib/wine/wineserver)}

case "${1:-}" in
init)
    if [ -f "$WINEPREFIX/system.reg" ]; then
        echo "wine prefix $WINEPREFIX: already there"
        exit 0
    fi
    [ -n "$wineboot" ] || { echo "wineboot not found (install wine)" >&2; exit 1; }
    mkdir -p "$(dirname "$WINEPREFIX")"
    start=$(date +%s)
    "$wineboot" -i </dev/null >/dev/null 2>&1
    # wineboot returns before the registry is flushed; wait for it.
    for _ in $(seq 1 100); do
        [ -f "$WINEPREFIX/system.reg" ] && break
        sleep 0.1
    done
    [ -f "$WINEPREFIX/system.reg" ] || { echo "wineboot did not create $WINEPREFIX" >&2; exit 1; }
    echo "wine prefix $WINEPREFIX: created in $(( $(date +%s) - start ))s"
    ;;
stop)
    "$wineserver" -k 2>/dev/null || true
    echo "wineserver stopped"
    ;;
*)
    echo "usage: wine-prefix.sh init|stop" >&2
    exit 2
    ;;
esac
