/* libs/expr tests: the parse cache. A text served from the cache must give what the parser
 * gives (message, tree, unused placeholders) under other name mappings, value types and
 * contents, with placeholders missing or unused, past eviction, and on two threads at once. */
#include "libs/expr/expr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libs/arena/arena.h"
#include "libs/testing/dyn_test.h"

static dyn_arena A;

/* ---- requests written as strings ---- */

/* "k=T:text,..." with T one of S, N, B -> a map in arena a; NULL for NULL. */
static Dyne__V1__AttributeValueMap *
map_of(dyn_arena *a, const char *spec)
{
    Dyne__V1__AttributeValueMap *m;
    char *s, *save = NULL;

    if (spec == NULL)
        return NULL;
    m = dyn_arena_zalloc(a, sizeof *m);
    *m = (Dyne__V1__AttributeValueMap)DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
    m->values = dyn_arena_zalloc(a, 64 * sizeof *m->values);
    s = dyn_arena_strdup(a, spec);
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        Dyne__V1__AttributeValueMap__ValuesEntry *e = dyn_arena_zalloc(a, sizeof *e);
        Dyne__V1__AttributeValue *v = dyn_arena_zalloc(a, sizeof *v);
        char *eq = strchr(tok, '=');
        *eq = '\0';
        *e = (Dyne__V1__AttributeValueMap__ValuesEntry)
            DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
        *v = (Dyne__V1__AttributeValue)DYNE__V1__ATTRIBUTE_VALUE__INIT;
        e->key = tok;
        e->value = v;
        switch (eq[1]) {
        case 'S':
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
            v->s = eq + 3;
            break;
        case 'N':
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
            v->n = eq + 3;
            break;
        default:
            v->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
            v->b.data = (uint8_t *)eq + 3;
            v->b.len = strlen(eq + 3);
            break;
        }
        m->values[m->n_values++] = e;
    }
    return m;
}

/* "#a=x,#b=y" -> names in arena a (*n of them); NULL for NULL. */
static dyn_expr_name *
names_of(dyn_arena *a, const char *spec, size_t *n)
{
    dyn_expr_name *nv;
    char *s, *save = NULL;

    *n = 0;
    if (spec == NULL)
        return NULL;
    nv = dyn_arena_zalloc(a, 64 * sizeof *nv);
    s = dyn_arena_strdup(a, spec);
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        nv[*n].key = tok;
        nv[*n].value = eq + 1;
        (*n)++;
    }
    return nv;
}

typedef struct result {
    dyn_err rc;
    const char *msg;    /* parse message, else the unused check's, else "OK" */
    const char *tree;   /* dyn_expr_dump, "" when the parse failed */
    dyn_expr *e;
} result;

/* ctx_init + parse + unused check, as a router request does, in arena a. */
static result
run_on(dyn_arena *a, dyn_expr_kind kind, const char *text, const dyn_expr_name *nv, size_t n,
       const Dyne__V1__AttributeValueMap *values)
{
    result r = { .msg = "OK", .tree = "" };
    dyn_expr_ctx ctx;
    const char *msg = NULL;

    if ((r.rc = dyn_expr_ctx_init(&ctx, nv, n, values, a, &msg)) != DYN_OK) {
        r.msg = msg;
        return r;
    }
    if ((r.rc = dyn_expr_parse(&ctx, kind, text, strlen(text), &r.e, &msg)) != DYN_OK) {
        r.msg = msg ? msg : "(none)";
        return r;
    }
    if (dyn_expr_dump(r.e, a, &r.tree) != DYN_OK)
        r.tree = "(dump failed)";
    if (dyn_expr_ctx_check_unused(&ctx, &msg) != DYN_OK)
        r.msg = msg;
    return r;
}

static result
run(dyn_arena *a, dyn_expr_kind kind, const char *text, const char *names, const char *values)
{
    size_t n;
    dyn_expr_name *nv = names_of(a, names, &n);

    return run_on(a, kind, text, nv, n, map_of(a, values));
}

/* The request with the cache off; then with it on, which must give the same (the same values,
 * so even their addresses in the trees match). Returns the cached run's result; *hit whether
 * the cache served it. */
