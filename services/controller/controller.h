/* services/controller -- the control plane ("autoadmin"): one acting instance at a time, elected
 * on an etcd lease, drives table lifecycles in the catalog (CREATING -> ACTIVE, UPDATING ->
 * ACTIVE, DELETING -> gone) and places partitions over the live storage nodes. plan.c holds the
 * pure rules (partition count, hash ranges, placement), elect.c the election, reconcile.c the
 * table state machine, controller.c the thread that runs them; main.c the flags and wiring. */
#ifndef DYN_SERVICES_CONTROLLER_CONTROLLER_H
#define DYN_SERVICES_CONTROLLER_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/err/err.h"
#include "libs/meta/meta.h"

/* ---- plan.c: how many partitions, which hash ranges, which nodes ---- */

/* DynamoDB's rule of thumb for one partition (reference §1: ~3,000 RCU, 1,000 WCU, 10 GB), and
 * the traffic a new on-demand table is ready for without throttling. */
#define CONTROLLER_PART_READ_UNITS 3000
#define CONTROLLER_PART_WRITE_UNITS 1000
#define CONTROLLER_PART_BYTES (10LL << 30)   /* 10 GiB, as storage's collection limit */
#define CONTROLLER_ON_DEMAND_READ_UNITS 12000
#define CONTROLLER_ON_DEMAND_WRITE_UNITS 4000

/* What a table's initial partition count is computed from. */
typedef struct controller_capacity {
    bool on_demand;
    int64_t read_units, write_units;   /* per second: provisioned RCU/WCU, or on demand's baseline
                                        * (raised by the table's warm throughput) */
    int64_t size_bytes;                /* expected size; 0 = unknown (always so at CreateTable) */
} controller_capacity;

struct Dyne__V1__TableDescription;
/* The capacity of a table as CreateTable described it (TableMeta.description, unpacked; NULL =
 * no description: one partition's worth). */
void controller_capacity_of(const struct Dyne__V1__TableDescription *d, controller_capacity *out);

/* max(ceil(read/3000), ceil(write/1000), ceil(size/10 GB), 1), capped at max_parts (>= 1). */
uint32_t controller_partition_count(const controller_capacity *c, uint32_t max_parts);

/* Partition i of n (i < n, n >= 1) covers hash values [*start, *end], inclusive: 2^64 cut into n
 * contiguous ranges whose sizes differ by at most one; the first starts at 0, the last ends at
 * 2^64 - 1. */
void controller_hash_range(uint32_t n, uint32_t i, uint64_t *start, uint64_t *end);

/* A live storage node as placement sees it. */
typedef struct controller_node {
    const char *id, *addr;   /* borrowed */
    size_t partitions;       /* partitions the catalog puts on it now */
    int64_t bytes;           /* their size (PartitionStats), 0 when unknown */
} controller_node;

/* Places n new partitions: each goes to the node with the fewest partitions, ties broken by the
 * smaller size, then the lower id, and then counts towards that node (so a batch spreads, and a
 * node that joined empty takes new partitions first). out[k] is the index in nodes of partition
 * k's node. nn must be >= 1. */
void controller_place(controller_node *nodes, size_t nn, size_t n, size_t *out);

/* ---- elect.c: one leader among the controllers ---- */

typedef struct controller_elect controller_elect;   /* opaque */
/* Runs (on libs/meta's threads) when the election may have changed: the leader key was deleted,
 * or our lease was lost; `leading` says whether we still lead. Must not block. */
typedef void (*controller_wake_fn)(void *arg, bool leading);

/* An elector for `key` (e.g. "/dyne/controller/leader"), writing `id` as the key's value while
 * it leads, under a lease of ttl_s seconds kept alive in the background. Watches the key at
 * once; campaigns only in controller_elect_step. m is borrowed and must outlive the elector;
 * key and id are copied. Owned: controller_elect_free. */
controller_elect *controller_elect_new(dyn_meta *m, const char *key, const char *id, int ttl_s,
                                       controller_wake_fn wake, void *arg);
/* One round, blocking on etcd: takes a new lease if ours is missing or lost, and campaigns
 * (creates the key under our lease if nobody holds it) unless we already lead. Returns the
 * epoch: the leader key's create revision while we lead, 0 when we do not. One thread at a
 * time. */
int64_t controller_elect_step(controller_elect *e);
/* The epoch now, without etcd: 0 as soon as the lease is reported lost or the key deleted, so
 * a deposed leader stops acting at once. Thread-safe. */
int64_t controller_elect_epoch(controller_elect *e);
/* The compare that fences a write to this epoch: the leader key still has create revision
 * `epoch`. Put it in every catalog transaction (dyn_meta_txn); it fails once anybody else
 * could lead. */
dyn_meta_cmp controller_elect_fence(const controller_elect *e, int64_t epoch);
/* Our lease (0 = none); for tests. */
int64_t controller_elect_lease(controller_elect *e);
/* Gives leadership up at once: deletes the key if it is still ours (so a follower takes over
 * without waiting for the lease to expire) and revokes the lease. The elector may campaign
 * again in a later step. */
void controller_elect_resign(controller_elect *e);
/* Stops the watch, resigns, frees. NULL is fine. */
void controller_elect_free(controller_elect *e);

/* ---- controller.c: the service ---- */

typedef struct controller controller;   /* opaque */

typedef struct controller_opts {
    const char *node_id;       /* this instance's name in the leader key */
    int lease_ttl_s;           /* election lease (default 5) */
    int pass_ms;               /* full reconcile pass period (default 2000) */
    int max_partitions;        /* cap on a table's initial partition count (default 256) */
    int storage_deadline_ms;   /* per storage call (default 10000) */
    int stats_refresh_s;       /* node sizes for placement are at most this old (default 30) */
    /* Act on a CREATING, UPDATING or DELETING table only once it has stayed unchanged this long
     * (ms; 0 = at once): lets a controller run next to routers that still drive these states
     * themselves, finishing only what they leave behind. */
    int adopt_after_ms;
} controller_opts;

/* Starts the controller thread: campaigns, and while it leads reconciles the catalog on every
 * change under /dyne/tables/ or /dyne/nodes/ and every pass_ms. meta is borrowed and must
 * outlive the controller. */
dyn_err controller_new(dyn_meta *meta, const controller_opts *o, controller **out);
/* Stops the thread, resigns (deletes the leader key, revokes the lease) and frees. */
void controller_free(controller *c);
#endif /* DYN_SERVICES_CONTROLLER_CONTROLLER_H */
