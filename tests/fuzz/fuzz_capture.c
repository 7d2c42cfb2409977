/*
 * libFuzzer target for the capture reader (include/sluice/capture.h,
 * format/capread.c).
 *
 * The input is a 4-byte control header followed by the bytes of a capture
 * file (tests/fuzz/README.md lists the header's fields). The file is
 * written to a scratch path and read with sluice_capture_open() and
 * sluice_capture_next() to the end; every record is decoded with each of
 * the sluice_record_* decoders, and the stats are read.
 *
 * The oracle is a second, deliberately simple reader written here from
 * docs/capture-format.md alone (sections 3, 5, 6, 8 and 9): it holds the
 * whole file in memory, checks the header as rule 1 says, and classifies
 * every byte after it as a valid block, a corrupt region or the torn tail
 * exactly as section 9 describes, with its own bitwise CRC32C. The library
 * must agree with it on the open result, on every record (fields, payload
 * bytes, block_seq, file offset) and on every figure of the stats, and
 * valid_bytes + corrupt_bytes + torn_tail_bytes must equal the file size
 * ("every byte of a file with a valid header is exactly one of ...").
 *
 * In follow mode the file is written in two parts: the reader sees the
 * first part, must report nothing as torn until a poll finds the file
 * unchanged, then the rest is appended, and once following stops the
 * result must again equal the oracle's for the whole file. Checksums are
 * hard for a mutator to get right, so a control bit recomputes the header
 * CRC and the CRC and trailer of every plausible block before the test,
 * which lets the fuzzer reach the record-structure rules behind them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capfile.h"
#include "sluice/capture.h"

#define CTRL_LEN 4u
#define F_FOLLOW 0x01u
#define F_FIXUP 0x02u
#define F_INDEX 0x04u /* the bytes are a time index payload (15.5) */

/* Format constants, spelled out from docs/capture-format.md rather than
 * taken from capfile.h, so the oracle does not share the library's
 * mistakes. */
#define MAGIC "\x89SLCAP\r\n"
#define MAGIC_LEN 8u
#define HDR_FIXED 32u
#define HDR_MAX 131102u
#define BLK_MAGIC 0x4B424C53u
#define BLK_HDR 24u
#define BLK_TRL 8u
#define BLK_MIN 32u
#define BLK_MAX 33554432u
#define REC_HDR 40u

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_capture: %s:%d: check failed: %s\n",        \
                    __FILE__, __LINE__, #cond);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)

static uint32_t
ld16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
ld32(const uint8_t *p)
{
    return ld16(p) | ld16(p + 2) << 16;
}

static uint64_t
ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void
st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Bitwise CRC32C (Castagnoli, reflected 0x82F63B78): slow and obviously
 * right, unlike the library's table and hardware paths. */
static uint32_t
crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n-- > 0) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ---- the oracle ---------------------------------------------------------- */

typedef struct ref_rec {
    uint64_t off;
    uint64_t block_seq;
} ref_rec;

typedef struct ref_result {
    int open_rc;
    uint64_t header_len;
    ref_rec *recs;
    size_t n_recs, cap_recs;
    sluice_capture_stats st;
} ref_result;

static int
ref_header(const uint8_t *f, size_t size, uint64_t *header_len)
{
    uint32_t rv, wv, hl, names;

    if (size < MAGIC_LEN)
        return memcmp(f, MAGIC, size) == 0 ? SLUICE_ETRUNC : SLUICE_ECORRUPT;
    if (memcmp(f, MAGIC, MAGIC_LEN) != 0)
        return SLUICE_ECORRUPT;
    /* Section 4: versions are checked before anything after offset 12. */
    if (size < 12)
        return SLUICE_ETRUNC;
    rv = ld16(f + 8);
    wv = ld16(f + 10);
    if (rv == 0 || rv > 1)
        return SLUICE_EVERSION;
    if (size < HDR_FIXED)
        return SLUICE_ETRUNC;
    hl = ld32(f + 12);
    names = HDR_FIXED + ld16(f + 24) + ld16(f + 26);
    if (wv <= 1 ? hl != names : (hl < names || hl > HDR_MAX))
        return SLUICE_ECORRUPT;
    if (size < hl)
        return SLUICE_ETRUNC;
    {
        static const uint8_t zero[4];
        uint32_t crc = crc32c(0, f, 28);

        crc = crc32c(crc, zero, 4);
        crc = crc32c(crc, f + HDR_FIXED, hl - HDR_FIXED);
        if (crc != ld32(f + 28))
            return SLUICE_ECORRUPT;
    }
    *header_len = hl;
    return 0;
}

