/* libs/meta -- integration tests against a private etcd started by the test itself. */
#include "libs/meta/meta.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "libs/meta/etcd_testutil.h"
#include "libs/testing/dyn_test.h"

static dyn_etcd_test g_etcd;
static const char *g_ep;

static bool
etcd_up(void)
{
    if (g_ep == NULL)
        g_ep = dyn_etcd_test_start(&g_etcd);
    if (g_ep == NULL)
        DT_TRUE(!"etcd did not start");
    return g_ep != NULL;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static dyn_err
mt_put(dyn_meta *m, const char *key, const char *val, int64_t *rev)
{
    return dyn_meta_put(m, key, val, strlen(val), 0, rev);
}

/* The value of key as a string in a, or NULL with the error in *rc. */
static const char *
mt_get(dyn_meta *m, const char *key, dyn_arena *a, dyn_err *rc, int64_t *mod_rev)
{
    dyn_meta_kv kv;
    *rc = dyn_meta_get(m, key, a, &kv);
    if (*rc != DYN_OK)
        return NULL;
    if (mod_rev != NULL)
        *mod_rev = kv.mod_rev;
    return kv.val;
}

static void
test_put_get_range_delete(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    dyn_arena a;
    dyn_meta_kv *kvs = NULL;
    size_t n = 0;
    bool more = false;
    int64_t rev_a = 0, rev_b = 0, rev = 0, mod = 0, deleted = 0;
    dyn_err rc;

    dyn_arena_init(&a, 1 << 20);
    DT_OK(mt_put(m, "/m/kv/b", "bee", &rev_b));
    DT_OK(mt_put(m, "/m/kv/a", "ay", &rev_a));
    DT_OK(mt_put(m, "/m/kv/c", "sea", NULL));
    DT_OK(mt_put(m, "/m/kv0", "outside", NULL));   /* just past the prefix */
    DT_TRUE(rev_a > rev_b);

    DT_EQ_STR(mt_get(m, "/m/kv/b", &a, &rc, &mod), "bee");
    DT_EQ_INT(mod, rev_b);
    DT_TRUE(mt_get(m, "/m/kv/zz", &a, &rc, NULL) == NULL);
    DT_ERR(rc, DYN_ENOTFOUND);

    DT_OK(dyn_meta_range(m, "/m/kv/", 2, &a, &kvs, &n, &more, &rev));
    DT_EQ_INT(n, 2);
    DT_TRUE(more);
    DT_TRUE(rev >= rev_a);
    if (n == 2) {
        DT_EQ_STR(kvs[0].key, "/m/kv/a");
        DT_EQ_STR(kvs[1].key, "/m/kv/b");
        DT_EQ_INT(kvs[0].mod_rev, rev_a);
        DT_EQ_INT(kvs[1].val_len, 3);
    }
    DT_OK(dyn_meta_range(m, "/m/kv/", 0, &a, &kvs, &n, &more, NULL));
    DT_EQ_INT(n, 3);
    DT_TRUE(!more);

    DT_OK(dyn_meta_delete(m, "/m/kv/b", &deleted));
    DT_EQ_INT(deleted, 1);
    DT_OK(dyn_meta_delete(m, "/m/kv/b", &deleted));
    DT_EQ_INT(deleted, 0);
    DT_OK(dyn_meta_delete_prefix(m, "/m/kv/", &deleted));
    DT_EQ_INT(deleted, 2);
    DT_OK(dyn_meta_range(m, "/m/kv/", 0, &a, &kvs, &n, NULL, NULL));
    DT_EQ_INT(n, 0);
    DT_EQ_STR(mt_get(m, "/m/kv0", &a, &rc, NULL), "outside");

    DT_ERR(mt_put(m, "", "no key", NULL), DYN_EVALIDATION);
    dyn_arena_fini(&a);
    dyn_meta_close(m);
}

static void
test_put_if_absent_conflict(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    dyn_arena a;
    dyn_err rc;
    int64_t rev = 0, mod = 0;

    dyn_arena_init(&a, 1 << 16);
    DT_OK(dyn_meta_put_if_absent(m, "/m/pia/x", "first", 5, 0, &rev));
    DT_TRUE(rev > 0);
    DT_ERR(dyn_meta_put_if_absent(m, "/m/pia/x", "second", 6, 0, NULL), DYN_EEXISTS);
    DT_EQ_STR(mt_get(m, "/m/pia/x", &a, &rc, &mod), "first");
    DT_EQ_INT(mod, rev);
    /* after a delete the key is absent again */
    DT_OK(dyn_meta_delete(m, "/m/pia/x", NULL));
    DT_OK(dyn_meta_put_if_absent(m, "/m/pia/x", "third", 5, 0, NULL));
    dyn_arena_fini(&a);
    dyn_meta_close(m);
}

static void
test_cas_and_delete_if(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    dyn_arena a;
    dyn_err rc;
    int64_t r1 = 0, r2 = 0;
    bool ok = false;

    dyn_arena_init(&a, 1 << 16);
    DT_OK(dyn_meta_cas(m, "/m/cas/k", 0, "v1", 2, 0, &r1));   /* 0: must not exist */
    DT_ERR(dyn_meta_cas(m, "/m/cas/k", 0, "v1b", 3, 0, NULL), DYN_ECONDFAIL);
    DT_OK(dyn_meta_cas(m, "/m/cas/k", r1, "v2", 2, 0, &r2));
    DT_TRUE(r2 > r1);
    DT_ERR(dyn_meta_cas(m, "/m/cas/k", r1, "v3", 2, 0, NULL), DYN_ECONDFAIL);   /* stale */
    DT_EQ_STR(mt_get(m, "/m/cas/k", &a, &rc, NULL), "v2");
    DT_ERR(dyn_meta_delete_if(m, "/m/cas/k", r1), DYN_ECONDFAIL);
    DT_OK(dyn_meta_delete_if(m, "/m/cas/k", r2));
    DT_TRUE(mt_get(m, "/m/cas/k", &a, &rc, NULL) == NULL);
    DT_ERR(rc, DYN_ENOTFOUND);
    DT_ERR(dyn_meta_delete_if(m, "/m/cas/k", 0), DYN_ECONDFAIL);   /* absent is not "rev 0" */

    /* General txn: move a value from one key to another if the source still says "s". */
    DT_OK(mt_put(m, "/m/cas/src", "s", NULL));
    dyn_meta_cmp cmp = { .key = "/m/cas/src", .target = DYN_META_CMP_VALUE, .op = DYN_META_EQ,
                         .val = "s", .val_len = 1 };
    dyn_meta_op then[] = {
        { .type = DYN_META_OP_DELETE, .key = "/m/cas/src" },
        { .type = DYN_META_OP_PUT, .key = "/m/cas/dst", .val = "s", .val_len = 1 },
    };
    dyn_meta_op otherwise[] = {
        { .type = DYN_META_OP_PUT, .key = "/m/cas/failed", .val = "1", .val_len = 1 },
    };
    DT_OK(dyn_meta_txn(m, &cmp, 1, then, 2, otherwise, 1, &ok, NULL));
    DT_TRUE(ok);
    DT_EQ_STR(mt_get(m, "/m/cas/dst", &a, &rc, NULL), "s");
    DT_OK(dyn_meta_txn(m, &cmp, 1, then, 2, otherwise, 1, &ok, NULL));   /* src is gone now */
    DT_TRUE(!ok);
    DT_EQ_STR(mt_get(m, "/m/cas/failed", &a, &rc, NULL), "1");
    /* etcd refuses two writes of one key in one branch */
    dyn_meta_op twice[] = {
        { .type = DYN_META_OP_PUT, .key = "/m/cas/t", .val = "1", .val_len = 1 },
        { .type = DYN_META_OP_PUT, .key = "/m/cas/t", .val = "2", .val_len = 1 },
    };
    DT_ERR(dyn_meta_txn(m, NULL, 0, twice, 2, NULL, 0, &ok, NULL), DYN_EVALIDATION);
    dyn_arena_fini(&a);
    dyn_meta_close(m);
}

static void
test_lease_expiry_removes_keys(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    dyn_arena a;
    dyn_err rc = DYN_OK;
    int64_t id = 0, ttl = 0, left = 0;

    dyn_arena_init(&a, 1 << 16);
    DT_OK(dyn_meta_lease_grant(m, 2, &id, &ttl));
    DT_TRUE(id != 0);
    DT_EQ_INT(ttl, 2);
    DT_OK(dyn_meta_put(m, "/m/lease/eph", "x", 1, id, NULL));
    DT_OK(dyn_meta_lease_time_to_live(m, id, &left));
    DT_TRUE(left >= 1 && left <= 2);
    DT_EQ_STR(mt_get(m, "/m/lease/eph", &a, &rc, NULL), "x");
    for (int i = 0; i < 80 && rc == DYN_OK; i++) {   /* <= 8 s */
        sleep_ms(100);
        mt_get(m, "/m/lease/eph", &a, &rc, NULL);
    }
    DT_ERR(rc, DYN_ENOTFOUND);
    DT_ERR(dyn_meta_lease_time_to_live(m, id, &left), DYN_ENOTFOUND);
    DT_ERR(dyn_meta_lease_revoke(m, id), DYN_ENOTFOUND);
    dyn_arena_fini(&a);
    dyn_meta_close(m);
}

typedef struct lost_ctx {
    pthread_mutex_t mu;
    int calls;
    int64_t id;
} lost_ctx;

static void
on_lost(void *arg, int64_t id)
{
    lost_ctx *x = arg;
    pthread_mutex_lock(&x->mu);
    x->calls++;
    x->id = id;
    pthread_mutex_unlock(&x->mu);
}

static int
lost_calls(lost_ctx *x)
{
    pthread_mutex_lock(&x->mu);
    int n = x->calls;
    pthread_mutex_unlock(&x->mu);
    return n;
}

static void
test_keepalive_keeps_keys(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    lost_ctx x = { .mu = PTHREAD_MUTEX_INITIALIZER };
    dyn_arena a;
    dyn_err rc;
    int64_t id = 0;

    dyn_arena_init(&a, 1 << 16);
    DT_OK(dyn_meta_lease_grant(m, 2, &id, NULL));
    DT_OK(dyn_meta_put(m, "/m/ka/live", "y", 1, id, NULL));
    DT_OK(dyn_meta_keepalive_start(m, id, 2, on_lost, &x));
    DT_ERR(dyn_meta_keepalive_start(m, id, 2, on_lost, &x), DYN_EEXISTS);
    sleep_ms(5000);   /* 2.5 TTLs */
    DT_EQ_STR(mt_get(m, "/m/ka/live", &a, &rc, NULL), "y");
    DT_TRUE(dyn_meta_keepalive_ok(m, id));
    DT_EQ_INT(lost_calls(&x), 0);
    DT_OK(dyn_meta_keepalive_stop(m, id));
    DT_ERR(dyn_meta_keepalive_stop(m, id), DYN_ENOTFOUND);
    DT_OK(dyn_meta_lease_revoke(m, id));
    DT_TRUE(mt_get(m, "/m/ka/live", &a, &rc, NULL) == NULL);
    DT_ERR(rc, DYN_ENOTFOUND);
    dyn_arena_fini(&a);
    dyn_meta_close(m);
    DT_EQ_INT(lost_calls(&x), 0);
}

static void
test_keepalive_reports_lost_lease(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    lost_ctx x = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t id = 0;

    DT_OK(dyn_meta_lease_grant(m, 3, &id, NULL));
    DT_OK(dyn_meta_keepalive_start(m, id, 3, on_lost, &x));
    sleep_ms(300);
    DT_TRUE(dyn_meta_keepalive_ok(m, id));
    DT_OK(dyn_meta_lease_revoke(m, id));   /* someone else ends it: the next refresh says so */
    for (int i = 0; i < 60 && lost_calls(&x) == 0; i++)
        sleep_ms(100);
    DT_EQ_INT(lost_calls(&x), 1);
    DT_EQ_INT(x.id, id);
    DT_TRUE(!dyn_meta_keepalive_ok(m, id));
    DT_ERR(dyn_meta_keepalive_stop(m, id), DYN_ENOTFOUND);
    dyn_meta_close(m);
    DT_EQ_INT(lost_calls(&x), 1);
}

/* ---- watches ---- */

typedef struct seen {
    pthread_mutex_t mu;
    int n;
    dyn_meta_ev_type type[16];
    char key[16][32];
    char val[16][16];
    int64_t rev[16];
} seen;

static void
on_event(void *arg, const dyn_meta_event *ev)
{
    seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n < 16) {
        s->type[s->n] = ev->type;
        snprintf(s->key[s->n], sizeof s->key[0], "%s", ev->key ? ev->key : "");
        snprintf(s->val[s->n], sizeof s->val[0], "%.*s", (int)ev->val_len,
                 ev->val ? (const char *)ev->val : "");
        s->rev[s->n] = ev->mod_rev;
        s->n++;
    }
    pthread_mutex_unlock(&s->mu);
}

