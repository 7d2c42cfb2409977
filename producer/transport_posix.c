/*
 * The producer transport on POSIX: a blocking Unix domain stream socket
 * connected to the collector's pipe path (sl_os_pipe_path(): the .NET
 * CoreFxPipe_ convention, or the NAME itself when it contains '/').
 * Connecting retries while the collector is not there yet (ENOENT,
 * ECONNREFUSED) or its backlog is full (EAGAIN), every 10 ms within the
 * caller's budget. Writes never raise SIGPIPE: they use MSG_NOSIGNAL, or
 * SO_NOSIGPIPE where the platform has that instead. errno becomes an SL_E*
 * code once, through sl_err_from_errno(), right where the call failed.
 *
 * Trust: the default path is in the shared, sticky TMPDIR, where another
 * user can bind the name first. Before connecting, the socket file must
 * be owned by a trusted uid (ours, or the caller's trust_user); after
 * connecting, so must the peer process (SO_PEERCRED, or getpeereid()).
 * The second check is the one that counts (the file may be replaced
 * between lstat() and connect()); the first fails fast without touching a
 * squatter's socket. Nothing is written before both pass.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
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

/* trust_user: a decimal uid, nothing else (no sign, no spaces). */
static int
parse_uid(const char *s, uid_t *out)
{
    uint64_t v = 0;

    if (s[0] == '\0')
        return SL_EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return SL_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v >= UINT32_MAX) /* (uid_t)-1 is "no user" */
            return SL_EINVAL;
    }
    *out = (uid_t)v;
    return 0;
}

typedef struct trust {
    uid_t self, other;
    int has_other;
} trust;

static int
trusted(const trust *tr, uid_t uid)
{
    return uid == tr->self || (tr->has_other && uid == tr->other);
}

/* The uid of the process at the other end of a connected socket. */
static int
peer_uid(int fd, uid_t *uid)
{
#ifdef SO_PEERCRED
    struct ucred cr;
    socklen_t len = sizeof(cr);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return sl_err_from_errno(errno);
    *uid = cr.uid;
    return 0;
#else
    gid_t gid;

    if (getpeereid(fd, uid, &gid) != 0)
        return sl_err_from_errno(errno);
    return 0;
#endif
}

int
sl_transport_open(const char *name, size_t name_len, uint32_t timeout_ms,
                  const char *trust_user, sl_transport **out)
{
    struct sockaddr_un sa;
    sl_transport *t = NULL;
    size_t path_len;
    uint64_t deadline;
    trust tr = {0, 0, 0};
    int fd = -1, rc;

    if (name == NULL || out == NULL)
        return SL_EINVAL;
    tr.self = geteuid();
    tr.has_other = trust_user != NULL;
    if (trust_user != NULL && parse_uid(trust_user, &tr.other) != 0)
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
        struct stat st;
        uint64_t now;
        uid_t uid = 0;
        int err;

        /* Somebody else's socket file: refuse at once, touch nothing. */
        if (lstat(sa.sun_path, &st) == 0 && !trusted(&tr, st.st_uid)) {
            rc = SL_EUNTRUSTED;
            goto fail;
        }
        rc = socket_cloexec(&fd);
        if (rc != 0)
            goto fail;
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0) {
            rc = peer_uid(fd, &uid);
            if (rc == 0 && !trusted(&tr, uid))
                rc = SL_EUNTRUSTED;
            if (rc != 0) {
                close(fd);
                goto fail;
            }
            break;
        }
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
            rc = err == EAGAIN         ? SL_ETIMEDOUT
                 : err == ECONNREFUSED ? SL_ECONNREFUSED /* a stale socket */
                                       : SL_ENOENT;
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