static result
same(dyn_expr_kind kind, const char *text, const char *names, const char *values, bool *hit)
{
    dyn_expr_cache_stats before, after;
    const Dyne__V1__AttributeValueMap *vals = map_of(&A, values);
    result plain, cached;
    dyn_expr_name *nv;
    size_t n;

    nv = names_of(&A, names, &n);
    dyn_expr_cache_enable(false);
    plain = run_on(&A, kind, text, nv, n, vals);
    dyn_expr_cache_enable(true);
    dyn_expr_cache_get_stats(&before);
    cached = run_on(&A, kind, text, nv, n, vals);
    dyn_expr_cache_get_stats(&after);
    if (hit)
        *hit = after.hits == before.hits + 1;
    if (plain.rc != cached.rc || strcmp(plain.msg, cached.msg) != 0)
        DT_FAIL_("[%s] names %s values %s: cached %d \"%s\", uncached %d \"%s\"", text,
                 names ? names : "-", values ? values : "-", cached.rc, cached.msg, plain.rc,
                 plain.msg);
    if (strcmp(plain.tree, cached.tree) != 0)
        DT_FAIL_("[%s]: cached tree\n  %s\nuncached\n  %s", text, cached.tree, plain.tree);
    return cached;
}

static int
eval(const dyn_expr *e, const char *item)
{
    bool res = false;
    dyn_err rc = dyn_expr_eval_condition(e, map_of(&A, item), &res);
    return rc != DYN_OK ? -(int)rc : res;
}

/* ---- cases ---- */

static void
test_hit_counts(void)
{
    dyn_expr_cache_stats st;
    bool hit;

    dyn_expr_cache_clear();
    same(DYN_EXPR_CONDITION, "a = :v", NULL, ":v=S:x", &hit);
    DT_TRUE(!hit);
    same(DYN_EXPR_CONDITION, "a = :v", NULL, ":v=S:y", &hit);
    DT_TRUE(hit);
    dyn_expr_cache_get_stats(&st);
    DT_EQ_INT(st.entries, 1);
    DT_EQ_INT(st.inserts, 1);
    /* other kinds are other entries */
    same(DYN_EXPR_FILTER, "a = :v", NULL, ":v=S:x", &hit);
    DT_TRUE(!hit);
    same(DYN_EXPR_KEY_CONDITION, "a = :v", NULL, ":v=S:x", &hit);
    DT_TRUE(!hit);
    dyn_expr_cache_get_stats(&st);
    DT_EQ_INT(st.entries, 3);
}

static void
test_name_mappings(void)
{
    const char *text = "#n = :v AND attribute_exists(#m.#n)";
    result r;
    bool hit;

    dyn_expr_cache_clear();
    r = same(DYN_EXPR_CONDITION, text, "#n=a,#m=m", ":v=S:x", &hit);
    DT_TRUE(!hit);
    DT_EQ_INT(eval(r.e, "a=S:x"), 0);   /* no m.a */
    r = same(DYN_EXPR_CONDITION, text, "#n=b,#m=m", ":v=S:x", &hit);
    DT_TRUE(!hit);
    r = same(DYN_EXPR_CONDITION, text, "#m=m,#n=a", ":v=S:x", &hit);   /* other order */
    DT_TRUE(hit);
    r = same(DYN_EXPR_CONDITION, text, "#n=b,#m=m", ":v=S:y", &hit);
    DT_TRUE(hit);
    r = same(DYN_EXPR_CONDITION, "#n = :v", "#n=b", ":v=S:y", &hit);
    DT_TRUE(!hit);
    DT_EQ_INT(eval(r.e, "b=S:y"), 1);
    DT_EQ_INT(eval(r.e, "a=S:y"), 0);
    r = same(DYN_EXPR_CONDITION, "#n = :v", "#n=a", ":v=S:y", &hit);
    DT_EQ_INT(eval(r.e, "a=S:y"), 1);
    /* the same text naming a reserved word through one mapping and not another */
    same(DYN_EXPR_PROJECTION, "#n, b", "#n=b", NULL, &hit);
    same(DYN_EXPR_PROJECTION, "#n, b", "#n=c", NULL, &hit);
    same(DYN_EXPR_PROJECTION, "#n, b", "#n=b", NULL, &hit);
    DT_TRUE(!hit);   /* an overlap error is never cached */
    same(DYN_EXPR_UPDATE, "SET #n = :v, c = :v", "#n=b", ":v=N:1", NULL);
    same(DYN_EXPR_UPDATE, "SET #n = :v, c = :v", "#n=c", ":v=N:1", NULL);
    same(DYN_EXPR_UPDATE, "SET #n = :v, c = :v", "#n=c.d", ":v=N:1", &hit);
    DT_TRUE(!hit);
}

