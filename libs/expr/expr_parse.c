/* libs/expr parser: recursive descent over the token array into an arena tree, with
 * ExpressionAttributeNames/Values substituted on the way. Syntax errors stop the parse at once;
 * semantic errors are collected by category and the one DynamoDB reports first wins (its order
 * differs per expression kind, see *_order below, taken from dynalite's AWS-verified parsers). */
#include "libs/expr/expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    E_PARENS,
    E_UNKNOWN_FN,
    E_MISUSED_FN,
    E_RESERVED,
    E_SECTION,
    E_ATTR_NAME,
    E_ATTR_VAL,
    E_OVERLAP,
    E_CONFLICT,
    E_OPERAND,
    E_DISTINCT,
    E_FUNCTION,
    E__COUNT
};

/* Conditions report undefined names and values from one slot (E_ATTR_NAME), updates from two. */
static const uint8_t cond_order[] = { E_PARENS,    E_UNKNOWN_FN, E_MISUSED_FN, E_RESERVED,
                                      E_ATTR_NAME, E_OPERAND,    E_DISTINCT,   E_FUNCTION };
static const uint8_t update_order[] = { E_RESERVED, E_UNKNOWN_FN, E_SECTION,
                                        E_ATTR_NAME, E_ATTR_VAL,  E_OVERLAP,
                                        E_CONFLICT,  E_OPERAND,   E_FUNCTION };
static const uint8_t proj_order[] = { E_RESERVED, E_ATTR_NAME, E_OVERLAP, E_CONFLICT };

typedef struct parser {
    dyn_expr_ctx *ctx;
    dyn_arena *a;
    dyn_expr_kind kind;
    const char *src;
    uint32_t len;
    expr_tok *toks;
    const expr_tok *tok;  /* the current token, in toks */
    uint32_t n_ops;
    bool failed;          /* syntax error, limit or out of memory: unwinding */
    dyn_err rc;
    const char *msg;      /* for failed: the message without the "Invalid X: " prefix */
    const char *err[E__COUNT];
    bool any_err;         /* some err[] is set */
    expr_path **targets;  /* update/projection paths, for the overlap check */
    uint32_t n_targets, cap_targets;
    expr_action *actions;
    uint32_t n_actions, cap_actions;
    unsigned sections;    /* update sections seen, bit per expr_action_kind */
    unsigned char *blk, *blk_end;   /* the tree's nodes are carved from here (arena block) */
} parser;

static const char *const kind_names[] = {
    [DYN_EXPR_CONDITION] = "ConditionExpression",
    [DYN_EXPR_FILTER] = "FilterExpression",
    [DYN_EXPR_KEY_CONDITION] = "KeyConditionExpression",
    [DYN_EXPR_UPDATE] = "UpdateExpression",
    [DYN_EXPR_PROJECTION] = "ProjectionExpression",
};

static const char *const cmp_names[] = { "=", "<>", "<", "<=", ">", ">=" };

/* ---- placeholders ---- */

/* Maps with at most this many entries are searched linearly: no sort in dyn_expr_ctx_init(). */
#define CTX_LINEAR_MAX 8

static int
name_order_cmp(const void *x, const void *y, void *arg)
{
    const dyn_expr_name *names = arg;
    return strcmp(names[*(const uint32_t *)x].key, names[*(const uint32_t *)y].key);
}

static int
value_order_cmp(const void *x, const void *y, void *arg)
{
    const expr_map *m = arg;
    return strcmp(m->values[*(const uint32_t *)x]->key, m->values[*(const uint32_t *)y]->key);
}

static bool
placeholder_ok(const char *k, char sigil)
{
    size_t n = 1;

    if (k[0] != sigil)
        return false;
    while (expr_cclass[(unsigned char)k[n]] & CC_WORD)
        n++;
    return k[n] == '\0' && n >= 2 && n <= DYN_EXPR_MAX_PLACEHOLDER;
}

dyn_err
dyn_expr_ctx_init(dyn_expr_ctx *ctx, const dyn_expr_name *names, size_t n_names,
                  const Dyne__V1__AttributeValueMap *values, dyn_arena *a, const char **msg)
{
    size_t n_values = values ? values->n_values : 0;

    memset(ctx, 0, sizeof *ctx);
    ctx->arena = a;
    *msg = NULL;
    /* dynalite's order: names (empty, then each key), then values. */
    if (names != NULL) {
        if (n_names == 0) {
            *msg = "ExpressionAttributeNames must not be empty";
            return DYN_EVALIDATION;
        }
        for (size_t i = 0; i < n_names; i++) {
            if (!placeholder_ok(names[i].key, '#')) {
                *msg = dyn_arena_printf(
                    a, "ExpressionAttributeNames contains invalid key: Syntax error; key: \"%s\"",
                    names[i].key);
                return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
            }
        }
    }
    if (values != NULL) {
        if (n_values == 0) {
            *msg = "ExpressionAttributeValues must not be empty";
            return DYN_EVALIDATION;
        }
        for (size_t i = 0; i < n_values; i++) {
            if (!placeholder_ok(values->values[i]->key, ':')) {
                *msg = dyn_arena_printf(
                    a, "ExpressionAttributeValues contains invalid key: Syntax error; key: \"%s\"",
                    values->values[i]->key);
                return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
            }
        }
    }
    ctx->names = names;
    ctx->n_names = names ? n_names : 0;
    ctx->values = values;
    if (ctx->n_names + n_values == 0)
        return DYN_OK;
    size_t n_used = ctx->n_names + n_values;
    /* at least the 16 bytes the arena hands out anyway, so that a few flags clear inline */
    bool *used = dyn_arena_alloc(a, n_used < 16 ? 16 : n_used);
    if (used == NULL)
        return DYN_ENOMEM;
    memset(used, 0, n_used < 16 ? 16 : n_used);
    ctx->name_used = ctx->n_names > 0 ? used : NULL;
    ctx->value_used = n_values > 0 ? used + ctx->n_names : NULL;
    if (ctx->n_names > CTX_LINEAR_MAX) {
        if ((ctx->name_order = dyn_arena_alloc(a, ctx->n_names * sizeof(uint32_t))) == NULL)
            return DYN_ENOMEM;
        for (size_t i = 0; i < ctx->n_names; i++)
            ctx->name_order[i] = (uint32_t)i;
        qsort_r(ctx->name_order, ctx->n_names, sizeof(uint32_t), name_order_cmp,
                (void *)names);
    }
    if (n_values > CTX_LINEAR_MAX) {
        if ((ctx->value_order = dyn_arena_alloc(a, n_values * sizeof(uint32_t))) == NULL)
            return DYN_ENOMEM;
        for (size_t i = 0; i < n_values; i++)
            ctx->value_order[i] = (uint32_t)i;
        qsort_r(ctx->value_order, n_values, sizeof(uint32_t), value_order_cmp, (void *)values);
    }
    return DYN_OK;
}

