/*
 * The thin OS layer: threads, locks, clocks, files, the stop signal and
 * pipe names. os_posix.c and os_win.c implement it; nothing above this
 * layer includes a platform header or reads errno/GetLastError().
 * Functions return 0 or a negative SL_E* code (err.h).
 */
#ifndef SL_OS_H
#define SL_OS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
typedef struct sl_mutex {
    SRWLOCK lock;
} sl_mutex;
typedef struct sl_cond {
    CONDITION_VARIABLE cv;
} sl_cond;
/**
 * UTF-8 (NUL-terminated) to a malloc'd UTF-16 string, the one conversion
 * every Win32 caller uses (paths, pipe names, command lines).
 * @return 0, SL_ENOMEM, SL_EINVAL (not UTF-8).
 */
int sl_os_utf8_to_wide(const char *s, wchar_t **out);
#else
#include <pthread.h>
typedef struct sl_mutex {
    pthread_mutex_t m;
} sl_mutex;
typedef struct sl_cond {
    pthread_cond_t c; /* CLOCK_MONOTONIC */
} sl_cond;
#endif

/* ---- threads and locks ------------------------------------------------ */

typedef struct sl_thread sl_thread;

/** Starts fn(arg) on a new thread. @return 0, SL_ENOMEM, SL_EAGAIN. */
int sl_os_thread_start(void (*fn)(void *), void *arg, sl_thread **out);
/** Waits for the thread to end and frees it. NULL is a no-op. */
void sl_os_thread_join(sl_thread *t);

void sl_mutex_init(sl_mutex *m);
void sl_mutex_destroy(sl_mutex *m);
void sl_mutex_lock(sl_mutex *m);
void sl_mutex_unlock(sl_mutex *m);
void sl_cond_init(sl_cond *c);
void sl_cond_destroy(sl_cond *c);
void sl_cond_signal(sl_cond *c);
void sl_cond_broadcast(sl_cond *c);
/** A timeout that never runs out (sl_cond_timedwait, sl_os_stop_wait). */
#define SL_OS_FOREVER UINT64_MAX

/**
 * Waits with m held, up to timeout_ns (SL_OS_FOREVER: until signalled; a
 * timeout too large for the platform also means that).
 * @return 0 when woken, SL_ETIMEDOUT.
 */
int sl_cond_timedwait(sl_cond *c, sl_mutex *m, uint64_t timeout_ns);

/** Gives the CPU to another thread (sched_yield / SwitchToThread). */
void sl_os_yield(void);
/** Sleeps at least ns nanoseconds. */
void sl_os_sleep_ns(uint64_t ns);

/**
 * Makes argv UTF-8. POSIX: a no-op (arguments are bytes already). Windows:
 * the C runtime hands main() arguments in the ANSI code page, so this
 * rebuilds argv from GetCommandLineW(). Call first in main(). The new
 * array lives until the process exits.
 * @return 0 or SL_ENOMEM (argv left as it was).
 */
int sl_os_args_utf8(int *argc, char ***argv);

/* ---- clocks and identity --------------------------------------------- */

/** Wall clock, ns since the Unix epoch. */
uint64_t sl_os_now_ns(void);
/** Monotonic clock, ns from an arbitrary start. */
uint64_t sl_os_mono_ns(void);
/** Fills buf with len bytes from the OS's CSPRNG (getrandom(2);
 * BCryptGenRandom on Windows). @return 0, SL_EIO. */
int sl_os_random(void *buf, size_t len);
/** Online CPUs (>= 1). */
unsigned sl_os_cpu_count(void);
/** This process's id. */
uint32_t sl_os_pid(void);
/** Host name into buf (NUL-terminated, truncated). @return its length. */
size_t sl_os_hostname(char *buf, size_t cap);
/** 1 if fd 1 (is_stdout) or 2 is a terminal. */
int sl_os_isatty(int is_stdout);
/** Columns of the terminal on stderr: $COLUMNS when set to a number, else
 *  the terminal's (TIOCGWINSZ / the console buffer); 0 when unknown. */
unsigned sl_os_term_columns(void);

/* ---- pipe names -------------------------------------------------------- */

/**
 * Maps a pipe NAME to the OS endpoint. POSIX: $TMPDIR/CoreFxPipe_NAME
 * (TMPDIR defaults to /tmp), or NAME itself when it contains '/'.
 * Windows: \\.\pipe\NAME, or NAME itself when it starts with "\\".
 * @param out      Receives the NUL-terminated path (UTF-8).
 * @param out_len  Receives its length without the NUL (may be NULL).
 * @return 0, SL_EINVAL (empty name, NUL inside), SL_ENAMETOOLONG (does not
 *         fit cap, or a Unix socket path over SL_OS_PIPE_PATH_MAX bytes:
 *         then out and *out_len hold the path all the same, for the
 *         message).
 */
