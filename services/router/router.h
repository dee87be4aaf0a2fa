/* services/router -- the public front door: dyne.v1.DynamoDB over gRPC. Validates requests with
 * DynamoDB's messages, keeps the table catalog cached from etcd (watched), routes item operations
 * to the storage node owning the key's hash, and runs control-plane operations on an admin
 * thread so completion-queue workers never block. */
#ifndef DYN_SERVICES_ROUTER_ROUTER_H
#define DYN_SERVICES_ROUTER_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "libs/item/item.h"
#include "libs/meta/meta.h"
#include "libs/rpc/rpc.h"
#include "libs/rpc/rpc_client.h"

typedef struct router router;

typedef struct router_opts {
    const char *region;       /* in ARNs */
    const char *account;      /* in ARNs */
    int storage_deadline_ms;  /* per storage call */
} router_opts;

/* The account's quotas and the endpoint DescribeEndpoints names (limits.c): set once at startup,
 * before router_new; 0 or NULL fields keep DynamoDB's defaults. Copied (l is borrowed). */
typedef struct router_limits {
    const char *endpoint;          /* DescribeEndpoints' Address (host:port) */
    int max_tables;                /* tables per account: 2500 */
    int max_table_ops;             /* tables CREATING, UPDATING or DELETING at once: 500 */
    int64_t table_max_capacity;    /* RCU (and WCU) per table and per index: 40000 */
    int64_t account_max_capacity;  /* RCU (and WCU) over all tables and indexes: 80000 */
} router_limits;
void router_limits_set(const router_limits *l);
const router_limits *router_limits_get(void);   /* with the defaults filled in */

/* meta is borrowed and must outlive the router. Loads the catalog and starts watching it. */
dyn_err router_new(dyn_meta *meta, const router_opts *o, router **out);
void router_free(router *r);

extern const dyn_rpc_method router_methods[];   /* ctx: the router */

/* ---- shared inside the router (catalog.c, tables.c, items.c) ---- */

typedef struct router_part {
    const char *id, *addr;
    uint64_t hash_start, hash_end;   /* inclusive */
} router_part;

#define ROUTER_LSI_MAX 5
#define ROUTER_GSI_MAX 20   /* GSIs per table (CreateTable's and UpdateTable's limit) */

/* A local secondary index: the table's partition key, its own sort key. */
typedef struct router_lsi {
    const char *name, *sk_name;
    char sk_type;                 /* 'S', 'N' or 'B' */
    char proj;                    /* 'A' ALL, 'K' KEYS_ONLY, 'I' INCLUDE */
    const char **non_key;         /* INCLUDE's attributes */
    size_t n_non_key;
} router_lsi;

/* A table as the data path needs it, copied into a request arena. */
typedef struct router_table {
    const char *name, *status;
    dyn_key_schema ks;
    size_t nparts;
    router_part *parts;
    size_t n_lsis;
    router_lsi lsis[ROUTER_LSI_MAX];
    /* The GSIs a write is charged to (CREATING, backfilling or not, and ACTIVE; not DELETING),
     * as storage write requests carry them (PutRequest.gsis): the storage node counts each
     * index's units from the item's old and new images. */
    size_t n_gsis;
    struct Dyne__Internal__GsiDef **gsis;
} router_table;

/* A global secondary index as reads need it: its own keys and partitions, its projection. */
typedef struct router_gsi {
    const char *name, *status;   /* IndexStatus: CREATING, ACTIVE */
    dyn_key_schema ks;           /* the index's partition (and sort) key */
    char proj;                   /* 'A' ALL, 'K' KEYS_ONLY, 'I' INCLUDE */
    const char **non_key;        /* INCLUDE's attributes */
    size_t n_non_key;
    size_t nparts;
    router_part *parts;          /* in hash order; none until the controller plans them */
} router_gsi;

/* Copies the cached GSI `index` of table `table` (not one being deleted) into arena a.
 * DYN_ENOTFOUND if the table has none by that name. */
dyn_err router_table_gsi(router *r, const char *table, const char *index, dyn_arena *a,
                         router_gsi *g);

/* Copies the cached table into arena a. DYN_ENOTABLE if unknown (or not ACTIVE/UPDATING when
 * active_only). */
dyn_err router_table_get(router *r, const char *name, bool active_only, dyn_arena *a,
                         router_table *t);
const router_part *router_table_route(const router_table *t, uint64_t hash);
/* True if the cached table declares an LSI or GSI named index. */
bool router_table_has_index(router *r, const char *table, const char *index);
/* The storage client for an address (created once, kept). */
dyn_rpc_client *router_storage(router *r, const char *addr);
int router_storage_deadline(router *r);
/* One unary call of dyne.internal.Storage method ("Put", "Get", ...: a static string) to the
 * node at addr, coalesced with other calls to that node while `inflight` calls to it are
 * running (coalesce.c); done gets what dyn_rpc_client_call_async_detail would give (err_desc
 * NULL: no error detail). Its deadline is the storage deadline, or origin's (the client call it
 * serves) less a margin when that comes sooner, so the storage node refuses a write whose client
 * has given up. A stale route (the partition gone from that node, now placed elsewhere) is
 * retried where the map says: req (with its partition_id) and arena a must live until done,
 * and the caller must have no other call in flight on a. */
void router_storage_call(router *r, dyn_rpc_call *origin, const char *addr, const char *method,
                         const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *resp_desc,
                         const ProtobufCMessageDescriptor *err_desc, dyn_arena *a,
                         dyn_rpc_done_fn done, void *arg);
