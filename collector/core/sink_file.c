/*
 * The plain capture file behind the sink table (sink.h): one file, every
 * unit appended with one gathered write straight from ring memory, the
 * page cache kept from filling with dirty capture by a writeback hint
 * every WRITEBACK_BYTES, sync() = fdatasync / FlushFileBuffers.
 */
#include "sink.h"

#include <stdlib.h>

typedef struct file_sink {
    sl_sink base; /* first: a sl_sink * is a file_sink * */
    sl_file *file;
    uint64_t written;       /* bytes appended so far */
    uint64_t writeback_off; /* writeback started for bytes below this */
} file_sink;

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
    *out = &f->base;
    return 0;
}