static int
seen_n(seen *s, int want, int ms)
{
    int n = 0;
    for (int i = 0; i <= ms / 20; i++) {
        pthread_mutex_lock(&s->mu);
        n = s->n;
        pthread_mutex_unlock(&s->mu);
        if (n >= want)
            break;
        sleep_ms(20);
    }
    return n;
}

static void
test_watch_sees_puts_and_deletes_in_order(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    seen s = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t r0 = 0, r1 = 0;

    /* Changes made before watch_start are seen because the watch starts at r0 + 1. */
    DT_OK(mt_put(m, "/m/w/base", "0", &r0));
    DT_OK(mt_put(m, "/m/w/a", "1", &r1));
    dyn_meta_watch *w = dyn_meta_watch_start(m, "/m/w/", r0 + 1, on_event, &s);
    DT_TRUE(w != NULL);
    DT_OK(mt_put(m, "/m/other", "x", NULL));
    DT_OK(mt_put(m, "/m/w/b", "2", NULL));
    DT_OK(dyn_meta_delete(m, "/m/w/a", NULL));
    DT_OK(mt_put(m, "/m/w/b", "3", NULL));
    DT_EQ_INT(seen_n(&s, 4, 5000), 4);
    pthread_mutex_lock(&s.mu);
    DT_EQ_INT(s.type[0], DYN_META_EV_PUT);
    DT_EQ_STR(s.key[0], "/m/w/a");
    DT_EQ_STR(s.val[0], "1");
    DT_EQ_INT(s.rev[0], r1);
    DT_EQ_INT(s.type[1], DYN_META_EV_PUT);
    DT_EQ_STR(s.key[1], "/m/w/b");
    DT_EQ_INT(s.type[2], DYN_META_EV_DELETE);
    DT_EQ_STR(s.key[2], "/m/w/a");
    DT_EQ_INT(s.type[3], DYN_META_EV_PUT);
    DT_EQ_STR(s.val[3], "3");
    DT_TRUE(s.rev[0] < s.rev[1] && s.rev[1] < s.rev[2] && s.rev[2] < s.rev[3]);
    pthread_mutex_unlock(&s.mu);

    dyn_meta_watch_stop(w);
    DT_OK(mt_put(m, "/m/w/c", "late", NULL));
    sleep_ms(300);
    DT_EQ_INT(seen_n(&s, 5, 0), 4);   /* nothing after stop */
    dyn_meta_close(m);
}

