/*
 * Win32 implementation of the OS layer (os.h): threads started with
 * _beginthreadex so the C runtime is set up for them, SRW locks and
 * condition variables, QueryPerformanceCounter and the precise system
 * time, the capture file's write path through CreateFileW (paths arrive
 * as UTF-8 and are converted to UTF-16 here), the Ctrl-C / Ctrl-Break /
 * console-close stop request (a console control handler setting a
 * manual-reset event, so waiting for it needs no polling), \\.\pipe\
 * names, the UTF-8 to UTF-16 conversion every Win32 caller uses, and the
 * one place where a Win32 error becomes an SL_E* code. (Child processes
 * for sluice-bench live in bench/proc_win.c.)
 *
 * Needs Windows 8 or later (GetSystemTimePreciseAsFileTime); Wine 8
 * provides everything used here.
 */
#include "os.h"

#include <bcrypt.h>
#include <fcntl.h>
#include <io.h>
#include <limits.h>
#include <process.h>
#include <shellapi.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int
sl_err_from_win32(unsigned long err)
{
    switch (err) {
    case ERROR_SUCCESS:
        return 0;
    case ERROR_INVALID_PARAMETER:
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
    case ERROR_INVALID_HANDLE:
    case ERROR_NO_UNICODE_TRANSLATION:
    case ERROR_DIRECTORY:
        return SL_EINVAL;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
    case ERROR_COMMITMENT_LIMIT:
        return SL_ENOMEM;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
        return SL_ENOENT;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
        return SL_EEXIST;
    case ERROR_ACCESS_DENIED:
    case ERROR_PRIVILEGE_NOT_HELD:
    case ERROR_WRITE_PROTECT:
        return SL_EACCES;
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
    case ERROR_BUSY:
        return SL_EBUSY;
    case ERROR_PIPE_BUSY:
        return SL_EAGAIN;
    case ERROR_BROKEN_PIPE:
    case ERROR_NO_DATA:
    case ERROR_PIPE_NOT_CONNECTED:
        return SL_EPIPE;
    case ERROR_NETNAME_DELETED:
    case ERROR_CONNECTION_ABORTED:
    case ERROR_UNEXP_NET_ERR:
        return SL_ECONNRESET;
    case ERROR_OPERATION_ABORTED:
        return SL_ECANCELED;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return SL_ENOSPC;
    case ERROR_FILE_TOO_LARGE:
        return SL_EFBIG;
    case ERROR_SEM_TIMEOUT:
    case ERROR_TIMEOUT:
    case WAIT_TIMEOUT:
        return SL_ETIMEDOUT;
    case ERROR_FILENAME_EXCED_RANGE:
    case ERROR_BUFFER_OVERFLOW:
        return SL_ENAMETOOLONG;
    case ERROR_TOO_MANY_OPEN_FILES:
        return SL_EMFILE;
    case ERROR_NOT_SUPPORTED:
    case ERROR_CALL_NOT_IMPLEMENTED:
    case ERROR_INVALID_FUNCTION:
        return SL_ENOSYS;
    case ERROR_CRC:
    case ERROR_IO_DEVICE:
    case ERROR_GEN_FAILURE:
    case ERROR_READ_FAULT:
    case ERROR_WRITE_FAULT:
        return SL_EIO;
    default:
        return SL_EUNKNOWN;
    }
}

/* ---- threads and locks ------------------------------------------------ */

struct sl_thread {
    HANDLE handle;
    void (*fn)(void *);
    void *arg;
};

static unsigned __stdcall
thread_main(void *p)
{
    sl_thread *t = p;

    t->fn(t->arg);
    return 0;
}

int
sl_os_thread_start(void (*fn)(void *), void *arg, sl_thread **out)
{
    sl_thread *t = malloc(sizeof(*t));
    uintptr_t h;

    if (t == NULL)
        return SL_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    /* _beginthreadex rather than CreateThread: the C runtime then sets up
     * (and frees) its per-thread data for the new thread. */
    h = _beginthreadex(NULL, 0, thread_main, t, 0, NULL);
    if (h == 0) {
        free(t);
        return SL_EAGAIN;
    }
    t->handle = (HANDLE)h;
    *out = t;
    return 0;
}

void
sl_os_thread_join(sl_thread *t)
{
    if (t == NULL)
        return;
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    free(t);
}

