"""The capture format of docs/capture-format.md, versions 1 and 2:
constants, the CRC32C and SipHash-2-4, and decoders for the file header,
blocks and collector records.

Written from the document, not from the C reader. What depends on the
format version sits behind small seams:

- ``READ_VERSIONS`` lists the read versions this module knows; a header
  names one, and ``parse_header`` refuses any other.
- ``block_format(header)`` gives the object that finds and checks blocks
  of that version (``BlocksV1``: "SLBK" blocks checked by their CRC32C;
  ``BlocksV2``: "SLB2" blocks whose 64-byte header is checked first by
  its keyed tag, section 15).
- ``CODECS`` maps a version 2 block codec to its decoder: 0 stored, 1 lz4
  (python3-lz4), 2 zstd (python3-zstandard), each imported only when a
  capture uses it.
"""
import struct

FILE_MAGIC = b"\x89SLCAP\r\n"
BLOCK_MAGIC = b"SLBK"
READ_VERSIONS = (1, 2)
WRITE_VERSION = 2
HEADER_FIXED = 32
HEADER_FIXED_V2 = 80
BLOCK_MAGIC_V2 = b"SLB2"
BLOCK_HEADER_V2 = 64
BLOCK_STORED_MAX = 33554360
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
REC_LIVE = 0xF005  # a rotated chunk's preamble: a live producer (section 16.2)
REC_TRIGGER = 0xF007  # a flight-recorder trigger: where it fell (section 7.6)
REC_INDEX = 0xF006  # the time index before the close block (section 15.5)
REC_STATE = 0xF020  # the control plane's state (configuration, enabled types)
STATE_TYPES = 0xF000
STATE_FIXED = 16 + STATE_TYPES // 8
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
    12: ("IDLE", "did not identify itself within --idle-timeout"),
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
    """The file header's fields. Version 2 adds ``capture_id`` (16 bytes,
    the same in every chunk of a capture), ``chunk`` (1, 2, ...) and
    ``kind`` (0 capture chunk, 1 flight-recorder snapshot); for version 1
    they are None, 1 and 0. The block key stays private (``_key``)."""

    __slots__ = ("read_version", "write_version", "header_len", "start_ns",
                 "pipe", "host", "capture_id", "chunk", "kind", "_key")

    def __init__(self, read_version, write_version, header_len, start_ns,
                 pipe, host, capture_id=None, chunk=1, kind=0, key=None):
        self.read_version = read_version
        self.write_version = write_version
        self.header_len = header_len
        self.start_ns = start_ns
        self.pipe = pipe
        self.host = host
        self.capture_id = capture_id
        self.chunk = chunk
        self.kind = kind
        self._key = key

    @property
    def capture(self):
        """What identifies the collector run: the capture id (version 2),
        or the start time (version 1)."""
        return self.capture_id if self.capture_id is not None else \
            self.start_ns

    def __repr__(self):
        return ("Header(read_version=%d, write_version=%d, start_ns=%d, "
                "pipe=%r, host=%r, chunk=%d)" % (
                    self.read_version, self.write_version, self.start_ns,
                    self.pipe, self.host, self.chunk))


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
    fixed = HEADER_FIXED if read_version == 1 else HEADER_FIXED_V2
    if n < fixed:
        raise FormatError("truncated", "file ends inside its header")
    (_, _, _, header_len, start_ns, pipe_len, host_len,
     header_crc) = _HEADER.unpack_from(data, 0)
    need = fixed + pipe_len + host_len
    if write_version <= read_version:
        if header_len != need:
            raise FormatError("corrupt", "bad header length")
    elif header_len < need or header_len > fixed + 2 * 65535:
        raise FormatError("corrupt", "bad header length")
    if n < header_len:
        raise FormatError("truncated", "file ends inside its header")
    zeroed = bytearray(data[:header_len])
    zeroed[28:32] = b"\0\0\0\0"
    if crc32c(zeroed) != header_crc:
        raise FormatError("corrupt", "header checksum mismatch")
    pipe = bytes(data[fixed:fixed + pipe_len]).decode("utf-8", "replace")
    host = bytes(data[fixed + pipe_len:need]).decode("utf-8", "replace")
    if read_version == 1:
        return Header(read_version, write_version, header_len, start_ns,
                      pipe, host)
    key, capture_id = bytes(data[32:48]), bytes(data[48:64])
    chunk, kind = struct.unpack_from("<QI", data, 64)
    return Header(read_version, write_version, header_len, start_ns, pipe,
                  host, capture_id, chunk, kind, key)


