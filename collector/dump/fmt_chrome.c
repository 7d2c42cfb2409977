/*
 * --format chrome: the Chrome Trace Event Format, JSON Object Format
 * ({"traceEvents":[...], ...}), which chrome://tracing and the Perfetto UI
 * open. Each producer is a process track (pid = tid = producer id) named
 * by "process_name" metadata from its connect record. Events are instant
 * events ("ph":"i", "s":"t"), except the types of the slice convention of
 * docs/protocol.md ("Event type conventions"): 0xE000..0xE7FF begin a
 * slice ("ph":"B", named by the payload) and 0xE800..0xEFFF end the
 * innermost open one ("ph":"E"). An end with no open slice becomes an
 * instant; slices still open at the producer's disconnect record end
 * there, so every track the file finalised is balanced. Connect,
 * disconnect and drop records are instants on the producer's track too.
 *
 * "ts" is in microseconds since the capture's start (the header's
 * start_ns), with three decimals so nanoseconds survive: the producer's
 * timestamp when it sent one, else the collector's. Relative times keep
 * the values small enough for readers that parse numbers as doubles; the
 * absolute start is in "otherData". The document is written as a stream,
 * one element per line, so a capture of any size needs no memory here.
 */
#include <string.h>

#include "dump.h"

static void
elem(dump_ctx *c)
{
    dump_out_str(c->o, c->chrome_any ? ",\n{" : "\n{");
    c->chrome_any = 1;
}

static void
ts_field(dump_ctx *c, uint64_t ns)
{
    dump_out_str(c->o, "\"ts\":");
    dump_out_usec(c->o, (int64_t)(ns - c->info->start_ns));
}

/* ,"pid":ID,"tid":ID */
static void
track(dump_out *o, uint32_t id)
{
    dump_out_str(o, ",\"pid\":");
    dump_out_u64(o, id);
    dump_out_str(o, ",\"tid\":");
    dump_out_u64(o, id);
}

static void
time_arg(dump_out *o, const char *key, uint64_t ns)
{
    dump_out_str(o, ",\"");
    dump_out_str(o, key);
    dump_out_str(o, "\":\"");
    dump_out_time(o, ns);
    dump_out_ch(o, '"');
}

static void
num_arg(dump_out *o, const char *key, uint64_t v)
{
    dump_out_str(o, ",\"");
    dump_out_str(o, key);
    dump_out_str(o, "\":");
    dump_out_u64(o, v);
}

/* The producer's name as a JSON string, or "producer ID" when it has none
 * (text mode) or no connect record was read. */
static void
track_name(dump_out *o, const dump_producer *p)
{
    if (p->named && p->name_len > 0) {
        dump_out_json_str(o, (const uint8_t *)p->name, p->name_len);
        return;
    }
    dump_out_str(o, "\"producer ");
    dump_out_u64(o, p->id);
    dump_out_ch(o, '"');
}

static void
meta(dump_ctx *c, dump_producer *p, const char *what, const char *key)
{
    dump_out *o = c->o;

    elem(c);
    dump_out_str(o, "\"ph\":\"M\",\"name\":\"");
    dump_out_str(o, what);
    dump_out_str(o, "\",\"ts\":0");
    track(o, p->id);
    dump_out_str(o, ",\"args\":{\"");
    dump_out_str(o, key);
    dump_out_str(o, "\":");
    if (key[0] == 'n')
        track_name(o, p);
    else
        dump_out_u64(o, p->id);
    dump_out_str(o, "}}");
}

/* Names the producer's track before its first element. */
static void
ensure_meta(dump_ctx *c, dump_producer *p)
{
    if (p->chrome_meta)
        return;
    p->chrome_meta = 1;
    meta(c, p, "process_name", "name");
    meta(c, p, "thread_name", "name");
    meta(c, p, "process_sort_index", "sort_index");
}

/* Opens an element: phase, scope for instants, ts, track, category. */
static void
open_elem(dump_ctx *c, dump_producer *p, char ph, uint64_t ns,
          const char *cat)
{
    dump_out *o = c->o;

    ensure_meta(c, p);
    elem(c);
    dump_out_str(o, "\"ph\":\"");
    dump_out_ch(o, ph);
    dump_out_str(o, ph == 'i' ? "\",\"s\":\"t\"," : "\",");
    ts_field(c, ns);
    track(o, p->id);
    dump_out_str(o, ",\"cat\":\"");
    dump_out_str(o, cat);
    dump_out_str(o, "\",\"name\":");
}

