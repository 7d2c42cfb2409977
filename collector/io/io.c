/*
 * The table of compiled-in I/O backends, in the order "auto" tries them:
 * io_uring before epoll on Linux (falling back when io_uring setup fails),
 * IOCP on Windows.
 */
#include "io.h"

#include <string.h>

const sl_io_backend *const sl_io_backends[] = {
#ifdef _WIN32
    &sl_io_iocp,
#else
#ifdef SL_HAVE_LIBURING
    &sl_io_uring,
#endif
    &sl_io_epoll,
#endif
    NULL,
};

const sl_io_backend *
sl_io_find(const char *name)
{
    for (size_t i = 0; sl_io_backends[i] != NULL; i++)
        if (strcmp(sl_io_backends[i]->name, name) == 0)
            return sl_io_backends[i];
    return NULL;
}
