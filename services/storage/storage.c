/* services/storage -- handlers of dyne.internal.Storage over libs/kv. Writes go through the kv
 * committer (group commit, one synced log flush per group) and answer after the flush; reads run
 * on the worker thread against a snapshot. */
#include "services/storage/storage.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/arena/arena.h"
#include "libs/item/item.h"
#include "libs/log/log.h"
#include "libs/req/req.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/storage/changelog.h"

#define PARTITIONS_TABLE "dyn_partitions"

typedef struct partition {
    char *id;                   /* owned */
    char table[96];             /* WiredTiger table name: "p_<id>" */
    Dyne__Internal__CreatePartitionRequest *def;   /* owned (protobuf-c heap): key schema, LSIs */
    const Dyne__Internal__KeySchema *schema;       /* def's */
    char *ttl_attr;             /* owned; NULL: TTL off */
    uint64_t ttl_gen, ttl_built;   /* TTL changes; the last one the expiry index reflects */
    bool gsi;                   /* a global secondary index's: no log, TTL index or LSIs */
    struct partition *next;
} partition;

struct storage {
    dyn_kv *kv;                 /* borrowed */
    pthread_rwlock_t lock;      /* guards the partition list */
    partition *parts;
    size_t nparts;
};

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Partition ids come from the router: "<table id>.<n>"; only these characters reach WiredTiger. */
static bool
partition_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > 80)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static partition *
partition_find_locked(storage *st, const char *id)
{
    for (partition *p = st->parts; p != NULL; p = p->next)
        if (strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

dyn_kv *
storage_kv(storage *st)
{
    return st->kv;
}

bool
storage_partition_table(storage *st, const char *id, char *out, size_t cap)
{
    bool found = false;

    if (id == NULL)
        return false;
    pthread_rwlock_rdlock(&st->lock);
    partition *p = partition_find_locked(st, id);
    if (p != NULL) {
        snprintf(out, cap, "%s", p->table);
        found = true;
    }
    pthread_rwlock_unlock(&st->lock);
    return found;
}

/* Adds the partition a (validated) CreatePartition request or registry record describes. */
static void
partition_add_locked(storage *st, const Dyne__Internal__CreatePartitionRequest *r)
{
    partition *p = dyn_xcalloc(1, sizeof *p);
    const char *id = r->partition_id, *ttl_attr = r->ttl_attribute;
    size_t n = dyne__internal__create_partition_request__get_packed_size(r);
    uint8_t *buf = dyn_xmalloc(n ? n : 1);

    p->id = dyn_xstrdup(id);
    snprintf(p->table, sizeof p->table, "p_%s", id);
    p->gsi = r->has_gsi && r->gsi;
    if (!p->gsi && ttl_attr != NULL && ttl_attr[0] != '\0') {
        p->ttl_attr = dyn_xstrdup(ttl_attr);
        /* the expiry index is rebuilt (in the background) whenever the partition is loaded
         * with TTL on: a crash may have cut an earlier rebuild short */
        p->ttl_gen = 1;
    }
    dyne__internal__create_partition_request__pack(r, buf);
    p->def = dyne__internal__create_partition_request__unpack(NULL, n, buf);
    free(buf);
    p->schema = p->def != NULL ? p->def->key_schema : NULL;
    p->next = st->parts;
    st->parts = p;
    st->nparts++;
}

static void
partition_free(partition *p)
{
    if (p->def != NULL)
        dyne__internal__create_partition_request__free_unpacked(p->def, NULL);
    free(p->ttl_attr);
    free(p->id);
    free(p);
}

dyn_err
storage_new(dyn_kv *kv, storage **out)
{
    storage *st = dyn_xcalloc(1, sizeof *st);
    dyn_kv_txn *txn = NULL;
    dyn_kv_iter *it = NULL;
    dyn_err rc;

    st->kv = kv;
    pthread_rwlock_init(&st->lock, NULL);
    if ((rc = dyn_kv_table_create(kv, PARTITIONS_TABLE)) != DYN_OK)
        goto out;
    if ((rc = dyn_kv_read_begin(kv, &txn)) != DYN_OK)
        goto out;
    if ((rc = dyn_kv_iter_open(txn, PARTITIONS_TABLE, NULL, 0, NULL, 0, false, &it)) != DYN_OK)
        goto out;
    for (;;) {
        const void *k, *v;
        size_t kl, vl;
        if ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) != DYN_OK)
            break;
        Dyne__Internal__CreatePartitionRequest *r =
            dyne__internal__create_partition_request__unpack(NULL, vl, v);
        if (r == NULL || !partition_id_ok(r->partition_id) || r->key_schema == NULL) {
            dyn_log(DYN_LOG_ERROR, "STORAGE-PARTITION-CORRUPT", "key=%.*s", (int)kl,
                    (const char *)k);
        } else {
            partition_add_locked(st, r);
        }
        if (r != NULL)
            dyne__internal__create_partition_request__free_unpacked(r, NULL);
    }
    if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
out:
    if (it != NULL)
        dyn_kv_iter_close(it);
    if (txn != NULL)
        dyn_kv_read_end(txn);
    if (rc != DYN_OK) {
        storage_free(st);
        st = NULL;
    }
    *out = st;
    return rc;
}