static void
test_value_types(void)
{
    result r;
    bool hit;

    dyn_expr_cache_clear();
    same(DYN_EXPR_CONDITION, "begins_with(a, :v)", NULL, ":v=S:x", NULL);
    r = same(DYN_EXPR_CONDITION, "begins_with(a, :v)", NULL, ":v=N:1", &hit);
    DT_TRUE(!hit);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: Incorrect operand type for operator or "
                     "function; operator or function: begins_with, operand type: N");
    r = same(DYN_EXPR_CONDITION, "begins_with(a, :v)", NULL, ":v=B:x", &hit);
    DT_TRUE(!hit);   /* B is fine, but another type: another entry */
    r = same(DYN_EXPR_CONDITION, "begins_with(a, :v)", NULL, ":v=S:xy", &hit);
    DT_TRUE(hit);
    DT_EQ_INT(eval(r.e, "a=S:xyz"), 1);
    DT_EQ_INT(eval(r.e, "a=S:x"), 0);
    same(DYN_EXPR_UPDATE, "SET a = b + :v", NULL, ":v=N:1", NULL);
    r = same(DYN_EXPR_UPDATE, "SET a = b + :v", NULL, ":v=S:1", NULL);
    DT_EQ_STR(r.msg, "Invalid UpdateExpression: Incorrect operand type for operator or function; "
                     "operator or function: +, operand type: S");
    same(DYN_EXPR_UPDATE, "ADD s :v", NULL, ":v=N:1", NULL);
    r = same(DYN_EXPR_UPDATE, "ADD s :v", NULL, ":v=S:1", NULL);
    DT_EQ_STR(r.msg, "Invalid UpdateExpression: Incorrect operand type for operator or function; "
                     "operator: ADD, operand type: STRING");
    same(DYN_EXPR_CONDITION, "size(:v) > a", NULL, ":v=S:abc", NULL);
    r = same(DYN_EXPR_CONDITION, "size(:v) > a", NULL, ":v=N:1", NULL);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: Incorrect operand type for operator or "
                     "function; operator or function: size, operand type: N");
}

