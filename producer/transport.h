/*
 * The producer library's transport: a connected byte stream to the
 * collector's pipe. transport_posix.c (Unix stream socket at the
 * CoreFxPipe_ path) and transport_win.c (CreateFileW on \\.\pipe\NAME)
 * implement it. Blocking I/O; one thread may read while another writes.
 */
#ifndef SL_TRANSPORT_H
#define SL_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_transport sl_transport;

/**
 * Connects to pipe NAME (mapped with sl_os_pipe_path()) and checks who
 * serves it before returning, so nothing is ever sent to a squatter:
 * POSIX: the socket file's owner (lstat) and the peer's uid (SO_PEERCRED /
 * getpeereid) must be our effective uid or @p trust_user; Windows: the
 * user SID of the server process (GetNamedPipeServerProcessId and its
 * token) must be ours or @p trust_user.
 * @param trust_user  NULL, or the other user trusted to serve the pipe:
 *                    POSIX a decimal uid, Windows a SID string.
 * @param timeout_ms  Retry budget: POSIX retries ENOENT/ECONNREFUSED/EAGAIN,
 *                    Windows waits with WaitNamedPipeW on ERROR_PIPE_BUSY
 *                    and retries ERROR_FILE_NOT_FOUND, until it runs out
 *                    (0 = one attempt).
 * @return 0, SL_ENOENT (nobody listening), SL_ETIMEDOUT (busy for the
 *         whole budget), SL_EUNTRUSTED (served by another user),
 *         SL_EACCES, SL_EINVAL (also a malformed trust_user),
 *         SL_ENAMETOOLONG, SL_ENOMEM.
 */
int sl_transport_open(const char *name, size_t name_len, uint32_t timeout_ms,
                      const char *trust_user, sl_transport **out);

/**
 * Reads up to len bytes; blocks until at least one byte arrives.
 * @param n  Receives the count; 0 means end of stream.
 * @return 0, SL_ECONNRESET, SL_EIO, SL_ETIMEDOUT (timeout_ms > 0 passed).
 */
int sl_transport_read(sl_transport *t, void *buf, size_t len, size_t *n,
                      uint32_t timeout_ms);

/**
 * Writes all len bytes (retrying short writes). Never raises SIGPIPE.
 * @return 0, SL_EPIPE (collector gone), SL_ECONNRESET, SL_EIO.
 */
int sl_transport_write(sl_transport *t, const void *buf, size_t len);

/**
 * Makes a read blocked in another thread (or the next one) return end of
 * stream, so a reader thread can be joined. Writes still work. Any thread.
 */
void sl_transport_interrupt(sl_transport *t);

/** Closes. NULL is a harmless no-op. */
void sl_transport_close(sl_transport *t);

#endif