static const char *
unused_list(dyn_arena *a, const char *what, size_t n, const bool *used,
            const char *(*key)(const dyn_expr_ctx *, size_t), const dyn_expr_ctx *ctx)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (!used[i])
            total += strlen(key(ctx, i)) + 2;
    if (total == 0)
        return NULL;
    char *keys = dyn_arena_alloc(a, total + 1), *w = keys;
    if (keys == NULL)
        return "";
    for (size_t i = 0; i < n; i++) {
        if (used[i])
            continue;
        if (w != keys) {
            memcpy(w, ", ", 2);
            w += 2;
        }
        size_t l = strlen(key(ctx, i));
        memcpy(w, key(ctx, i), l);
        w += l;
    }
    *w = '\0';
    const char *m = dyn_arena_printf(
        a, "Value provided in %s unused in expressions: keys: {%s}", what, keys);
    return m ? m : "";
}

static const char *
name_key(const dyn_expr_ctx *ctx, size_t i)
{
    return ctx->names[i].key;
}

static const char *
value_key(const dyn_expr_ctx *ctx, size_t i)
{
    return ctx->values->values[i]->key;
}

dyn_err
dyn_expr_ctx_check_unused(const dyn_expr_ctx *ctx, const char **msg)
{
    const char *m;

    *msg = NULL;
    m = unused_list(ctx->arena, "ExpressionAttributeNames", ctx->n_names, ctx->name_used,
                    name_key, ctx);
    if (m == NULL && ctx->values != NULL)
        m = unused_list(ctx->arena, "ExpressionAttributeValues", ctx->values->n_values,
                        ctx->value_used, value_key, ctx);
    if (m == NULL)
        return DYN_OK;
    if (*m == '\0')
        return DYN_ENOMEM;
    *msg = m;
    return DYN_EVALIDATION;
}

/* ---- parser plumbing ---- */

static void
fail_nomem(parser *p)
{
    if (!p->failed) {
        p->failed = true;
        p->rc = DYN_ENOMEM;
    }
}

#define PBLOCK_MIN 1024   /* bytes of the first node block, for short expressions */
#define PBLOCK_MAX 4096   /* stays below the arena's own-chunk size */

/* Another block for palloc(): sized from the text for the first (about 32 bytes of tree per
 * byte of expression), PBLOCK_MAX after that, or n if bigger. */
static void *
pgrow(parser *p, size_t need)
{
    size_t size = p->blk == NULL ? (size_t)p->len * 32 : PBLOCK_MAX;
    unsigned char *b;

    size = size < PBLOCK_MIN ? PBLOCK_MIN : size > PBLOCK_MAX ? PBLOCK_MAX : size;
    if (size < need)
        size = need;
    if ((b = dyn_arena_alloc(p->a, size)) == NULL) {
        fail_nomem(p);
        return NULL;
    }
    p->blk = b + need;
    p->blk_end = b + size;
    return b;
}

/* Tree memory, 16-byte aligned, not zeroed: one bump in the common case. */
static inline void *
palloc_raw(parser *p, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    void *m = p->blk;

    if ((size_t)(p->blk_end - p->blk) < need)
        return pgrow(p, need);
    p->blk += need;
    return m;
}

static inline void *
palloc(parser *p, size_t n)
{
    void *m = palloc_raw(p, n);
    if (m != NULL)
        memset(m, 0, n);
    return m;
}

