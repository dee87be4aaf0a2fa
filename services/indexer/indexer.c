/* services/indexer -- the indexer thread: campaigns, and while it leads keeps, per global
 * secondary index with planned partitions, one change feed consumer ("indexer.<index id>") over
 * the base table's backfilled partitions, backfills the others one at a time (register L0, scan,
 * report in the catalog), turns the index ACTIVE when every base partition is backfilled, and
 * forgets indexes that are gone. The consumers' apply writes the net index entries of each page
 * of change records to the index partitions with Batch calls. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libs/arena/arena.h"
#include "libs/feed/feed.h"
#include "libs/log/log.h"
#include "libs/rpc/rpc.h"
#include "libs/rpc/rpc_client.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "services/indexer/indexer.h"

#define CAMPAIGN_MS 1000      /* a follower campaigns at least this often */
#define PASS_GAP_MS 100       /* changes act at once, but passes never run back to back */
#define LAG_REFRESH_MS 1000   /* the lag gauges are at most this old */
#define BATCH_CALLS 256       /* index writes per Batch call */
#define CATALOG_TRIES 5       /* read-modify-write attempts of a catalog entry */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define ERR_LOG_MS 5000       /* at most one apply warning per index per this many ms */
#define ARENA_CAP (256u << 20)

typedef struct ix_client {
    char *addr;                 /* owned */
    dyn_rpc_client *client;     /* owned */
    struct ix_client *next;
} ix_client;

/* One base partition of an index's table. */
typedef struct ix_base {
    char *id, *addr;            /* owned: partition id, its node's gRPC address */
} ix_base;

/* One index the indexer follows. Everything but the counters and err_logged_ms is the indexer
 * thread's; the consumer's apply reads g, which only changes while the consumer is closed. */
typedef struct ix_worker {
    indexer *ix;
    char *index_id, *table;     /* owned: the index, its table's name (the catalog key) */
    char name[256];             /* the consumer: "indexer.<index id>" */
    indexer_gsi *g;             /* owned */
    uint8_t *sig;               /* owned: what g was made from (packed) */
    size_t sig_len;
    dyn_feed_consumer *consumer;   /* owned; NULL: none */
    char *src_sig;              /* owned: the sources the consumer follows */
    char **src_ids;             /* owned: their partition ids, n_src */
    char **src_addrs;           /* owned: and their nodes' gRPC addresses */
    size_t n_src;
    ix_base *bases;             /* owned: the table's partitions as last seen, n_bases */
    size_t n_bases;
    int64_t retry_at_ms;        /* a failed step waits until then */
    int backoff_ms;
    bool bad_logged;            /* an unusable definition was logged */
    bool seen;                  /* in this pass's catalog */
    _Atomic int64_t err_logged_ms;
    dyn_rpc_counter *records, *puts, *dels, *backfill_items, *errors, *lag;
    struct ix_worker *next;
} ix_worker;

struct indexer {
    dyn_meta *meta;             /* borrowed */
    indexer_opts opts;          /* strings owned */
    dyn_elect *elect;
    dyn_meta_watch *tables_watch, *nodes_watch;
    pthread_t thread;
    pthread_mutex_t mu;         /* guards stopping, dirty, woken */
    pthread_cond_t cv;          /* CLOCK_MONOTONIC */
    bool stopping, dirty, woken;
    pthread_mutex_t clients_mu;
    ix_client *clients;
    ix_worker *workers;         /* the indexer thread's */
    int64_t lag_at_ms;
};

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- storage calls ---- */

static dyn_rpc_client *
client_get(indexer *ix, const char *addr)
{
    ix_client *e;

    pthread_mutex_lock(&ix->clients_mu);
    for (e = ix->clients; e != NULL; e = e->next)
        if (strcmp(e->addr, addr) == 0)
            break;
    if (e == NULL) {
        e = dyn_xcalloc(1, sizeof *e);
        e->addr = dyn_xstrdup(addr);
        /* wait for a restarting node up to the deadline rather than failing the page at once */
        e->client = dyn_rpc_client_new(addr, 1);
        dyn_rpc_client_set_wait_for_ready(e->client, true);
        e->next = ix->clients;
        ix->clients = e;
    }
    pthread_mutex_unlock(&ix->clients_mu);
    return e->client;
}

static dyn_err
storage_call(indexer *ix, const char *addr, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *desc, dyn_arena *a, ProtobufCMessage **resp,
             const char **errmsg)
{
    char path[64];

    snprintf(path, sizeof path, "/dyne.internal.Storage/%s", method);
    *resp = NULL;
    return dyn_rpc_client_call(client_get(ix, addr), path, req, desc,
                               ix->opts.storage_deadline_ms, a, resp, errmsg);
}

/* Sends ops[0..n) (one index partition's writes, distinct keys) as Batch calls; the first
 * failure is returned with *errmsg. */
