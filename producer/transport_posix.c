/*
 * The producer transport on POSIX: a blocking Unix domain stream socket
 * connected to the collector's pipe path (sl_os_pipe_path(): the .NET
 * CoreFxPipe_ convention, or the NAME itself when it contains '/').
 * Connecting retries while the collector is not there yet (ENOENT,
 * ECONNREFUSED) or its backlog is full (EAGAIN), every 10 ms within the
 * caller's budget. Writes never raise SIGPIPE: they use MSG_NOSIGNAL, or
 * SO_NOSIGPIPE where the platform has that instead. errno becomes an SL_E*
 * code once, through sl_err_from_errno(), right where the call failed.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "os.h"

#define RETRY_INTERVAL_NS 10000000u /* 10 ms between connect attempts */

struct sl_transport {
    int fd;
};

static int
socket_cloexec(int *out)
{
    int fd;

#ifdef SOCK_CLOEXEC
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
    if (fd < 0)
        return sl_err_from_errno(errno);
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    {
        int one = 1;

        (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
    }
#endif
    *out = fd;
    return 0;
}

int
sl_transport_open(const char *name, size_t name_len, uint32_t timeout_ms,
                  sl_transport **out)
{
    struct sockaddr_un sa;
    sl_transport *t = NULL;
    size_t path_len;
    uint64_t deadline;
    int fd = -1, rc;

    if (name == NULL || out == NULL)
        return SL_EINVAL;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    rc = sl_os_pipe_path(name, name_len, sa.sun_path, sizeof(sa.sun_path),
                         &path_len);
    if (rc != 0)
        return rc;
    t = malloc(sizeof(*t));
    if (t == NULL)
        return SL_ENOMEM;

    deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        uint64_t now;
        int err;

        rc = socket_cloexec(&fd);
        if (rc != 0)
            goto fail;
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
        /* A fresh socket per attempt: after EINTR the old one may still be
         * connecting, and a retry on it would fail with EALREADY. */
        if (err != EINTR && err != ENOENT && err != ECONNREFUSED &&
            err != EAGAIN) {
            rc = sl_err_from_errno(err);
            goto fail;
        }
        now = sl_os_mono_ns();
        if (now >= deadline) {
            /* EAGAIN means a full backlog: someone is listening but was
             * busy for the whole budget. */
            rc = err == EAGAIN ? SL_ETIMEDOUT : SL_ENOENT;
            goto fail;
        }
        if (err != EINTR)
            sl_os_sleep_ns(deadline - now < RETRY_INTERVAL_NS
                               ? deadline - now
                               : RETRY_INTERVAL_NS);
    }
    t->fd = fd;
    *out = t;
    return 0;

fail:
    free(t);
    return rc;
}

int
sl_transport_read(sl_transport *t, void *buf, size_t len, size_t *n,
                  uint32_t timeout_ms)
{
    uint64_t deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    ssize_t r;

    for (;;) {
        if (timeout_ms > 0) {
            struct pollfd pfd;
            uint64_t now = sl_os_mono_ns(), wait_ms;
            int pr;

            if (now >= deadline)
                return SL_ETIMEDOUT;
            pfd.fd = t->fd;
            pfd.events = POLLIN;
            pfd.revents = 0;
            /* Round up so a sub-millisecond remainder still waits. */
            wait_ms = (deadline - now + 999999u) / 1000000u;
            pr = poll(&pfd, 1, wait_ms > INT_MAX ? INT_MAX : (int)wait_ms);
            if (pr < 0) {
                if (errno == EINTR)
                    continue;
                return sl_err_from_errno(errno);
            }
            if (pr == 0)
                continue; /* the deadline check above decides */
        }
        r = recv(t->fd, buf, len, 0);
        if (r >= 0)
            break;
        if (errno != EINTR)
            return sl_err_from_errno(errno);
    }
    *n = (size_t)r;
    return 0;
}

int
sl_transport_write(sl_transport *t, const void *buf, size_t len)
{
    const char *p = buf;
#ifdef MSG_NOSIGNAL
    const int flags = MSG_NOSIGNAL;
#else
    const int flags = 0;
#endif

    while (len > 0) {
        ssize_t w = send(t->fd, p, len, flags);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sl_err_from_errno(errno);
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void
sl_transport_interrupt(sl_transport *t)
{
    /* A recv() blocked on the socket returns 0 once it is shut for
     * reading; the send side stays open. */
    shutdown(t->fd, SHUT_RD);
}

void
sl_transport_close(sl_transport *t)
{
    if (t == NULL)
        return;
    close(t->fd);
    free(t);
}
