/*
 * --stats: one row per selected producer, in id order, from what the run
 * gathered in the producer table. As text the columns are aligned (numbers
 * to the right) and a totals row follows; as CSV there is a header row and
 * no totals; as JSON Lines one object per producer, then the totals. The
 * table needs memory for one pointer per producer, never per event.
 */
#include <stdlib.h>
#include <string.h>

#include "dump.h"

enum {
    C_ID,
    C_NAME,
    C_PID,
    C_MODE,
    C_EVENTS,
    C_BYTES,
    C_FIRST,
    C_LAST,
    C_GAPS,
    C_DROPPED,
    C_END,
    NCOL
};

static const char *const heads[NCOL] = {
    "ID",    "NAME", "PID",  "MODE", "EVENTS", "BYTES",
    "FIRST", "LAST", "GAPS", "DROPPED", "END"};
static const int right[NCOL] = {1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0};

/* Gaps that no drop record accounts for, as --verify counts them. */
static uint64_t
gaps_of(const dump_producer *p)
{
    return p->gaps > p->dropped ? p->gaps - p->dropped : 0;
}

static int
by_id(const void *a, const void *b)
{
    uint32_t x = (*(const dump_producer *const *)a)->id;
    uint32_t y = (*(const dump_producer *const *)b)->id;

    return x < y ? -1 : x > y;
}

typedef struct totals {
    uint64_t producers, events, bytes, gaps, dropped, first, last;
} totals;

/* ---- aligned text -------------------------------------------------------- */

/* Cells are formatted into a scratch buffer: once to measure, once to
 * print. A cell is at most an escaped name (255 bytes, 4 each). */
#define CELL_CAP 1100

static void
cell(dump_out *s, const dump_producer *p, const totals *t, int col)
{
    s->len = 0;
    switch (col) {
    case C_ID:
        if (p != NULL)
            dump_out_u64(s, p->id);
        else
            dump_out_str(s, "total");
        break;
    case C_NAME:
        if (p == NULL) {
            dump_out_u64(s, t->producers);
            dump_out_str(s, t->producers == 1 ? " producer" : " producers");
        } else if (p->named && p->name_len > 0) {
            dump_out_text(s, (const uint8_t *)p->name, p->name_len);
        } else {
            dump_out_ch(s, '?');
        }
        break;
    case C_PID:
        if (p != NULL && p->named)
            dump_out_u64(s, p->pid);
        else if (p != NULL)
            dump_out_ch(s, '-');
        break;
    case C_MODE:
        if (p != NULL)
            dump_out_str(s, p->named ? dump_mode_name(p->mode) : "-");
        break;
    case C_EVENTS:
        dump_out_u64(s, p != NULL ? p->events : t->events);
        break;
    case C_BYTES:
        dump_out_u64(s, p != NULL ? p->bytes : t->bytes);
        break;
    case C_FIRST:
    case C_LAST: {
        uint64_t n = p != NULL ? p->events : t->events;
        uint64_t v = col == C_FIRST ? (p != NULL ? p->first_ns : t->first)
                                    : (p != NULL ? p->last_ns : t->last);

        if (n > 0)
            dump_out_time(s, v);
        else
            dump_out_ch(s, '-');
        break;
    }
    case C_GAPS:
        dump_out_u64(s, p != NULL ? gaps_of(p) : t->gaps);
        break;
    case C_DROPPED:
        dump_out_u64(s, p != NULL ? p->dropped : t->dropped);
        break;
    case C_END:
        if (p != NULL)
            dump_out_str(s, p->ended ? sluice_reason_name(p->reason) : "-");
        break;
    }
}

/* Display columns: UTF-8 characters, not bytes. */
static size_t
width(const dump_out *s)
{
    size_t i, w = 0;

    for (i = 0; i < s->len; i++)
        w += ((uint8_t)s->buf[i] & 0xC0) != 0x80;
    return w;
}

static void
pad(dump_out *o, size_t n)
{
    while (n-- > 0)
        dump_out_ch(o, ' ');
}

/* The header row when p and t are both NULL. */
static void
cell_or_head(dump_out *s, const dump_producer *p, const totals *t, int col)
{
    if (p == NULL && t == NULL) {
        s->len = 0;
        dump_out_str(s, heads[col]);
    } else {
        cell(s, p, t, col);
    }
}

static void
text_row(dump_out *o, dump_out *s, const dump_producer *p, const totals *t,
         const size_t *w)
{
    size_t cw[NCOL];
    int col, last = 0;

    /* Measure first, so that no row ends in spaces. */
    for (col = 0; col < NCOL; col++) {
        cell_or_head(s, p, t, col);
        cw[col] = width(s);
        if (cw[col] > 0)
            last = col;
    }
    for (col = 0; col <= last; col++) {
        cell_or_head(s, p, t, col);
        if (col > 0)
            dump_out_str(o, "  ");
        if (right[col])
            pad(o, w[col] - cw[col]);
        dump_out_bytes(o, s->buf, s->len);
        if (!right[col] && col < last)
            pad(o, w[col] - cw[col]);
    }
    dump_out_ch(o, '\n');
}

static void
print_text(dump_out *o, dump_producer **rows, size_t n, const totals *t)
{
    char scratch[CELL_CAP];
    dump_out s;
    size_t w[NCOL], i;
    int col;

    memset(&s, 0, sizeof(s));
    s.buf = scratch;
    s.cap = sizeof(scratch);
    for (col = 0; col < NCOL; col++) {
        w[col] = strlen(heads[col]);
        for (i = 0; i <= n; i++) {
            size_t cw;

            cell(&s, i < n ? rows[i] : NULL, t, col);
            cw = width(&s);
            if (cw > w[col])
                w[col] = cw;
        }
    }
    text_row(o, &s, NULL, NULL, w);
    for (i = 0; i < n; i++)
        text_row(o, &s, rows[i], t, w);
    text_row(o, &s, NULL, t, w);
}

