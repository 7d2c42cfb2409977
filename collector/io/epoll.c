/*
 * Linux epoll(7) backend, the fallback when io_uring is unavailable
 * (seccomp'd containers, old kernels, io_uring_disabled). It imitates
 * completions: a posted read is tried at once and, if the socket has
 * nothing yet, armed with EPOLLONESHOT and performed when the socket
 * becomes readable; either way the result is reported by wait() as an
 * SL_IO_READ event.
 *
 * Each worker has its own epoll instance. The listening socket sits in all
 * of them with EPOLLEXCLUSIVE, so one worker wakes per connection attempt
 * and owns the connections it accepts; a connection's events and posts
 * therefore stay on one thread and need no locks. Results produced inside
 * read()/write() go on that worker's ready list, an intrusive list through
 * the connection (at most one operation per connection is pending).
 *
 * Stop: stop_accepting() seals the listening socket (listen_unix.h): no
 * new connection can queue, but those already in the backlog, whose
 * clients may have written already, stay. Each worker's next wait() takes
 * the listener out of its set and accepts what is left, so a stop drops
 * no connection a client had.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "io.h"
#include "listen_unix.h"
#include "os.h"

enum { OP_NONE, OP_READ, OP_WRITE };

#define ACCEPT_PAUSE_NS 100000000u /* 100 ms */

typedef struct ep_conn {
    sl_io_conn base; /* first: the core sees only this */
    int fd;
    unsigned worker;
    int op;
    uint8_t *buf;
    size_t len;
    size_t done; /* bytes of a pending write already sent */
    int64_t result;
    int queued; /* result is on the ready list, not yet reported */
    struct ep_conn *next_ready;
    /* The push beside the read (io.h): a dup of fd with an epoll
     * registration of its own (data tagged PUSH_TAG), so arming it for
     * EPOLLOUT never touches the read's ONESHOT registration. Posted from
     * any thread; the poster fills the fields, then epoll_ctl() arms the
     * owner worker's set, and only that worker touches them until the
     * SL_IO_PUSH event (the core posts no second push before it). */
    int wfd;
    const uint8_t *pbuf;
    size_t plen, pdone;
    int64_t presult;
    struct ep_conn *next_push;
    /* Push hand-off, poster -> owner worker: the poster fills pbuf/plen/
     * pdone, then adds 1 here with release, then epoll_ctl() arms the
     * push fd; the owner's do_push() loads it with acquire before it
     * touches those fields. The kernel already orders epoll_ctl() before
     * the epoll_wait() that reports the registration, but that order is
     * invisible to the C memory model (and to ThreadSanitizer); this pair
     * states it. The value itself is never used. */
    _Atomic uint64_t pgen;
} ep_conn;

/* Low bit of epoll_event.data.u64 for a connection's push fd. */
#define PUSH_TAG 1u

typedef struct ep_worker {
    int epfd;
    int evfd;          /* wake-ups */
    int listening;     /* the listener is in this epoll set */
    int swept;         /* after stop: the sealed backlog is empty */
    uint64_t resume_ns; /* accepts paused (out of descriptors) until then */
    ep_conn *ready;    /* completed operations not yet reported (LIFO is */
    ep_conn **ready_tail; /* fine but FIFO is fairer) */
    ep_conn *pushed;   /* completed pushes not yet reported */
} ep_worker;

struct sl_io {
    sl_listen_unix listener;
    unsigned nworkers;
    /* Cleared by stop_accepting (any thread) before it seals the
     * listener and writes the workers' eventfds; release there pairs with
     * the acquire loads in ep_wait(), so a worker that sees 0 sweeps a
     * backlog that is already sealed. (A worker woken by that eventfd
     * write sees 0 too: the write follows the store.) */
    atomic_int accepting;
    ep_worker w[];
};

/* Markers in epoll_event.data.ptr for the non-connection fds. */
static char listener_mark, wake_mark;

