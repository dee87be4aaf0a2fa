/* libs/expr parse cache: per thread, the trees of expressions parsed before, kept as position-
 * independent templates keyed by kind and text (an entry also records what its #names resolved
 * to and its values' types). dyn_expr_parse() copies a template into the request arena and binds
 * the request's values to it instead of parsing the text again. The copy keeps the parser's
 * contract that a tree lives as long as the arena: the storage node evaluates on its committer
 * thread and the router projects on storage-client threads, after this thread has gone on to
 * other requests (and maybe evicted the entry), and nothing tells the cache when they are done. */
#include "libs/expr/expr_int.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_ENTRIES 512         /* default limits, per thread */
#define CACHE_BYTES (4u << 20)
#define CACHE_SCRATCH 32          /* placeholders a bind resolves without allocating */

typedef struct cache_name {       /* a #name placeholder of the text and what it resolved to */
    const char *key, *value;      /* in the entry */
    uint32_t key_len;
} cache_name;

#define MEMO_MAX 24               /* bytes of number text a slot remembers, NUL included */

typedef struct cache_slot {       /* a :value placeholder of the text */
    const char *key;              /* in the entry */
    uint32_t key_len;
    int value_case;               /* its type at parse time: the type checks passed for it */
    /* the last N text bound here and what dyn_num_parse() made of it: constants such as
     * ":one" come back with every request */
    bool memo_ok;
    char memo[MEMO_MAX];          /* "" for none */
    dyn_num memo_num;
} cache_slot;

typedef struct cache_vnode {      /* an N_VALUE node of the template */
    uint32_t off;                 /* bytes into the block */
    uint32_t slot;
} cache_vnode;

typedef struct cache_entry {
    struct cache_entry *next;     /* hash chain */
    uint64_t hash;
    uint32_t len;                 /* text bytes */
    uint8_t kind;                 /* dyn_expr_kind */
    bool ref;                     /* CLOCK: bound since the hand last passed */
    uint32_t ring_ix;             /* its place in the cache's ring */
    uint32_t n_names, n_slots, n_vnodes, n_checks, n_relocs;
    uint32_t block_size;          /* bytes of the template, copied by every bind */
    size_t bytes;                 /* of this allocation, against the byte limit */
    const char *text;
    const cache_name *names;
    cache_slot *slots;            /* their memos change as the entry is bound */
    const cache_vnode *vnodes;
    const uint32_t *checks;       /* nodes whose parse-time checks read value contents */
    const uint32_t *relocs;       /* pointer fields of the block, which hold offsets */
    const unsigned char *block;   /* the dyn_expr at offset 0; 16-byte aligned */
} cache_entry;

struct expr_cache {
    cache_entry **buckets;        /* owned; n_buckets (a power of two); NULL until first put */
    cache_entry **ring;           /* owned; [0, n) in use, max_entries long */
    uint32_t n_buckets, n, hand, max_entries;
    size_t bytes, max_bytes;      /* of the entries */
    bool enabled;
    dyn_expr_cache_stats stats;
};

/* A pointer field of a template, which holds an offset until bound: written as an integer. */
typedef uintptr_t __attribute__((may_alias)) reloc_word;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;   /* frees a thread's cache when the thread exits */
static _Thread_local expr_cache *tls_cache;

/* ---- the cache ---- */

static void
entry_unlink(expr_cache *c, cache_entry *e)
{
    cache_entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];

    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    c->ring[e->ring_ix] = c->ring[--c->n];
    c->ring[e->ring_ix]->ring_ix = e->ring_ix;
    c->bytes -= e->bytes;
    free(e);
}

/* CLOCK: the first entry at or after the hand not bound since the hand last passed it. */
static void
evict_one(expr_cache *c)
{
    for (;;) {
        if (c->hand >= c->n)
            c->hand = 0;
        cache_entry *e = c->ring[c->hand];
        if (!e->ref)
            break;
        e->ref = false;
        c->hand++;
    }
    entry_unlink(c, c->ring[c->hand]);
    c->stats.evictions++;
}

