/*
 * Windows I/O completion port backend (io.h): the collector's named-pipe
 * server.
 *
 * The endpoint is \\.\pipe\NAME, created with CreateNamedPipeW as a
 * duplex, byte-mode, overlapped pipe with unlimited instances. Several
 * instances (cfg->instances, default 4) wait for clients at once, each
 * with an overlapped ConnectNamedPipe pending; when one connects, the
 * worker that sees the completion creates a replacement before it hands
 * the connection to the core, so a client never waits for a worker to
 * come back. The first instance is created with
 * FILE_FLAG_FIRST_PIPE_INSTANCE so a second collector on the same name
 * fails; because Wine ignores that flag, the instance count is checked
 * too.
 *
 * Every pipe handle is associated with one completion port under
 * KEY_IO. Every operation on an instance (connect, the greeting write,
 * reads) uses the OVERLAPPED embedded in its connection object, and
 * completion entries lead back to it with container_of. The core keeps at
 * most one operation per connection in flight (io.h), so one OVERLAPPED
 * per connection is enough, and any worker may dequeue any completion.
 * An operation that finishes synchronously with an error (or with
 * ERROR_PIPE_CONNECTED) queues no completion packet, so this file posts
 * one itself under KEY_POSTED with the error stored in the connection:
 * every result, synchronous or not, reaches the core through wait().
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is not used: it would need a
 * second delivery path for inline completions, while reads are large
 * (64 KiB and more) so one port round trip per read is cheap.
 *
 * Lifetime rule: a connection object (and so its OVERLAPPED) is freed
 * only after the completion of its last operation has been dequeued.
 *
 * Drain: a pipe cannot be shut down for reading as a socket can. drain()
 * marks the connection and notes how many bytes the pipe holds; reads
 * continue while PeekNamedPipe reports bytes and that budget lasts, then
 * complete with 0 (end of stream). A read pending when drain() is called
 * with nothing available is cancelled with CancelIoEx and reports end of
 * stream; if it completed with data before the cancel took effect, that
 * data is delivered first.
 *
 * Security: the pipe gets an explicit DACL granting access to the current
 * user, SYSTEM and Administrators only, and PIPE_REJECT_REMOTE_CLIENTS
 * unless cfg->allow_remote.
 *
 * Wake-ups are per worker: one shared port cannot direct a packet to a
 * given thread (any waiting thread may dequeue it, and one thread may
 * dequeue several in a batch), so wake() sets the worker's flag and
 * queues a user APC to the thread that runs that worker's wait(), whose
 * GetQueuedCompletionStatusEx is alertable and so returns. No wait sleeps
 * in slices: a timeout that remains is a deadline (the caller's, a pipe
 * instance to retry, the grace period at close).
 *
 * Stop: stop_accepting() cancels the pending connects. A client that had
 * connected to an instance (the connect completed, or the client came
 * while the cancel was landing) is reported as an accept, not closed; a
 * wait() that starts after stop_accepting() does not return with room to
 * spare until every listening instance has been reaped, so that a stop
 * drops no client (io.h).
 *
 * State lives in the sl_io object; the locks are an SRW lock for the
 * listening instances, one per connection between a worker and drain(),
 * which any thread may call, and one per worker for its thread handle.
 */
#include "io.h"

#include "os.h"

#include <assert.h>
#include <sddl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define container_of(ptr, type, member)                                       \
    ((type *)((char *)(ptr) - offsetof(type, member)))

/* Completion keys. */
enum {
    KEY_IO = 1,     /* the system completed an operation on a pipe */
    KEY_POSTED = 2, /* this file completed it; error in posted_err */
};

typedef enum op_kind {
    OP_NONE = 0,
    OP_CONNECT, /* listening: ConnectNamedPipe pending */
    OP_READ,
    OP_WRITE,
} op_kind;

#define DEFAULT_INSTANCES 4u
/* Buffer sizes are advisory for the pipe file system: the inbound one is
 * the producers' send window, the outbound one only carries greetings. */
#define PIPE_IN_BUFFER (256u * 1024u)
#define PIPE_OUT_BUFFER 4096u
#define MAX_IO_BYTES (1u << 30)
#define BATCH 128u
#define TOPUP_TRIES 3u
#define TOPUP_RETRY_NS (100u * 1000000ull)
#define CLOSE_GRACE_NS (5000u * 1000000ull)

