/* services/router -- the router's state: the table catalog cached from etcd (loaded at start,
 * then kept current by a watch on /dyne/tables/), storage clients by address, and the admin
 * thread that runs control-plane work where blocking is allowed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/log/log.h"
#include "proto/dyne/internal/catalog.pb-c.h"
#include "proto/dyne/v1/types.pb-c.h"
#include "services/router/router.h"

#define TABLES_PREFIX "/dyne/tables/"

typedef struct cat_entry {
    Dyne__Internal__TableMeta *meta;   /* owned: protobuf-c heap */
    struct cat_entry *next;
} cat_entry;

typedef struct client_entry {
    char *addr;                        /* owned */
    dyn_rpc_client *client;            /* owned */
    struct client_entry *next;
} client_entry;

typedef struct job {
    dyn_rpc_call *call;
    const ProtobufCMessage *req;
    router_job_fn fn;
    void (*plain)(router *r, void *arg);   /* router_admin_run: no call; the job is malloc'd */
    void *arg;
    struct job *next;
} job;

struct router {
    dyn_meta *meta;                    /* borrowed */
    router_opts opts;                  /* strings owned */
    pthread_rwlock_t cat_mu;
    cat_entry *tables;
    pthread_mutex_t cl_mu;
    client_entry *clients;
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;
    job *q_head, *q_tail;
    bool stopping;
    pthread_t admin;
    dyn_meta_watch *watch;
};

dyn_meta *
router_meta(router *r)
{
    return r->meta;
}

const router_opts *
router_options(router *r)
{
    return &r->opts;
}

int
router_storage_deadline(router *r)
{
    return r->opts.storage_deadline_ms;
}

/* ---- catalog ---- */

void
router_catalog_put(router *r, const void *packed, size_t len)
{
    Dyne__Internal__TableMeta *m = dyne__internal__table_meta__unpack(NULL, len, packed);
    cat_entry *e;

    if (m == NULL || m->table_name == NULL) {
        dyn_log(DYN_LOG_ERROR, "ROUTER-CATALOG-CORRUPT", "len=%zu", len);
        if (m != NULL)
            dyne__internal__table_meta__free_unpacked(m, NULL);
        return;
    }
    pthread_rwlock_wrlock(&r->cat_mu);
    for (e = r->tables; e != NULL; e = e->next)
        if (strcmp(e->meta->table_name, m->table_name) == 0)
            break;
    if (e == NULL) {
        e = dyn_xcalloc(1, sizeof *e);
        e->next = r->tables;
        r->tables = e;
    } else {
        dyne__internal__table_meta__free_unpacked(e->meta, NULL);
    }
    e->meta = m;
    pthread_rwlock_unlock(&r->cat_mu);
}

void
router_catalog_del(router *r, const char *name)
{
    cat_entry **pp, *e = NULL;

    pthread_rwlock_wrlock(&r->cat_mu);
    for (pp = &r->tables; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->meta->table_name, name) == 0) {
            e = *pp;
            *pp = e->next;
            break;
        }
    pthread_rwlock_unlock(&r->cat_mu);
    if (e != NULL) {
        dyne__internal__table_meta__free_unpacked(e->meta, NULL);
        free(e);
    }
}

static char
key_type(const char *t)
{
    return t != NULL && t[0] != '\0' ? t[0] : 'S';
}

static int
part_cmp(const void *a, const void *b)
{
    const router_part *x = a, *y = b;
    return x->hash_start < y->hash_start ? -1 : x->hash_start > y->hash_start;
}

/* A copy of key schema ks in arena a; NULL when out of memory. */
static Dyne__Internal__KeySchema *
key_schema_copy(dyn_arena *a, const Dyne__Internal__KeySchema *ks)
{
    Dyne__Internal__KeySchema *k = dyn_arena_alloc(a, sizeof *k);

    if (k == NULL)
        return NULL;
    dyne__internal__key_schema__init(k);
    k->pk_name = dyn_arena_strdup(a, ks->pk_name);
    k->pk_type = dyn_arena_strdup(a, ks->pk_type ? ks->pk_type : "S");
    if (ks->sk_name != NULL) {
        k->sk_name = dyn_arena_strdup(a, ks->sk_name);
        k->sk_type = dyn_arena_strdup(a, ks->sk_type ? ks->sk_type : "S");
        if (k->sk_name == NULL || k->sk_type == NULL)
            return NULL;
    }
    return k->pk_name != NULL && k->pk_type != NULL ? k : NULL;
}

