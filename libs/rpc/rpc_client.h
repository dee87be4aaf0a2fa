/* libs/rpc -- client side: a pool of channels to one target served by one completion-queue
 * thread, unary calls (blocking or with a completion callback) with deadlines, and bidirectional
 * streams (etcd Watch and LeaseKeepAlive ride on these). Thread-safe. */
#ifndef DYN_LIBS_RPC_RPC_CLIENT_H
#define DYN_LIBS_RPC_RPC_CLIENT_H

#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"

typedef struct dyn_rpc_client dyn_rpc_client;   /* opaque */
typedef struct dyn_rpc_stream dyn_rpc_stream;   /* opaque */

/* target: "127.0.0.1:7001". channels: connections spread round-robin (>= 1). */
dyn_rpc_client *dyn_rpc_client_new(const char *target, int channels);
void dyn_rpc_client_free(dyn_rpc_client *c);   /* cancels what is in flight; callbacks still run */
/* Off by default: a call to an unreachable peer fails at once with DYN_EUNAVAIL. On: unary
 * calls wait for the channel to (re)connect until their deadline -- for peers that restart,
 * such as storage nodes behind the router. */
void dyn_rpc_client_set_wait_for_ready(dyn_rpc_client *c, bool wait);

/* Blocking unary call of full method path `method` ("/dyne.internal.Storage/Put"). The reply is
 * unpacked into arena `a` (*resp, of type resp_desc). On failure the error is recovered from the
 * "dyn-err" trailing metadata when present, else mapped from the gRPC status (UNAVAILABLE ->
 * DYN_EUNAVAIL, DEADLINE_EXCEEDED -> DYN_EDEADLINE, ...), and *errmsg (arena) holds the status
 * message. errmsg may be NULL. deadline_ms <= 0 means none. */
dyn_err dyn_rpc_client_call(dyn_rpc_client *c, const char *method, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc, int deadline_ms,
                            dyn_arena *a, ProtobufCMessage **resp, const char **errmsg);

/* Asynchronous unary call: returns at once; `done` runs exactly once on the client's
 * completion-queue thread with the reply unpacked into `a` (the caller must not use `a` until
 * then). done must not block. */
typedef void (*dyn_rpc_done_fn)(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg);
void dyn_rpc_client_call_async(dyn_rpc_client *c, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, int deadline_ms,
                               dyn_arena *a, dyn_rpc_done_fn done, void *arg);

/* As dyn_rpc_client_call_async; in addition, when the call fails and the server sent an error
 * detail (trailing metadata "dyn-error-bin", see dyn_rpc_call_set_error_detail), done's resp is
 * that detail unpacked into `a` as a message of type err_desc (NULL when none came). */
void dyn_rpc_client_call_async_detail(dyn_rpc_client *c, const char *method,
                                      const ProtobufCMessage *req,
                                      const ProtobufCMessageDescriptor *resp_desc,
                                      const ProtobufCMessageDescriptor *err_desc, int deadline_ms,
                                      dyn_arena *a, dyn_rpc_done_fn done, void *arg);

/* Bidirectional stream. on_msg runs on the completion thread for each message (msg is freed after
 * it returns: copy what you keep); on_close runs once when the stream ends (rc DYN_OK on a clean
 * close, else the error) -- after it, the stream is freed by the library. */
typedef void (*dyn_rpc_stream_msg_fn)(void *arg, const ProtobufCMessage *msg);
typedef void (*dyn_rpc_stream_close_fn)(void *arg, dyn_err rc, const char *errmsg);
dyn_rpc_stream *dyn_rpc_stream_open(dyn_rpc_client *c, const char *method,
                                    const ProtobufCMessageDescriptor *resp_desc,
                                    dyn_rpc_stream_msg_fn on_msg, dyn_rpc_stream_close_fn on_close,
                                    void *arg);
/* Queues one message (copied); sends are ordered. DYN_EUNAVAIL once the stream is closing. */
dyn_err dyn_rpc_stream_send(dyn_rpc_stream *s, const ProtobufCMessage *msg);
/* Half-closes and cancels; on_close still runs once. */
void dyn_rpc_stream_cancel(dyn_rpc_stream *s);
#endif /* DYN_LIBS_RPC_RPC_CLIENT_H */
