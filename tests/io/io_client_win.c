/*
 * Clients for the io.h contract test on Windows: plain Win32 named-pipe
 * clients (CreateFileW, ReadFile, WriteFile), as the pattern sluice grew
 * from uses. The handle is overlapped only so reads can time out.
 */
#include "io_contract.h"

#include <stdlib.h>
#include <string.h>

#include "os.h"

struct ioc_client {
    HANDLE h;
};

static void
to_wide(const char *path, wchar_t *out, int cap)
{
    IOC_CHECK(MultiByteToWideChar(CP_UTF8, 0, path, -1, out, cap) > 0);
}

static int
open_once(const wchar_t *wpath, int write_only, ioc_client **out,
          DWORD *err)
{
    /* .NET's PipeDirection.Out opens for writing (and attributes) only. */
    DWORD access = write_only ? GENERIC_WRITE | FILE_READ_ATTRIBUTES
                              : GENERIC_READ | GENERIC_WRITE;
    HANDLE h = CreateFileW(wpath, access, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED, NULL);
    ioc_client *c;

    if (h == INVALID_HANDLE_VALUE) {
        *err = GetLastError();
        return -1;
    }
    c = calloc(1, sizeof(*c));
    IOC_CHECK(c != NULL);
    c->h = h;
    *out = c;
    return 0;
}

int
ioc_client_try_open(const char *path, int write_only, ioc_client **out)
{
    wchar_t wpath[256];
    DWORD err;

    to_wide(path, wpath, 256);
    return open_once(wpath, write_only, out, &err);
}

ioc_client *
ioc_client_open(const char *path, int write_only)
{
    uint64_t deadline = sl_os_mono_ns() + 10000u * 1000000ull;
    wchar_t wpath[256];
    ioc_client *c = NULL;
    DWORD err = 0;

    to_wide(path, wpath, 256);
    while (open_once(wpath, write_only, &c, &err) != 0) {
        IOC_CHECK(sl_os_mono_ns() < deadline);
        if (err == ERROR_PIPE_BUSY)
            WaitNamedPipeW(wpath, 1000);
        else if (err == ERROR_FILE_NOT_FOUND)
            Sleep(5);
        else
            IOC_CHECK(!"unexpected CreateFileW error");
    }
    return c;
}

/* One overlapped transfer, waited for up to timeout_ms. @return the bytes
 * moved, or -1 on an error or timeout (*err says which). */
static int64_t
transfer(ioc_client *c, int writing, void *buf, DWORD len, DWORD timeout_ms,
         DWORD *err)
{
    OVERLAPPED ov;
    DWORD done = 0;
    BOOL ok;

    memset(&ov, 0, sizeof(ov));
    ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    IOC_CHECK(ov.hEvent != NULL);
    ok = writing ? WriteFile(c->h, buf, len, NULL, &ov)
                 : ReadFile(c->h, buf, len, NULL, &ov);
    *err = ok ? ERROR_SUCCESS : GetLastError();
    if (ok || *err == ERROR_IO_PENDING) {
        if (!ok &&
            WaitForSingleObject(ov.hEvent, timeout_ms) != WAIT_OBJECT_0) {
            CancelIoEx(c->h, &ov);
            GetOverlappedResult(c->h, &ov, &done, TRUE);
            CloseHandle(ov.hEvent);
            *err = WAIT_TIMEOUT;
            return -1;
        }
        ok = GetOverlappedResult(c->h, &ov, &done, TRUE);
        *err = ok ? ERROR_SUCCESS : GetLastError();
    }
    CloseHandle(ov.hEvent);
    return ok ? (int64_t)done : -1;
}

void
ioc_client_read_greeting(ioc_client *c, char *buf, size_t cap)
{
    size_t n = 0;
    DWORD err;

    /* Byte by byte up to the NUL, as the plain client of issue 3 does. */
    for (;;) {
        IOC_CHECK(n < cap);
        IOC_CHECK(transfer(c, 0, &buf[n], 1, 10000, &err) == 1);
        if (buf[n++] == '\0')
            return;
    }
}

int
ioc_client_write(ioc_client *c, const void *p, size_t len)
{
    DWORD err;

    do {
        int64_t r = transfer(c, 1, (void *)p, (DWORD)len, INFINITE, &err);

        if (r < 0) {
            IOC_CHECK(err == ERROR_NO_DATA || err == ERROR_BROKEN_PIPE ||
                      err == ERROR_PIPE_NOT_CONNECTED);
            return -1;
        }
        p = (const char *)p + r;
        len -= (size_t)r;
    } while (len > 0);
    return 0;
}

int64_t
ioc_client_read_to_end(ioc_client *c)
{
    int64_t total = 0;
    char buf[4096];
    DWORD err;

    for (;;) {
        int64_t r = transfer(c, 0, buf, sizeof(buf), 10000, &err);

        if (r < 0)
            return err == WAIT_TIMEOUT ? -1 : total;
        total += r;
    }
}

void
ioc_client_close(ioc_client *c)
{
    CloseHandle(c->h);
    free(c);
}

int
ioc_client_self(uint32_t *pid, uint32_t *uid)
{
    *pid = (uint32_t)GetCurrentProcessId();
    *uid = 0xFFFFFFFFu; /* Windows has no numeric uid */
    return 1;           /* Wine reports 0 */
}
