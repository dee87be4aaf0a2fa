/* libs/kv -- the committer: one thread per dyn_kv that drains the write queue in groups, each
 * group one WiredTiger transaction and one synced log flush, so concurrent writers share fsyncs
 * and conditional writes are serialised without latches; and the finisher, which runs a
 * committed group's callbacks while the committer goes on with the next. */
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
        if ((wr = s->begin_transaction(s, NULL)) != 0)   /* the session is snapshot */
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
        return;
    }
    if (s->begin_transaction(s, NULL) != 0) {   /* the session is snapshot */
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
}

/* The done() callbacks of committed batches, in order (a list linked by next). Counted first:
 * a dyn_kv_write that returns has its batch in the stats. */
static void
batches_finish(dyn_kv *kv, kv_batch *list)
{
    size_t n = 0;

    for (kv_batch *b = list; b != NULL; b = b->next)
        n++;
    atomic_fetch_add(&kv->batches, n);
    for (kv_batch *b = list; b != NULL; b = b->next) {
        if (b->done != NULL)
            b->done(b->arg, b->rc);
    }
}

/* Puts a finished list back on the free list; q_mu held. */
static void
batches_recycle(dyn_kv *kv, kv_batch *list)
{
    while (list != NULL) {
        kv_batch *next = list->next;
        list->next = kv->free_batches;
        kv->free_batches = list;
        list = next;
    }
}

/* Runs the callbacks the committer handed over, in the order it committed them, so that a
 * group's replies (in the storage node, a gRPC send each) overlap the next group's applies and
 * log flush instead of delaying them: the committer is the one serial stage of every write. */
static void *
finisher_main(void *arg)
{
    dyn_kv *kv = arg;

    pthread_mutex_lock(&kv->q_mu);
    for (;;) {
        while (kv->fin_head == NULL && !kv->fin_stopping)
            pthread_cond_wait(&kv->fin_cond, &kv->q_mu);
        if (kv->fin_head == NULL)
            break;   /* stopping, and every handed-over batch is finished */
        kv_batch *list = kv->fin_head;
        kv->fin_head = kv->fin_tail = NULL;
        kv->fin_busy = true;
        pthread_mutex_unlock(&kv->q_mu);
        batches_finish(kv, list);
        pthread_mutex_lock(&kv->q_mu);
        kv->fin_busy = false;
        batches_recycle(kv, list);
    }
    pthread_mutex_unlock(&kv->q_mu);
    return NULL;
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
        for (size_t i = 0; i < n; i++)
            kv->group[i]->next = i + 1 < n ? kv->group[i + 1] : NULL;

        pthread_mutex_lock(&kv->q_mu);
        /* With nothing else waiting there is nothing to overlap: finish here, sparing a thread
         * wake-up. Otherwise the finisher takes the group and we go on. Either way callbacks
         * run in commit order: here only when the finisher has nothing pending. */
        if (kv->q_head == NULL && kv->fin_head == NULL && !kv->fin_busy) {
            pthread_mutex_unlock(&kv->q_mu);
            batches_finish(kv, kv->group[0]);
            pthread_mutex_lock(&kv->q_mu);
            batches_recycle(kv, kv->group[0]);
        } else {
            if (kv->fin_tail != NULL)
                kv->fin_tail->next = kv->group[0];
            else
                kv->fin_head = kv->group[0];
            kv->fin_tail = kv->group[n - 1];
            pthread_cond_signal(&kv->fin_cond);
        }
    }
    pthread_mutex_unlock(&kv->q_mu);
    return NULL;
}

/* Lets the finisher run what it was handed, then joins it. */
static void
finisher_stop(dyn_kv *kv)
{
    pthread_mutex_lock(&kv->q_mu);
    kv->fin_stopping = true;
    pthread_cond_signal(&kv->fin_cond);
    pthread_mutex_unlock(&kv->q_mu);
    pthread_join(kv->finisher, NULL);
    pthread_cond_destroy(&kv->fin_cond);
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
    pthread_cond_init(&kv->fin_cond, NULL);
    if (pthread_create(&kv->finisher, NULL, finisher_main, kv) != 0) {
        pthread_cond_destroy(&kv->fin_cond);
        (void)s->close(s, NULL);
        DYN_FREE(kv->wsess);
        return DYN_EINTERNAL;
    }
    if (pthread_create(&kv->committer, NULL, committer_main, kv) != 0) {
        finisher_stop(kv);
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
    finisher_stop(kv);   /* after the committer: it may hand over its last groups */
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
