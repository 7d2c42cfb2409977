/*
 * libsluice-producer: the public producer API (include/sluice/producer.h)
 * on top of the transport (transport.h), the wire format (wire.h) and the
 * OS layer (os.h).
 *
 * One mutex guards the handle. emit takes it, gives the event the next
 * sequence number and the current time, and appends the frame (binary) or
 * line (text) to a batch buffer; when the buffer cannot take the event it
 * is written first, while the lock is still held. Holding the lock across
 * the write is deliberate: it keeps the bytes on the wire in sequence
 * order, and a write that blocks because the collector applies
 * backpressure blocks every emitter, which is the lossless behaviour the
 * design promises. A background thread flushes a non-empty buffer every
 * flush_interval_ms so a quiet producer's events are not held back.
 *
 * The first failed write is sticky: the connection is unusable after a
 * partial write, so every later call returns that same error.
 */
#include "sluice/producer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "os.h"
#include "transport.h"
#include "wire.h"

#ifndef _WIN32
#include <errno.h> /* program_invocation_short_name (_GNU_SOURCE) */
#include <unistd.h>
#endif

#define DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define DEFAULT_BUFFER_BYTES 65536u
#define MIN_BUFFER_BYTES 4096u
#define DEFAULT_FLUSH_INTERVAL_MS 100u
#define GREETING_TIMEOUT_MS 5000u /* when connect_timeout_ms is 0 */

struct sluice_producer {
    sl_transport *t;
    sl_mutex lock;
    sl_cond wake; /* signalled by close to stop the flush thread */
    sl_thread *flusher;
    uint32_t flush_interval_ms;

    /* Fixed after open. */
    uint32_t id;
    uint32_t max_frame;
    size_t max_payload;
    int text;

    /* Guarded by lock. */
    int stopping;
    int err; /* sticky write error, 0 while healthy */
    uint64_t seq;
    uint8_t *buf;
    size_t cap;
    size_t used;

    /* Written under lock, read by sluice_producer_counts() without it;
     * relaxed is enough because the two counts are only statistics and
     * publish no other memory. */
    _Atomic uint64_t events;
    _Atomic uint64_t bytes;
};

void
sluice_producer_opts_init(sluice_producer_opts *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->name = NULL;
    opts->name_len = 0;
    opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    opts->buffer_bytes = DEFAULT_BUFFER_BYTES;
    opts->flush_interval_ms = DEFAULT_FLUSH_INTERVAL_MS;
    opts->text = 0;
}

/*
 * The executable's base name, the label used when opts->name is NULL.
 * os.h has no call for this yet, so the two platform branches live here.
 * Returns the length written to buf (not NUL-terminated), at most cap.
 */
static size_t
exe_base_name(char *buf, size_t cap)
{
    const char *base;
    size_t len;
#ifdef _WIN32
    wchar_t wpath[MAX_PATH];
    char path[MAX_PATH * 3];
    DWORD wn = GetModuleFileNameW(NULL, wpath, MAX_PATH);
    int n = 0;

    if (wn > 0 && wn < MAX_PATH)
        n = WideCharToMultiByte(CP_UTF8, 0, wpath, (int)wn, path,
                                (int)sizeof(path) - 1, NULL, NULL);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    base = path;
    for (const char *s = path; *s != '\0'; s++)
        if (*s == '\\' || *s == '/')
            base = s + 1;
    len = strlen(base);
    if (len > 4 && _stricmp(base + len - 4, ".exe") == 0)
        len -= 4;
#else
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

    if (n > 0) {
        path[n] = '\0';
        base = strrchr(path, '/');
        base = base != NULL ? base + 1 : path;
    } else {
        /* No procfs (a chroot, a container without /proc): argv[0]. */
        base = program_invocation_short_name;
    }
    len = strlen(base);
#endif
    if (len > cap) {
        /* Cut on a UTF-8 character boundary, never inside a sequence. */
        len = cap;
        while (len > 0 && ((unsigned char)base[len] & 0xC0u) == 0x80u)
            len--;
    }
    memcpy(buf, base, len);
    return len;
}

/*
 * Reads the NUL-terminated greeting (at most SL_WIRE_GREETING_MAX bytes)
 * within timeout_ms. The collector sends nothing after it until the
 * producer speaks, so any bytes past the NUL are not expected and are
 * ignored.
 */
