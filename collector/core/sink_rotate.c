/*
 * The rotating set of capture files behind the sink table (sink.h): one
 * plain file sink (sink_file.c) per chunk, the chunk number in the file
 * name, retention by count (--keep) and by total size (--max-total).
 *
 * The writer decides when a chunk ends (writer.c: --rotate-size,
 * --rotate-time, sluice-ctl rotate) and writes every chunk's header and
 * preamble itself, since each chunk has its own block key. This sink only
 * knows files: write() appends to the current chunk, rotate() makes the
 * next one, and the retention rules run after each write and rotation.
 * Only chunks this run created are ever deleted (a set of an earlier run
 * that happens to share the name is not looked for).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

typedef struct chunk {
    uint64_t n;      /* chunk number, 1, 2, ... */
    uint64_t bytes;  /* written to it */
    uint64_t blocks; /* blocks written to it (its header is not one) */
} chunk;

typedef struct rot_sink {
    sl_sink base; /* first: a sl_sink * is a rot_sink * */
    sl_sink_rotate_config cfg;
    char *path;       /* cfg.path, owned */
    sl_sink *cur;     /* the current chunk's file sink */
    chunk *chunks;    /* kept chunks, oldest first; the last is cur's */
    size_t nchunks, cap;
    uint64_t total;   /* bytes of all kept chunks */
    uint64_t next_n;  /* number of the next chunk to create */
} rot_sink;

