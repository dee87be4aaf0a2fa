/* bench/storage -- raw WiredTiger doing what the storage node's API does, with libs/kv's settings:
 * the same keys (libs/keycodec), values of the same length and text, log on, writes committed
 * with sync=on (fsync) before they count. Writes either each in its own transaction from one of
 * --threads threads (WiredTiger's own log group commit is the only batching) or --batch of them
 * per transaction from one thread (the group commit libs/kv does, without its queue); point reads
 * and 10-item range reads on snapshot transactions. Prints a human summary and one
 * "WTBENCH {json}" line (bench/storage/bench.py). The one place outside libs/kv that includes
 * <wiredtiger.h>: it is the reference libs/kv is measured against. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wiredtiger.h>

#include "bench/loadgen/loadgen.h"
#include "libs/cfg/cfg.h"
#include "libs/item/item.h"
#include "libs/keycodec/keycodec.h"
#include "libs/log/log.h"

#define TABLE "table:bench"
#define LOG_TABLE "table:benchlog"
/* libs/kv's table settings for STANDARD (kv.c kv_class_config) */
#define TABLE_CONFIG "key_format=u,value_format=u,block_compressor=snappy"

static struct {
    char *home, *workload, *warmup, *duration;
    size_t item_size, cache;
    int items, group, threads, seed, batch;
    bool load, sync, changelog;
} cfg;

static const dyn_cfg_opt opts[] = {
    DYN_CFG_STR("home", "./data/wt-bench", "WiredTiger home (created)", &cfg.home),
    DYN_CFG_STR("workload", "get", "put | get | query | a mix like get:90,put:10", &cfg.workload),
    DYN_CFG_BOOL("load", "false", "preload: put every item once", &cfg.load),
    DYN_CFG_INT("items", "50000", "preloaded items", &cfg.items),
    DYN_CFG_INT("group", "10", "items per partition-key value (= items per query)", &cfg.group),
    DYN_CFG_SIZE("item-size", "1024", "item size by DynamoDB's count, as bench/loadgen",
                 &cfg.item_size),
    DYN_CFG_INT("threads", "32", "threads, each with its own session and transactions",
                &cfg.threads),
    DYN_CFG_INT("batch", "1",
                "puts per synced transaction: > 1 is the group commit libs/kv does, done ideally "
                "(one thread filling each group with no queue and no RPC in between)",
                &cfg.batch),
    DYN_CFG_STR("warmup", "2", "seconds run before measuring", &cfg.warmup),
    DYN_CFG_STR("duration", "10", "seconds measured", &cfg.duration),
    DYN_CFG_SIZE("cache-size", "256MiB", "WiredTiger cache (libs/kv's default)", &cfg.cache),
    DYN_CFG_BOOL("sync", "true", "commit writes with sync=on (fsync), as libs/kv does",
                 &cfg.sync),
    DYN_CFG_BOOL("changelog", "false",
                 "also do what the storage node's change log does per write: read the old value, "
                 "write a record of old + new value under the next sequence number",
                 &cfg.changelog),
    DYN_CFG_INT("seed", "1", "random seed", &cfg.seed),
};

typedef struct bench {
    WT_CONNECTION *conn;
    lg_keys keys;
    lg_mix mix;
    unsigned char **key;        /* per item index: the storage key */
    size_t *klen;
    unsigned char **prefix;     /* per pk group: hash || enc(pk) */
    size_t *plen;
    size_t vlen;                /* the encoded item's length */
    int64_t t_measure, t_end;
    _Atomic uint64_t load_next, log_seq;
} bench;

typedef struct worker {
    bench *b;
    int id;
    WT_SESSION *s;
    WT_CURSOR *c, *log;
    lg_rng rng;
    unsigned char *val, *rec;   /* value / change-record buffers */
    lg_result res;
    pthread_t thread;
} worker;

static void
wt_check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "wt_bench: %s: %s\n", what, wiredtiger_strerror(rc));
        exit(1);
    }
}

static void
be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* ---- operations, as libs/kv runs them ---- */

