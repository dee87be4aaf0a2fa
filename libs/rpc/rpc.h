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

/* grpc_init() with this process's gRPC settings (abseil's mutex deadlock detector off, the
 * default executor's threads off: common.c says why). The server and client here call it; so
 * should anything else that drives gRPC C-core directly (bench/loadgen). Pair each call with
 * grpc_shutdown(). */
void dyn_rpc_init(void);

/* Packs protobuf-c message m into *out (*len bytes, allocated in arena a): exactly
 * protobuf_c_message_pack's bytes, in one pass where protobuf-c measures nested messages again
 * at every level (pbpack.c). Replies and requests here are packed with it. DYN_ENOMEM past the
 * arena cap. Thread-safe. */
dyn_err dyn_rpc_pb_pack(const ProtobufCMessage *m, dyn_arena *a, uint8_t **out, size_t *len);

/* Per-call helpers, valid inside a handler (or until dyn_rpc_call_finish for deferred calls). */
dyn_arena *dyn_rpc_call_arena(dyn_rpc_call *call);
dyn_err dyn_rpc_call_fail(dyn_rpc_call *call, dyn_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));   /* records the message; returns rc */
/* The detail of the call's error (a dyne.v1.ErrorDetail for the public API: the Item of a failed
 * condition, CancellationReasons, ...), sent packed in the trailing metadata "dyn-error-bin" when
 * the call fails, and handed to a local call's owner by dyn_rpc_call_error_detail. detail is
 * borrowed until the call ends (allocate it in the call's arena); NULL clears it. */
void dyn_rpc_call_set_error_detail(dyn_rpc_call *call, const ProtobufCMessage *detail);
const ProtobufCMessage *dyn_rpc_call_error_detail(dyn_rpc_call *call);   /* NULL: none */
/* The server the call arrived at (gRPC or local): for handlers that make local calls. */
dyn_rpc_server *dyn_rpc_call_server(dyn_rpc_call *call);
/* Names the table the call is about, for the per-table request metrics (dyn_requests_total and
 * dyn_request_duration_seconds, docs/metrics.md); borrowed until the call ends. Unset: "". */
void dyn_rpc_call_set_table(dyn_rpc_call *call, const char *table);
int64_t dyn_rpc_call_deadline_ms(dyn_rpc_call *call);   /* ms left; INT64_MAX if none */
bool dyn_rpc_call_cancelled(dyn_rpc_call *call);
const char *dyn_rpc_call_metadata(dyn_rpc_call *call, const char *key);   /* NULL if absent */
const char *dyn_rpc_call_method(dyn_rpc_call *call);   /* "PutItem" */
void dyn_rpc_call_defer(dyn_rpc_call *call);
/* Completes a deferred call: rc DYN_OK sends resp (arena-allocated or NULL); otherwise the
 * status, the message from dyn_rpc_call_fail (or errmsg if not NULL) and dyn-err metadata. */
void dyn_rpc_call_finish(dyn_rpc_call *call, dyn_err rc, ProtobufCMessage *resp,
                         const char *errmsg);

/* Local calls: run a registered method's handler in-process, exactly as for a gRPC call (same
 * handler, same dyn_rpc_call_* helpers, sync return or defer + dyn_rpc_call_finish from any
 * thread, same dyn_rpc_requests_total / duration metrics), for other front doors such as the
 * DynamoDB HTTP endpoint. A local call counts as in flight: dyn_rpc_server_wait's drain waits for
 * it, and no new one starts once the drain began. dyn_rpc_call_deadline_ms answers INT64_MAX,
 * dyn_rpc_call_metadata NULL, dyn_rpc_call_cancelled false.
 *
 *   dyn_rpc_local_new(s, "dyne.v1.DynamoDB", "PutItem", &call, &in);   // in: PutItemInput
 *   decode the request into dyn_rpc_call_arena(call) as an `in` message, then
 *   dyn_rpc_local_run(call, req, done, arg);   // done fires exactly once
 *   ... use done's resp/errmsg ..., then dyn_rpc_local_free(call).
 *
 * `done` gets rc and, on DYN_OK, resp (the handler's reply, NULL for an empty one); on an error
 * errmsg is the message (from dyn_rpc_call_fail or dyn_rpc_call_finish) or NULL when the handler
 * gave none. Both are borrowed until dyn_rpc_local_free. It runs on the thread that calls
 * dyn_rpc_local_run (before that returns) when the handler answers synchronously, fails, or the
 * method has no handler (DYN_EUNIMPLEMENTED, "<Op> is not implemented yet"); for a deferred
 * handler on the thread that calls dyn_rpc_call_finish, possibly before dyn_rpc_local_run
 * returns. */
