/* libs/rpc -- server tests: a real server on 127.0.0.1:0 with a tiny Echo service, driven by a raw
 * gRPC C-core client (not libs/rpc's own client) and plain HTTP sockets. */
#include "libs/rpc/rpc.h"
#include "libs/rpc/rpc_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "libs/rpc/testdata/echo.pb-c.h"
#include "libs/testing/dyn_test.h"
#include "proto/grpc/health/v1/health.pb-c.h"

/* ---- the Echo service ------------------------------------------------------------------- */

static atomic_int g_deferred_running;      /* finisher threads not yet done */
static atomic_bool g_deferred_saw_cancel;  /* a finisher found its call cancelled */
static atomic_bool g_wait_returned;        /* the last ts_wait_async's dyn_rpc_server_wait did */

static void
sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static gpr_timespec
deadline_in(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static Dyne__Test__EchoReply *
reply_new(dyn_rpc_call *call, const char *text)
{
    Dyne__Test__EchoReply *r = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *r);
    dyne__test__echo_reply__init(r);
    r->text = dyn_arena_strdup(dyn_rpc_call_arena(call), text);
    r->method = (char *)dyn_rpc_call_method(call);
    return r;
}

static dyn_err
echo_echo(dyn_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Test__EchoRequest *r = (const void *)req;
    Dyne__Test__EchoReply *out = reply_new(call, r->text);
    const char *md = r->md_key[0] != '\0' ? dyn_rpc_call_metadata(call, r->md_key) : NULL;

    (void)ctx;
    out->deadline_ms = dyn_rpc_call_deadline_ms(call);
    out->md_value = md != NULL ? (char *)md : "";
    *resp = &out->base;
    return DYN_OK;
}

static dyn_err
echo_fail(dyn_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Test__EchoRequest *r = (const void *)req;
    (void)resp;
    (void)ctx;
    if (strncmp(r->text, "detail:", 7) == 0)   /* the error carries a detail message */
        dyn_rpc_call_set_error_detail(call, &reply_new(call, r->text + 7)->base);
    return dyn_rpc_call_fail(call, (dyn_err)r->fail, "bad thing %d: %s", 7, r->text);
}

typedef struct {
    dyn_rpc_call *call;
    int delay_ms, fail;
    char text[64];
} deferred_job;

static void *
deferred_main(void *arg)
{
    deferred_job *j = arg;

    sleep_ms(j->delay_ms);
    if (dyn_rpc_call_cancelled(j->call))
        atomic_store(&g_deferred_saw_cancel, true);
    if (j->fail != 0) {
        dyn_rpc_call_finish(j->call, (dyn_err)j->fail, NULL, "deferred failure");
    } else {
        Dyne__Test__EchoReply *out = reply_new(j->call, j->text);
        out->cancelled = dyn_rpc_call_cancelled(j->call);
        dyn_rpc_call_finish(j->call, DYN_OK, &out->base, NULL);
    }
    free(j);
    atomic_fetch_sub(&g_deferred_running, 1);
    return NULL;
}

static dyn_err
echo_defer(dyn_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Test__EchoRequest *r = (const void *)req;
    deferred_job *j = calloc(1, sizeof *j);
    pthread_t t;

    (void)resp;
    (void)ctx;
    j->call = call;
    j->delay_ms = r->delay_ms;
    j->fail = r->fail;
    snprintf(j->text, sizeof j->text, "%s", r->text);
    dyn_rpc_call_defer(call);
    atomic_fetch_add(&g_deferred_running, 1);
    pthread_create(&t, NULL, deferred_main, j);
    pthread_detach(t);
    return DYN_OK;
}

static const dyn_rpc_method echo_methods[] = {
    { "Echo", echo_echo },
    { "Fail", echo_fail },
    { "Defer", echo_defer },
    { NULL, NULL },   /* Unimpl stays unimplemented */
};

/* ---- server fixture --------------------------------------------------------------------- */

typedef struct {
    dyn_rpc_server *s;
    int port, http_port;
    grpc_channel *ch;
    pthread_t waiter;
    int grace_ms;
} ts;

static void
ts_start(ts *t)
{
    dyn_rpc_server_opts o = { .listen = "127.0.0.1:0", .workers = 2, .slots_per_worker = 2,
                              .http_listen = "127.0.0.1:0" };
    char target[64];
    grpc_channel_credentials *creds;

    memset(t, 0, sizeof *t);
    grpc_init();
    t->s = dyn_rpc_server_new(&o);
    dyn_rpc_server_add_service(t->s, &dyne__test__echo__descriptor, echo_methods, NULL);
    DT_OK(dyn_rpc_server_start(t->s, &t->port, &t->http_port));
    DT_TRUE(t->port > 0);
    DT_TRUE(t->http_port > 0);
    snprintf(target, sizeof target, "127.0.0.1:%d", t->port);
    creds = grpc_insecure_credentials_create();
    t->ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
}

static void *
waiter_main(void *arg)
{
    ts *t = arg;
    dyn_rpc_server_wait(t->s, t->grace_ms);
    atomic_store(&g_wait_returned, true);
    return NULL;
}

/* dyn_rpc_server_wait on its own thread, as main() would block in it */
static void
ts_wait_async(ts *t, int grace_ms)
{
    t->grace_ms = grace_ms;
    atomic_store(&g_wait_returned, false);
    pthread_create(&t->waiter, NULL, waiter_main, t);
}

static void
ts_stop(ts *t)
{
    if (t->ch != NULL)
        grpc_channel_destroy(t->ch);
    if (t->waiter == 0)
        ts_wait_async(t, 2000);
    dyn_rpc_server_stop(t->s);
    pthread_join(t->waiter, NULL);
    while (atomic_load(&g_deferred_running) > 0)   /* finishers touch their call until the end */
        sleep_ms(5);
    dyn_rpc_server_free(t->s);
    grpc_shutdown();
}