static void
fail_msg(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail_msg(parser *p, const char *fmt, ...)
{
    va_list ap;

    if (p->failed)
        return;
    va_start(ap, fmt);
    p->msg = dyn_arena_vprintf(p->a, fmt, ap);
    va_end(ap);
    p->failed = true;
    p->rc = p->msg ? DYN_EVALIDATION : DYN_ENOMEM;
}

/* DynamoDB quotes the offending token and the text from the token before it through the token
 * after it (observed: "a b" -> token "b", near "a b"; "SET a = :x," -> token "<EOF>", near ","). */
static void
syntax_error(parser *p)
{
    const expr_tok *t = p->tok;
    uint32_t start = t > p->toks ? t[-1].start : t->start, end;

    if (t->type == T_EOF) {
        end = p->len;
    } else {
        const expr_tok *nt = t + 1;
        end = nt->type == T_EOF ? p->len : nt->start + nt->len;
    }
    if (t->type == T_EOF)
        fail_msg(p, "Syntax error; token: \"<EOF>\", near: \"%.*s\"", (int)(end - start),
                 p->src + start);
    else
        fail_msg(p, "Syntax error; token: \"%.*s\", near: \"%.*s\"", (int)t->len,
                 p->src + t->start, (int)(end - start), p->src + start);
}

static void
semantic(parser *p, int cat, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
semantic(parser *p, int cat, const char *fmt, ...)
{
    va_list ap;

    if (p->err[cat] != NULL)
        return;
    va_start(ap, fmt);
    p->err[cat] = dyn_arena_vprintf(p->a, fmt, ap);
    va_end(ap);
    p->any_err = true;
    if (p->err[cat] == NULL)
        fail_nomem(p);
}

static inline const expr_tok *
cur(const parser *p)
{
    return p->tok;
}

/* The token after the current one (T_EOF stays put). */
static inline const expr_tok *
peek1(const parser *p)
{
    return p->tok->type != T_EOF ? p->tok + 1 : p->tok;
}

static inline void
advance(parser *p)
{
    if (p->tok->type != T_EOF)
        p->tok++;
}

static bool
expect(parser *p, expr_tok_type type)
{
    if (p->failed)
        return false;
    if (cur(p)->type != type) {
        syntax_error(p);
        return false;
    }
    advance(p);
    return true;
}

/* Words that are grammar, not names, in this kind of expression. */
static bool
is_keyword(const parser *p, const expr_tok *t)
{
    if (t->kw == KW_NONE)
        return false;
    if (p->kind == DYN_EXPR_UPDATE)
        return t->kw >= KW_SET;
    return p->kind != DYN_EXPR_PROJECTION && t->kw <= KW_IN;
}

static bool
count_op(parser *p)
{
    /* AWS reports the count at which it gave up, which is always 301. */
    if (++p->n_ops > DYN_EXPR_MAX_OPERATORS) {
        fail_msg(p, "The expression contains too many operators; operator count: %d",
                 DYN_EXPR_MAX_OPERATORS + 1);
        return false;
    }
    return true;
}

static char *
tok_dup(parser *p, const expr_tok *t)
{
    const char *src = p->src + t->start;
    uint32_t n = t->len;
    char *s = palloc_raw(p, n + 1);

    if (s != NULL) {
        /* names are a few bytes: a loop is cheaper than calling memcpy */
        for (uint32_t i = 0; i < n; i++)
            s[i] = src[i];
        s[n] = '\0';
    }
    return s;
}

static const char *
resolve_name(parser *p, const expr_tok *t)
{
    const dyn_expr_ctx *ctx = p->ctx;
    const char *s = p->src + t->start;
    long i = expr_ctx_name_find(ctx, s, t->len);

    if (i >= 0) {
        ctx->name_used[i] = true;
        return ctx->names[i].value;
    }
    semantic(p, E_ATTR_NAME,
             "An expression attribute name used in the document path is not defined; "
             "attribute name: %.*s",
             (int)t->len, s);
    return tok_dup(p, t);   /* keeps the path well-formed for the checks that follow */
}

/* The value t names; *vix its index in ctx->values. */
static const expr_av *
resolve_value(parser *p, const expr_tok *t, uint32_t *vix)
{
    const dyn_expr_ctx *ctx = p->ctx;
    const char *s = p->src + t->start;
    long i = expr_ctx_value_find(ctx, s, t->len);

    if (i >= 0) {
        ctx->value_used[i] = true;
        *vix = (uint32_t)i;
        return ctx->values->values[i]->value;
    }
    semantic(p, p->kind == DYN_EXPR_UPDATE ? E_ATTR_VAL : E_ATTR_NAME,
             "An expression attribute value used in expression is not defined; "
             "attribute value: %.*s",
             (int)t->len, s);
    return NULL;
}

/* The args array (filled in by the caller) follows the node in the same allocation. */
static inline expr_node *
new_node(parser *p, expr_node_kind kind, uint32_t n_args)
{
    expr_node *n = palloc_raw(p, sizeof *n + n_args * sizeof(expr_node *));
    if (n == NULL)
        return NULL;
    /* Field by field: a memset or compound literal of the whole node becomes rep stos; num is
     * left unset, as it is read only under num_ok. */
    n->kind = (uint8_t)kind;
    n->op = 0;
    n->parens = 0;
    n->type_arg = 0;
    n->n_args = n_args;
    n->args = n_args > 0 ? (expr_node **)(n + 1) : NULL;
    n->path.n = 0;
    n->path.elems = NULL;
    n->value = NULL;
    n->name = NULL;
    n->num_ok = false;
    n->num_want = false;
    n->vix = 0;
    return n;
}

/* Parses an N value's number once, for evaluation and arithmetic. */
static void
value_num(expr_node *n)
{
    if (n->kind == N_VALUE)
        n->num_want = true;
    if (n->kind == N_VALUE && !n->num_ok && n->value != NULL &&
        n->value->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N && n->value->n != NULL)
        n->num_ok = dyn_num_parse(n->value->n, strlen(n->value->n), &n->num, NULL) == DYN_OK;
}

static expr_node *
value_node(parser *p)
{
    const expr_tok *t = cur(p);
    expr_node *n = new_node(p, N_VALUE, 0);

    if (n == NULL)
        return NULL;
    n->value = resolve_value(p, t, &n->vix);
    /* an update needs the number only in + / - and ADD, which parse it themselves */
    if (p->kind != DYN_EXPR_UPDATE)
        value_num(n);
    advance(p);
    return n;
}

/* ---- paths ---- */

static char *
path_str(parser *p, const expr_path *path)
{
    size_t cap = 3;
    for (uint32_t i = 0; i < path->n; i++)
        cap += (path->elems[i].name ? strlen(path->elems[i].name) : 12) + 2;
    char *s = dyn_arena_alloc(p->a, cap), *w = s;
    if (s == NULL) {
        fail_nomem(p);
        return (char *)"";
    }
    *w++ = '[';
    for (uint32_t i = 0; i < path->n; i++) {
        if (i > 0) {
            *w++ = ',';
            *w++ = ' ';
        }
        if (path->elems[i].name)
            w += sprintf(w, "%s", path->elems[i].name);
        else
            w += sprintf(w, "[%u]", path->elems[i].index);
    }
    *w++ = ']';
    *w = '\0';
    return s;
}

static bool
path_elem_name(parser *p, expr_elem *e)
{
    const expr_tok *t = cur(p);

    if (t->type == T_NAME) {
        e->name = resolve_name(p, t);
    } else if (t->type == T_IDENT && !is_keyword(p, t)) {
        if (dyn_expr_is_reserved(p->src + t->start, t->len))
            semantic(p, E_RESERVED, "Attribute name is a reserved keyword; reserved keyword: %.*s",
                     (int)t->len, p->src + t->start);
        e->name = tok_dup(p, t);
    } else {
        syntax_error(p);
        return false;
    }
    advance(p);
    return !p->failed;
}

static bool
parse_path(parser *p, expr_path *out)
{
    uint32_t cap = 4;
    expr_elem *elems = palloc_raw(p, cap * sizeof *elems);

    out->n = 0;
    if (elems == NULL)
        return false;
    elems[0] = (expr_elem){ NULL, 0 };
    if (!path_elem_name(p, &elems[0]))
        return false;
    out->n = 1;
    for (;;) {
        const expr_tok *t = cur(p);
        expr_elem e = { NULL, 0 };
        if (t->type == T_LBRACK) {
            advance(p);
            t = cur(p);
            if (t->type != T_NUMBER) {
                syntax_error(p);
                return false;
            }
            uint64_t v = 0;
            for (uint32_t i = 0; i < t->len; i++) {
                v = v * 10 + (uint64_t)(p->src[t->start + i] - '0');
                if (v > UINT32_MAX)
                    v = UINT32_MAX;   /* past any list's end: reads miss, SET appends */
            }
            e.index = (uint32_t)v;
            advance(p);
            if (!expect(p, T_RBRACK))
                return false;
        } else if (t->type == T_DOT) {
            advance(p);
            if (!path_elem_name(p, &e))
                return false;
        } else {
            break;
        }
        if (out->n == cap) {
            expr_elem *grown = palloc_raw(p, 2 * cap * sizeof *grown);
            if (grown == NULL)
                return false;
            memcpy(grown, elems, cap * sizeof *elems);
            elems = grown;
            cap *= 2;
        }
        elems[out->n++] = e;
    }
    out->elems = elems;
    return true;
}

static expr_node *
path_node(parser *p)
{
    expr_node *n = new_node(p, N_PATH, 0);
    if (n == NULL || !parse_path(p, &n->path))
        return NULL;
    return n;
}

static bool
path_equal(const expr_path *a, const expr_path *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++) {
        const expr_elem *x = &a->elems[i], *y = &b->elems[i];
        if ((x->name == NULL) != (y->name == NULL))
            return false;
        if (x->name ? !expr_key_eq(x->name, y->name) : x->index != y->index)
            return false;
    }
    return true;
}

/* Update targets and projections may not name one path twice or one inside another. */
static void
add_target(parser *p, expr_path *path)
{
    for (uint32_t i = 0; i < p->n_targets && p->err[E_OVERLAP] == NULL; i++) {
        const expr_path *q = p->targets[i];
        uint32_t j, n = q->n < path->n ? q->n : path->n;
        bool differ = false;
        for (j = 0; j < n && !differ; j++) {
            const expr_elem *x = &q->elems[j], *y = &path->elems[j];
            if ((x->name == NULL) != (y->name == NULL)) {
                semantic(p, E_CONFLICT,
                         "Two document paths conflict with each other; must remove or rewrite "
                         "one of these paths; path one: %s, path two: %s",
                         path_str(p, q), path_str(p, path));
                differ = true;
            } else if (x->name ? !expr_key_eq(x->name, y->name) : x->index != y->index) {
                differ = true;
            }
        }
        if (!differ)
            semantic(p, E_OVERLAP,
                     "Two document paths overlap with each other; must remove or rewrite one "
                     "of these paths; path one: %s, path two: %s",
                     path_str(p, q), path_str(p, path));
    }
    if (p->n_targets == p->cap_targets) {
        uint32_t cap = p->cap_targets ? 2 * p->cap_targets : 8;
        expr_path **grown = palloc(p, cap * sizeof *grown);
        if (grown == NULL)
            return;
        if (p->n_targets)
            memcpy(grown, p->targets, p->n_targets * sizeof *grown);
        p->targets = grown;
        p->cap_targets = cap;
    }
    p->targets[p->n_targets++] = path;
}

/* ---- types for the static checks ---- */

/* The type an operand is known to have before any item is seen (dynalite's getType); 0 when
 * it depends on the item. */
static int
static_type(const expr_node *n)
{
    switch (n->kind) {
    case N_VALUE:
        return n->value ? (int)n->value->value_case : 0;
    case N_PLUS:
    case N_MINUS:
        return DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
    case N_FUNC:
        switch (n->op) {
        case F_SIZE:
            return DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
        case F_BEGINS_WITH:
        case F_CONTAINS:
        case F_ATTRIBUTE_TYPE:
            return DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL;
        case F_LIST_APPEND:
            return DYNE__V1__ATTRIBUTE_VALUE__VALUE_L;
        case F_IF_NOT_EXISTS:
        case F_ATTRIBUTE_EXISTS:
        case F_ATTRIBUTE_NOT_EXISTS:
            return n->n_args > 1 ? static_type(n->args[1]) : 0;
        default:
            return 0;
        }
    default:
        return 0;
    }
}

static const char *
av_text(parser *p, const expr_av *v)
{
    switch (v->value_case) {
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_S:
        return v->s;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_N:
        return v->n;
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_B: {
        char *s = expr_base64(p->a, v->b.data, v->b.len);
        if (s == NULL)
            fail_nomem(p);
        return s ? s : "";
    }
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL:
        return v->bool_ ? "true" : "false";
    case DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL:
        return "true";
    default:
        return "";
    }
}

/* ---- condition grammar ---- */

static expr_node *parse_or(parser *p);
static expr_node *parse_operand(parser *p);

static void
check_misused(parser *p, expr_node *const *args, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (args[i]->kind == N_FUNC && args[i]->op != F_SIZE)
            semantic(p, E_MISUSED_FN,
                     "The function is not allowed to be used this way in an expression; "
                     "function: %s",
                     args[i]->name);
}

static void
check_distinct(parser *p, const char *op, const expr_node *x, const expr_node *y)
{
    if (x->kind == N_PATH && y->kind == N_PATH && path_equal(&x->path, &y->path))
        semantic(p, E_DISTINCT,
                 "The first operand must be distinct from the remaining operands for this "
                 "operator or function; operator: %s, first operand: %s",
                 op, path_str(p, &x->path));
}

/* A node in a condition's place: operands are a syntax error at the current token; size() is
 * a misused function. */
static bool
need_cond(parser *p, expr_node *n)
{
    if (n->kind == N_PATH || n->kind == N_VALUE) {
        syntax_error(p);
        return false;
    }
    if (n->kind == N_FUNC && n->op == F_SIZE)
        semantic(p, E_MISUSED_FN,
                 "The function is not allowed to be used this way in an expression; "
                 "function: %s",
                 n->name);
    return true;
}

static const char *const type_names[] = {
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_S] = "S",       [DYNE__V1__ATTRIBUTE_VALUE__VALUE_N] = "N",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_B] = "B",       [DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL] = "BOOL",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL] = "NULL", [DYNE__V1__ATTRIBUTE_VALUE__VALUE_L] = "L",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_M] = "M",       [DYNE__V1__ATTRIBUTE_VALUE__VALUE_SS] = "SS",
    [DYNE__V1__ATTRIBUTE_VALUE__VALUE_NS] = "NS",     [DYNE__V1__ATTRIBUTE_VALUE__VALUE_BS] = "BS",
};

