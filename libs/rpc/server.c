/* libs/rpc -- the gRPC server: a method table from protobuf-c service descriptors, one completion
 * queue per worker thread with call slots pre-armed per method, deferred completion, drain. */
#include "libs/rpc/rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include "libs/log/log.h"
#include "libs/rpc/rpc_int.h"
#include "proto/grpc/health/v1/health.pb-c.h"

#define DEFAULT_WORKERS 2
#define DEFAULT_SLOTS 8
#define DEFAULT_ARENA_LIMIT ((size_t)64 << 20)
#define DEFAULT_MAX_MESSAGE ((size_t)32 << 20)
#define WAIT_TICK_MS 200                  /* how often dyn_rpc_server_wait looks at the flags */
#define WAIT_POLL_MS 5                    /* how often the drain looks at the in-flight count */
#define SLOTS_SMALL 2                     /* per worker for health and unknown paths */
#define ST_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define ST_NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define LOCAL_KEEP 64                     /* recycled local calls kept (with their arena chunk) */

static volatile sig_atomic_t g_sigterm;   /* set by the SIGTERM/SIGINT handler only */

/* ---- call slots ------------------------------------------------------------------------- */

static void
batch_or_die(dyn_rpc_call *c, const grpc_op *ops, size_t n, rpc_tag *tag)
{
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);

    /* Only misuse fails here (two sends at once, a second status): a bug in this library, and
     * limping on would leave a call no one will ever complete, wedging the drain. */
    if (e != GRPC_CALL_OK) {
        dyn_log(DYN_LOG_ERROR, "RPC-BATCH", "method=%s grpc_call_error=%d", c->m->name, (int)e);
        abort();
    }
}

static void
call_arm(dyn_rpc_call *c)
{
    grpc_server *srv = c->w->s->srv;
    grpc_completion_queue *cq = c->w->cq;
    grpc_call_error e;

    c->state = CALL_WAIT_REQUEST;
    if (c->m->kind == METHOD_GENERIC)
        e = grpc_server_request_call(srv, &c->call, &c->details, &c->req_md, cq, cq, &c->tag);
    else
        e = grpc_server_request_registered_call(srv, c->m->reg, &c->call, &c->deadline,
                                                &c->req_md, &c->req_payload, cq, cq, &c->tag);
    if (e != GRPC_CALL_OK) {   /* the server is going away; no completion will come */
        c->state = CALL_IDLE;
        if (!atomic_load(&c->w->s->stopping))
            dyn_log(DYN_LOG_ERROR, "RPC-ARM", "method=%s grpc_call_error=%d", c->m->name, (int)e);
    }
}

static void
call_init(dyn_rpc_call *c, rpc_worker *w, rpc_method *m, size_t arena_limit)
{
    memset(c, 0, sizeof *c);
    c->w = w;
    c->m = m;
    c->tag = (rpc_tag){ c, false };
    c->close_tag = (rpc_tag){ c, true };
    grpc_metadata_array_init(&c->req_md);
    grpc_call_details_init(&c->details);
    c->status_details = grpc_empty_slice();
    atomic_init(&c->cancelled, false);
    atomic_init(&c->finished, false);
    dyn_arena_init(&c->arena, arena_limit);
}

/* Drops everything one RPC held; the slot keeps its arena's first chunk for the next one. */
static void
call_reset(dyn_rpc_call *c)
{
    if (c->call != NULL) {
        grpc_call_unref(c->call);
        c->call = NULL;
    }
    grpc_metadata_array_destroy(&c->req_md);
    grpc_metadata_array_init(&c->req_md);
    grpc_call_details_destroy(&c->details);
    grpc_call_details_init(&c->details);
    grpc_byte_buffer_destroy(c->req_payload);   /* NULL is fine */
    grpc_byte_buffer_destroy(c->resp_payload);
    c->req_payload = c->resp_payload = NULL;
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_empty_slice();
    grpc_slice_unref(c->trailer[2].value);   /* a zeroed slice (none sent) is fine */
    c->trailer[2].value = grpc_empty_slice();
    c->close_cancelled = 0;
    atomic_store(&c->cancelled, false);
    atomic_store(&c->finished, false);
    c->status_done = c->close_done = c->deferred = false;
    c->errmsg = NULL;
    c->err_detail = NULL;
    c->table = NULL;
    c->watch_svc = NULL;
    c->watch_sent = -1;
    c->watch_busy = c->watch_final = false;
    c->watch_next = NULL;
    dyn_arena_reset(&c->arena);
    c->state = CALL_IDLE;
}

static void
call_fini(dyn_rpc_call *c)
{
    call_reset(c);
    grpc_metadata_array_destroy(&c->req_md);
    grpc_call_details_destroy(&c->details);
    dyn_arena_fini(&c->arena);
}

