/* services/storage -- the per-partition change log (LSNs, hybrid-logical-clock timestamps,
 * consumers and trimming) and the TTL expiry index, shared by storage.c, changelog.c and ttl.c.
 * Private to the storage node. */
#ifndef DYN_SERVICES_STORAGE_CHANGELOG_H
#define DYN_SERVICES_STORAGE_CHANGELOG_H

#include <stdbool.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/item/item.h"
#include "libs/kv/kv.h"
#include "services/storage/storage.h"

#define STORAGE_PRINCIPAL_TTL "dynamodb.amazonaws.com"   /* TTL deletes, as DynamoDB shows them */

#define STORAGE_LSI_MAX 5   /* LSIs per table (reference §1.1) */

/* One local secondary index of a partition (lsi.c), copied out of the registry. */
typedef struct storage_lsi {
    char table[96];           /* "i_<id>_<n>": be64(hash(pk)) || enc(pk) || enc(sk) || enc(table
                                 sk) -> the projected entry (libs/item encoding) */
    const char *name;         /* arena */
    const char *sk_name;      /* arena */
    char sk_type;             /* 'S', 'N' or 'B' */
    char proj;                /* 'A' ALL, 'K' KEYS_ONLY, 'I' INCLUDE */
    const char **non_key;     /* INCLUDE's attribute names, arena */
    size_t n_non_key;
} storage_lsi;

/* What the write path needs of one partition, copied out of the registry under its lock. */
typedef struct storage_part {
    char id[88];
    char items[96];       /* WiredTiger tables: "p_<id>" */
    char log[96];         /* "l_<id>": be64(lsn) -> packed ChangeRecord */
    char expiry[96];      /* "x_<id>": be64(expiry second) || item key -> "" */
    char consumers[96];   /* "c_<id>": consumer name -> be64(lsn) */
    char sizes[96];       /* "s_<id>" (tables with LSIs): be64(hash(pk)) || enc(pk) -> be64(item
                             collection bytes) */
    dyn_key_schema ks;    /* names in the arena given to storage_partition_get */
    const char *ttl_attr; /* arena; NULL when TTL is off */
    uint64_t ttl_gen;     /* bumped by every TTL change; the index is rebuilt for each */
    bool gsi;             /* a global secondary index's partition: no log, expiry index, LSIs */
    size_t n_lsis;
    storage_lsi lsis[STORAGE_LSI_MAX];
} storage_part;

/* Table names of partition id (valid id: at most 80 characters). */
void storage_part_tables(const char *id, storage_part *out);

/* Copies partition id's state into *out (strings in arena a); false if unknown or a is out of
 * memory. Takes the registry lock for reading: safe on the committer thread. */
bool storage_partition_get(storage *st, const char *id, dyn_arena *a, storage_part *out);
/* Whether partition id belongs to a global secondary index (CreatePartitionRequest.gsi): it has
 * no change log, expiry index or LSIs. false for an unknown id. */
bool storage_partition_gsi(storage *st, const char *id);
/* The ids of every partition (heap; free each and the array); *n set. */
char **storage_partition_ids(storage *st, size_t *n);
/* Sets (attr non-empty) or clears the partition's TTL attribute: the registry record first
 * (synced), then memory, bumping ttl_gen when it changed. DYN_ENOTABLE if unknown. Blocks on the
 * committer: never from an apply or done. */
dyn_err storage_partition_set_ttl(storage *st, const char *id, const char *attr);
/* Records that the expiry index reflects ttl_gen 'gen'; true if that is still the current gen. */
bool storage_partition_ttl_built(storage *st, const char *id, uint64_t gen);
/* True while a TTL change of partition id has not been reindexed yet. */
bool storage_partition_ttl_pending(storage *st, const char *id, uint64_t *gen);

/* ---- the log (changelog.c) ---- */

/* Hybrid logical clock of this node: wall-clock ms << 16 | a counter, strictly increasing
 * across calls (and across restarts once storage_log_start has seen the logs). Thread-safe. */
uint64_t storage_hlc_now(void);

/* Inside a write's apply: appends the change of item key (old -> new; NULL old = INSERT, NULL
 * new = REMOVE) to the partition's log with the next LSN, computed from the last record visible
 * to this transaction, so a group rolled back and re-run assigns the same LSNs again, without
 * gaps or duplicates. *lsn on DYN_OK. Records and images are allocated in arena a. */
dyn_err storage_log_append(dyn_kv_txn *txn, const storage_part *p, dyn_arena *a, const void *key,
                           size_t klen, const Dyne__V1__AttributeValueMap *old_item,
                           const Dyne__V1__AttributeValueMap *new_item, const char *principal,
                           uint64_t *lsn);

/* Inside a write's apply: whether the partition logs its changes, which it does while at least
 * one consumer is registered (RegisterConsumer), as of this transaction's place in the commit
 * order. Scratch in arena a. */
dyn_err storage_log_wanted(dyn_kv_txn *txn, const storage_part *p, dyn_arena *a, bool *on);

/* The highest LSN of a log table visible to txn; 0 if the log is empty. */
dyn_err storage_log_last(dyn_kv_txn *txn, const char *log, uint64_t *lsn);

/* Creates the log, expiry and consumer tables of partition id (idempotent). */
dyn_err storage_log_tables_create(dyn_kv *kv, const char *id);
/* Drops them; absent tables are fine. Not from the committer thread. */
dyn_err storage_log_tables_drop(dyn_kv *kv, const char *id);

/* Asks the background thread for a pass now (after a consumer moved or the TTL changed). */
void storage_log_kick(void);

