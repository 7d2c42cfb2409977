/*
 * CRC32C: the table path and the hardware path against the same published
 * vectors (RFC 3720 appendix B.4 and the usual "123456789" check value),
 * chaining, and the two paths against each other on random data at every
 * alignment, so a hardware path that mishandles a head or tail byte fails
 * here rather than as a corrupt block in a capture.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

TestSuite(crc32c, .timeout = 30.0);

typedef struct vector {
    const char *name;
    uint8_t data[32];
    size_t len;
    uint32_t crc;
} vector;

static void
vectors(vector v[4])
{
    size_t i;

    memset(v, 0, 4 * sizeof(*v));
    v[0].name = "123456789";
    memcpy(v[0].data, "123456789", 9);
    v[0].len = 9;
    v[0].crc = 0xE3069283u;

    v[1].name = "32 zero bytes";
    v[1].len = 32;
    v[1].crc = 0x8A9136AAu;

    v[2].name = "32 0xFF bytes";
    memset(v[2].data, 0xFF, 32);
    v[2].len = 32;
    v[2].crc = 0x62A8AB43u;

    v[3].name = "RFC 3720 incrementing 0..31";
    for (i = 0; i < 32; i++)
        v[3].data[i] = (uint8_t)i;
    v[3].len = 32;
    v[3].crc = 0x46DD794Eu;
}

static void
check_vectors(sl_crc32c_fn fn, const char *impl)
{
    vector v[4];
    size_t i;

    vectors(v);
    for (i = 0; i < 4; i++)
        cr_expect_eq(fn(0, v[i].data, v[i].len), v[i].crc,
                     "%s: %s: got %08x, want %08x", impl, v[i].name,
                     fn(0, v[i].data, v[i].len), v[i].crc);
}

static sl_crc32c_fn
hw_or_skip(void)
{
    sl_crc32c_fn hw = sl_crc32c_hw();

    if (hw == NULL)
        cr_skip_test("no CRC32C instruction on this CPU (using %s)",
                     sl_crc32c_impl());
    return hw;
}

Test(crc32c, table_path_matches_known_vectors)
{
    check_vectors(sl_crc32c_sw, "table");
}

Test(crc32c, hardware_path_matches_known_vectors)
{
    check_vectors(hw_or_skip(), sl_crc32c_impl());
}

Test(crc32c, dispatcher_matches_known_vectors)
{
    check_vectors(sl_crc32c, sl_crc32c_impl());
}

Test(crc32c, dispatcher_reports_its_choice)
{
    const char *impl = sl_crc32c_impl();

    if (sl_crc32c_hw() == NULL)
        cr_assert_str_eq(impl, "table");
    else
        cr_assert(strcmp(impl, "sse4.2") == 0 ||
                      strcmp(impl, "armv8-crc") == 0,
                  "impl %s", impl);
}

Test(crc32c, empty_input_leaves_crc_unchanged)
{
    sl_crc32c_fn hw = sl_crc32c_hw();

    cr_assert_eq(sl_crc32c_sw(0, NULL, 0), 0);
    cr_assert_eq(sl_crc32c_sw(0x12345678u, "", 0), 0x12345678u);
    cr_assert_eq(sl_crc32c(0xE3069283u, NULL, 0), 0xE3069283u);
    if (hw != NULL)
        cr_assert_eq(hw(0xDEADBEEFu, NULL, 0), 0xDEADBEEFu);
}

static void
check_chaining(sl_crc32c_fn fn)
{
    uint8_t buf[200];
    size_t i, cut;
    uint32_t whole;

    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    whole = fn(0, buf, sizeof(buf));
    for (cut = 0; cut <= sizeof(buf); cut++) {
        uint32_t c = fn(0, buf, cut);
        c = fn(c, buf + cut, sizeof(buf) - cut);
        cr_assert_eq(c, whole, "split at %zu", cut);
    }
    /* Three pieces, the way the writer does header, records, trailer. */
    cr_assert_eq(fn(fn(fn(0, buf, 24), buf + 24, 100), buf + 124, 76), whole);
}

Test(crc32c, chained_equals_whole_table)
{
    check_chaining(sl_crc32c_sw);
}

Test(crc32c, chained_equals_whole_hardware)
{
    check_chaining(hw_or_skip());
}

Test(crc32c, chained_equals_whole_dispatcher)
{
    check_chaining(sl_crc32c);
}

Test(crc32c, hardware_equals_table_at_every_alignment_and_length)
{
    sl_crc32c_fn hw = hw_or_skip();
    uint8_t buf[300 + 16];
    size_t i, align, len;
    unsigned seed = 12345;
    int round;

    for (round = 0; round < 4; round++) {
        for (i = 0; i < sizeof(buf); i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (uint8_t)(seed >> 16);
        }
        for (align = 0; align < 16; align++)
            for (len = 0; len <= 300; len++) {
                uint32_t init = round == 0 ? 0 : seed ^ (uint32_t)len;
                uint32_t a = sl_crc32c_sw(init, buf + align, len);
                uint32_t b = hw(init, buf + align, len);

                cr_assert_eq(a, b,
                             "align %zu len %zu: table %08x, hw %08x",
                             align, len, a, b);
            }
    }
}

Test(crc32c, large_buffer_agrees_across_paths)
{
    sl_crc32c_fn hw = sl_crc32c_hw();
    size_t n = (1u << 20) + 13, i;
    uint8_t *buf = malloc(n);
    uint32_t sw;

    cr_assert_not_null(buf);
    for (i = 0; i < n; i++)
        buf[i] = (uint8_t)(i ^ (i >> 9));
    sw = sl_crc32c_sw(0, buf, n);
    cr_expect_eq(sl_crc32c(0, buf, n), sw);
    if (hw != NULL)
        cr_expect_eq(hw(0, buf + 1, n - 1), sl_crc32c_sw(0, buf + 1, n - 1));
    free(buf);
}

Test(crc32c, hardware_equals_table_around_the_three_stream_lengths)
{
    /* The x86 path runs three interleaved streams over 3 x 8192 and then
     * 3 x 256 bytes and joins them; check lengths on and around both
     * thresholds, at two alignments and with a nonzero starting CRC. */
    static const size_t lens[] = {767,   768,   769,   1535,  1536,  2311,
                                  24575, 24576, 24577, 25344, 25351, 49152,
                                  49159, 73727, 73728, 99999};
    sl_crc32c_fn hw = sl_crc32c_hw();
    size_t n = 100008, i, k;
    uint8_t *buf = malloc(n);

    if (hw == NULL)
        cr_skip_test("no CRC32C instruction on this CPU");
    cr_assert_not_null(buf);
    for (i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
        for (size_t align = 0; align < 2; align++) {
            uint32_t init = (uint32_t)(lens[k] * 40503u);

            cr_expect_eq(hw(init, buf + align, lens[k]),
                         sl_crc32c_sw(init, buf + align, lens[k]),
                         "len %zu align %zu", lens[k], align);
        }
    free(buf);
}
