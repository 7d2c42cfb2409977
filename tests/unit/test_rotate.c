/*
 * Rotation (collector/core/sink_rotate.c, writer.c; docs/capture-format.md
 * section 16): the size parser of --rotate-size/--max-total, chunk file
 * naming, the retention choice, the rotating sink on real files, and the
 * writer's chunks through it: each chunk a capture of its own, the second
 * one starting with the live producer's LIVE record and next sequence.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../collector/cli.h"
#include "capfile.h"
#include "err.h"
#include "ring.h"
#include "sink.h"
#include "sluice/capture.h"
#include "writer.h"

TestSuite(rotate, .timeout = 60.0);

static uint64_t
size_ok(const char *s)
{
    char why[256];
    uint64_t v = 0;

    cr_assert_eq(sl_cli_size("--rotate-size", s, 1, UINT64_MAX / 2, &v, why,
                             sizeof(why)),
                 0, "rejected: %s (%s)", s, why);
    return v;
}

static void
size_bad(const char *s, uint64_t min, uint64_t max, const char *says)
{
    char why[256] = "";
    uint64_t v = 7;

    cr_assert_eq(sl_cli_size("--rotate-size", s, min, max, &v, why,
                             sizeof(why)),
                 -1, "accepted: %s", s);
    cr_assert_eq(v, 7, "output untouched");
    cr_assert(strstr(why, says) != NULL, "%s: %s", s, why);
    cr_assert(strstr(why, "--rotate-size") != NULL, "%s", why);
}

Test(rotate, size_parsing)
{
    cr_assert_eq(size_ok("65536"), 65536);
    cr_assert_eq(size_ok("4M"), 4u << 20);
    cr_assert_eq(size_ok("4m"), 4u << 20);
    cr_assert_eq(size_ok("64K"), 65536);
    cr_assert_eq(size_ok("2G"), 2ull << 30);
    size_bad("", 1, 100, "needs a size");
    size_bad("4X", 1, UINT64_MAX, "is not a size");
    size_bad("M", 1, UINT64_MAX, "is not a size");
    size_bad("4MB", 1, UINT64_MAX, "is not a size");
    size_bad("-4M", 1, UINT64_MAX, "is not a size");
    size_bad("1K", 65536, 1ull << 50, "out of range");
    size_bad("99999999999999999999", 1, UINT64_MAX, "is not a size");
    size_bad("17179869184G", 1, UINT64_MAX, "out of range"); /* 2^64 */
}

static void
name_is(const char *path, uint64_t n, const char *want)
{
    char buf[256];

    cr_assert_eq(sl_chunk_name(buf, sizeof(buf), path, n), 0);
    cr_assert_str_eq(buf, want);
}

Test(rotate, chunk_naming)
{
    name_is("cap.sluice", 1, "cap.000001.sluice");
    name_is("cap.sluice", 42, "cap.000042.sluice");
    name_is("cap.sluice", 1234567, "cap.1234567.sluice");
    name_is("dir/cap", 2, "dir/cap.000002");
    name_is("dir.d/cap", 3, "dir.d/cap.000003");
    name_is("a/b.c.sluice", 4, "a/b.c.000004.sluice");
    name_is(".hidden", 5, ".hidden.000005");
    name_is("d\\w.sluice", 6, "d\\w.000006.sluice");
    {
        char small[12];

        cr_assert_eq(sl_chunk_name(small, sizeof(small), "cap.sluice", 1),
                     SL_ENAMETOOLONG);
    }
}

Test(rotate, retention_choice)
{
    uint64_t s[5] = {100, 100, 100, 100, 10};

    cr_assert_eq(sl_retention_pick(s, 5, 0, 0), 0, "no rules: keep all");
    cr_assert_eq(sl_retention_pick(s, 5, 3, 0), 2, "--keep 3");
    cr_assert_eq(sl_retention_pick(s, 5, 5, 0), 0);
    cr_assert_eq(sl_retention_pick(s, 5, 1, 0), 4, "only the current");
    cr_assert_eq(sl_retention_pick(s, 5, 0, 410), 0, "fits exactly");
    cr_assert_eq(sl_retention_pick(s, 5, 0, 409), 1);
    cr_assert_eq(sl_retention_pick(s, 5, 0, 210), 2);
    cr_assert_eq(sl_retention_pick(s, 5, 0, 1), 4, "never the current");
    cr_assert_eq(sl_retention_pick(s, 5, 4, 210), 2, "the stricter rule");
    cr_assert_eq(sl_retention_pick(s, 1, 1, 1), 0, "one chunk stays");
    cr_assert_eq(sl_retention_pick(s, 0, 1, 1), 0);
}