/* The GSIs of m a write is charged to, as storage write requests carry them (GsiDef), into t:
 * every index not being deleted. An index still CREATING is charged too: its entries are being
 * built from the change feed (and the backfill's scan), as DynamoDB charges writes to an index
 * while it backfills. */
static dyn_err
gsis_copy(dyn_arena *a, const Dyne__Internal__TableMeta *m, router_table *t)
{
    size_t n = 0;

    for (size_t i = 0; i < m->n_gsis; i++) {
        const Dyne__Internal__GsiMeta *g = m->gsis[i];
        if (g->index_name != NULL && g->key_schema != NULL && g->key_schema->pk_name != NULL &&
            (g->status == NULL || strcmp(g->status, "DELETING") != 0))
            n++;
    }
    if (n == 0)
        return DYN_OK;
    if ((t->gsis = dyn_arena_alloc(a, sizeof *t->gsis * n)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < m->n_gsis; i++) {
        const Dyne__Internal__GsiMeta *g = m->gsis[i];
        Dyne__Internal__GsiDef *d;
        if (g->index_name == NULL || g->key_schema == NULL || g->key_schema->pk_name == NULL ||
            (g->status != NULL && strcmp(g->status, "DELETING") == 0))
            continue;
        if ((d = dyn_arena_alloc(a, sizeof *d)) == NULL)
            return DYN_ENOMEM;
        dyne__internal__gsi_def__init(d);
        d->name = dyn_arena_strdup(a, g->index_name);
        d->key_schema = key_schema_copy(a, g->key_schema);
        d->projection_type = dyn_arena_strdup(a, g->projection_type ? g->projection_type : "ALL");
        d->n_non_key_attributes = g->n_non_key_attributes;
        d->non_key_attributes =
            dyn_arena_alloc(a, sizeof *d->non_key_attributes * (g->n_non_key_attributes + 1));
        if (d->name == NULL || d->key_schema == NULL || d->projection_type == NULL ||
            d->non_key_attributes == NULL)
            return DYN_ENOMEM;
        for (size_t j = 0; j < g->n_non_key_attributes; j++)
            if ((d->non_key_attributes[j] = dyn_arena_strdup(a, g->non_key_attributes[j])) ==
                NULL)
                return DYN_ENOMEM;
        t->gsis[t->n_gsis++] = d;
    }
    return DYN_OK;
}

dyn_err
router_table_get(router *r, const char *name, bool active_only, dyn_arena *a, router_table *t)
{
    dyn_err rc = DYN_ENOTABLE;
    cat_entry *e;

    memset(t, 0, sizeof *t);
    if (name == NULL)
        return DYN_ENOTABLE;
    pthread_rwlock_rdlock(&r->cat_mu);
    for (e = r->tables; e != NULL; e = e->next)
        if (strcmp(e->meta->table_name, name) == 0)
            break;
    if (e == NULL)
        goto out;
    const Dyne__Internal__TableMeta *m = e->meta;
    if (active_only && (m->status == NULL || (strcmp(m->status, "ACTIVE") != 0 &&
                                              strcmp(m->status, "UPDATING") != 0)))
        goto out;
    rc = DYN_ENOMEM;
    t->name = dyn_arena_strdup(a, m->table_name);
    t->status = dyn_arena_strdup(a, m->status ? m->status : "");
    if (m->key_schema == NULL || m->key_schema->pk_name == NULL) {
        rc = DYN_EINTERNAL;
        goto out;
    }
    t->ks.pk_name = dyn_arena_strdup(a, m->key_schema->pk_name);
    t->ks.pk_type = key_type(m->key_schema->pk_type);
    if (m->key_schema->sk_name != NULL) {
        t->ks.sk_name = dyn_arena_strdup(a, m->key_schema->sk_name);
        t->ks.sk_type = key_type(m->key_schema->sk_type);
    }
    t->nparts = m->n_partitions;
    t->parts = dyn_arena_alloc(a, sizeof *t->parts * (m->n_partitions ? m->n_partitions : 1));
    if (t->name == NULL || t->status == NULL || t->ks.pk_name == NULL || t->parts == NULL)
        goto out;
    for (size_t i = 0; i < m->n_partitions; i++) {
        const Dyne__Internal__PartitionMeta *p = m->partitions[i];
        t->parts[i].id = dyn_arena_strdup(a, p->partition_id ? p->partition_id : "");
        t->parts[i].addr = dyn_arena_strdup(a, p->node_addr ? p->node_addr : "");
        t->parts[i].hash_start = p->hash_start;
        t->parts[i].hash_end = p->hash_end;
        if (t->parts[i].id == NULL || t->parts[i].addr == NULL)
            goto out;
    }
    for (size_t i = 1; i < t->nparts; i++)
        if (t->parts[i].hash_start < t->parts[i - 1].hash_start) {
            qsort(t->parts, t->nparts, sizeof *t->parts, part_cmp);
            break;
        }
    for (size_t i = 0; i < m->n_lsis && i < ROUTER_LSI_MAX; i++) {
        const Dyne__Internal__LsiDef *d = m->lsis[i];
        router_lsi *l = &t->lsis[t->n_lsis++];
        const char *pt = d->projection_type ? d->projection_type : "ALL";
        l->name = dyn_arena_strdup(a, d->name ? d->name : "");
        l->sk_name = dyn_arena_strdup(a, d->sk_name ? d->sk_name : "");
        l->sk_type = key_type(d->sk_type);
        l->proj = strcmp(pt, "KEYS_ONLY") == 0 ? 'K' : strcmp(pt, "INCLUDE") == 0 ? 'I' : 'A';
        l->n_non_key = d->n_non_key_attributes;
        l->non_key = dyn_arena_alloc(a, sizeof *l->non_key * (l->n_non_key ? l->n_non_key : 1));
        if (l->name == NULL || l->sk_name == NULL || l->non_key == NULL)
            goto out;
        for (size_t j = 0; j < l->n_non_key; j++)
            if ((l->non_key[j] = dyn_arena_strdup(a, d->non_key_attributes[j])) == NULL)
                goto out;
    }
    rc = gsis_copy(a, m, t);
out:
    pthread_rwlock_unlock(&r->cat_mu);
    return rc;
}

/* Copies parts into arena a in hash order. */
static dyn_err
parts_copy(dyn_arena *a, Dyne__Internal__PartitionMeta *const *src, size_t n, router_part **out)
{
    router_part *parts = dyn_arena_alloc(a, sizeof *parts * (n ? n : 1));

    if (parts == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        parts[i].id = dyn_arena_strdup(a, src[i]->partition_id ? src[i]->partition_id : "");
        parts[i].addr = dyn_arena_strdup(a, src[i]->node_addr ? src[i]->node_addr : "");
        parts[i].hash_start = src[i]->hash_start;
        parts[i].hash_end = src[i]->hash_end;
        if (parts[i].id == NULL || parts[i].addr == NULL)
            return DYN_ENOMEM;
    }
    for (size_t i = 1; i < n; i++)
        if (parts[i].hash_start < parts[i - 1].hash_start) {
            qsort(parts, n, sizeof *parts, part_cmp);
            break;
        }
    *out = parts;
    return DYN_OK;
}

dyn_err
router_table_gsi(router *r, const char *table, const char *index, dyn_arena *a, router_gsi *g)
{
    const Dyne__Internal__GsiMeta *gm = NULL;
    dyn_err rc = DYN_ENOTFOUND;
    cat_entry *e;

    memset(g, 0, sizeof *g);
    if (table == NULL || index == NULL)
        return DYN_ENOTFOUND;
    pthread_rwlock_rdlock(&r->cat_mu);
    for (e = r->tables; e != NULL; e = e->next)
        if (strcmp(e->meta->table_name, table) == 0)
            break;
    for (size_t i = 0; e != NULL && i < e->meta->n_gsis; i++) {
        const Dyne__Internal__GsiMeta *x = e->meta->gsis[i];
        if (x->index_name != NULL && strcmp(x->index_name, index) == 0 &&
            (x->status == NULL || strcmp(x->status, "DELETING") != 0))
            gm = x;
    }
    if (gm == NULL || gm->key_schema == NULL || gm->key_schema->pk_name == NULL)
        goto out;
    const char *pt = gm->projection_type ? gm->projection_type : "ALL";
    rc = DYN_ENOMEM;
    g->name = dyn_arena_strdup(a, gm->index_name);
    g->status = dyn_arena_strdup(a, gm->status ? gm->status : "CREATING");
    g->ks.pk_name = dyn_arena_strdup(a, gm->key_schema->pk_name);
    g->ks.pk_type = key_type(gm->key_schema->pk_type);
    if (gm->key_schema->sk_name != NULL) {
        g->ks.sk_name = dyn_arena_strdup(a, gm->key_schema->sk_name);
        g->ks.sk_type = key_type(gm->key_schema->sk_type);
    }
    g->proj = strcmp(pt, "KEYS_ONLY") == 0 ? 'K' : strcmp(pt, "INCLUDE") == 0 ? 'I' : 'A';
    g->n_non_key = gm->n_non_key_attributes;
    g->non_key = dyn_arena_alloc(a, sizeof *g->non_key * (g->n_non_key ? g->n_non_key : 1));
    if (g->name == NULL || g->status == NULL || g->ks.pk_name == NULL || g->non_key == NULL ||
        (gm->key_schema->sk_name != NULL && g->ks.sk_name == NULL))
        goto out;
    for (size_t j = 0; j < g->n_non_key; j++)
        if ((g->non_key[j] = dyn_arena_strdup(a, gm->non_key_attributes[j])) == NULL)
            goto out;
    g->nparts = gm->n_partitions;
    rc = parts_copy(a, gm->partitions, gm->n_partitions, &g->parts);
out:
    pthread_rwlock_unlock(&r->cat_mu);
    return rc;
}

bool
router_table_has_index(router *r, const char *table, const char *index)
{
    bool found = false;
    cat_entry *e;

    pthread_rwlock_rdlock(&r->cat_mu);
    for (e = r->tables; e != NULL; e = e->next)
        if (strcmp(e->meta->table_name, table) == 0)
            break;
    if (e != NULL && e->meta->has_description) {
        Dyne__V1__TableDescription *d = dyne__v1__table_description__unpack(
            NULL, e->meta->description.len, e->meta->description.data);
        for (size_t i = 0; d != NULL && i < d->n_localsecondaryindexes && !found; i++)
            found = strcmp(d->localsecondaryindexes[i]->indexname, index) == 0;
        for (size_t i = 0; d != NULL && i < d->n_globalsecondaryindexes && !found; i++)
            found = strcmp(d->globalsecondaryindexes[i]->indexname, index) == 0;
        if (d != NULL)
            dyne__v1__table_description__free_unpacked(d, NULL);
    }
    pthread_rwlock_unlock(&r->cat_mu);
    return found;
}

const router_lsi *
router_table_lsi(const router_table *t, const char *index)
{
    for (size_t i = 0; index != NULL && i < t->n_lsis; i++)
        if (strcmp(t->lsis[i].name, index) == 0)
            return &t->lsis[i];
    return NULL;
}

const router_part *
router_table_route(const router_table *t, uint64_t hash)
{
    /* parts are in hash order (router_table_get): the last one starting at or below hash */
    size_t lo = 0, hi = t->nparts;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->parts[mid].hash_start <= hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || hash > t->parts[lo - 1].hash_end)
        return NULL;
    return &t->parts[lo - 1];
}

