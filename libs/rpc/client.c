/* libs/rpc -- client half: a pool of channels to one target, one completion-queue thread that
 * runs every completion, unary calls (blocking = async + condition variable) and bidirectional
 * streams with one read and one write in flight. */
#include "libs/rpc/rpc_client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "libs/rpc/rpc_int.h"   /* dyn_rpc_init, dyn_rpc_pack */

/* Every completion-queue tag starts with this: the thread calls fn(tag, success). */
typedef struct cli_tag cli_tag;
struct cli_tag {
    void (*fn)(cli_tag *t, bool ok);
};

/* A call the client must cancel if it is freed first; linked into client->live under client->mu. */
typedef struct cli_live cli_live;
struct cli_live {
    cli_live *prev, *next;
    grpc_call *call;   /* borrowed from the owner (unary_op or stream) */
};

struct dyn_rpc_client {
    grpc_channel **chans;   /* owned, nchan of them */
    int nchan;
    atomic_uint next;       /* round-robin cursor */
    grpc_completion_queue *cq;
    pthread_t thread;
    pthread_mutex_t mu;     /* guards live, nlive, closing */
    pthread_cond_t idle;    /* signalled when nlive drops */
    cli_live live;          /* list head (sentinel) */
    int nlive;
    bool closing;
    atomic_bool wait_for_ready;   /* unary calls wait for a (re)connection until their deadline */
};

typedef struct unary_op {
    cli_tag tag;
    cli_live live;
    dyn_rpc_client *c;
    grpc_call *call;                    /* owned */
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *send_buf;         /* owned */
    grpc_byte_buffer *recv_buf;         /* owned; NULL if no message came */
    grpc_status_code status;
    grpc_slice details;                 /* owned */
    const ProtobufCMessageDescriptor *resp_desc;
    const ProtobufCMessageDescriptor *err_desc;   /* NULL: the caller takes no error detail */
    dyn_arena *a;                       /* borrowed from the caller until done runs */
    dyn_rpc_done_fn done;
    void *arg;
} unary_op;

typedef struct sendq_node sendq_node;
struct sendq_node {
    sendq_node *next;
    grpc_byte_buffer *buf;   /* owned */
};

struct dyn_rpc_stream {
    dyn_rpc_client *c;
    cli_live live;
    grpc_call *call;   /* owned */
    const ProtobufCMessageDescriptor *resp_desc;
    dyn_rpc_stream_msg_fn on_msg;
    dyn_rpc_stream_close_fn on_close;
    void *arg;
    cli_tag t_start, t_read, t_write, t_status;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;           /* owned */
    grpc_byte_buffer *recv_buf;   /* owned while a read completes */
    pthread_mutex_t mu;           /* guards everything below */
    sendq_node *qhead, *qtail;    /* queued writes, oldest first */
    grpc_byte_buffer *wbuf;       /* the write in flight; owned */
    int pending;                  /* batches started and not completed */
    bool closing;                 /* no more sends: cancelled, status in, or a write failed */
};

/* ---- status mapping ---------------------------------------------------------------------- */

static dyn_err
status_err(grpc_status_code st)
{
    switch (st) {
    case GRPC_STATUS_OK:
        return DYN_OK;
    case GRPC_STATUS_UNAVAILABLE:
        return DYN_EUNAVAIL;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return DYN_EDEADLINE;
    case GRPC_STATUS_NOT_FOUND:
        return DYN_ENOTFOUND;
    case GRPC_STATUS_UNIMPLEMENTED:
        return DYN_EUNIMPLEMENTED;
    case GRPC_STATUS_CANCELLED:
        return DYN_ECANCELLED;
    case GRPC_STATUS_INVALID_ARGUMENT:
        return DYN_EVALIDATION;
    default:
        return DYN_EINTERNAL;
    }
}