/* ---- a raw C-core unary client ---------------------------------------------------------- */

typedef struct {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata md[1];
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *req, *resp;
    grpc_status_code status;
    grpc_slice details;
    /* results, NUL-terminated copies */
    char msg[256], err[64], err_type[64];
    uint8_t *reply;   /* owned */
    size_t reply_len;
} tc;

static void
tc_begin(tc *c, grpc_channel *ch, const char *method, const void *req, size_t len,
         int deadline_ms, const char *md_key, const char *md_val)
{
    grpc_slice s = grpc_slice_from_copied_buffer(req, len);
    grpc_slice m = grpc_slice_from_static_string(method);
    gpr_timespec dl = deadline_ms > 0 ? deadline_in(deadline_ms)
                                      : gpr_inf_future(GPR_CLOCK_REALTIME);
    grpc_op ops[6];

    memset(c, 0, sizeof *c);
    memset(ops, 0, sizeof ops);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    c->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL, dl, NULL);
    c->req = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_metadata_array_init(&c->init_md);
    grpc_metadata_array_init(&c->trail_md);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (md_key != NULL) {
        c->md[0].key = grpc_slice_from_static_string(md_key);
        c->md[0].value = grpc_slice_from_static_string(md_val);
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = c->md;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trail_md;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    DT_EQ_INT(grpc_call_start_batch(c->call, ops, 6, c, NULL), GRPC_CALL_OK);
}

static void
copy_slice(char *dst, size_t cap, grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s) < cap - 1 ? GRPC_SLICE_LENGTH(s) : cap - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(s), n);
    dst[n] = '\0';
}

static void
tc_end(tc *c)
{
    grpc_event ev = grpc_completion_queue_pluck(c->cq, c, gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                                gpr_time_from_seconds(10, GPR_TIMESPAN)), NULL);
    DT_EQ_INT(ev.type, GRPC_OP_COMPLETE);
    copy_slice(c->msg, sizeof c->msg, c->details);
    for (size_t i = 0; i < c->trail_md.count; i++) {
        if (grpc_slice_str_cmp(c->trail_md.metadata[i].key, "dyn-err") == 0)
            copy_slice(c->err, sizeof c->err, c->trail_md.metadata[i].value);
        if (grpc_slice_str_cmp(c->trail_md.metadata[i].key, "dyn-err-type") == 0)
            copy_slice(c->err_type, sizeof c->err_type, c->trail_md.metadata[i].value);
    }
    if (c->resp != NULL) {
        grpc_byte_buffer_reader r;
        grpc_byte_buffer_reader_init(&r, c->resp);
        grpc_slice s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        c->reply_len = GRPC_SLICE_LENGTH(s);
        c->reply = malloc(c->reply_len + 1);
        memcpy(c->reply, GRPC_SLICE_START_PTR(s), c->reply_len);
        grpc_slice_unref(s);
        grpc_byte_buffer_destroy(c->resp);
    }
    grpc_call_unref(c->call);
    grpc_byte_buffer_destroy(c->req);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->init_md);
    grpc_metadata_array_destroy(&c->trail_md);
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
}

/* One Echo-service call; the reply (if any) unpacked into *reply (free with
 * dyne__test__echo_reply__free_unpacked). */
static void
echo_call(ts *t, tc *c, const char *method, const char *text, int delay_ms, int fail,
          int deadline_ms, Dyne__Test__EchoReply **reply)
{
    Dyne__Test__EchoRequest r = DYNE__TEST__ECHO_REQUEST__INIT;
    uint8_t buf[256];
    char path[64];

    r.text = (char *)text;
    r.delay_ms = delay_ms;
    r.fail = fail;
    r.md_key = "x-dyn-test";
    snprintf(path, sizeof path, "/dyne.test.Echo/%s", method);
    tc_begin(c, t->ch, path, buf, dyne__test__echo_request__pack(&r, buf), deadline_ms,
             "x-dyn-test", "hello-md");
    tc_end(c);
    *reply = c->reply != NULL ? dyne__test__echo_reply__unpack(NULL, c->reply_len, c->reply) : NULL;
    DYN_FREE(c->reply);
}

/* ---- plain HTTP ------------------------------------------------------------------------- */

