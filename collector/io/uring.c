/*
 * Linux io_uring backend (liburing). Completions map one to one onto the
 * io.h interface: a posted read is an IORING_OP_RECV into the core's
 * buffer, and its CQE is the SL_IO_READ event.
 *
 * One ring per worker, because a ring's submission and completion queues
 * are single-threaded: every worker owns its ring and the connections it
 * accepted, so all posts for a connection happen on the thread that owns
 * its ring, as io.h promises. Each ring keeps a multishot accept armed on
 * the shared listening socket (the kernel hands each connection to one of
 * them), and a read on an eventfd so other threads can wake it.
 * Operations posted while handling completions are submitted in one batch
 * by the next wait() (io_uring_submit_and_wait_timeout), which also reaps
 * completions in batches (io_uring_peek_batch_cqe).
 *
 * Stop: stop_accepting() seals the listening socket (listen_unix.h), so
 * the backlog can only shrink, and wakes every worker. Each worker's next
 * wait() cancels its accept, waits for that accept's last CQE (every
 * connection the kernel took for this ring comes before it), then accepts
 * what is still in the backlog itself: a stop drops no connection a
 * client had.
 *
 * Kernels before 5.11 lack IORING_FEAT_EXT_ARG: liburing then implements
 * a timed wait with a timeout request of its own, whose CQE carries
 * LIBURING_UDATA_TIMEOUT and is skipped here. Multishot accept (5.19) is
 * probed by use: EINVAL falls back to one-shot accepts.
 *
 * open() probes first — ring setup and the opcodes we need — and answers
 * SL_ENOSYS on any failure (seccomp, io_uring_disabled, old kernels,
 * memlock limits), so "auto" falls back to epoll quietly, as libuv's
 * uv__iou_init() does, before the listening socket is created.
 */
#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "io.h"
#include "listen_unix.h"
#include "os.h"

/* user_data: a connection pointer (allocations are 16-aligned), or one of
 * these tags for the ring's own operations. */
#define TAG_ACCEPT 1u
#define TAG_WAKE 2u
#define TAG_CANCEL 3u
#define TAG_MASK 7u
/* A connection's push: its pointer with this bit set. */
#define TAG_PUSH 4u

#define ACCEPT_PAUSE_NS 100000000u /* 100 ms */
#define SQ_ENTRIES 256u
#define CQ_ENTRIES 4096u

enum { OP_NONE, OP_READ, OP_WRITE };

typedef struct ur_conn {
    sl_io_conn base; /* first: the core sees only this */
    int fd;
    unsigned worker;
    int op;
    /* The push beside the read (io.h). The poster (any thread) fills these
     * and queues c in the owner's mailbox; from then on only the owner
     * touches them, until the SL_IO_PUSH event. */
    const uint8_t *pbuf;
    size_t plen, pdone;
    struct ur_conn *next_mail;
} ur_conn;

typedef struct ur_worker {
    struct io_uring ring;
    int ring_ok;
    int evfd;
    uint64_t evbuf;
    int wake_armed;
    int accept_armed;     /* in the kernel: its last CQE not yet seen */
    int accept_cancelled; /* after stop: its cancel is submitted */
    int swept;            /* after stop: the sealed backlog is empty */
    int multishot; /* multishot accept works (5.19+); else one-shot */
    uint64_t accept_resume_ns; /* out of descriptors: re-arm from then */
    /* Pushes posted by other threads: a ring's submission queue is the
     * owner's alone, so they wait here (under mail_lock) and the eventfd
     * wakes the owner, which submits them. */
    sl_mutex mail_lock;
    int mail_ok;
    ur_conn *mail;
} ur_worker;

struct sl_io {
    sl_listen_unix listener;
    unsigned nworkers;
    /* Cleared by stop_accepting (any thread) before it seals the listener
     * and writes the eventfds; the release there pairs with the acquire
     * load in ur_wait(), so a worker that sees 0 finds the backlog sealed
     * and cancels and sweeps. */
    atomic_int accepting;
    ur_worker w[];
};

static struct io_uring_sqe *
get_sqe(ur_worker *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

    if (sqe == NULL) {
        /* SQ full: hand what is queued to the kernel and retry. */
        io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
    }
    return sqe;
}