static dyn_err
write_part(ix_worker *w, const indexer_op *ops, size_t n, dyn_arena *a, const char **errmsg)
{
    const indexer_ipart *part = ops[0].part;
    dyn_err rc = DYN_OK;

    for (size_t at = 0; at < n && rc == DYN_OK; at += BATCH_CALLS) {
        size_t k = n - at < BATCH_CALLS ? n - at : BATCH_CALLS;
        Dyne__Internal__BatchRequest breq = DYNE__INTERNAL__BATCH_REQUEST__INIT;
        Dyne__Internal__BatchCall *calls = dyn_arena_alloc(a, k * sizeof *calls);
        Dyne__Internal__BatchCall **cp = dyn_arena_alloc(a, k * sizeof *cp);
        ProtobufCMessage *resp;

        if (calls == NULL || cp == NULL)
            return DYN_ENOMEM;
        for (size_t i = 0; i < k; i++) {
            const indexer_op *op = &ops[at + i];
            ProtobufCMessage *m;
            Dyne__Internal__PutRequest *put;
            Dyne__Internal__DeleteRequest *del;

            dyne__internal__batch_call__init(&calls[i]);
            if (op->val != NULL) {
                if ((put = dyn_arena_alloc(a, sizeof *put)) == NULL)
                    return DYN_ENOMEM;
                dyne__internal__put_request__init(put);
                put->partition_id = (char *)part->id;
                put->has_key = true;
                put->key.data = (uint8_t *)op->key;
                put->key.len = op->klen;
                put->item = (Dyne__V1__AttributeValueMap *)op->val;
                m = &put->base;
                calls[i].method = "Put";
            } else {
                if ((del = dyn_arena_alloc(a, sizeof *del)) == NULL)
                    return DYN_ENOMEM;
                dyne__internal__delete_request__init(del);
                del->partition_id = (char *)part->id;
                del->has_key = true;
                del->key.data = (uint8_t *)op->key;
                del->key.len = op->klen;
                m = &del->base;
                calls[i].method = "Delete";
            }
            calls[i].has_request = true;
            if ((rc = dyn_rpc_pb_pack(m, a, &calls[i].request.data, &calls[i].request.len)) !=
                DYN_OK)
                return rc;
            cp[i] = &calls[i];
        }
        breq.n_calls = k;
        breq.calls = cp;
        rc = storage_call(w->ix, part->addr, "Batch", &breq.base,
                          &dyne__internal__batch_response__descriptor, a, &resp, errmsg);
        if (rc != DYN_OK)
            break;
        Dyne__Internal__BatchResponse *br = (Dyne__Internal__BatchResponse *)resp;
        if (br->n_replies != k)
            return DYN_EINTERNAL;
        for (size_t i = 0; i < k && rc == DYN_OK; i++) {
            const Dyne__Internal__BatchReply *r = br->replies[i];
            if (r->err == NULL)
                continue;
            rc = DYN_EINTERNAL;
            (void)dyn_err_from_name(r->err, strlen(r->err), &rc);
            if (rc == DYN_OK)
                rc = DYN_EINTERNAL;
            *errmsg = r->message;
        }
        if (rc == DYN_OK) {
            size_t puts = 0;
            for (size_t i = 0; i < k; i++)
                puts += ops[at + i].val != NULL;
            dyn_rpc_counter_add(w->puts, puts);
            dyn_rpc_counter_add(w->dels, k - puts);
        }
    }
    return rc;
}

/* Writes a finished plan, one index partition after the other. */
static dyn_err
write_plan(ix_worker *w, const indexer_plan *p, dyn_arena *a, const char **errmsg)
{
    dyn_err rc = DYN_OK;

    *errmsg = NULL;
    for (size_t i = 0; i < p->n && rc == DYN_OK;) {
        size_t j = i + 1;
        while (j < p->n && p->ops[j].part == p->ops[i].part)
            j++;
        rc = write_part(w, &p->ops[i], j - i, a, errmsg);
        i = j;
    }
    return rc;
}

static void
apply_warn(ix_worker *w, const char *what, const char *partition, dyn_err rc, const char *msg)
{
    int64_t now = now_ms(), last = atomic_load(&w->err_logged_ms);

    dyn_rpc_counter_add(w->errors, 1);
    if (last != 0 && now - last < ERR_LOG_MS)
        return;
    atomic_store(&w->err_logged_ms, now);
    dyn_log(DYN_LOG_WARN, "INDEXER-APPLY-ERR", "index=%s op=%s partition=%s err=%s msg=%s",
            w->index_id, what, partition, dyn_err_name(rc), msg ? msg : "");
}

/* The feed's apply (a consumer thread per storage node): the net index writes of the page. */
static int
apply_records(void *ctx, const char *partition, const Dyne__Internal__ChangeRecord *const *recs,
              size_t n)
{
    ix_worker *w = ctx;
    indexer_plan plan;
    const char *msg = NULL;
    dyn_arena a;
    dyn_err rc = DYN_OK;

    /* a deposed indexer writes nothing more: its successor applies these records again */
    if (dyn_elect_epoch(w->ix->elect) == 0)
        return -1;
    dyn_arena_init(&a, ARENA_CAP);
    indexer_plan_init(&plan, w->g, &a);
    for (size_t i = 0; i < n && rc == DYN_OK; i++)
        rc = indexer_plan_change(&plan, recs[i]->old_image, recs[i]->new_image);
    if (rc == DYN_OK) {
        indexer_plan_finish(&plan);
        rc = write_plan(w, &plan, &a, &msg);
    }
    if (rc == DYN_OK)
        dyn_rpc_counter_add(w->records, n);
    else
        apply_warn(w, "apply", partition, rc, msg);
    dyn_arena_fini(&a);
    return rc == DYN_OK ? 0 : -1;
}

/* ---- workers ---- */

static dyn_err register_pos(indexer *ix, ix_worker *w, const char *addr, const char *pid,
                            uint64_t lsn, dyn_arena *a);

static dyn_rpc_counter *
counter(const char *name, const char *index_id, const char *help)
{
    char labels[300];

    /* index ids are "<table id>-<index name>-<n>": [A-Za-z0-9_.-], nothing to escape */
    snprintf(labels, sizeof labels, "index=\"%s\"", index_id);
    return dyn_rpc_counter_get(name, labels, help);
}