void
storage_free(storage *st)
{
    partition *p, *next;

    if (st == NULL)
        return;
    for (p = st->parts; p != NULL; p = next) {
        next = p->next;
        partition_free(p);
    }
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

size_t
storage_partition_count(storage *st)
{
    pthread_rwlock_rdlock(&st->lock);
    size_t n = st->nparts;
    pthread_rwlock_unlock(&st->lock);
    return n;
}

size_t
storage_partitions(storage *st, char ***ids, char ***tables)
{
    pthread_rwlock_rdlock(&st->lock);
    size_t n = 0, cap = st->nparts;
    *ids = dyn_xcalloc(cap ? cap : 1, sizeof **ids);
    *tables = dyn_xcalloc(cap ? cap : 1, sizeof **tables);
    for (partition *p = st->parts; p != NULL && n < cap; p = p->next, n++) {
        const char *t = p->def != NULL ? p->def->table_name : NULL;
        (*ids)[n] = dyn_xstrdup(p->id);
        (*tables)[n] = dyn_xstrdup(t != NULL ? t : "");
    }
    pthread_rwlock_unlock(&st->lock);
    return n;
}

void
storage_call_table(storage *st, dyn_rpc_call *call, const char *id)
{
    if (id == NULL)
        return;
    pthread_rwlock_rdlock(&st->lock);
    partition *p = partition_find_locked(st, id);
    const char *t = p != NULL && p->def != NULL ? p->def->table_name : NULL;
    if (t != NULL)
        dyn_rpc_call_set_table(call, dyn_arena_strdup(dyn_rpc_call_arena(call), t));
    pthread_rwlock_unlock(&st->lock);
}

/* ---- CreatePartition / DropPartition ---- */

typedef struct meta_write {
    const char *id;
    const void *val;
    size_t vlen;   /* 0: delete */
} meta_write;

static dyn_err
apply_meta(dyn_kv_txn *txn, void *arg)
{
    meta_write *w = arg;
    dyn_err rc;

    if (w->vlen == 0) {
        rc = dyn_kv_del(txn, PARTITIONS_TABLE, w->id, strlen(w->id));
        return rc == DYN_ENOTFOUND ? DYN_OK : rc;
    }
    return dyn_kv_put(txn, PARTITIONS_TABLE, w->id, strlen(w->id), w->val, w->vlen);
}

static pthread_mutex_t create_mu = PTHREAD_MUTEX_INITIALIZER;   /* one CreatePartition at a time */

static bool
key_type_ok(const char *t)
{
    return t != NULL && (strcmp(t, "S") == 0 || strcmp(t, "N") == 0 || strcmp(t, "B") == 0);
}

/* The LSI definitions of a CreatePartition request (the router has validated CreateTable; this
 * only guards the registry against what the write path could not handle). */
static bool
lsis_ok(const Dyne__Internal__CreatePartitionRequest *req)
{
    if (req->n_lsis > STORAGE_LSI_MAX || (req->n_lsis > 0 && req->key_schema->sk_name == NULL))
        return false;
    for (size_t i = 0; i < req->n_lsis; i++) {
        const Dyne__Internal__LsiDef *l = req->lsis[i];
        const char *pt = l->projection_type;
        if (l->name == NULL || l->sk_name == NULL || !key_type_ok(l->sk_type) || pt == NULL ||
            (strcmp(pt, "ALL") != 0 && strcmp(pt, "KEYS_ONLY") != 0 && strcmp(pt, "INCLUDE") != 0))
            return false;
        for (size_t j = 0; j < l->n_non_key_attributes; j++)
            if (l->non_key_attributes[j] == NULL)
                return false;
    }
    return true;
}

static dyn_err
h_create_partition(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__CreatePartitionRequest *req = (const void *)m;
    storage *st = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__CreatePartitionResponse *out;
    char table[96];
    dyn_err rc;

    /* the table class picks the item and index tables' storage settings (libs/kv); the log,
     * expiry and bookkeeping tables are small or short-lived and stay STANDARD */
    const char *tc = req->table_class;
    dyn_kv_class cls = tc != NULL && strcmp(tc, "STANDARD_INFREQUENT_ACCESS") == 0
                           ? DYN_KV_CLASS_INFREQUENT
                           : DYN_KV_CLASS_STANDARD;
    if (!partition_id_ok(req->partition_id) || req->key_schema == NULL ||
        req->key_schema->pk_name == NULL || req->key_schema->pk_type == NULL || !lsis_ok(req) ||
        (tc != NULL && tc[0] != '\0' && strcmp(tc, "STANDARD") != 0 &&
         cls != DYN_KV_CLASS_INFREQUENT))
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "bad CreatePartition request");
    /* a GSI partition holds index entries only (docs/decisions.md, "Global secondary indexes"):
     * an LSI on it is a planning error; a TTL attribute (the table's) is ignored */
    bool gsi = req->has_gsi && req->gsi;
    if (gsi && req->n_lsis > 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "a GSI partition has no LSIs");
    snprintf(table, sizeof table, "p_%s", req->partition_id);
    if ((rc = dyn_kv_table_create_class(st->kv, table, cls)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "cannot create partition table");
    if (!gsi && (rc = storage_log_tables_create(st->kv, req->partition_id)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "cannot create partition log tables");
    if (!gsi &&
        (rc = storage_lsi_tables_create(st->kv, req->partition_id, req->n_lsis, cls)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "cannot create partition index tables");

    size_t n = dyne__internal__create_partition_request__get_packed_size(req);
    uint8_t *buf = dyn_arena_alloc(a, n ? n : 1);
    if (buf == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__create_partition_request__pack(req, buf);
    meta_write w = { req->partition_id, buf, n };
    /* the registry write is synced before we answer: a partition the router was told exists
     * survives a crash. The registry lock is not held across it: the committer's applies read
     * the registry (storage_partition_get), so holding it would deadlock; create_mu keeps two
     * creates of one id from racing instead. */
    pthread_mutex_lock(&create_mu);
    pthread_rwlock_rdlock(&st->lock);
    bool exists = partition_find_locked(st, req->partition_id) != NULL;
    pthread_rwlock_unlock(&st->lock);
    if (!exists && (rc = dyn_kv_write(st->kv, apply_meta, &w)) == DYN_OK) {
        pthread_rwlock_wrlock(&st->lock);
        partition_add_locked(st, req);
        pthread_rwlock_unlock(&st->lock);
    }
    pthread_mutex_unlock(&create_mu);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "cannot record partition");
    dyn_log(DYN_LOG_INFO, "STORAGE-PARTITION-CREATE",
            "partition=%s table=%s lsis=%zu class=%s gsi=%d", req->partition_id,
            req->table_name ? req->table_name : "", req->n_lsis,
            cls == DYN_KV_CLASS_INFREQUENT ? "STANDARD_INFREQUENT_ACCESS" : "STANDARD", gsi);
    if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL)
        return DYN_ENOMEM;
    dyne__internal__create_partition_response__init(out);
    *resp = &out->base;
    return DYN_OK;
}

static dyn_err
h_drop_partition(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__DropPartitionRequest *req = (const void *)m;
    storage *st = ctx;
    Dyne__Internal__DropPartitionResponse *out;
    partition *p = NULL, **pp;
    dyn_err rc = DYN_OK;

    if (!partition_id_ok(req->partition_id))
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "bad DropPartition request");
    meta_write w = { req->partition_id, NULL, 0 };
    pthread_rwlock_wrlock(&st->lock);
    for (pp = &st->parts; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->id, req->partition_id) == 0) {
            p = *pp;
            *pp = p->next;
            st->nparts--;
            break;
        }
    pthread_rwlock_unlock(&st->lock);
    /* dropping an unknown partition succeeds: DeleteTable retries must be idempotent */
    if (p != NULL) {
        if ((rc = dyn_kv_write(st->kv, apply_meta, &w)) == DYN_OK) {
            rc = dyn_kv_table_drop(st->kv, p->table);
            if (rc == DYN_ENOTFOUND)
                rc = DYN_OK;
        }
        if (rc == DYN_OK)
            rc = storage_log_tables_drop(st->kv, p->id);
        if (rc == DYN_OK && p->def != NULL)
            rc = storage_lsi_tables_drop(st->kv, p->id, p->def->n_lsis);
        dyn_log(DYN_LOG_INFO, "STORAGE-PARTITION-DROP", "partition=%s rc=%s", p->id,
                dyn_err_name(rc));
        storage_feed_forget(p->id);
        partition_free(p);
    }
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "cannot drop partition");
    if ((out = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *out)) == NULL)
        return DYN_ENOMEM;
    dyne__internal__drop_partition_response__init(out);
    *resp = &out->base;
    return DYN_OK;
}

