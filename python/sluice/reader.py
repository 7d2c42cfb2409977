"""Reading captures: records as plain objects, in file order, with the
damage handling of docs/capture-format.md section 9 (skip and count
corrupt regions, report a torn tail), following a growing file, verifying
(section 12), and sets of chunks read one after another."""
import errno
import os
import struct
import time

from . import _format as F

_READ_CHUNK = 1 << 20


# ---- records ---------------------------------------------------------------

class Record:
    """Fields every record has. ``kind`` says which class it is:
    event, connect, disconnect, drop, close, unknown or invalid (a
    collector record whose payload does not decode)."""

    __slots__ = ("producer", "name", "type", "seq", "producer_ns",
                 "collector_ns", "block_seq", "file_offset", "chunk")
    kind = "record"

    def _init(self, rt, name, block_seq, file_offset, chunk):
        (self.type, _, self.producer, self.seq, self.producer_ns,
         self.collector_ns) = rt[:6]
        self.name = name
        self.block_seq = block_seq
        self.file_offset = file_offset
        self.chunk = chunk

    def as_dict(self):
        """The fields as a dict, in the spirit of `sluice-dump --format
        jsonl` (bytes stay bytes)."""
        d = {"kind": self.kind}
        for k in self._fields:
            d[k] = getattr(self, k)
        return d

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (k, getattr(self, k)) for k in self._fields))

    def __eq__(self, other):
        return type(self) is type(other) and self.as_dict() == other.as_dict()


class Event(Record):
    """An event: ``payload`` is the bytes as sent; ``text`` decodes them
    as UTF-8 (invalid bytes replaced)."""
    __slots__ = ("payload",)
    kind = "event"
    _fields = ("producer", "name", "seq", "type", "producer_ns",
               "collector_ns", "payload")

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")


class Connect(Record):
    __slots__ = ("pid", "uid", "mode", "name_bytes")
    kind = "connect"
    _fields = ("producer", "name", "pid", "uid", "mode", "collector_ns")


class Live(Connect):
    """A rotated chunk's preamble (section 16.2): a producer connected when
    the chunk began, with its connect's fields; ``next_seq`` (= ``seq``)
    is the sequence number its next event has."""
    __slots__ = ()
    kind = "live"
    _fields = ("producer", "name", "pid", "uid", "mode", "seq",
               "collector_ns")

    @property
    def next_seq(self):
        return self.seq


class Disconnect(Record):
    __slots__ = ("events", "bytes", "dropped", "reason", "reason_code",
                 "reason_text", "malformed", "discarded", "filtered")
    kind = "disconnect"
    _fields = ("producer", "name", "events", "bytes", "dropped", "reason",
               "reason_code", "reason_text", "malformed", "discarded",
               "filtered", "collector_ns")


class State(Record):
    """The collector's state from this record on: ``gen``, ``enabled``
    and ``disabled`` (type ranges as text, "0-4,6-61439"), ``config``
    (a dict of str, in the collector's order)."""
    __slots__ = ("gen", "enabled", "disabled", "config")
    kind = "state"
    _fields = ("gen", "enabled", "disabled", "config", "collector_ns")


class Trigger(Record):
    """Where a flight-recorder trigger fell: ``cause`` ("signal", "type",
    "ctl" or "unknown"), ``snapshot`` (NNN of cap.snapshot-NNN.sluice),
    for a type trigger the event's ``trigger_producer``, ``trigger_seq``
    and ``trigger_type`` (else 0), ``after_ns`` (--trigger-after) and
    ``folded`` (True: it came while an earlier trigger's snapshot was
    pending and was counted into it)."""
    __slots__ = ("cause", "snapshot", "trigger_producer", "trigger_seq",
                 "trigger_type", "after_ns", "folded")
    kind = "trigger"
    _fields = ("cause", "snapshot", "trigger_producer", "trigger_seq",
               "trigger_type", "after_ns", "folded", "collector_ns")


class Drop(Record):
    __slots__ = ("events", "bytes")
    kind = "drop"
    _fields = ("producer", "name", "events", "bytes", "collector_ns")


class Close(Record):
    __slots__ = ("producers", "events", "bytes", "dropped", "malformed")
    kind = "close"
    _fields = ("producers", "events", "bytes", "dropped", "malformed",
               "collector_ns")


