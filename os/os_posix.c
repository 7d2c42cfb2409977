/*
 * POSIX implementation of the OS layer (os.h): pthreads, CLOCK_MONOTONIC
 * condition variables, the capture file's write path, the SIGINT/SIGTERM
 * stop request (a self-pipe, so waiting for it needs no polling), pipe
 * names in the .NET CoreFxPipe_ convention, and the one place where errno
 * becomes an SL_E* code.
 */
#include "os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

int
sl_err_from_errno(int err)
{
    switch (err) {
    case 0:
        return 0;
    case EINVAL:
        return SL_EINVAL;
    case ENOMEM:
        return SL_ENOMEM;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return SL_EAGAIN;
    case ENOENT:
        return SL_ENOENT;
    case ECONNREFUSED:
        return SL_ECONNREFUSED;
    case EROFS:
        return SL_EROFS;
    case EISDIR:
        return SL_EISDIR;
    case EEXIST:
        return SL_EEXIST;
    case EPIPE:
        return SL_EPIPE;
    case ECONNRESET:
        return SL_ECONNRESET;
    case EACCES:
    case EPERM:
        return SL_EACCES;
    case EADDRINUSE:
        return SL_EADDRINUSE;
    case ENOSYS:
    case EOPNOTSUPP:
        return SL_ENOSYS;
    case ECANCELED:
        return SL_ECANCELED;
    case ENOSPC:
    case EDQUOT:
        return SL_ENOSPC;
    case EFBIG:
        return SL_EFBIG;
    case EBUSY:
        return SL_EBUSY;
    case ETIMEDOUT:
        return SL_ETIMEDOUT;
    case ENAMETOOLONG:
        return SL_ENAMETOOLONG;
    case EMFILE:
    case ENFILE:
        return SL_EMFILE;
    case EBADF:
        return SL_ECLOSED;
    case EIO:
        return SL_EIO;
    default:
        return SL_EUNKNOWN;
    }
}

/* ---- threads and locks ------------------------------------------------ */

struct sl_thread {
    pthread_t tid;
    void (*fn)(void *);
    void *arg;
};

static void *
thread_main(void *p)
{
    sl_thread *t = p;
    t->fn(t->arg);
    return NULL;
}

int
sl_os_thread_start(void (*fn)(void *), void *arg, sl_thread **out)
{
    sl_thread *t = malloc(sizeof(*t));
    int rc;

    if (t == NULL)
        return SL_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    rc = pthread_create(&t->tid, NULL, thread_main, t);
    if (rc != 0) {
        free(t);
        return sl_err_from_errno(rc);
    }
    *out = t;
    return 0;
}

void
sl_os_thread_join(sl_thread *t)
{
    if (t == NULL)
        return;
    pthread_join(t->tid, NULL);
    free(t);
}

void
sl_mutex_init(sl_mutex *m)
{
    pthread_mutex_init(&m->m, NULL);
}

void
sl_mutex_destroy(sl_mutex *m)
{
    pthread_mutex_destroy(&m->m);
}

void
sl_mutex_lock(sl_mutex *m)
{
    pthread_mutex_lock(&m->m);
}

void
sl_mutex_unlock(sl_mutex *m)
{
    pthread_mutex_unlock(&m->m);
}

void
sl_cond_init(sl_cond *c)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    /* Monotonic, so a wall-clock step never stretches a timed wait. */
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&c->c, &a);
    pthread_condattr_destroy(&a);
}

void
sl_cond_destroy(sl_cond *c)
{
    pthread_cond_destroy(&c->c);
}

void
sl_cond_signal(sl_cond *c)
{
    pthread_cond_signal(&c->c);
}

void
sl_cond_broadcast(sl_cond *c)
{
    pthread_cond_broadcast(&c->c);
}

