/* bench/loadgen -- the HTTP/1.1 driver: client threads, each with its own epoll and keep-alive
 * connections, one request in flight on each (closed loop: the next one goes out as the reply
 * comes in; open loop: at its due time, on any idle connection). A request is a head prebuilt per
 * operation, a Content-Length line and the target's body, sent with one sendmsg; replies are
 * parsed in a buffer each connection keeps. Nothing is allocated per request in steady state. */
#include "bench/loadgen/loadgen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "libs/err/err.h"

#define CONN_ARENA_LIMIT ((size_t)64 << 20)
#define DRAIN_GRACE_NS 15000000000LL   /* after the window, wait this long for calls in flight */
#define SWEEP_NS 10000000LL            /* deadlines and reconnects are looked at this often */
#define RETRY_NS 100000000LL           /* a connect that failed is tried again after this */
#define CONNECT_NS 5000000000LL        /* a connect still pending after this has failed */
#define SETUP_WAIT_NS 30000000000LL    /* setup: how long the server may take to listen */
#define SETUP_TIMEOUT_S 30             /* setup: how long one reply may take */
#define RBUF_MIN 16384                 /* reply buffer: first size, and the least room to read */
#define HTTP_MAX_HEAD ((size_t)64 << 10)   /* status line and headers */
#define HTTP_MAX_BODY ((size_t)256 << 20)
#define CODE_DEADLINE_EXCEEDED 4       /* gRPC status codes, for lg_result.err_by_code */
#define CODE_INTERNAL 13
#define CODE_UNAVAILABLE 14

/* ---- responses ---- */

enum {
    P_STATUS = 0,
    P_HEADERS,
    P_BODY,         /* Content-Length bytes */
    P_BODY_EOF,     /* no length: the body ends when the connection does */
    P_CHUNK_SIZE,
    P_CHUNK_DATA,
    P_CHUNK_CRLF,
    P_TRAILERS,
    P_DONE,
};

void
lg_http_resp_init(lg_http_resp *r)
{
    memset(r, 0, sizeof *r);
}

/* The next line of buf[*pos, len) without its line end (CRLF, or a bare LF as RFC 9112 lets a
 * recipient accept); false until all of it is in. */
static bool
http_line(const uint8_t *buf, size_t len, size_t *pos, const char **line, size_t *n)
{
    const uint8_t *p = buf + *pos, *nl = memchr(p, '\n', len - *pos);

    if (nl == NULL)
        return false;
    *line = (const char *)p;
    *n = (size_t)(nl - p);
    if (*n > 0 && p[*n - 1] == '\r')
        (*n)--;
    *pos = (size_t)(nl - buf) + 1;
    return true;
}

static bool
name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Whether the comma-separated list v[0, n) holds token tok (any case). */
static bool
has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);

    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, tok, tl) != 0)
            continue;
        bool before = i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t' || v[i - 1] == ',';
        bool after = i + tl == n || v[i + tl] == ' ' || v[i + tl] == '\t' || v[i + tl] == ',' ||
                     v[i + tl] == ';';
        if (before && after)
            return true;
    }
    return false;
}

/* "HTTP/1.1 200 OK" */
static bool
http_status_line(lg_http_resp *r, const char *l, size_t n)
{
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
        l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
        (n > 12 && l[12] != ' '))
        return false;
    r->http10 = l[7] == '0';
    r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    return true;
}

static bool
http_header(lg_http_resp *r, const char *l, size_t n)
{
    const char *colon = memchr(l, ':', n), *v;
    size_t nl, vl;

    /* no whitespace before the colon, and no obsolete line folding */
    if (colon == NULL || colon == l || l[0] == ' ' || l[0] == '\t' || colon[-1] == ' ' ||
        colon[-1] == '\t')
        return false;
    nl = (size_t)(colon - l);
    v = colon + 1;
    vl = n - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (name_is(l, nl, "Content-Length")) {
        size_t x = 0;
        if (vl == 0)
            return false;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9' || x > HTTP_MAX_BODY)
                return false;
            x = x * 10 + (size_t)(v[i] - '0');
        }
        if (x > HTTP_MAX_BODY || (r->length_known && r->length != x))
            return false;
        r->length = x;
        r->length_known = true;
    } else if (name_is(l, nl, "Transfer-Encoding")) {
        /* only chunked (last) says where the body ends; nobody asked for another coding */
        if (vl < 7 || strncasecmp(v + vl - 7, "chunked", 7) != 0 ||
            (vl > 7 && v[vl - 8] != ' ' && v[vl - 8] != ',' && v[vl - 8] != '\t'))
            return false;
        r->chunked = true;
    } else if (name_is(l, nl, "Connection")) {
        r->close = r->close || has_token(v, vl, "close");
        r->keep_alive = r->keep_alive || has_token(v, vl, "keep-alive");
    }
    return true;
}

