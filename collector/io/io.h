/*
 * The completion-port layer: all the collector core knows about OS I/O.
 *
 * The interface is shaped around completions, because IOCP and io_uring
 * both report "this operation on this connection finished, N bytes, in
 * the buffer you gave": the core posts a read into its buffer and later
 * receives SL_IO_READ with the byte count. epoll imitates that by doing
 * the read() when the socket becomes readable.
 *
 * Each backend exports one const sl_io_backend table; its state lives in
 * the sl_io object it allocates (no file statics).
 *
 * Thread contract: the backend has `workers` worker slots. Worker w calls
 * wait(io, w, ...) from its own thread only. The connection's main
 * operations (read, write, release) form one sequence: the core posts the
 * next one only from the thread that received the previous one's event, so
 * at most one of them is pending and their events reach one worker at a
 * time. Beside that sequence a connection may have ONE push pending (a
 * write of the control plane, see push): posted from any thread, its
 * SL_IO_PUSH event may reach any worker, also while another handles the
 * connection's read. stop_accepting, drain, wake, push and push_cancel may
 * be called from any thread.
 *
 * Wake-ups: wait() sleeps only as long as it is asked to. Nothing in a
 * backend wakes a worker "just in case": a worker returns because a
 * completion arrived, because wake() was called (also when it was called
 * before the wait began: wake-ups are not lost), or because its own
 * timeout ran out. A backend shortens a wait only for a deadline of its
 * own (resuming accepts after running out of descriptors, retrying a pipe
 * instance), and says so where it does.
 *
 * The tests in tests/io/ check this contract on every backend.
 */
#ifndef SL_IO_H
#define SL_IO_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_io sl_io;

/* The part of a backend's connection object the core may touch. Backends
 * embed it as their first member. */
typedef struct sl_io_conn {
    void *user;   /* the core's connection object; NULL until it sets it */
    uint32_t pid; /* peer process id when the OS tells (0 unknown) */
    uint32_t uid; /* peer user id when the OS tells (0xFFFFFFFF unknown) */
} sl_io_conn;

typedef enum sl_io_kind {
    SL_IO_ACCEPT = 1, /* a new connection; conn->user is NULL */
    SL_IO_READ = 2,   /* result: bytes read, 0 = end of stream, or SL_E* */
    SL_IO_WRITE = 3,  /* result: bytes written, or SL_E* */
    SL_IO_PUSH = 4,   /* result of push(): len, or SL_E* */
} sl_io_kind;

typedef struct sl_io_event {
    sl_io_kind kind;
    sl_io_conn *conn;
    int64_t result;
} sl_io_event;

typedef struct sl_io_config {
    const char *path;   /* endpoint from sl_os_pipe_path(), NUL-terminated */
    unsigned workers;   /* worker slots (>= 1) */
    unsigned instances; /* listening pipe instances (Windows) / accepts
                           posted per worker (io_uring) */
    unsigned backlog;   /* listen() backlog (POSIX) */
    int allow_remote;   /* Windows: accept remote clients */
    uint32_t group;     /* POSIX: share the socket with this group (mode
                           0660); SL_IO_NO_GROUP: owner only (0600) */
    unsigned test_flags; /* SL_IO_TEST_*: for tests only; 0 in production */
} sl_io_config;

#define SL_IO_NO_GROUP 0xFFFFFFFFu

/* io_uring: behave as on a 5.6-5.10 kernel, without IORING_FEAT_EXT_ARG
 * (liburing then queues a timeout of its own for every timed wait) and
 * without multishot accept. Lets tests reach those paths on any kernel. */
#define SL_IO_TEST_OLD_URING 1u