/* ---- the partition state the change log and the TTL index need (changelog.h) ---- */

/* "<c>_<id>" into out[96]; n <= 87 (storage_part.id's room). */
static void
part_table(char out[96], char c, const char *id, size_t n)
{
    out[0] = c;
    out[1] = '_';
    memcpy(out + 2, id, n);
    out[2 + n] = '\0';
}

/* Every write and every Range builds these: memcpy, where six snprintf calls were 2% of a Put's
 * instructions (callgrind, docs/benchmarks.md). */
void
storage_part_tables(const char *id, storage_part *out)
{
    size_t n = strnlen(id, sizeof out->id - 1);

    memcpy(out->id, id, n);
    out->id[n] = '\0';
    part_table(out->items, 'p', out->id, n);
    part_table(out->log, 'l', out->id, n);
    part_table(out->expiry, 'x', out->id, n);
    part_table(out->consumers, 'c', out->id, n);
    part_table(out->sizes, 's', out->id, n);
}

/* Copies LSI definition d into l (strings in arena a); false when a is out of memory. */
static bool
lsi_copy(const char *id, size_t n, const Dyne__Internal__LsiDef *d, dyn_arena *a, storage_lsi *l)
{
    storage_lsi_table_name(id, n, l->table, sizeof l->table);
    l->name = dyn_arena_strdup(a, d->name);
    l->sk_name = dyn_arena_strdup(a, d->sk_name);
    l->sk_type = d->sk_type[0];
    l->proj = strcmp(d->projection_type, "ALL") == 0 ? 'A'
              : strcmp(d->projection_type, "KEYS_ONLY") == 0 ? 'K'
                                                             : 'I';
    l->n_non_key = d->n_non_key_attributes;
    l->non_key = dyn_arena_alloc(a, sizeof *l->non_key * (l->n_non_key ? l->n_non_key : 1));
    if (l->name == NULL || l->sk_name == NULL || l->non_key == NULL)
        return false;
    for (size_t i = 0; i < l->n_non_key; i++)
        if ((l->non_key[i] = dyn_arena_strdup(a, d->non_key_attributes[i])) == NULL)
            return false;
    return true;
}

static char
schema_type(const char *t)
{
    return t != NULL && t[0] != '\0' ? t[0] : 'S';
}

bool
storage_partition_get(storage *st, const char *id, dyn_arena *a, storage_part *out)
{
    bool ok = false;

    memset(out, 0, sizeof *out);
    if (id == NULL || strlen(id) > 80)
        return false;
    pthread_rwlock_rdlock(&st->lock);
    partition *p = partition_find_locked(st, id);
    if (p == NULL || p->schema == NULL || p->schema->pk_name == NULL)
        goto out;
    storage_part_tables(id, out);
    out->ks.pk_name = dyn_arena_strdup(a, p->schema->pk_name);
    out->ks.pk_type = schema_type(p->schema->pk_type);
    if (p->schema->sk_name != NULL) {
        out->ks.sk_name = dyn_arena_strdup(a, p->schema->sk_name);
        out->ks.sk_type = schema_type(p->schema->sk_type);
    }
    out->ttl_attr = p->ttl_attr ? dyn_arena_strdup(a, p->ttl_attr) : NULL;
    out->ttl_gen = p->ttl_gen;
    out->gsi = p->gsi;
    ok = out->ks.pk_name != NULL && (p->schema->sk_name == NULL || out->ks.sk_name != NULL) &&
         (p->ttl_attr == NULL || out->ttl_attr != NULL);
    for (size_t i = 0; ok && i < p->def->n_lsis && i < STORAGE_LSI_MAX; i++) {
        ok = lsi_copy(id, i, p->def->lsis[i], a, &out->lsis[i]);
        out->n_lsis = i + 1;
    }
out:
    pthread_rwlock_unlock(&st->lock);
    return ok;
}

