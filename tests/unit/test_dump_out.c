/*
 * sluice-dump's escapers and number formats (collector/dump/out.c): every
 * byte value 0..255 and every pair of bytes through the JSON, CSV and text
 * escapers, checked by independent validators and decoders written here
 * from RFC 8259 and RFC 4180, not from out.c; then times and durations.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

TestSuite(dump_out, .timeout = 60.0);

#define CAP (1u << 16)

static dump_out o;

/* Formats into memory only: CAP is far more than any test writes, so the
 * buffer never reaches the (absent) FILE. */
static void
reset(void)
{
    if (o.buf == NULL)
        cr_assert_eq(dump_out_open(&o, NULL, CAP), 0);
    o.len = 0;
}

static const char *
str(void)
{
    cr_assert_lt(o.len, CAP);
    o.buf[o.len] = '\0';
    return o.buf;
}

/* ---- an independent JSON string decoder (RFC 8259, section 7) ------------ */

/* Length of a well-formed UTF-8 sequence (RFC 3629 table), or 0. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
    static const struct {
        uint8_t lo0, hi0, lo1, hi1;
        size_t len;
    } t[] = {
        {0x00, 0x7F, 0, 0, 1},       {0xC2, 0xDF, 0x80, 0xBF, 2},
        {0xE0, 0xE0, 0xA0, 0xBF, 3}, {0xE1, 0xEC, 0x80, 0xBF, 3},
        {0xED, 0xED, 0x80, 0x9F, 3}, {0xEE, 0xEF, 0x80, 0xBF, 3},
        {0xF0, 0xF0, 0x90, 0xBF, 4}, {0xF1, 0xF3, 0x80, 0xBF, 4},
        {0xF4, 0xF4, 0x80, 0x8F, 4},
    };
    size_t i, k;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (p[0] < t[i].lo0 || p[0] > t[i].hi0)
            continue;
        if (n < t[i].len)
            return 0;
        if (t[i].len > 1 && (p[1] < t[i].lo1 || p[1] > t[i].hi1))
            return 0;
        for (k = 2; k < t[i].len; k++)
            if (p[k] < 0x80 || p[k] > 0xBF)
                return 0;
        return t[i].len;
    }
    return 0;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the JSON string s (quotes included) into out, mapping \u00XX to
 * the byte XX (sluice-dump's convention for bytes that are not UTF-8).
 * Fails the test when s is not a valid JSON string. */
static size_t
json_decode(const char *s, size_t n, uint8_t *out)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 1, len = 0;

    cr_assert(n >= 2 && p[0] == '"' && p[n - 1] == '"', "not quoted: %s", s);
    while (i < n - 1) {
        size_t l;

        cr_assert(p[i] >= 0x20, "raw control 0x%02x in %s", p[i], s);
        cr_assert(p[i] != '"', "unescaped quote in %s", s);
        if (p[i] == '\\') {
            char e = (char)p[i + 1];
            int v;

            cr_assert(i + 1 < n - 1, "dangling backslash in %s", s);
            switch (e) {
            case '"': case '\\': case '/':
                out[len++] = (uint8_t)e;
                break;
            case 'b': out[len++] = '\b'; break;
            case 'f': out[len++] = '\f'; break;
            case 'n': out[len++] = '\n'; break;
            case 'r': out[len++] = '\r'; break;
            case 't': out[len++] = '\t'; break;
            case 'u':
                cr_assert(i + 5 < n - 1, "short \\u in %s", s);
                v = hexval((char)p[i + 2]) << 12 | hexval((char)p[i + 3]) << 8 |
                    hexval((char)p[i + 4]) << 4 | hexval((char)p[i + 5]);
                cr_assert(v >= 0 && v < 0x100, "\\u%04x in %s", v, s);
                out[len++] = (uint8_t)v;
                i += 4;
                break;
            default:
                cr_assert_fail("bad escape \\%c in %s", e, s);
            }
            i += 2;
            continue;
        }
        l = utf8_seq(p + i, n - 1 - i);
        cr_assert(l > 0, "invalid UTF-8 at %zu in %s", i, s);
        memcpy(out + len, p + i, l);
        len += l;
        i += l;
    }
    return len;
}

