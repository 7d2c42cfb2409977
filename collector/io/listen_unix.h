/*
 * The listening Unix stream socket shared by the epoll and io_uring
 * backends: safe creation in a shared, sticky TMPDIR, and removal.
 */
#ifndef SL_LISTEN_UNIX_H
#define SL_LISTEN_UNIX_H

#include <stdint.h>
#include <sys/types.h>

typedef struct sl_listen_unix {
    int fd;
    dev_t dev; /* identity of the socket file we created, so we only ever */
    ino_t ino; /* unlink our own */
    char path[108];
} sl_listen_unix;

/**
 * Creates, binds (mode 0600) and listens on path, non-blocking, CLOEXEC.
 * A leftover socket file of this user that nobody answers on (a collector
 * that was killed) is reclaimed. Anything else at the path is refused and
 * never unlinked or followed.
 * @param group  SL_IO_NO_GROUP, or a group id: the socket file is then
 *               mode 0660 and owned by that group, set before listen() so
 *               no connection is ever accepted with other permissions.
 * @return 0; SL_EADDRINUSE (a live collector answers on it); SL_EEXIST (a
 *         non-socket, a symlink, or another user's socket is there);
 *         SL_EACCES (e.g. not allowed to give the socket to that group);
 *         SL_ENAMETOOLONG; others from the OS.
 */
int sl_listen_unix_open(const char *path, unsigned backlog, uint32_t group,
                        sl_listen_unix *out);

/** Removes the socket file if it is still the one we created. */
void sl_listen_unix_unlink(sl_listen_unix *l);

/**
 * Seals the backlog at stop: unlinks the path, then shuts the listening
 * socket down for reading, so every later connect() is refused
 * (ECONNREFUSED, or ENOENT once the path is gone) while the connections
 * already queued stay there to be accepted. A non-blocking accept() on
 * the sealed socket returns them, then EAGAIN (EINVAL from a blocking
 * one). The socket then polls readable forever: take it out of epoll
 * sets. Any thread.
 */
void sl_listen_unix_seal(sl_listen_unix *l);

/** Closes the fd (after sl_listen_unix_unlink, or not). */
void sl_listen_unix_close(sl_listen_unix *l);

/** Fills pid/uid of a connected peer (SO_PEERCRED); unknown → 0/~0. */
void sl_listen_unix_peer(int fd, uint32_t *pid, uint32_t *uid);

#endif
