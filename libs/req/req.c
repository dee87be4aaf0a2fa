/* libs/req -- one place that turns a request's expression parameters into parsed trees, so the
 * router (validation) and the storage node (evaluation) agree exactly. */
#include "libs/req/req.h"

#include <string.h>

static dyn_err
names_array(dyn_req_str_entry *const *entries, size_t n, dyn_arena *a, const dyn_expr_name **out)
{
    dyn_expr_name *names;

    *out = NULL;
    if (entries == NULL)
        return DYN_OK;
    if ((names = dyn_arena_alloc(a, sizeof *names * (n ? n : 1))) == NULL)
        return DYN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        names[i].key = entries[i]->key;
        names[i].value = entries[i]->value;
    }
    *out = names;
    return DYN_OK;
}

dyn_err
dyn_req_write(dyn_expr_op op, const dyn_req_cond *c, dyn_arena *a, dyn_expr **cond,
              dyn_expr **update, const char **msg)
{
    unsigned params = 0;
    const dyn_expr_name *names;
    dyn_expr_ctx ctx;
    dyn_err rc;

    *cond = NULL;
    if (update != NULL)
        *update = NULL;
    if (c->condition_expression != NULL)
        params |= DYN_EXPR_P_CONDITION_EXPRESSION;
    if (c->update_expression != NULL)
        params |= DYN_EXPR_P_UPDATE_EXPRESSION;
    if (c->n_attribute_updates > 0)
        params |= DYN_EXPR_P_ATTRIBUTE_UPDATES;
    if (c->n_expected > 0)
        params |= DYN_EXPR_P_EXPECTED;
    if (c->conditional_operator != NULL)
        params |= DYN_EXPR_P_CONDITIONAL_OPERATOR;
    if (c->n_names > 0)
        params |= DYN_EXPR_P_EXPRESSION_ATTRIBUTE_NAMES;
    if (c->values != NULL)
        params |= DYN_EXPR_P_EXPRESSION_ATTRIBUTE_VALUES;
    if ((rc = dyn_expr_check_mixing(op, params, a, msg)) != DYN_OK)
        return rc;
    /* past the mixing check a request is all-legacy or all-expression */
    if (c->n_expected > 0 || c->conditional_operator != NULL || c->n_attribute_updates > 0) {
        if ((rc = dyn_expr_from_expected(c->expected, c->n_expected, c->conditional_operator, a,
                                         cond, msg)) != DYN_OK)
            return rc;
        if (update != NULL && c->n_attribute_updates > 0)
            return dyn_expr_from_attribute_updates(c->attribute_updates, c->n_attribute_updates,
                                                   a, update, msg);
        return DYN_OK;
    }
    if ((rc = names_array(c->names, c->n_names, a, &names)) != DYN_OK)
        return rc;
    if ((rc = dyn_expr_ctx_init(&ctx, names, c->n_names, c->values, a, msg)) != DYN_OK)
        return rc;
    if (c->update_expression != NULL && update != NULL &&
        (rc = dyn_expr_parse(&ctx, DYN_EXPR_UPDATE, c->update_expression,
                             strlen(c->update_expression), update, msg)) != DYN_OK)
        return rc;
    if (c->condition_expression != NULL &&
        (rc = dyn_expr_parse(&ctx, DYN_EXPR_CONDITION, c->condition_expression,
                             strlen(c->condition_expression), cond, msg)) != DYN_OK)
        return rc;
    return dyn_expr_ctx_check_unused(&ctx, msg);
}

dyn_err
dyn_req_projection(const char *projection_expression, dyn_req_str_entry *const *names_in,
                   size_t n_names, const char *const *attributes_to_get, size_t n_atg,
                   dyn_arena *a, dyn_expr **proj, const char **msg)
{
    unsigned params = 0;
    const dyn_expr_name *names;
    dyn_expr_ctx ctx;
    dyn_err rc;

    *proj = NULL;
    if (projection_expression != NULL)
        params |= DYN_EXPR_P_PROJECTION_EXPRESSION;
    if (n_atg > 0)
        params |= DYN_EXPR_P_ATTRIBUTES_TO_GET;
    if (n_names > 0)
        params |= DYN_EXPR_P_EXPRESSION_ATTRIBUTE_NAMES;
    if ((rc = dyn_expr_check_mixing(DYN_EXPR_OP_GET_ITEM, params, a, msg)) != DYN_OK)
        return rc;
    if (n_atg > 0)
        return dyn_expr_from_attributes_to_get(attributes_to_get, n_atg, a, proj, msg);
    if ((rc = names_array(names_in, n_names, a, &names)) != DYN_OK)
        return rc;
    if ((rc = dyn_expr_ctx_init(&ctx, names, n_names, NULL, a, msg)) != DYN_OK)
        return rc;
    if (projection_expression != NULL &&
        (rc = dyn_expr_parse(&ctx, DYN_EXPR_PROJECTION, projection_expression,
                             strlen(projection_expression), proj, msg)) != DYN_OK)
        return rc;
    return dyn_expr_ctx_check_unused(&ctx, msg);
}