/* The exact error from trailing metadata "dyn-err" (our servers send it), else from the status. */
static dyn_err
reply_err(grpc_status_code st, const grpc_metadata_array *trail)
{
    if (st == GRPC_STATUS_OK)
        return DYN_OK;
    for (size_t i = 0; i < trail->count; i++) {
        const grpc_metadata *md = &trail->metadata[i];
        if (grpc_slice_str_cmp(md->key, "dyn-err") != 0)
            continue;
        dyn_err e;
        if (dyn_err_from_name((const char *)GRPC_SLICE_START_PTR(md->value),
                              GRPC_SLICE_LENGTH(md->value), &e))
            return e;
    }
    return status_err(st);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static gpr_timespec
deadline_of(int ms)
{
    if (ms <= 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Unpacks bb (NULL = an empty message) with allocator alloc (NULL = malloc). */
static ProtobufCMessage *
unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb, ProtobufCAllocator *alloc)
{
    grpc_byte_buffer_reader r;
    grpc_slice s;
    ProtobufCMessage *m;

    if (bb == NULL)
        return protobuf_c_message_unpack(desc, alloc, 0, (const uint8_t *)"");
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    m = protobuf_c_message_unpack(desc, alloc, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

static grpc_call *
call_create(dyn_rpc_client *c, const char *method, gpr_timespec deadline)
{
    unsigned i = atomic_fetch_add(&c->next, 1) % (unsigned)c->nchan;
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(c->chans[i], NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                               m, NULL, deadline, NULL);
    grpc_slice_unref(m);
    return call;
}

/* Registers a call for cancellation on client free. false if the client is closing. */
static bool
live_add(dyn_rpc_client *c, cli_live *l, grpc_call *call)
{
    bool ok;

    pthread_mutex_lock(&c->mu);
    ok = !c->closing;
    if (ok) {
        l->call = call;
        l->next = c->live.next;
        l->prev = &c->live;
        c->live.next->prev = l;
        c->live.next = l;
        c->nlive++;
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Unlinks and unrefs the call under the client lock, so dyn_rpc_client_free never cancels a
 * call that is gone; wakes a waiting free. */
static void
live_remove(dyn_rpc_client *c, cli_live *l)
{
    pthread_mutex_lock(&c->mu);
    l->prev->next = l->next;
    l->next->prev = l->prev;
    grpc_call_unref(l->call);
    l->call = NULL;
    c->nlive--;
    pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->mu);
}

static void *
cq_thread(void *arg)
{
    dyn_rpc_client *c = arg;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                   NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        cli_tag *t = ev.tag;
        t->fn(t, ev.success != 0);
    }
    return NULL;
}

/* ---- client ------------------------------------------------------------------------------- */

void
dyn_rpc_client_set_wait_for_ready(dyn_rpc_client *c, bool wait)
{
    atomic_store(&c->wait_for_ready, wait);
}

dyn_rpc_client *
dyn_rpc_client_new(const char *target, int channels)
{
    dyn_rpc_client *c = dyn_xcalloc(1, sizeof *c);
    grpc_channel_credentials *creds;
    /* Each channel gets its own connection (a local subchannel pool), and a keepalive notices
     * a dead peer on long-lived streams (etcd allows pings every 5 s while streams are open). */
    grpc_arg args[] = {
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
          .value.integer = -1 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIME_MS, .value.integer = 10000 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS, .value.integer = 5000 },
        /* peers are other Dyne processes that restart in well under a second: reconnect fast
         * rather than with gRPC's default backoff of up to two minutes */
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
          .value.integer = 100 },
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
          .value.integer = 1000 },
    };
    grpc_channel_args cargs = { .num_args = sizeof args / sizeof args[0], .args = args };

    dyn_rpc_init();
    c->nchan = channels < 1 ? 1 : channels;
    c->chans = dyn_xcalloc((size_t)c->nchan, sizeof *c->chans);
    creds = grpc_insecure_credentials_create();
    for (int i = 0; i < c->nchan; i++)
        c->chans[i] = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    atomic_init(&c->next, 0);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->idle, NULL);
    c->live.next = c->live.prev = &c->live;
    if (pthread_create(&c->thread, NULL, cq_thread, c) != 0)
        abort();   /* like dyn_xmalloc: no thread, no client; the process restarts */
    return c;
}

void
dyn_rpc_client_free(dyn_rpc_client *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    for (cli_live *l = c->live.next; l != &c->live; l = l->next)
        grpc_call_cancel(l->call, NULL);
    while (c->nlive > 0)
        pthread_cond_wait(&c->idle, &c->mu);
    pthread_mutex_unlock(&c->mu);

    grpc_completion_queue_shutdown(c->cq);
    pthread_join(c->thread, NULL);
    grpc_completion_queue_destroy(c->cq);
    for (int i = 0; i < c->nchan; i++)
        grpc_channel_destroy(c->chans[i]);
    free(c->chans);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->mu);
    free(c);
    grpc_shutdown();
}

/* ---- unary calls -------------------------------------------------------------------------- */