class Other(Record):
    """A collector record of a type this reader does not know ("unknown",
    skipped as section 7 says) or whose payload does not decode
    ("invalid"). ``payload`` is its bytes."""
    __slots__ = ("payload", "_kind")
    _fields = ("producer", "name", "type", "collector_ns")

    @property
    def kind(self):
        return self._kind


class Stats:
    """Running totals, as the C reader's sluice_capture_stats."""
    __slots__ = ("blocks", "records", "corrupt_blocks", "corrupt_bytes",
                 "torn_tail_bytes", "valid_bytes")

    def __init__(self):
        for k in self.__slots__:
            setattr(self, k, 0)

    def __repr__(self):
        return "Stats(%s)" % ", ".join("%s=%d" % (k, getattr(self, k))
                                       for k in self.__slots__)


def _text(b):
    return b.decode("utf-8", "replace")


# ---- one file --------------------------------------------------------------

class _File:
    """One capture file read block by block, section 9."""

    def __init__(self, path, chunk, wait=None, poll=0.1):
        self.path = path
        self.chunk = chunk
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                self.f = open(path, "rb")
                break
            except FileNotFoundError:
                if deadline is None or time.monotonic() >= deadline:
                    raise
                time.sleep(poll)
        try:
            self._read_header(deadline, poll)
        except BaseException:
            self.f.close()
            raise
        self.pos = self.header.header_len
        self.fmt = F.block_format(self.header)
        self.stats = Stats()
        self.stats.valid_bytes = self.header.header_len
        self.last_size = -1

    def _read_header(self, deadline, poll):
        while True:
            size = os.fstat(self.f.fileno()).st_size
            self.f.seek(0)
            data = self.f.read(min(size, F.HEADER_MAX))
            try:
                self.header = F.parse_header(data, len(data))
                return
            except F.FormatError as e:
                # A header still being written is worth waiting for.
                if e.code != "truncated" or deadline is None or \
                        time.monotonic() >= deadline:
                    raise
            time.sleep(poll)

    def close(self):
        self.f.close()

    def size(self):
        return os.fstat(self.f.fileno()).st_size

    def _read(self, off, n):
        self.f.seek(off)
        return self.f.read(n)

    def _block_at(self, off, size):
        """(block_len, parsed, partial): parsed for a valid block at off,
        else None; partial when a block start there reaches past size
        (section 9 step 3, section 15.4)."""
        head = self._read(off, self.fmt.head_len)
        blen, partial = self.fmt.start(head, off, size)
        if blen == 0 or partial:
            return blen, None, partial
        return blen, self.fmt.check(self._read(off, blen), off), False

    def _candidates(self, start, size):
        """File offsets >= start, aligned to the blocks, where the block
        magic appears."""
        base = self.header.header_len
        off = start
        magic = self.fmt.magic
        while off + 4 <= size:
            buf = self._read(off, _READ_CHUNK + 3)
            i = buf.find(magic)
            while i >= 0:
                if (off + i - base) % 8 == 0:
                    yield off + i
                i = buf.find(magic, i + 1)
            off += _READ_CHUNK

    def blocks(self, follow):
        """Yields (block_seq, records, block offset) for each valid block
        from self.pos; returns at the end of the readable data (in follow
        mode: of what is complete now)."""
        st = self.stats
        while True:
            size = self.size()
            p = self.pos
            if p >= size:
                return
            blen, parsed, partial = self._block_at(p, size)
            if parsed is not None:
                self.pos = p + blen
                st.blocks += 1
                st.valid_bytes += blen
                yield parsed[0], parsed[1], p
                continue
            if follow:
                # Most likely the writer is in the middle of this block.
                head = self._read(p, 8)
                if partial or (len(head) < 8 and
                               head[:4] == self.fmt.magic[:len(head)]):
                    return
            # Damage, or the end: look for the next valid block.
            torn_at = p if partial else None
            found = None
            for q in self._candidates(p + 8, size):
                qlen, qparsed, qpartial = self._block_at(q, size)
                if qparsed is not None:
                    found = q
                    break
                if qpartial and torn_at is None:
                    torn_at = q
            if found is not None:
                q = found
                st.corrupt_blocks += 1
                st.corrupt_bytes += q - p
                self.pos = q
                continue
            if follow:
                return  # settled when following stops (finish())
            self._settle_tail(p, size, torn_at)
            return

    def _settle_tail(self, p, size, torn_at):
        st = self.stats
        if torn_at is not None:
            if torn_at > p:
                st.corrupt_blocks += 1
                st.corrupt_bytes += torn_at - p
            st.torn_tail_bytes = size - torn_at
        elif size - p < 8:
            st.torn_tail_bytes = size - p
        else:
            st.corrupt_blocks += 1
            st.corrupt_bytes += size - p
        self.pos = size