static const Dyne__Internal__PartitionMeta *
part_find(Dyne__Internal__PartitionMeta *const *parts, size_t n, const char *pid)
{
    for (size_t i = 0; i < n; i++)
        if (parts[i]->partition_id != NULL && strcmp(parts[i]->partition_id, pid) == 0)
            return parts[i];
    return NULL;
}

/* The cache entry holding partition pid, the table's or one of its GSIs' (under cat_mu), or
 * NULL. */
static cat_entry *
entry_of_partition(router *r, const char *pid, const Dyne__Internal__PartitionMeta **at)
{
    for (cat_entry *e = r->tables; e != NULL; e = e->next) {
        if ((*at = part_find(e->meta->partitions, e->meta->n_partitions, pid)) != NULL)
            return e;
        for (size_t g = 0; g < e->meta->n_gsis; g++)
            if ((*at = part_find(e->meta->gsis[g]->partitions, e->meta->gsis[g]->n_partitions,
                                 pid)) != NULL)
                return e;
    }
    return NULL;
}

void
router_partition_addr(router *r, const char *pid, char *out, size_t cap)
{
    const Dyne__Internal__PartitionMeta *p;

    out[0] = '\0';
    pthread_rwlock_rdlock(&r->cat_mu);
    if (entry_of_partition(r, pid, &p) != NULL && p->node_addr != NULL)
        snprintf(out, cap, "%s", p->node_addr);
    pthread_rwlock_unlock(&r->cat_mu);
}