const char *
expr_type_name(int vc)
{
    if (vc <= 0 || vc >= (int)(sizeof type_names / sizeof type_names[0]) || !type_names[vc])
        return "";
    return type_names[vc];
}

int
expr_type_from_name(const char *s)
{
    for (int vc = 1; vc < (int)(sizeof type_names / sizeof type_names[0]); vc++)
        if (type_names[vc] && strcmp(type_names[vc], s) == 0)
            return vc;
    return 0;
}

static void
check_cond_function(parser *p, expr_node *f)
{
    static const uint8_t arity[] = {
        [F_ATTRIBUTE_EXISTS] = 1, [F_ATTRIBUTE_NOT_EXISTS] = 1, [F_ATTRIBUTE_TYPE] = 2,
        [F_BEGINS_WITH] = 2,      [F_CONTAINS] = 2,             [F_SIZE] = 1,
    };
    int t;

    if (f->op == F_UNKNOWN) {
        semantic(p, E_UNKNOWN_FN, "Invalid function name; function: %s", f->name);
        return;
    }
    if (f->n_args != arity[f->op]) {
        semantic(p, E_OPERAND,
                 "Incorrect number of operands for operator or function; operator or function: "
                 "%s, number of operands: %u",
                 f->name, f->n_args);
        return;
    }
    if (f->n_args == 2)
        check_distinct(p, f->name, f->args[0], f->args[1]);
    switch (f->op) {
    case F_ATTRIBUTE_EXISTS:
    case F_ATTRIBUTE_NOT_EXISTS:
        if (f->args[0]->kind != N_PATH)
            semantic(p, E_FUNCTION,
                     "Operator or function requires a document path; operator or function: %s",
                     f->name);
        break;
    case F_BEGINS_WITH:
        for (uint32_t i = 0; i < 2; i++) {
            t = static_type(f->args[i]);
            if (t && t != DYNE__V1__ATTRIBUTE_VALUE__VALUE_S &&
                t != DYNE__V1__ATTRIBUTE_VALUE__VALUE_B) {
                semantic(p, E_FUNCTION,
                         "Incorrect operand type for operator or function; operator or function: "
                         "%s, operand type: %s",
                         f->name, expr_type_name(t));
                break;
            }
        }
        break;
    case F_ATTRIBUTE_TYPE:
        t = static_type(f->args[1]);
        if (t != DYNE__V1__ATTRIBUTE_VALUE__VALUE_S) {
            semantic(p, E_FUNCTION,
                     "Incorrect operand type for operator or function; operator or function: "
                     "%s, operand type: %s",
                     f->name, t ? expr_type_name(t) : "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}");
            break;
        }
        if (f->args[1]->kind == N_VALUE) {
            const char *want = f->args[1]->value->s;
            f->type_arg = (uint8_t)expr_type_from_name(want);
            if (f->type_arg == 0)
                semantic(p, E_FUNCTION,
                         "Invalid attribute type name found; type: %s, valid types: "
                         "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
                         want);
        }
        break;
    case F_SIZE:
        t = static_type(f->args[0]);
        if (t == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N || t == DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL ||
            t == DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL)
            semantic(p, E_FUNCTION,
                     "Incorrect operand type for operator or function; operator or function: "
                     "%s, operand type: %s",
                     f->name, expr_type_name(t));
        break;
    default:
        break;
    }
}