typedef struct iocp_conn {
    sl_io_conn pub; /* first: the part the core sees */
    OVERLAPPED ov;  /* the one operation in flight */
    uint32_t ov_tag; /* 0: right after ov, tells it from pov */
    /* The push beside the read (io.h): a second OVERLAPPED, so a write
     * can be in flight while the read is pending on the same instance.
     * Its fields are the poster's until WriteFile, then the completing
     * worker's; the core posts no second push before SL_IO_PUSH. */
    OVERLAPPED pov;
    uint32_t pov_tag; /* 1 */
    DWORD ppost_err;  /* a push completed by post_push() */
    const uint8_t *pbuf;
    DWORD plen, pdone;
    HANDLE pipe;
    /* Guards op, draining and the drain budget against drain(), which
     * runs on any thread. */
    SRWLOCK lock;
    op_kind op;
    DWORD posted_err; /* result of an operation completed by post() */
    void *buf;        /* the pending read, kept to reissue it */
    DWORD len;
    int draining;
    int read_counts;     /* this read was posted after drain() */
    uint64_t drain_left; /* bytes the pipe held when drain() was called */
    struct iocp_conn *prev, *next; /* in io->listeners while OP_CONNECT */
} iocp_conn;

typedef struct iocp_worker {
    /* wake() was called since this worker's wait() last returned. Both
     * sides are seq_cst: wake() stores it, then reads `thread` (under
     * `lock`); wait() publishes `thread` (under `lock`), then exchanges
     * it. Either wait() sees the flag, or wake() sees the thread and its
     * APC interrupts the wait. */
    atomic_int woken;
    SRWLOCK lock;     /* guards thread and thread_id against wake() */
    HANDLE thread;    /* the thread that last called wait() for this slot */
    DWORD thread_id;
} iocp_worker;

struct sl_io {
    HANDLE port;
    wchar_t *path;
    PSECURITY_DESCRIPTOR sd;
    SECURITY_ATTRIBUTES sa;
    DWORD pipe_mode;
    unsigned workers;
    unsigned instances;
    /* Guards listeners, listening, accepting and topup_after. */
    SRWLOCK lock;
    iocp_conn *listeners;
    unsigned listening;
    int accepting;
    uint64_t topup_after;
    /* Set while fewer than `instances` listen because creating one
     * failed; read without the lock as a hint, acted on under it. */
    atomic_int need_topup;
    iocp_worker *wk; /* one per worker slot */
};

static void
fatal(const char *call)
{
    /* An impossible failure (STYLE.md: abort and name the call). */
    fprintf(stderr, "sluice: fatal: %s failed (Win32 error %lu)\n", call,
            (unsigned long)GetLastError());
    abort();
}

/* Completes c's operation from this side: a packet under KEY_POSTED whose
 * result the completion handler reads from c->posted_err. */
static int
post(sl_io *io, iocp_conn *c, DWORD err, DWORD bytes)
{
    c->posted_err = err;
    if (!PostQueuedCompletionStatus(io->port, bytes, KEY_POSTED, &c->ov))
        return sl_err_from_win32(GetLastError());
    return 0;
}

/* Completes c's push from this side (a synchronous failure). */
static int
post_push(sl_io *io, iocp_conn *c, DWORD err)
{
    c->ppost_err = err;
    if (!PostQueuedCompletionStatus(io->port, 0, KEY_POSTED, &c->pov))
        return sl_err_from_win32(GetLastError());
    return 0;
}

/* Starts the WriteFile of what is left of c's push. */
static int
push_issue(sl_io *io, iocp_conn *c)
{
    DWORD err;

    memset(&c->pov, 0, sizeof(c->pov));
    if (!WriteFile(c->pipe, c->pbuf + c->pdone, c->plen - c->pdone, NULL,
                   &c->pov)) {
        err = GetLastError();
        if (err != ERROR_IO_PENDING)
            return post_push(io, c, err);
    }
    return 0;
}

/* ---- listening instances ----------------------------------------------- */

static void
listener_link(sl_io *io, iocp_conn *c)
{
    c->prev = NULL;
    c->next = io->listeners;
    if (io->listeners != NULL)
        io->listeners->prev = c;
    io->listeners = c;
    io->listening++;
}

static void
listener_unlink(sl_io *io, iocp_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        io->listeners = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    io->listening--;
}

/*
 * Creates one pipe instance, associates it with the port and starts an
 * overlapped ConnectNamedPipe on it. Called with io->lock held (or before
 * any worker runs). first: the collector's first instance.
 */
