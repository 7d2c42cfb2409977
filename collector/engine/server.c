/*
 * The collector engine: a pool of worker threads on an I/O backend (io.h)
 * turning every producer's byte stream into capture records in the MPSC
 * ring, which the writer thread persists.
 *
 * Per connection: accept → greeting write → read, parse, copy → read ...
 * → end. At most one I/O operation per connection is in flight, and each
 * completion is handled by exactly one worker, so a connection's state
 * needs no lock. A worker reads a large chunk into the connection's
 * buffer, the wire parser finds the complete events in place, and the
 * worker copies them (the only copy) into one ring reservation per batch,
 * stamped with one collector timestamp per chunk. The unparsed tail (a
 * frame split across reads) moves to the front of the buffer.
 *
 * Backpressure: with --on-full wait, a worker that finds the ring full
 * waits for the writer to release space before it posts that connection's
 * next read, so the socket or pipe fills and the producer's write blocks:
 * nothing is lost. With --on-full drop it drops the batch, counts it per
 * producer, and writes a drop record once space returns. The collector's
 * own records (connect, drop, disconnect) always wait for space.
 *
 * The list of live connections (under a mutex, touched only on accept and
 * end) exists for the stop path, which drains every connection.
 */
#include "server.h"
#include "server_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "err.h"
#include "escape.h"
#include "io.h"
#include "os.h"
#include "ring.h"
#include "wire.h"
#include "writer.h"