static void
push_ready(ep_worker *w, ep_conn *c, int64_t result)
{
    c->result = result;
    c->queued = 1;
    c->next_ready = NULL;
    *w->ready_tail = c;
    w->ready_tail = &c->next_ready;
}

static int
ep_arm(ep_worker *w, ep_conn *c, uint32_t events)
{
    struct epoll_event ev;

    ev.events = events | EPOLLONESHOT;
    ev.data.ptr = c;
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return sl_err_from_errno(errno);
    return 0;
}

static int64_t
read_result(ssize_t r)
{
    if (r >= 0)
        return r;
    /* A peer that closed without reading is an ordinary end of stream
     * once its data is drained: the core treats ECONNRESET so. */
    return sl_err_from_errno(errno);
}

static void
ep_close(sl_io *io)
{
    if (io == NULL)
        return;
    for (unsigned i = 0; i < io->nworkers; i++) {
        if (io->w[i].epfd >= 0)
            close(io->w[i].epfd);
        if (io->w[i].evfd >= 0)
            close(io->w[i].evfd);
    }
    sl_listen_unix_unlink(&io->listener);
    sl_listen_unix_close(&io->listener);
    free(io);
}

static int
ep_open(const sl_io_config *cfg, sl_io **out)
{
    sl_io *io;
    unsigned n = cfg->workers ? cfg->workers : 1;
    int rc;

    io = calloc(1, sizeof(*io) + n * sizeof(ep_worker));
    if (io == NULL)
        return SL_ENOMEM;
    io->nworkers = n;
    io->listener.fd = -1;
    for (unsigned i = 0; i < n; i++) {
        io->w[i].epfd = -1;
        io->w[i].evfd = -1;
    }
    rc = sl_listen_unix_open(cfg->path, cfg->backlog ? cfg->backlog : 4096,
                             cfg->group, &io->listener);
    if (rc != 0)
        goto fail;
    for (unsigned i = 0; i < n; i++) {
        ep_worker *w = &io->w[i];
        struct epoll_event ev;

        w->ready_tail = &w->ready;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->epfd < 0 || w->evfd < 0) {
            rc = sl_err_from_errno(errno);
            goto fail;
        }
        ev.events = EPOLLIN;
        ev.data.ptr = &wake_mark;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) != 0) {
            rc = sl_err_from_errno(errno);
            goto fail;
        }
        /* EPOLLEXCLUSIVE: one worker wakes per pending connection instead
         * of all of them (thundering herd). */
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.ptr = &listener_mark;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->listener.fd, &ev) != 0) {
            rc = sl_err_from_errno(errno);
            goto fail;
        }
        w->listening = 1;
    }
    atomic_store_explicit(&io->accepting, 1, memory_order_relaxed);
    *out = io;
    return 0;

fail:
    ep_close(io);
    return rc;
}

/* Out of descriptors (or memory): the pending connection stays in the
 * backlog, and the listener, level-triggered, would wake this worker again
 * at once, forever. Take it out of the set for a while instead, as nginx
 * does; ep_wait() puts it back. */
static void
pause_accepts(sl_io *io, ep_worker *w)
{
    if (w->listening) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, io->listener.fd, NULL);
        w->listening = 0;
    }
    w->resume_ns = sl_os_mono_ns() + ACCEPT_PAUSE_NS;
}

/* Accepts what is pending; each new connection becomes an SL_IO_ACCEPT. */
static void
accept_some(sl_io *io, unsigned wi, sl_io_event *ev, size_t cap, size_t *n)
{
    ep_worker *w = &io->w[wi];

    while (*n < cap &&
           atomic_load_explicit(&io->accepting, memory_order_relaxed)) {
        struct epoll_event e;
        ep_conn *c;
        int fd = accept4(io->listener.fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM)
                pause_accepts(io, w);
            return; /* EAGAIN: drained */
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            return;
        }
        c->fd = fd;
        c->wfd = -1;
        c->worker = wi;
        sl_listen_unix_peer(fd, &c->base.pid, &c->base.uid);
        e.events = EPOLLONESHOT; /* nothing armed until an op is posted */
        e.data.ptr = c;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
            close(fd);
            free(c);
            return;
        }
        ev[*n].kind = SL_IO_ACCEPT;
        ev[*n].conn = &c->base;
        ev[*n].result = 0;
        (*n)++;
    }
}