static void
test_undefined_and_unused(void)
{
    const char *text = "a = :v AND #n = :w";
    result r;
    bool hit;

    dyn_expr_cache_clear();
    same(DYN_EXPR_CONDITION, text, "#n=x", ":v=S:1,:w=S:2", NULL);
    r = same(DYN_EXPR_CONDITION, text, "#n=x", ":v=S:1", &hit);
    DT_TRUE(!hit);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: An expression attribute value used in "
                     "expression is not defined; attribute value: :w");
    r = same(DYN_EXPR_CONDITION, text, "#n=x", NULL, NULL);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: An expression attribute value used in "
                     "expression is not defined; attribute value: :v");
    r = same(DYN_EXPR_CONDITION, text, NULL, ":v=S:1,:w=S:2", NULL);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: An expression attribute name used in the "
                     "document path is not defined; attribute name: #n");
    r = same(DYN_EXPR_CONDITION, text, "#m=x", ":v=S:1", NULL);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: An expression attribute name used in the "
                     "document path is not defined; attribute name: #n");
    /* update words the two apart and reports names first */
    same(DYN_EXPR_UPDATE, "SET #n = :v, b = :w", "#n=a", ":v=S:1,:w=S:2", NULL);
    r = same(DYN_EXPR_UPDATE, "SET #n = :v, b = :w", "#m=a", ":v=S:1", NULL);
    DT_EQ_STR(r.msg, "Invalid UpdateExpression: An expression attribute name used in the "
                     "document path is not defined; attribute name: #n");
    r = same(DYN_EXPR_UPDATE, "SET #n = :v, b = :w", "#n=a", ":v=S:1", NULL);
    DT_EQ_STR(r.msg, "Invalid UpdateExpression: An expression attribute value used in "
                     "expression is not defined; attribute value: :w");
    /* unused placeholders on a hit */
    r = same(DYN_EXPR_CONDITION, text, "#n=x,#z=q", ":v=S:1,:w=S:2", &hit);
    DT_TRUE(hit);
    DT_EQ_STR(r.msg, "Value provided in ExpressionAttributeNames unused in expressions: keys: "
                     "{#z}");
    r = same(DYN_EXPR_CONDITION, text, "#n=x", ":v=S:1,:w=S:2,:z=N:3,:y=S:4", &hit);
    DT_TRUE(hit);
    DT_EQ_STR(r.msg, "Value provided in ExpressionAttributeValues unused in expressions: keys: "
                     "{:z, :y}");
    /* a key twice: the one the parser's lookup finds is bound and marked, scan or bsearch */
    same(DYN_EXPR_CONDITION, "a = :v", NULL, ":v=S:1,:v=S:2", NULL);
    r = same(DYN_EXPR_CONDITION, "a = :v", NULL, ":w=S:0,:v=S:2,:v=S:1", &hit);
    DT_TRUE(hit);
    DT_EQ_INT(eval(r.e, "a=S:2"), 1);
    same(DYN_EXPR_CONDITION, "a = :v", NULL,
         ":a=S:1,:b=S:1,:c=S:1,:d=S:1,:e=S:1,:f=S:1,:g=S:1,:v=S:3,:v=S:4", NULL);
    same(DYN_EXPR_CONDITION, "a = :v", NULL,
         ":v=S:4,:v=S:3,:a=S:1,:b=S:1,:c=S:1,:d=S:1,:e=S:1,:f=S:1,:g=S:1", NULL);
    same(DYN_EXPR_CONDITION, "#n = :v", "#n=x,#n=y", ":v=S:1", NULL);
    same(DYN_EXPR_CONDITION, "#n = :v", "#n=y,#n=x", ":v=S:1", NULL);
    /* more than eight placeholders: looked up through the sorted index */
    r = same(DYN_EXPR_CONDITION, text, "#a=1,#b=2,#c=3,#d=4,#e=5,#f=6,#g=7,#h=8,#n=x",
             ":a=S:1,:b=S:1,:c=S:1,:d=S:1,:e=S:1,:f=S:1,:g=S:1,:v=S:1,:w=S:2", &hit);
    DT_TRUE(hit);
}

/* A name that maps to nothing (no client sends one; the parser puts a list index there) is
 * parsed as before and not cached. */
static void
test_null_name(void)
{
    static const dyn_expr_name nv[] = { { "#n", NULL } };
    const Dyne__V1__AttributeValueMap *vals = map_of(&A, ":v=S:1");
    dyn_expr_cache_stats before, after;

    dyn_expr_cache_get_stats(&before);
    for (int i = 0; i < 2; i++) {
        result r = run_on(&A, DYN_EXPR_CONDITION, "#n = :v", nv, 1, vals);
        DT_OK(r.rc);
    }
    dyn_expr_cache_get_stats(&after);
    DT_EQ_INT(after.hits, before.hits);
    DT_EQ_INT(after.inserts, before.inserts);
}

