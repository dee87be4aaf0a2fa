/* libs/expr legacy-parameter tests: every ComparisonOperator x value type, every validation
 * message, evaluation on real items, and equivalence with the expression a legacy parameter
 * stands for (same results on the same items). Items and values are DynamoDB JSON; legacy
 * parameters are written as their JSON too ({"a":{"ComparisonOperator":"EQ",...}}). */
#include "libs/expr/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/arena/arena.h"
#include "libs/testing/dyn_test.h"
#include "proto/dyne/v1/dynamodb.pb-c.h"

static dyn_arena A;
static int n_checks;   /* table rows and generated combinations run, reported at the end */

typedef Dyne__V1__AttributeValue av_t;
typedef Dyne__V1__AttributeValueMap map_t;

/* ---- a small JSON reader for DynamoDB JSON and the legacy parameter shapes ---- */

typedef struct {
    const char *s;
    bool bad;
} rd;

static void
ws(rd *r)
{
    while (*r->s == ' ' || *r->s == '\n')
        r->s++;
}

static bool
lit(rd *r, char c)
{
    ws(r);
    if (*r->s != c) {
        r->bad = true;
        return false;
    }
    r->s++;
    return true;
}

static bool
peek(rd *r, char c)
{
    ws(r);
    return *r->s == c;
}

static void
comma(rd *r)
{
    ws(r);
    if (*r->s == ',')
        r->s++;
    ws(r);
}

static char *
str(rd *r)
{
    if (!lit(r, '"'))
        return NULL;
    const char *b = r->s;
    while (*r->s && *r->s != '"')
        r->s++;
    char *out = dyn_arena_strndup(&A, b, (size_t)(r->s - b));
    lit(r, '"');
    return out;
}

static bool
boolean(rd *r)
{
    ws(r);
    if (strncmp(r->s, "true", 4) == 0) {
        r->s += 4;
        return true;
    }
    if (strncmp(r->s, "false", 5) == 0) {
        r->s += 5;
        return false;
    }
    r->bad = true;
    return false;
}

static av_t *av_read(rd *r);

static map_t *
map_read(rd *r)
{
    map_t *m = dyn_arena_zalloc(&A, sizeof *m);
    Dyne__V1__AttributeValueMap__ValuesEntry **es = dyn_arena_zalloc(&A, 64 * sizeof *es);
    *m = (map_t)DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
    lit(r, '{');
    while (!r->bad && !peek(r, '}')) {
        Dyne__V1__AttributeValueMap__ValuesEntry *e = dyn_arena_zalloc(&A, sizeof *e);
        *e = (Dyne__V1__AttributeValueMap__ValuesEntry)
            DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
        e->key = str(r);
        lit(r, ':');
        e->value = av_read(r);
        es[m->n_values++] = e;
        comma(r);
    }
    lit(r, '}');
    m->values = es;
    return m;
}

static char **
strs_read(rd *r, size_t *n)
{
    char **v = dyn_arena_zalloc(&A, 300 * sizeof *v);
    *n = 0;
    lit(r, '[');
    while (!r->bad && !peek(r, ']')) {
        v[(*n)++] = str(r);
        comma(r);
    }
    lit(r, ']');
    return v;
}

static av_t **
avs_read(rd *r, size_t *n)
{
    av_t **v = dyn_arena_zalloc(&A, 64 * sizeof *v);
    *n = 0;
    lit(r, '[');
    while (!r->bad && !peek(r, ']')) {
        v[(*n)++] = av_read(r);
        comma(r);
    }
    lit(r, ']');
    return v;
}

static av_t *
av_read(rd *r)
{
    av_t *v = dyn_arena_zalloc(&A, sizeof *v);
    *v = (av_t)DYNE__V1__ATTRIBUTE_VALUE__INIT;
    lit(r, '{');
    char *t = str(r);
    lit(r, ':');
    if (t == NULL)
        return v;
    if (!strcmp(t, "S")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
        v->s = str(r);
    } else if (!strcmp(t, "N")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        v->n = str(r);
    } else if (!strcmp(t, "B")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
        v->b.data = (uint8_t *)str(r);
        v->b.len = strlen((char *)v->b.data);
    } else if (!strcmp(t, "BOOL")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
        v->bool_ = boolean(r);
    } else if (!strcmp(t, "NULL")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL;
        v->null = boolean(r);
    } else if (!strcmp(t, "M")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
        v->m = map_read(r);
    } else if (!strcmp(t, "L")) {
        Dyne__V1__AttributeValueList *l = dyn_arena_zalloc(&A, sizeof *l);
        *l = (Dyne__V1__AttributeValueList)DYNE__V1__ATTRIBUTE_VALUE_LIST__INIT;
        l->values = avs_read(r, &l->n_values);
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        v->l = l;
    } else if (!strcmp(t, "SS")) {
        Dyne__V1__StringSet *s = dyn_arena_zalloc(&A, sizeof *s);
        *s = (Dyne__V1__StringSet)DYNE__V1__STRING_SET__INIT;
        s->values = strs_read(r, &s->n_values);
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS;
        v->ss = s;
    } else if (!strcmp(t, "NS")) {
        Dyne__V1__NumberSet *s = dyn_arena_zalloc(&A, sizeof *s);
        *s = (Dyne__V1__NumberSet)DYNE__V1__NUMBER_SET__INIT;
        s->values = strs_read(r, &s->n_values);
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS;
        v->ns = s;
    } else if (!strcmp(t, "BS")) {
        Dyne__V1__BinarySet *s = dyn_arena_zalloc(&A, sizeof *s);
        size_t n;
        char **x = strs_read(r, &n);
        *s = (Dyne__V1__BinarySet)DYNE__V1__BINARY_SET__INIT;
        s->values = dyn_arena_zalloc(&A, (n + 1) * sizeof *s->values);
        for (size_t i = 0; i < n; i++) {
            s->values[i].data = (uint8_t *)x[i];
            s->values[i].len = strlen(x[i]);
        }
        s->n_values = n;
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS;
        v->bs = s;
    } else {
        r->bad = true;
    }
    lit(r, '}');
    return v;
}

static void
check_read(rd *r, const char *json)
{
    if (r->bad) {
        fprintf(stderr, "bad test json: %s\n", json);
        abort();
    }
}

static map_t *
J(const char *json)
{
    rd r = { json, false };
    if (json == NULL)
        return NULL;
    map_t *m = map_read(&r);
    check_read(&r, json);
    return m;
}

/* One legacy map entry, whichever parameter: the union of the fields. */
typedef struct spec {
    char *key;
    bool null_value;   /* "a": null */
    char *op, *action;
    av_t *value, **list;
    size_t n_list;
    bool has_exists, exists;
} spec;

static spec *
specs_read(const char *json, size_t *n)
{
    rd r = { json, false };
    spec *s = dyn_arena_zalloc(&A, 300 * sizeof *s);

    *n = 0;
    lit(&r, '{');
    while (!r.bad && !peek(&r, '}')) {
        spec *e = &s[(*n)++];
        e->key = str(&r);
        lit(&r, ':');
        ws(&r);
        if (strncmp(r.s, "null", 4) == 0) {
            r.s += 4;
            e->null_value = true;
            comma(&r);
            continue;
        }
        lit(&r, '{');
        while (!r.bad && !peek(&r, '}')) {
            char *f = str(&r);
            lit(&r, ':');
            if (f == NULL)
                break;
            if (!strcmp(f, "ComparisonOperator"))
                e->op = str(&r);
            else if (!strcmp(f, "Action"))
                e->action = str(&r);
            else if (!strcmp(f, "Value"))
                e->value = av_read(&r);
            else if (!strcmp(f, "AttributeValueList"))
                e->list = avs_read(&r, &e->n_list);
            else if (!strcmp(f, "Exists")) {
                e->has_exists = true;
                e->exists = boolean(&r);
            } else
                r.bad = true;
            comma(&r);
        }
        lit(&r, '}');
        comma(&r);
    }
    lit(&r, '}');
    check_read(&r, json);
    return s;
}

/* Expected as UpdateItem's generated entries (any *ExpectedEntry works the same). */
static const ProtobufCMessage *const *
expected_entries(const char *json, size_t *n)
{
    spec *s = specs_read(json, n);
    Dyne__V1__UpdateItemInput__ExpectedEntry **es = dyn_arena_zalloc(&A, (*n + 1) * sizeof *es);
    for (size_t i = 0; i < *n; i++) {
        Dyne__V1__UpdateItemInput__ExpectedEntry *e = dyn_arena_zalloc(&A, sizeof *e);
        *e = (Dyne__V1__UpdateItemInput__ExpectedEntry)
            DYNE__V1__UPDATE_ITEM_INPUT__EXPECTED_ENTRY__INIT;
        e->key = s[i].key;
        if (!s[i].null_value) {
            Dyne__V1__ExpectedAttributeValue *v = dyn_arena_zalloc(&A, sizeof *v);
            *v = (Dyne__V1__ExpectedAttributeValue)DYNE__V1__EXPECTED_ATTRIBUTE_VALUE__INIT;
            v->value = s[i].value;
            v->has_exists = s[i].has_exists;
            v->exists = s[i].exists;
            v->comparisonoperator = s[i].op;
            v->attributevaluelist = s[i].list;
            v->n_attributevaluelist = s[i].n_list;
            e->value = v;
        }
        es[i] = e;
    }
    return (const ProtobufCMessage *const *)es;
}