/* One put inside the open transaction (with --changelog, also what the change log writes). */
static int
put_one(worker *w, uint64_t k, uint64_t seq)
{
    bench *b = w->b;
    WT_CURSOR *c = w->c;
    WT_ITEM key = { .data = b->key[k], .size = b->klen[k] }, val = { .data = w->val,
                                                                     .size = b->vlen };
    int rc;

    /* the item's text, with the sequence number making every put a change */
    memcpy(w->val, lg_filler(k, b->vlen), b->vlen);
    memcpy(w->val, &seq, sizeof seq);
    if (cfg.changelog) {
        WT_ITEM old = { 0 };
        size_t olen = 0;
        unsigned char lk[8];
        c->set_key(c, &key);
        if (c->search(c) == 0 && c->get_value(c, &old) == 0) {
            olen = old.size < b->vlen + 64 ? old.size : b->vlen + 64;
            memcpy(w->rec + b->vlen, old.data, olen);
        }
        (void)c->reset(c);
        memcpy(w->rec, w->val, b->vlen);
        be64_put(lk, atomic_fetch_add(&b->log_seq, 1) + 1);
        WT_ITEM lkey = { .data = lk, .size = sizeof lk },
                lval = { .data = w->rec, .size = b->vlen + olen };
        w->log->set_key(w->log, &lkey);
        w->log->set_value(w->log, &lval);
        rc = w->log->insert(w->log);
        (void)w->log->reset(w->log);
        if (rc != 0)
            return rc;
    }
    c->set_key(c, &key);
    c->set_value(c, &val);
    rc = c->insert(c);
    (void)c->reset(c);
    return rc;
}

/* n puts (keys[i], seqs[i]) in one transaction committed with sync=on, retried whole on
 * WT_ROLLBACK as libs/kv's committer does. */
static void
op_put(worker *w, const uint64_t *keys, const uint64_t *seqs, int n)
{
    WT_SESSION *s = w->s;
    int rc;

    for (;;) {
        wt_check(s->begin_transaction(s, NULL), "begin_transaction");
        rc = 0;
        for (int i = 0; i < n && rc == 0; i++)
            rc = put_one(w, keys[i], seqs[i]);
        if (rc != 0) {
            (void)s->rollback_transaction(s, NULL);
            if (rc == WT_ROLLBACK)
                continue;
            wt_check(rc, "insert");
        }
        if ((rc = s->commit_transaction(s, cfg.sync ? "sync=on" : NULL)) == 0)
            return;
        if (rc != WT_ROLLBACK)   /* a failed commit has rolled back already */
            wt_check(rc, "commit_transaction");
    }
}

static bool
op_get(worker *w, uint64_t k)
{
    bench *b = w->b;
    WT_SESSION *s = w->s;
    WT_CURSOR *c = w->c;
    WT_ITEM key = { .data = b->key[k], .size = b->klen[k] }, val;
    bool found = false;

    wt_check(s->begin_transaction(s, NULL), "begin_transaction");
    c->set_key(c, &key);
    if (c->search(c) == 0 && c->get_value(c, &val) == 0) {
        memcpy(w->val, val.data, val.size < b->vlen ? val.size : b->vlen);   /* kv copies out */
        found = true;
    }
    (void)c->reset(c);
    (void)s->rollback_transaction(s, NULL);
    return found;
}

/* The items of k's pk: a range read from its prefix, as the storage node's Range does. */
static uint32_t
op_query(worker *w, uint64_t k)
{
    bench *b = w->b;
    WT_SESSION *s = w->s;
    WT_CURSOR *c = w->c;
    uint64_t g = k / b->keys.group;
    WT_ITEM start = { .data = b->prefix[g], .size = b->plen[g] }, key, val;
    uint32_t n = 0;
    int exact, rc;

    wt_check(s->begin_transaction(s, NULL), "begin_transaction");
    c->set_key(c, &start);
    if ((rc = c->search_near(c, &exact)) == 0 && exact < 0)
        rc = c->next(c);
    while (rc == 0 && n < b->keys.group) {
        if (c->get_key(c, &key) != 0 || key.size < start.size ||
            memcmp(key.data, start.data, start.size) != 0)
            break;
        if (c->get_value(c, &val) != 0)
            break;
        memcpy(w->val, val.data, val.size < b->vlen ? val.size : b->vlen);
        n++;
        rc = c->next(c);
    }
    (void)c->reset(c);
    (void)s->rollback_transaction(s, NULL);
    return n;
}

