/* libs/expr legacy parameters: Expected, KeyConditions, QueryFilter/ScanFilter, AttributeUpdates
 * and AttributesToGet validated with DynamoDB's messages and turned into the trees the expression
 * parser builds, plus the expression/non-expression mixing check. */
#include "libs/expr/expr_int.h"

#include <stdarg.h>
#include <string.h>

#define INVALID "One or more parameter values were invalid: "
#define ENUM_COMPARISON                                                                        \
    "[IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"

typedef enum {
    OP_EQ,
    OP_NE,
    OP_LE,
    OP_LT,
    OP_GE,
    OP_GT,
    OP_NOT_NULL,
    OP_NULL,
    OP_CONTAINS,
    OP_NOT_CONTAINS,
    OP_BEGINS_WITH,
    OP_IN,
    OP_BETWEEN,
    OP__COUNT
} legacy_op;

static const char *const op_names[OP__COUNT] = {
    [OP_EQ] = "EQ",
    [OP_NE] = "NE",
    [OP_LE] = "LE",
    [OP_LT] = "LT",
    [OP_GE] = "GE",
    [OP_GT] = "GT",
    [OP_NOT_NULL] = "NOT_NULL",
    [OP_NULL] = "NULL",
    [OP_CONTAINS] = "CONTAINS",
    [OP_NOT_CONTAINS] = "NOT_CONTAINS",
    [OP_BEGINS_WITH] = "BEGINS_WITH",
    [OP_IN] = "IN",
    [OP_BETWEEN] = "BETWEEN",
};

#define TB(vc) (1u << DYNE__V1__ATTRIBUTE_VALUE__VALUE_##vc)
#define T_SNB (TB(S) | TB(N) | TB(B))
#define T_ALL (T_SNB | TB(BOOL) | TB(NULL) | TB(L) | TB(M) | TB(SS) | TB(NS) | TB(BS))

/* The value types each operator accepts in its AttributeValueList. EQ/NE take any type (AWS:
 * "supported for all data types, including lists and maps"); CONTAINS takes scalars, as
 * DynamoDB Local does; the rest are dynalite's AWS-verified lists. */
static const unsigned op_types[OP__COUNT] = {
    [OP_EQ] = T_ALL,
    [OP_NE] = T_ALL,
    [OP_LE] = T_SNB,
    [OP_LT] = T_SNB,
    [OP_GE] = T_SNB,
    [OP_GT] = T_SNB,
    [OP_NOT_NULL] = T_ALL,
    [OP_NULL] = T_ALL,
    [OP_CONTAINS] = T_SNB | TB(BOOL) | TB(NULL),
    [OP_NOT_CONTAINS] = T_SNB | TB(BOOL) | TB(NULL),
    [OP_BEGINS_WITH] = TB(S) | TB(B),
    [OP_IN] = T_SNB,
    [OP_BETWEEN] = T_SNB,
};

/* One condition, whatever parameter it came from. */
typedef struct lcond {
    const char *name;
    legacy_op op;
    const expr_av *const *vals;   /* borrowed */
    size_t n_vals;
} lcond;

typedef struct lctx {
    dyn_arena *a;
    const char *msg;
} lctx;

static dyn_err fail(lctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static dyn_err
fail(lctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    c->msg = dyn_arena_vprintf(c->a, fmt, ap);
    va_end(ap);
    return c->msg ? DYN_EVALIDATION : DYN_ENOMEM;
}

static int
parse_op(const char *s)
{
    for (int i = 0; s != NULL && i < OP__COUNT; i++)
        if (strcmp(s, op_names[i]) == 0)
            return i;
    return -1;
}

/* DynamoDB's constraint messages name a member with its first letter lowered. */
static char *
lower_first(dyn_arena *a, const char *param)
{
    char *s = dyn_arena_strdup(a, param);
    if (s != NULL && s[0] >= 'A' && s[0] <= 'Z')
        s[0] = (char)(s[0] - 'A' + 'a');
    return s;
}

static dyn_err
check_conditional_operator(lctx *c, const char *cop, bool *is_or)
{
    *is_or = false;
    if (cop == NULL || strcmp(cop, "AND") == 0)
        return DYN_OK;
    if (strcmp(cop, "OR") == 0) {
        *is_or = true;
        return DYN_OK;
    }
    return fail(c,
                "1 validation error detected: Value '%s' at 'conditionalOperator' failed to "
                "satisfy constraint: Member must satisfy enum value set: [OR, AND]",
                cop);
}

/* ConditionalOperator needs two conditions to join; checked after the conditions themselves. */
static dyn_err
check_conditional_count(lctx *c, const char *cop, size_t n)
{
    if (cop == NULL || n >= 2)
        return DYN_OK;
    if (n == 0)
        return fail(c, "ConditionalOperator cannot be used without Filter or Expected");
    return fail(c, "ConditionalOperator can only be used when Filter or Expected has two or more "
                   "elements");
}

/* Reads a generated map entry: its string "key" and its message "value" of type want. */
static bool
entry_kv(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *want, const char **key,
         const ProtobufCMessage **val)
{
    const ProtobufCFieldDescriptor *fk, *fv;

    if (m == NULL || m->descriptor == NULL)
        return false;
    fk = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "key");
    fv = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "value");
    if (fk == NULL || fv == NULL || fk->type != PROTOBUF_C_TYPE_STRING ||
        fv->type != PROTOBUF_C_TYPE_MESSAGE || fv->descriptor != want)
        return false;
    *key = *(char *const *)(const void *)((const char *)m + fk->offset);
    *val = *(ProtobufCMessage *const *)(const void *)((const char *)m + fv->offset);
    return *key != NULL;
}

