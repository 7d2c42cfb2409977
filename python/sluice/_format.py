"""The capture format of docs/capture-format.md, version 1: constants, the
CRC32C, and decoders for the file header, blocks and collector records.

Written from the document, not from the C reader. Everything that depends
on the format version sits here behind two seams, so that format version 2
(per-block compression, self-contained chunks, a time index) adds code
instead of changing it:

- ``READ_VERSIONS`` lists the read versions this module knows; a header
  names one, and ``parse_header`` refuses any other.
- ``BLOCK_DECODERS`` maps a block encoding to a function that turns the
  block's stored record area into the plain record bytes of section 6.
  Version 1 knows one encoding, 0 (stored as is); ``block_encoding``
  says which one a block uses (always 0 in version 1, where the field it
  would come from is reserved).
"""
import struct

FILE_MAGIC = b"\x89SLCAP\r\n"
BLOCK_MAGIC = b"SLBK"
READ_VERSIONS = (1,)
WRITE_VERSION = 1
HEADER_FIXED = 32
HEADER_MAX = 32 + 65535 + 65535
BLOCK_MIN = 32
BLOCK_MAX = 32 * 1024 * 1024
BLOCK_HEADER = 24
BLOCK_TRAILER = 8
RECORD_HEADER = 40

REC_CONNECT = 0xF001
REC_DISCONNECT = 0xF002
REC_DROP = 0xF003
REC_CLOSE = 0xF004
EVENT_TYPE_LIMIT = 0xF000  # types below are events

# Section 7.5: value -> (name, text). The numbers never change.
REASONS = {
    0: ("EOF", "end of stream"),
    1: ("RESET", "connection reset by peer"),
    2: ("FRAME_TOO_BIG", "frame length above max-frame"),
    3: ("FRAME_TOO_SMALL", "frame length below the 24-byte header"),
    4: ("BAD_TYPE", "reserved frame type"),
    5: ("BAD_FLAGS", "nonzero reserved flags"),
    6: ("BAD_HELLO", "malformed or missing hello frame"),
    7: ("TRUNCATED", "stream ended inside a frame"),
    8: ("LINE_TOO_LONG", "text line longer than max-frame"),
    9: ("READ_ERROR", "read error"),
    10: ("STOPPED", "collector stopped"),
    11: ("REFUSED", "too many producers"),
}
UNKNOWN_REASON = ("UNKNOWN", "unknown reason")
MODES = {1: "binary", 2: "text"}

_HEADER = struct.Struct("<8sHHIQHHI")
_BLOCK_HEAD = struct.Struct("<4sIQII")
_TRAILER = struct.Struct("<II")
_RECORD = struct.Struct("<IIHHIQQQ")
_CONNECT = struct.Struct("<IIBBH")
_DISCONNECT = struct.Struct("<QQQII")
_DROP = struct.Struct("<QQ")
_CLOSE = struct.Struct("<QQQQQ")