static dyn_rpc_counter *
requests_counter(rpc_method *m, grpc_status_code st)
{
    int i = (int)st >= 0 && (int)st < DYN_RPC_NCODES ? (int)st : GRPC_STATUS_UNKNOWN;
    dyn_rpc_counter *c = atomic_load_explicit(&m->requests[i], memory_order_acquire);

    if (c == NULL) {   /* first use of this code: the registry hands every thread the same one */
        char labels[256];
        snprintf(labels, sizeof labels, "method=\"%s\",code=\"%s\"", m->name,
                 dyn_rpc_code_name((grpc_status_code)i));
        c = rpc_metric_get("dyn_rpc_requests_total", "", labels,
                           "gRPC requests served, by method and status code", METRIC_COUNTER);
        atomic_store_explicit(&m->requests[i], c, memory_order_release);
    }
    return c;
}

void
rpc_call_send_message(dyn_rpc_call *c, grpc_byte_buffer *payload, bool initial_md)
{
    grpc_op ops[2];
    size_t n = 0;

    memset(ops, 0, sizeof ops);
    if (initial_md)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    c->resp_payload = payload;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = payload;
    batch_or_die(c, ops, n, &c->tag);
}

void
rpc_call_send_status(dyn_rpc_call *c, dyn_err rc, const char *msg, grpc_byte_buffer *payload,
                     bool initial_md)
{
    grpc_status_code st = dyn_rpc_status(rc);
    grpc_op ops[3];
    size_t n = 0;

    memset(ops, 0, sizeof ops);
    if (initial_md)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (payload != NULL) {
        c->resp_payload = payload;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = payload;
    }
    c->status_details = grpc_slice_from_copied_string(msg != NULL ? msg : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = st;
    ops[n].data.send_status_from_server.status_details = &c->status_details;
    if (rc != DYN_OK) {   /* the status code alone loses detail: name the exact error */
        c->trailer[0].key = grpc_slice_from_static_string(DYN_RPC_MD_ERR);
        c->trailer[0].value = grpc_slice_from_static_string(dyn_err_name(rc));
        c->trailer[1].key = grpc_slice_from_static_string(DYN_RPC_MD_ERR_TYPE);
        c->trailer[1].value = grpc_slice_from_static_string(dyn_err_type(rc));
        ops[n].data.send_status_from_server.trailing_metadata_count = 2;
        ops[n].data.send_status_from_server.trailing_metadata = c->trailer;
        if (c->err_detail != NULL) {   /* binary metadata: gRPC base64s it on the wire */
            size_t len = protobuf_c_message_get_packed_size(c->err_detail);
            grpc_slice v = grpc_slice_malloc(len);
            protobuf_c_message_pack(c->err_detail, GRPC_SLICE_START_PTR(v));
            c->trailer[2].key = grpc_slice_from_static_string(DYN_RPC_MD_ERR_DETAIL);
            c->trailer[2].value = v;
            ops[n].data.send_status_from_server.trailing_metadata_count = 3;
        }
    }
    n++;
    atomic_store(&c->finished, true);
    /* metrics before the batch: once it is started the slot may be recycled under us */
    dyn_rpc_counter_add(requests_counter(c->m, st), 1);
    if (c->m->dur_sum != NULL) {
        uint64_t us = (uint64_t)(dyn_rpc_mono_ns() - c->start_ns) / 1000;
        dyn_rpc_counter_add(c->m->dur_sum, us);
        dyn_rpc_counter_add(c->m->dur_count, 1);
        rpc_reqstats_record(c->m->name, c->table, rc, us);
    }
    batch_or_die(c, ops, n, &c->tag);
}

/* ---- local calls ------------------------------------------------------------------------ */

/* The request counter and duration of a local call, as rpc_call_send_status counts gRPC calls. */
static void
local_count(dyn_rpc_call *c, dyn_err rc)
{
    uint64_t us = (uint64_t)(dyn_rpc_mono_ns() - c->start_ns) / 1000;
    dyn_rpc_counter_add(requests_counter(c->m, dyn_rpc_status(rc)), 1);
    dyn_rpc_counter_add(c->m->dur_sum, us);
    dyn_rpc_counter_add(c->m->dur_count, 1);
    rpc_reqstats_record(c->m->name, c->table, rc, us);
}

/* Back to the free list (or freed), then out of the in-flight count: the drain may finish and
 * free the server as soon as that drops, so it goes last. */
static void
local_release(dyn_rpc_call *c)
{
    dyn_rpc_server *s = c->local_srv;

    dyn_arena_reset(&c->arena);
    c->m = NULL;
    c->errmsg = NULL;
    c->err_detail = NULL;
    c->table = NULL;
    c->deferred = false;
    c->local_done = NULL;
    c->local_arg = NULL;
    atomic_store(&c->finished, false);
    atomic_store(&c->local_state, LOCAL_NEW);
    pthread_mutex_lock(&s->local_mu);
    if (s->nlocal_free < LOCAL_KEEP) {
        c->local_next = s->local_free;
        s->local_free = c;
        s->nlocal_free++;
        c = NULL;
    }
    pthread_mutex_unlock(&s->local_mu);
    if (c != NULL) {
        dyn_arena_fini(&c->arena);
        free(c);
    }
    atomic_fetch_sub(&s->inflight, 1);
}

/* The end of a local call's handler: count it, then hand the result to `done`. LOCAL_DONE is set
 * first because done may free the call (dyn_rpc_local_free then waits for the run to return). */
static void
local_complete(dyn_rpc_call *c, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    dyn_rpc_local_done_fn done = c->local_done;
    void *arg = c->local_arg;

    atomic_store(&c->finished, true);
    local_count(c, rc);
    if (rc != DYN_OK && errmsg == NULL)
        errmsg = c->errmsg;
    atomic_fetch_or(&c->local_state, LOCAL_BIT_DONE);
    done(arg, rc, rc == DYN_OK ? resp : NULL, rc == DYN_OK ? NULL : errmsg);
}

/* The request's TableName (when its type has one) labels the call's metrics. */
static void
call_table_from(dyn_rpc_call *c, const ProtobufCMessage *req)
{
    const ProtobufCFieldDescriptor *f = c->m->table_field;
    if (f != NULL && req != NULL)
        c->table = *(const char *const *)((const char *)req + f->offset);
}

/* Ends a unary call: the reply on DYN_OK, else the status, message and dyn-err metadata. */
static void
call_complete(dyn_rpc_call *c, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    grpc_byte_buffer *payload = NULL;
    const char *msg = "";

    if (rc == DYN_OK && resp != NULL && resp->descriptor != c->m->desc->output) {
        rc = DYN_EINTERNAL;
        errmsg = "handler replied with the wrong message type";
        dyn_log(DYN_LOG_ERROR, "RPC-REPLY-TYPE", "method=%s type=%s", c->m->name,
                resp->descriptor->name);
    }
    if (c->local_srv != NULL) {
        local_complete(c, rc, resp, errmsg);
        return;
    }
    if (rc == DYN_OK)
        payload = dyn_rpc_pack(resp);
    else
        msg = errmsg != NULL ? errmsg : c->errmsg != NULL ? c->errmsg : dyn_err_type(rc);
    rpc_call_send_status(c, rc, msg, payload, true);
}

/* The last path element of an unregistered call, for "<Op> is not implemented yet". */
static const char *
generic_op(dyn_rpc_call *c)
{
    size_t len = GRPC_SLICE_LENGTH(c->details.method);
    const char *p = (const char *)GRPC_SLICE_START_PTR(c->details.method);
    const char *slash = len > 0 ? memrchr(p, '/', len) : NULL;

    if (slash != NULL) {
        len -= (size_t)(slash + 1 - p);
        p = slash + 1;
    }
    return dyn_arena_strndup(&c->arena, p, len);
}

/* A request arrived on slot c: read it, run the handler, start the reply. Never blocks. */
static void
call_serve(dyn_rpc_call *c)
{
    rpc_method *m = c->m;
    ProtobufCMessage *req = NULL, *resp = NULL;
    grpc_op close_op;
    dyn_err rc;

    c->state = CALL_ACTIVE;
    c->start_ns = dyn_rpc_mono_ns();
    atomic_fetch_add(&c->w->s->inflight, 1);
    if (m->kind == METHOD_GENERIC)
        c->deadline = c->details.deadline;
    /* The close batch goes first: cancellation becomes visible to deferred work, and once the
     * handler runs, only the reply batch is left to start, from whichever thread finishes. */
    memset(&close_op, 0, sizeof close_op);
    close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    close_op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    batch_or_die(c, &close_op, 1, &c->close_tag);

    if (m->kind == METHOD_GENERIC) {
        const char *op = generic_op(c);
        rpc_call_send_status(c, DYN_EUNIMPLEMENTED,
                             op != NULL ? dyn_arena_printf(&c->arena, "%s is not implemented yet",
                                                           op)
                                        : "not implemented",
                             NULL, true);
        return;
    }
    if (m->kind == METHOD_UNARY && m->handler == NULL) {
        char *msg = dyn_arena_printf(&c->arena, "%s is not implemented yet", m->name);
        call_complete(c, DYN_EUNIMPLEMENTED, NULL, msg);
        return;
    }
    rc = dyn_rpc_unpack(c->req_payload, m->desc->input, &c->arena, &req);
    if (rc != DYN_OK) {
        call_complete(c, rc, NULL,
                      rc == DYN_ESERIALIZATION ? "Malformed request body" : "request too large");
        return;
    }
    if (m->kind == METHOD_HEALTH_WATCH) {
        rpc_health_watch_start(c, req);
        return;
    }
    call_table_from(c, req);
    rc = m->handler(c, req, &resp, m->ctx);
    /* Deferred: the call now belongs to whoever calls dyn_rpc_call_finish, maybe already on
     * another thread; touch nothing more. The slot is recycled when its batches complete here. */
    if (c->deferred)
        return;
    call_complete(c, rc, resp, NULL);
}

static void
call_event(dyn_rpc_call *c, bool close, bool ok)
{
    rpc_worker *w = c->w;

    if (close) {
        /* ok is false only if the call died before closing; treat both as cancellation */
        atomic_store(&c->cancelled, c->close_cancelled != 0 || !ok);
        c->close_done = true;
        if (c->watch_svc != NULL)
            rpc_health_watch_event(c, true, ok);
    } else if (c->state == CALL_WAIT_REQUEST) {
        if (!ok) {   /* the server shut down with this request outstanding */
            c->state = CALL_IDLE;
            return;
        }
        call_serve(c);
    } else if (c->state == CALL_ACTIVE) {
        if (c->watch_svc != NULL)   /* a Watch stream; an early error is a plain status */
            rpc_health_watch_event(c, false, ok);
        else
            c->status_done = true;
    }
    /* both batches done: nothing of this RPC can touch the slot any more */
    if (c->state == CALL_ACTIVE && c->status_done && c->close_done) {
        call_reset(c);
        /* under the read lock: once the drain has set `stopping` and unlocked, no arm can reach
         * a server that grpc_server_destroy may be freeing */
        pthread_rwlock_rdlock(&w->s->arm_lock);
        if (!atomic_load(&w->s->stopping))
            call_arm(c);
        pthread_rwlock_unlock(&w->s->arm_lock);
        atomic_fetch_sub(&w->s->inflight, 1);
    }
}

static void *
worker_main(void *arg)
{
    rpc_worker *w = arg;

    for (;;) {
        /* no tick needed: the drain shuts this queue down, which wakes us with QUEUE_SHUTDOWN */
        grpc_event ev = grpc_completion_queue_next(w->cq, dyn_rpc_tick(-1), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        rpc_tag *t = ev.tag;
        call_event(t->call, t->close, ev.success != 0);
    }
    return NULL;
}

/* ---- server lifecycle ------------------------------------------------------------------- */

static rpc_method *
method_new(dyn_rpc_server *s, const char *path, const char *name)
{
    rpc_method *m = dyn_xcalloc(1, sizeof *m);
    char labels[256];

    m->path = dyn_xstrdup(path);
    m->name = name;
    for (int i = 0; i < DYN_RPC_NCODES; i++)
        atomic_init(&m->requests[i], NULL);
    snprintf(labels, sizeof labels, "method=\"%s\"", name);
    m->dur_sum = rpc_metric_get("dyn_rpc_request_duration_seconds", "_sum", labels,
                                "Time from request arrival to the status being sent",
                                METRIC_SUM_US);
    m->dur_count = rpc_metric_get("dyn_rpc_request_duration_seconds", "_count", labels,
                                  "Time from request arrival to the status being sent",
                                  METRIC_SUM_COUNT);
    s->methods = dyn_xrealloc(s->methods, (s->nmethods + 1) * sizeof *s->methods);
    s->methods[s->nmethods++] = m;
    return m;
}

dyn_rpc_server *
dyn_rpc_server_new(const dyn_rpc_server_opts *opts)
{
    dyn_rpc_server *s = dyn_xcalloc(1, sizeof *s);

    s->opts = *opts;
    s->opts.listen = dyn_xstrdup(opts->listen != NULL ? opts->listen : "0.0.0.0:0");
    s->opts.http_listen = opts->http_listen != NULL ? dyn_xstrdup(opts->http_listen) : NULL;
    if (s->opts.workers <= 0)
        s->opts.workers = DEFAULT_WORKERS;
    if (s->opts.slots_per_worker <= 0)
        s->opts.slots_per_worker = DEFAULT_SLOTS;
    if (s->opts.arena_limit == 0)
        s->opts.arena_limit = DEFAULT_ARENA_LIMIT;
    if (s->opts.max_message == 0)
        s->opts.max_message = DEFAULT_MAX_MESSAGE;
    pthread_rwlock_init(&s->arm_lock, NULL);
    pthread_mutex_init(&s->local_mu, NULL);
    atomic_init(&s->stopping, false);
    atomic_init(&s->serving, false);
    atomic_init(&s->inflight, 0);
    dyn_rpc_init();
    rpc_health_init(&s->health);
    rpc_health_add_service(s);
    return s;
}

void
dyn_rpc_server_add_service(dyn_rpc_server *s, const ProtobufCServiceDescriptor *svc,
                           const dyn_rpc_method *methods, void *ctx)
{
    for (unsigned i = 0; i < svc->n_methods; i++) {
        const ProtobufCMethodDescriptor *md = &svc->methods[i];
        char path[512];
        rpc_method *m;

        snprintf(path, sizeof path, "/%s/%s", svc->name, md->name);
        m = method_new(s, path, md->name);
        m->desc = md;
        /* requests that name one table label their metrics with it (set before the handler;
         * a handler may name another with dyn_rpc_call_set_table) */
        m->table_field = protobuf_c_message_descriptor_get_field_by_name(md->input, "TableName");
        if (m->table_field != NULL && (m->table_field->type != PROTOBUF_C_TYPE_STRING ||
                                       m->table_field->label == PROTOBUF_C_LABEL_REPEATED))
            m->table_field = NULL;
        m->ctx = ctx;
        m->kind = METHOD_UNARY;
        m->slots = s->opts.slots_per_worker;
        for (const dyn_rpc_method *h = methods; h != NULL && h->name != NULL; h++)
            if (strcmp(h->name, md->name) == 0)
                m->handler = h->handler;
    }
    /* a service's own name reports through Health once the server starts */
    rpc_health_set(&s->health, svc->name, ST_NOT_SERVING);
}

static void
cq_drain_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, dyn_rpc_tick(-1), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

/* Undoes a start that failed before grpc_server_start. */
static void
start_undo(dyn_rpc_server *s)
{
    rpc_http_stop(s->http);
    s->http = NULL;
    if (s->srv != NULL)
        grpc_server_destroy(s->srv);
    s->srv = NULL;
    for (int i = 0; s->workers != NULL && i < s->opts.workers; i++)
        if (s->workers[i].cq != NULL)
            cq_drain_destroy(s->workers[i].cq);
    DYN_FREE(s->workers);
    if (s->shutdown_cq != NULL)
        cq_drain_destroy(s->shutdown_cq);
    s->shutdown_cq = NULL;
}

dyn_err
dyn_rpc_server_start(dyn_rpc_server *s, int *port, int *http_port)
{
    grpc_arg arg = { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH };
    grpc_channel_args args = { .num_args = 1, .args = &arg };
    grpc_server_credentials *creds;
    rpc_method *generic;
    int bound, hport = 0;
    dyn_err rc = DYN_OK;

    if (s->started)
        return DYN_EINTERNAL;
    arg.value.integer = s->opts.max_message > INT32_MAX ? INT32_MAX : (int)s->opts.max_message;
    /* unregistered paths land in generic slots that answer UNIMPLEMENTED instead of hanging */
    generic = method_new(s, "", "_unknown");
    generic->kind = METHOD_GENERIC;
    generic->slots = SLOTS_SMALL;
    s->srv = grpc_server_create(&args, NULL);
    for (size_t i = 0; i < s->nmethods; i++) {
        rpc_method *m = s->methods[i];
        if (m->kind == METHOD_GENERIC)
            continue;
        m->reg = grpc_server_register_method(s->srv, m->path, NULL,
                                             GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (m->reg == NULL) {
            dyn_log(DYN_LOG_ERROR, "RPC-REGISTER", "path=%s (registered twice?)", m->path);
            rc = DYN_EINTERNAL;
            goto out;
        }
    }
    s->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->srv, s->shutdown_cq, NULL);
    s->workers = dyn_xcalloc((size_t)s->opts.workers, sizeof *s->workers);
    for (int i = 0; i < s->opts.workers; i++) {
        s->workers[i].s = s;
        s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->srv, s->workers[i].cq, NULL);
    }
    /* HTTP first: a gRPC server with a bound port cannot be destroyed without a shutdown */
    if (s->opts.http_listen != NULL &&
        (rc = rpc_http_start(s->opts.http_listen, &s->serving, &s->http, &hport)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "RPC-HTTP-BIND", "listen=%s err=%s", s->opts.http_listen,
                dyn_err_name(rc));
        goto out;
    }
    creds = grpc_insecure_server_credentials_create();
    bound = grpc_server_add_http2_port(s->srv, s->opts.listen, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        dyn_log(DYN_LOG_ERROR, "RPC-BIND", "listen=%s", s->opts.listen);
        rc = DYN_EUNAVAIL;
        goto out;
    }
    grpc_server_start(s->srv);
    s->started = true;

    for (int i = 0; i < s->opts.workers; i++) {
        rpc_worker *w = &s->workers[i];
        size_t n = 0;
        for (size_t j = 0; j < s->nmethods; j++)
            n += (size_t)s->methods[j]->slots;
        w->calls = dyn_xcalloc(n, sizeof *w->calls);
        for (size_t j = 0; j < s->nmethods; j++) {
            for (int k = 0; k < s->methods[j]->slots; k++) {
                call_init(&w->calls[w->ncalls], w, s->methods[j], s->opts.arena_limit);
                call_arm(&w->calls[w->ncalls++]);
            }
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fputs("dyn: cannot start an rpc worker thread\n", stderr);
            abort();   /* like out-of-memory: the pod restarts */
        }
        w->running = true;
    }
    /* "" (the whole server) and every service start SERVING; the service may say otherwise */
    rpc_health_set(&s->health, "", ST_SERVING);
    pthread_mutex_lock(&s->health.mu);
    for (size_t i = 0; i < s->health.n; i++)
        s->health.v[i].status = ST_SERVING;
    pthread_mutex_unlock(&s->health.mu);
    atomic_store(&s->serving, true);
    *port = bound;
    if (http_port != NULL)
        *http_port = hport;
    dyn_log(DYN_LOG_INFO, "RPC-LISTEN", "port=%d http_port=%d workers=%d methods=%zu", bound,
            hport, s->opts.workers, s->nmethods - 1);
out:
    if (rc != DYN_OK)
        start_undo(s);
    return rc;
}

void
dyn_rpc_server_stop(dyn_rpc_server *s)
{
    s->stop = 1;
}

bool
dyn_rpc_stopping(void)
{
    return g_sigterm != 0;
}

static void
on_signal(int sig)
{
    (void)sig;
    g_sigterm = 1;
}

void
dyn_rpc_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;   /* a peer hanging up must not kill the process */
    sigaction(SIGPIPE, &sa, NULL);
}

