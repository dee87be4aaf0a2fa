/* bench/micro -- microbenchmarks of the per-request CPU work around one item: parse and evaluate
 * a typical ConditionExpression on a ~1 KB item, parse and apply a typical UpdateExpression,
 * encode an S/N storage key, parse a number. Parses go through the per-thread parse cache, warm
 * as in a server that sees the same expressions again and again; the *_cold benchmarks turn it
 * off and run the parser every time. Prints ns/op per benchmark; run.sh also runs it under
 * callgrind for instructions/op.
 *   expr_bench [--only=NAME] [ITERATIONS]     (default 200000; 0 runs only the setup) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libs/arena/arena.h"
#include "libs/expr/expr.h"
#include "libs/item/item.h"
#include "libs/keycodec/keycodec.h"
#include "libs/num/num.h"
#include "tests/fuzz/fuzz.h"

static const char cond_text[] =
    "attribute_exists(pk) AND #s = :active AND price BETWEEN :lo AND :hi";
static const char update_text[] = "SET #c = #c + :one, updated = :now REMOVE tmp";
static const char number_text[] = "-12345.6789e-3";

/* ~1 KB, 12 attributes, shaped like a typical order/user row. */
static const char item_json[] =
    "{\"pk\":{\"S\":\"customer#000123456\"},\"sk\":{\"N\":\"1700000123\"},"
    "\"status\":{\"S\":\"active\"},\"price\":{\"N\":\"49.95\"},\"count\":{\"N\":\"17\"},"
    "\"tmp\":{\"BOOL\":true},"
    "\"title\":{\"S\":\"Stainless steel insulated water bottle, 750 ml, keeps drinks cold for 24 "
    "hours and hot for 12 hours\"},"
    "\"description\":{\"S\":\"Double-walled vacuum insulation keeps drinks at the right "
    "temperature all day. The powder-coated finish resists sweat and scratches, the wide mouth "
    "takes ice cubes and is easy to clean, and the leak-proof lid has a carry loop. Free of BPA "
    "and phthalates. Dishwasher safe lid; hand wash the bottle. Available in twelve colours. "
    "Ships in recyclable packaging from our warehouse within two business days of the order. "
    "Every bottle is pressure-tested before it leaves the factory and comes with a lifetime "
    "warranty against manufacturing defects; replacement lids, straws and carry straps are sold "
    "separately in our accessories shop.\"},"
    "\"tags\":{\"SS\":[\"outdoor\",\"kitchen\",\"gift\",\"bestseller\",\"eco\"]},"
    "\"ratings\":{\"NS\":[\"5\",\"4\",\"3\",\"4.5\"]},"
    "\"address\":{\"M\":{\"street\":{\"S\":\"1 Long Street, Flat 22\"},"
    "\"city\":{\"S\":\"Springfield\"},\"zip\":{\"S\":\"12345-6789\"},"
    "\"country\":{\"S\":\"US\"}}},"
    "\"history\":{\"L\":[{\"M\":{\"at\":{\"N\":\"1699990000\"},\"ev\":{\"S\":\"created\"}}},"
    "{\"M\":{\"at\":{\"N\":\"1699995000\"},\"ev\":{\"S\":\"paid\"}}},"
    "{\"M\":{\"at\":{\"N\":\"1699999000\"},\"ev\":{\"S\":\"shipped\"}}}]}}";

static const char values_json[] =
    "{\":active\":{\"S\":\"active\"},\":lo\":{\"N\":\"10\"},\":hi\":{\"N\":\"100\"},"
    "\":one\":{\"N\":\"1\"},\":now\":{\"N\":\"1700000200\"}}";

static const dyn_expr_name cond_names[] = { { "#s", "status" } };
static const dyn_expr_name update_names[] = { { "#c", "count" } };

typedef struct bench_state {
    dyn_arena fixed, req;   /* setup data; per-operation (reset every iteration) */
    const Dyne__V1__AttributeValueMap *item, *values;
    const dyn_expr *cond;   /* parsed once, in fixed */
    const Dyne__V1__AttributeValue *pk, *sk;
} bench_state;

static volatile uintptr_t sink;   /* keeps results observable */

static void
fail(const char *what, const char *msg)
{
    fprintf(stderr, "expr_bench: %s failed: %s\n", what, msg != NULL ? msg : "");
    exit(1);
}

static const dyn_expr *
parse(dyn_arena *a, const Dyne__V1__AttributeValueMap *values, const dyn_expr_name *names,
      dyn_expr_kind kind, const char *text)
{
    dyn_expr_ctx ctx;
    dyn_expr *e;
    const char *msg = NULL;

    if (dyn_expr_ctx_init(&ctx, names, 1, values, a, &msg) != DYN_OK)
        fail("ctx_init", msg);
    if (dyn_expr_parse(&ctx, kind, text, strlen(text), &e, &msg) != DYN_OK)
        fail("parse", msg);
    return e;
}

/* ---- the benchmarks: one operation each, everything it allocates reset afterwards ---- */

static void
op_cond_parse(bench_state *s)
{
    sink = (uintptr_t)parse(&s->req, s->values, cond_names, DYN_EXPR_CONDITION, cond_text);
    dyn_arena_reset(&s->req);
}

