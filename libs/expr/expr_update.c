/* libs/expr UpdateExpression application: copy-on-write over the old item, so unchanged values
 * are shared and only the containers along updated paths are copied (once per apply). */
#include "libs/expr/expr_int.h"

#include <string.h>

#define MSG_KEY_FMT "Cannot update attribute %s. This attribute is part of the key"
#define MSG_MISSING "The provided expression refers to an attribute that does not exist in the item"
#define MSG_BAD_PATH "The document path provided in the update expression is invalid for update"
#define MSG_BAD_TYPE "An operand in the update expression has an incorrect data type"
/* the same failures, worded as DynamoDB words them for AttributeUpdates */
#define MSG_LEGACY_KEY_FMT                                                                     \
    "One or more parameter values were invalid: Cannot update attribute %s. This attribute is " \
    "part of the key"
#define MSG_LEGACY_BAD_TYPE "Type mismatch for attribute to update"

typedef struct upd {
    dyn_arena *a;
    const expr_map *old;   /* every operand reads the item as it was */
    const char *msg;
    bool bad_type;         /* msg is MSG_BAD_TYPE (legacy trees word it differently) */
    expr_av **owned;       /* containers copied during this apply: safe to modify in place */
    size_t n_owned, cap_owned;
} upd;

static dyn_err
fail(upd *u, const char *msg)
{
    u->msg = msg;
    u->bad_type = false;
    return DYN_EVALIDATION;
}

static dyn_err
fail_type(upd *u)
{
    u->msg = MSG_BAD_TYPE;
    u->bad_type = true;
    return DYN_EVALIDATION;
}

static expr_av *
new_av(upd *u, int vc)
{
    expr_av *v = dyn_arena_alloc(u->a, sizeof *v);
    if (v != NULL) {
        *v = (expr_av)DYNE__V1__ATTRIBUTE_VALUE__INIT;
        v->value_case = (Dyne__V1__AttributeValue__ValueCase)vc;
    }
    return v;
}

static bool
is_owned(const upd *u, const expr_av *v)
{
    for (size_t i = 0; i < u->n_owned; i++)
        if (u->owned[i] == v)
            return true;
    return false;
}

