/*
 * sluice-dump: prints a capture file as text or JSON Lines, verifies it
 * (--verify: checksums through the reader, then every producer's sequence
 * numbers), or follows it while the collector is still writing (--follow).
 * Everything it knows about the file comes from the public reader
 * (sluice/capture.h); this file only turns records into lines. Output goes
 * through one large buffer and plain fwrite, so dumping tens of millions of
 * records costs little more than reading them. Exit codes are listed in
 * usage() and in docs/capture-format.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "sluice/capture.h"

#define PROG "sluice-dump"
#define OUT_CAP ((size_t)1 << 20)
#define FOLLOW_POLL_NS 100000000ull /* 100 ms */

/* Exit codes (also in usage()). */
enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1,
    EXIT_USAGE = 2,
    EXIT_INCOMPLETE = 3,
    EXIT_CORRUPT = 4,
};

enum { FMT_TEXT, FMT_JSONL };

typedef struct options {
    const char *path;
    int format;
    int verify;
    int follow;
    int have_producer;
    uint32_t producer;
} options;

/* ---- output buffer ------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t len;
    int failed;
    /* out_time()'s last "YYYY-MM-DDTHH:MM:SS." and the second it is for:
     * consecutive records mostly share it. */
    uint64_t time_secs;
    char time_prefix[20];
} out;

static void
out_flush(out *o)
{
    if (o->len > 0 && !o->failed &&
        fwrite(o->buf, 1, o->len, stdout) != o->len)
        o->failed = 1;
    o->len = 0;
}