/* Decodes sluice-dump's C escapes (text and CSV payloads). */
static size_t
c_decode(const char *s, size_t n, uint8_t *out)
{
    size_t i = 0, len = 0;

    while (i < n) {
        if (s[i] != '\\') {
            out[len++] = (uint8_t)s[i++];
            continue;
        }
        cr_assert(i + 1 < n, "dangling backslash in %s", s);
        switch (s[i + 1]) {
        case '\\': out[len++] = '\\'; i += 2; break;
        case 'n': out[len++] = '\n'; i += 2; break;
        case 'r': out[len++] = '\r'; i += 2; break;
        case 't': out[len++] = '\t'; i += 2; break;
        case 'x':
            cr_assert(i + 3 < n, "short \\x in %s", s);
            cr_assert(hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0);
            out[len++] = (uint8_t)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
            i += 4;
            break;
        default:
            cr_assert_fail("bad escape in %s", s);
        }
    }
    return len;
}

/* One RFC 4180 field: unquoted (no '"', ',', CR, LF) or quoted with ""
 * for '"'. Returns the field's content in out. */
static size_t
csv_decode(const char *s, size_t n, char *out)
{
    size_t i, len = 0;

    for (i = 0; i < n; i++)
        cr_assert(s[i] != '\r' && s[i] != '\n', "line break in field %s", s);
    if (n == 0 || s[0] != '"') {
        cr_assert(memchr(s, '"', n) == NULL && memchr(s, ',', n) == NULL,
                  "unquoted field with a quote or comma: %s", s);
        memcpy(out, s, n);
        return n;
    }
    cr_assert(n >= 2 && s[n - 1] == '"', "unterminated quote: %s", s);
    for (i = 1; i < n - 1; i++) {
        if (s[i] == '"') {
            cr_assert(s[i + 1] == '"' && i + 1 < n - 1, "lone quote: %s", s);
            i++;
        }
        out[len++] = s[i];
    }
    return len;
}

static void
json_roundtrip(const uint8_t *p, size_t n)
{
    uint8_t back[64];
    size_t len;

    reset();
    dump_out_json_str(&o, p, n);
    len = json_decode(str(), o.len, back);
    cr_assert_eq(len, n, "length %zu != %zu for %s", len, n, str());
    cr_assert(memcmp(back, p, n) == 0, "round trip differs: %s", str());
}

static void
csv_roundtrip(const uint8_t *p, size_t n)
{
    char field[256];
    uint8_t back[64];
    size_t flen, len;

    reset();
    dump_out_csv_field(&o, p, n);
    flen = csv_decode(str(), o.len, field);
    len = c_decode(field, flen, back);
    cr_assert_eq(len, n, "length %zu != %zu for %s", len, n, str());
    cr_assert(memcmp(back, p, n) == 0, "round trip differs: %s", str());
}

static void
text_roundtrip(const uint8_t *p, size_t n)
{
    uint8_t back[64];
    size_t len, i;

    reset();
    dump_out_text(&o, p, n);
    for (i = 0; i < o.len; i++)
        cr_assert(o.buf[i] != '\n' && o.buf[i] != '\r',
                  "line break in text output");
    /* A payload printed as is may hold backslashes of its own; only an
     * escaped one must decode back. */
    if (o.len == n && memcmp(o.buf, p, n) == 0) {
        cr_assert(dump_all_printable(p, n));
        return;
    }
    len = c_decode(str(), o.len, back);
    cr_assert_eq(len, n, "length %zu != %zu for %s", len, n, str());
    cr_assert(memcmp(back, p, n) == 0, "round trip differs: %s", str());
}