static int
plausible(uint32_t len)
{
    return len % 8 == 0 && len >= BLK_MIN && len <= BLK_MAX;
}

/* Rule 2 of section 8. */
static int
ref_block_valid(const uint8_t *f, uint64_t size, uint64_t p)
{
    uint32_t len, body_end, off = BLK_HDR, n = 0;
    const uint8_t *b = f + p;

    if (size - p < BLK_MIN || ld32(b) != BLK_MAGIC)
        return 0;
    len = ld32(b + 4);
    if (!plausible(len) || len > size - p || ld32(b + len - 4) != len)
        return 0;
    body_end = len - BLK_TRL;
    if (crc32c(0, b, body_end) != ld32(b + body_end))
        return 0;
    while (off < body_end) {
        uint32_t rsize, plen;

        if (body_end - off < REC_HDR)
            return 0;
        rsize = ld32(b + off);
        plen = ld32(b + off + 4);
        if (rsize % 8 != 0 || rsize < REC_HDR || rsize > body_end - off ||
            plen > rsize - REC_HDR)
            return 0;
        off += rsize;
        n++;
    }
    return off == body_end && n == ld32(b + 16);
}

/* Section 9, step 3: the block magic and a plausible length, but the block
 * reaches past the end of the file. */
static int
ref_partial(const uint8_t *f, uint64_t size, uint64_t p)
{
    return size - p >= 8 && ld32(f + p) == BLK_MAGIC &&
           plausible(ld32(f + p + 4)) && p + ld32(f + p + 4) > size;
}

static void
ref_add_rec(ref_result *r, uint64_t off, uint64_t block_seq)
{
    if (r->n_recs == r->cap_recs) {
        r->cap_recs = r->cap_recs ? 2 * r->cap_recs : 64;
        r->recs = realloc(r->recs, r->cap_recs * sizeof(*r->recs));
        CHECK(r->recs != NULL);
    }
    r->recs[r->n_recs].off = off;
    r->recs[r->n_recs].block_seq = block_seq;
    r->n_recs++;
}

static void
ref_read(const uint8_t *f, uint64_t size, ref_result *r)
{
    uint64_t p;

    memset(r, 0, sizeof(*r));
    r->open_rc = ref_header(f, size, &r->header_len);
    if (r->open_rc != 0)
        return;
    p = r->header_len;
    r->st.valid_bytes = p;
    for (;;) {
        uint64_t q;

        if (p < size && ref_block_valid(f, size, p)) {
            uint32_t len = ld32(f + p + 4), off = BLK_HDR;

            while (off < len - BLK_TRL) {
                ref_add_rec(r, p + off, ld64(f + p + 8));
                off += ld32(f + p + off);
            }
            r->st.blocks++;
            r->st.valid_bytes += len;
            p += len;
            continue;
        }
        /* Step 2: the first valid block after p ends a corrupt region. */
        for (q = p + 8; q < size; q += 8)
            if (ref_block_valid(f, size, q))
                break;
        if (q < size) {
            r->st.corrupt_blocks++;
            r->st.corrupt_bytes += q - p;
            p = q;
            continue;
        }
        /* Step 3: the end of the file. */
        for (q = p; q < size; q += 8)
            if (ref_partial(f, size, q))
                break;
        if (q < size) {
            if (q > p) {
                r->st.corrupt_blocks++;
                r->st.corrupt_bytes += q - p;
            }
            r->st.torn_tail_bytes = size - q;
        } else if (size - p < 8) {
            r->st.torn_tail_bytes = size - p;
        } else {
            r->st.corrupt_blocks++;
            r->st.corrupt_bytes += size - p;
        }
        break;
    }
    r->st.records = r->n_recs;
}

/* Makes checksums and trailers right wherever a header or a block with a
 * plausible length starts, so mutations reach what lies behind them. */
