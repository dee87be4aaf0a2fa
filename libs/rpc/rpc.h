/* libs/rpc -- Dyne's gRPC C-core framework, server side: completion-queue worker threads, a
 * method table built from protobuf-c service descriptors, protobuf-c decode/encode into a per-call
 * arena, deadlines, cancellation, graceful drain on SIGTERM, grpc.health.v1.Health (Check and
 * Watch), and a small HTTP listener serving /metrics (Prometheus text) and /healthz.
 * Only this library includes <grpc/...>. */
#ifndef DYN_LIBS_RPC_RPC_H
#define DYN_LIBS_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"

typedef struct dyn_rpc_server dyn_rpc_server;   /* opaque */
typedef struct dyn_rpc_call dyn_rpc_call;       /* opaque: one in-flight server call */

/* A handler runs on a worker thread with the request already unpacked into the call's arena.
 * It either completes synchronously -- sets *resp (an initialised message of the method's output
 * type, allocated from dyn_rpc_call_arena(), or NULL for an empty reply) and returns DYN_OK, or
 * returns an error after dyn_rpc_call_fail() -- or it defers: calls dyn_rpc_call_defer(call) and
 * returns DYN_OK with *resp untouched, and later (from any thread, exactly once) calls
 * dyn_rpc_call_finish(). A handler never blocks for long: it must not wait on another RPC. */
typedef dyn_err (*dyn_rpc_handler)(dyn_rpc_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, void *ctx);

typedef struct dyn_rpc_method {
    const char *name;          /* method name inside the service, e.g. "PutItem" */
    dyn_rpc_handler handler;   /* NULL: answered UNIMPLEMENTED "<Op> is not implemented yet" */
} dyn_rpc_method;

typedef struct dyn_rpc_server_opts {
    const char *listen;        /* "127.0.0.1:50051"; port 0 picks a free one */
    int workers;               /* completion-queue threads (default 2) */
    int slots_per_worker;      /* calls armed per method per worker (default 8) */
    size_t arena_limit;        /* per-call arena cap (default 64 MiB) */
    size_t max_message;        /* max receive message bytes (default 32 MiB) */
    const char *http_listen;   /* "127.0.0.1:9100" for /metrics and /healthz; NULL: none */
} dyn_rpc_server_opts;

/* Creates a server (nothing listens yet). */
dyn_rpc_server *dyn_rpc_server_new(const dyn_rpc_server_opts *opts);

/* Registers every method of a protobuf-c service: methods found in `methods` (terminated by a
 * {NULL, NULL} entry) get their handler; the rest answer UNIMPLEMENTED with the operation's name.
 * `ctx` is passed to every handler. Call before dyn_rpc_server_start. */
void dyn_rpc_server_add_service(dyn_rpc_server *s, const ProtobufCServiceDescriptor *svc,
                                const dyn_rpc_method *methods, void *ctx);

/* Binds, starts the workers and the HTTP listener. On DYN_OK *port is the bound gRPC port
 * (useful with port 0) and, if http_port is not NULL, *http_port the HTTP one. */
dyn_err dyn_rpc_server_start(dyn_rpc_server *s, int *port, int *http_port);

/* Health status reported by grpc.health.v1.Health for service name `svc` ("" = whole server).
 * Watchers get the change. Thread-safe. */
void dyn_rpc_server_set_serving(dyn_rpc_server *s, const char *svc, bool serving);

/* Blocks until SIGTERM/SIGINT (installed by dyn_rpc_install_signals) or dyn_rpc_server_stop(),
 * then drains: reports NOT_SERVING, stops accepting calls, lets in-flight calls finish (at most
 * grace_ms), and joins the workers. */
void dyn_rpc_server_wait(dyn_rpc_server *s, int grace_ms);
void dyn_rpc_server_stop(dyn_rpc_server *s);   /* async-signal-safe request to drain */
void dyn_rpc_server_free(dyn_rpc_server *s);

/* SIGTERM/SIGINT set a flag every server's wait loop watches; SIGPIPE is ignored. */
void dyn_rpc_install_signals(void);
bool dyn_rpc_stopping(void);

/* Per-call helpers, valid inside a handler (or until dyn_rpc_call_finish for deferred calls). */
dyn_arena *dyn_rpc_call_arena(dyn_rpc_call *call);
dyn_err dyn_rpc_call_fail(dyn_rpc_call *call, dyn_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));   /* records the message; returns rc */
int64_t dyn_rpc_call_deadline_ms(dyn_rpc_call *call);   /* ms left; INT64_MAX if none */
bool dyn_rpc_call_cancelled(dyn_rpc_call *call);
const char *dyn_rpc_call_metadata(dyn_rpc_call *call, const char *key);   /* NULL if absent */
const char *dyn_rpc_call_method(dyn_rpc_call *call);   /* "PutItem" */
void dyn_rpc_call_defer(dyn_rpc_call *call);
/* Completes a deferred call: rc DYN_OK sends resp (arena-allocated or NULL); otherwise the
 * status, the message from dyn_rpc_call_fail (or errmsg if not NULL) and dyn-err metadata. */
void dyn_rpc_call_finish(dyn_rpc_call *call, dyn_err rc, ProtobufCMessage *resp,
                         const char *errmsg);

/* Errors on the wire: status code dyn_err_grpc(rc), the message as status details, and trailing
 * metadata "dyn-err" = dyn_err_name(rc) (e.g. "EVALIDATION") plus "dyn-err-type" =
 * dyn_err_type(rc) (e.g. "ValidationException"), so clients recover the exact error. */

/* Metrics: counters and gauges exported on /metrics. Names follow Prometheus rules; labels are
 * pre-rendered ("method=\"PutItem\""). Thread-safe, lock-free on the hot path. */
typedef struct dyn_rpc_counter dyn_rpc_counter;
dyn_rpc_counter *dyn_rpc_counter_get(const char *name, const char *labels, const char *help);
void dyn_rpc_counter_add(dyn_rpc_counter *c, uint64_t n);
void dyn_rpc_gauge_set(dyn_rpc_counter *c, int64_t v);

/* Wall-clock helpers shared by services. */
int64_t dyn_rpc_now_ms(void);
#endif /* DYN_LIBS_RPC_RPC_H */