static void
cache_drop_all(expr_cache *c)
{
    while (c->n > 0)
        entry_unlink(c, c->ring[c->n - 1]);
    DYN_FREE(c->buckets);
    DYN_FREE(c->ring);
    c->n = c->hand = 0;
}

static void
cache_free(void *p)
{
    expr_cache *c = p;

    cache_drop_all(c);
    free(c);
    tls_cache = NULL;
}

static void
key_make(void)
{
    (void)pthread_key_create(&key, cache_free);
}

static expr_cache *
cache_this_thread(void)
{
    expr_cache *c = tls_cache;
    const char *env;

    if (c != NULL)
        return c;
    c = dyn_xcalloc(1, sizeof *c);
    c->max_entries = CACHE_ENTRIES;
    c->max_bytes = CACHE_BYTES;
    env = getenv("DYN_EXPR_CACHE");
    c->enabled = env == NULL || strcmp(env, "0") != 0;
    pthread_once(&key_once, key_make);
    (void)pthread_setspecific(key, c);
    tls_cache = c;
    return c;
}

expr_cache *
expr_cache_get(void)
{
    expr_cache *c = tls_cache;

    if (c == NULL)
        c = cache_this_thread();
    return c->enabled ? c : NULL;
}

void
dyn_expr_cache_enable(bool on)
{
    cache_this_thread()->enabled = on;
}

void
dyn_expr_cache_set_limits(size_t max_entries, size_t max_bytes)
{
    expr_cache *c = cache_this_thread();

    cache_drop_all(c);
    c->max_entries = max_entries < 1 ? 1 : max_entries > (1u << 20) ? (1u << 20)
                                                                     : (uint32_t)max_entries;
    c->max_bytes = max_bytes;
}

void
dyn_expr_cache_clear(void)
{
    if (tls_cache != NULL)
        cache_drop_all(tls_cache);
}

void
dyn_expr_cache_get_stats(dyn_expr_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (tls_cache == NULL)
        return;
    *out = tls_cache->stats;
    out->entries = tls_cache->n;
    out->bytes = tls_cache->bytes;
}

/* ---- lookup and bind ---- */

/* 64x64 -> 128-bit multiply, folded: the mixing step of wyhash. */
static inline uint64_t
mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t
load64(const char *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    return w;
}

/* 16 bytes a step; the last 16 (fewer in a short text) are read as two words, which may
 * overlap what the loop read. */
static inline uint64_t
text_hash(dyn_expr_kind kind, const char *s, uint32_t len)
{
    const uint64_t k0 = 0xa0761d6478bd642fu, k1 = 0xe7037ed1a0b428dbu;
    uint64_t h = mix((uint64_t)len ^ k0, (uint64_t)kind ^ k1), a = 0, b = 0;

    if (len >= 8) {
        for (uint32_t i = 0; i + 16 < len; i += 16)
            h = mix(load64(s + i) ^ k1, load64(s + i + 8) ^ h);
        a = load64(s + (len >= 16 ? len - 16 : 0));
        b = load64(s + len - 8);
    } else {
        for (uint32_t i = 0; i < len; i++)
            a = a << 8 | (unsigned char)s[i];
    }
    return mix(a ^ k1, b ^ h);
}

enum { MATCH, OTHER_ENTRY, PARSE };

/* Do ctx's placeholders fit entry e? ix gets the ctx index of each name, then of each slot. */
static int
entry_match(const cache_entry *e, const dyn_expr_ctx *ctx, uint32_t *ix)
{
    for (uint32_t i = 0; i < e->n_names; i++) {
        /* the parser's own lookup: with duplicate keys, the same one wins */
        long k = expr_ctx_name_find(ctx, e->names[i].key, e->names[i].key_len);
        /* an undefined name is an error only the parser words, but another entry may not
         * use the name at all: only a miss on every entry of the text parses */
        if (k < 0 || ctx->names[k].value == NULL ||
            !expr_key_eq(ctx->names[k].value, e->names[i].value))
            return OTHER_ENTRY;
        ix[i] = (uint32_t)k;
    }
    ix += e->n_names;
    for (uint32_t i = 0; i < e->n_slots; i++) {
        long k = expr_ctx_value_find(ctx, e->slots[i].key, e->slots[i].key_len);
        const expr_av *v;
        if (k < 0)
            return PARSE;   /* every entry of the text uses it: the parser reports it */
        if ((v = ctx->values->values[k]->value) == NULL)
            return PARSE;
        if ((int)v->value_case != e->slots[i].value_case)
            return OTHER_ENTRY;
        ix[i] = (uint32_t)k;
    }
    return MATCH;
}

