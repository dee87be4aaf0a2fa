/* libs/feed -- the publisher: the write path records each partition's highest LSN in a hash
 * table; one thread turns what moved into coalesced notices on a PUB socket and announces every
 * partition again periodically, for subscribers that missed a notice. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "libs/arena/arena.h"
#include "libs/feed/feed.h"
#include "libs/feed/feed_int.h"

typedef struct pub_entry {
    struct pub_entry *next;         /* hash chain */
    struct pub_entry *dirty_next;   /* the dirty list, while dirty */
    bool dirty;                     /* lsn moved past sent, or forgotten while queued */
    bool forgotten;                 /* out of the table; the thread frees it */
    uint64_t lsn;                   /* highest LSN told */
    uint64_t sent;                  /* LSN of the last notice */
    int64_t sent_ms;                /* monotonic ms of the last notice; 0: never */
    char id[];
} pub_entry;

struct dyn_feed_pub {
    nng_socket sock;
    char *url;                      /* owned: the bound url */
    int min_interval_ms, announce_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* CLOCK_MONOTONIC */
    pub_entry **buckets;            /* owned */
    size_t nbuckets, n;
    pub_entry *dirty_head, *dirty_tail;
    bool stop;
    pthread_t thread;
    atomic_uint_least64_t sent;
};

