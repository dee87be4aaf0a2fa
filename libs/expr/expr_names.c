/* libs/expr -- the top-level attributes an expression reads: what a query on a secondary index
 * needs to know whether the index's projection covers the request. */
#include "libs/expr/expr_int.h"

static bool
names_add(const char *name, dyn_arena *a, const char ***names, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < *n; i++)
        if (expr_key_eq((*names)[i], name))
            return true;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        const char **bigger = dyn_arena_alloc(a, sizeof *bigger * c);
        if (bigger == NULL)
            return false;
        if (*n > 0)
            memcpy(bigger, *names, sizeof *bigger * *n);
        *names = bigger;
        *cap = c;
    }
    (*names)[(*n)++] = name;
    return true;
}

static bool
path_add(const expr_path *p, dyn_arena *a, const char ***names, size_t *n, size_t *cap)
{
    if (p->n == 0 || p->elems[0].name == NULL)
        return true;
    return names_add(p->elems[0].name, a, names, n, cap);
}

static bool
node_names(const expr_node *e, dyn_arena *a, const char ***names, size_t *n, size_t *cap)
{
    if (e == NULL)
        return true;
    if (e->kind == N_PATH)
        return path_add(&e->path, a, names, n, cap);
    for (uint32_t i = 0; i < e->n_args; i++)
        if (!node_names(e->args[i], a, names, n, cap))
            return false;
    return true;
}

dyn_err
dyn_expr_top_names(const dyn_expr *e, dyn_arena *a, const char ***names, size_t *n)
{
    size_t cap = 0;

    *names = NULL;
    *n = 0;
    if (e == NULL)
        return DYN_OK;
    if (!node_names(e->cond, a, names, n, &cap))
        return DYN_ENOMEM;
    for (uint32_t i = 0; i < e->n_actions; i++)
        if (!path_add(&e->actions[i].path, a, names, n, &cap) ||
            !node_names(e->actions[i].val, a, names, n, &cap))
            return DYN_ENOMEM;
    for (const expr_trie *t = e->trie; t != NULL; t = t->next)
        if (t->name != NULL && !names_add(t->name, a, names, n, &cap))
            return DYN_ENOMEM;
    return DYN_OK;
}
