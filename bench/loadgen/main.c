/* bench/loadgen -- flags, setup, the run, and the report: a human summary on stdout, then one
 * "LOADGEN {json}" line for scripts (bench/storage/bench.py reads it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen/loadgen.h"
#include "libs/cfg/cfg.h"
#include "libs/log/log.h"

static struct {
    char *target, *addr, *workload, *dist, *partition, *table, *pids, *warmup, *duration, *rate;
    size_t item_size;
    int items, group, concurrency, threads, conns, deadline_ms, seed, ops, batch, hot_keys;
    bool load, setup;
} cfg;

static const dyn_cfg_opt opts[] = {
    DYN_CFG_STR("target", "storage",
                "storage (dyne.internal.Storage) | router (dyne.v1.DynamoDB) | http (DynamoDB "
                "JSON over HTTP/1.1: the router's --ddb-listen, dynalite, ...) | echo "
                "(bench/echo: every op is one call of --item-size bytes, echoed back)",
                &cfg.target),
    DYN_CFG_STR("addr", "127.0.0.1:7001", "host:port of the target (gRPC, or HTTP for http)",
                &cfg.addr),
    DYN_CFG_STR("workload", "get",
                "put | get | query | insert | rmw (one conditional UpdateItem: n = n + 1, v "
                "rewritten, on an existing item) | YCSB A B C D E F (F: get 50 rmw 50) | a mix "
                "like get:90,put:10 or get:50,rmw:50",
                &cfg.workload),
    DYN_CFG_BOOL("load", "false", "preload: put every item once (ignores workload/duration)",
                 &cfg.load),
    DYN_CFG_BOOL("setup", "true",
                 "create the partition (storage) or table (router, http) first; echo: one call",
                 &cfg.setup),
    DYN_CFG_INT("ops", "0", "stop after this many calls, measuring the whole run (0: --duration)",
                &cfg.ops),
    DYN_CFG_INT("items", "50000", "preloaded items (key indexes 0..items-1)", &cfg.items),
    DYN_CFG_INT("group", "10", "items per partition-key value (= items per query)", &cfg.group),
    DYN_CFG_SIZE("item-size", "1024", "item size by DynamoDB's count (names + values)",
                 &cfg.item_size),
    DYN_CFG_STR("dist", "uniform",
                "key distribution: uniform | zipf | hot (every op on one of --hot-keys keys)",
                &cfg.dist),
    DYN_CFG_INT("hot-keys", "1", "--dist=hot: the key indexes 0..N-1 take every operation",
                &cfg.hot_keys),
    DYN_CFG_INT("batch", "1",
                "storage: operations per call, sent as Storage/Batch when > 1 (the router's "
                "coalescing); ops/s and latencies count operations",
                &cfg.batch),
    DYN_CFG_INT("concurrency", "32",
                "calls in flight (closed loop); the cap with --rate; http: the connections",
                &cfg.concurrency),
    DYN_CFG_STR("rate", "0", "open loop: calls per second (0: closed loop)", &cfg.rate),
    DYN_CFG_INT("threads", "1", "client threads (one completion queue, or epoll, each)",
                &cfg.threads),
    DYN_CFG_INT("conns", "1", "HTTP/2 connections per thread (not http)", &cfg.conns),
    DYN_CFG_STR("warmup", "2", "seconds run before measuring", &cfg.warmup),
    DYN_CFG_STR("duration", "10", "seconds measured", &cfg.duration),
    DYN_CFG_INT("deadline-ms", "10000", "deadline of each call", &cfg.deadline_ms),
    DYN_CFG_STR("partition", "bench.0", "storage: partition id", &cfg.partition),
    DYN_CFG_STR("table", "bench", "router, http: table name (storage: the partition's table)",
                &cfg.table),
    DYN_CFG_STR("pids", "", "server processes to charge CPU to: name=pid,name=pid", &cfg.pids),
    DYN_CFG_INT("seed", "1", "random seed", &cfg.seed),
};

static const char *const code_names[17] = {
    "OK",        "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",  "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED",  "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",
    "UNAVAILABLE", "DATA_LOSS",        "UNAUTHENTICATED",
};

/* "storage=123,etcd=456" (or bare pids) into names and pids; false on garbage. */
static bool
parse_pids(char *s, char names[LG_MAX_PIDS][32], lg_run_opts *o)
{
    char *save = NULL;

    for (char *tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end;
        const char *num = eq ? eq + 1 : tok;
        long pid = strtol(num, &end, 10);
        if (o->npids == LG_MAX_PIDS || *end != '\0' || pid <= 0)
            return false;
        snprintf(names[o->npids], 32, "%.*s", eq ? (int)(eq - tok) : (int)strlen(tok), tok);
        o->pids[o->npids++] = (int)pid;
    }
    return true;
}