/* Conditions as QueryInput QueryFilter entries, or ScanFilter ones when scan. */
static const ProtobufCMessage *const *
condition_entries(const char *json, size_t *n, bool scan)
{
    spec *s = specs_read(json, n);
    const ProtobufCMessage **es = dyn_arena_zalloc(&A, (*n + 1) * sizeof *es);
    for (size_t i = 0; i < *n; i++) {
        Dyne__V1__Condition *v = NULL;
        if (!s[i].null_value) {
            v = dyn_arena_zalloc(&A, sizeof *v);
            *v = (Dyne__V1__Condition)DYNE__V1__CONDITION__INIT;
            v->comparisonoperator = s[i].op;
            v->attributevaluelist = s[i].list;
            v->n_attributevaluelist = s[i].n_list;
        }
        if (scan) {
            Dyne__V1__ScanInput__ScanFilterEntry *e = dyn_arena_zalloc(&A, sizeof *e);
            *e = (Dyne__V1__ScanInput__ScanFilterEntry)DYNE__V1__SCAN_INPUT__SCAN_FILTER_ENTRY__INIT;
            e->key = s[i].key;
            e->value = v;
            es[i] = &e->base;
        } else {
            Dyne__V1__QueryInput__QueryFilterEntry *e = dyn_arena_zalloc(&A, sizeof *e);
            *e = (Dyne__V1__QueryInput__QueryFilterEntry)
                DYNE__V1__QUERY_INPUT__QUERY_FILTER_ENTRY__INIT;
            e->key = s[i].key;
            e->value = v;
            es[i] = &e->base;
        }
    }
    return es;
}

static const ProtobufCMessage *const *
key_condition_entries(const char *json, size_t *n)
{
    spec *s = specs_read(json, n);
    const ProtobufCMessage **es = dyn_arena_zalloc(&A, (*n + 1) * sizeof *es);
    for (size_t i = 0; i < *n; i++) {
        Dyne__V1__Condition *v = dyn_arena_zalloc(&A, sizeof *v);
        Dyne__V1__QueryInput__KeyConditionsEntry *e = dyn_arena_zalloc(&A, sizeof *e);
        *v = (Dyne__V1__Condition)DYNE__V1__CONDITION__INIT;
        v->comparisonoperator = s[i].op;
        v->attributevaluelist = s[i].list;
        v->n_attributevaluelist = s[i].n_list;
        *e = (Dyne__V1__QueryInput__KeyConditionsEntry)
            DYNE__V1__QUERY_INPUT__KEY_CONDITIONS_ENTRY__INIT;
        e->key = s[i].key;
        e->value = v;
        es[i] = &e->base;
    }
    return es;
}

static const ProtobufCMessage *const *
update_entries(const char *json, size_t *n)
{
    spec *s = specs_read(json, n);
    const ProtobufCMessage **es = dyn_arena_zalloc(&A, (*n + 1) * sizeof *es);
    for (size_t i = 0; i < *n; i++) {
        Dyne__V1__AttributeValueUpdate *v = dyn_arena_zalloc(&A, sizeof *v);
        Dyne__V1__UpdateItemInput__AttributeUpdatesEntry *e = dyn_arena_zalloc(&A, sizeof *e);
        *v = (Dyne__V1__AttributeValueUpdate)DYNE__V1__ATTRIBUTE_VALUE_UPDATE__INIT;
        v->value = s[i].value;
        v->action = s[i].action;
        *e = (Dyne__V1__UpdateItemInput__AttributeUpdatesEntry)
            DYNE__V1__UPDATE_ITEM_INPUT__ATTRIBUTE_UPDATES_ENTRY__INIT;
        e->key = s[i].key;
        e->value = v;
        es[i] = &e->base;
    }
    return es;
}

/* ---- a DynamoDB-JSON writer, keys sorted ---- */

typedef struct {
    char *p;
    size_t n, cap;
} sb;

