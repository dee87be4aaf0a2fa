/* libs/rpc -- grpc.health.v1.Health: Check answers from a status table, Watch streams the current
 * status and every change until the client cancels or the server drains. */
#include "libs/rpc/rpc_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/grpc/health/v1/health.pb-c.h"

#define ST_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define ST_NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define ST_UNKNOWN_SVC GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

void
rpc_health_init(rpc_health *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
}

void
rpc_health_fini(rpc_health *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i].name);
    DYN_FREE(h->v);
    h->n = h->cap = 0;
    pthread_mutex_destroy(&h->mu);
}

/* Status of svc, or SERVICE_UNKNOWN. Caller holds h->mu. */
static int
status_of(const rpc_health *h, const char *svc)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].name, svc) == 0)
            return h->v[i].status;
    return ST_UNKNOWN_SVC;
}

static grpc_byte_buffer *
pack_status(int status)
{
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = status;
    return dyn_rpc_pack(&r.base);
}

static void
watch_unlink(rpc_health *h, dyn_rpc_call *c)
{
    for (dyn_rpc_call **p = &h->watchers; *p != NULL; p = &(*p)->watch_next)
        if (*p == c) {
            *p = c->watch_next;
            c->watch_next = NULL;
            return;
        }
}

/* Starts whatever a Watch call needs next, if no send is running: the final status once the call
 * is cancelled or the server drains, else a message if the status changed. gRPC allows one send
 * batch at a time per call; h->mu serialises them across the worker and set_serving threads.
 * Caller holds h->mu. */
static void
watch_pump(rpc_health *h, dyn_rpc_call *c)
{
    bool cancelled = atomic_load(&c->cancelled);

    if (c->watch_busy || c->watch_final)
        return;
    if (!cancelled) {
        int st = status_of(h, c->watch_svc);
        if (st != c->watch_sent) {   /* even when draining: watchers must see NOT_SERVING */
            c->watch_busy = true;
            rpc_call_send_message(c, pack_status(st), c->watch_sent < 0);
            c->watch_sent = st;
            return;
        }
    }
    if (h->shutdown || cancelled) {
        watch_unlink(h, c);
        c->watch_final = c->watch_busy = true;
        /* a drain ends the stream cleanly; the client reconnects elsewhere */
        rpc_call_send_status(c, cancelled ? DYN_ECANCELLED : DYN_OK,
                             cancelled ? "cancelled" : "server is shutting down", NULL,
                             c->watch_sent < 0);
    }
}

void
rpc_health_watch_start(dyn_rpc_call *c, const ProtobufCMessage *req)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    rpc_health *h = &c->w->s->health;

    c->watch_svc = r->service != NULL ? r->service : "";   /* arena: lives as long as the call */
    c->watch_sent = -1;
    pthread_mutex_lock(&h->mu);
    c->watch_next = h->watchers;
    h->watchers = c;
    watch_pump(h, c);
    pthread_mutex_unlock(&h->mu);
}

void
rpc_health_watch_event(dyn_rpc_call *c, bool close, bool ok)
{
    rpc_health *h = &c->w->s->health;

    pthread_mutex_lock(&h->mu);
    if (close) {
        watch_pump(h, c);   /* cancelled is set: ends the stream */
    } else {
        c->watch_busy = false;
        grpc_byte_buffer_destroy(c->resp_payload);
        c->resp_payload = NULL;
        if (c->watch_final) {
            c->status_done = true;
        } else {
            if (!ok)   /* the stream broke: stop sending, end it */
                atomic_store(&c->cancelled, true);
            watch_pump(h, c);
        }
    }
    pthread_mutex_unlock(&h->mu);
}

void
rpc_health_set(rpc_health *h, const char *svc, int status)
{
    size_t i;

    pthread_mutex_lock(&h->mu);
    for (i = 0; i < h->n; i++)
        if (strcmp(h->v[i].name, svc) == 0)
            break;
    if (i == h->n) {
        if (h->n == h->cap) {
            h->cap = h->cap ? 2 * h->cap : 8;
            h->v = dyn_xrealloc(h->v, h->cap * sizeof *h->v);
        }
        h->v[h->n].name = dyn_xstrdup(svc);
        h->n++;
    }
    h->v[i].status = status;
    for (dyn_rpc_call *c = h->watchers, *next; c != NULL; c = next) {
        next = c->watch_next;   /* watch_pump may unlink c */
        if (strcmp(c->watch_svc, svc) == 0)
            watch_pump(h, c);
    }
    pthread_mutex_unlock(&h->mu);
}

void
rpc_health_shutdown(rpc_health *h)
{
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        h->v[i].status = ST_NOT_SERVING;
    h->shutdown = true;
    /* idle watchers get NOT_SERVING now and their final status when that send completes */
    for (dyn_rpc_call *c = h->watchers, *next; c != NULL; c = next) {
        next = c->watch_next;   /* watch_pump may unlink c */
        watch_pump(h, c);
    }
    pthread_mutex_unlock(&h->mu);
}

void
dyn_rpc_server_set_serving(dyn_rpc_server *s, const char *svc, bool serving)
{
    rpc_health_set(&s->health, svc != NULL ? svc : "", serving ? ST_SERVING : ST_NOT_SERVING);
}

static dyn_err
health_check(dyn_rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, void *ctx)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    rpc_health *h = &((dyn_rpc_server *)ctx)->health;
    const char *svc = r->service != NULL ? r->service : "";
    Grpc__Health__V1__HealthCheckResponse *out;
    int st;

    pthread_mutex_lock(&h->mu);
    st = status_of(h, svc);
    pthread_mutex_unlock(&h->mu);
    /* the health-checking protocol: Check on an unknown service fails with NOT_FOUND */
    if (st == ST_UNKNOWN_SVC)
        return dyn_rpc_call_fail(call, DYN_ENOTFOUND, "unknown service '%s'", svc);
    if ((out = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *out)) == NULL)
        return DYN_ENOMEM;
    grpc__health__v1__health_check_response__init(out);
    out->status = st;
    *resp = &out->base;
    return DYN_OK;
}

void
rpc_health_add_service(dyn_rpc_server *s)
{
    static const dyn_rpc_method methods[] = {
        { "Check", health_check },
        { "Watch", health_check },   /* placeholder: the method is switched to the stream below */
        { NULL, NULL },
    };

    dyn_rpc_server_add_service(s, &grpc__health__v1__health__descriptor, methods, s);
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i]->path, "/grpc.health.v1.Health/Watch") == 0) {
            s->methods[i]->kind = METHOD_HEALTH_WATCH;
            s->methods[i]->handler = NULL;
        }
    /* probes are quick and rare next to the data path; Watch streams keep their slot, so they
     * keep the full count */
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i]->path, "/grpc.health.v1.Health/Check") == 0)
            s->methods[i]->slots = 2;
}
