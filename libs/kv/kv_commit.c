/* libs/kv -- the committer: one thread per dyn_kv that drains the write queue in groups, each
 * group one WiredTiger transaction and one synced log flush, so concurrent writers share fsyncs
 * and conditional writes are serialised without latches. */
#include "libs/kv/kv.h"

#include <stdlib.h>
#include <time.h>

#include "libs/kv/kv_int.h"

#define KV_ROLLBACK_RETRIES 16

typedef struct kv_waiter {   /* dyn_kv_write's stack frame, shared with the committer */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    dyn_err rc;
    dyn_kv_apply_fn apply;
    void *arg;
} kv_waiter;

static void
apply_begin(dyn_kv_txn *txn)
{
    txn->writes = 0;
    txn->wt_rc = 0;
}

static void
count_commit(dyn_kv *kv)
{
    atomic_fetch_add(&kv->commits, 1);
    if (kv->sync)
        atomic_fetch_add(&kv->syncs, 1);
}

/* Runs one batch in a transaction of its own: the fallback when a group failed, and the whole
 * story for a group of one. WT_ROLLBACK (eviction pressure) is retried; nothing else is. */
static dyn_err
batch_alone(dyn_kv *kv, kv_batch *b)
{
    dyn_kv_txn *txn = &kv->wsess->txn;
    WT_SESSION *s = kv->wsess->s;
    struct timespec pause = { 0, 100000 };   /* 100 us, doubling */
    dyn_err rc;
    int wr;

    for (int attempt = 0; attempt < KV_ROLLBACK_RETRIES; attempt++) {
        if (attempt > 0) {
            nanosleep(&pause, NULL);
            if (pause.tv_nsec < 50000000)
                pause.tv_nsec *= 2;
        }
        if ((wr = s->begin_transaction(s, "isolation=snapshot")) != 0)
            return kv_err(wr);
        apply_begin(txn);
        rc = b->apply(txn, b->arg);
        if (rc != DYN_OK || txn->wt_rc != 0 || txn->writes == 0) {
            /* Also undoes writes an apply made before failing, against its contract. */
            (void)s->rollback_transaction(s, NULL);
            if (txn->wt_rc == WT_ROLLBACK)
                continue;
            if (rc == DYN_OK && txn->wt_rc != 0)
                rc = kv_err(txn->wt_rc);   /* apply ignored a WiredTiger failure */
            return rc;
        }
        if ((wr = s->commit_transaction(s, kv->sync ? "sync=on" : NULL)) == 0) {
            count_commit(kv);
            return DYN_OK;
        }
        if (wr != WT_ROLLBACK)   /* a failed commit has already rolled back */
            return kv_err(wr);
    }
    return DYN_EUNAVAIL;
}

static void
group_run(dyn_kv *kv, kv_batch **g, size_t n)
{
    dyn_kv_txn *txn = &kv->wsess->txn;
    WT_SESSION *s = kv->wsess->s;
    bool failed = false;
    uint32_t writes = 0;

    if (n == 1) {
        g[0]->rc = batch_alone(kv, g[0]);
        goto done;
    }
    if (s->begin_transaction(s, "isolation=snapshot") != 0) {
        failed = true;
        goto rerun;
    }
    for (size_t i = 0; i < n && !failed; i++) {
        apply_begin(txn);
        g[i]->rc = g[i]->apply(txn, g[i]->arg);
        writes += txn->writes;
        /* A clean refusal (no writes, WiredTiger fine) stays this batch's own business. */
        if (txn->wt_rc != 0 || (g[i]->rc != DYN_OK && txn->writes > 0))
            failed = true;
    }
    if (failed || writes == 0) {
        (void)s->rollback_transaction(s, NULL);
    } else if (s->commit_transaction(s, kv->sync ? "sync=on" : NULL) == 0) {
        count_commit(kv);
    } else {
        failed = true;   /* WiredTiger rolled it back */
    }
rerun:
    if (failed) {
        atomic_fetch_add(&kv->reruns, 1);
        for (size_t i = 0; i < n; i++)
            g[i]->rc = batch_alone(kv, g[i]);
    }
done:
    atomic_fetch_add(&kv->batches, n);
    for (size_t i = 0; i < n; i++) {
        if (g[i]->done != NULL)
            g[i]->done(g[i]->arg, g[i]->rc);
    }
}

