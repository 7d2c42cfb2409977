/*
 * Internal error codes: the same numbers as the public SLUICE_E* list in
 * include/sluice/common.h, spelled SL_E* inside the project. Core code
 * returns these; OS errors are translated once, at the platform boundary
 * (sl_err_from_errno() in os_posix.c, sl_err_from_win32() in os_win.c).
 */
#ifndef SL_ERR_H
#define SL_ERR_H

#include "sluice/common.h"

enum {
#define SL_ERR_ENUM_(name, value, msg) SL_##name = (value),
    SLUICE_ERRNO_MAP(SL_ERR_ENUM_)
#undef SL_ERR_ENUM_
};

/** Same as sluice_strerror(); core code calls this name. */
const char *sl_strerror(int err);

#endif