static ix_worker *
worker_get(indexer *ix, const char *index_id, const char *table)
{
    ix_worker *w;

    for (w = ix->workers; w != NULL; w = w->next)
        if (strcmp(w->index_id, index_id) == 0)
            return w;
    w = dyn_xcalloc(1, sizeof *w);
    w->ix = ix;
    w->index_id = dyn_xstrdup(index_id);
    w->table = dyn_xstrdup(table);
    snprintf(w->name, sizeof w->name, "indexer.%s", index_id);
    atomic_init(&w->err_logged_ms, 0);
    w->records = counter("dyn_indexer_records_applied_total", index_id,
                         "Change records applied to the index (re-deliveries count again)");
    w->puts = counter("dyn_indexer_entries_put_total", index_id, "Index entries written");
    w->dels = counter("dyn_indexer_entries_deleted_total", index_id, "Index entries deleted");
    w->backfill_items = counter("dyn_indexer_backfill_items_total", index_id,
                                "Base items scanned by backfills");
    w->errors = counter("dyn_indexer_errors_total", index_id,
                        "Failed applies and backfill steps (retried)");
    w->lag = counter("dyn_indexer_lag_records", index_id,
                     "Change records of the base table not yet applied to the index");
    w->next = ix->workers;
    ix->workers = w;
    return w;
}

static void
sources_free(ix_worker *w)
{
    for (size_t i = 0; i < w->n_src; i++) {
        free(w->src_ids[i]);
        free(w->src_addrs[i]);
    }
    free(w->src_ids);
    free(w->src_addrs);
    free(w->src_sig);
    w->src_ids = w->src_addrs = NULL;
    w->src_sig = NULL;
    w->n_src = 0;
}

static void
consumer_stop(ix_worker *w)
{
    if (w->consumer == NULL)
        return;
    dyn_feed_consumer_close(w->consumer);
    w->consumer = NULL;
    sources_free(w);
}

static void
bases_free(ix_worker *w)
{
    for (size_t i = 0; i < w->n_bases; i++) {
        free(w->bases[i].id);
        free(w->bases[i].addr);
    }
    free(w->bases);
    w->bases = NULL;
    w->n_bases = 0;
}

static void
worker_free(ix_worker *w)
{
    consumer_stop(w);
    sources_free(w);
    bases_free(w);
    indexer_gsi_free(w->g);
    free(w->sig);
    free(w->index_id);
    free(w->table);
    free(w);
}

/* An index that is gone (deleted, DELETING, its table gone): the consumer stops, storage
 * forgets it (position UINT64_MAX), and so do we (the position file). */
static void
worker_forget(indexer *ix, ix_worker *w)
{
    char path[1200];
    dyn_arena a;

    consumer_stop(w);
    dyn_arena_init(&a, 1u << 20);
    for (size_t i = 0; i < w->n_bases; i++) {
        /* the table may be gone with its partitions: nothing left to release then */
        (void)register_pos(ix, w, w->bases[i].addr, w->bases[i].id, UINT64_MAX, &a);
        dyn_arena_reset(&a);
    }
    dyn_arena_fini(&a);
    snprintf(path, sizeof path, "%s/%s.pos", ix->opts.data_dir, w->name);
    (void)unlink(path);
    snprintf(path, sizeof path, "%s/%s.pos.tmp", ix->opts.data_dir, w->name);
    (void)unlink(path);
    dyn_rpc_gauge_hide(w->lag);
    dyn_log(DYN_LOG_INFO, "INDEXER-INDEX-GONE", "index=%s table=%s", w->index_id, w->table);
}

static void
workers_drop(indexer *ix, bool forget)
{
    for (ix_worker **pp = &ix->workers; *pp != NULL;) {
        ix_worker *w = *pp;
        if (forget && w->seen) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        if (forget)
            worker_forget(ix, w);
        worker_free(w);
    }
}

static void
worker_backoff(ix_worker *w)
{
    w->backoff_ms = w->backoff_ms < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : w->backoff_ms * 2;
    if (w->backoff_ms > BACKOFF_MAX_MS)
        w->backoff_ms = BACKOFF_MAX_MS;
    w->retry_at_ms = now_ms() + w->backoff_ms;
    dyn_rpc_counter_add(w->errors, 1);
}

/* ---- the pass's view ---- */

typedef struct pass {
    indexer *ix;
    int64_t epoch;
    dyn_arena a;
    ProtobufCAllocator al;
    Dyne__Internal__NodeMeta **nodes;
    size_t nn;
} pass;

static const Dyne__Internal__NodeMeta *
node_find(const pass *p, const char *id)
{
    for (size_t i = 0; id != NULL && i < p->nn; i++)
        if (strcmp(p->nodes[i]->node_id, id) == 0)
            return p->nodes[i];
    return NULL;
}

static bool
listed(const Dyne__Internal__GsiMeta *g, const char *pid)
{
    for (size_t i = 0; i < g->n_backfilled; i++)
        if (g->backfilled[i] != NULL && strcmp(g->backfilled[i], pid) == 0)
            return true;
    return false;
}

/* What the index's entries depend on: its key schema, projection and partitions, and the
 * table's key schema (packed, for comparing). */