static uint64_t
hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static pub_entry **
slot_locked(dyn_feed_pub *p, const char *id)
{
    pub_entry **pp = &p->buckets[hash_id(id) & (p->nbuckets - 1)];
    while (*pp != NULL && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void
grow_locked(dyn_feed_pub *p)
{
    size_t nb = p->nbuckets * 2;
    pub_entry **b = dyn_xcalloc(nb, sizeof *b);

    for (size_t i = 0; i < p->nbuckets; i++)
        for (pub_entry *e = p->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            pub_entry **head = &b[hash_id(e->id) & (nb - 1)];
            e->next = *head;
            *head = e;
        }
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = nb;
}

static void
dirty_push_locked(dyn_feed_pub *p, pub_entry *e)
{
    e->dirty = true;
    e->dirty_next = NULL;
    if (p->dirty_tail != NULL)
        p->dirty_tail->dirty_next = e;
    else
        p->dirty_head = e;
    p->dirty_tail = e;
}

void
dyn_feed_pub_notify(dyn_feed_pub *p, const char *partition, uint64_t lsn)
{
    pub_entry **pp, *e;

    if (p == NULL || partition == NULL || lsn == 0)
        return;
    pthread_mutex_lock(&p->mu);
    pp = slot_locked(p, partition);
    if ((e = *pp) == NULL) {
        size_t n = strlen(partition);
        e = dyn_xcalloc(1, sizeof *e + n + 1);
        memcpy(e->id, partition, n + 1);
        *pp = e;
        if (++p->n > 2 * p->nbuckets)
            grow_locked(p);
    }
    if (lsn > e->lsn) {
        e->lsn = lsn;
        /* only the first move since the last notice wakes the thread */
        if (!e->dirty) {
            dirty_push_locked(p, e);
            pthread_cond_signal(&p->cv);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

void
dyn_feed_pub_forget(dyn_feed_pub *p, const char *partition)
{
    pub_entry **pp, *e;

    if (p == NULL || partition == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    pp = slot_locked(p, partition);
    if ((e = *pp) != NULL) {
        *pp = e->next;
        p->n--;
        if (e->dirty)
            e->forgotten = true;   /* still on the dirty list: the thread frees it */
        else
            free(e);
    }
    pthread_mutex_unlock(&p->mu);
}

uint64_t
dyn_feed_pub_sent(dyn_feed_pub *p)
{
    return atomic_load(&p->sent);
}

const char *
dyn_feed_pub_url(const dyn_feed_pub *p)
{
    return p->url;
}

/* Notices waiting to be sent, encoded under the lock and sent outside it. */
typedef struct outbox {
    uint8_t *buf;
    size_t len, cap;
} outbox;

static void
outbox_add(outbox *o, const pub_entry *e)
{
    if (o->cap - o->len < FEED_NOTICE_MAX + 1) {
        o->cap = o->cap ? o->cap * 2 : 4096;
        o->buf = dyn_xrealloc(o->buf, o->cap);
    }
    size_t n = dyn_feed_notice_encode(e->id, e->lsn, o->buf + o->len + 1, FEED_NOTICE_MAX);
    if (n == 0)
        return;   /* an id too long to announce; consumers still poll it */
    o->buf[o->len] = (uint8_t)n;
    o->len += 1 + n;
}

static void
timed_wait(dyn_feed_pub *p, int64_t until_ms)
{
    struct timespec ts = { .tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000 };
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static void *
pub_main(void *arg)
{
    dyn_feed_pub *p = arg;
    outbox o = { 0 };
    int64_t next_announce = feed_mono_ms() + p->announce_ms;

    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        int64_t now = feed_mono_ms(), wake = next_announce;
        pub_entry *keep_head = NULL, *keep_tail = NULL;

        o.len = 0;
        if (now >= next_announce) {
            /* everything, at its latest LSN: this also answers whatever was dirty */
            for (size_t i = 0; i < p->nbuckets; i++)
                for (pub_entry *e = p->buckets[i]; e != NULL; e = e->next) {
                    outbox_add(&o, e);
                    e->sent = e->lsn;
                    e->sent_ms = now;
                }
            next_announce = now + p->announce_ms;
            wake = next_announce;
        }
        /* the dirty list: due entries are sent, those sent too recently wait their turn */
        for (pub_entry *e = p->dirty_head, *next; e != NULL; e = next) {
            next = e->dirty_next;
            e->dirty_next = NULL;
            if (e->forgotten) {
                free(e);
                continue;
            }
            if (e->sent == e->lsn) {   /* covered by the announcement */
                e->dirty = false;
                continue;
            }
            int64_t due = e->sent_ms + p->min_interval_ms;
            if (e->sent_ms != 0 && now < due) {
                if (keep_tail != NULL)
                    keep_tail->dirty_next = e;
                else
                    keep_head = e;
                keep_tail = e;
                if (due < wake)
                    wake = due;
                continue;
            }
            outbox_add(&o, e);
            e->sent = e->lsn;
            e->sent_ms = now;
            e->dirty = false;
        }
        p->dirty_head = keep_head;
        p->dirty_tail = keep_tail;
        if (o.len > 0) {
            pthread_mutex_unlock(&p->mu);
            uint64_t n = 0;
            for (size_t off = 0; off < o.len; off += 1 + o.buf[off]) {
                /* PUB never blocks: a subscriber too slow to take it simply misses it */
                if (nng_send(p->sock, o.buf + off + 1, o.buf[off], NNG_FLAG_NONBLOCK) == 0)
                    n++;
            }
            atomic_fetch_add(&p->sent, n);
            pthread_mutex_lock(&p->mu);
            continue;   /* notices may have come in meanwhile */
        }
        if (p->dirty_head == NULL || wake > now)
            timed_wait(p, wake);
    }
    pthread_mutex_unlock(&p->mu);
    free(o.buf);
    return NULL;
}

dyn_err
dyn_feed_pub_open(const char *url, const dyn_feed_pub_opts *opts, dyn_feed_pub **out)
{
    dyn_feed_pub *p = dyn_xcalloc(1, sizeof *p);
    pthread_condattr_t ca;
    dyn_err rc;
    int rv;

    *out = NULL;
    p->min_interval_ms = opts && opts->min_interval_ms > 0 ? opts->min_interval_ms : 5;
    p->announce_ms = opts && opts->announce_ms > 0 ? opts->announce_ms : 1000;
    p->nbuckets = 64;
    p->buckets = dyn_xcalloc(p->nbuckets, sizeof *p->buckets);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->sent, 0);
    if ((rv = nng_pub0_open(&p->sock)) != 0) {
        rc = feed_nng_err(rv);
        goto fail_sock;
    }
    if ((rc = feed_listen(p->sock, url, &p->url)) != DYN_OK)
        goto fail;
    if (pthread_create(&p->thread, NULL, pub_main, p) != 0) {
        rc = DYN_EINTERNAL;
        goto fail;
    }
    *out = p;
    return DYN_OK;
fail:
    nng_close(p->sock);
fail_sock:
    free(p->url);
    free(p->buckets);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return rc;
}

void
dyn_feed_pub_close(dyn_feed_pub *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    nng_close(p->sock);
    for (pub_entry *e = p->dirty_head, *next; e != NULL; e = next) {
        next = e->dirty_next;
        if (e->forgotten)
            free(e);
    }
    for (size_t i = 0; i < p->nbuckets; i++)
        for (pub_entry *e = p->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    free(p->buckets);
    free(p->url);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
