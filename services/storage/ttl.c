/* services/storage -- the TTL expiry index of a partition ("x_<id>": be64(expiry second) ||
 * item key), kept by the write path in the item's transaction, rebuilt in the background after
 * the TTL attribute changes, and read by ScanExpired for the TTL reaper. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/log/log.h"
#include "libs/num/num.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "services/storage/changelog.h"

#define TTL_SCAN_MAX 1000      /* ScanExpired keys per call */
#define TTL_REBUILD_BATCH 500  /* index entries or items per rebuild transaction */
#define TTL_ATTR_MAX 255       /* DynamoDB's TimeToLiveAttributeName limit */

static const unsigned char entry_val[1] = { 0 };   /* index entries carry nothing */

static void
be64_put(unsigned char *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t
be64_get(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

bool
storage_ttl_expiry(const Dyne__V1__AttributeValueMap *item, const char *attr, uint64_t *sec)
{
    const Dyne__V1__AttributeValue *v;
    dyn_num n;

    if (item == NULL || attr == NULL)
        return false;
    v = dyn_item_get(item, attr);
    /* DynamoDB ignores a TTL attribute that is not a Number */
    if (v == NULL || v->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_N || v->n == NULL)
        return false;
    if (dyn_num_parse(v->n, strlen(v->n), &n, NULL) != DYN_OK || n.neg)
        return false;
    unsigned __int128 c = n.coef;
    if (n.exp >= 0) {
        /* beyond 10^19 s (past year 10^11) nothing ever expires: no entry */
        if (dyn_num_digits(&n) + n.exp > 19)
            return false;
        for (int32_t i = 0; i < n.exp; i++)
            c *= 10;
    } else {
        for (int32_t i = 0; i < -n.exp && c > 0; i++)
            c /= 10;   /* cut the fraction: exact, no double */
    }
    if (c > INT64_MAX)
        return false;
    *sec = (uint64_t)c;
    return true;
}

/* be64(sec) || key in arena a. */
static unsigned char *
entry_key(dyn_arena *a, uint64_t sec, const void *key, size_t klen)
{
    unsigned char *k = dyn_arena_alloc(a, 8 + klen);
    if (k != NULL) {
        be64_put(k, sec);
        memcpy(k + 8, key, klen);
    }
    return k;
}

dyn_err
storage_ttl_index(dyn_kv_txn *txn, const storage_part *p, const void *key, size_t klen,
                  const Dyne__V1__AttributeValueMap *old_item,
                  const Dyne__V1__AttributeValueMap *new_item, dyn_arena *a)
{
    uint64_t olds = 0, news = 0;
    bool had, has;
    unsigned char *k;
    dyn_err rc;

    if (p->ttl_attr == NULL)
        return DYN_OK;
    had = storage_ttl_expiry(old_item, p->ttl_attr, &olds);
    has = storage_ttl_expiry(new_item, p->ttl_attr, &news);
    if (had == has && olds == news)
        return DYN_OK;
    if (had) {
        if ((k = entry_key(a, olds, key, klen)) == NULL)
            return DYN_ENOMEM;
        /* absent when the item predates the TTL change and the rebuild has not reached it */
        if ((rc = dyn_kv_del(txn, p->expiry, k, 8 + klen)) != DYN_OK && rc != DYN_ENOTFOUND)
            return rc;
    }
    if (has) {
        if ((k = entry_key(a, news, key, klen)) == NULL)
            return DYN_ENOMEM;
        if ((rc = dyn_kv_put(txn, p->expiry, k, 8 + klen, entry_val, sizeof entry_val)) != DYN_OK)
            return rc;
    }
    return DYN_OK;
}

/* ---- rebuilding after a TTL change ---- */

/* Where the rebuild of one partition stands. Only the background thread touches these. */
typedef struct rebuild {
    char *id;                 /* owned */
    uint64_t gen;             /* the TTL change being indexed */
    int phase;                /* 0: drop entries that do not match; 1: index every item */
    unsigned char *resume;    /* owned: last key handled (exclusive start); NULL: from the top */
    size_t resume_len;
    struct rebuild *next;
} rebuild;

static rebuild *rebuilds;

typedef struct rebuild_op {
    storage *st;
    rebuild *rb;
    dyn_arena *a;
    const void *last;         /* arena: the last key handled by this step */
    size_t last_len;
    size_t seen;
    bool stale;               /* the TTL changed again meanwhile */
} rebuild_op;

static dyn_err
rebuild_apply(dyn_kv_txn *txn, void *arg)
{
    rebuild_op *op = arg;
    rebuild *rb = op->rb;
    storage_part p;
    dyn_kv_iter *it = NULL;
    const void *k, *v;
    size_t kl, vl;
    const void *dels[TTL_REBUILD_BATCH];
    size_t dlens[TTL_REBUILD_BATCH], ndel = 0;
    dyn_err rc;

    op->seen = 0;
    op->last = NULL;
    op->stale = false;
    /* read on the committer, in order with the writes: the attribute they index under */
    if (!storage_partition_get(op->st, rb->id, op->a, &p))
        return DYN_ENOTABLE;
    if (p.ttl_gen != rb->gen) {
        op->stale = true;
        return DYN_OK;
    }
    const char *table = rb->phase == 0 ? p.expiry : p.items;
    if ((rc = dyn_kv_iter_open(txn, table, rb->resume, rb->resume_len, NULL, 0, false, &it)) !=
        DYN_OK)
        return rc;
    while (op->seen < TTL_REBUILD_BATCH) {
        if ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) != DYN_OK)
            break;
        if (rb->resume != NULL && kl == rb->resume_len && memcmp(k, rb->resume, kl) == 0)
            continue;
        op->seen++;
        if ((op->last = dyn_arena_memdup(op->a, k, kl)) == NULL) {
            rc = DYN_ENOMEM;
            break;
        }
        op->last_len = kl;
        Dyne__V1__AttributeValueMap *item = NULL;
        uint64_t sec;
        if (rb->phase == 0) {
            /* keep an entry only if the item still expires exactly then */
            void *iv;
            size_t ivl;
            bool keep = false;
            if (kl > 8 && dyn_kv_get(txn, p.items, (const unsigned char *)k + 8, kl - 8, op->a,
                                     &iv, &ivl) == DYN_OK &&
                dyn_item_decode(iv, ivl, op->a, &item) == DYN_OK)
                keep = storage_ttl_expiry(item, p.ttl_attr, &sec) && sec == be64_get(k);
            if (!keep) {
                dels[ndel] = op->last;
                dlens[ndel++] = kl;
            }
        } else if (dyn_item_decode(v, vl, op->a, &item) == DYN_OK &&
                   storage_ttl_expiry(item, p.ttl_attr, &sec)) {
            unsigned char *ek = entry_key(op->a, sec, k, kl);
            if (ek == NULL) {
                rc = DYN_ENOMEM;
                break;
            }
            /* deferred like the deletes: the iterator stays on its own table */
            dels[ndel] = ek;
            dlens[ndel++] = 8 + kl;
        }
    }
    dyn_kv_iter_close(it);
    if (rc != DYN_OK && rc != DYN_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < ndel; i++) {
        if (rb->phase == 0)
            rc = dyn_kv_del(txn, p.expiry, dels[i], dlens[i]);
        else
            rc = dyn_kv_put(txn, p.expiry, dels[i], dlens[i], entry_val, sizeof entry_val);
        if (rc != DYN_OK && rc != DYN_ENOTFOUND)
            return rc;
    }
    return DYN_OK;
}