Test(dump_out, json_every_byte_value)
{
    unsigned b;

    for (b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        char want[16];

        reset();
        dump_out_json_str(&o, &c, 1);
        if (b == '"')
            strcpy(want, "\"\\\"\"");
        else if (b == '\\')
            strcpy(want, "\"\\\\\"");
        else if (b == '\n')
            strcpy(want, "\"\\n\"");
        else if (b == '\r')
            strcpy(want, "\"\\r\"");
        else if (b == '\t')
            strcpy(want, "\"\\t\"");
        else if (b < 0x20 || b >= 0x80)
            snprintf(want, sizeof(want), "\"\\u00%02x\"", b);
        else
            snprintf(want, sizeof(want), "\"%c\"", b);
        cr_assert_str_eq(str(), want, "byte 0x%02x", b);
        json_roundtrip(&c, 1);
    }
}

Test(dump_out, json_every_byte_pair_is_valid_and_reversible)
{
    unsigned a, b;

    for (a = 0; a < 256; a++)
        for (b = 0; b < 256; b++) {
            uint8_t p[3] = {(uint8_t)a, (uint8_t)b, 'x'};

            json_roundtrip(p, 3);
        }
}

Test(dump_out, json_invalid_utf8_is_escaped_byte_by_byte)
{
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        {"\xC0\x80", 2, "\"\\u00c0\\u0080\""},         /* overlong NUL */
        {"\xED\xA0\x80", 3, "\"\\u00ed\\u00a0\\u0080\""}, /* surrogate */
        {"\xF4\x90\x80\x80", 4,
         "\"\\u00f4\\u0090\\u0080\\u0080\""},          /* above U+10FFFF */
        {"\xE2\x82", 2, "\"\\u00e2\\u0082\""},          /* cut short */
        {"\x80", 1, "\"\\u0080\""},                     /* lone continuation */
        {"\xFF\xFE", 2, "\"\\u00ff\\u00fe\""},
        {"\xE2\x82\xAC", 3, "\"\xE2\x82\xAC\""},         /* valid euro sign */
        {"\xF0\x9F\x98\x80", 4, "\"\xF0\x9F\x98\x80\""}, /* valid 4 bytes */
        {"a\xE2\x82\xAC\xE2", 5, "\"a\xE2\x82\xAC\\u00e2\""},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset();
        dump_out_json_str(&o, (const uint8_t *)cases[i].in, cases[i].n);
        cr_assert_str_eq(str(), cases[i].want, "case %zu", i);
        json_roundtrip((const uint8_t *)cases[i].in, cases[i].n);
    }
}

Test(dump_out, csv_every_byte_value)
{
    unsigned b;

    for (b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        char want[16];

        reset();
        dump_out_csv_field(&o, &c, 1);
        if (b == '"')
            strcpy(want, "\"\"\"\"");
        else if (b == ',')
            strcpy(want, "\",\"");
        else if (b == '\\')
            strcpy(want, "\\\\");
        else if (b == '\n')
            strcpy(want, "\\n");
        else if (b == '\r')
            strcpy(want, "\\r");
        else if (b == '\t')
            strcpy(want, "\\t");
        else if (b < 0x20 || b >= 0x7F)
            snprintf(want, sizeof(want), "\\x%02x", b);
        else
            snprintf(want, sizeof(want), "%c", b);
        cr_assert_str_eq(str(), want, "byte 0x%02x", b);
        csv_roundtrip(&c, 1);
    }
}

Test(dump_out, csv_every_byte_pair_is_one_reversible_field)
{
    unsigned a, b;

    for (a = 0; a < 256; a++)
        for (b = 0; b < 256; b++) {
            uint8_t p[4] = {(uint8_t)a, ',', (uint8_t)b, '"'};

            csv_roundtrip(p, 2);
            csv_roundtrip(p, 4);
        }
}

Test(dump_out, csv_quotes_only_when_needed)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain text", "plain text"},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"line\r\nbreak", "line\\r\\nbreak"},
        {"tab\tand,comma", "\"tab\\tand,comma\""},
        {"C:\\dir", "C:\\\\dir"},
        {"caf\xC3\xA9", "caf\xC3\xA9"},
        {"", ""},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset();
        dump_out_csv_field(&o, (const uint8_t *)cases[i].in,
                           strlen(cases[i].in));
        cr_assert_str_eq(str(), cases[i].want, "case %zu", i);
    }
}

