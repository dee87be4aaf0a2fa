/* libs/expr tests: table-driven parse errors (DynamoDB's exact messages), condition evaluation,
 * updates and projections on real items. Items and values are written in DynamoDB JSON
 * ({"a":{"N":"1"}}); B values are given as raw text. */
#include "libs/expr/expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/arena/arena.h"
#include "libs/testing/dyn_test.h"

static dyn_arena A;

/* ---- a small DynamoDB-JSON reader and writer ---- */

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

static char *
str(rd *r)
{
    ws(r);
    if (!lit(r, '"'))
        return NULL;
    const char *b = r->s;
    while (*r->s && *r->s != '"')
        r->s++;
    char *out = dyn_arena_strndup(&A, b, (size_t)(r->s - b));
    lit(r, '"');
    return out;
}

static Dyne__V1__AttributeValue *av_read(rd *r);

static Dyne__V1__AttributeValueMap *
map_read(rd *r)
{
    Dyne__V1__AttributeValueMap *m = dyn_arena_zalloc(&A, sizeof *m);
    Dyne__V1__AttributeValueMap__ValuesEntry **es = dyn_arena_zalloc(&A, 64 * sizeof *es);
    *m = (Dyne__V1__AttributeValueMap)DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
    lit(r, '{');
    ws(r);
    while (!r->bad && *r->s != '}') {
        Dyne__V1__AttributeValueMap__ValuesEntry *e = dyn_arena_zalloc(&A, sizeof *e);
        *e = (Dyne__V1__AttributeValueMap__ValuesEntry)DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
        e->key = str(r);
        lit(r, ':');
        e->value = av_read(r);
        es[m->n_values++] = e;
        ws(r);
        if (*r->s == ',')
            r->s++;
        ws(r);
    }
    lit(r, '}');
    m->values = es;
    return m;
}

static char **
strs_read(rd *r, size_t *n)
{
    char **v = dyn_arena_zalloc(&A, 128 * sizeof *v);
    *n = 0;
    lit(r, '[');
    ws(r);
    while (!r->bad && *r->s != ']') {
        v[(*n)++] = str(r);
        ws(r);
        if (*r->s == ',')
            r->s++;
        ws(r);
    }
    lit(r, ']');
    return v;
}

