# Shared helpers for the Windows end-to-end tests (tests/win/e2e_test_*.sh):
# they run the Windows binaries under Wine against each other over real
# named pipes, and check captures with both the Windows sluice-dump.exe
# (under Wine) and the native Linux sluice-dump (the file format is the
# same byte for byte).
#
# ctest passes (tests/win/CMakeLists.txt): SL_WINE (the emulator; empty on
# a native Windows shell), SL_WIN_COLLECTOR, SL_WIN_PRODUCER, SL_WIN_DUMP,
# SL_WIN_PLAIN_CLIENT, SL_WIN_PIPE_WAIT, SL_WIN_HOLD_CLIENTS (.exe paths),
# SL_NATIVE_BIN (the native build directory), SL_WORK (scratch directory),
# WINEPREFIX, WINEDEBUG.
set -euo pipefail

for v in SL_WIN_COLLECTOR SL_WIN_PRODUCER SL_WIN_DUMP SL_WIN_PLAIN_CLIENT \
         SL_WIN_PIPE_WAIT SL_WORK; do
    if [ -z "${!v:-}" ]; then
        echo "$v is not set: run this test through ctest in the Windows build" >&2
        exit 1
    fi
done
SL_WINE=${SL_WINE:-}

T_NAME=$(basename "$0" .sh)
T_DIR="$SL_WORK/$T_NAME"
rm -rf "$T_DIR"
mkdir -p "$T_DIR"
# A pipe name no other test (or earlier run) uses.
T_PIPE="sluice-wine-${T_NAME#e2e_test_}-$$"
T_PIDS=()

log() { echo "[$T_NAME] $*"; }
fail() { echo "[$T_NAME] FAIL: $*" >&2; exit 1; }

# Kills whatever this test started and is still running.
cleanup() {
    local p
    for p in "${T_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

# Runs a Windows program in the foreground (stdin from /dev/null).
if [ -n "$SL_WINE" ]; then
    win() { "$SL_WINE" "$@" </dev/null; }
else
    win() { "$@" </dev/null; }
fi

# Starts a Windows program in the background; its Unix pid (Wine keeps the
# pid across its exec chain) goes to T_PIDS and LAST_PID. Output goes to
# $T_DIR/<tag>.out and .err; stdin comes from $WIN_STDIN (default
# /dev/null).
win_bg() {
    local tag=$1 in=${WIN_STDIN:-/dev/null}
    shift
    # 3<&-: a test may hold a FIFO open on fd 3; children must not, or
    # the reader never sees its end.
    if [ -n "$SL_WINE" ]; then
        "$SL_WINE" "$@" <"$in" >"$T_DIR/$tag.out" 2>"$T_DIR/$tag.err" 3<&- &
    else
        "$@" <"$in" >"$T_DIR/$tag.out" 2>"$T_DIR/$tag.err" 3<&- &
    fi
    LAST_PID=$!
    T_PIDS+=("$LAST_PID")
}

# Unix path -> the Windows path Wine maps it to (drive Z: is /).
winpath() {
    if [ -n "$SL_WINE" ]; then
        local p=$1
        echo "Z:${p//\//\\}"
    else
        echo "$1"
    fi
}

# Waits for background pid $1 (at most $2 seconds); sets WAIT_RC.
wait_pid() {
    local pid=$1 limit=${2:-120} i
    for ((i = 0; i < limit * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            set +e
            wait "$pid"
            WAIT_RC=$?
            set -e
            return 0
        fi
        sleep 0.1
    done
    fail "process $pid still running after ${limit}s"
}

# Starts the collector on T_PIPE writing $1 (a Unix path), extra args
# after; waits until its pipe exists. Sets COLLECTOR_PID.
start_collector() {
    local cap=$1
    shift
    win_bg collector "$SL_WIN_COLLECTOR" --pipe "$T_PIPE" \
        --out "$(winpath "$cap")" "$@"
    COLLECTOR_PID=$LAST_PID
    if ! win "$SL_WIN_PIPE_WAIT" "$T_PIPE" 30000; then
        cat "$T_DIR/collector.err" >&2 || true
        fail "collector did not create \\\\.\\pipe\\$T_PIPE"
    fi
    log "collector listening on \\\\.\\pipe\\$T_PIPE (pid $COLLECTOR_PID)"
}

# Waits for the collector to exit 0; prints and checks its summary line
# against $1 (a regular expression).
collector_done() {
    local want=$1 line
    wait_pid "$COLLECTOR_PID" 180
    line=$(tr -d '\r' <"$T_DIR/collector.out" | grep '^collector: ' || true)
    log "$line"
    if [ "$WAIT_RC" -ne 0 ]; then
        cat "$T_DIR/collector.err" >&2
        fail "collector exited with status $WAIT_RC"
    fi
    [[ "$line" =~ $want ]] || fail "collector summary '$line' does not match '$want'"
}

# The native Linux sluice-dump, required for the cross-platform check.
native_dump() {
    local d=${SL_NATIVE_BIN:-}
    if [ -z "$d" ] || [ ! -x "$d/collector/sluice-dump" ]; then
        fail "native sluice-dump not found in '${d}/collector': build the default preset first (scripts/test-windows.sh does)"
    fi
    "$d/collector/sluice-dump" "$@"
}

# Verifies capture $1 with both dumps; both lines must equal $2.
verify_both() {
    local cap=$1 want=$2 got
    got=$(native_dump "$cap" --verify) || fail "native sluice-dump --verify failed: $got"
    log "native: $got"
    [ "$got" = "$want" ] || fail "native verify '$got', wanted '$want'"
    got=$(win "$SL_WIN_DUMP" "$(winpath "$cap")" --verify | tr -d '\r') ||
        fail "sluice-dump.exe --verify failed: $got"
    log "wine:   $got"
    [ "$got" = "$want" ] || fail "sluice-dump.exe verify '$got', wanted '$want'"
}
