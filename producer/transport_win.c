/*
 * Windows transport for the producer library (transport.h): a client end
 * of the collector's named pipe \\.\pipe\NAME.
 *
 * Connecting follows the usual named-pipe client pattern within the
 * caller's budget: CreateFileW(OPEN_EXISTING); on ERROR_PIPE_BUSY (every
 * listening instance is taken) WaitNamedPipeW for the rest of the budget
 * and try again; on ERROR_FILE_NOT_FOUND (no collector yet) sleep briefly
 * and try again. The client asks for SECURITY_IDENTIFICATION so a server
 * squatting on the name cannot act as the producer's user.
 *
 * The handle is opened for overlapped I/O only so that a read can time
 * out (the greeting read): each call starts one overlapped operation and
 * waits for it, so the transport still behaves as a blocking stream.
 * Reads and writes use separate OVERLAPPEDs, so one thread may read while
 * another writes.
 */
#include "transport.h"

#include "os.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

#define MAX_IO_BYTES (1u << 30)
#define NOT_FOUND_SLEEP_MIN_MS 5u
#define NOT_FOUND_SLEEP_MAX_MS 50u

struct sl_transport {
    HANDLE h;
    OVERLAPPED rov; /* reads; hEvent manual-reset */
    OVERLAPPED wov; /* writes; hEvent manual-reset */
    HANDLE stop;    /* manual-reset; set by sl_transport_interrupt() */
};

/* Milliseconds left until deadline (mono ns), rounded up. */
static DWORD
ms_left(uint64_t deadline)
{
    uint64_t now = sl_os_mono_ns();

    if (now >= deadline)
        return 0;
    return (DWORD)((deadline - now + 999999u) / 1000000u);
}

/* Opens the pipe, retrying within the budget. */
static int
connect_pipe(const wchar_t *path, uint32_t timeout_ms, HANDLE *out)
{
    uint64_t deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    DWORD nap = NOT_FOUND_SLEEP_MIN_MS;

    for (;;) {
        DWORD err, left;
        HANDLE h;

        h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                        OPEN_EXISTING,
                        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                            SECURITY_IDENTIFICATION,
                        NULL);
        if (h != INVALID_HANDLE_VALUE) {
            *out = h;
            return 0;
        }
        err = GetLastError();
        left = ms_left(deadline);
        if (err == ERROR_PIPE_BUSY) {
            if (left == 0)
                return SL_ETIMEDOUT;
            /* Returns when an instance is free (a collector posts a new
             * one as soon as one connects), at the timeout, or at once if
             * the pipe vanished in between; the loop sorts these out. */
            if (!WaitNamedPipeW(path, left) &&
                GetLastError() == ERROR_FILE_NOT_FOUND)
                Sleep(nap < left ? nap : left);
            continue;
        }
        if (err == ERROR_FILE_NOT_FOUND) {
            if (left == 0)
                return SL_ENOENT;
            Sleep(nap < left ? nap : left);
            if (nap < NOT_FOUND_SLEEP_MAX_MS)
                nap *= 2;
            continue;
        }
        return sl_err_from_win32(err);
    }
}

int
sl_transport_open(const char *name, size_t name_len, uint32_t timeout_ms,
                  sl_transport **out)
{
    char path[512];
    wchar_t *wpath = NULL;
    sl_transport *t;
    int rc;

    rc = sl_os_pipe_path(name, name_len, path, sizeof(path), NULL);
    if (rc != 0)
        return rc;
    rc = sl_os_utf8_to_wide(path, &wpath);
    if (rc != 0)
        return rc;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        rc = SL_ENOMEM;
        goto free_path;
    }
    t->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (t->rov.hEvent == NULL) {
        rc = sl_err_from_win32(GetLastError());
        goto free_t;
    }
    t->wov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (t->wov.hEvent == NULL) {
        rc = sl_err_from_win32(GetLastError());
        goto close_rev;
    }
    t->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (t->stop == NULL) {
        rc = sl_err_from_win32(GetLastError());
        goto close_wev;
    }
    rc = connect_pipe(wpath, timeout_ms, &t->h);
    if (rc != 0)
        goto close_stop;
    *out = t;
    goto free_path;

close_stop:
    CloseHandle(t->stop);
close_wev:
    CloseHandle(t->wov.hEvent);
close_rev:
    CloseHandle(t->rov.hEvent);
free_t:
    free(t);
free_path:
    free(wpath);
    return rc;
}