void
sl_mutex_init(sl_mutex *m)
{
    InitializeSRWLock(&m->lock);
}

void
sl_mutex_destroy(sl_mutex *m)
{
    /* SRW locks own no kernel object. */
    (void)m;
}

void
sl_mutex_lock(sl_mutex *m)
{
    AcquireSRWLockExclusive(&m->lock);
}

void
sl_mutex_unlock(sl_mutex *m)
{
    ReleaseSRWLockExclusive(&m->lock);
}

void
sl_cond_init(sl_cond *c)
{
    InitializeConditionVariable(&c->cv);
}

void
sl_cond_destroy(sl_cond *c)
{
    (void)c;
}

void
sl_cond_signal(sl_cond *c)
{
    WakeConditionVariable(&c->cv);
}

void
sl_cond_broadcast(sl_cond *c)
{
    WakeAllConditionVariable(&c->cv);
}

/* Milliseconds for a Win32 wait: rounded up so a wait never ends before
 * ns has passed, and kept below INFINITE. */
static DWORD
ns_to_wait_ms(uint64_t ns)
{
    uint64_t ms = ns / 1000000u + (ns % 1000000u != 0);

    /* SL_OS_FOREVER and anything past DWORD's range: no limit. */
    return ms >= INFINITE ? INFINITE : (DWORD)ms;
}

int
sl_cond_timedwait(sl_cond *c, sl_mutex *m, uint64_t timeout_ns)
{
    /* The Win32 wait counts an interval, not a deadline, so a wall-clock
     * step cannot stretch it (the monotonic property os_posix.c asks
     * pthreads for). */
    if (!SleepConditionVariableSRW(&c->cv, &m->lock,
                                   ns_to_wait_ms(timeout_ns), 0))
        return GetLastError() == ERROR_TIMEOUT ? SL_ETIMEDOUT : 0;
    return 0;
}

void
sl_os_yield(void)
{
    SwitchToThread();
}

void
sl_os_sleep_ns(uint64_t ns)
{
    uint64_t deadline = sl_os_mono_ns() + ns;
    uint64_t now;

    /* Sleep() can end up to one timer tick early; loop until the
     * monotonic clock agrees that ns have passed. */
    while ((now = sl_os_mono_ns()) < deadline)
        Sleep(ns_to_wait_ms(deadline - now));
}

/* ---- clocks and identity --------------------------------------------- */

/* 100 ns intervals between 1601-01-01 (FILETIME) and 1970-01-01. */
#define FILETIME_UNIX_EPOCH 116444736000000000ull

uint64_t
sl_os_now_ns(void)
{
    FILETIME ft;
    uint64_t t;

    GetSystemTimePreciseAsFileTime(&ft);
    t = (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
    if (t < FILETIME_UNIX_EPOCH)
        return 0;
    return (t - FILETIME_UNIX_EPOCH) * 100u;
}

uint64_t
sl_os_mono_ns(void)
{
    LARGE_INTEGER count, freq;
    uint64_t c, f;

    /* Both calls always succeed on Windows XP and later. The frequency is
     * fixed at boot; reading it each time keeps this file free of
     * statics and costs a few nanoseconds. */
    QueryPerformanceCounter(&count);
    QueryPerformanceFrequency(&freq);
    c = (uint64_t)count.QuadPart;
    f = (uint64_t)freq.QuadPart;
    /* Split into whole seconds and the rest so c * 1e9 cannot overflow. */
    return c / f * 1000000000u + c % f * 1000000000u / f;
}

unsigned
sl_os_cpu_count(void)
{
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);

    if (n == 0) {
        SYSTEM_INFO si;

        GetSystemInfo(&si);
        n = si.dwNumberOfProcessors;
    }
    return n < 1 ? 1u : (unsigned)n;
}

uint32_t
sl_os_pid(void)
{
    return (uint32_t)GetCurrentProcessId();
}

