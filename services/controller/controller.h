/* services/controller -- the control plane ("autoadmin"): one acting instance at a time, elected
 * on an etcd lease, drives table lifecycles in the catalog (CREATING -> ACTIVE, UPDATING ->
 * ACTIVE, DELETING -> gone) and places partitions over the live storage nodes. plan.c holds the
 * pure rules (partition count, hash ranges, placement), libs/elect the election, reconcile.c the
 * table state machine, controller.c the thread that runs them; main.c the flags and wiring. */
#ifndef DYN_SERVICES_CONTROLLER_CONTROLLER_H
#define DYN_SERVICES_CONTROLLER_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/err/err.h"
#include "libs/elect/elect.h"
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

/* The capacity of GSI `index` of the table d describes: the index's own provisioned RCU/WCU, or
 * on demand's baseline when the table is PAY_PER_REQUEST, either raised by the index's warm
 * throughput (NULL d or no such index: one partition's worth). */
void controller_gsi_capacity_of(const struct Dyne__V1__TableDescription *d, const char *index,
                                controller_capacity *out);

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