/* The same without the stale-route retry: for callers with several calls in flight on one
 * arena (batches, which answer such keys as unprocessed). */
void router_storage_call_once(router *r, dyn_rpc_call *origin, const char *addr,
                              const char *method, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_desc,
                              const ProtobufCMessageDescriptor *err_desc, dyn_arena *a,
                              dyn_rpc_done_fn done, void *arg);
/* Calls per storage node running at once before further ones queue for a Batch (>= 1). */
void router_coalesce_init(int inflight);
/* Replaces/removes a catalog entry from a packed TableMeta (watch events and local writes). */
void router_catalog_put(router *r, const void *packed, size_t len);
/* Where the catalog places partition pid now, into out ("" if no table has it). */
void router_partition_addr(router *r, const char *pid, char *out, size_t cap);
/* Reads the entry of the table holding partition pid from etcd into the cache, as the watch
 * would (blocking: the admin thread's). */
void router_catalog_refresh_partition(router *r, const char *pid);
void router_catalog_del(router *r, const char *name);
dyn_meta *router_meta(router *r);
const router_opts *router_options(router *r);

/* The table's catalog entry from etcd, unpacked in arena a, and its mod revision; DYN_ENOTFOUND
 * if absent. meta_swap: compare-and-swap of the entry on that revision (DYN_ECONDFAIL if it
 * changed), then the local cache. Admin thread only: both block on etcd. (control.c) */
struct Dyne__Internal__TableMeta;
dyn_err meta_load(router *r, dyn_arena *a, const char *name, struct Dyne__Internal__TableMeta **m,
                  int64_t *rev);
dyn_err meta_swap(router *r, dyn_arena *a, const struct Dyne__Internal__TableMeta *m, int64_t rev);

/* The admin thread: runs fn(r, call, req) where blocking is allowed, then the job finishes the
 * call itself (fn calls dyn_rpc_call_finish). */
typedef void (*router_job_fn)(router *r, dyn_rpc_call *call, const ProtobufCMessage *req);
/* Runs fn(r, arg) on the admin thread (blocking etcd work off the request threads). */
void router_admin_run(router *r, void (*fn)(router *r, void *arg), void *arg);
dyn_err router_admin_submit(router *r, dyn_rpc_call *call, const ProtobufCMessage *req,
                            router_job_fn fn);

/* Capacity units (capacity.c): reads in 4 KB units (halved when eventually consistent), writes
 * in 1 KB units, at least one unit; ConsumedCapacity for ReturnConsumedCapacity `mode` (NULL
 * for NONE or absent), in arena a. */
double router_read_units(int64_t bytes, bool consistent);
double router_write_units(int64_t bytes);
struct Dyne__V1__ConsumedCapacity;
struct Dyne__V1__ConsumedCapacity *router_consumed(dyn_arena *a, const char *mode,
                                                   const char *table, double units, bool read);
/* Units of one operation split between the table, its LSIs and its GSIs (INDEXES shows the
 * split; CapacityUnits is the sum). */
typedef struct router_cap {
    double table;
    size_t n;
    const char *lsi[ROUTER_LSI_MAX];   /* borrowed names */
    double lsi_units[ROUTER_LSI_MAX];
    size_t n_gsi;                      /* GSIs: charged to each index's own capacity */
    const char *gsi[ROUTER_GSI_MAX];   /* borrowed names */
    double gsi_units[ROUTER_GSI_MAX];
} router_cap;
void router_cap_add_lsi(router_cap *c, const char *name, double units);
void router_cap_add_gsi(router_cap *c, const char *name, double units);
struct Dyne__V1__ConsumedCapacity *router_consumed_cap(dyn_arena *a, const char *mode,
                                                       const char *table, const router_cap *c,
                                                       bool read);
/* The LSI write units a storage write answer reports (repeated dyne.internal.LsiWrite). */
struct Dyne__Internal__LsiWrite;
void router_cap_add_lsi_writes(router_cap *c, struct Dyne__Internal__LsiWrite *const *w, size_t n);
/* The GSI write units of a storage write answer (its gsi_writes), each to its index. */
void router_cap_add_gsi_writes(router_cap *c, struct Dyne__Internal__LsiWrite *const *w, size_t n);
/* ItemCollectionMetrics of a write to a table with LSIs: {ItemCollectionKey: {pk: value},
 * SizeEstimateRangeGB: [lo, hi]} from the collection's bytes; NULL on arena exhaustion. */
struct Dyne__V1__ItemCollectionMetrics;
struct Dyne__V1__ItemCollectionMetrics *
router_collection_metrics(dyn_arena *a, const router_table *t,
                          const Dyne__V1__AttributeValueMap *item_or_key, int64_t bytes);
/* The LSI named index of t; NULL if none. */
const router_lsi *router_table_lsi(const router_table *t, const char *index);

/* Handlers (tables.c, items.c). */
dyn_err router_create_table(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_describe_table(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_list_tables(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_delete_table(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_put_item(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_get_item(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_delete_item(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_update_item(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
/* ttl.c */
dyn_err router_update_time_to_live(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **,
                                   void *);
dyn_err router_describe_time_to_live(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **,
                                     void *);
dyn_err router_batch_get_item(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_batch_write_item(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_query(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_scan(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
#endif /* DYN_SERVICES_ROUTER_ROUTER_H */