static void
test_value_contents(void)
{
    result r;
    bool hit;

    dyn_expr_cache_clear();
    /* BETWEEN compares its bounds at parse time */
    r = same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=N:1,:hi=N:2", NULL);
    DT_EQ_INT(eval(r.e, "a=N:1.5"), 1);
    r = same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=N:3,:hi=N:2", &hit);
    DT_TRUE(!hit);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: The BETWEEN operator requires upper bound to "
                     "be greater than or equal to lower bound; lower bound operand: "
                     "AttributeValue: {N:3}, upper bound operand: AttributeValue: {N:2}");
    r = same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=N:2,:hi=N:20", &hit);
    DT_TRUE(hit);
    DT_EQ_INT(eval(r.e, "a=N:1.5"), 0);
    DT_EQ_INT(eval(r.e, "a=N:3"), 1);
    r = same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=N:x,:hi=N:2", &hit);
    DT_TRUE(hit);   /* an unparsable number is not compared; evaluating it is an error */
    DT_EQ_INT(eval(r.e, "a=N:1"), -(int)DYN_EINTERNAL);
    same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=S:a,:hi=S:b", NULL);
    r = same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=S:b,:hi=S:a", NULL);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: The BETWEEN operator requires upper bound to "
                     "be greater than or equal to lower bound; lower bound operand: "
                     "AttributeValue: {S:b}, upper bound operand: AttributeValue: {S:a}");
    same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=B:a,:hi=B:b", NULL);
    same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=B:b,:hi=B:a", NULL);
    same(DYN_EXPR_CONDITION, "a BETWEEN :lo AND :hi", NULL, ":lo=S:b,:hi=N:1", NULL);
    /* attribute_type reads the type name out of its value */
    r = same(DYN_EXPR_CONDITION, "attribute_type(a, :t)", NULL, ":t=S:S", NULL);
    DT_EQ_INT(eval(r.e, "a=S:x"), 1);
    r = same(DYN_EXPR_CONDITION, "attribute_type(a, :t)", NULL, ":t=S:N", &hit);
    DT_TRUE(hit);
    DT_EQ_INT(eval(r.e, "a=S:x"), 0);
    DT_EQ_INT(eval(r.e, "a=N:1"), 1);
    r = same(DYN_EXPR_CONDITION, "attribute_type(a, :t)", NULL, ":t=S:XX", &hit);
    DT_TRUE(!hit);
    DT_EQ_STR(r.msg, "Invalid ConditionExpression: Invalid attribute type name found; type: XX, "
                     "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}");
    /* numbers are parsed per request */
    r = same(DYN_EXPR_CONDITION, "a = :v OR a IN (:w, :v)", NULL, ":v=N:1,:w=N:7", NULL);
    DT_EQ_INT(eval(r.e, "a=N:1.0"), 1);
    r = same(DYN_EXPR_CONDITION, "a = :v OR a IN (:w, :v)", NULL, ":v=N:2,:w=N:7", &hit);
    DT_TRUE(hit);
    DT_EQ_INT(eval(r.e, "a=N:1"), 0);
    DT_EQ_INT(eval(r.e, "a=N:7"), 1);
}

static void
test_update_and_key_condition(void)
{
    static const char *const keys[2] = { "pk", NULL };
    Dyne__V1__AttributeValueMap *out;
    dyn_expr_key_cond kc;
    const char *msg;
    result r;
    bool hit;

    dyn_expr_cache_clear();
    for (int i = 0; i < 2; i++) {
        r = same(DYN_EXPR_UPDATE, "SET a = a + :v, b = :s REMOVE c", NULL,
                 i ? ":v=N:-5,:s=S:two" : ":v=N:10,:s=S:one", &hit);
        DT_TRUE(hit == (i == 1));
        DT_OK(dyn_expr_apply_update(r.e, map_of(&A, "a=N:1,c=S:x"), keys, &A, &out, &msg));
        DT_EQ_INT(out->n_values, 2);
        DT_EQ_STR(out->values[0]->value->n, i ? "-4" : "11");
        DT_EQ_STR(out->values[1]->value->s, i ? "two" : "one");
    }
    r = same(DYN_EXPR_UPDATE, "SET a = a + :v, b = :s REMOVE c", NULL, ":v=N:1e999,:s=S:x",
             &hit);
    DT_TRUE(hit);   /* a malformed number fails where the parser's tree fails: when applied */
    DT_ERR(dyn_expr_apply_update(r.e, map_of(&A, "a=N:1"), keys, &A, &out, &msg),
           DYN_EVALIDATION);
    for (int i = 0; i < 2; i++) {
        r = same(DYN_EXPR_KEY_CONDITION, "pk = :p AND sk BETWEEN :a AND :b", NULL,
                 i ? ":p=S:q,:a=N:3,:b=N:4" : ":p=S:p,:a=N:1,:b=N:2", &hit);
        DT_OK(dyn_expr_key_condition(r.e, "pk", 'S', "sk", 'N', &A, &kc, &msg));
        DT_EQ_STR(kc.pk->s, i ? "q" : "p");
        DT_EQ_STR(kc.sk_lo->n, i ? "3" : "1");
        DT_EQ_STR(kc.sk_hi->n, i ? "4" : "2");
    }
    DT_TRUE(hit);
}