int
sl_cond_timedwait(sl_cond *c, sl_mutex *m, uint64_t timeout_ns)
{
    struct timespec ts;
    uint64_t now = sl_os_mono_ns();
    uint64_t deadline;
    int rc;

    /* SL_OS_FOREVER, or a deadline past what the clock can name. */
    if (timeout_ns > UINT64_MAX - now ||
        (now + timeout_ns) / 1000000000u > (uint64_t)INT32_MAX) {
        pthread_cond_wait(&c->c, &m->m);
        return 0;
    }
    deadline = now + timeout_ns;
    ts.tv_sec = (time_t)(deadline / 1000000000u);
    ts.tv_nsec = (long)(deadline % 1000000000u);
    rc = pthread_cond_timedwait(&c->c, &m->m, &ts);
    return rc == ETIMEDOUT ? SL_ETIMEDOUT : 0;
}

void
sl_os_yield(void)
{
    sched_yield();
}

void
sl_os_sleep_ns(uint64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int
sl_os_args_utf8(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* ---- clocks and identity --------------------------------------------- */

uint64_t
sl_os_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
sl_os_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned
sl_os_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1u : (unsigned)n;
}

uint32_t
sl_os_pid(void)
{
    return (uint32_t)getpid();
}

size_t
sl_os_hostname(char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    if (gethostname(buf, cap) != 0)
        buf[0] = '\0';
    buf[cap - 1] = '\0';
    return strlen(buf);
}

int
sl_os_isatty(int is_stdout)
{
    return isatty(is_stdout ? 1 : 2);
}

unsigned
sl_os_term_columns(void)
{
    const char *env = getenv("COLUMNS");
    struct winsize ws;

    if (env != NULL && *env != '\0') {
        char *end;
        unsigned long v = strtoul(env, &end, 10);

        if (*end == '\0' && v > 0 && v < 100000)
            return (unsigned)v;
    }
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 0;
}

/* ---- pipe names -------------------------------------------------------- */

int
sl_os_pipe_path(const char *name, size_t name_len, char *out, size_t cap,
                size_t *out_len)
{
    const char *dir;
    static const char prefix[] = "CoreFxPipe_";
    size_t dir_len, need;
    int has_slash;

    if (name_len == 0 || memchr(name, '\0', name_len) != NULL)
        return SL_EINVAL;
    has_slash = memchr(name, '/', name_len) != NULL;
    if (has_slash) {
        dir = "";
        dir_len = 0;
    } else {
        /* .NET uses Path.GetTempPath(): $TMPDIR, else /tmp. */
        dir = getenv("TMPDIR");
        if (dir == NULL || dir[0] == '\0')
            dir = "/tmp";
        dir_len = strlen(dir);
        while (dir_len > 1 && dir[dir_len - 1] == '/')
            dir_len--;
    }
    need = has_slash ? name_len : dir_len + 1 + sizeof(prefix) - 1 + name_len;
    /* sockaddr_un.sun_path holds 108 bytes including the NUL. */
    if (need + 1 > cap)
        return SL_ENAMETOOLONG;
    if (has_slash) {
        memcpy(out, name, name_len);
    } else {
        memcpy(out, dir, dir_len);
        out[dir_len] = '/';
        memcpy(out + dir_len + 1, prefix, sizeof(prefix) - 1);
        memcpy(out + dir_len + sizeof(prefix), name, name_len);
    }
    out[need] = '\0';
    if (out_len != NULL)
        *out_len = need;
    /* Too long for a socket, but the path is in out, for the message. */
    if (need > SL_OS_PIPE_PATH_MAX)
        return SL_ENAMETOOLONG;
    return 0;
}

int
sl_os_pipe_ready(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int
sl_os_list_pipes(void (*fn)(void *ctx, const char *name, const char *path),
                 void *ctx)
{
    static const char prefix[] = "CoreFxPipe_";
    const char *dir = getenv("TMPDIR");
    char path[PATH_MAX];
    struct dirent *de;
    struct stat st;
    DIR *d;

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    d = opendir(dir);
    if (d == NULL)
        return sl_err_from_errno(errno);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, sizeof(prefix) - 1) != 0)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
            sizeof(path))
            continue;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            fn(ctx, de->d_name + sizeof(prefix) - 1, path);
    }
    closedir(d);
    return 0;
}

