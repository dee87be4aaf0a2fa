/* bench/echo -- the bare gRPC C-core reference for Dyne's gRPC numbers: one registered method,
 * ECHO_METHOD, whose reply is the request's bytes as they came (no protobuf, no arena, no
 * handler), served by completion-queue worker threads; or, with a backend, the same call
 * forwarded to another echo and its reply passed back (client -> proxy -> backend, as client ->
 * router -> storage, without coalescing). What is left of a Dyne figure after subtracting these
 * is Dyne's own work. */
#ifndef DYN_BENCH_ECHO_ECHO_H
#define DYN_BENCH_ECHO_ECHO_H

#define ECHO_METHOD "/dyne.bench.Echo/Echo"

typedef struct echo_opts {
    const char *listen;    /* "127.0.0.1:7100"; port 0 binds any free one */
    const char *backend;   /* NULL or "": answer here (1 hop); "host:port" of another echo:
                              forward every call there and answer with its reply (2 hops) */
    int workers;           /* completion-queue threads, each with its own queue */
    int slots;             /* calls each worker serves at once (armed in advance) */
    int backend_conns;     /* proxy: HTTP/2 connections to the backend, used round-robin */
} echo_opts;

typedef struct echo_server echo_server;   /* opaque */

/* Binds o->listen, starts the workers and returns the running server, the port it bound in
 * *port; NULL (logged) when it cannot bind. o's strings are copied. Calls grpc_init (through
 * dyn_rpc_init, for the same process-wide gRPC settings Dyne's services run with). */
echo_server *echo_server_start(const echo_opts *o, int *port);
/* Stops taking calls, cancels those in flight (and their backend calls), joins the workers and
 * frees s; pairs with echo_server_start's grpc_init. Not from a signal handler. */
void echo_server_stop(echo_server *s);
#endif /* DYN_BENCH_ECHO_ECHO_H */
