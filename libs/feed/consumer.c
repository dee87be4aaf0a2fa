/* libs/feed -- the consumer: per storage node one thread with a REQ socket (cursor requests,
 * blocking with a timeout), woken early by the node's notices (a SUB socket per publisher,
 * shared by the process's consumers: see "notice sockets"). Each partition goes pull -> apply ->
 * store durably -> register, in that order, so storage never trims what is not applied and
 * persisted here. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "libs/arena/arena.h"
#include "libs/feed/feed.h"
#include "libs/feed/feed_int.h"
#include "libs/log/log.h"

#define NODE_ARENA (256u << 20)   /* one decoded page: a cap, not an allocation */
#define PAGES_PER_TURN 16         /* then the node's other partitions get a turn */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define ERR_LOG_MS 5000           /* one warning per node per this many ms */

typedef struct feed_node feed_node;
typedef struct sub_hub sub_hub;

typedef struct feed_part {
    char *id;                /* owned */
    feed_node *node;
    /* under node->mu (written by the node's thread; heard also by the notice callback) */
    uint64_t heard;          /* highest LSN known to exist (notices, replies) */
    uint64_t applied;        /* applied through here (== stored unless a store failed) */
    uint64_t stored;         /* durable position */
    uint64_t registered;     /* last position storage acknowledged */
    bool reg_done;           /* registered once since start */
    int64_t next_poll_ms;    /* monotonic */
    int64_t last_reg_ms;
    int64_t retry_ms;        /* after a refused request or apply: not before this */
    int backoff_ms;
} feed_part;

struct feed_node {
    dyn_feed_consumer *c;
    char *pub_url, *cursor_url;   /* owned */
    nng_socket req;
    bool req_open;
    sub_hub *hub;                 /* the notice socket this node listens on, once attached */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* CLOCK_MONOTONIC */
    feed_part **parts;            /* owned array, sorted by id */
    size_t n, rr;                 /* rr: where the next scan starts */
    dyn_arena arena;              /* the reply being handled */
    int64_t down_until_ms;        /* transport failures: the whole node waits */
    int backoff_ms;
    int64_t err_logged_ms;
};

struct dyn_feed_consumer {
    char *name, *pos_dir;         /* owned */
    dyn_feed_apply_fn apply;
    void *apply_ctx;
    int poll_ms, timeout_ms, max_records, register_ms;
    int64_t max_bytes;
    dyn_feed_posstore *store;
    feed_part *parts;             /* owned, nparts */
    size_t nparts;
    feed_node *nodes;             /* owned, nnodes */
    size_t nnodes;
    atomic_bool stop;
    atomic_uint_least64_t st_records, st_pulls, st_errors, st_notices, st_registered, st_gaps;
};

static int
part_cmp(const void *a, const void *b)
{
    return strcmp((*(feed_part *const *)a)->id, (*(feed_part *const *)b)->id);
}

