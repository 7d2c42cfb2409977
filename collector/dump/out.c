/*
 * sluice-dump's output buffer and the escapers every format uses. Lines
 * are assembled in one large buffer and written with plain fwrite when it
 * fills, so dumping tens of millions of records costs little more than
 * reading them: no printf, no per-record allocation. Times are formatted
 * by hand (no gmtime, no locale), so every platform prints the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "escape.h"

static const char hex_digits[] = "0123456789abcdef";

int
dump_out_open(dump_out *o, FILE *f, size_t cap)
{
    memset(o, 0, sizeof(*o));
    o->buf = malloc(cap);
    if (o->buf == NULL)
        return SLUICE_ENOMEM;
    o->f = f;
    o->cap = cap;
    return 0;
}

void
dump_out_close(dump_out *o)
{
    free(o->buf);
    o->buf = NULL;
}

void
dump_out_flush(dump_out *o)
{
    if (o->len > 0 && !o->failed && fwrite(o->buf, 1, o->len, o->f) != o->len)
        o->failed = 1;
    o->len = 0;
}

void
dump_out_bytes_slow(dump_out *o, const void *p, size_t n)
{
    dump_out_flush(o);
    if (n > o->cap) {
        if (!o->failed && fwrite(p, 1, n, o->f) != n)
            o->failed = 1;
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void
dec_fixed(char *dst, uint64_t v, int width)
{
    int i;

    for (i = width - 1; i >= 0; i--) {
        dst[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void
dump_out_dec(dump_out *o, uint64_t v, int width)
{
    char tmp[20];

    dec_fixed(tmp, v, width);
    dump_out_bytes(o, tmp, (size_t)width);
}

/* Days to a civil date by Howard Hinnant's days_from_civil inverse: valid
 * for every uint64_t nanosecond count. */
void
dump_out_time(dump_out *o, uint64_t ns)
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
    dump_out_bytes(o, o->time_prefix, sizeof(o->time_prefix));
    dump_out_dec(o, ns % 1000000000u, 9);
    dump_out_ch(o, 'Z');
}

/* |ns| without overflow for INT64_MIN. */
static uint64_t
magnitude(int64_t ns)
{
    return ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
}

void
dump_out_seconds(dump_out *o, int64_t ns)
{
    uint64_t m = magnitude(ns);

    dump_out_ch(o, ns < 0 ? '-' : '+');
    dump_out_u64(o, m / 1000000000u);
    dump_out_ch(o, '.');
    dump_out_dec(o, m % 1000000000u, 9);
}

void
dump_out_usec(dump_out *o, int64_t ns)
{
    uint64_t m = magnitude(ns);

    if (ns < 0)
        dump_out_ch(o, '-');
    dump_out_u64(o, m / 1000u);
    dump_out_ch(o, '.');
    dump_out_dec(o, m % 1000u, 3);
}

/* ---- escaping ------------------------------------------------------------ */

int
dump_all_printable(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t l;

        if (p[i] >= 0x20 && p[i] < 0x7F) {
            i++;
            continue;
        }
        l = sl_utf8_len(p + i, n - i);
        if (l == 0 || !sl_esc_printable(p + i, l))
            return 0;
        i += l;
    }
    return 1;
}

static void
out_hex2(dump_out *o, const char *prefix, uint8_t b)
{
    dump_out_str(o, prefix);
    dump_out_ch(o, hex_digits[b >> 4]);
    dump_out_ch(o, hex_digits[b & 15]);
}

/* C escapes (format/escape.h, the one escaper the collector's log lines
 * use too) for everything that is not printable UTF-8, and for '\\';
 * flags add spaces (SL_ESC_SPACE) or doubled quotes (SL_ESC_DQUOTE). */
static void
out_escaped(dump_out *o, const uint8_t *p, size_t n, unsigned flags)
{
    char buf[4096];

    while (n > 0) {
        size_t used, len = sl_escape(buf, sizeof(buf), p, n, flags, &used);

        dump_out_bytes(o, (const uint8_t *)buf, len);
        p += used;
        n -= used;
    }
}

void
dump_out_text(dump_out *o, const uint8_t *p, size_t n)
{
    if (dump_all_printable(p, n))
        dump_out_bytes(o, p, n);
    else
        out_escaped(o, p, n, 0);
}

void
dump_out_field(dump_out *o, const uint8_t *p, size_t n)
{
    /* "?" alone is the text format's mark for "no name". */
    if (n == 1 && p[0] == '?')
        dump_out_str(o, "\\x3f");
    else
        out_escaped(o, p, n, SL_ESC_SPACE);
}

void
dump_out_word(dump_out *o, const uint8_t *p, size_t n)
{
    out_escaped(o, p, n, SL_ESC_SPACE);
}

void
dump_out_csv_field(dump_out *o, const uint8_t *p, size_t n)
{
    /* Escaping only ever writes '\\', letters and digits, so whether the
     * field needs quotes depends on the raw bytes alone. */
    int quote = memchr(p, ',', n) != NULL || memchr(p, '"', n) != NULL;

    if (n == 0)
        return;
    if (quote)
        dump_out_ch(o, '"');
    out_escaped(o, p, n, quote ? SL_ESC_DQUOTE : 0);
    if (quote)
        dump_out_ch(o, '"');
}

void
dump_out_json_str(dump_out *o, const uint8_t *p, size_t n)
{
    size_t i = 0;

    dump_out_ch(o, '"');
    while (i < n) {
        uint8_t b = p[i];
        size_t l;

        if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
            size_t j = i + 1;

            while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' &&
                   p[j] != '\\')
                j++;
            dump_out_bytes(o, p + i, j - i);
            i = j;
            continue;
        }
        switch (b) {
        case '"':
            dump_out_str(o, "\\\"");
            i++;
            continue;
        case '\\':
            dump_out_str(o, "\\\\");
            i++;
            continue;
        case '\n':
            dump_out_str(o, "\\n");
            i++;
            continue;
        case '\r':
            dump_out_str(o, "\\r");
            i++;
            continue;
        case '\t':
            dump_out_str(o, "\\t");
            i++;
            continue;
        default:
            break;
        }
        l = b < 0x20 ? 0 : sl_utf8_len(p + i, n - i);
        if (l == 0) {
            out_hex2(o, "\\u00", b);
            i++;
        } else {
            dump_out_bytes(o, p + i, l);
            i += l;
        }
    }
    dump_out_ch(o, '"');
}