static int
read_greeting(sl_transport *t, uint32_t timeout_ms, char *g, size_t *len)
{
    uint64_t deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    size_t have = 0;

    while (have < SL_WIRE_GREETING_MAX) {
        uint64_t now = sl_os_mono_ns();
        size_t n = 0;
        char *nul;
        int rc;

        if (now >= deadline)
            return SL_ETIMEDOUT;
        /* At least 1 ms: a 0 timeout would mean "wait forever". */
        rc = sl_transport_read(t, g + have, SL_WIRE_GREETING_MAX - have, &n,
                               (uint32_t)((deadline - now + 999999u) /
                                          1000000u));
        if (rc == SL_ETIMEDOUT)
            return rc;
        if (rc != 0 || n == 0)
            return SL_EPROTO; /* reset or closed before a whole greeting */
        nul = memchr(g + have, '\0', n);
        if (nul != NULL) {
            *len = (size_t)(nul - g);
            return 0;
        }
        have += n;
    }
    return SL_EPROTO; /* 64 bytes and no NUL: not a sluice collector */
}

/* Writes the batch buffer. Called with p->lock held and p->err == 0. */
static int
write_buffer(sluice_producer *p)
{
    int rc = 0;

    if (p->used > 0) {
        rc = sl_transport_write(p->t, p->buf, p->used);
        p->used = 0;
        if (rc != 0)
            p->err = rc;
    }
    return rc;
}

static void
flush_thread(void *arg)
{
    sluice_producer *p = arg;
    uint64_t interval_ns = (uint64_t)p->flush_interval_ms * 1000000u;

    sl_mutex_lock(&p->lock);
    while (!p->stopping) {
        (void)sl_cond_timedwait(&p->wake, &p->lock, interval_ns);
        if (p->stopping)
            break;
        /* An early (spurious) wake-up just flushes a little sooner. */
        if (p->err == 0)
            (void)write_buffer(p);
    }
    sl_mutex_unlock(&p->lock);
}

int
sluice_producer_open(const char *name, size_t name_len,
                     const sluice_producer_opts *opts, sluice_producer **out)
{
    sluice_producer_opts defaults;
    sluice_producer *p = NULL;
    char greeting[SL_WIRE_GREETING_MAX];
    char exe[SL_WIRE_NAME_MAX];
    const char *label;
    size_t label_len, glen, hello_len, cap;
    uint32_t version, max_frame, id, gtimeout;
    int rc;

    if (name == NULL || out == NULL)
        return SLUICE_EINVAL;
    if (opts == NULL) {
        sluice_producer_opts_init(&defaults);
        opts = &defaults;
    }
    if (opts->name != NULL && opts->name_len > SL_WIRE_NAME_MAX)
        return SLUICE_EINVAL;
    /* 0 (a zeroed struct) means the default; below the minimum is raised
     * to it, as the header's "at least 4096" promises. */
    cap = opts->buffer_bytes == 0 ? DEFAULT_BUFFER_BYTES : opts->buffer_bytes;
    if (cap < MIN_BUFFER_BYTES)
        cap = MIN_BUFFER_BYTES;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SLUICE_ENOMEM;
    p->buf = malloc(cap);
    if (p->buf == NULL) {
        rc = SLUICE_ENOMEM;
        goto free_p;
    }
    p->cap = cap;
    p->text = opts->text != 0;
    p->flush_interval_ms = opts->flush_interval_ms;
    atomic_init(&p->events, 0);
    atomic_init(&p->bytes, 0);

    rc = sl_transport_open(name, name_len, opts->connect_timeout_ms, &p->t);
    if (rc != 0)
        goto free_buf;
    gtimeout = opts->connect_timeout_ms != 0 ? opts->connect_timeout_ms
                                             : GREETING_TIMEOUT_MS;
    rc = read_greeting(p->t, gtimeout, greeting, &glen);
    if (rc != 0)
        goto close_t;
    rc = sl_wire_parse_greeting(greeting, glen, &version, &max_frame, &id);
    if (rc != 0)
        goto close_t;
    if (max_frame < SL_WIRE_MAX_FRAME_MIN) {
        rc = SLUICE_EPROTO;
        goto close_t;
    }
    p->id = id;
    p->max_frame = max_frame;
    p->max_payload = p->text ? (size_t)max_frame - 1
                             : (size_t)max_frame - SL_WIRE_FRAME_HDR;

    if (!p->text) {
        /* Magic and hello go out with the first batch. */
        if (opts->name != NULL) {
            label = opts->name;
            label_len = opts->name_len;
        } else {
            label = exe;
            label_len = exe_base_name(exe, sizeof(exe));
        }
        rc = sl_wire_hello_encode(p->buf, p->cap, sl_os_pid(), label,
                                  label_len, sl_os_now_ns(), &hello_len);
        if (rc != 0)
            goto close_t;
        p->used = hello_len;
    }

    sl_mutex_init(&p->lock);
    sl_cond_init(&p->wake);
    if (p->flush_interval_ms > 0) {
        rc = sl_os_thread_start(flush_thread, p, &p->flusher);
        if (rc != 0)
            goto destroy_sync;
    }
    *out = p;
    return 0;

destroy_sync:
    sl_cond_destroy(&p->wake);
    sl_mutex_destroy(&p->lock);
close_t:
    sl_transport_close(p->t);
free_buf:
    free(p->buf);
free_p:
    free(p);
    return rc;
}

