/* tests/fuzz -- libs/expr: the first input byte picks the expression kind (and a key schema),
 * the rest is the expression text, parsed with one fixed set of ExpressionAttributeNames/Values.
 * Whatever parses is evaluated, applied and projected against a few fixed items (a rich one, an
 * empty one, none, a deeply nested one); nothing may crash, and results must be repeatable. */
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
static const Dyne__V1__AttributeValueMap *values;
static const Dyne__V1__AttributeValueMap *items[4];   /* rich, empty, deep, NULL */

static void
setup(void)
{
    dyn_arena_init(&fixed, 16u << 20);
    dyn_arena_init(&arena, ARENA_CAP);
    values = fz_item_json(&fixed, values_json);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const dyn_expr_kind kinds[] = {
        DYN_EXPR_CONDITION, DYN_EXPR_FILTER, DYN_EXPR_KEY_CONDITION, DYN_EXPR_UPDATE,
        DYN_EXPR_PROJECTION,
    };
    dyn_expr_ctx ctx;
    dyn_expr *e = NULL;
    const char *msg = NULL;
    dyn_expr_kind kind;
    dyn_err rc;

    if (values == NULL)
        setup();
    if (size < 1)
        return 0;
    kind = kinds[data[0] % 5];
    FZ_CHECK(dyn_expr_ctx_init(&ctx, names, sizeof names / sizeof names[0], values, &arena,
                               &msg) == DYN_OK);
    rc = dyn_expr_parse(&ctx, kind, (const char *)data + 1, size - 1, &e, &msg);
    FZ_CHECK(rc == DYN_OK || rc == DYN_EVALIDATION || rc == DYN_ENOMEM);
    if (rc == DYN_EVALIDATION) {
        FZ_CHECK(msg != NULL && msg[0] != '\0');
    } else if (rc == DYN_OK) {
        FZ_CHECK(e != NULL);
        (void)dyn_expr_ctx_check_unused(&ctx, &msg);
        switch (kind) {
        case DYN_EXPR_CONDITION:
        case DYN_EXPR_FILTER:
        case DYN_EXPR_KEY_CONDITION:
            run_condition(e, kind, data[0]);
            break;
        case DYN_EXPR_UPDATE:
            run_update(e);
            break;
        case DYN_EXPR_PROJECTION:
            run_projection(e);
            break;
        }
    }
    (void)dyn_expr_is_reserved((const char *)data + 1, size - 1);
    dyn_arena_reset(&arena);
    return 0;
}