size_t
sl_os_hostname(char *buf, size_t cap)
{
    wchar_t wname[256];
    DWORD wlen = (DWORD)(sizeof(wname) / sizeof(wname[0]));
    int n;

    if (cap == 0)
        return 0;
    buf[0] = '\0';
    if (!GetComputerNameExW(ComputerNameDnsHostname, wname, &wlen) ||
        wlen == 0)
        return 0;
    /* Convert into a scratch buffer first, then cut at a UTF-8 character
     * boundary so truncation never leaves half a character. */
    {
        char tmp[256 * 3 + 1];

        n = WideCharToMultiByte(CP_UTF8, 0, wname, (int)wlen, tmp,
                                (int)sizeof(tmp) - 1, NULL, NULL);
        if (n <= 0)
            return 0;
        if ((size_t)n > cap - 1) {
            n = (int)(cap - 1);
            while (n > 0 && ((unsigned char)tmp[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(buf, tmp, (size_t)n);
        buf[n] = '\0';
    }
    return (size_t)n;
}

int
sl_os_isatty(int is_stdout)
{
    HANDLE h = GetStdHandle(is_stdout ? STD_OUTPUT_HANDLE : STD_ERROR_HANDLE);
    DWORD mode;

    if (h == NULL || h == INVALID_HANDLE_VALUE)
        return 0;
    return GetFileType(h) == FILE_TYPE_CHAR && GetConsoleMode(h, &mode);
}

unsigned
sl_os_term_columns(void)
{
    CONSOLE_SCREEN_BUFFER_INFO info;
    const char *env = getenv("COLUMNS");

    if (env != NULL && *env != '\0') {
        char *end;
        unsigned long v = strtoul(env, &end, 10);

        if (*end == '\0' && v > 0 && v < 100000)
            return (unsigned)v;
    }
    if (GetConsoleScreenBufferInfo(GetStdHandle(STD_ERROR_HANDLE), &info))
        return (unsigned)(info.srWindow.Right - info.srWindow.Left + 1);
    return 0;
}

/* ---- pipe names -------------------------------------------------------- */

int
sl_os_pipe_path(const char *name, size_t name_len, char *out, size_t cap,
                size_t *out_len)
{
    static const char prefix[] = "\\\\.\\pipe\\";
    size_t pre, need;

    if (name_len == 0 || memchr(name, '\0', name_len) != NULL)
        return SL_EINVAL;
    /* A name that already starts with "\\" is a full path, which also
     * lets a user reach \\server\pipe\NAME or another namespace. */
    pre = name_len >= 2 && name[0] == '\\' && name[1] == '\\'
              ? 0
              : sizeof(prefix) - 1;
    need = pre + name_len;
    if (need + 1 > cap)
        return SL_ENAMETOOLONG;
    memcpy(out, prefix, pre);
    memcpy(out + pre, name, name_len);
    out[need] = '\0';
    if (out_len != NULL)
        *out_len = need;
    return 0;
}

int
sl_os_utf8_to_wide(const char *s, wchar_t **out)
{
    wchar_t *w;
    int n;

    n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0)
        return SL_EINVAL; /* not UTF-8 */
    w = malloc((size_t)n * sizeof(*w));
    if (w == NULL)
        return SL_ENOMEM;
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) !=
        n) {
        free(w);
        return SL_EINVAL;
    }
    *out = w;
    return 0;
}

int
sl_os_pipe_ready(const char *path)
{
    wchar_t *w;
    int ready;

    if (sl_os_utf8_to_wide(path, &w) != 0)
        return 0;
    /* WaitNamedPipeW never takes an instance. It succeeds when one is
     * free and times out (ERROR_SEM_TIMEOUT) when all are busy: either way
     * a server is there. ERROR_FILE_NOT_FOUND: nobody. */
    ready = WaitNamedPipeW(w, 1) || GetLastError() == ERROR_SEM_TIMEOUT;
    free(w);
    return ready;
}

int
sl_os_list_pipes(void (*fn)(void *ctx, const char *name, const char *path),
                 void *ctx)
{
    WIN32_FIND_DATAW fd;
    HANDLE h = FindFirstFileW(L"\\\\.\\pipe\\*", &fd);
    char name[MAX_PATH * 3], path[MAX_PATH * 3 + 16];

    if (h == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        /* Wine's pipe file system cannot be enumerated (it answers
         * ERROR_BAD_DEV_TYPE); Windows can. */
        if (e == ERROR_BAD_DEV_TYPE)
            return SL_ENOSYS;
        return e == ERROR_FILE_NOT_FOUND ? 0 : sl_err_from_win32(e);
    }
    do {
        if (WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name,
                                (int)sizeof(name), NULL, NULL) <= 0)
            continue;
        snprintf(path, sizeof(path), "\\\\.\\pipe\\%s", name);
        fn(ctx, name, path);
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return 0;
}

int
sl_os_list_dir(const char *dir, void (*fn)(void *ctx, const char *name),
               void *ctx)
{
    WIN32_FIND_DATAW fd;
    wchar_t *w = NULL, *pat;
    size_t wl;
    HANDLE h;
    char name[MAX_PATH * 3];
    int rc = sl_os_utf8_to_wide(dir, &w);

    if (rc != 0)
        return rc;
    wl = wcslen(w);
    pat = malloc((wl + 3) * sizeof(*pat));
    if (pat == NULL) {
        free(w);
        return SL_ENOMEM;
    }
    memcpy(pat, w, wl * sizeof(*pat));
    if (wl > 0 && pat[wl - 1] != L'\\' && pat[wl - 1] != L'/')
        pat[wl++] = L'\\';
    pat[wl++] = L'*';
    pat[wl] = L'\0';
    free(w);
    h = FindFirstFileW(pat, &fd);
    free(pat);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();

        return e == ERROR_FILE_NOT_FOUND ? 0 : sl_err_from_win32(e);
    }
    do {
        if (WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name,
                                (int)sizeof(name), NULL, NULL) <= 0)
            continue;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
            fn(ctx, name);
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return 0;
}