static dyn_err
gsi_sig(const Dyne__Internal__TableMeta *t, const Dyne__Internal__GsiMeta *g, dyn_arena *a,
        uint8_t **out, size_t *len)
{
    Dyne__Internal__GsiMeta s = DYNE__INTERNAL__GSI_META__INIT;
    Dyne__Internal__TableMeta tm = DYNE__INTERNAL__TABLE_META__INIT;

    s.index_id = g->index_id;
    s.key_schema = g->key_schema;
    s.projection_type = g->projection_type;
    s.n_non_key_attributes = g->n_non_key_attributes;
    s.non_key_attributes = g->non_key_attributes;
    s.n_partitions = g->n_partitions;
    s.partitions = g->partitions;
    Dyne__Internal__GsiMeta *one[1] = { &s };
    tm.key_schema = t->key_schema;
    tm.n_gsis = 1;
    tm.gsis = one;
    return dyn_rpc_pb_pack(&tm.base, a, out, len);
}

/* The index's definition and the table's partitions, refreshed from the catalog; a change of
 * the definition restarts the consumer. false: the definition cannot be applied. */
static bool
worker_refresh(pass *p, ix_worker *w, const Dyne__Internal__TableMeta *t,
               const Dyne__Internal__GsiMeta *g)
{
    uint8_t *sig;
    size_t len;
    indexer_gsi *ng;
    dyn_err rc;

    bases_free(w);
    w->bases = dyn_xcalloc(t->n_partitions ? t->n_partitions : 1, sizeof *w->bases);
    for (size_t i = 0; i < t->n_partitions; i++) {
        const Dyne__Internal__PartitionMeta *pm = t->partitions[i];
        const Dyne__Internal__NodeMeta *nm = node_find(p, pm->node_id);
        const char *addr = nm != NULL && nm->addr != NULL ? nm->addr : pm->node_addr;
        if (pm->partition_id == NULL || addr == NULL)
            continue;
        w->bases[w->n_bases].id = dyn_xstrdup(pm->partition_id);
        w->bases[w->n_bases].addr = dyn_xstrdup(addr);
        w->n_bases++;
    }
    if (gsi_sig(t, g, &p->a, &sig, &len) != DYN_OK)
        return false;
    if (w->g != NULL && len == w->sig_len && memcmp(sig, w->sig, len) == 0)
        return true;
    if ((rc = indexer_gsi_new(t->key_schema, g, &ng)) != DYN_OK) {
        if (!w->bad_logged)
            dyn_log(DYN_LOG_ERROR, "INDEXER-GSI-BAD", "index=%s table=%s err=%s", w->index_id,
                    w->table, dyn_err_name(rc));
        w->bad_logged = true;
        return false;
    }
    w->bad_logged = false;
    consumer_stop(w);   /* apply reads g: never swapped under a running consumer */
    indexer_gsi_free(w->g);
    w->g = ng;
    free(w->sig);
    w->sig = dyn_xmalloc(len ? len : 1);
    memcpy(w->sig, sig, len);
    w->sig_len = len;
    return true;
}

/* Follows the base partitions that are backfilled (whose node is registered), restarting the
 * consumer when that set or a node's feed urls changed. */
static void
worker_follow(pass *p, ix_worker *w, const Dyne__Internal__TableMeta *t,
              const Dyne__Internal__GsiMeta *g, const char *extra)
{
    dyn_feed_source *src = dyn_arena_zalloc(&p->a, (t->n_partitions + 1) * sizeof *src);
    const char **addrs = dyn_arena_zalloc(&p->a, (t->n_partitions + 1) * sizeof *addrs);
    char *sig = dyn_arena_strdup(&p->a, "");
    size_t n = 0;
    dyn_err rc;

    if (src == NULL || addrs == NULL || sig == NULL)
        return;
    for (size_t i = 0; i < t->n_partitions; i++) {
        const Dyne__Internal__PartitionMeta *pm = t->partitions[i];
        const Dyne__Internal__NodeMeta *nm = node_find(p, pm->node_id);
        if (pm->partition_id == NULL ||
            !(listed(g, pm->partition_id) || (extra && strcmp(extra, pm->partition_id) == 0)))
            continue;
        if (nm == NULL || nm->feed_pub_url == NULL || nm->feed_cursor_url == NULL ||
            nm->addr == NULL)
            continue;   /* the node is away: followed again once it registers */
        src[n] = (dyn_feed_source){ .partition = pm->partition_id, .pub_url = nm->feed_pub_url,
                                    .cursor_url = nm->feed_cursor_url };
        addrs[n] = nm->addr;
        if ((sig = dyn_arena_printf(&p->a, "%s%s %s %s\n", sig, pm->partition_id,
                                    nm->feed_pub_url, nm->feed_cursor_url)) == NULL)
            return;
        n++;
    }
    if (w->consumer != NULL && w->src_sig != NULL && strcmp(sig, w->src_sig) == 0)
        return;
    consumer_stop(w);
    if (n == 0)
        return;
    dyn_feed_consumer_opts o = {
        .name = w->name,
        .pos_dir = p->ix->opts.data_dir,
        .sources = src,
        .n_sources = n,
        .apply = apply_records,
        .apply_ctx = w,
        .poll_ms = p->ix->opts.poll_ms,
    };
    if ((rc = dyn_feed_consumer_open(&o, &w->consumer)) != DYN_OK) {
        dyn_log(DYN_LOG_ERROR, "INDEXER-FOLLOW", "index=%s err=%s", w->index_id,
                dyn_err_name(rc));
        w->consumer = NULL;
        worker_backoff(w);
        return;
    }
    w->src_sig = dyn_xstrdup(sig);
    w->src_ids = dyn_xcalloc(n, sizeof *w->src_ids);
    w->src_addrs = dyn_xcalloc(n, sizeof *w->src_addrs);
    for (size_t i = 0; i < n; i++) {
        w->src_ids[i] = dyn_xstrdup(src[i].partition);
        w->src_addrs[i] = dyn_xstrdup(addrs[i]);
    }
    w->n_src = n;
    dyn_log(DYN_LOG_INFO, "INDEXER-FOLLOW", "index=%s table=%s partitions=%zu", w->index_id,
            w->table, n);
}