static void
ur_close(sl_io *io)
{
    if (io == NULL)
        return;
    for (unsigned i = 0; i < io->nworkers; i++) {
        if (io->w[i].ring_ok) {
            struct io_uring_cqe *cqe;

            /* A connection accepted for a ring whose worker never waited
             * after stop would leak its descriptor. */
            while (io_uring_peek_cqe(&io->w[i].ring, &cqe) == 0) {
                if (io_uring_cqe_get_data64(cqe) == TAG_ACCEPT &&
                    cqe->res >= 0)
                    close(cqe->res);
                io_uring_cqe_seen(&io->w[i].ring, cqe);
            }
            io_uring_queue_exit(&io->w[i].ring);
        }
        if (io->w[i].evfd >= 0)
            close(io->w[i].evfd);
        if (io->w[i].mail_ok)
            sl_mutex_destroy(&io->w[i].mail_lock);
    }
    sl_listen_unix_unlink(&io->listener);
    sl_listen_unix_close(&io->listener);
    free(io);
}

/* 1 if the kernel supports every opcode this backend uses. */
static int
probe_ops(struct io_uring *ring)
{
    static const int need[] = {IORING_OP_RECV, IORING_OP_SEND,
                               IORING_OP_ACCEPT, IORING_OP_READ,
                               IORING_OP_ASYNC_CANCEL};
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    int ok = p != NULL;

    for (size_t i = 0; ok && i < sizeof(need) / sizeof(need[0]); i++)
        ok = io_uring_opcode_supported(p, need[i]);
    if (p != NULL)
        io_uring_free_probe(p);
    return ok;
}

static int
ur_open(const sl_io_config *cfg, sl_io **out)
{
    unsigned n = cfg->workers ? cfg->workers : 1;
    sl_io *io;
    int rc;

    io = calloc(1, sizeof(*io) + n * sizeof(ur_worker));
    if (io == NULL)
        return SL_ENOMEM;
    io->nworkers = n;
    io->listener.fd = -1;
    for (unsigned i = 0; i < n; i++)
        io->w[i].evfd = -1;
    for (unsigned i = 0; i < n; i++) {
        ur_worker *w = &io->w[i];
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        /* A large CQ: every connection may have a read completing at
         * once. */
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        if (io_uring_queue_init_params(SQ_ENTRIES, &w->ring, &p) < 0) {
            rc = SL_ENOSYS;
            goto fail;
        }
        w->ring_ok = 1;
        if (i == 0 && !probe_ops(&w->ring)) {
            rc = SL_ENOSYS;
            goto fail;
        }
        w->multishot = 1;
        if (cfg->test_flags & SL_IO_TEST_OLD_URING) {
            /* liburing picks its wait path by this flag. */
            w->ring.features &= ~IORING_FEAT_EXT_ARG;
            w->multishot = 0;
        }
        w->evfd = eventfd(0, EFD_CLOEXEC);
        if (w->evfd < 0) {
            rc = sl_err_from_errno(errno);
            goto fail;
        }
        sl_mutex_init(&w->mail_lock);
        w->mail_ok = 1;
    }
    rc = sl_listen_unix_open(cfg->path, cfg->backlog ? cfg->backlog : 4096,
                             cfg->group, &io->listener);
    if (rc != 0)
        goto fail;
    atomic_store_explicit(&io->accepting, 1, memory_order_relaxed);
    *out = io;
    return 0;

fail:
    ur_close(io);
    return rc;
}

static void
arm_accept(sl_io *io, ur_worker *w)
{
    struct io_uring_sqe *sqe = get_sqe(w);

    if (sqe == NULL)
        return;
    if (w->multishot)
        io_uring_prep_multishot_accept(sqe, io->listener.fd, NULL, NULL,
                                       SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, io->listener.fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_ACCEPT);
    w->accept_armed = 1;
}

static void
arm_wake(ur_worker *w)
{
    struct io_uring_sqe *sqe = get_sqe(w);

    if (sqe == NULL)
        return;
    io_uring_prep_read(sqe, w->evfd, &w->evbuf, sizeof(w->evbuf), 0);
    io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_WAKE);
    w->wake_armed = 1;
}

