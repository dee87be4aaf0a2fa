/* services/router -- shared by the control-plane handlers (tables.c, table_update.c, tags.c,
 * limits.c): catalog entries with their stored descriptions, DynamoDB's table-state errors,
 * the account's quotas, and the checks CreateTable and UpdateTable have in common.
 * Functions taking a router block on etcd: admin thread only. */
#ifndef DYN_SERVICES_ROUTER_CONTROL_H
#define DYN_SERVICES_ROUTER_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/dyne/internal/catalog.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/router/router.h"
#include "services/router/validate.h"

#define CTL_TABLES_PREFIX "/dyne/tables/"
#define CTL_GSI_MAX 20         /* global secondary indexes per table */
#define CTL_TAGS_MAX 50        /* tags per table */
#define CTL_PPR_WARM_READ 12000    /* warm throughput of a new on-demand table (units/s) */
#define CTL_PPR_WARM_WRITE 4000
#define CTL_CAS_TRIES 5        /* read-modify-CAS rounds before ResourceInUseException */

/* ---- time ---- */

double router_ctl_now(void);   /* seconds since the epoch, millisecond precision */
/* "2026-10-08T23:07:31.275" (UTC): stream labels, retry-after times. */
const char *router_ctl_iso_ms(dyn_arena *a, double t);
/* "Friday, October 9, 2026 at 1:21:34 AM Coordinated Universal Time" (DynamoDB's quota texts). */
const char *router_ctl_long_date(dyn_arena *a, double t);
/* Seconds since the epoch of the UTC midnight starting the day of t. */
double router_ctl_utc_day(double t);

/* ---- catalog entries ---- */

/* The entry of table `name` and its stored description (arena of the call). A missing table is
 * DynamoDB's "Requested resource not found: Table: <name> not found", recorded on the call. */
dyn_err router_ctl_load(router *r, dyn_rpc_call *call, const char *name,
                        Dyne__Internal__TableMeta **m, int64_t *rev,
                        Dyne__V1__TableDescription **d);
/* Packs d into m's description and compare-and-swaps the entry on rev (DYN_ECONDFAIL: it changed
 * meanwhile; load again and decide again). */
dyn_err router_ctl_store(router *r, dyn_arena *a, Dyne__Internal__TableMeta *m,
                         const Dyne__V1__TableDescription *d, int64_t rev);
/* NULL if the table can be changed (ACTIVE); else DynamoDB's ResourceInUseException text.
 * router_ctl_raced: the text for a change that kept losing its compare-and-swap. */
const char *router_ctl_in_use(dyn_arena *a, const Dyne__Internal__TableMeta *m);
/* True while one of the table's global secondary indexes is CREATING (built or backfilled by
 * the indexer) or DELETING (its partitions being dropped by the controller) -- except the index
 * `deleting` (may be NULL) while it backfills, which DynamoDB lets a Delete stop. */
bool router_ctl_gsi_busy(const Dyne__Internal__TableMeta *m, const char *deleting);
const char *router_ctl_raced(dyn_arena *a, const char *table);
/* Fills the fields DynamoDB computes at read time: TableStatus, today's decrease counts, and each
 * GSI's IndexStatus and Backfilling from its GsiMeta. */
void router_ctl_describe(const Dyne__Internal__TableMeta *m, Dyne__V1__TableDescription *d,
                         double now);
bool router_ctl_is_ppr(const Dyne__V1__TableDescription *d);   /* billed PAY_PER_REQUEST */
/* ItemCount and TableSizeBytes of d, summed live over m's partitions, and each GSI's ItemCount
 * and IndexSizeBytes over its own (each kept if one of its partitions fails). */
void router_ctl_fill_stats(router *r, dyn_arena *a, const Dyne__Internal__TableMeta *m,
                           Dyne__V1__TableDescription *d);

/* ---- global secondary indexes in the catalog (TableMeta.gsis) ---- */

