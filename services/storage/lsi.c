/* services/storage -- local secondary indexes (DESIGN.md §2): each LSI of a partition is a
 * WiredTiger table written in the item's own transaction, plus the per-partition-key item
 * collection sizes that enforce DynamoDB's 10 GB limit and answer ReturnItemCollectionMetrics. */
#include "services/storage/changelog.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "libs/keycodec/keycodec.h"

#define LSI_ROW_OVERHEAD 100   /* bytes DynamoDB adds per item and per index entry (§2.1) */

static _Atomic int64_t collection_limit = (int64_t)10 << 30;

void
storage_set_collection_limit(int64_t bytes)
{
    if (bytes > 0)
        atomic_store(&collection_limit, bytes);
}

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

void
storage_lsi_table_name(const char *id, size_t n, char *out, size_t cap)
{
    snprintf(out, cap, "i_%s_%zu", id, n);
}

dyn_err
storage_lsi_tables_create(dyn_kv *kv, const char *id, size_t n, dyn_kv_class cls)
{
    storage_part p;
    char t[96];
    dyn_err rc;

    if (n == 0)
        return DYN_OK;
    storage_part_tables(id, &p);
    if ((rc = dyn_kv_table_create(kv, p.sizes)) != DYN_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        storage_lsi_table_name(id, i, t, sizeof t);
        if ((rc = dyn_kv_table_create_class(kv, t, cls)) != DYN_OK)
            return rc;
    }
    return DYN_OK;
}

dyn_err
storage_lsi_tables_drop(dyn_kv *kv, const char *id, size_t n)
{
    storage_part p;
    char t[96];
    dyn_err rc = DYN_OK, r;

    if (n == 0)
        return DYN_OK;
    storage_part_tables(id, &p);
    for (size_t i = 0; i <= n; i++) {
        if (i < n)
            storage_lsi_table_name(id, i, t, sizeof t);
        else
            snprintf(t, sizeof t, "%s", p.sizes);
        if ((r = dyn_kv_table_drop(kv, t)) != DYN_OK && r != DYN_ENOTFOUND && rc == DYN_OK)
            rc = r;
    }
    return rc;
}

/* ---- checks ---- */

static char
value_type(const Dyne__V1__AttributeValue *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return 'S';
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        return 'N';
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return 'B';
    default:
        return 0;
    }
}

dyn_err
storage_lsi_check(const storage_part *p, const Dyne__V1__AttributeValueMap *item, dyn_arena *a,
                  const char **msg)
{
    /* DynamoDB reports the last index first (dynalite's AWS-verified traversal) */
    for (size_t i = p->n_lsis; i-- > 0;) {
        const storage_lsi *l = &p->lsis[i];
        const Dyne__V1__AttributeValue *v = dyn_item_get(item, l->sk_name);
        if (v == NULL)
            continue;   /* sparse: not in this index */
        if (value_type(v) != l->sk_type) {
            *msg = dyn_arena_printf(a,
                                    "One or more parameter values were invalid: Type mismatch for "
                                    "Index Key %s Expected: %c Actual: %s IndexName: %s",
                                    l->sk_name, l->sk_type, dyn_item_type_name(v), l->name);
            return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
        }
        size_t len = v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S ? strlen(v->s)
                     : v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_B ? v->b.len
                                                                           : 1;
        if (len == 0) {
            *msg = dyn_arena_printf(a,
                                    "One or more parameter values are not valid. A value specified "
                                    "for a secondary index key is not supported. The AttributeValue "
                                    "for a key attribute cannot contain an empty %s value. "
                                    "IndexName: %s, IndexKey: %s",
                                    l->sk_type == 'S' ? "string" : "binary", l->name, l->sk_name);
            return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
        }
        if (len > DYN_ITEM_SK_MAX) {
            *msg = DYN_ITEM_MSG_SK_TOO_BIG;
            return DYN_EVALIDATION;
        }
    }
    return DYN_OK;
}

/* ---- entries ---- */

/* Length of hash || enc(pk) at the start of an item (or index) key. */
static dyn_err
pk_prefix_len(const storage_part *p, const void *key, size_t klen, dyn_arena *a, size_t *len)
{
    Dyne__V1__AttributeValue *pk;
    size_t off = DYN_KEYCODEC_HASH_LEN;
    dyn_err rc;

    if (klen < off)
        return DYN_EINTERNAL;
    rc = dyn_keycodec_decode_value(a, key, klen, &off, (dyn_key_type)p->ks.pk_type, &pk);
    *len = off;
    return rc;
}

/* The projected entry of item in index l: the whole item for ALL, else the table's keys, the
 * index sort key and INCLUDE's attributes. */