static bool
own(upd *u, expr_av *v)
{
    if (u->n_owned == u->cap_owned) {
        size_t cap = u->cap_owned ? 2 * u->cap_owned : 16;
        expr_av **grown = dyn_arena_alloc(u->a, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        if (u->n_owned)
            memcpy(grown, u->owned, u->n_owned * sizeof *grown);
        u->owned = grown;
        u->cap_owned = cap;
    }
    u->owned[u->n_owned++] = v;
    return true;
}

/* A modifiable copy of map or list value v: the pointer arrays are copied, the elements are
 * shared until they are themselves replaced. */
static expr_av *
cow(upd *u, const expr_av *v)
{
    expr_av *c;

    if (is_owned(u, v))
        return (expr_av *)v;
    if ((c = new_av(u, (int)v->value_case)) == NULL)
        return NULL;
    if (v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_M) {
        expr_map *m = dyn_arena_alloc(u->a, sizeof *m);
        size_t n = v->m ? v->m->n_values : 0;
        if (m == NULL)
            return NULL;
        *m = (expr_map)DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
        m->n_values = n;
        if (n && (m->values = dyn_arena_memdup(u->a, v->m->values, n * sizeof *m->values)) == NULL)
            return NULL;
        c->m = m;
    } else {
        Dyne__V1__AttributeValueList *l = dyn_arena_alloc(u->a, sizeof *l);
        size_t n = v->l ? v->l->n_values : 0;
        if (l == NULL)
            return NULL;
        *l = (Dyne__V1__AttributeValueList)DYNE__V1__ATTRIBUTE_VALUE_LIST__INIT;
        l->n_values = n;
        if (n && (l->values = dyn_arena_memdup(u->a, v->l->values, n * sizeof *l->values)) == NULL)
            return NULL;
        c->l = l;
    }
    return own(u, c) ? c : NULL;
}

static dyn_err
map_put(upd *u, expr_map *m, const char *key, expr_av *v)
{
    expr_entry *e = dyn_arena_alloc(u->a, sizeof *e);

    if (e == NULL)
        return DYN_ENOMEM;
    *e = (expr_entry)DYNE__V1__ATTRIBUTE_VALUE_MAP__VALUES_ENTRY__INIT;
    e->key = (char *)key;
    e->value = v;
    for (size_t i = 0; i < m->n_values; i++) {
        if (expr_key_eq(m->values[i]->key, key)) {
            m->values[i] = e;   /* a fresh entry: the old one may belong to the old item */
            return DYN_OK;
        }
    }
    expr_entry **grown = dyn_arena_alloc(u->a, (m->n_values + 1) * sizeof *grown);
    if (grown == NULL)
        return DYN_ENOMEM;
    if (m->n_values)
        memcpy(grown, m->values, m->n_values * sizeof *grown);
    grown[m->n_values++] = e;
    m->values = grown;
    return DYN_OK;
}

static dyn_err
list_put(upd *u, Dyne__V1__AttributeValueList *l, uint32_t index, expr_av *v)
{
    if (index < l->n_values) {
        l->values[index] = v;
        return DYN_OK;
    }
    /* SET l[i] past the end appends, as DynamoDB does */
    expr_av **grown = dyn_arena_alloc(u->a, (l->n_values + 1) * sizeof *grown);
    if (grown == NULL)
        return DYN_ENOMEM;
    if (l->n_values)
        memcpy(grown, l->values, l->n_values * sizeof *grown);
    grown[l->n_values++] = v;
    l->values = grown;
    return DYN_OK;
}

static const expr_av *
child_of(const expr_av *c, const expr_elem *e)
{
    if (e->name)
        return c->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_M ? expr_map_get(c->m, e->name)
                                                                  : NULL;
    if (c->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_L && c->l && e->index < c->l->n_values)
        return c->l->values[e->index];
    return NULL;
}

static dyn_err
put_child(upd *u, expr_av *c, const expr_elem *e, expr_av *v)
{
    if (e->name)
        return map_put(u, c->m, e->name, v);
    return list_put(u, c->l, e->index, v);
}

/* The container holding path's last element, made modifiable along the way. A missing
 * intermediate, or one of the wrong type, makes the path invalid for update. */
static dyn_err
walk_parent(upd *u, expr_av *root, const expr_path *path, expr_av **parent)
{
    expr_av *c = root;
    dyn_err rc;

    *parent = NULL;
    for (uint32_t i = 0; i + 1 < path->n; i++) {
        const expr_elem *e = &path->elems[i], *next = &path->elems[i + 1];
        const expr_av *child = child_of(c, e);
        expr_av *copy;
        int want = next->name ? DYNE__V1__ATTRIBUTE_VALUE__VALUE_M : DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        if (child == NULL || (int)child->value_case != want)
            return fail(u, MSG_BAD_PATH);
        if (is_owned(u, child)) {
            c = (expr_av *)child;
            continue;
        }
        if ((copy = cow(u, child)) == NULL)
            return DYN_ENOMEM;
        if ((rc = put_child(u, c, e, copy)) != DYN_OK)
            return rc;
        c = copy;
    }
    /* the last element must fit its container: a key into a map, an index into a list */
    const expr_elem *last = &path->elems[path->n - 1];
    if ((int)c->value_case != (last->name ? DYNE__V1__ATTRIBUTE_VALUE__VALUE_M
                                          : DYNE__V1__ATTRIBUTE_VALUE__VALUE_L))
        return fail(u, MSG_BAD_PATH);
    *parent = c;
    return DYN_OK;
}

static dyn_err
set_path(upd *u, expr_av *root, const expr_path *path, expr_av *v)
{
    expr_av *parent;
    dyn_err rc = walk_parent(u, root, path, &parent);

    if (rc != DYN_OK)
        return rc;
    return put_child(u, parent, &path->elems[path->n - 1], v);
}

static dyn_err
remove_path(upd *u, expr_av *root, const expr_path *path)
{
    const expr_elem *last = &path->elems[path->n - 1];
    expr_av *parent;
    dyn_err rc = walk_parent(u, root, path, &parent);

    if (rc != DYN_OK)
        return rc;
    if (last->name) {
        expr_map *m = parent->m;
        for (size_t i = 0; i < m->n_values; i++) {
            if (expr_key_eq(m->values[i]->key, last->name)) {
                memmove(&m->values[i], &m->values[i + 1], (m->n_values - i - 1) * sizeof *m->values);
                m->n_values--;
                break;
            }
        }
    } else if (parent->l && last->index < parent->l->n_values) {
        Dyne__V1__AttributeValueList *l = parent->l;
        memmove(&l->values[last->index], &l->values[last->index + 1],
                (l->n_values - last->index - 1) * sizeof *l->values);
        l->n_values--;
    }
    return DYN_OK;
}

static dyn_err
num_value(upd *u, const dyn_num *n, expr_av **out)
{
    char buf[DYN_NUM_TEXT_MAX];
    expr_av *v = new_av(u, DYNE__V1__ATTRIBUTE_VALUE__VALUE_N);
    size_t len = dyn_num_format(n, buf, sizeof buf);

    if (v == NULL || (v->n = dyn_arena_memdup(u->a, buf, len + 1)) == NULL)
        return DYN_ENOMEM;
    *out = v;
    return DYN_OK;
}

static dyn_err
parse_num(upd *u, const char *s, dyn_num *out)
{
    const char *m = NULL;
    if (s == NULL || dyn_num_parse(s, strlen(s), out, &m) != DYN_OK)
        return fail(u, m ? m : DYN_NUM_MSG_NOT_NUMERIC);
    return DYN_OK;
}

/* The number of N value v, the operand node n evaluated to: parsed at parse time for an
 * expression value, else now. */
static dyn_err
operand_num(upd *u, const expr_node *n, const expr_av *v, dyn_num *out)
{
    if (n->kind == N_VALUE && n->num_ok && n->value == v) {
        *out = n->num;
        return DYN_OK;
    }
    return parse_num(u, v->n, out);
}

/* The value of a SET operand, read from the old item. */
static dyn_err
eval_value(upd *u, const expr_node *n, expr_av **out)
{
    expr_av *x, *y;
    dyn_err rc;

    *out = NULL;
    switch (n->kind) {
    case N_VALUE:
        *out = (expr_av *)n->value;
        return DYN_OK;
    case N_PATH:
        if ((*out = (expr_av *)expr_path_get(u->old, &n->path)) == NULL)
            return fail(u, MSG_MISSING);
        return DYN_OK;
    case N_PLUS:
    case N_MINUS: {
        dyn_num a, b, r;
        const char *m = NULL;
        if ((rc = eval_value(u, n->args[0], &x)) != DYN_OK ||
            (rc = eval_value(u, n->args[1], &y)) != DYN_OK)
            return rc;
        if (x->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_N ||
            y->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_N)
            return fail_type(u);
        if ((rc = operand_num(u, n->args[0], x, &a)) != DYN_OK ||
            (rc = operand_num(u, n->args[1], y, &b)) != DYN_OK)
            return rc;
        rc = n->kind == N_PLUS ? dyn_num_add(&a, &b, &r, &m) : dyn_num_sub(&a, &b, &r, &m);
        if (rc != DYN_OK)
            return rc == DYN_EVALIDATION ? fail(u, m ? m : DYN_NUM_MSG_OVERFLOW) : rc;
        return num_value(u, &r, out);
    }
    case N_FUNC:
        if (n->op == F_IF_NOT_EXISTS) {
            if ((*out = (expr_av *)expr_path_get(u->old, &n->args[0]->path)) != NULL)
                return DYN_OK;
            return eval_value(u, n->args[1], out);
        }
        if (n->op == F_LIST_APPEND) {
            if ((rc = eval_value(u, n->args[0], &x)) != DYN_OK ||
                (rc = eval_value(u, n->args[1], &y)) != DYN_OK)
                return rc;
            if (x->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_L ||
                y->value_case != DYNE__V1__ATTRIBUTE_VALUE__VALUE_L)
                return fail_type(u);
            size_t nx = x->l ? x->l->n_values : 0, ny = y->l ? y->l->n_values : 0;
            expr_av *v = new_av(u, DYNE__V1__ATTRIBUTE_VALUE__VALUE_L);
            Dyne__V1__AttributeValueList *l = dyn_arena_alloc(u->a, sizeof *l);
            if (v == NULL || l == NULL)
                return DYN_ENOMEM;
            *l = (Dyne__V1__AttributeValueList)DYNE__V1__ATTRIBUTE_VALUE_LIST__INIT;
            l->n_values = nx + ny;
            if (nx + ny > 0 &&
                (l->values = dyn_arena_alloc(u->a, (nx + ny) * sizeof *l->values)) == NULL)
                return DYN_ENOMEM;
            if (nx)
                memcpy(l->values, x->l->values, nx * sizeof *l->values);
            if (ny)
                memcpy(l->values + nx, y->l->values, ny * sizeof *l->values);
            v->l = l;
            *out = v;
            return DYN_OK;
        }
        return DYN_EINTERNAL;
    default:
        return DYN_EINTERNAL;
    }
}

/* ---- sets ---- */

static size_t
set_n(const expr_av *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS: return v->ss ? v->ss->n_values : 0;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS: return v->ns ? v->ns->n_values : 0;
    default: return v->bs ? v->bs->n_values : 0;
    }
}