int
sl_os_list_dir(const char *dir, void (*fn)(void *ctx, const char *name),
               void *ctx)
{
    struct dirent *de;
    DIR *d = opendir(dir);

    if (d == NULL)
        return sl_err_from_errno(errno);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            fn(ctx, de->d_name);
    closedir(d);
    return 0;
}

int
sl_os_probe_greeting(const char *path, char *buf, size_t cap,
                     uint32_t timeout_ms)
{
    struct sockaddr_un sa;
    uint64_t deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    size_t n = 0, len = strlen(path);
    int fd, rc = SL_ETIMEDOUT;

    if (cap == 0 || len >= sizeof(sa.sun_path))
        return SL_EINVAL;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    /* Non-blocking, so the connect is bounded too: a socket that never
     * accepts, its backlog full, makes a blocking connect() wait forever.
     * A Unix socket's connect either completes at once or fails with
     * EAGAIN (backlog full: not answering, reported as SL_ETIMEDOUT);
     * EINPROGRESS, where a system has it, is waited for within the
     * deadline. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sl_err_from_errno(errno);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;

        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t elen = sizeof(err);

            if (poll(&p, 1, (int)timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
                err == 0)
                goto connected;
            if (err == EINPROGRESS)
                err = ETIMEDOUT;
        }
        rc = err == EAGAIN ? SL_ETIMEDOUT : sl_err_from_errno(err);
        close(fd);
        return rc;
    }
connected:
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint64_t now = sl_os_mono_ns();
        ssize_t r;

        if (now >= deadline)
            break;
        if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
            continue;
        r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            rc = SL_EPROTO;
            break;
        }
        n += (size_t)r;
        if (memchr(buf, '\0', n) != NULL) {
            rc = 0;
            break;
        }
        if (n == cap - 1) {
            rc = SL_EPROTO;
            break;
        }
    }
    close(fd);
    buf[rc == 0 ? strlen(buf) : 0] = '\0';
    return rc;
}

/* ---- files ------------------------------------------------------------- */

struct sl_file {
    int fd;
    int null_sink; /* /dev/null: nothing to lock, truncate or sync */
    int created;   /* this open made the file (sl_os_file_discard()) */
    char *path;    /* for sl_os_file_discard() */
};

/* Who holds a flock() on the file open at fd, from /proc/locks (Linux;
 * 0 when unknown). Only for the message of a refused second writer. */
static uint32_t
lock_holder(int fd)
{
    struct stat st;
    char line[256];
    uint32_t pid = 0;
    FILE *f;

    if (fstat(fd, &st) != 0 || (f = fopen("/proc/locks", "r")) == NULL)
        return 0;
    while (pid == 0 && fgets(line, sizeof(line), f) != NULL) {
        unsigned maj, min;
        unsigned long long ino;
        long p;
        char kind[16], mode[16], rw[16];

        if (sscanf(line, "%*[^:]: %15s %15s %15s %ld %x:%x:%llu", kind, mode,
                   rw, &p, &maj, &min, &ino) == 7 &&
            strcmp(kind, "FLOCK") == 0 && p > 0 &&
            ino == (unsigned long long)st.st_ino &&
            makedev(maj, min) == st.st_dev)
            pid = (uint32_t)p;
    }
    fclose(f);
    return pid;
}

/* The capture's exclusive lock: flock(), which belongs to this open file
 * (not to the process, as fcntl() locks do, which any close() of the
 * same file in the process would drop). A follower probing for a live
 * writer holds a shared lock for an instant (sl_os_file_writer_alive()),
 * so a writer that finds it taken tries again for a moment. */
static int
lock_exclusive(int fd)
{
    for (int i = 0; i < 40; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return errno == ENOLCK || errno == EINVAL || errno == ENOTSUP
                       ? 0 /* a file system without locks: no lock */
                       : sl_err_from_errno(errno);
        sl_os_sleep_ns(5000000u);
    }
    return SL_ELOCKED;
}

static int
is_dev_null(const struct stat *st)
{
    struct stat n;

    return S_ISCHR(st->st_mode) && stat("/dev/null", &n) == 0 &&
           n.st_rdev == st->st_rdev;
}

int
sl_os_file_create(const char *path, int flags, sl_file **out)
{
    int force = (flags & SL_OS_FILE_FORCE) != 0;
    mode_t mode = (flags & SL_OS_FILE_GROUP) ? 0640 : 0600;
    struct stat st;
    sl_file *f;
    int fd, rc;
    /* Never through a symlink: with force the link itself is replaced by
     * a new file (its target is left alone), without force it "exists". */
    int existed = lstat(path, &st) == 0;

    if (existed) {
        if (S_ISDIR(st.st_mode))
            return SL_EISDIR;
        if (!force)
            return SL_EEXIST;
        if (S_ISLNK(st.st_mode) && unlink(path) != 0)
            return sl_err_from_errno(errno);
        if (S_ISSOCK(st.st_mode))
            return SL_ENOTFILE;
    }
    /* O_NONBLOCK: a FIFO must not block the open (it is refused below);
     * O_NOFOLLOW: a link planted since the lstat() is not followed. No
     * O_TRUNC: a capture is truncated only once its lock is ours, so a
     * second collector never clobbers a live one. */
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
                        (force ? 0 : O_EXCL),
              mode);
    if (fd < 0) {
        if (errno == ELOOP)
            return SL_EEXIST;
        if (errno == ENXIO) /* a FIFO without reader, a socket */
            return SL_ENOTFILE;
        return sl_err_from_errno(errno);
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        close(fd);
        return SL_ENOMEM;
    }
    f->fd = fd;
    f->created = !existed || S_ISLNK(st.st_mode);
    f->path = strdup(path);
    if (f->path == NULL || fstat(fd, &st) != 0) {
        rc = f->path == NULL ? SL_ENOMEM : sl_err_from_errno(errno);
        goto fail;
    }
    if (is_dev_null(&st)) {
        f->null_sink = 1;
    } else if (!S_ISREG(st.st_mode)) {
        rc = SL_ENOTFILE;
        goto fail;
    } else {
        rc = lock_exclusive(fd);
        if (rc != 0)
            goto fail;
        if (force && (ftruncate(fd, 0) != 0 || fchmod(fd, mode) != 0)) {
            rc = sl_err_from_errno(errno);
            goto fail;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *out = f;
    return 0;

fail:
    close(fd);
    if (f->created && f->path != NULL && !f->null_sink)
        unlink(f->path);
    free(f->path);
    free(f);
    return rc;
}

int
sl_os_file_remove(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return sl_err_from_errno(errno);
    return 0;
}

void
sl_os_file_discard(sl_file *f)
{
    if (f == NULL)
        return;
    if (f->created && !f->null_sink)
        unlink(f->path);
    sl_os_file_close(f);
}

int
sl_os_file_set_group(sl_file *f, uint32_t gid)
{
    if (f->null_sink)
        return 0;
    if (fchown(f->fd, (uid_t)-1, (gid_t)gid) != 0)
        return sl_err_from_errno(errno);
    return 0;
}

uint32_t
sl_os_file_lock_holder(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    uint32_t pid;

    if (fd < 0)
        return 0;
    pid = lock_holder(fd);
    close(fd);
    return pid;
}

int
sl_os_file_writer_alive(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    int alive = 0;

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        flock(fd, LOCK_UN);
    else if (errno == EWOULDBLOCK)
        alive = 1;
    else
        alive = -1; /* no locks here: cannot tell */
    close(fd);
    return alive;
}

int
sl_os_file_writev(sl_file *f, const sl_iovec *iov, size_t n)
{
    struct iovec v[16];
    size_t i = 0;

    while (i < n) {
        size_t cnt = 0, j;
        ssize_t w;

        for (j = i; j < n && cnt < 16; j++) {
            if (iov[j].len == 0)
                continue;
            v[cnt].iov_base = (void *)iov[j].base;
            v[cnt].iov_len = iov[j].len;
            cnt++;
        }
        if (cnt == 0)
            return 0;
        /* Write the gathered vectors; on a short write, advance through
         * them and retry the rest, so every byte lands in order. */
        while (cnt > 0) {
            size_t k = 0;

            w = writev(f->fd, v, (int)cnt);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return sl_err_from_errno(errno);
            }
            while (k < cnt && (size_t)w >= v[k].iov_len) {
                w -= (ssize_t)v[k].iov_len;
                k++;
            }
            if (k < cnt) {
                v[k].iov_base = (char *)v[k].iov_base + w;
                v[k].iov_len -= (size_t)w;
            }
            memmove(v, v + k, (cnt - k) * sizeof(v[0]));
            cnt -= k;
        }
        i = j;
    }
    return 0;
}

int
sl_os_file_sync(sl_file *f)
{
    if (f->null_sink)
        return 0; /* fdatasync(/dev/null) is EINVAL: nothing to sync */
    if (fdatasync(f->fd) != 0)
        return sl_err_from_errno(errno);
    return 0;
}

void
sl_os_file_writeback(sl_file *f, uint64_t off, uint64_t len)
{
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    if (f->null_sink)
        return;
    /* A hint: on failure the final sync still writes everything. */
    (void)sync_file_range(f->fd, (off_t)off, (off_t)len,
                          SYNC_FILE_RANGE_WRITE);
#else
    (void)f;
    (void)off;
    (void)len;
#endif
}

int
sl_os_file_close(sl_file *f)
{
    int rc = 0;

    if (f == NULL)
        return 0;
    if (close(f->fd) != 0)
        rc = sl_err_from_errno(errno);
    free(f->path);
    free(f);
    return rc;
}

void
sl_os_stdout_binary(void)
{
}

int
sl_os_fopen_read(const char *path, FILE **out)
{
    FILE *f = fopen(path, "rb");
    struct stat st;

    if (f == NULL)
        return errno == ENOENT || errno == EACCES || errno == ENOMEM ||
                       errno == EISDIR
                   ? sl_err_from_errno(errno)
                   : SL_EIO;
    /* fopen() opens a directory for reading; its first read would fail
     * as an "input/output error". Say what it is. */
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return SL_EISDIR;
    }
    *out = f;
    return 0;
}

