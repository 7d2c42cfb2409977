/*
 * --format perfetto: a native Perfetto trace, the protobuf message
 * perfetto.protos.Trace (protos/perfetto/trace/trace.proto), encoded here
 * by hand: a Trace is nothing but its packets, each written as field 1
 * (length-delimited) of the outer message, so the document is a stream of
 * packets and needs no memory beyond one packet, the producer table and a
 * fixed cache of interned names.
 *
 * What goes in (field numbers from Perfetto's trace_packet.proto,
 * track_event.proto, track_descriptor.proto, process_descriptor.proto,
 * interned_data.proto, debug_annotation.proto; docs/cli.md lists them):
 *
 * - one packet sequence (trusted_packet_sequence_id 1). Its first packet
 *   clears the incremental state and interns the categories ("event",
 *   "slice", "sluice") and the debug annotation names;
 * - a TrackDescriptor per producer before its first event: uuid = the
 *   producer id, a ProcessDescriptor with pid = the producer id (as the
 *   chrome format does; the OS pid is an annotation of the connect
 *   instant) and process_name = its name, or "producer ID";
 * - a TrackEvent per record: instants for events, connect, disconnect and
 *   drop records; SLICE_BEGIN / SLICE_END for the begin/end type
 *   convention of docs/protocol.md ("Event type conventions"), closed at
 *   the producer's disconnect like the chrome format does. Event names
 *   are interned (a 4096-entry direct-mapped cache; a name that falls out
 *   of it is interned again under a new iid);
 * - loss: a "sequence gap" instant where a producer's sequence numbers
 *   skip more than its drop records account for (--verify's count), and
 *   previous_packet_dropped on the first packet after a corrupt region
 *   the reader skipped (that packet also clears the incremental state and
 *   interns everything again), with a "corrupt data skipped" instant on
 *   the collector's track.
 *
 * Timestamps are TracePacket.timestamp in ns since the Unix epoch (the
 * producer's when it sent one, else the collector's), in the trace's
 * default clock: there is no clock snapshot to convert from.
 */
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "escape.h"

/* TracePacket */
#define PF_TRACE_PACKET 1u
#define PF_TIMESTAMP 8u
#define PF_SEQ_ID 10u
#define PF_TRACK_EVENT 11u
#define PF_INTERNED_DATA 12u
#define PF_SEQ_FLAGS 13u
#define PF_PREV_DROPPED 42u
#define PF_TRACK_DESCRIPTOR 60u
#define PF_FIRST_ON_SEQ 87u
#define PF_SEQ_CLEARED 1u /* SEQ_INCREMENTAL_STATE_CLEARED */
#define PF_SEQ_NEEDS 2u   /* SEQ_NEEDS_INCREMENTAL_STATE */
/* TrackEvent */
#define TE_CATEGORY_IIDS 3u
#define TE_DEBUG_ANNOTATIONS 4u
#define TE_TYPE 9u
#define TE_NAME_IID 10u
#define TE_TRACK_UUID 11u
#define TE_NAME 23u
#define TE_SLICE_BEGIN 1u
#define TE_SLICE_END 2u
#define TE_INSTANT 3u
/* DebugAnnotation */
#define DA_NAME_IID 1u
#define DA_UINT 3u
#define DA_INT 4u
#define DA_STRING 6u
/* TrackDescriptor, ProcessDescriptor */
#define TD_UUID 1u
#define TD_NAME 2u
#define TD_PROCESS 3u
#define PD_PID 1u
#define PD_NAME 6u
/* InternedData, EventCategory/EventName/DebugAnnotationName */
#define ID_CATEGORIES 1u
#define ID_NAMES 2u
#define ID_ANNOTATION_NAMES 3u
#define IN_IID 1u
#define IN_NAME 2u

#define WT_VARINT 0u
#define WT_LEN 2u

/* The collector's own track (the close record, skipped regions). */
#define COLLECTOR_UUID ((uint64_t)1 << 32)
#define NAME_CACHE 4096u
#define NAME_MAX_LEN 80u

enum { CAT_EVENT = 1, CAT_SLICE, CAT_SLUICE };
static const char *const categories[] = {NULL, "event", "slice", "sluice"};

