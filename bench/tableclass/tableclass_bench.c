/* bench/tableclass -- what the two table classes (libs/kv DYN_KV_CLASS_STANDARD and
 * DYN_KV_CLASS_INFREQUENT, i.e. DynamoDB's STANDARD and STANDARD_INFREQUENT_ACCESS) cost and
 * save: the same N items of ~1 KB written to one table of each class, then
 *   - bytes on disk of each table's file after a checkpoint (close),
 *   - load throughput (batches of 32 puts per commit, log synced, as the storage node commits),
 *   - point reads with a warm cache (everything in WiredTiger's cache),
 *   - point reads with a cold cache (a fresh open with a 1 MiB cache and the OS page cache of
 *     the files dropped with posix_fadvise: every read decompresses a page).
 * Both classes run in the same process, alternating in rounds; the output is one line per round
 * and class, then the per-round ratios INFREQUENT / STANDARD.
 *   tableclass_bench DIR [ITEMS=100000] [ROUNDS=3] [READS=200000] */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libs/arena/arena.h"
#include "libs/kv/kv.h"

#define BATCH 32

static const char *const words[] = {
    "order",    "customer", "shipped",  "pending",  "invoice",  "warehouse", "express",
    "standard", "returned", "gift",     "wrap",     "blue",      "green",    "large",
    "small",    "medium",   "cotton",   "steel",    "bottle",    "lamp",     "chair",
    "table",    "desk",     "kitchen",  "garden",   "outdoor",   "indoor",   "premium",
    "discount", "coupon",   "review",   "rating",   "excellent", "good",     "average",
    "delivery", "address",  "street",   "city",     "country",   "payment",  "card",
    "refund",   "status",   "created",  "updated",  "priority",  "note",     "fragile",
};
#define NWORDS (sizeof words / sizeof words[0])

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ~1 KB shaped like an encoded order item: ids, numbers, timestamps and text from a small
 * vocabulary (what real rows look like to a compressor; random bytes would not compress). */
static size_t
make_item(uint64_t id, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap,
                                "{\"pk\":\"customer#%08llu\",\"sk\":\"order#%012llu\","
                                "\"total\":%llu.%02llu,\"qty\":%llu,\"ts\":%llu,\"lines\":[",
                                (unsigned long long)(id % 100000), (unsigned long long)id,
                                (unsigned long long)(next_rand() % 100000),
                                (unsigned long long)(next_rand() % 100),
                                (unsigned long long)(next_rand() % 20),
                                (unsigned long long)(1700000000 + next_rand() % 10000000));
    while (n < 1000 && n + 64 < cap) {
        n += (size_t)snprintf(out + n, cap - n, "{\"sku\":\"%06llx\",\"d\":\"%s %s %s\"},",
                              (unsigned long long)(next_rand() & 0xffffff),
                              words[next_rand() % NWORDS], words[next_rand() % NWORDS],
                              words[next_rand() % NWORDS]);
    }
    n += (size_t)snprintf(out + n, cap - n, "]}");
    return n;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct load_batch {
    const char *table;
    uint64_t first;
    int n;
} load_batch;

static dyn_err
load_apply(dyn_kv_txn *txn, void *arg)
{
    const load_batch *b = arg;
    char key[32], val[1200];
    dyn_err rc;

    for (int i = 0; i < b->n; i++) {
        int klen = snprintf(key, sizeof key, "%016llx",
                            (unsigned long long)((b->first + (uint64_t)i) * 0x9E3779B97F4A7C15ull));
        size_t vlen = make_item(b->first + (uint64_t)i, val, sizeof val);
        if ((rc = dyn_kv_put(txn, b->table, key, (size_t)klen, val, vlen)) != DYN_OK)
            return rc;
    }
    return DYN_OK;
}

static dyn_kv *
open_kv(const char *home, size_t cache)
{
    dyn_kv_opts o;
    dyn_kv *kv = NULL;

    dyn_kv_opts_init(&o);
    o.cache_bytes = cache;
    if (dyn_kv_open(home, &o, &kv) != DYN_OK) {
        fprintf(stderr, "cannot open %s\n", home);
        exit(1);
    }
    return kv;
}

