/* libs/kv tests: point ops, iterators, tables, group-commit semantics (ordering, refusals,
 * re-runs, injected WiredTiger failures) and crash durability with a SIGKILLed child. */
#include "libs/kv/kv.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libs/kv/kv_int.h"
#include "libs/testing/dyn_test.h"

#define T "items"

/* ---- helpers (kvt_*) ---- */

/* The test's databases go at exit: WiredTiger preallocates 300 MB of log per database, and a
 * sandbox left behind by a run would keep them all. Only the process that made them removes
 * them (the crash test's child dies by SIGKILL). */
static char kvt_root[256];
static pid_t kvt_owner;

static int
kvt_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path);   /* best effort */
    return 0;
}

static void
kvt_cleanup(void)
{
    if (getpid() == kvt_owner && kvt_root[0] != '\0')
        (void)nftw(kvt_root, kvt_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
kvt_home(const char *name)
{
    static int seq;
    const char *tmp = getenv("TEST_TMPDIR");
    char *p = dyn_xmalloc(512);

    if (kvt_root[0] == '\0') {
        snprintf(kvt_root, sizeof kvt_root, "%s/kvt-%d", tmp != NULL ? tmp : "/tmp",
                 (int)getpid());
        kvt_owner = getpid();
        atexit(kvt_cleanup);
    }
    snprintf(p, 512, "%s/kv-%s-%d/db", kvt_root, name, ++seq);
    return p;
}

static dyn_kv *
kvt_open(const char *home)
{
    dyn_kv_opts o;
    dyn_kv *kv = NULL;

    dyn_kv_opts_init(&o);
    o.cache_bytes = 32 << 20;
    DT_OK(dyn_kv_open(home, &o, &kv));
    if (kv == NULL) {
        fprintf(stderr, "cannot open %s\n", home);
        exit(1);
    }
    DT_OK(dyn_kv_table_create(kv, T));
    return kv;
}

typedef struct kvt_latch {   /* counts done() callbacks */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left;
} kvt_latch;

static void
kvt_latch_init(kvt_latch *l, int n)
{
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->left = n;
}

static void
kvt_latch_wait(kvt_latch *l)
{
    pthread_mutex_lock(&l->mu);
    while (l->left > 0)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

typedef struct kvt_op {   /* one write batch */
    const char *key, *val;       /* put key=val (val NULL: no put) */
    const char *del;             /* delete this key */
    const char *cond_key;        /* if set: cond_key must hold cond_val (NULL: be absent) */
    const char *cond_val;
    bool incr;                   /* read key as a number inside apply, put it + 1 */
    dyn_err fail_after;          /* returned after writing: breaks apply's contract on purpose */
    dyn_err rc;                  /* set by done */
    kvt_latch *latch;
} kvt_op;

static dyn_err
kvt_apply(dyn_kv_txn *txn, void *arg)
{
    kvt_op *op = arg;
    dyn_arena a;
    char buf[32];
    void *v = NULL;
    size_t vlen = 0;
    dyn_err rc = DYN_OK;

    dyn_arena_init(&a, 1 << 20);
    if (op->cond_key != NULL) {
        rc = dyn_kv_get(txn, T, op->cond_key, strlen(op->cond_key), &a, &v, &vlen);
        if (rc != DYN_OK && rc != DYN_ENOTFOUND)
            goto out;
        if (op->cond_val == NULL ? rc == DYN_OK
                                 : rc != DYN_OK || vlen != strlen(op->cond_val) ||
                                       memcmp(v, op->cond_val, vlen) != 0) {
            rc = DYN_ECONDFAIL;
            goto out;
        }
        rc = DYN_OK;
    }
    if (op->incr) {
        long n = 0;
        rc = dyn_kv_get(txn, T, op->key, strlen(op->key), &a, &v, &vlen);
        if (rc == DYN_OK)
            n = strtol(dyn_arena_strndup(&a, v, vlen), NULL, 10);
        else if (rc != DYN_ENOTFOUND)
            goto out;
        snprintf(buf, sizeof buf, "%ld", n + 1);
        rc = dyn_kv_put(txn, T, op->key, strlen(op->key), buf, strlen(buf));
        if (rc != DYN_OK)
            goto out;
    } else if (op->val != NULL) {
        rc = dyn_kv_put(txn, T, op->key, strlen(op->key), op->val, strlen(op->val));
        if (rc != DYN_OK)
            goto out;
    }
    if (op->del != NULL && (rc = dyn_kv_del(txn, T, op->del, strlen(op->del))) != DYN_OK)
        goto out;
    rc = op->fail_after;
out:
    dyn_arena_fini(&a);
    return rc;
}

static void
kvt_done(void *arg, dyn_err rc)
{
    kvt_op *op = arg;

    op->rc = rc;
    if (op->latch != NULL) {
        pthread_mutex_lock(&op->latch->mu);
        if (--op->latch->left == 0)
            pthread_cond_broadcast(&op->latch->cv);
        pthread_mutex_unlock(&op->latch->mu);
    }
}

static dyn_err
kvt_put(dyn_kv *kv, const char *key, const char *val)
{
    kvt_op op = { .key = key, .val = val };
    return dyn_kv_write(kv, kvt_apply, &op);
}

static dyn_err
kvt_del(dyn_kv *kv, const char *key)
{
    kvt_op op = { .del = key };
    return dyn_kv_write(kv, kvt_apply, &op);
}

/* Reads key in a fresh snapshot; want NULL = expect DYN_ENOTFOUND. Returns the get's rc. */
static dyn_err
kvt_get(dyn_kv *kv, const char *key, const char *want)
{
    dyn_kv_txn *txn = NULL;
    dyn_arena a;
    void *v = NULL;
    size_t vlen = 0;
    dyn_err rc;

    if ((rc = dyn_kv_read_begin(kv, &txn)) != DYN_OK)
        return rc;
    dyn_arena_init(&a, 1 << 20);
    rc = dyn_kv_get(txn, T, key, strlen(key), &a, &v, &vlen);
    if (rc == DYN_OK && want != NULL && (vlen != strlen(want) || memcmp(v, want, vlen) != 0)) {
        fprintf(stderr, "  key %s: got '%.*s', want '%s'\n", key, (int)vlen, (char *)v, want);
        rc = DYN_EINTERNAL;
    }
    dyn_arena_fini(&a);
    dyn_kv_read_end(txn);
    return rc;
}

/* Holds the committer inside one batch's apply, so the batches submitted meanwhile are queued
 * and then taken as one group. */
typedef struct kvt_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
    kvt_latch done;
} kvt_gate;

static dyn_err
kvt_gate_apply(dyn_kv_txn *txn, void *arg)
{
    kvt_gate *g = arg;

    (void)txn;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return DYN_OK;
}

static void
kvt_gate_done(void *arg, dyn_err rc)
{
    kvt_gate *g = arg;

    (void)rc;
    pthread_mutex_lock(&g->done.mu);
    g->done.left = 0;
    pthread_cond_broadcast(&g->done.cv);
    pthread_mutex_unlock(&g->done.mu);
}

static void
kvt_gate_close(dyn_kv *kv, kvt_gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->entered = g->open = false;
    kvt_latch_init(&g->done, 1);
    dyn_kv_submit(kv, kvt_gate_apply, kvt_gate_done, g);
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void
kvt_gate_open(kvt_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    kvt_latch_wait(&g->done);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* Submits ops[0..n) behind a gate so they run as one group; waits for every done(). */
static void
kvt_run_group(dyn_kv *kv, kvt_op *ops, int n)
{
    kvt_gate g;
    kvt_latch l;

    kvt_latch_init(&l, n);
    kvt_gate_close(kv, &g);
    for (int i = 0; i < n; i++) {
        ops[i].latch = &l;
        dyn_kv_submit(kv, kvt_apply, kvt_done, &ops[i]);
    }
    kvt_gate_open(&g);
    kvt_latch_wait(&l);
}

/* ---- cases ---- */

static void
test_put_get_del(void)
{
    char *home = kvt_home("basic");
    dyn_kv *kv = kvt_open(home);
    dyn_kv_txn *txn = NULL;
    dyn_arena a;
    void *v = NULL;
    size_t vlen = 0;

    DT_TRUE(dyn_kv_table_exists(kv, T));
    DT_TRUE(!dyn_kv_table_exists(kv, "nope"));
    DT_OK(dyn_kv_table_create(kv, T));   /* idempotent */
    DT_ERR(dyn_kv_table_create(kv, "bad name"), DYN_EVALIDATION);
    DT_ERR(dyn_kv_table_create(kv, ""), DYN_EVALIDATION);

    DT_OK(kvt_put(kv, "pk#1", "{\"v\":1}"));
    DT_OK(kvt_put(kv, "pk#2", ""));
    DT_OK(kvt_get(kv, "pk#1", "{\"v\":1}"));
    DT_OK(kvt_get(kv, "pk#2", ""));
    DT_OK(kvt_put(kv, "pk#1", "{\"v\":2}"));   /* overwrite */
    DT_OK(kvt_get(kv, "pk#1", "{\"v\":2}"));
    DT_ERR(kvt_get(kv, "pk#3", NULL), DYN_ENOTFOUND);
    DT_OK(kvt_del(kv, "pk#1"));
    DT_ERR(kvt_get(kv, "pk#1", NULL), DYN_ENOTFOUND);
    DT_ERR(kvt_del(kv, "pk#1"), DYN_ENOTFOUND);

    /* Binary keys and values, a missing table, writes refused in a read txn, the arena cap. */
    DT_OK(dyn_kv_read_begin(kv, &txn));
    dyn_arena_init(&a, 64);
    DT_ERR(dyn_kv_get(txn, "nope", "k", 1, &a, &v, &vlen), DYN_ENOTABLE);
    DT_ERR(dyn_kv_put(txn, T, "k", 1, "v", 1), DYN_EINTERNAL);
    DT_ERR(dyn_kv_del(txn, T, "pk#2", 4), DYN_EINTERNAL);
    DT_OK(dyn_kv_get(txn, T, "pk#2", 4, &a, &v, &vlen));
    DT_EQ_INT(vlen, 0);
    dyn_arena_fini(&a);
    dyn_kv_read_end(txn);

    dyn_kv_close(kv);
    free(home);
}

typedef struct kvt_bin {   /* put with explicit lengths */
    const void *k, *v;
    size_t klen, vlen;
} kvt_bin;

static dyn_err
kvt_bin_apply(dyn_kv_txn *txn, void *arg)
{
    kvt_bin *b = arg;
    return dyn_kv_put(txn, T, b->k, b->klen, b->v, b->vlen);
}

static void
test_binary_and_arena_cap(void)
{
    char *home = kvt_home("bin");
    dyn_kv *kv = kvt_open(home);
    static char big[1000];
    const char key[] = { 'a', 0, 'b' };
    kvt_bin b = { .k = key, .klen = sizeof key, .v = big, .vlen = sizeof big };
    dyn_kv_txn *txn = NULL;
    dyn_arena a;
    void *v = NULL;
    size_t vlen = 0;

    big[0] = 1;
    big[999] = 2;
    DT_OK(dyn_kv_write(kv, kvt_bin_apply, &b));
    DT_OK(dyn_kv_read_begin(kv, &txn));
    dyn_arena_init(&a, 512);   /* too small for the value */
    DT_ERR(dyn_kv_get(txn, T, key, sizeof key, &a, &v, &vlen), DYN_ENOMEM);
    dyn_arena_fini(&a);
    dyn_arena_init(&a, 4096);
    DT_OK(dyn_kv_get(txn, T, key, sizeof key, &a, &v, &vlen));
    DT_EQ_INT(vlen, sizeof big);
    DT_TRUE(memcmp(v, big, sizeof big) == 0);
    DT_ERR(dyn_kv_get(txn, T, key, 1, &a, &v, &vlen), DYN_ENOTFOUND);   /* "a" is a prefix */
    dyn_arena_fini(&a);
    dyn_kv_read_end(txn);
    dyn_kv_close(kv);
    free(home);
}

static void
test_snapshot_isolation(void)
{
    char *home = kvt_home("snap");
    dyn_kv *kv = kvt_open(home);
    dyn_kv_txn *txn = NULL;
    dyn_arena a;
    void *v = NULL;
    size_t vlen = 0;

    DT_OK(kvt_put(kv, "x", "old"));
    DT_OK(dyn_kv_read_begin(kv, &txn));
    dyn_arena_init(&a, 1 << 16);
    DT_OK(dyn_kv_get(txn, T, "x", 1, &a, &v, &vlen));   /* snapshot taken at first read */
    DT_OK(kvt_put(kv, "x", "new"));
    DT_OK(kvt_put(kv, "y", "new"));
    DT_OK(dyn_kv_get(txn, T, "x", 1, &a, &v, &vlen));
    DT_TRUE(vlen == 3 && memcmp(v, "old", 3) == 0);
    DT_ERR(dyn_kv_get(txn, T, "y", 1, &a, &v, &vlen), DYN_ENOTFOUND);
    dyn_arena_fini(&a);
    dyn_kv_read_end(txn);
    DT_OK(kvt_get(kv, "x", "new"));
    dyn_kv_close(kv);
    free(home);
}

/* Collects keys from an iterator into "k1,k2,...". */
static void
kvt_scan(dyn_kv_txn *txn, const char *start, const char *end, bool reverse, char *out, size_t n)
{
    dyn_kv_iter *it = NULL;
    const void *k, *v;
    size_t klen, vlen, used = 0;
    dyn_err rc;

    out[0] = '\0';
    DT_OK(dyn_kv_iter_open(txn, T, start, start ? strlen(start) : 0, end, end ? strlen(end) : 0,
                           reverse, &it));
    if (it == NULL)
        return;
    while ((rc = dyn_kv_iter_next(it, &k, &klen, &v, &vlen)) == DYN_OK) {
        DT_TRUE(vlen == klen + 1 && memcmp(v, k, klen) == 0 && ((const char *)v)[klen] == '!');
        used += (size_t)snprintf(out + used, n - used, "%s%.*s", used ? "," : "", (int)klen,
                                 (const char *)k);
    }
    DT_ERR(rc, DYN_ENOTFOUND);
    DT_ERR(dyn_kv_iter_next(it, &k, &klen, &v, &vlen), DYN_ENOTFOUND);   /* stays at the end */
    dyn_kv_iter_close(it);
}

static void
test_iter_bounds(void)
{
    static const char *keys[] = { "a", "ab", "abc", "b", "ba", "c", "d" };
    char *home = kvt_home("iter");
    dyn_kv *kv = kvt_open(home);
    dyn_kv_txn *txn = NULL;
    dyn_kv_iter *i1 = NULL, *i2 = NULL;
    const void *k, *v;
    size_t klen, vlen;
    char got[256], val[16];

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(val, sizeof val, "%s!", keys[i]);
        DT_OK(kvt_put(kv, keys[i], val));
    }
    DT_OK(dyn_kv_read_begin(kv, &txn));
    kvt_scan(txn, NULL, NULL, false, got, sizeof got);
    DT_EQ_STR(got, "a,ab,abc,b,ba,c,d");
    kvt_scan(txn, NULL, NULL, true, got, sizeof got);
    DT_EQ_STR(got, "d,c,ba,b,abc,ab,a");
    kvt_scan(txn, "ab", "ba", false, got, sizeof got);   /* [ab, ba) */
    DT_EQ_STR(got, "ab,abc,b");
    kvt_scan(txn, "ab", "ba", true, got, sizeof got);
    DT_EQ_STR(got, "b,abc,ab");
    kvt_scan(txn, "aa", "bb", false, got, sizeof got);   /* bounds that are not keys */
    DT_EQ_STR(got, "ab,abc,b,ba");
    kvt_scan(txn, "aa", "bb", true, got, sizeof got);
    DT_EQ_STR(got, "ba,b,abc,ab");
    kvt_scan(txn, "b", NULL, false, got, sizeof got);
    DT_EQ_STR(got, "b,ba,c,d");
    kvt_scan(txn, NULL, "b", true, got, sizeof got);
    DT_EQ_STR(got, "abc,ab,a");
    kvt_scan(txn, "c", NULL, true, got, sizeof got);
    DT_EQ_STR(got, "d,c");
    kvt_scan(txn, "0", "a", false, got, sizeof got);   /* empty ranges */
    DT_EQ_STR(got, "");
    kvt_scan(txn, "0", "a", true, got, sizeof got);
    DT_EQ_STR(got, "");
    kvt_scan(txn, "e", NULL, false, got, sizeof got);
    DT_EQ_STR(got, "");
    kvt_scan(txn, NULL, "a", true, got, sizeof got);
    DT_EQ_STR(got, "");
    kvt_scan(txn, "x", "z", true, got, sizeof got);
    DT_EQ_STR(got, "");

    /* Two iterators on one table, and point gets in between. */
    dyn_arena a;
    void *gv = NULL;
    size_t glen = 0;
    dyn_arena_init(&a, 1 << 16);
    DT_OK(dyn_kv_iter_open(txn, T, NULL, 0, NULL, 0, false, &i1));
    DT_OK(dyn_kv_iter_open(txn, T, NULL, 0, NULL, 0, true, &i2));
    DT_OK(dyn_kv_iter_next(i1, &k, &klen, &v, &vlen));
    DT_TRUE(klen == 1 && memcmp(k, "a", 1) == 0);
    DT_OK(dyn_kv_get(txn, T, "c", 1, &a, &gv, &glen));
    DT_OK(dyn_kv_iter_next(i2, &k, &klen, &v, &vlen));
    DT_TRUE(klen == 1 && memcmp(k, "d", 1) == 0);
    DT_OK(dyn_kv_iter_next(i1, &k, &klen, &v, &vlen));
    DT_TRUE(klen == 2 && memcmp(k, "ab", 2) == 0);
    dyn_kv_iter_close(i1);
    dyn_kv_iter_close(i2);
    DT_ERR(dyn_kv_iter_open(txn, "nope", NULL, 0, NULL, 0, false, &i1), DYN_ENOTABLE);
    dyn_arena_fini(&a);
    dyn_kv_read_end(txn);

    /* Iterating inside an apply sees the group's own earlier writes. */
    DT_OK(kvt_put(kv, "bb", "bb!"));
    DT_OK(dyn_kv_read_begin(kv, &txn));
    kvt_scan(txn, "b", "c", false, got, sizeof got);
    DT_EQ_STR(got, "b,ba,bb");
    dyn_kv_read_end(txn);
    dyn_kv_close(kv);
    free(home);
}

typedef struct kvt_reader {   /* holds a read txn (and so a cursor on T) for a while */
    dyn_kv *kv;
    int hold_ms;
    volatile bool ready;
} kvt_reader;

static void *
kvt_reader_main(void *arg)
{
    kvt_reader *r = arg;
    dyn_kv_txn *txn = NULL;
    dyn_arena a;
    void *v = NULL;
    size_t vlen = 0;
    struct timespec ts = { r->hold_ms / 1000, (long)(r->hold_ms % 1000) * 1000000 };

    if (dyn_kv_read_begin(r->kv, &txn) != DYN_OK)
        return NULL;
    dyn_arena_init(&a, 1 << 16);
    (void)dyn_kv_get(txn, T, "x", 1, &a, &v, &vlen);
    __atomic_store_n(&r->ready, true, __ATOMIC_SEQ_CST);
    nanosleep(&ts, NULL);
    dyn_arena_fini(&a);
    dyn_kv_read_end(txn);
    return NULL;
}

static double
kvt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_table_drop(void)
{
    char *home = kvt_home("drop");
    dyn_kv *kv = kvt_open(home);
    kvt_reader r = { .kv = kv, .hold_ms = 300 };
    pthread_t th;
    double t0;

    DT_ERR(dyn_kv_table_drop(kv, "nope"), DYN_ENOTFOUND);
    DT_OK(kvt_put(kv, "x", "1"));   /* the committer and the pool now cache cursors on T */
    DT_OK(kvt_get(kv, "x", "1"));
    DT_OK(dyn_kv_table_drop(kv, T));
    DT_TRUE(!dyn_kv_table_exists(kv, T));
    DT_ERR(kvt_get(kv, "x", NULL), DYN_ENOTABLE);
    DT_ERR(kvt_put(kv, "x", "1"), DYN_ENOTABLE);
    DT_ERR(dyn_kv_table_drop(kv, T), DYN_ENOTFOUND);

    DT_OK(dyn_kv_table_create(kv, T));   /* recreated empty */
    DT_ERR(kvt_get(kv, "x", NULL), DYN_ENOTFOUND);
    DT_OK(kvt_put(kv, "x", "2"));

    /* A reader in another thread holds a cursor: drop waits for it. */
    pthread_create(&th, NULL, kvt_reader_main, &r);
    while (!__atomic_load_n(&r.ready, __ATOMIC_SEQ_CST))
        usleep(1000);
    t0 = kvt_now();
    DT_OK(dyn_kv_table_drop(kv, T));
    DT_TRUE(kvt_now() - t0 > 0.1);
    pthread_join(th, NULL);
    DT_TRUE(!dyn_kv_table_exists(kv, T));
    dyn_kv_close(kv);
    free(home);
}

static void
test_reopen_keeps_data(void)
{
    char *home = kvt_home("reopen");
    dyn_kv *kv = kvt_open(home);

    DT_OK(kvt_put(kv, "k", "v"));
    dyn_kv_close(kv);
    kv = kvt_open(home);
    DT_OK(kvt_get(kv, "k", "v"));
    dyn_kv_close(kv);
    free(home);
}

/* A group: later applies see earlier writes; a clean refusal (ECONDFAIL, no writes) affects
 * nobody else, and the group still commits once. */
/* Table classes: every class's table (two compressors and none) takes many pages of data (so
 * pages are compressed on checkpoint), read back after a reopen (which needs the extensions
 * loaded again). */
static const char *const kvt_class_tables[] = { "std", "cold", "log" };

static dyn_err
kvt_class_apply(dyn_kv_txn *txn, void *arg)
{
    const int *round = arg;
    char key[32], val[1024];
    dyn_err rc;

    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "k%05d", *round * 500 + i);
        memset(val, 'a' + i % 26, sizeof val);
        for (size_t t = 0; t < sizeof kvt_class_tables / sizeof *kvt_class_tables; t++)
            if ((rc = dyn_kv_put(txn, kvt_class_tables[t], key, strlen(key), val, sizeof val)) !=
                DYN_OK)
                return rc;
    }
    return DYN_OK;
}

static void
test_table_classes(void)
{
    char *home = kvt_home("classes");
    dyn_kv *kv = kvt_open(home);
    dyn_kv_txn *txn;
    dyn_arena a;

    DT_OK(dyn_kv_table_create_class(kv, "std", DYN_KV_CLASS_STANDARD));
    DT_OK(dyn_kv_table_create_class(kv, "cold", DYN_KV_CLASS_INFREQUENT));
    DT_OK(dyn_kv_table_create_class(kv, "cold", DYN_KV_CLASS_INFREQUENT));   /* idempotent */
    DT_OK(dyn_kv_table_create_class(kv, "log", DYN_KV_CLASS_TRANSIENT));
    DT_ERR(dyn_kv_table_create_class(kv, "bad", (dyn_kv_class)7), DYN_EVALIDATION);
    for (int round = 0; round < 8; round++)
        DT_OK(dyn_kv_write(kv, kvt_class_apply, &round));
    dyn_kv_close(kv);   /* checkpoints: every page goes through its compressor */
    kv = kvt_open(home);
    DT_OK(dyn_kv_read_begin(kv, &txn));
    dyn_arena_init(&a, 1 << 20);
    for (int i = 0; i < 4000; i += 37) {
        char key[32];
        void *v = NULL;
        size_t vlen = 0;
        snprintf(key, sizeof key, "k%05d", i);
        for (size_t t = 0; t < sizeof kvt_class_tables / sizeof *kvt_class_tables; t++) {
            DT_OK(dyn_kv_get(txn, kvt_class_tables[t], key, strlen(key), &a, &v, &vlen));
            DT_EQ_INT(vlen, 1024);
            if (vlen == 1024)
                DT_EQ_INT(((char *)v)[1023], 'a' + (i % 500) % 26);
        }
    }
    dyn_arena_fini(&a);
    dyn_kv_read_end(txn);
    dyn_kv_close(kv);
    free(home);
}

static void
test_group_semantics(void)
{
    char *home = kvt_home("group");
    dyn_kv *kv = kvt_open(home);
    dyn_kv_stats s0, s1;
    kvt_op ops[] = {
        { .key = "a", .val = "1" },
        { .key = "b", .val = "1", .cond_key = "a", .cond_val = "9" },   /* refused */
        { .key = "c", .val = "1", .cond_key = "a", .cond_val = "1" },   /* sees op 0 */
        { .key = "a", .val = "2", .cond_key = "c", .cond_val = "1" },   /* sees op 2 */
        { .key = "d", .val = "1", .cond_key = "d", .cond_val = NULL },  /* put-if-absent */
        { .key = "d", .val = "2", .cond_key = "d", .cond_val = NULL },  /* refused: op 4 */
        { .del = "zz" },                                                 /* ENOTFOUND */
    };
    int n = (int)(sizeof ops / sizeof ops[0]);

    dyn_kv_stats_get(kv, &s0);
    kvt_run_group(kv, ops, n);
    dyn_kv_stats_get(kv, &s1);
    DT_OK(ops[0].rc);
    DT_ERR(ops[1].rc, DYN_ECONDFAIL);
    DT_OK(ops[2].rc);
    DT_OK(ops[3].rc);
    DT_OK(ops[4].rc);
    DT_ERR(ops[5].rc, DYN_ECONDFAIL);
    DT_ERR(ops[6].rc, DYN_ENOTFOUND);
    DT_OK(kvt_get(kv, "a", "2"));
    DT_ERR(kvt_get(kv, "b", NULL), DYN_ENOTFOUND);
    DT_OK(kvt_get(kv, "c", "1"));
    DT_OK(kvt_get(kv, "d", "1"));
    DT_EQ_INT(s1.reruns - s0.reruns, 0);
    DT_EQ_INT(s1.commits - s0.commits, 1);   /* the gate wrote nothing: only the group */
    DT_EQ_INT(s1.syncs - s0.syncs, 1);
    DT_EQ_INT(s1.batches - s0.batches, n + 1);
    dyn_kv_close(kv);
    free(home);
}

/* An apply that fails after writing poisons the group: roll it all back, re-run each alone.
 * Only the offender fails, and its write is gone. */
static void
test_group_rerun_after_failed_apply(void)
{
    char *home = kvt_home("rerun");
    dyn_kv *kv = kvt_open(home);
    dyn_kv_stats s0, s1;
    kvt_op ops[] = {
        { .key = "a", .val = "1" },
        { .key = "b", .val = "1", .fail_after = DYN_EINTERNAL },
        { .key = "c", .val = "1", .cond_key = "a", .cond_val = "1" },
        { .key = "d", .val = "1", .cond_key = "b", .cond_val = NULL },   /* b never existed */
    };
    int n = (int)(sizeof ops / sizeof ops[0]);

    dyn_kv_stats_get(kv, &s0);
    kvt_run_group(kv, ops, n);
    dyn_kv_stats_get(kv, &s1);
    DT_OK(ops[0].rc);
    DT_ERR(ops[1].rc, DYN_EINTERNAL);
    DT_OK(ops[2].rc);
    DT_OK(ops[3].rc);
    DT_OK(kvt_get(kv, "a", "1"));
    DT_ERR(kvt_get(kv, "b", NULL), DYN_ENOTFOUND);
    DT_OK(kvt_get(kv, "c", "1"));
    DT_OK(kvt_get(kv, "d", "1"));
    DT_EQ_INT(s1.reruns - s0.reruns, 1);
    DT_EQ_INT(s1.commits - s0.commits, 3);   /* a, c, d alone */
    dyn_kv_close(kv);
    free(home);
}

/* A WiredTiger failure inside the group (injected WT_ROLLBACK on the second put): the group is
 * rolled back and re-run; alone, every batch succeeds. An injected EIO in a read surfaces as
 * DYN_EINTERNAL. */
static void
test_group_rerun_after_wt_failure(void)
{
    char *home = kvt_home("inject");
    dyn_kv *kv = kvt_open(home);
    dyn_kv_stats s0, s1;
    kvt_op ops[] = {
        { .key = "a", .val = "1" },
        { .key = "b", .val = "1" },
        { .key = "c", .val = "1" },
    };
    int n = (int)(sizeof ops / sizeof ops[0]);

    dyn_kv_stats_get(kv, &s0);
    kv_test_inject(kv, 2, WT_ROLLBACK);
    kvt_run_group(kv, ops, n);
    dyn_kv_stats_get(kv, &s1);
    for (int i = 0; i < n; i++)
        DT_OK(ops[i].rc);
    DT_OK(kvt_get(kv, "a", "1"));
    DT_OK(kvt_get(kv, "b", "1"));
    DT_OK(kvt_get(kv, "c", "1"));
    DT_EQ_INT(s1.reruns - s0.reruns, 1);

    kv_test_inject(kv, 1, EIO);
    DT_ERR(kvt_get(kv, "a", NULL), DYN_EINTERNAL);
    DT_OK(kvt_get(kv, "a", "1"));

    /* Alone, a persistent WT_ROLLBACK is retried, then reported as retryable. */
    kv_test_inject(kv, 1, WT_ROLLBACK);
    DT_OK(kvt_put(kv, "e", "1"));
    DT_OK(kvt_get(kv, "e", "1"));
    dyn_kv_close(kv);
    free(home);
}

#define KVT_THREADS 8
#define KVT_INCRS 150

typedef struct kvt_counter {
    dyn_kv *kv;
    bool in_apply;   /* increment inside apply, or read outside and put-if-unchanged */
    int ok, condfail, other;
} kvt_counter;

static void *
kvt_counter_main(void *arg)
{
    kvt_counter *c = arg;
    dyn_arena a;
    char cur[32], next[32];

    dyn_arena_init(&a, 1 << 16);
    for (int i = 0; i < KVT_INCRS; i++) {
        for (;;) {
            kvt_op op = { .key = "ctr", .incr = true };
            dyn_err rc;
            if (!c->in_apply) {
                dyn_kv_txn *txn = NULL;
                void *v = NULL;
                size_t vlen = 0;
                long n = 0;
                if (dyn_kv_read_begin(c->kv, &txn) != DYN_OK) {
                    c->other++;
                    break;
                }
                rc = dyn_kv_get(txn, T, "ctr", 3, &a, &v, &vlen);
                if (rc == DYN_OK)
                    n = strtol(dyn_arena_strndup(&a, v, vlen), NULL, 10);
                dyn_kv_read_end(txn);
                dyn_arena_reset(&a);
                snprintf(cur, sizeof cur, "%ld", n);
                snprintf(next, sizeof next, "%ld", n + 1);
                op = (kvt_op){ .key = "ctr", .val = next, .cond_key = "ctr",
                               .cond_val = rc == DYN_OK ? cur : NULL };
            }
            rc = dyn_kv_write(c->kv, kvt_apply, &op);
            if (rc == DYN_OK) {
                c->ok++;
                break;
            }
            if (rc == DYN_ECONDFAIL) {
                c->condfail++;
                continue;
            }
            c->other++;
            break;
        }
    }
    dyn_arena_fini(&a);
    return NULL;
}

/* Callbacks handed to the finisher while the committer runs ahead keep commit order, and close
 * waits for every one of them. */
typedef struct kvt_seq {
    pthread_mutex_t mu;
    int next, out_of_order, done;
} kvt_seq;

typedef struct kvt_seq_op {
    kvt_seq *seq;
    int i;
    char key[16];
} kvt_seq_op;

static dyn_err
kvt_seq_apply(dyn_kv_txn *txn, void *arg)
{
    kvt_seq_op *op = arg;
    return dyn_kv_put(txn, T, op->key, strlen(op->key), "v", 1);
}

static void
kvt_seq_done(void *arg, dyn_err rc)
{
    kvt_seq_op *op = arg;

    pthread_mutex_lock(&op->seq->mu);
    op->seq->out_of_order += op->i != op->seq->next || rc != DYN_OK;
    op->seq->next = op->i + 1;
    op->seq->done++;
    pthread_mutex_unlock(&op->seq->mu);
}

static void
test_done_order_with_finisher(void)
{
    char *home = kvt_home("finisher");
    dyn_kv *kv = kvt_open(home);
    enum { N = 3000 };
    kvt_seq_op *ops = calloc(N, sizeof *ops);
    kvt_seq seq = { .next = 0 };
    dyn_kv_stats st;

    pthread_mutex_init(&seq.mu, NULL);
    for (int i = 0; i < N; i++) {   /* faster than fsyncs: groups queue up behind each other */
        ops[i].seq = &seq;
        ops[i].i = i;
        snprintf(ops[i].key, sizeof ops[i].key, "s%05d", i);
        dyn_kv_submit(kv, kvt_seq_apply, kvt_seq_done, &ops[i]);
    }
    dyn_kv_close(kv);   /* returns once every done() has run */
    DT_EQ_INT(seq.done, N);
    DT_EQ_INT(seq.out_of_order, 0);
    kv = kvt_open(home);
    dyn_kv_stats_get(kv, &st);
    DT_EQ_INT(st.batches, 0);   /* counters are per open */
    dyn_kv_close(kv);
    pthread_mutex_destroy(&seq.mu);
    free(ops);
    free(home);
}

static void
test_group_commit_counter(void)
{
    char *home = kvt_home("counter");
    dyn_kv *kv = kvt_open(home);
    pthread_t th[KVT_THREADS];
    kvt_counter c[KVT_THREADS];
    dyn_kv_stats s0, s1;
    int ok = 0, condfail = 0, other = 0;
    char want[32];

    dyn_kv_stats_get(kv, &s0);
    for (int i = 0; i < KVT_THREADS; i++) {
        c[i] = (kvt_counter){ .kv = kv, .in_apply = i % 2 == 0 };
        pthread_create(&th[i], NULL, kvt_counter_main, &c[i]);
    }
    for (int i = 0; i < KVT_THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += c[i].ok;
        condfail += c[i].condfail;
        other += c[i].other;
    }
    dyn_kv_stats_get(kv, &s1);
    snprintf(want, sizeof want, "%d", KVT_THREADS * KVT_INCRS);
    DT_EQ_INT(ok, KVT_THREADS * KVT_INCRS);
    DT_EQ_INT(other, 0);
    DT_OK(kvt_get(kv, "ctr", want));   /* no lost update */
    DT_EQ_INT(s1.batches - s0.batches, ok + condfail);
    DT_TRUE(s1.commits - s0.commits <= (uint64_t)ok);
    DT_EQ_INT(s1.reruns - s0.reruns, 0);
    fprintf(stderr, "  counter: %d ok, %d condfail, %llu batches in %llu commits\n", ok, condfail,
            (unsigned long long)(s1.batches - s0.batches),
            (unsigned long long)(s1.commits - s0.commits));
    dyn_kv_close(kv);
    free(home);
}

/* ---- crash durability ---- */

#define KVT_CRASH_THREADS 4
#define KVT_CRASH_PER_THREAD 200000
#define KVT_CRASH_KILL_AFTER 400

typedef struct kvt_child {
    dyn_kv *kv;
    int id, fd;
} kvt_child;

static void
kvt_crash_key(uint32_t rec, char *k, size_t kn, char *v, size_t vn)
{
    snprintf(k, kn, "t%u-%06u", rec >> 24, rec & 0xffffff);
    snprintf(v, vn, "value-of-%u-%u", rec >> 24, rec & 0xffffff);
}

static void *
kvt_child_main(void *arg)
{
    kvt_child *c = arg;
    char k[32], v[48];

    for (uint32_t i = 0; i < KVT_CRASH_PER_THREAD; i++) {
        uint32_t rec = ((uint32_t)c->id << 24) | i;
        kvt_crash_key(rec, k, sizeof k, v, sizeof v);
        if (kvt_put(c->kv, k, v) != DYN_OK)
            _exit(3);
        /* Acked: durable from here on. 4-byte pipe writes are atomic. */
        if (write(c->fd, &rec, sizeof rec) != (ssize_t)sizeof rec)
            _exit(4);
    }
    return NULL;
}

static void
kvt_child_run(const char *home, int fd)
{
    dyn_kv_opts o;
    dyn_kv *kv = NULL;
    pthread_t th[KVT_CRASH_THREADS];
    kvt_child c[KVT_CRASH_THREADS];

    dyn_kv_opts_init(&o);
    o.cache_bytes = 32 << 20;
    if (dyn_kv_open(home, &o, &kv) != DYN_OK || dyn_kv_table_create(kv, T) != DYN_OK)
        _exit(2);
    for (int i = 0; i < KVT_CRASH_THREADS; i++) {
        c[i] = (kvt_child){ .kv = kv, .id = i, .fd = fd };
        pthread_create(&th[i], NULL, kvt_child_main, &c[i]);
    }
    for (int i = 0; i < KVT_CRASH_THREADS; i++)
        pthread_join(th[i], NULL);
    _exit(0);   /* not expected: the parent kills us first */
}

static void
test_crash_durability(void)
{
    char *home = kvt_home("crash");
    uint32_t *acked = dyn_xmalloc(sizeof *acked * KVT_CRASH_THREADS * KVT_CRASH_PER_THREAD);
    size_t nacked = 0;
    int fds[2], status = 0, missing = 0;
    pid_t pid;
    dyn_kv *kv;

    if (pipe(fds) != 0) {
        DT_TRUE(!"pipe");
        return;
    }
    fflush(stderr);
    if ((pid = fork()) == 0) {
        close(fds[0]);
        kvt_child_run(home, fds[1]);
    }
    close(fds[1]);
    DT_TRUE(pid > 0);
    for (;;) {
        uint32_t rec;
        ssize_t r = read(fds[0], &rec, sizeof rec);
        if (r == 0)
            break;   /* child gone */
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof rec) {
            DT_TRUE(!"short read");
            break;
        }
        acked[nacked++] = rec;
        if (nacked == KVT_CRASH_KILL_AFTER)
            kill(pid, SIGKILL);   /* mid-write; keep draining acks already in the pipe */
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
    DT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    DT_TRUE(nacked >= KVT_CRASH_KILL_AFTER);
    DT_TRUE(nacked < (size_t)KVT_CRASH_THREADS * KVT_CRASH_PER_THREAD);

    kv = kvt_open(home);   /* runs recovery */
    for (size_t i = 0; i < nacked; i++) {
        char k[32], v[48];
        kvt_crash_key(acked[i], k, sizeof k, v, sizeof v);
        if (kvt_get(kv, k, v) != DYN_OK)
            missing++;
    }
    DT_EQ_INT(missing, 0);
    fprintf(stderr, "  crash: %zu acked writes, all present after recovery\n", nacked);
    dyn_kv_close(kv);
    free(acked);
    free(home);
}

DT_MAIN({ "put get del", test_put_get_del },
        { "binary keys and arena cap", test_binary_and_arena_cap },
        { "snapshot isolation", test_snapshot_isolation },
        { "table classes: compressed tables survive a reopen", test_table_classes },
        { "iterators with bounds, forward and reverse", test_iter_bounds },
        { "table create and drop", test_table_drop },
        { "reopen keeps data", test_reopen_keeps_data },
        { "group: ordering and clean refusals", test_group_semantics },
        { "group: failed apply after write re-runs alone", test_group_rerun_after_failed_apply },
        { "group: WiredTiger failure re-runs alone", test_group_rerun_after_wt_failure },
        { "group commit: concurrent conditional increments", test_group_commit_counter },
        { "group commit: callbacks in commit order via the finisher",
          test_done_order_with_finisher },
        { "crash durability of acked writes", test_crash_durability })