/* The empty line after the headers: where the body starts and how it ends. */
static void
http_head_done(lg_http_resp *r)
{
    if (r->status < 200) {   /* interim (100 Continue): the real response follows */
        size_t pos = r->pos;
        lg_http_resp_init(r);
        r->pos = pos;
        return;
    }
    if (r->http10 && !r->keep_alive)
        r->close = true;
    r->body_off = r->pos;
    r->body_len = 0;
    if (r->status == 204 || r->status == 304) {
        r->state = P_DONE;
    } else if (r->chunked) {   /* chunked wins over a Content-Length */
        r->length = 0;
        r->state = P_CHUNK_SIZE;
    } else if (r->length_known) {
        r->body_len = r->length;
        r->state = P_BODY;
    } else {
        r->close = true;
        r->state = P_BODY_EOF;
    }
}

/* "1a3f" or "1a3f;ext=1" into *size; false on anything else, or past the body limit. */
static bool
chunk_size(const char *l, size_t n, size_t *size)
{
    size_t i = 0, x = 0;

    for (; i < n; i++) {
        int d = l[i] >= '0' && l[i] <= '9'   ? l[i] - '0'
                : l[i] >= 'a' && l[i] <= 'f' ? l[i] - 'a' + 10
                : l[i] >= 'A' && l[i] <= 'F' ? l[i] - 'A' + 10
                                             : -1;
        if (d < 0)
            break;
        if (x > HTTP_MAX_BODY)
            return false;
        x = x * 16 + (size_t)d;
    }
    if (i == 0 || x > HTTP_MAX_BODY)
        return false;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    if (i < n && l[i] != ';')
        return false;
    *size = x;
    return true;
}

lg_http_rc
lg_http_resp_parse(lg_http_resp *r, uint8_t *buf, size_t len, bool eof)
{
    const char *l;
    size_t n, take;

    for (;;) {
        switch (r->state) {
        case P_STATUS:
        case P_HEADERS:
            if (!http_line(buf, len, &r->pos, &l, &n)) {
                if (len - r->body_off > HTTP_MAX_HEAD)
                    return LG_HTTP_BAD;
                goto more;
            }
            if (r->pos - r->body_off > HTTP_MAX_HEAD)
                return LG_HTTP_BAD;
            if (r->state == P_STATUS) {
                if (!http_status_line(r, l, n))
                    return LG_HTTP_BAD;
                r->state = P_HEADERS;
            } else if (n == 0) {
                http_head_done(r);
            } else if (!http_header(r, l, n)) {
                return LG_HTTP_BAD;
            }
            break;
        case P_BODY:
            if (len - r->body_off < r->length)
                goto more;
            r->pos = r->body_off + r->length;
            r->state = P_DONE;
            break;
        case P_BODY_EOF:
            if (len - r->body_off > HTTP_MAX_BODY)
                return LG_HTTP_BAD;
            if (!eof)
                return LG_HTTP_MORE;
            r->body_len = len - r->body_off;
            r->pos = len;
            r->state = P_DONE;
            break;
        case P_CHUNK_SIZE:
            if (!http_line(buf, len, &r->pos, &l, &n)) {
                if (len - r->pos > 1024)
                    return LG_HTTP_BAD;
                goto more;
            }
            if (!chunk_size(l, n, &r->length) || r->body_len + r->length > HTTP_MAX_BODY)
                return LG_HTTP_BAD;
            r->state = r->length == 0 ? P_TRAILERS : P_CHUNK_DATA;
            break;
        case P_CHUNK_DATA:
            /* moved down over the chunk framing, so the body ends up in one piece */
            take = len - r->pos < r->length ? len - r->pos : r->length;
            if (take == 0)
                goto more;
            if (r->body_off + r->body_len != r->pos)
                memmove(buf + r->body_off + r->body_len, buf + r->pos, take);
            r->body_len += take;
            r->pos += take;
            r->length -= take;
            if (r->length == 0)
                r->state = P_CHUNK_CRLF;
            break;
        case P_CHUNK_CRLF:
            if (!http_line(buf, len, &r->pos, &l, &n)) {
                if (len - r->pos > 1)
                    return LG_HTTP_BAD;
                goto more;
            }
            if (n != 0)
                return LG_HTTP_BAD;
            r->state = P_CHUNK_SIZE;
            break;
        case P_TRAILERS:
            if (!http_line(buf, len, &r->pos, &l, &n)) {
                if (len - r->pos > HTTP_MAX_HEAD)
                    return LG_HTTP_BAD;
                goto more;
            }
            if (n == 0)
                r->state = P_DONE;
            break;
        case P_DONE:
            return LG_HTTP_DONE;
        default:
            return LG_HTTP_BAD;
        }
    }
more:
    return eof ? LG_HTTP_BAD : LG_HTTP_MORE;
}

/* The gRPC code of a reply that is not a 200: its DynamoDB __type as libs/err maps it, else by
 * the HTTP status. */