bool
storage_partition_gsi(storage *st, const char *id)
{
    pthread_rwlock_rdlock(&st->lock);
    partition *p = partition_find_locked(st, id);
    bool gsi = p != NULL && p->gsi;
    pthread_rwlock_unlock(&st->lock);
    return gsi;
}

char **
storage_partition_ids(storage *st, size_t *n)
{
    pthread_rwlock_rdlock(&st->lock);
    char **ids = dyn_xcalloc(st->nparts + 1, sizeof *ids);
    size_t i = 0;
    for (partition *p = st->parts; p != NULL; p = p->next)
        ids[i++] = dyn_xstrdup(p->id);
    pthread_rwlock_unlock(&st->lock);
    *n = i;
    return ids;
}

dyn_err
storage_partition_set_ttl(storage *st, const char *id, const char *attr)
{
    Dyne__Internal__CreatePartitionRequest *r = NULL;
    dyn_kv_txn *txn = NULL;
    dyn_arena a;
    void *val;
    size_t vlen;
    dyn_err rc;

    if (attr != NULL && attr[0] == '\0')
        attr = NULL;
    /* the router pushes a table's TTL to its partitions; an index's have no expiry index */
    if (storage_partition_gsi(st, id))
        return DYN_OK;
    dyn_arena_init(&a, 1u << 20);
    /* one change at a time, like creates: the record is read, changed and written whole */
    pthread_mutex_lock(&create_mu);
    if ((rc = dyn_kv_read_begin(st->kv, &txn)) != DYN_OK)
        goto out;
    rc = dyn_kv_get(txn, PARTITIONS_TABLE, id, strlen(id), &a, &val, &vlen);
    dyn_kv_read_end(txn);
    if (rc == DYN_ENOTFOUND)
        rc = DYN_ENOTABLE;
    if (rc != DYN_OK)
        goto out;
    if ((r = dyne__internal__create_partition_request__unpack(NULL, vlen, val)) == NULL) {
        rc = DYN_EINTERNAL;
        goto out;
    }
    bool same = (attr == NULL && (r->ttl_attribute == NULL || r->ttl_attribute[0] == '\0')) ||
                (attr != NULL && r->ttl_attribute != NULL && strcmp(attr, r->ttl_attribute) == 0);
    if (!same) {
        char *was = r->ttl_attribute;   /* r's own, freed with r: put back after packing */
        r->ttl_attribute = (char *)attr;
        size_t n = dyne__internal__create_partition_request__get_packed_size(r);
        uint8_t *buf = dyn_arena_alloc(&a, n ? n : 1);
        if (buf != NULL)
            dyne__internal__create_partition_request__pack(r, buf);
        r->ttl_attribute = was;
        if (buf == NULL) {
            rc = DYN_ENOMEM;
            goto out;
        }
        meta_write w = { id, buf, n };
        if ((rc = dyn_kv_write(st->kv, apply_meta, &w)) != DYN_OK)
            goto out;
    }
    pthread_rwlock_wrlock(&st->lock);
    partition *p = partition_find_locked(st, id);
    if (p == NULL) {
        rc = DYN_ENOTABLE;
    } else if (!((attr == NULL && p->ttl_attr == NULL) ||
                 (attr != NULL && p->ttl_attr != NULL && strcmp(attr, p->ttl_attr) == 0))) {
        free(p->ttl_attr);
        p->ttl_attr = attr ? dyn_xstrdup(attr) : NULL;
        p->ttl_gen++;
    }
    pthread_rwlock_unlock(&st->lock);
out:
    pthread_mutex_unlock(&create_mu);
    if (r != NULL)
        dyne__internal__create_partition_request__free_unpacked(r, NULL);
    dyn_arena_fini(&a);
    return rc;
}

bool
storage_partition_ttl_pending(storage *st, const char *id, uint64_t *gen)
{
    bool pending = false;

    pthread_rwlock_rdlock(&st->lock);
    partition *p = partition_find_locked(st, id);
    if (p != NULL && p->ttl_built != p->ttl_gen) {
        pending = true;
        *gen = p->ttl_gen;
    }
    pthread_rwlock_unlock(&st->lock);
    return pending;
}

bool
storage_partition_ttl_built(storage *st, const char *id, uint64_t gen)
{
    bool current = false;

    pthread_rwlock_wrlock(&st->lock);
    partition *p = partition_find_locked(st, id);
    if (p != NULL && p->ttl_gen == gen) {
        p->ttl_built = gen;
        current = true;
    }
    pthread_rwlock_unlock(&st->lock);
    return current;
}

/* ---- Put / Delete / Update: through the committer ---- */

typedef enum { WRITE_PUT, WRITE_DELETE, WRITE_UPDATE } write_kind;