static void
check_update_function(parser *p, expr_node *f, const char *name)
{
    if (f->kind == N_FUNC && f->op == F_UNKNOWN) {
        semantic(p, E_UNKNOWN_FN, "Invalid function name; function: %s", name);
        return;
    }
    if (f->n_args != 2) {
        semantic(p, E_FUNCTION,
                 "Incorrect number of operands for operator or function; operator or function: "
                 "%s, number of operands: %u",
                 name, f->n_args);
        return;
    }
    if (f->kind == N_FUNC && f->op == F_IF_NOT_EXISTS) {
        if (f->args[0]->kind != N_PATH)
            semantic(p, E_FUNCTION,
                     "Operator or function requires a document path; operator or function: %s",
                     name);
        return;
    }
    int want = f->kind == N_FUNC ? DYNE__V1__ATTRIBUTE_VALUE__VALUE_L
                                 : DYNE__V1__ATTRIBUTE_VALUE__VALUE_N;
    for (uint32_t i = 0; i < 2; i++) {
        int t = expr_immediate_type(f->args[i]);
        if (t && t != want) {
            semantic(p, E_FUNCTION,
                     "Incorrect operand type for operator or function; operator or function: "
                     "%s, operand type: %s",
                     name, expr_type_name(t));
            return;
        }
    }
}

/* The function name[0..len) names, with *canon its spelling as a static string; F_UNKNOWN
 * (and *canon untouched) for none. */
static expr_fn
function_id(const parser *p, const char *name, uint32_t len, const char **canon)
{
#define FN(s) s, sizeof s - 1
    static const struct {
        const char *name;
        uint32_t len;
        expr_fn fn;
        bool update;
    } fns[] = {
        { FN("attribute_exists"), F_ATTRIBUTE_EXISTS, false },
        { FN("attribute_not_exists"), F_ATTRIBUTE_NOT_EXISTS, false },
        { FN("attribute_type"), F_ATTRIBUTE_TYPE, false },
        { FN("begins_with"), F_BEGINS_WITH, false },
        { FN("contains"), F_CONTAINS, false },
        { FN("size"), F_SIZE, false },
        { FN("if_not_exists"), F_IF_NOT_EXISTS, true },
        { FN("list_append"), F_LIST_APPEND, true },
    };
#undef FN
    bool update = p->kind == DYN_EXPR_UPDATE;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (fns[i].len == len && fns[i].update == update && memcmp(fns[i].name, name, len) == 0) {
            *canon = fns[i].name;
            return fns[i].fn;
        }
    return F_UNKNOWN;
}

static expr_node *parse_operand_u(parser *p);

/* name '(' operand {',' operand} ')' -- the current token is the name, the next '('. */
static expr_node *
parse_func(parser *p)
{
    expr_node *args[8], **argv = args, *f;
    uint32_t n = 0, cap = 8;
    bool update = p->kind == DYN_EXPR_UPDATE;
    const char *name = NULL;
    expr_fn fn = function_id(p, p->src + cur(p)->start, cur(p)->len, &name);

    if (name == NULL && (name = tok_dup(p, cur(p))) == NULL)
        return NULL;
    advance(p);
    advance(p);
    for (;;) {
        expr_node *a = update ? parse_operand_u(p) : parse_operand(p);
        if (a == NULL)
            return NULL;
        if (n == cap) {
            expr_node **grown = palloc(p, 2 * cap * sizeof *grown);
            if (grown == NULL)
                return NULL;
            memcpy(grown, argv, n * sizeof *grown);
            argv = grown;
            cap *= 2;
        }
        argv[n++] = a;
        if (cur(p)->type != T_COMMA)
            break;
        advance(p);
    }
    if (!expect(p, T_RPAREN) || !count_op(p))
        return NULL;
    if ((f = new_node(p, N_FUNC, n)) == NULL)
        return NULL;
    memcpy(f->args, argv, n * sizeof *argv);
    f->name = name;
    f->op = (uint8_t)fn;
    if (update) {
        check_update_function(p, f, name);
    } else {
        check_misused(p, f->args, n);
        check_cond_function(p, f);
    }
    return f;
}

