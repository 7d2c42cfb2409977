/*
 * --format text: one line per record, for people, in the spirit of
 * babeltrace:
 *   [2023-11-14T22:13:20.003000000Z] (+0.001000000) app[1] #1 type=1: world
 * collector time (UTC), the time since the previous printed event ("+?.?"
 * for the first), producer name and id, sequence number, type, payload.
 * Collector records print as "--- connect ...", "--- disconnect ...",
 * "--- drop ..." and "--- close ..." lines.
 *
 * Every field is unambiguous whatever a producer sends: names are
 * dump_out_field() (escaped, spaces as \x20, so a name can never look
 * like more fields), and the payload, the last field, runs to the end of
 * the line with every control and bidi character escaped.
 */
#include <stdlib.h>

#include "dump.h"

/* "?" for a producer without a connect record, or with an empty name (text
 * mode has none), so the line still starts with a visible name. */
static void
text_name(dump_out *o, const dump_producer *p)
{
    if (p != NULL && p->named && p->name_len > 0)
        dump_out_field(o, (const uint8_t *)p->name, p->name_len);
    else
        dump_out_ch(o, '?');
}

static void
field(dump_out *o, const char *key, uint64_t v)
{
    dump_out_ch(o, ' ');
    dump_out_str(o, key);
    dump_out_ch(o, '=');
    dump_out_u64(o, v);
}

static void
text_event(dump_ctx *c, const sluice_record *r, dump_producer *p)
{
    dump_out *o = c->o;

    dump_out_ch(o, '[');
    dump_out_time(o, r->collector_ns);
    dump_out_str(o, "] (");
    if (c->have_prev)
        dump_out_seconds(o, (int64_t)(r->collector_ns - c->prev_ns));
    else /* babeltrace's mark for "no previous event"; "\?": trigraphs */
        dump_out_str(o, "+?.\?\?\?\?\?\?\?\?\?");
    dump_out_str(o, ") ");
    c->have_prev = 1;
    c->prev_ns = r->collector_ns;
    text_name(o, p);
    dump_out_ch(o, '[');
    dump_out_u64(o, r->producer);
    dump_out_str(o, "] #");
    dump_out_u64(o, r->seq);
    dump_out_str(o, " type=");
    dump_out_u64(o, r->type);
    dump_out_str(o, ": ");
    dump_out_text(o, r->payload, r->payload_len);
    dump_out_ch(o, '\n');
}

static void
text_connect(dump_ctx *c, const sluice_record *r, dump_producer *p,
             const sluice_connect_info *ci)
{
    dump_out *o = c->o;

    (void)p;
    /* A LIVE record (a rotated chunk's preamble) has the connect's
     * fields and the producer's next sequence number. */
    dump_out_str(o, r->type == SLUICE_REC_LIVE ? "--- live" : "--- connect");
    field(o, "id", r->producer);
    if (r->type == SLUICE_REC_LIVE)
        field(o, "next_seq", r->seq);
    dump_out_str(o, " name=");
    dump_out_field(o, (const uint8_t *)ci->name, ci->name_len);
    field(o, "pid", ci->pid);
    if (ci->uid == UINT32_MAX)
        dump_out_str(o, " uid=?");
    else
        field(o, "uid", ci->uid);
    dump_out_str(o, " mode=");
    dump_out_str(o, dump_mode_name(ci->mode));
    dump_out_ch(o, '\n');
}

static void
text_disconnect(dump_ctx *c, const sluice_record *r, dump_producer *p,
                const sluice_disconnect_info *di)
{
    dump_out *o = c->o;

    (void)p;
    dump_out_str(o, "--- disconnect");
    field(o, "id", r->producer);
    field(o, "events", di->events);
    field(o, "bytes", di->bytes);
    field(o, "dropped", di->dropped);
    if (di->discarded != 0)
        field(o, "discarded", di->discarded);
    if (di->filtered != 0)
        field(o, "filtered", di->filtered);
    dump_out_str(o, " reason=");
    dump_out_str(o, sluice_reason_name(di->reason));
    dump_out_str(o, " (");
    dump_out_str(o, sluice_reason_str(di->reason));
    dump_out_str(o, ")\n");
}

static void
text_drop(dump_ctx *c, const sluice_record *r, dump_producer *p,
          const sluice_drop_info *dr)
{
    dump_out *o = c->o;

    (void)p;
    dump_out_str(o, "--- drop");
    field(o, "id", r->producer);
    field(o, "events", dr->events);
    field(o, "bytes", dr->bytes);
    dump_out_ch(o, '\n');
}

static void
text_close(dump_ctx *c, const sluice_record *r, const sluice_close_info *cl)
{
    dump_out *o = c->o;

    (void)r;
    dump_out_str(o, "--- close");
    field(o, "producers", cl->producers);
    field(o, "events", cl->events);
    dump_out_ch(o, '\n');
}

static void
text_other(dump_ctx *c, const sluice_record *r, dump_producer *p,
           const char *kind)
{
    dump_out *o = c->o;

    (void)p;
    dump_out_str(o, "--- ");
    dump_out_str(o, kind);
    dump_out_str(o, " record type=");
    dump_out_u64(o, r->type);
    field(o, "id", r->producer);
    field(o, "payload_bytes", r->payload_len);
    dump_out_ch(o, '\n');
}

static void
text_state(dump_ctx *c, const sluice_record *r, const sl_state_view *v,
           const char *desc, size_t len)
{
    dump_out *o = c->o;
    size_t off = 0, kl, vl, dis;
    const char *k, *val;
    char *types;

    (void)r;
    (void)desc;
    (void)len;
    /* Written from the view, not from the one-line description: each
     * value is one word escaped as a name is (a space is \x20), so a
     * value can neither split into fields nor fake a pair. */
    dump_out_str(o, "--- state gen=");
    dump_out_u64(o, v->gen);
    dump_out_str(o, " disabled=");
    dis = sl_state_format_types(v->enabled, 0, NULL, 0);
    types = dis > 0 ? malloc(dis + 1) : NULL;
    if (types != NULL) {
        sl_state_format_types(v->enabled, 0, types, dis + 1);
        dump_out_bytes(o, (const uint8_t *)types, dis);
        free(types);
    } else {
        dump_out_ch(o, dis == 0 ? '-' : '?'); /* '?': out of memory */
    }
    dump_out_str(o, " config=");
    dump_out_u64(o, v->npairs);
    if (v->npairs > 0)
        dump_out_ch(o, ':');
    while (sl_state_next_pair(v, &off, &k, &kl, &val, &vl)) {
        dump_out_ch(o, ' ');
        dump_out_word(o, (const uint8_t *)k, kl);
        dump_out_ch(o, '=');
        dump_out_word(o, (const uint8_t *)val, vl);
    }
    dump_out_ch(o, '\n');
}

/* "--- trigger snapshot=N cause=C producer=P seq=S type=T after_ns=A
 * folded=F": every value a number or a fixed word. */
static void
text_trigger(dump_ctx *c, const sluice_record *r,
             const sluice_trigger_info *t, const char *desc, size_t len)
{
    dump_out *o = c->o;

    (void)r;
    (void)t;
    dump_out_str(o, "--- trigger ");
    dump_out_bytes(o, desc, len);
    dump_out_ch(o, '\n');
}

const dump_format dump_fmt_text = {
    "text",    NULL,       text_event, text_connect, text_disconnect,
    text_drop, text_close, text_other, NULL,         text_state,
    text_trigger,
};
