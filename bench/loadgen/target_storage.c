/* bench/loadgen -- the storage node's own API, dyne.internal.Storage: Put, Get, Range over one
 * partition-key value (what a Query becomes) and the read-modify-write Update (what the router
 * sends for UpdateItem), on one partition created by CreatePartition. Keys are encoded here as
 * the router would (libs/keycodec). */
#include "bench/loadgen/loadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/keycodec/keycodec.h"
#include "proto/dyne/internal/storage.pb-c.h"

typedef struct storage_target {
    lg_target t;
    lg_target_opts o;
} storage_target;

static int
st_setup(lg_target *t, lg_unary_fn call, void *ctx)
{
    storage_target *st = t->state;
    Dyne__Internal__CreatePartitionRequest req = DYNE__INTERNAL__CREATE_PARTITION_REQUEST__INIT;
    Dyne__Internal__KeySchema ks = DYNE__INTERNAL__KEY_SCHEMA__INIT;
    lg_buf in = { 0 }, out = { 0 };
    const char *msg = NULL;
    int rc;

    ks.pk_name = "pk";
    ks.pk_type = "S";
    ks.sk_name = "sk";
    ks.sk_type = "N";
    req.partition_id = (char *)st->o.partition;
    req.key_schema = &ks;
    req.table_name = (char *)st->o.table;
    size_t n = dyne__internal__create_partition_request__get_packed_size(&req);
    dyne__internal__create_partition_request__pack(&req, lg_buf_reserve(&in, n));
    /* idempotent: an existing partition answers OK */
    rc = call(ctx, "/dyne.internal.Storage/CreatePartition", in.p, n, &out, &msg);
    if (rc != 0)
        fprintf(stderr, "loadgen: CreatePartition %s: %s\n", st->o.partition, msg);
    lg_buf_fini(&in);
    lg_buf_fini(&out);
    return rc == 0 ? 0 : -1;
}

static const char *
st_method(lg_target *t, lg_op op)
{
    storage_target *st = t->state;

    if (st->o.batch > 1)
        return "/dyne.internal.Storage/Batch";
    switch (op) {
    case LG_OP_GET:
        return "/dyne.internal.Storage/Get";
    case LG_OP_QUERY:
        return "/dyne.internal.Storage/Range";
    case LG_OP_RMW:
        return "/dyne.internal.Storage/Update";
    default:
        return "/dyne.internal.Storage/Put";
    }
}

static Dyne__V1__AttributeValue *
value(dyn_arena *a, bool number, char *text)
{
    Dyne__V1__AttributeValue *v = dyn_arena_alloc(a, sizeof *v);

    if (v == NULL || text == NULL)
        return NULL;
    dyne__v1__attribute_value__init(v);
    v->value_case = number ? DYNE__V1__ATTRIBUTE_VALUE__VALUE_N : DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
    if (number)
        v->n = text;
    else
        v->s = text;
    return v;
}

/* The storage key of item k, or with sk_too false the prefix every item of its pk shares. */
static int
item_key(storage_target *st, uint64_t k, bool sk_too, dyn_arena *a, ProtobufCBinaryData *key)
{
    char pk[32];
    unsigned char *buf;
    size_t len;

    lg_pk_text(k, st->o.keys, pk, sizeof pk);
    Dyne__V1__AttributeValue *p = value(a, false, dyn_arena_strdup(a, pk));
    Dyne__V1__AttributeValue *s =
        sk_too ? value(a, true,
                       dyn_arena_printf(a, "%llu", (unsigned long long)(k % st->o.keys->group)))
               : NULL;
    if (p == NULL || (sk_too && s == NULL) || dyn_keycodec_item_key(a, p, s, &buf, &len) != DYN_OK)
        return -1;
    key->data = buf;
    key->len = len;
    return 0;
}

