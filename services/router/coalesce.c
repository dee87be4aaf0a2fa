/* services/router -- request coalescing on the router -> storage hop (DESIGN.md §3). Per storage
 * node, at most `inflight` internal calls run at once; a call made while that many are running
 * waits in the node's queue, and when one of the running calls ends, everything queued leaves
 * together in one Batch call (the storage node runs them as separate local calls). Under load
 * the hop's per-call cost -- most of a request's CPU -- is paid once per batch; with nothing in
 * flight a call goes out alone, at once, as before. Callers see exactly what
 * dyn_rpc_client_call_async_detail gives them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/log/log.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "services/router/router.h"

#define BATCH_MAX 256                      /* calls per Batch */
#define BATCH_MAX_BYTES ((size_t)4 << 20)  /* packed requests per Batch */
#define BATCH_ARENA_MAX ((size_t)1 << 30)  /* a Batch's request + reply (Range pages: 1 MB each) */

typedef struct pending {
    struct pending *next;
    struct node_q *q;
    const char *method;                    /* "Put": static */
    ProtobufCBinaryData req;               /* packed; owned */
    const ProtobufCMessageDescriptor *resp_desc, *err_desc;
    dyn_arena *a;
    dyn_rpc_done_fn done;
    void *arg;
    int64_t deadline_ms;                   /* monotonic ms: the call's own deadline */
} pending;

typedef struct node_q {
    struct node_q *next;
    dyn_rpc_client *client;                /* the key */
    router *r;
    pthread_mutex_t mu;
    int inflight;
    pending *head, **tail;
} node_q;

typedef struct batch_call {
    node_q *q;
    pending *calls;                        /* the batch, in order */
    size_t n;
    dyn_arena arena;                       /* request and response of the Batch call */
} batch_call;

#define DEADLINE_MARGIN_MS 50   /* the client's deadline, less the hop there and back */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static node_q *g_nodes;
static int g_inflight = 2;   /* router_coalesce_init */
static dyn_rpc_counter *g_retries;   /* stale routes retried */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms a storage call may take: the storage deadline, or the client's remaining time less the
 * margin when that is shorter (at least 1). */
static int
call_deadline(router *r, dyn_rpc_call *origin)
{
    int64_t d = router_storage_deadline(r);
    int64_t left = origin != NULL ? dyn_rpc_call_deadline_ms(origin) : INT64_MAX;

    if (left != INT64_MAX) {
        left -= DEADLINE_MARGIN_MS;
        if (left < d)
            d = left < 1 ? 1 : left;
    }
    return (int)d;
}

void
router_coalesce_init(int inflight)
{
    g_inflight = inflight > 0 ? inflight : 1;
    g_retries = dyn_rpc_counter_get("dyn_router_route_retries_total", "",
                                    "storage calls sent again after the partition map changed");
}

static node_q *
node_get(router *r, dyn_rpc_client *c)
{
    node_q *q;

    pthread_mutex_lock(&g_mu);
    for (q = g_nodes; q != NULL && q->client != c; q = q->next)
        ;
    if (q == NULL) {
        q = dyn_xcalloc(1, sizeof *q);
        q->client = c;
        q->r = r;
        pthread_mutex_init(&q->mu, NULL);
        q->tail = &q->head;
        q->next = g_nodes;
        g_nodes = q;
    }
    pthread_mutex_unlock(&g_mu);
    return q;
}

static void flush(node_q *q);

/* A call that went out alone ended: hand the answer over, then let the queue go. */
typedef struct single {
    node_q *q;
    dyn_rpc_done_fn done;
    void *arg;
} single;

static void
single_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    single s = *(single *)arg;

    free(arg);
    s.done(s.arg, rc, resp, errmsg);
    flush(s.q);
}

/* One coalesced call's outcome, unpacked into its caller's arena. */
static void
deliver(pending *p, const Dyne__Internal__BatchReply *r, dyn_err batch_rc, const char *batch_msg)
{
    ProtobufCAllocator alloc = dyn_arena_pb_allocator(p->a);
    ProtobufCMessage *resp = NULL;
    const char *msg = NULL;
    dyn_err rc = batch_rc;

    if (rc != DYN_OK) {   /* the Batch call itself failed: each call fails the same way */
        msg = dyn_arena_strdup(p->a, batch_msg != NULL ? batch_msg : dyn_err_type(rc));
    } else if (r == NULL) {
        rc = DYN_EINTERNAL;
        msg = "storage answered a Batch with too few replies";
    } else if (r->err != NULL) {
        if (!dyn_err_from_name(r->err, strlen(r->err), &rc))
            rc = DYN_EINTERNAL;
        msg = dyn_arena_strdup(p->a, r->message != NULL ? r->message : dyn_err_type(rc));
        if (p->err_desc != NULL && r->has_detail)
            resp = protobuf_c_message_unpack(p->err_desc, &alloc, r->detail.len, r->detail.data);
    } else {
        resp = protobuf_c_message_unpack(p->resp_desc, &alloc, r->has_reply ? r->reply.len : 0,
                                         r->has_reply ? r->reply.data : (const uint8_t *)"");
        if (resp == NULL) {
            rc = DYN_EINTERNAL;
            msg = dyn_arena_printf(p->a, "cannot decode %s reply", p->resp_desc->name);
        }
    }
    p->done(p->arg, rc, resp, msg);
}

