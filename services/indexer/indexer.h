/* services/indexer -- maintains the entries of global secondary indexes (docs/decisions.md,
 * "Global secondary indexes"): one change feed consumer per index over its table's partitions,
 * a backfill scan per base partition, progress reported in the catalog. gsi.c holds the pure
 * rules (entry keys, projections, the net writes of a page of change records), libs/elect the
 * election, indexer.c the thread that runs it all; main.c the flags and wiring. */
#ifndef DYN_SERVICES_INDEXER_INDEXER_H
#define DYN_SERVICES_INDEXER_INDEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"
#include "libs/item/item.h"
#include "libs/elect/elect.h"
#include "libs/meta/meta.h"
#include "proto/dyne/internal/catalog.pb-c.h"

/* ---- gsi.c: what one index makes of an item ---- */

/* One partition of the index: a hash range and where it lives. Strings borrowed from the
 * indexer_gsi that holds it. */
typedef struct indexer_ipart {
    const char *id, *addr;
    uint64_t start, end;   /* inclusive hash range */
} indexer_ipart;

/* An index as the indexer applies it, copied out of the catalog: immutable once made, so the
 * feed's threads read it without a lock. */
typedef struct indexer_gsi {
    Dyne__Internal__GsiMeta *meta;   /* owned (protobuf-c heap); the strings below point in it */
    Dyne__Internal__KeySchema *tks;  /* owned: the table's key schema */
    const char *index_id, *index_name;
    dyn_key_schema table_ks, index_ks;
    char proj;                       /* 'A' ALL, 'K' KEYS_ONLY, 'I' INCLUDE */
    indexer_ipart *parts;            /* owned, sorted by start */
    size_t nparts;
} indexer_gsi;

/* Copies index g of table schema tks. DYN_EVALIDATION when the definition cannot be applied
 * (no index id, a key type other than S/N/B, an unknown projection, partitions missing or not
 * covering the hash space without gaps or overlaps). On DYN_OK *out is owned
 * (indexer_gsi_free). */
dyn_err indexer_gsi_new(const Dyne__Internal__KeySchema *tks, const Dyne__Internal__GsiMeta *g,
                        indexer_gsi **out);
void indexer_gsi_free(indexer_gsi *g);   /* NULL is fine */

/* The entry item has in the index: its key (dyn_keycodec_gsi_key) and projected value (ALL: the
 * item; KEYS_ONLY: the table's and the index's keys; INCLUDE: those and the listed attributes),
 * in arena a (the value may borrow from item). *key NULL: no entry -- the item lacks an index
 * key attribute, has one of another type or an empty S/B (sparse), or lacks its table key.
 * item NULL: no entry. DYN_ENOMEM past the arena cap. */
dyn_err indexer_entry(const indexer_gsi *g, const Dyne__V1__AttributeValueMap *item, dyn_arena *a,
                      unsigned char **key, size_t *klen, const Dyne__V1__AttributeValueMap **val);

/* The index partition that holds entry key (its be64 hash prefix); NULL if none covers it. */
const indexer_ipart *indexer_route(const indexer_gsi *g, const unsigned char *key, size_t klen);

/* One write to an index partition. */
typedef struct indexer_op {
    const indexer_ipart *part;
    const unsigned char *key;                 /* arena */
    size_t klen;
    const Dyne__V1__AttributeValueMap *val;   /* the entry; NULL: delete */
    size_t seq;                               /* order of planning */
} indexer_op;

/* The index writes of a run of changes, in arena a. */
typedef struct indexer_plan {
    const indexer_gsi *g;
    dyn_arena *a;
    indexer_op *ops;
    size_t n, cap;
    size_t skipped;   /* changes that left the entry as it was */
} indexer_plan;

void indexer_plan_init(indexer_plan *p, const indexer_gsi *g, dyn_arena *a);
/* Adds the writes of one change of a base item (old, new: its images; either may be NULL):
 * the old entry is deleted if it exists and the new one has another key or none; the new entry
 * is put, unless it is exactly the old one (same key and value). Changes must be added in LSN
 * order. DYN_ENOMEM past the arena cap; DYN_EINTERNAL for an entry no partition covers. */
dyn_err indexer_plan_change(indexer_plan *p, const Dyne__V1__AttributeValueMap *old,
                            const Dyne__V1__AttributeValueMap *new_);
/* Keeps only the last write of each entry key (the net effect of the run, so the writes left
 * touch distinct keys and may run in any order), sorted by partition then key. */
void indexer_plan_finish(indexer_plan *p);

/* ---- indexer.c: the service ---- */

#define INDEXER_LEADER_KEY "/dyne/indexer/leader"
#define INDEXER_TABLES_PREFIX "/dyne/tables/"
#define INDEXER_NODES_PREFIX "/dyne/nodes/"

typedef struct indexer indexer;   /* opaque */

typedef struct indexer_opts {
    const char *node_id;       /* this instance's name in the leader key */
    const char *data_dir;      /* feed positions: <data_dir>/indexer.<index id>.pos */
    int lease_ttl_s;           /* election lease (default 5) */
    int pass_ms;               /* full pass period (default 2000; changes act at once) */
    int storage_deadline_ms;   /* per storage call (default 10000) */
    int poll_ms;               /* feed consumers pull each partition this often (default 500) */
    int scan_page;             /* backfill Range page, items (default 500) */
} indexer_opts;

/* Starts the indexer thread: campaigns, and while it leads keeps one feed consumer per index
 * with planned partitions (CREATING or ACTIVE), backfills, and reports progress. meta is
 * borrowed and must outlive the indexer. */
dyn_err indexer_new(dyn_meta *meta, const indexer_opts *o, indexer **out);
/* Stops the consumers and the thread, resigns, frees. NULL is fine. */
void indexer_free(indexer *ix);
#endif /* DYN_SERVICES_INDEXER_INDEXER_H */