/* The "dyn-error-bin" trailer of a failed call unpacked as op->err_desc into op->a; NULL when
 * absent or undecodable (the error itself stands either way). */
static ProtobufCMessage *
error_detail(unary_op *op)
{
    ProtobufCAllocator alloc = dyn_arena_pb_allocator(op->a);

    for (size_t i = 0; i < op->trail_md.count; i++) {
        const grpc_metadata *md = &op->trail_md.metadata[i];
        if (grpc_slice_str_cmp(md->key, "dyn-error-bin") == 0)
            return protobuf_c_message_unpack(op->err_desc, &alloc, GRPC_SLICE_LENGTH(md->value),
                                             GRPC_SLICE_START_PTR(md->value));
    }
    return NULL;
}

static void
unary_complete(cli_tag *t, bool ok)
{
    unary_op *op = (unary_op *)t;
    ProtobufCMessage *resp = NULL;
    const char *errmsg = NULL;
    dyn_err rc;

    if (!ok) {   /* the batch itself failed; the status is not trustworthy */
        op->status = GRPC_STATUS_INTERNAL;
    }
    rc = reply_err(op->status, &op->trail_md);
    if (rc == DYN_OK) {
        ProtobufCAllocator alloc = dyn_arena_pb_allocator(op->a);
        if ((resp = unpack(op->resp_desc, op->recv_buf, &alloc)) == NULL) {
            rc = DYN_EINTERNAL;
            errmsg = dyn_arena_printf(op->a, "cannot decode %s reply", op->resp_desc->name);
        }
    } else {
        if (GRPC_SLICE_LENGTH(op->details) > 0)
            errmsg = dyn_arena_strndup(op->a, (const char *)GRPC_SLICE_START_PTR(op->details),
                                       GRPC_SLICE_LENGTH(op->details));
        else
            errmsg = dyn_arena_printf(op->a, "gRPC status %d", (int)op->status);
        if (op->err_desc != NULL)
            resp = error_detail(op);
    }
    op->done(op->arg, rc, resp, errmsg);

    live_remove(op->c, &op->live);
    grpc_metadata_array_destroy(&op->init_md);
    grpc_metadata_array_destroy(&op->trail_md);
    grpc_byte_buffer_destroy(op->send_buf);
    if (op->recv_buf != NULL)
        grpc_byte_buffer_destroy(op->recv_buf);
    grpc_slice_unref(op->details);
    free(op);
}

void
dyn_rpc_client_call_async(dyn_rpc_client *c, const char *method, const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *resp_desc, int deadline_ms,
                          dyn_arena *a, dyn_rpc_done_fn done, void *arg)
{
    dyn_rpc_client_call_async_detail(c, method, req, resp_desc, NULL, deadline_ms, a, done, arg);
}

void
dyn_rpc_client_call_async_detail(dyn_rpc_client *c, const char *method,
                                 const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_desc,
                                 const ProtobufCMessageDescriptor *err_desc, int deadline_ms,
                                 dyn_arena *a, dyn_rpc_done_fn done, void *arg)
{
    unary_op *op;
    grpc_op ops[6];
    grpc_call_error ce;

    grpc_call *call = call_create(c, method, deadline_of(deadline_ms));
    if (call == NULL) {
        done(arg, DYN_EINTERNAL, NULL, "cannot create call");
        return;
    }
    op = dyn_xcalloc(1, sizeof *op);
    op->tag.fn = unary_complete;
    op->c = c;
    op->call = call;
    op->resp_desc = resp_desc;
    op->err_desc = err_desc;
    op->a = a;
    op->done = done;
    op->arg = arg;
    op->details = grpc_empty_slice();
    grpc_metadata_array_init(&op->init_md);
    grpc_metadata_array_init(&op->trail_md);
    op->send_buf = dyn_rpc_pack(req);
    if (!live_add(c, &op->live, call)) {
        grpc_call_unref(call);
        grpc_byte_buffer_destroy(op->send_buf);
        grpc_metadata_array_destroy(&op->init_md);
        grpc_metadata_array_destroy(&op->trail_md);
        free(op);
        done(arg, DYN_ECANCELLED, NULL, "client is shutting down");
        return;
    }

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (atomic_load(&c->wait_for_ready))
        ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = op->send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &op->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &op->recv_buf;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &op->trail_md;
    ops[5].data.recv_status_on_client.status = &op->status;
    ops[5].data.recv_status_on_client.status_details = &op->details;
    ce = grpc_call_start_batch(call, ops, 6, &op->tag, NULL);
    if (ce != GRPC_CALL_OK) {   /* a programming error in the batch; fail like a reply would */
        op->status = GRPC_STATUS_INTERNAL;
        unary_complete(&op->tag, true);
    }
}