# ---- a capture (one file or a set of chunks) --------------------------------

def _order_chunks(paths):
    """A directory stands for its *.sluice files (the Capture orders them
    by capture and chunk number once their headers are read)."""
    out = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            out.extend(os.path.join(p, n) for n in sorted(os.listdir(p))
                       if n.endswith(".sluice"))
        else:
            out.append(p)
    return out


class Capture:
    """Records of one capture file, or of a set of chunks read one after
    another as one stream (``open([...])``, or a directory).

    Iterating yields Record objects (Event, Connect, Disconnect, Drop,
    Close, Other) in file order. ``info`` is the first file's Header,
    ``headers`` all of them; ``stats`` the reader's totals so far (summed
    over the chunks). With ``follow=True`` iteration does not end at the
    end of the file: it waits for more (polling every ``poll`` seconds)
    until the close record, ``idle_timeout`` seconds without new data, or
    (with ``stop_when_writer_gone``) the writer's lock is released
    without a close record; ``wait`` seconds to wait for the file to
    appear (None: fail at once).
    """

    def __init__(self, paths, follow=False, poll=0.1, wait=None,
                 idle_timeout=None, stop_when_writer_gone=False):
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        self.paths = _order_chunks(paths) if not follow else \
            [os.fspath(p) for p in paths]
        if not self.paths:
            raise FileNotFoundError(errno.ENOENT, "no capture files", "")
        self.follow = follow
        self.poll = poll
        self.idle_timeout = idle_timeout
        self.stop_when_writer_gone = stop_when_writer_gone
        self.closed_record = None
        self.writer_gone = False
        self._files = []
        first = _File(self.paths[0], 0, wait=wait, poll=poll)
        self._files.append(first)
        if len(self.paths) > 1:
            opened = [first]
            try:
                for i, p in enumerate(self.paths[1:], 1):
                    opened.append(_File(p, i))
            except BaseException:
                for f in opened:
                    f.close()
                raise
            # Chunks of one capture in chunk order; captures in the order
            # of their first start time.
            first = {}
            for f in opened:
                c = f.header.capture
                first[c] = min(first.get(c, f.header.start_ns),
                               f.header.start_ns)
            opened.sort(key=lambda f: (first[f.header.capture],
                                       f.header.chunk, f.header.start_ns,
                                       f.path))
            for i, f in enumerate(opened):
                f.chunk = i
            self._files = opened
        self.info = self._files[0].header
        self.headers = [f.header for f in self._files]
        self._names = {}

    # context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for f in self._files:
            f.close()

    @property
    def missing_codecs(self):
        """Codecs whose Python modules are not installed, so that their
        blocks were counted as corrupt (e.g. {"lz4 (Debian: python3-lz4)"})."""
        out = set()
        for f in self._files:
            out |= getattr(f.fmt, "missing", set())
        return out

    @property
    def stats(self):
        s = Stats()
        for f in self._files:
            for k in Stats.__slots__:
                setattr(s, k, getattr(s, k) + getattr(f.stats, k))
        return s

    def writer_alive(self):
        """True while a collector holds its writer's lock on the (last)
        file: it takes an exclusive flock when it creates the capture and
        keeps it until the file is closed (the "trust" work, issue 10).
        Tested with a non-blocking shared lock, released at once. Returns
        None where locks cannot be tested (no fcntl, e.g. Windows)."""
        try:
            import fcntl
        except ImportError:
            return None
        fd = self._files[-1].f.fileno()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def _make(self, rt, block_seq, file_offset, chunk):
        rtype, producer, payload = rt[0], rt[2], rt[6]
        if rtype < F.EVENT_TYPE_LIMIT:
            r = Event()
            r._init(rt, self._names.get(producer), block_seq, file_offset,
                    chunk)
            r.payload = payload
            return r
        dec = None
        if rtype in (F.REC_CONNECT, F.REC_LIVE):
            dec = F.decode_connect(payload)
            if dec is not None:
                r = Connect() if rtype == F.REC_CONNECT else Live()
                name = _text(dec[3])
                self._names[producer] = name
                r._init(rt, name, block_seq, file_offset, chunk)
                r.pid, r.uid = dec[0], dec[1]
                r.mode = F.MODES.get(dec[2], "unknown")
                r.name_bytes = dec[3]
                return r
        elif rtype == F.REC_DISCONNECT:
            dec = F.decode_disconnect(payload)
            if dec is not None:
                r = Disconnect()
                r._init(rt, self._names.get(producer), block_seq, file_offset,
                        chunk)
                (r.events, r.bytes, r.dropped, code, r.malformed,
                 r.discarded, r.filtered) = dec
                r.reason_code = code
                r.reason, r.reason_text = F.REASONS.get(code, F.UNKNOWN_REASON)
                return r
        elif rtype == F.REC_DROP:
            dec = F.decode_drop(payload)
            if dec is not None:
                r = Drop()
                r._init(rt, self._names.get(producer), block_seq, file_offset,
                        chunk)
                r.events, r.bytes = dec
                return r
        elif rtype == F.REC_STATE:
            dec = F.decode_state(payload)
            if dec is not None:
                r = State()
                r._init(rt, None, block_seq, file_offset, chunk)
                r.gen = dec[0]
                r.enabled = F.type_ranges(dec[1], 1)
                r.disabled = F.type_ranges(dec[1], 0)
                r.config = {_text(k): _text(v) for k, v in dec[2]}
                return r
        elif rtype == F.REC_TRIGGER:
            dec = F.decode_trigger(payload)
            if dec is not None:
                r = Trigger()
                r._init(rt, None, block_seq, file_offset, chunk)
                (cause, r.trigger_type, r.trigger_producer, r.snapshot,
                 r.trigger_seq, r.after_ns, folded) = dec
                r.cause = F.TRIGGER_CAUSES.get(cause, "unknown")
                r.folded = folded != 0
                return r
        elif rtype == F.REC_CLOSE:
            dec = F.decode_close(payload)
            if dec is not None:
                r = Close()
                r._init(rt, None, block_seq, file_offset, chunk)
                (r.producers, r.events, r.bytes, r.dropped,
                 r.malformed) = dec
                return r
        r = Other()
        r._init(rt, self._names.get(producer), block_seq, file_offset, chunk)
        r.payload = payload
        known = rtype in (F.REC_CONNECT, F.REC_DISCONNECT, F.REC_DROP,
                          F.REC_CLOSE, F.REC_STATE, F.REC_LIVE,
                          F.REC_TRIGGER)
        r._kind = "invalid" if known else "unknown"
        return r

    def _records(self, f, follow):
        for block_seq, recs, off in f.blocks(follow):
            f.stats.records += len(recs)
            for rt in recs:
                # The time index (capture-format.md 15.5) is the file's
                # structure, not data: skipped and not counted, as the C
                # reader (and so sluice-dump) does.
                if rt[0] == F.REC_INDEX:
                    f.stats.records -= 1
                    continue
                r = self._make(rt, block_seq, off + rt[7], f.chunk)
                if r.kind == "close":
                    self.closed_record = r
                yield r

    def __iter__(self):
        if not self.follow:
            for f in self._files:
                yield from self._records(f, False)
            return
        f = self._files[-1]
        last_growth = time.monotonic()
        last_size = f.size()
        while True:
            got = False
            for r in self._records(f, True):
                got = True
                yield r
                if r.kind == "close":
                    yield from self._records(f, False)
                    return
            now = time.monotonic()
            size = f.size()
            if got or size != last_size:
                last_growth, last_size = now, size
            elif self.stop_when_writer_gone and self.writer_alive() is False:
                self.writer_gone = True
                break
            elif self.idle_timeout is not None and \
                    now - last_growth >= self.idle_timeout:
                break
            time.sleep(self.poll)
        # Following stops: take what is whole now and settle the end.
        yield from self._records(f, False)

    def events(self):
        """Only the events."""
        return (r for r in self if r.kind == "event")

    def to_pandas(self, kinds=("event",)):
        """A pandas DataFrame with one row per record of ``kinds`` (all
        kinds: None), columns as in `sluice-dump --format csv` plus
        ``kind``; ``payload`` holds bytes. Needs pandas."""
        try:
            import pandas
        except ImportError as e:
            raise ImportError("to_pandas() needs pandas (Debian: "
                              "python3-pandas)") from e
        cols = ("kind", "producer", "name", "seq", "type", "producer_ns",
                "collector_ns", "payload")
        rows = {c: [] for c in cols}
        for r in self:
            if kinds is not None and r.kind not in kinds:
                continue
            for c in cols:
                rows[c].append(getattr(r, c, None) if c != "kind" else r.kind)
        df = pandas.DataFrame(rows, columns=list(cols))
        for c in ("producer", "seq", "type", "producer_ns", "collector_ns"):
            if kinds == ("event",):
                df[c] = df[c].astype("uint64")
        df["collector_time"] = pandas.to_datetime(df["collector_ns"].astype(
            "int64"), unit="ns", utc=True)
        return df