static bool
starts_function(const parser *p)
{
    return cur(p)->type == T_IDENT && peek1(p)->type == T_LPAREN && !is_keyword(p, cur(p));
}

/* Operand of a comparison, BETWEEN, IN or function: [( ] path | :value | function [ )]. */
static expr_node *
parse_operand(parser *p)
{
    const expr_tok *t = cur(p);
    expr_node *n;

    if (t->type == T_LPAREN) {
        advance(p);
        if ((n = parse_operand(p)) == NULL || !expect(p, T_RPAREN))
            return NULL;
        if (n->parens > 0)
            semantic(p, E_PARENS, "The expression has redundant parentheses;");
        if (n->parens < UINT8_MAX)
            n->parens++;
        return n;
    }
    if (starts_function(p))
        return parse_func(p);
    if (t->type == T_VALUE)
        return value_node(p);
    if (t->type == T_IDENT || t->type == T_NAME)
        return path_node(p);
    syntax_error(p);
    return NULL;
}

static int
comparator(const expr_tok *t)
{
    switch (t->type) {
    case T_EQ: return C_EQ;
    case T_NE: return C_NE;
    case T_LT: return C_LT;
    case T_LE: return C_LE;
    case T_GT: return C_GT;
    case T_GE: return C_GE;
    default: return -1;
    }
}

static void
check_between(parser *p, const expr_node *lo, const expr_node *hi)
{
    const char *what = expr_between_problem(lo, hi);

    if (what)
        semantic(p, E_FUNCTION,
                 "The BETWEEN operator requires %s; lower bound operand: AttributeValue: {%s:%s}, "
                 "upper bound operand: AttributeValue: {%s:%s}",
                 what, expr_type_name(expr_immediate_type(lo)), av_text(p, lo->value),
                 expr_type_name(expr_immediate_type(hi)), av_text(p, hi->value));
}

/* After an operand in a condition's place: comparison, BETWEEN or IN, or nothing. */
static expr_node *
parse_comparison(parser *p, expr_node *left)
{
    const expr_tok *t = cur(p);
    int op = comparator(t);
    expr_node *n;

    if (op >= 0) {
        advance(p);
        expr_node *right = parse_operand(p);
        if (right == NULL || !count_op(p) || (n = new_node(p, N_CMP, 2)) == NULL)
            return NULL;
        n->op = (uint8_t)op;
        n->args[0] = left;
        n->args[1] = right;
        check_misused(p, n->args, 2);
        check_distinct(p, cmp_names[op], left, right);
        return n;
    }
    if (t->kw == KW_BETWEEN) {
        advance(p);
        expr_node *lo = parse_operand(p), *hi;
        if (lo == NULL)
            return NULL;
        if (cur(p)->kw != KW_AND) {
            syntax_error(p);
            return NULL;
        }
        advance(p);
        if ((hi = parse_operand(p)) == NULL || !count_op(p) ||
            (n = new_node(p, N_BETWEEN, 3)) == NULL)
            return NULL;
        n->args[0] = left;
        n->args[1] = lo;
        n->args[2] = hi;
        check_misused(p, n->args, 3);
        check_between(p, lo, hi);
        return n;
    }
    if (t->kw == KW_IN) {
        expr_node *stack[16], **list = stack;
        uint32_t k = 0, cap = 16;
        advance(p);
        if (!expect(p, T_LPAREN))
            return NULL;
        for (;;) {
            expr_node *x = parse_operand(p);
            if (x == NULL)
                return NULL;
            if (k == cap) {
                expr_node **grown = palloc(p, 2 * cap * sizeof *grown);
                if (grown == NULL)
                    return NULL;
                memcpy(grown, list, k * sizeof *grown);
                list = grown;
                cap *= 2;
            }
            list[k++] = x;
            if (cur(p)->type != T_COMMA)
                break;
            advance(p);
        }
        if (!expect(p, T_RPAREN) || !count_op(p) || (n = new_node(p, N_IN, k + 1)) == NULL)
            return NULL;
        n->args[0] = left;
        memcpy(n->args + 1, list, k * sizeof *list);
        check_misused(p, n->args, k + 1);
        if (k > DYN_EXPR_MAX_IN)
            semantic(p, E_OPERAND,
                     "The IN operator is provided with too many operands; number of operands: %u",
                     k);
        return n;
    }
    return left;
}

static expr_node *
parse_primary(parser *p)
{
    const expr_tok *t = cur(p);
    expr_node *n;

    if (t->type == T_LPAREN) {
        /* Either a parenthesised condition or a parenthesised operand of a comparison: parse
         * the inside as a condition that may turn out to be a bare operand. */
        advance(p);
        if ((n = parse_or(p)) == NULL || !expect(p, T_RPAREN))
            return NULL;
        if (n->parens > 0)
            semantic(p, E_PARENS, "The expression has redundant parentheses;");
        if (n->parens < UINT8_MAX)
            n->parens++;
    } else if (starts_function(p)) {
        n = parse_func(p);
    } else if (t->type == T_VALUE) {
        n = value_node(p);
    } else if ((t->type == T_IDENT && !is_keyword(p, t)) || t->type == T_NAME) {
        n = path_node(p);
    } else {
        syntax_error(p);
        return NULL;
    }
    if (n == NULL)
        return NULL;
    if (n->kind == N_PATH || n->kind == N_VALUE || n->kind == N_FUNC)
        return parse_comparison(p, n);
    return n;
}

static expr_node *
parse_not(parser *p)
{
    expr_node *inner, *n;

    if (cur(p)->kw != KW_NOT)
        return parse_primary(p);
    advance(p);
    if ((inner = parse_not(p)) == NULL || !need_cond(p, inner) || !count_op(p) ||
        (n = new_node(p, N_NOT, 1)) == NULL)
        return NULL;
    n->args[0] = inner;
    return n;
}

static expr_node *
parse_and(parser *p)
{
    expr_node *l = parse_not(p), *r, *n;

    while (l != NULL && cur(p)->kw == KW_AND) {
        if (!need_cond(p, l))
            return NULL;
        advance(p);
        if ((r = parse_not(p)) == NULL || !need_cond(p, r) || !count_op(p) ||
            (n = new_node(p, N_AND, 2)) == NULL)
            return NULL;
        n->args[0] = l;
        n->args[1] = r;
        l = n;
    }
    return l;
}