static int
http_code(int status, const uint8_t *body, size_t n)
{
    const uint8_t *v;
    size_t vn;

    if (lg_json_find(body, n, "__type", &v, &vn) == 1 && vn >= 2 && v[0] == '"') {
        /* "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException" */
        const uint8_t *hash = memchr(v, '#', vn), *s = hash != NULL ? hash + 1 : v + 1;
        size_t sn = (size_t)(v + vn - 1 - s);
        char type[128];
        if (sn < sizeof type) {
            memcpy(type, s, sn);
            type[sn] = '\0';
            dyn_err e = dyn_err_from_type(type);
            if (e != DYN_EINTERNAL && dyn_err_grpc(e) > 0)
                return dyn_err_grpc(e);
        }
    }
    if (status >= 500)
        return status == 503 ? CODE_UNAVAILABLE : status == 504 ? CODE_DEADLINE_EXCEEDED
                                                                : CODE_INTERNAL;
    return status == 413 || status == 429 ? 8 /* RESOURCE_EXHAUSTED */ : 3 /* INVALID_ARGUMENT */;
}

/* ---- requests and sockets ---- */

/* The head of a request for X-Amz-Target target to host, up to Content-Length. The credentials
 * are today's dummy ones: well-formed SigV4, which Dyne's --auth=dev takes (it parses, and
 * refuses only what does not parse) and dynalite does not check. Owned (free). */
static char *
head_new(const char *host, const char *target, size_t *len)
{
    static const char fmt[] =
        "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.0\r\n"
        "X-Amz-Target: %s\r\nX-Amz-Date: %s\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=dev/%.8s/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00\r\n";
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    int n;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    n = snprintf(NULL, 0, fmt, host, target, stamp, stamp);
    char *h = dyn_xmalloc((size_t)n + 1);
    snprintf(h, (size_t)n + 1, fmt, host, target, stamp, stamp);
    *len = (size_t)n;
    return h;
}

/* "host:port" or "[v6]:port" into *sa; false with a message on stderr. */
static bool
resolve(const char *addr, struct sockaddr_storage *sa, socklen_t *salen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    const char *h = addr, *he, *port;
    char host[256];
    int rc;

    if (addr[0] == '[') {
        h = addr + 1;
        he = strchr(h, ']');
        port = he != NULL && he[1] == ':' ? he + 2 : NULL;
    } else {
        he = strrchr(addr, ':');
        port = he != NULL ? he + 1 : NULL;
    }
    if (port == NULL || *port == '\0' || (size_t)(he - h) >= sizeof host) {
        fprintf(stderr, "loadgen: --addr %s is not host:port\n", addr);
        return false;
    }
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    if ((rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai)) != 0) {
        fprintf(stderr, "loadgen: %s: %s\n", addr, gai_strerror(rc));
        return false;
    }
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    *salen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return true;
}

/* A TCP socket connected (or connecting, if nonblock) to sa, Nagle off: each request is one
 * small write that waits for its reply. 0 connected, 1 in progress, -1 failed (errno). */
static int
sock_connect(const struct sockaddr_storage *sa, socklen_t salen, bool nonblock, int *fdp)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    int one = 1, e;

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)sa, salen) == 0) {
        *fdp = fd;
        return 0;
    }
    if (nonblock && errno == EINPROGRESS) {
        *fdp = fd;
        return 1;
    }
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* Skips the first n bytes of the iovecs *v[0, *nv). */
static void
iov_skip(struct iovec **v, int *nv, size_t n)
{
    while (*nv > 0 && n >= (*v)->iov_len) {
        n -= (*v)->iov_len;
        (*v)++;
        (*nv)--;
    }
    if (*nv > 0) {
        (*v)->iov_base = (char *)(*v)->iov_base + n;
        (*v)->iov_len -= n;
    }
}

/* Room for at least RBUF_MIN / 4 more bytes after len in *buf (grown by doubling). */
static void
rbuf_room(uint8_t **buf, size_t *cap, size_t len)
{
    if (*cap - len >= RBUF_MIN / 4)
        return;
    *cap = *cap < RBUF_MIN ? RBUF_MIN : *cap * 2;
    *buf = dyn_xrealloc(*buf, *cap);
}

/* ---- the run ---- */

typedef struct hworker hworker;

typedef enum {
    CONN_DOWN = 0,     /* no socket; connects again at t (ns) */
    CONN_CONNECTING,   /* a non-blocking connect since t */
    CONN_IDLE,         /* on the free list */
    CONN_SENDING,      /* a request partly written (EPOLLOUT on) */
    CONN_WAITING,      /* a request written, its reply not (all) in */
} conn_state;