/* ---- backfill ---- */

static dyn_err
read_log(indexer *ix, const char *addr, const char *pid, uint64_t after, dyn_arena *a,
         uint64_t *first, uint64_t *last)
{
    Dyne__Internal__ReadChangesRequest rq = DYNE__INTERNAL__READ_CHANGES_REQUEST__INIT;
    ProtobufCMessage *resp;
    const char *msg;
    dyn_err rc;

    rq.partition_id = (char *)pid;
    rq.has_after_lsn = rq.has_max_records = true;
    rq.after_lsn = after;
    rq.max_records = 1;
    rc = storage_call(ix, addr, "ReadChanges", &rq.base,
                      &dyne__internal__read_changes_response__descriptor, a, &resp, &msg);
    if (rc != DYN_OK)
        return rc;
    const Dyne__Internal__ReadChangesResponse *r = (const void *)resp;
    *first = r->first_lsn;
    *last = r->last_lsn;
    return DYN_OK;
}

static dyn_err
register_pos(indexer *ix, ix_worker *w, const char *addr, const char *pid, uint64_t lsn,
             dyn_arena *a)
{
    Dyne__Internal__RegisterConsumerRequest rr = DYNE__INTERNAL__REGISTER_CONSUMER_REQUEST__INIT;
    ProtobufCMessage *resp;
    const char *msg;

    rr.partition_id = (char *)pid;
    rr.consumer = w->name;
    rr.has_lsn = true;
    rr.lsn = lsn;
    return storage_call(ix, addr, "RegisterConsumer", &rr.base,
                        &dyne__internal__register_consumer_response__descriptor, a, &resp, &msg);
}

/* The position the backfill of pid starts the feed from, registered with storage (so the log
 * is kept from there) and stored durably before the scan. An earlier attempt's position wins:
 * records since then move or delete what that attempt's scan wrote. The consumer is closed
 * meanwhile (one writer of the position file). */
static dyn_err
backfill_start(indexer *ix, ix_worker *w, const char *addr, const char *pid, dyn_arena *a,
               uint64_t *l0)
{
    dyn_feed_posstore *ps = NULL;
    uint64_t stored, first = 0, last = 0;
    dyn_err rc;

    consumer_stop(w);
    if ((rc = dyn_feed_posstore_open(ix->opts.data_dir, w->name, &ps)) != DYN_OK)
        return rc;
    stored = dyn_feed_posstore_get(ps, pid);
    /* keep the log from the candidate first, then look at it: nothing above it is trimmed now */
    if ((rc = register_pos(ix, w, addr, pid, stored, a)) != DYN_OK)
        goto out;
    if ((rc = read_log(ix, addr, pid, stored, a, &first, &last)) != DYN_OK)
        goto out;
    if (first > stored + 1) {
        /* trimmed past the candidate: no earlier attempt kept it (0 is also "never started"),
         * so this one starts at the end of the log */
        *l0 = last;
        if ((rc = register_pos(ix, w, addr, pid, last, a)) != DYN_OK)
            goto out;
    } else {
        *l0 = stored;
    }
    rc = dyn_feed_posstore_set(ps, pid, *l0);
out:
    dyn_feed_posstore_close(ps);
    return rc;
}

/* Scans base partition pid (Range pages) writing every item's entry. */
static dyn_err
backfill_scan(indexer *ix, ix_worker *w, const char *addr, const char *pid, uint64_t *items)
{
    uint8_t *resume = NULL;
    size_t resume_len = 0;
    dyn_arena a;
    dyn_err rc = DYN_OK;

    *items = 0;
    dyn_arena_init(&a, ARENA_CAP);
    for (;;) {
        Dyne__Internal__RangeRequest rq = DYNE__INTERNAL__RANGE_REQUEST__INIT;
        ProtobufCMessage *resp;
        indexer_plan plan;
        const char *msg = NULL;

        if (dyn_elect_epoch(ix->elect) == 0) {
            rc = DYN_ENOTLEADER;
            break;
        }
        rq.partition_id = (char *)pid;
        rq.has_limit = true;
        rq.limit = ix->opts.scan_page;
        if (resume != NULL) {
            rq.has_start = rq.has_start_exclusive = true;
            rq.start.data = resume;
            rq.start.len = resume_len;
            rq.start_exclusive = true;
        }
        rc = storage_call(ix, addr, "Range", &rq.base, &dyne__internal__range_response__descriptor,
                          &a, &resp, &msg);
        if (rc != DYN_OK)
            break;
        const Dyne__Internal__RangeResponse *r = (const void *)resp;
        indexer_plan_init(&plan, w->g, &a);
        for (size_t i = 0; i < r->n_items && rc == DYN_OK; i++)
            rc = indexer_plan_change(&plan, NULL, r->items[i]);
        if (rc == DYN_OK) {
            indexer_plan_finish(&plan);
            rc = write_plan(w, &plan, &a, &msg);
        }
        if (rc != DYN_OK) {
            apply_warn(w, "backfill", pid, rc, msg);
            break;
        }
        *items += r->n_items;
        dyn_rpc_counter_add(w->backfill_items, r->n_items);
        if (!r->has_last_key || r->last_key.len == 0)
            break;
        free(resume);
        resume = dyn_xmalloc(r->last_key.len);
        memcpy(resume, r->last_key.data, r->last_key.len);
        resume_len = r->last_key.len;
        dyn_arena_reset(&a);
    }
    free(resume);
    dyn_arena_fini(&a);
    return rc;
}