static void
put(sb *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *g = dyn_arena_alloc(&A, cap);
        if (b->n)
            memcpy(g, b->p, b->n);
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void
puts_(sb *b, const char *s)
{
    put(b, s, strlen(s));
}

static void map_write(sb *b, const map_t *m);

static void
strs_write(sb *b, char **v, size_t n)
{
    puts_(b, "[");
    for (size_t i = 0; i < n; i++) {
        puts_(b, i ? ",\"" : "\"");
        puts_(b, v[i]);
        puts_(b, "\"");
    }
    puts_(b, "]");
}

static void
av_write(sb *b, const av_t *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        puts_(b, "{\"S\":\"");
        puts_(b, v->s);
        puts_(b, "\"}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        puts_(b, "{\"N\":\"");
        puts_(b, v->n);
        puts_(b, "\"}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        puts_(b, "{\"B\":\"");
        put(b, (const char *)v->b.data, v->b.len);
        puts_(b, "\"}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
        puts_(b, v->bool_ ? "{\"BOOL\":true}" : "{\"BOOL\":false}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL: puts_(b, "{\"NULL\":true}"); break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M:
        puts_(b, "{\"M\":");
        map_write(b, v->m);
        puts_(b, "}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
        puts_(b, "{\"L\":[");
        for (size_t i = 0; i < v->l->n_values; i++) {
            if (i)
                puts_(b, ",");
            av_write(b, v->l->values[i]);
        }
        puts_(b, "]}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        puts_(b, "{\"SS\":");
        strs_write(b, v->ss->values, v->ss->n_values);
        puts_(b, "}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        puts_(b, "{\"NS\":");
        strs_write(b, v->ns->values, v->ns->n_values);
        puts_(b, "}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        puts_(b, "{\"BS\":[");
        for (size_t i = 0; i < v->bs->n_values; i++) {
            puts_(b, i ? ",\"" : "\"");
            put(b, (const char *)v->bs->values[i].data, v->bs->values[i].len);
            puts_(b, "\"");
        }
        puts_(b, "]}");
        break;
    default: puts_(b, "{?}"); break;
    }
}

static int
entry_cmp(const void *x, const void *y)
{
    const Dyne__V1__AttributeValueMap__ValuesEntry *a = *(void *const *)x, *b = *(void *const *)y;
    return strcmp(a->key, b->key);
}

static void
map_write(sb *b, const map_t *m)
{
    Dyne__V1__AttributeValueMap__ValuesEntry **es =
        dyn_arena_alloc(&A, (m->n_values + 1) * sizeof *es);
    if (m->n_values)
        memcpy(es, m->values, m->n_values * sizeof *es);
    qsort(es, m->n_values, sizeof *es, entry_cmp);
    puts_(b, "{");
    for (size_t i = 0; i < m->n_values; i++) {
        if (i)
            puts_(b, ",");
        puts_(b, "\"");
        puts_(b, es[i]->key);
        puts_(b, "\":");
        av_write(b, es[i]->value);
    }
    puts_(b, "}");
}

static const char *
W(const map_t *m)
{
    sb b = { 0 };
    if (m == NULL)
        return "(null)";
    map_write(&b, m);
    return b.p;
}

/* ---- expression side of the equivalence checks ---- */

static dyn_expr *
parse_expr(dyn_expr_kind kind, const char *text, const char *values)
{
    dyn_expr_ctx ctx;
    dyn_expr *e = NULL;
    const char *msg = NULL;
    if (dyn_expr_ctx_init(&ctx, NULL, 0, J(values), &A, &msg) != DYN_OK ||
        dyn_expr_parse(&ctx, kind, text, strlen(text), &e, &msg) != DYN_OK) {
        fprintf(stderr, "  bad test expression %s: %s\n", text, msg ? msg : "?");
        return NULL;
    }
    return e;
}

/* -1 error, else the result */
static int
eval(const dyn_expr *e, const map_t *item)
{
    bool res = false;
    if (e == NULL || dyn_expr_eval_condition(e, item, &res) != DYN_OK)
        return -1;
    return res;
}

/* The items every equivalence row is evaluated against ("" = no item at all). */
static const char *const items[] = {
    NULL,
    "{}",
    "{\"a\":{\"S\":\"abc\"}}",
    "{\"a\":{\"S\":\"b\"}}",
    "{\"a\":{\"S\":\"ab\"},\"b\":{\"N\":\"1\"}}",
    "{\"a\":{\"N\":\"5\"}}",
    "{\"a\":{\"N\":\"10\"},\"b\":{\"S\":\"x\"}}",
    "{\"a\":{\"N\":\"-1.5\"}}",
    "{\"a\":{\"B\":\"abc\"}}",
    "{\"a\":{\"B\":\"b\"}}",
    "{\"a\":{\"SS\":[\"abc\",\"x\"]}}",
    "{\"a\":{\"NS\":[\"5\",\"7\"]}}",
    "{\"a\":{\"BS\":[\"abc\"]}}",
    "{\"a\":{\"L\":[{\"S\":\"abc\"},{\"N\":\"5\"},{\"BOOL\":true}]}}",
    "{\"a\":{\"M\":{\"k\":{\"S\":\"abc\"}}}}",
    "{\"a\":{\"BOOL\":true}}",
    "{\"a\":{\"NULL\":true}}",
    "{\"b\":{\"N\":\"5\"}}",
};
#define N_ITEMS (sizeof items / sizeof items[0])

/* ---- Expected: evaluation and equivalence ---- */

typedef struct equiv_case {
    const char *legacy;   /* Expected / filter JSON */
    const char *cop;      /* ConditionalOperator */
    const char *expr;     /* the equivalent ConditionExpression */
    const char *values;   /* its ExpressionAttributeValues */
} equiv_case;

static const equiv_case equiv_cases[] = {
    { "{\"a\":{\"Value\":{\"S\":\"abc\"}}}", NULL, "a = :v", "{\":v\":{\"S\":\"abc\"}}" },
    { "{\"a\":{\"Value\":{\"N\":\"5\"},\"Exists\":true}}", NULL, "a = :v",
      "{\":v\":{\"N\":\"5\"}}" },
    { "{\"a\":{\"Exists\":false}}", NULL, "attribute_not_exists(a)", NULL },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"abc\"}]}}", NULL,
      "a = :v", "{\":v\":{\"S\":\"abc\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"5.0\"}]}}", NULL,
      "a = :v", "{\":v\":{\"N\":\"5\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"Value\":{\"SS\":[\"x\",\"abc\"]}}}", NULL,
      "a = :v", "{\":v\":{\"SS\":[\"abc\",\"x\"]}}" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"BOOL\":true}]}}", NULL,
      "a = :v", "{\":v\":{\"BOOL\":true}}" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"M\":{\"k\":{\"S\":"
      "\"abc\"}}}]}}",
      NULL, "a = :v", "{\":v\":{\"M\":{\"k\":{\"S\":\"abc\"}}}}" },
    { "{\"a\":{\"ComparisonOperator\":\"NE\",\"AttributeValueList\":[{\"S\":\"abc\"}]}}", NULL,
      "a <> :v", "{\":v\":{\"S\":\"abc\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"NE\",\"AttributeValueList\":[{\"NULL\":true}]}}", NULL,
      "a <> :v", "{\":v\":{\"NULL\":true}}" },
    { "{\"a\":{\"ComparisonOperator\":\"LT\",\"AttributeValueList\":[{\"N\":\"6\"}]}}", NULL,
      "a < :v", "{\":v\":{\"N\":\"6\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"LE\",\"AttributeValueList\":[{\"S\":\"abc\"}]}}", NULL,
      "a <= :v", "{\":v\":{\"S\":\"abc\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"B\":\"abc\"}]}}", NULL,
      "a > :v", "{\":v\":{\"B\":\"abc\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"GE\",\"AttributeValueList\":[{\"N\":\"5\"}]}}", NULL,
      "a >= :v", "{\":v\":{\"N\":\"5\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"NULL\"}}", NULL, "attribute_not_exists(a)", NULL },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_NULL\"}}", NULL, "attribute_exists(a)", NULL },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"S\":\"b\"}]}}", NULL,
      "contains(a, :v)", "{\":v\":{\"S\":\"b\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"N\":\"5\"}]}}", NULL,
      "contains(a, :v)", "{\":v\":{\"N\":\"5\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"B\":\"b\"}]}}", NULL,
      "contains(a, :v)", "{\":v\":{\"B\":\"b\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"BOOL\":true}]}}",
      NULL, "contains(a, :v)", "{\":v\":{\"BOOL\":true}}" },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"S\":\"b\"}]}}",
      NULL, "attribute_exists(a) AND NOT contains(a, :v)", "{\":v\":{\"S\":\"b\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"N\":\"7\"}]}}",
      NULL, "attribute_exists(a) AND NOT contains(a, :v)", "{\":v\":{\"N\":\"7\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{\"S\":\"ab\"}]}}",
      NULL, "begins_with(a, :v)", "{\":v\":{\"S\":\"ab\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{\"B\":\"a\"}]}}",
      NULL, "begins_with(a, :v)", "{\":v\":{\"B\":\"a\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"b\"},{\"S\":"
      "\"abc\"}]}}",
      NULL, "a IN (:v, :w)", "{\":v\":{\"S\":\"b\"},\":w\":{\"S\":\"abc\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"N\":\"10\"}]}}", NULL,
      "a IN (:v)", "{\":v\":{\"N\":\"10\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"0\"},{\"N\":"
      "\"5\"}]}}",
      NULL, "a BETWEEN :v AND :w", "{\":v\":{\"N\":\"0\"},\":w\":{\"N\":\"5\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"abc\"},"
      "{\"S\":\"b\"}]}}",
      NULL, "a BETWEEN :v AND :w", "{\":v\":{\"S\":\"abc\"},\":w\":{\"S\":\"b\"}}" },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_NULL\"},\"b\":{\"ComparisonOperator\":\"NULL\"}}",
      NULL, "attribute_exists(a) AND attribute_not_exists(b)", NULL },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_NULL\"},\"b\":{\"ComparisonOperator\":\"NULL\"}}",
      "AND", "attribute_exists(a) AND attribute_not_exists(b)", NULL },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"5\"}]},\"b\":{"
      "\"ComparisonOperator\":\"NOT_NULL\"}}",
      "OR", "a = :v OR attribute_exists(b)", "{\":v\":{\"N\":\"5\"}}" },
    { "{\"a\":{\"Exists\":false},\"b\":{\"Value\":{\"N\":\"1\"}},\"c\":{\"ComparisonOperator\":"
      "\"NULL\"}}",
      "OR", "attribute_not_exists(a) OR b = :v OR attribute_not_exists(c)",
      "{\":v\":{\"N\":\"1\"}}" },
};

/* Expected (as a CONDITION) and QueryFilter/ScanFilter (as a FILTER, rows without Exists/Value)
 * agree with the parsed expression on every item. */
static void
test_equivalence(void)
{
    for (size_t i = 0; i < sizeof equiv_cases / sizeof equiv_cases[0]; i++) {
        const equiv_case *c = &equiv_cases[i];
        dyn_expr *want = parse_expr(DYN_EXPR_CONDITION, c->expr, c->values), *got = NULL,
                 *filt = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = expected_entries(c->legacy, &n);
        bool filterable = strstr(c->legacy, "Exists") == NULL &&
                          strstr(c->legacy, "\"Value\"") == NULL;
        n_checks++;
        DT_OK(dyn_expr_from_expected(es, n, c->cop, &A, &got, &msg));
        if (msg)
            fprintf(stderr, "  row %zu: %s\n", i, msg);
        if (filterable) {
            es = condition_entries(c->legacy, &n, i % 2);
            DT_OK(dyn_expr_from_filter(i % 2 ? "ScanFilter" : "QueryFilter", es, n, c->cop, &A,
                                       &filt, &msg));
        }
        if (want == NULL || got == NULL)
            continue;
        for (size_t k = 0; k < N_ITEMS; k++) {
            const map_t *item = J(items[k]);
            int w = eval(want, item), g = eval(got, item);
            if (w != g || w < 0)
                fprintf(stderr, "  row %zu (%s) item %s: legacy %d, expression %d\n", i, c->expr,
                        items[k] ? items[k] : "none", g, w);
            DT_EQ_INT(g, w);
            if (filt != NULL)
                DT_EQ_INT(eval(filt, item), w);
        }
    }
}

/* Spot values of the semantics DynamoDB documents for the legacy operators. */
typedef struct truth_case {
    const char *legacy, *item;
    int want;
} truth_case;

static const truth_case truth_cases[] = {
    /* NE on a missing attribute is true; NOT_CONTAINS there is false */
    { "{\"a\":{\"ComparisonOperator\":\"NE\",\"AttributeValueList\":[{\"S\":\"x\"}]}}", "{}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"S\":\"x\"}]}}",
      "{}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"S\":\"x\"}]}}",
      "{\"a\":{\"N\":\"1\"}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"S\":\"x\"}]}}",
      "{\"a\":{\"SS\":[\"x\"]}}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"S\":\"bc\"}]}}",
      "{\"a\":{\"S\":\"abcd\"}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"S\":\"bc\"}]}}",
      "{\"a\":{\"SS\":[\"abcd\"]}}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"N\":\"2\"}]}}",
      "{\"a\":{\"NS\":[\"1\",\"2.0\"]}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"N\":\"2\"}]}}",
      "{\"a\":{\"L\":[{\"N\":\"2\"}]}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"N\":\"2\"}]}}",
      "{\"a\":{\"N\":\"2\"}}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"B\":\"yz\"}]}}",
      "{\"a\":{\"BS\":[\"xyz\",\"yz\"]}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"LT\",\"AttributeValueList\":[{\"N\":\"10\"}]}}",
      "{\"a\":{\"N\":\"9.99\"}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"LT\",\"AttributeValueList\":[{\"S\":\"10\"}]}}",
      "{\"a\":{\"N\":\"9\"}}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"S\":\"B\"}]}}",
      "{\"a\":{\"S\":\"a\"}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"GE\",\"AttributeValueList\":[{\"N\":\"1e2\"}]}}",
      "{\"a\":{\"N\":\"100\"}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"NS\":[\"1\",\"2\"]}]}}",
      "{\"a\":{\"NS\":[\"2\",\"1\"]}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"1\"}]}}",
      "{\"a\":{\"N\":\"1\"}}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"N\":\"1\"},{\"N\":"
      "\"2\"}]}}",
      "{\"a\":{\"N\":\"2\"}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"N\":\"1\"}]}}", "{}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"1\"},{\"N\":"
      "\"1\"}]}}",
      "{\"a\":{\"N\":\"1\"}}", 1 },
    { "{\"a\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{\"S\":\"x\"}]}}",
      "{\"a\":{\"SS\":[\"xy\"]}}", 0 },
    { "{\"a\":{\"ComparisonOperator\":\"NULL\"}}", "{\"a\":{\"NULL\":true}}", 0 },
    { "{\"a\":{\"Exists\":false}}", "{\"a\":{\"NULL\":true}}", 0 },
    { "{\"a\":{\"Value\":{\"S\":\"x\"}}}", "{}", 0 },
    { "{\"a.b\":{\"ComparisonOperator\":\"NOT_NULL\"}}", "{\"a.b\":{\"N\":\"1\"}}", 1 },
    { "{\"a.b\":{\"ComparisonOperator\":\"NOT_NULL\"}}", "{\"a\":{\"M\":{\"b\":{\"N\":\"1\"}}}}",
      0 },
};

static void
test_truth(void)
{
    for (size_t i = 0; i < sizeof truth_cases / sizeof truth_cases[0]; i++) {
        const truth_case *c = &truth_cases[i];
        dyn_expr *e = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = expected_entries(c->legacy, &n);
        n_checks++;
        DT_OK(dyn_expr_from_expected(es, n, NULL, &A, &e, &msg));
        if (eval(e, J(c->item)) != c->want)
            fprintf(stderr, "  row %zu: %s on %s\n", i, c->legacy, c->item);
        DT_EQ_INT(eval(e, J(c->item)), c->want);
    }
    /* conditional put on a missing item: no item at all */
    {
        dyn_expr *e = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es =
            expected_entries("{\"a\":{\"Exists\":false},\"b\":{\"ComparisonOperator\":"
                             "\"NE\",\"AttributeValueList\":[{\"N\":\"1\"}]}}",
                             &n);
        DT_OK(dyn_expr_from_expected(es, n, NULL, &A, &e, &msg));
        DT_EQ_INT(eval(e, NULL), 1);
    }
}

/* ---- messages ---- */

typedef struct msg_case {
    const char *legacy, *cop, *want;
} msg_case;

#define INV "One or more parameter values were invalid: "

static const msg_case expected_msgs[] = {
    { "{\"a\":{\"Value\":{\"S\":\"x\"},\"AttributeValueList\":[{\"S\":\"x\"}]}}", NULL,
      INV "Value and AttributeValueList cannot be used together for Attribute: a" },
    { "{\"a\":{\"Value\":{\"S\":\"x\"},\"AttributeValueList\":[{\"S\":\"x\"}],"
      "\"ComparisonOperator\":\"EQ\",\"Exists\":true}}",
      NULL, INV "Value and AttributeValueList cannot be used together for Attribute: a" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"Exists\":true,\"Value\":{\"S\":\"x\"}}}", NULL,
      INV "Exists and ComparisonOperator cannot be used together for Attribute: a" },
    { "{\"a\":{\"ComparisonOperator\":\"NULL\",\"Exists\":false}}", NULL,
      INV "Exists and ComparisonOperator cannot be used together for Attribute: a" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\"}}", NULL,
      INV "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\"}}", NULL,
      INV "Value or AttributeValueList must be used with ComparisonOperator: BETWEEN for "
          "Attribute: a" },
    { "{\"a\":{\"ComparisonOperator\":\"NULL\",\"Value\":{\"S\":\"x\"}}}", NULL,
      INV "Invalid number of argument(s) for the NULL ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"NOT_NULL\",\"AttributeValueList\":[{\"S\":\"x\"}]}}",
      NULL, INV "Invalid number of argument(s) for the NOT_NULL ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"x\"},{\"S\":"
      "\"y\"}]}}",
      NULL, INV "Invalid number of argument(s) for the EQ ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"Value\":{\"N\":\"1\"}}}", NULL,
      INV "Invalid number of argument(s) for the BETWEEN ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"x\"},{\"N\":"
      "\"1\"}]}}",
      NULL, INV "AttributeValues inside AttributeValueList must be of same type" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"x\"},{\"N\":"
      "\"1\"}]}}",
      NULL, INV "AttributeValues inside AttributeValueList must be of same type" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"2\"},{\"N\":"
      "\"1\"}]}}",
      NULL,
      "The BETWEEN condition was provided a range where the lower bound is greater than the "
      "upper bound" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"b\"},{\"S\":"
      "\"a\"}]}}",
      NULL,
      "The BETWEEN condition was provided a range where the lower bound is greater than the "
      "upper bound" },
    { "{\"a\":{\"ComparisonOperator\":\"LT\",\"Value\":{\"SS\":[\"a\"]}}}", NULL,
      INV "ComparisonOperator LT is not valid for SS AttributeValue type" },
    { "{\"a\":{\"AttributeValueList\":[{\"S\":\"x\"}]}}", NULL,
      INV "AttributeValueList can only be used with a ComparisonOperator for Attribute: a" },
    { "{\"a\":{\"AttributeValueList\":[{\"S\":\"x\"}],\"Exists\":false}}", NULL,
      INV "AttributeValueList can only be used with a ComparisonOperator for Attribute: a" },
    { "{\"a\":{}}", NULL, INV "Value must be provided when Exists is null for Attribute: a" },
    { "{\"a\":null}", NULL, INV "Value must be provided when Exists is null for Attribute: a" },
    { "{\"a\":{\"Exists\":true}}", NULL,
      INV "Value must be provided when Exists is true for Attribute: a" },
    { "{\"a\":{\"Exists\":false,\"Value\":{\"S\":\"x\"}}}", NULL,
      INV "Value cannot be used when Exists is false for Attribute: a" },
    { "{\"a\":{\"Value\":{\"N\":\"x1\"}}}", NULL,
      "The parameter cannot be converted to a numeric value: x1" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\",\"Value\":{\"N\":\"1e999\"}}}", NULL,
      "Number overflow. Attempting to store a number with magnitude larger than supported "
      "range" },
    { "{\"a\":{\"ComparisonOperator\":\"FOO\"}}", NULL,
      "1 validation error detected: Value 'FOO' at 'expected.a.member.comparisonOperator' failed "
      "to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, "
      "NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]" },
    { "{\"a\":{\"Exists\":false},\"b\":{\"Exists\":false}}", "XOR",
      "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy "
      "constraint: Member must satisfy enum value set: [OR, AND]" },
    { "{\"a\":{\"Exists\":false}}", "OR",
      "ConditionalOperator can only be used when Filter or Expected has two or more elements" },
    { "{}", "AND", "ConditionalOperator cannot be used without Filter or Expected" },
    /* the first bad entry wins */
    { "{\"a\":{\"Exists\":false},\"b\":{\"Exists\":true}}", NULL,
      INV "Value must be provided when Exists is true for Attribute: b" },
    /* per-entry checks come before the ConditionalOperator count */
    { "{\"a\":{\"Exists\":true}}", "OR",
      INV "Value must be provided when Exists is true for Attribute: a" },
};

static void
test_expected_messages(void)
{
    for (size_t i = 0; i < sizeof expected_msgs / sizeof expected_msgs[0]; i++) {
        const msg_case *c = &expected_msgs[i];
        dyn_expr *e = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = expected_entries(c->legacy, &n);
        n_checks++;
        DT_ERR(dyn_expr_from_expected(es, n, c->cop, &A, &e, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, c->want);
        DT_TRUE(e == NULL);
    }
}

static const msg_case filter_msgs[] = {
    { "{\"a\":{}}", NULL,
      "1 validation error detected: Value null at 'queryFilter.a.member.comparisonOperator' "
      "failed to satisfy constraint: Member must not be null" },
    { "{\"a\":null}", NULL,
      "1 validation error detected: Value null at 'queryFilter.a.member.comparisonOperator' "
      "failed to satisfy constraint: Member must not be null" },
    { "{\"a\":{\"ComparisonOperator\":\"eq\"}}", NULL,
      "1 validation error detected: Value 'eq' at 'queryFilter.a.member.comparisonOperator' "
      "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, "
      "NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]" },
    { "{\"a\":{\"ComparisonOperator\":\"EQ\"}}", NULL,
      INV "Invalid number of argument(s) for the EQ ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"IN\"}}", NULL,
      INV "Invalid number of argument(s) for the IN ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"NULL\",\"AttributeValueList\":[{\"S\":\"a\"}]}}", NULL,
      INV "Invalid number of argument(s) for the NULL ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"a\"},{\"S\":"
      "\"a\"},{\"S\":\"a\"}]}}",
      NULL, INV "Invalid number of argument(s) for the BETWEEN ComparisonOperator" },
    { "{\"a\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"b\"},{\"N\":"
      "\"1\"}]}}",
      NULL, INV "AttributeValues inside AttributeValueList must be of same type" },
    { "{\"a\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"B\":\"b\"},{\"B\":"
      "\"a\"}]}}",
      NULL,
      "The BETWEEN condition was provided a range where the lower bound is greater than the "
      "upper bound" },
    { "{\"a\":{\"ComparisonOperator\":\"NULL\"}}", "OR",
      "ConditionalOperator can only be used when Filter or Expected has two or more elements" },
    { "{}", "OR", "ConditionalOperator cannot be used without Filter or Expected" },
    { "{\"a\":{\"ComparisonOperator\":\"NULL\"},\"b\":{\"ComparisonOperator\":\"NULL\"}}", "and",
      "1 validation error detected: Value 'and' at 'conditionalOperator' failed to satisfy "
      "constraint: Member must satisfy enum value set: [OR, AND]" },
};

static void
test_filter_messages(void)
{
    for (size_t i = 0; i < sizeof filter_msgs / sizeof filter_msgs[0]; i++) {
        const msg_case *c = &filter_msgs[i];
        dyn_expr *e = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = condition_entries(c->legacy, &n, false);
        n_checks++;
        DT_ERR(dyn_expr_from_filter("QueryFilter", es, n, c->cop, &A, &e, &msg),
               DYN_EVALIDATION);
        DT_EQ_STR(msg, c->want);
    }
    /* ScanFilter names its own parameter */
    {
        dyn_expr *e = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = condition_entries("{\"x\":{}}", &n, true);
        DT_ERR(dyn_expr_from_filter("ScanFilter", es, n, NULL, &A, &e, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, "1 validation error detected: Value null at 'scanFilter.x.member."
                       "comparisonOperator' failed to satisfy constraint: Member must not be "
                       "null");
    }
    /* nothing at all: no filter */
    {
        dyn_expr *e = (dyn_expr *)&A;
        const char *msg = NULL;
        DT_OK(dyn_expr_from_filter("QueryFilter", NULL, 0, NULL, &A, &e, &msg));
        DT_TRUE(e == NULL);
        DT_OK(dyn_expr_from_expected(NULL, 0, NULL, &A, &e, &msg));
        DT_TRUE(e == NULL);
    }
}

/* Every operator x every value type, for Expected and for QueryFilter: accepted, or DynamoDB's
 * "ComparisonOperator X is not valid for T AttributeValue type". */
static void
test_operator_type_matrix(void)
{
    static const char *const ops[] = { "EQ", "NE", "LE", "LT", "GE", "GT", "CONTAINS",
                                       "NOT_CONTAINS", "BEGINS_WITH", "IN", "BETWEEN" };
    static const struct {
        const char *type, *value;
    } types[] = {
        { "S", "{\"S\":\"a\"}" },          { "N", "{\"N\":\"1\"}" },
        { "B", "{\"B\":\"a\"}" },          { "BOOL", "{\"BOOL\":true}" },
        { "NULL", "{\"NULL\":true}" },     { "SS", "{\"SS\":[\"a\"]}" },
        { "NS", "{\"NS\":[\"1\"]}" },      { "BS", "{\"BS\":[\"a\"]}" },
        { "M", "{\"M\":{}}" },             { "L", "{\"L\":[]}" },
    };
    /* which types each op accepts, as letters S N B O(BOOL) U(NULL) s n b M L */
    static const char *const ok[] = { "SNBOUsnbML", "SNBOUsnbML", "SNB", "SNB", "SNB", "SNB",
                                      "SNBOU",      "SNBOU",      "SB",  "SNB", "SNB" };
    static const char letters[] = "SNBOUsnbML";

    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            char json[256], want[160];
            bool valid = strchr(ok[o], letters[t]) != NULL;
            bool two = strcmp(ops[o], "BETWEEN") == 0;
            snprintf(json, sizeof json,
                     "{\"a\":{\"ComparisonOperator\":\"%s\",\"AttributeValueList\":[%s%s%s]}}",
                     ops[o], types[t].value, two ? "," : "", two ? types[t].value : "");
            snprintf(want, sizeof want, INV "ComparisonOperator %s is not valid for %s "
                                            "AttributeValue type",
                     ops[o], types[t].type);
            for (int kind = 0; kind < 2; kind++) {
                dyn_expr *e = NULL;
                const char *msg = NULL;
                size_t n;
                dyn_err rc;
                n_checks++;
                const ProtobufCMessage *const *es =
                    kind == 0 ? expected_entries(json, &n) : condition_entries(json, &n, false);
                if (kind == 0)
                    rc = dyn_expr_from_expected(es, n, NULL, &A, &e, &msg);
                else
                    rc = dyn_expr_from_filter("QueryFilter", es, n, NULL, &A, &e, &msg);
                if (valid) {
                    if (rc != DYN_OK)
                        fprintf(stderr, "  %s: %s\n", json, msg ? msg : "?");
                    DT_OK(rc);
                    /* and it evaluates against every item without an error */
                    for (size_t k = 0; e && k < N_ITEMS; k++)
                        DT_TRUE(eval(e, J(items[k])) >= 0);
                } else {
                    DT_ERR(rc, DYN_EVALIDATION);
                    DT_EQ_STR(msg, want);
                }
            }
        }
    }
}

/* ---- KeyConditions ---- */

typedef struct key_case {
    const char *conds;
    const char *pk, *sk;   /* key schema; sk NULL: hash-only */
    char pk_type, sk_type;
    const char *want_msg;  /* NULL: success */
    dyn_expr_key_op op;
    const char *lo, *hi;   /* expected sk_lo/sk_hi S or N text */
} key_case;

#define EQP "\"pk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"h\"}]}"

static const key_case key_cases[] = {
    { "{" EQP "}", "pk", NULL, 'S', 0, NULL, DYN_EXPR_KEY_NONE, NULL, NULL },
    { "{" EQP "}", "pk", "sk", 'S', 'N', NULL, DYN_EXPR_KEY_NONE, NULL, NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"1\"}]}}",
      "pk", "sk", 'S', 'N', NULL, DYN_EXPR_KEY_EQ, "1", NULL },
    { "{\"sk\":{\"ComparisonOperator\":\"LT\",\"AttributeValueList\":[{\"N\":\"1\"}]}," EQP "}",
      "pk", "sk", 'S', 'N', NULL, DYN_EXPR_KEY_LT, "1", NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"LE\",\"AttributeValueList\":[{\"N\":\"2\"}]}}",
      "pk", "sk", 'S', 'N', NULL, DYN_EXPR_KEY_LE, "2", NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"N\":\"3\"}]}}",
      "pk", "sk", 'S', 'N', NULL, DYN_EXPR_KEY_GT, "3", NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"GE\",\"AttributeValueList\":[{\"N\":\"4\"}]}}",
      "pk", "sk", 'S', 'N', NULL, DYN_EXPR_KEY_GE, "4", NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":\"1\"},"
      "{\"N\":\"9\"}]}}",
      "pk", "sk", 'S', 'N', NULL, DYN_EXPR_KEY_BETWEEN, "1", "9" },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{\"S\":"
      "\"ab\"}]}}",
      "pk", "sk", 'S', 'S', NULL, DYN_EXPR_KEY_BEGINS_WITH, "ab", NULL },
    { "{}", "pk", NULL, 'S', 0, "Conditions can be of length 1 or 2 only", 0, NULL, NULL },
    { "{" EQP ",\"a\":{\"ComparisonOperator\":\"NULL\"},\"b\":{\"ComparisonOperator\":\"NULL\"}}",
      "pk", "sk", 'S', 'S', "Conditions can be of length 1 or 2 only", 0, NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"EQ\"}}", "pk", NULL, 'S', 0,
      INV "Invalid number of argument(s) for the EQ ComparisonOperator", 0, NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"LE\",\"AttributeValueList\":[{\"SS\":[\"a\"]}]}}", "pk",
      NULL, 'S', 0, INV "ComparisonOperator LE is not valid for SS AttributeValue type", 0, NULL,
      NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"S\":\"b\"},{\"S\":"
      "\"a\"}]}}",
      "pk", NULL, 'S', 0,
      "The BETWEEN condition was provided a range where the lower bound is greater than the "
      "upper bound",
      0, NULL, NULL },
    { "{\"pk\":{}}", "pk", NULL, 'S', 0,
      "1 validation error detected: Value null at 'keyConditions.pk.member.comparisonOperator' "
      "failed to satisfy constraint: Member must not be null",
      0, NULL, NULL },
    { "{\"x\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"h\"}]}}", "pk",
      NULL, 'S', 0, "Query condition missed key schema element: pk", 0, NULL, NULL },
    { "{" EQP ",\"x\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"h\"}]}}",
      "pk", "sk", 'S', 'S', "Query condition missed key schema element: sk", 0, NULL, NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"h\"}]}}",
      "pk", NULL, 'S', 0, "Query key condition not supported", 0, NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"NULL\"}}", "pk", NULL, 'S', 0,
      "Attempted conditional constraint is not an indexable operation", 0, NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"NOT_NULL\"}}", "pk", NULL, 'S', 0,
      "Attempted conditional constraint is not an indexable operation", 0, NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"NE\",\"AttributeValueList\":[{\"N\":\"1\"}]}}", "pk",
      NULL, 'S', 0, "Attempted conditional constraint is not an indexable operation", 0, NULL,
      NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"CONTAINS\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
      "pk", NULL, 'S', 0, "Attempted conditional constraint is not an indexable operation", 0,
      NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
      "pk", NULL, 'S', 0, "Attempted conditional constraint is not an indexable operation", 0,
      NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"a\"}]}}", "pk",
      NULL, 'S', 0, "Attempted conditional constraint is not an indexable operation", 0, NULL,
      NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"IN\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
      "pk", "sk", 'S', 'S', "Attempted conditional constraint is not an indexable operation", 0,
      NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"N\":\"1\"}]}}", "pk",
      NULL, 'S', 0, INV "Condition parameter type does not match schema type", 0, NULL, NULL },
    { "{" EQP ",\"sk\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"S\":\"1\"}]}}",
      "pk", "sk", 'S', 'N', INV "Condition parameter type does not match schema type", 0, NULL,
      NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"GT\",\"AttributeValueList\":[{\"S\":\"a\"}]}}", "pk",
      NULL, 'S', 0, "Query key condition not supported", 0, NULL, NULL },
    { "{\"pk\":{\"ComparisonOperator\":\"BEGINS_WITH\",\"AttributeValueList\":[{\"S\":\"a\"}]}}",
      "pk", "sk", 'S', 'S', "Query key condition not supported", 0, NULL, NULL },
    { "{\"sk\":{\"ComparisonOperator\":\"EQ\",\"AttributeValueList\":[{\"S\":\"a\"}]}}", "pk",
      "sk", 'S', 'S', "Query condition missed key schema element: pk", 0, NULL, NULL },
};

static const char *
scalar_text(const av_t *v)
{
    if (v == NULL)
        return NULL;
    return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N ? v->n : v->s;
}

static void
test_key_conditions(void)
{
    for (size_t i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++) {
        const key_case *c = &key_cases[i];
        dyn_expr *ast = NULL;
        dyn_expr_key_cond kc;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = key_condition_entries(c->conds, &n);
        dyn_err rc = dyn_expr_from_key_conditions(es, n, c->pk, c->pk_type, c->sk, c->sk_type, &A,
                                                  &ast, &kc, &msg);
        n_checks++;
        if (c->want_msg) {
            DT_ERR(rc, DYN_EVALIDATION);
            DT_EQ_STR(msg, c->want_msg);
            continue;
        }
        if (rc != DYN_OK)
            fprintf(stderr, "  row %zu: %s\n", i, msg ? msg : "?");
        DT_OK(rc);
        if (rc != DYN_OK)
            continue;
        DT_EQ_STR(kc.pk->s, "h");
        DT_EQ_INT(kc.sk_op, c->op);
        if (c->lo)
            DT_EQ_STR(scalar_text(kc.sk_lo), c->lo);
        if (c->hi)
            DT_EQ_STR(scalar_text(kc.sk_hi), c->hi);
        else
            DT_TRUE(kc.sk_hi == NULL);
        /* the tree gives the same range through dyn_expr_key_condition */
        dyn_expr_key_cond kc2;
        DT_OK(dyn_expr_key_condition(ast, c->pk, c->pk_type, c->sk, c->sk_type, &A, &kc2, &msg));
        DT_TRUE(kc2.pk == kc.pk && kc2.sk_op == kc.sk_op && kc2.sk_lo == kc.sk_lo &&
                kc2.sk_hi == kc.sk_hi);
    }
    /* the tree also evaluates as a condition */
    {
        dyn_expr *ast = NULL;
        dyn_expr_key_cond kc;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = key_condition_entries(
            "{" EQP ",\"sk\":{\"ComparisonOperator\":\"BETWEEN\",\"AttributeValueList\":[{\"N\":"
            "\"1\"},{\"N\":\"9\"}]}}",
            &n);
        DT_OK(dyn_expr_from_key_conditions(es, n, "pk", 'S', "sk", 'N', &A, &ast, &kc, &msg));
        DT_EQ_INT(eval(ast, J("{\"pk\":{\"S\":\"h\"},\"sk\":{\"N\":\"5\"}}")), 1);
        DT_EQ_INT(eval(ast, J("{\"pk\":{\"S\":\"h\"},\"sk\":{\"N\":\"10\"}}")), 0);
        DT_EQ_INT(eval(ast, J("{\"pk\":{\"S\":\"g\"},\"sk\":{\"N\":\"5\"}}")), 0);
        /* ast is optional */
        DT_OK(dyn_expr_from_key_conditions(es, n, "pk", 'S', "sk", 'N', &A, NULL, &kc, &msg));
        DT_EQ_INT(kc.sk_op, DYN_EXPR_KEY_BETWEEN);
    }
}

/* ---- AttributeUpdates ---- */

typedef struct update_case {
    const char *updates, *item;
    const char *want;       /* new item, or the message when err */
    bool err;
    const char *old, *new_;  /* UPDATED_OLD / UPDATED_NEW, NULL to skip */
    const char *expr, *values;   /* equivalent UpdateExpression, NULL to skip */
} update_case;

static const update_case update_cases[] = {
    { "{\"a\":{\"Value\":{\"S\":\"x\"}}}", "{\"k\":{\"S\":\"1\"}}",
      "{\"a\":{\"S\":\"x\"},\"k\":{\"S\":\"1\"}}", false, "{}", "{\"a\":{\"S\":\"x\"}}",
      "SET a = :v", "{\":v\":{\"S\":\"x\"}}" },
    { "{\"a\":{\"Action\":\"PUT\",\"Value\":{\"N\":\"2\"}}}", "{\"a\":{\"S\":\"old\"}}",
      "{\"a\":{\"N\":\"2\"}}", false, "{\"a\":{\"S\":\"old\"}}", "{\"a\":{\"N\":\"2\"}}",
      "SET a = :v", "{\":v\":{\"N\":\"2\"}}" },
    { "{\"n\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"2\"}}}", "{\"n\":{\"N\":\"3\"}}",
      "{\"n\":{\"N\":\"5\"}}", false, "{\"n\":{\"N\":\"3\"}}", "{\"n\":{\"N\":\"5\"}}",
      "ADD n :v", "{\":v\":{\"N\":\"2\"}}" },
    { "{\"n\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"-2.5\"}}}", "{}", "{\"n\":{\"N\":\"-2.5\"}}",
      false, "{}", "{\"n\":{\"N\":\"-2.5\"}}", "ADD n :v", "{\":v\":{\"N\":\"-2.5\"}}" },
    { "{\"s\":{\"Action\":\"ADD\",\"Value\":{\"SS\":[\"b\",\"c\"]}}}", "{\"s\":{\"SS\":[\"a\",\"b\"]}}",
      "{\"s\":{\"SS\":[\"a\",\"b\",\"c\"]}}", false, NULL, NULL, "ADD s :v",
      "{\":v\":{\"SS\":[\"b\",\"c\"]}}" },
    { "{\"s\":{\"Action\":\"ADD\",\"Value\":{\"NS\":[\"1\"]}}}", "{}", "{\"s\":{\"NS\":[\"1\"]}}",
      false, NULL, NULL, "ADD s :v", "{\":v\":{\"NS\":[\"1\"]}}" },
    { "{\"s\":{\"Action\":\"ADD\",\"Value\":{\"BS\":[\"q\"]}}}", "{\"s\":{\"BS\":[\"p\"]}}",
      "{\"s\":{\"BS\":[\"p\",\"q\"]}}", false, NULL, NULL, "ADD s :v",
      "{\":v\":{\"BS\":[\"q\"]}}" },
    { "{\"l\":{\"Action\":\"ADD\",\"Value\":{\"L\":[{\"N\":\"2\"}]}}}",
      "{\"l\":{\"L\":[{\"N\":\"1\"}]}}", "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"}]}}", false,
      "{\"l\":{\"L\":[{\"N\":\"1\"}]}}", "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"}]}}",
      "SET l = list_append(if_not_exists(l, :e), :v)",
      "{\":v\":{\"L\":[{\"N\":\"2\"}]},\":e\":{\"L\":[]}}" },
    { "{\"l\":{\"Action\":\"ADD\",\"Value\":{\"L\":[{\"S\":\"x\"}]}}}", "{}",
      "{\"l\":{\"L\":[{\"S\":\"x\"}]}}", false, NULL, NULL, NULL, NULL },
    { "{\"s\":{\"Action\":\"DELETE\",\"Value\":{\"SS\":[\"a\",\"z\"]}}}",
      "{\"s\":{\"SS\":[\"a\",\"b\"]}}", "{\"s\":{\"SS\":[\"b\"]}}", false, NULL, NULL,
      "DELETE s :v", "{\":v\":{\"SS\":[\"a\",\"z\"]}}" },
    { "{\"s\":{\"Action\":\"DELETE\",\"Value\":{\"NS\":[\"1\",\"2\"]}}}",
      "{\"s\":{\"NS\":[\"2\",\"1\"]},\"t\":{\"N\":\"0\"}}", "{\"t\":{\"N\":\"0\"}}", false,
      "{\"s\":{\"NS\":[\"2\",\"1\"]}}", "{}", "DELETE s :v", "{\":v\":{\"NS\":[\"1\",\"2\"]}}" },
    { "{\"s\":{\"Action\":\"DELETE\",\"Value\":{\"SS\":[\"a\"]}}}", "{}", "{}", false, "{}", "{}",
      "DELETE s :v", "{\":v\":{\"SS\":[\"a\"]}}" },
    { "{\"a\":{\"Action\":\"DELETE\"}}", "{\"a\":{\"S\":\"x\"},\"b\":{\"S\":\"y\"}}",
      "{\"b\":{\"S\":\"y\"}}", false, "{\"a\":{\"S\":\"x\"}}", "{}", "REMOVE a", NULL },
    { "{\"a\":{\"Action\":\"DELETE\"}}", "{}", "{}", false, "{}", "{}", "REMOVE a", NULL },
    { "{\"a\":{\"Value\":{\"N\":\"1\"}},\"b\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"1\"}},"
      "\"c\":{\"Action\":\"DELETE\"},\"d\":{\"Action\":\"DELETE\",\"Value\":{\"SS\":[\"x\"]}}}",
      "{\"b\":{\"N\":\"1\"},\"c\":{\"N\":\"1\"},\"d\":{\"SS\":[\"x\",\"y\"]}}",
      "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"},\"d\":{\"SS\":[\"y\"]}}", false,
      "{\"b\":{\"N\":\"1\"},\"c\":{\"N\":\"1\"},\"d\":{\"SS\":[\"x\",\"y\"]}}",
      "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"},\"d\":{\"SS\":[\"y\"]}}",
      "SET a = :a ADD b :b REMOVE c DELETE d :d",
      "{\":a\":{\"N\":\"1\"},\":b\":{\"N\":\"1\"},\":d\":{\"SS\":[\"x\"]}}" },
    { "{\"a.b\":{\"Value\":{\"N\":\"1\"}}}", "{\"a\":{\"M\":{}}}",
      "{\"a\":{\"M\":{}},\"a.b\":{\"N\":\"1\"}}", false, NULL, NULL, NULL, NULL },
    /* apply-time errors */
    { "{\"n\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"1\"}}}", "{\"n\":{\"S\":\"x\"}}",
      "Type mismatch for attribute to update", true, NULL, NULL, NULL, NULL },
    { "{\"s\":{\"Action\":\"ADD\",\"Value\":{\"SS\":[\"x\"]}}}", "{\"s\":{\"NS\":[\"1\"]}}",
      "Type mismatch for attribute to update", true, NULL, NULL, NULL, NULL },
    { "{\"l\":{\"Action\":\"ADD\",\"Value\":{\"L\":[]}}}", "{\"l\":{\"S\":\"x\"}}",
      "Type mismatch for attribute to update", true, NULL, NULL, NULL, NULL },
    { "{\"s\":{\"Action\":\"DELETE\",\"Value\":{\"SS\":[\"x\"]}}}", "{\"s\":{\"S\":\"x\"}}",
      "Type mismatch for attribute to update", true, NULL, NULL, NULL, NULL },
    { "{\"k\":{\"Value\":{\"S\":\"x\"}}}", "{\"k\":{\"S\":\"1\"}}",
      INV "Cannot update attribute k. This attribute is part of the key", true, NULL, NULL, NULL,
      NULL },
    { "{\"n\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"9E+125\"}}}", "{\"n\":{\"N\":\"9E+125\"}}",
      "Number overflow. Attempting to store a number with magnitude larger than supported range",
      true, NULL, NULL, NULL, NULL },
};