static void
batch_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    batch_call *bc = arg;
    const Dyne__Internal__BatchResponse *out = (const void *)resp;
    node_q *q = bc->q;
    size_t i = 0;

    for (pending *p = bc->calls, *next; p != NULL; p = next, i++) {
        next = p->next;
        deliver(p, rc == DYN_OK && out != NULL && i < out->n_replies ? out->replies[i] : NULL,
                rc, errmsg);
        free(p->req.data);
        free(p);
    }
    dyn_arena_fini(&bc->arena);
    free(bc);
    flush(q);
}

/* Called when one of q's calls ended: the queue leaves as one Batch (its slot is reused), or
 * the slot is given back. */
static void
flush(node_q *q)
{
    pending *calls = NULL, **tail = &calls;
    size_t n = 0, bytes = 0;

    pthread_mutex_lock(&q->mu);
    while (q->head != NULL && n < BATCH_MAX && (n == 0 || bytes + q->head->req.len <= BATCH_MAX_BYTES)) {
        pending *p = q->head;
        q->head = p->next;
        p->next = NULL;
        *tail = p;
        tail = &p->next;
        n++;
        bytes += p->req.len;
    }
    if (q->head == NULL)
        q->tail = &q->head;
    if (n == 0)
        q->inflight--;
    pthread_mutex_unlock(&q->mu);
    if (n == 0)
        return;

    batch_call *bc = dyn_xcalloc(1, sizeof *bc);
    bc->q = q;
    bc->calls = calls;
    bc->n = n;
    dyn_arena_init(&bc->arena, BATCH_ARENA_MAX);
    Dyne__Internal__BatchRequest *req = dyn_arena_alloc(&bc->arena, sizeof *req);
    Dyne__Internal__BatchCall *cs = dyn_arena_alloc(&bc->arena, sizeof *cs * n);
    Dyne__Internal__BatchCall **ptrs = dyn_arena_alloc(&bc->arena, sizeof *ptrs * n);
    if (req == NULL || cs == NULL || ptrs == NULL) {
        batch_done(bc, DYN_ENOMEM, NULL, "out of memory");
        return;
    }
    dyne__internal__batch_request__init(req);
    int64_t latest = 0, now = now_ms();
    for (pending *p = calls; p != NULL; p = p->next)
        latest = p->deadline_ms > latest ? p->deadline_ms : latest;
    size_t i = 0;
    for (pending *p = calls; p != NULL; p = p->next, i++) {
        dyne__internal__batch_call__init(&cs[i]);
        cs[i].method = (char *)p->method;
        cs[i].has_request = true;
        cs[i].request = p->req;
        cs[i].has_deadline_before_ms = true;   /* each call keeps its own deadline */
        cs[i].deadline_before_ms = latest - p->deadline_ms;
        ptrs[i] = &cs[i];
    }
    req->n_calls = n;
    req->calls = ptrs;
    dyn_rpc_client_call_async(q->client, "/dyne.internal.Storage/Batch", &req->base,
                              &dyne__internal__batch_response__descriptor,
                              (int)(latest - now > 1 ? latest - now : 1), &bc->arena, batch_done,
                              bc);
}

static void
send_call(router *r, dyn_rpc_call *origin, const char *addr, const char *method,
          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
          const ProtobufCMessageDescriptor *err_desc, dyn_arena *a, dyn_rpc_done_fn done,
          void *arg)
{
    dyn_rpc_client *c = router_storage(r, addr);
    node_q *q = node_get(r, c);
    int deadline = call_deadline(r, origin);

    pthread_mutex_lock(&q->mu);
    if (q->inflight < g_inflight) {   /* a free slot: out alone, now */
        q->inflight++;
        pthread_mutex_unlock(&q->mu);
        char path[64];
        single *s = dyn_xmalloc(sizeof *s);
        *s = (single){ q, done, arg };
        snprintf(path, sizeof path, "/dyne.internal.Storage/%s", method);
        dyn_rpc_client_call_async_detail(c, path, req, resp_desc, err_desc, deadline, a,
                                         single_done, s);
        return;
    }
    pthread_mutex_unlock(&q->mu);

    /* pack outside the lock; the caller's message may die once we return */
    pending *p = dyn_xcalloc(1, sizeof *p);
    size_t len = protobuf_c_message_get_packed_size(req);
    p->req.data = dyn_xmalloc(len ? len : 1);
    p->req.len = protobuf_c_message_pack(req, p->req.data);
    p->q = q;
    p->method = method;
    p->resp_desc = resp_desc;
    p->err_desc = err_desc;
    p->a = a;
    p->done = done;
    p->arg = arg;
    p->deadline_ms = now_ms() + deadline;

    pthread_mutex_lock(&q->mu);
    if (q->inflight < g_inflight) {   /* a slot freed while we packed: go now, as a batch of 1 */
        q->inflight++;
        *q->tail = p;
        q->tail = &p->next;
        pthread_mutex_unlock(&q->mu);
        flush(q);
        return;
    }
    *q->tail = p;
    q->tail = &p->next;
    pthread_mutex_unlock(&q->mu);
}

