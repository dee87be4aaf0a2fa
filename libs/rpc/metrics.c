/* libs/rpc -- a process-wide registry of counters and gauges, rendered as Prometheus text format
 * 0.0.4 on /metrics. Lookups lock; updates are one atomic add. */
#include "libs/rpc/rpc_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dyn_rpc_counter {
    char *family;                /* owned: name in # HELP / # TYPE */
    char *name;                  /* owned: family + suffix, the series name */
    char *labels;                /* owned: pre-rendered, "" for none */
    char *help;                  /* owned */
    atomic_int kind;             /* rpc_metric_kind; a counter becomes a gauge on first set */
    atomic_uint_least64_t v;     /* gauges keep int64 bits */
    dyn_rpc_counter *next;       /* registration order */
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static dyn_rpc_counter *g_head, **g_tail = &g_head;   /* guarded by g_mu */

dyn_rpc_counter *
rpc_metric_get(const char *family, const char *suffix, const char *labels, const char *help,
               rpc_metric_kind kind)
{
    dyn_rpc_counter *c;
    size_t fl = strlen(family), sl = strlen(suffix);
    char *name = dyn_xmalloc(fl + sl + 1);

    memcpy(name, family, fl);
    memcpy(name + fl, suffix, sl + 1);
    labels = labels != NULL ? labels : "";
    pthread_mutex_lock(&g_mu);
    for (c = g_head; c != NULL; c = c->next)
        if (strcmp(c->name, name) == 0 && strcmp(c->labels, labels) == 0)
            break;
    if (c == NULL) {
        c = dyn_xcalloc(1, sizeof *c);
        c->family = dyn_xstrdup(family);
        c->name = name;
        name = NULL;
        c->labels = dyn_xstrdup(labels);
        c->help = dyn_xstrdup(help != NULL ? help : "");
        atomic_init(&c->kind, (int)kind);
        atomic_init(&c->v, 0);
        *g_tail = c;
        g_tail = &c->next;
    }
    pthread_mutex_unlock(&g_mu);
    free(name);
    return c;
}

dyn_rpc_counter *
dyn_rpc_counter_get(const char *name, const char *labels, const char *help)
{
    return rpc_metric_get(name, "", labels, help, METRIC_COUNTER);
}

void
dyn_rpc_counter_add(dyn_rpc_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

void
dyn_rpc_gauge_set(dyn_rpc_counter *c, int64_t v)
{
    atomic_store_explicit(&c->kind, METRIC_GAUGE, memory_order_relaxed);
    atomic_store_explicit(&c->v, (uint64_t)v, memory_order_relaxed);
}

void
dyn_rpc_gauge_hide(dyn_rpc_counter *c)
{
    atomic_store_explicit(&c->kind, METRIC_HIDDEN, memory_order_relaxed);
}

static const char *
type_name(int kind)
{
    switch (kind) {
    case METRIC_GAUGE:
    case METRIC_HIDDEN: return "gauge";
    case METRIC_SUM_US:
    case METRIC_SUM_COUNT: return "summary";
    default: return "counter";
    }
}

static void
render_series(FILE *f, const dyn_rpc_counter *c)
{
    uint64_t v = atomic_load_explicit(&c->v, memory_order_relaxed);
    int kind = atomic_load_explicit(&c->kind, memory_order_relaxed);

    if (kind == METRIC_HIDDEN)
        return;
    fputs(c->name, f);
    if (c->labels[0] != '\0')
        fprintf(f, "{%s}", c->labels);
    if (kind == METRIC_GAUGE)
        fprintf(f, " %" PRId64 "\n", (int64_t)v);
    else if (kind == METRIC_SUM_US)
        fprintf(f, " %" PRIu64 ".%06" PRIu64 "\n", v / 1000000, v % 1000000);
    else
        fprintf(f, " %" PRIu64 "\n", v);
}

void
rpc_metrics_render(char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);

    if (f == NULL) {   /* only on out-of-memory, which aborts everywhere else too */
        fputs("dyn: out of memory rendering metrics\n", stderr);
        abort();
    }
    pthread_mutex_lock(&g_mu);
    /* One # HELP / # TYPE block per family, its series together, as the format requires;
     * families in registration order. Quadratic, but there are a few hundred series at most. */
    for (dyn_rpc_counter *c = g_head; c != NULL; c = c->next) {
        bool seen = false;
        for (dyn_rpc_counter *p = g_head; p != c && !seen; p = p->next)
            seen = strcmp(p->family, c->family) == 0;
        if (seen)
            continue;
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", c->family, c->help, c->family,
                type_name(atomic_load_explicit(&c->kind, memory_order_relaxed)));
        for (dyn_rpc_counter *s = c; s != NULL; s = s->next)
            if (strcmp(s->family, c->family) == 0)
                render_series(f, s);
    }
    pthread_mutex_unlock(&g_mu);
    rpc_reqstats_render(f);
    fclose(f);
}