static void
test_attribute_updates(void)
{
    static const char *const keys[2] = { "k", NULL };

    for (size_t i = 0; i < sizeof update_cases / sizeof update_cases[0]; i++) {
        const update_case *c = &update_cases[i];
        dyn_expr *e = NULL;
        map_t *out = NULL, *proj = NULL;
        const map_t *old = J(c->item);
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = update_entries(c->updates, &n);
        n_checks++;
        DT_OK(dyn_expr_from_attribute_updates(es, n, &A, &e, &msg));
        if (e == NULL)
            continue;
        dyn_err rc = dyn_expr_apply_update(e, old, keys, &A, &out, &msg);
        if (c->err) {
            DT_ERR(rc, DYN_EVALIDATION);
            DT_EQ_STR(msg, c->want);
            continue;
        }
        if (rc != DYN_OK)
            fprintf(stderr, "  row %zu: %s\n", i, msg ? msg : "?");
        DT_OK(rc);
        DT_EQ_STR(W(out), c->want);
        if (c->old) {
            DT_OK(dyn_expr_project(e, old, &A, &proj));
            DT_EQ_STR(W(proj), c->old);
        }
        if (c->new_) {
            DT_OK(dyn_expr_project(e, out, &A, &proj));
            DT_EQ_STR(W(proj), c->new_);
        }
        if (c->expr) {
            dyn_expr *x = parse_expr(DYN_EXPR_UPDATE, c->expr, c->values);
            map_t *xo = NULL;
            if (x != NULL) {
                DT_OK(dyn_expr_apply_update(x, old, keys, &A, &xo, &msg));
                DT_EQ_STR(W(out), W(xo));
                DT_OK(dyn_expr_project(x, out, &A, &proj));
                map_t *lp = NULL;
                DT_OK(dyn_expr_project(e, out, &A, &lp));
                DT_EQ_STR(W(lp), W(proj));
            }
        }
    }
    /* an empty AttributeUpdates is no update */
    {
        dyn_expr *e = (dyn_expr *)&A;
        const char *msg = NULL;
        DT_OK(dyn_expr_from_attribute_updates(NULL, 0, &A, &e, &msg));
        DT_TRUE(e == NULL);
    }
}

