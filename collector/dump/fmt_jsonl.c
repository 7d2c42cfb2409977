/*
 * --format jsonl: one JSON object per line (jsonlines.org), "kind" being
 * event, connect, disconnect, drop, state or close. Strings go through
 * dump_out_json_str(), so any payload gives valid JSON; integers are plain
 * JSON numbers (nanosecond times exceed 2^53, so readers that parse them
 * as doubles lose the last digits).
 */
#include <stdlib.h>

#include "dump.h"

static void
json_name(dump_out *o, const dump_producer *p)
{
    dump_out_str(o, ",\"name\":");
    if (p != NULL && p->named)
        dump_out_json_str(o, (const uint8_t *)p->name, p->name_len);
    else
        dump_out_str(o, "null");
}

static void
json_field(dump_out *o, const char *key, uint64_t v)
{
    dump_out_str(o, ",\"");
    dump_out_str(o, key);
    dump_out_str(o, "\":");
    dump_out_u64(o, v);
}

/* Opens the object of a collector record: kind, then producer and name
 * (the close record has neither). */
static void
head(dump_out *o, const char *kind, const sluice_record *r,
     const dump_producer *p)
{
    dump_out_str(o, "{\"kind\":\"");
    dump_out_str(o, kind);
    dump_out_ch(o, '"');
    if (r->type == SLUICE_REC_CLOSE)
        return;
    dump_out_str(o, ",\"producer\":");
    dump_out_u64(o, r->producer);
    json_name(o, p);
}

/* Closes it with the collector's timestamp. */
static void
tail(dump_out *o, const sluice_record *r)
{
    dump_out_str(o, ",\"collector_ns\":");
    dump_out_u64(o, r->collector_ns);
    dump_out_str(o, "}\n");
}

static void
jsonl_event(dump_ctx *c, const sluice_record *r, dump_producer *p)
{
    dump_out *o = c->o;

    dump_out_str(o, "{\"kind\":\"event\",\"producer\":");
    dump_out_u64(o, r->producer);
    json_name(o, p);
    dump_out_str(o, ",\"seq\":");
    dump_out_u64(o, r->seq);
    dump_out_str(o, ",\"type\":");
    dump_out_u64(o, r->type);
    dump_out_str(o, ",\"producer_ns\":");
    dump_out_u64(o, r->producer_ns);
    dump_out_str(o, ",\"collector_ns\":");
    dump_out_u64(o, r->collector_ns);
    dump_out_str(o, ",\"payload\":");
    dump_out_json_str(o, r->payload, r->payload_len);
    dump_out_str(o, "}\n");
}

static void
jsonl_connect(dump_ctx *c, const sluice_record *r, dump_producer *p,
              const sluice_connect_info *ci)
{
    dump_out *o = c->o;

    head(o, r->type == SLUICE_REC_LIVE ? "live" : "connect", r, p);
    if (r->type == SLUICE_REC_LIVE)
        json_field(o, "next_seq", r->seq);
    json_field(o, "pid", ci->pid);
    if (ci->uid == UINT32_MAX)
        dump_out_str(o, ",\"uid\":null");
    else
        json_field(o, "uid", ci->uid);
    dump_out_str(o, ",\"mode\":\"");
    dump_out_str(o, dump_mode_name(ci->mode));
    dump_out_ch(o, '"');
    tail(o, r);
}

static void
jsonl_disconnect(dump_ctx *c, const sluice_record *r, dump_producer *p,
                 const sluice_disconnect_info *di)
{
    dump_out *o = c->o;

    head(o, "disconnect", r, p);
    json_field(o, "events", di->events);
    json_field(o, "bytes", di->bytes);
    json_field(o, "dropped", di->dropped);
    dump_out_str(o, ",\"reason\":\"");
    dump_out_str(o, sluice_reason_name(di->reason));
    dump_out_str(o, "\"");
    json_field(o, "reason_code", di->reason);
    dump_out_str(o, ",\"reason_text\":\"");
    dump_out_str(o, sluice_reason_str(di->reason));
    dump_out_str(o, "\"");
    json_field(o, "malformed", di->malformed);
    json_field(o, "discarded", di->discarded);
    /* Appended fields (SHARED-DECISIONS 1), shown when not 0. */
    if (di->filtered != 0)
        json_field(o, "filtered", di->filtered);
    tail(o, r);
}

