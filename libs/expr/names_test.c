/* libs/expr tests: dyn_expr_top_names, the attributes an expression touches. */
#include <string.h>

#include "libs/arena/arena.h"
#include "libs/expr/expr.h"
#include "libs/testing/dyn_test.h"

static dyn_arena A;

/* Parses text as kind with the names #n -> "n1" and the value :v, then lists its top names
 * joined by ','. */
static const char *
top(dyn_expr_kind kind, const char *text)
{
    static char out[256];
    dyn_expr_name names[] = { { "#n", "n1" } };
    Dyne__V1__AttributeValue v = DYNE__V1__ATTRIBUTE_VALUE__INIT;
    Dyne__V1__AttributeValueMap__ValuesEntry e = DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
    Dyne__V1__AttributeValueMap__ValuesEntry *ep = &e;
    Dyne__V1__AttributeValueMap vals = DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
    dyn_expr_ctx ctx;
    dyn_expr *x = NULL;
    const char *msg = NULL, **got;
    size_t n;

    v.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
    v.n = "1";
    e.key = ":v";
    e.value = &v;
    vals.n_values = 1;
    vals.values = &ep;
    dyn_arena_reset(&A);
    if (dyn_expr_ctx_init(&ctx, names, 1, &vals, &A, &msg) != DYN_OK ||
        dyn_expr_parse(&ctx, kind, text, strlen(text), &x, &msg) != DYN_OK ||
        dyn_expr_top_names(x, &A, &got, &n) != DYN_OK)
        return msg ? msg : "error";
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(out, ",");
        strcat(out, got[i]);
    }
    return out;
}

static void
test_filter_names(void)
{
    DT_EQ_STR(top(DYN_EXPR_FILTER, "a.b[2] = :v AND (size(c) > :v OR attribute_exists(#n))"),
              "a,c,n1");
    DT_EQ_STR(top(DYN_EXPR_FILTER, "a BETWEEN :v AND b OR NOT a IN (:v, d)"), "a,b,d");
}

static void
test_projection_and_update_names(void)
{
    DT_EQ_STR(top(DYN_EXPR_PROJECTION, "x.y, l[1], x.z, #n"), "x,l,n1");
    DT_EQ_STR(top(DYN_EXPR_UPDATE, "SET a = b + :v, c = if_not_exists(d, :v) REMOVE e"),
              "a,b,c,d,e");
}

static void
test_none(void)
{
    const char **got;
    size_t n = 9;
    DT_OK(dyn_expr_top_names(NULL, &A, &got, &n));
    DT_EQ_INT(n, 0);
}

static void
setup(void)
{
    dyn_arena_init(&A, 1u << 20);
}

DT_MAIN({ "setup", setup }, { "filter names", test_filter_names },
        { "projection and update names", test_projection_and_update_names },
        { "no expression", test_none })
