/* libs/sigv4 -- AWS Signature Version 4 for the DynamoDB HTTP endpoint: a credential store
 * (access key id -> secret [+ session token]) and dyn_sigv4_verify(), which checks one request's
 * Authorization header (or presigned query) and answers with DynamoDB's own error types and
 * messages. dyn_sigv4_sign() is the client side, for tests and tools. OpenSSL only in here. */
#ifndef DYN_LIBS_SIGV4_SIGV4_H
#define DYN_LIBS_SIGV4_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"

#define DYN_SIGV4_SKEW 900   /* seconds a request's date may be off the server clock, each way */

/* Access key id -> secret (+ optional session token), plus a bounded cache of derived signing
 * keys. Fill it (load/add) before sharing it; after that verify may be called from any number of
 * threads at once (lookups are read-only, the key cache has its own locks). */
typedef struct dyn_sigv4_creds dyn_sigv4_creds;

/* An empty store: owned, free with dyn_sigv4_creds_free(). */
dyn_sigv4_creds *dyn_sigv4_creds_new(void);

/* Adds (or replaces) one key; the strings are copied. token may be NULL or "". DYN_EVALIDATION
 * if akid or secret is empty or holds whitespace. Not thread-safe: only before sharing. */
dyn_err dyn_sigv4_creds_add(dyn_sigv4_creds *c, const char *akid, const char *secret,
                            const char *token);

/* Builds a store from the file at path (if not NULL), then the environment (if use_env:
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; a later source replaces an
 * earlier one's key of the same id). The file is either lines "ACCESS_KEY_ID SECRET
 * [SESSION_TOKEN]" or the AWS shared-credentials INI format ([profile] sections with
 * aws_access_key_id / aws_secret_access_key / aws_session_token; every complete profile is
 * loaded). '#' and ';' start comment lines. On DYN_OK *out is owned (dyn_sigv4_creds_free).
 * Errors: the open() errno as dyn_err_from_errno (DYN_ENOTFOUND: no such file), DYN_EVALIDATION
 * for a malformed line, DYN_ENOTFOUND when no source yielded a single key. */
dyn_err dyn_sigv4_creds_load(const char *path, bool use_env, dyn_sigv4_creds **out);

/* The file part of dyn_sigv4_creds_load, into an existing store; on DYN_EVALIDATION *line_out
 * (if not NULL) is the 1-based bad line. Not thread-safe: only before sharing. */
dyn_err dyn_sigv4_creds_load_file(dyn_sigv4_creds *c, const char *path, int *line_out);
size_t dyn_sigv4_creds_count(const dyn_sigv4_creds *c);
/* Signing-key cache counters since creation (for metrics and tests). */
void dyn_sigv4_creds_cache_stats(dyn_sigv4_creds *c, uint64_t *hits, uint64_t *misses);
void dyn_sigv4_creds_free(dyn_sigv4_creds *c);

typedef struct dyn_sigv4_header {
    const char *name;   /* borrowed, any case, not NUL-terminated */
    size_t name_len;
    const char *value;  /* borrowed, raw (untrimmed) */
    size_t value_len;
} dyn_sigv4_header;

/* One HTTP request as received; everything borrowed for the duration of the call. */
typedef struct dyn_sigv4_request {
    const char *method;              /* "POST" */
    const char *path;                /* raw request-target path, e.g. "/" (NULL/"" = "/") */
    const char *query;               /* raw query after '?', "" or NULL when none */
    const dyn_sigv4_header *headers; /* as received; repeated names allowed */
    size_t nheaders;
    const void *body;
    size_t body_len;
    int64_t now;                     /* server clock, unix seconds */
    const char *service;             /* credential scope service; NULL = "dynamodb" */
    const char *region;              /* required scope region; NULL = any well-formed one */
} dyn_sigv4_request;

/* Verifies r's signature against the keys in c. DYN_OK: *access_key (arena a) is the signer's
 * access key id. Otherwise the DynamoDB error and *msg (arena a, or static) its message:
 *   DYN_ENOAUTH        no Authorization header (or not AWS4-*) and no X-Amz-Algorithm query param
 *   DYN_EINCOMPLETESIG missing Credential/Signature/SignedHeaders/date, malformed pieces,
 *                      bad date format, unsupported algorithm, Credential not 5 elements
 *   DYN_EBADSIG        date outside DYN_SIGV4_SKEW, Host not signed, wrong credential scope,
 *                      X-Amz-Content-Sha256 not the body's hash, signature mismatch
 *   DYN_EUNRECOGNIZED  unknown access key; session token missing/wrong for a key that has one
 *   DYN_ENOMEM         arena a is full
 * Thread-safe for one c shared across threads (each thread its own arena). */
dyn_err dyn_sigv4_verify(dyn_sigv4_creds *c, const dyn_sigv4_request *r, dyn_arena *a,
                         const char **access_key, const char **msg);

/* The canonical request of r (AWS's step 1) for the given ';'-separated signed header names and
 * hex payload hash (NULL = SHA-256 of r->body). presigned drops X-Amz-Signature from the query.
 * Arena string, NULL if a is full. For tests and for debugging a client's signer. */
char *dyn_sigv4_canonical_request(const dyn_sigv4_request *r, const char *signed_headers,
                                  const char *payload_hash, bool presigned, dyn_arena *a);

/* Client side: the Authorization header value for r, which must already carry Host and
 * X-Amz-Date (amz_date, "YYYYMMDDTHHMMSSZ") headers and X-Amz-Security-Token if one is used.
 * signed_headers: ';'-separated lowercase names, or NULL for every header of r. region/service
 * form the scope. On DYN_OK *authorization is in arena a; DYN_EVALIDATION on a bad amz_date,
 * DYN_ENOMEM if a is full. */
dyn_err dyn_sigv4_sign(const dyn_sigv4_request *r, const char *akid, const char *secret,
                       const char *region, const char *service, const char *amz_date,
                       const char *signed_headers, dyn_arena *a, const char **authorization);
#endif /* DYN_LIBS_SIGV4_SIGV4_H */
