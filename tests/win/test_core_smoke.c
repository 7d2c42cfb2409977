/*
 * Smoke checks of the platform-neutral core built with mingw-w64 and run
 * under Wine: the Criterion suites in tests/unit cover these modules in
 * depth on Linux; this program makes sure the same code behaves on the
 * Windows toolchain and runtime (64-bit long vs LLP64, C11 atomics on
 * mingw, the CPU's CRC32C instruction chosen at run time).
 *
 * CRC32C against the RFC 3720 vectors (hardware and table paths), a ring
 * round trip and a full ring, the greeting, and one text and one binary
 * stream through the wire parser, and a capture record round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "crc32c.h"
#include "err.h"
#include "ring.h"
#include "win_test.h"
#include "wire.h"

static void
test_crc32c(void)
{
    uint8_t buf[32];
    sl_crc32c_fn hw = sl_crc32c_hw();

    CASE("CRC32C matches the RFC 3720 vectors");
    printf("  implementation: %s\n", sl_crc32c_impl());
    CHECK(sl_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(sl_crc32c_sw(0, "123456789", 9) == 0xE3069283u);
    memset(buf, 0, sizeof(buf));
    CHECK(sl_crc32c(0, buf, 32) == 0x8A9136AAu);
    memset(buf, 0xFF, sizeof(buf));
    CHECK(sl_crc32c(0, buf, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    CHECK(sl_crc32c(0, buf, 32) == 0x46DD794Eu);
    CHECK(sl_crc32c_sw(0, buf, 32) == 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    CHECK(sl_crc32c(0, buf, 32) == 0x113FDB5Cu);

    CASE("CRC32C chains, and the hardware path agrees with the table");
    CHECK(sl_crc32c(sl_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
    if (hw != NULL) {
        static uint8_t big[100003];

        for (size_t i = 0; i < sizeof(big); i++)
            big[i] = (uint8_t)(i * 2654435761u >> 13);
        for (size_t off = 0; off < 9; off++)
            CHECK(hw(7, big + off, sizeof(big) - off) ==
                  sl_crc32c_sw(7, big + off, sizeof(big) - off));
    }
}

static void
test_ring(void)
{
    sl_ring *r = NULL;
    sl_ring_resv res;
    const uint8_t *p;
    size_t len, total = 0;
    int reserved = 0;

    CASE("ring: reserve, commit, peek and release one record");
    CHECK_OK(sl_ring_open(4096, &r));
    CHECK(sl_ring_capacity(r) == 4096);
    CHECK_OK(sl_ring_reserve(r, 64, &res));
    CHECK(res.len == 64);
    sl_store_le32(res.ptr, 64);
    for (int i = 4; i < 64; i++)
        res.ptr[i] = (uint8_t)i;
    sl_ring_commit(r, &res);
    CHECK(sl_ring_used(r) >= 64);
    sl_ring_peek(r, &p, &len);
    CHECK(len == 64);
    CHECK(sl_load_le32(p) == 64 && p[63] == 63);
    sl_ring_release(r, 64);
    CHECK(sl_ring_used(r) == 0);

    CASE("ring: refuses bad sizes and reports a full ring");
    CHECK_EQ_RC(sl_ring_reserve(r, 12, &res), SL_EINVAL);
    CHECK_EQ_RC(sl_ring_reserve(r, sl_ring_max_reserve(r) + 8, &res),
                SL_EINVAL);
    while (reserved < 1000) {
        int rc = sl_ring_reserve(r, 512, &res);

        if (rc == SL_EAGAIN)
            break;
        CHECK_OK(rc);
        sl_store_le32(res.ptr, 512);
        sl_ring_commit(r, &res);
        total += 512;
        reserved++;
    }
    CHECK(reserved < 1000 && total <= 4096);
    CHECK(sl_ring_wait_data(r, 1000000) == 1);
    sl_ring_close(r);
    sl_ring_close(NULL);
}

static void
test_greeting(void)
{
    char g[SL_WIRE_GREETING_MAX];
    size_t len;
    uint32_t version, max_frame, id;

    CASE("greeting: written and parsed back");
    CHECK_OK(sl_wire_greeting(g, sizeof(g), 65536, 42, &len));
    CHECK(strcmp(g, "SLUICE/1 max=65536 id=42") == 0);
    CHECK(len == strlen(g) + 1);
    CHECK_OK(sl_wire_parse_greeting(g, len, &version, &max_frame, &id));
    CHECK(version == 1 && max_frame == 65536 && id == 42);
    CHECK(sl_wire_parse_greeting("HTTP/1.1 200", 12, &version, &max_frame,
                                 &id) != 0);
}

static void
test_wire_text(void)
{
    static const char in[] = "hello from c++\r\nsecond\n";
    sl_wire w;
    sl_wire_event ev[8];
    size_t n = 0, used = 0;

    CASE("wire: the plain client's text line is one event, CR stripped");
    sl_wire_init(&w, 65536);
    CHECK_OK(sl_wire_parse(&w, (const uint8_t *)in, sizeof(in) - 1, ev, 8,
                           &n, &used));
    CHECK(w.mode == SL_WIRE_MODE_TEXT);
    CHECK(n == 3);
    CHECK(ev[0].type == SL_WIRE_T_HELLO && ev[0].len == 0);
    CHECK(ev[1].type == SL_WIRE_T_TEXT && ev[1].seq == 0);
    CHECK(ev[1].len == 14 && memcmp(ev[1].payload, "hello from c++", 14) == 0);
    CHECK(ev[2].len == 6 && ev[2].seq == 1);
    CHECK(used == sizeof(in) - 1);
}

static void
test_wire_binary(void)
{
    uint8_t buf[256];
    size_t len = 0, n = 0, used = 0;
    sl_wire w;
    sl_wire_event ev[8];

    CASE("wire: magic, hello and one frame parse in binary mode");
    CHECK_OK(sl_wire_hello_encode(buf, sizeof(buf), 1234, "smoke", 5,
                                  1700000000000000000ull, &len));
    sl_wire_frame_header(buf + len, SL_WIRE_FRAME_HDR + 5, 7, 0,
                         1700000000000000001ull);
    memcpy(buf + len + SL_WIRE_FRAME_HDR, "abcde", 5);
    len += SL_WIRE_FRAME_HDR + 5;
    sl_wire_init(&w, 65536);
    CHECK_OK(sl_wire_parse(&w, buf, len, ev, 8, &n, &used));
    CHECK(w.mode == SL_WIRE_MODE_BINARY);
    CHECK(n == 2 && used == len);
    CHECK(ev[0].type == SL_WIRE_T_HELLO);
    CHECK(w.pid == 1234 && w.name_len == 5 && strcmp(w.name, "smoke") == 0);
    CHECK(ev[1].type == 7 && ev[1].seq == 0 && ev[1].len == 5);
    CHECK(ev[1].ts == 1700000000000000001ull);
    CHECK(memcmp(ev[1].payload, "abcde", 5) == 0);

    CASE("wire: a frame above max-frame closes the connection");
    sl_wire_init(&w, 4096);
    CHECK_OK(sl_wire_hello_encode(buf, sizeof(buf), 1, "x", 1, 0, &len));
    sl_wire_frame_header(buf + len, 100000, 7, 0, 0);
    len += SL_WIRE_FRAME_HDR;
    CHECK(sl_wire_parse(&w, buf, len, ev, 8, &n, &used) != 0);
    CHECK(w.reason == SL_WIRE_R_FRAME_TOO_BIG);
}

static void
test_capfile(void)
{
    uint8_t rec[SL_CAP_REC_HDR + 16];
    sl_cap_rec in, out;

    CASE("capture record header: encoded little-endian and decoded back");
    memset(&in, 0, sizeof(in));
    in.type = 7;
    in.producer = 3;
    in.seq = 0x0102030405060708ull;
    in.producer_ns = 1;
    in.collector_ns = 2;
    memset(rec, 0xAA, sizeof(rec));
    CHECK(sl_cap_rec_put(rec, in.type, in.producer, in.seq, in.producer_ns,
                         in.collector_ns, "abcde", 5) == rec + 48);
    CHECK(sl_cap_rec_size(5) == 48);
    CHECK(sl_load_le32(rec) == 48 && sl_load_le32(rec + 4) == 5);
    CHECK(rec[16] == 0x08 && rec[23] == 0x01);
    CHECK(rec[SL_CAP_REC_HDR + 5] == 0 && rec[47] == 0);
    sl_cap_rec_decode(rec, &out);
    CHECK(out.size == 48 && out.payload_len == 5 && out.type == 7);
    CHECK(out.producer == 3 && out.seq == in.seq);
    CHECK(out.producer_ns == 1 && out.collector_ns == 2);
}

int
main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    test_crc32c();
    test_ring();
    test_greeting();
    test_wire_text();
    test_wire_binary();
    test_capfile();
    printf("test_core_smoke: all passed\n");
    return T_EXIT_PASS;
}