static void *
worker_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    uint64_t seq = (uint64_t)(w->id + 1) * 1000000000ull;
    int batch = cfg.batch > 1 ? cfg.batch : 1;
    uint64_t *keys = dyn_xcalloc((size_t)batch, sizeof *keys);
    uint64_t *seqs = dyn_xcalloc((size_t)batch, sizeof *seqs);

    for (;;) {
        int64_t t0 = lg_now_ns();
        lg_op op;
        uint64_t k = 0;
        int n = 1;
        bool miss = false;

        if (cfg.load) {
            op = LG_OP_PUT;
            for (n = 0; n < batch; n++) {
                if ((keys[n] = atomic_fetch_add(&b->load_next, 1)) >= b->keys.items)
                    break;
                seqs[n] = 0;
            }
            if (n == 0)
                break;
            op_put(w, keys, seqs, n);
        } else {
            if (t0 >= b->t_end)
                break;
            op = lg_mix_pick(&b->mix, &w->rng);
            k = lg_keys_pick(&b->keys, &w->rng);
            if (op == LG_OP_GET) {
                miss = !op_get(w, k);
            } else if (op == LG_OP_QUERY) {
                miss = op_query(w, k) < b->keys.group;
            } else {
                /* a group of puts: every one of them waits for the group's synced commit */
                keys[0] = k;
                seqs[0] = ++seq;
                for (n = 1; n < batch; n++) {
                    keys[n] = lg_keys_pick(&b->keys, &w->rng);
                    seqs[n] = ++seq;
                }
                op_put(w, keys, seqs, n);
            }
        }
        int64_t t1 = lg_now_ns();
        if (cfg.load || (t1 >= b->t_measure && t1 < b->t_end)) {
            w->res.ops += (uint64_t)n;
            w->res.misses += miss;
            for (int i = 0; i < n; i++) {
                lg_hist_add(&w->res.all, (uint64_t)(t1 - t0));
                lg_hist_add(&w->res.op[op], (uint64_t)(t1 - t0));
            }
        }
    }
    free(keys);
    free(seqs);
    return NULL;
}

/* ---- setup ---- */

/* WiredTiger creates files in home, not home itself; its parent must exist. */
static void
home_create(const char *home)
{
    if (mkdir(home, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "wt_bench: mkdir %s: %s\n", home, strerror(errno));
        exit(1);
    }
}

/* "log: log sync operations" so far, from the connection's statistics cursor. */
static int64_t
log_syncs(WT_CURSOR *stat)
{
    const char *desc, *pv;
    int64_t v = 0;

    stat->reset(stat);   /* statistics cursors read the counters when positioned */
    stat->set_key(stat, WT_STAT_CONN_LOG_SYNC);
    if (stat->search(stat) == 0)
        (void)stat->get_value(stat, &desc, &pv, &v);
    return v;
}

/* The snappy extension next to the libwiredtiger this process loaded, as libs/kv finds it. */
static void
snappy_path(char *out, size_t cap)
{
    Dl_info info;
    const char *slash;

    if (dladdr((void *)wiredtiger_open, &info) == 0 || info.dli_fname == NULL ||
        (slash = strrchr(info.dli_fname, '/')) == NULL) {
        fprintf(stderr, "wt_bench: cannot locate libwiredtiger\n");
        exit(1);
    }
    snprintf(out, cap, "%.*s/libwiredtiger_snappy.so", (int)(slash - info.dli_fname),
             info.dli_fname);
}

/* Every item's key and every pk's prefix, encoded once into arena a, and the value length: what
 * the storage node stores for loadgen's items. */
