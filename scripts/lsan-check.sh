#!/usr/bin/env bash
# Checks that LeakSanitizer works on this machine before a test run relies
# on it. Usage: scripts/lsan-check.sh [CC]   (default: cc)
#
# LeakSanitizer stops the process's threads with ptrace(2) to scan their
# memory. Where ptrace is refused it cannot run, and then every ASan-built
# program ends with "LeakSanitizer has encountered a fatal error" and exit
# status 1 instead of its own result. That happens when the process is
# already traced (strace, gdb, some CI runners), under Yama ptrace_scope 3,
# or in a container or sandbox whose seccomp profile denies ptrace.
#
# Prints the ASAN_OPTIONS fragment to use on stdout: "detect_leaks=1" when
# leak checking works. When it does not, explains why on stderr and exits
# 1, unless SLUICE_ALLOW_NO_LSAN=1 is set: then it prints "detect_leaks=0"
# and a warning that leaks go unchecked, and exits 0. Never silently.
set -euo pipefail
cc=${1:-cc}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-lsan.XXXXXX")
trap 'rm -rf "$dir"' EXIT

cat >"$dir/leak.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
int
main(void)
{
    char *p = malloc(4242);
    memset(p, 1, 4242);
    p = NULL; /* the only pointer is gone: a definite leak */
    return p != NULL;
}
EOF
if ! "$cc" -fsanitize=address -g -O0 "$dir/leak.c" -o "$dir/leak" 2>"$dir/cc.err"; then
  cat "$dir/cc.err" >&2
  echo "lsan-check: $cc cannot build with -fsanitize=address" >&2
  exit 1
fi
ASAN_OPTIONS=detect_leaks=1 "$dir/leak" >"$dir/out" 2>&1 || true

if grep -q "LeakSanitizer: detected memory leaks" "$dir/out" &&
   grep -q "4242 byte" "$dir/out"; then
  echo "detect_leaks=1"
  exit 0
fi

{
  echo "lsan-check: LeakSanitizer does not work here ($cc); its output was:"
  sed 's/^/  | /' "$dir/out"
  tracer=$(awk '/^TracerPid:/ {print $2}' /proc/self/status 2>/dev/null || echo "?")
  seccomp=$(awk '/^Seccomp:/ {print $2}' /proc/self/status 2>/dev/null || echo "?")
  scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo "absent")
  echo "lsan-check: TracerPid=$tracer (non-zero: this shell runs under a debugger or strace)"
  echo "lsan-check: Seccomp=$seccomp (2: a seccomp filter, which may deny ptrace)"
  echo "lsan-check: kernel.yama.ptrace_scope=$scope (3 forbids ptrace entirely)"
  echo "lsan-check: fix: run outside strace/gdb; in Docker use --cap-add=SYS_PTRACE"
  echo "lsan-check: or --security-opt seccomp=unconfined; or set SLUICE_ALLOW_NO_LSAN=1"
  echo "lsan-check: to run the ASan tests without leak checking (reported as such)."
} >&2
if [ "${SLUICE_ALLOW_NO_LSAN:-0}" = 1 ]; then
  echo "lsan-check: WARNING: SLUICE_ALLOW_NO_LSAN=1: leaks are NOT checked in this run" >&2
  echo "detect_leaks=0"
  exit 0
fi
exit 1