static int
listener_create(sl_io *io, int first)
{
    DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    iocp_conn *c;
    DWORD err;
    int rc = 0;

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SL_ENOMEM;
    InitializeSRWLock(&c->lock);
    c->pub.uid = 0xFFFFFFFFu;
    if (first)
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    c->pipe = CreateNamedPipeW(io->path, open_mode, io->pipe_mode,
                               PIPE_UNLIMITED_INSTANCES, PIPE_OUT_BUFFER,
                               PIPE_IN_BUFFER, 0, &io->sa);
    if (c->pipe == INVALID_HANDLE_VALUE) {
        err = GetLastError();
        /* With FILE_FLAG_FIRST_PIPE_INSTANCE, an existing pipe of that
         * name gives ERROR_ACCESS_DENIED (or ERROR_PIPE_BUSY when all its
         * instances are taken): some server already owns the name. */
        if (first && (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY))
            rc = SL_EADDRINUSE;
        else
            rc = sl_err_from_win32(err);
        goto free_conn;
    }
    if (first) {
        DWORD cur = 0;

        /* Wine accepts FILE_FLAG_FIRST_PIPE_INSTANCE on an existing name;
         * more than one instance right after creating the first means
         * another server is there. */
        if (GetNamedPipeHandleStateW(c->pipe, NULL, &cur, NULL, NULL, NULL,
                                     0) &&
            cur > 1) {
            rc = SL_EADDRINUSE;
            goto close_pipe;
        }
    }
    if (CreateIoCompletionPort(c->pipe, io->port, KEY_IO, 0) == NULL) {
        rc = sl_err_from_win32(GetLastError());
        goto close_pipe;
    }
    c->op = OP_CONNECT;
    if (!ConnectNamedPipe(c->pipe, &c->ov)) {
        err = GetLastError();
        if (err == ERROR_PIPE_CONNECTED) {
            /* A client came between CreateNamedPipeW and here. That is a
             * success, but no packet is queued for it. */
            rc = post(io, c, ERROR_SUCCESS, 0);
            if (rc != 0)
                goto close_pipe;
        } else if (err != ERROR_IO_PENDING) {
            /* ERROR_NO_DATA: a client came and went already. The caller
             * retries with a fresh instance. */
            rc = sl_err_from_win32(err);
            goto close_pipe;
        }
    }
    listener_link(io, c);
    return 0;

close_pipe:
    CloseHandle(c->pipe);
free_conn:
    free(c);
    return rc;
}

/* Brings the listening instances back to io->instances. io->lock held. */
static void
topup_locked(sl_io *io)
{
    unsigned failures = 0;

    /* A failure is usually transient (ERROR_NO_DATA: a client connected
     * to the new instance and left at once), so try again a few times
     * before leaving it to a later wait(). Each round adds an instance or
     * counts a failure, so this ends. */
    while (io->accepting && io->listening < io->instances) {
        if (listener_create(io, 0) != 0 && ++failures == TOPUP_TRIES) {
            io->topup_after = sl_os_mono_ns() + TOPUP_RETRY_NS;
            atomic_store(&io->need_topup, 1);
            return;
        }
    }
    atomic_store(&io->need_topup, 0);
}

/* Retries a failed replacement instance when it is due. @return when
 * the next retry is due (UINT64_MAX: none): without a listening instance
 * no completion would ever come back to retry it, so wait() sleeps no
 * longer than that. */
static uint64_t
maybe_topup(sl_io *io)
{
    uint64_t next = UINT64_MAX;

    /* Relaxed: a hint; need_topup is acted on under the lock. */
    if (!atomic_load_explicit(&io->need_topup, memory_order_relaxed))
        return next;
    AcquireSRWLockExclusive(&io->lock);
    if (io->accepting && sl_os_mono_ns() >= io->topup_after)
        topup_locked(io);
    if (io->accepting && atomic_load(&io->need_topup))
        next = io->topup_after;
    ReleaseSRWLockExclusive(&io->lock);
    return next;
}

static void iocp_wake(sl_io *io);

