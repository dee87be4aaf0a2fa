/* bench/loadgen -- the router's public API, dyne.v1.DynamoDB: PutItem, GetItem, Query (one
 * partition-key value, KeyConditionExpression "pk = :p") and the read-modify-write UpdateItem on
 * one table (pk S, sk N, on-demand) created by CreateTable and waited for until ACTIVE. */
#include "bench/loadgen/loadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/dyne/v1/dynamodb.pb-c.h"

#define ACTIVE_WAIT_MS 30000

typedef struct router_target {
    lg_target t;
    lg_target_opts o;
} router_target;

/* "ACTIVE" once DescribeTable says so; NULL-safe. */
static bool
table_active(const lg_buf *resp)
{
    Dyne__V1__DescribeTableOutput *out =
        dyne__v1__describe_table_output__unpack(NULL, resp->len, resp->p);
    bool active = out != NULL && out->table != NULL && out->table->tablestatus != NULL &&
                  strcmp(out->table->tablestatus, "ACTIVE") == 0;

    if (out != NULL)
        dyne__v1__describe_table_output__free_unpacked(out, NULL);
    return active;
}

static int
rt_setup(lg_target *t, lg_unary_fn call, void *ctx)
{
    router_target *rt = t->state;
    Dyne__V1__CreateTableInput req = DYNE__V1__CREATE_TABLE_INPUT__INIT;
    Dyne__V1__AttributeDefinition ad[2] = { DYNE__V1__ATTRIBUTE_DEFINITION__INIT,
                                            DYNE__V1__ATTRIBUTE_DEFINITION__INIT };
    Dyne__V1__KeySchemaElement ks[2] = { DYNE__V1__KEY_SCHEMA_ELEMENT__INIT,
                                         DYNE__V1__KEY_SCHEMA_ELEMENT__INIT };
    Dyne__V1__AttributeDefinition *adp[2] = { &ad[0], &ad[1] };
    Dyne__V1__KeySchemaElement *ksp[2] = { &ks[0], &ks[1] };
    Dyne__V1__DescribeTableInput dreq = DYNE__V1__DESCRIBE_TABLE_INPUT__INIT;
    lg_buf in = { 0 }, out = { 0 };
    const char *msg = NULL;
    int rc = -1, st;

    ad[0].attributename = ks[0].attributename = "pk";
    ad[0].attributetype = "S";
    ks[0].keytype = "HASH";
    ad[1].attributename = ks[1].attributename = "sk";
    ad[1].attributetype = "N";
    ks[1].keytype = "RANGE";
    req.tablename = (char *)rt->o.table;
    req.n_attributedefinitions = req.n_keyschema = 2;
    req.attributedefinitions = adp;
    req.keyschema = ksp;
    req.billingmode = "PAY_PER_REQUEST";
    LG_PACK(&in, &req, dyne__v1__create_table_input);
    st = call(ctx, "/dyne.v1.DynamoDB/CreateTable", in.p, in.len, &out, &msg);
    if (st != 0 && st != 9 /* FAILED_PRECONDITION: ResourceInUseException, it exists */) {
        fprintf(stderr, "loadgen: CreateTable %s: %s\n", rt->o.table, msg);
        goto out;
    }
    dreq.tablename = (char *)rt->o.table;
    LG_PACK(&in, &dreq, dyne__v1__describe_table_input);
    for (int waited = 0; waited < ACTIVE_WAIT_MS; waited += 50) {
        st = call(ctx, "/dyne.v1.DynamoDB/DescribeTable", in.p, in.len, &out, &msg);
        if (st == 0 && table_active(&out)) {
            rc = 0;
            goto out;
        }
        nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
    }
    fprintf(stderr, "loadgen: table %s not ACTIVE after %d ms (%s)\n", rt->o.table,
            ACTIVE_WAIT_MS, msg);
out:
    lg_buf_fini(&in);
    lg_buf_fini(&out);
    return rc;
}

static const char *
rt_method(lg_target *t, lg_op op)
{
    (void)t;
    switch (op) {
    case LG_OP_GET:
        return "/dyne.v1.DynamoDB/GetItem";
    case LG_OP_QUERY:
        return "/dyne.v1.DynamoDB/Query";
    case LG_OP_RMW:
        return "/dyne.v1.DynamoDB/UpdateItem";
    default:
        return "/dyne.v1.DynamoDB/PutItem";
    }
}

