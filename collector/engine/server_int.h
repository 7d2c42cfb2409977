/*
 * The engine's internals, shared by server.c (connections, producers,
 * records) and control.c (the control plane: state, pushes, control
 * connections). Not a public interface: nothing outside
 * collector/engine/ includes it.
 */
#ifndef SL_SERVER_INT_H
#define SL_SERVER_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"
#include "os.h"
#include "ring.h"
#include "server.h"
#include "state.h"
#include "wire.h"
#include "writer.h"

#define EV_CAP 256
#define IO_BATCH 64

/* What a connection turned out to be (decided on its first 8 bytes). */
enum { CONN_UNDECIDED = 0, CONN_PRODUCER = 1, CONN_CONTROL = 2 };

/* An encoded STATE frame (header + state.h payload), shared by every
 * connection that writes it; freed by the last sl_ctl_snap_put(). */
typedef struct sl_ctl_snap {
    atomic_uint refs;
    uint64_t gen;
    size_t len;
    uint8_t frame[];
} sl_ctl_snap;

typedef struct conn {
    sl_io_conn *io;
    uint32_t id;      /* 0 for a refused connection */
    int connect_done; /* connect record written */
    int active;       /* sent a byte: a producer (see protocol.md §3) */
    int kind;         /* CONN_* */
    sl_wire wire;
    uint8_t *buf;
    size_t cap, len;  /* len: unparsed bytes at the front of buf */
    char greeting[SL_WIRE_GREETING_MAX];
    size_t greeting_len;
    /* Written by the worker handling the connection's reads, read by
     * control requests on other threads: relaxed atomics (load + store
     * by the one writer; statistics, they publish nothing). */
    atomic_uint_least64_t events, dropped, filtered;
    uint64_t bytes;
    uint64_t pend_drop, pend_drop_bytes;       /* not yet recorded */
    uint64_t discarded; /* bytes of an unfinished event cut by a stop */
    /* Set (under the server's lock) when the stop drained this
     * connection while its producer was still sending: the end of stream
     * that follows is the collector's, not the producer's (STOPPED). */
    int stopped;
    /* --idle-timeout. accepted_ns: sl_os_mono_ns() at accept (written
     * before the connection is linked, read under the lock). identified:
     * set by the connection's worker once it sent a text byte or a whole
     * hello; read by the reaper without the connection's worker.
     * Relaxed is enough: it orders nothing else, and a reaper that reads
     * a stale 0 just as the producer identified itself ends a connection
     * that took the whole timeout to do so (the bytes that arrived are
     * still read and kept). idle: set under the lock by the reaper with
     * its drain; the end of stream that follows is the collector's (IDLE). */
    uint64_t accepted_ns;
    atomic_int identified;
    int idle;
    /* Set (release) once wire.pid/name/mode are final, after the connect
     * record; a control request reads them only after an acquire load
     * that sees it. */
    atomic_int ident;
    int linked;       /* in the server's list (under its lock) */
    /* Slots (server.c, on_accept): `slot` set while the connection holds
     * one of the --max-producers slots (s->slots), `ctl_slot` while it
     * holds one of the SL_WIRE_CTL_CONNS_MAX control slots
     * (s->ctl_conns); both given back by sl_srv_conn_free(). ctl_only:
     * accepted over the producer limit with a refusal greeting, kept
     * only in case it is a control connection (protocol.md section 14).
     * ctl_over: a control connection over SL_WIRE_CTL_CONNS_MAX, answered
     * with an error. Touched by the connection's worker only. */
    int slot, ctl_slot, ctl_only, ctl_over;
    struct conn *prev, *next;

    /* The write side (protocol 1.1). Guarded by push_lock, because a
     * state push (control.c) may start a write from another thread while
     * a read is pending (io.h allows one of each). */
    sl_mutex push_lock;
    int send_state;   /* the hello asked for the state (read side only) */
    int subscribed;   /* the hello asked for updates */
    int writing;      /* a write is in flight */
    int read_done;    /* the read side ended: free once the write is */
    int push_dead;    /* a push failed: no more pushes */
    uint64_t sent_gen; /* generation last written (or in flight) */
    sl_ctl_snap *wsnap; /* the snapshot in flight */
    size_t wsnap_off;
    /* A control connection's response (one request, one response). */
    char *wout;
    size_t wout_len, wout_off;
} conn;