typedef struct hconn {   /* one keep-alive connection; its address is the epoll data */
    hworker *w;
    int fd;                  /* -1 while down */
    conn_state state;
    int free_at;             /* index in w->free while idle, else -1 */
    lg_op op;
    int64_t t0;              /* ns: when the call was due (open loop) or started */
    int64_t t;               /* ns: sending, waiting: when the call started (its deadline runs
                                from here); connecting: since when; down: when to try again */
    size_t sent, total;      /* request bytes written, in all */
    char clen[48];           /* "Content-Length: N\r\n\r\n" */
    size_t clen_len;
    lg_buf body;             /* the request body, from the target */
    uint8_t *rbuf;           /* owned: the reply so far */
    size_t rlen, rcap;
    lg_http_resp resp;
    dyn_arena a;             /* the target's scratch for this call */
} hconn;

typedef struct hshared {   /* what the workers share */
    const lg_run_opts *o;
    struct sockaddr_storage sa;
    socklen_t salen;
    char *head[LG_OP__COUNT];            /* owned: each op's request head, up to Content-Length */
    size_t head_len[LG_OP__COUNT];
    int64_t t_begin, t_measure, t_end;   /* ns, monotonic */
    _Atomic uint64_t load_next;          /* load: the next index to put */
    _Atomic uint64_t insert_next;        /* inserts: the next index past the preloaded ones */
    _Atomic uint64_t started;            /* calls started, against o->ops */
} hshared;

struct hworker {
    hshared *sh;
    int id;
    int ep, tfd;                         /* epoll; open loop: a timerfd for the next due call */
    hconn *conns;
    hconn **free;                        /* the idle connections, a stack */
    int nconns, nfree, inflight, nbroken;   /* nbroken: down or connecting */
    double rate;                         /* open loop: calls/s of this worker; 0 closed */
    uint64_t issued;                     /* open loop: calls started (or due and late) */
    uint64_t seq;
    int64_t next_sweep, armed;           /* ns; armed: the timerfd's expiry, 0 when not */
    lg_rng rng;
    lg_result res;
    pthread_t thread;
};

static void
epoll_set(hconn *c, int op, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };

    if (epoll_ctl(c->w->ep, op, c->fd, &ev) != 0) {
        fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(errno));
        abort();
    }
}

static void
conn_idle(hconn *c)
{
    hworker *w = c->w;

    c->state = CONN_IDLE;
    c->rlen = 0;
    c->free_at = w->nfree;
    w->free[w->nfree++] = c;
}

static void
conn_unfree(hconn *c)
{
    hworker *w = c->w;

    if (c->free_at < 0)
        return;
    hconn *last = w->free[--w->nfree];
    w->free[c->free_at] = last;
    last->free_at = c->free_at;
    c->free_at = -1;
}

static void
conn_connect(hconn *c)
{
    hworker *w = c->w;
    int r = sock_connect(&w->sh->sa, w->sh->salen, true, &c->fd);

    c->t = lg_now_ns();
    if (r < 0) {
        c->t += RETRY_NS;
        return;
    }
    c->state = CONN_CONNECTING;
    epoll_set(c, EPOLL_CTL_ADD, r == 0 ? EPOLLIN : EPOLLOUT);
    if (r == 0) {
        w->nbroken--;
        conn_idle(c);
    }
}

/* Drops c's socket and connects again: now, or after RETRY_NS when connecting failed. A call
 * it carried must have been accounted (call_done) already. */
static void
conn_reset(hconn *c, bool later)
{
    hworker *w = c->w;

    conn_unfree(c);
    if (c->fd >= 0)
        close(c->fd);   /* which takes it out of the epoll set too */
    c->fd = -1;
    if (c->state != CONN_DOWN && c->state != CONN_CONNECTING)
        w->nbroken++;
    c->state = CONN_DOWN;
    c->t = lg_now_ns() + (later ? RETRY_NS : 0);
    if (!later)
        conn_connect(c);
}

/* Accounts c's call: code 0 with the reply in c->resp, else the gRPC code of what went wrong
 * and why. What happens to the connection is the caller's. */
static void
call_done(hconn *c, int code, const char *why)
{
    hworker *w = c->w;
    hshared *sh = w->sh;
    lg_target *t = sh->o->target;
    int64_t now = lg_now_ns();
    bool counted = sh->o->load || sh->o->ops > 0 || (now >= sh->t_measure && now < sh->t_end);
    const uint8_t *body = code == 0 ? c->rbuf + c->resp.body_off : NULL;
    size_t blen = code == 0 ? c->resp.body_len : 0;
    lg_check chk = LG_CHECK_OK;

    if (code == 0 && c->resp.status != 200)
        code = http_code(c->resp.status, body, blen);
    else if (code == 0 && t->check != NULL && counted)
        chk = t->check(t, c->op, body, blen, &c->a);
    if (counted) {
        uint64_t ns = (uint64_t)(now - c->t0);
        w->res.ops++;
        if (code != 0 || chk == LG_CHECK_BAD) {
            w->res.errors++;
            w->res.err_by_code[(unsigned)code < 17 ? (unsigned)code : 2]++;
            if (w->res.errors <= 3 && why != NULL)
                fprintf(stderr, "loadgen: %s failed: %s\n", lg_op_name(c->op), why);
            else if (w->res.errors <= 3)
                fprintf(stderr, "loadgen: %s failed: HTTP %d %.*s\n", lg_op_name(c->op),
                        c->resp.status, (int)(blen < 400 ? blen : 400), (const char *)body);
        } else {
            if (chk == LG_CHECK_MISS)
                w->res.misses++;
            lg_hist_add(&w->res.all, ns);
            lg_hist_add(&w->res.op[c->op], ns);
        }
    }
    w->inflight--;
}