static void
fix_checksums(uint8_t *f, size_t size)
{
    uint64_t hl, p;
    uint32_t names;

    if (size < HDR_FIXED || memcmp(f, MAGIC, MAGIC_LEN) != 0)
        return;
    hl = ld32(f + 12);
    names = HDR_FIXED + ld16(f + 24) + ld16(f + 26);
    if (hl < names || hl > size)
        return;
    {
        static const uint8_t zero[4];
        uint32_t crc = crc32c(0, f, 28);

        crc = crc32c(crc, zero, 4);
        crc = crc32c(crc, f + HDR_FIXED, hl - HDR_FIXED);
        st32(f + 28, crc);
    }
    for (p = hl; size - p >= BLK_MIN;) {
        uint32_t len = ld32(f + p + 4);

        if (ld32(f + p) == BLK_MAGIC && plausible(len) && len <= size - p) {
            st32(f + p + len - 4, len);
            st32(f + p + len - 8, crc32c(0, f + p, len - BLK_TRL));
            p += len;
        } else {
            p += 8;
        }
    }
}

/* ---- driving the library ------------------------------------------------- */

static char scratch[4096];

static void
remove_scratch(void)
{
    if (scratch[0] != '\0')
        unlink(scratch);
}

static void
init_scratch(void)
{
    const char *dir = getenv("TMPDIR");

    if (scratch[0] != '\0')
        return;
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    snprintf(scratch, sizeof(scratch), "%s/sluice-fuzz-capture.%ld.sluice",
             dir, (long)getpid());
    atexit(remove_scratch);
}

static void
write_file(const uint8_t *d, size_t n, const char *mode)
{
    FILE *fp = fopen(scratch, mode);

    CHECK(fp != NULL);
    CHECK(n == 0 || fwrite(d, 1, n, fp) == n);
    CHECK(fclose(fp) == 0);
}

typedef struct reader_run {
    const uint8_t *f; /* the whole file image */
    const ref_result *ref;
    size_t got;       /* records returned so far */
} reader_run;

static void
check_decoders(const sluice_record *rec)
{
    const uint8_t *p = rec->payload;
    uint32_t len = rec->payload_len;
    sluice_connect_info ci;
    sluice_disconnect_info di;
    sluice_drop_info dr;
    sluice_close_info cl;
    int ok;

    ok = rec->type == SLUICE_REC_CONNECT && len >= 12 &&
         12u + ld16(p + 10) <= len;
    CHECK(sluice_record_connect(rec, &ci) == (ok ? 0 : SLUICE_ECORRUPT));
    if (ok) {
        CHECK(ci.pid == ld32(p) && ci.uid == ld32(p + 4) && ci.mode == p[8]);
        CHECK(ci.name_len == ld16(p + 10));
        CHECK((const uint8_t *)ci.name == p + 12);
    }
    ok = rec->type == SLUICE_REC_DISCONNECT && len >= 32;
    CHECK(sluice_record_disconnect(rec, &di) == (ok ? 0 : SLUICE_ECORRUPT));
    if (ok) {
        CHECK(di.events == ld64(p) && di.bytes == ld64(p + 8));
        CHECK(di.dropped == ld64(p + 16) && di.reason == ld32(p + 24));
        CHECK(di.malformed == ld32(p + 28));
        CHECK(sluice_reason_str(di.reason) != NULL);
        CHECK(sluice_reason_name(di.reason) != NULL);
    }
    ok = rec->type == SLUICE_REC_DROP && len >= 16;
    CHECK(sluice_record_drop(rec, &dr) == (ok ? 0 : SLUICE_ECORRUPT));
    if (ok)
        CHECK(dr.events == ld64(p) && dr.bytes == ld64(p + 8));
    ok = rec->type == SLUICE_REC_CLOSE && len >= 40;
    CHECK(sluice_record_close(rec, &cl) == (ok ? 0 : SLUICE_ECORRUPT));
    if (ok) {
        CHECK(cl.producers == ld64(p) && cl.events == ld64(p + 8));
        CHECK(cl.bytes == ld64(p + 16) && cl.dropped == ld64(p + 24));
        CHECK(cl.malformed == ld64(p + 32));
    }
}