void
dyn_rpc_server_wait(dyn_rpc_server *s, int grace_ms)
{
    static int shutdown_tag;
    struct timespec tick = { .tv_sec = 0, .tv_nsec = WAIT_TICK_MS * 1000000L };
    struct timespec poll_ts = { .tv_sec = 0, .tv_nsec = WAIT_POLL_MS * 1000000L };
    int64_t deadline_ns;

    if (!s->started || s->drained)
        return;
    while (!g_sigterm && !s->stop)
        nanosleep(&tick, NULL);
    dyn_log(DYN_LOG_INFO, "RPC-DRAIN", "grace_ms=%d", grace_ms);
    deadline_ns = dyn_rpc_mono_ns() + (int64_t)(grace_ms < 0 ? 0 : grace_ms) * 1000000;
    atomic_store(&s->serving, false);
    rpc_health_shutdown(&s->health);   /* probes see NOT_SERVING; Watch streams end */
    pthread_rwlock_wrlock(&s->arm_lock);
    atomic_store(&s->stopping, true);
    pthread_rwlock_unlock(&s->arm_lock);
    grpc_server_shutdown_and_notify(s->srv, s->shutdown_cq, &shutdown_tag);
    /* gRPC's notification means no call is left in its hands, but a deferred call may still
     * wait for dyn_rpc_call_finish, and every slot must see its completions before the queues
     * go: `inflight` counts slots not yet recycled. */
    while (atomic_load(&s->inflight) > 0 && dyn_rpc_mono_ns() < deadline_ns)
        nanosleep(&poll_ts, NULL);
    if (atomic_load(&s->inflight) > 0)
        dyn_log(DYN_LOG_WARN, "RPC-DRAIN-CANCEL", "grace_ms=%d expired; cancelling %d calls",
                grace_ms, atomic_load(&s->inflight));
    /* Once none of our calls is left (or the grace is over), cancel whatever gRPC still holds:
     * without it the notification can wait for idle client connections to go away, which takes
     * the whole grace period although nothing is in flight. */
    grpc_server_cancel_all_calls(s->srv);
    (void)grpc_completion_queue_next(s->shutdown_cq, dyn_rpc_tick(-1), NULL);
    /* cancelled calls complete at once; deferred ones once their owner calls finish */
    for (int64_t waited_ms = 0; atomic_load(&s->inflight) > 0; waited_ms += WAIT_POLL_MS) {
        if (waited_ms > 0 && waited_ms % 5000 == 0)
            dyn_log(DYN_LOG_WARN, "RPC-DRAIN-STUCK", "inflight=%d (deferred calls not finished)",
                    atomic_load(&s->inflight));
        nanosleep(&poll_ts, NULL);
    }
    grpc_server_destroy(s->srv);
    s->srv = NULL;
    for (int i = 0; i < s->opts.workers; i++)
        grpc_completion_queue_shutdown(s->workers[i].cq);
    for (int i = 0; i < s->opts.workers; i++) {
        if (s->workers[i].running)
            pthread_join(s->workers[i].thread, NULL);
        s->workers[i].running = false;
        grpc_completion_queue_destroy(s->workers[i].cq);
        s->workers[i].cq = NULL;
    }
    cq_drain_destroy(s->shutdown_cq);
    s->shutdown_cq = NULL;
    rpc_http_stop(s->http);
    s->http = NULL;
    s->drained = true;
    dyn_log(DYN_LOG_INFO, "RPC-DRAINED", "port closed");
}

