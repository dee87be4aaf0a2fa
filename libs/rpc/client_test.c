/* libs/rpc -- client tests against a real etcd (unary calls, async calls, error mapping, a bidi
 * Watch stream) and against a tiny in-test gRPC server that answers with "dyn-err" metadata. */
#include "libs/rpc/rpc_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "libs/meta/etcd_testutil.h"
#include "libs/testing/dyn_test.h"
#include "proto/etcd/rpc.pb-c.h"

static dyn_etcd_test g_etcd;
static const char *g_ep;

static bool
etcd_up(void)
{
    if (g_ep == NULL)
        g_ep = dyn_etcd_test_start(&g_etcd);
    return g_ep != NULL;
}

/* A condition to wait on with a timeout (tests never hang). */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
} waiter;

static void
waiter_init(waiter *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->count = 0;
}

static void
waiter_add(waiter *w, int n)
{
    pthread_mutex_lock(&w->mu);
    w->count += n;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* true if count reached n within ms */
static bool
waiter_wait(waiter *w, int n, int ms)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&w->mu);
    while (w->count < n && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
        ;
    ok = w->count >= n;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static dyn_err
etcd_put(dyn_rpc_client *c, const char *key, const char *val)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_arena a;
    dyn_err rc;

    req.key.data = (uint8_t *)key;
    req.key.len = strlen(key);
    req.value.data = (uint8_t *)val;
    req.value.len = strlen(val);
    dyn_arena_init(&a, 1 << 20);
    rc = dyn_rpc_client_call(c, "/etcdserverpb.KV/Put", &req.base,
                             &etcdserverpb__put_response__descriptor, 5000, &a, &resp, NULL);
    dyn_arena_fini(&a);
    return rc;
}

static void
test_unary_put_range(void)
{
    if (!etcd_up()) {
        DT_TRUE(!"etcd did not start");
        return;
    }
    dyn_rpc_client *c = dyn_rpc_client_new(g_ep, 2);
    Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    const char *errmsg = NULL;
    dyn_arena a;

    DT_OK(etcd_put(c, "/t/unary/a", "alpha"));
    DT_OK(etcd_put(c, "/t/unary/b", "beta"));
    rr.key.data = (uint8_t *)"/t/unary/";
    rr.key.len = 9;
    rr.range_end.data = (uint8_t *)"/t/unary0";   /* prefix + 1 */
    rr.range_end.len = 9;
    dyn_arena_init(&a, 1 << 20);
    DT_OK(dyn_rpc_client_call(c, "/etcdserverpb.KV/Range", &rr.base,
                              &etcdserverpb__range_response__descriptor, 5000, &a, &resp,
                              &errmsg));
    Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)resp;
    DT_TRUE(r != NULL);
    if (r != NULL) {
        DT_EQ_INT(r->n_kvs, 2);
        DT_EQ_INT(r->count, 2);
        DT_TRUE(r->header != NULL && r->header->revision > 0);
        if (r->n_kvs == 2) {
            DT_TRUE(r->kvs[0]->value.len == 5 && memcmp(r->kvs[0]->value.data, "alpha", 5) == 0);
            DT_TRUE(r->kvs[1]->value.len == 4 && memcmp(r->kvs[1]->value.data, "beta", 4) == 0);
        }
    }
    dyn_arena_fini(&a);
    dyn_rpc_client_free(c);
}

typedef struct async_ctx {
    waiter w;
    int ok;
} async_ctx;

static void
async_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    async_ctx *x = arg;
    (void)errmsg;
    pthread_mutex_lock(&x->w.mu);
    if (rc == DYN_OK && resp != NULL &&
        ((Etcdserverpb__PutResponse *)resp)->header != NULL)
        x->ok++;
    pthread_mutex_unlock(&x->w.mu);
    waiter_add(&x->w, 1);
}