# ---- verify (section 12) -----------------------------------------------------

class Verdict:
    """What `sluice-dump --verify` prints and its exit status."""
    __slots__ = ("producers", "events", "gaps", "corrupt_blocks",
                 "torn_tail_bytes", "closed", "status", "chunks", "expired",
                 "missing_chunks")

    def line(self):
        s = ("verify: producers=%d events=%d gaps=%d corrupt_blocks=%d "
             "torn_tail_bytes=%d" % (self.producers, self.events, self.gaps,
                                     self.corrupt_blocks,
                                     self.torn_tail_bytes))
        if self.chunks > 1:  # a set: fields after the single file's
            s += " chunks=%d expired=%d missing_chunks=%d" % (
                self.chunks, self.expired, self.missing_chunks)
        return s

    @property
    def ok(self):
        return self.status == 0

    def __repr__(self):
        return "Verdict(%s, closed=%s, status=%d)" % (self.line(), self.closed,
                                                       self.status)


def verify(paths, producer=None):
    """Reads the whole capture (every chunk) and checks it as section 12
    says. ``producer``: an id, to consider that producer only. Returns a
    Verdict whose ``status`` is 0 (complete and intact), 3 (incomplete)
    or 4 (corrupt)."""
    expected, gaps, dropped, seen = {}, {}, {}, set()
    events = expired = 0
    closed = False
    with Capture(paths) as cap:
        # Producer ids are unique within one collector run: chunks of the
        # same run share its start time, and chunks of different runs
        # (a list of separate captures) keep their producers apart.
        run = [h.capture for h in cap.headers]
        for r in cap:
            if r.kind == "close":
                closed = True
                continue
            if producer is not None and r.producer != producer:
                continue
            if r.kind in ("unknown", "invalid", "state", "trigger"):
                continue
            key = (run[r.chunk], r.producer)
            if r.kind == "live":
                # A chunk's preamble: numbers resume at r.seq. Met first in
                # the first file: the earlier ones were in chunks retention
                # deleted (expired); later: a missing chunk (gaps).
                want = expected.get(key, 0)
                if key not in seen and r.chunk == 0:
                    expired += r.seq
                elif r.seq > want:
                    gaps[key] = gaps.get(key, 0) + r.seq - want
                if key not in seen or r.seq > want:
                    expected[key] = r.seq
                seen.add(key)
                continue
            seen.add(key)
            if r.kind == "event":
                events += 1
                want = expected.get(key, 0)
                if r.seq == want:
                    expected[key] = want + 1
                elif r.seq > want:
                    gaps[key] = gaps.get(key, 0) + r.seq - want
                    expected[key] = r.seq + 1
                else:
                    gaps[key] = gaps.get(key, 0) + 1
            elif r.kind == "drop":
                dropped[key] = dropped.get(key, 0) + r.events
        st = cap.stats
    v = Verdict()
    v.producers = len(seen)
    v.events = events
    v.gaps = sum(max(0, g - dropped.get(p, 0)) for p, g in gaps.items())
    v.corrupt_blocks = st.corrupt_blocks
    v.torn_tail_bytes = st.torn_tail_bytes
    v.closed = closed
    v.chunks = len(cap.headers)
    v.expired = expired
    nums = sorted(h.chunk for h in cap.headers)
    one = len({h.capture for h in cap.headers}) == 1
    v.missing_chunks = (nums[-1] - nums[0] + 1 - len(nums)
                        if one and len(nums) > 1 and nums[0] > 0 else 0)
    if v.gaps or v.corrupt_blocks or v.missing_chunks:
        v.status = 4
    elif v.torn_tail_bytes or not closed:
        v.status = 3
    else:
        v.status = 0
    return v