/* Random point reads of existing keys; returns reads per second. */
static double
reads(dyn_kv *kv, const char *table, uint64_t items, int n)
{
    dyn_arena a;
    dyn_kv_txn *txn;
    char key[32];
    double t0 = now_s();

    dyn_arena_init(&a, 1 << 20);
    for (int i = 0; i < n; i++) {
        void *v;
        size_t vlen;
        if (i % 64 == 0) {
            if (i > 0)
                dyn_kv_read_end(txn);
            if (dyn_kv_read_begin(kv, &txn) != DYN_OK)
                exit(1);
            dyn_arena_reset(&a);
        }
        uint64_t id = next_rand() % items;
        int klen = snprintf(key, sizeof key, "%016llx",
                            (unsigned long long)(id * 0x9E3779B97F4A7C15ull));
        if (dyn_kv_get(txn, table, key, (size_t)klen, &a, &v, &vlen) != DYN_OK) {
            fprintf(stderr, "read of %s in %s failed\n", key, table);
            exit(1);
        }
    }
    dyn_kv_read_end(txn);
    dyn_arena_fini(&a);
    return n / (now_s() - t0);
}

/* Drops the OS page cache of every file under home (WiredTiger files are flat in home). */
static void
drop_os_cache(const char *home, const char *table)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.wt", home, table);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

static long long
file_bytes(const char *home, const char *table)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.wt", home, table);
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

typedef struct result {
    double load, warm, cold;
    long long bytes;
} result;

static result
run_class(const char *dir, int round, dyn_kv_class cls, uint64_t items, int nreads)
{
    char home[512];
    const char *table = cls == DYN_KV_CLASS_STANDARD ? "std" : "ia";
    result r;

    snprintf(home, sizeof home, "%s/r%d-%s", dir, round, table);
    dyn_kv *kv = open_kv(home, (size_t)256 << 20);
    if (dyn_kv_table_create_class(kv, table, cls) != DYN_OK)
        exit(1);
    double t0 = now_s();
    for (uint64_t first = 0; first < items; first += BATCH) {
        load_batch b = { table, first, (int)(items - first < BATCH ? items - first : BATCH) };
        if (dyn_kv_write(kv, load_apply, &b) != DYN_OK)
            exit(1);
    }
    r.load = (double)items / (now_s() - t0);
    r.warm = reads(kv, table, items, nreads);
    dyn_kv_close(kv);   /* checkpoint: the file holds every page, compressed */
    r.bytes = file_bytes(home, table);
    drop_os_cache(home, table);
    kv = open_kv(home, (size_t)1 << 20);
    r.cold = reads(kv, table, items, nreads / 10);
    dyn_kv_close(kv);
    return r;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tableclass_bench DIR [ITEMS] [ROUNDS] [READS]\n");
        return 2;
    }
    uint64_t items = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    int nreads = argc > 4 ? atoi(argv[4]) : 200000;

    printf("# items=%llu rounds=%d reads=%d (cold: reads/10)\n", (unsigned long long)items, rounds,
           nreads);
    printf("round class bytes bytes_per_item load_items_s warm_reads_s cold_reads_s\n");
    for (int round = 0; round < rounds; round++) {
        rng = 0x9E3779B97F4A7C15ull + (uint64_t)round;
        uint64_t seed = rng;
        result s = run_class(argv[1], round, DYN_KV_CLASS_STANDARD, items, nreads);
        rng = seed;   /* the same items for both classes */
        result ia = run_class(argv[1], round, DYN_KV_CLASS_INFREQUENT, items, nreads);
        printf("%d STANDARD %lld %.0f %.0f %.0f %.0f\n", round, s.bytes,
               (double)s.bytes / (double)items, s.load, s.warm, s.cold);
        printf("%d INFREQUENT %lld %.0f %.0f %.0f %.0f\n", round, ia.bytes,
               (double)ia.bytes / (double)items, ia.load, ia.warm, ia.cold);
        printf("%d ratio %.3f - %.3f %.3f %.3f\n", round, (double)ia.bytes / (double)s.bytes,
               ia.load / s.load, ia.warm / s.warm, ia.cold / s.cold);
        fflush(stdout);
    }
    return 0;
}