/* Drops the committer's cached cursors when a table drop is waiting for them. */
static void
committer_refresh(dyn_kv *kv)
{
    uint64_t gen = atomic_load(&kv->schema_gen);

    if (kv->wsess->gen != gen) {
        kv_sess_purge(kv->wsess);
        kv->wsess->gen = gen;
    }
}

static void *
committer_main(void *arg)
{
    dyn_kv *kv = arg;

    pthread_mutex_lock(&kv->q_mu);
    for (;;) {
        while (kv->q_head == NULL && !kv->stopping) {
            if (kv->wsess->gen != atomic_load(&kv->schema_gen)) {
                pthread_mutex_unlock(&kv->q_mu);
                committer_refresh(kv);
                pthread_mutex_lock(&kv->q_mu);
                continue;
            }
            pthread_cond_wait(&kv->q_cond, &kv->q_mu);
        }
        if (kv->q_head == NULL)
            break;   /* stopping, and everything submitted is done */
        size_t n = 0;
        while (kv->q_head != NULL && n < (size_t)kv->group_max) {
            kv->group[n++] = kv->q_head;
            kv->q_head = kv->q_head->next;
        }
        if (kv->q_head == NULL)
            kv->q_tail = NULL;
        pthread_mutex_unlock(&kv->q_mu);

        committer_refresh(kv);
        group_run(kv, kv->group, n);

        pthread_mutex_lock(&kv->q_mu);
        for (size_t i = 0; i < n; i++) {
            kv->group[i]->next = kv->free_batches;
            kv->free_batches = kv->group[i];
        }
    }
    pthread_mutex_unlock(&kv->q_mu);
    return NULL;
}

dyn_err
kv_commit_start(dyn_kv *kv)
{
    WT_SESSION *s;
    int wr;

    if ((wr = kv->conn->open_session(kv->conn, NULL, "isolation=snapshot", &s)) != 0)
        return kv_err(wr);
    kv->wsess = dyn_xcalloc(1, sizeof *kv->wsess);
    kv->wsess->s = s;
    kv->wsess->gen = atomic_load(&kv->schema_gen);
    kv->wsess->txn.kv = kv;
    kv->wsess->txn.sess = kv->wsess;
    kv->wsess->txn.write = true;
    if (pthread_create(&kv->committer, NULL, committer_main, kv) != 0) {
        (void)s->close(s, NULL);
        DYN_FREE(kv->wsess);
        return DYN_EINTERNAL;
    }
    return DYN_OK;
}

void
kv_commit_stop(dyn_kv *kv)
{
    pthread_mutex_lock(&kv->q_mu);
    kv->stopping = true;
    pthread_cond_broadcast(&kv->q_cond);
    pthread_mutex_unlock(&kv->q_mu);
    pthread_join(kv->committer, NULL);
}

void
dyn_kv_submit(dyn_kv *kv, dyn_kv_apply_fn apply, dyn_kv_done_fn done, void *arg)
{
    kv_batch *b;

    pthread_mutex_lock(&kv->q_mu);
    if ((b = kv->free_batches) != NULL)
        kv->free_batches = b->next;
    else
        b = dyn_xmalloc(sizeof *b);
    b->apply = apply;
    b->done = done;
    b->arg = arg;
    b->rc = DYN_OK;
    b->next = NULL;
    /* The committer only sleeps on an empty queue, so only the first batch needs to wake it. */
    if (kv->q_tail != NULL) {
        kv->q_tail->next = b;
    } else {
        kv->q_head = b;
        pthread_cond_signal(&kv->q_cond);
    }
    kv->q_tail = b;
    pthread_mutex_unlock(&kv->q_mu);
}

static dyn_err
write_apply(dyn_kv_txn *txn, void *arg)
{
    kv_waiter *w = arg;
    return w->apply(txn, w->arg);
}

static void
write_done(void *arg, dyn_err rc)
{
    kv_waiter *w = arg;

    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

dyn_err
dyn_kv_write(dyn_kv *kv, dyn_kv_apply_fn apply, void *arg)
{
    kv_waiter w = { .done = false, .rc = DYN_OK, .apply = apply, .arg = arg };

    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    dyn_kv_submit(kv, write_apply, write_done, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return w.rc;
}
