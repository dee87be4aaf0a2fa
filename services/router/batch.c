/* services/router -- BatchGetItem and BatchWriteItem. Every request is checked before anything
 * is sent (limits, tables, keys, duplicates); then the single-item storage calls go out, all the
 * calls bound for one storage node at once, node after node (the replies of one node's client
 * arrive on one thread, so they can share the request arena). Retryable storage failures come
 * back as UnprocessedKeys / UnprocessedItems, as DynamoDB returns throttled work. */
#include <stdatomic.h>
#include <string.h>

#include "libs/keycodec/keycodec.h"
#include "libs/req/req.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/router/router.h"
#include "services/router/validate.h"

#define BATCH_GET_MAX 100
#define BATCH_WRITE_MAX 25
#define BATCH_GET_BYTES (16 * 1024 * 1024)

static const char *const consumed_enum[] = { "INDEXES", "TOTAL", "NONE", NULL };
static const char *const metrics_enum[] = { "SIZE", "NONE", NULL };

typedef struct batch_op batch_op;

typedef struct batch_sub {
    batch_op *b;
    size_t table;                      /* index of the request's table entry */
    const router_part *part;
    ProtobufCMessage *req;             /* storage request, in the call arena */
    const Dyne__V1__AttributeValueMap *key;   /* Get: the key as sent (UnprocessedKeys) */
    Dyne__V1__WriteRequest *write;     /* Write: the request as sent (UnprocessedItems) */
    const dyn_expr *proj;              /* Get: the table's projection */
    bool consistent;                   /* Get: ConsistentRead */
    ProtobufCMessage *resp;
    dyn_err rc;
    const char *errmsg;
} batch_sub;

struct batch_op {
    dyn_rpc_call *call;
    router *r;
    bool get;
    size_t ntables;
    const char **tables;               /* names, per table entry */
    batch_sub *subs;                   /* sorted by storage address */
    size_t n, next;                    /* subs; first sub of the next node group */
    atomic_size_t pending;             /* calls of the current group still out */
    const char *rcc;                   /* ReturnConsumedCapacity */
    router_table *tinfo;               /* Write: per table entry, as routed (its LSIs) */
    bool metrics;                      /* Write: ReturnItemCollectionMetrics SIZE */
};

static bool push(dyn_arena *a, void ***arr, size_t *n, void *v);

/* ConsumedCapacity per table, each item's units rounded on its own (DynamoDB's batch rule). */
static bool
batch_consumed(batch_op *b, ProtobufCMessage ***list, size_t *n)
{
    dyn_arena *a = dyn_rpc_call_arena(b->call);
    router_cap *units;

    if (b->rcc == NULL || strcmp(b->rcc, "NONE") == 0)
        return true;
    if ((units = dyn_arena_zalloc(a, sizeof *units * (b->ntables ? b->ntables : 1))) == NULL)
        return false;
    for (size_t i = 0; i < b->n; i++) {
        batch_sub *s = &b->subs[i];
        if (s->rc != DYN_OK)
            continue;
        if (b->get) {
            const Dyne__Internal__GetResponse *g = (const void *)s->resp;
            units[s->table].table +=
                router_read_units(g->item ? (int64_t)dyn_item_size(g->item) : 0, s->consistent);
        } else {
            /* Put and Delete responses carry the sizes (and index writes) in the same fields */
            const Dyne__Internal__PutResponse *w = (const void *)s->resp;
            units[s->table].table += router_write_units(w->old_size > w->new_size ? w->old_size
                                                                                  : w->new_size);
            router_cap_add_lsi_writes(&units[s->table], w->lsi_writes, w->n_lsi_writes);
            router_cap_add_gsi_writes(&units[s->table], w->gsi_writes, w->n_gsi_writes);
        }
    }
    for (size_t t = 0; t < b->ntables; t++) {
        Dyne__V1__ConsumedCapacity *c =
            router_consumed_cap(a, b->rcc, b->tables[t], &units[t], b->get);
        if (c == NULL || !push(a, (void ***)list, n, c))
            return false;
    }
    return true;
}

static void batch_group(batch_op *b);

static dyn_err
fail_vc(dyn_rpc_call *call, vc *v)
{
    const char *m = vc_message(v);
    return m == NULL ? DYN_OK : dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", m);
}

/* Sorts subs by storage address so each node's calls form one group. */
static void
sort_by_node(batch_sub *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        batch_sub x = s[i];
        size_t j = i;
        for (; j > 0 && strcmp(s[j - 1].part->addr, x.part->addr) > 0; j--)
            s[j] = s[j - 1];
        s[j] = x;
    }
}