int
sl_os_fopen_regular(const char *path, FILE **out)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer; on a regular file it changes nothing. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    FILE *f;

    if (fd < 0)
        return errno == ENOENT || errno == EACCES || errno == ENOMEM ||
                       errno == EISDIR
                   ? sl_err_from_errno(errno)
                   : SL_EIO;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return SL_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? SL_EISDIR : SL_ENOTFILE;
    }
    f = fdopen(fd, "rb");
    if (f == NULL) {
        close(fd);
        return SL_ENOMEM;
    }
    *out = f;
    return 0;
}

/* ---- stop requests ------------------------------------------------------ */

/*
 * The signal handler writes one byte into a non-blocking self-pipe and sets
 * a flag. Only async-signal-safe calls happen in the handler; readers wait
 * on the pipe with poll(), so a stop is noticed at once without polling.
 */
static int stop_pipe[2] = {-1, -1};
/* Relaxed is enough: the flag carries no data, and the self-pipe write and
 * read order the wake-up itself. */
static atomic_int stop_flag;
static pthread_once_t stop_once = PTHREAD_ONCE_INIT;
static int stop_init_rc;

static void
on_stop_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    atomic_store_explicit(&stop_flag, 1, memory_order_relaxed);
    if (write(stop_pipe[1], &c, 1) < 0) {
        /* A full pipe already holds a pending wake-up; nothing to do. */
    }
    errno = saved;
}