typedef struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    dyn_err rc;
    ProtobufCMessage *resp;
    const char *errmsg;
} sync_wait;

static void
sync_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    sync_wait *w = arg;

    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->resp = resp;
    w->errmsg = errmsg;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Must not run on the client's completion-queue thread (inside a done/on_msg/on_close
 * callback): that thread is the one that would complete it. */
dyn_err
dyn_rpc_client_call(dyn_rpc_client *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, int deadline_ms, dyn_arena *a,
                    ProtobufCMessage **resp, const char **errmsg)
{
    sync_wait w = { .done = false };

    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    dyn_rpc_client_call_async(c, method, req, resp_desc, deadline_ms, a, sync_done, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    if (resp != NULL)
        *resp = w.resp;
    if (errmsg != NULL)
        *errmsg = w.errmsg;
    return w.rc;
}

/* ---- streams ------------------------------------------------------------------------------ */

static void stream_read_done(cli_tag *t, bool ok);

/* Called with s->mu held; true if the stream just finished every batch and must close. */
static bool
stream_batch_done_locked(dyn_rpc_stream *s)
{
    return --s->pending == 0;
}

static void
stream_close(dyn_rpc_stream *s)
{
    dyn_err rc = reply_err(s->status, &s->trail_md);
    char *msg = NULL;

    if (rc != DYN_OK) {
        size_t n = GRPC_SLICE_LENGTH(s->details);
        msg = dyn_xmalloc(n + 1);
        memcpy(msg, GRPC_SLICE_START_PTR(s->details), n);
        msg[n] = '\0';
    }
    s->on_close(s->arg, rc, msg);
    free(msg);

    live_remove(s->c, &s->live);
    for (sendq_node *q = s->qhead, *next; q != NULL; q = next) {
        next = q->next;
        grpc_byte_buffer_destroy(q->buf);
        free(q);
    }
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_slice_unref(s->details);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Starts the write of s->wbuf; s->mu held. false if the call refused it. */
static bool
stream_write_start_locked(dyn_rpc_stream *s)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->wbuf;
    if (grpc_call_start_batch(s->call, &op, 1, &s->t_write, NULL) != GRPC_CALL_OK)
        return false;
    s->pending++;
    return true;
}

static bool
stream_read_start_locked(dyn_rpc_stream *s)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_buf;
    if (grpc_call_start_batch(s->call, &op, 1, &s->t_read, NULL) != GRPC_CALL_OK)
        return false;
    s->pending++;
    return true;
}

static void
stream_start_done(cli_tag *t, bool ok)
{
    dyn_rpc_stream *s = (dyn_rpc_stream *)((char *)t - offsetof(dyn_rpc_stream, t_start));
    bool close;

    (void)ok;   /* a failed start shows up in the status */
    pthread_mutex_lock(&s->mu);
    close = stream_batch_done_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (close)
        stream_close(s);
}

static void
stream_status_done(cli_tag *t, bool ok)
{
    dyn_rpc_stream *s = (dyn_rpc_stream *)((char *)t - offsetof(dyn_rpc_stream, t_status));
    bool close;

    if (!ok)
        s->status = GRPC_STATUS_INTERNAL;
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    close = stream_batch_done_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (close)
        stream_close(s);
}

static void
stream_read_done(cli_tag *t, bool ok)
{
    dyn_rpc_stream *s = (dyn_rpc_stream *)((char *)t - offsetof(dyn_rpc_stream, t_read));
    bool more = ok && s->recv_buf != NULL, close;

    if (more) {
        ProtobufCMessage *m = unpack(s->resp_desc, s->recv_buf, NULL);
        grpc_byte_buffer_destroy(s->recv_buf);
        s->recv_buf = NULL;
        if (m != NULL) {
            s->on_msg(s->arg, m);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL,
                                         "cannot decode stream message", NULL);
            more = false;
        }
    }
    pthread_mutex_lock(&s->mu);
    /* Keep reading until the stream says it is over: messages may still be queued after the
     * status arrived. A re-armed read is counted before this one is uncounted. */
    if (!more || !stream_read_start_locked(s))
        more = false;
    close = stream_batch_done_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (close)
        stream_close(s);
}