static char dir[] = "/tmp/sl-rotate-XXXXXX";

static void
path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static int
exists(const char *name)
{
    char p[512];
    struct stat st;

    path_of(p, sizeof(p), name);
    return stat(p, &st) == 0;
}

static void
write_unit(sl_sink *s, size_t len)
{
    static uint8_t bytes[4096];
    sl_iovec iov = {bytes, len};
    sl_sink_block b;

    memset(&b, 0, sizeof(b));
    b.kind = SL_SINK_BLOCK;
    b.iov = &iov;
    b.iovcnt = 1;
    b.len = len;
    cr_assert_eq(sl_sink_write(s, &b), 0);
}

Test(rotate, sink_keeps_the_newest)
{
    sl_sink_rotate_config rc;
    char base[512];
    sl_sink *s;

    cr_assert_not_null(mkdtemp(dir));
    path_of(base, sizeof(base), "cap.sluice");
    memset(&rc, 0, sizeof(rc));
    rc.path = base;
    rc.keep = 2;
    cr_assert_eq(sl_sink_rotate_open(&rc, &s), 0);
    cr_assert(exists("cap.000001.sluice"));
    cr_assert_eq(sl_sink_snapshot(s), SL_ENOSYS, "no flight recorder");
    for (int i = 0; i < 4; i++) {
        write_unit(s, 100);
        cr_assert_eq(sl_sink_rotate(s), 0);
    }
    cr_assert_eq(sl_sink_close(s), 0);
    cr_assert(!exists("cap.000001.sluice"));
    cr_assert(!exists("cap.000003.sluice"));
    cr_assert(exists("cap.000004.sluice"));
    cr_assert(exists("cap.000005.sluice"));

    /* --max-total 250 with 100-byte chunks: the set never holds more,
     * so after the current chunk's first unit two chunks are left. */
    rc.keep = 0;
    rc.max_total = 250;
    rc.flags = SL_OS_FILE_FORCE;
    path_of(base, sizeof(base), "mt");
    cr_assert_eq(sl_sink_rotate_open(&rc, &s), 0);
    for (int i = 0; i < 5; i++) {
        write_unit(s, 100);
        cr_assert_eq(sl_sink_rotate(s), 0);
    }
    write_unit(s, 100);
    cr_assert_eq(sl_sink_close(s), 0);
    cr_assert(!exists("mt.000004"));
    cr_assert(exists("mt.000005") && exists("mt.000006"));
    /* A chunk in the way (no --force) is refused like the plain file. */
    rc.flags = 0;
    {
        char in_way[512];
        FILE *f;

        path_of(in_way, sizeof(in_way), "mt.000001");
        f = fopen(in_way, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    cr_assert_eq(sl_sink_rotate_open(&rc, &s), SL_EEXIST);
}

/* Forwarding's retention hooks, faked: chunks below fake_fwd are
 * acknowledged whole; expire() records what it was told. */
static uint64_t fake_fwd, fake_expired, fake_expire_calls, fake_last_blocks;

static int
fake_forwarded(void *arg, uint64_t chunk)
{
    (void)arg;
    return chunk < fake_fwd;
}

static uint64_t
fake_expire(void *arg, uint64_t chunk, uint64_t blocks)
{
    (void)arg;
    (void)chunk;
    fake_expire_calls++;
    fake_last_blocks = blocks;
    fake_expired += blocks;
    return blocks;
}

static uint64_t
fake_expired_total(void *arg)
{
    (void)arg;
    return fake_expired;
}

Test(rotate, keep_waits_for_forwarding_max_total_does_not)
{
    sl_retain_hooks h = {fake_forwarded, fake_expire, fake_expired_total,
                         NULL};
    sl_sink_rotate_config rc;
    char base[512];
    sl_sink *s;

    cr_assert_not_null(mkdtemp(dir));
    path_of(base, sizeof(base), "fw.sluice");
    memset(&rc, 0, sizeof(rc));
    rc.path = base;
    rc.keep = 2;
    rc.retain = &h;
    fake_fwd = 1; /* nothing acknowledged */
    cr_assert_eq(sl_sink_rotate_open(&rc, &s), 0);
    for (int i = 0; i < 4; i++) {
        write_unit(s, 100);
        cr_assert_eq(sl_sink_rotate(s), 0);
    }
    /* --keep 2 alone: nothing is deleted while nothing is acknowledged. */
    for (int k = 1; k <= 5; k++) {
        char nm[64];

        snprintf(nm, sizeof(nm), "fw.%06d.sluice", k);
        cr_assert(exists(nm), "chunk %d kept until forwarded", k);
    }
    cr_assert_eq(fake_expire_calls, 0);
    /* Chunks 1 and 2 acknowledged: the next block deletes them, not 3. */
    fake_fwd = 3;
    write_unit(s, 100);
    cr_assert(!exists("fw.000001.sluice") && !exists("fw.000002.sluice"));
    cr_assert(exists("fw.000003.sluice"));
    cr_assert_eq(fake_expire_calls, 0);
    cr_assert_eq(sl_sink_close(s), 0);

    /* --max-total 250 deletes unforwarded chunks anyway and reports each
     * with its block count (2 blocks a chunk here). */
    rc.keep = 0;
    rc.max_total = 250;
    rc.flags = SL_OS_FILE_FORCE;
    fake_fwd = 1;
    fake_expired = 0;
    path_of(base, sizeof(base), "fm");
    cr_assert_eq(sl_sink_rotate_open(&rc, &s), 0);
    for (int i = 0; i < 4; i++) {
        write_unit(s, 50);
        write_unit(s, 50);
        cr_assert_eq(sl_sink_rotate(s), 0);
    }
    cr_assert_eq(sl_sink_close(s), 0);
    cr_assert(!exists("fm.000001") && !exists("fm.000002"));
    cr_assert(exists("fm.000003") && exists("fm.000004"));
    cr_assert_eq(fake_expire_calls, 2);
    cr_assert_eq(fake_last_blocks, 2);
    cr_assert_eq(fake_expired, 4);
}

/* Commits one record (type, producer, seq) with a small payload. */
static void
put(sl_ring *ring, uint16_t type, uint32_t id, uint64_t seq,
    const void *pl, size_t len)
{
    sl_ring_resv res;

    cr_assert_eq(sl_ring_reserve_wait(ring, sl_cap_rec_size(len), UINT64_MAX,
                                      &res),
                 0);
    sl_cap_rec_put(res.ptr, type, id, seq, 0, 1000 + seq, pl, len);
    sl_ring_commit(ring, &res);
}

Test(rotate, writer_chunks_start_with_the_live_producers)
{
    sl_sink_rotate_config rc;
    sl_writer_config wc;
    sl_writer_summary sum = {2, 15, 0, 0, 0};
    char base[512], p1[512], p2[512];
    uint8_t conn[SL_CAP_CONNECT_FIXED + 4] = {0};
    uint8_t disc[SL_CAP_DISCONNECT_LEN] = {0};
    sl_ring *ring;
    sl_sink *s;
    sl_writer *w;
    sluice_capture *c;
    sluice_record r;
    sluice_connect_info ci;
    int live = 0, events = 0;

    cr_assert_not_null(mkdtemp(dir));
    path_of(base, sizeof(base), "w.sluice");
    memset(&rc, 0, sizeof(rc));
    rc.path = base;
    cr_assert_eq(sl_sink_rotate_open(&rc, &s), 0);
    cr_assert_eq(sl_ring_open(1u << 16, &ring), 0);
    memset(&wc, 0, sizeof(wc));
    wc.ring = ring;
    wc.sink = s;
    wc.pipe = "p";
    wc.pipe_len = 1;
    wc.host = "h";
    wc.host_len = 1;
    wc.chunked = 1;
    cr_assert_eq(sl_writer_open(&wc, &w), 0);
    cr_assert_eq(sl_writer_chunk(w), 1);
    /* Producer 3 "live" connects and sends 0..9; producer 4 comes and
     * goes; then a rotation on request; then 3 sends 10..14. */
    sl_store_le32(conn, 99);
    conn[8] = 1;
    sl_store_le16(conn + 10, 4);
    memcpy(conn + SL_CAP_CONNECT_FIXED, "live", 4);
    put(ring, SL_CAP_T_CONNECT, 3, 0, conn, sizeof(conn));
    put(ring, SL_CAP_T_CONNECT, 4, 0, conn, sizeof(conn));
    for (uint64_t i = 0; i < 10; i++)
        put(ring, 5, 3, i, "x", 1);
    put(ring, SL_CAP_T_DISCONNECT, 4, 0, disc, sizeof(disc));
    while (sl_ring_used(ring) != 0)
        sl_os_sleep_ns(1000000);
    cr_assert_eq(sl_writer_request_rotate(w), 0);
    cr_assert_eq(sl_writer_chunk(w), 2);
    for (uint64_t i = 10; i < 15; i++)
        put(ring, 5, 3, i, "x", 1);
    cr_assert_eq(sl_writer_finish(w, &sum), 0);
    cr_assert_eq(sl_writer_request_rotate(w), SL_ECANCELED, "finished");
    sl_writer_close(w);
    cr_assert_eq(sl_sink_close(s), 0);
    sl_ring_close(ring);

    path_of(p1, sizeof(p1), "w.000001.sluice");
    path_of(p2, sizeof(p2), "w.000002.sluice");
    cr_assert_eq(sluice_capture_open(p1, &c), 0);
    cr_assert_eq(sluice_capture_get_info(c)->chunk, 1);
    sluice_capture_close(c);
    cr_assert_eq(sluice_capture_open(p2, &c), 0);
    cr_assert_eq(sluice_capture_get_info(c)->chunk, 2);
    while (sluice_capture_next(c, &r) == 0) {
        if (r.type == SLUICE_REC_LIVE) {
            live++;
            cr_assert_eq(r.producer, 3, "only the live producer");
            cr_assert_eq(r.seq, 10, "its next sequence number");
            cr_assert_eq(sluice_record_connect(&r, &ci), 0);
            cr_assert_eq(ci.pid, 99);
            cr_assert_eq(ci.name_len, 4);
            cr_assert_eq(memcmp(ci.name, "live", 4), 0);
            cr_assert_eq(events, 0, "the preamble comes first");
        } else if (r.type == 5) {
            cr_assert_eq(r.seq, 10 + (uint64_t)events);
            events++;
        }
    }
    sluice_capture_close(c);
    cr_assert_eq(live, 1);
    cr_assert_eq(events, 5);
}

Test(rotate, request_without_rotation_is_enosys)
{
    sl_writer_config wc;
    sl_ring *ring;
    sl_sink *s;
    sl_writer *w;
    char base[512];

    cr_assert_not_null(mkdtemp(dir));
    path_of(base, sizeof(base), "plain.sluice");
    cr_assert_eq(sl_sink_file_open(base, 0, &s), 0);
    cr_assert_eq(sl_ring_open(1u << 16, &ring), 0);
    memset(&wc, 0, sizeof(wc));
    wc.ring = ring;
    wc.sink = s;
    cr_assert_eq(sl_writer_open(&wc, &w), 0);
    cr_assert_eq(sl_writer_chunk(w), 0);
    cr_assert_eq(sl_writer_request_rotate(w), SL_ENOSYS);
    cr_assert_eq(sl_writer_request_snapshot(w), SL_ENOSYS);
    sl_writer_close(w);
    sl_sink_close(s);
    sl_ring_close(ring);
}
