/* services/router -- PutItem, GetItem, DeleteItem: validate with DynamoDB's messages, encode the
 * key, route by its hash, and answer when the storage leader has answered (the call is deferred,
 * the storage call is asynchronous: no worker thread waits). */
#include <string.h>

#include "libs/keycodec/keycodec.h"
#include "libs/log/log.h"
#include "proto/dyne/internal/storage.pb-c.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "services/router/router.h"
#include "services/router/validate.h"

static const char *const return_values_enum[] = { "ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE",
                                                  "UPDATED_NEW", NULL };
static const char *const consumed_enum[] = { "INDEXES", "TOTAL", "NONE", NULL };
static const char *const metrics_enum[] = { "SIZE", "NONE", NULL };
static const char *const on_fail_enum[] = { "ALL_OLD", "NONE", NULL };

/* Parameters whose implementation arrives with the expression and storage issues. Answering
 * UNIMPLEMENTED is honest; silently ignoring a condition would lose a user's guarantee. */
static dyn_err
not_yet(dyn_rpc_call *call, const char *param, bool present)
{
    if (!present)
        return DYN_OK;
    return dyn_rpc_call_fail(call, DYN_EUNIMPLEMENTED, "%s is not implemented yet", param);
}

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

/* ---- PutItem ---- */

static void
put_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    dyn_rpc_call *call = arg;
    Dyne__Internal__PutResponse *sr = (void *)resp;
    Dyne__V1__PutItemOutput *out = NULL;

    if (rc == DYN_OK) {
        if ((out = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *out)) == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__put_item_output__init(out);
            if (sr != NULL && sr->old_item != NULL && sr->old_item->n_values > 0)
                out->attributes = sr->old_item;
        }
    }
    dyn_rpc_call_finish(call, rc, out ? &out->base : NULL, errmsg);
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
    vc v;
    dyn_err rc;

    (void)resp;
    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", in->returnconsumedcapacity, consumed_enum);
    vc_not_null(&v, "tableName", in->tablename != NULL);
    vc_table_name(&v, "tableName", in->tablename);
    vc_not_null(&v, "item", in->item != NULL);
    vc_enum(&v, "returnValues", in->returnvalues, return_values_enum);
    vc_enum(&v, "returnItemCollectionMetrics", in->returnitemcollectionmetrics, metrics_enum);
    vc_enum(&v, "returnValuesOnConditionCheckFailure", in->returnvaluesonconditioncheckfailure,
            on_fail_enum);
    if ((rc = fail_validation(call, &v)) != DYN_OK)
        return rc;
    if ((rc = check_values(call, in->item)) != DYN_OK)
        return rc;
    if (in->returnvalues != NULL && strcmp(in->returnvalues, "ALL_OLD") != 0 &&
        strcmp(in->returnvalues, "NONE") != 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "ReturnValues can only be ALL_OLD or NONE");
    if ((rc = not_yet(call, "ConditionExpression", in->conditionexpression != NULL)) != DYN_OK ||
        (rc = not_yet(call, "Expected", in->n_expected > 0)) != DYN_OK)
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
    sreq->has_return_old = true;
    sreq->return_old = in->returnvalues != NULL && strcmp(in->returnvalues, "ALL_OLD") == 0;
    dyn_rpc_call_defer(call);
    dyn_rpc_client_call_async(router_storage(r, part->addr), "/dyne.internal.Storage/Put",
                              &sreq->base, &dyne__internal__put_response__descriptor,
                              router_storage_deadline(r), a, put_done, call);
    return DYN_OK;
}

/* ---- GetItem ---- */

typedef struct get_ctx {
    dyn_rpc_call *call;
    const Dyne__V1__GetItemInput *in;
} get_ctx;