/* The call on c failed with its connection (reset, closed, no reply): count it, reconnect. */
static void
conn_lost(hconn *c, int code, const char *why)
{
    if (c->state == CONN_SENDING || c->state == CONN_WAITING)
        call_done(c, code, why);
    conn_reset(c, false);
}

/* Writes what is left of c's request; false on a socket error. */
static bool
conn_send(hconn *c)
{
    hshared *sh = c->w->sh;
    struct iovec iov[3] = {
        { .iov_base = sh->head[c->op], .iov_len = sh->head_len[c->op] },
        { .iov_base = c->clen, .iov_len = c->clen_len },
        { .iov_base = c->body.p, .iov_len = c->body.len },
    }, *v = iov;
    int nv = 3;
    ssize_t n;

    iov_skip(&v, &nv, c->sent);
    n = sendmsg(c->fd, &(struct msghdr){ .msg_iov = v, .msg_iovlen = (size_t)nv }, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return false;
    if (n > 0)
        c->sent += (size_t)n;
    conn_state want = c->sent == c->total ? CONN_WAITING : CONN_SENDING;
    if (want != c->state && (want == CONN_SENDING || c->state == CONN_SENDING))
        epoll_set(c, EPOLL_CTL_MOD, want == CONN_SENDING ? EPOLLIN | EPOLLOUT : EPOLLIN);
    c->state = want;
    return true;
}

/* Starts op on item k on idle connection c (off the free list already). */
static bool
conn_start(hconn *c, lg_op op, uint64_t k, uint64_t seq, int64_t t0)
{
    lg_target *t = c->w->sh->o->target;

    dyn_arena_reset(&c->a);
    if (t->request(t, op, k, seq, &c->a, &c->body) != 0)
        return false;
    c->op = op;
    c->clen_len = (size_t)snprintf(c->clen, sizeof c->clen, "Content-Length: %zu\r\n\r\n",
                                   c->body.len);
    c->sent = 0;
    c->total = c->w->sh->head_len[op] + c->clen_len + c->body.len;
    c->t = lg_now_ns();
    c->t0 = t0 ? t0 : c->t;
    lg_http_resp_init(&c->resp);
    c->state = CONN_WAITING;
    c->w->inflight++;
    if (!conn_send(c))
        conn_lost(c, CODE_UNAVAILABLE, "send failed (connection closed by the server?)");
    return true;
}

/* A whole reply is in: account it, keep the connection unless the server closes it. */
static void
conn_reply(hconn *c)
{
    /* bytes past the reply, or a request not all sent (the server answered early): start over */
    bool keep = !c->resp.close && c->resp.pos == c->rlen && c->state == CONN_WAITING;

    call_done(c, 0, NULL);
    if (keep)
        conn_idle(c);
    else
        conn_reset(c, false);
}

static void
conn_read(hconn *c)
{
    for (;;) {
        rbuf_room(&c->rbuf, &c->rcap, c->rlen);
        size_t room = c->rcap - c->rlen;
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            conn_lost(c, CODE_UNAVAILABLE, strerror(errno));
            return;
        }
        if (c->state == CONN_IDLE) {   /* the server closed it (keep-alive timeout), or garbage */
            conn_reset(c, false);
            return;
        }
        c->rlen += (size_t)n;
        lg_http_rc rc = lg_http_resp_parse(&c->resp, c->rbuf, c->rlen, n == 0);
        if (rc == LG_HTTP_DONE) {
            conn_reply(c);
            return;
        }
        if (rc == LG_HTTP_BAD) {
            conn_lost(c, n == 0 ? CODE_UNAVAILABLE : CODE_INTERNAL,
                      n == 0 ? "connection closed before the reply ended"
                             : "reply is not HTTP/1.1");
            return;
        }
        if ((size_t)n < room)   /* drained; level-triggered epoll says when there is more */
            return;
    }
}

static void
conn_event(hconn *c, uint32_t events)
{
    hworker *w = c->w;

    if (c->state == CONN_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 || err != 0) {
            conn_reset(c, true);
            return;
        }
        epoll_set(c, EPOLL_CTL_MOD, EPOLLIN);
        w->nbroken--;
        conn_idle(c);
        return;
    }
    if ((events & EPOLLOUT) && c->state == CONN_SENDING && !conn_send(c)) {
        conn_lost(c, CODE_UNAVAILABLE, "send failed");
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_read(c);
}

