/*
 * The plain capture file behind the sink table (sink.h): one file, every
 * unit appended with one gathered write straight from ring memory, the
 * page cache kept from filling with dirty capture by a writeback hint
 * every WRITEBACK_BYTES, sync() = fdatasync / FlushFileBuffers.
 *
 * Test-only: the environment variable SLUICE_TEST_WRITE_MBPS=N holds the
 * sink to N MB/s (10^6 bytes) on average, a slow disk on demand for
 * benchmarks (bench/codecs.sh: compression behind a 200 MB/s disk). After
 * each write it sleeps until written / rate has elapsed since the first
 * write. Digits only, 1..100000; any other value is ignored, so a stray
 * setting cannot stall a collector. Not for production use.
 */
#include "sink.h"
#include "testenv.h"

typedef struct file_sink {
    sl_sink base; /* first: a sl_sink * is a file_sink * */
    sl_file *file;
    uint64_t written;       /* bytes appended so far */
    uint64_t writeback_off; /* writeback started for bytes below this */
    uint64_t throttle_bps;  /* SLUICE_TEST_WRITE_MBPS in bytes/s, 0 = none */
    uint64_t throttle_t0;   /* monotonic ns of the first write */
} file_sink;

/* The test-only throttle's rate in bytes per second, 0 = none. */
static uint64_t
test_write_bps(void)
{
    return sl_test_env_u64("SLUICE_TEST_WRITE_MBPS", 100000u) * 1000000u;
}

/* Sleeps until f->written bytes are due at the throttle's rate. */
static void
throttle(file_sink *f)
{
    uint64_t now = sl_os_mono_ns(), due;

    if (f->throttle_t0 == 0) {
        f->throttle_t0 = now;
        return;
    }
    due = f->throttle_t0 +
          (uint64_t)((double)f->written * 1e9 / (double)f->throttle_bps);
    if (due > now)
        sl_os_sleep_ns(due - now);
}

/* Every WRITEBACK_BYTES written, ask the OS to start writing them to
 * storage (sl_os_file_writeback()): the page cache then never holds much
 * dirty capture, and the sync at exit finds little left to do instead of
 * all of it. */
#define WRITEBACK_BYTES (32u << 20)

static int
file_write(sl_sink *s, const sl_sink_block *b)
{
    file_sink *f = (file_sink *)s;
    int rc = sl_os_file_writev(f->file, b->iov, b->iovcnt);

    if (rc != 0)
        return rc;
    f->written += b->len;
    if (f->throttle_bps != 0)
        throttle(f);
    if (f->written - f->writeback_off >= WRITEBACK_BYTES) {
        sl_os_file_writeback(f->file, f->writeback_off,
                             f->written - f->writeback_off);
        f->writeback_off = f->written;
    }
    return 0;
}

static int
file_sync(sl_sink *s)
{
    return sl_os_file_sync(((file_sink *)s)->file);
}

static int
file_close(sl_sink *s)
{
    file_sink *f = (file_sink *)s;
    int rc = sl_os_file_close(f->file);

    free(f);
    return rc;
}

static const sl_sink_ops file_ops = {
    .name = "file",
    .write = file_write,
    .sync = file_sync,
    .rotate = NULL, /* one file: rotation is the rotating set's job */
    .close = file_close,
};

void
sl_sink_file_discard(sl_sink *s)
{
    file_sink *f = (file_sink *)s;

    if (f == NULL)
        return;
    sl_os_file_discard(f->file);
    free(f);
}

int
sl_sink_file_open(const char *path, int force, sl_sink **out)
{
    file_sink *f = calloc(1, sizeof(*f));
    int rc;

    if (f == NULL)
        return SL_ENOMEM;
    rc = sl_os_file_create(path, force, &f->file);
    if (rc != 0) {
        free(f);
        return rc;
    }
    f->base.ops = &file_ops;
    f->throttle_bps = test_write_bps();
    *out = &f->base;
    return 0;
}
