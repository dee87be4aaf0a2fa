/* libs/meta -- opening and closing the etcd client, its background tick thread, and the KV and
 * Txn calls (get, range, put, delete, conditional writes). */
#include "libs/meta/meta_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
meta_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
meta_prefix_range(dyn_arena *a, const char *prefix, ProtobufCBinaryData *key,
                  ProtobufCBinaryData *end)
{
    size_t n = strlen(prefix);
    static uint8_t zero = 0;

    if (n == 0) {   /* every key: key "\0", range_end "\0" */
        key->data = &zero;
        key->len = 1;
        end->data = &zero;
        end->len = 1;
        return;
    }
    key->data = (uint8_t *)prefix;
    key->len = n;
    uint8_t *e = dyn_arena_memdup(a, prefix, n);
    while (n > 0 && e != NULL) {
        if (e[n - 1] < 0xff) {
            e[n - 1]++;
            end->data = e;
            end->len = n;
            return;
        }
        n--;
    }
    end->data = &zero;   /* all 0xff (or out of memory): to the end of the key space */
    end->len = 1;
}

static void *
tick_main(void *arg)
{
    dyn_meta *m = arg;

    pthread_mutex_lock(&m->mu);
    while (!m->closing) {
        int64_t now = meta_now_ms();
        meta_lease_tick_locked(m, now);   /* may drop the lock for lost callbacks */
        if (m->closing)
            break;
        meta_watch_tick_locked(m, meta_now_ms());
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += META_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&m->tick_cv, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* "http://10.0.0.1:2379,10.0.0.2:2379" -> "ipv4:10.0.0.1:2379,10.0.0.2:2379"; a host name list
 * -> its first entry. Heap string. */
static char *
endpoints_target(const char *endpoints)
{
    size_t cap = strlen(endpoints) + 8, len = 0, nparts = 0;
    char *out = dyn_xcalloc(1, cap), *first = NULL;
    bool numeric = true;
    const char *p = endpoints;

    while (*p != '\0') {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        const char *s = p;
        if (n >= 7 && strncmp(s, "http://", 7) == 0)
            s += 7, n -= 7;
        if (n > 0) {
            for (size_t i = 0; i < n; i++)
                if (!(s[i] == '.' || s[i] == ':' || (s[i] >= '0' && s[i] <= '9')))
                    numeric = false;
            if (nparts == 0) {
                first = dyn_xcalloc(1, n + 1);
                memcpy(first, s, n);
            }
            if (len > 0)
                out[len++] = ',';
            memcpy(out + len, s, n);
            len += n;
            nparts++;
        }
        p = q ? q + 1 : p + strlen(p);
    }
    if (nparts <= 1 || !numeric) {
        free(out);
        return first != NULL ? first : dyn_xstrdup("127.0.0.1:2379");
    }
    free(first);
    char *t = dyn_xmalloc(len + 6);
    memcpy(t, "ipv4:", 5);
    memcpy(t + 5, out, len + 1);
    free(out);
    return t;
}

dyn_meta *
dyn_meta_open(const char *endpoints)
{
    dyn_meta *m = dyn_xcalloc(1, sizeof *m);
    char *target = endpoints_target(endpoints);

    m->rpc = dyn_rpc_client_new(target, 1);
    free(target);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->tick_cv, NULL);
    pthread_cond_init(&m->disp_cv, NULL);
    pthread_cond_init(&m->state_cv, NULL);
    m->ka_backoff_ms = META_BACKOFF_MIN_MS;
    if (pthread_create(&m->tick_thread, NULL, tick_main, m) != 0 ||
        pthread_create(&m->disp_thread, NULL, meta_disp_main, m) != 0)
        abort();   /* as dyn_xmalloc: no threads, no client */
    return m;
}

void
dyn_meta_close(dyn_meta *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->closing = true;
    meta_lease_close_locked(m);
    meta_watch_close_locked(m);
    pthread_cond_broadcast(&m->tick_cv);
    pthread_cond_broadcast(&m->disp_cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->tick_thread, NULL);
    pthread_join(m->disp_thread, NULL);

    /* The tick thread may have been opening a stream when closing was set; wait for every
     * on_close so no callback touches freed watches. */
    pthread_mutex_lock(&m->mu);
    meta_lease_close_locked(m);
    meta_watch_close_locked(m);
    while (meta_streams_live_locked(m))
        pthread_cond_wait(&m->state_cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
    meta_watch_free_all(m);
    dyn_rpc_client_free(m->rpc);
    pthread_cond_destroy(&m->state_cv);
    pthread_cond_destroy(&m->disp_cv);
    pthread_cond_destroy(&m->tick_cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- KV ------------------------------------------------------------------------------------ */

static dyn_err
call(dyn_meta *m, const char *method, const ProtobufCMessage *req,
     const ProtobufCMessageDescriptor *resp_desc, dyn_arena *tmp, ProtobufCMessage **resp)
{
    return dyn_rpc_client_call(m->rpc, method, req, resp_desc, META_DEADLINE_MS, tmp, resp, NULL);
}

/* Copies one etcd KeyValue into arena a. */
static dyn_err
kv_copy(const Mvccpb__KeyValue *src, dyn_arena *a, dyn_meta_kv *dst)
{
    char *key = dyn_arena_strndup(a, (const char *)src->key.data, src->key.len);
    char *val = dyn_arena_strndup(a, (const char *)src->value.data, src->value.len);

    if (key == NULL || val == NULL)
        return DYN_ENOMEM;
    dst->key = key;
    dst->val = val;
    dst->val_len = src->value.len;
    dst->create_rev = src->create_revision;
    dst->mod_rev = src->mod_revision;
    dst->version = src->version;
    dst->lease = src->lease;
    return DYN_OK;
}

dyn_err
dyn_meta_get(dyn_meta *m, const char *key, dyn_arena *a, dyn_meta_kv *kv)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_arena tmp;
    dyn_err rc;

    dyn_arena_init(&tmp, META_TMP_ARENA);
    req.key.data = (uint8_t *)key;
    req.key.len = strlen(key);
    if ((rc = call(m, "/etcdserverpb.KV/Range", &req.base,
                   &etcdserverpb__range_response__descriptor, &tmp, &resp)) != DYN_OK)
        goto out;
    Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)resp;
    if (r->n_kvs == 0) {
        rc = DYN_ENOTFOUND;
        goto out;
    }
    rc = kv_copy(r->kvs[0], a, kv);
out:
    dyn_arena_fini(&tmp);
    return rc;
}

dyn_err
dyn_meta_range(dyn_meta *m, const char *prefix, int64_t limit, dyn_arena *a, dyn_meta_kv **kvs,
               size_t *n, bool *more, int64_t *rev)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_meta_kv *out = NULL;
    dyn_arena tmp;
    dyn_err rc;

    *kvs = NULL;
    *n = 0;
    dyn_arena_init(&tmp, META_TMP_ARENA);
    meta_prefix_range(&tmp, prefix, &req.key, &req.range_end);
    req.limit = limit > 0 ? limit : 0;
    req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
    req.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY;
    if ((rc = call(m, "/etcdserverpb.KV/Range", &req.base,
                   &etcdserverpb__range_response__descriptor, &tmp, &resp)) != DYN_OK)
        goto out;
    Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)resp;
    if (r->n_kvs > 0 && (out = dyn_arena_zalloc(a, r->n_kvs * sizeof *out)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < r->n_kvs; i++)
        if ((rc = kv_copy(r->kvs[i], a, &out[i])) != DYN_OK)
            goto out;
    *kvs = out;
    *n = r->n_kvs;
    if (more != NULL)
        *more = r->more;
    if (rev != NULL)
        *rev = r->header != NULL ? r->header->revision : 0;
out:
    dyn_arena_fini(&tmp);
    return rc;
}

dyn_err
dyn_meta_put(dyn_meta *m, const char *key, const void *val, size_t val_len, int64_t lease,
             int64_t *rev)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_arena tmp;
    dyn_err rc;

    dyn_arena_init(&tmp, META_TMP_ARENA);
    req.key.data = (uint8_t *)key;
    req.key.len = strlen(key);
    req.value.data = (uint8_t *)val;
    req.value.len = val_len;
    req.lease = lease;
    if ((rc = call(m, "/etcdserverpb.KV/Put", &req.base, &etcdserverpb__put_response__descriptor,
                   &tmp, &resp)) != DYN_OK)
        goto out;
    Etcdserverpb__PutResponse *r = (Etcdserverpb__PutResponse *)resp;
    if (rev != NULL)
        *rev = r->header != NULL ? r->header->revision : 0;
out:
    dyn_arena_fini(&tmp);
    return rc;
}