void
dyn_rpc_server_free(dyn_rpc_server *s)
{
    if (s == NULL)
        return;
    if (s->started && !s->drained) {
        s->stop = 1;
        dyn_rpc_server_wait(s, 0);
    }
    for (int i = 0; s->workers != NULL && i < s->opts.workers; i++) {
        for (size_t j = 0; j < s->workers[i].ncalls; j++)
            call_fini(&s->workers[i].calls[j]);
        free(s->workers[i].calls);
    }
    free(s->workers);
    for (size_t i = 0; i < s->nmethods; i++) {
        free(s->methods[i]->path);
        free(s->methods[i]);
    }
    free(s->methods);
    rpc_health_fini(&s->health);
    pthread_rwlock_destroy(&s->arm_lock);
    while (s->local_free != NULL) {
        dyn_rpc_call *c = s->local_free;
        s->local_free = c->local_next;
        dyn_arena_fini(&c->arena);
        free(c);
    }
    pthread_mutex_destroy(&s->local_mu);
    free((char *)s->opts.listen);
    free((char *)s->opts.http_listen);
    free(s);
    grpc_shutdown();
}

/* ---- per-call helpers ------------------------------------------------------------------- */

dyn_arena *
dyn_rpc_call_arena(dyn_rpc_call *call)
{
    return &call->arena;
}