/* Deadlines of calls in flight, connects that hang, connections due to reconnect. */
static void
sweep(hworker *w, int64_t now)
{
    int64_t deadline = (int64_t)w->sh->o->deadline_ms * 1000000;

    for (int i = 0; i < w->nconns; i++) {
        hconn *c = &w->conns[i];
        switch (c->state) {
        case CONN_DOWN:
            if (now >= c->t)
                conn_connect(c);
            break;
        case CONN_CONNECTING:
            if (now - c->t > CONNECT_NS)
                conn_reset(c, true);
            break;
        case CONN_SENDING:
        case CONN_WAITING:
            if (deadline > 0 && now - c->t > deadline)
                conn_lost(c, CODE_DEADLINE_EXCEEDED, "deadline exceeded");
            break;
        default:
            break;
        }
    }
}

/* Picks the next operation and key (or the next preload index) and starts it on an idle
 * connection. false when there is nothing more to start (load finished). */
static bool
issue(hworker *w, int64_t t0)
{
    const lg_run_opts *o = w->sh->o;
    hconn *c;
    lg_op op;
    uint64_t k, seq = 0;

    if (o->ops > 0 && atomic_fetch_add(&w->sh->started, 1) >= o->ops)
        return false;
    if (o->load) {
        k = atomic_fetch_add(&w->sh->load_next, 1);
        if (k >= o->keys->items)
            return false;
        op = LG_OP_PUT;
    } else {
        op = lg_mix_pick(&o->mix, &w->rng);
        if (op == LG_OP_INSERT)
            k = o->keys->items + atomic_fetch_add(&w->sh->insert_next, 1);
        else
            k = lg_keys_pick(o->keys, &w->rng);
        seq = ++w->seq;
    }
    c = w->free[--w->nfree];
    c->free_at = -1;
    if (!conn_start(c, op, k, seq, t0)) {
        fprintf(stderr, "loadgen: cannot build a %s request\n", lg_op_name(op));
        abort();
    }
    return true;
}

static void
timer_arm(hworker *w, int64_t at)
{
    struct itimerspec its = { .it_value = { at / 1000000000, at % 1000000000 } };

    if (at == w->armed)
        return;
    if (at <= 0)
        its.it_value.tv_nsec = 1;   /* all zero would disarm it */
    (void)timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    w->armed = at;
}

static void *
worker_main(void *arg)
{
    hworker *w = arg;
    hshared *sh = w->sh;
    const lg_run_opts *o = sh->o;
    struct epoll_event evs[64];
    bool more = true;
    double gap_ns = w->rate > 0 ? 1e9 / w->rate : 0;
    int64_t drain_from = 0;

    for (;;) {
        int64_t now = lg_now_ns();
        bool window = o->load || o->ops > 0 ? more : now < sh->t_end;
        int wait_ms = 200;

        if (w->rate > 0 && window) {
            /* open loop: call i is due at t_begin + i * gap whatever happened before it; one that
             * finds no idle connection starts late but keeps its due time, so the wait is in its
             * latency (no coordinated omission) */
            uint64_t due = (uint64_t)((double)(now - sh->t_begin) / gap_ns) + 1;
            while (w->issued < due && w->nfree > 0) {
                int64_t t0 = sh->t_begin + (int64_t)((double)w->issued * gap_ns);
                if (t0 < now - 1000000 && now >= sh->t_measure)
                    w->res.late++;
                issue(w, t0);
                w->issued++;
            }
            if (w->nfree > 0)
                timer_arm(w, sh->t_begin + (int64_t)((double)w->issued * gap_ns));
        } else if (window) {   /* closed loop: every idle connection gets a call */
            while (more && w->nfree > 0)
                more = issue(w, 0);
        }
        if (!window && w->inflight == 0)
            break;
        if (!window && drain_from == 0)
            drain_from = now;
        if (!window && now > drain_from + DRAIN_GRACE_NS) {
            fprintf(stderr, "loadgen: %d calls still in flight after the drain grace\n",
                    w->inflight);
            break;
        }
        if (now >= w->next_sweep) {
            sweep(w, now);
            w->next_sweep = now + SWEEP_NS;
        }
        if ((w->inflight > 0 && o->deadline_ms > 0) || w->nbroken > 0)
            wait_ms = (int)(SWEEP_NS / 1000000);
        int n = epoll_wait(w->ep, evs, (int)(sizeof evs / sizeof evs[0]), wait_ms);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {   /* the timerfd */
                uint64_t ticks;
                (void)!read(w->tfd, &ticks, sizeof ticks);
                w->armed = 0;
                continue;
            }
            conn_event(evs[i].data.ptr, evs[i].events);
        }
    }
    return NULL;
}