/* ---- the catalog ---- */

/* Records progress of index_id in its table's entry: pid (may be NULL) backfilled, and ACTIVE
 * once every base partition is. One transaction fenced by our epoch and the entry's revision,
 * read again after a lost race. DYN_ENOTFOUND: the index or table is gone or DELETING. */
static dyn_err
catalog_progress(pass *p, ix_worker *w, const char *pid)
{
    char key[512];
    dyn_arena a;
    dyn_err rc = DYN_ECONDFAIL;

    snprintf(key, sizeof key, "%s%s", INDEXER_TABLES_PREFIX, w->table);
    dyn_arena_init(&a, ARENA_CAP);
    for (int attempt = 0; attempt < CATALOG_TRIES && rc == DYN_ECONDFAIL; attempt++) {
        ProtobufCAllocator al = dyn_arena_pb_allocator(&a);
        Dyne__Internal__GsiMeta *g = NULL;
        dyn_meta_kv kv;
        bool changed = false, won = false, all = true;
        uint8_t *buf;
        size_t len;

        dyn_arena_reset(&a);
        if ((rc = dyn_meta_get(p->ix->meta, key, &a, &kv)) != DYN_OK)
            break;
        Dyne__Internal__TableMeta *t = dyne__internal__table_meta__unpack(&al, kv.val_len, kv.val);
        if (t == NULL) {
            rc = DYN_EINTERNAL;
            break;
        }
        for (size_t i = 0; i < t->n_gsis && g == NULL; i++)
            if (t->gsis[i]->index_id != NULL && strcmp(t->gsis[i]->index_id, w->index_id) == 0)
                g = t->gsis[i];
        if (g == NULL || (t->status != NULL && strcmp(t->status, "DELETING") == 0) ||
            (g->status != NULL && strcmp(g->status, "DELETING") == 0)) {
            rc = DYN_ENOTFOUND;
            break;
        }
        if (pid != NULL && !listed(g, pid)) {
            char **b = dyn_arena_alloc(&a, (g->n_backfilled + 1) * sizeof *b);
            if (b == NULL) {
                rc = DYN_ENOMEM;
                break;
            }
            if (g->n_backfilled > 0)
                memcpy(b, g->backfilled, g->n_backfilled * sizeof *b);
            b[g->n_backfilled++] = (char *)pid;
            g->backfilled = b;
            changed = true;
        }
        for (size_t i = 0; i < t->n_partitions; i++)
            all = all && t->partitions[i]->partition_id != NULL &&
                  listed(g, t->partitions[i]->partition_id);
        if (t->n_partitions > 0 && all &&
            (g->status == NULL || strcmp(g->status, "ACTIVE") != 0 || g->backfilling)) {
            g->status = "ACTIVE";
            /* only an index added to an existing table has the member: one made by
             * CreateTable never shows Backfilling (DynamoDB) */
            if (g->has_backfilling)
                g->backfilling = false;
            changed = true;
        }
        if (!changed) {
            rc = DYN_OK;
            break;
        }
        if ((rc = dyn_rpc_pb_pack(&t->base, &a, &buf, &len)) != DYN_OK)
            break;
        dyn_meta_cmp cmps[2] = {
            dyn_elect_fence(p->ix->elect, p->epoch),
            { .key = key, .target = DYN_META_CMP_MOD, .op = DYN_META_EQ, .rev = kv.mod_rev },
        };
        dyn_meta_op put = { .type = DYN_META_OP_PUT, .key = key, .val = buf, .val_len = len };
        if ((rc = dyn_meta_txn(p->ix->meta, cmps, 2, &put, 1, NULL, 0, &won, NULL)) != DYN_OK)
            break;
        if (won) {
            if (strcmp(g->status, "ACTIVE") == 0 && !g->backfilling && all)
                dyn_log(DYN_LOG_INFO, "INDEXER-PROGRESS",
                        "index=%s table=%s backfilled=%zu/%zu status=%s", w->index_id, w->table,
                        g->n_backfilled, t->n_partitions, g->status);
            rc = DYN_OK;
        } else {
            rc = dyn_elect_epoch(p->ix->elect) == p->epoch ? DYN_ECONDFAIL : DYN_ENOTLEADER;
        }
    }
    dyn_arena_fini(&a);
    return rc;
}