/* Performs the operation the readiness event was armed for. */
static void
do_ready(ep_worker *w, ep_conn *c)
{
    /* EPOLLHUP and EPOLLERR are reported even when not asked for, so a
     * connection whose result is already queued can show up again: its
     * operation is done, leave it alone. */
    if (c->queued)
        return;
    if (c->op == OP_READ) {
        ssize_t r = recv(c->fd, c->buf, c->len, 0);

        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (ep_arm(w, c, EPOLLIN | EPOLLRDHUP) == 0)
                return;
        }
        push_ready(w, c, read_result(r));
    } else if (c->op == OP_WRITE) {
        ssize_t r = send(c->fd, c->buf + c->done, c->len - c->done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (r > 0)
            c->done += (size_t)r;
        if ((r < 0 && (errno == EAGAIN || errno == EINTR)) ||
            (r >= 0 && c->done < c->len)) {
            if (ep_arm(w, c, EPOLLOUT) == 0)
                return;
        }
        push_ready(w, c, r < 0 ? sl_err_from_errno(errno)
                               : (int64_t)c->done);
    }
}

/* The push fd is writable (or hung up): send what is left. */
static void
do_push(ep_worker *w, ep_conn *c)
{
    struct epoll_event ev;

    /* Acquire: pairs with ep_push()'s release (see pgen). */
    (void)atomic_load_explicit(&c->pgen, memory_order_acquire);
    while (c->pdone < c->plen) {
        ssize_t r = send(c->wfd, c->pbuf + c->pdone, c->plen - c->pdone,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (r > 0) {
            c->pdone += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN) {
            /* Full: wait for writability, a real readiness event. */
            ev.events = EPOLLOUT | EPOLLONESHOT;
            ev.data.u64 = (uint64_t)(uintptr_t)c | PUSH_TAG;
            if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->wfd, &ev) == 0)
                return;
        }
        c->presult = r < 0 ? sl_err_from_errno(errno) : SL_EIO;
        c->next_push = w->pushed;
        w->pushed = c;
        return;
    }
    c->presult = (int64_t)c->plen;
    c->next_push = w->pushed;
    w->pushed = c;
}

/* After stop: takes the listener out of this worker's set and accepts
 * what is left in the sealed backlog, up to cap events. Sets w->swept
 * once the backlog is empty: nothing new can arrive (listen_unix.h). */
static void
sweep_backlog(sl_io *io, unsigned wi, sl_io_event *ev, size_t cap, size_t *n)
{
    ep_worker *w = &io->w[wi];

    if (w->listening) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, io->listener.fd, NULL);
        w->listening = 0;
    }
    while (*n < cap) {
        struct epoll_event e;
        ep_conn *c;
        int fd = accept4(io->listener.fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* EAGAIN (EINVAL from some kernels): empty. Out of
             * descriptors at stop, what is left cannot be taken; the
             * connections are closed with the listener. */
            w->swept = 1;
            return;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->wfd = -1;
        c->worker = wi;
        sl_listen_unix_peer(fd, &c->base.pid, &c->base.uid);
        e.events = EPOLLONESHOT;
        e.data.ptr = c;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
            close(fd);
            free(c);
            continue;
        }
        ev[*n].kind = SL_IO_ACCEPT;
        ev[*n].conn = &c->base;
        ev[*n].result = 0;
        (*n)++;
    }
}

