/* libs/meta -- Dyne's etcd v3 client over libs/rpc: get/range/put/delete, transactions
 * (put-if-absent, compare-and-swap on mod_revision, general compare/then/else), leases with a
 * background keep-alive, and prefix watches that resume after failures. Thread-safe: every
 * function may be called from any thread except where noted. Keys are C strings; values are
 * bytes. Blocking calls give up after 5 s (DYN_EDEADLINE) or when etcd is unreachable
 * (DYN_EUNAVAIL). */
#ifndef DYN_LIBS_META_META_H
#define DYN_LIBS_META_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libs/arena/arena.h"
#include "libs/err/err.h"

typedef struct dyn_meta dyn_meta;               /* opaque */
typedef struct dyn_meta_watch dyn_meta_watch;   /* opaque */

/* endpoints: "127.0.0.1:2379", optionally "http://" prefixed, or a comma-separated list of
 * numeric IPv4 endpoints ("10.0.0.1:2379,10.0.0.2:2379": gRPC fails over between them); for
 * a list of host names only the first is used. Connects lazily: never fails for an unreachable
 * etcd (calls do). Owned: free with dyn_meta_close. */
dyn_meta *dyn_meta_open(const char *endpoints);
/* Stops every watch and keep-alive still running (their callbacks have returned when this
 * returns, and watch handles not yet stopped are freed), then closes the connection. Must not
 * be called from a meta callback. */
void dyn_meta_close(dyn_meta *m);

/* One key-value. All pointers point into the caller's arena. */
typedef struct dyn_meta_kv {
    const char *key;       /* NUL-terminated */
    const void *val;       /* val_len bytes, followed by a NUL for convenience */
    size_t val_len;
    int64_t create_rev;    /* revision that created the key */
    int64_t mod_rev;       /* revision of the last change */
    int64_t version;       /* changes since creation (1 = just created) */
    int64_t lease;         /* attached lease, 0 = none */
} dyn_meta_kv;

/* Reads one key. DYN_OK: *kv filled from arena a. DYN_ENOTFOUND if absent; DYN_ENOMEM if the
 * arena cap is hit. */
dyn_err dyn_meta_get(dyn_meta *m, const char *key, dyn_arena *a, dyn_meta_kv *kv);

/* Keys starting with prefix ("" = all keys), sorted by key, at most limit of them (<= 0: no
 * limit). DYN_OK: *kvs is an array of *n entries in arena a; *more (may be NULL) says keys were
 * left out by the limit; *rev (may be NULL) is the store revision the read saw: watch from
 * *rev + 1 to miss nothing after this listing. */
dyn_err dyn_meta_range(dyn_meta *m, const char *prefix, int64_t limit, dyn_arena *a,
                       dyn_meta_kv **kvs, size_t *n, bool *more, int64_t *rev);

/* Sets key to val (val_len bytes, borrowed for the call), attached to lease (0 = none).
 * *rev (may be NULL) gets the new revision, which is the key's mod_rev. */
dyn_err dyn_meta_put(dyn_meta *m, const char *key, const void *val, size_t val_len,
                     int64_t lease, int64_t *rev);

/* Deletes one key / every key under prefix. *deleted (may be NULL) counts them; deleting
 * nothing is DYN_OK. */
dyn_err dyn_meta_delete(dyn_meta *m, const char *key, int64_t *deleted);
dyn_err dyn_meta_delete_prefix(dyn_meta *m, const char *prefix, int64_t *deleted);

/* Creates key only if it does not exist. DYN_EEXISTS if it does (nothing written). */
dyn_err dyn_meta_put_if_absent(dyn_meta *m, const char *key, const void *val, size_t val_len,
                               int64_t lease, int64_t *rev);
/* Writes key only if its mod_rev is still expect_mod_rev (0 = the key must not exist).
 * DYN_ECONDFAIL if it changed. */
dyn_err dyn_meta_cas(dyn_meta *m, const char *key, int64_t expect_mod_rev, const void *val,
                     size_t val_len, int64_t lease, int64_t *rev);
/* Deletes key only if its mod_rev is still expect_mod_rev. DYN_ECONDFAIL if it changed or the
 * key is gone. */
dyn_err dyn_meta_delete_if(dyn_meta *m, const char *key, int64_t expect_mod_rev);

/* A general transaction: if every compare holds, the `then` ops run, else the `otherwise` ops;
 * atomically, at one new revision. A key may be written at most once per branch (etcd's rule:
 * DYN_EVALIDATION otherwise). */