void
router_catalog_refresh_partition(router *r, const char *pid)
{
    char key[300];
    dyn_meta_kv kv;
    dyn_arena a;
    cat_entry *e;
    const Dyne__Internal__PartitionMeta *p;

    key[0] = '\0';
    pthread_rwlock_rdlock(&r->cat_mu);
    if ((e = entry_of_partition(r, pid, &p)) != NULL)
        snprintf(key, sizeof key, "%s%s", TABLES_PREFIX, e->meta->table_name);
    pthread_rwlock_unlock(&r->cat_mu);
    if (key[0] == '\0')
        return;
    dyn_arena_init(&a, 64u << 20);
    dyn_err rc = dyn_meta_get(r->meta, key, &a, &kv);
    if (rc == DYN_OK)
        router_catalog_put(r, kv.val, kv.val_len);
    else if (rc == DYN_ENOTFOUND)
        router_catalog_del(r, key + strlen(TABLES_PREFIX));
    dyn_arena_fini(&a);
}

/* Replaces the whole cache with a fresh listing (start, and after a compacted watch). */
static dyn_err
catalog_reload(router *r, int64_t *rev)
{
    dyn_arena a;
    dyn_meta_kv *kvs = NULL;
    size_t n = 0;
    dyn_err rc;

    dyn_arena_init(&a, 256u << 20);
    if ((rc = dyn_meta_range(r->meta, TABLES_PREFIX, 0, &a, &kvs, &n, NULL, rev)) == DYN_OK) {
        pthread_rwlock_wrlock(&r->cat_mu);
        for (cat_entry *e = r->tables, *next; e != NULL; e = next) {
            next = e->next;
            dyne__internal__table_meta__free_unpacked(e->meta, NULL);
            free(e);
        }
        r->tables = NULL;
        pthread_rwlock_unlock(&r->cat_mu);
        for (size_t i = 0; i < n; i++)
            router_catalog_put(r, kvs[i].val, kvs[i].val_len);
        dyn_log(DYN_LOG_INFO, "ROUTER-CATALOG", "tables=%zu rev=%lld", n, (long long)*rev);
    }
    dyn_arena_fini(&a);
    return rc;
}