static bool
set_elem_in(const expr_av *set, const expr_av *from, size_t i)
{
    size_t n = set_n(set);
    for (size_t j = 0; j < n; j++) {
        switch (set->value_case) {
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS:
            if (strcmp(set->ss->values[j], from->ss->values[i]) == 0)
                return true;
            break;
        case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS: {
            dyn_num a, b;
            const char *x = set->ns->values[j], *y = from->ns->values[i];
            if (dyn_num_parse(x, strlen(x), &a, NULL) == DYN_OK &&
                dyn_num_parse(y, strlen(y), &b, NULL) == DYN_OK ? dyn_num_cmp(&a, &b) == 0
                                                                : strcmp(x, y) == 0)
                return true;
            break;
        }
        default: {
            const ProtobufCBinaryData *x = &set->bs->values[j], *y = &from->bs->values[i];
            if (x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0))
                return true;
            break;
        }
        }
    }
    return false;
}

/* union (add) or difference (!add) of two sets of the same type; *out NULL when empty. */
static dyn_err
set_combine(upd *u, const expr_av *a, const expr_av *b, bool add, expr_av **out)
{
    size_t na = set_n(a), nb = set_n(b), n = 0, cap = na + (add ? nb : 0);
    int vc = (int)a->value_case;
    expr_av *v = new_av(u, vc);
    void *elems;
    size_t esz = vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS ? sizeof(ProtobufCBinaryData)
                                                           : sizeof(char *);

    *out = NULL;
    if (v == NULL || (elems = dyn_arena_alloc(u->a, (cap ? cap : 1) * esz)) == NULL)
        return DYN_ENOMEM;
#define TAKE(src, i)                                                                           \
    do {                                                                                       \
        const void *from_ = vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS   ? (const void *)&(src)->ss->values[i] \
                            : vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS ? (const void *)&(src)->ns->values[i] \
                                                                        : (const void *)&(src)->bs->values[i]; \
        memcpy((char *)elems + n * esz, from_, esz);                                           \
        n++;                                                                                   \
    } while (0)
    for (size_t i = 0; i < na; i++)
        if (add || !set_elem_in(b, a, i))
            TAKE(a, i);
    if (add)
        for (size_t i = 0; i < nb; i++)
            if (!set_elem_in(a, b, i))
                TAKE(b, i);
#undef TAKE
    if (n == 0)
        return DYN_OK;
    if (vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS) {
        Dyne__V1__StringSet *s = dyn_arena_alloc(u->a, sizeof *s);
        if (s == NULL)
            return DYN_ENOMEM;
        *s = (Dyne__V1__StringSet)DYNE__V1__STRING_SET__INIT;
        s->n_values = n;
        s->values = elems;
        v->ss = s;
    } else if (vc == DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS) {
        Dyne__V1__NumberSet *s = dyn_arena_alloc(u->a, sizeof *s);
        if (s == NULL)
            return DYN_ENOMEM;
        *s = (Dyne__V1__NumberSet)DYNE__V1__NUMBER_SET__INIT;
        s->n_values = n;
        s->values = elems;
        v->ns = s;
    } else {
        Dyne__V1__BinarySet *s = dyn_arena_alloc(u->a, sizeof *s);
        if (s == NULL)
            return DYN_ENOMEM;
        *s = (Dyne__V1__BinarySet)DYNE__V1__BINARY_SET__INIT;
        s->n_values = n;
        s->values = elems;
        v->bs = s;
    }
    *out = v;
    return DYN_OK;
}

