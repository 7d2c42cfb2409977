/*
 * The capture format, write side and read side together: files built with
 * the real encoders (capfile.h) and read back through the public reader
 * (sluice/capture.h). Besides round trips and the golden example from
 * docs/capture-format.md, the tests damage small captures in every way a
 * crash or a bad disk can: cut at every offset, every byte of a block
 * flipped, garbage between blocks, junk at the end. The reader must report
 * the damage exactly and never crash; the ASan/UBSan build runs these too.
 *
 * SL_REGEN_FIXTURES=1 makes golden_example_matches_fixture write
 * tests/fixtures/capture-example.sluice instead of comparing with it.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capfile.h"
#include "crc32c.h"
#include "err.h"
#include "sluice/capture.h"
#include "wire.h"
#include "unit/temp_file.h"

TestSuite(capfile, .timeout = 60.0);

/* ---- building captures with the real encoders ------------------------- */

typedef struct capbuf {
    uint8_t *p;
    size_t len, cap;
    size_t blk_start;
    uint32_t blk_count;
    uint64_t blk_seq;
} capbuf;

static void
cb_reserve(capbuf *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;

        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        cr_assert_not_null(b->p);
        b->cap = cap;
    }
}

static void
cb_put(capbuf *b, const void *data, size_t n)
{
    cb_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void
cb_header(capbuf *b, uint64_t start_ns, const char *pipe, const char *host)
{
    sl_cap_file_info info = {start_ns, pipe, strlen(pipe), host, strlen(host)};
    size_t len = 0;

    cb_reserve(b, SL_CAP_FILE_HDR_FIXED + info.pipe_len + info.host_len);
    cr_assert_eq(sl_cap_file_header_encode(b->p + b->len, b->cap - b->len,
                                           &info, &len),
                 0);
    cr_assert_eq(len, SL_CAP_FILE_HDR_FIXED + info.pipe_len + info.host_len);
    b->len += len;
}

static void
cb_block_begin(capbuf *b)
{
    cb_reserve(b, SL_CAP_BLOCK_HDR);
    b->blk_start = b->len;
    b->blk_count = 0;
    b->len += SL_CAP_BLOCK_HDR;
}

static void
cb_record(capbuf *b, const sl_cap_rec *r, const void *payload, size_t n)
{
    size_t size = sl_cap_rec_size(n);

    cb_reserve(b, size);
    cr_assert_eq(r->flags, 0, "the encoder writes flags 0");
    cr_assert_eq(sl_cap_rec_put(b->p + b->len, r->type, r->producer, r->seq,
                                r->producer_ns, r->collector_ns, payload, n),
                 b->p + b->len + size);
    b->len += size;
    b->blk_count++;
}

/* Finishes the block as the collector's writer does. @return its length */
static uint32_t
cb_block_end(capbuf *b)
{
    uint32_t block_len =
        (uint32_t)(b->len - b->blk_start + SL_CAP_BLOCK_TRL);
    uint32_t crc;

    cb_reserve(b, SL_CAP_BLOCK_TRL);
    sl_cap_block_header(b->p + b->blk_start, block_len, b->blk_seq++,
                        b->blk_count);
    crc = sl_crc32c(0, b->p + b->blk_start, block_len - SL_CAP_BLOCK_TRL);
    sl_cap_block_trailer(b->p + b->len, crc, block_len);
    b->len += SL_CAP_BLOCK_TRL;
    return block_len;
}

static char *
write_temp(const void *data, size_t n)
{
    return sl_test_write_temp("/tmp/sluice-capfile-XXXXXX", data, n);
}

static void
append_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "ab");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void
remove_temp(char *path)
{
    unlink(path);
    free(path);
}

/* ---- the worked example of docs/capture-format.md --------------------- */

#define EX_START 1700000000000000000ull /* 2023-11-14T22:13:20Z */
#define EX_MS 1000000ull

/* The bytes of the example, built from its description in the document. */
static void
build_example(capbuf *b)
{
    uint8_t pl[64];
    sl_cap_rec r;

    cb_header(b, EX_START, "demo", "box");

    cb_block_begin(b);
    memset(&r, 0, sizeof(r));
    r.type = SL_CAP_T_CONNECT;
    r.producer = 1;
    r.collector_ns = EX_START + 1 * EX_MS;
    sl_store_le32(pl, 4242);             /* pid */
    sl_store_le32(pl + 4, 1000);         /* uid */
    pl[8] = 1;                           /* mode: binary */
    pl[9] = 0;                           /* reserved */
    sl_store_le16(pl + 10, 3);           /* name_len */
    memcpy(pl + SL_CAP_CONNECT_FIXED, "app", 3);
    cb_record(b, &r, pl, SL_CAP_CONNECT_FIXED + 3);

    memset(&r, 0, sizeof(r));
    r.type = 1;
    r.producer = 1;
    r.seq = 0;
    r.producer_ns = EX_START + 1 * EX_MS + EX_MS / 2;
    r.collector_ns = EX_START + 2 * EX_MS;
    cb_record(b, &r, "hello", 5);
    r.seq = 1;
    r.producer_ns = EX_START + 2 * EX_MS + EX_MS / 2;
    r.collector_ns = EX_START + 3 * EX_MS;
    cb_record(b, &r, "world", 5);

    memset(&r, 0, sizeof(r));
    r.type = SL_CAP_T_DISCONNECT;
    r.producer = 1;
    r.collector_ns = EX_START + 4 * EX_MS;
    memset(pl, 0, sizeof(pl));
    sl_store_le64(pl, 2);                    /* events */
    sl_store_le64(pl + 8, 10);               /* bytes */
    sl_store_le64(pl + 16, 0);               /* dropped */
    sl_store_le32(pl + 24, SL_WIRE_R_EOF);   /* reason */
    sl_store_le32(pl + 28, 0);               /* malformed */
    /* The 32-byte form (before `discarded` and `filtered`), which readers
     * must keep accepting: the document's example shows it. */
    cb_record(b, &r, pl, SL_CAP_DISCONNECT_MIN);
    cb_block_end(b);

    cb_block_begin(b);
    memset(&r, 0, sizeof(r));
    r.type = SL_CAP_T_CLOSE;
    r.collector_ns = EX_START + 5 * EX_MS;
    memset(pl, 0, sizeof(pl));
    sl_store_le64(pl, 1);       /* producers */
    sl_store_le64(pl + 8, 2);   /* events */
    sl_store_le64(pl + 16, 10); /* bytes */
    cb_record(b, &r, pl, SL_CAP_CLOSE_LEN);
    cb_block_end(b);
}