void
sl_srv_logf(sl_server *s, const char *fmt, ...)
{
    char line[1536]; /* room for an escaped 255-byte name */
    va_list ap;

    if (s->cfg.log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->cfg.log(s->cfg.log_ctx, line);
}

/* ---- ring output ------------------------------------------------------ */

void
sl_srv_reserve(sl_server *s, size_t len, sl_ring_resv *res)
{
    /* The writer always frees space (after an error it discards), and each
     * release wakes this wait, so it needs no timeout; it returns early
     * only on sl_ring_wake() (the writer finishing), and then tries again. */
    while (sl_ring_reserve_wait(s->ring, len, SL_OS_FOREVER, res) != 0)
        ;
}

/* A per-connection counter: only the worker handling the connection's
 * reads writes it, so load + store (no RMW); relaxed, it is a count. */
static inline void
bump(atomic_uint_least64_t *v, uint64_t n)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static uint8_t *
put_record(uint8_t *p, const conn *c, uint16_t type, uint64_t now,
           const void *payload, size_t len)
{
    return sl_cap_rec_put(p, type, c->id, 0, 0, now, payload, len);
}

static uint8_t *
put_drop(uint8_t *p, conn *c, uint64_t now)
{
    uint8_t pl[SL_CAP_DROP_LEN];

    sl_store_le64(pl, c->pend_drop);
    sl_store_le64(pl + 8, c->pend_drop_bytes);
    c->pend_drop = 0;
    c->pend_drop_bytes = 0;
    return put_record(p, c, SL_CAP_T_DROP, now, pl, sizeof(pl));
}

static void
write_connect(sl_server *s, conn *c, uint64_t now)
{
    uint8_t pl[SL_CAP_CONNECT_FIXED + SL_WIRE_NAME_MAX];
    size_t n = c->wire.name_len;
    sl_ring_resv res;

    /* A binary producer cut by a stop before its hello was whole has no
     * pid of its own yet: the system's then. */
    sl_store_le32(pl, c->wire.mode == SL_WIRE_MODE_BINARY && c->wire.hello_done
                          ? c->wire.pid
                          : c->io->pid);
    sl_store_le32(pl + 4, c->io->uid);
    pl[8] = (uint8_t)c->wire.mode;
    pl[9] = 0;
    sl_store_le16(pl + 10, (uint16_t)n);
    memcpy(pl + SL_CAP_CONNECT_FIXED, c->wire.name, n);
    sl_srv_reserve(s, sl_cap_rec_size(SL_CAP_CONNECT_FIXED + n), &res);
    put_record(res.ptr, c, SL_CAP_T_CONNECT, now, pl,
               SL_CAP_CONNECT_FIXED + n);
    sl_ring_commit(s->ring, &res);
    c->connect_done = 1;
    /* Release: wire.name/pid/mode are final (pairs with the acquire in
     * control.c's producers list). */
    atomic_store_explicit(&c->ident, 1, memory_order_release);
}

static void
write_disconnect(sl_server *s, conn *c, uint32_t reason, int malformed)
{
    uint8_t pl[SL_CAP_DISCONNECT_LEN];
    uint64_t now = sl_os_now_ns();
    size_t len = sl_cap_rec_size(sizeof(pl));
    sl_ring_resv res;
    uint8_t *p;

    if (c->pend_drop > 0)
        len += sl_cap_rec_size(SL_CAP_DROP_LEN);
    sl_store_le64(pl, atomic_load_explicit(&c->events, memory_order_relaxed));
    sl_store_le64(pl + 8, c->bytes);
    sl_store_le64(pl + 16,
                  atomic_load_explicit(&c->dropped, memory_order_relaxed));
    sl_store_le32(pl + 24, reason);
    sl_store_le32(pl + 28, (uint32_t)malformed);
    sl_store_le64(pl + 32, c->discarded);
    sl_store_le64(pl + 40,
                  atomic_load_explicit(&c->filtered, memory_order_relaxed));
    sl_srv_reserve(s, len, &res);
    p = res.ptr;
    if (c->pend_drop > 0)
        p = put_drop(p, c, now);
    put_record(p, c, SL_CAP_T_DISCONNECT, now, pl, sizeof(pl));
    sl_ring_commit(s->ring, &res);
}

/* Copies parsed events into the ring, one reservation per batch. */
static void
emit(sl_server *s, conn *c, const sl_wire_event *ev, size_t n, uint64_t now)
{
    size_t i = 0;

    if (n > 0 && ev[0].type == SL_WIRE_T_HELLO) {
        write_connect(s, c, now);
        sl_ctl_hello(s, c);
        i = 1;
    }
    while (i < n) {
        size_t total = c->pend_drop ? sl_cap_rec_size(SL_CAP_DROP_LEN) : 0;
        size_t j = i, payload = 0;
        sl_ring_resv res;
        uint8_t *p;

        /* A COUNTS frame (protocol 1.1) is the producer's filtered total:
         * kept for its disconnect record, not an event. */
        if (ev[i].type == SL_WIRE_T_COUNTS) {
            atomic_store_explicit(&c->filtered, sl_load_le64(ev[i].payload),
                                  memory_order_relaxed);
            i++;
            continue;
        }
        /* The batch bound keeps one reservation well under the ring's
         * capacity; a single record always fits (checked at open). */
        while (j < n && ev[j].type != SL_WIRE_T_COUNTS &&
               (j == i || total + sl_cap_rec_size(ev[j].len) <= s->batch_max)) {
            total += sl_cap_rec_size(ev[j].len);
            payload += ev[j].len;
            j++;
        }
        if (s->cfg.drop_when_full) {
            if (sl_ring_reserve(s->ring, total, &res) != 0) {
                c->pend_drop += j - i;
                c->pend_drop_bytes += payload;
                bump(&c->dropped, j - i);
                atomic_fetch_add_explicit(&s->dropped, j - i,
                                          memory_order_relaxed);
                i = j;
                continue;
            }
        } else {
            sl_srv_reserve(s, total, &res);
        }
        p = res.ptr;
        if (c->pend_drop > 0)
            p = put_drop(p, c, now);
        for (size_t k = i; k < j; k++)
            p = sl_cap_rec_put(p, ev[k].type, c->id, ev[k].seq, ev[k].ts,
                               now, ev[k].payload, ev[k].len);
        sl_ring_commit(s->ring, &res);
        bump(&c->events, j - i);
        c->bytes += payload;
        atomic_fetch_add_explicit(&s->events, j - i, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->bytes, payload, memory_order_relaxed);
        i = j;
    }
}

/* ---- connection lifecycle -------------------------------------------- */

void
sl_srv_conn_free(sl_server *s, conn *c)
{
    /* A connection that failed before it was linked is in no list: it
     * must not unlink (its NULL prev would empty the list). */
    sl_mutex_lock(&s->lock);
    if (c->linked) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    sl_mutex_unlock(&s->lock);
    if (c->slot)
        atomic_fetch_sub_explicit(&s->slots, 1, memory_order_relaxed);
    if (c->ctl_slot)
        atomic_fetch_sub_explicit(&s->ctl_conns, 1, memory_order_relaxed);
    s->backend->release(s->io, c->io);
    sl_ctl_snap_put(c->wsnap);
    sl_mutex_destroy(&c->push_lock);
    free(c->wout);
    free(c->buf);
    free(c);
    /* Release pairs with the acquire in worker_main(): a worker that sees
     * live == 0 also sees this connection gone. */
    if (atomic_fetch_sub_explicit(&s->live, 1, memory_order_release) == 1 &&
        atomic_load_explicit(&s->stopping, memory_order_acquire))
        s->backend->wake(s->io);
}

static void
conn_end(sl_server *s, conn *c, uint32_t reason, int malformed)
{
    uint64_t ended;

    /* A connection that never sent a byte is not a producer: no records,
     * not counted (liveness probes stay invisible). */
    if (c->id != 0 && c->active) {
        if (!c->connect_done)
            write_connect(s, c, sl_os_now_ns());
        write_disconnect(s, c, reason, malformed);
        if (malformed) {
            /* The name is the producer's bytes: escaped as sluice-dump
             * escapes a name (no ESC sequence reaches the operator's
             * terminal, no newline forges a log line, no space fakes a
             * field). 255 bytes at 4 each at most. */
            char name[SL_WIRE_NAME_MAX * 4 + 1];

            atomic_fetch_add_explicit(&s->malformed, 1, memory_order_relaxed);
            sl_srv_logf(s, "producer %u (%s, pid %u) closed: %s (%s)", c->id,
                  c->wire.name_len
                      ? sl_escape_str(name, sizeof(name), c->wire.name,
                                      c->wire.name_len, SL_ESC_SPACE)
                      : "-",
                  c->wire.mode == SL_WIRE_MODE_BINARY ? c->wire.pid
                                                      : c->io->pid,
                  sl_wire_reason_str(reason), sl_wire_reason_name(reason));
        }
        atomic_fetch_add_explicit(
            &s->filtered_ended,
            atomic_load_explicit(&c->filtered, memory_order_relaxed),
            memory_order_relaxed);
        ended = atomic_fetch_add_explicit(&s->ended, 1,
                                          memory_order_relaxed) + 1;
        if (s->cfg.on_event != NULL)
            s->cfg.on_event(s->cfg.event_ctx, SL_SERVER_PRODUCER_ENDED,
                            (int64_t)ended);
    }
    /* Frees c now, or once a state push in flight has completed. */
    sl_ctl_read_done(s, c);
}

/* --allow-uid: 1 if the peer's user id is listed (an unknown uid never
 * is). Without a list every peer the socket's permissions let in is. */
static int
peer_allowed(const sl_server *s, const sl_io_conn *io)
{
    if (s->allow_uids == NULL)
        return 1;
    for (size_t i = 0; i < s->cfg.allow_uids_len; i++)
        if (s->allow_uids[i] == io->uid)
            return 1;
    return 0;
}

/* The next producer id: one a control connection gave back, else a new
 * one (UINT32_MAX + 1 and over: every id of the capture is out). */
static uint64_t
take_id(sl_server *s)
{
    uint64_t id;

    sl_mutex_lock(&s->lock);
    if (s->nspare > 0)
        id = s->spare_ids[--s->nspare];
    else
        id = atomic_fetch_add_explicit(&s->next_id, 1, memory_order_relaxed);
    sl_mutex_unlock(&s->lock);
    return id;
}

/* Connection c's first bytes are the control magic: it gives back its
 * producer slot and id (never a producer, protocol.md section 14) and
 * takes a control slot; over SL_WIRE_CTL_CONNS_MAX it is answered with
 * an error (ctl_over). */
static void
ctl_admit(sl_server *s, conn *c)
{
    if (c->ctl_only) {
        /* Counted as refused at its accept; it was not. */
        atomic_fetch_sub_explicit(&s->refused, 1, memory_order_relaxed);
        return;
    }
    if (c->slot) {
        atomic_fetch_sub_explicit(&s->slots, 1, memory_order_relaxed);
        c->slot = 0;
        /* c->id under the lock: the reaper reads it under the lock. */
        sl_mutex_lock(&s->lock);
        if (s->nspare < SL_WIRE_CTL_CONNS_MAX)
            s->spare_ids[s->nspare++] = c->id;
        c->id = 0;
        sl_mutex_unlock(&s->lock);
    }
    c->ctl_slot = 1;
    if (atomic_fetch_add_explicit(&s->ctl_conns, 1, memory_order_relaxed) >=
        SL_WIRE_CTL_CONNS_MAX)
        c->ctl_over = 1;
}

static void
on_accept(sl_server *s, sl_io_conn *io)
{
    uint64_t live, id = 0;
    conn *c;
    int rc;

    int allowed = peer_allowed(s, io);

    if (!allowed) {
        /* Refused with a greeting that says why (protocol.md section 4),
         * so the producer can tell its user; no id, no record. */
        atomic_fetch_add_explicit(&s->refused, 1, memory_order_relaxed);
        if (io->uid == 0xFFFFFFFFu)
            sl_srv_logf(s, "refused a connection (pid %u): its user is unknown "
                  "and --allow-uid is set", io->pid);
        else
            sl_srv_logf(s, "refused a connection from uid %u (pid %u): not in "
                  "--allow-uid", io->uid, io->pid);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        sl_srv_logf(s, "out of memory accepting a connection");
        s->backend->release(s->io, io);
        return;
    }
    c->io = io;
    io->user = c;
    c->accepted_ns = sl_os_mono_ns();
    sl_mutex_init(&c->push_lock);
    atomic_fetch_add_explicit(&s->live, 1, memory_order_relaxed);
    /* The slot count this accept made is its own fetch_add's result: two
     * accepts at once see different counts, so at the limit one of them
     * is admitted (a reload could see both and refuse both). */
    live = allowed ? atomic_fetch_add_explicit(&s->slots, 1,
                                               memory_order_relaxed) + 1
                   : 0;
    if (s->cfg.test_accept_counted != NULL)
        s->cfg.test_accept_counted(s->cfg.test_ctx);
    if (allowed && live <= s->cfg.max_producers) {
        c->slot = 1;
        id = take_id(s);
        if (id > UINT32_MAX) {
            atomic_fetch_sub_explicit(&s->slots, 1, memory_order_relaxed);
            c->slot = 0;
        }
    } else if (allowed) {
        atomic_fetch_sub_explicit(&s->slots, 1, memory_order_relaxed);
    }
    if (allowed && !c->slot) {
        /* Refused as a producer, but it may be sluice-ctl, which takes no
         * producer slot: kept after the refusal greeting until its first
         * bytes say what it is (a control connection is served, anything
         * else closed, protocol.md section 14), within the control
         * connections' own bound. */
        if (atomic_fetch_add_explicit(&s->ctl_conns, 1,
                                      memory_order_relaxed) <
            SL_WIRE_CTL_CONNS_MAX) {
            c->ctl_slot = 1;
            c->ctl_only = 1;
            c->cap = 4096;
            c->buf = malloc(c->cap);
            if (c->buf == NULL) {
                c->ctl_only = 0; /* just refused, then */
                c->cap = 0;
            }
        } else {
            atomic_fetch_sub_explicit(&s->ctl_conns, 1, memory_order_relaxed);
        }
    }
    if (!allowed) {
        static const char not_allowed[] = "SLUICE/1 error=user-not-allowed";

        memcpy(c->greeting, not_allowed, sizeof(not_allowed));
        c->greeting_len = sizeof(not_allowed);
    } else if (live > s->cfg.max_producers || id > UINT32_MAX) {
        /* Over the limit, or every id of this capture given out (ids
         * never repeat and never become 0, the refused mark): a clear
         * refusal the client can read, then close. Not a producer: no
         * id, no records. */
        static const char too_many[] = "SLUICE/1 error=too-many-producers";
        static const char no_ids[] = "SLUICE/1 error=producer-ids-exhausted";
        const char *refuse = live > s->cfg.max_producers ? too_many : no_ids;
        size_t len = live > s->cfg.max_producers ? sizeof(too_many)
                                                 : sizeof(no_ids);

        if (refuse == no_ids && id == (uint64_t)UINT32_MAX + 1)
            sl_srv_logf(s, "every producer id of this capture is taken; "
                  "refusing new connections");
        memcpy(c->greeting, refuse, len);
        c->greeting_len = len;
        atomic_fetch_add_explicit(&s->refused, 1, memory_order_relaxed);
    } else {
        c->id = (uint32_t)id;
        sl_wire_init(&c->wire, s->cfg.max_frame);
        sl_wire_greeting_cfg(c->greeting, sizeof(c->greeting),
                             s->cfg.max_frame, c->id, sl_ctl_cfg_flag(s),
                             &c->greeting_len);
        c->cap = s->cfg.conn_buffer;
        c->buf = malloc(c->cap);
        if (c->buf == NULL) {
            sl_srv_logf(s, "out of memory for producer %u's buffer", c->id);
            conn_end(s, c, SL_WIRE_R_READ_ERROR, 0);
            return;
        }
    }
    sl_mutex_lock(&s->lock);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    c->linked = 1;
    if (s->draining)
        c->stopped = !s->backend->drain(s->io, c->io);
    sl_mutex_unlock(&s->lock);

    rc = s->backend->write(s->io, io, c->greeting, c->greeting_len);
    if (rc != 0)
        conn_end(s, c, SL_WIRE_R_READ_ERROR, 0);
}

void
sl_srv_post_read(sl_server *s, conn *c)
{
    int rc = s->backend->read(s->io, c->io, c->buf + c->len, c->cap - c->len);

    if (rc != 0)
        conn_end(s, c, SL_WIRE_R_READ_ERROR, 0);
}

static void
on_write(sl_server *s, conn *c, int64_t result)
{
    if (c->kind == CONN_CONTROL) {
        sl_ctl_on_write(s, c, result, 0);
        return;
    }
    if (c->ctl_only && result >= 0) {
        sl_srv_post_read(s, c); /* maybe sluice-ctl: its first bytes */
        return;
    }
    if (c->id == 0) {
        sl_srv_conn_free(s, c);
        return;
    }
    /* A failed greeting is not fatal: a write-only client (.NET
     * PipeDirection.Out) shuts down its receive side, so the send fails
     * with EPIPE while its data still arrives. Keep reading. */
    (void)result;
    sl_srv_post_read(s, c);
}

/* Makes room for the pending event once the buffer is full — up to the
 * event's exact size in binary mode, max-frame for a long text line — and
 * gives a grown buffer back once it is no longer needed, so an idle or
 * small-event connection costs conn_buffer bytes, not max-frame. */
static int
fit_buffer(sl_server *s, conn *c)
{
    size_t want = c->cap;
    uint8_t *nb;

    if (c->len == c->cap) {
        want = sl_wire_need(&c->wire, c->buf, c->len);
        /* The parser fails a connection whose event could not fit in
         * max-frame, so a full buffer always has room to grow. */
        if (want <= c->cap)
            return SL_EPROTO;
    } else if (c->cap > s->cfg.conn_buffer &&
               c->len <= s->cfg.conn_buffer / 2) {
        want = s->cfg.conn_buffer;
    }
    if (want == c->cap)
        return 0;
    nb = realloc(c->buf, want);
    if (nb == NULL)
        return SL_ENOMEM;
    c->buf = nb;
    c->cap = want;
    return 0;
}

static void
on_read(sl_server *s, conn *c, int64_t result)
{
    sl_wire_event ev[EV_CAP];
    uint64_t now = sl_os_now_ns();
    size_t off = 0, n, used;
    int rc;

    if (result <= 0 && (c->kind == CONN_CONTROL || c->ctl_only)) {
        sl_srv_conn_free(s, c); /* ended before its request: nothing */
        return;
    }
    if (result <= 0 && c->kind == CONN_UNDECIDED && c->len > 0) {
        /* A prefix of the control magic, then the end: a producer (text,
         * protocol.md section 5). */
        c->kind = CONN_PRODUCER;
        c->active = 1;
        atomic_fetch_add_explicit(&s->producers, 1, memory_order_relaxed);
    }
    if (result <= 0) {
        uint32_t reason = SL_WIRE_R_EOF;
        int malformed = 0, stopped, idle;

        /* ECONNRESET: the transport reports an abortive close, after
         * every byte the peer sent has been read (POSIX sockets report so
         * a peer that closed with our greeting unread): RESET, its events
         * kept as at EOF, the final unterminated text line included.
         * EPIPE is an ordinary end; other errors end it as errors. */
        if (result == SL_ECONNRESET)
            reason = SL_WIRE_R_RESET;
        else if (result < 0 && result != SL_EPIPE)
            reason = SL_WIRE_R_READ_ERROR;
        sl_mutex_lock(&s->lock);
        stopped = c->stopped;
        idle = c->idle;
        sl_mutex_unlock(&s->lock);
        if (idle && !stopped && reason == SL_WIRE_R_EOF) {
            /* Ended by --idle-timeout: whatever it sent (part of the
             * magic or of a hello) is no event; not a violation. A
             * connection that sent nothing leaves no record. */
            c->discarded = c->len;
            conn_end(s, c, SL_WIRE_R_IDLE, 0);
            return;
        }
        if (stopped && reason == SL_WIRE_R_EOF) {
            /* The stop ended this stream, not its producer: what is left
             * is the start of an event it had not finished sending (a
             * text line without its newline, a frame cut short, a prefix
             * of the magic). Store no fragment and blame nobody: count
             * the bytes and say STOPPED (protocol.md section 9). Every
             * whole event before it is already in the ring. */
            c->discarded = c->len;
            conn_end(s, c, SL_WIRE_R_STOPPED, 0);
            return;
        }
        rc = sl_wire_finish(&c->wire, c->buf, c->len, ev, EV_CAP, &n);
        emit(s, c, ev, n, now);
        if (rc != 0) {
            reason = c->wire.reason;
            malformed = 1;
        }
        conn_end(s, c, reason, malformed);
        return;
    }
    c->len += (size_t)result;
    if (c->kind == CONN_UNDECIDED) {
        /* The first 8 bytes decide: the control magic makes a control
         * connection (never a producer), anything else a producer. */
        size_t k = c->len < SL_WIRE_MAGIC_LEN ? c->len : SL_WIRE_MAGIC_LEN;

        if (memcmp(c->buf, SL_WIRE_CTL_MAGIC, k) != 0) {
            c->kind = CONN_PRODUCER;
        } else if (k == SL_WIRE_MAGIC_LEN) {
            c->kind = CONN_CONTROL;
            ctl_admit(s, c);
        } else {
            sl_srv_post_read(s, c);
            return;
        }
    }
    if (c->kind == CONN_CONTROL) {
        sl_ctl_on_read(s, c);
        return;
    }
    if (c->ctl_only) {
        sl_srv_conn_free(s, c); /* a refused producer: nothing kept */
        return;
    }
    if (!c->active) {
        c->active = 1;
        atomic_fetch_add_explicit(&s->producers, 1, memory_order_relaxed);
    }
    for (;;) {
        rc = sl_wire_parse(&c->wire, c->buf + off, c->len - off, ev, EV_CAP,
                           &n, &used);
        emit(s, c, ev, n, now);
        off += used;
        if (rc != 0) {
            conn_end(s, c, c->wire.reason, 1);
            return;
        }
        if (n < EV_CAP)
            break;
    }
    if (c->wire.mode == SL_WIRE_MODE_TEXT || c->wire.hello_done)
        atomic_store_explicit(&c->identified, 1, memory_order_relaxed);
    if (off > 0) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    rc = fit_buffer(s, c);
    if (rc != 0) {
        sl_srv_logf(s, "producer %u: cannot grow its buffer: %s", c->id,
              sl_strerror(rc));
        conn_end(s, c, SL_WIRE_R_READ_ERROR, 0);
        return;
    }
    sl_srv_post_read(s, c);
}

/* ---- --idle-timeout ---------------------------------------------------- */

/*
 * The reaper: a thread that, a few times per timeout, drains every
 * connection that has not identified itself within idle_timeout_s of its
 * accept. Draining (io.h) makes the connection's pending read complete
 * with end of stream once the bytes already sent are read; its worker
 * then ends it as IDLE (on_read). The list and `idle` are under the lock,
 * as for the stop, so a connection is never drained after it was
 * released. Refused connections (id 0) end by themselves after their
 * refusal greeting.
 */
static void
reaper_main(void *p)
{
    sl_server *s = p;
    uint64_t limit = (uint64_t)s->cfg.idle_timeout_s * 1000000000u;
    uint64_t period = limit / 4;

    if (period > 1000000000u)
        period = 1000000000u;
    if (period < 50000000u)
        period = 50000000u;
    sl_mutex_lock(&s->lock);
    while (!s->draining) {
        uint64_t now = sl_os_mono_ns();
        unsigned n = 0;

        for (conn *c = s->conns; c != NULL; c = c->next) {
            /* Refused connections (id 0) end by themselves, except the
             * ones kept for a control request, which are ended too. */
            if ((c->id == 0 && !c->ctl_only && c->kind != CONN_CONTROL) ||
                c->idle || c->stopped ||
                now - c->accepted_ns < limit ||
                atomic_load_explicit(&c->identified, memory_order_relaxed))
                continue;
            c->idle = 1;
            s->backend->drain(s->io, c->io);
            n++;
        }
        if (n > 0) {
            atomic_fetch_add_explicit(&s->idle, n, memory_order_relaxed);
            sl_srv_logf(s, "closing %u connection%s that did not identify "
                  "themselves within --idle-timeout %us", n, n == 1 ? "" : "s",
                  s->cfg.idle_timeout_s);
        }
        sl_cond_timedwait(&s->reaper_cv, &s->lock, period);
    }
    sl_mutex_unlock(&s->lock);
}

/* ---- workers ----------------------------------------------------------- */

typedef struct worker_arg {
    sl_server *s;
    unsigned index;
} worker_arg;

static void
worker_main(void *p)
{
    worker_arg *wa = p;
    sl_server *s = wa->s;
    sl_io_event ev[IO_BATCH];

    for (;;) {
        size_t n = 0;
        /* Acquire pairs with the release in sl_server_stop(): a wait()
         * that starts after seeing `stopping` starts after
         * stop_accepting(), so, returning with room to spare, it has
         * reported every connection left for this worker (io.h). Until
         * then, wait without a timeout: stop and the last conn_free()
         * wake us. */
        int stop_seen =
            atomic_load_explicit(&s->stopping, memory_order_acquire);
        int idle = stop_seen &&
                   atomic_load_explicit(&s->live, memory_order_acquire) == 0;
        int rc = s->backend->wait(s->io, wa->index, ev, IO_BATCH, &n,
                                  idle ? 0 : -1);

        if (rc != 0) {
            sl_srv_logf(s, "worker %u: wait failed: %s", wa->index,
                  sl_strerror(rc));
            sl_os_sleep_ns(10000000u);
        }
        for (size_t i = 0; i < n; i++) {
            conn *c = ev[i].conn->user;

            switch (ev[i].kind) {
            case SL_IO_ACCEPT:
                on_accept(s, ev[i].conn);
                break;
            case SL_IO_WRITE:
                on_write(s, c, ev[i].result);
                break;
            case SL_IO_READ:
                on_read(s, c, ev[i].result);
                break;
            case SL_IO_PUSH:
                sl_ctl_on_write(s, c, ev[i].result, 1);
                break;
            }
        }
        if (stop_seen && rc == 0 && n < IO_BATCH &&
            atomic_load_explicit(&s->live, memory_order_acquire) == 0)
            break;
    }
    free(wa);
}

/* ---- open / stop ------------------------------------------------------- */

/* The writer's first error, passed on as it happens (writer thread). */
/* The flight recorder's chunks: BYTES/SL_FLIGHT_CHUNKS each, the newest
 * SL_FLIGHT_CHUNKS full ones kept besides the current one, so it holds
 * between BYTES and 1.25 x BYTES. Its blocks are at most a quarter of a
 * chunk (and the usual 1 MiB), so a chunk is never one huge block. */
#define SL_FLIGHT_CHUNKS 4u

static size_t
flight_block_target(uint64_t bytes)
{
    uint64_t t = bytes / SL_FLIGHT_CHUNKS / 4u;

    return t < (1u << 20) ? (size_t)t : (size_t)1u << 20;
}

static void
on_writer_error(void *ctx, int err)
{
    sl_server *s = ctx;

    if (s->cfg.on_event != NULL)
        s->cfg.on_event(s->cfg.event_ctx, SL_SERVER_WRITE_FAILED, err);
}

static int
open_backend(sl_server *s)
{
    sl_io_config io_cfg;
    int rc = SL_ENOSYS;

    memset(&io_cfg, 0, sizeof(io_cfg));
    io_cfg.path = s->cfg.path;
    io_cfg.workers = s->cfg.workers;
    io_cfg.instances = s->cfg.instances;
    io_cfg.backlog = 4096;
    io_cfg.allow_remote = s->cfg.allow_remote;
    io_cfg.group = s->cfg.share_group ? s->cfg.group : SL_IO_NO_GROUP;
    if (s->cfg.io_backend != NULL) {
        s->backend = s->cfg.io_backend;
        return s->backend->open(&io_cfg, &s->io);
    }
    if (s->cfg.backend != NULL && strcmp(s->cfg.backend, "auto") != 0) {
        s->backend = sl_io_find(s->cfg.backend);
        if (s->backend == NULL)
            return SL_ENOSYS;
        return s->backend->open(&io_cfg, &s->io);
    }
    for (size_t i = 0; sl_io_backends[i] != NULL; i++) {
        s->backend = sl_io_backends[i];
        rc = s->backend->open(&io_cfg, &s->io);
        if (rc != SL_ENOSYS)
            return rc;
        if (sl_io_backends[i + 1] != NULL)
            sl_srv_logf(s, "%s backend unavailable here; trying %s",
                  s->backend->name, sl_io_backends[i + 1]->name);
    }
    return rc;
}

int
sl_server_open(const sl_server_config *cfg, sl_server **out,
               sl_server_stage *stage)
{
    sl_server *s;
    sl_writer_config wc;
    size_t biggest;
    int rc;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        *stage = SL_STAGE_CONFIG;
        return SL_ENOMEM;
    }
    s->cfg = *cfg;
    if (s->cfg.workers == 0)
        s->cfg.workers = 1;
    if (s->cfg.conn_buffer < 4096)
        s->cfg.conn_buffer = 4096;
    if (s->cfg.conn_buffer > s->cfg.max_frame)
        s->cfg.conn_buffer = s->cfg.max_frame;
    sl_mutex_init(&s->lock);
    sl_cond_init(&s->reaper_cv);
    atomic_store_explicit(&s->next_id, cfg->first_id != 0 ? cfg->first_id : 1,
                          memory_order_relaxed);
    s->cfg.allow_uids = NULL;
    if (cfg->allow_uids != NULL) {
        s->allow_uids = malloc((cfg->allow_uids_len + 1) * sizeof(uint32_t));
        if (s->allow_uids == NULL) {
            sl_cond_destroy(&s->reaper_cv);
            sl_mutex_destroy(&s->lock);
            free(s);
            *stage = SL_STAGE_CONFIG;
            return SL_ENOMEM;
        }
        memcpy(s->allow_uids, cfg->allow_uids,
               cfg->allow_uids_len * sizeof(uint32_t));
    }

    *stage = SL_STAGE_RING;
    rc = sl_ring_open(cfg->ring_bytes, &s->ring);
    if (rc != 0)
        goto fail;
    /* One record of the largest event plus a drop record must fit in one
     * reservation. */
    biggest = sl_cap_rec_size(cfg->max_frame) + sl_cap_rec_size(SL_CAP_DROP_LEN);
    if (biggest > sl_ring_max_reserve(s->ring)) {
        *stage = SL_STAGE_CONFIG;
        rc = SL_EINVAL;
        goto fail;
    }
    s->batch_max = sl_ring_max_reserve(s->ring) / 4;
    if (s->batch_max > (4u << 20))
        s->batch_max = 4u << 20;
    if (s->batch_max < biggest)
        s->batch_max = biggest;

    /* The plain capture file is opened and checked before the pipe is
     * bound: a FIFO, a directory, a file another collector writes (its
     * lock) or a read-only file system is refused before any producer can
     * connect, and nothing ever blocks in an open with clients waiting.
     * If the pipe then fails, a file this start created is removed. */
    if (cfg->open_sink == NULL && cfg->flight_bytes != 0) {
        sl_sink_flight_config fl_cfg;

        /* No file until a trigger (sink_flight.c): nothing to check now
         * but the name pattern, which collector_main.c did. */
        memset(&fl_cfg, 0, sizeof(fl_cfg));
        fl_cfg.path = cfg->out_path;
        fl_cfg.flags = cfg->share_group ? SL_OS_FILE_GROUP : 0;
        fl_cfg.set_group = cfg->share_group;
        fl_cfg.gid = cfg->group;
        fl_cfg.keep = SL_FLIGHT_CHUNKS;
        fl_cfg.block_target = flight_block_target(cfg->flight_bytes);
        *stage = SL_STAGE_FILE;
        rc = sl_sink_flight_open(&fl_cfg, &s->sink);
        if (rc != 0)
            goto fail;
    } else if (cfg->open_sink == NULL && cfg->rotate_set) {
        sl_sink_rotate_config rc_cfg;

        /* Every chunk is made like the plain file: same flags, group. */
        memset(&rc_cfg, 0, sizeof(rc_cfg));
        rc_cfg.path = cfg->out_path;
        rc_cfg.flags = (cfg->force ? SL_OS_FILE_FORCE : 0) |
                       (cfg->share_group ? SL_OS_FILE_GROUP : 0);
        rc_cfg.set_group = cfg->share_group;
        rc_cfg.gid = cfg->group;
        rc_cfg.keep = cfg->keep;
        rc_cfg.max_total = cfg->max_total;
        rc_cfg.retain = cfg->retain;
        *stage = SL_STAGE_FILE;
        rc = sl_sink_rotate_open(&rc_cfg, &s->sink);
        if (rc != 0)
            goto fail;
    } else if (cfg->open_sink == NULL) {
        *stage = SL_STAGE_FILE;
        rc = sl_sink_file_open(cfg->out_path,
                               (cfg->force ? SL_OS_FILE_FORCE : 0) |
                                   (cfg->share_group ? SL_OS_FILE_GROUP : 0),
                               &s->sink);
        /* --group: the capture, 0640, belongs to the socket's group. */
        if (rc == 0 && cfg->share_group) {
            rc = sl_sink_file_set_group(s->sink, cfg->group);
            if (rc != 0) {
                sl_sink_file_discard(s->sink);
                s->sink = NULL;
            }
        }
        if (rc != 0)
            goto fail;
    }

    *stage = SL_STAGE_PIPE;
    rc = open_backend(s);
    if (rc != 0) {
        s->io = NULL;
        if (cfg->open_sink == NULL && cfg->flight_bytes != 0)
            sl_sink_close(s->sink); /* it made no file */
        else if (cfg->open_sink == NULL && cfg->rotate_set)
            sl_sink_rotate_discard(s->sink);
        else
            sl_sink_file_discard(s->sink);
        s->sink = NULL;
        goto fail;
    }

    *stage = SL_STAGE_FILE;
    if (cfg->open_sink != NULL)
        rc = cfg->open_sink(cfg->sink_ctx, &s->sink);
    if (rc != 0)
        goto fail;
    memset(&wc, 0, sizeof(wc));
    sl_os_hostname(s->host, sizeof(s->host));
    wc.ring = s->ring;
    wc.sink = s->sink;
    wc.start_ns = sl_os_now_ns();
    wc.pipe = cfg->pipe;
    wc.pipe_len = cfg->pipe_len;
    wc.host = s->host;
    wc.host_len = strlen(s->host);
    wc.block_target = 1u << 20;
    wc.codec = cfg->codec;
    wc.codec_level = cfg->codec_level;
    wc.chunked = cfg->rotate_set;
    wc.rotate_bytes = cfg->rotate_bytes;
    wc.rotate_ns = cfg->rotate_ns;
    wc.trigger_type = -1;
    if (cfg->flight_bytes != 0) {
        /* The flight recorder is rotation in memory: chunks of BYTES/4,
         * the newest SL_FLIGHT_CHUNKS full ones kept (sink_flight.c). */
        wc.flight = 1;
        wc.chunked = 1;
        wc.rotate_bytes = cfg->flight_bytes / SL_FLIGHT_CHUNKS;
        wc.rotate_ns = 0;
        wc.block_target = flight_block_target(cfg->flight_bytes);
        wc.trigger_type = cfg->trigger_type;
        wc.trigger_after_ns = cfg->trigger_after_ns;
        wc.flight_bytes = cfg->flight_bytes;
    }
    wc.on_error = on_writer_error;
    wc.on_error_ctx = s;
    wc.retain = cfg->rotate_set ? cfg->retain : NULL;
    rc = sl_writer_open(&wc, &s->writer);
    if (rc != 0)
        goto fail;
    rc = sl_ctl_open(s);
    if (rc != 0)
        goto fail;

    *stage = SL_STAGE_THREADS;
    s->workers = calloc(s->cfg.workers, sizeof(*s->workers));
    if (s->workers == NULL) {
        rc = SL_ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < s->cfg.workers; i++) {
        worker_arg *wa = malloc(sizeof(*wa));

        if (wa == NULL) {
            rc = SL_ENOMEM;
            goto fail;
        }
        wa->s = s;
        wa->index = i;
        rc = sl_os_thread_start(worker_main, wa, &s->workers[i]);
        if (rc != 0) {
            free(wa);
            goto fail;
        }
        s->nworkers++;
    }
    if (s->cfg.idle_timeout_s > 0) {
        rc = sl_os_thread_start(reaper_main, s, &s->reaper);
        if (rc != 0) {
            s->reaper = NULL;
            goto fail;
        }
    }
    *out = s;
    return 0;

fail:
    if (s->nworkers > 0 || s->writer != NULL) {
        sl_server_close(s);
    } else {
        if (s->io != NULL)
            s->backend->close(s->io);
        sl_sink_close(s->sink);
        sl_ring_close(s->ring);
        sl_cond_destroy(&s->reaper_cv);
        sl_mutex_destroy(&s->lock);
        free(s->allow_uids);
        free(s->workers);
        free(s);
    }
    return rc;
}

