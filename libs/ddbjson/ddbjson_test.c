/* libs/ddbjson -- round trips through the real dyne.v1 descriptors, and every error text. */
#include "libs/ddbjson/ddbjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/ddbjson/ddbjson_int.h"
#include "libs/testing/dyn_test.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"
#include "proto/dyne/v1/streams.pb-c.h"

#define PUT (&dyne__v1__put_item_input__descriptor)

static dyn_arena g_arena;
static const char *g_msg;

static void
jt_reset(void)
{
    dyn_arena_fini(&g_arena);
    dyn_arena_init(&g_arena, 64 << 20);
    g_msg = NULL;
}

/* Decodes json (a C string); g_msg gets the message. */
static dyn_err
jt_dec(const ProtobufCMessageDescriptor *desc, const char *json, ProtobufCMessage **m)
{
    ProtobufCMessage *tmp;
    return dyn_ddbjson_decode(desc, json, strlen(json), &g_arena, m ? m : &tmp, &g_msg);
}

static const char *
jt_enc(const ProtobufCMessage *m)
{
    char *out;
    size_t len;
    if (dyn_ddbjson_encode(m, &g_arena, &out, &len) != DYN_OK)
        return "(encode failed)";
    if (strlen(out) != len)
        return "(bad length)";
    return out;
}

/* Decodes in, encodes, and expects want (in itself when NULL); then the output must decode and
 * encode to itself. */
#define RT(desc, in, want)                                                                     \
    do {                                                                                       \
        ProtobufCMessage *m_;                                                                  \
        const char *w_ = (want) ? (want) : (in);                                               \
        DT_OK(jt_dec((desc), (in), &m_));                                                      \
        if (m_ != NULL) {                                                                      \
            const char *o_ = jt_enc(m_);                                                       \
            DT_EQ_STR(o_, w_);                                                                 \
            DT_OK(jt_dec((desc), o_, &m_));                                                    \
            if (m_ != NULL)                                                                    \
                DT_EQ_STR(jt_enc(m_), w_);                                                     \
        }                                                                                      \
    } while (0)

/* Expects decode to fail with code e and message text. */
#define BAD(desc, in, e, text)                                                                 \
    do {                                                                                       \
        ProtobufCMessage *m_ = (ProtobufCMessage *)1;                                          \
        DT_ERR(jt_dec((desc), (in), &m_), (e));                                                \
        DT_TRUE(m_ == NULL);                                                                   \
        if ((text) != NULL)                                                                    \
            DT_EQ_STR(g_msg, (text));                                                          \
        else                                                                                   \
            DT_TRUE(g_msg != NULL);                                                            \
    } while (0)

#define SER DYN_ESERIALIZATION
#define VAL DYN_EVALIDATION
#define AV_EMPTY "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
#define AV_MANY                                                                                \
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "  \
    "supported datatypes"

static Dyne__V1__AttributeValue *
jt_attr(Dyne__V1__AttributeValueMap *m, const char *name)
{
    for (size_t i = 0; m != NULL && i < m->n_values; i++)
        if (strcmp(m->values[i]->key, name) == 0)
            return m->values[i]->value;
    return NULL;
}

/* ---- AttributeValue types */

static void
test_av_scalars(void)
{
    Dyne__V1__PutItemInput *p;
    jt_reset();
    RT(PUT, "{\"TableName\":\"t\",\"Item\":{\"s\":{\"S\":\"hello\"},\"n\":{\"N\":\"-1.5E3\"},"
            "\"t\":{\"BOOL\":true},\"f\":{\"BOOL\":false},\"z\":{\"NULL\":true}}}",
       NULL);
    DT_OK(jt_dec(PUT, "{\"TableName\":\"t\",\"Item\":{\"s\":{\"S\":\"hello\"},\"n\":{\"N\":\"7\"}}}",
                 (ProtobufCMessage **)&p));
    DT_EQ_STR(p->tablename, "t");
    DT_EQ_INT(p->item->n_values, 2);
    DT_EQ_INT(jt_attr(p->item, "s")->value_case, DYNE__V1__ATTRIBUTE_VALUE__VALUE_S);
    DT_EQ_STR(jt_attr(p->item, "s")->s, "hello");
    DT_EQ_INT(jt_attr(p->item, "n")->value_case, DYNE__V1__ATTRIBUTE_VALUE__VALUE_N);
    DT_EQ_STR(jt_attr(p->item, "n")->n, "7");
}

static void
test_av_binary(void)
{
    Dyne__V1__PutItemInput *p;
    jt_reset();
    DT_OK(jt_dec(PUT, "{\"Item\":{\"b\":{\"B\":\"AQID/w==\"},\"e\":{\"B\":\"\"}}}",
                 (ProtobufCMessage **)&p));
    Dyne__V1__AttributeValue *b = jt_attr(p->item, "b");
    DT_EQ_INT(b->value_case, DYNE__V1__ATTRIBUTE_VALUE__VALUE_B);
    DT_EQ_INT(b->b.len, 4);
    DT_TRUE(memcmp(b->b.data, "\x01\x02\x03\xff", 4) == 0);
    DT_EQ_INT(jt_attr(p->item, "e")->b.len, 0);
    RT(PUT, "{\"Item\":{\"b\":{\"B\":\"AQID/w==\"},\"e\":{\"B\":\"\"},\"c\":{\"B\":\"YWI=\"}}}", NULL);
}

