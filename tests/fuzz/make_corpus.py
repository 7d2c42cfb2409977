#!/usr/bin/env python3
"""Regenerates the fuzzers' seed corpora in tests/fuzz/corpus/.

Usage: tests/fuzz/make_corpus.py BUILD_DIR

Every seed starts with the target's 4-byte control header (README.md in
this directory). The seeds are
  - the worked examples of docs/protocol.md and docs/capture-format.md
    (tests/fixtures/), whole, cut short and with a damaged byte;
  - what the real sluice-producer sends (binary and text mode), recorded
    by a socket server here that sends the greeting and keeps the bytes;
  - captures written by the real sluice-collector (binary, text and
    malformed producers);
  - captures encoded here from docs/capture-format.md with the records a
    short real run rarely writes: drop records, a later write version with
    extra header bytes and longer collector payloads, an empty block;
  - a few hand-made streams for each violation of protocol section 6.4/7,
    and greetings (valid, a refusal, a later minor and major version).
The files are small on purpose: libFuzzer's default input limit follows
the largest seed, and short inputs run fast.
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(SRC, "tests", "fixtures")
WIRE = os.path.join(HERE, "corpus", "wire")
CAPTURE = os.path.join(HERE, "corpus", "capture")

MAGIC = b"\x89SLU\r\n\x1a\n"


def wire_ctrl(max_frame=None, chunk_log2=0, ev_cap=1, buf_log2=16):
    """max_frame None = the collector's default (1 MiB), else 64..32831."""
    mf = 0x8000 if max_frame is None else max_frame - 64
    return struct.pack("<HBB", mf, (chunk_log2 & 15) | ((ev_cap - 1) << 4),
                       buf_log2)


def cap_ctrl(follow=False, fixup=False, split=0):
    return struct.pack("<BHB", (1 if follow else 0) | (2 if fixup else 0),
                       split, 0)


def frame(length, ftype, seq=0, ts=0, payload=b"", flags=0):
    return struct.pack("<IHHQQ", length, ftype, flags, seq, ts) + payload


def hello(name=b"fz", pid=4242):
    body = struct.pack("<IHH", pid, len(name), 0) + name
    return MAGIC + frame(24 + len(body), 0xFF00, payload=body)


def event(seq, payload, ftype=1):
    return frame(24 + len(payload), ftype, seq, 1000 + seq, payload)


