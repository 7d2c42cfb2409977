#!/usr/bin/env python3
"""A sluice producer in plain Python: the socket module and text lines.

What any text client does (docs/protocol.md, sections 2, 4 and 7):
  1. connect to the collector's Unix socket at $TMPDIR/CoreFxPipe_NAME
     (TMPDIR defaults to /tmp; a NAME containing '/' is the path itself);
  2. read the greeting up to its NUL byte ("SLUICE/1 max=... id=...");
  3. send lines; each line ending in '\\n' is one event;
  4. close. The collector records the producer as finished.
If the collector goes away first, sending fails with EPIPE (BrokenPipeError)
or ECONNRESET: the script says so and exits 1.

Usage: text_lines.py NAME [COUNT]
  COUNT lines "python text event I" (default 1000); 0 = until the collector
  goes away. Prints "python-text: id=K lines=N" and exits 0 when all were sent.
"""
import os
import socket
import sys


def pipe_path(name):
    if "/" in name:
        return name
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, "CoreFxPipe_" + name)


def read_greeting(sock):
    """Returns the greeting's fields as a dict; exits if there is none."""
    data = b""
    while b"\0" not in data:
        chunk = sock.recv(64)
        if not chunk:
            sys.exit("python-text: connection closed before the greeting")
        data += chunk
        if len(data) >= 64 and b"\0" not in data:
            sys.exit("python-text: not a sluice collector (no greeting)")
    text = data.split(b"\0", 1)[0].decode("ascii")
    words = text.split(" ")
    fields = dict(w.split("=", 1) for w in words[1:])
    if words[0] != "SLUICE/1" or "error" in fields or "max" not in fields:
        sys.exit("python-text: refused or not a sluice collector: %r" % text)
    return fields


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and not sys.argv[2].isdigit()):
        print("usage: text_lines.py NAME [COUNT]", file=sys.stderr)
        return 2
    name = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 1000

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(pipe_path(name))
    except OSError as e:
        print("python-text: cannot connect to %s: %s" % (pipe_path(name), e.strerror),
              file=sys.stderr)
        return 1
    fields = read_greeting(sock)
    max_line = int(fields["max"])  # the largest line accepted, '\n' included

    sent = 0
    try:
        while count == 0 or sent < count:
            # Batches of lines in one sendall: one system call per batch.
            end = sent + 1000 if count == 0 else min(count, sent + 1000)
            lines = ["python text event %d\n" % i for i in range(sent, end)]
            batch = "".join(lines).encode()
            if max(len(l) for l in lines) > max_line:
                sys.exit("python-text: line longer than max=%d" % max_line)
            sock.sendall(batch)  # blocks while the collector applies backpressure
            sent = end
    except (BrokenPipeError, ConnectionResetError) as e:
        print("python-text: the collector closed the connection (%s); %d lines sent"
              % (e.strerror, sent), file=sys.stderr)
        return 1
    sock.close()
    print("python-text: id=%s lines=%d" % (fields.get("id", "?"), sent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