dyn_err
dyn_rpc_call_fail(dyn_rpc_call *call, dyn_err rc, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = dyn_arena_vprintf(&call->arena, fmt, ap);
    va_end(ap);
    if (msg != NULL)   /* arena full: the reply falls back to the error's type name */
        call->errmsg = msg;
    return rc;
}

void
dyn_rpc_call_set_error_detail(dyn_rpc_call *call, const ProtobufCMessage *detail)
{
    call->err_detail = detail;
}

const ProtobufCMessage *
dyn_rpc_call_error_detail(dyn_rpc_call *call)
{
    return call->err_detail;
}

dyn_rpc_server *
dyn_rpc_call_server(dyn_rpc_call *call)
{
    return call->local_srv != NULL ? call->local_srv : call->w->s;
}

void
dyn_rpc_call_set_table(dyn_rpc_call *call, const char *table)
{
    call->table = table;
}

int64_t
dyn_rpc_call_deadline_ms(dyn_rpc_call *call)
{
    gpr_timespec d = call->deadline, now;
    int64_t ms;

    if (gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0)
        return INT64_MAX;
    now = gpr_now(d.clock_type == GPR_TIMESPAN ? GPR_CLOCK_REALTIME : d.clock_type);
    ms = (int64_t)gpr_time_to_millis(gpr_time_sub(d, now));
    return ms < 0 ? 0 : ms;
}