Test(dump_out, text_every_byte_value_and_pair)
{
    unsigned a, b;

    for (a = 0; a < 256; a++) {
        uint8_t c = (uint8_t)a;

        text_roundtrip(&c, 1);
        for (b = 0; b < 256; b++) {
            uint8_t p[2] = {(uint8_t)a, (uint8_t)b};

            text_roundtrip(p, 2);
        }
    }
}

Test(dump_out, text_prints_printable_as_is_and_escapes_the_rest)
{
    reset();
    dump_out_text(&o, (const uint8_t *)"ok \xC3\xA9 C:\\x", 10);
    cr_assert_str_eq(str(), "ok \xC3\xA9 C:\\x");
    reset();
    dump_out_text(&o, (const uint8_t *)"nul\0in\\side", 11);
    cr_assert_str_eq(str(), "nul\\x00in\\\\side");
    reset();
    /* U+0085 (NEL) is valid UTF-8 but a C1 control. */
    dump_out_text(&o, (const uint8_t *)"a\xC2\x85", 3);
    cr_assert_str_eq(str(), "a\\xc2\\x85");
    reset();
    dump_out_text(&o, (const uint8_t *)"\x7F\xFF", 2);
    cr_assert_str_eq(str(), "\\x7f\\xff");
}

Test(dump_out, rfc3339_times)
{
    static const struct {
        uint64_t ns;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000000000Z"},
        {1700000000002000000u, "2023-11-14T22:13:20.002000000Z"},
        {1709164800000000001u, "2024-02-29T00:00:00.000000001Z"},
        {951782400000000000u, "2000-02-29T00:00:00.000000000Z"},
        {UINT64_MAX, "2554-07-21T23:34:33.709551615Z"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset();
        dump_out_time(&o, cases[i].ns);
        cr_assert_str_eq(str(), cases[i].want);
    }
    /* The cached prefix follows the second. */
    reset();
    dump_out_time(&o, 1000000000u);
    dump_out_ch(&o, ' ');
    dump_out_time(&o, 1999999999u);
    dump_out_ch(&o, ' ');
    dump_out_time(&o, 2000000000u);
    cr_assert_str_eq(str(), "1970-01-01T00:00:01.000000000Z "
                            "1970-01-01T00:00:01.999999999Z "
                            "1970-01-01T00:00:02.000000000Z");
}

Test(dump_out, seconds_and_microseconds)
{
    reset();
    dump_out_seconds(&o, 1000000);
    dump_out_ch(&o, ' ');
    dump_out_seconds(&o, 0);
    dump_out_ch(&o, ' ');
    dump_out_seconds(&o, -1500000001);
    dump_out_ch(&o, ' ');
    dump_out_seconds(&o, INT64_MIN);
    cr_assert_str_eq(str(), "+0.001000000 +0.000000000 -1.500000001 "
                            "-9223372036.854775808");
    reset();
    dump_out_usec(&o, 1500);
    dump_out_ch(&o, ' ');
    dump_out_usec(&o, 0);
    dump_out_ch(&o, ' ');
    dump_out_usec(&o, -250);
    dump_out_ch(&o, ' ');
    dump_out_usec(&o, 123456789012);
    cr_assert_str_eq(str(), "1.500 0.000 -0.250 123456789.012");
}

Test(dump_out, buffer_flushes_to_its_file_in_order)
{
    dump_out w;
    FILE *f = tmpfile();
    char back[100];
    int i;

    cr_assert_not_null(f);
    cr_assert_eq(dump_out_open(&w, f, 8), 0);
    for (i = 0; i < 10; i++)
        dump_out_u64(&w, (uint64_t)i);
    dump_out_str(&w, "-a-long-string-over-cap-");
    dump_out_ch(&w, '!');
    dump_out_flush(&w);
    cr_assert_eq(w.failed, 0);
    rewind(f);
    cr_assert_not_null(fgets(back, sizeof(back), f));
    cr_assert_str_eq(back, "0123456789-a-long-string-over-cap-!");
    dump_out_close(&w);
    fclose(f);
}