static void
test_av_sets(void)
{
    Dyne__V1__PutItemInput *p;
    jt_reset();
    RT(PUT, "{\"Item\":{\"ss\":{\"SS\":[\"a\",\"b\"]},\"ns\":{\"NS\":[\"1\",\"2.5\"]},"
            "\"bs\":{\"BS\":[\"AA==\",\"AQI=\"]}}}",
       NULL);
    DT_OK(jt_dec(PUT, "{\"Item\":{\"bs\":{\"BS\":[\"AA==\",\"AQI=\"]},\"ss\":{\"SS\":[\"x\"]}}}",
                 (ProtobufCMessage **)&p));
    Dyne__V1__AttributeValue *bs = jt_attr(p->item, "bs");
    DT_EQ_INT(bs->value_case, DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS);
    DT_EQ_INT(bs->bs->n_values, 2);
    DT_EQ_INT(bs->bs->values[1].len, 2);
    DT_EQ_STR(jt_attr(p->item, "ss")->ss->values[0], "x");
    /* an empty set is kept as given (DynamoDB's validation refuses it later) */
    RT(PUT, "{\"Item\":{\"ss\":{\"SS\":[]}}}", NULL);
}

static void
test_av_nested_list_map(void)
{
    Dyne__V1__PutItemInput *p;
    jt_reset();
    RT(PUT, "{\"Item\":{\"l\":{\"L\":[{\"S\":\"a\"},{\"N\":\"1\"},{\"L\":[]},{\"M\":{}},"
            "{\"M\":{\"k\":{\"L\":[{\"BOOL\":true},{\"NULL\":true}]}}}]},"
            "\"m\":{\"M\":{\"x\":{\"M\":{\"y\":{\"SS\":[\"q\"]}}}}}}}",
       NULL);
    DT_OK(jt_dec(PUT, "{\"Item\":{\"l\":{\"L\":[{\"S\":\"a\"},{\"M\":{\"k\":{\"N\":\"2\"}}}]}}}",
                 (ProtobufCMessage **)&p));
    Dyne__V1__AttributeValue *l = jt_attr(p->item, "l");
    DT_EQ_INT(l->value_case, DYNE__V1__ATTRIBUTE_VALUE__VALUE_L);
    DT_EQ_INT(l->l->n_values, 2);
    DT_EQ_STR(jt_attr(l->l->values[1]->m, "k")->n, "2");
}

static void
test_empty_item_is_object(void)
{
    Dyne__V1__PutItemInput *p;
    jt_reset();
    RT(PUT, "{\"TableName\":\"t\",\"Item\":{}}", NULL);
    DT_OK(jt_dec(PUT, "{\"Item\":{}}", (ProtobufCMessage **)&p));
    DT_TRUE(p->item != NULL);
    DT_EQ_INT(p->item->n_values, 0);
    /* absent and null both leave it unset, and unset is omitted */
    RT(PUT, "{\"TableName\":\"t\",\"Item\":null}", "{\"TableName\":\"t\"}");
    RT(PUT, "{}", NULL);
}

static void
test_unknown_members_ignored(void)
{
    jt_reset();
    RT(PUT, "{\"Foo\":{\"a\":[1,2,{\"b\":null}]},\"TableName\":\"t\",\"tablename\":5,"
            "\"Item\":{\"a\":{\"S\":\"x\",\"Extra\":[true]}},\"Z\":\"\\u00e9\"}",
       "{\"TableName\":\"t\",\"Item\":{\"a\":{\"S\":\"x\"}}}");
}

static void
test_whitespace_and_escapes(void)
{
    Dyne__V1__PutItemInput *p;
    jt_reset();
    DT_OK(jt_dec(PUT, " \r\n\t{ \"TableName\" : \"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\" ,"
                      "\"Item\" : { \"\\u006b\" : { \"S\" : \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\" } } } \n",
                 (ProtobufCMessage **)&p));
    DT_EQ_STR(p->tablename, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80");
    DT_EQ_STR(p->item->values[0]->key, "k");
    DT_EQ_STR(jt_attr(p->item, "k")->s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    DT_EQ_STR(jt_enc(&p->base), "{\"TableName\":\"a\\\"b\\\\c/d\\n\\t\xc3\xa9\xf0\x9f\x98\x80\","
                                "\"Item\":{\"k\":{\"S\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}}}");
    RT(PUT, "{\"TableName\":\"\\u0001\\u001f\\b\\f\\r\"}", NULL);
}

static void
test_duplicates_last_wins(void)
{
    Dyne__V1__PutItemInput *p;
    char big[4096];
    size_t o = 0;
    jt_reset();
    RT(PUT, "{\"TableName\":\"a\",\"TableName\":\"b\"}", "{\"TableName\":\"b\"}");
    RT(PUT, "{\"Item\":{\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"},\"a\":{\"N\":\"3\"}}}",
       "{\"Item\":{\"b\":{\"S\":\"2\"},\"a\":{\"N\":\"3\"}}}");
    RT(PUT, "{\"Item\":{\"a\":{\"S\":\"1\",\"S\":\"2\"}}}", "{\"Item\":{\"a\":{\"S\":\"2\"}}}");
    RT(PUT, "{\"ExpressionAttributeNames\":{\"#a\":\"x\",\"#a\":\"y\"}}",
       "{\"ExpressionAttributeNames\":{\"#a\":\"y\"}}");
    /* a big map takes the sorting path */
    o += (size_t)snprintf(big + o, sizeof big - o, "{\"Item\":{");
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s\"k%d\":{\"N\":\"%d\"}", i ? "," : "",
                              i % 40, i);
    snprintf(big + o, sizeof big - o, "}}");
    DT_OK(jt_dec(PUT, big, (ProtobufCMessage **)&p));
    DT_EQ_INT(p->item->n_values, 40);
    DT_EQ_STR(jt_attr(p->item, "k5")->n, "45");
    DT_EQ_STR(jt_attr(p->item, "k39")->n, "39");
    DT_EQ_STR(p->item->values[0]->key, "k20");   /* k0..k19 were given again later */
    /* the last member of a repeated field replaces the earlier one */
    RT(&dyne__v1__list_tables_output__descriptor, "{\"TableNames\":[\"a\"],\"TableNames\":[\"b\",\"c\"]}",
       "{\"TableNames\":[\"b\",\"c\"]}");
}