dyn_err
dyn_req_read_parse(dyn_expr_op op, const dyn_req_read *r, const char *pk_name, char pk_type,
                   const char *sk_name, char sk_type, dyn_arena *a, dyn_expr_key_cond *kc,
                   dyn_expr **filter, dyn_expr **proj, const char **msg)
{
    bool query = op == DYN_EXPR_OP_QUERY;
    unsigned params = 0;
    const dyn_expr_name *names;
    dyn_expr_ctx ctx;
    dyn_expr *kce = NULL;
    dyn_err rc;

    *filter = *proj = NULL;
    if (r->key_condition_expression != NULL)
        params |= DYN_EXPR_P_KEY_CONDITION_EXPRESSION;
    if (r->filter_expression != NULL)
        params |= DYN_EXPR_P_FILTER_EXPRESSION;
    if (r->projection_expression != NULL)
        params |= DYN_EXPR_P_PROJECTION_EXPRESSION;
    if (r->n_key_conditions > 0)
        params |= DYN_EXPR_P_KEY_CONDITIONS;
    if (r->n_filter > 0)
        params |= query ? DYN_EXPR_P_QUERY_FILTER : DYN_EXPR_P_SCAN_FILTER;
    if (r->conditional_operator != NULL)
        params |= DYN_EXPR_P_CONDITIONAL_OPERATOR;
    if (r->n_attributes_to_get > 0)
        params |= DYN_EXPR_P_ATTRIBUTES_TO_GET;
    if (r->n_names > 0)
        params |= DYN_EXPR_P_EXPRESSION_ATTRIBUTE_NAMES;
    if (r->values != NULL)
        params |= DYN_EXPR_P_EXPRESSION_ATTRIBUTE_VALUES;
    if ((rc = dyn_expr_check_mixing(op, params, a, msg)) != DYN_OK)
        return rc;
    if (query && r->key_condition_expression == NULL && r->n_key_conditions == 0) {
        *msg = "Either the KeyConditions or KeyConditionExpression parameter must be specified "
               "in the request.";
        return DYN_EVALIDATION;
    }
    /* the expression parameters share one placeholder context */
    if ((rc = names_array(r->names, r->n_names, a, &names)) != DYN_OK)
        return rc;
    if ((rc = dyn_expr_ctx_init(&ctx, names, r->n_names, r->values, a, msg)) != DYN_OK)
        return rc;
    if (query && r->key_condition_expression != NULL &&
        (rc = dyn_expr_parse(&ctx, DYN_EXPR_KEY_CONDITION, r->key_condition_expression,
                             strlen(r->key_condition_expression), &kce, msg)) != DYN_OK)
        return rc;
    if (r->filter_expression != NULL &&
        (rc = dyn_expr_parse(&ctx, DYN_EXPR_FILTER, r->filter_expression,
                             strlen(r->filter_expression), filter, msg)) != DYN_OK)
        return rc;
    if (r->projection_expression != NULL &&
        (rc = dyn_expr_parse(&ctx, DYN_EXPR_PROJECTION, r->projection_expression,
                             strlen(r->projection_expression), proj, msg)) != DYN_OK)
        return rc;
    if ((rc = dyn_expr_ctx_check_unused(&ctx, msg)) != DYN_OK)
        return rc;
    if (query) {
        if (kce != NULL)
            rc = dyn_expr_key_condition(kce, pk_name, pk_type, sk_name, sk_type, a, kc, msg);
        else
            rc = dyn_expr_from_key_conditions(r->key_conditions, r->n_key_conditions, pk_name,
                                              pk_type, sk_name, sk_type, a, NULL, kc, msg);
        if (rc != DYN_OK)
            return rc;
    }
    if (r->n_filter > 0 || (r->conditional_operator != NULL && *filter == NULL))
        if ((rc = dyn_expr_from_filter(query ? "QueryFilter" : "ScanFilter", r->filter,
                                       r->n_filter, r->conditional_operator, a, filter, msg)) !=
            DYN_OK)
            return rc;
    if (r->n_attributes_to_get > 0)
        return dyn_expr_from_attributes_to_get(r->attributes_to_get, r->n_attributes_to_get, a,
                                               proj, msg);
    return DYN_OK;
}