/* A new GsiMeta for index `name` of table m (CREATING; backfilling set, and shown, only for an
 * index added to a live table), its key types from defs, index_id "<table id>-<name>-<n>" with n
 * unique per incarnation of the table: n = seq (CreateTable: the index's position + 1) or, for
 * UpdateTable, 100 + the entry's mod revision (each successful change has a larger one); the
 * name part is shortened so partition ids "<index_id>.<n>" stay within storage's 80 bytes.
 * Borrows its arguments; NULL on arena exhaustion. */
Dyne__Internal__GsiMeta *router_ctl_gsi_meta(dyn_arena *a, const char *table_id, const char *name,
                                             Dyne__V1__KeySchemaElement *const *ks, size_t nks,
                                             Dyne__V1__AttributeDefinition *const *defs,
                                             size_t ndefs, const Dyne__V1__Projection *proj,
                                             bool backfilling, int64_t seq, double now);
/* Appends g to m's GSIs (arena a). */
dyn_err router_ctl_gsi_add(dyn_arena *a, Dyne__Internal__TableMeta *m, Dyne__Internal__GsiMeta *g);
/* The GsiMeta named name that is not DELETING; NULL if none. */
Dyne__Internal__GsiMeta *router_ctl_gsi_find(const Dyne__Internal__TableMeta *m, const char *name);

/* ---- descriptions ---- */

const char *router_ctl_table_arn(dyn_arena *a, const router_opts *o, const char *table);
/* A zeroed ProvisionedThroughputDescription with units r/w (0/0 for on-demand). */
Dyne__V1__ProvisionedThroughputDescription *router_ctl_pt_desc(dyn_arena *a, int64_t r,
                                                               int64_t w);
/* The description of a new GSI of the table with ARN table_arn, IndexStatus CREATING (no indexer
 * serves it yet): its throughput (0/0 when ppr), OnDemandThroughput (ppr only) and warm
 * throughput (the table's billing default, raised by warm). Borrows its arguments. */
Dyne__V1__GlobalSecondaryIndexDescription *
router_ctl_gsi_desc(dyn_arena *a, const char *table_arn, const char *name,
                    Dyne__V1__KeySchemaElement **ks, size_t nks, Dyne__V1__Projection *proj,
                    const Dyne__V1__ProvisionedThroughput *pt, Dyne__V1__OnDemandThroughput *odt,
                    const Dyne__V1__WarmThroughput *warm, bool ppr);
/* The SSEDescription for spec (NULL: DynamoDB's default, AWS-owned key, which has none). */
Dyne__V1__SSEDescription *router_ctl_sse_desc(dyn_arena *a, const router_opts *o,
                                              const Dyne__V1__SSESpecification *spec);
/* Turns the stream on in d: the spec, a new LatestStreamLabel/LatestStreamArn at time t. */
void router_ctl_stream_on(dyn_arena *a, Dyne__V1__TableDescription *d,
                          Dyne__V1__StreamSpecification *spec, double t);
/* A copy of array arr (n elements of elem bytes) with room for one more, in arena a; NULL on
 * exhaustion. The caller stores the new element at [n]. */
void *router_ctl_grow(dyn_arena *a, const void *arr, size_t n, size_t elem);

/* ---- request checks shared by CreateTable and UpdateTable (NULL: fine, else the
 * ValidationException text) ---- */

const char *router_ctl_check_sse(const Dyne__V1__SSESpecification *s);
const char *router_ctl_check_bounds(dyn_arena *a, const Dyne__V1__ProvisionedThroughput *pt);
/* Constraint checks (validate.h) of a key schema (enum on KeyType when check_enum), an index's
 * projection and a ProvisionedThroughput at DynamoDB's member path. */
void router_ctl_vc_key_schema(vc *v, dyn_arena *a, const char *path,
                              Dyne__V1__KeySchemaElement **ks, size_t n, bool check_enum);
void router_ctl_vc_projection(vc *v, dyn_arena *a, const char *path,
                              const Dyne__V1__Projection *p);
void router_ctl_vc_throughput(vc *v, dyn_arena *a, const char *path,
                              const Dyne__V1__ProvisionedThroughput *pt);
/* An index's name, key schema and projection at path ("...member" or "...member.create"). */
void router_ctl_vc_index(vc *v, dyn_arena *a, const char *path, const char *name,
                         Dyne__V1__KeySchemaElement **ks, size_t nks,
                         const Dyne__V1__Projection *proj);