static dyn_err
apply_add(upd *u, expr_av *root, const expr_action *act)
{
    const expr_map *cur_item = root->m;
    const expr_av *cur = expr_path_get(cur_item, &act->path), *v = act->val->value;
    expr_av *res;
    dyn_err rc;

    if (cur == NULL)
        return set_path(u, root, &act->path, (expr_av *)v);
    if (cur->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N &&
        v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N) {
        dyn_num a, b, r;
        const char *m = NULL;
        if ((rc = parse_num(u, cur->n, &a)) != DYN_OK ||
            (rc = operand_num(u, act->val, v, &b)) != DYN_OK)
            return rc;
        if ((rc = dyn_num_add(&a, &b, &r, &m)) != DYN_OK)
            return rc == DYN_EVALIDATION ? fail(u, m ? m : DYN_NUM_MSG_OVERFLOW) : rc;
        if ((rc = num_value(u, &r, &res)) != DYN_OK)
            return rc;
        return set_path(u, root, &act->path, res);
    }
    if (cur->value_case != v->value_case || !expr_is_set_type((int)v->value_case))
        return fail_type(u);
    if ((rc = set_combine(u, cur, v, true, &res)) != DYN_OK)
        return rc;
    return set_path(u, root, &act->path, res);
}

static dyn_err
apply_delete(upd *u, expr_av *root, const expr_action *act)
{
    const expr_av *cur = expr_path_get(root->m, &act->path), *v = act->val->value;
    expr_av *res;
    dyn_err rc;

    if (cur == NULL)
        return DYN_OK;   /* nothing to delete from */
    if (cur->value_case != v->value_case || !expr_is_set_type((int)v->value_case))
        return fail_type(u);
    if ((rc = set_combine(u, cur, v, false, &res)) != DYN_OK)
        return rc;
    /* a set may not be empty: deleting its last elements removes the attribute */
    return res ? set_path(u, root, &act->path, res) : remove_path(u, root, &act->path);
}

