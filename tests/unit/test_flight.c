/*
 * The flight recorder (collector/core/sink_flight.c, writer.c;
 * docs/capture-format.md section 17): snapshot file naming, and the
 * writer running chunked into the flight sink on real files: a type
 * trigger writes cap.snapshot-NNN.sluice (the next free number), a file
 * of its own (kind snapshot, chunk 0) that starts with the live
 * producer's LIVE record, holds about the last BYTES up to the
 * triggering event with the TRIGGER record right after it, and closes
 * with its own counts; a request trigger returns the next file's name.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capfile.h"
#include "err.h"
#include "ring.h"
#include "sink.h"
#include "sluice/capture.h"
#include "writer.h"

TestSuite(flight, .timeout = 60.0);

Test(flight, snapshot_naming)
{
    char b[64];

    cr_assert_eq(sl_snapshot_name(b, sizeof(b), "cap.sluice", 1), 0);
    cr_assert_str_eq(b, "cap.snapshot-001.sluice");
    cr_assert_eq(sl_snapshot_name(b, sizeof(b), "d.x/cap", 12), 0);
    cr_assert_str_eq(b, "d.x/cap.snapshot-012");
    cr_assert_eq(sl_snapshot_name(b, sizeof(b), "/t/.cap", 1000), 0);
    cr_assert_str_eq(b, "/t/.cap.snapshot-1000");
    cr_assert_eq(sl_snapshot_name(b, sizeof(b), "a.b.sluice", 7), 0);
    cr_assert_str_eq(b, "a.b.snapshot-007.sluice");
    cr_assert_eq(sl_snapshot_name(b, 10, "cap.sluice", 1), SL_ENAMETOOLONG);
}

static char dir[] = "/tmp/sl-flight-XXXXXX";

static void
path_of(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Commits one record (type, producer, seq) with a payload. */
static void
put(sl_ring *ring, uint16_t type, uint32_t id, uint64_t seq, const void *pl,
    size_t len)
{
    sl_ring_resv res;

    cr_assert_eq(sl_ring_reserve_wait(ring, sl_cap_rec_size(len), UINT64_MAX,
                                      &res),
                 0);
    sl_cap_rec_put(res.ptr, type, id, seq, 0, 1000 + seq, pl, len);
    sl_ring_commit(ring, &res);
}

static int
exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0;
}

