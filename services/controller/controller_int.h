/* services/controller -- private: the controller's state shared by controller.c (the thread,
 * watches, storage clients, metrics) and reconcile.c (one pass over the catalog). Everything
 * below `mu`'s fields is touched by the controller thread only. */
#ifndef DYN_SERVICES_CONTROLLER_CONTROLLER_INT_H
#define DYN_SERVICES_CONTROLLER_CONTROLLER_INT_H

#include "services/controller/controller.h"

#include <pthread.h>

#include "libs/rpc/rpc_client.h"

#define CONTROLLER_LEADER_KEY "/dyne/controller/leader"
#define CONTROLLER_TABLES_PREFIX "/dyne/tables/"
#define CONTROLLER_NODES_PREFIX "/dyne/nodes/"
/* /dyne/controller/orphans/<node id>/<partition id> -> partition id: a partition to drop from a
 * node that was not live when its table was deleted or its placement moved. */
#define CONTROLLER_ORPHANS_PREFIX "/dyne/controller/orphans/"

typedef struct controller_client {   /* one storage node's gRPC client */
    char *addr;                      /* owned */
    dyn_rpc_client *client;          /* owned */
    struct controller_client *next;
} controller_client;

typedef struct controller_track {    /* a table in an unfinished state, between passes */
    char *name, *table_id;           /* owned; one incarnation of the name */
    int64_t rev, rev_ms;             /* the mod revision seen, since when (monotonic ms) */
    int fails;                       /* steps failed in a row */
    int64_t next_ms;                 /* monotonic ms: no step before (back-off) */
    bool seen;                       /* still unfinished at this pass */
    struct controller_track *next;
} controller_track;

typedef struct controller_size {     /* a node's bytes, summed from PartitionStats */
    char *node_id;                   /* owned */
    int64_t bytes, at_ms;            /* at_ms: monotonic ms of the sum; 0 = none yet */
    struct controller_size *next;
} controller_size;

typedef struct controller_made {     /* a GSI partition this instance has created */
    char *key;                       /* owned: "<partition id>@<node id>" */
    bool seen;                       /* its index was still CREATING at this pass */
    struct controller_made *next;
} controller_made;

struct controller {
    dyn_meta *meta;                  /* borrowed */
    controller_opts opts;            /* node_id owned */
    dyn_elect *elect;         /* owned */
    dyn_meta_watch *tables_watch, *nodes_watch;   /* owned */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;               /* on CLOCK_MONOTONIC */
    bool stopping;
    bool dirty;                      /* the catalog or the node set changed */
    bool woken;                      /* the election may have changed */

    controller_client *clients;
    controller_track *tracks;
    controller_size *sizes;
    /* GSI partitions created since this instance started (an index stays CREATING until the
     * indexer's backfill ends, so its status cannot say; a successor creates them again, which
     * CreatePartition allows) */
    controller_made *made;
};

int64_t controller_now_ms(void);   /* monotonic */
/* The client for a storage address (created on first use, kept). Controller thread only. */
dyn_rpc_client *controller_storage(controller *c, const char *addr);
/* Asks for another pass soon (a step found the catalog changed under it). */
void controller_mark_dirty(controller *c);

/* One reconcile pass as leader of `epoch` (reconcile.c): lists the live nodes and the catalog,
 * drives every table by its status, drops orphaned partitions, and sets the table gauges. Stops
 * early once the epoch is no longer ours. */
void controller_pass(controller *c, int64_t epoch);
/* Sets the per-status table gauges to 0 (a follower reports none). */
void controller_tables_gauge_clear(void);
#endif /* DYN_SERVICES_CONTROLLER_CONTROLLER_INT_H */
