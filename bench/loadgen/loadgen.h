/* bench/loadgen -- Dyne's load generator: many calls in flight on gRPC C-core completion queues,
 * closed loop (N in flight) or open loop (a target rate), latency histograms per operation,
 * server CPU per operation from /proc/<pid>/stat. A target turns (operation, key index) into
 * request bytes and checks replies; the driver moves bytes. Targets now: the storage node's
 * dyne.internal.Storage and the router's dyne.v1.DynamoDB, both over gRPC, the DynamoDB wire
 * protocol (JSON over HTTP/1.1, keep-alive connections on epoll) of the router's --ddb-listen or
 * any DynamoDB-compatible server (dynalite), and bench/echo's bare gRPC echo (the floor under
 * any gRPC hop). Workloads: put, get, query, insert and read-modify-write (one conditional
 * UpdateItem), alone or mixed, YCSB A-F by name; keys uniform, Zipfian or all on a few hot ones. */
#ifndef DYN_BENCH_LOADGEN_LOADGEN_H
#define DYN_BENCH_LOADGEN_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "libs/arena/arena.h"
#include "proto/dyne/v1/attribute.pb-c.h"

/* ---- operations and workloads ---------------------------------------------------------- */

typedef enum {
    LG_OP_PUT = 0,   /* overwrite the item of an existing key (PutItem / Storage.Put) */
    LG_OP_GET,       /* point read of an existing key (GetItem / Storage.Get) */
    LG_OP_QUERY,     /* the items of one partition-key value (Query / Storage.Range) */
    LG_OP_INSERT,    /* put of a key past the preloaded ones (YCSB "insert") */
    LG_OP_RMW,       /* read-modify-write of an existing key, done server-side by one conditional
                        UpdateItem (Storage.Update): LG_RMW_UPDATE if LG_RMW_CONDITION */
    LG_OP__COUNT
} lg_op;

const char *lg_op_name(lg_op op);   /* "put", "get", "query", "insert", "rmw" */

/* LG_OP_RMW's expressions: add one to the item's number "n" and write its filler "v" again, on
 * an item that exists (a missing one fails the condition: an error, so run --load first).
 * Names #n, #v; values :zero, :one (Numbers) and :v (lg_rmw_values). */
#define LG_RMW_UPDATE "SET #n = if_not_exists(#n, :zero) + :one, #v = :v"
#define LG_RMW_CONDITION "attribute_exists(pk)"

/* How lg_keys_pick chooses among the preloaded keys. */
typedef enum {
    LG_DIST_UNIFORM = 0,
    LG_DIST_ZIPF,   /* Zipfian: YCSB's scrambled, theta 0.99 */
    LG_DIST_HOT,    /* every pick one of the first `hot` indexes, uniformly (default 1: index 0);
                       with group > 1 they share partition-key values: hot items, hot partition */
} lg_dist;

/* Key layout shared by every target and by bench/storage/wt_bench.c: item index k has
 * partition key pk = "k%010llu" of k / group and sort key sk = k % group (a Number), so a
 * query of one pk returns `group` items. */
typedef struct lg_keys {
    uint64_t items;   /* preloaded item indexes are [0, items) */
    uint32_t group;   /* items per partition-key value (the query size) */
    lg_dist dist;
    uint64_t hot;     /* LG_DIST_HOT: picks are in [0, hot), 1 <= hot <= items */
    double zipf_zetan, zipf_eta, zipf_alpha, zipf_theta, zipf_zeta2;
} lg_keys;
/* (bench/storage/wt_bench.c passes false for dist: uniform.) */
void lg_keys_init(lg_keys *k, uint64_t items, uint32_t group, lg_dist dist);
/* LG_DIST_HOT's key set: the first n indexes (clamped to [1, items]). */
void lg_keys_set_hot(lg_keys *k, uint64_t n);
/* "uniform", "zipf", "hot" into *d; false on garbage. */
bool lg_dist_parse(const char *s, lg_dist *d);

typedef struct lg_rng {
    uint64_t s[2];
} lg_rng;
void lg_rng_seed(lg_rng *r, uint64_t seed);
uint64_t lg_rng_next(lg_rng *r);
double lg_rng_unit(lg_rng *r);   /* [0, 1) */

/* A key index in [0, k->items) from the key distribution. */
uint64_t lg_keys_pick(const lg_keys *k, lg_rng *r);