int
sl_os_probe_greeting(const char *path, char *buf, size_t cap,
                     uint32_t timeout_ms)
{
    wchar_t *w;
    HANDLE h, ev;
    OVERLAPPED ov;
    size_t n = 0;
    int rc = SL_ETIMEDOUT;
    uint64_t deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;

    if (cap == 0)
        return SL_EINVAL;
    buf[0] = '\0';
    if (sl_os_utf8_to_wide(path, &w) != 0)
        return SL_EINVAL;
    h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return sl_err_from_win32(GetLastError());
    ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (ev == NULL) {
        CloseHandle(h);
        return SL_ENOMEM;
    }
    while (n < cap - 1) {
        DWORD got = 0, wait_ms;
        uint64_t now = sl_os_mono_ns();

        if (now >= deadline)
            break;
        wait_ms = (DWORD)((deadline - now) / 1000000u) + 1;
        memset(&ov, 0, sizeof(ov));
        ov.hEvent = ev;
        ResetEvent(ev);
        if (!ReadFile(h, buf + n, (DWORD)(cap - 1 - n), NULL, &ov) &&
            GetLastError() != ERROR_IO_PENDING) {
            rc = SL_EPROTO;
            break;
        }
        if (WaitForSingleObject(ev, wait_ms) != WAIT_OBJECT_0) {
            /* Never leave the OVERLAPPED behind while I/O may complete. */
            CancelIoEx(h, &ov);
            GetOverlappedResult(h, &ov, &got, TRUE);
            n += got;
            break;
        }
        if (!GetOverlappedResult(h, &ov, &got, FALSE) || got == 0) {
            rc = SL_EPROTO;
            break;
        }
        n += got;
        if (memchr(buf, '\0', n) != NULL) {
            rc = 0;
            break;
        }
    }
    if (rc != 0 && n > 0 && memchr(buf, '\0', n) != NULL)
        rc = 0;
    if (n == cap - 1 && rc != 0)
        rc = SL_EPROTO;
    CloseHandle(ev);
    CloseHandle(h);
    buf[rc == 0 ? strlen(buf) : 0] = '\0';
    return rc;
}

/* ---- files ------------------------------------------------------------- */

struct sl_file {
    HANDLE h;
    int created;     /* this open made the file (sl_os_file_discard()) */
    int null_sink;   /* NUL: nothing to flush */
    wchar_t *wpath;
};