static void
stop_init(void)
{
    struct sigaction sa;

    if (pipe(stop_pipe) != 0) {
        stop_init_rc = sl_err_from_errno(errno);
        return;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(stop_pipe[i], F_SETFL, fcntl(stop_pipe[i], F_GETFL) | O_NONBLOCK);
        fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed terminal (SIGHUP) is a stop too, not death with the
     * capture unfinished (issue 10); like a console close on Windows. */
    sigaction(SIGHUP, &sa, NULL);
    /* Peers that vanish must give EPIPE, never kill the process. */
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit must give EFBIG from write(), not kill us. */
    signal(SIGXFSZ, SIG_IGN);
}

int
sl_os_stop_install(void)
{
    pthread_once(&stop_once, stop_init);
    return stop_init_rc;
}

/* SIGUSR1 (sl_os_trigger_install()): relaxed, like stop_flag; the
 * self-pipe byte orders the wake-up, and the flag carries no data. */
static atomic_int trigger_flag;

static void
on_trigger_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    atomic_store_explicit(&trigger_flag, 1, memory_order_relaxed);
    if (write(stop_pipe[1], &c, 1) < 0) {
        /* A full pipe already holds a pending wake-up. */
    }
    errno = saved;
}

int
sl_os_trigger_install(void)
{
    struct sigaction sa;

    if (stop_pipe[1] < 0)
        return SL_EINVAL; /* sl_os_stop_install() first */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_trigger_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return sl_err_from_errno(errno);
    return 0;
}