/* ---- stale routes ----
 * A call goes where the router's cached partition map says. When the partition has left that
 * node (storage answers NotLeader, WrongEpoch, or that it has no such partition) or the node is
 * unreachable, and the map -- cached, or read again from etcd when the cache still agrees, as
 * the watch may lag -- now places the partition elsewhere, the call is sent again there; it
 * needs no re-packing: the request lives in the caller's arena until the caller is answered.
 * Otherwise the caller gets the answer as it came. Only for callers with one call in flight
 * (the arena is one thread's at a time: a retried call's answer is unpacked on another node's
 * thread); batches answer such keys as unprocessed instead (router_storage_call_once). */

#define ROUTE_TRIES 3

typedef struct routed {
    router *r;
    dyn_rpc_call *origin;
    char addr[128];                    /* where it went last */
    const char *method;
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *resp_desc, *err_desc;
    dyn_arena *a;
    dyn_rpc_done_fn done;
    void *arg;
    int tries;
    bool refreshed;                    /* etcd read once already */
    dyn_err rc;                        /* the answer being checked (its parts live in a) */
    ProtobufCMessage *resp;
    const char *msg;
} routed;

static const char *
partition_of(const ProtobufCMessage *req)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "partition_id");

    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return NULL;
    return *(const char *const *)((const char *)req + f->offset);
}

static void routed_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *msg);

static void
answer(routed *x, dyn_err rc, ProtobufCMessage *resp, const char *msg)
{
    dyn_rpc_done_fn done = x->done;
    void *arg = x->arg;

    free(x);
    done(arg, rc, resp, msg);
}

/* The map places x's partition at `now` ("" if nowhere): again there if that is elsewhere, else
 * the answer as it came. */
static void
retry_or_answer(routed *x, const char *now)
{
    if (now[0] != '\0' && strcmp(now, x->addr) != 0) {
        dyn_log(DYN_LOG_INFO, "ROUTER-ROUTE-STALE", "partition=%s from=%s to=%s err=%s",
                partition_of(x->req), x->addr, now, dyn_err_name(x->rc));
        dyn_rpc_counter_add(g_retries, 1);
        snprintf(x->addr, sizeof x->addr, "%s", now);
        send_call(x->r, x->origin, x->addr, x->method, x->req, x->resp_desc, x->err_desc, x->a,
                  routed_done, x);
        return;
    }
    answer(x, x->rc, x->resp, x->msg);
}

/* admin thread: the partition's table read again from etcd */
static void
route_refreshed(router *r, void *arg)
{
    routed *x = arg;
    const char *pid = partition_of(x->req);
    char now[128];

    router_catalog_refresh_partition(r, pid);
    router_partition_addr(r, pid, now, sizeof now);
    retry_or_answer(x, now);
}

static void
routed_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *msg)
{
    routed *x = arg;
    const char *pid;
    char now[128];

    bool moved = rc == DYN_ENOTLEADER || rc == DYN_EWRONGEPOCH || rc == DYN_ENOTABLE;
    if ((!moved && rc != DYN_EUNAVAIL) || ++x->tries >= ROUTE_TRIES ||
        (pid = partition_of(x->req)) == NULL) {
        answer(x, rc, resp, msg);
        return;
    }
    x->rc = rc;
    x->resp = resp;
    x->msg = msg;   /* in the caller's arena */
    router_partition_addr(x->r, pid, now, sizeof now);
    if (strcmp(now, x->addr) == 0 && moved && !x->refreshed) {
        x->refreshed = true;   /* the cache agrees with the answer's sender: ask etcd */
        router_admin_run(x->r, route_refreshed, x);
        return;
    }
    retry_or_answer(x, now);
}

void
router_storage_call(router *r, dyn_rpc_call *origin, const char *addr, const char *method,
                    const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc,
                    const ProtobufCMessageDescriptor *err_desc, dyn_arena *a, dyn_rpc_done_fn done,
                    void *arg)
{
    routed *x = dyn_xmalloc(sizeof *x);

    *x = (routed){ .r = r, .origin = origin, .method = method, .req = req,
                   .resp_desc = resp_desc, .err_desc = err_desc, .a = a, .done = done,
                   .arg = arg };
    snprintf(x->addr, sizeof x->addr, "%s", addr);
    send_call(r, origin, addr, method, req, resp_desc, err_desc, a, routed_done, x);
}

void
router_storage_call_once(router *r, dyn_rpc_call *origin, const char *addr, const char *method,
                         const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *resp_desc,
                         const ProtobufCMessageDescriptor *err_desc, dyn_arena *a,
                         dyn_rpc_done_fn done, void *arg)
{
    send_call(r, origin, addr, method, req, resp_desc, err_desc, a, done, arg);
}