static void
stream_write_done(cli_tag *t, bool ok)
{
    dyn_rpc_stream *s = (dyn_rpc_stream *)((char *)t - offsetof(dyn_rpc_stream, t_write));
    bool close;

    pthread_mutex_lock(&s->mu);
    grpc_byte_buffer_destroy(s->wbuf);
    s->wbuf = NULL;
    if (!ok)
        s->closing = true;   /* the call is over; the status will say why */
    if (!s->closing && s->qhead != NULL) {
        sendq_node *q = s->qhead;
        s->qhead = q->next;
        if (s->qhead == NULL)
            s->qtail = NULL;
        s->wbuf = q->buf;
        free(q);
        if (!stream_write_start_locked(s)) {
            grpc_byte_buffer_destroy(s->wbuf);
            s->wbuf = NULL;
            s->closing = true;
        }
    }
    close = stream_batch_done_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (close)
        stream_close(s);
}

/* NULL, with no callback, if the client is shutting down. */
dyn_rpc_stream *
dyn_rpc_stream_open(dyn_rpc_client *c, const char *method,
                    const ProtobufCMessageDescriptor *resp_desc, dyn_rpc_stream_msg_fn on_msg,
                    dyn_rpc_stream_close_fn on_close, void *arg)
{
    dyn_rpc_stream *s;
    grpc_op ops[2];
    bool close = false;

    grpc_call *call = call_create(c, method, gpr_inf_future(GPR_CLOCK_REALTIME));
    if (call == NULL)
        return NULL;
    s = dyn_xcalloc(1, sizeof *s);
    s->c = c;
    s->call = call;
    s->resp_desc = resp_desc;
    s->on_msg = on_msg;
    s->on_close = on_close;
    s->arg = arg;
    s->t_start.fn = stream_start_done;
    s->t_read.fn = stream_read_done;
    s->t_write.fn = stream_write_done;
    s->t_status.fn = stream_status_done;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    pthread_mutex_init(&s->mu, NULL);
    if (!live_add(c, &s->live, call)) {
        grpc_call_unref(call);
        grpc_metadata_array_destroy(&s->init_md);
        grpc_metadata_array_destroy(&s->trail_md);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }

    /* Three batches are started under the lock so no completion can see pending hit zero
     * before all of them are counted. The status batch is always one of them, so on_close
     * waits for the end of the call. */
    pthread_mutex_lock(&s->mu);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    if (grpc_call_start_batch(call, ops, 2, &s->t_start, NULL) == GRPC_CALL_OK)
        s->pending++;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(call, ops, 1, &s->t_status, NULL) == GRPC_CALL_OK) {
        s->pending++;
    } else {   /* cannot happen on a fresh call; close without a status */
        s->status = GRPC_STATUS_INTERNAL;
        s->closing = true;
        grpc_call_cancel(call, NULL);
    }
    (void)stream_read_start_locked(s);
    close = s->pending == 0;
    pthread_mutex_unlock(&s->mu);
    if (close) {   /* nothing started: finish on this thread */
        stream_close(s);
        return NULL;
    }
    return s;
}

dyn_err
dyn_rpc_stream_send(dyn_rpc_stream *s, const ProtobufCMessage *msg)
{
    dyn_err rc = DYN_OK;
    grpc_byte_buffer *bb = dyn_rpc_pack(msg);

    pthread_mutex_lock(&s->mu);
    if (s->closing) {
        rc = DYN_EUNAVAIL;
        goto out;
    }
    if (s->wbuf == NULL) {
        s->wbuf = bb;
        bb = NULL;
        if (!stream_write_start_locked(s)) {
            bb = s->wbuf;
            s->wbuf = NULL;
            s->closing = true;
            rc = DYN_EUNAVAIL;
        }
        goto out;
    }
    sendq_node *q = dyn_xmalloc(sizeof *q);
    q->next = NULL;
    q->buf = bb;
    bb = NULL;
    if (s->qtail != NULL)
        s->qtail->next = q;
    else
        s->qhead = q;
    s->qtail = q;
out:
    pthread_mutex_unlock(&s->mu);
    if (bb != NULL)
        grpc_byte_buffer_destroy(bb);
    return rc;
}

void
dyn_rpc_stream_cancel(dyn_rpc_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    pthread_mutex_unlock(&s->mu);
    grpc_call_cancel(s->call, NULL);
}
