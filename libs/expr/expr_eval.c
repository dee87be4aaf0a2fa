/* libs/expr evaluation: value comparison as DynamoDB does it, condition evaluation against an
 * item, and projection. Nothing here allocates except the projection's output. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* memmem */
#endif
#include "libs/expr/expr_int.h"

#include <string.h>

/* ---- values ---- */

static inline const expr_av *
map_get(const expr_map *m, const char *key)
{
    if (m == NULL)
        return NULL;
    for (size_t i = 0, n = m->n_values; i < n; i++)
        if (expr_key_eq(m->values[i]->key, key))
            return m->values[i]->value;
    return NULL;
}

const expr_av *
expr_map_get(const expr_map *m, const char *key)
{
    return map_get(m, key);
}

const expr_av *
expr_path_get(const expr_map *item, const expr_path *p)
{
    const expr_av *v = map_get(item, p->elems[0].name);

    for (uint32_t i = 1; i < p->n && v != NULL; i++) {
        const expr_elem *e = &p->elems[i];
        if (e->name) {
            v = v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_M ? expr_map_get(v->m, e->name)
                                                                    : NULL;
        } else if (v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_L && v->l != NULL &&
                   e->index < v->l->n_values) {
            v = v->l->values[e->index];
        } else {
            v = NULL;
        }
    }
    return v;
}

bool
expr_is_set_type(int vc)
{
    return vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS || vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS ||
           vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS;
}

static bool
num_of(const char *s, dyn_num *out)
{
    return s != NULL && dyn_num_parse(s, strlen(s), out, NULL) == DYN_OK;
}

/* num is set only for type N: nothing reads it otherwise. */
static inline bool
ev_from_av(const expr_av *av, expr_ev *out)
{
    out->av = av;
    if (av == NULL) {
        out->type = 0;
        return true;
    }
    out->type = (int)av->value_case;
    if (out->type == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N)
        return num_of(av->n, &out->num);
    return true;
}

bool
expr_ev_from_av(const expr_av *av, expr_ev *out)
{
    return ev_from_av(av, out);
}

static bool
bin_equal(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static bool
num_str_equal(const char *a, const char *b)
{
    dyn_num x, y;
    if (num_of(a, &x) && num_of(b, &y))
        return dyn_num_cmp(&x, &y) == 0;
    return a && b && strcmp(a, b) == 0;
}

/* Is element i of set a in set b? Sets are small enough that a scan beats building a hash. */
static bool
set_has(const expr_av *set, const expr_av *elem_set, size_t i)
{
    switch (set->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        for (size_t j = 0; j < set->ss->n_values; j++)
            if (strcmp(set->ss->values[j], elem_set->ss->values[i]) == 0)
                return true;
        return false;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        for (size_t j = 0; j < set->ns->n_values; j++)
            if (num_str_equal(set->ns->values[j], elem_set->ns->values[i]))
                return true;
        return false;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        for (size_t j = 0; j < set->bs->n_values; j++)
            if (bin_equal(&set->bs->values[j], &elem_set->bs->values[i]))
                return true;
        return false;
    default:
        return false;
    }
}

static size_t
set_count(const expr_av *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS: return v->ss ? v->ss->n_values : 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS: return v->ns ? v->ns->n_values : 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS: return v->bs ? v->bs->n_values : 0;
    default: return 0;
    }
}