int
sl_os_file_create(const char *path, int flags, sl_file **out)
{
    int force = (flags & SL_OS_FILE_FORCE) != 0, existed;
    wchar_t *wpath = NULL;
    sl_file *f;
    HANDLE h;
    int rc;

    rc = sl_os_utf8_to_wide(path, &wpath);
    if (rc != 0)
        return rc;
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        rc = SL_ENOMEM;
        goto done;
    }
    /* CREATE_NEW fails with ERROR_FILE_EXISTS on an existing file, the
     * O_EXCL of os_posix.c; CREATE_ALWAYS truncates. Readers may open the
     * file while it grows (sluice-dump --follow), hence FILE_SHARE_READ;
     * FILE_SHARE_DELETE lets them rename or delete it as on POSIX. No
     * FILE_SHARE_WRITE: that is the capture's lock. A second writer (even
     * with --force) fails with a sharing violation before CREATE_ALWAYS
     * truncates anything, and a reader can tell a live writer from a dead
     * one (sl_os_file_writer_alive()). */
    h = CreateFileW(wpath, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_DELETE,
                    NULL, force ? CREATE_ALWAYS : CREATE_NEW,
                    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();

        rc = err == ERROR_SHARING_VIOLATION || err == ERROR_LOCK_VIOLATION
                 ? SL_ELOCKED
                 : sl_err_from_win32(err);
        goto free_file;
    }
    existed = GetLastError() == ERROR_ALREADY_EXISTS;
    if (GetFileType(h) == FILE_TYPE_DISK) {
        /* The capture's lock, as flock() on POSIX: LockFileEx on one byte
         * far beyond any data (a lock on data would block readers such as
         * sluice-dump --follow). The sharing mode above already refuses a
         * second writer; the lock is what sl_os_file_writer_alive() asks
         * about, and it goes with the handle, so a killed writer's lock
         * goes with it. */
        OVERLAPPED ov;

        memset(&ov, 0, sizeof(ov));
        ov.Offset = 0xFFFFFFFFu;
        ov.OffsetHigh = 0x7FFFFFFFu;
        if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
                        0, 1, 0, &ov)) {
            DWORD err = GetLastError();

            CloseHandle(h);
            rc = err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING
                     ? SL_ELOCKED
                     : sl_err_from_win32(err);
            goto free_file;
        }
    } else {
        /* A pipe or a device: not a capture (NUL is taken as a sink). */
        if (_wcsicmp(wpath, L"NUL") != 0) {
            CloseHandle(h);
            rc = SL_ENOTFILE;
            goto free_file;
        }
        f->null_sink = 1;
    }
    f->h = h;
    f->created = !existed && !f->null_sink;
    f->wpath = wpath;
    wpath = NULL;
    *out = f;
    goto done;

free_file:
    free(f);
done:
    free(wpath);
    return rc;
}

int
sl_os_file_writev(sl_file *f, const sl_iovec *iov, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = iov[i].base;
        size_t left = iov[i].len;

        /* WriteFile takes a DWORD count; a disk file may still take fewer
         * bytes than asked, so loop until each vector is written. */
        while (left > 0) {
            DWORD chunk = left > (1u << 30) ? (1u << 30) : (DWORD)left;
            DWORD done = 0;

            if (!WriteFile(f->h, p, chunk, &done, NULL))
                return sl_err_from_win32(GetLastError());
            if (done == 0)
                return SL_EIO;
            p += done;
            left -= done;
        }
    }
    return 0;
}

int
sl_os_file_sync(sl_file *f)
{
    if (f->null_sink)
        return 0;
    if (!FlushFileBuffers(f->h))
        return sl_err_from_win32(GetLastError());
    return 0;
}

void
sl_os_file_writeback(sl_file *f, uint64_t off, uint64_t len)
{
    /* Windows has no call that starts writeback of a range without
     * waiting for it; the lazy writer does it on its own. */
    (void)f;
    (void)off;
    (void)len;
}

int
sl_os_file_close(sl_file *f)
{
    int rc = 0;

    if (f == NULL)
        return 0;
    if (!CloseHandle(f->h))
        rc = sl_err_from_win32(GetLastError());
    free(f->wpath);
    free(f);
    return rc;
}

int
sl_os_file_remove(const char *path)
{
    wchar_t *wpath = NULL;
    int rc = sl_os_utf8_to_wide(path, &wpath);

    if (rc != 0)
        return rc;
    if (!DeleteFileW(wpath)) {
        DWORD e = GetLastError();

        rc = e == ERROR_FILE_NOT_FOUND ? 0 : sl_err_from_win32(e);
    }
    free(wpath);
    return rc;
}

void
sl_os_file_discard(sl_file *f)
{
    if (f == NULL)
        return;
    CloseHandle(f->h);
    if (f->created)
        DeleteFileW(f->wpath);
    f->h = INVALID_HANDLE_VALUE;
    free(f->wpath);
    free(f);
}