static uint8_t *
read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    size_t cap = 0, len = 0, got;

    if (f == NULL)
        return NULL;
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            p = realloc(p, cap);
            cr_assert_not_null(p);
        }
        got = fread(p + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    *n = len;
    return p;
}

Test(capfile, golden_example_matches_fixture)
{
    const char *path = SL_FIXTURES_DIR "/capture-example.sluice";
    capbuf b = {0};
    uint8_t *file;
    size_t n = 0, i;

    build_example(&b);
    cr_assert_eq(b.len, 407, "the document describes 407 bytes");
    if (getenv("SL_REGEN_FIXTURES") != NULL) {
        FILE *f = fopen(path, "wb");

        cr_assert_not_null(f);
        cr_assert_eq(fwrite(b.p, 1, b.len, f), b.len);
        cr_assert_eq(fclose(f), 0);
    }
    file = read_whole(path, &n);
    cr_assert_not_null(file, "missing %s", path);
    cr_assert_eq(n, b.len, "fixture is %zu bytes, encoders give %zu", n,
                 b.len);
    for (i = 0; i < n; i++)
        cr_assert_eq(file[i], b.p[i], "first difference at offset %zu", i);
    free(file);
    free(b.p);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * The `hexdump -C` block after the "capture-example.sluice" marker in
 * docs/capture-format.md must be the encoders' bytes, so the document, the
 * fixture and the code cannot drift apart.
 */
Test(capfile, golden_example_matches_the_document)
{
    capbuf b = {0}, dumped = {0};
    uint8_t *doc;
    size_t n = 0;
    const char *p, *end;

    build_example(&b);
    doc = read_whole(SL_FIXTURES_DIR "/../../docs/capture-format.md", &n);
    cr_assert_not_null(doc, "docs/capture-format.md missing");
    doc = realloc(doc, n + 1);
    cr_assert_not_null(doc);
    doc[n] = '\0';
    p = strstr((const char *)doc, "<!-- hexdump: capture-example.sluice -->");
    cr_assert_not_null(p, "marker missing in docs/capture-format.md");
    p = strstr(p, "```");
    cr_assert_not_null(p);
    p = strchr(p, '\n');
    cr_assert_not_null(p);
    end = strstr(p, "```");
    cr_assert_not_null(end);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *bar, *q;

        if (eol == NULL)
            eol = end;
        /* "00000000  89 53 ...  |.SLCAP..|"; the last line is the offset
         * alone. */
        bar = memchr(p, '|', (size_t)(eol - p));
        if (bar != NULL && eol - p > 10) {
            for (q = p + 8; q < bar; q++) {
                uint8_t v;

                if (*q == ' ')
                    continue;
                cr_assert(q + 1 < bar && hexval(q[0]) >= 0 &&
                          hexval(q[1]) >= 0);
                v = (uint8_t)(hexval(q[0]) * 16 + hexval(q[1]));
                cb_put(&dumped, &v, 1);
                q++;
            }
        }
        p = eol + 1;
    }
    cr_assert_eq(dumped.len, b.len, "document shows %zu bytes, encoders %zu",
                 dumped.len, b.len);
    cr_assert(memcmp(dumped.p, b.p, b.len) == 0);
    free(doc);
    free(dumped.p);
    free(b.p);
}

