/*
 * The listening socket for the POSIX backends. The default location is the
 * shared, sticky TMPDIR (the .NET CoreFxPipe_ convention), so the path is
 * treated as hostile: before reclaiming a stale path we lstat() it and
 * require a socket owned by us that refuses connections; a symlink, a
 * regular file, a directory or another user's socket is refused, never
 * unlinked or followed. The socket is created 0600 by narrowing the umask
 * around bind(), since fchmod() on a socket does not affect its path.
 *
 * With a group (--group), the umask is 0117 instead (mode 0660) and the
 * file is given to the group with lchown() (which never follows a symlink)
 * between bind() and listen(). Until listen() a connect is refused
 * (ECONNREFUSED), so during the moment the file carries our primary group
 * nobody can connect through it. The file's identity and mode are
 * checked with lstat() before listen().
 *
 * Reclaim and bind are serialised between collectors by an exclusive
 * flock() on a lock file beside the socket (PATH.lock, 0600, opened with
 * O_NOFOLLOW and required to be a regular file of ours), held from the
 * lstat() of a stale socket until listen(). Without it two collectors
 * started together on a stale socket could both unlink and bind, and the
 * first, between its bind() and listen(), lose its path to the second: it
 * would then run on an unlinked socket nobody can reach. With it the
 * second one finds the first one's socket live (EADDRINUSE). The lock
 * file stays (unlinking it would let a third process lock a new file).
 */
#include "listen_unix.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "io.h"
#include "os.h"

static int
path_to_addr(const char *path, struct sockaddr_un *sa)
{
    size_t n = strlen(path);

    if (n == 0)
        return SL_EINVAL;
    if (n >= sizeof(sa->sun_path))
        return SL_ENAMETOOLONG;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    return 0;
}

/*
 * 1 if a live collector serves the socket at sa. Connecting is not enough:
 * after a collector is killed, its io_uring instance is torn down
 * asynchronously and can keep the listening socket open for a moment, so a
 * connect may still succeed. A live collector greets at once; a dead one's
 * socket closes the connection or stays silent. Silence for the whole
 * timeout is taken as "live" (something holds the name), the safe answer.
 * The probe sends nothing, so a live collector does not count it as a
 * producer (docs/protocol.md §3).
 */
static int
someone_listens(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct pollfd p;
    char c;
    int live;

    if (fd < 0)
        return 0;
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
        live = errno == EAGAIN; /* backlog full: very much alive */
        close(fd);
        return live;
    }
    p.fd = fd;
    p.events = POLLIN;
    if (poll(&p, 1, 2000) == 0)
        live = 1;
    else
        live = recv(fd, &c, 1, MSG_DONTWAIT) == 1;
    close(fd);
    return live;
}

/* The test-only knob SLUICE_TEST_BIND_DELAY_US (reliability.md section
 * 5): a pause between bind() and listen(), the window in which an
 * unserialised second start could take the path. Digits only, at most
 * 10 s; any other value is ignored. */
static uint64_t
test_bind_delay_ns(void)
{
    const char *v = getenv("SLUICE_TEST_BIND_DELAY_US");
    uint64_t us = 0;

    if (v == NULL || *v == '\0')
        return 0;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || us > 10000000u)
            return 0;
        us = us * 10 + (uint64_t)(*v - '0');
    }
    return us > 10000000u ? 0 : us * 1000u;
}

/* Opens and locks PATH.lock (see the top of the file). */
static int
lock_path(const char *path, int *out)
{
    char lp[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
    struct stat st;
    int fd;

    if ((size_t)snprintf(lp, sizeof(lp), "%s.lock", path) >= sizeof(lp))
        return SL_ENAMETOOLONG;
    fd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == ELOOP || errno == EISDIR ? SL_EEXIST
                                                 : sl_err_from_errno(errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid()) {
        close(fd);
        return SL_EEXIST; /* another user's file: the name is taken */
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int rc = sl_err_from_errno(errno);

            close(fd);
            return rc;
        }
    }
    *out = fd;
    return 0;
}

static int open_locked(const char *path, unsigned backlog, uint32_t group,
                       sl_listen_unix *out);

