/* bench/loadgen -- bench/echo's one method, "/dyne.bench.Echo/Echo": every operation, whatever the
 * workload names it, is one call carrying --item-size bytes of filler, answered with the same
 * bytes. No protobuf on either side: the cost of a gRPC hop with nothing behind it. */
#include "bench/loadgen/loadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct echo_target {
    lg_target t;
    lg_target_opts o;
} echo_target;

/* One call, so a wrong address or a server that is no echo stops the run before it starts. */
static int
et_setup(lg_target *t, lg_unary_fn call, void *ctx)
{
    echo_target *et = t->state;
    size_t n = et->o.item_size;
    const char *msg = NULL;
    lg_buf out = { 0 };
    int rc = -1, st;

    if (n > LG_ECHO_MAX) {
        fprintf(stderr, "loadgen: --item-size %zu is past the echo target's %zu bytes\n", n,
                LG_ECHO_MAX);
        return -1;
    }
    st = call(ctx, LG_ECHO_METHOD, lg_filler(0, n), n, &out, &msg);
    if (st != 0)
        fprintf(stderr, "loadgen: %s: %s\n", LG_ECHO_METHOD, msg);
    else if (out.len != n || memcmp(out.p, lg_filler(0, n), n) != 0)
        fprintf(stderr, "loadgen: %s answered %zu bytes that are not the %zu sent\n",
                LG_ECHO_METHOD, out.len, n);
    else
        rc = 0;
    lg_buf_fini(&out);
    return rc;
}

static const char *
et_method(lg_target *t, lg_op op)
{
    (void)t;
    (void)op;
    return LG_ECHO_METHOD;
}

static int
et_request(lg_target *t, lg_op op, uint64_t k, uint64_t seq, dyn_arena *a, lg_buf *b)
{
    echo_target *et = t->state;
    size_t n = et->o.item_size;

    (void)op;
    (void)seq;
    (void)a;
    if (n > LG_ECHO_MAX)
        return -1;
    uint8_t *p = lg_buf_reserve(b, n);
    if (n > 0)   /* an empty buffer may have no memory at all */
        memcpy(p, lg_filler(k, n), n);
    b->len = n;
    return 0;
}

static lg_check
et_check(lg_target *t, lg_op op, const uint8_t *p, size_t n, dyn_arena *a)
{
    echo_target *et = t->state;

    (void)op;
    (void)p;
    (void)a;
    return n == et->o.item_size ? LG_CHECK_OK : LG_CHECK_BAD;
}

lg_target *
lg_target_echo_new(const lg_target_opts *o)
{
    echo_target *et = dyn_xcalloc(1, sizeof *et);

    et->o = *o;
    et->t.name = "echo";
    et->t.setup = et_setup;
    et->t.method = et_method;
    et->t.request = et_request;
    et->t.check = et_check;
    et->t.ops_per_call = 1;
    et->t.state = et;
    return &et->t;
}