int
sl_chunk_name(char *buf, size_t cap, const char *path, uint64_t n)
{
    const char *base = path, *dot, *p;
    size_t stem;
    int len;

    for (p = path; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    dot = strrchr(base, '.');
    if (dot == NULL || dot == base)
        stem = strlen(path);
    else
        stem = (size_t)(dot - path);
    len = snprintf(buf, cap, "%.*s.%06llu%s", (int)stem, path,
                   (unsigned long long)n, path + stem);
    if (len < 0 || (size_t)len >= cap)
        return SL_ENAMETOOLONG;
    return 0;
}

size_t
sl_retention_pick(const uint64_t *sizes, size_t n, uint64_t keep,
                  uint64_t max_total)
{
    uint64_t total = 0;
    size_t del = 0;

    if (n <= 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        total += sizes[i];
    while (del < n - 1 && ((keep != 0 && n - del > keep) ||
                           (max_total != 0 && total > max_total))) {
        total -= sizes[del];
        del++;
    }
    return del;
}

/* Deletes the oldest chunks the rules choose. A chunk that cannot be
 * deleted stays in the list (and counts) and is tried again next time. */
static int
retain(rot_sink *r)
{
    uint64_t sizes_small[64], *sizes = sizes_small;
    size_t del, done = 0;
    char name[4096];
    int rc = 0;

    size_t forced;
    const sl_retain_hooks *h = r->cfg.retain;

    if ((r->cfg.keep == 0 && r->cfg.max_total == 0) || r->nchunks <= 1)
        return 0;
    if (r->cfg.keep != 0 && r->nchunks <= r->cfg.keep &&
        (r->cfg.max_total == 0 || r->total <= r->cfg.max_total))
        return 0;
    if (r->nchunks > 64) {
        sizes = malloc(r->nchunks * sizeof(*sizes));
        if (sizes == NULL)
            return SL_ENOMEM;
    }
    for (size_t i = 0; i < r->nchunks; i++)
        sizes[i] = r->chunks[i].bytes;
    del = sl_retention_pick(sizes, r->nchunks, r->cfg.keep, r->cfg.max_total);
    /* Of those, the ones --max-total alone asks for are deleted whether
     * forwarded or not; the rest (--keep) only once forwarded. */
    forced = r->cfg.max_total != 0
                 ? sl_retention_pick(sizes, r->nchunks, 0, r->cfg.max_total)
                 : 0;
    if (sizes != sizes_small)
        free(sizes);
    while (done < del) {
        if (h != NULL && !h->forwarded(h->arg, r->chunks[done].n)) {
            /* Chunks are forwarded in order: none after this one is. */
            if (done >= forced)
                break;
            h->expire(h->arg, r->chunks[done].n, r->chunks[done].blocks);
        }
        rc = sl_chunk_name(name, sizeof(name), r->path, r->chunks[done].n);
        if (rc == 0)
            rc = sl_os_file_remove(name);
        if (rc != 0)
            break;
        r->total -= r->chunks[done].bytes;
        done++;
    }
    memmove(r->chunks, r->chunks + done,
            (r->nchunks - done) * sizeof(*r->chunks));
    r->nchunks -= done;
    /* A chunk we could not delete is not a reason to stop capturing: the
     * set is only larger than asked until the next try. */
    (void)rc;
    return 0;
}

/* Creates chunk r->next_n and makes it current. */
static int
open_chunk(rot_sink *r)
{
    char name[4096];
    sl_sink *f;
    int rc;

    if (r->nchunks == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        chunk *c = realloc(r->chunks, cap * sizeof(*c));

        if (c == NULL)
            return SL_ENOMEM;
        r->chunks = c;
        r->cap = cap;
    }
    rc = sl_chunk_name(name, sizeof(name), r->path, r->next_n);
    if (rc != 0)
        return rc;
    rc = sl_sink_file_open(name, r->cfg.flags, &f);
    if (rc != 0)
        return rc;
    if (r->cfg.set_group) {
        rc = sl_sink_file_set_group(f, r->cfg.gid);
        if (rc != 0) {
            sl_sink_file_discard(f);
            return rc;
        }
    }
    r->cur = f;
    r->chunks[r->nchunks].n = r->next_n;
    r->chunks[r->nchunks].bytes = 0;
    r->chunks[r->nchunks].blocks = 0;
    r->nchunks++;
    r->next_n++;
    return 0;
}

static int
rot_write(sl_sink *s, const sl_sink_block *b)
{
    rot_sink *r = (rot_sink *)s;
    int rc = sl_sink_write(r->cur, b);

    if (rc != 0)
        return rc;
    r->chunks[r->nchunks - 1].bytes += b->len;
    if (b->kind == SL_SINK_BLOCK)
        r->chunks[r->nchunks - 1].blocks++;
    r->total += b->len;
    if (r->cfg.max_total != 0 && r->total > r->cfg.max_total)
        return retain(r);
    /* Forwarding: chunks --keep left in place because they were not yet
     * acknowledged go as soon as they are, not at the next rotation. */
    if (r->cfg.retain != NULL && r->cfg.keep != 0 &&
        r->nchunks > r->cfg.keep && b->kind == SL_SINK_BLOCK)
        return retain(r);
    return 0;
}

static int
rot_sync(sl_sink *s)
{
    return sl_sink_sync(((rot_sink *)s)->cur);
}

static int
rot_rotate(sl_sink *s)
{
    rot_sink *r = (rot_sink *)s;
    int rc;

    /* A chunk that is closed is durable: whatever happens to the next
     * one, the set up to here survives a crash. */
    rc = sl_sink_sync(r->cur);
    if (rc == 0)
        rc = sl_sink_close(r->cur);
    else
        sl_sink_close(r->cur);
    r->cur = NULL;
    if (rc != 0)
        return rc;
    rc = open_chunk(r);
    if (rc != 0)
        return rc;
    return retain(r);
}

static int
rot_close(sl_sink *s)
{
    rot_sink *r = (rot_sink *)s;
    int rc = r->cur != NULL ? sl_sink_close(r->cur) : 0;

    free(r->chunks);
    free(r->path);
    free(r);
    return rc;
}

static const sl_sink_ops rot_ops = {
    .name = "rotating files",
    .write = rot_write,
    .sync = rot_sync,
    .rotate = rot_rotate,
    .snapshot = NULL,
    .close = rot_close,
};

int
sl_sink_rotate_open(const sl_sink_rotate_config *cfg, sl_sink **out)
{
    rot_sink *r = calloc(1, sizeof(*r));
    int rc;

    if (r == NULL)
        return SL_ENOMEM;
    r->cfg = *cfg;
    r->path = strdup(cfg->path);
    if (r->path == NULL) {
        free(r);
        return SL_ENOMEM;
    }
    r->cfg.path = r->path;
    r->next_n = 1;
    rc = open_chunk(r);
    if (rc != 0) {
        free(r->chunks);
        free(r->path);
        free(r);
        return rc;
    }
    r->base.ops = &rot_ops;
    *out = &r->base;
    return 0;
}

void
sl_sink_rotate_discard(sl_sink *s)
{
    rot_sink *r = (rot_sink *)s;

    if (r == NULL)
        return;
    sl_sink_file_discard(r->cur);
    free(r->chunks);
    free(r->path);
    free(r);
}
