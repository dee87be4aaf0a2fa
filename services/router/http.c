/* services/router -- the DynamoDB-compatible HTTP endpoint: libmicrohttpd on its own polling
 * threads, one libs/rpc local call per request (the gRPC handlers, run in place), the connection
 * suspended while a deferred handler works and resumed from its completion. */
#include "services/router/http.h"

#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <zlib.h>

#include "libs/arena/arena.h"
#include "libs/ddbjson/ddbjson.h"
#include "libs/log/log.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"

#define DEFAULT_THREADS 2
#define DEFAULT_MAX_BODY ((size_t)16 << 20)   /* DynamoDB's request cap */
#define CONN_MEMORY ((size_t)16 << 10)        /* per connection; MHD zeroes it per request */
#define CONN_TIMEOUT_S 300                    /* idle keep-alive connections */
#define GZIP_MIN 1024                         /* smaller replies go out as they are */
#define BODY_CHUNK ((size_t)64 << 10)         /* first buffer for a body of unknown length */
#define POLL_MS 5
#define REQID_LEN 52                          /* DynamoDB's request ids: 52 of [A-Z0-9] */
#define URI_INLINE 64

#define PFX_DYNAMODB "com.amazonaws.dynamodb.v20120810#"
#define PFX_SERVICE "com.amazon.coral.service#"
#define PFX_VALIDATE "com.amazon.coral.validate#"
#define PFX_AVAILABILITY "com.amazon.coral.availability#"
#define CT_AMZ "application/x-amz-json-1.0"
#define CT_JSON "application/json"
#define UNKNOWN_OP_XML "<UnknownOperationException/>\n"

struct router_http {
    dyn_rpc_server *srv;            /* borrowed */
    struct MHD_Daemon *d;
    MHD_socket quiesced_fd;         /* the listen socket after MHD_quiesce_daemon; closed last */
    dyn_sigv4_creds *creds;         /* borrowed; NULL: dev auth */
    dyn_sigv4_creds *dev_creds;     /* owned, empty: dev auth still parses signatures */
    size_t max_body;
    char *health;                   /* owned: the GET / answer */
    size_t health_len;
    unsigned long health_crc;
    atomic_int active;              /* requests between their first line and completion */
    atomic_int parked;              /* requests whose handler runs, until answered */
    atomic_bool draining;           /* answers close their connection */
    atomic_bool closing;            /* new requests get ServiceUnavailable */
    atomic_ulong served;
};

typedef enum { ST_IDLE = 0, ST_RUNNING, ST_PARKED, ST_DONE } req_state;

/* One HTTP request, from its request line (uri_log) to MHD's completion callback. */
typedef struct http_req {
    router_http *h;
    struct MHD_Connection *conn;
    char uri_inline[URI_INLINE];
    char *uri;                      /* raw request target with the query: uri_inline or owned */
    dyn_rpc_call *call;             /* owned: dyn_rpc_local_free */
    const ProtobufCMessageDescriptor *input;
    ProtobufCMessage *in;           /* the decoded request, in the call's arena */
    dyn_err err;                    /* decided before the handler (DYN_OK: none) */
    const char *errmsg;             /* static or arena/own; NULL: no message member */
    bool started, not_post, bad_ctype, json_ctype, gzip_ok, prepared, counted;
    size_t expect;                  /* Content-Length; SIZE_MAX when chunked */
    size_t len;                     /* body bytes received */
    char *buf;                      /* owned: the body when it came in pieces */
    size_t cap;
    atomic_int state;               /* req_state */
    /* the answer, complete before state becomes ST_DONE */
    int status;
    const char *out;                /* arena, own or static */
    size_t out_len;
    bool gzipped;
    unsigned long crc;
    char *own;                      /* owned: an answer built without a call arena */
    char reqid[REQID_LEN + 1];
} http_req;

/* ---- small helpers ---------------------------------------------------------------------- */

static _Thread_local uint64_t t_rng;

