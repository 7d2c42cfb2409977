#!/usr/bin/env python3
"""A plain text client that knows nothing of sluice beyond "connect and write
lines": Python's socket module, as a user's script would do it.

text_client.py PATH --lines N [--prefix P] [--no-read] [--shutdown-read]
               [--crlf] [--no-final-newline] [--chunk BYTES]
--no-read:        never read the greeting (the collector sees ECONNRESET
                  when we close with it unread).
--reset:          wait until the greeting has arrived, leave it unread, send
                  and close: the collector surely sees ECONNRESET after
                  the data (a peer reset after data, reason RESET).
--shutdown-read:  shut down our receive side first, like .NET's
                  NamedPipeClientStream with PipeDirection.Out.
--hold:           after sending, stay connected until the collector closes
                  the connection (an idle producer at stop time).
"""
import argparse
import select
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--lines", type=int, default=10)
    ap.add_argument("--prefix", default="line")
    ap.add_argument("--no-read", action="store_true")
    ap.add_argument("--reset", action="store_true")
    ap.add_argument("--shutdown-read", action="store_true")
    ap.add_argument("--crlf", action="store_true")
    ap.add_argument("--no-final-newline", action="store_true")
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--hold", action="store_true")
    a = ap.parse_args()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.path)
    if a.reset:
        if not select.select([s], [], [], 30)[0]:
            sys.exit("no greeting within 30 s")
    elif a.shutdown_read:
        s.shutdown(socket.SHUT_RD)
    elif not a.no_read:
        greeting = b""
        while not greeting.endswith(b"\0"):
            b = s.recv(1)
            if not b:
                sys.exit("connection closed before the greeting ended")
            greeting += b
        if not greeting.startswith(b"SLUICE/1 "):
            sys.exit("unexpected greeting %r" % greeting)
    eol = "\r\n" if a.crlf else "\n"
    data = "".join("%s %d%s" % (a.prefix, i, eol) for i in range(a.lines)).encode()
    if a.no_final_newline and data.endswith(eol.encode()):
        data = data[: -len(eol)]
    for i in range(0, len(data), a.chunk):
        s.sendall(data[i : i + a.chunk])
    if a.hold:
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
    s.close()


if __name__ == "__main__":
    main()