static bool
retryable(dyn_err rc)
{
    return rc == DYN_EUNAVAIL || rc == DYN_EDEADLINE || rc == DYN_ECANCELLED ||
           rc == DYN_ENOTLEADER || rc == DYN_EWRONGEPOCH;
}

/* Appends v to a growable array of pointers in arena a. */
static bool
push(dyn_arena *a, void ***arr, size_t *n, void *v)
{
    if ((*n & (*n - 1)) == 0) {   /* 0, 1, 2, 4, ...: grow to the next power of two */
        void **bigger = dyn_arena_alloc(a, sizeof *bigger * (*n ? *n * 2 : 1));
        if (bigger == NULL)
            return false;
        if (*n > 0)
            memcpy(bigger, *arr, sizeof *bigger * *n);
        *arr = bigger;
    }
    (*arr)[(*n)++] = v;
    return true;
}

static void
get_finish(batch_op *b)
{
    dyn_arena *a = dyn_rpc_call_arena(b->call);
    Dyne__V1__BatchGetItemOutput *out = dyn_arena_zalloc(a, sizeof *out);
    Dyne__V1__BatchGetItemOutput__ResponsesEntry **resp = NULL;
    Dyne__V1__BatchGetItemOutput__UnprocessedKeysEntry **unp = NULL;
    size_t bytes = 0;
    dyn_err rc = DYN_OK;

    if (out == NULL ||
        (resp = dyn_arena_zalloc(a, sizeof *resp * b->ntables)) == NULL ||
        (unp = dyn_arena_zalloc(a, sizeof *unp * b->ntables)) == NULL) {
        dyn_rpc_call_finish(b->call, DYN_ENOMEM, NULL, "out of memory");
        return;
    }
    dyne__v1__batch_get_item_output__init(out);
    for (size_t i = 0; i < b->n && rc == DYN_OK; i++) {
        batch_sub *s = &b->subs[i];
        Dyne__Internal__GetResponse *gr = (void *)s->resp;
        if (s->rc != DYN_OK && !retryable(s->rc)) {
            dyn_rpc_call_finish(b->call, s->rc, NULL, s->errmsg);
            return;
        }
        if (s->rc == DYN_OK && gr->item != NULL)
            bytes += dyn_item_size(gr->item);
        if (s->rc != DYN_OK || bytes > BATCH_GET_BYTES) {
            /* the key goes back to the caller to ask again */
            Dyne__V1__BatchGetItemOutput__UnprocessedKeysEntry *e = unp[s->table];
            if (e == NULL) {
                e = unp[s->table] = dyn_arena_zalloc(a, sizeof *e);
                Dyne__V1__KeysAndAttributes *ka = dyn_arena_zalloc(a, sizeof *ka);
                if (e == NULL || ka == NULL) {
                    rc = DYN_ENOMEM;
                    break;
                }
                dyne__v1__batch_get_item_output__unprocessed_keys_entry__init(e);
                dyne__v1__keys_and_attributes__init(ka);
                e->key = (char *)b->tables[s->table];
                e->value = ka;
            }
            if (!push(a, (void ***)&e->value->keys, &e->value->n_keys, (void *)s->key))
                rc = DYN_ENOMEM;
            continue;
        }
        if (gr->item == NULL)
            continue;   /* no such item: absent from Responses, as in DynamoDB */
        Dyne__V1__AttributeValueMap *item = gr->item;
        if (s->proj != NULL && (rc = dyn_expr_project(s->proj, item, a, &item)) != DYN_OK)
            break;
        Dyne__V1__BatchGetItemOutput__ResponsesEntry *e = resp[s->table];
        if (e == NULL) {
            e = resp[s->table] = dyn_arena_zalloc(a, sizeof *e);
            Dyne__V1__ItemList *l = dyn_arena_zalloc(a, sizeof *l);
            if (e == NULL || l == NULL) {
                rc = DYN_ENOMEM;
                break;
            }
            dyne__v1__batch_get_item_output__responses_entry__init(e);
            dyne__v1__item_list__init(l);
            e->key = (char *)b->tables[s->table];
            e->value = l;
        }
        if (!push(a, (void ***)&e->value->values, &e->value->n_values, item))
            rc = DYN_ENOMEM;
    }
    /* every table asked for appears in Responses, even with no items */
    for (size_t t = 0; t < b->ntables && rc == DYN_OK; t++) {
        if (resp[t] == NULL) {
            Dyne__V1__BatchGetItemOutput__ResponsesEntry *e = dyn_arena_zalloc(a, sizeof *e);
            Dyne__V1__ItemList *l = dyn_arena_zalloc(a, sizeof *l);
            if (e == NULL || l == NULL) {
                rc = DYN_ENOMEM;
                break;
            }
            dyne__v1__batch_get_item_output__responses_entry__init(e);
            dyne__v1__item_list__init(l);
            e->key = (char *)b->tables[t];
            e->value = l;
            resp[t] = e;
        }
        if (!push(a, (void ***)&out->responses, &out->n_responses, resp[t]))
            rc = DYN_ENOMEM;
        if (unp[t] != NULL &&
            !push(a, (void ***)&out->unprocessedkeys, &out->n_unprocessedkeys, unp[t]))
            rc = DYN_ENOMEM;
    }
    if (rc == DYN_OK &&
        !batch_consumed(b, (ProtobufCMessage ***)&out->consumedcapacity, &out->n_consumedcapacity))
        rc = DYN_ENOMEM;
    dyn_rpc_call_finish(b->call, rc, rc == DYN_OK ? &out->base : NULL, NULL);
}