/* One index, one step: refresh, backfill one base partition if any is left, report, follow. */
static void
worker_step(pass *p, ix_worker *w, const Dyne__Internal__TableMeta *t,
            const Dyne__Internal__GsiMeta *g)
{
    const Dyne__Internal__PartitionMeta *pending = NULL;
    const char *done = NULL;
    int64_t now = now_ms();
    dyn_err rc;

    if (!worker_refresh(p, w, t, g))
        return;
    for (size_t i = 0; i < t->n_partitions && pending == NULL; i++)
        if (t->partitions[i]->partition_id != NULL && !listed(g, t->partitions[i]->partition_id))
            pending = t->partitions[i];
    if (now < w->retry_at_ms) {
        worker_follow(p, w, t, g, NULL);
        return;
    }
    if (pending != NULL) {
        const Dyne__Internal__NodeMeta *nm = node_find(p, pending->node_id);
        const char *addr = nm != NULL && nm->addr != NULL ? nm->addr : pending->node_addr;
        uint64_t l0 = 0, items = 0;
        int64_t t0 = now_ms();

        if (addr == NULL)
            rc = DYN_EUNAVAIL;
        else
            rc = backfill_start(p->ix, w, addr, pending->partition_id, &p->a, &l0);
        if (rc == DYN_OK) {
            dyn_log(DYN_LOG_INFO, "INDEXER-BACKFILL-START", "index=%s partition=%s lsn=%" PRIu64,
                    w->index_id, pending->partition_id, l0);
            /* the backfilled partitions flow on while this one is scanned */
            worker_follow(p, w, t, g, NULL);
            rc = backfill_scan(p->ix, w, addr, pending->partition_id, &items);
        }
        if (rc == DYN_OK) {
            dyn_log(DYN_LOG_INFO, "INDEXER-BACKFILL-DONE",
                    "index=%s partition=%s lsn=%" PRIu64 " items=%" PRIu64 " ms=%lld",
                    w->index_id, pending->partition_id, l0, items, (long long)(now_ms() - t0));
            done = pending->partition_id;
        } else {
            dyn_log(DYN_LOG_WARN, "INDEXER-BACKFILL-ERR", "index=%s partition=%s err=%s",
                    w->index_id, pending->partition_id, dyn_err_name(rc));
            worker_backoff(w);
        }
    }
    if (pending == NULL || done != NULL) {
        rc = catalog_progress(p, w, done);
        if (rc != DYN_OK && rc != DYN_ENOTFOUND) {
            dyn_log(DYN_LOG_WARN, "INDEXER-CATALOG-ERR", "index=%s table=%s err=%s", w->index_id,
                    w->table, dyn_err_name(rc));
            worker_backoff(w);
            /* the scan is repeated: from the position it stored, which converges */
            done = NULL;
        } else if (rc == DYN_OK) {
            w->backoff_ms = 0;
        }
    }
    worker_follow(p, w, t, g, done);
}

/* The lag gauges: per index, the records its followed partitions have that it has not
 * stored. */
static void
lag_refresh(pass *p)
{
    for (ix_worker *w = p->ix->workers; w != NULL; w = w->next) {
        uint64_t lag = 0;
        for (size_t i = 0; w->consumer != NULL && i < w->n_src; i++) {
            uint64_t stored = 0, reg = 0, first = 0, last = 0;
            if (!dyn_feed_consumer_position(w->consumer, w->src_ids[i], &stored, &reg))
                continue;
            if (read_log(p->ix, w->src_addrs[i], w->src_ids[i], stored, &p->a, &first, &last) ==
                    DYN_OK &&
                last > stored)
                lag += last - stored;
        }
        dyn_rpc_gauge_set(w->lag, (int64_t)lag);
    }
}

static void
indexer_pass(indexer *ix, int64_t epoch)
{
    pass p = { .ix = ix, .epoch = epoch };
    dyn_meta_kv *kvs = NULL;
    size_t n = 0, nidx = 0;
    dyn_err rc;

    dyn_arena_init(&p.a, ARENA_CAP);
    p.al = dyn_arena_pb_allocator(&p.a);
    if ((rc = dyn_meta_range(ix->meta, INDEXER_NODES_PREFIX, 0, &p.a, &kvs, &n, NULL, NULL)) !=
        DYN_OK)
        goto fail;
    p.nodes = dyn_arena_zalloc(&p.a, (n ? n : 1) * sizeof *p.nodes);
    for (size_t i = 0; p.nodes != NULL && i < n; i++) {
        Dyne__Internal__NodeMeta *nm =
            dyne__internal__node_meta__unpack(&p.al, kvs[i].val_len, kvs[i].val);
        if (nm != NULL && nm->node_id != NULL && nm->node_id[0] != '\0')
            p.nodes[p.nn++] = nm;
    }
    if ((rc = dyn_meta_range(ix->meta, INDEXER_TABLES_PREFIX, 0, &p.a, &kvs, &n, NULL, NULL)) !=
        DYN_OK)
        goto fail;
    for (ix_worker *w = ix->workers; w != NULL; w = w->next)
        w->seen = false;
    for (size_t i = 0; i < n && dyn_elect_epoch(ix->elect) == epoch; i++) {
        Dyne__Internal__TableMeta *t =
            dyne__internal__table_meta__unpack(&p.al, kvs[i].val_len, kvs[i].val);
        if (t == NULL || t->table_name == NULL || t->key_schema == NULL ||
            (t->status != NULL && strcmp(t->status, "DELETING") == 0) || t->n_partitions == 0)
            continue;
        for (size_t j = 0; j < t->n_gsis; j++) {
            const Dyne__Internal__GsiMeta *g = t->gsis[j];
            /* CREATING, ACTIVE and UPDATING (a throughput change) indexes are maintained; a
             * DELETING one is forgotten with its positions */
            if (g->index_id == NULL || g->n_partitions == 0 ||
                (g->status != NULL && strcmp(g->status, "DELETING") == 0))
                continue;
            ix_worker *w = worker_get(ix, g->index_id, t->table_name);
            w->seen = true;
            nidx++;
            worker_step(&p, w, t, g);
        }
    }
    /* a pass cut short by a lost election says nothing about which indexes are gone */
    if (dyn_elect_epoch(ix->elect) == epoch)
        workers_drop(ix, true);
    dyn_rpc_gauge_set(dyn_rpc_counter_get("dyn_indexer_indexes", "",
                                          "Global secondary indexes this indexer follows"),
                      (int64_t)nidx);
    if (now_ms() - ix->lag_at_ms >= LAG_REFRESH_MS) {
        lag_refresh(&p);
        ix->lag_at_ms = now_ms();
    }
    dyn_arena_fini(&p.a);
    return;
fail:
    dyn_log(DYN_LOG_WARN, "INDEXER-PASS", "err=%s", dyn_err_name(rc));
    dyn_arena_fini(&p.a);
}