/* A ConnectNamedPipe finished. @return 1 if *ev now holds an accept. */
static int
complete_connect(sl_io *io, iocp_conn *c, DWORD err, sl_io_event *ev)
{
    ULONG pid = 0;
    int accepting, accept, last;

    AcquireSRWLockExclusive(&io->lock);
    listener_unlink(io, c);
    accepting = io->accepting;
    if (accepting)
        topup_locked(io);
    last = !accepting && io->listening == 0;
    ReleaseSRWLockExclusive(&io->lock);
    /* A client that connected is reported, also after stop_accepting():
     * it may have written already. That includes one that came while the
     * cancel was landing: the connect then reports ERROR_OPERATION_ABORTED
     * but the instance has a client, which PeekNamedPipe shows (it fails
     * with ERROR_PIPE_LISTENING on an instance nobody opened; with
     * ERROR_BROKEN_PIPE the client left, perhaps leaving data). */
    accept = err == ERROR_SUCCESS;
    if (!accept && !accepting) {
        DWORD avail;

        accept = PeekNamedPipe(c->pipe, NULL, 0, NULL, &avail, NULL) ||
                 GetLastError() == ERROR_BROKEN_PIPE;
    }
    /* The last instance is reaped: workers whose wait() waits for that
     * (iocp_wait()) may return now. */
    if (last)
        iocp_wake(io);
    if (!accept) {
        CloseHandle(c->pipe);
        free(c);
        return 0;
    }
    c->op = OP_NONE;
    /* Stays 0 (unknown) if the system cannot tell. */
    if (GetNamedPipeClientProcessId(c->pipe, &pid))
        c->pub.pid = (uint32_t)pid;
    ev->kind = SL_IO_ACCEPT;
    ev->conn = &c->pub;
    ev->result = 0;
    return 1;
}

/* ---- reads and writes ------------------------------------------------- */

/* Starts (or, when draining and nothing is left, ends) the read described
 * by c->buf and c->len. c->lock held, c->op == OP_READ. */
static int
read_issue_locked(sl_io *io, iocp_conn *c)
{
    DWORD err;

    if (c->draining) {
        DWORD avail = 0;

        if (c->drain_left == 0 ||
            !PeekNamedPipe(c->pipe, NULL, 0, NULL, &avail, NULL) ||
            avail == 0)
            return post(io, c, ERROR_SUCCESS, 0); /* end of stream */
        c->read_counts = 1;
    } else {
        c->read_counts = 0;
    }
    memset(&c->ov, 0, sizeof(c->ov));
    if (ReadFile(c->pipe, c->buf, c->len, NULL, &c->ov))
        return 0; /* done already; the packet is queued all the same */
    err = GetLastError();
    if (err == ERROR_IO_PENDING)
        return 0;
    /* ERROR_BROKEN_PIPE when the client has gone: the completion handler
     * turns it into end of stream. */
    return post(io, c, err, 0);
}

static int
iocp_read(sl_io *io, sl_io_conn *conn, void *buf, size_t len)
{
    iocp_conn *c = (iocp_conn *)conn;
    int rc;

    if (len == 0)
        return SL_EINVAL;
    AcquireSRWLockExclusive(&c->lock);
    assert(c->op == OP_NONE);
    c->buf = buf;
    c->len = len > MAX_IO_BYTES ? MAX_IO_BYTES : (DWORD)len;
    c->op = OP_READ;
    rc = read_issue_locked(io, c);
    if (rc != 0)
        c->op = OP_NONE;
    ReleaseSRWLockExclusive(&c->lock);
    return rc;
}

/* A read finished. @return 1 if *ev holds its result, 0 if it was
 * reissued (a zero-byte message is not end of stream). */
static int
complete_read(sl_io *io, iocp_conn *c, ULONG_PTR key, DWORD err, DWORD bytes,
              sl_io_event *ev)
{
    int draining, reissue_rc = 0;

    AcquireSRWLockExclusive(&c->lock);
    if (key == KEY_IO && err == ERROR_SUCCESS && bytes == 0 &&
        !c->draining) {
        /* A client's zero-byte WriteFile can complete a byte-mode read
         * with 0 bytes on Windows; the stream goes on. */
        reissue_rc = read_issue_locked(io, c);
        if (reissue_rc == 0) {
            ReleaseSRWLockExclusive(&c->lock);
            return 0;
        }
    }
    c->op = OP_NONE;
    draining = c->draining;
    if (draining && c->read_counts)
        c->drain_left -= bytes < c->drain_left ? bytes : c->drain_left;
    ReleaseSRWLockExclusive(&c->lock);

    ev->kind = SL_IO_READ;
    ev->conn = &c->pub;
    if (reissue_rc != 0) {
        ev->result = reissue_rc;
    } else if (bytes > 0) {
        /* Data first, whatever the status: a read cancelled by drain()
         * that completed anyway, or ERROR_MORE_DATA from a message-mode
         * client, still delivered bytes. */
        ev->result = bytes;
    } else if (err == ERROR_SUCCESS || err == ERROR_BROKEN_PIPE ||
               err == ERROR_PIPE_NOT_CONNECTED || err == ERROR_NO_DATA ||
               (err == ERROR_OPERATION_ABORTED && draining)) {
        ev->result = 0; /* end of stream */
    } else {
        ev->result = sl_err_from_win32(err);
    }
    return 1;
}