static void
test_async_many(void)
{
    if (!etcd_up())
        return;
    enum { N = 64 };
    dyn_rpc_client *c = dyn_rpc_client_new(g_ep, 3);
    static dyn_arena arenas[N];
    static char keys[N][32];
    async_ctx x = { .ok = 0 };

    waiter_init(&x.w);
    for (int i = 0; i < N; i++) {
        Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
        snprintf(keys[i], sizeof keys[i], "/t/async/%02d", i);
        req.key.data = (uint8_t *)keys[i];
        req.key.len = strlen(keys[i]);
        dyn_arena_init(&arenas[i], 1 << 16);
        dyn_rpc_client_call_async(c, "/etcdserverpb.KV/Put", &req.base,
                                  &etcdserverpb__put_response__descriptor, 5000, &arenas[i],
                                  async_done, &x);
    }
    DT_TRUE(waiter_wait(&x.w, N, 10000));
    DT_EQ_INT(x.ok, N);
    for (int i = 0; i < N; i++)
        dyn_arena_fini(&arenas[i]);
    dyn_rpc_client_free(c);
}

static void
test_errors_from_status(void)
{
    if (!etcd_up())
        return;
    dyn_rpc_client *c = dyn_rpc_client_new(g_ep, 1);
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;   /* no key: invalid */
    ProtobufCMessage *resp = NULL;
    const char *errmsg = NULL;
    dyn_arena a;

    dyn_arena_init(&a, 1 << 16);
    DT_ERR(dyn_rpc_client_call(c, "/etcdserverpb.KV/Put", &req.base,
                               &etcdserverpb__put_response__descriptor, 5000, &a, &resp, &errmsg),
           DYN_EVALIDATION);
    DT_TRUE(errmsg != NULL && strstr(errmsg, "key is not provided") != NULL);
    DT_ERR(dyn_rpc_client_call(c, "/etcdserverpb.KV/NoSuchMethod", &req.base,
                               &etcdserverpb__put_response__descriptor, 5000, &a, &resp, NULL),
           DYN_EUNIMPLEMENTED);
    dyn_arena_fini(&a);
    dyn_rpc_client_free(c);
}

/* A loopback port nobody listens on (bound, then closed). */
static int
dead_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void
test_unavailable_and_deadline(void)
{
    char target[64];
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    dyn_arena a;
    int fd;

    dyn_arena_init(&a, 1 << 16);
    snprintf(target, sizeof target, "127.0.0.1:%d", dead_port());
    dyn_rpc_client *c = dyn_rpc_client_new(target, 1);
    DT_ERR(dyn_rpc_client_call(c, "/etcdserverpb.KV/Put", &req.base,
                               &etcdserverpb__put_response__descriptor, 5000, &a, NULL, NULL),
           DYN_EUNAVAIL);
    dyn_rpc_client_free(c);

    /* A socket that listens but never speaks HTTP/2: the call can only time out. */
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    DT_OK(bind(fd, (struct sockaddr *)&sa, sizeof sa));
    DT_OK(listen(fd, 8));
    getsockname(fd, (struct sockaddr *)&sa, &len);
    snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(sa.sin_port));
    c = dyn_rpc_client_new(target, 1);
    DT_ERR(dyn_rpc_client_call(c, "/etcdserverpb.KV/Put", &req.base,
                               &etcdserverpb__put_response__descriptor, 300, &a, NULL, NULL),
           DYN_EDEADLINE);
    dyn_rpc_client_free(c);
    close(fd);
    dyn_arena_fini(&a);
}

/* ---- a minimal gRPC server that fails every call with FAILED_PRECONDITION + dyn-err ---- */

typedef struct err_server {
    grpc_server *srv;
    grpc_completion_queue *cq;
    pthread_t thread;
    int port;
} err_server;