static void
out_bytes(out *o, const void *p, size_t n)
{
    if (o->len + n > OUT_CAP) {
        out_flush(o);
        if (n > OUT_CAP) {
            if (!o->failed && fwrite(p, 1, n, stdout) != n)
                o->failed = 1;
            return;
        }
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void
out_ch(out *o, char c)
{
    if (o->len == OUT_CAP)
        out_flush(o);
    o->buf[o->len++] = c;
}

static void
out_str(out *o, const char *s)
{
    out_bytes(o, s, strlen(s));
}

static void
out_u64(out *o, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    out_bytes(o, tmp + sizeof(tmp) - n, n);
}

/* Fixed-width, zero-padded decimal (the low digits if v is wider). */
static void
dec_fixed(char *dst, uint64_t v, int width)
{
    int i;

    for (i = width - 1; i >= 0; i--) {
        dst[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void
out_dec(out *o, uint64_t v, int width)
{
    char tmp[20];

    dec_fixed(tmp, v, width);
    out_bytes(o, tmp, (size_t)width);
}

static void
out_hex2(out *o, const char *prefix, uint8_t b)
{
    static const char hex[] = "0123456789abcdef";

    out_str(o, prefix);
    out_ch(o, hex[b >> 4]);
    out_ch(o, hex[b & 15]);
}

/* 2024-01-02T03:04:05.123456789Z. Days to a civil date by Howard
 * Hinnant's days_from_civil inverse: no gmtime, no locale, no platform
 * differences, and valid for every uint64_t nanosecond count. */
static void
out_time(out *o, uint64_t ns)
{
    uint64_t secs = ns / 1000000000u;

    if (secs != o->time_secs || o->time_prefix[0] == '\0') {
        uint64_t days = secs / 86400, rem = secs % 86400;
        uint64_t z = days + 719468, era = z / 146097;
        uint64_t doe = z - era * 146097;
        uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint64_t mp = (5 * doy + 2) / 153;
        uint64_t d = doy - (153 * mp + 2) / 5 + 1;
        uint64_t m = mp < 10 ? mp + 3 : mp - 9;
        uint64_t y = yoe + era * 400 + (m <= 2);
        char *t = o->time_prefix;

        dec_fixed(t, y, 4);
        t[4] = '-';
        dec_fixed(t + 5, m, 2);
        t[7] = '-';
        dec_fixed(t + 8, d, 2);
        t[10] = 'T';
        dec_fixed(t + 11, rem / 3600, 2);
        t[13] = ':';
        dec_fixed(t + 14, rem / 60 % 60, 2);
        t[16] = ':';
        dec_fixed(t + 17, rem % 60, 2);
        t[19] = '.';
        o->time_secs = secs;
    }
    out_bytes(o, o->time_prefix, sizeof(o->time_prefix));
    out_dec(o, ns % 1000000000u, 9);
    out_ch(o, 'Z');
}

/* ---- payload escaping ---------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (no overlongs, no
 * surrogates, at most U+10FFFF), or 0 if the bytes there are not one. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];

    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (b >= 0xE0 && b <= 0xEF) {
        uint8_t lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;

        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
                   ? 3
                   : 0;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        uint8_t lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;

        return n >= 4 && p[1] >= lo && p[1] <= hi &&
                       (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* A printable character: not a C0/C1 control or DEL. */
static int
printable_at(const uint8_t *p, size_t len)
{
    if (len == 1)
        return p[0] >= 0x20 && p[0] != 0x7F;
    if (len == 2 && p[0] == 0xC2 && p[1] < 0xA0)
        return 0; /* U+0080..U+009F */
    return len > 1;
}

static int
all_printable(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t l;

        if (p[i] >= 0x20 && p[i] < 0x7F) {
            i++;
            continue;
        }
        l = utf8_len(p + i, n - i);
        if (l == 0 || !printable_at(p + i, l))
            return 0;
        i += l;
    }
    return 1;
}

/* Text format: as-is when every character is printable, otherwise C-style
 * escapes for the rest (and \\ for backslashes, so the result is
 * unambiguous). */
static void
out_text_escaped(out *o, const uint8_t *p, size_t n)
{
    size_t i = 0;

    if (all_printable(p, n)) {
        out_bytes(o, p, n);
        return;
    }
    while (i < n) {
        size_t l = utf8_len(p + i, n - i);

        if (l > 0 && printable_at(p + i, l) && p[i] != '\\') {
            out_bytes(o, p + i, l);
            i += l;
            continue;
        }
        switch (p[i]) {
        case '\\':
            out_str(o, "\\\\");
            break;
        case '\n':
            out_str(o, "\\n");
            break;
        case '\t':
            out_str(o, "\\t");
            break;
        case '\r':
            out_str(o, "\\r");
            break;
        default:
            out_hex2(o, "\\x", p[i]);
            break;
        }
        i++;
    }
}

/* A JSON string. Bytes that are not valid UTF-8 become \u00XX with the
 * byte's value (so the line stays valid JSON; such a byte reads back as
 * the code point U+00XX, which --help and the format document mention). */
static void
out_json_str(out *o, const uint8_t *p, size_t n)
{
    size_t i = 0;

    out_ch(o, '"');
    while (i < n) {
        uint8_t b = p[i];
        size_t l;

        if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
            size_t j = i + 1;

            while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' &&
                   p[j] != '\\')
                j++;
            out_bytes(o, p + i, j - i);
            i = j;
            continue;
        }
        switch (b) {
        case '"':
            out_str(o, "\\\"");
            i++;
            continue;
        case '\\':
            out_str(o, "\\\\");
            i++;
            continue;
        case '\n':
            out_str(o, "\\n");
            i++;
            continue;
        case '\r':
            out_str(o, "\\r");
            i++;
            continue;
        case '\t':
            out_str(o, "\\t");
            i++;
            continue;
        default:
            break;
        }
        l = b < 0x20 ? 0 : utf8_len(p + i, n - i);
        if (l == 0) {
            out_hex2(o, "\\u00", b);
            i++;
        } else {
            out_bytes(o, p + i, l);
            i += l;
        }
    }
    out_ch(o, '"');
}

/* ---- producers ----------------------------------------------------------- */

typedef struct producer {
    uint32_t id;
    int used;
    int named;
    char *name;
    uint16_t name_len;
    uint32_t pid;
    /* --verify */
    uint64_t next_seq;
    uint64_t gaps;
    uint64_t dropped;
} producer;

typedef struct producers {
    producer *slot;
    size_t cap; /* power of two */
    size_t count;
    producer *last; /* one-entry cache: records come in runs */
} producers;

static size_t
hash_id(uint32_t id)
{
    return (size_t)(id * 2654435761u);
}

/* Finds or adds producer id. @return NULL when out of memory. */
static producer *
producer_get(producers *t, uint32_t id)
{
    size_t i;

    if (t->last != NULL && t->last->id == id)
        return t->last;
    if (t->count * 2 >= t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64, k;
        producer *ns = calloc(ncap, sizeof(*ns));

        if (ns == NULL)
            return NULL;
        for (k = 0; k < t->cap; k++) {
            if (!t->slot[k].used)
                continue;
            i = hash_id(t->slot[k].id) & (ncap - 1);
            while (ns[i].used)
                i = (i + 1) & (ncap - 1);
            ns[i] = t->slot[k];
        }
        free(t->slot);
        t->slot = ns;
        t->cap = ncap;
    }
    i = hash_id(id) & (t->cap - 1);
    while (t->slot[i].used && t->slot[i].id != id)
        i = (i + 1) & (t->cap - 1);
    if (!t->slot[i].used) {
        t->slot[i].used = 1;
        t->slot[i].id = id;
        t->count++;
    }
    t->last = &t->slot[i];
    return t->last;
}

static void
producers_free(producers *t)
{
    size_t k;

    for (k = 0; k < t->cap; k++)
        free(t->slot[k].name);
    free(t->slot);
}

/* ---- printing records ---------------------------------------------------- */

static const char *
mode_name(uint8_t mode)
{
    return mode == 1 ? "binary" : mode == 2 ? "text" : "unknown";
}

/* "?" for a producer without a connect record, or with an empty name (text
 * mode has none), so the line still starts with a visible name. */
static void
text_name(out *o, const producer *p)
{
    if (p != NULL && p->named && p->name_len > 0)
        out_text_escaped(o, (const uint8_t *)p->name, p->name_len);
    else
        out_ch(o, '?');
}

static void
json_name(out *o, const producer *p)
{
    out_str(o, ",\"name\":");
    if (p != NULL && p->named)
        out_json_str(o, (const uint8_t *)p->name, p->name_len);
    else
        out_str(o, "null");
}

static void
print_event(out *o, int fmt, const sluice_record *r, const producer *p)
{
    if (fmt == FMT_TEXT) {
        out_ch(o, '[');
        out_time(o, r->collector_ns);
        out_str(o, "] ");
        text_name(o, p);
        out_ch(o, '[');
        out_u64(o, r->producer);
        out_str(o, "] #");
        out_u64(o, r->seq);
        out_str(o, " type=");
        out_u64(o, r->type);
        out_ch(o, ' ');
        out_text_escaped(o, r->payload, r->payload_len);
        out_ch(o, '\n');
        return;
    }
    out_str(o, "{\"kind\":\"event\",\"producer\":");
    out_u64(o, r->producer);
    json_name(o, p);
    out_str(o, ",\"seq\":");
    out_u64(o, r->seq);
    out_str(o, ",\"type\":");
    out_u64(o, r->type);
    out_str(o, ",\"producer_ns\":");
    out_u64(o, r->producer_ns);
    out_str(o, ",\"collector_ns\":");
    out_u64(o, r->collector_ns);
    out_str(o, ",\"payload\":");
    out_json_str(o, r->payload, r->payload_len);
    out_str(o, "}\n");
}

/* Opens a JSON object for a collector record: kind, then producer and name
 * (the close record has neither). */
static void
json_control_head(out *o, const char *kind, const sluice_record *r,
                  const producer *p)
{
    out_str(o, "{\"kind\":\"");
    out_str(o, kind);
    out_ch(o, '"');
    if (r->type == SLUICE_REC_CLOSE)
        return;
    out_str(o, ",\"producer\":");
    out_u64(o, r->producer);
    json_name(o, p);
}

/* Closes it with the collector's timestamp. */
static void
json_control_tail(out *o, const sluice_record *r)
{
    out_str(o, ",\"collector_ns\":");
    out_u64(o, r->collector_ns);
    out_str(o, "}\n");
}

static void
json_field(out *o, const char *key, uint64_t v)
{
    out_str(o, ",\"");
    out_str(o, key);
    out_str(o, "\":");
    out_u64(o, v);
}

static void
text_field(out *o, const char *key, uint64_t v)
{
    out_ch(o, ' ');
    out_str(o, key);
    out_ch(o, '=');
    out_u64(o, v);
}

/* A collector record whose payload does not decode, or of a type this
 * version does not know (a later write version may add some). */
static void
print_other(out *o, int fmt, const sluice_record *r, const producer *p,
            const char *kind)
{
    if (fmt == FMT_TEXT) {
        out_str(o, "--- ");
        out_str(o, kind);
        out_str(o, " record type=");
        out_u64(o, r->type);
        text_field(o, "id", r->producer);
        text_field(o, "payload_bytes", r->payload_len);
        out_ch(o, '\n');
        return;
    }
    json_control_head(o, kind, r, p);
    json_field(o, "type", r->type);
    json_field(o, "payload_bytes", r->payload_len);
    json_control_tail(o, r);
}

static void
print_connect(out *o, int fmt, const sluice_record *r, const producer *p,
              const sluice_connect_info *ci)
{
    if (fmt == FMT_TEXT) {
        out_str(o, "--- connect");
        text_field(o, "id", r->producer);
        out_str(o, " name=");
        out_text_escaped(o, (const uint8_t *)ci->name, ci->name_len);
        text_field(o, "pid", ci->pid);
        if (ci->uid == UINT32_MAX)
            out_str(o, " uid=?");
        else
            text_field(o, "uid", ci->uid);
        out_str(o, " mode=");
        out_str(o, mode_name(ci->mode));
        out_ch(o, '\n');
        return;
    }
    json_control_head(o, "connect", r, p);
    json_field(o, "pid", ci->pid);
    if (ci->uid == UINT32_MAX)
        out_str(o, ",\"uid\":null");
    else
        json_field(o, "uid", ci->uid);
    out_str(o, ",\"mode\":\"");
    out_str(o, mode_name(ci->mode));
    out_ch(o, '"');
    json_control_tail(o, r);
}

static void
print_disconnect(out *o, int fmt, const sluice_record *r, const producer *p,
                 const sluice_disconnect_info *di)
{
    if (fmt == FMT_TEXT) {
        out_str(o, "--- disconnect");
        text_field(o, "id", r->producer);
        text_field(o, "events", di->events);
        text_field(o, "bytes", di->bytes);
        text_field(o, "dropped", di->dropped);
        out_str(o, " reason=");
        out_str(o, sluice_reason_name(di->reason));
        out_str(o, " (");
        out_str(o, sluice_reason_str(di->reason));
        out_str(o, ")\n");
        return;
    }
    json_control_head(o, "disconnect", r, p);
    json_field(o, "events", di->events);
    json_field(o, "bytes", di->bytes);
    json_field(o, "dropped", di->dropped);
    out_str(o, ",\"reason\":\"");
    out_str(o, sluice_reason_name(di->reason));
    out_str(o, "\"");
    json_field(o, "reason_code", di->reason);
    out_str(o, ",\"reason_text\":\"");
    out_str(o, sluice_reason_str(di->reason));
    out_str(o, "\"");
    json_field(o, "malformed", di->malformed);
    json_control_tail(o, r);
}

static void
print_drop(out *o, int fmt, const sluice_record *r, const producer *p,
           const sluice_drop_info *dr)
{
    if (fmt == FMT_TEXT) {
        out_str(o, "--- drop");
        text_field(o, "id", r->producer);
        text_field(o, "events", dr->events);
        text_field(o, "bytes", dr->bytes);
        out_ch(o, '\n');
        return;
    }
    json_control_head(o, "drop", r, p);
    json_field(o, "events", dr->events);
    json_field(o, "bytes", dr->bytes);
    json_control_tail(o, r);
}

static void
print_close(out *o, int fmt, const sluice_record *r,
            const sluice_close_info *cl)
{
    if (fmt == FMT_TEXT) {
        out_str(o, "--- close");
        text_field(o, "producers", cl->producers);
        text_field(o, "events", cl->events);
        out_ch(o, '\n');
        return;
    }
    json_control_head(o, "close", r, NULL);
    json_field(o, "producers", cl->producers);
    json_field(o, "events", cl->events);
    json_field(o, "bytes", cl->bytes);
    json_field(o, "dropped", cl->dropped);
    json_field(o, "malformed", cl->malformed);
    json_control_tail(o, r);
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run {
    const options *opt;
    out o;
    producers prods;
    uint64_t events; /* event records considered */
    int closed;      /* the close record was read */
} run;

/* Prints (or, with --verify, checks) one record. @return 0, or -1 when
 * out of memory. */
static int
handle(run *rn, const sluice_record *r)
{
    const options *opt = rn->opt;
    int fmt = opt->format, show = !opt->verify;
    producer *p = NULL;

    if (r->type == SLUICE_REC_CLOSE) {
        sluice_close_info cl;

        rn->closed = 1;
        if (!show)
            return 0;
        if (sluice_record_close(r, &cl) == 0)
            print_close(&rn->o, fmt, r, &cl);
        else
            print_other(&rn->o, fmt, r, NULL, "invalid");
        return 0;
    }
    if (opt->have_producer && r->producer != opt->producer)
        return 0;
    /* Every id met here counts for producers=K, events or not. */
    p = producer_get(&rn->prods, r->producer);
    if (p == NULL)
        return -1;

    if (r->type < 0xF000u) {
        rn->events++;
        if (opt->verify) {
            /* Missing numbers count one each; a number at or below one
             * already passed (duplicate, out of order) counts one. */
            if (r->seq == p->next_seq) {
                p->next_seq++;
            } else if (r->seq > p->next_seq) {
                p->gaps += r->seq - p->next_seq;
                p->next_seq = r->seq + 1;
            } else {
                p->gaps++;
            }
        }
        if (show)
            print_event(&rn->o, fmt, r, p);
        return 0;
    }

    switch (r->type) {
    case SLUICE_REC_CONNECT: {
        sluice_connect_info ci;

        if (sluice_record_connect(r, &ci) != 0)
            break;
        free(p->name);
        p->name = malloc((size_t)ci.name_len + 1);
        if (p->name == NULL)
            return -1;
        if (ci.name_len > 0)
            memcpy(p->name, ci.name, ci.name_len);
        p->name[ci.name_len] = '\0';
        p->name_len = ci.name_len;
        p->named = 1;
        p->pid = ci.pid;
        if (show)
            print_connect(&rn->o, fmt, r, p, &ci);
        return 0;
    }
    case SLUICE_REC_DISCONNECT: {
        sluice_disconnect_info di;

        if (sluice_record_disconnect(r, &di) != 0)
            break;
        if (show)
            print_disconnect(&rn->o, fmt, r, p, &di);
        return 0;
    }
    case SLUICE_REC_DROP: {
        sluice_drop_info dr;

        if (sluice_record_drop(r, &dr) != 0)
            break;
        p->dropped += dr.events;
        if (show)
            print_drop(&rn->o, fmt, r, p, &dr);
        return 0;
    }
    default:
        if (show)
            print_other(&rn->o, fmt, r, p, "unknown");
        return 0;
    }
    if (show)
        print_other(&rn->o, fmt, r, p, "invalid");
    return 0;
}

static void
usage(FILE *f)
{
    static const char text[] =
        "usage: " PROG " FILE [--format text|jsonl] [--verify] [--follow]\n"
        "                   [--producer ID] [--help] [--version]\n"
        "\n"
        "Prints the records of a sluice capture file, one per line.\n"
        "\n"
        "  --format text    (default) each event as\n"
        "    [<collector time, UTC>] <name>[<id>] #<seq> "
        "type=<type> <payload>\n"
        "                   <name> is from the producer's connect record, "
        "or '?'.\n"
        "                   A payload that is all printable UTF-8 prints "
        "as-is,\n"
        "                   any other with C escapes: \\\\ \\n \\t "
        "\\r \\xNN.\n"
        "                   Collector records print as '--- connect ...',\n"
        "                   '--- disconnect ...', '--- drop ...' and "
        "'--- close ...'.\n"
        "  --format jsonl   one JSON object per line, \"kind\" being event, "
        "connect,\n"
        "                   disconnect, drop or close. Payloads and names "
        "are JSON\n"
        "                   strings in which a byte that is not part of valid "
        "UTF-8\n"
        "                   is written \\u00XX (XX = the byte's value); "
        "unknown names\n"
        "                   are null. Integers are plain JSON numbers "
        "(nanosecond\n"
        "                   times exceed 2^53).\n"
        "  --format csv|chrome  not implemented yet.\n"
        "  --verify         check every block checksum and every producer's "
        "event\n"
        "                   sequence numbers (0, 1, 2, ...; a missing, "
        "repeated or\n"
        "                   out-of-order number is a gap, unless a drop "
        "record\n"
        "                   accounts for it), and print only\n"
        "    verify: producers=K events=N gaps=G "
        "corrupt_blocks=C torn_tail_bytes=T\n"
        "  --follow         keep reading while the file grows (polling every "
        "100 ms)\n"
        "                   until the collector's close record, or Ctrl-C.\n"
        "  --producer ID    only the records of producer ID.\n"
        "\n"
        "Without --verify, skipped corrupt blocks and a torn tail are reported "
        "as\n"
        "warnings on stderr.\n"
        "\n"
        "Exit status:\n"
        "  0  success; with --verify: no gaps, no corrupt blocks, no torn "
        "tail,\n"
        "     and the close record present\n"
        "  1  runtime error: cannot open or read FILE, not a capture\n"
        "  2  usage error\n"
        "  3  (--verify) incomplete: a torn tail or no close record, so the\n"
        "     collector did not finalise the file\n"
        "  4  (--verify) corrupt: sequence gaps or corrupt blocks\n";

    fputs(text, f);
}

static int
usage_error(const char *what, const char *arg)
{
    if (arg != NULL)
        fprintf(stderr, PROG ": %s '%s' (try --help)\n", what, arg);
    else
        fprintf(stderr, PROG ": %s (try --help)\n", what);
    return EXIT_USAGE;
}

static int
parse_u32(const char *s, uint32_t *val)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *val = (uint32_t)v;
    return 0;
}

/* @return -1 to go on, or an exit code (help, version, usage error). */
static int
parse_args(int argc, char **argv, options *opt)
{
    int i, only_files = 0;

    memset(opt, 0, sizeof(*opt));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        size_t klen;

        if (only_files || a[0] != '-' || a[1] == '\0') {
            if (opt->path != NULL)
                return usage_error("more than one FILE:", a);
            opt->path = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_files = 1;
            continue;
        }
        eq = strchr(a, '=');
        klen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", SLUICE_VERSION);
            return EXIT_OK;
        }
        if (strcmp(a, "--verify") == 0) {
            opt->verify = 1;
            continue;
        }
        if (strcmp(a, "--follow") == 0) {
            opt->follow = 1;
            continue;
        }
        if ((klen == 8 && strncmp(a, "--format", 8) == 0) ||
            (klen == 10 && strncmp(a, "--producer", 10) == 0)) {
            if (eq != NULL) {
                val = eq + 1;
            } else {
                if (i + 1 >= argc)
                    return usage_error("missing value for", a);
                val = argv[++i];
            }
            if (klen == 8) {
                if (strcmp(val, "text") == 0)
                    opt->format = FMT_TEXT;
                else if (strcmp(val, "jsonl") == 0)
                    opt->format = FMT_JSONL;
                else if (strcmp(val, "csv") == 0 ||
                         strcmp(val, "chrome") == 0)
                    return usage_error("format not implemented yet:", val);
                else
                    return usage_error("unknown format", val);
            } else {
                if (parse_u32(val, &opt->producer) != 0)
                    return usage_error("producer ID must be a number "
                                       "0..4294967295, not",
                                       val);
                opt->have_producer = 1;
            }
            continue;
        }
        return usage_error("unknown option", a);
    }
    if (opt->path == NULL)
        return usage_error("missing FILE", NULL);
    return -1;
}

