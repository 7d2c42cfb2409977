/*
 * Error names and messages, generated from SLUICE_ERRNO_MAP so the enum, the
 * names and the texts can never drift apart. Compiled into the core and into
 * the producer library, so both export the same sluice_strerror().
 */
#include "err.h"

const char *
sluice_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define SL_ERR_MSG_(name, value, msg)                                         \
    case (value):                                                             \
        return msg;
        SLUICE_ERRNO_MAP(SL_ERR_MSG_)
#undef SL_ERR_MSG_
    default:
        return "unknown error";
    }
}

const char *
sluice_err_name(int err)
{
    switch (err) {
    case 0:
        return "0";
#define SL_ERR_NAME_(name, value, msg)                                        \
    case (value):                                                             \
        return "SLUICE_" #name;
        SLUICE_ERRNO_MAP(SL_ERR_NAME_)
#undef SL_ERR_NAME_
    default:
        return "SLUICE_E?";
    }
}

const char *
sl_strerror(int err)
{
    return sluice_strerror(err);
}