int
sl_os_file_set_group(sl_file *f, uint32_t gid)
{
    (void)f;
    (void)gid;
    return SL_ENOSYS; /* the pipe's DACL, not groups, on Windows */
}

uint32_t
sl_os_file_lock_holder(const char *path)
{
    (void)path;
    return 0; /* Windows does not say who holds a sharing lock */
}

int
sl_os_file_writer_alive(const char *path)
{
    wchar_t *wpath = NULL;
    HANDLE h;
    DWORD err;

    if (sl_os_utf8_to_wide(path, &wpath) != 0)
        return -1;
    /* Sharing everything, so a live writer does not keep us out: then
     * its LockFileEx byte (sl_os_file_create()) says whether it lives. */
    h = CreateFileW(wpath, GENERIC_READ,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    err = GetLastError();
    free(wpath);
    if (h != INVALID_HANDLE_VALUE) {
        OVERLAPPED ov;
        int alive;

        memset(&ov, 0, sizeof(ov));
        ov.Offset = 0xFFFFFFFFu;
        ov.OffsetHigh = 0x7FFFFFFFu;
        if (LockFileEx(h, LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
            UnlockFileEx(h, 0, 1, 0, &ov);
            alive = 0;
        } else {
            err = GetLastError();
            alive = err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING
                        ? 1
                        : -1;
        }
        CloseHandle(h);
        return alive;
    }
    if (err == ERROR_SHARING_VIOLATION)
        return 1;
    return err == ERROR_FILE_NOT_FOUND ? 0 : -1;
}

int
sl_os_exe_dir(char *buf, size_t cap)
{
    wchar_t w[32768];
    DWORD n = GetModuleFileNameW(NULL, w, (DWORD)(sizeof(w) / sizeof(w[0])));
    char *sep;
    int len;

    if (n == 0 || n >= sizeof(w) / sizeof(w[0]))
        return SL_ENAMETOOLONG;
    len = WideCharToMultiByte(CP_UTF8, 0, w, (int)n + 1, buf,
                              cap > INT_MAX ? INT_MAX : (int)cap, NULL, NULL);
    if (len <= 0)
        return SL_ENAMETOOLONG;
    sep = strrchr(buf, '\\');
    if (sep == NULL)
        sep = strrchr(buf, '/');
    if (sep == NULL)
        return SL_EINVAL;
    *sep = '\0';
    return 0;
}

/* ---- stop requests ------------------------------------------------------ */

/*
 * A stop is process-wide, like a signal on POSIX, so its state is too:
 * a manual-reset event that stays set once a stop was requested (every
 * later wait returns at once) and a flag for cheap polling. The console
 * control handler runs on a thread the system creates for it.
 */
static INIT_ONCE stop_once = INIT_ONCE_STATIC_INIT;
static INIT_ONCE stop_handler_once = INIT_ONCE_STATIC_INIT;
static HANDLE stop_event;
/* Relaxed is enough: the flag carries no data, and SetEvent/
 * WaitForSingleObject order the wake-up itself. */
static atomic_int stop_flag;

static BOOL CALLBACK
stop_event_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    return stop_event != NULL;
}

static void
stop_set(void)
{
    atomic_store_explicit(&stop_flag, 1, memory_order_relaxed);
    if (stop_event != NULL)
        SetEvent(stop_event);
}

static BOOL WINAPI
on_console_ctrl(DWORD type)
{
    switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
        stop_set();
        return TRUE;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        /* The process is terminated as soon as this handler returns (and
         * anyway after the system's grace period, about 5 s for a console
         * close). Hold this thread so the main thread can drain, flush
         * and exit; its ExitProcess ends this thread too. */
        stop_set();
        Sleep(INFINITE);
        return TRUE;
    default:
        return FALSE;
    }
}

static BOOL CALLBACK
stop_handler_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    return SetConsoleCtrlHandler(on_console_ctrl, TRUE);
}

int
sl_os_stop_install(void)
{
    if (!InitOnceExecuteOnce(&stop_once, stop_event_init, NULL, NULL))
        return sl_err_from_win32(GetLastError());
    if (!InitOnceExecuteOnce(&stop_handler_once, stop_handler_init, NULL,
                             NULL))
        return sl_err_from_win32(GetLastError());
    return 0;
}

