/* libs/expr private: tokens, the expression tree and helpers shared by the parser, the evaluator,
 * the update/projection code and the parse cache. Every tree a caller sees lives in the request
 * arena; the cache keeps position-independent templates of them on the heap (expr_cache.c). */
#ifndef DYN_LIBS_EXPR_EXPR_INT_H
#define DYN_LIBS_EXPR_EXPR_INT_H

#include "libs/expr/expr.h"

#include <string.h>

#include "libs/num/num.h"

typedef Dyne__V1__AttributeValue expr_av;
typedef Dyne__V1__AttributeValueMap expr_map;
typedef Dyne__V1__AttributeValueMap__ValuesEntry expr_entry;

/* ---- tokens ---- */
typedef enum {
    T_EOF = 0,
    T_IDENT,    /* [A-Za-z_][A-Za-z0-9_]*: names, keywords and function names alike */
    T_NAME,     /* #[A-Za-z0-9_]* */
    T_VALUE,    /* :[A-Za-z0-9_]* */
    T_NUMBER,   /* [0-9]+, only meaningful inside [] */
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_COMMA,
    T_DOT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_PLUS,
    T_MINUS,
    T_ILLEGAL,  /* any other character (a whole UTF-8 sequence) */
} expr_tok_type;

/* Grammar words an identifier spells (any case); each parser decides where they are keywords. */
typedef enum {
    KW_NONE = 0,
    KW_AND,
    KW_OR,
    KW_NOT,
    KW_BETWEEN,
    KW_IN,
    KW_SET,
    KW_REMOVE,
    KW_ADD,
    KW_DELETE,
} expr_kw;

typedef struct expr_tok {
    uint16_t type;         /* expr_tok_type */
    uint16_t kw;           /* expr_kw, for T_IDENT */
    uint32_t start, len;   /* bytes into the expression text */
} expr_tok;

/* Splits text into toks (capacity len + 1, always ends with T_EOF); returns the count. text[len]
 * must be '\0' (a sentinel that ends every scan), so a caller lexes a NUL-terminated copy. */
uint32_t expr_lex(const char *text, uint32_t len, expr_tok *toks);

/* Character classes of the expression grammar, indexed by byte. */
enum { CC_WORD = 1, CC_START = 2, CC_DIGIT = 4, CC_SPACE = 8 };
extern const uint8_t expr_cclass[256];

/* ---- placeholders ---- */

/* Compares s[0..len), which holds no NUL, with the NUL-terminated key, like strcmp. */
static inline int
expr_key_cmp(const char *s, size_t len, const char *key)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != key[i])   /* stops at key's NUL too */
            return (unsigned char)s[i] < (unsigned char)key[i] ? -1 : 1;
    return key[len] == '\0' ? 0 : -1;
}

/* The index of s[0..len) (len >= 2) among n keys key(i) (each >= 2 bytes, starting with the
 * same sigil as s), through order when it is sorted, else by a scan; -1 if absent. */
