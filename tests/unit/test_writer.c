/*
 * Tests for the writer (collector/core/writer.h) through the sink table
 * (collector/core/sink.h). The sink here is a real one: an in-memory sink
 * that copies every unit it is given (as a flight recorder would) and
 * notes, at each block, how much ring space the writer still holds. The
 * tests check what reaches the sink (file header first, blocks in order
 * with valid checksums, every record once, the close record, a sync at
 * the end), that ring space comes back per block rather than per span,
 * and that after a sink error the writer stops writing but keeps draining
 * the ring.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capfile.h"
#include "crc32c.h"
#include "endian.h"
#include "err.h"
#include "os.h"
#include "ring.h"
#include "sink.h"
#include "writer.h"

TestSuite(writer, .timeout = 60.0);

#define MAX_UNITS 256

typedef struct mem_sink {
    sl_sink base;
    sl_ring *ring;        /* to note the space still held */
    uint8_t *units[MAX_UNITS];
    size_t lens[MAX_UNITS];
    sl_sink_kind kinds[MAX_UNITS];
    uint32_t records[MAX_UNITS];
    size_t ring_used[MAX_UNITS]; /* sl_ring_used() during this write */
    size_t n;
    int fail_at;          /* write number that fails with SL_ENOSPC; -1 */
    int writes_after_fail;
    int failed;
    int syncs;
    int closed;
} mem_sink;

static int
mem_write(sl_sink *s, const sl_sink_block *b)
{
    mem_sink *m = (mem_sink *)s;
    uint8_t *copy;
    size_t off = 0;

    if (m->failed) {
        m->writes_after_fail++;
        return SL_EIO;
    }
    if ((int)m->n == m->fail_at) {
        m->failed = 1;
        return SL_ENOSPC;
    }
    cr_assert_lt(m->n, MAX_UNITS);
    copy = malloc(b->len);
    cr_assert_not_null(copy);
    for (size_t i = 0; i < b->iovcnt; i++) {
        memcpy(copy + off, b->iov[i].base, b->iov[i].len);
        off += b->iov[i].len;
    }
    cr_assert_eq(off, b->len);
    m->units[m->n] = copy;
    m->lens[m->n] = b->len;
    m->kinds[m->n] = b->kind;
    m->records[m->n] = b->records;
    m->ring_used[m->n] = m->ring != NULL ? sl_ring_used(m->ring) : 0;
    m->n++;
    return 0;
}

static int
mem_sync(sl_sink *s)
{
    ((mem_sink *)s)->syncs++;
    return 0;
}

static int
mem_close(sl_sink *s)
{
    mem_sink *m = (mem_sink *)s;

    for (size_t i = 0; i < m->n; i++)
        free(m->units[i]);
    m->n = 0;
    m->closed = 1;
    return 0;
}

static const sl_sink_ops mem_ops = {
    .name = "memory",
    .write = mem_write,
    .sync = mem_sync,
    .rotate = NULL,
    .close = mem_close,
};

static void
mem_init(mem_sink *m, sl_ring *ring)
{
    memset(m, 0, sizeof(*m));
    m->base.ops = &mem_ops;
    m->ring = ring;
    m->fail_at = -1;
}

/* Commits n event records with payload_len bytes each (seq = index). */
static size_t
commit_events(sl_ring *ring, size_t n, size_t payload_len, uint64_t first)
{
    size_t size = sl_cap_rec_size(payload_len), total = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t pl[256];
        sl_ring_resv res;

        cr_assert_leq(payload_len, sizeof(pl));
        memset(pl, 'a' + (int)(i % 26), payload_len);
        cr_assert_eq(sl_ring_reserve_wait(ring, size, UINT64_MAX, &res), 0);
        sl_cap_rec_put(res.ptr, 1, 7, first + i, 0, 0, pl, payload_len);
        sl_ring_commit(ring, &res);
        total += size;
    }
    return total;
}