static dyn_err
entry_of(const storage_part *p, const storage_lsi *l, const Dyne__V1__AttributeValueMap *item,
         dyn_arena *a, const Dyne__V1__AttributeValueMap **out)
{
    Dyne__V1__AttributeValueMap *e;
    const char *fixed[3] = { p->ks.pk_name, p->ks.sk_name, l->sk_name };
    dyn_err rc;

    if (l->proj == 'A') {
        *out = item;
        return DYN_OK;
    }
    if ((e = dyn_item_new(a)) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < 3 + l->n_non_key; i++) {
        const char *name = i < 3 ? fixed[i] : l->non_key[i - 3];
        const Dyne__V1__AttributeValue *v = name ? dyn_item_get(item, name) : NULL;
        if (v != NULL && (rc = dyn_item_put(e, name, (Dyne__V1__AttributeValue *)v, a)) != DYN_OK)
            return rc;
    }
    *out = e;
    return DYN_OK;
}

/* The index key of the item stored under key (plen: its hash || enc(pk) part) whose index sort
 * key is sk: hash || enc(pk) || enc(sk) || enc(table sk). */
static dyn_err
index_key(const void *key, size_t klen, size_t plen, const Dyne__V1__AttributeValue *sk,
          dyn_arena *a, unsigned char **out, size_t *olen)
{
    size_t cap = klen + 64, n = plen;
    unsigned char *buf = dyn_arena_alloc(a, cap);
    dyn_err rc;

    if (buf == NULL)
        return DYN_ENOMEM;
    memcpy(buf, key, plen);
    if ((rc = dyn_keycodec_append(a, &buf, &n, &cap, sk)) != DYN_OK)
        return rc;
    if (n + (klen - plen) > cap) {
        unsigned char *bigger = dyn_arena_alloc(a, n + (klen - plen));
        if (bigger == NULL)
            return DYN_ENOMEM;
        memcpy(bigger, buf, n);
        buf = bigger;
    }
    memcpy(buf + n, (const unsigned char *)key + plen, klen - plen);
    *out = buf;
    *olen = n + (klen - plen);
    return DYN_OK;
}

static double
units_of(size_t size)
{
    return size == 0 ? 1.0 : (double)((size + 1023) / 1024);
}

static dyn_err
collection_get(dyn_kv_txn *txn, const storage_part *p, const void *ckey, size_t cklen,
               dyn_arena *a, int64_t *size)
{
    void *v;
    size_t vl;
    dyn_err rc = dyn_kv_get(txn, p->sizes, ckey, cklen, a, &v, &vl);

    *size = 0;
    if (rc == DYN_ENOTFOUND)
        return DYN_OK;
    if (rc != DYN_OK)
        return rc;
    if (vl != 8)
        return DYN_EINTERNAL;
    *size = (int64_t)be64_get(v);
    return DYN_OK;
}

dyn_err
storage_lsi_collection_size(dyn_kv_txn *txn, const storage_part *p, const void *key, size_t klen,
                            dyn_arena *a, int64_t *size)
{
    size_t plen;
    dyn_err rc;

    *size = 0;
    if (p->n_lsis == 0)
        return DYN_OK;
    if ((rc = pk_prefix_len(p, key, klen, a, &plen)) != DYN_OK)
        return rc;
    return collection_get(txn, p, key, plen, a, size);
}