static void
test_eviction(void)
{
    dyn_expr_cache_stats st;
    char text[64];
    bool hit;

    dyn_expr_cache_set_limits(8, 1u << 20);
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "a%d = :v", i);
        same(DYN_EXPR_CONDITION, text, NULL, ":v=N:1", NULL);
    }
    dyn_expr_cache_get_stats(&st);
    DT_EQ_INT(st.entries, 8);
    DT_EQ_INT(st.evictions, 92);
    for (int i = 0; i < 100; i += 7) {   /* evicted or not, the same answers */
        snprintf(text, sizeof text, "a%d = :v", i);
        same(DYN_EXPR_CONDITION, text, NULL, ":v=N:2", NULL);
    }
    /* bytes bound the cache too */
    dyn_expr_cache_set_limits(512, 16384);
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "a%d.b.c = :v AND b%d IN (:v, :v)", i, i);
        same(DYN_EXPR_CONDITION, text, NULL, ":v=N:1", NULL);
        dyn_expr_cache_get_stats(&st);
        DT_TRUE(st.bytes <= 16384);
    }
    DT_TRUE(st.entries > 1 && st.entries < 100);
    /* an expression bigger than a quarter of the bytes is not kept */
    dyn_expr_cache_set_limits(512, 1024);
    same(DYN_EXPR_CONDITION, "a.b.c.d.e.f.g.h = :v", NULL, ":v=N:1", NULL);
    same(DYN_EXPR_CONDITION, "a.b.c.d.e.f.g.h = :v", NULL, ":v=N:1", &hit);
    DT_TRUE(!hit);
    /* CLOCK keeps what is bound between the evictions */
    dyn_expr_cache_set_limits(4, 1u << 20);
    same(DYN_EXPR_CONDITION, "hot = :v", NULL, ":v=N:1", NULL);
    for (int i = 0; i < 50; i++) {
        snprintf(text, sizeof text, "cold%d = :v", i);
        same(DYN_EXPR_CONDITION, text, NULL, ":v=N:1", NULL);
        same(DYN_EXPR_CONDITION, "hot = :v", NULL, ":v=N:1", &hit);
        if (!hit)
            DT_FAIL_("hot entry evicted after %d cold ones", i + 1);
    }
    dyn_expr_cache_set_limits(512, 4u << 20);
}

static void
test_disabled(void)
{
    dyn_expr_cache_stats before, after;

    dyn_expr_cache_enable(false);
    dyn_expr_cache_get_stats(&before);
    run(&A, DYN_EXPR_CONDITION, "a = :v", NULL, ":v=N:1");
    run(&A, DYN_EXPR_CONDITION, "a = :v", NULL, ":v=N:1");
    dyn_expr_cache_get_stats(&after);
    DT_EQ_INT(after.hits + after.misses, before.hits + before.misses);
    dyn_expr_cache_enable(true);
}

/* The same on a small arena: whatever fails, fails with DYN_ENOMEM both ways. */
static void
test_arena_exhaustion(void)
{
    static const char text[] = "a.b.c.d = :v AND e.f.g.h = :v AND i.j.k.l = :v";
    dyn_arena small;
    dyn_expr_ctx ctx;
    const char *msg;
    dyn_expr *e;

    same(DYN_EXPR_CONDITION, text, NULL, ":v=N:1", NULL);
    for (int pass = 0; pass < 2; pass++) {
        dyn_expr_cache_enable(pass == 1);
        dyn_arena_init(&small, 1024);
        DT_OK(dyn_expr_ctx_init(&ctx, NULL, 0, map_of(&A, ":v=N:1"), &small, &msg));
        DT_ERR(dyn_expr_parse(&ctx, DYN_EXPR_CONDITION, text, sizeof text - 1, &e, &msg),
               DYN_ENOMEM);
        dyn_arena_fini(&small);
    }
    dyn_expr_cache_enable(true);
}

/* ---- threads ---- */

typedef struct worker {
    int id;
    dyn_expr *tree;     /* in: a tree another thread parsed; evaluated here */
    int failures;
    uint64_t hits;
} worker;

static const char *const texts[] = {   /* n = 5 is true for :v = 5, 5 or more, 5 or less, 5 */
    "n = :v AND n > :lo",
    "n BETWEEN :lo AND :v",
    "attribute_exists(n) AND NOT n < :v AND :lo < n",
    "n IN (:lo, :v) OR size(s) > :v",
};