static double
us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void
report(const lg_run_opts *o, const lg_result *r, char names[LG_MAX_PIDS][32])
{
    double ops_s = r->elapsed_s > 0 ? (double)r->ops / r->elapsed_s : 0;
    double per = r->ops > 0 ? 1e6 / (double)r->ops : 0;

    printf("target=%s addr=%s workload=%s concurrency=%d batch=%u rate=%s threads=%d conns=%d\n",
           cfg.target, cfg.addr, cfg.load ? "load" : cfg.workload, o->concurrency,
           o->target->ops_per_call, cfg.rate, o->threads, o->conns);
    printf("%.0f ops/s over %.2f s: %llu ops, %llu errors, %llu misses, %llu late\n", ops_s,
           r->elapsed_s, (unsigned long long)r->ops, (unsigned long long)r->errors,
           (unsigned long long)r->misses, (unsigned long long)r->late);
    printf("  %-6s %10s %9s %9s %9s %9s %9s %9s\n", "op", "count", "mean_us", "p50_us", "p95_us",
           "p99_us", "p99.9_us", "max_us");
    for (int i = -1; i < LG_OP__COUNT; i++) {
        const lg_hist *h = i < 0 ? &r->all : &r->op[i];
        if (h->n == 0)
            continue;
        printf("  %-6s %10llu %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n",
               i < 0 ? "all" : lg_op_name((lg_op)i), (unsigned long long)h->n,
               us(h->sum_ns) / (double)h->n, us(lg_hist_quantile(h, 0.50)),
               us(lg_hist_quantile(h, 0.95)), us(lg_hist_quantile(h, 0.99)),
               us(lg_hist_quantile(h, 0.999)), us(h->max_ns));
    }
    printf("  cpu us/op:");
    for (int i = 0; i < o->npids; i++)
        printf(" %s %.1f", names[i], r->cpu_s[i] * per);
    printf(" client %.1f\n", r->client_cpu_s * per);
    for (int c = 1; c < 17; c++)
        if (r->err_by_code[c] > 0)
            printf("  errors %s: %llu\n", code_names[c], (unsigned long long)r->err_by_code[c]);

    printf("LOADGEN {\"target\":\"%s\",\"workload\":\"%s\",\"concurrency\":%d,\"batch\":%u,"
           "\"rate\":%s,"
           "\"elapsed_s\":%.3f,\"ops\":%llu,\"ops_per_s\":%.1f,\"errors\":%llu,\"misses\":%llu,"
           "\"late\":%llu,\"ops_by\":",
           cfg.target, cfg.load ? "load" : cfg.workload, o->concurrency, o->target->ops_per_call,
           cfg.rate, r->elapsed_s,
           (unsigned long long)r->ops, ops_s, (unsigned long long)r->errors,
           (unsigned long long)r->misses, (unsigned long long)r->late);
    lg_print_ops_json(stdout, r);
    printf(",\"cpu_us_per_op\":{");
    for (int i = 0; i < o->npids; i++)
        printf("\"%s\":%.2f,", names[i], r->cpu_s[i] * per);
    printf("\"client\":%.2f}}\n", r->client_cpu_s * per);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    char names[LG_MAX_PIDS][32];
    lg_run_opts o;
    lg_result res;
    lg_keys keys;
    lg_dist dist;
    lg_target *t = NULL;
    int rc;

    dyn_log_init("loadgen", DYN_LOG_WARN);
    if ((rc = dyn_cfg_load("loadgen", opts, sizeof opts / sizeof opts[0], argc, argv)) != 0)
        return rc == 1 ? 0 : rc;
    memset(&o, 0, sizeof o);
    if (!cfg.load && !lg_mix_parse(cfg.workload, &o.mix)) {
        fprintf(stderr, "loadgen: bad --workload %s\n", cfg.workload);
        return 2;
    }
    if (!parse_pids(cfg.pids, names, &o)) {
        fprintf(stderr, "loadgen: bad --pids (name=pid,name=pid)\n");
        return 2;
    }
    if (!lg_dist_parse(cfg.dist, &dist)) {
        fprintf(stderr, "loadgen: bad --dist %s (uniform | zipf | hot)\n", cfg.dist);
        return 2;
    }
    lg_keys_init(&keys, (uint64_t)(cfg.items > 0 ? cfg.items : 1), (uint32_t)cfg.group, dist);
    lg_keys_set_hot(&keys, (uint64_t)(cfg.hot_keys > 0 ? cfg.hot_keys : 1));
    lg_target_opts to = { .keys = &keys, .item_size = cfg.item_size,
                          .partition = cfg.partition, .table = cfg.table,
                          .batch = cfg.load || cfg.batch < 1 ? 1 : (unsigned)cfg.batch };
    if (strcmp(cfg.target, "storage") == 0) {
        t = lg_target_storage_new(&to);
    } else if (strcmp(cfg.target, "router") == 0) {
        t = lg_target_router_new(&to);
    } else if (strcmp(cfg.target, "http") == 0) {
        t = lg_target_http_new(&to);
    } else if (strcmp(cfg.target, "echo") == 0) {
        t = lg_target_echo_new(&to);
    } else {
        fprintf(stderr, "loadgen: bad --target %s (storage | router | http | echo)\n",
                cfg.target);
        return 2;
    }
    bool http = strcmp(cfg.target, "http") == 0;
    if (cfg.setup && (http ? lg_http_setup(cfg.addr, t) : lg_grpc_setup(cfg.addr, t)) != 0) {
        lg_target_free(t);
        return 1;
    }
    o.addr = cfg.addr;
    o.threads = cfg.threads;
    o.conns = cfg.conns;
    o.concurrency = cfg.concurrency;
    o.rate = strtod(cfg.rate, NULL);
    o.warmup_s = cfg.load || cfg.ops > 0 ? 0 : strtod(cfg.warmup, NULL);
    o.duration_s = strtod(cfg.duration, NULL);
    o.deadline_ms = cfg.deadline_ms;
    o.load = cfg.load;
    o.ops = cfg.ops > 0 ? (uint64_t)cfg.ops : 0;
    o.keys = &keys;
    o.target = t;
    o.seed = (uint64_t)cfg.seed;
    if (o.threads > o.concurrency)
        o.threads = o.concurrency;
    rc = http ? lg_http_run(&o, &res) : lg_grpc_run(&o, &res);
    if (rc == 0)
        report(&o, &res, names);
    lg_target_free(t);
    return rc != 0 ? 1 : res.errors > 0 ? 3 : 0;
}