static void
test_watch_resumes_after_etcd_restart(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    seen s = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t id = 0;

    dyn_meta_watch *w = dyn_meta_watch_start(m, "/m/rs/", 0, on_event, &s);
    DT_TRUE(w != NULL);
    sleep_ms(300);   /* "from now": let the watcher be created */
    DT_OK(mt_put(m, "/m/rs/1", "before", NULL));
    DT_EQ_INT(seen_n(&s, 1, 5000), 1);
    DT_OK(dyn_meta_lease_grant(m, 10, &id, NULL));
    DT_OK(dyn_meta_keepalive_start(m, id, 10, NULL, NULL));

    dyn_etcd_test_kill(&g_etcd);
    DT_TRUE(dyn_etcd_test_restart(&g_etcd) != NULL);
    /* The first calls after a restart may still see the dead connection. */
    dyn_err rc = DYN_EUNAVAIL;
    for (int i = 0; i < 50 && rc != DYN_OK; i++) {
        rc = mt_put(m, "/m/rs/2", "after", NULL);
        if (rc != DYN_OK)
            sleep_ms(100);
    }
    DT_OK(rc);
    DT_EQ_INT(seen_n(&s, 2, 8000), 2);
    sleep_ms(300);
    pthread_mutex_lock(&s.mu);
    DT_EQ_INT(s.n, 2);   /* no replay of "before" */
    DT_EQ_STR(s.key[1], "/m/rs/2");
    DT_EQ_STR(s.val[1], "after");
    pthread_mutex_unlock(&s.mu);
    sleep_ms(1500);
    DT_TRUE(dyn_meta_keepalive_ok(m, id));   /* the keep-alive stream came back too */
    dyn_meta_watch_stop(w);
    dyn_meta_close(m);   /* stops the keep-alive */
}