#define SL_OS_PIPE_PATH_MAX 107u /* POSIX: sun_path minus its NUL */
int sl_os_pipe_path(const char *name, size_t name_len, char *out, size_t cap,
                    size_t *out_len);

/**
 * 1 if a collector's endpoint exists at path (from sl_os_pipe_path()),
 * without connecting to it: POSIX checks for a socket file, Windows waits
 * briefly for a pipe instance.
 */
int sl_os_pipe_ready(const char *path);

/**
 * Calls fn(ctx, name, path) for every endpoint that could be a collector's
 * pipe: POSIX: the sockets named CoreFxPipe_* in $TMPDIR (or /tmp);
 * Windows: every pipe in \\.\pipe\. Nothing is connected to.
 * @return 0, or an error opening the directory.
 */
int sl_os_list_pipes(void (*fn)(void *ctx, const char *name,
                                const char *path),
                     void *ctx);

/**
 * Calls fn(ctx, name) for every entry of the directory dir (UTF-8; "."
 * and ".." left out), in no particular order: rotation looks for chunks
 * of an earlier set there. @return 0, or an error opening the directory.
 */
int sl_os_list_dir(const char *dir, void (*fn)(void *ctx, const char *name),
                   void *ctx);

/**
 * Connects to the endpoint at path, reads the server's greeting (up to
 * its NUL, at most cap - 1 bytes) and disconnects without sending a byte,
 * so a sluice collector does not count the probe as a producer. Both the
 * connect and the read are bounded by timeout_ms (a socket that never
 * accepts, its backlog full, gives SL_ETIMEDOUT).
 * @param buf  Receives the NUL-terminated greeting.
 * @return 0; SL_ETIMEDOUT (no NUL-terminated greeting within timeout_ms);
 *         SL_ENOENT / SL_EBUSY / SL_EACCES from connecting; SL_EPROTO if
 *         the peer closed first or sent more than fits.
 */
int sl_os_probe_greeting(const char *path, char *buf, size_t cap,
                         uint32_t timeout_ms);

/* ---- files (the capture writer's output) ------------------------------ */

typedef struct sl_file sl_file;
typedef struct sl_iovec {
    const void *base;
    size_t len;
} sl_iovec;

/* sl_os_file_create() flags. */
#define SL_OS_FILE_FORCE 1 /* replace an existing file (1 = the old "force") */
#define SL_OS_FILE_GROUP 2 /* POSIX: mode 0640 (--group), else 0600 */

/**
 * Creates a capture file for writing: the only way capture files are made
 * (rotation and snapshots too), so every one gets the same protection.
 * POSIX: mode 0600 (0640 with SL_OS_FILE_GROUP), never through a symlink
 * (with SL_OS_FILE_FORCE a link at path is replaced by a new file, its
 * target untouched), an exclusive flock() held until close, and an
 * existing file truncated only once that lock is ours. /dev/null is
 * accepted as a sink (never locked or synced). Windows: no sharing for
 * writing, so a second writer is refused before it truncates anything.
 * A FIFO never blocks the open: it is refused like any non-regular file.
 * Without SL_OS_FILE_FORCE an existing file is refused with SL_EEXIST.
 * @return 0, SL_EEXIST, SL_EISDIR, SL_ENOTFILE (a socket, FIFO, device),
 *         SL_ELOCKED (another process writes it: sl_os_file_lock_holder()),
 *         SL_EACCES, SL_EROFS, SL_ENOENT, SL_ENOSPC, SL_EIO.
 */
int sl_os_file_create(const char *path, int flags, sl_file **out);

/** Closes f and, if sl_os_file_create() made the file (rather than
 *  opening one that was there), removes it: a start that fails later
 *  leaves nothing behind. NULL is a no-op. */
void sl_os_file_discard(sl_file *f);

/**
 * Removes the capture file at path (rotation's retention deleting an old
 * chunk; a link is removed itself, never its target). A file already gone
 * is success. @return 0, SL_EACCES, SL_EBUSY (Windows: still open), SL_EIO.
 */
int sl_os_file_remove(const char *path);

/** POSIX: fchown()s f to group gid (the owner unchanged); /dev/null is
 *  left alone. @return 0, SL_EACCES, SL_ENOSYS (Windows). */
int sl_os_file_set_group(sl_file *f, uint32_t gid);

/** The process id holding the capture lock on path, 0 when unknown. */
uint32_t sl_os_file_lock_holder(const char *path);