bool router_ctl_defined(Dyne__V1__AttributeDefinition *const *defs, size_t n, const char *name);
const char *router_ctl_defs_list(dyn_arena *a, Dyne__V1__AttributeDefinition *const *defs,
                                 size_t n);   /* "a, b, c" */
/* The rules on a (constraint-checked) key schema: defined attributes, distinct names, HASH then
 * RANGE; and on an index's projection: a type, NonKeyAttributes exactly with INCLUDE. */
const char *router_ctl_check_keys(dyn_arena *a, Dyne__V1__AttributeDefinition *const *defs,
                                  size_t ndefs, Dyne__V1__KeySchemaElement **ks, size_t n);
const char *router_ctl_check_projection(dyn_arena *a, const Dyne__V1__Projection *proj);
bool router_ctl_table_class_ok(const char *c);
extern const char *const router_ctl_view_enum[];   /* StreamViewType, DynamoDB's order */
extern const char *const router_ctl_projection_enum[];
extern const char *const router_ctl_billing_enum[];
extern const char *const router_ctl_sse_type_enum[];
#define CTL_BAD_TABLE_CLASS                                                                       \
    "Invalid table-class parameter provided. Please try again with a valid table-class value: "  \
    "[STANDARD, STANDARD_INFREQUENT_ACCESS]."
#define CTL_INVALID "One or more parameter values were invalid: "

/* ---- quotas (limits.c) ---- */

/* The per-table (or per-index, when index is not NULL) provisioned capacity cap on pt (NULL:
 * nothing asked): DYN_ELIMIT recorded on the call with DynamoDB's text, else DYN_OK. */
dyn_err router_ctl_check_table_capacity(dyn_rpc_call *call, const router_opts *o,
                                        const char *index,
                                        const Dyne__V1__ProvisionedThroughput *pt);
/* OnDemandThroughput maxima against the per-table cap (create: -1 is out of range). */
dyn_err router_ctl_check_on_demand(dyn_rpc_call *call, const router_opts *o,
                                   const Dyne__V1__OnDemandThroughput *t, bool create);
/* Provisioned units of a description: the table's plus its GSIs'. */
void router_ctl_capacity(const Dyne__V1__TableDescription *d, int64_t *rcu, int64_t *wcu);

/* The account as CreateTable and UpdateTable see it: one listing of the catalog. */
typedef struct router_ctl_account {
    size_t tables;          /* catalog entries */
    size_t in_flight;       /* CREATING, UPDATING or DELETING */
    int64_t rcu, wcu;       /* provisioned units of every table but `except` */
} router_ctl_account;
dyn_err router_ctl_account_scan(router *r, dyn_arena *a, const char *except,
                                router_ctl_account *acct);
/* The account-wide provisioned capacity check for a table that would hold rcu/wcu. */
dyn_err router_ctl_check_account_capacity(dyn_rpc_call *call, const router_opts *o,
                                          const router_ctl_account *acct, int64_t rcu,
                                          int64_t wcu);

/* ---- tags (tags.c) ---- */

/* DynamoDB's tag rules on a request's tags: key/value length and characters, the aws: prefix,
 * duplicates; NULL if fine, else the ValidationException text (arena a). */
const char *router_ctl_check_tags(dyn_arena *a, Dyne__V1__Tag *const *tags, size_t n);
#define CTL_TOO_MANY_TAGS "Number of Tags exceed the current limit for the provided ResourceArn"

/* ---- handlers (table_update.c, tags.c, limits.c) ---- */

dyn_err router_update_table(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_tag_resource(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **, void *);
dyn_err router_untag_resource(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **,
                              void *);
dyn_err router_list_tags_of_resource(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **,
                                     void *);
dyn_err router_describe_limits(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **,
                               void *);
dyn_err router_describe_endpoints(dyn_rpc_call *, const ProtobufCMessage *, ProtobufCMessage **,
                                  void *);
#endif /* DYN_SERVICES_ROUTER_CONTROL_H */