static void
type_label(dump_out *o, const char *what, uint64_t v)
{
    dump_out_ch(o, '"');
    dump_out_str(o, what);
    dump_out_u64(o, v);
    dump_out_ch(o, '"');
}

static void
chrome_begin(dump_ctx *c)
{
    dump_out_str(c->o, "{\"traceEvents\":[");
}

static void
chrome_event(dump_ctx *c, const sluice_record *r, dump_producer *p)
{
    dump_out *o = c->o;
    uint64_t ns = r->producer_ns != 0 ? r->producer_ns : r->collector_ns;
    uint32_t t = r->type, slice = t & DUMP_SLICE_ID_MASK;
    int begin = t >= DUMP_SLICE_BEGIN && t < DUMP_SLICE_END;
    int end = t >= DUMP_SLICE_END && t < 0xF000u;

    if (begin) {
        open_elem(c, p, 'B', ns, "slice");
        if (r->payload_len > 0)
            dump_out_json_str(o, r->payload, r->payload_len);
        else
            type_label(o, "slice ", slice);
        p->chrome_depth++;
    } else if (end && p->chrome_depth > 0) {
        open_elem(c, p, 'E', ns, "slice");
        if (r->payload_len > 0)
            dump_out_json_str(o, r->payload, r->payload_len);
        else
            type_label(o, "slice ", slice);
        p->chrome_depth--;
        /* Chrome merges an end's args into its slice's: distinct keys. */
        dump_out_str(o, ",\"args\":{\"end_type\":");
        dump_out_u64(o, t);
        num_arg(o, "end_seq", r->seq);
        time_arg(o, "end_collector_time", r->collector_ns);
        dump_out_str(o, "}}");
        return;
    } else {
        open_elem(c, p, 'i', ns, "event");
        if (end) {
            type_label(o, "end without begin: slice ", slice);
        } else if (r->payload_len > 0 && r->payload_len <= 64 &&
                   dump_all_printable(r->payload, r->payload_len)) {
            dump_out_json_str(o, r->payload, r->payload_len);
        } else {
            type_label(o, "type ", t);
        }
    }
    dump_out_str(o, ",\"args\":{\"type\":");
    dump_out_u64(o, t);
    num_arg(o, "seq", r->seq);
    time_arg(o, "collector_time", r->collector_ns);
    if (r->producer_ns != 0)
        time_arg(o, "producer_time", r->producer_ns);
    dump_out_str(o, ",\"payload\":");
    dump_out_json_str(o, r->payload, r->payload_len);
    dump_out_str(o, "}}");
}

static void
chrome_connect(dump_ctx *c, const sluice_record *r, dump_producer *p,
               const sluice_connect_info *ci)
{
    dump_out *o = c->o;

    open_elem(c, p, 'i', r->collector_ns, "sluice");
    dump_out_str(o, r->type == SLUICE_REC_LIVE ? "\"live\"" : "\"connect\"");
    dump_out_str(o, ",\"args\":{\"name\":");
    dump_out_json_str(o, (const uint8_t *)ci->name, ci->name_len);
    num_arg(o, "pid", ci->pid);
    if (ci->uid != UINT32_MAX)
        num_arg(o, "uid", ci->uid);
    dump_out_str(o, ",\"mode\":\"");
    dump_out_str(o, dump_mode_name(ci->mode));
    dump_out_str(o, "\"");
    time_arg(o, "collector_time", r->collector_ns);
    dump_out_str(o, "}}");
}

