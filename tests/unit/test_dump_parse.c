/*
 * sluice-dump's option-value parsers (collector/dump/parse.c): the time
 * forms of --since/--until, checked against known instants and by a round
 * trip through the RFC 3339 printer, and the type lists of --type.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dump.h"

TestSuite(dump_parse, .timeout = 30.0);

static uint64_t
abs_ns(const char *s)
{
    dump_when w;

    cr_assert_eq(dump_parse_when(s, &w), 0, "rejected: %s", s);
    cr_assert_eq(w.relative, 0, "relative: %s", s);
    return w.ns;
}

static uint64_t
rel_ns(const char *s)
{
    dump_when w;

    cr_assert_eq(dump_parse_when(s, &w), 0, "rejected: %s", s);
    cr_assert_eq(w.relative, 1, "absolute: %s", s);
    return w.ns;
}

static void
rejects(const char *s)
{
    dump_when w;

    cr_assert_eq(dump_parse_when(s, &w), -1, "accepted: %s", s);
}

Test(dump_parse, rfc3339_forms)
{
    cr_assert_eq(abs_ns("2023-11-14T22:13:20Z"), 1700000000000000000u);
    cr_assert_eq(abs_ns("2023-11-14t22:13:20z"), 1700000000000000000u);
    cr_assert_eq(abs_ns("2023-11-14 22:13:20Z"), 1700000000000000000u);
    cr_assert_eq(abs_ns("2023-11-14T22:13Z"), 1699999980000000000u);
    cr_assert_eq(abs_ns("2023-11-14T22:13:20.5Z"), 1700000000500000000u);
    cr_assert_eq(abs_ns("2023-11-14T22:13:20.000000001Z"),
                 1700000000000000001u);
    cr_assert_eq(abs_ns("2023-11-14T23:13:20+01:00"), 1700000000000000000u);
    cr_assert_eq(abs_ns("2023-11-14T17:43:20.25-04:30"),
                 1700000000250000000u);
    cr_assert_eq(abs_ns("1970-01-01T00:00:00Z"), 0);
    cr_assert_eq(abs_ns("2024-02-29T00:00:00Z"), 1709164800000000000u);
    cr_assert_eq(abs_ns("2016-12-31T23:59:60Z"), 1483228800000000000u);
}

Test(dump_parse, plain_integers_are_epoch_nanoseconds)
{
    cr_assert_eq(abs_ns("1700000000002000000"), 1700000000002000000u);
    cr_assert_eq(abs_ns("0"), 0);
    cr_assert_eq(abs_ns("18446744073709551615"), UINT64_MAX);
    rejects("18446744073709551616");
}

Test(dump_parse, rejects_malformed_times)
{
    static const char *const bad[] = {
        "",
        "2023-11-14T22:13:20",      /* no zone */
        "2023-11-14",               /* no time */
        "2023-11-14T22:13:20.Z",    /* empty fraction */
        "2023-11-14T22:13:20.1234567890Z", /* 10 digits */
        "2023-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",     /* not a leap year */
        "2023-11-31T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:60:00Z",
        "2023-11-14T22:13:61Z",
        "1969-12-31T23:59:59Z",     /* before the epoch */
        "1970-01-01T00:00:00+01:00",
        "2023-11-14T22:13:20+0100",
        "2023-11-14T22:13:20Z junk",
        "2023-1-14T22:13:20Z",
        "yesterday",
        "-5s",
        "+",
        "+s",
        "+5x",
        "+1.s",
        "+1.0000000001s",
        "+99999999999h",
        "+18446744073709551615s",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        rejects(bad[i]);
}

Test(dump_parse, relative_durations)
{
    cr_assert_eq(rel_ns("+5s"), 5000000000u);
    cr_assert_eq(rel_ns("+5"), 5000000000u);
    cr_assert_eq(rel_ns("+0"), 0);
    cr_assert_eq(rel_ns("+1.5s"), 1500000000u);
    cr_assert_eq(rel_ns("+250ms"), 250000000u);
    cr_assert_eq(rel_ns("+0.5ms"), 500000u);
    cr_assert_eq(rel_ns("+3us"), 3000u);
    cr_assert_eq(rel_ns("+7ns"), 7u);
    cr_assert_eq(rel_ns("+1.5m"), 90000000000u);
    cr_assert_eq(rel_ns("+2h"), 7200000000000u);
    cr_assert_eq(rel_ns("+0.000000001h"), 3600u);
    cr_assert_eq(rel_ns("+0.123456789s"), 123456789u);
    cr_assert_eq(rel_ns("+18446744073ns"), 18446744073u);
}

Test(dump_parse, printed_times_parse_back)
{
    dump_out o;
    uint64_t ns = 1;
    int i;

    cr_assert_eq(dump_out_open(&o, NULL, 256), 0);
    for (i = 0; i < 2000; i++) {
        char s[64];

        /* A spread of instants up to year 2554. */
        ns = ns * 6364136223846793005u + 1442695040888963407u;
        o.len = 0;
        dump_out_time(&o, ns);
        memcpy(s, o.buf, o.len);
        s[o.len] = '\0';
        if (strncmp(s, "1", 1) != 0 && strncmp(s, "2", 1) != 0)
            continue;
        cr_assert_eq(abs_ns(s), ns, "%s", s);
    }
    dump_out_close(&o);
}

static int
has(const uint8_t *set, unsigned t)
{
    return set[t >> 3] >> (t & 7) & 1;
}

static unsigned
count(const uint8_t *set)
{
    unsigned t, n = 0;

    for (t = 0; t < 65536; t++)
        n += (unsigned)has(set, t);
    return n;
}

Test(dump_parse, type_lists_and_ranges)
{
    static uint8_t set[8192];

    memset(set, 0, sizeof(set));
    cr_assert_eq(dump_parse_types("1,7,0xE000-0xE002,61439", set), 0);
    cr_assert_eq(count(set), 6);
    cr_assert(has(set, 1) && has(set, 7) && has(set, 0xE000) &&
              has(set, 0xE001) && has(set, 0xE002) && has(set, 61439));
    cr_assert_eq(dump_parse_types("0X10,3-3", set), 0);
    cr_assert_eq(count(set), 8);
    memset(set, 0, sizeof(set));
    cr_assert_eq(dump_parse_types("0-0xEFFF", set), 0);
    cr_assert_eq(count(set), 61440);
}

Test(dump_parse, type_lists_reject_junk)
{
    static const char *const bad[] = {
        "", ",", "1,", ",1", "65536", "0x10000", "5-3", "1-", "-1",
        /* the real limit: event types end at 0xEFFF */
        "61440", "0xF000", "65535", "5-61440", "0-0xFFFF",
        "a", "0x", "1;2", "1 2", "0xg",
    };
    static uint8_t set[8192];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(dump_parse_types(bad[i], set), -1, "accepted: %s",
                     bad[i]);
}

Test(dump_parse, producer_ids)
{
    uint32_t v;

    cr_assert_eq(dump_parse_u32("4294967295", &v), 0);
    cr_assert_eq(v, 4294967295u);
    cr_assert_eq(dump_parse_u32("4294967296", &v), -1);
    cr_assert_eq(dump_parse_u32("", &v), -1);
    cr_assert_eq(dump_parse_u32("12a", &v), -1);
}