/* ---- whole requests and responses */

static void
test_create_table_input(void)
{
    Dyne__V1__CreateTableInput *c;
    const char *json =
        "{\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"},"
        "{\"AttributeName\":\"sk\",\"AttributeType\":\"N\"}],\"TableName\":\"Music\","
        "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"sk\","
        "\"KeyType\":\"RANGE\"}],\"GlobalSecondaryIndexes\":[{\"IndexName\":\"g1\",\"KeySchema\":"
        "[{\"AttributeName\":\"sk\",\"KeyType\":\"HASH\"}],\"Projection\":{\"ProjectionType\":"
        "\"INCLUDE\",\"NonKeyAttributes\":[\"a\",\"b\"]},\"ProvisionedThroughput\":"
        "{\"ReadCapacityUnits\":5,\"WriteCapacityUnits\":10}}],\"BillingMode\":\"PROVISIONED\","
        "\"ProvisionedThroughput\":{\"ReadCapacityUnits\":1,\"WriteCapacityUnits\":9223372036854775807},"
        "\"StreamSpecification\":{\"StreamEnabled\":true,\"StreamViewType\":\"NEW_IMAGE\"},"
        "\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}],\"DeletionProtectionEnabled\":false}";
    jt_reset();
    RT(&dyne__v1__create_table_input__descriptor, json, NULL);
    DT_OK(jt_dec(&dyne__v1__create_table_input__descriptor, json, (ProtobufCMessage **)&c));
    DT_EQ_INT(c->n_attributedefinitions, 2);
    DT_EQ_STR(c->keyschema[1]->keytype, "RANGE");
    DT_EQ_STR(c->globalsecondaryindexes[0]->projection->nonkeyattributes[1], "b");
    DT_EQ_INT(c->globalsecondaryindexes[0]->provisionedthroughput->writecapacityunits, 10);
    DT_TRUE(c->provisionedthroughput->writecapacityunits == INT64_MAX);
    DT_TRUE(c->streamspecification->has_streamenabled && c->streamspecification->streamenabled);
    DT_TRUE(c->has_deletionprotectionenabled && !c->deletionprotectionenabled);
    DT_EQ_STR(c->tags[0]->value, "prod");
}

static void
test_batch_write_item_input(void)
{
    Dyne__V1__BatchWriteItemInput *b;
    const char *json =
        "{\"RequestItems\":{\"t1\":[{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"a\"}}}},"
        "{\"DeleteRequest\":{\"Key\":{\"pk\":{\"S\":\"b\"}}}}],\"t2\":[{\"PutRequest\":{\"Item\":{}}}]},"
        "\"ReturnConsumedCapacity\":\"TOTAL\"}";
    jt_reset();
    RT(&dyne__v1__batch_write_item_input__descriptor, json, NULL);
    DT_OK(jt_dec(&dyne__v1__batch_write_item_input__descriptor, json, (ProtobufCMessage **)&b));
    DT_EQ_INT(b->n_requestitems, 2);
    DT_EQ_STR(b->requestitems[0]->key, "t1");
    DT_EQ_INT(b->requestitems[0]->value->n_values, 2);
    DT_EQ_STR(jt_attr(b->requestitems[0]->value->values[1]->deleterequest->key, "pk")->s, "b");
    DT_EQ_INT(b->requestitems[1]->value->values[0]->putrequest->item->n_values, 0);
    /* an empty list is kept as an empty wrapper */
    RT(&dyne__v1__batch_write_item_input__descriptor, "{\"RequestItems\":{\"t\":[]}}", NULL);
}

static void
test_list_tables_output(void)
{
    Dyne__V1__ListTablesOutput o = DYNE__V1__LIST_TABLES_OUTPUT__INIT;
    char *names[] = { "alpha", "beta" };
    jt_reset();
    /* DynamoDB sends an empty TableNames list; other empty lists it leaves out */
    DT_EQ_STR(jt_enc(&o.base), "{\"TableNames\":[]}");
    o.n_tablenames = 2;
    o.tablenames = names;
    o.lastevaluatedtablename = "beta";
    DT_EQ_STR(jt_enc(&o.base), "{\"TableNames\":[\"alpha\",\"beta\"],\"LastEvaluatedTableName\":\"beta\"}");
    RT(&dyne__v1__list_tables_output__descriptor, "{\"TableNames\":[]}", "{\"TableNames\":[]}");
    /* Query: Items [] unless Select=COUNT (a Count without the items) */
    Dyne__V1__QueryOutput q = DYNE__V1__QUERY_OUTPUT__INIT;
    q.has_count = q.has_scannedcount = true;
    DT_EQ_STR(jt_enc(&q.base), "{\"Items\":[],\"Count\":0,\"ScannedCount\":0}");
    q.count = 3;
    q.scannedcount = 3;
    DT_EQ_STR(jt_enc(&q.base), "{\"Count\":3,\"ScannedCount\":3}");
    /* ListTagsOfResource of an untagged table: Tags [] */
    Dyne__V1__ListTagsOfResourceOutput t = DYNE__V1__LIST_TAGS_OF_RESOURCE_OUTPUT__INIT;
    DT_EQ_STR(jt_enc(&t.base), "{\"Tags\":[]}");
}