static void
chrome_disconnect(dump_ctx *c, const sluice_record *r, dump_producer *p,
                  const sluice_disconnect_info *di)
{
    dump_out *o = c->o;

    /* The producer is gone, so its open slices ended by now. */
    while (p->chrome_depth > 0) {
        open_elem(c, p, 'E', r->collector_ns, "slice");
        dump_out_str(o, "\"\",\"args\":{\"ended_by\":\"disconnect\"}}");
        p->chrome_depth--;
    }
    open_elem(c, p, 'i', r->collector_ns, "sluice");
    dump_out_str(o, "\"disconnect ");
    dump_out_str(o, sluice_reason_name(di->reason));
    dump_out_str(o, "\",\"args\":{\"reason\":\"");
    dump_out_str(o, sluice_reason_name(di->reason));
    dump_out_str(o, "\",\"reason_text\":\"");
    dump_out_str(o, sluice_reason_str(di->reason));
    dump_out_ch(o, '"');
    num_arg(o, "events", di->events);
    num_arg(o, "bytes", di->bytes);
    num_arg(o, "dropped", di->dropped);
    num_arg(o, "malformed", di->malformed);
    time_arg(o, "collector_time", r->collector_ns);
    dump_out_str(o, "}}");
}

static void
chrome_drop(dump_ctx *c, const sluice_record *r, dump_producer *p,
            const sluice_drop_info *dr)
{
    dump_out *o = c->o;

    open_elem(c, p, 'i', r->collector_ns, "sluice");
    dump_out_str(o, "\"drop\",\"args\":{\"events\":");
    dump_out_u64(o, dr->events);
    num_arg(o, "bytes", dr->bytes);
    time_arg(o, "collector_time", r->collector_ns);
    dump_out_str(o, "}}");
}

/* An instant on track 0 (the collector; no producer has id 0) named
 * "state gen=N", its description
 * in args. */
static void
chrome_state(dump_ctx *c, const sluice_record *r, const sl_state_view *v,
             const char *desc, size_t len)
{
    dump_out *o = c->o;

    elem(c);
    dump_out_str(o, "\"ph\":\"i\",\"s\":\"t\",");
    ts_field(c, r->collector_ns);
    dump_out_str(o, ",\"pid\":0,\"tid\":0,\"cat\":\"sluice\",\"name\":"
                    "\"state gen=");
    dump_out_u64(o, v->gen);
    dump_out_str(o, "\",\"args\":{\"state\":");
    dump_out_json_str(o, (const uint8_t *)desc, len);
    time_arg(o, "collector_time", r->collector_ns);
    dump_out_str(o, "}}");
}

static void
chrome_end(dump_ctx *c)
{
    dump_out *o = c->o;
    const sluice_capture_info *in = c->info;

    dump_out_str(o, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{"
                    "\"generator\":\"sluice-dump\",\"pipe\":");
    dump_out_json_str(o, (const uint8_t *)in->pipe, strlen(in->pipe));
    dump_out_str(o, ",\"host\":");
    dump_out_json_str(o, (const uint8_t *)in->host, strlen(in->host));
    /* A string: 19-digit nanoseconds do not survive a double. */
    dump_out_str(o, ",\"start_ns\":\"");
    dump_out_u64(o, in->start_ns);
    dump_out_str(o, "\",\"start_time\":\"");
    dump_out_time(o, in->start_ns);
    dump_out_str(o, "\",\"ts\":\"microseconds since start_time; the "
                    "producer's timestamp when it sent one, else the "
                    "collector's\"}}\n");
}

/* An instant on track 0 (the collector) named "trigger CAUSE", the
 * whole description in args. */
static void
chrome_trigger(dump_ctx *c, const sluice_record *r,
               const sluice_trigger_info *t, const char *desc, size_t len)
{
    dump_out *o = c->o;

    elem(c);
    dump_out_str(o, "\"ph\":\"i\",\"s\":\"g\",");
    ts_field(c, r->collector_ns);
    dump_out_str(o, ",\"pid\":0,\"tid\":0,\"cat\":\"sluice\",\"name\":"
                    "\"trigger ");
    dump_out_str(o, sluice_trigger_cause_name(t->cause));
    dump_out_str(o, "\",\"args\":{\"trigger\":");
    dump_out_json_str(o, (const uint8_t *)desc, len);
    time_arg(o, "collector_time", r->collector_ns);
    dump_out_str(o, "}}");
}

const dump_format dump_fmt_chrome = {
    "chrome",    chrome_begin, chrome_event, chrome_connect, chrome_disconnect,
    chrome_drop, NULL,         NULL,         chrome_end,   chrome_state,
    chrome_trigger,
};