static dyn_err
delete_range(dyn_meta *m, const char *key, bool prefix, int64_t *deleted)
{
    Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_arena tmp;
    dyn_err rc;

    dyn_arena_init(&tmp, META_TMP_ARENA);
    if (prefix) {
        meta_prefix_range(&tmp, key, &req.key, &req.range_end);
    } else {
        req.key.data = (uint8_t *)key;
        req.key.len = strlen(key);
    }
    if ((rc = call(m, "/etcdserverpb.KV/DeleteRange", &req.base,
                   &etcdserverpb__delete_range_response__descriptor, &tmp, &resp)) != DYN_OK)
        goto out;
    if (deleted != NULL)
        *deleted = ((Etcdserverpb__DeleteRangeResponse *)resp)->deleted;
out:
    dyn_arena_fini(&tmp);
    return rc;
}

dyn_err
dyn_meta_delete(dyn_meta *m, const char *key, int64_t *deleted)
{
    return delete_range(m, key, false, deleted);
}

dyn_err
dyn_meta_delete_prefix(dyn_meta *m, const char *prefix, int64_t *deleted)
{
    return delete_range(m, prefix, true, deleted);
}

/* ---- Txn ----------------------------------------------------------------------------------- */

static Etcdserverpb__RequestOp *
op_build(dyn_arena *a, const dyn_meta_op *op)
{
    Etcdserverpb__RequestOp *ro = dyn_arena_alloc(a, sizeof *ro);

    if (ro == NULL)
        return NULL;
    etcdserverpb__request_op__init(ro);
    if (op->type == DYN_META_OP_PUT) {
        Etcdserverpb__PutRequest *p = dyn_arena_alloc(a, sizeof *p);
        if (p == NULL)
            return NULL;
        etcdserverpb__put_request__init(p);
        p->key.data = (uint8_t *)op->key;
        p->key.len = strlen(op->key);
        p->value.data = (uint8_t *)op->val;
        p->value.len = op->val_len;
        p->lease = op->lease;
        ro->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        ro->request_put = p;
    } else {
        Etcdserverpb__DeleteRangeRequest *d = dyn_arena_alloc(a, sizeof *d);
        if (d == NULL)
            return NULL;
        etcdserverpb__delete_range_request__init(d);
        if (op->type == DYN_META_OP_DELETE_PREFIX) {
            meta_prefix_range(a, op->key, &d->key, &d->range_end);
        } else {
            d->key.data = (uint8_t *)op->key;
            d->key.len = strlen(op->key);
        }
        ro->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        ro->request_delete_range = d;
    }
    return ro;
}

