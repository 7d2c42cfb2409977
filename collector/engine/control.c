/*
 * The control plane (docs/protocol.md sections 13 and 14): the state the
 * collector gives its producers (configuration pairs and the set of
 * enabled event types), the STATE frames that carry it, the capture's
 * state records, and control connections (sluice-ctl).
 *
 * State. s->state is the current state and s->snap its encoded STATE
 * frame, both under ctl_lock. A change (enable, disable, config) makes a
 * new state with the next generation, records it in the capture and
 * pushes it, all under ctl_lock, so records and pushes follow the order
 * of the generations.
 *
 * Pushes are latest-state-wins, not a queue. Each subscribed connection
 * has at most one STATE write in flight (the io.h push beside its read).
 * When it completes, the connection is brought up to the current
 * generation with one more write if it fell behind; a change made while a
 * write is in flight therefore costs that connection nothing until then,
 * and a producer that never reads has one write pending forever, costing
 * a reference to one snapshot, never a worker. Nothing polls: the
 * completion of the write in flight (the socket or pipe became writable
 * and took the bytes) is what sends the next one.
 *
 * Locks: ctl_lock, then the server's list lock, then a connection's
 * push_lock; never the other way round. A connection with `writing` set
 * is not freed (the read side's end waits for the write's completion,
 * after cancelling it), which is what lets a completion drop push_lock to
 * take ctl_lock.
 *
 * Control connections start with SL_WIRE_CTL_MAGIC instead of the binary
 * magic. One request (words separated by NUL bytes, ended by '\n'), one
 * response (text: "ok" or "error: MESSAGE" on the first line, then the
 * body, at most SL_WIRE_CTL_RESPONSE_MAX bytes), then the collector
 * closes. They are never producers: they give back the producer slot and
 * id their accept took (server.c, ctl_admit()), write no record and are
 * counted nowhere; at most SL_WIRE_CTL_CONNS_MAX are served at once,
 * also when every producer slot is taken.
 */
#include "server_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "err.h"
#include "escape.h"
#include "sink.h"

#define CTL_REQ_MAX (SL_STATE_PAIRS_MAX * 2u + 4096u) /* request bytes */
#define CTL_WORDS_MAX 4096u

/* ---- snapshots ---------------------------------------------------------- */

void
sl_ctl_snap_put(sl_ctl_snap *snap)
{
    /* acq_rel: the last owner's reads of the frame happen before the
     * free. */
    if (snap != NULL &&
        atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1)
        free(snap);
}

static sl_ctl_snap *
snap_ref(sl_ctl_snap *snap)
{
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    return snap;
}

/* Encodes s->state as a STATE frame. With ctl_lock held (or before the
 * workers start). */
static sl_ctl_snap *
make_snap(sl_server *s)
{
    size_t pl = sl_state_size(s->state);
    sl_ctl_snap *snap = malloc(sizeof(*snap) + SL_WIRE_FRAME_HDR + pl);

    if (snap == NULL)
        return NULL;
    atomic_init(&snap->refs, 1);
    snap->gen = s->state->gen;
    snap->len = SL_WIRE_FRAME_HDR + pl;
    sl_wire_frame_header(snap->frame, (uint32_t)snap->len, SL_WIRE_T_STATE, 0,
                         sl_os_now_ns());
    sl_state_encode(s->state, snap->frame + SL_WIRE_FRAME_HDR);
    return snap;
}

/* The capture's state record: the STATE frame's payload, producer 0. */
static void
record_state(sl_server *s, const sl_ctl_snap *snap, uint64_t now)
{
    size_t pl = snap->len - SL_WIRE_FRAME_HDR;
    sl_ring_resv res;

    sl_srv_reserve(s, sl_cap_rec_size(pl), &res);
    sl_cap_rec_put(res.ptr, SL_CAP_T_STATE, 0, 0, 0, now,
                   snap->frame + SL_WIRE_FRAME_HDR, pl);
    sl_ring_commit(s->ring, &res);
}