/* Accepting: puts the listener back once an out-of-descriptors pause is
 * over. @return how long wait() may sleep: timeout_ms, shortened to the
 * end of the pause (a deadline of this backend's own). */
static int
resume_accepts(sl_io *io, ep_worker *w, int timeout_ms)
{
    uint64_t now, left_ms;

    if (w->resume_ns == 0)
        return timeout_ms;
    now = sl_os_mono_ns();
    if (now >= w->resume_ns) {
        struct epoll_event e;

        e.events = EPOLLIN | EPOLLEXCLUSIVE;
        e.data.ptr = &listener_mark;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->listener.fd, &e) == 0) {
            w->listening = 1;
            w->resume_ns = 0;
            return timeout_ms;
        }
        w->resume_ns = now + ACCEPT_PAUSE_NS;
    }
    left_ms = (w->resume_ns - now + 999999u) / 1000000u;
    if (timeout_ms < 0 || (uint64_t)timeout_ms > left_ms)
        timeout_ms = (int)left_ms;
    return timeout_ms;
}

static int
ep_wait(sl_io *io, unsigned wi, sl_io_event *ev, size_t cap, size_t *n,
        int timeout_ms)
{
    ep_worker *w = &io->w[wi];
    struct epoll_event evs[64];
    int k;

    *n = 0;
    if (!atomic_load_explicit(&io->accepting, memory_order_acquire)) {
        if (!w->swept)
            sweep_backlog(io, wi, ev, cap, n);
    } else {
        timeout_ms = resume_accepts(io, w, timeout_ms);
    }
    if (w->ready != NULL || w->pushed != NULL || *n > 0)
        timeout_ms = 0;
    k = 0;
    if (*n < cap) {
        k = epoll_wait(w->epfd, evs, (int)(cap - *n < 64 ? cap - *n : 64),
                       timeout_ms);
        if (k < 0 && errno != EINTR)
            return sl_err_from_errno(errno);
    }
    for (int i = 0; i < k; i++) {
        void *p = evs[i].data.ptr;

        if (p == &wake_mark) {
            uint64_t v;
            if (read(w->evfd, &v, sizeof(v)) < 0) {
                /* EAGAIN: another wake already consumed it. */
            }
        } else if (p == &listener_mark) {
            accept_some(io, wi, ev, cap, n);
        } else if (evs[i].data.u64 & PUSH_TAG) {
            do_push(w, (ep_conn *)(uintptr_t)(evs[i].data.u64 & ~(uint64_t)PUSH_TAG));
        } else {
            do_ready(w, p);
        }
    }
    /* A stop that woke us: report the sealed backlog in this same call. */
    if (!w->swept &&
        !atomic_load_explicit(&io->accepting, memory_order_acquire))
        sweep_backlog(io, wi, ev, cap, n);
    while (w->pushed != NULL && *n < cap) {
        ep_conn *c = w->pushed;

        w->pushed = c->next_push;
        ev[*n].kind = SL_IO_PUSH;
        ev[*n].conn = &c->base;
        ev[*n].result = c->presult;
        (*n)++;
    }
    while (w->ready != NULL && *n < cap) {
        ep_conn *c = w->ready;

        w->ready = c->next_ready;
        if (w->ready == NULL)
            w->ready_tail = &w->ready;
        ev[*n].kind = c->op == OP_READ ? SL_IO_READ : SL_IO_WRITE;
        ev[*n].conn = &c->base;
        ev[*n].result = c->result;
        c->op = OP_NONE;
        c->queued = 0;
        (*n)++;
    }
    return 0;
}

