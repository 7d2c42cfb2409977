/*
 * sluice: definitions shared by every public header — the export macro and
 * the error codes. Error codes are negative ints; 0 is success. The numbers
 * are sluice's own (not errno, not Win32) so they mean the same on every
 * platform and can be logged or compared across processes.
 */
#ifndef SLUICE_COMMON_H
#define SLUICE_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SLUICE_STATIC)
#define SLUICE_API
#elif defined(_WIN32)
#if defined(SLUICE_BUILDING)
#define SLUICE_API __declspec(dllexport)
#else
#define SLUICE_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

/*
 * One list generates the enum, the names and the messages (the libuv
 * UV_ERRNO_MAP idea). X(name, value, message).
 */
#define SLUICE_ERRNO_MAP(X)                                                   \
    X(EINVAL, -1, "invalid argument")                                         \
    X(ENOMEM, -2, "out of memory")                                            \
    X(EAGAIN, -3, "resource temporarily unavailable")                         \
    X(EPROTO, -4, "protocol error")                                           \
    X(ENOENT, -5, "no such file or pipe")                                     \
    X(EEXIST, -6, "already exists")                                           \
    X(EIO, -7, "input/output error")                                          \
    X(EPIPE, -8, "broken pipe")                                               \
    X(ECONNRESET, -9, "connection reset by peer")                             \
    X(ETOOBIG, -10, "frame or line too large")                                \
    X(ECORRUPT, -11, "corrupt data (bad checksum or structure)")              \
    X(ETRUNC, -12, "truncated input")                                         \
    X(EACCES, -13, "permission denied")                                       \
    X(EADDRINUSE, -14, "pipe name already in use by a live collector")        \
    X(ENOSYS, -15, "not supported on this system")                            \
    X(ECANCELED, -16, "operation canceled")                                   \
    X(ENOSPC, -17, "no space left on device")                                 \
    X(EFBIG, -18, "file too large")                                           \
    X(EBUSY, -19, "busy")                                                     \
    X(ETIMEDOUT, -20, "timed out")                                            \
    X(EVERSION, -21, "unsupported format or protocol version")                \
    X(ENAMETOOLONG, -22, "name too long")                                     \
    X(EMFILE, -23, "too many open files or connections")                      \
    X(ECLOSED, -24, "handle already closed")                                  \
    X(EUNTRUSTED, -25,                                                        \
      "the pipe is served by another user, not a trusted collector")          \
    X(ETOOMANY, -26, "the collector refused: too many producers")             \
    X(ENOTALLOWED, -27, "the collector refused: this user is not allowed")    \
    X(EREFUSED, -28, "the collector refused the connection")                  \
    X(EROFS, -30, "read-only file system")                                    \
    X(EISDIR, -31, "is a directory")                                          \
    X(ENOTFILE, -32, "not a regular file")                                    \
    X(ECONNREFUSED, -33, "connection refused: nothing is listening there")    \
    X(ELOCKED, -34, "locked by another process")                              \
    X(EUNKNOWN, -99, "unknown system error")

enum {
#define SLUICE_ERR_ENUM_(name, value, msg) SLUICE_##name = (value),
    SLUICE_ERRNO_MAP(SLUICE_ERR_ENUM_)
#undef SLUICE_ERR_ENUM_
};

/**
 * Returns a static, human-readable message for a sluice error code.
 * @param err  0 or a negative SLUICE_E* code. Unknown values give
 *             "unknown error".
 * @return     A NUL-terminated string; never NULL. Any thread.
 */
SLUICE_API const char *sluice_strerror(int err);

/**
 * Returns the symbolic name of an error code ("SLUICE_EPROTO"), or
 * "SLUICE_E?" for unknown values. Any thread.
 */
SLUICE_API const char *sluice_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