int
sl_os_stop_wait(uint64_t timeout_ns)
{
    if (atomic_load_explicit(&stop_flag, memory_order_relaxed))
        return 1;
    if (!InitOnceExecuteOnce(&stop_once, stop_event_init, NULL, NULL)) {
        sl_os_sleep_ns(timeout_ns);
        return atomic_load_explicit(&stop_flag, memory_order_relaxed);
    }
    WaitForSingleObject(stop_event, ns_to_wait_ms(timeout_ns));
    return atomic_load_explicit(&stop_flag, memory_order_relaxed);
}

void
sl_os_stop_request(void)
{
    InitOnceExecuteOnce(&stop_once, stop_event_init, NULL, NULL);
    stop_set();
}

int
sl_os_trigger_install(void)
{
    return SL_ENOSYS; /* no SIGUSR1: sluice-ctl snapshot triggers */
}

int
sl_os_trigger_take(void)
{
    return 0;
}

/* ---- UTF-8 arguments ------------------------------------------------------ */

int
sl_os_args_utf8(int *argc, char ***argv)
{
    int n, i;
    LPWSTR *wargv = CommandLineToArgvW(GetCommandLineW(), &n);
    char **out;

    if (wargv == NULL)
        return SL_ENOMEM;
    out = calloc((size_t)n + 1, sizeof(*out));
    if (out == NULL)
        goto fail;
    for (i = 0; i < n; i++) {
        int len = WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, NULL, 0,
                                      NULL, NULL);
        if (len <= 0 || (out[i] = malloc((size_t)len)) == NULL)
            goto fail_out;
        WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, out[i], len, NULL,
                            NULL);
    }
    LocalFree(wargv);
    *argc = n;
    *argv = out;
    return 0;

fail_out:
    while (i-- > 0)
        free(out[i]);
    free(out);
fail:
    LocalFree(wargv);
    return SL_ENOMEM;
}

int
sl_os_fopen_read(const char *path, FILE **out)
{
    wchar_t *w;
    FILE *f;
    DWORD e;

    if (sl_os_utf8_to_wide(path, &w) != 0)
        return SL_EINVAL;
    f = _wfopen(w, L"rb");
    e = GetLastError();
    free(w);
    if (f == NULL)
        return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND
                   ? SL_ENOENT
                   : e == ERROR_ACCESS_DENIED ? SL_EACCES : SL_EIO;
    *out = f;
    return 0;
}

int
sl_os_fopen_regular(const char *path, FILE **out)
{
    wchar_t *w;
    DWORD attr;
    FILE *f = NULL;
    int rc;

    if (sl_os_utf8_to_wide(path, &w) != 0)
        return SL_EINVAL;
    attr = GetFileAttributesW(w);
    free(w);
    if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY))
        return SL_EISDIR;
    rc = sl_os_fopen_read(path, &f);
    if (rc != 0)
        return rc;
    /* A device (CON, NUL) or a pipe is no file of lines. */
    if (GetFileType((HANDLE)_get_osfhandle(_fileno(f))) != FILE_TYPE_DISK) {
        fclose(f);
        return SL_ENOTFILE;
    }
    *out = f;
    return 0;
}

int
sl_os_raise_fd_limit(uint64_t *now)
{
    /* Handles are limited only by memory on Windows. */
    *now = UINT64_MAX;
    return 0;
}

int
sl_os_user_id(uint32_t *out)
{
    (void)out;
    return SL_ENOSYS; /* users are SIDs; the pipe's DACL decides */
}

int
sl_os_group_id(const char *name, uint32_t *out)
{
    (void)name;
    (void)out;
    return SL_ENOSYS;
}

void
sl_os_stdout_binary(void)
{
    /* Text mode would turn every "\n" into "\r\n", so CSV's "\r\n" rows
     * became "\r\r\n" and output differed from Linux byte for byte. */
    fflush(stdout);
    _setmode(_fileno(stdout), _O_BINARY);
}

int
sl_os_random(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ULONG n = len > 0x10000000u ? 0x10000000u : (ULONG)len;

        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, p, n,
                                            BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return SL_EIO;
        p += n;
        len -= n;
    }
    return 0;
}