/* Queues the send of what is left of c's push. */
static int
queue_push(ur_worker *w, ur_conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(w);

    if (sqe == NULL)
        return SL_EAGAIN;
    /* The kernel completes it once the socket took the bytes (it waits
     * for writability itself): a real completion, no polling. */
    io_uring_prep_send(sqe, c->fd, c->pbuf + c->pdone, c->plen - c->pdone,
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | TAG_PUSH);
    return 0;
}

/* Submits the pushes other threads posted. Owner thread. @return 1 if
 * some could not be queued (SQ full and its flush refused): they stay in
 * the mailbox, and the caller must not block in this round, since no
 * eventfd write is coming to wake it for them. */
static int
submit_mail(ur_worker *w)
{
    ur_conn *list;
    int deferred = 0;

    sl_mutex_lock(&w->mail_lock);
    list = w->mail;
    w->mail = NULL;
    sl_mutex_unlock(&w->mail_lock);
    while (list != NULL) {
        ur_conn *c = list;

        list = c->next_mail;
        if (queue_push(w, c) != 0) {
            /* SQ and its flush both full: try again next round. */
            sl_mutex_lock(&w->mail_lock);
            c->next_mail = w->mail;
            w->mail = c;
            sl_mutex_unlock(&w->mail_lock);
            deferred = 1;
        }
    }
    return deferred;
}

/* New connection fd for worker wi: one SL_IO_ACCEPT. */
static void
add_accept(sl_io *io, unsigned wi, int fd, sl_io_event *ev, size_t *n)
{
    ur_conn *c = calloc(1, sizeof(*c));

    (void)io;
    if (c == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->worker = wi;
    sl_listen_unix_peer(c->fd, &c->base.pid, &c->base.uid);
    ev[*n].kind = SL_IO_ACCEPT;
    ev[*n].conn = &c->base;
    ev[*n].result = 0;
    (*n)++;
}

static void
on_accept_cqe(sl_io *io, unsigned wi, const struct io_uring_cqe *cqe,
              sl_io_event *ev, size_t *n)
{
    ur_worker *w = &io->w[wi];

    if (!(cqe->flags & IORING_CQE_F_MORE))
        w->accept_armed = 0;
    if (cqe->res < 0) {
        /* Multishot accept unsupported: fall back to one-shot. Out of
         * descriptors (or memory): the connection stays in the backlog and
         * an accept re-armed at once would fail at once, forever; wait a
         * while first. Other errors (ECANCELED) just leave it to be
         * re-armed. */
        if (cqe->res == -EINVAL && w->multishot &&
            atomic_load_explicit(&io->accepting, memory_order_relaxed))
            w->multishot = 0;
        if (cqe->res == -EMFILE || cqe->res == -ENFILE ||
            cqe->res == -ENOBUFS || cqe->res == -ENOMEM)
            w->accept_resume_ns = sl_os_mono_ns() + ACCEPT_PAUSE_NS;
        return;
    }
    add_accept(io, wi, cqe->res, ev, n);
}

/* After stop, once this ring's accept is over: accepts what is left in
 * the sealed backlog, up to cap events; w->swept once it is empty. */
static void
sweep_backlog(sl_io *io, unsigned wi, sl_io_event *ev, size_t cap, size_t *n)
{
    while (*n < cap) {
        int fd = accept4(io->listener.fd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* EAGAIN (EINVAL from some kernels): empty. Out of
             * descriptors at stop, what is left cannot be taken; it is
             * closed with the listener. */
            io->w[wi].swept = 1;
            return;
        }
        add_accept(io, wi, fd, ev, n);
    }
}

/* Arms, re-arms or cancels this worker's accept and arms its wake-up
 * read. @return the timeout for this round: timeout_ms, shortened to the
 * end of an out-of-descriptors pause (a deadline of this backend's own),
 * or -1 while a cancelled accept's last CQE is still to come. */
static int
prepare(sl_io *io, ur_worker *w, int accepting, int timeout_ms)
{
    if (accepting && !w->accept_armed) {
        uint64_t now = w->accept_resume_ns ? sl_os_mono_ns() : 0;

        if (now < w->accept_resume_ns) {
            uint64_t left_ms =
                (w->accept_resume_ns - now + 999999u) / 1000000u;

            if (timeout_ms < 0 || (uint64_t)timeout_ms > left_ms)
                timeout_ms = (int)left_ms;
        } else {
            w->accept_resume_ns = 0;
            arm_accept(io, w);
        }
    }
    if (!accepting && w->accept_armed) {
        if (!w->accept_cancelled) {
            struct io_uring_sqe *sqe = get_sqe(w);

            if (sqe != NULL) {
                io_uring_prep_cancel64(sqe, TAG_ACCEPT, 0);
                io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_CANCEL);
                w->accept_cancelled = 1;
            }
        }
        /* The cancel ends the accept at once; its last CQE follows every
         * connection it took, which this wait() must report. */
        timeout_ms = -1;
    }
    if (!w->wake_armed)
        arm_wake(w);
    /* A push left in the mailbox is retried at once, not after the next
     * unrelated completion (which may never come: a producer waiting for
     * its STATE frame sends nothing). */
    if (submit_mail(w))
        timeout_ms = 0;
    return timeout_ms;
}