static void
catalog_event(void *arg, const dyn_meta_event *ev)
{
    router *r = arg;
    int64_t rev;

    if (ev->type == DYN_META_EV_COMPACTED) {
        (void)catalog_reload(r, &rev);
        return;
    }
    if (strncmp(ev->key, TABLES_PREFIX, strlen(TABLES_PREFIX)) != 0)
        return;
    if (ev->type == DYN_META_EV_PUT)
        router_catalog_put(r, ev->val, ev->val_len);
    else
        router_catalog_del(r, ev->key + strlen(TABLES_PREFIX));
}

/* ---- storage clients ---- */

dyn_rpc_client *
router_storage(router *r, const char *addr)
{
    client_entry *e;

    pthread_mutex_lock(&r->cl_mu);
    for (e = r->clients; e != NULL; e = e->next)
        if (strcmp(e->addr, addr) == 0)
            break;
    if (e == NULL) {
        e = dyn_xcalloc(1, sizeof *e);
        e->addr = dyn_xstrdup(addr);
        e->client = dyn_rpc_client_new(addr, 2);
        /* a restarting storage node is waited for (within the storage deadline) rather than
         * reported unavailable at once */
        dyn_rpc_client_set_wait_for_ready(e->client, true);
        e->next = r->clients;
        r->clients = e;
    }
    pthread_mutex_unlock(&r->cl_mu);
    return e->client;
}

