/* libs/feed -- the cursor server: a REP socket served by several nng contexts, each decoding a
 * FeedRequest into its arena, handing it to the handler and sending the FeedReply it answers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "libs/arena/arena.h"
#include "libs/feed/feed.h"
#include "libs/feed/feed_int.h"

#define CALL_ARENA (4u << 20)   /* decoded requests are tiny; garbage is cut off here */

typedef enum { CALL_RECV = 0, CALL_HANDLE, CALL_SEND } call_state;

struct dyn_feed_call {            /* one per context, reused for each request */
    dyn_feed_server *s;
    nng_ctx ctx;
    nng_aio *aio;                 /* owned */
    call_state state;
    dyn_arena arena;              /* the decoded request */
};

struct dyn_feed_server {
    nng_socket sock;
    char *url;                    /* owned: the bound url */
    dyn_feed_handler handler;
    void *ctx;
    dyn_feed_call *calls;         /* owned, n of them */
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int owing;                    /* handlers that have not replied yet */
};

const char *
dyn_feed_server_url(const dyn_feed_server *s)
{
    return s->url;
}

static void
call_recv(dyn_feed_call *c)
{
    c->state = CALL_RECV;
    nng_ctx_recv(c->ctx, c->aio);
}

/* Packs and sends reply r; without memory for it the request goes unanswered (the consumer
 * times out and asks again) and the context listens again. */
static void
call_send(dyn_feed_call *c, const Dyne__Internal__FeedReply *r)
{
    size_t n = dyne__internal__feed_reply__get_packed_size(r);
    nng_msg *m = NULL;

    if (nng_msg_alloc(&m, n) != 0) {
        call_recv(c);
        return;
    }
    dyne__internal__feed_reply__pack(r, nng_msg_body(m));
    c->state = CALL_SEND;
    nng_aio_set_msg(c->aio, m);
    nng_ctx_send(c->ctx, c->aio);
}

static void
call_reply_error(dyn_feed_call *c, dyn_err rc, const char *msg)
{
    Dyne__Internal__FeedReply r = DYNE__INTERNAL__FEED_REPLY__INIT;

    r.error = (char *)dyn_err_name(rc);
    r.message = (char *)(msg ? msg : dyn_err_type(rc));
    call_send(c, &r);
}

void
dyn_feed_call_reply(dyn_feed_call *c, dyn_err rc, const ProtobufCMessage *resp,
                    const char *errmsg)
{
    Dyne__Internal__FeedReply r = DYNE__INTERNAL__FEED_REPLY__INIT;
    dyn_feed_server *s = c->s;

    if (rc != DYN_OK) {
        call_reply_error(c, rc, errmsg);
    } else {
        if (resp != NULL && resp->descriptor == &dyne__internal__read_changes_response__descriptor)
            r.changes = (Dyne__Internal__ReadChangesResponse *)resp;
        call_send(c, &r);
    }
    /* only now may a close stop this context's aio: the send above has started */
    pthread_mutex_lock(&s->mu);
    if (--s->owing == 0)
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void
call_cb(void *arg)
{
    dyn_feed_call *c = arg;
    dyn_feed_server *s = c->s;
    int rv = nng_aio_result(c->aio);

    if (c->state == CALL_SEND) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(c->aio));   /* a failed send leaves it ours */
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            return;
        call_recv(c);
        return;
    }
    if (rv != 0) {
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            return;   /* closing */
        call_recv(c);
        return;
    }
    nng_msg *m = nng_aio_get_msg(c->aio);
    ProtobufCAllocator al;
    Dyne__Internal__FeedRequest *req;

    dyn_arena_reset(&c->arena);
    al = dyn_arena_pb_allocator(&c->arena);
    req = dyne__internal__feed_request__unpack(&al, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    const char *method = NULL;
    const ProtobufCMessage *op = NULL;
    if (req != NULL && req->op_case == DYNE__INTERNAL__FEED_REQUEST__OP_READ && req->read) {
        method = "ReadChanges";
        op = &req->read->base;
    } else if (req != NULL &&
               req->op_case == DYNE__INTERNAL__FEED_REQUEST__OP_REGISTER_CONSUMER &&
               req->register_consumer != NULL) {
        method = "RegisterConsumer";
        op = &req->register_consumer->base;
    }
    if (method == NULL) {
        call_reply_error(c, DYN_EVALIDATION, req == NULL ? "cannot decode the feed request"
                                                         : "feed request without an op");
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->owing++;
    pthread_mutex_unlock(&s->mu);
    c->state = CALL_HANDLE;
    s->handler(s->ctx, c, method, op);
}

/* Frees s and its contexts (the socket is closed). stop: wait for each context's callback. */
static void
server_free(dyn_feed_server *s, bool stop)
{
    for (int i = 0; i < s->n; i++) {
        if (s->calls[i].aio != NULL) {
            if (stop)
                nng_aio_stop(s->calls[i].aio);   /* waits for its callback */
            nng_aio_free(s->calls[i].aio);
        }
        dyn_arena_fini(&s->calls[i].arena);
    }
    free(s->url);
    free(s->calls);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

dyn_err
dyn_feed_server_open(const char *url, int contexts, dyn_feed_handler handler, void *ctx,
                     dyn_feed_server **out)
{
    dyn_feed_server *s = dyn_xcalloc(1, sizeof *s);
    dyn_err rc;
    int rv, i;

    *out = NULL;
    s->handler = handler;
    s->ctx = ctx;
    s->n = contexts > 0 ? contexts : 8;
    s->calls = dyn_xcalloc((size_t)s->n, sizeof *s->calls);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        rc = feed_nng_err(rv);
        free(s->calls);
        free(s);
        return rc;
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, FEED_REQUEST_MAX);
    for (i = 0; i < s->n; i++) {
        dyn_feed_call *c = &s->calls[i];
        c->s = s;
        dyn_arena_init(&c->arena, CALL_ARENA);
        if ((rv = nng_ctx_open(&c->ctx, s->sock)) != 0 ||
            (rv = nng_aio_alloc(&c->aio, call_cb, c)) != 0) {
            rc = feed_nng_err(rv);
            goto fail;
        }
    }
    if ((rc = feed_listen(s->sock, url, &s->url)) != DYN_OK)
        goto fail;
    for (i = 0; i < s->n; i++)
        call_recv(&s->calls[i]);
    *out = s;
    return DYN_OK;
fail:
    nng_close(s->sock);
    server_free(s, false);
    return rc;
}

void
dyn_feed_server_close(dyn_feed_server *s)
{
    if (s == NULL)
        return;
    /* closing aborts every receive; a handler still running replies into a closed context,
     * which fails its send at once */
    nng_close(s->sock);
    pthread_mutex_lock(&s->mu);
    while (s->owing > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    server_free(s, true);
}