/* ---- local secondary indexes (lsi.c) ---- */

/* The index writes of one item write, planned before anything is written. */
typedef struct storage_lsi_plan {
    struct {
        const unsigned char *old_key, *new_key;   /* NULL: not in the index before / after */
        size_t old_klen, new_klen;
        const unsigned char *new_val;             /* the new entry's encoding */
        size_t new_vlen;
        bool write;                               /* new entry differs from the old one */
        double units;                             /* write units (reference §2.2, 0/1/2 rule) */
    } ix[STORAGE_LSI_MAX];
    const unsigned char *coll_key;                /* the item collection: hash || enc(pk) */
    size_t coll_klen;
    int64_t coll_before, coll_after;              /* its bytes around the write */
} storage_lsi_plan;

/* Checks an item about to be stored against the partition's LSI sort keys, as DynamoDB does:
 * "One or more parameter values were invalid: Type mismatch for Index Key <attr> Expected: S
 * Actual: N IndexName: <idx>", an empty S/B, a value over 1024 bytes. DYN_EVALIDATION with *msg
 * (arena a). An item without the attribute is simply absent from that index (sparse). */
dyn_err storage_lsi_check(const storage_part *p, const Dyne__V1__AttributeValueMap *item,
                          dyn_arena *a, const char **msg);
/* Inside a write's apply, before anything is written: the entries of item key in every LSI
 * before (old_item) and after (new_item; either may be NULL), their write units, and the item
 * collection's size before and after. DYN_ECOLLECTION when a write that grows the collection
 * would take it over the limit (nothing written). Reads only. */
dyn_err storage_lsi_plan_write(dyn_kv_txn *txn, const storage_part *p, const void *key,
                               size_t klen, const Dyne__V1__AttributeValueMap *old_item,
                               const Dyne__V1__AttributeValueMap *new_item, dyn_arena *a,
                               storage_lsi_plan *plan);
/* Applies a plan in the same transaction: index entries and the collection's size. */
dyn_err storage_lsi_apply(dyn_kv_txn *txn, const storage_part *p, const storage_lsi_plan *plan);
/* The item collection's current size in bytes (a write that changes nothing still reports
 * it). */
dyn_err storage_lsi_collection_size(dyn_kv_txn *txn, const storage_part *p, const void *key,
                                    size_t klen, dyn_arena *a, int64_t *size);
/* The base item key an index key points at: hash || enc(pk) || enc(table sk). */
dyn_err storage_lsi_base_key(const storage_part *p, const storage_lsi *l, const void *ikey,
                             size_t iklen, dyn_arena *a, unsigned char **key, size_t *klen);
/* Creates (idempotent) / drops (absent is fine; not from the committer) the n index tables and
 * the collection-size table of partition id. */
dyn_err storage_lsi_tables_create(dyn_kv *kv, const char *id, size_t n, dyn_kv_class cls);
dyn_err storage_lsi_tables_drop(dyn_kv *kv, const char *id, size_t n);
/* "i_<id>_<n>" */
void storage_lsi_table_name(const char *id, size_t n, char *out, size_t cap);

/* ---- global secondary indexes (gsi.c) ---- */

struct Dyne__Internal__GsiDef;
/* The write units the change of one item (old_item -> new_item; either may be NULL) makes on
 * GSI g of a table keyed by tks (reference §2.2, each index write in 1 KB units of the index
 * entry: new entry 1, removed 1, key change 2, changed projection 1, else 0; an item without the
 * index keys, or with one of another type or an empty S/B, has no entry). Reads and writes
 * nothing; scratch in arena a. */
dyn_err storage_gsi_units(const dyn_key_schema *tks, const struct Dyne__Internal__GsiDef *g,
                          const Dyne__V1__AttributeValueMap *old_item,
                          const Dyne__V1__AttributeValueMap *new_item, dyn_arena *a,
                          double *units);

/* ---- TTL (ttl.c) ---- */

/* The whole-second expiry of an item: its attribute attr is a non-negative Number; fractions
 * are cut (a value below now+1 is below now once cut). false when there is none. */
bool storage_ttl_expiry(const Dyne__V1__AttributeValueMap *item, const char *attr, uint64_t *sec);
/* Inside a write's apply: moves item key's expiry-index entry from what old_item had to what
 * new_item has (either may be NULL) under the partition's TTL attribute. */
dyn_err storage_ttl_index(dyn_kv_txn *txn, const storage_part *p, const void *key, size_t klen,
                          const Dyne__V1__AttributeValueMap *old_item,
                          const Dyne__V1__AttributeValueMap *new_item, dyn_arena *a);
/* One background step of rebuilding partition id's expiry index after a TTL change; false when
 * the index is complete (or the partition gone). */
bool storage_ttl_rebuild_step(storage *st, const char *id);

/* Handlers (ctx: the storage). */
dyn_err storage_h_read_changes(dyn_rpc_call *call, const ProtobufCMessage *m,
                               ProtobufCMessage **resp, void *ctx);
dyn_err storage_h_register_consumer(dyn_rpc_call *call, const ProtobufCMessage *m,
                                    ProtobufCMessage **resp, void *ctx);
dyn_err storage_h_set_partition_ttl(dyn_rpc_call *call, const ProtobufCMessage *m,
                                    ProtobufCMessage **resp, void *ctx);
dyn_err storage_h_scan_expired(dyn_rpc_call *call, const ProtobufCMessage *m,
                               ProtobufCMessage **resp, void *ctx);
#endif /* DYN_SERVICES_STORAGE_CHANGELOG_H */