static void
check_record(reader_run *rr, const sluice_record *rec)
{
    const ref_rec *want;
    const uint8_t *h;

    CHECK(rr->got < rr->ref->n_recs);
    want = &rr->ref->recs[rr->got++];
    h = rr->f + want->off;
    CHECK(rec->file_offset == want->off);
    CHECK(rec->block_seq == want->block_seq);
    CHECK(rec->payload_len == ld32(h + 4));
    CHECK(rec->type == ld16(h + 8));
    CHECK(rec->flags == ld16(h + 10));
    CHECK(rec->producer == ld32(h + 12));
    CHECK(rec->seq == ld64(h + 16));
    CHECK(rec->producer_ns == ld64(h + 24));
    CHECK(rec->collector_ns == ld64(h + 32));
    CHECK(rec->payload != NULL || rec->payload_len == 0);
    CHECK(rec->payload_len == 0 ||
          memcmp(rec->payload, h + REC_HDR, rec->payload_len) == 0);
    check_decoders(rec);
}

/* Reads until sluice_capture_next() reports the end of the data. */
static void
drain(reader_run *rr, sluice_capture *c)
{
    sluice_record rec;
    int rc;

    while ((rc = sluice_capture_next(c, &rec)) == 0)
        check_record(rr, &rec);
    CHECK(rc == 1);
}

static void
check_sum(sluice_capture *c, uint64_t size)
{
    sluice_capture_stats st;

    sluice_capture_get_stats(c, &st);
    CHECK(st.valid_bytes + st.corrupt_bytes + st.torn_tail_bytes == size);
    CHECK((st.corrupt_blocks == 0) == (st.corrupt_bytes == 0));
}

static void
check_final(reader_run *rr, sluice_capture *c, uint64_t size)
{
    const sluice_capture_stats *w = &rr->ref->st;
    sluice_capture_stats st;
    sluice_record rec;

    check_sum(c, size);
    sluice_capture_get_stats(c, &st);
    CHECK(rr->got == rr->ref->n_recs);
    CHECK(st.records == w->records);
    CHECK(st.blocks == w->blocks);
    CHECK(st.valid_bytes == w->valid_bytes);
    CHECK(st.corrupt_blocks == w->corrupt_blocks);
    CHECK(st.corrupt_bytes == w->corrupt_bytes);
    CHECK(st.torn_tail_bytes == w->torn_tail_bytes);
    /* The end stays the end. */
    CHECK(sluice_capture_next(c, &rec) == 1);
    sluice_capture_get_stats(c, &st);
    CHECK(st.records == w->records && st.torn_tail_bytes == w->torn_tail_bytes);
}

static void
check_info(sluice_capture *c, const uint8_t *f)
{
    const sluice_capture_info *info = sluice_capture_get_info(c);
    uint32_t pipe_len = ld16(f + 24), host_len = ld16(f + 26);

    CHECK(info->read_version == ld16(f + 8));
    CHECK(info->write_version == ld16(f + 10));
    CHECK(info->start_ns == ld64(f + 16));
    CHECK(memcmp(info->pipe, f + HDR_FIXED, pipe_len) == 0);
    CHECK(info->pipe[pipe_len] == '\0');
    CHECK(memcmp(info->host, f + HDR_FIXED + pipe_len, host_len) == 0);
    CHECK(info->host[host_len] == '\0');
}

static void
run_plain(const uint8_t *f, size_t size, const ref_result *ref)
{
    reader_run rr = {f, ref, 0};
    sluice_capture *c = NULL;
    int rc;

    write_file(f, size, "wb");
    rc = sluice_capture_open(scratch, &c);
    CHECK(rc == ref->open_rc);
    if (rc != 0) {
        CHECK(c == NULL);
        return;
    }
    check_info(c, f);
    drain(&rr, c);
    check_final(&rr, c, size);
    sluice_capture_close(c);
}

static void
run_follow(const uint8_t *f, size_t size, size_t split,
           const ref_result *ref)
{
    reader_run rr = {f, ref, 0};
    sluice_capture *c = NULL;
    sluice_capture_stats st;
    int rc;

    write_file(f, split, "wb");
    rc = sluice_capture_open(scratch, &c);
    if (rc != 0) {
        /* A header cut short reads as truncated; one that is bad already
         * in the part written is bad for the whole file too. */
        CHECK(rc == SLUICE_ETRUNC || rc == ref->open_rc);
        CHECK(c == NULL);
        write_file(f + split, size - split, "ab");
        rc = sluice_capture_open(scratch, &c);
        CHECK(rc == ref->open_rc);
        if (rc != 0)
            return;
        split = size;
    }
    CHECK(ref->open_rc == 0);
    check_info(c, f);
    sluice_capture_set_follow(c, 1);

    /* The first poll after growth reports nothing as torn; the second, with
     * the file unchanged, accounts for every byte. */
    drain(&rr, c);
    sluice_capture_get_stats(c, &st);
    CHECK(st.torn_tail_bytes == 0);
    drain(&rr, c);
    check_sum(c, split);

    if (split < size) {
        write_file(f + split, size - split, "ab");
        drain(&rr, c);
        sluice_capture_get_stats(c, &st);
        CHECK(st.torn_tail_bytes == 0);
        drain(&rr, c);
        check_sum(c, size);
    }

    /* When following stops, the end is classified as for a plain read. */
    sluice_capture_set_follow(c, 0);
    drain(&rr, c);
    check_final(&rr, c, size);
    sluice_capture_close(c);
}