static int
iocp_write(sl_io *io, sl_io_conn *conn, const void *buf, size_t len)
{
    iocp_conn *c = (iocp_conn *)conn;
    DWORD err;
    int rc = 0;

    if (len == 0 || len > MAX_IO_BYTES)
        return SL_EINVAL;
    AcquireSRWLockExclusive(&c->lock);
    assert(c->op == OP_NONE);
    c->op = OP_WRITE;
    memset(&c->ov, 0, sizeof(c->ov));
    if (!WriteFile(c->pipe, buf, (DWORD)len, NULL, &c->ov)) {
        err = GetLastError();
        /* ERROR_NO_DATA: the client closed its end already. */
        if (err != ERROR_IO_PENDING)
            rc = post(io, c, err, 0);
    }
    if (rc != 0)
        c->op = OP_NONE;
    ReleaseSRWLockExclusive(&c->lock);
    return rc;
}

static void
complete_write(iocp_conn *c, DWORD err, DWORD bytes, sl_io_event *ev)
{
    AcquireSRWLockExclusive(&c->lock);
    c->op = OP_NONE;
    ReleaseSRWLockExclusive(&c->lock);
    ev->kind = SL_IO_WRITE;
    ev->conn = &c->pub;
    if (err == ERROR_SUCCESS || bytes > 0)
        ev->result = bytes;
    else
        ev->result = sl_err_from_win32(err);
}

/* Turns one completion entry into at most one event. @return the number
 * of events stored (0 or 1). */
static int
complete(sl_io *io, const OVERLAPPED_ENTRY *e, sl_io_event *ev)
{
    iocp_conn *c;
    DWORD err = ERROR_SUCCESS, bytes;

    if (e->lpOverlapped == NULL)
        return 0; /* nothing this file posts */
    /* The tag after the OVERLAPPED tells a push from the main operation. */
    if (*(const uint32_t *)(const void *)(e->lpOverlapped + 1) == 1) {
        DWORD n;

        c = container_of(e->lpOverlapped, iocp_conn, pov);
        bytes = e->dwNumberOfBytesTransferred;
        if (e->lpCompletionKey == KEY_POSTED)
            err = c->ppost_err;
        else if (!GetOverlappedResult(c->pipe, &c->pov, &n, FALSE))
            err = GetLastError();
        if (err == ERROR_SUCCESS && bytes > 0 &&
            c->pdone + bytes < c->plen) {
            c->pdone += bytes; /* a short write: the rest */
            if (push_issue(io, c) == 0)
                return 0;
            err = ERROR_WRITE_FAULT;
        }
        ev->kind = SL_IO_PUSH;
        ev->conn = &c->pub;
        ev->result = err == ERROR_SUCCESS && bytes > 0
                         ? (int64_t)c->plen
                         : sl_err_from_win32(err != ERROR_SUCCESS
                                                 ? err
                                                 : ERROR_WRITE_FAULT);
        return 1;
    }
    c = container_of(e->lpOverlapped, iocp_conn, ov);
    bytes = e->dwNumberOfBytesTransferred;
    if (e->lpCompletionKey == KEY_POSTED) {
        err = c->posted_err;
    } else {
        DWORD n;

        /* The handle is still open (it is closed only after this), so
         * GetOverlappedResult translates the NTSTATUS in ov.Internal. */
        if (!GetOverlappedResult(c->pipe, &c->ov, &n, FALSE))
            err = GetLastError();
    }
    switch (c->op) {
    case OP_CONNECT:
        return complete_connect(io, c, err, ev);
    case OP_READ:
        return complete_read(io, c, e->lpCompletionKey, err, bytes, ev);
    case OP_WRITE:
        complete_write(c, err, bytes, ev);
        return 1;
    case OP_NONE:
    default:
        fatal("completion for an idle pipe instance");
        return 0;
    }
}

/* ---- the backend table ------------------------------------------------ */

/* Makes wake() reach the calling thread: records it as the one running
 * worker w's wait() (io.h: always the same thread; tests may use others
 * one after another). */