static const char *
open_reason(int rc)
{
    switch (rc) {
    case SLUICE_ECORRUPT:
        return "not a sluice capture, or its header is damaged";
    case SLUICE_EVERSION:
        return "written in a newer capture format than this sluice-dump "
               "reads";
    case SLUICE_ETRUNC:
        return "file ends inside its header";
    default:
        return sluice_strerror(rc);
    }
}

static int
open_capture(const options *opt, sluice_capture **c)
{
    int rc;

    for (;;) {
        rc = sluice_capture_open(opt->path, c);
        /* While following, a file whose header is still being written is
         * worth waiting for. */
        if (rc != SLUICE_ETRUNC || !opt->follow)
            break;
        if (sl_os_stop_wait(FOLLOW_POLL_NS))
            break;
    }
    if (rc != 0)
        fprintf(stderr, PROG ": cannot open %s: %s\n", opt->path,
                open_reason(rc));
    return rc;
}

/* Reads records until the end (or, following, until the close record or
 * a stop request). @return 0, or -1 after reporting a read error or
 * running out of memory. */
static int
read_all(run *rn, sluice_capture *c)
{
    const options *opt = rn->opt;
    sluice_record r;
    int rc;

    if (opt->follow)
        sluice_capture_set_follow(c, 1);
    for (;;) {
        rc = sluice_capture_next(c, &r);
        if (rc == 0) {
            if (handle(rn, &r) != 0) {
                fprintf(stderr, PROG ": out of memory\n");
                return -1;
            }
            if (opt->follow && r.type == SLUICE_REC_CLOSE)
                break;
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, PROG ": cannot read %s: %s\n", opt->path,
                    sluice_strerror(rc));
            return -1;
        }
        if (!opt->follow)
            break;
        /* Nothing new yet: let a reader of our output see what we have. */
        out_flush(&rn->o);
        fflush(stdout);
        if (rn->o.failed || sl_os_stop_wait(FOLLOW_POLL_NS))
            break;
    }
    if (opt->follow && !rn->closed && !rn->o.failed) {
        /* Stopped by the user: take what is complete now, and let the
         * reader settle the end of the file as final. */
        sluice_capture_set_follow(c, 0);
        while ((rc = sluice_capture_next(c, &r)) == 0)
            if (handle(rn, &r) != 0) {
                fprintf(stderr, PROG ": out of memory\n");
                return -1;
            }
        if (rc < 0) {
            fprintf(stderr, PROG ": cannot read %s: %s\n", opt->path,
                    sluice_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static int
verify_report(run *rn, const sluice_capture_stats *st)
{
    uint64_t gaps = 0;
    size_t k;

    for (k = 0; k < rn->prods.cap; k++) {
        const producer *p = &rn->prods.slot[k];

        if (p->used)
            gaps += p->gaps > p->dropped ? p->gaps - p->dropped : 0;
    }
    printf("verify: producers=%llu events=%llu gaps=%llu corrupt_blocks=%llu "
           "torn_tail_bytes=%llu\n",
           (unsigned long long)rn->prods.count, (unsigned long long)rn->events,
           (unsigned long long)gaps, (unsigned long long)st->corrupt_blocks,
           (unsigned long long)st->torn_tail_bytes);
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write output\n");
        return EXIT_RUNTIME;
    }
    if (gaps > 0 || st->corrupt_blocks > 0) {
        fprintf(stderr,
                PROG ": %s is corrupt: %llu sequence gaps, %llu corrupt "
                     "blocks\n",
                rn->opt->path, (unsigned long long)gaps,
                (unsigned long long)st->corrupt_blocks);
        return EXIT_CORRUPT;
    }
    if (st->torn_tail_bytes > 0 || !rn->closed) {
        fprintf(stderr,
                PROG ": %s is incomplete: %s; the collector did not "
                     "finalise it\n",
                rn->opt->path,
                st->torn_tail_bytes > 0 ? "torn tail after the last whole block"
                                        : "no close record");
        return EXIT_INCOMPLETE;
    }
    return EXIT_OK;
}

int
main(int argc, char **argv)
{
    options opt;
    run rn;
    sluice_capture *c = NULL;
    sluice_capture_stats st;
    int code;

    /* Windows hands main() ANSI-code-page arguments; a failure leaves argv
     * as it was, which is still right for ASCII paths. */
    sl_os_args_utf8(&argc, &argv);
    code = parse_args(argc, argv, &opt);
    if (code >= 0)
        return code;
    memset(&rn, 0, sizeof(rn));
    rn.opt = &opt;
    rn.o.buf = malloc(OUT_CAP);
    if (rn.o.buf == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_RUNTIME;
    }
    /* Our own buffer batches lines; stdio's is only a pass-through. */
    setvbuf(stdout, NULL, _IOFBF, OUT_CAP);
    if (opt.follow && sl_os_stop_install() != 0) {
        fprintf(stderr, PROG ": cannot install the Ctrl-C handler\n");
        code = EXIT_RUNTIME;
        goto done;
    }

    if (open_capture(&opt, &c) != 0) {
        code = EXIT_RUNTIME;
        goto done;
    }
    if (read_all(&rn, c) != 0) {
        code = EXIT_RUNTIME;
        goto done;
    }
    out_flush(&rn.o);
    if (rn.o.failed || fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write output\n");
        code = EXIT_RUNTIME;
        goto done;
    }
    sluice_capture_get_stats(c, &st);
    if (opt.verify) {
        code = verify_report(&rn, &st);
        goto done;
    }
    if (st.corrupt_blocks > 0)
        fprintf(stderr,
                PROG ": warning: skipped %llu corrupt blocks (%llu bytes)\n",
                (unsigned long long)st.corrupt_blocks,
                (unsigned long long)st.corrupt_bytes);
    if (st.torn_tail_bytes > 0)
        fprintf(stderr,
                PROG ": warning: torn tail of %llu bytes after the last "
                     "whole block\n",
                (unsigned long long)st.torn_tail_bytes);
    code = EXIT_OK;

done:
    sluice_capture_close(c);
    producers_free(&rn.prods);
    free(rn.o.buf);
    return code;
}
