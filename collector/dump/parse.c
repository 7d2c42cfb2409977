/*
 * Parsers for sluice-dump's option values: times for --since/--until and
 * type lists for --type. Hand-written rather than strptime/strtoul so the
 * accepted forms are exactly the documented ones on every platform, with
 * no locale and no silent wrap-around.
 */
#include <string.h>

#include "dump.h"
#include "state.h"

/* n digits at s into *v; @return the number of characters used (n), or 0
 * when one of them is not a digit. */
static size_t
digits(const char *s, size_t n, uint64_t *v)
{
    size_t i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    }
    return n;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), for years 1970..9999. */
static uint64_t
days_from_civil(uint64_t y, uint64_t m, uint64_t d)
{
    uint64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
days_in_month(uint64_t y, uint64_t m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 ? 28 + leap : len[m - 1];
}

/* Up to 9 fraction digits after a '.', as nanoseconds. @return characters
 * used, 0 if there is no '.', or (size_t)-1 when malformed. */
static size_t
fraction(const char *s, uint64_t *ns)
{
    size_t i = 1;
    uint64_t scale = 100000000u;

    *ns = 0;
    if (s[0] != '.')
        return 0;
    if (s[1] < '0' || s[1] > '9')
        return (size_t)-1;
    while (s[i] >= '0' && s[i] <= '9') {
        if (i > 9)
            return (size_t)-1;
        *ns += (uint64_t)(s[i] - '0') * scale;
        scale /= 10;
        i++;
    }
    return i;
}

static int
parse_rfc3339(const char *s, uint64_t *out)
{
    uint64_t y, mo, d, h, mi, sec = 0, frac = 0, oh, om;
    size_t k;
    int64_t offset = 0;
    uint64_t secs;

    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d))
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    if (!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi))
        return -1;
    s += 16;
    if (*s == ':') {
        if (!digits(s + 1, 2, &sec))
            return -1;
        s += 3;
        k = fraction(s, &frac);
        if (k == (size_t)-1)
            return -1;
        s += k;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        if (!digits(s + 1, 2, &oh) || s[3] != ':' || !digits(s + 4, 2, &om) ||
            oh > 23 || om > 59)
            return -1;
        offset = (int64_t)(oh * 3600 + om * 60);
        if (*s == '-')
            offset = -offset;
        s += 6;
    } else {
        return -1; /* a time without a zone is ambiguous */
    }
    if (*s != '\0')
        return -1;
    /* RFC 3339 allows a leap second (:60); it reads as the next second. */
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
        d > (uint64_t)days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    if (offset > 0 && secs < (uint64_t)offset)
        return -1;
    secs = (uint64_t)((int64_t)secs - offset);
    *out = secs * 1000000000u + frac;
    return 0;
}

/* *v = *v * 10 + digit, or -1 if that overflows. */
static int
mul10_add(uint64_t *v, char digit)
{
    uint64_t d = (uint64_t)(digit - '0');

    if (*v > (UINT64_MAX - d) / 10)
        return -1;
    *v = *v * 10 + d;
    return 0;
}

static int
parse_duration(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {{"ns", 1},           {"us", 1000},
                 {"ms", 1000000},     {"s", 1000000000},
                 {"m", 60000000000},  {"h", 3600000000000},
                 {"", 1000000000}};
    uint64_t whole = 0, frac_num = 0, frac_den = 1;
    size_t i;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        if (mul10_add(&whole, *s) != 0)
            return -1;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (frac_den == 1000000000u)
                return -1; /* more than 9 digits */
            frac_num = frac_num * 10 + (uint64_t)(*s - '0');
            frac_den *= 10;
        }
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t u = units[i].ns, part;

        if (strcmp(s, units[i].unit) != 0)
            continue;
        /* frac_num < frac_den <= 1e9. Every unit is a multiple of
         * frac_den when it is at least frac_den, and at most 1e6 when it
         * is smaller, so neither product can overflow. */
        part = frac_num * (u / frac_den) + frac_num * (u % frac_den) / frac_den;
        if (whole > UINT64_MAX / u || whole * u > UINT64_MAX - part)
            return -1;
        *out = whole * u + part;
        return 0;
    }
    return -1;
}

int
dump_parse_when(const char *s, dump_when *out)
{
    dump_when w = {0, 0};
    uint64_t v = 0;
    const char *p;

    if (s[0] == '+') {
        if (parse_duration(s + 1, &w.ns) != 0)
            return -1;
        w.relative = 1;
        *out = w;
        return 0;
    }
    for (p = s; *p >= '0' && *p <= '9'; p++)
        if (mul10_add(&v, *p) != 0)
            return -1;
    if (*p == '\0' && p != s) {
        w.ns = v;
        *out = w;
        return 0;
    }
    if (parse_rfc3339(s, &w.ns) != 0)
        return -1;
    *out = w;
    return 0;
}

int
dump_parse_types(const char *s, uint8_t set[8192])
{
    for (;;) {
        uint32_t lo, hi, t;

        if (sl_state_type_number(&s, &lo) != 0)
            return -1;
        hi = lo;
        if (*s == '-') {
            s++;
            if (sl_state_type_number(&s, &hi) != 0 || hi < lo)
                return -1;
        }
        /* Event types are 0..0xEFFF (protocol.md section 6); the rest
         * are the collector's records, which --type does not filter. */
        if (hi >= SL_STATE_TYPES)
            return -1;
        for (t = lo; t <= hi; t++)
            set[t >> 3] |= (uint8_t)(1u << (t & 7));
        if (*s == '\0')
            return 0;
        if (*s != ',')
            return -1;
        s++;
    }
}

int
dump_parse_u32(const char *s, uint32_t *out)
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
    *out = (uint32_t)v;
    return 0;
}