typedef struct write_op {
    dyn_rpc_call *call;
    storage *st;
    write_kind kind;
    char table[96];
    const uint8_t *key;
    size_t klen;
    const unsigned char *val;   /* PUT: the encoded item */
    size_t vlen;
    bool return_old;            /* PUT/DELETE: ReturnValues ALL_OLD */
    bool old_on_fail;           /* ReturnValuesOnConditionCheckFailure ALL_OLD */
    const char *return_values;  /* UPDATE: NONE, ALL_OLD, UPDATED_OLD, ALL_NEW, UPDATED_NEW */
    const dyn_expr *cond;       /* ConditionExpression / Expected; NULL: unconditional */
    const dyn_expr *update;     /* UPDATE: UpdateExpression / AttributeUpdates */
    const Dyne__V1__AttributeValueMap *key_item;   /* UPDATE: the Key, the item if none exists */
    /* results of the last apply (it may run again on the committer's re-run path) */
    Dyne__V1__AttributeValueMap *old_item, *new_item;   /* call arena */
    const char *errmsg;         /* DynamoDB's message for a failed update */
    uint64_t lsn;               /* the change's LSN; 0 when the write changed nothing */
    size_t n_lsis;              /* the table's LSIs: */
    const char *lsi_names[STORAGE_LSI_MAX];   /* call arena */
    double lsi_units[STORAGE_LSI_MAX];        /* index write units of this write */
    int64_t coll_size;          /* the item collection's bytes after the write */
    Dyne__Internal__GsiDef *const *gsis;   /* the table's GSIs (request; may be none) */
    size_t n_gsis;
    double *gsi_units;          /* per gsis: this write's units on each (call arena) */
    int64_t deadline_ns;        /* monotonic; past it the write is refused, not applied */
} write_op;

/* The new image of an UpdateItem into w->new_item and its encoding; writes nothing. */
static dyn_err
apply_update(write_op *w, dyn_arena *a, unsigned char **val, size_t *vlen)
{
    const char *key_names[2] = { NULL, NULL };
    dyn_err rc;

    for (size_t i = 0; i < w->key_item->n_values && i < 2; i++)
        key_names[i] = w->key_item->values[i]->key;
    if (w->update == NULL) {
        /* UpdateItem without updates still creates the item from its key, as DynamoDB does */
        w->new_item = w->old_item ? w->old_item : (Dyne__V1__AttributeValueMap *)w->key_item;
        return dyn_item_encode(w->new_item, a, val, vlen);
    }
    rc = dyn_expr_apply_update(w->update, w->old_item ? w->old_item : w->key_item, key_names, a,
                               &w->new_item, &w->errmsg);
    if (rc != DYN_OK)
        return rc;
    if (dyn_item_size(w->new_item) > DYN_ITEM_MAX_SIZE) {
        w->errmsg = "Item size to update has exceeded the maximum allowed size";
        return DYN_EVALIDATION;
    }
    return dyn_item_encode(w->new_item, a, val, vlen);
}

/* Runs on the committer (maybe more than once: see dyn_kv_submit). The item, its LSI entries,
 * its item collection's size, its expiry-index entry and its change record are written in this
 * one transaction, or nothing is: a failed condition, a delete of a missing item and a write that
 * leaves the item as it was change nothing and get no LSN (DynamoDB Streams shows no record for
 * them either). Every check (LSI key types, the collection limit) runs before the first write. */
static dyn_err
apply_write(dyn_kv_txn *txn, void *arg)
{
    write_op *w = arg;
    dyn_arena *a = dyn_rpc_call_arena(w->call);
    storage_part part;
    storage_lsi_plan plan;
    void *old = NULL;
    size_t old_len = 0;
    unsigned char *val = NULL;
    size_t vlen = 0;
    dyn_err rc;

    /* the caller (the router, for its client) has given up by now: applying the write later
     * could overwrite a newer acknowledged one, so it fails without writing */
    if (w->deadline_ns != 0 && mono_ns() > w->deadline_ns) {
        w->errmsg = "Request timed out before it was applied";
        return DYN_EDEADLINE;
    }
    w->old_item = w->new_item = NULL;
    w->errmsg = NULL;
    w->lsn = 0;
    w->coll_size = 0;
    memset(w->lsi_units, 0, sizeof w->lsi_units);
    for (size_t i = 0; i < w->n_gsis; i++)
        w->gsi_units[i] = 0;
    /* the partition may have been dropped since the request was routed */
    if (!storage_partition_get(w->st, w->table + 2, a, &part))
        return DYN_ENOTABLE;
    w->n_lsis = part.n_lsis;
    for (size_t i = 0; i < part.n_lsis; i++)
        w->lsi_names[i] = part.lsis[i].name;
    /* the old image is always read: conditions, return values, indexes and the change record */
    rc = dyn_kv_get(txn, w->table, w->key, w->klen, a, &old, &old_len);
    if (rc == DYN_OK)
        rc = dyn_item_decode(old, old_len, a, &w->old_item);
    if (rc != DYN_OK && rc != DYN_ENOTFOUND)
        return rc;
    if (w->kind == WRITE_PUT) {
        /* a PutItem's item is validated before its condition, as DynamoDB does */
        val = (unsigned char *)w->val;
        vlen = w->vlen;
        if ((rc = dyn_item_decode(val, vlen, a, &w->new_item)) != DYN_OK)
            return rc;
        if ((rc = storage_lsi_check(&part, w->new_item, a, &w->errmsg)) != DYN_OK)
            return rc;
    }
    if (w->cond != NULL) {
        /* evaluated on the committer thread, which serialises every write of this node: no
         * other write can slip in between this check and the write below */
        bool ok = false;
        if ((rc = dyn_expr_eval_condition(w->cond, w->old_item, &ok)) != DYN_OK)
            return rc;
        if (!ok)
            return DYN_ECONDFAIL;   /* nothing written, as the committer's contract asks */
    }
    switch (w->kind) {
    case WRITE_PUT:
        break;
    case WRITE_DELETE:
        if (w->old_item == NULL)
            return storage_lsi_collection_size(txn, &part, w->key, w->klen, a, &w->coll_size);
        break;
    case WRITE_UPDATE:
        if ((rc = apply_update(w, a, &val, &vlen)) != DYN_OK)
            return rc;
        if ((rc = storage_lsi_check(&part, w->new_item, a, &w->errmsg)) != DYN_OK)
            return rc;
        break;
    default:
        return DYN_EINTERNAL;
    }
    /* the canonical encoding makes equal items equal bytes */
    if (w->new_item != NULL && w->old_item != NULL && vlen == old_len &&
        memcmp(val, old, vlen) == 0)
        return storage_lsi_collection_size(txn, &part, w->key, w->klen, a, &w->coll_size);
    /* the log and the indexes carry the item as stored (canonical numbers), not as the update
     * spelled it */
    Dyne__V1__AttributeValueMap *stored = w->new_item;
    if (w->kind == WRITE_UPDATE && (rc = dyn_item_decode(val, vlen, a, &stored)) != DYN_OK)
        return rc;
    if ((rc = storage_lsi_plan_write(txn, &part, w->key, w->klen, w->old_item, stored, a,
                                     &plan)) != DYN_OK) {
        if (rc == DYN_ECOLLECTION)
            w->errmsg = "Collection size exceeded";
        return rc;
    }
    if (w->new_item != NULL)
        rc = dyn_kv_put(txn, w->table, w->key, w->klen, val, vlen);
    else
        rc = dyn_kv_del(txn, w->table, w->key, w->klen);
    if (rc != DYN_OK)
        return rc;
    if ((rc = storage_lsi_apply(txn, &part, &plan)) != DYN_OK)
        return rc;
    for (size_t i = 0; i < part.n_lsis; i++)
        w->lsi_units[i] = plan.ix[i].units;
    w->coll_size = plan.coll_after;
    /* the GSIs' entries are the indexer's to write (from the change record); here only what
     * this write costs each index */
    for (size_t i = 0; i < w->n_gsis; i++)
        if ((rc = storage_gsi_units(&part.ks, w->gsis[i], w->old_item, stored, a,
                                    &w->gsi_units[i])) != DYN_OK)
            return rc;
    /* a GSI partition's rows are index entries the indexer writes: no expiry index, no log */
    if (part.gsi)
        return DYN_OK;
    if ((rc = storage_ttl_index(txn, &part, w->key, w->klen, w->old_item, stored, a)) != DYN_OK)
        return rc;
    bool log;
    if ((rc = storage_log_wanted(txn, &part, a, &log)) != DYN_OK || !log)
        return rc;   /* no consumer: no record, and w->lsn stays 0 (no feed notice) */
    return storage_log_append(txn, &part, a, w->key, w->klen, w->old_item, stored, "", &w->lsn);
}