static uint64_t
rng_next(void)
{
    if (t_rng == 0) {
        if (getrandom(&t_rng, sizeof t_rng, 0) != (ssize_t)sizeof t_rng)
            t_rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&t_rng;
        t_rng |= 1;
    }
    t_rng ^= t_rng >> 12;   /* xorshift64* */
    t_rng ^= t_rng << 25;
    t_rng ^= t_rng >> 27;
    return t_rng * 0x2545F4914F6CDD1DULL;
}

static void
request_id(char out[REQID_LEN + 1])
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t x = 0;

    for (int i = 0; i < REQID_LEN; i++) {
        if (i % 12 == 0)   /* 36^12 < 2^63: twelve letters per draw */
            x = rng_next() >> 1;
        out[i] = alpha[x % 36];
        x /= 36;
    }
    out[REQID_LEN] = '\0';
}

/* Memory for an answer: the call's arena when there is one, else one owned block. */
static void *
req_alloc(http_req *r, size_t n)
{
    if (r->call != NULL)
        return dyn_arena_alloc(dyn_rpc_call_arena(r->call), n);
    free(r->own);
    r->own = malloc(n);
    return r->own;
}

/* DynamoDB's namespace for an error type: the coral service's own errors (protocol, auth) and
 * validation keep theirs, as DynamoDB and the SDKs' fixtures show them. */
static const char *
type_prefix(dyn_err rc)
{
    switch (rc) {
    case DYN_EVALIDATION: return PFX_VALIDATE;
    case DYN_ESERIALIZATION:
    case DYN_EUNKNOWNOP:
    case DYN_EUNIMPLEMENTED:
    case DYN_EACCESS:
    case DYN_ENOAUTH:
    case DYN_EUNRECOGNIZED:
    case DYN_EBADSIG:
    case DYN_EINCOMPLETESIG: return PFX_SERVICE;
    case DYN_ETHROTTLED: return PFX_AVAILABILITY;
    default: return PFX_DYNAMODB;
    }
}

/* Bytes s needs as the inside of a JSON string. */
static size_t
json_escaped_len(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += *p == '"' || *p == '\\' || *p == '\n' || *p == '\r' || *p == '\t' ? 2
             : *p < 0x20                                                     ? 6
                                                                             : 1;
    return n;
}

static char *
json_escape(char *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        default:
            if (*p < 0x20) {
                memcpy(o, "\\u00", 4);
                o[4] = hex[*p >> 4];
                o[5] = hex[*p & 15];
                o += 6;
            } else {
                *o++ = (char)*p;
            }
        }
    }
    return o;
}