void
dyn_rpc_local_set_deadline(dyn_rpc_call *call, int64_t ms)
{
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    call->deadline = gpr_time_add(now, gpr_time_from_millis(ms < 0 ? 0 : ms, GPR_TIMESPAN));
}

bool
dyn_rpc_call_cancelled(dyn_rpc_call *call)
{
    return atomic_load(&call->cancelled);
}

const char *
dyn_rpc_call_metadata(dyn_rpc_call *call, const char *key)
{
    for (size_t i = 0; i < call->req_md.count; i++) {
        const grpc_metadata *md = &call->req_md.metadata[i];
        if (grpc_slice_str_cmp(md->key, key) == 0)
            return dyn_arena_strndup(&call->arena, (const char *)GRPC_SLICE_START_PTR(md->value),
                                     GRPC_SLICE_LENGTH(md->value));
    }
    return NULL;
}

const char *
dyn_rpc_call_method(dyn_rpc_call *call)
{
    return call->m->name;
}

void
dyn_rpc_call_defer(dyn_rpc_call *call)
{
    call->deferred = true;
}

void
dyn_rpc_call_finish(dyn_rpc_call *call, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    if (atomic_load(&call->finished)) {   /* a second finish would reuse a recycled slot */
        dyn_log(DYN_LOG_ERROR, "RPC-FINISH-TWICE", "method=%s", call->m->name);
        abort();
    }
    call_complete(call, rc, resp, errmsg);
}