/*
 * F_INDEX: the bytes are an index payload (docs/capture-format.md 15.5).
 * The decoder must accept it only when every rule holds, and an accepted
 * index with 40-byte entries re-encodes to the same bytes.
 */
static void
run_index(const uint8_t *p, size_t size, uint64_t first_off)
{
    static sl_cap_index ix;
    static uint8_t enc[SL_CAP_INDEX_HDR + SL_CAP_INDEX_MAX *
                                              SL_CAP_INDEX_ENTRY];

    if (sl_cap_index_decode(p, size, first_off, UINT64_MAX - 1, &ix) != 0)
        return;
    CHECK(ix.n >= 1 && ix.n <= SL_CAP_INDEX_MAX);
    CHECK(ix.stride != 0 && (ix.stride & (ix.stride - 1)) == 0);
    for (uint32_t j = 0; j < ix.n; j++) {
        CHECK(ix.e[j].off >= first_off);
        CHECK(j == 0 || ix.e[j].off > ix.e[j - 1].off);
        CHECK(ix.e[j].min_ns <= ix.e[j].max_ns);
        CHECK(ix.e[j].blocks >= 1 && ix.e[j].blocks <= ix.stride);
    }
    if (ld32(p + 4) == SL_CAP_INDEX_ENTRY && ld32(p + 12) == 0) {
        sl_cap_index_encode(&ix, enc);
        CHECK(memcmp(enc, p, sl_cap_index_payload_len(&ix, 0)) == 0);
    }
}

/* A seek on every file that opens: whatever the bytes, it must not
 * crash, and the records after it are at or after the time sought until
 * the landing block ends (here: the first one returned). */
static void
run_seek(uint64_t ns, unsigned flags)
{
    sluice_capture *c = NULL;
    sluice_record rec;
    int first = 1;

    if (sluice_capture_open(scratch, &c) != 0)
        return;
    CHECK(sluice_capture_has_index(c) >= 0);
    if (flags & 1u)
        CHECK(sluice_capture_set_until(c, ns + 1000) == 0);
    CHECK(sluice_capture_seek_time_ex(c, ns, flags & 2u ?
                                              SLUICE_SEEK_KEEP_COLLECTOR : 0) == 0);
    while (sluice_capture_next(c, &rec) == 0) {
        if (first && !(flags & 2u))
            CHECK(rec.collector_ns >= ns);
        first = 0;
        CHECK(rec.type != SLUICE_REC_INDEX);
    }
    sluice_capture_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ref_result ref;
    uint8_t *f;
    uint8_t flags;
    size_t split;

    if (size < CTRL_LEN)
        return 0;
    init_scratch();
    flags = data[0];
    split = (size_t)ld16(data + 1);
    data += CTRL_LEN;
    size -= CTRL_LEN;

    if (flags & F_INDEX) {
        run_index(data, size, split);
        return 0;
    }
    /* A private copy: the fuzzer's input is read-only. */
    f = malloc(size + 1);
    CHECK(f != NULL);
    memcpy(f, data, size);
    if (flags & F_FIXUP)
        fix_checksums(f, size);

    ref_read(f, size, &ref);
    if (flags & F_FOLLOW)
        run_follow(f, size, size == 0 ? 0 : split % (size + 1), &ref);
    else
        run_plain(f, size, &ref);
    if (ref.open_rc == 0 && size >= 8)
        run_seek(ld64(f + size - 8) ^ ((uint64_t)split << 48), data[-1]);
    free(ref.recs);
    free(f);
    return 0;
}