static dyn_err
check_number(lctx *c, const expr_av *v)
{
    dyn_num num;
    const char *m = NULL;

    if (v->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_N)
        return DYN_OK;
    if (v->n != NULL && dyn_num_parse(v->n, strlen(v->n), &num, &m) == DYN_OK)
        return DYN_OK;
    if (v->n == NULL || v->n[0] == '\0' || m == NULL)
        return fail(c, "%s", DYN_NUM_MSG_NOT_NUMERIC);
    if (strcmp(m, DYN_NUM_MSG_NOT_NUMERIC) == 0)
        return fail(c, "%s: %s", m, v->n);
    return fail(c, "%s", m);
}

/* The checks both Expected (with a ComparisonOperator) and Condition get once the argument
 * count is right: same types, types valid for the operator, BETWEEN bounds in order. */
static dyn_err
check_values(lctx *c, const lcond *lc, bool list)
{
    dyn_err rc;

    for (size_t i = 0; i < lc->n_vals; i++)
        if ((rc = check_number(c, lc->vals[i])) != DYN_OK)
            return rc;
    if (lc->n_vals == 0)
        return DYN_OK;
    if (list) {
        for (size_t i = 1; i < lc->n_vals; i++)
            if (lc->vals[i]->value_case != lc->vals[0]->value_case)
                return fail(c, INVALID "AttributeValues inside AttributeValueList must be of "
                                       "same type");
    }
    for (size_t i = 0; i < lc->n_vals; i++) {
        int vc = (int)lc->vals[i]->value_case;
        if (vc <= 0 || vc > 31 || !(op_types[lc->op] & (1u << vc)))
            return fail(c, INVALID "ComparisonOperator %s is not valid for %s AttributeValue type",
                        op_names[lc->op], expr_type_name(vc));
    }
    if (lc->op == OP_BETWEEN) {
        expr_ev lo, hi;
        bool ok;
        if (!expr_ev_from_av(lc->vals[0], &lo) || !expr_ev_from_av(lc->vals[1], &hi))
            return fail(c, "%s", DYN_NUM_MSG_NOT_NUMERIC);
        if (expr_ev_cmp(&lo, &hi, &ok) > 0 && ok)
            return fail(c, "The BETWEEN condition was provided a range where the lower bound is "
                           "greater than the upper bound");
    }
    return DYN_OK;
}

static bool
count_ok(legacy_op op, size_t n)
{
    switch (op) {
    case OP_NULL:
    case OP_NOT_NULL: return n == 0;
    case OP_IN: return n > 0;
    case OP_BETWEEN: return n == 2;
    default: return n == 1;
    }
}

/* dynalite's validateConditions for one Condition (QueryFilter, ScanFilter, KeyConditions). */
static dyn_err
check_condition(lctx *c, const lcond *lc)
{
    if (!count_ok(lc->op, lc->n_vals))
        return fail(c, INVALID "Invalid number of argument(s) for the %s ComparisonOperator",
                    op_names[lc->op]);
    return check_values(c, lc, true);
}

/* ---- tree building ---- */

static expr_node *
new_node(dyn_arena *a, expr_node_kind kind, int op, uint32_t n_args)
{
    expr_node *n = dyn_arena_zalloc(a, sizeof *n);

    if (n == NULL)
        return NULL;
    n->kind = (uint8_t)kind;
    n->op = (uint8_t)op;
    n->n_args = n_args;
    if (n_args > 0 && (n->args = dyn_arena_zalloc(a, n_args * sizeof *n->args)) == NULL)
        return NULL;
    return n;
}

static expr_node *
path_node(dyn_arena *a, const char *name)
{
    expr_node *n = new_node(a, N_PATH, 0, 0);

    if (n == NULL || (n->path.elems = dyn_arena_zalloc(a, sizeof *n->path.elems)) == NULL)
        return NULL;
    n->path.n = 1;
    n->path.elems[0].name = name;
    return n;
}

static expr_node *
value_node(dyn_arena *a, const expr_av *v)
{
    expr_node *n = new_node(a, N_VALUE, 0, 0);

    if (n == NULL)
        return NULL;
    n->value = v;
    if (v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N && v->n != NULL)
        n->num_ok = dyn_num_parse(v->n, strlen(v->n), &n->num, NULL) == DYN_OK;
    return n;
}