/* ItemCollectionMetrics of the writes done on tables with LSIs, per table (asked with SIZE). */
static bool
batch_metrics(batch_op *b, Dyne__V1__BatchWriteItemOutput *out)
{
    dyn_arena *a = dyn_rpc_call_arena(b->call);
    Dyne__V1__BatchWriteItemOutput__ItemCollectionMetricsEntry **per;

    if (!b->metrics)
        return true;
    if ((per = dyn_arena_zalloc(a, sizeof *per * (b->ntables ? b->ntables : 1))) == NULL)
        return false;
    for (size_t i = 0; i < b->n; i++) {
        batch_sub *s = &b->subs[i];
        const router_table *t = &b->tinfo[s->table];
        const Dyne__Internal__PutResponse *w = (const void *)s->resp;
        if (s->rc != DYN_OK || t->n_lsis == 0 || !w->has_collection_size)
            continue;
        const Dyne__V1__AttributeValueMap *key =
            s->write->putrequest ? s->write->putrequest->item : s->write->deleterequest->key;
        Dyne__V1__ItemCollectionMetrics *m =
            router_collection_metrics(a, t, key, w->collection_size);
        if (m == NULL)
            return false;
        Dyne__V1__BatchWriteItemOutput__ItemCollectionMetricsEntry *e = per[s->table];
        if (e == NULL) {
            e = per[s->table] = dyn_arena_zalloc(a, sizeof *e);
            Dyne__V1__ItemCollectionMetricsList *l = dyn_arena_zalloc(a, sizeof *l);
            if (e == NULL || l == NULL)
                return false;
            dyne__v1__batch_write_item_output__item_collection_metrics_entry__init(e);
            dyne__v1__item_collection_metrics_list__init(l);
            e->key = (char *)b->tables[s->table];
            e->value = l;
            if (!push(a, (void ***)&out->itemcollectionmetrics, &out->n_itemcollectionmetrics, e))
                return false;
        }
        if (!push(a, (void ***)&e->value->values, &e->value->n_values, m))
            return false;
    }
    return true;
}