/* A read error: the collector closing its end is end of stream. */
static int
read_error(DWORD err, size_t *n)
{
    switch (err) {
    case ERROR_BROKEN_PIPE:
    case ERROR_PIPE_NOT_CONNECTED:
    case ERROR_NO_DATA:
        *n = 0;
        return 0;
    case ERROR_NETNAME_DELETED:
    case ERROR_CONNECTION_ABORTED:
        return SL_ECONNRESET;
    default:
        return sl_err_from_win32(err);
    }
}

int
sl_transport_read(sl_transport *t, void *buf, size_t len, size_t *n,
                  uint32_t timeout_ms)
{
    uint64_t deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    DWORD want = len > MAX_IO_BYTES ? MAX_IO_BYTES : (DWORD)len;

    if (len == 0) {
        *n = 0;
        return 0;
    }
    /* A zero-byte message from the server is not end of stream: read
     * again until a byte, the end or the deadline comes. */
    for (;;) {
        HANDLE ev = t->rov.hEvent;
        DWORD got = 0, err;

        if (WaitForSingleObject(t->stop, 0) == WAIT_OBJECT_0) {
            *n = 0;
            return 0;
        }
        memset(&t->rov, 0, sizeof(t->rov));
        t->rov.hEvent = ev;
        if (!ReadFile(t->h, buf, want, NULL, &t->rov)) {
            err = GetLastError();
            if (err != ERROR_IO_PENDING)
                return read_error(err, n);
            HANDLE both[2] = {ev, t->stop};
            DWORD wr = WaitForMultipleObjects(
                2, both, FALSE, timeout_ms > 0 ? ms_left(deadline) : INFINITE);

            if (wr == WAIT_OBJECT_0 + 1) {
                /* Interrupted: cancel, wait for the read to settle (its
                 * OVERLAPPED and buf), and report end of stream. */
                CancelIoEx(t->h, &t->rov);
                GetOverlappedResult(t->h, &t->rov, &got, TRUE);
                *n = 0;
                return 0;
            }
            if (timeout_ms > 0 && wr == WAIT_TIMEOUT) {
                /* Cancel, then wait for the read to finish either way: the
                 * OVERLAPPED and buf must not be reused before. A read
                 * that completed before the cancel keeps its data. */
                CancelIoEx(t->h, &t->rov);
                if (!GetOverlappedResult(t->h, &t->rov, &got, TRUE)) {
                    err = GetLastError();
                    if (err == ERROR_OPERATION_ABORTED)
                        return SL_ETIMEDOUT;
                    return read_error(err, n);
                }
                if (got == 0)
                    return SL_ETIMEDOUT;
                *n = got;
                return 0;
            }
        }
        if (!GetOverlappedResult(t->h, &t->rov, &got, TRUE))
            return read_error(GetLastError(), n);
        if (got > 0) {
            *n = got;
            return 0;
        }
        if (timeout_ms > 0 && ms_left(deadline) == 0)
            return SL_ETIMEDOUT;
    }
}

static int
write_error(DWORD err)
{
    switch (err) {
    case ERROR_NO_DATA: /* the collector is closing its end */
    case ERROR_BROKEN_PIPE:
    case ERROR_PIPE_NOT_CONNECTED:
        return SL_EPIPE;
    case ERROR_NETNAME_DELETED:
    case ERROR_CONNECTION_ABORTED:
        return SL_ECONNRESET;
    default:
        return sl_err_from_win32(err);
    }
}

int
sl_transport_write(sl_transport *t, const void *buf, size_t len)
{
    const char *p = buf;
    HANDLE ev = t->wov.hEvent;

    while (len > 0) {
        DWORD chunk = len > MAX_IO_BYTES ? MAX_IO_BYTES : (DWORD)len;
        DWORD done = 0, err;

        memset(&t->wov, 0, sizeof(t->wov));
        t->wov.hEvent = ev;
        if (!WriteFile(t->h, p, chunk, NULL, &t->wov)) {
            err = GetLastError();
            if (err != ERROR_IO_PENDING)
                return write_error(err);
        }
        /* Blocks while the pipe is full: the collector's backpressure. */
        if (!GetOverlappedResult(t->h, &t->wov, &done, TRUE))
            return write_error(GetLastError());
        if (done == 0)
            return SL_EIO;
        p += done;
        len -= done;
    }
    return 0;
}

void
sl_transport_interrupt(sl_transport *t)
{
    /* Stays set: a read that starts later returns at once too. */
    SetEvent(t->stop);
}

void
sl_transport_close(sl_transport *t)
{
    if (t == NULL)
        return;
    CloseHandle(t->stop);
    CloseHandle(t->h);
    CloseHandle(t->wov.hEvent);
    CloseHandle(t->rov.hEvent);
    free(t);
}