static expr_node *
func_node(dyn_arena *a, expr_fn fn, const char *name, const char *attr, const expr_av *v)
{
    expr_node *n = new_node(a, N_FUNC, fn, v ? 2 : 1);

    if (n == NULL || (n->args[0] = path_node(a, attr)) == NULL)
        return NULL;
    if (v != NULL && (n->args[1] = value_node(a, v)) == NULL)
        return NULL;
    n->name = name;
    return n;
}

static expr_node *
binary_node(dyn_arena *a, expr_node_kind kind, expr_node *l, expr_node *r)
{
    expr_node *n;

    if (l == NULL || r == NULL || (n = new_node(a, kind, 0, 2)) == NULL)
        return NULL;
    n->args[0] = l;
    n->args[1] = r;
    return n;
}

/* The expression each legacy operator means. NOT_CONTAINS is false on a missing attribute (as
 * DynamoDB Local and the DAX client's translation have it); NE is true there (<>). */
static expr_node *
cond_node(dyn_arena *a, const lcond *lc)
{
    static const expr_cmp cmps[] = { [OP_EQ] = C_EQ, [OP_NE] = C_NE, [OP_LE] = C_LE,
                                     [OP_LT] = C_LT, [OP_GE] = C_GE, [OP_GT] = C_GT };
    expr_node *n;

    switch (lc->op) {
    case OP_EQ:
    case OP_NE:
    case OP_LE:
    case OP_LT:
    case OP_GE:
    case OP_GT:
        if ((n = new_node(a, N_CMP, cmps[lc->op], 2)) == NULL ||
            (n->args[0] = path_node(a, lc->name)) == NULL ||
            (n->args[1] = value_node(a, lc->vals[0])) == NULL)
            return NULL;
        return n;
    case OP_NOT_NULL:
        return func_node(a, F_ATTRIBUTE_EXISTS, "attribute_exists", lc->name, NULL);
    case OP_NULL:
        return func_node(a, F_ATTRIBUTE_NOT_EXISTS, "attribute_not_exists", lc->name, NULL);
    case OP_CONTAINS:
        return func_node(a, F_CONTAINS, "contains", lc->name, lc->vals[0]);
    case OP_NOT_CONTAINS: {
        expr_node *not = new_node(a, N_NOT, 0, 1);
        if (not == NULL ||
            (not->args[0] = func_node(a, F_CONTAINS, "contains", lc->name, lc->vals[0])) == NULL)
            return NULL;
        return binary_node(a, N_AND,
                           func_node(a, F_ATTRIBUTE_EXISTS, "attribute_exists", lc->name, NULL),
                           not);
    }
    case OP_BEGINS_WITH:
        return func_node(a, F_BEGINS_WITH, "begins_with", lc->name, lc->vals[0]);
    case OP_IN:
    case OP_BETWEEN:
        if ((n = new_node(a, lc->op == OP_IN ? N_IN : N_BETWEEN, 0, (uint32_t)lc->n_vals + 1)) ==
                NULL ||
            (n->args[0] = path_node(a, lc->name)) == NULL)
            return NULL;
        for (size_t i = 0; i < lc->n_vals; i++)
            if ((n->args[i + 1] = value_node(a, lc->vals[i])) == NULL)
                return NULL;
        return n;
    default:
        return NULL;
    }
}

/* Joins the conditions left to right with AND or OR into a tree of this kind. */
static dyn_err
build_condition(dyn_arena *a, dyn_expr_kind kind, const lcond *conds, size_t n, bool is_or,
                dyn_expr **out)
{
    dyn_expr *e = dyn_arena_zalloc(a, sizeof *e);
    expr_node *root = NULL;

    if (e == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        expr_node *c = cond_node(a, &conds[i]);
        if (c == NULL)
            return DYN_ENOMEM;
        root = root ? binary_node(a, is_or ? N_OR : N_AND, root, c) : c;
        if (root == NULL)
            return DYN_ENOMEM;
    }
    e->kind = kind;
    e->cond = root;
    e->legacy = true;
    *out = e;
    return DYN_OK;
}

/* ---- Expected ---- */

/* dynalite's validateAttributeConditions for one entry (AWS-verified order), then the type and
 * BETWEEN checks a Condition gets; fills *lc. */