static void
writer_start(sl_ring *ring, mem_sink *m, size_t block_target, sl_writer **w)
{
    sl_writer_config wc;

    memset(&wc, 0, sizeof(wc));
    wc.ring = ring;
    wc.sink = &m->base;
    wc.start_ns = 1;
    wc.pipe = "p";
    wc.pipe_len = 1;
    wc.host = "h";
    wc.host_len = 1;
    wc.block_target = block_target;
    cr_assert_eq(sl_writer_open(&wc, w), 0);
}

/* Checks one block unit: framing, checksum, sequence; returns records. */
static uint32_t
check_block(const uint8_t *b, size_t len, uint64_t seq)
{
    uint32_t count = sl_load_le32(b + 16);
    uint32_t crc = sl_crc32c(0, b + SL_CAP2_BLOCK_HDR,
                             len - SL_CAP2_BLOCK_HDR - SL_CAP2_BLOCK_TRL);

    cr_assert_eq(sl_load_le32(b), SL_CAP2_BLOCK_MAGIC, "v2 block magic");
    cr_assert_eq(sl_load_le32(b + 4), len, "block length");
    cr_assert_eq(sl_load_le64(b + 8), seq, "block sequence");
    cr_assert_eq(sl_load_le32(b + 32), crc, "body crc");
    cr_assert_eq(sl_load_le32(b + len - 8), (uint32_t)sl_load_le64(b + 56),
                 "trailer repeats the tag");
    return count;
}

Test(writer, header_blocks_close_and_sync_reach_the_sink)
{
    sl_ring *ring;
    sl_writer *w;
    mem_sink m;
    sl_writer_summary sum = {1, 500, 500 * 24, 0, 0};
    uint64_t events = 0, sunk = 0;

    cr_assert_eq(sl_ring_open(1u << 16, &ring), 0);
    mem_init(&m, NULL);
    writer_start(ring, &m, 4096, &w);
    for (int i = 0; i < 5; i++)
        commit_events(ring, 100, 24, (uint64_t)i * 100);
    cr_assert_eq(sl_writer_finish(w, &sum), 0);

    cr_assert_geq(m.n, 3);
    cr_assert_eq(m.kinds[0], SL_SINK_FILE_HEADER);
    cr_assert_eq(memcmp(m.units[0], SL_CAP_MAGIC, SL_CAP_MAGIC_LEN), 0,
                 "file magic first");
    for (size_t i = 1; i < m.n; i++) {
        uint32_t count;

        cr_assert_eq(m.kinds[i], SL_SINK_BLOCK);
        cr_assert_leq(m.lens[i], 4096 + 64 + 64, "about block_target");
        count = check_block(m.units[i], m.lens[i], i - 1);
        cr_assert_eq(count, m.records[i]);
        if (i + 2 < m.n)
            events += count;
    }
    cr_assert_eq(events, 500, "every record once");
    /* Before it, the time index alone: one entry per data block, at the
     * offsets the blocks went to (docs/capture-format.md 15.5). */
    {
        const uint8_t *ib = m.units[m.n - 2];
        const uint8_t *ir = ib + SL_CAP2_BLOCK_HDR;
        sl_cap_index *ix = malloc(sizeof(*ix));
        uint64_t off = m.lens[0];

        cr_assert_not_null(ix);
        cr_assert_eq(m.records[m.n - 2], 1);
        cr_assert_eq(sl_load_le16(ir + 8), SL_CAP_T_INDEX);
        cr_assert_eq(sl_cap_index_decode(ir + SL_CAP_REC_HDR,
                                         sl_load_le32(ir + 4), m.lens[0],
                                         UINT64_MAX, ix),
                     0);
        cr_assert_eq(ix->n, m.n - 3, "an entry per data block");
        cr_assert_eq(ix->stride, 1);
        for (uint32_t k = 0; k < ix->n; k++) {
            cr_assert_eq(ix->e[k].off, off, "entry %u's offset", k);
            cr_assert_eq(ix->e[k].records, m.records[k + 1]);
            off += m.lens[k + 1];
        }
        free(ix);
    }
    /* The last block is the close record alone, and then a sync. */
    cr_assert_eq(m.records[m.n - 1], 1);
    cr_assert_eq(sl_load_le16(m.units[m.n - 1] + SL_CAP2_BLOCK_HDR + 8),
                 SL_CAP_T_CLOSE);
    cr_assert_eq(m.syncs, 1);
    for (size_t i = 0; i < m.n; i++)
        sunk += m.lens[i];
    cr_assert_eq(sl_writer_bytes(w), sunk);
    sl_writer_close(w);
    sl_sink_close(&m.base);
    cr_assert(m.closed);
    sl_ring_close(ring);
}