const char *
sl_server_backend(const sl_server *s)
{
    return s->backend->name;
}

void
sl_server_get_stats(const sl_server *s, sl_server_stats *o)
{
    sl_server *m = (sl_server *)s; /* atomics are read-only here */

    o->producers_total =
        atomic_load_explicit(&m->producers, memory_order_relaxed);
    o->ended = atomic_load_explicit(&m->ended, memory_order_relaxed);
    o->producers_now = o->producers_total - o->ended;
    o->refused = atomic_load_explicit(&m->refused, memory_order_relaxed);
    o->events = atomic_load_explicit(&m->events, memory_order_relaxed);
    o->bytes = atomic_load_explicit(&m->bytes, memory_order_relaxed);
    o->dropped = atomic_load_explicit(&m->dropped, memory_order_relaxed);
    o->malformed = atomic_load_explicit(&m->malformed, memory_order_relaxed);
    o->idle = atomic_load_explicit(&m->idle, memory_order_relaxed);
    o->ring_used = sl_ring_used(s->ring);
    o->ring_capacity = sl_ring_capacity(s->ring);
    o->file_bytes = s->writer ? sl_writer_bytes(s->writer) : 0;
}

int
sl_server_rotate(sl_server *s)
{
    return s->writer != NULL ? sl_writer_request_rotate(s->writer)
                             : SL_ECANCELED;
}

