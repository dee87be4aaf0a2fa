/* libs/elect -- leader election against a private etcd: two electors on separate
 * connections (as two processes would be), exactly one leads; resigning hands over at once; a
 * leader whose lease dies is replaced and its epoch no longer passes the fence. */
#include "libs/elect/elect.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "libs/arena/arena.h"
#include "libs/meta/etcd_testutil.h"
#include "libs/meta/meta.h"
#include "libs/testing/dyn_test.h"

#define KEY "/dyne/controller/leader"

static dyn_etcd_test etcd;
static const char *endpoint;

static atomic_int wakes;

static void
et_wake(void *arg, bool leading)
{
    (void)arg, (void)leading;
    atomic_fetch_add(&wakes, 1);
}

static void
et_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Steps e until it leads (or not, per want), at most ms; its epoch then. */
static int64_t
et_step_until(dyn_elect *e, bool want, int ms)
{
    int64_t epoch = 0;

    for (int waited = 0; waited <= ms; waited += 50) {
        epoch = dyn_elect_step(e);
        if ((epoch != 0) == want)
            break;
        et_sleep_ms(50);
    }
    return epoch;
}

/* A write fenced on epoch: true if it went through. */
static bool
et_fenced_put(dyn_meta *m, dyn_elect *e, int64_t epoch, const char *val)
{
    dyn_meta_cmp fence = dyn_elect_fence(e, epoch);
    dyn_meta_op put = { .type = DYN_META_OP_PUT, .key = "/t/fenced", .val = val,
                        .val_len = strlen(val) };
    bool ok = false;

    DT_OK(dyn_meta_txn(m, &fence, 1, &put, 1, NULL, 0, &ok, NULL));
    return ok;
}

static bool
et_holder_is(dyn_meta *m, const char *id)
{
    dyn_arena a;
    dyn_meta_kv kv;
    bool same;

    dyn_arena_init(&a, 1 << 16);
    same = dyn_meta_get(m, KEY, &a, &kv) == DYN_OK && strcmp(kv.val, id) == 0;
    dyn_arena_fini(&a);
    return same;
}

static void
test_election(void)
{
    dyn_meta *ma = dyn_meta_open(endpoint), *mb = dyn_meta_open(endpoint);
    dyn_elect *a = dyn_elect_new(ma, KEY, "ctl-a", 2, et_wake, NULL);
    dyn_elect *b = dyn_elect_new(mb, KEY, "ctl-b", 2, et_wake, NULL);
    int64_t ea, eb, ec;

    /* one leader; the other stays a follower however often it campaigns */
    ea = et_step_until(a, true, 5000);
    DT_TRUE(ea > 0);
    for (int i = 0; i < 3; i++)
        DT_EQ_INT(dyn_elect_step(b), 0);
    DT_EQ_INT(dyn_elect_step(a), ea);   /* leading is stable */
    DT_EQ_INT(dyn_elect_epoch(a), ea);
    DT_TRUE(et_holder_is(mb, "ctl-a"));
    DT_TRUE(et_fenced_put(ma, a, ea, "a1"));
    DT_TRUE(!et_fenced_put(ma, a, ea + 1000, "bogus"));

    /* resign: the key goes at once and the follower wins on its next step */
    int before = atomic_load(&wakes);
    dyn_elect_resign(a);
    DT_EQ_INT(dyn_elect_epoch(a), 0);
    eb = et_step_until(b, true, 3000);
    DT_TRUE(eb > ea);
    DT_TRUE(et_holder_is(ma, "ctl-b"));
    DT_TRUE(atomic_load(&wakes) > before);   /* the follower's watch saw the delete */
    DT_TRUE(!et_fenced_put(ma, a, ea, "stale"));   /* the old epoch is fenced off */
    DT_TRUE(et_fenced_put(mb, b, eb, "b1"));
    DT_EQ_INT(dyn_elect_step(a), 0);        /* a campaigns again, as a follower */

    /* a leader that stops refreshing (a hung process): etcd expires its lease, the key goes,
     * the other takes over and the old epoch no longer passes the fence */
    DT_OK(dyn_meta_keepalive_stop(mb, dyn_elect_lease(b)));
    ec = et_step_until(a, true, 10000);
    DT_TRUE(ec > eb);
    DT_TRUE(et_holder_is(ma, "ctl-a"));
    DT_TRUE(!et_fenced_put(mb, b, eb, "stale"));
    for (int waited = 0; waited < 3000 && dyn_elect_epoch(b) != 0; waited += 50)
        et_sleep_ms(50);
    DT_EQ_INT(dyn_elect_epoch(b), 0);   /* its watch saw its key go */

    /* a lease revoked under a leader: it stops at once and gets a new lease to campaign on */
    DT_OK(dyn_meta_lease_revoke(mb, dyn_elect_lease(a)));
    for (int waited = 0; waited < 5000 && dyn_elect_epoch(a) != 0; waited += 50)
        et_sleep_ms(50);
    DT_EQ_INT(dyn_elect_epoch(a), 0);
    int64_t ed = et_step_until(b, true, 5000);
    DT_TRUE(ed > ec);
    DT_EQ_INT(et_step_until(a, false, 0), 0);
    DT_TRUE(dyn_elect_lease(a) != 0);

    dyn_elect_free(b);   /* resigns: nobody holds the key */
    DT_TRUE(!et_holder_is(ma, "ctl-b"));
    dyn_elect_free(a);
    dyn_meta_close(ma);
    dyn_meta_close(mb);
}

static void
test_start_etcd(void)
{
    DT_TRUE((endpoint = dyn_etcd_test_start(&etcd)) != NULL);
}

static void
test_stop_etcd(void)
{
    dyn_etcd_test_stop(&etcd);
}

DT_MAIN({ "start etcd", test_start_etcd }, { "election", test_election },
        { "stop etcd", test_stop_etcd })