static sl_ctl_snap *
current_snap(sl_server *s)
{
    sl_ctl_snap *snap;

    sl_mutex_lock(&s->ctl_lock);
    snap = snap_ref(s->snap);
    sl_mutex_unlock(&s->ctl_lock);
    return snap;
}

int
sl_ctl_open(sl_server *s)
{
    sl_mutex_init(&s->ctl_lock);
    s->state = malloc(sizeof(*s->state));
    if (s->state == NULL)
        return SL_ENOMEM;
    if (s->cfg.state != NULL)
        memcpy(s->state, s->cfg.state, sizeof(*s->state));
    else
        sl_state_init(s->state);
    s->state->gen = 1;
    s->snap = make_snap(s);
    if (s->snap == NULL)
        return SL_ENOMEM;
    s->start_mono = sl_os_mono_ns();
    s->rate_ns = s->start_mono;
    /* The default state (every type enabled, no configuration) is what a
     * capture without state records means: recorded only once it is not
     * the default, then at each change (docs/capture-format.md 7.2a). */
    if (sl_ctl_cfg_flag(s))
        record_state(s, s->snap, sl_os_now_ns());
    return 0;
}

void
sl_ctl_close(sl_server *s)
{
    if (s->state == NULL && s->snap == NULL)
        return;
    sl_ctl_snap_put(s->snap);
    s->snap = NULL;
    free(s->state);
    s->state = NULL;
    sl_mutex_destroy(&s->ctl_lock);
}

int
sl_ctl_cfg_flag(sl_server *s)
{
    int any;

    sl_mutex_lock(&s->ctl_lock);
    any = s->state->npairs > 0;
    for (size_t i = 0; !any && i < SL_STATE_MAP_BYTES; i++)
        any = s->state->enabled[i] != 0xFF;
    sl_mutex_unlock(&s->ctl_lock);
    return any;
}

/* ---- pushes ------------------------------------------------------------- */

/* Starts writing snap to c if c is behind it and nothing is in flight.
 * With c->push_lock held. */
static void
push_locked(sl_server *s, conn *c, sl_ctl_snap *snap)
{
    int rc;

    if (c->writing || c->read_done || c->push_dead || c->sent_gen >= snap->gen)
        return;
    c->wsnap = snap_ref(snap);
    c->sent_gen = snap->gen;
    c->writing = 1;
    rc = s->backend->push(s->io, c->io, snap->frame, snap->len);
    if (rc != 0) {
        c->writing = 0;
        c->push_dead = 1;
        sl_ctl_snap_put(c->wsnap);
        c->wsnap = NULL;
    }
}

/* Every subscribed producer to the current state. With ctl_lock held. */
static void
push_all(sl_server *s)
{
    sl_mutex_lock(&s->lock);
    for (conn *c = s->conns; c != NULL; c = c->next) {
        sl_mutex_lock(&c->push_lock);
        if (c->subscribed)
            push_locked(s, c, s->snap);
        sl_mutex_unlock(&c->push_lock);
    }
    sl_mutex_unlock(&s->lock);
}

void
sl_ctl_hello(sl_server *s, conn *c)
{
    uint32_t want = c->wire.want;
    sl_ctl_snap *snap;

    if (c->wire.mode != SL_WIRE_MODE_BINARY ||
        (want & SL_WIRE_WANT_ALL) == 0)
        return;
    snap = current_snap(s);
    sl_mutex_lock(&c->push_lock);
    c->subscribed = (want & SL_WIRE_WANT_UPDATES) != 0;
    if (want & SL_WIRE_WANT_CONFIG)
        push_locked(s, c, snap);
    else
        c->sent_gen = snap->gen; /* updates only: from the next change */
    sl_mutex_unlock(&c->push_lock);
    sl_ctl_snap_put(snap);
}

/* A state push completed. Any worker, maybe while another handles the
 * connection's read. */