static rebuild *
rebuild_find(const char *id, bool create)
{
    for (rebuild *rb = rebuilds; rb != NULL; rb = rb->next)
        if (strcmp(rb->id, id) == 0)
            return rb;
    if (!create)
        return NULL;
    rebuild *rb = dyn_xcalloc(1, sizeof *rb);
    rb->id = dyn_xstrdup(id);
    rb->next = rebuilds;
    rebuilds = rb;
    return rb;
}

static void
rebuild_forget(const char *id)
{
    for (rebuild **pp = &rebuilds; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            rebuild *rb = *pp;
            *pp = rb->next;
            free(rb->resume);
            free(rb->id);
            free(rb);
            return;
        }
}

static void
rebuild_reset(rebuild *rb, uint64_t gen)
{
    rb->gen = gen;
    rb->phase = 0;
    free(rb->resume);
    rb->resume = NULL;
    rb->resume_len = 0;
}

bool
storage_ttl_rebuild_step(storage *st, const char *id)
{
    uint64_t gen;
    rebuild *rb;
    dyn_arena a;
    dyn_err rc;

    if (!storage_partition_ttl_pending(st, id, &gen)) {
        rebuild_forget(id);
        return false;
    }
    rb = rebuild_find(id, true);
    if (rb->gen != gen)
        rebuild_reset(rb, gen);
    dyn_arena_init(&a, 64u << 20);
    rebuild_op op = { .st = st, .rb = rb, .a = &a };
    rc = dyn_kv_write(storage_kv(st), rebuild_apply, &op);
    bool more = true;
    if (rc != DYN_OK) {
        if (rc != DYN_ENOTABLE)
            dyn_log(DYN_LOG_WARN, "STORAGE-TTL-REBUILD", "partition=%s phase=%d err=%s", id,
                    rb->phase, dyn_err_name(rc));
        rebuild_forget(id);
        more = false;   /* tried again on the next pass */
    } else if (op.stale) {
        rebuild_forget(id);   /* restarts for the newer change */
    } else if (op.seen < TTL_REBUILD_BATCH) {
        if (rb->phase == 0) {
            rb->phase = 1;
            free(rb->resume);
            rb->resume = NULL;
            rb->resume_len = 0;
        } else {
            if (storage_partition_ttl_built(st, id, gen))
                dyn_log(DYN_LOG_INFO, "STORAGE-TTL-INDEXED", "partition=%s gen=%llu", id,
                        (unsigned long long)gen);
            rebuild_forget(id);
            more = false;
        }
    } else {
        free(rb->resume);
        rb->resume = dyn_xmalloc(op.last_len);
        memcpy(rb->resume, op.last, op.last_len);
        rb->resume_len = op.last_len;
    }
    dyn_arena_fini(&a);
    return more;
}