/* An operation mix in percent; the ops sum to 100. */
typedef struct lg_mix {
    int pct[LG_OP__COUNT];
} lg_mix;
/* "put", "get", "query", "insert", "rmw", YCSB "A" (get 50 put 50), "B" (get 95 put 5), "C" (get
 * 100), "D" (get 95 insert 5; latest-key skew is not modelled: keys keep --dist), "E" (query 95
 * insert 5), "F" (get 50 rmw 50), or a list "get:90,put:10", "get:50,rmw:50". false on
 * garbage. */
bool lg_mix_parse(const char *s, lg_mix *m);
lg_op lg_mix_pick(const lg_mix *m, lg_rng *r);

/* ---- histograms ------------------------------------------------------------------------- */

/* Log-bucketed: exact below 64 ns, then 64 buckets per power of two (<= 1.6% error), up to
 * 2^41 ns (~37 min); larger values land in the last bucket. */
#define LG_HIST_SUB 64
#define LG_HIST_MAXEXP 41
#define LG_HIST_BUCKETS (LG_HIST_SUB * (LG_HIST_MAXEXP - 4))

typedef struct lg_hist {
    uint64_t n, sum_ns, min_ns, max_ns;
    uint64_t b[LG_HIST_BUCKETS];
} lg_hist;
void lg_hist_init(lg_hist *h);
void lg_hist_add(lg_hist *h, uint64_t ns);
void lg_hist_merge(lg_hist *into, const lg_hist *from);
/* The value at quantile q in [0, 1] (the midpoint of its bucket; exact below 128 ns); 0 if
 * empty. */
uint64_t lg_hist_quantile(const lg_hist *h, double q);

/* ---- server CPU -------------------------------------------------------------------------- */

/* utime + stime of a process in seconds (clock ticks of /proc/<pid>/stat); -1 if unreadable. */
double lg_proc_cpu_s(int pid);

/* ---- targets ------------------------------------------------------------------------------ */

/* A growable byte buffer a target packs requests into. */
typedef struct lg_buf {
    uint8_t *p;   /* owned */
    size_t len, cap;
} lg_buf;
uint8_t *lg_buf_reserve(lg_buf *b, size_t n);   /* room for n bytes from the start; len = 0 */
void lg_buf_fini(lg_buf *b);

/* A blocking unary call the driver offers to a target's setup: method path (HTTP: the
 * X-Amz-Target, "DynamoDB_20120810.CreateTable"), request bytes; the reply bytes in *resp.
 * Returns the gRPC status code (0 = OK; HTTP: 0 for 200, else the HTTP status, -1 when no
 * response came); *errmsg (static or in the driver's own memory, valid until the next call)
 * names the failure. */
typedef int (*lg_unary_fn)(void *ctx, const char *method, const void *req, size_t len,
                           lg_buf *resp, const char **errmsg);

typedef enum {
    LG_CHECK_OK = 0,
    LG_CHECK_MISS,    /* a read found no item (or fewer than asked): counted, not an error */
    LG_CHECK_BAD,     /* a reply that does not decode: an error */
} lg_check;

typedef struct lg_target lg_target;
struct lg_target {
    const char *name;   /* "storage", "router", "http", "echo" */
    /* Creates what the workload needs (a partition, a table) and waits until it can serve;
     * 0 or -1 (with a message on stderr). */
    int (*setup)(lg_target *t, lg_unary_fn call, void *ctx);
    /* The full method path of op: "/dyne.internal.Storage/Put" (HTTP: the X-Amz-Target,
     * "DynamoDB_20120810.PutItem"). */
    const char *(*method)(lg_target *t, lg_op op);
    /* Packs op on item index k into b; seq is the caller's counter, written into put items so
     * every put changes the item (an identical put writes nothing on a storage node). Scratch
     * memory comes from a, reset by the caller after the call. 0, or -1 if it cannot. */
    int (*request)(lg_target *t, lg_op op, uint64_t k, uint64_t seq, dyn_arena *a, lg_buf *b);
    /* Checks a successful reply (NULL: no checks). */
    lg_check (*check)(lg_target *t, lg_op op, const uint8_t *p, size_t n, dyn_arena *a);
    unsigned ops_per_call;   /* > 1: each call carries this many operations (a batch) */
    void *state;             /* the target's own */
};