static void
register_thread(iocp_worker *wk)
{
    DWORD id = GetCurrentThreadId();
    HANDLE h;

    if (wk->thread_id == id)
        return; /* only this thread writes it, so no lock to read it */
    if (!DuplicateHandle(GetCurrentProcess(), GetCurrentThread(),
                         GetCurrentProcess(), &h, 0, FALSE,
                         DUPLICATE_SAME_ACCESS))
        fatal("DuplicateHandle");
    AcquireSRWLockExclusive(&wk->lock);
    if (wk->thread != NULL)
        CloseHandle(wk->thread);
    wk->thread = h;
    wk->thread_id = id;
    ReleaseSRWLockExclusive(&wk->lock);
}

/* 1 while stop_accepting() has been called and listening instances are
 * still to be reaped. */
static int
reaping(sl_io *io)
{
    int r;

    AcquireSRWLockShared(&io->lock);
    r = !io->accepting && io->listening > 0;
    ReleaseSRWLockShared(&io->lock);
    return r;
}

/* How long one GetQueuedCompletionStatusEx may sleep: until the caller's
 * deadline (UINT64_MAX: none), or until a failed pipe instance is due for
 * a retry (a deadline of this file's own), whichever is first. */
static DWORD
sleep_ms(uint64_t deadline, uint64_t retry_at)
{
    uint64_t until = deadline < retry_at ? deadline : retry_at;
    uint64_t now;

    if (until == UINT64_MAX)
        return INFINITE;
    now = sl_os_mono_ns();
    if (until <= now)
        return 0;
    return (DWORD)((until - now + 999999u) / 1000000u);
}

static void CALLBACK
wake_apc(ULONG_PTR arg)
{
    (void)arg; /* its delivery is the wake-up */
}

static int
iocp_wait(sl_io *io, unsigned w, sl_io_event *ev, size_t cap, size_t *n,
          int timeout_ms)
{
    OVERLAPPED_ENTRY entries[BATCH];
    iocp_worker *wk = &io->wk[w];
    uint64_t deadline = UINT64_MAX;
    size_t out = 0;
    int tried = 0;

    assert(w < io->workers);
    assert(cap > 0);
    if (timeout_ms >= 0)
        deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    register_thread(wk);
    for (;;) {
        ULONG got = 0, want;
        uint64_t retry_at;
        int stop_pending = reaping(io);

        /* After a stop, not before every listening instance is reaped
         * (whatever the timeout or a wake-up says): the clients that had
         * connected are reported by then (io.h). */
        if (out == cap)
            break;
        if (!stop_pending) {
            if (out > 0 || atomic_exchange(&wk->woken, 0))
                break;
            if (tried && sl_os_mono_ns() >= deadline)
                break;
        }
        retry_at = maybe_topup(io);
        want = cap - out < BATCH ? (ULONG)(cap - out) : BATCH;
        /* Alertable: wake() interrupts it with an APC. */
        if (!GetQueuedCompletionStatusEx(
                io->port, entries, want, &got,
                sleep_ms(stop_pending ? UINT64_MAX : deadline, retry_at),
                TRUE)) {
            DWORD e = GetLastError();

            if (e != WAIT_TIMEOUT && e != WAIT_IO_COMPLETION)
                fatal("GetQueuedCompletionStatusEx");
            got = 0;
        }
        tried = 1;
        for (ULONG i = 0; i < got; i++)
            out += (size_t)complete(io, &entries[i], &ev[out]);
    }
    /* Returning answers any wake() so far. */
    atomic_store(&wk->woken, 0);
    *n = out;
    return 0;
}

static void
iocp_stop_accepting(sl_io *io)
{
    AcquireSRWLockExclusive(&io->lock);
    if (io->accepting) {
        io->accepting = 0;
        /* Each cancelled connect completes with ERROR_OPERATION_ABORTED
         * (or with success if a client won the race); complete_connect()
         * then closes and frees the instance. */
        for (iocp_conn *c = io->listeners; c != NULL; c = c->next)
            CancelIoEx(c->pipe, &c->ov);
    }
    ReleaseSRWLockExclusive(&io->lock);
}