static Dyne__V1__AttributeValue *
av_read(rd *r)
{
    Dyne__V1__AttributeValue *v = dyn_arena_zalloc(&A, sizeof *v);
    *v = (Dyne__V1__AttributeValue)DYNE__V1__ATTRIBUTE_VALUE__INIT;
    lit(r, '{');
    char *t = str(r);
    lit(r, ':');
    if (t == NULL)
        return v;
    ws(r);
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
        v->bool_ = strncmp(r->s, "true", 4) == 0;
        r->s += v->bool_ ? 4 : 5;
    } else if (!strcmp(t, "NULL")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL;
        v->null = 1;
        r->s += 4;
    } else if (!strcmp(t, "M")) {
        v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
        v->m = map_read(r);
    } else if (!strcmp(t, "L")) {
        Dyne__V1__AttributeValueList *l = dyn_arena_zalloc(&A, sizeof *l);
        *l = (Dyne__V1__AttributeValueList)DYNE__V1__ATTRIBUTE_VALUE_LIST__INIT;
        l->values = dyn_arena_zalloc(&A, 128 * sizeof *l->values);
        lit(r, '[');
        ws(r);
        while (!r->bad && *r->s != ']') {
            l->values[l->n_values++] = av_read(r);
            ws(r);
            if (*r->s == ',')
                r->s++;
            ws(r);
        }
        lit(r, ']');
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

static Dyne__V1__AttributeValueMap *
J(const char *json)
{
    rd r = { json, false };
    if (json == NULL)
        return NULL;
    Dyne__V1__AttributeValueMap *m = map_read(&r);
    if (r.bad) {
        fprintf(stderr, "bad test json: %s\n", json);
        abort();
    }
    return m;
}

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

static void map_write(sb *b, const Dyne__V1__AttributeValueMap *m);

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
av_write(sb *b, const Dyne__V1__AttributeValue *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S: puts_(b, "{\"S\":\""); puts_(b, v->s); puts_(b, "\"}"); break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N: puts_(b, "{\"N\":\""); puts_(b, v->n); puts_(b, "\"}"); break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        puts_(b, "{\"B\":\"");
        put(b, (const char *)v->b.data, v->b.len);
        puts_(b, "\"}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL: puts_(b, v->bool_ ? "{\"BOOL\":true}" : "{\"BOOL\":false}"); break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL: puts_(b, "{\"NULL\":true}"); break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M: puts_(b, "{\"M\":"); map_write(b, v->m); puts_(b, "}"); break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
        puts_(b, "{\"L\":[");
        for (size_t i = 0; i < v->l->n_values; i++) {
            if (i)
                puts_(b, ",");
            av_write(b, v->l->values[i]);
        }
        puts_(b, "]}");
        break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS: puts_(b, "{\"SS\":"); strs_write(b, v->ss->values, v->ss->n_values); puts_(b, "}"); break;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS: puts_(b, "{\"NS\":"); strs_write(b, v->ns->values, v->ns->n_values); puts_(b, "}"); break;
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

/* Keys sorted, so expectations do not depend on insertion order. */
static void
map_write(sb *b, const Dyne__V1__AttributeValueMap *m)
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
W(const Dyne__V1__AttributeValueMap *m)
{
    sb b = { 0 };
    if (m == NULL)
        return "(null)";
    map_write(&b, m);
    return b.p;
}

/* ---- request helpers ---- */

/* names: "#a=x,#b=y" or NULL (*nv NULL); values: DynamoDB JSON map or NULL. */
static void
request(const char *names, const char *values, dyn_expr_name **nv, size_t *n,
        Dyne__V1__AttributeValueMap **vals)
{
    *nv = NULL;
    *n = 0;
    if (names != NULL) {
        *nv = dyn_arena_zalloc(&A, 64 * sizeof **nv);
        char *s = dyn_arena_strdup(&A, names), *save = NULL;
        for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            *eq = '\0';
            (*nv)[*n].key = tok;
            (*nv)[*n].value = eq + 1;
            (*n)++;
        }
    }
    *vals = J(values);
}

static dyn_err
setup(dyn_expr_ctx *ctx, const char *names, const char *values, const char **msg)
{
    dyn_expr_name *nv;
    Dyne__V1__AttributeValueMap *vals;
    size_t n;

    request(names, values, &nv, &n, &vals);
    return dyn_expr_ctx_init(ctx, nv, n, vals, &A, msg);
}

/* One request: ctx_init, parse, unused check. "OK" or the first message; *tree the dump of the
 * tree when the parse succeeded, else "". */
static const char *
parse_once(dyn_expr_kind kind, const char *expr, const dyn_expr_name *nv, size_t n,
           const Dyne__V1__AttributeValueMap *vals, dyn_expr **out, const char **tree)
{
    dyn_expr_ctx ctx;
    const char *msg = NULL;
    dyn_expr *e = NULL;

    *tree = "";
    if (dyn_expr_ctx_init(&ctx, nv, n, vals, &A, &msg) != DYN_OK)
        return msg;
    if (dyn_expr_parse(&ctx, kind, expr, strlen(expr), &e, &msg) != DYN_OK)
        return msg ? msg : "(no message)";
    if (dyn_expr_dump(e, &A, tree) != DYN_OK)
        *tree = "(dump failed)";
    *out = e;
    if (dyn_expr_ctx_check_unused(&ctx, &msg) != DYN_OK)
        return msg;
    return "OK";
}

/* Parses expr three times: with the parse cache off, on (filling it) and on again (served by
 * it). All three must agree on the message, the tree and the unused placeholders, and a text
 * that parsed must come from the cache the third time. Returns the third's result; *out its
 * tree when everything passed. */
static const char *
parse_msg(dyn_expr_kind kind, const char *expr, const char *names, const char *values,
          dyn_expr **out)
{
    dyn_expr_name *nv;
    Dyne__V1__AttributeValueMap *vals;
    size_t n;
    const char *got[3], *tree[3];
    dyn_expr *e[3] = { NULL, NULL, NULL };
    dyn_expr_cache_stats before, after;

    request(names, values, &nv, &n, &vals);
    for (int pass = 0; pass < 3; pass++) {
        dyn_expr_cache_enable(pass > 0);
        dyn_expr_cache_get_stats(&before);
        got[pass] = parse_once(kind, expr, nv, n, vals, &e[pass], &tree[pass]);
        dyn_expr_cache_get_stats(&after);
        if (pass == 2 && e[2] != NULL && after.hits != before.hits + 1)
            DT_FAIL_("[%s]: parsed, but not served from the cache", expr);
    }
    dyn_expr_cache_enable(true);
    for (int pass = 1; pass < 3; pass++) {
        if (strcmp(got[0], got[pass]) != 0)
            DT_FAIL_("[%s] pass %d: \"%s\", uncached \"%s\"", expr, pass, got[pass], got[0]);
        if (strcmp(tree[0], tree[pass]) != 0)
            DT_FAIL_("[%s] pass %d: tree\n  %s\nuncached\n  %s", expr, pass, tree[pass], tree[0]);
    }
    if (out && e[2] != NULL)
        *out = e[2];
    return got[2];
}

typedef struct {
    dyn_expr_kind kind;
    const char *expr, *names, *values, *want;
} perr_case;

#define C DYN_EXPR_CONDITION
#define F DYN_EXPR_FILTER
#define K DYN_EXPR_KEY_CONDITION
#define U DYN_EXPR_UPDATE
#define P DYN_EXPR_PROJECTION

static const char *const V1 = "{\":v\":{\"S\":\"x\"}}";
static const char *const VN = "{\":v\":{\"N\":\"1\"}}";

static void
run_parse_cases(const perr_case *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = parse_msg(cs[i].kind, cs[i].expr, cs[i].names, cs[i].values, NULL);
        if (got == NULL || strcmp(got, cs[i].want) != 0)
            DT_FAIL_("case %zu [%s]: got \"%s\", want \"%s\"", i, cs[i].expr,
                     got ? got : "(null)", cs[i].want);
    }
}

static void
test_parse_ok(void)
{
    static const perr_case cs[] = {
        { C, "a = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a <> :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a < :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a <= :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a > :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a >= :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a.b[3].c = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "#n = :v", "#n=a", "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "#n.#m = :v", "#n=a,#m=status", "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a BETWEEN :v AND :w", NULL, "{\":v\":{\"N\":\"1\"},\":w\":{\"N\":\"2\"}}", "OK" },
        { C, "a between :v and :w", NULL, "{\":v\":{\"N\":\"1\"},\":w\":{\"N\":\"1\"}}", "OK" },
        { C, "a IN (:v)", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a IN (:v, :w, b)", NULL, "{\":v\":{\"S\":\"x\"},\":w\":{\"S\":\"y\"}}", "OK" },
        { C, "a = :v AND b = :v OR NOT c = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "(a = :v)", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "(a) = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a = (:v)", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "NOT (a = :v)", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "NOT NOT a = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "attribute_exists(a)", NULL, NULL, "OK" },
        { C, "attribute_not_exists(a.b[1])", NULL, NULL, "OK" },
        { C, "attribute_type(a, :v)", NULL, "{\":v\":{\"S\":\"SS\"}}", "OK" },
        { C, "begins_with(a, :v)", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "begins_with(a, :v)", NULL, "{\":v\":{\"B\":\"x\"}}", "OK" },
        { C, "contains(a, :v)", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { C, "size(a) > :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { C, "size(:v) > size(a)", NULL, "{\":v\":{\"S\":\"abc\"}}", "OK" },
        { C, "  a\t=\n:v  ", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a=:v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a = b", NULL, NULL, "OK" },
        { C, "a [ 1 ] . b = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "_a = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a1_b = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "#a0 = :v9 AnD #a1 BeTwEeN :v1 aNd :v8 oR nOt #a2 In (:v0, :v5, :v2, :v3) "
          "AND #a3 = :v4 AND #a4 = :v6 AND #a6.#a7[1].#a8 = :v7 AND #a9 = :v0 OR #a5 = :v0", "#a0=x0,#a1=x1,#a2=x2,#a3=x3,#a4=x4,#a5=x5,#a6=x6,#a7=x7,#a8=x8,#a9=x9", "{\":v0\":{\"N\":\"0\"},\":v1\":{\"N\":\"1\"},\":v2\":{\"N\":\"2\"},\":v3\":{\"N\":\"3\"},\":v4\":{\"N\":\"4\"},\":v5\":{\"N\":\"5\"},\":v6\":{\"N\":\"6\"},\":v7\":{\"N\":\"7\"},\":v8\":{\"N\":\"8\"},\":v9\":{\"N\":\"9\"}}",
          "OK" },
        { C, "(a = :v) AND ((b = :v) OR c = :v)", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { C, "a = :v AND (b = :v OR c = :v)", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { F, "a = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { K, "pk = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { U, "SET a = :v", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { U, "set a = :v, b = a", NULL, "{\":v\":{\"S\":\"x\"}}", "OK" },
        { U, "SET a = b + :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "SET a = b - :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "SET a = (b + :v)", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "SET a = (b) + (:v)", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "SET a = list_append(a, :v)", NULL, "{\":v\":{\"L\":[]}}", "OK" },
        { U, "SET a = list_append(if_not_exists(a, :v), :v)", NULL, "{\":v\":{\"L\":[]}}", "OK" },
        { U, "SET a = if_not_exists(a, :v) + :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "REMOVE a, b.c, d[1]", NULL, NULL, "OK" },
        { U, "ADD a :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "ADD a :v", NULL, "{\":v\":{\"SS\":[\"x\"]}}", "OK" },
        { U, "DELETE a :v", NULL, "{\":v\":{\"NS\":[\"1\"]}}", "OK" },
        { U, "DELETE a :v", NULL, "{\":v\":{\"BS\":[\"x\"]}}", "OK" },
        { U, "SET a = :v REMOVE b ADD c :w DELETE d :w", NULL,
          "{\":v\":{\"N\":\"1\"},\":w\":{\"SS\":[\"x\"]}}", "OK" },
        { U, "SET a.b = :v, a.c = :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "SET a[0] = :v, a[1] = :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "SET #and = :v", "#and=and", "{\":v\":{\"N\":\"1\"}}", "OK" },
        { U, "SET a = :v", NULL, "{\":v\":{\"N\":\"1\"}}", "OK" },
        { P, "a", NULL, NULL, "OK" },
        { P, "a, b.c, d[0], d[1]", NULL, NULL, "OK" },
        { P, "#n, #n2.x", "#n=status,#n2=size", NULL, "OK" },
        { P, "a.b, a.c", NULL, NULL, "OK" },
        { P, "a . b , c [ 2 ]", NULL, NULL, "OK" },
    };
    run_parse_cases(cs, sizeof cs / sizeof cs[0]);
}

static void
test_syntax_errors(void)
{
    static const perr_case cs[] = {
        { P, "!!!", NULL, NULL,
          "Invalid ProjectionExpression: Syntax error; token: \"!\", near: \"!!\"" },
        { P, "a b", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"b\", near: \"a b\"" },
        { P, "a,", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \",\"" },
        { P, "a.", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \".\"" },
        { P, "a[", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \"[\"" },
        { P, "a[x]", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"x\", near: \"[x]\"" },
        { P, "a[1", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \"1\"" },
        { P, ":v", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \":v\", near: \":v\"" },
        { P, "a = b", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"=\", near: \"a = b\"" },
        { P, "1a", NULL, NULL, "Invalid ProjectionExpression: Syntax error; token: \"1\", near: \"1a\"" },
        { P, "", NULL, NULL, "Invalid ProjectionExpression: The expression can not be empty;" },
        { P, "   ", NULL, NULL, "Invalid ProjectionExpression: The expression can not be empty;" },
        { U, "SET a = :v, b = :v,", NULL, VN,
          "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \",\"" },
        { U, "ADD  SET #c = :v", "#c=c", VN,
          "Invalid UpdateExpression: Syntax error; token: \"SET\", near: \"ADD  SET #c\"" },
        { U, "INVALID SYNTAX", NULL, NULL,
          "Invalid UpdateExpression: Syntax error; token: \"INVALID\", near: \"INVALID SYNTAX\"" },
        { U, "SET", NULL, NULL, "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \"SET\"" },
        { U, "SET a = ", NULL, NULL, "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \"= \"" },
        { U, "SET a :v", NULL, VN, "Invalid UpdateExpression: Syntax error; token: \":v\", near: \"a :v\"" },
        { U, "SET a = b + c + d", NULL, NULL,
          "Invalid UpdateExpression: Syntax error; token: \"+\", near: \"c + d\"" },
        { U, "ADD a b", NULL, NULL, "Invalid UpdateExpression: Syntax error; token: \"b\", near: \"a b\"" },
        { U, "REMOVE", NULL, NULL, "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \"REMOVE\"" },
        { U, "REMOVE a,", NULL, NULL, "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \",\"" },
        { U, "SET set = :v", NULL, VN, "Invalid UpdateExpression: Syntax error; token: \"set\", near: \"SET set =\"" },
        { U, "SET a = ((b))", NULL, NULL, "OK" },
        { U, "SET a = (((b)))", NULL, NULL, "Invalid UpdateExpression: Syntax error; token: \"(\", near: \"((b\"" },
        { U, "DELETE a", NULL, NULL, "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \"a\"" },
        { U, "", NULL, NULL, "Invalid UpdateExpression: The expression can not be empty;" },
        { C, "a", NULL, NULL, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"a\"" },
        { C, "a AND b = :v", NULL, V1,
          "Invalid ConditionExpression: Syntax error; token: \"AND\", near: \"a AND b\"" },
        { C, "a = :v AND", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\"" },
        { C, "a = :v OR b", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"b\"" },
        { C, "a = ", NULL, NULL, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"= \"" },
        { C, "a == :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"== :v\"" },
        { C, "a != :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"!\", near: \"a !=\"" },
        { C, "a = :v b", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"b\", near: \":v b\"" },
        { C, "a BETWEEN :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":v\"" },
        { C, "a BETWEEN :v OR :v", NULL, V1,
          "Invalid ConditionExpression: Syntax error; token: \"OR\", near: \":v OR :v\"" },
        { C, "a IN ()", NULL, NULL, "Invalid ConditionExpression: Syntax error; token: \")\", near: \"()\"" },
        { C, "a IN :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \":v\", near: \"IN :v\"" },
        { C, "attribute_type()", NULL, NULL,
          "Invalid ConditionExpression: Syntax error; token: \")\", near: \"()\"" },
        { C, "(a = :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":v\"" },
        { C, "a = :v)", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \")\", near: \":v)\"" },
        { C, "NOT", NULL, NULL, "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"NOT\"" },
        { C, "(a = :v) = :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"=\", near: \") = :v\"" },
        { C, "a = :v = :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"=\", near: \":v = :v\"" },
        { C, "and = :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"and\", near: \"and =\"" },
        { C, "a.in = :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"in\", near: \".in =\"" },
        { C, "a = 5", NULL, NULL, "Invalid ConditionExpression: Syntax error; token: \"5\", near: \"= 5\"" },
        { C, "a + :v = :v", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"+\", near: \"a + :v\"" },
        { C, "a = :v AND AND b = :v", NULL, V1,
          "Invalid ConditionExpression: Syntax error; token: \"AND\", near: \"AND AND b\"" },
        { C, "a = 'x'", NULL, NULL, "Invalid ConditionExpression: Syntax error; token: \"'\", near: \"= 'x\"" },
        { C, "", NULL, NULL, "Invalid ConditionExpression: The expression can not be empty;" },
        { F, "a", NULL, NULL, "Invalid FilterExpression: Syntax error; token: \"<EOF>\", near: \"a\"" },
        { K, "pk = ", NULL, NULL, "Invalid KeyConditionExpression: Syntax error; token: \"<EOF>\", near: \"= \"" },
        { F, "", NULL, NULL, "Invalid FilterExpression: The expression can not be empty;" },
        { K, "", NULL, NULL, "Invalid KeyConditionExpression: The expression can not be empty;" },
        { C, "a = :v é", NULL, V1, "Invalid ConditionExpression: Syntax error; token: \"é\", near: \":v é\"" },
    };
    run_parse_cases(cs, sizeof cs / sizeof cs[0]);
}

static void
test_semantic_errors(void)
{
    static const perr_case cs[] = {
        /* reserved words */
        { C, "status = :v", NULL, V1,
          "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status" },
        { C, "a.Size = :v", NULL, V1,
          "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Size" },
        { U, "SET a.name = :v", NULL, VN,
          "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name" },
        { U, "SET and = :v", NULL, VN,
          "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: and" },
        { P, "a, date", NULL, NULL,
          "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: date" },
        { P, "zone", NULL, NULL,
          "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: zone" },
        { P, "abort", NULL, NULL,
          "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: abort" },
        { F, "#s = :v AND count > :v", "#s=status", V1,
          "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: count" },
        /* placeholders */
        { C, "#x = :v", NULL, V1,
          "Invalid ConditionExpression: An expression attribute name used in the document path is "
          "not defined; attribute name: #x" },
        { C, "a = :x", NULL, NULL,
          "Invalid ConditionExpression: An expression attribute value used in expression is not "
          "defined; attribute value: :x" },
        { C, "a = :x", NULL, V1,
          "Invalid ConditionExpression: An expression attribute value used in expression is not "
          "defined; attribute value: :x" },
        /* more than 8 placeholders: found through the sorted index, not a scan */
        { C, "#a9 = :v0 AND #a9 = :v", "#a0=x0,#a1=x1,#a2=x2,#a3=x3,#a4=x4,#a5=x5,#a6=x6,#a7=x7,#a8=x8,#a9=x9", "{\":v0\":{\"N\":\"0\"},\":v1\":{\"N\":\"1\"},\":v2\":{\"N\":\"2\"},\":v3\":{\"N\":\"3\"},\":v4\":{\"N\":\"4\"},\":v5\":{\"N\":\"5\"},\":v6\":{\"N\":\"6\"},\":v7\":{\"N\":\"7\"},\":v8\":{\"N\":\"8\"},\":v9\":{\"N\":\"9\"}}",
          "Invalid ConditionExpression: An expression attribute value used in expression is not "
          "defined; attribute value: :v" },
        { C, "#a = :v9", "#a0=x0,#a1=x1,#a2=x2,#a3=x3,#a4=x4,#a5=x5,#a6=x6,#a7=x7,#a8=x8,#a9=x9", "{\":v0\":{\"N\":\"0\"},\":v1\":{\"N\":\"1\"},\":v2\":{\"N\":\"2\"},\":v3\":{\"N\":\"3\"},\":v4\":{\"N\":\"4\"},\":v5\":{\"N\":\"5\"},\":v6\":{\"N\":\"6\"},\":v7\":{\"N\":\"7\"},\":v8\":{\"N\":\"8\"},\":v9\":{\"N\":\"9\"}}",
          "Invalid ConditionExpression: An expression attribute name used in the document path is "
          "not defined; attribute name: #a" },
        { U, "SET #x = :v", NULL, VN,
          "Invalid UpdateExpression: An expression attribute name used in the document path is "
          "not defined; attribute name: #x" },
        { U, "SET a = :x", NULL, VN,
          "Invalid UpdateExpression: An expression attribute value used in expression is not "
          "defined; attribute value: :x" },
        { P, "#x", NULL, NULL,
          "Invalid ProjectionExpression: An expression attribute name used in the document path "
          "is not defined; attribute name: #x" },
        { C, "a = :v", NULL, "{\":v\":{\"S\":\"x\"},\":w\":{\"S\":\"y\"}}",
          "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}" },
        { C, "a = :v", "#n=a,#m=b", V1,
          "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n, #m}" },
        { C, "#n = :w", "#n=a", "{\":v\":{\"S\":\"x\"},\":w\":{\"S\":\"y\"},\":z\":{\"S\":\"y\"}}",
          "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v, :z}" },
        { C, "a = :v", "", V1, "ExpressionAttributeNames must not be empty" },
        { C, "a = :v", NULL, "{}", "ExpressionAttributeValues must not be empty" },
        { C, "a = :v", "n=a", V1, "ExpressionAttributeNames contains invalid key: Syntax error; key: \"n\"" },
        { C, "a = :v", "#=a", V1, "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#\"" },
        { C, "a = :v", "#a-b=a", V1,
          "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#a-b\"" },
        { C, "a = :v", NULL, "{\"v\":{\"S\":\"x\"}}",
          "ExpressionAttributeValues contains invalid key: Syntax error; key: \"v\"" },
        /* functions */
        { C, "foo(a)", NULL, NULL, "Invalid ConditionExpression: Invalid function name; function: foo" },
        { C, "Size(a) = :v", NULL, VN, "Invalid ConditionExpression: Invalid function name; function: Size" },
        { C, "if_not_exists(a, :v)", NULL, VN,
          "Invalid ConditionExpression: Invalid function name; function: if_not_exists" },
        { U, "SET a = size(b)", NULL, NULL, "Invalid UpdateExpression: Invalid function name; function: size" },
        { U, "SET a = foo(b, :v)", NULL, VN, "Invalid UpdateExpression: Invalid function name; function: foo" },
        { C, "attribute_exists(a, b)", NULL, NULL,
          "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
          "operator or function: attribute_exists, number of operands: 2" },
        { C, "contains(a)", NULL, NULL,
          "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
          "operator or function: contains, number of operands: 1" },
        { C, "begins_with(a, :v, :v)", NULL, V1,
          "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
          "operator or function: begins_with, number of operands: 3" },
        { C, "size(a, b) = :v", NULL, VN,
          "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
          "operator or function: size, number of operands: 2" },
        { U, "SET a = list_append(a)", NULL, NULL,
          "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
          "operator or function: list_append, number of operands: 1" },
        { U, "SET a = if_not_exists(a, b, c)", NULL, NULL,
          "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
          "operator or function: if_not_exists, number of operands: 3" },
        { C, "attribute_exists(:v)", NULL, V1,
          "Invalid ConditionExpression: Operator or function requires a document path; operator "
          "or function: attribute_exists" },
        { C, "attribute_not_exists(size(a))", NULL, NULL,
          "Invalid ConditionExpression: Operator or function requires a document path; operator "
          "or function: attribute_not_exists" },
        { U, "SET a = if_not_exists(:v, a)", NULL, VN,
          "Invalid UpdateExpression: Operator or function requires a document path; operator or "
          "function: if_not_exists" },
        { C, "begins_with(a, :v)", NULL, VN,
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: begins_with, operand type: N" },
        { C, "begins_with(:v, a)", NULL, "{\":v\":{\"BOOL\":true}}",
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: begins_with, operand type: BOOL" },
        { C, "begins_with(a, size(b))", NULL, NULL,
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: begins_with, operand type: N" },
        { C, "attribute_type(a, b)", NULL, NULL,
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}" },
        { C, "attribute_type(a, :v)", NULL, VN,
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: attribute_type, operand type: N" },
        { C, "attribute_type(a, :v)", NULL, "{\":v\":{\"S\":\"STRING\"}}",
          "Invalid ConditionExpression: Invalid attribute type name found; type: STRING, valid "
          "types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}" },
        { C, "size(:v) = :v", NULL, VN,
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: size, operand type: N" },
        { C, "size(:v) = :w", NULL, "{\":v\":{\"NULL\":true},\":w\":{\"N\":\"1\"}}",
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: size, operand type: NULL" },
        { C, "size(:v) = :w", NULL, "{\":v\":{\"BOOL\":false},\":w\":{\"N\":\"1\"}}",
          "Invalid ConditionExpression: Incorrect operand type for operator or function; operator "
          "or function: size, operand type: BOOL" },
        { U, "SET a = list_append(a, :v)", NULL, VN,
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or "
          "function: list_append, operand type: N" },
        { U, "SET a = list_append(:v, a)", NULL, "{\":v\":{\"M\":{}}}",
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or "
          "function: list_append, operand type: M" },
        { U, "SET a = b + :v", NULL, V1,
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or "
          "function: +, operand type: S" },
        { U, "SET a = :v - b", NULL, "{\":v\":{\"SS\":[\"a\"]}}",
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or "
          "function: -, operand type: SS" },
        /* misused functions */
        { C, "size(a)", NULL, NULL,
          "Invalid ConditionExpression: The function is not allowed to be used this way in an "
          "expression; function: size" },
        { C, "a = :v AND size(a)", NULL, V1,
          "Invalid ConditionExpression: The function is not allowed to be used this way in an "
          "expression; function: size" },
        { C, "NOT size(a)", NULL, NULL,
          "Invalid ConditionExpression: The function is not allowed to be used this way in an "
          "expression; function: size" },
        { C, "attribute_exists(a) = :v", NULL, V1,
          "Invalid ConditionExpression: The function is not allowed to be used this way in an "
          "expression; function: attribute_exists" },
        { C, "size(contains(a, :v)) = :v", NULL, V1,
          "Invalid ConditionExpression: The function is not allowed to be used this way in an "
          "expression; function: contains" },
        { C, "a IN (:v, begins_with(a, :v))", NULL, V1,
          "Invalid ConditionExpression: The function is not allowed to be used this way in an "
          "expression; function: begins_with" },
        { C, "a BETWEEN attribute_type(a, :v) AND :v", NULL, "{\":v\":{\"S\":\"S\"}}",
          "Invalid ConditionExpression: The function is not allowed to be used this way in an "
          "expression; function: attribute_type" },
        /* parentheses */
        { C, "((a = :v))", NULL, V1, "Invalid ConditionExpression: The expression has redundant parentheses;" },
        { C, "((a)) = :v", NULL, V1, "Invalid ConditionExpression: The expression has redundant parentheses;" },
        { C, "a = ((:v))", NULL, V1, "Invalid ConditionExpression: The expression has redundant parentheses;" },
        { C, "b = :v AND ((a = :v))", NULL, V1,
          "Invalid ConditionExpression: The expression has redundant parentheses;" },
        { C, "begins_with(((a)), :v)", NULL, V1,
          "Invalid ConditionExpression: The expression has redundant parentheses;" },
        { C, "((a = :v)) AND foo(a)", NULL, V1,
          "Invalid ConditionExpression: The expression has redundant parentheses;" },
        /* distinct operands */
        { C, "a = a", NULL, NULL,
          "Invalid ConditionExpression: The first operand must be distinct from the remaining "
          "operands for this operator or function; operator: =, first operand: [a]" },
        { C, "a.b[1] <> #a.b[1]", "#a=a", NULL,
          "Invalid ConditionExpression: The first operand must be distinct from the remaining "
          "operands for this operator or function; operator: <>, first operand: [a, b, [1]]" },
        { C, "begins_with(a, a)", NULL, NULL,
          "Invalid ConditionExpression: The first operand must be distinct from the remaining "
          "operands for this operator or function; operator: begins_with, first operand: [a]" },
        { C, "contains(x.y, x.y)", NULL, NULL,
          "Invalid ConditionExpression: The first operand must be distinct from the remaining "
          "operands for this operator or function; operator: contains, first operand: [x, y]" },
        /* BETWEEN bounds */
        { C, "a BETWEEN :v AND :w", NULL, "{\":v\":{\"N\":\"5\"},\":w\":{\"N\":\"1\"}}",
          "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
          "than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound "
          "operand: AttributeValue: {N:1}" },
        { C, "a BETWEEN :v AND :w", NULL, "{\":v\":{\"S\":\"b\"},\":w\":{\"S\":\"a\"}}",
          "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
          "than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound "
          "operand: AttributeValue: {S:a}" },
        { C, "a BETWEEN :v AND :w", NULL, "{\":v\":{\"B\":\"b\"},\":w\":{\"B\":\"a\"}}",
          "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
          "than or equal to lower bound; lower bound operand: AttributeValue: {B:Yg==}, upper "
          "bound operand: AttributeValue: {B:YQ==}" },
        { C, "a BETWEEN :v AND :w", NULL, "{\":v\":{\"N\":\"1\"},\":w\":{\"S\":\"a\"}}",
          "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower "
          "and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: "
          "AttributeValue: {S:a}" },
        { C, "a BETWEEN :v AND :w", NULL, "{\":v\":{\"N\":\"10\"},\":w\":{\"N\":\"9.5\"}}",
          "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
          "than or equal to lower bound; lower bound operand: AttributeValue: {N:10}, upper bound "
          "operand: AttributeValue: {N:9.5}" },
        /* update-only checks */
        { U, "SET a = :v SET b = :v", NULL, VN,
          "Invalid UpdateExpression: The \"SET\" section can only be used once in an update "
          "expression;" },
        { U, "REMOVE a REMOVE b", NULL, NULL,
          "Invalid UpdateExpression: The \"REMOVE\" section can only be used once in an update "
          "expression;" },
        { U, "ADD a :v ADD b :v", NULL, VN,
          "Invalid UpdateExpression: The \"ADD\" section can only be used once in an update "
          "expression;" },
        { U, "delete a :v DELETE b :v", NULL, "{\":v\":{\"SS\":[\"a\"]}}",
          "Invalid UpdateExpression: The \"DELETE\" section can only be used once in an update "
          "expression;" },
        { U, "SET a.b = :v, a = :v", NULL, VN,
          "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
          "rewrite one of these paths; path one: [a, b], path two: [a]" },
        { U, "SET a = :v REMOVE a", NULL, VN,
          "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
          "rewrite one of these paths; path one: [a], path two: [a]" },
        { U, "SET l[1] = :v REMOVE l[1].x", NULL, VN,
          "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
          "rewrite one of these paths; path one: [l, [1]], path two: [l, [1], x]" },
        { U, "SET #a = :v ADD a :v", "#a=a", VN,
          "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
          "rewrite one of these paths; path one: [a], path two: [a]" },
        { U, "SET a.b = :v, a[0] = :v", NULL, VN,
          "Invalid UpdateExpression: Two document paths conflict with each other; must remove or "
          "rewrite one of these paths; path one: [a, b], path two: [a, [0]]" },
        { U, "ADD a :v", NULL, V1,
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "ADD, operand type: STRING" },
        { U, "ADD a :v", NULL, "{\":v\":{\"B\":\"x\"}}",
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "ADD, operand type: BINARY" },
        { U, "ADD a :v", NULL, "{\":v\":{\"L\":[]}}",
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "ADD, operand type: LIST" },
        { U, "ADD a :v", NULL, "{\":v\":{\"M\":{}}}",
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "ADD, operand type: MAP" },
        { U, "ADD a :v", NULL, "{\":v\":{\"BOOL\":true}}",
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "ADD, operand type: BOOLEAN" },
        { U, "ADD a :v", NULL, "{\":v\":{\"NULL\":true}}",
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "ADD, operand type: NULL" },
        { U, "DELETE a :v", NULL, VN,
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "DELETE, operand type: NUMBER" },
        { U, "DELETE a :v", NULL, V1,
          "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
          "DELETE, operand type: STRING" },
        { P, "a, a", NULL, NULL,
          "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
          "or rewrite one of these paths; path one: [a], path two: [a]" },
        { P, "a.b.c, a.b", NULL, NULL,
          "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
          "or rewrite one of these paths; path one: [a, b, c], path two: [a, b]" },
        { P, "a[0], a.b", NULL, NULL,
          "Invalid ProjectionExpression: Two document paths conflict with each other; must remove "
          "or rewrite one of these paths; path one: [a, [0]], path two: [a, b]" },
        /* priorities between categories */
        { U, "SET status = :x", NULL, VN,
          "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status" },
        { C, "foo(status)", NULL, NULL, "Invalid ConditionExpression: Invalid function name; function: foo" },
        { C, "((status = :v))", NULL, V1, "Invalid ConditionExpression: The expression has redundant parentheses;" },
        { C, "status = :x", NULL, NULL,
          "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status" },
        { C, "#x = :x", NULL, NULL,
          "Invalid ConditionExpression: An expression attribute name used in the document path is "
          "not defined; attribute name: #x" },
        { C, "a = :x AND #x = :v", NULL, V1,
          "Invalid ConditionExpression: An expression attribute value used in expression is not "
          "defined; attribute value: :x" },
        { U, "SET a = :x, #x = :v", NULL, VN,
          "Invalid UpdateExpression: An expression attribute name used in the document path is "
          "not defined; attribute name: #x" },
    };
    run_parse_cases(cs, sizeof cs / sizeof cs[0]);
}

static void
test_limits(void)
{
    char *big = dyn_arena_alloc(&A, 8192), *w;
    const char *got;

    /* 4 KB */
    memset(big, ' ', 4097);
    memcpy(big, "a = :v", 6);
    big[4097] = '\0';
    got = parse_msg(C, big, NULL, V1, NULL);
    DT_EQ_STR(got, "Invalid ConditionExpression: Expression size has exceeded the maximum allowed "
                   "size; expression size: 4097");
    big[4096] = '\0';
    DT_EQ_STR(parse_msg(C, big, NULL, V1, NULL), "OK");

    /* 300 operators fit, 301 do not: a = :v repeated with OR */
    w = big;
    for (int i = 0; i < 150; i++)
        w += sprintf(w, "%sa = :v", i ? " OR " : "");   /* 150 '=' + 149 OR = 299 */
    DT_EQ_STR(parse_msg(C, big, NULL, V1, NULL), "OK");
    w += sprintf(w, " OR b = :v");   /* 301 */
    DT_EQ_STR(parse_msg(C, big, NULL, V1, NULL),
              "Invalid ConditionExpression: The expression contains too many operators; operator "
              "count: 301");

    /* IN with 100 operands fits, 101 does not */
    w = big;
    w += sprintf(w, "a IN (");
    for (int i = 0; i < 100; i++)
        w += sprintf(w, "%s:v", i ? "," : "");
    sprintf(w, ")");
    DT_EQ_STR(parse_msg(F, big, NULL, V1, NULL), "OK");
    sprintf(w, ",:v)");
    DT_EQ_STR(parse_msg(F, big, NULL, V1, NULL),
              "Invalid FilterExpression: The IN operator is provided with too many operands; "
              "number of operands: 101");

    /* placeholder keys of 255 bytes are fine, 256 are not */
    char key[300];
    key[0] = '#';
    memset(key + 1, 'k', 254);
    key[255] = '\0';
    char *names = dyn_arena_printf(&A, "%s=a", key), *expr = dyn_arena_printf(&A, "%s = :v", key);
    DT_EQ_STR(parse_msg(C, expr, names, V1, NULL), "OK");
    key[255] = 'k';
    key[256] = '\0';
    names = dyn_arena_printf(&A, "%s=a", key);
    got = parse_msg(C, "a = :v", names, V1, NULL);
    DT_TRUE(got != NULL && strncmp(got, "ExpressionAttributeNames contains invalid key", 45) == 0);
}

static void
test_reserved_words(void)
{
    static const char *const yes[] = { "ABORT", "abort", "Status", "ZONE", "size", "NAME",
                                       "data", "timestamp", "user", "year", "values", "ttl" };
    static const char *const no[] = { "ABORTS", "", "a", "zoned", "name1", "foo", "sizes",
                                      "ZONEZ", "aaaaaaaaaaaaaaaaaaaaaaaaaa" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        DT_TRUE(dyn_expr_is_reserved(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        DT_TRUE(!dyn_expr_is_reserved(no[i], strlen(no[i])));
}

/* ---- evaluation ---- */

typedef struct {
    const char *expr, *values, *item;
    int want;   /* 1 true, 0 false */
} eval_case;

static const char *const ITEM =
    "{\"pk\":{\"S\":\"p1\"},\"s\":{\"S\":\"hello\"},\"n\":{\"N\":\"10\"},\"f\":{\"N\":\"-2.5\"},"
    "\"b\":{\"B\":\"bytes\"},\"t\":{\"BOOL\":true},\"z\":{\"NULL\":true},"
    "\"ss\":{\"SS\":[\"a\",\"b\"]},\"ns\":{\"NS\":[\"1\",\"2.0\"]},\"bs\":{\"BS\":[\"x\",\"y\"]},"
    "\"l\":{\"L\":[{\"S\":\"e0\"},{\"N\":\"1\"},{\"M\":{\"k\":{\"S\":\"deep\"}}}]},"
    "\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"L\":[{\"S\":\"q\"}]}}},\"e\":{\"S\":\"\"}}";

static void
run_eval_cases(const eval_case *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dyn_expr *e = NULL;
        const char *got = parse_msg(F, cs[i].expr, NULL, cs[i].values, &e);
        bool res = false;
        if (strcmp(got, "OK") != 0) {
            DT_FAIL_("case %zu [%s]: parse: %s", i, cs[i].expr, got);
            continue;
        }
        if (dyn_expr_eval_condition(e, J(cs[i].item ? cs[i].item : ITEM), &res) != DYN_OK) {
            DT_FAIL_("case %zu [%s]: eval error", i, cs[i].expr);
            continue;
        }
        if ((int)res != cs[i].want)
            DT_FAIL_("case %zu [%s]: got %d, want %d", i, cs[i].expr, res, cs[i].want);
    }
}

#define VS(x) "{\":v\":{\"S\":\"" x "\"}}"
#define VNUM(x) "{\":v\":{\"N\":\"" x "\"}}"
#define VB(x) "{\":v\":{\"B\":\"" x "\"}}"
#define V2N(x, y) "{\":v\":{\"N\":\"" x "\"},\":w\":{\"N\":\"" y "\"}}"
#define V2S(x, y) "{\":v\":{\"S\":\"" x "\"},\":w\":{\"S\":\"" y "\"}}"

static void
test_eval_comparisons(void)
{
    static const eval_case cs[] = {
        { "s = :v", VS("hello"), NULL, 1 },
        { "s = :v", VS("hell"), NULL, 0 },
        { "s <> :v", VS("hell"), NULL, 1 },
        { "s <> :v", VS("hello"), NULL, 0 },
        { "s < :v", VS("hellp"), NULL, 1 },
        { "s < :v", VS("hello"), NULL, 0 },
        { "s <= :v", VS("hello"), NULL, 1 },
        { "s > :v", VS("hell"), NULL, 1 },
        { "s > :v", VS("i"), NULL, 0 },
        { "s >= :v", VS("hello"), NULL, 1 },
        { "s >= :v", VS("hellp"), NULL, 0 },
        { "s < :v", VS("\xc3\xa9"), NULL, 1 },   /* UTF-8 byte order */
        { "n = :v", VNUM("10"), NULL, 1 },
        { "n = :v", VNUM("1E1"), NULL, 1 },
        { "n = :v", VNUM("10.000"), NULL, 1 },
        { "n = :v", VNUM("11"), NULL, 0 },
        { "n < :v", VNUM("9.99"), NULL, 0 },
        { "n < :v", VNUM("100"), NULL, 1 },   /* numeric, not text, order */
        { "n > :v", VNUM("9"), NULL, 1 },
        { "n >= :v", VNUM("10"), NULL, 1 },
        { "n <= :v", VNUM("-1"), NULL, 0 },
        { "f < :v", VNUM("-2"), NULL, 1 },
        { "f > :v", VNUM("-3"), NULL, 1 },
        { "f = :v", VNUM("-2.50"), NULL, 1 },
        { "n = :v", VS("10"), NULL, 0 },   /* type mismatch */
        { "n <> :v", VS("10"), NULL, 1 },
        { "n < :v", VS("99"), NULL, 0 },
        { "n > :v", VS("0"), NULL, 0 },
        { "b = :v", VB("bytes"), NULL, 1 },
        { "b < :v", VB("bytez"), NULL, 1 },
        { "b > :v", VB("byte"), NULL, 1 },
        { "b < :v", VB("byte"), NULL, 0 },
        { "t = :v", "{\":v\":{\"BOOL\":true}}", NULL, 1 },
        { "t = :v", "{\":v\":{\"BOOL\":false}}", NULL, 0 },
        { "t < :v", "{\":v\":{\"BOOL\":true}}", NULL, 0 },
        { "z = :v", "{\":v\":{\"NULL\":true}}", NULL, 1 },
        { "ss = :v", "{\":v\":{\"SS\":[\"b\",\"a\"]}}", NULL, 1 },
        { "ss = :v", "{\":v\":{\"SS\":[\"a\"]}}", NULL, 0 },
        { "ns = :v", "{\":v\":{\"NS\":[\"2\",\"1\"]}}", NULL, 1 },
        { "bs = :v", "{\":v\":{\"BS\":[\"y\",\"x\"]}}", NULL, 1 },
        { "l = :v", "{\":v\":{\"L\":[{\"S\":\"e0\"},{\"N\":\"1.0\"},{\"M\":{\"k\":{\"S\":\"deep\"}}}]}}",
          NULL, 1 },
        { "l = :v", "{\":v\":{\"L\":[{\"N\":\"1\"},{\"S\":\"e0\"},{\"M\":{\"k\":{\"S\":\"deep\"}}}]}}",
          NULL, 0 },
        { "m = :v", "{\":v\":{\"M\":{\"y\":{\"L\":[{\"S\":\"q\"}]},\"x\":{\"N\":\"1\"}}}}", NULL, 1 },
        { "m = :v", "{\":v\":{\"M\":{\"x\":{\"N\":\"1\"}}}}", NULL, 0 },
        { "e = :v", VS(""), NULL, 1 },
        /* missing attributes */
        { "nope = :v", VS("x"), NULL, 0 },
        { "nope <> :v", VS("x"), NULL, 1 },
        { "nope < :v", VS("x"), NULL, 0 },
        { "nope >= :v", VS("x"), NULL, 0 },
        { "nope = oth", NULL, NULL, 0 },
        { "m.nope = :v", VS("x"), NULL, 0 },
        { "s.x = :v", VS("x"), NULL, 0 },
        { "l[9] = :v", VS("x"), NULL, 0 },
        { "s = :v", VS("x"), "{}", 0 },
        { "s <> :v", VS("x"), "{}", 1 },
        /* nested paths */
        { "m.x = :v", VNUM("1"), NULL, 1 },
        { "m.y[0] = :v", VS("q"), NULL, 1 },
        { "l[0] = :v", VS("e0"), NULL, 1 },
        { "l[1] = :v", VNUM("1"), NULL, 1 },
        { "l[2].k = :v", VS("deep"), NULL, 1 },
        { "l.k = :v", VS("deep"), NULL, 0 },
        { "m[0] = :v", VNUM("1"), NULL, 0 },
        /* path vs path */
        { "n > f", NULL, NULL, 1 },
        { "n < f", NULL, NULL, 0 },
        { "m.x = l[1]", NULL, NULL, 1 },
        /* BETWEEN */
        { "n BETWEEN :v AND :w", V2N("1", "10"), NULL, 1 },
        { "n BETWEEN :v AND :w", V2N("10", "10"), NULL, 1 },
        { "n BETWEEN :v AND :w", V2N("11", "20"), NULL, 0 },
        { "n BETWEEN :v AND :w", V2N("-5", "9.999"), NULL, 0 },
        { "f BETWEEN :v AND :w", V2N("-3", "-2"), NULL, 1 },
        { "s BETWEEN :v AND :w", V2S("a", "z"), NULL, 1 },
        { "s BETWEEN :v AND :w", V2S("i", "z"), NULL, 0 },
        { "n BETWEEN :v AND :w", V2S("a", "z"), NULL, 0 },
        { "nope BETWEEN :v AND :w", V2N("1", "2"), NULL, 0 },
        { "n BETWEEN f AND :w", "{\":w\":{\"N\":\"10\"}}", NULL, 1 },
        /* IN */
        { "s IN (:v, :w)", V2S("x", "hello"), NULL, 1 },
        { "s IN (:v, :w)", V2S("x", "y"), NULL, 0 },
        { "n IN (:v, :w)", V2N("3", "1e1"), NULL, 1 },
        { "n IN (:v)", VS("10"), NULL, 0 },
        { "nope IN (:v)", VS("10"), NULL, 0 },
        { "ss IN (:v)", "{\":v\":{\"SS\":[\"a\",\"b\"]}}", NULL, 1 },
        { "n IN (f, m.x, :v)", VNUM("10"), NULL, 1 },
        /* logic */
        { "s = :v AND n = :w", "{\":v\":{\"S\":\"hello\"},\":w\":{\"N\":\"10\"}}", NULL, 1 },
        { "s = :v AND n = :w", "{\":v\":{\"S\":\"hello\"},\":w\":{\"N\":\"11\"}}", NULL, 0 },
        { "s = :v OR n = :w", "{\":v\":{\"S\":\"nope\"},\":w\":{\"N\":\"10\"}}", NULL, 1 },
        { "s = :v OR n = :w", "{\":v\":{\"S\":\"nope\"},\":w\":{\"N\":\"11\"}}", NULL, 0 },
        { "NOT s = :v", VS("hello"), NULL, 0 },
        { "NOT s = :v", VS("x"), NULL, 1 },
        { "NOT nope = :v", VS("x"), NULL, 1 },
        /* precedence: NOT > AND > OR */
        { "s = :v OR s = :v AND n = :w", "{\":v\":{\"S\":\"hello\"},\":w\":{\"N\":\"0\"}}", NULL, 1 },
        { "(s = :v OR s = :v) AND n = :w", "{\":v\":{\"S\":\"hello\"},\":w\":{\"N\":\"0\"}}", NULL, 0 },
        { "NOT s = :v AND n = :w", "{\":v\":{\"S\":\"x\"},\":w\":{\"N\":\"10\"}}", NULL, 1 },
        { "NOT (s = :v AND n = :w)", "{\":v\":{\"S\":\"hello\"},\":w\":{\"N\":\"10\"}}", NULL, 0 },
        { "NOT s = :v OR n = :w", "{\":v\":{\"S\":\"hello\"},\":w\":{\"N\":\"0\"}}", NULL, 0 },
        { "s = :v AND n = :w OR t = :x",
          "{\":v\":{\"S\":\"x\"},\":w\":{\"N\":\"10\"},\":x\":{\"BOOL\":true}}", NULL, 1 },
        { "s = :v AND (n = :w OR t = :x)",
          "{\":v\":{\"S\":\"x\"},\":w\":{\"N\":\"10\"},\":x\":{\"BOOL\":true}}", NULL, 0 },
        { "a = :v or b = :v and c = :v", VS("1"),
          "{\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"0\"},\"c\":{\"S\":\"0\"}}", 1 },
        { "NOT NOT s = :v", VS("hello"), NULL, 1 },
    };
    run_eval_cases(cs, sizeof cs / sizeof cs[0]);
}

static void
test_eval_functions(void)
{
    static const eval_case cs[] = {
        { "attribute_exists(s)", NULL, NULL, 1 },
        { "attribute_exists(nope)", NULL, NULL, 0 },
        { "attribute_exists(m.x)", NULL, NULL, 1 },
        { "attribute_exists(m.nope)", NULL, NULL, 0 },
        { "attribute_exists(l[2].k)", NULL, NULL, 1 },
        { "attribute_exists(l[3])", NULL, NULL, 0 },
        { "attribute_exists(z)", NULL, NULL, 1 },
        { "attribute_not_exists(s)", NULL, NULL, 0 },
        { "attribute_not_exists(nope)", NULL, NULL, 1 },
        { "attribute_not_exists(l[7])", NULL, NULL, 1 },
        { "attribute_not_exists(s)", NULL, "{}", 1 },
        { "attribute_type(s, :v)", VS("S"), NULL, 1 },
        { "attribute_type(s, :v)", VS("N"), NULL, 0 },
        { "attribute_type(n, :v)", VS("N"), NULL, 1 },
        { "attribute_type(b, :v)", VS("B"), NULL, 1 },
        { "attribute_type(t, :v)", VS("BOOL"), NULL, 1 },
        { "attribute_type(z, :v)", VS("NULL"), NULL, 1 },
        { "attribute_type(ss, :v)", VS("SS"), NULL, 1 },
        { "attribute_type(ns, :v)", VS("NS"), NULL, 1 },
        { "attribute_type(bs, :v)", VS("BS"), NULL, 1 },
        { "attribute_type(l, :v)", VS("L"), NULL, 1 },
        { "attribute_type(m, :v)", VS("M"), NULL, 1 },
        { "attribute_type(m, :v)", VS("L"), NULL, 0 },
        { "attribute_type(nope, :v)", VS("S"), NULL, 0 },
        { "attribute_type(l[2], :v)", VS("M"), NULL, 1 },
        { "begins_with(s, :v)", VS("he"), NULL, 1 },
        { "begins_with(s, :v)", VS("hello"), NULL, 1 },
        { "begins_with(s, :v)", VS("hello!"), NULL, 0 },
        { "begins_with(s, :v)", VS("e"), NULL, 0 },
        { "begins_with(s, :v)", VS(""), NULL, 1 },
        { "begins_with(b, :v)", VB("by"), NULL, 1 },
        { "begins_with(b, :v)", VS("by"), NULL, 0 },
        { "begins_with(n, :v)", VS("1"), NULL, 0 },
        { "begins_with(nope, :v)", VS("1"), NULL, 0 },
        { "begins_with(l[0], :v)", VS("e"), NULL, 1 },
        { "begins_with(s, m.nope)", NULL, NULL, 0 },
        { "contains(s, :v)", VS("ell"), NULL, 1 },
        { "contains(s, :v)", VS("hello"), NULL, 1 },
        { "contains(s, :v)", VS("olleh"), NULL, 0 },
        { "contains(s, :v)", VNUM("1"), NULL, 0 },
        { "contains(b, :v)", VB("yte"), NULL, 1 },
        { "contains(b, :v)", VB("q"), NULL, 0 },
        { "contains(ss, :v)", VS("a"), NULL, 1 },
        { "contains(ss, :v)", VS("c"), NULL, 0 },
        { "contains(ss, :v)", VNUM("1"), NULL, 0 },
        { "contains(ns, :v)", VNUM("2"), NULL, 1 },
        { "contains(ns, :v)", VNUM("1.0"), NULL, 1 },
        { "contains(ns, :v)", VNUM("3"), NULL, 0 },
        { "contains(ns, :v)", VS("1"), NULL, 0 },
        { "contains(bs, :v)", VB("y"), NULL, 1 },
        { "contains(bs, :v)", VB("z"), NULL, 0 },
        { "contains(l, :v)", VS("e0"), NULL, 1 },
        { "contains(l, :v)", VNUM("1.00"), NULL, 1 },
        { "contains(l, :v)", "{\":v\":{\"M\":{\"k\":{\"S\":\"deep\"}}}}", NULL, 1 },
        { "contains(l, :v)", VS("e"), NULL, 0 },
        { "contains(m, :v)", VS("x"), NULL, 0 },
        { "contains(n, :v)", VNUM("1"), NULL, 0 },
        { "contains(nope, :v)", VS("x"), NULL, 0 },
        { "contains(ss, s)", NULL, "{\"ss\":{\"SS\":[\"q\",\"r\"]},\"s\":{\"S\":\"r\"}}", 1 },
        { "size(s) = :v", VNUM("5"), NULL, 1 },
        { "size(e) = :v", VNUM("0"), NULL, 1 },
        { "size(b) = :v", VNUM("5"), NULL, 1 },
        { "size(ss) = :v", VNUM("2"), NULL, 1 },
        { "size(ns) = :v", VNUM("2"), NULL, 1 },
        { "size(bs) = :v", VNUM("2"), NULL, 1 },
        { "size(l) = :v", VNUM("3"), NULL, 1 },
        { "size(m) = :v", VNUM("2"), NULL, 1 },
        { "size(l[2]) = :v", VNUM("1"), NULL, 1 },
        { "size(s) > :v", VNUM("4"), NULL, 1 },
        { "size(s) < :v", VNUM("4"), NULL, 0 },
        { "size(n) = :v", VNUM("2"), NULL, 0 },
        { "size(n) <> :v", VNUM("2"), NULL, 1 },
        { "size(t) >= :v", VNUM("0"), NULL, 0 },
        { "size(nope) >= :v", VNUM("0"), NULL, 0 },
        { "size(s) BETWEEN :v AND :w", V2N("1", "5"), NULL, 1 },
        { "size(s) IN (:v, :w)", V2N("1", "5"), NULL, 1 },
        { "size(l) > size(m)", NULL, NULL, 1 },
        { "size(:v) = :w", "{\":v\":{\"S\":\"abc\"},\":w\":{\"N\":\"3\"}}", NULL, 1 },
        { "size(s) = :v", VS("5"), NULL, 0 },
        { "attribute_exists(s) AND NOT attribute_exists(nope)", NULL, NULL, 1 },
        { "attribute_not_exists(pk) OR begins_with(s, :v)", VS("h"), NULL, 1 },
    };
    run_eval_cases(cs, sizeof cs / sizeof cs[0]);
}

static void
test_eval_no_item(void)
{
    dyn_expr *e = NULL;
    bool res = true;

    DT_EQ_STR(parse_msg(C, "attribute_not_exists(pk)", NULL, NULL, &e), "OK");
    DT_OK(dyn_expr_eval_condition(e, NULL, &res));
    DT_TRUE(res);
    DT_EQ_STR(parse_msg(C, "pk = :v", NULL, V1, &e), "OK");
    DT_OK(dyn_expr_eval_condition(e, NULL, &res));
    DT_TRUE(!res);
    DT_EQ_STR(parse_msg(C, "pk <> :v", NULL, V1, &e), "OK");
    DT_OK(dyn_expr_eval_condition(e, NULL, &res));
    DT_TRUE(res);
}

static void
test_eval_many_items(void)
{
    dyn_expr *e = NULL;
    int matched = 0;

    /* parse once, evaluate many times */
    DT_EQ_STR(parse_msg(F, "n BETWEEN :lo AND :hi AND begins_with(s, :p)", NULL,
                        "{\":lo\":{\"N\":\"10\"},\":hi\":{\"N\":\"19\"},\":p\":{\"S\":\"k\"}}", &e),
              "OK");
    for (int i = 0; i < 100; i++) {
        char *js = dyn_arena_printf(&A, "{\"n\":{\"N\":\"%d\"},\"s\":{\"S\":\"%s\"}}", i,
                                    i % 2 ? "key" : "other");
        bool res;
        DT_OK(dyn_expr_eval_condition(e, J(js), &res));
        matched += res;
    }
    DT_EQ_INT(matched, 5);
}

/* ---- updates ---- */

typedef struct {
    const char *expr, *values, *item, *want;   /* want: item JSON or "ERR:message" */
} upd_case;

static const char *const KEYS[2] = { "pk", "sk" };

static void
run_update_cases(const upd_case *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dyn_expr *e = NULL;
        Dyne__V1__AttributeValueMap *out = NULL, *old;
        const char *got = parse_msg(U, cs[i].expr, NULL, cs[i].values, &e), *msg = NULL;
        if (strcmp(got, "OK") != 0) {
            DT_FAIL_("case %zu [%s]: parse: %s", i, cs[i].expr, got);
            continue;
        }
        old = J(cs[i].item);
        const char *before = W(old);
        dyn_err rc = dyn_expr_apply_update(e, old, KEYS, &A, &out, &msg);
        if (rc == DYN_OK)
            got = W(out);
        else if (rc == DYN_EVALIDATION)
            got = dyn_arena_printf(&A, "ERR:%s", msg);
        else
            got = dyn_arena_printf(&A, "ERR:%d", rc);
        if (strcmp(got, cs[i].want) != 0)
            DT_FAIL_("case %zu [%s]:\n    got  %s\n    want %s", i, cs[i].expr, got, cs[i].want);
        if (strcmp(before, W(old)) != 0)
            DT_FAIL_("case %zu [%s]: the old item changed: %s", i, cs[i].expr, W(old));
    }
}

#define ERR_KEY "ERR:Cannot update attribute pk. This attribute is part of the key"
#define ERR_MISSING "ERR:The provided expression refers to an attribute that does not exist in the item"
#define ERR_PATH "ERR:The document path provided in the update expression is invalid for update"
#define ERR_TYPE "ERR:An operand in the update expression has an incorrect data type"

static void
test_update_set(void)
{
    static const upd_case cs[] = {
        { "SET a = :v", VNUM("1"), "{\"pk\":{\"S\":\"k\"}}", "{\"a\":{\"N\":\"1\"},\"pk\":{\"S\":\"k\"}}" },
        { "SET a = :v", VS("new"), "{\"a\":{\"N\":\"1\"}}", "{\"a\":{\"S\":\"new\"}}" },
        { "SET a = b", NULL, "{\"b\":{\"S\":\"x\"}}", "{\"a\":{\"S\":\"x\"},\"b\":{\"S\":\"x\"}}" },
        { "SET a = b, b = a", NULL, "{\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"}}",
          "{\"a\":{\"S\":\"2\"},\"b\":{\"S\":\"1\"}}" },
        { "SET a = nope", NULL, "{}", ERR_MISSING },
        { "SET a = m.nope", NULL, "{\"m\":{\"M\":{}}}", ERR_MISSING },
        { "SET a = :v + :w", V2N("1", "2"), "{}", "{\"a\":{\"N\":\"3\"}}" },
        { "SET a = a + :v", VNUM("1"), "{\"a\":{\"N\":\"41\"}}", "{\"a\":{\"N\":\"42\"}}" },
        { "SET a = a - :v", VNUM("0.5"), "{\"a\":{\"N\":\"1\"}}", "{\"a\":{\"N\":\"0.5\"}}" },
        { "SET a = :v - a", VNUM("1"), "{\"a\":{\"N\":\"3\"}}", "{\"a\":{\"N\":\"-2\"}}" },
        { "SET a = a + :v", VNUM("1"), "{}", ERR_MISSING },
        { "SET a = a + :v", VNUM("1"), "{\"a\":{\"S\":\"1\"}}", ERR_TYPE },
        { "SET a = b + c", NULL, "{\"b\":{\"N\":\"1\"},\"c\":{\"SS\":[\"x\"]}}", ERR_TYPE },
        { "SET a = :v + :w", V2N("1E125", "9E125"), "{}",
          "ERR:Number overflow. Attempting to store a number with magnitude larger than supported range" },
        { "SET a = :v + :w", V2N("1E50", "1"), "{}",
          "ERR:Number overflow. Attempting to store a number with magnitude larger than supported range" },
        { "SET a = if_not_exists(a, :v)", VNUM("0"), "{}", "{\"a\":{\"N\":\"0\"}}" },
        { "SET a = if_not_exists(a, :v)", VNUM("0"), "{\"a\":{\"N\":\"5\"}}", "{\"a\":{\"N\":\"5\"}}" },
        { "SET a = if_not_exists(b, :v)", VNUM("0"), "{\"b\":{\"S\":\"x\"}}",
          "{\"a\":{\"S\":\"x\"},\"b\":{\"S\":\"x\"}}" },
        { "SET a = if_not_exists(a, :v) + :w", V2N("0", "1"), "{}", "{\"a\":{\"N\":\"1\"}}" },
        { "SET a = if_not_exists(a, :v) + :w", V2N("0", "1"), "{\"a\":{\"N\":\"9\"}}", "{\"a\":{\"N\":\"10\"}}" },
        { "SET l = list_append(l, :v)", "{\":v\":{\"L\":[{\"N\":\"3\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"}]}}", "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"},{\"N\":\"3\"}]}}" },
        { "SET l = list_append(:v, l)", "{\":v\":{\"L\":[{\"N\":\"0\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"1\"}]}}", "{\"l\":{\"L\":[{\"N\":\"0\"},{\"N\":\"1\"}]}}" },
        { "SET l = list_append(if_not_exists(l, :e), :v)",
          "{\":v\":{\"L\":[{\"S\":\"x\"}]},\":e\":{\"L\":[]}}", "{}", "{\"l\":{\"L\":[{\"S\":\"x\"}]}}" },
        { "SET l = list_append(l, :v)", "{\":v\":{\"L\":[]}}", "{\"l\":{\"S\":\"x\"}}", ERR_TYPE },
        { "SET l = list_append(l, :v)", "{\":v\":{\"L\":[]}}", "{}", ERR_MISSING },
        { "SET m.x = :v", VNUM("1"), "{\"m\":{\"M\":{}}}", "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}" },
        { "SET m.x = :v", VNUM("2"), "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"0\"}}}}",
          "{\"m\":{\"M\":{\"x\":{\"N\":\"2\"},\"y\":{\"N\":\"0\"}}}}" },
        { "SET m.a.b = :v", VNUM("1"), "{\"m\":{\"M\":{\"a\":{\"M\":{}}}}}",
          "{\"m\":{\"M\":{\"a\":{\"M\":{\"b\":{\"N\":\"1\"}}}}}}" },
        { "SET m.x = :v", VNUM("1"), "{}", ERR_PATH },
        { "SET m.x.y = :v", VNUM("1"), "{\"m\":{\"M\":{}}}", ERR_PATH },
        { "SET m.x = :v", VNUM("1"), "{\"m\":{\"S\":\"str\"}}", ERR_PATH },
        { "SET m[0] = :v", VNUM("1"), "{\"m\":{\"M\":{}}}", ERR_PATH },
        { "SET l[0] = :v", VNUM("9"), "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"9\"},{\"N\":\"2\"}]}}" },
        { "SET l[5] = :v", VNUM("9"), "{\"l\":{\"L\":[{\"N\":\"1\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"9\"}]}}" },
        { "SET l[0].x = :v", VNUM("9"), "{\"l\":{\"L\":[{\"M\":{}}]}}",
          "{\"l\":{\"L\":[{\"M\":{\"x\":{\"N\":\"9\"}}}]}}" },
        { "SET l[1].x = :v", VNUM("9"), "{\"l\":{\"L\":[{\"M\":{}}]}}", ERR_PATH },
        { "SET l.x = :v", VNUM("9"), "{\"l\":{\"L\":[]}}", ERR_PATH },
        { "SET m.a = :v, m.b = :w", V2N("1", "2"), "{\"m\":{\"M\":{}}}",
          "{\"m\":{\"M\":{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"}}}}" },
        { "SET a = m.x", NULL, "{\"m\":{\"M\":{\"x\":{\"L\":[]}}}}",
          "{\"a\":{\"L\":[]},\"m\":{\"M\":{\"x\":{\"L\":[]}}}}" },
        { "SET a = l[1]", NULL, "{\"l\":{\"L\":[{\"N\":\"1\"},{\"S\":\"two\"}]}}",
          "{\"a\":{\"S\":\"two\"},\"l\":{\"L\":[{\"N\":\"1\"},{\"S\":\"two\"}]}}" },
        { "SET pk = :v", VS("x"), "{\"pk\":{\"S\":\"k\"}}", ERR_KEY },
        { "SET a = :v, sk = :v", VS("x"), "{}",
          "ERR:Cannot update attribute sk. This attribute is part of the key" },
        { "SET pk.x = :v", VS("x"), "{\"pk\":{\"S\":\"k\"}}", ERR_KEY },
    };
    run_update_cases(cs, sizeof cs / sizeof cs[0]);
}

static void
test_update_remove_add_delete(void)
{
    static const upd_case cs[] = {
        { "REMOVE a", NULL, "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"}}", "{\"b\":{\"N\":\"2\"}}" },
        { "REMOVE a, b", NULL, "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"}}", "{}" },
        { "REMOVE nope", NULL, "{\"a\":{\"N\":\"1\"}}", "{\"a\":{\"N\":\"1\"}}" },
        { "REMOVE m.x", NULL, "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"2\"}}}}",
          "{\"m\":{\"M\":{\"y\":{\"N\":\"2\"}}}}" },
        { "REMOVE m.nope", NULL, "{\"m\":{\"M\":{}}}", "{\"m\":{\"M\":{}}}" },
        { "REMOVE m.x", NULL, "{}", ERR_PATH },
        { "REMOVE l[0]", NULL, "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"},{\"N\":\"3\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"2\"},{\"N\":\"3\"}]}}" },
        { "REMOVE l[1], l[2]", NULL, "{\"l\":{\"L\":[{\"N\":\"0\"},{\"N\":\"1\"},{\"N\":\"2\"},{\"N\":\"3\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"0\"},{\"N\":\"3\"}]}}" },
        { "REMOVE l[0], l[2]", NULL, "{\"l\":{\"L\":[{\"N\":\"0\"},{\"N\":\"1\"},{\"N\":\"2\"},{\"N\":\"3\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"1\"},{\"N\":\"3\"}]}}" },
        { "REMOVE l[9]", NULL, "{\"l\":{\"L\":[{\"N\":\"0\"}]}}", "{\"l\":{\"L\":[{\"N\":\"0\"}]}}" },
        { "REMOVE l[0].x", NULL, "{\"l\":{\"L\":[{\"M\":{\"x\":{\"N\":\"1\"}}}]}}", "{\"l\":{\"L\":[{\"M\":{}}]}}" },
        { "REMOVE pk", NULL, "{\"pk\":{\"S\":\"k\"}}", ERR_KEY },
        { "SET a = :v REMOVE b", VNUM("1"), "{\"b\":{\"N\":\"2\"}}", "{\"a\":{\"N\":\"1\"}}" },
        { "ADD n :v", VNUM("5"), "{\"n\":{\"N\":\"10\"}}", "{\"n\":{\"N\":\"15\"}}" },
        { "ADD n :v", VNUM("-5"), "{\"n\":{\"N\":\"1\"}}", "{\"n\":{\"N\":\"-4\"}}" },
        { "ADD n :v", VNUM("5"), "{}", "{\"n\":{\"N\":\"5\"}}" },
        { "ADD n :v", VNUM("5"), "{\"n\":{\"S\":\"x\"}}", ERR_TYPE },
        { "ADD n :v", VNUM("5"), "{\"n\":{\"NS\":[\"1\"]}}", ERR_TYPE },
        { "ADD n :v", VNUM("9E125"), "{\"n\":{\"N\":\"9E125\"}}",
          "ERR:Number overflow. Attempting to store a number with magnitude larger than supported range" },
        { "ADD s :v", "{\":v\":{\"SS\":[\"b\",\"c\"]}}", "{\"s\":{\"SS\":[\"a\",\"b\"]}}",
          "{\"s\":{\"SS\":[\"a\",\"b\",\"c\"]}}" },
        { "ADD s :v", "{\":v\":{\"SS\":[\"b\",\"c\"]}}", "{}", "{\"s\":{\"SS\":[\"b\",\"c\"]}}" },
        { "ADD s :v", "{\":v\":{\"NS\":[\"2\",\"3\"]}}", "{\"s\":{\"NS\":[\"1\",\"2.0\"]}}",
          "{\"s\":{\"NS\":[\"1\",\"2.0\",\"3\"]}}" },
        { "ADD s :v", "{\":v\":{\"BS\":[\"y\"]}}", "{\"s\":{\"BS\":[\"x\"]}}", "{\"s\":{\"BS\":[\"x\",\"y\"]}}" },
        { "ADD s :v", "{\":v\":{\"NS\":[\"2\"]}}", "{\"s\":{\"SS\":[\"a\"]}}", ERR_TYPE },
        { "ADD s :v", "{\":v\":{\"SS\":[\"a\"]}}", "{\"s\":{\"S\":\"a\"}}", ERR_TYPE },
        { "ADD m.n :v", VNUM("1"), "{\"m\":{\"M\":{\"n\":{\"N\":\"1\"}}}}", "{\"m\":{\"M\":{\"n\":{\"N\":\"2\"}}}}" },
        { "ADD m.n :v", VNUM("1"), "{}", ERR_PATH },
        { "ADD pk :v", VNUM("1"), "{}", ERR_KEY },
        { "DELETE s :v", "{\":v\":{\"SS\":[\"b\",\"z\"]}}", "{\"s\":{\"SS\":[\"a\",\"b\"]}}",
          "{\"s\":{\"SS\":[\"a\"]}}" },
        { "DELETE s :v", "{\":v\":{\"SS\":[\"a\",\"b\"]}}", "{\"s\":{\"SS\":[\"a\",\"b\"]},\"x\":{\"N\":\"1\"}}",
          "{\"x\":{\"N\":\"1\"}}" },
        { "DELETE s :v", "{\":v\":{\"NS\":[\"1.0\"]}}", "{\"s\":{\"NS\":[\"1\",\"2\"]}}", "{\"s\":{\"NS\":[\"2\"]}}" },
        { "DELETE s :v", "{\":v\":{\"BS\":[\"x\"]}}", "{\"s\":{\"BS\":[\"x\",\"y\"]}}", "{\"s\":{\"BS\":[\"y\"]}}" },
        { "DELETE s :v", "{\":v\":{\"SS\":[\"a\"]}}", "{}", "{}" },
        { "DELETE s :v", "{\":v\":{\"SS\":[\"a\"]}}", "{\"s\":{\"NS\":[\"1\"]}}", ERR_TYPE },
        { "DELETE s :v", "{\":v\":{\"SS\":[\"a\"]}}", "{\"s\":{\"S\":\"a\"}}", ERR_TYPE },
        { "DELETE m.s :v", "{\":v\":{\"SS\":[\"a\"]}}", "{\"m\":{\"M\":{\"s\":{\"SS\":[\"a\",\"b\"]}}}}",
          "{\"m\":{\"M\":{\"s\":{\"SS\":[\"b\"]}}}}" },
        { "SET a = :n REMOVE b ADD c :n DELETE d :s",
          "{\":n\":{\"N\":\"1\"},\":s\":{\"SS\":[\"x\"]}}",
          "{\"b\":{\"N\":\"0\"},\"c\":{\"N\":\"1\"},\"d\":{\"SS\":[\"x\",\"y\"]}}",
          "{\"a\":{\"N\":\"1\"},\"c\":{\"N\":\"2\"},\"d\":{\"SS\":[\"y\"]}}" },
    };
    run_update_cases(cs, sizeof cs / sizeof cs[0]);
}

static void
test_update_no_item_and_updated_paths(void)
{
    dyn_expr *e = NULL;
    Dyne__V1__AttributeValueMap *out = NULL, *proj = NULL;
    const char *msg;
    Dyne__V1__AttributeValueMap *old =
        J("{\"pk\":{\"S\":\"k\"},\"a\":{\"N\":\"1\"},\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"2\"}}},"
          "\"r\":{\"S\":\"gone\"},\"keep\":{\"S\":\"same\"}}");

    DT_EQ_STR(parse_msg(U, "SET a = a + :one, m.x = :one REMOVE r ADD c :one", NULL,
                        "{\":one\":{\"N\":\"1\"}}", &e),
              "OK");
    DT_OK(dyn_expr_apply_update(e, old, KEYS, &A, &out, &msg));
    DT_EQ_STR(W(out), "{\"a\":{\"N\":\"2\"},\"c\":{\"N\":\"1\"},\"keep\":{\"S\":\"same\"},"
                      "\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"2\"}}},\"pk\":{\"S\":\"k\"}}");
    /* UPDATED_OLD / UPDATED_NEW */
    DT_OK(dyn_expr_project(e, old, &A, &proj));
    DT_EQ_STR(W(proj), "{\"a\":{\"N\":\"1\"},\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}},\"r\":{\"S\":\"gone\"}}");
    DT_OK(dyn_expr_project(e, out, &A, &proj));
    DT_EQ_STR(W(proj), "{\"a\":{\"N\":\"2\"},\"c\":{\"N\":\"1\"},\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}");

    /* a missing item: start from the key alone */
    DT_EQ_STR(parse_msg(U, "SET a = :one", NULL, "{\":one\":{\"N\":\"1\"}}", &e), "OK");
    DT_OK(dyn_expr_apply_update(e, J("{\"pk\":{\"S\":\"k\"}}"), KEYS, &A, &out, &msg));
    DT_EQ_STR(W(out), "{\"a\":{\"N\":\"1\"},\"pk\":{\"S\":\"k\"}}");
    DT_OK(dyn_expr_apply_update(e, NULL, KEYS, &A, &out, &msg));
    DT_EQ_STR(W(out), "{\"a\":{\"N\":\"1\"}}");
}

/* ---- projection ---- */

typedef struct {
    const char *expr, *names, *item, *want;
} proj_case;

static void
test_projection(void)
{
    static const proj_case cs[] = {
        { "a", NULL, "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"}}", "{\"a\":{\"N\":\"1\"}}" },
        { "a, b", NULL, "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"},\"c\":{\"N\":\"3\"}}",
          "{\"a\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"}}" },
        { "nope", NULL, "{\"a\":{\"N\":\"1\"}}", "{}" },
        { "#s", "#s=status", "{\"status\":{\"S\":\"on\"}}", "{\"status\":{\"S\":\"on\"}}" },
        { "m.x", NULL, "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"2\"}}}}",
          "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}" },
        { "m.x, m.y", NULL, "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"2\"},\"z\":{\"N\":\"3\"}}}}",
          "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"},\"y\":{\"N\":\"2\"}}}}" },
        { "m.nope", NULL, "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}", "{}" },
        { "m.x.y", NULL, "{\"m\":{\"M\":{\"x\":{\"N\":\"1\"}}}}", "{}" },
        { "l[1]", NULL, "{\"l\":{\"L\":[{\"N\":\"0\"},{\"N\":\"1\"},{\"N\":\"2\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"1\"}]}}" },
        { "l[2], l[0]", NULL, "{\"l\":{\"L\":[{\"N\":\"0\"},{\"N\":\"1\"},{\"N\":\"2\"}]}}",
          "{\"l\":{\"L\":[{\"N\":\"0\"},{\"N\":\"2\"}]}}" },
        { "l[5]", NULL, "{\"l\":{\"L\":[{\"N\":\"0\"}]}}", "{}" },
        { "l[0], l[5]", NULL, "{\"l\":{\"L\":[{\"N\":\"0\"}]}}", "{\"l\":{\"L\":[{\"N\":\"0\"}]}}" },
        { "l[0].x", NULL, "{\"l\":{\"L\":[{\"M\":{\"x\":{\"S\":\"a\"},\"y\":{\"S\":\"b\"}}}]}}",
          "{\"l\":{\"L\":[{\"M\":{\"x\":{\"S\":\"a\"}}}]}}" },
        { "m.l[1].k, a", NULL,
          "{\"a\":{\"BOOL\":true},\"m\":{\"M\":{\"l\":{\"L\":[{\"N\":\"0\"},{\"M\":{\"k\":{\"NULL\":true},\"j\":{\"N\":\"1\"}}}]}}}}",
          "{\"a\":{\"BOOL\":true},\"m\":{\"M\":{\"l\":{\"L\":[{\"M\":{\"k\":{\"NULL\":true}}}]}}}}" },
        { "l[0]", NULL, "{\"l\":{\"M\":{\"0\":{\"N\":\"1\"}}}}", "{}" },
        { "m.x", NULL, "{\"m\":{\"L\":[{\"N\":\"1\"}]}}", "{}" },
        { "ss, m", NULL, "{\"ss\":{\"SS\":[\"a\"]},\"m\":{\"M\":{}}}", "{\"m\":{\"M\":{}},\"ss\":{\"SS\":[\"a\"]}}" },
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        dyn_expr *e = NULL;
        Dyne__V1__AttributeValueMap *out = NULL;
        const char *got = parse_msg(P, cs[i].expr, cs[i].names, NULL, &e);
        if (strcmp(got, "OK") != 0) {
            DT_FAIL_("case %zu [%s]: parse: %s", i, cs[i].expr, got);
            continue;
        }
        DT_OK(dyn_expr_project(e, J(cs[i].item), &A, &out));
        if (strcmp(W(out), cs[i].want) != 0)
            DT_FAIL_("case %zu [%s]: got %s, want %s", i, cs[i].expr, W(out), cs[i].want);
    }
}

/* ---- key conditions ---- */

typedef struct {
    const char *expr, *values;
    const char *sk_name;
    char sk_type;
    const char *want;   /* "pk=<S>;op=<n>;lo=<S>;hi=<S>" or the error message */
} key_case;

static const char *
av_s(const Dyne__V1__AttributeValue *v)
{
    if (v == NULL)
        return "-";
    return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N ? v->n : v->s;
}

static void
test_key_conditions(void)
{
    static const key_case cs[] = {
        { "pk = :p", "{\":p\":{\"S\":\"a\"}}", "sk", 'S', "pk=a;op=0;lo=-;hi=-" },
        { "pk = :p", "{\":p\":{\"S\":\"a\"}}", NULL, 0, "pk=a;op=0;lo=-;hi=-" },
        { ":p = pk", "{\":p\":{\"S\":\"a\"}}", "sk", 'S', "pk=a;op=0;lo=-;hi=-" },
        { "pk = :p AND sk = :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", "sk", 'N', "pk=a;op=1;lo=1;hi=-" },
        { "pk = :p AND sk < :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", "sk", 'N', "pk=a;op=2;lo=1;hi=-" },
        { "pk = :p AND sk <= :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", "sk", 'N', "pk=a;op=3;lo=1;hi=-" },
        { "pk = :p AND sk > :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", "sk", 'N', "pk=a;op=4;lo=1;hi=-" },
        { "pk = :p AND sk >= :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", "sk", 'N', "pk=a;op=5;lo=1;hi=-" },
        { "pk = :p AND :s < sk", "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", "sk", 'N', "pk=a;op=4;lo=1;hi=-" },
        { "pk = :p AND :s >= sk", "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", "sk", 'N', "pk=a;op=3;lo=1;hi=-" },
        { "sk BETWEEN :s AND :t AND pk = :p",
          "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"},\":t\":{\"N\":\"2\"}}", "sk", 'N', "pk=a;op=6;lo=1;hi=2" },
        { "pk = :p AND begins_with(sk, :s)", "{\":p\":{\"S\":\"a\"},\":s\":{\"S\":\"x\"}}", "sk", 'S',
          "pk=a;op=7;lo=x;hi=-" },
        { "(pk = :p) AND (sk = :s)", "{\":p\":{\"S\":\"a\"},\":s\":{\"S\":\"x\"}}", "sk", 'S', "pk=a;op=1;lo=x;hi=-" },
        { "sk = :s", "{\":s\":{\"S\":\"x\"}}", "sk", 'S', "Query condition missed key schema element: pk" },
        { "pk = :p AND oth = :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"S\":\"x\"}}", "sk", 'S',
          "Query condition missed key schema element: sk" },
        { "pk = :p AND oth = :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"S\":\"x\"}}", NULL, 0,
          "Query key condition not supported" },
        { "pk < :p", "{\":p\":{\"S\":\"a\"}}", "sk", 'S', "Query key condition not supported" },
        { "begins_with(pk, :p)", "{\":p\":{\"S\":\"a\"}}", "sk", 'S', "Query key condition not supported" },
        { "pk = :p OR sk = :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"S\":\"x\"}}", "sk", 'S',
          "Invalid operator used in KeyConditionExpression: OR" },
        { "NOT pk = :p", "{\":p\":{\"S\":\"a\"}}", "sk", 'S', "Invalid operator used in KeyConditionExpression: NOT" },
        { "pk IN (:p)", "{\":p\":{\"S\":\"a\"}}", "sk", 'S', "Invalid operator used in KeyConditionExpression: IN" },
        { "pk <> :p", "{\":p\":{\"S\":\"a\"}}", "sk", 'S', "Invalid operator used in KeyConditionExpression: <>" },
        { "pk = :p AND attribute_exists(sk)", "{\":p\":{\"S\":\"a\"}}", "sk", 'S',
          "Invalid operator used in KeyConditionExpression: attribute_exists" },
        { "pk = :p AND contains(sk, :p)", "{\":p\":{\"S\":\"a\"}}", "sk", 'S',
          "Invalid operator used in KeyConditionExpression: contains" },
        { "size(pk) = :p", "{\":p\":{\"N\":\"1\"}}", "sk", 'S', "KeyConditionExpressions cannot contain nested operations" },
        { "pk.x = :p", "{\":p\":{\"S\":\"a\"}}", "sk", 'S',
          "KeyConditionExpressions cannot have conditions on nested attributes" },
        { "pk = sk", NULL, "sk", 'S',
          "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition" },
        { ":p = :p", "{\":p\":{\"S\":\"a\"}}", "sk", 'S',
          "Invalid condition in KeyConditionExpression: No key attribute specified" },
        { "pk = :p AND pk = :p", "{\":p\":{\"S\":\"a\"}}", "sk", 'S',
          "KeyConditionExpressions must only contain one condition per key" },
        { ":s BETWEEN sk AND :t", "{\":s\":{\"N\":\"1\"},\":t\":{\"N\":\"2\"}}", "sk", 'N',
          "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand" },
        { "pk = :p AND sk = :s AND x = :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"S\":\"x\"}}", "sk", 'S',
          "Conditions can be of length 1 or 2 only" },
        { "pk = :p", "{\":p\":{\"N\":\"1\"}}", "sk", 'S',
          "One or more parameter values were invalid: Condition parameter type does not match schema type" },
        { "pk = :p AND sk > :s", "{\":p\":{\"S\":\"a\"},\":s\":{\"S\":\"x\"}}", "sk", 'N',
          "One or more parameter values were invalid: Condition parameter type does not match schema type" },
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        dyn_expr *e = NULL;
        dyn_expr_key_cond kc;
        const char *got = parse_msg(K, cs[i].expr, NULL, cs[i].values, &e), *msg = NULL;
        if (strcmp(got, "OK") != 0) {
            DT_FAIL_("case %zu [%s]: parse: %s", i, cs[i].expr, got);
            continue;
        }
        if (dyn_expr_key_condition(e, "pk", 'S', cs[i].sk_name, cs[i].sk_type, &A, &kc, &msg) ==
            DYN_OK)
            got = dyn_arena_printf(&A, "pk=%s;op=%d;lo=%s;hi=%s", av_s(kc.pk), (int)kc.sk_op,
                                   av_s(kc.sk_lo), av_s(kc.sk_hi));
        else
            got = msg;
        if (got == NULL || strcmp(got, cs[i].want) != 0)
            DT_FAIL_("case %zu [%s]: got %s, want %s", i, cs[i].expr, got ? got : "(null)",
                     cs[i].want);
    }
    /* begins_with on a number is caught by the parser */
    DT_EQ_STR(parse_msg(K, "pk = :p AND begins_with(sk, :s)", NULL,
                        "{\":p\":{\"S\":\"a\"},\":s\":{\"N\":\"1\"}}", NULL),
              "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
              "operator or function: begins_with, operand type: N");
}

/* One ctx for several expressions: the marks add up. Run with the parse cache off, filling and
 * serving: a cached tree marks its placeholders as the parser does. */
static void
test_unused_across_expressions(void)
{
    dyn_expr_ctx ctx;
    const char *msg;
    dyn_expr *e;
    const char *vals = "{\":a\":{\"S\":\"x\"},\":b\":{\"S\":\"y\"}}";

    for (int pass = 0; pass < 3; pass++) {
        dyn_expr_cache_enable(pass > 0);
        DT_OK(setup(&ctx, "#n=name,#m=m", vals, &msg));
        DT_OK(dyn_expr_parse(&ctx, DYN_EXPR_UPDATE, "SET #n = :a", 11, &e, &msg));
        DT_ERR(dyn_expr_ctx_check_unused(&ctx, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, "Value provided in ExpressionAttributeNames unused in expressions: keys: "
                       "{#m}");
        DT_OK(dyn_expr_parse(&ctx, DYN_EXPR_CONDITION, "attribute_exists(#m)", 20, &e, &msg));
        DT_ERR(dyn_expr_ctx_check_unused(&ctx, &msg), DYN_EVALIDATION);
        DT_EQ_STR(msg, "Value provided in ExpressionAttributeValues unused in expressions: "
                       "keys: {:b}");
        DT_OK(dyn_expr_parse(&ctx, DYN_EXPR_PROJECTION, "#m", 2, &e, &msg));
        DT_OK(dyn_expr_parse(&ctx, DYN_EXPR_FILTER, "#n <> :b", 8, &e, &msg));
        DT_OK(dyn_expr_ctx_check_unused(&ctx, &msg));
    }
    dyn_expr_cache_enable(true);
}

static void
test_arena_exhaustion(void)
{
    dyn_arena small;
    dyn_expr_ctx ctx;
    const char *msg;
    dyn_expr *e;
    dyn_err rc;

    dyn_arena_init(&small, 512);
    DT_OK(dyn_expr_ctx_init(&ctx, NULL, 0, NULL, &small, &msg));
    rc = dyn_expr_parse(&ctx, DYN_EXPR_PROJECTION,
                        "a.b.c.d.e.f.g, h.i.j.k.l.m.n, o.p.q.r.s.t.u, v.w.x.y.z.aa.bb", 59, &e,
                        &msg);
    DT_ERR(rc, DYN_ENOMEM);
    dyn_arena_fini(&small);
}

DT_MAIN({ "parse ok", test_parse_ok }, { "syntax errors", test_syntax_errors },
        { "semantic errors", test_semantic_errors }, { "limits", test_limits },
        { "reserved words", test_reserved_words }, { "eval comparisons", test_eval_comparisons },
        { "eval functions", test_eval_functions }, { "eval without item", test_eval_no_item },
        { "eval many items", test_eval_many_items }, { "update SET", test_update_set },
        { "update REMOVE ADD DELETE", test_update_remove_add_delete },
        { "update updated paths", test_update_no_item_and_updated_paths },
        { "projection", test_projection }, { "key conditions", test_key_conditions },
        { "unused placeholders across expressions", test_unused_across_expressions },
        { "arena exhaustion", test_arena_exhaustion })

__attribute__((constructor)) static void
init_arena(void)
{
    dyn_arena_init(&A, (size_t)1 << 30);
}
