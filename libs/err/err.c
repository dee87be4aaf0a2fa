/* libs/err -- the columns of err.def as lookup tables. */
#include "libs/err/err.h"

#include <errno.h>
#include <string.h>

static const struct {
    const char *name, *type;
    int http, grpc;
    bool retry;
} err_tab[] = {
#define DYN_ERR_DEF(name, type, http, grpc, retry) { #name, type, http, grpc, retry },
#include "libs/err/err.def"
#undef DYN_ERR_DEF
};

static bool
err_valid(dyn_err e)
{
    return (unsigned)e < DYN_ERR__COUNT;
}

const char *
dyn_err_name(dyn_err e)
{
    return err_valid(e) ? err_tab[e].name : "?";
}

const char *
dyn_err_type(dyn_err e)
{
    if (!err_valid(e) || err_tab[e].type[0] == '\0')
        return "InternalServerError";
    return err_tab[e].type;
}

int
dyn_err_http(dyn_err e)
{
    return err_valid(e) ? err_tab[e].http : 500;
}

int
dyn_err_grpc(dyn_err e)
{
    return err_valid(e) ? err_tab[e].grpc : 13;
}

bool
dyn_err_retryable(dyn_err e)
{
    return err_valid(e) && err_tab[e].retry;
}

dyn_err
dyn_err_from_type(const char *type)
{
    for (int i = 1; i < DYN_ERR__COUNT; i++)
        if (err_tab[i].type[0] != '\0' && strcmp(err_tab[i].type, type) == 0)
            return (dyn_err)i;
    return DYN_EINTERNAL;
}

bool
dyn_err_from_name(const char *name, size_t n, dyn_err *out)
{
    for (int i = 1; i < DYN_ERR__COUNT; i++) {
        const char *s = dyn_err_name((dyn_err)i);
        if (strlen(s) == n && memcmp(s, name, n) == 0) {
            *out = (dyn_err)i;
            return true;
        }
    }
    return false;
}

dyn_err
dyn_err_from_errno(int e)
{
    switch (e) {
    case 0:
        return DYN_OK;
    case ENOMEM:
        return DYN_ENOMEM;
    case ENOENT:
        return DYN_ENOTFOUND;
    case EEXIST:
        return DYN_EEXISTS;
    case ETIMEDOUT:
        return DYN_EDEADLINE;
    case EAGAIN:
    case ECONNREFUSED:
        return DYN_EUNAVAIL;
    default:
        return DYN_EINTERNAL;
    }
}