static void
test_close_with_running_watch(void)
{
    if (!etcd_up())
        return;
    dyn_meta *m = dyn_meta_open(g_ep);
    seen s = { .mu = PTHREAD_MUTEX_INITIALIZER };

    DT_TRUE(dyn_meta_watch_start(m, "/m/cl/", 0, on_event, &s) != NULL);
    DT_TRUE(dyn_meta_watch_start(m, "/m/cl2/", 0, on_event, &s) != NULL);
    dyn_meta_close(m);   /* frees both watches */
    DT_TRUE(1);
}

static void
test_unreachable_etcd(void)
{
    dyn_meta *m = dyn_meta_open("127.0.0.1:1");
    dyn_arena a;
    dyn_meta_kv kv;

    dyn_arena_init(&a, 1 << 16);
    DT_ERR(dyn_meta_get(m, "/x", &a, &kv), DYN_EUNAVAIL);
    dyn_arena_fini(&a);
    dyn_meta_close(m);
}

static void
test_stop_etcd(void)
{
    dyn_etcd_test_stop(&g_etcd);
    g_ep = NULL;
}

DT_MAIN({ "put, get, range, delete", test_put_get_range_delete },
        { "put-if-absent conflict", test_put_if_absent_conflict },
        { "compare-and-swap, delete-if, general txn", test_cas_and_delete_if },
        { "lease expiry removes keys", test_lease_expiry_removes_keys },
        { "keep-alive keeps keys", test_keepalive_keeps_keys },
        { "keep-alive reports a lost lease once", test_keepalive_reports_lost_lease },
        { "watch sees puts and deletes in order", test_watch_sees_puts_and_deletes_in_order },
        { "watch resumes after etcd restart", test_watch_resumes_after_etcd_restart },
        { "close with running watches", test_close_with_running_watch },
        { "unreachable etcd", test_unreachable_etcd },
        { "stop etcd", test_stop_etcd })