enum {
    AN_TYPE = 1,
    AN_SEQ,
    AN_PAYLOAD,
    AN_COLLECTOR_DELAY,
    AN_EVENTS,
    AN_BYTES,
    AN_DROPPED,
    AN_REASON,
    AN_MALFORMED,
    AN_PID,
    AN_UID,
    AN_MODE,
    AN_NAME,
    AN_MISSING,
    AN_PRODUCERS,
    AN_CORRUPT_BLOCKS,
    AN_COUNT
};
static const char *const annotations[AN_COUNT] = {
    NULL,     "type",      "seq",            "payload", "collector_delay_ns",
    "events", "bytes",     "dropped",        "reason",  "malformed",
    "pid",    "uid",       "mode",           "name",    "missing",
    "producers", "corrupt_blocks",
};

typedef struct pf_name {
    uint64_t iid; /* 0: empty slot, or seen once (len > 0) */
    uint32_t len;
    char text[NAME_MAX_LEN];
} pf_name;

/* A growable byte buffer for one packet; nested messages are written in
 * place and their length prefix is fitted in when they end. */
typedef struct pf_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    int failed; /* out of memory: the packet is not written */
} pf_buf;

typedef struct dump_pf {
    pf_buf pkt;
    pf_name names[NAME_CACHE];
    uint64_t next_iid;
    uint64_t corrupt_seen;
    int started;
    int collector_track;
} dump_pf;

/* ---- protobuf encoding --------------------------------------------------- */