Test(capfile, example_reads_back_with_decoded_collector_records)
{
    capbuf b = {0};
    sluice_capture *c = NULL;
    const sluice_capture_info *info;
    sluice_capture_stats st;
    sluice_record rec;
    sluice_connect_info ci;
    sluice_disconnect_info di;
    sluice_close_info cl;
    char *path;

    build_example(&b);
    path = write_temp(b.p, b.len);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    info = sluice_capture_get_info(c);
    cr_assert_eq(info->read_version, 1);
    cr_assert_eq(info->write_version, 1);
    cr_assert_eq(info->start_ns, EX_START);
    cr_assert_str_eq(info->pipe, "demo");
    cr_assert_str_eq(info->host, "box");

    cr_assert_eq(sluice_capture_next(c, &rec), 0);
    cr_assert_eq(rec.type, SLUICE_REC_CONNECT);
    cr_assert_eq(rec.file_offset, 39 + 24);
    cr_assert_eq(rec.block_seq, 0);
    cr_assert_eq(sluice_record_connect(&rec, &ci), 0);
    cr_assert_eq(ci.pid, 4242);
    cr_assert_eq(ci.uid, 1000);
    cr_assert_eq(ci.mode, 1);
    cr_assert_eq(ci.name_len, 3);
    cr_assert(memcmp(ci.name, "app", 3) == 0);
    cr_assert_eq(sluice_record_disconnect(&rec, &di), SLUICE_ECORRUPT);

    cr_assert_eq(sluice_capture_next(c, &rec), 0);
    cr_assert_eq(rec.type, 1);
    cr_assert_eq(rec.producer, 1);
    cr_assert_eq(rec.seq, 0);
    cr_assert_eq(rec.producer_ns, EX_START + EX_MS + EX_MS / 2);
    cr_assert_eq(rec.collector_ns, EX_START + 2 * EX_MS);
    cr_assert_eq(rec.payload_len, 5);
    cr_assert(memcmp(rec.payload, "hello", 5) == 0);
    cr_assert_eq(sluice_capture_next(c, &rec), 0);
    cr_assert_eq(rec.seq, 1);
    cr_assert(memcmp(rec.payload, "world", 5) == 0);

    cr_assert_eq(sluice_capture_next(c, &rec), 0);
    cr_assert_eq(rec.type, SLUICE_REC_DISCONNECT);
    cr_assert_eq(sluice_record_disconnect(&rec, &di), 0);
    cr_assert_eq(di.events, 2);
    cr_assert_eq(di.bytes, 10);
    cr_assert_eq(di.dropped, 0);
    cr_assert_eq(di.reason, 0);
    cr_assert_str_eq(sluice_reason_name(di.reason), "EOF");
    cr_assert_str_eq(sluice_reason_str(di.reason), "end of stream");

    cr_assert_eq(sluice_capture_next(c, &rec), 0);
    cr_assert_eq(rec.type, SLUICE_REC_CLOSE);
    cr_assert_eq(rec.block_seq, 1);
    cr_assert_eq(sluice_record_close(&rec, &cl), 0);
    cr_assert_eq(cl.producers, 1);
    cr_assert_eq(cl.events, 2);
    cr_assert_eq(cl.bytes, 10);

    cr_assert_eq(sluice_capture_next(c, &rec), 1);
    cr_assert_eq(sluice_capture_next(c, &rec), 1, "end stays the end");
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.blocks, 2);
    cr_assert_eq(st.records, 5);
    cr_assert_eq(st.corrupt_blocks, 0);
    cr_assert_eq(st.corrupt_bytes, 0);
    cr_assert_eq(st.torn_tail_bytes, 0);
    cr_assert_eq(st.valid_bytes, 407);
    sluice_capture_close(c);
    remove_temp(path);
    free(b.p);
}

/* ---- round trip ------------------------------------------------------- */

typedef struct expect_rec {
    sl_cap_rec h;
    uint8_t payload[300];
    uint64_t block_seq;
    uint64_t file_offset;
    size_t block; /* index of its block */
} expect_rec;

typedef struct sample {
    capbuf b;
    expect_rec rec[64];
    size_t nrec;
    size_t block_off[8], block_len[8];
    size_t nblock;
} sample;

static unsigned
rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* A capture of nblock blocks holding random records, with the records'
 * expected values. Payloads never contain the block magic, so corrupting
 * one block cannot make a fake block appear inside it. */
static void
build_sample(sample *s, size_t nblock, unsigned seed)
{
    size_t blk;

    memset(s, 0, sizeof(*s));
    cb_header(&s->b, 1234567890123456789ull, "pipe/with/slashes", "h");
    for (blk = 0; blk < nblock; blk++) {
        size_t k, n = 1 + rnd(&seed) % 6;

        s->block_off[blk] = s->b.len;
        cb_block_begin(&s->b);
        for (k = 0; k < n; k++) {
            expect_rec *e = &s->rec[s->nrec++];
            size_t i;

            e->h.type = (uint16_t)(rnd(&seed) % 0xF000);
            e->h.flags = 0;
            e->h.producer = rnd(&seed);
            e->h.seq = (uint64_t)rnd(&seed) << 32 | rnd(&seed);
            e->h.producer_ns = (uint64_t)rnd(&seed) << 40 | rnd(&seed);
            e->h.collector_ns = (uint64_t)rnd(&seed) << 40 | rnd(&seed);
            e->h.payload_len = rnd(&seed) % 120;
            if (k == 0 && blk == 0)
                e->h.payload_len = 0; /* an empty payload too */
            for (i = 0; i < e->h.payload_len; i++)
                e->payload[i] = (uint8_t)('a' + rnd(&seed) % 26);
            e->block_seq = blk;
            e->block = blk;
            e->file_offset = s->b.len;
            cb_record(&s->b, &e->h, e->payload, e->h.payload_len);
        }
        s->block_len[blk] = cb_block_end(&s->b);
    }
    s->nblock = nblock;
}