static void
test_table_description_doubles(void)
{
    Dyne__V1__TableDescription td = DYNE__V1__TABLE_DESCRIPTION__INIT;
    Dyne__V1__ProvisionedThroughputDescription pt = DYNE__V1__PROVISIONED_THROUGHPUT_DESCRIPTION__INIT;
    Dyne__V1__ConsumedCapacity cc = DYNE__V1__CONSUMED_CAPACITY__INIT;
    Dyne__V1__TableDescription *back;
    jt_reset();
    td.tablename = "t";
    td.tablestatus = "ACTIVE";
    td.has_creationdatetime = 1;
    td.creationdatetime = 1700000000.1234567;   /* timestamps keep milliseconds */
    td.has_itemcount = 1;
    td.itemcount = 9007199254740993LL;   /* not a double: must stay exact */
    td.has_tablesizebytes = 1;
    td.tablesizebytes = -42;
    pt.has_lastincreasedatetime = 1;
    pt.lastincreasedatetime = 1700000000.0;
    pt.has_readcapacityunits = 1;
    pt.readcapacityunits = 5;
    td.provisionedthroughput = &pt;
    const char *want = "{\"TableName\":\"t\",\"TableStatus\":\"ACTIVE\",\"CreationDateTime\":"
                       "1700000000.123,\"ProvisionedThroughput\":{\"LastIncreaseDateTime\":1700000000,"
                       "\"ReadCapacityUnits\":5},\"TableSizeBytes\":-42,\"ItemCount\":9007199254740993}";
    DT_EQ_STR(jt_enc(&td.base), want);
    DT_OK(jt_dec(&dyne__v1__table_description__descriptor, want, (ProtobufCMessage **)&back));
    DT_TRUE(back->creationdatetime == 1700000000.123);
    DT_TRUE(back->itemcount == 9007199254740993LL);
    DT_TRUE(back->provisionedthroughput->lastincreasedatetime == 1700000000.0);
    /* capacity units: shortest form */
    cc.tablename = "t";
    cc.has_capacityunits = 1;
    cc.capacityunits = 0.5;
    cc.has_readcapacityunits = 1;
    cc.readcapacityunits = 1;
    cc.has_writecapacityunits = 1;
    cc.writecapacityunits = 0.1 + 0.2;
    DT_EQ_STR(jt_enc(&cc.base), "{\"TableName\":\"t\",\"CapacityUnits\":0.5,\"ReadCapacityUnits\":1,"
                                "\"WriteCapacityUnits\":0.30000000000000004}");
    RT(&dyne__v1__consumed_capacity__descriptor, "{\"CapacityUnits\":1.5e2}", "{\"CapacityUnits\":150}");
    RT(&dyne__v1__consumed_capacity__descriptor, "{\"CapacityUnits\":-0.0}", "{\"CapacityUnits\":0}");
}

static void
test_fmt_double(void)
{
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        { 0, "0" },           { 1, "1" },           { -2.5, "-2.5" },     { 0.1, "0.1" },
        { 123.456, "123.456" }, { 1e20, "100000000000000000000" }, { 1e21, "1e+21" },
        { 1e-6, "0.000001" }, { 1e-7, "1e-7" },     { 1.5e-10, "1.5e-10" }, { 5e-324, "5e-324" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" }, { 1700000000.123, "1700000000.123" },
    };
    char buf[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ddbjson_fmt_double(cases[i].v, buf);
        DT_EQ_STR(buf, cases[i].s);
    }
}

static void
test_maps_and_streams(void)
{
    jt_reset();
    RT(&dyne__v1__get_item_input__descriptor,
       "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"1\"}},\"ConsistentRead\":true,"
       "\"ProjectionExpression\":\"#a, #b\",\"ExpressionAttributeNames\":{\"#a\":\"x\",\"#b\":\"y\"}}",
       NULL);
    RT(&dyne__v1__get_records_output__descriptor,
       "{\"Records\":[{\"eventID\":\"1\",\"eventName\":\"INSERT\",\"dynamodb\":{"
       "\"ApproximateCreationDateTime\":1700000000,\"Keys\":{\"pk\":{\"S\":\"a\"}},\"NewImage\":"
       "{\"pk\":{\"S\":\"a\"},\"v\":{\"N\":\"1\"}},\"SequenceNumber\":\"100\",\"SizeBytes\":12,"
       "\"StreamViewType\":\"NEW_IMAGE\"}}],\"NextShardIterator\":\"it\"}",
       NULL);
    RT(&dyne__v1__batch_get_item_output__descriptor,
       "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"a\"}},{}]},\"UnprocessedKeys\":{\"u\":{\"Keys\":"
       "[{\"pk\":{\"N\":\"1\"}}],\"ConsistentRead\":false}},\"ConsumedCapacity\":[{\"TableName\":"
       "\"t\",\"CapacityUnits\":1}]}",
       NULL);
    RT(&dyne__v1__transact_write_items_input__descriptor,
       "{\"TransactItems\":[{\"Put\":{\"Item\":{\"pk\":{\"S\":\"a\"}},\"TableName\":\"t\","
       "\"ConditionExpression\":\"attribute_not_exists(pk)\"}},{\"Delete\":{\"Key\":{\"pk\":{\"S\":"
       "\"b\"}},\"TableName\":\"t\"}}],\"ClientRequestToken\":\"tok\"}",
       NULL);
    RT(&dyne__v1__execute_statement_input__descriptor,
       "{\"Statement\":\"SELECT * FROM t WHERE pk=?\",\"Parameters\":[{\"S\":\"a\"},{\"N\":\"1\"}]}",
       NULL);
    RT(&dyne__v1__query_input__descriptor,
       "{\"TableName\":\"t\",\"Limit\":-2147483648,\"ConsistentRead\":false,\"ScanIndexForward\":true}",
       NULL);
}

