/* services/router -- the DynamoDB wire protocol (POST /, X-Amz-Target, application/x-amz-json-1.0)
 * over libmicrohttpd. Each request runs the same handler as the gRPC API, as a libs/rpc local
 * call: decoded by libs/ddbjson into the call's arena, authenticated by libs/sigv4. */
#ifndef DYN_SERVICES_ROUTER_HTTP_H
#define DYN_SERVICES_ROUTER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "libs/err/err.h"
#include "libs/rpc/rpc.h"
#include "libs/sigv4/sigv4.h"

typedef struct router_http router_http;

typedef struct router_http_opts {
    const char *listen;       /* "127.0.0.1:8000", "[::1]:8000", ":8000"; port 0 picks one */
    int threads;              /* MHD polling threads (default 2), each polling its connections */
    bool epoll;               /* epoll instead of poll(2): MHD takes a suspended connection out
                                 of the epoll set and puts it back on resume (two epoll_ctl per
                                 request), which poll(2) does not need; epoll pays off only with
                                 many more connections (docs/benchmarks.md) */
    const char *region;       /* named by the GET / health answer */
    dyn_sigv4_creds *creds;   /* borrowed, must outlive the endpoint; NULL: dev auth (any
                                 well-formed or missing signature is accepted) */
    size_t max_body;          /* request body cap in bytes (default 16 MiB, DynamoDB's) */
} router_http_opts;

/* Starts listening and serving on o->threads threads; requests run the methods registered on
 * srv (borrowed; it must be started, and outlive the endpoint). On DYN_OK *out is owned
 * (router_http_stop) and *port the bound port. DYN_EVALIDATION for a listen address that doesn't
 * parse, DYN_EUNAVAIL when it cannot be bound. */
dyn_err router_http_start(dyn_rpc_server *srv, const router_http_opts *o, router_http **out,
                          int *port);

/* Drains and frees h: stops accepting connections, lets requests in progress finish (their
 * responses close the connection), waits up to grace_ms for requests still being received, then
 * answers new requests ServiceUnavailable, waits for every running handler (however long), and
 * closes everything. Call before draining srv. NULL is fine. */
void router_http_stop(router_http *h, int grace_ms);
#endif /* DYN_SERVICES_ROUTER_HTTP_H */