static void
worker_init(hworker *w, hshared *sh, int id, int nconns)
{
    const lg_run_opts *o = sh->o;

    memset(w, 0, sizeof *w);
    w->sh = sh;
    w->id = id;
    w->tfd = -1;
    if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        fprintf(stderr, "loadgen: epoll_create1: %s\n", strerror(errno));
        abort();
    }
    w->nconns = nconns;
    w->conns = dyn_xcalloc((size_t)nconns, sizeof *w->conns);
    w->free = dyn_xcalloc((size_t)nconns, sizeof *w->free);
    for (int i = 0; i < nconns; i++) {
        hconn *c = &w->conns[i];
        c->w = w;
        c->fd = -1;
        c->free_at = -1;
        dyn_arena_init(&c->a, CONN_ARENA_LIMIT);
    }
    w->nbroken = nconns;
    lg_rng_seed(&w->rng, o->seed * 1000003u + (uint64_t)id);
    w->seq = (uint64_t)(id + 1) * 1000000000ull;
    lg_hist_init(&w->res.all);
    for (int i = 0; i < LG_OP__COUNT; i++)
        lg_hist_init(&w->res.op[i]);
}

/* Connects every connection of w (blocking), so the first calls do not measure connection
 * setup; false with a message if one cannot. */
static bool
worker_connect(hworker *w)
{
    for (int i = 0; i < w->nconns; i++) {
        hconn *c = &w->conns[i];
        if (sock_connect(&w->sh->sa, w->sh->salen, false, &c->fd) != 0) {
            fprintf(stderr, "loadgen: connect %s: %s\n", w->sh->o->addr, strerror(errno));
            return false;
        }
        (void)fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        epoll_set(c, EPOLL_CTL_ADD, EPOLLIN);
        w->nbroken--;
        conn_idle(c);
    }
    if (w->rate > 0) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        if ((w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
            epoll_ctl(w->ep, EPOLL_CTL_ADD, w->tfd, &ev) != 0) {
            fprintf(stderr, "loadgen: timerfd: %s\n", strerror(errno));
            return false;
        }
    }
    return true;
}

static void
worker_fini(hworker *w)
{
    for (int i = 0; i < w->nconns; i++) {
        hconn *c = &w->conns[i];
        if (c->fd >= 0)
            close(c->fd);
        free(c->rbuf);
        lg_buf_fini(&c->body);
        dyn_arena_fini(&c->a);
    }
    free(w->conns);
    free(w->free);
    if (w->tfd >= 0)
        close(w->tfd);
    close(w->ep);
}

int
lg_http_run(const lg_run_opts *o, lg_result *res)
{
    int nthreads = o->threads > 0 ? o->threads : 1;
    int conc = o->concurrency > 0 ? o->concurrency : 1;
    hshared sh = { .o = o };
    hworker *ws;
    int started = 0, rc = -1;

    if (conc < nthreads)
        nthreads = conc;
    memset(res, 0, sizeof *res);
    if (!resolve(o->addr, &sh.sa, &sh.salen))
        return -1;
    for (int op = 0; op < LG_OP__COUNT; op++)
        sh.head[op] = head_new(o->addr, o->target->method(o->target, (lg_op)op), &sh.head_len[op]);
    ws = dyn_xcalloc((size_t)nthreads, sizeof *ws);
    for (int i = 0; i < nthreads; i++) {
        worker_init(&ws[i], &sh, i, conc / nthreads + (i < conc % nthreads));
        ws[i].rate = o->rate > 0 ? o->rate / nthreads : 0;
    }
    for (int i = 0; i < nthreads; i++)
        if (!worker_connect(&ws[i]))
            goto out;
    sh.t_begin = lg_now_ns();
    sh.t_measure = sh.t_begin + (int64_t)(o->warmup_s * 1e9);
    sh.t_end = sh.t_measure + (int64_t)(o->duration_s * 1e9);
    for (; started < nthreads; started++) {
        if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
            fprintf(stderr, "loadgen: cannot start a thread\n");
            abort();
        }
    }
    lg_result_init(res);
    /* CPU over the measured window, as lg_grpc_run: the warm-up is left out, and so is the
     * drain after it */
    bool counted_run = o->load || o->ops > 0;   /* the window is the whole run */
    if (!counted_run)
        lg_sleep_until(sh.t_measure);
    lg_cpu_mark(o, res, -1.0);
    if (!counted_run)
        lg_sleep_until(sh.t_end);
    for (int i = 0; i < nthreads; i++) {
        pthread_join(ws[i].thread, NULL);
        if (counted_run && i == nthreads - 1)
            lg_cpu_mark(o, res, 1.0);
        lg_result_add(res, &ws[i].res);
    }
    if (!counted_run)
        lg_cpu_mark(o, res, 1.0);
    res->elapsed_s = counted_run ? (double)(lg_now_ns() - sh.t_begin) / 1e9 : o->duration_s;
    rc = 0;
out:
    for (int i = 0; i < nthreads; i++)
        worker_fini(&ws[i]);
    free(ws);
    for (int op = 0; op < LG_OP__COUNT; op++)
        free(sh.head[op]);
    return rc;
}

