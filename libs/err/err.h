/* libs/err -- Dyne's one error enum (from err.def) and its DynamoDB names, HTTP statuses and
 * retry flags. Depends on nothing; libs/rpc maps the gRPC column. */
#ifndef DYN_LIBS_ERR_ERR_H
#define DYN_LIBS_ERR_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
#define DYN_ERR_DEF(name, type, http, grpc, retry) DYN_##name,
#include "libs/err/err.def"
#undef DYN_ERR_DEF
    DYN_ERR__COUNT /* must stay last */
} dyn_err;

const char *dyn_err_name(dyn_err e);   /* "EVALIDATION"; "?" out of range */
const char *dyn_err_type(dyn_err e);   /* "ValidationException"; "InternalServerError" for internal */
int dyn_err_http(dyn_err e);           /* HTTP status the DynamoDB endpoint answers with */
int dyn_err_grpc(dyn_err e);           /* grpc_status_code value */
bool dyn_err_retryable(dyn_err e);
dyn_err dyn_err_from_type(const char *type);   /* inverse of dyn_err_type; EINTERNAL if unknown */
/* Inverse of dyn_err_name over the first n bytes of name ("EVALIDATION"): false if unknown. */
bool dyn_err_from_name(const char *name, size_t n, dyn_err *out);
dyn_err dyn_err_from_errno(int e);
#endif /* DYN_LIBS_ERR_ERR_H */