int
sl_listen_unix_open(const char *path, unsigned backlog, uint32_t group,
                    sl_listen_unix *out)
{
    int lock_fd, rc;

    if (path[0] == '\0')
        return SL_EINVAL;
    rc = lock_path(path, &lock_fd);
    if (rc != 0)
        return rc;
    rc = open_locked(path, backlog, group, out);
    close(lock_fd); /* releases the flock */
    return rc;
}

static int
open_locked(const char *path, unsigned backlog, uint32_t group,
            sl_listen_unix *out)
{
    struct sockaddr_un sa;
    struct stat st;
    mode_t old_mask, want;
    int fd, rc;

    rc = path_to_addr(path, &sa);
    if (rc != 0)
        return rc;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
            return SL_EEXIST;
        if (someone_listens(&sa))
            return SL_EADDRINUSE;
        /* A socket of ours that nobody answers on: left by a collector
         * that died. Reclaim it. */
        if (unlink(path) != 0 && errno != ENOENT)
            return sl_err_from_errno(errno);
    } else if (errno != ENOENT) {
        return sl_err_from_errno(errno);
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sl_err_from_errno(errno);
    want = group == SL_IO_NO_GROUP ? 0600 : 0660;
    old_mask = umask(07777 & ~want);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (rc != 0) {
        rc = sl_err_from_errno(errno);
        goto fail_close;
    }
    if (group != SL_IO_NO_GROUP &&
        lchown(path, (uid_t)-1, (gid_t)group) != 0) {
        rc = sl_err_from_errno(errno);
        goto fail_unlink;
    }
    if (lstat(path, &st) != 0) {
        rc = sl_err_from_errno(errno);
        goto fail_unlink;
    }
    /* What we bound, chowned and will unlink must be one socket of ours
     * (nobody else can rename or replace our entry in a sticky directory),
     * with exactly the permissions asked for. A default ACL on the
     * directory overrides the umask; chmod() then sets what we meant. */
    if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
        rc = SL_EEXIST;
        goto fail_close;
    }
    if ((st.st_mode & 07777) != want &&
        (chmod(path, want) != 0 || lstat(path, &st) != 0 ||
         !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != want)) {
        rc = SL_EACCES;
        goto fail_unlink;
    }
    if (group != SL_IO_NO_GROUP && st.st_gid != (gid_t)group) {
        rc = SL_EACCES;
        goto fail_unlink;
    }
    if (test_bind_delay_ns() > 0)
        sl_os_sleep_ns(test_bind_delay_ns());
    if (listen(fd, (int)backlog) != 0) {
        rc = sl_err_from_errno(errno);
        goto fail_unlink;
    }
    out->fd = fd;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    memcpy(out->path, sa.sun_path, sizeof(out->path));
    return 0;

fail_unlink:
    unlink(path);
fail_close:
    close(fd);
    return rc;
}

void
sl_listen_unix_unlink(sl_listen_unix *l)
{
    struct stat st;

    if (l->path[0] == '\0')
        return;
    if (lstat(l->path, &st) == 0 && st.st_dev == l->dev &&
        st.st_ino == l->ino)
        unlink(l->path);
    l->path[0] = '\0';
}

void
sl_listen_unix_seal(sl_listen_unix *l)
{
    /* New clients get ENOENT instead of waiting in a dead backlog. */
    sl_listen_unix_unlink(l);
    /* A connect() that looked the path up before the unlink could still
     * queue behind us; after SHUT_RD the kernel refuses it
     * (unix_stream_connect checks RCV_SHUTDOWN under the listener's
     * lock), so the backlog we sweep is final. */
    if (l->fd >= 0)
        shutdown(l->fd, SHUT_RD);
}

void
sl_listen_unix_close(sl_listen_unix *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

void
sl_listen_unix_peer(int fd, uint32_t *pid, uint32_t *uid)
{
#ifdef SO_PEERCRED
    struct ucred cr;
    socklen_t len = sizeof(cr);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
        *pid = (uint32_t)cr.pid;
        *uid = (uint32_t)cr.uid;
        return;
    }
#endif
    *pid = 0;
    *uid = 0xFFFFFFFFu;
}