/* What every target is built from. */
typedef struct lg_target_opts {
    const lg_keys *keys;
    size_t item_size;        /* DynamoDB item size to aim for (names + values), bytes; echo:
                                the payload's */
    const char *partition;   /* storage: partition id ("bench.0") */
    const char *table;       /* router, http: table name (http writes it into JSON as is:
                                DynamoDB's names are [a-zA-Z0-9_.-]); storage: the partition's */
    unsigned batch;          /* storage: > 1 sends Storage/Batch calls of this many operations,
                                keys k, k + items/batch, k + 2 items/batch, ... (mod items) */
} lg_target_opts;

/* How many top-level fields number `field` the protobuf message p[0..n) holds (a repeated
 * field's length, or whether an optional one is there), without decoding it; -1 if the bytes
 * are not a protobuf message. Replies are checked with this, so checking costs next to no CPU. */
long lg_pb_count(const uint8_t *p, size_t n, uint32_t field);
/* The next length-delimited field of the message in [*p, end): its number and bytes; other wire
 * types are skipped. false at the end, or when the bytes are not a protobuf message (*bad). */
bool lg_pb_next(const uint8_t **p, const uint8_t *end, uint32_t *field, const uint8_t **data,
                size_t *len, bool *bad);

/* Packs protobuf-c message msg (a pointer) with its generated prefix fn (dyne__v1__get_item_input)
 * into lg_buf b. */
#define LG_PACK(b, msg, fn)                                                                    \
    do {                                                                                       \
        size_t n_ = fn##__get_packed_size(msg);                                                \
        (b)->len = fn##__pack(msg, lg_buf_reserve((b), n_));                                   \
    } while (0)

lg_target *lg_target_storage_new(const lg_target_opts *o);
lg_target *lg_target_router_new(const lg_target_opts *o);
/* The DynamoDB JSON protocol (GetItem, PutItem, Query, UpdateItem) for lg_http_run: the router
 * target's table, items and checks, as JSON bodies. */
lg_target *lg_target_http_new(const lg_target_opts *o);
/* bench/echo's "/dyne.bench.Echo/Echo": every operation is one call carrying item_size bytes of
 * lg_filler text (at most LG_ECHO_MAX), answered with the same bytes; the check compares the
 * lengths. Setup makes one such call. What a gRPC hop costs with no work behind it, next to
 * Dyne's GetItem/PutItem at the same --item-size. */
#define LG_ECHO_METHOD "/dyne.bench.Echo/Echo"
#define LG_ECHO_MAX ((size_t)512 << 10)
lg_target *lg_target_echo_new(const lg_target_opts *o);
void lg_target_free(lg_target *t);

/* The item every target writes for index k: pk, sk, "n" (seq), "v" (printable filler derived
 * from k, sized so the whole item is item_size bytes by DynamoDB's count). Strings in arena a.
 * Used by wt_bench too, so raw WiredTiger stores the very same bytes. */
Dyne__V1__AttributeValueMap *lg_item(uint64_t k, uint64_t seq, const lg_keys *keys,
                                     size_t item_size, dyn_arena *a);
/* len bytes of lg_item's filler text for item k (not NUL-terminated; len <= 512 KiB). */
const char *lg_filler(uint64_t k, size_t len);
/* LG_OP_RMW's ExpressionAttributeValues for item (lg_item's): ":zero" 0, ":one" 1 and ":v" the
 * item's "v" (borrowed from item). In arena a; NULL if it runs out. */
Dyne__V1__AttributeValueMap *lg_rmw_values(const Dyne__V1__AttributeValueMap *item, dyn_arena *a);
/* The partition-key text of item k ("k0000000042"), into buf (>= 16 bytes). */
void lg_pk_text(uint64_t k, const lg_keys *keys, char *buf, size_t cap);

/* Finds key at the top level of the JSON object p[0, n): 1 with its value's bytes in *val,
 * *vlen (a string value with its quotes), 0 if the object has no such key, -1 if p is not a JSON
 * object. Walks only as far as it must, so checking a reply costs little CPU. */
int lg_json_find(const uint8_t *p, size_t n, const char *key, const uint8_t **val, size_t *vlen);

/* ---- HTTP/1.1 responses ------------------------------------------------------------------- */

typedef enum {
    LG_HTTP_MORE = 0,   /* a prefix of a response: call again with more bytes */
    LG_HTTP_DONE,       /* a whole response */
    LG_HTTP_BAD,        /* not an HTTP/1.x response, truncated at eof, or past the limits */
} lg_http_rc;

