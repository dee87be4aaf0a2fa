/* libs/elect -- see elect.h. */
#include "libs/elect/elect.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libs/arena/arena.h"
#include "libs/log/log.h"

struct dyn_elect {
    dyn_meta *meta;             /* borrowed */
    char *key, *id;             /* owned */
    int64_t ttl_s;
    dyn_elect_wake_fn wake;
    void *wake_arg;
    dyn_meta_watch *watch;      /* owned */
    bool renew_failing;         /* the last lease grant failed (logged once); step's thread */
    pthread_mutex_t mu;         /* guards what follows */
    int64_t lease;              /* ours; 0 = none */
    bool lease_lost;            /* reported by the keep-alive */
    int64_t epoch;              /* the key's create revision while we lead, else 0 */
};

/* meta's tick thread: the keep-alive gave up on a lease. */
static void
lease_lost(void *arg, int64_t id)
{
    dyn_elect *e = arg;
    int64_t was;

    pthread_mutex_lock(&e->mu);
    was = e->lease == id ? e->epoch : 0;
    if (e->lease == id) {
        e->lease_lost = true;
        e->epoch = 0;   /* stop acting now: etcd may already have let the key go */
    }
    pthread_mutex_unlock(&e->mu);
    dyn_log(DYN_LOG_WARN, "CONTROLLER-LEASE-LOST", "node=%s lease=%lld epoch=%lld", e->id,
            (long long)id, (long long)was);
    if (e->wake != NULL)
        e->wake(e->wake_arg, dyn_elect_epoch(e) != 0);
}

/* meta's watch thread: a change of the leader key. */
static void
key_event(void *arg, const dyn_meta_event *ev)
{
    dyn_elect *e = arg;
    int64_t was = 0;

    if (ev->type == DYN_META_EV_PUT)
        return;   /* somebody won; nothing to do until the key goes */
    pthread_mutex_lock(&e->mu);
    /* A delete older than our key is the previous leader's, arriving late. */
    if (ev->type == DYN_META_EV_DELETE && e->epoch != 0 && ev->mod_rev > e->epoch) {
        was = e->epoch;
        e->epoch = 0;
    }
    pthread_mutex_unlock(&e->mu);
    if (was != 0)
        dyn_log(DYN_LOG_WARN, "CONTROLLER-LEADER-KEY-GONE", "node=%s epoch=%lld", e->id,
                (long long)was);
    if (e->wake != NULL)
        e->wake(e->wake_arg, dyn_elect_epoch(e) != 0);
}

dyn_elect *
dyn_elect_new(dyn_meta *m, const char *key, const char *id, int ttl_s,
                     dyn_elect_wake_fn wake, void *arg)
{
    dyn_elect *e = dyn_xcalloc(1, sizeof *e);

    e->meta = m;
    e->key = dyn_xstrdup(key);
    e->id = dyn_xstrdup(id);
    e->ttl_s = ttl_s > 0 ? ttl_s : 5;
    e->wake = wake;
    e->wake_arg = arg;
    pthread_mutex_init(&e->mu, NULL);
    e->watch = dyn_meta_watch_start(m, key, 0, key_event, e);
    return e;
}

/* A fresh lease kept alive, replacing a missing or lost one. */
static dyn_err
lease_renew(dyn_elect *e)
{
    int64_t old, id = 0;
    dyn_err rc;

    pthread_mutex_lock(&e->mu);
    old = e->lease;
    bool fine = old != 0 && !e->lease_lost;
    pthread_mutex_unlock(&e->mu);
    /* the keep-alive's own view too: it may know before its lost callback has run */
    if (fine && dyn_meta_keepalive_ok(e->meta, old))
        return DYN_OK;
    pthread_mutex_lock(&e->mu);
    e->lease_lost = true;   /* our key, if any, dies with the old lease: stop acting */
    e->epoch = 0;
    pthread_mutex_unlock(&e->mu);
    if (old != 0) {
        (void)dyn_meta_keepalive_stop(e->meta, old);   /* usually dropped already */
        /* etcd may still hold it (we lost touch, it did not): free our stale key at once */
        (void)dyn_meta_lease_revoke(e->meta, old);
        pthread_mutex_lock(&e->mu);
        e->lease = 0;
        pthread_mutex_unlock(&e->mu);
    }
    if ((rc = dyn_meta_lease_grant(e->meta, e->ttl_s, &id, NULL)) != DYN_OK)
        return rc;
    if ((rc = dyn_meta_keepalive_start(e->meta, id, e->ttl_s, lease_lost, e)) != DYN_OK) {
        (void)dyn_meta_lease_revoke(e->meta, id);
        return rc;
    }
    pthread_mutex_lock(&e->mu);
    e->lease = id;
    e->lease_lost = false;
    pthread_mutex_unlock(&e->mu);
    return DYN_OK;
}