#define EXPR_KEY_FIND(s, len, n, order, key, out)                                             \
    do {                                                                                       \
        (out) = -1;                                                                            \
        if ((order) == NULL) {                                                                 \
            for (size_t i_ = 0; i_ < (n); i_++) {                                              \
                /* both start with the sigil: compare from the second byte */                \
                if (key(i_)[1] == (s)[1] &&                                                    \
                    expr_key_cmp((s) + 2, (len) - 2, key(i_) + 2) == 0) {                      \
                    (out) = (long)i_;                                                          \
                    break;                                                                     \
                }                                                                              \
            }                                                                                  \
        } else {                                                                               \
            size_t lo_ = 0, hi_ = (n);                                                         \
            while (lo_ < hi_) {                                                                \
                size_t mid_ = (lo_ + hi_) / 2;                                                 \
                int c_ = expr_key_cmp((s), (len), key((order)[mid_]));                         \
                if (c_ == 0) {                                                                 \
                    (out) = (long)(order)[mid_];                                               \
                    break;                                                                     \
                }                                                                              \
                if (c_ < 0)                                                                    \
                    hi_ = mid_;                                                                \
                else                                                                           \
                    lo_ = mid_ + 1;                                                            \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* The ExpressionAttributeNames entry "#..." s[0..len) names in ctx, or -1 (a lone '#' names
 * none). With a key given twice, the one the parser has always used. */
static inline long
expr_ctx_name_find(const dyn_expr_ctx *ctx, const char *s, size_t len)
{
    long i;
    if (len < 2)
        return -1;
#define EXPR_NAME_KEY_(j) ctx->names[j].key
    EXPR_KEY_FIND(s, len, ctx->n_names, ctx->name_order, EXPR_NAME_KEY_, i);
#undef EXPR_NAME_KEY_
    return i;
}

/* The ExpressionAttributeValues entry ":..." s[0..len) names in ctx, or -1 (likewise). */
static inline long
expr_ctx_value_find(const dyn_expr_ctx *ctx, const char *s, size_t len)
{
    long i;
    if (len < 2 || ctx->values == NULL)
        return -1;
#define EXPR_VALUE_KEY_(j) ctx->values->values[j]->key
    EXPR_KEY_FIND(s, len, ctx->values->n_values, ctx->value_order, EXPR_VALUE_KEY_, i);
#undef EXPR_VALUE_KEY_
    return i;
}

/* ---- tree ---- */
typedef struct expr_elem {
    const char *name;   /* NUL-terminated map key; NULL for a list index */
    uint32_t index;
} expr_elem;

typedef struct expr_path {
    uint32_t n;
    expr_elem *elems;
} expr_path;

typedef enum {
    N_PATH,      /* operand: document path */
    N_VALUE,     /* operand: :value, already substituted */
    N_FUNC,      /* function call; op is an expr_fn */
    N_CMP,       /* args[0] op args[1]; op is an expr_cmp */
    N_BETWEEN,   /* args[0] BETWEEN args[1] AND args[2] */
    N_IN,        /* args[0] IN (args[1..]) */
    N_AND,
    N_OR,
    N_NOT,
    N_PLUS,      /* update SET value: args[0] + args[1] */
    N_MINUS,
} expr_node_kind;

typedef enum {
    F_UNKNOWN = 0,
    F_ATTRIBUTE_EXISTS,
    F_ATTRIBUTE_NOT_EXISTS,
    F_ATTRIBUTE_TYPE,
    F_BEGINS_WITH,
    F_CONTAINS,
    F_SIZE,
    F_IF_NOT_EXISTS,
    F_LIST_APPEND,
} expr_fn;

typedef enum { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE } expr_cmp;

typedef struct expr_node {
    uint8_t kind;      /* expr_node_kind */
    uint8_t op;        /* expr_cmp for N_CMP, expr_fn for N_FUNC */
    uint8_t parens;    /* how many '(' ')' wrap exactly this node (redundant-parens check) */
    uint8_t type_arg;  /* N_FUNC attribute_type: the Dyne value_case named by args[1] */
    uint32_t n_args;
    struct expr_node **args;
    expr_path path;                  /* N_PATH */
    const expr_av *value;            /* N_VALUE; borrowed from ExpressionAttributeValues */
    const char *name;                /* N_FUNC: the name as written */
    dyn_num num;                     /* N_VALUE of type N: parsed once here; unset unless */
    bool num_ok;                     /* ... num_ok */
    bool num_want;                   /* N_VALUE: the parser asked for num (value_num), so a
                                        cached tree's binding parses it too */
    uint32_t vix;                    /* N_VALUE from the parser: its entry in ctx->values */
} expr_node;

typedef enum { U_SET, U_REMOVE, U_ADD, U_DELETE } expr_action_kind;

typedef struct expr_action {
    expr_action_kind kind;
    expr_path path;
    expr_node *val;   /* SET value, ADD/DELETE operand; NULL for REMOVE */
} expr_action;

/* Paths of a projection (or of an update, for UPDATED_OLD/NEW) merged into a tree: siblings in
 * expression order, list indexes ascending. A leaf takes the whole value at its path. */
typedef struct expr_trie {
    const char *name;   /* NULL for a list index */
    uint32_t index;
    bool leaf;
    struct expr_trie *child, *next;
} expr_trie;

struct dyn_expr {
    dyn_expr_kind kind;
    expr_node *cond;          /* condition, filter, key condition */
    expr_action *actions;     /* update, SETs then REMOVEs (highest list index first), ADDs,
                                 DELETEs */
    uint32_t n_actions;
    expr_trie *trie;          /* projection; update target paths */
    bool legacy;              /* built from Expected/AttributeUpdates/...: legacy error wording */
};

/* ---- values ---- */
/* An evaluated operand: a value from the item or the expression, or a number computed by
 * size(). type is the Dyne value_case; 0 (NOT_SET) means missing. */
typedef struct expr_ev {
    int type;
    const expr_av *av;   /* NULL when only num is set */
    dyn_num num;         /* valid for type N */
} expr_ev;

/* strcmp() == 0 for attribute names, which are short and mostly differ in their first byte:
 * an inline loop beats a call to strcmp. */
static inline bool
expr_key_eq(const char *a, const char *b)
{
    if (a[0] != b[0])
        return false;
    while (*a == *b) {
        if (*a == '\0')
            return true;
        a++;
        b++;
    }
    return false;
}

const expr_av *expr_path_get(const expr_map *item, const expr_path *p);
const expr_av *expr_map_get(const expr_map *m, const char *key);
bool expr_ev_from_av(const expr_av *av, expr_ev *out);   /* false: malformed number */
bool expr_av_equal(const expr_av *a, const expr_av *b);
bool expr_ev_equal(const expr_ev *a, const expr_ev *b);
/* -1/0/1 for two values of the same scalar type S, N or B; *ok false otherwise. */
int expr_ev_cmp(const expr_ev *a, const expr_ev *b, bool *ok);
const char *expr_type_name(int value_case);   /* "S", "NS", ...; "" for NOT_SET */
bool expr_is_set_type(int value_case);
char *expr_base64(dyn_arena *a, const uint8_t *p, size_t n);

/* ---- value checks the parser makes, shared with the cache's binding ---- */

/* Only a literal value's type (dynalite's getImmediateType); 0 for anything else. */
static inline int
expr_immediate_type(const expr_node *n)
{
    return n->kind == N_VALUE && n->value ? (int)n->value->value_case : 0;
}

/* What is wrong with BETWEEN's bounds lo and hi (nodes as the parser leaves them, numbers
 * parsed), in the words of DynamoDB's "The BETWEEN operator requires %s; ..." message, or NULL.
 * Depends on the values' types and, for two S, N or B values, on their order. */
static inline const char *
expr_between_problem(const expr_node *lo, const expr_node *hi)
{
    int t1 = expr_immediate_type(lo), t2 = expr_immediate_type(hi);

    if (!t1 || !t2)
        return NULL;
    if (t1 != t2)
        return "same data type for lower and upper bounds";
    if (t1 == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N) {
        /* the numbers were parsed with the values; an unparsable one is not compared */
        if (lo->num_ok && hi->num_ok && dyn_num_cmp(&lo->num, &hi->num) > 0)
            return "upper bound to be greater than or equal to lower bound";
    } else if (t1 == DYNE__V1__ATTRIBUTE_VALUE__VALUE_S ||
               t1 == DYNE__V1__ATTRIBUTE_VALUE__VALUE_B) {
        expr_ev a = { .type = t1, .av = lo->value }, b = { .type = t2, .av = hi->value };
        bool ok = false;
        if (expr_ev_cmp(&a, &b, &ok) > 0 && ok)
            return "upper bound to be greater than or equal to lower bound";
    }
    return NULL;
}

/* The value_case attribute_type()'s type name s ("S", "NS", ...) stands for; 0 for none. */
int expr_type_from_name(const char *s);

/* ---- parse cache (expr_cache.c): per thread, no locks ---- */
typedef struct expr_cache expr_cache;

/* This thread's cache, created on first use; NULL when disabled (dyn_expr_cache_enable(false),
 * or DYN_EXPR_CACHE=0 in the environment when the thread first asked). */
expr_cache *expr_cache_get(void);

/* A tree for (kind, text) bound to ctx's names and values, copied into ctx's arena, with the
 * placeholders marked used as the parser would: DYN_OK and *out. DYN_ENOTFOUND when the full
 * parser must run: no entry for this text under these names and value types, a value
 * placeholder missing from ctx, or a value that a parse-time check would reject (the parser
 * then gives the exact message). *hash is set either way, for expr_cache_put(). DYN_ENOMEM when
 * the arena is full. */
dyn_err expr_cache_bind(expr_cache *c, dyn_expr_ctx *ctx, dyn_expr_kind kind, const char *text,
                        uint32_t len, uint64_t *hash, dyn_expr **out);

/* Keeps a template of e, which the parser just built from text[0..len) (tokens toks, over the
 * NUL-terminated copy src) with ctx, evicting others past the cache's limits. Templates it can
 * not keep (too big, a value with nothing set) are skipped: caching is best-effort. */
void expr_cache_put(expr_cache *c, const dyn_expr_ctx *ctx, uint64_t hash, const char *text,
                    uint32_t len, const expr_tok *toks, const char *src, const dyn_expr *e);
#endif /* DYN_LIBS_EXPR_EXPR_INT_H */
