/* services/router -- PutItem, GetItem, DeleteItem: validate with DynamoDB's messages, encode the
 * key, route by its hash, and answer when the storage leader has answered (the call is deferred,
 * the storage call is asynchronous: no worker thread waits). */
#include <string.h>

#include "libs/keycodec/keycodec.h"
#include "libs/log/log.h"
#include "libs/req/req.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/router/router.h"
#include "services/router/validate.h"

static const char *const return_values_enum[] = { "ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE",
                                                  "UPDATED_NEW", NULL };
static const char *const consumed_enum[] = { "INDEXES", "TOTAL", "NONE", NULL };
static const char *const metrics_enum[] = { "SIZE", "NONE", NULL };
static const char *const on_fail_enum[] = { "ALL_OLD", "NONE", NULL };

static dyn_err
fail_validation(dyn_rpc_call *call, vc *v)
{
    const char *m = vc_message(v);
    return m == NULL ? DYN_OK : dyn_rpc_call_fail(call, DYN_EVALIDATION, "%s", m);
}

/* Validates every attribute value of a map (Item or Key) the way DynamoDB does before it looks
 * at the table. */
static dyn_err
check_values(dyn_rpc_call *call, const Dyne__V1__AttributeValueMap *m)
{
    const char *msg = NULL;
    dyn_err rc;

    if ((rc = dyn_item_validate(m, dyn_rpc_call_arena(call), &msg)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid attribute value");
    return DYN_OK;
}

/* Checks a write's condition parameters (mixing, placeholders, the values themselves, the
 * expression or Expected) before anything is routed; the storage node evaluates them. */
static dyn_err
check_condition(dyn_rpc_call *call, dyn_expr_op op, const dyn_req_cond *c)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    const char *msg = NULL;
    dyn_expr *cond;
    dyn_err rc;

    if (c->values != NULL && (rc = check_values(call, c->values)) != DYN_OK)
        return rc;
    dyn_expr *update;
    if ((rc = dyn_req_write(op, c, a, &cond, &update, &msg)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid condition");
    return DYN_OK;
}

/* The condition fields of a client request, as libs/req reads them. */
#define INPUT_COND(in)                                                                         \
    (dyn_req_cond)                                                                             \
    {                                                                                          \
        .condition_expression = (in)->conditionexpression,                                     \
        .names = (dyn_req_str_entry *const *)(in)->expressionattributenames,                   \
        .n_names = (in)->n_expressionattributenames, .values = (in)->expressionattributevalues, \
        .expected = (const ProtobufCMessage *const *)(in)->expected,                           \
        .n_expected = (in)->n_expected, .conditional_operator = (in)->conditionaloperator,     \
    }

/* Forwards the condition to storage as sent: map entries of the public and internal messages
 * have the same fields and numbers, so they pack to the same bytes. */
#define FORWARD_COND(sreq, in)                                                                 \
    do {                                                                                       \
        (sreq)->condition_expression = (in)->conditionexpression;                              \
        (sreq)->n_expression_attribute_names = (in)->n_expressionattributenames;               \
        (sreq)->expression_attribute_names = (void *)(in)->expressionattributenames;           \
        (sreq)->expression_attribute_values = (in)->expressionattributevalues;                 \
        (sreq)->n_expected = (in)->n_expected;                                                 \
        (sreq)->expected = (void *)(in)->expected;                                             \
        (sreq)->conditional_operator = (in)->conditionaloperator;                              \
        (sreq)->has_return_old_on_condition_failure = true;                                    \
        (sreq)->return_old_on_condition_failure =                                              \
            (in)->returnvaluesonconditioncheckfailure != NULL &&                               \
            strcmp((in)->returnvaluesonconditioncheckfailure, "ALL_OLD") == 0;                 \
    } while (0)

/* The checks PutItem, DeleteItem and UpdateItem share, in DynamoDB's order: constraints, the
 * attribute values of `map` (the Item or the Key), the condition (and update), ReturnValues
 * (Put and Delete allow only NONE and ALL_OLD). */
static dyn_err
check_write(dyn_rpc_call *call, dyn_expr_op op, const char *map_name,
            const Dyne__V1__AttributeValueMap *map, const char *table, const char *return_values,
            const char *consumed, const char *metrics, const char *on_fail, const dyn_req_cond *c)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    vc v;
    dyn_err rc;

    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", consumed, consumed_enum);
    vc_not_null(&v, "tableName", table != NULL);
    vc_table_name(&v, "tableName", table);
    vc_not_null(&v, map_name, map != NULL);
    vc_enum(&v, "returnValues", return_values, return_values_enum);
    vc_enum(&v, "returnItemCollectionMetrics", metrics, metrics_enum);
    vc_enum(&v, "returnValuesOnConditionCheckFailure", on_fail, on_fail_enum);
    if ((rc = fail_validation(call, &v)) != DYN_OK)
        return rc;
    if ((rc = check_values(call, map)) != DYN_OK)
        return rc;
    if ((rc = check_condition(call, op, c)) != DYN_OK)
        return rc;
    if (op != DYN_EXPR_OP_UPDATE_ITEM && return_values != NULL &&
        strcmp(return_values, "ALL_OLD") != 0 &&
        strcmp(return_values, "NONE") != 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "ReturnValues can only be ALL_OLD or NONE");
    return DYN_OK;
}

/* Finds the table, checks the key against its schema and encodes the storage key. */
static dyn_err
resolve_key(dyn_rpc_call *call, router *r, const char *table_name,
            const Dyne__V1__AttributeValueMap *key_or_item, bool is_item, router_table *t,
            const router_part **part, ProtobufCBinaryData *key)
{
    dyn_arena *a = dyn_rpc_call_arena(call);
    const Dyne__V1__AttributeValue *pk = NULL, *sk = NULL;
    const char *msg = NULL;
    unsigned char *k;
    size_t klen;
    dyn_err rc;

    if ((rc = router_table_get(r, table_name, true, a, t)) != DYN_OK)
        return dyn_rpc_call_fail(call, DYN_ENOTABLE, "Requested resource not found");
    rc = is_item ? dyn_item_key_from_item(&t->ks, key_or_item, a, &msg, &pk, &sk)
                 : dyn_item_key_from_key(&t->ks, key_or_item, a, &msg, &pk, &sk);
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

/* What a write's reply needs besides the storage answer. */
typedef struct write_ctx {
    dyn_rpc_call *call;
    const char *table, *rcc;   /* ReturnConsumedCapacity */
    router_table t;            /* the table as routed (its LSIs) */
    const Dyne__V1__AttributeValueMap *key;   /* the Item or Key: ItemCollectionKey */
    bool metrics;              /* ReturnItemCollectionMetrics SIZE */
} write_ctx;

static write_ctx *
write_ctx_new(dyn_rpc_call *call, const char *table, const char *rcc, const router_table *t,
              const Dyne__V1__AttributeValueMap *key, const char *metrics)
{
    write_ctx *w = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *w);
    if (w != NULL) {
        w->call = call;
        w->table = table;
        w->rcc = rcc;
        w->t = *t;
        w->key = key;
        w->metrics = metrics != NULL && strcmp(metrics, "SIZE") == 0;
    }
    return w;
}

/* Write units of a write: the larger of the item before and after, in 1 KB units, plus the
 * index writes of its LSIs (which consume the table's capacity, reported apart) and of its GSIs
 * (each index's own capacity; CapacityUnits is the sum of all). */
static Dyne__V1__ConsumedCapacity *
write_consumed(write_ctx *w, int64_t old_size, int64_t new_size,
               Dyne__Internal__LsiWrite *const *lsi, size_t n_lsi,
               Dyne__Internal__LsiWrite *const *gsi, size_t n_gsi)
{
    int64_t size = old_size > new_size ? old_size : new_size;
    router_cap cap = { .table = router_write_units(size) };

    router_cap_add_lsi_writes(&cap, lsi, n_lsi);
    router_cap_add_gsi_writes(&cap, gsi, n_gsi);
    return router_consumed_cap(dyn_rpc_call_arena(w->call), w->rcc, w->table, &cap, false);
}

/* ItemCollectionMetrics: only asked for (SIZE) and only for tables with LSIs, as DynamoDB. */
static Dyne__V1__ItemCollectionMetrics *
write_metrics(write_ctx *w, protobuf_c_boolean has_size, int64_t size)
{
    if (!w->metrics || w->t.n_lsis == 0 || !has_size)
        return NULL;
    return router_collection_metrics(dyn_rpc_call_arena(w->call), &w->t, w->key, size);
}

/* Ends a write: the reply, or the storage node's error with its detail (the Item of a failed
 * condition with ReturnValuesOnConditionCheckFailure ALL_OLD), which is ours to pass on. */
static void
write_finish(write_ctx *w, dyn_err rc, ProtobufCMessage *out, ProtobufCMessage *storage_resp,
             const char *errmsg)
{
    if (rc != DYN_OK && storage_resp != NULL &&
        storage_resp->descriptor == &dyne__v1__error_detail__descriptor)
        dyn_rpc_call_set_error_detail(w->call, storage_resp);
    dyn_rpc_call_finish(w->call, rc, rc == DYN_OK ? out : NULL, errmsg);
}

/* ---- PutItem ---- */

static void
put_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    write_ctx *w = arg;
    Dyne__Internal__PutResponse *sr = (void *)resp;
    Dyne__V1__PutItemOutput *out = NULL;

    if (rc == DYN_OK) {
        if ((out = dyn_arena_alloc(dyn_rpc_call_arena(w->call), sizeof *out)) == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__put_item_output__init(out);
            if (sr->old_item != NULL && sr->old_item->n_values > 0)
                out->attributes = sr->old_item;
            out->consumedcapacity =
                write_consumed(w, sr->old_size, sr->new_size, sr->lsi_writes, sr->n_lsi_writes,
                               sr->gsi_writes, sr->n_gsi_writes);
            out->itemcollectionmetrics =
                write_metrics(w, sr->has_collection_size, sr->collection_size);
        }
    }
    write_finish(w, rc, out ? &out->base : NULL, resp, errmsg);
}

dyn_err
router_put_item(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__V1__PutItemInput *in = (const void *)m;
    router *r = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__PutRequest *sreq;
    const router_part *part;
    router_table t;
    dyn_err rc;

    (void)resp;
    dyn_req_cond c = INPUT_COND(in);
    if ((rc = check_write(call, DYN_EXPR_OP_PUT_ITEM, "item", in->item, in->tablename,
                          in->returnvalues, in->returnconsumedcapacity,
                          in->returnitemcollectionmetrics, in->returnvaluesonconditioncheckfailure,
                          &c)) != DYN_OK)
        return rc;
    if (dyn_item_size(in->item) > DYN_ITEM_MAX_SIZE)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Item size has exceeded the maximum allowed size");

    if ((sreq = dyn_arena_alloc(a, sizeof *sreq)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__put_request__init(sreq);
    if ((rc = resolve_key(call, r, in->tablename, in->item, true, &t, &part, &sreq->key)) != DYN_OK)
        return rc;
    sreq->has_key = true;
    sreq->partition_id = (char *)part->id;
    sreq->item = in->item;
    sreq->n_gsis = t.n_gsis;
    sreq->gsis = t.gsis;
    FORWARD_COND(sreq, in);
    sreq->has_return_old = true;
    sreq->return_old = in->returnvalues != NULL && strcmp(in->returnvalues, "ALL_OLD") == 0;
    write_ctx *wc = write_ctx_new(call, in->tablename, in->returnconsumedcapacity, &t, in->item,
                                  in->returnitemcollectionmetrics);
    if (wc == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyn_rpc_call_defer(call);
    router_storage_call(r, call, part->addr, "Put", &sreq->base,
                        &dyne__internal__put_response__descriptor,
                        &dyne__v1__error_detail__descriptor, a, put_done, wc);
    return DYN_OK;
}

/* ---- GetItem ---- */

typedef struct get_ctx {
    dyn_rpc_call *call;
    const dyn_expr *proj;   /* ProjectionExpression / AttributesToGet; NULL: whole item */
    const char *table, *rcc;
    bool consistent;
} get_ctx;

static void
get_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    get_ctx *g = arg;
    dyn_arena *a = dyn_rpc_call_arena(g->call);
    Dyne__Internal__GetResponse *sr = (void *)resp;
    Dyne__V1__GetItemOutput *out = NULL;

    if (rc == DYN_OK) {
        if ((out = dyn_arena_alloc(a, sizeof *out)) == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__get_item_output__init(out);
            int64_t size = 0;
            if (sr->item != NULL) {
                out->item = sr->item;
                size = (int64_t)dyn_item_size(sr->item);   /* a projection costs the whole item */
                if (g->proj != NULL)
                    rc = dyn_expr_project(g->proj, sr->item, a, &out->item);
            }
            out->consumedcapacity = router_consumed(a, g->rcc, g->table,
                                                    router_read_units(size, g->consistent), true);
        }
    }
    dyn_rpc_call_finish(g->call, rc, out ? &out->base : NULL, errmsg);
}

dyn_err
router_get_item(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp, void *ctx)
{
    const Dyne__V1__GetItemInput *in = (const void *)m;
    router *r = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__GetRequest *sreq;
    const router_part *part;
    router_table t;
    get_ctx *g;
    vc v;
    dyn_err rc;

    (void)resp;
    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", in->returnconsumedcapacity, consumed_enum);
    if (in->n_attributestoget > 0)
        vc_list_len(&v, "attributesToGet", in->n_attributestoget, 1, 255);
    vc_not_null(&v, "tableName", in->tablename != NULL);
    vc_table_name(&v, "tableName", in->tablename);
    vc_not_null(&v, "key", in->key != NULL);
    if ((rc = fail_validation(call, &v)) != DYN_OK)
        return rc;
    if ((rc = check_values(call, in->key)) != DYN_OK)
        return rc;
    dyn_expr *proj = NULL;
    const char *msg = NULL;
    if ((rc = dyn_req_projection(in->projectionexpression,
                                 (dyn_req_str_entry *const *)in->expressionattributenames,
                                 in->n_expressionattributenames,
                                 (const char *const *)in->attributestoget, in->n_attributestoget,
                                 a, &proj, &msg)) != DYN_OK)
        return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid projection");

    if ((sreq = dyn_arena_alloc(a, sizeof *sreq)) == NULL ||
        (g = dyn_arena_alloc(a, sizeof *g)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__get_request__init(sreq);
    if ((rc = resolve_key(call, r, in->tablename, in->key, false, &t, &part, &sreq->key)) != DYN_OK)
        return rc;
    sreq->has_key = true;
    sreq->partition_id = (char *)part->id;
    sreq->has_consistent = true;
    sreq->consistent = in->has_consistentread && in->consistentread;
    g->call = call;
    g->proj = proj;
    g->table = in->tablename;
    g->rcc = in->returnconsumedcapacity;
    g->consistent = sreq->consistent;
    dyn_rpc_call_defer(call);
    router_storage_call(r, call, part->addr, "Get", &sreq->base,
                        &dyne__internal__get_response__descriptor, NULL, a, get_done, g);
    return DYN_OK;
}

/* ---- DeleteItem ---- */

static void
delete_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    write_ctx *w = arg;
    Dyne__Internal__DeleteResponse *sr = (void *)resp;
    Dyne__V1__DeleteItemOutput *out = NULL;

    if (rc == DYN_OK) {
        if ((out = dyn_arena_alloc(dyn_rpc_call_arena(w->call), sizeof *out)) == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__delete_item_output__init(out);
            if (sr->old_item != NULL && sr->old_item->n_values > 0)
                out->attributes = sr->old_item;
            out->consumedcapacity =
                write_consumed(w, sr->old_size, 0, sr->lsi_writes, sr->n_lsi_writes,
                               sr->gsi_writes, sr->n_gsi_writes);
            out->itemcollectionmetrics =
                write_metrics(w, sr->has_collection_size, sr->collection_size);
        }
    }
    write_finish(w, rc, out ? &out->base : NULL, resp, errmsg);
}

dyn_err
router_delete_item(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                   void *ctx)
{
    const Dyne__V1__DeleteItemInput *in = (const void *)m;
    router *r = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__DeleteRequest *sreq;
    const router_part *part;
    router_table t;
    dyn_err rc;

    (void)resp;
    dyn_req_cond c = INPUT_COND(in);
    if ((rc = check_write(call, DYN_EXPR_OP_DELETE_ITEM, "key", in->key, in->tablename,
                          in->returnvalues, in->returnconsumedcapacity,
                          in->returnitemcollectionmetrics, in->returnvaluesonconditioncheckfailure,
                          &c)) != DYN_OK)
        return rc;

    if ((sreq = dyn_arena_alloc(a, sizeof *sreq)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__delete_request__init(sreq);
    if ((rc = resolve_key(call, r, in->tablename, in->key, false, &t, &part, &sreq->key)) != DYN_OK)
        return rc;
    sreq->has_key = true;
    sreq->partition_id = (char *)part->id;
    sreq->has_return_old = true;
    sreq->return_old = in->returnvalues != NULL && strcmp(in->returnvalues, "ALL_OLD") == 0;
    sreq->n_gsis = t.n_gsis;
    sreq->gsis = t.gsis;
    FORWARD_COND(sreq, in);
    write_ctx *wc = write_ctx_new(call, in->tablename, in->returnconsumedcapacity, &t, in->key,
                                  in->returnitemcollectionmetrics);
    if (wc == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyn_rpc_call_defer(call);
    router_storage_call(r, call, part->addr, "Delete", &sreq->base,
                        &dyne__internal__delete_response__descriptor,
                        &dyne__v1__error_detail__descriptor, a, delete_done, wc);
    return DYN_OK;
}

/* ---- UpdateItem ---- */

static void
update_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    write_ctx *w = arg;
    Dyne__Internal__UpdateResponse *sr = (void *)resp;
    Dyne__V1__UpdateItemOutput *out = NULL;

    if (rc == DYN_OK) {
        if ((out = dyn_arena_alloc(dyn_rpc_call_arena(w->call), sizeof *out)) == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__update_item_output__init(out);
            if (sr->attributes != NULL && sr->attributes->n_values > 0)
                out->attributes = sr->attributes;
            out->consumedcapacity =
                write_consumed(w, sr->old_size, sr->new_size, sr->lsi_writes, sr->n_lsi_writes,
                               sr->gsi_writes, sr->n_gsi_writes);
            out->itemcollectionmetrics =
                write_metrics(w, sr->has_collection_size, sr->collection_size);
        }
    }
    write_finish(w, rc, out ? &out->base : NULL, resp, errmsg);
}

dyn_err
router_update_item(dyn_rpc_call *call, const ProtobufCMessage *m, ProtobufCMessage **resp,
                   void *ctx)
{
    const Dyne__V1__UpdateItemInput *in = (const void *)m;
    router *r = ctx;
    dyn_arena *a = dyn_rpc_call_arena(call);
    Dyne__Internal__UpdateRequest *sreq;
    const router_part *part;
    router_table t;
    dyn_err rc;

    (void)resp;
    dyn_req_cond c = INPUT_COND(in);
    c.update_expression = in->updateexpression;
    c.attribute_updates = (const ProtobufCMessage *const *)in->attributeupdates;
    c.n_attribute_updates = in->n_attributeupdates;
    if ((rc = check_write(call, DYN_EXPR_OP_UPDATE_ITEM, "key", in->key, in->tablename,
                          in->returnvalues, in->returnconsumedcapacity,
                          in->returnitemcollectionmetrics, in->returnvaluesonconditioncheckfailure,
                          &c)) != DYN_OK)
        return rc;
    for (size_t i = 0; i < in->n_attributeupdates; i++) {
        const Dyne__V1__AttributeValueUpdate *u = in->attributeupdates[i]->value;
        const char *msg = NULL;
        if (u != NULL && u->value != NULL && (rc = dyn_item_validate_value(u->value, a, &msg)) != DYN_OK)
            return dyn_rpc_call_fail(call, rc, "%s", msg ? msg : "invalid attribute value");
    }

    if ((sreq = dyn_arena_alloc(a, sizeof *sreq)) == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyne__internal__update_request__init(sreq);
    if ((rc = resolve_key(call, r, in->tablename, in->key, false, &t, &part, &sreq->key)) != DYN_OK)
        return rc;
    sreq->has_key = true;
    sreq->partition_id = (char *)part->id;
    sreq->key_item = in->key;
    sreq->update_expression = in->updateexpression;
    sreq->n_attribute_updates = in->n_attributeupdates;
    sreq->attribute_updates = (void *)in->attributeupdates;
    sreq->return_values = in->returnvalues;
    sreq->n_gsis = t.n_gsis;
    sreq->gsis = t.gsis;
    FORWARD_COND(sreq, in);
    write_ctx *wc = write_ctx_new(call, in->tablename, in->returnconsumedcapacity, &t, in->key,
                                  in->returnitemcollectionmetrics);
    if (wc == NULL)
        return dyn_rpc_call_fail(call, DYN_ENOMEM, "out of memory");
    dyn_rpc_call_defer(call);
    router_storage_call(r, call, part->addr, "Update", &sreq->base,
                        &dyne__internal__update_response__descriptor,
                        &dyne__v1__error_detail__descriptor, a, update_done, wc);
    return DYN_OK;
}