typedef void (*dyn_rpc_local_done_fn)(void *arg, dyn_err rc, const ProtobufCMessage *resp,
                                      const char *errmsg);

/* A new local call of `method` ("PutItem") of the service named `service` ("dyne.v1.DynamoDB").
 * On DYN_OK *call is owned (dyn_rpc_local_free) and *input the request message type to decode
 * into dyn_rpc_call_arena(*call). DYN_EUNKNOWNOP: no such service or method (counted as an
 * UNIMPLEMENTED call of the unknown-path method); DYN_EUNAVAIL: the server is not started or is
 * draining. Thread-safe. */
dyn_err dyn_rpc_local_new(dyn_rpc_server *s, const char *service, const char *method,
                          dyn_rpc_call **call, const ProtobufCMessageDescriptor **input);

/* Gives a local call a deadline ms from now (before dyn_rpc_local_run): dyn_rpc_call_deadline_ms
 * then counts down from it, as for a gRPC call. Without one it answers INT64_MAX. */
void dyn_rpc_local_set_deadline(dyn_rpc_call *call, int64_t ms);

/* Runs the handler with req (borrowed until done fires; normally in the call's arena, of the
 * type dyn_rpc_local_new gave). Call at most once per call. */
void dyn_rpc_local_run(dyn_rpc_call *call, const ProtobufCMessage *req, dyn_rpc_local_done_fn done,
                       void *arg);

/* Ends a call whose request never reached its handler (it could not be decoded, or was refused
 * before): counted in the method's metrics with rc; done is not called. Then dyn_rpc_local_free.
 * Not after dyn_rpc_local_run. */
void dyn_rpc_local_reject(dyn_rpc_call *call, dyn_err rc);

/* Releases a local call (its arena, with the request and reply) and its in-flight count. Only
 * before dyn_rpc_local_run or after its done fired: freeing a running call aborts. NULL is
 * fine. */
void dyn_rpc_local_free(dyn_rpc_call *call);

/* Errors on the wire: status code dyn_err_grpc(rc), the message as status details, and trailing
 * metadata "dyn-err" = dyn_err_name(rc) (e.g. "EVALIDATION") plus "dyn-err-type" =
 * dyn_err_type(rc) (e.g. "ValidationException"), so clients recover the exact error. */

/* Metrics: counters and gauges exported on /metrics. Names follow Prometheus rules; labels are
 * pre-rendered ("method=\"PutItem\""). Thread-safe, lock-free on the hot path. */
typedef struct dyn_rpc_counter dyn_rpc_counter;
dyn_rpc_counter *dyn_rpc_counter_get(const char *name, const char *labels, const char *help);
void dyn_rpc_counter_add(dyn_rpc_counter *c, uint64_t n);
void dyn_rpc_gauge_set(dyn_rpc_counter *c, int64_t v);
/* Takes a gauge off /metrics until its next dyn_rpc_gauge_set (series of things that went). */
void dyn_rpc_gauge_hide(dyn_rpc_counter *c);

/* Wall-clock helpers shared by services. */
int64_t dyn_rpc_now_ms(void);
#endif /* DYN_LIBS_RPC_RPC_H */