/* ---- local calls: the public half ------------------------------------------------------- */

/* The unary method "/<service>/<method>", or NULL. A linear walk: ~60 methods, short names. */
static rpc_method *
local_method(dyn_rpc_server *s, const char *service, const char *method)
{
    size_t ls = strlen(service);

    for (size_t i = 0; i < s->nmethods; i++) {
        rpc_method *m = s->methods[i];
        if (m->kind == METHOD_UNARY && strcmp(m->name, method) == 0 && m->path[0] == '/' &&
            strncmp(m->path + 1, service, ls) == 0 && m->path[1 + ls] == '/' &&
            strcmp(m->path + 2 + ls, method) == 0)
            return m;
    }
    return NULL;
}

dyn_err
dyn_rpc_local_new(dyn_rpc_server *s, const char *service, const char *method,
                  dyn_rpc_call **call, const ProtobufCMessageDescriptor **input)
{
    rpc_method *m = local_method(s, service, method);
    dyn_rpc_call *c = NULL;
    bool ok;

    *call = NULL;
    *input = NULL;
    if (m == NULL) {
        /* counted where gRPC counts unregistered paths: the generic method, added by start */
        if (s->started && s->nmethods > 0 && s->methods[s->nmethods - 1]->kind == METHOD_GENERIC)
            dyn_rpc_counter_add(requests_counter(s->methods[s->nmethods - 1],
                                                 GRPC_STATUS_UNIMPLEMENTED),
                                1);
        return DYN_EUNKNOWNOP;
    }
    /* under the read lock, like re-arming a slot: once the drain has set `stopping`, every call
     * it must wait for is already counted */
    pthread_rwlock_rdlock(&s->arm_lock);
    ok = s->started && !atomic_load(&s->stopping);
    if (ok)
        atomic_fetch_add(&s->inflight, 1);
    pthread_rwlock_unlock(&s->arm_lock);
    if (!ok)
        return DYN_EUNAVAIL;

    pthread_mutex_lock(&s->local_mu);
    if (s->local_free != NULL) {
        c = s->local_free;
        s->local_free = c->local_next;
        s->nlocal_free--;
    }
    pthread_mutex_unlock(&s->local_mu);
    if (c == NULL) {
        c = dyn_xcalloc(1, sizeof *c);
        grpc_metadata_array_init(&c->req_md);   /* stays empty: dyn_rpc_call_metadata is NULL */
        c->status_details = grpc_empty_slice();
        atomic_init(&c->cancelled, false);
        atomic_init(&c->finished, false);
        atomic_init(&c->local_state, LOCAL_NEW);
        dyn_arena_init(&c->arena, s->opts.arena_limit);
        c->local_srv = s;
    }
    c->local_next = NULL;
    c->m = m;
    c->state = CALL_ACTIVE;
    c->deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
    c->start_ns = dyn_rpc_mono_ns();
    *call = c;
    *input = m->desc->input;
    return DYN_OK;
}

