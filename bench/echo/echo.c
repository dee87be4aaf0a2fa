/* bench/echo -- the echo server on gRPC C-core alone: registered method with the payload read
 * before the call is handed over, one completion queue per worker, one batch in flight per call
 * slot (the slot's address is the tag), and for the proxy, client calls on the same queues. */
#include "bench/echo/echo.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "bench/grpcutil/channel.h"
#include "libs/arena/arena.h"   /* dyn_xcalloc */
#include "libs/log/log.h"
#include "libs/rpc/rpc.h"       /* dyn_rpc_init only: gRPC's process-wide settings */

#define TICK_MS 100         /* how often an idle worker looks at the stop flags */
#define GENERIC_SLOTS 1     /* per worker, for paths other than ECHO_METHOD */

typedef enum {
    SLOT_IDLE = 0,       /* not armed: the server is stopping */
    SLOT_WAIT_REQUEST,   /* armed: the next call of its method lands here */
    SLOT_BACKEND,        /* proxy: the backend call is in flight */
    SLOT_REPLY,          /* the reply batch (message, status, close) is in flight */
} slot_state;

typedef struct echo_worker echo_worker;

/* One call at a time. Its batches run one after another, so the slot itself is the tag of each
 * and `state` says which one completed. */
typedef struct echo_slot {
    echo_worker *w;
    slot_state state;
    bool generic;                 /* answers unregistered paths with UNIMPLEMENTED */
    grpc_call *call;              /* owned: the incoming call */
    gpr_timespec deadline;        /* the incoming call's; the backend call gets it too */
    grpc_call_details details;    /* generic slots: path and deadline */
    grpc_metadata_array req_md;
    grpc_byte_buffer *req;        /* owned: the request message, echoed or forwarded as is */
    grpc_call *bcall;             /* owned: proxy: the backend call */
    grpc_metadata_array b_init_md, b_trail_md;
    grpc_byte_buffer *bresp;      /* owned: the backend's reply, passed back as is */
    grpc_status_code bstatus;
    grpc_slice bdetails;          /* owned: the backend's status message */
    grpc_slice status_details;    /* owned: our status message */
    int cancelled;                /* RECV_CLOSE_ON_SERVER's */
} echo_slot;

struct echo_worker {
    echo_server *s;
    grpc_completion_queue *cq;   /* owned: server calls and backend calls both complete here */
    echo_slot *slots;            /* owned */
    int nslots;
    int busy;                    /* slots not IDLE; only this worker's thread changes it */
    unsigned rr;                 /* backend channel round-robin */
    pthread_t thread;
    bool running;
};

struct echo_server {
    char *listen, *backend;      /* owned */
    int nworkers, slots;
    grpc_server *srv;
    void *method;                /* ECHO_METHOD's registration */
    grpc_completion_queue *shutdown_cq;
    grpc_channel **chans;        /* owned: proxy: nchan channels to the backend */
    void **bmethod;              /* ECHO_METHOD registered on each channel */
    int nchan;
    echo_worker *workers;        /* owned */
    atomic_bool stopping;        /* no more arming; backend calls in flight are cancelled */
    atomic_bool drained;         /* the server's shutdown notification came */
};