dyn_err
dyn_expr_apply_update(const dyn_expr *e, const Dyne__V1__AttributeValueMap *item,
                      const char *const key_names[2], dyn_arena *a,
                      Dyne__V1__AttributeValueMap **new_item, const char **msg)
{
    static const expr_map empty = DYNE__V1__ATTRIBUTE_VALUE_MAP__INIT;
    upd u = { .a = a, .old = item ? item : &empty };
    expr_av root_src, *root, **vals = NULL;
    dyn_err rc = DYN_OK;

    *new_item = NULL;
    *msg = NULL;
    if (e == NULL || e->kind != DYN_EXPR_UPDATE)
        return DYN_EINTERNAL;
    for (uint32_t i = 0; i < e->n_actions; i++) {
        const char *head = e->actions[i].path.elems[0].name;
        for (int k = 0; k < 2; k++) {
            if (key_names && key_names[k] && expr_key_eq(key_names[k], head)) {
                *msg = e->legacy ? dyn_arena_printf(a, MSG_LEGACY_KEY_FMT, head)
                                 : dyn_arena_printf(a, MSG_KEY_FMT, head);
                return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
            }
        }
    }
    /* Evaluate every SET value first, against the old item only. */
    if (e->n_actions && (vals = dyn_arena_zalloc(a, e->n_actions * sizeof *vals)) == NULL)
        return DYN_ENOMEM;
    for (uint32_t i = 0; i < e->n_actions; i++)
        if (e->actions[i].kind == U_SET && (rc = eval_value(&u, e->actions[i].val, &vals[i])) != DYN_OK)
            goto out;

    root_src = (expr_av)DYNE__V1__ATTRIBUTE_VALUE__INIT;
    root_src.value_case = DYNE__V1__ATTRIBUTE_VALUE__VALUE_M;
    root_src.m = (expr_map *)u.old;
    if ((root = cow(&u, &root_src)) == NULL) {
        rc = DYN_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < e->n_actions && rc == DYN_OK; i++) {
        const expr_action *act = &e->actions[i];
        switch (act->kind) {
        case U_SET: rc = set_path(&u, root, &act->path, vals[i]); break;
        case U_REMOVE: rc = remove_path(&u, root, &act->path); break;
        case U_ADD: rc = apply_add(&u, root, act); break;
        case U_DELETE: rc = apply_delete(&u, root, act); break;
        }
    }
    if (rc == DYN_OK)
        *new_item = root->m;
out:
    if (rc == DYN_EVALIDATION)
        *msg = e->legacy && u.bad_type ? MSG_LEGACY_BAD_TYPE : u.msg;
    return rc;
}