static void
test_integers(void)
{
    Dyne__V1__QueryInput *q;
    jt_reset();
    DT_OK(jt_dec(&dyne__v1__query_input__descriptor, "{\"Limit\":1.7}", (ProtobufCMessage **)&q));
    DT_TRUE(q->has_limit && q->limit == 1);
    DT_OK(jt_dec(&dyne__v1__query_input__descriptor, "{\"Limit\":-1.5}", (ProtobufCMessage **)&q));
    DT_TRUE(q->has_limit && q->limit == -2);
    DT_OK(jt_dec(&dyne__v1__query_input__descriptor, "{\"Limit\":2E1}", (ProtobufCMessage **)&q));
    DT_EQ_INT(q->limit, 20);
    DT_OK(jt_dec(&dyne__v1__query_input__descriptor, "{\"Limit\":null}", (ProtobufCMessage **)&q));
    DT_TRUE(!q->has_limit);
    BAD(&dyne__v1__query_input__descriptor, "{\"Limit\":\"5\"}", SER,
        "class java.lang.String can not be converted to an Integer");
    BAD(&dyne__v1__query_input__descriptor, "{\"Limit\":true}", SER,
        "class java.lang.Boolean can not be converted to an Integer");
    BAD(&dyne__v1__query_input__descriptor, "{\"Limit\":2147483648}", SER,
        "Numeric value (2147483648) out of range of int");
    BAD(&dyne__v1__query_input__descriptor, "{\"Limit\":-2147483649}", SER,
        "Numeric value (-2147483649) out of range of int");
    BAD(&dyne__v1__query_input__descriptor, "{\"Limit\":1e300}", SER,
        "Numeric value (1e300) out of range of int");
    BAD(&dyne__v1__create_table_input__descriptor,
        "{\"ProvisionedThroughput\":{\"ReadCapacityUnits\":9223372036854775808}}", SER,
        "Numeric value (9223372036854775808) out of range of long");
    BAD(&dyne__v1__create_table_input__descriptor,
        "{\"ProvisionedThroughput\":{\"ReadCapacityUnits\":\"1\"}}", SER,
        "class java.lang.String can not be converted to an Long");
    BAD(&dyne__v1__consumed_capacity__descriptor, "{\"CapacityUnits\":\"1\"}", SER,
        "class java.lang.String can not be converted to an Double");
    BAD(&dyne__v1__consumed_capacity__descriptor, "{\"CapacityUnits\":false}", SER,
        "class java.lang.Boolean can not be converted to an Double");
    BAD(&dyne__v1__consumed_capacity__descriptor, "{\"CapacityUnits\":1e999}", SER,
        "Numeric value (1e999) out of range of double");
}

static void
test_encode_non_finite_and_nan(void)
{
    Dyne__V1__ConsumedCapacity cc = DYNE__V1__CONSUMED_CAPACITY__INIT;
    jt_reset();
    cc.has_capacityunits = 1;
    cc.capacityunits = 1.0 / 0.0;
    /* JSON has no infinity: null, which reads back as absent */
    DT_EQ_STR(jt_enc(&cc.base), "{\"CapacityUnits\":null}");
    RT(&dyne__v1__consumed_capacity__descriptor, "{\"CapacityUnits\":null}", "{}");
}

/* ---- type mismatch texts */

static void
test_string_mismatch(void)
{
    jt_reset();
    BAD(PUT, "{\"TableName\":5}", SER, "class java.lang.Short can not be converted to an String");
    BAD(PUT, "{\"TableName\":100000}", SER,
        "class java.lang.Integer can not be converted to an String");
    BAD(PUT, "{\"TableName\":10000000000}", SER,
        "class java.lang.Long can not be converted to an String");
    BAD(PUT, "{\"TableName\":1.5}", SER, "class java.lang.Double can not be converted to an String");
    BAD(PUT, "{\"TableName\":true}", SER,
        "class java.lang.Boolean can not be converted to an String");
    BAD(PUT, "{\"TableName\":[]}", SER, "Start of list found where not expected");
    BAD(PUT, "{\"TableName\":{}}", SER, "Start of structure or map found where not expected.");
    BAD(PUT, "{\"Item\":{\"a\":{\"S\":1}}}", SER,
        "class java.lang.Short can not be converted to an String");
    BAD(PUT, "{\"Item\":{\"a\":{\"SS\":[\"a\",2]}}}", SER,
        "class java.lang.Short can not be converted to an String");
}

static void
test_list_map_struct_mismatch(void)
{
    jt_reset();
    BAD(&dyne__v1__list_tables_output__descriptor, "{\"TableNames\":\"x\"}", SER,
        "Expected list or null");
    BAD(&dyne__v1__list_tables_output__descriptor, "{\"TableNames\":{}}", SER,
        "Start of structure or map found where not expected.");
    BAD(PUT, "{\"Item\":{\"a\":{\"L\":true}}}", SER, "Expected list or null");
    BAD(PUT, "{\"Item\":{\"a\":{\"SS\":\"x\"}}}", SER, "Expected list or null");
    BAD(PUT, "{\"Item\":\"x\"}", SER, "Expected map or null");
    BAD(PUT, "{\"Item\":[]}", SER, "Start of list found where not expected");
    BAD(PUT, "{\"Item\":{\"a\":{\"M\":3}}}", SER, "Expected map or null");
    BAD(PUT, "{\"ExpressionAttributeNames\":[\"x\"]}", SER, "Start of list found where not expected");
    BAD(PUT, "{\"ExpressionAttributeNames\":1}", SER, "Expected map or null");
    BAD(PUT, "{\"Item\":{\"a\":\"x\"}}", SER, "Expected null");
    BAD(&dyne__v1__create_table_input__descriptor, "{\"ProvisionedThroughput\":5}", SER,
        "Expected null");
    BAD(&dyne__v1__create_table_input__descriptor, "{\"ProvisionedThroughput\":[]}", SER,
        "Start of list found where not expected");
    BAD(&dyne__v1__create_table_input__descriptor, "{\"KeySchema\":[\"pk\"]}", SER,
        "Expected null");
    BAD(PUT, "[]", SER, "Start of list found where not expected");
    BAD(PUT, "\"x\"", SER, "Expected null");
}