/* r's answer becomes DynamoDB's error body for rc: {"__type":"<ns>#<Type>","message":"..."}. */
static void
set_error(http_req *r, dyn_err rc, const char *msg)
{
    const char *pfx = type_prefix(rc), *type = dyn_err_type(rc);
    size_t n = 12 + strlen(pfx) + strlen(type) + 2 + (msg != NULL ? 13 + json_escaped_len(msg) : 0);
    char *b = req_alloc(r, n + 1), *o = b;

    r->status = dyn_err_http(rc);
    if (b == NULL) {   /* the arena is full: the bare type still tells the client what happened */
        r->out = "{\"__type\":\"" PFX_DYNAMODB "InternalServerError\"}";
        r->out_len = strlen(r->out);
        r->status = 500;
        return;
    }
    o += sprintf(o, "{\"__type\":\"%s%s\"", pfx, type);
    if (msg != NULL) {
        memcpy(o, ",\"message\":\"", 12);
        o = json_escape(o + 12, msg);
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    r->out = b;
    r->out_len = (size_t)(o - b);
}

/* The members of the handler's error detail beyond type and message (the Item of a failed
 * condition, CancellationReasons, ThrottlingReasons) join the error body, as DynamoDB sends them:
 * {"__type":"...","message":"...","Item":{...}}. Without memory the bare error goes out. */
static void
add_error_detail(http_req *r)
{
    const ProtobufCMessage *m = r->call != NULL ? dyn_rpc_call_error_detail(r->call) : NULL;
    Dyne__V1__ErrorDetail d;
    char *json, *b;
    size_t len;

    if (m == NULL || m->descriptor != &dyne__v1__error_detail__descriptor || r->out_len < 2)
        return;
    d = *(const Dyne__V1__ErrorDetail *)m;
    d.type = d.message = NULL;   /* already __type and message */
    if (dyn_ddbjson_encode(&d.base, dyn_rpc_call_arena(r->call), &json, &len) != DYN_OK ||
        len <= 2 || (b = req_alloc(r, r->out_len + len)) == NULL)
        return;
    memcpy(b, r->out, r->out_len - 1);   /* without its closing brace */
    b[r->out_len - 1] = ',';
    memcpy(b + r->out_len, json + 1, len - 1);   /* the members and the closing brace */
    r->out_len += len - 1;
    b[r->out_len] = '\0';
    r->out = b;
}

/* gzip (RFC 1952) of r->out into the call's arena, when the client takes it and it pays off;
 * on any failure the plain body goes out. */
static void
maybe_gzip(http_req *r)
{
    z_stream z;
    uLong bound;
    unsigned char *dst;

    if (!r->gzip_ok || r->out_len < GZIP_MIN || r->call == NULL)
        return;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    bound = deflateBound(&z, (uLong)r->out_len);
    dst = dyn_arena_alloc(dyn_rpc_call_arena(r->call), bound);
    if (dst != NULL) {
        z.next_in = (Bytef *)r->out;
        z.avail_in = (uInt)r->out_len;
        z.next_out = dst;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
            r->out = (const char *)dst;
            r->out_len = z.total_out;
            r->gzipped = true;
        }
    }
    deflateEnd(&z);
}

/* Last touches of any answer: compression, then the checksum of the bytes as sent (DynamoDB's
 * x-amz-crc32 covers the compressed body). */
static void
finish_answer(http_req *r)
{
    maybe_gzip(r);
    r->crc = crc32(0L, (const Bytef *)r->out, (uInt)r->out_len);
}

/* ---- the local call's completion -------------------------------------------------------- */

/* Runs on whichever thread completes the handler: builds the answer, then either leaves it for
 * the MHD thread still inside dyn_rpc_local_run, or resumes the suspended connection. */
static void
on_done(void *arg, dyn_err rc, const ProtobufCMessage *resp, const char *errmsg)
{
    http_req *r = arg;
    int expect = ST_RUNNING;
    dyn_err e;
    char *json;
    size_t len;

    if (rc == DYN_OK && resp != NULL) {
        if ((e = dyn_ddbjson_encode(resp, dyn_rpc_call_arena(r->call), &json, &len)) == DYN_OK) {
            r->status = 200;
            r->out = json;
            r->out_len = len;
        } else {
            set_error(r, e, e == DYN_ENOMEM ? "The response is too large" : NULL);
        }
    } else if (rc == DYN_OK) {
        r->status = 200;
        r->out = "{}";
        r->out_len = 2;
    } else {
        set_error(r, rc, errmsg);
        add_error_detail(r);
    }
    finish_answer(r);
    if (atomic_compare_exchange_strong(&r->state, &expect, ST_DONE))
        return;   /* the MHD thread has not parked the connection: it answers */
    /* ST_PARKED: the connection is suspended; after the resume r belongs to the MHD thread */
    struct MHD_Connection *conn = r->conn;
    atomic_store(&r->state, ST_DONE);
    MHD_resume_connection(conn);
}

/* ---- answering -------------------------------------------------------------------------- */

