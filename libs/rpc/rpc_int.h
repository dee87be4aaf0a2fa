/* libs/rpc -- private declarations shared by the files of this library (server and client). Never
 * included from outside libs/rpc. */
#ifndef DYN_LIBS_RPC_RPC_INT_H
#define DYN_LIBS_RPC_RPC_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <protobuf-c/protobuf-c.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "libs/rpc/rpc.h"

/* ===== Shared by server and client (common.c) ============================================= */

#define DYN_RPC_MD_ERR "dyn-err"             /* trailing metadata: dyn_err_name(rc) */
#define DYN_RPC_MD_ERR_TYPE "dyn-err-type"   /* trailing metadata: dyn_err_type(rc) */
#define DYN_RPC_MD_ERR_DETAIL "dyn-error-bin"   /* trailing metadata: a packed error detail */
#define DYN_RPC_NCODES 17                    /* gRPC status codes 0..16 */

/* The gRPC column of err.def: the status a server answers with for rc. */
grpc_status_code dyn_rpc_status(dyn_err rc);
/* Best guess of a dyn_err for a bare gRPC status (no dyn-err metadata): UNAVAILABLE ->
 * DYN_EUNAVAIL, DEADLINE_EXCEEDED -> DYN_EDEADLINE, CANCELLED -> DYN_ECANCELLED, ... */
dyn_err dyn_rpc_err_from_status(grpc_status_code st);
/* Inverse of dyn_err_name for a (not NUL-terminated) metadata value; false if unknown. */
bool dyn_rpc_err_from_name(const char *name, size_t len, dyn_err *out);
/* "INVALID_ARGUMENT"; "UNKNOWN" out of range. Static string. */
const char *dyn_rpc_code_name(grpc_status_code st);
/* An absolute realtime deadline `ms` from now (for grpc_completion_queue_next and calls);
 * ms < 0: infinitely far. */
gpr_timespec dyn_rpc_tick(int64_t ms);
/* Monotonic clock in ns, for durations. */
int64_t dyn_rpc_mono_ns(void);
/* Packs m (NULL: the empty message) into a new byte buffer (owned: grpc_byte_buffer_destroy). */
grpc_byte_buffer *dyn_rpc_pack(const ProtobufCMessage *m);
/* The bytes one element of a repeated field of type t takes in its C array (pbpack.c). */
size_t rpc_pb_elt_size(ProtobufCType t);
/* Unpacks bb (NULL: zero bytes) as a `desc` message allocated in arena a. DYN_ESERIALIZATION if
 * the bytes are not a valid message, DYN_ENOMEM if the arena cap was hit. */
dyn_err dyn_rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc, dyn_arena *a,
                       ProtobufCMessage **out);

/* ===== Server side (server.c, health.c, http.c, metrics.c) ================================= */

typedef enum { CALL_IDLE = 0, CALL_WAIT_REQUEST, CALL_ACTIVE } rpc_call_state;
typedef enum {
    METHOD_UNARY = 0,     /* request -> handler -> one reply */
    METHOD_HEALTH_WATCH,  /* grpc.health.v1.Health/Watch: server-streaming, health.c */
    METHOD_GENERIC,       /* unregistered paths: always UNIMPLEMENTED */
} rpc_method_kind;

typedef struct rpc_method {
    char *path;                       /* owned: "/dyne.v1.DynamoDB/PutItem" */
    const char *name;                 /* "PutItem"; borrowed from the descriptor */
    const ProtobufCMethodDescriptor *desc;   /* NULL for METHOD_GENERIC */
    dyn_rpc_handler handler;          /* NULL: UNIMPLEMENTED */
    void *ctx;
    rpc_method_kind kind;
    void *reg;                        /* grpc_server_register_method handle */
    int slots;                        /* call slots armed per worker */
    /* metrics, looked up once (dyn_rpc_counter_get takes a lock) and cached here */
    _Atomic(dyn_rpc_counter *) requests[DYN_RPC_NCODES];   /* by status code */
    dyn_rpc_counter *dur_sum, *dur_count;
    const ProtobufCFieldDescriptor *table_field;   /* the input's string TableName, if any */
} rpc_method;

typedef struct rpc_tag {   /* what the cq hands back: which call, and which of its two batches */
    dyn_rpc_call *call;
    bool close;            /* the RECV_CLOSE_ON_SERVER batch, else the request/send batch */
} rpc_tag;

typedef struct rpc_worker {   /* one thread, one completion queue, its own call slots */
    dyn_rpc_server *s;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool running;                 /* thread started: join it */
    dyn_rpc_call *calls;          /* owned array */
    size_t ncalls;
} rpc_worker;

