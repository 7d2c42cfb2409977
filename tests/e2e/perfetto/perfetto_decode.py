#!/usr/bin/env python3
"""Decodes a `sluice-dump --format perfetto` trace with python3-protobuf and
the minimal .proto next to this file (compiled with protoc into a temporary
directory), resolves the interned names and prints one JSON object per line:

  {"kind": "track", "uuid": U, "name": N, "pid": P}
  {"kind": "event", "track": U, "type": "INSTANT"|"SLICE_BEGIN"|"SLICE_END",
   "ts": NS, "name": N or null, "cat": C, "args": {...}}
  {"kind": "dropped", "ts": NS}            (previous_packet_dropped)

perfetto_decode.py TRACE

It fails (exit 1) on anything Perfetto's trace processor would not take
the way sluice means it: a field this .proto does not know, a packet on
another sequence, a name iid used before it was interned, interned data in
a packet that does not declare SEQ_NEEDS_INCREMENTAL_STATE or clear it, an
event on a track with no descriptor, a string that is not UTF-8.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def load_module():
    out = tempfile.mkdtemp()
    subprocess.run(["protoc", "-I", HERE, "--python_out=" + out,
                    os.path.join(HERE, "sluice_perfetto.proto")], check=True)
    sys.path.insert(0, out)
    import sluice_perfetto_pb2  # noqa: E402
    return sluice_perfetto_pb2


def unknown(msg):
    """Yields descriptions of unknown fields anywhere inside msg."""
    try:
        if len(msg.UnknownFields()) > 0:
            yield type(msg).__name__
    except (AttributeError, NotImplementedError):
        from google.protobuf import unknown_fields
        if len(unknown_fields.UnknownFieldSet(msg)) > 0:
            yield type(msg).__name__
    for fd, val in msg.ListFields():
        if fd.type != fd.TYPE_MESSAGE:
            continue
        for v in (val if fd.label == fd.LABEL_REPEATED else [val]):
            yield from unknown(v)


def main():
    pb = load_module()
    data = open(sys.argv[1], "rb").read()
    trace = pb.Trace()
    trace.ParseFromString(data)
    bad = list(unknown(trace))
    if bad:
        sys.exit("unknown fields in: %s" % ", ".join(sorted(set(bad))))
    TE = pb.TrackEvent
    types = {TE.TYPE_SLICE_BEGIN: "SLICE_BEGIN", TE.TYPE_SLICE_END: "SLICE_END",
             TE.TYPE_INSTANT: "INSTANT"}
    names, cats, anns = {}, {}, {}
    tracks = set()
    cleared = False
    out = sys.stdout
    for i, p in enumerate(trace.packet):
        if p.trusted_packet_sequence_id != 1:
            sys.exit("packet %d: sequence %d" % (i, p.trusted_packet_sequence_id))
        if i == 0 and not p.first_packet_on_sequence:
            sys.exit("the first packet does not say first_packet_on_sequence")
        if p.sequence_flags & 1:
            names, cats, anns = {}, {}, {}
            cleared = True
        elif p.sequence_flags != 2:
            sys.exit("packet %d: sequence_flags %d" % (i, p.sequence_flags))
        if not cleared:
            sys.exit("packet %d before any SEQ_INCREMENTAL_STATE_CLEARED" % i)
        if p.previous_packet_dropped:
            out.write(json.dumps({"kind": "dropped", "ts": p.timestamp}) + "\n")
        if p.HasField("interned_data"):
            d = p.interned_data
            for e in d.event_names:
                names[e.iid] = e.name
            for e in d.event_categories:
                cats[e.iid] = e.name
            for e in d.debug_annotation_names:
                anns[e.iid] = e.name
        if p.HasField("track_descriptor"):
            t = p.track_descriptor
            tracks.add(t.uuid)
            out.write(json.dumps({"kind": "track", "uuid": t.uuid, "name": t.name,
                                  "pid": t.process.pid,
                                  "process_name": t.process.process_name}) + "\n")
        if p.HasField("track_event"):
            e = p.track_event
            if e.track_uuid not in tracks:
                sys.exit("packet %d: event on track %d before its descriptor" % (i, e.track_uuid))
            if e.HasField("name_iid") and e.name_iid not in names:
                sys.exit("packet %d: name iid %d not interned" % (i, e.name_iid))
            args = {}
            for a in e.debug_annotations:
                if a.name_iid not in anns:
                    sys.exit("packet %d: annotation name iid %d not interned" % (i, a.name_iid))
                args[anns[a.name_iid]] = (a.uint_value if a.HasField("uint_value") else
                                          a.int_value if a.HasField("int_value") else
                                          a.string_value)
            out.write(json.dumps({
                "kind": "event", "track": e.track_uuid, "type": types[e.type],
                "ts": p.timestamp,
                "name": names[e.name_iid] if e.HasField("name_iid") else
                        e.name if e.HasField("name") else None,
                "cat": ",".join(cats[c] for c in e.category_iids), "args": args}) + "\n")


if __name__ == "__main__":
    main()