/* ---- CSV and JSON Lines -------------------------------------------------- */

static void
print_csv(dump_out *o, dump_producer **rows, size_t n)
{
    size_t i;

    dump_out_str(o, "id,name,pid,mode,events,bytes,first_time,first_ns,"
                    "last_time,last_ns,gaps,dropped,end\r\n");
    for (i = 0; i < n; i++) {
        const dump_producer *p = rows[i];

        dump_out_u64(o, p->id);
        dump_out_ch(o, ',');
        if (p->named)
            dump_out_csv_field(o, (const uint8_t *)p->name, p->name_len);
        dump_out_ch(o, ',');
        if (p->named) {
            dump_out_u64(o, p->pid);
            dump_out_ch(o, ',');
            dump_out_str(o, dump_mode_name(p->mode));
        } else {
            dump_out_ch(o, ',');
        }
        dump_out_ch(o, ',');
        dump_out_u64(o, p->events);
        dump_out_ch(o, ',');
        dump_out_u64(o, p->bytes);
        dump_out_ch(o, ',');
        if (p->events > 0) {
            dump_out_time(o, p->first_ns);
            dump_out_ch(o, ',');
            dump_out_u64(o, p->first_ns);
            dump_out_ch(o, ',');
            dump_out_time(o, p->last_ns);
            dump_out_ch(o, ',');
            dump_out_u64(o, p->last_ns);
        } else {
            dump_out_str(o, ",,,");
        }
        dump_out_ch(o, ',');
        dump_out_u64(o, gaps_of(p));
        dump_out_ch(o, ',');
        dump_out_u64(o, p->dropped);
        dump_out_ch(o, ',');
        if (p->ended)
            dump_out_str(o, sluice_reason_name(p->reason));
        dump_out_str(o, "\r\n");
    }
}

static void
jfield(dump_out *o, const char *key, uint64_t v)
{
    dump_out_str(o, ",\"");
    dump_out_str(o, key);
    dump_out_str(o, "\":");
    dump_out_u64(o, v);
}

static void
jtimes(dump_out *o, uint64_t events, uint64_t first, uint64_t last)
{
    if (events == 0) {
        dump_out_str(o, ",\"first_ns\":null,\"last_ns\":null");
        return;
    }
    jfield(o, "first_ns", first);
    jfield(o, "last_ns", last);
}

static void
print_jsonl(dump_out *o, dump_producer **rows, size_t n, const totals *t)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const dump_producer *p = rows[i];

        dump_out_str(o, "{\"kind\":\"producer\",\"id\":");
        dump_out_u64(o, p->id);
        dump_out_str(o, ",\"name\":");
        if (p->named)
            dump_out_json_str(o, (const uint8_t *)p->name, p->name_len);
        else
            dump_out_str(o, "null");
        if (p->named) {
            jfield(o, "pid", p->pid);
            dump_out_str(o, ",\"mode\":\"");
            dump_out_str(o, dump_mode_name(p->mode));
            dump_out_ch(o, '"');
        } else {
            dump_out_str(o, ",\"pid\":null,\"mode\":null");
        }
        jfield(o, "events", p->events);
        jfield(o, "bytes", p->bytes);
        jtimes(o, p->events, p->first_ns, p->last_ns);
        jfield(o, "gaps", gaps_of(p));
        jfield(o, "dropped", p->dropped);
        dump_out_str(o, ",\"end\":");
        if (p->ended) {
            dump_out_ch(o, '"');
            dump_out_str(o, sluice_reason_name(p->reason));
            dump_out_ch(o, '"');
        } else {
            dump_out_str(o, "null");
        }
        dump_out_str(o, "}\n");
    }
    dump_out_str(o, "{\"kind\":\"total\",\"producers\":");
    dump_out_u64(o, t->producers);
    jfield(o, "events", t->events);
    jfield(o, "bytes", t->bytes);
    jtimes(o, t->events, t->first, t->last);
    jfield(o, "gaps", t->gaps);
    jfield(o, "dropped", t->dropped);
    dump_out_str(o, "}\n");
}

int
dump_stats_print(dump_out *o, const dump_producers *tab, int style)
{
    dump_producer **rows;
    totals t;
    size_t k, n = 0;
    int have_time = 0;

    rows = malloc((tab->count > 0 ? tab->count : 1) * sizeof(*rows));
    if (rows == NULL)
        return SLUICE_ENOMEM;
    memset(&t, 0, sizeof(t));
    for (k = 0; k < tab->cap; k++) {
        dump_producer *p = &tab->slot[k];

        if (!p->used || !p->selected)
            continue;
        rows[n++] = p;
        t.events += p->events;
        t.bytes += p->bytes;
        t.gaps += gaps_of(p);
        t.dropped += p->dropped;
        if (p->events > 0) {
            if (!have_time || p->first_ns < t.first)
                t.first = p->first_ns;
            if (!have_time || p->last_ns > t.last)
                t.last = p->last_ns;
            have_time = 1;
        }
    }
    t.producers = n;
    qsort(rows, n, sizeof(*rows), by_id);
    if (style == DUMP_STATS_CSV)
        print_csv(o, rows, n);
    else if (style == DUMP_STATS_JSONL)
        print_jsonl(o, rows, n, &t);
    else
        print_text(o, rows, n, &t);
    free(rows);
    return 0;
}