struct sl_server {
    sl_server_config cfg;
    const sl_io_backend *backend;
    sl_io *io;
    sl_ring *ring;
    sl_sink *sink;
    sl_writer *writer;
    char host[256];
    uint32_t *allow_uids; /* copy of cfg.allow_uids, or NULL */
    sl_thread **workers;
    unsigned nworkers;
    size_t batch_max;
    int stopped;

    sl_mutex lock;   /* guards the connection list and `draining` */
    conn *conns;
    int draining;    /* stop requested: new connections are drained too */
    sl_cond reaper_cv; /* wakes the reaper at a stop (with `lock`) */
    sl_thread *reaper; /* --idle-timeout thread, or NULL */

    /* Set after every connection was told to drain; workers exit once it
     * is set and `live` is 0. Release/acquire keeps the order of the two
     * checks meaningful, nothing else hangs on it. */
    atomic_int stopping;
    atomic_uint_least64_t live;
    /* Producer slots taken (--max-producers) and control connections
     * open (SL_WIRE_CTL_CONNS_MAX). Relaxed: each accept's admission is
     * decided by its own fetch_add's result alone, so two accepts at
     * once see different counts; nothing else is published with them. */
    atomic_uint_least64_t slots;
    atomic_uint ctl_conns;
    /* Producer ids given back by connections that turned out to be
     * control connections, handed out again before new ones (under
     * `lock`): a control connection uses no id of the capture. */
    uint32_t spare_ids[SL_WIRE_CTL_CONNS_MAX];
    unsigned nspare;

    /* Counters for the status line and the summary. Relaxed: they are
     * statistics; the summary is read after the workers are joined, and
     * the join orders it. */
    atomic_uint_least64_t next_id;
    atomic_uint_least64_t producers, ended, refused, events, bytes, dropped, malformed;
    atomic_uint_least64_t filtered_ended; /* filtered of ended producers */
    atomic_uint_least64_t idle;           /* ended by --idle-timeout */

    /* The control plane (control.c). ctl_lock guards state, snap and the
     * rate sample; lock order: ctl_lock, then lock, then a push_lock. */
    sl_mutex ctl_lock;
    sl_state *state;
    sl_ctl_snap *snap;          /* the current state, encoded */
    uint64_t start_mono;
    uint64_t rate_ns, rate_events, rate_bytes; /* last status sample */
};

void sl_srv_logf(sl_server *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sl_srv_reserve(sl_server *s, size_t len, sl_ring_resv *res);
void sl_srv_post_read(sl_server *s, conn *c);
/** Unlinks and frees c (its read side and any write are done). */
void sl_srv_conn_free(sl_server *s, conn *c);

/* ---- control.c ---------------------------------------------------------- */

/** Sets up the state (cfg->state or the default) and records it. After
 *  the writer is open, before the workers start. */
int sl_ctl_open(sl_server *s);
void sl_ctl_close(sl_server *s);
/** The greeting's cfg field: 1 if a configuration or disabled types
 *  exist. */
int sl_ctl_cfg_flag(sl_server *s);
/** A control connection has bytes (its magic is in c->buf). */
void sl_ctl_on_read(sl_server *s, conn *c);
/** A producer's hello asked for the state: start writing it (the read
 *  side goes on). */
void sl_ctl_hello(sl_server *s, conn *c);
/** A write on c completed: a control response, or (push) a state push. */
void sl_ctl_on_write(sl_server *s, conn *c, int64_t result, int push);
/** The read side of producer c ended (its records are written). Frees c
 *  now, or once its write in flight completes. */
void sl_ctl_read_done(sl_server *s, conn *c);
void sl_ctl_snap_put(sl_ctl_snap *snap);

#endif
