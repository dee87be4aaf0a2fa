/* services/storage -- a storage node: partitions of tables in one WiredTiger connection, served
 * over dyne.internal.Storage. storage.c holds the handlers; main.c the flags and wiring. */
#ifndef DYN_SERVICES_STORAGE_STORAGE_H
#define DYN_SERVICES_STORAGE_STORAGE_H

#include "libs/err/err.h"
#include "libs/kv/kv.h"
#include "libs/meta/meta.h"
#include "libs/rpc/rpc.h"

typedef struct storage storage;   /* opaque node state */

/* Opens the partition registry kept in kv (table "dyn_partitions"). kv is borrowed. */
dyn_err storage_new(dyn_kv *kv, storage **out);
void storage_free(storage *st);
size_t storage_partition_count(storage *st);

/* For the handlers in other files of the node. */
dyn_kv *storage_kv(storage *st);
/* Copies the WiredTiger table name of partition id into out; false if it is unknown. */
bool storage_partition_table(storage *st, const char *id, char *out, size_t cap);
/* Labels call's request metrics with the DynamoDB table partition id belongs to. */
void storage_call_table(storage *st, dyn_rpc_call *call, const char *id);

/* The partitions now: ids and their DynamoDB table names (parallel arrays, owned: free each
 * string and both arrays). Returns the count. */
size_t storage_partitions(storage *st, char ***ids, char ***tables);
/* Items and bytes (encoded values) in partition id, by a scan of one snapshot: O(items).
 * DYN_ENOTABLE for an unknown partition. */
dyn_err storage_partition_scan(storage *st, const char *id, int64_t *items, int64_t *bytes);

/* Every interval_s seconds, scans each partition and publishes its items and bytes as the
 * gauges dyn_storage_partition_items / dyn_storage_partition_bytes (stats.c). One per process;
 * stop before storage_free. */
dyn_err storage_stats_start(storage *st, int interval_s);
void storage_stats_stop(void);
dyn_err storage_h_range(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                        void *ctx);
/* Batch: coalesced calls, each run as a local call of its method (batch.c). */
dyn_err storage_h_batch(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                        void *ctx);

/* The largest item collection (base items and LSI entries of one partition-key value, each
 * counted as its DynamoDB size + 100 bytes) a write may grow; default 10 GiB (lsi.c). Set once
 * at startup. */
void storage_set_collection_limit(int64_t bytes);
/* Whether change logs created from now on are block-compressed (snappy) or not (the default;
 * changelog.c). Set once at startup. */
void storage_set_log_compression(bool on);

/* The dyne.internal.Storage method table; ctx for every handler is the storage. */
extern const dyn_rpc_method storage_methods[];

/* The change log's background work (changelog.c). Startup: gives every partition its log,
 * expiry and consumer tables, seeds the node's clock from the newest records, and starts the
 * thread that trims each log every few seconds (records older than retention_s seconds that
 * every registered consumer has passed; the newest is kept) and rebuilds TTL expiry indexes.
 * One per process; stop before storage_free. */
dyn_err storage_log_start(storage *st, int64_t retention_s);
void storage_log_stop(void);

/* Registers the node in etcd (/dyne/nodes/<node_id> -> NodeMeta{addr, feed_pub_url,
 * feed_cursor_url}; a NULL url is left out) under a lease of ttl_s seconds kept alive in the background; re-registers if the
 * lease is lost. meta is borrowed for the life of the process; the strings are copied. */
dyn_err storage_register(dyn_meta *meta, const char *node_id, const char *addr,
                         const char *feed_pub_url, const char *feed_cursor_url, int ttl_s);

/* The change feed (feed.c, libs/feed). Start after dyn_rpc_server_start (the cursor server runs
 * ReadChanges / RegisterConsumer as local calls of srv): a publisher on pub_listen seeded with
 * every partition's newest LSN, and a cursor server on cursor_listen; either "" = off. On DYN_OK
 * *pub_url / *cursor_url (heap, NULL when off) are the urls to advertise: bound ports, and a
 * wildcard host replaced by grpc_addr's. Stop the cursor before dyn_rpc_server_free, the
 * publisher after dyn_kv_close (the write path notifies until then). One per process. */
dyn_err storage_feed_start(storage *st, dyn_rpc_server *srv, const char *pub_listen,
                           const char *cursor_listen, const char *grpc_addr, char **pub_url,
                           char **cursor_url);
void storage_feed_stop_cursor(void);
void storage_feed_stop(void);
/* From the write path once a commit is durable: partition reached lsn. Cheap; a no-op while the
 * feed is off. */
void storage_feed_notify(const char *partition, uint64_t lsn);
/* A dropped partition: no more announcements. */
void storage_feed_forget(const char *partition);
#endif /* DYN_SERVICES_STORAGE_STORAGE_H */