static int
http_get(int port, const char *path, char *body, size_t cap)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    char req[256], *buf = malloc(1 << 20);
    size_t n = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0), code = -1;
    ssize_t r;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto out;
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, strlen(req)) < 0)
        goto out;
    while (n < (1 << 20) - 1 && (r = read(fd, buf + n, (1 << 20) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
        goto out;
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, cap, "%s", b != NULL ? b + 4 : "");
out:
    close(fd);
    free(buf);
    return code;
}

/* The value of one exposition line "<series> <value>", or -1. */
static double
metric_value(const char *text, const char *series)
{
    const char *p = text;
    size_t n = strlen(series);

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_success_metadata_deadline(void)
{
    ts t;
    tc c;
    Dyne__Test__EchoReply *r;

    ts_start(&t);
    echo_call(&t, &c, "Echo", "hi", 0, 0, 5000, &r);
    DT_EQ_INT(c.status, GRPC_STATUS_OK);
    DT_EQ_STR(c.err, "");
    DT_TRUE(r != NULL);
    if (r != NULL) {
        DT_EQ_STR(r->text, "hi");
        DT_EQ_STR(r->method, "Echo");
        DT_EQ_STR(r->md_value, "hello-md");
        DT_TRUE(r->deadline_ms > 3000 && r->deadline_ms <= 5000);
        dyne__test__echo_reply__free_unpacked(r, NULL);
    }
    echo_call(&t, &c, "Echo", "", 0, 0, 0, &r);   /* no deadline; empty reply on the wire */
    DT_EQ_INT(c.status, GRPC_STATUS_OK);
    DT_TRUE(r != NULL);
    if (r != NULL) {
        DT_EQ_INT(r->deadline_ms, INT64_MAX);
        dyne__test__echo_reply__free_unpacked(r, NULL);
    }
    ts_stop(&t);
}

static void
test_handler_error(void)
{
    ts t;
    tc c;
    Dyne__Test__EchoReply *r;

    ts_start(&t);
    echo_call(&t, &c, "Fail", "x", 0, DYN_EVALIDATION, 0, &r);
    DT_EQ_INT(c.status, GRPC_STATUS_INVALID_ARGUMENT);
    DT_EQ_STR(c.msg, "bad thing 7: x");
    DT_EQ_STR(c.err, "EVALIDATION");
    DT_EQ_STR(c.err_type, "ValidationException");
    DT_TRUE(r == NULL);
    echo_call(&t, &c, "Fail", "y", 0, DYN_ECONDFAIL, 0, &r);
    DT_EQ_INT(c.status, GRPC_STATUS_FAILED_PRECONDITION);
    DT_EQ_STR(c.err, "ECONDFAIL");
    DT_EQ_STR(c.err_type, "ConditionalCheckFailedException");
    ts_stop(&t);
}

typedef struct {
    atomic_int fired;
    dyn_err rc;
    char errmsg[128], detail[64];
    bool had_detail;
} detail_res;

static void
detail_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    detail_res *d = arg;
    const Dyne__Test__EchoReply *out = (const void *)resp;

    d->rc = rc;
    d->had_detail = out != NULL;
    snprintf(d->detail, sizeof d->detail, "%s", out != NULL ? out->text : "");
    snprintf(d->errmsg, sizeof d->errmsg, "%s", errmsg != NULL ? errmsg : "");
    atomic_store(&d->fired, 1);
}

/* One Fail call through libs/rpc's own client, taking the error detail as an EchoReply. */
static void
detail_call(ts *t, const char *text, const ProtobufCMessageDescriptor *err_desc, detail_res *d)
{
    char target[64];
    dyn_arena a;
    Dyne__Test__EchoRequest q = DYNE__TEST__ECHO_REQUEST__INIT;

    memset(d, 0, sizeof *d);
    dyn_arena_init(&a, 1 << 20);
    snprintf(target, sizeof target, "127.0.0.1:%d", t->port);
    dyn_rpc_client *c = dyn_rpc_client_new(target, 1);
    q.text = (char *)text;
    q.fail = DYN_ECONDFAIL;
    dyn_rpc_client_call_async_detail(c, "/dyne.test.Echo/Fail", &q.base,
                                     &dyne__test__echo_reply__descriptor, err_desc, 5000, &a,
                                     detail_done, d);
    for (int i = 0; i < 1000 && atomic_load(&d->fired) == 0; i++)
        sleep_ms(5);
    DT_EQ_INT(atomic_load(&d->fired), 1);
    dyn_rpc_client_free(c);
    dyn_arena_fini(&a);
}

static void
test_error_detail(void)
{
    ts t;
    detail_res d;

    ts_start(&t);
    /* the detail travels in dyn-error-bin and comes back unpacked */
    detail_call(&t, "detail:old item", &dyne__test__echo_reply__descriptor, &d);
    DT_EQ_INT(d.rc, DYN_ECONDFAIL);
    DT_EQ_STR(d.errmsg, "bad thing 7: detail:old item");
    DT_TRUE(d.had_detail);
    DT_EQ_STR(d.detail, "old item");
    /* a caller that takes no detail gets none; an error without one gives NULL */
    detail_call(&t, "detail:x", NULL, &d);
    DT_EQ_INT(d.rc, DYN_ECONDFAIL);
    DT_TRUE(!d.had_detail);
    detail_call(&t, "plain", &dyne__test__echo_reply__descriptor, &d);
    DT_EQ_INT(d.rc, DYN_ECONDFAIL);
    DT_TRUE(!d.had_detail);
    /* a recycled slot does not keep the previous call's detail */
    for (int i = 0; i < 6; i++) {
        detail_call(&t, i % 2 ? "detail:again" : "plain", &dyne__test__echo_reply__descriptor,
                    &d);
        DT_EQ_INT(d.had_detail, i % 2 == 1);
    }
    ts_stop(&t);
}

static void
test_unimplemented_and_unknown(void)
{
    ts t;
    tc c;
    Dyne__Test__EchoReply *r;

    ts_start(&t);
    echo_call(&t, &c, "Unimpl", "x", 0, 0, 0, &r);
    DT_EQ_INT(c.status, GRPC_STATUS_UNIMPLEMENTED);
    DT_EQ_STR(c.msg, "Unimpl is not implemented yet");
    DT_EQ_STR(c.err, "EUNIMPLEMENTED");
    DT_EQ_STR(c.err_type, "UnknownOperationException");
    /* unregistered paths must not hang: generic slots answer them; more calls than slots */
    for (int i = 0; i < 6; i++) {
        tc_begin(&c, t.ch, "/nope.v1.Nothing/Frob", "", 0, 5000, NULL, NULL);
        tc_end(&c);
        DT_EQ_INT(c.status, GRPC_STATUS_UNIMPLEMENTED);
        DT_EQ_STR(c.msg, "Frob is not implemented yet");
        DT_EQ_STR(c.err, "EUNIMPLEMENTED");
        free(c.reply);
    }
    ts_stop(&t);
}

static void
test_malformed_payload(void)
{
    static const char *bad[] = { "\xff\xff\xff\xff", "\x0a\x05" "ab", "\x0b" };
    static const size_t len[] = { 4, 4, 1 };
    ts t;
    tc c;

    ts_start(&t);
    for (int i = 0; i < 3; i++) {
        tc_begin(&c, t.ch, "/dyne.test.Echo/Echo", bad[i], len[i], 5000, NULL, NULL);
        tc_end(&c);
        DT_EQ_INT(c.status, GRPC_STATUS_INVALID_ARGUMENT);
        DT_EQ_STR(c.msg, "Malformed request body");
        DT_EQ_STR(c.err, "ESERIALIZATION");
        DT_EQ_STR(c.err_type, "SerializationException");
        free(c.reply);
    }
    ts_stop(&t);
}

static void
test_deferred_completion(void)
{
    ts t;
    tc c[6];
    Dyne__Test__EchoReply *r;

    ts_start(&t);
    echo_call(&t, &c[0], "Defer", "later", 30, 0, 5000, &r);
    DT_EQ_INT(c[0].status, GRPC_STATUS_OK);
    DT_TRUE(r != NULL && strcmp(r->text, "later") == 0 && !r->cancelled);
    if (r != NULL)
        dyne__test__echo_reply__free_unpacked(r, NULL);
    echo_call(&t, &c[0], "Defer", "no", 10, DYN_EUNAVAIL, 5000, &r);
    DT_EQ_INT(c[0].status, GRPC_STATUS_UNAVAILABLE);
    DT_EQ_STR(c[0].msg, "deferred failure");
    DT_EQ_STR(c[0].err, "EUNAVAIL");
    /* more concurrent deferred calls than slots (2 workers x 2), finishing out of order: the
     * extra ones wait in gRPC until a slot is recycled */
    for (int i = 0; i < 6; i++) {
        Dyne__Test__EchoRequest q = DYNE__TEST__ECHO_REQUEST__INIT;
        uint8_t buf[64];
        q.text = "many";
        q.delay_ms = 60 - 10 * i;
        tc_begin(&c[i], t.ch, "/dyne.test.Echo/Defer", buf, dyne__test__echo_request__pack(&q, buf),
                 5000, NULL, NULL);
    }
    for (int i = 0; i < 6; i++) {
        tc_end(&c[i]);
        DT_EQ_INT(c[i].status, GRPC_STATUS_OK);
        DT_TRUE(c[i].reply_len > 0);
        free(c[i].reply);
    }
    ts_stop(&t);
}

static grpc_status_code
health_check(ts *t, const char *svc, int *status)
{
    Grpc__Health__V1__HealthCheckRequest q = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    uint8_t buf[128];
    tc c;

    q.service = (char *)svc;
    tc_begin(&c, t->ch, "/grpc.health.v1.Health/Check", buf,
             grpc__health__v1__health_check_request__pack(&q, buf), 5000, NULL, NULL);
    tc_end(&c);
    *status = -1;
    if (c.reply != NULL) {
        Grpc__Health__V1__HealthCheckResponse *r =
            grpc__health__v1__health_check_response__unpack(NULL, c.reply_len, c.reply);
        if (r != NULL) {
            *status = r->status;
            grpc__health__v1__health_check_response__free_unpacked(r, NULL);
        }
    }
    free(c.reply);
    return c.status;
}

static void
test_health_check(void)
{
    ts t;
    int st;

    ts_start(&t);
    DT_EQ_INT(health_check(&t, "", &st), GRPC_STATUS_OK);
    DT_EQ_INT(st, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    DT_EQ_INT(health_check(&t, "dyne.test.Echo", &st), GRPC_STATUS_OK);
    DT_EQ_INT(st, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    DT_EQ_INT(health_check(&t, "no.such.Service", &st), GRPC_STATUS_NOT_FOUND);
    dyn_rpc_server_set_serving(t.s, "dyne.test.Echo", false);
    DT_EQ_INT(health_check(&t, "dyne.test.Echo", &st), GRPC_STATUS_OK);
    DT_EQ_INT(st, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    ts_stop(&t);
}

/* A Watch stream driven by hand: one batch to send the request, then one RECV_MESSAGE at a time. */
typedef struct {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
} watch;

static void
watch_open(ts *t, watch *w, const char *svc)
{
    Grpc__Health__V1__HealthCheckRequest q = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    uint8_t buf[128];
    grpc_slice s;
    grpc_byte_buffer *bb;
    grpc_op ops[4];

    memset(w, 0, sizeof *w);
    memset(ops, 0, sizeof ops);
    q.service = (char *)svc;
    s = grpc_slice_from_copied_buffer((const char *)buf,
                                      grpc__health__v1__health_check_request__pack(&q, buf));
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    w->cq = grpc_completion_queue_create_for_pluck(NULL);
    w->call = grpc_channel_create_call(
        t->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
        grpc_slice_from_static_string("/grpc.health.v1.Health/Watch"), NULL,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&w->init_md);
    grpc_metadata_array_init(&w->trail_md);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->init_md;
    DT_EQ_INT(grpc_call_start_batch(w->call, ops, 4, w, NULL), GRPC_CALL_OK);
    DT_EQ_INT(grpc_completion_queue_pluck(w->cq, w, deadline_in(5000), NULL).success, 1);
    grpc_byte_buffer_destroy(bb);
}

/* Next streamed status, or -1 when the stream ended. */
static int
watch_next(watch *w)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    int st = -1;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    DT_EQ_INT(grpc_call_start_batch(w->call, &op, 1, &bb, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_pluck(w->cq, &bb, deadline_in(5000), NULL);
    DT_EQ_INT(ev.type, GRPC_OP_COMPLETE);
    if (bb != NULL) {
        grpc_byte_buffer_reader r;
        grpc_byte_buffer_reader_init(&r, bb);
        grpc_slice s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        Grpc__Health__V1__HealthCheckResponse *m = grpc__health__v1__health_check_response__unpack(
            NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        if (m != NULL) {
            st = m->status;
            grpc__health__v1__health_check_response__free_unpacked(m, NULL);
        }
        grpc_slice_unref(s);
        grpc_byte_buffer_destroy(bb);
    }
    return st;
}

static grpc_status_code
watch_close(watch *w, bool cancel)
{
    grpc_op op;

    if (cancel)
        grpc_call_cancel(w->call, NULL);
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &w->trail_md;
    op.data.recv_status_on_client.status = &w->status;
    op.data.recv_status_on_client.status_details = &w->details;
    DT_EQ_INT(grpc_call_start_batch(w->call, &op, 1, w, NULL), GRPC_CALL_OK);
    DT_EQ_INT(grpc_completion_queue_pluck(w->cq, w, deadline_in(5000), NULL).type,
              GRPC_OP_COMPLETE);
    grpc_call_unref(w->call);
    grpc_slice_unref(w->details);
    grpc_metadata_array_destroy(&w->init_md);
    grpc_metadata_array_destroy(&w->trail_md);
    grpc_completion_queue_shutdown(w->cq);
    while (grpc_completion_queue_pluck(w->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(w->cq);
    return w->status;
}

static void
test_health_watch(void)
{
    enum {
        SERVING = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING,
        NOT_SERVING = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING,
        UNKNOWN = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN,
    };
    ts t;
    watch a, b, u;

    ts_start(&t);
    watch_open(&t, &a, "");
    DT_EQ_INT(watch_next(&a), SERVING);
    watch_open(&t, &b, "dyne.test.Echo");
    DT_EQ_INT(watch_next(&b), SERVING);
    watch_open(&t, &u, "not.yet.There");
    DT_EQ_INT(watch_next(&u), UNKNOWN);
    dyn_rpc_server_set_serving(t.s, "", false);
    DT_EQ_INT(watch_next(&a), NOT_SERVING);
    dyn_rpc_server_set_serving(t.s, "", true);
    DT_EQ_INT(watch_next(&a), SERVING);
    dyn_rpc_server_set_serving(t.s, "not.yet.There", true);
    DT_EQ_INT(watch_next(&u), SERVING);
    DT_EQ_INT(watch_close(&b, true), GRPC_STATUS_CANCELLED);   /* the client gives up */
    /* a drain tells watchers NOT_SERVING, then ends their streams cleanly */
    ts_wait_async(&t, 2000);
    dyn_rpc_server_stop(t.s);
    DT_EQ_INT(watch_next(&a), NOT_SERVING);
    DT_EQ_INT(watch_next(&a), -1);
    DT_EQ_INT(watch_close(&a, false), GRPC_STATUS_OK);
    DT_EQ_INT(watch_next(&u), NOT_SERVING);
    DT_EQ_INT(watch_close(&u, false), GRPC_STATUS_OK);
    ts_stop(&t);
}

static void
test_metrics_and_healthz(void)
{
    static char body[1 << 16];
    ts t;
    tc c;
    Dyne__Test__EchoReply *r;
    double before, after;
    dyn_rpc_counter *ctr, *gauge;

    ts_start(&t);
    DT_EQ_INT(http_get(t.http_port, "/healthz", body, sizeof body), 200);
    DT_EQ_STR(body, "ok\n");
    DT_EQ_INT(http_get(t.http_port, "/nope", body, sizeof body), 404);
    DT_EQ_INT(http_get(t.http_port, "/metrics", body, sizeof body), 200);
    before = metric_value(body, "dyn_rpc_requests_total{method=\"Echo\",code=\"OK\"}");
    for (int i = 0; i < 3; i++) {
        echo_call(&t, &c, "Echo", "m", 0, 0, 0, &r);
        dyne__test__echo_reply__free_unpacked(r, NULL);
    }
    echo_call(&t, &c, "Fail", "m", 0, DYN_ENOTABLE, 0, &r);
    ctr = dyn_rpc_counter_get("dyn_test_things_total", "kind=\"a\"", "Things counted by the test");
    dyn_rpc_counter_add(ctr, 5);
    dyn_rpc_counter_add(dyn_rpc_counter_get("dyn_test_things_total", "kind=\"a\"", NULL), 2);
    gauge = dyn_rpc_counter_get("dyn_test_level", "", "A level");
    dyn_rpc_gauge_set(gauge, -3);

    DT_EQ_INT(http_get(t.http_port, "/metrics", body, sizeof body), 200);
    after = metric_value(body, "dyn_rpc_requests_total{method=\"Echo\",code=\"OK\"}");
    DT_EQ_INT((long long)(after - (before < 0 ? 0 : before)), 3);
    DT_TRUE(metric_value(body, "dyn_rpc_requests_total{method=\"Fail\",code=\"NOT_FOUND\"}") >= 1);
    DT_TRUE(metric_value(body, "dyn_rpc_request_duration_seconds_count{method=\"Echo\"}") >= 3);
    DT_TRUE(metric_value(body, "dyn_rpc_request_duration_seconds_sum{method=\"Echo\"}") >= 0);
    DT_TRUE(strstr(body, "# TYPE dyn_rpc_requests_total counter\n") != NULL);
    DT_TRUE(strstr(body, "# TYPE dyn_rpc_request_duration_seconds summary\n") != NULL);
    DT_EQ_INT((long long)metric_value(body, "dyn_test_things_total{kind=\"a\"}"), 7);
    DT_EQ_INT((long long)metric_value(body, "dyn_test_level"), -3);
    DT_TRUE(strstr(body, "# TYPE dyn_test_level gauge\n") != NULL);
    ts_stop(&t);
}

static void
test_drain_waits_for_inflight(void)
{
    static char body[256];
    ts t;
    tc c, late;
    Dyne__Test__EchoRequest q = DYNE__TEST__ECHO_REQUEST__INIT;
    uint8_t buf[64];
    int code = 0;

    ts_start(&t);
    q.text = "drain";
    q.delay_ms = 600;
    tc_begin(&c, t.ch, "/dyne.test.Echo/Defer", buf, dyne__test__echo_request__pack(&q, buf), 5000,
             NULL, NULL);
    while (atomic_load(&g_deferred_running) == 0)   /* the handler has the call */
        sleep_ms(5);
    ts_wait_async(&t, 5000);
    dyn_rpc_server_stop(t.s);
    for (int i = 0; i < 100 && code != 503; i++) {   /* HTTP stays up while draining */
        code = http_get(t.http_port, "/healthz", body, sizeof body);
        sleep_ms(10);
    }
    DT_EQ_INT(code, 503);
    tc_end(&c);   /* the in-flight call still completes */
    DT_EQ_INT(c.status, GRPC_STATUS_OK);
    DT_TRUE(c.reply_len > 0);
    free(c.reply);
    pthread_join(t.waiter, NULL);
    /* the port is closed now */
    tc_begin(&late, t.ch, "/dyne.test.Echo/Echo", "", 0, 1000, NULL, NULL);
    tc_end(&late);
    DT_EQ_INT(late.status, GRPC_STATUS_UNAVAILABLE);
    free(late.reply);
    t.waiter = 0;   /* joined */
    t.grace_ms = 0;
    grpc_channel_destroy(t.ch);
    t.ch = NULL;
    while (atomic_load(&g_deferred_running) > 0)
        sleep_ms(5);
    dyn_rpc_server_free(t.s);
    grpc_shutdown();
}

static void
test_drain_grace_cancels(void)
{
    ts t;
    tc c;
    Dyne__Test__EchoRequest q = DYNE__TEST__ECHO_REQUEST__INIT;
    uint8_t buf[64];
    int64_t t0;

    ts_start(&t);
    atomic_store(&g_deferred_saw_cancel, false);
    q.text = "slow";
    q.delay_ms = 800;
    tc_begin(&c, t.ch, "/dyne.test.Echo/Defer", buf, dyne__test__echo_request__pack(&q, buf),
             10000, NULL, NULL);
    while (atomic_load(&g_deferred_running) == 0)
        sleep_ms(5);
    t0 = dyn_rpc_now_ms();
    ts_wait_async(&t, 100);
    dyn_rpc_server_stop(t.s);
    tc_end(&c);   /* cancelled by the server once the grace ran out, before the handler finished */
    DT_EQ_INT(c.status, GRPC_STATUS_UNAVAILABLE);   /* what grpc_server_cancel_all_calls sends */
    DT_TRUE(dyn_rpc_now_ms() - t0 < 700);
    free(c.reply);
    pthread_join(t.waiter, NULL);   /* returns once the deferred call is finished */
    DT_TRUE(atomic_load(&g_deferred_saw_cancel));
    t.waiter = 0;
    grpc_channel_destroy(t.ch);
    t.ch = NULL;
    while (atomic_load(&g_deferred_running) > 0)
        sleep_ms(5);
    dyn_rpc_server_free(t.s);
    grpc_shutdown();
}

static void
test_two_servers_and_free_without_wait(void)
{
    ts a, b;
    int st;

    ts_start(&a);
    ts_start(&b);
    DT_TRUE(a.port != b.port && a.http_port != b.http_port);
    DT_EQ_INT(health_check(&a, "", &st), GRPC_STATUS_OK);
    DT_EQ_INT(health_check(&b, "", &st), GRPC_STATUS_OK);
    grpc_channel_destroy(b.ch);
    dyn_rpc_server_free(b.s);   /* drains with no grace by itself */
    grpc_shutdown();
    ts_stop(&a);
}

static void
test_start_failure_cleans_up(void)
{
    dyn_rpc_server_opts o = { .listen = "127.0.0.1:0", .http_listen = "no-port-here" };
    dyn_rpc_server *s;
    int port = 0;

    s = dyn_rpc_server_new(&o);
    dyn_rpc_server_add_service(s, &dyne__test__echo__descriptor, echo_methods, NULL);
    DT_ERR(dyn_rpc_server_start(s, &port, NULL), DYN_EVALIDATION);
    dyn_rpc_server_wait(s, 0);   /* not started: returns at once */
    dyn_rpc_server_free(s);

    o.listen = "256.0.0.1:1";   /* the gRPC bind fails after the HTTP listener started */
    o.http_listen = "127.0.0.1:0";
    s = dyn_rpc_server_new(&o);
    DT_ERR(dyn_rpc_server_start(s, &port, NULL), DYN_EUNAVAIL);
    dyn_rpc_server_free(s);
}

/* ---- local calls ------------------------------------------------------------------------ */

typedef struct {          /* what one local call's done saw */
    atomic_int fired;     /* times done ran */
    dyn_err rc;
    char text[64], method[32], errmsg[128];
    bool had_resp, other_thread;
    pthread_t runner;     /* the thread that called dyn_rpc_local_run */
    dyn_rpc_call *free_me;   /* non-NULL: done frees the call itself */
} lres;

static void
local_done(void *arg, dyn_err rc, const ProtobufCMessage *resp, const char *errmsg)
{
    lres *r = arg;
    const Dyne__Test__EchoReply *out = (const void *)resp;

    r->rc = rc;
    r->had_resp = resp != NULL;
    if (out != NULL) {
        snprintf(r->text, sizeof r->text, "%s", out->text);
        snprintf(r->method, sizeof r->method, "%s", out->method);
    }
    snprintf(r->errmsg, sizeof r->errmsg, "%s", errmsg != NULL ? errmsg : "(null)");
    r->other_thread = !pthread_equal(pthread_self(), r->runner);
    if (r->free_me != NULL)
        dyn_rpc_local_free(r->free_me);
    atomic_fetch_add(&r->fired, 1);
}

/* Creates, decodes (fills an EchoRequest in the call's arena) and runs one local call. */
static dyn_rpc_call *
local_echo(ts *t, const char *method, const char *text, int delay_ms, int fail, lres *r,
           bool free_in_done)
{
    const ProtobufCMessageDescriptor *in = NULL;
    dyn_rpc_call *call = NULL;
    Dyne__Test__EchoRequest *q;

    memset(r, 0, sizeof *r);
    DT_OK(dyn_rpc_local_new(t->s, "dyne.test.Echo", method, &call, &in));
    DT_TRUE(in == &dyne__test__echo_request__descriptor);
    q = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *q);
    dyne__test__echo_request__init(q);
    q->text = dyn_arena_strdup(dyn_rpc_call_arena(call), text);
    q->delay_ms = delay_ms;
    q->fail = fail;
    r->runner = pthread_self();
    r->free_me = free_in_done ? call : NULL;
    dyn_rpc_local_run(call, &q->base, local_done, r);
    return free_in_done ? NULL : call;
}

static void
lres_wait(lres *r)
{
    for (int i = 0; i < 1000 && atomic_load(&r->fired) == 0; i++)
        sleep_ms(5);
    DT_EQ_INT(atomic_load(&r->fired), 1);
}

static void
test_local_calls(void)
{
    static char body[1 << 16];
    ts t;
    lres r;
    dyn_rpc_call *call;
    const ProtobufCMessageDescriptor *in;
    double ok_before, ok_after, inval, unimpl;

    ts_start(&t);
    DT_EQ_INT(http_get(t.http_port, "/metrics", body, sizeof body), 200);
    ok_before = metric_value(body, "dyn_rpc_requests_total{method=\"Echo\",code=\"OK\"}");

    /* synchronous: done runs before run returns, on this thread */
    call = local_echo(&t, "Echo", "local hi", 0, 0, &r, false);
    DT_EQ_INT(atomic_load(&r.fired), 1);
    DT_TRUE(!r.other_thread);
    DT_EQ_INT(r.rc, DYN_OK);
    DT_TRUE(r.had_resp);
    DT_EQ_STR(r.text, "local hi");
    DT_EQ_STR(r.method, "Echo");
    dyn_rpc_local_free(call);

    /* a local call's deadline counts down from dyn_rpc_local_set_deadline */
    {
        const ProtobufCMessageDescriptor *din = NULL;
        dyn_rpc_call *dc = NULL;
        DT_OK(dyn_rpc_local_new(t.s, "dyne.test.Echo", "Echo", &dc, &din));
        Dyne__Test__EchoRequest *dq = dyn_arena_alloc(dyn_rpc_call_arena(dc), sizeof *dq);
        dyne__test__echo_request__init(dq);
        dq->text = "deadline";
        dyn_rpc_local_set_deadline(dc, 5000);
        DT_TRUE(dyn_rpc_call_deadline_ms(dc) > 4000 && dyn_rpc_call_deadline_ms(dc) <= 5000);
        memset(&r, 0, sizeof r);
        r.runner = pthread_self();
        dyn_rpc_local_run(dc, &dq->base, local_done, &r);
        DT_EQ_INT(r.rc, DYN_OK);
        dyn_rpc_local_free(dc);
    }

    /* handler error: the message from dyn_rpc_call_fail */
    call = local_echo(&t, "Fail", "z", 0, DYN_EVALIDATION, &r, false);
    DT_EQ_INT(atomic_load(&r.fired), 1);
    DT_EQ_INT(r.rc, DYN_EVALIDATION);
    DT_TRUE(!r.had_resp);
    DT_EQ_STR(r.errmsg, "bad thing 7: z");
    DT_TRUE(dyn_rpc_call_error_detail(call) == NULL);
    dyn_rpc_local_free(call);
    call = local_echo(&t, "Fail", "detail:kept", 0, DYN_ECONDFAIL, &r, false);
    DT_EQ_INT(r.rc, DYN_ECONDFAIL);
    const Dyne__Test__EchoReply *det = (const void *)dyn_rpc_call_error_detail(call);
    DT_TRUE(det != NULL);
    if (det != NULL)
        DT_EQ_STR(det->text, "kept");
    dyn_rpc_local_free(call);

    /* deferred: done fires once, from the finisher's thread */
    call = local_echo(&t, "Defer", "later", 50, 0, &r, false);
    lres_wait(&r);
    DT_TRUE(r.other_thread);
    DT_EQ_INT(r.rc, DYN_OK);
    DT_EQ_STR(r.text, "later");
    dyn_rpc_local_free(call);
    call = local_echo(&t, "Defer", "x", 10, DYN_ECONDFAIL, &r, false);
    lres_wait(&r);
    DT_EQ_INT(r.rc, DYN_ECONDFAIL);
    DT_EQ_STR(r.errmsg, "deferred failure");
    dyn_rpc_local_free(call);

    /* a method without a handler, and names that are not methods at all */
    call = local_echo(&t, "Unimpl", "x", 0, 0, &r, false);
    DT_EQ_INT(r.rc, DYN_EUNIMPLEMENTED);
    DT_EQ_STR(r.errmsg, "Unimpl is not implemented yet");
    dyn_rpc_local_free(call);
    DT_ERR(dyn_rpc_local_new(t.s, "dyne.test.Echo", "Nope", &call, &in), DYN_EUNKNOWNOP);
    DT_TRUE(call == NULL);
    DT_ERR(dyn_rpc_local_new(t.s, "dyne.test.Ech", "Echo", &call, &in), DYN_EUNKNOWNOP);
    DT_ERR(dyn_rpc_local_new(t.s, "grpc.health.v1.Health", "Watch", &call, &in), DYN_EUNKNOWNOP);

    /* freed from inside done, synchronously and deferred: recycled once the run returns */
    local_echo(&t, "Echo", "self-free", 0, 0, &r, true);
    DT_EQ_INT(atomic_load(&r.fired), 1);
    local_echo(&t, "Defer", "self-free", 5, 0, &r, true);
    lres_wait(&r);

    /* rejected before the handler (undecodable request): counted, done never fires */
    DT_OK(dyn_rpc_local_new(t.s, "dyne.test.Echo", "Echo", &call, &in));
    dyn_rpc_local_reject(call, DYN_ESERIALIZATION);
    dyn_rpc_local_free(call);

    /* recycled calls start clean: many in a row reuse the free list */
    for (int i = 0; i < 200; i++) {
        char text[16];
        snprintf(text, sizeof text, "n%d", i);
        call = local_echo(&t, "Echo", text, 0, 0, &r, false);
        DT_EQ_STR(r.text, text);
        dyn_rpc_local_free(call);
    }

    DT_EQ_INT(http_get(t.http_port, "/metrics", body, sizeof body), 200);
    ok_after = metric_value(body, "dyn_rpc_requests_total{method=\"Echo\",code=\"OK\"}");
    DT_EQ_INT((long long)(ok_after - (ok_before < 0 ? 0 : ok_before)), 203);   /* 1 + deadline + self-free + 200 */
    inval = metric_value(body, "dyn_rpc_requests_total{method=\"Echo\",code=\"INVALID_ARGUMENT\"}");
    DT_TRUE(inval >= 1);
    unimpl = metric_value(body, "dyn_rpc_requests_total{method=\"Unimpl\",code=\"UNIMPLEMENTED\"}");
    DT_TRUE(unimpl >= 1);
    DT_TRUE(metric_value(body, "dyn_rpc_requests_total{method=\"_unknown\",code=\"UNIMPLEMENTED\"}") >= 3);
    ts_stop(&t);
}

static void
test_local_calls_drain(void)
{
    ts t;
    lres r;
    dyn_rpc_call *call, *late = NULL;
    const ProtobufCMessageDescriptor *in;

    /* not started yet: refused */
    dyn_rpc_server_opts o = { .listen = "127.0.0.1:0" };
    dyn_rpc_server *idle = dyn_rpc_server_new(&o);
    dyn_rpc_server_add_service(idle, &dyne__test__echo__descriptor, echo_methods, NULL);
    DT_ERR(dyn_rpc_local_new(idle, "dyne.test.Echo", "Echo", &call, &in), DYN_EUNAVAIL);
    dyn_rpc_server_free(idle);

    ts_start(&t);
    call = local_echo(&t, "Defer", "drain", 1500, 0, &r, false);
    ts_wait_async(&t, 5000);
    dyn_rpc_server_stop(t.s);
    /* once draining, no new local call starts */
    for (int i = 0; i < 100; i++) {
        if (dyn_rpc_local_new(t.s, "dyne.test.Echo", "Echo", &late, &in) == DYN_EUNAVAIL)
            break;
        dyn_rpc_local_free(late);
        late = NULL;
        sleep_ms(5);
    }
    DT_ERR(dyn_rpc_local_new(t.s, "dyne.test.Echo", "Echo", &late, &in), DYN_EUNAVAIL);
    DT_EQ_INT(atomic_load(&r.fired), 0);   /* the drain is waiting for it */
    lres_wait(&r);
    DT_EQ_INT(r.rc, DYN_OK);
    sleep_ms(50);
    /* still counted in flight until freed: the drain has not finished */
    DT_TRUE(!atomic_load(&g_wait_returned));
    dyn_rpc_local_free(call);
    pthread_join(t.waiter, NULL);
    t.waiter = 0;
    grpc_channel_destroy(t.ch);
    t.ch = NULL;
    while (atomic_load(&g_deferred_running) > 0)
        sleep_ms(5);
    dyn_rpc_server_free(t.s);
    grpc_shutdown();
}

DT_MAIN({ "success, metadata, deadline", test_success_metadata_deadline },
        { "handler error carries dyn-err", test_handler_error },
        { "error detail in dyn-error-bin", test_error_detail },
        { "unimplemented method and unknown path", test_unimplemented_and_unknown },
        { "malformed payload", test_malformed_payload },
        { "deferred completion from another thread", test_deferred_completion },
        { "health Check", test_health_check },
        { "health Watch", test_health_watch },
        { "/metrics and /healthz", test_metrics_and_healthz },
        { "drain waits for in-flight calls", test_drain_waits_for_inflight },
        { "drain cancels after the grace period", test_drain_grace_cancels },
        { "two servers; free without wait", test_two_servers_and_free_without_wait },
        { "start failure cleans up", test_start_failure_cleans_up },
        { "local calls", test_local_calls },
        { "local calls and the drain", test_local_calls_drain })