static void
check_rec(const sluice_record *r, const expect_rec *e)
{
    cr_assert_eq(r->type, e->h.type);
    cr_assert_eq(r->flags, e->h.flags);
    cr_assert_eq(r->producer, e->h.producer);
    cr_assert_eq(r->seq, e->h.seq);
    cr_assert_eq(r->producer_ns, e->h.producer_ns);
    cr_assert_eq(r->collector_ns, e->h.collector_ns);
    cr_assert_eq(r->payload_len, e->h.payload_len);
    cr_assert(memcmp(r->payload, e->payload, e->h.payload_len) == 0);
    cr_assert_eq(r->block_seq, e->block_seq);
    cr_assert_eq(r->file_offset, e->file_offset);
}

/* Reads everything; checks that exactly the records of the blocks flagged
 * in keep[] come back, in order. */
static void
read_expect(const char *path, const sample *s, const int *keep,
            sluice_capture_stats *st)
{
    sluice_capture *c = NULL;
    sluice_record r;
    size_t i;
    int rc;

    cr_assert_eq(sluice_capture_open(path, &c), 0);
    for (i = 0; i < s->nrec; i++) {
        if (!keep[s->rec[i].block])
            continue;
        rc = sluice_capture_next(c, &r);
        cr_assert_eq(rc, 0, "record %zu: rc %d", i, rc);
        check_rec(&r, &s->rec[i]);
    }
    cr_assert_eq(sluice_capture_next(c, &r), 1, "no extra records");
    sluice_capture_get_stats(c, st);
    sluice_capture_close(c);
}

static const int all_blocks[8] = {1, 1, 1, 1, 1, 1, 1, 1};

Test(capfile, round_trip_returns_every_field)
{
    sample s;
    sluice_capture_stats st;
    char *path;

    build_sample(&s, 5, 7);
    path = write_temp(s.b.p, s.b.len);
    read_expect(path, &s, all_blocks, &st);
    cr_assert_eq(st.blocks, 5);
    cr_assert_eq(st.records, s.nrec);
    cr_assert_eq(st.corrupt_blocks, 0);
    cr_assert_eq(st.torn_tail_bytes, 0);
    cr_assert_eq(st.valid_bytes, s.b.len);
    remove_temp(path);
    free(s.b.p);
}

Test(capfile, header_fields_round_trip)
{
    sample s;
    sluice_capture *c = NULL;
    const sluice_capture_info *info;
    char *path;

    build_sample(&s, 1, 1);
    path = write_temp(s.b.p, s.b.len);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    info = sluice_capture_get_info(c);
    cr_assert_eq(info->start_ns, 1234567890123456789ull);
    cr_assert_str_eq(info->pipe, "pipe/with/slashes");
    cr_assert_str_eq(info->host, "h");
    sluice_capture_close(c);
    remove_temp(path);
    free(s.b.p);
}

Test(capfile, empty_block_and_header_only_file_are_valid)
{
    capbuf b = {0};
    sluice_capture *c = NULL;
    sluice_capture_stats st;
    sluice_record r;
    char *path;

    cb_header(&b, 1, "", "");
    path = write_temp(b.p, b.len);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    cr_assert_str_eq(sluice_capture_get_info(c)->pipe, "");
    cr_assert_eq(sluice_capture_next(c, &r), 1);
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.valid_bytes, 32);
    cr_assert_eq(st.torn_tail_bytes, 0);
    sluice_capture_close(c);
    remove_temp(path);

    cb_block_begin(&b);
    cr_assert_eq(cb_block_end(&b), 32);
    path = write_temp(b.p, b.len);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    cr_assert_eq(sluice_capture_next(c, &r), 1);
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.blocks, 1);
    cr_assert_eq(st.records, 0);
    cr_assert_eq(st.valid_bytes, 64);
    sluice_capture_close(c);
    remove_temp(path);
    free(b.p);
}

Test(capfile, encoders_write_documented_bytes)
{
    uint8_t rec[SL_CAP_REC_HDR + 8];
    uint8_t hdr[SL_CAP_BLOCK_HDR], trl[SL_CAP_BLOCK_TRL], fh[64];
    sl_cap_rec r = {0}, d;
    sl_cap_file_info info = {0, "p", 1, "h", 1};
    size_t len = 0;

    memset(rec, 0xAA, sizeof(rec));
    r.type = 0x0102;
    r.producer = 0x03040506;
    r.seq = 0x0708090A0B0C0D0Eull;
    cr_assert_eq(sl_cap_rec_put(rec, r.type, r.producer, r.seq, 0, 0, "xyz",
                                3),
                 rec + 48);
    cr_assert_eq(sl_cap_rec_size(3), 48);
    cr_assert_eq(sl_cap_rec_size(0), 40);
    cr_assert_eq(sl_cap_rec_size(8), 48);
    cr_assert_eq(sl_cap_rec_size(9), 56);
    cr_assert_eq(rec[0], 48);
    cr_assert_eq(rec[4], 3);
    cr_assert_eq(rec[8], 0x02);
    cr_assert_eq(rec[9], 0x01);
    cr_assert_eq(rec[12], 0x06);
    cr_assert_eq(rec[16], 0x0E);
    cr_assert_eq(rec[23], 0x07);
    cr_assert_eq(memcmp(rec + 40, "xyz", 3), 0, "the payload is copied");
    cr_assert_eq(rec[43], 0, "padding is zeroed");
    cr_assert_eq(rec[47], 0, "padding is zeroed");
    sl_cap_rec_decode(rec, &d);
    cr_assert_eq(d.size, 48);
    cr_assert_eq(d.payload_len, 3);
    cr_assert_eq(d.type, r.type);
    cr_assert_eq(d.producer, r.producer);
    cr_assert_eq(d.seq, r.seq);

    sl_cap_block_header(hdr, 0x100, 5, 2);
    cr_assert(memcmp(hdr, "SLBK", 4) == 0);
    cr_assert_eq(sl_load_le32(hdr + 4), 0x100);
    cr_assert_eq(sl_load_le64(hdr + 8), 5);
    cr_assert_eq(sl_load_le32(hdr + 16), 2);
    cr_assert_eq(sl_load_le32(hdr + 20), 0);
    sl_cap_block_trailer(trl, 0xCAFEBABE, 0x100);
    cr_assert_eq(sl_load_le32(trl), 0xCAFEBABE);
    cr_assert_eq(sl_load_le32(trl + 4), 0x100);

    cr_assert_eq(sl_cap_file_header_encode(fh, 33, &info, &len), SL_EINVAL);
    cr_assert_eq(sl_cap_file_header_encode(fh, 34, &info, &len), 0);
    cr_assert_eq(len, 34);
    cr_assert(memcmp(fh, "\x89SLCAP\r\n", 8) == 0);
    info.pipe = "a\0b";
    info.pipe_len = 3;
    cr_assert_eq(sl_cap_file_header_encode(fh, sizeof(fh), &info, &len),
                 SL_EINVAL, "NUL inside a name");
    info.pipe_len = 65536;
    cr_assert_eq(sl_cap_file_header_encode(fh, sizeof(fh), &info, &len),
                 SL_EINVAL, "name too long");
}