static const msg_case update_msgs[] = {
    { "{\"a\":{}}", NULL, INV "Only DELETE action is allowed when no attribute value is specified" },
    { "{\"a\":{\"Action\":\"PUT\"}}", NULL,
      INV "Only DELETE action is allowed when no attribute value is specified" },
    { "{\"a\":{\"Action\":\"ADD\"}}", NULL,
      INV "Only DELETE action is allowed when no attribute value is specified" },
    { "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"S\":\"1\"}}}", NULL,
      INV "DELETE action with value is not supported for the type S" },
    { "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"N\":\"1\"}}}", NULL,
      INV "DELETE action with value is not supported for the type N" },
    { "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"B\":\"b\"}}}", NULL,
      INV "DELETE action with value is not supported for the type B" },
    { "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"NULL\":true}}}", NULL,
      INV "DELETE action with value is not supported for the type NULL" },
    { "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"BOOL\":true}}}", NULL,
      INV "DELETE action with value is not supported for the type BOOL" },
    { "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"M\":{}}}}", NULL,
      INV "DELETE action with value is not supported for the type M" },
    { "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"L\":[]}}}", NULL,
      INV "DELETE action with value is not supported for the type L" },
    { "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"S\":\"1\"}}}", NULL,
      INV "ADD action is not supported for the type S" },
    { "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"B\":\"b\"}}}", NULL,
      INV "ADD action is not supported for the type B" },
    { "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"NULL\":true}}}", NULL,
      INV "ADD action is not supported for the type NULL" },
    { "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"BOOL\":true}}}", NULL,
      INV "ADD action is not supported for the type BOOL" },
    { "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"M\":{}}}}", NULL,
      INV "ADD action is not supported for the type M" },
    { "{\"a\":{\"Action\":\"REPLACE\",\"Value\":{\"S\":\"1\"}}}", NULL,
      "1 validation error detected: Value 'REPLACE' at 'attributeUpdates.a.member.action' failed "
      "to satisfy constraint: Member must satisfy enum value set: [ADD, DELETE, PUT]" },
    { "{\"a\":{\"Value\":{\"N\":\"abc\"}}}", NULL,
      "The parameter cannot be converted to a numeric value: abc" },
};