/* n->num as value_num() sets it for the N text s bound at slot sl, from the slot's memo when
 * it holds s. */
static void
bind_num(cache_slot *sl, const char *s, expr_node *n)
{
    size_t i = 0;

    while (i < MEMO_MAX && sl->memo[i] == s[i] && s[i] != '\0')
        i++;
    if (i < MEMO_MAX && sl->memo[i] == s[i] && i > 0) {
        n->num = sl->memo_num;
        n->num_ok = sl->memo_ok;
        return;
    }
    i += strlen(s + i);
    n->num_ok = dyn_num_parse(s, i, &n->num, NULL) == DYN_OK;
    if (i > 0 && i < MEMO_MAX) {
        memcpy(sl->memo, s, i + 1);
        sl->memo_num = n->num;
        sl->memo_ok = n->num_ok;
    }
}

/* Copies e's template into the arena and binds the values ix names; DYN_ENOTFOUND when a
 * parse-time check on value contents fails (the parser words the message). */
static dyn_err
entry_bind(cache_entry *e, dyn_expr_ctx *ctx, const uint32_t *ix, dyn_expr **out)
{
    const uint32_t *vix = ix + e->n_names;
    const uint32_t *r = e->relocs, *r_end = r + e->n_relocs;
    unsigned char *blk = dyn_arena_alloc(ctx->arena, e->block_size);

    if (blk == NULL)
        return DYN_ENOMEM;
    memcpy(blk, e->block, e->block_size);
    for (; r < r_end; r++)
        *(reloc_word *)(void *)(blk + *r) += (uintptr_t)blk;
    for (uint32_t i = 0; i < e->n_vnodes; i++) {
        expr_node *n = (expr_node *)(void *)(blk + e->vnodes[i].off);
        uint32_t k = vix[e->vnodes[i].slot];
        const expr_av *v = ctx->values->values[k]->value;
        n->value = v;
        n->vix = k;
        /* as value_num() did when the template was parsed */
        if (n->num_want && v->value_case == DYNE__V1__ATTRIBUTE_VALUE__VALUE_N && v->n != NULL)
            bind_num(&e->slots[e->vnodes[i].slot], v->n, n);
    }
    for (uint32_t i = 0; i < e->n_checks; i++) {
        expr_node *n = (expr_node *)(void *)(blk + e->checks[i]);
        if (n->kind == N_BETWEEN) {
            if (expr_between_problem(n->args[1], n->args[2]) != NULL)
                return DYN_ENOTFOUND;
        } else if (n->args[1]->kind == N_VALUE) {   /* attribute_type(path, :type) */
            int t = expr_type_from_name(n->args[1]->value->s);
            if (t == 0)
                return DYN_ENOTFOUND;
            n->type_arg = (uint8_t)t;
        }
    }
    for (uint32_t i = 0; i < e->n_names; i++)
        ctx->name_used[ix[i]] = true;
    for (uint32_t i = 0; i < e->n_slots; i++)
        ctx->value_used[vix[i]] = true;
    *out = (dyn_expr *)(void *)blk;
    return DYN_OK;
}