/* ---- open errors ---------------------------------------------------------- */

static int
open_bytes(const void *data, size_t n)
{
    sluice_capture *c = NULL;
    char *path = write_temp(data, n);
    int rc = sluice_capture_open(path, &c);

    sluice_capture_close(c);
    remove_temp(path);
    return rc;
}

/* Rewrites the header CRC after a test changed header fields. */
static void
reseal_header(uint8_t *h, size_t header_len)
{
    sl_store_le32(h + 28, 0);
    sl_store_le32(h + 28, sl_crc32c(0, h, header_len));
}

Test(capfile, open_reports_missing_foreign_short_and_newer_files)
{
    capbuf b = {0};
    sluice_capture *c = NULL;
    uint8_t h[64];

    cr_assert_eq(sluice_capture_open("/nonexistent/sluice/x", &c),
                 SLUICE_ENOENT);
    cr_assert_null(c);
    cr_assert_eq(open_bytes("", 0), SLUICE_ETRUNC);
    cr_assert_eq(open_bytes("\x89SL", 3), SLUICE_ETRUNC);
    cr_assert_eq(open_bytes("hello", 5), SLUICE_ECORRUPT);
    cr_assert_eq(open_bytes("#!/bin/sh\necho not a capture\n", 29),
                 SLUICE_ECORRUPT);

    build_example(&b);
    cr_assert_eq(open_bytes(b.p, 20), SLUICE_ETRUNC);
    cr_assert_eq(open_bytes(b.p, 38), SLUICE_ETRUNC);
    cr_assert_eq(open_bytes(b.p, 39), 0);

    /* Read version 3: refused, even with a valid CRC. */
    memcpy(h, b.p, 39);
    sl_store_le16(h + 8, 3);
    reseal_header(h, 39);
    cr_assert_eq(open_bytes(h, 39), SLUICE_EVERSION);
    /* Write version 2: readable. */
    memcpy(h, b.p, 39);
    sl_store_le16(h + 10, 2);
    reseal_header(h, 39);
    cr_assert_eq(open_bytes(h, 39), 0);
    /* Header CRC off by one bit. */
    memcpy(h, b.p, 39);
    h[28] ^= 1;
    cr_assert_eq(open_bytes(h, 39), SLUICE_ECORRUPT);
    /* header_len disagreeing with the name lengths. */
    memcpy(h, b.p, 39);
    sl_store_le32(h + 12, 40);
    reseal_header(h, 39);
    cr_assert_eq(open_bytes(h, 39), SLUICE_ECORRUPT);
    free(b.p);
}

Test(capfile, later_write_version_may_extend_the_header)
{
    capbuf b = {0}, x = {0};
    sluice_capture *c = NULL;
    sluice_record r;
    char *path;
    size_t n = 0;

    build_example(&b);
    /* 39-byte header + 5 bytes a later writer defines, then the blocks. */
    cb_put(&x, b.p, 39);
    cb_put(&x, "\1\2\3\4\5", 5);
    cb_put(&x, b.p + 39, b.len - 39);
    sl_store_le16(x.p + 10, 2);
    sl_store_le32(x.p + 12, 44);
    reseal_header(x.p, 44);
    path = write_temp(x.p, x.len);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    cr_assert_eq(sluice_capture_get_info(c)->write_version, 2);
    cr_assert_str_eq(sluice_capture_get_info(c)->host, "box");
    while (sluice_capture_next(c, &r) == 0)
        n++;
    cr_assert_eq(n, 5, "blocks found after a 44-byte header");
    sluice_capture_close(c);
    remove_temp(path);

    /* The same extension at write version 1 is corruption. */
    sl_store_le16(x.p + 10, 1);
    reseal_header(x.p, 44);
    cr_assert_eq(open_bytes(x.p, x.len), SLUICE_ECORRUPT);
    free(b.p);
    free(x.p);
}