static void
op_ctx_init(bench_state *s)
{
    dyn_expr_ctx ctx;
    const char *msg = NULL;

    if (dyn_expr_ctx_init(&ctx, cond_names, 1, s->values, &s->req, &msg) != DYN_OK)
        fail("ctx_init", msg);
    sink = (uintptr_t)ctx.value_order;
    dyn_arena_reset(&s->req);
}

static void
op_cond_eval(bench_state *s)
{
    bool ok = false;

    if (dyn_expr_eval_condition(s->cond, s->item, &ok) != DYN_OK || !ok)
        fail("eval", "condition not true");
    sink = ok;
}

static void
op_cond_parse_eval(bench_state *s)
{
    const dyn_expr *e = parse(&s->req, s->values, cond_names, DYN_EXPR_CONDITION, cond_text);
    bool ok = false;

    if (dyn_expr_eval_condition(e, s->item, &ok) != DYN_OK || !ok)
        fail("eval", "condition not true");
    sink = ok;
    dyn_arena_reset(&s->req);
}

static void
op_update_parse_apply(bench_state *s)
{
    static const char *const key_names[2] = { "pk", "sk" };
    const dyn_expr *e = parse(&s->req, s->values, update_names, DYN_EXPR_UPDATE, update_text);
    Dyne__V1__AttributeValueMap *out;
    const char *msg = NULL;

    if (dyn_expr_apply_update(e, s->item, key_names, &s->req, &out, &msg) != DYN_OK)
        fail("apply_update", msg);
    sink = (uintptr_t)out;
    dyn_arena_reset(&s->req);
}

static void
op_key_encode(bench_state *s)
{
    unsigned char *key;
    size_t len;

    if (dyn_keycodec_item_key(&s->req, s->pk, s->sk, &key, &len) != DYN_OK)
        fail("item_key", NULL);
    sink = key[len - 1];
    dyn_arena_reset(&s->req);
}

static void
op_num_parse(bench_state *s)
{
    dyn_num n;

    (void)s;
    if (dyn_num_parse(number_text, sizeof number_text - 1, &n, NULL) != DYN_OK)
        fail("num_parse", NULL);
    sink = (uintptr_t)n.coef;
}

static const struct {
    const char *name, *what;
    void (*fn)(bench_state *);
    bool cold;   /* parse cache off */
} benches[] = {
    { "ctx_init", "expression context: 1 name, 5 values", op_ctx_init, false },
    { "cond_parse", "ConditionExpression: ctx_init + parse (warm cache)", op_cond_parse, false },
    { "cond_parse_cold", "ConditionExpression: ctx_init + parse (cold, cache disabled)",
      op_cond_parse, true },
    { "cond_eval", "ConditionExpression: evaluate on the 1 KB item", op_cond_eval, false },
    { "cond_parse_eval", "ConditionExpression: ctx_init + parse (warm cache) + evaluate",
      op_cond_parse_eval, false },
    { "cond_parse_eval_cold", "ConditionExpression: ctx_init + parse (cold) + evaluate",
      op_cond_parse_eval, true },
    { "update_parse_apply", "UpdateExpression: ctx_init + parse (warm cache) + apply",
      op_update_parse_apply, false },
    { "update_parse_apply_cold", "UpdateExpression: ctx_init + parse (cold) + apply",
      op_update_parse_apply, true },
    { "key_encode", "storage key, S pk + N sk (hash + encode)", op_key_encode, false },
    { "num_parse", "dyn_num_parse(\"-12345.6789e-3\")", op_num_parse, false },
};

static void
setup(bench_state *s)
{
    dyn_arena_init(&s->fixed, 16u << 20);
    dyn_arena_init(&s->req, 16u << 20);
    s->item = fz_item_json(&s->fixed, item_json);
    s->values = fz_item_json(&s->fixed, values_json);
    /* also puts the condition in the parse cache */
    s->cond = parse(&s->fixed, s->values, cond_names, DYN_EXPR_CONDITION, cond_text);
    s->pk = dyn_item_get(s->item, "pk");
    s->sk = dyn_item_get(s->item, "sk");
    /* warm the request arena's first chunk, as a long-running worker's would be, and put the
     * update in the parse cache */
    op_update_parse_apply(s);
}

static double
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
    const char *only = NULL;
    long iters = 200000;
    bench_state s;

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--only=", 7) == 0)
            only = argv[i] + 7;
        else
            iters = strtol(argv[i], NULL, 10);
    }
    setup(&s);
    printf("# item: %zu bytes, %zu attributes\n", dyn_item_size(s.item), s.item->n_values);
    for (size_t b = 0; b < sizeof benches / sizeof benches[0]; b++) {
        double t0, t1;

        if (only != NULL && strcmp(only, benches[b].name) != 0)
            continue;
        dyn_expr_cache_enable(!benches[b].cold);
        if (iters > 0)
            benches[b].fn(&s);   /* warm caches once, outside the measurement */
        t0 = now_ns();
        for (long i = 0; i < iters; i++)
            benches[b].fn(&s);
        t1 = now_ns();
        printf("%-20s %10ld iters %10.1f ns/op   %s\n", benches[b].name, iters,
               iters > 0 ? (t1 - t0) / (double)iters : 0.0, benches[b].what);
    }
    dyn_arena_fini(&s.req);
    dyn_arena_fini(&s.fixed);
    return 0;
}