static int
ur_wait(sl_io *io, unsigned wi, sl_io_event *ev, size_t cap, size_t *n,
        int timeout_ms)
{
    ur_worker *w = &io->w[wi];
    struct io_uring_cqe *cqes[64];

    *n = 0;
    for (;;) {
        struct io_uring_cqe *first;
        struct __kernel_timespec ts;
        unsigned k, want;
        int accepting, tmo, rc;

        accepting = atomic_load_explicit(&io->accepting, memory_order_acquire);
        tmo = prepare(io, w, accepting, *n > 0 ? 0 : timeout_ms);
        ts.tv_sec = tmo / 1000;
        ts.tv_nsec = (long long)(tmo % 1000) * 1000000;
        rc = io_uring_submit_and_wait_timeout(&w->ring, &first, 1,
                                              tmo >= 0 ? &ts : NULL, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
            rc != -EBUSY)
            return sl_err_from_errno(-rc);
        /* Each accept CQE yields at most one event, so reaping no more
         * CQEs than there is room for keeps every event. */
        want = (unsigned)(cap - *n < 64 ? cap - *n : 64);
        k = io_uring_peek_batch_cqe(&w->ring, cqes, want);
        for (unsigned i = 0; i < k; i++) {
            uint64_t ud = io_uring_cqe_get_data64(cqes[i]);
            int res = cqes[i]->res;

            if (ud == LIBURING_UDATA_TIMEOUT) {
                /* liburing's own timeout (no IORING_FEAT_EXT_ARG). */
            } else if (ud == TAG_ACCEPT) {
                on_accept_cqe(io, wi, cqes[i], ev, n);
            } else if (ud == TAG_WAKE) {
                w->wake_armed = 0;
            } else if (ud == TAG_CANCEL) {
                /* The accept's own CQE (ECANCELED) reports the outcome. */
            } else if (ud & TAG_PUSH) {
                ur_conn *c = (ur_conn *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);

                if (res > 0 && c->pdone + (size_t)res < c->plen) {
                    c->pdone += (size_t)res; /* partial: send the rest */
                    if (queue_push(w, c) == 0)
                        continue;
                    res = -EAGAIN;
                }
                ev[*n].kind = SL_IO_PUSH;
                ev[*n].conn = &c->base;
                ev[*n].result = res > 0 ? (int64_t)c->plen
                                : res == 0 ? SL_EIO
                                           : sl_err_from_errno(-res);
                (*n)++;
            } else {
                ur_conn *c = (ur_conn *)(uintptr_t)ud;

                ev[*n].kind = c->op == OP_WRITE ? SL_IO_WRITE : SL_IO_READ;
                ev[*n].conn = &c->base;
                ev[*n].result = res >= 0 ? res : sl_err_from_errno(-res);
                c->op = OP_NONE;
                (*n)++;
            }
        }
        io_uring_cq_advance(&w->ring, k);
        if (accepting)
            accepting = atomic_load_explicit(&io->accepting,
                                             memory_order_acquire);
        if (accepting || *n == cap)
            return 0;
        /* Stopped: go on until this ring's accept is over and the
         * backlog swept, so that a wait() returning with room to spare
         * has reported every connection (io.h). */
        if (!w->accept_armed && !w->swept)
            sweep_backlog(io, wi, ev, cap, n);
        if ((!w->accept_armed && w->swept) || *n == cap)
            return 0;
    }
}