dyn_err
expr_cache_bind(expr_cache *c, dyn_expr_ctx *ctx, dyn_expr_kind kind, const char *text,
                uint32_t len, uint64_t *hash, dyn_expr **out)
{
    uint64_t h = text_hash(kind, text, len);
    uint32_t scratch[CACHE_SCRATCH], *ix = scratch, cap = CACHE_SCRATCH;
    dyn_err rc = DYN_ENOTFOUND;

    *hash = h;
    if (c->buckets == NULL)
        goto miss;
    for (cache_entry *e = c->buckets[h & (c->n_buckets - 1)]; e != NULL; e = e->next) {
        if (e->hash != h || e->len != len || e->kind != (uint8_t)kind ||
            memcmp(e->text, text, len) != 0)
            continue;
        if (e->n_names + e->n_slots > cap) {
            cap = e->n_names + e->n_slots;
            if ((ix = dyn_arena_alloc(ctx->arena, cap * sizeof *ix)) == NULL)
                return DYN_ENOMEM;
        }
        switch (entry_match(e, ctx, ix)) {
        case OTHER_ENTRY:
            continue;
        case PARSE:
            goto miss;
        default:
            break;
        }
        if ((rc = entry_bind(e, ctx, ix, out)) == DYN_OK) {
            e->ref = true;
            c->stats.hits++;
            return DYN_OK;
        }
        if (rc == DYN_ENOMEM)
            return rc;
        break;
    }
miss:
    c->stats.misses++;
    return DYN_ENOTFOUND;
}

/* ---- templates ---- */

/* A template under construction: the block, its relocations and the bind-time lists. Offsets
 * only: buf moves as it grows. */
typedef struct tpl {
    unsigned char *buf;
    size_t len, cap;
    uint32_t *relocs, *checks, *slot_vix;   /* slot_vix: the ctx value index of each slot */
    cache_vnode *vnodes;
    size_t n_relocs, cap_relocs, n_checks, cap_checks, n_slots, cap_slots, n_vnodes, cap_vnodes;
    uint32_t *slot_of;   /* per ctx value: its slot + 1, 0 for none yet */
    bool bad;            /* can not be cached */
} tpl;

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    *cap = *cap ? 2 * *cap : 16;
    return dyn_xrealloc(p, *cap * size);
}

static uint32_t
u32_push(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
    *v = grow(*v, cap, *n, sizeof **v);
    (*v)[*n] = x;
    return (uint32_t)(*n)++;
}

/* n zeroed bytes at a 16-byte aligned offset. */
static uint32_t
tpl_alloc(tpl *t, size_t n, size_t align)
{
    size_t off = (t->len + align - 1) & ~(align - 1);

    while (off + n > t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->buf = dyn_xrealloc(t->buf, t->cap);
    }
    memset(t->buf + t->len, 0, off + n - t->len);
    t->len = off + n;
    if (t->len > UINT32_MAX / 2)
        t->bad = true;
    return (uint32_t)off;
}

/* The pointer field at offset field points to offset target. */
static void
tpl_ref(tpl *t, uint32_t field, uint32_t target)
{
    uintptr_t p = target;

    memcpy(t->buf + field, &p, sizeof p);
    u32_push(&t->relocs, &t->n_relocs, &t->cap_relocs, field);
}

static uint32_t
tpl_str(tpl *t, const char *s)
{
    size_t n = strlen(s) + 1;
    uint32_t off = tpl_alloc(t, n, 1);

    memcpy(t->buf + off, s, n);
    return off;
}

static void
tpl_path(tpl *t, uint32_t field, const expr_path *path)
{
    uint32_t elems;

    if (path->elems == NULL)
        return;
    elems = tpl_alloc(t, path->n * sizeof *path->elems, 16);
    memcpy(t->buf + elems, path->elems, path->n * sizeof *path->elems);
    tpl_ref(t, field + offsetof(expr_path, elems), elems);
    for (uint32_t i = 0; i < path->n; i++) {
        uint32_t el = elems + i * (uint32_t)sizeof *path->elems;
        memset(t->buf + el + offsetof(expr_elem, name), 0, sizeof(char *));
        if (path->elems[i].name != NULL)
            tpl_ref(t, el + offsetof(expr_elem, name), tpl_str(t, path->elems[i].name));
    }
}

