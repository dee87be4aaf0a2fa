/* tests/fuzz -- libs/expr: the first input byte picks the expression kind (and a key schema),
 * the rest is the expression text, parsed with one fixed set of ExpressionAttributeNames/Values.
 * Whatever parses is evaluated, applied and projected against a few fixed items (a rich one, an
 * empty one, none, a deeply nested one); nothing may crash, and results must be repeatable.
 * The parse cache must change nothing: each text is parsed with the cache off, on (filling it)
 * and on again (served by it), and again under a second set of names and values that maps some
 * placeholders elsewhere; every parse of a set must give the same result, message, tree and
 * placeholder marks as the uncached one. */
#include <stdbool.h>
#include <string.h>

#include "libs/expr/expr.h"
#include "libs/item/item.h"
#include "tests/fuzz/fuzz.h"

#define ARENA_CAP (256u << 20)   /* bytes, per input */

static const dyn_expr_name names[] = {
    { "#a", "a" },   { "#b", "b" },     { "#s", "status" }, { "#n", "name" },
    { "#pk", "pk" }, { "#sk", "sk" },   { "#l", "l" },      { "#m", "m" },
    { "#c", "count" }, { "#dot", "a.b" }, { "#sp", "with space" }, { "#d", "d" },
};

/* The same keys, some mapped elsewhere, in another order (a cached tree of the first set must
 * not serve these). */
static const dyn_expr_name names2[] = {
    { "#d", "d" },   { "#b", "a" },     { "#a", "b" },      { "#s", "status" },
    { "#n", "m" },   { "#pk", "pk" },   { "#sk", "sk" },    { "#l", "l" },
    { "#m", "m" },   { "#c", "count" }, { "#dot", "a" },    { "#sp", "with space" },
};

static const char values_json[] =
    "{\":v\":{\"S\":\"x\"},\":w\":{\"S\":\"y\"},\":active\":{\"S\":\"active\"},"
    "\":n\":{\"N\":\"1\"},\":one\":{\"N\":\"1\"},\":lo\":{\"N\":\"10\"},\":hi\":{\"N\":\"100\"},"
    "\":z\":{\"N\":\"0\"},\":neg\":{\"N\":\"-3.5\"},"
    "\":big\":{\"N\":\"9.9999999999999999999999999999999999999E+125\"},"
    "\":tiny\":{\"N\":\"1E-130\"},\":now\":{\"N\":\"1700000000\"},\":b\":{\"B\":\"bin\"},"
    "\":t\":{\"BOOL\":true},\":f\":{\"BOOL\":false},\":nul\":{\"NULL\":true},"
    "\":l\":{\"L\":[{\"N\":\"1\"},{\"S\":\"x\"}]},\":m\":{\"M\":{\"a\":{\"S\":\"x\"}}},"
    "\":ss\":{\"SS\":[\"x\",\"y\"]},\":ns\":{\"NS\":[\"1\",\"2\"]},\":bs\":{\"BS\":[\"a\",\"b\"]},"
    "\":e\":{\"S\":\"\"},\":S\":{\"S\":\"S\"},\":N\":{\"S\":\"N\"},\":type\":{\"S\":\"SS\"}}";

/* The same keys: other numbers (bounds the wrong way round), other types, another type name. */
static const char values2_json[] =
    "{\":v\":{\"N\":\"7\"},\":w\":{\"S\":\"y\"},\":active\":{\"S\":\"inactive\"},"
    "\":n\":{\"N\":\"2.5\"},\":one\":{\"N\":\"-1\"},\":lo\":{\"N\":\"100\"},"
    "\":hi\":{\"N\":\"10\"},\":z\":{\"S\":\"0\"},\":neg\":{\"N\":\"-3.50\"},"
    "\":big\":{\"N\":\"1E+126\"},\":tiny\":{\"N\":\"x\"},\":now\":{\"N\":\"1700000001\"},"
    "\":b\":{\"B\":\"bin2\"},\":t\":{\"BOOL\":false},\":f\":{\"BOOL\":false},"
    "\":nul\":{\"NULL\":true},\":l\":{\"L\":[]},\":m\":{\"M\":{\"b\":{\"N\":\"1\"}}},"
    "\":ss\":{\"SS\":[\"z\"]},\":ns\":{\"NS\":[\"3\"]},\":bs\":{\"BS\":[\"c\"]},"
    "\":e\":{\"S\":\"e\"},\":S\":{\"S\":\"N\"},\":N\":{\"S\":\"XX\"},\":type\":{\"S\":\"L\"}}";