static void
keys_build(bench *b, dyn_arena *a)
{
    uint64_t n = b->keys.items, groups = (n + b->keys.group - 1) / b->keys.group;
    dyn_arena t;   /* one item at a time */

    dyn_arena_init(&t, (size_t)16 << 20);
    b->key = dyn_xcalloc(n, sizeof *b->key);
    b->klen = dyn_xcalloc(n, sizeof *b->klen);
    b->prefix = dyn_xcalloc(groups, sizeof *b->prefix);
    b->plen = dyn_xcalloc(groups, sizeof *b->plen);
    for (uint64_t k = 0; k < n; k++) {
        Dyne__V1__AttributeValueMap *item = lg_item(k, 0, &b->keys, 64, &t);
        if (item == NULL ||
            dyn_keycodec_item_key(a, item->values[0]->value, item->values[1]->value, &b->key[k],
                                  &b->klen[k]) != DYN_OK ||
            (k % b->keys.group == 0 &&
             dyn_keycodec_item_key(a, item->values[0]->value, NULL,
                                   &b->prefix[k / b->keys.group],
                                   &b->plen[k / b->keys.group]) != DYN_OK)) {
            fprintf(stderr, "wt_bench: cannot encode key %llu\n", (unsigned long long)k);
            exit(1);
        }
        dyn_arena_reset(&t);
    }
    /* a put's item carries a 10-digit sequence number, as loadgen's do */
    Dyne__V1__AttributeValueMap *item = lg_item(0, 1000000000ull, &b->keys, cfg.item_size, &t);
    unsigned char *enc;
    if (item == NULL || dyn_item_encode(item, &t, &enc, &b->vlen) != DYN_OK)
        exit(1);
    dyn_arena_fini(&t);
}