static int
iocp_drain(sl_io *io, sl_io_conn *conn)
{
    iocp_conn *c = (iocp_conn *)conn;
    int peer_ended = 0;

    (void)io;
    AcquireSRWLockExclusive(&c->lock);
    if (!c->draining) {
        DWORD avail = 0;

        c->draining = 1;
        /* A client that closed its end and left nothing to read breaks
         * the pipe: its end of stream is its own. While bytes remain a
         * pipe cannot tell whether the client is still there. */
        if (!PeekNamedPipe(c->pipe, NULL, 0, NULL, &avail, NULL)) {
            peer_ended = GetLastError() == ERROR_BROKEN_PIPE;
            avail = 0;
        }
        c->drain_left = avail;
        /* A pending read with nothing to read would wait for the client
         * forever. If it completes before the cancel lands, its data is
         * delivered (complete_read()). */
        if (c->op == OP_READ && avail == 0)
            CancelIoEx(c->pipe, &c->ov);
    }
    ReleaseSRWLockExclusive(&c->lock);
    return peer_ended;
}

static int
iocp_push(sl_io *io, sl_io_conn *conn, const void *buf, size_t len)
{
    iocp_conn *c = (iocp_conn *)conn;

    if (len == 0 || len > MAX_IO_BYTES)
        return SL_EINVAL;
    c->pov_tag = 1;
    c->pbuf = buf;
    c->plen = (DWORD)len;
    c->pdone = 0;
    /* Overlapped: it completes once the pipe took the bytes (the client
     * read enough of them), through the port, while the read stays
     * pending beside it. */
    return push_issue(io, c);
}

static void
iocp_push_cancel(sl_io *io, sl_io_conn *conn)
{
    iocp_conn *c = (iocp_conn *)conn;

    (void)io;
    /* No-op when no push is pending (CancelIoEx finds nothing). */
    CancelIoEx(c->pipe, &c->pov);
}

static void
iocp_release(sl_io *io, sl_io_conn *conn)
{
    iocp_conn *c = (iocp_conn *)conn;

    (void)io;
    if (c == NULL)
        return;
    assert(c->op == OP_NONE);
    /* CloseHandle, not DisconnectNamedPipe: the client may still read
     * what was written (the greeting) before it sees the pipe broken. */
    CloseHandle(c->pipe);
    free(c);
}

static void
iocp_wake(sl_io *io)
{
    for (unsigned w = 0; w < io->workers; w++) {
        iocp_worker *wk = &io->wk[w];

        atomic_store(&wk->woken, 1);
        AcquireSRWLockShared(&wk->lock);
        /* No thread yet: its first wait() sees the flag. A thread that
         * is not waiting runs the APC in its next alertable wait, which
         * then returns at once. QueueUserAPC fails only for a thread
         * that has ended, which waits no more. */
        if (wk->thread != NULL)
            QueueUserAPC(wake_apc, wk->thread, 0);
        ReleaseSRWLockShared(&wk->lock);
    }
}

/* Cancels every listening instance and waits for their completions, so
 * no OVERLAPPED is freed while the system may still write to it. */
static void
close_listeners(sl_io *io)
{
    uint64_t deadline = sl_os_mono_ns() + CLOSE_GRACE_NS;
    OVERLAPPED_ENTRY entries[BATCH];

    iocp_stop_accepting(io);
    for (;;) {
        ULONG got = 0;
        int left;

        AcquireSRWLockExclusive(&io->lock);
        left = io->listeners != NULL;
        ReleaseSRWLockExclusive(&io->lock);
        if (!left)
            break;
        if (sl_os_mono_ns() >= deadline) {
            /* Never seen; leaking beats freeing memory the system may
             * still write to. */
            break;
        }
        /* Bounded by the grace period, a real deadline. */
        if (!GetQueuedCompletionStatusEx(io->port, entries, BATCH, &got,
                                         sleep_ms(deadline, UINT64_MAX),
                                         FALSE))
            got = 0;
        for (ULONG i = 0; i < got; i++) {
            sl_io_event ev;

            if (entries[i].lpOverlapped == NULL)
                continue;
            if (container_of(entries[i].lpOverlapped, iocp_conn, ov)->op !=
                OP_CONNECT)
                continue;
            /* A client that connected at the last moment: nobody is
             * left to read it. */
            if (complete(io, &entries[i], &ev) == 1)
                iocp_release(io, ev.conn);
        }
    }
}

/*
 * Builds the pipe's security descriptor: full access for the current
 * user, SYSTEM and Administrators; nobody else; the DACL protected from
 * inheritance ("P").
 */