int
sl_os_trigger_take(void)
{
    return atomic_exchange_explicit(&trigger_flag, 0, memory_order_relaxed);
}

int
sl_os_stop_wait(uint64_t timeout_ns)
{
    struct pollfd p;
    int ms;

    if (atomic_load_explicit(&stop_flag, memory_order_relaxed))
        return 1;
    if (stop_pipe[0] < 0) {
        sl_os_sleep_ns(timeout_ns);
        return atomic_load_explicit(&stop_flag, memory_order_relaxed);
    }
    p.fd = stop_pipe[0];
    p.events = POLLIN;
    /* -1: no limit (SL_OS_FOREVER or anything past INT_MAX ms). */
    ms = timeout_ns / 1000000u >= (uint64_t)INT_MAX
             ? -1
             : (int)((timeout_ns + 999999u) / 1000000u);
    if (poll(&p, 1, ms) > 0 &&
        !atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        /* Not a stop: a trigger's byte (SIGUSR1). Drain it so the next
         * wait sleeps again. A stop's byte drained with it loses
         * nothing: stop_flag is set before its byte is written, and is
         * read again below and first thing in every later wait. */
        char buf[64];

        while (read(stop_pipe[0], buf, sizeof(buf)) > 0)
            ;
    }
    /* A stop's byte stays in the pipe: every later wait returns at once. */
    return atomic_load_explicit(&stop_flag, memory_order_relaxed);
}

void
sl_os_stop_request(void)
{
    atomic_store_explicit(&stop_flag, 1, memory_order_relaxed);
    if (stop_pipe[1] >= 0) {
        char c = 0;
        if (write(stop_pipe[1], &c, 1) < 0) {
            /* Full pipe: a wake-up is already pending. */
        }
    }
}

int
sl_os_exe_dir(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    char *slash;

    if (n < 0)
        return sl_err_from_errno(errno);
    if ((size_t)n >= cap - 1)
        return SL_ENAMETOOLONG;
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (slash == NULL)
        return SL_EINVAL;
    *slash = '\0';
    return 0;
}

int
sl_os_raise_fd_limit(uint64_t *now)
{
    struct rlimit rl;
    int rc = 0;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        *now = 0;
        return sl_err_from_errno(errno);
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rc = sl_err_from_errno(errno);
            rl.rlim_cur = old;
        }
    }
    *now = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    return rc;
}

int
sl_os_user_id(uint32_t *out)
{
    *out = (uint32_t)geteuid();
    return 0;
}

int
sl_os_group_id(const char *name, uint32_t *out)
{
    struct group gr, *res = NULL;
    char buf[4096];
    uint64_t v = 0;
    const char *p;
    int e;

    for (p = name; *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (p != name && *p == '\0' && v < UINT32_MAX) {
        *out = (uint32_t)v;
        return 0;
    }
    /* A group with more members than fit the buffer gives ERANGE: report
     * it rather than guess. */
    e = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
    if (e != 0)
        return sl_err_from_errno(e);
    if (res == NULL)
        return SL_ENOENT;
    *out = (uint32_t)gr.gr_gid;
    return 0;
}

int
sl_os_random(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return SL_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