static uint32_t
tpl_slot(tpl *t, const dyn_expr_ctx *ctx, uint32_t vix)
{
    if (ctx->values == NULL || vix >= ctx->values->n_values) {
        t->bad = true;
        return 0;
    }
    if (t->slot_of[vix] == 0)
        t->slot_of[vix] = u32_push(&t->slot_vix, &t->n_slots, &t->cap_slots, vix) + 1;
    return t->slot_of[vix] - 1;
}

static uint32_t
tpl_node(tpl *t, const dyn_expr_ctx *ctx, const expr_node *n)
{
    /* the args array follows the node, as the parser lays it out */
    uint32_t off = tpl_alloc(t, sizeof *n + n->n_args * sizeof(expr_node *), 16);
    expr_node copy = *n;

    copy.args = NULL;
    copy.path.elems = NULL;
    copy.value = NULL;
    copy.name = NULL;
    if (n->kind == N_VALUE) {   /* bound per request */
        copy.num_ok = false;
        copy.vix = 0;
    }
    if (!copy.num_ok)
        memset(&copy.num, 0, sizeof copy.num);   /* unset in the parser's nodes */
    memcpy(t->buf + off, &copy, sizeof copy);
    if (n->n_args > 0)
        tpl_ref(t, off + offsetof(expr_node, args), off + (uint32_t)sizeof *n);
    for (uint32_t i = 0; i < n->n_args; i++)
        tpl_ref(t, off + (uint32_t)(sizeof *n + i * sizeof(expr_node *)),
                tpl_node(t, ctx, n->args[i]));
    tpl_path(t, off + offsetof(expr_node, path), &n->path);
    if (n->name != NULL)
        tpl_ref(t, off + offsetof(expr_node, name), tpl_str(t, n->name));
    if (n->kind == N_VALUE) {
        if (n->value == NULL)
            t->bad = true;
        t->vnodes = grow(t->vnodes, &t->cap_vnodes, t->n_vnodes, sizeof *t->vnodes);
        t->vnodes[t->n_vnodes++] = (cache_vnode){ off, tpl_slot(t, ctx, n->vix) };
    }
    /* the parser's checks that read value contents, not just types: redone at bind */
    if ((n->kind == N_BETWEEN && n->args[1]->kind == N_VALUE && n->args[2]->kind == N_VALUE) ||
        (n->kind == N_FUNC && n->op == F_ATTRIBUTE_TYPE && n->n_args == 2))
        u32_push(&t->checks, &t->n_checks, &t->cap_checks, off);
    return off;
}

static uint32_t
tpl_trie(tpl *t, const expr_trie *first)
{
    uint32_t head = 0, prev = 0;

    for (const expr_trie *s = first; s != NULL; s = s->next) {   /* siblings: no recursion */
        uint32_t off = tpl_alloc(t, sizeof *s, 16);
        expr_trie copy = *s;
        copy.name = NULL;
        copy.child = copy.next = NULL;
        memcpy(t->buf + off, &copy, sizeof copy);
        if (s->name != NULL)
            tpl_ref(t, off + offsetof(expr_trie, name), tpl_str(t, s->name));
        if (s->child != NULL)
            tpl_ref(t, off + offsetof(expr_trie, child), tpl_trie(t, s->child));
        if (s == first)
            head = off;
        else
            tpl_ref(t, prev + offsetof(expr_trie, next), off);
        prev = off;
    }
    return head;
}