static dyn_err
check_expected(lctx *c, const char *key, const Dyne__V1__ExpectedAttributeValue *ev, lcond *lc)
{
    bool has_value = ev->value != NULL, has_list = ev->n_attributevaluelist > 0;

    lc->name = key;
    if (has_list && has_value)
        return fail(c, INVALID "Value and AttributeValueList cannot be used together for "
                               "Attribute: %s",
                    key);
    if (ev->comparisonoperator != NULL) {
        lc->op = (legacy_op)parse_op(ev->comparisonoperator);
        if (ev->has_exists)
            return fail(c, INVALID "Exists and ComparisonOperator cannot be used together for "
                                   "Attribute: %s",
                        key);
        if (lc->op != OP_NULL && lc->op != OP_NOT_NULL && !has_list && !has_value)
            return fail(c, INVALID "Value or AttributeValueList must be used with "
                                   "ComparisonOperator: %s for Attribute: %s",
                        op_names[lc->op], key);
        if (has_value) {
            lc->vals = (const expr_av *const *)&ev->value;
            lc->n_vals = 1;
        } else {
            lc->vals = (const expr_av *const *)ev->attributevaluelist;
            lc->n_vals = ev->n_attributevaluelist;
        }
        if (!count_ok(lc->op, lc->n_vals))
            return fail(c, INVALID "Invalid number of argument(s) for the %s ComparisonOperator",
                        op_names[lc->op]);
        return check_values(c, lc, has_list);
    }
    if (has_list)
        return fail(c, INVALID "AttributeValueList can only be used with a ComparisonOperator "
                               "for Attribute: %s",
                    key);
    if ((!ev->has_exists || ev->exists) && !has_value)
        return fail(c, INVALID "Value must be provided when Exists is %s for Attribute: %s",
                    ev->has_exists ? "true" : "null", key);
    if (ev->has_exists && !ev->exists && has_value)
        return fail(c, INVALID "Value cannot be used when Exists is false for Attribute: %s", key);
    if (has_value) {
        lc->op = OP_EQ;   /* Exists true (or absent) with a Value: the attribute equals it */
        lc->vals = (const expr_av *const *)&ev->value;
        lc->n_vals = 1;
        return check_number(c, ev->value);
    }
    lc->op = OP_NULL;
    lc->n_vals = 0;
    return DYN_OK;
}

dyn_err
dyn_expr_from_expected(const ProtobufCMessage *const *entries, size_t n,
                       const char *conditional_operator, dyn_arena *a, dyn_expr **out,
                       const char **msg)
{
    static const Dyne__V1__ExpectedAttributeValue empty = DYNE__V1__EXPECTED_ATTRIBUTE_VALUE__INIT;
    lctx c = { .a = a };
    lcond *conds = NULL;
    const char **keys = NULL;
    const Dyne__V1__ExpectedAttributeValue **evs = NULL;
    bool is_or = false;
    dyn_err rc;

    *out = NULL;
    *msg = NULL;
    if (n == 0 && conditional_operator == NULL)
        return DYN_OK;
    if (n > 0 && ((conds = dyn_arena_zalloc(a, n * sizeof *conds)) == NULL ||
                  (keys = dyn_arena_zalloc(a, n * sizeof *keys)) == NULL ||
                  (evs = dyn_arena_zalloc(a, n * sizeof *evs)) == NULL)) {
        rc = DYN_ENOMEM;
        goto out;
    }
    /* constraint checks first: the enums */
    if ((rc = check_conditional_operator(&c, conditional_operator, &is_or)) != DYN_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *v;
        if (!entry_kv(entries[i], &dyne__v1__expected_attribute_value__descriptor, &keys[i], &v)) {
            rc = DYN_EINTERNAL;
            goto out;
        }
        evs[i] = v ? (const Dyne__V1__ExpectedAttributeValue *)v : &empty;
        if (evs[i]->comparisonoperator != NULL && parse_op(evs[i]->comparisonoperator) < 0) {
            char *param = lower_first(a, "Expected");
            rc = param ? fail(&c,
                              "1 validation error detected: Value '%s' at '%s.%s.member."
                              "comparisonOperator' failed to satisfy constraint: Member must "
                              "satisfy enum value set: " ENUM_COMPARISON,
                              evs[i]->comparisonoperator, param, keys[i])
                       : DYN_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = check_expected(&c, keys[i], evs[i], &conds[i])) != DYN_OK)
            goto out;
    if ((rc = check_conditional_count(&c, conditional_operator, n)) != DYN_OK)
        goto out;
    rc = build_condition(a, DYN_EXPR_CONDITION, conds, n, is_or, out);
out:
    if (rc == DYN_EVALIDATION)
        *msg = c.msg;
    return rc;
}

/* ---- Condition maps ---- */

/* Reads Condition entries into conds, after the constraint checks (a missing or unknown
 * ComparisonOperator). param: the request parameter, for messages. */
static dyn_err
read_conditions(lctx *c, const char *param, const ProtobufCMessage *const *entries, size_t n,
                lcond *conds)
{
    static const Dyne__V1__Condition empty = DYNE__V1__CONDITION__INIT;
    char *lparam = lower_first(c->a, param);

    if (lparam == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *v;
        const Dyne__V1__Condition *cond;
        const char *key;
        int op;
        if (!entry_kv(entries[i], &dyne__v1__condition__descriptor, &key, &v))
            return DYN_EINTERNAL;
        cond = v ? (const Dyne__V1__Condition *)v : &empty;
        if (cond->comparisonoperator == NULL)
            return fail(c,
                        "1 validation error detected: Value null at '%s.%s.member."
                        "comparisonOperator' failed to satisfy constraint: Member must not be "
                        "null",
                        lparam, key);
        if ((op = parse_op(cond->comparisonoperator)) < 0)
            return fail(c,
                        "1 validation error detected: Value '%s' at '%s.%s.member."
                        "comparisonOperator' failed to satisfy constraint: Member must satisfy "
                        "enum value set: " ENUM_COMPARISON,
                        cond->comparisonoperator, lparam, key);
        conds[i].name = key;
        conds[i].op = (legacy_op)op;
        conds[i].vals = (const expr_av *const *)cond->attributevaluelist;
        conds[i].n_vals = cond->n_attributevaluelist;
    }
    return DYN_OK;
}