static void
write_finish(batch_op *b)
{
    dyn_arena *a = dyn_rpc_call_arena(b->call);
    Dyne__V1__BatchWriteItemOutput *out = dyn_arena_zalloc(a, sizeof *out);
    Dyne__V1__BatchWriteItemOutput__UnprocessedItemsEntry **unp = NULL;
    size_t failed = 0;
    dyn_err rc = DYN_OK, last = DYN_OK;
    const char *lastmsg = NULL;

    if (out == NULL || (unp = dyn_arena_zalloc(a, sizeof *unp * b->ntables)) == NULL) {
        dyn_rpc_call_finish(b->call, DYN_ENOMEM, NULL, "out of memory");
        return;
    }
    dyne__v1__batch_write_item_output__init(out);
    for (size_t i = 0; i < b->n && rc == DYN_OK; i++) {
        batch_sub *s = &b->subs[i];
        if (s->rc == DYN_OK)
            continue;
        if (!retryable(s->rc)) {
            dyn_rpc_call_finish(b->call, s->rc, NULL, s->errmsg);
            return;
        }
        failed++;
        last = s->rc;
        lastmsg = s->errmsg;
        Dyne__V1__BatchWriteItemOutput__UnprocessedItemsEntry *e = unp[s->table];
        if (e == NULL) {
            e = unp[s->table] = dyn_arena_zalloc(a, sizeof *e);
            Dyne__V1__WriteRequestList *l = dyn_arena_zalloc(a, sizeof *l);
            if (e == NULL || l == NULL) {
                rc = DYN_ENOMEM;
                break;
            }
            dyne__v1__batch_write_item_output__unprocessed_items_entry__init(e);
            dyne__v1__write_request_list__init(l);
            e->key = (char *)b->tables[s->table];
            e->value = l;
            if (!push(a, (void ***)&out->unprocesseditems, &out->n_unprocesseditems, e))
                rc = DYN_ENOMEM;
        }
        if (!push(a, (void ***)&e->value->values, &e->value->n_values, s->write))
            rc = DYN_ENOMEM;
    }
    /* DynamoDB fails the whole call only when nothing at all could be done */
    if (rc == DYN_OK && failed == b->n && b->n > 0) {
        dyn_rpc_call_finish(b->call, last, NULL, lastmsg);
        return;
    }
    if (rc == DYN_OK &&
        !batch_consumed(b, (ProtobufCMessage ***)&out->consumedcapacity, &out->n_consumedcapacity))
        rc = DYN_ENOMEM;
    if (rc == DYN_OK && !batch_metrics(b, out))
        rc = DYN_ENOMEM;
    dyn_rpc_call_finish(b->call, rc, rc == DYN_OK ? &out->base : NULL, NULL);
}

/* Runs on the storage client's thread; the last reply of a group starts the next group. */
static void
sub_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    batch_sub *s = arg;
    batch_op *b = s->b;

    s->rc = rc;
    s->resp = resp;
    s->errmsg = errmsg;
    if (atomic_fetch_sub(&b->pending, 1) != 1)
        return;
    if (b->next < b->n)
        batch_group(b);
    else if (b->get)
        get_finish(b);
    else
        write_finish(b);
}

/* Sends every call of the next node's group at once. */
static void
batch_group(batch_op *b)
{
    size_t first = b->next, end = first;

    while (end < b->n && strcmp(b->subs[end].part->addr, b->subs[first].part->addr) == 0)
        end++;
    b->next = end;
    atomic_store(&b->pending, end - first);
    const char *addr = b->subs[first].part->addr;
    dyn_arena *a = dyn_rpc_call_arena(b->call);
    for (size_t i = first; i < end; i++) {
        batch_sub *s = &b->subs[i];
        const char *method;
        const ProtobufCMessageDescriptor *rd;
        if (b->get) {
            method = "Get";
            rd = &dyne__internal__get_response__descriptor;
        } else if (s->req->descriptor == &dyne__internal__put_request__descriptor) {
            method = "Put";
            rd = &dyne__internal__put_response__descriptor;
        } else {
            method = "Delete";
            rd = &dyne__internal__delete_response__descriptor;
        }
        /* the node's calls coalesce: one Batch call carries them once the first are out */
        router_storage_call_once(b->r, b->call, addr, method, s->req, rd, NULL, a, sub_done, s);
    }
}