static const char rich_json[] =
    "{\"pk\":{\"S\":\"user#1\"},\"sk\":{\"N\":\"42\"},\"status\":{\"S\":\"active\"},"
    "\"price\":{\"N\":\"19.99\"},\"count\":{\"N\":\"7\"},\"a\":{\"S\":\"x\"},\"b\":{\"N\":\"1\"},"
    "\"c\":{\"N\":\"-1E+5\"},\"name\":{\"S\":\"Ann\"},\"tmp\":{\"BOOL\":true},"
    "\"ss\":{\"SS\":[\"x\",\"y\",\"z\"]},\"ns\":{\"NS\":[\"1\",\"2.5\",\"-3\"]},"
    "\"bs\":{\"BS\":[\"a\",\"b\"]},\"bin\":{\"B\":\"bytes\"},\"nul\":{\"NULL\":true},"
    "\"a.b\":{\"S\":\"dotted\"},\"with space\":{\"N\":\"3\"},"
    "\"l\":{\"L\":[{\"N\":\"1\"},{\"S\":\"x\"},{\"M\":{\"b\":{\"N\":\"2\"},\"x\":{\"L\":[]}}},"
    "{\"L\":[{\"N\":\"3\"},{\"SS\":[\"q\"]}]}]},"
    "\"m\":{\"M\":{\"a\":{\"M\":{\"b\":{\"M\":{\"c\":{\"N\":\"9\"}}}}},\"l\":{\"L\":[{\"N\":\"0\"}]},"
    "\"s\":{\"S\":\"inner\"}}}}";

/* d = {d: {d: ... {leaf}}}: 30 levels of M below the attribute, and a list as deep. */
static Dyne__V1__AttributeValueMap *
deep_item(dyn_arena *a)
{
    char json[4096];
    size_t n = 0;
    int levels = 30;

    n += (size_t)snprintf(json + n, sizeof json - n, "{\"pk\":{\"S\":\"deep\"},\"d\":");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "{\"M\":{\"d\":");
    n += (size_t)snprintf(json + n, sizeof json - n, "{\"N\":\"1\"}");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "}}");
    n += (size_t)snprintf(json + n, sizeof json - n, ",\"l\":");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "{\"L\":[");
    n += (size_t)snprintf(json + n, sizeof json - n, "{\"S\":\"x\"}");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "]}");
    snprintf(json + n, sizeof json - n, "}");
    return fz_item_json(a, json);
}

/* Fixed data lives in its own arena for the whole run; each input gets a fresh one. */
static dyn_arena fixed, arena;
static const Dyne__V1__AttributeValueMap *values, *values2;
static const Dyne__V1__AttributeValueMap *items[4];   /* rich, empty, deep, NULL */

static void
setup(void)
{
    dyn_arena_init(&fixed, 16u << 20);
    dyn_arena_init(&arena, ARENA_CAP);
    values = fz_item_json(&fixed, values_json);
    values2 = fz_item_json(&fixed, values2_json);
    items[0] = fz_item_json(&fixed, rich_json);
    items[1] = fz_item_json(&fixed, "{}");
    items[2] = deep_item(&fixed);
    items[3] = NULL;
}

static void
use_map(const Dyne__V1__AttributeValueMap *m)
{
    unsigned char *enc = NULL;
    size_t len = 0;
    const char *msg = NULL;

    FZ_CHECK(m != NULL);
    (void)dyn_item_size(m);
    (void)dyn_item_validate(m, &arena, &msg);
    (void)dyn_item_encode(m, &arena, &enc, &len);
}