dyn_err
dyn_expr_from_filter(const char *param, const ProtobufCMessage *const *entries, size_t n,
                     const char *conditional_operator, dyn_arena *a, dyn_expr **out,
                     const char **msg)
{
    lctx c = { .a = a };
    lcond *conds = NULL;
    bool is_or = false;
    dyn_err rc;

    *out = NULL;
    *msg = NULL;
    if (n == 0 && conditional_operator == NULL)
        return DYN_OK;
    if (n > 0 && (conds = dyn_arena_zalloc(a, n * sizeof *conds)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    if ((rc = check_conditional_operator(&c, conditional_operator, &is_or)) != DYN_OK ||
        (rc = read_conditions(&c, param, entries, n, conds)) != DYN_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_condition(&c, &conds[i])) != DYN_OK)
            goto out;
    if ((rc = check_conditional_count(&c, conditional_operator, n)) != DYN_OK)
        goto out;
    rc = build_condition(a, DYN_EXPR_FILTER, conds, n, is_or, out);
out:
    if (rc == DYN_EVALIDATION)
        *msg = c.msg;
    return rc;
}

static bool
schema_type_ok(const expr_av *v, char type)
{
    switch (type) {
    case 'S': return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S;
    case 'N': return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
    case 'B': return v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_B;
    default: return true;
    }
}

/* The per-key checks of a legacy Query, in dynalite's order: hash key, then range key. */
static dyn_err
check_key_schema(lctx *c, const lcond *conds, size_t n, const char *pk_name, char pk_type,
                 const char *sk_name, char sk_type, const lcond **pk, const lcond **sk)
{
    const char *names[2] = { pk_name, sk_name };
    const char types[2] = { pk_type, sk_type };
    const lcond **found[2] = { pk, sk };

    *pk = *sk = NULL;
    if (sk_name == NULL && n > 1)
        return fail(c, "Query key condition not supported");
    for (int k = 0; k < 2 && names[k] != NULL; k++) {
        const lcond *lc = NULL;
        for (size_t i = 0; i < n && lc == NULL; i++)
            if (strcmp(conds[i].name, names[k]) == 0)
                lc = &conds[i];
        if (lc == NULL) {
            if (k == 0 || n > 1)
                return fail(c, "Query condition missed key schema element: %s", names[k]);
            continue;
        }
        switch (lc->op) {
        case OP_NULL:
        case OP_NOT_NULL:
        case OP_NE:
        case OP_CONTAINS:
        case OP_NOT_CONTAINS:
        case OP_IN:
            return fail(c, "Attempted conditional constraint is not an indexable operation");
        default:
            break;
        }
        for (size_t i = 0; i < lc->n_vals; i++)
            if (!schema_type_ok(lc->vals[i], types[k]))
                return fail(c, INVALID "Condition parameter type does not match schema type");
        if (k == 0 && lc->op != OP_EQ)
            return fail(c, "Query key condition not supported");
        *found[k] = lc;
    }
    return DYN_OK;
}

dyn_err
dyn_expr_from_key_conditions(const ProtobufCMessage *const *entries, size_t n,
                             const char *pk_name, char pk_type, const char *sk_name, char sk_type,
                             dyn_arena *a, dyn_expr **ast, dyn_expr_key_cond *kc, const char **msg)
{
    static const dyn_expr_key_op key_ops[OP__COUNT] = {
        [OP_EQ] = DYN_EXPR_KEY_EQ, [OP_LE] = DYN_EXPR_KEY_LE,
        [OP_LT] = DYN_EXPR_KEY_LT, [OP_GE] = DYN_EXPR_KEY_GE,
        [OP_GT] = DYN_EXPR_KEY_GT, [OP_BEGINS_WITH] = DYN_EXPR_KEY_BEGINS_WITH,
        [OP_BETWEEN] = DYN_EXPR_KEY_BETWEEN,
    };
    lctx c = { .a = a };
    lcond *conds = NULL, both[2];
    const lcond *pk = NULL, *sk = NULL;
    dyn_err rc;

    memset(kc, 0, sizeof *kc);
    *msg = NULL;
    if (ast != NULL)
        *ast = NULL;
    if (n > 0 && (conds = dyn_arena_zalloc(a, n * sizeof *conds)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    if ((rc = read_conditions(&c, "KeyConditions", entries, n, conds)) != DYN_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_condition(&c, &conds[i])) != DYN_OK)
            goto out;
    if (n != 1 && n != 2) {
        rc = fail(&c, "Conditions can be of length 1 or 2 only");
        goto out;
    }
    if ((rc = check_key_schema(&c, conds, n, pk_name, pk_type, sk_name, sk_type, &pk, &sk)) !=
        DYN_OK)
        goto out;
    kc->pk = pk->vals[0];
    if (sk != NULL) {
        kc->sk_op = key_ops[sk->op];
        kc->sk_lo = sk->vals[0];
        kc->sk_hi = sk->op == OP_BETWEEN ? sk->vals[1] : NULL;
    }
    if (ast != NULL) {
        both[0] = *pk;
        if (sk != NULL)
            both[1] = *sk;
        rc = build_condition(a, DYN_EXPR_KEY_CONDITION, both, sk ? 2 : 1, false, ast);
    }
out:
    if (rc == DYN_EVALIDATION)
        *msg = c.msg;
    return rc;
}

/* ---- AttributeUpdates ---- */

static bool
is_set(int vc)
{
    return expr_is_set_type(vc);
}

/* ADD of a list appends: SET a = list_append(if_not_exists(a, []), v). */
static expr_node *
list_add_node(dyn_arena *a, const char *name, const expr_av *v)
{
    expr_av *empty = dyn_arena_zalloc(a, sizeof *empty);
    Dyne__V1__AttributeValueList *l = dyn_arena_zalloc(a, sizeof *l);
    expr_node *ine, *app;

    if (empty == NULL || l == NULL)
        return NULL;
    *l = (Dyne__V1__AttributeValueList)DYNE__V1__ATTRIBUTE_VALUE_LIST__INIT;
    *empty = (expr_av)DYNE__V1__ATTRIBUTE_VALUE__INIT;
    empty->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
    empty->l = l;
    if ((ine = func_node(a, F_IF_NOT_EXISTS, "if_not_exists", name, empty)) == NULL ||
        (app = new_node(a, N_FUNC, F_LIST_APPEND, 2)) == NULL ||
        (app->args[1] = value_node(a, v)) == NULL)
        return NULL;
    app->args[0] = ine;
    app->name = "list_append";
    return app;
}

dyn_err
dyn_expr_from_attribute_updates(const ProtobufCMessage *const *entries, size_t n, dyn_arena *a,
                                dyn_expr **out, const char **msg)
{
    static const Dyne__V1__AttributeValueUpdate empty = DYNE__V1__ATTRIBUTE_VALUE_UPDATE__INIT;
    static const char *const kind_order = "SRAD";   /* the parser's order: SET REMOVE ADD DELETE */
    lctx c = { .a = a };
    const Dyne__V1__AttributeValueUpdate **ups = NULL;
    const char **keys = NULL;
    expr_action *acts = NULL;
    dyn_expr *e = NULL;
    uint32_t n_acts = 0;
    char *kinds = NULL;
    dyn_err rc = DYN_OK;

    *out = NULL;
    *msg = NULL;
    if (n == 0)
        return DYN_OK;
    if ((ups = dyn_arena_zalloc(a, n * sizeof *ups)) == NULL ||
        (keys = dyn_arena_zalloc(a, n * sizeof *keys)) == NULL ||
        (kinds = dyn_arena_zalloc(a, n)) == NULL ||
        (acts = dyn_arena_zalloc(a, n * sizeof *acts)) == NULL ||
        (e = dyn_arena_zalloc(a, sizeof *e)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *v;
        const char *act;
        if (!entry_kv(entries[i], &dyne__v1__attribute_value_update__descriptor, &keys[i], &v)) {
            rc = DYN_EINTERNAL;
            goto out;
        }
        ups[i] = v ? (const Dyne__V1__AttributeValueUpdate *)v : &empty;
        act = ups[i]->action ? ups[i]->action : "PUT";
        if (strcmp(act, "PUT") != 0 && strcmp(act, "ADD") != 0 && strcmp(act, "DELETE") != 0) {
            rc = fail(&c,
                      "1 validation error detected: Value '%s' at 'attributeUpdates.%s.member."
                      "action' failed to satisfy constraint: Member must satisfy enum value set: "
                      "[ADD, DELETE, PUT]",
                      act, keys[i]);
            goto out;
        }
        kinds[i] = act[0] == 'P' ? 'S' : act[0] == 'A' ? 'A' : ups[i]->value ? 'D' : 'R';
    }
    for (size_t i = 0; i < n; i++) {
        const expr_av *v = ups[i]->value;
        int vc = v ? (int)v->value_case : 0;
        if (v == NULL && kinds[i] != 'R') {
            rc = fail(&c, INVALID "Only DELETE action is allowed when no attribute value is "
                                  "specified");
            goto out;
        }
        if (kinds[i] == 'D' && !is_set(vc)) {
            rc = fail(&c, INVALID "DELETE action with value is not supported for the type %s",
                      expr_type_name(vc));
            goto out;
        }
        if (kinds[i] == 'A' && vc != DYNE__V1__ATTRIBUTE_VALUE__VALUE_N && !is_set(vc) &&
            vc != DYNE__V1__ATTRIBUTE_VALUE__VALUE_L) {
            rc = fail(&c, INVALID "ADD action is not supported for the type %s",
                      expr_type_name(vc));
            goto out;
        }
        if (v != NULL && (rc = check_number(&c, v)) != DYN_OK)
            goto out;
    }
    /* Each attribute appears once, so the order only has to match what the parser produces. */
    for (const char *k = kind_order; *k; k++) {
        for (size_t i = 0; i < n; i++) {
            expr_action *act = &acts[n_acts];
            const expr_av *v = ups[i]->value;
            bool list_add = kinds[i] == 'A' && v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
            if ((list_add ? 'S' : kinds[i]) != *k)
                continue;
            act->kind = *k == 'S' ? U_SET : *k == 'R' ? U_REMOVE : *k == 'A' ? U_ADD : U_DELETE;
            act->path.n = 1;
            if ((act->path.elems = dyn_arena_zalloc(a, sizeof *act->path.elems)) == NULL) {
                rc = DYN_ENOMEM;
                goto out;
            }
            act->path.elems[0].name = keys[i];
            if (*k != 'R' &&
                (act->val = list_add ? list_add_node(a, keys[i], v) : value_node(a, v)) == NULL) {
                rc = DYN_ENOMEM;
                goto out;
            }
            n_acts++;
        }
    }
    /* UPDATED_OLD/NEW project onto the updated names, in request order */
    expr_trie **tail = &e->trie;
    for (size_t i = 0; i < n; i++) {
        expr_trie *t = dyn_arena_zalloc(a, sizeof *t);
        if (t == NULL) {
            rc = DYN_ENOMEM;
            goto out;
        }
        t->name = keys[i];
        t->leaf = true;
        *tail = t;
        tail = &t->next;
    }
    e->kind = DYN_EXPR_UPDATE;
    e->actions = acts;
    e->n_actions = n_acts;
    e->legacy = true;
    *out = e;
out:
    if (rc == DYN_EVALIDATION)
        *msg = c.msg;
    return rc;
}

/* ---- AttributesToGet ---- */

dyn_err
dyn_expr_from_attributes_to_get(const char *const *names, size_t n, dyn_arena *a, dyn_expr **out,
                                const char **msg)
{
    lctx c = { .a = a };
    dyn_expr *e;
    expr_trie **tail;
    dyn_err rc = DYN_OK;

    *out = NULL;
    *msg = NULL;
    if (n == 0)
        return DYN_OK;
    if (n > 255) {
        /* the constraint message quotes the whole list, as "[a, b, c]" */
        size_t len = 3;
        for (size_t i = 0; i < n; i++)
            len += strlen(names[i]) + 2;
        char *list = dyn_arena_alloc(a, len), *w = list;
        if (list == NULL) {
            rc = DYN_ENOMEM;
            goto out;
        }
        *w++ = '[';
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(names[i]);
            if (i > 0) {
                memcpy(w, ", ", 2);
                w += 2;
            }
            memcpy(w, names[i], l);
            w += l;
        }
        *w++ = ']';
        *w = '\0';
        rc = fail(&c,
                  "1 validation error detected: Value '%s' at 'attributesToGet' failed to "
                  "satisfy constraint: Member must have length less than or equal to 255",
                  list);
        goto out;
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                rc = fail(&c, INVALID "Duplicate value in attribute name: %s", names[i]);
                goto out;
            }
        }
    }
    if ((e = dyn_arena_zalloc(a, sizeof *e)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    tail = &e->trie;
    for (size_t i = 0; i < n; i++) {
        expr_trie *t = dyn_arena_zalloc(a, sizeof *t);
        if (t == NULL) {
            rc = DYN_ENOMEM;
            goto out;
        }
        t->name = names[i];
        t->leaf = true;
        *tail = t;
        tail = &t->next;
    }
    e->kind = DYN_EXPR_PROJECTION;
    e->legacy = true;
    *out = e;
out:
    if (rc == DYN_EVALIDATION)
        *msg = c.msg;
    return rc;
}

/* ---- mixing ---- */

typedef struct param_name {
    unsigned bit;
    const char *name;
} param_name;

typedef struct op_params {
    param_name expr[3], non[4];   /* in the order DynamoDB lists them; name NULL ends */
} op_params;

#define P(x, s) { DYN_EXPR_P_##x, s }
static const op_params op_lists[] = {
    [DYN_EXPR_OP_GET_ITEM] = { { P(PROJECTION_EXPRESSION, "ProjectionExpression") },
                               { P(ATTRIBUTES_TO_GET, "AttributesToGet") } },
    [DYN_EXPR_OP_PUT_ITEM] = { { P(CONDITION_EXPRESSION, "ConditionExpression") },
                               { P(EXPECTED, "Expected") } },
    [DYN_EXPR_OP_DELETE_ITEM] = { { P(CONDITION_EXPRESSION, "ConditionExpression") },
                                  { P(EXPECTED, "Expected") } },
    [DYN_EXPR_OP_UPDATE_ITEM] = { { P(UPDATE_EXPRESSION, "UpdateExpression"),
                                    P(CONDITION_EXPRESSION, "ConditionExpression") },
                                  { P(ATTRIBUTE_UPDATES, "AttributeUpdates"),
                                    P(EXPECTED, "Expected") } },
    [DYN_EXPR_OP_QUERY] = { { P(PROJECTION_EXPRESSION, "ProjectionExpression"),
                              P(FILTER_EXPRESSION, "FilterExpression"),
                              P(KEY_CONDITION_EXPRESSION, "KeyConditionExpression") },
                            { P(ATTRIBUTES_TO_GET, "AttributesToGet"),
                              P(QUERY_FILTER, "QueryFilter"),
                              P(CONDITIONAL_OPERATOR, "ConditionalOperator"),
                              P(KEY_CONDITIONS, "KeyConditions") } },
    [DYN_EXPR_OP_SCAN] = { { P(PROJECTION_EXPRESSION, "ProjectionExpression"),
                             P(FILTER_EXPRESSION, "FilterExpression") },
                           { P(ATTRIBUTES_TO_GET, "AttributesToGet"),
                             P(SCAN_FILTER, "ScanFilter"),
                             P(CONDITIONAL_OPERATOR, "ConditionalOperator") } },
};
#undef P

/* Appends the names of the listed parameters present in params, joined by sep; skip drops one
 * bit. Returns the count; *out NULL only when out of memory. */
static size_t
join_present(dyn_arena *a, const param_name *list, size_t cap, unsigned params, unsigned skip,
             const char *sep, char **out)
{
    size_t len = 1, count = 0;
    char *s, *w;

    for (size_t i = 0; i < cap && list[i].name; i++)
        if ((params & list[i].bit) && list[i].bit != skip)
            len += strlen(list[i].name) + strlen(sep);
    if ((s = w = dyn_arena_alloc(a, len)) == NULL) {
        *out = NULL;
        return 0;
    }
    for (size_t i = 0; i < cap && list[i].name; i++) {
        if (!(params & list[i].bit) || list[i].bit == skip)
            continue;
        if (count++ > 0) {
            memcpy(w, sep, strlen(sep));
            w += strlen(sep);
        }
        memcpy(w, list[i].name, strlen(list[i].name));
        w += strlen(list[i].name);
    }
    *w = '\0';
    *out = s;
    return count;
}

dyn_err
dyn_expr_check_mixing(dyn_expr_op op, unsigned params, dyn_arena *a, const char **msg)
{
    lctx c = { .a = a };
    const op_params *l;
    char *exprs, *nons;
    size_t n_expr, n_non;
    unsigned skip = 0, val_bits = 0;
    dyn_err rc = DYN_OK;

    *msg = NULL;
    if ((size_t)op >= sizeof op_lists / sizeof op_lists[0])
        return DYN_EINTERNAL;
    l = &op_lists[op];
    n_expr = join_present(a, l->expr, 3, params, 0, ", ", &exprs);
    if (exprs == NULL)
        return DYN_ENOMEM;
    if (n_expr > 0) {
        /* KeyConditions next to a FilterExpression alone is allowed (dynalite, AWS-verified) */
        if ((params & DYN_EXPR_P_KEY_CONDITIONS) && !(params & DYN_EXPR_P_KEY_CONDITION_EXPRESSION))
            skip = DYN_EXPR_P_KEY_CONDITIONS;
        n_non = join_present(a, l->non, 4, params, skip, ", ", &nons);
        if (nons == NULL)
            return DYN_ENOMEM;
        if (n_non > 0) {
            rc = fail(&c,
                      "Can not use both expression and non-expression parameters in the same "
                      "request: Non-expression parameters: {%s} Expression parameters: {%s}",
                      nons, exprs);
            goto out;
        }
    }
    if ((params & DYN_EXPR_P_EXPRESSION_ATTRIBUTE_NAMES) && n_expr == 0) {
        rc = fail(&c, "ExpressionAttributeNames can only be specified when using expressions");
        goto out;
    }
    for (size_t i = 0; i < 3 && l->expr[i].name; i++)
        if (l->expr[i].bit != DYN_EXPR_P_PROJECTION_EXPRESSION)
            val_bits |= l->expr[i].bit;
    if (val_bits != 0 && (params & DYN_EXPR_P_EXPRESSION_ATTRIBUTE_VALUES) &&
        !(params & val_bits)) {
        char *names;
        size_t n_val = join_present(a, l->expr, 3, val_bits, 0, " and ", &names);
        if (names == NULL)
            return DYN_ENOMEM;
        rc = fail(&c,
                  "ExpressionAttributeValues can only be specified when using expressions: %s "
                  "%s null",
                  names, n_val > 1 ? "are" : "is");
    }
out:
    if (rc == DYN_EVALIDATION)
        *msg = c.msg;
    return rc;
}