static enum MHD_Result
queue(http_req *r, int status, const char *body, size_t len, const char *ctype, bool gzipped,
      unsigned long crc)
{
    struct MHD_Response *resp;
    enum MHD_Result ok;
    char crcs[16];

    /* the body lives in the call's arena (or r, or static) until the completion callback,
     * which comes after the last byte is written: no copy */
    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    snprintf(crcs, sizeof crcs, "%lu", crc);
    MHD_add_response_header(resp, "x-amzn-RequestId", r->reqid);
    MHD_add_response_header(resp, "x-amz-crc32", crcs);
    if (ctype != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (gzipped)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (atomic_load(&r->h->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ok = MHD_queue_response(r->conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    atomic_fetch_add(&r->h->served, 1);
    return ok;
}

static enum MHD_Result
answer(http_req *r)
{
    return queue(r, r->status, r->out, r->out_len, r->json_ctype ? CT_JSON : CT_AMZ, r->gzipped,
                 r->crc);
}

static enum MHD_Result
answer_error(http_req *r, dyn_err rc, const char *msg)
{
    set_error(r, rc, msg);
    r->gzipped = false;
    finish_answer(r);
    return answer(r);
}

/* ---- per-request steps ------------------------------------------------------------------ */

/* Header iterator: collects every request header for SigV4. */
typedef struct {
    dyn_sigv4_header *v;
    size_t n, cap;
} hdr_list;

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    hdr_list *l = cls;

    (void)kind;
    if (l->n < l->cap && key != NULL)
        l->v[l->n++] = (dyn_sigv4_header){ key, strlen(key), value != NULL ? value : "",
                                           value != NULL ? strlen(value) : 0 };
    return MHD_YES;
}

/* SigV4 over the headers and body as received. dev auth (no store) still refuses a signature it
 * cannot parse, so a client that signs badly finds out before production does. */
static dyn_err
authenticate(http_req *r, const char *body, size_t len, const char **msg)
{
    router_http *h = r->h;
    dyn_arena *a = dyn_rpc_call_arena(r->call);
    dyn_sigv4_request q;
    hdr_list l = { 0 };
    const char *akid, *qm;
    char *path;
    dyn_err rc;

    *msg = NULL;
    if (h->creds == NULL &&
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization") == NULL)
        return DYN_OK;
    l.cap = (size_t)MHD_get_connection_values(r->conn, MHD_HEADER_KIND, NULL, NULL);
    l.v = dyn_arena_alloc(a, (l.cap > 0 ? l.cap : 1) * sizeof *l.v);
    if (l.v == NULL)
        return DYN_ENOMEM;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &l);
    qm = strchr(r->uri, '?');
    path = qm != NULL ? dyn_arena_strndup(a, r->uri, (size_t)(qm - r->uri)) : r->uri;
    if (path == NULL)
        return DYN_ENOMEM;
    q = (dyn_sigv4_request){
        .method = "POST",
        .path = path,
        .query = qm != NULL ? qm + 1 : "",
        .headers = l.v,
        .nheaders = l.n,
        .body = body,
        .body_len = len,
        .now = (int64_t)time(NULL),
    };
    rc = dyn_sigv4_verify(h->creds != NULL ? h->creds : h->dev_creds, &q, a, &akid, msg);
    if (h->creds == NULL && rc != DYN_EINCOMPLETESIG && rc != DYN_ENOMEM) {
        *msg = NULL;
        return DYN_OK;
    }
    return rc;
}

/* Authenticates and decodes the complete body (MHD's buffer or ours; borrowed only for the
 * call). Any failure becomes r->err and the call is rejected, counted in the method's metrics. */
static void
prepare(http_req *r, const char *body, size_t len)
{
    const char *msg = NULL;
    dyn_err rc;

    r->prepared = true;
    if (r->err != DYN_OK || r->call == NULL)
        return;
    if ((rc = authenticate(r, body, len, &msg)) == DYN_OK)
        rc = dyn_ddbjson_decode(r->input, body, len, dyn_rpc_call_arena(r->call), &r->in, &msg);
    if (rc != DYN_OK) {
        r->err = rc;
        r->errmsg = msg;
        if (rc == DYN_ENOMEM)
            r->errmsg = "The request is too large";
        dyn_rpc_local_reject(r->call, rc);
    }
}

static bool
ctype_ok(const char *ct, bool *json)
{
    size_t n;

    *json = false;
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    n = strcspn(ct, "; \t");
    if (n == strlen(CT_AMZ) && strncasecmp(ct, CT_AMZ, n) == 0)
        return true;
    if (n == strlen(CT_JSON) && strncasecmp(ct, CT_JSON, n) == 0)
        return (*json = true);
    return false;
}

/* The first call, with the headers: answers GET / and oversized bodies at once, finds the
 * operation, and decides an error answer if there is one (sent once the body is read, so the
 * connection stays usable). */
static enum MHD_Result
begin(http_req *r, const char *method)
{
    router_http *h = r->h;
    const char *cl, *target, *dot, *svc;
    dyn_err rc;

    request_id(r->reqid);
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return queue(r, 200, h->health, h->health_len, "text/plain", false, h->health_crc);
    if (strcmp(method, "POST") != 0) {
        r->not_post = true;   /* DynamoDB answers other methods like a wrong content type */
        return MHD_YES;
    }
    r->expect = SIZE_MAX;
    if ((cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length")) != NULL) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl)
            r->expect = v > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)v;
    }
    if (r->expect != SIZE_MAX && r->expect > h->max_body) {   /* refused before any byte of it */
        r->crc = crc32(0L, Z_NULL, 0);
        return queue(r, MHD_HTTP_CONTENT_TOO_LARGE, "", 0, NULL, false, r->crc);
    }
    r->bad_ctype = !ctype_ok(
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type"), &r->json_ctype);
    const char *ae = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept-Encoding");
    r->gzip_ok = ae != NULL && strcasestr(ae, "gzip") != NULL;

    target = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Amz-Target");
    dot = target != NULL ? strchr(target, '.') : NULL;
    svc = NULL;
    if (dot != NULL && (size_t)(dot - target) == strlen("DynamoDB_20120810") &&
        strncmp(target, "DynamoDB_20120810", (size_t)(dot - target)) == 0)
        svc = "dyne.v1.DynamoDB";
    else if (dot != NULL && (size_t)(dot - target) == strlen("DynamoDBStreams_20120810") &&
             strncmp(target, "DynamoDBStreams_20120810", (size_t)(dot - target)) == 0)
        svc = "dyne.v1.DynamoDBStreams";
    if (svc == NULL) {
        r->err = DYN_EUNKNOWNOP;
        return MHD_YES;
    }
    rc = dyn_rpc_local_new(h->srv, svc, dot + 1, &r->call, &r->input);
    if (rc == DYN_EUNAVAIL) {
        r->err = DYN_EUNAVAIL;
        r->errmsg = "The server is shutting down";
    } else if (rc != DYN_OK) {
        r->err = DYN_EUNKNOWNOP;   /* DynamoDB's UnknownOperationException has no message */
    }
    return MHD_YES;
}

/* A piece of the body. A body that arrives whole in one piece (the usual case: it fits the
 * connection's buffer) is decoded straight from MHD's buffer; otherwise it is gathered first. */
static enum MHD_Result
body(http_req *r, const char *data, size_t n)
{
    router_http *h = r->h;

    if (r->len + n > h->max_body || r->len + n < r->len) {
        /* past the cap with no Content-Length to refuse it by: MHD cannot answer in the middle
         * of a body, so the connection goes */
        dyn_log(DYN_LOG_WARN, "ROUTER-DDB-BODY-TOO-LARGE", "req=%s bytes>%zu", r->reqid,
                h->max_body);
        return MHD_NO;
    }
    if (r->err != DYN_OK || r->not_post || r->bad_ctype || r->call == NULL || r->prepared) {
        r->len += n;   /* the answer is decided: count (a wrong type needs "non-empty"), drop */
        return MHD_YES;
    }
    if (r->len == 0 && n == r->expect) {
        r->len = n;
        prepare(r, data, n);
        return MHD_YES;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->expect != SIZE_MAX ? r->expect : r->cap > 0 ? r->cap : BODY_CHUNK;
        while (cap < r->len + n)
            cap = cap > h->max_body / 2 ? h->max_body : cap * 2;
        r->buf = dyn_xrealloc(r->buf, cap);
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return MHD_YES;
}

/* The body is complete (or the connection was just resumed): answer, or run the handler. */
static enum MHD_Result
finish(http_req *r)
{
    router_http *h = r->h;
    int expect = ST_RUNNING;

    switch (atomic_load(&r->state)) {
    case ST_DONE:   /* resumed: the handler's answer is ready */
        if (r->counted) {
            r->counted = false;
            atomic_fetch_sub(&h->parked, 1);
        }
        return answer(r);
    case ST_RUNNING:
    case ST_PARKED:
        return MHD_YES;   /* a spurious call while suspended; nothing to do yet */
    default: break;
    }
    if (r->not_post || (r->bad_ctype && r->len > 0)) {
        /* DynamoDB: a body of another content type, or a method other than POST */
        r->crc = crc32(0L, (const Bytef *)UNKNOWN_OP_XML, (uInt)strlen(UNKNOWN_OP_XML));
        if (r->call != NULL && !r->prepared) {
            r->prepared = true;
            dyn_rpc_local_reject(r->call, DYN_EUNKNOWNOP);
        }
        return queue(r, MHD_HTTP_NOT_FOUND, UNKNOWN_OP_XML, strlen(UNKNOWN_OP_XML), NULL, false,
                     r->crc);
    }
    if (!r->prepared) {
        prepare(r, r->buf, r->len);
        DYN_FREE(r->buf);   /* decoded into the arena: the raw body is not needed any more */
        r->cap = 0;
    }
    if (r->err != DYN_OK)
        return answer_error(r, r->err, r->errmsg);

    /* counted before `closing` is read: the drain sets it, then waits for `parked` to drop */
    atomic_fetch_add(&h->parked, 1);
    r->counted = true;
    if (atomic_load(&h->closing)) {
        atomic_fetch_sub(&h->parked, 1);
        r->counted = false;
        dyn_rpc_local_reject(r->call, DYN_EUNAVAIL);
        return answer_error(r, DYN_EUNAVAIL, "The server is shutting down");
    }
    atomic_store(&r->state, ST_RUNNING);
    dyn_rpc_local_run(r->call, r->in, on_done, r);
    if (atomic_load(&r->state) == ST_DONE) {   /* answered synchronously */
        atomic_fetch_sub(&h->parked, 1);
        r->counted = false;
        return answer(r);
    }
    /* Deferred. Suspend before publishing ST_PARKED: a resume that came first would be undone
     * by the suspend (MHD cancels a pending resume), and the request would hang. */
    MHD_suspend_connection(r->conn);
    if (!atomic_compare_exchange_strong(&r->state, &expect, ST_PARKED))
        MHD_resume_connection(r->conn);   /* finished meanwhile: come straight back */
    return MHD_YES;
}

/* ---- MHD callbacks ---------------------------------------------------------------------- */

/* The request line: the raw target (SigV4 signs it before MHD unescapes it) and a new context. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    router_http *h = cls;
    http_req *r = dyn_xcalloc(1, sizeof *r);
    size_t n = strlen(uri);

    r->h = h;
    r->conn = conn;
    r->uri = n < URI_INLINE ? r->uri_inline : dyn_xmalloc(n + 1);
    memcpy(r->uri, uri, n + 1);
    atomic_init(&r->state, ST_IDLE);
    atomic_fetch_add(&h->active, 1);
    return r;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    router_http *h = cls;
    http_req *r = *con_cls;

    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    *con_cls = NULL;
    if (r->counted)   /* never resumed: only when the daemon stops, after the drain */
        atomic_fetch_sub(&h->parked, 1);
    dyn_rpc_local_free(r->call);
    free(r->buf);
    free(r->own);
    if (r->uri != r->uri_inline)
        free(r->uri);
    free(r);
    atomic_fetch_sub(&h->active, 1);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    http_req *r = *con_cls;

    (void)cls;
    (void)url;
    (void)version;
    if (r == NULL)   /* every request passes on_uri first; refuse rather than guess */
        return MHD_NO;
    r->conn = conn;
    if (!r->started) {
        r->started = true;
        return begin(r, method);
    }
    if (*upload_data_size > 0) {
        enum MHD_Result ok = body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok;
    }
    return finish(r);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    dyn_log(DYN_LOG_WARN, "ROUTER-DDB-MHD", "msg=\"%s\"", msg);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

/* "host:port", "[v6]:port" or ":port" into a socket address. */
static dyn_err
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[256];
    const char *colon = strrchr(listen, ':'), *port;
    struct addrinfo hints, *res = NULL;
    size_t hl;
    int e;

    if (colon == NULL)
        return DYN_EVALIDATION;
    port = colon + 1;
    hl = (size_t)(colon - listen);
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl >= sizeof host || *port == '\0')
        return DYN_EVALIDATION;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((e = getaddrinfo(hl > 0 ? host : NULL, port, &hints, &res)) != 0 || res == NULL)
        return DYN_EVALIDATION;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return DYN_OK;
}

dyn_err
router_http_start(dyn_rpc_server *srv, const router_http_opts *o, router_http **out, int *port)
{
    router_http *h = dyn_xcalloc(1, sizeof *h);
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
                         (o->epoll ? MHD_USE_EPOLL : MHD_USE_POLL) | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    int threads = o->threads > 0 ? o->threads : DEFAULT_THREADS;
    dyn_err rc;

    *out = NULL;
    *port = 0;
    h->srv = srv;
    h->quiesced_fd = MHD_INVALID_SOCKET;
    h->creds = o->creds;
    h->max_body = o->max_body > 0 ? o->max_body : DEFAULT_MAX_BODY;
    atomic_init(&h->active, 0);
    atomic_init(&h->parked, 0);
    atomic_init(&h->draining, false);
    atomic_init(&h->closing, false);
    atomic_init(&h->served, 0);
    if (h->creds == NULL)
        h->dev_creds = dyn_sigv4_creds_new();
    h->health = dyn_xmalloc(strlen(o->region != NULL ? o->region : "local") + 64);
    h->health_len = (size_t)sprintf(h->health, "healthy: dynamodb.%s.amazonaws.com ",
                                    o->region != NULL ? o->region : "local");
    h->health_crc = crc32(0L, (const Bytef *)h->health, (uInt)h->health_len);
    if ((rc = parse_listen(o->listen, &ss, &sl)) != DYN_OK)
        goto out;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
        threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (unsigned int)threads,
        MHD_OPTION_END);
    if (h->d == NULL) {
        rc = DYN_EUNAVAIL;
        goto out;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info != NULL ? (int)info->port : 0;
    *out = h;
    h = NULL;
out:
    if (h != NULL) {
        dyn_sigv4_creds_free(h->dev_creds);
        free(h->health);
        free(h);
    }
    return rc;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

void
router_http_stop(router_http *h, int grace_ms)
{
    int waited = 0;

    if (h == NULL)
        return;
    atomic_store(&h->draining, true);
    h->quiesced_fd = MHD_quiesce_daemon(h->d);
    dyn_log(DYN_LOG_INFO, "ROUTER-DDB-DRAIN", "grace_ms=%d active=%d", grace_ms,
            atomic_load(&h->active));
    while (atomic_load(&h->active) > 0 && waited < grace_ms) {
        sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
    /* MHD must not stop with a suspended connection: from here nothing new runs, and every
     * running handler is waited for (the storage deadline bounds them) */
    atomic_store(&h->closing, true);
    for (waited = 0; atomic_load(&h->parked) > 0; waited += POLL_MS) {
        if (waited > 0 && waited % 5000 == 0)
            dyn_log(DYN_LOG_WARN, "ROUTER-DDB-DRAIN-STUCK", "running=%d",
                    atomic_load(&h->parked));
        sleep_ms(POLL_MS);
    }
    MHD_stop_daemon(h->d);
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        close(h->quiesced_fd);
    dyn_log(DYN_LOG_INFO, "ROUTER-DDB-STOPPED", "served=%lu", atomic_load(&h->served));
    dyn_sigv4_creds_free(h->dev_creds);
    free(h->health);
    free(h);
}