static void
push_done(sl_server *s, conn *c, int64_t result)
{
    sl_ctl_snap *snap;
    int free_it;

    sl_mutex_lock(&c->push_lock);
    sl_ctl_snap_put(c->wsnap);
    c->wsnap = NULL;
    if (result < 0)
        c->push_dead = 1; /* the producer has gone, or stopped reading
                             at a stop: no more pushes */
    if (c->read_done || c->push_dead) {
        c->writing = 0;
        free_it = c->read_done;
        sl_mutex_unlock(&c->push_lock);
        if (free_it)
            sl_srv_conn_free(s, c);
        return;
    }
    /* `writing` stays set while push_lock is dropped to take ctl_lock
     * (lock order), so the read side cannot free c meanwhile. */
    sl_mutex_unlock(&c->push_lock);
    snap = current_snap(s);
    sl_mutex_lock(&c->push_lock);
    c->writing = 0;
    free_it = c->read_done;
    if (!free_it)
        push_locked(s, c, snap);
    sl_mutex_unlock(&c->push_lock);
    sl_ctl_snap_put(snap);
    if (free_it)
        sl_srv_conn_free(s, c);
}

void
sl_ctl_read_done(sl_server *s, conn *c)
{
    int writing;

    sl_mutex_lock(&c->push_lock);
    c->read_done = 1;
    writing = c->writing;
    /* Under push_lock, so the completion (which frees c) waits: a write
     * that a producer never reads would otherwise stay pending for ever
     * and hold the stop up. */
    if (writing)
        s->backend->push_cancel(s->io, c->io);
    sl_mutex_unlock(&c->push_lock);
    if (!writing)
        sl_srv_conn_free(s, c);
}

/* ---- text buffers ------------------------------------------------------- */

typedef struct tbuf {
    char *p;
    size_t len, cap;
    int oom;
} tbuf;

