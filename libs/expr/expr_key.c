/* libs/expr KeyConditionExpression: the shape checks DynamoDB makes before it looks at the
 * table (dynalite's convertKeyCondition messages), then the key-schema checks of Query. */
#include "libs/expr/expr_int.h"

#include <string.h>

typedef struct key_cond {
    const char *attr;
    int op;   /* dyn_expr_key_op */
    const expr_av *v1, *v2;
} key_cond;

typedef struct key_walk {
    key_cond conds[3];   /* a third one is already an error */
    int n;
    const char *msg;
} key_walk;

static const char *const upper_kind[] = {
    [N_OR] = "OR", [N_NOT] = "NOT", [N_IN] = "IN",
};

static bool
walk(key_walk *w, const expr_node *n, dyn_arena *a)
{
    const char *attr = NULL;
    uint32_t attr_ix = 0;

    if (n->kind == N_OR || n->kind == N_NOT || n->kind == N_IN) {
        w->msg = dyn_arena_printf(a, "Invalid operator used in KeyConditionExpression: %s",
                                  upper_kind[n->kind]);
        return false;
    }
    if (n->kind == N_CMP && n->op == C_NE) {
        w->msg = "Invalid operator used in KeyConditionExpression: <>";
        return false;
    }
    if (n->kind == N_FUNC) {
        if (n->op == F_SIZE) {
            w->msg = "KeyConditionExpressions cannot contain nested operations";
            return false;
        }
        if (n->op != F_BEGINS_WITH) {
            w->msg = dyn_arena_printf(a, "Invalid operator used in KeyConditionExpression: %s",
                                      n->name);
            return false;
        }
    }
    if ((n->kind == N_BETWEEN || n->kind == N_FUNC) && n->args[0]->kind != N_PATH) {
        w->msg = dyn_arena_printf(a,
                                  "Invalid condition in KeyConditionExpression: %s operator must "
                                  "have the key attribute as its first operand",
                                  n->kind == N_BETWEEN ? "BETWEEN" : n->name);
        return false;
    }
    for (uint32_t i = 0; i < n->n_args; i++) {
        const expr_node *arg = n->args[i];
        if (arg->kind == N_PATH) {
            if (attr != NULL) {
                w->msg = "Invalid condition in KeyConditionExpression: Multiple attribute names "
                         "used in one condition";
                return false;
            }
            if (arg->path.n > 1) {
                w->msg = "KeyConditionExpressions cannot have conditions on nested attributes";
                return false;
            }
            attr = arg->path.elems[0].name;
            attr_ix = i;
        } else if (arg->kind != N_VALUE && !walk(w, arg, a)) {
            return false;
        }
    }
    if (n->kind == N_AND)
        return true;
    if (attr == NULL) {
        w->msg = "Invalid condition in KeyConditionExpression: No key attribute specified";
        return false;
    }
    for (int i = 0; i < w->n; i++) {
        if (strcmp(w->conds[i].attr, attr) == 0) {
            w->msg = "KeyConditionExpressions must only contain one condition per key";
            return false;
        }
    }
    if (w->n == 3) {
        w->msg = "Conditions can be of length 1 or 2 only";
        return false;
    }
    key_cond *c = &w->conds[w->n++];
    c->attr = attr;
    if (n->kind == N_BETWEEN) {
        c->op = DYN_EXPR_KEY_BETWEEN;
        c->v1 = n->args[1]->value;
        c->v2 = n->args[2]->value;
    } else if (n->kind == N_FUNC) {
        c->op = DYN_EXPR_KEY_BEGINS_WITH;
        c->v1 = n->args[1]->value;
    } else {
        /* ":v < sk" is "sk > :v" */
        static const int same[] = { [C_EQ] = DYN_EXPR_KEY_EQ, [C_LT] = DYN_EXPR_KEY_LT,
                                    [C_LE] = DYN_EXPR_KEY_LE, [C_GT] = DYN_EXPR_KEY_GT,
                                    [C_GE] = DYN_EXPR_KEY_GE };
        static const int flip[] = { [C_EQ] = DYN_EXPR_KEY_EQ, [C_LT] = DYN_EXPR_KEY_GT,
                                    [C_LE] = DYN_EXPR_KEY_GE, [C_GT] = DYN_EXPR_KEY_LT,
                                    [C_GE] = DYN_EXPR_KEY_LE };
        c->op = attr_ix == 0 ? same[n->op] : flip[n->op];
        c->v1 = n->args[attr_ix == 0 ? 1 : 0]->value;
    }
    return true;
}

static bool
type_ok(const expr_av *v, char type)
{
    if (v == NULL)
        return true;
    switch (type) {
    case 'S': return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
    case 'N': return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
    case 'B': return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
    default: return true;
    }
}

dyn_err
dyn_expr_key_condition(const dyn_expr *e, const char *pk_name, char pk_type, const char *sk_name,
                       char sk_type, dyn_arena *a, dyn_expr_key_cond *out, const char **msg)
{
    key_walk w = { .n = 0 };
    const key_cond *pk = NULL, *sk = NULL;

    memset(out, 0, sizeof *out);
    *msg = NULL;
    if (e == NULL || e->cond == NULL)
        return DYN_EINTERNAL;
    if (!walk(&w, e->cond, a))
        goto invalid;
    if (w.n > 2) {
        w.msg = "Conditions can be of length 1 or 2 only";
        goto invalid;
    }
    for (int i = 0; i < w.n; i++) {
        if (strcmp(w.conds[i].attr, pk_name) == 0)
            pk = &w.conds[i];
        else if (sk_name && strcmp(w.conds[i].attr, sk_name) == 0)
            sk = &w.conds[i];
    }
    if (pk == NULL) {
        w.msg = dyn_arena_printf(a, "Query condition missed key schema element: %s", pk_name);
        goto invalid;
    }
    if (pk->op != DYN_EXPR_KEY_EQ) {
        w.msg = "Query key condition not supported";
        goto invalid;
    }
    if (w.n == 2 && sk == NULL) {
        /* the second condition names something that is not the sort key */
        w.msg = sk_name ? dyn_arena_printf(a, "Query condition missed key schema element: %s",
                                           sk_name)
                        : "Query key condition not supported";
        goto invalid;
    }
    if (!type_ok(pk->v1, pk_type) ||
        (sk && (!type_ok(sk->v1, sk_type) || !type_ok(sk->v2, sk_type)))) {
        w.msg = "One or more parameter values were invalid: Condition parameter type does not "
                "match schema type";
        goto invalid;
    }
    out->pk = pk->v1;
    if (sk) {
        out->sk_op = (dyn_expr_key_op)sk->op;
        out->sk_lo = sk->v1;
        out->sk_hi = sk->v2;
    }
    return DYN_OK;
invalid:
    *msg = w.msg;
    return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
}
