/* libs/kv -- point operations and range iterators inside a transaction, on cursors cached per
 * session per table so the hot path opens nothing. */
#include "libs/kv/kv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/kv/kv_int.h"

struct dyn_kv_iter {
    dyn_kv_txn *txn;
    kv_curs *kc;          /* the cache entry whose scan cursor we hold; NULL if c is our own */
    WT_CURSOR *c;         /* owned only when kc == NULL */
    WT_ITEM start, end;   /* copies in this allocation; data NULL = unbounded */
    bool reverse, started, done;
};

/* kv_err() plus bookkeeping: the committer must know when WiredTiger itself failed inside an
 * apply, because then the transaction may need a rollback whatever apply returns. */
static dyn_err
txn_err(dyn_kv_txn *txn, int wr)
{
    if (wr != 0 && wr != WT_NOTFOUND && txn->wt_rc == 0)
        txn->wt_rc = wr;
    return kv_err(wr);
}

static dyn_err
curs_open(dyn_kv_txn *txn, const char *table, const char *cfg, WT_CURSOR **c)
{
    char uri[KV_TABLE_NAME_MAX + 16];
    int wr;

    if (!kv_name_ok(table))
        return DYN_EVALIDATION;
    snprintf(uri, sizeof uri, "table:%s", table);
    wr = txn->sess->s->open_cursor(txn->sess->s, uri, NULL, cfg, c);
    /* A missing table is the caller's problem, not a broken transaction. */
    if (wr == ENOENT)
        return DYN_ENOTABLE;
    return txn_err(txn, wr);
}

static dyn_err
curs_get(dyn_kv_txn *txn, const char *table, kv_curs **out)
{
    kv_sess *ks = txn->sess;
    kv_curs *kc;
    WT_CURSOR *c;
    dyn_err rc;

    for (size_t i = 0; i < ks->ncurs; i++) {
        if (strcmp(ks->curs[i]->table, table) == 0) {
            *out = ks->curs[i];
            return DYN_OK;
        }
    }
    if ((rc = curs_open(txn, table, NULL, &c)) != DYN_OK)
        return rc;
    if (ks->ncurs == ks->capcurs) {
        ks->capcurs = ks->capcurs ? ks->capcurs * 2 : 8;
        ks->curs = dyn_xrealloc(ks->curs, ks->capcurs * sizeof *ks->curs);
    }
    kc = dyn_xcalloc(1, sizeof *kc);
    kc->table = dyn_xstrdup(table);
    kc->point = c;
    ks->curs[ks->ncurs++] = kc;
    *out = kc;
    return DYN_OK;
}