/**
 * Whether a writer (a collector) has path open through
 * sl_os_file_create(): 1 live, 0 none (also when path does not exist),
 * -1 cannot tell (no locks on this file system). Any process.
 */
int sl_os_file_writer_alive(const char *path);
/**
 * Writes all the bytes of iov[0..n) in order, retrying short writes.
 * @return 0, SL_ENOSPC, SL_EFBIG (file size limit), SL_EIO.
 */
int sl_os_file_writev(sl_file *f, const sl_iovec *iov, size_t n);
/** Flushes data to stable storage (fdatasync / FlushFileBuffers). */
int sl_os_file_sync(sl_file *f);
/**
 * Starts writing the bytes [off, off + len) that are already written to
 * storage, without waiting for it (Linux: sync_file_range() with
 * SYNC_FILE_RANGE_WRITE). A hint that never fails: a no-op where the
 * platform has no such call.
 */
void sl_os_file_writeback(sl_file *f, uint64_t off, uint64_t len);
/** Closes. NULL is a no-op. @return 0 or the close error. */
int sl_os_file_close(sl_file *f);

/** The directory of the running executable (no trailing separator). */
int sl_os_exe_dir(char *buf, size_t cap);

/**
 * Puts stdout in binary mode, so "\n" is written as one byte (Windows:
 * _setmode(_O_BINARY); POSIX: nothing to do). Call before writing.
 */
void sl_os_stdout_binary(void);

/**
 * Opens a file for binary reading with stdio; path is UTF-8 (Windows:
 * _wfopen, since fopen takes the ANSI code page there).
 * @return 0, SL_ENOENT, SL_EACCES, SL_EISDIR, SL_ENOMEM, SL_EIO.
 */
int sl_os_fopen_read(const char *path, FILE **out);

/**
 * Opens a regular file for binary reading with stdio, never blocking in
 * the open: a FIFO, device or socket is refused, not waited on (POSIX:
 * opened with O_NONBLOCK, then checked with fstat()). For small input
 * files such as sluice-collector --config-file.
 * @return 0, SL_ENOENT, SL_EACCES, SL_EISDIR (a directory), SL_ENOTFILE
 *         (not a regular file), SL_ENOMEM, SL_EIO.
 */
int sl_os_fopen_regular(const char *path, FILE **out);

/* ---- stop requests ------------------------------------------------------ */

/**
 * Installs the stop handlers: SIGINT/SIGTERM/SIGHUP (and SIGPIPE ignored) on
 * POSIX; Ctrl-C, Ctrl-Break and console close on Windows. Idempotent.
 */
int sl_os_stop_install(void);
/**
 * Waits up to timeout_ns (SL_OS_FOREVER: no limit) for a stop request.
 * @return 1 if requested.
 */
int sl_os_stop_wait(uint64_t timeout_ns);
/**
 * Requests a stop from inside the process (any thread, also a signal
 * handler): what the collector's engine events (--exit-after reached, a
 * write error) use to wake the main thread's sl_os_stop_wait().
 */
void sl_os_stop_request(void);

/**
 * The flight recorder's signal trigger: POSIX installs a SIGUSR1 handler
 * that wakes sl_os_stop_wait() (returning 0: not a stop) and marks a
 * trigger, which sl_os_trigger_take() then returns once. Call after
 * sl_os_stop_install(). Windows has no SIGUSR1: SL_ENOSYS (sluice-ctl
 * snapshot is the trigger there).
 */
int sl_os_trigger_install(void);
/** @return 1 (and clears it) if a trigger signal came since the last
 *  call, else 0. */
int sl_os_trigger_take(void);

/* ---- process limits and identity (collector start) --------------------- */

/**
 * Raises this process's soft limit on open files (RLIMIT_NOFILE) to its
 * hard limit, so the collector can hold as many connections as the
 * administrator allows without a wrapper script. Windows has no such
 * per-process limit: *now is UINT64_MAX.
 * @param now  Receives the soft limit in force afterwards (UINT64_MAX when
 *             unlimited), also when raising failed.
 * @return 0, or the setrlimit error (the old limit stays).
 */
int sl_os_raise_fd_limit(uint64_t *now);

/**
 * The effective user id of this process.
 * @return 0, or SL_ENOSYS where users have no numeric ids (Windows).
 */
int sl_os_user_id(uint32_t *out);

/**
 * Looks up a group by name, or by number when name is all digits.
 * @return 0; SL_ENOENT (no such group); SL_ENOSYS (Windows).
 */
int sl_os_group_id(const char *name, uint32_t *out);

/* ---- error translation (platform boundary only) ----------------------- */

#ifdef _WIN32
int sl_err_from_win32(unsigned long err);
#else
int sl_err_from_errno(int err);
#endif

#endif
