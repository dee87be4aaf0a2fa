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

/* meta is borrowed and must outlive the router. Loads the catalog and starts watching it. */
dyn_err router_new(dyn_meta *meta, const router_opts *o, router **out);
void router_free(router *r);

extern const dyn_rpc_method router_methods[];   /* ctx: the router */

/* ---- shared inside the router (catalog.c, tables.c, items.c) ---- */

typedef struct router_part {
    const char *id, *addr;
    uint64_t hash_start, hash_end;   /* inclusive */
} router_part;

/* A table as the data path needs it, copied into a request arena. */
typedef struct router_table {
    const char *name, *status;
    dyn_key_schema ks;
    size_t nparts;
    router_part *parts;
} router_table;

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
/* Replaces/removes a catalog entry from a packed TableMeta (watch events and local writes). */
void router_catalog_put(router *r, const void *packed, size_t len);
void router_catalog_del(router *r, const char *name);
dyn_meta *router_meta(router *r);
const router_opts *router_options(router *r);

/* The table's catalog entry from etcd, unpacked in arena a, and its mod revision; DYN_ENOTFOUND
 * if absent. meta_swap: compare-and-swap of the entry on that revision (DYN_ECONDFAIL if it
 * changed), then the local cache. Admin thread only: both block on etcd. (tables.c) */
struct Dyne__Internal__TableMeta;
dyn_err meta_load(router *r, dyn_arena *a, const char *name, struct Dyne__Internal__TableMeta **m,
                  int64_t *rev);
dyn_err meta_swap(router *r, dyn_arena *a, const struct Dyne__Internal__TableMeta *m, int64_t rev);

/* The admin thread: runs fn(r, call, req) where blocking is allowed, then the job finishes the
 * call itself (fn calls dyn_rpc_call_finish). */
typedef void (*router_job_fn)(router *r, dyn_rpc_call *call, const ProtobufCMessage *req);
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