int64_t
dyn_elect_step(dyn_elect *e)
{
    int64_t lease, epoch = 0, rev = 0;
    bool won = false;
    dyn_err rc;

    if ((rc = lease_renew(e)) != DYN_OK) {
        if (!e->renew_failing)   /* once per outage, not once per second */
            dyn_log(DYN_LOG_WARN, "CONTROLLER-LEASE", "node=%s err=%s", e->id, dyn_err_name(rc));
        e->renew_failing = true;
        return dyn_elect_epoch(e);
    }
    e->renew_failing = false;
    pthread_mutex_lock(&e->mu);
    lease = e->lease;
    epoch = e->epoch;
    pthread_mutex_unlock(&e->mu);
    if (epoch != 0)
        return epoch;

    dyn_meta_cmp absent = { .key = e->key, .target = DYN_META_CMP_CREATE, .op = DYN_META_EQ };
    dyn_meta_op put = { .type = DYN_META_OP_PUT, .key = e->key, .val = e->id,
                        .val_len = strlen(e->id), .lease = lease };
    rc = dyn_meta_txn(e->meta, &absent, 1, &put, 1, NULL, 0, &won, &rev);
    if (rc == DYN_OK && won) {
        epoch = rev;   /* the transaction's revision is the key's create revision */
    } else if (rc == DYN_OK) {
        /* Held already -- possibly by us, when an earlier campaign was applied but its answer
         * lost: the key then carries our lease. */
        dyn_arena a;
        dyn_meta_kv kv;
        dyn_arena_init(&a, 1 << 16);
        if (dyn_meta_get(e->meta, e->key, &a, &kv) == DYN_OK && kv.lease == lease)
            epoch = kv.create_rev;
        dyn_arena_fini(&a);
    }
    if (epoch == 0)
        return 0;
    pthread_mutex_lock(&e->mu);
    if (e->lease == lease && !e->lease_lost)
        e->epoch = epoch;
    else
        epoch = 0;   /* lost meanwhile */
    pthread_mutex_unlock(&e->mu);
    if (epoch != 0)
        dyn_log(DYN_LOG_INFO, "CONTROLLER-LEADER", "node=%s epoch=%lld lease=%lld", e->id,
                (long long)epoch, (long long)lease);
    return epoch;
}

int64_t
dyn_elect_epoch(dyn_elect *e)
{
    int64_t epoch;

    pthread_mutex_lock(&e->mu);
    epoch = e->lease_lost ? 0 : e->epoch;
    pthread_mutex_unlock(&e->mu);
    return epoch;
}

dyn_meta_cmp
dyn_elect_fence(const dyn_elect *e, int64_t epoch)
{
    dyn_meta_cmp c = { .key = e->key, .target = DYN_META_CMP_CREATE, .op = DYN_META_EQ,
                       .rev = epoch };
    return c;
}

int64_t
dyn_elect_lease(dyn_elect *e)
{
    int64_t lease;

    pthread_mutex_lock(&e->mu);
    lease = e->lease;
    pthread_mutex_unlock(&e->mu);
    return lease;
}

void
dyn_elect_resign(dyn_elect *e)
{
    int64_t epoch, lease;

    pthread_mutex_lock(&e->mu);
    epoch = e->epoch;
    lease = e->lease;
    e->epoch = 0;
    e->lease = 0;
    e->lease_lost = false;
    pthread_mutex_unlock(&e->mu);
    if (epoch != 0) {
        /* only our own key: a successor's must survive a late resign */
        dyn_meta_cmp ours = dyn_elect_fence(e, epoch);
        dyn_meta_op del = { .type = DYN_META_OP_DELETE, .key = e->key };
        dyn_err rc = dyn_meta_txn(e->meta, &ours, 1, &del, 1, NULL, 0, NULL, NULL);
        dyn_log(DYN_LOG_INFO, "CONTROLLER-RESIGN", "node=%s epoch=%lld err=%s", e->id,
                (long long)epoch, dyn_err_name(rc));
    }
    if (lease != 0) {
        (void)dyn_meta_keepalive_stop(e->meta, lease);
        (void)dyn_meta_lease_revoke(e->meta, lease);   /* would delete the key too */
    }
}

void
dyn_elect_free(dyn_elect *e)
{
    if (e == NULL)
        return;
    dyn_meta_watch_stop(e->watch);
    dyn_elect_resign(e);
    pthread_mutex_destroy(&e->mu);
    free(e->key);
    free(e->id);
    free(e);
}

void
dyn_elect_instance_id(const char *given, const char *fallback, char *out, size_t cap)
{
    char host[256];

    if (given != NULL && given[0] != '\0') {
        snprintf(out, cap, "%s", given);
        return;
    }
    snprintf(host, sizeof host, "%s", fallback);
    (void)gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(out, cap, "%s-%ld", host, (long)getpid());
}