static int
rt_request(lg_target *t, lg_op op, uint64_t k, uint64_t seq, dyn_arena *a, lg_buf *b)
{
    router_target *rt = t->state;
    Dyne__V1__AttributeValueMap *item = lg_item(k, seq, rt->o.keys, rt->o.item_size, a);

    if (item == NULL)
        return -1;
    if (op == LG_OP_GET) {   /* the Key: the item's first two attributes, pk and sk */
        Dyne__V1__GetItemInput req = DYNE__V1__GET_ITEM_INPUT__INIT;
        item->n_values = 2;
        req.tablename = (char *)rt->o.table;
        req.key = item;
        LG_PACK(b, &req, dyne__v1__get_item_input);
        return 0;
    }
    if (op == LG_OP_QUERY) {
        Dyne__V1__QueryInput req = DYNE__V1__QUERY_INPUT__INIT;
        Dyne__V1__AttributeValueMap vals = DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
        Dyne__V1__AttributeValueMap__ValuesEntry e = DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
        Dyne__V1__AttributeValueMap__ValuesEntry *ep = &e;
        e.key = ":p";
        e.value = item->values[0]->value;
        vals.n_values = 1;
        vals.values = &ep;
        req.tablename = (char *)rt->o.table;
        req.keyconditionexpression = "pk = :p";
        req.expressionattributevalues = &vals;
        LG_PACK(b, &req, dyne__v1__query_input);
        return 0;
    }
    if (op == LG_OP_RMW) {
        Dyne__V1__UpdateItemInput req = DYNE__V1__UPDATE_ITEM_INPUT__INIT;
        Dyne__V1__UpdateItemInput__ExpressionAttributeNamesEntry names[2] = {
            DYNE__V1__UPDATE_ITEM_INPUT__EXPRESSION_ATTRIBUTE_NAMES_ENTRY__INIT,
            DYNE__V1__UPDATE_ITEM_INPUT__EXPRESSION_ATTRIBUTE_NAMES_ENTRY__INIT,
        };
        Dyne__V1__UpdateItemInput__ExpressionAttributeNamesEntry *np[2] = { &names[0], &names[1] };
        Dyne__V1__AttributeValueMap *vals = lg_rmw_values(item, a);
        if (vals == NULL)
            return -1;
        names[0].key = "#n";
        names[0].value = "n";
        names[1].key = "#v";
        names[1].value = "v";
        item->n_values = 2;   /* the Key: pk, sk (":v" borrows the "v" value) */
        req.tablename = (char *)rt->o.table;
        req.key = item;
        req.updateexpression = LG_RMW_UPDATE;
        req.conditionexpression = LG_RMW_CONDITION;
        req.n_expressionattributenames = 2;
        req.expressionattributenames = np;
        req.expressionattributevalues = vals;
        LG_PACK(b, &req, dyne__v1__update_item_input);
        return 0;
    }
    Dyne__V1__PutItemInput req = DYNE__V1__PUT_ITEM_INPUT__INIT;
    req.tablename = (char *)rt->o.table;
    req.item = item;
    LG_PACK(b, &req, dyne__v1__put_item_input);
    return 0;
}

static lg_check
rt_check(lg_target *t, lg_op op, const uint8_t *p, size_t n, dyn_arena *a)
{
    router_target *rt = t->state;
    long c;

    (void)a;
    if (op == LG_OP_GET) {   /* GetItemOutput.Item = 1 */
        c = lg_pb_count(p, n, 1);
        return c < 0 ? LG_CHECK_BAD : c == 0 ? LG_CHECK_MISS : LG_CHECK_OK;
    }
    if (op == LG_OP_QUERY) {   /* QueryOutput.Items = 1 */
        c = lg_pb_count(p, n, 1);
        return c < 0 ? LG_CHECK_BAD : c < (long)rt->o.keys->group ? LG_CHECK_MISS : LG_CHECK_OK;
    }
    /* PutItemOutput, UpdateItemOutput (ReturnValues NONE: empty but for consumed capacity) */
    return lg_pb_count(p, n, 1) < 0 ? LG_CHECK_BAD : LG_CHECK_OK;
}

lg_target *
lg_target_router_new(const lg_target_opts *o)
{
    router_target *rt = dyn_xcalloc(1, sizeof *rt);

    rt->o = *o;
    rt->t.name = "router";
    rt->t.setup = rt_setup;
    rt->t.method = rt_method;
    rt->t.request = rt_request;
    rt->t.check = rt_check;
    rt->t.ops_per_call = 1;
    rt->t.state = rt;
    return &rt->t;
}