/* ---- blocking calls for setup ---- */

typedef struct setup_ctx {
    const char *addr;
    struct sockaddr_storage sa;
    socklen_t salen;
    int fd;            /* kept alive between calls; -1 when none */
    uint8_t *rbuf;     /* owned */
    size_t rcap;
    char msg[512];
} setup_ctx;

/* Connects sc->fd, waiting up to SETUP_WAIT_NS for the server to listen. */
static bool
setup_connect(setup_ctx *sc)
{
    int64_t end = lg_now_ns() + SETUP_WAIT_NS;
    struct timeval tv = { .tv_sec = SETUP_TIMEOUT_S };

    while (sock_connect(&sc->sa, sc->salen, false, &sc->fd) != 0) {
        if (lg_now_ns() > end) {
            snprintf(sc->msg, sizeof sc->msg, "connect %s: %s", sc->addr, strerror(errno));
            return false;
        }
        nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
    }
    (void)setsockopt(sc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(sc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

/* One request on sc->fd: 1 with the reply parsed into *r (its bytes in sc->rbuf), 0 when the
 * connection failed before a reply byte came (a kept-alive one the server had closed: worth one
 * retry on a new one), -1 otherwise; sc->msg says why. */
static int
setup_exchange(setup_ctx *sc, struct iovec *v, int nv, lg_http_resp *r)
{
    size_t rlen = 0;

    while (nv > 0) {
        ssize_t n = sendmsg(sc->fd, &(struct msghdr){ .msg_iov = v, .msg_iovlen = (size_t)nv },
                            MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(sc->msg, sizeof sc->msg, "send: %s", strerror(errno));
            return 0;
        }
        iov_skip(&v, &nv, (size_t)n);
    }
    lg_http_resp_init(r);
    for (;;) {
        rbuf_room(&sc->rbuf, &sc->rcap, rlen);
        ssize_t n = recv(sc->fd, sc->rbuf + rlen, sc->rcap - rlen, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            bool timeout = errno == EAGAIN || errno == EWOULDBLOCK;
            snprintf(sc->msg, sizeof sc->msg, "recv: %s",
                     timeout ? "no reply in time" : strerror(errno));
            return rlen == 0 && !timeout ? 0 : -1;
        }
        if (n == 0 && rlen == 0) {
            snprintf(sc->msg, sizeof sc->msg, "connection closed by the server");
            return 0;
        }
        rlen += (size_t)n;
        lg_http_rc rc = lg_http_resp_parse(r, sc->rbuf, rlen, n == 0);
        if (rc == LG_HTTP_DONE) {
            if (r->close || r->pos != rlen) {
                close(sc->fd);
                sc->fd = -1;
            }
            return 1;
        }
        if (rc == LG_HTTP_BAD) {
            snprintf(sc->msg, sizeof sc->msg, "reply is not HTTP/1.1: %.*s",
                     (int)(rlen < 200 ? rlen : 200), (const char *)sc->rbuf);
            return -1;
        }
    }
}

static int
setup_call(void *ctx, const char *method, const void *req, size_t len, lg_buf *resp,
           const char **errmsg)
{
    setup_ctx *sc = ctx;
    size_t hl;
    char *head = head_new(sc->addr, method, &hl), clen[48];
    size_t cl = (size_t)snprintf(clen, sizeof clen, "Content-Length: %zu\r\n\r\n", len);
    lg_http_resp r;
    int rc = -1, got = 0;

    *errmsg = sc->msg;
    resp->len = 0;
    for (int attempt = 0; attempt < 2 && got == 0; attempt++) {
        struct iovec iov[3] = { { .iov_base = head, .iov_len = hl },
                                { .iov_base = clen, .iov_len = cl },
                                { .iov_base = (void *)req, .iov_len = len } };
        bool fresh = sc->fd < 0;
        if (fresh && !setup_connect(sc))
            break;
        got = setup_exchange(sc, iov, 3, &r);
        if (got <= 0 && sc->fd >= 0) {
            close(sc->fd);
            sc->fd = -1;
        }
        if (got == 0 && fresh)
            break;
    }
    if (got == 1) {
        memcpy(lg_buf_reserve(resp, r.body_len + 1), sc->rbuf + r.body_off, r.body_len);
        resp->len = r.body_len;
        snprintf(sc->msg, sizeof sc->msg, "HTTP %d: %.*s", r.status,
                 (int)(r.body_len < 400 ? r.body_len : 400), (const char *)resp->p);
        rc = r.status == 200 ? 0 : r.status;
    }
    free(head);
    return rc;
}

int
lg_http_setup(const char *addr, lg_target *t)
{
    setup_ctx sc = { .addr = addr, .fd = -1 };
    int rc;

    if (!resolve(addr, &sc.sa, &sc.salen))
        return -1;
    rc = t->setup(t, setup_call, &sc);
    if (sc.fd >= 0)
        close(sc.fd);
    free(sc.rbuf);
    return rc;
}