int
sluice_producer_emit(sluice_producer *p, uint16_t type, const void *data,
                     size_t len)
{
    uint8_t hdr[SL_WIRE_FRAME_HDR];
    size_t hdr_len, frame;
    uint64_t ts;
    int rc = 0;

    if (p == NULL || (data == NULL && len > 0) || type > SLUICE_TYPE_MAX)
        return SLUICE_EINVAL;
    if (len > p->max_payload)
        return SLUICE_ETOOBIG;
    if (p->text && len > 0 && memchr(data, '\n', len) != NULL)
        return SLUICE_EINVAL;
    hdr_len = p->text ? 0 : SL_WIRE_FRAME_HDR;
    frame = hdr_len + len + (p->text ? 1 : 0);

    sl_mutex_lock(&p->lock);
    if (p->err != 0) {
        rc = p->err;
        goto unlock;
    }
    if (p->used + frame > p->cap) {
        rc = write_buffer(p);
        if (rc != 0)
            goto unlock;
    }
    /* Read the clock under the lock so timestamps follow sequence order
     * (as far as the wall clock itself does not step back). Text lines
     * carry no timestamp. */
    ts = p->text ? 0 : sl_os_now_ns();
    if (frame <= p->cap) {
        uint8_t *dst = p->buf + p->used;

        if (!p->text) {
            sl_wire_frame_header(dst, (uint32_t)frame, type, p->seq, ts);
            dst += SL_WIRE_FRAME_HDR;
        }
        if (len > 0)
            memcpy(dst, data, len);
        if (p->text)
            dst[len] = '\n';
        p->used += frame;
    } else {
        /* Larger than the whole buffer (which write_buffer emptied): send
         * it in place instead of copying it in pieces. */
        if (!p->text)
            sl_wire_frame_header(hdr, (uint32_t)frame, type, p->seq, ts);
        rc = p->text ? sl_transport_write(p->t, data, len)
                     : sl_transport_write(p->t, hdr, SL_WIRE_FRAME_HDR);
        if (rc == 0)
            rc = p->text ? sl_transport_write(p->t, "\n", 1)
                         : sl_transport_write(p->t, data, len);
        if (rc != 0) {
            p->err = rc;
            goto unlock;
        }
    }
    p->seq++;
    atomic_fetch_add_explicit(&p->events, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->bytes, len, memory_order_relaxed);
unlock:
    sl_mutex_unlock(&p->lock);
    return rc;
}

int
sluice_producer_flush(sluice_producer *p)
{
    int rc;

    if (p == NULL)
        return SLUICE_EINVAL;
    sl_mutex_lock(&p->lock);
    rc = p->err != 0 ? p->err : write_buffer(p);
    sl_mutex_unlock(&p->lock);
    return rc;
}

uint32_t
sluice_producer_id(const sluice_producer *p)
{
    return p != NULL ? p->id : 0;
}

size_t
sluice_producer_max_payload(const sluice_producer *p)
{
    return p != NULL ? p->max_payload : 0;
}

void
sluice_producer_counts(const sluice_producer *p, uint64_t *events,
                       uint64_t *bytes)
{
    if (events != NULL)
        *events = p != NULL ? atomic_load_explicit(&p->events,
                                                   memory_order_relaxed)
                            : 0;
    if (bytes != NULL)
        *bytes = p != NULL
                     ? atomic_load_explicit(&p->bytes, memory_order_relaxed)
                     : 0;
}

int
sluice_producer_close(sluice_producer *p)
{
    int rc;

    if (p == NULL)
        return 0;
    sl_mutex_lock(&p->lock);
    p->stopping = 1;
    sl_cond_signal(&p->wake);
    sl_mutex_unlock(&p->lock);
    sl_os_thread_join(p->flusher);

    /* The flush thread is gone; no other call may run during close. */
    rc = p->err != 0 ? p->err : write_buffer(p);

    sl_transport_close(p->t);
    sl_cond_destroy(&p->wake);
    sl_mutex_destroy(&p->lock);
    free(p->buf);
    free(p);
    return rc;
}