static int
ep_read(sl_io *io, sl_io_conn *base, void *buf, size_t len)
{
    ep_conn *c = (ep_conn *)base;
    ep_worker *w = &io->w[c->worker];
    ssize_t r;

    c->op = OP_READ;
    c->buf = buf;
    c->len = len;
    /* Optimistic read: under load the socket usually has data, and this
     * saves an epoll round trip per chunk. */
    r = recv(c->fd, buf, len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        int rc = ep_arm(w, c, EPOLLIN | EPOLLRDHUP);
        if (rc != 0)
            c->op = OP_NONE;
        return rc;
    }
    push_ready(w, c, read_result(r));
    return 0;
}

static int
ep_write(sl_io *io, sl_io_conn *base, const void *buf, size_t len)
{
    ep_conn *c = (ep_conn *)base;

    c->op = OP_WRITE;
    c->buf = (uint8_t *)buf;
    c->len = len;
    c->done = 0;
    do_ready(&io->w[c->worker], c);
    return 0;
}

static int
ep_push(sl_io *io, sl_io_conn *base, const void *buf, size_t len)
{
    ep_conn *c = (ep_conn *)base;
    ep_worker *w = &io->w[c->worker];
    struct epoll_event ev;
    int op = EPOLL_CTL_MOD;

    if (c->wfd < 0) {
        c->wfd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
        if (c->wfd < 0)
            return sl_err_from_errno(errno);
        op = EPOLL_CTL_ADD;
    }
    c->pbuf = buf;
    c->plen = len;
    c->pdone = 0;
    /* Release: the fields above are the owner's from here (see pgen). */
    atomic_fetch_add_explicit(&c->pgen, 1, memory_order_release);
    /* The owner worker sends once the socket is writable (at once, for a
     * socket with room): the first send happens there, not here, so a
     * push never blocks its caller and its result always comes through
     * that worker's wait(). */
    ev.events = EPOLLOUT | EPOLLONESHOT;
    ev.data.u64 = (uint64_t)(uintptr_t)c | PUSH_TAG;
    if (epoll_ctl(w->epfd, op, c->wfd, &ev) != 0)
        return sl_err_from_errno(errno);
    return 0;
}

static void
ep_push_cancel(sl_io *io, sl_io_conn *base)
{
    ep_conn *c = (ep_conn *)base;

    (void)io;
    /* Both directions: the pending send fails (EPIPE) and EPOLLHUP,
     * which epoll always reports, wakes the push fd's registration. */
    if (c->wfd >= 0)
        shutdown(c->fd, SHUT_RDWR);
}

static void ep_wake(sl_io *io);

static void
ep_stop_accepting(sl_io *io)
{
    /* Release: pairs with the acquire loads in ep_wait() (see the field). */
    atomic_store_explicit(&io->accepting, 0, memory_order_release);
    sl_listen_unix_seal(&io->listener);
    /* Every worker sweeps the backlog in its next wait(). */
    ep_wake(io);
}

static int
ep_drain(sl_io *io, sl_io_conn *base)
{
    ep_conn *c = (ep_conn *)base;
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
ep_release(sl_io *io, sl_io_conn *base)
{
    ep_conn *c = (ep_conn *)base;

    epoll_ctl(io->w[c->worker].epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->wfd >= 0) {
        epoll_ctl(io->w[c->worker].epfd, EPOLL_CTL_DEL, c->wfd, NULL);
        close(c->wfd);
    }
    close(c->fd);
    free(c);
}

static void
ep_wake(sl_io *io)
{
    for (unsigned i = 0; i < io->nworkers; i++) {
        uint64_t one = 1;
        if (write(io->w[i].evfd, &one, sizeof(one)) < 0) {
            /* Counter saturated: a wake-up is pending anyway. */
        }
    }
}

const sl_io_backend sl_io_epoll = {
    .name = "epoll",
    .open = ep_open,
    .wait = ep_wait,
    .read = ep_read,
    .write = ep_write,
    .push = ep_push,
    .push_cancel = ep_push_cancel,
    .stop_accepting = ep_stop_accepting,
    .drain = ep_drain,
    .release = ep_release,
    .wake = ep_wake,
    .close = ep_close,
};