int
main(int argc, char **argv)
{
    bench b;
    dyn_arena a;
    WT_SESSION *s;
    char conf[1024], ext[512];
    int rc;

    dyn_log_init("wt_bench", DYN_LOG_WARN);
    if ((rc = dyn_cfg_load("wt_bench", opts, sizeof opts / sizeof opts[0], argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    memset(&b, 0, sizeof b);
    if (!cfg.load && !lg_mix_parse(cfg.workload, &b.mix)) {
        fprintf(stderr, "wt_bench: bad --workload %s\n", cfg.workload);
        return 2;
    }
    if (cfg.threads < 1)
        cfg.threads = 1;
    lg_keys_init(&b.keys, (uint64_t)(cfg.items > 0 ? cfg.items : 1), (uint32_t)cfg.group, LG_DIST_UNIFORM);
    dyn_arena_init(&a, (size_t)1 << 32);
    keys_build(&b, &a);

    home_create(cfg.home);
    snappy_path(ext, sizeof ext);
    /* libs/kv's wiredtiger_open configuration (kv.c dyn_kv_open), zlib left out: unused here */
    snprintf(conf, sizeof conf,
             "create,cache_size=%zu,session_max=1024,log=(enabled=true,archive=true),"
             "transaction_sync=(enabled=%s,method=fsync),checkpoint=(wait=60),"
             "extensions=[\"%s\"],statistics=(fast)",
             cfg.cache, cfg.sync ? "true" : "false", ext);
    wt_check(wiredtiger_open(cfg.home, NULL, conf, &b.conn), "wiredtiger_open");
    wt_check(b.conn->open_session(b.conn, NULL, "isolation=snapshot", &s), "open_session");
    wt_check(s->create(s, TABLE, TABLE_CONFIG), "create");
    wt_check(s->create(s, LOG_TABLE, TABLE_CONFIG), "create log");

    worker *ws = dyn_xcalloc((size_t)cfg.threads, sizeof *ws);
    for (int i = 0; i < cfg.threads; i++) {
        worker *w = &ws[i];
        w->b = &b;
        w->id = i;
        wt_check(b.conn->open_session(b.conn, NULL, "isolation=snapshot", &w->s), "session");
        wt_check(w->s->open_cursor(w->s, TABLE, NULL, NULL, &w->c), "open_cursor");
        wt_check(w->s->open_cursor(w->s, LOG_TABLE, NULL, NULL, &w->log), "open_cursor log");
        w->val = dyn_xmalloc(b.vlen + 16);
        w->rec = dyn_xmalloc(2 * b.vlen + 64);
        lg_rng_seed(&w->rng, (uint64_t)cfg.seed * 1000003u + (uint64_t)i);
        lg_hist_init(&w->res.all);
        for (int op = 0; op < LG_OP__COUNT; op++)
            lg_hist_init(&w->res.op[op]);
    }

    /* log syncs over the window, from WiredTiger's own statistics */
    WT_CURSOR *stat;
    int64_t syncs0, syncs1;
    wt_check(s->open_cursor(s, "statistics:", NULL, NULL, &stat), "statistics");

    double warm = cfg.load ? 0 : strtod(cfg.warmup, NULL), dur = strtod(cfg.duration, NULL);
    int64_t t_begin = lg_now_ns();
    b.t_measure = t_begin + (int64_t)(warm * 1e9);
    b.t_end = b.t_measure + (int64_t)(dur * 1e9);
    for (int i = 0; i < cfg.threads; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            return 1;
    double cpu0, cpu1;
    if (!cfg.load)
        lg_sleep_until(b.t_measure);
    cpu0 = lg_proc_cpu_s(getpid());
    syncs0 = log_syncs(stat);
    if (!cfg.load)
        lg_sleep_until(b.t_end);
    cpu1 = lg_proc_cpu_s(getpid());
    syncs1 = log_syncs(stat);

    lg_result r;
    memset(&r, 0, sizeof r);
    lg_hist_init(&r.all);
    for (int op = 0; op < LG_OP__COUNT; op++)
        lg_hist_init(&r.op[op]);
    for (int i = 0; i < cfg.threads; i++) {
        pthread_join(ws[i].thread, NULL);
        lg_hist_merge(&r.all, &ws[i].res.all);
        for (int op = 0; op < LG_OP__COUNT; op++)
            lg_hist_merge(&r.op[op], &ws[i].res.op[op]);
        r.ops += ws[i].res.ops;
        r.misses += ws[i].res.misses;
    }
    if (cfg.load) {
        cpu1 = lg_proc_cpu_s(getpid());
        r.elapsed_s = (double)(lg_now_ns() - t_begin) / 1e9;
        syncs1 = log_syncs(stat);
    } else {
        r.elapsed_s = dur;
    }
    (void)stat->close(stat);

    double ops_s = r.elapsed_s > 0 ? (double)r.ops / r.elapsed_s : 0;
    double per = r.ops ? 1e6 / (double)r.ops : 0;
    printf("wt_bench workload=%s threads=%d batch=%d sync=%d changelog=%d value=%zu B\n",
           cfg.load ? "load" : cfg.workload, cfg.threads, cfg.batch, cfg.sync, cfg.changelog,
           b.vlen);
    printf("%.0f ops/s over %.2f s: %llu ops, %llu misses, %.2f ops per log sync, cpu %.1f "
           "us/op\n",
           ops_s, r.elapsed_s, (unsigned long long)r.ops, (unsigned long long)r.misses,
           syncs1 > syncs0 ? (double)r.ops / (double)(syncs1 - syncs0) : 0.0,
           (cpu1 - cpu0) * per);
    printf("WTBENCH {\"workload\":\"%s\",\"threads\":%d,\"batch\":%d,\"elapsed_s\":%.3f,\"ops\":%llu,"
           "\"ops_per_s\":%.1f,\"errors\":0,\"misses\":%llu,\"log_syncs\":%lld,\"value_bytes\":%zu,"
           "\"ops_by\":",
           cfg.load ? "load" : cfg.workload, cfg.threads, cfg.batch, r.elapsed_s, (unsigned long long)r.ops,
           ops_s, (unsigned long long)r.misses, (long long)(syncs1 - syncs0), b.vlen);
    lg_print_ops_json(stdout, &r);
    printf(",\"cpu_us_per_op\":{\"wt\":%.2f}}\n", (cpu1 - cpu0) * per);
    fflush(stdout);

    for (int i = 0; i < cfg.threads; i++) {
        free(ws[i].val);
        free(ws[i].rec);
    }
    free(ws);
    wt_check(b.conn->close(b.conn, NULL), "close");
    dyn_arena_fini(&a);
    return 0;
}
