/* libs/kv -- Dyne's storage engine seam: one WiredTiger connection with snapshot reads on pooled
 * sessions and all writes funnelled through one committer thread that group-commits them (one
 * transaction, one synced log flush per group). The only library that includes <wiredtiger.h>. */
#ifndef DYN_LIBS_KV_KV_H
#define DYN_LIBS_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"

typedef struct dyn_kv dyn_kv;           /* one WiredTiger connection */
typedef struct dyn_kv_txn dyn_kv_txn;   /* a transaction on a WT session */
typedef struct dyn_kv_iter dyn_kv_iter;

typedef struct dyn_kv_opts {
    size_t cache_bytes;   /* WT cache (default 256 MiB; at least 1 MiB) */
    bool sync;            /* fsync the log at each (group) commit; default true */
    int group_max;        /* max write batches per group commit (default 128) */
} dyn_kv_opts;

/* Fills *opts with the defaults above (a zeroed struct would mean sync=false). */
void dyn_kv_opts_init(dyn_kv_opts *opts);

/* Opens (creating 'home' and its parents if missing) the database in 'home', running WiredTiger
 * recovery after a crash, and starts the committer thread. opts NULL = defaults; a zero
 * cache_bytes or group_max takes the default. *out is owned: dyn_kv_close() it. */
dyn_err dyn_kv_open(const char *home, const dyn_kv_opts *opts, dyn_kv **out);
/* Waits until every submitted batch is committed and its done() has run, then closes WiredTiger
 * (which checkpoints). No read transaction may still be open. NULL is fine. */
void dyn_kv_close(dyn_kv *kv);

/* Tables: name [a-zA-Z0-9_.-]{1,200} (else DYN_EVALIDATION); key_format=u, value_format=u, keys
 * ordered as bytes (memcmp, then shorter first). Thread-safe. Point ops and iterators on a table
 * that does not exist return DYN_ENOTABLE. */
dyn_err dyn_kv_table_create(dyn_kv *kv, const char *name);   /* idempotent; STANDARD */

/* Storage classes of a table, fixed at creation (DynamoDB's table classes; docs/decisions.md
 * gives the WiredTiger settings and the measured trade-off):
 *   STANDARD   -- speed first: snappy block compression, WiredTiger's default page sizes;
 *   INFREQUENT -- size first (STANDARD_INFREQUENT_ACCESS): zlib compression (level 1) and a
 *                 bounded share of the OS page cache;
 *   TRANSIENT  -- no block compression, for data written once, read by a few consumers and
 *                 deleted (a change log): compressing every page on its one way to disk was a
 *                 fifth of a storage node's Put instructions (docs/benchmarks.md). */
typedef enum dyn_kv_class {
    DYN_KV_CLASS_STANDARD = 0,
    DYN_KV_CLASS_INFREQUENT,
    DYN_KV_CLASS_TRANSIENT,
} dyn_kv_class;
dyn_err dyn_kv_table_create_class(dyn_kv *kv, const char *name, dyn_kv_class cls);
/* DYN_ENOTFOUND if absent. Waits out cursors that other threads still have open on the table
 * (retrying WiredTiger's EBUSY) for up to 30 s, then DYN_EINUSE. Must not be called from a
 * thread that has a transaction open, nor from an apply or done callback. */
dyn_err dyn_kv_table_drop(dyn_kv *kv, const char *name);
bool dyn_kv_table_exists(dyn_kv *kv, const char *name);

/* Reads: a snapshot transaction on a session borrowed from a pool (thread-safe; any thread; the
 * txn itself is used by one thread at a time). *txn is borrowed until dyn_kv_read_end(), which
 * rolls back and returns the session; close every iterator first. */
dyn_err dyn_kv_read_begin(dyn_kv *kv, dyn_kv_txn **txn);
void dyn_kv_read_end(dyn_kv_txn *txn);