static void
test_bool_mismatch(void)
{
    Dyne__V1__GetItemInput *g;
    jt_reset();
    BAD(&dyne__v1__get_item_input__descriptor, "{\"ConsistentRead\":\"yes\"}", SER,
        "'YES' can not be converted to an Boolean");
    BAD(&dyne__v1__get_item_input__descriptor, "{\"ConsistentRead\":1}", SER,
        "class java.lang.Short can not be converted to an Boolean");
    BAD(&dyne__v1__get_item_input__descriptor, "{\"ConsistentRead\":[true]}", SER,
        "Start of list found where not expected");
    BAD(PUT, "{\"Item\":{\"a\":{\"BOOL\":\"true\"}}}", SER,
        "'TRUE' can not be converted to an Boolean");
    /* Jackson reads a fractional number as a boolean */
    DT_OK(jt_dec(&dyne__v1__get_item_input__descriptor, "{\"ConsistentRead\":1.5}",
                 (ProtobufCMessage **)&g));
    DT_TRUE(g->has_consistentread && g->consistentread);
    DT_OK(jt_dec(&dyne__v1__get_item_input__descriptor, "{\"ConsistentRead\":0.5}",
                 (ProtobufCMessage **)&g));
    DT_TRUE(g->has_consistentread && !g->consistentread);
}

static void
test_blob_errors(void)
{
    jt_reset();
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":\"abc\"}}}", SER,
        "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 "
        "bytes but found: 3");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":\"ab-_\"}}}", SER,
        "'ab-_' can not be converted to a Blob: Invalid Base64 character: '-'");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":\"a=bc\"}}}", SER,
        "'a=bc' can not be converted to a Blob: Invalid Base64 character: '='");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":\"ab\xc3\xa9\"}}}", SER,
        "'ab\xc3\xa9' can not be converted to a Blob: Invalid Base64 character: '\xc3\xa9'");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":\"AR==\"}}}", SER,
        "'AR==' can not be converted to a Blob: Invalid last non-pad Base64 character dectected");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":\"AAB=\"}}}", SER,
        "'AAB=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":\"A===\"}}}", SER,
        "'A===' can not be converted to a Blob: Invalid last non-pad Base64 character dectected");
    BAD(PUT, "{\"Item\":{\"a\":{\"BS\":[\"AA==\",\"x\"]}}}", SER,
        "'x' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 "
        "bytes but found: 1");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":5}}}", SER,
        "class java.lang.Short can not be converted to a Blob");
    BAD(PUT, "{\"Item\":{\"a\":{\"B\":false}}}", SER,
        "class java.lang.Boolean can not be converted to a Blob");
}

static void
test_base64_all_lengths(void)
{
    uint8_t in[16], out[16];
    char enc[32], why[96];
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(0xF0 ^ (i * 37));
        size_t el = ddbjson_b64_encoded_len(n);
        ddbjson_b64_encode(in, n, enc);
        DT_TRUE(ddbjson_b64_check(enc, el, why) == NULL);
        DT_EQ_INT(ddbjson_b64_decode(enc, el, out), n);
        DT_TRUE(memcmp(in, out, n) == 0);
    }
}

/* ---- AttributeValue validation */

static void
test_av_validation(void)
{
    jt_reset();
    BAD(PUT, "{\"Item\":{\"a\":{}}}", VAL, AV_EMPTY);
    BAD(PUT, "{\"Item\":{\"a\":{\"S\":null}}}", VAL, AV_EMPTY);
    BAD(PUT, "{\"Item\":{\"a\":{\"Foo\":\"x\"}}}", VAL, AV_EMPTY);
    BAD(PUT, "{\"Item\":{\"a\":null}}", VAL, AV_EMPTY);
    BAD(PUT, "{\"Item\":{\"a\":{\"S\":\"x\",\"N\":\"1\"}}}", VAL, AV_MANY);
    BAD(PUT, "{\"Item\":{\"a\":{\"L\":[{\"S\":\"x\"},{}]}}}", VAL, AV_EMPTY);
    BAD(PUT, "{\"Item\":{\"a\":{\"L\":[null]}}}", VAL, AV_EMPTY);
    BAD(PUT, "{\"Item\":{\"a\":{\"M\":{\"b\":{\"BOOL\":true,\"NULL\":true}}}}}", VAL, AV_MANY);
    BAD(PUT, "{\"ExpressionAttributeValues\":{\":v\":{}}}", VAL, AV_EMPTY);
    /* one null member among others is just absent */
    RT(PUT, "{\"Item\":{\"a\":{\"S\":\"x\",\"N\":null}}}", "{\"Item\":{\"a\":{\"S\":\"x\"}}}");
    /* a null set element is an empty string, which later validation refuses */
    RT(PUT, "{\"Item\":{\"a\":{\"SS\":[\"x\",null]}}}", "{\"Item\":{\"a\":{\"SS\":[\"x\",\"\"]}}}");
}

static void
test_serialization_beats_validation(void)
{
    jt_reset();
    BAD(PUT, "{\"Item\":{\"a\":{}},\"TableName\":5}", SER,
        "class java.lang.Short can not be converted to an String");
    /* the first type error wins, and malformed JSON after it wins over both */
    BAD(PUT, "{\"TableName\":5,\"ReturnValues\":true}", SER,
        "class java.lang.Short can not be converted to an String");
    BAD(PUT, "{\"TableName\":5,\"Item\":{\"a\":{}}", SER, "Unexpected end-of-input at offset 30");
}