/* One operation's request message (Put, Get, Range or Update) packed into b. */
static int
one_request(storage_target *st, lg_op op, uint64_t k, uint64_t seq, dyn_arena *a, lg_buf *b)
{
    ProtobufCBinaryData key;

    if (op == LG_OP_GET) {
        Dyne__Internal__GetRequest req = DYNE__INTERNAL__GET_REQUEST__INIT;
        if (item_key(st, k, true, a, &key) != 0)
            return -1;
        req.partition_id = (char *)st->o.partition;
        req.has_key = true;
        req.key = key;
        LG_PACK(b, &req, dyne__internal__get_request);
        return 0;
    }
    if (op == LG_OP_QUERY) {
        /* the items of one pk: [prefix, prefix with its last byte bumped) -- enc(S) ends in the
         * terminator 0x00 0x01, so the bump never carries */
        Dyne__Internal__RangeRequest req = DYNE__INTERNAL__RANGE_REQUEST__INIT;
        if (item_key(st, k, false, a, &key) != 0)
            return -1;
        uint8_t *end = dyn_arena_memdup(a, key.data, key.len);
        if (end == NULL)
            return -1;
        end[key.len - 1]++;
        req.partition_id = (char *)st->o.partition;
        req.has_start = req.has_end = req.has_limit = true;
        req.start = key;
        req.end.data = end;
        req.end.len = key.len;
        req.limit = (int32_t)st->o.keys->group;
        LG_PACK(b, &req, dyne__internal__range_request);
        return 0;
    }
    if (op == LG_OP_RMW) {
        /* the router's Update for UpdateItem: the encoded key, the Key as an item (the item to
         * update when none exists), the client's expressions as they are */
        Dyne__Internal__UpdateRequest req = DYNE__INTERNAL__UPDATE_REQUEST__INIT;
        Dyne__Internal__UpdateRequest__ExpressionAttributeNamesEntry names[2] = {
            DYNE__INTERNAL__UPDATE_REQUEST__EXPRESSION_ATTRIBUTE_NAMES_ENTRY__INIT,
            DYNE__INTERNAL__UPDATE_REQUEST__EXPRESSION_ATTRIBUTE_NAMES_ENTRY__INIT,
        };
        Dyne__Internal__UpdateRequest__ExpressionAttributeNamesEntry *np[2] = { &names[0],
                                                                               &names[1] };
        Dyne__V1__AttributeValueMap *item = lg_item(k, seq, st->o.keys, st->o.item_size, a);
        if (item == NULL || (req.expression_attribute_values = lg_rmw_values(item, a)) == NULL ||
            item_key(st, k, true, a, &key) != 0)
            return -1;
        names[0].key = "#n";
        names[0].value = "n";
        names[1].key = "#v";
        names[1].value = "v";
        item->n_values = 2;   /* pk, sk */
        req.partition_id = (char *)st->o.partition;
        req.has_key = true;
        req.key = key;
        req.key_item = item;
        req.update_expression = LG_RMW_UPDATE;
        req.condition_expression = LG_RMW_CONDITION;
        req.n_expression_attribute_names = 2;
        req.expression_attribute_names = np;
        LG_PACK(b, &req, dyne__internal__update_request);
        return 0;
    }
    Dyne__Internal__PutRequest req = DYNE__INTERNAL__PUT_REQUEST__INIT;
    if ((req.item = lg_item(k, seq, st->o.keys, st->o.item_size, a)) == NULL ||
        item_key(st, k, true, a, &key) != 0)
        return -1;
    req.partition_id = (char *)st->o.partition;
    req.has_key = true;
    req.key = key;
    LG_PACK(b, &req, dyne__internal__put_request);
    return 0;
}

/* A Batch of st->o.batch operations of one kind: keys spread over the key space (inserts take
 * consecutive new ones), each sub-request packed into the BatchCall. */
