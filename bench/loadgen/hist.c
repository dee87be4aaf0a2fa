/* bench/loadgen -- log-bucketed latency histograms: 64 buckets per power of two, so any quantile
 * is within 1.6% of the true value, in fixed memory, mergeable across threads. */
#include "bench/loadgen/loadgen.h"

#include <string.h>
#include <unistd.h>

/* Values below 64 ns have a bucket each; above, bucket = 64 * (msb - 5) + the 6 bits after the
 * most significant one. */
static size_t
bucket_of(uint64_t v)
{
    if (v < LG_HIST_SUB)
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    if (msb >= LG_HIST_MAXEXP)
        return LG_HIST_BUCKETS - 1;
    return (size_t)LG_HIST_SUB * (size_t)(msb - 5) + (size_t)((v >> (msb - 6)) - LG_HIST_SUB);
}

/* The midpoint of bucket i. */
static uint64_t
bucket_mid(size_t i)
{
    if (i < 2 * LG_HIST_SUB)
        return (uint64_t)i;   /* width 1: exact */
    int msb = (int)(i / LG_HIST_SUB) + 5;
    uint64_t lo = ((uint64_t)(i % LG_HIST_SUB) + LG_HIST_SUB) << (msb - 6);
    return lo + (((uint64_t)1 << (msb - 6)) >> 1);
}

void
lg_hist_init(lg_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

void
lg_hist_add(lg_hist *h, uint64_t ns)
{
    h->b[bucket_of(ns)]++;
    h->n++;
    h->sum_ns += ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void
lg_hist_merge(lg_hist *into, const lg_hist *from)
{
    for (size_t i = 0; i < LG_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
    into->sum_ns += from->sum_ns;
    if (from->min_ns < into->min_ns)
        into->min_ns = from->min_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t
lg_hist_quantile(const lg_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->n == 0)
        return 0;
    if (q <= 0)
        return h->min_ns;
    if (q >= 1)
        return h->max_ns;
    rank = (uint64_t)(q * (double)h->n);
    if ((double)rank < q * (double)h->n)
        rank++;   /* ceil: the smallest value with at least q of the samples at or below it */
    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = bucket_mid(i);
            /* the midpoint may lie outside what was seen at the ends */
            if (v < h->min_ns)
                v = h->min_ns;
            if (v > h->max_ns)
                v = h->max_ns;
            return v;
        }
    }
    return h->max_ns;
}

void
lg_print_ops_json(FILE *f, const lg_result *r)
{
    const char *sep = "";

    fputc('{', f);
    for (int i = -1; i < LG_OP__COUNT; i++) {
        const lg_hist *h = i < 0 ? &r->all : &r->op[i];
        if (h->n == 0)
            continue;
        fprintf(f,
                "%s\"%s\":{\"n\":%llu,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p95_us\":%.1f,"
                "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}",
                sep, i < 0 ? "all" : lg_op_name((lg_op)i), (unsigned long long)h->n,
                (double)h->sum_ns / 1e3 / (double)h->n, (double)lg_hist_quantile(h, 0.50) / 1e3,
                (double)lg_hist_quantile(h, 0.95) / 1e3, (double)lg_hist_quantile(h, 0.99) / 1e3,
                (double)lg_hist_quantile(h, 0.999) / 1e3, (double)h->max_ns / 1e3);
        sep = ",";
    }
    fputc('}', f);
}

void
lg_result_init(lg_result *res)
{
    memset(res, 0, sizeof *res);
    lg_hist_init(&res->all);
    for (int op = 0; op < LG_OP__COUNT; op++)
        lg_hist_init(&res->op[op]);
}

void
lg_result_add(lg_result *into, const lg_result *r)
{
    lg_hist_merge(&into->all, &r->all);
    for (int op = 0; op < LG_OP__COUNT; op++)
        lg_hist_merge(&into->op[op], &r->op[op]);
    into->ops += r->ops;
    into->errors += r->errors;
    into->misses += r->misses;
    into->late += r->late;
    for (int c = 0; c < 17; c++)
        into->err_by_code[c] += r->err_by_code[c];
}

void
lg_cpu_mark(const lg_run_opts *o, lg_result *res, double sign)
{
    for (int i = 0; i < o->npids; i++)
        res->cpu_s[i] += sign * lg_proc_cpu_s(o->pids[i]);
    res->client_cpu_s += sign * lg_proc_cpu_s(getpid());
}