/* ---- malformed JSON */

static void
test_truncated_every_prefix(void)
{
    const char *json = "{\"TableName\":\"t\",\"Item\":{\"a\":{\"L\":[{\"N\":\"1.5\"},{\"B\":\"AQ==\"},"
                       "{\"BOOL\":false},{\"NULL\":true}]},\"s\":{\"S\":\"\\u00e9x\"}}}";
    size_t n = strlen(json);
    jt_reset();
    for (size_t i = 0; i < n; i++) {
        ProtobufCMessage *m;
        const char *msg;
        dyn_err rc = dyn_ddbjson_decode(PUT, json, i, &g_arena, &m, &msg);
        DT_ERR(rc, SER);
        DT_TRUE(m == NULL && msg != NULL);
    }
    DT_OK(jt_dec(PUT, json, NULL));
}

static void
test_malformed(void)
{
    static const char *bad[] = {
        "",         " ",           "{",          "}",           "{\"TableName\"}",
        "{\"TableName\":}", "{\"TableName\":\"t\",}", "{,}", "{\"a\":1 \"b\":2}",
        "{'TableName':'t'}", "{TableName:\"t\"}", "{\"Limit\":01}", "{\"x\":+1}",
        "{\"x\":.5}",  "{\"x\":1.}",  "{\"x\":1e}",  "{\"x\":-}",  "{\"x\":NaN}",
        "{\"x\":Infinity}", "{\"x\":tru}", "{\"x\":nul}", "{\"x\":[1,]}", "{\"x\":[1 2]}",
        "{\"TableName\":\"\\x\"}", "{\"TableName\":\"\\u12\"}", "{\"TableName\":\"\\ud800\"}",
        "{\"TableName\":\"\\udc00\"}", "{\"TableName\":\"\\ud800\\u0041\"}",
        "{\"TableName\":\"a\nb\"}", "{\"TableName\":\"a\tb\"}", "{\"TableName\":\"t\"",
        "{}x",      "{} {}",       "{}]",        "/*c*/{}",
        "{\"TableName\":\"a\\u0000b\"}",
    };
    jt_reset();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ProtobufCMessage *m;
        dyn_err rc = jt_dec(PUT, bad[i], &m);
        if (rc != SER || m != NULL || g_msg == NULL) {
            DT_FAIL_("case %zu (%s): rc %d", i, bad[i], (int)rc);
        }
    }
    BAD(PUT, "{}x", SER, "Unexpected trailing characters at offset 2");
    BAD(PUT, "{\"TableName\":\"t\",}", SER, "Unexpected character ('}' (code 125)) at offset 17");
    BAD(PUT, "{\"TableName\":\"a\nb\"}", SER,
        "Illegal unquoted character ((CTRL-CHAR, code 10)): has to be escaped using backslash to "
        "be included in string value");
    /* an unknown member is still parsed, so its NUL is allowed; a kept string's is not */
    DT_OK(jt_dec(PUT, "{\"x\":\"\\u0000\"}", NULL));
    BAD(PUT, "{\"TableName\":\"a\\u0000b\"}", SER,
        "NUL character (\\u0000) in a string at offset 15 is not supported");
    /* a null body is an empty request */
    RT(PUT, "null", "{}");
}

static void
test_invalid_utf8(void)
{
    static const char *bad[] = {
        "{\"TableName\":\"\xff\"}",            /* never valid */
        "{\"TableName\":\"\xc0\xaf\"}",        /* overlong '/' */
        "{\"TableName\":\"\xe0\x80\xaf\"}",    /* overlong */
        "{\"TableName\":\"\xed\xa0\x80\"}",    /* UTF-16 surrogate */
        "{\"TableName\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"TableName\":\"\xc3\"}",            /* truncated */
        "{\"TableName\":\"\xe2\x82\"}",        /* truncated */
        "{\"TableName\":\"\x80\"}",            /* stray continuation */
        "{\"Other\":\"\xff\"}",                /* in an ignored member too */
        "{\"Item\":{\"\xff\":{\"S\":\"x\"}}}",   /* in a key */
        "{\"TableName\":\"t\"}\xff",           /* outside a string */
    };
    jt_reset();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ProtobufCMessage *m;
        dyn_err rc = jt_dec(PUT, bad[i], &m);
        if (rc != SER || m != NULL)
            DT_FAIL_("case %zu: rc %d", i, (int)rc);
    }
    BAD(PUT, "{\"TableName\":\"ab\xff\"}", SER, "Invalid UTF-8 (byte 0xff) at offset 16");
}

static void
test_deep_nesting(void)
{
    size_t n = 10000, o = 0;
    char *buf = malloc(8 * n + 64);
    jt_reset();
    /* 10000 levels of arrays in an unknown member, then in a known one */
    o = (size_t)sprintf(buf, "{\"x\":");
    memset(buf + o, '[', n);
    o += n;
    memset(buf + o, ']', n);
    o += n;
    strcpy(buf + o, "}");
    BAD(PUT, buf, SER, "JSON nesting depth exceeds the limit of 80");
    o = (size_t)sprintf(buf, "{\"Item\":{\"a\":");
    for (size_t i = 0; i < n / 2; i++)
        o += (size_t)sprintf(buf + o, "{\"L\":[");
    BAD(PUT, buf, SER, "JSON nesting depth exceeds the limit of 80");
    /* objects unclosed: still a clean error */
    o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(buf + o, "{\"a\":");
    BAD(PUT, buf, SER, NULL);
    /* DynamoDB's own limit, 32 levels of M, fits inside TransactWriteItems */
    o = (size_t)sprintf(buf, "{\"TransactItems\":[{\"Put\":{\"Item\":{\"a\":");
    for (int i = 0; i < 32; i++)
        o += (size_t)sprintf(buf + o, "{\"M\":{\"a\":");
    o += (size_t)sprintf(buf + o, "{\"S\":\"x\"}");
    for (int i = 0; i < 32; i++)
        o += (size_t)sprintf(buf + o, "}}");
    strcpy(buf + o, "}}}]}");
    RT(&dyne__v1__transact_write_items_input__descriptor, buf, NULL);
    free(buf);
}