int
sl_server_snapshot(sl_server *s, char *name, size_t cap)
{
    if (cap > 0)
        name[0] = '\0';
    if (s->writer == NULL)
        return SL_ECANCELED;
    if (s->cfg.flight_bytes != 0)
        return sl_writer_request_trigger(s->writer, SLUICE_TRIGGER_CTL, name,
                                         cap);
    return sl_writer_request_snapshot(s->writer);
}

int
sl_server_trigger(sl_server *s, unsigned cause, char *name, size_t cap)
{
    if (cap > 0)
        name[0] = '\0';
    return s->writer != NULL
               ? sl_writer_request_trigger(s->writer, cause, name, cap)
               : SL_ECANCELED;
}

uint64_t
sl_server_chunk(const sl_server *s)
{
    /* A flight recorder's chunks are in memory: no file to name. */
    return s->writer != NULL && s->cfg.flight_bytes == 0
               ? sl_writer_chunk(s->writer)
               : 0;
}

int
sl_server_error(const sl_server *s)
{
    return s->writer ? sl_writer_error(s->writer) : 0;
}

int
sl_server_stop(sl_server *s)
{
    sl_writer_summary sum;
    sl_server_stats st;
    int rc = 0;

    if (s->stopped)
        return s->writer ? sl_writer_error(s->writer) : 0;
    s->stopped = 1;
    if (s->io != NULL) {
        s->backend->stop_accepting(s->io);
        sl_mutex_lock(&s->lock);
        s->draining = 1;
        for (conn *c = s->conns; c != NULL; c = c->next)
            if (!c->idle)
                c->stopped = !s->backend->drain(s->io, c->io);
        sl_cond_broadcast(&s->reaper_cv);
        sl_mutex_unlock(&s->lock);
        atomic_store_explicit(&s->stopping, 1, memory_order_release);
        s->backend->wake(s->io);
    }
    if (s->reaper != NULL) {
        sl_mutex_lock(&s->lock);
        s->draining = 1;
        sl_cond_broadcast(&s->reaper_cv);
        sl_mutex_unlock(&s->lock);
        sl_os_thread_join(s->reaper);
        s->reaper = NULL;
    }
    for (unsigned i = 0; i < s->nworkers; i++)
        sl_os_thread_join(s->workers[i]);
    s->nworkers = 0;
    if (s->writer != NULL) {
        sl_server_get_stats(s, &st);
        sum.producers = st.producers_total;
        sum.events = st.events;
        sum.bytes = st.bytes;
        sum.dropped = st.dropped;
        sum.malformed = st.malformed;
        rc = sl_writer_finish(s->writer, &sum);
    }
    return rc;
}

void
sl_server_close(sl_server *s)
{
    if (s == NULL)
        return;
    sl_server_stop(s);
    /* Workers are gone: whatever is still listed was never ended (only on
     * an open failure); free it without records. */
    while (s->conns != NULL) {
        conn *c = s->conns;
        s->conns = c->next;
        s->backend->release(s->io, c->io);
        free(c->buf);
        free(c);
    }
    if (s->io != NULL)
        s->backend->close(s->io);
    sl_writer_close(s->writer);
    sl_sink_close(s->sink);
    sl_ring_close(s->ring);
    sl_cond_destroy(&s->reaper_cv);
    sl_ctl_close(s);
    sl_mutex_destroy(&s->lock);
    free(s->allow_uids);
    free(s->workers);
    free(s);
}