# ---- SipHash-2-4 (Aumasson and Bernstein), for version 2's block tags -------

_M64 = (1 << 64) - 1


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & _M64


def siphash24(key, msg):
    """SipHash-2-4 of ``msg`` under the 16-byte ``key``, as an integer."""
    k0, k1 = struct.unpack("<QQ", key)
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rounds(v0, v1, v2, v3, n):
        for _ in range(n):
            v0 = (v0 + v1) & _M64
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _M64
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _M64
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _M64
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    n = len(msg)
    whole = n - n % 8
    for (m,) in struct.iter_unpack("<Q", msg[:whole]):
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    last = int.from_bytes(bytes(msg[whole:]) + b"\0" * (7 - n % 8), "little") \
        | ((n & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


# ---- codecs (version 2, section 15.2) ----------------------------------------

class CodecMissing(Exception):
    """The Python module for a block's codec is not installed."""


def _lz4(stored, raw_len):
    try:
        import lz4.block
    except ImportError as e:
        raise CodecMissing("lz4 (Debian: python3-lz4)") from e
    try:
        return lz4.block.decompress(stored, uncompressed_size=raw_len)
    except Exception:  # lz4.block.LZ4BlockError and friends
        return None


def _zstd(stored, raw_len):
    try:
        import zstandard
    except ImportError as e:
        raise CodecMissing("zstd (Debian: python3-zstandard)") from e
    try:
        return zstandard.ZstdDecompressor().decompress(
            stored, max_output_size=raw_len)
    except Exception:  # zstandard.ZstdError
        return None


# codec -> f(stored bytes, raw_len) -> decoded bytes, or None when they do
# not decode. Raises CodecMissing when its module is not installed.
CODECS = {0: lambda stored, raw_len: stored, 1: _lz4, 2: _zstd}


# ---- blocks (section 5, rule 2; section 15.2, 15.3) -----------------------------

def parse_records(area, count, base):
    """The records of a block's record area (rule 2's record rules), as
    tuples (type, flags, producer, seq, producer_ns, collector_ns,
    payload, offset in the block), or None when they are not exactly
    ``count`` well-formed records. ``base``: the area's offset in the
    block."""
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
                     base + off))
        off += size
    if len(recs) != count:
        return None
    return recs


class BlocksV1:
    """Version 1 blocks: "SLBK", a 24-byte header, checked by CRC32C."""
    magic = BLOCK_MAGIC
    head_len = 8  # what start() needs to see

    def __init__(self, header):
        self.header = header

    def start(self, head, off, size):
        """(block_len, partial) for the bytes ``head`` at file offset off:
        block_len > 0 when a block starts there (version 1: the magic and a
        plausible length); partial when it reaches past ``size``."""
        blen, plausible = block_length(head, 0)
        if not plausible:
            return 0, False
        return blen, off + blen > size

    def check(self, block, off):
        return check_block(block)


class BlocksV2:
    """Version 2 blocks: "SLB2", a 64-byte header with a keyed tag; only a
    header whose tag verifies is a block start (section 15.4)."""
    magic = BLOCK_MAGIC_V2
    head_len = BLOCK_HEADER_V2

    def __init__(self, header):
        self.header = header
        self.key = header._key
        self.missing = set()  # codecs whose modules are not installed

    def start(self, head, off, size):
        if head[:4] != BLOCK_MAGIC_V2:
            return 0, False
        if len(head) < BLOCK_HEADER_V2:
            return 0, True  # the magic, and a header cut short
        (_, blen, _, _, stored, raw, codec) = struct.unpack_from(
            "<4sIQIIIB", head, 0)
        if blen % 8 or blen > BLOCK_MAX or stored > BLOCK_STORED_MAX or \
                raw > BLOCK_STORED_MAX or \
                blen != 64 + (stored + 7) // 8 * 8 + 8 or codec not in (0, 1, 2) \
                or (codec == 0 and raw != stored):
            return 0, False
        tag = struct.unpack_from("<Q", head, 56)[0]
        if siphash24(self.key, struct.pack("<Q", off) + bytes(head[:56])) != tag:
            return 0, False
        return blen, off + blen > size

    def check(self, block, off):
        blen = len(block)
        (_, hlen, block_seq, count, stored, raw, codec) = struct.unpack_from(
            "<4sIQIIIB", block, 0)
        body_crc = struct.unpack_from("<I", block, 32)[0]
        tag = struct.unpack_from("<Q", block, 56)[0]
        tag_lo, tlen = _TRAILER.unpack_from(block, blen - 8)
        if tlen != hlen or tag_lo != tag & 0xFFFFFFFF:
            return None
        if crc32c(memoryview(block)[64:blen - 8]) != body_crc:
            return None
        try:
            area = CODECS[codec](bytes(block[64:64 + stored]), raw)
        except CodecMissing as e:
            self.missing.add(str(e))
            return None
        if area is None or len(area) != raw:
            return None
        recs = parse_records(area, count, 64)
        if recs is None:
            return None
        return block_seq, recs


