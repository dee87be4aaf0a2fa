/* libs/expr -- a text form of a tree, so tests and the fuzzer can check that a tree bound from
 * the parse cache is the tree the parser builds. */
#include "libs/expr/expr_int.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct dump {
    dyn_arena *a;
    char *p;
    size_t n, cap;
    bool nomem;
} dump;

static void
out(dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out(dump *d, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (d->nomem)
        return;
    va_start(ap, fmt);
    n = vsnprintf(d->p ? d->p + d->n : NULL, d->p ? d->cap - d->n : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        d->nomem = true;
        return;
    }
    if (d->p == NULL || d->n + (size_t)n + 1 > d->cap) {
        size_t cap = 2 * (d->n + (size_t)n + 1) + 256;
        char *g = dyn_arena_alloc(d->a, cap);
        if (g == NULL) {
            d->nomem = true;
            return;
        }
        if (d->n)
            memcpy(g, d->p, d->n);
        d->p = g;
        d->cap = cap;
        va_start(ap, fmt);
        vsnprintf(d->p + d->n, d->cap - d->n, fmt, ap);
        va_end(ap);
    }
    d->n += (size_t)n;
}

static void
path_out(dump *d, const expr_path *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        if (p->elems[i].name)
            out(d, " \"%s\"", p->elems[i].name);
        else
            out(d, " [%u]", p->elems[i].index);
    }
}

static void
node_out(dump *d, const expr_node *n)
{
    static const char *const kinds[] = {
        [N_PATH] = "PATH", [N_VALUE] = "VALUE", [N_FUNC] = "FUNC", [N_CMP] = "CMP",
        [N_BETWEEN] = "BETWEEN", [N_IN] = "IN", [N_AND] = "AND", [N_OR] = "OR",
        [N_NOT] = "NOT", [N_PLUS] = "PLUS", [N_MINUS] = "MINUS",
    };

    if (n == NULL) {
        out(d, " -");
        return;
    }
    out(d, " (%s op=%u parens=%u type=%u", n->kind < sizeof kinds / sizeof kinds[0] &&
        kinds[n->kind] ? kinds[n->kind] : "?", n->op, n->parens, n->type_arg);
    if (n->name)
        out(d, " name=%s", n->name);
    if (n->kind == N_PATH)
        path_out(d, &n->path);
    if (n->kind == N_VALUE) {
        out(d, " %p:%s want=%d", (const void *)n->value,
            n->value ? expr_type_name((int)n->value->value_case) : "-", n->num_want);
        if (n->num_ok) {
            char buf[DYN_NUM_TEXT_MAX];
            dyn_num_format(&n->num, buf, sizeof buf);
            out(d, " num=%s", buf);
        }
    }
    for (uint32_t i = 0; i < n->n_args; i++)
        node_out(d, n->args[i]);
    out(d, ")");
}

static void
trie_out(dump *d, const expr_trie *t)
{
    for (; t != NULL; t = t->next) {
        if (t->name)
            out(d, " {\"%s\"%s", t->name, t->leaf ? " leaf" : "");
        else
            out(d, " {[%u]%s", t->index, t->leaf ? " leaf" : "");
        trie_out(d, t->child);
        out(d, "}");
    }
}

dyn_err
dyn_expr_dump(const dyn_expr *e, dyn_arena *a, const char **text)
{
    static const char *const acts[] = { [U_SET] = "SET", [U_REMOVE] = "REMOVE", [U_ADD] = "ADD",
                                        [U_DELETE] = "DELETE" };
    dump d = { .a = a };

    *text = NULL;
    if (e == NULL) {
        *text = "(null)";
        return DYN_OK;
    }
    out(&d, "kind=%d legacy=%d cond:", (int)e->kind, e->legacy);
    node_out(&d, e->cond);
    out(&d, " actions:");
    for (uint32_t i = 0; i < e->n_actions; i++) {
        out(&d, " [%s", acts[e->actions[i].kind]);
        path_out(&d, &e->actions[i].path);
        if (e->actions[i].val)
            node_out(&d, e->actions[i].val);
        out(&d, "]");
    }
    out(&d, " trie:");
    trie_out(&d, e->trie);
    if (d.nomem)
        return DYN_ENOMEM;
    *text = d.p;
    return DYN_OK;
}