static void
test_update_messages(void)
{
    for (size_t i = 0; i < sizeof update_msgs / sizeof update_msgs[0]; i++) {
        const msg_case *c = &update_msgs[i];
        dyn_expr *e = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = update_entries(c->legacy, &n);
        n_checks++;
        DT_ERR(dyn_expr_from_attribute_updates(es, n, &A, &e, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, c->want);
    }
    /* ADD/PUT of every accepted type and DELETE of every set type build fine */
    static const char *const fine[] = {
        "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"N\":\"1\"}}}",
        "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"SS\":[\"1\"]}}}",
        "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"NS\":[\"1\"]}}}",
        "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"BS\":[\"1\"]}}}",
        "{\"a\":{\"Action\":\"ADD\",\"Value\":{\"L\":[]}}}",
        "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"SS\":[\"1\"]}}}",
        "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"NS\":[\"1\"]}}}",
        "{\"a\":{\"Action\":\"DELETE\",\"Value\":{\"BS\":[\"1\"]}}}",
        "{\"a\":{\"Action\":\"PUT\",\"Value\":{\"M\":{}}}}",
        "{\"a\":{\"Action\":\"PUT\",\"Value\":{\"BOOL\":false}}}",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        dyn_expr *e = NULL;
        const char *msg = NULL;
        size_t n;
        const ProtobufCMessage *const *es = update_entries(fine[i], &n);
        n_checks++;
        DT_OK(dyn_expr_from_attribute_updates(es, n, &A, &e, &msg));
        DT_TRUE(e != NULL);
    }
}

/* ---- AttributesToGet ---- */

static void
test_attributes_to_get(void)
{
    static const struct {
        const char *names, *item, *want;
    } cases[] = {
        { "[\"a\",\"c\"]", "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"},\"c\":{\"S\":\"x\"}}",
          "{\"a\":{\"N\":\"1\"},\"c\":{\"S\":\"x\"}}" },
        { "[\"z\"]", "{\"a\":{\"N\":\"1\"}}", "{}" },
        { "[\"a.b\",\"l[0]\"]",
          "{\"a\":{\"M\":{\"b\":{\"N\":\"1\"}}},\"a.b\":{\"S\":\"dot\"},\"l\":{\"L\":[{\"N\":"
          "\"1\"}]}}",
          "{\"a.b\":{\"S\":\"dot\"}}" },
        { "[\"m\"]", "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}", "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rd r = { cases[i].names, false };
        size_t n;
        char **names = strs_read(&r, &n);
        dyn_expr *e = NULL;
        map_t *out = NULL;
        const char *msg = NULL;
        n_checks++;
        DT_OK(dyn_expr_from_attributes_to_get((const char *const *)names, n, &A, &e, &msg));
        DT_OK(dyn_expr_project(e, J(cases[i].item), &A, &out));
        DT_EQ_STR(W(out), cases[i].want);
    }
    /* same result as the ProjectionExpression */
    {
        const char *names[] = { "b", "a" };
        dyn_expr *e = NULL, *x = parse_expr(DYN_EXPR_PROJECTION, "b, a", NULL);
        map_t *o1 = NULL, *o2 = NULL;
        const map_t *item = J("{\"a\":{\"N\":\"1\"},\"b\":{\"L\":[]},\"c\":{\"N\":\"3\"}}");
        const char *msg = NULL;
        n_checks++;
        DT_OK(dyn_expr_from_attributes_to_get(names, 2, &A, &e, &msg));
        DT_OK(dyn_expr_project(e, item, &A, &o1));
        DT_OK(dyn_expr_project(x, item, &A, &o2));
        DT_EQ_STR(W(o1), W(o2));
        DT_OK(dyn_expr_project(e, NULL, &A, &o1));
        DT_EQ_STR(W(o1), "{}");
    }
    {
        const char *names[] = { "a", "b", "a" };
        dyn_expr *e = NULL;
        const char *msg = NULL;
        n_checks++;
        DT_ERR(dyn_expr_from_attributes_to_get(names, 3, &A, &e, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, INV "Duplicate value in attribute name: a");
        DT_OK(dyn_expr_from_attributes_to_get(names, 0, &A, &e, &msg));
        DT_TRUE(e == NULL);
    }
    {
        const char *names[256];
        char want[4096] = "1 validation error detected: Value '[";
        dyn_expr *e = NULL;
        const char *msg = NULL;
        for (int i = 0; i < 256; i++) {
            names[i] = i % 2 ? "y" : "x";
            strcat(want, i ? ", " : "");
            strcat(want, names[i]);
        }
        strcat(want, "]' at 'attributesToGet' failed to satisfy constraint: Member must have "
                     "length less than or equal to 255");
        n_checks++;
        DT_ERR(dyn_expr_from_attributes_to_get(names, 256, &A, &e, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, want);
        DT_OK(dyn_expr_from_attributes_to_get(names, 2, &A, &e, &msg));
    }
}

/* ---- mixing ---- */

#define P_(x) DYN_EXPR_P_##x
#define MIX "Can not use both expression and non-expression parameters in the same request: "

static void
test_mixing(void)
{
    static const struct {
        dyn_expr_op op;
        unsigned params;
        const char *want;   /* NULL: fine */
    } cases[] = {
        { DYN_EXPR_OP_PUT_ITEM, P_(EXPECTED) | P_(CONDITION_EXPRESSION),
          MIX "Non-expression parameters: {Expected} Expression parameters: "
              "{ConditionExpression}" },
        { DYN_EXPR_OP_DELETE_ITEM, P_(EXPECTED) | P_(CONDITION_EXPRESSION),
          MIX "Non-expression parameters: {Expected} Expression parameters: "
              "{ConditionExpression}" },
        { DYN_EXPR_OP_PUT_ITEM, P_(EXPECTED) | P_(CONDITIONAL_OPERATOR), NULL },
        { DYN_EXPR_OP_PUT_ITEM, P_(CONDITION_EXPRESSION) | P_(CONDITIONAL_OPERATOR), NULL },
        { DYN_EXPR_OP_UPDATE_ITEM,
          P_(EXPECTED) | P_(ATTRIBUTE_UPDATES) | P_(UPDATE_EXPRESSION) | P_(CONDITION_EXPRESSION),
          MIX "Non-expression parameters: {AttributeUpdates, Expected} Expression parameters: "
              "{UpdateExpression, ConditionExpression}" },
        { DYN_EXPR_OP_UPDATE_ITEM, P_(ATTRIBUTE_UPDATES) | P_(CONDITION_EXPRESSION),
          MIX "Non-expression parameters: {AttributeUpdates} Expression parameters: "
              "{ConditionExpression}" },
        { DYN_EXPR_OP_GET_ITEM, P_(ATTRIBUTES_TO_GET) | P_(PROJECTION_EXPRESSION),
          MIX "Non-expression parameters: {AttributesToGet} Expression parameters: "
              "{ProjectionExpression}" },
        { DYN_EXPR_OP_SCAN,
          P_(ATTRIBUTES_TO_GET) | P_(SCAN_FILTER) | P_(CONDITIONAL_OPERATOR) |
              P_(FILTER_EXPRESSION) | P_(PROJECTION_EXPRESSION) |
              P_(EXPRESSION_ATTRIBUTE_NAMES) | P_(EXPRESSION_ATTRIBUTE_VALUES),
          MIX "Non-expression parameters: {AttributesToGet, ScanFilter, ConditionalOperator} "
              "Expression parameters: {ProjectionExpression, FilterExpression}" },
        { DYN_EXPR_OP_QUERY,
          P_(ATTRIBUTES_TO_GET) | P_(QUERY_FILTER) | P_(CONDITIONAL_OPERATOR) |
              P_(KEY_CONDITIONS) | P_(PROJECTION_EXPRESSION) | P_(FILTER_EXPRESSION) |
              P_(KEY_CONDITION_EXPRESSION),
          MIX "Non-expression parameters: {AttributesToGet, QueryFilter, ConditionalOperator, "
              "KeyConditions} Expression parameters: {ProjectionExpression, FilterExpression, "
              "KeyConditionExpression}" },
        /* KeyConditions alongside expressions other than KeyConditionExpression is allowed */
        { DYN_EXPR_OP_QUERY, P_(KEY_CONDITIONS) | P_(FILTER_EXPRESSION), NULL },
        { DYN_EXPR_OP_QUERY, P_(KEY_CONDITIONS) | P_(QUERY_FILTER) | P_(FILTER_EXPRESSION),
          MIX "Non-expression parameters: {QueryFilter} Expression parameters: "
              "{FilterExpression}" },
        { DYN_EXPR_OP_QUERY, P_(KEY_CONDITIONS) | P_(KEY_CONDITION_EXPRESSION),
          MIX "Non-expression parameters: {KeyConditions} Expression parameters: "
              "{KeyConditionExpression}" },
        { DYN_EXPR_OP_PUT_ITEM, P_(EXPRESSION_ATTRIBUTE_NAMES),
          "ExpressionAttributeNames can only be specified when using expressions" },
        { DYN_EXPR_OP_PUT_ITEM, P_(EXPRESSION_ATTRIBUTE_NAMES) | P_(EXPECTED),
          "ExpressionAttributeNames can only be specified when using expressions" },
        { DYN_EXPR_OP_PUT_ITEM, P_(EXPRESSION_ATTRIBUTE_VALUES),
          "ExpressionAttributeValues can only be specified when using expressions: "
          "ConditionExpression is null" },
        { DYN_EXPR_OP_UPDATE_ITEM, P_(EXPRESSION_ATTRIBUTE_VALUES),
          "ExpressionAttributeValues can only be specified when using expressions: "
          "UpdateExpression and ConditionExpression are null" },
        { DYN_EXPR_OP_QUERY, P_(EXPRESSION_ATTRIBUTE_VALUES) | P_(PROJECTION_EXPRESSION),
          "ExpressionAttributeValues can only be specified when using expressions: "
          "FilterExpression and KeyConditionExpression are null" },
        { DYN_EXPR_OP_SCAN,
          P_(EXPRESSION_ATTRIBUTE_VALUES) | P_(EXPRESSION_ATTRIBUTE_NAMES) |
              P_(PROJECTION_EXPRESSION),
          "ExpressionAttributeValues can only be specified when using expressions: "
          "FilterExpression is null" },
        /* GetItem has no expression that takes values: never an error for them */
        { DYN_EXPR_OP_GET_ITEM, P_(EXPRESSION_ATTRIBUTE_VALUES) | P_(PROJECTION_EXPRESSION), NULL },
        { DYN_EXPR_OP_GET_ITEM, P_(EXPRESSION_ATTRIBUTE_NAMES),
          "ExpressionAttributeNames can only be specified when using expressions" },
        { DYN_EXPR_OP_UPDATE_ITEM,
          P_(UPDATE_EXPRESSION) | P_(EXPRESSION_ATTRIBUTE_NAMES) | P_(EXPRESSION_ATTRIBUTE_VALUES),
          NULL },
        { DYN_EXPR_OP_QUERY,
          P_(KEY_CONDITION_EXPRESSION) | P_(EXPRESSION_ATTRIBUTE_VALUES), NULL },
        { DYN_EXPR_OP_SCAN, P_(SCAN_FILTER) | P_(ATTRIBUTES_TO_GET), NULL },
        /* parameters the operation does not have are not DynamoDB's business here */
        { DYN_EXPR_OP_PUT_ITEM, P_(ATTRIBUTE_UPDATES) | P_(CONDITION_EXPRESSION), NULL },
        { DYN_EXPR_OP_SCAN, 0, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *msg = NULL;
        dyn_err rc = dyn_expr_check_mixing(cases[i].op, cases[i].params, &A, &msg);
        n_checks++;
        if (cases[i].want == NULL) {
            DT_OK(rc);
            DT_TRUE(msg == NULL);
        } else {
            DT_ERR(rc, DYN_EVALIDATION);
            DT_EQ_STR(msg, cases[i].want);
        }
    }
    {
        const char *msg = NULL;
        DT_ERR(dyn_expr_check_mixing((dyn_expr_op)99, 0, &A, &msg), DYN_EINTERNAL);
    }
}

/* ---- failure paths ---- */

static void
test_bad_entries_and_memory(void)
{
    /* a map entry of the wrong kind (a Condition where an Expected belongs) */
    {
        size_t n;
        const ProtobufCMessage *const *es =
            condition_entries("{\"a\":{\"ComparisonOperator\":\"NULL\"}}", &n, false);
        dyn_expr *e = NULL;
        const char *msg = NULL;
        DT_ERR(dyn_expr_from_expected(es, n, NULL, &A, &e, &msg), DYN_EINTERNAL);
        DT_ERR(dyn_expr_from_attribute_updates(es, n, &A, &e, &msg), DYN_EINTERNAL);
        es = expected_entries("{\"a\":{\"Exists\":false}}", &n);
        DT_ERR(dyn_expr_from_filter("ScanFilter", es, n, NULL, &A, &e, &msg), DYN_EINTERNAL);
    }
    /* a tiny arena: every builder reports DYN_ENOMEM, never crashes */
    {
        size_t n1, n2, n3;
        const ProtobufCMessage *const *ex = expected_entries(
            "{\"a\":{\"ComparisonOperator\":\"NOT_CONTAINS\",\"AttributeValueList\":[{\"S\":"
            "\"x\"}]},\"b\":{\"Exists\":false}}",
            &n1);
        const ProtobufCMessage *const *up = update_entries(
            "{\"l\":{\"Action\":\"ADD\",\"Value\":{\"L\":[]}},\"a\":{\"Value\":{\"N\":\"1\"}}}",
            &n2);
        const ProtobufCMessage *const *kc = key_condition_entries("{" EQP "}", &n3);
        const char *names[] = { "a", "b" };
        for (size_t cap = 64; cap < 8192; cap *= 2) {
            dyn_arena small;
            dyn_expr *e = NULL;
            dyn_expr_key_cond k;
            const char *msg = NULL;
            dyn_err rc;
            dyn_arena_init(&small, cap);
            rc = dyn_expr_from_expected(ex, n1, "OR", &small, &e, &msg);
            DT_TRUE(rc == DYN_OK || rc == DYN_ENOMEM);
            rc = dyn_expr_from_attribute_updates(up, n2, &small, &e, &msg);
            DT_TRUE(rc == DYN_OK || rc == DYN_ENOMEM);
            rc = dyn_expr_from_key_conditions(kc, n3, "pk", 'S', NULL, 0, &small, &e, &k, &msg);
            DT_TRUE(rc == DYN_OK || rc == DYN_ENOMEM);
            rc = dyn_expr_from_attributes_to_get(names, 2, &small, &e, &msg);
            DT_TRUE(rc == DYN_OK || rc == DYN_ENOMEM);
            rc = dyn_expr_check_mixing(DYN_EXPR_OP_QUERY,
                                       P_(QUERY_FILTER) | P_(FILTER_EXPRESSION), &small, &msg);
            DT_TRUE(rc == DYN_EVALIDATION || rc == DYN_ENOMEM);
            dyn_arena_fini(&small);
        }
    }
}

static void
test_report(void)
{
    fprintf(stderr, "  %d table rows and combinations checked\n", n_checks);
    DT_TRUE(n_checks >= 150);
}

static void
setup_arena(void)
{
    dyn_arena_init(&A, 64u << 20);
}

DT_MAIN({ "setup", setup_arena }, { "equivalence with expressions", test_equivalence },
        { "legacy semantics", test_truth }, { "Expected messages", test_expected_messages },
        { "filter messages", test_filter_messages },
        { "operator x type matrix", test_operator_type_matrix },
        { "KeyConditions", test_key_conditions }, { "AttributeUpdates", test_attribute_updates },
        { "AttributeUpdates messages", test_update_messages },
        { "AttributesToGet", test_attributes_to_get }, { "mixing", test_mixing },
        { "bad entries and memory", test_bad_entries_and_memory }, { "count", test_report })