dyn_err
storage_lsi_plan_write(dyn_kv_txn *txn, const storage_part *p, const void *key, size_t klen,
                       const Dyne__V1__AttributeValueMap *old_item,
                       const Dyne__V1__AttributeValueMap *new_item, dyn_arena *a,
                       storage_lsi_plan *plan)
{
    int64_t delta = 0;
    size_t plen;
    dyn_err rc;

    memset(plan, 0, sizeof *plan);
    if (p->n_lsis == 0)
        return DYN_OK;
    if ((rc = pk_prefix_len(p, key, klen, a, &plen)) != DYN_OK)
        return rc;
    plan->coll_key = key;
    plan->coll_klen = plen;
    if (old_item != NULL)
        delta -= (int64_t)(dyn_item_size(old_item) + LSI_ROW_OVERHEAD);
    if (new_item != NULL)
        delta += (int64_t)(dyn_item_size(new_item) + LSI_ROW_OVERHEAD);
    for (size_t i = 0; i < p->n_lsis; i++) {
        const storage_lsi *l = &p->lsis[i];
        const Dyne__V1__AttributeValue *osk = dyn_item_get(old_item, l->sk_name);
        const Dyne__V1__AttributeValue *nsk = dyn_item_get(new_item, l->sk_name);
        const Dyne__V1__AttributeValueMap *oe = NULL, *ne = NULL;
        unsigned char *k = NULL, *val = NULL;
        size_t kl = 0, vl = 0, osize = 0, nsize = 0;

        /* an old item whose index key is not of the index's type was never indexed */
        if (osk != NULL && value_type(osk) != l->sk_type)
            osk = NULL;
        if (osk != NULL) {
            if ((rc = entry_of(p, l, old_item, a, &oe)) != DYN_OK ||
                (rc = index_key(key, klen, plen, osk, a, &k, &kl)) != DYN_OK)
                return rc;
            plan->ix[i].old_key = k;
            plan->ix[i].old_klen = kl;
            osize = dyn_item_size(oe);
            delta -= (int64_t)(osize + LSI_ROW_OVERHEAD);
        }
        if (nsk != NULL) {
            if ((rc = entry_of(p, l, new_item, a, &ne)) != DYN_OK ||
                (rc = index_key(key, klen, plen, nsk, a, &k, &kl)) != DYN_OK ||
                (rc = dyn_item_encode(ne, a, &val, &vl)) != DYN_OK)
                return rc;
            plan->ix[i].new_key = k;
            plan->ix[i].new_klen = kl;
            plan->ix[i].new_val = val;
            plan->ix[i].new_vlen = vl;
            nsize = dyn_item_size(ne);
            delta += (int64_t)(nsize + LSI_ROW_OVERHEAD);
        }
        /* reference §2.2: put 1, delete 1, key change 2, projected change 1, else 0 */
        bool same_key = osk != NULL && nsk != NULL && plan->ix[i].old_klen == kl &&
                        memcmp(plan->ix[i].old_key, k, kl) == 0;
        if (osk == NULL && nsk == NULL) {
            continue;
        } else if (osk == NULL) {
            plan->ix[i].units = units_of(nsize);
            plan->ix[i].write = true;
        } else if (nsk == NULL) {
            plan->ix[i].units = units_of(osize);
        } else if (!same_key) {
            plan->ix[i].units = units_of(osize) + units_of(nsize);
            plan->ix[i].write = true;
        } else {
            unsigned char *oval;
            size_t ovl;
            if ((rc = dyn_item_encode(oe, a, &oval, &ovl)) != DYN_OK)
                return rc;
            if (ovl != vl || memcmp(oval, val, vl) != 0) {
                plan->ix[i].units = units_of(nsize);
                plan->ix[i].write = true;
            }
        }
    }
    if ((rc = collection_get(txn, p, key, plen, a, &plan->coll_before)) != DYN_OK)
        return rc;
    plan->coll_after = plan->coll_before + delta;
    if (plan->coll_after < 0)
        plan->coll_after = 0;   /* sizes of items written before a fix may have drifted */
    if (delta > 0 && plan->coll_after > atomic_load(&collection_limit))
        return DYN_ECOLLECTION;
    return DYN_OK;
}

dyn_err
storage_lsi_apply(dyn_kv_txn *txn, const storage_part *p, const storage_lsi_plan *plan)
{
    unsigned char size[8];
    dyn_err rc;

    if (p->n_lsis == 0)
        return DYN_OK;
    for (size_t i = 0; i < p->n_lsis; i++) {
        const storage_lsi *l = &p->lsis[i];
        bool same = plan->ix[i].old_key != NULL && plan->ix[i].new_key != NULL &&
                    plan->ix[i].old_klen == plan->ix[i].new_klen &&
                    memcmp(plan->ix[i].old_key, plan->ix[i].new_key, plan->ix[i].new_klen) == 0;
        if (plan->ix[i].old_key != NULL && !same &&
            (rc = dyn_kv_del(txn, l->table, plan->ix[i].old_key, plan->ix[i].old_klen)) != DYN_OK &&
            rc != DYN_ENOTFOUND)
            return rc;
        if (plan->ix[i].new_key != NULL && plan->ix[i].write &&
            (rc = dyn_kv_put(txn, l->table, plan->ix[i].new_key, plan->ix[i].new_klen,
                             plan->ix[i].new_val, plan->ix[i].new_vlen)) != DYN_OK)
            return rc;
    }
    if (plan->coll_after == plan->coll_before)
        return DYN_OK;
    if (plan->coll_after == 0) {
        rc = dyn_kv_del(txn, p->sizes, plan->coll_key, plan->coll_klen);
        return rc == DYN_ENOTFOUND ? DYN_OK : rc;
    }
    be64_put(size, (uint64_t)plan->coll_after);
    return dyn_kv_put(txn, p->sizes, plan->coll_key, plan->coll_klen, size, sizeof size);
}

dyn_err
storage_lsi_base_key(const storage_part *p, const storage_lsi *l, const void *ikey, size_t iklen,
                     dyn_arena *a, unsigned char **key, size_t *klen)
{
    Dyne__V1__AttributeValue *v;
    size_t plen, off;
    unsigned char *k;
    dyn_err rc;

    if ((rc = pk_prefix_len(p, ikey, iklen, a, &plen)) != DYN_OK)
        return rc;
    off = plen;
    if ((rc = dyn_keycodec_decode_value(a, ikey, iklen, &off, (dyn_key_type)l->sk_type, &v)) !=
        DYN_OK)
        return rc;
    if ((k = dyn_arena_alloc(a, plen + (iklen - off))) == NULL)
        return DYN_ENOMEM;
    memcpy(k, ikey, plen);
    memcpy(k + plen, (const unsigned char *)ikey + off, iklen - off);
    *key = k;
    *klen = plen + (iklen - off);
    return DYN_OK;
}