/* Point ops inside any txn. get: on DYN_OK *val (vlen bytes) is a copy in arena 'a'
 * (WiredTiger's buffer dies when the cursor moves); DYN_ENOTFOUND if absent; DYN_ENOMEM past the
 * arena cap. put overwrites; del returns DYN_ENOTFOUND if absent. put and del only inside an
 * apply (the committer's transaction); in a read transaction they return DYN_EINTERNAL. */
dyn_err dyn_kv_get(dyn_kv_txn *txn, const char *table, const void *key, size_t klen, dyn_arena *a,
                   void **val, size_t *vlen);
dyn_err dyn_kv_put(dyn_kv_txn *txn, const char *table, const void *key, size_t klen,
                   const void *val, size_t vlen);
dyn_err dyn_kv_del(dyn_kv_txn *txn, const char *table, const void *key, size_t klen);

/* Range iteration over [start, end) in byte order (NULL start/end = unbounded), forward or
 * reverse (reverse yields the largest key below 'end' first). start/end are copied. *it is owned:
 * dyn_kv_iter_close() it before the transaction ends. Point ops on the same table and other
 * iterators may be used while it is open. */
dyn_err dyn_kv_iter_open(dyn_kv_txn *txn, const char *table, const void *start, size_t slen,
                         const void *end, size_t elen, bool reverse, dyn_kv_iter **it);
/* DYN_ENOTFOUND at the end (and on every call after); *k and *v are borrowed until the next call
 * on this iterator or its close. */
dyn_err dyn_kv_iter_next(dyn_kv_iter *it, const void **k, size_t *klen, const void **v,
                         size_t *vlen);
void dyn_kv_iter_close(dyn_kv_iter *it);   /* NULL is fine */

/* Writes go through ONE committer thread per dyn_kv, which also serialises conditional writes on
 * a key: no latches needed. Submitted batches are queued; the committer takes up to group_max of
 * them, begins one WT transaction, runs each batch's apply(txn, arg) in order (each sees the
 * earlier ones' writes), commits once with one synced log flush (group commit), then each
 * done(arg, rc) is called with that batch's own rc: apply's result, or the commit's error --
 * by the committer when nothing else waits, else by the kv's finisher thread while the
 * committer goes on with the next group; either way in commit order, one at a time.
 * apply's contract: if it returns an error it must have made no writes (check conditions first).
 * If an apply fails after writing, or any kv call inside it fails in WiredTiger (not a mere
 * DYN_ENOTFOUND), or the commit fails, the whole group is rolled back and each batch re-run
 * alone in its own transaction (WT_ROLLBACK there is retried), so apply may run more than once
 * and must only touch the txn (and its own arg). apply and done run on the committer (done
 * maybe on the finisher) thread: they must not block on kv (no dyn_kv_write, dyn_kv_close,
 * dyn_kv_table_drop). */
typedef dyn_err (*dyn_kv_apply_fn)(dyn_kv_txn *txn, void *arg);
typedef void (*dyn_kv_done_fn)(void *arg, dyn_err rc);
/* Never blocks (one short mutex). done may be NULL. arg is borrowed until done runs. */
void dyn_kv_submit(dyn_kv *kv, dyn_kv_apply_fn apply, dyn_kv_done_fn done, void *arg);
/* Submits and waits for the durable commit; returns the batch's rc. */
dyn_err dyn_kv_write(dyn_kv *kv, dyn_kv_apply_fn apply, void *arg);

/* Stats for metrics; counters since open, read without stopping writers. */
typedef struct dyn_kv_stats {
    uint64_t commits;   /* WiredTiger transactions committed by the committer */
    uint64_t batches;   /* batches whose done() has been called */
    uint64_t syncs;     /* commits that flushed and fsynced the log */
    uint64_t reruns;    /* groups rolled back and re-run batch by batch */
} dyn_kv_stats;
void dyn_kv_stats_get(dyn_kv *kv, dyn_kv_stats *st);
#endif /* DYN_LIBS_KV_KV_H */
