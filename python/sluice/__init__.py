"""Read sluice capture files (docs/capture-format.md, format versions 1
and 2), standard library only (python3-lz4 / python3-zstandard for
compressed blocks).

    import sluice
    with sluice.open("demo.sluice") as cap:
        print(cap.info.pipe, cap.info.start_ns)
        for rec in cap:
            if rec.kind == "event":
                print(rec.producer, rec.name, rec.seq, rec.type, rec.payload)
    print(sluice.verify("demo.sluice").line())
    for rec in sluice.follow("live.sluice", wait=10):   # until the close record
        ...
    df = sluice.open("demo.sluice").to_pandas()          # needs pandas

Records are plain objects: Event, Connect, Live (a rotated chunk's
preamble), Disconnect, Drop, Close and
Other (unknown or undecodable collector records), each with ``kind``,
``producer``, ``name`` (from the producer's connect record), ``type``,
``seq``, ``producer_ns``, ``collector_ns`` and the fields of its kind,
named as in `sluice-dump --format jsonl`.
"""
from ._format import CRC32C_IMPL, FormatError, Header, crc32c
from .reader import (Capture, Close, Connect, Disconnect, Drop, Event, Live,
                     Other, Record, Stats, Trigger, Verdict, verify)

__version__ = "0.1.0"
__all__ = ["open", "follow", "verify", "Capture", "Record", "Event",
           "Connect", "Live", "Disconnect", "Drop", "Close", "Other", "Stats",
           "Trigger", "Verdict", "Header", "FormatError", "crc32c", "CRC32C_IMPL"]


def open(paths, **kw):  # noqa: A001 (the module's verb, like gzip.open)
    """A Capture of one file, a list of chunk files, or a directory of
    *.sluice chunks. Keywords as Capture's (follow, poll, wait,
    idle_timeout, stop_when_writer_gone). Raises OSError (no such file)
    or FormatError (not a capture, too new, cut inside its header)."""
    return Capture(paths, **kw)


def follow(path, poll=0.1, wait=None, idle_timeout=None,
           stop_when_writer_gone=False):
    """Yields the records of a capture the collector is still writing, as
    they arrive, until its close record (or idle_timeout seconds without
    growth, or the writer's lock released with stop_when_writer_gone);
    ``wait`` seconds to wait for the file to appear."""
    with Capture(path, follow=True, poll=poll, wait=wait,
                 idle_timeout=idle_timeout,
                 stop_when_writer_gone=stop_when_writer_gone) as cap:
        yield from cap