static int
pb_reserve(pf_buf *b, size_t n)
{
    size_t cap;
    uint8_t *np;

    if (b->failed)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    np = realloc(b->p, cap);
    if (np == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

static size_t
varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void
pb_varint(pf_buf *b, uint64_t v)
{
    if (pb_reserve(b, 10) != 0)
        return;
    while (v >= 0x80) {
        b->p[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (uint8_t)v;
}

static void
pb_key(pf_buf *b, uint32_t field, uint32_t wire)
{
    pb_varint(b, (uint64_t)field << 3 | wire);
}

static void
pb_uint(pf_buf *b, uint32_t field, uint64_t v)
{
    pb_key(b, field, WT_VARINT);
    pb_varint(b, v);
}

static void
pb_bytes(pf_buf *b, uint32_t field, const void *p, size_t n)
{
    pb_key(b, field, WT_LEN);
    pb_varint(b, n);
    if (pb_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void
pb_str(pf_buf *b, uint32_t field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

/* Opens a nested message; returns where its contents start. */
static size_t
pb_open(pf_buf *b, uint32_t field)
{
    pb_key(b, field, WT_LEN);
    return b->len;
}

/* Closes the message opened at @p at: inserts its length before it. */
static void
pb_close(pf_buf *b, size_t at)
{
    size_t n, k;

    if (b->failed)
        return;
    n = b->len - at;
    k = varint_len(n);
    if (pb_reserve(b, k) != 0)
        return;
    memmove(b->p + at + k, b->p + at, n);
    b->len = at;
    pb_varint(b, n);
    b->len = at + k + n;
}

/* A string field whose bytes may be anything: printable UTF-8 as it is,
 * every other byte as a C escape, so the field is always valid UTF-8 (a
 * protobuf string must be) and controls never reach a viewer raw. */
static void
pb_text(pf_buf *b, uint32_t field, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t at, i = 0, l;

    if (dump_all_printable(p, n)) {
        pb_bytes(b, field, p, n);
        return;
    }
    at = pb_open(b, field);
    while (i < n && pb_reserve(b, 4) == 0) {
        l = sl_utf8_len(p + i, n - i);
        if (l > 1 && dump_all_printable(p + i, l)) {
            pb_reserve(b, l);
            if (b->failed)
                break;
            memcpy(b->p + b->len, p + i, l);
            b->len += l;
            i += l;
            continue;
        }
        if (p[i] >= 0x20 && p[i] < 0x7F) {
            if (p[i] == '\\')
                b->p[b->len++] = '\\';
            b->p[b->len++] = p[i];
        } else if (p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = p[i] == '\n' ? 'n' : p[i] == '\t' ? 't' : 'r';
        } else {
            b->p[b->len++] = '\\';
            b->p[b->len++] = 'x';
            b->p[b->len++] = (uint8_t)hex[p[i] >> 4];
            b->p[b->len++] = (uint8_t)hex[p[i] & 15];
        }
        i++;
    }
    pb_close(b, at);
}

/* ---- packets ------------------------------------------------------------- */

static void
ann_uint(pf_buf *b, int name, uint64_t v)
{
    size_t at = pb_open(b, TE_DEBUG_ANNOTATIONS);

    pb_uint(b, DA_NAME_IID, (uint64_t)name);
    pb_uint(b, DA_UINT, v);
    pb_close(b, at);
}

static void
ann_int(pf_buf *b, int name, int64_t v)
{
    size_t at = pb_open(b, TE_DEBUG_ANNOTATIONS);

    pb_uint(b, DA_NAME_IID, (uint64_t)name);
    pb_uint(b, DA_INT, (uint64_t)v);
    pb_close(b, at);
}

static void
ann_text(pf_buf *b, int name, const uint8_t *p, size_t n)
{
    size_t at = pb_open(b, TE_DEBUG_ANNOTATIONS);

    pb_uint(b, DA_NAME_IID, (uint64_t)name);
    pb_text(b, DA_STRING, p, n);
    pb_close(b, at);
}

static void
ann_str(pf_buf *b, int name, const char *s)
{
    ann_text(b, name, (const uint8_t *)s, strlen(s));
}

/* Starts a packet: the sequence, its flags, a timestamp (0: none). */
static void
packet_begin(dump_pf *pf, uint64_t ns, uint32_t flags)
{
    pf->pkt.len = 0;
    pf->pkt.failed = 0;
    if (ns != 0)
        pb_uint(&pf->pkt, PF_TIMESTAMP, ns);
    pb_uint(&pf->pkt, PF_SEQ_ID, 1);
    pb_uint(&pf->pkt, PF_SEQ_FLAGS, flags);
}

/* Writes the packet as one Trace.packet field. */
static void
packet_end(dump_ctx *c, dump_pf *pf)
{
    uint8_t head[11];
    size_t n = 0;
    uint64_t v = pf->pkt.len;

    if (pf->pkt.failed) {
        c->o->failed = 1; /* out of memory: stop with an error */
        return;
    }
    head[n++] = (uint8_t)(PF_TRACE_PACKET << 3 | WT_LEN);
    while (v >= 0x80) {
        head[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    head[n++] = (uint8_t)v;
    dump_out_bytes(c->o, head, n);
    dump_out_bytes(c->o, pf->pkt.p, pf->pkt.len);
}

/* The packet that (re)starts the incremental state: interned categories
 * and annotation names, and an empty name cache. */
static void
state_packet(dump_ctx *c, dump_pf *pf, uint64_t ns, int dropped)
{
    pf_buf *b = &pf->pkt;
    size_t at, e;
    int i;

    memset(pf->names, 0, sizeof(pf->names));
    packet_begin(pf, ns, PF_SEQ_CLEARED);
    if (!pf->started)
        pb_uint(b, PF_FIRST_ON_SEQ, 1);
    if (dropped)
        pb_uint(b, PF_PREV_DROPPED, 1);
    at = pb_open(b, PF_INTERNED_DATA);
    for (i = 1; i <= CAT_SLUICE; i++) {
        e = pb_open(b, ID_CATEGORIES);
        pb_uint(b, IN_IID, (uint64_t)i);
        pb_str(b, IN_NAME, categories[i]);
        pb_close(b, e);
    }
    for (i = 1; i < AN_COUNT; i++) {
        e = pb_open(b, ID_ANNOTATION_NAMES);
        pb_uint(b, IN_IID, (uint64_t)i);
        pb_str(b, IN_NAME, annotations[i]);
        pb_close(b, e);
    }
    pb_close(b, at);
    packet_end(c, pf);
    pf->started = 1;
}

static uint32_t
name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* The iid of event name @p s, or 0 the first time it is seen: then the
 * event carries it inline, since many names (payloads) occur only once.
 * The second time it is interned in the current packet (before its
 * track_event field: InternedData comes first). */
static uint64_t
name_iid(dump_pf *pf, const char *s, size_t n)
{
    pf_name *e = &pf->names[name_hash(s, n) & (NAME_CACHE - 1)];
    pf_buf *b = &pf->pkt;
    size_t at, en;
    int seen = e->len == n && n > 0 && memcmp(e->text, s, n) == 0;

    if (seen && e->iid != 0)
        return e->iid;
    if (!seen) {
        e->iid = 0;
        e->len = (uint32_t)n;
        memcpy(e->text, s, n);
        return 0;
    }
    e->iid = ++pf->next_iid;
    e->len = (uint32_t)n;
    memcpy(e->text, s, n);
    at = pb_open(b, PF_INTERNED_DATA);
    en = pb_open(b, ID_NAMES);
    pb_uint(b, IN_IID, e->iid);
    pb_bytes(b, IN_NAME, s, n);
    pb_close(b, en);
    pb_close(b, at);
    return e->iid;
}

static void
track_packet(dump_ctx *c, dump_pf *pf, uint64_t uuid, uint32_t pid,
             const char *name, size_t name_len, uint64_t ns)
{
    pf_buf *b = &pf->pkt;
    size_t at, pr;

    packet_begin(pf, ns, PF_SEQ_NEEDS);
    at = pb_open(b, PF_TRACK_DESCRIPTOR);
    pb_uint(b, TD_UUID, uuid);
    pb_text(b, TD_NAME, (const uint8_t *)name, name_len);
    if (pid != 0) { /* 0: the collector's track, a plain named one */
        pr = pb_open(b, TD_PROCESS);
        pb_uint(b, PD_PID, pid);
        pb_text(b, PD_NAME, (const uint8_t *)name, name_len);
        pb_close(b, pr);
    }
    pb_close(b, at);
    packet_end(c, pf);
}

static size_t event_begin(dump_pf *pf, uint64_t ns, uint64_t uuid,
                          uint32_t type, int cat, const char *name,
                          size_t name_len);
static void event_end(dump_ctx *c, dump_pf *pf, size_t at);

/* Everything a record's packet needs first: the sequence's state, the
 * corrupt regions skipped since the last record, the producer's track. */
static dump_pf *
prepare(dump_ctx *c, dump_producer *p, uint64_t ns)
{
    dump_pf *pf = c->pf;
    sluice_capture_stats st;

    sluice_capture_get_stats(c->cap, &st);
    if (!pf->started || st.corrupt_blocks != pf->corrupt_seen) {
        int dropped = pf->started;
        uint64_t lost = st.corrupt_blocks - pf->corrupt_seen;

        pf->corrupt_seen = st.corrupt_blocks;
        state_packet(c, pf, ns, dropped);
        if (dropped) {
            size_t at;

            if (!pf->collector_track) {
                pf->collector_track = 1;
                track_packet(c, pf, COLLECTOR_UUID, 0, "sluice collector",
                             16, ns);
            }
            at = event_begin(pf, ns, COLLECTOR_UUID, TE_INSTANT, CAT_SLUICE,
                             "corrupt data skipped", 20);
            ann_uint(&pf->pkt, AN_CORRUPT_BLOCKS, lost);
            event_end(c, pf, at);
        }
    }
    if (p != NULL && !p->pf_track) {
        char label[32];
        int n;

        p->pf_track = 1;
        if (p->named && p->name_len > 0) {
            track_packet(c, pf, p->id, p->id, p->name, p->name_len, ns);
        } else {
            n = snprintf(label, sizeof(label), "producer %lu",
                         (unsigned long)p->id);
            track_packet(c, pf, p->id, p->id, label, (size_t)n, ns);
        }
    }
    return pf;
}

/* Starts a record's packet up to the TrackEvent's name; the caller adds
 * annotations and calls event_end(). @p name is interned. */
static size_t
event_begin(dump_pf *pf, uint64_t ns, uint64_t uuid, uint32_t type, int cat,
            const char *name, size_t name_len)
{
    pf_buf *b = &pf->pkt;
    uint64_t iid = 0;
    size_t at;

    packet_begin(pf, ns, PF_SEQ_NEEDS);
    if (name_len > NAME_MAX_LEN) {
        /* Cut at a character boundary: the name stays valid UTF-8. */
        name_len = NAME_MAX_LEN;
        while (name_len > 0 && ((uint8_t)name[name_len] & 0xC0) == 0x80)
            name_len--;
    }
    if (name != NULL)
        iid = name_iid(pf, name, name_len);
    at = pb_open(b, PF_TRACK_EVENT);
    pb_uint(b, TE_TYPE, type);
    pb_uint(b, TE_TRACK_UUID, uuid);
    pb_uint(b, TE_CATEGORY_IIDS, (uint64_t)cat);
    if (iid != 0)
        pb_uint(b, TE_NAME_IID, iid);
    else if (name != NULL)
        pb_bytes(b, TE_NAME, name, name_len);
    return at;
}

static void
event_end(dump_ctx *c, dump_pf *pf, size_t at)
{
    pb_close(&pf->pkt, at);
    packet_end(c, pf);
}

static int
label(char *buf, size_t cap, const char *what, uint64_t v)
{
    return snprintf(buf, cap, "%s%llu", what, (unsigned long long)v);
}

/* ---- the format's hooks -------------------------------------------------- */

static void
pf_begin(dump_ctx *c)
{
    c->pf = calloc(1, sizeof(*c->pf));
    if (c->pf == NULL)
        c->o->failed = 1;
}

/* A "sequence gap" instant when @p p's sequence numbers skip more than
 * its drop records account for (what --verify counts). */
static void
show_gap(dump_ctx *c, dump_pf *pf, dump_producer *p, uint64_t ns)
{
    uint64_t unexplained = p->gaps > p->dropped ? p->gaps - p->dropped : 0;
    size_t at;

    if (unexplained <= p->pf_gaps_shown)
        return;
    at = event_begin(pf, ns, p->id, TE_INSTANT, CAT_SLUICE, "sequence gap",
                     12);
    ann_uint(&pf->pkt, AN_MISSING, unexplained - p->pf_gaps_shown);
    event_end(c, pf, at);
    p->pf_gaps_shown = unexplained;
}

static void
pf_event(dump_ctx *c, const sluice_record *r, dump_producer *p)
{
    uint64_t ns = r->producer_ns != 0 ? r->producer_ns : r->collector_ns;
    uint32_t t = r->type, slice = t & DUMP_SLICE_ID_MASK;
    int begin = t >= DUMP_SLICE_BEGIN && t < DUMP_SLICE_END;
    int end = t >= DUMP_SLICE_END && t < 0xF000u;
    dump_pf *pf;
    char buf[48];
    size_t at;
    pf_buf *b;
    int named_by_payload = 0;

    if (c->pf == NULL)
        return;
    pf = prepare(c, p, ns);
    b = &pf->pkt;
    show_gap(c, pf, p, ns);
    if (begin) {
        if (r->payload_len > 0 && dump_all_printable(r->payload,
                                                     r->payload_len))
        {
            at = event_begin(pf, ns, p->id, TE_SLICE_BEGIN, CAT_SLICE,
                             (const char *)r->payload, r->payload_len);
            named_by_payload = r->payload_len <= NAME_MAX_LEN;
        } else
            at = event_begin(pf, ns, p->id, TE_SLICE_BEGIN, CAT_SLICE, buf,
                             (size_t)label(buf, sizeof(buf), "slice ",
                                           slice));
        p->pf_depth++;
    } else if (end && p->pf_depth > 0) {
        at = event_begin(pf, ns, p->id, TE_SLICE_END, CAT_SLICE, NULL, 0);
        p->pf_depth--;
    } else if (end) {
        at = event_begin(pf, ns, p->id, TE_INSTANT, CAT_EVENT, buf,
                         (size_t)label(buf, sizeof(buf),
                                       "end without begin: slice ", slice));
    } else if (r->payload_len > 0 && r->payload_len <= 64 &&
               dump_all_printable(r->payload, r->payload_len)) {
        at = event_begin(pf, ns, p->id, TE_INSTANT, CAT_EVENT,
                         (const char *)r->payload, r->payload_len);
        named_by_payload = 1;
    } else {
        at = event_begin(pf, ns, p->id, TE_INSTANT, CAT_EVENT, buf,
                         (size_t)label(buf, sizeof(buf), "type ", t));
    }
    ann_uint(b, AN_TYPE, t);
    ann_uint(b, AN_SEQ, r->seq);
    /* Small where the two clocks agree; the timestamp is the producer's. */
    ann_int(b, AN_COLLECTOR_DELAY, (int64_t)(r->collector_ns - ns));
    /* The name already is a payload that is short printable UTF-8. */
    if (r->payload_len > 0 && !named_by_payload)
        ann_text(b, AN_PAYLOAD, r->payload, r->payload_len);
    event_end(c, pf, at);
}

static void
pf_connect(dump_ctx *c, const sluice_record *r, dump_producer *p,
           const sluice_connect_info *ci)
{
    dump_pf *pf;
    size_t at;

    if (c->pf == NULL)
        return;
    pf = prepare(c, p, r->collector_ns);
    at = event_begin(pf, r->collector_ns, p->id, TE_INSTANT, CAT_SLUICE,
                     "connect", 7);
    ann_text(&pf->pkt, AN_NAME, (const uint8_t *)ci->name, ci->name_len);
    ann_uint(&pf->pkt, AN_PID, ci->pid);
    if (ci->uid != UINT32_MAX)
        ann_uint(&pf->pkt, AN_UID, ci->uid);
    ann_str(&pf->pkt, AN_MODE, dump_mode_name(ci->mode));
    event_end(c, pf, at);
}

static void
pf_disconnect(dump_ctx *c, const sluice_record *r, dump_producer *p,
              const sluice_disconnect_info *di)
{
    dump_pf *pf;
    size_t at;
    char buf[48];

    if (c->pf == NULL)
        return;
    pf = prepare(c, p, r->collector_ns);
    /* The producer is gone, so its open slices ended by now. */
    while (p->pf_depth > 0) {
        at = event_begin(pf, r->collector_ns, p->id, TE_SLICE_END, CAT_SLICE,
                         NULL, 0);
        event_end(c, pf, at);
        p->pf_depth--;
    }
    snprintf(buf, sizeof(buf), "disconnect %s",
             sluice_reason_name(di->reason));
    at = event_begin(pf, r->collector_ns, p->id, TE_INSTANT, CAT_SLUICE, buf,
                     strlen(buf));
    ann_str(&pf->pkt, AN_REASON, sluice_reason_str(di->reason));
    ann_uint(&pf->pkt, AN_EVENTS, di->events);
    ann_uint(&pf->pkt, AN_BYTES, di->bytes);
    ann_uint(&pf->pkt, AN_DROPPED, di->dropped);
    ann_uint(&pf->pkt, AN_MALFORMED, di->malformed);
    event_end(c, pf, at);
}

static void
pf_drop(dump_ctx *c, const sluice_record *r, dump_producer *p,
        const sluice_drop_info *dr)
{
    dump_pf *pf;
    size_t at;

    if (c->pf == NULL)
        return;
    pf = prepare(c, p, r->collector_ns);
    at = event_begin(pf, r->collector_ns, p->id, TE_INSTANT, CAT_SLUICE,
                     "drop", 4);
    ann_uint(&pf->pkt, AN_EVENTS, dr->events);
    ann_uint(&pf->pkt, AN_BYTES, dr->bytes);
    event_end(c, pf, at);
}

static void
pf_close(dump_ctx *c, const sluice_record *r, const sluice_close_info *cl)
{
    dump_pf *pf;
    size_t at;

    if (c->pf == NULL)
        return;
    pf = prepare(c, NULL, r->collector_ns);
    if (!pf->collector_track) {
        pf->collector_track = 1;
        track_packet(c, pf, COLLECTOR_UUID, 0, "sluice collector", 16,
                     r->collector_ns);
    }
    at = event_begin(pf, r->collector_ns, COLLECTOR_UUID, TE_INSTANT,
                     CAT_SLUICE, "close", 5);
    ann_uint(&pf->pkt, AN_PRODUCERS, cl->producers);
    ann_uint(&pf->pkt, AN_EVENTS, cl->events);
    ann_uint(&pf->pkt, AN_BYTES, cl->bytes);
    ann_uint(&pf->pkt, AN_DROPPED, cl->dropped);
    ann_uint(&pf->pkt, AN_MALFORMED, cl->malformed);
    event_end(c, pf, at);
}

/* An instant on the collector's track, named by the description. */
static void
pf_state(dump_ctx *c, const sluice_record *r, const sl_state_view *v,
         const char *desc, size_t len)
{
    dump_pf *pf;
    size_t at;
    char name[256];
    int n;

    if (c->pf == NULL)
        return;
    pf = prepare(c, NULL, r->collector_ns);
    if (!pf->collector_track) {
        pf->collector_track = 1;
        track_packet(c, pf, COLLECTOR_UUID, 0, "sluice collector", 16,
                     r->collector_ns);
    }
    (void)v;
    n = snprintf(name, sizeof(name), "state %.*s",
                 (int)(len > 240 ? 240 : len), desc);
    at = event_begin(pf, r->collector_ns, COLLECTOR_UUID, TE_INSTANT,
                     CAT_SLUICE, name, (size_t)n);
    event_end(c, pf, at);
}

static void
pf_end(dump_ctx *c)
{
    /* An empty capture is still a valid trace: the state packet. */
    if (c->pf != NULL && !c->pf->started)
        state_packet(c, c->pf, c->info->start_ns, 0);
}

void
dump_perfetto_free(dump_ctx *c)
{
    if (c->pf == NULL)
        return;
    free(c->pf->pkt.p);
    free(c->pf);
    c->pf = NULL;
}

const dump_format dump_fmt_perfetto = {
    "perfetto", pf_begin, pf_event, pf_connect, pf_disconnect,
    pf_drop,    pf_close, NULL,     pf_end, pf_state,
    NULL, /* trigger: not in the Perfetto trace (docs/cli.md) */
};