def put(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def record_producer(producer, args):
    """Runs the real sluice-producer against a server that sends a greeting
    and returns every byte the producer wrote."""
    tmp = tempfile.mkdtemp(prefix="sluice-corpus.")
    path = os.path.join(tmp, "CoreFxPipe_rec")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = []

    def serve():
        conn, _ = srv.accept()
        conn.sendall(b"SLUICE/1 max=1048576 id=1\0")
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got.append(chunk)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    subprocess.run([producer, "--pipe", path] + args, check=True,
                   stdout=subprocess.DEVNULL,
                   input=b"first line\nsecond\r\n\nlast" if "--stdin" in args
                   else None)
    t.join(10)
    srv.close()
    shutil.rmtree(tmp)
    return b"".join(got)


def collector_capture(build, clients, extra=()):
    """Runs the real collector until len(clients) producers have ended;
    each client is a function(pipe_path). Returns the capture's bytes."""
    collector = os.path.join(build, "collector", "sluice-collector")
    tmp = tempfile.mkdtemp(prefix="sluice-corpus.")
    out = os.path.join(tmp, "c.sluice")
    pipe = os.path.join(tmp, "CoreFxPipe_c")
    proc = subprocess.Popen(
        [collector, "--pipe", pipe, "--out", out, "--exit-after",
         str(len(clients)), "--workers", "1"] + list(extra),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        if os.path.exists(pipe) or proc.poll() is not None:
            break
        time.sleep(0.025)
    if not os.path.exists(pipe):
        sys.exit("make_corpus: the collector did not start")
    for client in clients:
        client(pipe)
    proc.wait(60)
    data = read(out)
    shutil.rmtree(tmp)
    return data


def raw_client(payload):
    def run(pipe):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(pipe)
        try:
            s.sendall(payload)
        except OSError:
            pass
        s.close()
    return run


def producer_client(build, args):
    producer = os.path.join(build, "producer", "sluice-producer")

    def run(pipe):
        subprocess.run([producer, "--pipe", pipe] + args, check=True,
                       stdout=subprocess.DEVNULL)
    return run


def wire_seeds(build):
    example = read(os.path.join(FIXTURES, "protocol-example.bin"))
    seeds = {
        "example-oneshot": wire_ctrl(None, 15, 16, 16) + example,
        "example-bytewise": wire_ctrl(None, 0, 1, 4) + example,
        "example-chunks": wire_ctrl(64, 3, 2, 5) + example,
        "example-cut": wire_ctrl(None, 2, 3, 6) + example[:57],
        "text-crlf": wire_ctrl(None, 1, 2, 6) + b"hi\r\nthere",
        "text-lines": wire_ctrl(64, 2, 1, 3) + b"hi\nthere\n\n\r\n\ra\rb\n",
        "text-long-line": wire_ctrl(64, 4, 1, 5) + b"x" * 70 + b"\n",
        "text-final-at-limit": wire_ctrl(64, 3, 1, 6) + b"y" * 63,
        "text-magic-prefix": wire_ctrl(None, 0, 1, 4) + b"\x89SLU\r\nno\n",
        "text-undecided": wire_ctrl(None, 0, 3, 4) + b"\x89SLU\r",
        "text-nul-utf8": wire_ctrl(None, 1, 1, 6) + b"a\0b\n\xff\xfe\xc0\n",
        "bin-magic-only": wire_ctrl(None, 0, 1, 4) + MAGIC,
        "bin-len-0": wire_ctrl(None, 2, 1, 6) + hello() + frame(0, 1),
        "bin-len-max1": wire_ctrl(64, 2, 1, 6) + hello() +
                        struct.pack("<I", 65) + b"\1\0\0\0",
        "bin-len-ffff": wire_ctrl(None, 2, 1, 6) + hello() + b"\xff" * 8,
        "bin-bad-type": wire_ctrl(None, 3, 2, 6) + hello() + event(0, b"a") +
                        frame(25, 0xF001, 1, 0, b"b"),
        "bin-bad-flags": wire_ctrl(None, 3, 2, 6) + hello() +
                         frame(25, 1, 0, 0, b"b", flags=1),
        "bin-bad-hello": wire_ctrl(None, 1, 1, 6) + MAGIC +
                         frame(32 + 3, 0xFF00, payload=struct.pack(
                             "<IHH", 1, 300, 0) + b"abc"),
        "bin-truncated": wire_ctrl(None, 1, 2, 6) + hello() +
                         event(0, b"abc")[:20],
        "greeting": wire_ctrl() + b"SLUICE/1 max=1048576 id=1\0",
        "greeting-refusal": wire_ctrl() +
                            b"SLUICE/1 error=too-many-producers\0",
        "greeting-later": wire_ctrl() + b"SLUICE/1.7 id=009 max=64 x-y=z",
        "greeting-v2": wire_ctrl() + b"SLUICE/2 max=1 id=1\0",
        "bin-many": wire_ctrl(128, 5, 4, 7) + hello(b"") + b"".join(
            event(i, bytes([65 + i]) * i) for i in range(12)),
    }
    if build:
        producer = os.path.join(build, "producer", "sluice-producer")
        seeds["producer-binary"] = wire_ctrl(None, 6, 8, 8) + record_producer(
            producer, ["--count", "6", "--size", "12", "--name", "fz"])
        seeds["producer-text"] = wire_ctrl(None, 2, 2, 6) + record_producer(
            producer, ["--stdin", "--text"])
    for name, data in seeds.items():
        put(WIRE, name, data)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def cap_header(pipe=b"fz", host=b"box", write_version=1, extra=b""):
    h = bytearray(b"\x89SLCAP\r\n" + struct.pack(
        "<HHIQHHI", 1, write_version, 32 + len(pipe) + len(host) + len(extra),
        1700000000000000000, len(pipe), len(host), 0) + pipe + host + extra)
    h[28:32] = struct.pack("<I", crc32c(bytes(h)))
    return bytes(h)


def cap_record(rtype, producer, payload, seq=0):
    size = (40 + len(payload) + 7) & ~7
    return (struct.pack("<IIHHIQQQ", size, len(payload), rtype, 0, producer,
                        seq, 0, 1700000000001000000) + payload +
            b"\0" * (size - 40 - len(payload)))


def cap_block(seq, records):
    body = b"".join(records)
    length = 24 + len(body) + 8
    blk = struct.pack("<4sIQII", b"SLBK", length, seq, len(records), 0) + body
    return blk + struct.pack("<II", crc32c(blk), length)


def synthetic_capture(write_version=1, extra=b"", tail=b""):
    connect = struct.pack("<IIBBH", 7, 1000, 1, 0, 2) + b"fz" + tail
    disconnect = struct.pack("<QQQII", 2, 6, 3, 0, 0) + tail
    return (cap_header(write_version=write_version, extra=extra) +
            cap_block(0, [cap_record(0xF001, 1, connect),
                          cap_record(1, 1, b"abc", 0),
                          cap_record(0xF003, 1, struct.pack("<QQ", 3, 9) +
                                     tail),
                          cap_record(1, 1, b"xyz", 4)]) +
            cap_block(1, []) +
            cap_block(2, [cap_record(0xF002, 1, disconnect),
                          cap_record(0xF0FF, 1, b"unknown")]) +
            cap_block(3, [cap_record(0xF004, 0, struct.pack(
                "<QQQQQ", 1, 2, 6, 3, 0) + tail)]))


def index_payload():
    t = 1700000000000000000
    return (struct.pack("<IIIIQ", 2, 40, 1, 0, 2) +
            struct.pack("<QQQQII", 0x60, t, t + 9, 11, 1, 1) +
            struct.pack("<QQQQII", 0x4B0, t + 10, t + 19, 10, 1, 0))


def capture_seeds(build):
    example = read(os.path.join(FIXTURES, "capture-example.sluice"))
    damaged = bytearray(example)
    damaged[100] ^= 0x40
    seeds = {
        "example": cap_ctrl() + example,
        "example-follow-300": cap_ctrl(True, False, 300) + example,
        "example-follow-20": cap_ctrl(True, False, 20) + example,
        "example-fixup": cap_ctrl(False, True) + example,
        "example-torn-300": cap_ctrl() + example[:300],
        "example-header-only": cap_ctrl() + example[:39],
        "example-header-cut": cap_ctrl() + example[:20],
        "example-damaged": cap_ctrl() + bytes(damaged),
        "example-damaged-fixup": cap_ctrl(False, True) + bytes(damaged),
        "synthetic-drop": cap_ctrl() + synthetic_capture(),
        "synthetic-v2-follow": cap_ctrl(True, False, 150) + synthetic_capture(
            2, b"later", b"\1\2\3\4\5\6\7\x08"),
        # A time index payload (capture-format.md 15.5, its worked
        # example), control bit 2, checked against a first block at 0x60.
        "index-payload": struct.pack("<BHB", 4, 0x60, 0) + index_payload(),
    }
    if build:
        seeds["collector-binary-text"] = cap_ctrl() + collector_capture(
            build, [producer_client(build, ["--count", "3", "--size", "8",
                                            "--name", "fz"]),
                    raw_client(b"hello\nworld\r\nlast")])
        seeds["collector-malformed"] = cap_ctrl(True, False, 200) + \
            collector_capture(build, [
                raw_client(hello() + event(0, b"ok") + frame(0, 1)),
                raw_client(b"z" * 80),
                raw_client(hello()[:20])], ["--max-frame", "64"])
    for name, data in seeds.items():
        put(CAPTURE, name, data)


def main():
    build = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
    for d in (WIRE, CAPTURE):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
    wire_seeds(build)
    capture_seeds(build)


if __name__ == "__main__":
    main()