/* ---- SetPartitionTtl ---- */

dyn_err
storage_h_set_partition_ttl(dyn_rpc_call *call, const ProtobufCMessage *m,
                            ProtobufCMessage **resp, void *ctx)
{
    const Dyne__Internal__SetPartitionTtlRequest *req = (const void *)m;
    storage *st = ctx;
    Dyne__Internal__SetPartitionTtlResponse *out;
    const char *attr = req->attribute_name ? req->attribute_name : "";
    dyn_err rc;

    if (req->partition_id == NULL || strlen(attr) > TTL_ATTR_MAX)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "bad SetPartitionTtl request");
    if ((rc = storage_partition_set_ttl(st, req->partition_id, attr)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, rc == DYN_ENOTABLE ? "Requested resource not found"
                                                              : "cannot record the TTL");
    dyn_log(DYN_LOG_INFO, "STORAGE-TTL-SET", "partition=%s attribute=%s", req->partition_id,
            attr[0] ? attr : "(off)");
    storage_log_kick();   /* index the items written before */
    if ((out = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *out)) == NULL)
        return DYN_ENOMEM;
    dyne__internal__set_partition_ttl_response__init(out);
    *resp = &out->base;
    return DYN_OK;
}

/* ---- ScanExpired ---- */

dyn_err
storage_h_scan_expired(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                       void *ctx)
{
    const Dyne__Internal__ScanExpiredRequest *req = (const void *)m;
    storage *st = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__ScanExpiredResponse *out;
    dyn_kv_txn *txn = NULL;
    dyn_kv_iter *it = NULL;
    storage_part p;
    unsigned char end[8];
    size_t limit = TTL_SCAN_MAX;
    int64_t now = req->has_now ? req->now : (int64_t)time(NULL);
    const void *k, *v;
    size_t kl, vl;
    dyn_err rc = DYN_OK;

    if (!storage_partition_get(st, req->partition_id, a, &p))
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    if (req->has_limit && req->limit > 0 && req->limit < TTL_SCAN_MAX)
        limit = (size_t)req->limit;
    if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__scan_expired_response__init(out);
    out->keys = dyn_arena_alloc(a, sizeof *out->keys * limit);
    out->expires = dyn_arena_alloc(a, sizeof *out->expires * limit);
    if (out->keys == NULL || out->expires == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    if (p.ttl_attr == NULL || now <= 0)
        goto out;
    be64_put(end, (uint64_t)now);   /* entries below 'now' expired: [0, be64(now)) */
    if ((rc = dyn_kv_read_begin(storage_kv(st), &txn)) != DYN_OK)
        goto out;
    if ((rc = dyn_kv_iter_open(txn, p.expiry, NULL, 0, end, sizeof end, false, &it)) != DYN_OK)
        goto out;
    while (out->n_keys < limit) {
        void *iv;
        size_t ivl;
        Dyne__V1__AttributeValueMap *item;
        uint64_t sec;

        if ((rc = dyn_kv_iter_next(it, &k, &kl, &v, &vl)) != DYN_OK)
            break;
        if (kl <= 8)
            continue;
        /* while a rebuild after a TTL change runs, the index may still hold entries of the
         * old attribute: every hit is checked against the item on the same snapshot */
        rc = dyn_kv_get(txn, p.items, (const unsigned char *)k + 8, kl - 8, a, &iv, &ivl);
        if (rc == DYN_ENOTFOUND)
            continue;
        if (rc != DYN_OK || (rc = dyn_item_decode(iv, ivl, a, &item)) != DYN_OK)
            goto out;
        if (!storage_ttl_expiry(item, p.ttl_attr, &sec) || sec != be64_get(k))
            continue;
        out->keys[out->n_keys].data = dyn_arena_memdup(a, (const unsigned char *)k + 8, kl - 8);
        if (out->keys[out->n_keys].data == NULL) {
            rc = DYN_ENOMEM;
            goto out;
        }
        out->keys[out->n_keys].len = kl - 8;
        out->expires[out->n_keys] = (int64_t)sec;
        out->n_keys++;
        out->n_expires++;
    }
    if (rc == DYN_ENOTFOUND)
        rc = DYN_OK;
out:
    if (it != NULL)
        dyn_kv_iter_close(it);
    if (txn != NULL)
        dyn_kv_read_end(txn);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "expiry scan failed");
    *resp = &out->base;
    return DYN_OK;
}