/* The table of a request entry and the storage key of one key map, with the key-schema checks. */
static dyn_err
batch_key(dyn_rpc_call *call, router *r, const char *table, const Dyne__V1__AttributeValueMap *m,
          bool is_item, router_table *t, const router_part **part, ProtobufCBinaryData *key)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    const Dyne__V1__AttributeValue *pk = NULL, *sk = NULL;
    const char *msg = NULL;
    unsigned char *k;
    size_t klen;
    dyn_err rc;

    if (t->name == NULL && router_table_get(r, table, true, a, t) != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    rc = is_item ? dyn_item_key_from_item(&t->ks, m, a, &msg, &pk, &sk)
                 : dyn_item_key_from_key(&t->ks, m, a, &msg, &pk, &sk);
    if (rc != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid key");
    if ((rc = dyn_keycodec_item_key(a, pk, sk, &k, &klen)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "The provided key element does not match the schema");
    if ((*part = router_table_route(t, dyn_keycodec_hash(pk))) == NULL)
        return dyn_rpc_call_fail(call, DYN_EUNAVAIL, "no partition owns the key");
    key->data = k;
    key->len = klen;
    return DYN_OK;
}

static bool
duplicate(const batch_sub *subs, size_t n, const batch_sub *s, const ProtobufCBinaryData *key,
          const ProtobufCBinaryData *keys)
{
    for (size_t i = 0; i < n; i++)
        if (subs[i].table == s->table && keys[i].len == key->len &&
            memcmp(keys[i].data, key->data, key->len) == 0)
            return true;
    return false;
}

dyn_err
router_batch_get_item(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                      void *ctx)
{
    const Dyne__V1__BatchGetItemInput *in = (const void *)m;
    dyn_arena *a = dyn_rpc_call_arena(call);
    batch_op *b = dyn_arena_zalloc(a, sizeof *b);
    ProtobufCBinaryData *keys;
    size_t total = 0;
    const char *msg = NULL;
    vc v;
    dyn_err rc;

    (void)resp;
    if (b == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", in->returnconsumedcapacity, consumed_enum);
    vc_not_null(&v, "requestItems", in->n_requestitems > 0);
    for (size_t i = 0; i < in->n_requestitems; i++) {
        const Dyne__V1__KeysAndAttributes *ka = in->requestitems[i]->value;
        const char *p = dyn_arena_printf(a, "requestItems.%s.member.keys", in->requestitems[i]->key);
        vc_table_name(&v, "requestItems.key", in->requestitems[i]->key);
        vc_not_null(&v, p, ka != NULL && ka->n_keys > 0);
        if (ka != NULL && ka->n_keys > 0)
            vc_list_len(&v, p, ka->n_keys, 1, BATCH_GET_MAX);
        if (ka != NULL)
            total += ka->n_keys;
    }
    if ((rc = fail_vc(call, &v)) != DYN_OK)
        return rc;
    if (total > BATCH_GET_MAX)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Too many items requested for the BatchGetItem call");
    b->call = call;
    b->r = ctx;
    b->get = true;
    b->rcc = in->returnconsumedcapacity;
    b->ntables = in->n_requestitems;
    b->tables = dyn_arena_alloc(a, sizeof *b->tables * b->ntables);
    b->subs = dyn_arena_zalloc(a, sizeof *b->subs * (total ? total : 1));
    keys = dyn_arena_zalloc(a, sizeof *keys * (total ? total : 1));
    if (b->tables == NULL || b->subs == NULL || keys == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    for (size_t i = 0; i < in->n_requestitems; i++) {
        const Dyne__V1__KeysAndAttributes *ka = in->requestitems[i]->value;
        router_table t = { 0 };
        dyn_expr *proj = NULL;
        b->tables[i] = in->requestitems[i]->key;
        if ((rc = dyn_req_projection(ka->projectionexpression,
                                     (dyn_req_str_entry *const *)ka->expressionattributenames,
                                     ka->n_expressionattributenames,
                                     (const char *const *)ka->attributestoget, ka->n_attributestoget,
                                     a, &proj, &msg)) != DYN_OK)
            return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid projection");
        for (size_t j = 0; j < ka->n_keys; j++) {
            batch_sub *s = &b->subs[b->n];
            Dyne__Internal__GetRequest *g = dyn_arena_alloc(a, sizeof *g);
            if (g == NULL)
                return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
            dyne__internal__get_request__init(g);
            if ((rc = dyn_item_validate(ka->keys[j], a, &msg)) != DYN_OK)
                return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid key");
            if ((rc = batch_key(call, b->r, b->tables[i], ka->keys[j], false, &t, &s->part,
                                &g->key)) != DYN_OK)
                return rc;
            s->b = b;
            s->table = i;
            s->key = ka->keys[j];
            s->proj = proj;
            s->consistent = ka->has_consistentread && ka->consistentread;
            if (duplicate(b->subs, b->n, s, &g->key, keys))
                return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                         "Provided list of item keys contains duplicates");
            keys[b->n] = g->key;
            g->has_key = true;
            g->partition_id = (char *)s->part->id;
            g->has_consistent = true;
            g->consistent = ka->has_consistentread && ka->consistentread;
            s->req = &g->base;
            b->n++;
        }
    }
    sort_by_node(b->subs, b->n);
    dyn_rpc_call_defer(call);
    batch_group(b);
    return DYN_OK;
}

dyn_err
router_batch_write_item(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                        void *ctx)
{
    const Dyne__V1__BatchWriteItemInput *in = (const void *)m;
    dyn_arena *a = dyn_rpc_call_arena(call);
    batch_op *b = dyn_arena_zalloc(a, sizeof *b);
    ProtobufCBinaryData *keys;
    size_t total = 0;
    const char *msg = NULL;
    vc v;
    dyn_err rc;

    (void)resp;
    if (b == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", in->returnconsumedcapacity, consumed_enum);
    vc_enum(&v, "returnItemCollectionMetrics", in->returnitemcollectionmetrics, metrics_enum);
    vc_not_null(&v, "requestItems", in->n_requestitems > 0);
    for (size_t i = 0; i < in->n_requestitems; i++) {
        const Dyne__V1__WriteRequestList *l = in->requestitems[i]->value;
        size_t n = l != NULL ? l->n_values : 0;
        vc_table_name(&v, "requestItems.key", in->requestitems[i]->key);
        if (n < 1 || n > BATCH_WRITE_MAX)
            vc_list_len(&v, "requestItems", n, 1, BATCH_WRITE_MAX);
        total += n;
    }
    if ((rc = fail_vc(call, &v)) != DYN_OK)
        return rc;
    if (total > BATCH_WRITE_MAX)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Too many items requested for the BatchWriteItem call");
    b->call = call;
    b->r = ctx;
    b->rcc = in->returnconsumedcapacity;
    b->metrics = in->returnitemcollectionmetrics != NULL &&
                 strcmp(in->returnitemcollectionmetrics, "SIZE") == 0;
    b->ntables = in->n_requestitems;
    b->tables = dyn_arena_alloc(a, sizeof *b->tables * b->ntables);
    b->tinfo = dyn_arena_zalloc(a, sizeof *b->tinfo * (b->ntables ? b->ntables : 1));
    b->subs = dyn_arena_zalloc(a, sizeof *b->subs * (total ? total : 1));
    keys = dyn_arena_zalloc(a, sizeof *keys * (total ? total : 1));
    if (b->tables == NULL || b->tinfo == NULL || b->subs == NULL || keys == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    for (size_t i = 0; i < in->n_requestitems; i++) {
        const Dyne__V1__WriteRequestList *l = in->requestitems[i]->value;
        router_table *tp = &b->tinfo[i], t = { 0 };
        b->tables[i] = in->requestitems[i]->key;
        for (size_t j = 0; j < l->n_values; j++) {
            Dyne__V1__WriteRequest *w = l->values[j];
            batch_sub *s = &b->subs[b->n];
            ProtobufCBinaryData key;
            bool put = w->putrequest != NULL;
            const Dyne__V1__AttributeValueMap *mp =
                put ? w->putrequest->item : (w->deleterequest ? w->deleterequest->key : NULL);
            if ((put && w->deleterequest != NULL) || mp == NULL)
                return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                         "Supplied AttributeValue has more than one datatypes set, "
                                         "must contain exactly one of the supported datatypes");
            if ((rc = dyn_item_validate(mp, a, &msg)) != DYN_OK)
                return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid item");
            if (put && dyn_item_size(mp) > DYN_ITEM_MAX_SIZE)
                return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                         "Item size has exceeded the maximum allowed size");
            if ((rc = batch_key(call, b->r, b->tables[i], mp, put, &t, &s->part, &key)) != DYN_OK)
                return rc;
            s->b = b;
            s->table = i;
            s->write = w;
            /* a Put and a Delete of one key count as duplicates too */
            if (duplicate(b->subs, b->n, s, &key, keys))
                return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                         "Provided list of item keys contains duplicates");
            keys[b->n] = key;
            if (put) {
                Dyne__Internal__PutRequest *p = dyn_arena_alloc(a, sizeof *p);
                if (p == NULL)
                    return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
                dyne__internal__put_request__init(p);
                p->has_key = true;
                p->key = key;
                p->partition_id = (char *)s->part->id;
                p->item = (Dyne__V1__AttributeValueMap *)mp;
                p->n_gsis = t.n_gsis;
                p->gsis = t.gsis;
                s->req = &p->base;
            } else {
                Dyne__Internal__DeleteRequest *d = dyn_arena_alloc(a, sizeof *d);
                if (d == NULL)
                    return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
                dyne__internal__delete_request__init(d);
                d->has_key = true;
                d->key = key;
                d->partition_id = (char *)s->part->id;
                d->n_gsis = t.n_gsis;
                d->gsis = t.gsis;
                s->req = &d->base;
            }
            b->n++;
        }
        *tp = t;
    }
    sort_by_node(b->subs, b->n);
    dyn_rpc_call_defer(call);
    batch_group(b);
    return DYN_OK;
}