static void
jsonl_drop(dump_ctx *c, const sluice_record *r, dump_producer *p,
           const sluice_drop_info *dr)
{
    dump_out *o = c->o;

    head(o, "drop", r, p);
    json_field(o, "events", dr->events);
    json_field(o, "bytes", dr->bytes);
    tail(o, r);
}

static void
jsonl_close(dump_ctx *c, const sluice_record *r, const sluice_close_info *cl)
{
    dump_out *o = c->o;

    head(o, "close", r, NULL);
    json_field(o, "producers", cl->producers);
    json_field(o, "events", cl->events);
    json_field(o, "bytes", cl->bytes);
    json_field(o, "dropped", cl->dropped);
    json_field(o, "malformed", cl->malformed);
    /* Only when retention deleted unforwarded blocks (forwarding). */
    if (cl->expired_unforwarded != 0)
        json_field(o, "expired_unforwarded", cl->expired_unforwarded);
    tail(o, r);
}

static void
jsonl_other(dump_ctx *c, const sluice_record *r, dump_producer *p,
            const char *kind)
{
    dump_out *o = c->o;

    head(o, kind, r, p);
    json_field(o, "type", r->type);
    json_field(o, "payload_bytes", r->payload_len);
    tail(o, r);
}

static void
jsonl_types(dump_out *o, const char *key, const uint8_t *map, int value)
{
    size_t n = sl_state_format_types(map, value, NULL, 0);
    char *t = malloc(n + 1);

    dump_out_str(o, ",\"");
    dump_out_str(o, key);
    dump_out_str(o, "\":\"");
    if (t != NULL) {
        sl_state_format_types(map, value, t, n + 1);
        dump_out_bytes(o, t, n);
        free(t);
    }
    dump_out_ch(o, '"');
}

static void
jsonl_state(dump_ctx *c, const sluice_record *r, const sl_state_view *v,
            const char *desc, size_t len)
{
    dump_out *o = c->o;
    size_t off = 0;
    const char *k, *val;
    size_t kl, vl;
    int first = 1;

    (void)desc;
    (void)len;
    dump_out_str(o, "{\"kind\":\"state\",\"producer\":0");
    json_field(o, "gen", v->gen);
    jsonl_types(o, "enabled", v->enabled, 1);
    jsonl_types(o, "disabled", v->enabled, 0);
    dump_out_str(o, ",\"config\":{");
    while (sl_state_next_pair(v, &off, &k, &kl, &val, &vl)) {
        if (!first)
            dump_out_ch(o, ',');
        first = 0;
        dump_out_json_str(o, (const uint8_t *)k, kl);
        dump_out_ch(o, ':');
        dump_out_json_str(o, (const uint8_t *)val, vl);
    }
    dump_out_ch(o, '}');
    tail(o, r);
}

static void
jsonl_trigger(dump_ctx *c, const sluice_record *r,
              const sluice_trigger_info *t, const char *desc, size_t len)
{
    dump_out *o = c->o;

    (void)desc;
    (void)len;
    dump_out_str(o, "{\"kind\":\"trigger\",\"producer\":0");
    json_field(o, "snapshot", t->snapshot);
    dump_out_str(o, ",\"cause\":\"");
    dump_out_str(o, sluice_trigger_cause_name(t->cause));
    dump_out_ch(o, '"');
    json_field(o, "trigger_producer", t->producer);
    json_field(o, "trigger_seq", t->seq);
    json_field(o, "trigger_type", t->event_type);
    json_field(o, "after_ns", t->after_ns);
    dump_out_str(o, t->folded ? ",\"folded\":true" : ",\"folded\":false");
    tail(o, r);
}

const dump_format dump_fmt_jsonl = {
    "jsonl",    NULL,        jsonl_event, jsonl_connect, jsonl_disconnect,
    jsonl_drop, jsonl_close, jsonl_other, NULL,          jsonl_state,
    jsonl_trigger,
};