/* ---- the thread ---- */

static void
leader_gauge(int64_t epoch)
{
    dyn_rpc_gauge_set(dyn_rpc_counter_get("dyn_indexer_leader", "",
                                          "1 while this instance is the acting indexer"),
                      epoch != 0);
}

/* meta's threads: the election may have changed. */
static void
wake(void *arg, bool leading)
{
    indexer *ix = arg;

    if (!leading)
        leader_gauge(0);
    pthread_mutex_lock(&ix->mu);
    ix->woken = true;
    pthread_cond_signal(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
}

/* meta's watch thread: a table or a node changed; the pass lists them again. */
static void
changed(void *arg, const dyn_meta_event *ev)
{
    indexer *ix = arg;

    (void)ev;
    pthread_mutex_lock(&ix->mu);
    ix->dirty = true;
    pthread_cond_signal(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
}

static void *
indexer_main(void *arg)
{
    indexer *ix = arg;
    int64_t led = 0, next_pass = 0, last_pass = INT64_MIN / 2;

    pthread_mutex_lock(&ix->mu);
    while (!ix->stopping) {
        ix->woken = false;
        bool dirty = ix->dirty;
        pthread_mutex_unlock(&ix->mu);

        int64_t epoch = dyn_elect_step(ix->elect);
        leader_gauge(dyn_elect_epoch(ix->elect));
        if (epoch != led) {
            /* deposed (or a new term): every consumer stops; positions stay for the next term */
            workers_drop(ix, false);
            led = epoch;
            next_pass = 0;
        }
        int64_t now = now_ms();
        if (epoch != 0 && (now >= next_pass || (dirty && now >= last_pass + PASS_GAP_MS))) {
            pthread_mutex_lock(&ix->mu);
            ix->dirty = false;   /* before the pass: a change during it brings another */
            pthread_mutex_unlock(&ix->mu);
            indexer_pass(ix, epoch);
            last_pass = now_ms();
            next_pass = last_pass + ix->opts.pass_ms;
        }

        pthread_mutex_lock(&ix->mu);
        int64_t until = now_ms() + CAMPAIGN_MS;
        if (led != 0 && next_pass < until)
            until = next_pass;
        for (;;) {
            int64_t u = until;
            if (led != 0 && ix->dirty && last_pass + PASS_GAP_MS < u)
                u = last_pass + PASS_GAP_MS;
            if (ix->stopping || ix->woken || now_ms() >= u)
                break;
            struct timespec ts = { .tv_sec = u / 1000, .tv_nsec = (u % 1000) * 1000000 };
            (void)pthread_cond_timedwait(&ix->cv, &ix->mu, &ts);
        }
    }
    pthread_mutex_unlock(&ix->mu);
    workers_drop(ix, false);
    return NULL;
}

dyn_err
indexer_new(dyn_meta *meta, const indexer_opts *o, indexer **out)
{
    indexer *ix = dyn_xcalloc(1, sizeof *ix);
    pthread_condattr_t ca;

    ix->meta = meta;
    ix->opts = *o;
    ix->opts.node_id = dyn_xstrdup(o->node_id != NULL ? o->node_id : "indexer");
    ix->opts.data_dir = dyn_xstrdup(o->data_dir != NULL ? o->data_dir : ".");
    if (ix->opts.lease_ttl_s <= 0)
        ix->opts.lease_ttl_s = 5;
    if (ix->opts.pass_ms <= 0)
        ix->opts.pass_ms = 2000;
    if (ix->opts.storage_deadline_ms <= 0)
        ix->opts.storage_deadline_ms = 10000;
    if (ix->opts.poll_ms <= 0)
        ix->opts.poll_ms = 500;
    if (ix->opts.scan_page <= 0)
        ix->opts.scan_page = 500;
    pthread_mutex_init(&ix->mu, NULL);
    pthread_mutex_init(&ix->clients_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ix->cv, &ca);
    pthread_condattr_destroy(&ca);
    leader_gauge(0);
    ix->elect = dyn_elect_new(meta, INDEXER_LEADER_KEY, ix->opts.node_id,
                                  ix->opts.lease_ttl_s, wake, ix);
    ix->tables_watch = dyn_meta_watch_start(meta, INDEXER_TABLES_PREFIX, 0, changed, ix);
    ix->nodes_watch = dyn_meta_watch_start(meta, INDEXER_NODES_PREFIX, 0, changed, ix);
    if (pthread_create(&ix->thread, NULL, indexer_main, ix) != 0)
        abort();   /* as dyn_xmalloc: no thread, no indexer */
    *out = ix;
    return DYN_OK;
}

void
indexer_free(indexer *ix)
{
    if (ix == NULL)
        return;
    pthread_mutex_lock(&ix->mu);
    ix->stopping = true;
    pthread_cond_signal(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    pthread_join(ix->thread, NULL);
    dyn_meta_watch_stop(ix->tables_watch);
    dyn_meta_watch_stop(ix->nodes_watch);
    leader_gauge(0);
    dyn_elect_free(ix->elect);
    for (ix_client *e = ix->clients, *next; e != NULL; e = next) {
        next = e->next;
        dyn_rpc_client_free(e->client);
        free(e->addr);
        free(e);
    }
    pthread_mutex_destroy(&ix->mu);
    pthread_mutex_destroy(&ix->clients_mu);
    pthread_cond_destroy(&ix->cv);
    free((char *)ix->opts.node_id);
    free((char *)ix->opts.data_dir);
    free(ix);
}
