#!/usr/bin/env bash
# Clients that are not polite: one that shuts down its receive side before
# the greeting (.NET PipeDirection.Out), one that never reads the greeting
# and closes (the collector may see ECONNRESET after the data), one that
# surely resets after its data (greeting arrived, left unread: the
# disconnect reason is RESET, its events kept, its final unterminated line
# too, not malformed), one whose last
# line has no newline, one that sends in 1-byte writes, and one that
# connects and leaves without a byte (not a producer: no trace, not
# counted). All data arrives; none is "malformed".
source "$(dirname "$0")/lib.sh"
for b in $(backends); do
  note "backend $b"
  cap=$WORK/cl-$b.sluice
  start_collector "c-$b" --pipe "cl-$b" --out "$cap" --exit-after 5 --backend "$b"
  path=$WORK/CoreFxPipe_cl-$b
  python3 "$CLIENTS/text_client.py" "$path" --lines 2000 --shutdown-read --prefix wo &
  python3 "$CLIENTS/text_client.py" "$path" --lines 2000 --no-read --prefix rst &
  python3 "$CLIENTS/text_client.py" "$path" --lines 10 --no-final-newline --prefix nonl &
  python3 "$CLIENTS/text_client.py" "$path" --lines 30 --reset --no-final-newline --prefix reset &
  python3 "$CLIENTS/text_client.py" "$path" --lines 50 --chunk 1 --prefix tiny &
  python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()" "$path" &
  wait_collector "c-$b"
  wait
  expect_line "$WORK/c-$b.out" "$(grep '^collector:' "$WORK/c-$b.out" | grep 'producers=5 events=4090 .* malformed=0$')"
  expect_verify "$cap" "verify: producers=5 events=4090 gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
  "$DUMP" "$cap" >"$WORK/cl-$b.txt"
  grep -q "nonl 9$" "$WORK/cl-$b.txt" || fail "final line without newline lost"
  grep -q "wo 1999$" "$WORK/cl-$b.txt" || fail "write-only client's data lost"
  grep -q "rst 1999$" "$WORK/cl-$b.txt" || fail "never-reading client's data lost"
  grep -q "reset 29$" "$WORK/cl-$b.txt" || fail "a reset client's final line lost"
  grep -q "^--- disconnect .* events=30 .* reason=RESET (connection reset by peer)$" "$WORK/cl-$b.txt" ||
    { grep '^--- disconnect' "$WORK/cl-$b.txt" >&2; fail "no RESET disconnect for the client that reset after its data"; }
done
echo "ok"