/* ReturnValues of an UpdateItem, from the images the apply left. */
static dyn_err
update_attributes(write_op *w, dyn_arena *a, Dyne__V1__AttributeValueMap **out)
{
    const char *rv = w->return_values ? w->return_values : "NONE";

    *out = NULL;
    if (strcmp(rv, "ALL_OLD") == 0)
        *out = w->old_item;
    else if (strcmp(rv, "ALL_NEW") == 0)
        *out = w->new_item;
    else if (strcmp(rv, "UPDATED_OLD") == 0 && w->old_item != NULL && w->update != NULL)
        return dyn_expr_project(w->update, w->old_item, a, out);
    else if (strcmp(rv, "UPDATED_NEW") == 0 && w->update != NULL)
        return dyn_expr_project(w->update, w->new_item, a, out);
    return DYN_OK;
}

/* The LSI part of a write's answer: the index writes and the item collection's size (tables
 * with LSIs only). Put, Delete and Update responses share the field numbers but not the C
 * struct, so the caller points at its own fields. */
static dyn_err
lsi_answer(write_op *w, dyn_arena *a, size_t *n_writes, Dyne__Internal__LsiWrite ***writes,
           protobuf_c_boolean *has_coll, int64_t *coll)
{
    if (w->n_lsis == 0)
        return DYN_OK;
    *has_coll = true;
    *coll = w->coll_size;
    if ((*writes = dyn_arena_alloc(a, sizeof **writes * w->n_lsis)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < w->n_lsis; i++) {
        if (w->lsi_units[i] <= 0)
            continue;
        Dyne__Internal__LsiWrite *x = dyn_arena_alloc(a, sizeof *x);
        if (x == NULL)
            return DYN_ENOMEM;
        dyne__internal__lsi_write__init(x);
        x->index_name = (char *)w->lsi_names[i];
        x->has_units = true;
        x->units = w->lsi_units[i];
        (*writes)[(*n_writes)++] = x;
    }
    return DYN_OK;
}

/* The GSI part of a write's answer: the units of each index the write touched (request gsis
 * only; an index it costs nothing is left out, as for LSIs). */
static dyn_err
gsi_answer(write_op *w, dyn_arena *a, size_t *n_writes, Dyne__Internal__LsiWrite ***writes)
{
    if (w->n_gsis == 0)
        return DYN_OK;
    if ((*writes = dyn_arena_alloc(a, sizeof **writes * w->n_gsis)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < w->n_gsis; i++) {
        if (w->gsi_units[i] <= 0)
            continue;
        Dyne__Internal__LsiWrite *x = dyn_arena_alloc(a, sizeof *x);
        if (x == NULL)
            return DYN_ENOMEM;
        dyne__internal__lsi_write__init(x);
        x->index_name = w->gsis[i]->name;
        x->has_units = true;
        x->units = w->gsi_units[i];
        (*writes)[(*n_writes)++] = x;
    }
    return DYN_OK;
}

/* Runs on the committer (or libs/kv's finisher) thread once the group is durable. */
static void
write_done(void *arg, dyn_err rc)
{
    write_op *w = arg;
    dyn_arena *a = dyn_rpc_call_arena(w->call);
    Dyne__V1__AttributeValueMap *old = w->return_old ? w->old_item : NULL;
    ProtobufCMessage *resp = NULL;

    /* The three write answers share their fields (sizes, LSN, LSI and GSI writes, collection
     * size); only Put/Delete's old_item and Update's attributes differ. */
#define WRITE_ANSWER(type, init, extra)                                                        \
    do {                                                                                       \
        type *out = dyn_arena_alloc(a, sizeof *out);                                           \
        if (out == NULL) {                                                                     \
            rc = DYN_ENOMEM;                                                                   \
            break;                                                                             \
        }                                                                                      \
        init(out);                                                                             \
        out->has_old_size = out->has_new_size = true;                                          \
        out->old_size = w->old_item ? (int64_t)dyn_item_size(w->old_item) : 0;                 \
        out->new_size = w->new_item ? (int64_t)dyn_item_size(w->new_item) : 0;                 \
        out->has_lsn = w->lsn != 0;                                                            \
        out->lsn = w->lsn;                                                                     \
        rc = lsi_answer(w, a, &out->n_lsi_writes, &out->lsi_writes, &out->has_collection_size, \
                        &out->collection_size);                                                \
        if (rc == DYN_OK)                                                                      \
            rc = gsi_answer(w, a, &out->n_gsi_writes, &out->gsi_writes);                       \
        extra;                                                                                 \
        resp = &out->base;                                                                     \
    } while (0)
    if (rc == DYN_OK && w->kind == WRITE_PUT)
        WRITE_ANSWER(Dyne__Internal__PutResponse, dyne__internal__put_response__init,
                     out->old_item = old);
    else if (rc == DYN_OK && w->kind == WRITE_DELETE)
        WRITE_ANSWER(Dyne__Internal__DeleteResponse, dyne__internal__delete_response__init,
                     out->old_item = old);
    else if (rc == DYN_OK)
        WRITE_ANSWER(Dyne__Internal__UpdateResponse, dyne__internal__update_response__init,
                     if (rc == DYN_OK) rc = update_attributes(w, a, &out->attributes));
#undef WRITE_ANSWER
    const char *msg = rc == DYN_OK           ? NULL
                      : w->errmsg != NULL    ? w->errmsg
                      : rc == DYN_ECONDFAIL ? "The conditional request failed"
                                             : "storage write failed";
    if (rc == DYN_ECONDFAIL && w->old_on_fail && w->old_item != NULL) {
        Dyne__V1__ErrorDetail *d = dyn_arena_alloc(a, sizeof *d);
        if (d != NULL) {   /* without memory the error still stands, without its Item */
            dyne__v1__error_detail__init(d);
            d->type = (char *)dyn_err_type(rc);
            d->message = (char *)msg;
            d->item = w->old_item;
            dyn_rpc_call_set_error_detail(w->call, &d->base);
        }
    }
    /* durable now: the change feed may tell consumers (coalesced, off this thread) */
    if (rc == DYN_OK && w->lsn != 0)
        storage_feed_notify(w->table + 2, w->lsn);
    dyn_rpc_call_finish(w->call, rc, rc == DYN_OK ? resp : NULL, msg);
}

/* Parses the write's condition (and update), then hands it to the committer. */
static dyn_err
submit_write(dyn_rpc_call *call, storage *st, const char *pid, ProtobufCBinaryData key,
             write_op *w, dyn_expr_op op, const dyn_req_cond *c)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    const char *msg = NULL;
    dyn_expr *cond = NULL, *update = NULL;
    dyn_err rc;

    if (key.len == 0 || key.data == NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "missing key");
    if (!storage_partition_table(st, pid, w->table, sizeof w->table))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    storage_call_table(st, call, pid);
    rc = dyn_req_write(op, c, a, &cond, w->kind == WRITE_UPDATE ? &update : NULL, &msg);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid condition");
    w->call = call;
    w->st = st;
    w->key = key.data;
    w->klen = key.len;
    w->cond = cond;
    w->update = update;
    w->old_on_fail = c->old_on_fail;
    for (size_t i = 0; i < w->n_gsis; i++)
        if (w->gsis[i] == NULL || w->gsis[i]->name == NULL || w->gsis[i]->key_schema == NULL ||
            w->gsis[i]->key_schema->pk_name == NULL)
            return dyn_rpc_call_fail(call, DYN_EVALIDATION, "invalid global secondary index");
    if (w->n_gsis > 0 && (w->gsi_units = dyn_arena_zalloc(a, sizeof *w->gsi_units *
                                                                 w->n_gsis)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    int64_t left = dyn_rpc_call_deadline_ms(call);
    w->deadline_ns = left == INT64_MAX ? 0 : mono_ns() + left * 1000000;
    dyn_rpc_call_defer(call);
    dyn_kv_submit(st->kv, apply_write, write_done, w);
    return DYN_OK;
}

/* The condition parameters of a write request: every internal write message has these fields. */
#define REQ_COND(req)                                                                          \
    (dyn_req_cond)                                                                             \
    {                                                                                          \
        .condition_expression = (req)->condition_expression,                                   \
        .names = (dyn_req_str_entry *const *)(req)->expression_attribute_names,                \
        .n_names = (req)->n_expression_attribute_names,                                        \
        .values = (req)->expression_attribute_values,                                          \
        .expected = (const ProtobufCMessage *const *)(req)->expected,                          \
        .n_expected = (req)->n_expected, .conditional_operator = (req)->conditional_operator,  \
        .old_on_fail = (req)->has_return_old_on_condition_failure &&                           \
                       (req)->return_old_on_condition_failure,                                 \
    }

static write_op *
write_new(dyn_rpc_call *call, write_kind kind)
{
    write_op *w = dyn_arena_zalloc(dyn_rpc_call_arena(call), sizeof *w);
    if (w != NULL)
        w->kind = kind;
    return w;
}

static dyn_err
h_put(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__PutRequest *req = (const void *)m;
    dyn_req_cond c = REQ_COND(req);
    write_op *w = write_new(call, WRITE_PUT);
    unsigned char *val;
    size_t vlen;
    dyn_err rc;

    (void)resp;
    if (w == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    if (req->item == NULL)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "missing item");
    if ((rc = dyn_item_encode(req->item, dyn_rpc_call_arena(call), &val, &vlen)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "cannot encode item");
    w->val = val;
    w->vlen = vlen;
    w->return_old = req->has_return_old && req->return_old;
    w->gsis = req->gsis;
    w->n_gsis = req->n_gsis;
    return submit_write(call, ctx, req->partition_id, req->key, w, DYN_EXPR_OP_PUT_ITEM, &c);
}

static dyn_err
h_delete(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__DeleteRequest *req = (const void *)m;
    dyn_req_cond c = REQ_COND(req);
    write_op *w = write_new(call, WRITE_DELETE);

    (void)resp;
    if (w == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    w->return_old = req->has_return_old && req->return_old;
    w->gsis = req->gsis;
    w->n_gsis = req->n_gsis;
    return submit_write(call, ctx, req->partition_id, req->key, w, DYN_EXPR_OP_DELETE_ITEM, &c);
}

static dyn_err
h_update(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__UpdateRequest *req = (const void *)m;
    dyn_req_cond c = REQ_COND(req);
    write_op *w = write_new(call, WRITE_UPDATE);

    (void)resp;
    if (w == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    if (req->key_item == NULL || req->key_item->n_values == 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "missing key item");
    c.update_expression = req->update_expression;
    c.attribute_updates = (const ProtobufCMessage *const *)req->attribute_updates;
    c.n_attribute_updates = req->n_attribute_updates;
    w->key_item = req->key_item;
    w->return_values = req->return_values;
    w->gsis = req->gsis;
    w->n_gsis = req->n_gsis;
    return submit_write(call, ctx, req->partition_id, req->key, w, DYN_EXPR_OP_UPDATE_ITEM, &c);
}

/* ---- Get and stats: snapshot reads on the worker thread ---- */

static dyn_err
h_get(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__GetRequest *req = (const void *)m;
    storage *st = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__GetResponse *out;
    dyn_kv_txn *txn = NULL;
    char table[96];
    void *val;
    size_t vlen;
    dyn_err rc;

    if (req->key.len == 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "missing key");
    if (!storage_partition_table(st, req->partition_id, table, sizeof table))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    storage_call_table(st, call, req->partition_id);
    if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__get_response__init(out);
    if ((rc = dyn_kv_read_begin(st->kv, &txn)) != DYN_OK)
        goto out;
    rc = dyn_kv_get(txn, table, req->key.data, req->key.len, a, &val, &vlen);
    if (rc == DYN_OK)
        rc = dyn_item_decode(val, vlen, a, &out->item);
    else if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
out:
    if (txn != NULL)
        dyn_kv_read_end(txn);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "storage read failed");
    *resp = &out->base;
    return DYN_OK;
}

dyn_err
storage_partition_scan(storage *st, const char *id, int64_t *items, int64_t *bytes)
{
    dyn_kv_txn *txn = NULL;
    dyn_kv_iter *it = NULL;
    char table[96];
    dyn_err rc;

    *items = *bytes = 0;
    if (!storage_partition_table(st, id, table, sizeof table))
        return DYN_ENOTABLE;
    if ((rc = dyn_kv_read_begin(st->kv, &txn)) != DYN_OK)
        goto out;
    if ((rc = dyn_kv_iter_open(txn, table, NULL, 0, NULL, 0, false, &it)) != DYN_OK)
        goto out;
    for (;;) {
        const void *k, *v;
        size_t kl, vl;
        if ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) != DYN_OK)
            break;
        (*items)++;
        *bytes += (int64_t)vl;
    }
    if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
out:
    if (it != NULL)
        dyn_kv_iter_close(it);
    if (txn != NULL)
        dyn_kv_read_end(txn);
    return rc;
}

static dyn_err
h_partition_stats(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                  void *ctx)
{
    const Dyne__Internal__PartitionStatsRequest *req = (const void *)m;
    storage *st = ctx;
    Dyne__Internal__PartitionStatsResponse *out;
    int64_t count = 0, bytes = 0;
    dyn_err rc;

    storage_call_table(st, call, req->partition_id);
    rc = storage_partition_scan(st, req->partition_id, &count, &bytes);
    if (rc == DYN_ENOTABLE)
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "storage stats failed");
    if ((out = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *out)) == NULL)
        return DYN_ENOMEM;
    dyne__internal__partition_stats_response__init(out);
    out->has_item_count = out->has_size_bytes = true;
    out->item_count = count;
    out->size_bytes = bytes;
    *resp = &out->base;
    return DYN_OK;
}

const dyn_rpc_method storage_methods[] = {
    { "Batch", storage_h_batch },
    { "CreatePartition", h_create_partition },
    { "DropPartition", h_drop_partition },
    { "Put", h_put },
    { "Get", h_get },
    { "Delete", h_delete },
    { "Update", h_update },
    { "Range", storage_h_range },
    { "PartitionStats", h_partition_stats },
    { "ReadChanges", storage_h_read_changes },
    { "RegisterConsumer", storage_h_register_consumer },
    { "SetPartitionTtl", storage_h_set_partition_ttl },
    { "ScanExpired", storage_h_scan_expired },
    { NULL, NULL },
};