bool
expr_av_equal(const expr_av *a, const expr_av *b)
{
    if (a->value_case != b->value_case)
        return false;
    switch (a->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return strcmp(a->s, b->s) == 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        return num_str_equal(a->n, b->n);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return bin_equal(&a->b, &b->b);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
        return !a->bool_ == !b->bool_;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL:
        return true;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS: {
        /* sets hold no duplicates, so same size + a subset of b means equal */
        size_t n = set_count(a);
        if (n != set_count(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!set_has(b, a, i))
                return false;
        return true;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L: {
        size_t n = a->l ? a->l->n_values : 0;
        if (n != (b->l ? b->l->n_values : 0))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!expr_av_equal(a->l->values[i], b->l->values[i]))
                return false;
        return true;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M: {
        size_t n = a->m ? a->m->n_values : 0;
        if (n != (b->m ? b->m->n_values : 0))
            return false;
        for (size_t i = 0; i < n; i++) {
            const expr_av *o = expr_map_get(b->m, a->m->values[i]->key);
            if (o == NULL || !expr_av_equal(a->m->values[i]->value, o))
                return false;
        }
        return true;
    }
    default:
        return false;
    }
}

bool
expr_ev_equal(const expr_ev *a, const expr_ev *b)
{
    if (a->type == 0 || a->type != b->type)
        return false;
    if (a->type == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N)
        return dyn_num_cmp(&a->num, &b->num) == 0;
    return expr_av_equal(a->av, b->av);
}

int
expr_ev_cmp(const expr_ev *a, const expr_ev *b, bool *ok)
{
    *ok = false;
    if (a->type == 0 || a->type != b->type)
        return 0;
    switch (a->type) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        *ok = true;
        return dyn_num_cmp(&a->num, &b->num);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S: {
        int c = strcmp(a->av->s, b->av->s);   /* UTF-8 byte order, as DynamoDB sorts */
        *ok = true;
        return c < 0 ? -1 : c > 0;
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B: {
        const ProtobufCBinaryData *x = &a->av->b, *y = &b->av->b;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = n ? memcmp(x->data, y->data, n) : 0;
        *ok = true;
        if (c != 0)
            return c < 0 ? -1 : 1;
        return x->len < y->len ? -1 : x->len > y->len;
    }
    default:
        return 0;
    }
}

char *
expr_base64(dyn_arena *a, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = dyn_arena_alloc(a, 4 * ((n + 2) / 3) + 1), *w = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *w++ = tab[(v >> 18) & 63];
        *w++ = tab[(v >> 12) & 63];
        *w++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *w = '\0';
    return out;
}

/* ---- conditions ---- */

static dyn_err
eval_operand(const expr_node *n, const expr_map *item, expr_ev *out)
{
    switch (n->kind) {
    case N_PATH:
        return ev_from_av(expr_path_get(item, &n->path), out) ? DYN_OK : DYN_EINTERNAL;
    case N_VALUE:
        out->type = (int)n->value->value_case;
        out->av = n->value;
        if (out->type == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N) {
            if (!n->num_ok)
                return DYN_EINTERNAL;
            out->num = n->num;
        }
        return DYN_OK;
    case N_FUNC: {
        /* only size() can stand as an operand; the parser rejected the rest */
        expr_ev x;
        dyn_err rc = eval_operand(n->args[0], item, &x);
        int64_t size;
        out->type = 0;
        out->av = NULL;
        if (rc != DYN_OK || x.av == NULL)
            return rc;
        switch (x.type) {
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S: size = (int64_t)strlen(x.av->s); break;
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B: size = (int64_t)x.av->b.len; break;
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS: size = (int64_t)set_count(x.av); break;
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
            size = x.av->l ? (int64_t)x.av->l->n_values : 0;
            break;
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_M:
            size = x.av->m ? (int64_t)x.av->m->n_values : 0;
            break;
        default:
            return DYN_OK;   /* size of N, BOOL, NULL: no value, every comparison false */
        }
        out->type = DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        dyn_num_from_i64(size, &out->num);
        return DYN_OK;
    }
    default:
        out->type = 0;
        out->av = NULL;
        return DYN_EINTERNAL;
    }
}

static bool
bytes_prefix(const void *s, size_t n, const void *pre, size_t m)
{
    return m <= n && (m == 0 || memcmp(s, pre, m) == 0);
}

static bool
bytes_contain(const void *s, size_t n, const void *sub, size_t m)
{
    return m == 0 || (m <= n && memmem(s, n, sub, m) != NULL);
}

static bool
eval_contains(const expr_ev *a, const expr_ev *b)
{
    if (a->av == NULL || b->type == 0)
        return false;
    switch (a->type) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return b->type == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S &&
               bytes_contain(a->av->s, strlen(a->av->s), b->av->s, strlen(b->av->s));
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B:
        return b->type == DYNE__V1__ATTRIBUTE_VALUE__VALUE_B &&
               bytes_contain(a->av->b.data, a->av->b.len, b->av->b.data, b->av->b.len);
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
        if (b->type != DYNE__V1__ATTRIBUTE_VALUE__VALUE_S)
            return false;
        for (size_t i = 0; i < a->av->ss->n_values; i++)
            if (strcmp(a->av->ss->values[i], b->av->s) == 0)
                return true;
        return false;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS:
        if (b->type != DYNE__V1__ATTRIBUTE_VALUE__VALUE_N)
            return false;
        for (size_t i = 0; i < a->av->ns->n_values; i++) {
            dyn_num x;
            if (num_of(a->av->ns->values[i], &x) && dyn_num_cmp(&x, &b->num) == 0)
                return true;
        }
        return false;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS:
        if (b->type != DYNE__V1__ATTRIBUTE_VALUE__VALUE_B)
            return false;
        for (size_t i = 0; i < a->av->bs->n_values; i++)
            if (bin_equal(&a->av->bs->values[i], &b->av->b))
                return true;
        return false;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_L:
        for (size_t i = 0; a->av->l && i < a->av->l->n_values; i++) {
            expr_ev e;
            if (expr_ev_from_av(a->av->l->values[i], &e) && expr_ev_equal(&e, b))
                return true;
        }
        return false;
    default:
        return false;
    }
}

static dyn_err
eval_cond(const expr_node *n, const expr_map *item, bool *res)
{
    expr_ev x, y, z;
    dyn_err rc = DYN_OK;
    bool ok1, ok2;
    int c1, c2;

    *res = false;
    switch (n->kind) {
    case N_AND:
        if ((rc = eval_cond(n->args[0], item, res)) != DYN_OK || !*res)
            return rc;
        return eval_cond(n->args[1], item, res);
    case N_OR:
        if ((rc = eval_cond(n->args[0], item, res)) != DYN_OK || *res)
            return rc;
        return eval_cond(n->args[1], item, res);
    case N_NOT:
        if ((rc = eval_cond(n->args[0], item, res)) == DYN_OK)
            *res = !*res;
        return rc;
    case N_CMP:
        if ((rc = eval_operand(n->args[0], item, &x)) != DYN_OK ||
            (rc = eval_operand(n->args[1], item, &y)) != DYN_OK)
            return rc;
        switch (n->op) {
        case C_EQ: *res = expr_ev_equal(&x, &y); break;
        /* <> is the negation of =, so a missing attribute is "not equal" (as in DynamoDB) */
        case C_NE: *res = !expr_ev_equal(&x, &y); break;
        default:
            c1 = expr_ev_cmp(&x, &y, &ok1);
            *res = ok1 && (n->op == C_LT   ? c1 < 0
                           : n->op == C_LE ? c1 <= 0
                           : n->op == C_GT ? c1 > 0
                                           : c1 >= 0);
        }
        return DYN_OK;
    case N_BETWEEN:
        if ((rc = eval_operand(n->args[0], item, &x)) != DYN_OK ||
            (rc = eval_operand(n->args[1], item, &y)) != DYN_OK ||
            (rc = eval_operand(n->args[2], item, &z)) != DYN_OK)
            return rc;
        c1 = expr_ev_cmp(&x, &y, &ok1);
        c2 = expr_ev_cmp(&x, &z, &ok2);
        *res = ok1 && ok2 && c1 >= 0 && c2 <= 0;
        return DYN_OK;
    case N_IN:
        if ((rc = eval_operand(n->args[0], item, &x)) != DYN_OK)
            return rc;
        for (uint32_t i = 1; i < n->n_args && !*res; i++) {
            if ((rc = eval_operand(n->args[i], item, &y)) != DYN_OK)
                return rc;
            *res = expr_ev_equal(&x, &y);
        }
        return DYN_OK;
    case N_FUNC:
        switch (n->op) {
        case F_ATTRIBUTE_EXISTS:
            *res = expr_path_get(item, &n->args[0]->path) != NULL;
            return DYN_OK;
        case F_ATTRIBUTE_NOT_EXISTS:
            *res = expr_path_get(item, &n->args[0]->path) == NULL;
            return DYN_OK;
        case F_ATTRIBUTE_TYPE: {
            if ((rc = eval_operand(n->args[0], item, &x)) != DYN_OK)
                return rc;
            *res = x.type != 0 && x.type == n->type_arg;
            return DYN_OK;
        }
        case F_BEGINS_WITH:
            if ((rc = eval_operand(n->args[0], item, &x)) != DYN_OK ||
                (rc = eval_operand(n->args[1], item, &y)) != DYN_OK)
                return rc;
            if (x.av && y.av && x.type == y.type && x.type == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S)
                *res = bytes_prefix(x.av->s, strlen(x.av->s), y.av->s, strlen(y.av->s));
            else if (x.av && y.av && x.type == y.type &&
                     x.type == DYNE__V1__ATTRIBUTE_VALUE__VALUE_B)
                *res = bytes_prefix(x.av->b.data, x.av->b.len, y.av->b.data, y.av->b.len);
            return DYN_OK;
        case F_CONTAINS:
            if ((rc = eval_operand(n->args[0], item, &x)) != DYN_OK ||
                (rc = eval_operand(n->args[1], item, &y)) != DYN_OK)
                return rc;
            *res = eval_contains(&x, &y);
            return DYN_OK;
        default:
            return DYN_EINTERNAL;
        }
    default:
        return DYN_EINTERNAL;
    }
}

dyn_err
dyn_expr_eval_condition(const dyn_expr *e, const Dyne__V1__AttributeValueMap *item, bool *result)
{
    *result = false;
    if (e == NULL || e->cond == NULL)
        return DYN_EINTERNAL;
    return eval_cond(e->cond, item, result);
}

/* ---- projection ---- */

typedef struct vec {
    void **p;
    size_t n, cap;
} vec;

static bool
vec_push(dyn_arena *a, vec *v, void *x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        void **grown = dyn_arena_alloc(a, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        if (v->n)
            memcpy(grown, v->p, v->n * sizeof *grown);
        v->p = grown;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return true;
}

static dyn_err project_value(const expr_trie *children, const expr_av *v, dyn_arena *a,
                             expr_av **out);

static dyn_err
project_map(const expr_trie *t, const expr_map *m, dyn_arena *a, expr_map **out)
{
    vec entries = { 0 };
    expr_map *res = dyn_arena_alloc(a, sizeof *res);
    dyn_err rc;

    *out = NULL;
    if (res == NULL)
        return DYN_ENOMEM;
    *res = (expr_map)DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
    for (; t != NULL; t = t->next) {
        const expr_av *v = t->name ? expr_map_get(m, t->name) : NULL;
        expr_av *pv = NULL;
        if (v == NULL)
            continue;
        if (t->leaf)
            pv = (expr_av *)v;   /* shared with the item: the output borrows leaf values */
        else if ((rc = project_value(t->child, v, a, &pv)) != DYN_OK)
            return rc;
        if (pv == NULL)
            continue;
        expr_entry *e = dyn_arena_alloc(a, sizeof *e);
        if (e == NULL)
            return DYN_ENOMEM;
        *e = (expr_entry)DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
        e->key = (char *)t->name;
        e->value = pv;
        if (!vec_push(a, &entries, e))
            return DYN_ENOMEM;
    }
    res->n_values = entries.n;
    res->values = (expr_entry **)entries.p;
    *out = res;
    return DYN_OK;
}

/* Projects the inside of a map or list value; *out NULL when nothing under it resolved. */
static dyn_err
project_value(const expr_trie *children, const expr_av *v, dyn_arena *a, expr_av **out)
{
    expr_av *res;
    dyn_err rc;

    *out = NULL;
    if (children == NULL)
        return DYN_OK;
    if (children->name != NULL && v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_M) {
        expr_map *m;
        if ((rc = project_map(children, v->m, a, &m)) != DYN_OK)
            return rc;
        if (m->n_values == 0)
            return DYN_OK;
        if ((res = dyn_arena_alloc(a, sizeof *res)) == NULL)
            return DYN_ENOMEM;
        *res = (expr_av)DYNE__V1__ATTRIBUTE_VALUE__INIT;
        res->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
        res->m = m;
        *out = res;
        return DYN_OK;
    }
    if (children->name == NULL && v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_L &&
        v->l != NULL) {
        vec elems = { 0 };
        for (const expr_trie *t = children; t != NULL; t = t->next) {
            expr_av *pv = NULL;
            if (t->index >= v->l->n_values)
                break;   /* indexes ascend */
            if (t->leaf)
                pv = v->l->values[t->index];
            else if ((rc = project_value(t->child, v->l->values[t->index], a, &pv)) != DYN_OK)
                return rc;
            if (pv != NULL && !vec_push(a, &elems, pv))
                return DYN_ENOMEM;
        }
        if (elems.n == 0)
            return DYN_OK;
        Dyne__V1__AttributeValueList *l = dyn_arena_alloc(a, sizeof *l);
        if (l == NULL || (res = dyn_arena_alloc(a, sizeof *res)) == NULL)
            return DYN_ENOMEM;
        *l = (Dyne__V1__AttributeValueList)DYNE__V1__ATTRIBUTE_VALUE_LIST__INIT;
        l->n_values = elems.n;
        l->values = (expr_av **)elems.p;
        *res = (expr_av)DYNE__V1__ATTRIBUTE_VALUE__INIT;
        res->value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        res->l = l;
        *out = res;
    }
    return DYN_OK;
}

dyn_err
dyn_expr_project(const dyn_expr *e, const Dyne__V1__AttributeValueMap *item, dyn_arena *a,
                 Dyne__V1__AttributeValueMap **out)
{
    static const expr_map empty = DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;

    *out = NULL;
    if (e == NULL || (e->kind != DYN_EXPR_PROJECTION && e->kind != DYN_EXPR_UPDATE))
        return DYN_EINTERNAL;
    return project_map(e->trie, item ? item : &empty, a, out);
}