static void
test_arena_cap(void)
{
    dyn_arena small;
    ProtobufCMessage *m;
    const char *msg;
    char *out;
    size_t len;
    const char *json = "{\"TableName\":\"t\",\"Item\":{\"a\":{\"S\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"},"
                       "\"b\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"},{\"N\":\"3\"},{\"N\":\"4\"},{\"N\":\"5\"}]}}}";
    dyn_arena_init(&small, 256);
    DT_ERR(dyn_ddbjson_decode(PUT, json, strlen(json), &small, &m, &msg), DYN_ENOMEM);
    DT_TRUE(m == NULL && msg != NULL);
    dyn_arena_fini(&small);
    jt_reset();
    DT_OK(jt_dec(PUT, json, &m));
    dyn_arena_init(&small, 300);   /* the first 512-byte buffer doesn't fit */
    DT_ERR(dyn_ddbjson_encode(m, &small, &out, &len), DYN_ENOMEM);
    DT_TRUE(out == NULL);
    dyn_arena_fini(&small);
}

/* ---- encode-only behaviour (messages built in C, as the gRPC side does) */

static void
test_encode_grpc_built(void)
{
    Dyne__V1__PutItemInput p = DYNE__V1__PUT_ITEM_INPUT__INIT;
    Dyne__V1__AttributeValueMap item = DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
    Dyne__V1__AttributeValueMap__ValuesEntry e1 = DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
    Dyne__V1__AttributeValueMap__ValuesEntry e2 = DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
    Dyne__V1__AttributeValueMap__ValuesEntry *ents[] = { &e1, &e2 };
    Dyne__V1__AttributeValue v1 = DYNE__V1__ATTRIBUTE_VALUE__INIT, v2 = DYNE__V1__ATTRIBUTE_VALUE__INIT;
    Dyne__V1__AttributeValueList l = DYNE__V1__ATTRIBUTE_VALUE_LIST__INIT;
    jt_reset();
    p.tablename = "t\x01\x7f";
    p.item = &item;
    item.n_values = 2;
    item.values = ents;
    e1.key = "bad\xff\xc3";   /* invalid UTF-8 from the gRPC side */
    e1.value = &v1;
    v1.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
    v1.l = &l;   /* a set, empty list */
    e2.key = "n";
    e2.value = &v2;
    v2.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL;
    v2.null = 1;
    DT_EQ_STR(jt_enc(&p.base), "{\"TableName\":\"t\\u0001\x7f\",\"Item\":{\"bad\xef\xbf\xbd\xef\xbf\xbd\":"
                               "{\"L\":[]},\"n\":{\"NULL\":true}}}");
    v1.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE__NOT_SET;
    DT_EQ_STR(jt_enc(&v1.base), "{}");
}

static void
test_encode_long_string_grows(void)
{
    Dyne__V1__ListTablesOutput o = DYNE__V1__LIST_TABLES_OUTPUT__INIT;
    size_t n = 100000;
    char *s = malloc(n + 1), *names[1];
    jt_reset();
    for (size_t i = 0; i < n; i++)
        s[i] = i % 1000 == 0 ? '"' : 'a' + (char)(i % 26);
    s[n] = '\0';
    names[0] = s;
    o.n_tablenames = 1;
    o.tablenames = names;
    const char *out = jt_enc(&o.base);
    DT_EQ_INT(strlen(out), strlen("{\"TableNames\":[\"\"]}") + n + n / 1000);
    Dyne__V1__ListTablesOutput *back;
    DT_OK(jt_dec(&dyne__v1__list_tables_output__descriptor, out, (ProtobufCMessage **)&back));
    DT_EQ_STR(back->tablenames[0], s);
    free(s);
}

DT_MAIN({ "av scalars", test_av_scalars },
        { "av binary", test_av_binary },
        { "av sets", test_av_sets },
        { "av nested list and map", test_av_nested_list_map },
        { "empty item is an object", test_empty_item_is_object },
        { "unknown members ignored", test_unknown_members_ignored },
        { "whitespace and escapes", test_whitespace_and_escapes },
        { "duplicates: last wins", test_duplicates_last_wins },
        { "CreateTableInput", test_create_table_input },
        { "BatchWriteItemInput", test_batch_write_item_input },
        { "ListTablesOutput", test_list_tables_output },
        { "TableDescription doubles", test_table_description_doubles },
        { "double formatting", test_fmt_double },
        { "maps, streams, batches, transactions", test_maps_and_streams },
        { "integers", test_integers },
        { "encode non-finite doubles", test_encode_non_finite_and_nan },
        { "string type mismatch", test_string_mismatch },
        { "list/map/structure mismatch", test_list_map_struct_mismatch },
        { "boolean mismatch", test_bool_mismatch },
        { "blob errors", test_blob_errors },
        { "base64 all lengths", test_base64_all_lengths },
        { "AttributeValue validation", test_av_validation },
        { "serialization beats validation", test_serialization_beats_validation },
        { "truncated at every prefix", test_truncated_every_prefix },
        { "malformed JSON", test_malformed },
        { "invalid UTF-8", test_invalid_utf8 },
        { "deep nesting", test_deep_nesting },
        { "arena cap", test_arena_cap },
        { "encode gRPC-built messages", test_encode_grpc_built },
        { "encode long string", test_encode_long_string_grows })