/*
 * Ring space comes back per block: with a whole span of committed records
 * cut into several blocks, the space the writer still holds while the
 * sink takes block k is the span minus blocks 0..k-1. Released per span,
 * it would be the whole span at every block.
 */
Test(writer, ring_space_is_released_per_block)
{
    sl_ring *ring;
    sl_writer *w;
    mem_sink m;
    sl_writer_summary sum;
    size_t total, held;

    memset(&sum, 0, sizeof(sum));
    cr_assert_eq(sl_ring_open(1u << 16, &ring), 0);
    /* Committed before the writer starts: its first peek sees one span. */
    total = commit_events(ring, 400, 56, 0); /* 400 * 96 = 38400 bytes */
    mem_init(&m, ring);
    writer_start(ring, &m, 4096, &w);
    cr_assert_eq(sl_writer_finish(w, &sum), 0);

    cr_assert_geq(m.n, 1 + 9 + 2, "header, >= 9 blocks, index, close");
    held = total;
    for (size_t i = 1; i + 2 < m.n; i++) {
        size_t recs = m.lens[i] - SL_CAP2_BLOCK_HDR - SL_CAP2_BLOCK_TRL;

        cr_assert_eq(m.ring_used[i], held,
                     "block %zu: the writer holds %zu bytes, expected %zu",
                     i, m.ring_used[i], held);
        held -= recs;
    }
    cr_assert_eq(held, 0);
    sl_writer_close(w);
    sl_sink_close(&m.base);
    sl_ring_close(ring);
}

/*
 * A sink error: it is reported, the writer makes no further call to the
 * sink (no write, no sync), and it keeps draining the ring, so producers
 * that need more space than the ring has still get it.
 */
Test(writer, after_a_sink_error_it_drains_without_writing)
{
    sl_ring *ring;
    sl_writer *w;
    mem_sink m;
    sl_writer_summary sum;

    memset(&sum, 0, sizeof(sum));
    cr_assert_eq(sl_ring_open(1u << 14, &ring), 0);
    mem_init(&m, NULL);
    m.fail_at = 2; /* header and one block go through */
    writer_start(ring, &m, 1024, &w);
    /* Four times the ring's capacity: this returns only if the writer
     * keeps releasing after the error. */
    commit_events(ring, 4 * 16384 / 96, 56, 0);
    cr_assert_eq(sl_writer_finish(w, &sum), SL_ENOSPC);
    cr_assert_eq(sl_writer_error(w), SL_ENOSPC);
    cr_assert_eq(m.n, 2);
    cr_assert_eq(m.writes_after_fail, 0, "no write after the error");
    cr_assert_eq(m.syncs, 0, "no sync after the error");
    cr_assert_eq(sl_ring_used(ring), 0);
    sl_writer_close(w);
    sl_sink_close(&m.base);
    sl_ring_close(ring);
}

Test(writer, file_sink_refuses_an_existing_file_without_force)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    sl_sink *s = NULL;
    int fd;

    snprintf(path, sizeof(path), "%s/sl-test-writer-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(sl_sink_file_open(path, 0, &s), SL_EEXIST);
    cr_assert_eq(sl_sink_file_open(path, 1, &s), 0);
    cr_assert_str_eq(s->ops->name, "file");
    cr_assert_eq(sl_sink_rotate(s), SL_ENOSYS, "one file cannot rotate");
    cr_assert_eq(sl_sink_sync(s), 0);
    cr_assert_eq(sl_sink_close(s), 0);
    cr_assert_eq(sl_sink_close(NULL), 0);
    unlink(path);
}
