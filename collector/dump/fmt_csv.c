/*
 * --format csv: RFC 4180 CSV of the events (collector records are not
 * rows; --stats --format csv tabulates the producers). A header row names
 * the columns, records end in CRLF as RFC 4180 says, and the two text
 * columns (name, payload) go through dump_out_csv_field(): C escapes for
 * anything that is not printable UTF-8, so a payload is always one field
 * on one line, quoted when it holds ',' or '"'.
 */
#include "dump.h"

static void
csv_begin(dump_ctx *c)
{
    dump_out_str(c->o, "collector_time,collector_ns,producer,name,seq,type,"
                       "producer_ns,payload_bytes,payload\r\n");
}

static void
csv_event(dump_ctx *c, const sluice_record *r, dump_producer *p)
{
    dump_out *o = c->o;

    dump_out_time(o, r->collector_ns);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->collector_ns);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->producer);
    dump_out_ch(o, ',');
    if (p != NULL && p->named)
        dump_out_csv_field(o, (const uint8_t *)p->name, p->name_len);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->seq);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->type);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->producer_ns);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->payload_len);
    dump_out_ch(o, ',');
    dump_out_csv_field(o, r->payload, r->payload_len);
    dump_out_str(o, "\r\n");
}

/* A state record as a row of producer 0 named "(state)": seq is the
 * state's generation, type 61472 (0xF020), the payload its description. */
static void
csv_state(dump_ctx *c, const sluice_record *r, const sl_state_view *v,
          const char *desc, size_t len)
{
    dump_out *o = c->o;

    dump_out_time(o, r->collector_ns);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->collector_ns);
    dump_out_str(o, ",0,(state),");
    dump_out_u64(o, v->gen);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->type);
    dump_out_str(o, ",0,");
    dump_out_u64(o, len);
    dump_out_ch(o, ',');
    dump_out_csv_field(o, (const uint8_t *)desc, len);
    dump_out_str(o, "\r\n");
}

/* A trigger record as a row of producer 0 named "(trigger)": seq is the
 * snapshot's number, type 61447 (0xF007), the payload its description. */
static void
csv_trigger(dump_ctx *c, const sluice_record *r,
            const sluice_trigger_info *t, const char *desc, size_t len)
{
    dump_out *o = c->o;

    dump_out_time(o, r->collector_ns);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->collector_ns);
    dump_out_str(o, ",0,(trigger),");
    dump_out_u64(o, t->snapshot);
    dump_out_ch(o, ',');
    dump_out_u64(o, r->type);
    dump_out_str(o, ",0,");
    dump_out_u64(o, len);
    dump_out_ch(o, ',');
    dump_out_csv_field(o, (const uint8_t *)desc, len);
    dump_out_str(o, "\r\n");
}

const dump_format dump_fmt_csv = {
    "csv", csv_begin, csv_event, NULL, NULL, NULL, NULL, NULL, NULL,
    csv_state, csv_trigger,
};