class FormatError(Exception):
    """The file is not a capture this module can read. ``code`` is one of
    "corrupt" (not a capture, bad header), "version" (too new) and
    "truncated" (cut inside its header), as in section 8, rule 1."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# ---- CRC32C (Castagnoli, reflected 0x82F63B78) -----------------------------

def _make_tables():
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for k in range(1, 8):
        prev = tables[k - 1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tables


_T = _make_tables()


def _crc32c_py(data, crc=0):
    """CRC32C of ``data`` (bytes-like); ``crc`` continues an earlier one.
    Slicing-by-8 in pure Python: a few MB/s."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    c = crc ^ 0xFFFFFFFF
    mv = memoryview(data).cast("B")
    n = len(mv)
    whole = n - n % 8
    if whole:
        for lo, hi in struct.iter_unpack("<II", mv[:whole]):
            lo ^= c
            c = (t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^
                 t4[lo >> 24] ^ t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^
                 t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24])
    for b in mv[whole:]:
        c = t0[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _fast_crc32c():
    # Debian's python3-crcmod has a C extension (hundreds of MB/s); it is
    # optional, and SLUICE_PY_PURE_CRC=1 forces the pure Python one.
    import os
    if os.environ.get("SLUICE_PY_PURE_CRC") == "1":
        return None
    try:
        import crcmod.predefined
        f = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
    except Exception:  # not installed, or no such name in this version
        return None
    return f if f(b"123456789") == 0xE3069283 else None


crc32c = _fast_crc32c() or _crc32c_py
CRC32C_IMPL = "crcmod" if crc32c is not _crc32c_py else "python"


# ---- file header (section 3, rule 1) ----------------------------------------

class Header:
    """The file header's fields."""

    __slots__ = ("read_version", "write_version", "header_len", "start_ns",
                 "pipe", "host")

    def __init__(self, read_version, write_version, header_len, start_ns,
                 pipe, host):
        self.read_version = read_version
        self.write_version = write_version
        self.header_len = header_len
        self.start_ns = start_ns
        self.pipe = pipe
        self.host = host

    def __repr__(self):
        return ("Header(read_version=%d, write_version=%d, start_ns=%d, "
                "pipe=%r, host=%r)" % (self.read_version, self.write_version,
                                       self.start_ns, self.pipe, self.host))


def header_len_needed(prefix):
    """How many bytes the header needs, from at least its first 32 bytes
    (or None when fewer are at hand)."""
    if len(prefix) < HEADER_FIXED:
        return None
    return struct.unpack_from("<I", prefix, 12)[0]


def parse_header(data, file_size):
    """Checks rule 1 on ``data`` (the file's first bytes, at least
    min(file_size, HEADER_MAX)) and returns a Header. Raises FormatError."""
    n = min(len(data), file_size)
    if n < 8:
        if data[:n] == FILE_MAGIC[:n]:
            raise FormatError("truncated", "file ends inside its header")
        raise FormatError("corrupt", "not a sluice capture (bad magic)")
    if data[:8] != FILE_MAGIC:
        raise FormatError("corrupt", "not a sluice capture (bad magic)")
    if n < 12:
        raise FormatError("truncated", "file ends inside its header")
    read_version, write_version = struct.unpack_from("<HH", data, 8)
    if read_version == 0:
        raise FormatError("corrupt", "read version 0")
    if read_version not in READ_VERSIONS:
        raise FormatError("version", "written in capture format read "
                          "version %d; this reader knows %s" %
                          (read_version, ", ".join(map(str, READ_VERSIONS))))
    if n < HEADER_FIXED:
        raise FormatError("truncated", "file ends inside its header")
    (_, _, _, header_len, start_ns, pipe_len, host_len,
     header_crc) = _HEADER.unpack_from(data, 0)
    need = HEADER_FIXED + pipe_len + host_len
    if write_version <= 1:
        if header_len != need:
            raise FormatError("corrupt", "bad header length")
    elif header_len < need or header_len > HEADER_MAX:
        raise FormatError("corrupt", "bad header length")
    if n < header_len:
        raise FormatError("truncated", "file ends inside its header")
    zeroed = bytearray(data[:header_len])
    zeroed[28:32] = b"\0\0\0\0"
    if crc32c(zeroed) != header_crc:
        raise FormatError("corrupt", "header checksum mismatch")
    pipe = bytes(data[32:32 + pipe_len]).decode("utf-8", "replace")
    host = bytes(data[32 + pipe_len:need]).decode("utf-8", "replace")
    return Header(read_version, write_version, header_len, start_ns, pipe,
                  host)


# ---- blocks (section 5, rule 2) ---------------------------------------------

def block_encoding(head):
    """The encoding of a block from its 24-byte header: 0 in version 1
    (offset 20 is reserved there). Version 2 decides it here."""
    return 0


def _decode_stored(records, record_count):
    return records


# encoding -> f(record area bytes, record_count) -> plain record bytes,
# or None when the area does not decode (the block is then damage).
BLOCK_DECODERS = {0: _decode_stored}


def block_length(data, off):
    """(block_len, plausible) for a block header at ``off``; plausible is
    True when the magic matches and the length is in range and a multiple
    of 8 (the block may still reach past the end of the data)."""
    if data[off:off + 4] != BLOCK_MAGIC or off + 8 > len(data):
        return 0, False
    blen = struct.unpack_from("<I", data, off + 4)[0]
    return blen, (blen % 8 == 0 and BLOCK_MIN <= blen <= BLOCK_MAX)


def check_block(block):
    """Rule 2 for one whole block (``block`` holds exactly block_len bytes).
    Returns (block_seq, list of record tuples) or None when it is not a
    valid block. A record tuple is (type, flags, producer, seq,
    producer_ns, collector_ns, payload bytes, offset in block)."""
    blen = len(block)
    if blen < BLOCK_MIN or blen % 8 or block[:4] != BLOCK_MAGIC:
        return None
    magic, hlen, block_seq, count, _ = _BLOCK_HEAD.unpack_from(block, 0)
    if hlen != blen:
        return None
    crc, tlen = _TRAILER.unpack_from(block, blen - 8)
    if tlen != blen or crc32c(memoryview(block)[:blen - 8]) != crc:
        return None
    decode = BLOCK_DECODERS.get(block_encoding(block[:BLOCK_HEADER]))
    if decode is None:
        return None
    area = decode(bytes(block[BLOCK_HEADER:blen - BLOCK_TRAILER]), count)
    if area is None:
        return None
    recs = []
    off, end = 0, len(area)
    while off < end:
        if off + RECORD_HEADER > end:
            return None
        (size, plen, rtype, flags, producer, seq, producer_ns,
         collector_ns) = _RECORD.unpack_from(area, off)
        if size % 8 or size < RECORD_HEADER or plen > size - RECORD_HEADER \
                or off + size > end:
            return None
        recs.append((rtype, flags, producer, seq, producer_ns, collector_ns,
                     area[off + RECORD_HEADER:off + RECORD_HEADER + plen],
                     BLOCK_HEADER + off))
        off += size
    if len(recs) != count:
        return None
    return block_seq, recs


# ---- collector records (section 7) ------------------------------------------

def decode_connect(p):
    """(pid, uid or None, mode, name bytes) or None when invalid."""
    if len(p) < 12:
        return None
    pid, uid, mode, _, name_len = _CONNECT.unpack_from(p, 0)
    if 12 + name_len > len(p):
        return None
    return pid, (None if uid == 0xFFFFFFFF else uid), mode, p[12:12 + name_len]


def decode_disconnect(p):
    if len(p) < 32:
        return None
    return _DISCONNECT.unpack_from(p, 0)


def decode_drop(p):
    if len(p) < 16:
        return None
    return _DROP.unpack_from(p, 0)


def decode_close(p):
    if len(p) < 40:
        return None
    return _CLOSE.unpack_from(p, 0)