/* ---- admin thread ---- */

static void
enqueue(router *r, job *j)
{
    pthread_mutex_lock(&r->q_mu);
    if (r->q_tail != NULL)
        r->q_tail->next = j;
    else
        r->q_head = j;
    r->q_tail = j;
    pthread_cond_signal(&r->q_cv);
    pthread_mutex_unlock(&r->q_mu);
}

dyn_err
router_admin_submit(router *r, dyn_rpc_call *call, const ProtobufCMessage *req, router_job_fn fn)
{
    job *j = dyn_arena_zalloc(dyn_rpc_call_arena(call), sizeof *j);

    if (j == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    j->call = call;
    j->req = req;
    j->fn = fn;
    dyn_rpc_call_defer(call);
    enqueue(r, j);
    return DYN_OK;
}

void
router_admin_run(router *r, void (*fn)(router *r, void *arg), void *arg)
{
    job *j = dyn_xcalloc(1, sizeof *j);

    j->plain = fn;
    j->arg = arg;
    enqueue(r, j);
}

static void *
admin_main(void *arg)
{
    router *r = arg;

    for (;;) {
        pthread_mutex_lock(&r->q_mu);
        while (r->q_head == NULL && !r->stopping)
            pthread_cond_wait(&r->q_cv, &r->q_mu);
        job *j = r->q_head;
        if (j == NULL) {   /* stopping and drained */
            pthread_mutex_unlock(&r->q_mu);
            break;
        }
        r->q_head = j->next;
        if (r->q_head == NULL)
            r->q_tail = NULL;
        pthread_mutex_unlock(&r->q_mu);
        if (j->plain != NULL) {
            j->plain(r, j->arg);
            free(j);
        } else {
            j->fn(r, j->call, j->req);   /* finishes the call; j lives in its arena */
        }
    }
    return NULL;
}

/* ---- lifecycle ---- */

dyn_err
router_new(dyn_meta *meta, const router_opts *o, router **out)
{
    router *r = dyn_xcalloc(1, sizeof *r);
    int64_t rev = 0;
    dyn_err rc;

    r->meta = meta;
    r->opts.region = dyn_xstrdup(o->region);
    r->opts.account = dyn_xstrdup(o->account);
    r->opts.storage_deadline_ms = o->storage_deadline_ms > 0 ? o->storage_deadline_ms : 10000;
    pthread_rwlock_init(&r->cat_mu, NULL);
    pthread_mutex_init(&r->cl_mu, NULL);
    pthread_mutex_init(&r->q_mu, NULL);
    pthread_cond_init(&r->q_cv, NULL);

    /* load, then watch from the revision after the snapshot: no event is missed or doubled */
    if ((rc = catalog_reload(r, &rev)) != DYN_OK)
        goto out;
    if ((r->watch = dyn_meta_watch_start(meta, TABLES_PREFIX, rev + 1, catalog_event, r)) == NULL) {
        rc = DYN_EINTERNAL;
        goto out;
    }
    if (pthread_create(&r->admin, NULL, admin_main, r) != 0) {
        rc = DYN_EINTERNAL;
        goto out;
    }
out:
    if (rc != DYN_OK) {
        if (r->watch != NULL)
            dyn_meta_watch_stop(r->watch);
        free((char *)r->opts.region);
        free((char *)r->opts.account);
        free(r);
        r = NULL;
    }
    *out = r;
    return rc;
}

void
router_free(router *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->q_mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->q_cv);
    pthread_mutex_unlock(&r->q_mu);
    pthread_join(r->admin, NULL);
    if (r->watch != NULL)
        dyn_meta_watch_stop(r->watch);
    for (client_entry *e = r->clients, *next; e != NULL; e = next) {
        next = e->next;
        dyn_rpc_client_free(e->client);
        free(e->addr);
        free(e);
    }
    for (cat_entry *e = r->tables, *next; e != NULL; e = next) {
        next = e->next;
        dyne__internal__table_meta__free_unpacked(e->meta, NULL);
        free(e);
    }
    free((char *)r->opts.region);
    free((char *)r->opts.account);
    free(r);
}