static void
local_misuse(dyn_rpc_call *c, const char *what)
{
    dyn_log(DYN_LOG_ERROR, "RPC-LOCAL-MISUSE", "method=%s what=%s",
            c->m != NULL ? c->m->name : "?", what);
    abort();   /* a call used after its end would corrupt another request */
}

void
dyn_rpc_local_run(dyn_rpc_call *call, const ProtobufCMessage *req, dyn_rpc_local_done_fn done,
                  void *arg)
{
    dyn_rpc_call *c = call;
    rpc_method *m = c->m;
    ProtobufCMessage *resp = NULL;
    int st;
    dyn_err rc;

    c->local_done = done;
    c->local_arg = arg;
    if (atomic_fetch_or(&c->local_state, LOCAL_BIT_RUN) != LOCAL_NEW)
        local_misuse(c, "run twice or after reject");
    if (m->handler == NULL) {
        char *msg = dyn_arena_printf(&c->arena, "%s is not implemented yet", m->name);
        call_complete(c, DYN_EUNIMPLEMENTED, NULL, msg);
    } else {
        call_table_from(c, req);
        rc = m->handler(c, req, &resp, m->ctx);
        /* Deferred: whoever calls dyn_rpc_call_finish completes it, maybe already did. The call
         * cannot be recycled under us: LOCAL_BIT_RUN makes dyn_rpc_local_free wait for us. */
        if (!c->deferred)
            call_complete(c, rc, resp, NULL);
    }
    st = atomic_fetch_and(&c->local_state, ~LOCAL_BIT_RUN);
    if (st & LOCAL_BIT_FREE)   /* freed (from done) while we were still in here */
        local_release(c);
}

void
dyn_rpc_local_reject(dyn_rpc_call *call, dyn_err rc)
{
    if (atomic_load(&call->local_state) != LOCAL_NEW)
        local_misuse(call, "reject after run");
    local_count(call, rc);
    atomic_store(&call->local_state, LOCAL_BIT_DONE);
}

void
dyn_rpc_local_free(dyn_rpc_call *call)
{
    int st;

    if (call == NULL)
        return;
    st = atomic_fetch_or(&call->local_state, LOCAL_BIT_FREE);
    if (st & LOCAL_BIT_FREE)
        local_misuse(call, "freed twice");
    if ((st & LOCAL_BIT_RUN) && !(st & LOCAL_BIT_DONE))
        local_misuse(call, "freed while its handler runs");
    if (st & LOCAL_BIT_RUN)   /* inside done, on the running thread: the run releases it */
        return;
    local_release(call);
}