static Etcdserverpb__Compare *
cmp_build(dyn_arena *a, const dyn_meta_cmp *c)
{
    static const Etcdserverpb__Compare__CompareResult results[] = {
        [DYN_META_EQ] = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL,
        [DYN_META_NE] = ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL,
        [DYN_META_LT] = ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS,
        [DYN_META_GT] = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER,
    };
    Etcdserverpb__Compare *pc = dyn_arena_alloc(a, sizeof *pc);

    if (pc == NULL)
        return NULL;
    etcdserverpb__compare__init(pc);
    pc->key.data = (uint8_t *)c->key;
    pc->key.len = strlen(c->key);
    pc->result = results[c->op];
    switch (c->target) {
    case DYN_META_CMP_MOD:
        pc->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
        pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        pc->mod_revision = c->rev;
        break;
    case DYN_META_CMP_CREATE:
        pc->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
        pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
        pc->create_revision = c->rev;
        break;
    case DYN_META_CMP_VERSION:
        pc->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
        pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
        pc->version = c->rev;
        break;
    case DYN_META_CMP_VALUE:
        pc->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
        pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        pc->value.data = (uint8_t *)c->val;
        pc->value.len = c->val_len;
        break;
    case DYN_META_CMP_LEASE:
        pc->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE;
        pc->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
        pc->lease = c->rev;
        break;
    }
    return pc;
}