static void
tpl_expr(tpl *t, const dyn_expr_ctx *ctx, const dyn_expr *e)
{
    uint32_t root = tpl_alloc(t, sizeof *e, 16), acts;
    dyn_expr copy = *e;

    copy.cond = NULL;
    copy.actions = NULL;
    copy.trie = NULL;
    memcpy(t->buf + root, &copy, sizeof copy);
    if (e->cond != NULL)
        tpl_ref(t, root + offsetof(dyn_expr, cond), tpl_node(t, ctx, e->cond));
    if (e->n_actions > 0) {
        acts = tpl_alloc(t, e->n_actions * sizeof *e->actions, 16);
        tpl_ref(t, root + offsetof(dyn_expr, actions), acts);
        for (uint32_t i = 0; i < e->n_actions; i++) {
            uint32_t a = acts + i * (uint32_t)sizeof *e->actions;
            expr_action ac = e->actions[i];
            ac.path.elems = NULL;
            ac.val = NULL;
            memcpy(t->buf + a, &ac, sizeof ac);
            tpl_path(t, a + offsetof(expr_action, path), &e->actions[i].path);
            if (e->actions[i].val != NULL)
                tpl_ref(t, a + offsetof(expr_action, val), tpl_node(t, ctx, e->actions[i].val));
        }
    }
    if (e->trie != NULL)
        tpl_ref(t, root + offsetof(dyn_expr, trie), tpl_trie(t, e->trie));
}

static void
tpl_fini(tpl *t)
{
    free(t->buf);
    free(t->relocs);
    free(t->checks);
    free(t->slot_vix);
    free(t->vnodes);
    free(t->slot_of);
}