/* One response being parsed; lg_http_resp_init() before the first byte of each. */
typedef struct lg_http_resp {
    int state;                  /* where the parse stands (http_driver.c) */
    int status;                 /* the status code, once the status line is in */
    bool chunked, length_known, close, keep_alive, http10;
    size_t pos;                 /* bytes of the buffer parsed */
    size_t length;              /* Content-Length; chunked: what is left of the current chunk */
    size_t body_off, body_len;  /* the body is buf[body_off, body_off + body_len) */
} lg_http_resp;
void lg_http_resp_init(lg_http_resp *r);
/* Parses buf[0, len): every byte received for this response so far, the same buffer with more
 * appended on each call (it may move: the parser keeps offsets only). A chunked body is moved
 * down over its chunk framing inside buf[0, len), so keep those bytes as they are between calls.
 * eof: the peer closed after these bytes (which ends a body that has no length).
 * DONE: r->status; the body at buf + r->body_off, r->body_len bytes; r->pos the bytes the
 * response took (what follows belongs to the next one); r->close when the server will close the
 * connection. Interim 1xx responses are skipped. */
lg_http_rc lg_http_resp_parse(lg_http_resp *r, uint8_t *buf, size_t len, bool eof);

/* ---- the run ------------------------------------------------------------------------------ */

#define LG_MAX_PIDS 16

typedef struct lg_run_opts {
    const char *addr;          /* "127.0.0.1:7001" */
    int threads;               /* client threads, one completion queue (http: epoll) each */
    int conns;                 /* gRPC: HTTP/2 connections per thread (http: unused) */
    int concurrency;           /* closed loop: calls in flight (total); open loop: the cap;
                                  http: the connections (total), one call in flight on each */
    double rate;               /* > 0: open loop at this many calls/s (total) */
    double warmup_s, duration_s;
    int deadline_ms;           /* per call */
    bool load;                 /* preload: put every index [0, items) once, then stop */
    uint64_t ops;              /* > 0: stop after this many calls (no warm-up; the window is
                                  the whole run), e.g. for instruction counts under callgrind */
    lg_mix mix;
    const lg_keys *keys;
    lg_target *target;
    uint64_t seed;
    int npids;                 /* server processes whose CPU is sampled over the window */
    int pids[LG_MAX_PIDS];
} lg_run_opts;

typedef struct lg_result {
    lg_hist all, op[LG_OP__COUNT];
    uint64_t ops, errors, misses, late;   /* late: open loop sends that found no free slot */
    uint64_t err_by_code[17];             /* gRPC status codes (http: the HTTP status and
                                             DynamoDB error type mapped as libs/err does) */
    double elapsed_s;                     /* the measured window */
    double cpu_s[LG_MAX_PIDS];            /* utime + stime of each of opts.pids over it */
    double client_cpu_s;                  /* this process's over it */
} lg_result;

/* Runs the workload against o->addr with the gRPC driver; 0, or -1 when it could not start. */
int lg_grpc_run(const lg_run_opts *o, lg_result *res);
/* What the drivers share: an empty result, one thread's result added in, and
 * sign * the CPU seconds so far of every sampled process (and of this one) added to res. */
void lg_result_init(lg_result *res);
void lg_result_add(lg_result *into, const lg_result *r);
void lg_cpu_mark(const lg_run_opts *o, lg_result *res, double sign);
/* Runs t's setup over a fresh channel to addr. */
int lg_grpc_setup(const char *addr, lg_target *t);
/* lg_grpc_run and lg_grpc_setup over HTTP/1.1 to addr ("host:port", "[::1]:port"), for
 * lg_target_http_new's target: o->concurrency keep-alive connections, all connected before the
 * run starts (-1 if one cannot), spread over the threads, each with one request in flight. A
 * request past its deadline, or whose connection fails, is an error and costs its connection;
 * a new one replaces it (every 100 ms while connecting fails). */
int lg_http_run(const lg_run_opts *o, lg_result *res);
int lg_http_setup(const char *addr, lg_target *t);

int64_t lg_now_ns(void);          /* monotonic */
void lg_sleep_until(int64_t t);   /* until lg_now_ns() >= t */

/* {"all":{"n":..,"mean_us":..,"p50_us":..,"p95_us":..,"p99_us":..,"p999_us":..,"max_us":..},
 * "put":{...},...}: r's histograms that hold samples, for the report lines scripts read. */
void lg_print_ops_json(FILE *f, const lg_result *r);
#endif /* DYN_BENCH_LOADGEN_LOADGEN_H */
