/* libs/rpc -- request counts and latency histograms by operation, table and outcome, for every
 * call a server ends (gRPC or local): dyn_requests_total and dyn_request_duration_seconds
 * (a Prometheus histogram), names in docs/metrics.md. Series live in a fixed open-addressing
 * table of atomic pointers: a lookup is a hash and a few compares, a new series one CAS; nothing
 * is ever removed. Past RS_SLOTS / 2 series, new tables count under table="_other". */
#include "libs/rpc/rpc_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_SLOTS 8192   /* power of two */
#define RS_NBUCKETS 15

/* Upper bounds of the buckets in microseconds; the last is +Inf. */
static const uint64_t rs_bounds_us[RS_NBUCKETS - 1] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    5000000, 10000000,
};
static const char *const rs_bounds_txt[RS_NBUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "+Inf",
};

typedef struct rs_entry {
    const char *method;   /* borrowed: the method's name lives as long as the process */
    char *table;          /* owned; "" when the call named none */
    int outcome;          /* dyn_err */
    uint64_t hash;
    atomic_uint_least64_t count, sum_us;
    atomic_uint_least64_t buckets[RS_NBUCKETS];   /* not cumulative; summed when rendered */
} rs_entry;

static _Atomic(rs_entry *) rs_slots[RS_SLOTS];
static atomic_int rs_used;

static uint64_t
rs_hash(const char *method, const char *table, int outcome)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)method ^ (uint64_t)outcome << 48;
    for (const unsigned char *p = (const unsigned char *)table; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ^ h >> 29;
}

static rs_entry *
rs_find(const char *method, const char *table, int outcome)
{
    uint64_t h = rs_hash(method, table, outcome);
    rs_entry *fresh = NULL;

    for (size_t i = 0; i < RS_SLOTS; i++) {
        _Atomic(rs_entry *) *slot = &rs_slots[(h + i) & (RS_SLOTS - 1)];
        rs_entry *e = atomic_load_explicit(slot, memory_order_acquire);
        while (e == NULL) {
            if (fresh == NULL) {
                if (atomic_fetch_add(&rs_used, 1) >= RS_SLOTS / 2 && strcmp(table, "_other") != 0)
                    return rs_find(method, "_other", outcome);   /* too many: fold tables */
                fresh = dyn_xcalloc(1, sizeof *fresh);
                fresh->method = method;
                fresh->table = dyn_xstrdup(table);
                fresh->outcome = outcome;
                fresh->hash = h;
            }
            if (atomic_compare_exchange_strong_explicit(slot, &e, fresh, memory_order_acq_rel,
                                                        memory_order_acquire))
                return fresh;
            /* another thread filled the slot: e is its entry, compared below */
        }
        if (e->hash == h && e->method == method && e->outcome == outcome &&
            strcmp(e->table, table) == 0) {
            if (fresh != NULL) {   /* lost a race for this very series */
                free(fresh->table);
                free(fresh);
            }
            return e;
        }
    }
    abort();   /* unreachable: at most half the slots are ever used */
}

void
rpc_reqstats_record(const char *method, const char *table, dyn_err rc, uint64_t dur_us)
{
    rs_entry *e = rs_find(method, table != NULL ? table : "", (int)rc);
    int b = 0;

    while (b < RS_NBUCKETS - 1 && dur_us > rs_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&e->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->sum_us, dur_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->count, 1, memory_order_relaxed);
}

/* Label values escaped as the text format asks (\\, \", \n). Table names are [a-zA-Z0-9_.-]
 * once validated, but a rejected request may name anything. */
static void
rs_label(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void
rs_labels(FILE *f, const rs_entry *e)
{
    fprintf(f, "method=\"%s\",table=\"", e->method);
    rs_label(f, e->table);
    fprintf(f, "\",outcome=\"%s\"", e->outcome == DYN_OK ? "OK" : dyn_err_type((dyn_err)e->outcome));
}

void
rpc_reqstats_render(FILE *f)
{
    fputs("# HELP dyn_requests_total Requests ended, by operation, table and outcome (OK or the "
          "DynamoDB error type)\n# TYPE dyn_requests_total counter\n", f);
    for (size_t i = 0; i < RS_SLOTS; i++) {
        const rs_entry *e = atomic_load_explicit(&rs_slots[i], memory_order_acquire);
        if (e == NULL)
            continue;
        fputs("dyn_requests_total{", f);
        rs_labels(f, e);
        fprintf(f, "} %" PRIu64 "\n", (uint64_t)atomic_load(&e->count));
    }
    fputs("# HELP dyn_request_duration_seconds Time from request arrival to the answer, by "
          "operation, table and outcome\n# TYPE dyn_request_duration_seconds histogram\n", f);
    for (size_t i = 0; i < RS_SLOTS; i++) {
        const rs_entry *e = atomic_load_explicit(&rs_slots[i], memory_order_acquire);
        if (e == NULL)
            continue;
        uint64_t cum = 0, sum = atomic_load(&e->sum_us);
        for (int b = 0; b < RS_NBUCKETS; b++) {
            cum += atomic_load_explicit(&e->buckets[b], memory_order_relaxed);
            fputs("dyn_request_duration_seconds_bucket{", f);
            rs_labels(f, e);
            fprintf(f, ",le=\"%s\"} %" PRIu64 "\n", rs_bounds_txt[b], cum);
        }
        fputs("dyn_request_duration_seconds_sum{", f);
        rs_labels(f, e);
        fprintf(f, "} %" PRIu64 ".%06" PRIu64 "\n", sum / 1000000, sum % 1000000);
        fputs("dyn_request_duration_seconds_count{", f);
        rs_labels(f, e);
        fprintf(f, "} %" PRIu64 "\n", cum);   /* = the buckets' total, consistent with +Inf */
    }
}