static expr_node *
parse_or(parser *p)
{
    expr_node *l = parse_and(p), *r, *n;

    while (l != NULL && cur(p)->kw == KW_OR) {
        if (!need_cond(p, l))
            return NULL;
        advance(p);
        if ((r = parse_and(p)) == NULL || !need_cond(p, r) || !count_op(p) ||
            (n = new_node(p, N_OR, 2)) == NULL)
            return NULL;
        n->args[0] = l;
        n->args[1] = r;
        l = n;
    }
    return l;
}

static expr_node *
parse_condition(parser *p)
{
    expr_node *n = parse_or(p);

    if (n == NULL || !need_cond(p, n))
        return NULL;
    if (cur(p)->type != T_EOF) {
        syntax_error(p);
        return NULL;
    }
    return n;
}

/* ---- update grammar ---- */

static expr_node *
parse_operand_u0(parser *p)
{
    const expr_tok *t = cur(p);

    if (starts_function(p))
        return parse_func(p);
    if (t->type == T_VALUE)
        return value_node(p);
    if ((t->type == T_IDENT && !is_keyword(p, t)) || t->type == T_NAME)
        return path_node(p);
    syntax_error(p);
    return NULL;
}

/* One pair of parentheses is allowed around an update operand, no more. */
static expr_node *
parse_operand_u(parser *p)
{
    expr_node *n;

    if (cur(p)->type != T_LPAREN)
        return parse_operand_u0(p);
    advance(p);
    if ((n = parse_operand_u0(p)) == NULL || !expect(p, T_RPAREN))
        return NULL;
    return n;
}

static expr_node *
arith(parser *p, expr_node *l)
{
    const expr_tok *t = cur(p);
    expr_node *r, *n;

    if (t->type != T_PLUS && t->type != T_MINUS)
        return l;
    bool plus = t->type == T_PLUS;
    advance(p);
    if ((r = parse_operand_u(p)) == NULL || !count_op(p) ||
        (n = new_node(p, plus ? N_PLUS : N_MINUS, 2)) == NULL)
        return NULL;
    n->args[0] = l;
    n->args[1] = r;
    value_num(l);
    value_num(r);
    check_update_function(p, n, plus ? "+" : "-");
    return n;
}

static expr_node *
parse_set_value(parser *p)
{
    expr_node *n;

    if (cur(p)->type != T_LPAREN) {
        n = parse_operand_u(p);
        return n ? arith(p, n) : NULL;
    }
    /* '(' value ')' or '(' operand ')' followed by + / -. */
    advance(p);
    if ((n = parse_operand_u(p)) == NULL || (n = arith(p, n)) == NULL ||
        !expect(p, T_RPAREN))
        return NULL;
    if (n->kind == N_PLUS || n->kind == N_MINUS)
        return n;
    return arith(p, n);
}