/* AttributesToGet: top-level attribute names; unknown names are simply absent. */
static Dyne__V1__AttributeValueMap *
project_names(dyn_arena *a, const Dyne__V1__AttributeValueMap *item, char **names, size_t n)
{
    Dyne__V1__AttributeValueMap *out = dyn_arena_alloc(a, sizeof *out);

    if (out == NULL)
        return NULL;
    dyne__v1__attribute_value_map__init(out);
    out->values = dyn_arena_alloc(a, sizeof *out->values * (n ? n : 1));
    if (out->values == NULL)
        return NULL;
    for (size_t i = 0; i < item->n_values; i++)
        for (size_t j = 0; j < n; j++)
            if (strcmp(item->values[i]->key, names[j]) == 0) {
                out->values[out->n_values++] = item->values[i];
                break;
            }
    return out;
}

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
            if (sr != NULL && sr->item != NULL) {
                out->item = sr->item;
                if (g->in->n_attributestoget > 0)
                    out->item = project_names(a, sr->item, g->in->attributestoget,
                                              g->in->n_attributestoget);
                if (out->item == NULL)
                    rc = DYN_ENOMEM;
            }
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
    if (in->projectionexpression != NULL && in->n_attributestoget > 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                 "Can not use both expression and non-expression parameters in "
                                 "the same request: Non-expression parameters: {AttributesToGet} "
                                 "Expression parameters: {ProjectionExpression}");
    if ((rc = check_values(call, in->key)) != DYN_OK)
        return rc;
    for (size_t i = 0; i < in->n_attributestoget; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->attributestoget[i], in->attributestoget[j]) == 0)
                return dyn_rpc_call_fail(call, DYN_EVALIDATION,
                                         "One or more parameter values were invalid: Duplicate "
                                         "value in attribute name: %s",
                                         in->attributestoget[i]);
    if ((rc = not_yet(call, "ProjectionExpression", in->projectionexpression != NULL)) != DYN_OK)
        return rc;

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
    g->in = in;
    dyn_rpc_call_defer(call);
    dyn_rpc_client_call_async(router_storage(r, part->addr), "/dyne.internal.Storage/Get",
                              &sreq->base, &dyne__internal__get_response__descriptor,
                              router_storage_deadline(r), a, get_done, g);
    return DYN_OK;
}

/* ---- DeleteItem ---- */

static void
delete_done(void *arg, dyn_err rc, ProtobufCMessage *resp, const char *errmsg)
{
    dyn_rpc_call *call = arg;
    Dyne__Internal__DeleteResponse *sr = (void *)resp;
    Dyne__V1__DeleteItemOutput *out = NULL;

    if (rc == DYN_OK) {
        if ((out = dyn_arena_alloc(dyn_rpc_call_arena(call), sizeof *out)) == NULL) {
            rc = DYN_ENOMEM;
        } else {
            dyne__v1__delete_item_output__init(out);
            if (sr != NULL && sr->old_item != NULL && sr->old_item->n_values > 0)
                out->attributes = sr->old_item;
        }
    }
    dyn_rpc_call_finish(call, rc, out ? &out->base : NULL, errmsg);
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
    vc v;
    dyn_err rc;

    (void)resp;
    vc_init(&v, a);
    vc_enum(&v, "returnConsumedCapacity", in->returnconsumedcapacity, consumed_enum);
    vc_not_null(&v, "tableName", in->tablename != NULL);
    vc_table_name(&v, "tableName", in->tablename);
    vc_not_null(&v, "key", in->key != NULL);
    vc_enum(&v, "returnValues", in->returnvalues, return_values_enum);
    vc_enum(&v, "returnItemCollectionMetrics", in->returnitemcollectionmetrics, metrics_enum);
    vc_enum(&v, "returnValuesOnConditionCheckFailure", in->returnvaluesonconditioncheckfailure,
            on_fail_enum);
    if ((rc = fail_validation(call, &v)) != DYN_OK)
        return rc;
    if ((rc = check_values(call, in->key)) != DYN_OK)
        return rc;
    if (in->returnvalues != NULL && strcmp(in->returnvalues, "ALL_OLD") != 0 &&
        strcmp(in->returnvalues, "NONE") != 0)
        return dyn_rpc_call_fail(call, DYN_EVALIDATION, "ReturnValues can only be ALL_OLD or NONE");
    if ((rc = not_yet(call, "ConditionExpression", in->conditionexpression != NULL)) != DYN_OK ||
        (rc = not_yet(call, "Expected", in->n_expected > 0)) != DYN_OK)
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
    dyn_rpc_call_defer(call);
    dyn_rpc_client_call_async(router_storage(r, part->addr), "/dyne.internal.Storage/Delete",
                              &sreq->base, &dyne__internal__delete_response__descriptor,
                              router_storage_deadline(r), a, delete_done, call);
    return DYN_OK;
}
