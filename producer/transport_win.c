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
 * Trust: any user can create \\.\pipe\NAME first. Before returning (so
 * before a byte is written), the transport asks who serves the pipe:
 * GetNamedPipeServerProcessId(), then that process's token user SID,
 * which must equal ours or the caller's trust_user (a SID string). When
 * the server process cannot be opened (another user's process may deny
 * PROCESS_QUERY_LIMITED_INFORMATION), the pipe object's owner SID is used
 * instead (GetSecurityInfo); when neither can be read, the pipe is not
 * trusted.
 *
 * The handle is opened for overlapped I/O only so that a read can time
 * out (the greeting read): each call starts one overlapped operation and
 * waits for it, so the transport still behaves as a blocking stream.
 * Reads and writes use separate OVERLAPPEDs, so one thread may read while
 * another writes.
 */
#include "transport.h"

#include "os.h"

#include <aclapi.h>
#include <sddl.h>
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

/* The user SID of a process's token, copied into buf (cap bytes). */
static int
process_user(HANDLE proc, void *buf, DWORD cap)
{
    union {
        TOKEN_USER tu;
        char raw[256];
    } u;
    HANDLE tok;
    DWORD len = 0;
    BOOL ok;

    if (!OpenProcessToken(proc, TOKEN_QUERY, &tok))
        return SL_EACCES;
    ok = GetTokenInformation(tok, TokenUser, &u, sizeof(u), &len);
    CloseHandle(tok);
    if (!ok || !IsValidSid(u.tu.User.Sid) ||
        GetLengthSid(u.tu.User.Sid) > cap)
        return SL_EACCES;
    CopySid(cap, buf, u.tu.User.Sid);
    return 0;
}

/* The user serving the pipe: its server process's token user, or, when
 * that process cannot be opened, the pipe's owner. */
static int
server_user(HANDLE pipe, void *buf, DWORD cap)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    PSID owner = NULL;
    ULONG pid = 0;
    int rc = SL_EACCES;

    if (GetNamedPipeServerProcessId(pipe, &pid) && pid != 0) {
        HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE,
                                  pid);

        if (proc != NULL) {
            rc = process_user(proc, buf, cap);
            CloseHandle(proc);
            if (rc == 0)
                return 0;
        }
    }
    if (GetSecurityInfo(pipe, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION,
                        &owner, NULL, NULL, NULL, &sd) == ERROR_SUCCESS &&
        owner != NULL && IsValidSid(owner) && GetLengthSid(owner) <= cap) {
        CopySid(cap, buf, owner);
        rc = 0;
    }
    if (sd != NULL)
        LocalFree(sd);
    return rc;
}

/* SL_EUNTRUSTED unless the pipe's server is us or *other. */
static int
check_server(HANDLE pipe, PSID other)
{
    char me[SECURITY_MAX_SID_SIZE], them[SECURITY_MAX_SID_SIZE];

    if (process_user(GetCurrentProcess(), me, sizeof(me)) != 0)
        return SL_EACCES;
    if (server_user(pipe, them, sizeof(them)) != 0)
        return SL_EUNTRUSTED;
    if (EqualSid(me, them) || (other != NULL && EqualSid(other, them)))
        return 0;
    return SL_EUNTRUSTED;
}

/* trust_user: a SID string ("S-1-5-18"), into a LocalAlloc'ed SID. */
static int
parse_sid(const char *s, PSID *out)
{
    wchar_t *w = NULL;
    int rc = sl_os_utf8_to_wide(s, &w);

    if (rc != 0)
        return rc == SL_ENOMEM ? rc : SL_EINVAL;
    rc = ConvertStringSidToSidW(w, out) && IsValidSid(*out) ? 0 : SL_EINVAL;
    free(w);
    return rc;
}

int
sl_transport_open(const char *name, size_t name_len, uint32_t timeout_ms,
                  const char *trust_user, sl_transport **out)
{
    char path[512];
    wchar_t *wpath = NULL;
    PSID other = NULL;
    sl_transport *t;
    int rc;

    if (trust_user != NULL && (trust_user[0] != 'S' && trust_user[0] != 's'))
        return SL_EINVAL; /* a SID string, not an account name */
    if (trust_user != NULL && parse_sid(trust_user, &other) != 0)
        return SL_EINVAL;
    rc = sl_os_pipe_path(name, name_len, path, sizeof(path), NULL);
    if (rc != 0)
        goto free_sid;
    rc = sl_os_utf8_to_wide(path, &wpath);
    if (rc != 0)
        goto free_sid;
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
    rc = check_server(t->h, other);
    if (rc != 0) {
        CloseHandle(t->h);
        goto close_stop;
    }
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
free_sid:
    if (other != NULL)
        LocalFree(other);
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