static expr_action *
new_action(parser *p, expr_action_kind kind)
{
    if (p->n_actions == p->cap_actions) {
        uint32_t cap = p->cap_actions ? 2 * p->cap_actions : 8;
        expr_action *grown = palloc(p, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        if (p->n_actions)
            memcpy(grown, p->actions, p->n_actions * sizeof *grown);
        p->actions = grown;
        p->cap_actions = cap;
    }
    expr_action *act = &p->actions[p->n_actions++];
    memset(act, 0, sizeof *act);
    act->kind = kind;
    return act;
}

static void
check_add_delete_operand(parser *p, const char *op, const expr_node *v)
{
    static const char *const names[] = {
        [DYNE__V1__ATTRIBUTE_VALUE__VALUE_S] = "STRING",  [DYNE__V1__ATTRIBUTE_VALUE__VALUE_N] = "NUMBER",
        [DYNE__V1__ATTRIBUTE_VALUE__VALUE_B] = "BINARY",  [DYNE__V1__ATTRIBUTE_VALUE__VALUE_NULL] = "NULL",
        [DYNE__V1__ATTRIBUTE_VALUE__VALUE_BOOL] = "BOOLEAN", [DYNE__V1__ATTRIBUTE_VALUE__VALUE_L] = "LIST",
        [DYNE__V1__ATTRIBUTE_VALUE__VALUE_M] = "MAP",
    };
    int t = expr_immediate_type(v);

    if (t > 0 && t < (int)(sizeof names / sizeof names[0]) && names[t] &&
        !(op[0] == 'A' && t == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N))
        semantic(p, E_OPERAND,
                 "Incorrect operand type for operator or function; operator: %s, operand type: %s",
                 op, names[t]);
}

static bool
parse_update(parser *p)
{
    static const char *const words[] = { "SET", "REMOVE", "ADD", "DELETE" };

    do {
        int kind = cur(p)->kw >= KW_SET ? cur(p)->kw - KW_SET : -1;   /* expr_action_kind */
        if (kind < 0) {
            syntax_error(p);
            return false;
        }
        advance(p);
        do {
            expr_action *act = new_action(p, (expr_action_kind)kind);
            if (act == NULL || !parse_path(p, &act->path))
                return false;
            if (kind == U_SET) {
                if (!expect(p, T_EQ) || (act->val = parse_set_value(p)) == NULL)
                    return false;
            } else if (kind == U_ADD || kind == U_DELETE) {
                if (cur(p)->type != T_VALUE) {
                    syntax_error(p);
                    return false;
                }
                if ((act->val = value_node(p)) == NULL)
                    return false;
                if (kind == U_ADD)
                    value_num(act->val);
            }
            /* the actions array may still grow and move: give the check its own copy */
            expr_path *target = palloc(p, sizeof *target);
            if (target == NULL)
                return false;
            *target = act->path;
            add_target(p, target);
            if (act->val && kind != U_SET)
                check_add_delete_operand(p, words[kind], act->val);
            if (p->failed)
                return false;
        } while (cur(p)->type == T_COMMA && (advance(p), true));
        if (p->sections & (1u << kind))
            semantic(p, E_SECTION,
                     "The \"%s\" section can only be used once in an update expression;",
                     words[kind]);
        p->sections |= 1u << kind;
    } while (cur(p)->type != T_EOF);
    return !p->failed;
}

/* ---- projection grammar ---- */

static bool
parse_projection(parser *p)
{
    for (;;) {
        expr_path *path = palloc(p, sizeof *path);
        if (path == NULL || !parse_path(p, path))
            return false;
        add_target(p, path);
        if (cur(p)->type == T_EOF)
            return !p->failed;
        if (!expect(p, T_COMMA))
            return false;
    }
}

/* ---- tries ---- */

static bool
trie_add(parser *p, expr_trie **root, const expr_path *path)
{
    expr_trie **level = root, *node = NULL;

    for (uint32_t i = 0; i < path->n; i++) {
        const expr_elem *e = &path->elems[i];
        expr_trie **slot = level;
        node = NULL;
        while (*slot != NULL) {
            expr_trie *s = *slot;
            if (e->name ? (s->name && expr_key_eq(s->name, e->name))
                        : (!s->name && s->index == e->index)) {
                node = s;
                break;
            }
            if (!e->name && !s->name && s->index > e->index)
                break;   /* keep list indexes ascending */
            slot = &s->next;
        }
        if (node == NULL) {
            if ((node = palloc(p, sizeof *node)) == NULL)
                return false;
            node->name = e->name;
            node->index = e->index;
            node->next = *slot;
            *slot = node;
        }
        level = &node->child;
    }
    if (node)
        node->leaf = true;
    return true;
}

/* Applies REMOVEs of higher list indexes first so that "REMOVE l[1], l[2]" removes the
 * elements the original list had at 1 and 2. */
static int
remove_order(const expr_action *a, const expr_action *b)
{
    const expr_elem *x = &a->path.elems[a->path.n - 1], *y = &b->path.elems[b->path.n - 1];
    if (x->name || y->name)
        return (x->name != NULL) - (y->name != NULL);   /* map keys first, any order */
    return x->index > y->index ? -1 : x->index < y->index;
}

static bool
finish_update(parser *p, dyn_expr *e)
{
    expr_action *sorted = palloc(p, (p->n_actions ? p->n_actions : 1) * sizeof *sorted);
    uint32_t n = 0;

    if (sorted == NULL)
        return false;
    for (int kind = U_SET; kind <= U_DELETE; kind++) {
        uint32_t first = n;
        for (uint32_t i = 0; i < p->n_actions; i++)
            if (p->actions[i].kind == (expr_action_kind)kind)
                sorted[n++] = p->actions[i];
        if (kind == U_REMOVE) {
            /* insertion sort: stable and the lists are short */
            for (uint32_t i = first + 1; i < n; i++) {
                expr_action x = sorted[i];
                uint32_t j = i;
                while (j > first && remove_order(&x, &sorted[j - 1]) < 0) {
                    sorted[j] = sorted[j - 1];
                    j--;
                }
                sorted[j] = x;
            }
        }
    }
    e->actions = sorted;
    e->n_actions = n;
    for (uint32_t i = 0; i < n; i++)
        if (!trie_add(p, &e->trie, &sorted[i].path))
            return false;
    return true;
}

/* ---- entry point ---- */

/* The parser proper, for a text the cache did not serve; then into the cache (when on). Kept
 * out of line: its frame is big and a cache hit needs none of it. */
static __attribute__((noinline)) dyn_err
parse_text(dyn_expr_ctx *ctx, dyn_expr_kind kind, const char *text, size_t len,
           expr_cache *cache, uint64_t hash, dyn_expr **out, const char **msg)
{
    parser p;
    dyn_expr *e;
    const char *what = kind_names[kind];
    const uint8_t *order;
    size_t n_order, i;
    char *copy;
    bool ok;

    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.a = ctx->arena;
    p.kind = kind;
    p.len = (uint32_t)len;
    /* the tokens, then a NUL-terminated copy of the text for expr_lex() and messages */
    if ((p.toks = dyn_arena_alloc(p.a, (len + 1) * sizeof(expr_tok) + len + 1)) == NULL ||
        (e = palloc(&p, sizeof *e)) == NULL)
        return DYN_ENOMEM;
    copy = (char *)(p.toks + len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    p.src = copy;
    expr_lex(copy, p.len, p.toks);
    p.tok = p.toks;
    e->kind = kind;

    switch (kind) {
    case DYN_EXPR_UPDATE:
        ok = parse_update(&p);
        order = update_order;
        n_order = sizeof update_order;
        break;
    case DYN_EXPR_PROJECTION:
        ok = parse_projection(&p);
        order = proj_order;
        n_order = sizeof proj_order;
        break;
    default:
        ok = (e->cond = parse_condition(&p)) != NULL;
        order = cond_order;
        n_order = sizeof cond_order;
        break;
    }
    if (!ok || p.failed) {
        if (p.rc == DYN_ENOMEM || !p.failed)
            return DYN_ENOMEM;
        *msg = dyn_arena_printf(p.a, "Invalid %s: %s", what, p.msg);
        return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
    }
    for (i = 0; p.any_err && i < n_order; i++) {
        if (p.err[order[i]] != NULL) {
            *msg = dyn_arena_printf(p.a, "Invalid %s: %s", what, p.err[order[i]]);
            return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
        }
    }
    if (kind == DYN_EXPR_UPDATE) {
        if (!finish_update(&p, e))
            return DYN_ENOMEM;
    } else if (kind == DYN_EXPR_PROJECTION) {
        for (i = 0; i < p.n_targets; i++)
            if (!trie_add(&p, &e->trie, p.targets[i]))
                return DYN_ENOMEM;
    }
    if (cache != NULL)
        expr_cache_put(cache, ctx, hash, text, p.len, p.toks, p.src, e);
    *out = e;
    return DYN_OK;
}

dyn_err
dyn_expr_parse(dyn_expr_ctx *ctx, dyn_expr_kind kind, const char *text, size_t len,
               dyn_expr **out, const char **msg)
{
    const char *what = kind_names[kind];
    expr_cache *cache;
    uint64_t hash = 0;
    size_t i;
    dyn_err rc;

    *out = NULL;
    *msg = NULL;
    for (i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n')
            break;
    if (i == len) {
        *msg = dyn_arena_printf(ctx->arena, "Invalid %s: The expression can not be empty;",
                                what);
        return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
    }
    if (len > DYN_EXPR_MAX_LEN) {
        *msg = dyn_arena_printf(ctx->arena,
                                "Invalid %s: Expression size has exceeded the maximum allowed "
                                "size; expression size: %zu",
                                what, len);
        return *msg ? DYN_EVALIDATION : DYN_ENOMEM;
    }
    /* a repeated expression: bind the cached tree; anything else (errors included) parses */
    if ((cache = expr_cache_get()) != NULL &&
        (rc = expr_cache_bind(cache, ctx, kind, text, (uint32_t)len, &hash, out)) !=
            DYN_ENOTFOUND)
        return rc;
    return parse_text(ctx, kind, text, len, cache, hash, out, msg);
}