static void *
err_server_loop(void *arg)
{
    err_server *es = arg;

    for (;;) {
        grpc_call *call = NULL;
        grpc_call_details details;
        grpc_metadata_array req_md;
        grpc_event ev;
        int tag_new = 1, tag_done = 2, cancelled = 0;

        grpc_call_details_init(&details);
        grpc_metadata_array_init(&req_md);
        if (grpc_server_request_call(es->srv, &call, &details, &req_md, es->cq, es->cq,
                                     &tag_new) != GRPC_CALL_OK)
            break;
        ev = grpc_completion_queue_next(es->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
            grpc_call_details_destroy(&details);
            grpc_metadata_array_destroy(&req_md);
            break;   /* shutting down */
        }
        grpc_metadata trail[1];
        trail[0].key = grpc_slice_from_static_string("dyn-err");
        trail[0].value = grpc_slice_from_static_string("ECONDFAIL");
        grpc_slice msg = grpc_slice_from_static_string("the condition did not hold");
        grpc_op ops[3];
        memset(ops, 0, sizeof ops);
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[1].data.recv_close_on_server.cancelled = &cancelled;
        ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[2].data.send_status_from_server.status = GRPC_STATUS_FAILED_PRECONDITION;
        ops[2].data.send_status_from_server.status_details = &msg;
        ops[2].data.send_status_from_server.trailing_metadata = trail;
        ops[2].data.send_status_from_server.trailing_metadata_count = 1;
        if (grpc_call_start_batch(call, ops, 3, &tag_done, NULL) == GRPC_CALL_OK)
            (void)grpc_completion_queue_next(es->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_call_unref(call);
        grpc_call_details_destroy(&details);
        grpc_metadata_array_destroy(&req_md);
    }
    return NULL;
}

static void
test_error_from_dyn_err_metadata(void)
{
    err_server es;
    char target[64];
    const char *errmsg = NULL;
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    dyn_arena a;
    int shutdown_tag;

    grpc_init();
    es.srv = grpc_server_create(NULL, NULL);
    es.cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(es.srv, es.cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    es.port = grpc_server_add_http2_port(es.srv, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    DT_TRUE(es.port > 0);
    grpc_server_start(es.srv);
    pthread_create(&es.thread, NULL, err_server_loop, &es);

    snprintf(target, sizeof target, "127.0.0.1:%d", es.port);
    dyn_rpc_client *c = dyn_rpc_client_new(target, 1);
    dyn_arena_init(&a, 1 << 16);
    DT_ERR(dyn_rpc_client_call(c, "/dyne.internal.Storage/Put", &req.base,
                               &etcdserverpb__put_response__descriptor, 5000, &a, NULL, &errmsg),
           DYN_ECONDFAIL);
    DT_EQ_STR(errmsg, "the condition did not hold");
    dyn_arena_fini(&a);
    dyn_rpc_client_free(c);

    grpc_server_shutdown_and_notify(es.srv, es.cq, &shutdown_tag);
    grpc_server_cancel_all_calls(es.srv);
    pthread_join(es.thread, NULL);
    grpc_completion_queue_shutdown(es.cq);
    while (grpc_completion_queue_next(es.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_server_destroy(es.srv);
    grpc_completion_queue_destroy(es.cq);
    grpc_shutdown();
}

/* ---- streams ---- */

typedef struct watch_ctx {
    waiter w;              /* counts messages */
    waiter closed;         /* counts on_close calls */
    dyn_err close_rc;
    bool created;
    int nevents;
    char keys[8][32];
    int64_t revs[8];
} watch_ctx;

static void
watch_msg(void *arg, const ProtobufCMessage *msg)
{
    watch_ctx *x = arg;
    const Etcdserverpb__WatchResponse *r = (const Etcdserverpb__WatchResponse *)msg;

    pthread_mutex_lock(&x->w.mu);
    if (r->created)
        x->created = true;
    for (size_t i = 0; i < r->n_events && x->nevents < 8; i++) {
        const Mvccpb__KeyValue *kv = r->events[i]->kv;
        snprintf(x->keys[x->nevents], sizeof x->keys[0], "%.*s", (int)kv->key.len,
                 (const char *)kv->key.data);
        x->revs[x->nevents] = kv->mod_revision;
        x->nevents++;
    }
    pthread_mutex_unlock(&x->w.mu);
    waiter_add(&x->w, 1);
}

static void
watch_close(void *arg, dyn_err rc, const char *errmsg)
{
    watch_ctx *x = arg;
    (void)errmsg;
    x->close_rc = rc;
    waiter_add(&x->closed, 1);
}

static dyn_rpc_stream *
watch_open(dyn_rpc_client *c, watch_ctx *x, const char *prefix)
{
    static char end[64];
    Etcdserverpb__WatchRequest wr = ETCDSERVERPB__WATCH_REQUEST__INIT;
    Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    size_t n = strlen(prefix);

    memcpy(end, prefix, n);
    end[n - 1]++;
    cr.key.data = (uint8_t *)prefix;
    cr.key.len = n;
    cr.range_end.data = (uint8_t *)end;
    cr.range_end.len = n;
    wr.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    wr.create_request = &cr;
    dyn_rpc_stream *s = dyn_rpc_stream_open(c, "/etcdserverpb.Watch/Watch",
                                            &etcdserverpb__watch_response__descriptor, watch_msg,
                                            watch_close, x);
    if (s != NULL)
        DT_OK(dyn_rpc_stream_send(s, &wr.base));
    return s;
}

static void
test_stream_watch_then_cancel(void)
{
    if (!etcd_up())
        return;
    dyn_rpc_client *c = dyn_rpc_client_new(g_ep, 1);
    watch_ctx x = { .close_rc = DYN_OK };

    waiter_init(&x.w);
    waiter_init(&x.closed);
    dyn_rpc_stream *s = watch_open(c, &x, "/t/watch/");
    DT_TRUE(s != NULL);
    DT_TRUE(waiter_wait(&x.w, 1, 5000));   /* the "created" reply */
    DT_TRUE(x.created);
    DT_OK(etcd_put(c, "/t/watch/1", "a"));
    DT_OK(etcd_put(c, "/t/other", "x"));   /* outside the prefix */
    DT_OK(etcd_put(c, "/t/watch/2", "b"));
    DT_OK(etcd_put(c, "/t/watch/3", "c"));
    for (int i = 0; i < 100; i++) {   /* <= 5 s */
        pthread_mutex_lock(&x.w.mu);
        int n = x.nevents;
        pthread_mutex_unlock(&x.w.mu);
        if (n >= 3)
            break;
        struct timespec ts = { .tv_nsec = 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&x.w.mu);
    DT_EQ_INT(x.nevents, 3);
    DT_EQ_STR(x.keys[0], "/t/watch/1");
    DT_EQ_STR(x.keys[1], "/t/watch/2");
    DT_EQ_STR(x.keys[2], "/t/watch/3");
    DT_TRUE(x.revs[0] < x.revs[1] && x.revs[1] < x.revs[2]);
    pthread_mutex_unlock(&x.w.mu);

    dyn_rpc_stream_cancel(s);
    DT_TRUE(waiter_wait(&x.closed, 1, 5000));
    DT_ERR(x.close_rc, DYN_ECANCELLED);
    dyn_rpc_client_free(c);
    DT_EQ_INT(x.closed.count, 1);   /* exactly once */
}

static void
test_client_free_closes_streams(void)
{
    if (!etcd_up())
        return;
    dyn_rpc_client *c = dyn_rpc_client_new(g_ep, 2);
    watch_ctx x1 = { .close_rc = DYN_OK }, x2 = { .close_rc = DYN_OK };

    waiter_init(&x1.w);
    waiter_init(&x1.closed);
    waiter_init(&x2.w);
    waiter_init(&x2.closed);
    DT_TRUE(watch_open(c, &x1, "/t/free1/") != NULL);
    DT_TRUE(watch_open(c, &x2, "/t/free2/") != NULL);
    DT_TRUE(waiter_wait(&x1.w, 1, 5000));
    DT_TRUE(waiter_wait(&x2.w, 1, 5000));
    dyn_rpc_client_free(c);   /* returns only after both on_close ran */
    DT_EQ_INT(x1.closed.count, 1);
    DT_EQ_INT(x2.closed.count, 1);
    DT_ERR(x1.close_rc, DYN_ECANCELLED);
}

static void
test_stop_etcd(void)
{
    dyn_etcd_test_stop(&g_etcd);
    g_ep = NULL;
}

DT_MAIN({ "unary put and range against etcd", test_unary_put_range },
        { "many async calls complete once each", test_async_many },
        { "errors mapped from gRPC status", test_errors_from_status },
        { "unavailable and deadline", test_unavailable_and_deadline },
        { "error recovered from dyn-err metadata", test_error_from_dyn_err_metadata },
        { "watch stream sees puts in order, cancel closes once", test_stream_watch_then_cancel },
        { "client free closes open streams", test_client_free_closes_streams },
        { "stop etcd", test_stop_etcd })