Test(capfile, every_header_byte_flip_is_refused)
{
    capbuf b = {0};
    size_t i;
    int bit;

    build_example(&b);
    for (i = 0; i < 39; i++)
        for (bit = 0; bit < 8; bit++) {
            int rc;

            b.p[i] ^= (uint8_t)(1u << bit);
            rc = open_bytes(b.p, b.len);
            b.p[i] ^= (uint8_t)(1u << bit);
            cr_assert(rc == SLUICE_ECORRUPT || rc == SLUICE_EVERSION,
                      "byte %zu bit %d: rc %d", i, bit, rc);
        }
    free(b.p);
}

/* ---- torn tails --------------------------------------------------------- */

Test(capfile, truncation_at_every_offset_keeps_whole_blocks)
{
    sample s;
    size_t cut, k;

    build_sample(&s, 3, 99);
    for (cut = 0; cut <= s.b.len; cut++) {
        int keep[8] = {0};
        size_t valid = s.block_off[0];
        sluice_capture_stats st;
        char *path = write_temp(s.b.p, cut);

        if (cut < s.block_off[0]) {
            sluice_capture *c = NULL;

            cr_assert_eq(sluice_capture_open(path, &c), SLUICE_ETRUNC,
                         "cut %zu inside the header", cut);
            remove_temp(path);
            continue;
        }
        for (k = 0; k < s.nblock; k++)
            if (s.block_off[k] + s.block_len[k] <= cut) {
                keep[k] = 1;
                valid += s.block_len[k];
            }
        read_expect(path, &s, keep, &st);
        cr_assert_eq(st.torn_tail_bytes, cut - valid, "cut %zu", cut);
        cr_assert_eq(st.valid_bytes, valid, "cut %zu", cut);
        cr_assert_eq(st.corrupt_blocks, 0, "cut %zu", cut);
        cr_assert_eq(st.corrupt_bytes, 0, "cut %zu", cut);
        remove_temp(path);
    }
    free(s.b.p);
}

Test(capfile, short_junk_after_last_block_is_torn_longer_junk_corrupt)
{
    capbuf b = {0};
    sluice_capture_stats st;
    sluice_capture *c = NULL;
    sluice_record r;
    char *path;
    static const uint8_t zeros[64];

    build_example(&b);
    path = write_temp(b.p, b.len);
    append_file(path, zeros, 5);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    while (sluice_capture_next(c, &r) == 0)
        ;
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.records, 5);
    cr_assert_eq(st.torn_tail_bytes, 5);
    cr_assert_eq(st.corrupt_blocks, 0);
    sluice_capture_close(c);

    /* Now 5 + 59 = 64 zero bytes: room for a block header, no magic. */
    append_file(path, zeros, 59);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    while (sluice_capture_next(c, &r) == 0)
        ;
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.records, 5);
    cr_assert_eq(st.torn_tail_bytes, 0);
    cr_assert_eq(st.corrupt_blocks, 1);
    cr_assert_eq(st.corrupt_bytes, 64);
    sluice_capture_close(c);
    remove_temp(path);
    free(b.p);
}

/* ---- corruption --------------------------------------------------------- */

static void
flip_each_byte_of_block(size_t victim, int last)
{
    sample s;
    size_t off, i;
    uint8_t masks[2] = {0x01, 0xFF};
    int keep[8];

    build_sample(&s, 4, 4242);
    cr_assert(victim < s.nblock);
    for (i = 0; i < 8; i++)
        keep[i] = i != victim;
    for (off = 0; off < s.block_len[victim]; off++) {
        size_t m;

        for (m = 0; m < 2; m++) {
            size_t at = s.block_off[victim] + off;
            sluice_capture_stats st;
            char *path;

            s.b.p[at] ^= masks[m];
            path = write_temp(s.b.p, s.b.len);
            s.b.p[at] ^= masks[m];
            read_expect(path, &s, keep, &st);
            remove_temp(path);
            if (last && off >= 4 && off < 8 && st.torn_tail_bytes > 0) {
                /* A last block whose length now reaches past EOF looks
                 * exactly like a torn write: that is what it reports. */
                cr_assert_eq(st.corrupt_blocks, 0);
                cr_assert_eq(st.torn_tail_bytes, s.block_len[victim]);
                continue;
            }
            cr_assert_eq(st.corrupt_blocks, 1, "byte %zu mask %02x", off,
                         masks[m]);
            cr_assert_eq(st.corrupt_bytes, s.block_len[victim],
                         "byte %zu mask %02x", off, masks[m]);
            cr_assert_eq(st.torn_tail_bytes, 0);
            cr_assert_eq(st.blocks, s.nblock - 1);
        }
    }
    free(s.b.p);
}

Test(capfile, flipping_any_byte_of_a_middle_block_skips_only_that_block)
{
    flip_each_byte_of_block(1, 0);
}

Test(capfile, flipping_any_byte_of_the_first_block_skips_only_that_block)
{
    flip_each_byte_of_block(0, 0);
}

Test(capfile, flipping_any_byte_of_the_last_block_skips_only_that_block)
{
    flip_each_byte_of_block(3, 1);
}