struct dyn_rpc_call {
    rpc_call_state state;
    rpc_worker *w;
    rpc_method *m;
    rpc_tag tag, close_tag;
    grpc_call *call;                  /* owned: unref in call_reset() */
    gpr_timespec deadline;
    grpc_call_details details;        /* METHOD_GENERIC slots only */
    grpc_metadata_array req_md;
    grpc_byte_buffer *req_payload, *resp_payload;   /* owned */
    grpc_slice status_details;        /* owned while the status batch runs */
    grpc_metadata trailer[3];         /* dyn-err, dyn-err-type: static; dyn-error-bin: owned */
    const ProtobufCMessage *err_detail;   /* dyn_rpc_call_set_error_detail; borrowed */
    const char *table;                /* dyn_rpc_call_set_table; borrowed; NULL: none */
    int close_cancelled;              /* written by gRPC when the close batch completes */
    atomic_bool cancelled;            /* read by handlers/finishers on any thread */
    bool status_done, close_done;     /* both true: the slot can be recycled (worker only) */
    bool deferred;                    /* set by dyn_rpc_call_defer inside the handler */
    atomic_bool finished;             /* the status batch has been started */
    int64_t start_ns;                 /* monotonic, when the request arrived */
    const char *errmsg;               /* arena; from dyn_rpc_call_fail */
    dyn_arena arena;                  /* everything else the call allocates */
    /* health Watch only; guarded by the server's health mutex */
    const char *watch_svc;            /* arena; non-NULL once the Watch stream started */
    int watch_sent;                   /* last status sent; -1 none */
    bool watch_busy, watch_final;     /* a send batch is running; the status was started */
    dyn_rpc_call *watch_next;         /* list of active watchers */
    /* local calls only (dyn_rpc_local_new); w is NULL for them */
    dyn_rpc_server *local_srv;        /* non-NULL: a local call */
    dyn_rpc_local_done_fn local_done; /* set by dyn_rpc_local_run */
    void *local_arg;
    atomic_int local_state;           /* LOCAL_NEW or LOCAL_BIT_* */
    dyn_rpc_call *local_next;         /* the server's free list of local calls */
};

/* dyn_rpc_call.local_state: 0 (LOCAL_NEW) or these bits */
#define LOCAL_NEW 0
#define LOCAL_BIT_RUN 1    /* inside dyn_rpc_local_run: the call may not be recycled yet */
#define LOCAL_BIT_DONE 2   /* done fired (or the call was rejected): it may be freed */
#define LOCAL_BIT_FREE 4   /* dyn_rpc_local_free was called */

typedef struct rpc_health_entry {
    char *name;   /* owned */
    int status;   /* Grpc__Health__V1__HealthCheckResponse__ServingStatus */
} rpc_health_entry;

typedef struct rpc_health {
    pthread_mutex_t mu;
    rpc_health_entry *v;   /* owned array */
    size_t n, cap;
    dyn_rpc_call *watchers;   /* active Watch calls */
    bool shutdown;            /* draining: Watch calls end, new ones end at once */
} rpc_health;

typedef struct rpc_http rpc_http;

struct dyn_rpc_server {
    dyn_rpc_server_opts opts;         /* listen/http_listen owned copies */
    grpc_server *srv;
    grpc_completion_queue *shutdown_cq;   /* receives grpc_server_shutdown_and_notify */
    rpc_method **methods;             /* owned; the last one is the generic (unknown path) one */
    size_t nmethods;
    rpc_worker *workers;              /* owned array of opts.workers */
    rpc_health health;
    rpc_http *http;
    volatile sig_atomic_t stop;       /* dyn_rpc_server_stop() */
    pthread_rwlock_t arm_lock;        /* write-held while setting stopping */
    atomic_bool stopping;             /* don't re-arm slots: the server is shutting down */
    atomic_bool serving;              /* /healthz answers 200 */
    atomic_int inflight;              /* slots between request arrival and recycling, plus
                                         local calls between _new and _free */
    pthread_mutex_t local_mu;         /* guards local_free */
    dyn_rpc_call *local_free;         /* recycled local calls (arena kept), at most LOCAL_KEEP */
    int nlocal_free;
    bool started, drained;
};

/* server.c: starting batches on a call (health.c streams with these). Both abort on a gRPC API
 * misuse error, which can only be a bug here. */
void rpc_call_send_message(dyn_rpc_call *c, grpc_byte_buffer *payload, bool initial_md);
void rpc_call_send_status(dyn_rpc_call *c, dyn_err rc, const char *msg, grpc_byte_buffer *payload,
                          bool initial_md);

/* health.c */
void rpc_health_init(rpc_health *h);
void rpc_health_fini(rpc_health *h);
void rpc_health_add_service(dyn_rpc_server *s);   /* registers grpc.health.v1.Health */
void rpc_health_set(rpc_health *h, const char *svc, int status);
void rpc_health_watch_start(dyn_rpc_call *c, const ProtobufCMessage *req);
void rpc_health_watch_event(dyn_rpc_call *c, bool close, bool ok);   /* on the worker thread */
void rpc_health_shutdown(rpc_health *h);   /* every status NOT_SERVING, end all Watch calls */

/* metrics.c */
typedef enum {
    METRIC_COUNTER = 0,
    METRIC_GAUGE,
    METRIC_SUM_US,
    METRIC_SUM_COUNT,
    METRIC_HIDDEN,   /* a gauge off /metrics (dyn_rpc_gauge_hide) */
} rpc_metric_kind;
/* Series `family``suffix`{labels}; kind decides the # TYPE line and how the value prints
 * (METRIC_SUM_US holds microseconds and prints seconds). The pointer lives forever. */
dyn_rpc_counter *rpc_metric_get(const char *family, const char *suffix, const char *labels,
                                const char *help, rpc_metric_kind kind);
/* Prometheus text format 0.0.4; *out owned (free()). */
void rpc_metrics_render(char **out, size_t *len);

/* reqstats.c: per operation, table and outcome counts and latency histograms. */
void rpc_reqstats_record(const char *method, const char *table, dyn_err rc, uint64_t dur_us);
void rpc_reqstats_render(FILE *f);

/* http.c: a tiny HTTP/1.0 responder for /metrics and /healthz on its own thread. */
dyn_err rpc_http_start(const char *listen, const atomic_bool *serving, rpc_http **out, int *port);
void rpc_http_stop(rpc_http *h);   /* closes the socket and joins the thread; frees h */

#endif /* DYN_LIBS_RPC_RPC_INT_H */
