/* bench/loadgen -- the DynamoDB wire protocol's bodies (JSON, DynamoDB_20120810.*) for the HTTP
 * driver: the router target's table (pk S, sk N, on-demand), items, Query, read-modify-write
 * UpdateItem and checks, so Dyne's HTTP endpoint, its gRPC API and any DynamoDB-compatible server
 * see the very same workload. */
#include "bench/loadgen/loadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACTIVE_WAIT_MS 30000
#define TARGET_PREFIX "DynamoDB_20120810."

typedef struct http_target {
    lg_target t;
    lg_target_opts o;
} http_target;

/* ---- JSON, as little as the checks need ---- */

static size_t
json_ws(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* The index past the string that opens at p[i] ('"'); 0 if it does not end. */
static size_t
json_string_end(const uint8_t *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return 0;
}

/* The index past the value that starts at p[i]; 0 if it is not one. Nesting is followed by
 * counting brackets: enough to step over a value, not a validator. */
static size_t
json_value_end(const uint8_t *p, size_t n, size_t i)
{
    size_t depth = 0;

    if (i >= n)
        return 0;
    if (p[i] == '"')
        return json_string_end(p, n, i);
    if (p[i] != '{' && p[i] != '[') {   /* number, true, false, null */
        size_t s = i;
        while (i < n && (p[i] == '-' || p[i] == '+' || p[i] == '.' ||
                         (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') ||
                         (p[i] >= 'A' && p[i] <= 'Z')))
            i++;
        return i > s ? i : 0;
    }
    for (; i < n; i++) {
        if (p[i] == '"') {
            if ((i = json_string_end(p, n, i)) == 0)
                return 0;
            i--;
        } else if (p[i] == '{' || p[i] == '[') {
            depth++;
        } else if (p[i] == '}' || p[i] == ']') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

int
lg_json_find(const uint8_t *p, size_t n, const char *key, const uint8_t **val, size_t *vlen)
{
    size_t klen = strlen(key), i = json_ws(p, n, 0);

    if (i >= n || p[i] != '{')
        return -1;
    i = json_ws(p, n, i + 1);
    if (i < n && p[i] == '}')
        return json_ws(p, n, i + 1) == n ? 0 : -1;
    for (;;) {
        size_t ks, ke, ve;
        if (i >= n || p[i] != '"' || (ke = json_string_end(p, n, i)) == 0)
            return -1;
        ks = i + 1;
        i = json_ws(p, n, ke);
        if (i >= n || p[i] != ':')
            return -1;
        i = json_ws(p, n, i + 1);
        if ((ve = json_value_end(p, n, i)) == 0)
            return -1;
        if (ke - 1 - ks == klen && memcmp(p + ks, key, klen) == 0) {
            *val = p + i;
            *vlen = ve - i;
            return 1;
        }
        i = json_ws(p, n, ve);
        if (i < n && p[i] == ',') {
            i = json_ws(p, n, i + 1);
            continue;
        }
        if (i < n && p[i] == '}')
            return json_ws(p, n, i + 1) == n ? 0 : -1;
        return -1;
    }
}

/* ---- the target ---- */

/* "ACTIVE" once DescribeTable's Table.TableStatus says so. */
static bool
table_active(const lg_buf *resp)
{
    const uint8_t *t, *st;
    size_t tn, stn;

    return lg_json_find(resp->p, resp->len, "Table", &t, &tn) == 1 &&
           lg_json_find(t, tn, "TableStatus", &st, &stn) == 1 && stn == 8 &&
           memcmp(st, "\"ACTIVE\"", 8) == 0;
}

static bool
body_has(const lg_buf *b, const char *s)
{
    return b->len > 0 && memmem(b->p, b->len, s, strlen(s)) != NULL;
}

static int
ht_setup(lg_target *t, lg_unary_fn call, void *ctx)
{
    http_target *ht = t->state;
    const char *table = ht->o.table, *msg = NULL;
    lg_buf in = { 0 }, out = { 0 };
    size_t cap = 512 + strlen(table);
    int rc = -1, st;

    in.len = (size_t)snprintf((char *)lg_buf_reserve(&in, cap), cap,
                              "{\"TableName\":\"%s\",\"AttributeDefinitions\":["
                              "{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"},"
                              "{\"AttributeName\":\"sk\",\"AttributeType\":\"N\"}],"
                              "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},"
                              "{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],"
                              "\"BillingMode\":\"PAY_PER_REQUEST\"}",
                              table);
    st = call(ctx, TARGET_PREFIX "CreateTable", in.p, in.len, &out, &msg);
    if (st != 0 && !(st > 0 && body_has(&out, "ResourceInUseException"))) {   /* it exists */
        fprintf(stderr, "loadgen: CreateTable %s: %s\n", table, msg);
        goto out;
    }
    in.len = (size_t)snprintf((char *)lg_buf_reserve(&in, cap), cap, "{\"TableName\":\"%s\"}",
                              table);
    for (int waited = 0; waited < ACTIVE_WAIT_MS; waited += 50) {
        st = call(ctx, TARGET_PREFIX "DescribeTable", in.p, in.len, &out, &msg);
        if (st == 0 && table_active(&out)) {
            rc = 0;
            goto out;
        }
        nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
    }
    fprintf(stderr, "loadgen: table %s not ACTIVE after %d ms (%s)\n", table, ACTIVE_WAIT_MS,
            msg);
out:
    lg_buf_fini(&in);
    lg_buf_fini(&out);
    return rc;
}

static const char *
ht_method(lg_target *t, lg_op op)
{
    (void)t;
    switch (op) {
    case LG_OP_GET:
        return TARGET_PREFIX "GetItem";
    case LG_OP_QUERY:
        return TARGET_PREFIX "Query";
    case LG_OP_RMW:
        return TARGET_PREFIX "UpdateItem";
    default:
        return TARGET_PREFIX "PutItem";
    }
}

/* The bodies hold only names and values that need no JSON escaping: key text "k%010llu",
 * numbers, lowercase filler, and the table name. */
static int
ht_request(lg_target *t, lg_op op, uint64_t k, uint64_t seq, dyn_arena *a, lg_buf *b)
{
    http_target *ht = t->state;
    const char *table = ht->o.table;
    size_t cap = 256 + strlen(table);
    char pk[32];
    int n;

    if (op == LG_OP_GET || op == LG_OP_QUERY) {
        lg_pk_text(k, ht->o.keys, pk, sizeof pk);
        char *p = (char *)lg_buf_reserve(b, cap);
        if (op == LG_OP_GET)
            n = snprintf(p, cap,
                         "{\"TableName\":\"%s\",\"Key\":{\"pk\":{\"S\":\"%s\"},"
                         "\"sk\":{\"N\":\"%llu\"}}}",
                         table, pk, (unsigned long long)(k % ht->o.keys->group));
        else
            n = snprintf(p, cap,
                         "{\"TableName\":\"%s\",\"KeyConditionExpression\":\"pk = :p\","
                         "\"ExpressionAttributeValues\":{\":p\":{\"S\":\"%s\"}}}",
                         table, pk);
    } else {
        /* lg_item decides the layout and the filler length, as for every other target */
        Dyne__V1__AttributeValueMap *item = lg_item(k, seq, ht->o.keys, ht->o.item_size, a);
        if (item == NULL || item->n_values != 4)
            return -1;
        const char *v = item->values[3]->value->s;
        cap += strlen(v) + 256;
        char *p = (char *)lg_buf_reserve(b, cap);
        if (op == LG_OP_RMW)
            n = snprintf(p, cap,
                         "{\"TableName\":\"%s\",\"Key\":{\"pk\":{\"S\":\"%s\"},"
                         "\"sk\":{\"N\":\"%s\"}},\"UpdateExpression\":\"" LG_RMW_UPDATE "\","
                         "\"ConditionExpression\":\"" LG_RMW_CONDITION "\","
                         "\"ExpressionAttributeNames\":{\"#n\":\"n\",\"#v\":\"v\"},"
                         "\"ExpressionAttributeValues\":{\":zero\":{\"N\":\"0\"},"
                         "\":one\":{\"N\":\"1\"},\":v\":{\"S\":\"%s\"}}}",
                         table, item->values[0]->value->s, item->values[1]->value->n, v);
        else
            n = snprintf(p, cap,
                         "{\"TableName\":\"%s\",\"Item\":{\"pk\":{\"S\":\"%s\"},"
                         "\"sk\":{\"N\":\"%s\"},\"n\":{\"N\":\"%s\"},\"v\":{\"S\":\"%s\"}}}",
                         table, item->values[0]->value->s, item->values[1]->value->n,
                         item->values[2]->value->n, v);
    }
    if (n < 0 || (size_t)n >= cap)
        return -1;
    b->len = (size_t)n;
    return 0;
}

static lg_check
ht_check(lg_target *t, lg_op op, const uint8_t *p, size_t n, dyn_arena *a)
{
    http_target *ht = t->state;
    const uint8_t *v;
    size_t vn;
    int found;

    (void)a;
    if (op == LG_OP_GET) {   /* {"Item":{...}}, or {} when there is none */
        found = lg_json_find(p, n, "Item", &v, &vn);
        return found < 0 ? LG_CHECK_BAD : found == 0 ? LG_CHECK_MISS : LG_CHECK_OK;
    }
    if (op == LG_OP_QUERY) {   /* {"Count":10,"Items":[...],"ScannedCount":10} */
        unsigned long long c = 0;
        if (lg_json_find(p, n, "Count", &v, &vn) != 1 || vn == 0 || vn > 19)
            return LG_CHECK_BAD;
        for (size_t i = 0; i < vn; i++) {
            if (v[i] < '0' || v[i] > '9')
                return LG_CHECK_BAD;
            c = c * 10 + (unsigned)(v[i] - '0');
        }
        return c < ht->o.keys->group ? LG_CHECK_MISS : LG_CHECK_OK;
    }
    /* PutItem, UpdateItem: {} (no key is named "": this only checks that it is an object) */
    return lg_json_find(p, n, "", &v, &vn) < 0 ? LG_CHECK_BAD : LG_CHECK_OK;
}

lg_target *
lg_target_http_new(const lg_target_opts *o)
{
    http_target *ht = dyn_xcalloc(1, sizeof *ht);

    ht->o = *o;
    ht->t.name = "http";
    ht->t.setup = ht_setup;
    ht->t.method = ht_method;
    ht->t.request = ht_request;
    ht->t.check = ht_check;
    ht->t.ops_per_call = 1;
    ht->t.state = ht;
    return &ht->t;
}