/* Parses the texts with changing values, on its own arena, and checks each answer. */
static void *
worker_main(void *arg)
{
    worker *w = arg;
    dyn_arena a;
    char values[64];
    bool res;

    dyn_arena_init(&a, 1u << 20);
    if (w->id == 1)
        dyn_expr_cache_set_limits(2, 1u << 20);   /* this one evicts all the time */
    if (w->tree != NULL && (dyn_expr_eval_condition(w->tree, map_of(&a, "n=N:5"), &res) !=
                                DYN_OK ||
                            !res))
        w->failures++;
    for (int i = 0; i < 4000; i++) {
        int v = i % 10;
        const char *text = texts[i % 4];
        result r;
        bool want;
        snprintf(values, sizeof values, ":v=N:%d,:lo=N:0", v);
        r = run(&a, DYN_EXPR_CONDITION, text, NULL, values);
        want = i % 4 == 0 ? v == 5 : i % 4 == 1 ? 5 <= v : i % 4 == 2 ? 5 >= v : v == 5;
        if (r.rc != DYN_OK || strcmp(r.msg, "OK") != 0 ||
            dyn_expr_eval_condition(r.e, map_of(&a, "n=N:5,s=S:"), &res) != DYN_OK ||
            res != want)
            w->failures++;
        dyn_arena_reset(&a);
    }
    dyn_expr_cache_stats st;
    dyn_expr_cache_get_stats(&st);
    w->hits = st.hits;
    dyn_arena_fini(&a);
    return NULL;
}

static void
test_two_threads(void)
{
    worker w[2] = { { .id = 0 }, { .id = 1 } };
    pthread_t t[2];
    result r;

    /* a tree from this thread's cache, used by both after this thread dropped its cache */
    same(DYN_EXPR_CONDITION, "n = :v", NULL, ":v=N:5", NULL);
    r = same(DYN_EXPR_CONDITION, "n = :v", NULL, ":v=N:5", NULL);
    dyn_expr_cache_clear();
    w[0].tree = w[1].tree = r.e;
    for (int i = 0; i < 2; i++)
        DT_OK(pthread_create(&t[i], NULL, worker_main, &w[i]));
    for (int i = 0; i < 2; i++)
        DT_OK(pthread_join(t[i], NULL));
    DT_EQ_INT(w[0].failures, 0);
    DT_EQ_INT(w[1].failures, 0);
    DT_TRUE(w[0].hits > 3900);   /* 4 texts, all hits after the first parse of each */
    DT_EQ_INT(eval(r.e, "n=N:5"), 1);
}

static void *
env_worker(void *arg)
{
    dyn_expr_cache_stats st;
    dyn_arena a;

    dyn_arena_init(&a, 1u << 20);
    run(&a, DYN_EXPR_CONDITION, "env = :v", NULL, ":v=N:1");
    run(&a, DYN_EXPR_CONDITION, "env = :v", NULL, ":v=N:1");
    dyn_expr_cache_get_stats(&st);
    *(uint64_t *)arg = st.hits + st.misses + st.entries;
    dyn_arena_fini(&a);
    return NULL;
}

/* DYN_EXPR_CACHE=0 turns the cache off in threads that start parsing after it is set. */
static void
test_env_off(void)
{
    uint64_t used = 99;
    pthread_t t;

    setenv("DYN_EXPR_CACHE", "0", 1);
    DT_OK(pthread_create(&t, NULL, env_worker, &used));
    DT_OK(pthread_join(t, NULL));
    unsetenv("DYN_EXPR_CACHE");
    DT_EQ_INT(used, 0);
}

static void
setup(void)
{
    dyn_arena_init(&A, (size_t)1 << 30);
}

DT_MAIN({ "setup", setup }, { "hit counts", test_hit_counts },
        { "name mappings", test_name_mappings }, { "value types", test_value_types },
        { "undefined and unused placeholders", test_undefined_and_unused },
        { "null name", test_null_name }, { "value contents", test_value_contents },
        { "update and key condition", test_update_and_key_condition },
        { "eviction", test_eviction }, { "disabled", test_disabled },
        { "arena exhaustion", test_arena_exhaustion }, { "two threads", test_two_threads },
        { "environment", test_env_off })