static void
run_condition(const dyn_expr *e, dyn_expr_kind kind, uint8_t sel)
{
    static const char *const pk_names[] = { "pk", "a", "#x" };
    static const char types[] = { 'S', 'N', 'B' };

    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        bool r1 = false, r2 = false;
        dyn_err rc = dyn_expr_eval_condition(e, items[i], &r1);
        FZ_CHECK(rc == DYN_OK || rc == DYN_EINTERNAL);
        FZ_CHECK(dyn_expr_eval_condition(e, items[i], &r2) == rc);
        if (rc == DYN_OK)
            FZ_CHECK(r1 == r2);
    }
    if (kind == DYN_EXPR_KEY_CONDITION) {
        dyn_expr_key_cond kc;
        const char *msg = NULL;
        const char *sk = (sel & 0x20) ? NULL : "sk";
        dyn_err rc = dyn_expr_key_condition(e, pk_names[(sel >> 3) % 3], types[(sel >> 6) % 3], sk,
                                            types[(sel >> 4) % 3], &arena, &kc, &msg);
        FZ_CHECK(rc == DYN_OK || rc == DYN_EVALIDATION || rc == DYN_ENOMEM);
        if (rc == DYN_OK) {
            FZ_CHECK(kc.pk != NULL);
            if (kc.sk_op != DYN_EXPR_KEY_NONE)
                FZ_CHECK(kc.sk_lo != NULL);
            if (kc.sk_op == DYN_EXPR_KEY_BETWEEN)
                FZ_CHECK(kc.sk_hi != NULL);
        } else if (rc == DYN_EVALIDATION) {
            FZ_CHECK(msg != NULL);
        }
    }
}

static void
run_update(const dyn_expr *e)
{
    static const char *const key_names[2] = { "pk", "sk" };

    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        Dyne__V1__AttributeValueMap *out = NULL, *old_proj = NULL, *new_proj = NULL;
        const char *msg = NULL;
        dyn_err rc = dyn_expr_apply_update(e, items[i], key_names, &arena, &out, &msg);

        FZ_CHECK(rc == DYN_OK || rc == DYN_EVALIDATION || rc == DYN_ENOMEM);
        if (rc == DYN_EVALIDATION)
            FZ_CHECK(msg != NULL);
        if (dyn_expr_project(e, items[i], &arena, &old_proj) == DYN_OK)
            use_map(old_proj);
        if (rc != DYN_OK)
            continue;
        use_map(out);
        /* the key attributes may not change */
        if (items[i] != NULL) {
            for (int k = 0; k < 2; k++) {
                const Dyne__V1__AttributeValue *before = dyn_item_get(items[i], key_names[k]);
                const Dyne__V1__AttributeValue *after = dyn_item_get(out, key_names[k]);
                FZ_CHECK((before == NULL) == (after == NULL));
                if (before != NULL)
                    FZ_CHECK(dyn_item_value_equal(before, after));
            }
        }
        if (dyn_expr_project(e, out, &arena, &new_proj) == DYN_OK)
            use_map(new_proj);
    }
}

static void
run_projection(const dyn_expr *e)
{
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        Dyne__V1__AttributeValueMap *out = NULL;
        dyn_err rc = dyn_expr_project(e, items[i], &arena, &out);
        FZ_CHECK(rc == DYN_OK || rc == DYN_ENOMEM);
        if (rc == DYN_OK)
            use_map(out);
    }
}

/* One request: ctx_init, parse, and when it parsed, the tree's dump and the unused check. */
typedef struct parsed {
    dyn_expr_ctx ctx;
    dyn_expr *e;
    dyn_err rc, unused_rc;
    const char *msg, *unused_msg, *tree;
} parsed;