dyn_err
dyn_kv_get(dyn_kv_txn *txn, const char *table, const void *key, size_t klen, dyn_arena *a,
           void **val, size_t *vlen)
{
    WT_ITEM k = { .data = key, .size = klen }, v = { 0 };
    kv_curs *kc;
    WT_CURSOR *c;
    dyn_err rc;
    int wr;

    if ((rc = curs_get(txn, table, &kc)) != DYN_OK)
        return rc;
    c = kc->point;
    c->set_key(c, &k);
    if ((wr = kv_fault(txn->kv)) == 0)
        wr = c->search(c);
    if ((rc = txn_err(txn, wr)) != DYN_OK)
        goto out;
    if ((rc = txn_err(txn, c->get_value(c, &v))) != DYN_OK)
        goto out;
    if ((*val = dyn_arena_memdup(a, v.data, v.size)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    *vlen = v.size;
out:
    (void)c->reset(c);   /* unpin the page whatever happened */
    return rc;
}

dyn_err
dyn_kv_put(dyn_kv_txn *txn, const char *table, const void *key, size_t klen, const void *val,
           size_t vlen)
{
    WT_ITEM k = { .data = key, .size = klen }, v = { .data = val, .size = vlen };
    kv_curs *kc;
    WT_CURSOR *c;
    dyn_err rc;
    int wr;

    if (!txn->write)
        return DYN_EINTERNAL;
    if ((rc = curs_get(txn, table, &kc)) != DYN_OK)
        return rc;
    c = kc->point;
    txn->writes++;
    c->set_key(c, &k);
    c->set_value(c, &v);
    if ((wr = kv_fault(txn->kv)) == 0)
        wr = c->insert(c);   /* overwrite=true: insert or replace */
    rc = txn_err(txn, wr);
    (void)c->reset(c);
    return rc;
}

dyn_err
dyn_kv_del(dyn_kv_txn *txn, const char *table, const void *key, size_t klen)
{
    WT_ITEM k = { .data = key, .size = klen };
    kv_curs *kc;
    WT_CURSOR *c;
    dyn_err rc;
    int wr;

    if (!txn->write)
        return DYN_EINTERNAL;
    if ((rc = curs_get(txn, table, &kc)) != DYN_OK)
        return rc;
    c = kc->point;
    c->set_key(c, &k);
    /* overwrite=true remove succeeds on a missing key, so look first: the search positions the
     * cursor, and the remove then needs no second descent. */
    if ((wr = kv_fault(txn->kv)) == 0)
        wr = c->search(c);
    if ((rc = txn_err(txn, wr)) != DYN_OK)
        goto out;
    txn->writes++;
    rc = txn_err(txn, c->remove(c));
out:
    (void)c->reset(c);
    return rc;
}

dyn_err
dyn_kv_iter_open(dyn_kv_txn *txn, const char *table, const void *start, size_t slen,
                 const void *end, size_t elen, bool reverse, dyn_kv_iter **it)
{
    size_t sl = start != NULL ? slen : 0, el = end != NULL ? elen : 0;
    dyn_kv_iter *i;
    kv_curs *kc;
    char *p;
    dyn_err rc;

    *it = NULL;
    if ((rc = curs_get(txn, table, &kc)) != DYN_OK)
        return rc;
    i = dyn_xcalloc(1, sizeof *i + sl + el + 2);
    i->txn = txn;
    i->reverse = reverse;
    p = (char *)(i + 1);
    if (start != NULL) {
        memcpy(p, start, sl);
        i->start.data = p;
        i->start.size = sl;
        p += sl + 1;
    }
    if (end != NULL) {
        memcpy(p, end, el);
        i->end.data = p;
        i->end.size = el;
    }
    /* The point cursor stays free for gets inside the loop; a second iterator on the same table
     * gets a cursor of its own. */
    if (!kc->scan_busy) {
        if (kc->scan == NULL && (rc = curs_open(txn, table, NULL, &kc->scan)) != DYN_OK) {
            kc->scan = NULL;
            free(i);
            return rc;
        }
        kc->scan_busy = true;
        i->kc = kc;
        i->c = kc->scan;
    } else if ((rc = curs_open(txn, table, NULL, &i->c)) != DYN_OK) {
        free(i);
        return rc;
    }
    *it = i;
    return DYN_OK;
}

/* WiredTiger's default collation for 'u' keys: memcmp over the common prefix, then length. */
static int
key_cmp(const WT_ITEM *a, const WT_ITEM *b)
{
    size_t n = a->size < b->size ? a->size : b->size;
    int r = n ? memcmp(a->data, b->data, n) : 0;

    if (r != 0)
        return r;
    return a->size < b->size ? -1 : a->size > b->size;
}

static int
iter_first(dyn_kv_iter *it)
{
    WT_CURSOR *c = it->c;
    int exact, wr;

    if (!it->reverse) {
        if (it->start.data == NULL)
            return c->next(c);   /* an unpositioned cursor steps onto the first key */
        c->set_key(c, &it->start);
        if ((wr = c->search_near(c, &exact)) == 0 && exact < 0)
            wr = c->next(c);
        return wr;
    }
    if (it->end.data == NULL)
        return c->prev(c);
    c->set_key(c, &it->end);
    if ((wr = c->search_near(c, &exact)) == 0 && exact >= 0)
        wr = c->prev(c);
    return wr;
}

dyn_err
dyn_kv_iter_next(dyn_kv_iter *it, const void **k, size_t *klen, const void **v, size_t *vlen)
{
    WT_CURSOR *c = it->c;
    WT_ITEM key = { 0 }, val = { 0 };
    dyn_err rc;
    int wr;

    if (it->done)
        return DYN_ENOTFOUND;
    if (!it->started) {
        it->started = true;
        wr = iter_first(it);
    } else {
        wr = it->reverse ? c->prev(c) : c->next(c);
    }
    if (wr == 0)
        wr = c->get_key(c, &key);
    if (wr == 0)
        wr = c->get_value(c, &val);
    if ((rc = txn_err(it->txn, wr)) != DYN_OK)
        goto end;
    if ((!it->reverse && it->end.data != NULL && key_cmp(&key, &it->end) >= 0) ||
        (it->reverse && it->start.data != NULL && key_cmp(&key, &it->start) < 0)) {
        rc = DYN_ENOTFOUND;
        goto end;
    }
    *k = key.data;
    *klen = key.size;
    *v = val.data;
    *vlen = val.size;
    return DYN_OK;
end:
    it->done = true;
    (void)c->reset(c);   /* past the range: unpin the page now, not at close */
    return rc;
}

void
dyn_kv_iter_close(dyn_kv_iter *it)
{
    if (it == NULL)
        return;
    if (it->kc != NULL) {
        (void)it->c->reset(it->c);
        it->kc->scan_busy = false;
    } else {
        (void)it->c->close(it->c);
    }
    free(it);
}