static int
st_request(lg_target *t, lg_op op, uint64_t k, uint64_t seq, dyn_arena *a, lg_buf *b)
{
    storage_target *st = t->state;
    uint64_t n = st->o.batch, items = st->o.keys->items;
    Dyne__Internal__BatchRequest req = DYNE__INTERNAL__BATCH_REQUEST__INIT;
    static const char *const names[LG_OP__COUNT] = { "Put", "Get", "Range", "Put", "Update" };

    if (n <= 1)
        return one_request(st, op, k, seq, a, b);
    req.n_calls = n;
    if ((req.calls = dyn_arena_alloc(a, n * sizeof *req.calls)) == NULL)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t ki = op == LG_OP_INSERT ? items + (k - items) * n + i
                                         : (k + i * (items / n ? items / n : 1)) % items;
        Dyne__Internal__BatchCall *c = dyn_arena_alloc(a, sizeof *c);
        if (c == NULL || one_request(st, op, ki, seq, a, b) != 0)
            return -1;
        dyne__internal__batch_call__init(c);
        c->method = (char *)names[op];
        c->has_request = true;
        c->request.len = b->len;
        if ((c->request.data = dyn_arena_memdup(a, b->p, b->len)) == NULL)
            return -1;
        req.calls[i] = c;
    }
    LG_PACK(b, &req, dyne__internal__batch_request);
    return 0;
}

static lg_check
one_check(storage_target *st, lg_op op, const uint8_t *p, size_t n)
{
    long c;

    if (op == LG_OP_GET) {   /* GetResponse.item = 1 */
        c = lg_pb_count(p, n, 1);
        return c < 0 ? LG_CHECK_BAD : c == 0 ? LG_CHECK_MISS : LG_CHECK_OK;
    }
    if (op == LG_OP_QUERY) {   /* RangeResponse.items = 1 */
        c = lg_pb_count(p, n, 1);
        return c < 0 ? LG_CHECK_BAD : c < (long)st->o.keys->group ? LG_CHECK_MISS : LG_CHECK_OK;
    }
    /* PutResponse, UpdateResponse: lsn = 2 */
    return lg_pb_count(p, n, 2) < 0 ? LG_CHECK_BAD : LG_CHECK_OK;
}

/* A reply, or a Batch reply: every BatchReply without "err" (2), its reply (1) checked. */
static lg_check
st_check(lg_target *t, lg_op op, const uint8_t *p, size_t n, dyn_arena *a)
{
    storage_target *st = t->state;
    const uint8_t *end = p + n, *d, *rd;
    size_t dl, rl, replies = 0;
    uint32_t f;
    bool bad = false, miss = false;

    (void)a;
    if (st->o.batch <= 1)
        return one_check(st, op, p, n);
    while (lg_pb_next(&p, end, &f, &d, &dl, &bad)) {
        const uint8_t *q = d;
        bool has_reply = false;
        if (f != 1)
            continue;
        replies++;
        while (lg_pb_next(&q, d + dl, &f, &rd, &rl, &bad)) {
            if (f == 2)
                return LG_CHECK_BAD;   /* this call failed inside the batch */
            if (f == 1) {
                lg_check c = one_check(st, op, rd, rl);
                if (c == LG_CHECK_BAD)
                    return c;
                miss |= c == LG_CHECK_MISS;
                has_reply = true;
            }
        }
        if (bad)
            return LG_CHECK_BAD;
        if (!has_reply)   /* an empty reply: a Get that found nothing packs to no bytes */
            miss |= one_check(st, op, d, 0) == LG_CHECK_MISS;
    }
    if (bad || replies != st->o.batch)
        return LG_CHECK_BAD;
    return miss ? LG_CHECK_MISS : LG_CHECK_OK;
}

lg_target *
lg_target_storage_new(const lg_target_opts *o)
{
    storage_target *st = dyn_xcalloc(1, sizeof *st);

    st->o = *o;
    st->t.name = "storage";
    st->t.setup = st_setup;
    st->t.method = st_method;
    st->t.request = st_request;
    st->t.check = st_check;
    st->t.ops_per_call = o->batch > 1 ? o->batch : 1;
    st->t.state = st;
    return &st->t;
}
