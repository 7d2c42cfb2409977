/*
 * The io.h contract test: one body, run over every compiled-in backend.
 * Natively tests/io/test_io.c runs each case under Criterion for io_uring
 * and epoll; the mingw build runs the same cases on IOCP under Wine from
 * tests/win/test_iocp.c, a plain 0/1/77 program (Criterion does not run
 * there). The cases drive the backend through its table with real
 * clients (Unix sockets, named pipes) and a small stand-in for the core:
 * it greets every connection, reads into a per-connection buffer and
 * checks every byte against a per-client pattern.
 *
 * A harness provides ioc_fail(), ioc_skip() and ioc_new_path(); the
 * platform file (io_client_posix.c, io_client_win.c) provides the
 * clients.
 */
#ifndef SL_IO_CONTRACT_H
#define SL_IO_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "io.h"

/* ---- provided by the harness ------------------------------------------ */

/** Reports a failed check and ends the test (never returns). */
void ioc_fail(const char *file, int line, const char *what);
/** Ends the test as skipped (never returns). */
void ioc_skip(const char *why);
/** Stores a fresh endpoint path (from sl_os_pipe_path()) for one server. */
void ioc_new_path(char *out, size_t cap);

#define IOC_CHECK(expr)                                                       \
    do {                                                                      \
        if (!(expr))                                                          \
            ioc_fail(__FILE__, __LINE__, #expr);                              \
    } while (0)

/* ---- clients (io_client_posix.c / io_client_win.c) ---------------------- */

typedef struct ioc_client ioc_client;

/** One attempt to connect to path. @return 0, or -1 when nobody takes
 *  the connection now (the name is gone, refuses, or every pipe instance
 *  is busy). */
int ioc_client_try_open(const char *path, int write_only, ioc_client **out);
/** Connects (retrying up to 10 s while the name is busy or not there
 *  yet) or fails the test. write_only: the client shuts its receive
 *  side (POSIX) or opens the pipe for writing only (Windows), as .NET's
 *  PipeDirection.Out does. */
ioc_client *ioc_client_open(const char *path, int write_only);
/** Reads up to and including the NUL; fails the test after 10 s. */
void ioc_client_read_greeting(ioc_client *c, char *buf, size_t cap);
/** Writes everything; @return 0, or -1 when the server has ended the
 *  stream (broken pipe). */
int ioc_client_write(ioc_client *c, const void *p, size_t len);
/** Reads until the server ends the stream (end of file or an error), up
 *  to 10 s. @return the bytes read before the end, or -1 on timeout. */
int64_t ioc_client_read_to_end(ioc_client *c);
void ioc_client_close(ioc_client *c);
/** This process's id and user id as a backend reports a local peer (uid
 *  0xFFFFFFFF: unknown). @return 1 if the backend may report pid 0
 *  (unknown) instead (Wine). */
int ioc_client_self(uint32_t *pid, uint32_t *uid);

/* ---- the cases -------------------------------------------------------- */

typedef void (*ioc_case)(const sl_io_backend *be, unsigned test_flags);

/* Greeting, 256 KiB read into the buffer, end of stream; the peer's pid
 * and uid; waits with a timeout and nothing to do. */
void ioc_accept_greet_read(const sl_io_backend *be, unsigned test_flags);
/* A write-only client: the greeting write completes (its result does not
 * matter), the data still arrives, then end of stream. */
void ioc_write_only_client(const sl_io_backend *be, unsigned test_flags);
/* Clients that connect and leave at once end cleanly. */
void ioc_end_at_once(const sl_io_backend *be, unsigned test_flags);
/* A peer that sends, never reads its greeting and closes: every byte,
 * then end of stream or SL_ECONNRESET. */
void ioc_peer_reset(const sl_io_backend *be, unsigned test_flags);
/* drain() with a read pending and nothing to read: end of stream; the
 * peer's later writes fail. */
void ioc_drain_pending_read(const sl_io_backend *be, unsigned test_flags);
/* drain() with data waiting and no read posted: all of it, then end. */
void ioc_drain_with_data(const sl_io_backend *be, unsigned test_flags);
/* stop_accepting(): clients already in the backlog are reported by the
 * next wait() of some worker and read to the end; after every worker's
 * wait() has returned once, no accept and new clients are refused; open
 * connections go on. */
void ioc_stop_accepting(const sl_io_backend *be, unsigned test_flags);
/* The same for clients that connected and wrote before any wait(), so
 * that nothing had been accepted for them at all. */
void ioc_stop_backlog(const sl_io_backend *be, unsigned test_flags);
/* wake(): every worker's wait(-1) returns, and a wake() before a wait()
 * is not lost. */
void ioc_wake(const sl_io_backend *be, unsigned test_flags);
/* release() ends the stream for the peer, with or without a greeting. */
void ioc_release(const sl_io_backend *be, unsigned test_flags);
/* 16 clients at once, 2 pipe instances, 3 worker threads. */
void ioc_many_clients(const sl_io_backend *be, unsigned test_flags);

/* drain() while the client keeps writing: what was sent before the
 * drain, then end of stream; the client's writes fail. */
void ioc_drain_while_writing(const sl_io_backend *be, unsigned test_flags);
/* Zero-byte writes by the client do not end the stream. */
void ioc_zero_byte_write(const sl_io_backend *be, unsigned test_flags);
/* A second server on a served name: SL_EADDRINUSE. */
void ioc_second_server(const sl_io_backend *be, unsigned test_flags);
/* After close() the name is free for a new server. */
void ioc_reopen_after_close(const sl_io_backend *be, unsigned test_flags);

#endif