def block_format(header):
    """The block finder and checker for this header's read version."""
    return BlocksV1(header) if header.read_version == 1 else BlocksV2(header)


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
    recs = parse_records(bytes(block[BLOCK_HEADER:blen - BLOCK_TRAILER]),
                         count, BLOCK_HEADER)
    if recs is None:
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
    """(events, bytes, dropped, reason, malformed, discarded, filtered):
    discarded and filtered are the fields collectors append at offsets 32
    (bytes of an unfinished event thrown away at a stop or reset) and 40
    (events the producer filtered: type disabled), 0 when the payload is
    shorter."""
    if len(p) < 32:
        return None
    discarded = struct.unpack_from("<Q", p, 32)[0] if len(p) >= 40 else 0
    filtered = struct.unpack_from("<Q", p, 40)[0] if len(p) >= 48 else 0
    return _DISCONNECT.unpack_from(p, 0) + (discarded, filtered)


def _key_ok(k):
    return 1 <= len(k) <= 128 and all(
        c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
        for c in k)


def decode_state(p):
    """(gen, enabled bitmap bytes, [(key, value) bytes pairs]) of a state
    record (the STATE frame's payload, docs/protocol.md section 13), or
    None when it does not decode."""
    if len(p) < STATE_FIXED:
        return None
    gen, npairs, plen = struct.unpack_from("<QII", p, 0)
    if plen > 65536 or plen > len(p) - STATE_FIXED:
        return None
    bitmap = bytes(p[16:STATE_FIXED])
    area = bytes(p[STATE_FIXED:STATE_FIXED + plen])
    pairs, off = [], 0
    while off < plen:
        if plen - off < 4:
            return None
        kl, vl = struct.unpack_from("<HH", area, off)
        if plen - off - 4 < kl + vl:
            return None
        k, v = area[off + 4:off + 4 + kl], area[off + 4 + kl:off + 4 + kl + vl]
        if not _key_ok(k) or len(v) > 4096 or any(c in b"\0\r\n" for c in v):
            return None
        pairs.append((k, v))
        off += 4 + kl + vl
    if len(pairs) != npairs:
        return None
    return gen, bitmap, pairs


def type_ranges(bitmap, value):
    """The types whose bit is value, as sluice-dump writes them: "0-4,6"."""
    out, t = [], 0
    bit = lambda t: (bitmap[t >> 3] >> (t & 7)) & 1
    while t < STATE_TYPES:
        if bit(t) != value:
            t += 1
            continue
        lo = t
        while t + 1 < STATE_TYPES and bit(t + 1) == value:
            t += 1
        out.append(str(lo) if lo == t else "%d-%d" % (lo, t))
        t += 1
    return ",".join(out)


def decode_drop(p):
    if len(p) < 16:
        return None
    return _DROP.unpack_from(p, 0)


TRIGGER_CAUSES = {1: "signal", 2: "type", 3: "ctl"}
_TRIGGER = struct.Struct("<IIIIQQI")


def decode_trigger(p):
    """(cause, event_type, producer, snapshot, seq, after_ns, folded)."""
    if len(p) < 40:
        return None
    return _TRIGGER.unpack_from(p, 0)


def decode_close(p):
    if len(p) < 40:
        return None
    return _CLOSE.unpack_from(p, 0)