static void
tb_add(tbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *np;

        while (cap < b->len + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
tb_printf(tbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void
tb_printf(tbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        tb_add(b, tmp, (size_t)n);
        return;
    }
    {
        char *big = malloc((size_t)n + 1);

        if (big == NULL) {
            b->oom = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        tb_add(b, big, (size_t)n);
        free(big);
    }
}

/* A JSON string of n bytes (control characters and '"' '\\' escaped;
 * other bytes as they are). */
static void
tb_json(tbuf *b, const char *s, size_t n)
{
    tb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            tb_add(b, e, 2);
        } else if (ch < 0x20 || ch == 0x7F) {
            tb_printf(b, "\\u%04x", ch);
        } else {
            tb_add(b, s + i, 1);
        }
    }
    tb_add(b, "\"", 1);
}

/* The types whose bit is `value`, as ranges; "" when none. */
static void
tb_types(tbuf *b, const uint8_t *map, int value)
{
    size_t n = sl_state_format_types(map, value, NULL, 0);
    char *t = malloc(n + 1);

    if (t == NULL) {
        b->oom = 1;
        return;
    }
    sl_state_format_types(map, value, t, n + 1);
    tb_add(b, t, n);
    free(t);
}

/* tb_types(), "-" when there are none (text output). */
static void
tb_types_text(tbuf *b, const uint8_t *map, int value)
{
    if (sl_state_format_types(map, value, NULL, 0) == 0)
        tb_add(b, "-", 1);
    else
        tb_types(b, map, value);
}

/* ---- requests ----------------------------------------------------------- */

/* The forwarding part of status (--forward), from the owner's hook: in
 * JSON one "forward" object (null when the collector does not forward);
 * in text an indented block, the last error escaped as the collector's log
 * lines are (sl_escape_str: no control byte, no line break), so it stays
 * one line whatever the server said. */
static void
tb_forward(sl_server *s, tbuf *b, int json)
{
    sl_server_fwd_status fs;
    char err[sizeof(fs.last_error) * 4 + 4];

    if (s->cfg.forward_status == NULL) {
        if (json)
            tb_add(b, ",\"forward\":null", 15);
        return;
    }
    memset(&fs, 0, sizeof(fs));
    s->cfg.forward_status(s->cfg.forward_arg, &fs);
    fs.last_error[sizeof(fs.last_error) - 1] = '\0';
    if (json) {
        tb_printf(b, ",\"forward\":{\"connected\":%s,\"forwarded_blocks\":%"
                  PRIu64 ",\"forwarded_bytes\":%" PRIu64
                  ",\"pending_blocks\":%" PRIu64 ",\"pending_bytes\":%"
                  PRIu64 ",\"duplicates\":%" PRIu64 ",\"errors\":%" PRIu64
                  ",\"expired_unforwarded\":%" PRIu64
                  ",\"last_error\":", fs.connected ? "true" : "false",
                  fs.forwarded_blocks, fs.forwarded_bytes, fs.pending_blocks,
                  fs.pending_bytes, fs.duplicates, fs.errors,
                  fs.expired_unforwarded);
        tb_json(b, fs.last_error, strlen(fs.last_error));
        tb_add(b, "}", 1);
        return;
    }
    sl_escape_str(err, sizeof(err), fs.last_error, strlen(fs.last_error), 0);
    tb_printf(b, "forward: %s\n  forwarded: %" PRIu64 " blocks, %" PRIu64
              " bytes\n  pending: %" PRIu64 " blocks, %" PRIu64 " bytes\n"
              "  duplicates: %" PRIu64 "\n  errors: %" PRIu64
              "\n  expired unforwarded: %" PRIu64 " blocks"
              "\n  last error: %s\n",
              fs.connected ? "connected" : "disconnected", fs.forwarded_blocks,
              fs.forwarded_bytes, fs.pending_blocks, fs.pending_bytes,
              fs.duplicates, fs.errors, fs.expired_unforwarded,
              err[0] != '\0' ? err : "-");
}

static void
do_status(sl_server *s, tbuf *b, int json)
{
    sl_server_stats st;
    uint64_t filtered, now, dt;
    double eps, mbps, fill;
    sl_state_view v;
    size_t off = 0;
    const char *k, *val;
    size_t kl, vl;
    char chunk_name[4096];
    const char *cap = s->cfg.out_path;
    uint64_t chunk = sl_server_chunk(s);

    /* A rotating capture: the chunk being written now. */
    if (cap != NULL && chunk != 0 &&
        sl_chunk_name(chunk_name, sizeof(chunk_name), cap, chunk) == 0)
        cap = chunk_name;
    /* A flight recorder writes no capture file: its snapshots' pattern. */
    if (cap != NULL && s->cfg.flight_bytes != 0 &&
        sl_snapshot_name(chunk_name, sizeof(chunk_name), cap, 0) == 0 &&
        strlen(chunk_name) >= 3) {
        char *z = strstr(chunk_name, ".snapshot-000");

        if (z != NULL)
            memcpy(z + 10, "NNN", 3);
        cap = chunk_name;
    }
    sl_server_get_stats(s, &st);
    filtered = atomic_load_explicit(&s->filtered_ended, memory_order_relaxed);
    sl_mutex_lock(&s->lock);
    for (conn *c = s->conns; c != NULL; c = c->next)
        filtered += atomic_load_explicit(&c->filtered, memory_order_relaxed);
    sl_mutex_unlock(&s->lock);
    /* Rates over the time since the previous status request (or the
     * start); ctl_lock is held by the caller. */
    now = sl_os_mono_ns();
    dt = now - s->rate_ns;
    eps = dt ? (double)(st.events - s->rate_events) * 1e9 / (double)dt : 0;
    mbps = dt ? (double)(st.bytes - s->rate_bytes) * 1e3 / (double)dt : 0;
    s->rate_ns = now;
    s->rate_events = st.events;
    s->rate_bytes = st.bytes;
    fill = st.ring_capacity
               ? 100.0 * (double)st.ring_used / (double)st.ring_capacity
               : 0;
    sl_state_decode(s->snap->frame + SL_WIRE_FRAME_HDR,
                    s->snap->len - SL_WIRE_FRAME_HDR, &v);
    if (json) {
        tb_printf(b, "{\"producers_now\":%" PRIu64 ",\"producers_total\":%"
                  PRIu64 ",\"events\":%" PRIu64 ",\"bytes\":%" PRIu64
                  ",\"events_per_s\":%.0f,\"mb_per_s\":%.3f,"
                  "\"ring_fill_pct\":%.1f,\"dropped\":%" PRIu64
                  ",\"malformed\":%" PRIu64 ",\"filtered\":%" PRIu64
                  ",\"refused\":%" PRIu64 ",\"state_gen\":%" PRIu64
                  ",\"enabled\":", st.producers_now, st.producers_total,
                  st.events, st.bytes, eps, mbps, fill, st.dropped,
                  st.malformed, filtered, st.refused, s->state->gen);
        tb_add(b, "\"", 1);
        tb_types(b, s->state->enabled, 1);
        tb_add(b, "\",\"disabled\":\"", 14);
        tb_types(b, s->state->enabled, 0);
        tb_add(b, "\",\"config\":{", 12);
        for (int first = 1; sl_state_next_pair(&v, &off, &k, &kl, &val, &vl);
             first = 0) {
            if (!first)
                tb_add(b, ",", 1);
            tb_json(b, k, kl);
            tb_add(b, ":", 1);
            tb_json(b, val, vl);
        }
        tb_add(b, "},\"capture\":[", 13);
        if (cap != NULL)
            tb_json(b, cap, strlen(cap));
        tb_add(b, "]", 1);
        tb_forward(s, b, 1);
        tb_add(b, "}\n", 2);
        return;
    }
    tb_printf(b, "producers: %" PRIu64 " now, %" PRIu64 " total\n"
              "events: %" PRIu64 " (%.0f/s)\nbytes: %" PRIu64
              " (%.3f MB/s)\nring: %.1f%% full\ndropped: %" PRIu64
              "\nmalformed: %" PRIu64 "\nfiltered: %" PRIu64
              "\nrefused: %" PRIu64 "\nstate: generation %" PRIu64
              "\nenabled: ", st.producers_now, st.producers_total, st.events,
              eps, st.bytes, mbps, fill, st.dropped, st.malformed, filtered,
              st.refused, s->state->gen);
    tb_types_text(b, s->state->enabled, 1);
    tb_add(b, "\ndisabled: ", 11);
    tb_types_text(b, s->state->enabled, 0);
    tb_add(b, "\n", 1);
    tb_printf(b, "config: %u pair%s\n", (unsigned)v.npairs,
              v.npairs == 1 ? "" : "s");
    while (sl_state_next_pair(&v, &off, &k, &kl, &val, &vl))
        tb_printf(b, "  %.*s=%.*s\n", (int)kl, k, (int)vl, val);
    tb_printf(b, "capture: %s\n", cap != NULL ? cap : "-");
    tb_forward(s, b, 0);
}

static void
do_producers(sl_server *s, tbuf *b, int json)
{
    int first = 1;

    if (json)
        tb_add(b, "[", 1);
    else
        tb_printf(b, "%-10s %-20s %-8s %-10s %-6s %12s %12s %12s\n", "ID",
                  "NAME", "PID", "UID", "MODE", "EVENTS", "FILTERED",
                  "DROPPED");
    sl_mutex_lock(&s->lock);
    for (conn *c = s->conns; c != NULL; c = c->next) {
        uint64_t ev, fi, dr;
        const char *name = "", *mode = "-";
        size_t name_len = 0;
        uint32_t pid = 0;

        /* Only producers with a connect record. Acquire pairs with the
         * release after it: the identity fields are final when seen. */
        if (!atomic_load_explicit(&c->ident, memory_order_acquire))
            continue;
        name = c->wire.name;
        name_len = c->wire.name_len;
        mode = c->wire.mode == SL_WIRE_MODE_BINARY ? "binary" : "text";
        pid = c->wire.mode == SL_WIRE_MODE_BINARY ? c->wire.pid : c->io->pid;
        ev = atomic_load_explicit(&c->events, memory_order_relaxed);
        fi = atomic_load_explicit(&c->filtered, memory_order_relaxed);
        dr = atomic_load_explicit(&c->dropped, memory_order_relaxed);
        if (json) {
            tb_printf(b, "%s{\"id\":%u,\"name\":", first ? "" : ",", c->id);
            tb_json(b, name, name_len);
            tb_printf(b, ",\"pid\":%u,\"uid\":%" PRId64 ",\"mode\":\"%s\","
                      "\"events\":%" PRIu64 ",\"filtered\":%" PRIu64
                      ",\"dropped\":%" PRIu64 "}", pid,
                      c->io->uid == 0xFFFFFFFFu ? (int64_t)-1
                                                : (int64_t)c->io->uid,
                      mode, ev, fi, dr);
        } else {
            char uid[16];

            if (c->io->uid == 0xFFFFFFFFu)
                snprintf(uid, sizeof(uid), "-");
            else
                snprintf(uid, sizeof(uid), "%u", c->io->uid);
            tb_printf(b, "%-10u %-20.*s %-8u %-10s %-6s %12" PRIu64
                      " %12" PRIu64 " %12" PRIu64 "\n", c->id,
                      (int)(name_len ? name_len : 1), name_len ? name : "-",
                      pid, uid, mode, ev, fi, dr);
        }
        first = 0;
    }
    sl_mutex_unlock(&s->lock);
    if (json)
        tb_add(b, "]\n", 2);
}

/* Installs *ns as the new state (next generation), records and pushes
 * it. With ctl_lock held. */
static int
change_state(sl_server *s, sl_state *ns)
{
    sl_ctl_snap *snap;
    sl_state *old = s->state;

    ns->gen = old->gen + 1;
    s->state = ns;
    snap = make_snap(s);
    if (snap == NULL) {
        s->state = old;
        return SL_ENOMEM;
    }
    free(old);
    sl_ctl_snap_put(s->snap);
    s->snap = snap;
    record_state(s, snap, sl_os_now_ns());
    push_all(s);
    return 0;
}

static int
run_hook(sl_server *s, tbuf *b, const char *what, int (*hook)(void *),
         int (*snap)(void *, char *, size_t))
{
    char name[4096];
    int rc;

    name[0] = '\0';
    if (hook == NULL && snap == NULL) {
        tb_printf(b, "error: %s is not possible: this collector has no "
                  "%s\n", what,
                  strcmp(what, "rotate") == 0
                      ? "rotating capture (a format-v2 feature)"
                      : "flight recorder (a format-v2 feature)");
        return 1;
    }
    rc = snap != NULL ? snap(s->cfg.hook_arg, name, sizeof(name))
                      : hook(s->cfg.hook_arg);
    if (rc == SL_ENOSYS) {
        tb_printf(b, "error: %s is not possible: the capture was not "
                  "started with %s\n", what,
                  strcmp(what, "rotate") == 0 ? "rotation"
                                              : "a flight recorder");
        return 1;
    }
    if (rc != 0) {
        tb_printf(b, "error: %s failed: %s\n", what, sl_strerror(rc));
        return 1;
    }
    /* snapshot: the file's name, which sluice-ctl prints. */
    if (name[0] != '\0')
        tb_printf(b, "ok\n%s\n", name);
    else
        tb_printf(b, "ok\n");
    return 0;
}

/* Runs one request (words w[0..n)), appending the response to b. */
static void
run_request(sl_server *s, char **w, size_t n, tbuf *b)
{
    const char *cmd = n > 0 ? w[0] : "";
    int json = n == 2 && strcmp(w[1], "--json") == 0;

    if ((strcmp(cmd, "status") == 0 || strcmp(cmd, "producers") == 0) &&
        (n == 1 || json)) {
        tbuf body = {0};

        sl_mutex_lock(&s->ctl_lock);
        if (cmd[0] == 's')
            do_status(s, &body, json);
        else
            do_producers(s, &body, json);
        sl_mutex_unlock(&s->ctl_lock);
        tb_add(b, "ok\n", 3);
        if (body.p != NULL)
            tb_add(b, body.p, body.len);
        b->oom |= body.oom;
        free(body.p);
    } else if ((strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0) &&
               n == 2) {
        sl_state *ns = malloc(sizeof(*ns));
        int rc;

        if (ns == NULL) {
            tb_printf(b, "error: out of memory\n");
            return;
        }
        sl_mutex_lock(&s->ctl_lock);
        memcpy(ns, s->state, sizeof(*ns));
        rc = sl_state_types(ns->enabled, w[1], cmd[0] == 'e');
        if (rc != 0) {
            sl_mutex_unlock(&s->ctl_lock);
            free(ns);
            tb_printf(b, "error: %s: '%s' is not a list of event types "
                      "(numbers or ranges A-B, 0..61439 or 0x0..0xEFFF, "
                      "comma-separated)\n", cmd, w[1]);
            return;
        }
        rc = change_state(s, ns);
        if (rc != 0) {
            free(ns);
            sl_mutex_unlock(&s->ctl_lock);
            tb_printf(b, "error: %s\n", sl_strerror(rc));
            return;
        }
        tb_printf(b, "ok\nstate: generation %" PRIu64 "\ndisabled: ",
                  s->state->gen);
        tb_types_text(b, s->state->enabled, 0);
        tb_add(b, "\n", 1);
        sl_mutex_unlock(&s->ctl_lock);
    } else if (strcmp(cmd, "config") == 0 && n >= 2) {
        sl_state *ns = malloc(sizeof(*ns));
        int rc = 0;

        if (ns == NULL) {
            tb_printf(b, "error: out of memory\n");
            return;
        }
        sl_mutex_lock(&s->ctl_lock);
        memcpy(ns, s->state, sizeof(*ns));
        for (size_t i = 1; i < n && rc == 0; i++) {
            rc = sl_state_set_arg(ns, w[i], strlen(w[i]));
            if (rc == SL_ETOOBIG)
                tb_printf(b, "error: config: '%.64s': the configuration "
                          "would pass %u bytes\n", w[i],
                          (unsigned)SL_STATE_PAIRS_MAX);
            else if (rc != 0)
                tb_printf(b, "error: config: '%.64s' is not KEY=VALUE (KEY: "
                          "1..%u of A-Z a-z 0-9 _ . -; VALUE: up to %u "
                          "bytes, no NUL, CR or LF)\n", w[i],
                          (unsigned)SL_STATE_KEY_MAX,
                          (unsigned)SL_STATE_VALUE_MAX);
        }
        if (rc == 0)
            rc = change_state(s, ns);
        if (rc != 0) {
            free(ns);
            sl_mutex_unlock(&s->ctl_lock);
            if (b->len == 0)
                tb_printf(b, "error: %s\n", sl_strerror(rc));
            return;
        }
        tb_printf(b, "ok\nstate: generation %" PRIu64 "\n", s->state->gen);
        sl_mutex_unlock(&s->ctl_lock);
    } else if (strcmp(cmd, "rotate") == 0 && n == 1) {
        run_hook(s, b, "rotate", s->cfg.rotate, NULL);
    } else if (strcmp(cmd, "snapshot") == 0 && n == 1) {
        run_hook(s, b, "snapshot", NULL, s->cfg.snapshot);
    } else if (strcmp(cmd, "stop") == 0 && n == 1) {
        tb_printf(b, "ok\nstopping\n");
        sl_srv_logf(s, "stop requested by sluice-ctl");
        if (s->cfg.on_event != NULL)
            s->cfg.on_event(s->cfg.event_ctx, SL_SERVER_STOP_REQUESTED, 0);
    } else {
        tb_printf(b, "error: unknown or malformed request '%.64s' (%u "
                  "word%s)\n", cmd, (unsigned)n, n == 1 ? "" : "s");
    }
}

/* Sends b as the response and frees it once written. */
static void
respond(sl_server *s, conn *c, tbuf *b)
{
    int rc;

    if (!b->oom && b->p != NULL && b->len > SL_WIRE_CTL_RESPONSE_MAX) {
        /* sluice-ctl reads no more than this (protocol.md section 14). */
        size_t len = b->len;

        free(b->p);
        b->p = NULL;
        b->len = b->cap = 0;
        tb_printf(b, "error: the response would be %zu bytes, over the "
                  "control protocol's limit of %u MiB\n", len,
                  (unsigned)(SL_WIRE_CTL_RESPONSE_MAX >> 20));
    }
    if (b->oom || b->p == NULL) {
        free(b->p);
        b->p = malloc(32);
        if (b->p == NULL) {
            sl_srv_conn_free(s, c);
            return;
        }
        b->len = (size_t)snprintf(b->p, 32, "error: out of memory\n");
    }
    c->wout = b->p;
    c->wout_len = b->len;
    c->wout_off = 0;
    rc = s->backend->write(s->io, c->io, c->wout, c->wout_len);
    if (rc != 0) {
        free(c->wout);
        c->wout = NULL;
        sl_srv_conn_free(s, c);
    }
}

void
sl_ctl_on_read(sl_server *s, conn *c)
{
    const size_t m = SL_WIRE_MAGIC_LEN;
    uint8_t *nl = c->len > m ? memchr(c->buf + m, '\n', c->len - m) : NULL;
    char **words;
    size_t n = 0;
    tbuf b = {0};

    if (c->ctl_over) {
        tb_printf(&b, "error: too many control connections at once (the "
                  "collector serves %u); try again\n",
                  (unsigned)SL_WIRE_CTL_CONNS_MAX);
        respond(s, c, &b);
        return;
    }
    if (nl == NULL) {
        if (c->len == c->cap) {
            size_t want = c->cap * 2;
            uint8_t *nb;

            if (c->cap >= CTL_REQ_MAX) {
                tb_printf(&b, "error: request longer than %u bytes\n",
                          (unsigned)CTL_REQ_MAX);
                respond(s, c, &b);
                return;
            }
            if (want > CTL_REQ_MAX)
                want = CTL_REQ_MAX;
            nb = realloc(c->buf, want);
            if (nb == NULL) {
                sl_srv_conn_free(s, c);
                return;
            }
            c->buf = nb;
            c->cap = want;
        }
        sl_srv_post_read(s, c);
        return;
    }
    *nl = '\0';
    words = malloc(CTL_WORDS_MAX * sizeof(*words));
    if (words == NULL) {
        sl_srv_conn_free(s, c);
        return;
    }
    /* Words are NUL-separated; the '\n' became the last one's NUL. */
    for (uint8_t *p = c->buf + m; p <= nl && n < CTL_WORDS_MAX;) {
        size_t len = strlen((char *)p);

        words[n++] = (char *)p;
        p += len + 1;
    }
    if (n > 0 && words[n - 1][0] == '\0')
        n--; /* a trailing separator */
    run_request(s, words, n, &b);
    free(words);
    respond(s, c, &b);
}

void
sl_ctl_on_write(sl_server *s, conn *c, int64_t result, int push)
{
    if (push) {
        push_done(s, c, result);
        return;
    }
    /* A control response. */
    if (result > 0 && c->wout_off + (size_t)result < c->wout_len) {
        c->wout_off += (size_t)result;
        if (s->backend->write(s->io, c->io, c->wout + c->wout_off,
                              c->wout_len - c->wout_off) == 0)
            return;
    }
    free(c->wout);
    c->wout = NULL;
    sl_srv_conn_free(s, c);
}