static feed_part *
node_find(feed_node *nd, const char *id)
{
    size_t lo = 0, hi = nd->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(nd->parts[mid]->id, id);
        if (c == 0)
            return nd->parts[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- notice sockets ----
 *
 * libnng 1.5.2's nng_close of a SUB socket can wait forever for a pipe that is never removed
 * (nni_sock_shutdown; reproduced here in about one close in fifty when the socket had dialled
 * moments before; the indexer's pass thread then stopped for good). So a process opens one SUB
 * socket per publisher url and never closes it: every consumer's node thread for that url
 * listens on it (attach, detach), each topic is subscribed while some attached node follows
 * its partition, and a socket nobody listens on is subscribed to nothing. The sockets a
 * process keeps are as many as the publisher urls it ever followed. */

typedef struct sub_topic {
    char *id;                     /* owned; the topic is "<id>\0" */
    int refs;
} sub_topic;

struct sub_hub {
    sub_hub *next;
    char *url;                    /* owned */
    nng_socket sock;
    nng_aio *aio;                 /* owned */
    feed_node **nodes;            /* under g_hub_mu: the attached nodes */
    size_t n_nodes, cap_nodes;
    sub_topic *topics;            /* under g_hub_sub_mu */
    size_t n_topics, cap_topics;
};

/* g_hub_sub_mu: the hub list and the subscriptions (nng calls are made under it);
 * g_hub_mu: who is attached (the receive callback holds it while it hands a notice out, and
 * makes no nng call under it). Order: g_hub_sub_mu before g_hub_mu. */
static pthread_mutex_t g_hub_sub_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_hub_mu = PTHREAD_MUTEX_INITIALIZER;
static sub_hub *g_hubs;

/* A notice for node nd: partition id has lsn. Under g_hub_mu. */
static void
node_notice(feed_node *nd, const char *id, uint64_t lsn)
{
    atomic_fetch_add(&nd->c->st_notices, 1);
    pthread_mutex_lock(&nd->mu);
    feed_part *p = node_find(nd, id);
    if (p != NULL && lsn > p->heard) {
        p->heard = lsn;
        if (lsn > p->applied)
            pthread_cond_signal(&nd->cv);
    }
    pthread_mutex_unlock(&nd->mu);
}

static void
hub_cb(void *arg)
{
    sub_hub *h = arg;
    int rv = nng_aio_result(h->aio);

    if (rv == NNG_ECLOSED)
        return;   /* the process is going away */
    if (rv == 0) {
        nng_msg *m = nng_aio_get_msg(h->aio);
        const char *id;
        uint64_t lsn;
        if (dyn_feed_notice_decode(nng_msg_body(m), nng_msg_len(m), &id, &lsn)) {
            pthread_mutex_lock(&g_hub_mu);
            for (size_t i = 0; i < h->n_nodes; i++)
                node_notice(h->nodes[i], id, lsn);
            pthread_mutex_unlock(&g_hub_mu);
        }
        nng_msg_free(m);
    }
    nng_recv_aio(h->sock, h->aio);
}

/* The hub of url, opened (and dialled, retrying in the background) if there is none yet. Under
 * g_hub_sub_mu. */
static dyn_err
hub_get(const char *url, sub_hub **out)
{
    sub_hub *h;
    int rv;

    for (h = g_hubs; h != NULL; h = h->next)
        if (strcmp(h->url, url) == 0) {
            *out = h;
            return DYN_OK;
        }
    h = dyn_xcalloc(1, sizeof *h);
    if ((rv = nng_sub0_open(&h->sock)) != 0) {
        free(h);
        return feed_nng_err(rv);
    }
    nng_socket_set_ms(h->sock, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(h->sock, NNG_OPT_RECONNMAXT, 1000);
    if ((rv = nng_aio_alloc(&h->aio, hub_cb, h)) != 0 ||
        (rv = nng_dial(h->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        /* nothing was dialled: this close has no pipe to wait for */
        nng_close(h->sock);
        if (h->aio != NULL)
            nng_aio_free(h->aio);
        free(h);
        return feed_nng_err(rv);
    }
    h->url = dyn_xstrdup(url);
    h->next = g_hubs;
    g_hubs = h;
    nng_recv_aio(h->sock, h->aio);
    *out = h;
    return DYN_OK;
}

/* One more (or, refs -1, one fewer) follower of partition id on h: subscribed from the first,
 * unsubscribed after the last. Under g_hub_sub_mu. */
static dyn_err
hub_topic(sub_hub *h, const char *id, int refs)
{
    size_t i;
    int rv = 0;

    for (i = 0; i < h->n_topics && strcmp(h->topics[i].id, id) != 0; i++)
        ;
    if (i == h->n_topics) {
        if (refs < 0)
            return DYN_OK;
        if (h->n_topics == h->cap_topics) {
            h->cap_topics = h->cap_topics ? h->cap_topics * 2 : 8;
            h->topics = dyn_xrealloc(h->topics, h->cap_topics * sizeof *h->topics);
        }
        h->topics[h->n_topics++] = (sub_topic){ .id = dyn_xstrdup(id), .refs = 0 };
    }
    sub_topic *t = &h->topics[i];
    /* the topic "<id>\0": only this partition, not ids it is a prefix of */
    if (refs > 0 && t->refs++ == 0)
        rv = nng_socket_set(h->sock, NNG_OPT_SUB_SUBSCRIBE, t->id, strlen(t->id) + 1);
    else if (refs < 0 && --t->refs == 0) {
        (void)nng_socket_set(h->sock, NNG_OPT_SUB_UNSUBSCRIBE, t->id, strlen(t->id) + 1);
        free(t->id);
        h->topics[i] = h->topics[--h->n_topics];
    }
    return rv == 0 ? DYN_OK : feed_nng_err(rv);
}

/* nd hears the notices of its partitions from now on. */
static dyn_err
hub_attach(feed_node *nd)
{
    sub_hub *h = NULL;
    dyn_err rc;

    pthread_mutex_lock(&g_hub_sub_mu);
    if ((rc = hub_get(nd->pub_url, &h)) != DYN_OK) {
        pthread_mutex_unlock(&g_hub_sub_mu);
        return rc;
    }
    for (size_t i = 0; i < nd->n && rc == DYN_OK; i++)
        if ((rc = hub_topic(h, nd->parts[i]->id, 1)) != DYN_OK)
            for (size_t j = 0; j <= i; j++)   /* the refs taken so far, this one's included */
                (void)hub_topic(h, nd->parts[j]->id, -1);
    if (rc == DYN_OK) {
        pthread_mutex_lock(&g_hub_mu);
        if (h->n_nodes == h->cap_nodes) {
            h->cap_nodes = h->cap_nodes ? h->cap_nodes * 2 : 4;
            h->nodes = dyn_xrealloc(h->nodes, h->cap_nodes * sizeof *h->nodes);
        }
        h->nodes[h->n_nodes++] = nd;
        nd->hub = h;
        pthread_mutex_unlock(&g_hub_mu);
    }
    pthread_mutex_unlock(&g_hub_sub_mu);
    return rc;
}

/* After this, no notice reaches nd. */
static void
hub_detach(feed_node *nd)
{
    sub_hub *h = nd->hub;

    if (h == NULL)
        return;
    pthread_mutex_lock(&g_hub_sub_mu);
    pthread_mutex_lock(&g_hub_mu);
    for (size_t i = 0; i < h->n_nodes; i++)
        if (h->nodes[i] == nd) {
            h->nodes[i] = h->nodes[--h->n_nodes];
            break;
        }
    nd->hub = NULL;
    pthread_mutex_unlock(&g_hub_mu);
    for (size_t i = 0; i < nd->n; i++)
        (void)hub_topic(h, nd->parts[i]->id, -1);
    pthread_mutex_unlock(&g_hub_sub_mu);
}

/* ---- cursor requests ---- */

static void
node_warn(feed_node *nd, const char *what, const char *partition, dyn_err rc, const char *msg)
{
    int64_t now = feed_mono_ms();

    atomic_fetch_add(&nd->c->st_errors, 1);
    if (now - nd->err_logged_ms < ERR_LOG_MS && nd->err_logged_ms != 0)
        return;
    nd->err_logged_ms = now;
    dyn_log(DYN_LOG_WARN, "FEED-CURSOR-ERR", "consumer=%s node=%s op=%s partition=%s err=%s msg=%s",
            nd->c->name, nd->cursor_url, what, partition, dyn_err_name(rc), msg ? msg : "");
}

/* One request, one reply (in nd->arena). A transport failure is DYN_EDEADLINE / DYN_EUNAVAIL /
 * DYN_ECANCELLED; an error reply its own code with *errmsg. */
static dyn_err
node_call(feed_node *nd, const Dyne__Internal__FeedRequest *req,
          Dyne__Internal__FeedReply **out, const char **errmsg)
{
    size_t n = dyne__internal__feed_request__get_packed_size(req);
    nng_msg *m = NULL;
    ProtobufCAllocator al;
    int rv;

    *out = NULL;
    *errmsg = NULL;
    if ((rv = nng_msg_alloc(&m, n)) != 0)
        return feed_nng_err(rv);
    dyne__internal__feed_request__pack(req, nng_msg_body(m));
    if ((rv = nng_sendmsg(nd->req, m, 0)) != 0) {
        nng_msg_free(m);
        return feed_nng_err(rv);
    }
    if ((rv = nng_recvmsg(nd->req, &m, 0)) != 0)
        return feed_nng_err(rv);
    dyn_arena_reset(&nd->arena);
    al = dyn_arena_pb_allocator(&nd->arena);
    *out = dyne__internal__feed_reply__unpack(&al, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    if (*out == NULL)
        return DYN_EINTERNAL;
    if ((*out)->error != NULL) {
        dyn_err rc = DYN_EINTERNAL;
        (void)dyn_err_from_name((*out)->error, strlen((*out)->error), &rc);
        *errmsg = (*out)->message;
        return rc == DYN_OK ? DYN_EINTERNAL : rc;
    }
    return DYN_OK;
}

static bool
transport_err(dyn_err rc)
{
    return rc == DYN_EDEADLINE || rc == DYN_EUNAVAIL || rc == DYN_ECANCELLED;
}

static int
backoff_next(int cur)
{
    int b = cur < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : cur * 2;
    return b > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b;
}

/* A failed request or apply of partition p: transport failures make the whole node wait, other
 * errors only p. */
static void
part_fail(feed_node *nd, feed_part *p, dyn_err rc)
{
    int64_t now = feed_mono_ms();

    pthread_mutex_lock(&nd->mu);
    if (transport_err(rc)) {
        nd->backoff_ms = backoff_next(nd->backoff_ms);
        nd->down_until_ms = now + nd->backoff_ms;
    } else {
        p->backoff_ms = backoff_next(p->backoff_ms);
        p->retry_ms = now + p->backoff_ms;
    }
    pthread_mutex_unlock(&nd->mu);
}

static dyn_err
part_register(feed_node *nd, feed_part *p, uint64_t lsn)
{
    Dyne__Internal__FeedRequest req = DYNE__INTERNAL__FEED_REQUEST__INIT;
    Dyne__Internal__RegisterConsumerRequest rr = DYNE__INTERNAL__REGISTER_CONSUMER_REQUEST__INIT;
    Dyne__Internal__FeedReply *reply;
    const char *msg;
    dyn_err rc;

    rr.partition_id = p->id;
    rr.consumer = nd->c->name;
    rr.has_lsn = true;
    rr.lsn = lsn;
    req.op_case = DYNE__INTERNAL__FEED_REQUEST__OP_REGISTER_CONSUMER;
    req.register_consumer = &rr;
    if ((rc = node_call(nd, &req, &reply, &msg)) != DYN_OK) {
        node_warn(nd, "register", p->id, rc, msg);
        return rc;
    }
    atomic_fetch_add(&nd->c->st_registered, 1);
    pthread_mutex_lock(&nd->mu);
    p->registered = lsn;
    p->reg_done = true;
    p->last_reg_ms = feed_mono_ms();
    pthread_mutex_unlock(&nd->mu);
    return DYN_OK;
}

static dyn_err
part_read(feed_node *nd, feed_part *p, uint64_t after, Dyne__Internal__ReadChangesResponse **out)
{
    Dyne__Internal__FeedRequest req = DYNE__INTERNAL__FEED_REQUEST__INIT;
    Dyne__Internal__ReadChangesRequest rd = DYNE__INTERNAL__READ_CHANGES_REQUEST__INIT;
    Dyne__Internal__FeedReply *reply;
    const char *msg;
    dyn_err rc;

    rd.partition_id = p->id;
    rd.has_after_lsn = rd.has_max_records = rd.has_max_bytes = true;
    rd.after_lsn = after;
    rd.max_records = nd->c->max_records;
    rd.max_bytes = nd->c->max_bytes;
    req.op_case = DYNE__INTERNAL__FEED_REQUEST__OP_READ;
    req.read = &rd;
    if ((rc = node_call(nd, &req, &reply, &msg)) != DYN_OK) {
        node_warn(nd, "read", p->id, rc, msg);
        return rc;
    }
    if (reply->changes == NULL) {
        node_warn(nd, "read", p->id, DYN_EINTERNAL, "reply without changes");
        return DYN_EINTERNAL;
    }
    atomic_fetch_add(&nd->c->st_pulls, 1);
    *out = reply->changes;
    return DYN_OK;
}

/* Stores a position that is applied but not yet durable; false if the store failed again. */
static bool
part_store(feed_node *nd, feed_part *p, uint64_t lsn)
{
    dyn_err rc = dyn_feed_posstore_set(nd->c->store, p->id, lsn);

    if (rc != DYN_OK) {
        atomic_fetch_add(&nd->c->st_errors, 1);
        dyn_log(DYN_LOG_ERROR, "FEED-POS-STORE", "consumer=%s partition=%s lsn=%" PRIu64
                " err=%s", nd->c->name, p->id, lsn, dyn_err_name(rc));
        return false;
    }
    pthread_mutex_lock(&nd->mu);
    p->stored = lsn;
    pthread_mutex_unlock(&nd->mu);
    return true;
}

/* One turn of partition p: register the start position once, pull and apply pages until caught
 * up (or PAGES_PER_TURN), store, register. */
static void
part_serve(feed_node *nd, feed_part *p)
{
    dyn_feed_consumer *c = nd->c;
    bool caught_up = false;
    dyn_err rc;

    pthread_mutex_lock(&nd->mu);
    uint64_t applied = p->applied, stored = p->stored;
    bool reg_done = p->reg_done;
    pthread_mutex_unlock(&nd->mu);

    /* the stored position first, even 0: from here on the log keeps what we have not applied */
    if (!reg_done && (rc = part_register(nd, p, stored)) != DYN_OK) {
        part_fail(nd, p, rc);
        return;
    }
    if (stored < applied && !part_store(nd, p, applied)) {
        part_fail(nd, p, DYN_EINTERNAL);
        return;
    }
    for (int pages = 0; pages < PAGES_PER_TURN && !atomic_load(&c->stop); pages++) {
        Dyne__Internal__ReadChangesResponse *resp;
        pthread_mutex_lock(&nd->mu);
        uint64_t heard_before = p->heard;
        pthread_mutex_unlock(&nd->mu);
        if ((rc = part_read(nd, p, applied, &resp)) != DYN_OK) {
            part_fail(nd, p, rc);
            return;
        }
        Dyne__Internal__ChangeRecord **recs = resp->records;
        size_t n = resp->n_records;
        /* only what is past the position, strictly ascending (the server guarantees it) */
        while (n > 0 && recs[0]->lsn <= applied) {
            recs++;
            n--;
        }
        for (size_t i = 1; i < n; i++)
            if (recs[i]->lsn <= recs[i - 1]->lsn)
                n = i;
        pthread_mutex_lock(&nd->mu);
        if (resp->last_lsn > p->heard)
            p->heard = resp->last_lsn;
        else if (n == 0 && p->heard == heard_before)
            p->heard = applied;   /* a stale hint (a log behind it): do not spin on it */
        pthread_mutex_unlock(&nd->mu);
        if (n == 0) {
            caught_up = true;
            break;
        }
        if (recs[0]->lsn != applied + 1) {
            atomic_fetch_add(&c->st_gaps, 1);
            dyn_log(DYN_LOG_ERROR, "FEED-GAP",
                    "consumer=%s partition=%s after=%" PRIu64 " first=%" PRIu64
                    " log_first=%" PRIu64, c->name, p->id, applied, recs[0]->lsn,
                    resp->first_lsn);
        }
        if (c->apply(c->apply_ctx, p->id, (const Dyne__Internal__ChangeRecord *const *)recs, n) !=
            0) {
            atomic_fetch_add(&c->st_errors, 1);
            part_fail(nd, p, DYN_EINTERNAL);
            return;
        }
        atomic_fetch_add(&c->st_records, n);
        applied = recs[n - 1]->lsn;
        pthread_mutex_lock(&nd->mu);
        p->applied = applied;
        pthread_mutex_unlock(&nd->mu);
        if (!part_store(nd, p, applied)) {
            part_fail(nd, p, DYN_EINTERNAL);
            return;
        }
        if (resp->last_lsn <= applied) {
            caught_up = true;
            break;
        }
    }
    int64_t now = feed_mono_ms();
    pthread_mutex_lock(&nd->mu);
    bool reg = p->stored > p->registered &&
               (caught_up || now - p->last_reg_ms >= c->register_ms);
    uint64_t to = p->stored;
    pthread_mutex_unlock(&nd->mu);
    if (reg && (rc = part_register(nd, p, to)) != DYN_OK) {
        part_fail(nd, p, rc);
        return;
    }
    pthread_mutex_lock(&nd->mu);
    p->backoff_ms = 0;
    nd->backoff_ms = 0;
    p->next_poll_ms = now + c->poll_ms;
    pthread_mutex_unlock(&nd->mu);
}

/* Whether p has work now; else lowers *wake to when it will. Under nd->mu. */
static bool
part_due(feed_node *nd, feed_part *p, int64_t now, int64_t *wake)
{
    dyn_feed_consumer *c = nd->c;

    if (now < p->retry_ms) {
        if (p->retry_ms < *wake)
            *wake = p->retry_ms;
        return false;
    }
    if (!p->reg_done || p->heard > p->applied || p->stored < p->applied ||
        now >= p->next_poll_ms)
        return true;
    /* a moved position registered late (records kept coming) */
    if (p->stored > p->registered) {
        int64_t at = p->last_reg_ms + c->register_ms;
        if (now >= at)
            return true;
        if (at < *wake)
            *wake = at;
    }
    if (p->next_poll_ms < *wake)
        *wake = p->next_poll_ms;
    return false;
}

static void
cond_wait_until(feed_node *nd, int64_t until_ms)
{
    struct timespec ts = { .tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000 };
    pthread_cond_timedwait(&nd->cv, &nd->mu, &ts);
}

static void *
node_main(void *arg)
{
    feed_node *nd = arg;
    dyn_feed_consumer *c = nd->c;

    pthread_mutex_lock(&nd->mu);
    while (!atomic_load(&c->stop)) {
        int64_t now = feed_mono_ms(), wake = now + c->poll_ms;
        feed_part *work = NULL;

        if (now < nd->down_until_ms) {
            cond_wait_until(nd, nd->down_until_ms);
            continue;
        }
        for (size_t k = 0; k < nd->n && work == NULL; k++) {
            feed_part *p = nd->parts[(nd->rr + k) % nd->n];
            if (part_due(nd, p, now, &wake)) {
                work = p;
                nd->rr = (nd->rr + k + 1) % nd->n;
            }
        }
        if (work == NULL) {
            cond_wait_until(nd, wake);
            continue;
        }
        pthread_mutex_unlock(&nd->mu);
        part_serve(nd, work);
        pthread_mutex_lock(&nd->mu);
    }
    pthread_mutex_unlock(&nd->mu);
    return NULL;
}

/* ---- lifecycle ---- */

static dyn_err
node_sockets(feed_node *nd, dyn_feed_consumer *c)
{
    int rv;

    if ((rv = nng_req0_open(&nd->req)) != 0)
        return feed_nng_err(rv);
    nd->req_open = true;
    nng_socket_set_ms(nd->req, NNG_OPT_SENDTIMEO, c->timeout_ms);
    nng_socket_set_ms(nd->req, NNG_OPT_RECVTIMEO, c->timeout_ms);
    /* our own timeout retries; nng's resend would duplicate requests behind our back */
    nng_socket_set_ms(nd->req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(nd->req, NNG_OPT_RECVMAXSZ, FEED_REPLY_MAX);
    nng_socket_set_ms(nd->req, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(nd->req, NNG_OPT_RECONNMAXT, 1000);
    /* non-blocking dials keep retrying in the background: a node that is down now (or
     * restarts later) is reached when it is back */
    if ((rv = nng_dial(nd->req, nd->cursor_url, NULL, NNG_FLAG_NONBLOCK)) != 0)
        return feed_nng_err(rv);
    return hub_attach(nd);
}

dyn_err
dyn_feed_consumer_open(const dyn_feed_consumer_opts *o, dyn_feed_consumer **out)
{
    dyn_feed_consumer *c;
    dyn_err rc;

    *out = NULL;
    if (o == NULL || o->name == NULL || o->pos_dir == NULL || o->apply == NULL ||
        o->n_sources == 0 || o->sources == NULL)
        return DYN_EVALIDATION;
    for (size_t i = 0; i < o->n_sources; i++) {
        const dyn_feed_source *s = &o->sources[i];
        if (s->partition == NULL || s->partition[0] == '\0' || s->pub_url == NULL ||
            s->cursor_url == NULL || strlen(s->partition) + 10 > FEED_NOTICE_MAX)
            return DYN_EVALIDATION;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(o->sources[j].partition, s->partition) == 0)
                return DYN_EVALIDATION;   /* a partition is followed once */
            if (strcmp(o->sources[j].cursor_url, s->cursor_url) == 0 &&
                strcmp(o->sources[j].pub_url, s->pub_url) != 0)
                return DYN_EVALIDATION;   /* one node, one notice socket */
        }
    }
    c = dyn_xcalloc(1, sizeof *c);
    c->name = dyn_xstrdup(o->name);
    c->pos_dir = dyn_xstrdup(o->pos_dir);
    c->apply = o->apply;
    c->apply_ctx = o->apply_ctx;
    c->poll_ms = o->poll_ms > 0 ? o->poll_ms : 500;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    c->max_records = o->max_records > 0 ? o->max_records : 1000;
    c->max_bytes = o->max_bytes > 0 ? o->max_bytes : (1 << 20);
    c->register_ms = o->register_ms > 0 ? o->register_ms : 1000;
    atomic_init(&c->stop, false);
    if ((rc = dyn_feed_posstore_open(o->pos_dir, o->name, &c->store)) != DYN_OK) {
        free(c->name);
        free(c->pos_dir);
        free(c);
        return rc;
    }
    c->nparts = o->n_sources;
    c->parts = dyn_xcalloc(c->nparts, sizeof *c->parts);
    c->nodes = dyn_xcalloc(c->nparts, sizeof *c->nodes);
    for (size_t i = 0; i < o->n_sources; i++) {
        const dyn_feed_source *s = &o->sources[i];
        feed_part *p = &c->parts[i];
        feed_node *nd = NULL;
        for (size_t k = 0; k < c->nnodes && nd == NULL; k++)
            if (strcmp(c->nodes[k].cursor_url, s->cursor_url) == 0)
                nd = &c->nodes[k];
        if (nd == NULL) {
            pthread_condattr_t ca;
            nd = &c->nodes[c->nnodes++];
            nd->c = c;
            nd->cursor_url = dyn_xstrdup(s->cursor_url);
            nd->pub_url = dyn_xstrdup(s->pub_url);
            pthread_mutex_init(&nd->mu, NULL);
            pthread_condattr_init(&ca);
            pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
            pthread_cond_init(&nd->cv, &ca);
            pthread_condattr_destroy(&ca);
            dyn_arena_init(&nd->arena, NODE_ARENA);
            nd->parts = dyn_xcalloc(c->nparts, sizeof *nd->parts);
        }
        p->id = dyn_xstrdup(s->partition);
        p->node = nd;
        p->applied = p->stored = p->heard = dyn_feed_posstore_get(c->store, p->id);
        nd->parts[nd->n++] = p;
    }
    for (size_t k = 0; k < c->nnodes; k++) {
        feed_node *nd = &c->nodes[k];
        qsort(nd->parts, nd->n, sizeof *nd->parts, part_cmp);
        if ((rc = node_sockets(nd, c)) != DYN_OK)
            goto fail;
    }
    for (size_t k = 0; k < c->nnodes; k++) {
        feed_node *nd = &c->nodes[k];
        if (pthread_create(&nd->thread, NULL, node_main, nd) != 0) {
            rc = DYN_EINTERNAL;
            goto fail;
        }
        nd->started = true;
    }
    *out = c;
    return DYN_OK;
fail:
    dyn_feed_consumer_close(c);
    return rc;
}

void
dyn_feed_consumer_stats_get(dyn_feed_consumer *c, dyn_feed_consumer_stats *out)
{
    out->records = atomic_load(&c->st_records);
    out->pulls = atomic_load(&c->st_pulls);
    out->errors = atomic_load(&c->st_errors);
    out->notices = atomic_load(&c->st_notices);
    out->registered = atomic_load(&c->st_registered);
    out->gaps = atomic_load(&c->st_gaps);
}

bool
dyn_feed_consumer_position(dyn_feed_consumer *c, const char *partition, uint64_t *stored,
                           uint64_t *registered)
{
    for (size_t i = 0; i < c->nparts; i++) {
        feed_part *p = &c->parts[i];
        if (strcmp(p->id, partition) != 0)
            continue;
        pthread_mutex_lock(&p->node->mu);
        if (stored != NULL)
            *stored = p->stored;
        if (registered != NULL)
            *registered = p->reg_done ? p->registered : 0;
        pthread_mutex_unlock(&p->node->mu);
        return true;
    }
    return false;
}

void
dyn_feed_consumer_close(dyn_feed_consumer *c)
{
    if (c == NULL)
        return;
    atomic_store(&c->stop, true);
    for (size_t k = 0; k < c->nnodes; k++) {
        feed_node *nd = &c->nodes[k];
        pthread_mutex_lock(&nd->mu);
        pthread_cond_signal(&nd->cv);
        pthread_mutex_unlock(&nd->mu);
        hub_detach(nd);   /* no notice touches nd after this */
        /* the thread first (it sees `stop` at its next turn, a request in flight ending within
         * the socket's send/receive timeouts), then its socket: nng_close of a REQ socket that
         * another thread is blocked on can wait forever (seen with libnng 1.5.2) */
        if (nd->started)
            pthread_join(nd->thread, NULL);
        if (nd->req_open)
            nng_close(nd->req);
        dyn_arena_fini(&nd->arena);
        pthread_cond_destroy(&nd->cv);
        pthread_mutex_destroy(&nd->mu);
        free(nd->parts);
        free(nd->cursor_url);
        free(nd->pub_url);
    }
    for (size_t i = 0; i < c->nparts; i++)
        free(c->parts[i].id);
    free(c->parts);
    free(c->nodes);
    dyn_feed_posstore_close(c->store);
    free(c->name);
    free(c->pos_dir);
    free(c);
}