typedef enum {
    DYN_META_CMP_MOD = 0,   /* compare the key's mod_rev with .rev */
    DYN_META_CMP_CREATE,    /* create_rev with .rev (0 = absent) */
    DYN_META_CMP_VERSION,   /* version with .rev (0 = absent) */
    DYN_META_CMP_VALUE,     /* value with .val/.val_len */
    DYN_META_CMP_LEASE,     /* lease with .rev */
} dyn_meta_cmp_target;
typedef enum { DYN_META_EQ = 0, DYN_META_NE, DYN_META_LT, DYN_META_GT } dyn_meta_cmp_op;
typedef struct dyn_meta_cmp {
    const char *key;
    dyn_meta_cmp_target target;
    dyn_meta_cmp_op op;
    int64_t rev;         /* for MOD, CREATE, VERSION, LEASE */
    const void *val;     /* for VALUE */
    size_t val_len;
} dyn_meta_cmp;
typedef enum { DYN_META_OP_PUT = 0, DYN_META_OP_DELETE, DYN_META_OP_DELETE_PREFIX } dyn_meta_op_type;
typedef struct dyn_meta_op {
    dyn_meta_op_type type;
    const char *key;     /* the key, or the prefix for DELETE_PREFIX */
    const void *val;     /* PUT only */
    size_t val_len;
    int64_t lease;       /* PUT only; 0 = none */
} dyn_meta_op;
/* All arrays are borrowed for the call. DYN_OK whichever branch ran: *succeeded (may be NULL)
 * says which; *rev (may be NULL) is the revision after the transaction. */
dyn_err dyn_meta_txn(dyn_meta *m, const dyn_meta_cmp *cmps, size_t ncmps, const dyn_meta_op *then,
                     size_t nthen, const dyn_meta_op *otherwise, size_t notherwise,
                     bool *succeeded, int64_t *rev);

/* Leases. grant: a new lease that expires after ttl_s seconds unless kept alive; *id its ID,
 * *granted_ttl_s (may be NULL) the TTL etcd chose. revoke: ends it now and deletes every key
 * attached (DYN_ENOTFOUND if unknown). time_to_live: *ttl_s the remaining seconds;
 * DYN_ENOTFOUND if expired or unknown. */
dyn_err dyn_meta_lease_grant(dyn_meta *m, int64_t ttl_s, int64_t *id, int64_t *granted_ttl_s);
dyn_err dyn_meta_lease_revoke(dyn_meta *m, int64_t id);
dyn_err dyn_meta_lease_time_to_live(dyn_meta *m, int64_t id, int64_t *ttl_s);

/* Keeps lease id alive in the background: a refresh every ttl_s/3 seconds (at least every
 * second) over one shared LeaseKeepAlive stream, reopened after failures. If etcd reports the
 * lease gone, or no refresh succeeded for ttl_s seconds, the lease is lost: keep-alive for it
 * stops and `lost` (may be NULL) runs once, on meta's background thread (it may call meta).
 * DYN_EEXISTS if id is already kept alive. */
typedef void (*dyn_meta_lease_lost_fn)(void *arg, int64_t id);
dyn_err dyn_meta_keepalive_start(dyn_meta *m, int64_t id, int64_t ttl_s,
                                 dyn_meta_lease_lost_fn lost, void *arg);
/* Stops refreshing (the lease then expires unless revoked). When this returns, `lost` for id
 * is not running and will not run. DYN_ENOTFOUND if id is not kept alive (e.g. already lost). */
dyn_err dyn_meta_keepalive_stop(dyn_meta *m, int64_t id);
/* true while id is kept alive and not lost. */
bool dyn_meta_keepalive_ok(dyn_meta *m, int64_t id);

/* Watches. fn runs for each change under prefix, in revision order, on meta's watch thread (one
 * thread for all watches: it may call meta, but a slow callback delays the other watches).
 * ev and everything it points to is borrowed until fn returns. */
typedef enum {
    DYN_META_EV_PUT = 0,
    DYN_META_EV_DELETE,
    /* The revision to resume from was compacted away: changes were missed. mod_rev is the
     * oldest revision still available; the watch goes on from there. Re-list (dyn_meta_range)
     * to catch up. */
    DYN_META_EV_COMPACTED,
} dyn_meta_ev_type;
typedef struct dyn_meta_event {
    dyn_meta_ev_type type;
    const char *key;       /* NUL-terminated; NULL for COMPACTED */
    const void *val;       /* PUT: the new value (NUL-terminated too); DELETE: NULL, 0 */
    size_t val_len;
    int64_t mod_rev;       /* the change's revision */
    int64_t create_rev, version, lease;   /* PUT only */
} dyn_meta_event;
typedef void (*dyn_meta_watch_fn)(void *arg, const dyn_meta_event *ev);

/* Starts watching prefix from revision start_rev (inclusive; 0 = from now on). The watch
 * reconnects by itself after etcd or network failures, resuming after the last revision it
 * delivered, so no change is missed or repeated (except across compaction, reported as
 * DYN_META_EV_COMPACTED). Returns the watch (owned: end it with dyn_meta_watch_stop). */
dyn_meta_watch *dyn_meta_watch_start(dyn_meta *m, const char *prefix, int64_t start_rev,
                                     dyn_meta_watch_fn fn, void *arg);
/* Ends a watch and frees it. When this returns fn is not running (unless stop was called from
 * fn itself) and will not run again. */
void dyn_meta_watch_stop(dyn_meta_watch *w);
#endif /* DYN_LIBS_META_META_H */