Test(flight, type_trigger_writes_a_self_contained_snapshot)
{
    enum { BYTES = 256 << 10, PAYLOAD = 1000, N = 2000 };
    sl_sink_flight_config fc;
    sl_writer_config wc;
    sl_writer_summary sum = {1, N + 1, 0, 0, 0};
    char base[512], taken[512], p2[512], p3[512], name[512];
    uint8_t conn[SL_CAP_CONNECT_FIXED + 4] = {0};
    static uint8_t pl[PAYLOAD];
    sl_ring *ring;
    sl_sink *s;
    sl_writer *w;
    sluice_capture *c;
    sluice_record r;
    sluice_trigger_info ti;
    sluice_close_info cl;
    uint64_t first = UINT64_MAX, next = 0, events = 0, bytes = 0;
    int live = 0, triggers = 0, after_trigger = 0;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    path_of(base, sizeof(base), "cap.sluice");
    path_of(taken, sizeof(taken), "cap.snapshot-001.sluice");
    path_of(p2, sizeof(p2), "cap.snapshot-002.sluice");
    path_of(p3, sizeof(p3), "cap.snapshot-003.sluice");
    /* Number 1 is taken: the snapshot takes the next free one. */
    f = fopen(taken, "w");
    cr_assert_not_null(f);
    fclose(f);
    memset(&fc, 0, sizeof(fc));
    fc.path = base;
    fc.keep = 4;
    fc.block_target = BYTES / 16;
    cr_assert_eq(sl_sink_flight_open(&fc, &s), 0);
    cr_assert(sl_sink_is_flight(s));
    cr_assert_eq(sl_ring_open(1u << 16, &ring), 0);
    memset(&wc, 0, sizeof(wc));
    wc.ring = ring;
    wc.sink = s;
    wc.pipe = "p";
    wc.pipe_len = 1;
    wc.host = "h";
    wc.host_len = 1;
    wc.block_target = BYTES / 16;
    wc.chunked = 1;
    wc.rotate_bytes = BYTES / 4;
    wc.flight = 1;
    wc.trigger_type = 7;
    wc.flight_bytes = BYTES;
    cr_assert_eq(sl_writer_open(&wc, &w), 0);
    cr_assert_eq(sl_writer_request_rotate(w), SL_ENOSYS,
                 "a flight recorder's chunks are its own");
    sl_store_le32(conn, 99);
    conn[8] = 1;
    sl_store_le16(conn + 10, 4);
    memcpy(conn + SL_CAP_CONNECT_FIXED, "live", 4);
    put(ring, SL_CAP_T_CONNECT, 3, 0, conn, sizeof(conn));
    memset(pl, 'x', sizeof(pl));
    for (uint64_t i = 0; i < N; i++)
        put(ring, 5, 3, i, pl, sizeof(pl));
    put(ring, 7, 3, N, "T", 1); /* the trigger */
    while (sl_ring_used(ring) != 0)
        sl_os_sleep_ns(1000000);
    /* A request trigger: the next number, its name returned. */
    cr_assert_eq(sl_writer_request_trigger(w, SLUICE_TRIGGER_CTL, name,
                                           sizeof(name)),
                 0);
    cr_assert_str_eq(name, p3);
    cr_assert_eq(sl_writer_finish(w, &sum), 0);
    sl_writer_close(w);
    cr_assert_eq(sl_sink_close(s), 0);
    sl_ring_close(ring);
    cr_assert(!exists(base), "no capture file");

    cr_assert_eq(sluice_capture_open(p2, &c), 0);
    cr_assert_eq(sluice_capture_get_info(c)->chunk, 0);
    cr_assert_eq(sluice_capture_get_info(c)->kind, 1);
    while (sluice_capture_next(c, &r) == 0) {
        if (r.type == SLUICE_REC_LIVE) {
            live++;
            cr_assert_eq(r.producer, 3);
            cr_assert_eq(events, 0, "the preamble comes first");
            first = r.seq;
            next = r.seq;
        } else if (r.type == 5) {
            cr_assert_eq(r.seq, next, "no gap inside the snapshot");
            next++;
            events++;
            bytes += r.payload_len;
        } else if (r.type == 7) {
            cr_assert_eq(r.seq, N);
            events++;
            bytes += r.payload_len;
            after_trigger = 1;
        } else if (r.type == SLUICE_REC_TRIGGER) {
            cr_assert(after_trigger, "the trigger record follows its event");
            cr_assert_eq(sluice_record_trigger(&r, &ti), 0);
            cr_assert_eq(ti.cause, SLUICE_TRIGGER_TYPE);
            cr_assert_eq(ti.event_type, 7);
            cr_assert_eq(ti.producer, 3);
            cr_assert_eq(ti.seq, N);
            cr_assert_eq(ti.snapshot, 2);
            cr_assert_eq(ti.folded, 0);
            triggers++;
        } else if (r.type == SLUICE_REC_CLOSE) {
            cr_assert_eq(sluice_record_close(&r, &cl), 0);
            cr_assert_eq(cl.events, events, "its own counts");
            cr_assert_eq(cl.bytes, bytes);
            cr_assert_eq(cl.producers, 1);
        }
    }
    sluice_capture_close(c);
    cr_assert_eq(live, 1, "one LIVE record: the first chunk's");
    cr_assert_eq(triggers, 1);
    cr_assert_eq(next, N, "the events run up to the trigger");
    cr_assert(first > 0, "older events were forgotten");
    /* Between BYTES and 1.25 x BYTES of records (plus record headers:
     * bounds on the payload bytes, generous). */
    cr_assert(bytes >= BYTES * 6 / 10 && bytes <= BYTES * 13 / 10,
              "%llu payload bytes for %d", (unsigned long long)bytes, BYTES);
    cr_assert_eq(sluice_capture_open(p3, &c), 0);
    sluice_capture_close(c);
}