static int
ur_read(sl_io *io, sl_io_conn *base, void *buf, size_t len)
{
    ur_conn *c = (ur_conn *)base;
    struct io_uring_sqe *sqe = get_sqe(&io->w[c->worker]);

    if (sqe == NULL)
        return SL_EAGAIN;
    c->op = OP_READ;
    io_uring_prep_recv(sqe, c->fd, buf, len, 0);
    io_uring_sqe_set_data(sqe, c);
    return 0;
}

static int
ur_write(sl_io *io, sl_io_conn *base, const void *buf, size_t len)
{
    ur_conn *c = (ur_conn *)base;
    struct io_uring_sqe *sqe = get_sqe(&io->w[c->worker]);

    if (sqe == NULL)
        return SL_EAGAIN;
    c->op = OP_WRITE;
    /* MSG_NOSIGNAL: a write-only client that shut its receive side gives
     * EPIPE here, never SIGPIPE. */
    io_uring_prep_send(sqe, c->fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, c);
    return 0;
}

static int
ur_push(sl_io *io, sl_io_conn *base, const void *buf, size_t len)
{
    ur_conn *c = (ur_conn *)base;
    ur_worker *w = &io->w[c->worker];
    uint64_t one = 1;

    c->pbuf = buf;
    c->plen = len;
    c->pdone = 0;
    sl_mutex_lock(&w->mail_lock);
    c->next_mail = w->mail;
    w->mail = c;
    sl_mutex_unlock(&w->mail_lock);
    /* The owner submits it in its next wait(), which this ends. */
    if (write(w->evfd, &one, sizeof(one)) < 0) {
        /* Counter saturated: a wake-up is pending anyway. */
    }
    return 0;
}

static void
ur_push_cancel(sl_io *io, sl_io_conn *base)
{
    ur_conn *c = (ur_conn *)base;

    (void)io;
    /* A send waiting for room fails with EPIPE once the socket is shut
     * for writing (the shutdown wakes its wait). */
    shutdown(c->fd, SHUT_RDWR);
}

static void
wake_all(sl_io *io)
{
    for (unsigned i = 0; i < io->nworkers; i++) {
        uint64_t one = 1;
        if (write(io->w[i].evfd, &one, sizeof(one)) < 0) {
            /* Counter saturated: a wake-up is pending anyway. */
        }
    }
}

static void
ur_stop_accepting(sl_io *io)
{
    /* Release: pairs with the acquire loads in ur_wait() (see the field). */
    atomic_store_explicit(&io->accepting, 0, memory_order_release);
    sl_listen_unix_seal(&io->listener);
    /* Every worker cancels its accept and sweeps in its next wait(). */
    wake_all(io);
}

static int
ur_drain(sl_io *io, sl_io_conn *base)
{
    ur_conn *c = (ur_conn *)base;
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};

    (void)io;
    /* Ask first whether the peer has ended its stream itself (closed, or
     * shut down its sending side: POLLRDHUP), since after our SHUT_RD
     * both look the same. A peer that ends it after this call ended at
     * the stop. */
    if (poll(&p, 1, 0) != 1)
        p.revents = 0;
    /* Unix stream sockets: after SHUT_RD, recv() (or a pending one) still
     * returns what the peer had sent, then 0; the peer's later sends fail
     * with EPIPE. */
    shutdown(c->fd, SHUT_RD);
    return (p.revents & (POLLRDHUP | POLLHUP)) != 0;
}

static void
ur_release(sl_io *io, sl_io_conn *base)
{
    ur_conn *c = (ur_conn *)base;

    (void)io;
    close(c->fd);
    free(c);
}

const sl_io_backend sl_io_uring = {
    .name = "uring",
    .open = ur_open,
    .wait = ur_wait,
    .read = ur_read,
    .write = ur_write,
    .push = ur_push,
    .push_cancel = ur_push_cancel,
    .stop_accepting = ur_stop_accepting,
    .drain = ur_drain,
    .release = ur_release,
    .wake = wake_all,
    .close = ur_close,
};