static size_t
align_up(size_t n, size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

/* One allocation: the entry, its arrays, its strings, then the block. */
static cache_entry *
entry_new(const tpl *t, const dyn_expr_ctx *ctx, uint64_t hash, dyn_expr_kind kind,
          const char *text, uint32_t len, const cache_name *names, uint32_t n_names)
{
    size_t strs = len, size, slots_at, names_at, vnodes_at, u32_at, strs_at, block_at;
    cache_entry *e;
    char *w;

    for (uint32_t i = 0; i < n_names; i++)
        strs += names[i].key_len + 1 + strlen(names[i].value) + 1;
    for (size_t i = 0; i < t->n_slots; i++)
        strs += strlen(ctx->values->values[t->slot_vix[i]]->key) + 1;
    /* malloc's alignment (16) is enough for every part; slots hold a dyn_num */
    slots_at = align_up(sizeof *e, _Alignof(cache_slot));
    names_at = align_up(slots_at + t->n_slots * sizeof(cache_slot), _Alignof(cache_name));
    vnodes_at = align_up(names_at + n_names * sizeof(cache_name), _Alignof(cache_vnode));
    u32_at = vnodes_at + t->n_vnodes * sizeof(cache_vnode);
    strs_at = u32_at + (t->n_checks + t->n_relocs) * sizeof(uint32_t);
    block_at = align_up(strs_at + strs, 16);
    size = block_at + t->len;
    e = dyn_xmalloc(size);
    memset(e, 0, sizeof *e);
    e->hash = hash;
    e->len = len;
    e->kind = (uint8_t)kind;
    e->n_names = n_names;
    e->n_slots = (uint32_t)t->n_slots;
    e->n_vnodes = (uint32_t)t->n_vnodes;
    e->n_checks = (uint32_t)t->n_checks;
    e->n_relocs = (uint32_t)t->n_relocs;
    e->block_size = (uint32_t)t->len;
    e->bytes = size;

    cache_slot *es = (cache_slot *)(void *)((char *)e + slots_at);
    cache_name *en = (cache_name *)(void *)((char *)e + names_at);
    cache_vnode *ev = (cache_vnode *)(void *)((char *)e + vnodes_at);
    uint32_t *ec = (uint32_t *)(void *)((char *)e + u32_at), *er = ec + t->n_checks;
    w = (char *)e + strs_at;
    memcpy(w, text, len);
    e->text = w;
    w += len;
    for (uint32_t i = 0; i < n_names; i++) {
        size_t vl = strlen(names[i].value) + 1;
        memcpy(w, names[i].key, names[i].key_len);
        w[names[i].key_len] = '\0';
        en[i].key = w;
        en[i].key_len = names[i].key_len;
        w += names[i].key_len + 1;
        memcpy(w, names[i].value, vl);
        en[i].value = w;
        w += vl;
    }
    for (size_t i = 0; i < t->n_slots; i++) {
        const expr_entry *ve = ctx->values->values[t->slot_vix[i]];
        size_t kl = strlen(ve->key);
        memcpy(w, ve->key, kl + 1);
        es[i].key = w;
        es[i].key_len = (uint32_t)kl;
        es[i].memo[0] = '\0';
        es[i].value_case = (int)ve->value->value_case;
        w += kl + 1;
    }
    if (t->n_vnodes)
        memcpy(ev, t->vnodes, t->n_vnodes * sizeof *ev);
    if (t->n_checks)
        memcpy(ec, t->checks, t->n_checks * sizeof *ec);
    if (t->n_relocs)
        memcpy(er, t->relocs, t->n_relocs * sizeof *er);
    memcpy((char *)e + block_at, t->buf, t->len);
    e->names = en;
    e->slots = es;
    e->vnodes = ev;
    e->checks = ec;
    e->relocs = er;
    e->block = (const unsigned char *)e + block_at;
    return e;
}

/* The #name placeholders of the text, each once, with what ctx resolves them to (the parser
 * resolved every T_NAME token of a tree it built). n_names 0 and *bad when one does not. */
static cache_name *
text_names(const dyn_expr_ctx *ctx, const expr_tok *toks, const char *src, uint32_t *n_names,
           bool *bad)
{
    cache_name *names = NULL;
    size_t n = 0, cap = 0;
    bool *seen = NULL;

    for (const expr_tok *tk = toks; tk->type != T_EOF; tk++) {
        long k;
        if (tk->type != T_NAME)
            continue;
        if ((k = expr_ctx_name_find(ctx, src + tk->start, tk->len)) < 0) {
            *bad = true;
            break;
        }
        if (seen == NULL)
            seen = dyn_xcalloc(ctx->n_names, sizeof *seen);
        if (seen[k])
            continue;
        seen[k] = true;
        names = grow(names, &cap, n, sizeof *names);
        if (ctx->names[k].value == NULL) {   /* the parser's tree has it as a list index */
            *bad = true;
            break;
        }
        names[n++] = (cache_name){ src + tk->start, ctx->names[k].value, tk->len };
    }
    free(seen);
    *n_names = (uint32_t)n;
    return names;
}

void
expr_cache_put(expr_cache *c, const dyn_expr_ctx *ctx, uint64_t hash, const char *text,
               uint32_t len, const expr_tok *toks, const char *src, const dyn_expr *e)
{
    tpl t = { 0 };
    cache_name *names;
    cache_entry *ent;
    uint32_t n_names;

    if (c->buckets == NULL) {
        c->n_buckets = 16;
        while (c->n_buckets < 2 * c->max_entries)
            c->n_buckets *= 2;
        c->buckets = dyn_xcalloc(c->n_buckets, sizeof *c->buckets);
        c->ring = dyn_xcalloc(c->max_entries, sizeof *c->ring);
    }
    names = text_names(ctx, toks, src, &n_names, &t.bad);
    if (ctx->values != NULL && ctx->values->n_values > 0)
        t.slot_of = dyn_xcalloc(ctx->values->n_values, sizeof *t.slot_of);
    if (!t.bad)
        tpl_expr(&t, ctx, e);
    ent = t.bad ? NULL : entry_new(&t, ctx, hash, (dyn_expr_kind)e->kind, text, len, names, n_names);
    tpl_fini(&t);
    free(names);
    if (ent == NULL)
        return;
    if (ent->bytes > c->max_bytes / 4) {   /* one huge expression may not flush the rest */
        free(ent);
        return;
    }
    while (c->n > 0 && (c->n == c->max_entries || c->bytes + ent->bytes > c->max_bytes))
        evict_one(c);
    /* new entries start unreferenced: one bound only once goes before any bound again */
    ent->ring_ix = c->n;
    c->ring[c->n++] = ent;
    ent->next = c->buckets[hash & (c->n_buckets - 1)];
    c->buckets[hash & (c->n_buckets - 1)] = ent;
    c->bytes += ent->bytes;
    c->stats.inserts++;
}