static void
garbage_between_blocks(size_t gap_after, const uint8_t *junk, size_t n)
{
    sample s;
    capbuf x = {0};
    sluice_capture_stats st;
    size_t cut;
    char *path;

    build_sample(&s, 3, 31337);
    cut = gap_after == SIZE_MAX ? s.block_off[0]
                                : s.block_off[gap_after] +
                                      s.block_len[gap_after];
    cb_put(&x, s.b.p, cut);
    cb_put(&x, junk, n);
    cb_put(&x, s.b.p + cut, s.b.len - cut);
    path = write_temp(x.p, x.len);
    /* Offsets after the gap move by n; compare fields other than that. */
    {
        sluice_capture *c = NULL;
        sluice_record r;
        size_t i;

        cr_assert_eq(sluice_capture_open(path, &c), 0);
        for (i = 0; i < s.nrec; i++) {
            expect_rec e = s.rec[i];

            if (e.file_offset >= cut)
                e.file_offset += n;
            cr_assert_eq(sluice_capture_next(c, &r), 0, "record %zu", i);
            check_rec(&r, &e);
        }
        cr_assert_eq(sluice_capture_next(c, &r), 1);
        sluice_capture_get_stats(c, &st);
        sluice_capture_close(c);
    }
    cr_assert_eq(st.corrupt_blocks, 1);
    cr_assert_eq(st.corrupt_bytes, n);
    cr_assert_eq(st.torn_tail_bytes, 0);
    cr_assert_eq(st.blocks, 3);
    remove_temp(path);
    free(x.p);
    free(s.b.p);
}

Test(capfile, garbage_between_blocks_resynchronises)
{
    uint8_t junk[1024];
    size_t i;

    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    garbage_between_blocks(0, junk, 8);
    garbage_between_blocks(1, junk, 64);
    garbage_between_blocks(SIZE_MAX, junk, 1000);

    /* Garbage that looks like blocks: magic with impossible lengths, and
     * a plausible block header whose CRC is wrong. */
    memset(junk, 0x5A, sizeof(junk));
    memcpy(junk, "SLBK\x07\0\0\0", 8);        /* length not a multiple of 8 */
    memcpy(junk + 8, "SLBK\0\0\0\x10", 8);    /* 256 MiB: over the limit */
    memcpy(junk + 16, "SLBK\x10\0\0\0", 8);   /* 16 bytes: below the minimum */
    memcpy(junk + 24, "SLBK\x40\0\0\0", 8);   /* 64 bytes, bad CRC */
    memcpy(junk + 512, "SLBK\0\0\x01\0", 8);  /* 64 KiB, past EOF */
    garbage_between_blocks(1, junk, 1024);
    /* After the last block, without the partial-looking block (which
     * would be a torn tail there): all of it is one corrupt region. */
    memset(junk + 512, 0x5A, 8);
    garbage_between_blocks(2, junk, 1024);
}

/* Garbage then nothing valid: a corrupt region to EOF, not a torn tail,
 * unless it ends in what looks like the start of a block. */
Test(capfile, garbage_at_the_end_is_corrupt_partial_block_after_it_torn)
{
    capbuf b = {0};
    sluice_capture *c = NULL;
    sluice_capture_stats st;
    sluice_record r;
    uint8_t junk[128];
    char *path;

    build_example(&b);
    memset(junk, 0x11, sizeof(junk));
    memcpy(junk + 96, "SLBK\0\1\0\0", 8); /* a 256-byte block, cut short */
    path = write_temp(b.p, b.len);
    append_file(path, junk, sizeof(junk));
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    while (sluice_capture_next(c, &r) == 0)
        ;
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.records, 5);
    cr_assert_eq(st.corrupt_blocks, 1);
    cr_assert_eq(st.corrupt_bytes, 96);
    cr_assert_eq(st.torn_tail_bytes, 32);
    sluice_capture_close(c);
    remove_temp(path);
    free(b.p);
}

/* Small, seeded mutations of a capture: the reader must finish (the test
 * has a timeout), return consistent figures and never fault (run under
 * ASan/UBSan too). */
Test(capfile, random_damage_never_breaks_the_reader)
{
    sample s;
    unsigned seed = 2024;
    int iter;

    build_sample(&s, 4, 5);
    for (iter = 0; iter < 1500; iter++) {
        capbuf x = {0};
        sluice_capture *c = NULL;
        sluice_capture_stats st;
        sluice_record r;
        size_t len = s.b.len, k, nflip = 1 + rnd(&seed) % 8;
        char *path;
        int rc;

        cb_put(&x, s.b.p, len);
        for (k = 0; k < nflip; k++) {
            size_t at = rnd(&seed) % len;

            switch (rnd(&seed) % 4) {
            case 0:
                x.p[at] ^= (uint8_t)(1u << rnd(&seed) % 8);
                break;
            case 1:
                x.p[at] = (uint8_t)rnd(&seed);
                break;
            case 2: /* a block magic at an 8-aligned spot */
                at = s.block_off[0] + (at & ~(size_t)7);
                if (at + 8 <= len)
                    memcpy(x.p + at, "SLBK", 4);
                break;
            default:
                if (len > s.block_off[0])
                    len = s.block_off[0] +
                          rnd(&seed) % (len - s.block_off[0]);
                break;
            }
        }
        path = write_temp(x.p, len);
        rc = sluice_capture_open(path, &c);
        if (rc == 0) {
            uint64_t n = 0;

            while ((rc = sluice_capture_next(c, &r)) == 0) {
                cr_assert(r.payload_len <= s.b.len);
                n++;
            }
            cr_assert_eq(rc, 1);
            sluice_capture_get_stats(c, &st);
            cr_assert_eq(st.records, n);
            cr_assert(st.valid_bytes + st.corrupt_bytes + st.torn_tail_bytes
                          == len,
                      "iter %d: %llu + %llu + %llu != %zu", iter,
                      (unsigned long long)st.valid_bytes,
                      (unsigned long long)st.corrupt_bytes,
                      (unsigned long long)st.torn_tail_bytes, len);
            sluice_capture_close(c);
        } else {
            cr_assert(rc == SLUICE_ECORRUPT || rc == SLUICE_EVERSION ||
                          rc == SLUICE_ETRUNC,
                      "rc %d", rc);
        }
        remove_temp(path);
        free(x.p);
    }
    free(s.b.p);
}