typedef struct sl_io_backend {
    const char *name; /* "iocp", "uring", "epoll" */
    /**
     * Creates the endpoint and starts accepting.
     * @return 0; SL_EADDRINUSE (a live collector owns the name); SL_EEXIST
     *         (something that is not a stale sluice socket is at the
     *         path); SL_ENOSYS (backend unavailable here: the caller falls
     *         back); SL_EACCES; SL_ENOMEM; others from the OS.
     */
    int (*open)(const sl_io_config *cfg, sl_io **out);
    /**
     * Waits up to timeout_ms (-1 forever) for completions of worker w and
     * stores up to cap of them. Submits operations posted since the last
     * call. *n may be 0 (timeout or wake). Once stop_accepting() has
     * returned, a wait() that starts then and returns fewer than cap
     * events has reported every connection this worker will be given
     * (see stop_accepting); to get there it may block past timeout_ms,
     * for no longer than the system takes to hand back the accepts it
     * had in progress.
     */
    int (*wait)(sl_io *io, unsigned w, sl_io_event *ev, size_t cap,
                size_t *n, int timeout_ms);
    /** Posts a read of up to len bytes into buf (len > 0). The buffer must
     *  stay valid until its SL_IO_READ event. @return 0 or SL_E* (then no
     *  event will come). */
    int (*read)(sl_io *io, sl_io_conn *c, void *buf, size_t len);
    /** Posts a write of len bytes from buf (a greeting). Must not raise
     *  SIGPIPE. Completion: SL_IO_WRITE. */
    int (*write)(sl_io *io, sl_io_conn *c, const void *buf, size_t len);
    /**
     * Posts a write of all len bytes from buf beside whatever else is
     * pending on c (typically a read that may never complete while the
     * peer sends nothing). Any thread; at most one push per connection
     * at a time; buf stays valid until its event. Completion: SL_IO_PUSH
     * with len once every byte was taken by the system (the backend
     * waits for writability with a real completion or readiness event,
     * never by polling), or an SL_E* error. Must not raise SIGPIPE.
     * release() must not be called while a push is pending.
     * @return 0 or SL_E* (then no event will come).
     */
    int (*push)(sl_io *io, sl_io_conn *c, const void *buf, size_t len);
    /** Makes c's pending push, if any, complete soon (with an error if
     *  it could not finish): for a peer that never reads. Any thread;
     *  afterwards no new push may be posted on c. */
    void (*push_cancel)(sl_io *io, sl_io_conn *c);
    /**
     * Stops accepting. New clients are refused from now on (the name is
     * gone); a connection the system had already accepted for us (in
     * the listen backlog, or a pipe instance a client had connected to)
     * is not dropped: it is still reported as SL_IO_ACCEPT, by the next
     * wait() of some worker, and can be read to its end. Once every
     * worker's wait() has returned once with room to spare (fewer than
     * cap events) after this call, no SL_IO_ACCEPT follows. Any thread;
     * a second call is a no-op.
     */
    void (*stop_accepting)(sl_io *io);
    /** Drain: the peer's further sends are refused, and a read on c
     *  completes with 0 (end of stream) once the bytes the peer already
     *  sent have been read. Any thread, while c is not yet released.
     *  @return 1 if the peer had already ended its stream itself (closed,
     *          or shut down its sending side) when drain was called, so
     *          the end of stream that follows is the peer's own; 0 if it
     *          was still sending or the system cannot tell. */
    int (*drain)(sl_io *io, sl_io_conn *c);
    /** Closes and frees c. No operation may be pending on it. */
    void (*release)(sl_io *io, sl_io_conn *c);
    /** Makes every worker's wait() return: the one in progress, or else
     *  the next one. Any thread. */
    void (*wake)(sl_io *io);
    /** Frees everything. All connections released, workers gone. NULL is a
     *  no-op. */
    void (*close)(sl_io *io);
} sl_io_backend;

#ifdef _WIN32
extern const sl_io_backend sl_io_iocp;
#else
extern const sl_io_backend sl_io_epoll;
#ifdef SL_HAVE_LIBURING
extern const sl_io_backend sl_io_uring;
#endif
#endif

/** The compiled-in backends, in preference order, NULL-terminated. */
extern const sl_io_backend *const sl_io_backends[];

/** Looks up a backend by name. @return it, or NULL. */
const sl_io_backend *sl_io_find(const char *name);

#endif
