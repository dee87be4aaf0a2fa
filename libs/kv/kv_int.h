/* libs/kv private: the connection, session pool, per-session cursor cache and committer queue
 * shared by kv.c (connection, tables, sessions), kv_txn.c (point ops, iterators) and
 * kv_commit.c (the committer). */
#ifndef DYN_LIBS_KV_KV_INT_H
#define DYN_LIBS_KV_KV_INT_H

#include "libs/kv/kv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <wiredtiger.h>

#define KV_HIDDEN __attribute__((visibility("hidden")))
#define KV_TABLE_NAME_MAX 200

typedef struct kv_sess kv_sess;

typedef struct kv_curs {   /* one table's cached cursors in one session */
    char *table;           /* owned */
    WT_CURSOR *point;      /* get/put/del; reset after every op so it pins no page */
    WT_CURSOR *scan;       /* lent to one iterator at a time; NULL until first needed */
    bool scan_busy;
} kv_curs;

struct dyn_kv_txn {
    dyn_kv *kv;
    kv_sess *sess;
    bool write;        /* the committer's transaction: put/del allowed */
    uint32_t writes;   /* put/del attempts since the current apply began */
    int wt_rc;         /* first WiredTiger failure (not WT_NOTFOUND) since then; 0 = none */
};

struct kv_sess {
    WT_SESSION *s;
    kv_curs **curs;                     /* owned array of owned entries; stable addresses */
    size_t ncurs, capcurs;
    uint64_t gen;                       /* kv->schema_gen the cache was last checked against */
    dyn_kv_txn txn;                     /* the one transaction this session runs */
    kv_sess *next;                      /* idle pool link */
    kv_sess *all_next;                  /* every session, for close */
};

typedef struct kv_batch {   /* one submitted write */
    dyn_kv_apply_fn apply;
    dyn_kv_done_fn done;
    void *arg;
    dyn_err rc;
    struct kv_batch *next;
} kv_batch;

struct dyn_kv {
    WT_CONNECTION *conn;
    bool sync;
    int group_max;
    _Atomic uint64_t schema_gen;   /* bumped by drop: sessions close their cached cursors */

    pthread_mutex_t pool_mu;       /* guards pool, all */
    kv_sess *pool;                 /* idle sessions */
    kv_sess *all;
    pthread_mutex_t schema_mu;     /* serialises create/drop */

    pthread_mutex_t q_mu;          /* guards q_*, free_batches, stopping */
    pthread_cond_t q_cond;         /* work queued, stop, or schema_gen bumped */
    kv_batch *q_head, *q_tail;
    kv_batch *free_batches;        /* recycled nodes */
    bool stopping;
    pthread_t committer;
    kv_sess *wsess;                /* the committer's own session */
    kv_batch **group;              /* group_max slots, committer only */

    /* The finisher: runs the done() callbacks of committed groups while the committer applies
     * the next one (kv_commit.c). Guarded by q_mu too. */
    pthread_cond_t fin_cond;       /* a group to finish, or stop */
    kv_batch *fin_head, *fin_tail; /* committed batches whose done() has not run, in order */
    bool fin_busy;                 /* the finisher is running callbacks outside the lock */
    bool fin_stopping;
    pthread_t finisher;

    _Atomic uint64_t commits, batches, syncs, reruns;
    _Atomic int inject_after;      /* test only: the Nth WT data op from now fails... */
    _Atomic int inject_rc;         /* ...with this WiredTiger code */
};

/* Maps a WiredTiger (or errno) return to dyn_err: the one place that does. */
KV_HIDDEN dyn_err kv_err(int wtrc);
KV_HIDDEN dyn_err kv_sess_get(dyn_kv *kv, kv_sess **out);
KV_HIDDEN void kv_sess_put(dyn_kv *kv, kv_sess *ks);
KV_HIDDEN void kv_sess_purge(kv_sess *ks);   /* closes every cached cursor */
KV_HIDDEN bool kv_name_ok(const char *name);
KV_HIDDEN dyn_err kv_commit_start(dyn_kv *kv);   /* opens wsess, starts the thread */
KV_HIDDEN void kv_commit_stop(dyn_kv *kv);       /* drains the queue, joins the thread */

/* Test hook: make the 'after'-th WiredTiger data operation (get/put/del search or write) from now
 * return 'wtrc' instead of running. after <= 0 disarms. */
KV_HIDDEN void kv_test_inject(dyn_kv *kv, int after, int wtrc);

/* Returns the injected code when the armed countdown hits zero, else 0. */
static inline int
kv_fault(dyn_kv *kv)
{
    if (atomic_load_explicit(&kv->inject_after, memory_order_relaxed) <= 0)
        return 0;
    if (atomic_fetch_sub(&kv->inject_after, 1) == 1)
        return atomic_load(&kv->inject_rc);
    return 0;
}
#endif /* DYN_LIBS_KV_KV_INT_H */