dyn_err
dyn_meta_txn(dyn_meta *m, const dyn_meta_cmp *cmps, size_t ncmps, const dyn_meta_op *then,
             size_t nthen, const dyn_meta_op *otherwise, size_t notherwise, bool *succeeded,
             int64_t *rev)
{
    Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    dyn_arena tmp;
    dyn_err rc = DYN_ENOMEM;

    dyn_arena_init(&tmp, META_TMP_ARENA);
    req.compare = dyn_arena_alloc(&tmp, (ncmps + 1) * sizeof *req.compare);
    req.success = dyn_arena_alloc(&tmp, (nthen + 1) * sizeof *req.success);
    req.failure = dyn_arena_alloc(&tmp, (notherwise + 1) * sizeof *req.failure);
    if (req.compare == NULL || req.success == NULL || req.failure == NULL)
        goto out;
    for (; req.n_compare < ncmps; req.n_compare++)
        if ((req.compare[req.n_compare] = cmp_build(&tmp, &cmps[req.n_compare])) == NULL)
            goto out;
    for (; req.n_success < nthen; req.n_success++)
        if ((req.success[req.n_success] = op_build(&tmp, &then[req.n_success])) == NULL)
            goto out;
    for (; req.n_failure < notherwise; req.n_failure++)
        if ((req.failure[req.n_failure] = op_build(&tmp, &otherwise[req.n_failure])) == NULL)
            goto out;
    if ((rc = call(m, "/etcdserverpb.KV/Txn", &req.base, &etcdserverpb__txn_response__descriptor,
                   &tmp, &resp)) != DYN_OK)
        goto out;
    Etcdserverpb__TxnResponse *r = (Etcdserverpb__TxnResponse *)resp;
    if (succeeded != NULL)
        *succeeded = r->succeeded;
    if (rev != NULL)
        *rev = r->header != NULL ? r->header->revision : 0;
out:
    dyn_arena_fini(&tmp);
    return rc;
}

dyn_err
dyn_meta_cas(dyn_meta *m, const char *key, int64_t expect_mod_rev, const void *val,
             size_t val_len, int64_t lease, int64_t *rev)
{
    dyn_meta_cmp c = { .key = key, .target = DYN_META_CMP_MOD, .op = DYN_META_EQ,
                       .rev = expect_mod_rev };
    dyn_meta_op op = { .type = DYN_META_OP_PUT, .key = key, .val = val, .val_len = val_len,
                       .lease = lease };
    bool ok = false;
    dyn_err rc = dyn_meta_txn(m, &c, 1, &op, 1, NULL, 0, &ok, rev);

    return rc != DYN_OK ? rc : ok ? DYN_OK : DYN_ECONDFAIL;
}

dyn_err
dyn_meta_put_if_absent(dyn_meta *m, const char *key, const void *val, size_t val_len,
                       int64_t lease, int64_t *rev)
{
    /* create_revision == 0 only holds for a key that does not exist */
    dyn_meta_cmp c = { .key = key, .target = DYN_META_CMP_CREATE, .op = DYN_META_EQ, .rev = 0 };
    dyn_meta_op op = { .type = DYN_META_OP_PUT, .key = key, .val = val, .val_len = val_len,
                       .lease = lease };
    bool ok = false;
    dyn_err rc = dyn_meta_txn(m, &c, 1, &op, 1, NULL, 0, &ok, rev);

    return rc != DYN_OK ? rc : ok ? DYN_OK : DYN_EEXISTS;
}

dyn_err
dyn_meta_delete_if(dyn_meta *m, const char *key, int64_t expect_mod_rev)
{
    /* A missing key has mod_revision 0 in etcd's compares, so also require it to exist. */
    dyn_meta_cmp c[2] = {
        { .key = key, .target = DYN_META_CMP_MOD, .op = DYN_META_EQ, .rev = expect_mod_rev },
        { .key = key, .target = DYN_META_CMP_CREATE, .op = DYN_META_GT, .rev = 0 },
    };
    dyn_meta_op op = { .type = DYN_META_OP_DELETE, .key = key };
    bool ok = false;
    dyn_err rc = dyn_meta_txn(m, c, 2, &op, 1, NULL, 0, &ok, NULL);

    return rc != DYN_OK ? rc : ok ? DYN_OK : DYN_ECONDFAIL;
}