static int
build_security(sl_io *io)
{
    static const wchar_t head[] = L"D:P(A;;GA;;;";
    static const wchar_t tail[] = L")(A;;GA;;;SY)(A;;GA;;;BA)";
    wchar_t sddl[512];
    HANDLE token = NULL;
    TOKEN_USER *user = NULL;
    wchar_t *sid = NULL;
    DWORD len = 0;
    size_t sid_len;
    int rc = 0;

    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
        rc = sl_err_from_win32(GetLastError());
        goto done;
    }
    if (!GetTokenInformation(token, TokenUser, NULL, 0, &len) &&
        GetLastError() != ERROR_INSUFFICIENT_BUFFER) {
        rc = sl_err_from_win32(GetLastError());
        goto close_token;
    }
    user = malloc(len);
    if (user == NULL) {
        rc = SL_ENOMEM;
        goto close_token;
    }
    if (!GetTokenInformation(token, TokenUser, user, len, &len) ||
        !ConvertSidToStringSidW(user->User.Sid, &sid)) {
        rc = sl_err_from_win32(GetLastError());
        goto free_user;
    }
    sid_len = wcslen(sid);
    if (sid_len + (sizeof(head) + sizeof(tail)) / sizeof(wchar_t) >
        sizeof(sddl) / sizeof(wchar_t)) {
        rc = SL_ENAMETOOLONG;
        goto free_sid;
    }
    memcpy(sddl, head, sizeof(head) - sizeof(wchar_t));
    memcpy(sddl + wcslen(head), sid, sid_len * sizeof(wchar_t));
    memcpy(sddl + wcslen(head) + sid_len, tail, sizeof(tail));
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl, SDDL_REVISION_1, &io->sd, NULL)) {
        rc = sl_err_from_win32(GetLastError());
        goto free_sid;
    }
    io->sa.nLength = sizeof(io->sa);
    io->sa.lpSecurityDescriptor = io->sd;
    io->sa.bInheritHandle = FALSE;

free_sid:
    LocalFree(sid);
free_user:
    free(user);
close_token:
    CloseHandle(token);
done:
    return rc;
}

static void
iocp_close(sl_io *io)
{
    if (io == NULL)
        return;
    if (io->port != NULL) {
        close_listeners(io);
        CloseHandle(io->port);
    }
    if (io->sd != NULL)
        LocalFree(io->sd);
    free(io->path);
    if (io->wk != NULL) {
        for (unsigned w = 0; w < io->workers; w++)
            if (io->wk[w].thread != NULL)
                CloseHandle(io->wk[w].thread);
    }
    free(io->wk);
    free(io);
}

static int
iocp_open(const sl_io_config *cfg, sl_io **out)
{
    sl_io *io;
    int rc;

    if (cfg->path == NULL || cfg->workers == 0)
        return SL_EINVAL;
    io = calloc(1, sizeof(*io));
    if (io == NULL)
        return SL_ENOMEM;
    InitializeSRWLock(&io->lock);
    io->workers = cfg->workers;
    io->instances = cfg->instances > 0 ? cfg->instances : DEFAULT_INSTANCES;
    io->pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT;
    if (!cfg->allow_remote)
        io->pipe_mode |= PIPE_REJECT_REMOTE_CLIENTS;
    io->wk = calloc(cfg->workers, sizeof(*io->wk));
    if (io->wk == NULL) {
        rc = SL_ENOMEM;
        goto fail;
    }
    for (unsigned w = 0; w < cfg->workers; w++)
        InitializeSRWLock(&io->wk[w].lock);
    rc = sl_os_utf8_to_wide(cfg->path, &io->path);
    if (rc != 0)
        goto fail;
    rc = build_security(io);
    if (rc != 0)
        goto fail;
    io->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0,
                                      cfg->workers);
    if (io->port == NULL) {
        rc = sl_err_from_win32(GetLastError());
        goto fail;
    }
    io->accepting = 1;
    rc = listener_create(io, 1);
    for (unsigned i = 1; rc == 0 && i < io->instances; i++)
        rc = listener_create(io, 0);
    if (rc != 0)
        goto fail;
    *out = io;
    return 0;

fail:
    /* iocp_close() cancels and reaps whatever instances exist. */
    iocp_close(io);
    return rc;
}

const sl_io_backend sl_io_iocp = {
    .name = "iocp",
    .open = iocp_open,
    .wait = iocp_wait,
    .read = iocp_read,
    .write = iocp_write,
    .push = iocp_push,
    .push_cancel = iocp_push_cancel,
    .stop_accepting = iocp_stop_accepting,
    .drain = iocp_drain,
    .release = iocp_release,
    .wake = iocp_wake,
    .close = iocp_close,
};