/* ---- follow mode -------------------------------------------------------- */

Test(capfile, follow_mode_returns_records_as_the_file_grows)
{
    sample s;
    sluice_capture *c = NULL;
    sluice_capture_stats st;
    sluice_record r;
    size_t i = 0, mid;
    char *path;

    build_sample(&s, 3, 77);
    /* Header, block 0, and half of block 1. */
    mid = s.block_off[1] + s.block_len[1] / 2;
    path = write_temp(s.b.p, mid);
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    sluice_capture_set_follow(c, 1);
    while (sluice_capture_next(c, &r) == 0)
        check_rec(&r, &s.rec[i++]);
    cr_assert(i > 0 && s.rec[i - 1].block == 0 &&
              (i == s.nrec || s.rec[i].block == 1));
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.torn_tail_bytes, 0, "still growing: not torn yet");
    cr_assert_eq(sluice_capture_next(c, &r), 1);
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.torn_tail_bytes, mid - s.block_off[1],
                 "stopped growing: the partial block counts as torn");
    cr_assert_eq(st.corrupt_blocks, 0);

    append_file(path, s.b.p + mid, s.b.len - mid);
    while (sluice_capture_next(c, &r) == 0)
        check_rec(&r, &s.rec[i++]);
    cr_assert_eq(i, s.nrec);
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.torn_tail_bytes, 0);
    cr_assert_eq(st.corrupt_blocks, 0);
    cr_assert_eq(st.valid_bytes, s.b.len);

    /* Switching follow off makes the end final at once. */
    append_file(path, s.b.p + s.block_off[0], 40);
    cr_assert_eq(sluice_capture_next(c, &r), 1);
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.torn_tail_bytes, 0);
    sluice_capture_set_follow(c, 0);
    cr_assert_eq(sluice_capture_next(c, &r), 1);
    sluice_capture_get_stats(c, &st);
    cr_assert_eq(st.torn_tail_bytes, 40);
    sluice_capture_close(c);
    remove_temp(path);
    free(s.b.p);
}

/* ---- decoders ------------------------------------------------------------ */

Test(capfile, decoders_refuse_short_or_mistyped_payloads)
{
    uint8_t pl[64] = {0};
    sluice_record r = {0};
    sluice_connect_info ci;
    sluice_disconnect_info di;
    sluice_drop_info dr;
    sluice_close_info cl;

    r.payload = pl;
    r.type = SLUICE_REC_CONNECT;
    r.payload_len = 11;
    cr_assert_eq(sluice_record_connect(&r, &ci), SLUICE_ECORRUPT);
    r.payload_len = 12;
    sl_store_le16(pl + 10, 1);
    cr_assert_eq(sluice_record_connect(&r, &ci), SLUICE_ECORRUPT,
                 "name runs past the payload");
    r.payload_len = 13;
    cr_assert_eq(sluice_record_connect(&r, &ci), 0);
    cr_assert_eq(ci.name_len, 1);

    r.type = SLUICE_REC_DISCONNECT;
    r.payload_len = 31;
    cr_assert_eq(sluice_record_disconnect(&r, &di), SLUICE_ECORRUPT);
    r.payload_len = 40; /* longer is fine: a later version's fields */
    cr_assert_eq(sluice_record_disconnect(&r, &di), 0);

    r.type = SLUICE_REC_DROP;
    r.payload_len = 15;
    cr_assert_eq(sluice_record_drop(&r, &dr), SLUICE_ECORRUPT);
    sl_store_le64(pl, 7);
    sl_store_le64(pl + 8, 70);
    r.payload_len = 16;
    cr_assert_eq(sluice_record_drop(&r, &dr), 0);
    cr_assert_eq(dr.events, 7);
    cr_assert_eq(dr.bytes, 70);
    cr_assert_eq(sluice_record_close(&r, &cl), SLUICE_ECORRUPT, "wrong type");

    r.type = SLUICE_REC_CLOSE;
    r.payload_len = 39;
    cr_assert_eq(sluice_record_close(&r, &cl), SLUICE_ECORRUPT);
    r.payload_len = 40;
    cr_assert_eq(sluice_record_close(&r, &cl), 0);
}

Test(capfile, reason_names_and_texts_follow_the_wire_list)
{
#define CHECK_REASON_(name, value, msg)                                       \
    cr_assert_str_eq(sluice_reason_name(value), #name);                      \
    cr_assert_str_eq(sluice_reason_str(value), msg);
    SL_WIRE_REASON_MAP(CHECK_REASON_)
#undef CHECK_REASON_
    cr_assert_str_eq(sluice_reason_name(2), "FRAME_TOO_BIG");
    cr_assert_str_eq(sluice_reason_name(9999), "UNKNOWN");
    cr_assert_str_eq(sluice_reason_str(9999), "unknown reason");
}