static gpr_timespec
tick(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void
batch_or_die(grpc_call *call, const grpc_op *ops, size_t n, void *tag)
{
    grpc_call_error e = grpc_call_start_batch(call, ops, n, tag, NULL);

    /* only misuse fails here (two sends at once, a second status): a bug, and a call left
     * without its completion would wedge the drain */
    if (e != GRPC_CALL_OK) {
        dyn_log(DYN_LOG_ERROR, "ECHO-BATCH", "grpc_call_error=%d", (int)e);
        abort();
    }
}

static void
slot_arm(echo_slot *c)
{
    echo_worker *w = c->w;
    echo_server *s = w->s;
    grpc_call_error e;

    if (atomic_load(&s->stopping))
        return;
    c->state = SLOT_WAIT_REQUEST;
    w->busy++;
    /* one that races past the check above onto a server shutting down completes with
     * success = 0, like every other armed slot does then */
    if (c->generic)
        e = grpc_server_request_call(s->srv, &c->call, &c->details, &c->req_md, w->cq, w->cq, c);
    else
        e = grpc_server_request_registered_call(s->srv, s->method, &c->call, &c->deadline,
                                                &c->req_md, &c->req, w->cq, w->cq, c);
    if (e != GRPC_CALL_OK) {   /* no completion will come */
        c->state = SLOT_IDLE;
        w->busy--;
        dyn_log(DYN_LOG_ERROR, "ECHO-ARM", "grpc_call_error=%d", (int)e);
    }
}

/* Drops everything one call held; the slot is IDLE. */
static void
slot_reset(echo_slot *c)
{
    if (c->call != NULL)
        grpc_call_unref(c->call);
    if (c->bcall != NULL)
        grpc_call_unref(c->bcall);
    c->call = c->bcall = NULL;
    if (c->req != NULL)
        grpc_byte_buffer_destroy(c->req);
    if (c->bresp != NULL)
        grpc_byte_buffer_destroy(c->bresp);
    c->req = c->bresp = NULL;
    grpc_metadata_array_destroy(&c->req_md);
    grpc_metadata_array_init(&c->req_md);
    grpc_metadata_array_destroy(&c->b_init_md);
    grpc_metadata_array_init(&c->b_init_md);
    grpc_metadata_array_destroy(&c->b_trail_md);
    grpc_metadata_array_init(&c->b_trail_md);
    if (c->generic) {
        grpc_call_details_destroy(&c->details);
        grpc_call_details_init(&c->details);
    }
    grpc_slice_unref(c->bdetails);
    grpc_slice_unref(c->status_details);
    c->bdetails = c->status_details = grpc_empty_slice();
    c->cancelled = 0;
    c->state = SLOT_IDLE;
    c->w->busy--;
}

/* Ends the incoming call in one batch: msg (borrowed from the slot until the batch completes;
 * NULL: none), the status with details (NULL: none), and the close. */
static void
slot_reply(echo_slot *c, grpc_byte_buffer *msg, grpc_status_code st, const char *details)
{
    grpc_op ops[4];
    size_t n = 0;

    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (msg != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = msg;
    }
    if (details != NULL)
        c->status_details = grpc_slice_from_copied_string(details);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = st;
    ops[n++].data.send_status_from_server.status_details =
        GRPC_SLICE_LENGTH(c->status_details) > 0 ? &c->status_details : NULL;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->state = SLOT_REPLY;
    batch_or_die(c->call, ops, n, c);
}

/* The same bytes to the backend, as one unary batch on this worker's queue. */
static void
backend_start(echo_slot *c)
{
    echo_worker *w = c->w;
    echo_server *s = w->s;
    unsigned i = w->rr++ % (unsigned)s->nchan;
    grpc_op ops[6];

    c->bcall = grpc_channel_create_registered_call(s->chans[i], NULL, GRPC_PROPAGATE_DEFAULTS,
                                                   w->cq, s->bmethod[i], c->deadline, NULL);
    bench_unary_ops(ops, 0, c->req, &c->b_init_md, &c->bresp, &c->b_trail_md, &c->bstatus,
                    &c->bdetails);
    c->state = SLOT_BACKEND;
    batch_or_die(c->bcall, ops, 6, c);
}

/* The backend answered (or failed): its reply and status go back as they are. */
static void
backend_done(echo_slot *c, bool ok)
{
    if (!ok) {
        slot_reply(c, NULL, GRPC_STATUS_INTERNAL, "backend call failed");
    } else if (c->bstatus != GRPC_STATUS_OK) {
        c->status_details = grpc_slice_ref(c->bdetails);
        slot_reply(c, NULL, c->bstatus, NULL);
    } else if (c->bresp == NULL) {
        slot_reply(c, NULL, GRPC_STATUS_INTERNAL, "backend sent no message");
    } else {
        slot_reply(c, c->bresp, GRPC_STATUS_OK, NULL);
    }
}

static void
slot_serve(echo_slot *c)
{
    if (c->generic)
        slot_reply(c, NULL, GRPC_STATUS_UNIMPLEMENTED, "only " ECHO_METHOD " is served here");
    else if (c->req == NULL)
        slot_reply(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
    else if (c->w->s->nchan == 0)
        slot_reply(c, c->req, GRPC_STATUS_OK, NULL);
    else
        backend_start(c);
}

static void
slot_event(echo_slot *c, bool ok)
{
    switch (c->state) {
    case SLOT_WAIT_REQUEST:
        if (!ok) {   /* the server shut down with this slot armed */
            slot_reset(c);
            return;
        }
        slot_serve(c);
        return;
    case SLOT_BACKEND:
        backend_done(c, ok);
        return;
    case SLOT_REPLY:   /* sent, or the call was cancelled: either way it is over */
        slot_reset(c);
        slot_arm(c);
        return;
    case SLOT_IDLE:
        break;
    }
    dyn_log(DYN_LOG_ERROR, "ECHO-EVENT", "a completion for an idle slot");
    abort();
}

static void *
worker_main(void *arg)
{
    echo_worker *w = arg;
    echo_server *s = w->s;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(w->cq, tick(TICK_MS), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            slot_event(ev.tag, ev.success != 0);
        if (!atomic_load(&s->stopping))
            continue;
        /* the backend may be slow or gone: don't wait for it */
        for (int i = 0; i < w->nslots; i++)
            if (w->slots[i].state == SLOT_BACKEND)
                grpc_call_cancel(w->slots[i].bcall, NULL);
        /* nothing of ours is left on the queue: echo_server_stop shuts it down */
        if (w->busy == 0 && atomic_load(&s->drained))
            break;
    }
    return NULL;
}

static void
cq_drain_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

/* Frees what start made; the server must be destroyed and every slot IDLE. */
static void
server_free(echo_server *s)
{
    for (int i = 0; s->workers != NULL && i < s->nworkers; i++) {
        echo_worker *w = &s->workers[i];
        for (int j = 0; w->slots != NULL && j < w->nslots; j++) {
            echo_slot *c = &w->slots[j];
            grpc_metadata_array_destroy(&c->req_md);
            grpc_metadata_array_destroy(&c->b_init_md);
            grpc_metadata_array_destroy(&c->b_trail_md);
            grpc_call_details_destroy(&c->details);
        }
        free(w->slots);
        if (w->cq != NULL)
            cq_drain_destroy(w->cq);
    }
    free(s->workers);
    for (int i = 0; i < s->nchan; i++)
        grpc_channel_destroy(s->chans[i]);
    free(s->chans);
    free(s->bmethod);
    if (s->shutdown_cq != NULL)
        cq_drain_destroy(s->shutdown_cq);
    free(s->listen);
    free(s->backend);
    free(s);
    grpc_shutdown();
}

echo_server *
echo_server_start(const echo_opts *o, int *port)
{
    grpc_arg argv[] = {
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
          .value.integer = -1 },
        /* a port someone holds is an error, not one shared with them */
        { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0 },
    };
    grpc_channel_args args = { .num_args = sizeof argv / sizeof argv[0], .args = argv };
    echo_server *s = dyn_xcalloc(1, sizeof *s);
    grpc_server_credentials *creds;
    int bound;

    dyn_rpc_init();
    s->listen = strdup(o->listen);
    s->backend = strdup(o->backend != NULL ? o->backend : "");
    if (s->listen == NULL || s->backend == NULL)
        abort();   /* out of memory, as dyn_xmalloc would */
    s->nworkers = o->workers > 0 ? o->workers : 1;
    s->slots = o->slots > 0 ? o->slots : 1;
    atomic_init(&s->stopping, false);
    atomic_init(&s->drained, false);
    s->srv = grpc_server_create(&args, NULL);
    s->method = grpc_server_register_method(s->srv, ECHO_METHOD, NULL,
                                            GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    s->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->srv, s->shutdown_cq, NULL);
    s->workers = dyn_xcalloc((size_t)s->nworkers, sizeof *s->workers);
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i].s = s;
        s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->srv, s->workers[i].cq, NULL);
    }
    creds = grpc_insecure_server_credentials_create();
    bound = grpc_server_add_http2_port(s->srv, s->listen, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        dyn_log(DYN_LOG_ERROR, "ECHO-BIND", "listen=%s", s->listen);
        grpc_server_destroy(s->srv);   /* never started: no shutdown needed */
        server_free(s);
        return NULL;
    }
    if (s->backend[0] != '\0') {
        s->nchan = o->backend_conns > 0 ? o->backend_conns : 1;
        s->chans = dyn_xcalloc((size_t)s->nchan, sizeof *s->chans);
        s->bmethod = dyn_xcalloc((size_t)s->nchan, sizeof *s->bmethod);
        for (int i = 0; i < s->nchan; i++) {
            s->chans[i] = bench_channel_new(s->backend);
            s->bmethod[i] = grpc_channel_register_call(s->chans[i], ECHO_METHOD, NULL, NULL);
        }
    }
    grpc_server_start(s->srv);
    for (int i = 0; i < s->nworkers; i++) {
        echo_worker *w = &s->workers[i];
        w->nslots = s->slots + GENERIC_SLOTS;
        w->slots = dyn_xcalloc((size_t)w->nslots, sizeof *w->slots);
        for (int j = 0; j < w->nslots; j++) {
            echo_slot *c = &w->slots[j];
            c->w = w;
            c->generic = j >= s->slots;
            grpc_metadata_array_init(&c->req_md);
            grpc_metadata_array_init(&c->b_init_md);
            grpc_metadata_array_init(&c->b_trail_md);
            grpc_call_details_init(&c->details);
            c->bdetails = c->status_details = grpc_empty_slice();
            slot_arm(c);   /* before the thread starts: busy is still ours to change */
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fputs("echo: cannot start a worker thread\n", stderr);
            abort();
        }
        w->running = true;
    }
    *port = bound;
    return s;
}

void
echo_server_stop(echo_server *s)
{
    atomic_store(&s->stopping, true);
    grpc_server_shutdown_and_notify(s->srv, s->shutdown_cq, s);
    /* without this the notification waits for idle client connections to go away */
    grpc_server_cancel_all_calls(s->srv);
    (void)grpc_completion_queue_next(s->shutdown_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    atomic_store(&s->drained, true);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].running)
            pthread_join(s->workers[i].thread, NULL);
    grpc_server_destroy(s->srv);
    s->srv = NULL;
    server_free(s);
}