static void
parse_one(const dyn_expr_name *nv, size_t n, const Dyne__V1__AttributeValueMap *vals,
          dyn_expr_kind kind, const char *text, size_t len, bool cache, parsed *out)
{
    const char *msg = NULL;

    memset(out, 0, sizeof *out);
    dyn_expr_cache_enable(cache);
    FZ_CHECK(dyn_expr_ctx_init(&out->ctx, nv, n, vals, &arena, &msg) == DYN_OK);
    out->rc = dyn_expr_parse(&out->ctx, kind, text, len, &out->e, &out->msg);
    FZ_CHECK(out->rc == DYN_OK || out->rc == DYN_EVALIDATION || out->rc == DYN_ENOMEM);
    if (out->rc == DYN_EVALIDATION)
        FZ_CHECK(out->msg != NULL && out->msg[0] != '\0');
    if (out->rc != DYN_OK)
        return;
    FZ_CHECK(out->e != NULL);
    FZ_CHECK(dyn_expr_dump(out->e, &arena, &out->tree) == DYN_OK);
    out->unused_rc = dyn_expr_ctx_check_unused(&out->ctx, &out->unused_msg);
}

static bool
same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
check_same(const parsed *want, const parsed *got)
{
    FZ_CHECK(got->rc == want->rc);
    FZ_CHECK(same_str(got->msg, want->msg));
    FZ_CHECK(same_str(got->tree, want->tree));
    FZ_CHECK(got->unused_rc == want->unused_rc);
    FZ_CHECK(same_str(got->unused_msg, want->unused_msg));
    /* marks even when the parse failed */
    for (size_t i = 0; i < want->ctx.n_names; i++)
        FZ_CHECK(got->ctx.name_used[i] == want->ctx.name_used[i]);
    for (size_t i = 0; want->ctx.values != NULL && i < want->ctx.values->n_values; i++)
        FZ_CHECK(got->ctx.value_used[i] == want->ctx.value_used[i]);
}

/* The text parsed with the cache off, on and on again under one set of names and values; the
 * last (the cache's, when it parsed) in *out. */
static void
parse_three(const dyn_expr_name *nv, size_t n, const Dyne__V1__AttributeValueMap *vals,
            dyn_expr_kind kind, const char *text, size_t len, parsed *out)
{
    parsed plain, first;

    parse_one(nv, n, vals, kind, text, len, false, &plain);
    parse_one(nv, n, vals, kind, text, len, true, &first);
    parse_one(nv, n, vals, kind, text, len, true, out);
    check_same(&plain, &first);
    check_same(&plain, out);
}

static void
run_tree(const dyn_expr *e, dyn_expr_kind kind, uint8_t sel)
{
    switch (kind) {
    case DYN_EXPR_CONDITION:
    case DYN_EXPR_FILTER:
    case DYN_EXPR_KEY_CONDITION:
        run_condition(e, kind, sel);
        break;
    case DYN_EXPR_UPDATE:
        run_update(e);
        break;
    case DYN_EXPR_PROJECTION:
        run_projection(e);
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const dyn_expr_kind kinds[] = {
        DYN_EXPR_CONDITION, DYN_EXPR_FILTER, DYN_EXPR_KEY_CONDITION, DYN_EXPR_UPDATE,
        DYN_EXPR_PROJECTION,
    };
    const char *text = (const char *)data + 1;
    dyn_expr_kind kind;
    parsed p;

    if (values == NULL)
        setup();
    if (size < 1)
        return 0;
    kind = kinds[data[0] % 5];
    parse_three(names, sizeof names / sizeof names[0], values, kind, text, size - 1, &p);
    if (p.rc == DYN_OK)
        run_tree(p.e, kind, data[0]);
    parse_three(names2, sizeof names2 / sizeof names2[0], values2, kind, text, size - 1, &p);
    if (p.rc == DYN_OK)
        run_tree(p.e, kind, data[0]);
    dyn_expr_cache_enable(true);
    (void)dyn_expr_is_reserved(text, size - 1);
    dyn_arena_reset(&arena);
    return 0;
}
